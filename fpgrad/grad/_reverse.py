"""Reverse mode: adjoints over the causality record (the discrete-event form of EventProp).

The forward engine (:mod:`._forward`) applies, per neuron, a sequence of small linear maps to the
tangents: free propagation, synaptic events, own spikes, releases from refractoriness. Reverse
mode applies their transposes in reverse order to adjoints ``(lam_V_i, lam_J_i)`` and spike
adjoints ``lam_f``, starting from ``lam_f = dL/df``. Per transpose:

* propagation over ``s`` from state ``(V0, J0)``: ``lam_V <- E_b lam_V'``,
  ``lam_J <- E_a lam_J' + H lam_V'``; ``g_b += lam_V' (-s E_b V0 + J0 dH/db)``,
  ``g_a += lam_V' J0 dH/da + lam_J' (-s E_a J0)``;
* synaptic event of spike ``e`` through synapse ``k``: ``lam_f[e] += a w lam_J - w lam_V``
  (no ``lam_V`` term if the target is refractory), ``g_w[k] += lam_J``;
* own spike ``e`` at ``f``: ``lam = lam_f[e] - J(f) lam_V`` (``t_ref = 0``; with ``t_ref > 0``
  the release at ``f + t_ref`` adds ``-J(e) lam_V`` to ``lam_f[e]`` instead),
  ``lam_V <- -lam / Vdot``, ``g_theta += lam / Vdot``.

The states needed by the transposes (post-event ``(V, J)`` of every touched neuron) are recorded
by a forward replay, so the cost is linear in the number of synaptic events: two passes, each a
few exponentials per synaptic event, and ``16`` bytes per synaptic event of memory.
"""

import math

import numpy as np

from .._numba import jit
from ..event._propagator import advance, propagate, propagate_rate_derivatives

__all__ = ["reverse_kernel"]


@jit
def _replay_states(n_inputs, a, b, t_ref, out_ptr, out_post, out_w, ev_node, ev_time, with_v):
    """Post-event states ``(V, J)`` of every touch (own spike, then synaptic events) in order.

    Touches after a neuron's last spike are not replayed (their entries are left 0): nothing
    downstream depends on that state, so their adjoints are zero and the reverse pass never
    reads them. ``V`` is only read by the time-constant gradients: without ``with_v`` only
    ``J`` is replayed (``J(t) = J(t0) e^{-a (t - t0)}`` plus the weights, refractory or not),
    one exponential per touch instead of a full propagation.
    """
    n = b.shape[0]
    n_touch = 0
    last = np.full(n, -1, np.int64)
    for e in range(ev_node.shape[0]):
        node = ev_node[e]
        n_touch += out_ptr[node + 1] - out_ptr[node] + (1 if node >= n_inputs else 0)
        if node >= n_inputs:
            last[node - n_inputs] = e
    tv = np.zeros(n_touch)
    tj = np.zeros(n_touch)
    v = np.zeros(n)
    j = np.zeros(n)
    t_upd = np.zeros(n)
    release = np.full(n, -math.inf)
    u = 0
    for e in range(ev_node.shape[0]):
        node = ev_node[e]
        t = ev_time[e]
        if node >= n_inputs:
            i = node - n_inputs
            if with_v:
                v[i], j[i] = advance(v[i], j[i], t_upd[i], t, release[i], a, b[i])
            else:
                j[i] *= math.exp(-a * (t - t_upd[i]))
            v[i] = 0.0
            t_upd[i] = t
            release[i] = t + t_ref[i]
            tj[u] = j[i]
            u += 1
        for k in range(out_ptr[node], out_ptr[node + 1]):
            i = out_post[k]
            if e > last[i]:
                u += 1  # after the neuron's last spike: this touch's adjoint is zero
                continue
            if with_v:
                v[i], j[i] = advance(v[i], j[i], t_upd[i], t, release[i], a, b[i])
                tv[u] = v[i]
            else:
                j[i] *= math.exp(-a * (t - t_upd[i]))
            j[i] += out_w[k]
            t_upd[i] = t
            tj[u] = j[i]
            u += 1
    return tv, tj


@jit
def _propagate_back(s, v0, j0, lv, lj, a, b, with_taus, with_taum):
    """Transpose of free propagation over ``s`` from state ``(v0, j0)``: the adjoints
    ``(lam_V, lam_J)`` at the start from those ``(lv, lj)`` at the end, and the increments of
    ``g_a`` and ``g_b`` (zero unless ``with_taus`` / ``with_taum``)."""
    ea, eb, h = propagate(s, a, b)
    d_ga = 0.0
    d_gb = 0.0
    if with_taus or with_taum:
        dh_da, dh_db = propagate_rate_derivatives(s, a, b, ea, eb)
        d_ga = lv * j0 * dh_da - lj * s * ea * j0
        d_gb = lv * (-s * eb * v0 + j0 * dh_db)
    return eb * lv, ea * lj + h * lv, d_ga, d_gb


@jit
def reverse_kernel(
    n_inputs,
    a,
    b,
    theta,
    t_ref,
    out_ptr,
    out_post,
    out_w,
    out_syn,
    ev_node,
    ev_time,
    ev_input,
    n_input_spikes,
    lam_f,
    with_taus,
    with_taum,
):
    """Gradient of ``L`` given ``lam_f[e] = dL/df_e`` for every recorded spike.

    Returns ``(g_w, g_in, g_theta, g_taum, g_taus)``: ``g_w`` per synapse in file order, ``g_in``
    per flat input spike (``n_input_spikes`` of them; those after ``t_max`` get 0). ``lam_f`` is
    overwritten. Time-constant gradients cost extra and are only computed when ``with_taus`` /
    ``with_taum``.
    """
    n = b.shape[0]
    n_ev = ev_node.shape[0]
    tv, tj = _replay_states(
        n_inputs, a, b, t_ref, out_ptr, out_post, out_w, ev_node, ev_time, with_taus or with_taum
    )
    # Per neuron, the latest spike not yet reversed, and the chain of earlier ones.
    cur = np.full(n, -1, np.int64)
    prev = np.full(n_ev, -1, np.int64)
    for e in range(n_ev):
        node = ev_node[e]
        if node >= n_inputs:
            prev[e] = cur[node - n_inputs]
            cur[node - n_inputs] = e
    g_w = np.zeros(out_w.shape[0])
    g_theta = np.zeros(n)
    g_ab = np.zeros(n + 1)  # g_b per neuron, then g_a
    g_in = np.zeros(n_input_spikes)
    _backward_loop(
        n_inputs,
        a,
        b,
        theta,
        t_ref,
        out_ptr,
        out_post,
        out_w,
        out_syn,
        ev_node,
        ev_time,
        ev_input,
        lam_f,
        with_taus,
        with_taum,
        tv,
        tj,
        cur,
        prev,
        np.zeros(n),
        np.zeros(n),
        np.full(n, math.inf),
        g_w,
        g_theta,
        g_ab,
        g_in,
    )
    g_taum = g_ab[:n] * (-b * b)
    g_taus = g_ab[n:] * (-a * a)
    return g_w, g_in, g_theta, g_taum, g_taus


@jit
def _backward_loop(
    n_inputs,
    a,
    b,
    theta,
    t_ref,
    out_ptr,
    out_post,
    out_w,
    out_syn,
    ev_node,
    ev_time,
    ev_input,
    lam_f,
    with_taus,
    with_taum,
    tv,
    tj,
    cur,
    prev,
    lam_v,
    lam_j,
    t_adj,
    g_w,
    g_theta,
    g_ab,
    g_in,
):
    """The reverse sweep over the events, accumulating into the ``g_*`` arrays.

    Its arrays are never rebound and its callees take scalars only: Numba then emits no
    reference counting per synaptic event (which otherwise costs about a third of the time,
    as in the simulator's event loop).
    """
    n = lam_v.shape[0]
    u = tv.shape[0]
    for e in range(ev_node.shape[0] - 1, -1, -1):
        node = ev_node[e]
        t = ev_time[e]
        is_neuron = node >= n_inputs
        k_end = out_ptr[node] - 1
        k = out_ptr[node + 1] - 1
        # Synaptic events of spike e (latest first), then the spike itself (own transpose).
        while k > k_end or is_neuron:
            u -= 1
            i = out_post[k] if k > k_end else node - n_inputs
            m = cur[i]
            release = ev_time[m] + t_ref[i] if m >= 0 else -math.inf
            t1 = t_adj[i]
            t_adj[i] = t
            if lam_v[i] != 0.0 or lam_j[i] != 0.0:
                lv, lj, d_ga, d_gb, d_lam_m = _back_to(
                    t, t1, tv[u], tj[u], lam_v[i], lam_j[i], release, a, b[i], with_taus, with_taum
                )
                lam_v[i] = lv
                lam_j[i] = lj
                g_ab[n] += d_ga
                g_ab[i] += d_gb
                if d_lam_m != 0.0:
                    lam_f[m] += d_lam_m
            if k > k_end:
                w = out_w[k]
                lam_f[e] += a * w * lam_j[i]
                if not t < release:  # V is free at t (not held by refractoriness)
                    lam_f[e] -= w * lam_v[i]
                g_w[out_syn[k]] += lam_j[i]
                k -= 1
            else:
                jf = tj[u]
                lam = lam_f[e] - jf * lam_v[i] if t_ref[i] == 0.0 else lam_f[e]
                vdot = jf - b[i] * theta[i]
                lam_v[i] = -lam / vdot
                g_theta[i] += lam / vdot
                cur[i] = prev[e]
                is_neuron = False
        if node < n_inputs:
            g_in[ev_input[e]] = lam_f[e]


@jit
def _back_to(t, t1, v0, j0, lv, lj, release, a, b, with_taus, with_taum):
    """Carry a neuron's adjoint ``(lv, lj)`` at ``t1`` back to the touch at ``t < t1`` whose
    post-event state is ``(v0, j0)``, through a release from refractoriness at ``release`` if
    one lies in between. Returns ``(lam_V, lam_J, d_ga, d_gb, d_lam_m)``: ``d_lam_m`` goes to
    the adjoint of the spike whose refractory period ends at ``release``."""
    if release <= t:
        return (*_propagate_back(t1 - t, v0, j0, lv, lj, a, b, with_taus, with_taum), 0.0)
    d_ga = 0.0
    d_gb = 0.0
    d_lam_m = 0.0
    if release <= t1:
        j_rel = j0 * math.exp(-a * (release - t))
        lv, lj, d_ga, d_gb = _propagate_back(
            t1 - release, 0.0, j_rel, lv, lj, a, b, with_taus, with_taum
        )
        d_lam_m = -j_rel * lv
        t1 = release
    # V held at 0 on (t, t1]: only the current propagates.
    s = t1 - t
    ea = math.exp(-a * s)
    if with_taus:
        d_ga -= lj * s * ea * j0
    return 0.0, lj * ea, d_ga, d_gb, d_lam_m

"""Reverse mode: adjoints over the causality record (the discrete-event form of EventProp).

The forward engine (:mod:`._forward`) applies, per neuron, a sequence of small linear maps to the
tangents: free propagation, arrivals, own spikes, releases from refractoriness. Reverse mode
applies their transposes in reverse order (the touch schedule of
:func:`~fpgrad.event._schedule.touch_schedule`, walked backwards) to adjoints
``(lam_V_i, lam_J_i)`` and spike adjoints ``lam_f``, starting from ``lam_f = dL/df``. Per
transpose (``a = 1/tau_syn``, ``b = 1/tau_mem``, ``c`` the bias):

* propagation over ``s`` from state ``(V0, J0)``: ``lam_V <- E_b lam_V'``,
  ``lam_J <- E_a lam_J' + H lam_V'``; ``g_c += G lam_V'``,
  ``g_b += lam_V' (-s E_b V0 + J0 dH/db + c dG/db)``,
  ``g_a += lam_V' J0 dH/da + lam_J' (-s E_a J0)``;
* arrival of spike ``e`` through synapse ``k`` (with ``lam_g`` the adjoint of its arrival time,
  added to ``lam_f[e]`` and ``g_delay[k]``): current synapse ``lam_g = a w lam_J - w lam_V`` (no
  ``lam_V`` term if the target is refractory), ``g_w[k] += lam_J``; delta synapse
  ``lam_g = b w lam_V``, ``g_w[k] += lam_V`` (nothing while refractory);
* own spike ``e`` at ``f``: with ``t_ref = 0`` the reset gives ``lam = lam_f[e] - Vdot(f+) lam_V``,
  ``g_v_reset += lam_V``, ``g_t_ref -= Vdot(f+) lam_V`` (with ``t_ref > 0`` the release at
  ``f + t_ref`` adds the same terms with ``Vdot(r+)``); then a crossing gives
  ``lam_V <- -lam / Vdot(f-)``, ``g_theta += lam / Vdot(f-)``, and a delta neuron fired by an
  arrival passes ``lam`` to that arrival's spike and delay (``lam_V <- 0``).

The states needed by the transposes (post-touch ``(V, J)`` of every touched neuron) are recorded
by a forward replay, so the cost is linear in the number of synaptic events: two passes, each a
few exponentials per synaptic event, and ``32`` bytes per synaptic event of memory (states and
schedule).
"""

import math

import numpy as np

from .._numba import jit
from ..event._propagator import (
    NO_PROPAGATOR,
    advance,
    drive,
    drive_rate_derivative,
    propagate,
    propagate_rate_derivatives,
    propagate_reusing,
)
from ..event._schedule import touch_schedule

__all__ = ["reverse_kernel"]


@jit
def _replay_states(n_inputs, a, b, c, v_reset, delta, t_ref, out_post, out_w, out_d, ev_node,
                   ev_time, touch_e, touch_p, last_u, with_v):  # fmt: skip
    """Post-touch states ``(V, J)`` of every touch, in schedule order.

    Touches after a neuron's last spike (``u > last_u[i]``) are not replayed (their entries are
    left 0): nothing downstream depends on that state, so their adjoints are zero and the
    reverse pass never reads them. ``V`` is only read by the ``tau_mem`` gradient: without
    ``with_v`` only ``J`` is replayed (``J(t) = J(t0) e^{-a (t - t0)}`` plus the weights,
    refractory or not), one exponential per touch instead of a full propagation.
    """
    n = b.shape[0]
    n_touch = touch_e.shape[0]
    tv = np.zeros(n_touch)
    tj = np.zeros(n_touch)
    v = np.zeros(n)
    j = np.zeros(n)
    t_upd = np.zeros(n)
    release = np.full(n, -math.inf)
    m_s = -1.0
    m_a = 0.0
    m_ea = 0.0
    for u in range(n_touch):
        e = touch_e[u]
        p = touch_p[u]
        if p < 0:
            i = ev_node[e] - n_inputs
            t = ev_time[e]
        else:
            i = out_post[p]
            t = ev_time[e] + out_d[p]
        if u > last_u[i]:
            continue  # after the neuron's last spike: this touch's adjoint is zero
        if with_v:
            v[i], j[i] = advance(v[i], j[i], t_upd[i], t, release[i], a[i], b[i], c[i],
                                 v_reset[i], delta[i])  # fmt: skip
        elif not delta[i]:
            s_free = t - t_upd[i]
            if s_free != m_s or a[i] != m_a:  # the decay of the last touch, if it applies
                m_ea = math.exp(-a[i] * s_free)
                m_s = s_free
                m_a = a[i]
            j[i] *= m_ea
        t_upd[i] = t
        if p < 0:
            v[i] = v_reset[i]
            release[i] = t + t_ref[i]
        elif delta[i]:
            if not (t <= release[i] and t_ref[i] > 0.0):
                v[i] += out_w[p]
        else:
            j[i] += out_w[p]
        tv[u] = v[i]
        tj[u] = j[i]
    return tv, tj


@jit
def _propagate_back(s, v0, j0, lv, lj, a, b, c, delta, with_taus, with_taum, with_bias):
    """Transpose of free propagation over ``s`` from state ``(v0, j0)``: the adjoints
    ``(lam_V, lam_J)`` at the start from those ``(lv, lj)`` at the end, and the increments of
    ``g_a``, ``g_b`` and ``g_c`` (zero unless ``with_taus`` / ``with_taum`` / ``with_bias``)."""
    d_ga = 0.0
    d_gb = 0.0
    d_gc = 0.0
    if with_bias:
        d_gc = drive(s, b) * lv
    if delta:
        eb = math.exp(-b * s)
        if with_taum:
            d_gb = lv * (-s * eb * v0)
            if c != 0.0:
                d_gb += lv * c * drive_rate_derivative(s, b)
        return eb * lv, 0.0, d_ga, d_gb, d_gc
    ea, eb, h = propagate(s, a, b)
    return _propagate_back_with(s, ea, eb, h, v0, j0, lv, lj, a, b, c, with_taus, with_taum,
                                d_gc)  # fmt: skip


@jit
def _propagate_back_with(s, ea, eb, h, v0, j0, lv, lj, a, b, c, with_taus, with_taum, d_gc):
    """:func:`_propagate_back` of a current-synapse neuron given the propagator
    ``(E_a, E_b, H)`` of ``s`` and the bias increment ``d_gc``."""
    d_ga = 0.0
    d_gb = 0.0
    if with_taus or with_taum:
        dh_da, dh_db = propagate_rate_derivatives(s, a, b, ea, eb)
        d_ga = lv * j0 * dh_da - lj * s * ea * j0
        d_gb = lv * (-s * eb * v0 + j0 * dh_db)
        if with_taum and c != 0.0:
            d_gb += lv * c * drive_rate_derivative(s, b)
    return eb * lv, ea * lj + h * lv, d_ga, d_gb, d_gc


@jit
def reverse_kernel(
    n_inputs,
    a,
    b,
    c,
    v_reset,
    delta,
    theta,
    t_ref,
    out_ptr,
    out_zend,
    out_post,
    out_w,
    out_d,
    out_syn,
    ev_node,
    ev_time,
    ev_input,
    ev_cause_e,
    ev_cause_p,
    t_max,
    n_input_spikes,
    lam_f,
    with_taus,
    with_taum,
    with_bias,
):
    """Gradient of ``L`` given ``lam_f[e] = dL/df_e`` for every recorded spike.

    Returns ``(g_w, g_in, g_theta, g_taum, g_taus, g_d, g_c, g_vr, g_tref)``: ``g_w`` and
    ``g_d`` per synapse in file order, ``g_in`` per flat input spike (``n_input_spikes`` of
    them; those after ``t_max`` get 0), the others per neuron. ``lam_f`` is overwritten.
    Time-constant and bias gradients cost extra and are only computed when ``with_taus`` /
    ``with_taum`` / ``with_bias`` (zeros otherwise).
    """
    n = b.shape[0]
    n_ev = ev_node.shape[0]
    touch_e, touch_p = touch_schedule(n_inputs, out_ptr, out_zend, out_d, ev_node, ev_time,
                                      ev_cause_e, ev_cause_p, t_max)  # fmt: skip
    last_u = np.full(n, -1, np.int64)
    for u in range(touch_e.shape[0]):
        if touch_p[u] < 0:
            last_u[ev_node[touch_e[u]] - n_inputs] = u
    tv, tj = _replay_states(n_inputs, a, b, c, v_reset, delta, t_ref, out_post, out_w, out_d,
                            ev_node, ev_time, touch_e, touch_p, last_u,
                            with_taus or with_taum)  # fmt: skip
    # Per neuron, the latest spike not yet reversed, and the chain of earlier ones.
    cur = np.full(n, -1, np.int64)
    prev = np.full(n_ev, -1, np.int64)
    for e in range(n_ev):
        node = ev_node[e]
        if node >= n_inputs:
            prev[e] = cur[node - n_inputs]
            cur[node - n_inputs] = e
    n_syn = out_w.shape[0]
    g_syn = np.zeros(2 * n_syn)  # g_w, then g_d (file order)
    g_neuron = np.zeros(6 * n)  # g_theta, g_b, g_a, g_c, g_vr, g_tref
    _backward_loop(
        n_inputs,
        a,
        b,
        c,
        v_reset,
        delta,
        theta,
        t_ref,
        out_post,
        out_w,
        out_d,
        out_syn,
        ev_node,
        ev_time,
        ev_cause_e,
        ev_cause_p,
        lam_f,
        with_taus,
        with_taum,
        with_bias,
        touch_e,
        touch_p,
        last_u,
        tv,
        tj,
        cur,
        prev,
        np.zeros(n),
        np.zeros(n),
        np.full(n, math.inf),
        np.zeros(n),
        g_syn,
        g_neuron,
    )
    g_in = np.zeros(n_input_spikes)
    for e in range(n_ev):
        if ev_node[e] < n_inputs:
            g_in[ev_input[e]] = lam_f[e]
    g_taum = g_neuron[n : 2 * n] * (-b * b)
    g_taus = np.zeros(n)
    for i in range(n):
        if not delta[i]:
            g_taus[i] = g_neuron[2 * n + i] * (-a[i] * a[i])
    return (
        g_syn[:n_syn].copy(),
        g_in,
        g_neuron[:n].copy(),
        g_taum,
        g_taus,
        g_syn[n_syn:].copy(),
        g_neuron[3 * n : 4 * n].copy(),
        g_neuron[4 * n : 5 * n].copy(),
        g_neuron[5 * n :].copy(),
    )


@jit
def _backward_loop(
    n_inputs,
    a,
    b,
    c,
    v_reset,
    delta,
    theta,
    t_ref,
    out_post,
    out_w,
    out_d,
    out_syn,
    ev_node,
    ev_time,
    ev_cause_e,
    ev_cause_p,
    lam_f,
    with_taus,
    with_taum,
    with_bias,
    touch_e,
    touch_p,
    last_u,
    tv,
    tj,
    cur,
    prev,
    lam_v,
    lam_j,
    t_adj,
    j_inst,
    g_syn,
    g_neuron,
):
    """The reverse sweep over the touches, accumulating into ``g_syn`` and ``g_neuron``.

    Its arrays are never rebound and its callees take scalars only: Numba then emits no
    reference counting per synaptic event (which otherwise costs about a third of the time,
    as in the simulator's event loop).
    """
    n = lam_v.shape[0]
    n_syn = out_w.shape[0]
    # The propagator of the last free interval carried back: in a dense layer the touches of
    # one spike's targets span the same interval, so most reuse it (propagate_reusing).
    memo = NO_PROPAGATOR
    for u in range(touch_e.shape[0] - 1, -1, -1):
        e = touch_e[u]
        p = touch_p[u]
        if p < 0:
            i = ev_node[e] - n_inputs
            t = ev_time[e]
        else:
            i = out_post[p]
            t = ev_time[e] + out_d[p]
        if u > last_u[i]:
            continue  # after the neuron's last spike: zero adjoint
        m = cur[i]
        release = ev_time[m] + t_ref[i] if m >= 0 else -math.inf
        t1 = t_adj[i]
        t_adj[i] = t
        if t < t1:  # J after the last touch of this instant (for the t_ref = 0 derivative)
            j_inst[i] = tj[u]
        if (lam_v[i] != 0.0 or lam_j[i] != 0.0) and release <= t and not delta[i]:
            # _back_to's free case, with the propagator of the previous touch if it applies
            s_free = t1 - t
            memo = propagate_reusing(s_free, a[i], b[i], memo)
            d_gc = drive(s_free, b[i]) * lam_v[i] if with_bias else 0.0
            lv, lj, d_ga, d_gb, d_gc = _propagate_back_with(
                s_free, memo[3], memo[4], memo[5], tv[u], tj[u], lam_v[i], lam_j[i], a[i], b[i],
                c[i], with_taus, with_taum, d_gc,
            )  # fmt: skip
            g_neuron[n + i] += d_gb
            g_neuron[2 * n + i] += d_ga
            g_neuron[3 * n + i] += d_gc
            lam_v[i] = lv
            lam_j[i] = lj
        elif lam_v[i] != 0.0 or lam_j[i] != 0.0:
            lv, lj, d_ga, d_gb, d_gc, d_lam_m, d_gvr = _back_to(
                t, t1, tv[u], tj[u], lam_v[i], lam_j[i], release, a[i], b[i], c[i],
                v_reset[i], delta[i], with_taus, with_taum, with_bias,
            )  # fmt: skip
            if d_lam_m != 0.0 or d_gvr != 0.0:  # through the release of spike m
                lam_f[m] += d_lam_m
                g_neuron[4 * n + i] += d_gvr
                g_neuron[5 * n + i] += d_lam_m
            g_neuron[n + i] += d_gb
            g_neuron[2 * n + i] += d_ga
            g_neuron[3 * n + i] += d_gc
            lam_v[i] = lv
            lam_j[i] = lj
        if p >= 0:
            w = out_w[p]
            k = out_syn[p]
            if delta[i]:
                if t <= release and t_ref[i] > 0.0:
                    continue  # ignored while V is held
                lam_g = b[i] * w * lam_v[i]
                lam_f[e] += lam_g
                g_syn[k] += lam_v[i]
            else:
                # lam_f[e] takes the two terms one by one (the rounding of model 1, kept)
                lam_g = a[i] * w * lam_j[i]
                lam_f[e] += lam_g
                if not t < release:  # V is free at t (not held by refractoriness)
                    lam_f[e] -= w * lam_v[i]
                    lam_g -= w * lam_v[i]
                g_syn[k] += lam_j[i]
            g_syn[n_syn + k] += lam_g
            continue
        jf = tj[u]
        lam = lam_f[e]
        if t + t_ref[i] == t:  # no hold (t_ref = 0, or below the resolution of t)
            vdot_reset = jf + c[i] - b[i] * v_reset[i]
            lam = lam_f[e] - vdot_reset * lam_v[i]
            g_neuron[4 * n + i] += lam_v[i]
            # the right derivative in t_ref: J after the arrivals at the spike instant too
            g_neuron[5 * n + i] -= (j_inst[i] + c[i] - b[i] * v_reset[i]) * lam_v[i]
        ce = ev_cause_e[e]
        if ce >= 0:  # fired by a delta arrival: the arrival's time moves it
            lam_f[ce] += lam
            g_syn[n_syn + out_syn[ev_cause_p[e]]] += lam
            lam_v[i] = 0.0
        else:
            vdot = jf + c[i] - b[i] * theta[i]
            lam_v[i] = -lam / vdot
            g_neuron[i] += lam / vdot
        cur[i] = prev[e]
    # The first interval, from the start state (0, 0) at t = 0: only the bias acts on it.
    for i in range(n):
        if lam_v[i] != 0.0 and t_adj[i] < math.inf:
            _, _, _, d_gb, d_gc = _propagate_back(t_adj[i], 0.0, 0.0, lam_v[i], lam_j[i], a[i],
                                                  b[i], c[i], delta[i], False, with_taum,
                                                  with_bias)  # fmt: skip
            g_neuron[n + i] += d_gb
            g_neuron[3 * n + i] += d_gc


@jit
def _back_to(t, t1, v0, j0, lv, lj, release, a, b, c, v_reset, delta, with_taus, with_taum,
             with_bias):  # fmt: skip
    """Carry a neuron's adjoint ``(lv, lj)`` at ``t1`` back to the touch at ``t < t1`` whose
    post-touch state is ``(v0, j0)``, through a release from refractoriness at ``release`` if
    one lies in between. Returns ``(lam_V, lam_J, d_ga, d_gb, d_gc, d_lam_m, d_gvr)``:
    ``d_lam_m = -Vdot(r+) lam_V(r+)`` goes to the adjoint of the spike whose refractory period
    ends at ``release`` (and to its ``t_ref``), ``d_gvr = lam_V(r+)`` to ``v_reset``."""
    if release <= t:
        return (*_propagate_back(t1 - t, v0, j0, lv, lj, a, b, c, delta, with_taus, with_taum,
                                 with_bias), 0.0, 0.0)  # fmt: skip
    d_ga = 0.0
    d_gb = 0.0
    d_gc = 0.0
    d_lam_m = 0.0
    d_gvr = 0.0
    if release <= t1:
        j_rel = 0.0 if delta else j0 * math.exp(-a * (release - t))
        lv, lj, d_ga, d_gb, d_gc = _propagate_back(
            t1 - release, v_reset, j_rel, lv, lj, a, b, c, delta, with_taus, with_taum, with_bias
        )
        d_lam_m = -(j_rel + c - b * v_reset) * lv
        d_gvr = lv
        t1 = release
    if delta:
        return 0.0, 0.0, d_ga, d_gb, d_gc, d_lam_m, d_gvr
    # V held at v_reset on (t, t1]: only the current propagates.
    s = t1 - t
    ea = math.exp(-a * s)
    if with_taus:
        d_ga -= lj * s * ea * j0
    return 0.0, lj * ea, d_ga, d_gb, d_gc, d_lam_m, d_gvr

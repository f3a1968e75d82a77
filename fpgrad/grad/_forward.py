"""Forward propagation (FP): the exact Jacobian of spike times, in one pass over the record.

Each neuron carries tangents ``(dV_i, dJ_i)`` over the selected parameters (one column each),
propagated between events by the same linear propagator as the state (docs/model.md §2) and updated
at events. With ``a = 1/tau_syn``, ``b = 1/tau_mem``:

* free propagation over ``s``:  ``dJ <- E_a dJ``,  ``dV <- E_b dV + H dJ``, plus the propagator's
  own derivatives in the time-constant columns: ``dV += (-s E_b V0 + J0 dH/db) db``,
  ``dV += J0 dH/da da``, ``dJ += -s E_a J0 da`` (``db = -b^2 dtau_mem``, ``da = -a^2 dtau_syn``);
* synaptic event (spike at ``g`` with tangent ``dg`` through synapse ``k`` of weight ``w``):
  ``dJ += a w dg + dw_k`` and, unless the target is refractory, ``dV -= w dg``;
* own spike at ``f`` (implicit function theorem on ``V(f) = theta``):
  ``df = -(dV(f-) - dtheta) / Vdot(f-)``, ``Vdot(f-) = J(f) - b theta``; then the reset
  ``dV <- dV - dtheta - b theta df``, which equals ``-J(f) df``;
* with ``t_ref > 0``, V is held at 0 on ``(f, f + t_ref]`` (``dV = 0``) and released at
  ``e = f + t_ref`` with ``dV <- -J(e) df``. (For ``t_ref = 0`` both forms coincide.)

The own-spike reset term is what makes a neuron's earlier spikes move its later ones; omitting it
(as the published FP reference code does) is wrong whenever a neuron fires twice.

Cost: ``O((number of spikes + synaptic events) x P)`` time and ``O((N + spikes) x P)`` memory for
``P`` selected parameters; the result itself is ``spikes x P``.
"""

import math

import numpy as np

from .._numba import jit
from ..event._propagator import propagate, propagate_rate_derivatives

__all__ = ["forward_kernel"]


@jit
def _advance_tangents(i, t, v, j, t_upd, release, last_ev, dv, dj, df, a, b, col_taum, col_taus):
    """Bring neuron ``i``'s state and tangents from ``t_upd[i]`` to ``t`` (no input between)."""
    t0 = t_upd[i]
    if t0 < release[i]:
        t1 = min(t, release[i])
        s = t1 - t0
        ea = math.exp(-a * s)
        j0 = j[i]
        for c in range(dj.shape[1]):
            dj[i, c] *= ea
        if col_taus >= 0:
            dj[i, col_taus] += -s * ea * j0 * (-a * a)
        j[i] = j0 * ea
        t0 = t1
        if t < release[i]:
            t_upd[i] = t
            return
        m = last_ev[i]  # release from refractoriness: dV = -J(e) df
        for c in range(dv.shape[1]):
            dv[i, c] = -j[i] * df[m, c]
        v[i] = 0.0
    s = t - t0
    v0 = v[i]
    j0 = j[i]
    bi = b[i]
    ea, eb, h = propagate(s, a, bi)
    for c in range(dv.shape[1]):
        dv[i, c] = eb * dv[i, c] + h * dj[i, c]
        dj[i, c] *= ea
    cm = col_taum[i]
    if cm >= 0 or col_taus >= 0:
        dh_da, dh_db = propagate_rate_derivatives(s, a, bi, ea, eb)
        if cm >= 0:
            dv[i, cm] += (-s * eb * v0 + j0 * dh_db) * (-bi * bi)
        if col_taus >= 0:
            dv[i, col_taus] += j0 * dh_da * (-a * a)
            dj[i, col_taus] += -s * ea * j0 * (-a * a)
    v[i] = v0 * eb + j0 * h
    j[i] = j0 * ea
    t_upd[i] = t


@jit
def forward_kernel(
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
    col_w,
    col_in,
    col_theta,
    col_taum,
    col_taus,
    n_cols,
):
    """Tangents ``df[e, c]`` of every recorded spike ``e`` w.r.t. every selected column ``c``.

    Arguments are the compiled network (see ``CompiledNetwork``), the causality record, and the
    column maps of :class:`ParameterColumns` (``col_taus`` is a scalar, -1 if not selected).
    """
    n = b.shape[0]
    n_ev = ev_node.shape[0]
    v = np.zeros(n)
    j = np.zeros(n)
    t_upd = np.zeros(n)
    release = np.full(n, -math.inf)
    last_ev = np.full(n, -1, np.int64)
    dv = np.zeros((n, n_cols))
    dj = np.zeros((n, n_cols))
    df = np.zeros((n_ev, n_cols))
    for e in range(n_ev):
        node = ev_node[e]
        t = ev_time[e]
        if node < n_inputs:
            c = col_in[ev_input[e]]
            if c >= 0:
                df[e, c] = 1.0
        else:
            i = node - n_inputs
            _advance_tangents(
                i, t, v, j, t_upd, release, last_ev, dv, dj, df, a, b, col_taum, col_taus
            )
            vdot = j[i] - b[i] * theta[i]
            for c in range(n_cols):
                df[e, c] = -dv[i, c] / vdot
            if col_theta[i] >= 0:
                df[e, col_theta[i]] += 1.0 / vdot
            if t_ref[i] == 0.0:
                for c in range(n_cols):
                    dv[i, c] = -j[i] * df[e, c]
            else:
                for c in range(n_cols):
                    dv[i, c] = 0.0
            v[i] = 0.0
            release[i] = t + t_ref[i]
            last_ev[i] = e
        for k in range(out_ptr[node], out_ptr[node + 1]):
            i = out_post[k]
            w = out_w[k]
            _advance_tangents(
                i, t, v, j, t_upd, release, last_ev, dv, dj, df, a, b, col_taum, col_taus
            )
            held = t < release[i]
            for c in range(n_cols):
                dj[i, c] += a * w * df[e, c]
                if not held:
                    dv[i, c] -= w * df[e, c]
            cw = col_w[out_syn[k]]
            if cw >= 0:
                dj[i, cw] += 1.0
            j[i] += w
    return df

"""Forward propagation (FP): the exact Jacobian of spike times, in one pass over the record.

Each neuron carries tangents ``(dV_i, dJ_i)`` over the selected parameters (one column each),
propagated between events by the same linear propagator as the state (docs/model.md §2) and
updated at its touches, in the simulator's order (:func:`~fpgrad.event._schedule.touch_schedule`).
With ``a = 1/tau_syn``, ``b = 1/tau_mem``, ``c`` the bias (every update below is the saltation
rule ``dx(t+) = dx(t-) + d(jump) - (x'(t+) - x'(t-)) dt`` of a jump at a moving time ``t``):

* free propagation over ``s`` from ``(V0, J0)``:  ``dJ <- E_a dJ``,
  ``dV <- E_b dV + H dJ + G dc``, plus the propagator's own derivatives in the time-constant
  columns: ``dV += (-s E_b V0 + J0 dH/db + c dG/db) db``, ``dV += J0 dH/da da``,
  ``dJ += -s E_a J0 da`` (``db = -b^2 dtau_mem``, ``da = -a^2 dtau_syn``). Delta-synapse
  neurons have no current (``J = 0``).
* arrival of a spike at ``g`` through synapse ``k`` (weight ``w``, delay ``d``) at ``g + d``,
  with ``dg' = dg + dd_k``: current synapse ``dJ += a w dg' + dw_k`` and, unless the target is
  refractory, ``dV -= w dg'``; delta synapse (ignored while refractory) ``dV += dw_k + b w dg'``.
* own spike at ``f`` by a threshold crossing (implicit function theorem on ``V(f) = theta``):
  ``df = -(dV(f-) - dtheta) / Vdot(f-)``, ``Vdot(f-) = J(f) + c - b theta``; a delta-synapse
  neuron fired by an arrival inherits that arrival's ``df = dg'``.
* reset: with ``t_ref = 0``, ``dV(f+) = dv_reset - Vdot(f+) (df + dt_ref)``,
  ``Vdot(f+) = J(f) + c - b v_reset`` (in the ``t_ref`` column, the right derivative, ``J``
  includes the arrivals at the spike instant itself: a longer ``t_ref`` releases ``V`` after
  them); with ``t_ref > 0``,
  ``V`` is held at ``v_reset`` on ``(f, f + t_ref]`` (``dV = dv_reset``) and released at
  ``r = f + t_ref`` with ``dV(r+) = dv_reset - Vdot(r+) (df + dt_ref)``.

The own-spike reset term is what makes a neuron's earlier spikes move its later ones; omitting it
(as the published FP reference code does) is wrong whenever a neuron fires twice.

Cost: ``O((number of spikes + synaptic events) x P)`` time and ``O((N + spikes) x P)`` memory for
``P`` selected parameters (plus 16 bytes per synaptic event for the schedule); the result itself
is ``spikes x P``.
"""

import math

import numpy as np

from .._numba import jit
from ..event._propagator import (
    drive,
    drive_rate_derivative,
    propagate,
    propagate_rate_derivatives,
)
from ..event._schedule import touch_schedule

__all__ = ["forward_kernel"]


@jit
def _advance_tangents(i, t, v, j, t_upd, release, last_ev, dv, dj, df, a, b, c, v_reset, delta,
                      col_taum, col_taus, col_bias, col_vr, col_tref, tref_due):  # fmt: skip
    """Bring neuron ``i``'s state and tangents from ``t_upd[i]`` to ``t`` (no input between)."""
    t0 = t_upd[i]
    ai = a[i]
    if tref_due[i] and t > t0:
        # t_ref = 0: the right derivative in t_ref, -Vdot(f+), with J after every arrival at
        # the spike instant f (a longer t_ref would release V after them)
        dv[i, col_tref[i]] -= j[i] + c[i] - b[i] * v[i]
        tref_due[i] = False
    if t0 < release[i]:
        t1 = min(t, release[i])
        if not delta[i]:
            s = t1 - t0
            ea = math.exp(-ai * s)
            j0 = j[i]
            for q in range(dj.shape[1]):
                dj[i, q] *= ea
            if col_taus[i] >= 0:
                dj[i, col_taus[i]] += -s * ea * j0 * (-ai * ai)
            j[i] = j0 * ea
        t0 = t1
        if t < release[i]:
            t_upd[i] = t
            return
        # release from refractoriness: dV = dv_reset - Vdot(r+) (df + dt_ref)
        m = last_ev[i]
        vdot = j[i] + c[i] - b[i] * v_reset[i]
        for q in range(dv.shape[1]):
            dv[i, q] = -vdot * df[m, q]
        if col_vr[i] >= 0:
            dv[i, col_vr[i]] += 1.0
        if col_tref[i] >= 0:
            dv[i, col_tref[i]] -= vdot
        v[i] = v_reset[i]
    s = t - t0
    v0 = v[i]
    j0 = j[i]
    bi = b[i]
    ci = c[i]
    cm = col_taum[i]
    if delta[i]:
        eb = math.exp(-bi * s)
        for q in range(dv.shape[1]):
            dv[i, q] = eb * dv[i, q]
        v1 = v0 * eb
        if cm >= 0:
            dv[i, cm] += -s * eb * v0 * (-bi * bi)
    else:
        ea, eb, h = propagate(s, ai, bi)
        for q in range(dv.shape[1]):
            dv[i, q] = eb * dv[i, q] + h * dj[i, q]
            dj[i, q] *= ea
        ct = col_taus[i]
        if cm >= 0 or ct >= 0:
            dh_da, dh_db = propagate_rate_derivatives(s, ai, bi, ea, eb)
            if cm >= 0:
                dv[i, cm] += (-s * eb * v0 + j0 * dh_db) * (-bi * bi)
            if ct >= 0:
                dv[i, ct] += j0 * dh_da * (-ai * ai)
                dj[i, ct] += -s * ea * j0 * (-ai * ai)
        v1 = v0 * eb + j0 * h
        j[i] = j0 * ea
    if ci != 0.0 or col_bias[i] >= 0:
        g = drive(s, bi)
        v1 += ci * g
        if col_bias[i] >= 0:
            dv[i, col_bias[i]] += g
        if cm >= 0 and ci != 0.0:
            dv[i, cm] += ci * drive_rate_derivative(s, bi) * (-bi * bi)
    v[i] = v1
    t_upd[i] = t


@jit
def forward_kernel(
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
    col_w,
    col_in,
    col_theta,
    col_taum,
    col_taus,
    col_d,
    col_bias,
    col_vr,
    col_tref,
    n_cols,
):
    """Tangents ``df[e, q]`` of every recorded spike ``e`` w.r.t. every selected column ``q``.

    Arguments are the compiled network (see ``CompiledNetwork``), the causality record, and the
    column maps of :class:`ParameterColumns` (-1: not selected).
    """
    n = b.shape[0]
    n_ev = ev_node.shape[0]
    touch_e, touch_p = touch_schedule(n_inputs, out_ptr, out_zend, out_d, ev_node, ev_time,
                                      ev_cause_e, ev_cause_p, t_max)  # fmt: skip
    v = np.zeros(n)
    j = np.zeros(n)
    t_upd = np.zeros(n)
    release = np.full(n, -math.inf)
    last_ev = np.full(n, -1, np.int64)
    tref_due = np.zeros(n, np.bool_)
    dv = np.zeros((n, n_cols))
    dj = np.zeros((n, n_cols))
    df = np.zeros((n_ev, n_cols))
    for e in range(n_ev):
        if ev_node[e] < n_inputs:
            q = col_in[ev_input[e]]
            if q >= 0:
                df[e, q] = 1.0
    for u in range(touch_e.shape[0]):
        e = touch_e[u]
        p = touch_p[u]
        if p < 0:  # own spike of record e
            i = ev_node[e] - n_inputs
            t = ev_time[e]
            _advance_tangents(i, t, v, j, t_upd, release, last_ev, dv, dj, df, a, b, c, v_reset,
                              delta, col_taum, col_taus, col_bias, col_vr, col_tref,
                          tref_due)  # fmt: skip
            ce = ev_cause_e[e]
            if ce >= 0:  # fired by a delta arrival: its time is the arrival's
                for q in range(n_cols):
                    df[e, q] = df[ce, q]
                qd = col_d[out_syn[ev_cause_p[e]]]
                if qd >= 0:
                    df[e, qd] += 1.0
            else:
                vdot = j[i] + c[i] - b[i] * theta[i]
                for q in range(n_cols):
                    df[e, q] = -dv[i, q] / vdot
                if col_theta[i] >= 0:
                    df[e, col_theta[i]] += 1.0 / vdot
            if t + t_ref[i] == t:  # no hold (t_ref = 0, or below the resolution of t)
                vdot = j[i] + c[i] - b[i] * v_reset[i]
                for q in range(n_cols):
                    dv[i, q] = -vdot * df[e, q]
                tref_due[i] = col_tref[i] >= 0
            else:
                for q in range(n_cols):
                    dv[i, q] = 0.0
            if col_vr[i] >= 0:
                dv[i, col_vr[i]] += 1.0
            v[i] = v_reset[i]
            release[i] = t + t_ref[i]
            last_ev[i] = e
            continue
        i = out_post[p]
        w = out_w[p]
        t = ev_time[e] + out_d[p]
        _advance_tangents(i, t, v, j, t_upd, release, last_ev, dv, dj, df, a, b, c, v_reset,
                          delta, col_taum, col_taus, col_bias, col_vr, col_tref,
                          tref_due)  # fmt: skip
        qw = col_w[out_syn[p]]
        qd = col_d[out_syn[p]]
        if delta[i]:
            if t <= release[i] and t_ref[i] > 0.0:
                continue  # ignored while V is held
            bw = b[i] * w
            for q in range(n_cols):
                dv[i, q] += bw * df[e, q]
            if qd >= 0:
                dv[i, qd] += bw
            if qw >= 0:
                dv[i, qw] += 1.0
            v[i] += w
            continue
        held = t < release[i]
        aw = a[i] * w
        for q in range(n_cols):
            dj[i, q] += aw * df[e, q]
            if not held:
                dv[i, q] -= w * df[e, q]
        if qd >= 0:
            dj[i, qd] += aw
            if not held:
                dv[i, qd] -= w
        if qw >= 0:
            dj[i, qw] += 1.0
        j[i] += w
    return df

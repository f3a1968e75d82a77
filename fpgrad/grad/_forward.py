"""Forward propagation (FP): exact Jacobians and Jacobian-vector products of spike times, in one
pass over the record.

Each neuron carries tangent columns ``(dV_i, dJ_i)`` (seeded below), propagated between events
by the same linear propagator as the state (docs/model.md §2) and updated at its touches, in the
simulator's order (:func:`~fpgrad.event._schedule.touch_schedule`).
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

Seeds. Every term above in a parameter's differential (``dw_k``, ``dd_k``, ``dtheta``, ``db``,
``da``, ``dc``, ``dv_reset``, ``dt_ref``, an input time's ``dg``) is a *seed*: where parameter
``p`` appears, the kernel adds ``S[p, q] x (its coefficient)`` to column ``q`` for each stored
entry of row ``p`` of a sparse seed matrix ``S`` (parameters x columns, CSR:
:class:`~fpgrad.grad._params.ParameterSeeds`); everything else acts on all columns alike. The
columns are then ``d(spike times)/dp S``:

* Jacobian (:func:`~fpgrad.spike_jacobian`): ``S`` one-hot, one column per selected parameter;
* Jacobian-vector product (:func:`~fpgrad.spike_jvp`): one column per direction ``v_d``, every
  parameter with ``v_d[p] != 0`` seeding ``v_d[p]`` into column ``d``.

A parameter without entries costs one comparison where it would seed (the time-constant and
bias terms of the propagation are not computed for neurons that seed none of them).

Cost: ``O((number of spikes + synaptic events) x P + seed entries touched)`` time and
``O((N + events) x P)`` memory for ``P`` columns (plus 16 bytes per synaptic event for the
schedule); the record-rows x ``P`` tangents of the spikes are the result itself (``P``
selected parameters: the Jacobian; ``P`` directions: the JVP).
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
from ..event._schedule import touch_schedule_piece

__all__ = ["forward_kernel", "forward_piece"]


@jit
def _advance_tangents(i, t, v, j, t_upd, release, dv, dj, a, b, c, v_reset, delta,
                      ptr, o_taum, o_taus, o_bias, o_vr, o_tref, s_col, s_val,
                      tref_due):  # fmt: skip
    """Bring neuron ``i``'s state and tangents from ``t_upd[i]`` to ``t`` (no input between).

    Seeds as in :func:`forward_kernel` (``o_<group>``: the neuron groups' first rows).
    """
    t0 = t_upd[i]
    ai = a[i]
    if tref_due[i] and t > t0:
        # t_ref = 0: the right derivative in t_ref, -Vdot(f+), with J after every arrival at
        # the spike instant f (a longer t_ref would release V after them)
        x = j[i] + c[i] - b[i] * v[i]
        for k in range(ptr[o_tref + i], ptr[o_tref + i + 1]):
            dv[i, s_col[k]] -= s_val[k] * x
        tref_due[i] = False
    if t0 < release[i]:
        t1 = min(t, release[i])
        if not delta[i]:
            s = t1 - t0
            ea = math.exp(-ai * s)
            j0 = j[i]
            for q in range(dj.shape[1]):
                dj[i, q] *= ea
            x = -s * ea * j0 * (-ai * ai)
            for k in range(ptr[o_taus + i], ptr[o_taus + i + 1]):
                dj[i, s_col[k]] += s_val[k] * x
            j[i] = j0 * ea
        t0 = t1
        if t < release[i]:
            t_upd[i] = t
            return
        # release from refractoriness: dV = dv_reset - Vdot(r+) (df + dt_ref); while V is held
        # its tangent row keeps the spike's df (nothing reads dV then)
        vdot = j[i] + c[i] - b[i] * v_reset[i]
        for q in range(dv.shape[1]):
            dv[i, q] = -vdot * dv[i, q]
        for k in range(ptr[o_vr + i], ptr[o_vr + i + 1]):
            dv[i, s_col[k]] += s_val[k]
        for k in range(ptr[o_tref + i], ptr[o_tref + i + 1]):
            dv[i, s_col[k]] -= s_val[k] * vdot
        v[i] = v_reset[i]
    s = t - t0
    v0 = v[i]
    j0 = j[i]
    bi = b[i]
    ci = c[i]
    m0 = ptr[o_taum + i]
    m1 = ptr[o_taum + i + 1]
    if delta[i]:
        eb = math.exp(-bi * s)
        for q in range(dv.shape[1]):
            dv[i, q] = eb * dv[i, q]
        v1 = v0 * eb
        x = -s * eb * v0 * (-bi * bi)
        for k in range(m0, m1):
            dv[i, s_col[k]] += s_val[k] * x
    else:
        ea, eb, h = propagate(s, ai, bi)
        for q in range(dv.shape[1]):
            dv[i, q] = eb * dv[i, q] + h * dj[i, q]
            dj[i, q] *= ea
        n0 = ptr[o_taus + i]
        n1 = ptr[o_taus + i + 1]
        if m1 > m0 or n1 > n0:
            dh_da, dh_db = propagate_rate_derivatives(s, ai, bi, ea, eb)
            x = (-s * eb * v0 + j0 * dh_db) * (-bi * bi)
            for k in range(m0, m1):
                dv[i, s_col[k]] += s_val[k] * x
            x = j0 * dh_da * (-ai * ai)
            y = -s * ea * j0 * (-ai * ai)
            for k in range(n0, n1):
                dv[i, s_col[k]] += s_val[k] * x
                dj[i, s_col[k]] += s_val[k] * y
        v1 = v0 * eb + j0 * h
        j[i] = j0 * ea
    n0 = ptr[o_bias + i]
    n1 = ptr[o_bias + i + 1]
    if ci != 0.0 or n1 > n0:
        g = drive(s, bi)
        v1 += ci * g
        for k in range(n0, n1):
            dv[i, s_col[k]] += s_val[k] * g
        if m1 > m0 and ci != 0.0:
            x = ci * drive_rate_derivative(s, bi) * (-bi * bi)
            for k in range(m0, m1):
                dv[i, s_col[k]] += s_val[k] * x
    v[i] = v1
    t_upd[i] = t


@jit
def forward_kernel(n_inputs, a, b, c, v_reset, delta, theta, t_ref, out_ptr, out_zend, out_post,
                   out_w, out_d, out_syn, ev_node, ev_time, ev_input, ev_cause_e, ev_cause_p, t_max,
                   ptr, o_w, o_in, o_theta, o_taum, o_taus, o_d, o_bias, o_vr, o_tref, s_col, s_val,
                   n_cols):  # fmt: skip
    """Tangents ``df[e, q]`` of every recorded spike ``e`` along every seeded column ``q``: the
    whole record as one piece of :func:`forward_piece`, from rest.

    Arguments are the compiled network (see ``CompiledNetwork``), the causality record, and the
    seeds of :class:`~fpgrad.grad._params.ParameterSeeds` (``kernel_args()``): the row pointers
    ``ptr`` over all parameters, the first row ``o_<group>`` of each group, the entries'
    columns ``s_col`` and values ``s_val``, the number of columns. Parameter ``k`` of a group
    seeds ``s_val[s]`` into column ``s_col[s]`` for ``ptr[o + k] <= s < ptr[o + k + 1]``.
    """
    n = b.shape[0]
    df = np.zeros((ev_node.shape[0], n_cols))
    forward_piece(n_inputs, a, b, c, v_reset, delta, theta, t_ref, out_ptr, out_zend, out_post,
                  out_w, out_d, out_syn, ev_node, ev_time, ev_input, ev_cause_e, ev_cause_p, t_max,
                  0, np.empty(0), np.empty(0, np.int64), np.empty(0, np.int64),
                  np.empty(0, np.int64), -math.inf, ptr, o_w, o_in, o_theta, o_taum, o_taus, o_d,
                  o_bias, o_vr, o_tref, s_col, s_val, n_cols, np.zeros(n), np.zeros(n),
                  np.zeros(n), np.full(n, -math.inf), np.zeros(n, np.bool_),
                  np.zeros((n, n_cols)), np.zeros((n, n_cols)), df)  # fmt: skip
    return df


@jit
def forward_piece(n_inputs, a, b, c, v_reset, delta, theta, t_ref, out_ptr, out_zend, out_post,
                  out_w, out_d, out_syn, ev_node, ev_time, ev_input, ev_cause_e, ev_cause_p, t_max,
                  n_carried, q_t, q_e, q_p, cursor0, t_drain, ptr, o_w, o_in, o_theta, o_taum,
                  o_taus, o_d, o_bias, o_vr, o_tref, s_col, s_val, n_cols, v, j, t_upd, release,
                  tref_due, dv, dj, df):  # fmt: skip
    """FP over one piece of a simulation run in pieces (:mod:`fpgrad.event._stream`): fills
    ``df`` for the new rows ``n_carried..`` (rows before it hold the tangents of the carried
    spikes) and carries the neuron states and tangents ``(v, j, t_upd, release, tref_due, dv,
    dj)`` in place. ``(q_t, q_e, q_p)``, ``cursor0`` and ``t_drain`` are the piece's queue at its
    start, the carried rows' next arrivals and its stop time
    (:func:`~fpgrad.event._schedule.touch_schedule_piece`); the other arguments are those of
    :func:`forward_kernel`.
    """
    n_ev = ev_node.shape[0]
    touch_e, touch_p = touch_schedule_piece(n_inputs, out_ptr, out_zend, out_d, ev_node, ev_time,
                                            ev_cause_e, ev_cause_p, t_max, n_carried, q_t, q_e,
                                            q_p, cursor0, t_drain)  # fmt: skip
    for e in range(n_carried, n_ev):
        q = ev_input[e]
        # input spikes seed their input_time rows; a stream's are not parameters (the group,
        # which precedes threshold in GROUPS, is empty there)
        if ev_node[e] < n_inputs and o_in + q < o_theta:
            for k in range(ptr[o_in + q], ptr[o_in + q + 1]):
                df[e, s_col[k]] += s_val[k]
    for u in range(touch_e.shape[0]):
        e = touch_e[u]
        p = touch_p[u]
        if p < 0:  # own spike of record e
            i = ev_node[e] - n_inputs
            t = ev_time[e]
            _advance_tangents(i, t, v, j, t_upd, release, dv, dj, a, b, c, v_reset, delta, ptr,
                              o_taum, o_taus, o_bias, o_vr, o_tref, s_col, s_val,
                              tref_due)  # fmt: skip
            ce = ev_cause_e[e]
            if ce >= 0:  # fired by a delta arrival: its time is the arrival's
                for q in range(n_cols):
                    df[e, q] = df[ce, q]
                syn = out_syn[ev_cause_p[e]]
                for k in range(ptr[o_d + syn], ptr[o_d + syn + 1]):
                    df[e, s_col[k]] += s_val[k]
            else:
                vdot = j[i] + c[i] - b[i] * theta[i]
                for q in range(n_cols):
                    df[e, q] = -dv[i, q] / vdot
                for k in range(ptr[o_theta + i], ptr[o_theta + i + 1]):
                    df[e, s_col[k]] += s_val[k] / vdot
            if t + t_ref[i] == t:  # no hold (t_ref = 0, or below the resolution of t)
                vdot = j[i] + c[i] - b[i] * v_reset[i]
                for q in range(n_cols):
                    dv[i, q] = -vdot * df[e, q]
                tref_due[i] = ptr[o_tref + i + 1] > ptr[o_tref + i]
                for k in range(ptr[o_vr + i], ptr[o_vr + i + 1]):
                    dv[i, s_col[k]] += s_val[k]
            else:  # held: the row keeps df until the release (_advance_tangents)
                for q in range(n_cols):
                    dv[i, q] = df[e, q]
            v[i] = v_reset[i]
            release[i] = t + t_ref[i]
            continue
        i = out_post[p]
        w = out_w[p]
        t = ev_time[e] + out_d[p]
        _advance_tangents(i, t, v, j, t_upd, release, dv, dj, a, b, c, v_reset, delta, ptr,
                          o_taum, o_taus, o_bias, o_vr, o_tref, s_col, s_val,
                          tref_due)  # fmt: skip
        syn = out_syn[p]
        if delta[i]:
            if t <= release[i] and t_ref[i] > 0.0:
                continue  # ignored while V is held
            bw = b[i] * w
            for q in range(n_cols):
                dv[i, q] += bw * df[e, q]
            for k in range(ptr[o_d + syn], ptr[o_d + syn + 1]):
                dv[i, s_col[k]] += s_val[k] * bw
            for k in range(ptr[o_w + syn], ptr[o_w + syn + 1]):
                dv[i, s_col[k]] += s_val[k]
            v[i] += w
            continue
        held = t < release[i]
        aw = a[i] * w
        for q in range(n_cols):
            dj[i, q] += aw * df[e, q]
            if not held:
                dv[i, q] -= w * df[e, q]
        for k in range(ptr[o_d + syn], ptr[o_d + syn + 1]):
            dj[i, s_col[k]] += s_val[k] * aw
            if not held:
                dv[i, s_col[k]] -= s_val[k] * w
        for k in range(ptr[o_w + syn], ptr[o_w + syn + 1]):
            dj[i, s_col[k]] += s_val[k]
        j[i] += w

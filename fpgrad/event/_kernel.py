"""The event-driven simulation loop (Numba).

Events are input spikes (known in advance, merged in time order), neuron spikes (predicted
crossings kept in an indexed heap, one entry per neuron) and, with synaptic delays, the arrivals
of spikes in flight (a calendar queue with one entry per such spike, :mod:`._arrivals`).
Processing a spike of node ``j`` at time ``t`` records it, then delivers its zero-delay
arrivals at once and queues the others; an arrival advances its target's state exactly to the
arrival time, adds the weight to its current ``J`` (or, for a delta synapse, to ``V``) and
re-tests whether it will cross (:func:`crossing_bracket`; for model-1 neurons the crossing
itself is located only when the heap reaches it).

Simultaneous events (docs/model.md §1). At equal times input spikes come first (by node), then
queued arrivals (by the record index of their spike), then threshold crossings (by neuron).
The arrivals of one spike at one instant act together: a delta-synapse neuron they lift to
``theta`` or above is queued in a first-in first-out list and fires right after that event,
before any other (if later arrivals of the same instant have not lowered it again); its spike
records the arrival that lifted it (``ev_cause_e``, the record index of the presynaptic spike,
and ``ev_cause_p``, the CSR position of the synapse), whose time derivative it inherits. The
record lists spikes in the order they were processed, which is causal order; the replays of
the gradient engines (:mod:`._schedule`) rebuild the same order of arrivals from it.

Speed: a synaptic event costs one propagation (two transcendental calls) and a prediction that
ends at a cheap bound or at the closed-form peak value (two more); the crossing is located only
when due, and a sub-threshold maximum (for the degeneracy report) only once reached. Neurons
with a bias or delta synapses take the general path of :mod:`._general`. The loop lives in
:func:`_event_loop`, whose arrays are never rebound and whose callees take scalars (or are leaf
functions): Numba then emits no reference counting (atomic increments) per event, which
otherwise costs about a third of the time.
"""

import math

import numpy as np

from .._numba import jit
from ._arrivals import (
    MASK,
    Q_CUR,
    Q_FPEAK,
    Q_FREE,
    Q_LH,
    Q_LN,
    Q_SIZE,
    Q_TOP,
    arrivals_grow,
    arrivals_insert,
    arrivals_load,
    arrivals_push,
    arrivals_setup,
    new_arrivals,
)
from ._crossing import crossing_bracket, peak_time, peak_value, refine_crossing
from ._general import general_crossing, general_maximum
from ._heap import heap_remove, heap_set
from ._propagator import (
    NO_PROPAGATOR,
    advance,
    kernel_peak,
    log_rate_ratio,
    propagate_reusing,
)

__all__ = [
    "STATUS_BUDGET",
    "STATUS_OK",
    "advance_kernel",
    "finish_kernel",
    "new_state",
    "simulate_kernel",
]

STATUS_OK = 0
STATUS_BUDGET = 1

# Per neuron, for the degeneracy report: whether the maximum ahead (if any) may set a new
# smallest gap. Such a maximum is only located once it is reached (_free_maximum).
_NONE = 0  # no maximum ahead, or provably not smaller than the gap already found
_TRACK = 1  # V rises from the last update on, towards a maximum that may matter


@jit
def simulate_kernel(
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
    in_node,
    in_time,
    in_index,
    t_max,
    max_spikes,
):
    """Simulate one problem: :func:`new_state`, :func:`advance_kernel` to ``t_max`` (the record
    growing as needed), :func:`finish_kernel`.

    Args:
        n_inputs: ``M``; neuron ``i`` is node ``M + i``.
        a, b, c, v_reset, delta, theta, t_ref: per-neuron ``1/tau_syn`` (unused where
            ``delta``), ``1/tau_mem``, bias, reset value, whether the synapses are delta
            synapses, threshold, refractory period.
        out_ptr, out_zend, out_post, out_w, out_d: outgoing synapses in CSR order by source
            node, sorted by delay within a source (``out_zend[node]`` ends its zero-delay
            ones); ``out_post`` holds neuron indices ``0..N-1``.
        in_node, in_time, in_index: input spikes sorted by ``(time, node)`` and each one's index
            in the flattened per-input spike list.
        t_max: horizon; spikes (and arrivals) at ``t <= t_max`` are simulated.
        max_spikes: budget of neuron spikes.

    Returns:
        ``(ev_node, ev_time, ev_input, ev_cause_e, ev_cause_p, status, n_syn_events,
        degeneracy, peak_in_flight)`` with every spike in causal order (inputs included;
        ``ev_input`` is the flat input-spike index or -1; ``ev_cause_*`` the arrival that fired
        a delta-synapse neuron, -1 for crossings and inputs), ``degeneracy = (min_gap,
        gap_neuron, gap_time, min_slope, slope_neuron, slope_time)`` and the largest number of
        spikes in flight at once.
    """
    st = new_state(a, b, c, v_reset, delta, theta, t_max, in_time.shape[0] + 1024)
    v, j, t_upd, release, pk_kind, defer_s, kink_t, h_peak, log_ba, general = st[:10]
    ht, hn, pos, fifo, in_fifo, cause_e, cause_p, fs, ints = st[10:19]
    ev_node, ev_time, ev_input, ev_ce, ev_cp = st[19:24]
    qs, qw, bhead, btail, pt, pe, pp, pn, lt, le, lp = st[24:]
    ev_node, ev_time, ev_input, ev_ce, ev_cp, pt, pe, pp, pn, lt, le, lp, _ = advance_kernel(
        n_inputs, a, b, c, v_reset, delta, theta, t_ref, out_ptr, out_zend, out_post, out_w,
        out_d, in_node, in_time, in_index, t_max, t_max, max_spikes, True, v, j, t_upd,
        release, pk_kind, defer_s, kink_t, h_peak, log_ba, general, ht, hn, pos, fifo, in_fifo,
        cause_e, cause_p, ev_node, ev_time, ev_input, ev_ce, ev_cp, qs, qw, bhead, btail, pt, pe,
        pp, pn, lt, le, lp, fs, ints,
    )  # fmt: skip
    degeneracy = finish_kernel(a, b, c, v_reset, delta, theta, v, j, t_upd, release, pk_kind,
                               kink_t, log_ba, general, t_max, fs, ints)  # fmt: skip
    n_ev = ints[_N_EV]
    return (
        ev_node[:n_ev],
        ev_time[:n_ev],
        ev_input[:n_ev],
        ev_ce[:n_ev],
        ev_cp[:n_ev],
        ints[_STATUS],
        ints[_N_SYN],
        degeneracy,
        qs[Q_FPEAK],
    )


@jit
def new_state(a, b, c, v_reset, delta, theta, t_max, ecap):
    """The state of a simulation at ``t = 0`` (all neurons at rest, nothing recorded) with a
    record of ``ecap`` rows: ``(v, j, t_upd, release, pk_kind, defer_s, kink_t, h_peak, log_ba,
    general, ht, hn, pos, fifo, in_fifo, cause_e, cause_p, fs, ints, ev_node, ev_time,
    ev_input, ev_cause_e, ev_cause_p, qs, qw, bhead, btail, pt, pe, pp, pn, lt, le, lp)`` (the
    last eleven: the queue of spikes in flight, :func:`~._arrivals.new_arrivals`), the arguments
    of :func:`advance_kernel` after the inputs (in that function's order) and of
    :func:`finish_kernel`."""
    n = b.shape[0]
    v = np.zeros(n)
    j = np.zeros(n)
    t_upd = np.zeros(n)
    release = np.full(n, -math.inf)
    pk_kind = np.zeros(n, np.int8)
    defer_s = np.zeros(n)
    kink_t = np.full(n, math.nan)
    h_peak = np.empty(n)
    log_ba = np.zeros(n)
    general = np.zeros(n, np.bool_)
    for i in range(n):
        general[i] = delta[i] or c[i] != 0.0
        if general[i]:
            continue
        h_peak[i] = kernel_peak(a[i], b[i])
        if b[i] != a[i]:
            log_ba[i] = log_rate_ratio(a[i], b[i])
    cap = max(n, 1)
    ht = np.empty(cap)
    hn = np.empty(cap, np.int64)
    pos = np.full(cap, -1, np.int64)
    fifo = np.empty(cap, np.int64)
    in_fifo = np.zeros(cap, np.bool_)
    cause_e = np.full(cap, -1, np.int64)
    cause_p = np.full(cap, -1, np.int64)
    ecap = max(ecap, 1)
    # Loop state that survives a pause of the event loop (when the record or queue is full).
    fs = np.array([math.inf, math.nan, math.inf, math.nan])  # min_gap, gap_t, min_slope, slope_t
    ints = np.zeros(_N_INTS, np.int64)
    ints[_GAP_NEURON] = -1
    ints[_SLOPE_NEURON] = -1
    # Initial predictions: a bias can make a neuron fire without any input.
    for i in range(n):
        if general[i]:
            t_cross = _predict_general(0.0, 0.0, 0.0, -math.inf, a[i], b[i], c[i], v_reset[i],
                                       delta[i], theta[i])  # fmt: skip
            if t_cross <= t_max:
                ints[_HSIZE] = heap_set(ht, hn, pos, ints[_HSIZE], i, t_cross)
    qs, qw, bhead, btail, pt, pe, pp, pn, lt, le, lp = new_arrivals(64)
    return (
        v, j, t_upd, release, pk_kind, defer_s, kink_t, h_peak, log_ba, general,
        ht, hn, pos, fifo, in_fifo, cause_e, cause_p, fs, ints,
        np.empty(ecap, np.int64), np.empty(ecap), np.empty(ecap, np.int64),
        np.empty(ecap, np.int64), np.empty(ecap, np.int64),
        qs, qw, bhead, btail, pt, pe, pp, pn, lt, le, lp,
    )  # fmt: skip


@jit
def advance_kernel(
    n_inputs, a, b, c, v_reset, delta, theta, t_ref, out_ptr, out_zend, out_post, out_w, out_d,
    in_node, in_time, in_index, t_stop, t_max, max_spikes, grow, v, j, t_upd, release, pk_kind,
    defer_s, kink_t, h_peak, log_ba, general, ht, hn, pos, fifo, in_fifo, cause_e, cause_p,
    ev_node, ev_time, ev_input, ev_ce, ev_cp, qs, qw, bhead, btail, pt, pe, pp, pn, lt, le, lp, fs,
    ints,
):  # fmt: skip
    """Process the events up to ``t_stop`` (inputs from ``in_*`` at ``ints[_P_IN]`` on), the
    queue of spikes in flight growing as needed and the record too if ``grow``; without
    ``grow`` it stops early when the record is full. Returns the (possibly new) record and
    queue arrays and whether ``t_stop`` was reached (or the spike budget exceeded:
    ``ints[_STATUS]``)."""
    arrivals_setup(qw, out_d)
    while not _event_loop(
        n_inputs, a, b, c, v_reset, delta, theta, t_ref, out_ptr, out_zend, out_post, out_w,
        out_d, in_node, in_time, in_index, t_stop, t_max, max_spikes, v, j, t_upd, release,
        pk_kind, defer_s, kink_t, h_peak, log_ba, general, ht, hn, pos, fifo, in_fifo, cause_e,
        cause_p, ev_node, ev_time, ev_input, ev_ce, ev_cp, qs, qw[0], bhead, btail, pt, pe, pp,
        pn, lt, le, lp, fs, ints,
    ):  # fmt: skip
        if ints[_N_EV] == ev_node.shape[0]:
            if not grow:
                return (ev_node, ev_time, ev_input, ev_ce, ev_cp, pt, pe, pp, pn, lt, le, lp,
                        False)  # fmt: skip
            ecap = 2 * ev_node.shape[0]
            ev_node = _grow_int(ev_node, ecap)
            ev_time = _grow_float(ev_time, ecap)
            ev_input = _grow_int(ev_input, ecap)
            ev_ce = _grow_int(ev_ce, ecap)
            ev_cp = _grow_int(ev_cp, ecap)
        if qs[Q_SIZE] == pt.shape[0]:
            qcap = 2 * pt.shape[0]
            pt, pe, pp, pn, lt, le, lp = arrivals_grow(pt, pe, pp, pn, lt, le, lp, qcap)
    return ev_node, ev_time, ev_input, ev_ce, ev_cp, pt, pe, pp, pn, lt, le, lp, True


@jit
def finish_kernel(a, b, c, v_reset, delta, theta, v, j, t_upd, release, pk_kind, kink_t, log_ba,
                  general, t_end, fs, ints):  # fmt: skip
    """The degeneracy report ``(min_gap, gap_neuron, gap_time, min_slope, slope_neuron,
    slope_time)`` at the end ``t_end`` of a simulation: with the sub-threshold maxima of each
    neuron's last interval, up to ``t_end`` (unless the spike budget was exceeded)."""
    min_gap, gap_time = fs[0], fs[1]
    gap_neuron = ints[_GAP_NEURON]
    if ints[_STATUS] == STATUS_OK:
        for i in range(b.shape[0]):
            if general[i]:
                if t_end <= release[i]:
                    continue
                t0, v0, j0 = _free_start(
                    t_upd[i], v[i], j[i], release[i], a[i], b[i], c[i], v_reset[i], delta[i]
                )
                top, s = general_maximum(v0, j0, a[i], b[i], c[i], delta[i], t_end - t0)
                if top <= theta[i] and theta[i] - top < min_gap:
                    min_gap = theta[i] - top
                    gap_neuron = i
                    gap_time = t0 + s
                continue
            if kink_t[i] == t_upd[i]:
                gap = _kink_gap(v[i], j[i], b[i], theta[i])
                if gap < min_gap:
                    min_gap = gap
                    gap_neuron = i
                    gap_time = t_upd[i]
            if pk_kind[i] != _TRACK or t_end <= release[i]:
                continue
            top, when = _free_maximum(
                v[i], j[i], t_upd[i], t_end, release[i], a[i], b[i], log_ba[i], v_reset[i]
            )
            if 0.0 < top <= theta[i] and theta[i] - top < min_gap:
                min_gap = theta[i] - top
                gap_neuron = i
                gap_time = when
    return (min_gap, gap_neuron, gap_time, fs[2], ints[_SLOPE_NEURON], fs[3])


# Slots of the integer loop state.
_P_IN = 0
_N_EV = 1
_N_SPIKES = 2
_N_SYN = 3
_HSIZE = 4
_GAP_NEURON = 5
_SLOPE_NEURON = 6
_STATUS = 7
_F_HEAD = 8
_F_COUNT = 9
_N_INTS = 10


@jit
def _event_loop(
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
    in_node,
    in_time,
    in_index,
    t_stop,
    t_max,
    max_spikes,
    v,
    j,
    t_upd,
    release,
    pk_kind,
    defer_s,
    kink_t,
    h_peak,
    log_ba,
    general,
    ht,
    hn,
    pos,
    fifo,
    in_fifo,
    cause_e,
    cause_p,
    ev_node,
    ev_time,
    ev_input,
    ev_ce,
    ev_cp,
    qs,
    inv_w,
    bhead,
    btail,
    pt,
    pe,
    pp,
    pn,
    lt,
    le,
    lp,
    fs,
    ints,
):
    """Process events up to ``t_stop`` (returns True: the next event is later, or there is none)
    or until the record or queue is full (False); ``t_max`` is the horizon of predictions.

    Sub-threshold maxima for the degeneracy report (only of model-1 neurons whose last
    prediction says the maximum may set a new smallest gap, ``pk_kind == _TRACK``): a free peak
    reached before the next input (``V`` rose after the last update and falls when the input
    arrives); or a kink, where inputs at ``t`` turn a rising ``V`` down. Whether they do is
    known once every input at ``t`` has arrived, so ``kink_t[i] = t`` marks a candidate,
    settled by :func:`_kink_gap` when the neuron is next touched at a later time (or at the
    end), from its state at ``t``, which by then includes all inputs at ``t``. Neurons on the
    general path report every maximum of ``V`` they reach, the value after a delta jump that
    ``V`` falls from, and how far a delta arrival overshoots ``theta`` when it fires one.
    """
    n = v.shape[0]
    n_in = in_time.shape[0]
    ecap = ev_node.shape[0]
    qcap = pt.shape[0]
    p_in = ints[_P_IN]
    n_ev = ints[_N_EV]
    n_spikes = ints[_N_SPIKES]
    n_syn = ints[_N_SYN]
    hsize = ints[_HSIZE]
    gap_neuron = ints[_GAP_NEURON]
    slope_neuron = ints[_SLOPE_NEURON]
    status = ints[_STATUS]
    f_head = ints[_F_HEAD]
    f_count = ints[_F_COUNT]
    min_gap = fs[0]
    gap_time = fs[1]
    min_slope = fs[2]
    slope_time = fs[3]
    finished = True
    # The propagator over the interval of the last model-1 arrival: the targets of one spike
    # in a dense layer were all last touched at the same time (the previous spike of that
    # layer), so most arrivals reuse it (propagate_reusing).
    memo = NO_PROPAGATOR
    while True:
        if n_ev == ecap or qs[Q_SIZE] == qcap:
            finished = False
            break
        spiking = -1  # the neuron that spikes in this event, if any
        src = -1  # the record index whose arrivals are delivered
        p_lo = -1  # the CSR range of those arrivals (-1: the zero-delay ones of a new record)
        p_hi = -1
        ce = -1
        cp = -1
        if f_count > 0:  # a delta arrival lifted this neuron to threshold: it fires now
            i = fifo[f_head]
            f_head = f_head + 1 if f_head + 1 < n else 0
            f_count -= 1
            in_fifo[i] = False
            t = t_upd[i]
            if not v[i] >= theta[i]:  # lowered again by a later arrival of the same instant
                t_cross = _predict_general(t, v[i], j[i], release[i], a[i], b[i], c[i],
                                           v_reset[i], True, theta[i])  # fmt: skip
                if t_cross <= t_max:
                    hsize = heap_set(ht, hn, pos, hsize, i, t_cross)
                continue
            spiking = i
            ce = cause_e[i]
            cp = cause_p[i]
            gap = v[i] - theta[i]  # a smaller weight would not fire it
            if gap < min_gap:
                min_gap = gap
                gap_neuron = i
                gap_time = t
        else:
            t_in = in_time[p_in] if p_in < n_in else math.inf
            t_q = lt[qs[Q_LH]] if qs[Q_SIZE] > 0 else math.inf
            t_nr = ht[0] if hsize > 0 else math.inf
            if (
                p_in < n_in
                and t_in <= t_q
                and (t_in < t_nr or (t_in == t_nr and in_node[p_in] < n_inputs + hn[0]))
            ):
                t = t_in
                if t > t_stop:
                    break
                node = in_node[p_in]
                ev_node[n_ev] = node
                ev_time[n_ev] = t
                ev_input[n_ev] = in_index[p_in]
                ev_ce[n_ev] = -1
                ev_cp[n_ev] = -1
                p_in += 1
                src = n_ev
                n_ev += 1
                p_lo = -1
            elif t_q <= t_nr and t_q < math.inf:  # the arrivals of a spike in flight at t_q
                if t_q > t_stop:
                    break
                # The head group of the queue (:mod:`._arrivals`; its common path is inlined
                # here: a call per arrival would cost reference counting).
                lh = qs[Q_LH]
                t = t_q
                src = le[lh]
                p_lo = lp[lh]
                qs[Q_LH] = lh + 1
                t_src = ev_time[src]
                p_end = out_ptr[ev_node[src] + 1]
                p_hi = p_lo + 1
                while p_hi < p_end and t_src + out_d[p_hi] == t:
                    p_hi += 1
                if p_hi < p_end and t_src + out_d[p_hi] <= t_max:  # re-queue at the next one
                    t_next = t_src + out_d[p_hi]
                    bk = int(t_next * inv_w)
                    if bk > qs[Q_CUR]:  # append to its bucket (arrivals_append)
                        k = qs[Q_FREE]
                        if k >= 0:
                            qs[Q_FREE] = pn[k]
                        else:
                            k = qs[Q_TOP]
                            qs[Q_TOP] = k + 1
                        pt[k] = t_next
                        pe[k] = src
                        pp[k] = p_hi
                        pn[k] = -1
                        s = bk & MASK
                        if bhead[s] < 0:
                            bhead[s] = k
                        else:
                            pn[btail[s]] = k
                        btail[s] = k
                    else:
                        arrivals_insert(qs, lt, le, lp, t_next, src, p_hi)
                else:
                    qs[Q_SIZE] -= 1
                if qs[Q_LH] == qs[Q_LN] and qs[Q_SIZE] > 0:
                    arrivals_load(qs, bhead, btail, pt, pe, pp, pn, lt, le, lp)
            else:
                t = t_nr
                if not t <= t_stop:
                    break
                i = hn[0]
                if defer_s[i] > 0.0:  # a lower bound is due: locate the crossing now
                    t_cross = _refine(t_upd[i], v[i], j[i], release[i], a[i], b[i], theta[i],
                                      defer_s[i], v_reset[i])  # fmt: skip
                    defer_s[i] = 0.0
                    if t_cross <= t_max:
                        hsize = heap_set(ht, hn, pos, hsize, i, t_cross)
                    else:
                        hsize = heap_remove(ht, hn, pos, hsize, i)
                    continue
                spiking = i
        if spiking >= 0:
            i = spiking
            if pos[i] >= 0:
                hsize = heap_remove(ht, hn, pos, hsize, i)
            n_spikes += 1
            if n_spikes > max_spikes:
                status = STATUS_BUDGET
                break
            if kink_t[i] == t_upd[i] and t > t_upd[i]:
                gap = _kink_gap(v[i], j[i], b[i], theta[i])
                if gap < min_gap:
                    min_gap = gap
                    gap_neuron = i
                    gap_time = t_upd[i]
                kink_t[i] = math.nan
            vi, ji = advance(v[i], j[i], t_upd[i], t, release[i], a[i], b[i], c[i],
                             v_reset[i], delta[i])  # fmt: skip
            if ce < 0:
                slope = ji - b[i] * theta[i] + c[i]
                if slope < min_slope:
                    min_slope = slope
                    slope_neuron = i
                    slope_time = t
            v[i] = v_reset[i]
            j[i] = ji
            t_upd[i] = t
            release[i] = t + t_ref[i]
            if general[i]:
                t_cross = _predict_general(t, v[i], ji, release[i], a[i], b[i], c[i],
                                           v_reset[i], delta[i], theta[i])  # fmt: skip
            else:
                t_cross, pk_kind[i], defer_s[i] = _predict(
                    t, v[i], ji, release[i], a[i], b[i], theta[i], h_peak[i], log_ba[i],
                    min_gap, v_reset[i],
                )  # fmt: skip
            if t_cross <= t_max:
                hsize = heap_set(ht, hn, pos, hsize, i, t_cross)
            node = n_inputs + i
            ev_node[n_ev] = node
            ev_time[n_ev] = t
            ev_input[n_ev] = -1
            ev_ce[n_ev] = ce
            ev_cp[n_ev] = cp
            src = n_ev
            n_ev += 1
        if p_lo < 0:  # record src is new: deliver its zero-delay arrivals now, queue the others
            node = ev_node[src]
            p_lo = out_ptr[node]
            p_hi = out_zend[node]
            if p_hi < out_ptr[node + 1] and t + out_d[p_hi] <= t_max:
                arrivals_push(qs, bhead, btail, pt, pe, pp, pn, lt, le, lp, inv_w,
                              t + out_d[p_hi], src, p_hi)  # fmt: skip

        for k in range(p_lo, p_hi):
            i = out_post[k]
            n_syn += 1
            rel = release[i]
            if rel >= t_max:
                continue  # refractory to the end: its state can no longer matter
            tu = t_upd[i]
            if general[i]:
                if delta[i] and t <= rel and t_ref[i] > 0.0:
                    continue  # a delta arrival while V is held (spike instant included)
                rising = False
                if t > rel:  # the maximum of V since the last update, if it was reached
                    t0, v0, j0 = _free_start(tu, v[i], j[i], rel, a[i], b[i], c[i],
                                             v_reset[i], delta[i])  # fmt: skip
                    s_end = t - t0
                    top, s_top = general_maximum(v0, j0, a[i], b[i], c[i], delta[i], s_end)
                    rising = s_top == s_end
                    if top <= theta[i] and s_top < s_end and theta[i] - top < min_gap:
                        min_gap = theta[i] - top
                        gap_neuron = i
                        gap_time = t0 + s_top
                vi, ji = advance(v[i], j[i], tu, t, rel, a[i], b[i], c[i], v_reset[i],
                                 delta[i])  # fmt: skip
                w = out_w[k]
                if delta[i]:
                    v_after = vi + w
                    if rising and w < 0.0:  # a kink: V rose to vi, then dropped
                        kink = theta[i] - vi
                    elif v_after < theta[i] and c[i] - b[i] * v_after <= 0.0:
                        kink = theta[i] - v_after  # V falls from the jump
                    else:
                        kink = math.inf
                    v[i] = v_after
                    j[i] = 0.0
                    t_upd[i] = t
                    if v_after >= theta[i]:  # fires right after this event
                        if not in_fifo[i]:
                            in_fifo[i] = True
                            fifo[(f_head + f_count) % n] = i
                            f_count += 1
                            cause_e[i] = src
                            cause_p[i] = k
                        elif vi < theta[i]:
                            cause_e[i] = src
                            cause_p[i] = k
                        if pos[i] >= 0:
                            hsize = heap_remove(ht, hn, pos, hsize, i)
                        continue
                else:
                    kink = math.inf
                    if rising and ji + w - b[i] * vi + c[i] <= 0.0:
                        kink = theta[i] - vi
                    v[i] = vi
                    j[i] = ji + w
                    t_upd[i] = t
                if 0.0 <= kink < min_gap:
                    min_gap = kink
                    gap_neuron = i
                    gap_time = t
                if in_fifo[i]:
                    continue  # lowered below threshold; settled when it leaves the list
                t_cross = _predict_general(t, v[i], j[i], rel, a[i], b[i], c[i], v_reset[i],
                                           delta[i], theta[i])  # fmt: skip
                if t_cross <= t_max:
                    hsize = heap_set(ht, hn, pos, hsize, i, t_cross)
                elif pos[i] >= 0:
                    hsize = heap_remove(ht, hn, pos, hsize, i)
                continue
            if kink_t[i] == tu and t > tu:
                gap = _kink_gap(v[i], j[i], b[i], theta[i])
                if gap < min_gap:
                    min_gap = gap
                    gap_neuron = i
                    gap_time = tu
                kink_t[i] = math.nan
            if tu < rel:
                vi, ji = advance(v[i], j[i], tu, t, rel, a[i], b[i], 0.0, v_reset[i], False)
            else:  # advance's free case, with the propagator of the last target if it applies
                s_free = t - tu
                memo = propagate_reusing(s_free, a[i], b[i], memo)
                vi = v[i] * memo[4] + j[i] * memo[5]
                ji = j[i] * memo[3]
            if pk_kind[i] == _TRACK and t > rel:
                if ji - b[i] * vi > 0.0:  # V still rising: a kink if the inputs at t turn it down
                    kink_t[i] = t
                else:  # the free peak was reached before this input
                    top, when = _free_maximum(v[i], j[i], tu, t, rel, a[i], b[i], log_ba[i],
                                              v_reset[i])  # fmt: skip
                    if 0.0 < top <= theta[i] and theta[i] - top < min_gap:
                        min_gap = theta[i] - top
                        gap_neuron = i
                        gap_time = when
            ji += out_w[k]
            v[i] = vi
            j[i] = ji
            t_upd[i] = t
            t_cross, pk_kind[i], defer_s[i] = _predict(
                t, vi, ji, rel, a[i], b[i], theta[i], h_peak[i], log_ba[i], min_gap, v_reset[i]
            )
            if t_cross <= t_max:
                hsize = heap_set(ht, hn, pos, hsize, i, t_cross)
            elif pos[i] >= 0:
                hsize = heap_remove(ht, hn, pos, hsize, i)

    ints[_P_IN] = p_in
    ints[_N_EV] = n_ev
    ints[_N_SPIKES] = n_spikes
    ints[_N_SYN] = n_syn
    ints[_HSIZE] = hsize
    ints[_GAP_NEURON] = gap_neuron
    ints[_SLOPE_NEURON] = slope_neuron
    ints[_STATUS] = status
    ints[_F_HEAD] = f_head
    ints[_F_COUNT] = f_count
    fs[0] = min_gap
    fs[1] = gap_time
    fs[2] = min_slope
    fs[3] = slope_time
    return finished


@jit
def _kink_gap(v, j, b, theta):
    """``theta - V`` for a kink candidate at ``V`` (state just after the inputs that arrived while
    ``V`` was rising), if they turned it down (``dV/dt = J - b V <= 0``) and ``0 < V <= theta``
    (a maximum exactly at threshold is no spike, and its gap 0 flags the run degenerate);
    ``inf`` otherwise."""
    if j - b * v <= 0.0 and 0.0 < v <= theta:
        return theta - v
    return math.inf


@jit
def _predict(t, v0, j0, rel, a, b, theta, h_peak, log_ba, min_gap, v_reset):
    """Next crossing of a model-1 neuron whose state at ``t`` is ``(v0, j0)`` (``V`` held at
    ``v_reset`` until ``rel`` if ``t < rel``): ``(t_key, peak_kind, s_defer)``.

    ``t_key`` is ``inf`` without a crossing. With one, either ``s_defer = 0`` and ``t_key`` is
    the crossing, or ``s_defer > 0``: ``t_key`` is a lower bound of the crossing, which lies
    before the maximum ``s_defer`` after the start, and is located by :func:`_refine` when the
    heap reaches it. ``peak_kind`` is ``_TRACK`` when ``V`` rises towards a maximum whose gap
    to threshold may be smaller than the smallest gap ``min_gap`` found so far (or crosses).
    """
    t_start, v0, j0 = _free_start(t, v0, j0, rel, a, b, 0.0, v_reset, False)
    s_low, s_pk, v_pk = crossing_bracket(v0, j0, a, b, theta, h_peak, log_ba)
    if s_low < math.inf:
        if s_pk == 0.0:
            return t_start, _TRACK, 0.0
        return t_start + s_low, _TRACK, s_pk
    if theta - v_pk >= min_gap:  # v_pk bounds the maximum (-inf: none ahead)
        return math.inf, _NONE, 0.0
    return math.inf, _TRACK, 0.0


@jit
def _predict_general(t, v0, j0, rel, a, b, c, v_reset, delta, theta):
    """Next crossing time of a neuron on the general path (a bias or delta synapses) whose state
    at ``t`` is ``(v0, j0)`` (``V`` held at ``v_reset`` until ``rel``), ``inf`` if none: solved
    at once (:func:`~._general.general_crossing`)."""
    t0, v0, j0 = _free_start(t, v0, j0, rel, a, b, c, v_reset, delta)
    return t0 + general_crossing(v0, j0, a, b, c, delta, theta, t0)


@jit
def _refine(t, v0, j0, rel, a, b, theta, s_pk, v_reset):
    """The crossing deferred by :func:`_predict` from the same state, to float64 precision."""
    t_start, v0, j0 = _free_start(t, v0, j0, rel, a, b, 0.0, v_reset, False)
    return t_start + refine_crossing(v0, j0, a, b, theta, s_pk, t_start)


@jit
def _free_maximum(v, j, t, t_end, rel, a, b, log_ba, v_reset):
    """``(V*, t*)``: the maximum of ``V`` on ``(t, t_end]`` for the state ``(v, j)`` at ``t``
    (``V`` held at 0 until ``rel``), free of input, if ``V`` rises from the (free) start; the
    value at ``t_end`` if the maximum lies later. ``(-inf, nan)`` if ``V`` does not rise.

    Only maxima that are reached are located (:func:`_predict` merely notes that one may
    matter), with the propagator the root finder uses: they are few.
    """
    t0, v0, j0 = _free_start(t, v, j, rel, a, b, 0.0, v_reset, False)
    if not (j0 > 0.0 and j0 - b * v0 > 0.0):
        return -math.inf, math.nan
    s = peak_time(v0, j0, a, b, log_ba)
    if not t0 + s <= t_end:
        s = t_end - t0
    return peak_value(v0, j0, a, b, s), t0 + s


@jit
def _free_start(t, v0, j0, rel, a, b, c, v_reset, delta):
    """Where the free trajectory from ``(v0, j0)`` at ``t`` can start rising: ``(t, v0, j0)``,
    or the state at the release ``rel`` if the neuron is refractory until then."""
    if t < rel:
        v0, j0 = advance(v0, j0, t, rel, rel, a, b, c, v_reset, delta)
        return rel, v0, j0
    return t, v0, j0


@jit
def _grow_int(arr, cap):
    out = np.empty(cap, np.int64)
    out[: arr.shape[0]] = arr
    return out


@jit
def _grow_float(arr, cap):
    out = np.empty(cap, np.float64)
    out[: arr.shape[0]] = arr
    return out

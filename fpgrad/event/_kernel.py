"""The event-driven simulation loop (Numba).

Events are input spikes (known in advance, merged in time order) and neuron spikes (predicted
crossings kept in an indexed heap, one entry per neuron). Processing a spike of node ``j`` at
time ``t`` advances each target's state exactly to ``t``, adds the synaptic weight to its current
``J`` and re-tests whether it will cross (:func:`crossing_bracket`; the crossing itself is
located only when the heap reaches it). Because ``V`` is continuous (current-based synapses), a
spike can never cause another spike at the same instant, so the loop needs no special cases.

Ties are broken by node id; the record lists spikes in the order they were processed, which is
causal order.

Speed: a synaptic event costs one propagation (two transcendental calls) and a prediction that
ends at a cheap bound or at the closed-form peak value (two more); the crossing is located only
when due, and a sub-threshold maximum (for the degeneracy report) only once reached. The loop
lives in :func:`_event_loop`, whose arrays are never rebound and whose callees take scalars (or
are leaf functions): Numba then emits no reference counting (atomic increments) per event,
which otherwise costs about a third of the time.
"""

import math

import numpy as np

from .._numba import jit
from ._crossing import crossing_bracket, peak_time, peak_value, refine_crossing
from ._heap import heap_remove, heap_set
from ._propagator import advance, kernel_peak, log_rate_ratio

__all__ = ["STATUS_BUDGET", "STATUS_OK", "simulate_kernel"]

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
    theta,
    t_ref,
    out_ptr,
    out_post,
    out_w,
    in_node,
    in_time,
    in_index,
    t_max,
    max_spikes,
):
    """Simulate one problem.

    Args:
        n_inputs: ``M``; neuron ``i`` is node ``M + i``.
        a: ``1/tau_syn``; b, theta, t_ref: per-neuron ``1/tau_mem``, threshold, refractory period.
        out_ptr, out_post, out_w: outgoing synapses in CSR order by source node; ``out_post``
            holds neuron indices ``0..N-1``.
        in_node, in_time, in_index: input spikes sorted by ``(time, node)`` and each one's index
            in the flattened per-input spike list.
        t_max: horizon; spikes at ``t <= t_max`` are simulated.
        max_spikes: budget of neuron spikes.

    Returns:
        ``(ev_node, ev_time, ev_input, status, n_syn_events, degeneracy)`` with every spike in
        causal order (inputs included; ``ev_input`` is the flat input-spike index or -1) and
        ``degeneracy = (min_gap, gap_neuron, gap_time, min_slope, slope_neuron, slope_time)``.
    """
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
    for i in range(n):
        h_peak[i] = kernel_peak(a, b[i])
        if b[i] != a:
            log_ba[i] = log_rate_ratio(a, b[i])
    cap = max(n, 1)
    ht = np.empty(cap)
    hn = np.empty(cap, np.int64)
    pos = np.full(cap, -1, np.int64)

    ecap = in_time.shape[0] + 1024
    ev_node = np.empty(ecap, np.int64)
    ev_time = np.empty(ecap)
    ev_input = np.empty(ecap, np.int64)
    # Loop state that survives a pause of the event loop (when the record is full).
    fs = np.array([math.inf, math.nan, math.inf, math.nan])  # min_gap, gap_t, min_slope, slope_t
    ints = np.zeros(_N_INTS, np.int64)
    ints[_GAP_NEURON] = -1
    ints[_SLOPE_NEURON] = -1
    # The loop runs in its own function whose arrays are never rebound: Numba then does no
    # reference counting per event. It returns early only to let the record grow here.
    while not _event_loop(
        n_inputs,
        a,
        b,
        theta,
        t_ref,
        out_ptr,
        out_post,
        out_w,
        in_node,
        in_time,
        in_index,
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
        ht,
        hn,
        pos,
        ev_node,
        ev_time,
        ev_input,
        fs,
        ints,
    ):
        ecap *= 2
        ev_node = _grow_int(ev_node, ecap)
        ev_time = _grow_float(ev_time, ecap)
        ev_input = _grow_int(ev_input, ecap)
    status = ints[_STATUS]
    min_gap, gap_time, min_slope, slope_time = fs[0], fs[1], fs[2], fs[3]
    gap_neuron = ints[_GAP_NEURON]

    # Sub-threshold maxima of the last interval of each neuron, up to t_max.
    if status == STATUS_OK:
        for i in range(n):
            if kink_t[i] == t_upd[i]:
                gap = _kink_gap(v[i], j[i], b[i], theta[i])
                if gap < min_gap:
                    min_gap = gap
                    gap_neuron = i
                    gap_time = t_upd[i]
            if pk_kind[i] != _TRACK or t_max <= release[i]:
                continue
            top, when = _free_maximum(v[i], j[i], t_upd[i], t_max, release[i], a, b[i], log_ba[i])
            if 0.0 < top <= theta[i] and theta[i] - top < min_gap:
                min_gap = theta[i] - top
                gap_neuron = i
                gap_time = when

    n_ev = ints[_N_EV]
    degeneracy = (min_gap, gap_neuron, gap_time, min_slope, ints[_SLOPE_NEURON], slope_time)
    return ev_node[:n_ev], ev_time[:n_ev], ev_input[:n_ev], status, ints[_N_SYN], degeneracy


# Slots of the integer loop state.
_P_IN = 0
_N_EV = 1
_N_SPIKES = 2
_N_SYN = 3
_HSIZE = 4
_GAP_NEURON = 5
_SLOPE_NEURON = 6
_STATUS = 7
_N_INTS = 8


@jit
def _event_loop(
    n_inputs,
    a,
    b,
    theta,
    t_ref,
    out_ptr,
    out_post,
    out_w,
    in_node,
    in_time,
    in_index,
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
    ht,
    hn,
    pos,
    ev_node,
    ev_time,
    ev_input,
    fs,
    ints,
):
    """Process events until the end (returns True) or until the record is full (False).

    Sub-threshold maxima for the degeneracy report (only of neurons whose last prediction
    says the maximum may set a new smallest gap, ``pk_kind == _TRACK``): a free peak reached
    before the next input (``V`` rose after the last update and falls when the input arrives);
    or a kink, where inputs at ``t`` turn a rising ``V`` down. Whether
    they do is known once every input at ``t`` has arrived, so ``kink_t[i] = t`` marks a
    candidate, settled by :func:`_kink_gap` when the neuron is next touched at a later time
    (or at the end), from its state at ``t``, which by then includes all inputs at ``t``.
    """
    n_in = in_time.shape[0]
    ecap = ev_node.shape[0]
    p_in = ints[_P_IN]
    n_ev = ints[_N_EV]
    n_spikes = ints[_N_SPIKES]
    n_syn = ints[_N_SYN]
    hsize = ints[_HSIZE]
    gap_neuron = ints[_GAP_NEURON]
    slope_neuron = ints[_SLOPE_NEURON]
    status = ints[_STATUS]
    min_gap = fs[0]
    gap_time = fs[1]
    min_slope = fs[2]
    slope_time = fs[3]
    finished = True
    while True:
        if n_ev == ecap:
            finished = False
            break
        t_in = in_time[p_in] if p_in < n_in else math.inf
        t_nr = ht[0] if hsize > 0 else math.inf
        from_input = p_in < n_in and (
            t_in < t_nr or (t_in == t_nr and in_node[p_in] < n_inputs + hn[0])
        )
        if from_input:
            t = t_in
            node = in_node[p_in]
            input_idx = in_index[p_in]
            p_in += 1
        else:
            t = t_nr
            if not t <= t_max:
                break
            i = hn[0]
            if defer_s[i] > 0.0:  # a lower bound is due: locate the crossing now
                t_cross = _refine(t_upd[i], v[i], j[i], release[i], a, b[i], theta[i], defer_s[i])
                defer_s[i] = 0.0
                if t_cross <= t_max:
                    hsize = heap_set(ht, hn, pos, hsize, i, t_cross)
                else:
                    hsize = heap_remove(ht, hn, pos, hsize, i)
                continue
            node = n_inputs + i
            input_idx = -1
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
            vi, ji = advance(v[i], j[i], t_upd[i], t, release[i], a, b[i])
            slope = ji - b[i] * theta[i]
            if slope < min_slope:
                min_slope = slope
                slope_neuron = i
                slope_time = t
            v[i] = 0.0
            j[i] = ji
            t_upd[i] = t
            release[i] = t + t_ref[i]
            t_cross, pk_kind[i], defer_s[i] = _predict(
                t, 0.0, ji, release[i], a, b[i], theta[i], h_peak[i], log_ba[i], min_gap
            )
            if t_cross <= t_max:
                hsize = heap_set(ht, hn, pos, hsize, i, t_cross)
        if t > t_max:
            break
        ev_node[n_ev] = node
        ev_time[n_ev] = t
        ev_input[n_ev] = input_idx
        n_ev += 1

        for k in range(out_ptr[node], out_ptr[node + 1]):
            i = out_post[k]
            n_syn += 1
            rel = release[i]
            if rel >= t_max:
                continue  # refractory to the end: its state can no longer matter
            tu = t_upd[i]
            if kink_t[i] == tu and t > tu:
                gap = _kink_gap(v[i], j[i], b[i], theta[i])
                if gap < min_gap:
                    min_gap = gap
                    gap_neuron = i
                    gap_time = tu
                kink_t[i] = math.nan
            vi, ji = advance(v[i], j[i], tu, t, rel, a, b[i])
            if pk_kind[i] == _TRACK and t > rel:
                if ji - b[i] * vi > 0.0:  # V still rising: a kink if the inputs at t turn it down
                    kink_t[i] = t
                else:  # the free peak was reached before this input
                    top, when = _free_maximum(v[i], j[i], tu, t, rel, a, b[i], log_ba[i])
                    if 0.0 < top <= theta[i] and theta[i] - top < min_gap:
                        min_gap = theta[i] - top
                        gap_neuron = i
                        gap_time = when
            ji += out_w[k]
            v[i] = vi
            j[i] = ji
            t_upd[i] = t
            t_cross, pk_kind[i], defer_s[i] = _predict(
                t, vi, ji, rel, a, b[i], theta[i], h_peak[i], log_ba[i], min_gap
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
def _predict(t, v0, j0, rel, a, b, theta, h_peak, log_ba, min_gap):
    """Next crossing of a neuron whose state at ``t`` is ``(v0, j0)`` (``V`` held at 0 until
    ``rel`` if ``t < rel``): ``(t_key, peak_kind, s_defer)``.

    ``t_key`` is ``inf`` without a crossing. With one, either ``s_defer = 0`` and ``t_key`` is
    the crossing, or ``s_defer > 0``: ``t_key`` is a lower bound of the crossing, which lies
    before the maximum ``s_defer`` after the start, and is located by :func:`_refine` when the
    heap reaches it. ``peak_kind`` is ``_TRACK`` when ``V`` rises towards a maximum whose gap
    to threshold may be smaller than the smallest gap ``min_gap`` found so far (or crosses).
    """
    t_start, v0, j0 = _free_start(t, v0, j0, rel, a, b)
    s_low, s_pk, v_pk = crossing_bracket(v0, j0, a, b, theta, h_peak, log_ba)
    if s_low < math.inf:
        if s_pk == 0.0:
            return t_start, _TRACK, 0.0
        return t_start + s_low, _TRACK, s_pk
    if theta - v_pk >= min_gap:  # v_pk bounds the maximum (-inf: none ahead)
        return math.inf, _NONE, 0.0
    return math.inf, _TRACK, 0.0


@jit
def _refine(t, v0, j0, rel, a, b, theta, s_pk):
    """The crossing deferred by :func:`_predict` from the same state, to float64 precision."""
    t_start, v0, j0 = _free_start(t, v0, j0, rel, a, b)
    return t_start + refine_crossing(v0, j0, a, b, theta, s_pk, t_start)


@jit
def _free_maximum(v, j, t, t_end, rel, a, b, log_ba):
    """``(V*, t*)``: the maximum of ``V`` on ``(t, t_end]`` for the state ``(v, j)`` at ``t``
    (``V`` held at 0 until ``rel``), free of input, if ``V`` rises from the (free) start; the
    value at ``t_end`` if the maximum lies later. ``(-inf, nan)`` if ``V`` does not rise.

    Only maxima that are reached are located (:func:`_predict` merely notes that one may
    matter), with the propagator the root finder uses: they are few.
    """
    t0, v0, j0 = _free_start(t, v, j, rel, a, b)
    if not (j0 > 0.0 and j0 - b * v0 > 0.0):
        return -math.inf, math.nan
    s = peak_time(v0, j0, a, b, log_ba)
    if not t0 + s <= t_end:
        s = t_end - t0
    return peak_value(v0, j0, a, b, s), t0 + s


@jit
def _free_start(t, v0, j0, rel, a, b):
    """Where the free trajectory from ``(v0, j0)`` at ``t`` can start rising: ``(t, v0, j0)``,
    or the state at the release ``rel`` if the neuron is refractory until then."""
    if t < rel:
        v0, j0 = advance(v0, j0, t, rel, rel, a, b)
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

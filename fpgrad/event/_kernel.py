"""The event-driven simulation loop (Numba).

Events are input spikes (known in advance, merged in time order) and neuron spikes (predicted
crossings kept in a lazy heap). Processing a spike of node ``j`` at time ``t`` advances each
target's state exactly to ``t``, adds the synaptic weight to its current ``J`` and recomputes its
next crossing (:func:`next_crossing`). Because ``V`` is continuous (current-based synapses), a
spike can never cause another spike at the same instant, so the loop needs no special cases.

Ties are broken by node id; the record lists spikes in the order they were processed, which is
causal order.
"""

import math

import numpy as np

from .._numba import jit
from ._crossing import NO_PEAK, PEAK_BOUND_ONLY, next_crossing
from ._heap import heap_grow, heap_pop, heap_push
from ._propagator import advance, kernel_peak

__all__ = ["STATUS_BUDGET", "STATUS_OK", "simulate_kernel"]

STATUS_OK = 0
STATUS_BUDGET = 1

# Peak kinds kept per neuron for the degeneracy report.
_NONE = 0  # no maximum ahead, or provably not smaller than the gap already found
_EXACT = 1  # pk_t / pk_v: time and value of the maximum (or of the predicted crossing)


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
    version = np.zeros(n, np.int64)
    pk_kind = np.zeros(n, np.int8)
    pk_t = np.zeros(n)
    pk_v = np.zeros(n)
    h_peak = np.empty(n)
    for i in range(n):
        h_peak[i] = kernel_peak(a, b[i])

    cap = max(16, 2 * n)
    ht = np.empty(cap)
    hn = np.empty(cap, np.int64)
    hv = np.empty(cap, np.int64)
    hsize = 0

    n_in = in_time.shape[0]
    ecap = n_in + 1024
    ev_node = np.empty(ecap, np.int64)
    ev_time = np.empty(ecap)
    ev_input = np.empty(ecap, np.int64)
    n_ev = 0
    n_spikes = 0
    n_syn = 0
    status = STATUS_OK

    min_gap = math.inf
    gap_neuron = -1
    gap_time = math.nan
    min_slope = math.inf
    slope_neuron = -1
    slope_time = math.nan

    p_in = 0
    while True:
        # Drop stale predictions.
        while hsize > 0 and hv[0] != version[hn[0]]:
            hsize = heap_pop(ht, hn, hv, hsize)
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
            node = n_inputs + i
            input_idx = -1
            hsize = heap_pop(ht, hn, hv, hsize)
            n_spikes += 1
            if n_spikes > max_spikes:
                status = STATUS_BUDGET
                break
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
            pk_kind[i] = _NONE
            hsize = _predict(i, t, v, j, release, version, pk_kind, pk_t, pk_v, a, b, theta,
                             h_peak, min_gap, t_max, ht, hn, hv, hsize)
        if t > t_max:
            break
        if n_ev == ecap:
            ecap *= 2
            ev_node = _grow_int(ev_node, ecap)
            ev_time = _grow_float(ev_time, ecap)
            ev_input = _grow_int(ev_input, ecap)
        ev_node[n_ev] = node
        ev_time[n_ev] = t
        ev_input[n_ev] = input_idx
        n_ev += 1

        for k in range(out_ptr[node], out_ptr[node + 1]):
            i = out_post[k]
            n_syn += 1
            vi, ji = advance(v[i], j[i], t_upd[i], t, release[i], a, b[i])
            if pk_kind[i] == _EXACT and t > release[i]:
                # Largest V on the interval that ends here: the peak if it was reached,
                # otherwise V was still rising and the maximum is V(t-).
                top = pk_v[i] if pk_t[i] <= t else vi
                if top < theta[i] and theta[i] - top < min_gap:
                    min_gap = theta[i] - top
                    gap_neuron = i
                    gap_time = pk_t[i] if pk_t[i] <= t else t
            v[i] = vi
            j[i] = ji + out_w[k]
            t_upd[i] = t
            if hsize + 1 >= ht.shape[0]:
                ht, hn, hv = heap_grow(ht, hn, hv)
            hsize = _predict(i, t, v, j, release, version, pk_kind, pk_t, pk_v, a, b, theta,
                             h_peak, min_gap, t_max, ht, hn, hv, hsize)
        if hsize + 1 >= ht.shape[0]:
            ht, hn, hv = heap_grow(ht, hn, hv)

    # Sub-threshold maxima of the last interval of each neuron, up to t_max.
    if status == STATUS_OK:
        for i in range(n):
            if pk_kind[i] != _EXACT or t_max <= release[i]:
                continue
            if pk_t[i] <= t_max:
                top = pk_v[i]
                when = pk_t[i]
            else:
                top = advance(v[i], j[i], t_upd[i], t_max, release[i], a, b[i])[0]
                when = t_max
            if top < theta[i] and theta[i] - top < min_gap:
                min_gap = theta[i] - top
                gap_neuron = i
                gap_time = when

    degeneracy = (min_gap, gap_neuron, gap_time, min_slope, slope_neuron, slope_time)
    return ev_node[:n_ev], ev_time[:n_ev], ev_input[:n_ev], status, n_syn, degeneracy


@jit
def _predict(i, t, v, j, release, version, pk_kind, pk_t, pk_v, a, b, theta, h_peak, min_gap,
             t_max, ht, hn, hv, hsize):
    """Recompute neuron ``i``'s next crossing from its state at ``t``; push it if ``<= t_max``."""
    version[i] += 1
    t_start = t
    v0 = v[i]
    j0 = j[i]
    if t < release[i]:
        t_start = release[i]
        v0 = 0.0
        j0 = j0 * math.exp(-a * (release[i] - t))
    s_cross, s_pk, v_pk = next_crossing(v0, j0, a, b[i], theta[i], h_peak[i], min_gap, t_start)
    if s_cross < math.inf:
        pk_kind[i] = _EXACT
        pk_t[i] = t_start + s_cross
        pk_v[i] = theta[i]
        if t_start + s_cross <= t_max:
            hsize = heap_push(ht, hn, hv, hsize, t_start + s_cross, i, version[i])
    elif s_pk == NO_PEAK or s_pk == PEAK_BOUND_ONLY:
        pk_kind[i] = _NONE
    else:
        pk_kind[i] = _EXACT
        pk_t[i] = t_start + s_pk
        pk_v[i] = v_pk
    return hsize


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

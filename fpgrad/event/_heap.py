"""An indexed binary min-heap of predicted spikes keyed by ``(time, neuron)``, for Numba kernels.

Each neuron has at most one entry (its next predicted crossing); ``pos[i]`` is the slot of neuron
``i`` in the heap arrays ``(ht, hn)``, or -1 when it has none. A changed prediction moves the
entry in place (no stale entries, no growth: the capacity is the number of neurons), and a
neuron with no crossing before ``t_max`` is removed, so sub-threshold neurons cost nothing here.

The functions are leaves (they call no other function with array arguments): Numba then passes
the arrays without reference counting, which matters in the event loop.
"""

from .._numba import jit

__all__ = ["heap_remove", "heap_set", "queue_push", "queue_take_group"]


@jit
def heap_set(ht, hn, pos, size, node, t):
    """Give ``node`` the key ``t`` (inserting it if absent). Returns the new size."""
    k = pos[node]
    if k < 0:
        k = size
        size += 1
        up = True
    else:
        old = ht[k]
        up = t < old
        if t == old:
            return size
    if up:
        while k > 0:
            p = (k - 1) >> 1
            tp = ht[p]
            if t < tp or (t == tp and node < hn[p]):
                ht[k] = tp
                hn[k] = hn[p]
                pos[hn[k]] = k
                k = p
            else:
                break
    else:
        while True:
            c = 2 * k + 1
            if c >= size:
                break
            tc = ht[c]
            if c + 1 < size:
                t2 = ht[c + 1]
                if t2 < tc or (t2 == tc and hn[c + 1] < hn[c]):
                    c += 1
                    tc = t2
            if tc < t or (tc == t and hn[c] < node):
                ht[k] = tc
                hn[k] = hn[c]
                pos[hn[k]] = k
                k = c
            else:
                break
    ht[k] = t
    hn[k] = node
    pos[node] = k
    return size


@jit
def heap_remove(ht, hn, pos, size, node):
    """Remove ``node``'s entry if it has one (the minimum is ``hn[0]``). Returns the new size."""
    k = pos[node]
    if k < 0:
        return size
    pos[node] = -1
    size -= 1
    if k == size:
        return size
    # Refill slot k with the last entry, then sift it up or down.
    t = ht[size]
    last = hn[size]
    while k > 0:
        p = (k - 1) >> 1
        tp = ht[p]
        if t < tp or (t == tp and last < hn[p]):
            ht[k] = tp
            hn[k] = hn[p]
            pos[hn[k]] = k
            k = p
        else:
            break
    while True:
        c = 2 * k + 1
        if c >= size:
            break
        tc = ht[c]
        if c + 1 < size:
            t2 = ht[c + 1]
            if t2 < tc or (t2 == tc and hn[c + 1] < hn[c]):
                c += 1
                tc = t2
        if tc < t or (tc == t and hn[c] < last):
            ht[k] = tc
            hn[k] = hn[c]
            pos[hn[k]] = k
            k = c
        else:
            break
    ht[k] = t
    hn[k] = last
    pos[last] = k
    return size


# --- The queue of spikes in flight (synaptic delays) ------------------------------------------
#
# A spike whose source has synapses with a delay > 0 stays in this binary min-heap until its
# last arrival: one entry per spike in flight, keyed by ``(arrival time, record index)`` of its
# next arrival, with ``qp`` the CSR position of that arrival (the synapses of a source are sorted
# by delay, so the arrivals of a spike are consecutive positions). The replays of the gradient
# engines use it; the simulator uses a calendar queue with the same keys (:mod:`._arrivals`,
# faster: O(1) per arrival), so both process arrivals in the same order.


@jit
def queue_push(qt, qe, qp, size, t, e, p):
    """Insert the entry ``(t, e, p)``. Returns the new size (the caller ensures capacity)."""
    k = size
    while k > 0:
        parent = (k - 1) >> 1
        tp = qt[parent]
        if t < tp or (t == tp and e < qe[parent]):
            qt[k] = tp
            qe[k] = qe[parent]
            qp[k] = qp[parent]
            k = parent
        else:
            break
    qt[k] = t
    qe[k] = e
    qp[k] = p
    return size + 1


@jit
def queue_take_group(qt, qe, qp, size, ev_time, ev_node, out_ptr, out_d, t_max):
    """Take the top spike's arrivals at its next arrival time (a group of equal times: equal
    delays are consecutive positions) and give the entry its following arrival as the new, later
    key, or remove it when none is left before ``t_max``. Returns ``(t, e, p0, p1, size)``: the
    arrivals of record ``e`` at ``t`` through the CSR positions ``[p0, p1)``."""
    t_top = qt[0]
    src = qe[0]
    p0 = qp[0]
    t_src = ev_time[src]
    p_end = out_ptr[ev_node[src] + 1]
    p1 = p0 + 1
    while p1 < p_end and t_src + out_d[p1] == t_top:
        p1 += 1
    e = src
    if p1 < p_end and t_src + out_d[p1] <= t_max:  # the later key of the same entry
        t = t_src + out_d[p1]
        p = p1
    else:  # the last entry replaces the top
        size -= 1
        if size == 0:
            return t_top, src, p0, p1, 0
        t = qt[size]
        e = qe[size]
        p = qp[size]
    k = 0
    while True:
        child = 2 * k + 1
        if child >= size:
            break
        tc = qt[child]
        if child + 1 < size:
            t2 = qt[child + 1]
            if t2 < tc or (t2 == tc and qe[child + 1] < qe[child]):
                child += 1
                tc = t2
        if tc < t or (tc == t and qe[child] < e):
            qt[k] = tc
            qe[k] = qe[child]
            qp[k] = qp[child]
            k = child
        else:
            break
    qt[k] = t
    qe[k] = e
    qp[k] = p
    return t_top, src, p0, p1, size

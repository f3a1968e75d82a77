"""An indexed binary min-heap of predicted spikes keyed by ``(time, neuron)``, for Numba kernels.

Each neuron has at most one entry (its next predicted crossing); ``pos[i]`` is the slot of neuron
``i`` in the heap arrays ``(ht, hn)``, or -1 when it has none. A changed prediction moves the
entry in place (no stale entries, no growth: the capacity is the number of neurons), and a
neuron with no crossing before ``t_max`` is removed, so sub-threshold neurons cost nothing here.

The functions are leaves (they call no other function with array arguments): Numba then passes
the arrays without reference counting, which matters in the event loop.
"""

from .._numba import jit

__all__ = ["heap_remove", "heap_set"]


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

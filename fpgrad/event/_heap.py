"""A binary min-heap of predicted spikes keyed by ``(time, node)``, for Numba kernels.

Entries carry the neuron's prediction ``version``; when a neuron's prediction changes its version
is bumped and the old entry becomes stale (lazy deletion): the event loop drops stale entries as
they surface. Only finite crossings before ``t_max`` are pushed, so sub-threshold neurons cost
nothing here.
"""

import numpy as np

from .._numba import jit

__all__ = ["heap_grow", "heap_pop", "heap_push"]


@jit
def _less(ht, hn, i, j):
    return ht[i] < ht[j] or (ht[i] == ht[j] and hn[i] < hn[j])


@jit
def _swap(ht, hn, hv, i, j):
    ht[i], ht[j] = ht[j], ht[i]
    hn[i], hn[j] = hn[j], hn[i]
    hv[i], hv[j] = hv[j], hv[i]


@jit
def heap_push(ht, hn, hv, size, t, node, version):
    """Insert ``(t, node, version)``; the arrays must have room. Returns the new size."""
    i = size
    ht[i] = t
    hn[i] = node
    hv[i] = version
    while i > 0:
        parent = (i - 1) // 2
        if _less(ht, hn, i, parent):
            _swap(ht, hn, hv, i, parent)
            i = parent
        else:
            break
    return size + 1


@jit
def heap_pop(ht, hn, hv, size):
    """Remove the smallest entry (read it at index 0 first). Returns the new size."""
    size -= 1
    ht[0] = ht[size]
    hn[0] = hn[size]
    hv[0] = hv[size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        child = left
        if left + 1 < size and _less(ht, hn, left + 1, left):
            child = left + 1
        if _less(ht, hn, child, i):
            _swap(ht, hn, hv, i, child)
            i = child
        else:
            break
    return size


@jit
def heap_grow(ht, hn, hv):
    """Copies of the heap arrays with twice the capacity."""
    n = ht.shape[0]
    nt = np.empty(2 * n, np.float64)
    nn = np.empty(2 * n, np.int64)
    nv = np.empty(2 * n, np.int64)
    nt[:n] = ht
    nn[:n] = hn
    nv[:n] = hv
    return nt, nn, nv

"""The queue of spikes in flight (synaptic delays): a calendar queue of time buckets.

One entry per spike in flight ``(t, e, p)``: record row ``e`` whose next arrival reaches the
synapse at CSR position ``p`` at ``t = ev_time[e] + out_d[p]``. Arrivals are delivered in the
lexicographic order of ``(t, e, p)``; a *group*, the arrivals of one spike at one instant
(consecutive positions: a source's synapses are sorted by delay), at once, after which the entry
is re-queued at the spike's following arrival (or dropped after its last one before ``t_max``).
This is the order of the replays' binary heap (:func:`~._heap.queue_take_group`), whose keys are
the same ``(t, e)``; the buckets make a step O(1) on average instead of O(log spikes in flight).

Layout (the arrays of :func:`new_arrivals`):

* ``qs``, integer state (slots ``Q_*``); ``qw[0] = 1 / width`` of a bucket (0 until
  :func:`arrivals_setup`); absolute bucket of ``t``: ``B(t) = int(t / width)``, monotone in
  ``t``, so the bucket order agrees with the time order;
* a ring of ``NB`` buckets: the entries of bucket ``B`` form a linked list (``bhead``,
  ``btail`` of slot ``B & (NB - 1)``, -1 when empty; links ``pn``) of pool slots
  ``(pt, pe, pp)``; free slots form a list through ``pn`` from ``qs[Q_FREE]``, and slots
  ``>= qs[Q_TOP]`` were never used;
* the *current list* ``(lt, le, lp)[lh:ln]`` (``lh = qs[Q_LH]``, ``ln = qs[Q_LN]``), sorted by
  ``(t, e)`` (distinct keys).

Invariants while ``qs[Q_SIZE] > 0`` (the spikes in flight): the current list is not empty and
holds every entry with ``B <= qs[Q_CUR]``; the ring holds the others, with
``Q_CUR < B < Q_CUR + NB``. The queue's head is therefore ``lt[lh]``. An entry with
``B <= Q_CUR`` is inserted into the current list at its place; when the list empties, the next
non-empty bucket is moved into it and sorted (insertion sort for a few entries, heap sort
otherwise: no quadratic case, whatever the delays). The second bound holds because the time
``now`` of a push is at most the head's time, so ``B(now) <= Q_CUR`` and
``B(now + d) <= Q_CUR + 1 + d / width``, with ``width`` such that ``max(out_d) / width`` is
about ``NB / 2``. When the queue empties, ``Q_CUR`` restarts at the bucket of the next push.

The event loop takes the head group itself (:func:`~._kernel._event_loop`; the tests hold a
reference copy of that step, ``tests/test_arrivals.py``). Reference counting: Numba increfs and
decrefs the array arguments of a call where it cannot prune them (two atomic operations per
array per call: with ten arrays, more than the whole queue step), so the event loop inlines that
step for the common path (the next arrival goes to a later bucket) and calls only for the rare
steps (a new spike, an insertion into the current list, loading a bucket).

The working set is small (one entry per spike in flight, not per pending arrival) and stays in
cache. Capacity: the pool and the list have ``pt.shape[0]`` slots each; an event adds at most
one entry, so the event loop pauses to grow (:func:`arrivals_grow`) when all are taken.
Bucket indices need ``t / width < 2**62`` (``width >= 1e-6`` ms: ``t`` below about 4e12 ms).
"""

import numpy as np

from .._numba import jit

__all__ = [
    "NB",
    "arrivals_append",
    "arrivals_entries",
    "arrivals_grow",
    "arrivals_insert",
    "arrivals_load",
    "arrivals_push",
    "arrivals_remap",
    "arrivals_setup",
    "new_arrivals",
]

NB = 4096  # buckets in the ring (a power of two)
_MASK = NB - 1
MASK = _MASK
_SMALL = 32  # sort a bucket of at most this many entries by insertion

Q_SIZE = 0  # spikes in flight (entries)
Q_FPEAK = 1  # the most spikes in flight at once
Q_CUR = 2  # absolute bucket of the current list
Q_LH = 3  # the current list is lt[lh:ln]
Q_LN = 4
Q_TOP = 5  # pool slots >= top were never used
Q_FREE = 6  # head of the free list of pool slots (-1: none)
_Q_N = 7


@jit
def new_arrivals(cap):
    """An empty queue with ``cap`` slots: ``(qs, qw, bhead, btail, pt, pe, pp, pn, lt, le,
    lp)``."""
    cap = max(cap, 1)
    qs = np.zeros(_Q_N, np.int64)
    qs[Q_FREE] = -1
    return (
        qs, np.zeros(1), np.full(NB, -1, np.int64), np.full(NB, -1, np.int64),
        np.empty(cap), np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty(cap, np.int64),
        np.empty(cap), np.empty(cap, np.int64), np.empty(cap, np.int64),
    )  # fmt: skip


@jit
def arrivals_setup(qw, out_d):
    """Set the bucket width from the largest delay (once per run: the ring depends on it)."""
    if qw[0] == 0.0:
        max_d = 0.0
        for p in range(out_d.shape[0]):
            if out_d[p] > max_d:
                max_d = out_d[p]
        width = max(max_d / (NB // 2), 1e-6)  # B(t) stays far below 2**62 for t < 1e12 ms
        qw[0] = 1.0 / width


@jit
def arrivals_push(qs, bhead, btail, pt, pe, pp, pn, lt, le, lp, inv_w, t, e, p):
    """Queue the new spike of record row ``e``, its first delayed arrival at ``t`` through
    position ``p`` (the caller ensures a free slot)."""
    size = qs[Q_SIZE]
    if size == 0:  # restart at the bucket of this arrival
        qs[Q_CUR] = int(t * inv_w)
        qs[Q_LH] = 0
        qs[Q_LN] = 0
    qs[Q_SIZE] = size + 1
    if size + 1 > qs[Q_FPEAK]:
        qs[Q_FPEAK] = size + 1
    bk = int(t * inv_w)
    if bk <= qs[Q_CUR]:
        arrivals_insert(qs, lt, le, lp, t, e, p)
    else:
        arrivals_append(qs, bhead, btail, pt, pe, pp, pn, t, e, p, bk)


@jit
def arrivals_append(qs, bhead, btail, pt, pe, pp, pn, t, e, p, bk):
    """Append the entry ``(t, e, p)`` to the list of its bucket ``bk > qs[Q_CUR]`` (the event
    loop has its own copy of this code: a call there would cost reference counting)."""
    k = qs[Q_FREE]
    if k >= 0:
        qs[Q_FREE] = pn[k]
    else:
        k = qs[Q_TOP]
        qs[Q_TOP] = k + 1
    pt[k] = t
    pe[k] = e
    pp[k] = p
    pn[k] = -1
    s = bk & _MASK
    if bhead[s] < 0:
        bhead[s] = k
    else:
        pn[btail[s]] = k
    btail[s] = k


@jit
def arrivals_insert(qs, lt, le, lp, t, e, p):
    """Insert the entry ``(t, e, p)`` (bucket ``<= qs[Q_CUR]``) into the current list at its
    ``(t, e)`` place."""
    lh = qs[Q_LH]
    ln = qs[Q_LN]
    if lh > 0 and (lh == ln or t < lt[lh] or (t == lt[lh] and e < le[lh])):
        lh -= 1  # the new head: no shift
        lt[lh] = t
        le[lh] = e
        lp[lh] = p
        qs[Q_LH] = lh
        return
    if ln == lt.shape[0]:  # no room at the end: move the list to the front
        for k in range(lh, ln):
            lt[k - lh] = lt[k]
            le[k - lh] = le[k]
            lp[k - lh] = lp[k]
        ln -= lh
        lh = 0
        qs[Q_LH] = 0
    k = ln
    while k > lh and (lt[k - 1] > t or (lt[k - 1] == t and le[k - 1] > e)):
        lt[k] = lt[k - 1]
        le[k] = le[k - 1]
        lp[k] = lp[k - 1]
        k -= 1
    lt[k] = t
    le[k] = e
    lp[k] = p
    qs[Q_LN] = ln + 1


@jit
def arrivals_load(qs, bhead, btail, pt, pe, pp, pn, lt, le, lp):
    """The current list is empty and entries remain: move the next non-empty bucket into it,
    sorted by ``(t, e)``."""
    cur = qs[Q_CUR] + 1
    while bhead[cur & _MASK] < 0:
        cur += 1
    s = cur & _MASK
    k = bhead[s]
    m = 0
    while k >= 0:
        lt[m] = pt[k]
        le[m] = pe[k]
        lp[m] = pp[k]
        m += 1
        k = pn[k]
    pn[btail[s]] = qs[Q_FREE]  # the bucket's slots join the free list
    qs[Q_FREE] = bhead[s]
    bhead[s] = -1
    qs[Q_CUR] = cur
    qs[Q_LH] = 0
    qs[Q_LN] = m
    if m <= _SMALL:
        for i in range(1, m):
            ti = lt[i]
            ei = le[i]
            if not (lt[i - 1] > ti or (lt[i - 1] == ti and le[i - 1] > ei)):
                continue
            xi = lp[i]
            k = i
            while k > 0 and (lt[k - 1] > ti or (lt[k - 1] == ti and le[k - 1] > ei)):
                lt[k] = lt[k - 1]
                le[k] = le[k - 1]
                lp[k] = lp[k - 1]
                k -= 1
            lt[k] = ti
            le[k] = ei
            lp[k] = xi
        return
    # A heap sort by (t, e) (distinct keys: one entry per spike): no quadratic case.
    n = m
    start = m // 2
    while True:
        if start > 0:  # building the heap
            start -= 1
            k = start
        else:  # moving the largest to the end
            n -= 1
            if n == 0:
                break
            lt[0], lt[n] = lt[n], lt[0]
            le[0], le[n] = le[n], le[0]
            lp[0], lp[n] = lp[n], lp[0]
            k = 0
        ti = lt[k]
        ei = le[k]
        xi = lp[k]
        while True:
            c = 2 * k + 1
            if c >= n:
                break
            if c + 1 < n and (lt[c] < lt[c + 1] or (lt[c] == lt[c + 1] and le[c] < le[c + 1])):
                c += 1
            if not (ti < lt[c] or (ti == lt[c] and ei < le[c])):
                break
            lt[k] = lt[c]
            le[k] = le[c]
            lp[k] = lp[c]
            k = c
        lt[k] = ti
        le[k] = ei
        lp[k] = xi


@jit
def arrivals_grow(pt, pe, pp, pn, lt, le, lp, cap):
    """The pool and list arrays with ``cap`` slots (contents kept)."""
    return (_grow(pt, cap), _grow(pe, cap), _grow(pp, cap), _grow(pn, cap), _grow(lt, cap),
            _grow(le, cap), _grow(lp, cap))  # fmt: skip


@jit
def arrivals_entries(qs, bhead, pt, pe, pp, pn, lt, le, lp):
    """Every spike in flight ``(t, e, p)``: its next arrival (current list, then the ring)."""
    size = qs[Q_SIZE]
    t = np.empty(size)
    e = np.empty(size, np.int64)
    p = np.empty(size, np.int64)
    u = 0
    if size > 0:
        for k in range(qs[Q_LH], qs[Q_LN]):
            t[u] = lt[k]
            e[u] = le[k]
            p[u] = lp[k]
            u += 1
    for s in range(NB):
        k = bhead[s]
        while k >= 0:
            t[u] = pt[k]
            e[u] = pe[k]
            p[u] = pp[k]
            u += 1
            k = pn[k]
    return t, e, p


@jit
def arrivals_remap(qs, bhead, pe, pn, le, new_index):
    """Replace each entry's row ``e`` by ``new_index[e]`` (an increasing map)."""
    if qs[Q_SIZE] == 0:
        return
    for k in range(qs[Q_LH], qs[Q_LN]):
        le[k] = new_index[le[k]]
    for s in range(NB):
        k = bhead[s]
        while k >= 0:
            pe[k] = new_index[pe[k]]
            k = pn[k]


@jit
def _grow(arr, cap):
    out = np.empty(cap, arr.dtype)
    out[: arr.shape[0]] = arr
    return out

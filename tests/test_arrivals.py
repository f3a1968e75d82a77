"""The calendar queue of spikes in flight (``fpgrad.event._arrivals``) delivers the groups of
arrivals in the order of the replays' binary heap (``fpgrad.event._heap``), whatever the delays:
ties in time, equal delays, delays far below a bucket's width, crowded buckets (heap sort)."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from fpgrad.event._arrivals import (
    Q_CUR,
    Q_FPEAK,
    Q_LH,
    Q_LN,
    Q_SIZE,
    arrivals_append,
    arrivals_grow,
    arrivals_insert,
    arrivals_load,
    arrivals_push,
    arrivals_setup,
    new_arrivals,
)
from fpgrad.event._heap import queue_push, queue_take_group


@numba.njit(cache=True)
def arrivals_take(qs, bhead, btail, pt, pe, pp, pn, lt, le, lp, inv_w, ev_time, ev_node, out_ptr,
                  out_d, t_max):  # fmt: skip
    """Take the head group (the queue is not empty) and re-queue its spike at its following
    arrival, if any at ``<= t_max``: ``(t, e, p0, p1)``, the arrivals of record row ``e`` at
    ``t`` through positions ``[p0, p1)``. The event loop inlines this code (a call per arrival
    would cost reference counting); this copy is the tests' reference of that step."""
    lh = qs[Q_LH]
    t = lt[lh]
    e = le[lh]
    p0 = lp[lh]
    qs[Q_LH] = lh + 1
    t_src = ev_time[e]
    p_end = out_ptr[ev_node[e] + 1]
    p1 = p0 + 1
    while p1 < p_end and t_src + out_d[p1] == t:
        p1 += 1
    if p1 < p_end and t_src + out_d[p1] <= t_max:
        t_next = t_src + out_d[p1]
        bk = int(t_next * inv_w)
        if bk > qs[Q_CUR]:
            arrivals_append(qs, bhead, btail, pt, pe, pp, pn, t_next, e, p1, bk)
        else:
            arrivals_insert(qs, lt, le, lp, t_next, e, p1)
    else:
        qs[Q_SIZE] -= 1
    if qs[Q_LH] == qs[Q_LN] and qs[Q_SIZE] > 0:
        arrivals_load(qs, bhead, btail, pt, pe, pp, pn, lt, le, lp)
    return t, e, p0, p1


@numba.njit
def _both_orders(ev_node, ev_time, out_ptr, out_zend, out_d, t_max, cap):
    """Feed the spikes of a record (in time order) to both queues, taking every group due
    before each spike (``<= t``); returns each queue's groups ``(t, e, p0, p1)`` and the peak."""
    q = new_arrivals(cap)
    qs, qw, bhead, btail, pt, pe, pp, pn, lt, le, lp = q
    arrivals_setup(qw, out_d)
    inv = qw[0]
    n = ev_node.shape[0]
    ht = np.empty(n)
    he = np.empty(n, np.int64)
    hp = np.empty(n, np.int64)
    hsize = 0
    bound = out_d.shape[0] * n + 1
    got = np.empty((bound, 4))
    want = np.empty((bound, 4))
    u = 0
    w = 0
    for r in range(n + 1):
        t = ev_time[r] if r < n else np.inf
        while qs[Q_SIZE] > 0 and lt[qs[Q_LH]] <= t:
            g = arrivals_take(
                qs,
                bhead,
                btail,
                pt,
                pe,
                pp,
                pn,
                lt,
                le,
                lp,
                inv,
                ev_time,
                ev_node,
                out_ptr,
                out_d,
                t_max,
            )
            got[u, 0], got[u, 1], got[u, 2], got[u, 3] = g
            u += 1
        while hsize > 0 and ht[0] <= t:
            tt, e, p0, p1, hsize = queue_take_group(
                ht, he, hp, hsize, ev_time, ev_node, out_ptr, out_d, t_max
            )
            want[w, 0], want[w, 1], want[w, 2], want[w, 3] = tt, e, p0, p1
            w += 1
        if r == n:
            break
        node = ev_node[r]
        z = out_zend[node]
        if z < out_ptr[node + 1] and t + out_d[z] <= t_max:
            if qs[Q_SIZE] == pt.shape[0]:
                pt, pe, pp, pn, lt, le, lp = arrivals_grow(
                    pt, pe, pp, pn, lt, le, lp, 2 * pt.shape[0]
                )
            arrivals_push(qs, bhead, btail, pt, pe, pp, pn, lt, le, lp, inv, t + out_d[z], r, z)
            hsize = queue_push(ht, he, hp, hsize, t + out_d[z], r, z)
    return got[:u], want[:w], qs[Q_FPEAK]


def _network(rng, n_nodes, fan, delays):
    """CSR synapses sorted by delay within a source, ``delays(size)`` drawing them."""
    counts = rng.integers(0, fan + 1, n_nodes)
    out_ptr = np.zeros(n_nodes + 1, np.int64)
    np.cumsum(counts, out=out_ptr[1:])
    out_d = np.empty(out_ptr[-1])
    out_zend = np.empty(n_nodes, np.int64)
    for node in range(n_nodes):
        d = np.sort(delays(counts[node]))
        out_d[out_ptr[node] : out_ptr[node + 1]] = d
        out_zend[node] = out_ptr[node] + np.count_nonzero(d == 0)
    return out_ptr, out_zend, out_d


DELAYS = {
    "uniform": lambda rng: lambda k: rng.uniform(0.0, 10.0, k),
    "equal": lambda rng: lambda k: np.full(k, 1.5),
    "grid with zeros": lambda rng: lambda k: rng.integers(0, 4, k) * 0.5,
    "tiny and large": lambda rng: (
        lambda k: np.where(rng.random(k) < 0.5, rng.uniform(0, 1e-9, k), rng.uniform(0, 10.0, k))
    ),
}


@pytest.mark.parametrize("kind", sorted(DELAYS))
@pytest.mark.parametrize("grid_times", [False, True])
def test_same_order_as_the_heap(kind, grid_times):
    rng = np.random.default_rng(len(kind) + 7 * grid_times)
    n_nodes, n_spikes, t_max = 60, 3000, 300.0
    out_ptr, out_zend, out_d = _network(rng, n_nodes, 12, DELAYS[kind](rng))
    if grid_times:  # many spikes at one instant: ties in time, crowded buckets
        ev_time = np.sort(rng.integers(0, 40, n_spikes) * 5.0)
    else:
        ev_time = np.sort(rng.uniform(0, t_max, n_spikes))
    ev_node = rng.integers(0, n_nodes, n_spikes).astype(np.int64)
    got, want, peak = _both_orders(ev_node, ev_time, out_ptr, out_zend, out_d, t_max, 4)
    assert want.shape[0] > 100
    np.testing.assert_array_equal(got, want)
    assert peak > 4  # the pool grew

"""The order in which the simulator touched neurons, rebuilt from its record (for the replays).

The gradient engines replay a simulation touch by touch: each neuron spike resets its neuron
(an *own* touch), each arrival of a spike through a synapse updates the target (an *arrival*
touch). Without delays the order is the record's: a spike, then its arrivals in CSR order.
With delays the arrivals of spikes in flight interleave with later spikes; this module rebuilds
that interleaving with a binary heap (:func:`~._heap.queue_push`) keyed like the simulator's
calendar queue (:mod:`._arrivals`), which yields the same order, and with its rules
(docs/model.md §1, "Simultaneous events"; :mod:`._kernel`):

* before an input spike at ``t``, the queued arrivals at times ``< t``;
* before a threshold crossing at ``t``, those at times ``<= t`` (arrivals before crossings);
* before the spike of a delta-synapse neuron fired by an arrival, the queued arrivals up to
  and including the group that holds that arrival (it fires right after that group).

Arrivals after the last spike of the record are left out: no spike depends on them.

Each touch is ``(touch_e[u], touch_p[u])``: the record row of the spike and the CSR position of
the synapse, or ``-1`` for the own touch of a neuron spike. Memory: 16 bytes per touch.
"""

import math

import numpy as np

from .._numba import jit
from ._heap import queue_push, queue_take_group

__all__ = ["touch_schedule", "touch_schedule_piece"]


@jit
def touch_schedule(n_inputs, out_ptr, out_zend, out_d, ev_node, ev_time, ev_cause_e, ev_cause_p,
                   t_max):  # fmt: skip
    """``(touch_e, touch_p)``: every touch of the simulation of this record, in the simulator's
    order (module docstring)."""
    return touch_schedule_piece(n_inputs, out_ptr, out_zend, out_d, ev_node, ev_time, ev_cause_e,
                                ev_cause_p, t_max, 0, np.empty(0), np.empty(0, np.int64),
                                np.empty(0, np.int64), np.empty(0, np.int64),
                                -math.inf)  # fmt: skip


@jit
def touch_schedule_piece(n_inputs, out_ptr, out_zend, out_d, ev_node, ev_time, ev_cause_e,
                         ev_cause_p, t_max, n_carried, q_t, q_e, q_p, cursor0,
                         t_drain):  # fmt: skip
    """The touches of one piece of a simulation run in pieces (:mod:`._stream`): rows
    ``[0, n_carried)`` were replayed before (``cursor0`` is the next undelivered CSR position of
    each), ``(q_t, q_e, q_p)`` the queue of spikes in flight when the piece began; after the last
    row, the queued arrivals up to ``t_drain`` (the stop time of the piece, ``-inf`` for none)."""
    n_ev = ev_node.shape[0]
    bound = 0
    for e in range(n_carried):
        bound += out_ptr[ev_node[e] + 1] - cursor0[e]
    for e in range(n_carried, n_ev):
        node = ev_node[e]
        bound += out_ptr[node + 1] - out_ptr[node] + (1 if node >= n_inputs else 0)
    touch_e = np.empty(bound, np.int64)
    touch_p = np.empty(bound, np.int64)
    cursor = np.empty(n_ev, np.int64)  # next undelivered CSR position of each spike
    cursor[:n_carried] = cursor0
    qsize = q_t.shape[0]
    qcap = max(16, 2 * qsize)
    qt = np.empty(qcap)
    qe = np.empty(qcap, np.int64)
    qp = np.empty(qcap, np.int64)
    qt[:qsize] = q_t
    qe[:qsize] = q_e
    qp[:qsize] = q_p
    u = 0
    for r in range(n_carried, n_ev + 1):
        if r == n_ev:  # after the last row: the arrivals delivered before the stop
            node = -1
            t = t_drain
            ce = -1
        else:
            node = ev_node[r]
            t = ev_time[r]
            ce = ev_cause_e[r]
        while qsize > 0:
            if ce >= 0:  # fired by an arrival: deliver up to the group that holds it
                if cursor[ce] > ev_cause_p[r]:
                    break
            elif qt[0] > t or (qt[0] == t and 0 <= node < n_inputs):
                break
            _, src, p0, p1, qsize = queue_take_group(
                qt, qe, qp, qsize, ev_time, ev_node, out_ptr, out_d, t_max
            )
            cursor[src] = p1
            for p in range(p0, p1):
                touch_e[u] = src
                touch_p[u] = p
                u += 1
        if r == n_ev:
            break
        if node >= n_inputs:
            touch_e[u] = r
            touch_p[u] = -1
            u += 1
        z_end = out_zend[node]
        for p in range(out_ptr[node], z_end):
            touch_e[u] = r
            touch_p[u] = p
            u += 1
        cursor[r] = z_end
        if z_end < out_ptr[node + 1] and t + out_d[z_end] <= t_max:
            if qsize == qcap:
                qcap *= 2
                qt = _grow(qt, qcap)
                qe = _grow(qe, qcap)
                qp = _grow(qp, qcap)
            qsize = queue_push(qt, qe, qp, qsize, t + out_d[z_end], r, z_end)
        else:
            cursor[r] = out_ptr[node + 1]
    return touch_e[:u], touch_p[:u]


@jit
def _grow(arr, cap):
    out = np.empty(cap, arr.dtype)
    out[: arr.shape[0]] = arr
    return out

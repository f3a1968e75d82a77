"""Simulation in consecutive pieces with bounded memory: a resumable run and the public stream.

:class:`ResumableRun` holds the whole state of the event loop (:mod:`._kernel`) between calls:
neuron states, the heap of predicted crossings, the queue of spikes in flight and a record of
bounded capacity. :meth:`ResumableRun.advance` processes events up to a stop time, or until the
record is full; :meth:`ResumableRun.compact` then drops every record row that no later event
can refer to. The rows kept are the spikes still in flight (their arrivals are pending) and the
spikes whose arrival lifted a delta-synapse neuron that has not fired yet; they move to the
front in their order, so the queue's tie rule (by record index) and hence the order of every
event is that of the one-shot run: a run in pieces is the one-shot run, bit for bit.

:class:`SimulationStream` feeds input spikes window by window and returns each window's output
spikes; the online forward engine (:mod:`fpgrad.grad._online`) runs its tangent pass on each
piece of record before it is compacted.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._problem import Network, ProblemError
from ._arrivals import Q_FPEAK, arrivals_entries, arrivals_remap
from ._kernel import (
    _N_EV,
    _N_SPIKES,
    _N_SYN,
    _P_IN,
    _STATUS,
    STATUS_BUDGET,
    advance_kernel,
    finish_kernel,
    new_state,
)
from ._result import Degeneracy
from ._simulate import (
    DEFAULT_MAX_SPIKES,
    CompiledNetwork,
    RunawayActivityError,
    _check_budget,
    compile_network,
    kernel_degeneracy,
)

__all__ = ["ResumableRun", "SimulationStream", "StreamWindow"]

#: The horizon of a stream without one: predictions are never cut.
NO_HORIZON = sys.float_info.max


@dataclass(frozen=True)
class RecordPiece:
    """The record of one call of :meth:`ResumableRun.advance`, for a replay.

    Rows ``[0, n_carried)`` were recorded (and replayed) before; rows ``n_carried..`` are new.
    ``queue`` is the queue of spikes in flight ``(time, row, CSR position)`` when the piece
    began and ``cursor[r]`` the next undelivered CSR position of each carried row. ``t_drain``
    is the time up to which the simulator delivered queued arrivals after the last row (the
    stop time, or ``-inf`` when the piece ended because the record was full).
    """

    node: NDArray[np.int64]
    time: NDArray[np.float64]
    input: NDArray[np.int64]
    cause_e: NDArray[np.int64]
    cause_p: NDArray[np.int64]
    n_carried: int
    queue: tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]
    cursor: NDArray[np.int64]
    t_drain: float


class ResumableRun:
    """The event loop's state between calls (module docstring).

    ``capacity`` bounds the record (rows), or ``None`` lets it grow within one call.
    """

    def __init__(self, net: CompiledNetwork, t_max: float, capacity: int | None = None):
        self.net = net
        self.t_max = float(t_max)
        self.grow = capacity is None
        state = new_state(
            net.a, net.b, net.c, net.v_reset, net.delta, net.theta, self.t_max, capacity or 1024
        )
        self.neurons = state[:19]  # v .. ints (new_state's order)
        self.record = state[19:24]
        self.queue = state[24:]
        self.ints = state[18]
        self.fs = state[17]
        self.n_carried = 0
        self._start_queue = self._queue_snapshot()
        self._cursor = np.empty(0, np.int64)

    @property
    def n_rows(self) -> int:
        return int(self.ints[_N_EV])

    @property
    def n_spikes(self) -> int:
        return int(self.ints[_N_SPIKES])

    @property
    def n_synaptic_events(self) -> int:
        return int(self.ints[_N_SYN])

    @property
    def max_in_flight(self) -> int:
        return int(self.queue[0][Q_FPEAK])

    @property
    def nbytes(self) -> int:
        return sum(arr.nbytes for arr in (*self.neurons, *self.record, *self.queue))

    def advance(
        self,
        inputs: tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]],
        t_stop: float,
        spike_limit: int,
    ) -> bool:
        """Process events up to ``t_stop`` from the inputs ``(node, time, index)`` (sorted by
        time, node; call :meth:`new_inputs` before the first call with new ones); stops early
        (returns False) when the record is full. Raises :class:`RunawayActivityError` past
        ``spike_limit`` neuron spikes in all."""
        net = self.net
        *record, pt, pe, pp, pn, lt, le, lp, done = advance_kernel(
            *net.simulation_args, *inputs, t_stop, self.t_max, spike_limit, self.grow,
            *self.neurons[:17], *self.record, *self.queue, self.fs, self.ints,
        )  # fmt: skip
        self.record = tuple(record)
        self.queue = (*self.queue[:4], pt, pe, pp, pn, lt, le, lp)
        if self.ints[_STATUS] == STATUS_BUDGET:
            raise RunawayActivityError(
                f"runaway activity: more than {spike_limit} neuron spikes before "
                f"t={self.record[1][self.n_rows - 1] if self.n_rows else 0.0:.6g} ms; check "
                "the weights (strong recurrent excitation?) or raise max_spikes"
            )
        return bool(done)

    def new_inputs(self) -> None:
        """The next :meth:`advance` reads a new input array from its start."""
        self.ints[_P_IN] = 0

    def piece(self, t_drain: float) -> RecordPiece:
        """The record since the last :meth:`compact` (see :class:`RecordPiece`)."""
        n = self.n_rows
        node, time, inp, ce, cp = (arr[:n] for arr in self.record)
        return RecordPiece(node, time, inp, ce, cp, self.n_carried, self._start_queue,
                           self._cursor, t_drain)  # fmt: skip

    def compact(self) -> NDArray[np.int64]:
        """Drop the rows no later event refers to (module docstring); returns the kept rows'
        old indices (ascending), which become rows ``0..k-1``."""
        n = self.n_rows
        qs, _, bhead, _, _, pe, _, pn, _, le, _ = self.queue
        in_fifo, cause_e = self.neurons[14], self.neurons[15]
        waiting = np.flatnonzero(in_fifo)  # delta neurons lifted to fire at the current instant
        _, pending_e, _ = self._in_flight()
        keep = np.union1d(pending_e, cause_e[waiting]).astype(np.int64)
        new_index = np.full(n, -1, np.int64)
        new_index[keep] = np.arange(keep.size)
        for arr in self.record:
            arr[: keep.size] = arr[keep]
        self.record[3][: keep.size] = -1  # carried rows are never replayed again
        self.record[4][: keep.size] = -1
        arrivals_remap(qs, bhead, pe, pn, le, new_index)
        cause_e[waiting] = new_index[cause_e[waiting]]
        self.ints[_N_EV] = keep.size
        self.n_carried = int(keep.size)
        cap = self.record[0].shape[0]
        if 2 * keep.size > cap:  # room for new rows: the spikes in flight alone may fill it
            self.record = tuple(_grown(arr, 2 * cap) for arr in self.record)
        self._start_queue = self._queue_snapshot()
        # A kept row not in the queue has delivered every arrival (it waits as a cause only).
        node = self.record[0][: keep.size]
        cursor = self.net.out_ptr[node + 1].copy()
        _, qe, qp = self._start_queue
        cursor[qe] = qp
        self._cursor = cursor
        return keep

    def _in_flight(self) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]:
        """Every spike in flight: ``(time, row, CSR position)`` of its next arrival."""
        qs, _, bhead, _, pt, pe, pp, pn, lt, le, lp = self.queue
        return arrivals_entries(qs, bhead, pt, pe, pp, pn, lt, le, lp)

    def _queue_snapshot(self):
        """The spikes in flight as the replays' heap (:mod:`._schedule`), sorted by ``(time,
        row)`` (a sorted array is a binary min-heap)."""
        t, e, p = self._in_flight()
        order = np.lexsort((e, t))
        return t[order], e[order], p[order]

    def degeneracy(self, t_end: float) -> Degeneracy:
        """The degeneracy report of the run so far, ending at ``t_end``."""
        net = self.net
        v, j, t_upd, release, pk_kind, _, kink_t, _, log_ba, general = self.neurons[:10]
        deg = finish_kernel(net.a, net.b, net.c, net.v_reset, net.delta, net.theta, v, j, t_upd,
                            release, pk_kind, kink_t, log_ba, general, t_end, self.fs,
                            self.ints)  # fmt: skip
        return kernel_degeneracy(deg, net.n_inputs)


@dataclass(frozen=True, eq=False)
class StreamWindow:
    """The output of one window ``(t_start, t_end]`` of a :class:`SimulationStream` (the first
    window starts at 0 inclusive): its neuron spikes sorted by time then node id (global ids),
    and its synaptic events."""

    t_start: float
    t_end: float
    spike_node: NDArray[np.int64]
    spike_time: NDArray[np.float64]
    n_synaptic_events: int

    @property
    def n_spikes(self) -> int:
        return int(self.spike_node.shape[0])


class SimulationStream:
    """Simulate ``network`` window by window with the state carried across windows.

    Each :meth:`feed` takes the input spikes of the next window ``(t, until]`` (``[0, until]``
    for the first) and returns that window's output spikes. Memory is bounded by the network,
    the spikes in flight and one window's spikes (the record is compacted after each window),
    not by the length of the stream. With ``t_max`` set, the windows must end by ``t_max`` and
    a stream whose windows reach ``t_max`` gives the spikes of ``simulate(Problem(network,
    inputs, t_max))`` bit for bit (the same events in the same order); ``t_max=None`` is an
    open-ended stream.

    Args:
        network: the network.
        t_max: the horizon (ms), or ``None`` for none.
        max_spikes: the budget of neuron spikes *per window* (runaway activity raises
            :class:`~fpgrad.RunawayActivityError`).
    """

    def __init__(
        self,
        network: Network,
        *,
        t_max: float | None = None,
        max_spikes: int = DEFAULT_MAX_SPIKES,
        _capacity: int | None = None,
    ):
        if not isinstance(network, Network):
            raise ProblemError(f"network: expected a Network, got {type(network).__name__}")
        if t_max is None:
            horizon = NO_HORIZON
        else:
            horizon = _positive_time("t_max", t_max)
        self.network = network
        self.t_max = None if t_max is None else horizon
        self.max_spikes = _check_budget(max_spikes)
        self._run = ResumableRun(compile_network(network), horizon, _capacity)
        self._time = 0.0
        self._started = False
        self._n_fed = 0

    @property
    def time(self) -> float:
        """The end of the last window (0 before the first)."""
        return self._time

    @property
    def max_in_flight(self) -> int:
        """The most spikes in flight at once so far (synaptic delays)."""
        return self._run.max_in_flight

    @property
    def nbytes(self) -> int:
        """Bytes held by the stream's arrays between windows (neuron states, predicted
        crossings, the queue of spikes in flight, the record): what it keeps, whatever the
        length of the stream so far."""
        return self._run.nbytes

    def feed(self, inputs: Sequence[ArrayLike], until: float) -> StreamWindow:
        """Simulate the next window, up to ``until`` (ms), with its input spikes: one train per
        input node, every spike in ``(time, until]`` (``[0, until]`` in the first window)."""
        until = _positive_time("until", until)
        if until <= self._time and self._started:
            raise ProblemError(f"until = {until!r} must be later than the last window's end "
                               f"{self._time!r}")  # fmt: skip
        if self.t_max is not None and until > self.t_max:
            raise ProblemError(f"until = {until!r} is past the stream's t_max = {self.t_max!r}")
        node, time, index = _window_inputs(
            self.network.n_inputs, inputs, self._time, until, first=not self._started
        )
        index += self._n_fed
        self._n_fed += index.size
        return self._advance_window(node, time, index, until)

    def _advance_window(
        self, node: NDArray[np.int64], time: NDArray[np.float64], index: NDArray[np.int64],
        until: float,
    ) -> StreamWindow:  # fmt: skip
        """:meth:`feed` on validated, merged inputs (sorted by time, node)."""
        run = self._run
        run.new_inputs()
        events_before = run.n_synaptic_events
        budget = run.n_spikes + self.max_spikes
        out_node, out_time = [], []
        done = False
        while not done:
            done = run.advance((node, time, index), until, budget)
            piece = run.piece(until if done else -math.inf)
            self._on_piece(piece)
            new = slice(piece.n_carried, None)
            neuron = piece.input[new] < 0
            out_node.append(piece.node[new][neuron])
            out_time.append(piece.time[new][neuron])
            self._on_compact(run.compact())
        out_node, out_time = np.concatenate(out_node), np.concatenate(out_time)
        order = np.lexsort((out_node, out_time))
        window = StreamWindow(self._time, until, out_node[order], out_time[order],
                              run.n_synaptic_events - events_before)  # fmt: skip
        self._time = until
        self._started = True
        return window

    def _on_piece(self, piece: RecordPiece) -> None:
        """Called with each piece of record before it is compacted (for subclasses)."""

    def _on_compact(self, keep: NDArray[np.int64]) -> None:
        """Called after each compaction with the kept rows' old indices (for subclasses)."""

    def degeneracy(self) -> Degeneracy:
        """The degeneracy report of the stream so far (up to :attr:`time`)."""
        return self._run.degeneracy(self._time)


def _grown(arr: NDArray, cap: int) -> NDArray:
    out = np.empty(cap, arr.dtype)
    out[: arr.shape[0]] = arr
    return out


def _positive_time(name: str, value: float) -> float:
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise ProblemError(f"{name} = {value!r}: expected a number of ms") from None
    if not math.isfinite(t) or t <= 0:
        raise ProblemError(f"{name} = {value!r} must be finite and > 0")
    return t


def _window_inputs(
    n_inputs: int, inputs: Sequence[ArrayLike], t_start: float, until: float, *, first: bool
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
    """The window's input spikes merged by ``(time, node)``, each with its index in the
    window's flattened trains; one-line errors for spikes outside the window."""
    from .._problem import as_inputs
    from ._simulate import merge_inputs

    trains = as_inputs(n_inputs, inputs)
    for j, train in enumerate(trains):
        if train.size == 0:
            continue
        early = train[0] < t_start or (train[0] == t_start and not first)
        if early or train[-1] > until:
            bad = train[0] if early else train[-1]
            low = "[0" if first else f"({t_start!r}"
            raise ProblemError(
                f"inputs[{j}]: spike at {bad!r} ms is outside this window {low}, {until!r}]"
            )
    return merge_inputs(trains)

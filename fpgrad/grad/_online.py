"""Online forward propagation: exact gradients accumulated alongside the simulation.

:class:`ForwardStream` is a :class:`~fpgrad.SimulationStream` that carries each neuron's
tangents ``(dV_i, dJ_i)`` over the chosen parameters while it simulates, and feeds each spike
with its tangent ``d t_s / dp`` to the loss's online accumulator
(:class:`~fpgrad.losses.OnlineAccumulator`) as soon as the spike is known. The simulator fills a
record of bounded capacity; the FP recursions (:mod:`._forward`, the same kernel as the replayed
Jacobian) then run over that piece, the loss takes its spikes, and the piece is dropped, except
for the spikes still in flight (synaptic delays), whose tangents later arrivals need. Nothing
else is kept: memory is ``8 P (2 N + capacity + spikes in flight)`` bytes plus the loss's own
state (a P-vector per loss neuron), whatever ``t_max`` and the number of spikes.

Which losses: those whose gradient is a sum over spikes of ``dL/dt_s`` times the spike's
tangent where ``dL/dt_s`` can be settled from what has been seen, possibly at the end:
first-spike losses (each loss neuron's first spike and its tangent row), van Rossum distances
(exponential traces of past spikes and their tangents), spike counts (counts; the exact
gradient is zero). Every loss of :mod:`fpgrad.losses` qualifies (``loss.online``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._memory import check_allocation
from .._problem import Network, Problem, ProblemError
from ..event._simulate import DEFAULT_MAX_SPIKES, merge_inputs
from ..event._stream import RecordPiece, SimulationStream
from ._forward import forward_piece
from ._params import GROUPS, Gradients, ParameterSeeds, check_groups, select_columns

__all__ = ["DEFAULT_CAPACITY", "ForwardStream", "online_gradient"]

#: Record rows per piece: the tangents of that many spikes are held at once.
DEFAULT_CAPACITY = 512


class ForwardStream(SimulationStream):
    """A simulation stream that accumulates a loss and its exact gradient online (module
    docstring): feed windows with :meth:`feed` as for :class:`~fpgrad.SimulationStream`, then
    read :meth:`value_and_grad` at any time.

    Args:
        network: the network.
        loss: a loss of :mod:`fpgrad.losses` (anything with ``online(n_columns)``).
        params: the parameter groups to differentiate (default every group of the network:
            ``input_time`` is not one, a stream's inputs are not known in advance; use
            ``fpgrad.ExactForward(online=True)`` on a :class:`~fpgrad.Problem` for it).
        t_max: the horizon (ms) or ``None``; max_spikes: the budget per window.
        capacity: record rows per piece (memory ``8 P capacity`` bytes for their tangents).
    """

    def __init__(
        self,
        network: Network,
        loss: Any,
        *,
        params: Iterable[str] | None = None,
        t_max: float | None = None,
        max_spikes: int = DEFAULT_MAX_SPIKES,
        capacity: int = DEFAULT_CAPACITY,
        _problem: Problem | None = None,
    ):
        if _problem is None:
            wanted = tuple(check_groups(params)) if params is not None else _network_groups()
            if "input_time" in wanted:
                raise ProblemError(
                    "params: 'input_time' is not available on a stream (its inputs are not known "
                    "in advance); use fpgrad.ExactForward(online=True) on a Problem"
                )
            sizing = Problem(network, ((),) * network.n_inputs, 1.0)
        else:
            wanted = tuple(check_groups(params)) if params is not None else GROUPS
            sizing = _problem
        if not hasattr(loss, "online"):
            raise ProblemError(f"loss: {type(loss).__name__} cannot be accumulated online")
        capacity = _capacity(capacity)
        _check_loss_neurons(network, loss)
        self.params = wanted
        self.seeds: ParameterSeeds = select_columns(sizing, wanted)
        n, p = network.n_neurons, self.seeds.n_columns
        check_allocation(
            8.0 * p * (2 * n + 2 * capacity),
            f"online forward propagation over {p} parameters ({n} neurons, {capacity} record rows)",
            "use reverse mode (fpgrad.ExactReverse(): memory per synaptic event, not per "
            "parameter), fewer parameter groups (params=...), or a smaller capacity",
        )
        super().__init__(network, t_max=t_max, max_spikes=max_spikes, _capacity=capacity)
        self.loss = loss
        self._acc = loss.online(p)
        self._state = _tangent_state(n, p)
        self._df = np.zeros((0, p))

    @property
    def nbytes(self) -> int:
        """Bytes held between windows: the simulation's (:attr:`SimulationStream.nbytes`) plus
        the tangents of the neurons and of the carried spikes (the loss's state not included)."""
        return super().nbytes + sum(arr.nbytes for arr in (*self._state, self._df))

    def value_and_grad(self) -> tuple[float, Gradients]:
        """The loss of the spikes so far (on ``[0, time]``) and its gradient."""
        value, flat = self._acc.finish(self.time)
        return float(value), _split(flat, self.seeds, self.params)

    def _on_piece(self, piece: RecordPiece) -> None:
        net = self._run.net
        n_rows = piece.node.shape[0]
        df = np.zeros((n_rows, self.seeds.n_columns))
        df[: piece.n_carried] = self._df
        forward_piece(
            *net.gradient_args,
            piece.node, piece.time, piece.input, piece.cause_e, piece.cause_p,
            self._run.t_max, piece.n_carried, *piece.queue, piece.cursor, piece.t_drain,
            *self.seeds.kernel_args(), *self._state, df,
        )  # fmt: skip
        rows = piece.n_carried + np.flatnonzero(piece.input[piece.n_carried :] < 0)
        order = rows[np.lexsort((piece.node[rows], piece.time[rows]))]
        self._acc.update(piece.node[order], piece.time[order], df[order])
        self._df = df

    def _on_compact(self, keep: NDArray[np.int64]) -> None:
        self._df = self._df[keep]


def online_gradient(
    problem: Problem, loss: Any, params: tuple[str, ...], capacity: int = DEFAULT_CAPACITY
) -> tuple[float, Gradients, ForwardStream]:
    """The loss of ``problem`` and its gradient by online FP (one window over ``[0, t_max]``),
    with the stream (its degeneracy report and spike statistics)."""
    stream = ForwardStream(problem.network, loss, params=params, t_max=problem.t_max,
                           capacity=capacity, _problem=problem)  # fmt: skip
    stream._advance_window(*merge_inputs(problem.inputs), problem.t_max)
    value, grad = stream.value_and_grad()
    return value, grad, stream


def _network_groups() -> tuple[str, ...]:
    return tuple(name for name in GROUPS if name != "input_time")


def _capacity(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ProblemError(f"capacity = {value!r}: expected a positive number of record rows")
    return int(value)


def _check_loss_neurons(network: Network, loss: Any) -> None:
    targets = getattr(loss, "targets", None)
    nodes = tuple(targets) if isinstance(targets, Mapping) else tuple(loss.neurons)
    for node in nodes:
        if not network.n_inputs <= node < network.n_nodes:
            raise ProblemError(
                f"loss neurons: node {node} is not a neuron "
                f"(ids {network.n_inputs}..{network.n_nodes - 1})"
            )


def _tangent_state(n: int, p: int) -> tuple[NDArray, ...]:
    """``(v, j, t_upd, release, tref_due, dv, dj)`` of :func:`~._forward.forward_piece` at rest."""
    return (
        np.zeros(n),
        np.zeros(n),
        np.zeros(n),
        np.full(n, -math.inf),
        np.zeros(n, np.bool_),
        np.zeros((n, p)),
        np.zeros((n, p)),
    )


def _split(flat: NDArray[np.float64], seeds: ParameterSeeds, params: tuple[str, ...]) -> Gradients:
    """The flat gradient over the seeds' columns as :class:`Gradients` (one-hot seeds: the
    selected parameters of each group, in column order, are all of that group's)."""
    out, start = {}, 0
    for name in GROUPS:
        width = seeds.selected[name].size
        if name in params:
            out[name] = flat[start : start + width].copy()
        start += width
    return Gradients(**out)

"""The exact engines as gradient methods: :class:`ExactReverse` and :class:`ExactForward`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .._method import BatchGradient, GradientMethod, GradientResult, InputBatch
from .._problem import Network, Problem, ProblemError
from ..event import DEFAULT_MAX_SPIKES, SimulationResult, simulate
from ..event._simulate import compile_network
from ._batch import (
    BATCH_GROUPS,
    FirstSpikeLosses,
    combine_samples,
    first_spike_batch,
    first_spike_samples,
)
from ._exact import spike_jacobian, spike_vjp
from ._online import DEFAULT_CAPACITY, online_gradient
from ._params import Gradients

__all__ = ["ExactForward", "ExactReverse"]


def _finish(
    method: str, grad: Gradients, result: SimulationResult, value: float, tol: float
) -> GradientResult:
    return GradientResult(
        loss=value,
        grad=grad,
        result=result,
        degeneracy=result.degeneracy,
        degenerate=result.degeneracy.is_degenerate(tol, tol),
        method=method,
    )


@dataclass(frozen=True)
class ExactReverse(GradientMethod):
    """Exact gradient by reverse mode: adjoints over the causality record (EventProp's
    discrete-event form), cost linear in the number of synaptic events whatever the number of
    parameters. The default method.

    Batch entry: a batch of first-spike losses of one kind on the same output neurons (all
    :class:`~fpgrad.FirstSpikeCrossEntropy` with the same constants, a classification
    minibatch; or all :class:`~fpgrad.FirstSpikeMSE`), asking for network groups, runs through
    one fused Numba loop per thread (:mod:`fpgrad.grad._batch`); any other batch runs sample
    by sample. On a Dask cluster (``batch(..., client=...)``) the
    fused path runs one sample at a time on the workers and the driver adds the gradients into
    the same per-thread partial sums (:func:`fpgrad.grad._batch.combine_samples`): the same
    bits.
    """

    kind: ClassVar[str] = "exact"

    @property
    def name(self) -> str:
        """``"exact-reverse"``."""
        return "exact-reverse"

    def _gradient(
        self, problem: Problem, loss: Any, params: tuple[str, ...], tol: float
    ) -> GradientResult:
        result = simulate(problem)
        value, cot = loss.value_and_spike_grad(result)
        return _finish(self.name, spike_vjp(result, cot, params), result, value, tol)

    def _route(
        self, network: Network, data: Any, losses: list[Any], params: tuple[str, ...]
    ) -> str:
        """``"fused"`` for a batch of first-spike losses (class docstring), else ``"samples"``."""
        if not (
            isinstance(data, InputBatch)
            and set(params) <= set(BATCH_GROUPS)
            and FirstSpikeLosses.of(losses) is not None
        ):
            return "samples"
        outside = [n for n in losses[0].neurons if not network.n_inputs <= n < network.n_nodes]
        if outside:
            raise ProblemError(
                f"loss neurons: node {outside[0]} is not a neuron "
                f"(ids {network.n_inputs}..{network.n_nodes - 1})"
            )
        return "fused"

    def _batch(
        self,
        network: Network,
        data: Any,
        t_max: float,
        losses: list[Any],
        params: tuple[str, ...],
        tol: float,
        sample_clip: float,
        n_threads: int | None,
    ) -> BatchGradient:
        if self._route(network, data, losses, params) != "fused":
            return super()._batch(network, data, t_max, losses, params, tol, sample_clip, n_threads)
        outcome = first_spike_batch(
            *_fused_args(network, data, t_max, losses), groups=tuple(params),
            sample_clip=sample_clip, max_spikes=DEFAULT_MAX_SPIKES, n_threads=n_threads,
        )  # fmt: skip
        return self._fused_result(outcome, params, tol)

    def _samples(
        self,
        route: str,
        network: Network,
        batch: InputBatch,
        t_max: float,
        losses: list[Any],
        params: tuple[str, ...],
        tol: float,
        sample_clip: float,
        n_threads: int | None,
    ) -> Iterable[Any]:
        if route != "fused":
            return super()._samples(
                route, network, batch, t_max, losses, params, tol, sample_clip, n_threads
            )
        return first_spike_samples(
            *_fused_args(network, batch, t_max, losses), groups=tuple(params),
            sample_clip=sample_clip, max_spikes=DEFAULT_MAX_SPIKES,
        )  # fmt: skip

    def _combine(
        self,
        route: str,
        network: Network,
        samples: list[Any],
        params: tuple[str, ...],
        tol: float,
        sample_clip: float,
        n_threads: int | None,
    ) -> BatchGradient:
        if route != "fused":
            return super()._combine(route, network, samples, params, tol, sample_clip, n_threads)
        outcome = combine_samples(
            samples, groups=tuple(params), max_spikes=DEFAULT_MAX_SPIKES, n_threads=n_threads
        )
        return self._fused_result(outcome, params, tol)

    def _fused_result(self, outcome: tuple, params: tuple[str, ...], tol: float) -> BatchGradient:
        values, first, margins, grads = outcome
        return BatchGradient(
            loss=float(np.mean(values)),
            grad=Gradients(**grads) if params else None,
            losses=values,
            first_spike_time=first,
            degenerate=(margins[:, 0] < tol) | (margins[:, 1] < tol),
            method=self.name,
        )


def _fused_args(network: Network, data: InputBatch, t_max: float, losses: list[Any]) -> tuple:
    """The leading arguments of the fused kernels for a batch of first-spike losses."""
    return compile_network(network), data.merged(), data.index, FirstSpikeLosses.of(losses), t_max


@dataclass(frozen=True)
class ExactForward(GradientMethod):
    """Exact gradient by forward propagation (FP).

    Replayed (default): the FP Jacobian of all spike times over the stored record, then
    ``dL/dp = dL/dt . dt/dp``; time and memory grow with spikes x parameters.

    ``online=True``: FP as the paper means it, alongside the simulation (:mod:`._online`): each
    spike's tangent goes to the loss's online accumulator as soon as it is known and no record
    is kept, so memory is ``8 P (2 N + capacity + spikes in flight)`` bytes plus the loss's
    state, independent of ``t_max`` and of the number of spikes; time grows with synaptic
    events x parameters. ``capacity`` is the number of record rows held per piece.
    """

    kind: ClassVar[str] = "exact"
    online: bool = False
    capacity: int = DEFAULT_CAPACITY

    @property
    def name(self) -> str:
        """``"exact-forward"``, or ``"exact-forward-online"``."""
        return "exact-forward-online" if self.online else "exact-forward"

    def _gradient(
        self, problem: Problem, loss: Any, params: tuple[str, ...], tol: float
    ) -> GradientResult:
        if self.online:
            value, grad, stream = online_gradient(problem, loss, params, self.capacity)
            deg = stream.degeneracy()
            return GradientResult(
                loss=value,
                grad=grad,
                result=None,
                degeneracy=deg,
                degenerate=deg.is_degenerate(tol, tol),
                method=self.name,
            )
        result = simulate(problem)
        value, cot = loss.value_and_spike_grad(result)
        jac = spike_jacobian(result, params)
        grad = Gradients(**{name: cot @ jac[name] for name in params})
        return _finish(self.name, grad, result, value, tol)

"""One entry point for gradients: ``fpgrad.gradient(problem, loss, method=...)``.

Methods are objects (as diffrax's adjoints are), all returning the same :class:`GradientResult`,
so tests and benchmarks loop over them:

* :class:`ExactReverse` (default): reverse mode over the causality record, cost linear in the
  number of synaptic events whatever the number of parameters;
* :class:`ExactForward`: the FP Jacobian of all spike times, then ``dL/dp = dL/dt . dt/dp``;
* :class:`FiniteDifference`: central differences of the loss with Richardson extrapolation,
  re-simulating twice (four times with Richardson) per parameter: a reference, not a tool for
  large networks;
* ``fpgrad.discrete.Surrogate`` (JAX extra): surrogate-gradient BPTT on a time grid.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ._problem import Network, Problem, ProblemError
from .event import Degeneracy, SimulationResult, simulate
from .grad._exact import spike_jacobian, spike_vjp
from .grad._params import GROUPS, Gradients, check_groups, parameter_values, with_parameter
from .losses import Loss

__all__ = [
    "BatchGradient",
    "ExactForward",
    "ExactReverse",
    "FiniteDifference",
    "GradientResult",
    "gradient",
    "gradient_batch",
]

#: Margin (in units of threshold for peaks, threshold/ms for slopes) below which a result is
#: flagged as near-degenerate.
DEFAULT_DEGENERACY_TOL = 1e-6

#: The parameter groups shared by all samples of a batch.
NETWORK_GROUPS = tuple(name for name in GROUPS if name != "input_time")


@dataclass(frozen=True, eq=False)
class GradientResult:
    """A loss, its gradient and how trustworthy the gradient is.

    ``degenerate`` is True when a spike is within ``degeneracy_tol`` of appearing (a
    sub-threshold peak that close to threshold) or vanishing (a crossing that flat). The exact
    gradient is then still the derivative of the *current* spike pattern, but that pattern
    changes within a tiny parameter step, where the loss jumps (see README, "Degenerate
    cases"); ``degeneracy`` holds the margins and where they occur.
    """

    loss: float
    grad: Gradients
    result: SimulationResult | None
    degeneracy: Degeneracy | None
    degenerate: bool
    method: str


def _check_params(params: Iterable[str] | None) -> tuple[str, ...]:
    return GROUPS if params is None else tuple(check_groups(params))


def _finish(
    grad: Gradients,
    result: SimulationResult,
    value: float,
    tol: float,
    method: str,
    *,
    pattern_changed: bool = False,
) -> GradientResult:
    return GradientResult(
        loss=value,
        grad=grad,
        result=result,
        degeneracy=result.degeneracy,
        degenerate=pattern_changed or result.degeneracy.is_degenerate(tol, tol),
        method=method,
    )


@dataclass(frozen=True)
class ExactReverse:
    """Exact gradient by reverse mode (adjoints over the causality record)."""

    def __call__(
        self, problem: Problem, loss: Loss, params: tuple[str, ...], tol: float
    ) -> GradientResult:
        result = simulate(problem)
        value, cot = loss.value_and_spike_grad(result)
        grad = spike_vjp(result, cot, params)
        return _finish(grad, result, value, tol, "exact-reverse")


@dataclass(frozen=True)
class ExactForward:
    """Exact gradient through the forward-propagation (FP) Jacobian of all spike times."""

    def __call__(
        self, problem: Problem, loss: Loss, params: tuple[str, ...], tol: float
    ) -> GradientResult:
        result = simulate(problem)
        value, cot = loss.value_and_spike_grad(result)
        jac = spike_jacobian(result, params)
        grad = Gradients(**{name: cot @ jac[name] for name in params})
        return _finish(grad, result, value, tol, "exact-forward")


@dataclass(frozen=True)
class FiniteDifference:
    """Central finite differences of the loss, ``(L(p + h) - L(p - h)) / 2h`` per parameter.

    ``h = step * max(1, |p|)``; the default ``step = eps^(1/3) ~ 6e-6`` balances truncation
    (``O(h^2)``) and rounding (``O(eps/h)``) errors. With ``richardson=True`` the estimates at
    ``h`` and ``h/2`` are combined, ``(4 D(h/2) - D(h)) / 3``, cancelling the ``h^2`` term.
    A step that changes the spike sequence (the causal record: which node fired in which order,
    inputs included) makes the difference quotient meaningless: with a spike gained or lost the
    loss jumps, and with two causally linked events swapped (an input arriving just before or
    just after a neuron's crossing) the spike times have a kink in between. The result is then
    flagged ``degenerate``.
    """

    step: float = 6e-6
    richardson: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.step < 1:
            raise ProblemError(f"step = {self.step} must lie in (0, 1)")

    def __call__(
        self, problem: Problem, loss: Loss, params: tuple[str, ...], tol: float
    ) -> GradientResult:
        result = simulate(problem)
        value, _ = loss.value_and_spike_grad(result)
        values = parameter_values(problem)
        grads, changed = {}, False
        for name in params:
            base = getattr(values, name)
            column = np.empty(base.size)
            for q in range(base.size):
                h = self.step * max(1.0, abs(float(base[q])))
                d_h, moved_h = self._quotient(problem, loss, name, base, q, h, result.record_node)
                column[q] = d_h
                changed |= moved_h
                if self.richardson:
                    d_half, moved_half = self._quotient(
                        problem, loss, name, base, q, h / 2, result.record_node
                    )
                    column[q] = (4.0 * d_half - d_h) / 3.0
                    changed |= moved_half
            grads[name] = column
        return _finish(
            Gradients(**grads), result, value, tol, "finite-difference", pattern_changed=changed
        )

    @staticmethod
    def _quotient(
        problem: Problem,
        loss: Loss,
        name: str,
        base: np.ndarray,
        q: int,
        h: float,
        sequence: np.ndarray,
    ) -> tuple[float, bool]:
        """Central difference quotient, and whether a step changed the spike ``sequence``."""
        values, changed = [], False
        for sign in (1.0, -1.0):
            moved = base.copy()
            moved[q] += sign * h
            run = simulate(with_parameter(problem, name, moved))
            changed |= not np.array_equal(run.record_node, sequence)
            values.append(loss.value_and_spike_grad(run)[0])
        return (values[0] - values[1]) / (2.0 * h), changed


Method = Callable[[Problem, Loss, tuple[str, ...], float], GradientResult]


def gradient(
    problem: Problem,
    loss: Loss,
    method: Method | None = None,
    *,
    params: Iterable[str] | None = None,
    degeneracy_tol: float = DEFAULT_DEGENERACY_TOL,
) -> GradientResult:
    """The loss of ``problem``'s spikes and its gradient w.r.t. the model's parameters.

    Args:
        problem: network, inputs and horizon.
        loss: a loss of spike times (:mod:`fpgrad.losses`).
        method: :class:`ExactReverse` (default), :class:`ExactForward`,
            :class:`FiniteDifference` or ``fpgrad.discrete.Surrogate``.
        params: parameter groups to differentiate (default all: ``weight``, ``input_time``,
            ``threshold``, ``tau_mem``, ``tau_syn``); see :class:`~fpgrad.Gradients`.
        degeneracy_tol: margin below which the result is flagged ``degenerate``.
    """
    if not isinstance(problem, Problem):
        raise ProblemError(f"expected a Problem, got {type(problem).__name__}")
    method = ExactReverse() if method is None else method
    if not callable(method):
        raise ProblemError(
            f"method: expected a method object such as ExactReverse(), got {method!r}"
        )
    return method(problem, loss, _check_params(params), float(degeneracy_tol))


@dataclass(frozen=True, eq=False)
class BatchGradient:
    """Mean loss and mean gradient over a batch of samples, with the per-sample results."""

    loss: float
    grad: Gradients
    samples: list[GradientResult]

    @property
    def n_degenerate(self) -> int:
        """Number of samples flagged near-degenerate."""
        return sum(s.degenerate for s in self.samples)


def gradient_batch(
    network: Network,
    inputs: Sequence[Sequence[ArrayLike]],
    t_max: float,
    losses: Sequence[Loss],
    method: Method | None = None,
    *,
    params: Iterable[str] | None = None,
    degeneracy_tol: float = DEFAULT_DEGENERACY_TOL,
    n_threads: int | None = None,
) -> BatchGradient:
    """:func:`gradient` averaged over input samples (one loss per sample), on all cores.

    Only network parameters are averaged: ``params`` defaults to every group but
    ``input_time`` (input spikes differ from sample to sample; their gradients are in
    ``samples[k].grad`` when asked for explicitly). The Numba kernels release the GIL, so samples
    run in parallel threads.
    """
    if len(inputs) != len(losses) or not inputs:
        raise ProblemError(
            f"need one loss per sample and at least one sample, got {len(inputs)} samples and "
            f"{len(losses)} losses"
        )
    problems = [Problem(network, tuple(sample), t_max) for sample in inputs]
    names = _check_params(params if params is not None else NETWORK_GROUPS)

    def one(k: int) -> GradientResult:
        return gradient(problems[k], losses[k], method, params=names, degeneracy_tol=degeneracy_tol)

    workers = n_threads or os.cpu_count() or 1
    if workers == 1 or len(problems) == 1:
        samples = [one(k) for k in range(len(problems))]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            samples = list(pool.map(one, range(len(problems))))
    shared = [name for name in names if name != "input_time"]
    total = Gradients(**{name: getattr(samples[0].grad, name) for name in shared})
    for sample in samples[1:]:
        total = total + Gradients(**{name: getattr(sample.grad, name) for name in shared})
    return BatchGradient(
        loss=float(np.mean([s.loss for s in samples])),
        grad=total.scale(1.0 / len(samples)),
        samples=samples,
    )

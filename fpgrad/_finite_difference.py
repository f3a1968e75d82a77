"""The one finite-difference core: step choice, Richardson extrapolation, the causal-order test.

:func:`finite_difference` is the reference behind :class:`FiniteDifference` (a method of
:func:`fpgrad.gradient`), :func:`fpgrad.testing.gradcheck` and the benchmarks. For each relative
step ``s`` of ``steps`` (in decreasing order) and each parameter ``p``, ``h = s max(1, |p|)``,

    D(h) = (L(p + h) - L(p - h)) / 2h,        R(s) = (4 D(h/2) - D(h)) / 3

(Richardson's extrapolation cancels the ``h^2`` term: error ``O(h^4)`` plus rounding
``~ eps |L| / h``; without ``richardson`` ``R(s) = D(h)``). A step is discarded when any of its
simulations changes the *causal order* of the spikes (:func:`causal_signature`): a node's number
of spikes, or the interleaving of the spikes of the two ends of any synapse (an input or neuron
spike reaching a neuron just before instead of just after one of its crossings). With a spike
gained or lost the loss jumps, and with two causally linked events swapped the spike times have a
kink in between; either way the quotient is meaningless. Events that are not linked by a synapse
may swap freely (nothing depends on their order). Of the remaining successive pairs
``(s_k, s_{k+1})`` the one with the smallest ``|R(s_k) - R(s_{k+1})|`` gives the estimate (their
mean) and its uncertainty (that difference); with one usable step, that step's value and an
infinite uncertainty. Costs ``4 len(steps)`` simulations per parameter (``2 len(steps)`` without
Richardson): a reference for small problems.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from ._method import GradientMethod, GradientResult, check_params
from ._problem import Problem, ProblemError
from .event import RunawayActivityError, SimulationResult, simulate
from .event._simulate import compile_network
from .grad._params import Gradients, parameter_values, with_parameter

__all__ = [
    "DEFAULT_FD_STEPS",
    "FDEstimate",
    "FiniteDifference",
    "causal_signature",
    "finite_difference",
]

#: Relative finite-difference steps tried, ``h = s * max(1, |p|)``.
DEFAULT_FD_STEPS = (1e-3, 1e-4, 1e-5, 1e-6)


@dataclass(frozen=True, eq=False)
class FDEstimate:
    """A step-selected finite-difference gradient.

    Attributes:
        loss: the loss at the unperturbed parameters.
        grad: the estimate (``NaN`` where no step kept the causal order).
        uncertainty: per parameter, ``|R(s_k) - R(s_{k+1})|`` of the best-agreeing pair of
            successive steps (``inf`` where fewer than two successive steps were usable).
        step: per parameter, the relative step ``s_k`` used (``NaN`` if none).
        n_discarded: number of (parameter, step) trials discarded because the step changed the
            causal order of the spikes.
        result: the simulation at the unperturbed parameters.
    """

    loss: float
    grad: Gradients
    uncertainty: Gradients
    step: Gradients
    n_discarded: int
    result: SimulationResult

    @property
    def n_unusable(self) -> int:
        """Number of parameters without any usable step (``NaN`` in :attr:`grad`)."""
        return int(np.sum(np.isnan(self.grad.flat())))

    @property
    def n_unconfirmed(self) -> int:
        """Number of parameters whose estimate no second successive step confirms (infinite
        :attr:`uncertainty`: at most one usable step, or no two of them successive)."""
        return int(np.sum(np.isinf(self.uncertainty.flat())))


def _check_steps(steps: Sequence[float]) -> tuple[float, ...]:
    if isinstance(steps, int | float):
        steps = (steps,)
    values = tuple(sorted((float(s) for s in steps), reverse=True))
    if not values or not all(0 < s < 1 for s in values):
        raise ProblemError(f"steps: need relative steps in (0, 1), got {tuple(steps)!r}")
    return values


def causal_signature(result: SimulationResult) -> NDArray[np.int64]:
    """What a run's derivatives depend on in the order of its spikes, as one integer array.

    Every node's number of spikes, then, for every synapse ``k`` (CSR order) and every spike of
    its source ``pre[k]`` (in order), the number of spikes its target ``post[k]`` fired before
    that spike in the causal record. Two runs with equal signatures have the same spikes and the
    same interleaving at the ends of every synapse: between them every spike time is a smooth
    function of the parameters (a neuron's trajectory depends on the times of its arrivals and of
    its own spikes, and on their order only where they swap)."""
    net = compile_network(result.problem.network)
    node = result.record_node
    n_events = node.shape[0]
    counts = np.bincount(node, minlength=result.problem.network.n_nodes)
    first = net.out_ptr[node]
    fan = net.out_ptr[node + 1] - first
    total = int(fan.sum())
    event = np.repeat(np.arange(n_events), fan)
    syn = np.arange(total) - np.repeat(np.cumsum(fan) - fan, fan) + np.repeat(first, fan)
    target = net.out_post[syn]  # neuron index 0..N-1 of each synaptic event's target
    spikes = np.flatnonzero(node >= net.n_inputs)
    stride = n_events + 1
    keys = np.sort((node[spikes] - net.n_inputs) * stride + spikes)
    before = np.searchsorted(keys, target * stride + event) - np.searchsorted(keys, target * stride)
    # order the synaptic events by (synapse, source spike): independent of unrelated swaps
    order = np.lexsort((event, syn))
    return np.concatenate([counts, before[order]]).astype(np.int64)


def _loss_if_same(problem: Problem, loss: Any, signature: NDArray[np.int64]) -> tuple[float, bool]:
    """Loss of ``problem`` and whether its :func:`causal_signature` equals ``signature``."""
    try:
        run = simulate(problem)
    except RunawayActivityError:
        return math.nan, False
    same = bool(np.array_equal(causal_signature(run), signature))
    return float(loss.value_and_spike_grad(run)[0]), same


def finite_difference(
    problem: Problem,
    loss: Any,
    *,
    params: Iterable[str] | None = None,
    steps: Sequence[float] = DEFAULT_FD_STEPS,
    richardson: bool = True,
) -> FDEstimate:
    """Central differences with Richardson extrapolation and per-parameter step selection
    (module docstring) of ``loss`` on ``problem`` w.r.t. the groups ``params`` (default all)."""
    if not isinstance(problem, Problem):
        raise ProblemError(f"problem: expected a fpgrad.Problem, got {type(problem).__name__}")
    names = check_params(params)
    steps = _check_steps(steps)
    result = simulate(problem)
    value = float(loss.value_and_spike_grad(result)[0])
    signature = causal_signature(result)
    values = parameter_values(problem)
    halves = (1.0, 0.5) if richardson else (1.0,)
    est, unc, chosen, discarded = {}, {}, {}, 0
    for name in names:
        base = getattr(values, name)
        est[name] = np.full(base.size, np.nan)
        unc[name] = np.full(base.size, np.inf)
        chosen[name] = np.full(base.size, np.nan)
        for q in range(base.size):
            rich = np.full(len(steps), np.nan)
            for k, s in enumerate(steps):
                h = s * max(1.0, abs(float(base[q])))
                quotients, same = [], True
                for hh in (h * f for f in halves):
                    evals = []
                    for sign in (1.0, -1.0):
                        moved = base.copy()
                        moved[q] += sign * hh
                        moved_problem = with_parameter(problem, name, moved)
                        lv, kept = _loss_if_same(moved_problem, loss, signature)
                        evals.append(lv)
                        same &= kept
                    quotients.append((evals[0] - evals[1]) / (2.0 * hh))
                if not same:
                    discarded += 1
                elif richardson:
                    rich[k] = (4.0 * quotients[1] - quotients[0]) / 3.0
                else:
                    rich[k] = quotients[0]
            diffs = np.abs(np.diff(rich))
            if np.any(np.isfinite(diffs)):
                k = int(np.nanargmin(diffs))
                est[name][q] = 0.5 * (rich[k] + rich[k + 1])
                unc[name][q] = diffs[k]
                chosen[name][q] = steps[k]
            elif np.any(np.isfinite(rich)):
                k = int(np.flatnonzero(np.isfinite(rich))[-1])
                est[name][q] = rich[k]
                chosen[name][q] = steps[k]
    return FDEstimate(
        loss=value,
        grad=Gradients(**est),
        uncertainty=Gradients(**unc),
        step=Gradients(**chosen),
        n_discarded=discarded,
        result=result,
    )


@dataclass(frozen=True)
class FiniteDifference(GradientMethod):
    """:func:`finite_difference` as a gradient method: a numerical reference, not a tool for
    large networks (``4 len(steps)`` simulations per parameter).

    ``steps``: relative steps tried (default :data:`DEFAULT_FD_STEPS`; one step gives plain
    Richardson at that step); ``richardson``: extrapolate (default True). The result is flagged
    ``degenerate`` when a margin is below the tolerance or when some parameter's estimate lacks
    its usual support: with several steps, no two successive usable steps confirm it (a step
    that changes the causal order is discarded; the large steps often are, harmlessly); with one
    step, that step was discarded. A parameter without any usable step gets ``NaN``.
    """

    steps: tuple[float, ...] = DEFAULT_FD_STEPS
    richardson: bool = True
    kind: ClassVar[str] = "finite-difference"

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", _check_steps(self.steps))
        object.__setattr__(self, "richardson", bool(self.richardson))

    def _gradient(
        self, problem: Problem, loss: Any, params: tuple[str, ...], tol: float
    ) -> GradientResult:
        fd = finite_difference(
            problem, loss, params=params, steps=self.steps, richardson=self.richardson
        )
        deg = fd.result.degeneracy
        unsupported = fd.n_unusable > 0 if len(self.steps) == 1 else fd.n_unconfirmed > 0
        return GradientResult(
            loss=fd.loss,
            grad=fd.grad,
            result=fd.result,
            degeneracy=deg,
            degenerate=deg.is_degenerate(tol, tol) or unsupported,
            method=self.name,
        )

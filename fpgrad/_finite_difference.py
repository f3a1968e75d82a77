"""The one finite-difference core: step choice, Richardson extrapolation, the causal-order test.

:func:`finite_difference` is the reference behind :class:`FiniteDifference` (a method of
:func:`fpgrad.gradient`), :func:`fpgrad.testing.gradcheck` and the benchmarks. For each relative
step ``s`` of ``steps`` (in decreasing order) and each parameter ``p``, ``h = s max(1, |p|)``,

    D(h) = (L(p + h) - L(p - h)) / 2h,        R(s) = (4 D(h/2) - D(h)) / 3

(Richardson's extrapolation cancels the ``h^2`` term: error ``O(h^4)`` plus rounding
``~ eps |L| / h``; without ``richardson`` ``R(s) = D(h)``).

Domain boundaries. Input spike times, delays and refractory periods must stay ``>= 0``;
``tau_mem``, ``tau_syn`` (where it is not 0) and ``threshold`` must stay ``> 0``; ``v_reset``
must stay below the threshold; weights and biases are unbounded. A ``tau_syn`` of 0 (delta
synapses) is a discrete choice, not a point of a continuum (docs/model.md §2): its estimate is
0, as the exact engines report. A step that would leave the domain otherwise (a ``v_reset``
within ``h`` of its threshold, a threshold within ``h`` of its ``v_reset``) is unusable: it is
counted in :attr:`FDEstimate.n_outside`, not simulated. Where the central stencil's lowest
point ``p - h`` would leave the domain, the step stays inside it, in one of two ways chosen by
what the boundary is:

* An input spike time, a delay or a refractory period within ``h`` of 0 (the bias spike of the
  latency encoding sits at exactly 0; delays and ``t_ref`` are 0 by default) takes that step
  with the forward one-sided stencil ``p, p + h/4, p + h/2, p + h``:

      D+(h) = (4 L(p + h/2) - L(p + h) - 3 L(p)) / h,      R(s) = (4 D+(h/2) - D+(h)) / 3

  ``D+`` is the second-order one-sided difference (error ``O(h^2)`` like ``D``, but with odd
  powers too), so Richardson's step leaves ``O(h^3)`` instead of ``O(h^4)``, and its rounding
  error is about ten times the central one's; without ``richardson`` ``R(s) = D+(h)``. The
  boundary is a legal value (nothing can be shrunk to fit at ``p = 0``) and the spike times are
  smooth from the right, so this gives the right derivative, which is what the exact engines
  compute there. The stencil spans ``[p, p + h]`` and reuses ``L(p)``: 3 simulations per step
  (2 without Richardson). The choice is made per step: the small steps of a spike at ``0 < p <
  h`` are still central.
* A ``tau_mem``, ``tau_syn`` or ``threshold`` with ``p - s_1 max(1, |p|) <= 0`` for the largest
  step ``s_1`` (a value of at most ``s_1``, 1e-3 by default) is stepped relative to its value,
  ``h = s |p|``, at every step: all central stencils then fit (``s < 1``). These are scale
  parameters with the singular point 0 at distance ``p``: the loss varies on the scale of ``p``
  itself, so any stencil with ``h`` near ``p`` (one-sided ones included) is off by ``O(1)``, and
  the absolute steps ``h = s`` would leave at most the smallest ones usable.

:attr:`FDEstimate.one_sided` and :attr:`FDEstimate.shrunk` record, per parameter, which
estimates were made so; every other parameter's result is unchanged.

A step is discarded when any of its simulations changes the *causal order* of the spikes
(:func:`causal_signature`): a node's number of spikes, or the interleaving of the spikes of the
two ends of any synapse (an input or neuron spike reaching a neuron just before instead of just
after one of its crossings). With a spike gained or lost the loss jumps, and with two causally
linked events swapped the spike times have a kink in between; either way the quotient is
meaningless. Events that are not linked by a synapse may swap freely (nothing depends on their
order). Of the remaining successive pairs ``(s_k, s_{k+1})`` the one with the smallest
``|R(s_k) - R(s_{k+1})|`` gives the estimate (their mean) and its uncertainty (that difference);
with one usable step, that step's value and an infinite uncertainty (one-sided and central steps
alike). Costs ``4 len(steps)`` simulations per parameter (``2 len(steps)`` without Richardson),
3 instead of 4 per one-sided step with Richardson: a reference for small problems.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from ._method import GradientMethod, GradientResult, check_loss, check_params
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

#: Relative finite-difference steps tried, ``h = s * max(1, |p|)`` (``s |p|`` for a tiny
#: positive parameter, module docstring).
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
        one_sided: per parameter (booleans), whether the estimate used the forward one-sided
            stencil at one of its steps because the central one would have moved an input
            spike time, a delay or a refractory period below 0 (module docstring): the right
            derivative at a value at or near 0. Such an estimate is less accurate (``O(h^3)``
            instead of ``O(h^4)``, more rounding). ``False`` where :attr:`grad` is ``NaN``.
        shrunk: per parameter (booleans), whether the steps were taken relative to the value,
            ``h = s |p|``, because ``p - s_1 max(1, |p|)`` is not positive for the largest
            step ``s_1`` (a ``tau_mem``, ``tau_syn`` or ``threshold`` of at most ``s_1``).
        n_discarded: number of (parameter, step) trials discarded because the step changed the
            causal order of the spikes (or ran away: too many spikes).
        result: the simulation at the unperturbed parameters.
        n_outside: number of (parameter, step) trials skipped because the step would have left
            the parameter's domain (a ``v_reset`` within the step of its threshold, or a
            threshold within the step of its ``v_reset``; module docstring).
    """

    loss: float
    grad: Gradients
    uncertainty: Gradients
    step: Gradients
    one_sided: Gradients
    shrunk: Gradients
    n_discarded: int
    result: SimulationResult
    n_outside: int = 0

    @property
    def n_unusable(self) -> int:
        """Number of parameters without any usable step (``NaN`` in :attr:`grad`)."""
        return int(np.sum(np.isnan(self.grad.flat())))

    @property
    def n_unconfirmed(self) -> int:
        """Number of parameters whose estimate no second successive step confirms (infinite
        :attr:`uncertainty`: at most one usable step, or no two of them successive)."""
        return int(np.sum(np.isinf(self.uncertainty.flat())))

    @property
    def n_one_sided(self) -> int:
        """Number of parameters estimated with a one-sided stencil (:attr:`one_sided`)."""
        return int(np.sum(self.one_sided.flat()))

    @property
    def n_shrunk(self) -> int:
        """Number of parameters whose steps were taken relative to the value (:attr:`shrunk`)."""
        return int(np.sum(self.shrunk.flat()))


#: The groups that must stay > 0 (Network): scale parameters, stepped relative to the value
#: when the largest central stencil would reach 0.
_POSITIVE = ("threshold", "tau_mem", "tau_syn")
#: The groups that must stay >= 0: one-sided differences at the boundary (right derivatives).
_NON_NEGATIVE = ("input_time", "delay", "t_ref")


def _central_fits(name: str, p: float, h: float) -> bool:
    """Whether ``p - h`` (the central stencil's lowest point) lies in the domain of ``name``."""
    low = p + -h  # the very value the central stencil's simulation receives
    if name in _NON_NEGATIVE:
        return low >= 0.0
    return low > 0.0 if name in _POSITIVE else True


def _check_steps(steps: Sequence[float]) -> tuple[float, ...]:
    if isinstance(steps, int | float):
        steps = (steps,)
    values = tuple(sorted((float(s) for s in steps), reverse=True))
    if not values or not all(0 < s < 1 for s in values):
        raise ProblemError(f"steps: need relative steps in (0, 1), got {tuple(steps)!r}")
    return values


def causal_signature(result: SimulationResult) -> NDArray[np.int64]:
    """What a run's derivatives depend on in the order of its spikes, as one integer array.

    Every node's number of spikes, then, for every synapse ``k`` (file order) and every spike of
    its source ``pre[k]`` (in order), the number of spikes its target ``post[k]`` fired before
    that spike's arrival (in the causal record for a zero-delay synapse, in time for a delayed
    one; arrivals after ``t_max`` count as after every spike), then which arrival fired each
    delta-synapse spike. Two runs with equal signatures have the same spikes and the same
    interleaving at the ends of every synapse: between them every spike time is a smooth
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
    start = np.searchsorted(keys, target * stride)
    # arrivals of a zero-delay synapse come after the spike itself (a self-loop counts it)
    before = np.searchsorted(keys, target * stride + event + 1) - start
    delayed = np.flatnonzero(net.out_d[syn] > 0)
    if delayed.size:  # count the target's spikes before the arrival time instead
        arrival = result.record_time[event[delayed]] + net.out_d[syn[delayed]]
        # the record is in time order: the target's spikes before ``a`` are its keys below the
        # record row of the first spike at or after ``a`` (n_events if none)
        rows = np.append(spikes, n_events)
        bound = rows[np.searchsorted(result.record_time[spikes], arrival)]
        count = np.searchsorted(keys, target[delayed] * stride + bound) - start[delayed]
        after_all = counts[net.n_inputs + target[delayed]] + 1
        before[delayed] = np.where(arrival > result.problem.t_max, after_all, count)
    # order the synaptic events by (synapse in file order, source spike): independent of
    # unrelated swaps and of the CSR order (which sorts by delay)
    order = np.lexsort((event, net.out_syn[syn]))
    return np.concatenate([counts, before[order], result.record_cause_synapse[spikes]]).astype(
        np.int64
    )


def _loss_if_same(problem: Any, loss: Any, signature: NDArray[np.int64]) -> tuple[float, bool]:
    """Loss of ``problem`` and whether its :func:`causal_signature` equals ``signature``
    (``problem`` is a thunk: a step outside the domain, or runaway activity, is unusable)."""
    try:
        run = simulate(problem())
    except (RunawayActivityError, ProblemError):
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
    (module docstring) of ``loss`` on ``problem`` w.r.t. the groups ``params`` (default all).

    Steps never leave the parameter domain: an input spike time, a delay or a refractory period
    at or near 0 gets one-sided differences, a tiny ``tau_mem``, ``tau_syn`` or ``threshold``
    steps relative to its value (:attr:`FDEstimate.one_sided`, :attr:`FDEstimate.shrunk`), a
    ``tau_syn`` of 0 (delta synapses) gets 0, and a step that cannot fit (``v_reset`` and its
    threshold closer than the step) is skipped (:attr:`FDEstimate.n_outside`)."""
    if not isinstance(problem, Problem):
        raise ProblemError(f"problem: expected a fpgrad.Problem, got {type(problem).__name__}")
    check_loss(loss)
    names = check_params(params)
    steps = _check_steps(steps)
    result = simulate(problem)
    value = float(loss.value_and_spike_grad(result)[0])
    signature = causal_signature(result)
    values = parameter_values(problem)
    halves = (1.0, 0.5) if richardson else (1.0,)
    est, unc, chosen, onesided, shrunk, discarded, outside = {}, {}, {}, {}, {}, 0, 0
    for name in names:
        base = getattr(values, name)
        est[name] = np.full(base.size, np.nan)
        unc[name] = np.full(base.size, np.inf)
        chosen[name] = np.full(base.size, np.nan)
        onesided[name] = np.zeros(base.size, dtype=bool)
        shrunk[name] = np.zeros(base.size, dtype=bool)
        for q in range(base.size):

            def loss_at(offset: float, name: str = name, q: int = q) -> tuple[float, bool | None]:
                """The loss at the step and whether it kept the causal order (``None``: the
                step leaves the parameter's domain; nothing was simulated)."""
                moved = getattr(values, name).copy()
                moved[q] += offset
                try:
                    stepped = with_parameter(problem, name, moved)
                except ProblemError:
                    return math.nan, None
                return _loss_if_same(lambda: stepped, loss, signature)

            p = float(base[q])
            if name == "tau_syn" and p == 0.0:  # delta synapses: a discrete choice
                est[name][q] = unc[name][q] = 0.0
                continue
            scale = max(1.0, abs(p))
            if name in _POSITIVE and not _central_fits(name, p, steps[0] * scale):
                scale, shrunk[name][q] = abs(p), True  # s < 1: every central stencil fits
            rich = np.full(len(steps), np.nan)
            forward = np.zeros(len(steps), dtype=bool)
            for k, s in enumerate(steps):
                h = s * scale
                quotients, same, inside = [], True, True
                if _central_fits(name, p, h):
                    for hh in (h * f for f in halves):
                        evals = []
                        for sign in (1.0, -1.0):
                            lv, kept = loss_at(sign * hh)
                            evals.append(lv)
                            inside &= kept is not None
                            same &= bool(kept)
                            if not inside:
                                break
                        if not inside:
                            break
                        quotients.append((evals[0] - evals[1]) / (2.0 * hh))
                else:
                    forward[k] = True
                    at = {0.0: value}
                    for f in (1.0, 0.5, 0.25)[: len(halves) + 1]:
                        at[f], kept = loss_at(h * f)
                        inside &= kept is not None
                        same &= bool(kept)
                        if not inside:
                            break
                    if inside:
                        for f in halves:
                            quotients.append((4.0 * at[0.5 * f] - at[f] - 3.0 * at[0.0]) / (f * h))
                if not inside:
                    outside += 1
                elif not same:
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
                onesided[name][q] = forward[k] or forward[k + 1]
            elif np.any(np.isfinite(rich)):
                k = int(np.flatnonzero(np.isfinite(rich))[-1])
                est[name][q] = rich[k]
                chosen[name][q] = steps[k]
                onesided[name][q] = forward[k]
    return FDEstimate(
        loss=value,
        grad=Gradients(**est),
        uncertainty=Gradients(**unc),
        step=Gradients(**chosen),
        one_sided=Gradients(**onesided),
        shrunk=Gradients(**shrunk),
        n_discarded=discarded,
        result=result,
        n_outside=outside,
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
    step, that step was discarded. A parameter without any usable step gets ``NaN``. Input
    spikes, delays and refractory periods at 0 and tiny time constants or thresholds are
    handled inside the domain (one-sided differences, value-relative steps; see
    :func:`finite_difference`).
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

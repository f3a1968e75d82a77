"""Hypothesis strategies for fpgrad problems, for fpgrad's own tests and for other projects'.

Composable ``@st.composite`` strategies with documented arguments (in the manner of xarray's
``xarray.testing.strategies``). Requires ``hypothesis`` (a test dependency, not a runtime one)::

    from hypothesis import given
    from fpgrad.testing import strategies as fst

    @given(fst.problems_and_losses())
    def test_my_gradient(problem_and_loss):
        problem, loss = problem_and_loss
        ...

Sizes and ranges accept either a plain value or a strategy (drawn from). Every problem strategy
simulates its draw and rejects it (``hypothesis.assume``) unless it meets the stated guarantees:

* at least ``min_spikes`` neuron spikes and at most ``max_spikes`` (moderate activity);
* degeneracy margins (:class:`fpgrad.Degeneracy`): every sub-threshold peak at least
  ``min_peak_gap`` below threshold (threshold units) and every crossing slope at least
  ``min_crossing_slope`` (threshold units per ms), so the spike pattern is locally constant and
  finite differences with small steps see the same spikes as the exact gradient;
* no neuron spike within ``t_max_margin`` ms of ``t_max`` (a later spike would leave the
  horizon) and no input spike before ``t_min`` (input times can be moved both ways).

Default ranges give a few spikes per neuron (weights ~0.05-0.3, a few input spikes each over
20 ms); widen them with care, activity grows fast with weight.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from numpy.typing import NDArray

from .._problem import Network, Problem
from ..event import RunawayActivityError, SimulationResult, simulate
from ..losses import FirstSpikeCrossEntropy, FirstSpikeMSE, Loss, VanRossum

__all__ = [
    "feedforward_problems",
    "first_spike_targets",
    "input_spike_trains",
    "lif_parameters",
    "losses",
    "meets_guarantees",
    "problems",
    "problems_and_losses",
    "recurrent_problems",
    "spike_trains",
]

T = TypeVar("T")
IntOrStrategy = int | st.SearchStrategy[int]
Range = tuple[float, float]

#: Default guarantees of the problem strategies.
DEFAULT_MIN_PEAK_GAP = 1e-3
DEFAULT_MIN_CROSSING_SLOPE = 1e-2
DEFAULT_T_MAX_MARGIN = 0.1
LOSS_KINDS = ("first-spike-mse", "first-spike-ce", "van-rossum")


def _value(draw: Any, value: T | st.SearchStrategy[T]) -> T:
    return draw(value) if isinstance(value, st.SearchStrategy) else value


def _floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def _check_range(name: str, bounds: Range) -> Range:
    lo, hi = (float(b) for b in bounds)
    if not lo <= hi:
        raise ValueError(f"{name}: need low <= high, got {bounds}")
    return lo, hi


@st.composite
def spike_trains(
    draw: Any,
    *,
    t_max: float = 20.0,
    t_min: float = 0.0,
    min_size: int = 0,
    max_size: int = 5,
    min_spacing: float = 0.5,
) -> NDArray[np.float64]:
    """One sorted spike train on ``[t_min, t_max]`` (ms) with at least ``min_spacing`` between
    successive spikes (up to rounding), of ``min_size..max_size`` spikes.

    ``max_size`` is lowered to what fits in the interval at that spacing; ``min_size`` must fit.
    """
    span = float(t_max) - float(t_min)
    if span < 0 or min_spacing < 0:
        raise ValueError(f"need t_min <= t_max and min_spacing >= 0, got {t_min}, {t_max}")
    # span / min_spacing can overflow to inf for a tiny (e.g. subnormal) spacing: cap it first.
    if min_spacing <= 0 or span / min_spacing >= max(max_size, min_size):
        fits = max(max_size, min_size)
    else:
        fits = int(span // min_spacing) + 1
    if min_size > fits:
        raise ValueError(
            f"min_size = {min_size} spikes do not fit in [{t_min}, {t_max}] at spacing "
            f"{min_spacing}"
        )
    n = draw(st.integers(min_size, max(min_size, min(max_size, fits))))
    if n == 0:
        return np.empty(0)
    room = max(span - (n - 1) * min_spacing, 0.0)
    offsets = np.sort(np.array(draw(st.lists(_floats(0.0, room), min_size=n, max_size=n))))
    train = float(t_min) + offsets + min_spacing * np.arange(n)
    return np.minimum(train, float(t_max))


@st.composite
def input_spike_trains(
    draw: Any,
    n_inputs: IntOrStrategy,
    *,
    t_max: float = 20.0,
    t_min: float = 0.5,
    min_size: int = 1,
    max_size: int = 4,
    min_spacing: float = 0.5,
) -> tuple[NDArray[np.float64], ...]:
    """Spike trains of ``n_inputs`` input nodes (see :func:`spike_trains`).

    ``t_min > 0`` by default so that finite differences can move every input spike earlier.
    """
    n = _value(draw, n_inputs)
    train = spike_trains(
        t_max=t_max, t_min=t_min, min_size=min_size, max_size=max_size, min_spacing=min_spacing
    )
    return tuple(draw(train) for _ in range(n))


@st.composite
def lif_parameters(
    draw: Any,
    n_neurons: IntOrStrategy,
    *,
    tau_syn: Range = (3.0, 7.0),
    tau_mem: Range = (5.0, 15.0),
    threshold: Range = (0.8, 1.2),
    t_ref: Range = (0.0, 0.0),
) -> dict[str, Any]:
    """Neuron parameters as keyword arguments of :class:`fpgrad.Network` and the builders.

    Returns ``{"tau_syn": float, "tau_mem": (N,), "threshold": (N,), "t_ref": (N,)}`` with
    each value drawn uniformly-ish (hypothesis floats) from its ``(low, high)`` range; times in
    ms, thresholds in the units of the weights. ``tau_mem == tau_syn`` is allowed (the
    simulator uses the stable form).
    """
    n = _value(draw, n_neurons)
    out: dict[str, Any] = {"tau_syn": draw(_floats(*_check_range("tau_syn", tau_syn)))}
    for name, bounds in (("tau_mem", tau_mem), ("threshold", threshold), ("t_ref", t_ref)):
        lo, hi = _check_range(name, bounds)
        out[name] = np.array(draw(st.lists(_floats(lo, hi), min_size=n, max_size=n)))
    if np.any(out["tau_mem"] <= 0) or np.any(out["threshold"] <= 0) or out["tau_syn"] <= 0:
        raise ValueError("tau_syn, tau_mem and threshold ranges must be positive")
    return out


def meets_guarantees(
    result: SimulationResult,
    *,
    min_peak_gap: float = DEFAULT_MIN_PEAK_GAP,
    min_crossing_slope: float = DEFAULT_MIN_CROSSING_SLOPE,
    min_spikes: int = 1,
    t_max_margin: float = DEFAULT_T_MAX_MARGIN,
) -> bool:
    """Whether a simulation meets the problem strategies' guarantees (see the module doc)."""
    deg = result.degeneracy
    late = result.spike_time > result.problem.t_max - t_max_margin
    return (
        result.n_spikes >= min_spikes
        and deg.min_peak_gap >= min_peak_gap
        and deg.min_crossing_slope >= min_crossing_slope
        and not bool(np.any(late))
    )


def _accept(
    problem: Problem,
    min_peak_gap: float,
    min_crossing_slope: float,
    min_spikes: int,
    max_spikes: int,
    t_max_margin: float,
) -> Problem:
    try:
        result = simulate(problem, max_spikes=max_spikes)
    except RunawayActivityError:
        assume(False)
        raise  # pragma: no cover - assume(False) raises
    assume(
        meets_guarantees(
            result,
            min_peak_gap=min_peak_gap,
            min_crossing_slope=min_crossing_slope,
            min_spikes=min_spikes,
            t_max_margin=t_max_margin,
        )
    )
    return problem


@st.composite
def feedforward_problems(
    draw: Any,
    *,
    layer_sizes: Sequence[int] | st.SearchStrategy[Sequence[int]] | None = None,
    weight_range: Range = (-0.05, 0.3),
    t_max: float = 20.0,
    inputs: st.SearchStrategy[tuple[NDArray[np.float64], ...]] | None = None,
    neuron_params: dict[str, Range] | None = None,
    min_peak_gap: float = DEFAULT_MIN_PEAK_GAP,
    min_crossing_slope: float = DEFAULT_MIN_CROSSING_SLOPE,
    min_spikes: int = 1,
    max_spikes: int = 200,
    t_max_margin: float = DEFAULT_T_MAX_MARGIN,
) -> Problem:
    """A layered network (:func:`fpgrad.feedforward_network`) with inputs, meeting the margins.

    Args:
        layer_sizes: ``[n_inputs, n_hidden..., n_out]`` or a strategy for it; default 1-3
            inputs, zero or one hidden layer of 1-3 neurons, 1-2 outputs.
        weight_range: every weight is drawn from this interval.
        t_max: horizon (ms).
        inputs: a strategy for the input trains given the number of inputs is known; default
            :func:`input_spike_trains` (1-4 spikes per input in ``[0.5, t_max]``).
        neuron_params: ranges passed to :func:`lif_parameters`.
        min_peak_gap, min_crossing_slope: guaranteed degeneracy margins (draws below are
            rejected).
        min_spikes, max_spikes: guaranteed range of the total number of neuron spikes.
        t_max_margin: no neuron spike in ``(t_max - t_max_margin, t_max]``.
    """
    if layer_sizes is None:
        hidden = draw(st.lists(st.integers(1, 3), max_size=1))
        sizes = [draw(st.integers(1, 3)), *hidden, draw(st.integers(1, 2))]
    else:
        sizes = list(_value(draw, layer_sizes))
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"layer_sizes: need >= 2 layers of >= 1 unit, got {sizes}")
    lo, hi = _check_range("weight_range", weight_range)
    weights = [
        np.array(draw(st.lists(_floats(lo, hi), min_size=a * b, max_size=a * b))).reshape(a, b)
        for a, b in itertools.pairwise(sizes)
    ]
    params = draw(lif_parameters(sum(sizes[1:]), **(neuron_params or {})))
    from .._builders import feedforward_network

    net = feedforward_network(weights, **params)
    trains = draw(inputs if inputs is not None else input_spike_trains(sizes[0], t_max=t_max))
    if len(trains) != sizes[0]:
        raise ValueError(f"inputs: drew {len(trains)} trains for {sizes[0]} inputs")
    problem = Problem(net, trains, t_max)
    return _accept(problem, min_peak_gap, min_crossing_slope, min_spikes, max_spikes, t_max_margin)


@st.composite
def recurrent_problems(
    draw: Any,
    *,
    n_inputs: IntOrStrategy = st.integers(1, 3),  # noqa: B008
    n_neurons: IntOrStrategy = st.integers(2, 4),  # noqa: B008
    input_weight_range: Range = (0.05, 0.3),
    recurrent_weight_range: Range = (-0.3, 0.2),
    self_loops: bool = True,
    t_max: float = 20.0,
    neuron_params: dict[str, Range] | None = None,
    min_peak_gap: float = DEFAULT_MIN_PEAK_GAP,
    min_crossing_slope: float = DEFAULT_MIN_CROSSING_SLOPE,
    min_spikes: int = 1,
    max_spikes: int = 200,
    t_max_margin: float = DEFAULT_T_MAX_MARGIN,
) -> Problem:
    """A recurrent network with at least one recurrent synapse, meeting the margins.

    Every neuron receives synapses from a non-empty subset of the inputs (weights in
    ``input_weight_range``) and from a subset of the neurons (``recurrent_weight_range``,
    negative values are inhibitory; the first neuron always has at least one). Other arguments
    as in :func:`feedforward_problems`.
    """
    m, n = _value(draw, n_inputs), _value(draw, n_neurons)
    if m < 1 or n < 1:
        raise ValueError(f"need >= 1 input and >= 1 neuron, got {m} and {n}")
    ilo, ihi = _check_range("input_weight_range", input_weight_range)
    rlo, rhi = _check_range("recurrent_weight_range", recurrent_weight_range)
    pre, post, weight = [], [], []
    for i in range(n):
        sources = draw(st.lists(st.integers(0, m - 1), min_size=1, max_size=m, unique=True))
        pre += sources
        post += [m + i] * len(sources)
        weight += draw(st.lists(_floats(ilo, ihi), min_size=len(sources), max_size=len(sources)))
        candidates = [j for j in range(n) if self_loops or j != i]
        if not candidates:
            continue
        recurrent = draw(
            st.lists(
                st.sampled_from(candidates),
                min_size=1 if i == 0 else 0,
                max_size=len(candidates),
                unique=True,
            )
        )
        pre += [m + j for j in recurrent]
        post += [m + i] * len(recurrent)
        weight += draw(
            st.lists(_floats(rlo, rhi), min_size=len(recurrent), max_size=len(recurrent))
        )
    params = draw(lif_parameters(n, **(neuron_params or {})))
    net = Network(
        n_inputs=m,
        n_neurons=n,
        pre=np.array(pre, dtype=np.int64),
        post=np.array(post, dtype=np.int64),
        weight=np.array(weight, dtype=np.float64),
        **params,
    )
    trains = draw(input_spike_trains(m, t_max=t_max))
    problem = Problem(net, trains, t_max)
    return _accept(problem, min_peak_gap, min_crossing_slope, min_spikes, max_spikes, t_max_margin)


def problems(**guarantees: Any) -> st.SearchStrategy[Problem]:
    """Feedforward or recurrent problems; ``guarantees`` (``min_peak_gap``,
    ``min_crossing_slope``, ``min_spikes``, ``max_spikes``, ``t_max_margin``, ``t_max``) go to
    both :func:`feedforward_problems` and :func:`recurrent_problems`."""
    return st.one_of(feedforward_problems(**guarantees), recurrent_problems(**guarantees))


@st.composite
def first_spike_targets(
    draw: Any, n: IntOrStrategy, *, t_max: float = 20.0, t_min: float = 0.0
) -> tuple[float, ...]:
    """``n`` target first-spike times (ms) in ``[t_min, t_max]``."""
    k = _value(draw, n)
    return tuple(draw(st.lists(_floats(t_min, t_max), min_size=k, max_size=k)))


def _output_neurons(problem: Problem) -> list[int]:
    net = problem.network
    sources = set(net.pre.tolist())
    outputs = [n for n in range(net.n_inputs, net.n_nodes) if n not in sources]
    return outputs or list(range(net.n_inputs, net.n_nodes))


@st.composite
def losses(
    draw: Any,
    problem: Problem,
    *,
    kinds: Sequence[str] = LOSS_KINDS,
    neurons: Sequence[int] | None = None,
) -> Loss:
    """A loss for ``problem`` with drawn targets.

    Args:
        problem: the problem the loss is for (its horizon bounds the targets).
        kinds: among ``"first-spike-mse"`` (:class:`fpgrad.FirstSpikeMSE`, targets in
            ``[0, t_max]``), ``"first-spike-ce"`` (:class:`fpgrad.FirstSpikeCrossEntropy`,
            drawn label) and ``"van-rossum"`` (:class:`fpgrad.VanRossum`, 0-3 target spikes per
            neuron, ``tau`` in ``[2, 10]`` ms).
        neurons: global ids of the loss's neurons; default the output neurons (those without
            outgoing synapses, all neurons if every one has some).
    """
    unknown = set(kinds) - set(LOSS_KINDS)
    if unknown or not kinds:
        raise ValueError(f"kinds: expected some of {LOSS_KINDS}, got {tuple(kinds)}")
    ids = list(neurons) if neurons is not None else _output_neurons(problem)
    kind = draw(st.sampled_from(tuple(kinds)))
    t_max = problem.t_max
    if kind == "first-spike-mse":
        return FirstSpikeMSE(tuple(ids), draw(first_spike_targets(len(ids), t_max=t_max)))
    if kind == "first-spike-ce":
        return FirstSpikeCrossEntropy(tuple(ids), draw(st.integers(0, len(ids) - 1)))
    train = spike_trains(t_max=t_max, max_size=3, min_spacing=0.5)
    targets = {node: tuple(draw(train)) for node in ids}
    return VanRossum(targets, tau=draw(_floats(2.0, 10.0)))


@st.composite
def problems_and_losses(
    draw: Any,
    problem_strategy: st.SearchStrategy[Problem] | None = None,
    *,
    kinds: Sequence[str] = LOSS_KINDS,
) -> tuple[Problem, Loss]:
    """A ``(problem, loss)`` pair: a problem from ``problem_strategy`` (default
    :func:`problems`) and a loss of its output neurons from :func:`losses`."""
    problem = draw(problem_strategy if problem_strategy is not None else problems())
    return problem, draw(losses(problem, kinds=kinds))

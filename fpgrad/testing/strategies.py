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

**Model 2.** By default the strategies draw model-1 networks (one shared ``tau_syn > 0``, no
bias, resets to 0, no delays, ``t_ref = 0``), exactly as before model 2. Options add each
feature of model 2 (docs/model.md §1):

* :func:`lif_parameters` (through ``neuron_params`` of the problem strategies):
  ``per_neuron_tau_syn`` (one ``tau_syn`` per neuron), ``delta_fraction`` (each neuron a
  delta-synapse neuron, ``tau_syn = 0``, with that probability), ``bias`` and ``v_reset``
  ranges (``v_reset`` below the threshold range), ``t_ref`` with ``zero_t_ref_fraction``
  (some refractory periods exactly 0);
* the problem strategies: ``delay`` (a range of synaptic delays) with ``zero_delay_fraction``
  (some delays exactly 0), and ``delta_weight_scale`` (the weights onto delta neurons are
  scaled up: a delta synapse moves ``V`` by ``w``, a current synapse by up to ``~2.5 w``).

:func:`model2_problems` draws problems with all of them at once (:data:`MODEL2_NEURON_PARAMS`,
:data:`MODEL2_DELAY`)::

    @given(fst.model2_problems())
    def test_my_model2_gradient(problem):
        ...

The guarantees hold for model 2 too: the peak-gap margin includes how close a delta arrival
comes to threshold (or how far past it it fires one).
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
    "MODEL2_DELAY",
    "MODEL2_NEURON_PARAMS",
    "feedforward_problems",
    "first_spike_targets",
    "input_spike_trains",
    "lif_parameters",
    "losses",
    "meets_guarantees",
    "model2_problems",
    "problems",
    "problems_and_losses",
    "recurrent_problems",
    "spike_trains",
    "synaptic_delays",
]

T = TypeVar("T")
IntOrStrategy = int | st.SearchStrategy[int]
Range = tuple[float, float]

#: Default guarantees of the problem strategies.
DEFAULT_MIN_PEAK_GAP = 1e-3
DEFAULT_MIN_CROSSING_SLOPE = 1e-2
DEFAULT_T_MAX_MARGIN = 0.1
LOSS_KINDS = ("first-spike-mse", "first-spike-ce", "van-rossum")
#: The model-2 neuron options of :func:`model2_problems` (``neuron_params``, see
#: :func:`lif_parameters`): per-neuron ``tau_syn`` with about 30 % delta-synapse neurons, biases
#: that stay below threshold on their own (``bias * tau_mem <= 0.75``), resets on both sides of
#: 0, refractory periods up to 1.5 ms with about a quarter exactly 0.
MODEL2_NEURON_PARAMS: dict[str, Any] = {
    "per_neuron_tau_syn": True,
    "delta_fraction": 0.3,
    "bias": (-0.02, 0.05),
    "v_reset": (-0.3, 0.3),
    "t_ref": (0.05, 1.5),
    "zero_t_ref_fraction": 0.25,
}
#: The delay range (ms) of :func:`model2_problems` (about a quarter of the delays exactly 0).
MODEL2_DELAY: Range = (0.2, 3.0)


def _value(draw: Any, value: T | st.SearchStrategy[T]) -> T:
    return draw(value) if isinstance(value, st.SearchStrategy) else value


def _floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def _check_range(name: str, bounds: Range) -> Range:
    lo, hi = (float(b) for b in bounds)
    if not lo <= hi:
        raise ValueError(f"{name}: need low <= high, got {bounds}")
    return lo, hi


def _check_fraction(name: str, fraction: float) -> float:
    value = float(fraction)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}: need a fraction in [0, 1], got {fraction!r}")
    return value


def _chosen(draw: Any, n: int, fraction: float) -> NDArray[np.bool_]:
    """``n`` booleans, each True with probability about ``fraction`` (none drawn for 0 or 1,
    so a fraction of 0 draws exactly what the strategies drew before the option existed)."""
    if fraction <= 0.0 or n == 0:
        return np.zeros(n, dtype=bool)
    if fraction >= 1.0:
        return np.ones(n, dtype=bool)
    u = draw(st.lists(_floats(0.0, 1.0), min_size=n, max_size=n))
    return np.asarray(u, dtype=np.float64) < fraction


def _per_item(draw: Any, name: str, bounds: Range, n: int) -> NDArray[np.float64]:
    lo, hi = _check_range(name, bounds)
    return np.array(draw(st.lists(_floats(lo, hi), min_size=n, max_size=n)), dtype=np.float64)


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
    per_neuron_tau_syn: bool = False,
    delta_fraction: float = 0.0,
    bias: Range | None = None,
    v_reset: Range | None = None,
    zero_t_ref_fraction: float = 0.0,
) -> dict[str, Any]:
    """Neuron parameters as keyword arguments of :class:`fpgrad.Network` and the builders.

    By default (model 1) returns ``{"tau_syn": float, "tau_mem": (N,), "threshold": (N,),
    "t_ref": (N,)}`` with each value drawn uniformly-ish (hypothesis floats) from its
    ``(low, high)`` range; times in ms, thresholds in the units of the weights. ``tau_mem ==
    tau_syn`` is allowed (the simulator uses the stable form).

    Model-2 options (each off by default; off, nothing more is drawn):

    Args:
        per_neuron_tau_syn: draw one ``tau_syn`` per neuron from ``tau_syn`` (``"tau_syn"`` is
            then an array of shape ``(N,)``).
        delta_fraction: each neuron is a delta-synapse neuron (``tau_syn = 0``: an arrival
            makes ``V`` jump by ``w``) with about this probability (hypothesis draws are not
            uniform; 1 makes every neuron one); implies ``per_neuron_tau_syn``.
        bias: a range of constant input currents (``V`` units per ms): adds ``"bias": (N,)``.
            A neuron with ``bias * tau_mem > threshold`` fires on its own, periodically.
        v_reset: a range of reset values, which must lie below the ``threshold`` range (every
            reset below every threshold): adds ``"v_reset": (N,)``.
        zero_t_ref_fraction: each refractory period is exactly 0 with about this probability
            (the edge of its domain: finite differences are one-sided there), the others drawn
            from ``t_ref``.

    Raises:
        ValueError: an empty or non-positive range (``tau_syn``, ``tau_mem``, ``threshold``), a
            negative ``t_ref``, a ``v_reset`` range reaching the ``threshold`` range, or a
            fraction outside ``[0, 1]``.
    """
    n = _value(draw, n_neurons)
    delta_fraction = _check_fraction("delta_fraction", delta_fraction)
    zero_t_ref_fraction = _check_fraction("zero_t_ref_fraction", zero_t_ref_fraction)
    syn_lo, syn_hi = _check_range("tau_syn", tau_syn)
    if per_neuron_tau_syn or delta_fraction > 0:
        out: dict[str, Any] = {"tau_syn": _per_item(draw, "tau_syn", (syn_lo, syn_hi), n)}
    else:
        out = {"tau_syn": draw(_floats(syn_lo, syn_hi))}
    for name, bounds in (("tau_mem", tau_mem), ("threshold", threshold), ("t_ref", t_ref)):
        out[name] = _per_item(draw, name, bounds, n)
    if np.any(out["tau_mem"] <= 0) or np.any(out["threshold"] <= 0) or np.any(out["tau_syn"] <= 0):
        raise ValueError("tau_syn, tau_mem and threshold ranges must be positive")
    if np.any(out["t_ref"] < 0):
        raise ValueError(f"t_ref: the range must be >= 0, got {t_ref}")
    if delta_fraction > 0:
        out["tau_syn"] = np.where(_chosen(draw, n, delta_fraction), 0.0, out["tau_syn"])
    if zero_t_ref_fraction > 0:
        out["t_ref"] = np.where(_chosen(draw, n, zero_t_ref_fraction), 0.0, out["t_ref"])
    if bias is not None:
        out["bias"] = _per_item(draw, "bias", bias, n)
    if v_reset is not None:
        lo, hi = _check_range("v_reset", v_reset)
        if hi >= _check_range("threshold", threshold)[0]:
            raise ValueError(
                f"v_reset: the range {v_reset} must lie below the threshold range {threshold} "
                "(v_reset < threshold)"
            )
        out["v_reset"] = _per_item(draw, "v_reset", (lo, hi), n)
    return out


@st.composite
def synaptic_delays(
    draw: Any,
    n_synapses: IntOrStrategy,
    *,
    delay: Range = MODEL2_DELAY,
    zero_delay_fraction: float = 0.25,
) -> NDArray[np.float64]:
    """Transmission delays (ms) of ``n_synapses`` synapses, shape ``(K,)``: each exactly 0 with
    about probability ``zero_delay_fraction`` (a zero-delay synapse delivers at once, in the
    causal order of the spike; finite differences are one-sided there), the others drawn from
    the ``delay`` range (``>= 0``)."""
    k = _value(draw, n_synapses)
    fraction = _check_fraction("zero_delay_fraction", zero_delay_fraction)
    lo, hi = _check_range("delay", delay)
    if lo < 0:
        raise ValueError(f"delay: the range must be >= 0, got {delay}")
    values = _per_item(draw, "delay", (lo, hi), k)
    return np.where(_chosen(draw, k, fraction), 0.0, values)


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
    neuron_params: dict[str, Any] | None = None,
    delay: Range | None = None,
    zero_delay_fraction: float = 0.25,
    delta_weight_scale: float = 3.0,
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
        neuron_params: keyword arguments of :func:`lif_parameters` (ranges, and the model-2
            options ``per_neuron_tau_syn``, ``delta_fraction``, ``bias``, ``v_reset``,
            ``zero_t_ref_fraction``).
        delay: a range of synaptic delays (ms), drawn by :func:`synaptic_delays` with
            ``zero_delay_fraction`` of them exactly 0; default ``None``: no delays.
        zero_delay_fraction: see ``delay``.
        delta_weight_scale: the weights of the synapses onto delta-synapse neurons
            (``tau_syn = 0``) are drawn from ``weight_range`` times this (with the default
            ranges, a current synapse lifts ``V`` by up to ``~2.5 w``, a delta synapse by
            ``w``); no effect without delta neurons.
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
    delta = np.broadcast_to(params["tau_syn"], (sum(sizes[1:]),)) == 0
    if np.any(delta):
        starts = np.cumsum([0, *sizes[1:]])
        weights = [
            np.where(delta[starts[idx] : starts[idx + 1]], delta_weight_scale * w, w)
            for idx, w in enumerate(weights)
        ]
    if delay is not None:
        n_syn = sum(w.size for w in weights)
        params["delay"] = draw(
            synaptic_delays(n_syn, delay=delay, zero_delay_fraction=zero_delay_fraction)
        )
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
    neuron_params: dict[str, Any] | None = None,
    delay: Range | None = None,
    zero_delay_fraction: float = 0.25,
    delta_weight_scale: float = 3.0,
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
    (the model-2 options ``neuron_params``, ``delay``, ``zero_delay_fraction`` and
    ``delta_weight_scale`` included) as in :func:`feedforward_problems`.
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
    post_arr = np.array(post, dtype=np.int64)
    weight_arr = np.array(weight, dtype=np.float64)
    delta = np.broadcast_to(params["tau_syn"], (n,)) == 0
    if np.any(delta):
        weight_arr = np.where(delta[post_arr - m], delta_weight_scale * weight_arr, weight_arr)
    if delay is not None:
        params["delay"] = draw(
            synaptic_delays(len(weight), delay=delay, zero_delay_fraction=zero_delay_fraction)
        )
    net = Network(
        n_inputs=m,
        n_neurons=n,
        pre=np.array(pre, dtype=np.int64),
        post=post_arr,
        weight=weight_arr,
        **params,
    )
    trains = draw(input_spike_trains(m, t_max=t_max))
    problem = Problem(net, trains, t_max)
    return _accept(problem, min_peak_gap, min_crossing_slope, min_spikes, max_spikes, t_max_margin)


def problems(**guarantees: Any) -> st.SearchStrategy[Problem]:
    """Feedforward or recurrent problems; ``guarantees`` (``min_peak_gap``,
    ``min_crossing_slope``, ``min_spikes``, ``max_spikes``, ``t_max_margin``, ``t_max``; also
    the model-2 options ``neuron_params``, ``delay``, ``zero_delay_fraction``,
    ``delta_weight_scale``) go to both :func:`feedforward_problems` and
    :func:`recurrent_problems`."""
    return st.one_of(feedforward_problems(**guarantees), recurrent_problems(**guarantees))


def model2_problems(**options: Any) -> st.SearchStrategy[Problem]:
    """Feedforward or recurrent problems of model 2: per-neuron ``tau_syn`` with delta-synapse
    neurons, biases, resets, refractory periods and delays, some of them exactly 0
    (:data:`MODEL2_NEURON_PARAMS`, ``delay`` = :data:`MODEL2_DELAY`, a quarter of the delays 0),
    meeting the same guarantees as :func:`problems`.

    ``options`` go to both :func:`feedforward_problems` and :func:`recurrent_problems`;
    ``neuron_params`` entries override those of :data:`MODEL2_NEURON_PARAMS` one by one (pass
    ``{"delta_fraction": 0.0}`` for current synapses only), ``delay=None`` turns delays off.
    """
    neuron = {**MODEL2_NEURON_PARAMS, **(options.pop("neuron_params", None) or {})}
    options = {"delay": MODEL2_DELAY, "neuron_params": neuron, **options}
    return st.one_of(feedforward_problems(**options), recurrent_problems(**options))


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

"""A layered LIF classifier: sizes, neuron constants, weight initialisation and parameters."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .._builders import feedforward_network
from .._problem import Network

__all__ = ["LEARNABLE", "Classifier", "Params", "init_params"]

#: The parameter groups a classifier can learn (:data:`fpgrad.GROUPS` but ``input_time``), in
#: that order.
LEARNABLE: tuple[str, ...] = (
    "weight",
    "threshold",
    "tau_mem",
    "tau_syn",
    "delay",
    "bias",
    "v_reset",
    "t_ref",
)

#: The groups :class:`Params` may hold besides ``weight`` and ``threshold`` (``None``: the
#: classifier's constant).
OPTIONAL_GROUPS: tuple[str, ...] = ("tau_mem", "tau_syn", "delay", "bias", "v_reset", "t_ref")


@dataclass(frozen=True)
class Classifier:
    """Shape and fixed constants of a feedforward LIF classifier (docs/model.md §1).

    ``sizes = [n_inputs, n_hidden..., n_classes]``. The output neurons are the last
    ``n_classes`` node ids; class ``c`` is predicted when output ``c`` fires first.
    ``t_ref`` (ms) is the refractory period of every neuron: ``t_ref >= t_max`` gives each neuron
    at most one spike per sample (the "time-to-first-spike" networks of Mostafa 2018 and Göltz et
    al. 2021), ``t_ref = 0`` the plain LIF neuron (EventProp's setting). ``tau_syn = 0`` makes
    every synapse a delta synapse (``V`` jumps by ``w``). ``bias``, ``v_reset`` and ``delay``
    (ms, every synapse) are model 2's constant input current, reset value and transmission delay.
    These constants are every neuron's (every synapse's) value unless :class:`Params` holds one
    array of its own for the group (a learned group, or delays drawn at initialisation).
    """

    sizes: tuple[int, ...]
    tau_syn: float = 5.0
    tau_mem: float = 10.0
    t_ref: float = 0.0
    t_max: float = 30.0
    bias: float = 0.0
    v_reset: float = 0.0
    delay: float = 0.0

    def __post_init__(self) -> None:
        sizes = tuple(int(s) for s in self.sizes)
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes: need >= 2 positive layer sizes, got {self.sizes!r}")
        object.__setattr__(self, "sizes", sizes)
        for name in ("tau_mem", "t_max"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name} must be > 0")
        for name in ("tau_syn", "t_ref", "delay"):
            if not float(getattr(self, name)) >= 0:
                raise ValueError(f"{name} must be >= 0")
        for name in ("bias", "v_reset"):
            if not np.isfinite(float(getattr(self, name))):
                raise ValueError(f"{name} must be finite")

    @property
    def n_inputs(self) -> int:
        """Number of input nodes."""
        return self.sizes[0]

    @property
    def n_neurons(self) -> int:
        """Number of LIF neurons (hidden and output)."""
        return int(sum(self.sizes[1:]))

    @property
    def n_synapses(self) -> int:
        """Number of synapses (all layers)."""
        return int(sum(a * b for a, b in self.shapes))

    @property
    def outputs(self) -> NDArray[np.int64]:
        """Global node ids of the output neurons, class order."""
        total = int(sum(self.sizes))
        return np.arange(total - self.sizes[-1], total, dtype=np.int64)

    @property
    def shapes(self) -> list[tuple[int, int]]:
        """Weight matrix shapes, layer by layer."""
        return [(self.sizes[i], self.sizes[i + 1]) for i in range(len(self.sizes) - 1)]

    @property
    def post_of_synapse(self) -> NDArray[np.int64]:
        """Neuron index (``0..N-1``) each synapse (flat order) projects to."""
        posts, start = [], 0
        for n_pre, n_post in self.shapes:
            posts.append(np.tile(np.arange(start, start + n_post), n_pre))
            start += n_post
        return np.concatenate(posts).astype(np.int64)

    def group_size(self, name: str) -> int:
        """Number of values of a parameter group (per synapse or per neuron)."""
        return self.n_synapses if name in ("weight", "delay") else self.n_neurons

    def network(self, params: Params) -> Network:
        """The :class:`fpgrad.Network` of ``params`` (synapses in ``feedforward_network`` order)."""
        own = {name: getattr(params, name) for name in OPTIONAL_GROUPS}
        return feedforward_network(
            params.matrices(self),
            threshold=params.threshold,
            **{name: getattr(self, name) if own[name] is None else own[name] for name in own},
        )


@dataclass(frozen=True, eq=False)
class Params:
    """Trainable values: flat weights (synapse order), per-neuron thresholds, and optionally an
    array of each other group of :data:`LEARNABLE` (``delay`` per synapse, the others per
    neuron); a group left ``None`` takes the :class:`Classifier`'s constant."""

    weight: NDArray[np.float64]
    threshold: NDArray[np.float64]
    tau_mem: NDArray[np.float64] | None = None
    tau_syn: NDArray[np.float64] | None = None
    delay: NDArray[np.float64] | None = None
    bias: NDArray[np.float64] | None = None
    v_reset: NDArray[np.float64] | None = None
    t_ref: NDArray[np.float64] | None = None

    def matrices(self, model: Classifier) -> list[NDArray[np.float64]]:
        """The weight matrices ``W_l`` of shape ``(n_l, n_{l+1})``."""
        mats, start = [], 0
        for shape in model.shapes:
            size = shape[0] * shape[1]
            mats.append(self.weight[start : start + size].reshape(shape))
            start += size
        return mats

    def arrays(self) -> dict[str, NDArray[np.float64]]:
        """The groups held (``weight``, ``threshold`` and every other one not ``None``), in
        :data:`LEARNABLE` order."""
        return {name: getattr(self, name) for name in LEARNABLE if getattr(self, name) is not None}

    def value(self, name: str, model: Classifier) -> NDArray[np.float64]:
        """The values of group ``name``: the array held, else ``model``'s constant broadcast."""
        own = getattr(self, name)
        if own is not None:
            return own
        return np.full(model.group_size(name), float(getattr(model, name)))

    def holding(self, names: Sequence[str], model: Classifier) -> Params:
        """A copy that holds an array for every group of ``names`` (missing ones filled with
        ``model``'s constants)."""
        return self.replace(**{n: self.value(n, model) for n in names if getattr(self, n) is None})

    def replace(self, **groups: NDArray[np.float64]) -> Params:
        """A copy with some groups replaced."""
        return dataclasses.replace(self, **groups)


def _psp_peak(tau_syn: float, tau_mem: float) -> float:
    """The peak of one synapse's PSP per unit weight: ``max_s H(s)`` for a current synapse, 1
    for a delta synapse (``V`` jumps by ``w``)."""
    if tau_syn == 0:
        return 1.0
    a, b = 1.0 / tau_syn, 1.0 / tau_mem
    if abs(a - b) < 1e-12:
        return tau_syn / float(np.e)
    s_peak = np.log(a / b) / (a - b)
    return float((np.exp(-a * s_peak) - np.exp(-b * s_peak)) / (b - a))


def init_params(
    model: Classifier,
    rng: np.random.Generator,
    *,
    gain: Sequence[float] | None = None,
    spread: Sequence[float] | None = None,
    threshold: float = 1.0,
    delay: tuple[float, float] | None = None,
) -> Params:
    """Gaussian weights scaled by fan-in so that hidden and output neurons fire at the start.

    Layer ``l`` (fan-in ``n``) draws ``W ~ N(mu, sigma^2)`` with
    ``mu = gain_l theta / (K n)`` and ``sigma = spread_l theta / (K sqrt(n))``, where
    ``K = max_s h(s)`` is the peak of the PSP kernel (``2.5`` for ``tau_syn = 5``,
    ``tau_mem = 10``; 1 for delta synapses): ``gain`` is the summed mean drive in units of
    "inputs needed to reach threshold if their PSPs peaked together". Defaults: ``gain = 3`` for
    hidden layers (input spikes are spread over the input window, so the drive has to exceed
    threshold a few times) and ``5`` for the output layer, ``spread = 1.5`` and ``1.0``. On
    Yin-Yang this makes almost every hidden neuron and every output neuron fire at initialisation
    (see the tests).

    ``delay = (low, high)`` with ``high > low`` draws one delay per synapse uniformly from
    ``[low, high]`` ms, after the weights (a seed gives the same weights with or without them);
    otherwise the delays are the classifier's constant (``Params.delay`` stays ``None``).
    """
    peak = _psp_peak(float(model.tau_syn), float(model.tau_mem))
    n_layers = len(model.shapes)
    gains = list(gain) if gain is not None else [3.0] * (n_layers - 1) + [5.0]
    spreads = list(spread) if spread is not None else [1.5] * (n_layers - 1) + [1.0]
    if len(gains) != n_layers or len(spreads) != n_layers:
        raise ValueError(f"gain and spread need one value per layer ({n_layers})")
    parts = []
    for (n_pre, n_post), g, s in zip(model.shapes, gains, spreads, strict=True):
        mean = g * threshold / (peak * n_pre)
        std = s * threshold / (peak * np.sqrt(n_pre))
        parts.append(rng.normal(mean, std, size=(n_pre, n_post)).ravel())
    delays = None
    if delay is not None:
        low, high = (float(x) for x in delay)
        if not 0 <= low <= high < np.inf:
            raise ValueError(f"delay: expected 0 <= low <= high (ms), got {delay!r}")
        if high > low:
            delays = rng.uniform(low, high, size=model.n_synapses)
    return Params(
        weight=np.concatenate(parts),
        threshold=np.full(model.n_neurons, float(threshold)),
        delay=delays,
    )

"""A layered LIF classifier: sizes, neuron constants, weight initialisation and parameters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .._builders import feedforward_network
from .._problem import Network

__all__ = ["Classifier", "Params", "init_params"]


@dataclass(frozen=True)
class Classifier:
    """Shape and fixed constants of a feedforward LIF classifier (docs/model.md §1).

    ``sizes = [n_inputs, n_hidden..., n_classes]``. The output neurons are the last
    ``n_classes`` node ids; class ``c`` is predicted when output ``c`` fires first.
    ``t_ref`` (ms) is the refractory period of every neuron: ``t_ref >= t_max`` gives each neuron
    at most one spike per sample (the "time-to-first-spike" networks of Mostafa 2018 and Göltz et
    al. 2021), ``t_ref = 0`` the plain LIF neuron (EventProp's setting).
    """

    sizes: tuple[int, ...]
    tau_syn: float = 5.0
    tau_mem: float = 10.0
    t_ref: float = 0.0
    t_max: float = 30.0

    def __post_init__(self) -> None:
        sizes = tuple(int(s) for s in self.sizes)
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes: need >= 2 positive layer sizes, got {self.sizes!r}")
        object.__setattr__(self, "sizes", sizes)
        for name in ("tau_syn", "tau_mem", "t_max"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name} must be > 0")
        if not float(self.t_ref) >= 0:
            raise ValueError("t_ref must be >= 0")

    @property
    def n_inputs(self) -> int:
        """Number of input nodes."""
        return self.sizes[0]

    @property
    def n_neurons(self) -> int:
        """Number of LIF neurons (hidden and output)."""
        return int(sum(self.sizes[1:]))

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

    def network(self, params: Params) -> Network:
        """The :class:`fpgrad.Network` of ``params`` (synapses in ``feedforward_network`` order)."""
        return feedforward_network(
            params.matrices(self),
            tau_syn=self.tau_syn,
            tau_mem=self.tau_mem,
            threshold=params.threshold,
            t_ref=self.t_ref,
        )


@dataclass(frozen=True, eq=False)
class Params:
    """Trainable values: flat weights (synapse order) and per-neuron thresholds."""

    weight: NDArray[np.float64]
    threshold: NDArray[np.float64]

    def matrices(self, model: Classifier) -> list[NDArray[np.float64]]:
        """The weight matrices ``W_l`` of shape ``(n_l, n_{l+1})``."""
        mats, start = [], 0
        for shape in model.shapes:
            size = shape[0] * shape[1]
            mats.append(self.weight[start : start + size].reshape(shape))
            start += size
        return mats


def init_params(
    model: Classifier,
    rng: np.random.Generator,
    *,
    gain: Sequence[float] | None = None,
    spread: Sequence[float] | None = None,
    threshold: float = 1.0,
) -> Params:
    """Gaussian weights scaled by fan-in so that hidden and output neurons fire at the start.

    Layer ``l`` (fan-in ``n``) draws ``W ~ N(mu, sigma^2)`` with
    ``mu = gain_l theta / (K n)`` and ``sigma = spread_l theta / (K sqrt(n))``, where
    ``K = max_s h(s)`` is the peak of the PSP kernel (``2.5`` for ``tau_syn = 5``,
    ``tau_mem = 10``): ``gain`` is the summed mean drive in units of "inputs needed to reach
    threshold if their PSPs peaked together". Defaults: ``gain = 3`` for hidden layers (input
    spikes are spread over the input window, so the drive has to exceed threshold a few times)
    and ``5`` for the output layer, ``spread = 1.5`` and ``1.0``. On Yin-Yang this makes almost
    every hidden neuron and every output neuron fire at initialisation (see the tests).
    """
    a, b = 1.0 / model.tau_syn, 1.0 / model.tau_mem
    if abs(a - b) < 1e-12:
        peak = model.tau_syn / float(np.e)
    else:
        s_peak = np.log(a / b) / (a - b)
        peak = float((np.exp(-a * s_peak) - np.exp(-b * s_peak)) / (b - a))
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
    return Params(
        weight=np.concatenate(parts), threshold=np.full(model.n_neurons, float(threshold))
    )

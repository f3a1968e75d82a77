"""Constructors for the common network shapes and input encodings.

Synapse order matters (gradients are reported per synapse in that order):
:func:`feedforward_network` lists layer 0's weight matrix first, each matrix in C order
(``W[p, q]`` connects unit ``p`` of the lower layer to unit ``q`` of the upper one).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._problem import Network, ProblemError

__all__ = [
    "feedforward_network",
    "latency_inputs",
    "poisson_inputs",
    "random_feedforward_network",
    "random_recurrent_network",
]


def feedforward_network(
    weights: Sequence[ArrayLike],
    *,
    tau_syn: float = 5.0,
    tau_mem: ArrayLike = 10.0,
    threshold: ArrayLike = 1.0,
    t_ref: ArrayLike = 0.0,
) -> Network:
    """A layered network from weight matrices ``W_l`` of shape ``(n_l, n_{l+1})``.

    Layer 0 are the inputs; the neurons of layer ``l >= 1`` follow in order, so the output layer
    holds the last node ids. Synapses are listed matrix by matrix, each in C order.
    """
    mats = [np.asarray(w, dtype=np.float64) for w in weights]
    if not mats:
        raise ProblemError("weights: need at least one weight matrix")
    for idx, w in enumerate(mats):
        if w.ndim != 2:
            raise ProblemError(f"weights[{idx}]: expected a 2-d matrix, got shape {w.shape}")
        if idx and w.shape[0] != mats[idx - 1].shape[1]:
            raise ProblemError(
                f"weights[{idx}]: has {w.shape[0]} rows but layer {idx} has "
                f"{mats[idx - 1].shape[1]} units"
            )
    sizes = [mats[0].shape[0]] + [w.shape[1] for w in mats]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    pre, post = [], []
    for idx, w in enumerate(mats):
        p, q = np.meshgrid(np.arange(w.shape[0]), np.arange(w.shape[1]), indexing="ij")
        pre.append((offsets[idx] + p).ravel())
        post.append((offsets[idx + 1] + q).ravel())
    return Network(
        n_inputs=sizes[0],
        n_neurons=int(sum(sizes[1:])),
        tau_syn=tau_syn,
        tau_mem=tau_mem,
        threshold=threshold,
        t_ref=t_ref,
        pre=np.concatenate(pre),
        post=np.concatenate(post),
        weight=np.concatenate([w.ravel() for w in mats]),
    )


def random_feedforward_network(
    sizes: Sequence[int],
    rng: np.random.Generator,
    *,
    weight_mean: float | Sequence[float] = 0.5,
    weight_std: float | Sequence[float] = 0.5,
    **neuron_params: ArrayLike,
) -> Network:
    """A layered network with Gaussian weights ``N(mean_l, std_l^2)`` per layer.

    ``sizes = [n_inputs, n_hidden..., n_out]``; ``neuron_params`` go to
    :func:`feedforward_network`.
    """
    n_layers = len(sizes) - 1
    means = np.broadcast_to(np.asarray(weight_mean, float), (n_layers,))
    stds = np.broadcast_to(np.asarray(weight_std, float), (n_layers,))
    weights = [
        rng.normal(means[idx], stds[idx], size=(sizes[idx], sizes[idx + 1]))
        for idx in range(n_layers)
    ]
    return feedforward_network(weights, **neuron_params)  # type: ignore[arg-type]


def random_recurrent_network(
    n_inputs: int,
    n_neurons: int,
    rng: np.random.Generator,
    *,
    input_synapses: int = 10,
    recurrent_synapses: int = 10,
    input_weight: float = 0.5,
    recurrent_weight: float = 0.5,
    inhibitory_fraction: float = 0.2,
    inhibition_scale: float = 1.0,
    self_loops: bool = True,
    tau_syn: float = 5.0,
    tau_mem: ArrayLike = 10.0,
    threshold: ArrayLike = 1.0,
    t_ref: ArrayLike = 0.0,
) -> Network:
    """A random recurrent network with fixed in-degree.

    Every neuron receives ``input_synapses`` synapses from randomly chosen inputs (weights
    uniform in ``[0, 2 input_weight]``) and ``recurrent_synapses`` from randomly chosen neurons
    (self included if ``self_loops``). A fraction ``inhibitory_fraction`` of neurons is inhibitory:
    their outgoing weights are ``-inhibition_scale`` times a draw from ``[0, 2 recurrent_weight]``.
    """
    if not 0.0 <= inhibitory_fraction <= 1.0:
        raise ProblemError(f"inhibitory_fraction = {inhibitory_fraction} must lie in [0, 1]")
    inhibitory = rng.random(n_neurons) < inhibitory_fraction
    pre, post, weight = [], [], []
    for i in range(n_neurons):
        if n_inputs and input_synapses:
            src = rng.integers(0, n_inputs, size=input_synapses)
            pre.append(src)
            post.append(np.full(input_synapses, n_inputs + i))
            weight.append(rng.uniform(0.0, 2.0 * input_weight, size=input_synapses))
        if recurrent_synapses:
            candidates = np.arange(n_neurons) if self_loops else np.delete(np.arange(n_neurons), i)
            src = rng.choice(candidates, size=recurrent_synapses)
            w = rng.uniform(0.0, 2.0 * recurrent_weight, size=recurrent_synapses)
            w = np.where(inhibitory[src], -inhibition_scale * w, w)
            pre.append(n_inputs + src)
            post.append(np.full(recurrent_synapses, n_inputs + i))
            weight.append(w)
    cat = (lambda xs: np.concatenate(xs)) if pre else (lambda xs: np.empty(0))
    return Network(
        n_inputs=n_inputs,
        n_neurons=n_neurons,
        tau_syn=tau_syn,
        tau_mem=tau_mem,
        threshold=threshold,
        t_ref=t_ref,
        pre=cat(pre).astype(np.int64),
        post=cat(post).astype(np.int64),
        weight=cat(weight),
    )


def poisson_inputs(
    n_inputs: int, rate_hz: ArrayLike, t_max: float, rng: np.random.Generator
) -> list[NDArray[np.float64]]:
    """Independent Poisson spike trains on ``[0, t_max]`` ms at ``rate_hz`` (one or per input)."""
    rates = np.broadcast_to(np.asarray(rate_hz, dtype=np.float64), (n_inputs,))
    if np.any(~np.isfinite(rates)) or np.any(rates < 0):
        raise ProblemError("rate_hz: rates must be finite and >= 0")
    trains = []
    for rate in rates:
        count = rng.poisson(rate * t_max / 1000.0)
        trains.append(np.sort(rng.uniform(0.0, t_max, size=count)))
    return trains


def latency_inputs(
    values: ArrayLike, *, t_early: float = 0.0, t_late: float = 10.0
) -> list[NDArray[np.float64]]:
    """Time-to-first-spike coding: one spike per value in ``[0, 1]``, at
    ``t = t_early + (1 - value) (t_late - t_early)`` (larger values fire earlier)."""
    x = np.asarray(values, dtype=np.float64).ravel()
    if np.any(~np.isfinite(x)) or np.any((x < 0) | (x > 1)):
        raise ProblemError("values: latency coding expects finite values in [0, 1]")
    if not 0.0 <= t_early < t_late:
        raise ProblemError(f"need 0 <= t_early < t_late, got t_early={t_early}, t_late={t_late}")
    times = t_early + (1.0 - x) * (t_late - t_early)
    return [np.array([t]) for t in times]

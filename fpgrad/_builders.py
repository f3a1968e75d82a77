"""Constructors for the common network shapes and input encodings.

Synapse order matters (gradients are reported per synapse in that order):
:func:`feedforward_network` lists layer 0's weight matrix first, each matrix in C order
(``W[p, q]`` connects unit ``p`` of the lower layer to unit ``q`` of the upper one).

The neuron parameters of model 2 (docs/model.md §1) are a number (shared) or one value per
neuron, in neuron order (node ids ``M..M+N-1``): ``tau_syn`` (ms, ``>= 0``; ``0`` makes the
neuron's incoming synapses delta synapses, ``V`` jumps by ``w``), ``tau_mem`` (ms, ``> 0``,
``inf`` for a perfect integrator), ``threshold`` (``> 0``), ``t_ref`` (ms, ``>= 0``), ``bias``
(a constant input current, ``V`` units per ms) and ``v_reset`` (``< threshold``). ``delay`` (ms,
``>= 0``) is a number or one value per synapse, in synapse order; the random builders also take a
``(low, high)`` tuple, drawn uniformly per synapse from their ``rng`` after every other draw (so a
seed gives the same weights with or without random delays). The defaults are model 1: one
``tau_syn = 5``, ``tau_mem = 10``, ``threshold = 1``, no refractory period, bias, reset value or
delay.
"""

from __future__ import annotations

import math
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


#: The delay argument of the random builders: a number, one per synapse, or a ``(low, high)`` range.
_Delay = ArrayLike | tuple[float, float]


def feedforward_network(
    weights: Sequence[ArrayLike],
    *,
    tau_syn: ArrayLike = 5.0,
    tau_mem: ArrayLike = 10.0,
    threshold: ArrayLike = 1.0,
    t_ref: ArrayLike = 0.0,
    bias: ArrayLike = 0.0,
    v_reset: ArrayLike = 0.0,
    delay: ArrayLike = 0.0,
) -> Network:
    """A layered network from weight matrices ``W_l`` of shape ``(n_l, n_{l+1})``.

    Layer 0 are the inputs; the neurons of layer ``l >= 1`` follow in order, so the output layer
    holds the last node ids. Synapses are listed matrix by matrix, each in C order.

    Args:
        weights: the weight matrices, lowest layer first (``w`` in units of ``V`` per ms for a
            current synapse, of ``V`` for a delta synapse).
        tau_syn: synaptic time constant of each neuron's incoming synapses, ms (``0``: delta).
        tau_mem: membrane time constants, ms (``inf``: perfect integrator).
        threshold: firing thresholds ``theta``.
        t_ref: absolute refractory periods, ms.
        bias: constant input currents, ``V`` units per ms.
        v_reset: reset values, below ``threshold``.
        delay: transmission delays, ms: a number or one per synapse in synapse order.

    Each neuron parameter is a number or one value per neuron (module docstring).
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
        bias=bias,
        v_reset=v_reset,
        pre=np.concatenate(pre),
        post=np.concatenate(post),
        weight=np.concatenate([w.ravel() for w in mats]),
        delay=delay,
    )


def random_feedforward_network(
    sizes: Sequence[int],
    rng: np.random.Generator,
    *,
    weight_mean: float | Sequence[float] = 0.5,
    weight_std: float | Sequence[float] = 0.5,
    delay: _Delay = 0.0,
    **neuron_params: ArrayLike,
) -> Network:
    """A layered network with Gaussian weights ``N(mean_l, std_l^2)`` per layer.

    ``sizes = [n_inputs, n_hidden..., n_out]``; ``neuron_params`` (``tau_syn``, ``tau_mem``,
    ``threshold``, ``t_ref``, ``bias``, ``v_reset``: a number or one per neuron, module
    docstring) go to :func:`feedforward_network`. ``delay`` (ms) is a number, one value per
    synapse, or a ``(low, high)`` tuple: uniform draws per synapse, taken after the weights.
    """
    n_layers = len(sizes) - 1
    means = np.broadcast_to(np.asarray(weight_mean, float), (n_layers,))
    stds = np.broadcast_to(np.asarray(weight_std, float), (n_layers,))
    weights = [
        rng.normal(means[idx], stds[idx], size=(sizes[idx], sizes[idx + 1]))
        for idx in range(n_layers)
    ]
    n_synapses = sum(w.size for w in weights)
    delays = _delays(delay, n_synapses, rng)
    return feedforward_network(weights, delay=delays, **neuron_params)  # type: ignore[arg-type]


def _delays(delay: _Delay, n_synapses: int, rng: np.random.Generator) -> ArrayLike:
    """``delay`` as a builder takes it: a ``(low, high)`` tuple becomes uniform draws from ``rng``
    (one per synapse); a number or an array is passed on as is (``Network`` checks it)."""
    if not isinstance(delay, tuple):
        return delay
    if len(delay) != 2:
        raise ProblemError(
            f"delay: a tuple is a (low, high) range, got {len(delay)} values; pass one delay per "
            "synapse as a list or an array"
        )
    try:
        low, high = (float(x) for x in delay)
    except (TypeError, ValueError):
        raise ProblemError(f"delay = {delay!r}: a (low, high) range needs two numbers") from None
    if not (math.isfinite(low) and math.isfinite(high) and 0.0 <= low <= high):
        raise ProblemError(f"delay = ({low!r}, {high!r}): need finite 0 <= low <= high (ms)")
    return rng.uniform(low, high, size=n_synapses)


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
    tau_syn: ArrayLike = 5.0,
    tau_mem: ArrayLike = 10.0,
    threshold: ArrayLike = 1.0,
    t_ref: ArrayLike = 0.0,
    bias: ArrayLike = 0.0,
    v_reset: ArrayLike = 0.0,
    delay: _Delay = 0.0,
) -> Network:
    """A random recurrent network with fixed in-degree.

    Every neuron receives ``input_synapses`` synapses from randomly chosen inputs (weights
    uniform in ``[0, 2 input_weight]``) and ``recurrent_synapses`` from randomly chosen neurons
    (self included if ``self_loops``). A fraction ``inhibitory_fraction`` of neurons is inhibitory:
    their outgoing weights are ``-inhibition_scale`` times a draw from ``[0, 2 recurrent_weight]``.
    Synapses are listed neuron by neuron (its input synapses, then its recurrent ones).

    ``tau_syn`` (ms, ``0``: delta synapses), ``tau_mem`` (ms), ``threshold``, ``t_ref`` (ms),
    ``bias`` (``V`` units per ms) and ``v_reset`` are a number or one value per neuron;
    ``delay`` (ms) is a number, one value per synapse, or a ``(low, high)`` tuple: uniform draws
    per synapse, taken after every other draw (module docstring).
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
    weights = cat(weight)
    return Network(
        n_inputs=n_inputs,
        n_neurons=n_neurons,
        tau_syn=tau_syn,
        tau_mem=tau_mem,
        threshold=threshold,
        t_ref=t_ref,
        bias=bias,
        v_reset=v_reset,
        pre=cat(pre).astype(np.int64),
        post=cat(post).astype(np.int64),
        weight=weights,
        delay=_delays(delay, weights.shape[0], rng),
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

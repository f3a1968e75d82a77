"""The spike-time losses of :mod:`fpgrad.losses` as JAX functions of a spike function's output.

Each factory takes the :class:`~fpgrad.jax.SpikeFunction` (for ``t_max`` and the node ids of its
rows) and the loss's neurons (global node ids, as in :mod:`fpgrad.losses`), and returns
``loss(times, target)`` of one sample's output ``(n_neurons, max_spikes)``; ``jax.vmap`` it over a
batch. The first-spike losses and the spike count evaluate the very formula of their
:mod:`fpgrad.losses` class (its ``formula(..., xp=jax.numpy)``), with the same convention for a
silent neuron: its first spike time is ``t_max``, with zero derivative.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._problem import ProblemError
from ..losses import FirstSpikeCrossEntropy, FirstSpikeMSE, SpikeCount, VanRossum
from ._api import SpikeFunction

__all__ = ["cross_entropy", "first_spike_times", "mse", "spike_count", "van_rossum"]


def first_spike_times(times: jax.Array, t_max: float) -> jax.Array:
    """Each row's first spike time, ``t_max`` for a silent row (zero derivative there):
    ``(..., n, max_spikes) -> (..., n)``."""
    first = times[..., 0]
    return jnp.where(jnp.isfinite(first), first, t_max)


def _rows(f: SpikeFunction, neurons: Sequence[int]) -> np.ndarray:
    if not isinstance(f, SpikeFunction):
        raise ProblemError(f"f: expected a fpgrad.jax.spike_fn function, got {type(f).__name__}")
    ids = np.asarray(neurons, dtype=np.int64).reshape(-1)
    lo, hi = f.n_inputs, f.n_inputs + f.n_neurons
    bad = ids[(ids < lo) | (ids >= hi)]
    if bad.size:
        raise ProblemError(f"loss neurons: node {bad[0]} is not a neuron (ids {lo}..{hi - 1})")
    return ids - f.n_inputs


def cross_entropy(
    f: SpikeFunction,
    neurons: Sequence[int],
    *,
    tau0: float = FirstSpikeCrossEntropy.tau0,
    tau1: float = FirstSpikeCrossEntropy.tau1,
    alpha: float = FirstSpikeCrossEntropy.alpha,
) -> Callable[[jax.Array, Any], jax.Array]:
    """:class:`fpgrad.FirstSpikeCrossEntropy` over the output ``neurons`` (class ``c`` is
    ``neurons[c]``): ``loss(times, label)``, ``label`` an integer (traced under ``vmap``)."""
    template = FirstSpikeCrossEntropy(tuple(int(n) for n in neurons), 0, tau0, tau1, alpha)
    rows = _rows(f, template.neurons)

    def loss(times: jax.Array, label: Any) -> jax.Array:
        consts = SimpleNamespace(
            tau0=template.tau0, tau1=template.tau1, alpha=template.alpha, label=label
        )
        first = first_spike_times(times[rows], f.t_max)
        return FirstSpikeCrossEntropy.formula(consts, first, xp=jnp)  # type: ignore[arg-type]

    return loss


def mse(f: SpikeFunction, neurons: Sequence[int]) -> Callable[[jax.Array, Any], jax.Array]:
    """:class:`fpgrad.FirstSpikeMSE` of the first spike times of ``neurons``:
    ``loss(times, targets)``, ``targets`` ``(len(neurons),)`` ms."""
    template = FirstSpikeMSE(tuple(int(n) for n in neurons), (0.0,) * len(neurons))
    rows = _rows(f, template.neurons)

    def loss(times: jax.Array, targets: Any) -> jax.Array:
        first = first_spike_times(times[rows], f.t_max)
        consts = SimpleNamespace(targets=targets)
        return FirstSpikeMSE.formula(consts, first, xp=jnp)  # type: ignore[arg-type]

    return loss


def spike_count(f: SpikeFunction, neurons: Sequence[int]) -> Callable[[jax.Array, Any], jax.Array]:
    """:class:`fpgrad.SpikeCount` of ``neurons``: ``loss(times, targets)``. The counts are those
    of the output (at most ``max_spikes`` per neuron; ``SpikeInfo.n_spikes`` has them all); its
    exact gradient is zero, as fpgrad reports."""
    template = SpikeCount(tuple(int(n) for n in neurons), (0.0,) * len(neurons))
    rows = _rows(f, template.neurons)

    def loss(times: jax.Array, targets: Any) -> jax.Array:
        counts = jnp.sum(jnp.isfinite(times[rows]).astype(times.dtype), axis=-1)
        return SpikeCount.formula(SimpleNamespace(targets=targets), counts, xp=jnp)  # type: ignore[arg-type]

    return loss


def _pairs(x: jax.Array, y: jax.Array, tau: float) -> jax.Array:
    """``sum_{i,j} exp(-|x_i - y_j| / tau)`` over the finite entries (``+inf``: padding)."""
    mx, my = jnp.isfinite(x), jnp.isfinite(y)
    xs, ys = jnp.where(mx, x, 0.0), jnp.where(my, y, 0.0)
    kernel = jnp.exp(-jnp.abs(xs[:, None] - ys[None, :]) / tau)
    return jnp.sum(jnp.where(mx[:, None] & my[None, :], kernel, 0.0))


def van_rossum(
    f: SpikeFunction, neurons: Sequence[int], *, tau: float = VanRossum.tau
) -> Callable[[jax.Array, Any], jax.Array]:
    """:class:`fpgrad.VanRossum` of the trains of ``neurons`` (at most ``max_spikes`` spikes
    each: the output's) to target trains: ``loss(times, targets)``, ``targets``
    ``(len(neurons), L)`` padded with ``+inf``. The pair form of the class, summed over the
    neurons; equal times contribute no derivative (``sign(0) = 0``), as in fpgrad."""
    ids = tuple(int(n) for n in neurons)
    template = VanRossum(dict.fromkeys(ids, (0.0,)), tau)  # validates the neurons and tau
    rows = _rows(f, ids)

    def loss(times: jax.Array, targets: Any) -> jax.Array:
        targets = jnp.asarray(targets, dtype=times.dtype)
        total = jnp.zeros((), times.dtype)
        for n, r in enumerate(rows):
            t, s = times[r], targets[n]
            total = total + 0.5 * (
                _pairs(t, t, template.tau) + _pairs(s, s, template.tau)
                - 2.0 * _pairs(t, s, template.tau)
            )  # fmt: skip
        return total

    return loss

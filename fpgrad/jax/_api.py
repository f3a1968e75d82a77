"""The public functions of the bridge: :func:`params`, :func:`spike_fn` and what they return."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._problem import Network, ProblemError
from . import _host
from ._host import PARAM_GROUPS, Spec
from ._primitives import spikes_p

__all__ = ["SpikeFunction", "SpikeInfo", "pad_batch", "pad_inputs", "params", "spike_fn"]


def _require_x64() -> None:
    if jax.dtypes.canonicalize_dtype(np.float64) != np.float64:
        raise RuntimeError(
            "fpgrad.jax computes in float64 and needs JAX's float64 mode: call "
            "jax.config.update('jax_enable_x64', True) first, or run inside "
            "`with jax.enable_x64(True):`"
        )


def params(network: Network) -> dict[str, jax.Array]:
    """The network's parameters as ``{group: float64 JAX array}``, one entry per group of
    model 2: ``weight`` and ``delay`` ``(K,)`` (synapse file order), ``threshold``, ``tau_mem``,
    ``tau_syn``, ``bias``, ``v_reset``, ``t_ref`` ``(N,)`` (neurons in node-id order)."""
    if not isinstance(network, Network):
        raise ProblemError(f"network: expected a fpgrad.Network, got {type(network).__name__}")
    _require_x64()
    return {g: jnp.asarray(getattr(network, g), dtype=jnp.float64) for g in PARAM_GROUPS}


def pad_inputs(trains: Sequence[Any], length: int | None = None) -> jax.Array:
    """One sample's input spike trains (``trains[j]``: the times of input ``j``) as the
    ``(n_inputs, L)`` float64 array :func:`spike_fn` takes, padded with ``+inf`` (``L``: the
    longest train, or ``length``)."""
    _require_x64()
    return jnp.asarray(_host.pad_inputs(trains, length))


def pad_batch(samples: Sequence[Sequence[Any]], length: int | None = None) -> jax.Array:
    """Many samples (``samples[s][j]``) as one ``(n_samples, n_inputs, L)`` array (one ``L``
    for all: the longest train of any sample, or ``length``), for ``jax.vmap``."""
    _require_x64()
    if not len(samples):
        raise ProblemError("samples: need at least one sample")
    longest = max(max((np.size(t) for t in sample), default=0) for sample in samples)
    width = longest if length is None else int(length)
    return jnp.asarray(np.stack([_host.pad_inputs(sample, width) for sample in samples]))


class SpikeInfo(NamedTuple):
    """What a spike function reports besides the spike times (``with_info=True``); no
    derivative flows through it. Under ``vmap`` every field gets the batch axis.

    Attributes:
        n_spikes: ``(N,)`` int: how many times each neuron fired on ``[0, t_max]``, all of its
            spikes (more than ``max_spikes`` means its output row was truncated).
        min_peak_gap, peak_gap_neuron, peak_gap_time: the smallest ``theta - V`` over the
            sub-threshold maxima (small: a spike is about to appear), its neuron (global node
            id, -1 if none) and time; see :class:`fpgrad.Degeneracy`.
        min_crossing_slope, crossing_slope_neuron, crossing_slope_time: the smallest ``dV/dt``
            at a spike (small: a spike is about to vanish, ``df/dp ~ 1/slope``), where.
    """

    n_spikes: jax.Array
    min_peak_gap: jax.Array
    peak_gap_neuron: jax.Array
    peak_gap_time: jax.Array
    min_crossing_slope: jax.Array
    crossing_slope_neuron: jax.Array
    crossing_slope_time: jax.Array

    def is_degenerate(self, eps_gap: float = 1e-6, eps_slope: float = 1e-6) -> jax.Array:
        """Whether a margin is below its tolerance (as :meth:`fpgrad.Degeneracy.is_degenerate`;
        elementwise over a batch)."""
        return (self.min_peak_gap < eps_gap) | (self.min_crossing_slope < eps_slope)

    def truncated(self, max_spikes: int) -> jax.Array:
        """``(N,)`` bool: the neurons that fired more than ``max_spikes`` times."""
        return self.n_spikes > max_spikes


class SpikeFunction:
    """``f(params, input_times)``: the exact spike times of a network as a JAX function (see
    :func:`spike_fn`). Attributes: ``network``, ``t_max``, ``max_spikes``, ``overflow``,
    ``with_info``, ``n_threads``, and ``n_inputs`` / ``n_neurons`` (output row ``r`` is neuron
    node ``n_inputs + r``)."""

    def __init__(self, spec: Spec, with_info: bool) -> None:
        self._spec = spec
        self.with_info = bool(with_info)
        self.network = spec.network
        self.t_max = spec.t_max
        self.max_spikes = spec.max_spikes
        self.overflow = spec.overflow
        self.n_threads = spec.n_threads
        self.n_inputs = spec.network.n_inputs
        self.n_neurons = spec.network.n_neurons
        self.__doc__ = (
            f"Spike times (n_neurons={self.n_neurons}, max_spikes={self.max_spikes}) of the "
            f"network on [0, {self.t_max:g}] ms, from params and input_times "
            f"(n_inputs={self.n_inputs}, L); see fpgrad.jax.spike_fn."
        )

    def __repr__(self) -> str:
        return (
            f"fpgrad.jax.spike_fn(<Network {self.n_inputs} inputs, {self.n_neurons} neurons>, "
            f"t_max={self.t_max:g}, max_spikes={self.max_spikes}, overflow={self.overflow!r}, "
            f"with_info={self.with_info})"
        )

    def operands(self, params: Mapping[str, Any], input_times: Any) -> list[jax.Array]:
        """The primitive's nine float64 operands (the groups of :data:`PARAM_GROUPS`, groups
        not given taken from the network, then the input times), checked."""
        _require_x64()
        if not isinstance(params, Mapping):
            raise ProblemError(
                f"params: expected a {{group: array}} mapping (fpgrad.jax.params(network)), got "
                f"{type(params).__name__}"
            )
        unknown = sorted(set(params) - set(PARAM_GROUPS))
        if unknown:
            raise ProblemError(
                f"params: unknown group {unknown[0]!r}; the groups are {', '.join(PARAM_GROUPS)}"
            )
        ops = []
        for g in PARAM_GROUPS:
            value = params.get(g)
            if value is None:
                value = np.asarray(getattr(self.network, g))
            ops.append(_float64(f"params[{g!r}]", value, self._spec.base_shape(g)))
        x = _float64("input_times", input_times, None)
        if x.ndim != 2 or x.shape[0] != self.n_inputs:
            raise ProblemError(
                f"input_times: expected shape ({self.n_inputs}, L) (one row per input, padded "
                f"with +inf), got {x.shape}; use jax.vmap for a batch"
            )
        ops.append(x)
        return ops

    def __call__(self, params: Mapping[str, Any], input_times: Any) -> Any:
        ops = self.operands(params, input_times)
        flags = (False,) * len(ops)
        times, counts, deg = spikes_p.bind(*ops, spec=self._spec, flags=flags, nb=0, keep=False)
        if not self.with_info:
            return times
        return times, _info(counts, deg)


def _float64(name: str, value: Any, shape: tuple[int, ...] | None) -> jax.Array:
    arr = value if isinstance(value, jax.Array) else jnp.asarray(value)
    if not (jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.integer)):
        raise ProblemError(f"{name}: expected real numbers, got dtype {arr.dtype}")
    if shape is not None and arr.shape != shape:
        raise ProblemError(f"{name}: expected shape {shape}, got {arr.shape}")
    return arr.astype(jnp.float64) if arr.dtype != jnp.float64 else arr


def _info(counts: jax.Array, deg: jax.Array) -> SpikeInfo:
    deg = jax.lax.stop_gradient(deg)
    return SpikeInfo(
        n_spikes=counts,
        min_peak_gap=deg[..., 0],
        peak_gap_neuron=deg[..., 1].astype(jnp.int64),
        peak_gap_time=deg[..., 2],
        min_crossing_slope=deg[..., 3],
        crossing_slope_neuron=deg[..., 4].astype(jnp.int64),
        crossing_slope_time=deg[..., 5],
    )


def spike_fn(
    network: Network,
    *,
    t_max: float,
    max_spikes: int,
    overflow: str = "raise",
    with_info: bool = False,
    n_threads: int | None = None,
) -> SpikeFunction:
    """The exact spike times of ``network`` as a pure JAX function ``f(params, input_times)``.

    Args:
        network: the topology (``pre``, ``post``, sizes) and the values of any parameter group
            that ``params`` leaves out.
        t_max: the horizon (ms): spikes on ``[0, t_max]``.
        max_spikes: spikes per neuron in the output (its width).
        overflow: a neuron that fires more than ``max_spikes`` times: ``"raise"`` (default) makes
            the call fail with :class:`SpikeOverflowError` (inside ``jit``: a ``JaxRuntimeError``
            carrying its message); ``"truncate"`` keeps its first ``max_spikes`` spikes (the
            output is then exactly the first ``max_spikes`` spike times, differentiable as such;
            ``SpikeInfo.n_spikes`` counts them all).
        with_info: ``f`` returns ``(times, SpikeInfo)``: spike counts and degeneracy margins.
        n_threads: threads of the batch engine (default: every core).

    ``f(params, input_times)``: ``params`` is :func:`params`' dict (or any part of it: the
    groups left out are the network's, constant); ``input_times`` ``(n_inputs, L)`` holds
    each input's spike times padded with ``+inf`` (any order within a row). Returns
    ``(n_neurons, max_spikes)`` float64: each neuron's spike times in order, padded with
    ``+inf``; row ``r`` is node ``n_inputs + r``. Padded entries (outputs, and ``+inf`` inputs)
    have zero derivative. See :mod:`fpgrad.jax` for the transformations and their cost.
    """
    return SpikeFunction(
        Spec(network, t_max, max_spikes, overflow=overflow, n_threads=n_threads), with_info
    )

"""The discrete-time model: the problem of docs/model.md §1 on a time grid, in JAX (``lax.scan``).

Grid and binning as in :mod:`fpgrad.discrete._grid` (``t_n = n dt``, an event at ``g`` lands at
step ``ceil(g / dt)``). Per neuron ``i`` the state is ``(V_i, J_i)`` with
``J_i = sum_k [post_k = i] w_k I_{pre_k}`` (the dense matrix ``W[pre_k, post_k] += w_k`` of shape
``(M + N, N)``, duplicate synapses summed). Step ``n -> n + 1`` (``n = 0..n_steps - 1``):

    J  <- J + x_n W_in                   inputs landing at t_n (x_n: input counts at step n)
    U  =  beta V + H J                   V at t_{n+1}, before any reset (exact propagator)
    J  <- alpha J
    s  =  S(x),  x = (U - theta) / theta spike at t_{n+1}: H(x) forward, i.e. U >= theta fires
    V  <- U - theta sd    (reset "subtract", the default)   or   U (1 - sd)   (reset "zero")
    J  <- J + s W_rec                    recurrent spikes emitted at t_{n+1} land at t_{n+1}

with ``alpha, beta, H`` the exact step factors (:func:`step_factors`), ``S`` a
:class:`SurrogateSpike` (surrogate derivative backward; its smooth primitive forward if
``spiking=False``; ``x = U - theta`` for the library presets with ``relative=False``), and
``sd = stop_gradient(s)`` if ``detach_reset`` (default) else ``s``. ``V_0 = J_0 = 0``. The
threshold keeps its gradient through the reset term ``theta sd`` in either case.

Timing. Every event is delayed to the next grid point, never earlier: an input spike at ``g``
enters ``J`` at ``t_{ceil(g/dt)}``; a neuron whose ``U`` reaches threshold at ``t_{n+1}`` (its
exact crossing lies in ``(t_n, t_{n+1}]``) fires at ``t_{n+1}``, is reset at ``t_{n+1}``, and its
spike enters its targets' currents at ``t_{n+1}`` too -- the same step, no extra delay, like the
continuous model's instantaneous synapses; as ``h(0) = 0`` the spike first moves the targets'
``V`` at ``t_{n+2}``. So between events the grid model samples the exact continuous solution,
and with every event on the grid (and no reset) it is exact at the grid points.

Refractory period: ``r_i = round(t_ref_i / dt)`` steps (half up). After a spike at step ``n``,
``V`` is held at 0 at steps ``n+1..n+r`` (no spike possible, no gradient through ``V``) while
``J`` evolves and receives spikes; ``V`` is propagated again from 0 at ``t_{n+r}``, matching the
continuous release at ``f + t_ref`` to within a step. It is triggered by ``U >= theta`` (also in
the smooth mode).

Outputs (:class:`DiscreteOutput`): the raster ``s`` and, optionally, the voltage ``U`` (the
pre-reset potential the threshold sees, 0 while refractory), both ``(n_steps + 1, N)`` with row 0
(``t = 0``) all zeros, batched as ``(B, n_steps + 1, N)``. Time in ms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike
from numpy.typing import DTypeLike, NDArray

from .._memory import check_allocation
from .._problem import Network, Problem, ProblemError, as_inputs
from ._grid import _check_dt, bin_inputs, n_grid_steps
from ._propagators import step_factors
from ._surrogates import SurrogateSpike, get_surrogate

__all__ = [
    "DiscreteOutput",
    "DiscreteParams",
    "DiscreteProblem",
    "discretize",
    "simulate_discrete",
]

#: Memory estimate of a grid run with its BPTT: this many arrays of ``(steps + 1) x nodes``
#: floats per sample (the input raster, the raster and voltages, and the residuals the scan
#: keeps per step for the backward pass: state, current, pre-reset potential, surrogate terms).
GRID_ARRAYS_PER_NEURON = 10

Reset = Literal["subtract", "zero"]


class DiscreteParams(NamedTuple):
    """The differentiable parameters (a JAX pytree), in the units and order of :class:`Network`.

    Attributes:
        weight: ``(K,)`` synaptic weights, file order.
        threshold: ``(N,)`` thresholds.
        tau_mem: ``(N,)`` membrane time constants (ms).
        tau_syn: ``()`` the synaptic time constant (ms).
    """

    weight: Array
    threshold: Array
    tau_mem: Array
    tau_syn: Array


@dataclass(frozen=True, eq=False)
class DiscreteProblem:
    """A problem on the grid: parameters, topology and binned inputs, as arrays for JAX.

    Build it with :func:`discretize`. ``inputs`` is the input count raster ``(n_steps + 1, M)``
    or a batch ``(B, n_steps + 1, M)`` (see :func:`fpgrad.discrete.bin_inputs`).

    Attributes:
        network: the source network.
        dt: grid step (ms); ``n_steps``: number of steps (times ``0, dt, ..., n_steps dt``).
        params: :class:`DiscreteParams`, in the working dtype.
        inputs: binned inputs, working dtype.
        pre: ``(K,)`` global source ids; ``post``: ``(K,)`` target *neuron* indices ``0..N-1``.
        ref_steps: ``(N,)`` refractory periods in steps, ``round(t_ref / dt)``.
    """

    network: Network
    dt: float
    n_steps: int
    params: DiscreteParams
    inputs: Array
    pre: Array = field(repr=False)
    post: Array = field(repr=False)
    ref_steps: Array = field(repr=False)

    @property
    def n_inputs(self) -> int:
        """``M``."""
        return self.network.n_inputs

    @property
    def n_neurons(self) -> int:
        """``N``."""
        return self.network.n_neurons

    @property
    def batched(self) -> bool:
        """True if ``inputs`` holds a batch of samples."""
        return self.inputs.ndim == 3

    @property
    def times(self) -> NDArray[np.float64]:
        """The grid times ``n dt``, ``n = 0..n_steps`` (ms)."""
        return self.dt * np.arange(self.n_steps + 1)

    @property
    def dtype(self) -> np.dtype:
        """The working float dtype."""
        return self.params.threshold.dtype

    def __repr__(self) -> str:
        batch = f", batch={self.inputs.shape[0]}" if self.batched else ""
        return (
            f"DiscreteProblem(n_inputs={self.n_inputs}, n_neurons={self.n_neurons}, "
            f"n_synapses={self.network.n_synapses}, dt={self.dt}, n_steps={self.n_steps}"
            f"{batch}, dtype={self.dtype})"
        )


def discretize(
    problem: Problem | Network,
    dt: float,
    *,
    batch: Sequence[Sequence[ArrayLike]] | None = None,
    t_max: float | None = None,
    dtype: DTypeLike | None = None,
) -> DiscreteProblem:
    """Put a problem (or a network with a batch of input samples) on the grid of step ``dt`` ms.

    Args:
        problem: a :class:`Problem` (its inputs and ``t_max``), or a :class:`Network` (then
            ``batch`` and ``t_max`` are required).
        dt: grid step in ms.
        batch: input samples, each one spike train per input node; replaces the problem's own
            inputs, and the result is batched (``inputs`` of shape ``(B, n_steps + 1, M)``).
        t_max: horizon (ms), default ``problem.t_max``; ``n_steps = ceil(t_max / dt)``.
        dtype: float dtype of parameters and inputs (default: JAX's default float, float64 when
            ``jax_enable_x64`` is on, else float32).
    """
    dt = _check_dt(dt)
    if isinstance(problem, Problem):
        network = problem.network
        t_max = problem.t_max if t_max is None else t_max
        samples = None if batch is None else list(batch)
        single = problem.inputs
    elif isinstance(problem, Network):
        network = problem
        if batch is None or t_max is None:
            raise ProblemError("discretize(network, ...): pass batch=[inputs, ...] and t_max")
        samples, single = list(batch), None
    else:
        kind = type(problem).__name__
        raise ProblemError(f"problem: expected a Problem or a Network, got {kind}")
    n_steps = n_grid_steps(t_max, dt)
    dtype = jnp.result_type(float) if dtype is None else jnp.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"dtype = {dtype} must be a float dtype")
    n_samples = 1 if samples is None else len(samples)
    check_allocation(
        GRID_ARRAYS_PER_NEURON
        * dtype.itemsize
        * n_samples
        * (n_steps + 1.0)
        * (network.n_inputs + network.n_neurons),
        f"the grid model with dt = {dt:g} ms ({n_steps + 1} steps x {n_samples} sample(s) x "
        f"{network.n_inputs + network.n_neurons} nodes, with its BPTT)",
        "use a larger dt, fewer samples per batch, or the exact event-driven methods (no grid)",
    )
    if samples is None:
        raster = bin_inputs(single, dt, n_steps)
    else:
        if not samples:
            raise ProblemError("batch: need at least one sample")
        raster = np.stack(
            [bin_inputs(as_inputs(network.n_inputs, s), dt, n_steps) for s in samples]
        )
    ref_steps = np.floor(network.t_ref / dt + 0.5).astype(np.int32)
    params = DiscreteParams(
        weight=jnp.asarray(network.weight, dtype),
        threshold=jnp.asarray(network.threshold, dtype),
        tau_mem=jnp.asarray(network.tau_mem, dtype),
        tau_syn=jnp.asarray(network.tau_syn, dtype),
    )
    return DiscreteProblem(
        network=network,
        dt=dt,
        n_steps=n_steps,
        params=params,
        inputs=jnp.asarray(raster, dtype),
        pre=jnp.asarray(network.pre, jnp.int32),
        post=jnp.asarray(network.post - network.n_inputs, jnp.int32),
        ref_steps=jnp.asarray(ref_steps),
    )


@partial(
    jax.tree_util.register_dataclass,
    data_fields=["raster", "voltage"],
    meta_fields=["dt", "n_inputs"],
)
@dataclass(frozen=True)
class DiscreteOutput:
    """What a discrete run returns (a JAX pytree: ``raster`` and ``voltage`` are its leaves).

    Attributes:
        raster: spikes ``(n_steps + 1, N)`` (batched ``(B, n_steps + 1, N)``); row ``n`` is
            ``t = n dt``, row 0 is zero. Values 0/1 (the smooth primitive if ``spiking=False``).
        voltage: the pre-reset potential ``U`` at the grid points, same shape, or ``None`` if not
            recorded. Row 0 is ``V(0) = 0``; 0 while refractory.
        dt: grid step (ms); ``n_inputs``: ``M``, to report global neuron ids.
    """

    raster: Array
    voltage: Array | None
    dt: float
    n_inputs: int

    @property
    def times(self) -> Array:
        """Grid times ``n dt`` (ms) of the rows."""
        return self.dt * jnp.arange(self.raster.shape[-2], dtype=self.raster.dtype)

    def spike_times(self, max_spikes: int) -> Array:
        """Per-neuron spike times on the grid, ``(..., N, max_spikes)``, sorted, ``inf``-padded.

        A spike is a raster entry ``> 0.5``; spikes beyond ``max_spikes`` per neuron are dropped.
        Piecewise constant in the parameters (no gradient flows through it). Jittable.
        """
        fired = jax.lax.stop_gradient(self.raster) > 0.5
        t = jnp.where(fired, self.times[:, None], jnp.inf)
        t = jnp.swapaxes(t, -1, -2)
        return jnp.sort(t, axis=-1)[..., :max_spikes]

    def first_spike_times(self, t_silent: float | None = None) -> Array:
        """Per-neuron first spike time ``(..., N)`` as a differentiable function of the raster:

            T_i = sum_n t_n s_n prod_{m<n} (1 - s_m) + t_silent prod_n (1 - s_n)

        For a 0/1 raster this is the grid time of the first spike, or ``t_silent`` (default: the
        last grid time) for a silent neuron; its gradient flows through the surrogate of every
        step (a spike appearing at step ``n`` before the first one moves ``T`` to ``t_n``).
        """
        s = self.raster
        t = self.times[:, None]
        t_last = t[-1, 0] if t_silent is None else t_silent
        survive = jnp.cumprod(1.0 - s, axis=-2)  # prod_{m <= n} (1 - s_m)
        before = jnp.concatenate([jnp.ones_like(s[..., :1, :]), survive[..., :-1, :]], axis=-2)
        return jnp.sum(t * s * before, axis=-2) + t_last * survive[..., -1, :]

    def spikes(self) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """``(spike_node, spike_time)`` as in :class:`fpgrad.SimulationResult` (one sample).

        Global node ids (``M..M+N-1``), sorted by time then id; times ``n dt`` in ms.
        """
        raster = np.asarray(self.raster)
        if raster.ndim != 2:
            raise ValueError("spikes(): a batched output; index one sample first (out[b])")
        step, neuron = np.nonzero(raster > 0.5)  # row-major: sorted by step, then neuron
        return (neuron + self.n_inputs).astype(np.int64), step * self.dt

    def __getitem__(self, index: Any) -> DiscreteOutput:
        """One sample (or a slice) of a batched output."""
        voltage = None if self.voltage is None else self.voltage[index]
        return DiscreteOutput(self.raster[index], voltage, self.dt, self.n_inputs)


@dataclass(frozen=True)
class _Options:
    """Static (hashable) configuration of the scan.

    ``rec_src`` / ``rec_dst``: the neurons (``0..N-1``) that send / receive neuron-to-neuron
    synapses (empty: none); the scan multiplies only that block of the recurrent weights, so
    a layered network costs its next-layer block per step, not ``N x N`` (a network with other
    such neurons compiles anew).
    """

    dt: float
    surrogate: SurrogateSpike
    spiking: bool
    reset: Reset
    detach_reset: bool
    record_voltage: bool
    rec_src: tuple[int, ...]
    rec_dst: tuple[int, ...]
    refractory: bool


def _run_single(
    params: DiscreteParams,
    pre: Array,
    post: Array,
    ref_steps: Array,
    inputs: Array,
    opts: _Options,
) -> tuple[Array, Array | None]:
    n_inputs = inputs.shape[-1]
    n_neurons = params.threshold.shape[0]
    n_steps = inputs.shape[0] - 1
    dtype = params.threshold.dtype
    w = jnp.zeros((n_inputs + n_neurons, n_neurons), dtype).at[pre, post].add(params.weight)
    # recurrent block restricted to the neurons that send / receive neuron-to-neuron synapses
    # (for a layered network the next layer only, not N x N)
    src, dst = np.asarray(opts.rec_src, np.int32), np.asarray(opts.rec_dst, np.int32)
    w_in, w_rec = w[:n_inputs], w[n_inputs:][src[:, None], dst[None, :]]
    alpha, beta, h = step_factors(opts.dt, params.tau_syn, params.tau_mem)
    theta = params.threshold
    drive = inputs[:n_steps] @ w_in  # (n_steps, N): current jumps landing at t_0..t_{T-1}
    sur = opts.surrogate

    def step(carry, drive_n):
        v, j, ref = carry
        j = j + drive_n
        u = beta * v + h * j
        j = alpha * j
        if opts.refractory:
            held = ref > 0
            u = jnp.where(held, 0.0, u)
        s = sur.spike(u, theta, opts.spiking)
        if opts.refractory:
            s = jnp.where(held, 0.0, s)
        sd = jax.lax.stop_gradient(s) if opts.detach_reset else s
        v = u - theta * sd if opts.reset == "subtract" else u * (1.0 - sd)
        if opts.refractory:
            fired = (jax.lax.stop_gradient(u) >= theta) & ~held
            ref = jnp.where(fired, ref_steps, jnp.maximum(ref - 1, 0))
        if src.size:
            j = j.at[dst].add(s[src] @ w_rec)
        return (v, j, ref), ((s, u) if opts.record_voltage else s)

    zeros = jnp.zeros(n_neurons, dtype)
    init = (zeros, zeros, jnp.zeros(n_neurons, ref_steps.dtype))
    _, out = jax.lax.scan(step, init, drive)
    s_seq, u_seq = out if opts.record_voltage else (out, None)
    first = zeros[None, :]
    raster = jnp.concatenate([first, s_seq], axis=0)
    voltage = None if u_seq is None else jnp.concatenate([first, u_seq], axis=0)
    return raster, voltage


@partial(jax.jit, static_argnames=("opts",))
def _run(params, pre, post, ref_steps, inputs, opts):
    fn = partial(_run_single, opts=opts)
    if inputs.ndim == 3:
        return jax.vmap(fn, in_axes=(None, None, None, None, 0))(
            params, pre, post, ref_steps, inputs
        )
    return fn(params, pre, post, ref_steps, inputs)


def _options(
    dp: DiscreteProblem,
    surrogate: SurrogateSpike | str | None,
    spiking: bool,
    reset: str,
    detach_reset: bool,
    record_voltage: bool,
) -> _Options:
    if reset not in ("subtract", "zero"):
        raise ValueError(f"reset = {reset!r}: expected 'subtract' or 'zero'")
    sur = get_surrogate() if surrogate is None else get_surrogate(surrogate)
    net = dp.network
    rec = net.pre >= net.n_inputs
    return _Options(
        dt=dp.dt,
        surrogate=sur,
        spiking=bool(spiking),
        reset=reset,  # type: ignore[arg-type]
        detach_reset=bool(detach_reset),
        record_voltage=bool(record_voltage),
        rec_src=tuple(int(i) for i in np.unique(net.pre[rec]) - net.n_inputs),
        rec_dst=tuple(int(i) for i in np.unique(net.post[rec]) - net.n_inputs),
        refractory=bool(np.any(np.asarray(dp.ref_steps) > 0)),
    )


def simulate_discrete(
    dp: DiscreteProblem,
    surrogate: SurrogateSpike | str | None = None,
    *,
    spiking: bool = True,
    reset: Reset = "subtract",
    detach_reset: bool = True,
    record_voltage: bool = False,
    params: DiscreteParams | None = None,
    inputs: ArrayLike | None = None,
) -> DiscreteOutput:
    """Run the discrete model on ``dp`` (jitted ``lax.scan``, ``vmap`` over a batch).

    Differentiable (surrogate BPTT) in ``params`` and ``inputs``: it may be called inside
    ``jax.grad``/``jax.jit`` with traced ``params``/``inputs`` (the other arguments are static).
    Compiled once per array shapes and options and reused.

    Args:
        dp: from :func:`discretize`.
        surrogate: a :class:`SurrogateSpike` or a name for :func:`get_surrogate` (default
            ``fast_sigmoid``, normalised, width 0.1 threshold). Only matters for gradients, or
            for the forward pass when ``spiking=False``.
        spiking: Heaviside forward (``U >= theta`` fires) if True, else the surrogate's smooth
            primitive (graded "spikes", graded reset).
        reset: ``"subtract"`` (``V <- U - theta s``, the continuous model's) or ``"zero"``
            (``V <- U (1 - s)``).
        detach_reset: stop the gradient through the spike in the reset term (the threshold's own
            gradient through the reset is kept).
        record_voltage: also return the pre-reset potential ``U``.
        params: parameters to use instead of ``dp.params`` (same shapes).
        inputs: input raster to use instead of ``dp.inputs`` (``(T+1, M)`` or ``(B, T+1, M)``).
    """
    opts = _options(dp, surrogate, spiking, reset, detach_reset, record_voltage)
    params = dp.params if params is None else DiscreteParams(*params)
    x = dp.inputs if inputs is None else jnp.asarray(inputs)
    if x.ndim not in (2, 3) or x.shape[-2:] != dp.inputs.shape[-2:]:
        raise ValueError(
            f"inputs: expected shape (..., {dp.n_steps + 1}, {dp.n_inputs}), got {x.shape}"
        )
    raster, voltage = _run(params, dp.pre, dp.post, dp.ref_steps, x, opts)
    return DiscreteOutput(raster, voltage, dp.dt, dp.n_inputs)

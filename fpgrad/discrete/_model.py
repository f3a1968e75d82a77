"""The discrete-time model: the problem of docs/model.md §1 (model 2) on a time grid, in JAX.

Grid and binning as in :mod:`fpgrad.discrete._grid` (``t_n = n dt``, an event at ``g`` lands at
step ``ceil(g / dt)``). Per neuron ``i`` the state is ``(V_i, J_i)``; the factors of one exact
step are ``alpha_i, beta_i, H_i`` (:func:`step_factors`) and ``G_i`` (:func:`bias_factor`).
Neurons with ``tau_syn_i > 0`` have current synapses, those with ``tau_syn_i = 0`` delta
synapses (no ``J``: ``alpha = H = 0``). Synapse ``k`` delays its spikes by
``D_k = round(d_k / dt)`` whole steps (half up, like the refractory period): a spike emitted
at step ``n`` (an input spike at ``g``: ``n = ceil(g / dt)``) arrives at step ``n + E_k`` with
``E_k = D_k``, except that a synapse from a *neuron* onto a delta-synapse neuron has
``E_k = max(D_k, 1)`` (below). ``A_n`` is the weighted arrival count at ``t_n``,
``A_{n,i} = sum_k [post_k = i] w_k c_{pre_k, n - E_k}`` (``c_{j,m}``: spikes of node ``j`` at
step ``m``; dense matrices ``W^(E)[pre_k, post_k] += w_k`` per distinct ``E``, duplicate
synapses summed). Step ``n -> n + 1`` (``n = 0..n_steps - 1``):

    J  <- J + A_n                        current-synapse arrivals landing at t_n
    U  =  beta V + H J + G bias          V at t_{n+1} before delta arrivals (exact propagator)
    J  <- alpha J
    U  <- U + A_{n+1}                    delta-synapse arrivals landing at t_{n+1} (n = 0: + A_0)
    U  <- v_reset                        if refractory at t_{n+1} (bias and arrivals ignored)
    s  =  S(x),  x = (U - theta) / theta spike at t_{n+1}: H(x) forward, i.e. U >= theta fires
    V  <- U - (theta - v_reset) sd   (reset "subtract", the default)
          U (1 - sd) + v_reset sd    (reset "zero": V <- v_reset exactly)

with ``S`` a :class:`SurrogateSpike` (surrogate derivative backward; its smooth primitive forward
if ``spiking=False``; ``x = U - theta`` for the library presets with ``relative=False``), and
``sd = stop_gradient(s)`` if ``detach_reset`` (default) else ``s``. ``V_0 = J_0 = 0``. The
threshold and ``v_reset`` keep their gradients through the reset term in either case. The
subtractive reset keeps the overshoot, ``V = v_reset + (U - theta)``; ``"zero"`` is the
continuous model's ``V <- v_reset``. With ``bias = v_reset = 0``, ``tau_syn > 0`` and no
delays (model 1) this is the model-1 step on the model-1 code path (one weight matrix, no
arrival buffer): rasters, voltages and gradients bit for bit as before, but for the ``tau_mem``
gradient, which may differ in the last bit (the exact zero that the bias term ``G bias``
contributes joins it in another order).

Timing. Every event is delayed to the next grid point, never earlier (but for delays: rounding
``d_k`` to the nearest step can move an arrival up to ``dt / 2`` before ``g + d_k``; a delay on
the grid is exact): an input spike at ``g`` enters at ``t_{ceil(g/dt)}``; a neuron whose ``U``
reaches threshold at ``t_{n+1}`` (its exact crossing lies in ``(t_n, t_{n+1}]``) fires at
``t_{n+1}``, is reset at ``t_{n+1}``, and its spike enters its targets' currents at
``t_{n+1 + D}`` -- with ``D = 0`` the same step, like the continuous model's instantaneous
synapses; as ``h(0) = 0`` the spike first moves the targets' ``V`` at ``t_{n+2 + D}``. A delta
arrival at ``t_m`` moves ``V(t_m)`` itself and can fire the target at ``t_m``, as in the
continuous model; two arrivals the grid cannot see at their own point are moved one step later,
undecayed: those landing at ``t_0`` (the raster has no check at ``t = 0``: they count at
``t_1``) and zero-delay spikes of a neuron onto a delta-synapse neuron (a same-instant cascade:
``E_k = max(D_k, 1)``). So between events the grid model samples the exact continuous solution,
and with every event on the grid (delays, refractory periods and neuron spikes included, and no
reset overshoot) it is exact at the grid points.

Refractory period: ``r_i = round(t_ref_i / dt)`` steps (half up). After a spike at step ``n``,
``V`` is held at ``v_reset`` at steps ``n+1..n+r`` (no spike possible, no gradient through ``V``;
bias and delta arrivals are ignored, as in the continuous model, whose ``V`` is held on
``(f, f + t_ref]``) while ``J`` evolves and receives spikes; ``V`` is propagated again from
``v_reset`` at ``t_{n+r}``, matching the continuous release at ``f + t_ref`` to within a step. It
is triggered by ``U >= theta`` (also in the smooth mode).

Gradients (BPTT through the scan) reach ``weight``, ``threshold``, ``tau_mem``, ``tau_syn`` (of
current-synapse neurons; 0 for delta-synapse ones, a discrete kind), ``bias`` and ``v_reset``;
delays and refractory periods are whole steps on the grid (piecewise constant), so they have no
grid gradient (:func:`fpgrad.discrete.surrogate_gradient` reports zeros).

Outputs (:class:`DiscreteOutput`): the raster ``s`` and, optionally, the voltage ``U`` (the
pre-reset potential the threshold sees, ``v_reset`` while refractory), both ``(n_steps + 1, N)``
with row 0 (``t = 0``) all zeros, batched as ``(B, n_steps + 1, N)``. Time in ms.
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
from ._propagators import bias_factor, step_factors
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
        tau_mem: ``(N,)`` membrane time constants (ms), ``inf`` allowed.
        tau_syn: ``(N,)`` synaptic time constants (ms); ``0`` for delta-synapse neurons (which
            neurons those are is fixed by the network, not by these values).
        bias: ``(N,)`` constant input currents (V units per ms).
        v_reset: ``(N,)`` reset values.
    """

    weight: Array
    threshold: Array
    tau_mem: Array
    tau_syn: Array
    bias: Array
    v_reset: Array


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
        delay_steps: ``(K,)`` synaptic delays in steps, ``round(delay / dt)`` (half up).
    """

    network: Network
    dt: float
    n_steps: int
    params: DiscreteParams
    inputs: Array
    pre: Array = field(repr=False)
    post: Array = field(repr=False)
    ref_steps: Array = field(repr=False)
    delay_steps: Array = field(repr=False)

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
    delay_steps = _round_steps(network.delay, dt, n_steps)
    buffer_rows = int(
        _effective_delays(network, delay_steps)[network.pre >= network.n_inputs].max(initial=0)
    )
    buffer_rows = min(buffer_rows, n_steps - 1)  # later arrivals of a neuron's spikes never land
    check_allocation(
        dtype.itemsize
        * n_samples
        * (n_steps + 1.0)
        * (
            GRID_ARRAYS_PER_NEURON * (network.n_inputs + network.n_neurons)
            + buffer_rows * network.n_neurons
        ),
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
    ref_steps = _round_steps(network.t_ref, dt, n_steps)
    params = DiscreteParams(
        weight=jnp.asarray(network.weight, dtype),
        threshold=jnp.asarray(network.threshold, dtype),
        tau_mem=jnp.asarray(network.tau_mem, dtype),
        tau_syn=jnp.asarray(network.tau_syn, dtype),
        bias=jnp.asarray(network.bias, dtype),
        v_reset=jnp.asarray(network.v_reset, dtype),
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
        delay_steps=jnp.asarray(delay_steps),
    )


def _round_steps(duration: NDArray[np.float64], dt: float, n_steps: int) -> NDArray[np.int32]:
    """A duration (ms) in whole steps, ``round(d / dt)`` half up (``floor(d / dt + 1/2)``),
    capped at ``n_steps + 1`` (longer ones act alike on the grid: held to the end, or arriving
    after it)."""
    steps = np.minimum(np.floor(np.asarray(duration) / dt + 0.5), n_steps + 1)
    return steps.astype(np.int32)


def _effective_delays(network: Network, delay_steps: NDArray[np.int32]) -> NDArray[np.int32]:
    """``E_k``: the delay in steps, at least 1 from a neuron onto a delta-synapse neuron (a
    same-instant cascade the grid cannot resolve; module docstring)."""
    delta_target = network.tau_syn[network.post - network.n_inputs] == 0
    from_neuron = network.pre >= network.n_inputs
    return np.where(delta_target & from_neuron, np.maximum(delay_steps, 1), delay_steps).astype(
        np.int32
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
            recorded. Row 0 is ``V(0) = 0``; ``v_reset`` while refractory.
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
    such neurons compiles anew). ``delta``: the delta-synapse neurons (``tau_syn = 0``; empty:
    none). ``delays``: the distinct effective delays ``E`` in steps (module docstring), sorted,
    or ``()`` when they are all 0 (the model-1 path, one weight matrix and no arrival buffer);
    ``in_classes`` / ``rec_classes``: the positions in ``delays`` of the delays of the synapses
    from inputs / from neurons.
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
    delta: tuple[int, ...] = ()
    delays: tuple[int, ...] = ()
    in_classes: tuple[int, ...] = ()
    rec_classes: tuple[int, ...] = ()


def _run_single(
    params: DiscreteParams,
    pre: Array,
    post: Array,
    ref_steps: Array,
    delay_steps: Array,
    inputs: Array,
    opts: _Options,
) -> tuple[Array, Array | None]:
    n_inputs = inputs.shape[-1]
    n_neurons = params.threshold.shape[0]
    n_steps = inputs.shape[0] - 1
    dtype = params.threshold.dtype
    # recurrent block restricted to the neurons that send / receive neuron-to-neuron synapses
    # (for a layered network the next layer only, not N x N)
    src, dst = np.asarray(opts.rec_src, np.int32), np.asarray(opts.rec_dst, np.int32)
    is_delta = np.zeros(n_neurons, bool)
    is_delta[list(opts.delta)] = True
    has_delta = bool(opts.delta)
    w_now = w_later = None  # recurrent weights of the arrivals at t_{n+1} / later
    n_buffer = 0
    if not opts.delays:
        w = jnp.zeros((n_inputs + n_neurons, n_neurons), dtype).at[pre, post].add(params.weight)
        w_in, w_now = w[:n_inputs], w[n_inputs:][src[:, None], dst[None, :]]
        if has_delta:
            arrivals = inputs @ w_in  # (n_steps + 1, N): input arrivals at t_0..t_T
        else:
            drive = inputs[:n_steps] @ w_in  # (n_steps, N): current jumps at t_0..t_{T-1}
    else:
        delays = np.asarray(opts.delays, np.int32)
        eff = delay_steps
        if has_delta:
            onto_delta = (pre >= n_inputs) & jnp.asarray(is_delta)[post]
            eff = jnp.where(onto_delta, jnp.maximum(eff, 1), eff)
        cls = jnp.searchsorted(jnp.asarray(delays), eff)
        shape = (delays.size, n_inputs + n_neurons, n_neurons)
        w = jnp.zeros(shape, dtype).at[cls, pre, post].add(params.weight)  # W^(E) per delay
        arrivals = jnp.zeros((n_steps + 1, n_neurons), dtype)
        for c in opts.in_classes:  # an input spike at step m arrives at step m + E
            d = int(delays[c])
            if d <= n_steps:
                arrivals = arrivals.at[d:].add(inputs[: n_steps + 1 - d] @ w[c, :n_inputs])
        w_rec = w[:, n_inputs:][:, src[:, None], dst[None, :]]  # (classes, n_src, n_dst)
        now = [c for c in opts.rec_classes if delays[c] == 0]
        later = np.asarray([c for c in opts.rec_classes if delays[c] > 0], np.int64)
        w_now = w_rec[now[0]] if now else None
        if later.size:
            w_later = w_rec[later]
            later_rows = delays[later] - 1  # buffer row of an arrival E steps after its spike
            n_buffer = int(delays[later].max())
        if not has_delta:
            drive = arrivals[:n_steps]
    if has_delta:
        dmask = jnp.asarray(is_delta)
        drive = jnp.where(dmask, 0.0, arrivals[:n_steps])
        # delta arrivals at t_1..t_T, those at t_0 counted at t_1 (no threshold check at t = 0)
        jumps = jnp.where(dmask, arrivals[1:].at[0].add(arrivals[0]), 0.0)
    alpha, beta, h = step_factors(opts.dt, params.tau_syn, params.tau_mem)
    drift = params.bias * bias_factor(opts.dt, params.tau_mem)  # G bias
    theta, v_reset = params.threshold, params.v_reset
    sur = opts.surrogate

    def step(carry, xs):
        v, j, ref, *buffer = carry
        drive_n, jump_n = xs if has_delta else (xs, None)
        j = j + drive_n
        u = beta * v + h * j + drift
        j = alpha * j
        if has_delta:
            u = u + jump_n
            if n_buffer:
                u = u + jnp.where(dmask, buffer[0][0], 0.0)
        if opts.refractory:
            held = ref > 0
            u = jnp.where(held, v_reset, u)
        s = sur.spike(u, theta, opts.spiking)
        if opts.refractory:
            s = jnp.where(held, 0.0, s)
        sd = jax.lax.stop_gradient(s) if opts.detach_reset else s
        if opts.reset == "subtract":
            v = u - (theta - v_reset) * sd
        else:
            v = u * (1.0 - sd) + v_reset * sd
        if opts.refractory:
            fired = (jax.lax.stop_gradient(u) >= theta) & ~held
            ref = jnp.where(fired, ref_steps, jnp.maximum(ref - 1, 0))
        if w_now is not None and src.size:
            j = j.at[dst].add(s[src] @ w_now)
        if n_buffer:  # arrivals at t_{n+1} of earlier spikes; this step's spikes join the queue
            (buf,) = buffer
            j = j + (jnp.where(dmask, 0.0, buf[0]) if has_delta else buf[0])
            later_in = jnp.einsum("s,csd->cd", s[src], w_later)
            buf = jnp.concatenate([buf[1:], jnp.zeros_like(buf[:1])])
            buffer = [buf.at[later_rows[:, None], dst[None, :]].add(later_in)]
        return (v, j, ref, *buffer), ((s, u) if opts.record_voltage else s)

    zeros = jnp.zeros(n_neurons, dtype)
    init = (zeros, zeros, jnp.zeros(n_neurons, ref_steps.dtype))
    if n_buffer:
        init = (*init, jnp.zeros((n_buffer, n_neurons), dtype))
    _, out = jax.lax.scan(step, init, (drive, jumps) if has_delta else drive)
    s_seq, u_seq = out if opts.record_voltage else (out, None)
    first = zeros[None, :]
    raster = jnp.concatenate([first, s_seq], axis=0)
    voltage = None if u_seq is None else jnp.concatenate([first, u_seq], axis=0)
    return raster, voltage


@partial(jax.jit, static_argnames=("opts",))
def _run(params, pre, post, ref_steps, delay_steps, inputs, opts):
    fn = partial(_run_single, opts=opts)
    if inputs.ndim == 3:
        return jax.vmap(fn, in_axes=(None, None, None, None, None, 0))(
            params, pre, post, ref_steps, delay_steps, inputs
        )
    return fn(params, pre, post, ref_steps, delay_steps, inputs)


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
    eff = _effective_delays(net, np.asarray(dp.delay_steps))
    delays: tuple[int, ...] = ()
    in_classes: tuple[int, ...] = ()
    rec_classes: tuple[int, ...] = ()
    if np.any(eff):
        values = np.unique(eff)
        delays = tuple(int(d) for d in values)
        in_classes = tuple(int(c) for c in np.searchsorted(values, np.unique(eff[~rec])))
        # a neuron spikes at step 1 or later: arrivals E >= n_steps steps after it never land
        landing = np.unique(eff[rec & (eff < dp.n_steps)])
        rec_classes = tuple(int(c) for c in np.searchsorted(values, landing))
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
        delta=tuple(int(i) for i in np.flatnonzero(net.tau_syn == 0)),
        delays=delays,
        in_classes=in_classes,
        rec_classes=rec_classes,
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
        reset: ``"subtract"`` (``V <- U - (theta - v_reset) s``: ``v_reset`` plus the
            overshoot) or ``"zero"`` (``V <- U (1 - s) + v_reset s``: the continuous model's
            ``V <- v_reset``).
        detach_reset: stop the gradient through the spike in the reset term (the gradients of
            ``theta`` and ``v_reset`` through the reset are kept).
        record_voltage: also return the pre-reset potential ``U``.
        params: parameters to use instead of ``dp.params`` (same shapes; the synapse kind of
            each neuron, current or delta, stays that of ``dp.network``).
        inputs: input raster to use instead of ``dp.inputs`` (``(T+1, M)`` or ``(B, T+1, M)``).
    """
    opts = _options(dp, surrogate, spiking, reset, detach_reset, record_voltage)
    params = dp.params if params is None else DiscreteParams(*params)
    x = dp.inputs if inputs is None else jnp.asarray(inputs)
    if x.ndim not in (2, 3) or x.shape[-2:] != dp.inputs.shape[-2:]:
        raise ValueError(
            f"inputs: expected shape (..., {dp.n_steps + 1}, {dp.n_inputs}), got {x.shape}"
        )
    raster, voltage = _run(params, dp.pre, dp.post, dp.ref_steps, dp.delay_steps, x, opts)
    return DiscreteOutput(raster, voltage, dp.dt, dp.n_inputs)

"""The host side of the JAX bridge: NumPy and Numba only (no JAX here).

The JAX primitives of :mod:`fpgrad.jax._primitives` call three functions through
``jax.pure_callback``, each with every sample of a (possibly ``vmap``-ed) call at once:

* :func:`forward`: simulate each sample (``simulate_kernel``) and return the padded spike times
  ``(N, max_spikes)``, each neuron's spike count and the degeneracy margins;
* :func:`jvp`: forward mode (FP, ``forward_kernel``) along one or many tangent directions;
* :func:`vjp`: reverse mode (``reverse_kernel``) for one or many output cotangents.

Samples are split into contiguous chunks, one per thread of a persistent pool (the kernels
release the GIL), each chunk one Numba loop over its samples, as in the fused training path.
A differentiated call keeps its simulation records (the causality record of each sample) in a
small cache keyed by the content of its operands, so that the JVP or VJP that follows does not
simulate again; a miss (the cache holds :data:`CACHE_ENTRIES` calls, an entry is used once)
simulates again, with the same result.

Layouts (``nb`` samples, ``0``: an unbatched call; ``flags[i]``: operand ``i`` has a leading
sample axis): operands are the eight parameter groups of :data:`PARAM_GROUPS` and the padded input
times ``(n_inputs, L)``. Tangents have an optional leading direction axis, cotangents an optional
leading row axis (``jax.jacfwd`` / ``jax.jacrev`` batch them), then the optional sample axis.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._memory import check_allocation
from .._numba import jit
from .._problem import Network, ProblemError
from .._threads import thread_count
from ..event._kernel import STATUS_BUDGET, simulate_kernel
from ..event._simulate import (
    DEFAULT_MAX_SPIKES,
    CompiledNetwork,
    RunawayActivityError,
    compile_network,
)
from ..grad._forward import forward_kernel
from ..grad._params import GROUPS, _seeds
from ..grad._reverse import reverse_kernel

__all__ = [
    "CACHE_ENTRIES",
    "OPERANDS",
    "OVERFLOW",
    "PARAM_GROUPS",
    "Spec",
    "SpikeOverflowError",
    "callback_counts",
    "forward",
    "jvp",
    "pad_inputs",
    "vjp",
]

#: The parameter groups of the bridge, in the order of the issue's contract (the JAX operands).
PARAM_GROUPS: tuple[str, ...] = (
    "weight",
    "delay",
    "threshold",
    "tau_mem",
    "tau_syn",
    "bias",
    "v_reset",
    "t_ref",
)
#: The operands of the primitives: the parameter groups, then the padded input times.
OPERANDS: tuple[str, ...] = (*PARAM_GROUPS, "input_time")
INPUT = len(PARAM_GROUPS)
#: What to do with a neuron that fires more than ``max_spikes`` times.
OVERFLOW = ("raise", "truncate")
#: Differentiated calls whose records are kept for the JVP / VJP that follows.
CACHE_ENTRIES = 8


class SpikeOverflowError(RuntimeError):
    """A neuron fired more than ``max_spikes`` times (with ``overflow="raise"``)."""


@dataclass(frozen=True, eq=False)
class Spec:
    """What is fixed for one spike function: the network's topology (and the values of the
    groups not passed), the horizon, the output width, the overflow policy and the threads.
    Hashed by identity (a static parameter of the JAX primitives)."""

    network: Network
    t_max: float
    max_spikes: int
    overflow: str = "raise"
    n_threads: int | None = None
    _base: dict[str, tuple[int, ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.network, Network):
            raise ProblemError(f"network: expected a fpgrad.Network, got {type(self.network)}")
        t_max = float(self.t_max)
        if not math.isfinite(t_max) or t_max <= 0:
            raise ProblemError(f"t_max = {self.t_max!r} must be finite and > 0")
        object.__setattr__(self, "t_max", t_max)
        s = self.max_spikes
        if isinstance(s, bool) or not isinstance(s, int | np.integer) or s < 1:
            raise ProblemError(f"max_spikes: expected an integer >= 1, got {s!r}")
        object.__setattr__(self, "max_spikes", int(s))
        if self.overflow not in OVERFLOW:
            raise ProblemError(
                f"overflow: expected one of {', '.join(map(repr, OVERFLOW))}, got {self.overflow!r}"
            )
        thread_count(self.n_threads)  # validates
        net = self.network
        base = {g: (net.n_neurons,) for g in PARAM_GROUPS}
        base["weight"] = base["delay"] = (net.n_synapses,)
        object.__setattr__(self, "_base", base)

    def base_shape(self, group: str) -> tuple[int, ...]:
        """The shape of one sample's parameter group."""
        return self._base[group]


# ----------------------------------------------------------------------------- counters, cache

_LOCK = threading.Lock()
_COUNTS = {"forward": 0, "jvp": 0, "vjp": 0, "samples": 0, "cache_misses": 0}
_CACHE: OrderedDict[tuple, _Run] = OrderedDict()


def callback_counts() -> dict[str, int]:
    """How many host callbacks ran so far in this process: ``forward``, ``jvp``, ``vjp`` (one
    per call of the primitive, however many samples it holds), ``samples`` (samples simulated
    by ``forward``) and ``cache_misses`` (a JVP or VJP that had to simulate again)."""
    with _LOCK:
        return dict(_COUNTS)


def _count(name: str, n: int = 1) -> None:
    with _LOCK:
        _COUNTS[name] += n


def _key(spec: Spec, flags: tuple[bool, ...], nb: int, ops: Sequence[NDArray]) -> tuple:
    digest = hashlib.blake2b(digest_size=16)
    for x in ops:
        x = np.ascontiguousarray(x)
        digest.update(repr(x.shape).encode())
        digest.update(x.data)
    return (id(spec), flags, nb, digest.digest())


def _keep(key: tuple, run: _Run) -> None:
    with _LOCK:
        _CACHE[key] = run
        while len(_CACHE) > CACHE_ENTRIES:
            _CACHE.popitem(last=False)


def _take(key: tuple) -> _Run | None:
    with _LOCK:
        return _CACHE.pop(key, None)


# ----------------------------------------------------------------------------- inputs


def pad_inputs(trains: Sequence[Any], length: int | None = None) -> NDArray[np.float64]:
    """One sample's input spike trains as an ``(n_inputs, L)`` array padded with ``+inf``
    (``L``: the longest train, or ``length``)."""
    rows = [np.asarray(t, dtype=np.float64).reshape(-1) for t in trains]
    longest = max((r.size for r in rows), default=0)
    width = longest if length is None else int(length)
    if width < longest:
        raise ProblemError(f"length = {length}: a train has {longest} spikes")
    out = np.full((len(rows), width), np.inf)
    for j, r in enumerate(rows):
        out[j, : r.size] = r
    return out


@dataclass(frozen=True, eq=False)
class _Inputs:
    """The padded input times of ``S`` samples in the kernels' layout.

    ``perm[s, j]`` sorts row ``j`` of sample ``s`` (stable; ``+inf`` padding last); the first
    ``count[s, j]`` sorted entries are the spikes, whose flat index (``problem.inputs``
    flattened, input 0's spikes first) is ``offset[s, j] + k``. ``node``, ``time``, ``flat``:
    every sample's spikes sorted by ``(time, node)``, sample ``s`` at ``ptr[s]:ptr[s + 1]``.
    """

    perm: NDArray[np.int64]
    valid: NDArray[np.bool_]
    n_spikes: NDArray[np.int64]
    node: NDArray[np.int64]
    time: NDArray[np.float64]
    flat: NDArray[np.int64]
    ptr: NDArray[np.int64]

    def to_flat(self, s: int, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """``(..., M, L)`` values at the padded positions of sample ``s`` -> ``(..., n)`` in flat
        input-spike order (padding dropped)."""
        perm = np.broadcast_to(self.perm[s], x.shape)
        ordered = np.take_along_axis(x, perm, axis=-1)
        return ordered[..., self.valid[s]]

    def from_flat(self, s: int, g: NDArray[np.float64]) -> NDArray[np.float64]:
        """Inverse of :meth:`to_flat` for one vector: zeros at the padding."""
        ordered = np.zeros(self.valid.shape[1:])
        ordered[self.valid[s]] = g
        out = np.empty_like(ordered)
        np.put_along_axis(out, self.perm[s], ordered, axis=-1)
        return out


def _inputs(x: NDArray[np.float64]) -> _Inputs:
    """Check and lay out padded input times ``(S, M, L)`` (``+inf`` is padding; every other
    entry must be finite and ``>= 0``)."""
    bad = np.isnan(x) | (x < 0)
    if bad.any():
        s, j, k = (int(i) for i in np.argwhere(bad)[0])
        where = f"input_times[{j}, {k}]" + (f" of sample {s}" if x.shape[0] > 1 else "")
        raise ProblemError(
            f"{where} = {float(x[s, j, k])!r}: spike times must be >= 0 (+inf pads a train)"
        )
    n_samples = x.shape[0]
    perm = np.argsort(x, axis=2, kind="stable")
    ordered = np.take_along_axis(x, perm, axis=2)
    valid = np.isfinite(ordered)
    count = valid.sum(axis=2)
    offset = np.cumsum(count, axis=1) - count
    s_idx, j_idx, k_idx = np.nonzero(valid)  # row-major: sample, input, rank in the train
    time = ordered[s_idx, j_idx, k_idx]
    flat = offset[s_idx, j_idx] + k_idx
    order = np.lexsort((j_idx, time, s_idx))  # by sample, time, node; stable (flat order)
    ptr = np.zeros(n_samples + 1, np.int64)
    np.cumsum(count.sum(axis=1), out=ptr[1:])
    return _Inputs(
        perm=perm.astype(np.int64),
        valid=valid,
        n_spikes=count.sum(axis=1).astype(np.int64),
        node=np.ascontiguousarray(j_idx[order], dtype=np.int64),
        time=np.ascontiguousarray(time[order], dtype=np.float64),
        flat=np.ascontiguousarray(flat[order], dtype=np.int64),
        ptr=ptr,
    )


# ----------------------------------------------------------------------------- simulation


@jit
def _simulate_chunk(n_inputs, a, b, c, v_reset, delta, theta, t_ref, out_ptr, out_zend, out_post,
                    out_w, out_d, in_node, in_time, in_index, in_ptr, xs, t_max, budget,
                    width):  # fmt: skip
    """Simulate the samples whose inputs are ``xs`` (indices into ``in_ptr``) on one network.

    Returns the records of all of them concatenated (sample ``r`` at ``ev_ptr[r]:ev_ptr[r+1]``),
    each neuron's spike times ``(m, n, width)`` (``+inf`` padding), their record rows (-1:
    padding), each neuron's spike count (all spikes), the degeneracy margins ``(m, 6)`` and the
    first sample over the spike budget (-1: none).
    """
    m = xs.shape[0]
    n = b.shape[0]
    times = np.full((m, n, width), np.inf)
    slot = np.full((m, n, width), -1, np.int64)
    count = np.zeros((m, n), np.int64)
    deg = np.zeros((m, 6))
    ev_ptr = np.zeros(m + 1, np.int64)
    nodes = []
    tims = []
    inps = []
    ces = []
    cps = []
    bad = -1
    for r in range(m):
        lo = in_ptr[xs[r]]
        hi = in_ptr[xs[r] + 1]
        ev_node, ev_time, ev_input, ev_ce, ev_cp, status, _n, dg, _q = simulate_kernel(
            n_inputs, a, b, c, v_reset, delta, theta, t_ref, out_ptr, out_zend, out_post,
            out_w, out_d, in_node[lo:hi], in_time[lo:hi], in_index[lo:hi], t_max, budget,
        )  # fmt: skip
        if status == STATUS_BUDGET:
            bad = r
            break
        deg[r, 0], deg[r, 1], deg[r, 2] = dg[0], dg[1], dg[2]
        deg[r, 3], deg[r, 4], deg[r, 5] = dg[3], dg[4], dg[5]
        for e in range(ev_node.shape[0]):
            if ev_input[e] < 0:
                i = ev_node[e] - n_inputs
                k = count[r, i]
                if k < width:
                    times[r, i, k] = ev_time[e]
                    slot[r, i, k] = e
                count[r, i] = k + 1
        ev_ptr[r + 1] = ev_ptr[r] + ev_node.shape[0]
        nodes.append(ev_node)
        tims.append(ev_time)
        inps.append(ev_input)
        ces.append(ev_ce)
        cps.append(ev_cp)
    total = ev_ptr[len(nodes)]
    ev_node = np.empty(total, np.int64)
    ev_time = np.empty(total)
    ev_input = np.empty(total, np.int64)
    ev_ce = np.empty(total, np.int64)
    ev_cp = np.empty(total, np.int64)
    for r in range(len(nodes)):
        lo = ev_ptr[r]
        hi = ev_ptr[r + 1]
        ev_node[lo:hi] = nodes[r]
        ev_time[lo:hi] = tims[r]
        ev_input[lo:hi] = inps[r]
        ev_ce[lo:hi] = ces[r]
        ev_cp[lo:hi] = cps[r]
    return ev_node, ev_time, ev_input, ev_ce, ev_cp, ev_ptr, times, slot, count, deg, bad


@jit
def _reverse_chunk(n_inputs, a, b, c, v_reset, delta, theta, t_ref, out_ptr, out_zend, out_post,
                   out_w, out_d, out_syn, ev_node, ev_time, ev_input, ev_ce, ev_cp, ev_ptr, slot,
                   ct, n_in, t_max, with_taus, with_taum, with_bias, keep):  # fmt: skip
    """Reverse mode for the samples of one :func:`_simulate_chunk` (its records, rows ``slot``)
    and cotangent rows ``ct`` ``(R, m, n, width)`` (entries at the padding ignored; a row that is
    zero at every spike is skipped). Groups in :data:`~fpgrad.GROUPS` order but ``input_time``:
    ``keep[g]`` keeps the samples apart (``per[g]``: ``(R, m, size)``), else they are summed
    (``total[g]``: ``(R, size)``); the input-time cotangents, flat per sample, are ``g_in``
    ``(R, sum(n_in))``."""
    n_rows = ct.shape[0]
    m = slot.shape[0]
    n = b.shape[0]
    n_syn = out_w.shape[0]
    sizes = (n_syn, n, n, n, n_syn, n, n, n)
    total = [np.zeros((n_rows, sz)) for sz in sizes]
    per = [np.zeros((n_rows, m if keep[g] else 0, sizes[g])) for g in range(8)]
    in_off = np.zeros(m + 1, np.int64)
    for r in range(m):
        in_off[r + 1] = in_off[r] + n_in[r]
    g_in = np.zeros((n_rows, in_off[m]))
    width = slot.shape[2]
    for r in range(m):
        lo = ev_ptr[r]
        hi = ev_ptr[r + 1]
        for q in range(n_rows):
            lam_f = np.zeros(hi - lo)
            hit = False
            for i in range(n):
                for k in range(width):
                    e = slot[r, i, k]
                    if e >= 0 and ct[q, r, i, k] != 0.0:
                        lam_f[e] = ct[q, r, i, k]
                        hit = True
            if not hit:
                continue
            gw, gin, gth, gtm, gts, gd, gc, gvr, gtr = reverse_kernel(
                n_inputs, a, b, c, v_reset, delta, theta, t_ref, out_ptr, out_zend, out_post,
                out_w, out_d, out_syn, ev_node[lo:hi], ev_time[lo:hi], ev_input[lo:hi],
                ev_ce[lo:hi], ev_cp[lo:hi], t_max, n_in[r], lam_f, with_taus, with_taum,
                with_bias,
            )  # fmt: skip
            for k in range(n_in[r]):
                g_in[q, in_off[r] + k] = gin[k]
            groups = (gw, gth, gtm, gts, gd, gc, gvr, gtr)
            for g in range(8):
                if keep[g]:
                    per[g][q, r, :] = groups[g]
                else:
                    total[g][q, :] += groups[g]
    return total, per, g_in


#: :func:`_reverse_chunk`'s groups (:data:`~fpgrad.GROUPS` without ``input_time``).
_CHUNK_GROUPS = tuple(g for g in GROUPS if g != "input_time")


@dataclass(eq=False)
class _Chunk:
    """The simulation of samples ``lo:hi`` on one network (the outputs of
    :func:`_simulate_chunk`)."""

    lo: int
    hi: int
    net: CompiledNetwork
    xs: NDArray[np.int64]
    record: tuple  # ev_node, ev_time, ev_input, ev_ce, ev_cp, ev_ptr

    def rows(self, s: int) -> tuple:
        """Sample ``s``'s record, the arguments of the gradient kernels after the network."""
        ptr = self.record[5]
        span = slice(ptr[s - self.lo], ptr[s - self.lo + 1])
        return tuple(x[span] for x in self.record[:5])


@dataclass(eq=False)
class _Run:
    """The simulation of every sample of one call: chunks, inputs and the padded outputs."""

    chunks: list[_Chunk]
    inputs: _Inputs
    shared_inputs: bool
    slots: NDArray[np.int64]
    times: NDArray[np.float64]
    counts: NDArray[np.int64]
    deg: NDArray[np.float64]

    def chunk(self, s: int) -> _Chunk:
        return next(c for c in self.chunks if c.lo <= s < c.hi)

    def xs(self, s: int) -> int:
        """Sample ``s``'s index into :attr:`inputs`."""
        return 0 if self.shared_inputs else s


def _operand(ops: Sequence[NDArray], flags: tuple[bool, ...], i: int, s: int) -> NDArray:
    return ops[i][s] if flags[i] else ops[i]


def _networks(spec: Spec, flags: tuple[bool, ...], ops: Sequence[NDArray], n: int) -> list:
    per_sample = any(flags[:INPUT])
    nets = []
    for s in range(n if per_sample else 1):
        values = {g: np.asarray(_operand(ops, flags, i, s)) for i, g in enumerate(PARAM_GROUPS)}
        try:
            network = spec.network.replace(**values)
        except ProblemError as err:
            raise ProblemError(f"params{f' of sample {s}' if per_sample else ''}: {err}") from None
        nets.append(compile_network(network))
    return nets


_POOL: dict[int, ThreadPoolExecutor] = {}


def _map(fn: Any, items: list, n_threads: int | None) -> list:
    """``[fn(x) for x in items]`` on a persistent pool of ``n_threads`` threads (the kernels
    release the GIL); one item runs in the calling thread."""
    workers = min(thread_count(n_threads), len(items))
    if workers <= 1:
        return [fn(x) for x in items]
    with _LOCK:
        pool = _POOL.get(workers)
        if pool is None:
            pool = _POOL[workers] = ThreadPoolExecutor(workers, thread_name_prefix="fpgrad-jax")
    return list(pool.map(fn, items))


def _spans(n: int, per_sample: bool, n_threads: int | None) -> list[tuple[int, int]]:
    """Contiguous sample ranges, one per thread (one per sample with per-sample networks)."""
    if per_sample:
        return [(s, s + 1) for s in range(n)]
    n_chunks = max(1, min(thread_count(n_threads), n))
    return [(int(c[0]), int(c[-1]) + 1) for c in np.array_split(np.arange(n), n_chunks)]


def _simulate(spec: Spec, flags: tuple[bool, ...], nb: int, ops: Sequence[NDArray]) -> _Run:
    n = max(nb, 1)
    x = np.asarray(ops[INPUT], dtype=np.float64)
    shared_inputs = not flags[INPUT]
    inputs = _inputs(x[None] if shared_inputs else x)
    nets = _networks(spec, flags, ops, n)
    n_inputs = spec.network.n_inputs
    width = spec.max_spikes
    all_xs = np.zeros(n, np.int64) if shared_inputs else np.arange(n, dtype=np.int64)

    def run(span: tuple[int, int]) -> tuple:
        lo, hi = span
        net = nets[lo if len(nets) > 1 else 0]
        xs = all_xs[lo:hi]
        out = _simulate_chunk(*net.simulation_args, inputs.node, inputs.time, inputs.flat,
                              inputs.ptr, xs, spec.t_max, DEFAULT_MAX_SPIKES, width)  # fmt: skip
        return _Chunk(lo, hi, net, xs, out[:6]), out[6:]

    parts = _map(run, _spans(n, len(nets) > 1, spec.n_threads), spec.n_threads)
    for chunk, (*_, bad) in parts:
        if bad >= 0:
            s = chunk.lo + int(bad)
            raise RunawayActivityError(
                f"runaway activity{f' in sample {s}' if nb else ''}: more than "
                f"{DEFAULT_MAX_SPIKES} neuron spikes; check the weights"
            )
    times, slots, counts, deg = (np.concatenate([p[1][q] for p in parts]) for q in range(4))
    if spec.overflow == "raise" and counts.max(initial=0) > width:
        s, i = (int(v) for v in np.argwhere(counts > width)[0])
        raise SpikeOverflowError(
            f"neuron {n_inputs + i} fired {counts[s, i]} times on [0, {spec.t_max:g}] ms"
            f"{f' in sample {s}' if nb else ''}, more than max_spikes={width}: raise "
            "max_spikes, or pass overflow='truncate' to keep each neuron's first max_spikes "
            "spikes (SpikeInfo.n_spikes counts them all)"
        )
    for col in (1, 4):  # kernel neuron index -> global node id (-1: none)
        deg[:, col] = np.where(deg[:, col] >= 0, deg[:, col] + n_inputs, -1.0)
    return _Run(
        chunks=[p[0] for p in parts],
        inputs=inputs,
        shared_inputs=shared_inputs,
        slots=slots,
        times=times,
        counts=counts,
        deg=deg,
    )


def _squeeze(x: NDArray, nb: int) -> NDArray:
    return x if nb else x[0]


def forward(spec: Spec, flags: tuple[bool, ...], nb: int, keep: bool, *ops: NDArray) -> tuple:
    """Padded spike times ``(nb?, N, max_spikes)``, spike counts ``(nb?, N)`` and degeneracy
    margins ``(nb?, 6)`` of every sample; ``keep``: cache the records for a JVP / VJP."""
    _count("forward")
    run = _simulate(spec, flags, nb, ops)
    _count("samples", max(nb, 1))
    if keep:
        _keep(_key(spec, flags, nb, ops), run)
    return _squeeze(run.times, nb), _squeeze(run.counts, nb), _squeeze(run.deg, nb)


def _records(spec: Spec, flags: tuple[bool, ...], nb: int, ops: Sequence[NDArray]) -> _Run:
    run = _take(_key(spec, flags, nb, ops))
    if run is None:
        _count("cache_misses")
        run = _simulate(spec, flags, nb, ops)
    return run


def _sizes(spec: Spec, n_input_spikes: int) -> dict[str, int]:
    net = spec.network
    sizes = {g: net.n_neurons for g in GROUPS}
    sizes["weight"] = sizes["delay"] = net.n_synapses
    sizes["input_time"] = int(n_input_spikes)
    return sizes


# ----------------------------------------------------------------------------- forward mode


def jvp(spec: Spec, flags: tuple[bool, ...], nb: int, live: tuple[int, ...],
        tflags: tuple[tuple[bool, bool], ...], nd: int, _times: NDArray,
        *args: NDArray) -> tuple:  # fmt: skip
    """Tangents ``(nd?, nb?, N, max_spikes)`` of the padded spike times along the tangents of
    the operands ``live`` (``tflags[k] = (sample axis, direction axis)`` of tangent ``k``): one
    forward-mode pass per sample with one column per direction (zeros at the padding)."""
    _count("jvp")
    ops, tangents = args[: len(OPERANDS)], args[len(OPERANDS) :]
    run = _records(spec, flags, nb, ops)
    n, n_dir = max(nb, 1), max(nd, 1)
    out = np.zeros((n_dir, n, *run.times.shape[1:]))

    def one(chunk: _Chunk, s: int) -> None:
        inputs, xs = run.inputs, run.xs(s)
        blocks = {}
        for k, i in enumerate(live):
            t = np.asarray(tangents[k], dtype=np.float64)
            sample, direction = tflags[k]
            if direction and sample:
                t = t[:, s]
            elif sample:
                t = t[s]
            stack = t if direction else np.broadcast_to(t, (n_dir, *t.shape))
            if i == INPUT:
                stack = inputs.to_flat(xs, stack)
            rows, cols = np.nonzero(stack.T)
            blocks[OPERANDS[i]] = (rows, cols, stack.T[rows, cols])
        record = chunk.rows(s)
        check_allocation(
            8.0 * n_dir * (record[0].shape[0] + 2 * spec.network.n_neurons),
            f"the forward-mode JVP of {record[0].shape[0]} spikes x {n_dir} directions",
            "use reverse mode (jax.grad, jax.vjp) or fewer directions at once",
        )
        seeds = _seeds(_sizes(spec, inputs.n_spikes[xs]), blocks, n_dir, None)
        df = forward_kernel(*chunk.net.gradient_args, *record, spec.t_max, *seeds.kernel_args())
        slot = run.slots[s]
        hit = slot >= 0
        out[:, s][:, hit] = df[slot[hit]].T

    _map(lambda c: [one(c, s) for s in range(c.lo, c.hi)], run.chunks, spec.n_threads)
    if not nb:
        out = out[:, 0]
    return (out if nd else out[0],)


# ----------------------------------------------------------------------------- reverse mode


def vjp(spec: Spec, flags: tuple[bool, ...], nb: int, want: tuple[int, ...],
        oflags: tuple[tuple[bool, bool], ...], nc: int, _times: NDArray,
        *args: NDArray) -> tuple:  # fmt: skip
    """Cotangents of the operands ``want`` from cotangents ``ct`` ``(nc?, nb?, N, max_spikes)``
    of the padded spike times: one reverse pass per sample and cotangent row (rows that are zero
    at every spike are skipped), summed over the samples inside the kernel where the output has
    no sample axis. ``oflags[k] = (sample axis, row axis)`` of output ``k``. Entries of ``ct`` at
    the padding are ignored."""
    _count("vjp")
    ops, ct = args[: len(OPERANDS)], np.asarray(args[len(OPERANDS)], dtype=np.float64)
    run = _records(spec, flags, nb, ops)
    n = max(nb, 1)
    ct = ct.reshape((max(nc, 1), n, *run.times.shape[1:]))
    names = [OPERANDS[i] for i in want]
    with_taus, with_taum, with_bias = (g in names for g in ("tau_syn", "tau_mem", "bias"))
    keep_of = {g: oflags[k][0] for k, g in enumerate(names)}
    keep = np.array([keep_of.get(g, False) for g in _CHUNK_GROUPS])

    def chunk(c: _Chunk) -> tuple:
        return _reverse_chunk(
            *c.net.gradient_args, *c.record, run.slots[c.lo : c.hi],
            np.ascontiguousarray(ct[:, c.lo : c.hi]), run.inputs.n_spikes[c.xs], spec.t_max,
            with_taus, with_taum, with_bias, keep,
        )  # fmt: skip

    parts = _map(chunk, run.chunks, spec.n_threads)
    out = []
    for k, g in enumerate(names):
        sample, row = oflags[k]
        if g == "input_time":
            value = _input_cotangents(run, parts, sample)
        elif sample:
            value = np.concatenate([p[1][_CHUNK_GROUPS.index(g)] for p in parts], axis=1)
        else:
            q = _CHUNK_GROUPS.index(g)
            value = parts[0][0][q].copy()
            for p in parts[1:]:
                value += p[0][q]
        out.append(value if row else value.sum(axis=0))
    return tuple(out)


def _input_cotangents(run: _Run, parts: list, sample: bool) -> NDArray[np.float64]:
    """The padded ``(R, [n,] M, L)`` input-time cotangents from the chunks' flat ones."""
    rows = []
    for c, (_, _, g_in) in zip(run.chunks, parts, strict=True):
        start = 0
        for s in range(c.lo, c.hi):
            xs = run.xs(s)
            size = int(run.inputs.n_spikes[xs])
            rows.append(
                np.stack([run.inputs.from_flat(xs, g) for g in g_in[:, start : start + size]])
            )
            start += size
    stacked = np.stack(rows, axis=1)  # (R, n, M, L)
    return stacked if sample else stacked.sum(axis=1)

"""Python entry points of the event-driven simulator: one problem, or a batch on all cores."""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._numba import jit
from .._problem import Network, Problem, ProblemError, TrainBatch, check_t_max, merge_trains
from .._threads import map_threads
from ._kernel import STATUS_BUDGET, simulate_kernel
from ._result import Degeneracy, SimulationResult

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["DEFAULT_MAX_SPIKES", "RunawayActivityError", "simulate", "simulate_batch"]

DEFAULT_MAX_SPIKES = 1_000_000
#: The largest spike budget (a record of that many spikes would not fit in any memory anyway).
MAX_SPIKES_LIMIT = 2**62


class RunawayActivityError(RuntimeError):
    """The network produced more spikes than the ``max_spikes`` budget allows."""


@dataclass(frozen=True)
class CompiledNetwork:
    """A network's arrays in the layout of the kernels: CSR outgoing synapses by source node,
    sorted by delay within a source (stable, so synapses of one source and delay keep their
    file order; without delays the order is the file order).

    ``out_syn[p]`` is the file index of the synapse at CSR position ``p``; ``out_zend[node]``
    ends the zero-delay synapses of ``node``. ``a`` is ``1/tau_syn`` (``inf`` for delta-synapse
    neurons, never used there), ``delta`` marks them. :attr:`simulation_args` and
    :attr:`gradient_args` are the leading arguments of the simulation and gradient kernels,
    built here only.
    """

    n_inputs: int
    a: NDArray[np.float64]
    b: NDArray[np.float64]
    c: NDArray[np.float64]
    v_reset: NDArray[np.float64]
    delta: NDArray[np.bool_]
    theta: NDArray[np.float64]
    t_ref: NDArray[np.float64]
    out_ptr: NDArray[np.int64]
    out_zend: NDArray[np.int64]
    out_post: NDArray[np.int64]
    out_w: NDArray[np.float64]
    out_d: NDArray[np.float64]
    out_syn: NDArray[np.int64]
    syn_pos: NDArray[np.int64]

    def record_args(self, result: SimulationResult) -> tuple:
        """The record arguments of the gradient kernels: ``(ev_node, ev_time, ev_input,
        ev_cause_e, ev_cause_p, t_max)`` (causes as CSR positions)."""
        cause = result.record_cause_synapse
        cause_p = np.full(cause.shape, -1, np.int64)
        cause_p[cause >= 0] = self.syn_pos[cause[cause >= 0]]
        return (result.record_node, result.record_time, result.record_input,
                result.record_cause, cause_p, result.problem.t_max)  # fmt: skip

    @property
    def simulation_args(self) -> tuple:
        """The network arguments of :func:`~fpgrad.event._kernel.simulate_kernel`."""
        return (self.n_inputs, self.a, self.b, self.c, self.v_reset, self.delta, self.theta,
                self.t_ref, self.out_ptr, self.out_zend, self.out_post, self.out_w,
                self.out_d)  # fmt: skip

    @property
    def gradient_args(self) -> tuple:
        """:attr:`simulation_args` plus ``out_syn``: the network arguments of the forward and
        reverse gradient kernels."""
        return (*self.simulation_args, self.out_syn)


# A Network is immutable (frozen, read-only arrays), so its kernel layout is computed once and
# shared by the simulation, the gradient engines and every sample of a batch.
_COMPILED: weakref.WeakKeyDictionary[Network, CompiledNetwork] = weakref.WeakKeyDictionary()


def compile_network(network: Network) -> CompiledNetwork:
    """Arrange ``network`` for the kernels (memoised per ``Network`` object)."""
    compiled = _COMPILED.get(network)
    if compiled is None:
        compiled = _COMPILED[network] = _layout(network)
    return compiled


def _layout(network: Network) -> CompiledNetwork:
    order = np.lexsort((network.delay, network.pre))  # by source, then delay; stable
    counts = np.bincount(network.pre, minlength=network.n_nodes)
    out_ptr = np.zeros(network.n_nodes + 1, np.int64)
    np.cumsum(counts, out=out_ptr[1:])
    out_d = network.delay[order].copy()
    zero_counts = np.bincount(network.pre[network.delay == 0], minlength=network.n_nodes)
    delta = network.tau_syn == 0
    with np.errstate(divide="ignore"):
        a = 1.0 / network.tau_syn
    return CompiledNetwork(
        n_inputs=network.n_inputs,
        a=a,
        b=1.0 / network.tau_mem,
        c=np.ascontiguousarray(network.bias),
        v_reset=np.ascontiguousarray(network.v_reset),
        delta=delta,
        theta=np.ascontiguousarray(network.threshold),
        t_ref=np.ascontiguousarray(network.t_ref),
        out_ptr=out_ptr,
        out_zend=(out_ptr[:-1] + zero_counts).astype(np.int64),
        out_post=(network.post[order] - network.n_inputs).astype(np.int64),
        out_w=network.weight[order].copy(),
        out_d=out_d,
        out_syn=order.astype(np.int64),
        syn_pos=np.argsort(order).astype(np.int64),
    )


def merge_inputs(inputs: Sequence[NDArray[np.float64]]) -> tuple[NDArray, NDArray, NDArray]:
    """All input spikes of validated float64 trains (``Problem.inputs``) sorted by ``(time,
    node)``: ``(node, time, flat index)``."""
    if not len(inputs):
        return np.empty(0, np.int64), np.empty(0), np.empty(0, np.int64)
    bounds = np.zeros(len(inputs) + 1, np.int64)
    np.cumsum(np.fromiter(map(len, inputs), np.int64, len(inputs)), out=bounds[1:])
    return merge_trains(np.concatenate(inputs), bounds, len(inputs))


def _check_budget(max_spikes: int) -> int:
    if (
        isinstance(max_spikes, bool)
        or not isinstance(max_spikes, int | np.integer)
        or not 0 <= max_spikes <= MAX_SPIKES_LIMIT
    ):
        raise ProblemError(
            f"max_spikes: expected an integer in [0, {MAX_SPIKES_LIMIT}], got {max_spikes!r}"
        )
    return int(max_spikes)


@jit
def _spike_lists(ev_node, ev_time, ev_input, ev_cause_p, out_syn):
    """From a kernel's record: the neuron spikes sorted by ``(time, node)`` (stably, as
    ``np.lexsort``), as ``(node, time, record row)``, and the file index of each row's causing
    synapse (``-1`` stays ``-1``). The record is in causal order, which is time order up to
    exact ties, so an insertion sort finishes in one pass but for those ties."""
    n_ev = ev_node.shape[0]
    rows = np.empty(n_ev, np.int64)
    n = 0
    for e in range(n_ev):
        if ev_input[e] < 0:
            k = n
            while k > 0 and (
                ev_time[rows[k - 1]] > ev_time[e]
                or (ev_time[rows[k - 1]] == ev_time[e] and ev_node[rows[k - 1]] > ev_node[e])
            ):
                rows[k] = rows[k - 1]
                k -= 1
            rows[k] = e
            n += 1
    rows = rows[:n].copy()
    node = np.empty(n, np.int64)
    time = np.empty(n)
    for k in range(n):
        node[k] = ev_node[rows[k]]
        time[k] = ev_time[rows[k]]
    cause_syn = np.full(n_ev, -1, np.int64)
    for e in range(n_ev):
        if ev_cause_p[e] >= 0:
            cause_syn[e] = out_syn[ev_cause_p[e]]
    return node, time, rows, cause_syn


def _global_id(neuron: int, n_inputs: int) -> int:
    """The global node id of kernel neuron index ``neuron`` (``-1``, none, stays ``-1``)."""
    return neuron + n_inputs if neuron >= 0 else -1


def _run(
    problem: Problem,
    net: CompiledNetwork,
    max_spikes: int,
    merged: tuple[NDArray, NDArray, NDArray] | None = None,
) -> SimulationResult:
    """Simulate ``problem`` (its inputs already merged as ``merged``, if given)."""
    in_node, in_time, in_index = merge_inputs(problem.inputs) if merged is None else merged
    ev_node, ev_time, ev_input, cause_e, cause_p, status, n_syn, deg, in_flight = simulate_kernel(
        *net.simulation_args,
        in_node,
        in_time,
        in_index,
        problem.t_max,
        max_spikes,
    )
    if status == STATUS_BUDGET:
        raise RunawayActivityError(
            f"runaway activity: more than max_spikes={max_spikes} neuron spikes before "
            f"t={ev_time[-1] if ev_time.size else 0.0:.6g} ms (t_max={problem.t_max}); check the "
            "weights (strong recurrent excitation?) or raise max_spikes"
        )
    node, time, rows, cause_syn = _spike_lists(ev_node, ev_time, ev_input, cause_p, net.out_syn)
    n_inputs = problem.network.n_inputs
    return SimulationResult(
        problem=problem,
        spike_node=node,
        spike_time=time,
        record_node=ev_node,
        record_time=ev_time,
        record_input=ev_input,
        spike_record_index=rows,
        record_cause=cause_e,
        record_cause_synapse=cause_syn,
        n_synaptic_events=int(n_syn),
        max_in_flight=int(in_flight),
        degeneracy=kernel_degeneracy(deg, n_inputs),
    )


def kernel_degeneracy(deg: tuple, n_inputs: int) -> Degeneracy:
    """The :class:`Degeneracy` report from the kernels' tuple ``(min_gap, gap_neuron, gap_time,
    min_slope, slope_neuron, slope_time)`` (neurons as kernel indices)."""
    return Degeneracy(
        min_peak_gap=float(deg[0]),
        peak_gap_neuron=_global_id(int(deg[1]), n_inputs),
        peak_gap_time=float(deg[2]),
        min_crossing_slope=float(deg[3]),
        crossing_slope_neuron=_global_id(int(deg[4]), n_inputs),
        crossing_slope_time=float(deg[5]),
    )


def simulate(problem: Problem, *, max_spikes: int = DEFAULT_MAX_SPIKES) -> SimulationResult:
    """Simulate ``problem`` exactly on ``[0, t_max]`` (event-driven, no time grid).

    Spike times are the roots of ``V_i(t) = theta_i`` refined to float64 precision; every
    crossing is found (closed-form extremum test, docs/model.md §1).

    Raises:
        RunawayActivityError: more than ``max_spikes`` neuron spikes.
    """
    if not isinstance(problem, Problem):
        raise ProblemError(f"expected a Problem, got {type(problem).__name__}")
    return _run(problem, compile_network(problem.network), _check_budget(max_spikes))


def simulate_batch(
    network: Network,
    inputs: Sequence[Sequence[ArrayLike]],
    t_max: float,
    *,
    max_spikes: int = DEFAULT_MAX_SPIKES,
    n_threads: int | None = None,
    client: Client | str | None = None,
) -> list[SimulationResult]:
    """Simulate one network on many input samples, in parallel threads (default: all cores).

    ``inputs[s]`` holds the spike trains of sample ``s`` (one per input node). The kernel
    releases the GIL, so threads run on separate cores. With ``client`` (a
    ``dask.distributed.Client`` or a scheduler address, the ``dask`` extra) the samples are
    simulated in chunks on the cluster's workers (:mod:`fpgrad._distributed`); the results are
    the same, bit for bit and in the same order, each pointing at the caller's ``network``.
    """
    budget = _check_budget(max_spikes)
    if not isinstance(network, Network):
        raise ProblemError(f"network: expected a Network, got {type(network).__name__}")
    data = TrainBatch.of(network.n_inputs, inputs, batch=True)
    t_max = check_t_max(t_max)
    problems = [Problem.from_batch(network, data, s, t_max) for s in range(data.n_samples)]
    if client is None:
        net = compile_network(network)
        merged = data.merged()
        ptr = merged["ptr"].tolist()

        def run(s: int) -> SimulationResult:
            lo, hi = ptr[s], ptr[s + 1]
            own = (merged["node"][lo:hi], merged["time"][lo:hi], merged["flat"][lo:hi])
            return _run(problems[s], net, budget, own)

        return map_threads(run, range(len(problems)), n_threads)
    if not problems:
        return []
    from .._distributed import map_chunks

    results = map_chunks(
        client,
        _simulate_chunk,
        len(problems),
        lambda lo, hi: (tuple(p.inputs for p in problems[lo:hi]),),
        shared={"network": network},
        constants={"t_max": problems[0].t_max, "max_spikes": budget},
    )
    return [dataclasses.replace(r, problem=p) for r, p in zip(results, problems, strict=True)]


def _simulate_chunk(
    inputs: tuple[tuple[NDArray[np.float64], ...], ...],
    *,
    network: Network,
    t_max: float,
    max_spikes: int,
) -> list[SimulationResult]:
    """One chunk of a distributed :func:`simulate_batch`, on a worker."""
    net = compile_network(network)
    return [_run(Problem(network, sample, t_max), net, max_spikes) for sample in inputs]

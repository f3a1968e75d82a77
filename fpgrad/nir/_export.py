"""fpgrad network -> NIR graph, chosen so that :func:`fpgrad.nir.read_nir` reads it back exactly.

The neurons become neuron nodes, one per run of consecutive neurons of one kind (split where
a feedforward layer ends, :func:`_neuron_runs`): ``CubaLIF``
(``tau_syn > 0``; its ``tau_mem`` must be finite), ``LIF`` (``tau_syn = 0``, finite
``tau_mem``), ``IF`` (``tau_syn = 0``, ``tau_mem = inf``). The
synapses become paths ``source -> [Delay] -> Linear -> node`` (docs/model.md §6):

* a run of consecutive synapses that is exactly what one path makes on reading (a whole
  ``(n_post, n_pre)`` block from one node to another, presynaptic channel first) with one delay,
  or a delay per presynaptic or per postsynaptic channel, is one path (its ``Delay`` node before
  the matrix, or after it for per-postsynaptic delays);
* the other synapses are grouped by (source node, target node, delay, multiplicity: the ``m``-th
  synapse of a pair with that delay) into dense matrices, zero where a pair has no synapse.

Every matrix node carries ``metadata["fpgrad_synapse"]`` (module :mod:`._annotation`): the
fpgrad synapse index of each entry, ``-1`` for the padding zeros, so that reading the graph
builds exactly the network's synapses in its order (a foreign tool ignores the key and sees the
same dynamics in the dense matrices).

The NIR values are chosen for the import's float evaluation (module :mod:`._mapping`): the gain
is exactly 1 (``CubaLIF``: ``r = tau_mem`` in ms, ``w_in = tau_syn`` in the graph's unit;
``LIF``: ``r = tau``; ``IF``: ``r = 1``), so a matrix entry is the weight itself; a time ``x``
(ms) is written as a ``y`` with ``c * y == x`` in float64, the bias as a ``v_leak`` with
``v_leak / tau_mem == bias`` (an ``IF`` bias as an ``Affine`` bias ``B`` with
``(r / c) * B == bias``). Not every float64 has such a preimage (``c * y`` skips some values
for ``c = 1000``, a division by ``tau_mem`` some biases): then the nearest, whose result is one
ulp from ``x``, and the fields whose formula can round (times when ``c != 1``, ``CubaLIF`` /
``LIF`` biases, ``IF`` biases when ``c != 1``) carry the exact fpgrad values as node metadata
(``fpgrad_tau_syn``, ``fpgrad_tau_mem``, ``fpgrad_bias``, ``fpgrad_delay``, in ms; module
:mod:`._annotation`), which the import uses where they are within one ulp of the graph's
value. So the graph describes the dynamics to the last ulp for any tool, and reads back in
fpgrad bit for bit. A value with no NIR value within one ulp (``v_leak`` would overflow) is
rejected naming it.
``t_ref != 0`` (NIR has no refractory period) and a current-synapse perfect integrator (no NIR
node) are rejected. The last neuron node feeds the ``Output`` node. The neuron nodes are named
``layer_<k>`` with ``k`` zero-padded, so that their alphabetical order (the order in which
``nir.read`` returns the nodes of a file) is their order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._problem import Network, ProblemError
from ._annotation import PADDING, SYNAPSE_KEY, value_key, within_one_ulp
from ._nodes import check_time_unit, time_factor

__all__ = ["to_nir"]

#: How many ulps around the first guess a preimage is searched.
_SEARCH_ULPS = 4


def _around(guess: float) -> list[float]:
    """``guess`` and its float64 neighbours up to :data:`_SEARCH_ULPS` ulps away, nearest first."""
    out, up, down = [guess], guess, guess
    for _ in range(_SEARCH_ULPS):
        up, down = float(np.nextafter(up, np.inf)), float(np.nextafter(down, -np.inf))
        out += [up, down]
    return out


@dataclass
class _Writer:
    """The preimage search, naming what is written in its errors."""

    time_unit: str

    def solve(self, name: str, x: float, f: Callable[[float], float], guess: float) -> float:
        """A float64 ``y`` near ``guess`` with ``f(y) == x``, else one with ``f(y)`` one ulp
        from ``x`` (the annotation then holds ``x``); none within one ulp is an error."""
        candidates = _around(guess)
        results = [f(y) for y in candidates]
        for y, fy in zip(candidates, results, strict=True):
            if fy == x:
                return y
        for y, fy in zip(candidates, results, strict=True):
            if within_one_ulp(fy, x):
                return y
        raise ProblemError(
            f"to_nir: {name} = {x!r} has no float64 value in NIR that reads back within one ulp "
            f"of it (time unit {self.time_unit!r}; nearest found: {results[0]!r})"
        )

    def times(self, name: str, values: NDArray, c: float, first: int = 0) -> NDArray:
        """Graph-unit times ``y`` with ``c * y == values`` (ms) or one ulp from it; entry ``i``
        is named ``name[first + i]``."""
        return np.array(
            [
                self.solve(
                    f"{name}[{first + i}]", float(x), lambda y: float(c * np.float64(y)), x / c
                )
                for i, x in enumerate(values)
            ]
        )


def _kind(tau_syn: float, tau_mem: float) -> str:
    if tau_syn > 0:
        return "CubaLIF"
    return "LIF" if np.isfinite(tau_mem) else "IF"


def _neuron_runs(net: Network) -> list[tuple[str, int, int]]:
    """``(kind, start, stop)`` per neuron node: runs of consecutive neurons of one kind, split
    where a layer ends (neuron ``i`` listens to a neuron of the current run, and no neuron of
    the run listens to ``i`` or later: a feedforward step, so layered networks become one node
    per layer while a recurrent layer stays one node)."""
    m = net.n_inputs
    listens: list[list[int]] = [[] for _ in range(net.n_neurons)]
    for p, q in zip(net.pre.tolist(), net.post.tolist(), strict=True):
        if p >= m:
            listens[q - m].append(p - m)
    runs: list[tuple[str, int, int]] = []
    latest = -1  # the latest neuron any neuron of the current run listens to
    for i in range(net.n_neurons):
        kind = _kind(float(net.tau_syn[i]), float(net.tau_mem[i]))
        if runs and runs[-1][0] == kind:
            start = runs[-1][1]
            if not (any(start <= p < i for p in listens[i]) and latest < i):
                runs[-1] = (kind, start, i + 1)
                latest = max([latest, *listens[i]])
                continue
        runs.append((kind, i, i + 1))
        latest = max([-1, *listens[i]])
    return runs


def _check_exportable(net: Network) -> None:
    bad = np.flatnonzero(net.t_ref != 0)
    if bad.size:
        i = int(bad[0])
        raise ProblemError(
            f"to_nir: neurons.t_ref[{i}] = {float(net.t_ref[i])!r}: NIR has no refractory "
            "period (only t_ref = 0 can be exported)"
        )
    bad = np.flatnonzero((net.tau_syn > 0) & np.isinf(net.tau_mem))
    if bad.size:
        raise ProblemError(
            f"to_nir: neuron {int(bad[0])} has current synapses (tau_syn > 0) and tau_mem = inf: "
            "NIR has no such node (CubaLIF needs a finite tau_mem, IF has delta synapses)"
        )
    if net.n_neurons == 0:
        raise ProblemError("to_nir: the network has no neurons")


def _values(net: Network, sl: slice, fields: list[str]) -> dict[str, NDArray]:
    """The value annotations of neurons ``sl``: ``fpgrad_<field>`` -> the exact fpgrad values."""
    return {value_key(f): np.array(getattr(net, f)[sl], dtype=np.float64) for f in fields}


def _neuron_node(
    net: Network, kind: str, lo: int, hi: int, c: float, writer: _Writer, nir: Any
) -> tuple[Any, NDArray | None]:
    """The NIR node of neurons ``lo..hi-1`` and, for an ``IF`` node with a bias, the ``Affine``
    bias that carries it. The node's metadata annotates the fields whose import formula can
    round: the times if ``c != 1`` (``c * y``), a nonzero ``CubaLIF`` / ``LIF`` bias (a
    division), a nonzero ``IF`` bias if ``c != 1`` (``(1 / c) * B``)."""
    sl = slice(lo, hi)
    theta, reset = net.threshold[sl].copy(), net.v_reset[sl].copy()
    scaled = c != 1.0  # c * y rounds
    biased = bool(np.any(net.bias[sl]))  # 0 / tau and (1 / c) * 0 are exact

    def v_leak(tau_ms: NDArray) -> NDArray:
        return np.array(
            [
                writer.solve(
                    f"neurons.bias[{lo + k}]",
                    float(b),
                    lambda v, t=float(t): float(np.float64(v) / t),
                    float(b) * float(t),
                )
                for k, (b, t) in enumerate(zip(net.bias[sl], tau_ms, strict=True))
            ]
        )

    if kind == "CubaLIF":
        tau_mem = writer.times("neurons.tau_mem", net.tau_mem[sl], c, lo)
        tau_syn = writer.times("neurons.tau_syn", net.tau_syn[sl], c, lo)
        tau_ms = c * tau_mem
        return nir.CubaLIF(
            tau_syn=tau_syn,
            tau_mem=tau_mem,
            r=tau_ms.copy(),
            v_leak=v_leak(tau_ms),
            v_threshold=theta,
            v_reset=reset,
            w_in=tau_syn.copy(),
            metadata=_values(net, sl, ["tau_syn", "tau_mem"] * scaled + ["bias"] * biased),
        ), None
    if kind == "LIF":
        tau = writer.times("neurons.tau_mem", net.tau_mem[sl], c, lo)
        return nir.LIF(
            tau=tau,
            r=tau.copy(),
            v_leak=v_leak(c * tau),
            v_threshold=theta,
            v_reset=reset,
            metadata=_values(net, sl, ["tau_mem"] * scaled + ["bias"] * biased),
        ), None
    h = float(np.float64(1.0) / c)  # the import's r / c with r = 1
    bias = None
    if biased:
        bias = np.array(
            [
                writer.solve(
                    f"neurons.bias[{lo + k}]", float(b), lambda y: float(h * np.float64(y)), b * c
                )
                for k, b in enumerate(net.bias[sl])
            ]
        )
    metadata = _values(net, sl, ["bias"] * (biased and scaled))
    return nir.IF(r=np.ones(hi - lo), v_threshold=theta, v_reset=reset, metadata=metadata), bias


@dataclass
class _Block:
    """One path from ``source`` to ``target``: a matrix ``weight (n_post, n_pre)``, the fpgrad
    synapse of each entry (``synapse``, ``-1`` for padding: the ``fpgrad_synapse`` annotation)
    and delays (ms) before (``pre``) or after (``post``) it."""

    source: str
    target: str
    weight: NDArray
    synapse: NDArray[np.int64]
    delay: NDArray | None
    delay_side: str  # "pre" or "post"


def _node_of(net: Network, runs: list[tuple[str, int, int]], names: list[str]):
    """For each global node id: (node name, channel, node size)."""
    m = net.n_inputs
    where = [("input", j, m) for j in range(m)]
    for name, (_, lo, hi) in zip(names, runs, strict=True):
        where += [(name, i - lo, hi - lo) for i in range(lo, hi)]
    return where


def _exact_run(net: Network, k: int, where) -> tuple[int, _Block] | None:
    """The block starting at synapse ``k`` if the synapses ``k..`` are exactly one read-back
    path (a whole block, presynaptic channel first, delays per block or per channel side)."""
    src, j0, n_pre = where[net.pre[k]]
    dst, i0, n_post = where[net.post[k]]
    size = n_pre * n_post
    if j0 or i0 or k + size > net.n_synapses:
        return None
    first_pre, first_post = int(net.pre[k]), int(net.post[k])
    pre = net.pre[k : k + size].reshape(n_pre, n_post)
    post = net.post[k : k + size].reshape(n_pre, n_post)
    if np.any(pre != first_pre + np.arange(n_pre)[:, None]) or np.any(
        post != first_post + np.arange(n_post)[None, :]
    ):
        return None
    delay = net.delay[k : k + size].reshape(n_pre, n_post)
    if np.all(delay == delay[:, :1]):
        block_delay, side = delay[:, 0], "pre"
    elif np.all(delay == delay[:1, :]):
        block_delay, side = delay[0, :], "post"
    else:
        return None
    weight = net.weight[k : k + size].reshape(n_pre, n_post).T.copy()
    synapse = np.arange(k, k + size, dtype=np.int64).reshape(n_pre, n_post).T.copy()
    delay_or_none = block_delay if np.any(block_delay) else None
    return size, _Block(src, dst, weight, synapse, delay_or_none, side)


def _blocks(net: Network, where) -> list[_Block]:
    """The paths, in the order of their first synapse."""
    ordered: list[tuple[int, _Block]] = []
    loose: dict[tuple, tuple[int, _Block]] = {}
    seen: dict[tuple[int, int, float], int] = {}
    k = 0
    while k < net.n_synapses:
        run = _exact_run(net, k, where)
        if run is not None:
            ordered.append((k, run[1]))
            k += run[0]
            continue
        src, j, n_pre = where[net.pre[k]]
        dst, i, n_post = where[net.post[k]]
        d = float(net.delay[k])
        pair = (int(net.pre[k]), int(net.post[k]), d)
        multiplicity = seen.get(pair, 0)
        seen[pair] = multiplicity + 1
        key = (src, dst, d, multiplicity)
        if key not in loose:
            delay = np.full(n_pre, d) if d else None
            padding = np.full((n_post, n_pre), PADDING, dtype=np.int64)
            loose[key] = (k, _Block(src, dst, np.zeros((n_post, n_pre)), padding, delay, "pre"))
        loose[key][1].weight[i, j] = net.weight[k]
        loose[key][1].synapse[i, j] = k
        k += 1
    return [block for _, block in sorted([*ordered, *loose.values()], key=lambda x: x[0])]


def to_nir(network: Network, *, time_unit: str = "s") -> Any:
    """The NIR graph (``nir.NIRGraph``) of an fpgrad network, times in ``time_unit``.

    Reading it back (:func:`fpgrad.nir.read_nir` with the same ``time_unit``) gives the same
    network bit for bit, synapses in the same order (any order, sparse, several per pair: the
    ``fpgrad_synapse`` metadata of the matrix nodes records which entry is which synapse), so
    the same spikes and gradients. A time or bias that no float64 NIR value maps to exactly is
    written as the nearest (one ulp off in the graph's formula) with the exact value in the
    node's metadata (``fpgrad_tau_mem``, ...; module docstring), which :func:`read_nir` uses.
    """
    import nir

    if not isinstance(network, Network):
        raise ProblemError(f"to_nir: expected an fpgrad.Network, got {type(network).__name__}")
    c = time_factor(check_time_unit(time_unit))
    _check_exportable(network)
    writer = _Writer(time_unit)
    runs = _neuron_runs(network)
    width = len(str(len(runs) - 1))
    names = [f"layer_{idx:0{width}d}" for idx in range(len(runs))]
    nodes: dict[str, Any] = {"input": nir.Input(input_type=np.array([network.n_inputs]))}
    carried: dict[str, NDArray] = {}
    for name, (kind, lo, hi) in zip(names, runs, strict=True):
        nodes[name], bias = _neuron_node(network, kind, lo, hi, c, writer, nir)
        if bias is not None:
            carried[name] = bias
    edges: list[tuple[str, str]] = []
    where = _node_of(network, runs, names)
    for idx, block in enumerate(_blocks(network, where)):
        lin = f"linear_{idx}"
        bias = carried.pop(block.target, None) if block.delay_side == "pre" else None
        metadata = {SYNAPSE_KEY: block.synapse}
        if bias is None:
            nodes[lin] = nir.Linear(weight=block.weight, metadata=metadata)
        else:
            nodes[lin] = nir.Affine(weight=block.weight, bias=bias, metadata=metadata)
        chain = [lin]
        if block.delay is not None:
            delay = f"delay_{idx}"
            nodes[delay] = nir.Delay(
                delay=writer.times(f"synapses.delay ({lin})", block.delay, c),
                metadata={value_key("delay"): block.delay.copy()} if c != 1.0 else {},
            )
            chain = [delay, lin] if block.delay_side == "pre" else [lin, delay]
        edges += list(zip([block.source, *chain], [*chain, block.target], strict=True))
    if carried:
        name = next(iter(carried))
        raise ProblemError(
            f"to_nir: the IF neurons of {name} have a bias but no synapses to carry it (NIR's IF "
            "takes a constant current only from an Affine bias on an incoming path)"
        )
    targets = {dst for _, dst in edges}
    for name in names:
        if name not in targets:
            raise ProblemError(
                f"to_nir: neuron node {name} receives no synapses (NIR would give it an Input "
                "node of its own)"
            )
    nodes["output"] = nir.Output(output_type=np.array([nodes[names[-1]].v_threshold.shape[0]]))
    edges.append((names[-1], "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges)

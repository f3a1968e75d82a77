"""NIR graph -> fpgrad network (model 2), and gradients back in NIR's own parameters.

The mapping (docs/model.md §6), with ``c`` ms per graph time unit (:data:`TIME_UNITS`),
graph-unit time constants ``tau``, ``tau_ms = c tau``, and ``P`` the product of the matrix
entry and the ``Scale`` factors on a synapse's path:

* ``CubaLIF`` (``tau_syn I' = -I + w_in S``, ``tau_mem v' = v_leak - v + r I``): with
  ``J = r I / tau_mem`` it is fpgrad's current-synapse neuron: ``tau_syn``, ``tau_mem``,
  ``threshold = v_threshold``, ``v_reset``, ``bias = v_leak / tau_mem_ms``, and each synapse
  ``weight = g P`` with the gain ``g = (r / tau_mem_ms) (w_in / tau_syn)`` (a spike is a delta
  in the graph's unit: ``I`` jumps by ``w_in P / tau_syn``, ``J`` by that times
  ``r / tau_mem_ms``).
* ``LIF`` (``tau v' = v_leak - v + r I``, ``I`` the spikes as deltas plus an ``Affine`` bias
  ``B``): delta synapses, ``tau_mem = tau``, ``g = r / tau``, ``bias = v_leak / tau_ms +
  (r / tau_ms) B``.
* ``IF`` (``v' = r I``): ``tau_mem = inf``, delta synapses, ``g = r``, ``bias = (r / c) B``.
* ``delay = c * (sum of the Delay values on the path)``; input times and ``t_max`` times ``c``.
* With ``spike_area = a`` (the impulse of one spike in graph units: 1 in NIR's reading, the
  step ``dt`` of a discrete-time exporter) every synapse weight is ``g P a``.

A graph exported by :func:`fpgrad.nir.to_nir` carries the ``fpgrad_synapse`` annotation on
its matrices (module :mod:`._annotation`): only the annotated entries become synapses, in the
recorded order, and the chain rule gives a padding entry 0. Its value annotations
(``fpgrad_tau_syn``, ``fpgrad_tau_mem``, ``fpgrad_bias``, ``fpgrad_delay``) replace a time
constant, bias or delay computed above where the two are within one ulp (the export's
rounding), never otherwise (:func:`._annotation.resolved`). The chain rule is evaluated at the
graph's values: an annotated network value differs from them by at most one ulp, a relative
change of ``1e-16`` in the evaluation point, below the rounding of the gradient itself.

``t_ref = 0`` (NIR has no refractory period); NIR's initial state ``v = I = 0`` is fpgrad's.
The floats are evaluated in exactly this order (``g`` first, then ``g * P``;
``P = F_1 * F_2 * ...`` along the path) so that :func:`fpgrad.nir.to_nir` can pick NIR values
that come back bit for bit.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._problem import Network, Problem, ProblemError
from ..grad._params import Gradients
from ._annotation import resolved, synapse_order, value_annotations
from ._graph import BiasPath, GraphLayout, Path, layout
from ._nodes import (
    LINEAR_KINDS,
    NEURON_FIELDS,
    check_spike_area,
    check_time_unit,
    node_array,
    time_factor,
)

__all__ = ["NIRNetwork", "from_nir", "read_nir"]

#: The fpgrad groups the chain rule reads.
_NEEDED = ("weight", "threshold", "tau_mem", "tau_syn", "delay", "bias", "v_reset")


def _neuron_fields(name: str, node: Any, kind: str) -> dict[str, NDArray[np.float64]]:
    """The node's fields as float64 arrays, checked (time constants ``> 0``, ``v_threshold >
    0``, ``v_reset < v_threshold``, everything finite and of one shape)."""
    fields = {
        f: node_array(name, node, f, positive=f in ("tau", "tau_syn", "tau_mem", "v_threshold"))
        for f in NEURON_FIELDS[kind]
    }
    n = fields["v_threshold"].shape[0]
    for f, arr in fields.items():
        if arr.shape != (n,):
            raise ProblemError(
                f"NIR node {name!r} ({kind}): {f} has shape {arr.shape}, v_threshold {(n,)}"
            )
    bad = np.flatnonzero(fields["v_reset"] >= fields["v_threshold"])
    if bad.size:
        i = int(bad[0])
        reset, threshold = float(fields["v_reset"][i]), float(fields["v_threshold"][i])
        raise ProblemError(
            f"NIR node {name!r} ({kind}): v_reset[{i}] = {reset!r} must be below "
            f"v_threshold[{i}] = {threshold!r} (else the reset would fire again)"
        )
    return fields


@dataclass(frozen=True)
class _NeuronNode:
    """One neuron node: its fields, its fpgrad neurons ``start .. start + size`` (0-based
    among the neurons) and the factors of the mapping."""

    name: str
    kind: str
    start: int
    fields: dict[str, NDArray[np.float64]]
    tau_mem_ms: NDArray[np.float64]
    gain: NDArray[np.float64]  # g: synapse weight = g * P
    drive: NDArray[np.float64]  # h: d bias / d B (the Affine bias reaching the node)

    @property
    def size(self) -> int:
        return self.fields["v_threshold"].shape[0]

    @property
    def neurons(self) -> slice:
        return slice(self.start, self.start + self.size)


def _neuron_node(name: str, node: Any, kind: str, start: int, c: float) -> _NeuronNode:
    f = _neuron_fields(name, node, kind)
    if kind == "CubaLIF":
        tau_mem_ms = c * f["tau_mem"]
        gain = (f["r"] / tau_mem_ms) * (f["w_in"] / f["tau_syn"])
        drive = np.zeros_like(gain)
    elif kind == "LIF":
        tau_mem_ms = c * f["tau"]
        gain = f["r"] / f["tau"]
        drive = f["r"] / tau_mem_ms
    else:  # IF
        tau_mem_ms = np.full_like(f["r"], np.inf)
        gain = f["r"].copy()
        drive = f["r"] / c
    return _NeuronNode(name, kind, start, f, tau_mem_ms, gain, drive)


def _linear_arrays(graph: Any, kinds: dict[str, str]) -> dict[str, dict[str, NDArray]]:
    """The fields of every linear node, checked (``Delay`` values ``>= 0``)."""
    arrays: dict[str, dict[str, NDArray]] = {}
    for name, kind in kinds.items():
        if kind not in LINEAR_KINDS:
            continue
        node = graph.nodes[name]
        arrays[name] = {
            f: node_array(name, node, f, ndim=2 if f == "weight" else 1) for f in LINEAR_KINDS[kind]
        }
        if kind == "Affine" and arrays[name]["bias"].shape != arrays[name]["weight"].shape[:1]:
            raise ProblemError(
                f"NIR node {name!r} (Affine): bias has shape {arrays[name]['bias'].shape}, "
                f"weight {arrays[name]['weight'].shape} (shape mismatch)"
            )
        if kind == "Delay" and np.any(arrays[name]["delay"] < 0):
            i = int(np.flatnonzero(arrays[name]["delay"] < 0)[0])
            value = float(arrays[name]["delay"][i])
            raise ProblemError(f"NIR node {name!r} (Delay): delay[{i}] = {value!r} must be >= 0")
    return arrays


@dataclass(frozen=True)
class _Mapping:
    """What the chain rule needs: the layout, the arrays, the neuron nodes."""

    layout: GraphLayout
    c: float
    spike_area: float  # a: the impulse of one spike, in graph time units
    arrays: dict[str, dict[str, NDArray]]
    nodes: dict[str, _NeuronNode]
    drive_input: NDArray[np.float64]  # B per neuron
    bias_gradients: frozenset[str]  # Affine nodes whose bias has an exact gradient
    # synapse k of the network is path-order synapse order[k] (None: all of them, in path
    # order; the fpgrad_synapse annotation, module _annotation)
    order: NDArray[np.int64] | None


def _factor(path: Path, position: int, arrays: dict[str, dict[str, NDArray]], kinds) -> NDArray:
    """Chain element ``position`` of ``path`` on the synapse grid (its value per synapse)."""
    name = path.chain[position]
    kind = kinds[name]
    if kind in ("Linear", "Affine"):
        return arrays[name]["weight"].T
    values = arrays[name][LINEAR_KINDS[kind][0]]
    if path.side(position) == "post":
        return np.broadcast_to(values[None, :], path.grid)
    return np.broadcast_to(values[:, None], path.grid) if path.matrix is not None else values


def _reduce(path: Path, position: int, grid_values: NDArray) -> NDArray:
    """The transpose of :func:`_factor`: per-synapse values summed onto the element's entries."""
    side = path.side(position)
    if side == "matrix":
        return grid_values.T
    if path.matrix is None:
        return grid_values
    return grid_values.sum(axis=1) if side == "pre" else grid_values.sum(axis=0)


def _post_grid(path: Path, values: NDArray) -> NDArray:
    """A per-postsynaptic-channel array on the synapse grid."""
    return np.broadcast_to(values[None, :], path.grid) if path.matrix is not None else values


def _factors(path: Path, mapping_arrays, kinds) -> list[tuple[int, NDArray]]:
    return [
        (pos, _factor(path, pos, mapping_arrays, kinds))
        for pos, name in enumerate(path.chain)
        if kinds[name] != "Delay"
    ]


def _path_delay(path: Path, arrays, kinds, notes, c: float) -> NDArray:
    """The path's delay per synapse in ms, ``c * D`` (``D`` the sum of its ``Delay`` values);
    where its Delay nodes carry ``fpgrad_delay`` (module :mod:`._annotation`), the sum of the
    annotated ms values instead if it is within one ulp of that."""
    d = np.zeros(path.grid)
    noted = np.zeros(path.grid)
    annotated = False
    for pos, name in enumerate(path.chain):
        if kinds[name] != "Delay":
            continue
        factor = _factor(path, pos, arrays, kinds)
        d = d + factor
        note = notes.get(name, {}).get("delay")
        annotated |= note is not None
        noted = noted + (
            c * factor if note is None else _factor(path, pos, {name: {"delay": note}}, kinds)
        )
    return resolved(c * d, noted) if annotated else c * d


def _bias_vector(bp: BiasPath, arrays, kinds) -> tuple[NDArray, list[NDArray]]:
    """The bias ``b`` of the path's Affine and its Scale factors, in chain order."""
    scales = [arrays[name]["scale"] for name in bp.chain if kinds[name] == "Scale"]
    return arrays[bp.affine]["bias"], scales


def _build(graph: Any, time_unit: str, area: float) -> tuple[Network, _Mapping]:
    c = time_factor(time_unit)
    lay = layout(graph)
    kinds = lay.kinds
    arrays = _linear_arrays(graph, kinds)
    nodes: dict[str, _NeuronNode] = {}
    start = 0
    for name in lay.neuron_nodes:
        nodes[name] = _neuron_node(name, graph.nodes[name], kinds[name], start, c)
        start += nodes[name].size
    n = start
    m = lay.n_inputs
    channels = {name: node.size for name, node in nodes.items()}
    channels.update({name: a["delay"].shape[0] for name, a in arrays.items() if "delay" in a})
    notes = value_annotations(graph, kinds, channels)
    first_id = {lay.input_node: 0, **{name: m + node.start for name, node in nodes.items()}}

    drive_input = np.zeros(n)
    exact_bias = {name for name, kind in kinds.items() if kind == "Affine"}
    for bp in lay.bias_paths:
        b, scales = _bias_vector(bp, arrays, kinds)
        through_delay = any(kinds[name] == "Delay" for name in bp.chain)
        target = nodes[bp.target]
        if target.kind == "CubaLIF" or through_delay:
            exact_bias.discard(bp.affine)
            if np.any(b):
                why = (
                    "a constant current into a CubaLIF passes its synaptic filter from I(0) = 0"
                    if target.kind == "CubaLIF"
                    else "a delayed constant is 0 until the delay has passed"
                )
                raise ProblemError(
                    f"NIR node {bp.affine!r} (Affine): a nonzero bias reaching {bp.target!r} "
                    f"through {' -> '.join((bp.affine, *bp.chain, bp.target))}: {why}, a "
                    "transient fpgrad's constant bias cannot hold"
                )
            continue
        value = b
        for s in scales:
            value = value * s
        drive_input[target.neurons] += value

    pre, post, weight, delay = [], [], [], []
    for path in lay.paths:
        target = nodes[path.target]
        p = np.ones(path.grid)
        for _, f in _factors(path, arrays, kinds):
            p = p * f
        pre_ids = first_id[path.source] + np.arange(path.n_pre)
        post_ids = m + target.start + np.arange(path.n_post)
        if path.matrix is not None:
            pre.append(np.repeat(pre_ids, path.n_post))
            post.append(np.tile(post_ids, path.n_pre))
        else:
            pre.append(pre_ids)
            post.append(post_ids)
        weight.append((_post_grid(path, target.gain) * p * area).ravel())
        delay.append(_path_delay(path, arrays, kinds, notes, c).ravel())

    def field_of(name_by_kind: dict[str, str], default: float) -> NDArray:
        out = np.full(n, default)
        for node in nodes.values():
            if node.kind in name_by_kind:
                out[node.neurons] = node.fields[name_by_kind[node.kind]]
        return out

    tau_syn = np.zeros(n)
    tau_mem = np.empty(n)
    bias = np.zeros(n)
    for node in nodes.values():
        note = notes.get(node.name, {})
        tau_mem[node.neurons] = resolved(node.tau_mem_ms, note.get("tau_mem"))
        if node.kind == "CubaLIF":
            tau_syn[node.neurons] = resolved(c * node.fields["tau_syn"], note.get("tau_syn"))
        if node.kind in ("CubaLIF", "LIF"):
            bias[node.neurons] = node.fields["v_leak"] / node.tau_mem_ms
        if node.kind in ("LIF", "IF"):
            bias[node.neurons] = bias[node.neurons] + node.drive * drive_input[node.neurons]
        bias[node.neurons] = resolved(bias[node.neurons], note.get("bias"))
    empty_int, empty = np.empty(0, np.int64), np.empty(0)
    synapses = [np.concatenate(x) if x else e for x, e in zip((pre, post, weight, delay),
                (empty_int, empty_int, empty, empty), strict=True)]  # fmt: skip
    order = synapse_order(
        graph, lay, {name: a["weight"] for name, a in arrays.items() if "weight" in a}
    )
    if order is not None:
        synapses = [x[order] for x in synapses]
    try:
        network = Network(
            n_inputs=m,
            n_neurons=n,
            tau_syn=tau_syn,
            tau_mem=tau_mem,
            threshold=field_of({k: "v_threshold" for k in NEURON_FIELDS}, 1.0),
            pre=synapses[0],
            post=synapses[1],
            weight=synapses[2],
            t_ref=0.0,
            bias=bias,
            v_reset=field_of({k: "v_reset" for k in NEURON_FIELDS}, 0.0),
            delay=synapses[3],
        )
    except ProblemError as err:
        raise ProblemError(f"NIR graph (time unit {time_unit!r}): {err}") from None
    mapping = _Mapping(lay, c, area, arrays, nodes, drive_input, frozenset(exact_bias), order)
    return network, mapping


@dataclass(frozen=True, eq=False)
class NIRNetwork:
    """A NIR graph read as an fpgrad network, with the map between their parameters.

    Attributes:
        network: the fpgrad network (model 2, times in ms).
        graph: the NIR graph it was read from (not modified).
        time_unit: the graph's time unit, ``"s"`` or ``"ms"``.
        spike_area: the area of one spike's impulse, in graph time units (1: NIR's reading).
        input_node: name of the Input node; its channels are fpgrad inputs ``0..M-1``.
        neurons: neuron node name -> its fpgrad global node ids, in NIR channel order (the
            nodes in graph order, numbered from ``M``).
        output_neurons: the global ids feeding the Output node, in Output channel order
            (with several Output nodes, one after the other in node order; empty without).
    """

    network: Network
    graph: Any
    time_unit: str
    spike_area: float
    input_node: str
    neurons: dict[str, range]
    output_neurons: tuple[int, ...]
    _mapping: _Mapping = field(repr=False)

    def parameters(self) -> dict[str, NDArray[np.float64]]:
        """``"node.field"`` -> a float64 copy of the graph's array, for every differentiable
        field of every node (neuron fields, Linear/Affine ``weight``, Affine ``bias``, Scale
        ``scale``, Delay ``delay``), in graph node order."""
        mp = self._mapping
        out: dict[str, NDArray[np.float64]] = {}
        for name, kind in mp.layout.kinds.items():
            if kind in NEURON_FIELDS:
                fields = mp.nodes[name].fields
            elif kind in LINEAR_KINDS:
                fields = mp.arrays[name]
            else:
                continue
            for f, arr in fields.items():
                out[f"{name}.{f}"] = arr.copy()
        return out

    def problem(self, inputs: Sequence[ArrayLike], t_max: float) -> Problem:
        """The fpgrad problem of this network: ``inputs[j]`` are the spike times of Input
        channel ``j`` and ``t_max`` the horizon, both in the graph's time unit (converted to
        ms: times ``c``)."""
        c = self._mapping.c
        try:
            trains = [c * np.asarray(train, dtype=np.float64) for train in inputs]
            horizon = c * float(t_max)
        except (TypeError, ValueError) as err:
            raise ProblemError(f"inputs/t_max: not numbers ({err})") from None
        return Problem(self.network, tuple(trains), horizon)

    def nir_gradient(self, grad: Gradients) -> dict[str, NDArray[np.float64]]:
        """``"node.field"`` -> ``dL/d(field)`` in NIR's shape and time unit, by the chain rule
        through the mapping (module docstring).

        ``grad`` is the gradient of a loss with respect to :attr:`network`'s parameters and must
        hold the groups weight, threshold, tau_mem, tau_syn, delay, bias and v_reset (e.g.
        ``fpgrad.gradient(problem, loss, params=None).grad``). Every key of :meth:`parameters`
        is present, except the ``bias`` of an Affine node whose bias reaches a CubaLIF node or
        passes a Delay node: it is 0 there (else the graph is rejected), and its derivative is
        that of a transient the fpgrad model does not hold. A padding entry of an annotated
        matrix (``fpgrad_synapse == -1``, module :mod:`._annotation`) gets 0: it is no synapse
        of :attr:`network`.
        """
        missing = [g for g in _NEEDED if getattr(grad, g, None) is None]
        if missing:
            raise ProblemError(
                f"nir_gradient: the gradient lacks the groups {', '.join(missing)} (compute it "
                "with params=None)"
            )
        net = self.network
        sizes = {"weight": net.n_synapses, "delay": net.n_synapses}
        for g in _NEEDED:
            want = sizes.get(g, net.n_neurons)
            if np.shape(getattr(grad, g)) != (want,):
                raise ProblemError(
                    f"nir_gradient: grad.{g} has shape {np.shape(getattr(grad, g))}, this "
                    f"network needs {(want,)}"
                )
        return _chain_rule(self._mapping, grad)


def _in_path_order(mp: _Mapping, values: Any) -> NDArray[np.float64]:
    """Per-synapse gradients in path order: with the ``fpgrad_synapse`` annotation, 0 on the
    padding entries (no synapse: they are not parameters of the network read, so the chain rule
    gives their matrix entries 0, the derivative with the sparsity pattern held fixed)."""
    values = np.asarray(values, dtype=np.float64)
    if mp.order is None:
        return values
    out = np.zeros(sum(path.size for path in mp.layout.paths))
    out[mp.order] = values
    return out


def _chain_rule(mp: _Mapping, grad: Gradients) -> dict[str, NDArray[np.float64]]:
    kinds, c, arrays = mp.layout.kinds, mp.c, mp.arrays
    g_w, g_d = _in_path_order(mp, grad.weight), _in_path_order(mp, grad.delay)
    out = {f"{nm}.{f}": np.zeros_like(a) for nm, fs in arrays.items() for f, a in fs.items()}
    n = sum(node.size for node in mp.nodes.values())
    d_gain = np.zeros(n)  # dL/dg per neuron
    for path in mp.layout.paths:
        target = mp.nodes[path.target]
        span = slice(path.start, path.start + path.size)
        gw = mp.spike_area * g_w[span].reshape(path.grid)  # dL/d(g P)
        factors = _factors(path, arrays, kinds)
        p = np.ones(path.grid)
        for _, f in factors:
            p = p * f
        gp = gw * p
        d_gain[target.neurons] += gp.sum(axis=0) if path.matrix is not None else gp
        upstream = gw * _post_grid(path, target.gain)  # dL/dP per synapse
        for pos, _ in factors:
            others = np.ones(path.grid)
            for other_pos, g in factors:
                if other_pos != pos:
                    others = others * g
            name = path.chain[pos]
            out[f"{name}.{LINEAR_KINDS[kinds[name]][0]}"] += _reduce(path, pos, upstream * others)
        gd = c * g_d[span].reshape(path.grid)
        for pos, name in enumerate(path.chain):
            if kinds[name] == "Delay":
                out[f"{name}.delay"] += _reduce(path, pos, gd)

    g_bias = np.asarray(grad.bias)
    for bp in mp.layout.bias_paths:
        if bp.affine not in mp.bias_gradients:
            continue
        target = mp.nodes[bp.target]
        upstream = g_bias[target.neurons] * target.drive  # dL/dB
        b, scales = _bias_vector(bp, arrays, kinds)
        scale_names = [name for name in bp.chain if kinds[name] == "Scale"]
        factors = [b, *scales]
        for idx, key in enumerate([f"{bp.affine}.bias", *(f"{s}.scale" for s in scale_names)]):
            others = np.ones_like(b)
            for jdx, f in enumerate(factors):
                if jdx != idx:
                    others = others * f
            out[key] += upstream * others
    for name in arrays:
        if kinds[name] == "Affine" and name not in mp.bias_gradients:
            del out[f"{name}.bias"]

    for node in mp.nodes.values():
        out.update(_neuron_gradient(node, grad, d_gain[node.neurons], mp.drive_input, c))
    order = [f"{name}.{f}" for name, kind in kinds.items() for f in _fields(kind)]
    return {key: out[key] for key in order if key in out}


def _fields(kind: str) -> tuple[str, ...]:
    return NEURON_FIELDS.get(kind) or LINEAR_KINDS.get(kind, ())


def _neuron_gradient(
    node: _NeuronNode, grad: Gradients, d_gain: NDArray, drive_input: NDArray, c: float
) -> dict[str, NDArray[np.float64]]:
    """The neuron node's fields' gradients from the fpgrad neuron groups and ``dL/dg``."""
    sl = node.neurons
    f = node.fields
    g_theta, g_reset = np.asarray(grad.threshold)[sl], np.asarray(grad.v_reset)[sl]
    g_bias, g_tm = np.asarray(grad.bias)[sl], np.asarray(grad.tau_mem)[sl]
    key = node.name + "."
    out = {key + "v_threshold": g_theta.copy(), key + "v_reset": g_reset.copy()}
    if node.kind == "CubaLIF":
        bias = f["v_leak"] / node.tau_mem_ms
        out[key + "tau_syn"] = c * np.asarray(grad.tau_syn)[sl] - d_gain * node.gain / f["tau_syn"]
        out[key + "tau_mem"] = c * g_tm - (g_bias * bias + d_gain * node.gain) / f["tau_mem"]
        out[key + "r"] = d_gain * ((f["w_in"] / f["tau_syn"]) / node.tau_mem_ms)
        out[key + "v_leak"] = g_bias / node.tau_mem_ms
        out[key + "w_in"] = d_gain * ((f["r"] / node.tau_mem_ms) / f["tau_syn"])
    elif node.kind == "LIF":
        bias = f["v_leak"] / node.tau_mem_ms + node.drive * drive_input[sl]
        out[key + "tau"] = c * g_tm - (g_bias * bias + d_gain * node.gain) / f["tau"]
        out[key + "r"] = d_gain / f["tau"] + g_bias * drive_input[sl] / node.tau_mem_ms
        out[key + "v_leak"] = g_bias / node.tau_mem_ms
    else:  # IF: g = r, bias = (r / c) B
        out[key + "r"] = d_gain + g_bias * drive_input[sl] / c
    return out


def _as_graph(graph_or_path: Any) -> Any:
    """A ``nir.NIRGraph``, read from a file if given a path."""
    import nir

    if isinstance(graph_or_path, str | os.PathLike):
        path = os.fspath(graph_or_path)
        if not os.path.isfile(path):
            raise ProblemError(f"{path}: no such NIR file")
        try:
            graph = nir.read(path)
        except Exception as err:  # h5py, nir's own checks: any failure is a malformed file
            detail = " ".join(str(err).split())
            raise ProblemError(
                f"{path}: not a readable NIR file ({type(err).__name__}: {detail})"
            ) from None
        return graph
    if not isinstance(graph_or_path, nir.NIRGraph):
        raise ProblemError(
            f"expected a nir.NIRGraph or the path of a NIR file, got {type(graph_or_path).__name__}"
        )
    return graph_or_path


def read_nir(graph_or_path: Any, *, time_unit: str = "s", spike_area: float = 1.0) -> NIRNetwork:
    """Read a NIR graph (a ``nir.NIRGraph`` or a NIR file) as an fpgrad network.

    ``time_unit`` is the unit of the graph's times (its time constants, delays, and the input
    times and horizon given to :meth:`NIRNetwork.problem`): ``"s"`` (NIR's usual unit) or
    ``"ms"``. ``spike_area`` is the area of the impulse one spike delivers, in graph time units:
    1 reads the graph as NIR defines it (``S`` a sum of unit deltas); a graph exported by a
    discrete-time framework that counts a spike as ``S = 1`` during one step of length ``dt``
    (snnTorch's ``export_to_nir`` writes ``dt = 1e-4`` s) needs ``spike_area = dt``. It scales
    every synapse weight (and so the chain rule into the matrices, gains and scales); constant
    Affine biases are not spikes and are read as NIR defines them. Unsupported nodes or features
    raise :class:`fpgrad.ProblemError` naming the node and the reason (docs/model.md §6).
    """
    check_time_unit(time_unit)
    area = check_spike_area(spike_area)
    graph = _as_graph(graph_or_path)
    network, mapping = _build(graph, time_unit, area)
    m = network.n_inputs
    neurons = {
        name: range(m + node.start, m + node.start + node.size)
        for name, node in mapping.nodes.items()
    }
    return NIRNetwork(
        network=network,
        graph=graph,
        time_unit=time_unit,
        spike_area=area,
        input_node=mapping.layout.input_node,
        neurons=neurons,
        output_neurons=tuple(i for name in mapping.layout.output_sources for i in neurons[name]),
        _mapping=mapping,
    )


def from_nir(graph_or_path: Any, *, time_unit: str = "s", spike_area: float = 1.0) -> Network:
    """The fpgrad network of a NIR graph: ``read_nir(graph_or_path, ...).network``."""
    return read_nir(graph_or_path, time_unit=time_unit, spike_area=spike_area).network

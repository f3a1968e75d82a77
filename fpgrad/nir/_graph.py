"""The structure of a NIR graph as fpgrad reads it: its neuron nodes and the paths between them.

Edges carry signals; a node's input is the sum of the signals of its incoming edges. A *path*
runs from a spiking node (``Input`` or a neuron node) through a chain of linear nodes
(``Linear``, ``Affine``, ``Scale``, ``Delay``; none is a direct edge) to a neuron node, and
becomes synapses (docs/model.md §6):

* at most one weight matrix (``Linear`` / ``Affine``) per path; ``Scale`` and ``Delay`` nodes
  act per channel before it (indexed by the presynaptic channel ``j``) or after it (indexed by
  the postsynaptic channel ``i``). With a matrix of shape ``(n_post, n_pre)`` the path makes one
  synapse per entry ``(i, j)``, zero entries included (they carry a gradient), listed
  presynaptic channel first (``j`` outer, ``i`` inner); without one, channel ``j`` feeds
  channel ``j``. (An ``fpgrad_synapse`` annotation then selects and orders the synapses: module
  :mod:`._annotation`.)
* Paths are found depth first: the edges are taken in the order of ``graph.edges``; each edge
  leaving a spiking node starts the paths through it, each linear node continues along its
  outgoing edges in edge order. The synapses of the paths follow in that order.

An ``Affine`` bias is a constant signal; it is followed downstream (through ``Scale`` and
``Delay`` nodes) to the neurons it reaches (:class:`BiasPath`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._problem import ProblemError
from ._nodes import LINEAR_KINDS, NEURON_FIELDS, kind_of, node_array

__all__ = ["BiasPath", "GraphLayout", "Path", "layout"]

#: At most this many synapses (as the problem-file reader allows).
MAX_SYNAPSES = 10**8


@dataclass(frozen=True)
class Path:
    """A path ``source -> chain... -> target`` and its synapses ``start .. start + size``.

    ``matrix`` is the position of the weight matrix in ``chain`` (``None``: channel to
    channel); the synapse grid has shape ``(n_pre, n_post)`` with a matrix, ``(n_pre,)``
    without, flattened in C order.
    """

    source: str
    chain: tuple[str, ...]
    target: str
    matrix: int | None
    n_pre: int
    n_post: int
    start: int

    @property
    def grid(self) -> tuple[int, ...]:
        return (self.n_pre, self.n_post) if self.matrix is not None else (self.n_pre,)

    @property
    def size(self) -> int:
        return self.n_pre * self.n_post if self.matrix is not None else self.n_pre

    def side(self, position: int) -> str:
        """``"pre"``, ``"matrix"`` or ``"post"``: where chain element ``position`` acts."""
        if self.matrix is None or position < self.matrix:
            return "pre"
        return "matrix" if position == self.matrix else "post"


@dataclass(frozen=True)
class BiasPath:
    """The bias of ``affine`` reaching neuron node ``target`` through ``chain`` (``Scale`` and
    ``Delay`` nodes)."""

    affine: str
    chain: tuple[str, ...]
    target: str


@dataclass(frozen=True)
class GraphLayout:
    """The graph's nodes by role, its paths and where its spikes come out: the neuron node
    feeding each Output node, in node order (NIR adds an Output node to every leaf)."""

    kinds: dict[str, str]
    input_node: str
    n_inputs: int
    neuron_nodes: tuple[str, ...]
    sizes: dict[str, int]
    paths: tuple[Path, ...]
    bias_paths: tuple[BiasPath, ...]
    output_sources: tuple[str, ...]


def _spiking(kind: str) -> bool:
    return kind == "Input" or kind in NEURON_FIELDS


def _size(name: str, node: Any, kind: str) -> int:
    """The number of channels of a spiking node."""
    if kind == "Input":
        shape = node.input_type["input"] if isinstance(node.input_type, dict) else None
        shape = [int(x) for x in shape] if shape is not None else []
        if len(shape) != 1:
            raise ProblemError(
                f"NIR node {name!r} (Input): shape {shape} is not one-dimensional (fpgrad reads "
                "one-dimensional layers)"
            )
        return shape[0]
    return node_array(name, node, "v_threshold").shape[0]


def _through(name: str, node: Any, kind: str, n: int) -> int:
    """The number of channels after linear node ``name`` given ``n`` channels before it."""
    if kind in ("Linear", "Affine"):
        weight = node_array(name, node, "weight", ndim=2)
        if weight.shape[1] != n:
            raise ProblemError(
                f"NIR node {name!r} ({kind}): weight has shape {weight.shape} but receives "
                f"{n} channels (shape mismatch)"
            )
        return weight.shape[0]
    field = LINEAR_KINDS[kind][0]
    size = node_array(name, node, field).shape[0]
    if size != n:
        raise ProblemError(
            f"NIR node {name!r} ({kind}): {field} has {size} entries but receives {n} channels "
            "(shape mismatch)"
        )
    return n


def layout(graph: Any) -> GraphLayout:
    """The nodes, paths and output of ``graph`` (a ``nir.NIRGraph``), checked."""
    kinds = {name: kind_of(name, node) for name, node in graph.nodes.items()}
    inputs = [name for name, kind in kinds.items() if kind == "Input"]
    if len(inputs) != 1:
        raise ProblemError(
            f"NIR graph: expected one Input node, got {len(inputs)} ({', '.join(inputs)}): "
            "fpgrad's inputs are the channels of one Input node"
        )
    sizes = {
        name: _size(name, graph.nodes[name], kind) for name, kind in kinds.items() if _spiking(kind)
    }
    outgoing: dict[str, list[str]] = {name: [] for name in kinds}
    for edge in graph.edges:
        src, dst = (str(x) for x in edge)
        for end in (src, dst):
            if end not in kinds:
                raise ProblemError(f"NIR graph: edge ({src!r}, {dst!r}) names no node {end!r}")
        if kinds[dst] == "Input":
            raise ProblemError(f"NIR graph: edge ({src!r}, {dst!r}) leads into the Input node")
        if kinds[src] == "Output":
            raise ProblemError(f"NIR graph: edge ({src!r}, {dst!r}) leaves the Output node")
        outgoing[src].append(dst)
    _check_linear_cycles(kinds, outgoing)

    paths: list[Path] = []
    output_sources: dict[str, list[str]] = {}
    start = 0

    def walk(source: str, node: str, chain: tuple[str, ...], matrix: int | None, n: int) -> None:
        nonlocal start
        kind = kinds[node]
        if kind == "Output":
            if chain:
                raise ProblemError(
                    f"NIR graph: Output node {node!r} is fed by linear node {chain[-1]!r}: "
                    "fpgrad's outputs are the spikes of one neuron node, wired to Output directly"
                )
            output_sources.setdefault(node, []).append(source)
            return
        if kind in NEURON_FIELDS:
            if n != sizes[node]:
                raise ProblemError(
                    f"NIR node {node!r} ({kind}): receives {n} channels from {source!r} but has "
                    f"{sizes[node]} neurons (shape mismatch)"
                )
            n_pre = sizes[source]
            path = Path(source, chain, node, matrix, n_pre, n, start)
            start += path.size
            if start > MAX_SYNAPSES:
                raise ProblemError(f"NIR graph: more than {MAX_SYNAPSES} synapses")
            paths.append(path)
            return
        if kind in ("Linear", "Affine"):
            if matrix is not None:
                raise ProblemError(
                    f"NIR node {node!r} ({kind}): a second weight matrix on the path "
                    f"{' -> '.join((source, *chain, node))} (fpgrad has one weight per synapse: "
                    "multiply the matrices out first)"
                )
            matrix = len(chain)
        n = _through(node, graph.nodes[node], kind, n)
        for nxt in outgoing[node]:
            walk(source, nxt, (*chain, node), matrix, n)

    for edge in graph.edges:
        src, dst = (str(x) for x in edge)
        if _spiking(kinds[src]):
            if kinds[src] == "Input" and kinds[dst] == "Output":
                raise ProblemError(
                    f"NIR graph: the Input node {src!r} feeds the Output node {dst!r} directly "
                    "(fpgrad's outputs are neurons)"
                )
            walk(src, dst, (), None, sizes[src])
    for node, feeding in output_sources.items():
        if len(feeding) > 1:
            raise ProblemError(
                f"NIR graph: Output node {node!r} is fed by {len(feeding)} nodes "
                f"({', '.join(feeding)}): fpgrad reads the spikes of one neuron node per Output"
            )
    return GraphLayout(
        kinds=kinds,
        input_node=inputs[0],
        n_inputs=sizes[inputs[0]],
        neuron_nodes=tuple(name for name, kind in kinds.items() if kind in NEURON_FIELDS),
        sizes=sizes,
        paths=tuple(paths),
        bias_paths=_bias_paths(graph, kinds, outgoing),
        output_sources=tuple(
            output_sources[name][0]
            for name, kind in kinds.items()
            if kind == "Output" and name in output_sources
        ),
    )


def _check_linear_cycles(kinds: dict[str, str], outgoing: dict[str, list[str]]) -> None:
    """A cycle through linear nodes only has no spiking node to break it: rejected."""
    state: dict[str, int] = {}  # 1: on the current stack, 2: done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in outgoing[node]:
            if kinds[nxt] not in LINEAR_KINDS:
                continue
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                raise ProblemError(
                    f"NIR graph: a cycle of linear nodes only ({' -> '.join(cycle)}); a "
                    "recurrent loop must pass through a neuron node"
                )
            if nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for name, kind in kinds.items():
        if kind in LINEAR_KINDS and name not in state:
            visit(name, [])


def _bias_paths(
    graph: Any, kinds: dict[str, str], outgoing: dict[str, list[str]]
) -> tuple[BiasPath, ...]:
    """Where each ``Affine`` bias goes: its chains of ``Scale``/``Delay`` nodes to neurons
    (a second matrix or the Output node downstream are rejected by the path walk already, if
    spikes come through; a bias that reaches them without spikes is rejected here)."""
    found: list[BiasPath] = []

    def walk(affine: str, node: str, chain: tuple[str, ...]) -> None:
        kind = kinds[node]
        if kind in NEURON_FIELDS:
            found.append(BiasPath(affine, chain, node))
        elif kind in ("Scale", "Delay"):
            for nxt in outgoing[node]:
                walk(affine, nxt, (*chain, node))
        else:
            raise ProblemError(
                f"NIR node {affine!r} (Affine): its bias reaches {kind} node {node!r}; an "
                "Affine bias must reach neurons through Scale and Delay nodes only"
            )

    for name, kind in kinds.items():
        if kind == "Affine":
            for nxt in outgoing[name]:
                walk(name, nxt, ())
    return tuple(found)

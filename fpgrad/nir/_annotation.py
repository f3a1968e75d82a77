"""The fpgrad annotations of an exported graph: which synapse each matrix entry is, and the
values that NIR's floats cannot hold exactly.

**Synapses.** A NIR matrix is dense; an fpgrad network is a list of synapses in any order,
sparse, with several synapses per pair possible. :func:`fpgrad.nir.to_nir` therefore writes,
into the ``metadata`` of every matrix node (``Linear`` / ``Affine``), the entry

    ``metadata["fpgrad_synapse"]``: an int64 array of the matrix's shape ``(n_post, n_pre)``;
    entry ``[i, j]`` is the index ``k`` of the fpgrad synapse that matrix entry ``W[i, j]`` is,
    or ``-1`` where the entry is padding (no synapse: ``W[i, j] = 0``).

NIR's HDF5 files keep node metadata (an int64 array survives ``nir.write`` / ``nir.read``). A
tool that does not know the key ignores it: the graph stays a valid NIR graph whose dense
matrices, padding zeros included, describe the same dynamics. :func:`fpgrad.nir.read_nir`
reads an annotated graph as exactly the annotated synapses, in the recorded order
(:func:`synapse_order`), so the round trip fpgrad -> NIR -> fpgrad is the identity, bit for
bit. A graph without the key (every graph another tool wrote) is read as before: one synapse
per matrix entry, in path order.

A malformed annotation (not an integer array of the matrix's shape, indices that are not a
permutation of ``0..K-1`` over the whole graph, a padding entry with a nonzero weight, a path
without an annotated matrix in an annotated graph, the key on a node that is not a matrix) is
an error naming the node: it can only come from a tool that edited an exported graph without
keeping the annotation true, and guessing would read another network silently.

**Values.** The import computes an fpgrad value from the graph's floats: a time as ``c * y``
(``c = 1000`` for seconds), a bias as ``v_leak / tau_mem_ms`` (an ``IF`` bias as
``(r / c) * B``). Not every float64 is such a result (``1000 y`` skips about 2 % of the
float64s at some exponents, the division some biases), so the export writes the nearest NIR
value (the fpgrad value one ulp off when read from the graph alone) and, next to it, the exact
fpgrad value, in fpgrad's units (ms), as a float64 array of the node's channels:

    ``metadata["fpgrad_tau_syn"]``, ``["fpgrad_tau_mem"]``, ``["fpgrad_bias"]`` on a neuron node
    (the fields of its kind, :data:`VALUE_FIELDS`) and ``["fpgrad_delay"]`` on a ``Delay``
    node (the delay in ms that ``c * delay`` stands for).

Only fields whose import formula can round carry one (times when ``c != 1``, every
``CubaLIF`` / ``LIF`` bias, an ``IF`` bias when ``c != 1``). On reading, an annotated value
replaces the value computed from the graph only where the two are the same float64 or
neighbours (:func:`within_one_ulp`): the annotation resolves the export's rounding and nothing
else. Where they differ by more (the graph was edited after the export, or read in another time
unit) the graph's value wins, entry by entry, with no error: the graph is the model, the
annotation a note on how to round it. One ulp suffices: every exported value is within one ulp
of its NIR formula (consecutive results of ``c * y`` or ``v / tau`` are at most two ulps apart;
the export rejects, naming it, a value for which even that fails, e.g. ``v_leak`` would
overflow). An annotation that is no float array of the node's channels, or sits on a node kind
without that field, is malformed and rejected naming the node, like ``fpgrad_synapse``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._problem import ProblemError
from ._graph import GraphLayout

__all__ = [
    "SYNAPSE_KEY",
    "VALUE_FIELDS",
    "annotation_of",
    "resolved",
    "synapse_order",
    "value_annotations",
    "value_key",
    "within_one_ulp",
]

#: The metadata key of the annotation.
SYNAPSE_KEY = "fpgrad_synapse"

#: The annotation of a padding entry (no synapse).
PADDING = -1


#: The fpgrad values each node kind may carry (metadata key :func:`value_key`), in ms.
VALUE_FIELDS: dict[str, tuple[str, ...]] = {
    "CubaLIF": ("tau_syn", "tau_mem", "bias"),
    "LIF": ("tau_mem", "bias"),
    "IF": ("bias",),
    "Delay": ("delay",),
}


def value_key(field: str) -> str:
    """The metadata key of an annotated fpgrad value: ``fpgrad_<field>``."""
    return f"fpgrad_{field}"


def annotation_of(node: Any, key: str = SYNAPSE_KEY) -> Any:
    """The node's metadata ``key`` (default ``fpgrad_synapse``), or ``None`` if it has none."""
    metadata = getattr(node, "metadata", None)
    return metadata.get(key) if isinstance(metadata, dict) else None


def within_one_ulp(a: ArrayLike, b: ArrayLike) -> NDArray[np.bool_]:
    """Elementwise: ``a`` is ``b`` or one of its two float64 neighbours
    (``a in {b, nextafter(b, +inf), nextafter(b, -inf)}``; ``0.0`` and ``-0.0`` are equal)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return (a == b) | (a == np.nextafter(b, np.inf)) | (a == np.nextafter(b, -np.inf))


def resolved(computed: NDArray, annotated: NDArray | None) -> NDArray[np.float64]:
    """The fpgrad value: ``annotated`` where it is within one ulp of the value ``computed``
    from the graph (the export's rounding), else ``computed`` (the graph was edited)."""
    if annotated is None:
        return computed
    return np.where(within_one_ulp(annotated, computed), annotated, computed)


def value_annotations(
    graph: Any, kinds: dict[str, str], channels: dict[str, int]
) -> dict[str, dict[str, NDArray[np.float64]]]:
    """Node name -> {field: its annotated fpgrad values}, for the nodes that carry any, checked:
    a float array of the node's ``channels`` (neuron nodes and ``Delay`` nodes), on a node kind
    with that field (:data:`VALUE_FIELDS`)."""
    keys = {value_key(f): f for fields in VALUE_FIELDS.values() for f in fields}
    out: dict[str, dict[str, NDArray[np.float64]]] = {}
    for name, kind in kinds.items():
        for key, field in keys.items():
            value = annotation_of(graph.nodes[name], key)
            if value is None:
                continue
            where = f"NIR node {name!r} ({kind}): metadata {key!r}"
            if field not in VALUE_FIELDS.get(kind, ()):
                owners = " or ".join(k for k, fs in VALUE_FIELDS.items() if field in fs)
                raise ProblemError(f"{where} belongs on a {owners} node")
            arr = np.asarray(value)
            if not np.issubdtype(arr.dtype, np.floating):
                raise ProblemError(f"{where} must be a float array, got dtype {arr.dtype}")
            if arr.shape != (channels[name],):
                raise ProblemError(f"{where} has shape {arr.shape}, the node {(channels[name],)}")
            out.setdefault(name, {})[field] = arr.astype(np.float64)
    return out


def _checked(name: str, kind: str, value: Any, weight: NDArray) -> NDArray[np.int64]:
    where = f"NIR node {name!r} ({kind}): metadata {SYNAPSE_KEY!r}"
    arr = np.asarray(value)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ProblemError(f"{where} must be an integer array, got dtype {arr.dtype}")
    if arr.shape != weight.shape:
        raise ProblemError(f"{where} has shape {arr.shape}, weight {weight.shape}")
    bad = np.argwhere(arr < PADDING)
    if bad.size:
        idx = tuple(int(i) for i in bad[0])
        raise ProblemError(f"{where}{list(idx)} = {int(arr[idx])}: expected a synapse index >= 0 "
                           f"or {PADDING} (padding)")  # fmt: skip
    bad = np.argwhere((arr == PADDING) & (weight != 0))
    if bad.size:
        idx = tuple(int(i) for i in bad[0])
        raise ProblemError(
            f"{where}{list(idx)} = {PADDING} (padding, no synapse) but weight{list(idx)} = "
            f"{float(weight[idx])!r}: a padding entry must be exactly 0"
        )
    return arr.astype(np.int64)


def synapse_order(
    graph: Any, lay: GraphLayout, weights: dict[str, NDArray]
) -> NDArray[np.int64] | None:
    """The synapses to build, as positions in path order (the order of every matrix entry of
    every path, docs/model.md §6), listed in the annotated order: synapse ``k`` of the network
    is path-order synapse ``order[k]``. ``None`` when no node is annotated (read every entry,
    in path order). ``weights``: the matrix of every matrix node."""
    annotated: dict[str, NDArray[np.int64]] = {}
    for name, kind in lay.kinds.items():
        value = annotation_of(graph.nodes[name])
        if value is None:
            continue
        if name not in weights:
            raise ProblemError(
                f"NIR node {name!r} ({kind}): metadata {SYNAPSE_KEY!r} belongs on a matrix node "
                "(Linear or Affine)"
            )
        annotated[name] = _checked(name, kind, value, weights[name])
    if not annotated:
        return None
    index_parts, owner_parts = [], []
    for path in lay.paths:
        matrix = path.chain[path.matrix] if path.matrix is not None else None
        if matrix not in annotated:
            what = f"matrix node {matrix!r} has" if matrix else "has no matrix node, so"
            raise ProblemError(
                f"NIR graph: the path {' -> '.join((path.source, *path.chain, path.target))} "
                f"{what} no metadata {SYNAPSE_KEY!r}, while other matrix nodes carry it"
            )
        index_parts.append(annotated[matrix].T.ravel())  # the path's grid (n_pre, n_post)
        owner_parts.append(np.full(path.size, len(owner_parts)))
    index = np.concatenate(index_parts) if index_parts else np.empty(0, np.int64)
    owner = np.concatenate(owner_parts) if owner_parts else np.empty(0, np.int64)
    positions = np.flatnonzero(index != PADDING)
    recorded = index[positions]
    n = recorded.size
    bad = np.flatnonzero(recorded >= n)
    why = f"is out of range ({n} synapses annotated)"
    if not bad.size:
        bad = np.flatnonzero(np.bincount(recorded, minlength=n)[recorded] > 1)
        why = "appears more than once"
    if bad.size:
        path = lay.paths[int(owner[positions[bad[0]]])]
        raise ProblemError(
            f"NIR node {path.chain[path.matrix]!r}: metadata {SYNAPSE_KEY!r} synapse index "
            f"{int(recorded[bad[0]])} {why}; the indices must be a permutation of 0..{n - 1} "
            "over the graph"
        )
    order = np.empty(n, dtype=np.int64)
    order[recorded] = positions
    return order

"""The ``fpgrad_synapse`` annotation: which fpgrad synapse each entry of an exported matrix is.

A NIR matrix is dense; an fpgrad network is a list of synapses in any order, sparse, with
several synapses per pair possible. :func:`fpgrad.nir.to_nir` therefore writes, into the
``metadata`` of every matrix node (``Linear`` / ``Affine``), the entry

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
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._problem import ProblemError
from ._graph import GraphLayout

__all__ = ["SYNAPSE_KEY", "annotation_of", "synapse_order"]

#: The metadata key of the annotation.
SYNAPSE_KEY = "fpgrad_synapse"

#: The annotation of a padding entry (no synapse).
PADDING = -1


def annotation_of(node: Any) -> Any:
    """The node's ``fpgrad_synapse`` metadata, or ``None`` if it has none."""
    metadata = getattr(node, "metadata", None)
    return metadata.get(SYNAPSE_KEY) if isinstance(metadata, dict) else None


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

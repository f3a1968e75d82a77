"""The NIR node kinds fpgrad reads and writes, their fields and their validation.

A NIR graph is read node by node (docs/model.md §6): *spiking* nodes emit spikes (``Input``
and the neuron nodes ``CubaLIF``, ``LIF``, ``IF``), *linear* nodes transform the signal
between them (``Linear``, ``Affine``, ``Scale``, ``Delay``); ``Output`` marks the output
neurons. Every other node kind is rejected here, with the reason.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._problem import ProblemError

__all__ = [
    "LINEAR_KINDS",
    "NEURON_FIELDS",
    "TIME_UNITS",
    "check_time_unit",
    "kind_of",
    "node_array",
    "time_factor",
]

#: ms per graph time unit: a NIR graph states no unit, the caller says which one it uses.
TIME_UNITS: dict[str, float] = {"s": 1000.0, "ms": 1.0}

#: The fields of each neuron kind, in the order NIR's constructors take them.
NEURON_FIELDS: dict[str, tuple[str, ...]] = {
    "CubaLIF": ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"),
    "LIF": ("tau", "r", "v_leak", "v_threshold", "v_reset"),
    "IF": ("r", "v_threshold", "v_reset"),
}

#: The linear node kinds and their (differentiable) fields.
LINEAR_KINDS: dict[str, tuple[str, ...]] = {
    "Linear": ("weight",),
    "Affine": ("weight", "bias"),
    "Scale": ("scale",),
    "Delay": ("delay",),
}

#: Why each known but unsupported kind is rejected.
_UNSUPPORTED = {
    "LI": "a leaky integrator readout has no spikes (fpgrad's model has spiking neurons only; "
    "read the spike times of the layer before it)",
    "CubaLI": "a current-based leaky integrator readout has no spikes (fpgrad's model has "
    "spiking neurons only; read the spike times of the layer before it)",
    "I": "an integrator readout has no spikes (fpgrad's model has spiking neurons only; read "
    "the spike times of the layer before it)",
    "Threshold": "a bare threshold (Heaviside) node is not an integrate-and-fire neuron",
    "Conv1d": "convolutions are not supported (write the layer as a Linear matrix)",
    "Conv2d": "convolutions are not supported (write the layer as a Linear matrix)",
    "Flatten": "Flatten is not supported (fpgrad's nodes are one-dimensional: use 1-d shapes)",
    "SumPool2d": "pooling is not supported (write it as a Linear matrix)",
    "AvgPool2d": "pooling is not supported (write it as a Linear matrix)",
    "NIRGraph": "nested subgraphs are not supported (flatten the graph first)",
}


def check_time_unit(time_unit: Any) -> str:
    """``time_unit`` if it is one of :data:`TIME_UNITS`, else :class:`ProblemError`."""
    if not isinstance(time_unit, str) or time_unit not in TIME_UNITS:
        raise ProblemError(f"time_unit: expected 's' or 'ms', got {time_unit!r}")
    return time_unit


def time_factor(time_unit: str) -> float:
    """``c``, ms per graph time unit (1000 for ``"s"``, 1 for ``"ms"``)."""
    return TIME_UNITS[check_time_unit(time_unit)]


def kind_of(name: str, node: Any) -> str:
    """The node's kind: ``Input``, ``Output``, a neuron or a linear kind; others are rejected
    with the reason."""
    kind = type(node).__name__
    if kind in ("Input", "Output") or kind in NEURON_FIELDS or kind in LINEAR_KINDS:
        return kind
    why = _UNSUPPORTED.get(kind, "not a NIR node kind fpgrad knows")
    raise ProblemError(f"NIR node {name!r} ({kind}): {why}")


def node_array(
    name: str, node: Any, field: str, *, ndim: int = 1, positive: bool = False
) -> NDArray[np.float64]:
    """``node.field`` as a new float64 array, checked: ``ndim`` dimensions, finite values
    (``> 0`` if ``positive``). The message names the node, the field and the entry."""
    where = f"NIR node {name!r} ({type(node).__name__}): {field}"
    try:
        arr = np.array(getattr(node, field), dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ProblemError(f"{where}: not an array of numbers ({err})") from None
    if arr.ndim != ndim:
        raise ProblemError(
            f"{where}: expected a {ndim}-d array, got shape {arr.shape} (fpgrad reads "
            "one-dimensional layers)"
        )
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        idx = tuple(int(i) for i in bad[0])
        raise ProblemError(f"{where}{list(idx)} = {arr[idx].item()!r} is not finite")
    if positive:
        bad = np.argwhere(arr <= 0)
        if bad.size:
            idx = tuple(int(i) for i in bad[0])
            raise ProblemError(f"{where}{list(idx)} = {arr[idx].item()!r} must be > 0")
    return arr

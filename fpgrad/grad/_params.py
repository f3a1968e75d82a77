"""Parameter groups of a problem and the structures gradients are returned in.

Every parameter of the model has a gradient (docs/model.md §1):

==============  ==================  =================================================
group           shape               meaning
==============  ==================  =================================================
``weight``      ``(K,)``            synaptic weights, file order
``input_time``  ``(S_in,)``         input spike times, ``problem.inputs`` flattened
                                    (input 0's spikes first, each train sorted)
``threshold``   ``(N,)``            firing thresholds
``tau_mem``     ``(N,)``            membrane time constants (ms)
``tau_syn``     ``(N,)``            synaptic time constants (ms) of each target neuron
``delay``       ``(K,)``            synaptic delays (ms), file order
``bias``        ``(N,)``            constant input currents (V units per ms)
``v_reset``     ``(N,)``            reset values
``t_ref``       ``(N,)``            refractory periods (ms)
==============  ==================  =================================================

At the edge of a domain the one-sided derivative into the domain is reported: ``t_ref = 0``
and ``delay = 0`` give the right derivative (a longer refractory period, a longer delay).
``tau_syn = 0`` (delta synapses) is a different kind of synapse, not the limit ``tau_syn -> 0+``
of a current synapse (whose charge ``w tau_syn`` vanishes there), so the ``tau_syn`` derivative
of a delta-synapse neuron is reported as 0 (the kind is a discrete choice).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._problem import Problem, ProblemError

__all__ = [
    "GROUPS",
    "Gradients",
    "ParameterColumns",
    "check_groups",
    "group_sizes",
    "parameter_values",
    "select_columns",
    "with_parameter",
]

GROUPS: tuple[str, ...] = (
    "weight",
    "input_time",
    "threshold",
    "tau_mem",
    "tau_syn",
    "delay",
    "bias",
    "v_reset",
    "t_ref",
)


def group_sizes(problem: Problem) -> dict[str, int]:
    """Number of parameters in each group."""
    net = problem.network
    return {
        "weight": net.n_synapses,
        "input_time": problem.n_input_spikes,
        "threshold": net.n_neurons,
        "tau_mem": net.n_neurons,
        "tau_syn": net.n_neurons,
        "delay": net.n_synapses,
        "bias": net.n_neurons,
        "v_reset": net.n_neurons,
        "t_ref": net.n_neurons,
    }


def check_groups(names: Iterable[str]) -> list[str]:
    """The group names as a list; an unknown name raises :class:`ProblemError`."""
    names = list(names)
    for name in names:
        if name not in GROUPS:
            raise ProblemError(
                f"unknown parameter group {name!r}; valid groups: {', '.join(GROUPS)}"
            )
    return names


@dataclass(frozen=True)
class ParameterColumns:
    """Which parameters a forward-mode pass carries tangents for.

    ``column[group][q]`` is the tangent column of parameter ``q`` of ``group``, or -1.
    ``selected[group]`` lists the selected parameter indices in column order.
    """

    column: dict[str, NDArray[np.int64]]
    selected: dict[str, NDArray[np.int64]]
    n_columns: int


def select_columns(
    problem: Problem, params: Iterable[str] | Mapping[str, ArrayLike] | None = None
) -> ParameterColumns:
    """Tangent columns for the chosen parameters.

    ``params`` is ``None`` (every parameter), a list of group names, or a mapping from group
    name to the parameter indices wanted (for directional / partial Jacobians).
    """
    sizes = group_sizes(problem)
    if params is None:
        wanted = {name: np.arange(sizes[name]) for name in GROUPS}
    elif isinstance(params, Mapping):
        check_groups(params)
        wanted = {}
        for name, idx in params.items():
            arr = np.unique(np.asarray(idx, dtype=np.int64).ravel())
            if arr.size and (arr[0] < 0 or arr[-1] >= sizes[name]):
                raise ProblemError(f"params[{name!r}]: indices must lie in [0, {sizes[name]})")
            wanted[name] = arr
    else:
        wanted = {name: np.arange(sizes[name]) for name in check_groups(params)}
    column, selected, start = {}, {}, 0
    for name in GROUPS:
        col = np.full(sizes[name], -1, dtype=np.int64)
        idx = wanted.get(name, np.empty(0, np.int64))
        col[idx] = start + np.arange(idx.size)
        start += idx.size
        column[name] = col
        selected[name] = idx
    return ParameterColumns(column=column, selected=selected, n_columns=start)


@dataclass(frozen=True, eq=False)
class Gradients:
    """A gradient (or any vector over the parameters) split into the groups of :data:`GROUPS`.

    Missing groups (not requested) are ``None``.
    """

    weight: NDArray[np.float64] | None = None
    input_time: NDArray[np.float64] | None = None
    threshold: NDArray[np.float64] | None = None
    tau_mem: NDArray[np.float64] | None = None
    tau_syn: NDArray[np.float64] | None = None
    delay: NDArray[np.float64] | None = None
    bias: NDArray[np.float64] | None = None
    v_reset: NDArray[np.float64] | None = None
    t_ref: NDArray[np.float64] | None = None

    def groups(self) -> dict[str, NDArray[np.float64]]:
        """The present groups, in :data:`GROUPS` order."""
        return {name: getattr(self, name) for name in GROUPS if getattr(self, name) is not None}

    def flat(self) -> NDArray[np.float64]:
        """All present groups concatenated in :data:`GROUPS` order."""
        parts = list(self.groups().values())
        return np.concatenate(parts) if parts else np.empty(0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{group: [values]}``."""
        return {name: [float(x) for x in arr] for name, arr in self.groups().items()}

    def __add__(self, other: Gradients) -> Gradients:
        return Gradients(**{n: a + getattr(other, n) for n, a in self.groups().items()})

    def select(self, names: tuple[str, ...] | list[str]) -> Gradients:
        """Only the groups ``names`` (the others become ``None``)."""
        return Gradients(**{n: getattr(self, n) for n in names})

    def scale(self, factor: float) -> Gradients:
        """Every group multiplied by ``factor``."""
        return Gradients(**{n: a * factor for n, a in self.groups().items()})


def parameter_values(problem: Problem) -> Gradients:
    """The current values of every parameter, in the layout of :class:`Gradients`."""
    net = problem.network
    flat_inputs = np.concatenate(problem.inputs) if problem.inputs else np.empty(0)
    return Gradients(
        weight=net.weight.copy(),
        input_time=flat_inputs.astype(np.float64),
        threshold=net.threshold.copy(),
        tau_mem=net.tau_mem.copy(),
        tau_syn=net.tau_syn.copy(),
        delay=net.delay.copy(),
        bias=net.bias.copy(),
        v_reset=net.v_reset.copy(),
        t_ref=net.t_ref.copy(),
    )


def with_parameter(problem: Problem, group: str, values: ArrayLike) -> Problem:
    """A copy of ``problem`` with the parameters of one group replaced by ``values``."""
    check_groups([group])
    values = np.asarray(values, dtype=np.float64)
    net = problem.network
    if group == "input_time":
        splits = np.cumsum([len(train) for train in problem.inputs])[:-1]
        return problem.with_inputs(np.split(values, splits))
    return problem.with_network(net.replace(**{group: values}))

"""Python entry points of the exact engines: spike-time Jacobians and Jacobian-vector products
(FP, forward mode) and vector-Jacobian products (reverse mode)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._memory import check_allocation
from .._problem import Problem, ProblemError
from ..event import SimulationResult, simulate
from ..event._simulate import CompiledNetwork, compile_network
from ._forward import forward_kernel
from ._params import (
    GROUPS,
    Gradients,
    check_groups,
    direction_seeds,
    group_sizes,
    select_columns,
)
from ._reverse import reverse_kernel

__all__ = ["SpikeJVP", "SpikeJacobian", "spike_jacobian", "spike_jvp", "spike_vjp"]


def _as_result(problem_or_result: Problem | SimulationResult) -> SimulationResult:
    if isinstance(problem_or_result, SimulationResult):
        return problem_or_result
    if isinstance(problem_or_result, Problem):
        return simulate(problem_or_result)
    raise ProblemError(
        f"expected a Problem or SimulationResult, got {type(problem_or_result).__name__}"
    )


@dataclass(frozen=True, eq=False)
class SpikeJacobian:
    """``d(spike times)/d(parameters)``: one row per neuron spike, in the order of
    ``result.spike_time`` (time, then node id).

    ``blocks[group]`` has shape ``(n_spikes, len(selected[group]))``; column ``c`` belongs to
    parameter ``selected[group][c]`` of that group (all of them unless a subset was asked for).
    """

    result: SimulationResult
    blocks: dict[str, NDArray[np.float64]]
    selected: dict[str, NDArray[np.int64]]

    def __getitem__(self, group: str) -> NDArray[np.float64]:
        return self.blocks[group]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"d_spike_time_d_<group>": rows}`` for the groups present."""
        return {
            f"d_spike_time_d_{name}": [[float(x) for x in row] for row in block]
            for name, block in self.blocks.items()
        }


def _kernel_args(net: CompiledNetwork, result: SimulationResult) -> tuple:
    return (*net.gradient_args, *net.record_args(result))


def spike_jacobian(
    problem_or_result: Problem | SimulationResult,
    params: Iterable[str] | Mapping[str, ArrayLike] | None = None,
) -> SpikeJacobian:
    """Exact Jacobian of all neuron spike times by forward propagation (FP).

    Args:
        problem_or_result: a problem (simulated first) or a simulation result.
        params: ``None`` for every parameter, group names (:data:`~fpgrad.GROUPS`: ``"weight"``,
            ``"input_time"``, ``"threshold"``, ``"tau_mem"``, ``"tau_syn"``, ``"delay"``,
            ``"bias"``, ``"v_reset"``, ``"t_ref"``), or ``{group: indices}`` for a subset.
            Cost and memory grow linearly with the number of selected parameters.
    """
    result = _as_result(problem_or_result)
    problem = result.problem
    cols = select_columns(problem, params)
    net = compile_network(problem.network)
    n_events = result.record_node.shape[0]
    check_allocation(
        8.0 * cols.n_columns * (n_events + 2 * problem.network.n_neurons),
        f"the forward-mode Jacobian of {n_events} spikes x {cols.n_columns} parameters",
        "use reverse mode for the gradient of a loss (fpgrad.ExactReverse(), "
        "fpgrad.spike_vjp: memory per synaptic event, not per parameter), or a parameter "
        "subset (params={group: indices})",
    )
    df = forward_kernel(*_kernel_args(net, result), *cols.kernel_args())
    rows = df[result.spike_record_index]
    blocks, start = {}, 0
    for name in GROUPS:
        width = cols.selected[name].size
        if name in _requested(params):
            blocks[name] = rows[:, start : start + width]
        start += width
    return SpikeJacobian(result=result, blocks=blocks, selected=cols.selected)


def _requested(params: Iterable[str] | Mapping[str, ArrayLike] | None) -> tuple[str, ...]:
    if params is None:
        return GROUPS
    return tuple(name for name in GROUPS if name in set(params))


@dataclass(frozen=True, eq=False)
class SpikeJVP:
    """Directional derivatives of all neuron spike times, ``J v`` (``J`` the Jacobian of
    :func:`spike_jacobian`, ``v`` a tangent direction of the parameters).

    ``tangent`` has one row per neuron spike, in the order of ``result.spike_time``: shape
    ``(n_spikes,)`` for one direction, ``(n_spikes, n_directions)`` for a stack (column ``d``
    along ``tangents[d]``).
    """

    result: SimulationResult
    tangent: NDArray[np.float64]


TangentLike = Gradients | Mapping[str, ArrayLike]


def _direction(tangent: Any, where: str, sizes: dict[str, int]) -> dict[str, NDArray[np.float64]]:
    """One tangent direction as ``{group: float64 array}``, checked (groups left out: zero)."""
    if isinstance(tangent, Gradients):
        groups = tangent.groups()
    elif isinstance(tangent, Mapping):
        groups = {name: arr for name, arr in tangent.items() if arr is not None}
    else:
        raise ProblemError(
            f"{where}: expected a Gradients or a {{group: array}} mapping, "
            f"got {type(tangent).__name__}"
        )
    out = {}
    for name, arr in groups.items():
        if name not in GROUPS:
            raise ProblemError(
                f"{where}: unknown parameter group {name!r}; valid groups: {', '.join(GROUPS)}"
            )
        raw = np.asarray(arr)
        if raw.dtype.kind not in "biuf":
            raise ProblemError(f"{where}.{name}: expected real numbers, got dtype {raw.dtype}")
        values = raw.astype(np.float64)
        if values.shape != (sizes[name],):
            raise ProblemError(
                f"{where}.{name}: expected shape ({sizes[name]},), got {values.shape}"
            )
        if not np.all(np.isfinite(values)):
            raise ProblemError(f"{where}.{name}: values must be finite")
        out[name] = values
    return out


def spike_jvp(
    problem_or_result: Problem | SimulationResult,
    tangents: TangentLike | Sequence[TangentLike],
) -> SpikeJVP:
    """Exact directional derivatives of all neuron spike times, ``J v``, by forward propagation.

    The forward-mode pass of :func:`spike_jacobian` with one tangent column per direction
    instead of one per parameter: time ``O((spikes + synaptic events) x directions)``, memory
    ``O(N x directions)`` plus the output (one row per recorded spike, input spikes included,
    estimated before allocating); no Jacobian is formed. This is what ``jax.jvp`` of the spike
    times calls.

    Args:
        problem_or_result: a problem (simulated first) or a simulation result.
        tangents: one direction, a :class:`~fpgrad.Gradients` (or a ``{group: array}``
            mapping) whose groups have the shapes of :func:`~fpgrad.grad.parameter_values`
            (groups left ``None`` or absent are zero), or a list/tuple of them (a stack).
            Values must be finite. A ``tau_syn`` component of a delta-synapse neuron
            (``tau_syn = 0``) has no effect, as its derivative is reported 0.

    Returns:
        :class:`SpikeJVP`: ``tangent`` of shape ``(n_spikes,)`` for one direction,
        ``(n_spikes, n_directions)`` for a stack.

    Raises:
        ProblemError: a tangent of the wrong type or shape, an unknown group, a non-finite value,
            an empty stack, or too much memory (estimated before allocating).
    """
    result = _as_result(problem_or_result)
    problem = result.problem
    single = isinstance(tangents, Gradients | Mapping)
    if single:
        stack = [tangents]
    elif isinstance(tangents, list | tuple):
        stack = list(tangents)
        if not stack:
            raise ProblemError("tangents: an empty sequence; pass at least one direction")
    else:
        raise ProblemError(
            "tangents: expected a Gradients, a {group: array} mapping or a list of them, "
            f"got {type(tangents).__name__}"
        )
    sizes = group_sizes(problem)
    directions = [
        _direction(t, "tangents" if single else f"tangents[{d}]", sizes)
        for d, t in enumerate(stack)
    ]
    n_events = result.record_node.shape[0]
    check_allocation(
        8.0 * len(directions) * (n_events + 2 * problem.network.n_neurons),
        f"the forward-mode JVP of {n_events} spikes x {len(directions)} directions",
        "pass fewer directions per call, or use reverse mode for the gradient of a loss "
        "(fpgrad.spike_vjp)",
    )
    seeds = direction_seeds(problem, directions)
    net = compile_network(problem.network)
    df = forward_kernel(*_kernel_args(net, result), *seeds.kernel_args())
    rows = df[result.spike_record_index]
    return SpikeJVP(result=result, tangent=rows[:, 0].copy() if single else rows)


def spike_vjp(
    result: SimulationResult,
    cotangent: ArrayLike,
    params: Iterable[str] | None = None,
) -> Gradients:
    """Exact ``sum_s cotangent[s] d(spike_time[s])/dp`` for all parameters, by reverse mode.

    ``cotangent`` has one entry per neuron spike in the order of ``result.spike_time``.
    Cost is linear in the number of synaptic events, independent of the number of parameters;
    gradients for the time constants add about one third, the bias a little (skip them with
    ``params``).
    """
    wanted = GROUPS if params is None else tuple(check_groups(params))
    cot = np.asarray(cotangent, dtype=np.float64)
    if cot.shape != (result.n_spikes,):
        raise ProblemError(
            f"cotangent: expected one value per spike, shape ({result.n_spikes},), got {cot.shape}"
        )
    if not np.all(np.isfinite(cot)):
        raise ProblemError("cotangent: values must be finite")
    net = compile_network(result.problem.network)
    check_allocation(
        32.0 * (result.n_synaptic_events + result.n_spikes),
        f"the reverse pass over {result.n_synaptic_events} synaptic events (states and touch "
        "schedule, 32 bytes each)",
        "shorten t_max or split the inputs into smaller problems",
    )
    lam_f = np.zeros(result.record_node.shape[0])
    lam_f[result.spike_record_index] = cot
    groups = reverse_kernel(
        *_kernel_args(net, result),
        result.problem.n_input_spikes,
        lam_f,
        "tau_syn" in wanted,
        "tau_mem" in wanted,
        "bias" in wanted,
    )
    values = dict(zip(GROUPS, groups, strict=True))  # the kernel returns them in GROUPS order
    return Gradients(**{name: values[name] for name in wanted})

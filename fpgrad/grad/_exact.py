"""Python entry points of the exact engines: spike-time Jacobians (FP) and vector-Jacobian
products (reverse mode)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._memory import check_allocation
from .._problem import Problem, ProblemError
from ..event import SimulationResult, simulate
from ..event._simulate import CompiledNetwork, compile_network
from ._forward import forward_kernel
from ._params import GROUPS, Gradients, check_groups, select_columns
from ._reverse import reverse_kernel

__all__ = ["SpikeJacobian", "spike_jacobian", "spike_vjp"]


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
    df = forward_kernel(
        *_kernel_args(net, result),
        cols.column["weight"],
        cols.column["input_time"],
        cols.column["threshold"],
        cols.column["tau_mem"],
        cols.column["tau_syn"],
        cols.column["delay"],
        cols.column["bias"],
        cols.column["v_reset"],
        cols.column["t_ref"],
        cols.n_columns,
    )
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

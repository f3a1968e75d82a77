"""``fpgrad grad PROBLEM --loss NAME [--target FILE] [--method M] [--names nir|fpgrad]
[--out FILE]``: the exact gradient of a spike-time loss as JSON.

For a ``.nir`` graph the gradient is by default in NIR's names (``--names nir``):
``{"node.field": dL/d field}`` in the field's NIR shape and the graph's time unit, what another
framework's gradient of the same graph is compared with (``fpgrad check --gradient``), since a
user of a NIR graph knows its fields, not fpgrad's synapse order; ``--names fpgrad`` gives
fpgrad's groups instead (which also hold ``input_time``).
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from .. import ExactForward, ExactReverse, FiniteDifference, gradient
from .._problem import ProblemError
from ._common import check_finite_gradient, emit
from ._problem_file import add_problem_loss_arguments, is_nir_file, load_problem_and_loss

__all__ = ["METHODS", "add_command", "run"]

METHODS = {
    "reverse": ExactReverse,
    "forward": ExactForward,
    "forward-online": lambda: ExactForward(online=True),
    "fd": FiniteDifference,
}


def run(args: argparse.Namespace) -> int:
    """The ``grad`` command on parsed arguments; returns the exit code."""
    if args.names == "nir" and not is_nir_file(args.problem):
        raise ProblemError("--names nir is for a .nir problem; a JSON problem has fpgrad's groups")
    loaded, loss = load_problem_and_loss(args)
    names = args.names or ("nir" if loaded.nir is not None else "fpgrad")
    problem = loaded.problem
    res = gradient(problem, loss, METHODS[args.method]())
    fd = args.method == "fd"
    check_finite_gradient(res, loss, problem, nan_ok=fd)
    if names == "nir":
        arrays = loaded.nir.nir_gradient(res.grad)
    else:
        arrays = res.grad.groups()
    unusable = False
    if fd:  # NaN: no step kept the spike sequence; written as null
        unusable = any(np.isnan(np.asarray(v, dtype=np.float64)).any() for v in arrays.values())
    grads = {name: _json_array(value, nan_as_null=fd) for name, value in arrays.items()}
    payload = {
        "loss": res.loss,
        "method": res.method,
        "gradient": grads,
        "degenerate": res.degenerate or unusable,
        "degeneracy": res.degeneracy.to_dict() if res.degeneracy else None,
    }
    if loaded.nir is not None:
        payload["nir"] = loaded.nir_summary()
    emit(payload, args.out)
    return 0


def _json_array(value: Any, *, nan_as_null: bool) -> Any:
    """``value`` as nested lists of floats (a float for a 0-d array), NaN as ``None`` if
    ``nan_as_null`` (otherwise :func:`~fpgrad.cli._common.emit` rejects it)."""
    arr = np.asarray(value, dtype=np.float64)
    if nan_as_null:
        return np.where(np.isnan(arr), None, arr.astype(object)).tolist()
    return arr.tolist()


def add_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``grad`` on the ``add_subparsers()`` object of the ``fpgrad`` parser."""
    grad = subparsers.add_parser(
        "grad",
        help="exact gradient of a spike-time loss, as JSON",
        description='Print {"loss", "method", "gradient": {group: [...]}, '
        '"degenerate", "degeneracy"} for PROBLEM. Groups: weight and delay (per synapse, file '
        "order), input_time (inputs flattened, each sorted), threshold, tau_mem, tau_syn, bias, "
        "v_reset, t_ref (per neuron; a delta-synapse neuron's tau_syn entry is 0, delay and "
        "t_ref at 0 get the right derivative). --target FILE is a JSON "
        'object of the loss\'s arguments: first-spike-mse {"targets": [ms...], "neurons": '
        '[ids]}, first-spike-ce {"label": k, "neurons": [ids], "tau0", "tau1", '
        '"alpha"}, van-rossum {"targets": {"node": [ms...]}, "tau"}, spike-count '
        '{"targets": [counts], "neurons": [ids]}; neurons default to the output neurons '
        "(those without outgoing synapses). Values in the output are always finite: a loss or "
        "gradient entry that is not finite (inf or NaN: a float64 overflow, e.g. first-spike-ce's "
        "exp(t / tau1) for late spikes or a tiny tau1) is an error naming the value and its "
        "likely cause (exit code 2), nothing is written; the one exception is --method fd, "
        "which writes null for a parameter where no finite-difference step kept the spike "
        "sequence (and then reports degenerate: true). PROBLEM may be a NIR graph (.nir, with "
        "--inputs; see below): then the gradient is by default keyed by NIR names, "
        "{\"node.field\": dL/d field} in the field's NIR shape and the graph's time unit (per "
        "second for --time-unit s), every differentiable field (Linear/Affine weight, Affine "
        "bias, Scale scale, Delay delay, the neuron nodes' fields), and the output holds "
        '"nir": {"time_unit", "input_node", "neurons": {node: [global ids]}, '
        '"output_neurons"}.',
    )
    add_problem_loss_arguments(grad)
    grad.add_argument(
        "--method",
        default="reverse",
        choices=sorted(METHODS),
        help="exact reverse mode (default), exact forward (FP Jacobian over the record), exact "
        "forward online (FP alongside the simulation, memory independent of t_max), or finite "
        "differences",
    )
    grad.add_argument(
        "--names",
        choices=("nir", "fpgrad"),
        help="key the gradient by NIR field (node.field, NIR shapes; default for a .nir "
        "problem) or by fpgrad parameter group (the only choice, and the default, for a JSON "
        "problem)",
    )
    grad.add_argument("--out", metavar="FILE", help="write the JSON to FILE instead of stdout")
    grad.set_defaults(func=run)
    return grad

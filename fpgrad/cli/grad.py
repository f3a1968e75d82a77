"""``fpgrad grad PROBLEM.json --loss NAME [--target FILE] [--method M] [--out FILE]``: the exact
gradient of a spike-time loss as JSON."""

from __future__ import annotations

import argparse
import math
from typing import Any

from .. import ExactForward, ExactReverse, FiniteDifference, gradient
from .._io import load_problem
from ._common import add_problem_loss_arguments, build_loss, check_finite_gradient, emit

__all__ = ["METHODS", "add_command", "run"]

METHODS = {
    "reverse": ExactReverse,
    "forward": ExactForward,
    "forward-online": lambda: ExactForward(online=True),
    "fd": FiniteDifference,
}


def run(args: argparse.Namespace) -> int:
    """The ``grad`` command on parsed arguments; returns the exit code."""
    problem = load_problem(args.problem)
    loss = build_loss(args.loss, args.target, problem)
    res = gradient(problem, loss, METHODS[args.method]())
    fd = args.method == "fd"
    check_finite_gradient(res, loss, problem, nan_ok=fd)
    grads = res.grad.to_dict()
    unusable = False
    if fd:  # NaN: no step kept the spike sequence; written as null
        unusable = any(math.isnan(x) for v in grads.values() for x in v)
        grads = {g: [None if math.isnan(x) else x for x in v] for g, v in grads.items()}
    emit(
        {
            "loss": res.loss,
            "method": res.method,
            "gradient": grads,
            "degenerate": res.degenerate or unusable,
            "degeneracy": res.degeneracy.to_dict() if res.degeneracy else None,
        },
        args.out,
    )
    return 0


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
        "sequence (and then reports degenerate: true).",
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
    grad.add_argument("--out", metavar="FILE", help="write the JSON to FILE instead of stdout")
    grad.set_defaults(func=run)
    return grad

"""Command-line interface: ``fpgrad <command> ...`` (also ``python -m fpgrad``)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from ._gradient import ExactForward, ExactReverse, FiniteDifference, gradient
from ._io import load_problem
from ._problem import Problem, ProblemError
from .event import DEFAULT_MAX_SPIKES, RunawayActivityError, simulate
from .grad import spike_jacobian
from .losses import FirstSpikeCrossEntropy, FirstSpikeMSE, SpikeCount, VanRossum

__all__ = ["main"]


def _emit(payload: dict[str, Any], out: str | None) -> None:
    text = json.dumps(payload, allow_nan=False)
    if out is None:
        sys.stdout.write(text + "\n")
    else:
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")


def _cmd_simulate(args: argparse.Namespace) -> int:
    problem = load_problem(args.problem)
    result = simulate(problem, max_spikes=args.max_spikes)
    payload = result.to_dict()
    if args.jacobian:
        payload.update(spike_jacobian(result, ["weight"]).to_dict())
    _emit(payload, args.out)
    return 0


LOSSES = {
    "first-spike-mse": FirstSpikeMSE,
    "first-spike-ce": FirstSpikeCrossEntropy,
    "van-rossum": VanRossum,
    "spike-count": SpikeCount,
}
METHODS = {"reverse": ExactReverse, "forward": ExactForward, "fd": FiniteDifference}


def output_neurons(problem: Problem) -> list[int]:
    """Neurons without outgoing synapses (all neurons if every one has some), global ids."""
    net = problem.network
    neurons = range(net.n_inputs, net.n_nodes)
    outputs = [n for n in neurons if n not in set(net.pre.tolist())]
    return outputs or list(neurons)


def add_problem_loss_arguments(parser: argparse.ArgumentParser) -> None:
    """The positional ``problem`` and ``--loss`` / ``--target`` (read by :func:`_build_loss`),
    shared by the commands that evaluate a loss: ``grad``, ``check``, ``compare``."""
    parser.add_argument("problem", help="problem file (JSON, format fpgrad-problem/1)")
    parser.add_argument("--loss", required=True, choices=sorted(LOSSES), help="the loss")
    parser.add_argument("--target", metavar="FILE", help="JSON file with the loss's arguments")


def _build_loss(name: str, target_file: str | None, problem: Problem):
    spec: dict[str, Any] = {}
    if target_file is not None:
        with open(target_file, encoding="utf-8") as fh:
            spec = json.load(fh)
        if not isinstance(spec, dict):
            raise ProblemError(f"{target_file}: expected a JSON object of loss arguments")
    if name == "van-rossum":
        if "targets" not in spec:
            raise ProblemError('van-rossum needs --target FILE with {"targets": {node: [times]}}')
        spec["targets"] = {int(k): v for k, v in spec["targets"].items()}
    else:
        spec.setdefault("neurons", output_neurons(problem))
        if name == "first-spike-ce":
            spec.setdefault("label", 0)
        elif "targets" not in spec:
            raise ProblemError(f'{name} needs --target FILE with {{"targets": [...]}}')
    try:
        return LOSSES[name](**spec)
    except TypeError as err:
        raise ProblemError(f"--target: invalid arguments for loss {name}: {err}") from None


def _cmd_grad(args: argparse.Namespace) -> int:
    problem = load_problem(args.problem)
    loss = _build_loss(args.loss, args.target, problem)
    res = gradient(problem, loss, METHODS[args.method]())
    _emit(
        {
            "loss": res.loss,
            "method": res.method,
            "gradient": res.grad.to_dict(),
            "degenerate": res.degenerate,
            "degeneracy": res.degeneracy.to_dict() if res.degeneracy else None,
        },
        args.out,
    )
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    return run_demo(args.out_dir)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fpgrad",
        description="Exact gradients of spiking neural networks: precise event-driven LIF "
        "simulation and exact spike-time gradients.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sim = sub.add_parser(
        "simulate",
        help="simulate a problem file exactly and print its spikes as JSON",
        description="Simulate PROBLEM (JSON, format fpgrad-problem/1) on [0, t_max] with the "
        'exact event-driven simulator. Prints {"spike_node": [...], "spike_time": [...], '
        '"degeneracy": {...}}: neuron spikes sorted by time then node id (global ids), times '
        "in ms at full float64 precision, and the margins to a change of spike pattern.",
    )
    sim.add_argument("problem", help="problem file (JSON, format fpgrad-problem/1)")
    sim.add_argument("--out", metavar="FILE", help="write the JSON to FILE instead of stdout")
    sim.add_argument(
        "--max-spikes",
        type=int,
        default=DEFAULT_MAX_SPIKES,
        help=f"stop with an error after this many neuron spikes (default {DEFAULT_MAX_SPIKES})",
    )
    sim.add_argument(
        "--jacobian",
        action="store_true",
        help='add "d_spike_time_d_weight": the exact Jacobian, one row per spike (order of '
        "spike_time), one column per synapse (file order)",
    )
    sim.set_defaults(func=_cmd_simulate)

    grad = sub.add_parser(
        "grad",
        help="exact gradient of a spike-time loss, as JSON",
        description='Print {"loss", "method", "gradient": {group: [...]}, '
        '"degenerate", "degeneracy"} for PROBLEM. Groups: weight (file order), input_time '
        "(inputs flattened, each sorted), threshold, tau_mem, tau_syn. --target FILE is a JSON "
        'object of the loss\'s arguments: first-spike-mse {"targets": [ms...], "neurons": '
        '[ids]}, first-spike-ce {"label": k, "neurons": [ids], "tau0", "tau1", '
        '"alpha"}, van-rossum {"targets": {"node": [ms...]}, "tau"}, spike-count '
        '{"targets": [counts], "neurons": [ids]}; neurons default to the output neurons '
        "(those without outgoing synapses).",
    )
    add_problem_loss_arguments(grad)
    grad.add_argument(
        "--method",
        default="reverse",
        choices=sorted(METHODS),
        help="exact reverse mode (default), exact forward (FP Jacobian), or finite differences",
    )
    grad.add_argument("--out", metavar="FILE", help="write the JSON to FILE instead of stdout")
    grad.set_defaults(func=_cmd_grad)

    from ._compare_cli import add_compare_command
    from .testing._cli import add_check_command
    from .train import add_train_command

    add_check_command(sub)
    add_compare_command(sub)
    add_train_command(sub)

    demo = sub.add_parser(
        "demo",
        help="run the built-in example",
        description="Run fpgrad's main job on its built-in example and save results.",
    )
    demo.add_argument(
        "--out-dir", default="demo-output", help="folder for the demo's files (default demo-output)"
    )
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 bad input or usage, 1 other failure)."""
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ProblemError, RunawayActivityError, OSError) as err:
        print(f"fpgrad: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

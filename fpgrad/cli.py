"""Command-line interface: ``fpgrad <command> ...`` (also ``python -m fpgrad``)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from ._io import load_problem
from ._problem import ProblemError
from .event import DEFAULT_MAX_SPIKES, RunawayActivityError, simulate

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
    _emit(result.to_dict(), args.out)
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
        "exact event-driven simulator. Prints {\"spike_node\": [...], \"spike_time\": [...], "
        "\"degeneracy\": {...}}: neuron spikes sorted by time then node id (global ids), times "
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
    sim.set_defaults(func=_cmd_simulate)

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

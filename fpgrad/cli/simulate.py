"""``fpgrad simulate PROBLEM.json [--out FILE] [--max-spikes N] [--jacobian]``: the exact spikes
of a problem file as JSON."""

from __future__ import annotations

import argparse
from typing import Any

from .._io import load_problem
from ..event import DEFAULT_MAX_SPIKES, simulate
from ..event._simulate import MAX_SPIKES_LIMIT
from ..grad import spike_jacobian
from ._common import emit, int_in_range

__all__ = ["add_command", "run"]


def run(args: argparse.Namespace) -> int:
    """The ``simulate`` command on parsed arguments; returns the exit code."""
    problem = load_problem(args.problem)
    result = simulate(problem, max_spikes=args.max_spikes)
    payload = result.to_dict()
    if args.jacobian:
        payload.update(spike_jacobian(result, ["weight"]).to_dict())
    emit(payload, args.out)
    return 0


def add_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``simulate`` on the ``add_subparsers()`` object of the ``fpgrad`` parser."""
    sim = subparsers.add_parser(
        "simulate",
        help="simulate a problem file exactly and print its spikes as JSON",
        description="Simulate PROBLEM (JSON, format fpgrad-problem/2 or /1) on [0, t_max] with the "
        'exact event-driven simulator. Prints {"spike_node": [...], "spike_time": [...], '
        '"degeneracy": {...}}: neuron spikes sorted by time then node id (global ids), times '
        "in ms at full float64 precision, and the margins to a change of spike pattern (null "
        "where a margin does not exist). A value that is not finite (a float64 overflow in "
        "the Jacobian on an extreme problem) is an error (exit code 2), never written.",
    )
    sim.add_argument("problem", help="problem file (JSON, format fpgrad-problem/2 or /1)")
    sim.add_argument("--out", metavar="FILE", help="write the JSON to FILE instead of stdout")
    sim.add_argument(
        "--max-spikes",
        type=int_in_range("--max-spikes", 0, MAX_SPIKES_LIMIT),
        default=DEFAULT_MAX_SPIKES,
        metavar="N",
        help="stop with an error after this many neuron spikes: an integer in "
        f"[0, {MAX_SPIKES_LIMIT}] (default {DEFAULT_MAX_SPIKES})",
    )
    sim.add_argument(
        "--jacobian",
        action="store_true",
        help='add "d_spike_time_d_weight": the exact Jacobian, one row per spike (order of '
        "spike_time), one column per synapse (file order)",
    )
    sim.set_defaults(func=run)
    return sim

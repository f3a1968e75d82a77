"""``fpgrad simulate PROBLEM [--out FILE] [--max-spikes N] [--jacobian]``: the exact spikes of a
problem file (JSON, or a ``.nir`` graph with ``--inputs``) as JSON."""

from __future__ import annotations

import argparse
from typing import Any

from ..event import DEFAULT_MAX_SPIKES, simulate
from ..event._simulate import MAX_SPIKES_LIMIT
from ..grad import spike_jacobian
from ._common import emit, int_in_range
from ._problem_file import add_problem_argument, load_problem_file

__all__ = ["add_command", "run"]


def run(args: argparse.Namespace) -> int:
    """The ``simulate`` command on parsed arguments; returns the exit code."""
    loaded = load_problem_file(args)
    result = simulate(loaded.problem, max_spikes=args.max_spikes)
    payload = result.to_dict()
    if args.jacobian:
        payload.update(spike_jacobian(result, ["weight"]).to_dict())
    if loaded.nir is not None:
        payload["nir"] = loaded.nir_summary()
    emit(payload, args.out)
    return 0


def add_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``simulate`` on the ``add_subparsers()`` object of the ``fpgrad`` parser."""
    sim = subparsers.add_parser(
        "simulate",
        help="simulate a problem file exactly and print its spikes as JSON",
        description="Simulate PROBLEM (JSON, format fpgrad-problem/2 or /1, or a NIR graph with "
        "--inputs) on [0, t_max] with the "
        'exact event-driven simulator. Prints {"spike_node": [...], "spike_time": [...], '
        '"degeneracy": {...}}: neuron spikes sorted by time then node id (global ids), times '
        "in ms at full float64 precision, and the margins to a change of spike pattern (null "
        "where a margin does not exist). A value that is not finite (a float64 overflow in "
        "the Jacobian on an extreme problem) is an error (exit code 2), never written. For a "
        '.nir graph the output also holds "nir": {"time_unit", "input_node", "neurons": '
        '{node: [global ids]}, "output_neurons": [global ids feeding the Output node]}.',
    )
    add_problem_argument(sim)
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

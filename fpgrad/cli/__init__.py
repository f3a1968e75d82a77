"""Command-line interface: ``fpgrad <command> ...`` (also ``python -m fpgrad``).

One module per command (:mod:`~fpgrad.cli.simulate`, :mod:`~fpgrad.cli.grad`,
:mod:`~fpgrad.cli.check`, :mod:`~fpgrad.cli.compare`, :mod:`~fpgrad.cli.train`,
:mod:`~fpgrad.cli.demo`), each with ``add_command(subparsers)`` registering its subcommand with
``func`` set to the function that runs it; what several commands share is in
:mod:`fpgrad.cli._common`. Command modules import only ``_common`` and library modules, never
this package or each other; only this module assembles them. Heavy imports (JAX, the training
stack) happen when a command runs, not when the parser is built.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import __version__
from .._problem import ProblemError
from ..event import RunawayActivityError
from . import check, compare, demo, grad, simulate, train

__all__ = ["main"]

#: The command modules, in the order ``fpgrad --help`` lists them.
COMMANDS = (simulate, grad, check, compare, train, demo)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fpgrad",
        description="Exact gradients of spiking neural networks: precise event-driven LIF "
        "simulation and exact spike-time gradients.",
    )
    parser.add_argument("--version", action="version", version=f"fpgrad {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 check failed, 2 bad input or usage)."""
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ProblemError, RunawayActivityError, OSError) as err:
        print(f"fpgrad: error: {err}", file=sys.stderr)
        return 2

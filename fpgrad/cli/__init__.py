"""Command-line interface: ``fpgrad <command> ...`` (also ``python -m fpgrad``).

One module per command (:mod:`~fpgrad.cli.simulate`, :mod:`~fpgrad.cli.grad`,
:mod:`~fpgrad.cli.check`, :mod:`~fpgrad.cli.compare`, :mod:`~fpgrad.cli.train`,
:mod:`~fpgrad.cli.demo`), each with ``add_command(subparsers)`` registering its subcommand with
``func`` set to the function that runs it; what several commands share is in
:mod:`fpgrad.cli._common`, and the problem argument (a JSON problem or a ``.nir`` graph with
its inputs) in :mod:`fpgrad.cli._problem_file`. Command modules import only those two and
library modules, never this package or each other; only this module assembles them. Heavy
imports (JAX, the training stack) happen when a command runs, not when the parser is built.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

import numpy as np

from .. import __version__
from .._problem import ProblemError
from ..event import RunawayActivityError
from . import check, compare, demo, grad, simulate, train

__all__ = ["main"]

#: The command modules, in the order ``fpgrad --help`` lists them.
COMMANDS = (simulate, grad, check, compare, train, demo)

#: Commands whose numpy floating-point overflow, division by zero or invalid operation is an
#: error (exit code 2, one line) instead of a ``RuntimeWarning`` line and a result built on
#: ``inf``/``NaN``: their answers are exact numbers. (``compare`` reports an exploding surrogate
#: gradient as a row of its table; ``train`` and ``demo`` run long jobs.)
STRICT_FLOAT = ("simulate", "grad", "check")


def one_line(message: str) -> str:
    """``message`` with every non-printable character (newlines, control characters, lone
    surrogates) escaped, so that it prints as one line."""
    if message.isprintable():
        return message
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in message)


class _Parser(argparse.ArgumentParser):
    """The ``fpgrad`` parser (and, through ``add_subparsers``, each command's): a usage error is
    one line ``fpgrad: error: ... (see 'fpgrad COMMAND --help')`` on stderr, exit code 2, like
    every other bad input (argparse's default prints the usage block first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"fpgrad: error: {one_line(message)} (see '{self.prog} --help')\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
    """Run the CLI; returns the exit code (0 ok, 1 check failed, 2 bad input or usage).

    Bad input is one line ``fpgrad: error: ...`` on stderr and exit code 2: a usage error
    (raised as :class:`SystemExit`, as argparse does), a malformed file or option
    (:class:`~fpgrad.ProblemError`), runaway activity, a file that cannot be read or written,
    or a computation that does not fit in memory."""
    args = _parser().parse_args(argv)
    strict = args.command in STRICT_FLOAT
    try:
        with np.errstate(
            **({"over": "raise", "divide": "raise", "invalid": "raise"} if strict else {})
        ):
            return int(args.func(args))
    except (FloatingPointError, OverflowError) as err:
        print(
            "fpgrad: error: float64 arithmetic failed while computing the result "
            f"({one_line(str(err))}): the problem's numbers are too extreme (spike times or "
            "t_max near 1e308, time constants near 1e-308, or huge weights)",
            file=sys.stderr,
        )
        return 2
    except (ProblemError, RunawayActivityError, OSError) as err:
        print(f"fpgrad: error: {one_line(str(err))}", file=sys.stderr)
        return 2
    except MemoryError as err:
        detail = f" ({one_line(str(err))})" if str(err) else ""
        print(
            f"fpgrad: error: out of memory{detail}: the problem is too large for this machine",
            file=sys.stderr,
        )
        return 2

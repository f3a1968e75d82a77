"""``fpgrad check PROBLEM.json --loss NAME [--target FILE] [--gradient FILE.npz]``.

Runs :func:`~fpgrad.testing.gradcheck` (exact reverse and forward against step-selected finite
differences) and, with ``--gradient``, compares a gradient computed elsewhere with the exact one
(:func:`~fpgrad.testing.compare_external`). Prints the tables and the verdict; exit code 0 when
the check passes, 1 when it fails, 2 for bad input (as the rest of the CLI).

The loss is built exactly as ``fpgrad grad`` builds it (``fpgrad.cli._build_loss``). Imports
from :mod:`fpgrad.cli` are deferred to call time: ``fpgrad.cli`` imports this module to register
the command.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._io import load_problem
from .._problem import ProblemError
from ..grad._params import GROUPS
from ._external import compare_external
from ._gradcheck import DEFAULT_ATOL, DEFAULT_MARGIN, DEFAULT_RTOL, gradcheck

__all__ = ["add_check_command", "load_gradient_npz", "main", "run_check"]


def load_gradient_npz(path: str) -> dict[str, np.ndarray]:
    """Arrays of an ``.npz`` file named by parameter group (``weight``, ``input_time``,
    ``threshold``, ``tau_mem``, ``tau_syn``); any other name is an error."""
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, zipfile.BadZipFile, EOFError) as err:
        raise ProblemError(f"{path}: not a readable .npz file of arrays ({err})") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ProblemError(
            f"{path}: expected an .npz archive of arrays named by group, got one array"
        )
    try:
        arrays = {name: np.asarray(data[name]) for name in data.files}
    except (ValueError, zipfile.BadZipFile, EOFError) as err:
        raise ProblemError(f"{path}: not a readable .npz file of arrays ({err})") from None
    finally:
        data.close()
    unknown = sorted(set(arrays) - set(GROUPS))
    if unknown:
        raise ProblemError(
            f"{path}: unknown array name(s) {', '.join(unknown)}; arrays must be named by "
            f"parameter group: {', '.join(GROUPS)}"
        )
    if not arrays:
        raise ProblemError(f"{path}: no arrays (expected some of {', '.join(GROUPS)})")
    return arrays


def _parse_params(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    for name in names:
        if name not in GROUPS:
            raise ProblemError(
                f"--params: unknown parameter group {name!r}; valid groups: {', '.join(GROUPS)}"
            )
    return names


def run_check(args: argparse.Namespace) -> int:
    """The ``check`` command on parsed arguments; returns the exit code (0 pass, 1 fail)."""
    from ..cli import _build_loss

    problem = load_problem(args.problem)
    loss = _build_loss(args.loss, args.target, problem)
    params = _parse_params(args.params)
    external = load_gradient_npz(args.gradient) if args.gradient else None
    report = gradcheck(
        problem, loss, params=params, rtol=args.rtol, atol=args.atol, margin=args.margin
    )
    print(repr(report))
    ok = report.passed
    if external is not None:
        comparison = compare_external(
            problem, loss, external, params=params, rtol=args.external_rtol
        )
        print()
        print(repr(comparison))
        if comparison.passed is False:
            ok = False
    print()
    print("verdict: PASS" if ok else "verdict: FAIL")
    sys.stdout.flush()
    return 0 if ok else 1


def add_check_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``check`` on the ``add_subparsers()`` object of the ``fpgrad`` parser.

    The command's function is stored as ``func`` (the convention of :mod:`fpgrad.cli`); it
    returns 0 or 1 and raises :class:`~fpgrad.ProblemError` for bad input (exit code 2).
    """
    from ..cli import add_problem_loss_arguments

    check = subparsers.add_parser(
        "check",
        help="check exact gradients against finite differences (and an external gradient)",
        description="Check the exact gradient of a loss on PROBLEM: exact reverse and forward "
        "modes against step-selected Richardson finite differences, per parameter group "
        "(pass if max|g - fd| <= atol + rtol * max|fd|), with the degeneracy margins. With "
        "--gradient FILE.npz (arrays named weight, input_time, threshold, tau_mem, tau_syn in "
        "fpgrad's layout), also report the cosine similarity and L2 relative error of that "
        "gradient against the exact one. Exit code 0 pass, 1 fail, 2 bad input. --target as "
        "for `fpgrad grad`.",
    )
    add_problem_loss_arguments(check)
    check.add_argument(
        "--gradient", metavar="FILE.npz", help="an external gradient to compare (npz by group)"
    )
    check.add_argument(
        "--params",
        metavar="GROUPS",
        help=f"comma-separated parameter groups to check (default all: {','.join(GROUPS)})",
    )
    check.add_argument("--rtol", type=float, default=DEFAULT_RTOL, help=f"default {DEFAULT_RTOL:g}")
    check.add_argument("--atol", type=float, default=DEFAULT_ATOL, help=f"default {DEFAULT_ATOL:g}")
    check.add_argument(
        "--margin",
        type=float,
        default=DEFAULT_MARGIN,
        help=f"degeneracy margin flagged as near-degenerate (default {DEFAULT_MARGIN:g})",
    )
    check.add_argument(
        "--external-rtol",
        type=float,
        default=None,
        metavar="RTOL",
        help="also fail unless the external gradient's L2 relative error is within RTOL in "
        "every group (default: report only)",
    )
    check.set_defaults(func=run_check)
    return check


def main(argv: Sequence[str] | None = None) -> int:
    """``fpgrad check ...`` on its own (``argv`` without the word ``check``), with the exit
    codes of :func:`fpgrad.cli.main`: 0 pass, 1 fail, 2 bad input or usage."""
    from ..event import RunawayActivityError

    parser = argparse.ArgumentParser(prog="fpgrad")
    sub = parser.add_subparsers(dest="command", required=True)
    add_check_command(sub)
    args = parser.parse_args(["check", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args))
    except (ProblemError, RunawayActivityError, OSError) as err:
        print(f"fpgrad: error: {err}", file=sys.stderr)
        return 2

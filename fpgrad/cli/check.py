"""``fpgrad check PROBLEM.json --loss NAME [--target FILE] [--gradient FILE.npz]``.

Runs :func:`~fpgrad.testing.gradcheck` (exact reverse and forward against step-selected finite
differences) and, with ``--gradient``, compares a gradient computed elsewhere with the exact one
(:func:`~fpgrad.testing.compare_external`). Prints the tables and the verdict; exit code 0 when
the check passes, 1 when it fails, 2 for bad input (as the rest of the CLI).

The loss is built exactly as ``fpgrad grad`` builds it (:func:`fpgrad.cli._common.build_loss`).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .._io import load_problem
from .._problem import ProblemError
from ..grad._params import GROUPS
from ..testing._external import DEFAULT_EXTERNAL_RTOL, compare_external
from ..testing._gradcheck import DEFAULT_ATOL, DEFAULT_MARGIN, DEFAULT_RTOL, gradcheck
from ._common import add_problem_loss_arguments, build_loss, load_gradient_npz

__all__ = ["add_command", "parse_params", "run"]


def parse_params(text: str | None) -> tuple[str, ...] | None:
    """The groups of ``--params`` (comma-separated), ``None`` for all; unknown names raise
    :class:`~fpgrad.ProblemError`."""
    if text is None:
        return None
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    for name in names:
        if name not in GROUPS:
            raise ProblemError(
                f"--params: unknown parameter group {name!r}; valid groups: {', '.join(GROUPS)}"
            )
    return names


def run(args: argparse.Namespace) -> int:
    """The ``check`` command on parsed arguments; returns the exit code (0 pass, 1 fail)."""
    problem = load_problem(args.problem)
    loss = build_loss(args.loss, args.target, problem)
    params = parse_params(args.params)
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
        ok = ok and comparison.passed
    print()
    print("verdict: PASS" if ok else "verdict: FAIL")
    sys.stdout.flush()
    return 0 if ok else 1


def add_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``check`` on the ``add_subparsers()`` object of the ``fpgrad`` parser.

    The command's function is stored as ``func``; it returns 0 or 1 and raises
    :class:`~fpgrad.ProblemError` for bad input (exit code 2).
    """
    check = subparsers.add_parser(
        "check",
        help="check exact gradients against finite differences (and an external gradient)",
        description="Check the exact gradient of a loss on PROBLEM: exact reverse and forward "
        "modes against step-selected Richardson finite differences, per parameter group "
        "(pass if max|g - fd| <= atol + rtol * max|fd|), with the degeneracy margins. With "
        "--gradient FILE.npz (arrays named weight, input_time, threshold, tau_mem, tau_syn in "
        "fpgrad's layout), also compare that gradient with the exact one (cosine, L2 relative "
        "error, sign agreement per group): it fails unless every group's L2 relative error is "
        f"within --external-rtol (default {DEFAULT_EXTERNAL_RTOL:g}). Exit code 0 pass, 1 fail, "
        "2 bad input. --target as "
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
        default=DEFAULT_EXTERNAL_RTOL,
        metavar="RTOL",
        help="the external gradient fails unless its L2 relative error is within RTOL in "
        f"every group (default {DEFAULT_EXTERNAL_RTOL:g}; about 1e-4 suits float32 code)",
    )
    check.set_defaults(func=run)
    return check

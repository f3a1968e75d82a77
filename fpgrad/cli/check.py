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

from .._gradient import gradient
from .._io import load_problem, show
from .._problem import ProblemError
from ..grad._params import GROUPS
from ..testing._external import DEFAULT_EXTERNAL_RTOL, compare_external
from ..testing._gradcheck import (
    DEFAULT_ATOL,
    DEFAULT_MARGIN,
    DEFAULT_RTOL,
    as_gradients,
    gradcheck,
)
from ._common import (
    add_problem_loss_arguments,
    build_loss,
    check_finite_gradient,
    finite_float,
    load_gradient_npz,
)

__all__ = ["add_command", "parse_params", "run"]


def parse_params(text: str | None) -> tuple[str, ...] | None:
    """The groups of ``--params`` (comma-separated), ``None`` for all; unknown names raise
    :class:`~fpgrad.ProblemError`."""
    if text is None:
        return None
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    if not names:
        raise ProblemError(
            f"--params: no parameter group in {show(text)}; valid groups: {', '.join(GROUPS)}"
        )
    for name in names:
        if name not in GROUPS:
            raise ProblemError(
                f"--params: unknown parameter group {show(name)}; valid groups: {', '.join(GROUPS)}"
            )
    return names


def run(args: argparse.Namespace) -> int:
    """The ``check`` command on parsed arguments; returns the exit code (0 pass, 1 fail)."""
    params = parse_params(args.params)
    problem = load_problem(args.problem)
    loss = build_loss(args.loss, args.target, problem)
    external = load_gradient_npz(args.gradient) if args.gradient else None
    if external is not None:  # sizes and finiteness, before the (slow) check runs
        as_gradients(problem, external, params=params)
    # a loss or gradient that overflows cannot be checked: bad input, not a failed check
    check_finite_gradient(gradient(problem, loss), loss, problem)
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
        "--gradient FILE.npz (arrays named by parameter group in fpgrad's layout: weight and "
        "delay per synapse in file order, input_time (inputs flattened, each sorted), threshold, "
        "tau_mem, tau_syn, bias, v_reset and t_ref per neuron; any subset of them), also "
        "compare that gradient with the exact one (cosine, L2 relative "
        "error, sign agreement per group): it fails unless every group's L2 relative error is "
        f"within --external-rtol (default {DEFAULT_EXTERNAL_RTOL:g}). Exit code 0 pass, 1 fail, "
        "2 bad input (also a loss or exact gradient that is not finite: it cannot be checked). "
        "Tolerances are finite numbers >= 0. --target as for `fpgrad grad`.",
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
    check.add_argument(
        "--rtol",
        type=finite_float("--rtol"),
        default=DEFAULT_RTOL,
        help=f"default {DEFAULT_RTOL:g}",
    )
    check.add_argument(
        "--atol",
        type=finite_float("--atol"),
        default=DEFAULT_ATOL,
        help=f"default {DEFAULT_ATOL:g}",
    )
    check.add_argument(
        "--margin",
        type=finite_float("--margin"),
        default=DEFAULT_MARGIN,
        help=f"degeneracy margin flagged as near-degenerate (default {DEFAULT_MARGIN:g})",
    )
    check.add_argument(
        "--external-rtol",
        type=finite_float("--external-rtol"),
        default=DEFAULT_EXTERNAL_RTOL,
        metavar="RTOL",
        help="the external gradient fails unless its L2 relative error is within RTOL in "
        f"every group (default {DEFAULT_EXTERNAL_RTOL:g}; about 1e-4 suits float32 code)",
    )
    check.set_defaults(func=run)
    return check

"""``fpgrad check PROBLEM --loss NAME [--target FILE] [--gradient FILE.npz] [--dt DT]``.

Runs :func:`~fpgrad.testing.gradcheck` (exact reverse and forward against step-selected finite
differences) and, with ``--gradient``, compares a gradient computed elsewhere with the exact one
(:func:`~fpgrad.testing.compare_external`; for a ``.nir`` graph
:func:`~fpgrad.testing.compare_nir`, the file keyed by NIR names ``node.field``, ``--dt`` the
other framework's time step). The external gradient is read and checked (names, shapes,
finiteness) before the slow finite-difference check runs. Prints the tables and the verdict;
exit code 0 when the check passes, 1 when it fails, 2 for bad input (as the rest of the CLI).

The loss is built exactly as ``fpgrad grad`` builds it (:func:`fpgrad.cli._common.build_loss`).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .._gradient import gradient
from .._io import show
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
from ..testing._nir import compare_nir, nir_gradient_arrays
from ._common import check_finite_gradient, finite_float, load_gradient_npz, read_npz
from ._problem_file import ProblemFile, add_problem_loss_arguments, load_problem_and_loss

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
    loaded, loss = load_problem_and_loss(args)
    problem = loaded.problem
    if args.dt is not None and (loaded.nir is None or args.gradient is None):
        raise ProblemError(
            "--dt is the time step of the framework that computed a .nir graph's --gradient; "
            "it needs both"
        )
    exact = gradient(problem, loss)
    # a loss or gradient that overflows cannot be checked: bad input, not a failed check
    check_finite_gradient(exact, loss, problem)
    external = None
    if args.gradient is not None:  # names, sizes and finiteness, before the (slow) check runs
        if loaded.nir is None:
            external = load_gradient_npz(args.gradient)
            as_gradients(problem, external, params=params)
        else:
            external = nir_gradient_arrays(
                read_npz(args.gradient, 'arrays named "node.field"'),
                loaded.nir.nir_gradient(exact.grad),
                what=f"--gradient {args.gradient}",
            )
    report = gradcheck(
        problem, loss, params=params, rtol=args.rtol, atol=args.atol, margin=args.margin
    )
    print(repr(report))
    ok = report.passed
    if external is not None:
        comparison = _compare(loaded, loss, external, params, args)
        print()
        print(repr(comparison))
        ok = ok and comparison.passed
    print()
    print("verdict: PASS" if ok else "verdict: FAIL")
    sys.stdout.flush()
    return 0 if ok else 1


def _compare(
    loaded: ProblemFile, loss: Any, external: Any, params: Any, args: argparse.Namespace
) -> Any:
    """The external gradient against the exact one: by group, or by NIR field for a graph."""
    if loaded.nir is None:
        return compare_external(
            loaded.problem, loss, external, params=params, rtol=args.external_rtol
        )
    return compare_nir(
        loaded.nir,
        list(loaded.inputs),
        loss,
        external,
        t_max=loaded.t_max,
        time_unit=loaded.nir.time_unit,
        spike_area=loaded.nir.spike_area,
        dt=args.dt,
        rtol=args.external_rtol,
    )


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
        "Tolerances are finite numbers >= 0. --target as for `fpgrad grad`. PROBLEM may be a NIR "
        "graph (.nir, with --inputs; see below): then --gradient FILE.npz holds arrays named "
        "by NIR field, node.field (any subset of the graph's differentiable fields, each "
        "dL/d field in the field's NIR shape and the graph's time unit, as `fpgrad grad` "
        "writes them), compared field by field with the same statistics and pass rule, and "
        "--dt gives the time step of the framework that computed it (noted in the report); "
        "--params still selects the groups of the finite-difference check.",
    )
    add_problem_loss_arguments(check)
    check.add_argument(
        "--gradient", metavar="FILE.npz", help="an external gradient to compare (npz by group)"
    )
    check.add_argument(
        "--dt",
        type=finite_float("--dt"),
        metavar="DT",
        help="the time step of the (discrete-time) framework that computed --gradient of a .nir "
        "graph, in the graph's time unit; noted in the report (such a gradient is not expected "
        "to pass)",
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

"""``fpgrad compare PROBLEM --loss NAME [--target FILE] [--dt ...] [--surrogate ...]
[--width ...] [--scheduler ADDRESS] [--out-dir DIR]``: the table of :func:`fpgrad.compare`.

With ``--scheduler`` the ``(dt, surrogate, width)`` configurations run on the workers of that
Dask cluster (``compare(..., client=ADDRESS)``): the same table, BPTT timed on the workers; an
unreachable scheduler is a one-line error, exit code 2.

Prints the table and writes ``DIR/compare.csv``, ``DIR/compare.json`` and ``DIR/compare.png``.
Exit codes as in the rest of the CLI: 0 success, 2 bad input (a bad option names itself), 1 when
the ``jax`` extra is missing. JAX (:mod:`fpgrad.compare`) is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .._gradient import gradient
from .._method import SURROGATE_GROUPS
from ._common import check_finite_gradient
from ._problem_file import add_problem_loss_arguments, load_problem_and_loss

__all__ = ["add_command", "run"]


def run(args: argparse.Namespace) -> int:
    """The ``compare`` command on parsed arguments; returns the exit code."""
    loaded, loss = load_problem_and_loss(args)
    problem = loaded.problem
    # before JAX: the exact side must be finite for the comparison to mean anything
    check_finite_gradient(gradient(problem, loss), loss, problem)
    try:
        from .._compare import compare
    except ImportError as err:
        print(f"fpgrad: error: {err}", file=sys.stderr)
        return 1
    options: dict[str, Any] = {
        "reset": args.reset,
        "detach_reset": args.detach_reset,
        "params": args.params,
        "repeats": args.repeats,
        "client": args.scheduler,
    }
    # options left out take compare()'s defaults
    for key, value in (("dts", args.dt), ("surrogates", args.surrogate), ("widths", args.width)):
        if value is not None:
            options[key] = value
    try:
        table = compare(problem, loss, **options)
    except ValueError as err:  # a bad dt, surrogate, width, repeats, loss, problem, cluster
        print(f"fpgrad: error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    print(table)
    written = [
        table.to_csv(out / "compare.csv"),
        table.to_json(out / "compare.json"),
        table.plot(out / "compare.png"),
    ]
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def add_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``compare`` on the ``add_subparsers()`` object of the ``fpgrad`` parser."""
    cmd = subparsers.add_parser(
        "compare",
        help="exact vs surrogate gradients: table, CSV, JSON and plot (needs fpgrad[jax])",
        description="Compare the exact gradient of a loss on PROBLEM with surrogate-gradient "
        "BPTT on the grid model, for every grid step, surrogate and width: cosine similarity, "
        "relative L2 error and sign agreement per parameter group, forward agreement of the "
        "grid run with the exact simulation, and timings. Prints the table and writes "
        "compare.csv, compare.json and compare.png to --out-dir. PROBLEM, --loss and --target as "
        "for 'fpgrad grad' (a .nir graph with --inputs too; --dt here is the grid step in ms).",
    )
    add_problem_loss_arguments(cmd)
    cmd.add_argument(
        "--dt",
        nargs="+",
        type=float,
        metavar="MS",
        help="grid steps in ms (default 1 0.1 0.01)",
    )
    cmd.add_argument(
        "--surrogate",
        nargs="+",
        metavar="NAME",
        help="surrogates (default all: rectangular triangular sigmoid gaussian laplace "
        "fast_sigmoid single_exponential arctan straight_through; aliases allowed)",
    )
    cmd.add_argument(
        "--width",
        nargs="+",
        type=float,
        metavar="W",
        help="surrogate widths in units of threshold (default: each surrogate's default, "
        "0.1, or 1 for straight_through)",
    )
    cmd.add_argument(
        "--reset",
        default="subtract",
        choices=["subtract", "zero"],
        help="reset of the grid model (default subtract, the exact model's)",
    )
    cmd.add_argument(
        "--no-detach-reset",
        dest="detach_reset",
        action="store_false",
        help="let the gradient flow through the reset (detached by default)",
    )
    cmd.add_argument(
        "--params",
        nargs="+",
        choices=SURROGATE_GROUPS,
        metavar="GROUP",
        help="parameter groups (default every group the grid model differentiates: "
        f"{' '.join(SURROGATE_GROUPS)})",
    )
    cmd.add_argument(
        "--repeats", type=int, default=3, help="timed repetitions per gradient (default 3)"
    )
    cmd.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the configurations on the Dask cluster of this scheduler (e.g. "
        "tcp://host:8786; the dask extra), one task each: the same table, BPTT timed on the "
        "workers",
    )
    cmd.add_argument(
        "--out-dir",
        default="compare-output",
        metavar="DIR",
        help="folder for compare.csv, compare.json and compare.png (default compare-output)",
    )
    cmd.set_defaults(func=run)
    return cmd

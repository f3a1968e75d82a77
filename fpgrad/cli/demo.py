"""``fpgrad demo [--out-dir DIR]``: fpgrad's main job on its built-in example."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_command", "run"]


def run(args: argparse.Namespace) -> int:
    """The ``demo`` command on parsed arguments; returns the exit code."""
    from .._demo import run_demo

    return run_demo(args.out_dir)


def add_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``demo`` on the ``add_subparsers()`` object of the ``fpgrad`` parser."""
    demo = subparsers.add_parser(
        "demo",
        help="run the built-in example",
        description="Run fpgrad's main job on its built-in example and save results.",
    )
    demo.add_argument(
        "--out-dir", default="demo-output", help="folder for the demo's files (default demo-output)"
    )
    demo.set_defaults(func=run)
    return demo

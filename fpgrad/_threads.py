"""One way to map work over threads: the Numba kernels release the GIL, so threads use all cores."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["map_threads", "thread_count"]

T = TypeVar("T")
R = TypeVar("R")


def thread_count(n_threads: int | None) -> int:
    """``n_threads``, or every core when ``None`` (at least 1)."""
    if n_threads is None:
        return os.cpu_count() or 1
    if isinstance(n_threads, bool) or not isinstance(n_threads, int) or n_threads < 1:
        from ._problem import ProblemError

        raise ProblemError(f"n_threads: expected an integer >= 1 or None, got {n_threads!r}")
    return n_threads


def map_threads(fn: Callable[[T], R], items: Sequence[T], n_threads: int | None = None) -> list[R]:
    """``[fn(x) for x in items]`` on up to ``n_threads`` threads (default: all cores), in order.

    One item or one thread runs in the calling thread (no pool).
    """
    workers = min(thread_count(n_threads), len(items))
    if workers <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))

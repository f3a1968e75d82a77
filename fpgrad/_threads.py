"""One way to map work over threads: the Numba kernels release the GIL, so threads use all cores.

:func:`map_threads` runs on a pool of threads kept for the life of the process (starting threads
per call cost more than a small batch's work) and hands out items one at a time from a shared
counter, the calling thread working too: a slow sample never leaves the other threads idle, and
a call made from inside a pool thread cannot wait for itself (the helpers it queued and no
thread started are cancelled once the counter is exhausted).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import count
from typing import TypeVar

__all__ = ["map_threads", "thread_count"]

T = TypeVar("T")
R = TypeVar("R")

_POOL: ThreadPoolExecutor | None = None
_POOL_SIZE = 0
_POOL_LOCK = threading.Lock()


def thread_count(n_threads: int | None) -> int:
    """``n_threads``, or every core when ``None`` (at least 1)."""
    if n_threads is None:
        return os.cpu_count() or 1
    if isinstance(n_threads, bool) or not isinstance(n_threads, int) or n_threads < 1:
        from ._problem import ProblemError

        raise ProblemError(f"n_threads: expected an integer >= 1 or None, got {n_threads!r}")
    return n_threads


def _pool(helpers: int) -> ThreadPoolExecutor:
    """The process's pool, grown to at least ``helpers`` threads."""
    global _POOL, _POOL_SIZE
    with _POOL_LOCK:
        if _POOL is None or _POOL_SIZE < helpers:
            if _POOL is not None:
                _POOL.shutdown(wait=False)
            _POOL = ThreadPoolExecutor(max_workers=helpers, thread_name_prefix="fpgrad")
            _POOL_SIZE = helpers
        return _POOL


def map_threads(fn: Callable[[T], R], items: Sequence[T], n_threads: int | None = None) -> list[R]:
    """``[fn(x) for x in items]`` on up to ``n_threads`` threads (default: all cores), in order.

    One item or one thread runs in the calling thread (no pool). The first exception raised by
    ``fn`` is re-raised once every thread has stopped taking items.
    """
    items = list(items)
    workers = min(thread_count(n_threads), len(items))
    if workers <= 1:
        return [fn(x) for x in items]
    results: list[R | None] = [None] * len(items)
    counter = count()
    failed: list[BaseException] = []

    def work() -> None:
        for k in counter:  # next() on a counter is atomic under the GIL
            if k >= len(items) or failed:
                return
            try:
                results[k] = fn(items[k])
            except BaseException as err:  # re-raised in the calling thread
                failed.append(err)
                return

    pool = _pool(workers - 1)
    helpers = [pool.submit(work) for _ in range(workers - 1)]
    work()
    for helper in helpers:
        if not helper.cancel():  # started: wait for the item it holds
            helper.result()
    if failed:
        raise failed[0]
    return results  # type: ignore[return-value]

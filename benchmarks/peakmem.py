"""Peak memory of one call, and fresh subprocesses to measure it in (shared by the benchmarks).

:func:`peak_memory` resets the kernel's peak-RSS counter (``echo 5 > /proc/self/clear_refs``)
and reports ``VmHWM - VmRSS`` from ``/proc/self/status`` around the call, in MiB: what the call
added at its peak above what the process held before (Numba's allocations included, which
tracemalloc does not see). Where ``clear_refs`` is unavailable it reports ``ru_maxrss`` of the
process instead (absolute, interpreter included); ``"method"`` says which. With ``trim=True``
the C heap's free pages go back to the system first (:func:`release_free_memory`).

A figure is only meaningful in a process that did little else, hence :func:`run_worker`: it runs
``python <script> <flag> <json spec>`` in a fresh interpreter that imports the same ``fpgrad`` as
the caller (its source tree goes first on ``PYTHONPATH``, so a worktree measures its own code) and
returns the JSON object the worker prints on its last line of stdout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

#: The ``"method"`` of a measurement: above baseline after ``clear_refs``, or absolute.
CLEAR_REFS = "VmHWM-VmRSS after clear_refs"
MAXRSS = "ru_maxrss (absolute)"


def status_kib(field: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def release_free_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc's ``malloc_trim``; nothing
    elsewhere), so that a call's allocations are not served from memory freed before it (by
    building its problem, say), which ``VmHWM - VmRSS`` would not see."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def peak_memory(fn: Callable[[], T], *, trim: bool = False) -> tuple[T, dict[str, Any]]:
    """``fn()`` and its peak memory, ``{"method": ..., "peak_mib": ...}`` (module docstring);
    ``trim``: :func:`release_free_memory` first (the method then says so)."""
    if trim:
        release_free_memory()
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        before = status_kib("VmRSS")
    except (OSError, KeyError):
        import resource

        out = fn()
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return out, {"method": MAXRSS, "peak_mib": maxrss / 1024}
    out = fn()
    peak = status_kib("VmHWM")
    method = CLEAR_REFS + (" and malloc_trim" if trim else "")
    return out, {"method": method, "peak_mib": (peak - before) / 1024}


def worker_env() -> dict[str, str]:
    """The environment of a worker: this process's, with the source tree of the ``fpgrad`` it
    imported first on ``PYTHONPATH``."""
    import fpgrad

    root = str(Path(fpgrad.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(x for x in (root, env.get("PYTHONPATH")) if x)
    return env


def run_worker(script: Path, flag: str, spec: dict[str, Any], timeout: float = 600) -> dict:
    """Run ``script flag json.dumps(spec)`` in a fresh interpreter (:func:`worker_env`); its
    last line of stdout, parsed, or ``{"error": [last line of stderr]}`` if it failed."""
    proc = subprocess.run(
        [sys.executable, str(script), flag, json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=worker_env(),
    )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])

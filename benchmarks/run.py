"""Run the benchmark suite: every ``benchmarks/bench_*.py``, one fresh interpreter each.

Each benchmark is a script with ``main(quick: bool) -> dict`` that prints its tables and writes
``benchmarks/results/<name>.json`` and ``<name>.png`` (``results/quick/`` with ``--quick``; see
``report.py``). A separate process per benchmark keeps them from interfering (JAX's float64
switch, NEST's kernel, memory high-water marks); a failing one is reported and the others still
run. Afterwards the suite's own run time (per benchmark and in total) goes to
``summary.json`` in the same folder, and ``benchmarks/README.md`` is re-rendered from the results
(``report.py``).

    python benchmarks/run.py                 # full suite (make bench)
    python benchmarks/run.py --quick         # smaller problems, fewer repeats (make bench-quick)
    python benchmarks/run.py --only simulator --only gradients
    python benchmarks/run.py --only online   # bench_online.py alone (about 5 minutes)
    python benchmarks/run.py --only distributed   # Dask scaling (the dask extra; about 1 minute)
    python benchmarks/run.py --only agreement --scheduler tcp://host:8786   # sweeps on a cluster
    python benchmarks/run.py --list

``--scheduler ADDRESS`` goes to the benchmarks whose ``main`` takes a ``scheduler`` (the sweeps,
``bench_agreement.py`` and ``bench_surrogate.py``: their configuration rows are mapped over that
Dask cluster, ``sweep.py``); the others run here as usual.

The exit status is 1 if any benchmark failed. The machine is shared and timings are noisy: the
benchmarks report medians over repeats, and CPU time next to wall time where it matters.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import report

HERE = Path(__file__).resolve().parent

# Imports the benchmark by path and calls its main(); argv: path, "1" for quick, the scheduler
# address ("" for none; passed only to a main that takes it).
_DRIVER = """
import importlib.util, inspect, sys
path, quick, scheduler = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
sys.path.insert(0, str(__import__("pathlib").Path(path).parent))
spec = importlib.util.spec_from_file_location("bench_module", path)
module = importlib.util.module_from_spec(spec)
sys.modules["bench_module"] = module
spec.loader.exec_module(module)
options = {"quick": quick}
if scheduler and "scheduler" in inspect.signature(module.main).parameters:
    options["scheduler"] = scheduler
module.main(**options)
"""


def discover() -> list[Path]:
    """The benchmark scripts, sorted by name."""
    return sorted(HERE.glob("bench_*.py"))


def bench_name(path: Path) -> str:
    return path.stem.removeprefix("bench_")


def run_one(path: Path, quick: bool, scheduler: str | None = None) -> tuple[int, float]:
    """Run one benchmark in a fresh interpreter (output streams through); ``(rc, seconds)``."""
    start = time.perf_counter()
    argv = [str(path), "1" if quick else "0", scheduler or ""]
    proc = subprocess.run([sys.executable, "-c", _DRIVER, *argv])
    return proc.returncode, time.perf_counter() - start


def write_summary(
    runs: list[tuple[str, int, float]], total_s: float, quick: bool, root: Path = report.RESULTS
) -> dict:
    """Record the run time of each benchmark (``(name, rc, seconds)``) in ``summary.json``.

    A partial run (``--only``) updates its benchmarks' rows and keeps the others' from the
    previous summary of the same mode; ``total_s`` is this invocation's wall time.
    """
    path = report.results_dir(quick, root) / "summary.json"
    rows = json.loads(path.read_text())["benchmarks"] if path.exists() else {}
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    for name, rc, seconds in runs:
        rows[name] = {
            "status": "ok" if rc == 0 else f"failed ({rc})",
            "seconds": seconds,
            "date": date,
        }
    rows = dict(sorted(rows.items()))
    complete = set(rows) <= {name for name, _, _ in runs}
    table_rows = [[n, r["status"], f"{r['seconds']:.1f}", r["date"]] for n, r in rows.items()]
    table_rows.append(
        [
            "**total**" if complete else "total of the rows (not run together)",
            "",
            f"**{sum(r['seconds'] for r in rows.values()):.1f}**",
            "",
        ]
    )
    mode = "`run.py --quick`" if quick else "`run.py` (full)"
    summary = {"benchmarks": rows, "last_invocation_s": total_s}
    tables = [
        report.table(
            "summary",
            f"Run time of the suite, {mode}, wall seconds per benchmark (fresh interpreter each)",
            ["benchmark", "status", "seconds", "recorded"],
            table_rows,
        )
    ]
    report.save("summary", summary, quick, tables, root=root)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small problems, few repeats")
    parser.add_argument(
        "--only", action="append", default=[], metavar="NAME", help="run only bench_NAME.py"
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="map the sweeps' configuration rows (agreement, surrogate) over the Dask cluster of "
        "this scheduler; the other benchmarks run here",
    )
    args = parser.parse_args(argv)

    scripts = discover()
    if args.list:
        for path in scripts:
            print(bench_name(path))
        return 0
    if args.only:
        unknown = sorted(set(args.only) - {bench_name(p) for p in scripts})
        if unknown:
            parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
        scripts = [p for p in scripts if bench_name(p) in args.only]

    mode = " (quick)" if args.quick else ""
    out_dir = report.results_dir(args.quick)
    start = time.perf_counter()
    runs, written = [], []
    for path in scripts:
        name = bench_name(path)
        print(f"\n{'=' * 100}\n{name}{mode}: {path.name}\n{'=' * 100}")
        sys.stdout.flush()
        rc, seconds = run_one(path, args.quick, args.scheduler)
        out = out_dir / f"{name}.json"
        fresh = out.exists() and out.stat().st_mtime >= time.time() - seconds - 1
        runs.append((name, rc, seconds))
        written.append(out.relative_to(HERE.parent) if fresh else "(not written)")
    total = time.perf_counter() - start

    print(f"\n{'=' * 100}\nsummary{mode}")
    print(f"{'benchmark':16s} {'status':8s} {'seconds':>8s}  results")
    for (name, rc, seconds), where in zip(runs, written, strict=True):
        status = "ok" if rc == 0 else f"FAIL {rc}"
        print(f"{name:16s} {status:8s} {seconds:8.1f}  {where}")
    print(f"{'total':16s} {'':8s} {total:8.1f}")
    write_summary(runs, total, args.quick)
    report.main([])
    return 0 if all(rc == 0 for _, rc, _ in runs) else 1


if __name__ == "__main__":
    sys.exit(main())

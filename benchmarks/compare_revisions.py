"""Simulator throughput of two fpgrad revisions on network (a) of ``bench_simulator.py``.

The question it answers: does a change slow the simulator down? Each revision (a source tree
holding an ``fpgrad`` package: a git worktree of another commit, or this checkout) is imported in
a subprocess of its own with ``PYTHONPATH=<root>``, from an empty working directory, so that each
process really runs that tree's code (checked: the process reports ``fpgrad.__file__``). Both
processes stay alive for the whole comparison, warm up first (Numba's JIT, or loading its disk
cache, kept per revision under ``~/.cache/fpgrad-revisions``: neither tree is written to; run
the script once before measuring so that both caches exist), and then simulate the
*same* problem in turns, one at a time: repeat ``i`` runs the revisions in order for even ``i``
and in reverse order for odd ``i``, so slow phases of a shared machine hit both alike.

The problem is built once, by this checkout's ``bench_simulator.recurrent_problem`` (all delays
0, model 1; with ``--delays``, ``bench_simulator.with_delays`` of it: uniform in [0, 10] ms,
which adds a ``delay`` array), and handed to both processes as plain arrays (``n_inputs``,
``n_neurons``, one ``tau_syn``, per-neuron ``tau_mem``, ``threshold``, ``t_ref``, the synapses,
the input trains): every revision's ``fpgrad.Network`` accepts these. Each run is timed around
``fpgrad.simulate`` (wall and process CPU seconds); the report gives medians, synaptic events
per second of each revision, the ratio ``new / old`` of throughputs and whether both revisions
produced the same spikes (a digest of the spike nodes and times, bit for bit).

    python benchmarks/compare_revisions.py --old /tmp/head            # new: this checkout
    python benchmarks/compare_revisions.py --old A --new B --repeats 21 --json out.json
    python benchmarks/compare_revisions.py --old /tmp/head --quick      # 300 ms, 5 repeats
    python benchmarks/compare_revisions.py --old /tmp/head --delays     # delays in [0, 10] ms

Results go to ``--json`` (default: ``benchmarks/results[/quick]/revisions.json``, or
``revisions-delays.json`` with ``--delays``, through ``report.py``, with the table
``simulator-revisions`` or ``simulator-revisions-delays``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: Numba caches of the revisions (one folder per source tree).
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fpgrad-revisions"

#: The child: loads the problem arrays, builds the problem with its own fpgrad, warms up, then
#: answers each "run" line on stdin with one JSON line (wall and CPU seconds, counts, digest).
_CHILD = r"""
import hashlib, json, sys, time
import numpy as np
import fpgrad

data = np.load(sys.argv[1])
trains = np.split(data["input_times"], data["input_ptr"][1:-1])
net = fpgrad.Network(
    n_inputs=int(data["n_inputs"]), n_neurons=int(data["n_neurons"]),
    tau_syn=float(data["tau_syn"]), tau_mem=data["tau_mem"], threshold=data["threshold"],
    pre=data["pre"], post=data["post"], weight=data["weight"], t_ref=data["t_ref"],
    **({"delay": data["delay"]} if "delay" in data.files else {}),
)
problem = fpgrad.Problem(net, tuple(trains), float(data["t_max"]))


def once():
    w0, c0 = time.perf_counter(), time.process_time()
    result = fpgrad.simulate(problem)
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    digest = hashlib.sha256(
        np.ascontiguousarray(result.spike_node, dtype=np.int64).tobytes()
        + np.ascontiguousarray(result.spike_time, dtype=np.float64).tobytes()
    ).hexdigest()[:16]
    return {"wall_s": wall, "cpu_s": cpu, "events": int(result.n_synaptic_events),
            "spikes": int(result.n_spikes), "digest": digest}


warm = once()
print(json.dumps({"ready": True, "fpgrad": fpgrad.__file__, "warmup_s": warm["wall_s"]}),
      flush=True)
for line in sys.stdin:
    if line.strip() != "run":
        break
    print(json.dumps(once()), flush=True)
"""


class Revision:
    """One revision's long-lived subprocess."""

    def __init__(
        self, label: str, root: Path, problem_file: Path, workdir: Path, isolate_cache: bool
    ) -> None:
        self.label, self.root = label, root.resolve()
        if not (self.root / "fpgrad" / "__init__.py").is_file():
            raise SystemExit(f"{label}: {self.root} holds no fpgrad package")
        # Neither tree is written to: no bytecode, and Numba's cache in a folder per revision
        # (kept between invocations, so a second run starts warm); without isolate_cache each
        # tree's own cache (its __pycache__ folders) is used.
        env = {**os.environ, "PYTHONPATH": str(self.root), "PYTHONDONTWRITEBYTECODE": "1"}
        if isolate_cache:
            cache = CACHE / hashlib.sha256(str(self.root).encode()).hexdigest()[:12]
            env["NUMBA_CACHE_DIR"] = str(cache)
        env.pop("PYTHONSTARTUP", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(problem_file)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=workdir,
            env=env,
        )
        self.ready = self._read()
        where = Path(self.ready["fpgrad"]).resolve()
        if self.root not in where.parents:
            self.close()
            raise SystemExit(f"{label}: imported {where}, not the fpgrad of {self.root}")
        self.runs: list[dict[str, Any]] = []

    def _read(self) -> dict[str, Any]:
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"{self.label}: the subprocess ended (rc {self.proc.wait()})")
        return json.loads(line)

    def run(self) -> dict[str, Any]:
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        out = self._read()
        self.runs.append(out)
        return out

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.close()  # the child's loop ends
        self.proc.wait(timeout=60)
        self.proc.stdout.close()

    def summary(self) -> dict[str, Any]:
        events = self.runs[0]["events"]
        wall = statistics.median(r["wall_s"] for r in self.runs)
        cpu = statistics.median(r["cpu_s"] for r in self.runs)
        return {
            "root": str(self.root),
            "commit": _commit(self.root),
            "fpgrad": self.ready["fpgrad"],
            "warmup_s": self.ready["warmup_s"],
            "wall_s": wall,
            "cpu_s": cpu,
            "events_per_s": events / wall,
            "events_per_cpu_s": events / cpu,
            "synaptic_events": events,
            "neuron_spikes": self.runs[0]["spikes"],
            "digest": self.runs[0]["digest"],
            "wall_all_s": [r["wall_s"] for r in self.runs],
            "cpu_all_s": [r["cpu_s"] for r in self.runs],
        }


def _commit(root: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "fpgrad"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() + (" + uncommitted changes" if dirty else "")


def write_problem(
    path: Path, quick: bool, t_max: float | None = None, delays: bool = False
) -> dict[str, Any]:
    """Network (a) (this checkout's builder) as plain arrays in ``path`` (``.npz``); with
    ``delays``, its delays drawn by ``bench_simulator.with_delays`` (uniform in ``[0, 10]`` ms)."""
    sys.path.insert(0, str(HERE))
    import bench_simulator as bench

    cfg = bench.QUICK if quick else bench.FULL
    if t_max is not None:
        cfg = dataclasses.replace(cfg, t_max=t_max)
    problem = bench.recurrent_problem(cfg)
    net = problem.network
    if not (np.all(net.delay == 0) and np.all(net.tau_syn == net.tau_syn[0])):
        raise SystemExit("network (a) is expected to be model 1 (no delays, one tau_syn)")
    extra = {}
    if delays:
        problem = bench.with_delays(problem, cfg)
        net = problem.network
        extra["delay"] = net.delay
    lengths = [len(t) for t in problem.inputs]
    np.savez(
        path,
        n_inputs=net.n_inputs,
        n_neurons=net.n_neurons,
        tau_syn=float(net.tau_syn[0]),
        tau_mem=net.tau_mem,
        threshold=net.threshold,
        t_ref=net.t_ref,
        pre=net.pre,
        post=net.post,
        weight=net.weight,
        input_times=np.concatenate([np.asarray(t, float) for t in problem.inputs]),
        input_ptr=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        t_max=problem.t_max,
        **extra,
    )
    return {"n_neurons": net.n_neurons, "n_synapses": int(net.weight.size), "t_max_ms": cfg.t_max,
            "delays": "uniform in [0, 10] ms" if delays else "all 0"}  # fmt: skip


def compare(
    old: Path,
    new: Path,
    repeats: int,
    quick: bool,
    t_max: float | None = None,
    *,
    isolate_cache: bool = True,
    delays: bool = False,
) -> dict:
    """Time both revisions on network (a), interleaved (module docstring)."""
    with tempfile.TemporaryDirectory(prefix="fpgrad-revisions-") as tmp:
        problem_file = Path(tmp) / "problem.npz"
        workdir = Path(tmp) / "cwd"
        workdir.mkdir()
        problem = write_problem(problem_file, quick, t_max, delays)
        revisions = [
            Revision("old", old, problem_file, workdir, isolate_cache),
            Revision("new", new, problem_file, workdir, isolate_cache),
        ]
        try:
            for i in range(repeats):
                for rev in revisions if i % 2 == 0 else revisions[::-1]:
                    rev.run()
        finally:
            for rev in revisions:
                rev.close()
    o, n = (rev.summary() for rev in revisions)
    return {
        "problem": {"network": "(a) of bench_simulator.py", **problem},
        "repeats": repeats,
        "old": o,
        "new": n,
        "ratio_new_over_old_wall": n["events_per_s"] / o["events_per_s"],
        "ratio_new_over_old_cpu": n["events_per_cpu_s"] / o["events_per_cpu_s"],
        "same_spikes": o["digest"] == n["digest"] and o["synaptic_events"] == n["synaptic_events"],
        "within_10_percent_cpu": n["events_per_cpu_s"] >= 0.9 * o["events_per_cpu_s"],
    }


def format_report(r: dict[str, Any]) -> str:
    p = r["problem"]
    lines = [
        f"network (a): {p['n_neurons']} neurons, {p['n_synapses']} synapses, {p['t_max_ms']:.0f} "
        f"ms, {r['new']['synaptic_events']} synaptic events; {r['repeats']} interleaved repeats "
        "(medians)",
        f"{'':6s} {'wall s':>8s} {'CPU s':>8s} {'events/s':>10s} {'/CPU-s':>10s}  revision",
    ]
    for key in ("old", "new"):
        x = r[key]
        lines.append(
            f"{key:6s} {x['wall_s']:8.4f} {x['cpu_s']:8.4f} {x['events_per_s'] / 1e6:9.2f}M "
            f"{x['events_per_cpu_s'] / 1e6:9.2f}M  {x['root']} ({x['commit']})"
        )
    lines.append(
        f"new / old throughput: {r['ratio_new_over_old_wall']:.3f} wall, "
        f"{r['ratio_new_over_old_cpu']:.3f} CPU; same spikes bit for bit: {r['same_spikes']}"
    )
    return "\n".join(lines)


def tables(r: dict[str, Any]) -> list[dict[str, Any]]:
    """The README table (``report.table`` contract)."""
    rows = [
        [
            f"{key}: `{Path(r[key]['root']).name}` ({r[key]['commit']})",
            f"{r[key]['wall_s']:.3g}",
            f"{r[key]['cpu_s']:.3g}",
            f"{r[key]['events_per_s'] / 1e6:.3g} M",
            f"{r[key]['events_per_cpu_s'] / 1e6:.3g} M",
        ]
        for key in ("old", "new")
    ]
    rows.append(
        [
            "new / old",
            "",
            "",
            f"{r['ratio_new_over_old_wall']:.3f}x",
            f"{r['ratio_new_over_old_cpu']:.3f}x",
        ]
    )
    p = r["problem"]
    title = (
        f"Simulator, one revision against another: network (a), {p['n_neurons']} neurons, "
        f"{p['t_max_ms']:.0f} ms, delays {p.get('delays', 'all 0')}, median of {r['repeats']} "
        "interleaved runs each "
        f"(same spikes bit for bit: {'yes' if r['same_spikes'] else 'no'})"
    )
    suffix = "-delays" if p.get("delays", "all 0") != "all 0" else ""
    return [
        {
            "id": "simulator-revisions" + suffix,
            "title": title,
            "columns": ["", "wall s", "CPU s", "events/s", "per CPU-s"],
            "rows": rows,
        }
    ]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", type=Path, required=True, help="root of the reference revision")
    parser.add_argument("--new", type=Path, default=ROOT, help="root of the revision to check")
    parser.add_argument("--repeats", type=int, default=15, help="runs per revision (default 15)")
    parser.add_argument("--quick", action="store_true", help="network (a) of the quick run")
    parser.add_argument("--t-max", type=float, help="horizon in ms (default: that of the mode)")
    parser.add_argument("--json", type=Path, help="write the report here instead of results/")
    parser.add_argument(
        "--tree-caches",
        action="store_true",
        help="use each tree's own Numba cache (its __pycache__), not ~/.cache/fpgrad-revisions",
    )
    parser.add_argument(
        "--delays", action="store_true", help="network (a) with delays uniform in [0, 10] ms"
    )
    args = parser.parse_args(argv)
    report = compare(
        args.old, args.new, args.repeats, args.quick, args.t_max,
        isolate_cache=not args.tree_caches, delays=args.delays,
    )  # fmt: skip
    print(format_report(report))
    if args.json is not None:
        args.json.write_text(json.dumps({**report, "tables": tables(report)}, indent=1) + "\n")
    else:
        sys.path.insert(0, str(HERE))
        import report as results

        name = "revisions-delays" if args.delays else "revisions"
        results.save(name, report, args.quick, tables(report))
    return report


if __name__ == "__main__":
    main()

"""Scaling over a Dask cluster: ``gradient_batch(..., client=...)`` on 1 and 2 workers.

The batch is a realistic training step made large: 256 Yin-Yang training samples (quick: 64)
through the task's 5-200-3 network (``fpgrad.train.TASKS["yinyang"]``, parameters drawn by
``fpgrad.train.init_params`` with seed 0), first-spike cross-entropy, the exact gradient of
``weight`` and ``threshold`` (what a training step asks for; :class:`fpgrad.ExactReverse`'s fused
path, one sample at a time on the workers). Measured, median of :attr:`Config.repeats` after
warm-up calls:

1. **In process**: ``n_threads = 1`` (the serial time ``T_serial``) and 2.
2. **On a cluster**: a ``LocalCluster`` of ``n`` worker processes with one thread each on
   loopback (``n = 1, 2``; this machine has two cores, shared with other jobs). Every result is
   checked to equal the in-process one bit for bit (``n_threads = 2`` there). Efficiency is
   ``T_serial / (n T_n)``: 1 means every worker is busy with fpgrad's own work all the time.
3. **Per-task overhead** on the 2-worker cluster: the round trip of one trivial chunk through
   fpgrad's glue (:func:`fpgrad._distributed.map_chunks` with one sample: submit, wait, gather;
   the fixed cost of a batch), and the marginal cost of one more task (``client.map`` of
   :attr:`Config.trivial_tasks` no-op tasks, minus one, divided by their number), plus the
   driver's share of a batch: reducing the gathered per-sample outcomes
   (``ExactReverse._combine``) and the transfer of those outcomes (bytes per sample).

The workers' own compute time per call (the sum of the tasks' compute spans in Dask's task
stream) is recorded next to the wall time: on a machine whose other jobs leave less than a core
per worker, it grows with the number of workers while the work does not.

A larger cluster of idle cores is then predicted from the 1-worker time ``T_1`` by
``T_n ≈ (T_1 - t_fixed) / n + t_fixed`` with ``t_fixed = t_call + t_reduce`` (efficiency
``T_serial / (n T_n)``, :func:`predict`), valid while the ``2 n`` chunks keep every worker busy
and the driver's network carries ``B`` times the bytes per sample within a fraction of that.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import sys
import time
from typing import Any

import numpy as np
import report as results

import fpgrad
from fpgrad._distributed import chunk_bounds, map_chunks
from fpgrad.train import TASKS, TrainConfig, init_params
from fpgrad.train._loop import _gradient_groups, _model_for

#: Loopback, any free port, for the schedulers' HTTP servers (``None`` would still bind 8787).
DASHBOARD = "127.0.0.1:0"


@dataclasses.dataclass(frozen=True)
class Config:
    """What one run measures (:data:`FULL`, :data:`QUICK`)."""

    n_samples: int = 256
    workers: tuple[int, ...] = (1, 2)
    repeats: int = 3
    trivial_repeats: int = 20
    trivial_tasks: int = 200


FULL = Config()
QUICK = Config(n_samples=64, repeats=1, trivial_repeats=5, trivial_tasks=50)


def _problem(n_samples: int) -> tuple[fpgrad.Network, fpgrad.InputBatch, list, tuple[str, ...]]:
    from fpgrad.data import load_yinyang

    config = TrainConfig.from_dict({**TrainConfig().to_dict(), **TASKS["yinyang"]})
    data = load_yinyang("train").subset(np.arange(n_samples))
    inputs = data.encode()
    model = _model_for(config, len(inputs[0]), data.n_classes)
    params = init_params(model, np.random.default_rng(0))
    return (
        model.network(params),
        fpgrad.InputBatch(inputs),
        config.losses(model, data.y),
        _gradient_groups(config),
    )


def _same(a: fpgrad.BatchGradient, b: fpgrad.BatchGradient) -> bool:
    arrays = [(a.losses, b.losses), (a.first_spike_time, b.first_spike_time)]
    arrays += [(a.grad.groups()[k], b.grad.groups()[k]) for k in b.grad.groups()]
    return a.loss == b.loss and all(x.tobytes() == y.tobytes() for x, y in arrays)


def _trivial(items: tuple) -> list:
    return list(items)


def _noop(x: int) -> int:
    return x


def run(cfg: Config) -> dict[str, Any]:
    from distributed import Client, LocalCluster, get_task_stream

    start = time.perf_counter()
    net, data, losses, params = _problem(cfg.n_samples)
    method = fpgrad.ExactReverse()

    def batch(**kw: Any) -> fpgrad.BatchGradient:
        return method.batch(net, data, 30.0, losses, params=params, **kw)

    in_process = {}
    for threads in (1, 2):
        batch(n_threads=threads)  # warm-up
        wall, cpu = results.median_times(lambda t=threads: batch(n_threads=t), cfg.repeats)
        in_process[threads] = {"wall_s": wall, "cpu_s": cpu}
    reference = batch(n_threads=2)
    serial = in_process[1]["wall_s"]
    clusters = []
    overhead: dict[str, Any] = {}
    for n in cfg.workers:
        t0 = time.perf_counter()
        with (
            LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=DASHBOARD,
            ) as cluster,
            Client(cluster) as client,
        ):  # fmt: skip
            started = time.perf_counter() - t0
            # warm-up, twice: the workers load the kernels for their own (writable) arrays
            identical = all(_same(batch(n_threads=2, client=client), reference) for _ in range(2))
            walls, busy = [], []
            for _ in range(cfg.repeats):
                with get_task_stream(client=client) as stream:
                    t = time.perf_counter()
                    batch(n_threads=2, client=client)
                    walls.append(time.perf_counter() - t)
                busy.append(_compute_s(stream.data))
            wall = statistics.median(walls)
            clusters.append(
                {
                    "workers": n,
                    "chunks": len(chunk_bounds(cfg.n_samples, n)),
                    "start_s": started,
                    "wall_s": wall,
                    "worker_compute_s": statistics.median(busy),
                    "speedup": serial / wall,
                    "efficiency": serial / (n * wall),
                    "identical": identical,
                }
            )
            if n == max(cfg.workers):
                overhead = _overhead(client, cfg, method, net, data, losses, params)
    return {
        "config": dataclasses.asdict(cfg),
        "problem": {
            "task": "yinyang",
            "sizes": [5, 200, 3],
            "samples": cfg.n_samples,
            "params": list(params),
            "method": method.name,
            "route": method._route(net, data, losses, params),
        },
        "cpu_count": os.cpu_count(),
        "in_process": {str(k): v for k, v in in_process.items()},
        "serial_per_sample_ms": 1e3 * serial / cfg.n_samples,
        "clusters": clusters,
        "overhead": overhead,
        "run_s": time.perf_counter() - start,
    }


def _compute_s(stream: list[dict[str, Any]]) -> float:
    """Seconds the workers spent computing fpgrad's chunks in a task stream."""
    return sum(
        span["stop"] - span["start"]
        for task in stream
        for span in task["startstops"]
        if span["action"] == "compute"
    )


def _overhead(client, cfg, method, net, data, losses, params) -> dict[str, Any]:
    """Per-call and per-task costs on ``client`` (module docstring, item 3)."""
    calls = []
    for _ in range(cfg.trivial_repeats + 1):
        t = time.perf_counter()
        map_chunks(client, _trivial, 1, lambda lo, hi: ((lo,),), shared={}, constants={})
        calls.append(time.perf_counter() - t)
    call_s = statistics.median(calls[1:])
    many = []
    for _ in range(3):
        t = time.perf_counter()
        client.gather(client.map(_noop, range(cfg.trivial_tasks), pure=False))
        many.append(time.perf_counter() - t)
    samples = method._samples("fused", net, data, 30.0, losses, params, 1e-6, 0.0, 1)
    t = time.perf_counter()
    for _ in range(cfg.repeats):
        method._combine("fused", net, samples, params, 1e-6, 0.0, 2)
    reduce_s = (time.perf_counter() - t) / cfg.repeats
    import pickle

    per_sample_bytes = len(pickle.dumps(samples, protocol=5)) / len(samples)
    return {
        "call_s": call_s,
        "task_s": statistics.median(many) / cfg.trivial_tasks,
        "reduce_s": reduce_s,
        "bytes_per_sample": per_sample_bytes,
    }


def predict(report: dict[str, Any], n: int) -> float:
    """Predicted efficiency on ``n`` idle workers, ``T_serial / (n T_n)`` with
    ``T_n = (T_1 - t_fixed) / n + t_fixed`` (module docstring)."""
    serial = report["in_process"]["1"]["wall_s"]
    one = next(c["wall_s"] for c in report["clusters"] if c["workers"] == 1)
    fixed = report["overhead"]["call_s"] + report["overhead"]["reduce_s"]
    return serial / (n * ((one - fixed) / n + fixed))


def tables(report: dict[str, Any]) -> list[dict[str, Any]]:
    p = report["problem"]
    rows = [
        [
            f"in process, {k} thread{'s' if k != '1' else ''}",
            f"{v['wall_s']:.3g}",
            "",
            f"{report['in_process']['1']['wall_s'] / v['wall_s']:.2f}",
            f"{report['in_process']['1']['wall_s'] / (int(k) * v['wall_s']):.0%}",
            "",
        ]
        for k, v in report["in_process"].items()
    ]
    rows += [
        [
            f"LocalCluster, {c['workers']} worker{'s' if c['workers'] > 1 else ''} "
            f"({c['chunks']} chunks)",
            f"{c['wall_s']:.3g}",
            f"{c['worker_compute_s']:.3g}",
            f"{c['speedup']:.2f}",
            f"{c['efficiency']:.0%}",
            "yes" if c["identical"] else "NO",
        ]
        for c in report["clusters"]
    ]
    scaling = results.table(
        "distributed-scaling",
        f"gradient_batch of {p['samples']} Yin-Yang samples, {'-'.join(map(str, p['sizes']))} "
        f"network, {'+'.join(p['params'])} ({p['method']}, {p['route']} path; "
        f"{report['serial_per_sample_ms']:.2f} ms per sample on one thread)",
        ["", "wall s", "workers' compute s", "speedup", "efficiency", "bit-identical"],
        rows,
    )
    o = report["overhead"]
    over = results.table(
        "distributed-overhead",
        "Per-call and per-task costs on the 2-worker LocalCluster (loopback), and the "
        "efficiency they predict for clusters of idle cores (from the 1-worker time)",
        ["", "value"],
        [
            ["one trivial chunk through fpgrad's glue (round trip)", f"{1e3 * o['call_s']:.3g} ms"],
            ["one more task (client.map of no-ops)", f"{1e3 * o['task_s']:.3g} ms"],
            ["driver: reducing the per-sample outcomes", f"{1e3 * o['reduce_s']:.3g} ms"],
            ["outcome sent back per sample", f"{o['bytes_per_sample'] / 1024:.3g} KiB"],
            *[[f"predicted efficiency, {n} workers", f"{predict(report, n):.0%}"]
              for n in (2, 4, 8, 16, 32)],
        ],
    )  # fmt: skip
    return [scaling, over]


def main(quick: bool = False) -> dict[str, Any]:
    report = run(QUICK if quick else FULL)
    tabs = tables(report)
    for tab in tabs:
        print("\n" + results.render_table(tab, "this run"))
    results.save("distributed", report, quick, tabs)
    return report


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)

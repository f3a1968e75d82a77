"""The batch entry points on one machine: Python overhead, gradient cost and thread scaling.

What the issue "Past one machine with Dask, and faster on one" asks of ``simulate_batch`` and
``gradient_batch``, measured on three workloads:

* ``jaxsnn``: the 100-100-10 network of ``bench_jaxsnn.py`` (one input spike per input, one spike
  per neuron, :class:`fpgrad.FirstSpikeMSE` on the outputs, about 11k synaptic events per sample);
* ``4000-event``: a 40-100-10 feedforward network with Poisson inputs (about 4000 synaptic
  events per sample, several spikes per neuron), :class:`fpgrad.FirstSpikeMSE`;
* ``yinyang``: the Yin-Yang task's 5-200-3 network with its first-spike cross-entropy (the fused
  training path), at a seeded initialisation without delays (about 3000 synaptic events per
  sample: the hidden neurons fire several times).

Per workload, on one thread: the simulation kernel alone (``simulate_kernel`` on inputs merged
beforehand: the floor), ``simulate_batch`` (the forward pass as a user calls it) and
``gradient_batch`` with :class:`fpgrad.ExactReverse` (forward + exact gradient of every weight).
*Python overhead* is ``1 - kernel / simulate_batch``: building problems, validating and merging
inputs, wrapping results. Then 1 against 2 threads for batches of 2 to 128 (the batch's samples
cycle through the workload's). What is compared runs in turns (kernel, ``simulate_batch`` and
``gradient_batch``; one and two threads), so that the shared machine's slow phases hit all
alike. Medians of repeats: CPU time on one thread, wall time for the speed-up.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import Any

import numpy as np
import report as results

import fpgrad
from fpgrad.event._kernel import simulate_kernel
from fpgrad.event._simulate import compile_network

SEED = 3


@dataclasses.dataclass(frozen=True)
class Config:
    batch: int = 64
    batches: tuple[int, ...] = (2, 8, 16, 32, 64, 128)
    repeats: int = 21  # the 2-core machine is shared: medians of many short runs
    threads: int = 2


FULL = Config()
QUICK = Config(batch=16, batches=(2, 16, 32), repeats=3)


@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    network: fpgrad.Network
    inputs: list[list[np.ndarray]]
    losses: list[Any]
    t_max: float

    def take(self, n: int) -> tuple[list[list[np.ndarray]], list[Any]]:
        """``n`` samples, cycling through the workload's own."""
        k = [i % len(self.inputs) for i in range(n)]
        return [self.inputs[i] for i in k], [self.losses[i] for i in k]


def jaxsnn_workload(batch: int) -> Workload:
    import bench_jaxsnn as bj

    prob = bj.make_problem()
    net = fpgrad.feedforward_network(
        [prob["w1"], prob["w2"]], tau_syn=bj.TAU_SYN, tau_mem=bj.TAU_MEM, t_ref=bj.T_MAX
    )
    outputs = tuple(range(net.n_nodes - bj.SIZES[2], net.n_nodes))
    inputs = [[np.array([t]) for t in row] for row in prob["times"][:batch]]
    losses = [fpgrad.FirstSpikeMSE(outputs, tuple(prob["targets"])) for _ in inputs]
    return Workload("jaxsnn 100-100-10", net, inputs, losses, bj.T_MAX)


def events_workload(batch: int) -> Workload:
    rng = np.random.default_rng(SEED)
    sizes = (40, 100, 10)
    weights = [rng.normal(0.04, 0.05, (40, 100)), rng.normal(0.08, 0.08, (100, 10))]
    net = fpgrad.feedforward_network(weights, tau_syn=5.0, tau_mem=10.0, t_ref=2.0)
    outputs = tuple(range(net.n_nodes - sizes[2], net.n_nodes))
    inputs = [fpgrad.poisson_inputs(sizes[0], 16.0, 40.0, rng) for _ in range(batch)]
    targets = tuple(np.linspace(10.0, 20.0, sizes[2]))
    losses = [fpgrad.FirstSpikeMSE(outputs, targets) for _ in inputs]
    return Workload("4000-event 40-100-10", net, inputs, losses, 40.0)


def yinyang_workload(batch: int) -> Workload:
    from fpgrad.train import TrainConfig, init_params, load_task
    from fpgrad.train._loop import _model_for

    task = load_task("yinyang")
    config = TrainConfig.from_dict({**TrainConfig().to_dict(), **task.defaults})
    inputs = task.train.encode()[:batch]
    model = _model_for(config, len(inputs[0]), task.train.n_classes)
    net = model.network(init_params(model, np.random.default_rng(SEED)))
    losses = config.losses(model, task.train.y[:batch])
    return Workload("yinyang 5-200-3", net, [list(s) for s in inputs], losses, config.t_max)


def _kernel_only(work: Workload, inputs: list[list[np.ndarray]]) -> Any:
    """A call of the simulation kernel on each sample, its inputs merged beforehand."""
    net = compile_network(work.network)
    merged = fpgrad.InputBatch(inputs).merged()
    ptr = merged["ptr"]

    def run() -> None:
        for s in range(len(inputs)):
            lo, hi = ptr[s], ptr[s + 1]
            simulate_kernel(*net.simulation_args, merged["node"][lo:hi], merged["time"][lo:hi],
                            merged["flat"][lo:hi], work.t_max, 10**6)  # fmt: skip

    return run


def _interleaved(fns: list[Any], repeats: int, clock: Any) -> list[float]:
    """Median ``clock()`` seconds of each of ``fns``, run in turns (forwards in even rounds,
    backwards in odd ones) so that slow phases of the shared machine hit them all alike."""
    times: list[list[float]] = [[] for _ in fns]
    for r in range(repeats):
        order = range(len(fns)) if r % 2 == 0 else range(len(fns) - 1, -1, -1)
        for k in order:
            start = clock()
            fns[k]()
            times[k].append(clock() - start)
    return [float(np.median(t)) for t in times]


def measure(work: Workload, cfg: Config) -> dict[str, Any]:
    def call(kind: str, threads: int, n: int) -> Any:
        x, ls = work.take(n)
        if kind == "forward":
            return fpgrad.simulate_batch(work.network, x, work.t_max, n_threads=threads)
        return fpgrad.gradient_batch(work.network, x, work.t_max, ls, params=["weight"],
                                     n_threads=threads)  # fmt: skip

    sims = call("forward", 1, cfg.batch)
    call("gradient", 1, cfg.batch)
    kernel_run = _kernel_only(work, work.take(cfg.batch)[0])
    kernel_run()
    kernel, forward, gradient = _interleaved(
        [kernel_run, lambda: call("forward", 1, cfg.batch), lambda: call("gradient", 1, cfg.batch)],
        cfg.repeats,
        time.process_time,
    )
    events = float(np.mean([r.n_synaptic_events for r in sims]))
    per = 1e6 / cfg.batch
    row: dict[str, Any] = {
        "name": work.name,
        "batch": cfg.batch,
        "synaptic_events_per_sample": events,
        "spikes_per_sample": float(np.mean([r.n_spikes for r in sims])),
        "input_spikes_per_sample": float(np.mean([r.problem.n_input_spikes for r in sims])),
        "kernel_us_per_sample": kernel * per,
        "forward_us_per_sample": forward * per,
        "gradient_us_per_sample": gradient * per,
        "python_overhead": 1.0 - kernel / forward,
        "gradient_over_forward": gradient / forward,
        "kernel_events_per_cpu_s": events * cfg.batch / kernel,
        "threads": [],
    }
    for n in cfg.batches:
        entry: dict[str, Any] = {"batch": n}
        for kind in ("forward", "gradient"):
            call(kind, cfg.threads, n)
            one, two = _interleaved(
                [lambda k=kind, b=n: call(k, 1, b), lambda k=kind, b=n: call(k, cfg.threads, b)],
                cfg.repeats,
                time.perf_counter,
            )
            entry[kind] = {"one_s": one, "two_s": two, "speedup": one / two}
        row["threads"].append(entry)
    return row


def run(cfg: Config) -> dict[str, Any]:
    start = time.perf_counter()
    rows = [
        measure(build(max(cfg.batch, max(cfg.batches))), cfg)
        for build in (jaxsnn_workload, events_workload, yinyang_workload)
    ]
    return {"config": dataclasses.asdict(cfg), "workloads": rows,
            "run_s": time.perf_counter() - start}  # fmt: skip


def tables(report: dict[str, Any]) -> list[dict[str, Any]]:
    cfg = report["config"]
    cost = [
        [
            w["name"],
            f"{w['synaptic_events_per_sample']:.0f}",
            f"{w['kernel_us_per_sample']:.0f}",
            f"{w['forward_us_per_sample']:.0f}",
            f"{100 * w['python_overhead']:.0f} %",
            f"{w['gradient_us_per_sample']:.0f}",
            f"{w['gradient_over_forward']:.2f}x",
            f"{w['kernel_events_per_cpu_s'] / 1e6:.1f}",
        ]
        for w in report["workloads"]
    ]
    scaling = [
        [
            w["name"],
            str(t["batch"]),
            f"{t['forward']['speedup']:.2f}x",
            f"{t['gradient']['speedup']:.2f}x",
        ]
        for w in report["workloads"]
        for t in w["threads"]
    ]
    return [
        results.table(
            "batch-cost",
            f"Batch of {cfg['batch']} on one thread, CPU microseconds per sample (median of "
            f"{cfg['repeats']}): the kernel alone, simulate_batch, gradient_batch (ExactReverse, "
            "every weight)",
            [
                "workload",
                "synaptic events",
                "kernel",
                "simulate_batch",
                "Python overhead",
                "gradient_batch",
                "gradient / forward",
                "kernel M events/CPU s",
            ],
            cost,
        ),
        results.table(
            "batch-threads",
            f"Wall-time speed-up of {cfg['threads']} threads over 1 (median of {cfg['repeats']})",
            ["workload", "batch", "simulate_batch", "gradient_batch"],
            scaling,
        ),
    ]


def figure(report: dict[str, Any]):
    plt = results.pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6), layout="constrained")
    for w in report["workloads"]:
        b = [t["batch"] for t in w["threads"]]
        for label, style in (("forward", "-o"), ("gradient", "--s")):
            ax.plot(b, [t[label]["speedup"] for t in w["threads"]], style,
                    label=f"{w['name']}, {label}")  # fmt: skip
    ax.axhline(1.8, color="grey", lw=0.8, ls=":", label="target 1.8x")
    ax.axhline(1.0, color="black", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size (samples)")
    ax.set_ylabel(f"speed-up, {report['config']['threads']} threads over 1")
    ax.legend(fontsize="x-small")
    return fig


def main(quick: bool = False) -> dict[str, Any]:
    report = run(QUICK if quick else FULL)
    tabs = tables(report)
    for tab in tabs:
        print("\n" + results.render_table(tab, "this run"))
    results.save("batch", report, quick, tabs, figure)
    return report


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)

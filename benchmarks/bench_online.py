"""Online forward propagation against reverse mode: memory and time against duration and ``P``.

``fpgrad.ExactForward(online=True)`` / ``fpgrad.ForwardStream`` accumulate a loss's gradient
alongside the simulation, holding ``8 P (2 N + capacity + spikes in flight)`` bytes of tangents
plus the loss's state, whatever the duration; reverse mode (``fpgrad.ExactReverse()``) keeps
the record and needs about 32 bytes per synaptic event for its pass; replayed FP
(``fpgrad.ExactForward()``) ``8 P`` bytes per record row (input and neuron spikes). Three
measurements, every network built by ``fpgrad.random_recurrent_network`` (``t_ref = 1 ms``,
``tau_syn = 5``, ``tau_mem = 10 ms``, 20 % inhibitory neurons, Poisson inputs at 15 Hz, a
quarter of the recurrent synapses delayed by 1-4 ms, seeded; see :class:`Net`), loss
``fpgrad.VanRossum`` (``tau = 10 ms``) of the first five neurons to the fixed train 100, 200,
..., 1000 ms:

1. **Duration.** 200 neurons (200 inputs, 40 input + 40 recurrent synapses each, about 15 Hz)
   driven for 1, 10, 100 and 1000 s of model time (quick: 1, 3 and 10 s). Per duration, in a
   fresh subprocess each: reverse mode (simulation with the record, the loss's spike gradient,
   ``fpgrad.spike_vjp``: the body of ``ExactReverse().gradient`` with the spike budget raised,
   as 1000 s have about 3 M spikes) and online FP over the thresholds (``P = N = 200``: a
   ``ForwardStream`` fed 10 s windows of the inputs; ``ExactForward(online=True)`` runs the same
   in one window, which would merge all input spikes up front, 24 bytes each, and meet the
   per-window budget of 1 M spikes). Time (CPU, one thread) and peak memory above the
   baseline (``peakmem.py``: ``VmHWM - VmRSS`` after ``clear_refs``, problem built and JIT
   warm before). A reverse run whose own estimate (``spike_vjp``'s check: 32 bytes x (events +
   spikes)) exceeds :attr:`Config.reverse_cap_gib` is not started and is reported as refused
   with the figure (the machine is shared; fpgrad's own check refuses above half the physical
   memory, and would also have refused with a ``ProblemError``, reported the same way).
2. **Parameters.** Time per gradient against ``P`` on one fixed problem, a 20-neuron network
   of the same construction for 30 s (quick: 5 s), ``P`` varied through the groups (thresholds:
   20, ..., every group but ``input_time``: 3320): ``ExactForward(online=True)`` and
   ``ExactReverse()`` through ``method.gradient`` (same process, median of repeats). The
   crossover "forward pays off below ``P``" is interpolated (log-log) between the measured
   ``P`` where the ratio online / reverse crosses 1; ``None`` where it does not, with the
   linear fit ``t = a + b P`` of the online times (``a`` against reverse's time says why).
3. **Large run.** 200 neurons with 100 input + 100 recurrent synapses each (40 000 synapses),
   178.5 s (about 666 000 neuron spikes; quick: 10 s), online FP over the thresholds, with what
   replayed FP (``ExactForward()``: ``8 P (record rows + 2 N)`` bytes, record rows = input +
   neuron spikes) and reverse mode would need, and whether fpgrad's memory check
   (``fpgrad._memory.check_allocation``) would refuse them.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import peakmem
import report as results

import fpgrad
from fpgrad import _memory

#: Spike budget of the reverse runs' simulation (1000 s have about 3 M spikes).
MAX_SPIKES = 10**8
#: Bytes per synaptic event (and neuron spike) of the reverse pass: ``spike_vjp``'s estimate.
REVERSE_BYTES_PER_EVENT = 32
#: Neurons of the van Rossum loss (the first ones) and their target train (ms).
LOSS_NEURONS = 5
TARGET_TRAIN = tuple(100.0 * np.arange(1, 11))
LOSS_TAU = 10.0
#: The network groups (``input_time`` is the inputs', not the network's).
NEURON_GROUPS = ("threshold", "tau_mem", "tau_syn", "bias", "v_reset", "t_ref")
SCAN_GROUPS = (
    ("threshold",),
    ("threshold", "tau_mem"),
    ("threshold", "tau_mem", "tau_syn"),
    NEURON_GROUPS,
    ("weight",),
    ("weight", *NEURON_GROUPS),
    ("weight", "delay"),
    ("weight", "delay", *NEURON_GROUPS),
)
MIB = 2.0**20
GIB = 2.0**30


@dataclasses.dataclass(frozen=True)
class Net:
    """A seeded random recurrent network and its Poisson inputs (module docstring)."""

    n_neurons: int = 200
    n_inputs: int = 200
    input_synapses: int = 40
    recurrent_synapses: int = 40
    input_weight: float = 0.025
    recurrent_weight: float = 0.01
    inhibitory_fraction: float = 0.2
    inhibition_scale: float = 8.0
    input_rate_hz: float = 15.0
    t_ref: float = 1.0
    tau_syn: float = 5.0
    tau_mem: float = 10.0
    delayed_fraction: float = 0.25  # of the recurrent synapses
    delay_ms: tuple[float, float] = (1.0, 4.0)
    seed: int = 0

    @property
    def n_synapses(self) -> int:
        return self.n_neurons * (self.input_synapses + self.recurrent_synapses)

    def describe(self) -> str:
        return (
            f"{self.n_neurons} neurons, {self.n_inputs} inputs at {self.input_rate_hz:g} Hz, "
            f"{self.input_synapses} + {self.recurrent_synapses} synapses each "
            f"({self.n_synapses:,})"
        )


@dataclasses.dataclass(frozen=True)
class Config:
    """What one run measures (:data:`FULL`, :data:`QUICK`)."""

    net: Net = Net()
    durations_s: tuple[float, ...] = (1.0, 10.0, 100.0, 1000.0)
    online_params: tuple[str, ...] = ("threshold",)
    capacity: int = fpgrad.ExactForward().capacity  # the default record rows per piece
    window_s: float = 10.0
    reverse_cap_gib: float = 4.0
    repeats: int = 3  # timing repeats of runs shorter than repeat_below_s
    repeat_below_s: float = 2.0
    scan_net: Net = Net(n_neurons=20, input_weight=0.028)
    scan_t_max_s: float = 30.0
    scan_groups: tuple[tuple[str, ...], ...] = SCAN_GROUPS
    scan_repeats: int = 3
    large_net: Net = Net(
        input_synapses=100, recurrent_synapses=100, input_weight=0.014, recurrent_weight=0.004
    )
    large_t_max_s: float = 178.5
    large_params: tuple[str, ...] = ("threshold",)
    isolate: bool = True  # each duration / the large run in a fresh subprocess (peak memory)


FULL = Config()
QUICK = Config(durations_s=(1.0, 3.0, 10.0), scan_t_max_s=5.0, scan_repeats=1, large_t_max_s=10.0)


# --------------------------------------------------------------------------------------------
# problems, loss and the two gradient paths


def build_problem(net: Net, t_max_ms: float) -> fpgrad.Problem:
    """``net``'s network (the same for every ``t_max``) and inputs drawn on ``[0, t_max]``."""
    rng = np.random.default_rng(net.seed)
    network = fpgrad.random_recurrent_network(
        net.n_inputs,
        net.n_neurons,
        rng,
        input_synapses=net.input_synapses,
        recurrent_synapses=net.recurrent_synapses,
        input_weight=net.input_weight,
        recurrent_weight=net.recurrent_weight,
        inhibitory_fraction=net.inhibitory_fraction,
        inhibition_scale=net.inhibition_scale,
        t_ref=net.t_ref,
        tau_syn=net.tau_syn,
        tau_mem=net.tau_mem,
    )
    delay = np.zeros(network.n_synapses)
    chosen = (network.pre >= net.n_inputs) & (rng.random(network.n_synapses) < net.delayed_fraction)
    delay[chosen] = rng.uniform(*net.delay_ms, size=int(chosen.sum()))
    network = dataclasses.replace(network, delay=delay)
    inputs = fpgrad.poisson_inputs(
        net.n_inputs, net.input_rate_hz, t_max_ms, np.random.default_rng([net.seed, 1])
    )
    return fpgrad.Problem(network, tuple(inputs), t_max_ms)


def make_loss(net: Net) -> fpgrad.VanRossum:
    nodes = range(net.n_inputs, net.n_inputs + min(LOSS_NEURONS, net.n_neurons))
    return fpgrad.VanRossum({node: TARGET_TRAIN for node in nodes}, LOSS_TAU)


def window_edges(t_max: float, window: float) -> list[float]:
    """The ends of the stream's windows: ``window, 2 window, ..., t_max``."""
    n = max(1, math.ceil(t_max / window - 1e-9))
    return [min((k + 1) * window, t_max) for k in range(n)]


def online_gradient(
    problem: fpgrad.Problem, loss: Any, params: tuple[str, ...], capacity: int, window_ms: float
) -> dict[str, Any]:
    """Online FP: a ``ForwardStream`` fed ``problem``'s inputs window by window."""
    stream = fpgrad.ForwardStream(
        problem.network, loss, params=list(params), t_max=problem.t_max, capacity=capacity
    )
    trains = problem.inputs
    lo = [0] * len(trains)
    n_spikes = n_events = 0
    for until in window_edges(problem.t_max, window_ms):
        hi = [int(np.searchsorted(t, until, side="right")) for t in trains]
        window = stream.feed([t[a:b] for t, a, b in zip(trains, lo, hi, strict=True)], until)
        n_spikes += window.n_spikes
        n_events += window.n_synaptic_events
        lo = hi
    value, grad = stream.value_and_grad()
    return {
        "loss": value,
        "grad": grad.flat(),
        "n_spikes": n_spikes,
        "n_synaptic_events": n_events,
        "max_in_flight": stream.max_in_flight,
    }


def reverse_gradient(problem: fpgrad.Problem, loss: Any, params: tuple[str, ...]) -> dict[str, Any]:
    """Reverse mode: ``ExactReverse().gradient``'s body (simulate with the record, the loss's
    spike gradient, ``spike_vjp``) with the spike budget raised to :data:`MAX_SPIKES`."""
    start = time.process_time()
    result = fpgrad.simulate(problem, max_spikes=MAX_SPIKES)
    sim_cpu = time.process_time() - start
    value, cot = loss.value_and_spike_grad(result)
    grad = fpgrad.spike_vjp(result, cot, list(params))
    return {
        "loss": value,
        "grad": grad.flat(),
        "n_spikes": result.n_spikes,
        "n_synaptic_events": result.n_synaptic_events,
        "record_rows": int(result.record_node.shape[0]),
        "sim_cpu_s": sim_cpu,
    }


def online_model_bytes(p: int, n: int, capacity: int, in_flight: int) -> float:
    """The online engine's tangents: ``8 P (2 N + capacity + spikes in flight)`` bytes."""
    return 8.0 * p * (2 * n + capacity + in_flight)


def reverse_estimate_bytes(n_events: int, n_spikes: int) -> float:
    return float(REVERSE_BYTES_PER_EVENT * (n_events + n_spikes))


def replayed_fp_bytes(p: int, record_rows: int, n: int) -> float:
    """``spike_jacobian``'s estimate: ``8 P (record rows + 2 N)`` bytes."""
    return 8.0 * p * (record_rows + 2 * n)


def refusal(n_bytes: float, what: str) -> str | None:
    """fpgrad's memory check on ``n_bytes``: its message if it refuses, else ``None``."""
    try:
        _memory.check_allocation(n_bytes, what, "(benchmark estimate)")
    except fpgrad.ProblemError as exc:
        return str(exc)
    return None


def fmt_bytes(n: float) -> str:
    return _memory.format_bytes(n)


# --------------------------------------------------------------------------------------------
# one measured run (in a fresh subprocess unless config.isolate is False)


def _net_from(spec: dict[str, Any]) -> Net:
    fields = dict(spec)
    fields["delay_ms"] = tuple(fields["delay_ms"])
    return Net(**fields)


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """One configuration: ``spec`` has ``kind`` ("online" / "reverse"), ``net`` (a :class:`Net`
    as a dict), ``t_max_ms``, ``params``, ``capacity``, ``window_ms``, ``repeats``,
    ``repeat_below_s``. JIT warm-up on a short run first, then the measured run (peak memory),
    then timing repeats if it was short. Returns counts, times, peak memory and the gradient."""
    net = _net_from(spec["net"])
    params = tuple(spec["params"])
    loss = make_loss(net)
    if spec["kind"] == "online":

        def run(problem: fpgrad.Problem) -> dict[str, Any]:
            return online_gradient(problem, loss, params, spec["capacity"], spec["window_ms"])
    else:

        def run(problem: fpgrad.Problem) -> dict[str, Any]:
            return reverse_gradient(problem, loss, params)

    run(build_problem(net, 50.0))  # JIT warm-up (kernels cached on disk)
    problem = build_problem(net, spec["t_max_ms"])
    walls, cpus, sims = [], [], []

    def timed() -> dict[str, Any]:
        start, start_cpu = time.perf_counter(), time.process_time()
        out = run(problem)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
        if "sim_cpu_s" in out:
            sims.append(out["sim_cpu_s"])
        return out

    try:
        out, mem = peakmem.peak_memory(timed, trim=True)
    except fpgrad.ProblemError as exc:  # fpgrad's memory check refused
        return {"refused": str(exc)}
    while len(walls) < spec["repeats"] and walls[0] < spec["repeat_below_s"]:
        timed()
    out["grad"] = [float(x) for x in out["grad"]]
    if sims:
        out["sim_cpu_s"] = statistics.median(sims)
    return {
        **out,
        **mem,
        "n_input_spikes": problem.n_input_spikes,
        "n_columns": len(out["grad"]),
        "wall_s": statistics.median(walls),
        "cpu_s": statistics.median(cpus),
        "repeats": len(walls),
    }


def run_measure(spec: dict[str, Any], isolate: bool) -> dict[str, Any]:
    if not isolate:
        return measure(spec)
    return peakmem.run_worker(Path(__file__).resolve(), "--measure", spec, timeout=1800)


# --------------------------------------------------------------------------------------------
# the three measurements


def _spec(cfg: Config, kind: str, net: Net, t_max_ms: float, params: tuple[str, ...]) -> dict:
    return {
        "kind": kind,
        "net": dataclasses.asdict(net),
        "t_max_ms": t_max_ms,
        "params": list(params),
        "capacity": cfg.capacity,
        "window_ms": 1000.0 * cfg.window_s,
        "repeats": cfg.repeats,
        "repeat_below_s": cfg.repeat_below_s,
    }


def _needs(message: str) -> str:
    """The size in one of fpgrad's refusals ("... needs about 7.4 GiB of memory ...")."""
    found = re.search(r"needs about (\S+ \S+) of memory", message)
    return found.group(1) if found else "?"


def bench_duration(cfg: Config) -> list[dict[str, Any]]:
    rows = []
    n = cfg.net.n_neurons
    for seconds in cfg.durations_s:
        t_max = 1000.0 * seconds
        print(f"  duration {seconds:g} s: online FP ...", flush=True)
        online = run_measure(_spec(cfg, "online", cfg.net, t_max, cfg.online_params), cfg.isolate)
        row: dict[str, Any] = {"duration_s": seconds, "online": online}
        if "error" in online:
            rows.append(row)
            continue
        row["n_spikes"] = online["n_spikes"]
        row["n_synaptic_events"] = online["n_synaptic_events"]
        row["n_input_spikes"] = online["n_input_spikes"]
        row["online_model_bytes"] = online_model_bytes(
            online["n_columns"], n, cfg.capacity, online["max_in_flight"]
        )
        need = reverse_estimate_bytes(online["n_synaptic_events"], online["n_spikes"])
        row["reverse_estimate_bytes"] = need
        if need > cfg.reverse_cap_gib * GIB:
            row["reverse"] = {
                "refused": f"needs {fmt_bytes(need)} (spike_vjp's estimate), over this "
                f"benchmark's cap of {cfg.reverse_cap_gib:g} GiB",
                "needs": fmt_bytes(need),
                "by": "benchmark cap",
            }
        else:
            print(f"  duration {seconds:g} s: reverse ...", flush=True)
            rev = run_measure(_spec(cfg, "reverse", cfg.net, t_max, cfg.online_params), cfg.isolate)
            if "refused" in rev:
                rev = {**rev, "needs": _needs(rev["refused"]), "by": "fpgrad"}
            row["reverse"] = rev
        rev = row["reverse"]
        if "grad" in rev:
            g_on, g_rev = np.asarray(online["grad"]), np.asarray(rev["grad"])
            row["rel_diff"] = float(
                np.max(np.abs(g_on - g_rev)) / max(np.max(np.abs(g_rev)), 1e-300)
            )
            row["same_spikes"] = (rev["n_spikes"], rev["n_synaptic_events"]) == (
                online["n_spikes"],
                online["n_synaptic_events"],
            )
        for x in (online, rev):
            x.pop("grad", None)
        rows.append(row)
    return rows


def crossover(ps: list[int], online: list[float], reverse: list[float]) -> float | None:
    """The ``P`` below which online FP is faster: log-log interpolation of online / reverse
    between the first pair of successive measured ``P`` where it crosses 1 (None if never)."""
    ratio = [a / b for a, b in zip(online, reverse, strict=True)]
    for k in range(len(ps) - 1):
        r0, r1 = ratio[k], ratio[k + 1]
        if r0 <= 1.0 < r1:
            x0, x1, y0, y1 = math.log(ps[k]), math.log(ps[k + 1]), math.log(r0), math.log(r1)
            return float(math.exp(x0 + (0.0 - y0) * (x1 - x0) / (y1 - y0)))
    return None


def bench_parameters(cfg: Config) -> dict[str, Any]:
    problem = build_problem(cfg.scan_net, 1000.0 * cfg.scan_t_max_s)
    loss = make_loss(cfg.scan_net)
    online_m = fpgrad.ExactForward(online=True, capacity=cfg.capacity)
    reverse_m = fpgrad.ExactReverse()
    warm = build_problem(cfg.scan_net, 50.0)
    for method in (online_m, reverse_m):
        for groups in cfg.scan_groups:
            method.gradient(warm, loss, params=list(groups))
    result = fpgrad.simulate(problem)
    rows = []
    for groups in cfg.scan_groups:
        print(f"  P scan: {'+'.join(groups)} ...", flush=True)
        g_on = online_m.gradient(problem, loss, params=list(groups))
        t_on = results.median_times(
            lambda g=groups: online_m.gradient(problem, loss, params=list(g)), cfg.scan_repeats
        )
        g_rev = reverse_m.gradient(problem, loss, params=list(groups))
        t_rev = results.median_times(
            lambda g=groups: reverse_m.gradient(problem, loss, params=list(g)), cfg.scan_repeats
        )
        a, b = g_on.grad.flat(), g_rev.grad.flat()
        rows.append(
            {
                "groups": list(groups),
                "P": int(a.size),
                "online_s": t_on[0],
                "online_cpu_s": t_on[1],
                "reverse_s": t_rev[0],
                "reverse_cpu_s": t_rev[1],
                "ratio_cpu": t_on[1] / t_rev[1],
                "rel_diff": float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)),
            }
        )
    rows.sort(key=lambda r: r["P"])
    ps = [r["P"] for r in rows]
    on = [r["online_cpu_s"] for r in rows]
    rev = [r["reverse_cpu_s"] for r in rows]
    slope, intercept = np.polyfit(ps, on, 1)
    events = result.n_synaptic_events
    return {
        "net": dataclasses.asdict(cfg.scan_net),
        "t_max_ms": problem.t_max,
        "n_spikes": result.n_spikes,
        "n_input_spikes": problem.n_input_spikes,
        "n_synaptic_events": events,
        "repeats": cfg.scan_repeats,
        "rows": rows,
        "crossover_p": crossover(ps, on, rev),
        "online_always_slower": all(a > b for a, b in zip(on, rev, strict=True)),
        "online_always_faster": all(a <= b for a, b in zip(on, rev, strict=True)),
        "fit_online_cpu_s": {"intercept_s": float(intercept), "per_column_s": float(slope)},
        "fit_ns_per_event_per_column": float(1e9 * slope / events),
        "online_intercept_ns_per_event": float(1e9 * intercept / events),
        "reverse_ns_per_event": float(1e9 * statistics.median(rev) / events),
        "fit_crossover_p": float((statistics.median(rev) - intercept) / slope)
        if slope > 0
        else None,
    }


def bench_large(cfg: Config) -> dict[str, Any]:
    net = cfg.large_net
    t_max = 1000.0 * cfg.large_t_max_s
    print(f"  large run: {net.describe()}, {cfg.large_t_max_s:g} s ...", flush=True)
    online = run_measure(
        {**_spec(cfg, "online", net, t_max, cfg.large_params), "repeats": 1}, cfg.isolate
    )
    out: dict[str, Any] = {
        "net": dataclasses.asdict(net),
        "n_synapses": net.n_synapses,
        "t_max_ms": t_max,
        "params": list(cfg.large_params),
        "online": online,
    }
    if "error" in online:
        return out
    online.pop("grad", None)
    n, p = net.n_neurons, online["n_columns"]
    rows = online["n_input_spikes"] + online["n_spikes"]
    out["record_rows"] = rows
    out["online_model_bytes"] = online_model_bytes(p, n, cfg.capacity, online["max_in_flight"])
    estimates = {
        "replayed_fp_same_p": (p, replayed_fp_bytes(p, rows, n)),
        "replayed_fp_all_weights": (net.n_synapses, replayed_fp_bytes(net.n_synapses, rows, n)),
        "reverse": (
            None,
            reverse_estimate_bytes(online["n_synaptic_events"], online["n_spikes"]),
        ),
    }
    out["memory_limit_bytes"] = _memory.MEMORY_FRACTION * _memory.physical_memory()
    out["estimates"] = {
        key: {"P": cols, "bytes": need, "refused": refusal(need, key)}
        for key, (cols, need) in estimates.items()
    }
    return out


def run(cfg: Config) -> dict[str, Any]:
    """Every measurement of ``cfg``; the report without the machine and tables."""
    start = time.perf_counter()
    print("1. memory and time against duration", flush=True)
    duration = bench_duration(cfg)
    print("2. time against the number of parameters", flush=True)
    parameters = bench_parameters(cfg)
    print("3. the large run", flush=True)
    large = bench_large(cfg)
    return {
        "config": dataclasses.asdict(cfg),
        "statistic": "median",
        "threads": 1,
        "cpu_count": os.cpu_count(),
        "loss": f"VanRossum (tau = {LOSS_TAU:g} ms), first {LOSS_NEURONS} neurons, targets "
        f"{TARGET_TRAIN[0]:g}, {TARGET_TRAIN[1]:g}, ..., {TARGET_TRAIN[-1]:g} ms",
        "duration": duration,
        "parameters": parameters,
        "large": large,
        "run_s": time.perf_counter() - start,
    }


def main(quick: bool = False) -> dict[str, Any]:
    report = run(QUICK if quick else FULL)
    tabs = tables(report)
    for tab in tabs:
        print("\n" + results.render_table(tab, "this run"))
    results.save("online", report, quick, tabs, figure)
    return report


# --------------------------------------------------------------------------------------------
# README tables and figure


def _mib(n_bytes: float | None) -> str:
    return "" if n_bytes is None else f"{n_bytes / MIB:.3g}"


def _cell_mib(x: dict[str, Any]) -> str:
    if "error" in x:
        return "error"
    if "refused" in x:
        return f"refused (needs {x['needs']})"
    return f"{x['peak_mib']:.3g}"


def crossover_text(par: dict[str, Any]) -> str:
    if par["crossover_p"] is not None:
        return f"forward pays off below P ≈ {par['crossover_p']:.0f} (interpolated)"
    rows = par["rows"]
    if par["online_always_faster"]:
        return f"forward pays off at every measured P (up to {rows[-1]['P']:,})"
    if par["online_always_slower"]:
        return (
            f"no crossover: online FP is slower at every measured P, "
            f"{rows[0]['ratio_cpu']:.1f}x reverse at P = {rows[0]['P']}; its fixed cost per "
            f"event ({par['online_intercept_ns_per_event']:.0f} ns, fit at P → 0) exceeds "
            f"reverse mode's ({par['reverse_ns_per_event']:.0f} ns)"
        )
    return "no single crossover (the ratio crosses 1 more than once)"


def tables(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The README tables of a report (:func:`report.table` contract)."""
    cfg = report["config"]
    net = _net_from(cfg["net"])
    dur_rows = []
    methods = set()
    for row in report["duration"]:
        on, rev = row["online"], row.get("reverse", {})
        methods |= {x["method"] for x in (on, rev) if "method" in x}
        if "error" in on:
            dur_rows.append([f"{row['duration_s']:g}", "", "", "", "", "", "", "error", "", ""])
            continue
        dur_rows.append(
            [
                f"{row['duration_s']:g}",
                row["n_spikes"],
                row["n_synaptic_events"],
                f"{rev['sim_cpu_s']:.3g}" if "sim_cpu_s" in rev else "",
                f"{rev['cpu_s']:.3g}" if "cpu_s" in rev else "",
                _cell_mib(rev),
                _mib(row["reverse_estimate_bytes"]),
                f"{on['cpu_s']:.3g}",
                _cell_mib(on),
                _mib(row["online_model_bytes"]),
                f"{row['rel_diff']:.1e}" if "rel_diff" in row else "",
            ]
        )
    where = "fresh subprocess each" if cfg["isolate"] else "in one process"
    p_online = report["duration"][0]["online"].get("n_columns", "?") if report["duration"] else "?"
    out = [
        results.table(
            "online-duration",
            f"Memory and time against duration: {net.describe()}, about "
            f"{_rate(report['duration'], net):.0f} Hz; reverse mode (the simulation with its "
            f"record, shown alone as 'sim', + the loss + `spike_vjp`) against online FP over the "
            f"thresholds (P = {p_online}, capacity {cfg['capacity']}, {cfg['window_s']:g} s "
            f"windows); CPU seconds (one thread), peak MiB above baseline, {where} "
            f"({', '.join(sorted(methods)) or 'not measured'}); reverse estimate = 32 B x "
            f"(events + spikes), online model = 8 P (2N + capacity + in flight); reverse runs "
            f"over {cfg['reverse_cap_gib']:g} GiB are not started",
            [
                "model time s",
                "neuron spikes",
                "syn. events",
                "sim s",
                "reverse s",
                "reverse MiB",
                "rev. estimate MiB",
                "online FP s",
                "online MiB",
                "online model MiB",
                "online vs reverse (rel. diff)",
            ],
            dur_rows,
        )
    ]
    par = report["parameters"]
    snet = _net_from(par["net"])
    prow = [
        [
            "+".join(r["groups"]) if len(r["groups"]) < 6 else _groups_label(r["groups"]),
            r["P"],
            f"{r['online_cpu_s']:.3g}",
            f"{r['reverse_cpu_s']:.3g}",
            f"{r['ratio_cpu']:.2f}",
            f"{r['rel_diff']:.1e}",
        ]
        for r in par["rows"]
    ]
    prow.append([f"**{crossover_text(par)}**", "", "", "", "", ""])
    out.append(
        results.table(
            "online-parameters",
            f"Time per gradient against P: {snet.describe()}, {par['t_max_ms'] / 1000:g} s, "
            f"{par['n_spikes']:,} neuron spikes, {par['n_synaptic_events']:,} synaptic events; "
            f"`ExactForward(online=True)` and `ExactReverse()` through `method.gradient`, CPU "
            f"seconds, median of {par['repeats']}; online fit t = a + b P: "
            f"{par['online_intercept_ns_per_event']:.0f} ns + "
            f"{par['fit_ns_per_event_per_column']:.2f} ns x P per synaptic event, reverse "
            f"{par['reverse_ns_per_event']:.0f} ns per event",
            ["groups", "P", "online FP s", "reverse s", "online / reverse", "rel. diff"],
            prow,
        )
    )
    lg = report["large"]
    lnet = _net_from(lg["net"])
    on = lg["online"]
    if "error" not in on:
        limit = fmt_bytes(lg["memory_limit_bytes"])
        est = lg["estimates"]

        def refused(key: str) -> str:
            return f"yes (limit {limit})" if est[key]["refused"] else f"no (limit {limit})"

        lrows = [
            [
                "online FP, `ForwardStream` (measured)",
                on["n_columns"],
                f"{on['cpu_s']:.3g}",
                f"{on['peak_mib']:.3g} MiB",
                "",
            ],
            [
                "online FP, model 8 P (2N + capacity + in flight)",
                on["n_columns"],
                "",
                fmt_bytes(lg["online_model_bytes"]),
                "",
            ],
            [
                "replayed FP `ExactForward()`, same P (8 P (rows + 2N))",
                est["replayed_fp_same_p"]["P"],
                "",
                fmt_bytes(est["replayed_fp_same_p"]["bytes"]),
                refused("replayed_fp_same_p"),
            ],
            [
                "replayed FP, all weights",
                est["replayed_fp_all_weights"]["P"],
                "",
                fmt_bytes(est["replayed_fp_all_weights"]["bytes"]),
                refused("replayed_fp_all_weights"),
            ],
            [
                "reverse `ExactReverse()` (32 B x (events + spikes))",
                "any",
                "",
                fmt_bytes(est["reverse"]["bytes"]),
                refused("reverse"),
            ],
        ]
        out.append(
            results.table(
                "online-large",
                f"The large run: {lnet.describe()}, {lg['t_max_ms'] / 1000:g} s, "
                f"{on['n_spikes']:,} neuron spikes, {on['n_synaptic_events']:,} synaptic "
                f"events, {lg['record_rows']:,} record rows (input + neuron spikes); online FP "
                f"over the thresholds (CPU s, peak above baseline, {where}) and "
                f"the memory the other engines would need, with fpgrad's memory check",
                ["", "P", "CPU s", "memory", "refused by fpgrad"],
                lrows,
            )
        )
    return out


def _rate(rows: list[dict[str, Any]], net: Net) -> float:
    done = [r for r in rows if "n_spikes" in r]
    if not done:
        return float("nan")
    r = done[-1]
    return r["n_spikes"] / net.n_neurons / r["duration_s"]


def _groups_label(groups: list[str]) -> str:
    rest = [g for g in groups if g not in NEURON_GROUPS]
    return "+".join([*rest, "6 neuron groups"])


def figure(report: dict[str, Any]):
    """Memory and time against duration, time against P, and the large run's memory."""
    plt = results.pyplot()
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig, axes = plt.subplots(2, 2, figsize=(11, 8), layout="constrained")
    rows = [r for r in report["duration"] if "n_spikes" in r]
    t = np.array([r["duration_s"] for r in rows])
    ax = axes[0, 0]
    ran = [(r["duration_s"], r["reverse"]["peak_mib"]) for r in rows if "peak_mib" in r["reverse"]]
    if ran:
        ax.plot(*zip(*ran, strict=True), "C0o-", label="reverse, measured")
    ax.plot(
        t,
        [r["reverse_estimate_bytes"] / MIB for r in rows],
        "C0--",
        alpha=0.6,
        label="reverse, estimate 32 B x (events + spikes)",
    )
    refused = [
        (r["duration_s"], r["reverse_estimate_bytes"] / MIB)
        for r in rows
        if "refused" in r["reverse"]
    ]
    if refused:
        ax.plot(*zip(*refused, strict=True), "C0x", ms=10, mew=2, label="reverse, refused")
    ax.plot(t, [r["online"]["peak_mib"] for r in rows], "C1s-", label="online FP, measured")
    ax.plot(t, [r["online_model_bytes"] / MIB for r in rows], "C1:", label="online FP, model")
    ax.set_ylabel("peak memory above baseline (MiB)")
    ax.set_title("memory against duration")
    ax = axes[0, 1]
    sims = [
        (r["duration_s"], r["reverse"]["sim_cpu_s"]) for r in rows if "sim_cpu_s" in r["reverse"]
    ]
    revs = [(r["duration_s"], r["reverse"]["cpu_s"]) for r in rows if "cpu_s" in r["reverse"]]
    if sims:
        ax.plot(*zip(*sims, strict=True), "k:o", label="simulation (with record)")
    if revs:
        ax.plot(*zip(*revs, strict=True), "C0o-", label="reverse (sim + loss + pass)")
    ax.plot(t, [r["online"]["cpu_s"] for r in rows], "C1s-", label="online FP")
    ax.set_ylabel("CPU seconds")
    ax.set_title("time against duration")
    for ax in axes[0]:
        ax.set_xlabel("model time (s)")
    par = report["parameters"]
    ax = axes[1, 0]
    ps = [r["P"] for r in par["rows"]]
    ax.plot(ps, [r["online_cpu_s"] for r in par["rows"]], "C1s-", label="online FP")
    ax.plot(ps, [r["reverse_cpu_s"] for r in par["rows"]], "C0o-", label="reverse")
    fit = par["fit_online_cpu_s"]
    span = np.geomspace(min(ps), max(ps), 50)
    ax.plot(
        span,
        fit["intercept_s"] + fit["per_column_s"] * span,
        "C1:",
        alpha=0.6,
        label="online fit a + b P",
    )
    if par["crossover_p"] is not None:
        ax.axvline(
            par["crossover_p"], color="C3", ls="--", label=f"crossover P ≈ {par['crossover_p']:.0f}"
        )
    ax.set_xlabel("parameters differentiated P")
    ax.set_ylabel("CPU seconds per gradient")
    ax.set_title(f"time against P ({par['n_synaptic_events']:,} synaptic events)")
    for ax in (*axes[0], axes[1, 0]):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
        ax.yaxis.set_minor_formatter(NullFormatter())
        low, high = ax.get_ylim()
        if high < 100 * low:  # under two decades: label 1, 2, 5 x 10^k
            ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
        ax.legend(fontsize=8)
    ax = axes[1, 1]
    lg = report["large"]
    if "estimates" in lg:
        est = lg["estimates"]
        labels = [
            "online FP\nmeasured",
            "online FP\nmodel",
            "replayed FP\nsame P",
            "replayed FP\nall weights",
            "reverse\nestimate",
        ]
        values = [
            lg["online"]["peak_mib"] * MIB,
            lg["online_model_bytes"],
            est["replayed_fp_same_p"]["bytes"],
            est["replayed_fp_all_weights"]["bytes"],
            est["reverse"]["bytes"],
        ]
        colors = ["C1", "C1", "C2", "C2", "C0"]
        ax.bar(labels, np.array(values) / MIB, color=colors, alpha=0.8)
        ax.axhline(
            lg["memory_limit_bytes"] / MIB,
            color="C3",
            ls="--",
            label="fpgrad's refusal limit (half the memory)",
        )
        ax.set_yscale("log")
        ax.set_ylabel("memory (MiB)")
        ax.legend(fontsize=8)
        ax.tick_params(axis="x", labelsize=8)
        ax.set_title(
            f"large run: {lg['online']['n_spikes']:,} spikes, {lg['n_synapses']:,} "
            f"synapses, P = {lg['online']['n_columns']}"
        )
    mode = "quick" if report.get("quick") else "full"
    fig.suptitle(f"Online forward propagation against reverse mode, one thread ({mode} run)")
    return fig


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--measure":
        print(json.dumps(measure(json.loads(sys.argv[2]))))
    else:
        main(quick="--quick" in sys.argv)

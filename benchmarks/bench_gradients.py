"""Cost of exact gradients against the simulation alone.

Two problems:

(a) the 1000-neuron recurrent network of ``bench_simulator.py`` (1000 Poisson inputs at 10 Hz,
    100 input + 100 recurrent synapses per neuron, 20 % inhibitory, ``t_max = 1000 ms``);
(b) a 5-120-3 feedforward classifier (Yin-Yang layout: ``x, y, 1-x, 1-y`` latency coded on
    ``[0, 10] ms`` plus a bias spike at 0, ``t_max = 30 ms``) over a batch of samples with
    :class:`fpgrad.FirstSpikeCrossEntropy`, through the public batch API: the simulation is
    ``simulate_batch``, the gradients ``gradient_batch``, which runs sample by sample (a
    ``Problem``, a simulation and a reverse or FP pass each) except for
    :class:`fpgrad.ExactReverse` on weights and thresholds only, whose batch entry for
    cross-entropy losses is one fused Numba loop over the batch (what training uses). That
    case is timed both ways: through ``gradient_batch`` (fused) and sample by sample with
    ``fpgrad.gradient`` (the generic path, comparable with the simulation and the other rows).

Measured, after warming up Numba's JIT, as the median of several repeats (single thread unless
stated; the machine is shared, so timings are noisy):

* simulation alone (``simulate``);
* simulation + reverse mode (``spike_vjp`` with a random cotangent), all parameter groups and
  weights only, and the reverse pass alone; the ratio to the simulation (issue target: reverse
  gradient at most 3x the simulation on (a));
* simulation + forward propagation (``spike_jacobian``) for ``P`` selected weight columns, to
  show the linear growth in ``P``;
* finite differences: what :class:`fpgrad.FiniteDifference` costs with its default steps,
  central differences with Richardson extrapolation at each relative step of
  :data:`fpgrad.testing.DEFAULT_FD_STEPS` (4 simulations per step, 16 per parameter), timed on
  a few weights and extrapolated per parameter and to all parameters;
* scaling with duration and the number of synaptic events (``t_max`` varied on (a)) and with
  network size (the number of neurons of (a) varied, in-degree and inputs fixed);
* peak memory (``peakmem.py``): each configuration runs in a fresh subprocess; after imports,
  JIT warm-up and problem construction, the kernel's peak-RSS counter is reset (``echo 5 >
  /proc/self/clear_refs``) and the reported figure is ``VmHWM - VmRSS`` from
  ``/proc/self/status`` around the measured call (Numba's allocations are invisible to
  tracemalloc). Where ``clear_refs`` is unavailable, ``ru_maxrss`` of the subprocess is reported
  instead (absolute, includes the interpreter).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import peakmem
import report as results
from report import median_times

import fpgrad
from fpgrad.testing import DEFAULT_FD_STEPS

ALL_GROUPS = ("weight", "input_time", "threshold", "tau_mem", "tau_syn")


# --------------------------------------------------------------------------------------------
# problems


#: The benchmark's horizon; shorter horizons cut the same input trains (same trajectory prefix).
RECURRENT_T_MAX = 1000.0


def recurrent_problem(
    t_max: float = RECURRENT_T_MAX, seed: int = 0, n_neurons: int = 1000
) -> fpgrad.Problem:
    """The 1000-neuron benchmark network of ``bench_simulator.py``, cut at ``t_max`` ms (with
    ``n_neurons`` neurons instead, the same in-degrees and 1000 inputs).

    Inputs are always drawn on ``[0, 1000]`` ms and truncated, so every ``t_max`` simulates a
    prefix of the same run (redrawing them for a longer horizon can tip this strongly recurrent
    network into runaway activity).
    """
    if not 0 < t_max <= RECURRENT_T_MAX:
        raise ValueError(f"t_max must lie in (0, {RECURRENT_T_MAX}]")
    rng = np.random.default_rng(seed)
    net = fpgrad.random_recurrent_network(
        1000,
        n_neurons,
        rng,
        input_synapses=100,
        recurrent_synapses=100,
        input_weight=0.012,
        recurrent_weight=0.01,
        inhibitory_fraction=0.2,
        inhibition_scale=4.0,
    )
    inputs = fpgrad.poisson_inputs(1000, 10.0, RECURRENT_T_MAX, rng)
    return fpgrad.Problem(net, tuple(train[train <= t_max] for train in inputs), t_max)


FF_SIZES = (5, 120, 3)
FF_T_MAX = 30.0
#: The timed configurations of the feedforward batch (b): table label, key in the report.
FF_TIMINGS = (
    ("simulation", "sim"),
    ("sim + reverse, all groups", "sim_plus_reverse_all"),
    ("sim + reverse, weights, per sample", "sim_plus_reverse_weights"),
    ("sim + reverse, weights, fused batch", "sim_plus_reverse_weights_fused"),
    ("sim + reverse, all groups, 2 threads", "sim_plus_reverse_all_2threads"),
    ("sim + FP, weights", "sim_plus_forward_weights"),
    ("sim + FP, all groups", "sim_plus_forward_all"),
)


def feedforward_batch(batch: int, seed: int = 0) -> tuple[fpgrad.Network, list, list]:
    """A 5-120-3 network (fpgrad.train's default initialisation), inputs and losses."""
    rng = np.random.default_rng(seed)
    peak = 2.5  # max of the PSP kernel for tau_syn = 5, tau_mem = 10
    gains, spreads = (3.0, 5.0), (1.5, 1.0)
    weights = [
        rng.normal(
            gains[k] / (peak * FF_SIZES[k]),
            spreads[k] / (peak * np.sqrt(FF_SIZES[k])),
            size=(FF_SIZES[k], FF_SIZES[k + 1]),
        )
        for k in range(2)
    ]
    net = fpgrad.feedforward_network(weights, tau_syn=5.0, tau_mem=10.0, threshold=1.0)
    xy = rng.uniform(0.0, 1.0, size=(batch, 2))
    outputs = tuple(range(FF_SIZES[0] + FF_SIZES[1], sum(FF_SIZES)))
    inputs, losses = [], []
    for x, y in xy:
        trains = fpgrad.latency_inputs([x, y, 1.0 - x, 1.0 - y], t_early=0.0, t_late=10.0)
        inputs.append([*trains, np.array([0.0])])
        losses.append(fpgrad.FirstSpikeCrossEntropy(outputs, int(rng.integers(0, 3))))
    return net, inputs, losses


# --------------------------------------------------------------------------------------------
# helpers


def with_weights(problem: fpgrad.Problem, weight: np.ndarray) -> fpgrad.Problem:
    net = dataclasses.replace(problem.network, weight=weight)
    return fpgrad.Problem(net, problem.inputs, problem.t_max)


#: Simulations per parameter of ``fpgrad.FiniteDifference()``: 4 per step (``+-h``, ``+-h/2``).
FD_SIMULATIONS = 4 * len(DEFAULT_FD_STEPS)


def fd_time_per_parameter(problem: fpgrad.Problem, n_params: int, seed: int = 0) -> float:
    """Seconds per weight for ``fpgrad.FiniteDifference()``'s simulations: Richardson-extrapolated
    central differences at every step of ``DEFAULT_FD_STEPS`` (:data:`FD_SIMULATIONS` runs)."""
    rng = np.random.default_rng(seed)
    base = problem.network.weight
    chosen = rng.choice(base.size, size=n_params, replace=False)
    start = time.perf_counter()
    for q in chosen:
        for s in DEFAULT_FD_STEPS:
            h = s * max(1.0, abs(base[q]))
            for step in (h, -h, h / 2, -h / 2):
                moved = base.copy()
                moved[q] += step
                fpgrad.simulate(with_weights(problem, moved))
    return (time.perf_counter() - start) / n_params


def n_parameters(problem: fpgrad.Problem) -> int:
    net = problem.network
    return net.n_synapses + problem.n_input_spikes + 2 * net.n_neurons + 1


# --------------------------------------------------------------------------------------------
# peak memory, one subprocess per configuration


def _memory_worker(spec: dict[str, Any]) -> dict[str, Any]:  # pragma: no cover - subprocess
    problem = recurrent_problem(spec["t_max"])
    small = recurrent_problem(20.0)
    warm = fpgrad.simulate(small)
    fpgrad.spike_vjp(warm, np.ones(warm.n_spikes))
    fpgrad.spike_jacobian(warm, {"weight": np.arange(2)})
    cot = np.random.default_rng(1).standard_normal
    kind, n_cols = spec["kind"], spec.get("columns", 0)

    def run() -> None:
        result = fpgrad.simulate(problem)
        if kind == "reverse":
            fpgrad.spike_vjp(result, cot(result.n_spikes))
        elif kind == "forward":
            fpgrad.spike_jacobian(result, {"weight": np.arange(n_cols)})

    return peakmem.peak_memory(run)[1]


def measure_memory(spec: dict[str, Any]) -> dict[str, Any]:
    return peakmem.run_worker(Path(__file__).resolve(), "--memory", spec)


# --------------------------------------------------------------------------------------------
# the measurements


def bench_recurrent(
    t_max: float, repeats: int, columns: tuple[int, ...], n_neurons: int = 1000
) -> dict[str, Any]:
    problem = recurrent_problem(t_max, n_neurons=n_neurons)
    result = fpgrad.simulate(problem)
    cot = np.random.default_rng(1).standard_normal(result.n_spikes)
    sim = median_times(lambda: fpgrad.simulate(problem), repeats)
    rev = median_times(lambda: fpgrad.spike_vjp(result, cot), repeats)
    rev_w = median_times(lambda: fpgrad.spike_vjp(result, cot, ["weight"]), repeats)
    sim_rev = median_times(lambda: fpgrad.spike_vjp(fpgrad.simulate(problem), cot), repeats)
    sim_rev_w = median_times(
        lambda: fpgrad.spike_vjp(fpgrad.simulate(problem), cot, ["weight"]), repeats
    )
    fp = {}
    for p in columns:
        sel = {"weight": np.arange(p)}
        t_fp = median_times(lambda sel=sel: fpgrad.spike_jacobian(result, sel), repeats)
        fp[str(p)] = {
            "fp_s": t_fp[0],
            "fp_cpu_s": t_fp[1],
            "fp_over_sim": t_fp[0] / sim[0],
            "fp_over_sim_cpu": t_fp[1] / sim[1],
        }
    out: dict[str, Any] = {
        "n_neurons": n_neurons,
        "t_max_ms": t_max,
        "n_neuron_spikes": result.n_spikes,
        "n_input_spikes": problem.n_input_spikes,
        "n_synaptic_events": result.n_synaptic_events,
        "n_parameters": n_parameters(problem),
    }
    for key, (wall, cpu) in (
        ("sim", sim),
        ("reverse_all", rev),
        ("reverse_weights", rev_w),
        ("sim_plus_reverse_all", sim_rev),
        ("sim_plus_reverse_weights", sim_rev_w),
    ):
        out[f"{key}_s"] = wall
        out[f"{key}_cpu_s"] = cpu
    for suffix in ("", "_cpu"):
        base = out[f"sim{suffix}_s"]
        out[f"ratio_sim_plus_reverse_over_sim{suffix}"] = (
            out[f"sim_plus_reverse_all{suffix}_s"] / base
        )
        out[f"ratio_sim_plus_reverse_weights_over_sim{suffix}"] = (
            out[f"sim_plus_reverse_weights{suffix}_s"] / base
        )
        out[f"ratio_reverse_over_sim{suffix}"] = out[f"reverse_all{suffix}_s"] / base
        out[f"ratio_reverse_weights_over_sim{suffix}"] = out[f"reverse_weights{suffix}_s"] / base
    out["sim_events_per_s"] = result.n_synaptic_events / sim[0]
    out["sim_events_per_cpu_s"] = result.n_synaptic_events / sim[1]
    out["forward_jacobian"] = fp
    return out


def bench_feedforward(batch: int, repeats: int, fd_params: int) -> dict[str, Any]:
    net, inputs, losses = feedforward_batch(batch)
    t_max = FF_T_MAX
    groups = ("weight", "threshold", "tau_mem", "tau_syn")

    def sim() -> None:
        fpgrad.simulate_batch(net, inputs, t_max, n_threads=1)

    def grad(method, params, threads=1) -> fpgrad.BatchGradient:
        return fpgrad.gradient_batch(
            net, inputs, t_max, losses, method, params=params, n_threads=threads
        )

    def per_sample(method, params) -> list[fpgrad.GradientResult]:
        """The generic batch path spelled out: one problem and one gradient per sample."""
        return [
            fpgrad.gradient(fpgrad.Problem(net, tuple(x), t_max), loss, method, params=params)
            for x, loss in zip(inputs, losses, strict=True)
        ]

    out = grad(fpgrad.ExactReverse(), groups)
    fused = grad(fpgrad.ExactReverse(), ["weight"])
    per_sample(fpgrad.ExactReverse(), ["weight"])
    grad(fpgrad.ExactForward(), ["weight"])
    sim()
    runs = {
        "sim": lambda: sim(),
        "sim_plus_reverse_all": lambda: grad(fpgrad.ExactReverse(), groups),
        "sim_plus_reverse_weights": lambda: per_sample(fpgrad.ExactReverse(), ["weight"]),
        "sim_plus_reverse_weights_fused": lambda: grad(fpgrad.ExactReverse(), ["weight"]),
        "sim_plus_reverse_all_2threads": lambda: grad(fpgrad.ExactReverse(), groups, threads=2),
        "sim_plus_forward_weights": lambda: grad(fpgrad.ExactForward(), ["weight"]),
        "sim_plus_forward_all": lambda: grad(fpgrad.ExactForward(), groups),
    }
    times = {key: median_times(fn, repeats) for key, fn in runs.items()}
    problems = [fpgrad.Problem(net, tuple(sample), t_max) for sample in inputs[:2]]
    fd_per_param = np.mean([fd_time_per_parameter(p, fd_params) for p in problems]) * batch
    n_params = net.n_synapses + 2 * net.n_neurons + 1
    results = fpgrad.simulate_batch(net, inputs, t_max, n_threads=1)
    report: dict[str, Any] = {
        "batch": batch,
        "t_max_ms": t_max,
        "n_parameters_network": n_params,
        "n_weights": net.n_synapses,
        "neuron_spikes_per_sample": float(np.mean([r.n_spikes for r in results])),
        "synaptic_events_per_sample": float(np.mean([r.n_synaptic_events for r in results])),
        "n_degenerate": out.n_degenerate,
        # gradient_batch took ExactReverse's fused loop for the weights (no per-sample results)
        "weights_batch_fused": fused.samples is None,
    }
    for key, (wall, cpu) in times.items():
        report[f"{key}_s"] = wall
        report[f"{key}_cpu_s"] = cpu
    report["ratio_reverse_all_over_sim"] = times["sim_plus_reverse_all"][0] / times["sim"][0]
    report["ratio_reverse_all_over_sim_cpu"] = times["sim_plus_reverse_all"][1] / times["sim"][1]
    report["ratio_forward_all_over_sim"] = times["sim_plus_forward_all"][0] / times["sim"][0]
    report["finite_difference_simulations_per_parameter"] = FD_SIMULATIONS
    report["finite_difference_per_parameter_s"] = float(fd_per_param)
    report["finite_difference_all_parameters_s"] = float(fd_per_param * n_params)
    return report


SCAN_KEYS = (
    "n_neurons",
    "t_max_ms",
    "n_parameters",
    "n_synaptic_events",
    "n_neuron_spikes",
    "sim_s",
    "sim_cpu_s",
    "reverse_all_s",
    "reverse_all_cpu_s",
    "sim_plus_reverse_all_s",
    "sim_plus_reverse_all_cpu_s",
    "ratio_sim_plus_reverse_over_sim",
    "ratio_sim_plus_reverse_over_sim_cpu",
    "sim_events_per_s",
    "sim_events_per_cpu_s",
    "forward_jacobian",
)
#: FP tangent columns measured in the scans (``P`` selected weights).
SCAN_COLUMNS = 100


def main(quick: bool = False) -> dict[str, Any]:
    repeats = 3 if quick else 7
    t_main = 300.0 if quick else 1000.0
    columns = (10, 100) if quick else (10, 100, 1000)
    t_scan = (100.0, 200.0, 300.0) if quick else (250.0, 500.0, 750.0, 1000.0)
    sizes = (250, 500, 1000) if quick else (250, 500, 1000, 2000, 4000)

    # JIT warm-up on a small problem (kernels are cached on disk, compile once per machine).
    warm = recurrent_problem(20.0)
    res = fpgrad.simulate(warm)
    fpgrad.spike_vjp(res, np.ones(res.n_spikes))
    fpgrad.spike_jacobian(res, {"weight": np.arange(2)})

    main_run = bench_recurrent(t_main, repeats, columns)
    problem = recurrent_problem(t_main)
    fd = fd_time_per_parameter(problem, 1 if quick else 2)
    main_run["finite_difference_simulations_per_parameter"] = FD_SIMULATIONS
    main_run["finite_difference_per_parameter_s"] = fd
    main_run["finite_difference_all_parameters_h"] = fd * main_run["n_parameters"] / 3600

    def scan_row(t_max: float, n_neurons: int) -> dict[str, Any]:
        if (t_max, n_neurons) == (t_main, 1000):
            row = main_run
        else:
            row = bench_recurrent(t_max, repeats, (SCAN_COLUMNS,), n_neurons)
        return {k: row[k] for k in SCAN_KEYS}

    duration_scan = [scan_row(t_max, 1000) for t_max in t_scan]
    size_scan = [scan_row(t_main, n) for n in sizes]

    memory = {}
    mem_specs = [("simulate", {"kind": "simulate"}), ("sim+reverse", {"kind": "reverse"})]
    mem_specs += [(f"sim+FP P={p}", {"kind": "forward", "columns": p}) for p in columns]
    for label, spec in mem_specs:
        memory[label] = measure_memory({**spec, "t_max": t_main})

    ff = bench_feedforward(32, repeats, 1 if quick else 3)

    report = {
        "repeats": repeats,
        "statistic": "median",
        "threads": 1,
        "cpu_count": os.cpu_count(),
        "recurrent": main_run,
        "recurrent_event_scaling": duration_scan,
        "recurrent_size_scaling": size_scan,
        "recurrent_peak_memory": memory,
        "feedforward": ff,
        "targets": {
            f"{what}_at_most_3x_sim_{clock}": main_run[f"ratio_{key}_over_sim{suffix}"] <= 3.0
            for what, key in (
                ("sim_plus_reverse", "sim_plus_reverse"),
                ("reverse_alone", "reverse"),
            )
            for clock, suffix in (("wall", ""), ("cpu", "_cpu"))
        },
    }
    _print(report)
    results.save("gradients", report, quick, tables(report), figure)
    return report


# --------------------------------------------------------------------------------------------
# README tables and figure


def _mib(mem: dict[str, Any] | None) -> str:
    if mem is None:
        return ""
    return "error" if "error" in mem else f"{mem['peak_mib']:.1f}"


def _fd_runs(run: dict[str, Any]) -> str:
    """How the finite differences of a report were timed (old reports: one step, 4 runs)."""
    n = run.get("finite_difference_simulations_per_parameter", 4)
    return f"{n} runs: Richardson at {n // 4} step{'s' if n > 4 else ''}"


def tables(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The README tables of a report (:func:`report.table` contract)."""
    r, mem = report["recurrent"], report["recurrent_peak_memory"]
    methods = sorted({m["method"] for m in mem.values() if "method" in m})
    cost = [
        ("simulation", "sim", "simulate"),
        ("reverse pass alone, all groups", "reverse_all", None),
        ("reverse pass alone, weights only", "reverse_weights", None),
        ("**simulation + reverse, all groups**", "sim_plus_reverse_all", "sim+reverse"),
        ("simulation + reverse, weights only", "sim_plus_reverse_weights", None),
    ]
    rows = [
        [
            label,
            f"{r[f'{key}_s']:.3g}",
            f"{r[f'{key}_s'] / r['sim_s']:.2f}",
            f"{r[f'{key}_cpu_s']:.3g}",
            f"{r[f'{key}_cpu_s'] / r['sim_cpu_s']:.2f}",
            _mib(mem.get(m)) if m else "",
        ]
        for label, key, m in cost
    ]
    for p, fp in r["forward_jacobian"].items():
        rows.append(
            [
                f"FP Jacobian alone, P = {p} weights",
                f"{fp['fp_s']:.3g}",
                f"{fp['fp_over_sim']:.2f}",
                f"{fp['fp_cpu_s']:.3g}",
                f"{fp['fp_over_sim_cpu']:.2f}",
                _mib(mem.get(f"sim+FP P={p}")),
            ]
        )
    fd = r["finite_difference_per_parameter_s"]
    rows.append(
        [
            f"finite differences, per parameter ({_fd_runs(r)})",
            f"{fd:.3g}",
            f"{fd / r['sim_s']:.2f}",
            "",
            "",
            "",
        ]
    )
    rows.append(
        [
            f"finite differences, all {r['n_parameters']:,} parameters (extrapolated)",
            f"{fd * r['n_parameters'] / 3600:.3g} h",
            f"{fd * r['n_parameters'] / r['sim_s']:.3g}",
            "",
            "",
            "",
        ]
    )
    out = [
        results.table(
            "gradients-cost",
            f"(a) {r['n_neurons']}-neuron recurrent network, t_max = {r['t_max_ms']:.0f} ms: "
            f"{r['n_neuron_spikes']:,} neuron spikes, {r['n_synaptic_events']:,} synaptic events, "
            f"{r['n_parameters']:,} parameters; one thread, median of {report['repeats']}; peak "
            f"memory above baseline of the simulation plus that pass, fresh subprocess each "
            f"({', '.join(methods) or 'not measured'})",
            ["", "wall s", "x sim", "CPU s", "x sim", "peak MiB"],
            rows,
        ),
        results.table(
            "gradients-targets",
            "Issue target: a reverse-mode gradient costs at most 3x the simulation (on (a))",
            ["", "wall", "CPU", "met"],
            [
                [
                    label,
                    f"{r[f'ratio_{key}_over_sim']:.2f}x",
                    f"{r[f'ratio_{key}_over_sim_cpu']:.2f}x",
                    "yes"
                    if report["targets"][f"{what}_at_most_3x_sim_wall"]
                    and report["targets"][f"{what}_at_most_3x_sim_cpu"]
                    else "no",
                ]
                for label, what, key in (
                    ("simulation + reverse", "sim_plus_reverse", "sim_plus_reverse"),
                    ("reverse pass alone", "reverse_alone", "reverse"),
                )
            ],
        ),
    ]
    scan_cols = [
        "syn. events",
        "neuron spikes",
        "sim",
        "reverse",
        "sim+rev",
        "ratio",
        f"FP P={SCAN_COLUMNS}",
    ]

    def scan_cells(row: dict[str, Any]) -> list[Any]:
        fp = row["forward_jacobian"].get(str(SCAN_COLUMNS))
        return [
            row["n_synaptic_events"],
            row["n_neuron_spikes"],
            f"{row['sim_cpu_s']:.3f}",
            f"{row['reverse_all_cpu_s']:.3f}",
            f"{row['sim_plus_reverse_all_cpu_s']:.3f}",
            f"{row['ratio_sim_plus_reverse_over_sim_cpu']:.2f}",
            f"{fp['fp_cpu_s']:.3f}" if fp else "",
        ]

    out.append(
        results.table(
            "gradients-duration",
            f"Scaling with duration and synaptic events ({r['n_neurons']} neurons; CPU s; "
            "shorter horizons cut the same input trains)",
            ["t_max ms", *scan_cols],
            [[f"{x['t_max_ms']:.0f}", *scan_cells(x)] for x in report["recurrent_event_scaling"]],
        )
    )
    if "recurrent_size_scaling" in report:
        out.append(
            results.table(
                "gradients-size",
                f"Scaling with network size (t_max = {r['t_max_ms']:.0f} ms, 1000 inputs, "
                "in-degree 100 + 100; CPU s)",
                ["neurons", "parameters", *scan_cols],
                [
                    [x["n_neurons"], x["n_parameters"], *scan_cells(x)]
                    for x in report["recurrent_size_scaling"]
                ],
            )
        )
    f = report["feedforward"]
    ff_rows = [
        [
            label,
            f"{1e3 * f[f'{key}_s']:.1f}",
            f"{f[f'{key}_s'] / f['sim_s']:.2f}",
            f"{1e3 * f[f'{key}_cpu_s']:.1f}",
            f"{f[f'{key}_cpu_s'] / f['sim_cpu_s']:.2f}",
        ]
        for label, key in FF_TIMINGS
    ]
    for label, key in (
        (f"finite differences, per parameter ({_fd_runs(f)})", "finite_difference_per_parameter_s"),
        ("finite differences, all parameters", "finite_difference_all_parameters_s"),
    ):
        ff_rows.append([label, f"{1e3 * f[key]:.0f}", f"{f[key] / f['sim_s']:.1f}", "", ""])
    out.append(
        results.table(
            "gradients-feedforward",
            f"(b) 5-120-3 feedforward, batch {f['batch']} (Yin-Yang-like latency inputs, "
            f"`FirstSpikeCrossEntropy`, {f['neuron_spikes_per_sample']:.0f} spikes and "
            f"{f['synaptic_events_per_sample']:.0f} synaptic events per sample, "
            f"{f['n_parameters_network']} network parameters)",
            ["", "wall ms", "x sim", "CPU ms", "x sim"],
            ff_rows,
        )
    )
    return out


def figure(report: dict[str, Any]):
    """Gradient cost (CPU s) against parameters differentiated, network size, duration and
    synaptic events."""
    plt = results.pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5), layout="constrained")
    r = report["recurrent"]
    ax = axes[0, 0]
    ps = np.array(sorted(int(p) for p in r["forward_jacobian"]))
    span = np.array([1, max(ps.max(), 1000)])
    fd = r["finite_difference_per_parameter_s"]
    ax.plot(span, [r["sim_cpu_s"]] * 2, "k:", label="simulation")
    ax.plot(span, [r["sim_plus_reverse_all_cpu_s"]] * 2, "C0-", label="sim + reverse (all)")
    fp = [r["sim_cpu_s"] + r["forward_jacobian"][str(p)]["fp_cpu_s"] for p in ps]
    ax.plot(ps, fp, "C1o-", label="sim + FP")
    ax.plot(span, fd * span, "C3--", label="finite differences (wall, extrapolated)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("parameters differentiated P")
    ax.set_title(f"vs parameters ({r['n_neurons']} neurons, {r['t_max_ms']:.0f} ms)")
    ax.legend(fontsize=8)
    panels = (
        (axes[0, 1], report.get("recurrent_size_scaling", []), "n_neurons", "neurons"),
        (axes[1, 0], report["recurrent_event_scaling"], "t_max_ms", "duration t_max (ms)"),
        (
            axes[1, 1],
            report["recurrent_event_scaling"] + report.get("recurrent_size_scaling", []),
            "n_synaptic_events",
            "synaptic events",
        ),
    )
    for ax, rows, key, xlabel in panels:
        rows = sorted(rows, key=lambda x, key=key: x[key])
        x = [row[key] for row in rows]
        ax.plot(x, [row["sim_cpu_s"] for row in rows], "k:o", label="simulation")
        ax.plot(x, [row["reverse_all_cpu_s"] for row in rows], "C2-^", label="reverse pass")
        ax.plot(
            x, [row["sim_plus_reverse_all_cpu_s"] for row in rows], "C0-o", label="sim + reverse"
        )
        fp = [
            (row[key], row["sim_cpu_s"] + row["forward_jacobian"][str(SCAN_COLUMNS)]["fp_cpu_s"])
            for row in rows
            if str(SCAN_COLUMNS) in row["forward_jacobian"]
        ]
        if fp:
            ax.plot(*zip(*fp, strict=True), "C1-s", label=f"sim + FP (P = {SCAN_COLUMNS})")
        ax.set_xlabel(xlabel)
        ax.set_title(f"vs {xlabel.split(' (')[0]}")
        ax.legend(fontsize=8)
    for ax in axes.flat:
        ax.set_ylabel("CPU seconds")
        ax.grid(alpha=0.3)
    mode = "quick" if report.get("quick") else "full"
    fig.suptitle(f"Gradient cost, one thread ({mode} run)")
    return fig


def _print(report: dict[str, Any]) -> None:
    r = report["recurrent"]
    print(
        f"\n(a) 1000-neuron recurrent network, t_max = {r['t_max_ms']:.0f} ms: "
        f"{r['n_neuron_spikes']} neuron spikes, {r['n_synaptic_events']} synaptic events, "
        f"{r['n_parameters']} parameters; 1 thread, median of {report['repeats']} "
        "(shared machine: wall times noisy, CPU times steadier)"
    )
    print(f"{'':36s} {'wall s':>8s} {'x sim':>6s} {'CPU s':>8s} {'x sim':>6s}")
    rows = [
        ("simulation", "sim"),
        ("reverse pass, all groups", "reverse_all"),
        ("reverse pass, weights only", "reverse_weights"),
        ("simulation + reverse (all groups)", "sim_plus_reverse_all"),
        ("simulation + reverse (weights)", "sim_plus_reverse_weights"),
    ]
    table = [(label, r[f"{key}_s"], r[f"{key}_cpu_s"]) for label, key in rows]
    for p, fp in r["forward_jacobian"].items():
        table.append((f"FP Jacobian alone, P = {p} weights", fp["fp_s"], fp["fp_cpu_s"]))
    for label, wall, cpu in table:
        print(
            f"{label:36s} {wall:8.3f} {wall / r['sim_s']:6.2f} {cpu:8.3f} "
            f"{cpu / r['sim_cpu_s']:6.2f}"
        )
    fd = r["finite_difference_per_parameter_s"]
    print(f"{'finite differences, per parameter':36s} {fd:8.3f} {fd / r['sim_s']:6.2f}")
    print(
        f"finite differences for all {r['n_parameters']} parameters: "
        f"~{r['finite_difference_all_parameters_h']:.0f} h (extrapolated)"
    )
    targets = ", ".join(f"{k}: {'MET' if v else 'NOT MET'}" for k, v in report["targets"].items())
    print(f"target (reverse gradient <= 3x simulation): {targets}")
    print("\nscaling with duration and network size (CPU seconds)")
    head = ["neurons", "t_max", "syn. events", "sim", "reverse", "sim+rev", "ratio", "Mev/s"]
    print(" ".join(f"{h:>11s}" for h in head))
    for row in report["recurrent_event_scaling"] + report["recurrent_size_scaling"]:
        vals = (
            f"{row['n_neurons']:11d}",
            f"{row['t_max_ms']:11.0f}",
            f"{row['n_synaptic_events']:11d}",
            f"{row['sim_cpu_s']:11.3f}",
            f"{row['reverse_all_cpu_s']:11.3f}",
            f"{row['sim_plus_reverse_all_cpu_s']:11.3f}",
            f"{row['ratio_sim_plus_reverse_over_sim_cpu']:11.2f}",
            f"{row['sim_events_per_cpu_s'] / 1e6:11.2f}",
        )
        print(" ".join(vals))
    print("\npeak memory above baseline (fresh subprocess each)")
    for label, mem in report["recurrent_peak_memory"].items():
        if "error" in mem:
            print(f"{label:22s} error: {mem['error']}")
        else:
            print(f"{label:22s} {mem['peak_mib']:8.1f} MiB  ({mem['method']})")
    f = report["feedforward"]
    print(
        f"\n(b) 5-120-3 feedforward, batch {f['batch']}, t_max = {f['t_max_ms']:.0f} ms, "
        f"{f['neuron_spikes_per_sample']:.1f} spikes and {f['synaptic_events_per_sample']:.0f} "
        f"synaptic events per sample, {f['n_parameters_network']} network parameters"
    )
    print(f"{'':38s} {'wall ms':>9s} {'x sim':>7s} {'CPU ms':>9s} {'x sim':>7s}")
    for label, key in FF_TIMINGS:
        wall, cpu = f[f"{key}_s"], f[f"{key}_cpu_s"]
        print(
            f"{label:38s} {1e3 * wall:9.1f} {wall / f['sim_s']:7.2f} {1e3 * cpu:9.1f} "
            f"{cpu / f['sim_cpu_s']:7.2f}"
        )
    for label, key in (
        ("finite differences, per parameter", "finite_difference_per_parameter_s"),
        ("finite differences, all parameters", "finite_difference_all_parameters_s"),
    ):
        print(f"{label:38s} {1e3 * f[key]:9.0f} {f[key] / f['sim_s']:7.1f}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--memory":
        print(json.dumps(_memory_worker(json.loads(sys.argv[2]))))
    else:
        main(quick="--quick" in sys.argv)

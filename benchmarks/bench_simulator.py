"""Simulator throughput, fpgrad against NEST on the same networks, and agreement of the spikes.

(a) Recurrent network: 1000 LIF neurons, each with 100 synapses from 1000 Poisson inputs (20 Hz,
    weights uniform in [0, 0.018]) and 100 recurrent synapses (20 % of neurons inhibitory, weights
    uniform in [0, 0.01], times -8 for inhibitory sources), ``tau_syn = 5 ms``, ``tau_mem = 10
    ms``, threshold 1, ``t_ref = 0.1 ms``, 1 s simulated. An asynchronous irregular regime:
    about 11 Hz, ISI CV about 0.7, about 3.1 million synaptic events.
(a') The same network without its recurrent synapses (the same 100 000 input synapses): purely
    input-driven, so the two simulators must produce the same spikes.
(b) A 5-120-3 feedforward network (Gaussian weights, ``t_ref = 0.1 ms``) on a batch of samples,
    each five 50 Hz Poisson trains over 100 ms (about 30 Hz in the hidden layer, 4000 synaptic
    events per sample): fpgrad's ``simulate_batch`` on one thread and on all cores.

NEST (``nest-simulator``, neuron ``iaf_psc_exp_ps``: precise spike times off the grid) runs the
same models with this mapping: ``C_m = 1, E_L = V_m = 0, V_reset = v_reset, I_e = bias,
V_th = theta, tau_syn_ex = tau_syn_in = tau_syn`` (``iaf_psc_delta_ps``: no synaptic time
constant), weight = ``w``, resolution ``h = 0.1 ms`` and ``t_ref = h``
in both simulators. Inputs are ``spike_generator`` s with ``precise_times=True`` whose spikes
arrive after the minimal delay ``h``; the whole NEST run is shifted by ``2 h`` (so that no
generator spike falls at or before 0) and recorded with ``time_in_steps=True``, precise time
``steps * h - offset - 2 h``. Two differences remain, both NEST's: every connection between
neurons has a delay of at least ``h`` (the synapses of (a) have none), and its neuron checks the
threshold at the end of each step and of each input, so it misses crossings that rise above
threshold and fall back within one step ("grazing" spikes; ``iaf_psc_exp_ps_lossless`` is NEST's
model meant to catch them and is tried on (a') too). Hence:

* (a): throughput and firing rates only; the spike trains cannot agree (delays, chaos);
* (a'): spike by spike, per neuron, with the first disagreement of each neuron classified
  (a spike NEST misses, with fpgrad's ``dV/dt`` at it, or one NEST adds);
* (b): the hidden layer spike by spike; the output layer against fpgrad run on the hidden spikes
  delayed by ``h`` (what NEST's output neurons receive).

Delays (fpgrad only): network (a) once with all delays 0 and once with every synapse's delay drawn
uniformly in ``[0, delay_max]`` (10 ms; the same weights and inputs), in alternation: synaptic
events per second of both, their ratio, and the peak size of the queue of spikes in flight
(``SimulationResult.max_in_flight``). That queue (``fpgrad/event/_arrivals.py``) is a calendar
queue: one entry per spike in flight, in a ring of time buckets about ``delay_max / 2048`` wide,
re-queued at each of its arrivals; a step costs O(1) on average (the binary heap it replaced cost
O(log spikes in flight) and, with its calls, about 190 ns per arrival here), and the per-arrival
step is inlined in the event loop, as a call per arrival would cost Numba reference counting.
Zero-delay and delayed runs can be compared across revisions with
``compare_revisions.py [--delays]``.

Model 2 against NEST: per-connection delays and delta synapses, each spike by spike and timed:

* delays, (a') and (a): delays drawn as multiples of ``h`` in ``[0, delay_max]`` ((a'), input
  synapses) and ``[h, delay_max]`` ((a): NEST's minimal delay ``h``). A NEST input spike is
  emitted at ``t - h`` and its connection gets ``h + d_k``; a neuron's connection gets ``d_k``
  itself, so the recurrent network (a) has the *same* delays in both simulators here, and its
  trains can agree until a disagreement (a grazing crossing NEST misses) spreads through it;
  the time of the first disagreement is reported.
* delta synapses, (a') and (a) (the latter with the delays above): ``tau_syn = 0`` in fpgrad,
  ``iaf_psc_delta_ps`` in NEST (``V`` jumps by ``w``, inputs during the refractory period are
  ignored in both: NEST's ``refractory_input = False``), weights ``delta_weight_scale`` times
  those of (a) (4.5: about the charge of a current synapse). Every spike is then at an arrival
  (no bias), so both simulators compute the same sums of input times and delays; in the
  recurrent network such sums tie in exact arithmetic (two arrivals at one instant, or one at
  the end of a refractory period), where the two simulators' conventions differ (:func:`ties`
  classifies the earliest disagreement).

Scan: throughput of network (a)'s construction (fixed in-degree, as many inputs as neurons) against
network size (``scan_sizes`` neurons at the input rate of (a)) and activity (input rates
``scan_rates_hz`` at the size of (a): the firing rate grows with the input rate), fpgrad and NEST
on one thread, over ``scan_t_max`` ms.

Timing: fpgrad is timed around the public call (``simulate`` / ``simulate_batch``: building the
CSR arrays and sorting the inputs included) after warming up Numba's JIT; NEST around
``nest.Run`` only (network construction and ``nest.Prepare`` excluded). Medians over repeats;
single-thread runs also report CPU time (the steadier figure on a shared machine). Without NEST
(not installed, or failing to import) the fpgrad half still runs and the report says why.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import io
import math
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import report as results

import fpgrad

H = 0.1  # NEST resolution and minimal delay (ms); t_ref = H in both simulators
NEST_SHIFT = 2 * H  # NEST runs shifted by this much (generator spikes must be > 0)
MATCH_TOL = 1e-6  # ms: two spikes of a neuron "agree" within this


@dataclasses.dataclass(frozen=True)
class Config:
    """Sizes and parameters of the benchmark problems."""

    n_neurons: int = 1000
    n_inputs: int = 1000
    input_synapses: int = 100
    recurrent_synapses: int = 100
    input_rate_hz: float = 20.0
    input_weight: float = 0.009  # weights uniform in [0, 2 input_weight]
    recurrent_weight: float = 0.005
    inhibitory_fraction: float = 0.2
    inhibition_scale: float = 8.0
    t_max: float = 1000.0
    ff_sizes: tuple[int, ...] = (5, 120, 3)
    ff_weight_mean: tuple[float, ...] = (0.06, 0.003)
    ff_weight_std: tuple[float, ...] = (0.1, 0.012)
    ff_rate_hz: float = 50.0
    ff_t_max: float = 100.0
    ff_batch: int = 1000
    repeats: int = 5
    nest_repeats: int = 3
    threads: int = max(1, os.cpu_count() or 1)
    seed: int = 0
    scan_sizes: tuple[int, ...] = (250, 500, 1000, 2000, 4000)
    scan_rates_hz: tuple[float, ...] = (16.0, 20.0, 25.0, 30.0, 40.0)
    scan_t_max: float = 500.0
    delay_max: float = 10.0  # ms: delays uniform in [0, delay_max] (multiples of H for NEST)
    delta_weight_scale: float = 4.5  # delta-synapse weights: w times this


FULL = Config()
QUICK = Config(
    t_max=300.0,
    ff_batch=100,
    repeats=3,
    nest_repeats=1,
    scan_sizes=(250, 500, 1000),
    scan_rates_hz=(20.0, 30.0, 40.0),
    scan_t_max=200.0,
)


# --------------------------------------------------------------------------------------------
# problems


def recurrent_problem(cfg: Config = FULL, *, recurrent: bool = True) -> fpgrad.Problem:
    """Network (a); with ``recurrent=False`` the same network minus its recurrent synapses."""
    rng = np.random.default_rng(cfg.seed)
    net = fpgrad.random_recurrent_network(
        cfg.n_inputs,
        cfg.n_neurons,
        rng,
        input_synapses=cfg.input_synapses,
        recurrent_synapses=cfg.recurrent_synapses,
        input_weight=cfg.input_weight,
        recurrent_weight=cfg.recurrent_weight,
        inhibitory_fraction=cfg.inhibitory_fraction,
        inhibition_scale=cfg.inhibition_scale,
        tau_syn=5.0,
        tau_mem=10.0,
        threshold=1.0,
        t_ref=H,
    )
    inputs = fpgrad.poisson_inputs(cfg.n_inputs, cfg.input_rate_hz, cfg.t_max, rng)
    if not recurrent:
        keep = net.pre < net.n_inputs
        net = net.replace(
            pre=net.pre[keep], post=net.post[keep], weight=net.weight[keep], delay=net.delay[keep]
        )
    return fpgrad.Problem(net, tuple(inputs), cfg.t_max)


def with_delays(
    problem: fpgrad.Problem, cfg: Config = FULL, *, grid: bool = False
) -> fpgrad.Problem:
    """``problem`` with one delay per synapse (the same weights and inputs): uniform in
    ``[0, cfg.delay_max]``, or with ``grid`` multiples of ``H`` in ``[0, delay_max]`` for input
    synapses and ``[H, delay_max]`` for synapses between neurons (NEST's minimal delay)."""
    net = problem.network
    rng = np.random.default_rng(cfg.seed + 2)
    if grid:
        top = round(cfg.delay_max / H)
        low = np.where(net.pre < net.n_inputs, 0, 1)
        delay = rng.integers(low, top + 1) * H
    else:
        delay = rng.uniform(0.0, cfg.delay_max, size=net.weight.size)
    return fpgrad.Problem(net.replace(delay=delay), problem.inputs, problem.t_max)


def with_delta_synapses(problem: fpgrad.Problem, cfg: Config = FULL) -> fpgrad.Problem:
    """``problem`` with delta synapses (``tau_syn = 0``), weights ``delta_weight_scale`` times."""
    net = problem.network
    net = net.replace(tau_syn=0.0, weight=net.weight * cfg.delta_weight_scale)
    return fpgrad.Problem(net, problem.inputs, problem.t_max)


def feedforward_batch(cfg: Config = FULL) -> tuple[fpgrad.Network, list[list[np.ndarray]]]:
    """Network (b) and ``cfg.ff_batch`` samples of Poisson input trains."""
    rng = np.random.default_rng(cfg.seed + 1)
    net = fpgrad.random_feedforward_network(
        list(cfg.ff_sizes),
        rng,
        weight_mean=list(cfg.ff_weight_mean),
        weight_std=list(cfg.ff_weight_std),
        tau_syn=5.0,
        tau_mem=10.0,
        threshold=1.0,
        t_ref=H,
    )
    samples = [
        fpgrad.poisson_inputs(cfg.ff_sizes[0], cfg.ff_rate_hz, cfg.ff_t_max, rng)
        for _ in range(cfg.ff_batch)
    ]
    return net, samples


def out_degree(net: fpgrad.Network) -> np.ndarray:
    """Number of synapses leaving each node."""
    return np.bincount(net.pre, minlength=net.n_inputs + net.n_neurons)


def synaptic_events(net: fpgrad.Network, inputs, neuron_nodes: np.ndarray) -> int:
    """Synaptic events caused by the given input trains and neuron spikes (global node ids)."""
    deg = out_degree(net)
    n_in = sum(int(deg[k]) * len(train) for k, train in enumerate(inputs))
    return n_in + int(deg[np.asarray(neuron_nodes, dtype=np.int64)].sum())


# --------------------------------------------------------------------------------------------
# timing


def timed(fn, repeats: int) -> tuple[dict[str, Any], Any]:
    """Run ``fn`` ``repeats`` times: medians (and all values) of wall and process CPU seconds."""
    walls, cpus, out = [], [], None
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        cpus.append(time.process_time() - c0)
        walls.append(time.perf_counter() - w0)
    stats = {
        "wall_s": statistics.median(walls),
        "cpu_s": statistics.median(cpus),
        "wall_all_s": walls,
        "cpu_all_s": cpus,
    }
    return stats, out


def timed_alternating(fns: list, repeats: int) -> list[tuple[dict[str, Any], Any]]:
    """:func:`timed` of several functions run in turns (``fns[0], fns[1], ..`` and back), so
    that the load of a shared machine hits them alike."""
    walls: list[list[float]] = [[] for _ in fns]
    cpus: list[list[float]] = [[] for _ in fns]
    outs: list[Any] = [None] * len(fns)
    for i in range(repeats):
        order = range(len(fns)) if i % 2 == 0 else range(len(fns) - 1, -1, -1)
        for k in order:
            w0, c0 = time.perf_counter(), time.process_time()
            outs[k] = fns[k]()
            cpus[k].append(time.process_time() - c0)
            walls[k].append(time.perf_counter() - w0)
    return [
        (
            {
                "wall_s": statistics.median(w),
                "cpu_s": statistics.median(c),
                "wall_all_s": w,
                "cpu_all_s": c,
            },
            out,
        )
        for w, c, out in zip(walls, cpus, outs, strict=True)
    ]


def rates(events: int, stats: dict[str, Any], threads: int) -> dict[str, float]:
    """Events per second (wall, and per CPU second), and per core."""
    return {
        "events_per_s": events / stats["wall_s"],
        "events_per_s_per_core": events / stats["wall_s"] / threads,
        "events_per_cpu_s": events / stats["cpu_s"],
    }


# --------------------------------------------------------------------------------------------
# NEST


def load_nest() -> tuple[Any, str]:
    """``(module, version)`` or ``(None, reason)``."""
    os.environ.setdefault("PYNEST_QUIET", "1")
    # NEST's OpenMP threads spin at every step's barrier by default; on a shared machine whose
    # cores are busy that makes 2 threads 5-30x slower than 1. Passive waiting is NEST's best
    # case here (read when libgomp loads, i.e. on the import below).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import nest  # type: ignore[import-not-found]
    except Exception as err:  # ImportError, or a broken installation
        return None, f"NEST unavailable: {type(err).__name__}: {err}".strip()
    try:
        nest.verbosity = nest.VerbosityLevel.ERROR
    except AttributeError:  # older NEST
        nest.set_verbosity("M_ERROR")
    version = getattr(nest, "__version__", None) or nest.GetKernelStatus("nest_version")
    return nest, str(version)


def nest_run(
    nest,
    net: fpgrad.Network,
    samples: list,
    t_max: float,
    *,
    threads: int,
    repeats: int,
    model: str = "iaf_psc_exp_ps",
) -> tuple[dict[str, Any], list[tuple[np.ndarray, np.ndarray]]]:
    """Simulate one copy of ``net`` per input sample, all in one NEST kernel.

    Returns the timing of ``nest.Run`` and per sample ``(neuron index, spike time)`` of the
    spikes at ``t <= t_max`` (times in the problem's frame).
    """
    m, n, copies = net.n_inputs, net.n_neurons, len(samples)
    delta = model.startswith("iaf_psc_delta")
    if delta != bool(np.all(net.tau_syn == 0)) or not np.all(net.tau_syn == net.tau_syn[0]):
        raise ValueError(
            f"{model} needs {'tau_syn = 0' if delta else 'one tau_syn > 0'} for every neuron"
        )
    delays = nest_delays(net)
    walls, cpus, spikes = [], [], []
    for _ in range(repeats):
        nest.ResetKernel()
        nest.SetKernelStatus({"resolution": H, "local_num_threads": threads})
        params = {
            "C_m": 1.0,
            "E_L": 0.0,
            "V_reset": float(net.v_reset[0]),
            "V_m": 0.0,
            "V_th": float(net.threshold[0]),
            "I_e": float(net.bias[0]),
            "t_ref": float(net.t_ref[0]),
            "tau_m": float(net.tau_mem[0]),
        }
        if not delta:
            params["tau_syn_ex"] = params["tau_syn_in"] = float(net.tau_syn[0])
        neurons = nest.Create(model, copies * n, params=params)
        neurons.set(
            {
                "V_th": np.tile(net.threshold, copies).tolist(),
                "tau_m": np.tile(net.tau_mem, copies).tolist(),
                "V_reset": np.tile(net.v_reset, copies).tolist(),
                "I_e": np.tile(net.bias, copies).tolist(),
            }
        )
        gens = nest.Create("spike_generator", copies * m, params={"precise_times": True})
        gens.set(
            [
                {"spike_times": (np.asarray(train, dtype=float) + (NEST_SHIFT - H)).tolist()}
                for sample in samples
                for train in sample
            ]
        )
        recorder = nest.Create("spike_recorder", params={"time_in_steps": True})
        gen0, neuron0 = gens[0].global_id, neurons[0].global_id
        pre, post = [], []
        for c in range(copies):
            pre.append(np.where(net.pre < m, gen0 + c * m + net.pre, neuron0 + c * n + net.pre - m))
            post.append(neuron0 + c * n + net.post - m)
        pre_ids, post_ids = np.concatenate(pre), np.concatenate(post)
        nest.Connect(
            pre_ids,
            post_ids,
            "one_to_one",
            {"weight": np.tile(net.weight, copies), "delay": np.tile(delays, copies)},
        )
        nest.Connect(neurons, recorder)
        nest.Prepare()
        w0, c0 = time.perf_counter(), time.process_time()
        nest.Run(t_max + NEST_SHIFT + H)
        cpus.append(time.process_time() - c0)
        walls.append(time.perf_counter() - w0)
        nest.Cleanup()
        ev = recorder.get("events")
        t = ev["times"] * H - ev["offsets"] - NEST_SHIFT
        idx = np.asarray(ev["senders"], dtype=np.int64) - neuron0
        keep = t <= t_max
        t, idx = t[keep], idx[keep]
        spikes = [(idx[idx // n == c] % n, t[idx // n == c]) for c in range(copies)]
    stats = {
        "wall_s": statistics.median(walls),
        "cpu_s": statistics.median(cpus),
        "wall_all_s": walls,
        "cpu_all_s": cpus,
    }
    return stats, spikes


def nest_delays(net: fpgrad.Network) -> np.ndarray:
    """NEST's delay of each connection: ``h + d_k`` from an input (its generator emits the
    spike ``h`` early), ``d_k`` between neurons but at least ``h`` (NEST's minimal delay: where
    ``d_k < h`` the two simulators differ)."""
    from_input = net.pre < net.n_inputs
    return np.where(from_input, H + net.delay, np.maximum(net.delay, H))


# --------------------------------------------------------------------------------------------
# agreement of spike trains


def compare_trains(
    fp: tuple[np.ndarray, np.ndarray], ns: tuple[np.ndarray, np.ndarray], n_neurons: int
) -> dict[str, Any]:
    """Per neuron, fpgrad's train ``fp`` against NEST's ``ns`` (each ``(neuron index, time)``).

    A neuron agrees when both trains have the same length and every pair of spikes lies within
    ``MATCH_TOL``; ``max_abs_diff_ms`` is over agreeing neurons. For the others the first
    disagreement is classified: ``missed`` (a spike of fpgrad that NEST lacks, NEST's next spike
    coming later) or ``extra`` (a spike of NEST before fpgrad's next one).
    """
    fp_by = _by_neuron(*fp, n_neurons)
    ns_by = _by_neuron(*ns, n_neurons)
    agree, same_count, max_diff, first = 0, 0, 0.0, []
    for i in range(n_neurons):
        a, b = fp_by[i], ns_by[i]
        same_count += len(a) == len(b)
        k = min(len(a), len(b))
        d = np.abs(a[:k] - b[:k])
        bad = np.flatnonzero(d > MATCH_TOL)
        if len(a) == len(b) and bad.size == 0:
            agree += 1
            max_diff = max(max_diff, float(d.max(initial=0.0)))
            continue
        q = int(bad[0]) if bad.size else k
        f_t = float(a[q]) if q < len(a) else math.inf
        n_t = float(b[q]) if q < len(b) else math.inf
        kind = "missed" if f_t < n_t else "extra"
        first.append(
            {"neuron": i, "kind": kind, "fpgrad_ms": _finite(f_t), "nest_ms": _finite(n_t)}
        )
    return {
        "fpgrad_spikes": len(fp[1]),
        "nest_spikes": len(ns[1]),
        "spike_counts_match": bool(len(fp[1]) == len(ns[1])),
        "neurons": n_neurons,
        "neurons_same_count": same_count,
        "neurons_agree": agree,
        "max_abs_diff_ms": max_diff,
        "first_disagreements": first,
        "missed_by_nest": sum(1 for x in first if x["kind"] == "missed"),
        "extra_in_nest": sum(1 for x in first if x["kind"] == "extra"),
    }


def _by_neuron(idx: np.ndarray, t: np.ndarray, n: int) -> list[np.ndarray]:
    order = np.lexsort((t, idx))
    idx, t = np.asarray(idx)[order], np.asarray(t)[order]
    cuts = np.searchsorted(idx, np.arange(n + 1))
    return [t[cuts[i] : cuts[i + 1]] for i in range(n)]


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Sum two :func:`compare_trains` reports (max of the max, concatenated lists)."""
    out = {k: a[k] + b[k] for k in a if isinstance(a[k], int | list) and k != "spike_counts_match"}
    out["max_abs_diff_ms"] = max(a["max_abs_diff_ms"], b["max_abs_diff_ms"])
    out["spike_counts_match"] = out["fpgrad_spikes"] == out["nest_spikes"]
    return out


def crossing_slope(problem: fpgrad.Problem, result, neuron: int, f: float) -> float:
    """fpgrad's ``dV/dt`` just before its spike of ``neuron`` at ``f``: ``J(f) + bias -
    theta/tau_mem``, with ``J(f) = sum_k w_k sum_{g + d_k < f} exp(-(f - g - d_k)/tau_syn)`` over
    the spikes ``g`` reaching the neuron (V's refractoriness does not touch ``J``; current
    synapses only)."""
    net = problem.network
    node = net.n_inputs + neuron
    tau_syn = float(net.tau_syn[neuron])
    current = 0.0
    for k in np.flatnonzero(net.post == node):
        pre = int(net.pre[k])
        if pre < net.n_inputs:
            g = np.asarray(problem.inputs[pre])
        else:
            g = result.spike_time[result.spike_node == pre]
        g = g + float(net.delay[k])
        g = g[g < f]
        current += float(net.weight[k]) * float(np.exp(-(f - g) / tau_syn).sum())
    return (
        current
        + float(net.bias[neuron])
        - float(net.threshold[neuron]) / float(net.tau_mem[neuron])
    )


def _fp_trains(result, n_inputs: int, first: int = 0, count: int | None = None):
    """``(index, time)`` of a result's neuron spikes, indices relative to neuron ``first``
    (only the ``count`` neurons from there, if given)."""
    idx = result.spike_node - n_inputs - first
    keep = idx >= 0
    if count is not None:
        keep &= idx < count
    return idx[keep], result.spike_time[keep]


# --------------------------------------------------------------------------------------------
# the benchmark


def run(cfg: Config = FULL, *, use_nest: bool = True) -> dict[str, Any]:
    """All measurements for ``cfg``; NEST's part only if ``use_nest`` and NEST imports."""
    nest, nest_version = load_nest() if use_nest else (None, "NEST not requested")
    report: dict[str, Any] = {
        "benchmark": "simulator",
        "config": dataclasses.asdict(cfg),
        "machine": results.machine_info(),
        "nest": {"available": nest is not None, "version_or_reason": nest_version},
        "statistic": "median",
    }

    # JIT warm-up (compiled kernels are cached on disk; this loads them).
    warm_cfg = dataclasses.replace(cfg, n_neurons=20, n_inputs=20, t_max=20.0, ff_batch=2)
    fpgrad.simulate(recurrent_problem(warm_cfg))
    fpgrad.simulate(with_delays(recurrent_problem(warm_cfg), warm_cfg))
    fpgrad.simulate(with_delays(with_delta_synapses(recurrent_problem(warm_cfg)), warm_cfg))
    wnet, wsamples = feedforward_batch(warm_cfg)
    fpgrad.simulate_batch(wnet, wsamples, warm_cfg.ff_t_max, n_threads=2)

    report["recurrent"] = _bench_network(cfg, nest, recurrent=True)
    report["input_driven"] = _bench_network(cfg, nest, recurrent=False)
    report["feedforward"] = _bench_feedforward(cfg, nest)
    report["delays"] = _bench_delays(cfg)
    report["model2_nest"] = _bench_model2(cfg, nest)
    report["scan"] = _bench_scan(cfg, nest)
    rec = report["recurrent"]
    report["targets"] = {
        "fpgrad_events_per_s_per_core_at_least_5e6": rec["fpgrad"]["events_per_s_per_core"] >= 5e6,
        "fpgrad_events_per_cpu_s_at_least_5e6": rec["fpgrad"]["events_per_cpu_s"] >= 5e6,
        "fpgrad_faster_than_nest_1_thread": (
            rec["ratio_fpgrad_over_nest"] > 1.0 if "ratio_fpgrad_over_nest" in rec else None
        ),
    }
    return report


def _bench_network(cfg: Config, nest, *, recurrent: bool) -> dict[str, Any]:
    problem = recurrent_problem(cfg, recurrent=recurrent)
    net = problem.network
    stats, result = timed(lambda: fpgrad.simulate(problem), cfg.repeats)
    events = result.n_synaptic_events
    isi_cv = _isi_cv(result.spike_node - net.n_inputs, result.spike_time, net.n_neurons)
    out: dict[str, Any] = {
        "n_neurons": net.n_neurons,
        "n_synapses": int(net.weight.size),
        "t_max_ms": problem.t_max,
        "fpgrad": {
            **stats,
            **rates(events, stats, 1),
            "synaptic_events": events,
            "neuron_spikes": result.n_spikes,
            "rate_hz": result.n_spikes / net.n_neurons / (problem.t_max / 1000.0),
            "isi_cv": isi_cv,
            "degeneracy": result.degeneracy.to_dict(),
        },
    }
    if nest is None:
        return out
    for threads in sorted({1, cfg.threads}):
        nstats, spikes = nest_run(
            nest, net, [problem.inputs], problem.t_max, threads=threads, repeats=cfg.nest_repeats
        )
        idx, t = spikes[0]
        n_events = synaptic_events(net, problem.inputs, idx + net.n_inputs)
        out[f"nest_{threads}_threads"] = {
            **nstats,
            **rates(n_events, nstats, threads),
            "synaptic_events": n_events,
            "neuron_spikes": int(t.size),
            "rate_hz": t.size / net.n_neurons / (problem.t_max / 1000.0),
            "isi_cv": _isi_cv(idx, t, net.n_neurons),
        }
        if threads == 1:
            nest_1 = (idx, t)
    out["ratio_fpgrad_over_nest"] = (
        out["fpgrad"]["events_per_s"] / out["nest_1_threads"]["events_per_s"]
    )
    out["ratio_fpgrad_over_nest_cpu"] = (
        out["fpgrad"]["events_per_cpu_s"] / out["nest_1_threads"]["events_per_cpu_s"]
    )
    fp = _fp_trains(result, net.n_inputs)
    cmp = compare_trains(fp, nest_1, net.n_neurons)
    if recurrent:
        # Spike trains diverge (NEST's recurrent delay h, chaotic dynamics): keep the counts.
        cmp = {k: cmp[k] for k in ("fpgrad_spikes", "nest_spikes", "spike_counts_match")}
        cmp["note"] = "recurrent synapses have delay h in NEST, none in fpgrad: trains diverge"
    else:
        for item in cmp["first_disagreements"]:
            if item["kind"] == "missed":
                item["fpgrad_slope"] = crossing_slope(
                    problem, result, item["neuron"], item["fpgrad_ms"]
                )
        cmp["lossless"] = _lossless(nest, problem, result)
        cmp["referee"] = _referee(problem, fp, nest_1, cmp, 3 if cfg.t_max < 1000 else 6)
    out["agreement"] = cmp
    return out


def _bench_scan(cfg: Config, nest) -> list[dict[str, Any]]:
    """Throughput (1 thread) against network size and activity: one row per (neurons, input
    rate), each in the size scan, the activity scan or both."""
    points = {(n, cfg.input_rate_hz) for n in cfg.scan_sizes}
    points |= {(cfg.n_neurons, rate) for rate in cfg.scan_rates_hz}
    rows = []
    for n, rate in sorted(points):
        sub = dataclasses.replace(
            cfg, n_neurons=n, n_inputs=n, input_rate_hz=rate, t_max=cfg.scan_t_max
        )
        problem = recurrent_problem(sub)
        stats, result = timed(lambda problem=problem: fpgrad.simulate(problem), cfg.repeats)
        events = result.n_synaptic_events
        row: dict[str, Any] = {
            "n_neurons": n,
            "input_rate_hz": rate,
            "t_max_ms": sub.t_max,
            "in_size_scan": rate == cfg.input_rate_hz,
            "in_activity_scan": n == cfg.n_neurons,
            "rate_hz": result.n_spikes / n / (sub.t_max / 1000.0),
            "synaptic_events": events,
            "fpgrad": {
                "wall_s": stats["wall_s"],
                "cpu_s": stats["cpu_s"],
                **rates(events, stats, 1),
            },
        }
        if nest is not None:
            net = problem.network
            nstats, spikes = nest_run(
                nest, net, [problem.inputs], sub.t_max, threads=1, repeats=cfg.nest_repeats
            )
            n_events = synaptic_events(net, problem.inputs, spikes[0][0] + net.n_inputs)
            row["nest"] = {
                "wall_s": nstats["wall_s"],
                "cpu_s": nstats["cpu_s"],
                "rate_hz": spikes[0][1].size / n / (sub.t_max / 1000.0),
                "synaptic_events": n_events,
                **rates(n_events, nstats, 1),
            }
            row["ratio_fpgrad_over_nest_cpu"] = (
                row["fpgrad"]["events_per_cpu_s"] / row["nest"]["events_per_cpu_s"]
            )
        rows.append(row)
    return rows


def _referee(problem: fpgrad.Problem, fp, ns, cmp: dict[str, Any], n_close: int) -> dict[str, Any]:
    """A 30-digit reference (``tests/reference.py``, mpmath) on single neurons of the
    input-driven network (each sees only its own inputs): every neuron where fpgrad and NEST
    disagree (at most 20) and the ``n_close`` agreeing ones with the largest differences."""
    try:
        spec = importlib.util.spec_from_file_location(
            "_fpgrad_reference", Path(__file__).resolve().parent.parent / "tests" / "reference.py"
        )
        reference = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = reference  # its dataclasses look the module up
        spec.loader.exec_module(reference)
    except Exception as err:  # no tests/ next to the benchmarks, or no mpmath
        return {"error": f"reference unavailable: {type(err).__name__}: {err}"[:300]}
    net = problem.network
    fp_by, ns_by = _by_neuron(*fp, net.n_neurons), _by_neuron(*ns, net.n_neurons)
    close = sorted(
        (
            (float(np.abs(fp_by[i] - ns_by[i]).max()), i)
            for i in range(net.n_neurons)
            if len(fp_by[i]) == len(ns_by[i]) > 0 and np.abs(fp_by[i] - ns_by[i]).max() <= MATCH_TOL
        ),
        reverse=True,
    )[:n_close]
    picked = [x["neuron"] for x in cmp["first_disagreements"][:20]] + [i for _, i in close]
    rows = []
    for i in picked:
        syn = np.flatnonzero(net.post == net.n_inputs + i)
        used = sorted(set(net.pre[syn].tolist()))
        remap = {u: q for q, u in enumerate(used)}
        single = fpgrad.Network(
            n_inputs=len(used),
            n_neurons=1,
            tau_syn=net.tau_syn[i : i + 1],
            tau_mem=net.tau_mem[i : i + 1],
            threshold=net.threshold[i : i + 1],
            t_ref=net.t_ref[i : i + 1],
            bias=net.bias[i : i + 1],
            v_reset=net.v_reset[i : i + 1],
            pre=np.array([remap[x] for x in net.pre[syn].tolist()], dtype=np.int64),
            post=np.full(syn.size, len(used), dtype=np.int64),
            weight=net.weight[syn],
            delay=net.delay[syn],
        )
        sub = fpgrad.Problem(single, tuple(problem.inputs[u] for u in used), problem.t_max)
        run = reference.simulate_reference_run(sub, dps=30, track_peaks=False)
        ref = np.array([float(t) for _, t in run.spikes])

        def err(x, ref=ref):
            return float(np.abs(x - ref).max(initial=0.0)) if len(x) == len(ref) else None

        rows.append(
            {
                "neuron": i,
                "reference_spikes": len(ref),
                "fpgrad_spikes": len(fp_by[i]),
                "nest_spikes": len(ns_by[i]),
                "fpgrad_max_err_ms": err(fp_by[i]),
                "nest_max_err_ms": err(ns_by[i]),
            }
        )
    return {"neurons": rows}


def _lossless(nest, problem: fpgrad.Problem, result) -> dict[str, Any]:
    """The input-driven network once more with NEST's ``iaf_psc_exp_ps_lossless``."""
    try:
        stats, spikes = nest_run(
            nest,
            problem.network,
            [problem.inputs],
            problem.t_max,
            threads=1,
            repeats=1,
            model="iaf_psc_exp_ps_lossless",
        )
    except Exception as err:  # NEST raises its own error types
        return {"error": f"{type(err).__name__}: {err}"[:300]}
    cmp = compare_trains(
        _fp_trains(result, problem.network.n_inputs), spikes[0], problem.network.n_neurons
    )
    cmp.pop("first_disagreements")
    return {"run_wall_s": stats["wall_s"], **cmp}


def _bench_feedforward(cfg: Config, nest) -> dict[str, Any]:
    net, samples = feedforward_batch(cfg)
    t_max = cfg.ff_t_max
    out: dict[str, Any] = {"sizes": list(cfg.ff_sizes), "batch": len(samples), "t_max_ms": t_max}
    results = None
    for threads in sorted({1, cfg.threads}):
        stats, results = timed(
            lambda th=threads: fpgrad.simulate_batch(net, samples, t_max, n_threads=th),
            cfg.repeats,
        )
        events = sum(r.n_synaptic_events for r in results)
        out[f"fpgrad_{threads}_threads"] = {
            **stats,
            **rates(events, stats, threads),
            "synaptic_events": events,
            "us_per_sample": 1e6 * stats["wall_s"] / len(samples),
        }
    n_in, n_hid = cfg.ff_sizes[0], cfg.ff_sizes[1]
    out["neuron_spikes_per_sample"] = float(np.mean([r.n_spikes for r in results]))
    out["synaptic_events_per_sample"] = float(np.mean([r.n_synaptic_events for r in results]))
    if nest is None:
        return out
    spikes = None
    for threads in sorted({1, cfg.threads}):
        nstats, spikes = nest_run(
            nest, net, samples, t_max, threads=threads, repeats=cfg.nest_repeats
        )
        events = sum(
            synaptic_events(net, sample, idx + net.n_inputs)
            for sample, (idx, _) in zip(samples, spikes, strict=True)
        )
        out[f"nest_{threads}_threads"] = {
            **nstats,
            **rates(events, nstats, threads),
            "synaptic_events": events,
            "us_per_sample": 1e6 * nstats["wall_s"] / len(samples),
        }
    for threads in sorted({1, cfg.threads}):
        out[f"ratio_fpgrad_over_nest_{threads}_threads"] = (
            out[f"fpgrad_{threads}_threads"]["events_per_s"]
            / out[f"nest_{threads}_threads"]["events_per_s"]
        )
    # Hidden layer: spike by spike. Output layer: against fpgrad on the hidden spikes + h.
    out_net = _output_layer(net, n_hid)
    hidden = output = None
    for sample, (result, (idx, t)) in enumerate(zip(results, spikes, strict=True)):
        h_fp = _fp_trains(result, n_in, 0, n_hid)
        h_ns = (idx[idx < n_hid], t[idx < n_hid])
        delayed = tuple(result.spike_time[result.spike_node == n_in + q] + H for q in range(n_hid))
        ref = fpgrad.simulate(fpgrad.Problem(out_net, delayed, t_max))
        o_fp = (ref.spike_node - n_hid, ref.spike_time)
        o_ns = (idx[idx >= n_hid] - n_hid, t[idx >= n_hid])
        h = compare_trains(h_fp, h_ns, n_hid)
        o = compare_trains(o_fp, o_ns, net.n_neurons - n_hid)
        for item in h["first_disagreements"] + o["first_disagreements"]:
            item["sample"] = sample
        for item in h["first_disagreements"]:
            if item["kind"] == "missed":
                item["fpgrad_slope"] = crossing_slope(
                    result.problem, result, item["neuron"], item["fpgrad_ms"]
                )
        hidden = h if hidden is None else _merge(hidden, h)
        output = o if output is None else _merge(output, o)
    out["agreement_hidden"] = hidden
    out["agreement_output_vs_delayed_reference"] = output
    return out


TIE_TOL = 1e-9  # ms: two instants closer than this are a tie (equal in exact arithmetic)


def _arrivals(problem: fpgrad.Problem, result, neuron: int) -> list[tuple[float, int, float]]:
    """``(arrival time, presynaptic node, spike time)`` of every arrival at ``neuron`` (fpgrad's
    spikes plus delays)."""
    net = problem.network
    out = []
    for k in np.flatnonzero(net.post == net.n_inputs + neuron):
        pre = int(net.pre[k])
        if pre < net.n_inputs:
            g = np.asarray(problem.inputs[pre], dtype=float)
        else:
            g = result.spike_time[result.spike_node == pre]
        out += [(float(x) + float(net.delay[k]), pre, float(x)) for x in g]
    return out


def simultaneous_arrivals(problem: fpgrad.Problem, result, neuron: int, t: float) -> int:
    """How many arrivals reach ``neuron`` within ``TIE_TOL`` of ``t`` from different presynaptic
    spikes: a tie whose order decides a delta neuron's spike (fpgrad takes them one by one in
    the order of their presynaptic spikes, docs/model.md §1)."""
    return len(
        {(pre, g) for a, pre, g in _arrivals(problem, result, neuron) if abs(a - t) <= TIE_TOL}
    )


def ties(problem: fpgrad.Problem, result, neuron: int, t: float) -> dict[str, int]:
    """The ties that can make a delta neuron's train differ between two exact simulators up to
    time ``t``: arrivals at ``t`` from different presynaptic spikes, and arrivals at the end of
    one of its refractory periods (``f + t_ref`` for its spikes ``f < t``: fpgrad holds ``V`` on
    ``(f, f + t_ref]`` and ignores such an arrival, NEST takes it; in floating point the two
    instants differ by rounding either way). On a grid of delays both happen when one input
    spike reaches the neuron along two paths whose delays sum to the same value, or differ by
    ``t_ref``."""
    arrivals = _arrivals(problem, result, neuron)
    node = problem.network.n_inputs + neuron
    ends = result.spike_time[(result.spike_node == node) & (result.spike_time < t)]
    ends = ends + float(problem.network.t_ref[neuron])
    at_end = sum(1 for a, _, _ in arrivals if a <= t and np.any(np.abs(ends - a) <= TIE_TOL))
    return {
        "simultaneous_arrivals": simultaneous_arrivals(problem, result, neuron, t),
        "arrivals_at_refractory_end": int(at_end),
    }


def _bench_delays(cfg: Config) -> dict[str, Any]:
    """Network (a) with all delays 0 and with delays uniform in [0, delay_max], alternating."""
    zero = recurrent_problem(cfg)
    delayed = with_delays(zero, cfg)
    (s0, r0), (s1, r1) = timed_alternating(
        [lambda: fpgrad.simulate(zero), lambda: fpgrad.simulate(delayed)], cfg.repeats
    )
    out: dict[str, Any] = {"n_neurons": zero.network.n_neurons, "t_max_ms": zero.t_max}
    for key, stats, result, high in (("zero", s0, r0, 0.0), ("uniform", s1, r1, cfg.delay_max)):
        out[key] = {
            "delay_ms": [0.0, high],
            **stats,
            **rates(result.n_synaptic_events, stats, 1),
            "synaptic_events": result.n_synaptic_events,
            "neuron_spikes": result.n_spikes,
            "rate_hz": result.n_spikes / zero.network.n_neurons / (zero.t_max / 1000.0),
            "max_in_flight": int(result.max_in_flight),
        }
    out["ratio_delayed_over_zero"] = out["uniform"]["events_per_s"] / out["zero"]["events_per_s"]
    out["ratio_delayed_over_zero_cpu"] = (
        out["uniform"]["events_per_cpu_s"] / out["zero"]["events_per_cpu_s"]
    )
    return out


#: The model-2 comparisons with NEST: key, label, recurrent?, delays?, delta synapses?
MODEL2_CASES = (
    ("delays_input_driven", "(a') delays", False, True, False),
    ("delays_recurrent", "(a) delays", True, True, False),
    ("delta_input_driven", "(a') delta synapses", False, False, True),
    ("delta_recurrent", "(a) delta synapses + delays", True, True, True),
)


def model2_problem(cfg: Config, recurrent: bool, delays: bool, delta: bool) -> fpgrad.Problem:
    """Network (a) or (a') with delays on the grid of ``H`` and/or delta synapses."""
    problem = recurrent_problem(cfg, recurrent=recurrent)
    if delta:
        problem = with_delta_synapses(problem, cfg)
    if delays:
        problem = with_delays(problem, cfg, grid=True)
    return problem


def _bench_model2(cfg: Config, nest) -> dict[str, Any]:
    """Delays and delta synapses, fpgrad against NEST (module docstring)."""
    out: dict[str, Any] = {}
    for key, label, recurrent, delays, delta in MODEL2_CASES:
        problem = model2_problem(cfg, recurrent, delays, delta)
        net = problem.network
        stats, result = timed(lambda problem=problem: fpgrad.simulate(problem), cfg.repeats)
        events = result.n_synaptic_events
        case: dict[str, Any] = {
            "label": label,
            "n_synapses": int(net.weight.size),
            "delay_ms": [float(net.delay.min()), float(net.delay.max())],
            "tau_syn": float(net.tau_syn[0]),
            "fpgrad": {
                **stats,
                **rates(events, stats, 1),
                "synaptic_events": events,
                "neuron_spikes": result.n_spikes,
                "rate_hz": result.n_spikes / net.n_neurons / (problem.t_max / 1000.0),
                "max_in_flight": int(result.max_in_flight),
            },
        }
        out[key] = case
        if nest is None:
            continue
        model = "iaf_psc_delta_ps" if delta else "iaf_psc_exp_ps"
        case["nest_model"] = model
        nstats, spikes = nest_run(
            nest, net, [problem.inputs], problem.t_max, threads=1, repeats=cfg.nest_repeats,
            model=model,
        )  # fmt: skip
        idx, t = spikes[0]
        n_events = synaptic_events(net, problem.inputs, idx + net.n_inputs)
        case["nest_1_threads"] = {
            **nstats,
            **rates(n_events, nstats, 1),
            "synaptic_events": n_events,
            "neuron_spikes": int(t.size),
            "rate_hz": t.size / net.n_neurons / (problem.t_max / 1000.0),
        }
        case["ratio_fpgrad_over_nest"] = (
            case["fpgrad"]["events_per_s"] / case["nest_1_threads"]["events_per_s"]
        )
        case["ratio_fpgrad_over_nest_cpu"] = (
            case["fpgrad"]["events_per_cpu_s"] / case["nest_1_threads"]["events_per_cpu_s"]
        )
        cmp = compare_trains(_fp_trains(result, net.n_inputs), (idx, t), net.n_neurons)
        firsts = [
            min(x for x in (d["fpgrad_ms"], d["nest_ms"]) if x is not None)
            for d in cmp["first_disagreements"]
        ]
        cmp["first_disagreement_ms"] = min(firsts, default=None)
        if firsts:
            earliest = dict(cmp["first_disagreements"][int(np.argmin(firsts))])
            if delta:
                earliest.update(ties(problem, result, earliest["neuron"], min(firsts)))
            elif earliest["kind"] == "missed" and "fpgrad_slope" not in earliest:
                earliest["fpgrad_slope"] = crossing_slope(
                    problem, result, earliest["neuron"], earliest["fpgrad_ms"]
                )
            cmp["earliest"] = earliest
        if not delta:
            for item in cmp["first_disagreements"][:50]:
                if item["kind"] == "missed":
                    item["fpgrad_slope"] = crossing_slope(
                        problem, result, item["neuron"], item["fpgrad_ms"]
                    )
        cmp["first_disagreements"] = cmp["first_disagreements"][:50]
        case["agreement"] = cmp
    return out


def _output_layer(net: fpgrad.Network, n_hid: int) -> fpgrad.Network:
    """The hidden->output synapses of a 3-layer network as a network of their own."""
    m = net.n_inputs
    keep = net.pre >= m
    return fpgrad.Network(
        n_inputs=n_hid,
        n_neurons=net.n_neurons - n_hid,
        tau_syn=net.tau_syn[n_hid:],
        tau_mem=net.tau_mem[n_hid:],
        threshold=net.threshold[n_hid:],
        t_ref=net.t_ref[n_hid:],
        bias=net.bias[n_hid:],
        v_reset=net.v_reset[n_hid:],
        pre=net.pre[keep] - m,
        post=net.post[keep] - m,
        weight=net.weight[keep],
        delay=net.delay[keep],
    )


def _isi_cv(idx: np.ndarray, t: np.ndarray, n: int) -> float | None:
    cvs = []
    for train in _by_neuron(idx, t, n):
        if len(train) >= 4:
            isi = np.diff(train)
            cvs.append(isi.std() / isi.mean())
    return float(np.mean(cvs)) if cvs else None


# --------------------------------------------------------------------------------------------
# report


def format_report(r: dict[str, Any]) -> str:
    m, nest_info = r["machine"], r["nest"]
    lines = [
        f"machine: {m['cpu_model']} ({m.get('cpu_family_model')}), {m['cores']} cores, "
        "load average at start "
        f"{', '.join(f'{x:.1f}' for x in m['load_average'] or [])} (shared machine: "
        "medians of repeats, CPU time next to wall time)",
        f"NEST: {nest_info['version_or_reason']}"
        + ("" if nest_info["available"] else "  -> fpgrad only"),
    ]
    head = f"{'':34s} {'wall s':>8s} {'CPU s':>8s} {'events/s':>10s} {'/core':>10s} {'/CPU-s':>10s}"
    for key, title in (
        ("recurrent", "(a) recurrent network"),
        ("input_driven", "(a') the same without recurrent synapses"),
    ):
        s = r[key]
        fp = s["fpgrad"]
        lines += [
            "",
            f"{title}: {s['n_neurons']} neurons, {s['n_synapses']} synapses, "
            f"{s['t_max_ms']:.0f} ms: fpgrad {fp['neuron_spikes']} spikes "
            f"({fp['rate_hz']:.1f} Hz, ISI CV {fp['isi_cv'] or float('nan'):.2f}), "
            f"{fp['synaptic_events']} synaptic events",
            head,
        ]
        rows = [("fpgrad, 1 thread", fp)]
        rows += [
            (f"NEST iaf_psc_exp_ps, {k.split('_')[1]} thread(s)", s[k])
            for k in s
            if k.startswith("nest_")
        ]
        lines += [_row(label, x) for label, x in rows]
        if "ratio_fpgrad_over_nest" in s:
            lines.append(
                f"throughput fpgrad / NEST (1 thread): {s['ratio_fpgrad_over_nest']:.2f} wall, "
                f"{s['ratio_fpgrad_over_nest_cpu']:.2f} CPU"
            )
            lines += _agreement_lines(s["agreement"], s.get("nest_1_threads"))
    f = r["feedforward"]
    lines += [
        "",
        f"(b) {'-'.join(map(str, f['sizes']))} feedforward, batch {f['batch']}, "
        f"{f['t_max_ms']:.0f} ms: {f['neuron_spikes_per_sample']:.0f} spikes and "
        f"{f['synaptic_events_per_sample']:.0f} synaptic events per sample",
        head + f" {'us/sample':>10s}",
    ]
    for k in f:
        if k.startswith(("fpgrad_", "nest_")) and k.endswith("_threads"):
            name, threads = k.split("_")[0], k.split("_")[1]
            what = "fpgrad simulate_batch" if name == "fpgrad" else "NEST (batch copies)"
            label = f"{what}, {threads} thr."
            lines.append(_row(label, f[k]) + f" {f[k]['us_per_sample']:10.0f}")
    for k in f:
        if k.startswith("ratio_"):
            lines.append(f"throughput fpgrad / NEST, {k.split('_')[-2]} thread(s): {f[k]:.2f}")
    if "agreement_hidden" in f:
        lines += _agreement_lines(f["agreement_hidden"], None, "hidden layer")
        lines += _agreement_lines(
            f["agreement_output_vs_delayed_reference"], None, "output layer vs fpgrad(hidden + h)"
        )
        bad_hidden = {x["sample"] for x in f["agreement_hidden"]["first_disagreements"]}
        bad_out = {
            x["sample"] for x in f["agreement_output_vs_delayed_reference"]["first_disagreements"]
        }
        if bad_out:
            lines.append(
                f"  output disagreements in {len(bad_out)} samples, "
                f"{len(bad_out & bad_hidden)} of them downstream of a hidden-layer disagreement"
            )
    lines += _delay_lines(r.get("delays"))
    lines += _model2_lines(r.get("model2_nest"), nest_info["available"])
    lines += ["", "scan (1 thread, events per CPU second):"]
    lines += [
        f"  {x['n_neurons']:5d} neurons, input {x['input_rate_hz']:4.0f} Hz -> "
        f"{x['rate_hz']:5.1f} Hz, {x['synaptic_events']:9d} events: fpgrad "
        f"{x['fpgrad']['events_per_cpu_s'] / 1e6:6.2f}M"
        + (f", NEST {x['nest']['events_per_cpu_s'] / 1e6:5.2f}M" if "nest" in x else "")
        for x in r.get("scan", [])
    ]
    t = r["targets"]
    lines += ["", "targets: " + ", ".join(f"{k} = {v}" for k, v in t.items())]
    return "\n".join(lines)


def _delay_lines(d: dict[str, Any] | None) -> list[str]:
    if not d:
        return []
    z, u = d["zero"], d["uniform"]
    head = (
        f"{'':34s} {'wall s':>8s} {'CPU s':>8s} {'events/s':>10s} {'/core':>10s} {'/CPU-s':>10s}"
        f" {'events':>9s} {'spikes':>7s} {'in flight':>9s}"
    )
    lines = [
        "",
        f"delays, network (a) ({d['n_neurons']} neurons, {d['t_max_ms']:.0f} ms), fpgrad, "
        "1 thread, the two runs alternating:",
        head,
    ]
    for label, x in (("all delays 0", z), (f"delays uniform in [0, {u['delay_ms'][1]:g}] ms", u)):
        lines.append(
            _row(label, x)
            + f" {x['synaptic_events']:9d} {x['neuron_spikes']:7d} {x['max_in_flight']:9d}"
        )
    lines.append(
        f"throughput with delays / without: {d['ratio_delayed_over_zero']:.2f} wall, "
        f"{d['ratio_delayed_over_zero_cpu']:.2f} CPU"
    )
    return lines


def _model2_lines(m: dict[str, Any] | None, have_nest: bool) -> list[str]:
    if not m:
        return []
    lines = [
        "",
        "model 2 against NEST (delays on the grid of h, delta synapses; 1 thread):"
        + ("" if have_nest else " NEST unavailable: fpgrad only"),
    ]
    for case in m.values():
        fp = case["fpgrad"]
        lines.append(
            f"{case['label']}: delays {case['delay_ms'][0]:g}-{case['delay_ms'][1]:g} ms, "
            f"tau_syn {case['tau_syn']:g}; fpgrad {fp['neuron_spikes']} spikes "
            f"({fp['rate_hz']:.1f} Hz), {fp['synaptic_events']} events, "
            f"{fp['events_per_cpu_s'] / 1e6:.2f}M events/CPU-s, max in flight {fp['max_in_flight']}"
        )
        if "nest_1_threads" not in case:
            continue
        ns = case["nest_1_threads"]
        a = case["agreement"]
        first = a["first_disagreement_ms"]
        lines.append(
            f"  NEST {case['nest_model']}: {ns['neuron_spikes']} spikes, "
            f"{ns['events_per_cpu_s'] / 1e6:.2f}M events/CPU-s; fpgrad / NEST "
            f"{case['ratio_fpgrad_over_nest']:.2f} wall, "
            f"{case['ratio_fpgrad_over_nest_cpu']:.2f} CPU"
        )
        lines.append(
            f"  trains identical in {a['neurons_agree']}/{a['neurons']} neurons (max diff "
            f"{a['max_abs_diff_ms']:.1e} ms); first disagreements: {a['missed_by_nest']} NEST "
            f"misses, {a['extra_in_nest']} NEST adds"
            + (f"; earliest at {first:.3f} ms" if first is not None else "")
        )
        if "earliest" in a:
            lines.append(f"  earliest: {_earliest(a['earliest'])}")
    return lines


def _cause(e: dict[str, Any]) -> str:
    """The earliest disagreement in a table cell: its time and what is there."""
    t = min(x for x in (e["fpgrad_ms"], e["nest_ms"]) if x is not None)
    what = "NEST misses a spike" if e["kind"] == "missed" else "NEST adds a spike"
    if "fpgrad_slope" in e:
        what += f", dV/dt {e['fpgrad_slope']:.0e}/ms"
    if e.get("simultaneous_arrivals", 0) > 1:
        what += ", simultaneous arrivals"
    if e.get("arrivals_at_refractory_end", 0) > 0:
        what += ", an arrival at the end of t_ref"
    return f"{t:.1f} ({what})"


def _earliest(e: dict[str, Any]) -> str:
    """The earliest disagreement of a model-2 comparison, in words."""
    text = f"neuron {e['neuron']} ({e['kind']}: fpgrad {e['fpgrad_ms']}, NEST {e['nest_ms']} ms)"
    if "fpgrad_slope" in e:
        text += f", fpgrad's dV/dt there {e['fpgrad_slope']:.1e} per ms"
    if "simultaneous_arrivals" in e:
        text += (
            f", {e['simultaneous_arrivals']} arrivals from different spikes at that instant, "
            f"{e['arrivals_at_refractory_end']} arrivals before it at the end of its "
            "refractory period"
        )
    return text


def _row(label: str, x: dict[str, Any]) -> str:
    return (
        f"{label:34s} {x['wall_s']:8.3f} {x['cpu_s']:8.3f} {x['events_per_s'] / 1e6:9.2f}M "
        f"{x['events_per_s_per_core'] / 1e6:9.2f}M {x['events_per_cpu_s'] / 1e6:9.2f}M"
    )


def _agreement_lines(a: dict[str, Any], nest_row, what: str = "spikes") -> list[str]:
    out = [
        f"{what}: fpgrad {a['fpgrad_spikes']}, NEST {a['nest_spikes']} "
        f"(counts {'match' if a['spike_counts_match'] else 'differ'})"
    ]
    if "neurons_agree" in a:
        out.append(
            f"  trains identical in {a['neurons_agree']}/{a['neurons']} neurons; largest "
            f"spike-time difference among them {a['max_abs_diff_ms']:.2e} ms; first "
            f"disagreements: {a['missed_by_nest']} spikes NEST misses, {a['extra_in_nest']} "
            "NEST adds"
        )
        slopes = [x["fpgrad_slope"] for x in a["first_disagreements"] if "fpgrad_slope" in x]
        if slopes:
            out.append(
                f"  fpgrad's dV/dt at the spikes NEST misses: max {max(slopes):.2e} "
                f"(median {statistics.median(slopes):.2e}) per ms: grazing crossings"
            )
    if "note" in a:
        out.append(f"  ({a['note']})")
    if "referee" in a:
        ref = a["referee"]
        if "error" in ref:
            out.append(f"  30-digit reference: {ref['error']}")
        else:
            rows = ref["neurons"]
            fp_ok = [x["fpgrad_max_err_ms"] for x in rows if x["fpgrad_max_err_ms"] is not None]
            ns_ok = [x["nest_max_err_ms"] for x in rows if x["nest_max_err_ms"] is not None]
            out.append(
                f"  30-digit reference on {len(rows)} neurons (the disagreeing ones and the "
                f"closest calls): fpgrad matches it on {len(fp_ok)}/{len(rows)} (max error "
                f"{max(fp_ok, default=0.0):.1e} ms); NEST has its spike count on {len(ns_ok)}/"
                f"{len(rows)} and is within 1e-6 ms on "
                f"{sum(1 for x in ns_ok if x <= MATCH_TOL)}/{len(rows)} (max error "
                f"{max((x for x in ns_ok if x <= MATCH_TOL), default=0.0):.1e} ms)"
            )
    if "lossless" in a:
        ll = a["lossless"]
        if "error" in ll:
            out.append(f"  iaf_psc_exp_ps_lossless: failed: {ll['error']}")
        else:
            out.append(
                f"  iaf_psc_exp_ps_lossless: {ll['nest_spikes']} spikes, identical trains "
                f"{ll['neurons_agree']}/{ll['neurons']}, max diff {ll['max_abs_diff_ms']:.2e} "
                f"ms, misses {ll['missed_by_nest']}, adds {ll['extra_in_nest']} "
                f"(Run {ll['run_wall_s']:.2f} s)"
            )
    return out


# --------------------------------------------------------------------------------------------
# README tables and figure


def _mev(x: float) -> str:
    return f"{x / 1e6:.3g} M"


def _threads(n: str | int) -> str:
    return f"{n} thread" if int(n) == 1 else f"{n} threads"


def _ratio(x: float | None) -> str:
    return "" if x is None else f"{x:.2g}x"


def tables(r: dict[str, Any]) -> list[dict[str, Any]]:
    """The README tables of a report (:func:`report.table` contract)."""
    throughput = []
    for key, tag in (("recurrent", "(a)"), ("input_driven", "(a')")):
        s = r[key]
        rows = [(f"{tag} fpgrad, 1 thread", s["fpgrad"], s.get("ratio_fpgrad_over_nest"))]
        rows += [
            (f"{tag} NEST, {_threads(k.split('_')[1])}", s[k], None)
            for k in s
            if k.startswith("nest_")
        ]
        throughput += [(label, x, ratio) for label, x, ratio in rows]
    f = r["feedforward"]
    for k in f:
        if k.startswith(("fpgrad_", "nest_")) and k.endswith("_threads"):
            name, threads = k.split("_")[:2]
            label = "fpgrad `simulate_batch`" if name == "fpgrad" else "NEST (batch copies)"
            ratio = f.get(f"ratio_fpgrad_over_nest_{threads}_threads") if name == "fpgrad" else None
            throughput.append((f"(b) {label}, {_threads(threads)}", f[k], ratio))
    rec = r["recurrent"]
    out = [
        results.table(
            "simulator-throughput",
            f"Throughput: (a) {rec['n_neurons']} neurons, {rec['t_max_ms']:.0f} ms; (b) "
            f"{'-'.join(map(str, f['sizes']))} feedforward, batch {f['batch']}; median of "
            f"{r['config']['repeats']} (fpgrad) and {r['config']['nest_repeats']} (NEST)",
            ["", "wall s", "events/s", "per core", "per CPU-s", "fpgrad / NEST"],
            [
                [
                    label,
                    f"{x['wall_s']:.3g}",
                    _mev(x["events_per_s"]),
                    _mev(x["events_per_s_per_core"]),
                    _mev(x["events_per_cpu_s"]),
                    _ratio(ratio),
                ]
                for label, x, ratio in throughput
            ],
        )
    ]
    agreement = []
    pairs = [
        ("(a)", rec.get("agreement")),
        ("(a')", r["input_driven"].get("agreement")),
        ("(b) hidden layer", f.get("agreement_hidden")),
        (
            "(b) output layer vs fpgrad on hidden spikes + h",
            f.get("agreement_output_vs_delayed_reference"),
        ),
    ]
    for label, a in pairs:
        if a is None:
            continue
        slopes = [
            x["fpgrad_slope"] for x in a.get("first_disagreements", []) if "fpgrad_slope" in x
        ]
        agreement.append(
            [
                label,
                a["fpgrad_spikes"],
                a["nest_spikes"],
                f"{a['neurons_agree']:,}/{a['neurons']:,}" if "neurons_agree" in a else "diverge",
                f"{a['max_abs_diff_ms']:.1e}" if "neurons_agree" in a else "",
                a.get("missed_by_nest", ""),
                a.get("extra_in_nest", ""),
                f"{min(slopes):.1e} - {max(slopes):.1e}" if slopes else "",
            ]
        )
    ll = (r["input_driven"].get("agreement") or {}).get("lossless")
    if ll is not None:
        agreement.append(
            [
                "(a') NEST `iaf_psc_exp_ps_lossless`",
                "",
                f"failed ({ll['error'].split(':')[0]})",
                "",
                "",
                "",
                "",
                "",
            ]
            if "error" in ll
            else [
                "(a') NEST `iaf_psc_exp_ps_lossless`",
                ll["fpgrad_spikes"],
                ll["nest_spikes"],
                f"{ll['neurons_agree']:,}/{ll['neurons']:,}",
                f"{ll['max_abs_diff_ms']:.1e}",
                ll["missed_by_nest"],
                ll["extra_in_nest"],
                "",
            ]
        )
    if agreement:
        out.append(
            results.table(
                "simulator-agreement",
                "Spike-by-spike agreement with NEST `iaf_psc_exp_ps` (identical trains: same "
                "count, every spike within 1e-6 ms; max diff over those)",
                [
                    "",
                    "fpgrad spikes",
                    "NEST spikes",
                    "identical trains",
                    "max diff ms",
                    "NEST misses",
                    "NEST adds",
                    "fpgrad dV/dt at missed (per ms)",
                ],
                agreement,
            )
        )
    ref = (r["input_driven"].get("agreement") or {}).get("referee")
    if ref is not None and "neurons" in ref:
        rows = ref["neurons"]
        fp_ok = [x["fpgrad_max_err_ms"] for x in rows if x["fpgrad_max_err_ms"] is not None]
        ns_ok = [x["nest_max_err_ms"] for x in rows if x["nest_max_err_ms"] is not None]
        ns_close = [x for x in ns_ok if x <= MATCH_TOL]
        out.append(
            results.table(
                "simulator-reference",
                "(a'): 30-digit reference (`tests/reference.py`) on the neurons where fpgrad and "
                "NEST disagree and the closest calls among the others",
                ["", "spike count right", "within 1e-6 ms", "max error ms (where within)"],
                [
                    [
                        "fpgrad",
                        f"{len(fp_ok)}/{len(rows)}",
                        f"{len(fp_ok)}/{len(rows)}",
                        f"{max(fp_ok, default=0.0):.1e}",
                    ],
                    [
                        "NEST",
                        f"{len(ns_ok)}/{len(rows)}",
                        f"{len(ns_close)}/{len(rows)}",
                        f"{max(ns_close, default=0.0):.1e}",
                    ],
                ],
            )
        )
    d = r.get("delays")
    if d:
        out.append(
            results.table(
                "simulator-delays",
                f"Delays: network (a), {d['n_neurons']} neurons, {d['t_max_ms']:.0f} ms, fpgrad on "
                f"1 thread, the same weights and inputs with all delays 0 and with delays uniform "
                f"in [0, {d['uniform']['delay_ms'][1]:g}] ms, median of {r['config']['repeats']} "
                "alternating runs",
                [
                    "",
                    "synaptic events",
                    "spikes",
                    "wall s",
                    "events/s",
                    "per CPU-s",
                    "peak in flight",
                    "vs delays 0 (CPU)",
                ],
                [
                    [
                        label,
                        x["synaptic_events"],
                        x["neuron_spikes"],
                        f"{x['wall_s']:.3g}",
                        _mev(x["events_per_s"]),
                        _mev(x["events_per_cpu_s"]),
                        x["max_in_flight"],
                        ratio,
                    ]
                    for label, x, ratio in (
                        ("all delays 0", d["zero"], ""),
                        (
                            f"delays in [0, {d['uniform']['delay_ms'][1]:g}] ms",
                            d["uniform"],
                            f"{d['ratio_delayed_over_zero_cpu']:.2f}x",
                        ),
                    )
                ],
            )
        )
    m = r.get("model2_nest")
    if m:
        rows = []
        for case in m.values():
            a = case.get("agreement")
            ns = case.get("nest_1_threads")
            first = a.get("first_disagreement_ms") if a else None
            rows.append(
                [
                    case["label"],
                    f"{case['delay_ms'][0]:g}-{case['delay_ms'][1]:g}",
                    case["fpgrad"]["neuron_spikes"],
                    ns["neuron_spikes"] if ns else "",
                    f"{a['neurons_agree']:,}/{a['neurons']:,}" if a else "",
                    f"{a['max_abs_diff_ms']:.1e}" if a else "",
                    a["missed_by_nest"] if a else "",
                    a["extra_in_nest"] if a else "",
                    "none" if a and first is None else (_cause(a["earliest"]) if a else ""),
                    _mev(case["fpgrad"]["events_per_cpu_s"]),
                    _mev(ns["events_per_cpu_s"]) if ns else "",
                    _ratio(case.get("ratio_fpgrad_over_nest_cpu")),
                ]
            )
        out.append(
            results.table(
                "simulator-model2",
                "Model 2 against NEST (`iaf_psc_exp_ps`; delta synapses: `iaf_psc_delta_ps`): "
                "per-connection delays on the grid of h and delta synapses, spike by spike "
                "(identical trains: same count, every spike within 1e-6 ms) and synaptic events "
                "per CPU second, 1 thread"
                + ("" if r["nest"]["available"] else " (NEST unavailable: fpgrad only)"),
                [
                    "",
                    "delays ms",
                    "fpgrad spikes",
                    "NEST spikes",
                    "identical trains",
                    "max diff ms",
                    "NEST misses",
                    "NEST adds",
                    "earliest disagreement, ms",
                    "fpgrad",
                    "NEST",
                    "fpgrad / NEST",
                ],
                rows,
            )
        )
    if r.get("scan"):
        out.append(
            results.table(
                "simulator-scan",
                "Throughput against network size and activity (network (a)'s construction, "
                "1 thread, synaptic events per CPU second)",
                [
                    "neurons",
                    "input Hz",
                    "firing Hz",
                    "syn. events",
                    "fpgrad",
                    "NEST",
                    "fpgrad / NEST",
                ],
                [
                    [
                        x["n_neurons"],
                        f"{x['input_rate_hz']:g}",
                        f"{x['rate_hz']:.1f}",
                        x["synaptic_events"],
                        _mev(x["fpgrad"]["events_per_cpu_s"]),
                        _mev(x["nest"]["events_per_cpu_s"]) if "nest" in x else "",
                        _ratio(x.get("ratio_fpgrad_over_nest_cpu")),
                    ]
                    for x in r["scan"]
                ],
            )
        )
    return out


def figure(r: dict[str, Any]):
    """Throughput (events per CPU second, 1 thread) against network size and firing rate."""
    plt = results.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    scan = r.get("scan", [])
    for ax, key, x_of, xlabel in (
        (axes[0], "in_size_scan", lambda x: x["n_neurons"], "neurons (in-degree fixed)"),
        (axes[1], "in_activity_scan", lambda x: x["rate_hz"], "fpgrad firing rate (Hz)"),
    ):
        pts = sorted((x for x in scan if x[key]), key=x_of)
        for who, style in (("fpgrad", "o-"), ("nest", "s--")):
            have = [x for x in pts if who in x]
            if have:
                ax.plot(
                    [x_of(x) for x in have],
                    [x[who]["events_per_cpu_s"] / 1e6 for x in have],
                    style,
                    label="fpgrad" if who == "fpgrad" else "NEST iaf_psc_exp_ps",
                )
        ax.set_xlabel(xlabel)
        ax.set_ylabel("M synaptic events / CPU s")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend()
    sizes = sorted({x["n_neurons"] for x in scan if x["in_size_scan"]})
    axes[0].set_xscale("log")
    axes[0].set_xticks(sizes, [str(n) for n in sizes])
    axes[0].minorticks_off()
    axes[0].set_title("throughput vs network size")
    axes[1].set_title("throughput vs activity")
    mode = "quick" if r.get("quick") else "full"
    fig.suptitle(f"Simulator throughput, one thread ({mode} run)")
    return fig


def main(quick: bool = False) -> dict[str, Any]:
    report = run(QUICK if quick else FULL)
    print(format_report(report))
    results.save("simulator", report, quick, tables(report), figure)
    return report


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)

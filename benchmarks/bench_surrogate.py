"""Surrogate-gradient BPTT against the exact gradient: cost and agreement (issue 4).

The standard problem set (seeds fixed; both sets are batches sharing one network):

* ``yinyang``: the 5-120-3 classifier of ``bench_gradients.py`` (Yin-Yang-like latency inputs
  plus a bias spike at 0, ``t_max = 30 ms``, fpgrad.train's default initialisation, seed 0),
  :class:`fpgrad.FirstSpikeCrossEntropy` with random labels;
* ``recurrent``: 20 Poisson inputs (30 Hz) into 40 recurrent LIF neurons (8 input and 8
  recurrent synapses each, self-loops allowed, 25 % inhibitory, ``t_max = 50 ms``, seed 0),
  :class:`fpgrad.VanRossum` (``tau = 5 ms``) of neurons 20-24 to the trains 10, 25, 40 ms.

Measured (float64 throughout):

(a) time per gradient of the batch: surrogate BPTT (``fpgrad.compare``'s ``bptt_time_s``: the
    jitted ``value_and_grad`` through ``lax.scan`` + ``vmap``, compilation excluded, median of
    repeats, results fetched to the host, which blocks like ``block_until_ready``) at
    ``dt = 1, 0.1, 0.01 ms``, against exact reverse and forward mode (``gradient_batch``,
    simulation included) on the same batch, all four network groups, 1 and 2 threads;
(b) cosine similarity of the batch-mean surrogate gradient to the batch-mean exact gradient for
    every surrogate, at widths 0.03, 0.1, 0.3 (units of threshold) and the three ``dt``
    (the JSON has every statistic of every group);
(c) forward convergence of the grid model to the exact simulation on the first ``recurrent``
    sample (``fpgrad.forward_convergence``): spike-time errors and raster Hamming
    distances on 1 ms bins, plotted as ``surrogate_forward.png``.

``--quick`` (about a minute): smaller batches, ``dt = 1, 0.1`` only, (b) on ``recurrent`` only
at the default widths, four grid steps in (c), fewer repeats.

``--scheduler ADDRESS`` maps the configurations of (b) (every ``(dt, surrogate, width)``) and
(c) (every ``dt``) over that Dask cluster (``fpgrad.compare`` / ``fpgrad.forward_convergence``
with ``client=``, one task per configuration): the same rows, BPTT timed on the workers
(``timed_on``). (a) stays in this process: it sets BPTT against the exact methods, which only
means something measured on one machine.
"""

from __future__ import annotations

import time
from typing import Any

import jax
import numpy as np
import report as results
import sweep
from bench_gradients import FF_T_MAX, feedforward_batch
from report import median_times

import fpgrad
from fpgrad._distributed import get_client
from fpgrad.discrete import SURROGATES

DTS = (1.0, 0.1, 0.01)
WIDTHS = (0.03, 0.1, 0.3)
GROUPS = ("weight", "threshold", "tau_mem", "tau_syn")
REC_INPUTS, REC_NEURONS, REC_T_MAX = 20, 40, 50.0
REC_TARGETS = {REC_INPUTS + k: (10.0, 25.0, 40.0) for k in range(5)}


def yinyang_set(batch: int) -> tuple[list[fpgrad.Problem], list[Any]]:
    net, inputs, losses = feedforward_batch(batch, seed=0)
    return [fpgrad.Problem(net, tuple(x), FF_T_MAX) for x in inputs], losses


def recurrent_set(batch: int) -> tuple[list[fpgrad.Problem], list[Any]]:
    rng = np.random.default_rng(0)
    net = fpgrad.random_recurrent_network(
        REC_INPUTS,
        REC_NEURONS,
        rng,
        input_synapses=8,
        recurrent_synapses=8,
        input_weight=0.06,
        recurrent_weight=0.03,
        inhibitory_fraction=0.25,
        inhibition_scale=2.0,
    )
    problems = [
        fpgrad.Problem(net, fpgrad.poisson_inputs(REC_INPUTS, 30.0, REC_T_MAX, rng), REC_T_MAX)
        for _ in range(batch)
    ]
    return problems, [fpgrad.VanRossum(REC_TARGETS, tau=5.0)] * batch


SETS = {"yinyang": yinyang_set, "recurrent": recurrent_set}


def bench_timing(name: str, batch: int, dts, repeats: int) -> dict[str, Any]:
    problems, losses = SETS[name](batch)
    net, t_max = problems[0].network, problems[0].t_max
    inputs = [p.inputs for p in problems]

    def exact(method, threads: int):
        return lambda: fpgrad.gradient_batch(
            net, inputs, t_max, losses, method, params=GROUPS, n_threads=threads
        )

    exact(fpgrad.ExactForward(), 1)()  # warm-up (Numba kernels load from the disk cache)
    out: dict[str, Any] = {
        "batch": batch,
        "n_neurons": net.n_neurons,
        "n_synapses": net.n_synapses,
        "spikes_per_sample": float(np.mean([fpgrad.simulate(p).n_spikes for p in problems])),
    }
    for key, method, threads in (
        ("exact_reverse_1thread_s", fpgrad.ExactReverse(), 1),
        ("exact_reverse_2threads_s", fpgrad.ExactReverse(), 2),
        ("exact_forward_1thread_s", fpgrad.ExactForward(), 1),
    ):
        out[key] = median_times(exact(method, threads), repeats)[0]
    table = fpgrad.compare(problems, losses, dts=dts, surrogates=["fast_sigmoid"], repeats=repeats)
    out["bptt"] = [
        {k: row[k] for k in ("dt", "bptt_time_s", "count_match", "max_time_error", "cosine_weight")}
        for row in table.rows
    ]
    return out


def free_compiled_code(scheduler: str | None) -> None:
    """``jax.clear_caches()`` wherever the configurations ran (here, or on every worker): each
    ran once, its compiled code (tens of MB) is not used again."""
    if scheduler is None:
        jax.clear_caches()
    else:
        get_client(scheduler).run(jax.clear_caches)


def bench_cosine(
    name: str, batch: int, dts, widths, scheduler: str | None = None
) -> dict[str, Any]:
    problems, losses = SETS[name](batch)
    start = time.perf_counter()
    table = fpgrad.compare(problems, losses, dts=dts, widths=widths, repeats=1, client=scheduler)
    free_compiled_code(scheduler)
    return {
        "batch": batch,
        "dts": list(dts),
        "widths": list(widths),
        "seconds": time.perf_counter() - start,
        "rows": table.to_dict()["rows"],
    }


def main(quick: bool = False, scheduler: str | None = None) -> dict[str, Any]:
    repeats = 2 if quick else 5
    dts = DTS[:2] if quick else DTS
    timing_batch = {"yinyang": 8, "recurrent": 4} if quick else {"yinyang": 32, "recurrent": 8}
    cosine_batch = {"yinyang": 8, "recurrent": 4}
    cosine_sets = ("recurrent",) if quick else ("yinyang", "recurrent")
    widths = (None,) if quick else WIDTHS
    forward_dts = (1.0, 0.3, 0.1, 0.03) if quick else (1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01)

    timing = {name: bench_timing(name, timing_batch[name], dts, repeats) for name in SETS}
    cosine = {
        name: bench_cosine(name, cosine_batch[name], dts, widths, scheduler) for name in cosine_sets
    }
    first = recurrent_set(1)[0][0]
    forward = fpgrad.forward_convergence(first, forward_dts, bin_ms=1.0, client=scheduler)
    out = results.results_dir(quick)
    out.mkdir(parents=True, exist_ok=True)
    forward.plot(out / "surrogate_forward.png")

    report = {
        "repeats": repeats,
        "statistic": "median",
        "timing": timing,
        "cosine": cosine,
        "forward_convergence": forward.to_dict(),
        "timed_on": {"timing": sweep.IN_PROCESS, "cosine": sweep.timed_on(scheduler)},
    }
    _print(report)
    results.save("surrogate", report, quick, tables(report), figure)
    return report


# --------------------------------------------------------------------------------------------
# tables, printout, figure


def _width(w: float | None) -> str:
    return "default" if w is None else f"{w:g}"


def _cosine(c: float | None) -> str:
    """A cosine of the JSON rows; ``null`` there: the surrogate gradient overflowed."""
    return "overflow" if c is None else f"{c:.3f}"


def tables(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The README tables of a report (:func:`report.table` contract)."""
    timing = report["timing"]
    names = list(timing)
    columns = [""]
    for name in names:
        t = timing[name]
        columns += [f"{name} (batch {t['batch']}) ms", "x exact rev."]
    labels = {
        "exact_reverse_1thread_s": "exact reverse, 1 thread",
        "exact_reverse_2threads_s": "exact reverse, 2 threads",
        "exact_forward_1thread_s": "exact forward (FP), 1 thread",
    }
    rows = []
    for key, label in labels.items():
        row = [label]
        for name in names:
            t = timing[name]
            row += [f"{1e3 * t[key]:.3g}", f"{t[key] / t['exact_reverse_1thread_s']:.2f}"]
        rows.append(row)
    for k, bptt in enumerate(timing[names[0]]["bptt"]):
        row = [f"surrogate BPTT, dt = {bptt['dt']:g} ms"]
        for name in names:
            t = timing[name]
            s = t["bptt"][k]["bptt_time_s"]
            row += [f"{1e3 * s:.3g}", f"{s / t['exact_reverse_1thread_s']:.1f}"]
        rows.append(row)
    out = [
        results.table(
            "surrogate-timing",
            "Time per batch gradient (all four network groups, float64, median)",
            columns,
            rows,
        )
    ]
    for name, cos in report["cosine"].items():
        dts = cos["dts"]
        by_key = {(r["surrogate"], r["width"], r["dt"]): r for r in cos["rows"]}
        keys = list(dict.fromkeys((r["surrogate"], r["width"]) for r in cos["rows"]))
        rows = [
            [sur, f"{width:g}"] + [_cosine(by_key[(sur, width, dt)]["cosine_weight"]) for dt in dts]
            for sur, width in keys
        ]
        fwd = [by_key[(*keys[0], dt)] for dt in dts]
        title = (
            f"Cosine of surrogate to exact weight gradient, {name} (batch {cos['batch']}); "
            "spike counts matching per (sample, neuron): "
            + ", ".join(f"{r['count_match']:.2f} at dt {r['dt']:g}" for r in fwd)
        )
        out.append(
            results.table(
                f"surrogate-cosine-{name}",
                title,
                ["surrogate", "width", *(f"dt = {dt:g} ms" for dt in dts)],
                rows,
            )
        )
    fc = report["forward_convergence"]
    out.append(
        results.table(
            "surrogate-forward",
            "Grid forward pass vs exact simulation (first recurrent sample), fitted order "
            + ("n/a" if fc["slope"] is None else f"{fc['slope']:.2f}"),
            [
                "dt ms",
                "spikes grid/exact",
                "max abs t err ms",
                "mean abs t err ms",
                "Hamming (grid)",
                "Hamming (1 ms bins)",
            ],
            [
                [
                    f"{r['dt']:g}",
                    f"{r['n_spikes_grid']}/{r['n_spikes_exact']}",
                    f"{r['max_time_error']:.3g}" if r["max_time_error"] is not None else "",
                    f"{r['mean_time_error']:.3g}" if r["mean_time_error"] is not None else "",
                    r["hamming"],
                    r["hamming_binned"],
                ]
                for r in fc["rows"]
            ],
        )
    )
    return out


def _print(report: dict[str, Any]) -> None:
    for tab in tables(report):
        print(f"\n{tab['title']}")
        widths = [
            max(len(str(c)), *(len(str(r[j])) for r in tab["rows"]))
            for j, c in enumerate(tab["columns"])
        ]
        for row in [tab["columns"], *tab["rows"]]:
            print("  ".join(str(c).rjust(w) for c, w in zip(row, widths, strict=True)))
    for name, cos in report["cosine"].items():
        print(f"(b) {name}: {len(cos['rows'])} configurations in {cos['seconds']:.0f} s")


def figure(report: dict[str, Any]):
    """Cosine (weights) against dt per surrogate; one row of panels per problem set, one
    column per width."""
    plt = results.pyplot()
    cosine = report["cosine"]
    widths = next(iter(cosine.values()))["widths"]
    fig, axes = plt.subplots(
        len(cosine), len(widths), figsize=(4.2 * len(widths) + 1.5, 3.4 * len(cosine)),
        sharex=True, sharey=True, squeeze=False,
    )  # fmt: skip
    for i, (name, cos) in enumerate(cosine.items()):
        for j, width in enumerate(widths):
            ax = axes[i, j]
            for k, sur in enumerate(SURROGATES):
                rows = sorted(
                    (r for r in cos["rows"] if r["surrogate"] == sur
                     and (width is None or r["width"] == width)),
                    key=lambda r: r["dt"],
                )  # fmt: skip
                values = [
                    np.nan if r["cosine_weight"] is None else r["cosine_weight"] for r in rows
                ]
                ax.plot([r["dt"] for r in rows], values, marker="o", markersize=3, color=f"C{k}",
                        label=sur)  # fmt: skip
            ax.set_xscale("log")
            ax.axhline(0.0, color="0.6", linewidth=0.8)
            ax.grid(True, alpha=0.3)
            ax.set_title(f"{name}, width {_width(width)}", fontsize="medium")
            if i == len(cosine) - 1:
                ax.set_xlabel("dt (ms)")
            if j == 0:
                ax.set_ylabel("cosine(surrogate, exact), weights")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small")
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    main(**sweep.command_line(__doc__))

"""Yin-Yang epoch time through the JAX bridge against the native training path, in one run.

Both train the task's default network and settings (``load_task("yinyang").defaults``, seed 0)
with the same algorithm (initialisation, shuffling, Adam with its decay on the weights and the
learned delays, bumping of silent neurons, parameter averaging), on 2 threads:

* native: ``fpgrad.train.train(config, ..., method=fpgrad.ExactReverse(), n_threads=2)``: its
  batch entry, one fused Numba loop per thread over simulation, loss and reverse pass;
* bridge: ``examples/jax_yinyang.py``: a plain ``jax.jit`` + optax step whose gradient is
  ``jax.grad`` through ``fpgrad.jax.spike_fn`` (one forward and one reverse callback per
  minibatch, the samples on 2 threads).

The two run alternately in rounds (native, bridge, native, bridge, ...), each for the same epochs,
so that the load of the shared machine hits both alike. Reported: the median wall time of a
training epoch (validation excluded) over every epoch but the first of each run (the bridge's
first epoch includes JAX's compilation), their ratio, and the validation accuracy after the
last epoch of each path's first run (the same algorithm on the same seed). Full: the 5000
training samples, 2 rounds of 4 epochs; quick: the first 1000 samples, 1 round of 3 epochs.
"""

from __future__ import annotations

import runpy
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np
import report as results

from fpgrad.train import TrainConfig, load_task, train

ROOT = Path(__file__).resolve().parent.parent
SEED = 0
N_THREADS = 2
FULL = {"rounds": 2, "epochs": 4, "train_samples": 5000}
QUICK = {"rounds": 1, "epochs": 3, "train_samples": 1000}


def run_native(config: TrainConfig, task: Any, train_set: Any) -> list[dict[str, Any]]:
    out = train(config, train_set, task.validation, None, n_threads=N_THREADS, progress=False)
    return [{k: row[k] for k in ("epoch", "train_loss", "val_acc", "epoch_time_s")}
            for row in out.history]  # fmt: skip


def run_bridge(example: dict, config: TrainConfig, task: Any, train_set: Any) -> list[dict]:
    out = example["train"](config, train_set, task.validation, task.test.subset(np.arange(1)),
                           n_threads=N_THREADS)  # fmt: skip
    return [{k: row[k] for k in ("epoch", "train_loss", "val_acc", "epoch_time_s")}
            for row in out["history"]]  # fmt: skip


def main(quick: bool = False) -> dict[str, Any]:
    mode = QUICK if quick else FULL
    example = runpy.run_path(str(ROOT / "examples" / "jax_yinyang.py"))
    task = load_task("yinyang")
    train_set = task.train.subset(np.arange(mode["train_samples"]))
    config = TrainConfig(**{**task.defaults, "epochs": mode["epochs"], "seed": SEED})
    runs: dict[str, list] = {"native": [], "bridge": []}
    for r in range(mode["rounds"]):
        for name in ("native", "bridge"):
            history = (
                run_native(config, task, train_set)
                if name == "native"
                else run_bridge(example, config, task, train_set)
            )
            runs[name].append(history)
            times = ", ".join(f"{row['epoch_time_s']:.2f}" for row in history)
            print(f"round {r + 1}, {name}: epoch seconds {times}", flush=True)
    medians = {
        name: statistics.median(row["epoch_time_s"] for h in hs for row in h[1:])
        for name, hs in runs.items()
    }
    ratio = medians["bridge"] / medians["native"]
    report = {
        "seed": SEED,
        "n_threads": N_THREADS,
        "config": config.to_dict(),
        "mode": mode,
        "runs": runs,
        "median_epoch_s": medians,
        "ratio": ratio,
        "target_ratio": 1.25,
    }
    tabs = tables(report)
    for tab in tabs:
        print(results.render_table(tab, "this run"))
    results.save("jax_bridge", report, quick, tabs, figure)
    return report


def tables(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The README table (:func:`report.table` contract)."""
    mode = report["mode"]
    rows = []
    for name, label in (("native", "native (`fpgrad.train.train`, fused batch entry)"),
                        ("bridge", "bridge (`jax.jit` + optax through `fpgrad.jax`)")):  # fmt: skip
        hs = report["runs"][name]
        rows.append(
            [
                label,
                len(hs),
                f"{report['median_epoch_s'][name]:.2f}",
                f"{min(row['epoch_time_s'] for h in hs for row in h[1:]):.2f}",
                f"{hs[0][0]['epoch_time_s']:.2f}",
                f"{100 * hs[0][-1]['val_acc']:.1f}",
            ]
        )
    verdict = "met" if report["ratio"] <= report["target_ratio"] else "missed"
    summary = f"**bridge / native: {report['ratio']:.2f}x** (target <= 1.25x: {verdict})"
    rows.append([summary, "", "", "", "", ""])
    return [
        results.table(
            "jax-bridge-epoch",
            f"Yin-Yang epoch time, {mode['train_samples']} training samples, task defaults, seed "
            f"{report['seed']}, {report['n_threads']} threads; runs alternate, {mode['epochs']} "
            "epochs each; seconds per training epoch (validation excluded), median and best over "
            "every epoch but the first of each run; validation accuracy (%) after the last epoch "
            "of the first run",
            ["path", "runs", "median s / epoch", "best s / epoch", "first epoch s", "val acc"],
            rows,
        )
    ]


def figure(report: dict[str, Any]):
    """Epoch times of every run."""
    plt = results.pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
    for name, colour in (("native", "C0"), ("bridge", "C1")):
        for r, h in enumerate(report["runs"][name]):
            ax.plot([row["epoch"] for row in h], [row["epoch_time_s"] for row in h], "o-",
                    color=colour, alpha=1.0 if r == 0 else 0.5,
                    label=name if r == 0 else None)  # fmt: skip
    ax.set(xlabel="epoch", ylabel="training seconds", title="Yin-Yang epoch time")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)

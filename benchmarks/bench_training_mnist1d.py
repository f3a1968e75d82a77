"""Training on MNIST-1D: exact against surrogate gradients, with and without (learned) delays.

The temporal task of :func:`fpgrad.data.load_mnist1d` (sequences as level-crossing spike trains,
the position is time; 3601 training, 399 validation, 1000 test sequences) with the task's
defaults (``fpgrad.train.TASKS["mnist1d"]``: 49-128-10 plain LIF, delays drawn in [0, 20] ms),
five variants of the same network, seeds :data:`SEEDS`:

* ``exact, learned delays``: :class:`fpgrad.ExactReverse`, weights and delays learned (the
  task default, ``fpgrad train mnist1d``);
* ``exact, fixed delays`` and ``surrogate, fixed delays``: weights only, the delays kept at their
  random initial values (what ``fpgrad train mnist1d --method surrogate`` trains: the surrogate
  cannot learn delays, whole steps on its grid);
* ``exact, no delays`` and ``surrogate, no delays``: every delay 0, weights only.

The surrogate is ``fpgrad.discrete.Surrogate(dt=0.25, dtype="float32", batch_pad=32)``, as
``fpgrad train --method surrogate`` (the CLI's defaults), evaluated on its own grid. Runs go in
:data:`ORDER` (the priority when time is short: exact with delays, then the surrogate, then the
ablations) and the JSON is rewritten after each, so a stopped benchmark keeps what it finished;
``python bench_training_mnist1d.py --resume`` skips the runs already in it. Quick mode: 300
training sequences, one epoch, hidden 16, one seed. Timing: ``epoch_time_s`` (the training pass
of an epoch; the surrogate's first epoch includes compilation, so the median over epochs is
reported), one process on one core (``n_threads=1``).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
import report as results

import fpgrad
from fpgrad.train import TrainConfig, load_task, train

SEEDS = (0, 1, 2)
#: variant -> (method, config overrides over the task defaults)
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "exact, learned delays": ("exact", {}),
    "surrogate, fixed delays": ("surrogate", {"learn": ("weight",)}),
    "exact, fixed delays": ("exact", {"learn": ("weight",)}),
    "exact, no delays": ("exact", {"learn": ("weight",), "delay": (0.0, 0.0)}),
    "surrogate, no delays": ("surrogate", {"learn": ("weight",), "delay": (0.0, 0.0)}),
}
ORDER = [(v, s) for v in list(VARIANTS)[:2] for s in SEEDS] + [
    (v, s) for v in list(VARIANTS)[2:] for s in SEEDS
]
SURROGATE_DT, SURROGATE_DTYPE = 0.25, "float32"
N_THREADS = 1
QUICK = {"train_samples": 300, "epochs": 1, "hidden": (16,)}


def _method(name: str, batch_size: int) -> Any:
    if name == "exact":
        return fpgrad.ExactReverse()
    from fpgrad.discrete import Surrogate

    return Surrogate(dt=SURROGATE_DT, dtype=SURROGATE_DTYPE, batch_pad=batch_size)


def run_one(variant: str, seed: int, quick: bool) -> dict[str, Any]:
    """Train one variant with one seed: its history, test accuracy and epoch times."""
    task = load_task("mnist1d")
    method_name, overrides = VARIANTS[variant]
    extra = {"epochs": QUICK["epochs"], "hidden": QUICK["hidden"]} if quick else {}
    config = TrainConfig(**{**task.defaults, **overrides, **extra, "seed": seed})
    method = _method(method_name, config.batch_size)
    train_set = task.train.subset(np.arange(QUICK["train_samples"])) if quick else task.train
    out = train(
        config, train_set, task.validation, task.test, method=method, n_threads=N_THREADS,
        progress=False, log=lambda line: print(f"  {variant} seed {seed}: {line}", flush=True),
    )  # fmt: skip
    keys = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "epoch_time_s")
    history = [{k: row[k] for k in keys} for row in out.history]
    times = [row["epoch_time_s"] for row in history]
    return {
        "variant": variant,
        "seed": seed,
        "method": method.name,
        "config": config.to_dict(),
        "sizes": list(out.model.sizes),
        "train_samples": len(train_set),
        "history": history,
        "test_acc": out.test.accuracy,
        "best_epoch": out.best_epoch,
        "test_acc_best_epoch": out.test_best.accuracy if out.test_best is not None else None,
        "median_epoch_s": float(np.median(times)),
    }


def tables(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Per variant: test accuracy (median, min-max over seeds) and median time per epoch."""
    rows = []
    for variant in VARIANTS:
        runs = [r for r in report["runs"] if r["variant"] == variant]
        if not runs:
            rows.append([variant, 0, "not run", "", ""])
            continue
        acc = 100 * np.array([r["test_acc"] for r in runs])
        best = 100 * np.array([r["test_acc_best_epoch"] for r in runs])
        rows.append(
            [
                variant,
                len(runs),
                f"{np.median(acc):.1f} ({acc.min():.1f}-{acc.max():.1f})",
                f"{np.median(best):.1f} ({best.min():.1f}-{best.max():.1f})",
                f"{np.median([r['median_epoch_s'] for r in runs]):.1f}",
            ]
        )
    first = report["runs"][0]
    sizes = "-".join(map(str, first["sizes"]))
    return [
        results.table(
            "training-mnist1d",
            f"MNIST-1D, {sizes} plain LIF, task defaults; test accuracy in % after the last "
            "epoch and at the best validation epoch (median and range over seeds); median "
            f"seconds per training epoch ({first['train_samples']} sequences, one core)",
            ["variant", "seeds", "test acc", "test acc at best val", "s / epoch"],
            rows,
        )
    ]


def figure(report: dict[str, Any]):
    """Validation accuracy against epoch, one line per run, coloured by variant."""
    plt = results.pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    colours = dict(zip(VARIANTS, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    for variant in VARIANTS:
        for i, run in enumerate(r for r in report["runs"] if r["variant"] == variant):
            h = run["history"]
            ax.plot(
                [x["epoch"] for x in h], [100 * x["val_acc"] for x in h], "o-", ms=3,
                color=colours[variant], label=variant if i == 0 else None,
            )  # fmt: skip
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.suptitle("MNIST-1D training, exact vs surrogate gradients, with and without delays")
    return fig


def main(quick: bool = False, resume: bool = False) -> dict[str, Any]:
    path = results.results_dir(quick) / "training_mnist1d.json"
    runs: list[dict[str, Any]] = []
    if resume and path.exists():
        runs = json.loads(path.read_text())["runs"]
    done = {(r["variant"], r["seed"]) for r in runs}
    order = ORDER[:1] + ORDER[len(SEEDS) : len(SEEDS) + 1] if quick else ORDER
    report: dict[str, Any] = {"task": "mnist1d", "seeds": list(SEEDS), "runs": runs}
    for variant, seed in order:
        if (variant, seed) in done:
            continue
        runs.append(run_one(variant, seed, quick))
        results.save("training_mnist1d", report, quick, tables(report), figure)
    for tab in tables(report):
        print(results.render_table(tab, "this run"))
    return report


if __name__ == "__main__":
    main(quick="--quick" in sys.argv, resume="--resume" in sys.argv)

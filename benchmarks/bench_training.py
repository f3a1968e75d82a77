"""Training on Yin-Yang: accuracy against epoch and wall time, exact against surrogate gradients.

(The temporal task, MNIST-1D with and without learned delays, is ``bench_training_mnist1d.py``.)

Both methods train the same model with :func:`fpgrad.train.train` and the task's defaults
(``fpgrad.train.TASKS["yinyang"]`` over :class:`~fpgrad.train.TrainConfig`'s, stored in the
JSON) except for the number of epochs, seed 0; the task learns the weights and the synaptic
delays, and the surrogate, which cannot learn delays, keeps them at their initial draw
(:func:`fpgrad.train.learnable_by`):

* exact: :class:`fpgrad.ExactReverse` (reverse mode over the causality record; its batch entry
  is the fused Numba loop over the minibatch), ``train(..., n_threads=2)``;
* surrogate: ``fpgrad.discrete.Surrogate(dt=0.25, dtype="float32", batch_pad=batch_size)``
  (BPTT on a ``dt = 0.25 ms`` grid, ``fast_sigmoid`` surrogate at its default width, float32,
  one compiled program per minibatch size: what ``fpgrad train --method surrogate`` uses); if
  JAX does not import, only the exact side runs and the JSON and table say why.

Full mode: the published splits (5000 training, 1000 validation, 1000 test samples), 30 epochs,
one seed per method. Quick mode: the first 1000 training samples, 3 epochs. Wall time is the
cumulative training time of the epochs (``epoch_time_s``: the surrogate's first epoch includes
JAX's compilation); the validation pass after each epoch is not counted. Accuracies are the
validation accuracy after each epoch, and the test accuracy after the last epoch and at the
epoch of best validation accuracy (evaluated with the method that trained: the surrogate model
on its grid).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import report as results

import fpgrad
from fpgrad.train import TrainConfig, learnable_by, load_task, train

FULL_EPOCHS, QUICK_EPOCHS = 30, 3
QUICK_TRAIN_SAMPLES = 1000
SEED = 0
#: The surrogate's grid step (ms) and precision, those of ``fpgrad train --method surrogate``.
SURROGATE_DT, SURROGATE_DTYPE = 0.25, "float32"
#: Threads of the exact kernels.
N_THREADS = 2


def methods(batch_size: int) -> tuple[dict[str, Any], str | None]:
    """The methods to compare (the surrogate compiled for ``batch_size``), and why the surrogate
    is missing (``None`` if it is there)."""
    found: dict[str, Any] = {"exact": fpgrad.ExactReverse()}
    try:
        from fpgrad.discrete import Surrogate
    except ImportError as err:
        return found, f"fpgrad.discrete.Surrogate unavailable: {err}"
    found["surrogate"] = Surrogate(dt=SURROGATE_DT, dtype=SURROGATE_DTYPE, batch_pad=batch_size)
    return found, None


def config_for(quick: bool) -> TrainConfig:
    """The task's defaults with this benchmark's number of epochs and seed."""
    task_defaults = load_task("yinyang").defaults
    epochs = QUICK_EPOCHS if quick else FULL_EPOCHS
    return TrainConfig(**{**task_defaults, "epochs": epochs, "seed": SEED})


def run_method(name: str, method: Any, quick: bool) -> dict[str, Any]:
    """Train one method; its per-epoch history, test accuracy and total training time."""
    task = load_task("yinyang")
    train_set = task.train.subset(np.arange(QUICK_TRAIN_SAMPLES)) if quick else task.train
    config, _ = learnable_by(config_for(quick), method)  # the surrogate keeps the drawn delays
    out = train(
        config,
        train_set,
        task.validation,
        task.test,
        method=method,
        n_threads=N_THREADS,
        progress=False,
        log=lambda line: print(f"  {name}: {line}", flush=True),
    )
    history = [
        {
            k: row[k]
            for k in ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "epoch_time_s")
        }
        for row in out.history
    ]
    wall = np.cumsum([row["epoch_time_s"] for row in history])
    for row, t in zip(history, wall, strict=True):
        row["wall_s"] = float(t)
    return {
        "method": name,
        "settings": repr(method),
        "method_name": method.name,
        "n_threads": N_THREADS,
        "config": config.to_dict(),
        "sizes": list(out.model.sizes),
        "train_samples": len(train_set),
        "validation_samples": len(task.validation),
        "test_samples": len(task.test),
        "history": history,
        "test_acc": out.test.accuracy,
        "best_epoch": out.best_epoch,
        "test_acc_best_epoch": out.test_best.accuracy if out.test_best is not None else None,
        "train_s": float(wall[-1]) if len(wall) else 0.0,
    }


def tables(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The README table of a report (:func:`report.table` contract)."""
    rows = []
    for run in report["runs"]:
        h = run["history"]
        rows.append(
            [
                run["method"],
                len(h),
                run["train_samples"],
                f"{100 * h[-1]['val_acc']:.1f}",
                f"{100 * max(x['val_acc'] for x in h):.1f}",
                f"{100 * run['test_acc']:.1f}",
                f"{100 * run['test_acc_best_epoch']:.1f} (epoch {run['best_epoch']})"
                if run["test_acc_best_epoch"] is not None
                else "",
                f"{run['train_s']:.1f}",
                f"{run['train_s'] / len(h):.2f}",
            ]
        )
    if report["surrogate_missing"]:
        rows.append(["surrogate", "", "", report["surrogate_missing"], "", "", "", "", ""])
    sizes = "-".join(map(str, report["runs"][0]["sizes"]))
    return [
        results.table(
            "training-yinyang",
            f"Yin-Yang, {sizes}, seed {SEED}, task defaults, one run per method; accuracies in %: "
            "validation after the last epoch and its best, test after the last epoch and at the "
            "best validation epoch; training seconds (validation passes excluded)",
            [
                "method",
                "epochs",
                "train samples",
                "val acc",
                "best val acc",
                "test acc",
                "test acc at best val",
                "train s",
                "s / epoch",
            ],
            rows,
        )
    ]


def figure(report: dict[str, Any]):
    """Validation accuracy against epoch and against cumulative training seconds."""
    plt = results.pyplot()
    fig, (ax_ep, ax_t) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    for run in report["runs"]:
        h = run["history"]
        acc = [100 * x["val_acc"] for x in h]
        ax_ep.plot([x["epoch"] for x in h], acc, "o-", label=run["method"])
        ax_t.plot([x["wall_s"] for x in h], acc, "o-", label=run["method"])
    ax_ep.set_xlabel("epoch")
    ax_t.set_xlabel("cumulative training seconds")
    for ax in (ax_ep, ax_t):
        ax.set_ylabel("validation accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend()
    mode = "quick" if report.get("quick") else "full"
    fig.suptitle(f"Yin-Yang training, exact vs surrogate gradients ({mode} run)")
    return fig


def main(quick: bool = False) -> dict[str, Any]:
    found, missing = methods(config_for(quick).batch_size)
    if missing:
        print(missing)
    runs = [run_method(name, method, quick) for name, method in found.items()]
    report = {"task": "yinyang", "seed": SEED, "surrogate_missing": missing, "runs": runs}
    for tab in tables(report):
        print(results.render_table(tab, "this run"))
    results.save("training", report, quick, tables(report), figure)
    return report


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)

"""``fpgrad demo`` (what ``make demo`` runs): the main job on the built-in Yin-Yang network.

Four steps, each printed and saved into one output folder:

1. the example problem (the README's ``examples/problem.json``), simulated
   (``example_problem.json``, ``example_spikes.json``);
2. the exact gradient of the first-spike cross-entropy of the Yin-Yang network on a few
   samples, checked against finite differences: every threshold entry (reverse and forward
   mode, :func:`fpgrad.testing.gradcheck`) and the weights along a random direction
   (``gradcheck.txt``);
3. exact against surrogate gradients over a minibatch for every surrogate at two grid steps
   (:func:`fpgrad.compare`; ``compare.csv``, ``compare.json``, ``compare.png``);
4. brief training with exact gradients and with surrogate BPTT on a subset of the training
   split (``training.csv``, ``training.png``, ``decision_map.png``).

The network is the Yin-Yang task's default (:data:`fpgrad.train.TASKS`) at a seeded
initialisation. The whole job takes about 2 minutes on two cores (120 s measured): the
finite-difference check of step 2 and step 3's JAX compilation take most of it.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ._io import problem_from_dict, save_problem
from ._problem import Problem
from .event import simulate

__all__ = ["EXAMPLE_PROBLEM", "run_demo"]

#: The example problem of the README and docs/model.md §3 (``examples/problem.json``): two
#: inputs, three neurons, a chain with inhibition at the end.
EXAMPLE_PROBLEM = {
    "format": "fpgrad-problem/1",
    "t_max": 40.0,
    "tau_syn": 5.0,
    "neurons": {"count": 3, "tau_mem": 10.0, "threshold": [1.0, 1.0, 0.8]},
    "inputs": [[1.0, 4.5], [2.25]],
    "synapses": {"pre": [0, 1, 2, 3], "post": [2, 2, 3, 4], "weight": [0.4, 0.3, 0.9, -0.2]},
}

SEED = 0
GRADCHECK_SAMPLES = 3  # Yin-Yang training samples whose gradient is checked
COMPARE_SAMPLES = 8  # minibatch of the exact-vs-surrogate comparison
COMPARE_DTS = (1.0, 0.25)  # ms (0.25: the surrogate training default)
TRAIN_SAMPLES = 1000  # training subset of the brief runs
TRAIN_EPOCHS = 4
MAP_RESOLUTION = 60  # decision map: points per axis


def _section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 76 - len(title)), flush=True)


def _example(folder: Path) -> None:
    problem = problem_from_dict(EXAMPLE_PROBLEM)
    result = simulate(problem)
    save_problem(problem, folder / "example_problem.json")
    (folder / "example_spikes.json").write_text(json.dumps(result.to_dict(), indent=1) + "\n")
    net = problem.network
    print(f"{net.n_inputs} inputs, {net.n_neurons} neurons; spikes (node, time in ms):")
    for node, t in zip(result.spike_node, result.spike_time, strict=True):
        print(f"  {node:>3} {t:.16f}")


def _yinyang_network(config: Any, task: Any) -> tuple[Any, Any, Any, list]:
    """The task's classifier at a seeded initialisation, and the encoded training inputs."""
    from .train._loop import _init_for, _model_for

    inputs = task.train.encode()
    model = _model_for(config, len(inputs[0]), task.train.n_classes)
    params = _init_for(config, model, np.random.default_rng(SEED))
    return model, params, model.network(params), inputs


def _gradcheck(folder: Path, problems: list[Problem], losses: list) -> bool:
    """Thresholds: every entry against finite differences (:func:`fpgrad.testing.gradcheck`);
    weights (1600 of them): the directional derivative along a random unit direction ``v``,
    exact ``g . v`` against a Richardson-extrapolated central difference of ``L(w + h v)``."""
    from ._gradient import gradient
    from .grad._params import with_parameter
    from .testing import gradcheck

    rng = np.random.default_rng(SEED)
    lines, ok = [], True
    for k, (problem, loss) in enumerate(zip(problems, losses, strict=True)):
        report = gradcheck(problem, loss, params=["threshold"])
        ok &= report.passed
        worst = max(row.rel_error for row in report.rows if row.reference == "finite-difference")
        exact = gradient(problem, loss, params=["weight"]).grad.weight
        v = rng.normal(size=exact.size)
        v /= np.linalg.norm(v)
        w = problem.network.weight

        def along(h: float, w=w, v=v, problem=problem, loss=loss) -> float:
            def value(step: float) -> float:
                moved = with_parameter(problem, "weight", w + step * v)
                return loss.value_and_spike_grad(simulate(moved))[0]

            return (value(h) - value(-h)) / (2.0 * h)

        h = 1e-4
        fd = (4.0 * along(h / 2) - along(h)) / 3.0
        rel = abs(exact @ v - fd) / max(abs(fd), 1e-300)
        ok &= rel < 1e-5
        line = (
            f"sample {k}: thresholds ({problem.network.n_neurons}) exact vs finite differences "
            f"{'passed' if report.passed else 'FAILED'} (largest group-scaled error "
            f"{worst:.1e}); weights ({problem.network.n_synapses}) along a random direction: "
            f"exact {exact @ v:+.10f}, finite difference {fd:+.10f}, relative error {rel:.1e}"
        )
        print("  " + line)
        lines.append(f"{line}\n{report}")
    (folder / "gradcheck.txt").write_text("\n\n".join(lines) + "\n")
    return ok


def _compare(folder: Path, problems: list[Problem], losses: list) -> None:
    from ._compare import compare

    table = compare(problems, losses, dts=COMPARE_DTS, params=["weight", "threshold"], repeats=1)
    print(table)
    table.to_csv(folder / "compare.csv")
    table.to_json(folder / "compare.json")
    table.plot(folder / "compare.png")


def _train(folder: Path, config: Any, task: Any) -> dict[str, Any]:
    import dataclasses

    from .discrete import Surrogate
    from .grad._methods import ExactReverse
    from .train import learnable_by, train

    subset = task.train.subset(np.arange(TRAIN_SAMPLES))
    short = dataclasses.replace(config, epochs=TRAIN_EPOCHS, seed=SEED)
    runs = {}
    for name, method in (
        ("exact", ExactReverse()),
        ("surrogate", Surrogate(dt=0.25, dtype="float32", batch_pad=short.batch_size)),
    ):
        run_config, fixed = learnable_by(short, method)  # the surrogate keeps the drawn delays
        start = time.perf_counter()
        result = train(run_config, subset, task.validation, method=method, progress=False)
        runs[name] = (result, time.perf_counter() - start)
        accs = " ".join(f"{row['val_acc']:.3f}" for row in result.history)
        note = f"; {', '.join(fixed)} kept at the initial draw" if fixed else ""
        print(
            f"  {name:>9}: learns {', '.join(run_config.learn)}{note}; validation accuracy per "
            f"epoch {accs} ({runs[name][1]:.1f} s)"
        )
    with open(folder / "training.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["method", "epoch", "train_loss", "val_acc", "epoch_time_s"])
        for name, (result, _) in runs.items():
            for row in result.history:
                writer.writerow(
                    [name, row["epoch"], row["train_loss"], row["val_acc"], row["epoch_time_s"]]
                )
    return runs


def _plots(folder: Path, runs: dict[str, Any], task: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    from .data import Dataset
    from .grad._methods import ExactReverse
    from .train import TrainConfig, evaluate

    method_names = {"exact": "exact gradients", "surrogate": "surrogate-gradient BPTT"}

    # Training curves: accuracy against epoch, and validation accuracy against training time.
    fig, (ax_epoch, ax_time) = plt.subplots(1, 2, figsize=(10, 4.4), layout="constrained")
    handles = []
    for k, (name, (result, _)) in enumerate(runs.items()):
        color = f"C{k % 10}"
        rows = result.history
        epochs = [row["epoch"] for row in rows]
        val = [row["val_acc"] for row in rows]
        ax_epoch.plot(epochs, val, "o-", color=color)
        ax_epoch.plot(epochs, [row["train_acc"] for row in rows], "s--", color=color, alpha=0.7)
        times = np.cumsum([row["epoch_time_s"] for row in rows])
        handles += ax_time.plot(times, val, "o-", color=color, label=method_names.get(name, name))
    handles += [
        Line2D([], [], color="0.4", marker="o", label="solid: validation accuracy"),
        Line2D(
            [],
            [],
            color="0.4",
            marker="s",
            linestyle="--",
            alpha=0.7,
            label="dashed: training accuracy (running, during the epoch)",
        ),
    ]
    ax_epoch.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax_epoch.set(xlabel="epoch", ylabel="accuracy (fraction correct)", title="accuracy per epoch")
    ax_time.set(
        xlabel="cumulative training wall time (s), validation excluded\n"
        "(epoch 1 may include JIT compilation)",
        ylabel="validation accuracy (fraction correct)",
        title="validation accuracy against training time",
    )
    ax_time.set_xlim(left=0.0)
    for ax in (ax_epoch, ax_time):
        ax.grid(True, alpha=0.3)
    fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize="small")
    fig.suptitle("Yin-Yang, brief training: exact gradients vs surrogate-gradient BPTT")
    fig.savefig(folder / "training.png", dpi=120)
    plt.close(fig)

    # Decision map of the exact-trained network over the (x, y) plane.
    result = runs["exact"][0]
    g = np.linspace(0.0, 1.0, MAP_RESOLUTION)
    xx, yy = np.meshgrid(g, g)
    x, y = xx.ravel(), yy.ravel()
    grid = Dataset(
        name="yinyang",
        split="grid",
        x=np.stack([x, y, 1.0 - x, 1.0 - y], axis=1),
        y=np.zeros(x.size, np.int64),
        n_classes=task.train.n_classes,
        class_names=task.train.class_names,
    )
    method = ExactReverse()

    def predict(data: Dataset) -> np.ndarray:
        """The exact-trained network's predicted class of every sample of ``data``."""
        prepared = method.prepare(data.encode())
        return evaluate(method, result.model, result.params, prepared, data.y, TrainConfig()).pred

    val = task.validation
    wrong = predict(val) != val.y
    names = list(task.train.class_names)
    colors = [f"C{c % 10}" for c in range(len(names))]
    fig, ax = plt.subplots(figsize=(7.4, 4.6), layout="constrained")
    ax.contourf(
        xx,
        yy,
        predict(grid).reshape(xx.shape),
        levels=np.arange(len(names) + 1) - 0.5,
        cmap=ListedColormap(colors),
        alpha=0.3,
    )
    right = ~wrong
    ax.scatter(val.x[right, 0], val.x[right, 1], c=[colors[c] for c in val.y[right]], s=6)
    ax.scatter(
        val.x[wrong, 0],
        val.x[wrong, 1],
        c=[colors[c] for c in val.y[wrong]],
        s=30,
        marker="X",
        edgecolors="black",
        linewidths=0.6,
    )
    ax.set_aspect("equal")
    ax.set(
        xlim=(0.0, 1.0),
        ylim=(0.0, 1.0),
        xlabel="x (input feature, dimensionless, in [0, 1])",
        ylabel="y (input feature, dimensionless, in [0, 1])",
        title=f"network trained with {method_names['exact']} ({len(result.history)} epochs):\n"
        f"predicted class, validation accuracy {1.0 - wrong.mean():.3f}",
    )
    shading = ax.legend(
        handles=[Patch(color=c, alpha=0.3, label=n) for c, n in zip(colors, names, strict=True)],
        title="shading: predicted class",
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        fontsize="small",
    )
    ax.add_artist(shading)
    dot = dict(marker="o", linestyle="", markersize=4)
    ax.legend(
        handles=[
            *(Line2D([], [], color=c, label=n, **dot) for c, n in zip(colors, names, strict=True)),
            Line2D(
                [],
                [],
                marker="X",
                linestyle="",
                color="0.6",
                markeredgecolor="black",
                markersize=7,
                label=f"misclassified ({wrong.sum()} of {wrong.size})",
            ),
        ],
        title="dots: validation samples,\ncoloured by true class",
        loc="upper left",
        bbox_to_anchor=(1.02, 0.55),
        fontsize="small",
    )
    fig.savefig(folder / "decision_map.png", dpi=120)
    plt.close(fig)


def run_demo(out_dir: str) -> int:
    """Run the main job (module docstring); returns 0, or 1 if a gradient check failed."""
    from .train import TrainConfig, load_task

    start = time.perf_counter()
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)

    _section("1. the example problem (examples/problem.json)")
    _example(folder)

    task = load_task("yinyang")
    config = TrainConfig.from_dict({**TrainConfig().to_dict(), **task.defaults})
    model, _params, network, inputs = _yinyang_network(config, task)
    labels = task.train.y
    print(f"\nYin-Yang network {'-'.join(map(str, model.sizes))} (task defaults, seed {SEED})")

    _section("2. exact gradients against finite differences")
    problems = [Problem(network, tuple(inputs[k]), config.t_max) for k in range(COMPARE_SAMPLES)]
    losses = config.losses(model, labels[:COMPARE_SAMPLES])
    ok = _gradcheck(folder, problems[:GRADCHECK_SAMPLES], losses[:GRADCHECK_SAMPLES])

    _section(f"3. exact vs surrogate gradients, minibatch of {COMPARE_SAMPLES}")
    _compare(folder, problems, losses)

    _section(f"4. brief training ({TRAIN_EPOCHS} epochs on {TRAIN_SAMPLES} samples)")
    runs = _train(folder, config, task)
    _plots(folder, runs, task)

    print(f"\nsaved to {folder.resolve()}:")
    for path in sorted(folder.iterdir()):
        print(f"  {path.name}")
    verdict = "passed" if ok else "FAILED"
    print(f"done in {time.perf_counter() - start:.0f} s; gradient check {verdict}")
    return 0 if ok else 1

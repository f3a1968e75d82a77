"""``fpgrad train TASK``: train a classifier from the command line.

The training stack (:mod:`fpgrad.train`, which imports JAX) is imported only when the command
runs, so registering the command (and ``fpgrad --help``) stays light. For that the task names
are listed here (:data:`TASK_NAMES`, the keys of :data:`fpgrad.train.TASKS`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._method import GradientMethod

__all__ = ["TASK_NAMES", "add_command", "run"]

TASK_NAMES = ("digits", "mnist1d", "yinyang")
"""The choices of ``TASK``: the keys of :data:`fpgrad.train.TASKS` (a test keeps them equal)."""

_SURROGATE_FLAGS = {"dt": "--dt", "surrogate": "--surrogate", "width": "--width"}


#: ``--method surrogate`` defaults: the grid step and precision measured for training (README,
#: "Training": 0.1 ms trained no better than 0.25 at 2.5-5 times the cost; float32 is about 1.7
#: times faster than float64 and enough for a training gradient).
SURROGATE_DEFAULTS = {"dt": 0.25, "dtype": "float32"}


def _method(args: argparse.Namespace, batch_size: int) -> GradientMethod:
    """The method object of ``--method`` (surrogate: compiled for the training batch size)."""
    from ..grad._methods import ExactReverse

    if args.method == "exact":
        given = [flag for key, flag in _SURROGATE_FLAGS.items() if getattr(args, key) is not None]
        if given:
            raise ValueError(f"{', '.join(given)}: only with --method surrogate")
        return ExactReverse()
    from ..discrete import Surrogate

    options = {key: getattr(args, key) for key in _SURROGATE_FLAGS}
    options = {key: value for key, value in options.items() if value is not None}
    return Surrogate(batch_pad=batch_size, **{**SURROGATE_DEFAULTS, **options})


def _delay(text: str | None) -> tuple[float, float] | None:
    """``--delay``: ``LOW,HIGH`` (uniform draws per synapse) or one value ``D`` (every synapse)."""
    if text is None:
        return None
    parts = text.split(",")
    try:
        values = [float(x) for x in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2):
        raise ValueError(f"--delay: expected LOW,HIGH or one delay in ms, got {text!r}")
    return (values[0], values[-1])


def _fixed_for_surrogate(config: Any, method: Any) -> Any:
    """A task default that learns delays (or ``t_ref``) trains the *same* network with the
    surrogate, those groups kept at their initial values (:func:`fpgrad.train.learnable_by`),
    and says so on stderr. An explicit ``--learn`` is checked as given."""
    from ..train import learnable_by

    config, fixed = learnable_by(config, method)
    if fixed:
        print(
            f"fpgrad: note: --method surrogate keeps {', '.join(fixed)} at the initial values "
            "(it cannot learn them)",
            file=sys.stderr,
            flush=True,
        )
    return config


def run(args: argparse.Namespace) -> int:
    """Run ``fpgrad train`` with parsed ``args``; returns the exit code."""
    from ..train import TASKS, TrainConfig, check_learn, load_task, train

    base: dict[str, Any] = {**TrainConfig().to_dict(), **TASKS[args.task]}
    given = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "lr_decay": args.lr_decay,
        "delay_lr": args.delay_lr,
        "seed": args.seed,
        "t_ref": args.t_ref,
        "t_max": args.t_max,
        "bump": args.bump,
        "bump_hidden": args.bump_hidden,
        "clip": args.clip,
        "sample_clip": args.sample_clip,
        "ema": args.ema,
        "train_threshold": args.train_threshold or None,
        "hidden": tuple(args.hidden) if args.hidden else None,
        "learn": args.learn,
        "tau_syn": args.tau_syn,
    }
    try:
        given["delay"] = _delay(args.delay)
        base.update({k: v for k, v in given.items() if v is not None})
        config = TrainConfig.from_dict(base)
        method = _method(args, config.batch_size)
        if args.learn is None:
            config = _fixed_for_surrogate(config, method)
        check_learn(config, method)
    except ValueError as err:
        print(f"fpgrad: error: {err}", file=sys.stderr, flush=True)
        return 2
    task = load_task(args.task, seed=args.split_seed)
    result = train(
        config,
        task.train,
        task.validation,
        task.test,
        method=method,
        n_threads=args.threads,
        out_dir=args.out_dir,
        resume=args.resume,
        progress=not args.no_progress,
        log=print,
        client=args.scheduler,
    )
    summary = {
        "task": args.task,
        "method": method.name,
        "config": dataclasses.asdict(config),
        "final": result.history[-1] if result.history else None,
        "test_accuracy": result.test.accuracy if result.test else None,
        "test_accuracy_best_val": result.test_best.accuracy if result.test_best else None,
        "best_val_epoch": result.best_epoch,
        "out_dir": args.out_dir,
    }
    print(json.dumps(summary, default=list))
    return 0


def add_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``train`` on the ``add_subparsers()`` object of the ``fpgrad`` parser.

    The parser's ``func`` default is :func:`run`, as for the other commands.
    """
    p = subparsers.add_parser(
        "train",
        help="train a spiking classifier (Yin-Yang, digits or MNIST-1D) with exact or "
        "surrogate gradients",
        description="Train a feedforward LIF network on first-spike times (loss: first-spike "
        "cross-entropy; prediction: the first output neuron to fire) with minibatch Adam. "
        "Writes metrics.csv, metrics.json (per epoch: train loss/accuracy, validation "
        "loss/accuracy, wall time; test accuracy at the end), checkpoint.npz (latest) and "
        "best.npz (best validation accuracy) to --out-dir. Defaults marked 'task' are the "
        "task's (fpgrad.train.TASKS).",
    )
    p.add_argument("task", choices=sorted(TASK_NAMES), help="the dataset")
    p.add_argument(
        "--method",
        choices=("exact", "surrogate"),
        default="exact",
        help="exact (event-driven, reverse mode; default) or surrogate (JAX BPTT on a time grid)",
    )
    p.add_argument("--dt", type=float, help="surrogate: grid step in ms (default 0.25)")
    p.add_argument(
        "--surrogate",
        help="surrogate: name of the surrogate derivative (default fast_sigmoid; see "
        "fpgrad.discrete.SURROGATES)",
    )
    p.add_argument(
        "--width", type=float, help="surrogate: width in units of threshold (default 0.1)"
    )
    p.add_argument("--epochs", type=int, help="number of epochs (default: task)")
    p.add_argument("--batch-size", type=int, help="minibatch size (default 32)")
    p.add_argument("--lr", type=float, help="Adam learning rate (default: task)")
    p.add_argument("--lr-decay", type=float, help="lr factor per epoch (default: task)")
    p.add_argument(
        "--delay-lr",
        type=float,
        help="learning rate of learned delays, ms per step (default: task; 0: --lr)",
    )
    p.add_argument(
        "--hidden", type=int, nargs="+", metavar="H", help="hidden layer size(s) (default: task)"
    )
    p.add_argument("--seed", type=int, help="seed of initialisation and shuffling (default 0)")
    p.add_argument(
        "--t-ref",
        type=float,
        help="refractory period in ms (default: task; 1000 = one spike per neuron)",
    )
    p.add_argument("--t-max", type=float, help="simulation horizon in ms (default 30)")
    p.add_argument("--bump", type=float, help="summed-weight bump for silent neurons (default 0.5)")
    p.add_argument(
        "--bump-hidden",
        type=float,
        help="summed-weight bump for silent hidden neurons (default 0.5)",
    )
    p.add_argument("--clip", type=float, help="clip gradients to this global norm (default off)")
    p.add_argument(
        "--sample-clip", type=float, help="clip each sample's gradient norm (default 0: off)"
    )
    p.add_argument(
        "--ema",
        type=float,
        help="per-step decay of the parameter average that is evaluated (0: none; default: task)",
    )
    p.add_argument(
        "--learn",
        metavar="GROUPS",
        help="comma-separated parameters to learn, any of weight, threshold, tau_mem, tau_syn, "
        "delay, bias, v_reset, t_ref (default: weight); each is projected back into its domain "
        "after every step (delays, t_ref >= 0; time constants >= 1e-3 ms; threshold >= 0.05 and "
        "v_reset at least 0.01 below it); the surrogate method cannot learn delay or t_ref",
    )
    p.add_argument(
        "--train-threshold",
        action="store_true",
        help="also learn the thresholds (= --learn ...,threshold)",
    )
    p.add_argument(
        "--delay",
        metavar="LOW,HIGH",
        help="initial synaptic delays in ms, drawn uniformly per synapse from [LOW, HIGH] (one "
        "value: every synapse; default 0)",
    )
    p.add_argument(
        "--tau-syn",
        type=float,
        metavar="MS",
        help="synaptic time constant of every neuron in ms (default 5; 0: delta synapses, V "
        "jumps by w)",
    )
    p.add_argument(
        "--split-seed",
        type=int,
        default=0,
        help="digits split / MNIST-1D validation split seed (default 0)",
    )
    p.add_argument("--threads", type=int, default=2, help="exact: threads over samples (default 2)")
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="exact: train data-parallel on the Dask cluster of this scheduler (e.g. "
        "tcp://host:8786; the dask extra): each minibatch's samples are computed on its workers, "
        "the step is taken here, with the same iterates as without it (same --threads)",
    )
    p.add_argument("--out-dir", default="train-output", help="output folder (default train-output)")
    p.add_argument(
        "--resume",
        metavar="CKPT",
        help="continue from a checkpoint .npz (its hyperparameters are used; --epochs sets the "
        "total to reach)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p

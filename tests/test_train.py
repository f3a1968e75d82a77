"""Training loop: a tiny run that learns (exact and surrogate), checkpoints, metrics, the CLI."""

from __future__ import annotations

import argparse
import csv
import json

import numpy as np
import pytest

import fpgrad
from fpgrad.cli import train as train_command
from fpgrad.data import load_yinyang
from fpgrad.discrete import Surrogate
from fpgrad.train import (
    Classifier,
    TrainConfig,
    evaluate,
    init_params,
    load_checkpoint,
    train,
)


@pytest.fixture(scope="module")
def tiny_yinyang():
    """200 training and 100 validation samples of the published Yin-Yang splits."""
    return load_yinyang("train").subset(np.arange(200)), load_yinyang("validation").subset(
        np.arange(100)
    )


TINY = TrainConfig(hidden=(30,), epochs=3, batch_size=20, lr=5e-3, seed=3, t_ref=1000.0)


@pytest.mark.parametrize("t_ref", [0.0, 1000.0])
def test_fused_batch_matches_per_sample_path(t_ref):
    """The training step's batch (ExactReverse's fused cross-entropy loop over a prepared split's
    subset) equals fpgrad.gradient per sample, averaged; with per-sample clipping too."""
    data = load_yinyang("train").subset(np.arange(24))
    model = Classifier(sizes=(5, 12, 3), t_ref=t_ref)
    params = init_params(model, np.random.default_rng(1))
    params = type(params)(params.weight, params.threshold * np.linspace(0.9, 1.1, 15))
    config = TrainConfig(tau0=1.5, tau1=8.0, alpha=2e-2)
    idx = np.arange(3, 24, 2)
    network = model.network(params)
    losses = config.losses(model, data.y[idx])
    method = fpgrad.ExactReverse()
    prepared = method.prepare(data.encode()).subset(idx)
    groups = ["weight", "threshold"]
    refs = [
        fpgrad.gradient(fpgrad.Problem(network, data.encode()[s], model.t_max), lo, params=groups)
        for s, lo in zip(idx, losses, strict=True)
    ]
    for clip in (0.0, 0.05):
        res = method.batch(network, prepared, model.t_max, losses, params=groups,
                           sample_clip=clip, n_threads=2)  # fmt: skip
        assert res.samples is None  # the fused path ran
        np.testing.assert_allclose(res.losses, [r.loss for r in refs], rtol=1e-13, atol=1e-13)
        norms = [np.linalg.norm(r.grad.flat()) for r in refs]
        scale = [min(1.0, clip / n) if clip > 0 else 1.0 for n in norms]
        for group in groups:
            want = np.mean(
                [s * getattr(r.grad, group) for s, r in zip(scale, refs, strict=True)], axis=0
            )
            assert np.abs(want).max() > 0
            np.testing.assert_allclose(getattr(res.grad, group), want, rtol=1e-10, atol=1e-13)
        if clip:
            assert np.linalg.norm(res.grad.flat()) <= clip + 1e-12
    first = [fpgrad._method.first_spike_matrix(r.result) for r in refs]
    np.testing.assert_array_equal(res.first_spike_time, np.stack(first))


def test_init_makes_neurons_fire():
    data = load_yinyang("validation").subset(np.arange(100))
    model = Classifier(sizes=(5, 120, 3), t_ref=1000.0)
    params = init_params(model, np.random.default_rng(0))
    res = fpgrad.ExactReverse().batch(
        model.network(params), data.encode(), model.t_max,
        TrainConfig().losses(model, data.y), params=[],
    )  # fmt: skip
    assert res.grad is None
    assert res.fired[:, :120].any(axis=0).mean() > 0.9  # hidden neurons fire on some sample
    assert res.fired[:, 120:].mean() > 0.9  # outputs fire on almost every sample


def test_tiny_training_learns(tiny_yinyang, tmp_path):
    train_set, val_set = tiny_yinyang
    result = train(TINY, train_set, val_set, out_dir=tmp_path, progress=False)
    losses = [row["train_loss"] for row in result.history]
    assert len(losses) == 3
    assert losses[-1] < losses[0]
    assert result.history[-1]["val_acc"] >= 0.55  # chance is 1/3
    # metrics: CSV and JSON, one row per epoch, with wall time
    with (tmp_path / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    for key in ("train_loss", "train_acc", "val_acc", "val_loss", "epoch_time_s"):
        assert all(float(r[key]) >= 0 for r in rows), key
    payload = json.loads((tmp_path / "metrics.json").read_text())
    assert payload["config"]["hidden"] == [30]
    assert [r["epoch"] for r in payload["epochs"]] == [1, 2, 3]
    ckpt = load_checkpoint(tmp_path / "checkpoint.npz")
    assert ckpt.epoch == 3
    assert [w.shape for w in ckpt.weights] == [(5, 30), (30, 3)]
    np.testing.assert_array_equal(ckpt.params.weight, result.params.weight)
    assert (tmp_path / "best.npz").exists()


def test_test_split_is_evaluated_at_last_and_best_validation_epoch(tiny_yinyang, tmp_path):
    train_set, val_set = tiny_yinyang
    test_set = load_yinyang("test").subset(np.arange(60))
    result = train(TINY, train_set, val_set, test_set, out_dir=tmp_path, progress=False)
    val = [row["val_acc"] for row in result.history]
    assert result.best_epoch == int(np.argmax(val)) + 1  # first epoch of the best accuracy
    best = load_checkpoint(tmp_path / "best.npz")
    assert best.epoch == result.best_epoch
    method = fpgrad.ExactReverse()
    again = evaluate(
        method, result.model, best.params, method.prepare(test_set.encode()), test_set.y, TINY
    )
    assert result.test_best.accuracy == again.accuracy
    payload = json.loads((tmp_path / "metrics.json").read_text())
    assert payload["test_best_val"]["epoch"] == result.best_epoch
    assert payload["test_best_val"]["accuracy"] == result.test_best.accuracy
    assert payload["test"]["accuracy"] == result.test.accuracy


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_resume_continues_identically(tiny_yinyang, tmp_path, ema):
    """With parameter averaging the checkpoint holds the average and the iterate: both resume."""
    train_set, val_set = tiny_yinyang
    config = TrainConfig(**{**TINY.to_dict(), "hidden": (16,), "lr_decay": 0.9, "ema": ema})
    straight = train(config, train_set, val_set, out_dir=tmp_path / "a", progress=False)
    first = TrainConfig(**{**config.to_dict(), "hidden": (16,), "epochs": 2})
    train(first, train_set, val_set, out_dir=tmp_path / "b", progress=False)
    resumed = train(
        config,
        train_set,
        val_set,
        out_dir=tmp_path / "b",
        resume=tmp_path / "b" / "checkpoint.npz",
        progress=False,
    )
    np.testing.assert_array_equal(resumed.params.weight, straight.params.weight)
    drop = ("epoch_time_s", "eval_time_s")
    strip = [{k: v for k, v in r.items() if k not in drop} for r in straight.history]
    again = [{k: v for k, v in r.items() if k not in drop} for r in resumed.history]
    assert again == strip
    rows = json.loads((tmp_path / "b" / "metrics.json").read_text())["epochs"]
    assert [r["epoch"] for r in rows] == [1, 2, 3]


def test_parameter_average_is_evaluated(tiny_yinyang, tmp_path):
    """With ``ema``, the returned / checkpointed / validated params are the running average of
    the iterates (checked against an average recomputed from a method that records them)."""
    train_set, val_set = tiny_yinyang
    config = TrainConfig(**{**TINY.to_dict(), "hidden": (16,), "ema": 0.9})
    iterates = []

    class Recording(fpgrad.ExactReverse):
        """Records the weights of every training step's network (a user subclass of the
        method contract: the loop calls only ``prepare`` and ``batch``)."""

        def _batch(self, network, data, t_max, losses, params, *args):
            if params:
                iterates.append(network.weight.copy())
            return super()._batch(network, data, t_max, losses, params, *args)

    straight = train(
        config, train_set, val_set, method=Recording(), out_dir=tmp_path / "a", progress=False
    )
    ckpt = load_checkpoint(tmp_path / "a" / "checkpoint.npz")
    # Each step's iterate is the parameters the next step ran on; the last one is saved.
    steps = [*iterates[1:], ckpt.train_params.weight]
    expected = iterates[0]
    for k, w in enumerate(steps):
        decay = min(0.9, (1 + k) / (10 + k))  # the warm-up of the decay
        expected = decay * expected + (1 - decay) * w
    np.testing.assert_allclose(straight.params.weight, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(ckpt.params.weight, straight.params.weight)
    assert not np.allclose(ckpt.train_params.weight, ckpt.params.weight)
    method = fpgrad.ExactReverse()
    val = evaluate(
        method, straight.model, straight.params, method.prepare(val_set.encode()), val_set.y, TINY
    )
    assert val.accuracy == straight.history[-1]["val_acc"]
    with pytest.raises(ValueError, match="ema"):
        TrainConfig(ema=1.0)


def test_threshold_training_keeps_thresholds_positive(tiny_yinyang):
    train_set, _ = tiny_yinyang
    config = TrainConfig(**{**TINY.to_dict(), "hidden": (8,), "epochs": 1, "lr": 0.5})
    config = TrainConfig(**{**config.to_dict(), "hidden": (8,), "train_threshold": True})
    result = train(config, train_set.subset(np.arange(60)), progress=False)
    assert np.all(result.params.threshold >= 0.05)
    assert not np.allclose(result.params.threshold, 1.0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fpgrad")
    train_command.add_command(parser.add_subparsers(dest="command", required=True))
    return parser


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as exc:
        _parser().parse_args(["train", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--method", "--epochs", "--batch-size", "--lr", "--hidden", "--seed", "--resume"):
        assert flag in out
    args = _parser().parse_args(["train", "digits", "--method", "exact", "--epochs", "2"])
    assert (args.task, args.method, args.epochs) == ("digits", "exact", 2)


def test_cli_runs(tmp_path):
    out = tmp_path / "run"
    argv = ["train", "yinyang", "--epochs", "1", "--hidden", "4", "--t-max", "20"]
    args = _parser().parse_args([*argv, "--out-dir", str(out), "--no-progress", "--lr", "1e-3"])
    # keep the CLI run tiny: one epoch of the full training split is ~2 s on 2 threads
    assert args.func(args) == 0
    assert (out / "metrics.csv").exists() and (out / "checkpoint.npz").exists()
    assert json.loads((out / "metrics.json").read_text())["test"]["accuracy"] > 0
    bad = _parser().parse_args([*argv, "--ema", "1.5", "--out-dir", str(tmp_path / "bad")])
    assert bad.func(bad) == 2  # "ema: expected a decay in [0, 1)", no traceback


@pytest.mark.slow
def test_surrogate_tiny_training_learns(tiny_yinyang):
    train_set, val_set = tiny_yinyang
    method = Surrogate(dt=0.25, dtype="float32", batch_pad=TINY.batch_size)
    result = train(TINY, train_set, val_set, method=method, progress=False)
    losses = [row["train_loss"] for row in result.history]
    assert losses[-1] < losses[0]
    assert result.history[-1]["val_acc"] >= 0.55  # chance is 1/3


@pytest.mark.slow
def test_cli_surrogate(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "yinyang", "--method", "surrogate", "--epochs", "1", "--hidden", "4"]
    argv += ["--t-max", "20", "--dt", "0.5", "--surrogate", "sigmoid", "--width", "0.2"]
    args = _parser().parse_args([*argv, "--out-dir", str(out), "--no-progress"])
    # one epoch of the full training split on a 40-step grid: a few seconds
    assert args.func(args) == 0
    payload = json.loads((out / "metrics.json").read_text())
    assert payload["config"]["method"] == "surrogate-sigmoid-dt0.5"
    assert payload["test"]["accuracy"] > 0
    capsys.readouterr()
    args = _parser().parse_args(["train", "yinyang", "--dt", "0.1", "--width", "0.2"])
    assert args.func(args) == 2
    assert "--dt, --width: only with --method surrogate" in capsys.readouterr().err
    args = _parser().parse_args(["train", "yinyang", "--method", "surrogate", "--surrogate", "x"])
    assert args.func(args) == 2
    assert "unknown surrogate 'x'" in capsys.readouterr().err

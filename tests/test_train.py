"""Training loop: exact fast path, a tiny run that learns, checkpoints, metrics and the CLI."""

from __future__ import annotations

import argparse
import csv
import json

import numpy as np
import pytest

import fpgrad
from fpgrad.data import load_yinyang
from fpgrad.train import (
    Classifier,
    ExactMethod,
    GradientBatchMethod,
    LossConfig,
    MethodUnavailableError,
    TrainConfig,
    add_train_command,
    init_params,
    load_checkpoint,
    surrogate_method,
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
def test_fast_path_matches_gradient_batch(t_ref):
    data = load_yinyang("train").subset(np.arange(24))
    model = Classifier(sizes=(5, 12, 3), t_ref=t_ref)
    params = init_params(model, np.random.default_rng(1))
    params = type(params)(params.weight, params.threshold * np.linspace(0.9, 1.1, 15))
    loss = LossConfig(tau0=1.5, tau1=8.0, alpha=2e-2)
    idx = np.arange(3, 24, 2)
    fast, ref = ExactMethod(n_threads=2), GradientBatchMethod(fpgrad.ExactReverse(), n_threads=1)
    args = (model, params)
    a = fast.run(*args, fast.prepare(data.encode()), idx, data.y, loss, True)
    b = ref.run(*args, ref.prepare(data.encode()), idx, data.y, loss, True)
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(a.pred, b.pred)
    np.testing.assert_array_equal(a.fired, b.fired)
    assert np.abs(b.grad_weight).max() > 0
    np.testing.assert_allclose(a.grad_weight, b.grad_weight, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(a.grad_threshold, b.grad_threshold, rtol=1e-10, atol=1e-13)
    # per-sample clipping: same on both paths, and it does bound the mean gradient
    a = fast.run(*args, fast.prepare(data.encode()), idx, data.y, loss, True, 0.05)
    b = ref.run(*args, ref.prepare(data.encode()), idx, data.y, loss, True, 0.05)
    np.testing.assert_allclose(a.grad_weight, b.grad_weight, rtol=1e-10, atol=1e-13)
    assert np.sqrt(np.sum(a.grad_weight**2) + np.sum(a.grad_threshold**2)) <= 0.05 + 1e-12


def test_init_makes_neurons_fire():
    data = load_yinyang("validation").subset(np.arange(100))
    model = Classifier(sizes=(5, 120, 3), t_ref=1000.0)
    method = ExactMethod()
    res = method.run(
        model,
        init_params(model, np.random.default_rng(0)),
        method.prepare(data.encode()),
        np.arange(100),
        data.y,
        LossConfig(),
        False,
    )
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


def test_resume_continues_identically(tiny_yinyang, tmp_path):
    train_set, val_set = tiny_yinyang
    config = TrainConfig(**{**TINY.to_dict(), "hidden": (16,), "lr_decay": 0.9})
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


def test_threshold_training_keeps_thresholds_positive(tiny_yinyang):
    train_set, _ = tiny_yinyang
    config = TrainConfig(**{**TINY.to_dict(), "hidden": (8,), "epochs": 1, "lr": 0.5})
    config = TrainConfig(**{**config.to_dict(), "hidden": (8,), "train_threshold": True})
    result = train(config, train_set.subset(np.arange(60)), progress=False)
    assert np.all(result.params.threshold >= 0.05)
    assert not np.allclose(result.params.threshold, 1.0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fpgrad")
    add_train_command(parser.add_subparsers(dest="command", required=True))
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


def test_cli_runs_and_surrogate_is_clear(tmp_path, capsys):
    try:
        surrogate_method()
    except MethodUnavailableError as err:
        assert "not available yet" in str(err)
        args = _parser().parse_args(["train", "yinyang", "--method", "surrogate"])
        assert args.func(args) == 2
        assert "not available yet" in capsys.readouterr().err
    out = tmp_path / "run"
    argv = ["train", "yinyang", "--epochs", "1", "--hidden", "4", "--t-max", "20"]
    args = _parser().parse_args([*argv, "--out-dir", str(out), "--no-progress", "--lr", "1e-3"])
    # keep the CLI run tiny: one epoch of the full training split is ~2 s on 2 threads
    assert args.func(args) == 0
    assert (out / "metrics.csv").exists() and (out / "checkpoint.npz").exists()
    assert json.loads((out / "metrics.json").read_text())["test"]["accuracy"] > 0

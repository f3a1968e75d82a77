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
    SurrogateMethod,
    TrainConfig,
    add_train_command,
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


def test_test_split_is_evaluated_at_last_and_best_validation_epoch(tiny_yinyang, tmp_path):
    train_set, val_set = tiny_yinyang
    test_set = load_yinyang("test").subset(np.arange(60))
    result = train(TINY, train_set, val_set, test_set, out_dir=tmp_path, progress=False)
    val = [row["val_acc"] for row in result.history]
    assert result.best_epoch == int(np.argmax(val)) + 1  # first epoch of the best accuracy
    best = load_checkpoint(tmp_path / "best.npz")
    assert best.epoch == result.best_epoch
    method = ExactMethod()
    again = evaluate(
        method,
        result.model,
        best.params,
        method.prepare(test_set.encode()),
        test_set.y,
        TINY.loss,
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

    class Recording(ExactMethod):
        def run(self, model, params, data, index, labels, loss, with_grad, sample_clip=0.0):
            if with_grad:
                iterates.append(params)
            return super().run(model, params, data, index, labels, loss, with_grad, sample_clip)

    straight = train(
        config, train_set, val_set, method=Recording(), out_dir=tmp_path / "a", progress=False
    )
    ckpt = load_checkpoint(tmp_path / "a" / "checkpoint.npz")
    # Each step's iterate is the parameters the next step ran on; the last one is saved.
    steps = [*iterates[1:], ckpt.train_params]
    expected = iterates[0].weight
    for k, p in enumerate(steps):
        decay = min(0.9, (1 + k) / (10 + k))  # the warm-up of the decay
        expected = decay * expected + (1 - decay) * p.weight
    np.testing.assert_allclose(straight.params.weight, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(ckpt.params.weight, straight.params.weight)
    assert not np.allclose(ckpt.train_params.weight, ckpt.params.weight)
    method = ExactMethod()
    val = evaluate(
        method,
        straight.model,
        straight.params,
        method.prepare(val_set.encode()),
        val_set.y,
        TINY.loss,
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


# --- surrogate-gradient training (SurrogateMethod: batched JAX BPTT on the grid) ---

SURROGATE_MODEL = Classifier(sizes=(5, 12, 3), t_ref=2.0, t_max=20.0)  # bursts: resets count
SURROGATE_LOSS = LossConfig(tau0=1.5, tau1=8.0, alpha=2e-2)
SURROGATE_OPTIONS = {"dt": 0.2, "surrogate": "gaussian", "width": 0.3, "dtype": "float64"}


@pytest.fixture(scope="module")
def surrogate_case():
    """Three Yin-Yang samples, parameters with unequal thresholds, and each sample's surrogate
    gradient from ``fpgrad.gradient(..., method=fpgrad.discrete.Surrogate(...))``."""
    data = load_yinyang("train").subset(np.arange(12))
    params = init_params(SURROGATE_MODEL, np.random.default_rng(1))
    params = type(params)(params.weight, params.threshold * np.linspace(0.9, 1.1, 15))
    index = np.array([2, 7, 11])
    network = SURROGATE_MODEL.network(params)
    per_sample = fpgrad.discrete.Surrogate(
        **{k: v for k, v in SURROGATE_OPTIONS.items() if k != "dtype"}
    )
    outputs = [int(o) for o in SURROGATE_MODEL.outputs]
    refs = [
        fpgrad.gradient(
            fpgrad.Problem(network, data.encode()[s], SURROGATE_MODEL.t_max),
            fpgrad.FirstSpikeCrossEntropy(outputs, int(data.y[s]), tau0=1.5, tau1=8.0, alpha=2e-2),
            per_sample,
            params=["weight", "threshold"],
        )
        for s in index
    ]
    return data, params, index, refs


def _surrogate_run(case, with_grad=True, sample_clip=0.0, **options):
    data, params, index, _ = case
    method = SurrogateMethod(**{**SURROGATE_OPTIONS, **options})
    prepared = method.prepare(data.encode())
    return method.run(
        SURROGATE_MODEL, params, prepared, index, data.y, SURROGATE_LOSS, with_grad, sample_clip
    )


def test_surrogate_batch_equals_mean_of_per_sample_gradients(surrogate_case):
    """The batched, padded step (chunks of 2: the second holds one masked sample) is the mean of
    the per-sample ``fpgrad.gradient`` surrogate gradients: same float64 operations up to the
    order of the sums, so 1e-10 relative; this pins the mapping to the ``Params`` layout."""
    refs = surrogate_case[3]
    res = _surrogate_run(surrogate_case, batch_pad=2)
    np.testing.assert_allclose(res.loss, [r.loss for r in refs], rtol=1e-12)
    mean_w = np.mean([r.grad.weight for r in refs], axis=0)
    mean_th = np.mean([r.grad.threshold for r in refs], axis=0)
    assert np.abs(mean_w).max() > 1e-3 and np.abs(mean_th).max() > 1e-3
    np.testing.assert_allclose(
        res.grad_weight, mean_w, rtol=1e-10, atol=1e-12 * np.abs(mean_w).max()
    )
    np.testing.assert_allclose(
        res.grad_threshold, mean_th, rtol=1e-10, atol=1e-12 * np.abs(mean_th).max()
    )


def test_surrogate_padding_and_forward_pass(surrogate_case):
    """Padding with masked samples changes nothing (the gradient test above runs padded chunks;
    here the forward-only pass without padding gives the same losses); ``fired`` and ``pred`` are
    those of the grid simulation of ``fpgrad.discrete``."""
    data, params, index, _ = surrogate_case
    padded = _surrogate_run(surrogate_case, batch_pad=2)
    forward = _surrogate_run(surrogate_case, with_grad=False, batch_pad=3)
    assert forward.grad_weight is None and forward.grad_threshold is None
    np.testing.assert_allclose(forward.loss, padded.loss, rtol=1e-13)
    np.testing.assert_array_equal(forward.pred, padded.pred)
    np.testing.assert_array_equal(forward.fired, padded.fired)
    dp = fpgrad.discrete.discretize(
        SURROGATE_MODEL.network(params),
        SURROGATE_OPTIONS["dt"],
        batch=[data.encode()[s] for s in index],
        t_max=SURROGATE_MODEL.t_max,
    )
    out = fpgrad.discrete.simulate_discrete(dp)
    np.testing.assert_array_equal(padded.fired, np.asarray(out.raster).any(axis=1))
    first = np.asarray(out.first_spike_times(t_silent=SURROGATE_MODEL.t_max))[:, 12:]
    np.testing.assert_array_equal(padded.pred, np.argmin(first, axis=1))
    assert padded.fired.any() and not padded.fired.all()


def test_surrogate_sample_clip(surrogate_case):
    """``sample_clip`` scales each sample's gradient to norm <= clip before the mean."""
    refs = surrogate_case[3]
    norms = [np.sqrt(np.sum(r.grad.weight**2) + np.sum(r.grad.threshold**2)) for r in refs]
    clip = float(np.median(norms))  # clips one sample, leaves one, the median one at the edge
    res = _surrogate_run(surrogate_case, sample_clip=clip, batch_pad=2)
    scale = [min(1.0, clip / n) for n in norms]
    want_w = np.mean([s * r.grad.weight for s, r in zip(scale, refs, strict=True)], axis=0)
    want_th = np.mean([s * r.grad.threshold for s, r in zip(scale, refs, strict=True)], axis=0)
    assert not np.allclose(want_w, np.mean([r.grad.weight for r in refs], axis=0))
    np.testing.assert_allclose(res.grad_weight, want_w, rtol=1e-10, atol=1e-12 * clip)
    np.testing.assert_allclose(res.grad_threshold, want_th, rtol=1e-10, atol=1e-12 * clip)


def test_surrogate_options_are_checked(surrogate_case):
    for bad, match in (
        ({"surrogate": "nope"}, "unknown surrogate"),
        ({"dt": 0.0}, "dt"),
        ({"reset": "soft"}, "reset"),
        ({"dtype": "float16"}, "dtype"),
        ({"batch_pad": 0}, "batch_pad"),
    ):
        with pytest.raises(ValueError, match=match):
            SurrogateMethod(**bad)
    data, params, index, _ = surrogate_case
    with pytest.raises(TypeError, match="prepare"):
        SurrogateMethod().run(
            SURROGATE_MODEL,
            params,
            ExactMethod().prepare(data.encode()),
            index,
            data.y,
            SURROGATE_LOSS,
            False,
        )


def test_surrogate_tiny_training_learns(tiny_yinyang):
    train_set, val_set = tiny_yinyang
    method = SurrogateMethod(dt=0.25, batch_pad=TINY.batch_size)
    result = train(TINY, train_set, val_set, method=method, progress=False)
    losses = [row["train_loss"] for row in result.history]
    assert losses[-1] < losses[0]
    assert result.history[-1]["val_acc"] >= 0.55  # chance is 1/3


def test_cli_surrogate(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "yinyang", "--method", "surrogate", "--epochs", "1", "--hidden", "4"]
    argv += ["--t-max", "20", "--dt", "0.5", "--surrogate", "sigmoid", "--width", "0.2"]
    args = _parser().parse_args([*argv, "--out-dir", str(out), "--no-progress"])
    # one epoch of the full training split on a 40-step grid: a few seconds
    assert args.func(args) == 0
    payload = json.loads((out / "metrics.json").read_text())
    assert payload["config"]["method"] == "surrogate"
    assert payload["test"]["accuracy"] > 0
    capsys.readouterr()
    args = _parser().parse_args(["train", "yinyang", "--dt", "0.1", "--width", "0.2"])
    assert args.func(args) == 2
    assert "--dt, --width: only with --method surrogate" in capsys.readouterr().err
    args = _parser().parse_args(["train", "yinyang", "--method", "surrogate", "--surrogate", "x"])
    assert args.func(args) == 2
    assert "unknown surrogate 'x'" in capsys.readouterr().err

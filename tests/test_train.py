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


def test_run_does_not_depend_on_callers_x64_setting(tiny_yinyang, tmp_path):
    """The optimizer runs in float64 whatever ``jax_enable_x64`` says: the same run bit for bit
    (a float32 Adam state rounds the exact gradient and changes the trajectory within an epoch),
    and the checkpointed optimizer state is float64."""
    import jax

    train_set, val_set = tiny_yinyang
    config = TrainConfig(**{**TINY.to_dict(), "hidden": (16,), "epochs": 2})
    runs = []
    for x64 in (False, True):
        with jax.enable_x64(x64):
            runs.append(train(config, train_set, val_set, out_dir=tmp_path / str(x64),
                              progress=False))  # fmt: skip
    np.testing.assert_array_equal(runs[0].params.weight, runs[1].params.weight)
    leaves = load_checkpoint(tmp_path / "False" / "checkpoint.npz", n_inputs=5, n_classes=3)
    assert {np.asarray(x).dtype for x in leaves.opt_leaves if np.ndim(x)} == {np.dtype("float64")}


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
    assert payload["config"]["learn"] == ["weight"]  # the task's learned delays stay at the draw
    assert "keeps delay at the initial values" in capsys.readouterr().err
    args = _parser().parse_args(["train", "yinyang", "--dt", "0.1", "--width", "0.2"])
    assert args.func(args) == 2
    assert "--dt, --width: only with --method surrogate" in capsys.readouterr().err
    args = _parser().parse_args(["train", "yinyang", "--method", "surrogate", "--surrogate", "x"])
    assert args.func(args) == 2
    assert "unknown surrogate 'x'" in capsys.readouterr().err


# -- model 2: learning other parameter groups ---------------------------------------------------


def _initial(config: TrainConfig, n_inputs: int = 5, n_classes: int = 3):
    """The classifier and initial parameters a run of ``config`` starts from."""
    from fpgrad.train._loop import _model_for

    model = _model_for(config, n_inputs, n_classes)
    params = init_params(model, np.random.default_rng(config.seed), delay=config.delay)
    return model, params.holding(config.learn, model)


def test_learning_weights_and_delays(tiny_yinyang, tmp_path):
    """Delays drawn in [0, 2] ms are learned with the weights: the loss decreases, the delays
    move and stay >= 0, and the checkpoint holds them."""
    train_set, val_set = tiny_yinyang
    config = TrainConfig(**{**TINY.to_dict(), "learn": ("weight", "delay"), "delay": (0.0, 2.0)})
    assert config.learn == ("weight", "delay") and not config.train_threshold
    model, start = _initial(config)
    assert start.delay.min() >= 0 and 1.5 < start.delay.max() <= 2.0
    result = train(config, train_set, val_set, out_dir=tmp_path, progress=False)
    losses = [row["train_loss"] for row in result.history]
    assert losses[-1] < losses[0]
    assert result.history[-1]["val_acc"] >= 0.55
    delay = result.params.delay
    assert delay.shape == (model.n_synapses,) and np.all(delay >= 0)
    assert np.abs(delay - start.delay).max() > 1e-2  # learned
    np.testing.assert_array_equal(result.params.threshold, 1.0)  # not learned
    assert result.params.tau_mem is None  # the classifier's constant
    net = result.model.network(result.params)
    np.testing.assert_array_equal(net.delay, delay)
    ckpt = load_checkpoint(tmp_path / "checkpoint.npz")
    np.testing.assert_array_equal(ckpt.params.delay, delay)
    assert ckpt.config["learn"] == ["weight", "delay"] and ckpt.config["delay"] == [0.0, 2.0]


def test_delays_are_projected_at_zero(tiny_yinyang):
    """Small initial delays and a large step: many are pushed below 0 and clipped there."""
    train_set, _ = tiny_yinyang
    config = TrainConfig(
        **{**TINY.to_dict(), "hidden": (8,), "epochs": 1, "lr": 0.05, "delay": (0.0, 0.3)},
    )
    config = TrainConfig(**{**config.to_dict(), "hidden": (8,), "learn": "weight, delay"})
    result = train(config, train_set.subset(np.arange(100)), progress=False)
    assert np.all(result.params.delay >= 0)
    assert np.count_nonzero(result.params.delay == 0) > 0


def test_learning_threshold_time_constant_and_bias(tiny_yinyang):
    train_set, val_set = tiny_yinyang
    learn = ("weight", "threshold", "tau_mem", "bias")
    config = TrainConfig(**{**TINY.to_dict(), "learn": learn})
    assert config.learn == learn and config.train_threshold
    _, start = _initial(config)
    result = train(config, train_set, val_set, progress=False)
    losses = [row["train_loss"] for row in result.history]
    assert losses[-1] < losses[0]
    assert result.history[-1]["val_acc"] >= 0.55
    p = result.params
    for name in learn:
        assert not np.array_equal(getattr(p, name), getattr(start, name)), name
    assert np.all(p.threshold >= 0.05) and np.all(p.tau_mem >= 1e-3)
    assert p.delay is None and p.tau_syn is None and p.t_ref is None


def test_projection_keeps_every_group_in_its_domain():
    from fpgrad.train import project

    model = Classifier(sizes=(2, 3), v_reset=0.2)
    n = model.n_neurons
    bad = fpgrad.train.Params(
        weight=np.array([-5.0, 1.0, 2.0, 3.0, -1.0, 0.5]),
        threshold=np.array([0.01, 0.15, 2.0]),
        tau_mem=np.array([-1.0, 1e-9, 10.0]),
        tau_syn=np.array([0.0, -2.0, 5.0]),
        delay=np.array([-0.5, 0.0, 1.0, -1e-12, 3.0, 0.1]),
        bias=np.array([-3.0, 0.0, 3.0]),
        v_reset=np.array([0.5, 0.2, -1.0]),
        t_ref=np.array([-1.0, 0.0, 2.0]),
    )
    # tau_syn[0] was 0 (a delta-synapse neuron) before the step and stays 0
    before = bad.replace(tau_syn=np.array([0.0, 5.0, 5.0]))
    out = project(bad, model, fpgrad.train.LEARNABLE, previous=before)
    np.testing.assert_array_equal(out.weight, bad.weight)
    np.testing.assert_array_equal(out.bias, bad.bias)
    np.testing.assert_array_equal(out.threshold, [0.05, 0.15, 2.0])
    np.testing.assert_allclose(out.v_reset, [0.04, 0.14, -1.0])
    np.testing.assert_array_equal(out.tau_mem, [1e-3, 1e-3, 10.0])
    np.testing.assert_array_equal(out.tau_syn, [0.0, 1e-3, 5.0])
    np.testing.assert_array_equal(out.delay, [0.0, 0.0, 1.0, 0.0, 3.0, 0.1])
    np.testing.assert_array_equal(out.t_ref, [0.0, 0.0, 2.0])
    model.network(out)  # a valid network
    # threshold learned, v_reset fixed (0.2): the threshold stays above it
    only = project(bad.replace(v_reset=None), model, ("threshold",))
    np.testing.assert_allclose(only.threshold, [0.21, 0.21, 2.0])
    assert only.v_reset is None and only.tau_mem is bad.tau_mem  # other groups untouched
    # v_reset learned, threshold fixed
    fixed = project(bad.replace(threshold=np.ones(n)), model, ("v_reset",))
    np.testing.assert_allclose(fixed.v_reset, [0.5, 0.2, -1.0])
    fixed = project(bad.replace(threshold=np.full(n, 0.3)), model, ("v_reset",))
    np.testing.assert_allclose(fixed.v_reset, [0.29, 0.2, -1.0])


def test_learn_settings_are_checked():
    with pytest.raises(ValueError, match="unknown parameter 'weights'; valid ones: weight, "):
        TrainConfig(learn=("weights",))
    with pytest.raises(ValueError, match="input_time"):
        TrainConfig(learn="weight,input_time")
    with pytest.raises(ValueError, match="nothing to learn"):
        TrainConfig(learn=())
    with pytest.raises(ValueError, match="delta synapses"):
        TrainConfig(tau_syn=0.0, learn=("weight", "tau_syn"))
    with pytest.raises(ValueError, match="delay"):
        TrainConfig(delay=(2.0, 1.0))
    with pytest.raises(ValueError, match="v_reset"):
        TrainConfig(v_reset=1.0)
    config = TrainConfig(learn="t_ref,weight", train_threshold=True, delay=1.5)
    assert config.learn == ("weight", "threshold", "t_ref") and config.delay == (1.5, 1.5)
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert TrainConfig(learn=("weight", "threshold")).train_threshold
    # a config of before model 2 (no learn): weights, and thresholds with train_threshold
    old = {k: v for k, v in TrainConfig().to_dict().items() if k not in ("learn", "delay")}
    assert TrainConfig.from_dict({**old, "train_threshold": True}).learn == ("weight", "threshold")
    from fpgrad.train import check_learn

    surrogate = Surrogate(dt=0.5, batch_pad=4)
    check_learn(TrainConfig(learn=("weight", "tau_mem", "bias")), surrogate)
    with pytest.raises(ValueError, match="surrogate method cannot learn delay, t_ref"):
        check_learn(TrainConfig(learn=("weight", "delay", "t_ref")), surrogate)
    with pytest.raises(ValueError, match="cannot learn delay"):
        train(TrainConfig(learn=("delay",)), load_yinyang("validation").subset(np.arange(4)),
              method=surrogate, progress=False)  # fmt: skip
    # learnable_by: the surrogate keeps delay and t_ref at their draw, an exact method all
    from fpgrad.train import TASKS, learnable_by

    wanted = TrainConfig(learn=("weight", "delay", "tau_mem", "t_ref"), delay=(0.0, 2.0))
    kept, fixed = learnable_by(wanted, surrogate)
    assert kept.learn == ("weight", "tau_mem") and fixed == ("delay", "t_ref")
    assert kept.delay == (0.0, 2.0)  # the draw itself is unchanged
    check_learn(kept, surrogate)
    assert learnable_by(wanted, fpgrad.ExactReverse()) == (wanted, ())
    assert learnable_by(kept, surrogate) == (kept, ())
    assert TASKS["yinyang"]["learn"] == ("weight", "delay")  # the task default learns delays


def test_delta_synapse_classifier_initialises_with_unit_psp_peak():
    model = Classifier(sizes=(5, 12, 3), tau_syn=0.0, t_ref=1000.0)
    params = init_params(model, np.random.default_rng(0))
    net = model.network(params)
    np.testing.assert_array_equal(net.tau_syn, 0.0)
    # K = 1: the mean first-layer weight is gain * theta / n_inputs = 3 / 5
    assert abs(params.weight[:60].mean() - 0.6) < 0.3


def test_cli_learn_options(tmp_path, capsys):
    args = _parser().parse_args(
        ["train", "digits", "--learn", "weight,delay", "--delay", "0,10", "--tau-syn", "0"]
    )
    assert (args.learn, args.delay, args.tau_syn) == ("weight,delay", "0,10", 0.0)
    for argv, expected in (
        (["--learn", "weight,speed"], "learn: unknown parameter 'speed'; valid ones: weight, "
         "threshold, tau_mem, tau_syn, delay, bias, v_reset, t_ref"),
        (["--learn", ""], "learn: nothing to learn"),
        (["--delay", "1,x"], "--delay: expected LOW,HIGH or one delay in ms, got '1,x'"),
        (["--delay", "3,1"], "delay: expected finite 0 <= low <= high"),
        (["--tau-syn", "0", "--learn", "tau_syn"], "delta synapses"),
        (["--method", "surrogate", "--learn", "weight,delay"], "cannot learn delay"),
        (["--method", "surrogate", "--learn", "t_ref"], "cannot learn t_ref"),
    ):  # fmt: skip
        args = _parser().parse_args(["train", "yinyang", *argv, "--out-dir", str(tmp_path)])
        assert args.func(args) == 2, argv
        out, err = capsys.readouterr()
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("fpgrad: error: "), err
        assert expected in lines[0] and out == ""
    assert not any(tmp_path.iterdir())  # refused before anything ran
    with pytest.raises(SystemExit):
        _parser().parse_args(["train", "--help"])
    out = capsys.readouterr().out
    assert "--learn" in out and "--delay" in out and "--tau-syn" in out


def test_cli_trains_delays(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "yinyang", "--epochs", "1", "--hidden", "4", "--t-max", "20"]
    argv += ["--learn", "weight,delay,bias", "--delay", "0,3", "--no-progress"]
    args = _parser().parse_args([*argv, "--out-dir", str(out)])
    assert args.func(args) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["config"]["learn"] == ["weight", "delay", "bias"]
    ckpt = load_checkpoint(out / "checkpoint.npz")
    assert ckpt.params.delay is not None and np.all(ckpt.params.delay >= 0)
    assert ckpt.params.bias is not None and ckpt.config["delay"] == [0.0, 3.0]


# -- MNIST-1D: a temporal task (level-crossing inputs, learned delays) --------------------------


def test_delay_lr_scales_the_delay_step_only():
    """Adam's first step is -lr sign(g) per parameter: with delay_lr the delays move by
    delay_lr instead, the weights still by lr."""
    import jax
    import jax.numpy as jnp

    from fpgrad.train import make_optimizer
    from fpgrad.train._loop import float64

    config = TrainConfig(lr=1e-3, lr_decay=1.0, learn=("weight", "delay"), delay_lr=0.25)
    grads = {"weight": jnp.array([2.0, -3.0]), "delay": jnp.array([-1.0, 4.0])}
    with jax.numpy_dtype_promotion("standard"), float64():  # as the training loop runs it
        opt = make_optimizer(config, steps_per_epoch=10)
        updates, _ = opt.update(grads, opt.init(grads), grads)
    np.testing.assert_allclose(updates["weight"], [-1e-3, 1e-3], rtol=1e-6)
    np.testing.assert_allclose(updates["delay"], [0.25, -0.25], rtol=1e-6)
    with pytest.raises(ValueError, match="delay_lr"):
        TrainConfig(delay_lr=-1.0)


def test_mnist1d_task_defaults_build_the_temporal_network():
    from fpgrad.train import TASKS, load_task

    task = load_task("mnist1d")
    assert (len(task.train), len(task.validation), len(task.test)) == (3601, 399, 1000)
    config = TrainConfig(**task.defaults)
    assert config.learn == ("weight", "delay") and config.delay_lr > 0
    assert config.delay[1] > 0 and config.t_ref == 0.0
    # the horizon leaves room after the last input event for the outputs to decide
    assert config.t_max > task.train.duration + 2 * config.tau_syn
    assert task.defaults == TASKS["mnist1d"]


def test_cli_mnist1d_trains_delays(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "mnist1d", "--epochs", "1", "--hidden", "4", "--no-progress"]
    args = _parser().parse_args([*argv, "--out-dir", str(out)])
    assert args.func(args) == 0  # one epoch of 3601 sequences through 49-4-10: a few seconds
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["task"] == "mnist1d" and summary["config"]["learn"] == ["weight", "delay"]
    assert summary["test_accuracy"] is not None
    ckpt = load_checkpoint(out / "checkpoint.npz")
    n_in = 2 * 24 + 1
    assert ckpt.params.delay.shape == (n_in * 4 + 4 * 10,) and np.all(ckpt.params.delay >= 0)
    start = init_params(
        Classifier((n_in, 4, 10), tau_syn=5.0, tau_mem=10.0, t_ref=0.0, t_max=60.0),
        np.random.default_rng(0),
        delay=(0.0, 20.0),
    ).delay
    assert np.max(np.abs(ckpt.params.delay - start)) > 0.05  # delays learned at delay_lr
    with (out / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1 and float(rows[0]["epoch_time_s"]) > 0


@pytest.mark.slow
def test_cli_mnist1d_surrogate_keeps_delays_fixed(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "mnist1d", "--method", "surrogate", "--epochs", "1", "--hidden", "4"]
    args = _parser().parse_args([*argv, "--dt", "0.5", "--out-dir", str(out), "--no-progress"])
    assert args.func(args) == 0
    captured = capsys.readouterr()
    assert "keeps delay at the initial values" in captured.err
    summary = json.loads(captured.out.splitlines()[-1])
    assert summary["config"]["learn"] == ["weight"]
    ckpt = load_checkpoint(out / "checkpoint.npz")
    assert ckpt.params.delay is not None and ckpt.params.delay.max() > 10.0  # drawn, kept
    args = _parser().parse_args([*argv, "--learn", "weight,delay", "--out-dir", str(out)])
    assert args.func(args) == 2  # an explicit --learn delay is refused, as for every task
    assert "cannot learn delay" in capsys.readouterr().err


def test_mnist1d_step_gradient_is_exact():
    """The task's training step on level-crossing inputs (many spikes per channel) with drawn
    delays and multi-spike hidden neurons: the fused batch equals fpgrad.gradient per sample,
    and the delay and weight gradients of one sample agree with central differences."""
    from fpgrad.data import load_mnist1d
    from fpgrad.testing import DEFAULT_ATOL, DEFAULT_RTOL, finite_difference

    data = load_mnist1d("validation").with_coding(levels=6).subset(np.arange(6))
    model = Classifier(sizes=(data.n_inputs(), 5, 10), t_ref=0.0, t_max=50.0)
    params = init_params(model, np.random.default_rng(4), gain=(4.0, 6.0), delay=(0.0, 15.0))
    network = model.network(params)
    inputs = data.encode()
    assert max(t.size for t in inputs[0]) >= 2  # channels spike more than once
    config = TrainConfig(alpha=0.0)
    losses = config.losses(model, data.y)
    groups = ["weight", "threshold", "delay"]
    refs = [
        fpgrad.gradient(fpgrad.Problem(network, inputs[s], model.t_max), lo, params=groups)
        for s, lo in enumerate(losses)
    ]
    method = fpgrad.ExactReverse()
    res = method.batch(network, method.prepare(inputs), model.t_max, losses, params=groups,
                       n_threads=1)  # fmt: skip
    assert res.samples is None  # the fused path ran
    for group in groups:
        want = np.mean([getattr(r.grad, group) for r in refs], axis=0)
        assert np.abs(want).max() > 0
        np.testing.assert_allclose(getattr(res.grad, group), want, rtol=1e-10, atol=1e-13)
    s = int(np.argmax([np.abs(r.grad.delay).max() for r in refs]))
    problem = fpgrad.Problem(network, inputs[s], model.t_max)
    fd = finite_difference(problem, losses[s], params=["weight", "delay"])
    for group in ("weight", "delay"):
        ref, got = getattr(fd.grad, group), getattr(refs[s].grad, group)
        assert np.all(np.isfinite(ref)) and np.abs(ref).max() > 1e-3, group
        assert np.max(np.abs(got - ref)) <= DEFAULT_ATOL + DEFAULT_RTOL * np.abs(ref).max(), group

"""Checkpoints: malformed, foreign or mismatched files give one ProblemError naming the file and
the fault (never a traceback, never an unpickled object); good ones load and resume."""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from fpgrad import ProblemError
from fpgrad.cli import main
from fpgrad.data import load_yinyang
from fpgrad.train import TrainConfig, load_checkpoint, train

CONFIG = TrainConfig(hidden=(8,), epochs=1, batch_size=20, lr=5e-3, seed=3, t_ref=1000.0, ema=0.9)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A real checkpoint of a one-epoch 5-8-3 run (with averaging: both parameter sets)."""
    train_set = load_yinyang("train").subset(np.arange(60))
    val_set = load_yinyang("validation").subset(np.arange(30))
    out = tmp_path_factory.mktemp("run")
    train(CONFIG, train_set, val_set, out_dir=out, progress=False)
    path = out / "checkpoint.npz"
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return SimpleNamespace(
        train=train_set, val=val_set, path=path, raw=path.read_bytes(), arrays=arrays
    )


def _problem(path: Path, **kwargs) -> str:
    """The message of the ProblemError that loading ``path`` raises (one line, naming it)."""
    with pytest.raises(ProblemError) as exc:
        load_checkpoint(path, **kwargs)
    msg = str(exc.value)
    assert str(path) in msg
    assert "\n" not in msg
    return msg


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _rewrite(run, tmp_path: Path, name: str, **changes) -> Path:
    """The run's checkpoint with arrays replaced (``None``: removed) or added."""
    arrays = dict(run.arrays)
    for key, value in changes.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def _config(run, **changes) -> np.ndarray:
    config = json.loads(str(run.arrays["config"]))
    return np.array(json.dumps({**config, **changes}))


def _same(a, b) -> bool:
    return (
        a.epoch == b.epoch
        and a.config == b.config
        and a.rng_state == b.rng_state
        and np.array_equal(a.params.weight, b.params.weight)
        and np.array_equal(a.params.threshold, b.params.threshold)
        and np.array_equal(a.train_params.weight, b.train_params.weight)
        and np.array_equal(a.train_params.threshold, b.train_params.threshold)
        and len(a.opt_leaves) == len(b.opt_leaves)
        and all(np.array_equal(x, y) for x, y in zip(a.opt_leaves, b.opt_leaves, strict=True))
        and all(np.array_equal(x, y) for x, y in zip(a.weights, b.weights, strict=True))
    )


def test_good_checkpoint_loads(run):
    ckpt = load_checkpoint(run.path, n_inputs=5, n_classes=3)
    assert ckpt.epoch == 1
    assert [w.shape for w in ckpt.weights] == [(5, 8), (8, 3)]
    assert ckpt.params.threshold.shape == (11,)
    assert ckpt.train_params is not None
    assert TrainConfig.from_dict(ckpt.config).hidden == (8,)


def test_empty_file(run, tmp_path):
    assert "empty file" in _problem(_write(tmp_path, "empty.npz", b""))


@pytest.mark.parametrize("fraction", [0.0005, 0.01, 0.1, 0.5, 0.9, 0.999])
def test_truncated(run, tmp_path, fraction):
    n = max(1, int(len(run.raw) * fraction))
    msg = _problem(_write(tmp_path, f"trunc{n}.npz", run.raw[:n]))
    assert "truncated" in msg or "not an .npz" in msg


def test_truncated_by_one_byte_and_the_tail_only(run, tmp_path):
    assert "truncated" in _problem(_write(tmp_path, "a.npz", run.raw[:-1]))
    assert "truncated archive (3 bytes)" in _problem(_write(tmp_path, "c.npz", run.raw[:3]))
    assert "not an .npz" in _problem(_write(tmp_path, "b.npz", run.raw[100:]))


def test_random_bytes(tmp_path):
    noise = np.random.default_rng(0).bytes(5000)
    assert "not a zip archive" in _problem(_write(tmp_path, "noise.npz", noise))
    msg = _problem(_write(tmp_path, "pk-noise.npz", b"PK\x03\x04" + noise))
    assert "damaged or truncated archive" in msg


def test_flipped_bits(run, tmp_path):
    """A flipped bit inside a zip may still load (the zip CRCs cover the data, not every header
    field): then it loads the original data or resuming from it works or fails cleanly."""
    good = load_checkpoint(run.path)
    rng = np.random.default_rng(1)
    offsets = sorted({*range(0, len(run.raw), 61), *rng.integers(0, len(run.raw), 40).tolist()})
    outcomes = {"refused": 0, "same": 0, "differs": 0}
    for offset in offsets:
        for bit in range(8):
            data = bytearray(run.raw)
            data[offset] ^= 1 << bit
            path = _write(tmp_path, "flip.npz", bytes(data))
            try:
                ckpt = load_checkpoint(path)
            except ProblemError as err:
                assert str(path) in str(err)
                outcomes["refused"] += 1
                continue
            if _same(ckpt, good):
                outcomes["same"] += 1
                continue
            outcomes["differs"] += 1
            try:
                train(CONFIG, run.train, run.val, resume=path, progress=False)
            except ProblemError:
                pass
    assert outcomes["refused"] > 0.8 * len(offsets) * 8
    assert outcomes["same"] > 0  # e.g. a flipped bit in a member's timestamp


def test_a_data_bit_flip_is_caught_by_the_crc(run, tmp_path):
    start = run.raw.index(b"\x93NUMPY", run.raw.index(b"W0.npy"))
    data = bytearray(run.raw)
    data[start + 200] ^= 0x10  # inside W0's values
    assert "Bad CRC-32 for file 'W0.npy'" in _problem(_write(tmp_path, "crc.npz", bytes(data)))


def test_foreign_npz(tmp_path):
    path = tmp_path / "foreign.npz"
    np.savez(path, a=np.arange(3), b=np.ones((2, 2)))
    msg = _problem(path)
    assert "not an fpgrad checkpoint" in msg and "weight" in msg and "it holds: a, b" in msg


def test_single_npy_array(tmp_path):
    path = tmp_path / "array.npy"
    np.save(path, np.arange(4.0))
    assert "a single .npy array" in _problem(path)


def test_zip_of_other_files(tmp_path):
    path = tmp_path / "notes.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert "'readme.txt' is not a .npy array" in _problem(path)


def _unpickled(marker: str) -> None:
    Path(marker).write_text("unpickled")


class _Trap:
    """Unpickling this writes ``marker``: a checkpoint must never be unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return _unpickled, (self.marker,)


@pytest.mark.parametrize("key", ["config", "opt_1", "extra"])
def test_object_array_is_refused_without_unpickling(run, tmp_path, key):
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(_Trap(probe)))
    assert probe.exists()  # the trap works when unpickled
    marker = tmp_path / "marker"
    trap = np.empty(1, dtype=object)
    trap[0] = _Trap(marker)
    path = _rewrite(run, tmp_path, f"pickle-{key}.npz", **{key: trap})
    msg = _problem(path)
    assert f"array {key!r} holds Python objects" in msg and "never loaded" in msg
    assert not marker.exists()


@pytest.mark.parametrize(
    ("name", "change", "expected"),
    [
        ("W0-reshaped", lambda a: {"W0": a["W0"].reshape(8, 5)}, "expected (inputs, 8) for"),
        ("W1-transposed", lambda a: {"W1": a["W1"].T.copy()}, "(3, 8), expected (8, classes)"),
        ("weight-2d", lambda a: {"weight": a["weight"].reshape(8, 8)}, "weight: expected a 1-d"),
        ("threshold-short", lambda a: {"threshold": a["threshold"][:-1]}, "threshold has 10"),
        ("opt-reshaped", lambda a: {"opt_1": a["opt_1"].reshape(8, 8)}, "opt_1 is float"),
        ("opt-extra", lambda a: {"opt_4": a["opt_1"]}, "unexpected arrays opt_4"),
        ("opt-missing", lambda a: {"opt_3": None}, "no opt_3"),
        (
            "n-opt-short",
            lambda a: {"n_opt": np.int64(2), "opt_2": None, "opt_3": None},
            "the optimizer state has 2 arrays",
        ),
        ("n-layers", lambda a: {"n_layers": np.int64(3), "W2": a["W1"]}, "3 weight matrices"),
        ("epoch-float", lambda a: {"epoch": np.float64(1.0)}, "epoch: expected an integer"),
        ("epoch-negative", lambda a: {"epoch": np.int64(-1)}, "epoch: -1 is out of range"),
        ("weight-float32", lambda a: {"weight": a["weight"].astype(np.float32)}, "float64"),
        ("nan", lambda a: {"W0": np.where(a["W0"] > 0, np.nan, a["W0"])}, "W0: non-finite"),
        ("inf-opt", lambda a: {"opt_2": a["opt_2"] + np.inf}, "opt_2: non-finite"),
        ("flat-differs", lambda a: {"weight": a["weight"] + 1.0}, "differ from the flat"),
        ("threshold-zero", lambda a: {"threshold": 0 * a["threshold"]}, "must be > 0"),
        ("no-iterate", lambda a: {"train_weight": None}, "train_weight"),
        ("no-iterate-at-all", lambda a: {"train_weight": None, "train_threshold": None}, "ema"),
        ("config-bytes", lambda a: {"config": np.frombuffer(b"{}", np.uint8)}, "config: expected"),
        ("config-broken", lambda a: {"config": np.array('{"hidden": [8')}, "not valid JSON"),
        ("config-list", lambda a: {"config": np.array("[8]")}, "expected a JSON object"),
        ("config-foreign", lambda a: {"config": np.array('{"lr": 1}')}, "no 'hidden'"),
        ("rng-broken", lambda a: {"rng_state": np.array('{"bit_generator": "MT"}')}, "PCG64"),
        (
            "rng-bad-state",
            lambda a: {"rng_state": np.array('{"bit_generator": "PCG64", "state": 3}')},
            "rng_state: not a valid PCG64 state",
        ),
    ],
)
def test_inconsistent_arrays(run, tmp_path, name, change, expected):
    path = _rewrite(run, tmp_path, f"{name}.npz", **change(run.arrays))
    assert expected in _problem(path)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"hidden": [16]}, "W0 has shape (5, 8), expected (inputs, 16) for hidden = [16]"),
        ({"hidden": [8, 4]}, "2 weight matrices, but the stored config's hidden = [8, 4]"),
        ({"hidden": "8"}, "config: hidden = '8' is not valid"),
        ({"lr": float("nan")}, "config: lr = nan is not valid"),
        ({"batch_size": 0}, "config: batch_size = 0"),
        ({"ema": 1.5}, "ema: expected a decay in [0, 1)"),
        ({"tau_mem": -1.0}, "tau_mem must be > 0"),
        ({"optimizer": "lion"}, "optimizer: expected one of"),
        ({"optimizer": "sgd"}, "the optimizer state has 4 arrays, the stored config's"),
        ({"train_threshold": True}, "the optimizer state has 4 arrays"),
        ({"init_gain": [1.0]}, "init_gain has 1 values, expected 2"),
    ],
)
def test_config_inconsistent_with_arrays(run, tmp_path, changes, expected):
    """The stored config decides the network: arrays of another shape are refused."""
    path = _rewrite(run, tmp_path, "config.npz", config=_config(run, **changes))
    assert expected in _problem(path)


def test_checkpoint_of_another_task_is_refused(run):
    msg = _problem(run.path, n_inputs=65, n_classes=10)
    assert "5-8-3 has 5 inputs and 3 classes, the data has 65 inputs and 10 classes" in msg
    with pytest.raises(ProblemError, match="the data has 4 inputs and 3 classes"):
        train(
            CONFIG,
            run.train,
            run.val,
            resume=run.path,
            encode=lambda ds: [x[:-1] for x in ds.encode()],
            progress=False,
        )


def test_resume_uses_the_checkpoint_network(run, tmp_path):
    """A config of another hidden size given with ``resume`` is overridden by the checkpoint's
    (documented: the checkpoint's hyperparameters are used), so its weights always fit."""
    other = TrainConfig(**{**CONFIG.to_dict(), "hidden": (4,), "epochs": 2})
    result = train(other, run.train, run.val, resume=run.path, progress=False)
    assert result.model.sizes == (5, 8, 3)
    assert [r["epoch"] for r in result.history] == [2]


def test_damaged_best_npz_on_resume(run, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "best.npz").write_bytes(run.raw[: len(run.raw) // 2])
    with pytest.raises(ProblemError, match=r"best\.npz: damaged or truncated"):
        train(CONFIG, run.train, run.val, out_dir=out, resume=run.path, progress=False)


def test_missing_file_stays_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "nothing.npz")


@pytest.mark.parametrize("kind", ["empty", "truncated", "noise", "foreign", "pickle", "reshaped"])
def test_cli_resume_from_a_bad_checkpoint(run, tmp_path, capsys, kind):
    bad = tmp_path / f"{kind}.npz"
    if kind == "empty":
        bad.write_bytes(b"")
    elif kind == "truncated":
        bad.write_bytes(run.raw[: len(run.raw) // 3])
    elif kind == "noise":
        bad.write_bytes(np.random.default_rng(2).bytes(3000))
    elif kind == "foreign":
        np.savez(bad, x=np.zeros(3))
    elif kind == "pickle":
        trap = np.empty(1, dtype=object)
        trap[0] = _Trap(tmp_path / "marker")
        _rewrite(run, tmp_path, bad.name, config=trap)
    else:
        _rewrite(run, tmp_path, bad.name, W0=run.arrays["W0"].reshape(8, 5))
    argv = ["train", "yinyang", "--resume", str(bad), "--epochs", "1", "--hidden", "4"]
    assert main([*argv, "--no-progress", "--out-dir", str(tmp_path / "out")]) == 2
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"fpgrad: error: checkpoint {bad}: ")
    assert "Traceback" not in err and out == ""
    assert not (tmp_path / "marker").exists()


def test_cli_resume_with_another_task(run, tmp_path, capsys):
    argv = ["train", "digits", "--resume", str(run.path), "--epochs", "2", "--no-progress"]
    assert main([*argv, "--out-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("fpgrad: error: checkpoint ")
    assert "has 5 inputs and 3 classes, the data has 65 inputs and 10 classes" in err[0]


# -- model 2: learned groups other than weights and thresholds --------------------------------

MODEL2 = TrainConfig(
    **{
        **CONFIG.to_dict(),
        "hidden": (8,),
        "epochs": 2,
        "t_ref": 2.0,
        "delay": (0.0, 2.0),
        "v_reset": -0.2,
        "learn": ("weight", "threshold", "tau_mem", "tau_syn", "delay", "bias", "v_reset", "t_ref"),
    }
)


@pytest.fixture(scope="module")
def model2(run, tmp_path_factory):
    """A one-epoch run learning every group, resumed for a second epoch, and a straight
    two-epoch run (with averaging: both parameter sets hold every group)."""
    out = tmp_path_factory.mktemp("model2")
    straight = train(MODEL2, run.train, run.val, out_dir=out / "a", progress=False)
    first = TrainConfig(**{**MODEL2.to_dict(), "hidden": (8,), "epochs": 1})
    train(first, run.train, run.val, out_dir=out / "b", progress=False)
    path = out / "epoch1.npz"  # the resumed run overwrites b/checkpoint.npz
    path.write_bytes((out / "b" / "checkpoint.npz").read_bytes())
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    resumed = train(MODEL2, run.train, run.val, out_dir=out / "b", resume=path, progress=False)
    return SimpleNamespace(
        path=path, arrays=arrays, straight=straight, resumed=resumed, train=run.train, val=run.val
    )


def test_round_trip_of_every_learned_group(model2):
    ckpt = load_checkpoint(model2.path, n_inputs=5, n_classes=3)
    groups = ("weight", "threshold", "tau_mem", "tau_syn", "delay", "bias", "v_reset", "t_ref")
    assert ckpt.config["learn"] == list(groups)
    assert set(ckpt.params.arrays()) == set(groups) == set(ckpt.train_params.arrays())
    for name in groups:
        np.testing.assert_array_equal(getattr(ckpt.params, name), model2.arrays[name])
        np.testing.assert_array_equal(
            getattr(ckpt.train_params, name), model2.arrays[f"train_{name}"]
        )
    assert ckpt.params.delay.shape == (5 * 8 + 8 * 3,) and np.all(ckpt.params.delay >= 0)
    assert np.all(ckpt.params.v_reset < ckpt.params.threshold)
    # adam + lr schedule: count, mu and nu of each of the 8 groups, the schedule's count
    assert len(ckpt.opt_leaves) == 2 + 2 * len(groups)
    # resuming continues exactly where the straight run went
    for name in groups:
        np.testing.assert_array_equal(
            getattr(model2.resumed.params, name), getattr(model2.straight.params, name)
        )
    drop = ("epoch_time_s", "eval_time_s")
    assert [{k: v for k, v in r.items() if k not in drop} for r in model2.resumed.history] == [
        {k: v for k, v in r.items() if k not in drop} for r in model2.straight.history
    ]


def test_checkpoint_from_before_model2_loads_and_resumes(run, tmp_path):
    """Checkpoints written before model 2 have the same arrays and no learn / delay / bias /
    v_reset in their config: they load as weight(-and-threshold) runs and resume."""
    config = json.loads(str(run.arrays["config"]))
    old = {k: v for k, v in config.items() if k not in ("learn", "delay", "bias", "v_reset")}
    path = _rewrite(run, tmp_path, "old.npz", config=np.array(json.dumps(old)))
    ckpt = load_checkpoint(path, n_inputs=5, n_classes=3)
    assert TrainConfig.from_dict(ckpt.config).learn == ("weight",)
    assert ckpt.params.delay is None and ckpt.train_params.delay is None
    again = TrainConfig(**{**CONFIG.to_dict(), "hidden": (8,), "epochs": 2})
    result = train(again, run.train, run.val, resume=path, progress=False)
    assert [r["epoch"] for r in result.history] == [2]
    thresholds = _rewrite(
        run, tmp_path, "old-th.npz", config=np.array(json.dumps({**old, "train_threshold": True}))
    )
    assert "the optimizer state has 4 arrays" in _problem(thresholds)  # learns threshold too


def _model2_config(model2, **changes) -> np.ndarray:
    config = json.loads(str(model2.arrays["config"]))
    return np.array(json.dumps({**config, **changes}))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda a: {"delay": None}, "learns delay but there is no delay array"),
        (lambda a: {"t_ref": None, "train_t_ref": None}, "learns t_ref but there is no t_ref"),
        (lambda a: {"train_delay": None}, "learns delay but there is no train_delay"),
        (lambda a: {"delay": a["delay"][:-1]}, "delay has 63 values, for 64 synapses"),
        (lambda a: {"bias": a["bias"][:, None]}, "bias: expected a 1-d float64"),
        (lambda a: {"delay": a["delay"] - 5.0}, "parameters make no valid network: "),
        (lambda a: {"v_reset": a["threshold"] + 1}, "must be below the threshold"),
        (lambda a: {"train_tau_mem": -a["tau_mem"]}, "train_parameters make no valid network"),
        (lambda a: {"tau_syn": np.full(11, np.nan)}, "tau_syn: non-finite"),
        (lambda a: {"train_weight": None, "train_threshold": None}, "train_<group> arrays"),
    ],
)
def test_inconsistent_model2_arrays(model2, tmp_path, change, expected):
    path = tmp_path / "bad.npz"
    arrays = dict(model2.arrays)
    for key, value in change(arrays).items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    np.savez(path, **arrays)
    assert expected in _problem(path)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"learn": "weight"}, "config: learn = 'weight' is not valid"),
        ({"learn": ["weight", "speed"]}, "config: learn: unknown parameter 'speed'"),
        ({"learn": ["weight", "threshold"]}, "the optimizer state has 18 arrays"),
        ({"delay": [1.0]}, "config: delay = [1.0] is not valid"),
        ({"delay": [2.0, 1.0]}, "config: delay: expected finite 0 <= low <= high"),
    ],
)
def test_model2_config_inconsistent_with_arrays(model2, tmp_path, changes, expected):
    arrays = {**model2.arrays, "config": _model2_config(model2, **changes)}
    path = tmp_path / "config.npz"
    np.savez(path, **arrays)
    assert expected in _problem(path)

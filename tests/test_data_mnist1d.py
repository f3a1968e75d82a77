"""MNIST-1D (fpgrad.data.load_mnist1d) pinned to its generator, and the level-crossing coding."""

from __future__ import annotations

import hashlib
import importlib.metadata
import random

import numpy as np
import pytest

import fpgrad
from fpgrad.data import (
    MNIST1D_VERSION,
    SequenceDataset,
    crossing_levels,
    encode_level_crossings,
    load_mnist1d,
    mnist1d_arrays,
)

pytest.importorskip("mnist1d")

# --------------------------------------------------------------------------------------------
# Pins of mnist1d.data.make_dataset(get_dataset_args()) from mnist1d 0.0.2.post1 (numpy 2.4,
# scipy 1.16): SHA-256 of the arrays as little-endian float64 / int64 (C order), a few values.
# --------------------------------------------------------------------------------------------
# The labels are pinned bit for bit. The values are pinned by moments to 1e-10 relative: the
# generator's floating-point arithmetic (NumPy's SIMD kernels, the CPU) moves single values by an
# ulp between machines, while any change of the generator itself moves these sums by far more.
LABEL_DIGESTS = {
    "y": "d97dc7aecec8ad6b5d8f143ba3e9c4bd7e25c420d7dfc2eb990591cfc0ed3e15",
    "y_test": "8de99be3ff9dab15ae0dc072c3d6ced7cf6b33d365888ce4a386fc944489452c",
}
#: (sum x, sum x^2, sum (row + 1) x, sum (column + 1) x) over each array
VALUE_MOMENTS = {
    "x": (-51.78746787509559, 159248.2538653486, -431852.0113784423, 19336.325874002214),
    "x_test": (51.78746787509192, 40751.74613465136, 61192.56410345224, 7617.7651204119575),
}
FIRST_VALUES = {
    "x": [-0.3320056673693902, -0.4719103656557236, -0.778697076293495],
    "x_test": [-0.07877078047732886, -0.21073170588642925, -0.09175138109239452],
}
FIRST_LABELS = {"y": [2, 6, 4, 5, 6, 6, 6, 0, 3, 1], "y_test": [2, 6, 3, 9, 4, 3, 1, 9, 5, 2]}
TRAIN_RANGE = (-5.479419072154895, 4.533515672898283)
SPLIT_COUNTS = {
    "train": [358, 356, 370, 355, 355, 362, 361, 364, 362, 358],
    "validation": [40, 40, 41, 39, 39, 40, 40, 40, 40, 40],
    "test": [102, 104, 89, 106, 106, 98, 99, 96, 98, 102],
}


def _sha256(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr, dtype="<i8").tobytes()).hexdigest()


def _moments(arr: np.ndarray) -> tuple[float, float, float, float]:
    row = np.arange(1, arr.shape[0] + 1)[:, None]
    col = np.arange(1, arr.shape[1] + 1)[None, :]
    return (
        float(arr.sum()),
        float((arr * arr).sum()),
        float((arr * row).sum()),
        float((arr * col).sum()),
    )


def test_generator_is_the_pinned_version_and_reproduced():
    assert importlib.metadata.version("mnist1d") == MNIST1D_VERSION
    raw = mnist1d_arrays()
    assert raw["x"].shape == (4000, 40) and raw["x_test"].shape == (1000, 40)
    assert raw["y"].shape == (4000,) and raw["y_test"].shape == (1000,)
    for name, digest in LABEL_DIGESTS.items():
        assert _sha256(raw[name]) == digest, name
    for name, moments in VALUE_MOMENTS.items():
        np.testing.assert_allclose(_moments(raw[name]), moments, rtol=1e-10, err_msg=name)
    assert not any(arr.flags.writeable for arr in raw.values())
    for name, values in FIRST_VALUES.items():
        np.testing.assert_allclose(raw[name][0, :3], values, rtol=1e-13, err_msg=name)
    for name, labels in FIRST_LABELS.items():
        assert raw[name][:10].tolist() == labels
    np.testing.assert_allclose((raw["x"].min(), raw["x"].max()), TRAIN_RANGE, rtol=1e-13)


def test_generation_leaves_the_global_random_streams_alone():
    mnist1d_arrays.cache_clear()
    legacy = np.random  # make_dataset uses the legacy global stream (and the random module's)
    random.seed(5)
    legacy.seed(5)
    expected = (random.random(), legacy.random())
    random.seed(5)
    legacy.seed(5)
    mnist1d_arrays()  # make_dataset reseeds both streams with 42 internally
    assert (random.random(), legacy.random()) == expected


def test_splits_stratified_disjoint_and_scaled():
    raw = mnist1d_arrays()
    lo, hi = TRAIN_RANGE
    train, val, test = (load_mnist1d(s) for s in ("train", "validation", "test"))
    assert (len(train), len(val), len(test)) == (3601, 399, 1000)
    for ds in (train, val, test):
        assert isinstance(ds, SequenceDataset) and ds.name == "mnist1d"
        assert ds.class_counts().tolist() == SPLIT_COUNTS[ds.split]
        assert ds.x.min() >= 0.0 and ds.x.max() <= 1.0
    # train and validation partition the 4000 training sequences (rows are unique)
    rows = {r.tobytes() for r in raw["x"]}
    back = np.concatenate([train.x, val.x]) * (hi - lo) + lo
    assert len({r.tobytes() for r in np.round(back, 9)}) == 4000
    assert len(rows) == 4000
    # the scaling is one affine map with the training range (test values lie inside it)
    np.testing.assert_allclose(test.x * (hi - lo) + lo, raw["x_test"], rtol=0, atol=1e-14)
    np.testing.assert_array_equal(test.y, raw["y_test"])
    assert train.x.min() == 0.0 and max(train.x.max(), val.x.max()) == 1.0
    other = load_mnist1d("validation", seed=1)
    assert not np.array_equal(other.x, val.x) and len(other) == 399
    np.testing.assert_array_equal(load_mnist1d("validation").x, val.x)  # deterministic
    np.testing.assert_array_equal(load_mnist1d("test", seed=3).x, test.x)


def test_level_crossings_by_hand():
    # up 0 -> 1 on [0, 1] ms, down 1 -> 0 on [1, 2] ms; levels 0.25 and 0.75
    inputs = encode_level_crossings([[0.0, 1.0, 0.0]], step=1.0, levels=2)
    assert crossing_levels(2).tolist() == [0.25, 0.75]
    up0, down0, up1, down1, bias = inputs[0]
    assert (up0.tolist(), down0.tolist()) == ([0.25], [1.75])
    assert (up1.tolist(), down1.tolist()) == ([0.75], [1.25])
    assert bias.tolist() == [0.0]
    # step scales time; half-open rule: a value on a level counts as above it, so leaving it
    # downwards is a crossing, and touching it from above is none
    two = encode_level_crossings([[0.25, 0.2, 0.25, 0.5]], step=2.0, levels=2, bias_time=None)
    assert [t.tolist() for t in two[0]] == [[4.0], [0.0], [], []]
    touch = encode_level_crossings([[0.5, 0.25, 0.5]], levels=2, bias_time=None)
    assert [t.size for t in touch[0]] == [0, 0, 0, 0]
    flat = encode_level_crossings([[0.4] * 5], levels=3, bias_time=1.5)
    assert [t.size for t in flat[0][:-1]] == [0] * 6 and flat[0][-1].tolist() == [1.5]


def test_level_crossings_hit_their_level_and_count_the_segments():
    ds = load_mnist1d("validation").subset(np.arange(30))
    for levels, step in ((24, 1.0), (7, 0.5)):
        coded = ds.with_coding(levels=levels, step=step)
        assert coded.n_inputs() == 2 * levels + 1 and coded.n_inputs(bias=False) == 2 * levels
        level = crossing_levels(levels)
        positions = np.arange(40) * step
        for seq, trains in zip(coded.x, coded.encode(), strict=True):
            assert len(trains) == 2 * levels + 1
            for i in range(levels):
                for j, sign in ((2 * i, 1), (2 * i + 1, -1)):
                    t = trains[j]
                    assert np.all(np.diff(t) > 0) and np.all((t >= 0) & (t <= coded.duration))
                    # the interpolated signal is at the level there, moving the right way
                    np.testing.assert_allclose(np.interp(t, positions, seq), level[i], atol=1e-12)
                    k = np.minimum((t / step).astype(int), 38)
                    assert np.all(sign * (seq[k + 1] - seq[k]) > 0)
                    # as many crossings as segments that pass the level in that direction
                    a, b = seq[:-1], seq[1:]
                    passes = (
                        (a < level[i]) & (b >= level[i])
                        if sign > 0
                        else ((a >= level[i]) & (b < level[i]))
                    )
                    assert t.size == int(passes.sum())
    spikes = [sum(t.size for t in s) for s in ds.encode()]
    assert 20 < np.mean(spikes) < 80  # about 40 events per sequence at the default 24 levels


def test_sequence_dataset_keeps_its_coding_and_feeds_the_simulator():
    ds = load_mnist1d("test").with_coding(levels=4, step=0.5)
    sub = ds.subset([3, 1])
    assert isinstance(sub, SequenceDataset) and (sub.levels, sub.step) == (4, 0.5)
    assert sub.duration == 19.5 and sub.y.tolist() == [ds.y[3], ds.y[1]]
    net = fpgrad.random_feedforward_network(
        [sub.n_inputs(), 6, 10], np.random.default_rng(0), weight_mean=0.5, weight_std=0.5
    )
    results = fpgrad.simulate_batch(net, sub.encode(), 30.0, n_threads=1)
    assert len(results) == 2


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: encode_level_crossings([[0.0, 1.5]]), r"lie in \[0, 1\]"),
        (lambda: encode_level_crossings([[0.0, np.nan]]), r"lie in \[0, 1\]"),
        (lambda: encode_level_crossings([0.0, 1.0]), "shape"),
        (lambda: encode_level_crossings([[0.5]]), "T >= 2"),
        (lambda: encode_level_crossings([[0.0, 1.0]], levels=0), "levels"),
        (lambda: encode_level_crossings([[0.0, 1.0]], step=-1.0), "step"),
        (lambda: encode_level_crossings([[0.0, 1.0]], bias_time=-1.0), "bias_time"),
        (lambda: load_mnist1d("val"), "unknown split 'val'"),
        (lambda: load_mnist1d("train", seed=-1), "seed"),
        (lambda: load_mnist1d("train", levels=True), "levels"),
        (lambda: load_mnist1d("train", step=float("inf")), "step"),
    ],
)
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()

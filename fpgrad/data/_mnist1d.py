"""MNIST-1D (Greydanus 2020), generated locally by its reference package, split and scaled.

Reference: S. Greydanus, D. Kobak, "Scaling down deep learning with MNIST-1D", ICML 2024
(arXiv:2011.14439); generator: the ``mnist1d`` package on PyPI, pinned to version
:data:`MNIST1D_VERSION` (the ``train`` extra). ``mnist1d.data.make_dataset(get_dataset_args())``
builds the default set from the ten 12-point digit templates (padding, shear, translation,
correlated and iid noise, resampled to 40 points; seed 42) in about 1.5 s: 4000 training and
1000 test sequences of length 40, 10 classes, standardised over the whole set (mean 0, std 1).
Nothing is downloaded; the package's generator *is* the reference (its published pickle is the
same procedure), pinned in the tests (labels by hash; values by moments to 1e-10, as single
values differ by an ulp between CPUs and NumPy builds). ``make_dataset`` seeds the global
``random`` and ``numpy.random`` generators; this module restores both afterwards, so loading
MNIST-1D does not change the caller's random streams.

Splits: ``"test"`` is the package's 1000 test sequences. The 4000 training sequences are split
stratified and seeded (:func:`fpgrad.data._split.stratified_indices`, ``default_rng(seed)``) into
``"train"`` and ``"validation"`` with :data:`MNIST1D_VALIDATION_FRACTION` = 10 % held out:
3601 / 399 sequences (any seed: rounded per class), each class within one sequence of its share.

Scaling: one affine map for every value, ``v = (x - lo) / (hi - lo)`` with ``lo``, ``hi`` the
minimum and maximum over the 4000 training sequences (about -5.48 and 4.53), so ``x`` of the
:class:`~fpgrad.data.Dataset` is in ``[0, 1]`` and the shape of a sequence is unchanged (a per
position scaling would distort it); values outside the range would be clipped, but the test
sequences lie inside it (-4.20 to 4.41), so none is. The encoding into spike trains over time
is that of :class:`~fpgrad.data.SequenceDataset` (level crossings, the position is time).
"""

from __future__ import annotations

import random
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from ._dataset import check_split
from ._encoding import minmax_scale
from ._sequence import DEFAULT_LEVELS, DEFAULT_STEP, SequenceDataset
from ._split import SPLIT_NAMES, stratified_indices

__all__ = [
    "MNIST1D_SPLITS",
    "MNIST1D_VALIDATION_FRACTION",
    "MNIST1D_VERSION",
    "load_mnist1d",
    "mnist1d_arrays",
]

MNIST1D_VERSION = "0.0.2.post1"
"""The version of the ``mnist1d`` package whose generator the tests pin."""
MNIST1D_SPLITS = SPLIT_NAMES
"""The split names: ``("train", "validation", "test")``."""
MNIST1D_VALIDATION_FRACTION = 0.1
"""Fraction of the 4000 training sequences held out as the validation split."""


@lru_cache(maxsize=1)
def mnist1d_arrays() -> dict[str, NDArray]:
    """The package's default set: ``{"x", "y", "x_test", "y_test"}`` (read-only arrays).

    ``x`` is float64 ``(4000, 40)``, ``y`` int64 ``(4000,)``, ``x_test`` ``(1000, 40)`` and
    ``y_test`` ``(1000,)``, as ``mnist1d.data.make_dataset(get_dataset_args())`` returns them
    (standardised values, not yet scaled into ``[0, 1]``).
    """
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as exc:
        raise ImportError(
            f"load_mnist1d needs the mnist1d package (pip install mnist1d=={MNIST1D_VERSION}, "
            "or 'fpgrad[train]')"
        ) from exc
    py_state, np_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    try:
        data = make_dataset(get_dataset_args())
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)  # noqa: NPY002
    out = {
        "x": np.asarray(data["x"], dtype=np.float64),
        "y": np.asarray(data["y"], dtype=np.int64),
        "x_test": np.asarray(data["x_test"], dtype=np.float64),
        "y_test": np.asarray(data["y_test"], dtype=np.int64),
    }
    for arr in out.values():
        arr.setflags(write=False)
    return out


def load_mnist1d(
    split: str = "train",
    *,
    seed: int = 0,
    step: float = DEFAULT_STEP,
    levels: int = DEFAULT_LEVELS,
) -> SequenceDataset:
    """A split (``"train"``, ``"validation"`` or ``"test"``) of MNIST-1D (module docstring).

    ``x`` has shape ``(n, 40)``: the sequence scaled into ``[0, 1]`` with the training range;
    ``y`` the class ``0..9``. ``seed`` seeds the train / validation split (use the same for both;
    the test split does not depend on it). ``step`` (ms per position) and ``levels`` set the
    level-crossing coding of :meth:`SequenceDataset.encode`.
    """
    split = check_split(split, MNIST1D_SPLITS)
    raw = mnist1d_arrays()
    lo, hi = float(raw["x"].min()), float(raw["x"].max())
    if split == "test":
        x, y = raw["x_test"], raw["y_test"]
    else:
        fractions = (1.0 - MNIST1D_VALIDATION_FRACTION, MNIST1D_VALIDATION_FRACTION, 0.0)
        index = stratified_indices(raw["y"], seed, fractions)[split]
        x, y = raw["x"][index], raw["y"][index]
    return SequenceDataset(
        name="mnist1d",
        split=split,
        x=minmax_scale(x, lo, hi),
        y=y,
        n_classes=10,
        class_names=tuple(str(d) for d in range(10)),
        step=step,
        levels=levels,
    )

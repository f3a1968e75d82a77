"""scikit-learn's bundled 8x8 handwritten digits, split and scaled for latency coding.

The data are ``sklearn.datasets.load_digits()`` (1797 images of 8x8 pixels, 10 classes, shipped
with scikit-learn: nothing is downloaded). Pixel intensities ``0..16`` are scaled to
``v = intensity / 16`` in ``[0, 1]``; the 64 features are the pixels in row-major order.

Splits are stratified and seeded (:func:`fpgrad.data._split.stratified_indices`): for each
class ``c`` with ``n_c`` images, the images are permuted by ``numpy.random.default_rng(seed)``
(classes in order ``0..9``), the first ``round(f_test n_c)`` go to ``"test"``, the next
``round(f_validation n_c)`` to ``"validation"`` and the rest to ``"train"`` (rounding half up).
Each split keeps the images in their original order. With the default fractions 70 / 15 / 15 %
the splits hold 1259 / 269 / 269 images (whatever the seed), each class within one image of its
exact share in every split.

Encoding: the bundled digits are mostly background (intensity 0, about half the pixels), so
:meth:`Dataset.encode` defaults to ``silent_zeros=True``: a zero pixel emits *no* spike rather
than a spike at ``t_late``. This halves the number of input events and matches the usual
time-to-first-spike reading "no intensity, no spike". Pass ``silent_zeros=False`` to
:meth:`Dataset.encode` for one spike per pixel. With the bias, encoded digits have 65 inputs.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from ._dataset import Dataset, check_split
from ._split import SPLIT_NAMES, stratified_indices

__all__ = ["DIGITS_FRACTIONS", "DIGITS_SPLITS", "digits_split_indices", "load_digits"]

DIGITS_SPLITS = SPLIT_NAMES
"""The split names, in the order of :data:`DIGITS_FRACTIONS`."""
DIGITS_FRACTIONS = (0.70, 0.15, 0.15)
"""Default fractions of the train, validation and test splits."""
_MAX_INTENSITY = 16.0


@lru_cache(maxsize=1)
def _raw_digits() -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError as exc:  # pragma: no cover - scikit-learn is a train/dev dependency
        raise ImportError("load_digits needs scikit-learn (pip install 'fpgrad[train]')") from exc
    bunch = sk_load_digits()
    data = np.asarray(bunch.data, dtype=np.float64)
    target = np.asarray(bunch.target, dtype=np.int64)
    data.setflags(write=False)
    target.setflags(write=False)
    return data, target


def digits_split_indices(
    seed: int = 0, fractions: tuple[float, float, float] = DIGITS_FRACTIONS
) -> dict[str, NDArray[np.int64]]:
    """Indices into ``sklearn.datasets.load_digits()`` of each split: name -> sorted int64 array.

    Stratified per class and deterministic in ``seed`` (see the module docstring). The three
    index sets are disjoint and cover all 1797 images.
    """
    _, target = _raw_digits()
    return stratified_indices(target, seed, fractions)


def load_digits(
    split: str = "train",
    *,
    seed: int = 0,
    fractions: tuple[float, float, float] = DIGITS_FRACTIONS,
) -> Dataset:
    """A split (``"train"``, ``"validation"`` or ``"test"``) of scikit-learn's 8x8 digits.

    ``x`` has shape ``(n, 64)`` with ``x = intensity / 16`` in ``[0, 1]``, ``y`` the digit
    ``0..9``. Splits are stratified and reproducible for a given ``seed`` and ``fractions``
    (see :func:`digits_split_indices`); use the same arguments for all three splits.
    Encoding defaults to ``silent_zeros=True`` (blank pixels do not spike).
    """
    split = check_split(split, DIGITS_SPLITS)
    index = digits_split_indices(seed, fractions)[split]
    data, target = _raw_digits()
    return Dataset.from_arrays(
        data[index],
        target[index],
        name="digits",
        split=split,
        lo=0.0,
        hi=_MAX_INTENSITY,
        n_classes=10,
        class_names=tuple(str(d) for d in range(10)),
        silent_zeros=True,
    )

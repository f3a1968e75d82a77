"""The Yin-Yang dataset (Kriener, Göltz & Petrovici 2021), generated exactly as published.

Reference: L. Kriener, J. Göltz, M. A. Petrovici, "The Yin-Yang dataset", NICE 2022,
doi:10.1145/3517343.3517380 (arXiv:2102.08211); reference generator in the public repository
``lkriener/yin_yang_data_set`` (``dataset.py``). This module is an independent implementation of
the published procedure; it draws the same random numbers in the same order, so the published
splits are reproduced value for value.

Geometry (all lengths in the data's own unit; the points live in the square ``[0, 2 R]^2``):

* the big circle has radius ``R = r_big = 0.5`` and centre ``(R, R) = (0.5, 0.5)``;
* the two dots have radius ``r = r_small = 0.1`` and centres ``(R/2, R) = (0.25, 0.5)`` ("left")
  and ``(3R/2, R) = (0.75, 0.5)`` ("right").

With ``d_l``, ``d_r`` the distances of ``(x, y)`` to the left and right dot centres, the class is

* ``2`` (dot) if ``d_r < r`` or ``d_l < r``;
* else ``1`` if ``d_r <= r``, or ``r < d_l <= R/2``, or (``y > R`` and ``d_r > R/2``);
* else ``0``.

Points outside the big circle (distance to ``(R, R)`` strictly greater than ``R``) are never
produced. The published class names are ``("yin", "yang", "dot")`` for labels ``0, 1, 2``.

Sampling (per sample, one ``numpy.random.RandomState(seed)`` stream for the whole split):

1. the wanted class ``c = rng.randint(3)`` (uniform over ``{0, 1, 2}``);
2. candidates ``(x, y) = rng.random_sample(2) * 2R`` (``x`` drawn before ``y``) until one lies in
   the big circle and has class ``c`` (rejection sampling, so the classes are balanced in
   expectation: each has probability 1/3 regardless of its area).

Each sample has the four features ``(x, y, 1 - x, 1 - y)``, all in ``[0, 1]``. The published
splits are train / validation / test = 5000 / 1000 / 1000 samples with seeds 42 / 41 / 40.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._dataset import Dataset, check_split

__all__ = [
    "YINYANG_CLASS_NAMES",
    "YINYANG_R_BIG",
    "YINYANG_R_SMALL",
    "YINYANG_SPLITS",
    "generate_yinyang",
    "load_yinyang",
    "yinyang_class",
]

YINYANG_R_SMALL = 0.1
"""Radius of the two dots."""
YINYANG_R_BIG = 0.5
"""Radius of the big circle; points live in ``[0, 2 * YINYANG_R_BIG]^2 = [0, 1]^2``."""
YINYANG_CLASS_NAMES = ("yin", "yang", "dot")
"""Names of labels 0, 1, 2, in the published order."""
YINYANG_SPLITS: dict[str, tuple[int, int]] = {
    "train": (5000, 42),
    "validation": (1000, 41),
    "test": (1000, 40),
}
"""The published splits: name -> (size, seed)."""

_R = YINYANG_R_BIG
_r = YINYANG_R_SMALL
# Candidates are ``u * 2.0 * R`` with ``u`` uniform in [0, 1): the published generator multiplies
# by 2.0 and then by R; with R = 0.5 both steps are exact, so a coordinate *is* the raw draw ``u``.
_SIDE = 2.0 * _R


def _class_of(x: float, y: float) -> int:
    """The published class rule for one point inside the big circle (see the module docstring)."""
    dxl, dxr, dy = x - 0.5 * _R, x - 1.5 * _R, y - _R
    d_left = math.sqrt(dxl * dxl + dy * dy)
    d_right = math.sqrt(dxr * dxr + dy * dy)
    if d_right < _r or d_left < _r:
        return 2
    upper = d_right <= _r or _r < d_left <= 0.5 * _R or (y > _R and d_right > 0.5 * _R)
    return 1 if upper else 0


def yinyang_class(x: ArrayLike, y: ArrayLike) -> NDArray[np.int64]:
    """Labels ``0/1/2`` of points ``(x, y)`` by the published rule, ``-1`` outside the big circle.

    Vectorised over broadcastable ``x`` and ``y`` (coordinates in ``[0, 1]``, i.e. the first two
    features of a sample).
    """
    xs, ys = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    dy = ys - _R
    d_centre = np.sqrt((xs - _R) ** 2 + dy**2)
    d_left = np.sqrt((xs - 0.5 * _R) ** 2 + dy**2)
    d_right = np.sqrt((xs - 1.5 * _R) ** 2 + dy**2)
    upper = (
        (d_right <= _r)
        | ((d_left > _r) & (d_left <= 0.5 * _R))
        | ((ys > _R) & (d_right > 0.5 * _R))
    )
    dot = (d_right < _r) | (d_left < _r)
    labels = np.where(dot, 2, upper.astype(np.int64))
    return np.where(d_centre > _R, -1, labels).astype(np.int64)


def _check_count(name: str, value: object, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


@lru_cache(maxsize=16)
def _generate(size: int, seed: int) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    rng = np.random.RandomState(seed)
    points = np.empty((size, 2), dtype=np.float64)
    labels = np.empty(size, dtype=np.int64)
    for i in range(size):
        goal = int(rng.randint(3))
        while True:
            u = rng.random_sample(2)
            x, y = float(u[0]) * _SIDE, float(u[1]) * _SIDE
            if math.sqrt((x - _R) * (x - _R) + (y - _R) * (y - _R)) > _R:
                continue
            if _class_of(x, y) == goal:
                break
        points[i] = x, y
        labels[i] = goal
    features = np.hstack([points, 1.0 - points])
    features.setflags(write=False)
    labels.setflags(write=False)
    return features, labels


def generate_yinyang(size: int, seed: int) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Generate ``size`` Yin-Yang samples from ``numpy.random.RandomState(seed)``.

    Returns ``(x, y)``: ``x`` of shape ``(size, 4)`` with columns ``(x, y, 1 - x, 1 - y)`` (float64
    in ``[0, 1]``), ``y`` of shape ``(size,)`` with labels ``0`` (yin), ``1`` (yang), ``2`` (dot).
    Samples are drawn one after the other from one stream, so the first ``k`` samples of a
    larger set are the set of size ``k`` with the same seed. The arrays are read-only.
    """
    size = _check_count("size", size, minimum=0)
    seed = _check_count("seed", seed, minimum=0)
    if seed >= 2**32:
        raise ValueError(f"seed: numpy.random.RandomState needs a seed below 2**32, got {seed}")
    return _generate(size, seed)


def load_yinyang(
    split: str = "train", *, size: int | None = None, seed: int | None = None
) -> Dataset:
    """The Yin-Yang dataset split ``"train"``, ``"validation"`` or ``"test"``.

    Defaults reproduce the published arrays: 5000 / 1000 / 1000 samples with seeds 42 / 41 / 40.
    ``size`` smaller than the published one gives the first ``size`` published samples; ``seed``
    draws another set (use distinct seeds for distinct splits, or they share samples).

    The returned :class:`Dataset` has ``x`` of shape ``(n, 4)`` = ``(x, y, 1 - x, 1 - y)`` and
    labels ``y`` in ``{0, 1, 2}`` = ``("yin", "yang", "dot")``. Its :meth:`Dataset.encode` gives
    4 latency-coded inputs plus one bias input (5 input nodes).
    """
    split = check_split(split, tuple(YINYANG_SPLITS))
    default_size, default_seed = YINYANG_SPLITS[split]
    x, y = generate_yinyang(
        default_size if size is None else size, default_seed if seed is None else seed
    )
    return Dataset(
        name="yinyang",
        split=split,
        x=x,
        y=y,
        n_classes=3,
        class_names=YINYANG_CLASS_NAMES,
        silent_zeros=False,
    )

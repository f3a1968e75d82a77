"""Seeded, stratified splits of a labelled set into train / validation / test indices.

For each class ``c`` (in order ``0, 1, ...``) with ``n_c`` samples, the samples of ``c`` are
permuted by one ``numpy.random.default_rng(seed)`` stream, the first ``round(f_test n_c)`` go to
``"test"``, the next ``round(f_validation n_c)`` to ``"validation"`` and the rest to ``"train"``
(rounding half up). Each split is returned sorted, so it keeps the samples in their original
order; every class is within one sample of its exact share in every split.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

__all__ = ["SPLIT_NAMES", "check_fractions", "stratified_indices"]

SPLIT_NAMES = ("train", "validation", "test")
"""The split names, in the order of the fractions."""


def check_fractions(fractions: tuple[float, float, float]) -> tuple[float, float, float]:
    """``(train, validation, test)`` as floats, or a ``ValueError``: each ``>= 0``, the training
    fraction ``> 0``, summing to 1."""
    try:
        values = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        raise ValueError(f"fractions: expected three numbers, got {fractions!r}") from None
    if (
        len(values) != 3
        or not all(math.isfinite(f) and f >= 0.0 for f in values)
        or values[0] <= 0.0
        or not math.isclose(sum(values), 1.0, abs_tol=1e-9)
    ):
        raise ValueError(
            "fractions: expected (train, validation, test) >= 0 with train > 0 summing to 1, "
            f"got {fractions!r}"
        )
    return values  # type: ignore[return-value]


def _round_half_up(value: float) -> int:
    return math.floor(value + 0.5)


def stratified_indices(
    labels: NDArray[np.int64], seed: int, fractions: tuple[float, float, float]
) -> dict[str, NDArray[np.int64]]:
    """Indices into ``labels`` of each split (module docstring): name -> sorted int64 array.

    The three index sets are disjoint and cover every sample; deterministic in ``seed``.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed: expected an integer >= 0, got {seed!r}")
    _, f_validation, f_test = check_fractions(fractions)
    rng = np.random.default_rng(int(seed))
    parts: dict[str, list[NDArray[np.int64]]] = {name: [] for name in SPLIT_NAMES}
    for c in range(int(labels.max()) + 1):
        members = rng.permutation(np.flatnonzero(labels == c))
        n_test = _round_half_up(f_test * members.size)
        n_validation = min(_round_half_up(f_validation * members.size), members.size - n_test)
        parts["test"].append(members[:n_test])
        parts["validation"].append(members[n_test : n_test + n_validation])
        parts["train"].append(members[n_test + n_validation :])
    return {
        name: np.sort(np.concatenate(chunks)).astype(np.int64) for name, chunks in parts.items()
    }

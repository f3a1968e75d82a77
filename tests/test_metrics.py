"""``fpgrad.metrics``: each agreement statistic on hand-computed cases, its conventions for
vanishing and non-finite gradients, and its invariance to a common positive scaling (computed on
rescaled arrays: no overflow of ``|g|^2`` for a huge ``g``, no underflow for a tiny one)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fpgrad import metrics
from fpgrad.metrics import (
    SIGN_FLOOR,
    agreement,
    cosine,
    max_abs_error,
    norm_ratio,
    relative_error,
    sign_agreement,
)

NON_FINITE = [np.array([np.nan, 1.0, 2.0]), np.array([1.0, np.inf, 2.0]), np.array([-np.inf, 0, 0])]


def test_public_names():
    assert set(metrics.__all__) == {
        "SIGN_FLOOR",
        "agreement",
        "cosine",
        "max_abs_error",
        "norm_ratio",
        "relative_error",
        "sign_agreement",
    }
    assert SIGN_FLOOR == 1e-12


# --- cosine ------------------------------------------------------------------------------------


def test_cosine_hand_computed():
    assert cosine([1.0, 0.0], [0.0, 1.0]) == 0.0  # orthogonal
    assert cosine([1.0, 2.0, -3.0], [2.0, 4.0, -6.0]) == pytest.approx(1.0, abs=1e-15)  # parallel
    assert cosine([1.0, 2.0], [-3.0, -6.0]) == pytest.approx(-1.0, abs=1e-15)  # antiparallel
    assert cosine([1.0, 1.0], [1.0, 0.0]) == pytest.approx(1 / math.sqrt(2), rel=1e-15)
    # (1, 2, 2) . (2, -1, 2) = 4, norms 3 and 3
    assert cosine([1.0, 2.0, 2.0], [2.0, -1.0, 2.0]) == pytest.approx(4 / 9, rel=1e-15)
    assert -1.0 <= cosine([1.0, 1e-8], [-1.0, -1e-8]) <= 1.0  # clipped into [-1, 1]


def test_cosine_of_vanishing_gradients():
    assert cosine(np.zeros(3), np.zeros(3)) == 1.0  # both zero: they agree
    assert cosine(np.zeros(3), [1.0, 2.0, 3.0]) == 0.0  # one zero: no direction in common
    assert cosine([1.0, 2.0, 3.0], np.zeros(3)) == 0.0
    assert cosine([], []) == 1.0  # an empty group


@pytest.mark.parametrize("g", NON_FINITE)
def test_cosine_of_non_finite_gradient_is_nan(g):
    assert math.isnan(cosine(g, [1.0, 2.0, 3.0]))


def test_sizes_must_match():
    for fn in (cosine, relative_error, max_abs_error, sign_agreement, norm_ratio, agreement):
        with pytest.raises(ValueError, match="different sizes"):
            fn([1.0, 2.0], [1.0, 2.0, 3.0])


# --- relative error ------------------------------------------------------------------------------


def test_relative_error_hand_computed():
    g, e = np.array([2.0, 2.0, 1.0]), np.array([1.0, 2.0, 3.0])
    # g - e = (1, 0, -2): |.|_2 = sqrt(5), |e|_2 = sqrt(14); max |g - e| = 2, max |e| = 3
    assert relative_error(g, e) == pytest.approx(math.sqrt(5 / 14), rel=1e-15)
    assert relative_error(g, e, norm=2) == relative_error(g, e)
    assert relative_error(g, e, norm=np.inf) == pytest.approx(2 / 3, rel=1e-15)
    assert relative_error(e, e) == 0.0 and relative_error(e, e, norm=np.inf) == 0.0
    assert relative_error(-e, e) == pytest.approx(2.0, rel=1e-15)
    assert relative_error([1.0, 1.0], [1.0, 0.0]) == pytest.approx(1.0, rel=1e-15)
    assert relative_error(2 * e, e, norm=np.inf) == pytest.approx(1.0, rel=1e-15)


def test_relative_error_of_vanishing_reference():
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0  # g = e = 0
    assert relative_error(np.zeros(3), np.zeros(3), norm=np.inf) == 0.0
    assert relative_error([0.0, 1e-3, 0.0], np.zeros(3)) == math.inf  # e = 0 != g
    assert relative_error([0.0, -2.0, 0.0], np.zeros(3), norm=np.inf) == math.inf
    assert relative_error([0.0, 1e-300, 0.0], np.zeros(3), norm=np.inf) == math.inf
    assert relative_error(np.zeros(2), [1.0, -1.0]) == pytest.approx(1.0, rel=1e-15)
    assert relative_error([], []) == 0.0


def test_tiny_gradient_against_zero_reference():
    """``e = 0 != g`` however small ``g`` is: the statistics are computed on rescaled arrays,
    so ``|g|_2`` of a tiny ``g`` must not underflow to 0 (which would report a perfect match)."""
    for tiny in (1e-160, 1e-200, 1e-300):
        g = np.array([0.0, tiny, 0.0])
        assert relative_error(g, np.zeros(3)) == math.inf, tiny
        assert norm_ratio(g, np.zeros(3)) == math.inf, tiny
        assert cosine(g, np.zeros(3)) == 0.0, tiny


@pytest.mark.parametrize("g", NON_FINITE)
def test_relative_error_of_non_finite_gradient_is_inf(g):
    assert relative_error(g, [1.0, 2.0, 3.0]) == math.inf
    assert relative_error(g, [1.0, 2.0, 3.0], norm=np.inf) == math.inf


# --- max abs error, sign agreement, norm ratio ---------------------------------------------------


def test_max_abs_error():
    assert max_abs_error([1.0, 2.0, 3.0], [1.0, 2.5, 2.0]) == 1.0
    assert max_abs_error([-1.0, 0.0], [1.0, 0.0]) == 2.0
    assert max_abs_error([], []) == 0.0
    assert max_abs_error([1.0, np.nan], [1.0, 1.0]) == math.inf
    assert max_abs_error([1.0, -np.inf], [1.0, 1.0]) == math.inf


def test_sign_agreement_hand_computed():
    g = np.array([1.0, -1.0, 1.0, 1.0])
    e = np.array([2.0, -3.0, -1.0, 1e-13])
    # entry 3 (|e| = 1e-13 <= 1e-12 * 3) carries no sign; of the others, 2 of 3 agree
    assert sign_agreement(g, e) == pytest.approx(2 / 3, rel=1e-15)
    assert sign_agreement(-g, e) == pytest.approx(1 / 3, rel=1e-15)
    assert sign_agreement(e, e) == 1.0
    # a zero entry of g has no sign: it disagrees with a positive reference
    assert sign_agreement([0.0, 1.0], [1.0, 1.0]) == 0.5


def test_sign_agreement_floor():
    """Entries with ``|e_k| <= 1e-12 max|e|`` are left out, those just above it are counted."""
    g = np.array([1.0, -1.0])
    assert sign_agreement(g, [1.0, 2e-12]) == 0.5  # 2e-12 > 1e-12 * 1: counted, disagrees
    assert sign_agreement(g, [1.0, 5e-13]) == 1.0  # below the floor: left out
    assert sign_agreement(g, [1.0, 0.0]) == 1.0  # a parameter the loss does not depend on
    assert sign_agreement(g, [4.0, 2e-12]) == 1.0  # the floor scales with max|e|: 4e-12
    assert sign_agreement(g, [1.0, 0.4], floor=0.5) == 1.0  # a custom floor
    assert sign_agreement(g, [1.0, 0.6], floor=0.5) == 0.5
    assert math.isnan(sign_agreement(g, [0.0, 0.0]))  # nothing carries a sign
    assert math.isnan(sign_agreement([np.nan, 1.0], [1.0, 1.0]))
    assert math.isnan(sign_agreement([np.inf, 1.0], [1.0, 1.0]))


def test_norm_ratio():
    assert norm_ratio([3.0, 4.0], [1.0, 0.0]) == pytest.approx(5.0, rel=1e-15)
    assert norm_ratio([1.0, 0.0], [0.0, 2.0]) == pytest.approx(0.5, rel=1e-15)
    assert norm_ratio(-np.arange(3.0), np.arange(3.0)) == pytest.approx(1.0, rel=1e-15)
    assert norm_ratio(np.zeros(2), np.zeros(2)) == 1.0  # both vanish
    assert norm_ratio(np.zeros(2), [1.0, 0.0]) == 0.0
    assert norm_ratio([1.0, 0.0], np.zeros(2)) == math.inf  # only e vanishes
    assert norm_ratio([np.nan, 0.0], [1.0, 0.0]) == math.inf


# --- scaling ------------------------------------------------------------------------------------


SCALE_FREE = {
    "cosine": cosine,
    "rel_error": relative_error,
    "rel_error_inf": lambda g, e: relative_error(g, e, norm=np.inf),
    "sign_agreement": sign_agreement,
    "norm_ratio": norm_ratio,
}


@pytest.mark.parametrize("c", [1e-300, 1e-200, 1e-8, 7.5, 1e150, 1e300])
def test_invariant_to_a_common_positive_scaling(c):
    """``g`` and ``e`` scaled together by ``c``: the same values (``|g|^2`` would underflow at
    1e-300 and overflow at 1e300 if computed directly); ``max_abs_error`` scales by ``c``."""
    rng = np.random.default_rng(3)
    g = rng.normal(size=7)
    e = g + 0.3 * rng.normal(size=7)
    for name, fn in SCALE_FREE.items():
        base, scaled = fn(g, e), fn(c * g, c * e)
        assert math.isfinite(scaled), (name, c)
        assert scaled == pytest.approx(base, rel=1e-12), (name, c)
    assert max_abs_error(c * g, c * e) == pytest.approx(c * max_abs_error(g, e), rel=1e-12)


def test_huge_finite_gradient_does_not_overflow():
    """An exploding BPTT gradient, ``g = 1e300 e``: still the right direction, the scale mismatch
    shows in the norm ratio and the relative error, nothing overflows to nan."""
    e = np.array([1.0, -2.0, 0.5])
    g = 1e300 * e
    with np.errstate(over="ignore"):
        assert np.isinf(np.dot(g, g))  # the naive computation overflows
    assert cosine(g, e) == pytest.approx(1.0, abs=1e-15)
    assert norm_ratio(g, e) == pytest.approx(1e300, rel=1e-14)
    assert relative_error(g, e) == pytest.approx(1e300, rel=1e-14)
    assert relative_error(g, e, norm=np.inf) == pytest.approx(1e300, rel=1e-14)
    assert sign_agreement(g, e) == 1.0
    assert max_abs_error(g, e) == pytest.approx(2e300, rel=1e-14)
    assert cosine(-g, e) == pytest.approx(-1.0, abs=1e-15)
    both = np.array([1e300, 1e300])  # |g|^2 = 2e600, g . e = 2e600
    assert cosine(both, both) == pytest.approx(1.0, abs=1e-15)
    assert norm_ratio(both, both) == pytest.approx(1.0, rel=1e-15)


def test_agreement_returns_all_five():
    g, e = np.array([2.0, 2.0, 1.0, 0.0]), np.array([1.0, 2.0, 3.0, 1e-20])
    stats = agreement(g, e)
    assert list(stats) == ["cosine", "rel_error", "max_abs_error", "sign_agreement", "norm_ratio"]
    assert stats == {
        "cosine": cosine(g, e),
        "rel_error": relative_error(g, e),
        "max_abs_error": max_abs_error(g, e),
        "sign_agreement": sign_agreement(g, e),
        "norm_ratio": norm_ratio(g, e),
    }
    # hand-computed: g . e = 9, |g| = 3, |e| = sqrt(14); g - e = (1, 0, -2, -1e-20)
    assert stats["cosine"] == pytest.approx(9 / (3 * math.sqrt(14)), rel=1e-14)
    assert stats["rel_error"] == pytest.approx(math.sqrt(5 / 14), rel=1e-14)
    assert stats["max_abs_error"] == 2.0
    assert stats["sign_agreement"] == 1.0  # entry 3 (g = 0, |e| = 1e-20) left out
    assert stats["norm_ratio"] == pytest.approx(3 / math.sqrt(14), rel=1e-14)
    bad = agreement([np.nan, 0.0, 0.0, 0.0], e)
    assert math.isnan(bad["cosine"]) and math.isnan(bad["sign_agreement"])
    assert bad["rel_error"] == bad["max_abs_error"] == bad["norm_ratio"] == math.inf

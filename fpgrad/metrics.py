"""How close one gradient is to another: small pure functions shared by every report.

``g`` is the gradient under test, ``e`` the reference (the exact gradient, or a
finite-difference estimate), both 1-D float arrays of one parameter group. Used by
:func:`fpgrad.compare`, :func:`fpgrad.testing.compare_external` and
:func:`fpgrad.testing.gradcheck`. Each is invariant under the scalings that should not matter and
is computed on rescaled arrays, so a huge but finite ``g`` (an exploding BPTT) neither overflows
``|g|^2`` nor underflows ``|e|^2``. A ``g`` with non-finite entries gets ``nan`` for the
direction measures (cosine, sign agreement) and ``inf`` for the error measures.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "SIGN_FLOOR",
    "agreement",
    "cosine",
    "max_abs_error",
    "norm_ratio",
    "relative_error",
    "sign_agreement",
]

#: Entries of the reference below ``SIGN_FLOOR * max|e|`` carry no sign (:func:`sign_agreement`).
SIGN_FLOOR = 1e-12


def _pair(g: ArrayLike, e: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    a = np.asarray(g, dtype=np.float64).reshape(-1)
    b = np.asarray(e, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"gradients of different sizes: {a.size} and {b.size} values")
    return a, b


def _peak(x: NDArray[np.float64]) -> float:
    return float(np.max(np.abs(x), initial=0.0))


def _common_scale(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    """The geometric mean of the two largest magnitudes (or the one that is not 0, or 1)."""
    pa, pb = _peak(a), _peak(b)
    if pa > 0 and pb > 0:
        return math.sqrt(pa) * math.sqrt(pb)
    return max(pa, pb) if max(pa, pb) > 0 else 1.0


def cosine(g: ArrayLike, e: ArrayLike) -> float:
    """``g . e / (|g| |e|)``; 1 if both vanish, 0 if exactly one does, ``nan`` if ``g`` is not
    finite."""
    a, b = _pair(g, e)
    if not np.all(np.isfinite(a)):
        return math.nan
    pa, pb = _peak(a), _peak(b)
    if pa == 0.0 and pb == 0.0:
        return 1.0
    if pa == 0.0 or pb == 0.0:
        return 0.0
    a, b = a / pa, b / pb
    return float(np.clip(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)), -1.0, 1.0))


def relative_error(g: ArrayLike, e: ArrayLike, norm: float = 2) -> float:
    """``|g - e| / |e|`` in the ``norm`` (``2``: Euclidean, ``np.inf``: largest entry, the
    group-scaled error ``max|g - e| / max|e|``); 0 if ``g = e = 0``, ``inf`` if ``e = 0 != g``."""
    a, b = _pair(g, e)
    if not np.all(np.isfinite(a)):
        return math.inf
    s = _common_scale(a, b)
    diff = float(np.linalg.norm((a - b) / s, ord=norm)) if a.size else 0.0
    ref = float(np.linalg.norm(b / s, ord=norm)) if b.size else 0.0
    if ref > 0:
        return diff / ref
    return 0.0 if diff == 0 else math.inf


def max_abs_error(g: ArrayLike, e: ArrayLike) -> float:
    """``max |g - e|`` (0 for empty groups, ``inf`` if ``g`` is not finite)."""
    a, b = _pair(g, e)
    if not np.all(np.isfinite(a)):
        return math.inf
    return float(np.max(np.abs(a - b), initial=0.0))


def sign_agreement(g: ArrayLike, e: ArrayLike, floor: float = SIGN_FLOOR) -> float:
    """The fraction of entries with ``sign(g_k) = sign(e_k)`` among those where the reference
    is not negligible, ``|e_k| > floor max|e|`` (parameters the loss does not depend on are
    left out); ``nan`` if there are none or ``g`` is not finite."""
    a, b = _pair(g, e)
    peak = _peak(b)
    if not np.all(np.isfinite(a)) or peak == 0:
        return math.nan
    mask = np.abs(b) > floor * peak
    if not mask.any():
        return math.nan
    return float(np.mean(np.sign(a[mask]) == np.sign(b[mask])))


def norm_ratio(g: ArrayLike, e: ArrayLike) -> float:
    """``|g|_2 / |e|_2``: a scale mismatch, invisible in the cosine (1 if both vanish, ``inf``
    if only ``e`` does or ``g`` is not finite)."""
    a, b = _pair(g, e)
    if not np.all(np.isfinite(a)):
        return math.inf
    s = _common_scale(a, b)
    na, nb = float(np.linalg.norm(a / s)), float(np.linalg.norm(b / s))
    if nb > 0:
        return na / nb
    return 1.0 if na == 0 else math.inf


def agreement(g: ArrayLike, e: ArrayLike) -> dict[str, float]:
    """All of them at once: ``cosine``, ``rel_error`` (Euclidean), ``max_abs_error``,
    ``sign_agreement`` and ``norm_ratio``."""
    return {
        "cosine": cosine(g, e),
        "rel_error": relative_error(g, e),
        "max_abs_error": max_abs_error(g, e),
        "sign_agreement": sign_agreement(g, e),
        "norm_ratio": norm_ratio(g, e),
    }

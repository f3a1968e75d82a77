"""Time-to-first-spike (latency) coding of data in ``[0, 1]`` into input spike trains.

Every feature value ``v`` in ``[0, 1]`` becomes one spike at

    t(v) = t_early + (1 - v) (t_late - t_early)        [ms]

so larger values fire earlier: ``v = 1`` at ``t_early``, ``v = 0`` at ``t_late`` (the convention of
:func:`fpgrad.latency_inputs`). With ``silent_zeros=True`` a value of exactly ``0`` emits no spike
at all instead (an empty spike train), which suits sparse data such as images whose background
carries no information. One extra *bias* input node fires a single spike at ``bias_time``
whatever the sample: it is the last input node (index ``n_features``), so a network for encoded
data has ``n_inputs = n_features + 1`` (``n_features`` with ``bias_time=None``).

Defaults, for the library's default LIF neuron (``tau_syn = 5 ms``, ``tau_mem = 10 ms``):

* ``t_early = 0 ms`` and ``t_late = 10 ms = 2 tau_syn``: the input window of the exact-gradient
  LIF literature on Yin-Yang (``t_late = 2 tau_syn`` in Göltz et al. 2021 and in jaxsnn). It is
  long enough to resolve input times on the scale of the synaptic kernel and short enough that
  the PSP of the earliest input (peak ``2 ln 2 tau_syn ~ 6.9 ms`` after its spike when
  ``tau_mem = 2 tau_syn``) still overlaps those of the latest ones.
* ``bias_time = 0 ms`` (as in jaxsnn): the bias marks the start of the trial, so its PSP covers
  the whole input window and its weight acts as a learned, sample-independent drive.

Data on other scales are first mapped into ``[0, 1]`` by :func:`minmax_scale`.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "DEFAULT_BIAS_TIME",
    "DEFAULT_T_EARLY",
    "DEFAULT_T_LATE",
    "encode_latency",
    "latency_times",
    "minmax_bounds",
    "minmax_scale",
]

DEFAULT_T_EARLY = 0.0
"""Spike time (ms) of the value 1."""
DEFAULT_T_LATE = 10.0
"""Spike time (ms) of the value 0: ``2 tau_syn`` for the default ``tau_syn = 5 ms``."""
DEFAULT_BIAS_TIME = 0.0
"""Spike time (ms) of the bias input: the start of the trial."""


def _check_window(t_early: float, t_late: float) -> tuple[float, float]:
    t_early, t_late = float(t_early), float(t_late)
    if not (math.isfinite(t_early) and math.isfinite(t_late) and 0.0 <= t_early < t_late):
        raise ValueError(
            f"need finite 0 <= t_early < t_late (ms), got t_early={t_early!r}, t_late={t_late!r}"
        )
    return t_early, t_late


def _check_unit(values: NDArray[np.float64]) -> None:
    bad = ~np.isfinite(values) | (values < 0.0) | (values > 1.0)
    if np.any(bad):
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"values{list(where)} = {float(values[where])!r}: latency coding needs finite values "
            "in [0, 1] (scale the data first, e.g. with minmax_scale)"
        )


def bias_train(bias_time: float | None) -> NDArray[np.float64] | None:
    """The bias input's train, one spike at ``bias_time`` ms (``None``: no bias input); a
    ``ValueError`` unless it is finite and ``>= 0``."""
    if bias_time is None:
        return None
    b = float(bias_time)
    if not math.isfinite(b) or b < 0.0:
        raise ValueError(f"bias_time = {bias_time!r} must be finite and >= 0 ms (or None)")
    return np.array([b])


def latency_times(
    values: ArrayLike, *, t_early: float = DEFAULT_T_EARLY, t_late: float = DEFAULT_T_LATE
) -> NDArray[np.float64]:
    """Spike times ``t_early + (1 - v) (t_late - t_early)`` (ms) of values ``v`` in ``[0, 1]``.

    Elementwise, same shape as ``values``; raises ``ValueError`` for values outside ``[0, 1]``
    or a bad window.
    """
    t_early, t_late = _check_window(t_early, t_late)
    v = np.asarray(values, dtype=np.float64)
    _check_unit(v)
    times = t_early + (1.0 - v) * (t_late - t_early)
    # Rounding can only push a time outside the window by an ulp; keep the documented bounds.
    return np.clip(times, t_early, t_late)


def encode_latency(
    x: ArrayLike,
    *,
    t_early: float = DEFAULT_T_EARLY,
    t_late: float = DEFAULT_T_LATE,
    bias_time: float | None = DEFAULT_BIAS_TIME,
    silent_zeros: bool = False,
) -> list[list[NDArray[np.float64]]]:
    """Latency-code samples ``x`` of shape ``(n_samples, n_features)`` with values in ``[0, 1]``.

    Returns ``inputs[s][j]``: the spike train (a sorted float64 array, ms) of input node ``j``
    for sample ``s``. Nodes ``0..n_features-1`` carry one spike each at
    ``t_early + (1 - x[s, j]) (t_late - t_early)`` (none if ``silent_zeros`` and ``x[s, j] == 0``);
    node ``n_features`` is the bias, one spike at ``bias_time`` (left out if ``bias_time`` is
    ``None``). ``inputs[s]`` can be passed to ``fpgrad.Problem(network, inputs[s], t_max)`` and
    ``inputs`` to ``fpgrad.simulate_batch(network, inputs, t_max)`` for a network with
    ``n_inputs = n_features + 1`` (or ``n_features`` without bias). Choose ``t_max`` after the
    last input spike and the expected output spikes, e.g. a few ``tau_syn`` past ``t_late``.
    """
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(
            f"x: expected an array of shape (n_samples, n_features), got shape {arr.shape} "
            "(for one sample use x[None, :])"
        )
    times = latency_times(arr, t_early=t_early, t_late=t_late)
    bias = bias_train(bias_time)
    empty = np.empty(0, dtype=np.float64)
    out: list[list[NDArray[np.float64]]] = []
    for s in range(arr.shape[0]):
        trains = [
            empty.copy() if silent_zeros and arr[s, j] == 0.0 else times[s, j : j + 1].copy()
            for j in range(arr.shape[1])
        ]
        if bias is not None:
            trains.append(bias.copy())
        out.append(trains)
    return out


def minmax_bounds(x: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-feature bounds ``(lo, hi)`` = column minimum and maximum of ``x`` ``(n, d)``.

    Fit them on the training split and pass them to :func:`minmax_scale` for every split.
    """
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(
            f"x: expected a non-empty (n_samples, n_features) array, got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError("x: values must be finite")
    return arr.min(axis=0), arr.max(axis=0)


def minmax_scale(
    x: ArrayLike,
    lo: ArrayLike | None = None,
    hi: ArrayLike | None = None,
    *,
    clip: bool = True,
) -> NDArray[np.float64]:
    """Map ``x`` ``(n, d)`` into ``[0, 1]`` by ``(x - lo) / (hi - lo)``, per feature.

    ``lo`` and ``hi`` are numbers or per-feature arrays; ``None`` fits them on ``x`` (see
    :func:`minmax_bounds`). A feature with ``hi == lo`` maps to 0. Values outside ``[lo, hi]``
    (other data scaled with training bounds) are clipped into ``[0, 1]``, or raise
    ``ValueError`` with ``clip=False``.
    """
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(
            f"x: expected an array of shape (n_samples, n_features), got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError("x: values must be finite")
    if lo is None or hi is None:
        fit_lo, fit_hi = minmax_bounds(arr)
        lo = fit_lo if lo is None else lo
        hi = fit_hi if hi is None else hi
    try:
        lo_arr = np.broadcast_to(np.asarray(lo, dtype=np.float64), (arr.shape[1],))
        hi_arr = np.broadcast_to(np.asarray(hi, dtype=np.float64), (arr.shape[1],))
    except ValueError:
        raise ValueError(
            f"lo, hi: expected numbers or arrays of length {arr.shape[1]} (one per feature)"
        ) from None
    if not (np.all(np.isfinite(lo_arr)) and np.all(np.isfinite(hi_arr))) or np.any(hi_arr < lo_arr):
        raise ValueError("lo, hi: bounds must be finite with lo <= hi")
    span = hi_arr - lo_arr
    scaled = np.divide(arr - lo_arr, span, out=np.zeros_like(arr), where=span > 0)
    if clip:
        return np.clip(scaled, 0.0, 1.0)
    bad = (scaled < 0.0) | (scaled > 1.0)
    if np.any(bad):
        i, j = (int(k) for k in np.argwhere(bad)[0])
        raise ValueError(
            f"x[{i}, {j}] = {float(arr[i, j])!r} lies outside [lo, hi] = "
            f"[{float(lo_arr[j])!r}, {float(hi_arr[j])!r}]"
        )
    return scaled

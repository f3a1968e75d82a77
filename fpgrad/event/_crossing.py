"""Certain detection of the next threshold crossing of a freely evolving neuron.

From state ``(V0, J0)`` with no further input, ``V(s) - theta = V0 E_b + J0 H(s) - theta`` is a
sum of three exponentials: it has at most one extremum for ``s > 0``, and ``V -> 0 < theta``.
So ``V`` can reach ``theta`` only if it rises at first (``J0 > 0`` and ``dV/ds(0) = J0 - b V0 > 0``)
and its maximum, at the closed-form time

    s* = [log1p((b - a)/a) + log1p(-(b - a) V0 / J0)] / (b - a)        (1/a - V0/J0 if a = b)

exceeds ``theta``. The first crossing then lies on the monotone bracket ``[0, s*]`` and is refined
by safeguarded Newton to float64 precision. No grid is involved: a crossing is never missed.
A maximum exactly equal to ``theta`` (a grazing touch) is not a spike. A perfect integrator
(``tau_mem = inf``, ``b = 0``) has no maximum: ``V`` rises towards ``V0 + J0 / a``, and the
crossing, if any, is in closed form (:func:`_integrator_bracket`).

Most calls (one per synaptic event in the simulator) end early, cheapest test first: no rise; an
upper bound of the peak (no transcendental function) clearly below threshold; otherwise the
closed-form peak value ``V* = J(s*) / b`` (where ``dV/ds = 0``; one ``log1p`` and one ``exp``,
good to a few ulps) decides. Only peaks within a relative ``1e-12`` of threshold are evaluated
with the same propagator the root finder uses, so the decision "spike or not" is the root
finder's own; the exact value of a clearly sub- or supra-threshold peak is computed only if it
is needed (the root finder's bracket, a realised peak in the degeneracy report).
"""

import math

from .._numba import jit
from ._propagator import drive, propagate

__all__ = [
    "NO_PEAK",
    "crossing_bracket",
    "peak_time",
    "peak_value",
    "refine_crossing",
    "refine_root",
]

NO_PEAK = math.inf  # returned as the peak time when there is none (or no crossing to bracket)

_EPS = 2.220446049250313e-16
_BOUND_SLACK = 1.0 + 32.0 * _EPS
_PEAK_MARGIN = 1e-12  # relative; the closed-form peak value is good to a few ulps
_LOW_SLACK = 1.0 - 64.0 * _EPS  # keeps the crossing's lower bound below it despite rounding


@jit
def refine_root(
    v0: float,
    j0: float,
    a: float,
    b: float,
    c: float,
    theta: float,
    hi: float,
    f_hi: float,
    t0: float,
) -> float:
    """Root of ``V(s) = theta`` on ``[0, hi]`` where ``V - theta`` rises from < 0 to ``f_hi > 0``
    (``V(s) = V0 E_b + J0 H + c G``; the bias term only when ``c != 0``).

    Newton steps are kept inside the shrinking bracket (bisection otherwise); iteration stops
    when the step is below a few ulps of the absolute time ``t0 + s``.
    """
    lo = 0.0
    f_lo = v0 - theta
    s = hi * (-f_lo) / (f_hi - f_lo)  # regula falsi start
    step_old = hi
    for _ in range(200):
        ea, eb, h = propagate(s, a, b)
        v = v0 * eb + j0 * h
        if c != 0.0:
            v += c * drive(s, b)
        f = v - theta
        if f == 0.0:
            return s
        if f < 0.0:
            lo = s
        else:
            hi = s
        slope = j0 * ea - b * v + c
        tol = 4.0 * _EPS * (t0 + s) + 1e-300
        if slope > 0.0:
            s_new = s - f / slope
            if not (lo < s_new < hi) or abs(2.0 * f) > abs(step_old * slope):
                s_new = 0.5 * (lo + hi)
        else:
            s_new = 0.5 * (lo + hi)
        step_old = s_new - s
        s = s_new
        if abs(step_old) <= tol or hi - lo <= tol:
            return s
    return s


@jit
def refine_crossing(v0, j0, a, b, theta, s_pk, t0):
    """The crossing inside the bracket ``(0, s_pk]`` found by :func:`crossing_bracket`."""
    return refine_root(v0, j0, a, b, 0.0, theta, s_pk, peak_value(v0, j0, a, b, s_pk) - theta, t0)


@jit
def peak_value(v0, j0, a, b, s_pk):
    """``V(s_pk)`` from ``(v0, j0)``, with the propagator the root finder uses."""
    _, eb, h = propagate(s_pk, a, b)
    return v0 * eb + j0 * h


@jit
def peak_time(v0, j0, a, b, log_ba):
    """Time ``s* > 0`` of the maximum ahead of a rising state (``J0 > 0``, ``J0 - b V0 > 0``),
    in closed form (module docstring), or :data:`NO_PEAK` if ``V`` rises without a maximum."""
    r = b - a
    if r == 0.0:
        s_pk = 1.0 / a - v0 / j0
    else:
        arg = -r * v0 / j0
        if arg <= -1.0:
            return NO_PEAK
        s_pk = (log_ba + math.log1p(arg)) / r
    return s_pk if s_pk > 0.0 else NO_PEAK


@jit
def _integrator_bracket(v0, j0, a, theta):
    """:func:`crossing_bracket` of a perfect integrator (``tau_mem = inf``, ``b = 0``) with
    ``J0 > 0``: ``V(s) = V0 + J0 (1 - e^{-a s}) / a`` rises for ever towards ``V0 + J0 / a``
    (no maximum), so it crosses iff that limit exceeds ``theta``, at
    ``s_c = -log1p(-a (theta - V0) / J0) / a``; the bracket ends at ``2 s_c`` (doubled until
    ``V`` is above threshold there, which rounding could deny only for a limit within ulps)."""
    limit = v0 + j0 / a
    if limit <= theta:
        return math.inf, NO_PEAK, limit
    s_pk = -2.0 * math.log1p(-a * (theta - v0) / j0) / a
    for _ in range(60):
        v_pk = peak_value(v0, j0, a, 0.0, s_pk)
        if v_pk > theta:
            return (theta - max(v0, 0.0)) / j0 * _LOW_SLACK, s_pk, v_pk
        s_pk *= 2.0
    return math.inf, NO_PEAK, v_pk


@jit
def crossing_bracket(v0, j0, a, b, theta, h_peak, log_ba):
    """Whether ``V`` reaches ``theta`` ahead, without locating the crossing: ``(s_low, s_pk,
    v_pk)``.

    Args:
        v0, j0: state at the start.
        a, b: ``1/tau_syn``, ``1/tau_mem``; ``log_ba = ln(b / a)``
            (:func:`~fpgrad.event._propagator.log_rate_ratio`; any value when ``a = b``), a
            neuron constant precomputed by the caller.
        theta: threshold.
        h_peak: ``max_s H(s)`` (:func:`kernel_peak`); gives the cheap bound
            ``V(s) <= max(V0, 0) + J0 h_peak`` that skips most sub-threshold neurons (with
            ``V* <= (a V0 + J0) / (a + b)`` when ``V0 > 0``).

    Returns:
        ``s_low = inf``: no crossing; ``s_pk`` is then :data:`NO_PEAK` and ``v_pk`` an upper
        bound of the maximum ahead (``-inf`` if ``V`` has none; within ``1e-12`` relative of
        it when the closed form was evaluated; the maximum itself is :func:`peak_time` /
        :func:`peak_value`). Otherwise the crossing lies in
        ``[s_low, s_pk]`` with ``V(s_pk) > theta`` (the maximum), where
        ``s_low = (theta - max(V0, 0)) / J0`` (less a few ulps) is a lower bound, as
        ``V(s) <= max(V0, 0) + J0 s`` (``E_b <= 1``, ``H(s) <= s``); :func:`refine_crossing`
        locates it. ``s_pk = 0`` means ``V0 >= theta`` (a crossing reached within rounding): it
        fires at once.

    Splitting the test from the root finding lets the simulator defer the Newton refinement
    until the crossing is due (most predictions are superseded by the next input before that).
    """
    if v0 >= theta:
        return 0.0, 0.0, v0
    if j0 <= 0.0 or j0 - b * v0 <= 0.0:
        return math.inf, NO_PEAK, -math.inf
    if b == 0.0:
        return _integrator_bracket(v0, j0, a, theta)
    if v0 > 0.0:
        # Two bounds of the peak V*: V(s) <= V0 + J0 h_peak; and, since V rises from V0 > 0 to
        # V* with dV/ds <= J on the way and J(s*) = b V* at the peak, V* <= V0 + (J0 - b V*)/a.
        bound = min(v0 + j0 * h_peak, (a * v0 + j0) / (a + b))
    else:
        bound = j0 * h_peak
    bound *= _BOUND_SLACK  # covers the rounding of the bounds
    if bound < theta:
        return math.inf, NO_PEAK, bound
    s_pk = peak_time(v0, j0, a, b, log_ba)
    if s_pk == NO_PEAK:
        return math.inf, NO_PEAK, -math.inf
    # At the peak dV/ds = 0, so V* = J(s*) / b: one exp instead of a full propagation. Its
    # rounding (a few ulps) is far inside the margin; only peaks near threshold are evaluated
    # exactly as the root finder sees them.
    v_pk = j0 * math.exp(-a * s_pk) / b
    margin = _PEAK_MARGIN * theta
    if theta - v_pk > margin:
        return math.inf, NO_PEAK, v_pk + margin
    if v_pk - theta <= margin:
        v_pk = peak_value(v0, j0, a, b, s_pk)
        if v_pk <= theta:
            return math.inf, NO_PEAK, v_pk
    return (theta - max(v0, 0.0)) / j0 * _LOW_SLACK, s_pk, v_pk

"""Certain crossing detection for the neurons model 1 does not have: a bias, or delta synapses.

A free trajectory (docs/model.md §1) is, with ``c`` the bias,

    current synapses:  V(s) = V0 E_b + J0 H(s) + c G(s)       (a constant and two exponentials,
                                                               or a line and one for ``b = 0``)
    delta synapses:    V(s) = V0 E_b + c G(s) = C + (V0 - C) E_b,   C = c / b   (V0 + c s if b = 0)

so ``V' = J - b V + c`` has at most one zero ``s_ext`` and ``V`` is monotone on ``[0, s_ext]`` and
on ``[s_ext, inf)``. The first rising piece that ends above ``theta`` holds the first crossing:
the first piece if ``V`` rises to a maximum above ``theta``; otherwise the last piece if it rises
towards a limit above ``theta`` (``C``; ``+inf`` for a perfect integrator with ``c > 0``; ``V0 +
J0/a`` for one with ``c = 0``). A maximum or limit exactly at ``theta`` is no spike. The
crossing is then solved on its monotone bracket by the safeguarded Newton iteration of model 1
(:func:`~fpgrad.event._crossing.refine_root`), or in closed form without a current:

    s_c = log1p((theta - V0) / (C - theta)) / b          (= (theta - V0) / c for b = 0)

No grid is involved, so no crossing is missed, whatever the sign of the bias or of ``V0``.
These neurons are rarer than model-1 ones, so the crossing is solved when predicted (the model-1
path defers it until due).
"""

import math

from .._numba import jit
from ._crossing import NO_PEAK, refine_root
from ._propagator import drive, log_rate_ratio, propagate

__all__ = ["general_crossing", "general_maximum", "general_state"]

# Doublings of the search for a bracket end on a piece rising towards its limit: from the
# slower time constant, 2100 doublings pass any float64 time.
_MAX_DOUBLINGS = 2100


@jit
def general_state(v0, j0, s, a, b, c, delta):
    """``(V, V')`` a time ``s`` after the free state ``(v0, j0)``."""
    if delta:
        v = v0 * math.exp(-b * s) + c * drive(s, b)
        return v, c - b * v
    ea, eb, h = propagate(s, a, b)
    v = v0 * eb + j0 * h + c * drive(s, b)
    return v, j0 * ea - b * v + c


@jit
def _extremum_time(v0, j0, a, b, c):
    """The one zero ``s > 0`` of ``V'`` on a current neuron's free trajectory, or ``NO_PEAK``.

    With ``u = V - c/b``: ``e^{(b-a) s} = (b/a) (1 - (b-a) u0 / J0)``; for ``b = 0``:
    ``e^{-a s} = -c / J0``.
    """
    if j0 == 0.0:
        return NO_PEAK
    if b == 0.0:
        ratio = -j0 / c if c != 0.0 else 0.0
        if not ratio > 1.0:
            return NO_PEAK
        return math.log(ratio) / a
    u0 = v0 - c / b
    r = b - a
    if r == 0.0:
        s = 1.0 / a - u0 / j0
    else:
        arg = -r * u0 / j0
        if arg <= -1.0:
            return NO_PEAK
        s = (log_rate_ratio(a, b) + math.log1p(arg)) / r
    return s if s > 0.0 else NO_PEAK


@jit
def general_crossing(v0, j0, a, b, c, delta, theta, t0):
    """First ``s >= 0`` at which the free trajectory from ``(v0, j0)`` (at absolute time ``t0``)
    reaches ``theta`` from below, or ``inf`` (module docstring). ``0`` if ``v0 >= theta``."""
    if v0 >= theta:
        return 0.0
    if delta:
        if b == 0.0:
            return (theta - v0) / c if c > 0.0 else math.inf
        limit = c / b
        if not limit > theta:
            return math.inf
        return math.log1p((theta - v0) / (limit - theta)) / b
    slope0 = j0 - b * v0 + c
    s_ext = _extremum_time(v0, j0, a, b, c)
    if slope0 > 0.0 and s_ext != NO_PEAK:  # a maximum ahead, falling for ever after it
        v_pk = general_state(v0, j0, s_ext, a, b, c, False)[0]
        if not v_pk > theta:
            return math.inf
        return refine_root(v0, j0, a, b, c, theta, s_ext, v_pk - theta, t0)
    if s_ext != NO_PEAK:  # falls to a minimum, then rises for ever
        lo = s_ext
    elif slope0 > 0.0 or (slope0 == 0.0 and j0 < 0.0):  # rises for ever
        lo = 0.0
    else:
        return math.inf
    if b > 0.0:
        limit = c / b
    elif c != 0.0:
        limit = math.inf if c > 0.0 else -math.inf
    else:
        limit = v0 + j0 / a
    if not limit > theta:
        return math.inf
    v_lo, j_lo = v0, j0
    if lo > 0.0:
        ea, eb, h = propagate(lo, a, b)
        v_lo = v0 * eb + j0 * h + c * drive(lo, b)
        j_lo = j0 * ea
        if v_lo >= theta:  # rounding at a minimum within ulps of threshold
            return lo
    step = max(1.0 / a, 1.0 / b) if b > 0.0 else 1.0 / a
    for _ in range(_MAX_DOUBLINGS):
        v_hi = general_state(v_lo, j_lo, step, a, b, c, False)[0]
        if v_hi > theta:
            return lo + refine_root(v_lo, j_lo, a, b, c, theta, step, v_hi - theta, t0 + lo)
        step *= 2.0
        if step == math.inf:
            break
    return math.inf


@jit
def general_maximum(v0, j0, a, b, c, delta, s_end):
    """``(V*, s*)``: the maximum of the free trajectory on ``(0, s_end]`` if ``V`` rises from the
    start (the value at ``s_end`` if it still rises there), else ``(-inf, nan)``."""
    if delta:
        if not c - b * v0 > 0.0:
            return -math.inf, math.nan
        return general_state(v0, j0, s_end, a, b, c, True)[0], s_end
    if not j0 - b * v0 + c > 0.0:
        return -math.inf, math.nan
    s = _extremum_time(v0, j0, a, b, c)
    if not s <= s_end:
        s = s_end
    return general_state(v0, j0, s, a, b, c, False)[0], s

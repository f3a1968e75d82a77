"""Exact propagation of a neuron's state between events, and its parameter derivatives.

With ``a = 1/tau_syn``, ``b = 1/tau_mem`` and the bias ``c``, a neuron's state between events is
``(V, J)``, ``J`` its synaptic current (docs/model.md §1):

    J(t0 + s) = J0 E_a(s),                           E_a(s) = e^{-a s}
    V(t0 + s) = V0 E_b(s) + J0 H(s) + c G(s),        E_b(s) = e^{-b s}
    H(s) = (E_a - E_b) / (b - a) = integral_0^s e^{-a u} e^{-b (s - u)} du   (= s e^{-a s} if a = b)
    G(s) = (1 - E_b) / b = integral_0^s e^{-b u} du                           (= s if b = 0)

A delta-synapse neuron (``tau_syn = 0``) has no current: ``J = 0`` and ``V = V0 E_b + c G``.

``H`` is the post-synaptic kernel ``h``; it is evaluated without cancellation when ``a ~ b``.
The gradient engines also need the derivatives of ``H`` with respect to the rates:

    dH/da = -integral_0^s u e^{-a u} e^{-b (s-u)} du = -E_b s^2 psi((a - b) s)
    dH/db = -E_a s^2 psi((b - a) s),        psi(x) = integral_0^1 v e^{-x v} dv
"""

import math

from .._numba import jit

__all__ = [
    "advance",
    "drive",
    "drive_rate_derivative",
    "kernel_peak",
    "log_rate_ratio",
    "propagate",
    "propagate_rate_derivatives",
]

# Below this |(b - a) s| the difference formulas lose digits; series / expm1 forms are used.
_SMALL = 0.5
# Rate ratios b / a outside this range take ln b - ln a instead of log1p((b - a) / a).
_RATIO_LOW = 2.0**-30
_RATIO_HIGH = 2.0**30


@jit
def propagate(s: float, a: float, b: float) -> tuple[float, float, float]:
    """Return ``(E_a, E_b, H)`` for an interval of length ``s >= 0`` ms.

    Two transcendental calls (this runs once per synaptic event): ``E_a`` and, with
    ``x = (b - a) s``, either ``E_b`` directly (``|x| >= 0.5``, ``H`` by difference, at most two
    bits of cancellation) or ``m = expm1(-x)``, ``E_b = E_a + E_a m``, ``H = E_a s (-m / x)``
    (no cancellation as ``a -> b``). Each result is within a few ulps.
    """
    ea = math.exp(-a * s)
    x = (b - a) * s
    if abs(x) < _SMALL:
        if x == 0.0:
            return ea, ea, ea * s
        em = math.expm1(-x)
        return ea, ea + ea * em, ea * s * (-em / x)
    eb = math.exp(-b * s)
    return ea, eb, (ea - eb) / (b - a)


#: The memo of :func:`propagate_reusing` before any call: ``(s, a, b, E_a, E_b, H)`` with an
#: impossible ``s``.
NO_PROPAGATOR = (-1.0, 0.0, 0.0, 0.0, 0.0, 0.0)


@jit
def propagate_reusing(
    s: float, a: float, b: float, memo: tuple[float, float, float, float, float, float]
) -> tuple[float, float, float, float, float, float]:
    """``(s, a, b, E_a, E_b, H)``: ``memo`` itself if it was computed for the same ``(s, a,
    b)``, else a fresh :func:`propagate` (the same bits either way: it is a pure function).

    The event loops touch the targets of one spike of a dense layer over the same interval, so
    most touches reuse the previous propagator and save both transcendental calls.
    """
    if s == memo[0] and a == memo[1] and b == memo[2]:
        return memo
    ea, eb, h = propagate(s, a, b)
    return (s, a, b, ea, eb, h)


# psi(x) = sum_n c_n (-x)^n with c_n = 1 / (n! (n + 2)); for |x| < 1 the terms up to n = 17 reach
# float64 precision (the first one dropped is below 1e-17, and psi(x) > 0.26 there). Highest
# order first, for Horner's scheme in x^2.
_PSI_EVEN = tuple(1.0 / (math.factorial(n) * (n + 2)) for n in range(16, -1, -2))
_PSI_ODD = tuple(1.0 / (math.factorial(n) * (n + 2)) for n in range(17, 0, -2))


@jit
def _psi_pair(x: float) -> tuple[float, float]:
    """``(psi(x), psi(-x))`` for ``|x| < 1`` from the series split into even and odd terms,
    ``psi(+-x) = E(x^2) -+ x O(x^2)``: two short Horner chains, no loop."""
    x2 = x * x
    even = 0.0
    for c in _PSI_EVEN:
        even = even * x2 + c
    odd = 0.0
    for c in _PSI_ODD:
        odd = odd * x2 + c
    return even - x * odd, even + x * odd


@jit
def propagate_rate_derivatives(
    s: float, a: float, b: float, ea: float, eb: float
) -> tuple[float, float]:
    """Return ``(dH/da, dH/db)`` for an interval of length ``s`` (``ea``, ``eb`` as from
    :func:`propagate`)."""
    x = (a - b) * s
    s2 = s * s
    if abs(x) < 1.0:
        psi_x, psi_minus_x = _psi_pair(x)
        return -eb * s2 * psi_x, -ea * s2 * psi_minus_x
    # E_b psi(x) = (E_b - (1 + x) E_a) / x^2 and E_a psi(-x) = (E_a - (1 - x) E_b) / x^2
    # (no overflow: e^{-x} E_b = E_a).
    return -s2 * (eb - (1.0 + x) * ea) / (x * x), -s2 * (ea - (1.0 - x) * eb) / (x * x)


@jit
def drive(s: float, b: float) -> float:
    """``G(s) = (1 - e^{-b s}) / b``, the voltage a unit bias builds up in ``s`` ms from 0
    (``s`` for a perfect integrator, ``b = 0``); ``expm1`` keeps it exact for small ``b s``."""
    if b == 0.0:
        return s
    return -math.expm1(-b * s) / b


@jit
def drive_rate_derivative(s: float, b: float) -> float:
    """``dG/db = -integral_0^s u e^{-b u} du = -s^2 psi(b s)``."""
    x = b * s
    if abs(x) < 1.0:
        return -s * s * _psi_pair(x)[0]
    return -s * s * (1.0 - (1.0 + x) * math.exp(-x)) / (x * x)


@jit
def log_rate_ratio(a: float, b: float) -> float:
    """``ln(b / a)`` to full precision for every pair of positive rates a float64 can hold:
    ``log1p((b - a) / a)`` for ratios in ``(2^-30, 2^30)`` (no cancellation near 1), ``ln b -
    ln a`` beyond (where ``(b - a) / a`` rounds to ``-1`` once ``b / a < 2^-53``, or overflows:
    a near-perfect integrator, ``tau_mem / tau_syn ~ 1e17``, lost its crossings to
    ``log1p(-1) = -inf``; ``ln(b/a)`` is far from 0 there, so the difference is exact to
    rounding)."""
    if _RATIO_LOW < b / a < _RATIO_HIGH:
        return math.log1p((b - a) / a)
    if b == 0.0:
        return -math.inf  # a perfect integrator: its kernel has no maximum
    return math.log(b) - math.log(a)


@jit
def kernel_peak(a: float, b: float) -> float:
    """max_s H(s): the largest voltage one unit of input current can produce.

    The peak is at ``s_h = ln(b / a) / (b - a)`` (``1/a`` when ``a = b``; it tends to ``1/a``
    for ``b << a`` and to ``1/b`` for ``b >> a``).
    """
    if b == 0.0:  # a perfect integrator: H(s) = (1 - e^{-a s}) / a rises to 1 / a
        return 1.0 / a
    r = b - a
    s_h = 1.0 / a if r == 0.0 else log_rate_ratio(a, b) / r
    return propagate(s_h, a, b)[2]


@jit
def advance(
    v: float,
    j: float,
    t_from: float,
    t_to: float,
    release: float,
    a: float,
    b: float,
    c: float,
    v_reset: float,
    delta: bool,
) -> tuple[float, float]:
    """State ``(V, J)`` at ``t_to`` from the state at ``t_from``, free of input in between.

    ``V`` is held at ``v_reset`` while ``t <= release`` (the end of the refractory period after
    the last spike; ``release <= t_from`` when the neuron is not refractory), ``J`` decays
    throughout. ``delta``: a delta-synapse neuron (``J = 0``, ``a`` unused). The bias term is
    added only when ``c != 0``, so model-1 neurons compute exactly what they always did.
    """
    if t_from < release:
        if t_to <= release:
            return v_reset, (0.0 if delta else j * math.exp(-a * (t_to - t_from)))
        if not delta:
            j = j * math.exp(-a * (release - t_from))
        v = v_reset
        t_from = release
    s = t_to - t_from
    if delta:
        v = v * math.exp(-b * s)
        if c != 0.0:
            v += c * drive(s, b)
        return v, 0.0
    ea, eb, h = propagate(s, a, b)
    v = v * eb + j * h
    if c != 0.0:
        v += c * drive(s, b)
    return v, j * ea

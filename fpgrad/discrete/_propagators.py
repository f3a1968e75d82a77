"""Exact one-step propagators of the current-based LIF neuron on a grid of step ``dt`` (ms).

Between events the state ``(V, J)`` of a neuron (``J = sum_k w_k I_pre[k]``, its total input
current) evolves linearly (docs/model.md §1), so one step of length ``dt`` is exactly

    J(t + dt) = alpha J(t),               alpha = e^{-a dt},  a = 1 / tau_syn
    V(t + dt) = beta V(t) + H J(t),       beta  = e^{-b dt},  b = 1 / tau_mem
    H = (e^{-a dt} - e^{-b dt}) / (b - a)      (= dt e^{-a dt} when a = b)

with no Euler error: the grid model samples the continuous solution at the grid points.
``H`` is evaluated as ``dt e^{-a dt} (1 - e^{-c}) / c`` with ``c = (b - a) dt`` through
``expm1`` (a series near ``c = 0``), so it is accurate and differentiable for every pair of time
constants, ``tau_mem = tau_syn`` included.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

__all__ = ["step_factors"]

_SERIES_BELOW = 1e-3  # |c| below which (1 - e^{-c}) / c uses its Taylor series (error < c^5/720)


def _one_minus_exp_over(c: Array) -> Array:
    """``(1 - e^{-c}) / c`` with the limit 1 at ``c = 0``; finite gradients everywhere."""
    small = jnp.abs(c) < _SERIES_BELOW
    safe = jnp.where(small, 1.0, c)
    series = 1.0 - c / 2.0 + c * c / 6.0 - c**3 / 24.0 + c**4 / 120.0
    return jnp.where(small, series, -jnp.expm1(-safe) / safe)


def step_factors(dt: float, tau_syn: ArrayLike, tau_mem: ArrayLike) -> tuple[Array, Array, Array]:
    """``(alpha, beta, H)`` of one exact step of length ``dt`` (ms); see the module docstring.

    ``tau_syn`` (a scalar) and ``tau_mem`` (per neuron) are in ms; the results broadcast like
    ``tau_mem`` and are differentiable in both time constants.
    """
    tau_syn = jnp.asarray(tau_syn)
    tau_mem = jnp.asarray(tau_mem)
    a = 1.0 / tau_syn
    b = 1.0 / tau_mem
    alpha = jnp.exp(-a * dt)
    beta = jnp.exp(-b * dt)
    h = dt * alpha * _one_minus_exp_over((b - a) * dt)
    return jnp.broadcast_to(alpha, h.shape), beta, h

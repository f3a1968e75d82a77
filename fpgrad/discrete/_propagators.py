"""Exact one-step propagators of the current-based LIF neuron on a grid of step ``dt`` (ms).

Between events the state ``(V, J)`` of neuron ``i`` evolves linearly (docs/model.md §1,
``dJ/dt = -J / tau_syn``, ``dV/dt = -V / tau_mem + J + bias``), so one step of length ``dt`` is
exactly

    J(t + dt) = alpha J(t),                         alpha = e^{-a dt},  a = 1 / tau_syn
    V(t + dt) = beta V(t) + H J(t) + G bias,        beta  = e^{-b dt},  b = 1 / tau_mem
    H = (e^{-a dt} - e^{-b dt}) / (b - a)           (= dt e^{-a dt} when a = b)
    G = (1 - e^{-b dt}) / b = (1 - e^{-dt/tau_mem}) tau_mem      (= dt when tau_mem = inf)

with no Euler error: the grid model samples the continuous solution at the grid points.
``H`` is evaluated as ``dt e^{-a dt} (1 - e^{-c}) / c`` with ``c = (b - a) dt`` and ``G`` as
``dt (1 - e^{-b dt}) / (b dt)``, both through ``expm1`` (a series near 0), so they are accurate
and differentiable for every pair of time constants, ``tau_mem = tau_syn`` and
``tau_mem = inf`` (``b = 0``: ``beta = 1``, ``G = dt``) included. ``tau_syn = 0`` (a neuron with
delta synapses, no current) gives ``alpha = H = 0`` with zero derivatives in ``tau_syn``.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

__all__ = ["bias_factor", "step_factors"]

_SERIES_BELOW = 1e-3  # |c| below which (1 - e^{-c}) / c uses its Taylor series (error < c^5/720)


def _one_minus_exp_over(c: Array) -> Array:
    """``(1 - e^{-c}) / c`` with the limit 1 at ``c = 0``; finite gradients everywhere."""
    small = jnp.abs(c) < _SERIES_BELOW
    safe = jnp.where(small, 1.0, c)
    series = 1.0 - c / 2.0 + c * c / 6.0 - c**3 / 24.0 + c**4 / 120.0
    return jnp.where(small, series, -jnp.expm1(-safe) / safe)


def step_factors(dt: float, tau_syn: ArrayLike, tau_mem: ArrayLike) -> tuple[Array, Array, Array]:
    """``(alpha, beta, H)`` of one exact step of length ``dt`` (ms); see the module docstring.

    ``tau_syn`` and ``tau_mem`` are in ms, scalars or per neuron (they broadcast);
    ``tau_syn = 0`` gives ``alpha = H = 0`` (delta synapses), ``tau_mem = inf`` ``beta = 1``.
    The results broadcast together and are differentiable in both time constants.
    """
    tau_syn = jnp.asarray(tau_syn)
    tau_mem = jnp.asarray(tau_mem)
    delta = tau_syn == 0
    a = 1.0 / jnp.where(delta, 1.0, tau_syn)
    b = 1.0 / tau_mem
    alpha = jnp.exp(-a * dt)
    beta = jnp.exp(-b * dt)
    h = dt * alpha * _one_minus_exp_over((b - a) * dt)
    alpha = jnp.where(delta, 0.0, alpha)
    h = jnp.where(delta, 0.0, h)
    shape = jnp.broadcast_shapes(alpha.shape, beta.shape, h.shape)
    return (
        jnp.broadcast_to(alpha, shape),
        jnp.broadcast_to(beta, shape),
        jnp.broadcast_to(h, shape),
    )


def bias_factor(dt: float, tau_mem: ArrayLike) -> Array:
    """``G = (1 - e^{-dt/tau_mem}) tau_mem``: the exact rise of ``V`` over one step of length
    ``dt`` (ms) under a unit bias current from ``V = 0`` (``= dt`` for ``tau_mem = inf``);
    differentiable in ``tau_mem``."""
    b = 1.0 / jnp.asarray(tau_mem)
    return dt * _one_minus_exp_over(b * dt)

"""Surrogate-gradient BPTT: ``jax.grad`` of a loss of the discrete outputs through the scan.

Every group of :data:`fpgrad.grad.GROUPS` but ``input_time`` is reported, in the exact engines'
shapes: ``weight`` ``(K,)``, ``threshold``, ``tau_mem``, ``tau_syn``, ``bias``, ``v_reset``
``(N,)`` by BPTT (``tau_syn`` is 0 for delta-synapse neurons), and ``delay`` ``(K,)``, ``t_ref``
``(N,)`` as zeros: on the grid they are whole steps ``round(d / dt)``, a piecewise-constant map
with no derivative (docs/model.md §4).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike
from numpy.typing import DTypeLike, NDArray

from .._problem import Network, Problem, ProblemError
from ..grad import Gradients
from ._model import (
    DiscreteOutput,
    DiscreteParams,
    DiscreteProblem,
    Reset,
    _Options,
    _options,
    _run,
    discretize,
)
from ._surrogates import SurrogateSpike

__all__ = ["SurrogateGradient", "grid_gradients", "surrogate_gradient"]

LossFn = Callable[..., ArrayLike]


@dataclass(frozen=True, eq=False)
class SurrogateGradient:
    """A loss of the discrete outputs and its surrogate (BPTT) gradient.

    Attributes:
        loss: the loss value.
        gradients: :class:`fpgrad.grad.Gradients` with ``weight`` (per synapse, file order;
            duplicate synapses get equal gradients), ``threshold``, ``tau_mem``, ``tau_syn``
            (per neuron, 0 for delta-synapse neurons), ``bias`` and ``v_reset``, and zeros for
            ``delay`` and ``t_ref`` (whole steps on the grid), as float64 numpy arrays;
            ``input_time`` is ``None`` (spike times are binned to the grid, a
            piecewise-constant map).
        inputs: gradient w.r.t. the binned input count raster, shape of ``dp.inputs``.
        output: the :class:`DiscreteOutput` the loss was computed from.
        dp: the :class:`DiscreteProblem`; ``surrogate``: the surrogate used.
    """

    loss: float
    gradients: Gradients
    inputs: NDArray[np.float64]
    output: DiscreteOutput
    dp: DiscreteProblem
    surrogate: SurrogateSpike


@partial(jax.jit, static_argnames=("opts", "loss_fn", "n_inputs"))
def _loss_and_grad(
    params: DiscreteParams,
    inputs: Array,
    pre: Array,
    post: Array,
    ref_steps: Array,
    delay_steps: Array,
    loss_args: tuple[Any, ...],
    opts: _Options,
    loss_fn: LossFn,
    n_inputs: int,
):
    def objective(p: DiscreteParams, x: Array):
        raster, voltage = _run(p, pre, post, ref_steps, delay_steps, x, opts)
        out = DiscreteOutput(raster, voltage, opts.dt, n_inputs)
        loss = jnp.asarray(loss_fn(out, *loss_args))
        if loss.shape != ():
            raise ValueError(f"loss_fn must return a scalar, got shape {loss.shape}")
        return loss, out

    (loss, out), (g_params, g_inputs) = jax.value_and_grad(objective, argnums=(0, 1), has_aux=True)(
        params, inputs
    )
    return loss, out, g_params, g_inputs


def grid_gradients(g_params: DiscreteParams, network: Network) -> Gradients:
    """The BPTT cotangent of :class:`DiscreteParams` as :class:`fpgrad.grad.Gradients` (float64
    numpy): every network group, ``delay`` and ``t_ref`` as zeros (no grid gradient), the
    ``tau_syn`` of delta-synapse neurons 0."""

    def host(x: Array) -> NDArray[np.float64]:
        return np.asarray(x, dtype=np.float64)

    tau_syn = np.where(network.tau_syn == 0, 0.0, host(g_params.tau_syn))
    return Gradients(
        weight=host(g_params.weight),
        threshold=host(g_params.threshold),
        tau_mem=host(g_params.tau_mem),
        tau_syn=tau_syn,
        delay=np.zeros(network.n_synapses),
        bias=host(g_params.bias),
        v_reset=host(g_params.v_reset),
        t_ref=np.zeros(network.n_neurons),
    )


def surrogate_gradient(
    problem: Problem | Network | DiscreteProblem,
    loss_fn: LossFn,
    dt: float | None = None,
    surrogate: SurrogateSpike | str | None = None,
    *,
    batch: Sequence[Sequence[ArrayLike]] | None = None,
    t_max: float | None = None,
    loss_args: Sequence[Any] = (),
    spiking: bool = True,
    reset: Reset = "subtract",
    detach_reset: bool = True,
    record_voltage: bool = True,
    dtype: DTypeLike | None = None,
) -> SurrogateGradient:
    """Surrogate-gradient BPTT of ``loss_fn(output, *loss_args)`` w.r.t. every parameter.

    The problem is put on the grid of step ``dt`` (:func:`discretize`), simulated by
    :func:`simulate_discrete` and ``jax.value_and_grad`` is taken through the ``lax.scan``: the
    spike nonlinearity contributes its surrogate derivative, everything else its exact
    derivative (propagators included, so ``tau_mem``, ``tau_syn`` and ``bias`` get gradients;
    ``delay`` and ``t_ref``, whole steps on the grid, get zeros).

    Args:
        problem: a :class:`Problem`, a :class:`Network` (with ``batch`` and ``t_max``) or an
            already discretised :class:`DiscreteProblem` (then ``dt``, ``batch``, ``t_max`` and
            ``dtype`` must be left out).
        loss_fn: ``loss_fn(output: DiscreteOutput, *loss_args) -> scalar``, any JAX function of
            ``output.raster`` / ``output.voltage`` (batched ``(B, T+1, N)`` if ``batch`` is given:
            reduce over the batch yourself). It is a static argument of a jitted function: pass
            the same function object across calls to reuse the compiled code, and put data
            (targets) in ``loss_args``, which are traced.
        dt: grid step in ms.
        surrogate: a :class:`SurrogateSpike` or a name (default ``fast_sigmoid``, normalised).
        batch, t_max, dtype: as in :func:`discretize`.
        spiking, reset, detach_reset: as in :func:`simulate_discrete`.
        record_voltage: make ``output.voltage`` available to the loss (default True).
    """
    if isinstance(problem, DiscreteProblem):
        if dt is not None and float(dt) != problem.dt:
            raise ProblemError(f"dt = {dt} differs from the DiscreteProblem's dt = {problem.dt}")
        if batch is not None or t_max is not None or dtype is not None:
            raise ProblemError("batch, t_max and dtype are fixed by the DiscreteProblem")
        dp = problem
    else:
        if dt is None:
            raise ProblemError("dt: the grid step (ms) is required")
        dp = discretize(problem, dt, batch=batch, t_max=t_max, dtype=dtype)
    opts = _options(dp, surrogate, spiking, reset, detach_reset, record_voltage)
    loss, out, g_params, g_inputs = _loss_and_grad(
        dp.params,
        dp.inputs,
        dp.pre,
        dp.post,
        dp.ref_steps,
        dp.delay_steps,
        tuple(loss_args),
        opts=opts,
        loss_fn=loss_fn,
        n_inputs=dp.n_inputs,
    )

    grads = grid_gradients(g_params, dp.network)
    return SurrogateGradient(
        loss=float(loss),
        gradients=grads,
        inputs=np.asarray(g_inputs, dtype=np.float64),
        output=out,
        dp=dp,
        surrogate=opts.surrogate,
    )

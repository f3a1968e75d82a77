"""``SurrogateMethod``: batched surrogate-gradient training (JAX BPTT on the time grid).

The classifier of :mod:`fpgrad.train._model` is run on the grid model of :mod:`fpgrad.discrete`
(:func:`fpgrad.discrete.discretize`, the same ``lax.scan`` as
:func:`fpgrad.discrete.simulate_discrete`): exact step propagators, Heaviside spikes forward, a
surrogate derivative backward. Per sample the loss is the definition of the exact path,
:meth:`fpgrad.FirstSpikeCrossEntropy.formula`, on the differentiable grid first-spike times of
the outputs (:meth:`fpgrad.discrete.DiscreteOutput.first_spike_times` with silent outputs at
``t_max``, as :class:`fpgrad.discrete.Surrogate` does for :func:`fpgrad.gradient`):

    T_c = sum_n t_n s_n prod_{m<n} (1 - s_m) + t_max prod_n (1 - s_n)
    L   = -log softmax(-T / tau0)[label] + alpha (exp(T_label / tau1) - 1)

and a minibatch gets the mean gradient ``(1/B) sum_b dL_b/dp`` of ``p = (weight, threshold)``,
by ``jax.value_and_grad`` through one ``vmap`` over the samples, compiled once per model shape,
grid and chunk size (``batch_pad``) and reused for every minibatch. The gradient is the same
as ``fpgrad.gradient(problem, loss, method=fpgrad.discrete.Surrogate(...))`` per sample
(tested to 1e-10 in float64), in the layout of :class:`~fpgrad.train.Params`.

Inputs are binned once per split (:meth:`SurrogateMethod.prepare`, the rule of
:func:`fpgrad.discrete.bin_inputs`: a spike at ``g`` lands at step ``ceil(g / dt)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from numpy.typing import ArrayLike, NDArray

from .._problem import Problem, as_inputs
from ..discrete._grid import _check_dt, bin_inputs, bin_times
from ..discrete._model import (
    DiscreteOutput,
    DiscreteParams,
    _Options,
    _options,
    _run_single,
    discretize,
)
from ..discrete._surrogates import SurrogateSpike, get_surrogate
from ..losses import FirstSpikeCrossEntropy
from ._methods import LossConfig, StepResult
from ._model import Classifier, Params

__all__ = ["GridInputs", "SurrogateMethod"]

_DTYPES = ("float32", "float64")


@dataclass(frozen=True, eq=False)
class GridInputs:
    """One split's input spikes on the grid (what :meth:`SurrogateMethod.prepare` returns).

    ``counts[s, n, j]`` is the number of spikes of input ``j`` of sample ``s`` landing at
    ``t_n = n dt`` (:func:`fpgrad.discrete.bin_inputs`), for ``n = 0..`` the last occupied step;
    a run pads with empty steps or drops steps beyond its horizon.
    """

    dt: float
    counts: NDArray[np.float64]

    def window(self, index: NDArray[np.int64], n_rows: int) -> NDArray[np.float64]:
        """Count rasters ``(len(index), n_rows, M)`` of the samples ``index``."""
        x = self.counts[index, :n_rows]
        if x.shape[1] < n_rows:
            x = np.pad(x, ((0, 0), (0, n_rows - x.shape[1]), (0, 0)))
        return x


@partial(
    jax.jit,
    static_argnames=("opts", "n_inputs", "t_max", "outputs", "loss", "with_grad", "per_sample"),
)
def _chunk(
    weight: Array,
    threshold: Array,
    fixed: tuple[Array, ...],
    counts: Array,
    labels: Array,
    mask: Array,
    sample_clip: Array,
    *,
    opts: _Options,
    n_inputs: int,
    t_max: float,
    outputs: tuple[int, ...],
    loss: LossConfig,
    with_grad: bool,
    per_sample: bool,
) -> tuple[Array, ...]:
    """Losses, grid first-spike times and firing of one padded chunk, and the masked *sum* of
    the per-sample gradients (each clipped to norm ``sample_clip`` if ``per_sample``)."""
    tau_mem, tau_syn, pre, post, ref_steps = fixed
    out_index = jnp.asarray(outputs) - n_inputs
    per_label = [
        FirstSpikeCrossEntropy(outputs, c, loss.tau0, loss.tau1, loss.alpha)
        for c in range(len(outputs))
    ]

    def sample_loss(w: Array, th: Array, raster: Array, label: Array):
        params = DiscreteParams(w, th, tau_mem, tau_syn)
        spikes, _ = _run_single(params, pre, post, ref_steps, raster, opts)
        # first-spike times of the output columns only (through all N columns, the gradient
        # of the cumulative product tripled the time of a step); every class's loss is
        # evaluated and the (traced) label picks one
        out = DiscreteOutput(spikes[:, out_index], None, opts.dt, n_inputs)
        times = out.first_spike_times(t_silent=t_max)
        value = jnp.stack([lo.formula(times, xp=jnp) for lo in per_label])[label]
        fired = jnp.any(jax.lax.stop_gradient(spikes) > 0.5, axis=0)
        return value, (times, fired)

    batched = jax.vmap(sample_loss, in_axes=(None, None, 0, 0))
    if not with_grad:
        values, (times, fired) = batched(weight, threshold, counts, labels)
        return values, times, fired
    if per_sample:
        grad_one = jax.value_and_grad(sample_loss, argnums=(0, 1), has_aux=True)
        (values, (times, fired)), (g_w, g_th) = jax.vmap(grad_one, in_axes=(None, None, 0, 0))(
            weight, threshold, counts, labels
        )
        norm = jnp.sqrt(jnp.sum(g_w**2, axis=1) + jnp.sum(g_th**2, axis=1))
        scale = mask * jnp.where(norm > sample_clip, sample_clip / norm, 1.0)
        return values, times, fired, scale @ g_w, scale @ g_th

    def total(w: Array, th: Array):
        values, aux = batched(w, th, counts, labels)
        return jnp.sum(mask * values), (values, aux)

    (_, (values, (times, fired))), (g_w, g_th) = jax.value_and_grad(
        total, argnums=(0, 1), has_aux=True
    )(weight, threshold)
    return values, times, fired, g_w, g_th


@dataclass(frozen=True)
class SurrogateMethod:
    """Surrogate-gradient BPTT for :func:`~fpgrad.train.train` (a :class:`TrainMethod`).

    Attributes:
        dt: grid step (ms). Default 0.25: every grid event is late by less than ``dt`` (the
            delays add up along the input -> hidden -> output chain), so ``dt`` must stay below
            the time scale ``tau0`` on which the loss compares output spike times (0.5 ms for
            Yin-Yang, 2 ms by default); in short Yin-Yang probes (one seed, 5-8 epochs) 0.1 ms
            trained no better than 0.25 ms at 2.5-5 times the cost per epoch.
        surrogate: a name of :data:`fpgrad.discrete.SURROGATES` or a
            :class:`~fpgrad.discrete.SurrogateSpike`; default ``fast_sigmoid`` (SuperSpike).
        width: surrogate width in units of threshold (default
            :data:`fpgrad.discrete.DEFAULT_WIDTH`).
        reset, detach_reset: as in :func:`fpgrad.discrete.simulate_discrete` (they matter when
            a neuron can fire more than once, ``t_ref < t_max``).
        dtype: ``"float32"`` (default: about 1.7 times faster; the loss and its gradient need no
            more for training) or ``"float64"`` (needs ``jax_enable_x64``). Parameters stay
            float64 in the loop; gradients are returned as float64.
        batch_pad: samples per compiled call: ``run`` processes its samples in chunks of this
            size, the last one padded with masked samples, so one program (per model shape and
            ``dt``) serves every minibatch and evaluation size; set it to the training batch size.

    ``sample_clip > 0`` in :meth:`run` takes each sample's gradient under ``vmap`` (slower than
    the summed gradient of the default) and scales it to norm at most ``sample_clip``.
    Predictions: the output with the earliest grid first spike; ties (same step, more likely
    the larger ``dt``) go to the lowest class and a sample with all outputs silent is predicted
    as class 0, as :meth:`fpgrad.FirstSpikeCrossEntropy.predict` does. ``fired`` marks the
    neurons that spiked on the grid.
    """

    dt: float = 0.25
    surrogate: str | SurrogateSpike = "fast_sigmoid"
    width: float | None = None
    reset: str = "subtract"
    detach_reset: bool = True
    dtype: str = "float32"
    batch_pad: int = 32
    name: str = field(default="surrogate", init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dt", _check_dt(self.dt))
        self.spike_function()  # validates surrogate and width
        if self.reset not in ("subtract", "zero"):
            raise ValueError(f"reset = {self.reset!r}: expected 'subtract' or 'zero'")
        if self.dtype not in _DTYPES:
            raise ValueError(f"dtype = {self.dtype!r}: expected one of {', '.join(_DTYPES)}")
        if self.dtype == "float64" and not jax.config.read("jax_enable_x64"):
            raise ValueError(
                "dtype = 'float64' needs JAX's float64 mode: "
                "jax.config.update('jax_enable_x64', True)"
            )
        if int(self.batch_pad) < 1:
            raise ValueError(f"batch_pad = {self.batch_pad!r} must be an integer >= 1")
        object.__setattr__(self, "batch_pad", int(self.batch_pad))

    def spike_function(self) -> SurrogateSpike:
        """The surrogate spike function used."""
        if isinstance(self.surrogate, SurrogateSpike):
            return self.surrogate
        return get_surrogate(self.surrogate, width=self.width)

    def prepare(self, inputs: Sequence[Sequence[ArrayLike]]) -> GridInputs:
        """Bin every sample's input spikes on the grid once (``inputs[s][j]``: spike times)."""
        if not len(inputs):
            raise ValueError("inputs: need at least one sample")
        trains = [as_inputs(len(sample), sample) for sample in inputs]
        steps = [bin_times(t, self.dt) for s in trains for t in s if t.size]
        last = max((int(n.max()) for n in steps), default=0)
        return GridInputs(self.dt, np.stack([bin_inputs(s, self.dt, last) for s in trains]))

    def run(
        self,
        model: Classifier,
        params: Params,
        data: Any,
        index: NDArray[np.int64],
        labels: NDArray[np.int64],
        loss: LossConfig,
        with_grad: bool,
        sample_clip: float = 0.0,
    ) -> StepResult:
        """See :class:`~fpgrad.train.TrainMethod`."""
        if not isinstance(data, GridInputs) or data.dt != self.dt:
            raise TypeError("data: pass the output of this SurrogateMethod's prepare()")
        index = np.asarray(index, np.int64)
        if index.size == 0:
            raise ValueError("index: need at least one sample")
        dp = discretize(
            Problem(model.network(params), [()] * model.n_inputs, model.t_max),
            self.dt,
            dtype=self.dtype,
        )
        opts = _options(dp, self.spike_function(), True, self.reset, self.detach_reset, False)
        p = dp.params
        fixed = (p.tau_mem, p.tau_syn, dp.pre, dp.post, dp.ref_steps)
        statics = {
            "opts": opts,
            "n_inputs": model.n_inputs,
            "t_max": model.t_max,
            "outputs": tuple(int(o) for o in model.outputs),
            "loss": loss,
            "with_grad": bool(with_grad),
            "per_sample": bool(with_grad and sample_clip > 0),
        }
        size = self.batch_pad
        values, times, fired = [], [], []
        g_w = np.zeros(p.weight.shape[0])
        g_th = np.zeros(p.threshold.shape[0])
        for start in range(0, index.size, size):
            chunk = index[start : start + size]
            n = chunk.size
            counts = np.zeros((size, dp.n_steps + 1, model.n_inputs))
            counts[:n] = data.window(chunk, dp.n_steps + 1)
            lab = np.zeros(size, np.int32)
            lab[:n] = labels[chunk]
            out = _chunk(
                p.weight,
                p.threshold,
                fixed,
                jnp.asarray(counts, self.dtype),
                jnp.asarray(lab),
                jnp.asarray(np.arange(size) < n, self.dtype),
                jnp.asarray(sample_clip, self.dtype),
                **statics,
            )
            values.append(np.asarray(out[0], np.float64)[:n])
            times.append(np.asarray(out[1])[:n])
            fired.append(np.asarray(out[2])[:n])
            if with_grad:
                g_w += np.asarray(out[3], np.float64)
                g_th += np.asarray(out[4], np.float64)
        first = np.concatenate(times)
        return StepResult(
            loss=np.concatenate(values),
            pred=np.argmin(first, axis=1).astype(np.int64),
            fired=np.concatenate(fired),
            grad_weight=g_w / index.size if with_grad else None,
            grad_threshold=g_th / index.size if with_grad else None,
        )

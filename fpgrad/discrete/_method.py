"""``Surrogate``: surrogate-gradient BPTT on the time grid, a :class:`fpgrad.GradientMethod`.

The loss is the same definition as in the exact path, evaluated on the grid by the loss itself
(:meth:`fpgrad.losses.Loss.grid_statistic` / ``grid_value``: first-spike losses on the
differentiable grid first-spike times ``T_i = sum_n t_n s_n prod_{m<n}(1 - s_m) + t_max
prod_n (1 - s_n)``, a silent neuron counting as firing at ``t_max`` as in the exact losses;
:class:`~fpgrad.SpikeCount` on the raster's column sums; :class:`~fpgrad.VanRossum` on the raster
with the exactly filtered pair form). :func:`grid_loss` assembles those terms.

Batch entry (:meth:`Surrogate.batch`): the input spikes are binned once
(:meth:`Surrogate.prepare`, a :class:`GridInputs`) and the batch runs as one ``vmap`` over the
samples of the ``lax.scan`` of :mod:`fpgrad.discrete._model`, gradient by ``jax.value_and_grad``
of the mean loss. A classification minibatch (:class:`~fpgrad.FirstSpikeCrossEntropy` losses
sharing outputs and constants, the labels traced) is compiled once per model shape, grid and
chunk size (``batch_pad``: the samples run in chunks of that size, the last one padded with
masked samples) and reused for every minibatch and split; any other batch is compiled once per
tuple of losses (they are static) and shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from numpy.typing import ArrayLike, NDArray

from .._method import (
    BatchGradient,
    GradientMethod,
    GradientResult,
    InputBatch,
    is_classification_batch,
)
from .._problem import Network, Problem, ProblemError
from ..grad import Gradients
from ..losses import FirstSpikeCrossEntropy, Loss
from ._gradient import _loss_and_grad, grid_gradients, surrogate_gradient
from ._grid import _check_dt, bin_inputs, bin_times
from ._model import DiscreteOutput, DiscreteParams, _Options, _options, _run_single, discretize
from ._surrogates import SurrogateSpike, get_surrogate

__all__ = ["GridInputs", "Surrogate", "float64", "grid_loss"]

GridLoss = Callable[[DiscreteOutput], Array]
_DTYPES = ("float32", "float64")


@contextmanager
def float64() -> Iterator[None]:
    """JAX's float64 mode within the block (thread-local; the global setting is untouched):
    comparisons with the exact float64 gradients run in float64 whatever the user's setting."""
    try:
        from jax import enable_x64
    except ImportError:  # pragma: no cover - JAX < 0.8 has it in jax.experimental
        from jax.experimental import enable_x64
    with enable_x64(True):
        yield


def _columns(nodes: Sequence[int], n_inputs: int, n_neurons: int) -> np.ndarray:
    """Raster columns of global neuron ids; a node that is not a neuron is an error."""
    for node in nodes:
        if not n_inputs <= node < n_inputs + n_neurons:
            raise ProblemError(
                f"loss neurons: node {node} is not a neuron "
                f"(ids {n_inputs}..{n_inputs + n_neurons - 1})"
            )
    return np.asarray(nodes, dtype=np.int64) - n_inputs


def _statistic(kind: str, out: DiscreteOutput, t_max: float) -> Array:
    if kind == "first":
        return out.first_spike_times(t_silent=t_max)
    if kind == "count":
        return jnp.sum(out.raster, axis=-2)
    return out.raster


def _grid_term(loss: Any, n_inputs: int, n_neurons: int) -> tuple[str, np.ndarray, Any]:
    statistic = getattr(loss, "grid_statistic", None)
    if not callable(statistic) or not callable(getattr(loss, "grid_value", None)):
        raise ProblemError(
            f"surrogate gradients need the loss's grid form: {type(loss).__name__} defines no "
            "grid_statistic() / grid_value() (see fpgrad.losses.Loss)"
        )
    kind, nodes = statistic()
    if kind not in ("first", "count", "raster"):
        raise ProblemError(f"{type(loss).__name__}.grid_statistic(): unknown statistic {kind!r}")
    return kind, _columns(nodes, n_inputs, n_neurons), loss


@lru_cache(maxsize=64)
def _grid_values(losses: tuple[Loss, ...], n_inputs: int, n_neurons: int, t_max: float) -> GridLoss:
    """Per-sample losses of a batched output ``(B,)`` (a scalar for one unbatched loss)."""
    terms = [_grid_term(loss, n_inputs, n_neurons) for loss in losses]
    # the raster columns each statistic is computed on (only those the losses read), and where
    # each term's columns lie among them
    columns = {
        kind: np.unique(np.concatenate([c for k, c, _ in terms if k == kind]))
        for kind in {kind for kind, _, _ in terms}
    }
    positions = [np.searchsorted(columns[kind], cols) for kind, cols, _ in terms]

    def values(out: DiscreteOutput) -> Array:
        stats = {}
        for kind, cols in columns.items():
            sub = DiscreteOutput(out.raster[..., cols], None, out.dt, out.n_inputs)
            stats[kind] = _statistic(kind, sub, t_max)
        if out.raster.ndim == 2:  # one sample, one loss
            ((kind, _, loss),) = terms
            return loss.grid_value(stats[kind][..., positions[0]], out.dt)
        if out.raster.shape[0] != len(terms):
            raise ValueError(f"{out.raster.shape[0]} samples but {len(terms)} losses")
        return jnp.stack(
            [
                loss.grid_value(stats[kind][b][..., pos], out.dt)
                for b, ((kind, _, loss), pos) in enumerate(zip(terms, positions, strict=True))
            ]
        )

    return values


@lru_cache(maxsize=64)
def _grid_mean(losses: tuple[Loss, ...], n_inputs: int, n_neurons: int, t_max: float) -> GridLoss:
    values = _grid_values(losses, n_inputs, n_neurons, t_max)
    return lambda out: jnp.mean(values(out))


def grid_loss(
    losses: Loss | Sequence[Loss], problem: Problem | Network, t_max: float | None = None
) -> GridLoss:
    """The JAX function of a :class:`DiscreteOutput` computing fpgrad's loss(es) on the grid.

    One loss: a function of an unbatched output. A sequence of losses (one per sample): a
    function of a batched output ``(B, T+1, N)`` returning the mean ``(1/B) sum_b L_b`` (so its
    gradient is the mean gradient, as :func:`fpgrad.gradient_batch` averages). ``problem`` gives
    the node numbering and ``t_max`` (the time of a silent neuron; pass ``t_max`` with a
    network). The function is cached per ``(losses, network size, t_max)``: the same object
    comes back for equal arguments, so a jitted gradient taking it as a static argument is
    compiled once and reused.
    """
    items = tuple(losses) if isinstance(losses, Sequence) else (losses,)
    if not items:
        raise ProblemError("losses: need at least one loss")
    net = problem.network if isinstance(problem, Problem) else problem
    horizon = float(problem.t_max if isinstance(problem, Problem) else t_max)
    if isinstance(losses, Sequence):
        return _grid_mean(items, net.n_inputs, net.n_neurons, horizon)
    return _grid_values(items, net.n_inputs, net.n_neurons, horizon)


@dataclass(frozen=True, eq=False)
class GridInputs:
    """A batch's input spikes on the grid (what :meth:`Surrogate.prepare` returns).

    ``counts[s, n, j]`` is the number of spikes of input ``j`` of sample ``s`` landing at
    ``t_n = n dt`` (:func:`fpgrad.discrete.bin_inputs`), for ``n = 0..`` the last occupied step;
    a run pads with empty steps or drops steps beyond its horizon. ``source`` holds the trains
    themselves; ``index`` the samples of this (sub)batch.
    """

    dt: float
    counts: NDArray[np.float64]
    source: InputBatch

    def __len__(self) -> int:
        return len(self.source)

    def subset(self, index: ArrayLike) -> GridInputs:
        """The samples ``index`` (positions in this batch), sharing the data."""
        return GridInputs(self.dt, self.counts, self.source.subset(index))

    def window(self, n_rows: int) -> NDArray[np.float64]:
        """Count rasters ``(len(self), n_rows, M)`` of the samples of this batch."""
        x = self.counts[self.source.index, :n_rows]
        if x.shape[1] < n_rows:
            x = np.pad(x, ((0, 0), (0, n_rows - x.shape[1]), (0, 0)))
        return x


@partial(
    jax.jit, static_argnames=("opts", "t_max", "outputs", "constants", "with_grad", "per_sample")
)
def _cross_entropy_chunk(
    weight: Array,
    threshold: Array,
    fixed: tuple[Array, ...],
    counts: Array,
    labels: Array,
    mask: Array,
    sample_clip: Array,
    *,
    opts: _Options,
    t_max: float,
    outputs: tuple[int, ...],
    constants: tuple[float, float, float],
    with_grad: bool,
    per_sample: bool,
) -> tuple[Array, ...]:
    """Losses, grid first-spike times of every neuron (``inf`` if silent) of one padded chunk of
    a cross-entropy minibatch, and the masked *sum* of the per-sample gradients (each clipped to
    norm ``sample_clip`` if ``per_sample``)."""
    tau_mem, tau_syn, bias, v_reset, pre, post, ref_steps, delay_steps = fixed
    n_inputs = counts.shape[-1]
    out_index = jnp.asarray(outputs) - n_inputs
    per_label = [FirstSpikeCrossEntropy(outputs, c, *constants) for c in range(len(outputs))]

    def sample_loss(w: Array, th: Array, raster: Array, label: Array):
        params = DiscreteParams(w, th, tau_mem, tau_syn, bias, v_reset)
        spikes, _ = _run_single(params, pre, post, ref_steps, delay_steps, raster, opts)
        # first-spike times of the output columns only (through all N columns, the gradient
        # of the cumulative product tripled the time of a step); every class's loss is
        # evaluated and the (traced) label picks one
        out = DiscreteOutput(spikes[:, out_index], None, opts.dt, n_inputs)
        times = out.first_spike_times(t_silent=t_max)
        value = jnp.stack([lo.formula(times, xp=jnp) for lo in per_label])[label]
        fired = jax.lax.stop_gradient(spikes) > 0.5
        step = jnp.argmax(fired, axis=0)
        first = jnp.where(jnp.any(fired, axis=0), step.astype(threshold.dtype) * opts.dt, jnp.inf)
        return value, first

    batched = jax.vmap(sample_loss, in_axes=(None, None, 0, 0))
    if not with_grad:
        values, first = batched(weight, threshold, counts, labels)
        return values, first
    if per_sample:
        grad_one = jax.value_and_grad(sample_loss, argnums=(0, 1), has_aux=True)
        (values, first), (g_w, g_th) = jax.vmap(grad_one, in_axes=(None, None, 0, 0))(
            weight, threshold, counts, labels
        )
        norm = jnp.sqrt(jnp.sum(g_w**2, axis=1) + jnp.sum(g_th**2, axis=1))
        scale = mask * jnp.where(norm > sample_clip, sample_clip / norm, 1.0)
        return values, first, scale @ g_w, scale @ g_th

    def total(w: Array, th: Array):
        values, first = batched(w, th, counts, labels)
        return jnp.sum(mask * values), (values, first)

    (_, (values, first)), (g_w, g_th) = jax.value_and_grad(total, argnums=(0, 1), has_aux=True)(
        weight, threshold
    )
    return values, first, g_w, g_th


def _host(x: Array) -> NDArray[np.float64]:
    return np.asarray(x, dtype=np.float64)


@dataclass(frozen=True)
class Surrogate(GradientMethod):
    """Surrogate-gradient BPTT on a grid ``dt`` (ms) with a surrogate of the zoo.

    Attributes:
        dt: grid step (ms).
        surrogate: a name of :data:`fpgrad.discrete.SURROGATES` or a
            :class:`~fpgrad.discrete.SurrogateSpike`; default ``fast_sigmoid`` (SuperSpike).
        width: surrogate width in units of threshold (default
            :data:`fpgrad.discrete.DEFAULT_WIDTH`; only with a surrogate name).
        reset, detach_reset: as in :func:`fpgrad.discrete.simulate_discrete` (they matter when
            a neuron can fire more than once, ``t_ref < t_max``).
        dtype: ``"float64"`` (default, run in JAX's float64 mode whatever the global setting:
            what comparisons with the exact gradient need) or ``"float32"`` (about 1.7 times
            faster; enough for training). Gradients are returned as float64 numpy arrays.
        batch_pad: samples per compiled call in a classification batch (module docstring); set
            it to the training batch size.

    Input-time gradients are not defined on the grid (binning is piecewise constant):
    ``input_time`` is left out of the result. ``delay`` and ``t_ref`` (whole steps on the grid)
    are reported as zeros, the ``tau_syn`` of delta-synapse neurons as 0; every other group of
    :data:`fpgrad.grad.GROUPS` by BPTT, in the exact engines' shapes. Predictions of a batch
    (``first_spike_time``) are the grid times of the first spike of each neuron.
    """

    dt: float = 0.1
    surrogate: str | SurrogateSpike = "fast_sigmoid"
    width: float | None = None
    reset: str = "subtract"
    detach_reset: bool = True
    dtype: str = "float64"
    batch_pad: int = 32
    kind: ClassVar[str] = "surrogate"
    #: A batch is one compiled ``vmap`` (and its sum) per ``batch_pad`` samples: not split over
    #: a Dask cluster (``batch(..., client=...)`` is refused).
    supports_client: ClassVar[bool] = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "dt", _check_dt(self.dt))
        self.spike_function()  # validates surrogate and width
        if self.reset not in ("subtract", "zero"):
            raise ProblemError(f"reset = {self.reset!r}: expected 'subtract' or 'zero'")
        if self.dtype not in _DTYPES:
            raise ProblemError(f"dtype = {self.dtype!r}: expected one of {', '.join(_DTYPES)}")
        if isinstance(self.batch_pad, bool) or int(self.batch_pad) < 1:
            raise ProblemError(f"batch_pad = {self.batch_pad!r} must be an integer >= 1")
        object.__setattr__(self, "batch_pad", int(self.batch_pad))

    @property
    def name(self) -> str:
        """``surrogate-<name>-dt<dt>``."""
        return f"surrogate-{self.spike_function().name}-dt{self.dt:g}"

    def spike_function(self) -> SurrogateSpike:
        """The surrogate spike function used."""
        if isinstance(self.surrogate, SurrogateSpike):
            return self.surrogate
        return get_surrogate(self.surrogate, width=self.width)

    def _precision(self) -> Any:
        return float64() if self.dtype == "float64" else nullcontext()

    def _gradient(
        self, problem: Problem, loss: Any, params: tuple[str, ...], tol: float
    ) -> GradientResult:
        with self._precision():
            sg = surrogate_gradient(
                problem,
                grid_loss(loss, problem),
                dt=self.dt,
                surrogate=self.spike_function(),
                reset=self.reset,
                detach_reset=self.detach_reset,
                dtype=jnp.dtype(self.dtype),
            )
        groups = {n: getattr(sg.gradients, n) for n in params if n != "input_time"}
        return GradientResult(
            loss=float(sg.loss),
            grad=Gradients(**groups),
            result=None,
            degeneracy=None,
            degenerate=False,
            method=self.name,
        )

    def prepare(self, inputs: Sequence[Sequence[ArrayLike]] | InputBatch) -> GridInputs:
        """Bin every sample's input spikes on the grid once."""
        source = InputBatch(inputs)
        trains = source.all_trains()  # counts cover every sample; source.index selects
        steps = [bin_times(t, self.dt) for s in trains for t in s if t.size]
        last = max((int(n.max()) for n in steps), default=0)
        counts = np.stack([bin_inputs(s, self.dt, last) for s in trains])
        return GridInputs(self.dt, counts, source)

    def _batch(
        self,
        network: Network,
        data: Any,
        t_max: float,
        losses: list[Any],
        params: tuple[str, ...],
        tol: float,
        sample_clip: float,
        n_threads: int | None,
    ) -> BatchGradient:
        if not isinstance(data, GridInputs) or data.dt != self.dt:
            data = self.prepare(data if isinstance(data, InputBatch) else data.source)
        if data.source.n_inputs != network.n_inputs:
            raise ProblemError(
                f"inputs: the network has {network.n_inputs} inputs, the samples "
                f"{data.source.n_inputs} spike trains"
            )
        with self._precision():
            dp = discretize(
                Problem(network, [()] * network.n_inputs, t_max), self.dt, dtype=self.dtype
            )
            opts = _options(dp, self.spike_function(), True, self.reset, self.detach_reset, False)
            if is_classification_batch(losses, params, sample_clip):
                values, first, grads = self._classification(
                    dp, opts, data, losses, params, t_max, sample_clip
                )
            else:
                if sample_clip > 0:
                    raise ProblemError(
                        "sample_clip: surrogate batches clip per sample only for "
                        "FirstSpikeCrossEntropy minibatches of weight and threshold gradients"
                    )
                values, first, grads = self._general(dp, opts, data, losses, params, t_max)
        shared = [n for n in params if n != "input_time"]
        return BatchGradient(
            loss=float(np.mean(values)),
            grad=Gradients(**{n: grads[n] for n in shared}) if shared else None,
            losses=values,
            first_spike_time=first,
            degenerate=np.zeros(values.shape[0], dtype=bool),
            method=self.name,
        )

    def _classification(
        self,
        dp: Any,
        opts: _Options,
        data: GridInputs,
        losses: list[FirstSpikeCrossEntropy],
        params: tuple[str, ...],
        t_max: float,
        sample_clip: float,
    ) -> tuple[NDArray, NDArray, dict[str, NDArray]]:
        p = dp.params
        head = losses[0]
        with_grad = bool(params)
        statics = {
            "opts": opts,
            "t_max": t_max,
            "outputs": tuple(int(o) for o in head.neurons),
            "constants": (float(head.tau0), float(head.tau1), float(head.alpha)),
            "with_grad": with_grad,
            "per_sample": with_grad and sample_clip > 0,
        }
        fixed = (p.tau_mem, p.tau_syn, p.bias, p.v_reset, dp.pre, dp.post, dp.ref_steps,
                 dp.delay_steps)  # fmt: skip
        labels = np.array([lo.label for lo in losses], dtype=np.int32)
        counts = data.window(dp.n_steps + 1)
        size = self.batch_pad
        values, first = [], []
        g_w = np.zeros(p.weight.shape[0])
        g_th = np.zeros(p.threshold.shape[0])
        for start in range(0, len(losses), size):
            n = min(size, len(losses) - start)
            chunk = np.zeros((size, *counts.shape[1:]))
            chunk[:n] = counts[start : start + n]
            lab = np.zeros(size, np.int32)
            lab[:n] = labels[start : start + n]
            out = _cross_entropy_chunk(
                p.weight,
                p.threshold,
                fixed,
                jnp.asarray(chunk, self.dtype),
                jnp.asarray(lab),
                jnp.asarray(np.arange(size) < n, self.dtype),
                jnp.asarray(sample_clip, self.dtype),
                **statics,
            )
            values.append(_host(out[0])[:n])
            first.append(_host(out[1])[:n])
            if with_grad:
                g_w += _host(out[2])
                g_th += _host(out[3])
        scale = 1.0 / len(losses)
        return (
            np.concatenate(values),
            np.concatenate(first),
            {"weight": g_w * scale, "threshold": g_th * scale},
        )

    def _general(
        self,
        dp: Any,
        opts: _Options,
        data: GridInputs,
        losses: list[Any],
        params: tuple[str, ...],
        t_max: float,
    ) -> tuple[NDArray, NDArray, dict[str, NDArray]]:
        items = tuple(losses)
        net = dp.network
        values_fn = _grid_values(items, net.n_inputs, net.n_neurons, t_max)
        inputs = jnp.asarray(data.window(dp.n_steps + 1), self.dtype)
        if params:
            _, out, g_params, _ = _loss_and_grad(
                dp.params, inputs, dp.pre, dp.post, dp.ref_steps, dp.delay_steps, (), opts=opts,
                loss_fn=_grid_mean(items, net.n_inputs, net.n_neurons, t_max),
                n_inputs=dp.n_inputs,
            )  # fmt: skip
            grads = grid_gradients(g_params, net).groups()
        else:
            from ._model import _run

            raster, _ = _run(dp.params, dp.pre, dp.post, dp.ref_steps, dp.delay_steps, inputs,
                             opts)  # fmt: skip
            out, grads = DiscreteOutput(raster, None, dp.dt, dp.n_inputs), {}
        values = _host(values_fn(out)).reshape(-1)
        raster = np.asarray(out.raster) > 0.5
        step = np.argmax(raster, axis=1)
        first = np.where(raster.any(axis=1), step * dp.dt, np.inf)
        return values, first, grads

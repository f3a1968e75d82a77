"""``Surrogate``: surrogate-gradient BPTT as a method object of :func:`fpgrad.gradient`.

The loss is the same definition as in the exact path (``loss.formula``, or the same closed form),
evaluated on the grid (:func:`grid_loss`):

* first-spike losses use the differentiable grid first-spike time
  ``T_i = sum_n t_n s_n prod_{m<n}(1 - s_m) + t_max prod_n (1 - s_n)``
  (:meth:`DiscreteOutput.first_spike_times`; a silent neuron counts as firing at ``t_max``, as in
  the exact losses);
* :class:`~fpgrad.SpikeCount` uses the raster's column sums;
* :class:`~fpgrad.VanRossum` uses its closed pair form with the raster ``r_n`` of each neuron as
  spike weights at the grid times ``t_n = n dt`` (targets ``s_j`` stay off the grid),

      D^2 = 1/2 [sum_{m,n} r_m r_n K(t_m - t_n) + sum_{j,j'} K(s_j - s_j')
                 - 2 sum_{n,j} r_n K(t_n - s_j)],        K(x) = exp(-|x| / tau),

  whose self term is computed in ``O(T)`` through the exactly filtered raster
  ``y_n = r_n + e^{-dt/tau} y_{n-1}``: ``sum_{m,n} r_m r_n K(t_m - t_n) = 2 sum_n r_n y_n -
  sum_n r_n^2``. The pair form integrates ``(f - g)^2`` up to infinity (the tail after
  ``t_max`` included), so for a 0/1 raster it *is* :class:`~fpgrad.VanRossum` of the grid spike
  times: it equals the exact value when the spikes sit on grid points, and converges to it at
  first order in ``dt`` with the grid spike times.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from .._gradient import GradientResult
from .._problem import Problem, ProblemError
from ..grad import Gradients
from ..losses import (
    FirstSpikeCrossEntropy,
    FirstSpikeMSE,
    Loss,
    SpikeCount,
    VanRossum,
    _van_rossum_pairs,
)
from ._gradient import surrogate_gradient
from ._model import DiscreteOutput
from ._surrogates import SurrogateSpike, get_surrogate

__all__ = ["Surrogate", "grid_loss"]

GridLoss = Callable[[DiscreteOutput], Array]
# A loss term of one sample: (statistic it needs, raster columns it reads,
# fn(statistic of those columns of the sample, output) -> scalar)
_Term = tuple[str, np.ndarray, Callable[[Array, DiscreteOutput], Array]]


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


def van_rossum_grid(loss: VanRossum, raster: Array, out: DiscreteOutput) -> Array:
    """:class:`~fpgrad.VanRossum` of one sample's grid raster columns ``(T+1, P)`` (one column
    per target neuron, in ``loss.targets`` order); see the module docstring for the formula."""
    tau = loss.tau
    times = out.times
    decay = jnp.exp(-out.dt / tau)

    def filter_step(y: Array, r_n: Array) -> tuple[Array, Array]:
        y = decay * y + r_n
        return y, y

    _, filtered = jax.lax.scan(filter_step, jnp.zeros_like(raster[0]), raster)
    self_pairs = 2.0 * jnp.sum(raster * filtered, axis=0) - jnp.sum(raster * raster, axis=0)
    total = jnp.zeros((), raster.dtype)
    for p, target in enumerate(loss.targets.values()):
        s = jnp.asarray(target, raster.dtype).reshape(-1)
        kernel = jnp.exp(-jnp.abs(times[:, None] - s[None, :]) / tau)  # K(t_n - s_j)
        cross = jnp.sum(raster[:, p] * jnp.sum(kernel, axis=1))
        total = total + 0.5 * (self_pairs[p] + _van_rossum_pairs(s, s, tau, jnp) - 2.0 * cross)
    return total


def _term(loss: Loss, n_inputs: int, n_neurons: int) -> _Term:
    """``(statistic, raster columns, fn(statistic of those columns of one sample, output))``."""
    if isinstance(loss, FirstSpikeMSE | FirstSpikeCrossEntropy):
        cols = _columns(loss.neurons, n_inputs, n_neurons)
        return "first", cols, lambda first, out: loss.formula(first, xp=jnp)
    if isinstance(loss, SpikeCount):
        cols = _columns(loss.neurons, n_inputs, n_neurons)
        return "count", cols, lambda counts, out: loss.formula(counts, xp=jnp)
    if isinstance(loss, VanRossum):
        cols = _columns(tuple(loss.targets), n_inputs, n_neurons)
        return "raster", cols, lambda raster, out: van_rossum_grid(loss, raster, out)
    raise ProblemError(
        f"surrogate gradients support FirstSpikeMSE, FirstSpikeCrossEntropy, SpikeCount and "
        f"VanRossum, not {type(loss).__name__}"
    )


def _statistic(kind: str, out: DiscreteOutput, t_max: float) -> Array:
    if kind == "first":
        return out.first_spike_times(t_silent=t_max)
    if kind == "count":
        return jnp.sum(out.raster, axis=-2)
    return out.raster


@lru_cache(maxsize=64)
def _cached_grid_loss(
    losses: tuple[Loss, ...], n_inputs: int, n_neurons: int, t_max: float
) -> GridLoss:
    terms = [_term(loss, n_inputs, n_neurons) for loss in losses]
    # the raster columns each statistic is computed on (only those the losses read: the
    # first-spike times of the output neurons only, not of the whole network), and where each
    # term's columns lie among them
    columns = {
        kind: np.unique(np.concatenate([c for k, c, _ in terms if k == kind]))
        for kind in {kind for kind, _, _ in terms}
    }
    positions = [np.searchsorted(columns[kind], cols) for kind, cols, _ in terms]

    def mean_grid_loss(out: DiscreteOutput) -> Array:
        stats = {}
        for kind, cols in columns.items():
            sub = DiscreteOutput(out.raster[..., cols], None, out.dt, out.n_inputs)
            stats[kind] = _statistic(kind, sub, t_max)
        if out.raster.ndim == 2:  # one sample, one loss
            ((kind, _, fn),) = terms
            return fn(stats[kind][..., positions[0]], out)
        if out.raster.shape[0] != len(terms):
            raise ValueError(f"{out.raster.shape[0]} samples but {len(terms)} losses")
        total = sum(
            fn(stats[kind][b][..., pos], out)
            for b, ((kind, _, fn), pos) in enumerate(zip(terms, positions, strict=True))
        )
        return total / len(terms)

    return mean_grid_loss


def grid_loss(losses: Loss | Sequence[Loss], problem: Problem) -> GridLoss:
    """The JAX function of a :class:`DiscreteOutput` computing fpgrad's loss(es) on the grid.

    One loss: a function of an unbatched output. A sequence of losses (one per sample): a
    function of a batched output ``(B, T+1, N)`` returning the mean ``(1/B) sum_b L_b`` (so its
    gradient is the mean gradient, as :func:`fpgrad.gradient_batch` averages). ``problem`` gives
    the node numbering and ``t_max`` (the time of a silent neuron). The function is cached per
    ``(losses, network size, t_max)``: the same object comes back for equal arguments, so a
    jitted gradient taking it as a static argument is compiled once and reused.
    """
    items = tuple(losses) if isinstance(losses, Sequence) else (losses,)
    if not items:
        raise ProblemError("losses: need at least one loss")
    net = problem.network
    return _cached_grid_loss(items, net.n_inputs, net.n_neurons, float(problem.t_max))


@dataclass(frozen=True)
class Surrogate:
    """Surrogate-gradient BPTT on a grid ``dt`` (ms) with a surrogate of the zoo.

    ``surrogate`` is a name of :data:`SURROGATES` (with ``width`` in units of threshold) or a
    :class:`SurrogateSpike`. Input-time gradients are not defined on the grid (binning is
    piecewise constant): ``input_time`` is left out of the result.
    """

    dt: float = 0.1
    surrogate: str | SurrogateSpike = "fast_sigmoid"
    width: float | None = None
    reset: str = "subtract"
    detach_reset: bool = True

    def spike_function(self) -> SurrogateSpike:
        """The surrogate spike function used."""
        if isinstance(self.surrogate, SurrogateSpike):
            return self.surrogate
        return get_surrogate(self.surrogate, width=self.width)

    def __call__(
        self, problem: Problem, loss: Loss, params: tuple[str, ...], tol: float
    ) -> GradientResult:
        sur = self.spike_function()
        with float64():
            sg = surrogate_gradient(
                problem,
                grid_loss(loss, problem),
                dt=self.dt,
                surrogate=sur,
                reset=self.reset,
                detach_reset=self.detach_reset,
                dtype=jnp.float64,
            )
        groups = {n: getattr(sg.gradients, n) for n in params if n != "input_time"}
        return GradientResult(
            loss=float(sg.loss),
            grad=Gradients(**groups),
            result=None,
            degeneracy=None,
            degenerate=False,
            method=f"surrogate-{sur.name}-dt{self.dt:g}",
        )

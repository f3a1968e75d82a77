"""``Surrogate``: surrogate-gradient BPTT as a method object of :func:`fpgrad.gradient`.

The loss is the same definition as in the exact path (``loss.formula``), evaluated on the grid:

* first-spike losses use the differentiable grid first-spike time
  ``T_i = sum_n t_n s_n prod_{m<n}(1 - s_m) + t_max prod_n (1 - s_n)``
  (:meth:`DiscreteOutput.first_spike_times`; a silent neuron counts as firing at ``t_max``, as in
  the exact losses);
* :class:`~fpgrad.SpikeCount` uses the raster's column sums.

:class:`~fpgrad.VanRossum` on the grid is not available yet and raises a clear error.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp

from .._gradient import GradientResult
from .._problem import Problem, ProblemError
from ..grad import Gradients
from ..losses import FirstSpikeCrossEntropy, FirstSpikeMSE, Loss, SpikeCount
from ._gradient import surrogate_gradient
from ._surrogates import SurrogateSpike, get_surrogate

__all__ = ["Surrogate"]


def _grid_loss(loss: Loss, problem: Problem):
    """A JAX function of the :class:`DiscreteOutput` computing ``loss`` on the grid."""
    n_inputs = problem.network.n_inputs
    t_max = problem.t_max
    if isinstance(loss, FirstSpikeMSE | FirstSpikeCrossEntropy):
        idx = jnp.asarray([node - n_inputs for node in loss.neurons])

        def first_spike_loss(out):
            return loss.formula(out.first_spike_times(t_silent=t_max)[idx], xp=jnp)

        return first_spike_loss
    if isinstance(loss, SpikeCount):
        idx = jnp.asarray([node - n_inputs for node in loss.neurons])

        def count_loss(out):
            return loss.formula(jnp.sum(out.raster, axis=0)[idx], xp=jnp)

        return count_loss
    raise ProblemError(
        f"the Surrogate method supports FirstSpikeMSE, FirstSpikeCrossEntropy and SpikeCount, "
        f"not {type(loss).__name__}"
    )


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
        sg = surrogate_gradient(
            problem,
            _grid_loss(loss, problem),
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

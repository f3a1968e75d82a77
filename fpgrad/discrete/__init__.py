"""Discrete-time (grid) simulation in JAX and surrogate-gradient BPTT (docs/model.md §4).

The problem of docs/model.md §1 on a time grid of step ``dt`` with exact exponential propagators
(the grid model samples the continuous solution between events), Heaviside spikes on the grid
(``V >= theta`` fires), a zoo of normalised surrogate derivatives, and gradients of any JAX loss
of the raster and voltages by backpropagation through ``lax.scan``.
"""

from ._gradient import SurrogateGradient as SurrogateGradient
from ._gradient import surrogate_gradient as surrogate_gradient
from ._grid import GRID_TOL as GRID_TOL
from ._grid import bin_inputs as bin_inputs
from ._grid import bin_spikes as bin_spikes
from ._grid import bin_times as bin_times
from ._grid import coarsen_raster as coarsen_raster
from ._grid import n_grid_steps as n_grid_steps
from ._grid import raster_hamming as raster_hamming
from ._method import GridInputs as GridInputs
from ._method import Surrogate as Surrogate
from ._method import grid_loss as grid_loss
from ._model import DiscreteOutput as DiscreteOutput
from ._model import DiscreteParams as DiscreteParams
from ._model import DiscreteProblem as DiscreteProblem
from ._model import discretize as discretize
from ._model import simulate_discrete as simulate_discrete
from ._propagators import bias_factor as bias_factor
from ._propagators import step_factors as step_factors
from ._surrogates import DEFAULT_WIDTH as DEFAULT_WIDTH
from ._surrogates import PRESETS as PRESETS
from ._surrogates import SURROGATES as SURROGATES
from ._surrogates import SurrogateSpike as SurrogateSpike
from ._surrogates import get_surrogate as get_surrogate
from ._surrogates import heaviside as heaviside

"""fpgrad: exact gradients of spiking neural networks."""

from ._builders import feedforward_network as feedforward_network
from ._builders import latency_inputs as latency_inputs
from ._builders import poisson_inputs as poisson_inputs
from ._builders import random_feedforward_network as random_feedforward_network
from ._builders import random_recurrent_network as random_recurrent_network
from ._io import load_problem as load_problem
from ._io import problem_from_dict as problem_from_dict
from ._io import problem_to_dict as problem_to_dict
from ._io import save_problem as save_problem
from ._problem import Network as Network
from ._problem import Problem as Problem
from ._problem import ProblemError as ProblemError
from .event import Degeneracy as Degeneracy
from .event import RunawayActivityError as RunawayActivityError
from .event import SimulationResult as SimulationResult
from .event import simulate as simulate
from .event import simulate_batch as simulate_batch

__version__ = "0.1.0"

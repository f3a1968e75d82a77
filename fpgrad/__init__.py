"""fpgrad: exact gradients of spiking neural networks."""

from ._builders import feedforward_network as feedforward_network
from ._builders import latency_inputs as latency_inputs
from ._builders import poisson_inputs as poisson_inputs
from ._builders import random_feedforward_network as random_feedforward_network
from ._builders import random_recurrent_network as random_recurrent_network
from ._distributed import ClusterError as ClusterError
from ._finite_difference import FiniteDifference as FiniteDifference
from ._gradient import gradient as gradient
from ._gradient import gradient_batch as gradient_batch
from ._io import load_problem as load_problem
from ._io import problem_from_dict as problem_from_dict
from ._io import problem_to_dict as problem_to_dict
from ._io import save_problem as save_problem
from ._method import BatchGradient as BatchGradient
from ._method import GradientMethod as GradientMethod
from ._method import GradientResult as GradientResult
from ._method import InputBatch as InputBatch
from ._problem import Network as Network
from ._problem import Problem as Problem
from ._problem import ProblemError as ProblemError
from .event import Degeneracy as Degeneracy
from .event import RunawayActivityError as RunawayActivityError
from .event import SimulationResult as SimulationResult
from .event import SimulationStream as SimulationStream
from .event import StreamWindow as StreamWindow
from .event import simulate as simulate
from .event import simulate_batch as simulate_batch
from .grad import GROUPS as GROUPS
from .grad import Gradients as Gradients
from .grad import SpikeJacobian as SpikeJacobian
from .grad import SpikeJVP as SpikeJVP
from .grad import spike_jacobian as spike_jacobian
from .grad import spike_jvp as spike_jvp
from .grad import spike_vjp as spike_vjp
from .grad._methods import ExactForward as ExactForward
from .grad._methods import ExactReverse as ExactReverse
from .grad._online import ForwardStream as ForwardStream
from .losses import FirstSpikeCrossEntropy as FirstSpikeCrossEntropy
from .losses import FirstSpikeMSE as FirstSpikeMSE
from .losses import SpikeCount as SpikeCount
from .losses import VanRossum as VanRossum
from .testing._selftest import test as test

__version__ = "0.1.0"


_LAZY = {
    "compare": "._compare",
    "Comparison": "._compare",
    "forward_convergence": "._compare",
    "ForwardConvergence": "._compare",
    "from_nir": ".nir",
    "to_nir": ".nir",
    "read_nir": ".nir",
}


def __getattr__(name: str):
    """Lazy exports, so that ``import fpgrad`` imports neither JAX nor NIR: :func:`compare`,
    :class:`Comparison`, :func:`forward_convergence`, :class:`ForwardConvergence` (from
    :mod:`fpgrad._compare`, need the ``jax`` extra) and :func:`from_nir`, :func:`to_nir`,
    :func:`read_nir` (from :mod:`fpgrad.nir`, need the ``nir`` extra)."""
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

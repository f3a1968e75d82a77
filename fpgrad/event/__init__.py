"""Exact event-driven simulation of current-based LIF networks (Numba)."""

from ._result import Degeneracy as Degeneracy
from ._result import SimulationResult as SimulationResult
from ._simulate import DEFAULT_MAX_SPIKES as DEFAULT_MAX_SPIKES
from ._simulate import RunawayActivityError as RunawayActivityError
from ._simulate import simulate as simulate
from ._simulate import simulate_batch as simulate_batch
from ._stream import SimulationStream as SimulationStream
from ._stream import StreamWindow as StreamWindow

"""What a simulation returns: spikes, the causality record and the degeneracy report."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._problem import Problem

__all__ = ["Degeneracy", "SimulationResult"]


def _json_float(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


@dataclass(frozen=True)
class Degeneracy:
    """How close a run is to changing its spike pattern.

    Gradients are defined where the spike pattern is locally constant (docs/model.md §2). Two
    margins measure the distance to a change:

    * ``min_peak_gap``: the smallest ``theta_i - V_i`` over every sub-threshold local maximum of
      every membrane potential (a peak of the free trajectory, a kink where an input turned a
      rising ``V`` down, or ``V(t_max)`` if still rising). Small means a spike is about to
      *appear*. ``inf`` when no potential ever rises towards threshold.
    * ``min_crossing_slope``: the smallest ``dV/dt`` just before a spike, ``J(f) - theta/tau_mem``.
      Small means a spike is about to *vanish* (a grazing crossing; ``df/dp ~ 1/slope`` blows up).
      ``inf`` without spikes.

    ``*_neuron`` (the neuron's global node id ``M..M+N-1``, as in ``spike_node`` and the losses;
    -1 if none) and ``*_time`` (ms) say where.
    """

    min_peak_gap: float
    peak_gap_neuron: int
    peak_gap_time: float
    min_crossing_slope: float
    crossing_slope_neuron: int
    crossing_slope_time: float

    def is_degenerate(self, eps_gap: float = 1e-6, eps_slope: float = 1e-6) -> bool:
        """True if a peak lies within ``eps_gap`` of threshold or a slope below ``eps_slope``."""
        return self.min_peak_gap < eps_gap or self.min_crossing_slope < eps_slope

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (non-finite margins become ``None``)."""
        return {
            "min_peak_gap": _json_float(self.min_peak_gap),
            "peak_gap_neuron": self.peak_gap_neuron,
            "peak_gap_time": _json_float(self.peak_gap_time),
            "min_crossing_slope": _json_float(self.min_crossing_slope),
            "crossing_slope_neuron": self.crossing_slope_neuron,
            "crossing_slope_time": _json_float(self.crossing_slope_time),
        }


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """Spikes of one simulated problem.

    Attributes:
        problem: the simulated problem.
        spike_node: global node ids (``M..M+N-1``) of the neuron spikes, sorted by time then id.
        spike_time: their times in ms.
        record_node, record_time, record_input: the causality record: every spike, input spikes
            included, in the causal order the simulator processed them (equal to time order up to
            exact ties). ``record_input`` is the input spike's index in the flattened
            ``problem.inputs`` (input 0's spikes first), or -1 for neuron spikes. Each spike's
            synaptic events are its source node's outgoing synapses, so the gradient engines walk
            the graph forwards or backwards in time linear in the number of synaptic events.
        spike_record_index: for each spike of ``spike_node``/``spike_time``, its row in the record.
        record_cause, record_cause_synapse: for a record row that is the spike of a
            delta-synapse neuron fired by an arrival (docs/model.md §1), the row of the
            presynaptic spike and the synapse (file index) of that arrival; -1 otherwise
            (threshold crossings, inputs).
        n_synaptic_events: number of (spike, outgoing synapse) pairs processed.
        max_in_flight: the most spikes in flight at once (spikes with arrivals still pending
            because of synaptic delays; 0 without delays): the size of the arrival queue.
        degeneracy: the :class:`Degeneracy` report.
    """

    problem: Problem
    spike_node: NDArray[np.int64]
    spike_time: NDArray[np.float64]
    record_node: NDArray[np.int64]
    record_time: NDArray[np.float64]
    record_input: NDArray[np.int64]
    spike_record_index: NDArray[np.int64]
    record_cause: NDArray[np.int64]
    record_cause_synapse: NDArray[np.int64]
    n_synaptic_events: int
    max_in_flight: int
    degeneracy: Degeneracy

    @property
    def n_spikes(self) -> int:
        """Number of neuron spikes."""
        return int(self.spike_node.shape[0])

    def spikes_of(self, node: int) -> NDArray[np.float64]:
        """Spike times of one neuron (global node id)."""
        return self.spike_time[self.spike_node == node]

    def to_dict(self) -> dict[str, Any]:
        """``{"spike_node": [...], "spike_time": [...], "degeneracy": {...}}`` (JSON-ready)."""
        return {
            "spike_node": [int(x) for x in self.spike_node],
            "spike_time": [float(x) for x in self.spike_time],
            "degeneracy": self.degeneracy.to_dict(),
        }

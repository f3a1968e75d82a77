"""A small NIR graph for the NIR tests, built from ``{"node.field": array}``, and the central
finite differences of a loss with respect to the graph's own arrays (the reference of
``compare_nir``'s tests: it goes through ``nir`` and :func:`fpgrad.nir.read_nir` again for every
perturbed graph, so it checks the mapping's chain rule as well as the exact gradient).

The graph: Input (2) -> Linear -> CubaLIF (3) -> Delay -> Linear -> LIF (2) -> Output, times in
seconds; the LIF neurons' ``v_leak`` is above threshold (they fire on their own and the input
moves their spikes), and the neurons spike up to five times on the inputs below, so every field
has a gradient (a few entries are exactly 0: a neuron that spikes once has no ``v_reset``
derivative, a LIF spike set off by an arrival moves only with that arrival, not with its
weight). Needs ``nir``: test modules skip before importing this one.
"""

from __future__ import annotations

import itertools

import nir
import numpy as np

import fpgrad
from fpgrad.nir import read_nir

PARAMS = {
    "fc1.weight": np.array([[3.0, 1.5], [2.0, 2.5], [2.0, 4.0]]) * 1e-3,
    "lif1.tau_syn": np.array([0.005, 0.004, 0.006]),
    "lif1.tau_mem": np.array([0.01, 0.012, 0.02]),
    "lif1.r": np.array([1.0, 1.2, 0.9]),
    "lif1.v_leak": np.array([0.0, 0.1, 0.05]),
    "lif1.v_threshold": np.array([0.3, 0.25, 0.35]),
    "lif1.v_reset": np.array([0.0, -0.05, 0.02]),
    "lif1.w_in": np.array([1.0, 0.9, 1.1]),
    "delay.delay": np.array([0.001, 0.002, 0.0015]),
    "fc2.weight": np.array([[0.5, 0.3, 0.4], [0.2, 0.6, 0.3]]) * 1e-3,
    "lif2.tau": np.array([0.01, 0.015]),
    "lif2.r": np.array([1.0, 1.1]),
    "lif2.v_leak": np.array([0.3, 0.25]),
    "lif2.v_threshold": np.array([0.2, 0.15]),
    "lif2.v_reset": np.array([0.0, 0.01]),
}
#: Input spike times per channel (s) and the horizon (s).
INPUTS = [[0.001, 0.004, 0.009, 0.02], [0.002, 0.006, 0.025]]
T_MAX = 0.05


def build_graph(params: dict[str, np.ndarray] = PARAMS) -> nir.NIRGraph:
    """The test graph with the given arrays."""

    def fields(node: str) -> dict[str, np.ndarray]:
        return {k.split(".", 1)[1]: v for k, v in params.items() if k.startswith(node + ".")}

    nodes = {
        "input": nir.Input(input_type=np.array([2])),
        "fc1": nir.Linear(**fields("fc1")),
        "lif1": nir.CubaLIF(**fields("lif1")),
        "delay": nir.Delay(**fields("delay")),
        "fc2": nir.Linear(**fields("fc2")),
        "lif2": nir.LIF(**fields("lif2")),
        "output": nir.Output(output_type=np.array([2])),
    }
    chain = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(itertools.pairwise(chain)))


def loss_value(params: dict[str, np.ndarray], loss, inputs=INPUTS, t_max=T_MAX) -> float:
    """The loss of the graph with ``params``, read afresh through ``nir`` and ``read_nir``."""
    net = read_nir(build_graph(params))
    result = fpgrad.simulate(net.problem(inputs, t_max))
    return float(loss.value_and_spike_grad(result)[0])


def _central(loss, params, name: str, index: tuple[int, ...], step: float) -> float:
    """``(L(x + step) - L(x - step)) / (2 step)`` in entry ``index`` of field ``name``."""
    values = []
    for sign in (1.0, -1.0):
        arr = params[name].copy()
        arr[index] += sign * step
        values.append(loss_value({**params, name: arr}, loss))
    return (values[0] - values[1]) / (2 * step)


def nir_finite_difference(loss, params=PARAMS, rel_step: float = 1e-4) -> dict[str, np.ndarray]:
    """``dL/d field`` of every field, entry by entry: Richardson-extrapolated central differences
    ``(4 D(h/2) - D(h)) / 3``, ``D(h) = (L(x + h) - L(x - h)) / 2h`` (error ``O(h^4)``), with
    ``h = rel_step * |x|`` (``rel_step * 0.01`` for ``x = 0``: ``v_leak``, ``v_reset``)."""
    out = {}
    for name, base in params.items():
        grad = np.zeros_like(base)
        for index in np.ndindex(base.shape):
            h = rel_step * (abs(base[index]) or 0.01)

            grad[index] = (
                4 * _central(loss, params, name, index, h / 2)
                - _central(loss, params, name, index, h)
            ) / 3
        out[name] = grad
    return out

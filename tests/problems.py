"""Small problem builders shared by the test modules."""

from __future__ import annotations

import numpy as np

import fpgrad


def one_neuron(
    inputs: list[tuple[float, float]],
    *,
    tau_syn: float = 5.0,
    tau_mem: float = 10.0,
    threshold: float = 1.0,
    t_ref: float = 0.0,
    self_weight: float | None = None,
    t_max: float = 100.0,
) -> fpgrad.Problem:
    """One neuron (node ``M``) driven by one input node per ``(time, weight)`` pair."""
    m = len(inputs)
    pre, post, weight = list(range(m)), [m] * m, [w for _, w in inputs]
    if self_weight is not None:
        pre, post, weight = [*pre, m], [*post, m], [*weight, self_weight]
    net = fpgrad.Network(
        n_inputs=m,
        n_neurons=1,
        tau_syn=tau_syn,
        tau_mem=tau_mem,
        threshold=threshold,
        t_ref=t_ref,
        pre=np.array(pre, dtype=np.int64),
        post=np.array(post, dtype=np.int64),
        weight=np.array(weight, dtype=np.float64),
    )
    return fpgrad.Problem(net, tuple([t] for t, _ in inputs), t_max)

"""NIR graphs in and out (fpgrad.nir, docs/model.md §6).

Graphs are built with the nir package and written to / read from NIR files. Checked: spike
times against an independent simulation of NIR's own ODEs (tests/nir_oracle.py) and against the
50-digit reference; ``nir_gradient`` against central finite differences of the loss in each NIR
field (the graph's own array perturbed, re-imported, re-simulated); the round trip fpgrad ->
NIR file -> fpgrad bit for bit; every rejection.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import sys

import nir
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nir_oracle import Oracle
from reference import simulate_reference

import fpgrad
from fpgrad.nir import from_nir, read_nir, to_nir
from fpgrad.testing import strategies

A = np.array


def cuba_feedforward(unit: str = "s") -> nir.NIRGraph:
    """Input(3) -> Delay -> Affine (zero bias) -> Scale -> CubaLIF(2) -> Output."""
    c = 1.0 if unit == "s" else 1000.0  # graph time units per s
    # a spike is a delta in the graph's unit: I jumps by w_in W / tau_syn, so the same physics
    # in ms has 1000 times the matrix entries
    nodes = {
        "input": nir.Input(input_type=A([3])),
        "delay": nir.Delay(delay=A([0.5e-3, 0.0, 1.25e-3]) * c),
        "fc": nir.Affine(
            weight=A([[0.30, 0.25, 0.20], [0.35, -0.05, 0.30]]) * 4e-3 * c, bias=A([0.0, 0.0])
        ),
        "scale": nir.Scale(scale=A([1.2, 0.9])),
        "cuba": nir.CubaLIF(
            tau_syn=A([5e-3, 4e-3]) * c,
            tau_mem=A([10e-3, 12e-3]) * c,
            r=A([0.9, 1.1]),
            v_leak=A([0.05, -0.1]),
            v_threshold=A([0.025, 0.02]),
            v_reset=A([-0.005, 0.0]),
            w_in=A([1.0, 1.1]),
        ),
        "output": nir.Output(output_type=A([2])),
    }
    edges = [("input", "delay"), ("delay", "fc"), ("fc", "scale"), ("scale", "cuba"),
             ("cuba", "output")]  # fmt: skip
    return nir.NIRGraph(nodes=nodes, edges=edges)


def mixed_recurrent(unit: str = "s") -> nir.NIRGraph:
    """CubaLIF(2) -> Linear -> Scale -> Delay -> LIF(3) with a recurrent Linear on the LIF
    layer and an Affine bias into it, and an IF(2) fed by the LIF layer through an Affine with
    a bias and a Scale."""
    c = 1.0 if unit == "s" else 1000.0
    nodes = {
        "input": nir.Input(input_type=A([2])),
        "fc1": nir.Linear(weight=A([[0.30, 0.20], [0.50, 0.10]]) * 0.01 * c),
        "cuba": nir.CubaLIF(
            tau_syn=A([5e-3, 4e-3]) * c,
            tau_mem=A([10e-3, 20e-3]) * c,
            r=A([1.0, 1.2]),
            v_leak=A([0.02, -0.2]),
            v_threshold=A([0.05, 0.05]),
            v_reset=A([-0.01, 0.0]),
            w_in=A([1.0, 0.9]),
        ),
        "fc2": nir.Linear(weight=A([[1.0, 0.8], [0.6, 0.9], [0.7, -0.2]]) * 4.0 * c),
        "scale": nir.Scale(scale=A([1.5, 0.8, 1.1])),
        "delay": nir.Delay(delay=A([1e-3, 0.5e-3, 0.25e-3]) * c),
        "bias": nir.Affine(
            weight=A([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]), bias=A([10.0, 20.0, 0.0])
        ),
        "lif": nir.LIF(
            tau=A([10e-3, 15e-3, 20e-3]) * c,
            r=A([1.0, 0.9, 1.3]) * 1e-3,
            v_leak=A([0.0, 0.1, 0.0]),
            v_threshold=A([0.3, 0.35, 0.3]),
            v_reset=A([0.0, -0.05, 0.0]),
        ),
        "rec": nir.Linear(
            weight=A([[0.0, 0.0, 0.05], [0.02, 0.0, 0.0], [0.0, -0.03, 0.0]]) * 30 * c
        ),
        "fc3": nir.Affine(weight=A([[0.25, 0.15, 0.0], [0.05, 0.2, 0.3]]), bias=A([2.0, -1.0]) / c),
        "scale3": nir.Scale(scale=A([0.9, 1.2])),
        "if": nir.IF(r=A([0.8, 1.0]), v_threshold=A([0.6, 0.5]), v_reset=A([0.0, -0.1])),
        "output": nir.Output(output_type=A([2])),
    }
    edges = [
        ("input", "fc1"), ("fc1", "cuba"), ("cuba", "fc2"), ("fc2", "scale"), ("scale", "delay"),
        ("delay", "lif"), ("input", "bias"), ("bias", "lif"), ("lif", "rec"), ("rec", "lif"),
        ("lif", "fc3"), ("fc3", "scale3"), ("scale3", "if"), ("if", "output"),
    ]  # fmt: skip
    return nir.NIRGraph(nodes=nodes, edges=edges)


GRAPHS = {"cuba_feedforward": cuba_feedforward, "mixed_recurrent": mixed_recurrent}
INPUTS_S = {
    "cuba_feedforward": [[1e-3, 4e-3], [2e-3], [0.5e-3, 6e-3, 9e-3]],
    "mixed_recurrent": [[1e-3, 2e-3, 7e-3], [1.5e-3, 12e-3]],
}
T_MAX_S = 0.04


def inputs_in(name: str, unit: str) -> list[list[float]]:
    c = 1.0 if unit == "s" else 1000.0
    return [[t * c for t in train] for train in INPUTS_S[name]]


def roundtrip_file(graph, tmp_path, name="g.nir"):
    path = tmp_path / name
    nir.write(path, graph)
    return path


@pytest.fixture(params=["s", "ms"])
def unit(request):
    return request.param


@pytest.mark.parametrize("name", GRAPHS)
def test_spikes_match_nir_ode(name, unit, tmp_path):
    """(a) fpgrad's spikes of an imported NIR file against NIR's own ODEs (DOP853, 1e-12)."""
    graph = GRAPHS[name](unit)
    net = read_nir(roundtrip_file(graph, tmp_path), time_unit=unit)
    c = 1000.0 if unit == "s" else 1.0
    t_max = T_MAX_S * (1.0 if unit == "s" else 1000.0)
    result = fpgrad.simulate(net.problem(inputs_in(name, unit), t_max))
    want = Oracle(graph).run(inputs_in(name, unit), t_max)
    assert len(want) >= 6
    ids = [net.neurons[node][ch] for node, ch, _ in want]
    times = np.array([t for _, _, t in want]) * c
    order = np.lexsort((ids, times))
    assert list(result.spike_node) == list(np.array(ids)[order])
    np.testing.assert_allclose(result.spike_time, times[order], rtol=0, atol=1e-8)
    # the output neurons are those of the node wired to Output, in its channel order
    last = list(graph.nodes)[-2]
    assert net.output_neurons == tuple(net.neurons[last])


@pytest.mark.parametrize("name", GRAPHS)
def test_spikes_match_reference(name):
    """(b) against the 50-digit reference simulation of the mapped network."""
    net = read_nir(GRAPHS[name]("s"))
    problem = net.problem(inputs_in(name, "s"), T_MAX_S)
    result = fpgrad.simulate(problem)
    ref = simulate_reference(problem, general=True)
    assert [i for i, _ in ref] == list(result.spike_node)
    np.testing.assert_allclose(result.spike_time, [float(t) for _, t in ref], rtol=1e-12)


def loss_for(net, problem):
    ids = sorted(i for r in net.neurons.values() for i in r)
    return fpgrad.VanRossum(targets={i: [8.0 + i, 21.0] for i in ids}, tau=5.0)


def loss_value(graph, inputs, t_max, unit, loss):
    problem = read_nir(graph, time_unit=unit).problem(inputs, t_max)
    return loss.value_and_spike_grad(fpgrad.simulate(problem))[0]


def perturbed(builder, unit, key, value):
    graph = builder(unit)
    node, field = key.split(".")
    setattr(graph.nodes[node], field, value)
    return graph


@pytest.mark.parametrize("name", GRAPHS)
def test_nir_gradient_matches_finite_differences(name, unit):
    """(c) dL/d(field) of every NIR field against central differences of the loss, the graph's
    own array perturbed and re-imported."""
    builder = GRAPHS[name]
    net = read_nir(builder(unit), time_unit=unit)
    inputs = inputs_in(name, unit)
    t_max = T_MAX_S * (1.0 if unit == "s" else 1000.0)
    problem = net.problem(inputs, t_max)
    loss = loss_for(net, problem)
    result = fpgrad.gradient(problem, loss)
    assert not result.degenerate
    grad = net.nir_gradient(result.grad)
    params = net.parameters()
    skipped = {k for k in params if k not in grad}
    assert skipped == ({"fc.bias"} if name == "cuba_feedforward" else set())
    checked = 0
    for key, value in params.items():
        if key in skipped:
            continue
        assert grad[key].shape == value.shape and grad[key].dtype == np.float64
        for idx in np.ndindex(value.shape):
            if key.endswith(".delay") and value[idx] == 0:
                continue  # a one-sided derivative at the domain's edge; nonzero delays below
            h = 1e-6 * abs(value[idx]) if value[idx] else 1e-7
            up, down = value.copy(), value.copy()
            up[idx] += h
            down[idx] -= h
            fd = (
                loss_value(perturbed(builder, unit, key, up), inputs, t_max, unit, loss)
                - loss_value(perturbed(builder, unit, key, down), inputs, t_max, unit, loss)
            ) / (2 * h)
            scale = max(abs(fd), 1e-6 * np.abs(grad[key]).max(), 1e-12)
            assert abs(grad[key][idx] - fd) <= 1e-6 * scale + 1e-9, (key, idx, grad[key][idx], fd)
            checked += 1
    assert checked >= 20


def networks_equal(a: fpgrad.Network, b: fpgrad.Network) -> None:
    for field in ("tau_syn", "tau_mem", "threshold", "bias", "v_reset", "t_ref", "pre", "post",
                  "weight", "delay"):  # fmt: skip
        x, y = getattr(a, field), getattr(b, field)
        assert x.shape == y.shape and np.array_equal(x, y), field
    assert (a.n_inputs, a.n_neurons) == (b.n_inputs, b.n_neurons)


def assert_same_run(a: fpgrad.Problem, b: fpgrad.Problem, loss) -> None:
    ra, rb = fpgrad.simulate(a), fpgrad.simulate(b)
    assert np.array_equal(ra.spike_time, rb.spike_time)
    assert np.array_equal(ra.spike_node, rb.spike_node)
    ga, gb = fpgrad.gradient(a, loss).grad, fpgrad.gradient(b, loss).grad
    for group, arr in ga.groups().items():
        assert np.array_equal(arr, getattr(gb, group)), group


@pytest.mark.parametrize("name", GRAPHS)
def test_round_trip_of_imported_graph_is_bit_identical(name, unit, tmp_path):
    """(d) NIR -> fpgrad -> NIR file -> fpgrad: the same network bit for bit, and the same
    spikes and gradients; the exported graph reads back in NIR's names and shapes."""
    net = read_nir(GRAPHS[name](unit), time_unit=unit)
    graph = to_nir(net.network, time_unit=unit)
    back = read_nir(roundtrip_file(graph, tmp_path), time_unit=unit)
    networks_equal(net.network, back.network)
    t_max = T_MAX_S * (1.0 if unit == "s" else 1000.0)
    problem = net.problem(inputs_in(name, unit), t_max)
    assert_same_run(problem, back.problem(inputs_in(name, unit), t_max), loss_for(net, problem))
    assert set(back.nir_gradient(fpgrad.gradient(problem, loss_for(net, problem)).grad)) == set(
        back.parameters()
    )


ROUND_TRIP = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NO_REFRACTORY = {**strategies.MODEL2_NEURON_PARAMS, "zero_t_ref_fraction": 1.0}


def shuffled(net: fpgrad.Network, seed: int) -> fpgrad.Network:
    """The same network with its synapses listed in a random order."""
    perm = np.random.default_rng(seed).permutation(net.n_synapses)
    return net.replace(
        pre=net.pre[perm], post=net.post[perm], weight=net.weight[perm], delay=net.delay[perm]
    )


def assert_weight_gradient_by_annotation(back, grad: fpgrad.Gradients) -> None:
    """The gain of an exported node is exactly 1, so ``dL/dW[i, j]`` of an annotated entry is
    fpgrad's ``dL/dw_k`` of the synapse ``k`` it records, bit for bit; a padding entry gets 0."""
    nir_grad = back.nir_gradient(grad)
    checked = 0
    for name, node in back.graph.nodes.items():
        if type(node).__name__ not in ("Linear", "Affine"):
            continue
        synapse = node.metadata["fpgrad_synapse"]
        got = nir_grad[f"{name}.weight"]
        assert got.shape == node.weight.shape
        assert np.array_equal(got[synapse >= 0], np.asarray(grad.weight)[synapse[synapse >= 0]])
        assert np.all(got[synapse < 0] == 0.0)
        checked += int(np.sum(synapse >= 0))
    assert checked == back.network.n_synapses


@ROUND_TRIP
@given(
    problem=st.one_of(
        strategies.model2_problems(neuron_params=NO_REFRACTORY), strategies.problems()
    ),
    unit=st.sampled_from(["s", "ms"]),
    seed=st.one_of(st.none(), st.integers(0, 2**32 - 1)),
)
def test_round_trip_random_networks(problem, unit, seed, tmp_path_factory):
    """(d) random networks of model 1 and model 2 (delta and current synapses, biases, resets,
    delays, recurrent or layered, sparse, several synapses per pair, self-loops), as drawn or
    with the synapses shuffled: exported, written to a file, read back. The first round trip is
    the identity: every field bit for bit, synapses in the same order, so the same spikes and
    every gradient group bit for bit, in seconds too (a value without an exact NIR preimage
    comes back through its annotation: none is discarded); ``nir_gradient`` follows the recorded
    synapses."""
    net = problem.network if seed is None else shuffled(problem.network, seed)
    problem = problem.with_network(net)
    graph = to_nir(net, time_unit=unit)
    path = roundtrip_file(graph, tmp_path_factory.mktemp("nir"))
    back = read_nir(path, time_unit=unit)
    networks_equal(net, back.network)
    loss = fpgrad.VanRossum(targets={net.n_inputs: [5.0]}, tau=5.0)
    assert_same_run(problem, problem.with_network(back.network), loss)
    assert_weight_gradient_by_annotation(back, fpgrad.gradient(problem, loss).grad)


@ROUND_TRIP
@given(problem=strategies.feedforward_problems(neuron_params={"per_neuron_tau_syn": True}))
def test_round_trip_layered_networks_exactly(problem, tmp_path_factory):
    """(d) fpgrad's layered networks (dense matrices, no delays) come back exactly at once."""
    graph = to_nir(problem.network, time_unit="s")
    back = from_nir(roundtrip_file(graph, tmp_path_factory.mktemp("nir")), time_unit="s")
    networks_equal(problem.network, back)
    loss = fpgrad.VanRossum(targets={problem.network.n_nodes - 1: [5.0]}, tau=5.0)
    assert_same_run(problem, problem.with_network(back), loss)


def _sparse_networks():
    """Networks whose synapses are not one dense block per path, in read-back order."""
    rng = np.random.default_rng(7)
    yield "random_recurrent", fpgrad.random_recurrent_network(
        3, 6, rng, input_synapses=3, recurrent_synapses=4, input_weight=0.15, recurrent_weight=0.05,
        delay=(0.0, 2.0), tau_syn=[5.0, 0.0, 4.0, 0.0, 6.0, 5.0], bias=0.01, v_reset=-0.1,
    )  # fmt: skip
    yield (
        "random_feedforward",
        fpgrad.random_feedforward_network(
            [3, 5, 2], rng, weight_mean=0.4, weight_std=0.3, delay=(0.0, 1.5), tau_syn=5.0
        ),
    )
    yield (
        "model1_shuffled",
        shuffled(
            fpgrad.random_feedforward_network([2, 4, 3], rng, weight_mean=0.5, weight_std=0.3), 3
        ),
    )
    # duplicate pairs (same delay and not), a self-loop, a pair skipped, out of any block order
    yield "duplicates_self_loop", fpgrad.Network(
        n_inputs=2, n_neurons=3, tau_syn=[5.0, 0.0, 0.0], tau_mem=[10.0, 20.0, np.inf],
        threshold=[0.3, 0.4, 0.5], pre=[1, 0, 1, 1, 2, 2, 3, 0, 3, 4],
        post=[2, 2, 2, 2, 2, 3, 3, 3, 4, 4], weight=[0.4, 0.3, 0.2, -0.1, -0.5, 0.6, 0.3, 0.5,
        0.7, 0.1], delay=[0.0, 1.0, 0.0, 2.5, 0.5, 0.0, 0.25, 0.0, 0.0, 1.0],
        bias=[0.01, 0.02, 0.03], v_reset=[-0.05, 0.0, -0.1],
    )  # fmt: skip


def matrix_entries(graph: nir.NIRGraph) -> int:
    """The number of entries of the graph's matrices (Linear and Affine weights)."""
    return sum(
        n.weight.size for n in graph.nodes.values() if type(n).__name__ in ("Linear", "Affine")
    )


SPARSE = dict(_sparse_networks())


@pytest.mark.parametrize("name", SPARSE)
def test_round_trip_sparse_networks_exactly(name, unit, tmp_path):
    """fpgrad's sparse builders, shuffled synapses, duplicate pairs, self-loops, mixed delays:
    through a NIR file, the same network bit for bit in the same synapse order (no zero-weight
    synapses added), the same spikes and gradients; the matrices still hold the padding zeros
    (a foreign tool reads the same dynamics). Default options, seconds or ms."""
    net = SPARSE[name]
    graph = to_nir(net, time_unit=unit)
    back = read_nir(roundtrip_file(graph, tmp_path), time_unit=unit)
    networks_equal(net, back.network)
    entries = matrix_entries(graph)
    # padding was written and not read back as synapses (the shuffled dense one has none)
    assert entries > net.n_synapses or name == "model1_shuffled"
    rng = np.random.default_rng(1)
    inputs = [np.sort(rng.uniform(0.0, 15.0, 4)) for _ in range(net.n_inputs)]
    c = 1.0 if unit == "ms" else 1e-3
    problem = back.problem([x * c for x in inputs], 40.0 * c)
    assert len(fpgrad.simulate(problem).spike_time) >= 3
    ids = range(net.n_inputs, net.n_nodes)
    loss = fpgrad.VanRossum(targets={i: [6.0 + i] for i in ids}, tau=5.0)
    assert_same_run(problem.with_network(net), problem, loss)
    grad = fpgrad.gradient(problem, loss).grad
    assert np.abs(grad.weight).max() > 0
    assert_weight_gradient_by_annotation(back, grad)


def strip_annotation(graph: nir.NIRGraph, keep: tuple[str, ...] = ()) -> nir.NIRGraph:
    """The graph as a foreign tool writes it: no fpgrad metadata (but the keys ``keep``)."""
    for node in graph.nodes.values():
        for key in [k for k in node.metadata if k.startswith("fpgrad_") and k not in keep]:
            del node.metadata[key]
    return graph


def test_padding_gradient_is_zero_and_the_dense_reading_agrees(tmp_path):
    """An annotated graph's padding entries are not synapses: ``nir_gradient`` gives them 0.
    The same graph without the annotation (a foreign tool's reading: every entry a synapse)
    gives the annotated entries the same derivative to rounding (a zero-weight synapse changes
    no spike) and the padding entries their own, generally nonzero, derivative."""
    net = SPARSE["random_recurrent"]
    graph = to_nir(net, time_unit="ms")
    sparse = read_nir(roundtrip_file(graph, tmp_path), time_unit="ms")
    dense = read_nir(strip_annotation(graph), time_unit="ms")
    entries = matrix_entries(graph)
    assert dense.network.n_synapses == entries > sparse.network.n_synapses
    rng = np.random.default_rng(2)
    inputs = [np.sort(rng.uniform(0.0, 15.0, 4)) for _ in range(net.n_inputs)]
    loss = fpgrad.VanRossum(targets={i: [6.0 + i] for i in range(3, 9)}, tau=5.0)
    g_sparse = sparse.nir_gradient(fpgrad.gradient(sparse.problem(inputs, 40.0), loss).grad)
    g_dense = dense.nir_gradient(fpgrad.gradient(dense.problem(inputs, 40.0), loss).grad)
    assert g_sparse.keys() == g_dense.keys()
    padding_nonzero = 0
    for key, value in g_sparse.items():
        node = sparse.graph.nodes[key.split(".")[0]]
        if key.endswith(".weight"):
            pad = node.metadata["fpgrad_synapse"] < 0
            assert np.all(value[pad] == 0.0)
            padding_nonzero += int(np.count_nonzero(g_dense[key][pad]))
            scale = np.abs(g_dense[key]).max()
            np.testing.assert_allclose(
                value[~pad], g_dense[key][~pad], rtol=1e-9, atol=1e-12 * scale
            )
        else:
            scale = max(np.abs(g_dense[key]).max(), 1e-300)
            np.testing.assert_allclose(
                value, g_dense[key], rtol=1e-9, atol=1e-12 * scale, err_msg=key
            )
    assert padding_nonzero > 0


def _annotated_graph():
    """An exported graph with one loose matrix (padding) and a Delay node."""
    return to_nir(SPARSE["duplicates_self_loop"], time_unit="ms")


def _first(graph, kind="Linear", padded=None):
    for name, node in graph.nodes.items():
        if type(node).__name__ != kind:
            continue
        if padded is None or bool(np.any(node.metadata["fpgrad_synapse"] < 0)) == padded:
            return name, node
    raise AssertionError(kind)


def _malformed():
    graph = _annotated_graph()
    name, node = _first(graph)
    node.metadata["fpgrad_synapse"] = node.metadata["fpgrad_synapse"].astype(np.float64)
    yield graph, f"NIR node {name!r} (Linear): metadata 'fpgrad_synapse' must be an integer array"
    graph = _annotated_graph()
    name, node = _first(graph)
    node.metadata["fpgrad_synapse"] = node.metadata["fpgrad_synapse"].ravel()
    yield graph, f"NIR node {name!r} (Linear): metadata 'fpgrad_synapse' has shape"
    graph = _annotated_graph()
    name, node = _first(graph, padded=True)
    pad = tuple(int(i) for i in np.argwhere(node.metadata["fpgrad_synapse"] < 0)[0])
    node.weight = node.weight.copy()
    node.weight[pad] = 0.25
    yield graph, f"= -1 (padding, no synapse) but weight{list(pad)} = 0.25"
    graph = _annotated_graph()
    name, node = _first(graph, padded=True)
    ann = node.metadata["fpgrad_synapse"].copy()
    ann[ann < 0] = -2
    node.metadata["fpgrad_synapse"] = ann
    yield graph, "= -2: expected a synapse index >= 0 or -1 (padding)"
    graph = _annotated_graph()
    name, node = next(  # a matrix without synapse 0 gets it a second time
        (name, node)
        for name, node in graph.nodes.items()
        if type(node).__name__ == "Linear" and 0 not in node.metadata["fpgrad_synapse"]
    )
    ann = node.metadata["fpgrad_synapse"].copy()
    ann[tuple(np.argwhere(ann >= 0)[0])] = 0
    node.metadata["fpgrad_synapse"] = ann
    yield graph, "synapse index 0 appears more than once"
    graph = _annotated_graph()
    name, node = _first(graph)
    ann = node.metadata["fpgrad_synapse"].copy()
    ann[ann >= 0] += 100
    node.metadata["fpgrad_synapse"] = ann
    yield graph, "is out of range (10 synapses annotated); the indices must be a permutation"
    graph = _annotated_graph()
    name, node = _first(graph)
    del node.metadata["fpgrad_synapse"]
    yield graph, f"matrix node {name!r} has no metadata 'fpgrad_synapse', while other"
    graph = _annotated_graph()
    name, node = _first(graph, "Delay")
    node.metadata["fpgrad_synapse"] = np.zeros(node.delay.shape, np.int64)
    yield graph, f"NIR node {name!r} (Delay): metadata 'fpgrad_synapse' belongs on a matrix node"
    graph = to_nir(SPARSE["duplicates_self_loop"], time_unit="s")  # with value annotations
    name, node = _first(graph, "Delay")
    node.metadata["fpgrad_delay"] = node.metadata["fpgrad_delay"][:-1]
    yield graph, f"NIR node {name!r} (Delay): metadata 'fpgrad_delay' has shape"
    graph = to_nir(SPARSE["duplicates_self_loop"], time_unit="s")
    node = graph.nodes["layer_0"]
    node.metadata["fpgrad_bias"] = node.metadata["fpgrad_bias"].astype(np.int64)
    yield graph, "NIR node 'layer_0' (CubaLIF): metadata 'fpgrad_bias' must be a float array"
    graph = to_nir(SPARSE["duplicates_self_loop"], time_unit="s")
    graph.nodes["layer_1"].metadata["fpgrad_tau_syn"] = np.array([5.0])
    yield graph, "NIR node 'layer_1' (LIF): metadata 'fpgrad_tau_syn' belongs on a CubaLIF node"


@pytest.mark.parametrize("graph_and_message", list(_malformed()), ids=lambda x: x[1][:40])
def test_malformed_annotation_rejected(graph_and_message, tmp_path):
    """A malformed ``fpgrad_synapse`` annotation (read from a file): one line naming it."""
    graph, message = graph_and_message
    with pytest.raises(fpgrad.ProblemError) as info:
        read_nir(roundtrip_file(graph, tmp_path), time_unit="ms")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_foreign_graph_reads_every_entry(tmp_path):
    """Without the annotation (any foreign graph) every matrix entry is a synapse, zero entries
    included, in path order, as before: the graphs of this file have none, and an exported graph
    stripped of it reads as its dense matrices."""
    for build in GRAPHS.values():
        graph = build("s")
        assert all(not n.metadata for n in graph.nodes.values())  # no fpgrad annotation
    net = SPARSE["duplicates_self_loop"]
    graph = strip_annotation(to_nir(net, time_unit="ms"))
    dense = from_nir(roundtrip_file(graph, tmp_path), time_unit="ms")
    entries = matrix_entries(graph)
    assert dense.n_synapses == entries > net.n_synapses
    assert np.count_nonzero(dense.weight) == np.count_nonzero(net.weight)
    assert sorted(dense.weight[dense.weight != 0]) == sorted(net.weight[net.weight != 0])


def test_export_structure():
    """CubaLIF / LIF / IF nodes by synapse kind, r and w_in chosen for a gain of exactly 1,
    delays as Delay nodes, the last neuron node wired to Output."""
    net = fpgrad.Network(
        n_inputs=2, n_neurons=3, tau_syn=[5.0, 0.0, 0.0], tau_mem=[10.0, 20.0, np.inf],
        threshold=1.0, pre=[0, 1, 2, 3], post=[2, 2, 3, 4], weight=[0.4, 0.3, 0.9, 0.5],
        bias=[0.01, 0.02, 0.03], delay=[0.0, 0.0, 1.5, 0.0],
    )  # fmt: skip
    graph = to_nir(net, time_unit="ms")
    kinds = {name: type(node).__name__ for name, node in graph.nodes.items()}
    assert [kinds[n] for n in ("layer_0", "layer_1", "layer_2")] == ["CubaLIF", "LIF", "IF"]
    assert graph.nodes["layer_0"].r[0] == 10.0 and graph.nodes["layer_0"].w_in[0] == 5.0
    assert "Delay" in kinds.values() and ("layer_2", "output") in graph.edges
    affine = [n for n, k in kinds.items() if k == "Affine"]
    assert len(affine) == 1 and graph.nodes[affine[0]].bias[0] == 0.03  # the IF bias
    networks_equal(net, from_nir(graph, time_unit="ms"))


def test_spike_area_is_a_factor_on_the_spike_matrices():
    """``spike_area = a`` (a discrete-time exporter's step) reads the graph as the same graph
    with every matrix entry times ``a`` (every path of this graph has one): the same network,
    and the chain rule gives ``dL/dW = a dL/dW'`` at ``W' = a W``, the other fields unchanged."""
    a = 1e-4  # snnTorch export_to_nir: dt = 1e-4 s
    inputs, t_max = inputs_in("cuba_feedforward", "s"), T_MAX_S
    area = read_nir(cuba_feedforward(), spike_area=a)
    scaled_graph = cuba_feedforward()
    scaled_graph.nodes["fc"].weight = scaled_graph.nodes["fc"].weight * a
    scaled = read_nir(scaled_graph)
    assert area.spike_area == a and scaled.spike_area == 1.0
    np.testing.assert_allclose(area.network.weight, scaled.network.weight, rtol=1e-15)
    np.testing.assert_array_equal(area.network.bias, scaled.network.bias)
    problem_a, problem_s = area.problem(inputs, t_max), scaled.problem(inputs, t_max)
    loss = loss_for(area, problem_a)
    grad_a = area.nir_gradient(fpgrad.gradient(problem_a, loss).grad)
    grad_s = scaled.nir_gradient(fpgrad.gradient(problem_s, loss).grad)
    assert grad_a.keys() == grad_s.keys()
    for key in grad_a:
        want = a * grad_s[key] if key == "fc.weight" else grad_s[key]
        np.testing.assert_allclose(grad_a[key], want, rtol=1e-9, atol=1e-12, err_msg=key)
    assert np.abs(grad_a["fc.weight"]).max() > 0
    for bad in (0.0, -1e-4, float("nan"), float("inf"), "1e-4", True):
        with pytest.raises(fpgrad.ProblemError, match=r"spike_area: expected a finite number > 0"):
            read_nir(cuba_feedforward(), spike_area=bad)


def test_time_units_agree():
    """The same physics written in s and in ms maps to the same network (to rounding)."""
    a, b = (
        from_nir(mixed_recurrent("s"), time_unit="s"),
        from_nir(mixed_recurrent("ms"), time_unit="ms"),
    )
    for field in ("tau_syn", "tau_mem", "threshold", "bias", "v_reset", "weight", "delay"):
        np.testing.assert_allclose(getattr(a, field), getattr(b, field), rtol=1e-14, err_msg=field)


def test_mapping_values():
    """The mapping's equations on one graph, by hand: CubaLIF weight r w_in W / (tau_mem
    tau_syn) per graph unit, delays and time constants times 1000 for seconds."""
    net = read_nir(cuba_feedforward("s"), time_unit="s").network
    np.testing.assert_allclose(net.tau_syn, [5.0, 4.0], rtol=1e-15)
    np.testing.assert_allclose(net.tau_mem, [10.0, 12.0], rtol=1e-15)
    np.testing.assert_allclose(net.bias, [0.05 / 10.0, -0.1 / 12.0], rtol=1e-15)
    # synapse (input j -> neuron i): r_i w_in_i scale_i W_ij / (tau_mem_i tau_syn_i) per s, / 1000
    w = A([[0.30, 0.25, 0.20], [0.35, -0.05, 0.30]]) * 4e-3 * A([1.2, 0.9])[:, None]
    gain = A([0.9 * 1.0, 1.1 * 1.1]) / (A([10e-3, 12e-3]) * A([5e-3, 4e-3])) / 1000.0
    np.testing.assert_allclose(net.weight, (w * gain[:, None]).T.ravel(), rtol=1e-14)
    np.testing.assert_allclose(net.delay, np.repeat([0.5, 0.0, 1.25], 2), rtol=1e-15)
    assert list(net.pre) == [0, 0, 1, 1, 2, 2] and list(net.post) == [3, 4] * 3
    assert np.all(net.t_ref == 0)


def test_lazy_import():
    code = (
        "import sys, fpgrad; assert 'nir' not in sys.modules and 'h5py' not in sys.modules; "
        "f = fpgrad.read_nir; assert 'nir' not in sys.modules; fpgrad.to_nir, fpgrad.from_nir"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _graph(nodes, edges, type_check=False):
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=type_check)


def _lif(n=2, **kw):
    fields = {"tau": np.full(n, 0.01), "r": np.ones(n), "v_leak": np.zeros(n),
              "v_threshold": np.ones(n), "v_reset": np.zeros(n)}  # fmt: skip
    fields.update(kw)
    return nir.LIF(**fields)


def _cuba(n=2, **kw):
    fields = {"tau_syn": np.full(n, 0.005), "tau_mem": np.full(n, 0.01), "r": np.ones(n),
              "v_leak": np.zeros(n), "v_threshold": np.ones(n)}  # fmt: skip
    fields.update(kw)
    return nir.CubaLIF(**fields)


def _chain(*middle, neuron=None, n_in=2):
    nodes = {"input": nir.Input(input_type=A([n_in]))}
    names = ["input"]
    for idx, node in enumerate(middle):
        nodes[f"m{idx}"] = node
        names.append(f"m{idx}")
    nodes["neuron"] = neuron if neuron is not None else _lif()
    names.append("neuron")
    return nodes, list(itertools.pairwise(names))


def _rejections():
    eye = np.eye(2)
    yield (
        _graph(*_chain(nir.LI(tau=np.ones(2), r=np.ones(2), v_leak=np.zeros(2)))),
        "'m0' (LI): a leaky integrator readout has no spikes",
    )
    yield _graph(*_chain(nir.I(r=np.ones(2)))), "'m0' (I): an integrator readout"
    yield (
        _graph(
            *_chain(
                nir.CubaLI(tau_syn=np.ones(2), tau_mem=np.ones(2), r=np.ones(2), v_leak=np.zeros(2))
            )
        ),
        "(CubaLI): a current-based leaky integrator",
    )
    yield _graph(*_chain(nir.Threshold(threshold=np.ones(2)))), "(Threshold): a bare threshold"
    yield (
        _graph(*_chain(nir.Linear(weight=eye), nir.Linear(weight=eye))),
        "'m1' (Linear): a second weight matrix on the path input -> m0 -> m1",
    )
    yield (
        _graph(*_chain(nir.Affine(weight=eye, bias=A([0.1, 0.0])), neuron=_cuba())),
        "a constant current into a CubaLIF passes its synaptic filter from I(0) = 0",
    )
    yield (
        _graph(
            *_chain(nir.Affine(weight=eye, bias=A([0.1, 0.0])), nir.Delay(delay=A([0.001, 0.0])))
        ),
        "a delayed constant is 0 until the delay has passed",
    )
    yield (
        _graph(*_chain(nir.Linear(weight=np.ones((3, 2))))),
        "'neuron' (LIF): receives 3 channels from 'input' but has 2 neurons",
    )
    yield (
        _graph(*_chain(nir.Scale(scale=np.ones(3)))),
        "'m0' (Scale): scale has 3 entries but receives 2 channels",
    )
    yield (
        _graph(*_chain(neuron=_lif(v_reset=A([1.0, 0.0])))),
        "'neuron' (LIF): v_reset[0] = 1.0 must be below v_threshold[0] = 1.0",
    )
    yield (
        _graph(*_chain(neuron=_lif(tau=A([0.01, 0.0])))),
        "'neuron' (LIF): tau[1] = 0.0 must be > 0",
    )
    yield (
        _graph(*_chain(neuron=_cuba(tau_syn=A([np.nan, 0.005])))),
        "'neuron' (CubaLIF): tau_syn[0] = nan is not finite",
    )
    yield (
        _graph(*_chain(neuron=_lif(v_threshold=A([1.0, -1.0]), v_reset=A([0.0, -2.0])))),
        "v_threshold[1] = -1.0 must be > 0",
    )
    yield (
        _graph(*_chain(nir.Delay(delay=A([-0.001, 0.0])))),
        "'m0' (Delay): delay[0] = -0.001 must be >= 0",
    )
    yield (
        _graph(*_chain(nir.Linear(weight=A([[np.inf, 0.0], [0.0, 1.0]])))),
        "'m0' (Linear): weight[0, 0] = inf is not finite",
    )
    nodes, edges = _chain(nir.Linear(weight=eye), nir.Scale(scale=np.ones(2)))
    edges.append(("m1", "m0"))
    yield _graph(nodes, edges), "a cycle of linear nodes only (m0 -> m1 -> m0)"
    nodes, edges = _chain(nir.Linear(weight=eye))
    nodes["output"] = nir.Output(output_type=A([2]))
    edges.append(("m0", "output"))
    yield _graph(nodes, edges), "Output node 'output' is fed by linear node 'm0'"
    nodes = {"a": nir.Input(input_type=A([2])), "b": nir.Input(input_type=A([2])), "neuron": _lif()}
    yield _graph(nodes, [("a", "neuron"), ("b", "neuron")]), "expected one Input node, got 2 (a, b)"
    nodes = {"input": nir.Input(input_type=A([1, 2])), "neuron": _lif()}
    yield (
        _graph(nodes, [("input", "neuron")], type_check=False),
        "'input' (Input): shape [1, 2] is not one-dimensional",
    )
    nodes = {"input": nir.Input(input_type=A([2])), "neuron": _lif(), "sub": _graph(*_chain())}
    yield (
        _graph(nodes, [("input", "neuron"), ("neuron", "sub")], type_check=False),
        "nested subgraphs are not supported",
    )
    nodes = {
        "input": nir.Input(input_type=A([2])),
        "flat": nir.Flatten(input_type={"input": A([2])}, start_dim=0, end_dim=-1),
        "neuron": _lif(),
    }
    yield (
        _graph(nodes, [("input", "flat"), ("flat", "neuron")], type_check=False),
        "(Flatten): Flatten is not supported",
    )


@pytest.mark.parametrize("graph_and_message", list(_rejections()), ids=lambda x: x[1][:40])
def test_rejections(graph_and_message):
    """(e) every unsupported node or feature: a one-line ProblemError naming it."""
    graph, message = graph_and_message
    with pytest.raises(fpgrad.ProblemError) as info:
        read_nir(graph)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_rejected_arguments_and_files(tmp_path):
    with pytest.raises(fpgrad.ProblemError, match=r"time_unit: expected 's' or 'ms', got 'us'"):
        read_nir(cuba_feedforward(), time_unit="us")
    with pytest.raises(fpgrad.ProblemError, match="no such NIR file"):
        read_nir(tmp_path / "missing.nir")
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(fpgrad.ProblemError, match=r"bad.nir: not a readable NIR file \("):
        read_nir(bad)
    with pytest.raises(fpgrad.ProblemError, match=r"expected a nir\.NIRGraph or the path"):
        read_nir(42)
    net = read_nir(cuba_feedforward())
    with pytest.raises(
        fpgrad.ProblemError, match="lacks the groups weight, tau_mem, tau_syn, delay, bias, v_reset"
    ):
        net.nir_gradient(fpgrad.Gradients(threshold=np.zeros(2)).select(["threshold"]))
    with pytest.raises(fpgrad.ProblemError, match="inputs: expected 3 spike trains"):
        net.problem([[0.001]], 0.01)


def test_export_rejections():
    base = {"n_inputs": 1, "n_neurons": 1, "tau_syn": 5.0, "tau_mem": 10.0, "threshold": 1.0,
            "pre": [0], "post": [1], "weight": [0.5]}  # fmt: skip
    cases = [
        ({"t_ref": 1.0}, "neurons.t_ref[0] = 1.0: NIR has no refractory period"),
        ({"tau_mem": np.inf}, "has current synapses (tau_syn > 0) and tau_mem = inf"),
        ({"pre": [], "post": [], "weight": []}, "neuron node layer_0 receives no synapses"),
        ({"tau_syn": 0.0, "tau_mem": np.inf, "bias": 0.1, "pre": [], "post": [], "weight": []},
         "the IF neurons of layer_0 have a bias but no synapses"),
    ]  # fmt: skip
    for change, message in cases:
        with pytest.raises(fpgrad.ProblemError, match=re.escape(message)):
            to_nir(fpgrad.Network(**{**base, **change}))
    with pytest.raises(fpgrad.ProblemError, match=r"expected an fpgrad\.Network"):
        to_nir("net")
    # v_leak = bias * tau_mem overflows: no float64 v_leak reads back within one ulp
    with pytest.raises(fpgrad.ProblemError, match=r"neurons.bias\[0\] = 1e\+300 has no float64"):
        to_nir(fpgrad.Network(**{**base, "bias": 1e300, "tau_mem": 1e10}), time_unit="ms")


def without_preimage(values, f, start: float) -> float:
    """The first of ``values`` (from ``start``) that no float64 ``y`` maps to exactly by ``f``."""
    return next(
        float(x) for x in values
        if x >= start and not any(f(y) == x for y in _around(float(x) / f(1.0)))
    )  # fmt: skip


def test_value_without_preimage_round_trips_by_annotation(tmp_path):
    """A time constant, a delay and biases with no exact float64 preimage in NIR (``1000 * y``
    skips them; ``v_leak / tau_mem`` and ``(1 / 1000) * B`` some biases): exported with the
    nearest NIR value, one ulp off in the graph's own formula, and the exact value as metadata;
    read back bit for bit. Without the annotation the graph alone reads each one ulp off."""
    grid = np.linspace(1.9531, 1.99, 4000) * 8
    tau = without_preimage(grid, lambda y: float(1000.0 * np.float64(y)), 0.0)
    delay = without_preimage(grid / 8, lambda y: float(1000.0 * np.float64(y)), 1.0)
    h = float(np.float64(1.0) / 1000.0)
    bias_if = without_preimage(np.linspace(0.01, 0.02, 4000), lambda y: float(h * y), 0.0)
    base = {"n_inputs": 1, "n_neurons": 2, "tau_syn": 0.0, "tau_mem": [tau, np.inf],
            "threshold": 1.0, "pre": [0, 1], "post": [1, 2], "weight": [0.5, 0.7],
            "delay": [delay, 0.0]}  # fmt: skip
    tau_graph = 1000.0 * to_nir(fpgrad.Network(**base)).nodes["layer_0"].tau[0]  # ms, rounded
    bias_lif = without_preimage(np.linspace(0.01, 0.02, 4000), lambda v: float(v / tau_graph), 0)
    net = fpgrad.Network(**base, bias=[bias_lif, bias_if])
    graph = to_nir(net, time_unit="s")
    lif, if_node = graph.nodes["layer_0"], graph.nodes["layer_1"]
    assert 1000.0 * lif.tau[0] != tau and abs(1000.0 * lif.tau[0] - tau) == np.spacing(tau)
    assert set(lif.metadata) == {"fpgrad_tau_mem", "fpgrad_bias"}
    assert set(if_node.metadata) == {"fpgrad_bias"}
    assert if_node.metadata["fpgrad_bias"][0] == bias_if
    back = from_nir(roundtrip_file(graph, tmp_path), time_unit="s")
    networks_equal(net, back)
    alone = from_nir(strip_annotation(graph, keep=("fpgrad_synapse",)), time_unit="s")
    for field, want in (("tau_mem", tau), ("delay", delay), ("bias", bias_lif)):
        got = float(getattr(alone, field)[0])
        assert got != want and abs(got - want) <= np.spacing(want), field
    assert alone.bias[1] != bias_if and abs(alone.bias[1] - bias_if) <= np.spacing(bias_if)
    # in ms the times are exact (c = 1) and carry no annotation; a division still may round
    graph_ms = to_nir(net, time_unit="ms")
    assert set(graph_ms.nodes["layer_0"].metadata) == {"fpgrad_bias"}
    assert not graph_ms.nodes["layer_1"].metadata
    networks_equal(net, from_nir(roundtrip_file(graph_ms, tmp_path, "ms.nir"), time_unit="ms"))


def random_values_network(rng: np.random.Generator) -> fpgrad.Network:
    """A model-2 recurrent network with random per-neuron biases, time constants and resets
    and random per-synapse delays (about 200 values through rounding formulas)."""
    n = 24
    return fpgrad.random_recurrent_network(
        4, n, rng, input_synapses=4, recurrent_synapses=5, input_weight=0.2,
        recurrent_weight=0.03, delay=(0.0, 3.0), tau_syn=rng.uniform(2.0, 6.0, n) * (
            rng.random(n) < 0.6), tau_mem=rng.uniform(8.0, 25.0, n), bias=rng.uniform(
            -0.01, 0.03, n), v_reset=rng.uniform(-0.2, 0.0, n),
    )  # fmt: skip


def test_random_biases_and_delays_round_trip_by_default(tmp_path):
    """Random per-neuron biases and per-synapse delays, exported with the default ``to_nir``
    (seconds), read from the file: bit for bit (fields, spikes, every gradient group), while
    the graph alone (annotation stripped) is one ulp off in several values. ``nir_gradient`` of
    the annotated reading agrees with that of the graph alone to rounding (a 1-ulp change of
    the evaluation point), and follows the recorded synapses."""
    rng = np.random.default_rng(11)
    net = random_values_network(rng)
    graph = to_nir(net)
    back = read_nir(roundtrip_file(graph, tmp_path))
    networks_equal(net, back.network)
    alone = read_nir(strip_annotation(graph, keep=("fpgrad_synapse",)))  # the values alone
    off = {f: int(np.sum(getattr(alone.network, f) != getattr(net, f)))
           for f in ("tau_syn", "tau_mem", "bias", "delay")}  # fmt: skip
    assert sum(off.values()) >= 3, off  # the annotation did work here
    for f in off:
        ulps = np.abs(getattr(alone.network, f) - getattr(net, f))
        assert np.all(ulps <= np.spacing(np.abs(getattr(net, f)))), f
    inputs = [np.sort(rng.uniform(0.0, 15.0, 5)) * 1e-3 for _ in range(net.n_inputs)]
    problem = back.problem(inputs, 0.04)
    assert len(fpgrad.simulate(problem).spike_time) >= 10
    loss = fpgrad.VanRossum(targets={i: [8.0] for i in range(net.n_inputs, net.n_nodes)}, tau=5.0)
    assert_same_run(problem.with_network(net), problem, loss)
    grad = fpgrad.gradient(problem, loss).grad
    assert_weight_gradient_by_annotation(back, grad)
    g_back = back.nir_gradient(grad)
    g_alone = alone.nir_gradient(fpgrad.gradient(alone.problem(inputs, 0.04), loss).grad)
    assert g_back.keys() == g_alone.keys() == back.parameters().keys()
    for key, value in g_back.items():
        scale = max(np.abs(g_alone[key]).max(), 1e-300)
        np.testing.assert_allclose(value, g_alone[key], rtol=1e-9, atol=1e-12 * scale, err_msg=key)


def test_edited_graph_reads_the_edited_values():
    """An exported graph edited afterwards (a time constant, ``v_leak``, a delay changed by far
    more than an ulp): the edited values are read (the annotation only resolves rounding, the
    graph wins, no error); every unedited value still comes back bit for bit."""
    net = random_values_network(np.random.default_rng(12))
    graph = to_nir(net)
    read = read_nir(graph)
    name = next(n for n, ids in read.neurons.items()
                if type(graph.nodes[n]).__name__ == "CubaLIF" and len(ids) >= 2)  # fmt: skip
    i = read.neurons[name].start - net.n_inputs  # its first neuron
    node = graph.nodes[name]
    node.tau_mem = node.tau_mem * np.r_[1.01, np.ones(len(node.tau_mem) - 1)]
    node.v_leak = node.v_leak + np.r_[0.0, 0.05, np.zeros(len(node.v_leak) - 2)]
    delay_name = next(n for n, x in graph.nodes.items() if type(x).__name__ == "Delay")
    graph.nodes[delay_name].delay = graph.nodes[delay_name].delay + 1e-4
    got = read_nir(graph).network
    assert got.tau_mem[i] == 1000.0 * node.tau_mem[0] != net.tau_mem[i]
    assert got.bias[i] == node.v_leak[0] / (1000.0 * node.tau_mem[0])  # tau_mem changed it
    assert got.bias[i + 1] == node.v_leak[1] / (1000.0 * node.tau_mem[1])
    assert abs(got.bias[i + 1] - net.bias[i + 1]) > 1e-3
    unedited = np.ones(net.n_neurons, bool)
    unedited[[i, i + 1]] = False
    for field in ("tau_mem", "bias"):
        assert np.array_equal(getattr(got, field)[unedited], getattr(net, field)[unedited])
    assert np.array_equal(got.tau_syn, net.tau_syn)
    matrix = graph.nodes[delay_name.replace("delay", "linear")].metadata["fpgrad_synapse"]
    through = np.sort(matrix[matrix >= 0])  # the synapses behind the edited Delay node
    moved = np.flatnonzero(got.delay != net.delay)
    assert np.array_equal(moved, through)
    np.testing.assert_allclose(got.delay[moved] - net.delay[moved], 0.1, rtol=1e-9)


def _around(y, k=6):
    out, up, down = [y], y, y
    for _ in range(k):
        up, down = np.nextafter(up, np.inf), np.nextafter(down, -np.inf)
        out += [up, down]
    return out

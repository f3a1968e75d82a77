"""Online forward propagation (``ExactForward(online=True)``, ``ForwardStream``): the gradient
accumulated alongside the simulation equals the replayed FP Jacobian contracted with the loss's
cotangent and reverse mode, to 1e-12 relative, on model-2 problems, in bounded memory."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_gradients_model2 import feedforward_problem, recurrent_problem

import fpgrad
from fpgrad.testing import strategies as fst

ONLINE = fpgrad.ExactForward(online=True)


def output_nodes(problem: fpgrad.Problem) -> list[int]:
    net = problem.network
    return list(range(net.n_nodes - min(3, net.n_neurons), net.n_nodes))


def losses(problem: fpgrad.Problem) -> list:
    out = output_nodes(problem)
    result = fpgrad.simulate(problem)
    trains = {n: tuple(result.spikes_of(n)[:3] + 0.7) or (5.0,) for n in out}
    return [
        fpgrad.FirstSpikeMSE(out, [8.0 + k for k in range(len(out))]),
        fpgrad.FirstSpikeCrossEntropy(out, label=0),
        fpgrad.VanRossum(trains, tau=4.0),
        fpgrad.SpikeCount(out, [1.0] * len(out)),
    ]


def assert_rel(got: fpgrad.Gradients, want: fpgrad.Gradients, rtol: float = 1e-12) -> None:
    g, w = got.flat(), want.flat()
    assert g.shape == w.shape
    scale = max(float(np.max(np.abs(w), initial=0.0)), 1e-300)
    assert float(np.max(np.abs(g - w), initial=0.0)) <= rtol * scale, (
        float(np.max(np.abs(g - w), initial=0.0)) / scale
    )


@pytest.mark.parametrize("capacity", [1, 4, 512])
@pytest.mark.parametrize(
    "problem", [feedforward_problem(0), feedforward_problem(3), recurrent_problem(1)]
)
def test_online_equals_replayed_and_reverse(problem, capacity):
    for loss in losses(problem):
        online = fpgrad.ExactForward(online=True, capacity=capacity).gradient(problem, loss)
        replayed = fpgrad.ExactForward().gradient(problem, loss)
        reverse = fpgrad.ExactReverse().gradient(problem, loss)
        assert online.method == "exact-forward-online" and online.result is None
        assert online.loss == pytest.approx(reverse.loss, rel=1e-12, abs=1e-300)
        assert_rel(online.grad, replayed.grad)
        assert_rel(online.grad, reverse.grad)
        assert online.degeneracy.to_dict() == reverse.degeneracy.to_dict()


@settings(max_examples=30, deadline=None)
@given(problem=fst.model2_problems(), capacity=st.sampled_from([1, 3, 64]))
def test_online_equals_reverse_on_random_model2_problems(problem, capacity):
    loss = fpgrad.FirstSpikeMSE(output_nodes(problem), [5.0] * len(output_nodes(problem)))
    online = fpgrad.ExactForward(online=True, capacity=capacity).gradient(problem, loss)
    replayed = fpgrad.ExactForward().gradient(problem, loss)
    assert_rel(online.grad, replayed.grad)


def test_forward_stream_in_windows_equals_one_window():
    problem = recurrent_problem(2)
    net = problem.network
    loss = fpgrad.VanRossum({n: (4.0, 11.0) for n in output_nodes(problem)}, tau=5.0)
    params = [g for g in fpgrad.GROUPS if g != "input_time"]
    want = fpgrad.ExactReverse().gradient(problem, loss, params=params)
    stream = fpgrad.ForwardStream(net, loss, t_max=problem.t_max, capacity=2)
    lo = 0.0
    for k, hi in enumerate([3.0, 7.5, 7.6, 16.0, problem.t_max]):
        window = [tr[((tr >= lo) if k == 0 else (tr > lo)) & (tr <= hi)] for tr in problem.inputs]
        stream.feed(window, hi)
        lo = hi
    value, grad = stream.value_and_grad()
    assert value == pytest.approx(want.loss, rel=1e-12)
    assert_rel(grad, want.grad)


def test_online_memory_is_independent_of_duration():
    """Twenty times longer input: the same arrays (tangents, record piece) in the engine."""
    rng = np.random.default_rng(0)
    net = fpgrad.random_recurrent_network(
        5, 40, rng, recurrent_weight=0.1, t_ref=1.0, delay=(0.0, 2.0)
    )
    loss = fpgrad.FirstSpikeMSE([net.n_nodes - 1], [10.0])
    sizes = []
    for t_max in (100.0, 2000.0):
        stream = fpgrad.ForwardStream(net, loss, params=["weight"], t_max=t_max, capacity=64)
        stream.feed(fpgrad.poisson_inputs(5, 50.0, t_max, np.random.default_rng(1)), t_max)
        held = sum(a.nbytes for a in stream._state) + stream._df.nbytes
        held += sum(a.nbytes for a in stream._run.record)
        assert held <= stream.nbytes
        sizes.append((stream.nbytes, stream._run.n_spikes))
    (small, n_small), (large, n_large) = sizes
    assert n_large > 10 * n_small
    assert large <= 2 * small


def test_online_errors():
    problem = feedforward_problem(0)
    net = problem.network
    loss = fpgrad.FirstSpikeMSE(output_nodes(problem), [8.0, 9.0, 10.0])
    with pytest.raises(fpgrad.ProblemError, match="input_time"):
        fpgrad.ForwardStream(net, loss, params=["input_time"])
    with pytest.raises(fpgrad.ProblemError, match="capacity"):
        fpgrad.ForwardStream(net, loss, capacity=0)
    with pytest.raises(fpgrad.ProblemError, match="not a neuron"):
        fpgrad.ForwardStream(net, fpgrad.FirstSpikeMSE([0], [1.0]))
    with pytest.raises(fpgrad.ProblemError, match="unknown"):
        fpgrad.ForwardStream(net, loss, params=["weights"])


def test_gradcheck_checks_the_online_engine():
    problem = feedforward_problem(0)
    loss = fpgrad.FirstSpikeMSE(output_nodes(problem), [8.0, 9.0, 10.0])
    report = fpgrad.testing.gradcheck(problem, loss, params=["weight", "threshold"])
    assert "exact-forward-online" in report.gradients
    compared = {(r.method, r.reference) for r in report.rows}
    assert ("exact-forward-online", "exact-reverse") in compared

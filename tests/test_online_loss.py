"""Online losses: fed chunk by chunk with tangent rows, each loss gives the value and the
gradient of its ``value_and_spike_grad`` contracted with the rows, in bounded memory.

The gradient is linear in the tangent rows ``G = d spike_time / dp``, so random rows test the
contraction ``dL/dp = dL/dt @ G`` as well as true tangents would. Tolerance: both sides are the
same sums in different orders, 1e-12 relative.
"""

from __future__ import annotations

import itertools
import math
import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

import fpgrad
from fpgrad.losses import OnlineAccumulator

RTOL = 1e-12


def fake_result(node, time, t_max: float, n_inputs: int = 0, n_nodes: int = 20):
    """What the losses read of a :class:`~fpgrad.SimulationResult`, for hand-made trains."""
    node, time = np.asarray(node, dtype=np.int64), np.asarray(time, dtype=np.float64)
    order = np.lexsort((node, time))
    network = SimpleNamespace(n_inputs=n_inputs, n_nodes=n_nodes)
    return SimpleNamespace(
        problem=SimpleNamespace(t_max=t_max, network=network),
        spike_node=node[order],
        spike_time=time[order],
        n_spikes=int(node.size),
    )


def random_train(rng, n_spikes: int, nodes, t_max: float, grid: float | None = 0.5):
    """Random spikes of ``nodes`` on ``[0, t_max]``; on a grid of ``grid`` ms: many equal times."""
    time = rng.uniform(0.0, t_max, n_spikes)
    if grid is not None:
        time = np.floor(time / grid) * grid
    return fake_result(rng.choice(np.asarray(nodes), n_spikes), time, t_max)


def simulated(seed: int) -> fpgrad.SimulationResult:
    """A small recurrent network with multi-spike neurons; neuron 7 (the last) never fires."""
    rng = np.random.default_rng(seed)
    threshold = rng.uniform(0.8, 1.2, 5)
    threshold[-1] = 1e6
    net = fpgrad.random_recurrent_network(
        3, 5, rng, input_synapses=2, recurrent_synapses=2, input_weight=0.35,
        recurrent_weight=0.12, tau_mem=rng.uniform(5, 15, 5), threshold=threshold,
    )  # fmt: skip
    result = fpgrad.simulate(fpgrad.Problem(net, fpgrad.poisson_inputs(3, 100.0, 30.0, rng), 30.0))
    assert result.n_spikes > 5 and not np.any(result.spike_node == 7)
    return result


def chunks(rng, n: int, max_chunks: int = 8):
    """Random chunk bounds over ``n`` spikes, empty chunks included (repeated cut points)."""
    cuts = np.sort(rng.integers(0, n + 1, rng.integers(0, max_chunks)))
    bounds = [0, *cuts.tolist(), n]
    if rng.random() < 0.5:
        bounds = [0, 0, *bounds[1:]]  # an empty first chunk
    return list(itertools.pairwise(bounds))


def online(loss, result, tangent, rng, max_chunks: int = 8) -> tuple[float, np.ndarray]:
    acc = loss.online(tangent.shape[1])
    for lo, hi in chunks(rng, result.n_spikes, max_chunks):
        acc.update(result.spike_node[lo:hi], result.spike_time[lo:hi], tangent[lo:hi])
    return acc.finish(result.problem.t_max)


def assert_matches(loss, result, rng, n_columns: int = 4, max_chunks: int = 8) -> None:
    tangent = rng.normal(size=(result.n_spikes, n_columns))
    value, dl_dt = loss.value_and_spike_grad(result)
    expected = dl_dt @ tangent
    got_value, got = online(loss, result, tangent, rng, max_chunks)
    assert isinstance(got_value, float) and got.shape == (n_columns,) and got.dtype == np.float64
    assert abs(got_value - value) <= RTOL * abs(value), (got_value, value)
    assert np.linalg.norm(got - expected) <= RTOL * np.linalg.norm(expected), (got, expected)
    assert np.all(np.isfinite(got))


def losses_of(neurons, t_max: float, rng, trains=None):
    neurons = list(neurons)
    if trains is None:
        trains = {n: np.sort(rng.uniform(0, t_max, rng.integers(0, 6))) for n in neurons}
    return [
        fpgrad.FirstSpikeMSE(neurons, rng.uniform(0, t_max, len(neurons))),
        fpgrad.FirstSpikeCrossEntropy(neurons, int(rng.integers(len(neurons))), tau0=3.0),
        fpgrad.VanRossum(trains, tau=float(rng.uniform(2, 20))),
        fpgrad.SpikeCount(neurons, rng.integers(0, 5, len(neurons)).astype(float)),
    ]


@pytest.mark.parametrize("seed", range(4))
def test_simulated_spikes(seed):
    rng = np.random.default_rng(100 + seed)
    result = simulated(seed)
    counts = np.bincount(result.spike_node, minlength=8)
    assert counts.max() >= 3  # multi-spike neurons exercise the traces
    for loss in losses_of([3, 5, 6, 7], 30.0, rng):  # 7 is silent
        for _ in range(3):
            assert_matches(loss, result, rng)


@pytest.mark.parametrize("seed", range(6))
def test_hand_made_trains_with_equal_times(seed):
    rng = np.random.default_rng(seed)
    result = random_train(rng, 60, [2, 3, 4, 9], 20.0)  # 9 is not read; 5 is silent
    assert np.any(np.diff(result.spike_time) == 0)
    trains = {3: [1.0, 4.5, 4.5, 10.0], 4: [2.5], 5: []}  # targets on the grid: equal times too
    for loss in losses_of([3, 4, 5, 2], 20.0, rng, trains=trains):
        for max_chunks in (1, 8, 60):
            assert_matches(loss, result, rng, max_chunks=max_chunks)


def test_one_neuron_firing_several_times_at_once():
    """Equal times of one neuron, split across chunks: K(0) = 1 in the value, sign(0) = 0."""
    rng = np.random.default_rng(7)
    result = fake_result([3] * 6 + [4], [1.0, 2.0, 2.0, 2.0, 2.0, 5.0, 2.0], 10.0, n_nodes=5)
    loss = fpgrad.VanRossum({3: [2.0, 3.0], 4: [2.0]}, tau=4.0)
    tangent = rng.normal(size=(7, 3))
    value, dl_dt = loss.value_and_spike_grad(result)
    for bounds in ([0, 2, 3, 7], [0, 3, 3, 4, 7], [0, 1, 1, 7], [0, 7]):
        acc = loss.online(3)
        for lo, hi in itertools.pairwise(bounds):
            acc.update(result.spike_node[lo:hi], result.spike_time[lo:hi], tangent[lo:hi])
        got_value, got = acc.finish(10.0)
        assert got_value == pytest.approx(value, rel=RTOL)
        np.testing.assert_allclose(got, dl_dt @ tangent, rtol=RTOL, atol=0)


def test_silent_outputs_and_no_spikes():
    result = fake_result([], [], 12.0, n_nodes=6)
    rng = np.random.default_rng(3)
    for loss in losses_of([3, 4], 12.0, rng):
        acc = loss.online(5)
        acc.update(np.zeros(0, np.int64), np.zeros(0), np.zeros((0, 5)))
        value, grad = acc.finish(12.0)
        assert value == pytest.approx(loss.value_and_spike_grad(result)[0], rel=RTOL)
        assert np.array_equal(grad, np.zeros(5))  # no spike: nothing to differentiate


def test_first_spike_after_later_spikes_of_others_and_silent_neuron():
    """The first spike of each neuron is its first in time, whatever chunk it lies in."""
    result = fake_result([4, 3, 4, 3, 9], [1.0, 2.0, 3.0, 3.0, 4.0], 8.0, n_nodes=10)
    tangent = np.arange(15.0).reshape(5, 3)
    for loss in (
        fpgrad.FirstSpikeMSE([3, 4, 5, 3], [1.0, 2.0, 3.0, 4.0]),
        fpgrad.FirstSpikeCrossEntropy([5, 3, 4], 1),
    ):
        value, dl_dt = loss.value_and_spike_grad(result)
        for split in (1, 2, 3, 4):
            acc = loss.online(3)
            acc.update(result.spike_node[:split], result.spike_time[:split], tangent[:split])
            acc.update(result.spike_node[split:], result.spike_time[split:], tangent[split:])
            got_value, got = acc.finish(8.0)
            assert got_value == pytest.approx(value, rel=RTOL)
            np.testing.assert_allclose(got, dl_dt @ tangent, rtol=RTOL, atol=0)


def test_van_rossum_long_train():
    """> 1000 spikes over 5 s (t / tau up to 500: exp(+t/tau) would overflow): still 1e-12."""
    rng = np.random.default_rng(11)
    n = 1500
    time = np.sort(rng.uniform(0.0, 5000.0, n))
    time[700:900] = np.sort(rng.uniform(time[700], time[700] + 30.0, 200))  # a dense burst
    result = fake_result(rng.choice([3, 4], n, p=[0.8, 0.2]), time, 5000.0, n_nodes=5)
    targets = {3: np.sort(rng.uniform(0, 5000.0, 800)), 4: np.sort(rng.uniform(0, 5000.0, 50))}
    for tau in (1.0, 10.0, 200.0):
        loss = fpgrad.VanRossum(targets, tau=tau)
        assert_matches(loss, result, rng, n_columns=6, max_chunks=40)


@hyp_settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_spikes=st.integers(0, 40),
    grid=st.sampled_from([None, 1.0, 0.25]),
    n_columns=st.integers(0, 5),
    kind=st.integers(0, 3),
)
def test_property_online_equals_batch(seed, n_spikes, grid, n_columns, kind):
    rng = np.random.default_rng(seed)
    result = random_train(rng, n_spikes, [2, 3, 4, 5], 15.0, grid=grid)
    loss = losses_of([3, 4, 6], 15.0, rng)[kind]  # 6 never fires, 2 and 5 are not read
    assert_matches(loss, result, rng, n_columns=n_columns, max_chunks=int(rng.integers(1, 12)))


def test_spike_count_gradient_is_exact_zero():
    rng = np.random.default_rng(5)
    result = random_train(rng, 30, [3, 4], 10.0)
    acc = fpgrad.SpikeCount([3, 4, 3], [2.0, 1.0, 0.0]).online(4)
    acc.update(result.spike_node, result.spike_time, rng.normal(size=(30, 4)))
    value, grad = acc.finish(10.0)
    counts = np.array([np.sum(result.spike_node == n) for n in (3, 4, 3)], dtype=float)
    assert value == 0.5 * np.sum((counts - [2.0, 1.0, 0.0]) ** 2)
    assert np.array_equal(grad, np.zeros(4))


def state_bytes(acc: OnlineAccumulator) -> int:
    return sum(v.nbytes for v in vars(acc).values() if isinstance(v, np.ndarray))


@pytest.mark.parametrize("kind", range(4))
def test_memory_does_not_grow(kind):
    """10^5 spikes in 100 chunks: the state arrays keep their size, allocations stay bounded."""
    rng = np.random.default_rng(kind)
    n_columns, per_chunk = 8, 1000
    loss = losses_of([3, 4, 5], 1e6, rng)[kind]
    if kind == 1:  # label 3 fires at once (a silent label at t_max = 1e6 makes e^{t/tau1} inf)
        loss = fpgrad.FirstSpikeCrossEntropy([3, 4, 5], 0)
    acc = loss.online(n_columns)
    tangent = rng.normal(size=(per_chunk, n_columns))
    node = rng.choice(np.array([2, 3, 4]), per_chunk)  # 5 stays silent

    def chunk(c: int) -> np.ndarray:
        return np.sort(rng.uniform(c * 1e4, (c + 1) * 1e4, per_chunk))

    acc.update(node, chunk(0), tangent)
    before = state_bytes(acc)
    tracemalloc.start()
    try:
        for c in range(1, 100):
            acc.update(node, chunk(c), tangent)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert state_bytes(acc) == before
    assert peak < 20 * per_chunk * 8 * max(n_columns, 1)  # chunk temporaries, not 10^5 spikes
    value, grad = acc.finish(1e6)
    assert math.isfinite(value) and grad.shape == (n_columns,) and np.all(np.isfinite(grad))


def test_bad_inputs_are_one_line_errors():
    loss = fpgrad.FirstSpikeMSE([3], [1.0])
    for make, match in (
        (lambda: loss.online(-1), "n_columns = -1 must be >= 0"),
        (lambda: loss.online(2.5), "n_columns = 2.5: expected an integer"),
        (lambda: fpgrad.VanRossum({3: [1.0]}).online("2"), "n_columns = '2'"),
    ):
        with pytest.raises(fpgrad.ProblemError, match=match):
            make()
    for loss in losses_of([3, 4], 10.0, np.random.default_rng(0)):
        acc = loss.online(2)
        acc.update([3, 4], [1.0, 2.0], np.zeros((2, 2)))
        for args, match in (
            (([3], [1.0], np.zeros((1, 3))), r"tangent has shape \(1, 3\), expected \(1, 2\)"),
            (([3], [1.0, 2.0], np.zeros((1, 2))), r"time has shape \(2,\), expected \(1,\)"),
            (([3.0], [1.0], np.zeros((1, 2))), "node has shape"),
            (([[3]], [1.0], np.zeros((1, 2))), "node has shape"),
            (([3], [math.nan], np.zeros((1, 2))), "not finite"),
            (([3], [1.5], np.zeros((1, 2))), "spike times decrease"),
            (([3, 4], [3.0, 2.5], np.zeros((2, 2))), "spike times decrease"),
            (([3], ["a"], np.zeros((1, 2))), "arrays of numbers"),
        ):
            with pytest.raises(fpgrad.ProblemError, match=match) as info:
                acc.update(*args)
            assert "\n" not in str(info.value)
        with pytest.raises(fpgrad.ProblemError, match=r"t_max = 1\.0 must be finite"):
            acc.finish(1.0)
        with pytest.raises(fpgrad.ProblemError, match="t_max = inf"):
            acc.finish(math.inf)
        (v1, g1), (v2, g2) = acc.finish(10.0), acc.finish(10.0)  # finish keeps the state
        assert v1 == v2 and np.array_equal(g1, g2)

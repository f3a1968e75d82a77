"""Simulation in pieces: a stream of windows, and a run with a small record, are the one-shot
run bit for bit (spikes, record order, synaptic events, degeneracy report)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fpgrad
from fpgrad.event._simulate import compile_network, merge_inputs
from fpgrad.event._stream import ResumableRun
from fpgrad.testing import strategies as fst


def window_inputs(problem: fpgrad.Problem, lo: float, hi: float, first: bool) -> list:
    return [tr[((tr >= lo) if first else (tr > lo)) & (tr <= hi)] for tr in problem.inputs]


def stream_spikes(
    problem: fpgrad.Problem, edges: list[float], t_max: float | None, capacity: int | None = None
):
    stream = fpgrad.SimulationStream(problem.network, t_max=t_max, _capacity=capacity)
    nodes, times, events, lo = [], [], 0, 0.0
    for k, hi in enumerate(edges):
        window = stream.feed(window_inputs(problem, lo, hi, k == 0), hi)
        assert window.t_start == lo and window.t_end == hi
        assert np.all((window.spike_time <= hi) & (window.spike_time >= lo))
        nodes.append(window.spike_node)
        times.append(window.spike_time)
        events += window.n_synaptic_events
        lo = hi
    return np.concatenate(nodes), np.concatenate(times), events, stream


def cut_points(draw, t_max: float, problem: fpgrad.Problem) -> list[float]:
    """Window ends: random times, some exactly at input spike times (ties at a boundary)."""
    inner = draw(st.lists(st.floats(0.01, t_max * 0.99), max_size=6))
    spikes = np.concatenate(problem.inputs)
    if spikes.size:
        inner += [float(x) for x in draw(st.lists(st.sampled_from(spikes.tolist()), max_size=2))]
    return sorted({x for x in inner if 0 < x < t_max} | {t_max})


@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    problem=fst.model2_problems(),
    capacity=st.sampled_from([None, 1, 3]),  # records of 1 or 3 rows: pieces within a window
)
def test_stream_equals_one_shot(data, problem, capacity):
    ref = fpgrad.simulate(problem)
    edges = cut_points(data.draw, problem.t_max, problem)
    node, time, events, stream = stream_spikes(problem, edges, problem.t_max, capacity)
    np.testing.assert_array_equal(node, ref.spike_node)
    np.testing.assert_array_equal(time, ref.spike_time)
    assert events == ref.n_synaptic_events
    assert stream.max_in_flight == ref.max_in_flight
    assert stream.degeneracy().to_dict() == ref.degeneracy.to_dict()  # NaN: no value


@settings(max_examples=40, deadline=None)
@given(capacity=st.integers(1, 12), problem=fst.model2_problems())
def test_small_record_replays_the_one_shot_record(capacity, problem):
    """A run whose record holds only ``capacity`` rows, compacted whenever it is full: the new
    rows of its pieces, one after another, are the one-shot record."""
    ref = fpgrad.simulate(problem)
    run = ResumableRun(compile_network(problem.network), problem.t_max, capacity)
    inputs = merge_inputs(problem.inputs)
    rows = []
    while True:
        done = run.advance(inputs, problem.t_max, 10**9)
        piece = run.piece(problem.t_max if done else -np.inf)
        assert piece.n_carried <= max(run.max_in_flight, 0) + problem.network.n_neurons
        new = slice(piece.n_carried, None)
        rows.append(np.stack([piece.node[new], piece.input[new]]))
        run.compact()
        if done:
            break
    rows = np.concatenate(rows, axis=1)
    np.testing.assert_array_equal(rows[0], ref.record_node)
    np.testing.assert_array_equal(rows[1], ref.record_input)
    assert run.n_synaptic_events == ref.n_synaptic_events


def test_open_ended_stream_matches_the_horizon_run():
    """Without a horizon the spikes up to ``t`` are those of the problem with ``t_max = t``."""
    problem = fpgrad.Problem(
        fpgrad.random_recurrent_network(
            4, 30, np.random.default_rng(3), recurrent_weight=0.1, t_ref=1.0, delay=(0.0, 3.0)
        ),
        tuple(fpgrad.poisson_inputs(4, 80.0, 200.0, np.random.default_rng(4))),
        200.0,
    )
    ref = fpgrad.simulate(problem)
    node, time, _, _ = stream_spikes(problem, [50.0, 120.0, 200.0], None)
    np.testing.assert_array_equal(node, ref.spike_node)
    np.testing.assert_array_equal(time, ref.spike_time)


def test_stream_memory_does_not_grow():
    """A long stream keeps a record of about one window (the rows in flight are carried)."""
    net = fpgrad.random_recurrent_network(
        8, 50, np.random.default_rng(0), recurrent_weight=0.1, t_ref=1.0, delay=(0.0, 5.0)
    )
    stream = fpgrad.SimulationStream(net)
    rng = np.random.default_rng(1)
    sizes = []
    for k in range(40):
        lo, hi = 25.0 * k, 25.0 * (k + 1)
        trains = [np.sort(rng.uniform(lo, hi, 5)) for _ in range(8)]
        stream.feed(trains, hi)
        sizes.append(stream._run.n_rows)
    assert sum(w > 0 for w in sizes) > 0
    assert max(sizes) <= stream.max_in_flight + 50


@pytest.mark.parametrize(
    ("inputs", "until", "message"),
    [
        ([[1.0], [], []], float("nan"), "until"),
        ([[30.0], [], []], 20.0, "outside this window"),
        ([[-1.0], [], []], 20.0, "negative"),
        ([[1.0]], 20.0, "expected 3 spike trains"),
        ([[1.0], [], []], 500.0, "past the stream's t_max"),
    ],
)
def test_stream_errors(inputs, until, message):
    net = fpgrad.random_feedforward_network([3, 4], np.random.default_rng(0))
    stream = fpgrad.SimulationStream(net, t_max=100.0)
    with pytest.raises(fpgrad.ProblemError, match=message):
        stream.feed(inputs, until)


def test_stream_windows_must_move_forward():
    net = fpgrad.random_feedforward_network([3, 4], np.random.default_rng(0))
    stream = fpgrad.SimulationStream(net)
    stream.feed([[1.0], [], []], 10.0)
    with pytest.raises(fpgrad.ProblemError, match="later than the last window"):
        stream.feed([[], [], []], 10.0)
    with pytest.raises(fpgrad.ProblemError, match="outside this window"):
        stream.feed([[10.0], [], []], 20.0)  # the boundary belongs to the earlier window

"""The Numba event-driven simulator (``fpgrad.simulate``) against closed forms and the 50-digit
reference (``tests/reference.py``).

Tolerances. The simulator refines every crossing to a few ulps of the absolute time, so with
times below 100 ms its spike times carry errors of order 1e-14 ms plus what rounding of the state
accumulates along a chain of spikes (a slope ``dV/dt`` of order 0.01 turns a 1e-16 error in
``V`` into 1e-14 ms). Closed forms are compared at 1e-12 ms and random networks at the 1e-10 ms
of the spec, both far below any modelling error (a wrong reset, a missed or extra spike, a wrong
kernel or a refractory slip moves times by 1e-3 ms or more).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from mpmath import mpf
from problems import one_neuron
from reference import closed_form_single_neuron, simulate_reference, simulate_reference_run
from scipy.special import lambertw

import fpgrad

TOL_CLOSED = 1e-12  # ms, closed forms (float64) against the simulator
TOL_REF = 1e-10  # ms, random networks against the 50-digit reference


def kernel_peak(tau_syn: float, tau_mem: float) -> tuple[float, float]:
    """``(s_h, h(s_h))``: time and height of the post-synaptic kernel's maximum."""
    a, b = 1.0 / tau_syn, 1.0 / tau_mem
    if a == b:
        return tau_syn, tau_syn / math.e
    s_h = math.log(b / a) / (b - a)
    return s_h, (math.exp(-a * s_h) - math.exp(-b * s_h)) / (b - a)


def assert_matches_reference(problem: fpgrad.Problem, result: fpgrad.SimulationResult) -> None:
    """Identical spike sequences (node by node, in time order) and times within ``TOL_REF``."""
    ref = simulate_reference(problem)
    ref_nodes = [node for node, _ in ref]
    assert result.spike_node.tolist() == ref_nodes, "spike sequences differ"
    if ref:
        err = np.abs(result.spike_time - np.array([float(t) for _, t in ref]))
        assert err.max() < TOL_REF, f"max time error {err.max():.3g} ms"


def random_feedforward(seed: int) -> fpgrad.Problem:
    """12 Poisson inputs -> 8 -> 4, weights scaled by the kernel peak so that a few coincident
    input spikes fire a neuron; random ``tau_mem`` (including ``tau_mem = tau_syn``),
    thresholds and sometimes a refractory period. Typically 100-500 spikes, neurons firing
    many times."""
    rng = np.random.default_rng(seed)
    tau_mem = float(rng.choice([10.0, 5.0, 7.3, 20.0, 3.0]))
    hp = kernel_peak(5.0, tau_mem)[1]
    net = fpgrad.random_feedforward_network(
        [12, 8, 4],
        rng,
        weight_mean=[0.18 / hp, 0.1 / hp],
        weight_std=[0.25 / hp, 0.2 / hp],
        tau_syn=5.0,
        tau_mem=tau_mem,
        threshold=rng.uniform(0.8, 1.2, 12),
        t_ref=float(rng.choice([0.0, 0.0, 1.0])),
    )
    return fpgrad.Problem(net, tuple(fpgrad.poisson_inputs(12, 80.0, 40.0, rng)), 40.0)


def random_recurrent(seed: int) -> fpgrad.Problem:
    """10 Poisson inputs and 8 recurrently connected neurons (30% inhibitory, self-loops
    allowed), random ``tau_mem``, thresholds and refractory periods. Typically 30-250 spikes."""
    rng = np.random.default_rng(seed)
    tau_mem = float(rng.choice([10.0, 5.0, 7.3, 20.0]))
    hp = kernel_peak(5.0, tau_mem)[1]
    net = fpgrad.random_recurrent_network(
        10,
        8,
        rng,
        input_synapses=4,
        recurrent_synapses=4,
        input_weight=0.3 / hp,
        recurrent_weight=0.15 / hp,
        inhibitory_fraction=0.3,
        inhibition_scale=2.0,
        tau_mem=tau_mem,
        threshold=rng.uniform(0.8, 1.2, 8),
        t_ref=float(rng.choice([0.0, 0.0, 1.0])),
    )
    return fpgrad.Problem(net, tuple(fpgrad.poisson_inputs(10, 80.0, 50.0, rng)), 50.0)


def well_conditioned(result: fpgrad.SimulationResult) -> bool:
    """No spike within 1e-6 of appearing or vanishing (the spec's skip rule)."""
    deg = result.degeneracy
    return deg.min_peak_gap >= 1e-6 and deg.min_crossing_slope >= 1e-6


# --- closed forms --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("w", "t0", "theta"), [(0.45, 0.0, 1.0), (1.0, 3.25, 1.0), (7.0, 1.0, 0.6)]
)
def test_single_input_quadratic(w, t0, theta):
    """``tau_mem = 2 tau_syn``: ``V = w (x - x^2)/b`` with ``x = e^{-(t - t0)/tau_mem}``, so the
    first spike is at ``x = (1 + sqrt(1 - 4 theta b/w))/2``. Horizon set just after it."""
    tau_mem = 10.0
    b = 1.0 / tau_mem
    x = (1.0 + math.sqrt(1.0 - 4.0 * theta * b / w)) / 2.0
    want = t0 - tau_mem * math.log(x)
    prob = one_neuron([(t0, w)], tau_mem=tau_mem, threshold=theta, t_max=want + 1e-6)
    res = fpgrad.simulate(prob)
    assert res.spike_node.tolist() == [1]
    assert abs(res.spike_time[0] - want) < TOL_CLOSED


@pytest.mark.parametrize(("w", "tau"), [(0.5, 5.0), (2.0, 5.0), (0.2, 20.0)])
def test_single_input_lambert(w, tau):
    """``tau_mem = tau_syn = tau``: ``V = w s e^{-s/tau}``; the first spike is at
    ``s = -tau W0(-theta/(w tau))`` (scipy's Lambert W, principal branch)."""
    theta, t0 = 0.8, 2.0
    assert theta / (w * tau) < 0.9 / math.e  # well above the grazing point
    want = t0 - tau * float(lambertw(-theta / (w * tau), 0).real)
    prob = one_neuron([(t0, w)], tau_syn=tau, tau_mem=tau, threshold=theta, t_max=want + 1e-6)
    res = fpgrad.simulate(prob)
    assert res.spike_node.tolist() == [1]
    assert abs(res.spike_time[0] - want) < TOL_CLOSED


def closed_form_case(tau_mem: float, **kwargs) -> tuple[fpgrad.Problem, list[float]]:
    """The simulator's problem and the closed-form spike times for one neuron."""
    inputs = kwargs.pop("inputs")
    prob = one_neuron(inputs, tau_syn=5.0, tau_mem=tau_mem, **kwargs)
    want = closed_form_single_neuron(
        inputs,
        tau_syn=5.0,
        tau_mem=tau_mem,
        threshold=kwargs.get("threshold", 1.0),
        t_max=kwargs.get("t_max", 100.0),
        t_ref=kwargs.get("t_ref", 0.0),
        self_weight=kwargs.get("self_weight") or 0.0,
    )
    return prob, want


def assert_times(res: fpgrad.SimulationResult, want: list[float], tol: float = TOL_CLOSED) -> None:
    assert res.n_spikes == len(want), f"{res.n_spikes} spikes, expected {len(want)}"
    np.testing.assert_allclose(res.spike_time, want, rtol=0, atol=tol)


@pytest.mark.parametrize("tau_mem", [10.0, 5.0])
def test_burst_with_reset(tau_mem):
    """One strong input: the neuron fires, resets to 0 and fires again from the remaining
    current, several times (quadratic / Lambert closed forms interval by interval)."""
    prob, want = closed_form_case(tau_mem, inputs=[(1.0, 8.0)], threshold=1.0, t_max=60.0)
    assert len(want) >= 5
    res = fpgrad.simulate(prob)
    assert set(res.spike_node.tolist()) == {1}
    assert_times(res, want)


@pytest.mark.parametrize("tau_mem", [10.0, 5.0])
@pytest.mark.parametrize("t_ref", [0.5, 2.0, 7.5])
def test_refractory_period(tau_mem, t_ref):
    """``t_ref > 0``: ``V`` held at 0 after each spike while the current decays (and keeps
    receiving input: the second burst's input arrives during a refractory period); consecutive
    spikes are at least ``t_ref`` apart."""
    inputs = [(1.0, 8.0), (12.0, 5.0), (12.3, 2.0), (30.0, 6.0)]
    prob, want = closed_form_case(tau_mem, inputs=inputs, t_ref=t_ref, t_max=60.0)
    assert len(want) >= 4
    assert any(0 < t - f < t_ref for t, _ in inputs for f in want), "input during refractoriness"
    res = fpgrad.simulate(prob)
    assert_times(res, want)
    assert np.all(np.diff(res.spike_time) >= t_ref)


@pytest.mark.parametrize("tau_mem", [10.0, 5.0])
def test_inhibition(tau_mem):
    """Inhibitory inputs: one delays the first spike (later than without it), a strong one
    suppresses a spike that would otherwise occur; both as the closed forms say."""
    base = [(1.0, 0.4), (2.0, 0.4)]
    prob0, want0 = closed_form_case(tau_mem, inputs=base, t_max=40.0)
    prob1, want1 = closed_form_case(tau_mem, inputs=[*base, (2.5, -0.15)], t_max=40.0)
    prob2, want2 = closed_form_case(tau_mem, inputs=[*base, (2.5, -1.5)], t_max=40.0)
    assert len(want0) >= 1 and len(want1) >= 1 and want1[0] > want0[0] + 0.1 > 2.6
    assert want2 == []
    for prob, want in [(prob0, want0), (prob1, want1), (prob2, want2)]:
        assert_times(fpgrad.simulate(prob), want)


@pytest.mark.parametrize("tau_mem", [10.0, 5.0])
@pytest.mark.parametrize("t_ref", [0.0, 1.0])
def test_mixed_inputs_closed_form(tau_mem, t_ref):
    """A long mixed train (excitation, inhibition, bursts, quiet periods) against the
    interval-by-interval closed forms."""
    rng = np.random.default_rng(7)
    times = np.sort(rng.uniform(0, 80, 40))
    weights = rng.normal(0.5, 1.0, 40)
    inputs = list(zip(times.tolist(), weights.tolist(), strict=True))
    prob, want = closed_form_case(tau_mem, inputs=inputs, t_ref=t_ref, t_max=90.0)
    assert len(want) >= 10
    assert_times(fpgrad.simulate(prob), want)


@pytest.mark.parametrize("tau_mem", [10.0, 5.0])
@pytest.mark.parametrize("self_weight", [0.15, -0.3])
@pytest.mark.parametrize("t_ref", [0.0, 1.0])
def test_self_loop(tau_mem, self_weight, t_ref):
    """A self-loop adds ``w_self`` to the neuron's own current at each of its spikes: excitatory
    ones lengthen the burst, inhibitory ones shorten it (closed forms with ``J += w_self``)."""
    inputs = [(1.0, 3.0), (25.0, 2.0)]
    prob, want = closed_form_case(
        tau_mem, inputs=inputs, self_weight=self_weight, t_ref=t_ref, t_max=50.0
    )
    _, plain = closed_form_case(tau_mem, inputs=inputs, t_ref=t_ref, t_max=50.0)
    assert len(want) != len(plain)
    assert_times(fpgrad.simulate(prob), want)


def test_horizon_is_inclusive_and_late_inputs_ignored():
    """A spike just inside ``t_max`` is kept, one just after is dropped, and input spikes after
    ``t_max`` change nothing."""
    tau_mem, w = 10.0, 1.0
    x = (1.0 + math.sqrt(1.0 - 4.0 / (tau_mem * w))) / 2.0
    f = 1.0 - tau_mem * math.log(x)
    assert fpgrad.simulate(one_neuron([(1.0, w)], t_max=f + 1e-9)).n_spikes == 1
    assert fpgrad.simulate(one_neuron([(1.0, w)], t_max=f - 1e-9)).n_spikes == 0
    late = fpgrad.simulate(one_neuron([(1.0, w), (f + 1e-3, 50.0)], t_max=f + 1e-6))
    assert (
        late.spike_time.tolist()
        == fpgrad.simulate(one_neuron([(1.0, w)], t_max=f + 1e-6)).spike_time.tolist()
    )
    assert late.record_time.max() <= f + 1e-6


def test_degenerate_shapes():
    """No neurons, no synapses, no input spikes: empty results, not errors; simultaneous and
    duplicated input spikes add up (``J`` jumps by the sum)."""
    net = fpgrad.Network(
        n_inputs=2, n_neurons=0, tau_syn=5.0, tau_mem=10.0, threshold=1.0,
        pre=np.empty(0, np.int64), post=np.empty(0, np.int64), weight=np.empty(0),
    )  # fmt: skip
    res = fpgrad.simulate(fpgrad.Problem(net, ([1.0], []), 10.0))
    assert res.n_spikes == 0 and res.spike_time.dtype == np.float64
    lonely = one_neuron([], t_max=10.0)
    assert fpgrad.simulate(lonely).n_spikes == 0
    # two inputs at the same time with w/2 each, one input with a repeated spike, one with w
    w = 1.0
    together = fpgrad.simulate(one_neuron([(2.0, w / 2), (2.0, w / 2)], t_max=30.0))
    net1 = one_neuron([(2.0, w / 2)], t_max=30.0)
    repeated = fpgrad.simulate(net1.with_inputs([[2.0, 2.0]]))
    single = fpgrad.simulate(one_neuron([(2.0, w)], t_max=30.0))
    assert single.n_spikes >= 1
    for res in (together, repeated):
        assert res.n_spikes == single.n_spikes
        np.testing.assert_allclose(res.spike_time, single.spike_time, rtol=0, atol=1e-13)


# --- networks against the 50-digit reference ------------------------------------------------


@pytest.mark.parametrize(
    ("weights", "t_ref"),
    [([2.5, 0.15, 0.15, -0.1, 0.05], 0.0), ([2.5, 0.5, 0.5, -0.3, 0.1], 2.0)],
)
def test_recurrent_loop_two_neurons(weights, t_ref):
    """Two neurons exciting each other, each with a self-loop (one inhibitory), kicked by a
    short input burst: the loop reverberates to ``t_max`` (a self-sustained chain of spikes,
    every one caused by the other neuron's), identical to the reference."""
    net = fpgrad.Network(
        n_inputs=1,
        n_neurons=2,
        tau_syn=5.0,
        tau_mem=[10.0, 7.0],
        threshold=[1.0, 0.9],
        t_ref=t_ref,
        pre=np.array([0, 1, 2, 1, 2]),
        post=np.array([1, 2, 1, 1, 2]),
        weight=np.array(weights),
    )
    prob = fpgrad.Problem(net, ([1.0, 2.0, 4.0],), 40.0)
    res = fpgrad.simulate(prob)
    assert well_conditioned(res)
    assert res.n_spikes >= 20 and res.spike_time[-1] > 35.0
    assert min(np.bincount(res.spike_node)[1:]) >= 10
    assert_matches_reference(prob, res)


def check_random(problem: fpgrad.Problem) -> int:
    """Compare one random draw with the reference; returns its spike count (0 if skipped)."""
    res = fpgrad.simulate(problem)
    if not well_conditioned(res):
        return 0
    assert_matches_reference(problem, res)
    return res.n_spikes


def multi_spike_neurons(problem: fpgrad.Problem) -> int:
    res = fpgrad.simulate(problem)
    return int(np.sum(np.bincount(res.spike_node) >= 3))


def test_random_feedforward_matches_reference():
    """Six random feedforward draws (2 layers, many spikes per neuron) equal the reference:
    same spike sequence, times within 1e-10 ms. At least four draws must be retained."""
    counts = [check_random(random_feedforward(seed)) for seed in range(6)]
    kept = [c for c in counts if c]
    assert len(kept) >= 4 and sum(kept) >= 600, counts
    assert multi_spike_neurons(random_feedforward(0)) >= 8


def test_random_recurrent_matches_reference():
    """Eight random recurrent draws (inhibition, self-loops, refractoriness in some) equal the
    reference to 1e-10 ms with identical spike sequences."""
    counts = [check_random(random_recurrent(seed)) for seed in range(8)]
    kept = [c for c in counts if c]
    assert len(kept) >= 5 and sum(kept) >= 400, counts
    assert multi_spike_neurons(random_recurrent(2)) >= 6


@pytest.mark.parametrize(
    ("tau_syn", "tau_mem"),
    [(5.0, 5.0 * (1 + 1e-9)), (5.0, 5.0 * (1 - 1e-6)), (0.5, 50.0), (20.0, 1.0), (1.0, 100.0)],
)
def test_time_constant_extremes_match_reference(tau_syn, tau_mem):
    """Nearly equal time constants (where ``(e^{-as} - e^{-bs})/(b - a)`` cancels) and very
    unequal ones (fast membrane or fast synapse) on a small recurrent network."""
    rng = np.random.default_rng(11)
    hp = kernel_peak(tau_syn, tau_mem)[1]
    net = fpgrad.random_recurrent_network(
        6, 5, rng, input_synapses=3, recurrent_synapses=2, input_weight=0.5 / hp,
        recurrent_weight=0.2 / hp, tau_syn=tau_syn, tau_mem=tau_mem,
        threshold=rng.uniform(0.8, 1.2, 5),
    )  # fmt: skip
    prob = fpgrad.Problem(net, tuple(fpgrad.poisson_inputs(6, 100.0, 40.0, rng)), 40.0)
    res = fpgrad.simulate(prob)
    assert well_conditioned(res)
    assert res.n_spikes >= 10
    assert_matches_reference(prob, res)


@pytest.mark.slow
def test_many_random_draws_match_reference():
    """Thirty more feedforward and recurrent draws, plus larger recurrent networks (slow)."""
    kept = [check_random(random_feedforward(seed)) for seed in range(100, 115)]
    kept += [check_random(random_recurrent(seed)) for seed in range(100, 115)]
    assert sum(c > 0 for c in kept) >= 20
    for seed in range(3):
        rng = np.random.default_rng(200 + seed)
        net = fpgrad.random_recurrent_network(
            20, 30, rng, input_synapses=5, recurrent_synapses=6, input_weight=0.15,
            recurrent_weight=0.05, inhibitory_fraction=0.25, inhibition_scale=3.0,
        )  # fmt: skip
        prob = fpgrad.Problem(net, tuple(fpgrad.poisson_inputs(20, 40.0, 60.0, rng)), 60.0)
        assert check_random(prob) > 50


# --- batches -----------------------------------------------------------------------------


@pytest.mark.parametrize("n_threads", [1, 2, None])
def test_simulate_batch_equals_simulate(n_threads):
    """``simulate_batch`` gives, sample by sample, exactly (bitwise) what ``simulate`` gives,
    whatever the number of threads, including samples without any input spike."""
    rng = np.random.default_rng(3)
    net = random_recurrent(1).network
    samples = [fpgrad.poisson_inputs(net.n_inputs, 80.0, 50.0, rng) for _ in range(7)]
    samples.append([np.empty(0)] * net.n_inputs)
    results = fpgrad.simulate_batch(net, samples, 50.0, n_threads=n_threads)
    assert len(results) == len(samples)
    assert sum(r.n_spikes for r in results) > 50
    for sample, got in zip(samples, results, strict=True):
        want = fpgrad.simulate(fpgrad.Problem(net, tuple(sample), 50.0))
        assert np.array_equal(got.spike_node, want.spike_node)
        assert np.array_equal(got.spike_time, want.spike_time)
        assert np.array_equal(got.record_time, want.record_time)
        assert got.degeneracy.to_dict() == want.degeneracy.to_dict()  # (NaN != NaN)


# --- the degeneracy report -----------------------------------------------------------------


def test_peak_just_below_threshold_is_reported():
    """A lone input whose peak is ``theta (1 - 1e-9)``: no spike, and ``min_peak_gap`` is
    ``1e-9 theta`` (to 1e-6 relative: ``w`` itself is rounded) at neuron 0 and the kernel's
    peak time (to 1e-9 ms)."""
    theta, t0 = 1.3, 2.0
    s_h, h_max = kernel_peak(5.0, 10.0)
    silent = one_neuron([(t0, 1.0)], t_max=50.0).with_inputs([[]])
    assert np.isinf(fpgrad.simulate(silent).degeneracy.min_peak_gap)  # nothing ever rises
    prob = one_neuron([(t0, theta * (1 - 1e-9) / h_max)], threshold=theta, t_max=50.0)
    res = fpgrad.simulate(prob)
    deg = res.degeneracy
    assert res.n_spikes == 0
    assert deg.peak_gap_neuron == prob.network.n_inputs + 0  # global node id of neuron 0
    assert deg.min_peak_gap == pytest.approx(theta * 1e-9, rel=1e-6)
    assert abs(deg.peak_gap_time - (t0 + s_h)) < 1e-9
    assert np.isinf(deg.min_crossing_slope) and deg.crossing_slope_neuron == -1
    assert deg.is_degenerate() and not deg.is_degenerate(eps_gap=1e-10)


def test_grazing_crossing_has_small_slope():
    """A peak ``theta (1 + 1e-8)`` gives a spike whose crossing slope is tiny, as the reference
    computes it (``J(f) - theta/tau_mem``, ~1e-5 here; 1e-4 relative: near a grazing root the
    float64 root itself moves by ~1e-12 ms)."""
    theta, t0 = 1.0, 2.0
    _, h_max = kernel_peak(5.0, 10.0)
    prob = one_neuron([(t0, theta * (1 + 1e-8) / h_max)], threshold=theta, t_max=20.0)
    res = fpgrad.simulate(prob)
    ref = simulate_reference_run(prob)
    assert res.n_spikes == len(ref.spikes) == 1
    deg = res.degeneracy
    want = float(ref.slopes[0])
    assert 1e-7 < want < 1e-4
    assert deg.crossing_slope_neuron == prob.network.n_inputs + 0
    assert deg.min_crossing_slope == pytest.approx(want, rel=1e-4)
    assert deg.crossing_slope_time == res.spike_time[0]
    assert deg.is_degenerate(eps_slope=1e-4) and not deg.is_degenerate(eps_slope=1e-8)


def test_crossing_slope_matches_reference_on_random_problems():
    """``min_crossing_slope`` is the smallest ``dV/dt`` before a spike: equal to the reference's
    (50 digits) to 1e-9 relative, at the same neuron and spike."""
    for seed in range(3):
        prob = random_recurrent(seed)
        res = fpgrad.simulate(prob)
        ref = simulate_reference_run(prob, track_peaks=False)
        q = int(np.argmin([float(s) for s in ref.slopes]))
        deg = res.degeneracy
        assert deg.min_crossing_slope == pytest.approx(float(ref.slopes[q]), rel=1e-9)
        assert deg.crossing_slope_neuron == ref.spikes[q][0]  # both global node ids
        assert abs(deg.crossing_slope_time - float(ref.spikes[q][1])) < TOL_REF


def test_peak_gap_kink_and_horizon():
    """The other two kinds of sub-threshold maxima: an inhibitory input turning a rising ``V``
    down (a kink at the input time) and ``V(t_max)`` while still rising."""
    kink = one_neuron([(1.0, 0.3), (3.0, -1.0)], t_max=30.0)
    deg = fpgrad.simulate(kink).degeneracy
    ref = simulate_reference_run(kink)
    assert (deg.peak_gap_neuron, deg.peak_gap_time) == (kink.network.n_inputs + 0, 3.0)
    assert deg.min_peak_gap == pytest.approx(float(ref.min_peak_gap), rel=1e-12)
    rising = one_neuron([(1.0, 0.3)], t_max=4.0)
    deg = fpgrad.simulate(rising).degeneracy
    ref = simulate_reference_run(rising)
    assert (deg.peak_gap_neuron, deg.peak_gap_time) == (rising.network.n_inputs + 0, 4.0)
    assert deg.min_peak_gap == pytest.approx(float(ref.min_peak_gap), rel=1e-12)


def test_peak_gap_ignores_input_that_keeps_v_rising():
    """An excitatory input arriving 1e-6 ms before a crossing does not make ``V`` at that time a
    sub-threshold maximum: ``V`` keeps rising into the spike, nothing is about to appear. The
    documented ``min_peak_gap`` (free peaks, kinks turning ``V`` down, ``V(t_max)`` if rising)
    is then ``inf`` here (``V`` is held at 0 after the spike until past ``t_max``), not the
    ~1e-7 gap of ``V`` at the input time, which would flag a sound run as degenerate."""
    w = 1.0
    x = (1.0 + math.sqrt(1.0 - 4.0 / (10.0 * w))) / 2.0
    f = 1.0 - 10.0 * math.log(x)  # crossing of the first input alone
    prob = one_neuron([(1.0, w), (f - 1e-6, 0.05)], t_ref=20.0, t_max=f + 5.0)
    res = fpgrad.simulate(prob)
    ref = simulate_reference_run(prob)
    assert res.n_spikes == len(ref.spikes) == 1
    assert ref.min_peak_gap == mpf("inf")
    assert res.degeneracy.min_peak_gap == math.inf, res.degeneracy


def test_peak_gap_matches_reference_on_random_problems():
    """On random networks ``min_peak_gap`` equals the reference's smallest gap over the true
    sub-threshold local maxima (to 1e-9 relative), at the same neuron and time (1e-8 ms: peaks
    are flat, but the simulator locates them in closed form)."""
    draws = [random_recurrent(seed) for seed in range(4)]
    draws += [random_feedforward(seed) for seed in (1, 5)]
    for seed, prob in enumerate(draws):
        deg = fpgrad.simulate(prob).degeneracy
        ref = simulate_reference_run(prob)
        assert deg.min_peak_gap == pytest.approx(float(ref.min_peak_gap), rel=1e-9), seed
        # the reference numbers neurons 0..N-1, the simulator by global node id
        neuron = ref.peak_gap_neuron
        assert neuron >= 0, seed
        assert deg.peak_gap_neuron == prob.network.n_inputs + neuron
        assert abs(deg.peak_gap_time - float(ref.peak_gap_time)) < 1e-8


def test_exact_grazing_touch_is_reported_degenerate():
    """A membrane maximum exactly at threshold (tau_syn 5, tau_mem 10: one input of weight 0.5
    peaks at 0.5 x 2.5 = 1.25) is no spike, and its gap 0 flags the run: before, the report said
    min_peak_gap = inf and a zero gradient passed as valid, while thresholds one ulp either side
    were flagged."""
    # the decision at the touch itself is the root finder's (spike iff the computed maximum
    # exceeds theta); whichever way rounding decides, the run is flagged
    for threshold, spikes in ((1.25, 0), (np.nextafter(1.25, 2.0), 0), (np.nextafter(1.25, 0), 1)):
        problem = fpgrad.problem_from_dict(
            {
                "format": "fpgrad-problem/1",
                "t_max": 40.0,
                "tau_syn": 5.0,
                "neurons": {"count": 1, "tau_mem": 10.0, "threshold": float(threshold)},
                "inputs": [[1.0]],
                "synapses": {"pre": [0], "post": [1], "weight": [0.5]},
            }
        )
        result = fpgrad.simulate(problem)
        assert result.n_spikes == spikes
        deg = result.degeneracy
        assert deg.is_degenerate(1e-6, 1e-6), threshold
        if threshold == 1.25:
            assert deg.min_peak_gap == 0.0 and deg.peak_gap_neuron == 1
            assert deg.peak_gap_time == pytest.approx(1.0 + 10.0 * np.log(2.0), rel=1e-12)
        assert fpgrad.gradient(problem, fpgrad.FirstSpikeMSE([1], [5.0])).degenerate


@pytest.mark.parametrize("tau_mem", [1e17, 1e100, 1e300])
def test_near_perfect_integrators_keep_their_crossings(tau_mem):
    """tau_mem / tau_syn beyond 2e16 lost every crossing (log1p((b - a) / a) = log1p(-1) = -inf
    made the kernel's peak 0): one input of 0.4 gave no spike instead of the perfect
    integrator's 1 + 5 ln 2, two inputs 1 spike instead of 3, and the README problem a spike at
    the next input (4.5) instead of 3.2567. Now the spikes are those of tau_mem = 1e13 (where
    the ratio was still fine) to rounding, and the first the closed form's."""

    def spikes(tau: float, inputs: list, weights: list) -> np.ndarray:
        problem = fpgrad.problem_from_dict(
            {
                "format": "fpgrad-problem/1",
                "t_max": 40.0,
                "tau_syn": 5.0,
                "neurons": {"count": 1, "tau_mem": tau, "threshold": 1.0},
                "inputs": inputs,
                "synapses": {"pre": list(range(len(inputs))), "post": [len(inputs)] * len(inputs),
                             "weight": weights},
            }
        )  # fmt: skip
        return fpgrad.simulate(problem).spike_time

    one = spikes(tau_mem, [[1.0]], [0.4])
    np.testing.assert_allclose(one, [1.0 + 5.0 * math.log(2.0)], rtol=1e-15)
    two = spikes(tau_mem, [[1.0], [8.0]], [0.4, 0.3])
    assert two.size == 3
    np.testing.assert_allclose(two, spikes(1e13, [[1.0], [8.0]], [0.4, 0.3]), rtol=1e-12)
    readme = fpgrad.problem_to_dict(fpgrad.load_problem("examples/problem.json"))
    readme["neurons"]["tau_mem"] = tau_mem
    first = fpgrad.simulate(fpgrad.problem_from_dict(readme)).spike_time[0]
    readme["neurons"]["tau_mem"] = 1e13
    assert first == pytest.approx(fpgrad.simulate(fpgrad.problem_from_dict(readme)).spike_time[0])
    assert first == pytest.approx(3.2567, abs=1e-4)


@pytest.mark.parametrize("tau_syn", [1e10, 1e17, 1e300])
def test_slow_synapses_fast_membranes(tau_syn):
    """The other direction, tau_syn >> tau_mem (a step current): V = J tau_mem (1 - e^{-t/tau_mem})
    crosses theta = 1 with J = 2, tau_mem = 10 at t - 1 = 10 ln 2, then every 10 ln 2 again."""
    problem = fpgrad.problem_from_dict(
        {
            "format": "fpgrad-problem/1",
            "t_max": 40.0,
            "tau_syn": tau_syn,
            "neurons": {"count": 1, "tau_mem": 10.0, "threshold": 1.0},
            "inputs": [[1.0]],
            "synapses": {"pre": [0], "post": [1], "weight": [0.2]},
        }
    )
    times = fpgrad.simulate(problem).spike_time
    period = 10.0 * math.log(2.0)
    # J decays by e^{-40 / tau_syn} over the run: a relative deviation of about 40 / tau_syn
    rtol = max(1e-13, 100.0 / tau_syn)
    np.testing.assert_allclose(times, 1.0 + period * np.arange(1, times.size + 1), rtol=rtol)
    assert times.size == int(39.0 / period)


def test_perfect_integrator_is_exact():
    """tau_mem = inf (no leak, NIR's IF neuron): V rises towards V0 + J0 tau_syn with no
    maximum, the crossing is in closed form; spikes equal those of tau_mem = 1e13 to rounding,
    the first one 1 + 5 ln 2, and the three engines agree (d/dtau_mem is 0 at infinity)."""
    net = fpgrad.Network(
        n_inputs=2, n_neurons=1, tau_syn=5.0, tau_mem=math.inf, threshold=1.0,
        pre=[0, 1], post=[2, 2], weight=[0.4, 0.3],
    )  # fmt: skip
    problem = fpgrad.Problem(net, ([1.0], [8.0]), 40.0)
    times = fpgrad.simulate(problem).spike_time
    leaky = fpgrad.Problem(net.replace(tau_mem=np.array([1e13])), problem.inputs, 40.0)
    np.testing.assert_allclose(times, fpgrad.simulate(leaky).spike_time, rtol=1e-12)
    assert times.size == 3 and times[0] == pytest.approx(1.0 + 5.0 * math.log(2.0), rel=1e-15)
    loss = fpgrad.FirstSpikeMSE([2], [3.0])
    rev = fpgrad.gradient(problem, loss)
    fwd = fpgrad.gradient(problem, loss, fpgrad.ExactForward())
    groups = ["weight", "input_time", "threshold", "tau_syn"]
    fd = fpgrad.gradient(problem, loss, fpgrad.FiniteDifference(), params=groups)
    assert not rev.degenerate and rev.grad.tau_mem[0] == 0.0
    np.testing.assert_allclose(fwd.grad.flat(), rev.grad.flat(), rtol=1e-12)
    for group in groups:
        np.testing.assert_allclose(getattr(fd.grad, group), getattr(rev.grad, group), rtol=1e-7)
    # below threshold for ever: no spike, the gap to the limit is reported at t_max
    quiet = fpgrad.Problem(net.replace(weight=np.array([0.1, 0.05])), problem.inputs, 40.0)
    deg = fpgrad.simulate(quiet).degeneracy
    assert fpgrad.simulate(quiet).n_spikes == 0 and deg.peak_gap_time == 40.0


def test_spike_lists_sort_like_lexsort_with_exact_ties():
    """The result's spike list: neuron rows of the record sorted by (time, node), stably, as
    np.lexsort sorts them, on records with many exact ties out of node order."""
    from fpgrad.event._simulate import _spike_lists

    rng = np.random.default_rng(5)
    for _ in range(50):
        n = int(rng.integers(0, 40))
        times = np.sort(rng.choice([0.5, 1.0, 1.5, 2.0], n))  # causal order: time order
        nodes = rng.integers(0, 6, n)
        inputs = np.where(rng.random(n) < 0.3, rng.integers(0, 9, n), -1)
        cause = np.where(rng.random(n) < 0.2, rng.integers(0, 4, n), -1)
        out_syn = np.array([7, 3, 9, 1])
        node, time, rows, cause_syn = _spike_lists(nodes, times, inputs, cause, out_syn)
        want = np.flatnonzero(inputs < 0)
        want = want[np.lexsort((nodes[want], times[want]))]
        np.testing.assert_array_equal(rows, want)
        np.testing.assert_array_equal(node, nodes[want])
        np.testing.assert_array_equal(time, times[want])
        np.testing.assert_array_equal(cause_syn, np.where(cause >= 0, out_syn[cause], -1))

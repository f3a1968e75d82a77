"""Model 2 (docs/model.md §1): per-neuron tau_syn with delta synapses, delays, bias, v_reset and
t_ref, simulated and differentiated exactly.

Checked against the independent 50-digit reference (tests/reference.py: its own event loop, no
code shared with the engines), against closed forms, and model 1 against golden results of the
revision before model 2 (bit for bit).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from reference import reference_jacobian, simulate_reference

import fpgrad
from fpgrad.grad import parameter_values

GOLDEN = Path(__file__).parent / "data" / "model1_golden.npz"


def feedforward_problem(seed: int) -> fpgrad.Problem:
    """3-4-3 feedforward: current and delta neurons in both layers, delays (30 % exactly 0),
    bias, non-zero resets and refractory periods."""
    rng = np.random.default_rng(seed)
    offsets, sizes = [0, 3, 7], [3, 4, 3]
    pre, post = [], []
    for layer in range(2):
        for a in range(sizes[layer]):
            for b in range(sizes[layer + 1]):
                pre.append(offsets[layer] + a)
                post.append(offsets[layer + 1] + b)
    n_syn, n = len(pre), 7
    tau_syn = np.array([5.0, 4.0, 0.0, 3.0, 0.0, 6.0, 2.5])
    weight = rng.normal(0.5, 0.3, n_syn)
    weight = np.where(tau_syn[np.array(post) - 3] == 0, 0.6 * weight, weight)
    delay = np.where(rng.random(n_syn) < 0.3, 0.0, rng.uniform(0.2, 4.0, n_syn))
    net = fpgrad.Network(
        n_inputs=3,
        n_neurons=n,
        tau_syn=tau_syn,
        tau_mem=rng.uniform(6, 14, n),
        threshold=rng.uniform(0.7, 1.0, n),
        pre=pre,
        post=post,
        weight=weight,
        t_ref=rng.uniform(0, 1.5, n),
        bias=rng.uniform(-0.01, 0.05, n),
        v_reset=rng.uniform(-0.3, 0.2, n),
        delay=delay,
    )
    return fpgrad.Problem(net, tuple(fpgrad.poisson_inputs(3, 150.0, 25.0, rng)), 30.0)


def recurrent_problem(seed: int) -> fpgrad.Problem:
    """2 inputs, 5 recurrent neurons: two delta neurons, a perfect integrator, a neuron that
    fires from its bias alone (0.15 x 8 ms > threshold), t_ref = 0 on one neuron."""
    rng = np.random.default_rng(seed)
    m, n, n_syn = 2, 5, 18
    net = fpgrad.Network(
        n_inputs=m,
        n_neurons=n,
        tau_syn=[4.0, 0.0, 5.0, 0.0, 3.0],
        tau_mem=[10.0, 8.0, math.inf, 12.0, 7.0],
        threshold=rng.uniform(0.8, 1.1, n),
        pre=rng.integers(0, m + n, n_syn),
        post=rng.integers(m, m + n, n_syn),
        weight=rng.normal(0.25, 0.35, n_syn),
        t_ref=[0.5, 1.0, 0.0, 0.8, 0.3],
        bias=[0.0, 0.15, 0.02, 0.0, -0.02],
        v_reset=[-0.2, 0.1, 0.0, -0.1, 0.2],
        delay=np.where(rng.random(n_syn) < 0.3, 0.0, rng.uniform(0.3, 3.0, n_syn)),
    )
    inputs = tuple(np.sort(rng.uniform(0, 15, 4)) for _ in range(m))
    return fpgrad.Problem(net, inputs, 25.0)


PROBLEMS = [
    (feedforward_problem, 0),
    (feedforward_problem, 5),
    (recurrent_problem, 0),
    (recurrent_problem, 2),
    (recurrent_problem, 3),
]


def well_posed(problem: fpgrad.Problem) -> fpgrad.SimulationResult:
    result = fpgrad.simulate(problem)
    assert result.degeneracy.min_peak_gap > 1e-3
    assert result.degeneracy.min_crossing_slope > 1e-2
    assert np.any(result.record_cause >= 0), "the draw must fire delta neurons by arrivals"
    assert result.max_in_flight > 0
    return result


@pytest.mark.parametrize(("make", "seed"), PROBLEMS)
def test_spike_times_match_50_digit_reference(make, seed):
    problem = make(seed)
    result = well_posed(problem)
    ref = simulate_reference(problem)
    assert [node for node, _ in ref] == result.spike_node.tolist()
    want = np.array([float(t) for _, t in ref])
    np.testing.assert_allclose(result.spike_time, want, rtol=2e-15 * 16, atol=0)


@pytest.mark.parametrize(("make", "seed"), PROBLEMS)
def test_forward_and_reverse_agree(make, seed):
    result = well_posed(make(seed))
    jac = fpgrad.spike_jacobian(result)
    cot = np.random.default_rng(seed).normal(size=result.n_spikes)
    rev = fpgrad.spike_vjp(result, cot)
    for group in fpgrad.GROUPS:
        fwd = cot @ jac[group]
        scale = max(np.abs(fwd).max(), 1e-300)
        assert np.abs(getattr(rev, group) - fwd).max() <= 1e-10 * scale, group


def _columns(problem: fpgrad.Problem, seed: int) -> dict[str, list[int]]:
    """Two parameters per group (a zero delay and a zero t_ref among them where present)."""
    rng = np.random.default_rng(seed)
    values = parameter_values(problem)
    out = {}
    for group in fpgrad.GROUPS:
        size = getattr(values, group).size
        pick = set(rng.choice(size, size=min(2, size), replace=False).tolist())
        if group in ("delay", "t_ref"):
            zeros = np.flatnonzero(getattr(values, group) == 0)
            if zeros.size:
                pick.add(int(zeros[0]))
        out[group] = sorted(pick)
    return out


@pytest.mark.slow
@pytest.mark.parametrize(("make", "seed"), [PROBLEMS[0], PROBLEMS[2]])
def test_jacobian_matches_50_digit_finite_differences(make, seed):
    """Every group (two parameters each, zero delays and t_ref = 0 one-sided, tau_syn = 0
    of a delta neuron reported 0) against differences of the reference with step 1e-20, on
    the first 15 ms (the reference is slow)."""
    full = make(seed)
    problem = fpgrad.Problem(full.network, full.inputs, 15.0)
    result = well_posed(problem)
    cols = _columns(problem, seed)
    jac = fpgrad.spike_jacobian(result, cols)
    ref = reference_jacobian(problem, fpgrad.GROUPS, cols)
    for group in fpgrad.GROUPS:
        want = np.array(ref[group]).T
        got = jac[group]
        assert got.shape == want.shape
        scale = np.abs(want).max(axis=0)
        err = np.abs(got - want).max(axis=0)
        assert np.all(err <= 1e-7 * np.maximum(scale, 1e-12)), (group, err, scale)
    tau_syn = problem.network.tau_syn
    for c, q in enumerate(cols["tau_syn"]):
        if tau_syn[q] == 0:
            assert np.all(jac["tau_syn"][:, c] == 0.0)


def test_bias_driven_neuron_closed_form():
    """No input: V = C + (v_r - C) e^{-t/tau}, C = bias tau, so the spikes are periodic,
    f_1 = tau ln(C / (C - theta)), f_{k+1} - f_k = t_ref + tau ln((C - v_r) / (C - theta)),
    and their derivatives follow by hand."""
    tau, c, theta, v_r, t_ref = 8.0, 0.2, 1.0, -0.3, 0.7
    for tau_syn in (5.0, 0.0):
        net = fpgrad.Network(
            0, 1, tau_syn, tau, theta, pre=[], post=[], weight=[], t_ref=t_ref, bias=c,
            v_reset=v_r,
        )  # fmt: skip
        result = fpgrad.simulate(fpgrad.Problem(net, (), 30.0))
        big_c = c * tau
        first = tau * math.log(big_c / (big_c - theta))
        period = t_ref + tau * math.log((big_c - v_r) / (big_c - theta))
        want = first + period * np.arange(result.n_spikes)
        assert result.n_spikes == int((30.0 - first) // period) + 1
        np.testing.assert_allclose(result.spike_time, want, rtol=1e-14)
        jac = fpgrad.spike_jacobian(result)
        k = np.arange(result.n_spikes)
        np.testing.assert_allclose(jac["t_ref"][:, 0], k, rtol=1e-12, atol=1e-12)
        d_period_d_vr = -tau / (big_c - v_r)
        np.testing.assert_allclose(jac["v_reset"][:, 0], k * d_period_d_vr, rtol=1e-12, atol=1e-12)
        d_first_d_theta = tau / (big_c - theta)
        np.testing.assert_allclose(jac["threshold"][:, 0], (k + 1) * d_first_d_theta, rtol=1e-12)
        # dC/dc = tau; f_1 = tau ln(C/(C-theta)) and the period depend on c through C only
        d_first = tau * (1 / big_c - 1 / (big_c - theta)) * tau
        d_period = tau * (1 / (big_c - v_r) - 1 / (big_c - theta)) * tau
        np.testing.assert_allclose(jac["bias"][:, 0], d_first + k * d_period, rtol=1e-12)


def test_delta_chain_fires_at_arrival_times():
    """input -> delta neuron A (delay 1.5) -> delta neuron B (delay 0): A fires at the arrival,
    B at the same instant; their times move one for one with the input time and the delays,
    and not with the thresholds or weights."""
    net = fpgrad.Network(
        1, 2, 0.0, 10.0, 1.0, pre=[0, 1], post=[1, 2], weight=[1.2, 1.1], delay=[1.5, 0.0],
    )  # fmt: skip
    result = fpgrad.simulate(fpgrad.Problem(net, ([2.0],), 10.0))
    assert result.spike_node.tolist() == [1, 2]
    assert result.spike_time.tolist() == [3.5, 3.5]
    assert result.record_cause_synapse[result.spike_record_index].tolist() == [0, 1]
    jac = fpgrad.spike_jacobian(result)
    np.testing.assert_array_equal(jac["input_time"], [[1.0], [1.0]])
    np.testing.assert_array_equal(jac["delay"], [[1.0, 0.0], [1.0, 1.0]])
    for group in ("weight", "threshold", "tau_mem", "bias", "v_reset", "t_ref"):
        assert np.all(jac[group] == 0.0), group
    # 0.9 < threshold: no spike, however close
    quiet = fpgrad.simulate(fpgrad.Problem(net.replace(weight=[0.9, 1.1]), ([2.0],), 10.0))
    assert quiet.n_spikes == 0 and quiet.degeneracy.min_peak_gap == pytest.approx(0.1)


def test_simultaneous_arrivals_act_together():
    """Two synapses of one spike with equal delays (+0.8 and +0.5, threshold 1) fire the delta
    neuron once; with -0.5 instead the sum stays below threshold: no spike, whatever the
    synapse order."""
    for weights, spikes in (([0.8, 0.5], 1), ([1.2, -0.5], 0), ([-0.5, 1.2], 0)):
        net = fpgrad.Network(
            1, 1, 0.0, 10.0, 1.0, pre=[0, 0], post=[1, 1], weight=weights, delay=[1.0, 1.0],
        )  # fmt: skip
        result = fpgrad.simulate(fpgrad.Problem(net, ([1.0],), 10.0))
        assert result.n_spikes == spikes, weights


def test_delays_zero_is_model1_bit_for_bit():
    """Golden spike times, Jacobians and vector-Jacobian products of three model-1 problems,
    written by the revision before model 2 (tests/data/model1_golden.npz), reproduced exactly;
    and explicit zero delays / bias / reset give the same arrays as the defaults."""
    golden = np.load(GOLDEN)
    for seed in range(3):
        g = {key.split("/", 1)[1]: golden[key] for key in golden if key.startswith(f"{seed}/")}
        n_inputs = 4
        counts = [6] * n_inputs
        inputs = np.split(g["inputs"], np.cumsum(counts)[:-1])
        net = fpgrad.Network(
            n_inputs=n_inputs, n_neurons=g["tau_mem"].size, tau_syn=5.0, tau_mem=g["tau_mem"],
            threshold=1.0, pre=g["pre"], post=g["post"], weight=g["weight"], t_ref=g["t_ref"],
        )  # fmt: skip
        explicit = net.replace(delay=0.0, bias=0.0, v_reset=0.0, tau_syn=[5.0] * net.n_neurons)
        for network in (net, explicit):
            result = fpgrad.simulate(fpgrad.Problem(network, tuple(inputs), 50.0))
            np.testing.assert_array_equal(result.spike_node, g["spike_node"])
            np.testing.assert_array_equal(result.spike_time, g["spike_time"])
            assert result.degeneracy.min_peak_gap == g["min_peak_gap"]
            assert result.degeneracy.min_crossing_slope == g["min_slope"]
            groups = ["weight", "input_time", "threshold", "tau_mem"]
            jac = fpgrad.spike_jacobian(result, groups)
            vjp = fpgrad.spike_vjp(result, g["cot"], groups)
            for group in groups:
                np.testing.assert_array_equal(jac[group], g[f"jac_{group}"])
                np.testing.assert_array_equal(getattr(vjp, group), g[f"vjp_{group}"])


def random_problem(seed: int, *, delays: bool, delta: float, bias: bool, t_ref: float):
    """A random recurrent model-2 network (3 inputs, 8 neurons, 40 synapses)."""
    rng = np.random.default_rng(seed)
    m, n, n_syn = 3, 8, 40
    post = rng.integers(m, m + n, n_syn)
    tau_syn = np.where(rng.random(n) < delta, 0.0, rng.uniform(2, 6, n))
    weight = rng.normal(0.3, 0.4, n_syn)
    weight = np.where(tau_syn[post - m] == 0, 0.7 * weight, weight)
    net = fpgrad.Network(
        n_inputs=m,
        n_neurons=n,
        tau_syn=tau_syn,
        tau_mem=np.where(rng.random(n) < 0.2, math.inf, rng.uniform(5, 20, n)),
        threshold=rng.uniform(0.8, 1.2, n),
        pre=rng.integers(0, m + n, n_syn),
        post=post,
        weight=weight,
        t_ref=t_ref * rng.random(n),
        bias=rng.uniform(-0.02, 0.12, n) if bias else 0.0,
        v_reset=rng.uniform(-0.3, 0.3, n) if bias else 0.0,
        delay=np.where(rng.random(n_syn) < 0.5, 0.0, rng.uniform(0, 5, n_syn)) if delays else 0.0,
    )
    inputs = tuple(np.sort(rng.uniform(0, 15, 4)) for _ in range(m))
    return fpgrad.Problem(net, inputs, 20.0)


CONFIGS = {
    "all": dict(delays=True, delta=0.3, bias=True, t_ref=1.0),
    "no-delays": dict(delays=False, delta=0.3, bias=True, t_ref=1.0),
    "no-bias": dict(delays=True, delta=0.3, bias=False, t_ref=1.0),
    "no-delta": dict(delays=True, delta=0.0, bias=True, t_ref=1.0),
    "t_ref-0": dict(delays=True, delta=0.2, bias=False, t_ref=0.0),
}


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("seed", range(4))
def test_random_networks_match_reference(seed, config):
    """Spike times to 1e-13 relative against the 50-digit reference on random recurrent model-2
    networks, and a degeneracy report that never misses a peak the reference sees (its
    smallest gap at most the reference's)."""
    problem = random_problem(seed, **CONFIGS[config])
    try:
        result = fpgrad.simulate(problem, max_spikes=500)
    except fpgrad.RunawayActivityError:
        with pytest.raises(RuntimeError, match="more than"):
            simulate_reference(problem, max_spikes=500)
        return
    from reference import simulate_reference_run

    run = simulate_reference_run(problem, max_spikes=500)
    assert [node for node, _ in run.spikes] == result.spike_node.tolist()
    want = np.array([float(t) for _, t in run.spikes])
    np.testing.assert_allclose(result.spike_time, want, rtol=1e-13, atol=1e-13)
    gap = float(run.min_peak_gap)
    assert result.degeneracy.min_peak_gap <= gap * (1 + 1e-9) + 1e-12


def tiny_t_ref_problem(t_ref: float) -> fpgrad.Problem:
    """A draw of ``model2_problems`` (before its nonzero t_ref started at 0.05 ms): neuron 1
    (node 2) fires at 5.294 and 8.208 ms; its refractory period is ``t_ref``."""
    net = fpgrad.Network(
        n_inputs=1,
        n_neurons=3,
        tau_syn=[6.7079503456159335, 6.0, 0.0],
        tau_mem=[13.121513864800429, 9.356249601264395, 10.474750362325112],
        threshold=[0.9171154522048315, 0.8071531061680589, 0.9625974458246658],
        t_ref=[0.8493396299459168, t_ref, 0.0],
        bias=[0.0, 1e-05, -0.015025892933443117],
        v_reset=[0.1613445845783586, 0.0, -0.2071177291147493],
        pre=[0, 0, 1, 2],
        post=[1, 2, 3, 3],
        weight=[0.26684199779737, 0.28995031693558815, 0.0, 0.6103990952399009],
        delay=[2.127391294541375, 0.0, 2.937625856692941, 1.833801569810284],
    )
    return fpgrad.Problem(net, ([0.9758459170115318, 4.887758742050018],), 20.0)


def test_refractory_period_below_the_time_resolution():
    """``0 < t_ref`` with ``f + t_ref == f`` in float64 must give the gradient of ``t_ref = 0``
    (the spikes are the same, and the gradient is continuous in t_ref: 1e-15 gives it). Both
    modes once lost ``-Vdot(f+) df`` of the reset and the t_ref term there, the reverse mode the
    v_reset term too (weight[1]: -13.47 in both modes, -24.96 by finite differences): a hold
    is now "release == spike time", not "t_ref == 0"."""
    want = fpgrad.spike_jacobian(tiny_t_ref_problem(0.0))
    for t_ref in (1e-15, 6.9e-137):
        result = fpgrad.simulate(tiny_t_ref_problem(t_ref))
        np.testing.assert_array_equal(result.spike_time, want.result.spike_time)
        jac = fpgrad.spike_jacobian(result)
        cot = np.random.default_rng(0).normal(size=result.n_spikes)
        rev = fpgrad.spike_vjp(result, cot)
        for group in fpgrad.GROUPS:
            ref = cot @ want[group]
            np.testing.assert_allclose(cot @ jac[group], ref, rtol=1e-9, atol=1e-12, err_msg=group)
            np.testing.assert_allclose(getattr(rev, group), ref, rtol=1e-9, atol=1e-12)

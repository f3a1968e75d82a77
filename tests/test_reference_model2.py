"""Model 2 in the 50-digit reference (``tests/reference.py``): per-neuron ``tau_syn`` (0 = delta
synapses), bias current, reset value, synaptic delays and ``tau_mem = inf``, against closed forms
computed here in mpmath; and model-1 calls unchanged.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from mpmath import mp, mpf
from problems import one_neuron
from reference import simulate_reference, simulate_reference_run

import fpgrad

TIGHT = mpf("1e-40")


@pytest.fixture(autouse=True)
def _sixty_digits():
    """Constants such as ``mpf("2.95")`` and the closed forms are formed at 60 digits."""
    with mp.workdps(60):
        yield


def times(spikes):
    return [t for _, t in spikes]


def assert_times(got, want, tol=TIGHT):
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want, strict=True):
        assert abs(g - w) < tol * (1 + abs(w)), (g, w)


def quadratic_first_spike(t_in, w, tau_syn, theta):
    """``tau_mem = 2 tau_syn``: ``V = w (x - x^2)/b``, ``x = e^{-s/tau_mem}``, first spike at
    ``x = (1 + sqrt(1 - 4 theta b / w)) / 2``."""
    tau_mem = 2 * mpf(tau_syn)
    b = 1 / tau_mem
    x = (1 + mpmath.sqrt(1 - 4 * mpf(theta) * b / mpf(w))) / 2
    return mpf(t_in) - tau_mem * mpmath.log(x)


def silent_neuron(t_max=60.0, **kw):
    """One neuron whose only input comes after ``t_max``: bias-driven firing alone."""
    return one_neuron([(t_max + 1.0, 1.0)], t_max=t_max, **kw)


def two_neurons(tau_syn, tau_mem, weights, pre, post, t_in, t_max=30.0, threshold=1.0):
    net = fpgrad.Network(
        n_inputs=1,
        n_neurons=2,
        tau_syn=5.0,
        tau_mem=tau_mem,
        threshold=threshold,
        t_ref=0.0,
        pre=np.array(pre, dtype=np.int64),
        post=np.array(post, dtype=np.int64),
        weight=np.array(weights, dtype=np.float64),
    )
    return fpgrad.Problem(net, ([t_in],), t_max), tau_syn


# (1) delays ------------------------------------------------------------------------------


@pytest.mark.parametrize("d", ["0.75", "2.5"])
def test_delay_shifts_spikes_exactly(d):
    """A delayed input moves every spike by the delay; the first matches the closed form."""
    prob = one_neuron([(1.0, 3.0)], tau_syn=5.0, tau_mem=10.0, t_max=80.0)
    base = times(simulate_reference(prob))
    late = times(simulate_reference(prob, delay=d, t_max=80 + mpf(d)))
    assert len(base) >= 2
    with mp.workdps(60):
        assert_times(late, [t + mpf(d) for t in base])
        assert_times(late[:1], [quadratic_first_spike(1 + mpf(d), 3, 5, 1)])
    # an arrival after t_max is dropped, though the spike was sent before it
    assert simulate_reference(prob, delay=d, t_max=1 + mpf(d) / 2) == []


def test_delay_along_a_chain_of_delta_synapses():
    """input -> A -> B, delta synapses above threshold: A fires at the arrival, B ``d`` later."""
    prob, _ = two_neurons(0, 10.0, [1.5, 1.5], [0, 1], [1, 2], t_in=2.0)
    spikes = simulate_reference(prob, tau_syn=0, delay=["0.25", "0.7"])
    assert [n for n, _ in spikes] == [1, 2]
    assert_times(times(spikes), [mpf("2.25"), mpf("2.95")])
    # B's arrival would come after t_max: no spike, even though it would fire at once
    cut = simulate_reference(prob, tau_syn=0, delay=["0.25", "0.7"], t_max="2.9")
    assert cut == spikes[:1]


# (2) bias-driven firing -------------------------------------------------------------------


@pytest.mark.parametrize("tau_syn", [5.0, 0.0])
@pytest.mark.parametrize("t_ref", ["0", "2"])
def test_bias_fires_periodically(tau_syn, t_ref):
    c, tau, theta, vr = mpf("0.25"), mpf(10), mpf(1), mpf("-0.5")
    run = simulate_reference(
        silent_neuron(tau_mem=10.0), tau_syn=tau_syn, bias=c, v_reset=vr, t_ref=t_ref
    )
    with mp.workdps(60):
        first = tau * mpmath.log(c * tau / (c * tau - theta))
        period = tau * mpmath.log((c * tau - vr) / (c * tau - theta)) + mpf(t_ref)
        k = int((60 - first) / period) + 1
        assert_times(times(run), [first + q * period for q in range(k)])


def test_bias_below_threshold_never_fires():
    """``c tau_mem = theta`` is approached, never reached."""
    assert simulate_reference(silent_neuron(t_max=500.0, tau_mem=8.0), bias="0.125") == []


def test_bias_with_current_input_matches_root_of_closed_form():
    """Bias below threshold plus one current input: the first spike is the first root of
    ``c (1 - e^{-t/tau_mem})/b + w H(t - t_in) = theta`` (bisection here)."""
    c, w, t_in = mpf("0.05"), mpf("0.6"), mpf(2)
    prob = one_neuron([(2.0, 0.6)], tau_syn=5.0, tau_mem=10.0, t_max=40.0)
    got = times(simulate_reference(prob, bias=c, weight=[w]))
    with mp.workdps(70):
        a, b = 1 / mpf(5), 1 / mpf(10)

        def f(t):
            s = t - t_in
            return (
                c * (1 - mpmath.exp(-b * t)) / b
                + w * (mpmath.exp(-a * s) - mpmath.exp(-b * s)) / (b - a)
                - 1
            )

        grid = [t_in + mpf(q) / 10 for q in range(1, 300)]
        hi = next(t for t in grid if f(t) > 0)
        lo = hi - mpf(1) / 10
        for _ in range(200):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
        assert len(got) >= 1
        assert_times(got[:1], [lo])


# (3) delta synapses -----------------------------------------------------------------------


def test_delta_synapse_spikes_at_arrival_and_respects_hold():
    """``w >= theta`` fires at the arrival; an arrival while held does nothing; two sub-threshold
    jumps fire at the second one when ``0.9 e^{-0.2} + 0.5 >= 1``."""
    prob = one_neuron([(3.0, 1.2), (4.0, 0.9), (6.0, 0.9), (8.0, 0.5)], tau_mem=10.0, t_max=20.0)
    assert_times(times(simulate_reference(prob, tau_syn=0, t_ref=2)), [mpf(3), mpf(8)])
    # without the 0.5 jump at 8, nothing more happens
    short = one_neuron([(3.0, 1.2), (4.0, 0.9), (6.0, 0.9)], tau_mem=10.0, t_max=20.0)
    assert_times(times(simulate_reference(short, tau_syn=0, t_ref=2)), [mpf(3)])


def test_delta_synapse_jump_then_bias_crossing():
    """A jump of 0.6 at t = 1, then constant drive ``C = c tau_mem = 1.5``:
    ``V(s) = C + (V1 - C) e^{-s/tau}`` crosses 1 at ``s = tau ln((C - V1)/(C - 1))``."""
    c, tau = mpf("0.15"), mpf(10)
    prob = one_neuron([(1.0, 0.6)], tau_mem=10.0, t_max=12.0)
    got = times(simulate_reference(prob, tau_syn=0, bias=c, weight=["0.6"]))
    with mp.workdps(60):
        big_c = c * tau
        v1 = big_c * (1 - mpmath.exp(-1 / tau)) + mpf("0.6")
        assert_times(got, [1 + tau * mpmath.log((big_c - v1) / (big_c - 1))])


# (4) perfect integrator ---------------------------------------------------------------------


def test_perfect_integrator_current_synapse():
    """``tau_mem = inf``, ``w tau_syn = 2.5``: spikes at ``t_in + tau_syn ln(5/3)`` and, from the
    remaining current ``0.3`` (limit 1.5), at ``t_in + tau_syn ln 5``; then the limit is 0.5."""
    prob = one_neuron([(2.0, 0.5)], tau_syn=5.0, tau_mem=10.0, t_max=200.0)
    got = times(simulate_reference(prob, tau_mem="inf"))
    with mp.workdps(60):
        first = 2 + 5 * mpmath.log(1 / (1 - 1 / (mpf("0.5") * 5)))
        assert_times(got, [first, 2 + 5 * mpmath.log(5)])


@pytest.mark.parametrize("tau_syn", [5.0, 0.0])
def test_perfect_integrator_bias(tau_syn):
    """``tau_mem = inf``, bias: ``V = v_reset + c s``, period ``(theta - v_reset)/c + t_ref``."""
    run = simulate_reference(
        silent_neuron(t_max=20.0),
        tau_syn=tau_syn,
        tau_mem="inf",
        bias="0.4",
        v_reset="-0.2",
        t_ref="0.5",
    )
    with mp.workdps(60):
        first, period = 1 / mpf("0.4"), mpf("1.2") / mpf("0.4") + mpf("0.5")
        assert_times(times(run), [first + q * period for q in range(6)])


# (5) per-neuron tau_syn ---------------------------------------------------------------------


def test_per_neuron_tau_syn():
    """Two neurons on the same input, ``tau_syn = [5, 10]``, ``tau_mem = [10, 20]``: each first
    spike matches its own quadratic closed form; with ``tau_syn = [5, 0]`` the second fires at
    the arrival."""
    prob, _ = two_neurons(None, [10.0, 20.0], [3.0, 1.5], [0, 0], [1, 2], t_in=1.0, t_max=12.0)
    spikes = simulate_reference(prob, tau_syn=[5, 10])
    first = {n: t for n, t in reversed(spikes)}
    with mp.workdps(60):
        assert_times([first[1]], [quadratic_first_spike(1, 3, 5, 1)])
        assert_times([first[2]], [quadratic_first_spike(1, mpf("1.5"), 10, 1)])
    mixed = simulate_reference(prob, tau_syn=[5, 0], tau_mem=[10, 20])
    assert mixed[0] == (2, mpf(1))
    assert_times([t for n, t in mixed if n == 1][:1], [quadratic_first_spike(1, 3, 5, 1)])


# (6) model 1 unchanged ----------------------------------------------------------------------


def small_net():
    net = fpgrad.Network(
        n_inputs=2,
        n_neurons=2,
        tau_syn=5.0,
        tau_mem=[10.0, 7.0],
        threshold=[1.0, 0.8],
        t_ref=[0.0, 1.5],
        pre=np.array([0, 1, 2, 3, 2], dtype=np.int64),
        post=np.array([2, 2, 3, 2, 3], dtype=np.int64),
        weight=np.array([0.9, 0.6, 1.4, -0.3, 0.2]),
    )
    return fpgrad.Problem(net, ([1.0, 4.0, 9.0, 15.0], [2.0, 6.5, 11.0]), 40.0)


def self_loop():
    return one_neuron([(1.0, 3.0), (4.0, 2.5)], self_weight=-0.5, t_ref=0.5, t_max=60.0)


# pinned from the reference before model 2 was added (index: (node, time))
PINNED = {
    "self_loop": (
        6,
        {
            0: (2, "1.351354145104517122470314678581477855714"),
            3: (2, "4.668901715671205438888871719122712375645"),
            5: (2, "7.288937632143900398689556844325358719276"),
        },
    ),
    "small_net": (
        26,
        {
            0: (2, "2.183899013345587035928982337376540791270"),
            4: (3, "4.475918846920558675293979605442273858026"),
            13: (3, "11.12687663727997385658257547550144694970"),
            25: (3, "29.39581859750704729285957941049811092576"),
        },
    ),
}


@pytest.mark.parametrize("name", ["self_loop", "small_net"])
def test_model1_results_pinned(name):
    prob = self_loop() if name == "self_loop" else small_net()
    count, pins = PINNED[name]
    spikes = simulate_reference(prob)
    assert len(spikes) == count
    for q, (node, t) in pins.items():
        assert spikes[q][0] == node
        assert abs(spikes[q][1] - mpf(t)) < mpf("1e-35")


@pytest.mark.parametrize("name", ["self_loop", "small_net"])
def test_model2_loop_reproduces_model1(name):
    """The general loop, forced on model-1 parameters (and with explicit zero delay/bias/reset
    or a per-neuron tau_syn list), gives the model-1 spikes and slopes."""
    prob = self_loop() if name == "self_loop" else small_net()
    n = prob.network.n_neurons
    ref = simulate_reference_run(prob)
    gen = simulate_reference_run(prob, general=True)
    assert [nd for nd, _ in gen.spikes] == [nd for nd, _ in ref.spikes]
    assert_times(times(gen.spikes), times(ref.spikes))
    assert_times(gen.slopes, ref.slopes, tol=mpf("1e-35"))
    assert abs(gen.min_peak_gap - ref.min_peak_gap) < mpf("1e-35")
    assert simulate_reference(prob, tau_syn=[5.0] * n, delay=0, bias=0, v_reset=0) == (
        simulate_reference(prob)
    )


def test_invalid_model2_parameters():
    prob = silent_neuron()
    with pytest.raises(ValueError):
        simulate_reference(prob, v_reset=2.0)
    with pytest.raises(ValueError):
        simulate_reference(prob, delay=-1.0)
    with pytest.raises(ValueError):
        simulate_reference(prob, delay=[0.0, 1.0])


# tie rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("t_ref", "want"), [("0", [6, 10]), ("1", [6, 11])])
def test_tie_input_before_crossing(t_ref, want):
    """``tau_mem = inf``, bias 0.25: ``V = 0.25 t`` reaches 1 at exactly t = 4, when an input of
    -0.5 arrives too. Inputs come before crossings at equal times (docs/model.md §1): ``V``
    drops to 0.5 and crosses 2 ms later; then 4 ms from the reset (t_ref = 0) or from the
    release (t_ref = 1). The simulator agrees."""
    prob = one_neuron([(4.0, -0.5)], t_max=11.0)
    spikes = simulate_reference(prob, tau_syn=0, tau_mem="inf", bias="0.25", t_ref=t_ref)
    assert_times(times(spikes), [mpf(t) for t in want])
    net = prob.network.replace(tau_syn=0.0, tau_mem=math.inf, bias=0.25, t_ref=float(t_ref))
    result = fpgrad.simulate(fpgrad.Problem(net, prob.inputs, prob.t_max))
    np.testing.assert_allclose(result.spike_time, want, rtol=1e-15)


def test_tie_arrivals_by_synapse_index():
    """Two delta arrivals at t = 2 from two input spikes (two events, taken by input node):
    input 0's +1.2 fires the neuron before input 1's -0.5 acts; in the other order the sum 0.7
    stays below threshold."""
    first = one_neuron([(2.0, 1.2), (2.0, -0.5)], t_max=10.0)
    assert_times(times(simulate_reference(first, tau_syn=0)), [mpf(2)])
    second = one_neuron([(2.0, -0.5), (2.0, 1.2)], t_max=10.0)
    assert simulate_reference(second, tau_syn=0) == []

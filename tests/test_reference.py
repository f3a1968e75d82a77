"""Sanity checks of the 50-digit reference simulator (``tests/reference.py``) itself.

The reference is what the Numba simulator and the gradient engines are judged against, so it is
checked here against closed forms at 45+ digits (not just against fpgrad), against the
superposition (SRM) form of the model, and for the behaviour of its parameter overrides (used
for 50-digit finite differences).
"""

from __future__ import annotations

import itertools
import math

import mpmath
import numpy as np
import pytest
from mpmath import mp, mpf
from problems import one_neuron
from reference import (
    closed_form_single_neuron,
    kernel,
    simulate_reference,
    simulate_reference_run,
)

import fpgrad

TIGHT = mpf("1e-45")  # closed forms and the reference both carry 50+ digits


def peak_of_kernel(tau_syn: mpf, tau_mem: mpf) -> tuple[mpf, mpf]:
    """``(s_h, h(s_h))``: time and value of the kernel's maximum, ``ln(b/a)/(b-a)``."""
    a, b = 1 / tau_syn, 1 / tau_mem
    s_h = 1 / a if a == b else mpmath.log(b / a) / (b - a)
    return s_h, kernel(s_h, tau_syn, tau_mem)


def test_kernel_closed_form():
    """``h(s) = (e^{-as} - e^{-bs})/(b - a)`` (and ``s e^{-as}`` for ``a = b``), ``h(0) = 0``,
    ``h'(0) = 1``; the near-equal branch (expm1 form) matches the difference form to 45 digits."""
    with mp.workdps(60):
        for tau_syn, tau_mem in [(5, 10), (5, 2.5), (3, 40), (5, 5)]:
            a, b = mpf(1) / tau_syn, mpf(1) / tau_mem
            for s in [mpf("0.1"), mpf(1), mpf("7.5"), mpf(30)]:
                want = (
                    s * mpmath.exp(-a * s)
                    if a == b
                    else (mpmath.exp(-a * s) - mpmath.exp(-b * s)) / (b - a)
                )
                assert abs(kernel(s, tau_syn, tau_mem) - want) < TIGHT * abs(want)
            assert kernel(0, tau_syn, tau_mem) == 0
            slope = mpmath.diff(
                lambda s, ts=tau_syn, tm=tau_mem: kernel(s, ts, tm), mpf("1e-30"), h=mpf("1e-35")
            )
            assert abs(slope - 1) < mpf("1e-25")
        # tau_mem = tau_syn (1 + 1e-3): (b - a) s is tiny for small s -> expm1 branch
        tau_syn, tau_mem = mpf(5), mpf(5) * (1 + mpf("1e-3"))
        a, b = 1 / tau_syn, 1 / tau_mem
        for s in [mpf("1e-3"), mpf("0.05"), mpf(2)]:
            with mp.workdps(120):
                want = (mpmath.exp(-a * s) - mpmath.exp(-b * s)) / (b - a)
            assert abs(kernel(s, tau_syn, tau_mem) - want) < TIGHT * want


@pytest.mark.parametrize("w", [0.45, 0.8, 3.0, 25.0])
@pytest.mark.parametrize("t0", [0.0, 2.5])
def test_single_input_quadratic_closed_form(w, t0):
    """``tau_mem = 2 tau_syn``: ``V = w (x - x^2)/b`` with ``x = e^{-s/tau_mem}``, so the spike is
    at ``x = (1 + sqrt(1 - 4 theta b / w))/2``; agreement to 1e-45 ms (both sides 50+ digits)."""
    prob = one_neuron([(t0, w)], tau_syn=5.0, tau_mem=10.0, threshold=1.0, t_max=9.0 + t0)
    spikes = simulate_reference(prob)
    with mp.workdps(60):
        b = mpf(1) / 10
        x = (1 + mpmath.sqrt(1 - 4 * b / mpf(w))) / 2
        want = mpf(t0) - mpmath.log(x) / b
    assert want <= prob.t_max  # the first spike is inside the horizon, later ones are not
    assert spikes[0][0] == 1
    assert abs(spikes[0][1] - want) < TIGHT


@pytest.mark.parametrize("w", [0.4, 1.5, 4.0])
def test_single_input_lambert_closed_form(w):
    """``tau_mem = tau_syn = tau``: ``V = w s e^{-s/tau}``, spike at ``s = -tau W0(-theta/(w tau))``
    (the principal branch is the rising crossing); agreement to 1e-45 ms."""
    tau, theta = mpf(5), mpf(0.7)  # the float the problem holds, exactly
    prob = one_neuron([(1.0, w)], tau_syn=5.0, tau_mem=5.0, threshold=0.7, t_max=6.0)
    spikes = simulate_reference(prob)
    with mp.workdps(60):
        want = 1 - tau * mpmath.lambertw(-theta / (mpf(w) * tau), 0).real
    assert len(spikes) >= 1
    assert abs(spikes[0][1] - want) < TIGHT


@pytest.mark.parametrize("ratio", [2, 1])
@pytest.mark.parametrize("t_ref", [0.0, 0.7])
@pytest.mark.parametrize("self_weight", [None, 0.25, -0.1])
def test_burst_chain_closed_form(ratio, t_ref, self_weight):
    """A burst: one strong input, reset to 0, refractory hold, self-loop. From ``V = 0`` with
    current ``J`` the next spike is the single-input closed form with ``w -> J``; each spike
    leaves ``J e^{-s/tau_syn} + w_self``. Chained in 60 digits, compared to 1e-44 ms."""
    tau_syn, theta, w = mpf(4), mpf(0.9), 6.0
    tau_mem = tau_syn * ratio
    prob = one_neuron(
        [(1.0, w)],
        tau_syn=4.0,
        tau_mem=float(tau_mem),
        threshold=0.9,
        t_ref=t_ref,
        self_weight=self_weight,
        t_max=40.0,
    )
    spikes = simulate_reference(prob)
    want = []
    with mp.workdps(60):
        a, b = 1 / tau_syn, 1 / tau_mem
        t, cur = mpf(1), mpf(w)
        while True:
            if ratio == 2:
                disc = 1 - 4 * theta * b / cur
                if disc <= 0:
                    break
                s = -mpmath.log((1 + mpmath.sqrt(disc)) / 2) / b
            else:
                arg = -theta / (cur * tau_mem)
                if arg <= -1 / mpmath.e:
                    break
                s = -tau_mem * mpmath.lambertw(arg, 0).real
            if t + s > 40:
                break
            t += s
            want.append(t)
            cur = cur * mpmath.exp(-a * s) + (self_weight or 0)
            t += t_ref  # V held at 0, the current decays meanwhile
            cur = cur * mpmath.exp(-a * mpf(t_ref))
    assert len(want) >= 3, "the case must be a real burst"
    assert [node for node, _ in spikes] == [1] * len(want)
    for (_, got), exp in zip(spikes, want, strict=True):
        assert abs(got - exp) < mpf("1e-44")


def test_matches_float_closed_forms_with_inhibition():
    """Several excitatory and inhibitory inputs, reset, refractory hold and a self-loop: the
    reference agrees with the interval-by-interval float64 closed forms (quadratic / Lambert W)
    to 1e-12 ms (float64 rounding of the closed forms over ~40 ms)."""
    inputs = [(1.0, 2.0), (3.0, -0.5), (4.0, 1.5), (20.0, 1.0), (21.0, 0.8), (40.0, 3.0)]
    for tau_mem in (10.0, 5.0):
        for t_ref in (0.0, 1.5):
            for self_weight in (0.0, -0.2):
                prob = one_neuron(
                    inputs,
                    tau_mem=tau_mem,
                    t_ref=t_ref,
                    self_weight=self_weight,
                    t_max=60.0,
                )
                ref = [float(t) for _, t in simulate_reference(prob)]
                cf = closed_form_single_neuron(
                    inputs,
                    tau_syn=5.0,
                    tau_mem=tau_mem,
                    threshold=1.0,
                    t_max=60.0,
                    t_ref=t_ref,
                    self_weight=self_weight,
                )
                assert len(cf) >= 8
                np.testing.assert_allclose(ref, cf, rtol=0, atol=1e-12)


def test_near_equal_time_constants_are_continuous():
    """``tau_mem = tau_syn (1 +- 1e-25)`` differs from ``tau_mem = tau_syn`` by O(1e-25) ms: the
    ``(b - a)`` division must not lose the 25 digits (expm1 form), and the ``a = b`` limit
    must be the right one."""
    prob = one_neuron([(0.5, 0.6), (2.0, 0.4), (9.0, -0.2), (10.0, 0.9)], tau_syn=5.0, tau_mem=5.0)
    base = simulate_reference(prob)
    assert len(base) >= 2
    for sign in (1, -1):
        near = simulate_reference(prob, tau_mem=mpf(5) * (1 + sign * mpf("1e-25")))
        assert [n for n, _ in near] == [n for n, _ in base]
        for (_, t1), (_, t2) in zip(near, base, strict=True):
            assert abs(t1 - t2) < mpf("1e-23")


def srm_potential(problem: fpgrad.Problem, spikes, node: int, t: mpf) -> mpf:
    """``V_i(t-)`` from the superposition (SRM) form: kernels of every earlier presynaptic spike
    minus ``theta e^{-(t - f)/tau_mem}`` per earlier own spike (valid for ``t_ref = 0``)."""
    net = problem.network
    i = node - net.n_inputs
    times: dict[int, list[mpf]] = {
        j: [mpf(float(x)) for x in tr] for j, tr in enumerate(problem.inputs)
    }
    for nd, f in spikes:
        times.setdefault(nd, []).append(f)
    v = mpf(0)
    for k in np.flatnonzero(net.post == node):
        for g in times.get(int(net.pre[k]), []):
            if g < t:
                v += mpf(float(net.weight[k])) * kernel(
                    t - g, float(net.tau_syn[0]), float(net.tau_mem[i])
                )
    for f in times.get(node, []):
        if f < t:
            v -= mpf(float(net.threshold[i])) * mpmath.exp(-(t - f) / mpf(float(net.tau_mem[i])))
    return v


def random_recurrent(seed: int, *, n_neurons: int = 5, t_max: float = 30.0) -> fpgrad.Problem:
    """A small random recurrent problem with excitation, inhibition and self-loops."""
    rng = np.random.default_rng(seed)
    net = fpgrad.random_recurrent_network(
        6,
        n_neurons,
        rng,
        input_synapses=3,
        recurrent_synapses=3,
        input_weight=0.4,
        recurrent_weight=0.06,
        inhibitory_fraction=0.3,
        inhibition_scale=3.0,
        tau_mem=float(rng.choice([10.0, 5.0, 8.0])),
        threshold=rng.uniform(0.8, 1.2, n_neurons),
    )
    return fpgrad.Problem(net, tuple(fpgrad.poisson_inputs(6, 80.0, t_max, rng)), t_max)


@pytest.mark.parametrize("seed", [1, 3])
def test_superposition_form(seed):
    """Independent of the event loop: at every reference spike the SRM potential equals the
    threshold to 1e-40, and on a 0.01 ms grid the (float64) SRM potential never exceeds the
    threshold by more than rounding, so no crossing was missed."""
    prob = random_recurrent(seed)
    spikes = simulate_reference(prob)
    net = prob.network
    assert len(spikes) >= 10
    with mp.workdps(60):
        for node, f in spikes:
            theta = mpf(float(net.threshold[node - net.n_inputs]))
            assert abs(srm_potential(prob, spikes, node, f) - theta) < mpf("1e-40")
    grid = np.arange(0.0, prob.t_max, 0.01)
    a = 1 / net.tau_syn[0]  # model 1: one shared tau_syn
    sources = {j: np.asarray(tr, float) for j, tr in enumerate(prob.inputs)}
    for node, f in spikes:
        sources.setdefault(node, np.empty(0))
        sources[node] = np.append(sources[node], float(f))
    for i in range(net.n_neurons):
        node = net.n_inputs + i
        b = 1 / net.tau_mem[i]
        v = np.zeros_like(grid)
        for k in np.flatnonzero(net.post == node):
            for g in sources.get(int(net.pre[k]), []):
                s = np.clip(grid - g, 0.0, None)
                h = s * np.exp(-a * s) if a == b else (np.exp(-a * s) - np.exp(-b * s)) / (b - a)
                v += net.weight[k] * h
        for f in sources.get(node, []):
            s = grid - f
            v -= np.where(s > 0, net.threshold[i] * np.exp(-b * np.clip(s, 0, None)), 0.0)
        assert v.max() <= net.threshold[i] + 1e-12


def test_grazing_peak_at_50_digits():
    """A single input whose peak is ``theta (1 +- 1e-30)``: just above is a spike (near the peak
    time), just below is none, and a peak exactly at threshold (to 60 digits) is no spike."""
    prob = one_neuron([(2.0, 1.0)], tau_syn=5.0, tau_mem=10.0, threshold=1.0, t_max=50.0)
    with mp.workdps(60):
        s_h, h_max = peak_of_kernel(mpf(5), mpf(10))
        w_touch = 1 / h_max
        above = simulate_reference(prob, weight=[w_touch * (1 + mpf("1e-30"))])
        below = simulate_reference(prob, weight=[w_touch * (1 - mpf("1e-30"))])
        touch = simulate_reference(prob, weight=[w_touch])
    assert len(above) == 1
    # V - theta ~ -c (s - s_h)^2 / 2 near the peak: the crossing is ~sqrt(2e-30/c) before it
    assert 0 < 2 + s_h - above[0][1] < mpf("1e-13")
    assert below == []
    assert touch == []


def test_weight_and_input_overrides_equal_edited_problems():
    """Overrides give exactly the spikes of the problem with those values written in (float
    values convert exactly), and input times are flattened in the order of ``problem.inputs``."""
    prob = random_recurrent(3, n_neurons=4)
    net = prob.network
    rng = np.random.default_rng(0)
    new_w = net.weight * rng.uniform(0.8, 1.2, net.n_synapses)
    edited = prob.with_network(net.replace(weight=new_w))
    assert simulate_reference(prob, weight=list(new_w)) == simulate_reference(edited)
    new_inputs = [np.asarray(tr) + 0.25 * (j % 3) for j, tr in enumerate(prob.inputs)]
    flat = [float(t) for tr in new_inputs for t in tr]
    assert simulate_reference(prob, input_times=flat) == simulate_reference(
        prob.with_inputs(new_inputs)
    )
    thr = net.threshold * 0.9
    assert simulate_reference(prob, threshold=list(thr)) == simulate_reference(
        prob.with_network(net.replace(threshold=thr))
    )
    assert simulate_reference(prob, tau_mem=7.0, tau_syn=3.0) == simulate_reference(
        prob.with_network(net.replace(tau_mem=7.0, tau_syn=3.0))
    )
    assert simulate_reference(prob, t_ref=0.5) == simulate_reference(
        prob.with_network(net.replace(t_ref=0.5))
    )


def test_override_perturbation_is_smooth():
    """A 1e-30 nudge of one weight moves spike times by O(1e-30) (what 50-digit finite
    differences rely on): the central difference quotient is finite and matches the one-sided
    ones to 1e-20 relative."""
    prob = random_recurrent(4, n_neurons=4)
    net = prob.network
    first_node, first_time = simulate_reference(prob)[0]
    k = next(  # a synapse that drove the first spike
        k
        for k in range(net.n_synapses)
        if net.post[k] == first_node
        and net.pre[k] < net.n_inputs
        and len(prob.inputs[net.pre[k]])
        and prob.inputs[net.pre[k]][0] < first_time
    )
    w0 = [mpf(float(x)) for x in prob.network.weight]
    eps = mpf("1e-30")

    def times(delta):
        w = list(w0)
        with mp.workdps(60):  # the perturbed value itself must be formed in high precision
            w[k] += delta
        return [t for _, t in simulate_reference(prob, weight=w)]

    base, plus, minus = times(0), times(eps), times(-eps)
    assert len(base) >= 5
    assert len(plus) == len(minus) == len(base)
    changed = 0
    with mp.workdps(60):  # for the difference quotients
        for t0, tp, tm in zip(base, plus, minus, strict=True):
            central = (tp - tm) / (2 * eps)
            forward = (tp - t0) / eps
            assert abs(central) < 1e3
            assert abs(forward - central) <= mpf("1e-20") * (1 + abs(central))
            changed += central != 0
            if t0 == first_time:
                assert central < 0  # more drive, earlier spike
    assert changed >= 2


def test_precision_is_self_consistent():
    """``dps=30`` and ``dps=50`` agree to 1e-28 ms (the working precision really is used)."""
    prob = random_recurrent(5)
    lo, hi = simulate_reference(prob, dps=30), simulate_reference(prob, dps=50)
    assert len(hi) >= 10
    assert [n for n, _ in lo] == [n for n, _ in hi]
    assert max(abs(x - y) for (_, x), (_, y) in zip(lo, hi, strict=True)) < mpf("1e-28")


def test_horizon_and_refractory():
    """Spikes after ``t_max`` are dropped (a shorter horizon gives a prefix), and with ``t_ref``
    consecutive spikes of a neuron are at least ``t_ref`` apart."""
    prob = random_recurrent(6)
    full = simulate_reference(prob)
    cut = simulate_reference(prob, t_max=full[len(full) // 2][1])
    assert cut == full[: len(full) // 2 + 1]
    run = simulate_reference(prob, t_ref=2.0)
    for node in {n for n, _ in run}:
        times = [t for n, t in run if n == node]
        assert all(t2 - t1 >= 2 for t1, t2 in itertools.pairwise(times))
    assert len(run) < len(full)


def test_slopes_and_peak_gap():
    """The run record: the slope before a spike is ``J(f) - theta/tau_mem`` (checked against a
    numerical derivative of the SRM potential), and a lone sub-threshold peak gives
    ``min_peak_gap = theta - h_max w`` at the kernel's peak time."""
    prob = one_neuron([(1.0, 2.0)], tau_syn=5.0, tau_mem=10.0, threshold=1.0, t_max=30.0)
    run = simulate_reference_run(prob)
    assert len(run.spikes) >= 2
    with mp.workdps(60):
        for (node, f), slope in zip(run.spikes, run.slopes, strict=True):
            num = mpmath.diff(
                lambda t, nd=node: srm_potential(prob, run.spikes, nd, t),
                f - mpf("1e-20"),
                h=mpf("1e-25"),
            )
            assert abs(num - slope) < mpf("1e-15")
    w = 0.3
    prob = one_neuron([(1.0, w)], tau_syn=5.0, tau_mem=10.0, threshold=1.0, t_max=30.0)
    run = simulate_reference_run(prob)
    assert run.spikes == []
    assert run.peak_gap_neuron == 0
    with mp.workdps(60):
        s_h, h_max = peak_of_kernel(mpf(5), mpf(10))
        assert abs(run.min_peak_gap - (1 - w * h_max)) < TIGHT
        assert abs(run.peak_gap_time - (1 + s_h)) < TIGHT
    assert math.isfinite(float(run.min_peak_gap))


def test_peak_gap_kinds():
    """The three kinds of sub-threshold maxima: a kink where an inhibitory input turns a rising
    ``V`` down, ``V(t_max)`` while still rising, and no maximum at all where an excitatory input
    keeps ``V`` rising into a spike (``V`` at that input is not a local maximum)."""
    with mp.workdps(60):
        h2, h3 = kernel(2, 5, 10), kernel(3, 5, 10)
        kink = one_neuron([(1.0, 0.3), (3.0, -1.0)], t_max=30.0)
        run = simulate_reference_run(kink)
        assert (run.peak_gap_neuron, run.peak_gap_time) == (0, 3)
        assert abs(run.min_peak_gap - (1 - mpf(0.3) * h2)) < TIGHT
        rising = one_neuron([(1.0, 0.3)], t_max=4.0)
        run = simulate_reference_run(rising)
        assert (run.peak_gap_neuron, run.peak_gap_time) == (0, 4)
        assert abs(run.min_peak_gap - (1 - mpf(0.3) * h3)) < TIGHT
        into_spike = one_neuron([(1.0, 0.3), (3.0, 1.0)], t_ref=10.0, t_max=6.0)
        run = simulate_reference_run(into_spike)
        assert len(run.spikes) == 1
        assert run.min_peak_gap == mpf("inf")  # V rises into the spike, then is held at 0

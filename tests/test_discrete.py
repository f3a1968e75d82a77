"""The discrete-time JAX model: exact propagators, binning, convergence to the exact simulator,
reset semantics, batching and surrogate-BPTT gradients."""

import dataclasses
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference import kernel as mp_kernel

import fpgrad
from fpgrad import discrete
from fpgrad.discrete import (
    DiscreteParams,
    bin_inputs,
    bin_spikes,
    bin_times,
    coarsen_raster,
    discretize,
    get_surrogate,
    n_grid_steps,
    raster_hamming,
    simulate_discrete,
    step_factors,
    surrogate_gradient,
)
from fpgrad.discrete._method import grid_loss

DTS = (0.1, 0.05, 0.025, 0.0125)

# A small recurrent network (6 inputs, 5 neurons, 10 recurrent synapses, inhibitory ones, a
# duplicated synapse 9 -> 10, t_ref = 0.5 ms, distinct tau_mem) with 15 spikes on [0, 25] ms,
# far from degenerate (sub-threshold peaks >= 0.089 below threshold, crossing slopes >= 0.139).
RECURRENT = {
    "format": "fpgrad-problem/1",
    "t_max": 25.0,
    "tau_syn": 5.0,
    "neurons": {
        "count": 5,
        "tau_mem": [10.643736291335781, 8.633270638512315, 11.151587519468295, 10.184208174356183,
                    6.565064087325897],
        "threshold": 1.0,
        "t_ref": 0.5,
    },
    "inputs": [
        [6.883736633075099],
        [1.7179511030396015, 2.0969549719148617, 8.531117939293406],
        [7.066443092146988, 8.478541597217832],
        [8.303691009869937, 9.520774800008862, 11.474982861240385],
        [4.5592514709391825],
        [0.4622675185190911, 6.550760838485435],
    ],
    "synapses": {
        "pre": [3, 2, 1, 5, 7, 9, 1, 3, 0, 4, 10, 6, 3, 0, 4, 4, 6, 7, 4, 2, 1, 1, 6, 7, 5, 2, 5,
                1, 9, 9],
        "post": [6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 10, 10,
                 10, 10, 10, 10],
        "weight": [0.1545276288193595, 0.19746278718499918, 0.10641940771855947,
                   0.05453729322834645, 0.012763451220835066, -0.16552623439851644,
                   0.0850862323511684, 0.23296752585477679, 0.21434906911732743,
                   0.18681203929770285, 0.09334420074540684, 0.008760753157445756,
                   0.1787429174178761, 0.2322023357842104, 0.07819808595315646,
                   0.08891032944836853, 0.037894271816857145, 0.02598430106709433,
                   0.16075535872380248, 0.10491646052935938, 0.199842767053881,
                   0.16806362448053977, 0.16645196027904022, 0.16095287149936038,
                   0.16379892095399412, 0.03354059606623435, 0.047977968594026,
                   0.001766944740241323, -0.13297017131840644, -0.14103307572526702],
    },
}  # fmt: skip


def timing_loss(out):
    """A loss of both outputs, shared by the tests so that they reuse one compiled gradient."""
    return jnp.sum(out.voltage**2) + jnp.sum(out.raster * out.times[:, None])


@pytest.fixture(scope="module")
def recurrent() -> fpgrad.Problem:
    return fpgrad.problem_from_dict(RECURRENT)


@pytest.fixture(scope="module")
def recurrent_runs(recurrent):
    """The exact run and the discrete runs at every dt of DTS (compiled once, shared)."""
    exact = fpgrad.simulate(recurrent)
    runs = {}
    for dt in DTS:
        dp = discretize(recurrent, dt)
        runs[dt] = (dp, simulate_discrete(dp, record_voltage=True))
    return exact, runs


def kernel(s, tau_syn, tau_mem):
    """Closed-form PSP kernel h(s) (numpy), 0 for s <= 0, s e^{-s/tau} when the taus are equal.

    Written as e^{-a s} (1 - e^{-(b-a) s}) / (b - a) with expm1: no cancellation when a ~ b."""
    s = np.asarray(s, dtype=np.float64)
    a, b = 1.0 / tau_syn, 1.0 / tau_mem
    pos = np.maximum(s, 0.0)
    h = pos * np.exp(-a * pos) if a == b else -np.exp(-a * pos) * np.expm1(-(b - a) * pos) / (b - a)
    return np.where(s > 0, h, 0.0)


# --- propagators and grid ----------------------------------------------------------------------


def test_step_factors_exact_and_stable_at_equal_time_constants():
    dt, tau_syn = 0.1, 5.0
    tau_mem = jnp.asarray([10.0, 5.0, 5.0 * (1 + 1e-9), 5.0 * (1 - 1e-6), 2.0])
    alpha, beta, h = step_factors(dt, tau_syn, tau_mem)
    np.testing.assert_allclose(alpha, np.exp(-dt / tau_syn), rtol=1e-15)
    np.testing.assert_allclose(beta, np.exp(-dt / np.asarray(tau_mem)), rtol=1e-15)
    expected = [float(mp_kernel(dt, tau_syn, float(t))) for t in tau_mem]  # 50 digits
    assert expected[1] == pytest.approx(dt * math.exp(-dt / tau_syn), rel=1e-15)  # a = b limit
    np.testing.assert_allclose(h, expected, rtol=1e-13)
    # differentiable through a = b, matching a central difference
    dh = jax.jit(jax.grad(lambda t: step_factors(dt, tau_syn, t)[2]))(jnp.asarray(5.0))
    eps = 1e-5
    fd = (kernel(dt, tau_syn, 5.0 + eps) - kernel(dt, tau_syn, 5.0 - eps)) / (2 * eps)
    assert float(dh) == pytest.approx(float(fd), rel=1e-8)


def test_binning_rule():
    dt = 0.1
    times = [0.0, 0.3, 0.1 * 3, 0.30001, 0.05, 1e-6, 1e-12]  # 1e-12 is within GRID_TOL of 0
    np.testing.assert_array_equal(bin_times(times, dt), [0, 3, 3, 4, 1, 1, 0])
    assert n_grid_steps(25.0, 0.1) == 250 and n_grid_steps(25.01, 0.1) == 251
    raster = bin_inputs([[0.05, 0.06, 2.0], [], [9.0]], dt, n_steps=20)
    assert raster.shape == (21, 3) and raster[1, 0] == 2 and raster[20, 0] == 1
    assert raster.sum() == 3  # the spike at 9 ms lands after t_20 = 2 ms: dropped
    spikes = bin_spikes([3, 4, 3], [0.25, 0.25, 1.0], 3, 2, dt, 20)
    assert spikes[3, 0] == 1 and spikes[3, 1] == 1 and spikes[10, 0] == 1
    # Hamming distance: a spike moved by one step counts 2; coarsening removes it
    moved = spikes.copy()
    moved[3, 0], moved[4, 0] = 0, 1
    assert raster_hamming(spikes, moved) == 2
    assert raster_hamming(spikes, moved, bin_steps=5) == 0
    assert coarsen_raster(spikes, 5).shape == (5, 2)
    np.testing.assert_array_equal(coarsen_raster(spikes, 5).sum(axis=0), spikes.sum(axis=0))


# --- the grid model samples the exact solution ---------------------------------------------------


# These reuse the compiled code of `recurrent_runs` (same shapes and options, dt = 0.1 and 0.025).


def _on_grid(problem: fpgrad.Problem) -> fpgrad.Problem:
    return problem.with_inputs([np.round(train, 1) for train in problem.inputs])


@pytest.mark.parametrize("on_grid", [True, False])
def test_silent_voltage_equals_closed_form(recurrent, on_grid):
    tau_mem = [10.0, 5.0, 5.0 * (1 + 1e-7), 3.0, 7.0]  # equal and nearly equal to tau_syn
    problem = recurrent.with_network(recurrent.network.replace(threshold=1e6, tau_mem=tau_mem))
    problem = _on_grid(problem) if on_grid else problem
    net = problem.network
    dt = 0.1
    dp = discretize(problem, dt)
    out = simulate_discrete(dp, record_voltage=True)
    assert float(out.raster.sum()) == 0.0
    t = dp.times
    expected = np.zeros((t.size, net.n_neurons))
    for k in range(net.n_synapses):
        i = net.post[k] - net.n_inputs
        arrival = problem.inputs[net.pre[k]] if net.pre[k] < net.n_inputs else []
        for g in arrival:  # the grid model delays each input to ceil(g / dt) dt
            landing = math.ceil(g / dt - 1e-9) * dt
            assert landing == pytest.approx(g, abs=1e-14) or not on_grid
            expected[:, i] += net.weight[k] * kernel(t - landing, net.tau_syn[i], net.tau_mem[i])
    np.testing.assert_allclose(out.voltage, expected, rtol=0, atol=1e-12)


def test_exact_on_grid_first_spikes(recurrent):
    """With its events on the grid a neuron's first spike is the binned exact one."""
    problem = _on_grid(recurrent)
    net = problem.network
    exact = fpgrad.simulate(problem)
    exact_first = {}
    for node, time in zip(exact.spike_node, exact.spike_time, strict=True):
        exact_first.setdefault(int(node), float(time))
    # neurons whose first spike precedes every spike of their presynaptic neurons by > 0.1 ms
    clean = [
        i
        for i, f in exact_first.items()
        if all(exact_first.get(int(p), np.inf) > f + 0.1 for p in net.pre[net.post == i])
    ]
    assert len(clean) >= 2
    for dt in (0.1, 0.025):
        first = simulate_discrete(discretize(problem, dt), record_voltage=True).spike_times(1)
        for i in clean:
            expected = math.ceil(exact_first[i] / dt) * dt
            assert float(first[i - net.n_inputs, 0]) == pytest.approx(expected, abs=1e-12)


# --- convergence to the exact simulator ----------------------------------------------------------


def test_spike_times_converge_at_first_order(recurrent_runs):
    exact, runs = recurrent_runs
    net = fpgrad.problem_from_dict(RECURRENT).network
    mean_err = []
    for dt in DTS:
        _, out = runs[dt]
        node, time = out.spikes()
        errors = []
        for i in range(net.n_inputs, net.n_nodes):
            ref, got = exact.spikes_of(i), time[node == i]
            assert got.size == ref.size, f"dt={dt}: neuron {i} has {got.size} != {ref.size}"
            errors.append(got - ref)
        err = np.abs(np.concatenate(errors))
        assert err.max() < 10 * dt
        mean_err.append(err.mean())
    slope = np.polyfit(np.log(DTS), np.log(mean_err), 1)[0]
    assert 0.8 < slope < 1.2, (slope, mean_err)


def test_raster_hamming_goes_to_zero(recurrent_runs):
    exact, runs = recurrent_runs
    net = fpgrad.problem_from_dict(RECURRENT).network
    same_grid, coarse = [], []
    for dt in DTS:
        dp, out = runs[dt]
        ref = bin_spikes(exact.spike_node, exact.spike_time, net.n_inputs, net.n_neurons, dt,
                         dp.n_steps)  # fmt: skip
        same_grid.append(raster_hamming(out.raster, ref))
        coarse.append(raster_hamming(out.raster, ref, bin_steps=round(1.0 / dt)))  # 1 ms bins
    # on a fixed 1 ms grid the distance decreases to 0; on the step grid itself it stays of the
    # order of twice the number of spikes (first-order timing errors span a few steps)
    assert coarse[0] > 0 and all(a >= b for a, b in itertools.pairwise(coarse))
    assert coarse[-1] == 0, coarse
    assert max(same_grid) <= 2 * exact.n_spikes


# --- semantics: an independent numpy reference of the documented step --------------------------


def _reference(problem, dt, reset):
    """The step of fpgrad/discrete/_model.py's docstring in numpy, synapse by synapse (model 2:
    per-neuron tau_syn with delta synapses, bias, v_reset, delays in steps, tau_mem = inf)."""
    net = problem.network
    m, n = net.n_inputs, net.n_neurons
    steps = math.ceil(problem.t_max / dt - 1e-9)
    delta = net.tau_syn == 0
    post = net.post - m
    delay = np.floor(net.delay / dt + 0.5).astype(int)  # round half up
    eff = [max(d, 1) if pre >= m and delta[i] else d
           for d, pre, i in zip(delay, net.pre, post, strict=True)]  # fmt: skip
    arrivals = np.zeros((steps + 2 + max(eff, default=0), n))  # A[step]: weighted arrivals
    for k in range(net.n_synapses):
        if net.pre[k] < m:
            for g in problem.inputs[net.pre[k]]:
                arrivals[math.ceil(g / dt - 1e-9) + eff[k], post[k]] += net.weight[k]
    alpha, beta, h, grow = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    for i in range(n):
        b = 1 / net.tau_mem[i]
        beta[i] = math.exp(-b * dt)
        grow[i] = dt if b == 0 else (1 - math.exp(-b * dt)) / b
        if not delta[i]:
            a = 1 / net.tau_syn[i]
            alpha[i] = math.exp(-a * dt)
            h[i] = (math.exp(-a * dt) - math.exp(-b * dt)) / (b - a)
    r = np.floor(net.t_ref / dt + 0.5)
    v, j, ref = np.zeros(n), np.zeros(n), np.zeros(n)
    raster, volt = np.zeros((steps + 1, n)), np.zeros((steps + 1, n))
    for step in range(steps):
        j = j + np.where(delta, 0.0, arrivals[step])
        u = beta * v + h * j + grow * net.bias
        j = alpha * j
        jump = arrivals[step + 1] + (arrivals[0] if step == 0 else 0.0)
        u = u + np.where(delta, jump, 0.0)
        held = ref > 0
        u[held] = net.v_reset[held]
        s = ((u >= net.threshold) & ~held).astype(float)
        if reset == "subtract":
            v = u - (net.threshold - net.v_reset) * s
        else:
            v = np.where(s > 0, net.v_reset, u)
        ref = np.where(s > 0, r, np.maximum(ref - 1, 0))
        for k in np.flatnonzero(net.pre >= m):
            if s[net.pre[k] - m]:
                arrivals[step + 1 + eff[k], post[k]] += net.weight[k]
        raster[step + 1], volt[step + 1] = s, u
    return raster, volt


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_matches_reference_step(recurrent, reset):
    dt = 0.1
    dp = discretize(recurrent, dt)
    out = simulate_discrete(dp, reset=reset, record_voltage=True)
    raster, volt = _reference(recurrent, dt, reset)
    assert raster.sum() >= 10
    np.testing.assert_array_equal(out.raster, raster)
    np.testing.assert_allclose(out.voltage, volt, rtol=0, atol=1e-12)
    # refractory: round(0.5 / 0.1) = 5 steps held at exactly 0 after each spike
    step, neuron = np.nonzero(raster)
    for n_, i in zip(step, neuron, strict=True):
        np.testing.assert_array_equal(out.voltage[n_ + 1 : n_ + 6, i], 0.0)


def _one_spike_neuron():
    """One input spike at 1 ms through weight 1.3 / max(h): one spike of the single neuron."""
    tau_syn, tau_mem = 5.0, 10.0
    s_peak = math.log(tau_mem / tau_syn) / (1 / tau_syn - 1 / tau_mem)
    w = 1.3 / kernel(s_peak, tau_syn, tau_mem)
    net = fpgrad.Network(1, 1, tau_syn, tau_mem, 1.0, pre=[0], post=[1], weight=[w])
    return fpgrad.Problem(net, [[1.0]], 30.0), w


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_reset_and_detach_reset(reset):
    """Voltages after the reset, and dU/dw with and without detach_reset, against the recursion
    written out by hand (theta = 1, x = U - 1)."""
    problem, w = _one_spike_neuron()
    dt, tau_syn, tau_mem = 0.1, 5.0, 10.0
    dp = discretize(problem, dt)
    sur = get_surrogate("gaussian", width=0.5)  # wide: the reset gradient acts on many steps
    t = dp.times
    alpha, beta, h = math.exp(-dt / tau_syn), math.exp(-dt / tau_mem), kernel(dt, tau_syn, tau_mem)
    for detach in (True, False):

        def trace(weight, detach=detach):
            params = dp.params._replace(weight=weight)
            out = simulate_discrete(dp, sur, reset=reset, detach_reset=detach, params=params,
                                    record_voltage=True)  # fmt: skip
            return out.voltage[:, 0], out.raster[:, 0]

        (u, s), (du, _) = jax.jvp(trace, (dp.params.weight,), (jnp.ones(1),))
        u, s, du = np.asarray(u), np.asarray(s), np.asarray(du)
        (n,) = np.nonzero(s)[0]
        assert u[n] >= 1.0 and s.sum() == 1
        # primal: the free trajectory minus the reset's decaying trace
        free = w * kernel(t - 1.0, tau_syn, tau_mem)
        jump = 1.0 if reset == "subtract" else u[n]
        np.testing.assert_allclose(u[: n + 1], free[: n + 1], rtol=0, atol=1e-12)
        decay = np.exp(-(t[n + 1 :] - t[n]) / tau_mem)
        np.testing.assert_allclose(u[n + 1 :], free[n + 1 :] - jump * decay, rtol=0, atol=1e-12)
        # tangent: dV = dU (1 - g) [subtract] or dU (1 - s) - U g dU [zero]; g dropped if detached
        g = np.zeros(t.size) if detach else np.asarray(sur.derivative(u - 1.0))
        dv = dj = 0.0
        expected = np.zeros(t.size)
        for m in range(1, t.size):
            dj += 1.0 if m == 11 else 0.0  # the input lands at t_10 = 1 ms (step 10 -> 11)
            expected[m] = beta * dv + h * dj
            dj *= alpha
            if reset == "subtract":
                dv = expected[m] * (1 - g[m])
            else:
                dv = expected[m] * (1 - s[m]) - u[m] * g[m] * expected[m]
        np.testing.assert_allclose(du, expected, rtol=1e-11, atol=1e-13)
        if detach and reset == "subtract":  # the reset does not touch dU/dw at all
            np.testing.assert_allclose(du, kernel(t - 1.0, tau_syn, tau_mem), rtol=1e-11)


# --- model 2: delta synapses, bias, v_reset, delays, tau_mem = inf -----------------------------

#: Delays (ms) of RECURRENT's synapses in MODEL2: whole and fractional steps at dt = 0.1 (0.55
#: rounds to 6 steps), recurrent ones onto both kinds of neuron, synapse 22 (6 -> 9, onto a
#: delta-synapse neuron) with delay 0 (the grid moves it one step: E = 1).
MODEL2_DELAY = [
    0.55, 0.0, 0.0, 0.0, 0.0, 0.55, 1.2, 0.3, 0.0, 0.0, 0.0, 0.1, 0.3, 0.1, 0.0,
    0.0, 0.55, 0.55, 0.0, 0.0, 0.1, 0.1, 0.0, 0.3, 0.1, 0.1, 0.3, 0.3, 0.0, 0.55,
]  # fmt: skip


def _model2(problem: fpgrad.Problem) -> fpgrad.Problem:
    """RECURRENT in model 2: neurons 7 and 9 with delta synapses (their weights tripled), the
    others with tau_syn 5, 3, 7 ms, neuron 10 a perfect integrator, biases, reset values,
    refractory periods 0.5 / 0 / 0.5 / 0 / 0.2 ms and MODEL2_DELAY. At dt = 0.1 it fires 14
    times with "subtract", 12 with "zero" (all five neurons), U at least 3.8e-4 from threshold."""
    net = problem.network
    post = net.post - net.n_inputs
    weight = np.where(np.isin(post, [1, 3]), 3.0, 1.0) * net.weight
    return problem.with_network(
        net.replace(
            tau_syn=[5.0, 0.0, 3.0, 0.0, 7.0],
            tau_mem=[*net.tau_mem[:4], np.inf],
            bias=[0.02, 0.05, 0.0, 0.08, 0.3],
            v_reset=[0.0, -0.2, 0.1, 0.0, -0.1],
            t_ref=[0.5, 0.0, 0.5, 0.0, 0.2],
            delay=MODEL2_DELAY,
            weight=weight,
        )
    )


@pytest.fixture(scope="module")
def model2(recurrent) -> fpgrad.Problem:
    return _model2(recurrent)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_model2_matches_reference_step(model2, reset):
    """Every model-2 feature at once against the numpy reference of the documented step."""
    dt = 0.1
    dp = discretize(model2, dt)
    out = simulate_discrete(dp, reset=reset, record_voltage=True)
    raster, volt = _reference(model2, dt, reset)
    np.testing.assert_array_equal(out.raster, raster)
    np.testing.assert_allclose(out.voltage, volt, rtol=0, atol=1e-12)
    assert np.all(raster.sum(axis=0) >= 1)  # every neuron fires, the perfect integrator too
    assert raster.sum() == (14 if reset == "subtract" else 12)
    np.testing.assert_array_equal(dp.delay_steps, np.floor(np.array(MODEL2_DELAY) / dt + 0.5))
    opts = discrete._model._options(dp, None, True, reset, True, False)
    assert opts.delta == (1, 3) and opts.delays == (0, 1, 3, 6, 12)
    # refractory neurons sit at v_reset after each spike (t_ref = 0.5 ms: 5 steps)
    for i in (0, 2):
        for n_ in np.flatnonzero(raster[:, i]):
            np.testing.assert_array_equal(
                out.voltage[n_ + 1 : n_ + 6, i], model2.network.v_reset[i]
            )


def test_general_path_reduces_to_model1(recurrent):
    """Model 1 runs its own path (one weight matrix, no arrival buffer); the general path (delay
    classes, buffer) forced onto the same network gives the same raster and voltages. Delays
    below half a step round to 0 and keep the model-1 path, bit for bit."""
    dt = 0.1
    dp = discretize(recurrent, dt)
    opts = discrete._model._options(dp, None, True, "subtract", True, True)
    assert (opts.delta, opts.delays) == ((), ())
    args = (dp.params, dp.pre, dp.post, dp.ref_steps, dp.delay_steps, dp.inputs)
    fast = discrete._model._run(*args, opts=opts)
    general = dataclasses.replace(opts, delays=(0,), in_classes=(0,), rec_classes=(0,))
    slow = discrete._model._run(*args, opts=general)
    np.testing.assert_array_equal(slow[0], fast[0])
    np.testing.assert_allclose(slow[1], fast[1], rtol=0, atol=1e-13)
    short = recurrent.with_network(recurrent.network.replace(delay=0.0499))
    dp_short = discretize(short, dt)
    assert discrete._model._options(dp_short, None, True, "subtract", True, True) == opts
    out = simulate_discrete(dp_short, record_voltage=True)
    np.testing.assert_array_equal(out.voltage, fast[1])


def _delta_closed_form(arrivals, tau, bias, v_reset, theta, r, dt, steps):
    """A delta-synapse neuron in continuous time, at the grid points: between events
    V = C + (V0 - C) e^{-s/tau} (C = bias tau); an arrival (step, w) adds w unless V is held;
    V >= theta is a spike, V <- v_reset, held for r steps. With C < theta only arrivals fire it,
    so with arrivals on the grid every spike is on the grid. Returns (spike steps, U)."""
    c = bias * tau
    u_out, spikes = np.zeros(steps + 1), []
    v, held_until = 0.0, -1
    for n in range(1, steps + 1):
        if n <= held_until:
            u_out[n] = v = v_reset
            continue
        v = c + (v - c) * math.exp(-dt / tau) + sum(w for m, w in arrivals if m == n)
        u_out[n] = v
        if v >= theta:
            spikes.append(n)
            v, held_until = v_reset, n + r
    return spikes, u_out


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_delta_synapse_neuron_closed_form(reset):
    """A neuron with delta synapses, bias, v_reset < 0 and t_ref = 4 steps, inputs on the grid:
    the grid model is its continuous solution at the grid points, spikes included (at the
    arrival that lifts V over threshold; arrivals while held are lost). The subtractive reset
    keeps the overshoot only when t_ref = 0, so with t_ref > 0 both resets agree. An arrival at
    t = 0 counts at t_1, undecayed."""
    dt, tau, bias, v_reset, theta = 0.1, 8.0, 0.06, -0.2, 1.0  # C = 0.48 < theta
    trains = [[0.5, 1.2, 1.3, 1.4, 3.0, 3.2, 6.0], [1.3, 1.5, 4.0, 4.1]]
    weights = [0.45, 0.3]
    net = fpgrad.Network(2, 1, 0.0, tau, theta, pre=[0, 1], post=[2, 2], weight=weights,
                         bias=bias, v_reset=v_reset, t_ref=0.4)  # fmt: skip
    problem = fpgrad.Problem(net, trains, 10.0)
    dp = discretize(problem, dt)
    out = simulate_discrete(dp, reset=reset, record_voltage=True)
    arrivals = [(round(g / dt), w) for train, w in zip(trains, weights, strict=True) for g in train]
    spikes, u = _delta_closed_form(arrivals, tau, bias, v_reset, theta, 4, dt, dp.n_steps)
    assert len(spikes) >= 2 and any(m in range(s + 1, s + 5) for s in spikes for m, _ in arrivals)
    np.testing.assert_array_equal(np.flatnonzero(out.raster[:, 0]), spikes)
    np.testing.assert_allclose(out.voltage[:, 0], u, rtol=0, atol=1e-13)
    # t = 0: the arrival counts at t_1 undecayed (and fires there if it reaches theta)
    for w in (0.7, 1.0):
        at_zero = problem.with_network(net.replace(weight=[w, 0.0])).with_inputs([[0.0], []])
        o = simulate_discrete(discretize(at_zero, dt), reset=reset, record_voltage=True)
        grow = (1 - math.exp(-dt / tau)) * tau
        assert float(o.voltage[1, 0]) == pytest.approx(w + bias * grow, rel=1e-14)
        assert float(o.raster[1, 0]) == float(w + bias * grow >= theta)


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_bias_driven_periodic_firing(reset):
    """Neurons driven by a bias alone fire periodically: from rest after P0 = tau ln(C/(C -
    theta)) (C = bias tau), then every t_ref + P, P = tau ln((C - v_reset)/(C - theta))
    (tau_mem = inf: P = (theta - v_reset) / bias). On the grid ("zero" reset, or t_ref > 0)
    the first spike is at ceil(P0/dt), then every r + ceil(P/dt) steps, and U is the closed-form
    trajectory C + (V0 - C) e^{-s/tau} sampled at the grid (V0 = 0, then v_reset)."""
    dt, t_max = 0.01, 40.0
    tau = np.array([10.0, 10.0, 5.0, np.inf])
    bias = np.array([0.15, 0.15, 0.45, 0.093])
    v_reset = np.array([0.0, -0.3, 0.2, -0.5])
    t_ref = np.array([0.0, 0.5, 1.3, 0.3])
    if reset == "subtract":  # the overshoot survives only without a refractory period
        tau, bias, v_reset, t_ref = tau[1:], bias[1:], v_reset[1:], t_ref[1:]
    n = tau.size
    net = fpgrad.Network(0, n, 5.0, tau, 1.0, pre=[], post=[], weight=[], bias=bias,
                         v_reset=v_reset, t_ref=t_ref)  # fmt: skip
    dp = discretize(fpgrad.Problem(net, [], t_max), dt)
    out = simulate_discrete(dp, reset=reset, record_voltage=True)
    t = dp.times
    for i in range(n):
        if np.isinf(tau[i]):
            p0, p = 1.0 / bias[i], (1.0 - v_reset[i]) / bias[i]
        else:
            c = bias[i] * tau[i]
            p0, p = tau[i] * math.log(c / (c - 1.0)), tau[i] * math.log((c - v_reset[i]) / (c - 1))
        for period in (p0, p):  # off the grid points, so that ceil is not decided by rounding
            assert 0.01 < period / dt % 1 < 0.99
        m0, m, r = math.ceil(p0 / dt), math.ceil(p / dt), round(t_ref[i] / dt)
        expected = list(range(m0, dp.n_steps + 1, 10**9))  # first spike, then every r + m
        while expected[-1] + r + m <= dp.n_steps:
            expected.append(expected[-1] + r + m)
        assert len(expected) >= 2
        np.testing.assert_array_equal(np.flatnonzero(out.raster[:, i]), expected)
        assert m0 * dt - p0 < dt and m * dt - p < dt  # within a step of the continuous period
        u = np.zeros(t.size)
        start, v0 = 0, 0.0
        for k in range(1, t.size):
            if start < k <= start + (r if k > m0 else 0):
                u[k] = v_reset[i]
                continue
            s = t[k] - t[start + (r if start else 0)]
            u[k] = (
                v0 + bias[i] * s
                if np.isinf(tau[i])
                else (bias[i] * tau[i] + (v0 - bias[i] * tau[i]) * math.exp(-s / tau[i]))
            )
            if k in expected:
                start, v0 = k, v_reset[i]
        np.testing.assert_allclose(out.voltage[:, i], u, rtol=0, atol=1e-11)


def test_delays_in_steps():
    """A spike through a synapse of delay D steps arrives D steps later: delayed runs are the
    undelayed ones shifted by D rows, for input synapses onto both kinds of neuron and for a
    neuron's spikes; delays round half up; a zero-delay spike of a neuron onto a delta-synapse
    neuron arrives one step later (E = max(D, 1))."""
    dt = 0.5
    # 0.25 and 0.75 ms are exact halves at dt = 0.5: half up -> 1 and 2 steps; 0.2 -> 0
    net = fpgrad.Network(1, 1, 5.0, 10.0, 1.0, pre=[0, 0, 0], post=[1, 1, 1], weight=[0.1] * 3,
                         delay=[0.25, 0.75, 0.2])  # fmt: skip
    dp = discretize(fpgrad.Problem(net, [[1.0]], 5.0), dt)
    np.testing.assert_array_equal(dp.delay_steps, [1, 2, 0])

    dt, d = 0.1, 7
    # inputs: neurons 0 (current) and 1 (delta) undelayed, 2 and 3 their copies delayed by d
    # steps (0.65 and 0.7 ms: 0.65 / 0.1 rounds up); neuron 4 (current) is driven to fire by
    # input 1, and neurons 5 (current, delay d), 6 (delta, delay 0) and 7 (delta, delay d)
    # receive its spikes; 8 / 9 / 10 are 5 / 6 / 7 fed by inputs 2 / 3 / 4, which spike at the
    # arrival times by hand
    f = 0.8  # neuron 4's (only) spike, asserted below
    tau_syn = [5.0, 0.0, 5.0, 0.0, 2.0, 5.0, 0.0, 0.0, 5.0, 0.0, 0.0]
    pre = [0, 0, 0, 0, 1, 9, 9, 9, 2, 3, 4]
    post = [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
    delay = [0.0, 0.0, 0.65, 0.7, 0.0, 0.7, 0.0, 0.7, 0.0, 0.0, 0.0]
    weight = [0.3, 0.3, 0.3, 0.3, 2.0, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4]
    net = fpgrad.Network(5, 11, tau_syn, 10.0, 1.0, pre=pre, post=post, weight=weight,
                         delay=delay, t_ref=100.0)  # fmt: skip
    arrive = [[f + d * dt], [f + dt], [f + d * dt]]
    problem = fpgrad.Problem(net, [[0.5, 2.0], [0.2], *arrive], 6.0)
    dp = discretize(problem, dt)
    out = simulate_discrete(dp, record_voltage=True)
    u, s = np.asarray(out.voltage), np.asarray(out.raster)
    assert np.flatnonzero(s[:, 4]).tolist() == [round(f / dt)]
    for a, b in ((0, 2), (1, 3)):
        np.testing.assert_allclose(u[d:, b], u[:-d, a], rtol=0, atol=1e-15)
        np.testing.assert_array_equal(u[: d + 3, b], 0.0)
    for a, b in ((5, 8), (6, 9), (7, 10)):
        np.testing.assert_allclose(u[:, a], u[:, b], rtol=0, atol=1e-14)
        assert np.abs(u[:, a]).max() > 0.1
    # the delta neurons jump at their arrival step, not before
    for i, step in ((6, round(f / dt) + 1), (7, round(f / dt) + d)):
        assert u[step - 1, i] == 0.0 and u[step, i] == pytest.approx(0.4, rel=1e-15)


def test_perfect_integrator_and_mixed_kinds_closed_form():
    """tau_mem = inf with a current synapse and a bias: V = w tau_syn (1 - e^{-s/tau_syn})
    + bias t; a delta-synapse and a current-synapse neuron fed by the same input (mixed kinds,
    one scan) each follow their own closed form."""
    dt, g, w = 0.1, 0.7, 0.2
    net = fpgrad.Network(1, 3, [4.0, 0.0, 4.0], [np.inf, 6.0, 6.0], 10.0, pre=[0, 0, 0],
                         post=[1, 2, 3], weight=[w] * 3, bias=[0.01, 0.02, 0.0])  # fmt: skip
    problem = fpgrad.Problem(net, [[g]], 8.0)
    dp = discretize(problem, dt)
    u = np.asarray(simulate_discrete(dp, record_voltage=True).voltage)
    t = dp.times
    s = np.maximum(t - g, 0.0)
    np.testing.assert_allclose(u[:, 0], w * 4.0 * -np.expm1(-s / 4.0) + 0.01 * t, atol=1e-13)
    delta = np.where(t >= g - 1e-9, w * np.exp(-s / 6.0), 0.0) + 0.02 * 6.0 * -np.expm1(-t / 6)
    np.testing.assert_allclose(u[:, 1], delta, rtol=0, atol=1e-13)
    np.testing.assert_allclose(u[:, 2], w * kernel(t - g, 4.0, 6.0), rtol=0, atol=1e-13)


def test_model2_grid_spikes_are_exact_on_the_grid(model2):
    """With its events on the grid (inputs, delays, refractory periods) a delta-synapse neuron
    only fires at arrivals, so its grid spikes are the exact simulator's, until a spike of
    another (current-synapse) neuron, off the grid, reaches it."""
    problem = _on_grid(model2)
    exact = fpgrad.simulate(problem)
    out = simulate_discrete(discretize(problem, 0.1), reset="zero")
    node, time = out.spikes()
    net = problem.network
    for i in (7, 9):
        sources = {int(p) for p in net.pre[net.post == i] if p >= net.n_inputs}
        first_rec = min((exact.spikes_of(p)[0] for p in sources if exact.spikes_of(p).size),
                        default=np.inf)  # fmt: skip
        ref = exact.spikes_of(i)
        ref = ref[ref < first_rec]
        assert ref.size >= 1
        np.testing.assert_allclose(time[node == i][: ref.size], ref, rtol=0, atol=1e-9)


def test_model2_smooth_gradient_matches_finite_differences(model2):
    """Smooth forward (spiking=False) on the model-2 network: BPTT is the exact derivative of
    the grid model for every group with a grid gradient (bias, v_reset and the tau_syn of
    current-synapse neurons included); delay and t_ref are zeros, as are the tau_syn of the
    delta-synapse neurons and the tau_mem of the perfect integrator."""
    dt = 0.25
    dp = discretize(model2, dt)
    opts = {"surrogate": get_surrogate("sigmoid", width=0.5), "spiking": False,
            "detach_reset": False, "reset": "zero"}  # fmt: skip

    def loss(o):
        return jnp.sum((o.raster - 0.05) ** 2) + 0.01 * jnp.sum(o.voltage**2)

    res = surrogate_gradient(dp, loss, **opts)

    @jax.jit
    def value(params):
        return loss(simulate_discrete(dp, params=params, record_voltage=True, **opts))

    grads = res.gradients
    net = model2.network
    sizes = {"weight": net.n_synapses, "delay": net.n_synapses}
    for group, g in grads.groups().items():
        assert g.shape == (sizes.get(group, net.n_neurons),), group
    np.testing.assert_array_equal(grads.delay, 0.0)
    np.testing.assert_array_equal(grads.t_ref, 0.0)
    np.testing.assert_array_equal(grads.tau_syn[[1, 3]], 0.0)
    assert grads.tau_mem[4] == 0.0
    checks = {"weight": range(0, 30, 3), "threshold": range(5), "tau_mem": range(4),
              "tau_syn": (0, 2, 4), "bias": range(5), "v_reset": range(5)}  # fmt: skip
    for group, entries in checks.items():
        base = np.asarray(getattr(dp.params, group))
        analytic = getattr(grads, group)
        assert np.any(analytic[list(entries)] != 0), group
        for q in entries:
            eps = 1e-6 * max(1.0, abs(base[q]))
            vals = []
            for sign in (1, -1):
                bumped = base.copy()
                bumped[q] += sign * eps
                vals.append(float(value(dp.params._replace(**{group: jnp.asarray(bumped)}))))
            fd = (vals[0] - vals[1]) / (2 * eps)
            assert analytic[q] == pytest.approx(fd, rel=1e-6, abs=1e-9), (group, q)


# --- batching, dtypes, gradients -----------------------------------------------------------------


def test_vmap_batch_equals_per_sample_runs(recurrent):
    rng = np.random.default_rng(5)
    samples = [recurrent.inputs] + [
        [np.sort(rng.uniform(0, 15, rng.integers(1, 4))) for _ in range(6)] for _ in range(2)
    ]
    dt = 0.1
    batch = discretize(recurrent, dt, batch=samples)
    out = simulate_discrete(batch, record_voltage=True)
    assert out.raster.shape == (3, 251, 5)

    grad_batch = surrogate_gradient(batch, timing_loss)
    total = np.zeros(recurrent.network.n_synapses)
    for b, sample in enumerate(samples):
        single = discretize(recurrent.with_inputs(sample), dt)
        ref = simulate_discrete(single, record_voltage=True)
        np.testing.assert_array_equal(out.raster[b], ref.raster)
        np.testing.assert_allclose(out[b].voltage, ref.voltage, rtol=1e-13, atol=1e-13)
        total += surrogate_gradient(single, timing_loss).gradients.weight
    np.testing.assert_allclose(grad_batch.gradients.weight, total, rtol=1e-11, atol=1e-12)


def test_smooth_mode_gradient_matches_finite_differences(recurrent):
    """With spiking=False the forward pass is smooth: BPTT must be its exact derivative."""
    dt = 0.25
    dp = discretize(recurrent, dt)
    opts = {"surrogate": get_surrogate("sigmoid", width=0.5), "spiking": False,
            "detach_reset": False}  # fmt: skip
    target = jnp.linspace(0.0, 1.0, dp.n_steps + 1)[:, None]

    def loss(o, target):
        first = o.first_spike_times()  # differentiable through the (smooth) raster
        return (
            jnp.sum((o.raster - 0.1 * target) ** 2)
            + 0.01 * jnp.sum(o.voltage**2)
            + 0.1 * jnp.sum(first)
        )

    res = surrogate_gradient(dp, loss, loss_args=(target,), **opts)

    @jax.jit
    def value(params, inputs):
        o = simulate_discrete(dp, params=params, inputs=inputs, record_voltage=True, **opts)
        return loss(o, target)

    params = dp.params
    assert res.loss == pytest.approx(float(value(params, dp.inputs)), rel=1e-14)
    grads = res.gradients
    for group, analytic in (("weight", grads.weight), ("threshold", grads.threshold),
                            ("tau_mem", grads.tau_mem), ("tau_syn", grads.tau_syn)):  # fmt: skip
        base = np.atleast_1d(np.asarray(getattr(params, group)))
        for q in range(base.size):
            eps = 1e-6 * max(1.0, abs(base[q]))
            vals = []
            for sign in (1, -1):
                bumped = base.copy()
                bumped[q] += sign * eps
                new = jnp.asarray(bumped).reshape(np.shape(getattr(params, group)))
                vals.append(float(value(params._replace(**{group: new}), dp.inputs)))
            fd = (vals[0] - vals[1]) / (2 * eps)
            assert analytic[q] == pytest.approx(fd, rel=1e-6, abs=1e-9), (group, q)
    # input raster entry
    bumped = [dp.inputs.at[12, 1].add(s * 1e-6) for s in (1, -1)]
    fd = (float(value(params, bumped[0])) - float(value(params, bumped[1]))) / 2e-6
    assert res.inputs[12, 1] == pytest.approx(fd, rel=1e-6)
    # duplicated synapses (9 -> 10 twice) get equal gradients
    assert grads.weight[28] == pytest.approx(grads.weight[29], rel=1e-14)


def test_float32(recurrent_runs, recurrent):
    _, runs = recurrent_runs
    dp64, out64 = runs[0.1]
    dp32 = discretize(recurrent, 0.1, dtype=jnp.float32)
    out32 = simulate_discrete(dp32, record_voltage=True)
    assert out32.raster.dtype == jnp.float32 and out32.voltage.dtype == jnp.float32
    np.testing.assert_array_equal(out32.raster, out64.raster)
    np.testing.assert_allclose(out32.voltage, out64.voltage, atol=2e-5)

    g32 = surrogate_gradient(dp32, timing_loss).gradients
    g64 = surrogate_gradient(dp64, timing_loss).gradients
    for a, b in zip(g32.groups().values(), g64.groups().values(), strict=True):
        assert np.all(np.isfinite(a))
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=1e-3 * np.abs(b).max())


def test_outputs_and_errors(recurrent_runs, recurrent):
    _, runs = recurrent_runs
    dp, out = runs[0.1]
    node, time = out.spikes()
    per_neuron = out.spike_times(max_spikes=8)
    assert per_neuron.shape == (5, 8)
    for i in range(5):
        got = np.asarray(per_neuron[i])
        np.testing.assert_allclose(got[np.isfinite(got)], time[node == 6 + i], rtol=1e-15)
    assert np.all(np.diff(time) >= 0)
    first = np.asarray(out.first_spike_times(t_silent=99.0))
    expected = np.where(np.isfinite(per_neuron[:, 0]), per_neuron[:, 0], 99.0)
    np.testing.assert_allclose(first, expected, rtol=1e-14)
    assert np.any(first == 99.0)  # the last neuron never fires
    with pytest.raises(ValueError, match="reset"):
        simulate_discrete(dp, reset="soft")
    with pytest.raises(ValueError, match="dt"):
        discretize(recurrent, 0.0)
    with pytest.raises(ValueError, match="inputs: expected shape"):
        simulate_discrete(dp, inputs=jnp.zeros((10, 6)))
    with pytest.raises(ValueError, match="scalar"):
        surrogate_gradient(dp, lambda o: o.raster)
    with pytest.raises(fpgrad.ProblemError, match="dt"):
        surrogate_gradient(recurrent, lambda o: o.raster.sum())
    assert isinstance(dp.params, DiscreteParams)


def test_surrogate_method_object_in_gradient():
    """``fpgrad.gradient(..., method=Surrogate(...))``: same structure as the exact methods, the
    grid loss converges to the exact loss as dt -> 0 (first-spike times on a ceil grid are late
    by less than dt each), and the surrogate weight gradient points the same way as the exact one
    on a simple first-spike problem."""
    net = fpgrad.feedforward_network([np.array([[0.3], [0.25]])])
    problem = fpgrad.Problem(net, ([1.0, 3.0], [2.0]), 30.0)
    loss = fpgrad.FirstSpikeMSE([2], [4.0])
    exact = fpgrad.gradient(problem, loss, params=["weight", "threshold"])
    for dt in (0.1, 0.01):
        sur = fpgrad.gradient(
            problem,
            loss,
            discrete.Surrogate(dt=dt, surrogate="gaussian", width=0.2),
            params=["weight", "threshold"],
        )
        assert sur.grad.input_time is None and sur.grad.weight.shape == (2,)
        # loss = (T - 4)^2 with T late by < dt: |loss - exact| <= 2 |T - 4| dt + dt^2
        first = fpgrad.simulate(problem).spike_time[0]
        assert abs(sur.loss - exact.loss) <= 2 * abs(first - 4.0) * dt + dt**2
        cos = (
            sur.grad.weight
            @ exact.grad.weight
            / (np.linalg.norm(sur.grad.weight) * np.linalg.norm(exact.grad.weight))
        )
        assert cos > 0.9
    with pytest.raises(fpgrad.ProblemError, match=r"loss: expected a loss object.*got <object"):
        fpgrad.gradient(problem, object(), discrete.Surrogate())


# --- van Rossum on the grid ----------------------------------------------------------------------


def test_van_rossum_grid_is_the_pair_form():
    """The O(T) filtered-raster form equals the O(T^2) closed pair form for arbitrary raster
    weights (so their gradients agree too), and for a 0/1 raster it is VanRossum of the grid
    spike times itself (exact spikes on grid points: equal values)."""
    dt, tau = 0.25, 4.0
    loss = fpgrad.VanRossum({3: [2.3, 7.77], 4: [], 5: [1.0]}, tau=tau)
    problem = fpgrad.Problem(fpgrad.feedforward_network([np.ones((3, 3))]), ([1.0], [], []), 10.0)
    fn = grid_loss(loss, problem)
    t = dt * np.arange(41)

    def k(a, b):  # K(a_i - b_j)
        return np.exp(-np.abs(a[:, None] - b[None, :]) / tau)

    weights = np.random.default_rng(0).uniform(-0.5, 1.5, size=(41, 3))
    expected = 0.0
    for p, target in enumerate(loss.targets.values()):
        r, s = weights[:, p], np.asarray(target)
        expected += 0.5 * (r @ k(t, t) @ r + k(s, s).sum() - 2 * r @ k(t, s).sum(axis=1))
    got = fn(discrete.DiscreteOutput(jnp.asarray(weights), None, dt, 3))
    assert float(got) == pytest.approx(expected, rel=1e-13)

    raster = np.zeros((41, 3))
    raster[[4, 10, 11], 0] = raster[7, 1] = 1.0
    trains = [t[raster[:, p] > 0] for p in range(3)]
    got = fn(discrete.DiscreteOutput(jnp.asarray(raster), None, dt, 3))
    assert float(got) == pytest.approx(loss.formula(trains), rel=1e-14)


@pytest.mark.slow
def test_van_rossum_grid_converges_to_exact(recurrent, recurrent_runs):
    """On the simulated rasters the grid value is VanRossum of the grid spike times, so it
    differs from the exact value by at most the Lipschitz bound (1/tau) max|t_grid - t|
    sum_neurons [n (n - 1) / 2 + n m] (n spikes, m targets): first order in dt. The Surrogate
    method evaluates the same grid loss."""
    exact, runs = recurrent_runs
    tau = 5.0
    loss = fpgrad.VanRossum({6: [3.0, 9.0], 8: [5.0], 10: []}, tau=tau)
    value = fpgrad.gradient(recurrent, loss, params=["weight"]).loss
    fn = grid_loss(loss, recurrent)
    bounds = []
    for dt in DTS:
        _, out = runs[dt]
        node, time = out.spikes()
        trains = [time[node == n] for n in loss.targets]
        grid_value = float(fn(out))
        assert grid_value == pytest.approx(loss.formula(trains), rel=1e-13)
        shift = max(np.max(np.abs(time[node == n] - exact.spikes_of(n)), initial=0) for n in
                    range(6, 11))  # fmt: skip
        pairs = sum(len(exact.spikes_of(n)) * ((len(exact.spikes_of(n)) - 1) / 2 + len(s))
                    for n, s in loss.targets.items())  # fmt: skip
        bounds.append(shift / tau * pairs)
        assert abs(grid_value - value) <= bounds[-1] + 1e-12, dt
    assert bounds[-1] < 0.15 * bounds[0]
    sur = fpgrad.gradient(recurrent, loss, discrete.Surrogate(dt=0.1), params=["weight"])
    assert sur.loss == pytest.approx(float(fn(runs[0.1][1])), rel=1e-14)
    assert np.all(np.isfinite(sur.grad.weight)) and np.any(sur.grad.weight != 0)

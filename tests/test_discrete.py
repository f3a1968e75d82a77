"""The discrete-time JAX model: exact propagators, binning, convergence to the exact simulator,
reset semantics, batching and surrogate-BPTT gradients."""

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
            expected[:, i] += net.weight[k] * kernel(t - landing, net.tau_syn, net.tau_mem[i])
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
    net = problem.network
    m, n = net.n_inputs, net.n_neurons
    steps = math.ceil(problem.t_max / dt - 1e-9)
    x = np.zeros((steps + 1, m))
    for j, train in enumerate(problem.inputs):
        for g in train:
            if math.ceil(g / dt - 1e-9) <= steps:
                x[math.ceil(g / dt - 1e-9), j] += 1
    w = np.zeros((m + n, n))
    for k in range(net.n_synapses):
        w[net.pre[k], net.post[k] - m] += net.weight[k]
    a, b = 1 / net.tau_syn, 1 / net.tau_mem
    alpha, beta = math.exp(-a * dt), np.exp(-b * dt)
    h = (np.exp(-a * dt) - np.exp(-b * dt)) / (b - a)
    r = np.floor(net.t_ref / dt + 0.5)
    v, j, ref = np.zeros(n), np.zeros(n), np.zeros(n)
    raster, volt = np.zeros((steps + 1, n)), np.zeros((steps + 1, n))
    for step in range(steps):
        j = j + x[step] @ w[:m]
        u = beta * v + h * j
        j = alpha * j
        held = ref > 0
        u[held] = 0.0
        s = ((u >= net.threshold) & ~held).astype(float)
        v = u - net.threshold * s if reset == "subtract" else u * (1 - s)
        ref = np.where(s > 0, r, np.maximum(ref - 1, 0))
        j = j + s @ w[m:]
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

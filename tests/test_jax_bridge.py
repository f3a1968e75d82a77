"""fpgrad.jax: exact spike times under jit, grad, jvp and vmap (the JAX bridge).

The reference everywhere is fpgrad's own API on the same problem: ``simulate`` for the spike
times, ``spike_vjp`` / ``gradient`` for reverse mode, ``spike_jvp`` / ``spike_jacobian`` for
forward mode, ``gradient_batch`` for a minibatch, ``fpgrad.train.train`` for a training run; the
bridge must agree to 1e-12 (float64). ``jax.test_util.check_grads`` compares both modes with
finite differences on a problem with large degeneracy margins. Batching is checked by counting
the host callbacks (one per call, whatever the batch).
"""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fpgrad

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
fj = pytest.importorskip("fpgrad.jax")

from jax.test_util import check_grads  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
T_MAX = 30.0
TOL = 1e-12


def smooth_problem() -> fpgrad.Problem:
    """3-3-2 with every model-2 parameter in use (delays, refractoriness, bias, reset below 0,
    per-neuron time constants); the neurons fire 3, 4, 9, 10 and 10 times, margins 0.08; drawn
    so that finite differences of step 1e-4 (``check_grads``'s) are accurate to 1e-6 along
    ``check_grads``' random direction of the first two spikes of every neuron."""
    rng = np.random.default_rng(25)
    net = fpgrad.random_feedforward_network(
        [3, 3, 2], rng, weight_mean=[0.2, 0.2], weight_std=[0.2, 0.2], delay=(0.5, 1.5),
        tau_syn=[4.0, 5.0, 6.0, 5.0, 4.5], tau_mem=[10.0, 12.0, 9.0, 11.0, 10.0], t_ref=0.8,
        bias=0.02, v_reset=-0.1,
    )  # fmt: skip
    inputs = [np.sort(rng.uniform(1.0, 15.0, size=k)) for k in (3, 2, 3)]
    return fpgrad.Problem(net, inputs, T_MAX)


@pytest.fixture(scope="module")
def problem() -> fpgrad.Problem:
    return smooth_problem()


@pytest.fixture(scope="module")
def result(problem) -> fpgrad.SimulationResult:
    return fpgrad.simulate(problem)


def padded(problem: fpgrad.Problem, width: int = 5) -> jax.Array:
    return fj.pad_inputs(problem.inputs, width)


def slots(result: fpgrad.SimulationResult) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of each spike of ``result.spike_time`` in the bridge's output."""
    rows = result.spike_node - result.problem.network.n_inputs
    cols = np.zeros(rows.size, np.int64)
    seen: dict[int, int] = {}
    for s, r in enumerate(rows):
        cols[s] = seen.get(int(r), 0)
        seen[int(r)] = cols[s] + 1
    return rows, cols


def flat_inputs(problem: fpgrad.Problem, g: jax.Array) -> np.ndarray:
    """Padded input-time values (sorted rows, padding last) in fpgrad's flat order."""
    g = np.asarray(g)
    return np.concatenate([g[j, : len(t)] for j, t in enumerate(problem.inputs)])


def max_error(bridge: dict, ref: fpgrad.Gradients, groups=fj.PARAM_GROUPS) -> float:
    return max(float(np.max(np.abs(np.asarray(bridge[g]) - getattr(ref, g)))) for g in groups)


def counted(fn, *args):
    """``fn(*args)`` and how many host callbacks of each kind it ran."""
    before = fj.callback_counts()
    out = jax.block_until_ready(fn(*args))
    after = fj.callback_counts()
    return out, {k: after[k] - before[k] for k in after}


# ------------------------------------------------------------------------------- the contract


def test_import_fpgrad_does_not_import_jax():
    code = "import sys, fpgrad; assert 'jax' not in sys.modules and 'fpgrad.jax' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    assert fj.__name__ == "fpgrad.jax" and fj.params.__module__ == "fpgrad.jax._api"


def test_params_one_float64_array_per_group(problem):
    p = fj.params(problem.network)
    assert tuple(p) == fj.PARAM_GROUPS == (
        "weight", "delay", "threshold", "tau_mem", "tau_syn", "bias", "v_reset", "t_ref",
    )  # fmt: skip
    for g, v in p.items():
        assert v.dtype == jnp.float64
        np.testing.assert_array_equal(np.asarray(v), getattr(problem.network, g))


def test_spike_times_padded_in_node_order(problem, result):
    f = fj.spike_fn(problem.network, t_max=T_MAX, max_spikes=12)
    times = np.asarray(f(fj.params(problem.network), padded(problem)))
    assert times.shape == (5, 12) and times.dtype == np.float64
    rows, cols = slots(result)
    np.testing.assert_array_equal(times[rows, cols], result.spike_time)
    finite = np.isfinite(times)
    assert finite.sum() == result.n_spikes
    assert np.all(finite[:, :-1] >= finite[:, 1:])  # padding after the spikes
    assert all(np.all(np.diff(row[np.isfinite(row)]) > 0) for row in times)  # in order
    # rows in any order, any padding width: the same spikes
    shuffled = np.full((3, 7), np.inf)
    for j, train in enumerate(problem.inputs):
        shuffled[j, 7 - len(train) :] = train[::-1]
    np.testing.assert_array_equal(np.asarray(f(fj.params(problem.network), shuffled)), times)
    # groups left out are the network's
    np.testing.assert_array_equal(np.asarray(f({}, padded(problem))), times)


def test_check_grads_forward_and_reverse(problem):
    # truncated to the first 2 spikes of each neuron (all fire 3-10 times): no padded output,
    # whose finite differences would be inf - inf; padded inputs are in
    f = fj.spike_fn(problem.network, t_max=T_MAX, max_spikes=2, overflow="truncate")
    p, x = fj.params(problem.network), padded(problem)
    assert np.all(np.isfinite(np.asarray(f(p, x)))) and not np.all(np.isfinite(np.asarray(x)))
    check_grads(f, (p, x), order=1, modes=("fwd", "rev"))


def test_reverse_mode_is_spike_vjp_and_gradient(problem, result):
    f = fj.spike_fn(problem.network, t_max=T_MAX, max_spikes=12)
    p, x = fj.params(problem.network), padded(problem)
    ct = np.random.default_rng(1).normal(size=(5, 12))
    (gp, gx), counts = counted(lambda: jax.vjp(f, p, x)[1](jnp.asarray(ct)))
    rows, cols = slots(result)
    ref = fpgrad.spike_vjp(result, ct[rows, cols])
    assert max_error(gp, ref) < TOL
    assert np.max(np.abs(flat_inputs(problem, gx) - ref.input_time)) < TOL
    assert counts["forward"] == counts["vjp"] == 1 and counts["jvp"] == 0
    assert counts["cache_misses"] == 0  # the backward pass reused the forward's records
    # a loss through fpgrad.jax.mse against fpgrad.gradient
    loss = fj.mse(f, [6, 7])
    g = jax.grad(lambda p, x: loss(f(p, x), jnp.array([12.0, 15.0])), argnums=(0, 1))(p, x)
    ref = fpgrad.gradient(problem, fpgrad.FirstSpikeMSE([6, 7], [12.0, 15.0])).grad
    assert max_error(g[0], ref) < TOL
    assert np.max(np.abs(flat_inputs(problem, g[1]) - ref.input_time)) < TOL


def test_forward_mode_is_spike_jvp_and_jacobian(problem, result):
    f = fj.spike_fn(problem.network, t_max=T_MAX, max_spikes=12)
    p, x = fj.params(problem.network), padded(problem)
    rng = np.random.default_rng(2)
    tp = {g: jnp.asarray(rng.normal(size=v.shape)) for g, v in p.items()}
    tx = jnp.asarray(rng.normal(size=x.shape))
    (_, tout), counts = counted(lambda: jax.jvp(f, (p, x), (tp, tx)))
    rows, cols = slots(result)
    direction = {g: np.asarray(v) for g, v in tp.items()} | {"input_time": flat_inputs(problem, tx)}
    ref = fpgrad.spike_jvp(result, direction).tangent
    assert np.max(np.abs(np.asarray(tout)[rows, cols] - ref)) < TOL
    assert counts["jvp"] == 1 and counts["vjp"] == 0 and counts["cache_misses"] == 0
    # a linearized function used twice: the second call simulates again (a cache miss), same value
    _, lin = jax.linearize(f, p, x)
    first, counts = counted(lin, tp, tx)
    again, counts_again = counted(lin, tp, tx)
    assert counts["cache_misses"] == 0 and counts_again["cache_misses"] == 1
    np.testing.assert_array_equal(np.asarray(first), np.asarray(again))
    np.testing.assert_array_equal(np.asarray(first), np.asarray(tout))
    # jacfwd: one forward pass with one column per parameter, = spike_jacobian = jacrev
    (jac_f, jac_x), counts = counted(lambda: jax.jacfwd(f, argnums=(0, 1))(p, x))
    assert counts["jvp"] == 1
    jac = fpgrad.spike_jacobian(result)
    for g in fj.PARAM_GROUPS:
        assert np.max(np.abs(np.asarray(jac_f[g])[rows, cols] - jac[g])) < TOL
    jac_r = jax.jacrev(f)(p, x)
    assert max(float(np.max(np.abs(jac_r[g] - jac_f[g]))) for g in fj.PARAM_GROUPS) < 1e-12
    jac_x = np.asarray(jac_x)  # (5, 12, 3, 5): per output entry, per padded input
    flat_x = np.array([[flat_inputs(problem, jac_x[i, k]) for k in range(12)] for i in range(5)])
    assert np.max(np.abs(flat_x[rows, cols] - jac["input_time"])) < TOL


def test_jit_gives_the_same_values_and_gradients(problem):
    f = fj.spike_fn(problem.network, t_max=T_MAX, max_spikes=12)
    p, x = fj.params(problem.network), padded(problem)
    loss = fj.cross_entropy(f, [6, 7])

    def value(p, x):
        return loss(f(p, x), 1)

    eager = jax.value_and_grad(value, argnums=(0, 1))(p, x)
    jitted, counts = counted(jax.jit(jax.value_and_grad(value, argnums=(0, 1))), p, x)
    assert float(jitted[0]) == float(eager[0])
    for a, b in zip(jax.tree.leaves(jitted[1]), jax.tree.leaves(eager[1]), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert counts["forward"] == 1 and counts["vjp"] == 1
    times = jax.jit(f)(p, x)
    np.testing.assert_array_equal(np.asarray(times), np.asarray(f(p, x)))


# ------------------------------------------------------------------------------- batching


@pytest.fixture(scope="module")
def batch(problem):
    """Six input samples of the problem's network (jittered input times)."""
    rng = np.random.default_rng(3)
    samples = [[t + rng.uniform(-0.5, 0.5, t.size) for t in problem.inputs] for _ in range(6)]
    return samples, fj.pad_batch(samples, 4)


def test_vmap_over_inputs_is_one_callback(problem, batch):
    samples, xb = batch
    f = fj.spike_fn(problem.network, t_max=T_MAX, max_spikes=12, n_threads=2)
    p = fj.params(problem.network)
    times, counts = counted(jax.jit(jax.vmap(f, in_axes=(None, 0))), p, xb)
    assert counts == {"forward": 1, "jvp": 0, "vjp": 0, "samples": 6, "cache_misses": 0}
    for s, sample in enumerate(samples):
        np.testing.assert_array_equal(np.asarray(times[s]), np.asarray(f(p, fj.pad_inputs(sample))))
    # the minibatch gradient: one forward and one reverse callback, = gradient_batch
    loss = fj.cross_entropy(f, [6, 7], tau0=0.5, tau1=6.4, alpha=3e-3)
    labels = jnp.array([0, 1, 1, 0, 1, 0])

    def mean_loss(p, xb):
        return jnp.mean(jax.vmap(loss)(jax.vmap(f, in_axes=(None, 0))(p, xb), labels))

    (value, grad), counts = counted(jax.jit(jax.value_and_grad(mean_loss)), p, xb)
    assert counts["forward"] == 1 and counts["vjp"] == 1 and counts["samples"] == 6
    losses = [fpgrad.FirstSpikeCrossEntropy([6, 7], int(y), 0.5, 6.4, 3e-3) for y in labels]
    ref = fpgrad.gradient_batch(problem.network, samples, T_MAX, losses)
    assert abs(float(value) - ref.loss) < TOL
    assert max_error(grad, ref.grad) < TOL


def test_vmap_over_params_and_per_sample_gradients(problem, batch):
    _, xb = batch
    f = fj.spike_fn(problem.network, t_max=T_MAX, max_spikes=12, n_threads=2)
    p = fj.params(problem.network)
    scale = jnp.linspace(0.9, 1.1, 6)
    pb = {g: jnp.broadcast_to(v, (6, *v.shape)) for g, v in p.items()}
    pb["weight"] = pb["weight"] * scale[:, None]
    times, counts = counted(jax.jit(jax.vmap(f, in_axes=(0, None))), pb, xb[0])
    assert counts["forward"] == 1 and counts["samples"] == 6
    for s in range(6):
        ps = {g: v[s] for g, v in pb.items()}
        np.testing.assert_array_equal(np.asarray(times[s]), np.asarray(f(ps, xb[0])))
    loss = fj.mse(f, [6, 7])

    def one(p, x):
        return loss(f(p, x), jnp.array([12.0, 15.0]))

    # per-sample gradients (params and inputs batched): one forward, one reverse callback
    grads, counts = counted(jax.jit(jax.vmap(jax.grad(one))), pb, xb)
    assert counts["forward"] == 1 and counts["vjp"] == 1
    for s in (0, 5):
        ps = {g: v[s] for g, v in pb.items()}
        single = jax.grad(one)(ps, xb[s])
        for g in fj.PARAM_GROUPS:
            np.testing.assert_array_equal(np.asarray(grads[g][s]), np.asarray(single[g]))
    # a shared parameter under vmap of grad: per-sample gradients of the same network
    grads, counts = counted(jax.jit(jax.vmap(jax.grad(one), in_axes=(None, 0))), p, xb)
    assert counts["forward"] == 1 and counts["vjp"] == 1
    single = jax.grad(one)(p, xb[2])
    np.testing.assert_array_equal(np.asarray(grads["weight"][2]), np.asarray(single["weight"]))


def test_vmap_of_jvp_and_jacobians_is_one_callback(problem, batch):
    _, xb = batch
    f = fj.spike_fn(problem.network, t_max=T_MAX, max_spikes=12, n_threads=2)
    p = fj.params(problem.network)
    tp = {g: jnp.ones_like(v) for g, v in p.items()}

    def jvp_of(x):
        return jax.jvp(lambda p: f(p, x), (p,), (tp,))[1]

    out, counts = counted(jax.jit(jax.vmap(jvp_of)), xb)
    assert counts["forward"] == 1 and counts["jvp"] == 1
    np.testing.assert_array_equal(np.asarray(out[4]), np.asarray(jvp_of(xb[4])))
    jf, counts = counted(jax.jit(jax.vmap(jax.jacfwd(f), in_axes=(None, 0))), p, xb)
    assert counts["jvp"] == 1
    jr, counts = counted(jax.jit(jax.vmap(jax.jacrev(f), in_axes=(None, 0))), p, xb)
    assert counts["vjp"] == 1
    assert max(float(jnp.max(jnp.abs(jf[g] - jr[g]))) for g in fj.PARAM_GROUPS) < TOL


# ------------------------------------------------------------------------------- padding, overflow


def test_padded_entries_have_zero_derivative(problem, result):
    f = fj.spike_fn(problem.network, t_max=T_MAX, max_spikes=12)
    p, x = fj.params(problem.network), padded(problem, 6)
    times = np.asarray(f(p, x))
    pad_out = ~np.isfinite(times)
    tp = {g: jnp.ones_like(v) for g, v in p.items()}
    _, tout = jax.jvp(f, (p, x), (tp, jnp.ones_like(x)))
    assert np.all(np.asarray(tout)[pad_out] == 0.0) and np.any(np.asarray(tout)[~pad_out] != 0)
    # cotangents at the padding are ignored, input-time gradients there are 0
    _, vjp_fn = jax.vjp(f, p, x)
    ct = np.where(pad_out, 1e300, 1.0)
    gp, gx = vjp_fn(jnp.asarray(ct))
    gp0, _ = vjp_fn(jnp.asarray(np.where(pad_out, 0.0, 1.0)))
    assert max(float(jnp.max(jnp.abs(gp[g] - gp0[g]))) for g in gp) == 0.0
    assert np.all(np.asarray(gx)[~np.isfinite(np.asarray(x))] == 0.0)


def test_overflow_raises_or_truncates_and_is_counted(problem, result):
    p, x = fj.params(problem.network), padded(problem)
    strict = fj.spike_fn(problem.network, t_max=T_MAX, max_spikes=3)
    counts = np.bincount(result.spike_node - 3, minlength=5)  # 3, 4, 9, 10, 10
    with pytest.raises(fj.SpikeOverflowError, match=r"neuron 4 fired 4 times .* max_spikes=3"):
        strict(p, x)
    with pytest.raises(Exception, match="max_spikes=3"):  # inside jit: JaxRuntimeError
        jax.block_until_ready(jax.jit(strict)(p, x))
    cut = fj.spike_fn(problem.network, t_max=T_MAX, max_spikes=3, overflow="truncate",
                      with_info=True)  # fmt: skip
    times, info = cut(p, x)
    full = np.asarray(fj.spike_fn(problem.network, t_max=T_MAX, max_spikes=12)(p, x))
    np.testing.assert_array_equal(np.asarray(times), full[:, :3])
    np.testing.assert_array_equal(np.asarray(info.n_spikes), counts)
    np.testing.assert_array_equal(np.asarray(info.truncated(3)), counts > 3)
    # the truncated output is differentiable as such: the cut spikes get no cotangent
    ct = np.random.default_rng(4).normal(size=(5, 3))
    (gp,) = jax.vjp(lambda p: cut(p, x)[0], p)[1](jnp.asarray(ct))
    rows, cols = slots(result)
    kept = cols < 3
    full_ct = np.zeros(result.n_spikes)
    full_ct[kept] = ct[rows[kept], cols[kept]]
    assert max_error(gp, fpgrad.spike_vjp(result, full_ct)) < TOL
    with pytest.raises(fpgrad.ProblemError, match="overflow"):
        fj.spike_fn(problem.network, t_max=T_MAX, max_spikes=3, overflow="clip")


# ------------------------------------------------------------------------------- dtypes, errors


def test_float64_whatever_the_dtypes(problem):
    f = fj.spike_fn(problem.network, t_max=T_MAX, max_spikes=12)
    p, x = fj.params(problem.network), padded(problem)
    p32 = {g: v.astype(jnp.float32) for g, v in p.items()}
    times = f(p32, x.astype(jnp.float32))
    assert times.dtype == jnp.float64
    ref = np.asarray(f({g: v.astype(jnp.float64) for g, v in p32.items()},
                       x.astype(jnp.float32).astype(jnp.float64)))  # fmt: skip
    np.testing.assert_array_equal(np.asarray(times), ref)
    loss = fj.mse(f, [6, 7])
    g32 = jax.grad(lambda p: loss(f(p, x), jnp.array([12.0, 15.0])))(p32)
    assert all(v.dtype == jnp.float32 for v in g32.values())  # JAX's rule: the primal's dtype
    with jax.enable_x64(False), pytest.raises(RuntimeError, match="jax_enable_x64"):
        f(p, x)


def test_bad_arguments_are_clear_errors(problem):
    f = fj.spike_fn(problem.network, t_max=T_MAX, max_spikes=12)
    p, x = fj.params(problem.network), padded(problem)
    with pytest.raises(fpgrad.ProblemError, match="unknown group 'weights'"):
        f({"weights": p["weight"]}, x)
    with pytest.raises(fpgrad.ProblemError, match=r"params\['threshold'\]: expected shape \(5,\)"):
        f({"threshold": jnp.ones(4)}, x)
    with pytest.raises(fpgrad.ProblemError, match=r"input_times: expected shape \(3, L\)"):
        f(p, x[:2])
    with pytest.raises(fpgrad.ProblemError, match=r"input_times\[1, 0\] = -1.0"):
        f(p, x.at[1, 0].set(-1.0))
    with pytest.raises(fpgrad.ProblemError, match="tau_mem"):
        f({"tau_mem": -p["tau_mem"]}, x)

    def total(w):
        t = f({"weight": w}, x)
        return jnp.sum(jnp.where(jnp.isfinite(t), t, 0.0))

    with pytest.raises(NotImplementedError, match="second derivatives"):
        jax.hessian(total)(p["weight"])


# ------------------------------------------------------------------------------- degeneracy


def test_degeneracy_margins_travel_with_each_call(problem, result, batch):
    f = fj.spike_fn(problem.network, t_max=T_MAX, max_spikes=12, with_info=True)
    p = fj.params(problem.network)
    _, info = f(p, padded(problem))
    d = result.degeneracy
    assert float(info.min_peak_gap) == d.min_peak_gap
    assert int(info.peak_gap_neuron) == d.peak_gap_neuron
    assert float(info.peak_gap_time) == d.peak_gap_time
    assert float(info.min_crossing_slope) == d.min_crossing_slope
    assert int(info.crossing_slope_neuron) == d.crossing_slope_neuron
    assert float(info.crossing_slope_time) == d.crossing_slope_time
    assert not bool(info.is_degenerate())
    samples, xb = batch
    (_, infos) = jax.jit(jax.vmap(f, in_axes=(None, 0)))(p, xb)
    assert infos.min_peak_gap.shape == (6,) and infos.n_spikes.shape == (6, 5)
    gaps = [fpgrad.simulate(problem.with_inputs(s)).degeneracy.min_peak_gap for s in samples]
    np.testing.assert_array_equal(np.asarray(infos.min_peak_gap), gaps)
    # near a pattern change: one neuron whose peak sits 1e-9 below threshold
    net = fpgrad.Network(n_inputs=1, n_neurons=1, tau_syn=5.0, tau_mem=10.0, threshold=1.0,
                         pre=[0], post=[1], weight=[0.2])  # fmt: skip
    g = fj.spike_fn(net, t_max=T_MAX, max_spikes=1, with_info=True)
    x1 = jnp.array([[1.0]])
    kernel_peak = (1.0 - float(g({}, x1)[1].min_peak_gap)) / 0.2  # the PSP peak of weight 1
    times, info = g({"weight": jnp.array([(1.0 - 1e-9) / kernel_peak])}, x1)
    assert not np.isfinite(float(times[0, 0])) and 0 < float(info.min_peak_gap) < 1e-8
    assert bool(info.is_degenerate()) and int(info.peak_gap_neuron) == 1


# ------------------------------------------------------------------------------- losses


@pytest.mark.parametrize("kind", ["cross_entropy", "mse", "van_rossum", "spike_count"])
def test_losses_match_fpgrad_losses(kind, problem, result):
    f = fj.spike_fn(problem.network, t_max=T_MAX, max_spikes=12)
    p, x = fj.params(problem.network), padded(problem)
    if kind == "cross_entropy":
        loss, target = fj.cross_entropy(f, [6, 7], tau0=0.5, tau1=6.4, alpha=3e-3), 1
        ref_loss = fpgrad.FirstSpikeCrossEntropy([6, 7], 1, 0.5, 6.4, 3e-3)
    elif kind == "mse":
        loss, target = fj.mse(f, [7, 4]), jnp.array([12.0, 3.0])
        ref_loss = fpgrad.FirstSpikeMSE([7, 4], [12.0, 3.0])
    elif kind == "van_rossum":
        trains = {6: [8.0, 14.0, 20.0], 4: [5.0]}
        loss = fj.van_rossum(f, list(trains), tau=5.0)
        target = jnp.asarray(fj.pad_inputs(list(trains.values())))
        ref_loss = fpgrad.VanRossum(trains, tau=5.0)
    else:
        loss, target = fj.spike_count(f, [3, 7]), jnp.array([2.0, 9.0])
        ref_loss = fpgrad.SpikeCount([3, 7], [2.0, 9.0])
    value, grad = jax.value_and_grad(lambda p: loss(f(p, x), target))(p)
    ref_value, cot = ref_loss.value_and_spike_grad(result)
    assert abs(float(value) - ref_value) < TOL * max(1.0, abs(ref_value))
    assert max_error(grad, fpgrad.spike_vjp(result, cot)) < TOL
    if kind == "spike_count":
        assert all(float(jnp.max(jnp.abs(v))) == 0.0 for v in grad.values())


def test_silent_neuron_counts_at_t_max_without_gradient(problem):
    quiet = problem.network.replace(threshold=[1.0, 1.0, 1.0, 1.0, 50.0])  # node 7 silent
    f = fj.spike_fn(quiet, t_max=T_MAX, max_spikes=12)
    p, x = fj.params(quiet), padded(problem)
    loss = fj.cross_entropy(f, [6, 7])
    value, grad = jax.value_and_grad(lambda p: loss(f(p, x), 0))(p)
    result = fpgrad.simulate(problem.with_network(quiet))
    ref_value, cot = fpgrad.FirstSpikeCrossEntropy([6, 7], 0).value_and_spike_grad(result)
    assert abs(float(value) - ref_value) < TOL and float(grad["threshold"][4]) == 0.0
    assert max_error(grad, fpgrad.spike_vjp(result, cot)) < TOL


# ------------------------------------------------------------------------------- training


def test_yinyang_through_the_bridge_matches_native_training():
    """examples/jax_yinyang.py (plain jax.jit + optax) against ``fpgrad train yinyang --method
    exact`` with the same seed on the same shortened schedule: the same trajectory."""
    from fpgrad.train import TrainConfig, init_params, load_task, train

    example = runpy.run_path(str(ROOT / "examples" / "jax_yinyang.py"))
    task = load_task("yinyang")
    config = TrainConfig(**{**task.defaults, "epochs": 2, "seed": 0})
    train_set = task.train.subset(np.arange(192))
    val_set, test_set = task.validation.subset(np.arange(200)), task.test.subset(np.arange(200))
    native = train(config, train_set, val_set, test_set, progress=False)
    bridge = example["train"](config, train_set, val_set, test_set)
    for a, b in zip(native.history, bridge["history"], strict=True):
        assert abs(a["train_loss"] - b["train_loss"]) < 1e-9
        assert a["train_acc"] == b["train_acc"] and a["val_acc"] == b["val_acc"]
        assert abs(a["val_loss"] - b["val_loss"]) < 1e-9
    assert native.test.accuracy == bridge["test_acc"]
    assert config.learn == ("weight", "delay")  # the task default learns both
    np.testing.assert_allclose(bridge["weight"], native.params.weight, rtol=0, atol=1e-10)
    np.testing.assert_allclose(bridge["delay"], native.params.delay, rtol=0, atol=1e-10)
    drawn = init_params(
        native.model, np.random.default_rng(0), gain=config.init_gain,
        spread=config.init_spread, delay=config.delay,
    ).delay  # fmt: skip
    assert np.ptp(drawn) > 1.0 and np.abs(native.params.delay - drawn).max() > 1e-3

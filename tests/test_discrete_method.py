"""``fpgrad.discrete.Surrogate``'s batch entry (one compiled ``vmap`` over a minibatch) against
its single-problem entry, padding, per-sample clipping and option checks."""

from __future__ import annotations

import numpy as np
import pytest

import fpgrad
from fpgrad._method import NETWORK_GROUPS
from fpgrad.data import load_yinyang
from fpgrad.discrete import Surrogate
from fpgrad.grad._params import group_sizes
from fpgrad.train import Classifier, TrainConfig, init_params

SURROGATE_MODEL = Classifier(sizes=(5, 12, 3), t_ref=2.0, t_max=20.0)  # bursts: resets count
CONFIG = TrainConfig(tau0=1.5, tau1=8.0, alpha=2e-2)
OPTIONS = {"dt": 0.2, "surrogate": "gaussian", "width": 0.3}
GROUPS = ["weight", "threshold"]


@pytest.fixture(scope="module")
def case():
    """Three Yin-Yang samples, parameters with unequal thresholds, their losses, and each
    sample's surrogate gradient from ``fpgrad.gradient(..., Surrogate(...))``."""
    data = load_yinyang("train").subset(np.arange(12))
    params = init_params(SURROGATE_MODEL, np.random.default_rng(1))
    params = type(params)(params.weight, params.threshold * np.linspace(0.9, 1.1, 15))
    index = np.array([2, 7, 11])
    network = SURROGATE_MODEL.network(params)
    losses = CONFIG.losses(SURROGATE_MODEL, data.y[index])
    refs = [
        fpgrad.gradient(
            fpgrad.Problem(network, data.encode()[s], SURROGATE_MODEL.t_max),
            loss,
            Surrogate(**OPTIONS),
            params=GROUPS,
        )
        for s, loss in zip(index, losses, strict=True)
    ]
    return data, network, index, losses, refs


def _batch(case, params=GROUPS, sample_clip=0.0, **options):
    data, network, index, losses, _ = case
    method = Surrogate(**{**OPTIONS, **options})
    prepared = method.prepare(data.encode()).subset(index)
    return method.batch(
        network, prepared, SURROGATE_MODEL.t_max, losses, params=params, sample_clip=sample_clip
    )


def test_batch_equals_mean_of_per_sample_gradients(case):
    """The batched, padded step (chunks of 2: the second holds one masked sample) is the mean of
    the per-sample surrogate gradients: same float64 operations up to the order of the sums, so
    1e-10 relative; this pins the mapping to the parameter layout."""
    refs = case[4]
    res = _batch(case, batch_pad=2)
    np.testing.assert_allclose(res.losses, [r.loss for r in refs], rtol=1e-12)
    for group in GROUPS:
        mean = np.mean([getattr(r.grad, group) for r in refs], axis=0)
        assert np.abs(mean).max() > 1e-3
        np.testing.assert_allclose(
            getattr(res.grad, group), mean, rtol=1e-10, atol=1e-12 * np.abs(mean).max()
        )


@pytest.mark.slow
def test_general_batch_equals_mean_of_per_sample_gradients(case):
    """A batch of other losses (first-spike MSE) takes the general path: same result."""
    data, network, index, _, _ = case
    outputs = [int(o) for o in SURROGATE_MODEL.outputs]
    losses = [fpgrad.FirstSpikeMSE(outputs, [6.0 + k, 8.0, 10.0]) for k in range(3)]
    method = Surrogate(**OPTIONS)
    res = method.batch(network, [data.encode()[s] for s in index], SURROGATE_MODEL.t_max, losses)
    refs = [
        fpgrad.gradient(
            fpgrad.Problem(network, data.encode()[s], SURROGATE_MODEL.t_max), lo, method
        )
        for s, lo in zip(index, losses, strict=True)
    ]
    np.testing.assert_allclose(res.losses, [r.loss for r in refs], rtol=1e-12)
    for group in NETWORK_GROUPS:
        mean = np.mean([getattr(r.grad, group) for r in refs], axis=0)
        np.testing.assert_allclose(
            getattr(res.grad, group), mean, rtol=1e-10, atol=1e-12 * np.abs(mean).max()
        )
    assert res.grad.input_time is None


def test_padding_and_forward_pass(case):
    """Padding with masked samples changes nothing (the forward-only pass without padding gives
    the same losses); ``first_spike_time`` is that of the grid simulation of ``fpgrad.discrete``."""
    data, network, index, _, _ = case
    padded = _batch(case, batch_pad=2)
    forward = _batch(case, params=[], batch_pad=3)
    assert forward.grad is None
    np.testing.assert_allclose(forward.losses, padded.losses, rtol=1e-13)
    np.testing.assert_array_equal(forward.first_spike_time, padded.first_spike_time)
    dp = fpgrad.discrete.discretize(
        network, OPTIONS["dt"], batch=[data.encode()[s] for s in index], t_max=SURROGATE_MODEL.t_max
    )
    raster = np.asarray(fpgrad.discrete.simulate_discrete(dp).raster) > 0.5
    np.testing.assert_array_equal(padded.fired, raster.any(axis=1))
    first = np.where(raster.any(axis=1), OPTIONS["dt"] * np.argmax(raster, axis=1), np.inf)
    np.testing.assert_allclose(padded.first_spike_time, first, rtol=1e-15)
    assert padded.fired.any() and not padded.fired.all()


def test_sample_clip(case):
    """``sample_clip`` scales each sample's gradient to norm <= clip before the mean."""
    refs = case[4]
    norms = [np.linalg.norm(r.grad.flat()) for r in refs]
    clip = float(np.median(norms))  # clips one sample, leaves one, the median one at the edge
    res = _batch(case, sample_clip=clip, batch_pad=2)
    scale = [min(1.0, clip / n) for n in norms]
    for group in GROUPS:
        want = np.mean(
            [s * getattr(r.grad, group) for s, r in zip(scale, refs, strict=True)], axis=0
        )
        plain = np.mean([getattr(r.grad, group) for r in refs], axis=0)
        assert not np.allclose(want, plain)
        np.testing.assert_allclose(getattr(res.grad, group), want, rtol=1e-10, atol=1e-12 * clip)


def test_options_are_checked(case):
    for bad, match in (
        ({"surrogate": "nope"}, "unknown surrogate"),
        ({"dt": 0.0}, "dt"),
        ({"reset": "soft"}, "reset"),
        ({"dtype": "float16"}, "dtype"),
        ({"batch_pad": 0}, "batch_pad"),
    ):
        with pytest.raises(ValueError, match=match):
            Surrogate(**bad)
    # a prepared batch of another grid step is binned anew, not misread
    data, network, index, losses, _ = case
    other = Surrogate(dt=0.5).prepare(data.encode()).subset(index)
    res = Surrogate(**OPTIONS).batch(network, other, SURROGATE_MODEL.t_max, losses)
    np.testing.assert_allclose(res.losses, _batch(case).losses, rtol=1e-13)


@pytest.fixture(scope="module")
def model2_network(case):
    """The classifier of ``case`` in model 2: every third neuron (hidden and output) with delta
    synapses (incoming weights x5, the charge of a 5 ms current synapse), delays of 0 to 5.5
    steps at dt = 0.2 (0.5 ms: an exact half, 3 steps), biases and negative reset values."""
    network = case[1]
    n, m = network.n_neurons, network.n_inputs
    rng = np.random.default_rng(4)
    delta = np.arange(n) % 3 == 1
    return network.replace(
        tau_syn=np.where(delta, 0.0, network.tau_syn),
        weight=np.where(delta[network.post - m], 5.0, 1.0) * network.weight,
        delay=rng.choice([0.0, 0.2, 0.5, 1.1], network.n_synapses),
        bias=0.02 * rng.standard_normal(n),
        v_reset=-0.1 * rng.uniform(size=n),
    )


def test_model2_batch_paths_equal_per_sample_gradients(case, model2_network):
    """On a model-2 network both batch paths (the fused cross-entropy chunks and the general
    one) are the mean of the per-sample ``fpgrad.gradient(..., Surrogate)``, which reports every
    network group in the exact engines' shapes (delay and t_ref zeros, the tau_syn of delta
    neurons 0)."""
    data, _, index, losses, _ = case
    net = model2_network
    method = Surrogate(**OPTIONS)
    samples = [data.encode()[s] for s in index]
    t_max = SURROGATE_MODEL.t_max
    mse = [fpgrad.FirstSpikeMSE([int(o) for o in SURROGATE_MODEL.outputs], [6.0 + k, 8.0, 9.0])
           for k in range(3)]  # fmt: skip
    for batch_losses, groups in ((losses, GROUPS), (mse, list(NETWORK_GROUPS))):
        res = method.batch(net, samples, t_max, batch_losses, params=groups)
        refs = [
            fpgrad.gradient(fpgrad.Problem(net, x, t_max), lo, method, params=groups)
            for x, lo in zip(samples, batch_losses, strict=True)
        ]
        np.testing.assert_allclose(res.losses, [r.loss for r in refs], rtol=1e-12)
        sizes = group_sizes(fpgrad.Problem(net, samples[0], t_max))
        for group in groups:
            mean = np.mean([getattr(r.grad, group) for r in refs], axis=0)
            assert getattr(res.grad, group).shape == mean.shape == (sizes[group],)
            np.testing.assert_allclose(
                getattr(res.grad, group), mean, rtol=1e-10, atol=1e-12 * np.abs(mean).max()
            )
    grad = refs[0].grad
    for group in ("weight", "threshold", "tau_mem", "bias", "v_reset"):
        assert np.any(getattr(grad, group) != 0), group
    np.testing.assert_array_equal(grad.delay, 0.0)
    np.testing.assert_array_equal(grad.t_ref, 0.0)
    np.testing.assert_array_equal(grad.tau_syn[net.tau_syn == 0], 0.0)
    assert np.any(grad.tau_syn[net.tau_syn > 0] != 0)

"""The gradient-method contract (:mod:`fpgrad._method`): every method is a
:class:`fpgrad.GradientMethod` with a ``kind`` and a ``name``; anything else passed as a method
is refused with a message naming the base class; a user subclass implementing only
``_gradient`` works everywhere a built-in does; the fused batch paths (the exact reverse mode's
first-spike loop, the surrogate's ``vmap``) compute what the generic per-sample path computes;
batches are validated; :class:`fpgrad.InputBatch` subsets are views."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import fpgrad
from fpgrad import discrete
from fpgrad._method import NETWORK_GROUPS

WEIGHT_THRESHOLD = ("weight", "threshold")
T_MAX = 20.0
N_SAMPLES = 8


def network() -> fpgrad.Network:
    """A 4-6-3 feedforward network. On INPUTS: 31-34 spikes per sample, the last output always
    silent, smallest degeneracy margins 0.0086-0.062 (samples 4 and 7 below 0.01), per-sample
    (weight, threshold) gradient norms of the cross-entropy 2.5-17 (a clip at 5 clips some
    samples and not others)."""
    rng = np.random.default_rng(7)
    w0 = rng.normal(0.3, 0.15, (4, 6))
    w1 = rng.normal(0.12, 0.15, (6, 3))
    return fpgrad.feedforward_network(
        [w0, w1], tau_mem=rng.uniform(8, 12, 9), threshold=rng.uniform(0.9, 1.1, 9)
    )


NET = network()
OUTPUTS = [NET.n_nodes - 3, NET.n_nodes - 2, NET.n_nodes - 1]
INPUTS = [fpgrad.latency_inputs(x) for x in np.random.default_rng(8).uniform(0, 1, (N_SAMPLES, 4))]
CE = [fpgrad.FirstSpikeCrossEntropy(OUTPUTS, b % 3) for b in range(N_SAMPLES)]
MSE = [fpgrad.FirstSpikeMSE(OUTPUTS[:2], [8.0 + b % 2, 9.0]) for b in range(N_SAMPLES)]
VAN_ROSSUM = [
    fpgrad.VanRossum({OUTPUTS[0]: [8.0 + b % 2], OUTPUTS[1]: [9.0]}, tau=5.0)
    for b in range(N_SAMPLES)
]


def problem(b: int) -> fpgrad.Problem:
    return fpgrad.Problem(NET, INPUTS[b], T_MAX)


def singles(losses, method=None, params=WEIGHT_THRESHOLD, tol=1e-6):
    return [
        fpgrad.gradient(problem(b), loss, method, params=params, degeneracy_tol=tol)
        for b, loss in enumerate(losses)
    ]


def assert_close(got: np.ndarray, want: np.ndarray, rtol: float) -> None:
    """``max |got - want| <= rtol * max |want|`` (group-scaled: entries near 0 carry no
    relative precision of their own)."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape
    assert np.all(np.isfinite(got))
    assert np.max(np.abs(got - want), initial=0.0) <= rtol * np.max(np.abs(want), initial=0.0)


def first_spikes(result: fpgrad.SimulationResult) -> np.ndarray:
    net = result.problem.network
    first = np.full(net.n_neurons, np.inf)
    for node, time in zip(result.spike_node[::-1], result.spike_time[::-1], strict=True):
        first[node - net.n_inputs] = time
    return first


def clipped(grad: fpgrad.Gradients, limit: float) -> np.ndarray:
    flat = grad.flat()
    norm = np.linalg.norm(flat)
    return flat * (limit / norm) if norm > limit else flat


# --- (a) the built-in methods ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "kind", "name"),
    [
        (fpgrad.ExactReverse(), "exact", "exact-reverse"),
        (fpgrad.ExactForward(), "exact", "exact-forward"),
        (fpgrad.FiniteDifference(), "finite-difference", "finite-difference"),
        (fpgrad.FiniteDifference(steps=(6e-6,), richardson=False), "finite-difference",
         "finite-difference"),
        (discrete.Surrogate(), "surrogate", "surrogate-fast_sigmoid-dt0.1"),
        (discrete.Surrogate(dt=0.25, surrogate="gaussian"), "surrogate",
         "surrogate-gaussian-dt0.25"),
    ],
)  # fmt: skip
def test_builtin_methods(method, kind, name):
    assert isinstance(method, fpgrad.GradientMethod)
    assert method.kind == kind and method.name == name
    assert method.exact is (kind == "exact")
    res = fpgrad.gradient(problem(0), MSE[0], method, params=["threshold"])
    assert isinstance(res, fpgrad.GradientResult) and res.method == name
    assert res.grad.threshold.shape == (NET.n_neurons,) and res.grad.weight is None


def test_the_base_class_is_abstract():
    with pytest.raises(TypeError):
        fpgrad.GradientMethod()

    class NoGradient(fpgrad.GradientMethod):
        kind = "exact"

    with pytest.raises(TypeError):
        NoGradient()


# --- (b) anything else is refused ----------------------------------------------------------------


def plain_function(problem, loss, params, tol):  # the former callable-method protocol
    return fpgrad.ExactReverse().gradient(problem, loss, params=params)


@pytest.mark.parametrize(
    "method",
    [plain_function, fpgrad.ExactReverse, discrete.Surrogate, "exact-reverse", 0, [], object()],
    ids=["function", "class", "surrogate-class", "string", "zero", "list", "object"],
)
def test_non_methods_are_refused(method):
    with pytest.raises(fpgrad.ProblemError, match="GradientMethod"):
        fpgrad.gradient(problem(0), MSE[0], method)
    with pytest.raises(fpgrad.ProblemError, match="GradientMethod"):
        fpgrad.gradient_batch(NET, INPUTS[:2], T_MAX, MSE[:2], method)


def test_a_class_is_refused_with_the_instance_to_pass():
    with pytest.raises(fpgrad.ProblemError, match=r"ExactReverse\(\)"):
        fpgrad.gradient(problem(0), MSE[0], fpgrad.ExactReverse)


# --- (c) a user subclass with only _gradient ------------------------------------------------------


class Rescaled(fpgrad.GradientMethod):
    """A user method: the exact reverse-mode result, its gradient scaled by ``factor``."""

    kind = "exact"

    def __init__(self, factor: float = 1.0) -> None:
        self.factor = factor

    @property
    def name(self) -> str:
        return "rescaled"

    def _gradient(self, problem, loss, params, tol):
        res = fpgrad.ExactReverse().gradient(problem, loss, params=params, degeneracy_tol=tol)
        return dataclasses.replace(res, grad=res.grad.scale(self.factor), method=self.name)


def test_user_subclass_in_gradient():
    res = fpgrad.gradient(problem(1), MSE[1], Rescaled())
    ref = fpgrad.gradient(problem(1), MSE[1])
    assert res.method == "rescaled" and res.loss == ref.loss
    np.testing.assert_array_equal(res.grad.flat(), ref.grad.flat())
    assert set(res.grad.groups()) == set(fpgrad.GROUPS)  # default params: every group
    doubled = fpgrad.gradient(problem(1), MSE[1], Rescaled(2.0), params=["weight"])
    np.testing.assert_array_equal(doubled.grad.weight, 2 * ref.grad.weight)
    with pytest.raises(fpgrad.ProblemError, match="unknown parameter group 'gain'"):
        fpgrad.gradient(problem(1), MSE[1], Rescaled(), params=["gain"])


@pytest.mark.parametrize("losses", [CE, MSE], ids=["cross-entropy", "mse"])
def test_user_subclass_in_gradient_batch(losses):
    """The generic per-sample path: per-sample results kept, the mean of their gradients."""
    batch = fpgrad.gradient_batch(NET, INPUTS, T_MAX, losses, Rescaled(), n_threads=2)
    ones = singles(losses, params=NETWORK_GROUPS)
    assert batch.method == "rescaled" and batch.samples is not None
    assert len(batch.samples) == N_SAMPLES
    assert set(batch.grad.groups()) == set(NETWORK_GROUPS)  # default: every network group
    assert batch.grad.input_time is None  # per-sample groups are not averaged
    mean = np.mean([s.grad.flat() for s in ones], axis=0)
    assert_close(batch.grad.flat(), mean, 1e-12)
    np.testing.assert_allclose(batch.losses, [s.loss for s in ones], rtol=1e-12)
    assert batch.loss == pytest.approx(np.mean([s.loss for s in ones]), rel=1e-12)
    np.testing.assert_array_equal(
        batch.first_spike_time, np.stack([first_spikes(s.result) for s in ones])
    )
    np.testing.assert_array_equal(batch.degenerate, [s.degenerate for s in ones])
    assert batch.fired.shape == (N_SAMPLES, NET.n_neurons) and not batch.fired[:, -1].any()
    for b, sample in enumerate(batch.samples):
        np.testing.assert_array_equal(sample.result.spike_time, ones[b].result.spike_time)


def test_user_subclass_in_gradcheck():
    report = fpgrad.testing.gradcheck(
        problem(2), MSE[0], params=["weight", "tau_syn"], methods=[Rescaled()]
    )
    assert report.passed, report
    assert {r.method for r in report.rows} == {"rescaled"}
    wrong = fpgrad.testing.gradcheck(
        problem(2), MSE[0], params=["weight", "tau_syn"], methods=[Rescaled(1.01)]
    )
    assert not wrong.passed
    assert {(r.method, r.group) for r in wrong.failures} == {
        ("rescaled", "weight"),
        ("rescaled", "tau_syn"),
    }


# --- (d) the fused first-spike batch of ExactReverse ------------------------------------------


def generic_batch(losses, params=WEIGHT_THRESHOLD, tol=1e-6, sample_clip=0.0):
    """ExactReverse through the base class's per-sample batch path."""
    return fpgrad.GradientMethod._batch(
        fpgrad.ExactReverse(),
        NET,
        fpgrad.InputBatch(INPUTS),
        T_MAX,
        list(losses),
        tuple(params),
        tol,
        sample_clip,
        None,
    )


@pytest.mark.parametrize("losses", [CE, MSE], ids=["cross-entropy", "mse"])
@pytest.mark.parametrize(
    "params",
    [WEIGHT_THRESHOLD, ("weight",), ("threshold",), ("weight", "tau_mem"), NETWORK_GROUPS],
    ids=["weight-threshold", "weight", "threshold", "weight-tau_mem", "network-groups"],
)
def test_fused_first_spike_batch_equals_per_sample(losses, params):
    tol = 1e-2  # flags samples 4 and 7 (peak gaps 0.0086 and 0.0099), not the others
    fused = fpgrad.gradient_batch(NET, INPUTS, T_MAX, losses, params=params, degeneracy_tol=tol)
    assert fused.samples is None, "the fused path must be taken"
    generic = generic_batch(losses, params, tol)
    ones = singles(losses, params=params, tol=tol)
    assert fused.method == generic.method == "exact-reverse"
    np.testing.assert_allclose(fused.losses, generic.losses, rtol=1e-12)
    np.testing.assert_allclose(fused.losses, [s.loss for s in ones], rtol=1e-12)
    assert fused.loss == pytest.approx(generic.loss, rel=1e-12)
    for group in fpgrad.grad.GROUPS:
        if group in params:
            assert_close(getattr(fused.grad, group), getattr(generic.grad, group), 1e-12)
        else:
            assert getattr(fused.grad, group) is None
    np.testing.assert_array_equal(fused.first_spike_time, generic.first_spike_time)
    np.testing.assert_array_equal(
        fused.first_spike_time, np.stack([first_spikes(s.result) for s in ones])
    )
    assert np.isinf(fused.first_spike_time[:, -1]).all()  # the silent output
    np.testing.assert_array_equal(fused.degenerate, generic.degenerate)
    np.testing.assert_array_equal(fused.degenerate, [s.degenerate for s in ones])
    assert 0 < fused.n_degenerate < N_SAMPLES


@pytest.mark.parametrize(
    ("params", "limit"), [(WEIGHT_THRESHOLD, 5.0), (NETWORK_GROUPS, None)], ids=["wt", "all"]
)
def test_fused_cross_entropy_batch_with_sample_clip(params, limit):
    """Each sample's gradient over the requested groups clipped to a norm (5 for (weight,
    threshold); the median norm for every network group) before averaging, against clipping
    each per-sample gradient by hand."""
    ones = singles(CE, params=params)
    norms = [np.linalg.norm(s.grad.flat()) for s in ones]
    limit = float(np.median(norms)) if limit is None else limit
    assert min(norms) < limit < max(norms)  # some samples clipped, some not
    want = np.mean([clipped(s.grad, limit) for s in ones], axis=0)
    fused = fpgrad.gradient_batch(NET, INPUTS, T_MAX, CE, params=params, sample_clip=limit)
    assert fused.samples is None
    generic = generic_batch(CE, params=params, sample_clip=limit)
    assert_close(fused.grad.flat(), want, 1e-12)
    assert_close(generic.grad.flat(), want, 1e-12)
    unclipped = fpgrad.gradient_batch(NET, INPUTS, T_MAX, CE, params=params)
    assert np.linalg.norm(unclipped.grad.flat() - fused.grad.flat()) > 1e-3  # it did clip
    np.testing.assert_allclose(fused.losses, unclipped.losses, rtol=0)
    # a clip above every norm changes nothing
    loose = fpgrad.gradient_batch(NET, INPUTS, T_MAX, CE, params=params,
                                  sample_clip=2 * max(norms))  # fmt: skip
    assert_close(loose.grad.flat(), unclipped.grad.flat(), 1e-12)


def test_fused_batch_on_a_prepared_subset():
    """A training loop prepares once and passes subsets: the same as the raw samples."""
    prepared = fpgrad.ExactReverse().prepare(INPUTS)
    index = [5, 2, 7]
    sub = fpgrad.gradient_batch(NET, prepared.subset(index), T_MAX, [CE[i] for i in index],
                                params=WEIGHT_THRESHOLD)  # fmt: skip
    raw = fpgrad.gradient_batch(NET, [INPUTS[i] for i in index], T_MAX, [CE[i] for i in index],
                                params=WEIGHT_THRESHOLD)  # fmt: skip
    assert sub.samples is None and raw.samples is None
    np.testing.assert_array_equal(sub.losses, raw.losses)
    np.testing.assert_array_equal(sub.first_spike_time, raw.first_spike_time)
    assert_close(sub.grad.flat(), raw.grad.flat(), 1e-14)


def test_non_fusable_batches_run_per_sample():
    """Input times (the one group the fused path lacks: per sample, not averaged), losses that
    are not first-spike losses, two kinds of them mixed, or losses differing in their outputs
    or constants: the generic path."""
    cases = [
        (CE, ["weight", "input_time"]),
        (VAN_ROSSUM, list(WEIGHT_THRESHOLD)),
        ([*CE[:-1], MSE[-1]], list(WEIGHT_THRESHOLD)),
        ([*CE[:-1], fpgrad.FirstSpikeCrossEntropy(OUTPUTS[:2], 0)], list(WEIGHT_THRESHOLD)),
        ([*CE[:-1], fpgrad.FirstSpikeCrossEntropy(OUTPUTS, 0, tau0=3.0)], ["weight"]),
        ([*MSE[:-1], fpgrad.FirstSpikeMSE(OUTPUTS[1:], [8.0, 9.0])], ["weight"]),
    ]
    for losses, params in cases:
        batch = fpgrad.gradient_batch(NET, INPUTS, T_MAX, losses, params=params)
        assert batch.samples is not None and len(batch.samples) == N_SAMPLES
        ones = singles(losses, params=params)
        shared = [name for name in params if name != "input_time"]
        mean = np.mean([s.grad.select(shared).flat() for s in ones], axis=0)
        assert_close(batch.grad.flat(), mean, 1e-12)
        if "input_time" in params:  # in each sample's result, as computed alone
            assert batch.grad.input_time is None
            for sample, one in zip(batch.samples, ones, strict=True):
                np.testing.assert_array_equal(sample.grad.input_time, one.grad.input_time)


# --- (e) batch validation ----------------------------------------------------------------------


@pytest.mark.parametrize("losses", [CE, VAN_ROSSUM], ids=["fused", "generic"])
def test_batch_validation(losses):
    def run(inputs=INPUTS, batch_losses=losses, **kwargs):
        return fpgrad.gradient_batch(NET, inputs, T_MAX, batch_losses, **kwargs)

    with pytest.raises(fpgrad.ProblemError, match="8 samples and 7 losses"):
        run(batch_losses=losses[:-1])
    with pytest.raises(fpgrad.ProblemError, match="at least one sample"):
        run(inputs=[], batch_losses=[])
    for clip in (-1.0, np.nan, np.inf):
        with pytest.raises(fpgrad.ProblemError, match="sample_clip"):
            run(sample_clip=clip)
    with pytest.raises(fpgrad.ProblemError, match="unknown parameter group 'weights'"):
        run(params=["weight", "weights"])
    with pytest.raises(fpgrad.ProblemError, match="the string 'weight'"):
        run(params="weight")
    with pytest.raises(fpgrad.ProblemError, match="t_max"):
        fpgrad.gradient_batch(NET, INPUTS, -1.0, losses)
    with pytest.raises(fpgrad.ProblemError, match="degeneracy_tol"):
        run(degeneracy_tol=-1.0)
    with pytest.raises(fpgrad.ProblemError, match="network"):
        fpgrad.gradient_batch(problem(0), INPUTS, T_MAX, losses)
    with pytest.raises(fpgrad.ProblemError, match="loss"):
        run(batch_losses=[*losses[:-1], "mse"])


@pytest.mark.parametrize("losses", [CE, MSE], ids=["fused", "generic"])
def test_batch_without_params_gives_losses_only(losses):
    batch = fpgrad.gradient_batch(NET, INPUTS, T_MAX, losses, params=[])
    assert batch.grad is None
    np.testing.assert_allclose(batch.losses, [s.loss for s in singles(losses)], rtol=1e-12)
    assert batch.loss == pytest.approx(np.mean(batch.losses), rel=1e-15)
    assert batch.first_spike_time.shape == (N_SAMPLES, NET.n_neurons)


@pytest.mark.parametrize("losses", [CE, MSE], ids=["fused", "generic"])
def test_batch_checks_inputs_and_loss_neurons_on_every_path(losses):
    """What the per-sample path refuses, the fused path must refuse too: samples with the
    wrong number of trains, and losses reading nodes that are not neurons."""
    for n_trains in (3, 5):
        wrong = [fpgrad.latency_inputs(np.full(n_trains, 0.5))] * 2
        with pytest.raises(fpgrad.ProblemError, match="spike trains"):
            fpgrad.gradient_batch(NET, wrong, T_MAX, losses[:2], params=["weight"])
    kind = type(losses[0])
    for nodes in ([0, 1], [100, 101]):  # inputs, beyond the network
        bad = [kind(nodes, 0) if kind is fpgrad.FirstSpikeCrossEntropy else kind(nodes, [1, 2])]
        with pytest.raises(fpgrad.ProblemError, match="not a neuron"):
            fpgrad.gradient_batch(NET, INPUTS[:1], T_MAX, bad, params=["weight"])


# --- (f) InputBatch ----------------------------------------------------------------------------


def test_input_batch_subset_is_a_view():
    batch = fpgrad.InputBatch(INPUTS)
    assert len(batch) == N_SAMPLES and batch.n_inputs == 4
    sub = batch.subset([2, 0, 5])
    assert len(sub) == 3 and sub.index.tolist() == [2, 0, 5]

    def shared(a, b):  # the same trains, as views of the same memory (no copy)
        pairs = zip(a, b, strict=True)
        return all(np.shares_memory(x, y) and np.array_equal(x, y) for x, y in pairs)

    assert shared(sub.sample(0), batch.sample(2)) and shared(sub.sample(2), batch.sample(5))
    nested = sub.subset([2])
    assert nested.index.tolist() == [5] and shared(nested.sample(0), batch.sample(5))
    assert shared(fpgrad.InputBatch(batch).sample(3), batch.sample(3))
    # the trains are private, sorted, read-only copies
    mine = [np.array([3.0, 1.0]), np.array([2.0])]
    owned = fpgrad.InputBatch([mine])
    mine[0][0] = 99.0
    np.testing.assert_array_equal(owned.sample(0)[0], [1.0, 3.0])
    assert not owned.sample(0)[0].flags.writeable
    for index in ([], [8], [0, 9]):
        with pytest.raises(fpgrad.ProblemError, match="index"):
            batch.subset(index)


def test_input_batch_merges_once_for_all_subsets():
    """The merged input layout is computed once per dataset and shared by its subsets (a
    training loop passes a new subset per minibatch)."""
    batch = fpgrad.InputBatch(INPUTS)
    first = batch.subset([0, 1]).merged()
    assert batch.subset([4, 5]).merged() is first
    assert batch.merged() is first
    assert first["ptr"].shape == (N_SAMPLES + 1,)


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ([[[1.0], [2.0]], [[1.0], [-2.0]]], r"inputs\[1\]: .*inputs\[1\]"),
        ([[[1.0], [2.0]], [[1.0], [2.0]], [[np.nan], [2.0]]], r"inputs\[2\]: .*inputs\[0\]"),
        ([[[1.0], [2.0]], [[1.0], [np.inf]]], r"inputs\[1\]"),
        ([[[1.0], [2.0]], [[1.0]]], r"inputs\[1\]: .*expected 2 spike trains"),
        ([[[1.0], [[2.0, 3.0]]]], r"inputs\[0\]: .*flat list"),
        ([], "at least one sample"),
        ("spikes", "expected a sequence of samples"),
        (3.0, "expected a sequence of samples"),
    ],
)
def test_input_batch_rejects_bad_trains(inputs, message):
    with pytest.raises(fpgrad.ProblemError, match=message):
        fpgrad.InputBatch(inputs)

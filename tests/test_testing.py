"""The gradient-checking toolkit itself: gradcheck must pass exact gradients and fail wrong ones
(a perturbed entry, a flipped sign, a smoothed surrogate-like gradient passed as exact), the
strategies must always produce problems that meet their stated margins, and ``fpgrad check``
must exit 0 / 1 / 2 for pass / fail / bad input."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

import fpgrad
from fpgrad.cli import main
from fpgrad.grad import GROUPS
from fpgrad.testing import (
    _selftest,
    as_gradients,
    assert_external_close,
    assert_gradients_close,
    compare_external,
    finite_difference,
    gradcheck,
)
from fpgrad.testing import strategies as fst


def tiny_problem(seed: int = 0) -> fpgrad.Problem:
    """3-3-2 feedforward, weights ~0.12, Poisson 100 Hz over 25 ms: a few spikes per neuron."""
    rng = np.random.default_rng(seed)
    net = fpgrad.random_feedforward_network([3, 3, 2], rng, weight_mean=0.12, weight_std=0.05)
    return fpgrad.Problem(net, fpgrad.poisson_inputs(3, 100.0, 25.0, rng), 25.0)


LOSS = fpgrad.FirstSpikeMSE([6, 7], [5.0, 8.0])


@dataclasses.dataclass(frozen=True)
class Corrupted(fpgrad.GradientMethod):
    """A method object returning the exact gradient passed through ``corrupt`` (a fake buggy
    implementation claiming to be exact). ``name`` is what it reports as
    ``GradientResult.method``."""

    corrupt: object
    name: str = "my-exact"
    kind = "exact"

    def _gradient(self, problem, loss, params, tol):
        res = fpgrad.ExactReverse().gradient(problem, loss, params=params, degeneracy_tol=tol)
        grad = fpgrad.Gradients(
            **{k: self.corrupt(k, v.copy()) for k, v in res.grad.groups().items()}
        )
        return dataclasses.replace(res, grad=grad, method=self.name)


class SurrogateLike(Corrupted):
    """The same, declaring itself a surrogate (``kind = "surrogate"``): reported, never
    required."""

    kind = "surrogate"


def perturb_one(group, values):
    if group == "weight":
        values[int(np.argmax(np.abs(values)))] *= 1.001
    return values


def flip_sign(group, values):
    return -values if group == "threshold" else values


def smooth(group, values):
    """A surrogate-like gradient: right direction, blurred and shrunk (cosine ~0.99)."""
    return 0.8 * values + 0.05 * np.abs(values).max() * np.cos(np.arange(values.size))


@pytest.fixture(scope="module")
def problem():
    problem = tiny_problem()
    result = fpgrad.simulate(problem)
    assert 10 <= result.n_spikes <= 60
    assert not result.degeneracy.is_degenerate(1e-3, 1e-2)
    return problem


@pytest.mark.parametrize(
    "loss",
    [
        LOSS,
        fpgrad.FirstSpikeCrossEntropy([6, 7], 1),
        fpgrad.VanRossum({6: [4.0, 12.0], 7: [9.0]}, tau=5.0),
    ],
    ids=["mse", "ce", "van-rossum"],
)
def test_gradcheck_passes_exact_gradients(problem, loss):
    report = gradcheck(problem, loss)
    assert report.passed, report
    assert not report.near_degenerate
    methods = {r.method for r in report.rows}
    assert methods == {"exact-reverse", "exact-forward", "exact-forward-online"}
    assert {r.group for r in report.rows} == set(GROUPS)
    assert all(r.rel_error < 1e-7 and r.cosine > 1 - 1e-12 for r in report.rows)
    fwd_rev = [r for r in report.rows if r.reference == "exact-reverse"]
    assert len(fwd_rev) == 2 * len(GROUPS) and all(r.rel_error < 1e-12 for r in fwd_rev)
    text = repr(report)
    assert text.startswith("gradcheck PASSED") and "rtol = 1e-05" in text
    assert "degeneracy margins" in text and "FAIL" not in text


@pytest.mark.parametrize(
    ("corrupt", "failing"),
    [(perturb_one, {"weight"}), (flip_sign, {"threshold"}), (smooth, set(GROUPS))],
    ids=["one-entry", "sign", "surrogate-like"],
)
def test_gradcheck_fails_wrong_gradients(problem, corrupt, failing):
    report = gradcheck(problem, LOSS, methods=[fpgrad.ExactReverse(), Corrupted(corrupt)])
    assert not report.passed
    failed = {(r.method, r.group) for r in report.failures}
    assert failed == {("my-exact", g) for g in failing}
    with pytest.raises(AssertionError, match="gradcheck FAILED") as info:
        assert_gradients_close(problem, LOSS, methods=[Corrupted(corrupt)])
    message = str(info.value)
    assert "my-exact" in message and "FAIL" in message and "rel err" in message


def test_one_perturbed_entry_is_located(problem):
    report = gradcheck(problem, LOSS, params=["weight"], methods=[Corrupted(perturb_one)])
    (row,) = report.failures
    exact = fpgrad.gradient(problem, LOSS, params=["weight"]).grad.weight
    assert row.worst_index == int(np.argmax(np.abs(exact)))
    assert row.rel_error == pytest.approx(1e-3, rel=1e-3)


def test_surrogate_is_compared_but_never_required(problem):
    surrogate = SurrogateLike(smooth, name="surrogate-bptt")
    report = gradcheck(problem, LOSS, methods=[fpgrad.ExactReverse(), surrogate])
    assert report.passed, report
    rows = [r for r in report.rows if r.method == "surrogate-bptt"]
    assert rows and not any(r.required or r.passed for r in rows)
    assert all(0.9 < r.cosine < 1.0 for r in rows if r.size > 1)
    assert "(info)" in repr(report)
    # the same via compare_only, under a name of the caller's choosing
    report = gradcheck(problem, LOSS, compare_only={"approx": Corrupted(smooth)})
    assert report.passed and any(r.method == "approx" and not r.required for r in report.rows)


def test_given_gradients_are_checked(problem):
    exact = fpgrad.gradient(problem, LOSS).grad
    assert gradcheck(problem, LOSS, methods={"mine": exact.groups()}).passed
    wrong = {"weight": exact.weight, "tau_syn": -exact.tau_syn}
    report = gradcheck(problem, LOSS, methods={"mine": wrong})
    assert {(r.method, r.group) for r in report.failures} == {("mine", "tau_syn")}
    with pytest.raises(fpgrad.ProblemError, match="expected 15 values"):
        gradcheck(problem, LOSS, methods={"mine": {"weight": exact.weight[:-1]}})
    with pytest.raises(fpgrad.ProblemError, match="unknown parameter group 'weights'"):
        gradcheck(problem, LOSS, methods={"mine": {"weights": exact.weight}})


def test_near_degenerate_problem_is_flagged():
    """A peak 1e-7 below threshold: the margin is reported, and the report says so."""
    net = fpgrad.Network(1, 1, 5.0, 10.0, 1.0, pre=[0], post=[1], weight=[(1.0 - 1e-7) / 2.5])
    problem = fpgrad.Problem(net, ([1.0],), 30.0)
    report = gradcheck(problem, fpgrad.FirstSpikeMSE([1], [5.0]), params=["weight"])
    assert report.near_degenerate
    assert report.degeneracy.min_peak_gap == pytest.approx(1e-7, rel=1e-3)
    # the neuron is reported by its global node id (after the one input)
    assert report.degeneracy.peak_gap_neuron == net.n_inputs + 0
    text = repr(report)
    assert "NEAR-DEGENERATE" in text and f"1.00e-07 (neuron {net.n_inputs + 0}," in text
    # steps of 1e-3 and 1e-4 make the neuron fire: discarded, the smaller ones kept
    assert report.fd.n_discarded >= 2
    assert "changed the causal order of the spikes" in text


def test_finite_difference_selects_agreeing_steps(problem):
    fd = finite_difference(problem, LOSS, params=["weight", "tau_syn"])
    exact = fpgrad.gradient(problem, LOSS, params=["weight", "tau_syn"]).grad
    scale = np.abs(exact.weight).max()
    assert np.all(fd.uncertainty.weight < 1e-6 * scale)
    np.testing.assert_allclose(fd.grad.weight, exact.weight, rtol=0, atol=1e-7 * scale)
    assert set(np.unique(fd.step.weight)) <= set(fpgrad.testing.DEFAULT_FD_STEPS)
    res = fpgrad.gradient(problem, LOSS, fpgrad.FiniteDifference(), params=["tau_syn"])
    assert res.method == "finite-difference" and not res.degenerate
    np.testing.assert_allclose(res.grad.tau_syn, fd.grad.tau_syn, rtol=1e-14)
    # one step: that step's Richardson value, with an unknown (infinite) uncertainty
    single = finite_difference(problem, LOSS, params=["tau_syn"], steps=[1e-4])
    assert np.all(np.isinf(single.uncertainty.tau_syn)) and np.all(single.step.tau_syn == 1e-4)
    np.testing.assert_allclose(single.grad.tau_syn, exact.tau_syn, rtol=1e-7)
    for bad in ([], [0.0], [1e-4, 1.5]):
        with pytest.raises(fpgrad.ProblemError, match="steps"):
            finite_difference(problem, LOSS, steps=bad)
        with pytest.raises(fpgrad.ProblemError, match="steps"):
            fpgrad.FiniteDifference(steps=bad)


def test_compare_external(problem):
    exact = fpgrad.gradient(problem, LOSS).grad
    same = compare_external(problem, LOSS, exact, rtol=1e-12)
    assert same.passed and same.overall.cosine == pytest.approx(1.0, abs=1e-15)
    assert all(g.rel_error == 0.0 and g.sign_agreement == 1.0 for g in same.groups)
    assert same.passed is True and all(g.passed is True for g in same.groups)
    doubled = compare_external(
        problem, LOSS, {"weight": 2 * exact.weight, "tau_mem": exact.tau_mem}
    )
    # the verdict is always a bool: at the default rtol a doubled group fails
    assert doubled.passed is False and doubled.rtol == fpgrad.testing.DEFAULT_EXTERNAL_RTOL
    assert [g.passed for g in doubled.groups] == [False, True]
    assert [g.group for g in doubled.groups] == ["weight", "tau_mem"]
    weight = doubled.groups[0]
    assert weight.cosine == pytest.approx(1.0) and weight.norm_ratio == pytest.approx(2.0)
    assert weight.rel_error == pytest.approx(1.0)
    flipped = compare_external(problem, LOSS, {"threshold": -exact.threshold}, rtol=0.5)
    assert flipped.passed is False and flipped.groups[0].cosine == pytest.approx(-1.0)
    text = repr(flipped)
    assert "FAILED" in text and "threshold" in text and "cosine" in text
    with pytest.raises(fpgrad.ProblemError, match="not finite"):
        compare_external(problem, LOSS, {"weight": np.full(15, np.nan)})


def test_compare_external_fails_one_wrong_weight(problem):
    """One weight 9 % off (a wrong term): failed at the default rtol, and the assertion's
    message holds the whole table, every group's row included; the exact gradient passes."""
    exact = fpgrad.gradient(problem, LOSS).grad
    wrong = {k: v.copy() for k, v in exact.groups().items()}
    wrong["weight"][int(np.argmax(np.abs(wrong["weight"])))] *= 1.09
    comparison = compare_external(problem, LOSS, wrong)
    assert comparison.passed is False
    assert comparison.rtol == fpgrad.testing.DEFAULT_EXTERNAL_RTOL == 1e-6
    assert {g.group: g.passed for g in comparison.groups} == {g: g != "weight" for g in GROUPS}
    assert comparison.groups[0].rel_error > 1e-3
    with pytest.raises(AssertionError) as info:
        assert_external_close(problem, LOSS, wrong)
    message = str(info.value)
    assert "FAILED" in message and "rtol = 1e-06" in message
    rows = {line.split()[0]: line for line in message.splitlines() if line.split()}
    for group in GROUPS:
        assert group in rows, (group, message)
        assert rows[group].rstrip().endswith("FAIL" if group == "weight" else "ok"), rows[group]
    assert rows["all"].rstrip().endswith("(info)")
    passed = assert_external_close(problem, LOSS, exact)
    assert passed.passed is True and "PASSED" in repr(passed)


def test_as_gradients_rejects_a_bare_array(problem):
    n = problem.network.n_synapses
    with pytest.raises(fpgrad.ProblemError, match=r"mapping \{group: array\}") as info:
        as_gradients(problem, np.zeros(n))
    message = str(info.value)
    assert "fpgrad.Gradients" in message and f"shape ({n},)" in message
    assert "'weight'" in message  # the example of the expected mapping
    # the same array as a mapping is accepted
    np.testing.assert_array_equal(as_gradients(problem, {"weight": np.zeros(n)}).weight, 0.0)


def test_gradcheck_discards_steps_that_swap_causal_events():
    """The order-swap kink of test_gradients (seed 885): neuron 6 first fires 3.6e-7 ms after
    neuron 5's spike reaches it, and every trial step on weight 2 swaps the two (a kink of the
    spike time in between: a quotient across it is off by 2-8 %). gradcheck's reference
    discards those steps, so weight 2 is reported as skipped, never as a wrong reference value,
    and the exact gradient passes on everything else; with steps below the kink's distance
    nothing is discarded and weight 2 is confirmed too."""
    rng = np.random.default_rng(885)
    net = fpgrad.random_feedforward_network(
        [3, 3, 2], rng, weight_mean=0.6, weight_std=0.3, tau_syn=5.0, tau_mem=10.0, t_ref=0.0
    )
    problem = fpgrad.Problem(net, fpgrad.poisson_inputs(3, 100.0, 20.0, rng), 20.0)
    loss = fpgrad.FirstSpikeMSE([6, 7], [5.0, 8.0])
    report = gradcheck(problem, loss)
    assert report.passed, report
    assert not report.near_degenerate  # the margins cannot see an order swap
    assert report.fd.n_discarded > 0 and report.fd.n_unusable >= 1
    fd_weight = report.gradients["finite-difference"].weight
    assert np.flatnonzero(np.isnan(fd_weight)).tolist() == [2]
    exact = report.gradients["exact-reverse"]
    for group in GROUPS:
        ref = getattr(report.fd.grad, group)
        usable = np.isfinite(ref)
        scale = np.abs(ref[usable]).max()
        diff = np.abs(getattr(exact, group)[usable] - ref[usable])
        assert diff.max() <= 1e-5 * scale, group  # every reference value kept is right
    for row in report.rows:
        if row.reference == "finite-difference":
            skipped = int(np.isnan(getattr(report.fd.grad, row.group)).sum())
            assert row.n_skipped == skipped and row.passed
    (weight_row,) = [r for r in report.rows if r.method == "exact-reverse" and r.group == "weight"]
    assert (weight_row.size, weight_row.n_skipped) == (net.n_synapses - 1, 1)
    text = repr(report)
    assert "changed the causal order of the spikes and were discarded" in text
    assert f"{report.fd.n_unusable} parameters had no usable step (skipped)" in text
    assert "1 skipped" in text
    # steps well below the swap's distance: no step is discarded, weight 2 is checked as well
    fine = gradcheck(problem, loss, params=["weight"], fd_steps=(1e-7, 1e-8))
    assert fine.passed, fine
    assert fine.fd.n_discarded == 0 and not np.any(np.isnan(fine.fd.grad.weight))
    assert abs(fine.fd.grad.weight[2] - exact.weight[2]) <= 1e-5 * abs(exact.weight[2])


# ------------------------------------------------------------------------------------------
# Strategies
# ------------------------------------------------------------------------------------------


@given(
    data=st.data(),
    t_min=st.floats(0.0, 5.0),
    span=st.floats(0.0, 30.0),
    spacing=st.floats(0.0, 3.0),
)
def test_spike_trains_sorted_and_spaced(data, t_min, span, spacing):
    train = data.draw(fst.spike_trains(t_min=t_min, t_max=t_min + span, min_spacing=spacing))
    assert train.ndim == 1 and train.size <= 5
    assert np.all(train >= t_min) and np.all(train <= t_min + span)
    assert np.all(np.diff(train) >= spacing * (1 - 1e-9) - 1e-12)


@settings(max_examples=5)
@given(data=st.data())
def test_spike_trains_with_subnormal_spacing(data):
    """A spacing so small that ``span / spacing`` overflows (a draw that once crashed)."""
    train = data.draw(fst.spike_trains(t_max=30.0, min_spacing=2.2e-313, max_size=4))
    assert train.size <= 4 and np.all(np.diff(train) >= 0)


@settings(max_examples=30)
@given(data=st.data(), gap=st.sampled_from([1e-3, 1e-2]), slope=st.sampled_from([1e-2, 5e-2]))
def test_problem_strategies_meet_their_margins(data, gap, slope):
    make = data.draw(st.sampled_from([fst.feedforward_problems, fst.recurrent_problems]))
    problem = data.draw(make(min_peak_gap=gap, min_crossing_slope=slope, min_spikes=2))
    result = fpgrad.simulate(problem)
    assert 2 <= result.n_spikes <= 200
    assert result.degeneracy.min_peak_gap >= gap
    assert result.degeneracy.min_crossing_slope >= slope
    assert not result.degeneracy.is_degenerate(gap, slope)
    assert np.all(result.spike_time <= problem.t_max - 0.1)
    assert all(train.size == 0 or train[0] >= 0.5 for train in problem.inputs)
    if make is fst.recurrent_problems:
        net = problem.network
        assert np.any(net.pre >= net.n_inputs), "at least one recurrent synapse"


@given(fst.problems_and_losses())
def test_drawn_losses_are_valid(problem_and_loss):
    problem, loss = problem_and_loss
    value, grad = loss.value_and_spike_grad(fpgrad.simulate(problem))
    assert np.isfinite(value) and np.all(np.isfinite(grad))


@given(params=fst.lif_parameters(3, t_ref=(0.0, 1.0)))
def test_lif_parameters_build_networks(params):
    net = fpgrad.feedforward_network([np.full((2, 3), 0.1)], **params)
    assert net.tau_mem.shape == (3,) and np.all(net.t_ref <= 1.0)


@settings(max_examples=8)
@given(fst.problems_and_losses(kinds=["first-spike-mse", "van-rossum"]))
def test_exact_gradients_pass_gradcheck_on_drawn_problems(problem_and_loss):
    """The property other projects would write with these strategies."""
    problem, loss = problem_and_loss
    assert_gradients_close(problem, loss, params=["weight", "threshold", "tau_syn"])


# --- model 2 -------------------------------------------------------------------------------


@settings(max_examples=20)
@given(problem=fst.problems())
def test_default_strategies_draw_model1(problem):
    """Without the model-2 options the strategies draw what they drew before model 2: one
    shared tau_syn > 0, no bias, resets to 0, no delays, no refractory period."""
    net = problem.network
    assert net.is_model1 and not np.any(net.t_ref)


@given(params=fst.lif_parameters(3))
def test_lif_parameters_default_keys(params):
    assert set(params) == {"tau_syn", "tau_mem", "threshold", "t_ref"}
    assert isinstance(params["tau_syn"], float) and 3.0 <= params["tau_syn"] <= 7.0


MODEL2_OPTIONS = {
    "delta_fraction": 0.5,
    "bias": (-0.1, 0.1),
    "v_reset": (-0.5, 0.7),
    "t_ref": (0.5, 2.0),
    "zero_t_ref_fraction": 0.5,
}


@given(params=fst.lif_parameters(6, **MODEL2_OPTIONS))
def test_lif_parameters_model2_options(params):
    tau_syn, t_ref = params["tau_syn"], params["t_ref"]
    assert tau_syn.shape == (6,) and np.all((tau_syn == 0) | ((tau_syn >= 3) & (tau_syn <= 7)))
    assert np.all((t_ref == 0) | ((t_ref >= 0.5) & (t_ref <= 2.0)))
    assert np.all(np.abs(params["bias"]) <= 0.1)
    assert np.all(params["v_reset"] < params["threshold"])
    net = fpgrad.feedforward_network([np.full((2, 6), 0.1)], **params)
    np.testing.assert_array_equal(net.tau_syn, tau_syn)
    np.testing.assert_array_equal(net.v_reset, params["v_reset"])


@given(delays=fst.synaptic_delays(st.integers(0, 12), delay=(0.5, 2.0), zero_delay_fraction=0.5))
def test_synaptic_delays(delays):
    assert delays.ndim == 1 and delays.size <= 12
    assert np.all((delays == 0) | ((delays >= 0.5) & (delays <= 2.0)))


@pytest.mark.parametrize(
    ("strategy", "message"),
    [
        (fst.lif_parameters(2, v_reset=(0.0, 0.8)), "below the threshold range"),
        (fst.lif_parameters(2, delta_fraction=1.5), "delta_fraction"),
        (fst.lif_parameters(2, zero_t_ref_fraction=-0.1), "zero_t_ref_fraction"),
        (fst.lif_parameters(2, t_ref=(-1.0, 1.0)), "t_ref"),
        (fst.synaptic_delays(3, delay=(-1.0, 1.0)), "delay"),
        (fst.synaptic_delays(3, zero_delay_fraction=2.0), "zero_delay_fraction"),
    ],
)
def test_model2_options_refuse_bad_values(strategy, message):
    @given(strategy)
    def draw(_value):
        pass  # pragma: no cover - the draw raises

    with pytest.raises(ValueError, match=message):
        draw()


#: One shot at finding a draw (no shrinking: only that one exists matters).
FIND = settings(max_examples=200, phases=[Phase.generate], database=None)


@pytest.mark.parametrize(
    "feature",
    ["delta neuron fired by an arrival", "zero and positive delays", "zero and positive t_ref",
     "bias and reset", "arrivals in flight"],
)  # fmt: skip
def test_model2_problems_reach_every_feature(feature):
    """The draws of ``model2_problems`` hold every feature of model 2 (not each draw: some)."""

    def has(problem):
        net, run = problem.network, fpgrad.simulate(problem)
        return {
            "delta neuron fired by an arrival": bool(np.any(run.record_cause >= 0)),
            "zero and positive delays": bool(np.any(net.delay == 0) and np.any(net.delay > 0)),
            "zero and positive t_ref": bool(np.any(net.t_ref == 0) and np.any(net.t_ref > 0)),
            "bias and reset": bool(np.any(net.bias) and np.any(net.v_reset)),
            "arrivals in flight": run.max_in_flight > 0,
        }[feature]

    find(fst.model2_problems(), has, settings=FIND)


@settings(max_examples=25)
@given(problem=fst.model2_problems(min_spikes=2), seed=st.integers(0, 2**32 - 1))
def test_model2_problems_forward_and_reverse_agree(problem, seed):
    """On drawn model-2 networks (delta neurons, delays, bias, resets, t_ref): the simulation
    meets the guarantees, and the forward-mode Jacobian and the reverse-mode VJP agree to 1e-9
    (group-scaled) in every group."""
    net = problem.network
    assert net.tau_syn.shape == (net.n_neurons,) and np.all(net.v_reset < net.threshold)
    result = fpgrad.simulate(problem)
    assert fst.meets_guarantees(result, min_spikes=2)
    jac = fpgrad.spike_jacobian(result)
    cot = np.random.default_rng(seed).normal(size=result.n_spikes)
    rev = fpgrad.spike_vjp(result, cot)
    for group in GROUPS:
        fwd = cot @ jac[group]
        back = getattr(rev, group)
        scale = max(np.max(np.abs(fwd), initial=0.0), np.max(np.abs(back), initial=0.0))
        assert np.max(np.abs(back - fwd), initial=0.0) <= 1e-9 * scale, (group, fwd, back)


@settings(max_examples=6)
@given(fst.problems_and_losses(fst.model2_problems(), kinds=["first-spike-mse", "van-rossum"]))
def test_exact_gradients_pass_gradcheck_on_model2_problems(problem_and_loss):
    """Every group of model 2 against finite differences (one-sided at zero delays and t_ref,
    0 for delta neurons' tau_syn)."""
    problem, loss = problem_and_loss
    assert_gradients_close(problem, loss)


# ------------------------------------------------------------------------------------------
# fpgrad check
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory, problem):
    root = tmp_path_factory.mktemp("check")
    fpgrad.save_problem(problem, root / "p.json")
    (root / "t.json").write_text('{"neurons": [6, 7], "targets": [5.0, 8.0]}')
    exact = fpgrad.gradient(problem, LOSS).grad
    np.savez(root / "exact.npz", **exact.groups())
    np.savez(root / "scaled.npz", weight=0.5 * exact.weight, tau_syn=exact.tau_syn)
    np.savez(root / "shared-tau-syn.npz", tau_syn=np.sum(exact.tau_syn))  # model 1's layout
    np.savez(root / "bad-name.npz", weights=exact.weight)
    np.savez(root / "bad-size.npz", weight=exact.weight[:3])
    (root / "not.npz").write_text("hello")
    return root


def check_args(files, *extra):
    return [
        str(files / "p.json"),
        "--loss",
        "first-spike-mse",
        "--target",
        str(files / "t.json"),
        *extra,
    ]


def test_check_passes(files, capsys):
    assert main(["check", *check_args(files, "--gradient", str(files / "exact.npz"))]) == 0
    out = capsys.readouterr().out
    assert "gradcheck PASSED" in out and "external gradient vs exact-reverse" in out
    assert out.rstrip().endswith("verdict: PASS")


def test_check_fails(files, capsys):
    # an impossible tolerance: finite differences never equal the exact gradient to the bit
    assert main(["check", *check_args(files, "--rtol", "0", "--atol", "0")]) == 1
    assert capsys.readouterr().out.rstrip().endswith("verdict: FAIL")
    # an external gradient off by a factor 2: fails at the default external rtol (1e-6)
    scaled = ["--gradient", str(files / "scaled.npz")]
    assert main(["check", *check_args(files, *scaled)]) == 1
    out = capsys.readouterr().out
    assert "external gradient vs exact-reverse" in out and "FAILED" in out
    assert "rtol = 1e-06" in out and out.rstrip().endswith("verdict: FAIL")
    # its relative error (0.5) passes a bound chosen that loose
    assert main(["check", *check_args(files, *scaled, "--external-rtol", "0.6")]) == 0
    assert capsys.readouterr().out.rstrip().endswith("verdict: PASS")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--gradient", "bad-name.npz"], "unknown array name(s) weights"),
        (["--gradient", "bad-size.npz"], "expected 15 values"),
        (["--gradient", "shared-tau-syn.npz"], "expected 5 values (the problem's tau_syn"),
        (["--gradient", "shared-tau-syn.npz"], "tau_syn is per neuron"),
        (["--gradient", "not.npz"], "not a readable .npz"),
        (["--gradient", "missing.npz"], "No such file"),
        (["--params", "weight,gain"], "unknown parameter group 'gain'"),
    ],
)
def test_check_bad_input(files, capsys, extra, message):
    extra = [str(files / e) if e.endswith(".npz") else e for e in extra]
    assert main(["check", *check_args(files, *extra)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_check_needs_targets(files, capsys):
    assert main(["check", str(files / "p.json"), "--loss", "first-spike-mse"]) == 2
    assert "targets" in capsys.readouterr().err


def test_check_subcommand_of_the_cli(files):
    """``python -m fpgrad check``, once the command is registered in fpgrad.cli."""
    run = subprocess.run(
        [sys.executable, "-m", "fpgrad", "check", *check_args(files)],
        capture_output=True,
        text=True,
    )
    if run.returncode == 2 and "invalid choice: 'check'" in run.stderr:
        pytest.skip("fpgrad check is not wired into fpgrad.cli yet")
    assert run.returncode == 0, run.stderr
    assert "verdict: PASS" in run.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "fpgrad", "check", *check_args(files, "--gradient", "nope.npz")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    fail = subprocess.run(
        [sys.executable, "-m", "fpgrad", "check", *check_args(files, "--rtol", "0", "--atol", "0")],
        capture_output=True,
        text=True,
    )
    assert fail.returncode == 1 and "verdict: FAIL" in fail.stdout


# ------------------------------------------------------------------------------------------
# fpgrad.test()
# ------------------------------------------------------------------------------------------


def test_selftest(capsys):
    assert _selftest.test() is True
    out = capsys.readouterr().out
    assert "fpgrad self-check: PASSED" in out and "closed-form" in out
    passed, rows = _selftest.run_selftest(verbose=False)
    assert passed and len(rows) == 4 and all(ok for _, _, _, ok, _ in rows)
    assert capsys.readouterr().out == ""

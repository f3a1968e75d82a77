"""The finite-difference core at the edges of the parameter domain.

An input spike at ``t = 0`` (the latency encoding's bias spike), a delay or refractory period
of 0 (their defaults) and a tiny ``tau_mem``, ``tau_syn`` or ``threshold`` are valid input, where
a central stencil ``p - h`` would leave the domain. Input times, delays and refractory periods
then get forward one-sided differences, the positive scale parameters steps relative to their
value (``fpgrad/_finite_difference.py``); a step that cannot fit (``v_reset`` within the step of
its threshold) is skipped. Every other parameter keeps the central differences of before, bit
for bit.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import fpgrad
from fpgrad._finite_difference import _loss_if_same, causal_signature
from fpgrad.cli import main
from fpgrad.grad import parameter_values, with_parameter
from fpgrad.testing import (
    DEFAULT_ATOL,
    DEFAULT_RTOL,
    finite_difference,
    gradcheck,
)
from fpgrad.testing.strategies import model2_problems


def assert_close_to_exact(fd_grad: fpgrad.Gradients, exact: fpgrad.Gradients) -> None:
    """gradcheck's criterion, group by group: ``max|g - fd| <= atol + rtol max|fd|``."""
    for group, ref in fd_grad.groups().items():
        got = getattr(exact, group)
        assert np.all(np.isfinite(ref)), group
        bound = DEFAULT_ATOL + DEFAULT_RTOL * np.max(np.abs(ref))
        assert np.max(np.abs(got - ref)) <= bound, (group, got, ref)


def flags(fd, field: str) -> dict[str, list[bool]]:
    return {g: a.tolist() for g, a in getattr(fd, field).groups().items()}


def flagged(fd, field: str) -> set[str]:
    """The groups with at least one parameter flagged in ``fd.<field>``."""
    return {g for g, a in flags(fd, field).items() if any(a)}


#: The groups of model 1 (those of before delays, biases, resets and t_ref had gradients).
MODEL1_GROUPS = ("weight", "input_time", "threshold", "tau_mem", "tau_syn")


# --------------------------------------------------------------------------------------------
# An input spike at t = 0: one-sided differences
# --------------------------------------------------------------------------------------------

LATENCY_LOSS = fpgrad.FirstSpikeMSE([7, 8], [6.0, 9.0])


def latency_problem(bias_time: float = 0.0) -> fpgrad.Problem:
    """3-4-2 feedforward on latency-coded inputs; input 0 is the bias (value 1: a spike at 0,
    moved to ``bias_time``). Every neuron fires (1 to 5 spikes); no finite-difference step
    changes the causal order."""
    rng = np.random.default_rng(3)
    net = fpgrad.random_feedforward_network([3, 4, 2], rng, weight_mean=0.25, weight_std=0.1)
    inputs = fpgrad.latency_inputs([1.0, 0.7, 0.4])
    inputs[0] = inputs[0] + bias_time
    return fpgrad.Problem(net, tuple(inputs), 30.0)


def test_input_spike_at_zero():
    """FiniteDifference and gradcheck run on a bias spike at 0 (they raised ProblemError,
    ``inputs[0][0] = -6e-06 is negative``), match the exact gradient and report that input
    spike, and of the inputs only it, one-sided; so are the delays and refractory periods, all
    at their default 0 (the edge of their domain), and nothing else."""
    problem = latency_problem()
    net = problem.network
    assert problem.inputs[0][0] == 0.0
    assert not np.any(net.delay) and not np.any(net.t_ref)
    run = fpgrad.simulate(problem)
    assert np.all(np.bincount(run.record_node, minlength=9)[3:] >= 1)  # every neuron fires
    exact = fpgrad.gradient(problem, LATENCY_LOSS, fpgrad.ExactReverse())
    assert not exact.degenerate and abs(exact.grad.input_time[0]) > 1e-3
    assert np.max(np.abs(exact.grad.delay)) > 1e-3  # the delays' right derivatives matter

    fd = finite_difference(problem, LATENCY_LOSS)
    assert set(fd.grad.groups()) == set(fpgrad.grad.GROUPS)  # params=None: every group
    assert fd.n_unusable == 0 and fd.n_unconfirmed == 0 and fd.n_discarded == 0
    assert fd.n_outside == 0
    assert_close_to_exact(fd.grad, exact.grad)
    assert fd.one_sided.input_time.tolist() == [True, False, False]
    assert np.all(fd.one_sided.delay) and np.all(fd.one_sided.t_ref)
    assert flagged(fd, "one_sided") == {"input_time", "delay", "t_ref"}
    n_edge = 1 + net.n_synapses + net.n_neurons
    assert fd.n_one_sided == n_edge and fd.n_shrunk == 0
    # entry-wise too, the one-sided estimate is good to a few 1e-9 (the simulator's round-off)
    got, want = fd.grad.input_time[0], exact.grad.input_time[0]
    assert abs(got - want) <= 1e-7 * abs(want)
    # and so are those of the delays (a delay moves an arrival as an input time moves a spike)
    big = np.abs(exact.grad.delay) > 1e-3 * np.max(np.abs(exact.grad.delay))
    np.testing.assert_allclose(fd.grad.delay[big], exact.grad.delay[big], rtol=1e-7)

    method = fpgrad.gradient(problem, LATENCY_LOSS, fpgrad.FiniteDifference())
    assert not method.degenerate
    np.testing.assert_array_equal(method.grad.flat(), fd.grad.flat())

    report = gradcheck(problem, LATENCY_LOSS)
    assert report.passed, report
    assert report.fd.n_one_sided == n_edge and report.fd.one_sided.input_time[0]
    # restricted to the groups of model 1, only the spike at 0 is at an edge, as before
    model1 = finite_difference(problem, LATENCY_LOSS, params=MODEL1_GROUPS)
    assert model1.n_one_sided == 1 and model1.one_sided.input_time[0]
    np.testing.assert_array_equal(model1.grad.input_time, fd.grad.input_time)


def test_exact_gradient_at_zero_is_the_right_derivative():
    """The exact gradient of a spike at 0 is the limit of the gradient of a spike at 0+: the
    derivative of the later spike times is well defined from the right (and continuous)."""
    at_zero = fpgrad.gradient(latency_problem(), LATENCY_LOSS, fpgrad.ExactReverse()).grad
    for eps in (1e-12, 1e-9):
        near = fpgrad.gradient(latency_problem(eps), LATENCY_LOSS, fpgrad.ExactReverse()).grad
        np.testing.assert_allclose(near.flat(), at_zero.flat(), rtol=1e3 * eps, atol=1e-14)


@pytest.mark.parametrize(
    ("steps", "one_sided"), [((1e-3,), True), ((1e-4,), False), ((1e-3, 1e-4), True)]
)
def test_one_sided_only_for_steps_that_do_not_fit(steps, one_sided):
    """A spike at 3e-4: the step 1e-3 would move it to -7e-4 and is one-sided, the step 1e-4
    stays central. Either way the estimate matches the exact gradient."""
    problem = latency_problem(3e-4)
    exact = fpgrad.gradient(problem, LATENCY_LOSS, fpgrad.ExactReverse(), params=["input_time"])
    fd = finite_difference(problem, LATENCY_LOSS, params=["input_time"], steps=steps)
    assert fd.one_sided.input_time.tolist() == [one_sided, False, False]
    assert_close_to_exact(fd.grad, exact.grad)


@pytest.mark.parametrize(("richardson", "rtol"), [(True, 1e-8), (False, 1e-6)])
def test_one_sided_orders(richardson, rtol):
    """One step of 1e-3 at a spike at 0: with Richardson (error O(h^3), a few 1e-10 here) and
    without (the second-order one-sided difference, O(h^2), 1.5e-7 here)."""
    problem = latency_problem()
    want = fpgrad.gradient(problem, LATENCY_LOSS, fpgrad.ExactReverse()).grad.input_time[0]
    fd = finite_difference(
        problem, LATENCY_LOSS, params=["input_time"], steps=[1e-3], richardson=richardson
    )
    assert fd.one_sided.input_time[0]
    assert abs(fd.grad.input_time[0] - want) <= rtol * abs(want)


# --------------------------------------------------------------------------------------------
# Tiny time constants and thresholds: steps relative to the value
# --------------------------------------------------------------------------------------------


def one_neuron(weight: float, **neuron: float) -> fpgrad.Problem:
    """One input spike at 1 ms driving one neuron (node 1) over 10 ms."""
    params = {"tau_syn": 5.0, "tau_mem": 10.0, "threshold": 1.0} | neuron
    net = fpgrad.Network(
        n_inputs=1,
        n_neurons=1,
        pre=np.array([0]),
        post=np.array([1]),
        weight=np.array([weight]),
        **params,
    )
    return fpgrad.Problem(net, ([1.0],), 10.0)


TINY = {
    # tau_mem = 1e-4 ms: V follows w tau_mem I(t) within microseconds; it crosses 0.18 us after
    # the input, and the refractory period (2 ms) outlasts the ~0.9 ms V could cross again
    "tau_mem": {
        "problem": one_neuron(1.2e4, tau_mem=1e-4, t_ref=2.0),
        "first_spike": 1.0001792,
        "shrunk": {"tau_mem"},
        "one_sided": {"delay"},  # the delay is 0, t_ref is not
        "n_outside": 0,
        "coarse": (),
    },
    # threshold = 1e-4 with tau_syn = 1e-4 ms (the input current is a 0.1 us pulse, so O(1)
    # weights reach the tiny threshold): one spike 0.11 us after the input, then V decays
    "threshold": {
        "problem": one_neuron(1.5, tau_syn=1e-4, threshold=1e-4),
        "first_spike": 1.0001099,
        "shrunk": {"threshold", "tau_syn"},
        "one_sided": {"delay", "t_ref"},
        # v_reset = 0 is 1e-4 below the threshold: the steps 1e-3 and 1e-4 would reach it
        "n_outside": 2,
        # the bias is not tiny, but its scale is set by the threshold: bias * tau_mem is the
        # resting potential, so the default steps (h = 1e-6 to 1e-3 V/ms) move it by 1e-5 to
        # 1e-2 V, 10 % to 100x the threshold (the two largest add spikes, the estimate of the
        # other two is off by 3e-5 relative). Steps scaled down with the threshold find it to
        # ~1e-9.
        "coarse": ("bias",),
    },
}


@pytest.mark.parametrize("case", sorted(TINY))
def test_tiny_positive_parameters(case):
    """A valid problem whose tau_mem (tau_syn, threshold) is 1e-4, below the largest step: the
    central step p - 1e-3 < 0 raised ProblemError. Now the steps are relative to the value,
    reported in ``shrunk``, and the estimates match the exact gradient. The zero delay (and a
    zero t_ref) are one-sided; v_reset steps that would reach the threshold are skipped."""
    case = TINY[case]
    problem = case["problem"]
    run = fpgrad.simulate(problem)
    assert run.spike_time.size == 1  # sane: one spike, right after the input
    assert run.spike_time[0] == pytest.approx(case["first_spike"], abs=1e-7)
    loss = fpgrad.FirstSpikeMSE([1], [1.5])
    exact = fpgrad.gradient(problem, loss, fpgrad.ExactReverse())
    assert not exact.degenerate
    groups = [g for g in fpgrad.grad.GROUPS if g not in case["coarse"]]

    fd = finite_difference(problem, loss, params=groups)
    assert fd.n_unusable == 0 and fd.n_discarded == 0
    assert fd.n_outside == case["n_outside"]
    assert_close_to_exact(fd.grad, exact.grad)
    assert flagged(fd, "shrunk") == case["shrunk"]
    assert flagged(fd, "one_sided") == case["one_sided"]
    for group in case["shrunk"]:
        # entry-wise too: a step relative to the value is as accurate as usual (~1e-9)
        got, want = getattr(fd.grad, group)[0], getattr(exact.grad, group)[0]
        assert abs(got - want) <= 1e-7 * abs(want), group
    if case["coarse"]:
        scale = problem.network.threshold[0]
        steps = [s * scale for s in fpgrad.testing.DEFAULT_FD_STEPS]
        fine = finite_difference(problem, loss, params=case["coarse"], steps=steps)
        assert fine.n_unusable == 0 and fine.n_discarded == 0
        for group in case["coarse"]:
            got, want = getattr(fine.grad, group)[0], getattr(exact.grad, group)[0]
            assert abs(got - want) <= 1e-7 * abs(want), group

    method = fpgrad.gradient(problem, loss, fpgrad.FiniteDifference(), params=groups)
    np.testing.assert_array_equal(method.grad.flat(), fd.grad.flat())
    report = gradcheck(problem, loss, params=groups)
    assert report.passed, report
    assert report.fd.n_shrunk == len(case["shrunk"])


def test_small_positive_parameter_in_the_interior_keeps_its_steps():
    """A threshold of 0.01 (above the largest step) is central with the usual absolute steps
    ``h = s``: not shrunk, not one-sided."""
    problem = one_neuron(0.015, threshold=0.01)
    fd = finite_difference(problem, fpgrad.FirstSpikeMSE([1], [3.0]), params=["threshold"])
    assert not fd.shrunk.threshold[0] and not fd.one_sided.threshold[0]


# --------------------------------------------------------------------------------------------
# Interior parameters: the central differences of before, bit for bit
# --------------------------------------------------------------------------------------------


def standard_problem() -> fpgrad.Problem:
    """tests/test_testing.py's tiny_problem(0): 3-3-2 feedforward, Poisson inputs (first at
    0.71 ms), thresholds 1, tau_mem 10, tau_syn 5."""
    rng = np.random.default_rng(0)
    net = fpgrad.random_feedforward_network([3, 3, 2], rng, weight_mean=0.12, weight_std=0.05)
    return fpgrad.Problem(net, fpgrad.poisson_inputs(3, 100.0, 25.0, rng), 25.0)


def central_only(problem, loss, steps, richardson, groups):
    """The implementation before the boundary handling (git a572817), verbatim but for the
    names and the groups: central differences at ``h = s max(1, |p|)`` for every parameter of
    ``groups``."""
    result = fpgrad.simulate(problem)
    signature = causal_signature(result)
    values = parameter_values(problem)
    halves = (1.0, 0.5) if richardson else (1.0,)
    est, unc, chosen, discarded = {}, {}, {}, 0
    for name in groups:
        base = getattr(values, name)
        est[name] = np.full(base.size, np.nan)
        unc[name] = np.full(base.size, np.inf)
        chosen[name] = np.full(base.size, np.nan)
        for q in range(base.size):
            rich = np.full(len(steps), np.nan)
            for k, s in enumerate(steps):
                h = s * max(1.0, abs(float(base[q])))
                quotients, same = [], True
                for hh in (h * f for f in halves):
                    evals = []
                    for sign in (1.0, -1.0):
                        moved = base.copy()
                        moved[q] += sign * hh
                        moved_problem = with_parameter(problem, name, moved)
                        lv, kept = _loss_if_same(lambda p=moved_problem: p, loss, signature)
                        evals.append(lv)
                        same &= kept
                    quotients.append((evals[0] - evals[1]) / (2.0 * hh))
                if not same:
                    discarded += 1
                elif richardson:
                    rich[k] = (4.0 * quotients[1] - quotients[0]) / 3.0
                else:
                    rich[k] = quotients[0]
            diffs = np.abs(np.diff(rich))
            if np.any(np.isfinite(diffs)):
                k = int(np.nanargmin(diffs))
                est[name][q] = 0.5 * (rich[k] + rich[k + 1])
                unc[name][q] = diffs[k]
                chosen[name][q] = steps[k]
            elif np.any(np.isfinite(rich)):
                k = int(np.flatnonzero(np.isfinite(rich))[-1])
                est[name][q] = rich[k]
                chosen[name][q] = steps[k]
    return est, unc, chosen, discarded


# The estimates of the standard problem by that implementation at a572817, as an anchor: the
# simulator's round-off may change (and has, by ~1e-11 of each group's scale), the estimates
# may not beyond it. Bit-for-bit equality is checked against ``central_only``, on the current
# simulator. tau_syn was one shared parameter then: its derivative is the sum of the per-neuron
# ones of model 2.
# fmt: off
PINNED_GRAD = {
    "weight": [
        "-0x1.5fa10c07558c0p+7", "-0x1.afe0a29d59bb0p+6", "-0x1.16cee937989f6p+7",
        "-0x1.20a4c5e0a6406p+7", "-0x1.1592113c746a1p+6", "-0x1.71d29facf07c2p+6",
        "-0x1.19b1cedb2c16ap+7", "-0x1.0061a66bb216bp+6", "-0x1.11e7cde2f2bd4p+6",
        "-0x1.062052cb1ed0cp+7", "-0x1.6df841e6eca2dp+8", "-0x1.abc1f3887f7c0p+6",
        "-0x1.2eb7fd07c862cp+8", "-0x1.0845cc62e653cp+7", "-0x1.400548b7428f3p+8",
    ],
    "input_time": [
        "-0x1.a5bb84145df56p-1", "-0x1.71b36d2a12788p-4", "0x1.d053334147943p+1",
        "0x1.d18955e8e9a76p-7", "0x1.354f641a26543p+1", "0x1.ef4ddd808a578p+0", "0x0.0p+0",
        "0x0.0p+0", "0x0.0p+0", "0x1.787085169e9bfp+1", "0x1.bdb4ef7ce7160p+1",
        "0x1.82192be91b8b0p+0", "0x1.466582bcd03eep+0",
    ],
    "threshold": [
        "0x1.09743be6674fep+6", "0x1.d7035c19c3ec8p+4", "0x1.3e2173aa130f0p+5",
        "0x1.17326730e380ep+5", "0x1.a0e6e204d1ca8p+5",
    ],
    "tau_mem": [
        "-0x1.2f641e7802c16p+0", "-0x1.57b4b5152c880p-1", "-0x1.a5c96dddcf52bp-1",
        "-0x1.6af84f3584100p-1", "-0x1.99802e6a6d8abp+0",
    ],
    "tau_syn": ["-0x1.6b60038fcdaa0p+4"],
}
# fmt: on

STANDARD_LOSS = fpgrad.FirstSpikeMSE([6, 7], [5.0, 8.0])


#: The groups whose parameters are all in the interior of their domain on the standard problem
#: (its delays and refractory periods are 0, the edge of theirs: one-sided).
INTERIOR_GROUPS = (*MODEL1_GROUPS, "bias", "v_reset")


@pytest.mark.parametrize(
    ("steps", "richardson"), [(fpgrad.testing.DEFAULT_FD_STEPS, True), ((1e-3, 1e-5), False)]
)
def test_interior_parameters_unchanged_bit_for_bit(steps, richardson):
    """Every parameter of a standard problem but its zero delays and refractory periods is in
    the interior: central differences, the same estimates, uncertainties, steps and discards to
    the bit as the implementation before the boundary handling."""
    problem = standard_problem()
    fd = finite_difference(
        problem, STANDARD_LOSS, params=INTERIOR_GROUPS, steps=steps, richardson=richardson
    )
    assert fd.n_one_sided == 0 and fd.n_shrunk == 0 and fd.n_outside == 0
    est, unc, chosen, discarded = central_only(
        problem, STANDARD_LOSS, steps, richardson, INTERIOR_GROUPS
    )
    assert fd.n_discarded == discarded
    for field, want in (("grad", est), ("uncertainty", unc), ("step", chosen)):
        for group, values in want.items():
            got = getattr(getattr(fd, field), group)
            np.testing.assert_array_equal(got, values, err_msg=f"{field}.{group}")
    if richardson:
        for group, hexes in PINNED_GRAD.items():
            pinned = np.array([float.fromhex(x) for x in hexes])
            scale = np.max(np.abs(pinned))  # group-scaled, like gradcheck
            got = getattr(fd.grad, group)
            if group == "tau_syn":  # shared then, per neuron now
                got = np.array([np.sum(got)])
            np.testing.assert_allclose(got, pinned, rtol=0, atol=1e-9 * scale)


# --------------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------------


@pytest.fixture
def latency_files(tmp_path):
    path, target = tmp_path / "latency.json", tmp_path / "target.json"
    fpgrad.save_problem(latency_problem(), path)
    target.write_text(json.dumps({"targets": [6.0, 9.0]}))
    return str(path), str(target)


def test_cli_grad_fd_with_an_input_at_zero(latency_files, capsys):
    path, target = latency_files
    args = ["grad", path, "--loss", "first-spike-mse", "--target", target]
    assert main([*args, "--method", "fd"]) == 0
    fd = json.loads(capsys.readouterr().out)
    assert main(args) == 0
    exact = json.loads(capsys.readouterr().out)
    assert not fd["degenerate"] and fd["method"] == "finite-difference"
    got, want = fd["gradient"]["input_time"][0], exact["gradient"]["input_time"][0]
    assert got == pytest.approx(want, rel=1e-8)


def test_cli_check_with_an_input_at_zero(latency_files, capsys):
    path, target = latency_files
    assert main(["check", path, "--loss", "first-spike-mse", "--target", target]) == 0
    assert capsys.readouterr().out.rstrip().endswith("verdict: PASS")


def test_gradcheck_report_names_one_sided_parameters():
    """The gradcheck report says when the reference used one-sided stencils, and for which
    groups: an input at 0, and the delay and refractory period at their default 0."""
    net = fpgrad.Network(
        n_inputs=1, n_neurons=1, tau_syn=5.0, tau_mem=10.0, threshold=1.0,
        pre=[0], post=[1], weight=[0.6],
    )  # fmt: skip
    problem = fpgrad.Problem(net, ([0.0],), 30.0)
    loss = fpgrad.FirstSpikeMSE([1], [5.0])
    report = fpgrad.testing.gradcheck(problem, loss)
    assert report.passed and report.fd.n_one_sided == 3
    assert flags(report.fd, "one_sided") == {
        **{g: [False] for g in fpgrad.grad.GROUPS},
        "input_time": [True],
        "delay": [True],
        "t_ref": [True],
    }
    assert (
        "3 parameters at the edge of their domain (input_time 1, delay 1, t_ref 1: an input "
        "spike time, delay or refractory period at or near 0) used one-sided stencils"
    ) in repr(report)
    # a delay and refractory period inside their domain are central; the input at 0 remains
    inner = problem.with_network(net.replace(delay=[0.5], t_ref=[1.0]))
    report = fpgrad.testing.gradcheck(inner, loss)
    assert report.passed and report.fd.n_one_sided == 1
    assert "1 parameters at the edge of their domain (input_time 1:" in repr(report)


def test_gradcheck_report_names_skipped_steps_and_delta_synapses():
    """A v_reset just below the threshold: the steps that would reach the threshold are skipped
    (reported, not counted as causal-order changes); a delta-synapse neuron's tau_syn reference
    is 0 by convention, and the report says so."""
    # the long t_ref lets neuron 1's current decay: V falls from its reset, one spike
    net = fpgrad.Network(
        n_inputs=1, n_neurons=2, tau_syn=[5.0, 0.0], tau_mem=10.0, threshold=1.0,
        pre=[0, 1], post=[1, 2], weight=[0.6, 1.2], v_reset=[0.99995, 0.0], delay=[0.0, 1.0],
        t_ref=[20.0, 0.5],
    )  # fmt: skip
    problem = fpgrad.Problem(net, ([1.0],), 30.0)
    loss = fpgrad.FirstSpikeMSE([1, 2], [5.0, 7.0])
    run = fpgrad.simulate(problem)
    assert run.spike_node.tolist() == [1, 2]  # neuron 1 fires once, and fires the delta neuron
    assert run.record_cause[-1] >= 0  # by the arrival
    report = fpgrad.testing.gradcheck(problem, loss)
    assert report.passed, report
    fd = report.fd
    # v_reset[0] + h reaches threshold[0] for h = 1e-3, 1e-4, not for 1e-5, 1e-6; and
    # threshold[0] - h reaches v_reset[0] for the same steps
    assert fd.n_outside == 4 and fd.n_discarded == 0 and fd.n_unusable == 0
    assert fd.step.v_reset[0] == fd.step.threshold[0] == 1e-5
    assert fd.grad.tau_syn[1] == 0.0 and report.gradients["exact-reverse"].tau_syn[1] == 0.0
    text = repr(report)
    assert "4 (parameter, step) trials would have left the parameter's domain" in text
    assert "changed the causal order" not in text
    assert "1 tau_syn entries are delta-synapse neurons" in text


def delayed_counts_by_loop(result) -> dict[int, int]:
    """The definition of the signature's delayed entries, one synaptic event at a time: for the
    ``r``-th event (synapse in file order, then the source's spikes in order) of a synapse with
    delay ``d > 0``, the number of the target's spikes before the arrival ``t + d``, or the
    target's spike count + 1 for an arrival after ``t_max``; keyed by ``r``."""
    net, t_max = result.problem.network, result.problem.t_max
    out, r = {}, 0
    for k in range(net.pre.size):
        own = result.record_time[result.record_node == net.post[k]]
        for t in result.record_time[result.record_node == net.pre[k]]:
            if net.delay[k] > 0:
                arrival = t + net.delay[k]
                out[r] = int(np.sum(own < arrival)) if arrival <= t_max else own.size + 1
            r += 1
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model2_problems())
def test_causal_signature_counts_delayed_arrivals_as_defined(problem):
    result = fpgrad.simulate(problem)
    signature = causal_signature(result)
    start = problem.network.n_nodes
    for r, count in delayed_counts_by_loop(result).items():
        assert signature[start + r] == count, r

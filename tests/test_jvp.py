"""Forward-mode directional derivatives (``fpgrad.spike_jvp``): the JVP is ``J v``.

Checked against the Jacobian of the same forward pass (one-hot seeds) on the model-2 problems of
tests/test_gradients_model2.py (delays, delta synapses, bias, v_reset, t_ref, t_ref = 0), against
the reverse mode through the adjoint identity ``u . (J v) = (J^T u) . v``, a stack of directions
against one direction at a time, and against central (one-sided at a boundary) finite
differences of the simulator along the direction.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import test_gradients_model2 as m2

import fpgrad
from fpgrad._finite_difference import causal_signature
from fpgrad.grad import parameter_values, with_parameter


def random_direction(
    problem: fpgrad.Problem, seed: int, groups: tuple[str, ...] = fpgrad.GROUPS
) -> fpgrad.Gradients:
    """A random direction over ``groups``, each group scaled like its values (the others
    ``None``)."""
    rng = np.random.default_rng(seed)
    values = parameter_values(problem)
    out = {}
    for group in groups:
        x = getattr(values, group)
        scale = np.where(np.isfinite(x) & (x != 0), np.abs(x), 1.0)
        out[group] = rng.normal(size=x.size) * scale
    return fpgrad.Gradients(**out)


def jacobian_times(jac: fpgrad.SpikeJacobian, v: fpgrad.Gradients) -> tuple[np.ndarray, ...]:
    """``J v`` with ``J`` the group blocks side by side in GROUPS order, and ``|J| |v|`` (the
    scale of each row's sum)."""
    names = list(v.groups())
    big = np.hstack([jac[name] for name in names])
    flat = v.flat()
    return big @ flat, np.abs(big) @ np.abs(flat)


def well_posed(make, seed) -> fpgrad.SimulationResult:
    return m2.well_posed(make(seed))


@pytest.mark.parametrize(("make", "seed"), m2.PROBLEMS)
def test_jvp_equals_jacobian_times_direction(make, seed):
    result = well_posed(make, seed)
    jac = fpgrad.spike_jacobian(result)
    for k, groups in enumerate((fpgrad.GROUPS, ("weight", "delay", "t_ref"), ("tau_syn",))):
        v = random_direction(result.problem, 10 * seed + k, groups)
        want, scale = jacobian_times(jac, v)
        out = fpgrad.spike_jvp(result, v)
        assert isinstance(out, fpgrad.SpikeJVP) and out.result is result
        assert out.tangent.shape == (result.n_spikes,)
        assert np.all(np.abs(out.tangent - want) <= 1e-12 * scale), groups
        assert np.abs(want).max() > 1e-3  # the direction moves the spikes
        # and the adjoint identity u . (J v) = (J^T u) . v with the reverse mode's J^T u
        u = np.random.default_rng(seed).normal(size=result.n_spikes)
        vjp = fpgrad.spike_vjp(result, u)
        rhs = sum(getattr(vjp, g) @ d for g, d in v.groups().items())
        assert abs(u @ out.tangent - rhs) <= 1e-10 * (np.abs(u) @ scale), groups


@pytest.mark.parametrize(
    ("config", "seed"),
    [("all", 1), ("all", 3), ("no-delays", 2), ("no-bias", 4), ("no-delta", 0), ("t_ref-0", 3)],
)
def test_jvp_equals_jacobian_on_random_networks(config, seed):
    """Random recurrent model-2 networks (t_ref = 0 everywhere in "t_ref-0"; draws that do not
    run away)."""
    problem = m2.random_problem(seed, **m2.CONFIGS[config])
    result = fpgrad.simulate(problem, max_spikes=500)
    assert result.n_spikes > 5
    jac = fpgrad.spike_jacobian(result)
    v = random_direction(problem, seed)
    want, scale = jacobian_times(jac, v)
    got = fpgrad.spike_jvp(problem, v).tangent
    assert np.all(np.abs(got - want) <= 1e-12 * scale)


def test_a_problem_is_simulated_first_and_a_mapping_is_a_direction():
    problem = m2.feedforward_problem(0)
    v = random_direction(problem, 1, ("weight", "bias"))
    by_result = fpgrad.spike_jvp(fpgrad.simulate(problem), v)
    by_problem = fpgrad.spike_jvp(problem, v)
    by_mapping = fpgrad.spike_jvp(problem, {"weight": v.weight, "bias": v.bias, "delay": None})
    np.testing.assert_array_equal(by_problem.tangent, by_result.tangent)
    np.testing.assert_array_equal(by_mapping.tangent, by_result.tangent)
    np.testing.assert_array_equal(by_problem.result.spike_time, by_result.result.spike_time)


@pytest.mark.parametrize(("make", "seed"), [m2.PROBLEMS[0], m2.PROBLEMS[2]])
def test_a_stack_is_the_directions_one_by_one(make, seed):
    result = well_posed(make, seed)
    stack = [
        random_direction(result.problem, 1),
        random_direction(result.problem, 2, ("input_time", "threshold")),
        fpgrad.Gradients(),  # the zero direction
        random_direction(result.problem, 3, ("tau_mem", "v_reset", "delay")),
    ]
    out = fpgrad.spike_jvp(result, stack)
    assert out.tangent.shape == (result.n_spikes, len(stack))
    for d, v in enumerate(stack):
        one = fpgrad.spike_jvp(result, v).tangent
        np.testing.assert_allclose(out.tangent[:, d], one, rtol=1e-14, atol=0)
    assert np.all(out.tangent[:, 2] == 0.0)
    single = fpgrad.spike_jvp(result, tuple(stack[:1])).tangent
    assert single.shape == (result.n_spikes, 1)
    np.testing.assert_allclose(single[:, 0], out.tangent[:, 0], rtol=1e-14, atol=0)


def _domain_direction(problem: fpgrad.Problem, seed: int, *, one_sided: bool) -> fpgrad.Gradients:
    """A random direction along which small steps stay in the domain: nothing moves a delta
    neuron's tau_syn = 0 (a discrete choice) or an infinite tau_mem; parameters at 0 (delays,
    t_ref, input times) do not move (central differences) or only up (``one_sided``)."""
    v = random_direction(problem, seed)
    values = parameter_values(problem)
    out = {}
    for group, d in v.groups().items():
        x = getattr(values, group)
        d = np.where(np.isfinite(x), d, 0.0)
        if group == "tau_syn":
            d = np.where(x == 0, 0.0, d)
        if group in ("delay", "t_ref", "input_time"):
            d = np.where(x == 0, np.abs(d) if one_sided else 0.0, d)
        out[group] = d
    return fpgrad.Gradients(**out)


def _along(problem: fpgrad.Problem, v: fpgrad.Gradients, h: float) -> fpgrad.SimulationResult:
    values = parameter_values(problem)
    for group, d in v.groups().items():
        problem = with_parameter(problem, group, getattr(values, group) + h * d)
    return fpgrad.simulate(problem)


def _finite_difference(problem, v, h, *, one_sided):
    """Richardson-extrapolated central differences ``(t(h) - t(-h)) / 2h`` of the spike times
    along ``v`` (error O(h^4)), or the forward one-sided ``(4 t(h/2) - t(h) - 3 t(0)) / h``
    (error O(h^3)); every step must keep the causal order."""
    base = fpgrad.simulate(problem)
    sig = causal_signature(base)
    steps = (0.0, h / 4, h / 2, h) if one_sided else (-h, -h / 2, h / 2, h)
    runs = {s: _along(problem, v, s) if s else base for s in steps}
    for run in runs.values():
        np.testing.assert_array_equal(causal_signature(run), sig)
    t = {s: run.spike_time for s, run in runs.items()}

    def quotient(k):
        if one_sided:
            return (4 * t[k / 2] - t[k] - 3 * t[0.0]) / k
        return (t[k] - t[-k]) / (2 * k)

    return base, (4 * quotient(h / 2) - quotient(h)) / 3


@pytest.mark.parametrize(
    ("make", "seed", "one_sided"),
    [(*m2.PROBLEMS[0], False), (*m2.PROBLEMS[2], False), (*m2.PROBLEMS[1], True),
     (*m2.PROBLEMS[3], True)],
)  # fmt: skip
def test_jvp_matches_finite_differences_along_the_direction(make, seed, one_sided):
    """To 1e-7 of the largest tangent at two steps (the quotients agree to 1e-8 or better):
    every group contributes more than 1e3 times that, so a wrong or missing seed fails.

    The steps are small (1e-6 relative) because these problems have arrivals 2e-4 ms after the
    end of their target's refractory period: a step that moves the one past the other crosses a
    kink of the spike times that the causal signature does not see (at 1e-4 some spikes are off
    by 0.5)."""
    problem = make(seed)
    m2.well_posed(problem)
    v = _domain_direction(problem, seed, one_sided=one_sided)
    jvp = fpgrad.spike_jvp(problem, v).tangent
    tol = 1e-7 * np.abs(jvp).max()
    for h in (1e-6, 4e-6):
        base, fd = _finite_difference(problem, v, h, one_sided=one_sided)
        assert np.abs(jvp - fd).max() <= tol, h
    jac = fpgrad.spike_jacobian(base)
    contributions = {g: np.abs(jac[g] @ d).max() for g, d in v.groups().items()}
    assert all(size > 1e3 * tol for size in contributions.values()), contributions
    if one_sided:  # a parameter at 0 moves: the right derivative is checked there
        values = parameter_values(problem)
        assert any(np.any((getattr(values, g) == 0) & (v.groups()[g] > 0)) for g in ("delay",))


def test_bias_driven_neuron_closed_form():
    """One neuron driven by its bias alone (test_gradients_model2): along ``(dtheta, dt_ref)``
    the k-th spike (k = 0, 1, ...) moves by ``(k + 1) df_1/dtheta dtheta + k dt_ref``."""
    tau, c, theta, v_r, t_ref = 8.0, 0.2, 1.0, -0.3, 0.7
    net = fpgrad.Network(
        0, 1, 5.0, tau, theta, pre=[], post=[], weight=[], t_ref=t_ref, bias=c, v_reset=v_r
    )
    problem = fpgrad.Problem(net, (), 30.0)
    big_c = c * tau
    out = fpgrad.spike_jvp(problem, fpgrad.Gradients(threshold=[2.0], t_ref=[-0.5]))
    k = np.arange(out.result.n_spikes)
    want = (k + 1) * 2.0 * tau / (big_c - theta) - 0.5 * k
    np.testing.assert_allclose(out.tangent, want, rtol=1e-12)
    assert math.isclose(out.tangent[0], 2.0 * tau / (big_c - theta), rel_tol=1e-12)


def test_bad_tangents_are_refused():
    problem = m2.recurrent_problem(0)
    result = fpgrad.simulate(problem)
    k, n = problem.network.n_synapses, problem.network.n_neurons
    good = np.ones(n)
    cases = [
        (fpgrad.Gradients(weight=np.ones(k - 1)), rf"tangents\.weight: expected shape \({k},\)"),
        (fpgrad.Gradients(bias=np.ones((n, 1))), rf"tangents\.bias: expected shape \({n},\)"),
        ([fpgrad.Gradients(bias=good), fpgrad.Gradients(threshold=np.ones(n + 1))],
         r"tangents\[1\]\.threshold: expected shape"),
        (fpgrad.Gradients(tau_mem=np.r_[np.nan, np.ones(n - 1)]), r"tangents\.tau_mem: .*finite"),
        ([fpgrad.Gradients(t_ref=np.r_[np.inf, np.ones(n - 1)])], r"tangents\[0\]\.t_ref: .*fin"),
        ({"weights": np.ones(k)}, r"tangents: unknown parameter group 'weights'; valid groups"),
        ([{"bias": good}, {"gain": good}], r"tangents\[1\]: unknown parameter group 'gain'"),
        ({"bias": ["a"] * n}, r"tangents\.bias: expected real numbers"),
        ({"bias": np.ones(n) * 1j}, r"tangents\.bias: expected real numbers"),
        ([], r"tangents: an empty sequence"),
        (np.ones(k), r"tangents: expected a Gradients, a \{group: array\} mapping or a list"),
        ([np.ones(k)], r"tangents\[0\]: expected a Gradients or a \{group: array\} mapping"),
    ]  # fmt: skip
    for tangents, message in cases:
        with pytest.raises(fpgrad.ProblemError, match=message) as info:
            fpgrad.spike_jvp(result, tangents)
        assert "\n" not in str(info.value)
    with pytest.raises(fpgrad.ProblemError, match="expected a Problem or SimulationResult"):
        fpgrad.spike_jvp("problem.json", fpgrad.Gradients())


def test_memory_is_estimated_first(monkeypatch):
    """8 bytes x directions x (record rows + 2N): refused with the figure before allocating."""
    from fpgrad import _memory

    problem = m2.feedforward_problem(0)
    result = fpgrad.simulate(problem)
    rows = result.record_node.shape[0] + 2 * problem.network.n_neurons
    limit = 8.0 * 40 * rows  # 40 directions exactly fit in half of this machine
    monkeypatch.setattr(_memory, "physical_memory", lambda: 2 * limit)
    v = random_direction(problem, 0, ("weight",))
    assert fpgrad.spike_jvp(result, [v] * 40).tangent.shape == (result.n_spikes, 40)
    with pytest.raises(fpgrad.ProblemError, match=r"forward-mode JVP of \d+ spikes x 41 dir"):
        fpgrad.spike_jvp(result, [v] * 41)


def test_seeds_one_hot_for_the_jacobian_coefficients_for_directions():
    from fpgrad.grad._params import direction_seeds, select_columns

    problem = m2.recurrent_problem(0)
    cols = select_columns(problem, {"weight": [3, 1], "t_ref": [2]})
    assert cols.n_columns == 3
    for group, k, want in (("weight", 1, [0]), ("weight", 3, [1]), ("t_ref", 2, [2])):
        col, val = cols.entries(group, k)
        assert col.tolist() == want and val.tolist() == [1.0]
    assert cols.entries("weight", 0)[0].size == 0 and cols.entries("bias", 2)[0].size == 0
    n = problem.network.n_neurons
    bias = np.arange(n) - 1.0  # bias[1] = 0: no entry
    seeds = direction_seeds(problem, [{"bias": bias}, {}, {"bias": 2 * bias}])
    assert seeds.n_columns == 3 and seeds.selected is None
    assert seeds.ptr[-1] == 2 * (n - 1)
    col, val = seeds.entries("bias", 3)
    assert col.tolist() == [0, 2] and val.tolist() == [2.0, 4.0]
    assert seeds.entries("bias", 1)[0].size == 0 and seeds.entries("threshold", 3)[0].size == 0

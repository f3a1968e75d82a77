"""fpgrad.testing.compare_nir: another framework's gradient of a NIR graph, keyed "node.field",
against the exact one.

The reference is independent of the exact gradient and of the mapping's chain rule: Richardson
central differences of the loss with respect to the graph's own arrays, each perturbed graph
read afresh through ``nir`` and ``read_nir`` (tests/nir_graphs.py). It agrees with the exact
gradient to ~1e-11 relative per field, so passing at the default rtol (1e-6) is meaningful, and a
field off by a percent (1e-2 relative) or with one sign flipped fails.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import fpgrad
from fpgrad import ProblemError
from fpgrad.testing import (
    DEFAULT_EXTERNAL_RTOL,
    NIRComparison,
    assert_nir_close,
    compare_external,
    compare_nir,
)

nir = pytest.importorskip("nir")

from nir_graphs import INPUTS, PARAMS, T_MAX, build_graph, nir_finite_difference  # noqa: E402

from fpgrad.nir import read_nir  # noqa: E402  (after the skip: these need nir)

#: A loss reading every spike of the Output neurons (global ids 5 and 6; targets in ms).
LOSS = fpgrad.losses.VanRossum(targets={5: [10.0, 30.0], 6: [15.0, 35.0]}, tau=5.0)


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    return nir_finite_difference(LOSS)


@pytest.fixture(scope="module")
def graph():
    return build_graph()


def test_output_neurons_are_the_loss_neurons(graph):
    net = read_nir(graph)
    assert net.output_neurons == (5, 6)
    assert set(LOSS.targets) == set(net.output_neurons)


def test_finite_differences_pass_at_the_default_tolerance(graph, reference):
    c = compare_nir(graph, INPUTS, LOSS, reference, t_max=T_MAX)
    assert isinstance(c, NIRComparison)
    assert c.passed and c.rtol == DEFAULT_EXTERNAL_RTOL
    assert [f.group for f in c.fields] == list(PARAMS)  # every field, in graph order
    for f in c.fields:
        assert f.size == PARAMS[f.group].size
        assert f.rel_error < 1e-7, f  # FD agrees to ~1e-11: far inside the 1e-6 rule
        assert f.cosine > 1 - 1e-12 and f.sign_agreement == 1.0
        assert abs(f.norm_ratio - 1) < 1e-7
    assert c.overall.group == "all" and c.overall.size == sum(a.size for a in PARAMS.values())
    # the exact side in NIR names is the mapping's chain rule of the exact gradient
    net = read_nir(graph)
    exact = net.nir_gradient(fpgrad.gradient(net.problem(INPUTS, T_MAX), LOSS).grad)
    assert set(c.exact) == set(exact)
    for name in exact:
        np.testing.assert_array_equal(c.exact[name], exact[name])
    assert_nir_close(graph, INPUTS, LOSS, reference, t_max=T_MAX)


def test_a_subset_of_fields_and_a_path(tmp_path, graph, reference):
    path = tmp_path / "net.nir"
    nir.write(path, graph)
    subset = {k: reference[k] for k in ("lif2.tau", "fc1.weight")}
    c = compare_nir(str(path), INPUTS, LOSS, subset, t_max=T_MAX)
    assert [f.group for f in c.fields] == ["fc1.weight", "lif2.tau"]  # graph order
    assert c.passed and c.overall.size == 6 + 2


def _perturbed(reference, name, index, how):
    out = {k: v.copy() for k, v in reference.items()}
    out[name][index] = out[name][index] * (1.01 if how == "percent" else -1.0)
    return out


@pytest.mark.parametrize(
    ("name", "index", "how"),
    [
        ("lif1.tau_mem", (1,), "percent"),
        ("fc2.weight", (0, 1), "sign"),
        ("delay.delay", (0,), "percent"),
    ],
)
def test_a_wrong_field_fails_on_exactly_that_row(graph, reference, name, index, how):
    c = compare_nir(graph, INPUTS, LOSS, _perturbed(reference, name, index, how), t_max=T_MAX)
    assert not c.passed
    assert [f.group for f in c.fields if not f.passed] == [name]
    row = next(f for f in c.fields if f.group == name)
    entry, norm = abs(reference[name][index]), np.linalg.norm(reference[name])
    expected = (0.01 if how == "percent" else 2.0) * entry / norm
    assert row.rel_error == pytest.approx(expected, rel=1e-6)
    if how == "sign":
        # the sign statistic counts the entries above 1e-12 max|e| (some are exactly 0 here)
        counted = np.count_nonzero(np.abs(reference[name]) > 1e-12 * np.abs(reference[name]).max())
        assert counted >= 3 and row.sign_agreement == pytest.approx(1 - 1 / counted)
    text = repr(c)
    assert (
        "FAILED" in text
        and f"{name} " in text
        and "FAIL" in text.splitlines()[3 + list(PARAMS).index(name)]
    )
    with pytest.raises(AssertionError, match="NIR gradient does not match"):
        assert_nir_close(graph, INPUTS, LOSS, _perturbed(reference, name, index, how), t_max=T_MAX)


def test_statistics_are_those_of_compare_external(graph, reference):
    """The same gradient, compared in fpgrad's layout where the mapping is one-to-one
    (fpgrad threshold = NIR v_threshold, v_reset = v_reset): identical numbers."""
    bad = _perturbed(reference, "lif1.v_threshold", (0,), "percent")
    c = compare_nir(graph, INPUTS, LOSS, {"lif1.v_threshold": bad["lif1.v_threshold"]}, t_max=T_MAX)
    net = read_nir(graph)
    problem = net.problem(INPUTS, T_MAX)
    threshold = fpgrad.gradient(problem, LOSS).grad.threshold.copy()
    threshold[0:3] = bad["lif1.v_threshold"]
    ext = compare_external(problem, LOSS, {"threshold": threshold})
    (row,) = c.fields
    assert ext.groups[0].passed is False and row.passed is False
    # fpgrad's threshold group also holds lif2's (exact) entries: same error, larger norm
    e = np.asarray(fpgrad.gradient(problem, LOSS).grad.threshold)
    assert row.max_abs_error == ext.groups[0].max_abs_error
    assert row.rel_error == pytest.approx(
        ext.groups[0].rel_error * np.linalg.norm(e) / np.linalg.norm(e[:3]), rel=1e-12
    )


def test_report_table_dt_note_and_time_units(graph, reference):
    c = compare_nir(graph, INPUTS, LOSS, reference, t_max=T_MAX, dt=1e-4)
    text = repr(c)
    lines = text.splitlines()
    assert lines[0].startswith("NIR gradient vs exact-reverse") and "PASSED" in lines[0]
    assert lines[1].split()[:3] == ["node.field", "n", "cosine"]
    assert lines[-2].startswith("degeneracy margins:") and "ok (>=" in lines[-2]
    assert "dt = 0.0001 s = 0.1 ms" in lines[-1]
    assert c.dt == 1e-4 and c.dt_ms == pytest.approx(0.1, rel=1e-15)
    assert "dt =" not in repr(compare_nir(graph, INPUTS, LOSS, reference, t_max=T_MAX))
    # the same graph with every time in ms: gradients of times scale by 1/1000
    # the same network with every time in ms: time constants and delays x 1000, and the
    # weights too (a NIR spike is a delta in the graph's unit, its charge ~ w / tau); the
    # gradient of each of those fields / 1000, the others unchanged
    scaled = ("lif1.tau_syn", "lif1.tau_mem", "delay.delay", "lif2.tau", "fc1.weight", "fc2.weight")
    ms_graph = build_graph({k: v * 1000 if k in scaled else v for k, v in PARAMS.items()})
    ms_inputs = [np.asarray(t) * 1000 for t in INPUTS]
    ms_ref = {k: v / 1000 if k in scaled else v for k, v in reference.items()}
    c_ms = compare_nir(
        ms_graph, ms_inputs, LOSS, ms_ref, t_max=T_MAX * 1000, time_unit="ms", dt=0.1
    )
    assert c_ms.passed, c_ms
    assert c_ms.time_unit == "ms" and "dt = 0.1 ms = 0.1 ms" in repr(c_ms)


def test_a_network_already_read(graph, reference):
    net = read_nir(graph)
    assert compare_nir(net, INPUTS, LOSS, reference, t_max=T_MAX).passed
    with pytest.raises(ProblemError, match="read with time_unit 's'"):
        compare_nir(net, INPUTS, LOSS, reference, t_max=T_MAX, time_unit="ms")
    with pytest.raises(ProblemError, match=r"spike_area = 0\.5, but the NIRNetwork was read with"):
        compare_nir(net, INPUTS, LOSS, reference, t_max=T_MAX, spike_area=0.5)


@pytest.mark.parametrize(
    ("external", "match"),
    [
        ({"lif1.tau": np.zeros(3)}, r"unknown field 'lif1.tau'; the graph's differentiable"),
        (
            {"fc1.weight": np.zeros(6)},
            r"fc1.weight has shape \(6,\), the graph's field has shape \(3, 2\)",
        ),
        ({"lif2.tau": [1.0, math.nan]}, r"lif2.tau\[1\] = nan is not finite"),
        ({"fc2.weight": np.full((2, 3), np.inf)}, r"fc2.weight\[0, 0\] = inf is not finite"),
        ({"lif2.r": np.array(["a", "b"])}, r"lif2.r holds <U1 values, expected real numbers"),
        ({}, r"no fields"),
        ([1.0, 2.0], r"expected a mapping"),
    ],
)
def test_bad_external_gradients_are_one_line_errors(graph, external, match):
    with pytest.raises(ProblemError, match=match) as info:
        compare_nir(graph, INPUTS, LOSS, external, t_max=T_MAX)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"dt": 0.0}, r"dt = 0.0 must be a finite number > 0"),
        ({"dt": math.nan}, r"dt = nan"),
        ({"rtol": -1.0}, r"rtol = -1.0 must be finite and >= 0"),
        ({"time_unit": "us"}, r"us"),
    ],
)
def test_bad_options_are_one_line_errors(graph, reference, options, match):
    with pytest.raises(ProblemError, match=match) as info:
        compare_nir(graph, INPUTS, LOSS, reference, t_max=T_MAX, **options)
    assert "\n" not in str(info.value)

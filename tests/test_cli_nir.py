"""The command line on NIR graphs: ``fpgrad simulate|grad|check|compare model.nir --inputs FILE``.

Each command runs in process (``fpgrad.cli.main``) on a ``.nir`` file written by ``nir.write``
(the graph of tests/nir_graphs.py), its inputs from ``.npz`` and ``.json`` files, and its output
is checked against the Python API on the same graph; ``check --gradient`` against an external
gradient built independently (finite differences of the graph's own arrays, keyed
``node.field``). Bad input is one line ``fpgrad: error: ...`` and exit code 2.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import fpgrad
from fpgrad.cli import main

nir = pytest.importorskip("nir")

from nir_graphs import INPUTS, PARAMS, T_MAX, build_graph, nir_finite_difference  # noqa: E402

from fpgrad.nir import read_nir  # noqa: E402  (after the skip: these need nir)

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {5: [10.0, 30.0], 6: [15.0, 35.0]}
LOSS = fpgrad.losses.VanRossum(targets=TARGETS, tau=5.0)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("nir_cli")
    paths = {
        k: str(d / name)
        for k, name in (
            ("graph", "net.nir"),
            ("json", "in.json"),
            ("npz", "in.npz"),
            ("npz_no_t", "in_no_t.npz"),
            ("target", "target.json"),
            ("theirs", "theirs.npz"),
        )
    }
    nir.write(paths["graph"], build_graph())
    Path(paths["json"]).write_text(json.dumps({"inputs": INPUTS, "t_max": T_MAX}))
    np.savez(paths["npz"], **{str(j): np.array(t) for j, t in enumerate(INPUTS)}, t_max=T_MAX)
    np.savez(paths["npz_no_t"], **{str(j): np.array(t) for j, t in enumerate(INPUTS)})
    Path(paths["target"]).write_text(
        json.dumps({"targets": {"5": [10.0, 30.0], "6": [15.0, 35.0]}, "tau": 5.0})
    )
    np.savez(paths["theirs"], **nir_finite_difference(LOSS))
    return paths


def run(capsys, *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as exc:  # a usage error (argparse)
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def json_out(capsys, *args: str) -> dict:
    code, out, err = run(capsys, *args)
    assert code == 0 and err == "", err
    return json.loads(out)


@pytest.fixture(scope="module")
def net(files):
    """The graph as the commands read it (nir.read orders the nodes by name)."""
    return read_nir(files["graph"])


def test_example_files_hold_the_test_graph():
    """examples/nir_net.nir, nir_inputs.json, nir_target.json and nir_theirs.npz (README) are
    the graph, inputs, loss and finite-difference gradient of tests/nir_graphs.py."""
    example = read_nir(ROOT / "examples" / "nir_net.nir")
    params = example.parameters()
    assert set(params) == set(PARAMS)
    for name, value in PARAMS.items():
        np.testing.assert_array_equal(params[name], value)
    data = json.loads((ROOT / "examples" / "nir_inputs.json").read_text())
    assert data == {"inputs": INPUTS, "t_max": T_MAX}
    target = json.loads((ROOT / "examples" / "nir_target.json").read_text())
    assert target == {"targets": {str(k): v for k, v in TARGETS.items()}, "tau": 5.0}
    with np.load(ROOT / "examples" / "nir_theirs.npz") as theirs:
        c = fpgrad.testing.compare_nir(example, INPUTS, LOSS, dict(theirs), t_max=T_MAX)
    assert c.passed and c.overall.rel_error < 1e-9


@pytest.mark.parametrize("inputs", ["json", "npz"])
def test_simulate(capsys, files, net, inputs):
    got = json_out(capsys, "simulate", files["graph"], "--inputs", files[inputs])
    want = fpgrad.simulate(net.problem(INPUTS, T_MAX)).to_dict()
    assert {k: got[k] for k in want} == json.loads(json.dumps(want))
    assert got["nir"] == {
        "time_unit": "s",
        "spike_area": 1.0,
        "input_node": "input",
        "neurons": {"lif1": [2, 3, 4], "lif2": [5, 6]},
        "output_neurons": [5, 6],
    }


def test_t_max_option_overrides_the_file_and_is_needed_without_it(capsys, files, net):
    got = json_out(capsys, "simulate", files["graph"], "--inputs", files["npz"], "--t-max", "0.02")
    want = fpgrad.simulate(net.problem(INPUTS, 0.02))
    assert got["spike_time"] == want.spike_time.tolist() and max(got["spike_time"]) <= 20.0
    no_t = json_out(
        capsys, "simulate", files["graph"], "--inputs", files["npz_no_t"], "--t-max", "0.05"
    )
    assert no_t["spike_time"] == fpgrad.simulate(net.problem(INPUTS, T_MAX)).spike_time.tolist()
    code, _, err = run(capsys, "simulate", files["graph"], "--inputs", files["npz_no_t"])
    assert code == 2 and "needs --t-max T (in the graph's time unit, s)" in err


@pytest.mark.parametrize("inputs", ["json", "npz"])
def test_grad_in_nir_names_by_default(capsys, files, net, inputs):
    args = (
        "grad",
        files["graph"],
        "--inputs",
        files[inputs],
        "--loss",
        "van-rossum",
        "--target",
        files["target"],
    )
    got = json_out(capsys, *args)
    res = fpgrad.gradient(net.problem(INPUTS, T_MAX), LOSS)
    want = net.nir_gradient(res.grad)
    assert list(got["gradient"]) == list(want)
    for name, value in want.items():  # JSON floats round-trip exactly
        np.testing.assert_array_equal(np.array(got["gradient"][name]), value)
    assert got["loss"] == res.loss and got["nir"]["output_neurons"] == [5, 6]
    fp = json_out(capsys, *args, "--names", "fpgrad")
    assert fp["gradient"] == res.grad.to_dict()


def test_spike_area_option_reads_the_graph_as_read_nir_does(capsys, files):
    """``--spike-area A`` is ``read_nir(graph, spike_area=A)``: its spikes and NIR-named gradient
    (which differ from the unit-area reading) in ``simulate`` and ``grad``."""
    area = 0.5
    net_a = read_nir(files["graph"], spike_area=area)
    problem = net_a.problem(INPUTS, T_MAX)
    common = (files["graph"], "--inputs", files["json"], "--spike-area", str(area))
    got = json_out(capsys, "simulate", *common)
    assert got["spike_time"] == fpgrad.simulate(problem).to_dict()["spike_time"]
    assert got["nir"]["spike_area"] == area
    got = json_out(capsys, "grad", *common, "--loss", "van-rossum", "--target", files["target"])
    want = net_a.nir_gradient(fpgrad.gradient(problem, LOSS).grad)
    for name, value in want.items():
        np.testing.assert_array_equal(np.array(got["gradient"][name]), value)
    unit = json_out(
        capsys, "grad", *common[:3], "--loss", "van-rossum", "--target", files["target"]
    )
    assert unit["gradient"]["fc1.weight"] != got["gradient"]["fc1.weight"]


def test_grad_targets_default_to_the_output_node(capsys, files, net, tmp_path):
    target = tmp_path / "mse.json"
    target.write_text(json.dumps({"targets": [8.0, 9.0]}))
    got = json_out(
        capsys,
        "grad",
        files["graph"],
        "--inputs",
        files["json"],
        "--loss",
        "first-spike-mse",
        "--target",
        str(target),
    )
    loss = fpgrad.losses.FirstSpikeMSE(targets=[8.0, 9.0], neurons=net.output_neurons)
    assert got["loss"] == fpgrad.gradient(net.problem(INPUTS, T_MAX), loss).loss


def _check(capsys, files, theirs: str, *extra: str) -> tuple[int, str, str]:
    return run(
        capsys,
        "check",
        files["graph"],
        "--inputs",
        files["json"],
        "--loss",
        "van-rossum",
        "--target",
        files["target"],
        "--gradient",
        theirs,
        *extra,
    )


def test_check_an_nir_gradient(capsys, files):
    code, out, err = _check(capsys, files, files["theirs"], "--dt", "0.0001")
    assert code == 0 and err == ""
    assert "NIR gradient vs exact-reverse" in out and "PASSED (pass if" in out
    assert "dt = 0.0001 s = 0.1 ms" in out and out.rstrip().endswith("verdict: PASS")
    for name in PARAMS:
        assert any(
            line.startswith(name + " ") and line.endswith(" ok") for line in out.splitlines()
        )


def test_check_fails_on_the_wrong_field(capsys, files, tmp_path):
    with np.load(files["theirs"]) as data:
        theirs = dict(data)
    theirs["lif2.tau"] = theirs["lif2.tau"] * np.array([1.01, 1.0])
    bad = tmp_path / "bad.npz"
    np.savez(bad, **theirs)
    code, out, _ = _check(capsys, files, str(bad))
    assert code == 1 and out.rstrip().endswith("verdict: FAIL")
    failing = [line.split()[0] for line in out.splitlines() if line.endswith("  FAIL")]
    assert failing == ["lif2.tau"]


@pytest.mark.slow
def test_compare(capsys, files, net, tmp_path):
    pytest.importorskip("jax")
    out_dir = tmp_path / "cmp"
    code, _, err = run(
        capsys,
        "compare",
        files["graph"],
        "--inputs",
        files["npz"],
        "--loss",
        "van-rossum",
        "--target",
        files["target"],
        "--dt",
        "0.1",
        "--surrogate",
        "sigmoid",
        "--repeats",
        "1",
        "--out-dir",
        str(out_dir),
    )
    assert code == 0, err
    want = fpgrad.compare(
        net.problem(INPUTS, T_MAX), LOSS, dts=[0.1], surrogates=["sigmoid"], repeats=1
    )
    got = json.loads((out_dir / "compare.json").read_text())["rows"]
    want_rows = json.loads(json.dumps(want.to_dict()))["rows"]
    assert len(got) == len(want_rows) == 1
    for key, value in want_rows[0].items():  # all but the timings are deterministic
        if not key.endswith("_time_s"):
            assert got[0][key] == value, key
    assert (
        got[0]["loss_exact"]
        == LOSS.value_and_spike_grad(fpgrad.simulate(net.problem(INPUTS, T_MAX)))[0]
    )


def _write(tmp_path: Path, name: str, content) -> str:
    path = tmp_path / name
    if isinstance(content, dict) and name.endswith(".npz"):
        np.savez(path, **content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


BAD_INPUTS = [
    (
        "in.json",
        {"inputs": [[0.001]]},
        r"inputs: expected 2 lists of spike times \(channels 0..1 of Input node input\), got 1",
    ),
    ("in.json", {"inputs": [[0.001], [0.002, "x"]]}, r"inputs\[1\]\[1\] = 'x': expected a number"),
    (
        "in.json",
        {"inputs": [[0.001], [0.002]], "t_max": 0.05, "dt": 1},
        r"unknown key dt \(allowed: inputs, t_max\)",
    ),
    ("in.json", {"inputs": [[0.001], [0.002]], "t_max": "1"}, r"t_max = '1': expected a number"),
    ("in.json", "[1, 2]", r"expected a JSON object"),
    ("in.json", "{", r"not valid JSON"),
    (
        "in.npz",
        {"0": np.array([0.001]), "1": np.array([np.nan])},
        r"channel 1: spike time \[0\] = nan is not finite",
    ),
    (
        "in.npz",
        {"0": np.array([0.001]), "2": np.array([0.002])},
        r"unknown array 2; expected one array per channel of Input node input, named 0..1",
    ),
    ("in.npz", {"0": np.array([0.001])}, r"no array '1'"),
    (
        "in.npz",
        {"0": np.zeros((2, 2)), "1": np.zeros(1)},
        r"array '0' has shape \(2, 2\), expected a 1-d array",
    ),
    (
        "in.npz",
        {"0": np.zeros(1), "1": np.zeros(1), "t_max": np.zeros(2)},
        r"t_max must be one number",
    ),
    (
        "in.npz",
        {"0": np.zeros(1), "1": np.zeros(1), "t_max": np.array(np.inf)},
        r"t_max = inf must be a finite number >= 0",
    ),
    ("in.txt", "0.1", r"expected a .npz or .json file of input spike times"),
]


@pytest.mark.parametrize(("name", "content", "match"), BAD_INPUTS)
def test_bad_inputs_files_are_one_line_errors(capsys, files, tmp_path, name, content, match):
    path = _write(tmp_path, name, content)
    code, out, err = run(capsys, "simulate", files["graph"], "--inputs", path)
    assert code == 2 and out == ""
    assert err.startswith("fpgrad: error: --inputs ") and err.count("\n") == 1, err
    assert re.search(match, err), err


def test_bad_command_lines_are_one_line_errors(capsys, files, tmp_path):
    problem_json = str(ROOT / "examples" / "problem.json")
    unknown = _write(tmp_path, "unknown.npz", {"lif1.tau": np.zeros(3)})
    shape = _write(tmp_path, "shape.npz", {"fc1.weight": np.zeros(6)})
    nan = _write(tmp_path, "nan.npz", {"lif2.r": np.array([1.0, np.nan])})
    not_npz = _write(tmp_path, "garbage.npz", "not a zip")
    garbage_nir = _write(tmp_path, "garbage.nir", "not HDF5")
    loss = ("--loss", "van-rossum", "--target", files["target"])
    cases = [
        (
            ("simulate", files["graph"]),
            "is a NIR graph, which holds no inputs: give them with --inputs",
        ),
        (("grad", files["graph"], *loss), "holds no inputs"),
        (("simulate", problem_json, "--inputs", files["json"]), "--inputs is for a .nir problem"),
        (("simulate", problem_json, "--t-max", "1"), "--t-max is for a .nir problem"),
        (("simulate", problem_json, "--time-unit", "ms"), "--time-unit is for a .nir problem"),
        (("simulate", problem_json, "--spike-area", "1"), "--spike-area is for a .nir problem"),
        (
            ("simulate", files["graph"], "--inputs", files["json"], "--spike-area", "0"),
            "spike_area: expected a finite number > 0",
        ),
        (
            ("grad", problem_json, "--loss", "spike-count", "--names", "nir"),
            "--names nir is for a .nir problem",
        ),
        (
            ("check", problem_json, "--loss", "first-spike-ce", "--dt", "0.1"),
            "--dt is the time step",
        ),
        (
            ("check", files["graph"], "--inputs", files["json"], *loss, "--dt", "0.1"),
            "--dt is the time step",
        ),
        (
            ("check", files["graph"], "--inputs", files["json"], *loss, "--gradient", unknown),
            "unknown field 'lif1.tau'; the graph's differentiable fields are",
        ),
        (
            ("check", files["graph"], "--inputs", files["json"], *loss, "--gradient", shape),
            "fc1.weight has shape (6,), the graph's field has shape (3, 2)",
        ),
        (
            ("check", files["graph"], "--inputs", files["json"], *loss, "--gradient", nan),
            "lif2.r[1] = nan is not finite",
        ),
        (
            ("check", files["graph"], "--inputs", files["json"], *loss, "--gradient", not_npz),
            "not a readable .npz",
        ),
        (
            ("check", files["graph"], "--inputs", files["json"], *loss, "--gradient", files["npz"]),
            "unknown field '0'",
        ),
        (("simulate", str(tmp_path / "missing.nir"), "--inputs", files["json"]), "missing.nir"),
        (("simulate", garbage_nir, "--inputs", files["json"]), "not a readable NIR file"),
        (("simulate", files["graph"], "--inputs", files["json"], "--t-max", "nan"), "--t-max"),
        (
            ("simulate", files["graph"], "--inputs", files["json"], "--time-unit", "us"),
            "--time-unit",
        ),
    ]
    for args, message in cases:
        code, out, err = run(capsys, *args)
        assert code == 2 and out == "", (args, out, err)
        assert err.startswith("fpgrad: error: ") and err.count("\n") == 1, (args, err)
        assert message in err, (args, err)


def test_a_nir_file_without_the_suffix_is_read_by_its_signature(capsys, files, tmp_path, net):
    renamed = tmp_path / "graph.h5"
    renamed.write_bytes(Path(files["graph"]).read_bytes())
    got = json_out(capsys, "simulate", str(renamed), "--inputs", files["json"])
    assert got["spike_time"] == fpgrad.simulate(net.problem(INPUTS, T_MAX)).spike_time.tolist()


def test_time_unit_ms(capsys, tmp_path):
    """The same network with every time in ms (--time-unit ms): the same spikes."""
    scaled = ("lif1.tau_syn", "lif1.tau_mem", "delay.delay", "lif2.tau", "fc1.weight", "fc2.weight")
    graph = tmp_path / "ms.nir"
    nir.write(graph, build_graph({k: v * 1000 if k in scaled else v for k, v in PARAMS.items()}))
    inputs = _write(
        tmp_path, "ms.json", {"inputs": [[t * 1000 for t in c] for c in INPUTS], "t_max": 50.0}
    )
    got = json_out(capsys, "simulate", str(graph), "--inputs", inputs, "--time-unit", "ms")
    want = fpgrad.simulate(read_nir(build_graph()).problem(INPUTS, T_MAX))
    assert got["spike_node"] == want.spike_node.tolist() and got["nir"]["time_unit"] == "ms"
    np.testing.assert_allclose(got["spike_time"], want.spike_time, rtol=1e-12)

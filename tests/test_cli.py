"""The command line: ``fpgrad simulate PROBLEM.json`` (also ``python -m fpgrad``).

Checked both in process (``fpgrad.cli.main``, fast) and as a real subprocess (what a user runs:
exit codes, stdout/stderr separation, no traceback on bad input). Subprocesses start a fresh
interpreter (and Numba's cache), so there are only a few of them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fpgrad
from fpgrad.cli import main

EXAMPLE = {
    "format": "fpgrad-problem/1",
    "t_max": 40.0,
    "tau_syn": 5.0,
    "neurons": {"count": 3, "tau_mem": 10.0, "threshold": [1.0, 1.0, 0.8]},
    "inputs": [[1.0, 4.5], [2.25]],
    "synapses": {"pre": [0, 1, 2, 3], "post": [2, 2, 3, 4], "weight": [2.4, 1.3, 3.9, -0.2]},
}


@pytest.fixture
def problem_file(tmp_path: Path) -> Path:
    """A problem with a few spikes in several neurons and awkward float times."""
    rng = np.random.default_rng(5)
    net = fpgrad.random_recurrent_network(
        4, 4, rng, input_synapses=3, recurrent_synapses=2, input_weight=0.3, recurrent_weight=0.05
    )
    prob = fpgrad.Problem(net, tuple(fpgrad.poisson_inputs(4, 100.0, 40.0, rng)), 40.0)
    path = tmp_path / "problem.json"
    fpgrad.save_problem(prob, path)
    return path


def expected_output(path: Path) -> dict:
    """What ``simulate`` prints for a problem file: the result's JSON form."""
    return json.loads(json.dumps(fpgrad.simulate(fpgrad.load_problem(path)).to_dict()))


def console_script() -> list[str]:
    """The installed ``fpgrad`` command, or ``python -m fpgrad`` where it is not installed."""
    script = shutil.which("fpgrad", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "fpgrad"]


def run_cli(*args: str, command: list[str] | None = None) -> subprocess.CompletedProcess:
    """Run the command line in a fresh process (default ``python -m fpgrad``)."""
    return subprocess.run(
        [*(command or [sys.executable, "-m", "fpgrad"]), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


# --- in process ------------------------------------------------------------------------------


def test_simulate_prints_json(problem_file, capsys):
    """``simulate`` prints one JSON object with the spikes (exactly the simulator's floats, as
    JSON round-trips ``repr``) and the degeneracy report, and returns 0."""
    assert main(["simulate", str(problem_file)]) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert set(data) >= {"spike_node", "spike_time", "degeneracy"}
    want = expected_output(problem_file)
    assert data["spike_node"] == want["spike_node"]
    assert data["spike_time"] == want["spike_time"]  # bit for bit
    assert data["degeneracy"] == want["degeneracy"]
    assert len(data["spike_time"]) >= 3
    assert set(data["degeneracy"]) >= {"min_peak_gap", "min_crossing_slope"}
    assert err == ""


def test_simulate_design_example(tmp_path, capsys):
    """The README example (examples/problem.json) works from a hand-written file; global ids."""
    path = tmp_path / "example.json"
    path.write_text(json.dumps(EXAMPLE))
    assert main(["simulate", str(path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["spike_node"] and set(data["spike_node"]) <= {2, 3, 4}
    assert data["spike_time"] == sorted(data["spike_time"])


def test_out_file(problem_file, tmp_path, capsys):
    """``--out FILE`` writes the same JSON to FILE and nothing to stdout."""
    out_path = tmp_path / "spikes.json"
    assert main(["simulate", str(problem_file), "--out", str(out_path)]) == 0
    out, _ = capsys.readouterr()
    assert out == ""
    assert json.loads(out_path.read_text()) == expected_output(problem_file)


def test_no_spikes_gives_valid_json(tmp_path, capsys):
    """Without spikes the margins are infinite: they must come out as valid JSON (``null``),
    never as the non-standard ``Infinity``/``NaN``."""
    data = json.loads(json.dumps(EXAMPLE))
    data["inputs"] = [[], []]
    path = tmp_path / "quiet.json"
    path.write_text(json.dumps(data))
    assert main(["simulate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Infinity" not in out and "NaN" not in out
    parsed = json.loads(out)
    assert parsed["spike_node"] == [] and parsed["spike_time"] == []


@pytest.mark.parametrize("argv", [["--help"], ["simulate", "--help"]])
def test_help_exits_zero(argv, capsys):
    """``--help`` prints usage and exits with status 0."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "usage" in out.lower() and "simulate" in out


def test_no_command_is_a_usage_error(capsys):
    """No command: argparse's usage error (status 2), not a traceback."""
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2


def _malformed(tmp_path: Path, mutate) -> Path:
    data = json.loads(json.dumps(EXAMPLE))
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["neurons"].update(threshold=[1.0, 1.0]), "neurons.threshold"),
        (lambda d: d["synapses"].pop("weight"), "synapses.weight"),
        (lambda d: d["synapses"].update(post=[2, 2, 3, 0]), "synapses.post"),
        (lambda d: d.update(tau_syn=-1.0), "tau_syn"),
        (lambda d: d["inputs"][0].append(-3.0), "inputs[0]"),
        (lambda d: d.update(speed=1), "speed"),
    ],
)
def test_malformed_file_names_field(tmp_path, capsys, mutate, field):
    """A malformed problem file: non-zero status, the field named on stderr, stdout empty."""
    path = _malformed(tmp_path, mutate)
    assert main(["simulate", str(path)]) != 0
    out, err = capsys.readouterr()
    assert out == ""
    assert field in err
    assert "Traceback" not in err


def test_invalid_json_and_missing_file(tmp_path, capsys):
    """Invalid JSON and a missing file: non-zero status and a one-line message naming the file."""
    bad = tmp_path / "broken.json"
    bad.write_text('{"format": ')
    assert main(["simulate", str(bad)]) != 0
    err = capsys.readouterr().err
    assert "broken.json" in err and "JSON" in err and "Traceback" not in err
    assert main(["simulate", str(tmp_path / "absent.json")]) != 0
    err = capsys.readouterr().err
    assert "absent.json" in err and "Traceback" not in err


def test_runaway_is_reported(tmp_path, capsys):
    """Runaway excitation with ``--max-spikes``: non-zero status, a message about the budget."""
    data = json.loads(json.dumps(EXAMPLE))
    data["synapses"] = {"pre": [0, 2], "post": [2, 2], "weight": [3.0, 1.0]}
    data["t_max"] = 1e6
    path = tmp_path / "runaway.json"
    path.write_text(json.dumps(data))
    assert main(["simulate", str(path), "--max-spikes", "500"]) != 0
    out, err = capsys.readouterr()
    assert out == "" and "max_spikes" in err and "Traceback" not in err


# --- as a user runs it -----------------------------------------------------------------------


def test_subprocess_simulate(problem_file, tmp_path):
    """``fpgrad simulate FILE`` (the console script) prints the JSON on stdout and
    ``python -m fpgrad simulate FILE --out F`` writes the same JSON to F, nothing on stdout."""
    done = run_cli("simulate", str(problem_file), command=console_script())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == expected_output(problem_file)
    out_path = tmp_path / "o.json"
    done = run_cli("simulate", str(problem_file), "--out", str(out_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert json.loads(out_path.read_text()) == expected_output(problem_file)


def test_subprocess_malformed_file(tmp_path):
    """As a subprocess, a malformed file exits non-zero with the field on stderr, no traceback
    and nothing on stdout."""
    path = _malformed(tmp_path, lambda d: d["neurons"].update(tau_mem=[10.0, 0.0, 10.0]))
    done = run_cli("simulate", str(path))
    assert done.returncode != 0
    assert "neurons.tau_mem" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("args", [["--help"], ["simulate", "--help"]])
def test_subprocess_help(args):
    """``fpgrad --help`` and ``fpgrad simulate --help`` exit 0 with a usage text."""
    done = run_cli(*args, command=console_script())
    assert done.returncode == 0, done.stderr
    assert "usage" in done.stdout.lower() and "simulate" in done.stdout


# --- hostile input: one line, exit code 2 ----------------------------------------------------


def one_error_line(code: int, err: str) -> str:
    """The promise for bad input: exit code 2 and exactly one line ``fpgrad: error: ...``;
    returns the message after the prefix."""
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("fpgrad: error: "), err
    return err[len("fpgrad: error: ") : -1]


def run_main(argv: list[str], capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def _file(tmp_path: Path, name: str, content: bytes | str | dict) -> str:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content)
    else:
        path.write_text(json.dumps(content))
    return str(path)


def _example_with(**changes) -> dict:
    data = json.loads(json.dumps(EXAMPLE))
    for path, value in changes.items():
        *keys, last = path.split("__")
        target = data
        for key in keys:
            target = target[key]
        target[last] = value
    return data


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"format": "\xff"}',
         "{path}: not UTF-8 text (byte 0xff at offset 12); JSON files must be UTF-8"),
        ("[" * 100_000, "{path}: not valid for fpgrad: JSON nested more than 32 levels deep"),
        (json.dumps(EXAMPLE).replace("40.0", "1" + "0" * 400),
         "t_max = 100000000000...000 (401 digits) is too large: numbers must fit in a float64 "
         "(|x| < 1.8e308)"),
        (_example_with(neurons__count=10**12),
         "neurons.count = 1000000000000 is too large: at most 100000000 neurons (their parameter "
         "arrays alone would take 43.7 TiB)"),
        (_example_with(synapses__pre=[9223372036854775808, 1, 2, 3]),
         "synapses.pre[0] = 9223372036854775808 is out of range: node ids are 0..4"),
        (_example_with(synapses__pre=[1e30, 1, 2, 3]),
         "synapses.pre[0] = 1e+30 is out of range: node ids are 0..4"),
        (_example_with(neurons__tau_mem=1e-310),
         "neurons.tau_mem = 1e-310 is too small: time constants must be >= "
         "2.2250738585072014e-308 ms (the smallest normal float64; 1/tau overflows below)"),
    ],
    ids=["utf8", "deep", "huge-int", "count", "id-int64", "id-1e30", "subnormal"],
)  # fmt: skip
@pytest.mark.parametrize("command", ["simulate", "grad", "check"])
def test_hostile_problem_file_is_one_line(tmp_path, capsys, content, message, command):
    """Each of these used to end in a traceback (UnicodeDecodeError, RecursionError,
    OverflowError, MemoryError) or print a numpy RuntimeWarning and a wrong node id."""
    path = _file(tmp_path, "p.json", content)
    argv = [command, path] + ([] if command == "simulate" else ["--loss", "first-spike-ce"])
    code, out, err = run_main(argv, capsys)
    assert one_error_line(code, err) == message.format(path=path)
    assert out == ""


def test_overflowing_loss_is_an_error_not_a_crash(tmp_path, capsys):
    """A loss that overflows (``t_max`` 1e300, or ``tau1`` 1 µs) used to crash in
    ``json.dumps(allow_nan=False)``; now one line naming the value and the likely cause."""
    path = _file(tmp_path, "p.json", _example_with(t_max=1e300))
    code, out, err = run_main(["grad", path, "--loss", "first-spike-ce"], capsys)
    assert one_error_line(code, err) == (
        "loss = inf is not finite: the loss overflowed float64: its term alpha * "
        "exp(t_label / tau1) overflows once t_label / tau1 > 709 (tau1 = 10 ms, and a silent "
        "label neuron counts as t_max: t_max = 1e+300 ms); use a larger tau1 or a smaller t_max"
    )
    assert out == ""
    target = _file(tmp_path, "t.json", {"tau1": 0.001})
    for command in ("grad", "check", "compare"):
        code, out, err = run_main(
            [command, "examples/problem.json", "--loss", "first-spike-ce", "--target", target],
            capsys,
        )
        msg = one_error_line(code, err)
        assert msg.startswith("loss = inf is not finite") and "tau1 = 0.001 ms" in msg
        assert out == ""


def test_overflow_inside_numpy_is_an_error_not_a_warning(tmp_path, capsys):
    """An overflow in numpy used to print ``RuntimeWarning: overflow encountered in ...`` (here
    the squared first-spike error of a spike near 1e308) before crashing on the output."""
    data = _example_with(t_max=1.7e308, inputs=[[1e-300], [1.0]])
    path = _file(tmp_path, "p.json", data)
    target = "examples/target_mse.json"
    code, out, err = run_main(
        ["grad", path, "--loss", "first-spike-mse", "--target", target], capsys
    )
    msg = one_error_line(code, err)
    assert "overflow" in msg or "not finite" in msg, msg
    assert out == ""


def test_fd_gradient_without_a_usable_step_is_null(monkeypatch, capsys):
    """The one documented non-finite value: ``--method fd`` writes ``null`` where no step kept
    the spike sequence (``NaN`` in :class:`~fpgrad.FiniteDifference`'s result)."""
    import dataclasses

    import fpgrad.cli.grad as grad_cli

    real = grad_cli.gradient

    def with_a_nan(problem, loss, method):
        res = real(problem, loss, method)
        weight = res.grad.weight.copy()
        weight[1] = np.nan
        return dataclasses.replace(res, grad=dataclasses.replace(res.grad, weight=weight))

    monkeypatch.setattr(grad_cli, "gradient", with_a_nan)
    argv = ["grad", "examples/problem.json", "--loss", "first-spike-mse"]
    argv += ["--target", "examples/target_mse.json"]
    code, out, err = run_main([*argv, "--method", "fd"], capsys)
    assert code == 0 and err == ""
    data = json.loads(out)
    assert data["gradient"]["weight"][1] is None and data["gradient"]["weight"][0] is not None
    assert data["degenerate"] is True
    code, out, err = run_main(argv, capsys)  # an exact method: NaN is an error
    assert one_error_line(code, err).startswith("gradient.weight[1] = nan is not finite")


def test_emit_refuses_non_finite_values(capsys):
    from fpgrad.cli._common import emit

    with pytest.raises(fpgrad.ProblemError, match=r"^a\.b\[1\] = inf is not finite"):
        emit({"a": {"b": [1.0, float("inf")]}}, None)
    assert capsys.readouterr().out == ""


MSE, CE, VR = "first-spike-mse", "first-spike-ce", "van-rossum"
BAD_TARGETS = [
    (MSE, '{"targets": ', "{path}: not valid JSON (Expecting value: line 1 column 13 (char 12))"),
    (MSE, b'{"targets": [1\xff]}',
     "{path}: not UTF-8 text (byte 0xff at offset 14); JSON files must be UTF-8"),
    (MSE, '{"targets": ' + "[" * 100_000,
     "{path}: not valid for fpgrad: JSON nested more than 32 levels deep"),
    (MSE, {"targets": ["a"]}, "{path}: targets[0] = 'a': expected a number"),
    (MSE, {"targets": [float("nan")], "neurons": [3]}, "{path}: targets[0] = nan is not finite"),
    (MSE, {"targets": [1.0], "neurons": [3.7]},
     "{path}: neurons[0] = 3.7: expected an integer neuron id"),
    (MSE, {"targets": [1.0], "neurons": [9]},
     "{path}: neurons[0] = 9 is not a neuron: neuron ids are 2..4"),
    (MSE, {"targets": [1.0], "speed": 1},
     "{path}: unknown field speed for loss first-spike-mse (allowed: neurons, targets)"),
    (CE, {"label": 0.9}, "{path}: label = 0.9: expected an integer"),
    (CE, [1], "{path}: expected a JSON object of loss arguments, got an array"),
    (VR, {"targets": [1, 2]},
     '{path}: targets: expected an object {{"neuron id": [spike times]}}, got an array'),
    (VR, {"targets": {"x": 1}}, "{path}: targets: key 'x' is not a neuron id (an integer)"),
    (VR, {"targets": {"3": 1}}, "{path}: targets['3']: expected a list of numbers, got a number"),
    (VR, {"targets": {"99": [1.0]}},
     "{path}: targets: key '99' = 99 is not a neuron: neuron ids are 2..4"),
    ("spike-count", {"targets": [10**400], "neurons": [3]},
     "{path}: targets[0] = 100000000000...000 (401 digits) is too large: numbers must fit in a "
     "float64 (|x| < 1.8e308)"),
]  # fmt: skip


@pytest.mark.parametrize(("loss", "content", "message"), BAD_TARGETS)
def test_bad_target_file_is_one_line(tmp_path, capsys, loss, content, message):
    """``--target`` files: each of these used to be a traceback (JSONDecodeError,
    AttributeError, ValueError, UnicodeDecodeError, RecursionError, OverflowError) or a silent
    conversion (neuron 3.7 read as 3, label 0.9 as 0)."""
    path = _file(tmp_path, "t.json", content)
    code, out, err = run_main(
        ["grad", "examples/problem.json", "--loss", loss, "--target", path], capsys
    )
    assert one_error_line(code, err) == "--target " + message.format(path=path)
    assert out == ""


@pytest.mark.parametrize("value", ["99999999999999999999999", "-1", "-5", "1e3", "abc", ""])
def test_max_spikes_out_of_range(capsys, value):
    """``--max-spikes`` beyond the simulator's range or negative: one line naming the option
    and its range (the huge value used to be reported only as ``max_spikes``)."""
    code, out, err = run_main(
        ["simulate", "examples/problem.json", f"--max-spikes={value}"], capsys
    )
    assert one_error_line(code, err) == (
        f"argument --max-spikes: expected an integer in [0, 4611686018427387904], got {value!r} "
        "(see 'fpgrad simulate --help')"
    )
    assert out == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["simulate"],
         "the following arguments are required: problem (see 'fpgrad simulate --help')"),
        (["grad", "examples/problem.json", "--loss", "nope"],
         "argument --loss: invalid choice: 'nope' (choose from 'first-spike-ce', "
         "'first-spike-mse', 'spike-count', 'van-rossum') (see 'fpgrad grad --help')"),
        (["simulate", "examples/problem.json", "a\nb"],
         "unrecognized arguments: a\\nb (see 'fpgrad --help')"),
        (["check", "examples/problem.json", "--loss", "first-spike-ce", "--rtol", "nan"],
         "argument --rtol: expected a finite number >= 0, got 'nan' (see 'fpgrad check --help')"),
        (["check", "examples/problem.json", "--loss", "first-spike-ce", "--margin=-1"],
         "argument --margin: expected a finite number >= 0, got '-1' (see 'fpgrad check --help')"),
    ],
)  # fmt: skip
def test_usage_errors_are_one_line(capsys, argv, message):
    """argparse's usage errors used to print the usage block first: now one line as well."""
    code, out, err = run_main(argv, capsys)
    assert one_error_line(code, err) == message
    assert out == ""


def test_check_params_and_gradient_garbage(tmp_path, capsys):
    """``check --params ,`` used to crash in the table printer (no group); an external gradient
    of strings used to escape as ``ValueError`` after the whole check had run."""
    base = ["check", "examples/problem.json", "--loss", "first-spike-ce"]
    code, out, err = run_main([*base, "--params", ","], capsys)
    assert one_error_line(code, err) == (
        "--params: no parameter group in ','; valid groups: weight, input_time, threshold, "
        "tau_mem, tau_syn, delay, bias, v_reset, t_ref"
    )
    path = tmp_path / "g.npz"
    np.savez(path, weight=np.array(["a", "b", "c", "d"]))
    code, out, err = run_main([*base, "--gradient", str(path)], capsys)
    assert one_error_line(code, err) == (
        f"{path}: array 'weight' holds <U1 values, expected real numbers"
    )
    assert out == ""
    np.savez(path, weight=np.array([np.nan, 1.0, 1.0, 1.0]))
    code, out, err = run_main([*base, "--gradient", str(path)], capsys)
    assert "is not finite" in one_error_line(code, err)
    assert out == ""  # refused before the check ran (no table printed)

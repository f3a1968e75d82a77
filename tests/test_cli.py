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

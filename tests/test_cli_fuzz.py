"""Garbage in, one clear line out: property tests of the problem reader and of every command.

The promise (README, "Command line"): bad input gets a one-line ``fpgrad: error: ...`` on
stderr and exit code 2, never a traceback, a hang, a crash, a warning line or a silent wrong
answer. Here generated garbage is thrown at :func:`fpgrad.load_problem` and at ``fpgrad
simulate``, ``grad``, ``check``, ``compare`` and ``train`` (argument garbage only: it never
starts training): random bytes, random JSON values (nested, huge integers, ``NaN`` tokens),
mutations of the valid ``examples/problem.json`` (format 1) and ``examples/problem_model2.json``
(format 2: per-neuron ``tau_syn`` with a delta-synapse neuron, ``bias``, ``v_reset``, delays,
``"inf"``) (keys dropped, types changed, huge, tiny or negative numbers, wrong lengths, keys of
the other format) and random option values.

Every run must end with exit code 0 or 2 (1 only for ``check``, a failed check), nothing on
stderr that looks like a traceback or a warning, and on exit code 2 exactly one line starting
with ``fpgrad: error:``. The commands run in process (``fpgrad.cli.main``, fast); the suite
turns warnings into errors (pyproject ``filterwarnings = error``), so a numpy warning fails the
test there. A few subprocess runs check what a user sees, warnings included.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

import fpgrad
from fpgrad import ProblemError
from fpgrad.cli import main
from fpgrad.grad import GROUPS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_FILE = ROOT / "examples" / "problem.json"
EXAMPLE: dict[str, Any] = json.loads(EXAMPLE_FILE.read_text())
EXAMPLE2_FILE = ROOT / "examples" / "problem_model2.json"
EXAMPLE2: dict[str, Any] = json.loads(EXAMPLE2_FILE.read_text())
LOSS_NAMES = ("first-spike-mse", "first-spike-ce", "van-rossum", "spike-count")

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FEW = settings(FUZZ, max_examples=25)

WARNING = re.compile(r"warning", re.IGNORECASE)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    """``fpgrad ARGV`` in process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: usage errors and --help
        code = 0 if exc.code is None else exc.code
    out, err = capsys.readouterr()
    event(f"exit code {code}")
    return code, out, err


def assert_clean(code: int, err: str, *, allowed: tuple[int, ...] = (0, 2)) -> None:
    """The promise: a known exit code, no traceback or warning, one error line on exit 2."""
    assert code in allowed, (code, err)
    assert "Traceback" not in err, err
    assert not WARNING.search(err), err
    if code == 2:
        assert err.count("\n") == 1 and err.endswith("\n"), err
        assert err.startswith("fpgrad: error: "), err


# --- what garbage looks like -----------------------------------------------------------------

HUGE_INTS = [10**400, -(10**400), 2**63, -(2**63) - 1, 2**64, 10**30]
ODD_FLOATS = [
    float("nan"), float("inf"), -float("inf"), 1e-310, 5e-324, -0.0, 1e300, -1e300, 1e30,
    3.7, 0.5, -0.5,
]  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-10, max_value=10)
    | st.integers()
    | st.sampled_from(HUGE_INTS)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(ODD_FLOATS)
    | st.text(max_size=8)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)

#: Values a mutation puts in place of a field or an element.
_REPLACEMENTS = [
    None, True, False, "x", "", "1.0", -1, 0, 1, 2, 3, 4, 5, *HUGE_INTS, *ODD_FLOATS,
    [], {}, [1.0, 2.0], [[1.0]], {"a": 1}, [None], ["1"],
    "inf", "Inf", "-inf", ["inf"], ["inf", 1.0, "inf"], "fpgrad-problem/1", "fpgrad-problem/2",
]  # fmt: skip
#: Keys a mutation may add to an object: both formats' optional and format-specific keys.
_NEW_KEYS = ["count", "t_ref", "extra", "tau_syn", "bias", "v_reset", "delay", "format"]
#: (copies: a mutation must never share, or nest, one list or dict object)
replacements = st.sampled_from(_REPLACEMENTS).map(copy.deepcopy)


def _containers(data: Any, path: tuple = ()) -> list[tuple]:
    """Paths of every dict and list in ``data``."""
    found = []
    if isinstance(data, dict | list):
        found.append(path)
        items = data.items() if isinstance(data, dict) else enumerate(data)
        for key, value in items:
            found.extend(_containers(value, (*path, key)))
    return found


def _at(data: Any, path: tuple) -> Any:
    for key in path:
        data = data[key]
    return data


@st.composite
def mutated_problems(draw) -> dict:
    """``examples/problem.json`` or ``examples/problem_model2.json`` with one to three
    mutations (a format-1 file may become ``"format": "fpgrad-problem/2"`` and vice versa)."""
    data = json.loads(json.dumps(draw(st.sampled_from([EXAMPLE, EXAMPLE2]))))
    for _ in range(draw(st.integers(1, 3))):
        paths = _containers(data)
        path = draw(st.sampled_from(paths))
        target = _at(data, path)
        action = draw(st.sampled_from(["set", "set", "set", "delete", "append", "grow", "add"]))
        keys = list(target) if isinstance(target, dict) else list(range(len(target)))
        if action == "append" and isinstance(target, list):
            target.append(draw(replacements | st.floats(0, 50)))
        elif action == "grow" and isinstance(target, list) and target:
            target.extend(target[:1] * draw(st.integers(1, 3)))
        elif keys and action == "delete":
            del target[draw(st.sampled_from(keys))]
        elif keys and action != "add":
            target[draw(st.sampled_from(keys))] = draw(replacements)
        elif isinstance(target, dict):
            target[draw(st.sampled_from(_NEW_KEYS))] = draw(replacements)
    return data


extreme_positive = st.sampled_from(
    [2.2250738585072014e-308, 1e-300, 1e-200, 1e-20, 1e-6, 1.0, 1e6, 1e20, 1e200, 1e300, 1.7e308]
) | st.floats(min_value=2.2250738585072014e-308, max_value=1e308)
extreme_signed = extreme_positive | extreme_positive.map(lambda x: -x) | st.just(0.0)


@st.composite
def extreme_problems(draw) -> dict:
    """``examples/problem.json`` with valid but extreme numbers: huge and tiny horizons, time
    constants, thresholds, refractory periods, input times and weights."""
    data = json.loads(json.dumps(EXAMPLE))
    neurons, synapses = data["neurons"], data["synapses"]
    fields = draw(st.sets(st.sampled_from(range(7)), min_size=1, max_size=3))
    if 0 in fields:
        data["t_max"] = draw(extreme_positive)
    if 1 in fields:
        data["tau_syn"] = draw(extreme_positive)
    if 2 in fields:
        neurons["tau_mem"] = draw(
            extreme_positive | st.lists(extreme_positive, min_size=3, max_size=3)
        )
    if 3 in fields:
        neurons["threshold"] = draw(extreme_positive)
    if 4 in fields:
        neurons["t_ref"] = draw(extreme_positive | st.just(0.0))
    if 5 in fields:
        data["inputs"] = [draw(st.lists(extreme_positive, max_size=3)) for _ in range(2)]
    if 6 in fields:
        synapses["weight"] = draw(st.lists(extreme_signed, min_size=4, max_size=4))
    return data


extreme_time_constant = extreme_positive | st.just(0.0)


@st.composite
def extreme_model2_problems(draw) -> dict:
    """``examples/problem_model2.json`` with valid (or nearly valid: ``v_reset`` may reach the
    threshold) but extreme numbers in the fields of model 2: per-neuron ``tau_syn`` (0 included),
    ``"inf"`` and huge or tiny ``tau_mem``, ``bias``, ``v_reset``, delays, ``t_ref``, ``t_max``."""
    data = json.loads(json.dumps(EXAMPLE2))
    neurons, synapses = data["neurons"], data["synapses"]
    fields = draw(st.sets(st.sampled_from(range(8)), min_size=1, max_size=3))
    if 0 in fields:
        data["t_max"] = draw(extreme_positive)
    if 1 in fields:
        neurons["tau_syn"] = draw(
            extreme_time_constant | st.lists(extreme_time_constant, min_size=3, max_size=3)
        )
    if 2 in fields:
        tau_mem = extreme_positive | st.just("inf")
        neurons["tau_mem"] = draw(tau_mem | st.lists(tau_mem, min_size=3, max_size=3))
    if 3 in fields:
        neurons["bias"] = draw(extreme_signed | st.lists(extreme_signed, min_size=3, max_size=3))
    if 4 in fields:
        v_reset = extreme_signed.filter(lambda x: x < 1.0) | st.sampled_from([1.0, 0.999999])
        neurons["v_reset"] = draw(v_reset | st.lists(v_reset, min_size=3, max_size=3))
    if 5 in fields:
        delay = extreme_positive | st.just(0.0)
        synapses["delay"] = draw(delay | st.lists(delay, min_size=6, max_size=6))
    if 6 in fields:
        neurons["t_ref"] = draw(extreme_positive | st.just(0.0))
    if 7 in fields:
        synapses["weight"] = draw(st.lists(extreme_signed, min_size=6, max_size=6))
    return data


def write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value, allow_nan=True), encoding="utf-8")
    return path


file_bytes = (
    st.binary(max_size=200)
    | st.builds(lambda b: json.dumps(EXAMPLE).encode()[: len(b) * 3] + b, st.binary(max_size=40))
    | st.builds(lambda b: EXAMPLE2_FILE.read_bytes()[: len(b) * 5] + b, st.binary(max_size=60))
    | st.sampled_from(
        [b"", b"\xef\xbb\xbf", b"[" * 5000, b"{" * 3, b"NaN", b"1" * 5000, b"\x00", b"\xff\xfe{}"]
    )
)


def _problem_file(workdir: Path, name: str, data: Any) -> Path:
    path = workdir / name
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        write_json(path, data)
    return path


any_problem = (
    file_bytes | json_values | mutated_problems() | extreme_problems() | extreme_model2_problems()
)


# --- the reader ------------------------------------------------------------------------------


@FUZZ
@given(data=any_problem)
def test_reader_raises_only_problem_error(workdir, data):
    """:func:`fpgrad.load_problem` on garbage: a problem or a one-line ``ProblemError``."""
    path = _problem_file(workdir, "reader.json", data)
    try:
        problem = fpgrad.load_problem(path)
    except ProblemError as err:
        msg = str(err)
        assert msg and "\n" not in msg and len(msg) < 400, msg
        return
    assert isinstance(problem, fpgrad.Problem)


# --- the commands ----------------------------------------------------------------------------


@FUZZ
@given(data=any_problem, jacobian=st.booleans())
def test_simulate_garbage_problem(workdir, capsys, data, jacobian):
    path = _problem_file(workdir, "sim.json", data)
    argv = ["simulate", str(path), "--max-spikes", "20000", *(["--jacobian"] if jacobian else [])]
    code, out, err = run(argv, capsys)
    assert_clean(code, err)
    if code == 0:
        json.loads(out)  # strict JSON
        assert "NaN" not in out and "Infinity" not in out


options_text = st.text(max_size=12) | st.sampled_from(
    ["-1", "0", "1", "1e400", "nan", "inf", "-inf", "99999999999999999999999", "1.5", "", " ", "-"]
)


@FUZZ
@given(value=options_text)
def test_simulate_max_spikes_garbage(capsys, value):
    code, _out, err = run(["simulate", str(EXAMPLE_FILE), f"--max-spikes={value}"], capsys)
    assert_clean(code, err)
    if code == 2 and "runaway activity" not in err:  # a small budget is a valid one
        assert "argument --max-spikes: expected an integer in [0, " in err


@FUZZ
@given(
    data=any_problem,
    loss=st.sampled_from(LOSS_NAMES),
    method=st.sampled_from(["reverse", "forward-online", "fd"]),
)
def test_grad_garbage_problem(workdir, capsys, data, loss, method):
    path = _problem_file(workdir, "grad.json", data)
    target = write_json(workdir / "grad-target.json", _default_target(loss))
    code, out, err = run(
        ["grad", str(path), "--loss", loss, "--target", str(target), "--method", method], capsys
    )
    assert_clean(code, err)
    if code == 0:
        parsed = json.loads(out)
        assert "NaN" not in out and "Infinity" not in out
        assert all(x is not None for v in parsed["gradient"].values() for x in v) or method == "fd"


def _default_target(loss: str) -> dict:
    return {
        "first-spike-mse": {"targets": [8.0, 12.0], "neurons": [3, 4]},
        "first-spike-ce": {"label": 1, "neurons": [3, 4]},
        "van-rossum": {"targets": {"3": [5.0, 9.0]}},
        "spike-count": {"targets": [2, 1], "neurons": [3, 4]},
    }[loss]


target_values = (
    json_values
    | file_bytes
    | st.builds(
        dict,
        targets=json_values | st.dictionaries(st.text(max_size=4), json_values, max_size=3),
    )
    | st.fixed_dictionaries(
        {},
        optional={
            "targets": json_values,
            "neurons": json_values | st.lists(replacements, max_size=3),
            "label": replacements,
            "tau0": replacements,
            "tau1": replacements,
            "alpha": replacements,
            "tau": replacements,
        },
    )
)


@FUZZ
@given(data=target_values, loss=st.sampled_from(LOSS_NAMES))
def test_grad_garbage_target(workdir, capsys, data, loss):
    target = _problem_file(workdir, "target.json", data)
    code, out, err = run(
        ["grad", str(EXAMPLE_FILE), "--loss", loss, "--target", str(target)], capsys
    )
    assert_clean(code, err)
    if code == 0:
        json.loads(out)


@FEW
@given(data=any_problem, loss=st.sampled_from(LOSS_NAMES))
def test_check_garbage_problem(workdir, capsys, data, loss):
    """``check`` on garbage: exit 2 (or a verdict: 0 pass, 1 fail, for a valid mutation)."""
    path = _problem_file(workdir, "check.json", data)
    target = write_json(workdir / "check-target.json", _default_target(loss))
    code, _out, err = run(
        ["check", str(path), "--loss", loss, "--target", str(target), "--params", "weight"],
        capsys,
    )
    assert_clean(code, err, allowed=(0, 1, 2))


@FUZZ
@given(
    option=st.sampled_from(["--rtol", "--atol", "--margin", "--external-rtol", "--params"]),
    value=options_text,
)
def test_check_option_garbage(capsys, option, value):
    """Garbage tolerances and groups are rejected at once (before any finite difference)."""
    if option == "--params":
        names = {name.strip() for name in value.split(",")} - {""}
        assume(not (names and names <= set(GROUPS)))
    else:
        assume(not _finite_non_negative(value))
    code, _out, err = run(
        ["check", str(EXAMPLE_FILE), "--loss", "first-spike-ce", f"{option}={value}"], capsys
    )
    assert_clean(code, err)
    assert code == 2


arrays = st.sampled_from(
    [
        [1.0, 2.0, 3.0, 4.0], [1, 2, 3, 4], [float("nan")] * 4, [float("inf"), 0, 0, 0], [1.0],
        [[1.0, 2.0], [3.0, 4.0]], [True, False, True, True], ["a", "b", "c", "d"], [1j, 0, 0, 0],
        [], 3.0,
    ]
)  # fmt: skip
gradient_files = st.one_of(
    st.binary(max_size=100).map(lambda b: ("bytes", b)),
    st.dictionaries(st.sampled_from([*GROUPS, "weights", "gain"]), arrays, max_size=3).map(
        lambda d: ("npz", d)
    ),
)


@FEW
@given(gradient=gradient_files)
def test_check_external_gradient_garbage(workdir, capsys, gradient):
    """``check --gradient FILE.npz`` with garbage bytes or arrays of every kind: rejected before
    the check runs (nothing on stdout), or checked (0 pass, 1 fail)."""
    kind, content = gradient
    path = workdir / "external.npz"
    if kind == "bytes":
        path.write_bytes(content)
    else:
        np.savez(path, **{name: np.asarray(value) for name, value in content.items()})
    argv = ["check", str(EXAMPLE_FILE), "--loss", "first-spike-ce", "--params", "weight"]
    code, out, err = run([*argv, "--gradient", str(path)], capsys)
    assert_clean(code, err, allowed=(0, 1, 2))
    if code == 2:
        assert out == ""


@FEW
@given(data=file_bytes | json_values | mutated_problems(), target=target_values)
def test_compare_garbage_is_rejected_before_jax(workdir, capsys, data, target):
    """``compare`` on a garbage problem or target: exit 2 before any grid model is built."""
    path = _problem_file(workdir, "compare.json", data)
    try:
        fpgrad.load_problem(path)
    except ProblemError:
        target_path = write_json(workdir / "compare-target.json", _default_target("van-rossum"))
    else:  # a valid mutation: a garbage target must stop it
        target_path = _problem_file(workdir, "compare-target.json", target)
        assume(not _valid_target(path, target_path))
    code, _out, err = run(
        ["compare", str(path), "--loss", "van-rossum", "--target", str(target_path),
         "--dt", "1", "--surrogate", "fast_sigmoid", "--repeats", "1",
         "--out-dir", str(workdir / "compare-out")],
        capsys,
    )  # fmt: skip
    assert_clean(code, err)
    assert code == 2


def _valid_target(problem: Path, target: Path) -> bool:
    from fpgrad.cli._common import build_loss

    try:
        build_loss("van-rossum", str(target), fpgrad.load_problem(problem))
    except ProblemError:
        return False
    return True


@FUZZ
@given(
    option=st.sampled_from(["--dt", "--width", "--repeats", "--surrogate", "--params", "--reset"]),
    value=options_text,
)
def test_compare_option_garbage(workdir, capsys, option, value):
    """Garbage grid options: exit 2 before any grid model is built (values that happen to be
    valid are skipped: they would run the comparison)."""
    assume(not _valid_compare_option(option, value))
    code, _out, err = run(
        ["compare", str(EXAMPLE_FILE), "--loss", "first-spike-ce", "--dt", "1",
         "--surrogate", "fast_sigmoid", "--repeats", "1", f"{option}={value}",
         "--out-dir", str(workdir / "compare-options")],
        capsys,
    )  # fmt: skip
    assert_clean(code, err)
    assert code == 2


def _finite_non_negative(text: str) -> bool:
    try:
        return 0 <= float(text) < float("inf")
    except ValueError:
        return False


def _valid_compare_option(option: str, value: str) -> bool:
    if option in ("--dt", "--width"):
        try:
            return 0 < float(value) < float("inf")
        except ValueError:
            return False
    if option == "--repeats":
        try:
            return int(value) >= 1
        except ValueError:
            return False
    if option == "--surrogate":
        from fpgrad.discrete import get_surrogate

        try:
            get_surrogate(value)
        except (ValueError, KeyError, TypeError):
            return False
        return True
    if option == "--params":
        return value in fpgrad.cli.compare.SURROGATE_GROUPS
    return value in ("subtract", "zero")


COMMANDS = ("simulate", "grad", "check", "compare", "train")
OPTION_NAMES = [
    "--loss", "--target", "--method", "--out", "--max-spikes", "--jacobian", "--gradient",
    "--params", "--rtol", "--dt", "--surrogate", "--width", "--repeats", "--reset", "--epochs",
    "--batch-size", "--lr", "--hidden", "--seed", "--threads", "--resume", "--no-progress",
    "--t-max", "-x", "--", "-",
]  # fmt: skip
tokens = st.lists(
    st.sampled_from(OPTION_NAMES) | options_text | st.sampled_from(LOSS_NAMES), max_size=6
)


@FUZZ
@given(command=st.sampled_from(COMMANDS), argv=tokens)
def test_argument_garbage(workdir, capsys, command, argv):
    """Random arguments after each command (``train`` without a valid task, so nothing trains;
    no valid problem file, so nothing runs): a usage error in one line, or ``--help``."""
    assume("digits" not in argv and "yinyang" not in argv)
    code, out, err = run([command, *argv], capsys)
    assert_clean(code, err)
    if code == 0:
        assert any(a.startswith(("-h", "--h")) for a in argv), (argv, out)


# --- as a user runs it: warnings would show here -------------------------------------------


def _subprocess(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fpgrad", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_subprocess_node_id_beyond_int64(tmp_path):
    """A node id beyond int64 used to print numpy's ``RuntimeWarning: invalid value encountered
    in cast`` and a wrong id; the user now sees one line with the id as written."""
    data = json.loads(json.dumps(EXAMPLE))
    data["synapses"]["pre"][0] = 9223372036854775808
    done = _subprocess("simulate", str(write_json(tmp_path / "p.json", data)))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (
        "fpgrad: error: synapses.pre[0] = 9223372036854775808 is out of range: node ids are 0..4\n"
    )


def test_subprocess_subnormal_time_constant_and_overflowing_loss(tmp_path):
    """A subnormal ``tau_mem`` used to print ``RuntimeWarning: overflow encountered in divide``
    and an overflowing loss a traceback: each is now one line."""
    data = json.loads(json.dumps(EXAMPLE))
    data["neurons"]["tau_mem"] = 1e-310
    done = _subprocess(
        "grad", str(write_json(tmp_path / "p.json", data)), "--loss", "first-spike-ce"
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("fpgrad: error: neurons.tau_mem = 1e-310 is too small")
    assert done.stderr.count("\n") == 1
    data = json.loads(json.dumps(EXAMPLE))
    data["t_max"] = 1e300
    done = _subprocess(
        "grad", str(write_json(tmp_path / "q.json", data)), "--loss", "first-spike-ce"
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("fpgrad: error: loss = inf is not finite")
    assert done.stderr.count("\n") == 1 and not WARNING.search(done.stderr)
    # an overflow inside numpy (the squared error of a spike near 1e308) printed a
    # "RuntimeWarning: overflow encountered in square" line before the crash
    data = json.loads(json.dumps(EXAMPLE))
    data["t_max"], data["inputs"] = 1.7e308, [[1e-300], [1.0]]
    target = write_json(tmp_path / "t.json", {"targets": [8.0, 12.0], "neurons": [3, 4]})
    path = write_json(tmp_path / "r.json", data)
    done = _subprocess("grad", str(path), "--loss", "first-spike-mse", "--target", str(target))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("fpgrad: error: ") and done.stderr.count("\n") == 1
    assert not WARNING.search(done.stderr), done.stderr

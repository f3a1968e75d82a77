"""The problem model (``Network``, ``Problem``) and the JSON file format ``fpgrad-problem/1``.

Round trips must be exact (floats written with ``repr`` precision come back bit for bit), and
every malformed input must raise ``ProblemError`` with a message naming the offending field, so
that a user of the command line can fix the file. Runaway activity must end in
``RunawayActivityError``, quickly, never in a hang.
"""

from __future__ import annotations

import copy
import json
import re
import time

import numpy as np
import pytest

import fpgrad
from fpgrad import ProblemError

EXAMPLE = {
    "format": "fpgrad-problem/1",
    "t_max": 40.0,
    "tau_syn": 5.0,
    "neurons": {"count": 3, "tau_mem": 10.0, "threshold": [1.0, 1.0, 0.8]},
    "inputs": [[1.0, 4.5], [2.25]],
    "synapses": {"pre": [0, 1, 2, 3], "post": [2, 2, 3, 4], "weight": [0.4, 0.3, 0.9, -0.2]},
}


def example() -> dict:
    return copy.deepcopy(EXAMPLE)


def assert_same_problem(p: fpgrad.Problem, q: fpgrad.Problem) -> None:
    """Bit-for-bit equality of every field."""
    a, b = p.network, q.network
    assert (a.n_inputs, a.n_neurons, a.tau_syn) == (b.n_inputs, b.n_neurons, b.tau_syn)
    for name in ("tau_mem", "threshold", "t_ref", "pre", "post", "weight"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name
    assert p.t_max == q.t_max
    assert len(p.inputs) == len(q.inputs)
    for x, y in zip(p.inputs, q.inputs, strict=True):
        assert np.array_equal(x, y)


def awkward_problem() -> fpgrad.Problem:
    """Values that do not survive a sloppy float formatting (17 significant digits needed),
    per-neuron lists, a refractory period, an empty spike train and an unsorted one."""
    rng = np.random.default_rng(0)
    net = fpgrad.random_recurrent_network(
        4, 5, rng, tau_mem=rng.uniform(3, 30, 5), threshold=rng.uniform(0.5, 2, 5),
        t_ref=rng.uniform(0, 2, 5), tau_syn=1 / 3,
    )  # fmt: skip
    inputs = [rng.uniform(0, 50, 7), [], [0.1 + 0.2, 1e-300, 3.0], [1e5 / 3]]
    return fpgrad.Problem(net, tuple(inputs), 50.0 + 1 / 7)


# --- round trips ---------------------------------------------------------------------------


def test_example_from_design_loads():
    """The example of docs/model.md §3 is a valid problem, with its values in place."""
    prob = fpgrad.problem_from_dict(example())
    net = prob.network
    assert (net.n_inputs, net.n_neurons, net.n_synapses) == (2, 3, 4)
    assert net.tau_mem.tolist() == [10.0] * 3 and net.threshold.tolist() == [1.0, 1.0, 0.8]
    assert net.t_ref.tolist() == [0.0] * 3
    assert [t.tolist() for t in prob.inputs] == [[1.0, 4.5], [2.25]]
    assert prob.t_max == 40.0


def test_dict_round_trip_is_exact():
    """``problem_from_dict(problem_to_dict(p))`` is ``p`` bit for bit, through ``json`` text."""
    prob = awkward_problem()
    data = problem_to_json_and_back(fpgrad.problem_to_dict(prob))
    assert_same_problem(fpgrad.problem_from_dict(data), prob)
    assert data["format"] == "fpgrad-problem/1"


def problem_to_json_and_back(data: dict) -> dict:
    return json.loads(json.dumps(data))


def test_file_round_trip_is_exact(tmp_path):
    """``save_problem`` / ``load_problem`` round trip exactly (also with a ``str`` path), and
    the simulation of the reloaded problem is identical."""
    prob = awkward_problem()
    path = tmp_path / "p.json"
    fpgrad.save_problem(prob, path)
    again = fpgrad.load_problem(str(path))
    assert_same_problem(again, prob)
    assert json.loads(path.read_text())["neurons"]["count"] == 5
    a, b = fpgrad.simulate(prob), fpgrad.simulate(again)
    assert np.array_equal(a.spike_time, b.spike_time)


def test_scalars_written_compactly_and_t_ref_optional(tmp_path):
    """Equal per-neuron values are written as one number, ``t_ref`` is left out when 0, and a
    file written from the example reads back to the same dict."""
    prob = fpgrad.problem_from_dict(example())
    data = fpgrad.problem_to_dict(prob)
    assert data == EXAMPLE
    assert "t_ref" not in data["neurons"]
    with_ref = prob.with_network(prob.network.replace(t_ref=0.5))
    assert fpgrad.problem_to_dict(with_ref)["neurons"]["t_ref"] == 0.5


def test_inputs_are_sorted_and_arrays_read_only():
    """Input trains are stored sorted (the reader's job, docs/model.md §3) and arrays are frozen."""
    data = example()
    data["inputs"] = [[4.5, 1.0, 3.0], []]
    prob = fpgrad.problem_from_dict(data)
    assert prob.inputs[0].tolist() == [1.0, 3.0, 4.5]
    with pytest.raises(ValueError, match="read-only"):
        prob.inputs[0][0] = 2.0
    with pytest.raises(ValueError, match="read-only"):
        prob.network.weight[0] = 2.0


def test_caller_arrays_are_neither_shared_nor_frozen():
    """A Problem keeps private copies: the caller's spike arrays stay writeable and editing them
    afterwards does not change the problem (one-spike and multi-spike trains alike)."""
    net = fpgrad.feedforward_network([np.ones((2, 1))])
    mine = [np.array([3.0]), np.array([5.0, 2.0])]
    prob = fpgrad.Problem(net, tuple(mine), 10.0)
    mine[0][0] = 7.0
    mine[1][0] = 9.0
    assert [t.tolist() for t in prob.inputs] == [[3.0], [2.0, 5.0]]
    assert all(t.flags.writeable for t in mine)


# --- malformed input -----------------------------------------------------------------------


def _set(path: str, value):
    def mutate(d):
        *keys, last = path.split(".")
        for key in keys:
            d = d[key]
        d[last] = value

    return mutate


def _delete(path: str):
    def mutate(d):
        *keys, last = path.split(".")
        for key in keys:
            d = d[key]
        del d[last]

    return mutate


def _set_input(j: int, k: int, value):
    def mutate(d):
        d["inputs"][j][k] = value

    return mutate


BAD = [
    # missing fields
    (_delete("format"), "format"),
    (_delete("t_max"), "t_max"),
    (_delete("tau_syn"), "tau_syn"),
    (_delete("neurons"), "neurons"),
    (_delete("inputs"), "inputs"),
    (_delete("synapses"), "synapses"),
    (_delete("neurons.count"), "neurons.count"),
    (_delete("neurons.tau_mem"), "neurons.tau_mem"),
    (_delete("neurons.threshold"), "neurons.threshold"),
    (_delete("synapses.pre"), "synapses.pre"),
    (_delete("synapses.post"), "synapses.post"),
    (_delete("synapses.weight"), "synapses.weight"),
    # wrong lengths and shapes
    (_set("neurons.threshold", [1.0, 1.0]), "neurons.threshold"),
    (_set("neurons.tau_mem", [10.0, 10.0, 10.0, 10.0]), "neurons.tau_mem"),
    (_set("neurons.t_ref", [0.0]), "neurons.t_ref"),
    (_set("synapses.weight", [0.4, 0.3, 0.9]), "synapses"),
    (_set("synapses.pre", [0, 1, 2]), "synapses"),
    (_set("synapses.pre", [[0, 1], [2, 3]]), "synapses.pre"),
    (_set("inputs", [[1.0], [2.0], [3.0, [4.0]]]), "inputs[2]"),
    (_set("inputs", [1.0, 2.0]), "inputs[0]"),
    (_set("inputs", {"0": [1.0]}), "inputs"),
    # non-finite and negative times, non-positive constants
    (_set_input(0, 1, float("nan")), "inputs[0]"),
    (_set_input(1, 0, float("inf")), "inputs[1]"),
    (_set_input(0, 0, -0.5), "inputs[0]"),
    (_set("t_max", float("inf")), "t_max"),
    (_set("t_max", 0.0), "t_max"),
    (_set("t_max", -1.0), "t_max"),
    (_set("tau_syn", 0.0), "tau_syn"),
    (_set("tau_syn", -5.0), "tau_syn"),
    (_set("tau_syn", float("nan")), "tau_syn"),
    (_set("neurons.tau_mem", 0.0), "neurons.tau_mem"),
    (_set("neurons.tau_mem", [10.0, -1.0, 10.0]), "neurons.tau_mem"),
    (_set("neurons.threshold", 0.0), "neurons.threshold"),
    (_set("neurons.threshold", [1.0, -1.0, 1.0]), "neurons.threshold"),
    (_set("neurons.threshold", float("inf")), "neurons.threshold"),
    (_set("neurons.t_ref", -0.1), "neurons.t_ref"),
    (_set("neurons.t_ref", float("nan")), "neurons.t_ref"),
    (_set("synapses.weight", [0.4, float("nan"), 0.9, -0.2]), "synapses.weight"),
    (_set("synapses.weight", [0.4, float("inf"), 0.9, -0.2]), "synapses.weight"),
    # wrong types
    (_set("format", "fpgrad-problem/2"), "format"),
    (_set("format", 1), "format"),
    (_set("t_max", "40"), "t_max"),
    (_set("t_max", True), "t_max"),
    (_set("tau_syn", None), "tau_syn"),
    (_set("neurons.count", 2.5), "neurons.count"),
    (_set("neurons.count", -1), "neurons.count"),
    (_set("neurons.count", True), "neurons.count"),
    (_set("neurons.threshold", "1.0"), "neurons.threshold"),
    (_set("neurons.tau_mem", [10.0, "10", 10.0]), "neurons.tau_mem"),
    (_set("synapses.weight", [0.4, 0.3, "0.9", -0.2]), "synapses.weight"),
    (_set("neurons", [3]), "neurons"),
    (_set("synapses", None), "synapses"),
    # unknown keys
    (_set("extra", 1), "extra"),
    (_set("neurons.tau", 10.0), "neurons.tau"),
    (_set("synapses.delay", [1.0] * 4), "synapses.delay"),
    # node ids
    (_set("synapses.pre", [0, 1, 2, 5]), "synapses.pre[3]"),
    (_set("synapses.pre", [0, -1, 2, 3]), "synapses.pre[1]"),
    (_set("synapses.post", [2, 2, 3, 5]), "synapses.post[3]"),
    (_set("synapses.post", [2, 1, 3, 4]), "synapses.post[1]"),
    (_set("synapses.post", [0, 2, 3, 4]), "synapses.post[0]"),
    (_set("synapses.pre", [0, 1.5, 2, 3]), "synapses.pre[1]"),
    (_set("synapses.post", [2, 2, 3, "4"]), "synapses.post[3]"),
    (_set("synapses.pre", [0, True, 2, 3]), "synapses.pre[1]"),
]


@pytest.mark.parametrize(("mutate", "field"), BAD, ids=[f"{i}-{f}" for i, (_, f) in enumerate(BAD)])
def test_malformed_dict_names_the_field(mutate, field):
    """Every malformed problem raises ``ProblemError`` (a ``ValueError``) naming the field."""
    data = example()
    mutate(data)
    with pytest.raises(ProblemError) as err:
        fpgrad.problem_from_dict(data)
    assert field in str(err.value), str(err.value)
    assert isinstance(err.value, ValueError)


def test_not_an_object():
    """A JSON array or number at the top level is rejected with a clear message."""
    for data in ([EXAMPLE], 3, "problem", None):
        with pytest.raises(ProblemError, match="object"):
            fpgrad.problem_from_dict(data)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("{", "not valid JSON"),
        ("", "not valid JSON"),
        ('{"format": "fpgrad-problem/1",}', "not valid JSON"),
        (json.dumps(EXAMPLE).replace("40.0", "1e999"), "t_max"),
        (json.dumps(EXAMPLE).replace("4.5", "1e999"), "inputs[0]"),
    ],
)
def test_invalid_file(tmp_path, text, field):
    """Invalid JSON, or a number that overflows to infinity, gives ``ProblemError`` naming the
    file or the field (never a bare ``JSONDecodeError``)."""
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ProblemError) as err:
        fpgrad.load_problem(path)
    assert field in str(err.value), str(err.value)


def test_missing_file_is_an_os_error(tmp_path):
    """A file that does not exist is the usual ``FileNotFoundError``, not a ``ProblemError``."""
    with pytest.raises(FileNotFoundError):
        fpgrad.load_problem(tmp_path / "nope.json")


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("4.5", "NaN", "inputs[0]"),
        ("-0.2", "-Infinity", "synapses.weight"),
    ],
)
def test_nan_literals_in_file_name_the_field(tmp_path, old, new, field):
    """Python's ``json`` accepts the non-standard literals ``NaN``/``Infinity``; a problem file
    containing one must still be rejected with a message naming the field, like any other
    non-finite value (docs/model.md §3: "a clear error naming the field")."""
    path = tmp_path / "nan.json"
    path.write_text(json.dumps(EXAMPLE).replace(old, new, 1))
    with pytest.raises(ProblemError) as err:
        fpgrad.load_problem(path)
    assert field in str(err.value), str(err.value)


def test_python_constructors_validate():
    """The same checks guard the Python API: ``Network`` and ``Problem`` built directly."""
    good = fpgrad.problem_from_dict(example())
    net = good.network
    cases = [
        (lambda: net.replace(pre=np.array([0.0, 0.5, 2.0, 3.0])), "synapses.pre"),
        (lambda: net.replace(post=np.array([2, 2, 3, 9])), "synapses.post[3]"),
        (lambda: net.replace(weight=np.ones((2, 2))), "synapses.weight"),
        (lambda: net.replace(n_neurons=-1), "n_neurons"),
        (lambda: net.replace(n_inputs=1.5), "n_inputs"),
        (lambda: net.replace(tau_syn=float("inf")), "tau_syn"),
        (lambda: net.replace(threshold=np.ones(4)), "neurons.threshold"),
        (lambda: good.with_inputs([[1.0]]), "inputs"),
        (lambda: good.with_inputs([[1.0], [[2.0]]]), "inputs[1]"),
        (lambda: good.with_inputs([[1.0], [-2.0]]), "inputs[1]"),
        (lambda: fpgrad.Problem(net, good.inputs, float("nan")), "t_max"),
        (lambda: fpgrad.Problem("net", good.inputs, 1.0), "network"),
    ]
    for build, field in cases:
        with pytest.raises(ProblemError) as err:
            build()
        assert field in str(err.value), (field, str(err.value))


def test_error_messages_have_no_traceback_noise():
    """Messages are one line, start with the field (or say ``missing field``/``unknown field``)."""
    data = example()
    data["neurons"]["threshold"] = [1.0, 1.0]
    with pytest.raises(ProblemError) as err:
        fpgrad.problem_from_dict(data)
    msg = str(err.value)
    assert "\n" not in msg
    assert re.match(r"^(neurons\.threshold|missing field|unknown field)", msg), msg


# --- runaway activity ------------------------------------------------------------------------


def runaway_problem(t_max: float = 1e6) -> fpgrad.Problem:
    """A neuron exciting itself: every spike adds more current than the last one used, so the
    rate grows without bound (and with ``t_ref = 0`` the spikes pile up)."""
    net = fpgrad.Network(
        n_inputs=1, n_neurons=1, tau_syn=5.0, tau_mem=10.0, threshold=1.0,
        pre=np.array([0, 1]), post=np.array([1, 1]), weight=np.array([3.0, 1.0]),
    )  # fmt: skip
    return fpgrad.Problem(net, ([1.0],), t_max)


def test_runaway_raises_quickly():
    """Runaway excitation ends in ``RunawayActivityError`` mentioning ``max_spikes``, in well
    under a second for a small budget, and also under the default budget (1e6 spikes)."""
    prob = runaway_problem()
    start = time.perf_counter()
    with pytest.raises(fpgrad.RunawayActivityError, match="max_spikes"):
        fpgrad.simulate(prob, max_spikes=1000)
    assert time.perf_counter() - start < 1.0
    start = time.perf_counter()
    with pytest.raises(fpgrad.RunawayActivityError):
        fpgrad.simulate(prob)
    assert time.perf_counter() - start < 20.0
    with pytest.raises(fpgrad.RunawayActivityError):
        fpgrad.simulate_batch(prob.network, [prob.inputs], prob.t_max, max_spikes=100)


def test_budget_is_exact_and_validated():
    """The budget counts neuron spikes: exactly ``max_spikes`` spikes pass, one more raises;
    a negative or non-integer budget is a ``ProblemError`` naming ``max_spikes``."""
    burst = fpgrad.Network(
        n_inputs=1, n_neurons=1, tau_syn=5.0, tau_mem=10.0, threshold=1.0,
        pre=np.array([0]), post=np.array([1]), weight=np.array([20.0]),
    )  # fmt: skip
    prob = fpgrad.Problem(burst, ([1.0],), 60.0)
    n = fpgrad.simulate(prob).n_spikes
    assert n > 10
    assert fpgrad.simulate(prob, max_spikes=n).n_spikes == n
    with pytest.raises(fpgrad.RunawayActivityError):
        fpgrad.simulate(prob, max_spikes=n - 1)
    for bad in (-1, 1.5, True, "10"):
        with pytest.raises(ProblemError, match="max_spikes"):
            fpgrad.simulate(prob, max_spikes=bad)
    with pytest.raises(ProblemError):
        fpgrad.simulate(fpgrad.problem_to_dict(prob))


# --- hostile files (the reader's limits, fpgrad/_io.py) -------------------------------------


def _write(tmp_path, content: bytes | str):
    path = tmp_path / "hostile.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _load_error(path) -> str:
    with pytest.raises(ProblemError) as err:
        fpgrad.load_problem(path)
    msg = str(err.value)
    assert "\n" not in msg and len(msg) < 300, msg
    return msg


def test_invalid_utf8_names_the_byte(tmp_path):
    """Bytes that are not UTF-8 used to escape as ``UnicodeDecodeError``; a byte-order mark is
    allowed (and counted in the offset)."""
    text = json.dumps(EXAMPLE).encode()
    path = _write(tmp_path, text.replace(b"fpgrad-problem/1", b"fpgrad-problem/1\xff"))
    assert _load_error(path) == (
        f"{path}: not UTF-8 text (byte 0xff at offset 28); JSON files must be UTF-8"
    )
    path = _write(tmp_path, b"\xef\xbb\xbf" + text.replace(b"fpgrad-problem/1", b"\xfe"))
    assert "(byte 0xfe at offset 15)" in _load_error(path)  # 3 BOM bytes + 12
    path = _write(tmp_path, b"\xef\xbb\xbf" + text)  # BOM + valid file
    assert fpgrad.load_problem(path).t_max == 40.0


@pytest.mark.parametrize(
    "text", ["[" * 100_000, "[" * 40 + "]" * 40, '{"a":' * 33 + "1" + "}" * 33]
)
def test_deep_nesting_is_refused(tmp_path, text):
    """Deep nesting used to escape as ``RecursionError``; beyond 32 levels it is refused."""
    path = _write(tmp_path, text)
    assert (
        _load_error(path) == f"{path}: not valid for fpgrad: JSON nested more than 32 levels deep"
    )


def test_duplicate_keys_are_refused(tmp_path):
    """``{"t_max": 1, "t_max": 2}`` silently kept the last value."""
    path = _write(tmp_path, json.dumps(EXAMPLE).replace('"t_max": 40.0', '"t_max": 1, "t_max": 2'))
    assert (
        _load_error(path)
        == f"{path}: not valid for fpgrad: key 't_max' appears twice in one object"
    )


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('"t_max": 40.0', '"t_max": 1' + "0" * 400,
         "t_max = 100000000000...000 (401 digits) is too large: numbers must fit in a float64 "
         "(|x| < 1.8e308)"),
        ('"t_max": 40.0', '"t_max": -' + "9" * 5000,
         "t_max = -999999999999...999 (5000 digits) is too large: numbers must fit in a float64 "
         "(|x| < 1.8e308)"),
        ("0.9,", "1" + "0" * 400 + ",",
         "synapses.weight[2] = 100000000000...000 (401 digits) is too large"),
        ("4.5", "1" + "0" * 400, "inputs[0][1] = 100000000000...000 (401 digits) is too large"),
        ('"tau_mem": 10.0', '"tau_mem": ' + "7" * 309,
         "neurons.tau_mem = 777777777777...777 (309 digits)"),
    ],
)  # fmt: skip
def test_integers_beyond_float64_name_the_field(tmp_path, old, new, message):
    """An integer literal beyond the float64 range used to escape as ``OverflowError`` (and one
    of more than 4300 digits as Python's ``ValueError``); the message names the field."""
    path = _write(tmp_path, json.dumps(EXAMPLE).replace(old, new, 1))
    msg = _load_error(path)
    assert msg.startswith(message), msg


def test_integers_beyond_float64_in_a_dict():
    """The same through :func:`fpgrad.problem_from_dict` with Python ints."""
    data = example()
    data["tau_syn"] = 10**400
    with pytest.raises(
        ProblemError, match=r"^tau_syn = 100000000000\.\.\.000 \(401 digits\) is too large"
    ):
        fpgrad.problem_from_dict(data)


def test_neuron_count_is_capped(tmp_path):
    """``"count": 10**12`` used to try to allocate 7 TiB (``MemoryError``); counts beyond
    ``MAX_SIZE`` (``10**8``) are refused at once, with the figure."""
    from fpgrad._io import MAX_SIZE

    assert MAX_SIZE == 10**8
    data = example()
    data["neurons"] = {"count": 10**12, "tau_mem": 10.0, "threshold": 1.0}
    start = time.perf_counter()
    with pytest.raises(ProblemError) as err:
        fpgrad.problem_from_dict(data)
    assert str(err.value) == (
        "neurons.count = 1000000000000 is too large: at most 100000000 neurons (their parameter "
        "arrays alone would take 21.8 TiB)"
    )
    data["neurons"]["count"] = MAX_SIZE + 1
    with pytest.raises(ProblemError, match=r"^neurons.count = 100000001 is too large"):
        fpgrad.problem_from_dict(data)
    data["neurons"]["count"] = 10**5000  # more digits than Python converts to str
    with pytest.raises(ProblemError, match=r"^neurons.count = an integer of about 5001 digits is"):
        fpgrad.problem_from_dict(data)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("pre", 9223372036854775808,
         "synapses.pre[0] = 9223372036854775808 is out of range: node ids are 0..4"),
        ("pre", 1e30, "synapses.pre[0] = 1e+30 is out of range: node ids are 0..4"),
        ("pre", -(2**63) - 1,
         "synapses.pre[0] = -9223372036854775809 is out of range: node ids are 0..4"),
        ("post", 10**30, "synapses.post[0] = 100000000000...000 (31 digits) is not a neuron: "
         "neuron ids are 2..4 (inputs cannot receive synapses)"),
        ("post", 3.5, "synapses.post[0]: expected an integer node id, got 3.5"),
    ],
)  # fmt: skip
def test_node_ids_beyond_int64_as_written(field, value, message):
    """Node ids beyond int64 used to pass numpy's cast (``RuntimeWarning: invalid value
    encountered in cast``, an error under this suite's ``filterwarnings = error``) and be
    reported as ``-9223372036854775808``; they are checked before any cast, shown as written."""
    data = example()
    data["synapses"][field][0] = value
    with pytest.raises(ProblemError) as err:
        fpgrad.problem_from_dict(data)
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("neurons.tau_mem", 1e-310, "neurons.tau_mem = 1e-310 is too small"),
        ("neurons.tau_mem", [10.0, 5e-324, 10.0], "neurons.tau_mem[1] = 5e-324 is too small"),
        ("tau_syn", 1e-309, "tau_syn = 1e-309 is too small"),
    ],
)
def test_subnormal_time_constants_are_refused(path, value, message):
    """A subnormal time constant made ``1 / tau`` overflow in the simulator (``RuntimeWarning``
    and infinite or NaN results); the smallest normal float64 is the limit."""
    data = example()
    _set(path, value)(data)
    with pytest.raises(ProblemError) as err:
        fpgrad.problem_from_dict(data)
    assert str(err.value).startswith(message)
    assert "time constants must be >= 2.2250738585072014e-308 ms" in str(err.value)
    _set(path, 2.2250738585072014e-308)(data)
    fpgrad.problem_from_dict(data)  # the limit itself is valid


def test_messages_are_one_line_and_json_typed():
    """Keys and values are shown so that a message stays one line (a key with a newline, a long
    string, a nested value), and types by their JSON names."""
    data = example()
    data["neurons"]["bad\nkey"] = 1
    with pytest.raises(ProblemError, match=r"^unknown field neurons\.'bad\\nkey' \(allowed"):
        fpgrad.problem_from_dict(data)
    for value, shown in ((None, "null"), ([1], "an array"), ("x", "a string"), (True, "true")):
        data = example()
        data["synapses"] = value
        with pytest.raises(ProblemError, match=f"^synapses: expected a JSON object, got {shown}$"):
            fpgrad.problem_from_dict(data)
    data = example()
    data["t_max"] = [[[[[[1]]]]]] * 100
    with pytest.raises(ProblemError) as err:
        fpgrad.problem_from_dict(data)
    assert len(str(err.value)) < 120 and "\n" not in str(err.value)


def test_writing_refuses_what_a_file_cannot_hold():
    """``save_problem`` of something that is not a Problem, or of a perfect integrator
    (tau_mem = inf: JSON has no infinity), is a clear error, not an AttributeError or a
    non-standard ``Infinity`` in the file."""
    with pytest.raises(fpgrad.ProblemError, match=r"expected a fpgrad\.Problem, got dict"):
        fpgrad.save_problem({"format": "fpgrad-problem/1"}, "never-written.json")
    net = fpgrad.Network(
        n_inputs=1, n_neurons=1, tau_syn=5.0, tau_mem=np.inf, threshold=1.0,
        pre=[0], post=[1], weight=[0.5],
    )  # fmt: skip
    with pytest.raises(fpgrad.ProblemError, match=r"tau_mem\[0\] = inf .* JSON has no infinity"):
        fpgrad.problem_to_dict(fpgrad.Problem(net, ([1.0],), 10.0))


@pytest.mark.parametrize("field", ["tau_mem", "tau_syn"])
def test_subnormal_time_constants_are_refused_in_python(field):
    """1/tau overflows for a subnormal tau (a numpy warning, then inf rates): refused."""
    kwargs = dict(n_inputs=1, n_neurons=1, tau_syn=5.0, tau_mem=10.0, threshold=1.0,
                  pre=[0], post=[1], weight=[0.5])  # fmt: skip
    kwargs[field] = 1e-310
    with pytest.raises(fpgrad.ProblemError, match=r"1e-310 is too small: time constants"):
        fpgrad.Network(**kwargs)

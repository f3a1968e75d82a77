"""The problem model (``Network``, ``Problem``) and the JSON file formats ``fpgrad-problem/1`` and
``fpgrad-problem/2``.

Round trips must be exact (floats written with ``repr`` precision come back bit for bit), and
every malformed input must raise ``ProblemError`` with a message naming the offending field, so
that a user of the command line can fix the file. Runaway activity must end in
``RunawayActivityError``, quickly, never in a hang.
"""

from __future__ import annotations

import copy
import json
import math
import re
import time
from pathlib import Path

import numpy as np
import pytest

import fpgrad
from fpgrad import ProblemError
from fpgrad._problem import NEURON_FIELDS

ROOT = Path(__file__).resolve().parents[1]

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
    """Bit-for-bit equality of every field (``-0.0`` and ``0.0`` differ)."""
    a, b = p.network, q.network
    assert (a.n_inputs, a.n_neurons) == (b.n_inputs, b.n_neurons)
    for name in (*NEURON_FIELDS, "pre", "post", "weight", "delay"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), name
    assert p.t_max == q.t_max
    assert len(p.inputs) == len(q.inputs)
    for x, y in zip(p.inputs, q.inputs, strict=True):
        assert x.tobytes() == y.tobytes()


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


def test_batch_problems_make_their_inputs_on_first_use():
    """simulate_batch's per-sample problems (Problem.from_batch) hold their trains as views made
    on first use: the same trains as a Problem built from the sample, read-only, made once,
    pickled (and copied) with their own trains only, not with the whole batch."""
    import pickle

    net = fpgrad.feedforward_network([np.full((2, 3), 0.8)], tau_syn=5.0, tau_mem=10.0)
    samples = [[[3.0, 1.0], [2.0]], [[], [0.5, 4.0, 4.0]], [[7.0], []]]
    results = fpgrad.simulate_batch(net, samples, 20.0, n_threads=1)
    for sample, result in zip(samples, results, strict=True):
        problem = result.problem
        assert "inputs" not in vars(problem)  # not made yet
        own = fpgrad.Problem(net, sample, 20.0)
        assert len(problem.inputs) == 2 and problem.inputs is problem.inputs  # made once
        for made, expected in zip(problem.inputs, own.inputs, strict=True):
            np.testing.assert_array_equal(made, expected)
            assert not made.flags.writeable
        assert problem.n_input_spikes == own.n_input_spikes
        for back in (pickle.loads(pickle.dumps(problem)), copy.deepcopy(problem)):
            assert set(vars(back)) == {"network", "inputs", "t_max"}
            assert [t.tolist() for t in back.inputs] == [t.tolist() for t in own.inputs]
            assert back.t_max == 20.0
        np.testing.assert_array_equal(fpgrad.simulate(own).spike_time, result.spike_time)
    with pytest.raises(AttributeError, match="no attribute 'outputs'"):
        results[0].problem.outputs  # noqa: B018 (only inputs are made on demand)


def test_merged_inputs_are_the_stable_time_node_order():
    """TrainBatch.merged and merge_inputs (one Numba pass, a stable sort by time per sample)
    against np.lexsort by (sample, time, node) on random batches full of equal times, within a
    train and across trains: the same node, time and flat-index arrays."""
    from fpgrad._problem import TrainBatch
    from fpgrad.event._simulate import merge_inputs

    rng = np.random.default_rng(0)
    for _ in range(200):
        m, n_samples = int(rng.integers(1, 6)), int(rng.integers(1, 5))
        samples = [
            [np.round(rng.uniform(0, 5, rng.integers(0, 5)), int(rng.integers(0, 2)))
             for _ in range(m)]
            for _ in range(n_samples)
        ]  # fmt: skip
        data = TrainBatch.of(m, samples, batch=True)
        train = np.repeat(np.arange(m * n_samples), np.diff(data.bounds))
        sample, node = np.divmod(train, m)
        order = np.lexsort((node, data.buffer, sample))
        ptr = data.bounds[::m]
        want = (node[order], data.buffer[order], order - ptr[sample[order]])
        got = data.merged()
        np.testing.assert_array_equal(got["ptr"], ptr)
        for key, expected in zip(("node", "time", "flat"), want, strict=True):
            np.testing.assert_array_equal(got[key], expected)
        for s in range(n_samples):
            one = merge_inputs(data.sample(s))
            for made, expected in zip(one, want, strict=True):
                np.testing.assert_array_equal(made, expected[ptr[s] : ptr[s + 1]])


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
    (_set("format", "fpgrad-problem/3"), "format"),
    (_set("format", "fpgrad-problem/1 "), "format"),
    (_set("format", ["fpgrad-problem/1"]), "format"),
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
        "arrays alone would take 43.7 TiB)"
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


def test_writing_refuses_what_a_file_cannot_hold(tmp_path):
    """``save_problem`` of something that is not a Problem, or of a perfect integrator in format 1
    (tau_mem = inf: JSON has no infinity), is a clear error, not an AttributeError or a
    non-standard ``Infinity`` in the file, and leaves no file behind; format 2 (the default for
    such a network) writes it as ``"inf"``."""
    path = tmp_path / "never-written.json"
    with pytest.raises(fpgrad.ProblemError, match=r"expected a fpgrad\.Problem, got dict"):
        fpgrad.save_problem({"format": "fpgrad-problem/1"}, path)
    net = fpgrad.Network(
        n_inputs=1, n_neurons=1, tau_syn=5.0, tau_mem=np.inf, threshold=1.0,
        pre=[0], post=[1], weight=[0.5],
    )  # fmt: skip
    prob = fpgrad.Problem(net, ([1.0],), 10.0)
    with pytest.raises(fpgrad.ProblemError, match=r"tau_mem\[0\] = inf .* JSON has no infinity"):
        fpgrad.save_problem(prob, path, format=1)
    assert not path.exists()
    fpgrad.save_problem(prob, path)
    text = path.read_text()
    assert '"fpgrad-problem/2"' in text and '"inf"' in text and "Infinity" not in text


@pytest.mark.parametrize("field", ["tau_mem", "tau_syn"])
def test_subnormal_time_constants_are_refused_in_python(field):
    """1/tau overflows for a subnormal tau (a numpy warning, then inf rates): refused."""
    kwargs = dict(n_inputs=1, n_neurons=1, tau_syn=5.0, tau_mem=10.0, threshold=1.0,
                  pre=[0], post=[1], weight=[0.5])  # fmt: skip
    kwargs[field] = 1e-310
    with pytest.raises(fpgrad.ProblemError, match=r"1e-310 is too small: time constants"):
        fpgrad.Network(**kwargs)


# --- format 2 (model 2) ------------------------------------------------------------------------

EXAMPLE2_FILE = ROOT / "examples" / "problem_model2.json"
EXAMPLE2 = json.loads(EXAMPLE2_FILE.read_text())


def example2() -> dict:
    return copy.deepcopy(EXAMPLE2)


def model2_problem() -> fpgrad.Problem:
    """Every model-2 field, per-neuron lists with awkward floats (17 digits), ``tau_mem = inf``,
    ``tau_syn = 0``, negative zeros, per-synapse delays, an empty and an unsorted train."""
    rng = np.random.default_rng(2)
    net = fpgrad.random_recurrent_network(
        3, 5, rng, input_synapses=2, recurrent_synapses=2,
        tau_mem=[10 / 3, np.inf, 20.0, np.inf, 1e300], tau_syn=[0.0, 1 / 3, 5.0, 0.0, 7e-300],
        threshold=rng.uniform(0.5, 2, 5), t_ref=[0.0, -0.0, 1 / 7, 2.0, 0.0],
        bias=[0.1 + 0.2, 0.0, -1e-300, -0.0, 2.5], v_reset=[-0.0, -1 / 3, 0.1, -1e300, 0.0],
        delay=(0.0, 3.0),
    )  # fmt: skip
    net = net.replace(delay=np.where(np.arange(net.n_synapses) % 3 == 0, -0.0, net.delay))
    inputs = [rng.uniform(0, 50, 4), [], [0.1 + 0.2, 1e-300, 3.0]]
    return fpgrad.Problem(net, tuple(inputs), 50.0 + 1 / 7)


def test_model2_example_loads():
    """``examples/problem_model2.json`` (docs/model.md §3, README) holds what it says."""
    prob = fpgrad.load_problem(EXAMPLE2_FILE)
    net = prob.network
    assert (net.n_inputs, net.n_neurons, net.n_synapses) == (2, 3, 6)
    assert net.tau_mem.tolist() == [10.0, math.inf, 20.0]
    assert net.tau_syn.tolist() == [5.0, 5.0, 0.0]
    assert net.threshold.tolist() == [1.0] * 3 and net.t_ref.tolist() == [0.0, 0.0, 2.0]
    assert net.bias.tolist() == [0.02, 0.0, 0.0] and net.v_reset.tolist() == [-0.2, 0.0, 0.0]
    assert net.delay.tolist() == [0.0, 0.0, 1.5, 2.0, 1.0, 0.5]
    assert not net.is_model1
    assert fpgrad.problem_to_dict(prob) == EXAMPLE2  # written back as the file holds it


def test_model2_round_trip_is_exact(tmp_path):
    """Every field of model 2 survives ``problem_to_dict`` / ``save_problem`` bit for bit,
    through JSON text, in format 2 (``inf`` as the string ``"inf"``, ``-0.0`` kept)."""
    prob = model2_problem()
    data = problem_to_json_and_back(fpgrad.problem_to_dict(prob))
    assert data["format"] == "fpgrad-problem/2" and "tau_syn" not in data
    assert data["neurons"]["tau_mem"][1] == "inf" and data["neurons"]["tau_mem"][3] == "inf"
    assert set(data["neurons"]) == {
        "count", "tau_mem", "tau_syn", "threshold", "t_ref", "bias", "v_reset"
    }  # fmt: skip
    assert len(data["synapses"]["delay"]) == prob.network.n_synapses
    assert_same_problem(fpgrad.problem_from_dict(data), prob)
    path = tmp_path / "model2.json"
    fpgrad.save_problem(prob, path)
    text = path.read_text()
    assert "Infinity" not in text and "NaN" not in text
    assert_same_problem(fpgrad.load_problem(path), prob)
    fpgrad.save_problem(prob, str(path), format=2)
    assert path.read_text() == text


def test_model2_scalars_and_optional_fields():
    """Equal per-neuron values are written as one number (``"inf"`` too); ``t_ref``, ``bias``,
    ``v_reset`` and ``delay`` are left out when 0, and read back as 0 when absent."""
    net = fpgrad.Network(
        n_inputs=1, n_neurons=2, tau_syn=0.0, tau_mem=math.inf, threshold=1.0,
        pre=[0, 1], post=[1, 2], weight=[0.5, 0.7],
    )  # fmt: skip
    data = fpgrad.problem_to_dict(fpgrad.Problem(net, ([1.0],), 10.0))
    assert data == {
        "format": "fpgrad-problem/2",
        "t_max": 10.0,
        "neurons": {"count": 2, "tau_mem": "inf", "tau_syn": 0.0, "threshold": 1.0},
        "inputs": [[1.0]],
        "synapses": {"pre": [0, 1], "post": [1, 2], "weight": [0.5, 0.7]},
    }
    again = fpgrad.problem_from_dict(data).network
    for name in ("t_ref", "bias", "v_reset"):
        assert getattr(again, name).tolist() == [0.0, 0.0], name
    assert again.delay.tolist() == [0.0, 0.0]
    data["synapses"]["delay"] = 1.25  # a number is broadcast to every synapse
    assert fpgrad.problem_from_dict(data).network.delay.tolist() == [1.25, 1.25]


def test_format_1_read_unchanged_and_written_back_as_format_1(tmp_path):
    """A format-1 file reads as before (one shared ``tau_syn`` broadcast to every neuron, model
    1's zeros) and is written back as format 1 by default, the same text for the shipped example;
    ``format=2`` writes the same problem in format 2, which reads back identically."""
    text = (ROOT / "examples" / "problem.json").read_text()
    prob = fpgrad.problem_from_dict(json.loads(text))
    net = prob.network
    assert net.tau_syn.tolist() == [5.0] * 3 and net.tau_syn.dtype == np.float64
    assert net.is_model1
    for name in ("bias", "v_reset", "t_ref"):
        assert getattr(net, name).tolist() == [0.0] * 3
    assert net.delay.tolist() == [0.0] * 4
    assert fpgrad.problem_to_dict(prob) == json.loads(text)
    assert fpgrad.problem_to_dict(prob, format=1) == json.loads(text)
    as2 = fpgrad.problem_to_dict(prob, format=2)
    assert as2["format"] == "fpgrad-problem/2" and as2["neurons"]["tau_syn"] == 5.0
    assert "tau_syn" not in as2 and "delay" not in as2["synapses"]
    back = fpgrad.problem_from_dict(problem_to_json_and_back(as2))
    assert_same_problem(back, prob)
    assert fpgrad.problem_to_dict(back) == json.loads(text)  # model 1 again: format 1
    path = tmp_path / "p.json"
    fpgrad.save_problem(prob, path, format=2)
    assert json.loads(path.read_text()) == as2
    fpgrad.save_problem(fpgrad.load_problem(path), path)
    assert json.loads(path.read_text()) == json.loads(text)


def test_format_1_written_for_an_empty_network():
    """Without neurons there is no ``tau_syn`` to write; format 1 still gets a valid one."""
    net = fpgrad.Network(
        n_inputs=2, n_neurons=0, tau_syn=[], tau_mem=[], threshold=[],
        pre=[], post=[], weight=[],
    )  # fmt: skip
    prob = fpgrad.Problem(net, ([1.0], []), 5.0)
    for fmt in (None, 1, 2):
        data = problem_to_json_and_back(fpgrad.problem_to_dict(prob, format=fmt))
        assert_same_problem(fpgrad.problem_from_dict(data), prob)
    assert fpgrad.problem_to_dict(prob)["format"] == "fpgrad-problem/1"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tau_mem": [10.0, math.inf, 10.0]},
         'neurons.tau_mem[1] = inf (a perfect integrator) cannot be written in format '
         'fpgrad-problem/1: JSON has no infinity (format fpgrad-problem/2 writes it as "inf")'),
        ({"tau_syn": [5.0, 5.0, 0.0]},
         "neurons.tau_syn[2] = 0.0 (delta synapses) cannot be written in format fpgrad-problem/1"),
        ({"tau_syn": [5.0, 2.5, 5.0]},
         "neurons.tau_syn[1] = 2.5 differs from neurons.tau_syn[0] = 5.0: format "
         "fpgrad-problem/1 holds one shared tau_syn"),
        ({"bias": [0.0, 0.0, 0.125]},
         "neurons.bias[2] = 0.125 cannot be written in format fpgrad-problem/1"),
        ({"v_reset": -0.5}, "neurons.v_reset[0] = -0.5 cannot be written in format"),
        ({"delay": [0.0, 0.0, 0.0, 1.5]}, "synapses.delay[3] = 1.5 cannot be written in format"),
    ],
)  # fmt: skip
def test_format_1_refuses_what_it_cannot_hold(tmp_path, change, message):
    """``format=1`` for a network beyond model 1: one line naming the field; nothing written;
    the default (``format=None``) writes format 2 instead, exactly."""
    prob = fpgrad.problem_from_dict(example())
    prob = prob.with_network(prob.network.replace(**change))
    path = tmp_path / "p.json"
    with pytest.raises(ProblemError) as err:
        fpgrad.save_problem(prob, path, format=1)
    assert str(err.value).startswith(message) and "\n" not in str(err.value), str(err.value)
    assert not path.exists()
    with pytest.raises(ProblemError, match=re.escape(message)):
        fpgrad.problem_to_dict(prob, format=1)
    data = problem_to_json_and_back(fpgrad.problem_to_dict(prob))
    assert data["format"] == "fpgrad-problem/2"
    assert_same_problem(fpgrad.problem_from_dict(data), prob)


def test_negative_zero_is_model_1():
    """``-0.0`` bias, reset and delay are model 1 (``is_model1``, the same dynamics): written
    in format 1 by default (as 0), in format 2 on request with the sign kept."""
    prob = fpgrad.problem_from_dict(example())
    prob = prob.with_network(prob.network.replace(bias=-0.0, v_reset=-0.0, delay=-0.0))
    assert prob.network.is_model1
    assert fpgrad.problem_to_dict(prob) == EXAMPLE
    data = problem_to_json_and_back(fpgrad.problem_to_dict(prob, format=2))
    assert_same_problem(fpgrad.problem_from_dict(data), prob)


@pytest.mark.parametrize("fmt", [0, 3, True, "2", "fpgrad-problem/2", 2.0])
def test_format_argument_is_checked(fmt):
    prob = fpgrad.problem_from_dict(example())
    with pytest.raises(ProblemError, match=r"^format = .*: expected 1, 2 or None"):
        fpgrad.problem_to_dict(prob, format=fmt)


def _top(key: str, value):
    def mutate(d):
        d[key] = value

    return mutate


BAD2 = [
    # the format-1 key in format 2, format-2 keys in format 1 (below, BAD1_KEYS), unknown keys
    (_top("tau_syn", 5.0), "tau_syn: not a field of format fpgrad-problem/2"),
    (_set("neurons.tau", 10.0), "unknown field neurons.tau"),
    (_set("synapses.delays", [0.0] * 6), "unknown field synapses.delays"),
    (_set("neurons.V_reset", 0.0), "unknown field neurons.V_reset"),
    # missing and required
    (_delete("neurons.tau_syn"), "missing field neurons.tau_syn"),
    (_delete("neurons.tau_mem"), "missing field neurons.tau_mem"),
    # tau_syn
    (_set("neurons.tau_syn", -5.0), "neurons.tau_syn[0] = -5.0 must be >= 0"),
    (_set("neurons.tau_syn", [5.0, -0.5, 0.0]), "neurons.tau_syn[1] = -0.5 must be >= 0"),
    (_set("neurons.tau_syn", [5.0, float("nan"), 0.0]), "neurons.tau_syn[1] = nan is not finite"),
    (_set("neurons.tau_syn", float("inf")), "neurons.tau_syn[0] = inf is not finite"),
    (
        _set("neurons.tau_syn", [5.0, 0.0]),
        "neurons.tau_syn: expected a number or a list of length 3",
    ),
    (_set("neurons.tau_syn", [0.0, 1e-310, 0.0]), "neurons.tau_syn[1] = 1e-310 is too small"),
    (_set("neurons.tau_syn", 1e-310), "neurons.tau_syn = 1e-310 is too small"),
    (_set("neurons.tau_syn", "5"), "neurons.tau_syn: expected a number, got '5'"),
    (_set("neurons.tau_syn", None), "neurons.tau_syn: expected a number, got None"),
    (_set("neurons.tau_syn", [[5.0], 5.0, 0.0]), "neurons.tau_syn[0]: expected a number"),
    # bias and v_reset
    (_set("neurons.bias", [0.0, 0.0]), "neurons.bias: expected a number or a list of length 3"),
    (_set("neurons.bias", float("nan")), "neurons.bias[0] = nan is not finite"),
    (_set("neurons.bias", [0.0, -float("inf"), 0.0]), "neurons.bias[1] = -inf is not finite"),
    (_set("neurons.bias", True), "neurons.bias: expected a number, got True"),
    (_set("neurons.v_reset", 1.0), "neurons.v_reset[0] = 1.0 must be below the threshold 1.0"),
    (_set("neurons.v_reset", [0.0, 0.0, 2.0]), "neurons.v_reset[2] = 2.0 must be below the"),
    (
        _set("neurons.v_reset", [0.0] * 4),
        "neurons.v_reset: expected a number or a list of length 3",
    ),
    (_set("neurons.v_reset", float("nan")), "neurons.v_reset[0] = nan is not finite"),
    (_set("neurons.v_reset", -float("inf")), "neurons.v_reset[0] = -inf is not finite"),
    (_set("neurons.t_ref", -1.0), "neurons.t_ref[0] = -1.0 must be >= 0"),
    # delay
    (_set("synapses.delay", -1.0), "synapses.delay[0] = -1.0 must be >= 0"),
    (_set("synapses.delay", [0.0, 0.0, 1.5, -2.0, 1.0, 0.5]), "synapses.delay[3] = -2.0 must be"),
    (_set("synapses.delay", [0.0, 1.0]), "synapses.delay: expected a number or a list of length 6"),
    (_set("synapses.delay", [0.0] * 7), "synapses.delay: expected a number or a list of length 6"),
    (_set("synapses.delay", [float("nan")] * 6), "synapses.delay[0] = nan is not finite"),
    (_set("synapses.delay", float("inf")), "synapses.delay[0] = inf is not finite"),
    (_set("synapses.delay", [0, 0, 0, 0, 0, "1"]), "synapses.delay[5]: expected a number, got '1'"),
    (_set("synapses.delay", {"0": 1.0}), "synapses.delay: expected a number"),
    (_set("synapses.delay", [[0.0]] * 6), "synapses.delay[0]: expected a number"),
    # "inf": only tau_mem, only the exact string
    (_set("neurons.tau_mem", "Inf"), 'neurons.tau_mem: expected a number or "inf" (a perfect'),
    (_set("neurons.tau_mem", "infinity"), 'neurons.tau_mem: expected a number or "inf"'),
    (_set("neurons.tau_mem", " inf"), 'neurons.tau_mem: expected a number or "inf"'),
    (_set("neurons.tau_mem", "-inf"), 'neurons.tau_mem: expected a number or "inf"'),
    (_set("neurons.tau_mem", "10"), 'neurons.tau_mem: expected a number or "inf"'),
    (_set("neurons.tau_mem", [10.0, "INF", 20.0]), "neurons.tau_mem[1]: expected a number or"),
    (_set("neurons.tau_mem", [10.0, None, 20.0]), "neurons.tau_mem[1]: expected a number"),
    (
        _set("neurons.tau_mem", ["inf", "inf"]),
        "neurons.tau_mem: expected a number or a list of length 3",
    ),
    (_set("neurons.tau_mem", float("inf")), "neurons.tau_mem = inf is not a JSON number"),
    (_set("neurons.tau_mem", [10.0, float("inf"), 20.0]), "neurons.tau_mem[1] = inf is not a JS"),
    (_set("neurons.tau_mem", -float("inf")), "neurons.tau_mem = -inf is not a JSON number"),
    (_set("neurons.tau_mem", [10.0, "inf", -1.0]), "neurons.tau_mem[2] = -1.0 must be > 0"),
    (_set("neurons.tau_mem", {"inf": 1}), "neurons.tau_mem: expected a number"),
    (_set("neurons.tau_syn", "inf"), "neurons.tau_syn: expected a number, got 'inf' (only neurons"),
    (
        _set("neurons.tau_syn", [5.0, "inf", 0.0]),
        "neurons.tau_syn[1]: expected a number, got 'inf'",
    ),
    (_set("neurons.threshold", "inf"), "neurons.threshold: expected a number, got 'inf' (only"),
    (_set("neurons.t_ref", "inf"), "neurons.t_ref: expected a number, got 'inf'"),
    (_set("neurons.bias", "inf"), "neurons.bias: expected a number, got 'inf'"),
    (_set("neurons.v_reset", "inf"), "neurons.v_reset: expected a number, got 'inf'"),
    (_set("synapses.delay", "inf"), "synapses.delay: expected a number, got 'inf'"),
    (_set("synapses.weight", [0.4, "inf", 0.5, 0.6, 0.6, -0.3]), "synapses.weight[1]: expected"),
    (_set("t_max", "inf"), "t_max: expected a number, got 'inf' (only neurons.tau_mem"),
    (_set_input(0, 1, "inf"), "inputs[0][1]: expected a number, got 'inf'"),
    (_set("neurons.count", "inf"), "neurons.count: expected a non-negative integer, got 'inf'"),
    # wrong format
    (_top("format", "fpgrad-problem/2.0"), "format: unknown format 'fpgrad-problem/2.0'"),
    (_top("format", 2), "format: unknown format 2, expected 'fpgrad-problem/1' or"),
]

#: Format-2 keys in a format-1 file (and format 1's "inf" that is not): named with the reason.
BAD1 = [
    (_set("neurons.tau_syn", 5.0), "neurons.tau_syn: not a field of format fpgrad-problem/1 "
     "(per-neuron tau_syn needs format fpgrad-problem/2"),
    (_set("neurons.bias", 0.0), "neurons.bias: not a field of format fpgrad-problem/1 (a bias"),
    (_set("neurons.v_reset", 0.0), "neurons.v_reset: not a field of format fpgrad-problem/1"),
    (_set("synapses.delay", [0.0] * 4), "synapses.delay: not a field of format fpgrad-problem/1"),
    (_set("neurons.tau_mem", "inf"), "neurons.tau_mem: expected a number, got 'inf' (\"inf\", a "
     "perfect integrator, needs format fpgrad-problem/2)"),
    (_set("neurons.tau_mem", [10.0, "inf", 10.0]), "neurons.tau_mem[1]: expected a number, got"),
    (_set("neurons.tau_mem", float("inf")),
     'neurons.tau_mem = inf is not a JSON number: write a perfect integrator as "inf" (format '
     "fpgrad-problem/2)"),
    (_set("tau_syn", 0.0), "tau_syn = 0.0 must be finite and > 0 (tau_syn = 0, delta synapses, "
     "needs format fpgrad-problem/2)"),
    (_set("tau_syn", -1), "tau_syn = -1 must be finite and > 0"),
    (_set("tau_syn", float("nan")), "tau_syn = nan must be finite and > 0"),
    (_set("tau_syn", [5.0, 5.0, 5.0]), "tau_syn: expected a number, got [5.0, 5.0, 5.0]"),
    (_set("tau_syn", "inf"), "tau_syn: expected a number, got 'inf' (only neurons.tau_mem"),
]  # fmt: skip


def _cases(cases):
    return pytest.mark.parametrize(
        ("mutate", "message"), cases, ids=[f"{i}-{m.split()[0]}" for i, (_, m) in enumerate(cases)]
    )


def _one_line_error(data) -> str:
    with pytest.raises(ProblemError) as err:
        fpgrad.problem_from_dict(data)
    msg = str(err.value)
    assert "\n" not in msg and len(msg) < 300, msg
    assert "np.float64" not in msg, msg
    return msg


@_cases(BAD2)
def test_malformed_format_2_names_the_field(mutate, message):
    """Every malformed format-2 field: one line, starting with the field as written."""
    data = example2()
    mutate(data)
    msg = _one_line_error(data)
    assert msg.startswith(message), msg


@_cases(BAD1)
def test_format_2_fields_in_format_1_are_named(mutate, message):
    """A format-2 key (or ``"inf"``, or ``tau_syn = 0``) in a format-1 file says so."""
    data = example()
    mutate(data)
    msg = _one_line_error(data)
    assert msg.startswith(message), msg


def test_format_2_accepts_integers_and_the_limits():
    """Integers for every number, ``tau_syn = 0`` and the smallest normal ``tau_syn``, ``"inf"``
    for every neuron, ``v_reset`` just below threshold, zero delays."""
    data = example2()
    neurons = data["neurons"]
    neurons.update(
        tau_mem="inf",
        tau_syn=[0, 2.2250738585072014e-308, 5],
        threshold=1,
        bias=[0, 1, -1],
        v_reset=[math.nextafter(1.0, 0.0), -(10**300), 0],
        t_ref=2,
    )
    data["synapses"]["delay"] = 0
    net = fpgrad.problem_from_dict(data).network
    assert net.tau_mem.tolist() == [math.inf] * 3 and net.tau_syn[0] == 0.0
    assert net.v_reset[0] == math.nextafter(1.0, 0.0) and net.delay.tolist() == [0.0] * 6
    assert net.bias.dtype == np.float64 and net.bias.tolist() == [0.0, 1.0, -1.0]


def test_format_2_hostile_files(tmp_path, monkeypatch):
    """The reader's limits hold for the new keys: a duplicate ``delay``, integers beyond
    float64 in ``bias`` and ``delay``, an over-long ``tau_mem`` list with ``"inf"`` entries."""
    text = EXAMPLE2_FILE.read_text()
    path = _write(tmp_path, text.replace('"delay": [', '"delay": 1.0, "delay": [', 1))
    assert _load_error(path).endswith("key 'delay' appears twice in one object")
    path = _write(tmp_path, text.replace('"bias": [0.02', '"bias": [1' + "0" * 400, 1))
    assert _load_error(path).startswith("neurons.bias[0] = 100000000000...000 (401 digits) is too")
    path = _write(tmp_path, text.replace('"delay": [0.0', '"delay": [-' + "9" * 5000, 1))
    assert _load_error(path).startswith("synapses.delay[0] = -999999999999...999 (5000 digits)")
    path = _write(tmp_path, text.replace('"tau_mem": [10.0', '"tau_mem": [' + "1" * 400, 1))
    assert _load_error(path).startswith("neurons.tau_mem[0] = 111111111111...111 (400 digits)")
    path = _write(tmp_path, text.replace('"tau_syn": [5.0', '"tau_syn": [Infinity', 1))
    assert _load_error(path).startswith("neurons.tau_syn[0] = inf is not finite")
    monkeypatch.setattr("fpgrad._io.MAX_SIZE", 3)
    data = example2()
    data["neurons"]["tau_mem"] = ["inf"] * 4
    assert _one_line_error(data) == "neurons.tau_mem: 4 values, more than the 3 allowed"


# --- Network: the fields of model 2 ------------------------------------------------------------


def _network(**changes) -> fpgrad.Network:
    fields = dict(n_inputs=1, n_neurons=2, tau_syn=5.0, tau_mem=10.0, threshold=1.0,
                  pre=[0, 1, 0], post=[1, 2, 2], weight=[0.5, 0.5, 0.25])  # fmt: skip
    fields.update(changes)
    return fpgrad.Network(**fields)


def test_network_model2_fields_broadcast_and_freeze():
    """Numbers broadcast (per neuron, per synapse), lists are kept, defaults are model 1, every
    array is float64 and read-only; ``replace`` validates the new fields again."""
    net = _network()
    assert net.tau_syn.tolist() == [5.0, 5.0] and net.is_model1
    for name in ("bias", "v_reset", "t_ref"):
        assert getattr(net, name).tolist() == [0.0, 0.0]
    assert net.delay.tolist() == [0.0, 0.0, 0.0]
    net = _network(tau_syn=[0.0, 2.5], bias=0.5, v_reset=[-1.0, 0.5], delay=1.5)
    assert net.tau_syn.tolist() == [0.0, 2.5] and net.bias.tolist() == [0.5, 0.5]
    assert net.v_reset.tolist() == [-1.0, 0.5] and net.delay.tolist() == [1.5] * 3
    for name in (*NEURON_FIELDS, "delay"):
        arr = getattr(net, name)
        assert arr.dtype == np.float64 and not arr.flags.writeable, name
    assert not net.is_model1
    with pytest.raises(ProblemError, match=r"^neurons\.v_reset\[1\] = 0\.5 must be below"):
        net.replace(threshold=[1.0, 0.5])
    assert net.replace(delay=[0.0, 1.0, 2.0]).delay.tolist() == [0.0, 1.0, 2.0]


@pytest.mark.parametrize(
    ("change", "is_model1"),
    [
        ({}, True),
        ({"tau_syn": [5.0, 5.0]}, True),
        ({"t_ref": 2.0, "tau_mem": [5.0, 20.0], "threshold": 0.5}, True),
        ({"tau_syn": [5.0, 4.0]}, False),
        ({"tau_syn": 0.0}, False),
        ({"bias": [0.0, 0.1]}, False),
        ({"v_reset": -0.1}, False),
        ({"delay": [0.0, 0.0, 0.1]}, False),
    ],
)
def test_is_model1(change, is_model1):
    assert _network(**change).is_model1 is is_model1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tau_syn": -1.0}, "neurons.tau_syn[0] = -1.0 must be >= 0 (0: delta synapses)"),
        ({"tau_syn": [0.0, float("nan")]}, "neurons.tau_syn[1] = nan is not finite"),
        ({"tau_syn": [0.0, 1e-310]}, "neurons.tau_syn[1] = 1e-310 is too small"),
        ({"tau_syn": [5.0, 5.0, 5.0]}, "neurons.tau_syn: expected a number or a list of length 2"),
        ({"bias": [0.0, float("inf")]}, "neurons.bias[1] = inf is not finite"),
        ({"bias": np.zeros((2, 1))}, "neurons.bias: expected a number or a list of length 2"),
        ({"v_reset": 1.0}, "neurons.v_reset[0] = 1.0 must be below the threshold 1.0"),
        ({"v_reset": [0.0, 3.0], "threshold": [1.0, 2.0]},
         "neurons.v_reset[1] = 3.0 must be below the threshold 2.0"),
        ({"v_reset": float("-inf")}, "neurons.v_reset[0] = -inf is not finite"),
        ({"delay": -0.5}, "synapses.delay[0] = -0.5 must be >= 0"),
        ({"delay": [0.0, 1.0]}, "synapses.delay: expected a number or a list of length 3"),
        ({"delay": [0.0, 1.0, float("nan")]}, "synapses.delay[2] = nan is not finite"),
        ({"t_ref": -1.0}, "neurons.t_ref[0] = -1.0 must be >= 0"),
    ],
)  # fmt: skip
def test_network_validates_model2_fields(change, message):
    """Each bad value of the new fields: a ``ProblemError`` naming the field and the index,
    with plain numbers in the message (never ``np.float64(...)``)."""
    with pytest.raises(ProblemError) as err:
        _network(**change)
    assert str(err.value).startswith(message), str(err.value)

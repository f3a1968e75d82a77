"""Reading and writing problem files, JSON format ``fpgrad-problem/1`` (docs/model.md §3).

```json
{
  "format": "fpgrad-problem/1",
  "t_max": 40.0,
  "tau_syn": 5.0,
  "neurons": {"count": 3, "tau_mem": 10.0, "threshold": [1.0, 1.0, 0.8]},
  "inputs": [[1.0, 4.5], [2.25]],
  "synapses": {"pre": [0, 1, 2, 3], "post": [2, 2, 3, 4], "weight": [0.4, 0.3, 0.9, -0.2]}
}
```

``tau_mem``, ``threshold`` and the optional ``t_ref`` are a number or a list of length ``count``.
Unknown keys are rejected (a typo must not silently fall back to a default), and so is a key
written twice in one object.

What a file may hold (every violation is a one-line :class:`~fpgrad.ProblemError` naming the
file or the field and the value as written):

* UTF-8 text (a leading byte-order mark is allowed) holding one JSON value, nested at most
  :data:`MAX_DEPTH` levels deep.
* Numbers within the float64 range (an integer literal beyond about ``1.8e308`` is refused, not
  rounded to infinity).
* At most :data:`MAX_SIZE` (``10**8``) neurons, input nodes, input spikes or synapses: a short
  file declaring ``"count": 10**12`` must not try to allocate terabytes.
* Time constants ``tau_syn`` and ``tau_mem`` of at least the smallest normal float64 (checked by
  :class:`~fpgrad.Network`, ``fpgrad._problem.MIN_TIME_CONSTANT``): below it the decay rate
  ``1 / tau`` overflows.
* Node ids that are integers (``3`` or ``3.0``) within ``0..M+N-1`` (``pre``) or
  ``M..M+N-1`` (``post``), checked before any conversion to ``int64``.
"""

from __future__ import annotations

import codecs
import json
import math
import os
import reprlib
from typing import Any

import numpy as np

from ._problem import Network, Problem, ProblemError

__all__ = [
    "FORMAT",
    "MAX_DEPTH",
    "MAX_INTEGER_DIGITS",
    "MAX_SIZE",
    "load_problem",
    "problem_from_dict",
    "problem_to_dict",
    "read_json",
    "save_problem",
]

FORMAT = "fpgrad-problem/1"

#: The most neurons (``neurons.count``), input nodes, input spikes or synapses a problem file may
#: declare. Far beyond what the event-driven simulator handles in reasonable time (``10**8``
#: neurons already take about 11 GiB and half a minute to simulate without a single synapse).
MAX_SIZE = 10**8
#: The deepest nesting of JSON arrays and objects read (fpgrad's files need 3 levels).
MAX_DEPTH = 32
#: Integer literals longer than this (in characters) are not converted, only reported (Python
#: refuses to convert more than 4300 digits; float64 ends near 309).
MAX_INTEGER_DIGITS = 4000

_TOP_KEYS = {"format", "t_max", "tau_syn", "neurons", "inputs", "synapses"}
_NEURON_KEYS = {"count", "tau_mem", "threshold", "t_ref"}
_SYNAPSE_KEYS = {"pre", "post", "weight"}

_SHOW = reprlib.Repr()
_SHOW.maxstring = 40
_SHOW.maxother = 40
_SHOW.maxlong = 40
_SHOW.maxlist = _SHOW.maxtuple = 6
_SHOW.maxdict = 4
_SHOW.maxlevel = 3


def show(value: Any) -> str:
    """``value`` for an error message: its ``repr`` (an int exactly as written in JSON), cut
    short for long or nested values (one line whatever the value holds); an int of more than 30
    digits as its first and last digits and its length."""
    if type(value) is int and not -(10**30) < value < 10**30:
        if value.bit_length() > 3 * MAX_INTEGER_DIGITS:  # too long to convert to str cheaply
            digits = int(value.bit_length() * math.log10(2)) + 1
            return f"{'-' if value < 0 else ''}an integer of about {digits} digits"
        return _long_int(str(value))
    return _SHOW.repr(value)


def _long_int(text: str) -> str:
    digits = text.lstrip("-")
    return f"{text[: len(text) - len(digits) + 12]}...{digits[-3:]} ({len(digits)} digits)"


def show_name(name: str) -> str:
    """A key or file name for a message: as is when printable, else its ``repr``."""
    return name if name.isprintable() and name.strip() == name and name else repr(name)


class _BadJSON(Exception):
    """Raised by the parser hooks; :func:`read_json` turns it into a :class:`ProblemError`."""


class _HugeInt(int):
    """An integer literal longer than :data:`MAX_INTEGER_DIGITS` (never converted: Python limits
    str-to-int conversions to 4300 digits). Its value is ``±10**MAX_INTEGER_DIGITS``, as invalid
    as the literal in every field (beyond float64, any node id and any count); its ``repr`` is
    the literal, shortened."""

    text: str

    def __repr__(self) -> str:
        return _long_int(self.text)


def _parse_int(text: str) -> int:
    if len(text) <= MAX_INTEGER_DIGITS:
        return int(text)
    huge = _HugeInt(-(10**MAX_INTEGER_DIGITS) if text.startswith("-") else 10**MAX_INTEGER_DIGITS)
    huge.text = text
    return huge


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _BadJSON(f"key {key!r} appears twice in one object")
            seen.add(key)
    return obj


def _depth_exceeds(data: Any, limit: int) -> bool:
    """Whether ``data`` nests arrays/objects more than ``limit`` levels (iteratively: no
    recursion however deep the value)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = list(value.values())
        elif not isinstance(value, list):
            continue
        if depth > limit:
            return True
        stack.extend((item, depth + 1) for item in value if isinstance(item, list | dict))
    return False


def read_json(path: str | os.PathLike[str]) -> Any:
    """The JSON value of the file ``path``, read strictly: a :class:`ProblemError` naming the file
    for bytes that are not UTF-8, invalid JSON, nesting deeper than :data:`MAX_DEPTH` or a key
    written twice in one object (integer literals longer than :data:`MAX_INTEGER_DIGITS` come
    back as a placeholder that every field rejects, with the literal in its message).
    A file that cannot be opened raises the usual :class:`OSError`. ``NaN`` and ``Infinity``
    are read as floats (the fields reject them by name)."""
    name = show_name(os.fsdecode(path))
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except ValueError as err:  # an embedded NUL byte
        raise ProblemError(f"{name}: not a valid file name ({err})") from None
    bom = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    try:
        text = raw[bom:].decode("utf-8")
    except UnicodeDecodeError as err:
        at = bom + err.start
        raise ProblemError(
            f"{name}: not UTF-8 text (byte 0x{raw[at]:02x} at offset {at}); JSON files must be "
            "UTF-8"
        ) from None
    too_deep = f"{name}: not valid for fpgrad: JSON nested more than {MAX_DEPTH} levels deep"
    try:
        data = json.loads(text, parse_int=_parse_int, object_pairs_hook=_object)
    except json.JSONDecodeError as err:
        raise ProblemError(f"{name}: not valid JSON ({err})") from None
    except _BadJSON as err:
        raise ProblemError(f"{name}: not valid for fpgrad: {err}") from None
    except RecursionError:  # nested far beyond MAX_DEPTH
        raise ProblemError(too_deep) from None
    if _depth_exceeds(data, MAX_DEPTH):
        raise ProblemError(too_deep)
    return data


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _require(obj: dict[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise ProblemError(f"missing field {where}{key}")
    return obj[key]


def _check_keys(obj: Any, allowed: set[str], where: str) -> None:
    if not isinstance(obj, dict):
        raise ProblemError(
            f"{where.rstrip('.') or 'problem'}: expected a JSON object, got {json_type(obj)}"
        )
    unknown = sorted(set(obj) - allowed, key=str)
    if unknown:
        raise ProblemError(
            f"unknown field {where}{show_name(str(unknown[0]))} "
            f"(allowed: {', '.join(sorted(allowed))})"
        )


def is_number(value: Any) -> bool:
    """A JSON number: an int or a float, not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def to_float(value: Any, name: str) -> float:
    """A JSON number as a float; ints beyond the float64 range are an error naming ``name``."""
    try:
        return float(value)
    except OverflowError:
        raise ProblemError(
            f"{name} = {show(value)} is too large: numbers must fit in a float64 (|x| < 1.8e308)"
        ) from None


def _number(value: Any, name: str) -> float:
    if not is_number(value):
        raise ProblemError(f"{name}: expected a number, got {show(value)}")
    return to_float(value, name)


def _floats(value: Any, name: str) -> list[float]:
    """A JSON list of numbers as floats (ints beyond the float64 range are an error)."""
    if not isinstance(value, list):
        raise ProblemError(f"{name}: expected a list, got {json_type(value)}")
    if len(value) > MAX_SIZE:
        raise ProblemError(f"{name}: {len(value)} values, more than the {MAX_SIZE} allowed")
    out = []
    for idx, item in enumerate(value):
        if type(item) is float:
            out.append(item)
            continue
        if not is_number(item):
            raise ProblemError(f"{name}[{idx}]: expected a number, got {show(item)}")
        out.append(to_float(item, f"{name}[{idx}]"))
    return out


def is_integral(value: Any) -> bool:
    """An integer as JSON may write it: an int (not a bool) or a float such as ``3.0``."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value) and value.is_integer()


def _node_ids(value: Any, name: str, lo: int, hi: int, what: str) -> list[int]:
    """A JSON list of integer node ids in ``lo..hi``, checked as written (no int64 cast)."""
    if not isinstance(value, list):
        raise ProblemError(f"{name}: expected a list, got {json_type(value)}")
    if len(value) > MAX_SIZE:
        raise ProblemError(f"{name}: {len(value)} synapses, more than the {MAX_SIZE} allowed")
    out = []
    for idx, item in enumerate(value):
        if not is_number(item):
            raise ProblemError(f"{name}[{idx}]: expected a number, got {show(item)}")
        if not is_integral(item):
            raise ProblemError(f"{name}[{idx}]: expected an integer node id, got {show(item)}")
        if not lo <= item <= hi:
            raise ProblemError(f"{name}[{idx}] = {show(item)} {what}")
        out.append(int(item))
    return out


def _scalar_or_list(value: Any, name: str) -> Any:
    return _floats(value, name) if isinstance(value, list) else _number(value, name)


def problem_from_dict(data: Any) -> Problem:
    """Build a :class:`Problem` from the parsed JSON object of a problem file."""
    _check_keys(data, _TOP_KEYS, "")
    fmt = _require(data, "format", "")
    if fmt != FORMAT:
        raise ProblemError(f"format: unknown format {show(fmt)}, expected {FORMAT!r}")
    neurons = _require(data, "neurons", "")
    _check_keys(neurons, _NEURON_KEYS, "neurons.")
    count = _require(neurons, "count", "neurons.")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ProblemError(f"neurons.count: expected a non-negative integer, got {show(count)}")
    if count > MAX_SIZE:
        raise ProblemError(
            f"neurons.count = {show(count)} is too large: at most {MAX_SIZE} neurons (their "
            f"parameter arrays alone would take {_bytes(24 * count)})"
        )
    synapses = _require(data, "synapses", "")
    _check_keys(synapses, _SYNAPSE_KEYS, "synapses.")
    inputs = _require(data, "inputs", "")
    if not isinstance(inputs, list):
        raise ProblemError(f"inputs: expected a list of spike-time lists, got {json_type(inputs)}")
    if len(inputs) > MAX_SIZE:
        raise ProblemError(f"inputs: {len(inputs)} input nodes, more than the {MAX_SIZE} allowed")
    trains = [_floats(train, f"inputs[{j}]") for j, train in enumerate(inputs)]
    n_spikes = sum(len(train) for train in trains)
    if n_spikes > MAX_SIZE:
        raise ProblemError(f"inputs: {n_spikes} input spikes, more than the {MAX_SIZE} allowed")
    tau_syn = _number(_require(data, "tau_syn", ""), "tau_syn")
    tau_mem = _scalar_or_list(_require(neurons, "tau_mem", "neurons."), "neurons.tau_mem")
    n_inputs, n_nodes = len(trains), len(trains) + count
    pre = _node_ids(
        _require(synapses, "pre", "synapses."),
        "synapses.pre",
        0,
        n_nodes - 1,
        f"is out of range: node ids are 0..{n_nodes - 1}",
    )
    post = _node_ids(
        _require(synapses, "post", "synapses."),
        "synapses.post",
        n_inputs,
        n_nodes - 1,
        f"is not a neuron: neuron ids are {n_inputs}..{n_nodes - 1} "
        "(inputs cannot receive synapses)",
    )
    network = Network(
        n_inputs=n_inputs,
        n_neurons=count,
        tau_syn=tau_syn,
        tau_mem=tau_mem,
        threshold=_scalar_or_list(_require(neurons, "threshold", "neurons."), "neurons.threshold"),
        t_ref=_scalar_or_list(neurons.get("t_ref", 0.0), "neurons.t_ref"),
        pre=np.asarray(pre, dtype=np.int64),
        post=np.asarray(post, dtype=np.int64),
        weight=np.asarray(
            _floats(_require(synapses, "weight", "synapses."), "synapses.weight"),
            dtype=np.float64,
        ),
    )
    return Problem(network, tuple(trains), _number(_require(data, "t_max", ""), "t_max"))


def _bytes(n: int) -> str:
    if n > 2**100:
        return "an absurd amount of memory"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}"
        n /= 1024
    raise AssertionError  # pragma: no cover


def _compact(arr: np.ndarray) -> float | list[float]:
    """A per-neuron array as one number when all entries are equal (as files usually write it)."""
    if arr.size and np.all(arr == arr[0]):
        return float(arr[0])
    return [float(x) for x in arr]


def problem_to_dict(problem: Problem) -> dict[str, Any]:
    """The JSON object of ``problem`` in format ``fpgrad-problem/1`` (floats round-trip exactly).

    A perfect integrator (``tau_mem = inf``) cannot be written: JSON has no infinity."""
    if not isinstance(problem, Problem):
        raise ProblemError(f"problem: expected a fpgrad.Problem, got {type(problem).__name__}")
    net = problem.network
    if np.any(np.isinf(net.tau_mem)):
        i = int(np.flatnonzero(np.isinf(net.tau_mem))[0])
        raise ProblemError(
            f"neurons.tau_mem[{i}] = inf (a perfect integrator) cannot be written in format "
            f"{FORMAT}: JSON has no infinity"
        )
    neurons: dict[str, Any] = {
        "count": net.n_neurons,
        "tau_mem": _compact(net.tau_mem),
        "threshold": _compact(net.threshold),
    }
    if np.any(net.t_ref != 0):
        neurons["t_ref"] = _compact(net.t_ref)
    return {
        "format": FORMAT,
        "t_max": problem.t_max,
        "tau_syn": net.tau_syn,
        "neurons": neurons,
        "inputs": [[float(t) for t in train] for train in problem.inputs],
        "synapses": {
            "pre": [int(x) for x in net.pre],
            "post": [int(x) for x in net.post],
            "weight": [float(x) for x in net.weight],
        },
    }


def load_problem(path: str | os.PathLike[str]) -> Problem:
    """Read a problem file; malformed JSON or fields raise :class:`ProblemError` (see the
    module docstring for what a file may hold), a file that cannot be read :class:`OSError`."""
    return problem_from_dict(read_json(path))


def save_problem(problem: Problem, path: str | os.PathLike[str]) -> None:
    """Write ``problem`` as a JSON problem file."""
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(problem_to_dict(problem), fh, indent=1)
        fh.write("\n")

"""Problem files: JSON formats ``fpgrad-problem/1`` and ``fpgrad-problem/2`` (docs/model.md §3).

Format 2 holds model 2 (docs/model.md §1): per-neuron ``tau_syn`` (``0``: delta synapses),
``bias``, ``v_reset`` and ``t_ref``, per-synapse ``delay``, and ``tau_mem`` written as the string
``"inf"`` for a perfect integrator (JSON has no infinity); ``examples/problem_model2.json``:

```json
{
  "format": "fpgrad-problem/2",
  "t_max": 40.0,
  "neurons": {"count": 3, "tau_mem": [10.0, "inf", 20.0], "tau_syn": [5.0, 5.0, 0.0],
              "threshold": 1.0, "t_ref": [0.0, 0.0, 2.0], "bias": [0.02, 0.0, 0.0],
              "v_reset": [-0.2, 0.0, 0.0]},
  "inputs": [[1.0, 4.5], [2.25]],
  "synapses": {"pre": [0, 1, 2, 2, 3, 4], "post": [2, 2, 3, 4, 4, 3],
               "weight": [0.4, 0.3, 0.5, 0.6, 0.6, -0.3],
               "delay": [0.0, 0.0, 1.5, 2.0, 1.0, 0.5]}
}
```

``tau_mem``, ``tau_syn`` and ``threshold`` are required, ``t_ref``, ``bias`` and ``v_reset``
optional (default 0); each is a number or a list of length ``count``. ``synapses.delay`` is
optional (default 0), a number or a list of length ``K``. Format 1 (model 1) has one top-level
``tau_syn > 0`` instead, and no ``bias``, ``v_reset``, ``delay`` or ``"inf"``:

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

Unknown keys are rejected (a typo must not silently fall back to a default), a key of the other
format with a message saying so, and so is a key written twice in one object. Writing
(:func:`problem_to_dict`, :func:`save_problem`) picks format 1 when it can hold the network
(model 1, finite ``tau_mem``: what older readers understand), else format 2; ``format=1`` or
``format=2`` forces one (format 1 refuses, naming the field, what it cannot hold).

What a file may hold (every violation is a one-line :class:`~fpgrad.ProblemError` naming the
file or the field and the value as written):

* UTF-8 text (a leading byte-order mark is allowed) holding one JSON value, nested at most
  :data:`MAX_DEPTH` levels deep.
* Numbers within the float64 range (an integer literal beyond about ``1.8e308`` is refused, not
  rounded to infinity); the non-standard ``NaN`` and ``Infinity`` literals are refused by every
  field (``tau_mem``'s infinity is the string ``"inf"``, in format 2 only; no other string is
  accepted anywhere a number is expected).
* At most :data:`MAX_SIZE` (``10**8``) neurons, input nodes, input spikes or synapses: a short
  file declaring ``"count": 10**12`` must not try to allocate terabytes.
* Time constants ``tau_syn`` (unless 0 in format 2) and ``tau_mem`` of at least the smallest
  normal float64 (checked by :class:`~fpgrad.Network`, ``fpgrad._problem.MIN_TIME_CONSTANT``):
  below it the decay rate ``1 / tau`` overflows.
* Node ids that are integers (``3`` or ``3.0``) within ``0..M+N-1`` (``pre``) or
  ``M..M+N-1`` (``post``), checked before any conversion to ``int64``.
* The model's own rules, checked by :class:`~fpgrad.Network`: ``threshold > 0``,
  ``v_reset < threshold``, ``t_ref >= 0``, ``delay >= 0``, everything finite but ``tau_mem``.
"""

from __future__ import annotations

import codecs
import json
import math
import os
import reprlib
from typing import Any

import numpy as np

from ._problem import NEURON_FIELDS, Network, Problem, ProblemError, _check_normal

__all__ = [
    "FORMAT_1",
    "FORMAT_2",
    "MAX_DEPTH",
    "MAX_INTEGER_DIGITS",
    "MAX_SIZE",
    "load_problem",
    "problem_from_dict",
    "problem_to_dict",
    "read_json",
    "save_problem",
]

#: The ``format`` strings of the two problem formats (model 1, model 2).
FORMAT_1 = "fpgrad-problem/1"
FORMAT_2 = "fpgrad-problem/2"
_VERSIONS = {FORMAT_1: 1, FORMAT_2: 2}
_NAMES = {1: FORMAT_1, 2: FORMAT_2}

#: The most neurons (``neurons.count``), input nodes, input spikes or synapses a problem file may
#: declare. Far beyond what the event-driven simulator handles in reasonable time (``10**8``
#: neurons already take about 11 GiB and half a minute to simulate without a single synapse).
MAX_SIZE = 10**8
#: The deepest nesting of JSON arrays and objects read (fpgrad's files need 3 levels).
MAX_DEPTH = 32
#: Integer literals longer than this (in characters) are not converted, only reported (Python
#: refuses to convert more than 4300 digits; float64 ends near 309).
MAX_INTEGER_DIGITS = 4000

#: The keys of each object, per format version.
_TOP_KEYS = {
    1: {"format", "t_max", "tau_syn", "neurons", "inputs", "synapses"},
    2: {"format", "t_max", "neurons", "inputs", "synapses"},
}
_NEURON_KEYS = {
    1: {"count", "tau_mem", "threshold", "t_ref"},
    2: {"count", "tau_mem", "tau_syn", "threshold", "t_ref", "bias", "v_reset"},
}
_SYNAPSE_KEYS = {1: {"pre", "post", "weight"}, 2: {"pre", "post", "weight", "delay"}}
#: Why a key of one format is not one of the other (the message names both formats).
_OTHER_FORMAT = {
    (2, "tau_syn"): f"a top-level tau_syn is format {FORMAT_1}; format {FORMAT_2} has "
    "neurons.tau_syn, a number or one per neuron",
    (1, "neurons.tau_syn"): f"per-neuron tau_syn needs format {FORMAT_2}; format {FORMAT_1} has "
    "one top-level tau_syn",
    (1, "neurons.bias"): f"a bias current needs format {FORMAT_2}",
    (1, "neurons.v_reset"): f"a reset value needs format {FORMAT_2}",
    (1, "synapses.delay"): f"synaptic delays need format {FORMAT_2}",
}
#: The one string a number field accepts: ``tau_mem``'s infinity, in format 2.
_INF = "inf"

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


def _check_keys(obj: Any, allowed: set[str], where: str, version: int) -> None:
    """``obj`` is a JSON object with no key outside ``allowed`` (those of format ``version``)."""
    if not isinstance(obj, dict):
        raise ProblemError(
            f"{where.rstrip('.') or 'problem'}: expected a JSON object, got {json_type(obj)}"
        )
    unknown = sorted(set(obj) - allowed, key=str)
    if unknown:
        key = unknown[0]
        other = _OTHER_FORMAT.get((version, f"{where}{key}"))
        if other is not None:
            raise ProblemError(f"{where}{key}: not a field of format {_NAMES[version]} ({other})")
        allowed_list = ", ".join(sorted(allowed))
        raise ProblemError(f"unknown field {where}{show_name(str(key))} (allowed: {allowed_list})")


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


def _not_a_number(value: Any, name: str) -> ProblemError:
    hint = f' (only neurons.tau_mem may be "{_INF}", in format {FORMAT_2})' if value == _INF else ""
    return ProblemError(f"{name}: expected a number, got {show(value)}{hint}")


def _number(value: Any, name: str) -> float:
    if not is_number(value):
        raise _not_a_number(value, name)
    return to_float(value, name)


def _check_length(value: list[Any], name: str) -> None:
    if len(value) > MAX_SIZE:
        raise ProblemError(f"{name}: {len(value)} values, more than the {MAX_SIZE} allowed")


def _floats(value: Any, name: str) -> list[float]:
    """A JSON list of numbers as floats (ints beyond the float64 range are an error)."""
    if not isinstance(value, list):
        raise ProblemError(f"{name}: expected a list, got {json_type(value)}")
    _check_length(value, name)
    out = []
    for idx, item in enumerate(value):
        if type(item) is float:
            out.append(item)
            continue
        if not is_number(item):
            raise _not_a_number(item, f"{name}[{idx}]")
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


def _tau_mem(value: Any, name: str, version: int) -> Any:
    """``neurons.tau_mem``: a number or a list; in format 2 a value may be ``"inf"``."""
    if isinstance(value, list):
        _check_length(value, name)
        return [
            item
            if type(item) is float and math.isfinite(item)
            else _tau_mem_value(item, f"{name}[{idx}]", version)
            for idx, item in enumerate(value)
        ]
    return _tau_mem_value(value, name, version)


def _tau_mem_value(value: Any, name: str, version: int) -> float:
    if isinstance(value, str):
        if version == 2 and value == _INF:
            return math.inf
        if version == 2:
            raise ProblemError(
                f'{name}: expected a number or "{_INF}" (a perfect integrator), got {show(value)}'
            )
        if value == _INF:
            raise ProblemError(
                f'{name}: expected a number, got {show(value)} ("{_INF}", a perfect integrator, '
                f"needs format {FORMAT_2})"
            )
    tau = _number(value, name)
    if math.isinf(tau):  # the non-standard ``Infinity`` literal, or a Python inf
        raise ProblemError(
            f'{name} = {tau!r} is not a JSON number: write a perfect integrator as "{_INF}"'
            + (f" (format {FORMAT_2})" if version == 1 else "")
        )
    return tau


def _shared_tau_syn(value: Any) -> float:
    """Format 1's top-level ``tau_syn``: one finite, normal time constant ``> 0``."""
    tau = _number(value, "tau_syn")
    if not math.isfinite(tau) or tau <= 0:
        delta = f" (tau_syn = 0, delta synapses, needs format {FORMAT_2})" if tau == 0 else ""
        raise ProblemError(f"tau_syn = {show(value)} must be finite and > 0{delta}")
    _check_normal("tau_syn", np.array([tau]), scalar=True)
    return tau


def problem_from_dict(data: Any) -> Problem:
    """Build a :class:`Problem` from the parsed JSON object of a problem file (format 1 or 2,
    by its ``format`` field; see the module docstring)."""
    if not isinstance(data, dict):
        raise ProblemError(f"problem: expected a JSON object, got {json_type(data)}")
    fmt = _require(data, "format", "")
    version = _VERSIONS.get(fmt) if isinstance(fmt, str) else None
    if version is None:
        raise ProblemError(
            f"format: unknown format {show(fmt)}, expected {FORMAT_1!r} or {FORMAT_2!r}"
        )
    _check_keys(data, _TOP_KEYS[version], "", version)
    neurons = _require(data, "neurons", "")
    _check_keys(neurons, _NEURON_KEYS[version], "neurons.", version)
    count = _require(neurons, "count", "neurons.")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ProblemError(f"neurons.count: expected a non-negative integer, got {show(count)}")
    if count > MAX_SIZE:
        raise ProblemError(
            f"neurons.count = {show(count)} is too large: at most {MAX_SIZE} neurons (their "
            f"parameter arrays alone would take {_bytes(8 * len(NEURON_FIELDS) * count)})"
        )
    synapses = _require(data, "synapses", "")
    _check_keys(synapses, _SYNAPSE_KEYS[version], "synapses.", version)
    inputs = _require(data, "inputs", "")
    if not isinstance(inputs, list):
        raise ProblemError(f"inputs: expected a list of spike-time lists, got {json_type(inputs)}")
    if len(inputs) > MAX_SIZE:
        raise ProblemError(f"inputs: {len(inputs)} input nodes, more than the {MAX_SIZE} allowed")
    trains = [_floats(train, f"inputs[{j}]") for j, train in enumerate(inputs)]
    n_spikes = sum(len(train) for train in trains)
    if n_spikes > MAX_SIZE:
        raise ProblemError(f"inputs: {n_spikes} input spikes, more than the {MAX_SIZE} allowed")
    if version == 1:
        tau_syn = _shared_tau_syn(_require(data, "tau_syn", ""))
    else:
        tau_syn = _scalar_or_list(_require(neurons, "tau_syn", "neurons."), "neurons.tau_syn")
    tau_mem = _tau_mem(_require(neurons, "tau_mem", "neurons."), "neurons.tau_mem", version)
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
        bias=_scalar_or_list(neurons.get("bias", 0.0), "neurons.bias"),
        v_reset=_scalar_or_list(neurons.get("v_reset", 0.0), "neurons.v_reset"),
        pre=np.asarray(pre, dtype=np.int64),
        post=np.asarray(post, dtype=np.int64),
        weight=np.asarray(
            _floats(_require(synapses, "weight", "synapses."), "synapses.weight"),
            dtype=np.float64,
        ),
        delay=_scalar_or_list(synapses.get("delay", 0.0), "synapses.delay"),
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


def _compact(arr: np.ndarray) -> Any:
    """A per-neuron array as one number when all entries are equal (bit for bit, so ``-0.0``
    and ``0.0`` stay apart), else a list; ``inf`` (only ``tau_mem`` holds it) as ``"inf"``."""
    values = [_INF if x == math.inf else x for x in arr.tolist()]
    if values and np.all(arr.view(np.int64) == arr[:1].view(np.int64)):
        return values[0]
    return values


def _is_zero(arr: np.ndarray) -> bool:
    """All entries ``+0.0`` (an optional field left out of a file; ``-0.0`` is written)."""
    return not np.any(arr.view(np.int64))


def _format_1_obstacle(net: Network) -> str | None:
    """Why format 1 cannot hold ``net`` (a message naming the field), or ``None``."""
    cannot = f"cannot be written in format {FORMAT_1}"
    if np.any(np.isinf(net.tau_mem)):
        i = int(np.flatnonzero(np.isinf(net.tau_mem))[0])
        return (
            f"neurons.tau_mem[{i}] = inf (a perfect integrator) {cannot}: JSON has no infinity "
            f'(format {FORMAT_2} writes it as "{_INF}")'
        )
    if net.n_neurons:
        tau_syn = net.tau_syn
        if np.any(tau_syn == 0):
            i = int(np.flatnonzero(tau_syn == 0)[0])
            return f"neurons.tau_syn[{i}] = 0.0 (delta synapses) {cannot} (needs {FORMAT_2})"
        if np.any(tau_syn != tau_syn[0]):
            i = int(np.flatnonzero(tau_syn != tau_syn[0])[0])
            return (
                f"neurons.tau_syn[{i}] = {tau_syn[i].item()!r} differs from neurons.tau_syn[0] = "
                f"{tau_syn[0].item()!r}: format {FORMAT_1} holds one shared tau_syn "
                f"(use {FORMAT_2})"
            )
    for name in ("neurons.bias", "neurons.v_reset", "synapses.delay"):
        arr = getattr(net, name.split(".")[1])
        if np.any(arr != 0):  # (-0.0 is 0: the same model, and model 1 as is_model1 says)
            i = int(np.flatnonzero(arr != 0)[0])
            return f"{name}[{i}] = {arr[i].item()!r} {cannot} (it has no {name}; use {FORMAT_2})"
    return None


#: ``tau_syn`` written to a format-1 file of a network without neurons (no neuron uses it).
_EMPTY_TAU_SYN = 5.0


def problem_to_dict(problem: Problem, *, format: int | None = None) -> dict[str, Any]:
    """The JSON object of ``problem``; floats round-trip exactly.

    ``format=None`` writes format ``fpgrad-problem/1`` when it can hold the network (model 1:
    one shared ``tau_syn > 0``, no bias, reset value, delay or perfect integrator), which older
    readers understand, else ``fpgrad-problem/2``; ``format=2`` always writes format 2, and
    ``format=1`` refuses, with a :class:`ProblemError` naming the field, a network it cannot
    hold. A per-neuron field whose entries are all equal is written as one number, an optional
    field (``t_ref``, ``bias``, ``v_reset``, ``delay``) that is all 0 is left out, and an
    infinite ``tau_mem`` is written ``"inf"``."""
    if not isinstance(problem, Problem):
        raise ProblemError(f"problem: expected a fpgrad.Problem, got {type(problem).__name__}")
    if format is not None and (type(format) is not int or format not in _NAMES):
        raise ProblemError(f"format = {show(format)}: expected 1, 2 or None (the simplest)")
    net = problem.network
    obstacle = _format_1_obstacle(net)
    if format == 1 and obstacle is not None:
        raise ProblemError(obstacle)
    version = format or (1 if obstacle is None else 2)
    neurons: dict[str, Any] = {"count": net.n_neurons, "tau_mem": _compact(net.tau_mem)}
    if version == 2:
        neurons["tau_syn"] = _compact(net.tau_syn)
    neurons["threshold"] = _compact(net.threshold)
    optional = ("t_ref", "bias", "v_reset") if version == 2 else ("t_ref",)
    for name in optional:
        if not _is_zero(getattr(net, name)):
            neurons[name] = _compact(getattr(net, name))
    synapses: dict[str, Any] = {
        "pre": net.pre.tolist(),
        "post": net.post.tolist(),
        "weight": net.weight.tolist(),
    }
    if version == 2 and not _is_zero(net.delay):
        synapses["delay"] = net.delay.tolist()
    data: dict[str, Any] = {"format": _NAMES[version], "t_max": problem.t_max}
    if version == 1:
        data["tau_syn"] = float(net.tau_syn[0]) if net.n_neurons else _EMPTY_TAU_SYN
    data["neurons"] = neurons
    data["inputs"] = [train.tolist() for train in problem.inputs]
    data["synapses"] = synapses
    return data


def load_problem(path: str | os.PathLike[str]) -> Problem:
    """Read a problem file (format 1 or 2); malformed JSON or fields raise
    :class:`ProblemError` (see the module docstring for what a file may hold), a file that
    cannot be read :class:`OSError`."""
    return problem_from_dict(read_json(path))


def save_problem(
    problem: Problem, path: str | os.PathLike[str], *, format: int | None = None
) -> None:
    """Write ``problem`` as a JSON problem file, in the format chosen as by
    :func:`problem_to_dict` (format 1 where it suffices, unless ``format`` says otherwise).
    Nothing is written when the problem cannot be."""
    text = json.dumps(problem_to_dict(problem, format=format), indent=1, allow_nan=False)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")

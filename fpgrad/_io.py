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
Unknown keys are rejected (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np

from ._problem import Network, Problem, ProblemError

__all__ = ["FORMAT", "load_problem", "problem_from_dict", "problem_to_dict", "save_problem"]

FORMAT = "fpgrad-problem/1"

_TOP_KEYS = {"format", "t_max", "tau_syn", "neurons", "inputs", "synapses"}
_NEURON_KEYS = {"count", "tau_mem", "threshold", "t_ref"}
_SYNAPSE_KEYS = {"pre", "post", "weight"}


def _require(obj: dict[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise ProblemError(f"missing field {where}{key}")
    return obj[key]


def _check_keys(obj: Any, allowed: set[str], where: str) -> None:
    if not isinstance(obj, dict):
        raise ProblemError(
            f"{where or 'problem'}: expected a JSON object, got {type(obj).__name__}"
        )
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise ProblemError(
            f"unknown field {where}{unknown[0]} (allowed: {', '.join(sorted(allowed))})"
        )


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProblemError(f"{name}: expected a number, got {value!r}")
    return float(value)


def _numbers(value: Any, name: str, *, integer: bool = False) -> list:
    if not isinstance(value, list):
        raise ProblemError(f"{name}: expected a list, got {type(value).__name__}")
    for idx, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise ProblemError(f"{name}[{idx}]: expected a number, got {item!r}")
        if integer and not (isinstance(item, int) or (math.isfinite(item) and item == int(item))):
            raise ProblemError(f"{name}[{idx}]: expected an integer node id, got {item!r}")
    return value


def _scalar_or_list(value: Any, name: str) -> Any:
    return _numbers(value, name) if isinstance(value, list) else _number(value, name)


def problem_from_dict(data: Any) -> Problem:
    """Build a :class:`Problem` from the parsed JSON object of a problem file."""
    _check_keys(data, _TOP_KEYS, "")
    fmt = _require(data, "format", "")
    if fmt != FORMAT:
        raise ProblemError(f"format: unknown format {fmt!r}, expected {FORMAT!r}")
    neurons = _require(data, "neurons", "")
    _check_keys(neurons, _NEURON_KEYS, "neurons.")
    count = _require(neurons, "count", "neurons.")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ProblemError(f"neurons.count: expected a non-negative integer, got {count!r}")
    synapses = _require(data, "synapses", "")
    _check_keys(synapses, _SYNAPSE_KEYS, "synapses.")
    inputs = _require(data, "inputs", "")
    if not isinstance(inputs, list):
        raise ProblemError(
            f"inputs: expected a list of spike-time lists, got {type(inputs).__name__}"
        )
    trains = [_numbers(train, f"inputs[{j}]") for j, train in enumerate(inputs)]
    network = Network(
        n_inputs=len(trains),
        n_neurons=count,
        tau_syn=_number(_require(data, "tau_syn", ""), "tau_syn"),
        tau_mem=_scalar_or_list(_require(neurons, "tau_mem", "neurons."), "neurons.tau_mem"),
        threshold=_scalar_or_list(_require(neurons, "threshold", "neurons."), "neurons.threshold"),
        t_ref=_scalar_or_list(neurons.get("t_ref", 0.0), "neurons.t_ref"),
        pre=np.asarray(
            _numbers(_require(synapses, "pre", "synapses."), "synapses.pre", integer=True)
        ),
        post=np.asarray(
            _numbers(_require(synapses, "post", "synapses."), "synapses.post", integer=True)
        ),
        weight=np.asarray(_numbers(_require(synapses, "weight", "synapses."), "synapses.weight")),
    )
    return Problem(network, tuple(trains), _number(_require(data, "t_max", ""), "t_max"))


def _compact(arr: np.ndarray) -> float | list[float]:
    """A per-neuron array as one number when all entries are equal (as files usually write it)."""
    if arr.size and np.all(arr == arr[0]):
        return float(arr[0])
    return [float(x) for x in arr]


def problem_to_dict(problem: Problem) -> dict[str, Any]:
    """The JSON object of ``problem`` in format ``fpgrad-problem/1`` (floats round-trip exactly)."""
    net = problem.network
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
    """Read a problem file; malformed JSON or fields raise :class:`ProblemError`."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except json.JSONDecodeError as err:
        raise ProblemError(f"{os.fspath(path)}: not valid JSON ({err})") from None
    return problem_from_dict(data)


def _reject_constant(name: str) -> float:
    raise ProblemError(
        f"non-finite number {name} in problem file: times and weights must be finite"
    )


def save_problem(problem: Problem, path: str | os.PathLike[str]) -> None:
    """Write ``problem`` as a JSON problem file."""
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(problem_to_dict(problem), fh, indent=1)
        fh.write("\n")

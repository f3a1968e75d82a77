"""What several ``fpgrad`` commands share: JSON output (strict: a non-finite value is an error),
option types that name their valid range, the losses and their ``--target`` files, the reader
of ``.npz`` archives, the check
that a loss and gradient are finite, and the reader of gradient ``.npz`` files.

Imports only library modules (never :mod:`fpgrad.cli` or a command module), so every command
module can import it without a cycle.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import zipfile
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._io import is_integral, is_number, json_type, read_json, show, show_name, to_float
from .._problem import Problem, ProblemError
from ..grad._params import GROUPS
from ..losses import FirstSpikeCrossEntropy, FirstSpikeMSE, SpikeCount, VanRossum

__all__ = [
    "LOSSES",
    "TARGET_FIELDS",
    "add_loss_arguments",
    "build_loss",
    "check_finite_gradient",
    "emit",
    "finite_float",
    "first_non_finite",
    "int_in_range",
    "load_gradient_npz",
    "number_list",
    "output_neurons",
    "read_npz",
    "read_target",
]


def first_non_finite(value: Any, path: str = "") -> tuple[str, float] | None:
    """The path (``gradient.weight[2]``) and value of the first float in ``value`` (nested dicts
    and lists) that is not finite, ``None`` if all are finite."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, float | np.floating):
            if not math.isfinite(item):
                return where, float(item)
        elif isinstance(item, dict):
            stack.extend(
                (f"{where}.{key}" if where else str(key), v) for key, v in reversed(item.items())
            )
        elif isinstance(item, list | tuple):
            stack.extend((f"{where}[{k}]", v) for k, v in reversed(list(enumerate(item))))
    return None


def emit(payload: dict[str, Any], out: str | None) -> None:
    """Write ``payload`` as one line of strict JSON to ``out``, or to stdout when ``None``.

    A value that is not finite (which strict JSON cannot hold) raises
    :class:`~fpgrad.ProblemError` naming it, before anything is written; commands check their
    own values first to say why."""
    bad = first_non_finite(payload)
    if bad is not None:
        where, value = bad
        raise ProblemError(
            f"{where} = {value!r} is not finite (a float64 overflow on this problem); "
            "nothing written"
        )
    text = json.dumps(payload, allow_nan=False)
    if out is None:
        sys.stdout.write(text + "\n")
    else:
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")


def int_in_range(option: str, lo: int, hi: int) -> Callable[[str], int]:
    """An argparse ``type`` for an integer option within ``[lo, hi]``; the error names the
    option and the range (argparse prefixes ``argument OPTION:``)."""

    def parse(text: str) -> int:
        stripped = text.strip()
        digits = stripped.lstrip("+-")
        if not (digits.isdigit() and digits.isascii()) or len(digits) > 30:
            value = None
        else:
            value = int(stripped)
        if value is None or not lo <= value <= hi:
            raise argparse.ArgumentTypeError(
                f"expected an integer in [{lo}, {hi}], got {show(text)}"
            )
        return value

    parse.__name__ = option  # what argparse calls the type in its own messages
    return parse


def finite_float(option: str, *, minimum: float = 0.0) -> Callable[[str], float]:
    """An argparse ``type`` for a finite float option ``>= minimum``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value >= minimum):
            raise argparse.ArgumentTypeError(
                f"expected a finite number >= {minimum:g}, got {show(text)}"
            )
        return value

    parse.__name__ = option
    return parse


LOSSES = {
    "first-spike-mse": FirstSpikeMSE,
    "first-spike-ce": FirstSpikeCrossEntropy,
    "van-rossum": VanRossum,
    "spike-count": SpikeCount,
}

#: The fields of each loss's ``--target`` object and what each holds: ``numbers`` (a list of
#: numbers), ``ids`` (a list of neuron ids), ``integer``, ``number``, ``trains`` (an object
#: ``{"node id": [times]}``).
TARGET_FIELDS = {
    "first-spike-mse": {"targets": "numbers", "neurons": "ids"},
    "first-spike-ce": {
        "label": "integer",
        "neurons": "ids",
        "tau0": "number",
        "tau1": "number",
        "alpha": "number",
    },
    "van-rossum": {"targets": "trains", "tau": "number"},
    "spike-count": {"targets": "numbers", "neurons": "ids"},
}


def output_neurons(problem: Problem) -> list[int]:
    """Neurons without outgoing synapses (all neurons if every one has some), global ids."""
    net = problem.network
    neurons = range(net.n_inputs, net.n_nodes)
    outputs = [n for n in neurons if n not in set(net.pre.tolist())]
    return outputs or list(neurons)


def add_loss_arguments(parser: argparse.ArgumentParser) -> None:
    """``--loss`` / ``--target`` (read by :func:`build_loss`), shared by the commands that
    evaluate a loss: ``grad``, ``check``, ``compare``."""
    parser.add_argument("--loss", required=True, choices=sorted(LOSSES), help="the loss")
    parser.add_argument(
        "--target",
        metavar="FILE",
        help="JSON file with the loss's arguments (neuron ids are fpgrad global ids, times in "
        "ms; neurons default to the output neurons: those without outgoing synapses, or for a "
        ".nir graph those feeding its Output node)",
    )


def _neuron_id(value: Any, name: str, problem: Problem) -> int:
    net = problem.network
    if not is_integral(value):
        raise ProblemError(f"{name} = {show(value)}: expected an integer neuron id")
    if not net.n_inputs <= value < net.n_nodes:
        raise ProblemError(
            f"{name} = {show(value)} is not a neuron: neuron ids are "
            f"{net.n_inputs}..{net.n_nodes - 1}"
        )
    return int(value)


def number_list(value: Any, name: str) -> list[float]:
    if not isinstance(value, list):
        raise ProblemError(f"{name}: expected a list of numbers, got {json_type(value)}")
    out = []
    for k, item in enumerate(value):
        if not is_number(item):
            raise ProblemError(f"{name}[{k}] = {show(item)}: expected a number")
        out.append(to_float(item, f"{name}[{k}]"))
    return out


_NODE_KEY = re.compile(r"-?[0-9]{1,30}")


def _target_value(kind: str, value: Any, name: str, problem: Problem) -> Any:
    """One field of a ``--target`` object, its JSON type checked (the loss checks the values)."""
    if kind == "numbers":
        return number_list(value, name)
    if kind == "ids":
        if not isinstance(value, list):
            raise ProblemError(f"{name}: expected a list of neuron ids, got {json_type(value)}")
        return [_neuron_id(v, f"{name}[{k}]", problem) for k, v in enumerate(value)]
    if kind == "integer":
        if not is_integral(value):
            raise ProblemError(f"{name} = {show(value)}: expected an integer")
        return int(value)
    if kind == "number":
        if not is_number(value):
            raise ProblemError(f"{name} = {show(value)}: expected a number")
        return to_float(value, name)
    # trains: {"node id": [spike times]}
    if not isinstance(value, dict):
        raise ProblemError(
            f'{name}: expected an object {{"neuron id": [spike times]}}, got {json_type(value)}'
        )
    trains = {}
    for key, train in value.items():
        where = f"{name}[{key!r}]"
        if not _NODE_KEY.fullmatch(key):
            raise ProblemError(f"{name}: key {key!r} is not a neuron id (an integer)")
        trains[_neuron_id(int(key), f"{name}: key {key!r}", problem)] = number_list(train, where)
    return trains


def read_target(name: str, target_file: str, problem: Problem) -> dict[str, Any]:
    """The loss arguments in ``target_file`` (a JSON object, read as :func:`~fpgrad.load_problem`
    reads problem files), each field's type checked for loss ``name``; errors name the file."""
    try:
        data = read_json(target_file)
    except ProblemError as err:  # the message starts with the file name
        raise ProblemError(f"--target {err}") from None
    fields = TARGET_FIELDS[name]
    prefix = f"--target {show_name(target_file)}"
    if not isinstance(data, dict):
        raise ProblemError(
            f"{prefix}: expected a JSON object of loss arguments, got {json_type(data)}"
        )
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ProblemError(
            f"{prefix}: unknown field {show_name(unknown[0])} for loss {name} (allowed: "
            f"{', '.join(sorted(fields))})"
        )
    try:
        return {key: _target_value(fields[key], value, key, problem) for key, value in data.items()}
    except ProblemError as err:
        raise ProblemError(f"{prefix}: {err}") from None


def build_loss(
    name: str,
    target_file: str | None,
    problem: Problem,
    default_neurons: Sequence[int] | None = None,
):
    """The loss ``name`` (a key of :data:`LOSSES`) with the arguments of the JSON object in
    ``target_file`` (see :data:`TARGET_FIELDS`); ``neurons`` default to ``default_neurons``
    (a NIR graph's Output neurons), else :func:`output_neurons`. Bad arguments raise
    :class:`~fpgrad.ProblemError`."""
    spec: dict[str, Any] = {} if target_file is None else read_target(name, target_file, problem)
    if name == "van-rossum":
        if "targets" not in spec:
            raise ProblemError('van-rossum needs --target FILE with {"targets": {node: [times]}}')
    else:
        if "neurons" not in spec:
            spec["neurons"] = (
                output_neurons(problem) if default_neurons is None else list(default_neurons)
            )
        if name == "first-spike-ce":
            spec.setdefault("label", 0)
        elif "targets" not in spec:
            raise ProblemError(f'{name} needs --target FILE with {{"targets": [...]}}')
    try:
        return LOSSES[name](**spec)
    except ProblemError as err:
        if target_file is None:
            raise
        raise ProblemError(f"--target {show_name(target_file)}: {err}") from None


def check_finite_gradient(res: Any, loss: Any, problem: Problem, *, nan_ok: bool = False) -> None:
    """Raise :class:`~fpgrad.ProblemError` when the loss or a gradient entry of ``res`` (a
    :class:`~fpgrad.GradientResult`) is not finite, naming the value and the likely cause.
    ``nan_ok``: a NaN gradient entry is allowed (finite differences without a usable step)."""
    if not math.isfinite(res.loss):
        raise ProblemError(f"loss = {res.loss!r} is not finite: {_overflow_cause(loss, problem)}")
    for group, values in res.grad.groups().items():
        arr = np.asarray(values, dtype=np.float64)
        bad = ~np.isfinite(arr) & ~(np.isnan(arr) if nan_ok else False)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise ProblemError(
                f"gradient.{group}[{k}] = {float(arr[k])!r} is not finite: the gradient "
                "overflowed float64 (extreme values in the problem, e.g. time constants tiny "
                "next to the spike times, or huge weights or times)"
            )


def _overflow_cause(loss: Any, problem: Problem) -> str:
    t_max = f"t_max = {problem.t_max:g} ms"
    if isinstance(loss, FirstSpikeCrossEntropy):
        return (
            "the loss overflowed float64: its term alpha * exp(t_label / tau1) overflows once "
            f"t_label / tau1 > 709 (tau1 = {loss.tau1:g} ms, and a silent label neuron counts "
            f"as t_max: {t_max}); use a larger tau1 or a smaller t_max"
        )
    if isinstance(loss, FirstSpikeMSE):
        return (
            "the loss overflowed float64: (t - target)^2 overflows for spike times or targets "
            f"beyond about 1e154 ms (a silent neuron counts as t_max: {t_max})"
        )
    return f"the loss overflowed float64 (extreme times or constants in the problem; {t_max})"


def read_npz(path: str, what: str) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` archive ``path`` by name; a file that is not one (or holds a
    single ``.npy`` array) raises :class:`~fpgrad.ProblemError` saying it should hold ``what``."""
    # the file is opened here, not by np.load: np.load(path) leaks its handle when the file
    # starts like a zip archive but is not one (NpzFile's constructor raises BadZipFile)
    with open(path, "rb") as fh:
        try:
            data = np.load(fh, allow_pickle=False)
        except (ValueError, zipfile.BadZipFile, EOFError) as err:
            raise ProblemError(f"{path}: not a readable .npz file of arrays ({err})") from None
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ProblemError(f"{path}: expected an .npz archive of {what}, got one array")
        try:
            return {name: np.asarray(data[name]) for name in data.files}
        except (ValueError, zipfile.BadZipFile, EOFError) as err:
            raise ProblemError(f"{path}: not a readable .npz file of arrays ({err})") from None
        finally:
            data.close()


def load_gradient_npz(path: str) -> dict[str, np.ndarray]:
    """Arrays of an ``.npz`` file named by parameter group (:data:`fpgrad.GROUPS`: ``weight``,
    ``input_time``, ``threshold``, ``tau_mem``, ``tau_syn``, ``delay``, ``bias``, ``v_reset``,
    ``t_ref``); any other name, or an array of anything but real numbers (booleans, complex
    numbers, strings, objects), is an error."""
    arrays = read_npz(path, "arrays named by group")
    unknown = sorted(set(arrays) - set(GROUPS))
    if unknown:
        raise ProblemError(
            f"{path}: unknown array name(s) {', '.join(unknown)}; arrays must be named by "
            f"parameter group: {', '.join(GROUPS)}"
        )
    if not arrays:
        raise ProblemError(f"{path}: no arrays (expected some of {', '.join(GROUPS)})")
    for name, arr in arrays.items():
        if arr.dtype.kind not in "iuf":
            raise ProblemError(
                f"{path}: array {name!r} holds {arr.dtype} values, expected real numbers"
            )
    return arrays

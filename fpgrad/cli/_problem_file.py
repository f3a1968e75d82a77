"""The problem argument of ``simulate``, ``grad``, ``check`` and ``compare``: a JSON problem file
or a NIR graph (``.nir``) with its input spikes.

A JSON problem holds its network, inputs and ``t_max``; a NIR graph holds only the network
(read by :func:`fpgrad.nir.read_nir`), so it comes with

* ``--inputs FILE``: the spike times of each channel of the graph's Input node, in the graph's
  time unit, either

  - ``.npz``: one 1-d array per channel, named ``0``, ``1``, ..., ``M-1`` (every channel, no
    other name; an empty array is a silent channel), and optionally a 0-d array ``t_max``;
    one array per channel rather than a padded 2-d array, so that no padding value (``nan``?
    ``inf``?) has to be told apart from a spike time;
  - ``.json``: ``{"inputs": [[times of channel 0], [times of channel 1], ...], "t_max": T}``
    (``t_max`` optional, no other key);

* ``--t-max T``: the horizon in the graph's time unit; needed unless the inputs file has
  ``t_max`` (the option wins over the file when both are given);
* ``--time-unit s|ms``: the graph's time unit (default ``s``, NIR's convention);
* ``--spike-area A``: the impulse of one spike in graph time units (default 1, NIR's unit
  deltas; the export step of a discrete-time exporter, ``1e-4`` for snnTorch:
  :func:`fpgrad.nir.read_nir`).

A file is read as a NIR graph when its name ends in ``.nir`` or it starts with the HDF5
signature (what ``nir.write`` writes), as JSON otherwise. These options with a JSON problem,
or a NIR graph without ``--inputs``, are errors (one line): nothing is guessed.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .._io import is_number, json_type, load_problem, read_json, show, show_name, to_float
from .._problem import Problem, ProblemError
from ._common import add_loss_arguments, build_loss, finite_float, number_list, read_npz

if TYPE_CHECKING:
    from ..nir import NIRNetwork

__all__ = [
    "ProblemFile",
    "add_problem_argument",
    "add_problem_loss_arguments",
    "is_nir_file",
    "load_problem_and_loss",
    "load_problem_file",
]

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
NIR_OPTIONS = ("inputs", "t_max", "time_unit", "spike_area")


@dataclass(frozen=True, eq=False)
class ProblemFile:
    """A problem as read from the command line; ``nir`` and its inputs only for a NIR graph.

    Attributes:
        problem: the fpgrad problem (times in ms, global node ids).
        nir: the graph read as a network, with its map to fpgrad, or ``None`` (JSON problem).
        inputs: the input spike times per channel, in the graph's time unit (NIR only).
        t_max: the horizon in the graph's time unit (NIR only).
    """

    problem: Problem
    nir: NIRNetwork | None = None
    inputs: tuple[np.ndarray, ...] = ()
    t_max: float | None = None

    @property
    def default_neurons(self) -> tuple[int, ...] | None:
        """The neurons a loss reads by default: a NIR graph's Output neurons, else ``None``
        (the neurons without outgoing synapses, :func:`fpgrad.cli._common.output_neurons`)."""
        return None if self.nir is None else self.nir.output_neurons

    def nir_summary(self) -> dict[str, Any]:
        """How the graph's nodes map to fpgrad's global ids (for the JSON output)."""
        assert self.nir is not None
        return {
            "time_unit": self.nir.time_unit,
            "spike_area": self.nir.spike_area,
            "input_node": self.nir.input_node,
            "neurons": {name: list(ids) for name, ids in self.nir.neurons.items()},
            "output_neurons": list(self.nir.output_neurons),
        }


def add_problem_argument(parser: argparse.ArgumentParser) -> None:
    """The positional ``problem`` and the options of a NIR problem (module docstring)."""
    parser.add_argument(
        "problem",
        help="problem file: JSON (format fpgrad-problem/2 or /1), or a NIR graph (.nir) with "
        "--inputs",
    )
    nir = parser.add_argument_group(
        "NIR problems",
        "A .nir graph holds no inputs: give them with --inputs, in the graph's time unit. "
        "FILE.npz: one 1-d array of spike times per channel of the graph's Input node, named "
        "0, 1, ..., M-1 (all of them, nothing else), optionally a 0-d array t_max. FILE.json: "
        '{"inputs": [[times...], ...], "t_max": T} (t_max optional). The simulated network '
        "is fpgrad's: node ids in the output and in --target files are fpgrad global ids "
        "(inputs 0..M-1, then each neuron node's channels in graph order) and times there are "
        "in ms; the JSON output's \"nir\" object maps the graph's nodes to those ids. Not "
        "allowed with a JSON problem.",
    )
    nir.add_argument("--inputs", metavar="FILE", help="input spikes of a .nir graph (.npz/.json)")
    nir.add_argument(
        "--t-max",
        type=finite_float("--t-max"),
        metavar="T",
        help="horizon in the graph's time unit (needed unless the --inputs file has t_max, "
        "which this option overrides)",
    )
    nir.add_argument(
        "--time-unit",
        choices=("s", "ms"),
        help="the graph's time unit (default s, NIR's convention)",
    )
    nir.add_argument(
        "--spike-area",
        type=finite_float("--spike-area"),
        metavar="A",
        help="the impulse of one spike in graph time units (default 1: NIR's unit deltas; a "
        "discrete-time exporter's step, e.g. 1e-4 for snnTorch's export_to_nir)",
    )


def add_problem_loss_arguments(parser: argparse.ArgumentParser) -> None:
    """The problem (:func:`add_problem_argument`) and ``--loss`` / ``--target``, shared by the
    commands that evaluate a loss: ``grad``, ``check``, ``compare``."""
    add_problem_argument(parser)
    add_loss_arguments(parser)


def load_problem_and_loss(args: argparse.Namespace) -> tuple[ProblemFile, Any]:
    """The problem of ``args`` and its loss (:func:`~fpgrad.cli._common.build_loss`; neurons
    default to a NIR graph's Output neurons)."""
    loaded = load_problem_file(args)
    return loaded, build_loss(args.loss, args.target, loaded.problem, loaded.default_neurons)


def is_nir_file(path: str) -> bool:
    """``path`` names a NIR graph: it ends in ``.nir`` or starts with the HDF5 signature."""
    if path.lower().endswith(".nir"):
        return True
    try:
        with open(path, "rb") as fh:
            return fh.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE
    except (OSError, ValueError):  # load_problem reports what is wrong with the file
        return False


def load_problem_file(args: argparse.Namespace) -> ProblemFile:
    """The problem of ``args.problem`` (module docstring); bad files and options raise
    :class:`~fpgrad.ProblemError` (one line)."""
    given = [name for name in NIR_OPTIONS if getattr(args, name) is not None]
    if not is_nir_file(args.problem):
        if given:
            option = "--" + given[0].replace("_", "-")
            raise ProblemError(
                f"{option} is for a .nir problem; {show_name(args.problem)} is read as a JSON "
                "problem, which holds its own inputs, t_max and times in ms"
            )
        return ProblemFile(load_problem(args.problem))
    if args.inputs is None:
        raise ProblemError(
            f"{show_name(args.problem)} is a NIR graph, which holds no inputs: give them with "
            "--inputs FILE.npz|FILE.json (see --help)"
        )
    try:
        from ..nir import read_nir
    except ImportError as err:
        raise ProblemError(
            f"reading a .nir file needs the nir package ({err}): pip install 'fpgrad[nir]'"
        ) from None
    spike_area = 1.0 if args.spike_area is None else args.spike_area
    net = read_nir(args.problem, time_unit=args.time_unit or "s", spike_area=spike_area)
    inputs, file_t_max = read_inputs(args.inputs, net.network.n_inputs, net.input_node)
    t_max = args.t_max if args.t_max is not None else file_t_max
    if t_max is None:
        raise ProblemError(
            f"a .nir problem needs --t-max T (in the graph's time unit, {net.time_unit}) or "
            f'"t_max" in the --inputs file'
        )
    return ProblemFile(net.problem(list(inputs), t_max), net, inputs, t_max)


def read_inputs(
    path: str, n_channels: int, input_node: str
) -> tuple[tuple[np.ndarray, ...], float | None]:
    """The spike times per channel and the optional ``t_max`` of an ``--inputs`` file (module
    docstring), checked: every channel of ``input_node``, 1-d, finite real numbers."""
    prefix = f"--inputs {show_name(path)}"
    if path.lower().endswith(".npz"):
        arrays = read_npz(path, "one array per input channel")
        t_max = arrays.pop("t_max", None)
        channels = _npz_channels(arrays, n_channels, input_node, prefix)
    elif path.lower().endswith(".json"):
        channels, t_max = _json_inputs(path, n_channels, input_node, prefix)
    else:
        raise ProblemError(f"{prefix}: expected a .npz or .json file of input spike times")
    for j, times in enumerate(channels):
        bad = ~np.isfinite(times)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise ProblemError(
                f"{prefix}: channel {j}: spike time [{k}] = {float(times[k])!r} is not finite"
            )
    if t_max is not None:
        t_max = _t_max(t_max, prefix)
    return tuple(channels), t_max


def _channel_names(n_channels: int) -> str:
    return "0" if n_channels == 1 else f"0..{n_channels - 1}"


def _npz_channels(
    arrays: dict[str, np.ndarray], n_channels: int, input_node: str, prefix: str
) -> list[np.ndarray]:
    expected = [str(j) for j in range(n_channels)]
    unknown = sorted(set(arrays) - set(expected))
    missing = [name for name in expected if name not in arrays]
    if unknown or missing:
        what = f"unknown array {show_name(unknown[0])}" if unknown else f"no array {missing[0]!r}"
        raise ProblemError(
            f"{prefix}: {what}; expected one array per channel of Input node "
            f"{show_name(input_node)}, named {_channel_names(n_channels)} (and optionally t_max)"
        )
    channels = []
    for name in expected:
        arr = arrays[name]
        if arr.dtype.kind not in "iuf":
            raise ProblemError(f"{prefix}: array {name!r} holds {arr.dtype} values, expected times")
        if arr.ndim != 1:
            raise ProblemError(
                f"{prefix}: array {name!r} has shape {arr.shape}, expected a 1-d array of times"
            )
        channels.append(arr.astype(np.float64))
    return channels


def _json_inputs(
    path: str, n_channels: int, input_node: str, prefix: str
) -> tuple[list[np.ndarray], Any]:
    try:
        data = read_json(path)
    except ProblemError as err:  # the message starts with the file name
        raise ProblemError(f"--inputs {err}") from None
    if not isinstance(data, dict) or "inputs" not in data:
        raise ProblemError(
            f'{prefix}: expected a JSON object {{"inputs": [[times...], ...], "t_max": T}}, got '
            f"{json_type(data) if not isinstance(data, dict) else 'no inputs'}"
        )
    unknown = sorted(set(data) - {"inputs", "t_max"})
    if unknown:
        raise ProblemError(
            f"{prefix}: unknown key {show_name(unknown[0])} (allowed: inputs, t_max)"
        )
    trains = data["inputs"]
    if not isinstance(trains, list) or len(trains) != n_channels:
        got = f"{len(trains)} lists" if isinstance(trains, list) else json_type(trains)
        raise ProblemError(
            f"{prefix}: inputs: expected {n_channels} lists of spike times (channels "
            f"{_channel_names(n_channels)} of Input node {show_name(input_node)}), got {got}"
        )
    try:
        channels = [
            np.array(number_list(train, f"inputs[{j}]"), dtype=np.float64)
            for j, train in enumerate(trains)
        ]
    except ProblemError as err:
        raise ProblemError(f"{prefix}: {err}") from None
    t_max = data.get("t_max")
    if t_max is not None:
        if not is_number(t_max):
            raise ProblemError(f"{prefix}: t_max = {show(t_max)}: expected a number")
        try:
            t_max = to_float(t_max, "t_max")
        except ProblemError as err:
            raise ProblemError(f"{prefix}: {err}") from None
    return channels, t_max


def _t_max(value: Any, prefix: str) -> float:
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf" or arr.size != 1:
        raise ProblemError(
            f"{prefix}: t_max must be one number, got {arr.dtype} of shape {arr.shape}"
        )
    t_max = float(arr.reshape(()))
    if not (math.isfinite(t_max) and t_max >= 0):
        raise ProblemError(f"{prefix}: t_max = {t_max!r} must be a finite number >= 0")
    return t_max

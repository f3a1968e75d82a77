"""What several ``fpgrad`` commands share: JSON output, the losses and their arguments, and the
reader of gradient ``.npz`` files.

Imports only library modules (never :mod:`fpgrad.cli` or a command module), so every command
module can import it without a cycle.
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from typing import Any

import numpy as np

from .._problem import Problem, ProblemError
from ..grad._params import GROUPS
from ..losses import FirstSpikeCrossEntropy, FirstSpikeMSE, SpikeCount, VanRossum

__all__ = [
    "LOSSES",
    "add_problem_loss_arguments",
    "build_loss",
    "emit",
    "load_gradient_npz",
    "output_neurons",
]


def emit(payload: dict[str, Any], out: str | None) -> None:
    """Write ``payload`` as one line of strict JSON to ``out``, or to stdout when ``None``."""
    text = json.dumps(payload, allow_nan=False)
    if out is None:
        sys.stdout.write(text + "\n")
    else:
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")


LOSSES = {
    "first-spike-mse": FirstSpikeMSE,
    "first-spike-ce": FirstSpikeCrossEntropy,
    "van-rossum": VanRossum,
    "spike-count": SpikeCount,
}


def output_neurons(problem: Problem) -> list[int]:
    """Neurons without outgoing synapses (all neurons if every one has some), global ids."""
    net = problem.network
    neurons = range(net.n_inputs, net.n_nodes)
    outputs = [n for n in neurons if n not in set(net.pre.tolist())]
    return outputs or list(neurons)


def add_problem_loss_arguments(parser: argparse.ArgumentParser) -> None:
    """The positional ``problem`` and ``--loss`` / ``--target`` (read by :func:`build_loss`),
    shared by the commands that evaluate a loss: ``grad``, ``check``, ``compare``."""
    parser.add_argument("problem", help="problem file (JSON, format fpgrad-problem/1)")
    parser.add_argument("--loss", required=True, choices=sorted(LOSSES), help="the loss")
    parser.add_argument("--target", metavar="FILE", help="JSON file with the loss's arguments")


def build_loss(name: str, target_file: str | None, problem: Problem):
    """The loss ``name`` (a key of :data:`LOSSES`) with the arguments of the JSON object in
    ``target_file``; ``neurons`` default to :func:`output_neurons`. Bad arguments raise
    :class:`~fpgrad.ProblemError`."""
    spec: dict[str, Any] = {}
    if target_file is not None:
        with open(target_file, encoding="utf-8") as fh:
            spec = json.load(fh)
        if not isinstance(spec, dict):
            raise ProblemError(f"{target_file}: expected a JSON object of loss arguments")
    if name == "van-rossum":
        if "targets" not in spec:
            raise ProblemError('van-rossum needs --target FILE with {"targets": {node: [times]}}')
        spec["targets"] = {int(k): v for k, v in spec["targets"].items()}
    else:
        spec.setdefault("neurons", output_neurons(problem))
        if name == "first-spike-ce":
            spec.setdefault("label", 0)
        elif "targets" not in spec:
            raise ProblemError(f'{name} needs --target FILE with {{"targets": [...]}}')
    try:
        return LOSSES[name](**spec)
    except TypeError as err:
        raise ProblemError(f"--target: invalid arguments for loss {name}: {err}") from None


def load_gradient_npz(path: str) -> dict[str, np.ndarray]:
    """Arrays of an ``.npz`` file named by parameter group (``weight``, ``input_time``,
    ``threshold``, ``tau_mem``, ``tau_syn``); any other name is an error."""
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, zipfile.BadZipFile, EOFError) as err:
        raise ProblemError(f"{path}: not a readable .npz file of arrays ({err})") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ProblemError(
            f"{path}: expected an .npz archive of arrays named by group, got one array"
        )
    try:
        arrays = {name: np.asarray(data[name]) for name in data.files}
    except (ValueError, zipfile.BadZipFile, EOFError) as err:
        raise ProblemError(f"{path}: not a readable .npz file of arrays ({err})") from None
    finally:
        data.close()
    unknown = sorted(set(arrays) - set(GROUPS))
    if unknown:
        raise ProblemError(
            f"{path}: unknown array name(s) {', '.join(unknown)}; arrays must be named by "
            f"parameter group: {', '.join(GROUPS)}"
        )
    if not arrays:
        raise ProblemError(f"{path}: no arrays (expected some of {', '.join(GROUPS)})")
    return arrays

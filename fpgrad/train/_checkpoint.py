"""Checkpoints as NPZ: parameters, optimizer state (pytree leaves), epoch, RNG state, config.

With parameter averaging (``TrainConfig.ema``) a checkpoint holds two parameter sets: ``params``,
the averaged parameters that are evaluated (and whose matrices ``W0, W1, ...`` are), and
``train_params``, the optimizer's own iterate, from which a resumed run continues.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._model import Params

__all__ = ["Checkpoint", "load_checkpoint", "save_checkpoint"]


@dataclass(frozen=True, eq=False)
class Checkpoint:
    """What a checkpoint holds. ``opt_leaves`` are the optimizer state's pytree leaves in
    ``jax.tree_util`` order: unflatten them with the tree structure of a freshly initialised
    state of the same optimizer (see :func:`restore_opt_state`)."""

    params: Params
    opt_leaves: list[np.ndarray]
    epoch: int
    rng_state: dict[str, Any]
    config: dict[str, Any]
    weights: list[np.ndarray]
    train_params: Params | None = None


def save_checkpoint(
    path: str | Path,
    params: Params,
    weights: list[np.ndarray],
    opt_state: Any,
    epoch: int,
    rng: np.random.Generator,
    config: dict[str, Any],
    train_params: Params | None = None,
) -> Path:
    """Write ``path`` (``.npz``): ``weight`` (flat, synapse order), ``W0``, ``W1``, ...
    (matrices), ``threshold``, ``opt_0..opt_k`` (optimizer leaves), ``epoch``, ``rng_state`` and
    ``config`` (JSON strings), and ``train_weight`` / ``train_threshold`` if ``train_params``
    is given. Written to a temporary file first, then renamed."""
    import jax

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    leaves = jax.tree_util.tree_leaves(opt_state)
    arrays: dict[str, Any] = {
        "weight": params.weight,
        "threshold": params.threshold,
        "epoch": np.int64(epoch),
        "n_opt": np.int64(len(leaves)),
        "n_layers": np.int64(len(weights)),
        "rng_state": np.array(json.dumps(rng.bit_generator.state)),
        "config": np.array(json.dumps(config)),
    }
    if train_params is not None:
        arrays["train_weight"] = train_params.weight
        arrays["train_threshold"] = train_params.threshold
    for i, w in enumerate(weights):
        arrays[f"W{i}"] = w
    for i, leaf in enumerate(leaves):
        arrays[f"opt_{i}"] = np.asarray(leaf)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    return path


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`."""
    with np.load(Path(path)) as data:
        n_opt = int(data["n_opt"])
        train_params = (
            Params(weight=data["train_weight"].copy(), threshold=data["train_threshold"].copy())
            if "train_weight" in data
            else None
        )
        return Checkpoint(
            params=Params(weight=data["weight"].copy(), threshold=data["threshold"].copy()),
            opt_leaves=[data[f"opt_{i}"].copy() for i in range(n_opt)],
            epoch=int(data["epoch"]),
            rng_state=json.loads(str(data["rng_state"])),
            config=json.loads(str(data["config"])),
            weights=[data[f"W{i}"].copy() for i in range(int(data["n_layers"]))],
            train_params=train_params,
        )


def restore_opt_state(template: Any, leaves: list[np.ndarray]) -> Any:
    """The optimizer state with ``template``'s tree structure and dtypes and the saved leaves."""
    import jax

    old = jax.tree_util.tree_leaves(template)
    if len(old) != len(leaves):
        raise ValueError(
            f"checkpoint: optimizer state has {len(leaves)} leaves, expected {len(old)} "
            "(different optimizer settings?)"
        )
    new = [
        jax.numpy.asarray(x, dtype=jax.numpy.asarray(t).dtype)
        for t, x in zip(old, leaves, strict=True)
    ]
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(template), new)

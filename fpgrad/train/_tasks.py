"""The built-in classification tasks: their splits and recommended defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..data import Dataset, load_digits, load_yinyang

__all__ = ["TASKS", "Task", "load_task"]


@dataclass(frozen=True)
class Task:
    """Splits of a task and the defaults that override :class:`~fpgrad.train.TrainConfig`'s."""

    name: str
    train: Dataset
    validation: Dataset
    test: Dataset
    defaults: dict[str, Any]


#: Per-task defaults (Yin-Yang: 5-120-3 as Göltz et al.; digits: 65-100-10, longer horizon for
#: ten competing outputs).
TASKS: dict[str, dict[str, Any]] = {
    "yinyang": {"hidden": (120,), "t_max": 30.0},
    "digits": {"hidden": (100,), "t_max": 30.0},
}


def load_task(name: str, *, seed: int = 0) -> Task:
    """The train / validation / test splits of ``"yinyang"`` (published splits) or ``"digits"``
    (stratified, split seed ``seed``)."""
    if name == "yinyang":
        splits = [load_yinyang(s) for s in ("train", "validation", "test")]
    elif name == "digits":
        splits = [load_digits(s, seed=seed) for s in ("train", "validation", "test")]
    else:
        raise ValueError(f"task: expected one of {', '.join(TASKS)}, got {name!r}")
    return Task(name, *splits, defaults=dict(TASKS[name]))

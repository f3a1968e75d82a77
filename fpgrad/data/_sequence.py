"""Sequences as spike trains over time: level-crossing coding, and :class:`SequenceDataset`.

A sample is a sequence ``x_0, ..., x_{T-1}`` of values in ``[0, 1]`` (e.g. MNIST-1D, T = 40).
The position is time: value ``x_k`` belongs to ``t_k = k * step`` ms, and between positions the
signal is the straight line through its neighbours,

    s(t) = x_k + (t / step - k) (x_{k+1} - x_k)        for t_k <= t <= t_{k+1}.

The amplitude is coded by ``N`` levels ``L_i = (i + 1/2) / N`` (``i = 0..N-1``, evenly spaced in
``[0, 1]``), each with two input channels: channel ``2 i`` spikes when ``s`` crosses ``L_i``
upwards, channel ``2 i + 1`` when it crosses downwards (a delta-modulation or "level-crossing"
sampler, as in event cameras and neuromorphic audio front ends). On segment ``k`` the crossing
is at

    t = (k + (L_i - x_k) / (x_{k+1} - x_k)) step       [ms]

upwards if ``x_k < L_i <= x_{k+1}``, downwards if ``x_k >= L_i > x_{k+1}`` (half-open, so a value
exactly on a level is crossed once). The last input channel (index ``2 N``) is the bias, one
spike at ``bias_time``, as in the latency coding (:mod:`fpgrad.data._encoding`).

Why level crossings: the spike *times* carry the amplitude between positions exactly (the
crossing time is a continuous function of the values), which an exact event-driven gradient
sees as such, while a flat stretch of signal costs no events; the number of spikes is the
total variation of the sequence times ``N`` (about 40 per MNIST-1D sequence for ``N = 24``),
so a simulation stays cheap. Which channel spikes says which level is crossed in which
direction, i.e. where the signal is and where it goes.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._dataset import Dataset
from ._encoding import DEFAULT_BIAS_TIME, bias_train

__all__ = [
    "DEFAULT_LEVELS",
    "DEFAULT_STEP",
    "SequenceDataset",
    "crossing_levels",
    "encode_level_crossings",
]

DEFAULT_STEP = 1.0
"""Milliseconds per sequence position."""
DEFAULT_LEVELS = 24
"""Number of levels ``N`` (``2 N`` input channels plus the bias)."""


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
    return int(value)


def _check_step(step: object) -> float:
    value = float(step)  # type: ignore[arg-type]
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"step: expected a finite duration > 0 ms, got {step!r}")
    return value


def crossing_levels(levels: int) -> NDArray[np.float64]:
    """The ``levels`` levels ``L_i = (i + 1/2) / levels`` in ``(0, 1)``."""
    n = _check_positive_int("levels", levels)
    return (np.arange(n, dtype=np.float64) + 0.5) / n


def encode_level_crossings(
    x: ArrayLike,
    *,
    step: float = DEFAULT_STEP,
    levels: int = DEFAULT_LEVELS,
    bias_time: float | None = DEFAULT_BIAS_TIME,
) -> list[list[NDArray[np.float64]]]:
    """Level-crossing coding (module docstring) of sequences ``x`` ``(n_samples, T)`` in ``[0, 1]``.

    Returns ``inputs[s][j]``: channel ``2 i`` holds the upward, ``2 i + 1`` the downward
    crossings of level ``i`` (sorted, ms, in ``[0, (T - 1) step]``); channel ``2 levels`` is the
    bias (left out if ``bias_time`` is ``None``). It feeds ``fpgrad.simulate_batch`` and the
    training loop like :func:`~fpgrad.data.encode_latency`'s output.
    """
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise ValueError(f"x: expected sequences of shape (n_samples, T >= 2), got {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any((arr < 0.0) | (arr > 1.0)):
        raise ValueError("x: sequence values must be finite and lie in [0, 1]")
    dt = _check_step(step)
    level = crossing_levels(levels)
    bias = bias_train(bias_time)
    out: list[list[NDArray[np.float64]]] = []
    for seq in arr:
        a, b_ = seq[:-1, None], seq[1:, None]  # segment k: from a[k] to b_[k]
        up = (a < level) & (b_ >= level)
        down = (a >= level) & (b_ < level)
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = (level - a) / (b_ - a)  # finite wherever up or down holds (a != b_)
        times = (np.arange(seq.size - 1)[:, None] + frac) * dt
        # column i of up/down lists the segments in increasing k, so each train is sorted
        trains = []
        for i in range(level.size):
            trains.append(np.clip(times[up[:, i], i], 0.0, (seq.size - 1) * dt))
            trains.append(np.clip(times[down[:, i], i], 0.0, (seq.size - 1) * dt))
        if bias is not None:
            trains.append(bias.copy())
        out.append(trains)
    return out


@dataclass(frozen=True, eq=False)
class SequenceDataset(Dataset):
    """A :class:`Dataset` whose samples are sequences in time, coded by level crossings.

    ``x[s]`` is the sequence of sample ``s`` (position ``k`` at ``k * step`` ms);
    :meth:`encode` gives ``2 * levels`` crossing channels and the bias (module docstring).
    Everything else (labels, :meth:`subset`, class counts) is :class:`Dataset`'s.

    Attributes:
        step: ms per position.
        levels: number of amplitude levels.
    """

    step: float = DEFAULT_STEP
    levels: int = DEFAULT_LEVELS

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "step", _check_step(self.step))
        object.__setattr__(self, "levels", _check_positive_int("levels", self.levels))

    @property
    def duration(self) -> float:
        """The time (ms) of the last position, ``(T - 1) * step``: the end of every input."""
        return (self.n_features - 1) * self.step

    def n_inputs(self, bias: bool = True) -> int:
        """Number of input nodes of the encoded data: ``2 * levels`` plus one for the bias."""
        return 2 * self.levels + int(bias)

    def encode(  # type: ignore[override]
        self, *, bias_time: float | None = DEFAULT_BIAS_TIME
    ) -> list[list[NDArray[np.float64]]]:
        """Level-crossing coding of every sample (:func:`encode_level_crossings` with the
        dataset's ``step`` and ``levels``): ``inputs[s][j]``, ready for the training loop."""
        return encode_level_crossings(
            self.x, step=self.step, levels=self.levels, bias_time=bias_time
        )

    def with_coding(
        self, *, step: float | None = None, levels: int | None = None
    ) -> SequenceDataset:
        """The same samples with another ``step`` and/or ``levels``."""
        return dataclasses.replace(
            self,
            step=self.step if step is None else step,
            levels=self.levels if levels is None else levels,
        )

"""The :class:`Dataset` container shared by every task: features in ``[0, 1]`` and labels."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._encoding import (
    DEFAULT_BIAS_TIME,
    DEFAULT_T_EARLY,
    DEFAULT_T_LATE,
    encode_latency,
    minmax_scale,
)

__all__ = ["Dataset", "check_split"]


def check_split(split: object, known: Sequence[str]) -> str:
    """``split`` if it is one of ``known``, else a ``ValueError`` that lists the valid names."""
    if not isinstance(split, str) or split not in known:
        names = ", ".join(repr(k) for k in known)
        raise ValueError(f"split: unknown split {split!r}; expected one of {names}")
    return split


@dataclass(frozen=True, eq=False)
class Dataset:
    """One split of a classification dataset, features scaled into ``[0, 1]``.

    Attributes:
        name: the task, e.g. ``"yinyang"`` or ``"digits"``.
        split: which split, e.g. ``"train"``, ``"validation"`` or ``"test"``.
        x: features, float64 of shape ``(n_samples, n_features)`` with values in ``[0, 1]``.
        y: integer labels ``0..n_classes-1``, int64 of shape ``(n_samples,)``.
        n_classes: number of classes.
        class_names: a name per label, ``len(class_names) == n_classes``.
        silent_zeros: the default of :meth:`encode` for features equal to 0: ``True`` gives them
            no spike, ``False`` a spike at ``t_late``.

    Arrays are stored read-only; two datasets compare by identity.
    """

    name: str
    split: str
    x: NDArray[np.float64]
    y: NDArray[np.int64]
    n_classes: int
    class_names: tuple[str, ...]
    silent_zeros: bool = False

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        x = np.asarray(self.x, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"x: expected shape (n_samples, n_features), got {x.shape}")
        if not np.all(np.isfinite(x)) or np.any((x < 0.0) | (x > 1.0)):
            raise ValueError("x: features must be finite and lie in [0, 1] (see minmax_scale)")
        raw_y = np.asarray(self.y)
        if raw_y.shape != (x.shape[0],):
            raise ValueError(f"y: expected shape ({x.shape[0]},) to match x, got {raw_y.shape}")
        if raw_y.size and (raw_y.dtype.kind not in "iuf" or np.any(raw_y != np.round(raw_y))):
            raise ValueError("y: labels must be integers")
        y = raw_y.astype(np.int64)
        n_classes = self.n_classes
        if (
            isinstance(n_classes, bool)
            or not isinstance(n_classes, int | np.integer)
            or n_classes < 1
        ):
            raise ValueError(f"n_classes: expected a positive integer, got {n_classes!r}")
        n_classes = int(n_classes)
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(f"y: labels must lie in 0..{n_classes - 1}")
        names = tuple(str(c) for c in self.class_names)
        if len(names) != n_classes:
            raise ValueError(f"class_names: expected {n_classes} names, got {len(names)}")
        if x is self.x and x.flags.writeable:  # never freeze the caller's array
            x = x.copy()
        if y is self.y and y.flags.writeable:
            y = y.copy()
        x.setflags(write=False)
        y.setflags(write=False)
        set_(self, "x", x)
        set_(self, "y", y)
        set_(self, "n_classes", n_classes)
        set_(self, "class_names", names)
        set_(self, "silent_zeros", bool(self.silent_zeros))

    @classmethod
    def from_arrays(
        cls,
        x: ArrayLike,
        y: ArrayLike,
        *,
        name: str = "custom",
        split: str = "all",
        lo: ArrayLike | None = None,
        hi: ArrayLike | None = None,
        n_classes: int | None = None,
        class_names: Sequence[str] | None = None,
        silent_zeros: bool = False,
    ) -> Dataset:
        """A dataset from any array data: ``x`` is min-max scaled into ``[0, 1]``.

        ``lo`` / ``hi`` are the bounds of :func:`minmax_scale` (numbers or per feature; fitted on
        ``x`` when ``None``: pass the training split's bounds for the other splits). Values
        outside the bounds are clipped. ``n_classes`` defaults to ``max(y) + 1`` and
        ``class_names`` to ``("0", "1", ...)``.
        """
        scaled = minmax_scale(x, lo, hi)
        labels = np.asarray(y)
        if n_classes is None:
            n_classes = int(labels.max()) + 1 if labels.size else 1
        if class_names is None:
            class_names = tuple(str(c) for c in range(n_classes))
        return cls(
            name=name,
            split=split,
            x=scaled,
            y=labels,
            n_classes=n_classes,
            class_names=tuple(class_names),
            silent_zeros=silent_zeros,
        )

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def n_features(self) -> int:
        """Number of features per sample (input nodes without the bias)."""
        return int(self.x.shape[1])

    def n_inputs(self, bias: bool = True) -> int:
        """Number of input nodes of the encoded data: ``n_features`` plus one for the bias."""
        return self.n_features + int(bias)

    def class_counts(self) -> NDArray[np.int64]:
        """Samples per class, shape ``(n_classes,)``."""
        return np.bincount(self.y, minlength=self.n_classes).astype(np.int64)

    def subset(self, index: ArrayLike) -> Dataset:
        """The samples at ``index`` (integer indices, in that order, or a boolean mask)."""
        idx = np.asarray(index)
        # ``replace`` keeps the class and its other fields (a SequenceDataset stays one)
        return dataclasses.replace(self, x=self.x[idx], y=self.y[idx])

    def encode(
        self,
        *,
        t_early: float = DEFAULT_T_EARLY,
        t_late: float = DEFAULT_T_LATE,
        bias_time: float | None = DEFAULT_BIAS_TIME,
        silent_zeros: bool | None = None,
    ) -> list[list[NDArray[np.float64]]]:
        """Latency-code every sample: ``inputs[s][j]`` is the spike train (ms) of input ``j``.

        Feature ``j`` spikes once at ``t_early + (1 - x[s, j]) (t_late - t_early)``; input
        ``n_features`` is the bias, one spike at ``bias_time`` (none if ``None``). Features equal
        to 0 emit no spike if ``silent_zeros`` (default: the dataset's ``silent_zeros``). See
        :func:`fpgrad.data.encode_latency`; the result feeds ``fpgrad.simulate_batch``.
        """
        return encode_latency(
            self.x,
            t_early=t_early,
            t_late=t_late,
            bias_time=bias_time,
            silent_zeros=self.silent_zeros if silent_zeros is None else silent_zeros,
        )

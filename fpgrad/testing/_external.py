"""Gradients computed elsewhere (another framework, a hand-written adjoint) against the exact one.

:func:`compare_external` scores such a gradient group by group against fpgrad's exact gradient
and gives a verdict: a group passes when its Euclidean relative error
``|g - e|_2 / |e|_2 <= rtol``, default :data:`DEFAULT_EXTERNAL_RTOL` (``1e-6``: an exact
implementation in float64 agrees to ~1e-12, one in float32 to ~1e-5, so pass ``rtol=1e-4`` or
so for float32 code; a wrong term is off by percents). :func:`assert_external_close` raises
``AssertionError`` with the whole report table when it fails. A surrogate gradient is not
expected to pass: read its cosine and sign agreement instead (or use :func:`fpgrad.compare`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import metrics
from .._gradient import check_method
from .._method import GradientMethod
from .._problem import Problem, ProblemError
from .._table import format_number, format_table
from ..event import Degeneracy
from ..grad._params import Gradients
from ._gradcheck import DEFAULT_MARGIN, GradientLike, as_gradients, describe_degeneracy

__all__ = [
    "DEFAULT_EXTERNAL_RTOL",
    "ExternalComparison",
    "ExternalGroup",
    "assert_external_close",
    "compare_external",
]

#: Default bound on each group's Euclidean relative error (module docstring).
DEFAULT_EXTERNAL_RTOL = 1e-6


@dataclass(frozen=True)
class ExternalGroup:
    """An external gradient ``g`` against the exact one ``e`` on one parameter group
    (the statistics of :mod:`fpgrad.metrics`).

    Attributes:
        group: the parameter group.
        size: number of parameters.
        cosine: ``g . e / (|g| |e|)`` (1 if both vanish, 0 if exactly one does).
        rel_error: ``|g - e|_2 / |e|_2`` (``inf`` if ``e = 0 != g``).
        max_abs_error: ``max |g - e|``.
        sign_agreement: fraction of the entries with ``|e_q| > 1e-12 max|e|`` where
            ``sign(g_q) == sign(e_q)`` (``nan`` if there are none).
        norm_ratio: ``|g|_2 / |e|_2`` (a scale mismatch shows here, not in the cosine).
        passed: ``rel_error <= rtol``.
    """

    group: str
    size: int
    cosine: float
    rel_error: float
    max_abs_error: float
    sign_agreement: float
    norm_ratio: float
    passed: bool


@dataclass(frozen=True, eq=False)
class ExternalComparison:
    """The outcome of :func:`compare_external`; ``repr`` is a readable table.

    ``passed``: every group's ``rel_error <= rtol``. ``overall`` compares all groups
    concatenated (reported, not part of the verdict).
    """

    loss: float
    groups: tuple[ExternalGroup, ...]
    overall: ExternalGroup
    exact: Gradients
    external: Gradients
    reference: str
    degeneracy: Degeneracy | None
    rtol: float
    passed: bool

    def __repr__(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        head = (
            f"external gradient vs {self.reference} (loss = {self.loss:.10g}): {verdict} "
            f"(pass if |g - e|_2 / |e|_2 <= rtol = {self.rtol:g} in every group)"
        )
        parts = [head, group_table(self.groups, self.overall)]
        if self.degeneracy is not None:
            parts.append(describe_degeneracy(self.degeneracy, DEFAULT_MARGIN))
        return "\n".join(parts)

    __str__ = __repr__


def group_table(
    groups: Iterable[ExternalGroup], overall: ExternalGroup, label: str = "group"
) -> str:
    """The table of :class:`ExternalComparison` (and :class:`~fpgrad.testing.NIRComparison`):
    one row per group, then ``overall`` (marked ``(info)``: not part of the verdict)."""
    headers = [label, "n", "cosine", "rel err (L2)", "max abs err", "sign agree", "|g|/|e|",
               "status"]  # fmt: skip
    rows = [
        [
            g.group,
            str(g.size),
            f"{g.cosine:.6f}",
            format_number(g.rel_error),
            format_number(g.max_abs_error),
            "nan" if math.isnan(g.sign_agreement) else f"{g.sign_agreement:.3f}",
            format_number(g.norm_ratio),
            ("ok" if g.passed else "FAIL") if g is not overall else "(info)",
        ]
        for g in (*groups, overall)
    ]
    return format_table(headers, rows)


def check_rtol(rtol: Any) -> float:
    """``rtol`` as a float; not finite or negative raises :class:`~fpgrad.ProblemError`."""
    value = float(rtol)
    if not (math.isfinite(value) and value >= 0):
        raise ProblemError(f"rtol = {rtol!r} must be finite and >= 0")
    return value


def group_agreement(name: str, g: np.ndarray, e: np.ndarray, rtol: float) -> ExternalGroup:
    """The statistics of :func:`fpgrad.metrics.agreement` of ``g`` against ``e`` (flattened),
    passed when ``rel_error <= rtol``."""
    stats = metrics.agreement(g, e)
    return ExternalGroup(group=name, size=int(e.size), passed=stats["rel_error"] <= rtol, **stats)


def compare_external(
    problem: Problem,
    loss: Any,
    external: GradientLike,
    *,
    params: Iterable[str] | None = None,
    reference: GradientMethod | None = None,
    rtol: float = DEFAULT_EXTERNAL_RTOL,
) -> ExternalComparison:
    """Compare a gradient computed elsewhere with fpgrad's exact gradient, per parameter group.

    Args:
        problem: the problem the external gradient was computed on.
        loss: the same loss (fpgrad's definition; the external code must implement the same).
        external: a :class:`~fpgrad.Gradients` or ``{group: array}`` in fpgrad's layout (see
            :func:`as_gradients`: ``weight`` in synapse order, ``input_time`` flattened, ...).
            Only the groups it holds (and ``params`` allows) are compared.
        params: restrict to these groups.
        reference: the exact method (default :class:`~fpgrad.ExactReverse`).
        rtol: bound on each group's Euclidean relative error (default
            :data:`DEFAULT_EXTERNAL_RTOL` = 1e-6; module docstring).

    Returns:
        An :class:`ExternalComparison`: cosine similarity, relative error, sign agreement and
        norm ratio per group and overall, and the verdict ``passed``.
    """
    rtol = check_rtol(rtol)
    ext = as_gradients(problem, external, params=params)
    names = tuple(ext.groups())
    res = check_method(reference).gradient(problem, loss, params=names)
    exact = res.grad.groups()
    groups = tuple(group_agreement(name, ext.groups()[name], exact[name], rtol) for name in names)
    return ExternalComparison(
        loss=res.loss,
        groups=groups,
        overall=group_agreement("all", ext.flat(), res.grad.flat(), rtol),
        exact=res.grad,
        external=ext,
        reference=res.method,
        degeneracy=res.degeneracy,
        rtol=rtol,
        passed=all(g.passed for g in groups),
    )


def assert_external_close(
    problem: Problem, loss: Any, external: GradientLike, **options: Any
) -> ExternalComparison:
    """:func:`compare_external` (``options``: ``params``, ``reference``, ``rtol``), raising
    ``AssertionError`` with the whole report table when a group fails (a raised error, so pytest
    shows the message in full). Returns the comparison when it passes."""
    comparison = compare_external(problem, loss, external, **options)
    if not comparison.passed:
        raise AssertionError("external gradient does not match the exact one\n" + repr(comparison))
    return comparison

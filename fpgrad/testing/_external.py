"""Gradients computed elsewhere (another framework, a surrogate BPTT) against the exact one."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .._gradient import ExactReverse, Method, gradient
from .._problem import Problem, ProblemError
from ..event import Degeneracy
from ..grad._params import Gradients
from ..losses import Loss
from ._gradcheck import (
    DEFAULT_MARGIN,
    GradientLike,
    _cosine,
    _fmt,
    as_gradients,
    describe_degeneracy,
    format_table,
)

__all__ = ["ExternalComparison", "ExternalGroup", "compare_external"]


@dataclass(frozen=True)
class ExternalGroup:
    """An external gradient ``g`` against the exact one ``e`` on one parameter group.

    Attributes:
        group: the parameter group.
        size: number of parameters.
        cosine: ``g . e / (|g| |e|)`` (1 if both vanish, 0 if exactly one does).
        rel_error: ``|g - e|_2 / |e|_2`` (``inf`` if ``e = 0 != g``).
        max_abs_error: ``max |g - e|``.
        sign_agreement: fraction of the entries with ``|e_q| > 1e-12 max|e|`` where
            ``sign(g_q) == sign(e_q)`` (``nan`` if there are none).
        norm_ratio: ``|g|_2 / |e|_2`` (a scale mismatch shows here, not in the cosine).
    """

    group: str
    size: int
    cosine: float
    rel_error: float
    max_abs_error: float
    sign_agreement: float
    norm_ratio: float


@dataclass(frozen=True, eq=False)
class ExternalComparison:
    """The outcome of :func:`compare_external`; ``repr`` is a readable table.

    ``passed`` is ``None`` without ``rtol``, else whether every group's ``rel_error <= rtol``.
    ``overall`` compares all groups concatenated.
    """

    loss: float
    groups: tuple[ExternalGroup, ...]
    overall: ExternalGroup
    exact: Gradients
    external: Gradients
    reference: str
    degeneracy: Degeneracy | None
    rtol: float | None
    passed: bool | None

    def __repr__(self) -> str:
        head = f"external gradient vs {self.reference} (loss = {self.loss:.10g})"
        if self.rtol is not None:
            head += f": {'PASSED' if self.passed else 'FAILED'} (rel err <= {self.rtol:g})"
        headers = ["group", "n", "cosine", "rel err (L2)", "max abs err", "sign agree", "|g|/|e|"]
        rows = [
            [
                g.group,
                str(g.size),
                f"{g.cosine:.6f}",
                _fmt(g.rel_error),
                _fmt(g.max_abs_error),
                "nan" if math.isnan(g.sign_agreement) else f"{g.sign_agreement:.3f}",
                _fmt(g.norm_ratio),
            ]
            for g in (*self.groups, self.overall)
        ]
        parts = [head, format_table(headers, rows)]
        if self.degeneracy is not None:
            parts.append(describe_degeneracy(self.degeneracy, DEFAULT_MARGIN))
        return "\n".join(parts)

    __str__ = __repr__


def _group_stats(name: str, g: np.ndarray, e: np.ndarray) -> ExternalGroup:
    ne = float(np.linalg.norm(e))
    nd = float(np.linalg.norm(g - e))
    if ne > 0:
        rel = nd / ne
    else:
        rel = 0.0 if nd == 0 else math.inf
    scale = float(np.max(np.abs(e))) if e.size else 0.0
    mask = np.abs(e) > 1e-12 * scale if scale > 0 else np.zeros(e.shape, bool)
    signs = float(np.mean(np.sign(g[mask]) == np.sign(e[mask]))) if mask.any() else math.nan
    ng = float(np.linalg.norm(g))
    ratio = ng / ne if ne > 0 else (1.0 if ng == 0 else math.inf)
    return ExternalGroup(
        group=name,
        size=int(e.size),
        cosine=_cosine(g, e),
        rel_error=rel,
        max_abs_error=float(np.max(np.abs(g - e))) if e.size else 0.0,
        sign_agreement=signs,
        norm_ratio=ratio,
    )


def compare_external(
    problem: Problem,
    loss: Loss,
    external: GradientLike,
    *,
    params: Iterable[str] | None = None,
    reference: Method | None = None,
    rtol: float | None = None,
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
        rtol: if given, ``passed`` says whether every group's L2 relative error is within it;
            a surrogate gradient is not expected to pass any small ``rtol``.

    Returns:
        An :class:`ExternalComparison`: cosine similarity, relative error, sign agreement and
        norm ratio per group and overall.
    """
    ext = as_gradients(problem, external, params=params)
    names = tuple(ext.groups())
    res = gradient(problem, loss, reference or ExactReverse(), params=names)
    groups = tuple(
        _group_stats(name, ext.groups()[name], res.grad.groups()[name]) for name in names
    )
    overall = _group_stats("all", ext.flat(), res.grad.flat())
    if rtol is not None and not (math.isfinite(rtol) and rtol >= 0):
        raise ProblemError(f"rtol = {rtol!r} must be finite and >= 0")
    passed = None if rtol is None else all(g.rel_error <= rtol for g in groups)
    return ExternalComparison(
        loss=res.loss,
        groups=groups,
        overall=overall,
        exact=res.grad,
        external=ext,
        reference=res.method,
        degeneracy=res.degeneracy,
        rtol=rtol,
        passed=passed,
    )

"""Gradient checks: exact gradients against step-selected finite differences, with a verdict.

:func:`gradcheck` computes the gradient of one loss on one problem with several methods (the
exact reverse and forward engines by default, any other method object or a gradient computed
elsewhere), compares each with a finite-difference reference per parameter group, and returns a
:class:`GradcheckReport` whose ``repr`` is a readable table. :func:`assert_gradients_close`
raises ``AssertionError`` with that table.

The reference, :func:`finite_difference`: central differences with Richardson extrapolation,
``R(h) = (4 D(h/2) - D(h)) / 3`` with ``D(h) = (L(p + h) - L(p - h)) / 2h``, tried at several
relative steps ``h = s max(1, |p|)``; for each parameter the two successive steps whose estimates
agree best are kept, their mean is the reference and their difference its uncertainty. A step
that changes the spike pattern (the number of spikes of any neuron) is discarded: there the loss
jumps and the quotient is meaningless.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._gradient import (
    DEFAULT_DEGENERACY_TOL,
    ExactForward,
    ExactReverse,
    GradientResult,
    _check_params,
    _finish,
    gradient,
)
from .._problem import Problem, ProblemError
from ..event import Degeneracy, RunawayActivityError, SimulationResult, simulate
from ..grad._params import GROUPS, Gradients, group_sizes, parameter_values, with_parameter
from ..losses import Loss

__all__ = [
    "DEFAULT_ATOL",
    "DEFAULT_FD_STEPS",
    "DEFAULT_MARGIN",
    "DEFAULT_RTOL",
    "FDEstimate",
    "GradcheckReport",
    "GroupComparison",
    "SelectedStepFiniteDifference",
    "as_gradients",
    "assert_gradients_close",
    "finite_difference",
    "gradcheck",
]

#: Relative tolerance of a gradient against the finite-difference reference, per group:
#: ``|g - fd| <= atol + rtol * max|fd|``. Step-selected Richardson differences of a float64
#: simulation are good to ~1e-8 relative on non-degenerate problems, a missing term of the exact
#: gradient is off by percents: 1e-5 separates the two with margin on both sides.
DEFAULT_RTOL = 1e-5
#: Absolute tolerance (loss units per parameter unit), for groups whose gradient is ~0.
DEFAULT_ATOL = 1e-8
#: Tolerance of exact forward against exact reverse (same sums in another order), group-scaled.
DEFAULT_EXACT_RTOL = 1e-9
#: Relative finite-difference steps tried, ``h = s * max(1, |p|)``.
DEFAULT_FD_STEPS = (1e-3, 1e-4, 1e-5, 1e-6)
#: Degeneracy margin below which a report is flagged near-degenerate: a sub-threshold peak
#: within ``margin`` (threshold units) of threshold, or a crossing slope below ``margin`` (per ms).
DEFAULT_MARGIN = 1e-4

Method = Callable[[Problem, Loss, tuple[str, ...], float], GradientResult]
GradientLike = Gradients | Mapping[str, ArrayLike]


# --------------------------------------------------------------------------------------------
# Gradients given as arrays
# --------------------------------------------------------------------------------------------


def as_gradients(
    problem: Problem, grad: GradientLike, *, params: Iterable[str] | None = None
) -> Gradients:
    """Validate a gradient computed elsewhere against ``problem``'s parameter layout.

    ``grad`` is a :class:`~fpgrad.Gradients` or a mapping ``{group: array}`` with groups among
    ``weight`` (synapse/file order), ``input_time`` (``problem.inputs`` flattened, each train
    sorted), ``threshold``, ``tau_mem`` (one per neuron) and ``tau_syn`` (a scalar or shape
    ``(1,)``). Groups not in ``params`` (default: all) are dropped; unknown names, wrong sizes
    and non-finite values raise :class:`~fpgrad.ProblemError` naming the group.
    """
    items = grad.groups() if isinstance(grad, Gradients) else dict(grad)
    wanted = set(_check_params(params))
    sizes = group_sizes(problem)
    out: dict[str, NDArray[np.float64]] = {}
    for name, value in items.items():
        if name not in GROUPS:
            raise ProblemError(
                f"gradient: unknown parameter group {name!r}; valid groups: {', '.join(GROUPS)}"
            )
        if name not in wanted:
            continue
        arr = np.asarray(value, dtype=np.float64).reshape(-1)
        if arr.shape != (sizes[name],):
            raise ProblemError(
                f"gradient[{name!r}]: expected {sizes[name]} values (the problem's {name} "
                f"parameters), got shape {np.shape(value)}"
            )
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise ProblemError(f"gradient[{name!r}][{bad[0]}] = {arr[bad[0]]!r} is not finite")
        out[name] = arr
    if not out:
        raise ProblemError(
            f"gradient: no group among the ones checked ({', '.join(sorted(wanted))}); "
            f"got {', '.join(items) or 'nothing'}"
        )
    return Gradients(**out)


# --------------------------------------------------------------------------------------------
# Step-selected finite differences
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FDEstimate:
    """A step-selected finite-difference gradient.

    Attributes:
        loss: the loss at the unperturbed parameters.
        grad: the estimate (``NaN`` where no step kept the spike pattern).
        uncertainty: per parameter, ``|R(s_k) - R(s_{k+1})|`` of the best-agreeing pair of
            successive steps (``inf`` where fewer than two successive steps were usable).
        step: per parameter, the relative step ``s_k`` of that pair (``NaN`` if none).
        n_pattern_changes: number of (parameter, step) trials discarded because the step
            changed the spike pattern.
        result: the simulation at the unperturbed parameters.
    """

    loss: float
    grad: Gradients
    uncertainty: Gradients
    step: Gradients
    n_pattern_changes: int
    result: SimulationResult


def _pattern(result: SimulationResult) -> NDArray[np.int64]:
    return np.bincount(result.spike_node, minlength=result.problem.network.n_nodes)


def _loss_at(problem: Problem, loss: Loss, pattern: NDArray[np.int64]) -> tuple[float, bool]:
    """Loss of ``problem`` and whether its spike pattern (spikes per neuron) equals ``pattern``."""
    try:
        run = simulate(problem)
    except RunawayActivityError:
        return math.nan, False
    same = bool(np.array_equal(_pattern(run), pattern))
    return float(loss.value_and_spike_grad(run)[0]), same


def finite_difference(
    problem: Problem,
    loss: Loss,
    *,
    params: Iterable[str] | None = None,
    steps: Sequence[float] = DEFAULT_FD_STEPS,
) -> FDEstimate:
    """Central differences with Richardson extrapolation and per-parameter step selection.

    For each relative step ``s`` of ``steps`` (in decreasing order) and each parameter ``p``,
    ``h = s max(1, |p|)`` and ``R(s) = (4 D(h/2) - D(h)) / 3`` with
    ``D(h) = (L(p + h) - L(p - h)) / 2h`` (error ``O(h^4)`` plus rounding ``~ eps |L| / h``).
    Steps whose four evaluations do not all keep the number of spikes of every neuron are
    discarded. Of the remaining successive pairs ``(s_k, s_{k+1})`` the one with the smallest
    ``|R(s_k) - R(s_{k+1})|`` gives the estimate (their mean) and its uncertainty (that
    difference). Costs ``4 len(steps)`` simulations per parameter: a reference for small
    problems.
    """
    names = _check_params(params)
    steps = tuple(sorted((float(s) for s in steps), reverse=True))
    if len(steps) < 2 or not all(0 < s < 1 for s in steps):
        raise ProblemError(f"steps: need at least two relative steps in (0, 1), got {steps}")
    result = simulate(problem)
    value = float(loss.value_and_spike_grad(result)[0])
    pattern = _pattern(result)
    values = parameter_values(problem)
    est, unc, chosen, changes = {}, {}, {}, 0
    for name in names:
        base = getattr(values, name)
        est[name] = np.full(base.size, np.nan)
        unc[name] = np.full(base.size, np.inf)
        chosen[name] = np.full(base.size, np.nan)
        for q in range(base.size):
            rich = np.full(len(steps), np.nan)
            for k, s in enumerate(steps):
                h = s * max(1.0, abs(float(base[q])))
                quotients, ok = [], True
                for hh in (h, h / 2):
                    evals = []
                    for sign in (1.0, -1.0):
                        moved = base.copy()
                        moved[q] += sign * hh
                        lv, same = _loss_at(with_parameter(problem, name, moved), loss, pattern)
                        evals.append(lv)
                        ok &= same
                    quotients.append((evals[0] - evals[1]) / (2.0 * hh))
                if ok:
                    rich[k] = (4.0 * quotients[1] - quotients[0]) / 3.0
                else:
                    changes += 1
            diffs = np.abs(np.diff(rich))
            if np.any(np.isfinite(diffs)):
                k = int(np.nanargmin(diffs))
                est[name][q] = 0.5 * (rich[k] + rich[k + 1])
                unc[name][q] = diffs[k]
                chosen[name][q] = steps[k]
            elif np.any(np.isfinite(rich)):
                k = int(np.flatnonzero(np.isfinite(rich))[-1])
                est[name][q] = rich[k]
                chosen[name][q] = steps[k]
    return FDEstimate(
        loss=value,
        grad=Gradients(**est),
        uncertainty=Gradients(**unc),
        step=Gradients(**chosen),
        n_pattern_changes=changes,
        result=result,
    )


@dataclass(frozen=True)
class SelectedStepFiniteDifference:
    """:func:`finite_difference` as a method object for :func:`fpgrad.gradient`.

    The result is flagged ``degenerate`` when a step changed the spike pattern or some parameter
    had no usable step (its gradient is then ``NaN``).
    """

    steps: tuple[float, ...] = DEFAULT_FD_STEPS

    def __call__(
        self, problem: Problem, loss: Loss, params: tuple[str, ...], tol: float
    ) -> GradientResult:
        fd = finite_difference(problem, loss, params=params, steps=self.steps)
        unusable = bool(np.any(np.isnan(fd.grad.flat())))
        return _finish(
            fd.grad,
            fd.result,
            fd.loss,
            tol,
            "finite-difference",
            pattern_changed=fd.n_pattern_changes > 0 or unusable,
        )


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupComparison:
    """One gradient against a reference on one parameter group.

    Attributes:
        method: name of the checked gradient (``GradientResult.method`` or the name given).
        reference: name of the reference (``finite-difference`` or ``exact-reverse``).
        group: the parameter group.
        size: number of parameters compared (those with a usable reference).
        n_skipped: parameters left out because the reference had no usable value.
        abs_error: ``max |g - ref|`` over the group.
        rel_error: ``abs_error / max |ref|`` (group-scaled; ``inf`` if ``ref == 0 != g``).
        worst_index: index (within the group) of the largest difference, -1 if empty.
        scale: ``max |ref|``.
        cosine: cosine similarity of ``g`` and ``ref`` (1 if both vanish, 0 if one does).
        tolerance: ``atol + rtol * scale``, the bound ``abs_error`` must meet.
        reference_uncertainty: largest estimated error of the reference (finite differences
            only, ``nan`` for an exact reference).
        required: whether this comparison counts for the verdict (a surrogate never does).
        passed: ``abs_error <= tolerance`` and every value finite.
    """

    method: str
    reference: str
    group: str
    size: int
    n_skipped: int
    abs_error: float
    rel_error: float
    worst_index: int
    scale: float
    cosine: float
    tolerance: float
    reference_uncertainty: float
    required: bool
    passed: bool


def _cosine(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 and nb == 0.0:
        return 1.0
    if na == 0.0 or nb == 0.0 or not (math.isfinite(na) and math.isfinite(nb)):
        return 0.0
    return float(np.dot(a, b) / (na * nb))


def _compare(
    method: str,
    reference: str,
    group: str,
    values: NDArray[np.float64],
    ref: NDArray[np.float64],
    uncertainty: NDArray[np.float64] | None,
    rtol: float,
    atol: float,
    required: bool,
) -> GroupComparison:
    usable = np.isfinite(ref)
    g, r = values[usable], ref[usable]
    diff = np.abs(g - r)
    finite = bool(np.all(np.isfinite(g)))
    abs_err = float(np.max(diff)) if diff.size else 0.0
    if not finite:
        abs_err = math.inf
    scale = float(np.max(np.abs(r))) if r.size else 0.0
    if scale > 0:
        rel = abs_err / scale
    else:
        rel = 0.0 if abs_err == 0 else math.inf
    worst = int(np.flatnonzero(usable)[int(np.nanargmax(diff))]) if diff.size and finite else -1
    unc = math.nan if uncertainty is None else 0.0
    if uncertainty is not None and diff.size:
        unc = float(np.max(uncertainty[usable]))
    tol = atol + rtol * scale
    return GroupComparison(
        method=method,
        reference=reference,
        group=group,
        size=int(usable.sum()),
        n_skipped=int((~usable).sum()),
        abs_error=abs_err,
        rel_error=rel,
        worst_index=worst,
        scale=scale,
        cosine=_cosine(g, r) if finite else 0.0,
        tolerance=tol,
        reference_uncertainty=unc,
        required=required,
        passed=finite and abs_err <= tol,
    )


def _fmt(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf"
    return f"{x:.2e}"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: left-aligned columns separated by two spaces."""
    widths = [max(len(h), *(len(r[c]) for r in rows)) for c, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    out = [line(headers), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    return "\n".join(s.rstrip() for s in out)


def describe_degeneracy(deg: Degeneracy, margin: float) -> str:
    """One line stating the degeneracy margins, where they occur, and whether they are small."""

    def where(neuron: int, time: float) -> str:
        return f" (neuron {neuron}, t = {time:.4g} ms)" if neuron >= 0 else ""

    near = deg.is_degenerate(margin, margin)
    return (
        f"degeneracy margins: min peak gap {_fmt(deg.min_peak_gap)}"
        f"{where(deg.peak_gap_neuron, deg.peak_gap_time)}, min crossing slope "
        f"{_fmt(deg.min_crossing_slope)}{where(deg.crossing_slope_neuron, deg.crossing_slope_time)}"
        + (
            f": NEAR-DEGENERATE (below {margin:g}); a spike is about to appear or vanish, "
            "finite differences may be meaningless"
            if near
            else f": ok (>= {margin:g})"
        )
    )


@dataclass(frozen=True, eq=False)
class GradcheckReport:
    """The outcome of :func:`gradcheck`; ``repr`` is a readable table.

    Attributes:
        passed: every required comparison passed (see :class:`GroupComparison`).
        loss: the loss at the problem's parameters.
        rows: one :class:`GroupComparison` per (method, group), then exact forward against
            exact reverse when both were computed.
        gradients: every gradient computed or given, by name, the finite-difference reference
            included (``"finite-difference"``).
        fd: the finite-difference estimate with its per-parameter uncertainty and steps.
        degeneracy: the margins of the unperturbed run.
        near_degenerate: a margin is below ``margin``.
        rtol, atol, exact_rtol, margin: the tolerances used.
    """

    passed: bool
    loss: float
    rows: tuple[GroupComparison, ...]
    gradients: dict[str, Gradients]
    fd: FDEstimate
    degeneracy: Degeneracy
    near_degenerate: bool
    rtol: float
    atol: float
    exact_rtol: float
    margin: float
    notes: tuple[str, ...] = field(default=())

    @property
    def failures(self) -> tuple[GroupComparison, ...]:
        """The required comparisons that failed."""
        return tuple(r for r in self.rows if r.required and not r.passed)

    def __repr__(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        head = (
            f"gradcheck {verdict}: loss = {self.loss:.10g}; pass if max|g - ref| <= atol + "
            f"rtol * max|ref| per group (rtol = {self.rtol:g}, atol = {self.atol:g}; exact "
            f"forward vs reverse rtol = {self.exact_rtol:g})"
        )
        headers = [
            "method",
            "reference",
            "group",
            "n",
            "max abs err",
            "rel err",
            "cosine",
            "tolerance",
            "ref unc.",
            "status",
        ]
        rows = []
        for r in self.rows:
            status = ("ok" if r.passed else "FAIL") if r.required else "(info)"
            if r.n_skipped:
                status += f", {r.n_skipped} skipped"
            if not r.passed and r.required and r.worst_index >= 0:
                status += f" (worst [{r.worst_index}])"
            rows.append(
                [
                    r.method,
                    r.reference,
                    r.group,
                    str(r.size),
                    _fmt(r.abs_error),
                    _fmt(r.rel_error),
                    f"{r.cosine:.6f}",
                    _fmt(r.tolerance),
                    "-" if math.isnan(r.reference_uncertainty) else _fmt(r.reference_uncertainty),
                    status,
                ]
            )
        parts = [
            head,
            format_table(headers, rows),
            describe_degeneracy(self.degeneracy, self.margin),
        ]
        parts += list(self.notes)
        return "\n".join(parts)

    __str__ = __repr__


def _is_surrogate(method: object, name: str) -> bool:
    return "surrogate" in name.lower() or "surrogate" in type(method).__name__.lower()


def _normalise_methods(
    methods: Sequence[Method | GradientLike] | Mapping[str, Method | GradientLike] | None,
) -> list[tuple[str | None, Method | GradientLike]]:
    if methods is None:
        return [(None, ExactReverse()), (None, ExactForward())]
    if isinstance(methods, Mapping):
        return [(str(k), v) for k, v in methods.items()]
    if isinstance(methods, Gradients) or callable(methods):
        return [(None, methods)]  # type: ignore[list-item]
    return [(None, m) for m in methods]


def gradcheck(
    problem: Problem,
    loss: Loss,
    *,
    params: Iterable[str] | None = None,
    methods: Sequence[Method | Gradients] | Mapping[str, Method | GradientLike] | None = None,
    compare_only: Sequence[Method | Gradients] | Mapping[str, Method | GradientLike] = (),
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    exact_rtol: float = DEFAULT_EXACT_RTOL,
    fd_steps: Sequence[float] = DEFAULT_FD_STEPS,
    margin: float = DEFAULT_MARGIN,
) -> GradcheckReport:
    """Check gradients of ``loss`` on ``problem`` against step-selected finite differences.

    Every gradient in ``methods`` is compared, group by group, with the :func:`finite_difference`
    reference: it passes a group when ``max_q |g_q - fd_q| <= atol + rtol * max_q |fd_q|``
    (a group-scaled bound: entry-wise relative errors are meaningless for entries that are
    nearly zero). When both exact engines are checked they are also compared with each other at
    ``exact_rtol``. The verdict ``passed`` holds when every required comparison passes.

    Args:
        problem: network, inputs and horizon; keep it small (``4 len(fd_steps)`` simulations
            per parameter).
        loss: a loss of spike times (:mod:`fpgrad.losses`).
        params: parameter groups to check (default all of :data:`fpgrad.grad.GROUPS`).
        methods: what to check: method objects (anything :func:`fpgrad.gradient` accepts, e.g.
            ``ExactReverse()``, ``ExactForward()``, a surrogate) or gradients computed elsewhere
            (:class:`~fpgrad.Gradients`); as a mapping ``{name: method or gradient}`` to name the
            rows, gradients then also as ``{group: array}`` mappings. Default: exact reverse and
            exact forward. A method whose name or class mentions "surrogate" is compared and
            reported but never required to pass.
        compare_only: like ``methods``, compared and reported but never required to pass.
        rtol, atol: tolerances against the finite-difference reference (defaults
            :data:`DEFAULT_RTOL` = 1e-5, :data:`DEFAULT_ATOL` = 1e-8).
        exact_rtol: tolerance of exact forward against exact reverse (default 1e-9).
        fd_steps: relative finite-difference steps tried (see :func:`finite_difference`).
        margin: degeneracy margin below which the report is flagged near-degenerate (a spike
            within ``margin`` of appearing or vanishing: finite differences then straddle a jump
            and cannot confirm the gradient). Default 1e-4.

    Returns:
        A :class:`GradcheckReport`; print it for the table.
    """
    if not isinstance(problem, Problem):
        raise ProblemError(f"expected a Problem, got {type(problem).__name__}")
    names = _check_params(params)
    for label, value in (("rtol", rtol), ("atol", atol), ("exact_rtol", exact_rtol)):
        if not (math.isfinite(value) and value >= 0):
            raise ProblemError(f"{label} = {value!r} must be finite and >= 0")
    entries = [(n, m, True) for n, m in _normalise_methods(methods)]
    entries += [(n, m, False) for n, m in _normalise_methods(compare_only or [])]
    gradients: dict[str, Gradients] = {}
    checked: list[tuple[str, bool]] = []
    for given_name, entry, required in entries:
        if isinstance(entry, Gradients | Mapping):
            grad = as_gradients(problem, entry, params=names)
            name = given_name or "given"
        elif callable(entry):
            res = gradient(
                problem, loss, entry, params=names, degeneracy_tol=DEFAULT_DEGENERACY_TOL
            )
            grad, name = res.grad, given_name or res.method
            required = required and not _is_surrogate(entry, name)
        else:
            raise ProblemError(
                f"methods: expected method objects (e.g. ExactReverse()) or gradients, "
                f"got {entry!r}"
            )
        base, k = name, 2
        while name in gradients or name == "finite-difference":
            name, k = f"{base}#{k}", k + 1
        gradients[name] = grad
        checked.append((name, required))
    if not checked:
        raise ProblemError("methods: nothing to check")
    fd = finite_difference(problem, loss, params=names, steps=fd_steps)
    rows = []
    for name, required in checked:
        grad = gradients[name]
        for group in names:
            values = getattr(grad, group)
            if values is None:
                continue
            rows.append(
                _compare(
                    name,
                    "finite-difference",
                    group,
                    np.asarray(values, dtype=np.float64),
                    getattr(fd.grad, group),
                    getattr(fd.uncertainty, group),
                    rtol,
                    atol,
                    required,
                )
            )
    if "exact-reverse" in gradients and "exact-forward" in gradients:
        rev, fwd = gradients["exact-reverse"], gradients["exact-forward"]
        required = dict(checked)["exact-forward"] and dict(checked)["exact-reverse"]
        for group in names:
            rows.append(
                _compare(
                    "exact-forward",
                    "exact-reverse",
                    group,
                    getattr(fwd, group),
                    getattr(rev, group),
                    None,
                    exact_rtol,
                    exact_rtol * atol,
                    required,
                )
            )
    gradients["finite-difference"] = fd.grad
    deg = fd.result.degeneracy
    notes = []
    n_skipped = int(np.sum(np.isnan(fd.grad.flat())))
    if fd.n_pattern_changes:
        notes.append(
            f"finite differences: {fd.n_pattern_changes} (parameter, step) trials changed the "
            f"spike pattern and were discarded"
            + (f"; {n_skipped} parameters had no usable step (skipped)" if n_skipped else "")
        )
    passed = all(r.passed for r in rows if r.required)
    return GradcheckReport(
        passed=passed,
        loss=fd.loss,
        rows=tuple(rows),
        gradients=gradients,
        fd=fd,
        degeneracy=deg,
        near_degenerate=deg.is_degenerate(margin, margin),
        rtol=rtol,
        atol=atol,
        exact_rtol=exact_rtol,
        margin=margin,
        notes=tuple(notes),
    )


def assert_gradients_close(
    problem: Problem,
    loss: Loss,
    *,
    params: Iterable[str] | None = None,
    methods: Sequence[Method | Gradients] | Mapping[str, Method | GradientLike] | None = None,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    **kwargs: object,
) -> GradcheckReport:
    """:func:`gradcheck`, raising ``AssertionError`` with the report's table if it fails.

    Returns the report when it passes (for further assertions). ``kwargs`` go to
    :func:`gradcheck` (``compare_only``, ``exact_rtol``, ``fd_steps``, ``margin``).
    """
    report = gradcheck(
        problem,
        loss,
        params=params,
        methods=methods,
        rtol=rtol,
        atol=atol,
        **kwargs,  # type: ignore[arg-type]
    )
    if not report.passed:
        raise AssertionError("gradients do not match finite differences\n" + repr(report))
    return report

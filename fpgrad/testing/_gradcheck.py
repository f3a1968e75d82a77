"""Gradient checks: exact gradients against step-selected finite differences, with a verdict.

:func:`gradcheck` computes the gradient of one loss on one problem with several methods (the
exact reverse and forward engines by default, any other method object or a gradient computed
elsewhere), compares each with a finite-difference reference per parameter group, and returns a
:class:`GradcheckReport` whose ``repr`` is a readable table. :func:`assert_gradients_close`
raises ``AssertionError`` with that table.

The reference is fpgrad's one finite-difference core, :func:`fpgrad.testing.finite_difference`
(also behind :class:`fpgrad.FiniteDifference`): central differences with Richardson
extrapolation at several relative steps, per parameter the two successive steps that agree best,
and any step that changes the causal spike sequence discarded.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import metrics
from .._finite_difference import DEFAULT_FD_STEPS, FDEstimate, finite_difference
from .._method import GradientMethod, check_loss, check_params
from .._problem import Problem, ProblemError
from .._table import format_number, format_table
from ..event import Degeneracy
from ..grad._methods import ExactForward, ExactReverse
from ..grad._params import GROUPS, Gradients, group_sizes
from ..losses import Loss

__all__ = [
    "DEFAULT_ATOL",
    "DEFAULT_MARGIN",
    "DEFAULT_RTOL",
    "GradcheckReport",
    "GroupComparison",
    "as_gradients",
    "assert_gradients_close",
    "describe_degeneracy",
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
#: Degeneracy margin below which a report is flagged near-degenerate: a sub-threshold peak
#: within ``margin`` (threshold units) of threshold, or a crossing slope below ``margin`` (per ms).
DEFAULT_MARGIN = 1e-4

GradientLike = Gradients | Mapping[str, ArrayLike]
#: What ``gradcheck`` checks: method objects and gradients, optionally named by a mapping.
Checked = Sequence[GradientMethod | GradientLike] | Mapping[str, GradientMethod | GradientLike]


# --------------------------------------------------------------------------------------------
# Gradients given as arrays
# --------------------------------------------------------------------------------------------


def as_gradients(
    problem: Problem, grad: GradientLike, *, params: Iterable[str] | None = None
) -> Gradients:
    """Validate a gradient computed elsewhere against ``problem``'s parameter layout.

    ``grad`` is a :class:`~fpgrad.Gradients` or a mapping ``{group: array}`` with groups among
    :data:`fpgrad.GROUPS`: ``weight`` and ``delay`` (one per synapse, file order),
    ``input_time`` (``problem.inputs`` flattened, each train sorted), and ``threshold``,
    ``tau_mem``, ``tau_syn``, ``bias``, ``v_reset``, ``t_ref`` (one per neuron; ``tau_syn`` too,
    since model 2: the derivative of a shared ``tau_syn`` is their sum). Groups not in
    ``params`` (default: all) are dropped; unknown names, wrong sizes and non-finite values
    raise :class:`~fpgrad.ProblemError` naming the group.
    """
    if not isinstance(grad, Gradients | Mapping):
        shape = f" of shape {np.shape(grad)}" if hasattr(grad, "shape") else ""
        raise ProblemError(
            "gradient: expected a fpgrad.Gradients or a mapping {group: array} such as "
            f"{{'weight': g}} (groups: {', '.join(GROUPS)}), got {type(grad).__name__}{shape}"
        )
    items = grad.groups() if isinstance(grad, Gradients) else dict(grad)
    wanted = set(check_params(params))
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
            hint = (
                " (tau_syn is per neuron: one value per neuron, not one shared value)"
                if name == "tau_syn" and arr.size == 1
                else ""
            )
            raise ProblemError(
                f"gradient[{name!r}]: expected {sizes[name]} values (the problem's {name} "
                f"parameters), got shape {np.shape(value)}{hint}"
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
    abs_err = metrics.max_abs_error(g, r)
    scale = float(np.max(np.abs(r), initial=0.0))
    rel = metrics.relative_error(g, r, norm=np.inf)
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
        cosine=metrics.cosine(g, r),
        tolerance=tol,
        reference_uncertainty=unc,
        required=required,
        passed=finite and abs_err <= tol,
    )


def describe_degeneracy(deg: Degeneracy, margin: float) -> str:
    """One line stating the degeneracy margins, where they occur, and whether they are small."""

    def where(neuron: int, time: float) -> str:
        return f" (neuron {neuron}, t = {time:.4g} ms)" if neuron >= 0 else ""

    near = deg.is_degenerate(margin, margin)
    return (
        f"degeneracy margins: min peak gap {format_number(deg.min_peak_gap)}"
        f"{where(deg.peak_gap_neuron, deg.peak_gap_time)}, min crossing slope "
        f"{format_number(deg.min_crossing_slope)}"
        f"{where(deg.crossing_slope_neuron, deg.crossing_slope_time)}"
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
        rows: one :class:`GroupComparison` per (method, group), then each exact forward
            engine (replayed, online) against exact reverse when both were computed.
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
                    format_number(r.abs_error),
                    format_number(r.rel_error),
                    f"{r.cosine:.6f}",
                    format_number(r.tolerance),
                    "-"
                    if math.isnan(r.reference_uncertainty)
                    else format_number(r.reference_uncertainty),
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


def _normalise_methods(
    methods: Checked | None,
) -> list[tuple[str | None, GradientMethod | GradientLike]]:
    if methods is None:
        return [(None, ExactReverse()), (None, ExactForward()), (None, ExactForward(online=True))]
    if isinstance(methods, Mapping):
        return [(str(k), v) for k, v in methods.items()]
    if isinstance(methods, Gradients | GradientMethod):
        return [(None, methods)]  # type: ignore[list-item]
    return [(None, m) for m in methods]


def gradcheck(
    problem: Problem,
    loss: Loss,
    *,
    params: Iterable[str] | None = None,
    methods: Checked | None = None,
    compare_only: Checked = (),
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
    nearly zero). When exact reverse and an exact forward engine are checked they are also
    compared with each other at ``exact_rtol``. The verdict ``passed`` holds when every required
    comparison passes.

    Args:
        problem: network, inputs and horizon; keep it small (``4 len(fd_steps)`` simulations
            per parameter).
        loss: a loss of spike times (:mod:`fpgrad.losses`).
        params: parameter groups to check (default all of :data:`fpgrad.grad.GROUPS`).
        methods: what to check: method objects (:class:`fpgrad.GradientMethod` instances, e.g.
            ``ExactReverse()``, ``ExactForward()``, a surrogate) or gradients computed elsewhere
            (:class:`~fpgrad.Gradients`); as a mapping ``{name: method or gradient}`` to name the
            rows, gradients then also as ``{group: array}`` mappings. Default: exact reverse,
            exact forward (replayed) and exact forward online. A method of ``kind ==
            "surrogate"`` is compared and reported but never required to pass.
        compare_only: like ``methods``, compared and reported but never required to pass.
        rtol, atol: tolerances against the finite-difference reference (defaults
            :data:`DEFAULT_RTOL` = 1e-5, :data:`DEFAULT_ATOL` = 1e-8).
        exact_rtol: tolerance of each exact forward engine against exact reverse (default
            1e-9).
        fd_steps: relative finite-difference steps tried (see :func:`finite_difference`).
        margin: degeneracy margin below which the report is flagged near-degenerate (a spike
            within ``margin`` of appearing or vanishing: finite differences then straddle a jump
            and cannot confirm the gradient). Default 1e-4.

    Returns:
        A :class:`GradcheckReport`; print it for the table.
    """
    if not isinstance(problem, Problem):
        raise ProblemError(f"expected a Problem, got {type(problem).__name__}")
    check_loss(loss)
    names = check_params(params)
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
        elif isinstance(entry, GradientMethod):
            res = entry.gradient(problem, loss, params=names)
            grad, name = res.grad, given_name or res.method
            required = required and entry.kind != "surrogate"
        else:
            raise ProblemError(
                "methods: expected gradient method objects (fpgrad.ExactReverse(), ...; "
                "subclasses of fpgrad.GradientMethod) or gradients ({group: array}), got "
                f"{getattr(entry, '__name__', None) or type(entry).__name__}"
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
    for other in ("exact-forward", "exact-forward-online"):
        if "exact-reverse" not in gradients or other not in gradients:
            continue
        rev, fwd = gradients["exact-reverse"], gradients[other]
        required = dict(checked)[other] and dict(checked)["exact-reverse"]
        for group in names:
            rows.append(
                _compare(
                    other,
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
    if fd.n_discarded:
        notes.append(
            f"finite differences: {fd.n_discarded} (parameter, step) trials changed the causal "
            "order of the spikes and were discarded"
        )
    if fd.n_outside:
        notes.append(
            f"finite differences: {fd.n_outside} (parameter, step) trials would have left the "
            "parameter's domain (v_reset must stay below the threshold) and were skipped"
        )
    if n_skipped:
        notes[-1] += f"; {n_skipped} parameters had no usable step (skipped)"
    if fd.n_one_sided:
        where = ", ".join(
            f"{group} {int(np.sum(flags))}"
            for group, flags in fd.one_sided.groups().items()
            if np.any(flags)
        )
        notes.append(
            f"finite differences: {fd.n_one_sided} parameters at the edge of their domain "
            f"({where}: an input spike time, delay or refractory period at or near 0) used "
            "one-sided stencils, the right derivative (fd.one_sided)"
        )
    n_delta = int(np.sum(problem.network.tau_syn == 0)) if "tau_syn" in names else 0
    if n_delta:
        notes.append(
            f"finite differences: {n_delta} tau_syn entries are delta-synapse neurons "
            "(tau_syn = 0, a discrete kind of synapse): their reference is 0 by convention, "
            "as the exact engines report"
        )
    if fd.n_shrunk:
        notes.append(
            f"finite differences: {fd.n_shrunk} parameters smaller than the largest step used "
            "steps relative to their value (fd.shrunk)"
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
    methods: Checked | None = None,
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

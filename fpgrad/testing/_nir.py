"""Another framework's gradient of a NIR graph against fpgrad's exact one, in NIR's names.

:func:`compare_nir` reads the graph (:func:`fpgrad.nir.read_nir`), simulates it exactly on the
given input spikes, takes the exact gradient of the loss (:class:`~fpgrad.ExactReverse`, every
parameter group) and carries it back to the graph's fields by the chain rule of the mapping
(:meth:`fpgrad.nir.NIRNetwork.nir_gradient`: ``"node.field"`` -> ``dL/d field`` in the field's
NIR shape and the graph's time unit). The external gradient, keyed the same way, is scored field
by field with exactly the statistics and pass rule of :func:`~fpgrad.testing.compare_external`:
a field passes when ``|g - e|_2 / |e|_2 <= rtol`` (default
:data:`~fpgrad.testing.DEFAULT_EXTERNAL_RTOL`, 1e-6), and the comparison when every field
given passes.

A discrete-time framework (snnTorch, Norse, Sinabs, Rockpool, ... at a step ``dt``) does not
compute this gradient: its spikes sit on the ``dt`` grid and its backward pass often uses a
surrogate, so it fails the float64 pass rule by design. The report then still says how close
it is (cosine, sign agreement, norm ratio); ``dt`` only adds a note of the step (in the graph's
time unit and in ms) so the table records what was compared. ``nir`` is imported when
:func:`compare_nir` runs, never by ``import fpgrad.testing``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from .._gradient import gradient
from .._problem import ProblemError
from ..event import Degeneracy
from ._external import (
    DEFAULT_EXTERNAL_RTOL,
    ExternalGroup,
    check_rtol,
    group_agreement,
    group_table,
)
from ._gradcheck import DEFAULT_MARGIN, describe_degeneracy

if TYPE_CHECKING:  # nir is an optional dependency (the ``nir`` extra)
    import nir

    from ..nir import NIRNetwork

__all__ = ["NIRComparison", "assert_nir_close", "compare_nir", "nir_gradient_arrays"]


@dataclass(frozen=True, eq=False)
class NIRComparison:
    """The outcome of :func:`compare_nir`; ``repr`` is a readable table.

    Attributes:
        loss: the loss of the exact run.
        fields: one :class:`ExternalGroup` per ``"node.field"`` given (its ``group``), in the
            graph's order.
        overall: all of them concatenated (reported, not part of the verdict).
        exact: the exact gradient of every differentiable field, ``"node.field"`` -> array in
            NIR shape and the graph's time unit.
        external: the external gradient as compared (float64 arrays).
        reference: the exact method's name.
        degeneracy: the margins of the exact run (how far it is from a change of spike pattern).
        rtol: the bound on each field's Euclidean relative error.
        time_unit: the graph's time unit (``"s"`` or ``"ms"``).
        dt: the external framework's time step in the graph's time unit, or ``None``.
        dt_ms: the same in ms, or ``None``.
        passed: every field's ``rel_error <= rtol``.
    """

    loss: float
    fields: tuple[ExternalGroup, ...]
    overall: ExternalGroup
    exact: dict[str, np.ndarray]
    external: dict[str, np.ndarray]
    reference: str
    degeneracy: Degeneracy | None
    rtol: float
    time_unit: str
    dt: float | None
    dt_ms: float | None
    passed: bool

    def __repr__(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        parts = [
            f"NIR gradient vs {self.reference} (loss = {self.loss:.10g}, graph time unit "
            f"{self.time_unit}): {verdict} (pass if |g - e|_2 / |e|_2 <= rtol = {self.rtol:g} "
            "in every field)",
            group_table(self.fields, self.overall, label="node.field"),
        ]
        if self.degeneracy is not None:
            parts.append(describe_degeneracy(self.degeneracy, DEFAULT_MARGIN))
        if self.dt is not None:
            parts.append(
                f"external framework's time step dt = {self.dt:g} {self.time_unit} = "
                f"{self.dt_ms:g} ms: a discrete-time gradient belongs to that grid's model (and "
                "often a surrogate), not to the exact event times, so differences of order dt "
                "are expected; read its cosine and sign agreement"
            )
        return "\n".join(parts)

    __str__ = __repr__


def nir_gradient_arrays(
    external: Any, exact: Mapping[str, np.ndarray], *, what: str = "external gradient"
) -> dict[str, np.ndarray]:
    """Validate a gradient keyed by NIR names against ``exact`` (every differentiable field).

    ``external`` must be a non-empty mapping whose keys are names of ``exact`` and whose values
    are arrays of real, finite numbers of the same shape; the result holds them as float64, in
    ``exact``'s order. Anything else raises :class:`~fpgrad.ProblemError` (one line, naming the
    field)."""
    if not isinstance(external, Mapping):
        raise ProblemError(
            f'{what}: expected a mapping {{"node.field": array}}, got {type(external).__name__}'
        )
    if not external:
        raise ProblemError(f"{what}: no fields (expected some of {', '.join(exact)})")
    unknown = [name for name in external if name not in exact]
    if unknown:
        raise ProblemError(
            f"{what}: unknown field {unknown[0]!r}; the graph's differentiable fields are "
            f"{', '.join(exact)}"
        )
    arrays = {}
    for name in exact:
        if name not in external:
            continue
        raw = np.asarray(external[name])
        if raw.dtype.kind not in "iuf":
            raise ProblemError(f"{what}: {name} holds {raw.dtype} values, expected real numbers")
        arr = raw.astype(np.float64)
        if arr.shape != exact[name].shape:
            raise ProblemError(
                f"{what}: {name} has shape {arr.shape}, the graph's field has shape "
                f"{exact[name].shape}"
            )
        bad = ~np.isfinite(arr)
        if bad.any():
            index = np.unravel_index(int(np.flatnonzero(bad)[0]), arr.shape)
            where = "[" + ", ".join(str(int(i)) for i in index) + "]" if arr.ndim else ""
            raise ProblemError(f"{what}: {name}{where} = {float(arr[index])!r} is not finite")
        arrays[name] = arr
    return arrays


def compare_nir(
    graph_or_path: nir.NIRGraph | NIRNetwork | str | os.PathLike[str],
    inputs: Any,
    loss: Any,
    external: Mapping[str, ArrayLike],
    *,
    t_max: float,
    time_unit: str = "s",
    spike_area: float = 1.0,
    dt: float | None = None,
    rtol: float = DEFAULT_EXTERNAL_RTOL,
) -> NIRComparison:
    """Compare a gradient of a NIR graph computed elsewhere with fpgrad's exact gradient,
    field by field in NIR's names.

    Args:
        graph_or_path: a ``nir.NIRGraph``, the path of a ``.nir`` file, or an
            :class:`~fpgrad.nir.NIRNetwork` already read (then ``time_unit`` and
            ``spike_area`` must be its own).
        inputs: spike times per channel of the graph's Input node, in the graph's time unit.
        loss: an fpgrad loss (:mod:`fpgrad.losses`) of the exact run: its neurons are fpgrad
            global ids (:attr:`~fpgrad.nir.NIRNetwork.output_neurons` are those feeding the
            Output node) and its times in ms, as for any fpgrad problem.
        external: ``{"node.field": array}``, any subset of the graph's differentiable fields,
            each ``dL/d field`` in the field's NIR shape and the graph's time unit.
        t_max: the simulated horizon, in the graph's time unit.
        time_unit: the graph's time unit, ``"s"`` (NIR's convention, the default) or ``"ms"``.
        spike_area: the impulse of one spike in graph time units (:func:`fpgrad.nir.read_nir`:
            1 for NIR's unit deltas, the export step for a discrete-time exporter such as
            snnTorch, ``1e-4``).
        dt: the external framework's time step in the graph's time unit (a discrete-time
            framework); only noted in the report.
        rtol: bound on each field's Euclidean relative error (default 1e-6, as
            :func:`~fpgrad.testing.compare_external`; about 1e-4 suits float32 code).

    Returns:
        A :class:`NIRComparison`. Unknown field names, wrong shapes and non-finite values in
        ``external`` raise :class:`~fpgrad.ProblemError`, as does an unsupported graph.
    """
    from ..nir import TIME_UNITS, NIRNetwork, read_nir

    rtol = check_rtol(rtol)
    if isinstance(graph_or_path, NIRNetwork):
        for name, value in (("time_unit", time_unit), ("spike_area", spike_area)):
            if getattr(graph_or_path, name) != value:
                raise ProblemError(
                    f"{name} = {value!r}, but the NIRNetwork was read with {name} "
                    f"{getattr(graph_or_path, name)!r}"
                )
        net = graph_or_path
    else:
        net = read_nir(graph_or_path, time_unit=time_unit, spike_area=spike_area)
    dt_ms = None
    if dt is not None:
        dt = float(dt)
        if not (math.isfinite(dt) and dt > 0):
            raise ProblemError(f"dt = {dt!r} must be a finite number > 0 (the framework's step)")
        dt_ms = dt * TIME_UNITS[net.time_unit]
    problem = net.problem(inputs, t_max)
    res = gradient(problem, loss)  # every group: the mapping's chain rule needs them all
    exact = {
        name: np.asarray(value, dtype=np.float64)
        for name, value in net.nir_gradient(res.grad).items()
    }
    ext = nir_gradient_arrays(external, exact)
    fields = tuple(group_agreement(name, ext[name], exact[name], rtol) for name in ext)
    overall = group_agreement(
        "all",
        np.concatenate([ext[name].ravel() for name in ext]),
        np.concatenate([exact[name].ravel() for name in ext]),
        rtol,
    )
    return NIRComparison(
        loss=res.loss,
        fields=fields,
        overall=overall,
        exact=exact,
        external=ext,
        reference=res.method,
        degeneracy=res.degeneracy,
        rtol=rtol,
        time_unit=net.time_unit,
        dt=dt,
        dt_ms=dt_ms,
        passed=all(f.passed for f in fields),
    )


def assert_nir_close(
    graph_or_path: Any, inputs: Any, loss: Any, external: Mapping[str, ArrayLike], **options: Any
) -> NIRComparison:
    """:func:`compare_nir` (``options``: ``t_max``, ``time_unit``, ``spike_area``, ``dt``,
    ``rtol``), raising ``AssertionError`` with the whole report table when a field fails.
    Returns the comparison when it passes."""
    comparison = compare_nir(graph_or_path, inputs, loss, external, **options)
    if not comparison.passed:
        raise AssertionError("NIR gradient does not match the exact one\n" + repr(comparison))
    return comparison

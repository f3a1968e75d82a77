"""The entry points for gradients: ``fpgrad.gradient`` (one problem) and ``fpgrad.gradient_batch``.

Both take a method object (:class:`~fpgrad.GradientMethod`, :mod:`fpgrad._method`):
:class:`~fpgrad.ExactReverse` (the default), :class:`~fpgrad.ExactForward`,
:class:`~fpgrad.FiniteDifference` or ``fpgrad.discrete.Surrogate``, all returning the same
structures, so tests and benchmarks loop over methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from numpy.typing import ArrayLike

from ._method import DEFAULT_DEGENERACY_TOL, BatchGradient, GradientMethod, GradientResult
from ._problem import Network, Problem, ProblemError
from .grad._methods import ExactReverse

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["check_method", "gradient", "gradient_batch"]


def check_method(method: Any) -> GradientMethod:
    """``method``, or :class:`ExactReverse` for ``None``; anything but a method object is an
    error naming what is expected."""
    if method is None:
        return ExactReverse()
    if isinstance(method, type) and issubclass(method, GradientMethod):
        raise ProblemError(
            f"method: pass an instance, {method.__name__}(), not the class {method.__name__} "
            "(a method is a fpgrad.GradientMethod object)"
        )
    if not isinstance(method, GradientMethod):
        what = getattr(method, "__name__", None) or type(method).__name__
        raise ProblemError(
            "method: expected a gradient method object (fpgrad.ExactReverse(), "
            "fpgrad.ExactForward(), fpgrad.FiniteDifference(), fpgrad.discrete.Surrogate(...)) "
            f"or a subclass of fpgrad.GradientMethod, got {what}"
        )
    return method


def gradient(
    problem: Problem,
    loss: Any,
    method: GradientMethod | None = None,
    *,
    params: Iterable[str] | None = None,
    degeneracy_tol: float = DEFAULT_DEGENERACY_TOL,
) -> GradientResult:
    """The loss of ``problem``'s spikes and its gradient w.r.t. the model's parameters.

    Args:
        problem: network, inputs and horizon.
        loss: a loss of spike times (:mod:`fpgrad.losses`).
        method: a :class:`~fpgrad.GradientMethod`: :class:`ExactReverse` (default),
            :class:`~fpgrad.ExactForward`, :class:`~fpgrad.FiniteDifference` or
            ``fpgrad.discrete.Surrogate``.
        params: parameter groups to differentiate (default all of :data:`~fpgrad.GROUPS`:
            ``weight``, ``input_time``, ``threshold``, ``tau_mem``, ``tau_syn``, ``delay``,
            ``bias``, ``v_reset``, ``t_ref``); see :class:`~fpgrad.Gradients`.
        degeneracy_tol: margin below which the result is flagged ``degenerate``.
    """
    return check_method(method).gradient(
        problem, loss, params=params, degeneracy_tol=degeneracy_tol
    )


def gradient_batch(
    network: Network,
    inputs: Sequence[Sequence[ArrayLike]] | Any,
    t_max: float,
    losses: Sequence[Any],
    method: GradientMethod | None = None,
    *,
    params: Iterable[str] | None = None,
    degeneracy_tol: float = DEFAULT_DEGENERACY_TOL,
    sample_clip: float = 0.0,
    n_threads: int | None = None,
    client: Client | str | None = None,
) -> BatchGradient:
    """Mean loss and mean gradient over input samples (one loss per sample), on all cores or,
    with ``client`` (a ``dask.distributed.Client`` or a scheduler address), on a Dask cluster
    with the same bits: ``method.batch(...)`` (see :meth:`fpgrad.GradientMethod.batch` for the
    arguments).

    Only network parameters are averaged: ``params`` defaults to every group but
    ``input_time`` (input spikes differ from sample to sample; their gradients are in
    ``samples[b].grad`` when asked for explicitly).
    """
    return check_method(method).batch(
        network,
        inputs,
        t_max,
        losses,
        params=params,
        degeneracy_tol=degeneracy_tol,
        sample_clip=sample_clip,
        n_threads=n_threads,
        client=client,
    )

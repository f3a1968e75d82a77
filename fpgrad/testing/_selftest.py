"""``fpgrad.test()``: a quick self-check on the user's machine (like ``brian2.test()``)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["run_selftest", "test"]


def _closed_form() -> tuple[float, float]:
    """Simulator and FP against the closed form of a single neuron with ``tau_mem = 2 tau_syn``:
    ``V = (w/b)(x - x^2)``, ``x = e^{-b s}``, first crossing at ``x = (1 + sqrt(1 - 4c)) / 2``,
    ``c = theta b / w``; ``df/dw = -c / (w b x sqrt(1 - 4c))``. Returns the relative errors."""
    from .._problem import Network, Problem
    from ..event import simulate
    from ..grad import spike_jacobian

    tau_mem, w, theta, t0 = 10.0, 0.45, 1.0, 2.5
    b = 1.0 / tau_mem
    net = Network(1, 1, tau_mem / 2, tau_mem, theta, pre=[0], post=[1], weight=[w])
    result = simulate(Problem(net, ([t0],), 50.0))
    c = theta * b / w
    root = math.sqrt(1 - 4 * c)
    x = (1 + root) / 2
    f = t0 - math.log(x) / b
    dfdw = -c / (w * b * x * root)
    if result.n_spikes < 1:
        return math.inf, math.inf
    jac = spike_jacobian(result, ["weight"])["weight"][0, 0]
    return abs(result.spike_time[0] - f) / f, abs(jac - dfdw) / abs(dfdw)


def _tiny_problem() -> tuple[Any, Any]:
    from .._builders import feedforward_network
    from .._problem import Problem
    from ..losses import FirstSpikeMSE

    weights = [
        np.array([[0.30, 0.12, 0.20], [0.18, 0.25, 0.10]]),
        np.array([[0.35, 0.15], [0.22, 0.30], [0.10, 0.28]]),
    ]
    net = feedforward_network(weights, tau_syn=5.0, tau_mem=[8.0, 10.0, 12.0, 9.0, 11.0])
    inputs = ([1.0, 4.2, 7.9, 12.5], [2.3, 5.1, 9.4])
    return Problem(net, inputs, 25.0), FirstSpikeMSE([5, 6], [8.0, 11.0])


def _forward_vs_reverse() -> float:
    from .._gradient import gradient
    from ..grad._methods import ExactForward, ExactReverse

    problem, loss = _tiny_problem()
    rev = gradient(problem, loss, ExactReverse()).grad.flat()
    fwd = gradient(problem, loss, ExactForward()).grad.flat()
    return float(np.max(np.abs(rev - fwd)) / max(np.max(np.abs(rev)), 1e-300))


def _exact_vs_fd() -> float:
    from ._gradcheck import gradcheck

    problem, loss = _tiny_problem()
    report = gradcheck(problem, loss)
    if not report.passed:
        return math.inf
    return max(r.rel_error for r in report.rows if r.reference == "finite-difference")


def run_selftest(verbose: bool = True) -> tuple[bool, list[tuple[str, float, float, bool, float]]]:
    """Run the checks; returns ``(all passed, rows)`` with rows ``(check, error, tolerance,
    passed, seconds)``; prints a table when ``verbose``."""
    from .._table import format_table

    checks: list[tuple[str, Callable[[], float], float]] = [
        ("simulator vs closed-form spike time", lambda: _closed_form()[0], 1e-12),
        ("FP Jacobian vs closed-form df/dw", lambda: _closed_form()[1], 1e-10),
        ("exact forward vs exact reverse", _forward_vs_reverse, 1e-10),
        ("exact vs finite differences (gradcheck)", _exact_vs_fd, 1e-5),
    ]
    rows = []
    for name, fn, tol in checks:
        start = time.perf_counter()
        try:
            err = float(fn())
        except Exception as exc:  # a self-check reports, it does not raise
            if verbose:
                print(f"{name}: raised {type(exc).__name__}: {exc}")
            err = math.nan
        ok = math.isfinite(err) and err <= tol
        rows.append((name, err, tol, ok, time.perf_counter() - start))
    passed = all(r[3] for r in rows)
    if verbose:
        from .. import __version__

        table = format_table(
            ["check", "rel. error", "tolerance", "status", "time (s)"],
            [
                [n, f"{e:.2e}", f"{t:.0e}", "ok" if ok else "FAIL", f"{s:.2f}"]
                for n, e, t, ok, s in rows
            ],
        )
        print(f"fpgrad {__version__} self-check (first run includes JIT compilation)")
        print(table)
        print("fpgrad self-check: " + ("PASSED" if passed else "FAILED"))
    return passed, rows


def test(verbose: bool = True) -> bool:
    """Quick self-check of this installation (a few seconds; the first call compiles kernels).

    Checks the simulator and the forward-propagation Jacobian against a closed form (one neuron
    with ``tau_mem = 2 tau_syn``), exact forward against exact reverse mode, and exact gradients
    against step-selected finite differences (:func:`fpgrad.testing.gradcheck`) on a tiny
    feedforward problem. Prints a table when ``verbose``; returns True if every check passed.
    """
    return run_selftest(verbose)[0]


test.__test__ = False  # type: ignore[attr-defined]  # not a pytest test when imported

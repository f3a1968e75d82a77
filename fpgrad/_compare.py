"""Exact against surrogate gradients on the very same problems: ``fpgrad.compare``.

:func:`compare` computes the exact gradient (:class:`fpgrad.ExactReverse`) of a loss and the
surrogate-gradient BPTT gradient of the same loss on the grid model (:mod:`fpgrad.discrete`, the
loss evaluated on the grid as :class:`fpgrad.discrete.Surrogate` does) for every grid step
``dt``, surrogate and width, and returns a :class:`Comparison`: one row per
``(dt, surrogate, width)`` with, per parameter group ``q`` (:data:`SURROGATE_GROUPS`:
``weight``, ``threshold``, ``tau_mem``, ``tau_syn`` (per neuron), ``bias``, ``v_reset``; input
times, delays and refractory periods are whole steps on the grid, so ``input_time``, ``delay``
and ``t_ref`` have no surrogate gradient) and with ``g`` the surrogate and ``e`` the exact
gradient of the group,

* ``cosine_q = g . e / (|g| |e|)`` (1 if both vanish, 0 if exactly one does);
* ``rel_error_q = |g - e|_2 / |e|_2`` (``inf`` if ``e = 0 != g``);
* ``sign_agreement_q``: the fraction of entries with ``sign(g_k) = sign(e_k)`` among the entries
  where the exact gradient is not negligible, ``|e_k| > 1e-12 max_k |e_k|`` (``nan`` if none):
  parameters the loss does not depend on at all are left out;
* ``norm_ratio_q = |g|_2 / |e|_2`` (a scale mismatch, invisible in the cosine);

(the functions of :mod:`fpgrad.metrics`, as in :func:`fpgrad.testing.compare_external`; a
surrogate gradient that overflowed,
as straight-through BPTT can on recurrent networks at small ``dt``, gets ``nan`` cosine and sign
agreement and ``inf`` errors), plus the forward agreement of the
grid run with the exact simulation, which does not depend on the surrogate (the forward pass is
the Heaviside whatever the surrogate):

* ``count_match``: fraction of (sample, neuron) pairs whose spike counts agree;
* ``count_diff``: total ``|n_grid - n_exact|`` over samples and neurons;
* ``max_time_error`` / ``mean_time_error``: ``|t_grid - t_exact|`` over the spikes of the
  neurons whose counts agree, the k-th grid spike paired with the k-th exact one (``nan`` if
  there are none);

and the loss values ``loss_exact`` / ``loss_grid``, ``bptt_time_s`` (median wall time of one
jitted BPTT gradient, compilation excluded, results fetched to the host) and ``exact_time_s``
(the same for simulation plus exact reverse mode).

A batch (a list of problems sharing one network and ``t_max``, one loss per problem or one loss
for all) compares mean gradients, ``(1/B) sum_b dL_b/dp``: both sides are the batch entries of
their method objects (:meth:`fpgrad.GradientMethod.batch` of :class:`fpgrad.ExactReverse` on all
cores and of :class:`fpgrad.discrete.Surrogate`, one ``vmap``-ed scan), so the comparison is
exactly what :func:`fpgrad.gradient_batch` and training compute.

Compilation: the grid loss is cached per ``(losses, network size, t_max)``
(:func:`fpgrad.discrete.grid_loss`), so the jitted BPTT is compiled once per
``(dt, surrogate, width)`` and reused by later calls on problems of the same shapes (JAX keeps
the compiled code, tens of MB per configuration for a 5-120-3 network at batch 8;
``jax.clear_caches()`` frees it). The forward statistics come from one grid run per ``dt`` (the
forward pass does not depend on the surrogate), the grid loss from the first surrogate's run.

:func:`forward_convergence` shows the forward pass alone converging to the exact simulation:
spike-time errors (first order in ``dt``) and raster Hamming distances on a fixed coarse bin.

On a cluster (``client=``: a ``dask.distributed.Client`` or a scheduler address). The
configurations are independent, so each is one Dask task
(:func:`fpgrad._distributed.map_configurations`): for :func:`compare` one per
``(dt, surrogate, width)``, the first surrogate's task of each ``dt`` also running that grid
step's forward pass, for :func:`forward_convergence` one per ``dt``. A task runs the very
function the in-process loop calls and returns the raw surrogate gradient, loss and forward
statistics; the exact gradient is computed here (once, in process, on this machine's cores:
every row needs it) and the statistics against it too, so the rows equal the in-process rows
bit for bit (workers with the same fpgrad, NumPy and JAX on the same kind of CPU, as for every
distributed fpgrad call). Timings are where the work ran: ``bptt_time_s`` is measured inside the
task on the worker that ran it (the same median of ``repeats`` calls after the first, with the
worker's threads; the transfer and the queueing are not in it), ``exact_time_s`` here;
``settings["bptt_timed_on"]`` says which (``"driver"`` or ``"workers"``). Each worker compiles
its configurations' BPTT itself, and the grid-loss cache is per worker process.

This module needs the ``jax`` extra (``pip install 'fpgrad[jax]'``); ``import fpgrad`` does not
import it: :func:`fpgrad.compare` and :func:`fpgrad.forward_convergence` load it when first used.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

try:
    import jax.numpy as jnp
except ImportError as err:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(f"fpgrad.compare needs JAX ({err}): pip install 'fpgrad[jax]'") from err

from . import metrics
from ._distributed import get_client, map_configurations
from ._method import SURROGATE_GROUPS, InputBatch, check_params
from ._problem import Network, Problem, ProblemError
from ._table import format_table
from .discrete import (
    SURROGATES,
    SurrogateSpike,
    bin_spikes,
    discretize,
    get_surrogate,
    raster_hamming,
    simulate_discrete,
)
from .discrete._grid import _check_dt
from .discrete._method import Surrogate, float64, grid_loss
from .event import SimulationResult, simulate
from .grad._methods import ExactReverse
from .losses import Loss

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["SURROGATE_GROUPS", "Comparison", "ForwardConvergence", "compare", "forward_convergence"]

#: Default grid steps (ms) of :func:`compare`.
DEFAULT_DTS = (1.0, 0.1, 0.01)
#: The statistics reported per parameter group (row keys ``<statistic>_<group>``).
STATISTICS = ("cosine", "rel_error", "sign_agreement", "norm_ratio")
#: The groups without a surrogate gradient (binned or rounded to whole steps on the grid).
_NO_GRID_GRADIENT = ("input_time", "delay", "t_ref")


# --------------------------------------------------------------------------------------------
# shared: rows, files, figures


def _json_value(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


class _SavedRows:
    """``to_csv`` / ``to_json`` for a result with ``rows`` (dicts with the same keys) and a
    ``to_dict()`` payload."""

    rows: list[dict[str, Any]]
    to_dict: Callable[[], dict[str, Any]]

    def to_csv(self, path: str | Path) -> Path:
        """Write :attr:`rows` as CSV (a header line, floats at full precision); the path."""
        path = Path(path)
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(self.rows[0]))
            writer.writeheader()
            writer.writerows(self.rows)
        return path

    def to_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as JSON (non-finite numbers as ``null``); the path."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n")
        return path


def _json_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with non-finite numbers as ``None`` (JSON ``null``)."""
    return [{k: _json_value(v) for k, v in row.items()} for row in rows]


def _figure(**kwargs: Any):
    """A matplotlib ``Figure`` not tied to pyplot (no GUI backend, no global state)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as err:  # pragma: no cover - matplotlib is part of the jax extra
        raise ImportError(f"plotting needs matplotlib ({err}): pip install 'fpgrad[jax]'") from None
    return Figure(layout="constrained", **kwargs)


def _fmt(x: float, spec: str = ".3f") -> str:
    return "nan" if isinstance(x, float) and math.isnan(x) else format(x, spec)


# --------------------------------------------------------------------------------------------
# forward agreement of a grid raster with exact simulations


def _forward_agreement(
    results: Sequence[SimulationResult], raster: NDArray[np.float64], dt: float
) -> dict[str, Any]:
    """Spike counts and times of a grid raster ``(B, T+1, N)`` against the exact runs."""
    n_match, n_pairs, count_diff, n_grid, n_exact = 0, 0, 0, 0, 0
    errors: list[NDArray[np.float64]] = []
    for result, sample in zip(results, raster, strict=True):
        n_inputs = result.problem.network.n_inputs
        for i in range(sample.shape[1]):
            exact = result.spikes_of(n_inputs + i)
            grid = dt * np.flatnonzero(sample[:, i] > 0.5)
            n_pairs += 1
            n_grid += grid.size
            n_exact += exact.size
            count_diff += abs(grid.size - exact.size)
            if grid.size == exact.size:
                n_match += 1
                errors.append(np.abs(grid - exact))
    err = np.concatenate(errors) if errors else np.zeros(0)
    return {
        "n_spikes_exact": n_exact,
        "n_spikes_grid": n_grid,
        "count_match": n_match / n_pairs,
        "count_diff": count_diff,
        "max_time_error": float(err.max()) if err.size else math.nan,
        "mean_time_error": float(err.mean()) if err.size else math.nan,
    }


# --------------------------------------------------------------------------------------------
# compare


def _same_network(a: Network, b: Network) -> bool:
    if a is b:
        return True
    sizes = ("n_inputs", "n_neurons")
    arrays = ("tau_syn", "tau_mem", "threshold", "t_ref", "bias", "v_reset", "pre", "post",
              "weight", "delay")  # fmt: skip
    return all(getattr(a, n) == getattr(b, n) for n in sizes) and all(
        np.array_equal(getattr(a, n), getattr(b, n)) for n in arrays
    )


def _batch(
    problem_or_batch: Problem | Sequence[Problem], loss_or_losses: Loss | Sequence[Loss]
) -> tuple[list[Problem], list[Loss]]:
    problems = (
        [problem_or_batch] if isinstance(problem_or_batch, Problem) else list(problem_or_batch)
    )
    if not problems:
        raise ProblemError("problem_or_batch: need at least one problem")
    for k, p in enumerate(problems):
        if not isinstance(p, Problem):
            raise ProblemError(f"problem_or_batch[{k}]: expected a Problem, got {type(p).__name__}")
        if not _same_network(p.network, problems[0].network) or p.t_max != problems[0].t_max:
            raise ProblemError(
                f"problem_or_batch[{k}]: a batch must share one network and t_max (only the "
                "inputs may differ)"
            )
    if isinstance(loss_or_losses, Sequence):
        losses = list(loss_or_losses)
        if len(losses) != len(problems):
            raise ProblemError(
                f"loss_or_losses: {len(losses)} losses for {len(problems)} problems (pass one "
                "loss per problem, or a single loss for all)"
            )
    else:
        losses = [loss_or_losses] * len(problems)
    return problems, losses


def _groups(params: Iterable[str] | None) -> tuple[str, ...]:
    names = check_params(params, SURROGATE_GROUPS)
    for name in _NO_GRID_GRADIENT:
        if name in names:
            what = "input spikes are binned" if name == "input_time" else "it is rounded"
            raise ProblemError(
                f"params: {name} has no surrogate gradient ({what} to whole steps on the grid, "
                f"a piecewise-constant map); choose among {', '.join(SURROGATE_GROUPS)}"
            )
    if not names:
        raise ProblemError(f"params: need at least one of {', '.join(SURROGATE_GROUPS)}")
    return names


def _surrogate_specs(
    surrogates: Sequence[str | SurrogateSpike], widths: Sequence[float | None]
) -> list[SurrogateSpike]:
    if isinstance(surrogates, str | SurrogateSpike):
        surrogates = [surrogates]
    widths = list(widths)
    if not surrogates or not widths:
        raise ValueError("surrogates and widths: need at least one of each")
    specs = []
    for sur in surrogates:
        if isinstance(sur, SurrogateSpike):
            if widths != [None]:
                raise ValueError(
                    f"widths = {widths}: widths apply to surrogate names; {sur!r} has its own "
                    "width (pass widths=(None,))"
                )
            specs.append(sur)
        else:
            specs.extend(get_surrogate(sur, width=w) for w in widths)
    return specs


def _statistics(g: NDArray[np.float64], e: NDArray[np.float64]) -> dict[str, float]:
    """:data:`STATISTICS` of a surrogate gradient ``g`` against the exact ``e``.

    They are invariant under a common positive scaling, so both are divided by the geometric
    mean of their largest magnitudes first: a huge but finite ``g`` (exploding BPTT) neither
    overflows ``|g|^2`` nor underflows ``|e|^2``. A ``g`` that overflowed (non-finite entries)
    gets ``nan`` cosine and sign agreement and ``inf`` relative error and norm ratio."""
    stats = metrics.agreement(g, e)
    return {name: stats[name] for name in STATISTICS}


def _median_time(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _surrogate_run(
    dt: float,
    sur: SurrogateSpike,
    exact_results: Sequence[SimulationResult] | None,
    *,
    network: Network,
    inputs: InputBatch,
    t_max: float,
    losses: list[Loss],
    groups: tuple[str, ...],
    reset: str,
    detach_reset: bool,
    repeats: int,
) -> dict[str, Any]:
    """One configuration ``(dt, surrogate)`` of :func:`compare`, in process or as a task on a
    Dask worker: the surrogate BPTT gradient of the batch (``grad``, per group), its ``loss``
    and ``bptt_time_s`` (median of ``repeats`` timed calls after the first, on the machine
    running it), and, given the exact simulations (for the first surrogate of each ``dt``), the
    ``forward`` agreement of the grid run with them."""
    out: dict[str, Any] = {}
    with float64():
        if exact_results is not None:
            batch = [r.problem.inputs for r in exact_results]
            dp = discretize(network, dt, batch=batch, t_max=t_max, dtype=jnp.float64)
            raster = np.asarray(simulate_discrete(dp, reset=reset).raster)
            out["forward"] = _forward_agreement(exact_results, raster, dt)
        method = Surrogate(dt=dt, surrogate=sur, reset=reset, detach_reset=detach_reset)
        grid = method.prepare(inputs)

        def bptt():
            return method.batch(network, grid, t_max, losses, params=groups)

        sg = bptt()
        out["loss"] = sg.loss
        out["grad"] = {group: getattr(sg.grad, group) for group in groups}
        out["bptt_time_s"] = _median_time(bptt, repeats)
    return out


def _compare_rows(
    problems: list[Problem],
    losses: list[Loss],
    groups: tuple[str, ...],
    dts: list[float],
    specs: list[SurrogateSpike],
    reset: str,
    detach_reset: bool,
    repeats: int,
    client: Client | str | None,
) -> list[dict[str, Any]]:
    network, t_max = problems[0].network, problems[0].t_max
    inputs = InputBatch([p.inputs for p in problems])
    exact_method = ExactReverse()

    def exact_gradient():
        return exact_method.batch(network, inputs, t_max, losses, params=groups)

    exact = exact_gradient()
    exact_time = _median_time(exact_gradient, repeats)
    results = [simulate(p) for p in problems]

    # one configuration per (dt, surrogate); the first of each dt also runs the forward pass
    configs = [(dt, sur, results if k == 0 else None) for dt in dts for k, sur in enumerate(specs)]
    shared = {"network": network, "inputs": inputs, "losses": losses}
    constants = {"t_max": t_max, "groups": groups, "reset": reset,
                 "detach_reset": detach_reset, "repeats": repeats}  # fmt: skip
    if client is None:
        runs = [_surrogate_run(*c, **shared, **constants) for c in configs]
    else:
        runs = map_configurations(client, _surrogate_run, configs, shared=shared,
                                  constants=constants)  # fmt: skip

    rows = []
    for (dt, sur, first), run in zip(configs, runs, strict=True):
        if first is not None:
            forward = {"loss_grid": run["loss"], **run["forward"]}
        row: dict[str, Any] = {
            "dt": dt,
            "surrogate": sur.label or sur.name,
            "width": sur.width,
            "scale": sur.scale,
            "loss_exact": exact.loss,
            **forward,
        }
        for group in groups:
            stats = _statistics(run["grad"][group], getattr(exact.grad, group))
            row.update({f"{name}_{group}": value for name, value in stats.items()})
        row["bptt_time_s"] = run["bptt_time_s"]
        row["exact_time_s"] = exact_time
        rows.append(row)
    return rows


@dataclass(frozen=True, eq=False)
class Comparison(_SavedRows):
    """The outcome of :func:`compare`: tidy rows, a text table, CSV, JSON and a plot.

    Attributes:
        rows: one dict per ``(dt, surrogate, width)``, the keys of the module docstring:
            ``dt``, ``surrogate``, ``width``, ``scale``, ``loss_exact``, ``loss_grid``, the
            forward agreement, ``<statistic>_<group>`` for every group and statistic of
            :data:`STATISTICS`, ``bptt_time_s`` and ``exact_time_s``.
        groups: the parameter groups compared.
        settings: ``n_samples``, ``n_inputs``, ``n_neurons``, ``n_synapses``, ``losses``
            (their class names), ``t_max``, ``reset``, ``detach_reset``, ``repeats`` and
            ``bptt_timed_on`` (``"driver"``, or ``"workers"`` with ``client=``).
    """

    rows: list[dict[str, Any]]
    groups: tuple[str, ...]
    settings: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """``{"format", "settings", "groups", "rows"}``."""
        return {
            "format": "fpgrad-compare/1",
            "settings": self.settings,
            "groups": list(self.groups),
            "rows": _json_rows(self.rows),
        }

    def __str__(self) -> str:
        s = self.settings
        head = (
            f"exact vs surrogate gradients: {s['n_samples']} sample(s), loss "
            f"{'/'.join(sorted(set(s['losses'])))}, reset {s['reset']}, detach_reset "
            f"{s['detach_reset']}; exact loss {self.rows[0]['loss_exact']:.6g}, exact gradient "
            f"{1e3 * self.rows[0]['exact_time_s']:.3g} ms"
        )
        forward_rows, seen = [], set()
        for r in self.rows:
            if r["dt"] not in seen:
                seen.add(r["dt"])
                forward_rows.append(
                    [
                        f"{r['dt']:g}",
                        f"{r['loss_grid']:.6g}",
                        f"{r['n_spikes_grid']}/{r['n_spikes_exact']}",
                        f"{r['count_match']:.3f}",
                        str(r["count_diff"]),
                        _fmt(r["max_time_error"], ".3g"),
                        _fmt(r["mean_time_error"], ".3g"),
                    ]
                )
        forward = format_table(
            ["dt", "loss grid", "spikes grid/exact", "count match", "count diff",
             "max |t err|", "mean |t err|"],
            forward_rows,
        )  # fmt: skip
        headers = ["dt", "surrogate", "width", *(f"{g} cos/err/sign" for g in self.groups)]
        headers.append("BPTT ms")
        table = []
        for r in self.rows:
            cells = [f"{r['dt']:g}", r["surrogate"], f"{r['width']:g}"]
            for g in self.groups:
                cells.append(
                    f"{_fmt(r[f'cosine_{g}'])} / {_fmt(r[f'rel_error_{g}'], '.2g')} / "
                    f"{_fmt(r[f'sign_agreement_{g}'], '.2f')}"
                )
            cells.append(f"{1e3 * r['bptt_time_s']:.3g}")
            table.append(cells)
        return "\n".join(
            [
                head,
                "forward pass on the grid vs the exact simulation (any surrogate):",
                forward,
                "gradients: cosine / relative L2 error / sign agreement per group",
                format_table(headers, table),
            ]
        )

    def plot(self, path: str | Path) -> Path:
        """Cosine similarity against ``dt`` (log scale, ticks at the grid steps used), one line
        per (surrogate, width), one panel per parameter group, titled with the loss(es) and the
        network's size; saved to ``path`` (PNG, PDF, SVG by extension)."""
        from matplotlib.ticker import NullLocator

        n = len(self.groups)
        fig = _figure(figsize=(3.6 * n + 1.8, 3.6))
        axes = fig.subplots(1, n, sharey=True, squeeze=False)[0]
        series: dict[tuple[str, float], list[dict[str, Any]]] = {}
        for r in self.rows:
            series.setdefault((r["surrogate"], r["width"]), []).append(r)
        names = list(dict.fromkeys(name for name, _ in series))
        widths = list(dict.fromkeys(w for _, w in series))
        styles = ("-", "--", ":", "-.")
        dts = sorted({r["dt"] for r in self.rows})
        for ax, group in zip(axes, self.groups, strict=True):
            for (name, width), rows in series.items():
                rows = sorted(rows, key=lambda r: r["dt"])
                ax.plot(
                    [r["dt"] for r in rows],
                    [r[f"cosine_{group}"] for r in rows],
                    marker="o",
                    markersize=3,
                    color=f"C{names.index(name) % 10}",
                    linestyle=styles[widths.index(width) % len(styles)],
                    label=name if len(widths) == 1 else f"{name}, width {width:g}",
                )
            ax.set_xscale("log")
            ax.set_xticks(dts, labels=[f"{dt:g}" for dt in dts])
            ax.xaxis.set_minor_locator(NullLocator())
            ax.set_xlabel("grid step dt (ms)")
            ax.set_title(group)
            ax.axhline(1.0, color="0.6", linewidth=0.8)
            ax.grid(True, alpha=0.3)
        axes[0].set_ylabel("cosine(surrogate, exact)")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside right center", fontsize="small", title="surrogate")
        s = self.settings
        title = f"exact vs surrogate gradients of {'/'.join(sorted(set(s.get('losses', []))))}"
        size = ", ".join(
            f"{s[k]} {k[2:]}" for k in ("n_inputs", "n_neurons", "n_synapses") if k in s
        )
        if size:
            title += f"\nnetwork of {size}"
        if "n_samples" in s:
            title += f"; {s['n_samples']} sample{'s' * (s['n_samples'] != 1)}"
        fig.suptitle(title, fontsize="medium")
        fig.savefig(path, dpi=120)
        return Path(path)


def compare(
    problem_or_batch: Problem | Sequence[Problem],
    loss_or_losses: Loss | Sequence[Loss],
    *,
    dts: Sequence[float] = DEFAULT_DTS,
    surrogates: Sequence[str | SurrogateSpike] = SURROGATES,
    widths: Sequence[float | None] = (None,),
    reset: str = "subtract",
    detach_reset: bool = True,
    params: Iterable[str] | None = None,
    repeats: int = 3,
    client: Client | str | None = None,
) -> Comparison:
    """Exact against surrogate BPTT gradients of the same loss, for every grid step, surrogate
    and width (see the module docstring for the table's columns).

    Args:
        problem_or_batch: a :class:`~fpgrad.Problem`, or a list of problems sharing one network
            and ``t_max`` (mean gradients are compared).
        loss_or_losses: a loss (:class:`~fpgrad.FirstSpikeMSE`,
            :class:`~fpgrad.FirstSpikeCrossEntropy`, :class:`~fpgrad.VanRossum`,
            :class:`~fpgrad.SpikeCount`), used for every problem, or one loss per problem.
        dts: grid steps (ms).
        surrogates: names of :data:`fpgrad.discrete.SURROGATES` (default all of them; aliases
            allowed) or :class:`~fpgrad.discrete.SurrogateSpike` objects (presets).
        widths: widths (units of threshold) applied to each named surrogate; ``None`` is the
            surrogate's default (:data:`fpgrad.discrete.DEFAULT_WIDTH`, 1 for
            ``straight_through``).
        reset, detach_reset: the grid model's reset (``"subtract"`` or ``"zero"``) and whether
            the reset is detached from the gradient (:func:`fpgrad.discrete.simulate_discrete`).
        params: parameter groups (default :data:`SURROGATE_GROUPS`: ``weight``,
            ``threshold``, ``tau_mem``, ``tau_syn``, ``bias``, ``v_reset``; ``delay``,
            ``t_ref`` and ``input_time`` have no surrogate gradient and are refused).
        repeats: timed repetitions (median) of each gradient, after the first call.
        client: a ``dask.distributed.Client`` or a scheduler address (the ``dask`` extra): the
            ``(dt, surrogate, width)`` configurations run as tasks on its workers, one each
            (:func:`fpgrad._distributed.map_configurations`), with the rows of the in-process
            call bit for bit, timings apart (the module docstring, "On a cluster").

    Raises:
        ProblemError: a bad problem, batch, loss or group; ValueError: a bad ``dt``, surrogate
            name, width, ``reset`` or ``repeats``.
    """
    problems, losses = _batch(problem_or_batch, loss_or_losses)
    groups = _groups(params)
    dts = [_check_dt(dt) for dt in ([dts] if isinstance(dts, int | float) else dts)]
    if not dts:
        raise ValueError("dts: need at least one grid step")
    specs = _surrogate_specs(surrogates, widths)
    if reset not in ("subtract", "zero"):
        raise ValueError(f"reset = {reset!r}: expected 'subtract' or 'zero'")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats = {repeats!r} must be an integer >= 1")
    grid_loss(losses, problems[0])  # validates the losses before any work
    if client is not None:  # an unreachable cluster fails before any work too
        client = get_client(client)

    with float64():
        rows = _compare_rows(
            problems, losses, groups, dts, specs, reset, detach_reset, repeats, client
        )
    settings = {
        "n_samples": len(problems),
        "n_inputs": int(problems[0].network.n_inputs),
        "n_neurons": int(problems[0].network.n_neurons),
        "n_synapses": int(problems[0].network.n_synapses),
        "losses": [type(loss).__name__ for loss in losses],
        "t_max": problems[0].t_max,
        "reset": reset,
        "detach_reset": bool(detach_reset),
        "repeats": repeats,
        "bptt_timed_on": "driver" if client is None else "workers",
    }
    return Comparison(rows=rows, groups=groups, settings=settings)


# --------------------------------------------------------------------------------------------
# forward convergence


@dataclass(frozen=True, eq=False)
class ForwardConvergence(_SavedRows):
    """The outcome of :func:`forward_convergence`.

    Attributes:
        rows: one dict per ``dt``: ``dt``, ``bin_steps``, the forward agreement of
            :func:`compare` (``n_spikes_exact``, ``n_spikes_grid``, ``count_match``,
            ``count_diff``, ``max_time_error``, ``mean_time_error``), ``hamming`` (on the grid
            itself) and ``hamming_binned`` (both rasters summed over bins of ``bin_steps``
            steps, about ``bin_ms``).
        bin_ms: the coarse bin (ms).
    """

    rows: list[dict[str, Any]]
    bin_ms: float

    @property
    def slope(self) -> float:
        """Least-squares slope of ``log(mean_time_error)`` against ``log(dt)`` (1: first order),
        over the rows with a positive finite mean error; ``nan`` with fewer than two."""
        pts = [(r["dt"], r["mean_time_error"]) for r in self.rows]
        pts = [(d, e) for d, e in pts if math.isfinite(e) and e > 0]
        if len(pts) < 2:
            return math.nan
        x, y = np.log(np.array(pts)).T
        return float(np.polyfit(x, y, 1)[0])

    def to_dict(self) -> dict[str, Any]:
        """``{"format", "bin_ms", "slope", "rows"}``."""
        return {
            "format": "fpgrad-forward-convergence/1",
            "bin_ms": self.bin_ms,
            "slope": _json_value(self.slope),
            "rows": _json_rows(self.rows),
        }

    def __str__(self) -> str:
        headers = ["dt", "spikes grid/exact", "count match", "max |t err|", "mean |t err|",
                   "Hamming (grid)", f"Hamming ({self.bin_ms:g} ms bins)"]  # fmt: skip
        table = [
            [
                f"{r['dt']:g}",
                f"{r['n_spikes_grid']}/{r['n_spikes_exact']}",
                f"{r['count_match']:.3f}",
                _fmt(r["max_time_error"], ".3g"),
                _fmt(r["mean_time_error"], ".3g"),
                str(r["hamming"]),
                str(r["hamming_binned"]),
            ]
            for r in self.rows
        ]
        head = f"grid forward pass vs exact simulation: fitted order {_fmt(self.slope, '.2f')}"
        return f"{head}\n{format_table(headers, table)}"

    def plot(self, path: str | Path) -> Path:
        """Spike-time errors against ``dt`` (log-log, with a first-order guide) and the raster
        Hamming distances; saved to ``path``."""
        fig = _figure(figsize=(9.0, 3.6))
        ax_t, ax_h = fig.subplots(1, 2)
        rows = sorted(self.rows, key=lambda r: r["dt"])
        dt = np.array([r["dt"] for r in rows])
        for key, label in (("max_time_error", "max"), ("mean_time_error", "mean")):
            ax_t.loglog(dt, [r[key] for r in rows], marker="o", label=f"{label} |t_grid - t|")
        ax_t.loglog(dt, dt, color="0.5", linestyle="--", label="dt (first order)")
        ax_t.set_xlabel("dt (ms)")
        ax_t.set_ylabel("spike-time error (ms)")
        ax_t.legend(fontsize="small")
        ax_h.semilogx(dt, [r["hamming"] for r in rows], marker="o", label="on the grid")
        ax_h.semilogx(
            dt, [r["hamming_binned"] for r in rows], marker="s",
            label=f"{self.bin_ms:g} ms bins",
        )  # fmt: skip
        ax_h.set_xlabel("dt (ms)")
        ax_h.set_ylabel("raster Hamming distance")
        ax_h.legend(fontsize="small")
        for ax in (ax_t, ax_h):
            ax.grid(True, alpha=0.3)
        fig.savefig(path, dpi=120)
        return Path(path)


def _forward_row(
    dt: float, *, exact: SimulationResult, bin_ms: float, reset: str
) -> dict[str, Any]:
    """The row of one ``dt`` of :func:`forward_convergence` (in process or as a Dask task)."""
    problem, net = exact.problem, exact.problem.network
    with float64():
        dp = discretize(problem, dt, dtype=jnp.float64)
        raster = np.asarray(simulate_discrete(dp, reset=reset).raster)
    ref = bin_spikes(exact.spike_node, exact.spike_time, net.n_inputs, net.n_neurons, dt,
                     dp.n_steps)  # fmt: skip
    bin_steps = max(1, round(bin_ms / dt))
    return {
        "dt": dt,
        "bin_steps": bin_steps,
        **_forward_agreement([exact], raster[None], dt),
        "hamming": raster_hamming(raster, ref),
        "hamming_binned": raster_hamming(raster, ref, bin_steps=bin_steps),
    }


def forward_convergence(
    problem: Problem,
    dts: Sequence[float] = (1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01),
    *,
    bin_ms: float = 1.0,
    reset: str = "subtract",
    client: Client | str | None = None,
) -> ForwardConvergence:
    """The grid model's forward pass against the exact simulation of ``problem``, per ``dt``.

    Spike counts and times as in :func:`compare` (first order: ``|t_grid - t| ~ c dt``), and
    the raster Hamming distance (:func:`fpgrad.discrete.raster_hamming`) of the grid raster to
    the binned exact spikes, on the grid itself (it does not vanish as ``dt -> 0``: a spike
    late by ``c dt`` lands in another step) and on bins of ``round(bin_ms / dt)`` steps (it
    goes to 0). Each ``dt`` must be at most ``bin_ms``. With ``client`` (a
    ``dask.distributed.Client`` or a scheduler address) each ``dt`` is a task on the cluster,
    with the in-process rows bit for bit (module docstring, "On a cluster").
    """
    bin_ms = _check_dt(bin_ms)
    dts = [_check_dt(dt) for dt in dts]
    for dt in dts:
        if dt > bin_ms:
            raise ValueError(f"dt = {dt} is larger than bin_ms = {bin_ms}")
    if client is not None:
        client = get_client(client)
    exact = simulate(problem)
    constants = {"bin_ms": bin_ms, "reset": reset}
    if client is None:
        rows = [_forward_row(dt, exact=exact, **constants) for dt in dts]
    else:
        rows = map_configurations(client, _forward_row, [(dt,) for dt in dts],
                                  shared={"exact": exact}, constants=constants)  # fmt: skip
    return ForwardConvergence(rows=rows, bin_ms=bin_ms)

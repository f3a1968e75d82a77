"""Gradient agreement: exact reverse mode and forward propagation against finite differences.

Seeded problems of growing size, every parameter group (weights, input spike times, thresholds,
membrane and synaptic time constants):

* feedforward ``n_in-n_hid-n_out`` networks (weights drawn like ``fpgrad.train``'s
  initialisation, one latency-coded input spike per input on ``[0, 10]`` ms, ``t_max = 30`` ms)
  with :class:`fpgrad.FirstSpikeMSE` on the outputs;
* recurrent networks of ``n`` neurons (``n`` Poisson inputs at 20 Hz, 5 input and 5 recurrent
  synapses per neuron, 20 % inhibitory, ``t_ref = 1`` ms, ``t_max = 100`` ms, several spikes per
  neuron) with :class:`fpgrad.VanRossum` on five neurons.

The reference is :class:`fpgrad.FiniteDifference` with its defaults, fpgrad's one
finite-difference core (:func:`fpgrad.testing.finite_difference`, called here directly for its
step and discard counts): for each relative step ``s`` of
:data:`fpgrad.testing.DEFAULT_FD_STEPS` (``1e-3, 1e-4, 1e-5, 1e-6``), ``h = s max(1, |p|)``,
central differences at ``h`` and ``h/2`` combined by Richardson extrapolation (4 simulations per
step, 16 per parameter). A step is discarded when any of its simulations changes the causal
order of the spikes (:func:`fpgrad._finite_difference.causal_signature`: spike counts, and the
interleaving of the spikes at the two ends of every synapse), and of the remaining
successive steps the best-agreeing pair gives the estimate. A
parameter left without any usable step has no reference (``NaN``): it is left out of the errors
and counted (``fd_unusable_parameters``, with the largest exact ``|g|`` among them next to the
largest usable ``|fd|``), as are the discarded (parameter, step) trials
(``fd_discarded_trials``) and the steps chosen. Per parameter group the error is group-scaled
over the usable parameters, ``max_q |g_q - fd_q| / max_q |fd_q|``, and the table reports the
largest over the groups. Expected: about 1e-10 to 1e-8, the truncation and rounding error of
the difference quotients; more where a parameter lies a few steps from a change of the spike
pattern or the loss is strongly curved there. Recurrent networks, with many nearly coincident
events, can leave a few parameters without a usable step. A missing term in an exact gradient
would show as 1e-3 or more; reverse against FP (the same sums in another order) is at rounding
level. Exact against surrogate gradients (cosine against ``dt``, width and surrogate family) is
``bench_surrogate.py``'s.

``--scheduler ADDRESS`` maps the problems (one per row) over a Dask cluster (``sweep.py``): the
same numbers, each row's ``seconds`` measured on the worker that ran it (``timed_on``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import report as results
import sweep

import fpgrad
from fpgrad.testing import finite_difference

FF_T_MAX = 30.0
REC_T_MAX = 100.0
#: (kind, size) of the problems; quick mode runs the first two of each kind, one seed.
FULL_SIZES = (
    ("feedforward", (5, 20, 3)),
    ("feedforward", (10, 40, 5)),
    ("feedforward", (20, 80, 10)),
    ("recurrent", (10,)),
    ("recurrent", (30,)),
    ("recurrent", (100,)),
)
QUICK_SIZES = tuple(x for x in FULL_SIZES if x[1] not in ((20, 80, 10), (100,)))
#: The reference: fpgrad's finite differences with their default steps.
REFERENCE = fpgrad.FiniteDifference()


def reference_text() -> str:
    """One line naming the reference and its steps (JSON, table title)."""
    steps = ", ".join(f"{s:g}" for s in REFERENCE.steps)
    return (
        f"fpgrad.FiniteDifference(): central differences at relative steps {steps}, Richardson "
        f"over h and h/2 ({4 * len(REFERENCE.steps)} simulations per parameter), a step "
        "discarded when it changes the causal spike sequence, the best-agreeing pair of "
        "successive steps kept"
    )


def feedforward_problem(
    sizes: tuple[int, ...], seed: int
) -> tuple[fpgrad.Problem, fpgrad.losses.Loss]:
    """A layered network with ``fpgrad.train``-like weights and latency-coded inputs."""
    rng = np.random.default_rng(seed)
    peak = 2.5  # max of the PSP kernel for tau_syn = 5, tau_mem = 10
    gains = [3.0] + [5.0] * (len(sizes) - 2)
    weights = [
        rng.normal(
            gains[k] / (peak * sizes[k]),
            1.5 / (peak * np.sqrt(sizes[k])),
            size=(sizes[k], sizes[k + 1]),
        )
        for k in range(len(sizes) - 1)
    ]
    net = fpgrad.feedforward_network(weights, tau_syn=5.0, tau_mem=10.0, threshold=1.0)
    inputs = fpgrad.latency_inputs(rng.uniform(size=sizes[0]))
    first_out = net.n_inputs + net.n_neurons - sizes[-1]
    outputs = tuple(range(first_out, first_out + sizes[-1]))
    loss = fpgrad.FirstSpikeMSE(outputs, tuple(np.linspace(8.0, 15.0, sizes[-1])))
    return fpgrad.Problem(net, tuple(inputs), FF_T_MAX), loss


def recurrent_problem(n: int, seed: int) -> tuple[fpgrad.Problem, fpgrad.losses.Loss]:
    """A random recurrent network of ``n`` neurons driven by ``n`` Poisson inputs."""
    rng = np.random.default_rng(seed)
    net = fpgrad.random_recurrent_network(
        n,
        n,
        rng,
        input_synapses=5,
        recurrent_synapses=5,
        input_weight=0.25,
        recurrent_weight=0.06,
        inhibitory_fraction=0.2,
        inhibition_scale=3.0,
        t_ref=1.0,
    )
    inputs = fpgrad.poisson_inputs(n, 20.0, REC_T_MAX, rng)
    targets = {n + k: (20.0, 50.0, 80.0) for k in range(min(n, 5))}
    return fpgrad.Problem(net, tuple(inputs), REC_T_MAX), fpgrad.VanRossum(targets)


def relative_errors(grad: fpgrad.Gradients, ref: fpgrad.Gradients) -> dict[str, float]:
    """Per group ``max |g - ref| / max |ref|`` over the parameters with a reference (``ref``
    finite; 0 where both vanish, ``NaN`` if the group has no usable parameter)."""
    out = {}
    for name, r in ref.groups().items():
        usable = np.isfinite(r)
        if not usable.any():
            out[name] = float("nan")
            continue
        diff = float(np.max(np.abs(getattr(grad, name)[usable] - r[usable]), initial=0.0))
        scale = float(np.max(np.abs(r[usable]), initial=0.0))
        out[name] = diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf"))
    return out


def _worst(errors: dict[str, float]) -> tuple[float, str]:
    """The largest error of the groups that have one, and its group."""
    known = {k: v for k, v in errors.items() if not np.isnan(v)}
    if not known:
        return float("nan"), ""
    group = max(known, key=known.get)
    return known[group], group


def check(kind: str, size: tuple[int, ...], seed: int) -> dict[str, Any]:
    """Reverse, forward and finite-difference gradients of one problem, with timings."""
    make = feedforward_problem if kind == "feedforward" else recurrent_problem
    problem, loss = make(size if kind == "feedforward" else size[0], seed)
    timed = {}
    for name, method in (("reverse", fpgrad.ExactReverse()), ("forward", fpgrad.ExactForward())):
        start = time.perf_counter()
        timed[name] = (fpgrad.gradient(problem, loss, method), time.perf_counter() - start)
    start = time.perf_counter()
    # what REFERENCE.gradient runs, called directly for its step and discard counts
    fd = finite_difference(problem, loss, steps=REFERENCE.steps, richardson=REFERENCE.richardson)
    timed["fd"] = (fd, time.perf_counter() - start)
    rev, fwd = timed["reverse"][0], timed["forward"][0]
    deg = rev.degeneracy
    errors = {
        "reverse_vs_fd": relative_errors(rev.grad, fd.grad),
        "forward_vs_fd": relative_errors(fwd.grad, fd.grad),
        "reverse_vs_forward": relative_errors(rev.grad, fwd.grad),
    }
    worst = {k: _worst(v) for k, v in errors.items()}
    chosen = fd.step.flat()
    unusable = {name: int(np.sum(np.isnan(g))) for name, g in fd.grad.groups().items()}
    # how large the exact gradient is where FD has no reference (left out of the errors)
    flat_fd = fd.grad.flat()
    missing = np.isnan(flat_fd)
    exact_missing = float(np.max(np.abs(rev.grad.flat()[missing]))) if missing.any() else None
    return {
        "kind": kind,
        "size": list(size),
        "seed": seed,
        "n_parameters": int(fd.grad.flat().size),
        "n_neuron_spikes": rev.result.n_spikes,
        "loss": rev.loss,
        "min_crossing_slope": deg.min_crossing_slope,
        "min_peak_gap": deg.min_peak_gap,
        "exact_degenerate": bool(rev.degenerate),
        "fd_trials": int(fd.grad.flat().size * len(REFERENCE.steps)),
        "fd_discarded_trials": int(fd.n_discarded),
        "fd_unusable_parameters": int(fd.n_unusable),
        "fd_unusable_per_group": unusable,
        "fd_unusable_max_abs_exact": exact_missing,
        "fd_usable_max_abs": float(np.max(np.abs(flat_fd[~missing]), initial=0.0)),
        "fd_step_chosen": {f"{s:g}": int(np.sum(chosen == s)) for s in REFERENCE.steps},
        "relative_error": errors,
        "max_relative_error": {k: v[0] for k, v in worst.items()},
        "worst_group": {k: v[1] for k, v in worst.items()},
        "seconds": {k: v[1] for k, v in timed.items()},
    }


def label(row: dict[str, Any]) -> str:
    size = row["size"]
    return (
        f"feedforward {'-'.join(map(str, size))}"
        if row["kind"] == "feedforward"
        else (f"recurrent {size[0]}")
    )


def tables(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The README table of a report (:func:`report.table` contract)."""
    rows = []
    for x in report["problems"]:
        err, worst = x["max_relative_error"], x["worst_group"]
        rows.append(
            [
                label(x),
                x["seed"],
                x["n_parameters"],
                x["n_neuron_spikes"],
                f"{x['min_crossing_slope']:.1e}" if x["min_crossing_slope"] is not None else "",
                f"{err['reverse_vs_fd']:.1e} ({worst['reverse_vs_fd']})",
                f"{err['forward_vs_fd']:.1e} ({worst['forward_vs_fd']})",
                f"{err['reverse_vs_forward']:.1e}",
                f"{x['fd_discarded_trials']:,} / {x['fd_trials']:,}",
                x["fd_unusable_parameters"],
                f"{1e3 * x['seconds']['reverse']:.1f}",
                f"{x['seconds']['fd']:.2f}",
            ]
        )
    return [
        results.table(
            "agreement-fd",
            f"Exact gradients against finite differences (`FiniteDifference()`: central, "
            f"Richardson at relative steps {', '.join(f'{s:g}' for s in REFERENCE.steps)}, "
            f"{4 * len(REFERENCE.steps)} simulations per parameter; a step is discarded when it "
            "changes the causal spike sequence), all parameter groups; relative error "
            "max|g - fd| / max|fd| per group over the parameters with a usable step, largest "
            "group shown; FD trials discarded (parameter x step) and parameters left without a "
            "usable step",
            [
                "problem",
                "seed",
                "parameters",
                "spikes",
                "min slope /ms",
                "reverse vs FD",
                "FP vs FD",
                "reverse vs FP",
                "FD discarded",
                "FD unusable",
                "reverse ms",
                "FD s",
            ],
            rows,
        )
    ]


def figure(report: dict[str, Any]):
    """Relative error and time against the number of parameters, per method."""
    plt = results.pyplot()
    fig, (ax_err, ax_time) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    for kind, marker in (("feedforward", "o"), ("recurrent", "s")):
        rows = [x for x in report["problems"] if x["kind"] == kind]
        if not rows:
            continue
        p = [x["n_parameters"] for x in rows]
        for key, color, name in (
            ("reverse_vs_fd", "C0", "reverse vs FD"),
            ("forward_vs_fd", "C1", "FP vs FD"),
        ):
            ax_err.scatter(
                p,
                [x["max_relative_error"][key] for x in rows],
                marker=marker,
                facecolors="none" if key == "forward_vs_fd" else color,
                edgecolors=color,
                s=60 if key == "forward_vs_fd" else 25,
                label=f"{name}, {kind}",
            )
        for key, color, name in (
            ("reverse", "C0", "exact reverse"),
            ("forward", "C1", "exact FP"),
            ("fd", "C3", "finite differences"),
        ):
            ax_time.scatter(
                p,
                [x["seconds"][key] for x in rows],
                marker=marker,
                color=color,
                label=f"{name}, {kind}",
            )
    for ax, ylabel in ((ax_err, "relative error (largest group)"), (ax_time, "wall seconds")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("parameters")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    ax_err.set_title("exact against finite differences")
    ax_time.set_title("time per gradient (all parameters)")
    mode = "quick" if report.get("quick") else "full"
    fig.suptitle(f"Gradient agreement ({mode} run)")
    return fig


def configurations(quick: bool) -> list[tuple[str, tuple[int, ...], int]]:
    """The ``(kind, size, seed)`` arguments of :func:`check`, one per row."""
    seeds = (0,) if quick else (0, 1)
    sizes = QUICK_SIZES if quick else FULL_SIZES
    return [(kind, size, seed) for kind, size in sizes for seed in seeds]


#: The JIT warm-up, run before the rows (in process, or on every worker).
WARMUP = (("feedforward", (3, 4, 2), 0),)


def main(quick: bool = False, scheduler: str | None = None) -> dict[str, Any]:
    problems = sweep.map_rows(check, configurations(quick), scheduler, warmup=WARMUP)
    report = {
        "reference": reference_text(),
        "reference_steps": list(REFERENCE.steps),
        "error": "per group max|g - fd| / max|fd| over parameters with a usable FD step; max "
        "over groups",
        "problems": problems,
        "timed_on": sweep.timed_on(scheduler),
    }
    print(
        f"{'problem':22s} {'seed':>4s} {'params':>7s} {'spikes':>7s} {'rev vs FD':>10s} "
        f"{'FP vs FD':>10s} {'rev vs FP':>10s} {'discarded':>12s} {'unusable':>8s} {'FD s':>7s}"
    )
    for x in problems:
        err = x["max_relative_error"]
        print(
            f"{label(x):22s} {x['seed']:4d} {x['n_parameters']:7d} {x['n_neuron_spikes']:7d} "
            f"{err['reverse_vs_fd']:10.1e} {err['forward_vs_fd']:10.1e} "
            f"{err['reverse_vs_forward']:10.1e} "
            f"{x['fd_discarded_trials']:5d}/{x['fd_trials']:<6d} "
            f"{x['fd_unusable_parameters']:8d} {x['seconds']['fd']:7.2f}"
        )
    results.save("agreement", report, quick, tables(report), figure)
    return report


if __name__ == "__main__":
    main(**sweep.command_line(__doc__))

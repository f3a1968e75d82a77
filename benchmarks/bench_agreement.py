"""Gradient agreement: exact reverse mode and forward propagation against finite differences.

Seeded problems of growing size, every parameter group (weights, input spike times, thresholds,
membrane and synaptic time constants):

* feedforward ``n_in-n_hid-n_out`` networks (weights drawn like ``fpgrad.train``'s
  initialisation, one latency-coded input spike per input on ``[0, 10]`` ms, ``t_max = 30`` ms)
  with :class:`fpgrad.FirstSpikeMSE` on the outputs;
* recurrent networks of ``n`` neurons (``n`` Poisson inputs at 20 Hz, 5 input and 5 recurrent
  synapses per neuron, 20 % inhibitory, ``t_ref = 1`` ms, ``t_max = 100`` ms, several spikes per
  neuron) with :class:`fpgrad.VanRossum` on five neurons.

The reference is :class:`fpgrad.FiniteDifference` (central differences, ``h = 6e-6 max(1, |p|)``,
Richardson extrapolation over ``h`` and ``h/2``: 4 simulations per parameter). Per parameter
group the error is group-scaled, ``max_q |g_q - fd_q| / max_q |fd_q|``, and the table reports the
largest over the groups. Expected: about 1e-10 to 1e-8, the truncation and rounding error of
the difference quotients; more where a parameter lies a few steps from a change of the spike
pattern or the loss is strongly curved there (on recurrent 30, seed 0, one weight's quotient is
off by 4e-6 relative and moves onto the exact value as the step shrinks). A missing term in an
exact gradient would show as 1e-3 or more; reverse against FP (the same sums in another order)
is at rounding level. Exact against surrogate gradients (cosine against ``dt``, width and
surrogate family) is ``bench_surrogate.py``'s.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np
import report as results

import fpgrad

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


def feedforward_problem(sizes: tuple[int, ...], seed: int) -> tuple[fpgrad.Problem, fpgrad.Loss]:
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


def recurrent_problem(n: int, seed: int) -> tuple[fpgrad.Problem, fpgrad.Loss]:
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
    """Per group ``max |g - ref| / max |ref|`` (0 where both vanish)."""
    out = {}
    for name, r in ref.groups().items():
        diff = float(np.max(np.abs(getattr(grad, name) - r), initial=0.0))
        scale = float(np.max(np.abs(r), initial=0.0))
        out[name] = diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf"))
    return out


def check(kind: str, size: tuple[int, ...], seed: int) -> dict[str, Any]:
    """Reverse, forward and finite-difference gradients of one problem, with timings."""
    make = feedforward_problem if kind == "feedforward" else recurrent_problem
    problem, loss = make(size if kind == "feedforward" else size[0], seed)
    timed = {}
    for name, method in (
        ("reverse", fpgrad.ExactReverse()),
        ("forward", fpgrad.ExactForward()),
        ("fd", fpgrad.FiniteDifference()),
    ):
        start = time.perf_counter()
        timed[name] = (fpgrad.gradient(problem, loss, method), time.perf_counter() - start)
    rev, fwd, fd = (timed[k][0] for k in ("reverse", "forward", "fd"))
    deg = rev.degeneracy
    errors = {
        "reverse_vs_fd": relative_errors(rev.grad, fd.grad),
        "forward_vs_fd": relative_errors(fwd.grad, fd.grad),
        "reverse_vs_forward": relative_errors(rev.grad, fwd.grad),
    }
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
        "fd_pattern_changed_or_degenerate": bool(fd.degenerate),
        "relative_error": errors,
        "max_relative_error": {k: max(v.values()) for k, v in errors.items()},
        "worst_group": {k: max(v, key=v.get) for k, v in errors.items()},
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
                "yes" if x["fd_pattern_changed_or_degenerate"] else "no",
                f"{1e3 * x['seconds']['reverse']:.1f}",
                f"{x['seconds']['fd']:.2f}",
            ]
        )
    return [
        results.table(
            "agreement-fd",
            "Exact gradients against finite differences (`FiniteDifference()`: central, "
            "Richardson, 4 simulations per parameter), all parameter groups; relative error "
            "max|g - fd| / max|fd| per group, largest group shown",
            [
                "problem",
                "seed",
                "parameters",
                "spikes",
                "min slope /ms",
                "reverse vs FD",
                "FP vs FD",
                "reverse vs FP",
                "FD flagged",
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


def main(quick: bool = False) -> dict[str, Any]:
    seeds = (0,) if quick else (0, 1)
    sizes = QUICK_SIZES if quick else FULL_SIZES
    check("feedforward", (3, 4, 2), 0)  # JIT warm-up
    problems = [check(kind, size, seed) for kind, size in sizes for seed in seeds]
    report = {
        "reference": "fpgrad.FiniteDifference() (step 6e-6, Richardson)",
        "error": "per group max|g - fd| / max|fd|; max over groups",
        "problems": problems,
    }
    print(
        f"{'problem':22s} {'seed':>4s} {'params':>7s} {'spikes':>7s} {'rev vs FD':>10s} "
        f"{'FP vs FD':>10s} {'rev vs FP':>10s} {'FD s':>7s}"
    )
    for x in problems:
        err = x["max_relative_error"]
        print(
            f"{label(x):22s} {x['seed']:4d} {x['n_parameters']:7d} {x['n_neuron_spikes']:7d} "
            f"{err['reverse_vs_fd']:10.1e} {err['forward_vs_fd']:10.1e} "
            f"{err['reverse_vs_forward']:10.1e} {x['seconds']['fd']:7.2f}"
        )
    results.save("agreement", report, quick, tables(report), figure)
    return report


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)

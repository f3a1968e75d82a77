"""A network exported to NIR by snnTorch: its surrogate gradient against fpgrad's exact one.

The framework. snnTorch (``snntorch.export_nir.export_to_nir``, through ``nirtorch``) is the
peer: it is on PyPI, exports the NIR standard's ``CubaLIF`` from its ``Synaptic`` neuron, and
needs only PyTorch, whose CPU build installs here in about a minute (``torch==2.13.0``, about
900 MB in the venv). jaxsnn, already a peer, has no NIR export; Spyx and Norse would need
dm-haiku or an older PyTorch range besides.

The network. 20 inputs -> ``Linear`` (no bias) -> 30 ``Synaptic`` -> ``Linear`` -> 5
``Synaptic``, fixed seed, in physical time ``tau_syn = 5 ms``, ``tau_mem = 10 ms``, threshold 1,
reset to zero; fpgrad's weights ``w`` (``J`` jumps by ``w``, ``V`` per ms) are snnTorch's
``W = w dt`` (the charge one step adds), ``alpha = 1 - dt / tau_syn``, ``beta = 1 - dt /
tau_mem`` (the exporter's own inverse, below). Every input fires 3 times on whole milliseconds
in ``[0, 30] ms`` (on every grid of ``DTS``), ``t_max = 50 ms``. Weights and thresholds, alpha
and beta are learnable (one per neuron).

The export. snnTorch writes every graph with its own fixed step ``dt_e = 1e-4 s`` (hard-coded in
``export_nir.py``): ``tau = dt_e / (1 - beta)``, ``r = tau_mem / dt_e``, ``w_in = tau_syn /
dt_e``, the ``Linear`` weight as it is. A network simulated at step ``dt`` therefore comes out
as the same network on a clock scaled by ``dt_e / dt`` (its time constants are ``tau * 0.1 ms /
dt``), and fpgrad reads the graph as it stands: input step ``k`` is the graph time ``k dt_e``.
snnTorch's step is exactly NIR's Euler step with a spike counted as ``S = 1`` in its step, i.e.
a delta of area ``dt_e`` in the graph's time, where NIR's continuous reading (``read_nir``'s
default) has unit deltas. So the graph is read with ``read_nir(graph, spike_area=dt_e)``, which
scales every synapse weight by ``dt_e`` and carries it through the chain rule. Without it the
currents would be ``1 / dt_e = 10^4`` times too strong and nothing would agree.

The loss. :class:`fpgrad.VanRossum` (``tau = 5 ms``) of the 5 outputs to the target train
10, 20, 30, 40 ms. snnTorch side: the same closed form with the 0/1 output raster ``r_n`` at
``t_n = n dt`` as spike weights (what ``VanRossum.grid_value`` evaluates; written out below in
torch), backpropagated through snnTorch's ``fast_sigmoid`` surrogate (slope 25). fpgrad side:
the exact gradient of the same loss of the graph's spike trains (targets and ``tau`` on the
graph's clock), mapped to the graph's ``node.field`` by ``NIRNetwork.nir_gradient``.

Names. ``fc1.weight``, ``lif1.v_threshold``, ... are the same numbers on both sides.
``alpha``/``beta`` are snnTorch's; each sets two graph fields, so fpgrad's is pulled back:
``dL/dbeta = (dt_e dL/dtau_mem + dL/dr) / (1 - beta)^2`` and ``dL/dalpha = (dt_e dL/dtau_syn +
dL/dw_in) / (1 - alpha)^2``.

Forward check first: spike counts per neuron and spike times (fpgrad's times mapped back to
physical ms) of both layers. snnTorch's step feeds an input into ``V`` in the step it arrives
(one step early per layer) and is first order in ``dt``; a crossing that only grazes threshold
moves by much more than ``dt``, so the table gives the median and the largest difference.
Float64 on both sides (snnTorch's surrogates return float32 0/1 spikes, cast back to float64:
an exact forward pass, float32 rounding in their backward).

Two checks of the comparison itself. (1) fpgrad's own surrogate BPTT
(:class:`fpgrad.discrete.Surrogate`, the same surrogate and width, on snnTorch's grid) of the
exported graph, against snnTorch's gradient: an independent implementation of what snnTorch
computes, so a wrong name map or chain rule would show there. (2) The exact gradient in
snnTorch's parameters against central differences of fpgrad's loss of the exported graph
(step ``FD_STEP = 1e-8``, times ``dt / ms`` for the weights, alpha and beta, which scale with
``dt``: the difference falls as ``h^2`` from ``1e-6`` to ``1e-8``), for the largest entry of
every key at the finest ``dt``: this checks the spike area and the alpha/beta pull-back.

Artifacts. Per ``dt`` the exported graph ``snntorch_dt<dt>.nir`` and ``snntorch_dt<dt>.npz``
(``0.25 -> 0p25``; input times on the graph's clock, snnTorch's spike trains and gradients by
name) go to ``results/nir/`` (``results/quick/nir/`` with ``--quick``).
``notebooks/06_nir_framework.ipynb`` reads the committed full-run files and computes fpgrad's
side live. Without snnTorch the benchmark uses those committed files and says so.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import report as results

import fpgrad
from fpgrad.metrics import agreement

N_IN, N_HID, N_OUT = 20, 30, 5
TAU_SYN, TAU_MEM, THRESHOLD = 5.0, 10.0, 1.0
T_MAX = 50.0
SPIKES_PER_INPUT, INPUT_WINDOW = 3, 30
WEIGHT_MEAN, WEIGHT_STD = (0.015, 0.03), (0.05, 0.05)
TARGETS = (10.0, 20.0, 30.0, 40.0)
VR_TAU = 5.0
SLOPE = 25.0
SEED = 0
FD_STEP = 1e-8
DTS = (1.0, 0.5, 0.25, 0.1, 0.01)
QUICK_DTS = (1.0, 0.25)
EXPORT_DT_S = 1e-4  # snnTorch's export step, s (export_nir.py)
EXPORT_DT_MS = 1e3 * EXPORT_DT_S
LAYERS = (("fc1", "lif1"), ("fc2", "lif2"))
KEYS = tuple(
    f"{name}.{field}"
    for lin, lif in LAYERS
    for name, field in ((lin, "weight"), (lif, "v_threshold"), (lif, "beta"), (lif, "alpha"))
)
HERE = Path(__file__).resolve().parent


def make_problem(seed: int = SEED) -> dict[str, Any]:
    """fpgrad-convention weights ``(n_pre, n_post)`` and input spike times (whole ms)."""
    rng = np.random.default_rng(seed)
    w1 = rng.normal(WEIGHT_MEAN[0], WEIGHT_STD[0], (N_IN, N_HID))
    w2 = rng.normal(WEIGHT_MEAN[1], WEIGHT_STD[1], (N_HID, N_OUT))
    grid = np.arange(INPUT_WINDOW + 1)
    times = [
        np.sort(rng.choice(grid, SPIKES_PER_INPUT, replace=False)).astype(np.float64)
        for _ in range(N_IN)
    ]
    return {"w1": w1, "w2": w2, "times": times}


def artifact_dir(quick: bool) -> Path:
    return results.results_dir(quick) / "nir"


def artifact_stem(dt: float) -> str:
    return f"snntorch_dt{dt:g}".replace(".", "p")  # 0.25 -> dt0p25


# --------------------------------------------------------------------------------------------
# snnTorch side


def framework_versions() -> dict[str, str] | None:
    """Versions of snnTorch and what its export needs, or ``None`` if any is missing."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        import nirtorch  # noqa: F401
        import snntorch  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        return None
    out = {}
    for name in ("snntorch", "torch", "nirtorch", "nir"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "unknown"
    return out


def snntorch_run(prob: dict[str, Any], dt: float) -> dict[str, Any]:
    """Simulate, differentiate and export the network at step ``dt`` (ms) in snnTorch."""
    import snntorch as snn
    import torch
    from snntorch.export_nir import export_to_nir

    dtype = torch.float64
    surrogate = snn.surrogate.fast_sigmoid(slope=SLOPE)

    def spike(x: Any) -> Any:  # the surrogate's spikes come as float32 0/1: exact
        return surrogate(x).to(x.dtype)

    modules = {}
    for (lin, lif), w in zip(LAYERS, (prob["w1"], prob["w2"]), strict=True):
        n_pre, n = w.shape
        linear = torch.nn.Linear(n_pre, n, bias=False, dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.tensor(w.T * dt, dtype=dtype))
        modules[lin] = linear
        modules[lif] = snn.Synaptic(
            alpha=torch.full((n,), 1.0 - dt / TAU_SYN, dtype=dtype),
            beta=torch.full((n,), 1.0 - dt / TAU_MEM, dtype=dtype),
            threshold=torch.full((n,), THRESHOLD, dtype=dtype),
            spike_grad=spike,
            init_hidden=True,
            reset_mechanism="zero",
            reset_delay=False,  # V <- 0 in the step of the spike, as in the NIR/fpgrad model
            learn_alpha=True,
            learn_beta=True,
            learn_threshold=True,
        )
    model = torch.nn.Sequential(OrderedDict(modules))

    n_steps = round(T_MAX / dt) + 1  # steps k = 0 .. T_MAX/dt at t_k = k dt
    x = torch.zeros(n_steps, 1, N_IN, dtype=dtype)
    for j, train in enumerate(prob["times"]):
        x[np.rint(train / dt).astype(int), 0, j] = 1.0
    for m in model:
        if hasattr(m, "reset_mem"):
            m.reset_mem()
    hidden, output = [], []
    for k in range(n_steps):
        h = modules["lif1"](modules["fc1"](x[k]))
        output.append(modules["lif2"](modules["fc2"](h)))
        hidden.append(h)
    hid = torch.stack(hidden)[:, 0]
    out = torch.stack(output)[:, 0]
    loss = van_rossum_grid(out, dt)
    loss.backward()

    grads = {}
    for lin, lif in LAYERS:
        grads[f"{lin}.weight"] = modules[lin].weight.grad.numpy().copy()
        grads[f"{lif}.v_threshold"] = modules[lif].threshold.grad.numpy().copy()
        grads[f"{lif}.beta"] = modules[lif].beta.grad.numpy().copy()
        grads[f"{lif}.alpha"] = modules[lif].alpha.grad.numpy().copy()
    graph = export_to_nir(model, torch.zeros(1, N_IN, dtype=dtype), ignore_dims=[0])
    return {
        "graph": graph,
        "loss": float(loss.detach()),
        "grads": grads,
        "hidden_raster": hid.detach().numpy().astype(np.int8),
        "output_raster": out.detach().numpy().astype(np.int8),
    }


def van_rossum_grid(raster: Any, dt: float) -> Any:
    """``sum_n D_n^2`` of the 0/1 raster ``(steps, neurons)`` at ``t_m = m dt`` to
    :data:`TARGETS`, in torch: ``D^2 = 1/2 [sum_{m,m'} r_m r_m' K(t_m - t_m') + sum_{j,j'}
    K(s_j - s_j') - 2 sum_{m,j} r_m K(t_m - s_j)]``, ``K(x) = exp(-|x| / tau)``
    (:class:`fpgrad.VanRossum`'s closed form with grid spikes as weights)."""
    import torch

    t = dt * torch.arange(raster.shape[0], dtype=raster.dtype)
    s = torch.tensor(TARGETS, dtype=raster.dtype)

    def kernel(a: Any, b: Any) -> Any:
        return torch.exp(-torch.abs(a[:, None] - b[None, :]) / VR_TAU)

    self_pairs = torch.einsum("mn,mk,kn->n", raster, kernel(t, t), raster)
    cross = raster.T @ kernel(t, s).sum(axis=1)
    return torch.sum(0.5 * (self_pairs + kernel(s, s).sum() - 2.0 * cross))


def save_artifacts(directory: Path, dt: float, prob: dict[str, Any], run: dict[str, Any]) -> None:
    """The exported graph (``.nir``) and the inputs, spike trains, loss and gradients (``.npz``)."""
    import nir

    directory.mkdir(parents=True, exist_ok=True)
    stem = directory / artifact_stem(dt)
    nir.write(stem.with_suffix(".nir"), run["graph"])
    channel = np.concatenate([np.full(len(t), j) for j, t in enumerate(prob["times"])])
    steps = np.concatenate([np.rint(t / dt).astype(np.int64) for t in prob["times"]])
    np.savez_compressed(
        stem.with_suffix(".npz"),
        dt_ms=dt,
        export_dt_s=EXPORT_DT_S,
        input_channel=channel,
        input_step=steps,
        hidden_raster=run["hidden_raster"],
        output_raster=run["output_raster"],
        loss=run["loss"],
        **{f"grad/{k}": v for k, v in run["grads"].items()},
    )


def load_artifacts(directory: Path, dt: float) -> dict[str, Any]:
    """What :func:`save_artifacts` wrote, as :func:`snntorch_run` returns it."""
    import nir

    stem = directory / artifact_stem(dt)
    with np.load(stem.with_suffix(".npz")) as data:
        out = {k: data[k] for k in data.files}
    return {
        "graph": nir.read(stem.with_suffix(".nir")),
        "loss": float(out["loss"]),
        "grads": {k.removeprefix("grad/"): v for k, v in out.items() if k.startswith("grad/")},
        "hidden_raster": out["hidden_raster"],
        "output_raster": out["output_raster"],
        "input_channel": out["input_channel"],
        "input_step": out["input_step"],
    }


# --------------------------------------------------------------------------------------------
# fpgrad side


def exported_problem(graph: Any, input_times: list[np.ndarray], dt: float) -> tuple[Any, Any, Any]:
    """``(NIRNetwork, Problem, VanRossum)`` of the exported graph at step ``dt`` (ms), read with
    the spike area ``dt_e``; ``input_times`` in physical ms, put on the graph's clock (step ``k``
    -> ``k dt_e``), the loss's targets and ``tau`` too."""
    from fpgrad.nir import read_nir

    net = read_nir(graph, time_unit="s", spike_area=EXPORT_DT_S)
    steps = [np.rint(t / dt) for t in input_times]
    problem = net.problem([k * EXPORT_DT_S for k in steps], round(T_MAX / dt) * EXPORT_DT_S)
    ms = graph_ms_per_ms(dt)
    targets = {n: tuple(ms * s for s in TARGETS) for n in net.neurons["lif2"]}
    return net, problem, fpgrad.VanRossum(targets, tau=ms * VR_TAU)


def graph_ms_per_ms(dt: float) -> float:
    """Milliseconds of the graph's clock per physical millisecond at step ``dt``."""
    return EXPORT_DT_MS / dt


def snntorch_names(nir_grad: dict[str, np.ndarray], graph: Any) -> dict[str, np.ndarray]:
    """A gradient of the graph by ``node.field`` in snnTorch's parameters (:data:`KEYS`): the
    weights and thresholds as they are; ``dL/dbeta = (dt_e dL/dtau_mem + dL/dr) / (1 -
    beta)^2`` from ``tau_mem = dt_e / (1 - beta)``, ``r = 1 / (1 - beta)``; alpha likewise
    with ``tau_syn``, ``w_in``."""
    out = {}
    for lin, lif in LAYERS:
        node = graph.nodes[lif]
        out[f"{lin}.weight"] = nir_grad[f"{lin}.weight"]
        out[f"{lif}.v_threshold"] = nir_grad[f"{lif}.v_threshold"]
        for name, tau_field, gain_field in (("beta", "tau_mem", "r"), ("alpha", "tau_syn", "w_in")):
            one_minus = EXPORT_DT_S / np.asarray(getattr(node, tau_field), dtype=np.float64)
            out[f"{lif}.{name}"] = (
                EXPORT_DT_S * nir_grad[f"{lif}.{tau_field}"] + nir_grad[f"{lif}.{gain_field}"]
            ) / one_minus**2
    return out


def fpgrad_run(graph: Any, input_times: list[np.ndarray], dt: float) -> dict[str, Any]:
    """fpgrad's simulation and exact gradient of the exported graph at step ``dt`` (ms), the
    gradient in snnTorch's parameters, the spike trains in physical ms."""
    net, problem, loss = exported_problem(graph, input_times, dt)
    res = fpgrad.gradient(problem, loss, params=None)
    sim = fpgrad.simulate(problem)
    ms = graph_ms_per_ms(dt)
    return {
        "loss": float(res.loss),
        "grads": snntorch_names(net.nir_gradient(res.grad), graph),
        "trains": {
            lif: [sim.spikes_of(int(n)) / ms for n in net.neurons[lif]] for _, lif in LAYERS
        },
        "degenerate": bool(res.degenerate),
    }


def fpgrad_surrogate(graph: Any, input_times: list[np.ndarray], dt: float) -> dict[str, Any]:
    """fpgrad's own surrogate BPTT (:class:`fpgrad.discrete.Surrogate`) of the same graph on
    snnTorch's grid (``dt_e`` on the graph's clock), with the same surrogate (``fast_sigmoid``,
    ``1 / (1 + 2|u|)^2`` at ``u = x / width``: ``width = 2 / slope``), reset to zero, detached
    reset: a second, independent implementation of snnTorch's computation."""
    from fpgrad.discrete import Surrogate

    net, problem, loss = exported_problem(graph, input_times, dt)
    method = Surrogate(dt=EXPORT_DT_MS, width=2.0 / SLOPE, reset="zero", detach_reset=True)
    res = fpgrad.gradient(problem, loss, method, params=None)
    return {"loss": float(res.loss), "grads": snntorch_names(net.nir_gradient(res.grad), graph)}


def chain_rule_check(
    graph: Any, input_times: list[np.ndarray], dt: float, exact: dict[str, np.ndarray]
) -> dict[str, dict[str, float]]:
    """Central differences (step ``FD_STEP``) of fpgrad's loss of the graph against the exact
    gradients of :func:`fpgrad_run` for a few entries of every key: this checks the spike-area
    scaling and the alpha/beta pull-back, which no fpgrad test covers (``beta`` moves the
    graph's ``tau_mem`` and ``r`` together, ``alpha`` its ``tau_syn`` and ``w_in``)."""
    import copy

    def loss_of(change: Any) -> float:
        g = copy.deepcopy(graph)
        change(g.nodes)
        return fpgrad_run(g, input_times, dt)["loss"]

    def setter(key: str, index: tuple[int, ...], step: float) -> Any:
        node, field = key.split(".")

        def change(nodes: dict[str, Any]) -> None:
            n = nodes[node]
            if field in ("weight", "v_threshold"):
                value = np.array(getattr(n, field), dtype=np.float64)
                value[index] += step
                setattr(n, field, value)
                return
            tau_field, gain_field = ("tau_mem", "r") if field == "beta" else ("tau_syn", "w_in")
            x = 1.0 - EXPORT_DT_S / np.asarray(getattr(n, tau_field), dtype=np.float64)
            x[index] += step
            tau = EXPORT_DT_S / (1.0 - x)
            setattr(n, tau_field, tau)
            setattr(n, gain_field, tau / EXPORT_DT_S)

        return change

    out = {}
    for key in KEYS:
        g = exact[key]
        index = np.unravel_index(int(np.argmax(np.abs(g))), g.shape)  # the largest entry
        # weights and 1 - alpha, 1 - beta scale with dt: so does the step
        h = FD_STEP if key.endswith("v_threshold") else FD_STEP * dt
        fd = (loss_of(setter(key, index, h)) - loss_of(setter(key, index, -h))) / (2.0 * h)
        out[key] = {
            "index": [int(i) for i in index],
            "exact": float(g[index]),
            "central_difference": float(fd),
            "rel_diff": float(abs(fd - g[index]) / abs(g[index])),
        }
    return out


def forward_agreement(raster: np.ndarray, trains: list[np.ndarray], dt: float) -> dict[str, Any]:
    """Spike counts per neuron and, for neurons with equal counts, the time differences of
    their sorted spikes (snnTorch's step time minus fpgrad's), in ms and in steps."""
    counts_fw = raster.sum(axis=0).astype(int)
    counts_fp = np.array([len(t) for t in trains])
    diffs = []
    for n, train in enumerate(trains):
        if counts_fw[n] == len(train):
            diffs.append(dt * np.flatnonzero(raster[:, n]) - np.sort(train))
    d = np.concatenate(diffs) if diffs else np.zeros(0)
    return {
        "spikes_framework": int(counts_fw.sum()),
        "spikes_fpgrad": int(counts_fp.sum()),
        "neurons_count_differs": int(np.sum(counts_fw != counts_fp)),
        "spikes_compared": int(d.size),
        # None (JSON null) where no neuron has equal counts on both sides
        "max_abs_dt_ms": float(np.max(np.abs(d))) if d.size else None,
        "median_abs_dt_ms": float(np.median(np.abs(d))) if d.size else None,
        "mean_dt_ms": float(np.mean(d)) if d.size else None,
        "max_abs_dt_steps": float(np.max(np.abs(d)) / dt) if d.size else None,
    }


# --------------------------------------------------------------------------------------------


def main(quick: bool = False) -> dict[str, Any]:
    dts = QUICK_DTS if quick else DTS
    prob = make_problem()
    versions = framework_versions()
    source = artifact_dir(quick) if versions else artifact_dir(False)
    per_dt = []
    for dt in dts:
        if versions:
            fw = snntorch_run(prob, dt)
            save_artifacts(source, dt, prob, fw)
        else:
            fw = load_artifacts(source, dt)
        fp = fpgrad_run(fw["graph"], prob["times"], dt)
        su = fpgrad_surrogate(fw["graph"], prob["times"], dt)
        forward = {
            lif: forward_agreement(fw[f"{key}_raster"], fp["trains"][lif], dt)
            for (_, lif), key in zip(LAYERS, ("hidden", "output"), strict=True)
        }
        per_dt.append(
            {
                "dt_ms": dt,
                "steps_per_tau_mem": TAU_MEM / dt,
                "loss_framework": fw["loss"],
                "loss_fpgrad": fp["loss"],
                "exact_degenerate": fp["degenerate"],
                "loss_fpgrad_surrogate": su["loss"],
                "forward": forward,
                "gradient": {k: agreement(fp["grads"][k], fw["grads"][k]) for k in KEYS},
                "fpgrad_surrogate_vs_snntorch": {
                    k: agreement(su["grads"][k], fw["grads"][k]) for k in KEYS
                },
                "fpgrad_surrogate_vs_exact": {
                    k: agreement(fp["grads"][k], su["grads"][k]) for k in KEYS
                },
            }
        )

    report: dict[str, Any] = {
        "config": {
            "sizes": [N_IN, N_HID, N_OUT],
            "tau_syn_ms": TAU_SYN,
            "tau_mem_ms": TAU_MEM,
            "threshold": THRESHOLD,
            "t_max_ms": T_MAX,
            "dts_ms": list(dts),
            "export_dt_s": EXPORT_DT_S,
            "loss": f"VanRossum(tau={VR_TAU} ms) of the outputs to {list(TARGETS)} ms",
            "surrogate": f"snntorch.surrogate.fast_sigmoid(slope={SLOPE})",
            "seed": SEED,
        },
        "framework": (
            {"available": True, "name": "snnTorch", **versions}
            if versions
            else {"available": False, "artifacts": str(source.relative_to(HERE.parent))}
        ),
        "per_dt": per_dt,
        "chain_rule_check": {
            "dt_ms": dts[-1],
            "fd_step": FD_STEP,
            "fd_step_note": "times dt/ms for weight, alpha, beta",
            "entries": chain_rule_check(fw["graph"], prob["times"], dts[-1], fp["grads"]),
        },
    }
    tables = make_tables(report)
    print_tables(tables)
    results.save("nir", report, quick, tables, figure)
    return report


def make_tables(report: dict[str, Any]) -> list[dict[str, Any]]:
    fw = report["framework"]
    who = (
        f"snnTorch {fw['snntorch']} (torch {fw['torch']}, nirtorch {fw['nirtorch']})"
        if fw["available"]
        else f"snnTorch not installed: its saved artifacts in `{fw['artifacts']}`"
    )
    rows_fwd = []
    for r in report["per_dt"]:
        for lif, f in r["forward"].items():
            rows_fwd.append(
                [
                    f"{r['dt_ms']:g}",
                    lif,
                    f["spikes_framework"],
                    f["spikes_fpgrad"],
                    f["neurons_count_differs"],
                    *(
                        "n/a" if f[k] is None else f"{f[k]:.3g}"
                        for k in ("median_abs_dt_ms", "max_abs_dt_ms", "max_abs_dt_steps")
                    ),
                ]
            )
        rows_fwd.append(
            [
                f"{r['dt_ms']:g}",
                "loss",
                f"{r['loss_framework']:.4g}",
                f"{r['loss_fpgrad']:.4g}",
                "",
                "",
                "",
                "",
            ]
        )
    dts = [r["dt_ms"] for r in report["per_dt"]]
    rows_grad = [
        [f"`{k}`", *(f"{r['gradient'][k]['cosine']:.3f}" for r in report["per_dt"])] for k in KEYS
    ]
    rows_cross = [
        [
            f"`{k}`",
            *(
                f"{r['fpgrad_surrogate_vs_snntorch'][k]['cosine']:.3f} / "
                f"{r['fpgrad_surrogate_vs_exact'][k]['cosine']:.3f}"
                for r in report["per_dt"]
            ),
        ]
        for k in KEYS
    ]
    rows_rel = [
        [f"`{k}`", *(f"{r['gradient'][k]['rel_error']:.2f}" for r in report["per_dt"])]
        for k in KEYS
    ]
    check = report["chain_rule_check"]
    rows_fd = [
        [
            f"`{k}{list(e['index'])}`",
            f"{e['exact']:.10g}",
            f"{e['central_difference']:.10g}",
            f"{e['rel_diff']:.1e}",
        ]
        for k, e in check["entries"].items()
    ]
    return [
        results.table(
            "nir-forward",
            f"{who}: forward pass of snnTorch against fpgrad's simulation of the exported graph "
            "(spikes per layer, neurons whose spike counts differ, largest spike-time difference "
            "where counts agree) and the loss on both sides",
            [
                "dt ms",
                "layer",
                "snnTorch",
                "fpgrad",
                "count differs",
                "median |dt| ms",
                "max |dt| ms",
                "max |dt| steps",
            ],
            rows_fwd,
        ),
        results.table(
            "nir-gradient",
            "Cosine of snnTorch's surrogate gradient to fpgrad's exact gradient of the exported "
            "graph, per `node.field` (alpha/beta: snnTorch's, fpgrad's by the chain rule), "
            "against snnTorch's step dt",
            ["", *(f"dt = {d:g} ms" for d in dts)],
            rows_grad,
        ),
        results.table(
            "nir-gradient-rel",
            "Relative error |g_snnTorch - g_exact| / |g_exact| of the same gradients",
            ["", *(f"dt = {d:g} ms" for d in dts)],
            rows_rel,
        ),
        results.table(
            "nir-surrogate-crosscheck",
            "fpgrad's own surrogate BPTT of the exported graph on snnTorch's grid (same "
            "surrogate and width, reset to zero, detached): cosine to snnTorch's gradient / to "
            "the exact gradient",
            ["", *(f"dt = {d:g} ms" for d in dts)],
            rows_cross,
        ),
        results.table(
            "nir-chain-rule",
            f"fpgrad's side checked: exact gradient in snnTorch's parameters (spike area and "
            f"alpha/beta chain rule) against central differences (step {check['fd_step']:g}, "
            "times dt/ms for weight, alpha, beta) of "
            f"fpgrad's loss of the exported graph, dt = {check['dt_ms']:g} ms, largest entry",
            ["entry", "exact", "central difference", "rel. diff"],
            rows_fd,
        ),
    ]


def print_tables(tables: list[dict[str, Any]]) -> None:
    for t in tables:
        print(f"\n{t['title']}")
        widths = [
            max(len(str(c)), *(len(str(r[i])) for r in t["rows"]))
            for i, c in enumerate(t["columns"])
        ]
        print("  ".join(f"{c!s:>{w}}" for c, w in zip(t["columns"], widths, strict=True)))
        for row in t["rows"]:
            print("  ".join(f"{c!s:>{w}}" for c, w in zip(row, widths, strict=True)))


def figure(report: dict[str, Any]):
    """Cosine per ``node.field`` against dt (left); the forward passes' median spike-time
    difference and the neurons whose counts differ (right; the largest difference is in the
    table)."""
    plt = results.pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
    dts = np.array([r["dt_ms"] for r in report["per_dt"]])
    for k in KEYS:
        ax.plot(dts, [r["gradient"][k]["cosine"] for r in report["per_dt"]], "o-", label=k)
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.set_xlabel("snnTorch time step dt (ms)")
    ax.set_ylabel("cosine(snnTorch surrogate, fpgrad exact)")
    ax.set_title("gradient per NIR node.field")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    for (_, lif), marker in zip(LAYERS, ("o", "s"), strict=True):
        f = [r["forward"][lif] for r in report["per_dt"]]
        bx.plot(
            dts,
            [np.nan if x["median_abs_dt_ms"] is None else x["median_abs_dt_ms"] for x in f],
            marker + "-",
            label=f"{lif}: median |dt| (ms)",
        )
        bx.plot(
            dts,
            [x["neurons_count_differs"] for x in f],
            marker + "--",
            label=f"{lif}: neurons whose spike count differs",
        )
    bx.plot(dts, dts, "k:", label="one step (ms)")
    bx.set_xscale("log")
    bx.invert_xaxis()
    bx.set_xlabel("snnTorch time step dt (ms)")
    bx.set_ylabel("ms, or number of neurons")
    bx.set_title("forward: snnTorch against fpgrad's simulation of the graph")
    bx.grid(alpha=0.3)
    bx.legend(fontsize=8)
    mode = "quick" if report.get("quick") else "full"
    fig.suptitle(f"snnTorch -> NIR -> fpgrad, 20-30-5 CubaLIF, van Rossum loss ({mode} run)")
    return fig


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)

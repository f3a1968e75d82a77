"""Keeps ``benchmarks/bench_simulator.py`` from rotting: a tiny configuration, fpgrad only.

No timing assertions and no NEST (a benchmark-only dependency); the model-2 parts (delays,
delta synapses, the NEST delay mapping), ``benchmarks/compare_revisions.py`` (this checkout
against itself, in two subprocesses) and ``benchmarks/bench_online.py`` (in this process) run in
a tiny configuration too; the suite runner's discovery and ``benchmarks/report.py`` (results
contract, README rendering) are checked without running any benchmark.
"""

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def _load(name: str):
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))  # the benchmarks import report.py as the runner does
    spec = importlib.util.spec_from_file_location(f"_smoke_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return _load("bench_simulator")


def test_tiny_simulator_benchmark_runs_without_nest(bench):
    cfg = dataclasses.replace(
        bench.FULL,
        n_neurons=30,
        n_inputs=30,
        input_synapses=10,
        recurrent_synapses=10,
        input_weight=0.05,
        t_max=50.0,
        ff_batch=3,
        ff_t_max=30.0,
        repeats=1,
        threads=2,
        scan_sizes=(20, 40),
        scan_rates_hz=(20.0, 30.0),
        scan_t_max=30.0,
    )
    report = bench.run(cfg, use_nest=False)
    json.dumps(report)  # the JSON the benchmark writes
    assert not report["nest"]["available"]
    for key in ("recurrent", "input_driven"):
        fp = report[key]["fpgrad"]
        assert fp["synaptic_events"] > 0 and fp["events_per_s"] > 0
    assert report["input_driven"]["n_synapses"] == 30 * 10
    ff = report["feedforward"]
    assert ff["batch"] == 3 and ff["fpgrad_1_threads"]["synaptic_events"] > 0
    assert "fpgrad_2_threads" in ff
    text = bench.format_report(report)
    assert "fpgrad, 1 thread" in text and "NEST not requested" in text
    # size scan at the input rate of (a), activity scan at its size: (20|40, 20) and (30, 30)
    assert sorted((x["n_neurons"], x["input_rate_hz"]) for x in report["scan"]) == [
        (20, 20.0),
        (30, 20.0),
        (30, 30.0),
        (40, 20.0),
    ]
    # delays: the same network with delays 0 and uniform in [0, delay_max]
    d = report["delays"]
    assert d["zero"]["max_in_flight"] == 0 < d["uniform"]["max_in_flight"]
    assert d["zero"]["events_per_s"] > 0 and d["uniform"]["events_per_s"] > 0
    assert d["ratio_delayed_over_zero"] > 0 and d["uniform"]["delay_ms"] == [0.0, 10.0]
    # model 2 against NEST: the fpgrad half of every case runs without NEST
    m = report["model2_nest"]
    assert list(m) == [key for key, *_ in bench.MODEL2_CASES]
    for case in m.values():
        assert case["fpgrad"]["synaptic_events"] > 0 and "nest_1_threads" not in case
    assert m["delta_recurrent"]["tau_syn"] == 0 and m["delays_recurrent"]["delay_ms"][1] <= 10.0
    assert "delays uniform in [0, 10] ms" in text and "NEST unavailable: fpgrad only" in text
    ids = [t["id"] for t in bench.tables(report)]
    # no NEST: no agreement tables
    assert ids == ["simulator-throughput", "simulator-delays", "simulator-model2", "simulator-scan"]


def test_model2_problems_and_nest_delays(bench):
    import numpy as np

    cfg = dataclasses.replace(
        bench.FULL, n_neurons=30, n_inputs=30, input_synapses=10, recurrent_synapses=10, t_max=50.0
    )
    base = bench.recurrent_problem(cfg)
    grid = bench.with_delays(base, cfg, grid=True)
    net = grid.network
    np.testing.assert_array_equal(net.weight, base.network.weight)  # same weights
    steps = net.delay / bench.H
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-9)  # multiples of h
    from_input = net.pre < net.n_inputs
    assert net.delay.max() <= cfg.delay_max and net.delay[~from_input].min() >= bench.H
    assert net.delay[from_input].min() == 0
    # NEST: inputs get h + d (their generators fire h early), neurons d (at least h)
    nest_d = bench.nest_delays(net)
    np.testing.assert_allclose(nest_d[from_input], bench.H + net.delay[from_input])
    np.testing.assert_array_equal(nest_d[~from_input], net.delay[~from_input])
    np.testing.assert_array_equal(bench.nest_delays(base.network)[~from_input], bench.H)
    uniform = bench.with_delays(base, cfg).network.delay
    assert 0 <= uniform.min() and uniform.max() <= cfg.delay_max and len(set(uniform)) > 100
    delta = bench.model2_problem(cfg, True, True, True)
    np.testing.assert_array_equal(delta.network.tau_syn, 0.0)
    np.testing.assert_allclose(delta.network.weight, cfg.delta_weight_scale * net.weight)
    np.testing.assert_array_equal(delta.network.delay, net.delay)
    # two arrivals at one instant from different presynaptic spikes: a tie
    import fpgrad

    tie = fpgrad.Network(
        n_inputs=2, n_neurons=1, tau_syn=0.0, tau_mem=10.0, threshold=1.0,
        pre=[0, 1, 1], post=[2, 2, 2], weight=[0.5, 0.6, -0.1], delay=[1.0, 0.5, 0.5],
    )  # fmt: skip
    problem = fpgrad.Problem(tie, ([1.0], [1.5]), 10.0)
    result = fpgrad.simulate(problem)
    assert list(result.spike_time) == [2.0]
    assert bench.simultaneous_arrivals(problem, result, 0, 2.0) == 2
    assert bench.simultaneous_arrivals(problem, result, 0, 1.9) == 0
    # an arrival exactly at the end of the refractory period (held on (f, f + t_ref]): ignored
    held = fpgrad.Network(
        n_inputs=2, n_neurons=1, tau_syn=0.0, tau_mem=10.0, threshold=1.0, t_ref=0.5,
        pre=[0, 1], post=[2, 2], weight=[1.2, 0.3], delay=[0.0, 0.5],
    )  # fmt: skip
    problem = fpgrad.Problem(held, ([1.0], [1.0]), 10.0)
    result = fpgrad.simulate(problem)
    assert list(result.spike_time) == [1.0]
    assert bench.ties(problem, result, 0, 5.0) == {
        "simultaneous_arrivals": 0,
        "arrivals_at_refractory_end": 1,
    }
    assert "an arrival at the end of t_ref" in bench._cause(
        {"kind": "extra", "fpgrad_ms": 2.0, "nest_ms": 1.5, **bench.ties(problem, result, 0, 5.0)}
    )


def test_compare_revisions_runs_on_this_checkout_twice():
    """The revision comparison in miniature: this checkout as both revisions, each imported in
    its own subprocess (its own Numba cache: warm from the test session)."""
    compare = _load("compare_revisions")
    report = compare.compare(
        compare.ROOT, compare.ROOT, repeats=2, quick=True, t_max=20.0, isolate_cache=False
    )
    json.dumps(report)
    assert report["same_spikes"]
    for key in ("old", "new"):
        x = report[key]
        assert Path(x["fpgrad"]).resolve().is_relative_to(compare.ROOT)
        assert len(x["wall_all_s"]) == 2 and x["synaptic_events"] > 0 and x["events_per_s"] > 0
    assert report["ratio_new_over_old_cpu"] > 0
    assert "new / old throughput" in compare.format_report(report)
    (table,) = compare.tables(report)
    assert table["id"] == "simulator-revisions" and len(table["rows"]) == 3


def test_compare_trains_classifies_disagreements(bench):
    import numpy as np

    fp = (np.array([0, 0, 1, 2]), np.array([1.0, 5.0, 2.0, 3.0]))
    ns = (np.array([0, 1, 1, 2]), np.array([1.0 + 1e-12, 2.0, 7.0, 3.0]))
    out = bench.compare_trains(fp, ns, 3)
    assert out["neurons_agree"] == 1 and out["spike_counts_match"]
    kinds = {x["neuron"]: x["kind"] for x in out["first_disagreements"]}
    assert kinds == {0: "missed", 1: "extra"}


def test_runner_discovers_the_benchmarks():
    run = _load("run")
    names = [run.bench_name(p) for p in run.discover()]
    assert {"simulator", "gradients", "online"} <= set(names)


@pytest.fixture(scope="module")
def renderer():
    return _load("report")


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def test_report_renders_markers_full_before_quick(renderer, tmp_path):
    root = tmp_path / "results"
    machine = {"cpu_model": "CPU X", "cpu_family_model": "family 1, model 2", "cores": 2}
    full = renderer.table("t-both", "Both", ["", "s"], [["full", "1.5"]])
    _write(
        root / "alpha.json",
        {"quick": False, "date": "D1", "machine": machine, "tables": [full]},
    )
    quick_tables = [
        renderer.table("t-both", "Both", ["", "s"], [["quick", "9.9"]]),
        renderer.table("t-quick", "Only quick", ["name", "n"], [["a|b", 1234], ["c", 0.5]]),
        renderer.table("t-orphan", "No marker", ["x"], [[1]]),
    ]
    _write(root / "quick" / "alpha.json", {"quick": True, "date": "D2", "tables": quick_tables})
    (root / "quick" / "alpha.png").write_bytes(b"png")
    text = (
        "intro\n<!-- table:t-both -->\nold\n<!-- /table:t-both -->\nmiddle prose\n"
        "<!-- table:t-quick -->\n<!-- /table:t-quick -->\n"
        "<!-- table:t-none -->\nkeep me\n<!-- /table:t-none -->\n"
        "<!-- figure:alpha -->\n<!-- /figure:alpha -->\nend\n"
    )
    new, what = renderer.render(text, renderer.load_sources(root), root)
    both = new.split("<!-- table:t-both -->\n")[1].split("<!-- /table:t-both -->")[0]
    assert "| full | 1.5 |" in both and "quick" not in both  # the full run wins
    assert "full run, D1, CPU X (family 1, model 2), 2 cores: `results/alpha.json`" in both
    only_quick = new.split("<!-- table:t-quick -->\n")[1].split("<!-- /table:t-quick -->")[0]
    assert "quick run (`--quick`), D2, machine unknown: `results/quick/alpha.json`" in only_quick
    assert "| name | n |\n|---|---:|\n| a\\|b | 1,234 |\n| c | 0.5 |" in only_quick
    assert "<!-- table:t-none -->\nkeep me\n<!-- /table:t-none -->" in new  # left unchanged
    assert "![alpha (quick run)](results/quick/alpha.png)" in new
    assert new.startswith("intro\n") and "\nmiddle prose\n" in new and new.endswith("end\n")
    assert what.missing == ["table:t-none"] and what.unplaced == ["table:t-orphan"]
    assert sorted(what.replaced) == ["figure:alpha", "table:t-both", "table:t-quick"]
    assert renderer.render(new, renderer.load_sources(root), root)[0] == new  # idempotent


def test_report_save_writes_quick_results_apart(renderer, tmp_path):
    tab = renderer.table("t", "T", ["a"], [[1]])
    path = renderer.save("beta", {"value": 1}, True, [tab], root=tmp_path)
    assert path == tmp_path / "quick" / "beta.json"
    data = json.loads(path.read_text())
    assert data["quick"] and data["tables"] == [tab] and data["value"] == 1
    assert {"date", "machine"} <= data.keys() and not (tmp_path / "beta.json").exists()
    with pytest.raises(ValueError, match=r"row .* has 2 cells, expected 1"):
        renderer.table("t", "T", ["a"], [[1, 2]])


def test_tiny_online_benchmark_runs_in_process(tmp_path):
    """``bench_online.py`` in miniature, in this process (no subprocesses, no timing
    assertions): the JSON and tables' structure, the refused reverse run, and online memory
    that does not grow with the duration."""
    import numpy as np

    import fpgrad

    online = _load("bench_online")
    net = online.Net(
        n_neurons=30, n_inputs=30, input_synapses=10, recurrent_synapses=10,
        input_weight=0.06, recurrent_weight=0.02,
    )  # fmt: skip
    cfg = dataclasses.replace(
        online.QUICK,
        net=net,
        durations_s=(0.2, 2.0),
        window_s=0.5,
        repeats=1,
        reverse_cap_gib=0.2 / 1024,  # 0.2 MiB: the 2 s reverse run (about 0.4 MiB) is refused
        scan_net=dataclasses.replace(net, n_neurons=8),
        scan_t_max_s=0.5,
        scan_groups=(("threshold",), ("threshold", "tau_mem"), ("weight",)),
        scan_repeats=1,
        large_net=net,
        large_t_max_s=0.5,
        isolate=False,
    )
    report = online.run(cfg)
    json.dumps(report)  # the JSON the benchmark writes
    short, long = report["duration"]
    assert (short["duration_s"], long["duration_s"]) == (0.2, 2.0)
    assert long["n_synaptic_events"] > 5 * short["n_synaptic_events"] > 0
    assert short["online"]["n_columns"] == 30 and short["same_spikes"]
    assert short["rel_diff"] < 1e-9 and short["reverse"]["peak_mib"] >= 0
    assert "refused" in long["reverse"] and "rel_diff" not in long
    assert long["reverse_estimate_bytes"] > cfg.reverse_cap_gib * 2**30
    # online memory stays flat: in-process figures are noisy, hence a generous bound
    assert long["online"]["peak_mib"] <= 4 * short["online"]["peak_mib"] + 2.0
    assert long["online_model_bytes"] <= 1.5 * short["online_model_bytes"]
    par = report["parameters"]
    assert [r["P"] for r in par["rows"]] == [8, 16, 160]
    assert all(r["rel_diff"] < 1e-9 for r in par["rows"])
    assert {"crossover_p", "fit_online_cpu_s", "online_intercept_ns_per_event"} <= par.keys()
    assert online.crossover([10, 100], [1.0, 3.0], [2.0, 2.0]) == pytest.approx(
        10 * 10 ** (np.log(2) / np.log(3))
    )
    assert online.crossover([10, 100], [3.0, 4.0], [2.0, 2.0]) is None
    large = report["large"]
    rows = large["online"]["n_input_spikes"] + large["online"]["n_spikes"]
    assert large["record_rows"] == rows
    est = large["estimates"]
    assert est["replayed_fp_same_p"]["bytes"] == 8 * 30 * (rows + 60)
    assert est["replayed_fp_all_weights"]["P"] == net.n_synapses == 600
    assert est["replayed_fp_same_p"]["refused"] is None  # tiny: fits
    tabs = online.tables(report)
    assert [t["id"] for t in tabs] == ["online-duration", "online-parameters", "online-large"]
    assert tabs[0]["rows"][1][5].startswith("refused (needs ")
    assert "crossover" in tabs[1]["rows"][-1][0] or "pays off" in tabs[1]["rows"][-1][0]
    online.figure(report).savefig(tmp_path / "online.png")
    # the benchmark's two paths are the public methods' (windows: the stream, bit for bit)
    problem, loss = online.build_problem(net, 300.0), online.make_loss(net)
    rev = online.reverse_gradient(problem, loss, ("threshold",))
    ref = fpgrad.ExactReverse().gradient(problem, loss, params=["threshold"])
    np.testing.assert_array_equal(rev["grad"], ref.grad.flat())
    fwd = online.online_gradient(problem, loss, ("threshold",), 512, 100.0)
    one = fpgrad.ExactForward(online=True).gradient(problem, loss, params=["threshold"])
    np.testing.assert_allclose(fwd["grad"], one.grad.flat(), rtol=1e-12, atol=1e-15)
    assert fwd["n_spikes"] == ref.result.n_spikes


def test_nir_benchmark_fpgrad_half_on_the_saved_snntorch_export():
    """``bench_nir.py``'s fpgrad half on the committed snnTorch artifacts (no torch here): the
    graphs of two time steps are one network on scaled clocks, so their exact losses agree; the
    spike-area scaling and the alpha/beta chain rule agree with central differences of fpgrad's
    loss of the graph; and the saved rasters are those of a network that fires."""
    pytest.importorskip("nir")
    import numpy as np

    nirb = _load("bench_nir")
    prob = nirb.make_problem()
    directory = nirb.artifact_dir(quick=False)
    runs = {}
    for dt in (1.0, 0.25):
        saved = nirb.load_artifacts(directory, dt)
        assert set(saved["grads"]) == set(nirb.KEYS)
        runs[dt] = (saved, nirb.fpgrad_run(saved["graph"], prob["times"], dt))
    (saved, coarse), (_, fine) = runs[1.0], runs[0.25]
    assert coarse["loss"] == pytest.approx(fine["loss"], rel=1e-9)
    assert coarse["loss"] > 1.0 and not coarse["degenerate"]
    fwd = nirb.forward_agreement(saved["output_raster"], coarse["trains"]["lif2"], 1.0)
    assert fwd["spikes_framework"] > 20 and fwd["spikes_fpgrad"] > 20
    check = nirb.chain_rule_check(saved["graph"], prob["times"], 1.0, coarse["grads"])
    assert set(check) == set(nirb.KEYS)
    assert max(e["rel_diff"] for e in check.values()) < 1e-5, check
    assert np.all(np.isfinite(coarse["grads"]["lif1.beta"]))


def test_tiny_batch_benchmark_runs_in_process():
    """``bench_batch.py`` on batches of 3 (no timing assertions): every workload measured, the
    tables' shape, and the samples it times really are the workload's."""
    batch = _load("bench_batch")
    cfg = dataclasses.replace(batch.QUICK, batch=3, batches=(3,), repeats=1)
    report = batch.run(cfg)
    names = [w["name"] for w in report["workloads"]]
    assert names == ["jaxsnn 100-100-10", "4000-event 40-100-10", "yinyang 5-200-3"]
    for w in report["workloads"]:
        assert w["synaptic_events_per_sample"] > 0 and w["kernel_us_per_sample"] > 0
        assert w["python_overhead"] < 1.0 and [t["batch"] for t in w["threads"]] == [3]
    cost, threads = batch.tables(report)
    assert len(cost["rows"]) == 3 and len(threads["rows"]) == 3
    assert all(len(row) == len(cost["columns"]) for row in cost["rows"])
    work = batch.events_workload(5)
    inputs, losses = work.take(7)  # cycles through the workload's samples
    assert inputs[5] is work.inputs[0] and losses[6] is work.losses[1]

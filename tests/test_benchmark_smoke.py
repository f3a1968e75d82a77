"""Keeps ``benchmarks/bench_simulator.py`` from rotting: a tiny configuration, fpgrad only.

No timing assertions and no NEST (a benchmark-only dependency); the suite runner's discovery and
``benchmarks/report.py`` (results contract, README rendering) are checked too, without running
any benchmark.
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
    ids = [t["id"] for t in bench.tables(report)]
    assert ids == ["simulator-throughput", "simulator-scan"]  # no NEST: no agreement tables


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
    assert "simulator" in names


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

"""Keeps ``benchmarks/bench_simulator.py`` from rotting: a tiny configuration, fpgrad only.

No timing assertions and no NEST (a benchmark-only dependency); the suite runner's discovery is
checked too.
"""

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def _load(name: str):
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

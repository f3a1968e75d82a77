"""Batches and training on a Dask cluster (``client=``) equal the in-process run bit for bit.

One ``LocalCluster`` of two worker processes on loopback serves the module; the fault tests
start in-process clusters of their own (closing one is the test). "Identical" is byte equality
of every float array (``-0.0`` and ``0.0`` differ, as do NaN payloads), not a tolerance: the
distributed path promises the in-process bits (:mod:`fpgrad._distributed`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import fpgrad
from fpgrad import InputBatch
from fpgrad.event._simulate import compile_network
from fpgrad.grad._batch import (
    FirstSpikeLosses,
    combine_samples,
    first_spike_batch,
    first_spike_samples,
)

distributed = pytest.importorskip("distributed")

#: The schedulers' HTTP servers (always started; ``dashboard_address=None`` still binds port
#: 8787, which a second cluster, or another job's, then finds taken and warns about): loopback,
#: a free port.
LOOPBACK_ANY_PORT = "127.0.0.1:0"


ROOT = Path(__file__).resolve().parents[1]


def test_import_fpgrad_does_not_import_dask():
    code = "import sys, fpgrad; assert not {'dask', 'distributed'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    assert issubclass(fpgrad.ClusterError, fpgrad.ProblemError)


def same(a: Any, b: Any) -> bool:
    """Byte equality of two arrays (shape and dtype included)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def assert_identical(got: fpgrad.BatchGradient, want: fpgrad.BatchGradient) -> None:
    assert same(got.loss, want.loss)
    assert same(got.losses, want.losses)
    assert same(got.first_spike_time, want.first_spike_time)
    assert same(got.degenerate, want.degenerate)
    assert got.method == want.method
    assert (got.grad is None) == (want.grad is None)
    if want.grad is not None:
        for name, value in want.grad.groups().items():
            assert same(getattr(got.grad, name), value), name
    assert (got.samples is None) == (want.samples is None)
    if want.samples is not None:
        assert len(got.samples) == len(want.samples)
        for g, w in zip(got.samples, want.samples, strict=True):
            assert same(g.loss, w.loss) and g.degenerate == w.degenerate
            for name, value in w.grad.groups().items():
                assert same(getattr(g.grad, name), value), name
            assert same(g.result.spike_time, w.result.spike_time)
            assert same(g.result.spike_node, w.result.spike_node)


def model1(seed: int = 0) -> tuple[fpgrad.Network, list, float]:
    """4-12-3 current-synapse network, 12 Poisson samples (model 1)."""
    rng = np.random.default_rng(seed)
    net = fpgrad.random_feedforward_network(
        [4, 12, 3], rng, weight_mean=(0.9, 0.7), weight_std=(0.4, 0.3)
    )
    inputs = [fpgrad.poisson_inputs(4, 120.0, 20.0, rng) for _ in range(12)]
    return net, inputs, 30.0


def model2(seed: int = 1) -> tuple[fpgrad.Network, list, float]:
    """4-10-3 model-2 network: delays, biases, reset values, refractoriness, delta synapses."""
    rng = np.random.default_rng(seed)
    n = 13
    net = fpgrad.random_feedforward_network(
        [4, 10, 3], rng, weight_mean=(0.8, 0.7), weight_std=(0.4, 0.3), delay=(0.0, 3.0),
        tau_syn=np.where(np.arange(n) % 4 == 0, 0.0, 5.0), bias=rng.uniform(0.0, 0.04, n),
        v_reset=rng.uniform(-0.3, 0.2, n), t_ref=0.5,
    )  # fmt: skip
    inputs = [fpgrad.poisson_inputs(4, 120.0, 20.0, rng) for _ in range(10)]
    return net, inputs, 30.0


def cross_entropies(n: int, m: int) -> list:
    return [fpgrad.FirstSpikeCrossEntropy(tuple(range(m - 3, m)), b % 3) for b in range(n)]


def mses(n: int, m: int) -> list:
    return [fpgrad.FirstSpikeMSE(tuple(range(m - 3, m)), (8.0, 10.0, 12.0)) for _ in range(n)]


def van_rossums(n: int, m: int) -> list:
    return [fpgrad.VanRossum({m - 1: (6.0, 14.0)}) for _ in range(n)]


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=LOOPBACK_ANY_PORT,
        ) as cluster,
        distributed.Client(cluster) as c,
    ):  # fmt: skip
        yield c


def test_fused_reduction_from_samples_equals_the_threaded_kernel():
    """No cluster: the per-sample kernel runs reduced on the driver (what a distributed fused
    batch does) give the threaded fused path's bits for 1, 2 and 5 threads, with clipping too."""
    net, inputs, t_max = model1()
    data = InputBatch(inputs)
    losses = cross_entropies(len(inputs), net.n_nodes)
    args = (compile_network(net), data.merged(), data.index, FirstSpikeLosses.of(losses), t_max)
    groups = ("weight", "threshold", "tau_mem", "bias")
    for clip in (0.0, 0.05):
        opts = {"groups": groups, "sample_clip": clip, "max_spikes": 10**6}
        samples = first_spike_samples(*args, **opts)
        for threads in (1, 2, 5):
            want = first_spike_batch(*args, **opts, n_threads=threads)
            got = combine_samples(samples, groups=groups, max_spikes=10**6, n_threads=threads)
            assert np.abs(want[3]["weight"]).max() > 0
            for g, w in zip(got[:3], want[:3], strict=True):
                assert same(g, w)
            for name in groups:
                assert same(got[3][name], want[3][name]), (clip, threads, name)


@pytest.mark.parametrize("problem", [model1, model2])
def test_simulate_batch_is_identical(client, problem):
    net, inputs, t_max = problem()
    want = fpgrad.simulate_batch(net, inputs, t_max, n_threads=2)
    got = fpgrad.simulate_batch(net, inputs, t_max, n_threads=2, client=client)
    assert len(got) == len(want)
    assert sum(r.spike_time.size for r in want) > len(want)
    for g, w in zip(got, want, strict=True):
        assert g.problem.network is net
        for field in ("spike_node", "spike_time", "record_node", "record_time", "record_cause"):
            assert same(getattr(g, field), getattr(w, field)), field
        assert g.n_synaptic_events == w.n_synaptic_events and g.degeneracy == w.degeneracy


@pytest.mark.parametrize(
    ("problem", "losses"),
    [(model1, cross_entropies), (model1, mses), (model2, cross_entropies), (model2, mses),
     (model2, van_rossums)],  # model 1's many spikes make van Rossum slow, in process too
)  # fmt: skip
def test_gradient_batch_is_identical(client, problem, losses):
    net, inputs, t_max = problem()
    batch_losses = losses(len(inputs), net.n_nodes)
    for threads, clip in ((2, 0.0), (3, 0.2)):
        opts = {"n_threads": threads, "sample_clip": clip}
        want = fpgrad.gradient_batch(net, inputs, t_max, batch_losses, **opts)
        got = fpgrad.gradient_batch(net, inputs, t_max, batch_losses, **opts, client=client)
        assert np.abs(want.grad.weight).max() > 0
        assert_identical(got, want)


def test_exact_forward_and_fused_forward_only_are_identical(client):
    net, inputs, t_max = model2()
    losses = mses(len(inputs), net.n_nodes)
    method = fpgrad.ExactForward()
    params = ("threshold", "delay", "input_time")
    want = method.batch(net, inputs, t_max, losses, params=params)
    assert_identical(method.batch(net, inputs, t_max, losses, params=params, client=client), want)
    ce = cross_entropies(len(inputs), net.n_nodes)
    want = fpgrad.gradient_batch(net, inputs, t_max, ce, params=())
    assert want.grad is None
    assert_identical(fpgrad.gradient_batch(net, inputs, t_max, ce, params=(), client=client), want)


def test_train_iterates_are_identical(client):
    from fpgrad.data import load_yinyang
    from fpgrad.train import TrainConfig, train

    data = load_yinyang("train").subset(np.arange(40))
    val = load_yinyang("validation").subset(np.arange(20))
    config = TrainConfig(hidden=(12,), epochs=2, batch_size=10, t_ref=0.0, lr=5e-3, ema=0.9)
    runs = [
        train(config, data, val, val, n_threads=2, progress=False, client=c) for c in (None, client)
    ]
    want, got = runs
    for name, value in want.params.arrays().items():
        assert same(getattr(got.params, name), value), name
    assert np.isfinite(want.history[-1]["train_loss"]) and np.abs(want.params.weight).max() > 0
    keys = ("train_loss", "train_acc", "val_loss", "val_acc", "bumped_neurons")
    assert [[r[k] for k in keys] for r in got.history] == [
        [r[k] for k in keys] for r in want.history
    ]
    assert same(got.test.pred, want.test.pred)


def test_cli_train_with_a_scheduler_takes_the_same_steps(client, tmp_path, capsys):
    from fpgrad._distributed import _CLIENTS
    from fpgrad.cli import main

    address = client.scheduler.address
    common = ["train", "digits", "--epochs", "1", "--hidden", "6", "--batch-size", "64"]
    common += ["--no-progress", "--threads", "2"]
    try:
        assert main([*common, "--out-dir", str(tmp_path / "here")]) == 0
        assert main([*common, "--out-dir", str(tmp_path / "there"), "--scheduler", address]) == 0
    finally:
        opened = _CLIENTS.pop(address, None)
        if opened is not None:
            opened.close()
    capsys.readouterr()
    here, there = (np.load(tmp_path / d / "checkpoint.npz") for d in ("here", "there"))
    assert sorted(here.files) == sorted(there.files) and "opt_1" in here.files
    for name in here.files:  # parameters, optimizer state, generator state, config
        assert same(here[name], there[name]), name


@dataclass(frozen=True)
class KillOnce:
    """A loss that kills the worker process evaluating it, once (the first to create
    ``marker``), then behaves as ``inner``."""

    inner: Any
    marker: str

    def value_and_spike_grad(self, result):
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return self.inner.value_and_spike_grad(result)
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")


def test_a_worker_killed_mid_batch_costs_a_retry_not_a_sample(client, tmp_path):
    net, inputs, t_max = model1(seed=3)
    inner = mses(len(inputs), net.n_nodes)
    marker = str(tmp_path / "killed")
    before = set(client.scheduler_info()["workers"])
    spent = str(tmp_path / "spent")  # an existing marker: these losses behave as inner
    open(spent, "w").close()
    # the same (per-sample) route as the killing losses below take
    want = fpgrad.gradient_batch(
        net, inputs, t_max, [KillOnce(lo, spent) for lo in inner], n_threads=2
    )
    losses = [KillOnce(lo, marker) for lo in inner]
    got = fpgrad.gradient_batch(net, inputs, t_max, losses, n_threads=2, client=client)
    assert os.path.exists(marker)  # a worker did die
    assert_identical(got, want)
    assert len(got.samples) == len(inputs)
    client.wait_for_workers(2, timeout=60)
    assert set(client.scheduler_info()["workers"]) != before  # the nanny restarted it


def small_cluster():
    return distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1",
        dashboard_address=LOOPBACK_ANY_PORT,
    )  # fmt: skip


@dataclass(frozen=True)
class Slow:
    """``inner``, a quarter of a second late."""

    inner: Any

    def value_and_spike_grad(self, result):
        time.sleep(0.25)
        return self.inner.value_and_spike_grad(result)


def test_a_closed_cluster_is_a_clear_error_not_a_hang():
    net, inputs, t_max = model1()
    losses = mses(len(inputs), net.n_nodes)
    # the cluster goes away during a batch (12 samples of 0.25 s on one thread)
    cluster = small_cluster()
    client = distributed.Client(cluster.scheduler_address)
    slow = [Slow(lo) for lo in losses]
    threading.Timer(0.8, cluster.close).start()
    start = time.monotonic()
    with pytest.raises(fpgrad.ClusterError, match=r"went away|not connected") as err:
        fpgrad.gradient_batch(net, inputs, t_max, slow, client=client)
    assert time.monotonic() - start < 20 and "\n" not in str(err.value)
    # and a client whose cluster is closed before the call
    start = time.monotonic()
    with pytest.raises(fpgrad.ClusterError, match="not connected") as err:
        fpgrad.simulate_batch(net, inputs, t_max, client=client)
    assert time.monotonic() - start < 5 and "\n" not in str(err.value)
    client.close()


def test_bad_addresses_and_clients_are_one_line_errors():
    import dask

    net, inputs, t_max = model1()
    losses = mses(len(inputs), net.n_nodes)
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        for address in ("tcp://127.0.0.1:9", "no-such-scheme://x"):
            with pytest.raises(fpgrad.ClusterError, match="cannot reach a Dask scheduler") as err:
                fpgrad.gradient_batch(net, inputs, t_max, losses, client=address)
            assert address in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(fpgrad.ProblemError, match=r"expected a dask\.distributed\.Client"):
        fpgrad.simulate_batch(net, inputs, t_max, client=8786)


def test_surrogate_batches_are_refused_on_a_cluster():
    from fpgrad.discrete import Surrogate

    net, inputs, t_max = model1()
    losses = cross_entropies(len(inputs), net.n_nodes)
    with pytest.raises(fpgrad.ProblemError, match="cannot be split over a Dask cluster"):
        Surrogate().batch(net, inputs, t_max, losses, client="tcp://127.0.0.1:9")


def test_cli_train_with_an_unreachable_scheduler_exits_2(capsys):
    import dask

    from fpgrad.cli import main

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        code = main(["train", "digits", "--scheduler", "tcp://127.0.0.1:9", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("fpgrad: error: client: cannot reach a Dask scheduler")
    assert err.count("\n") == 1


# --- sweeps: fpgrad.compare, forward_convergence, the benchmark sweeps ------------------------

#: The grid step and surrogates of the compare tests: two configurations (each compiles its
#: BPTT, here and on a worker), the second reusing the first's forward pass.
SWEEP_DTS, SWEEP_SURROGATES = (1.0,), ("fast_sigmoid", "gaussian")
#: Row keys that are timings, measured wherever the work ran.
TIMINGS = ("bptt_time_s", "exact_time_s")


def same_value(a: Any, b: Any) -> bool:
    """Bit equality of two row values (floats by their bytes: NaN equals its own payload)."""
    if isinstance(a, float) or isinstance(b, float):
        return type(a) is type(b) and same(a, b)
    return type(a) is type(b) and a == b


def assert_same_rows(got: list[dict], want: list[dict], skip: tuple[str, ...] = ()) -> None:
    assert len(got) == len(want) and want
    for g, w in zip(got, want, strict=True):
        assert list(g) == list(w)
        for key in w:
            if key not in skip:
                assert same_value(g[key], w[key]), (w.get("dt"), w.get("surrogate"), key)


def load_benchmark(name: str):
    """``benchmarks/NAME.py`` as the suite runner loads it: by path, under a name the workers
    cannot import, with ``benchmarks/`` on the driver's path for its own imports."""
    bench = str(ROOT / "benchmarks")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    spec = importlib.util.spec_from_file_location(f"_cluster_{name}", f"{bench}/{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sweep_problem():
    """test_compare's small problem with a van Rossum loss, and its in-process comparison."""
    pytest.importorskip("jax")
    from test_compare import SMALL, TARGETS

    problem = fpgrad.problem_from_dict(SMALL)
    loss = fpgrad.VanRossum(TARGETS, tau=5.0)
    want = fpgrad.compare(problem, loss, dts=SWEEP_DTS, surrogates=SWEEP_SURROGATES, repeats=1)
    return problem, loss, want


def test_compare_on_a_cluster_is_identical(client, sweep_problem):
    problem, loss, want = sweep_problem
    got = fpgrad.compare(
        problem, loss, dts=SWEEP_DTS, surrogates=SWEEP_SURROGATES, repeats=1, client=client
    )
    assert [(r["dt"], r["surrogate"]) for r in got.rows] == [
        (dt, s) for dt in SWEEP_DTS for s in SWEEP_SURROGATES
    ]
    assert abs(want.rows[0]["cosine_weight"]) > 0 and want.rows[0]["count_match"] > 0
    assert_same_rows(got.rows, want.rows, skip=TIMINGS)
    assert all(r["bptt_time_s"] > 0 for r in got.rows)
    assert got.groups == want.groups
    assert got.settings == {**want.settings, "bptt_timed_on": "workers"}
    assert want.settings["bptt_timed_on"] == "driver"

    dts = (1.0, 0.5)
    here = fpgrad.forward_convergence(problem, dts)
    there = fpgrad.forward_convergence(problem, dts, client=client.scheduler.address)
    assert_same_rows(there.rows, here.rows)
    assert same_value(there.slope, here.slope) and there.bin_ms == here.bin_ms


def test_cli_compare_with_a_scheduler(client, sweep_problem, tmp_path, capsys):
    from test_compare import TARGETS

    from fpgrad._compare import _json_rows
    from fpgrad._distributed import _CLIENTS
    from fpgrad.cli import main

    problem, _, want = sweep_problem
    fpgrad.save_problem(problem, tmp_path / "problem.json")
    target = {"targets": {str(k): v for k, v in TARGETS.items()}, "tau": 5.0}
    (tmp_path / "target.json").write_text(json.dumps(target))
    address = client.scheduler.address
    argv = ["compare", str(tmp_path / "problem.json"), "--loss", "van-rossum"]
    argv += ["--target", str(tmp_path / "target.json"), "--dt", "1", "--surrogate", "gaussian"]
    argv += ["--repeats", "1", "--out-dir", str(tmp_path / "out"), "--scheduler", address]
    try:
        assert main(argv) == 0
    finally:
        opened = _CLIENTS.pop(address, None)
        if opened is not None:
            opened.close()
    assert "gaussian" in capsys.readouterr().out
    saved = json.loads((tmp_path / "out" / "compare.json").read_text())
    assert saved["settings"]["bptt_timed_on"] == "workers"
    (row,) = [r for r in _json_rows(want.rows) if (r["dt"], r["surrogate"]) == (1.0, "gaussian")]
    assert_same_rows(saved["rows"], [row], skip=TIMINGS)


def test_an_unreachable_scheduler_fails_the_sweep_at_once(sweep_problem, tmp_path, capsys):
    import dask

    from fpgrad.cli import main

    problem, loss, _ = sweep_problem
    fpgrad.save_problem(problem, tmp_path / "problem.json")
    (tmp_path / "target.json").write_text(json.dumps({"targets": {"7": [6.0]}}))
    address = "tcp://127.0.0.1:9"
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        for sweep in (
            lambda: fpgrad.compare(problem, loss, dts=[1.0], client=address),
            lambda: fpgrad.forward_convergence(problem, [1.0], client=address),
        ):
            start = time.monotonic()
            with pytest.raises(fpgrad.ClusterError, match="cannot reach a Dask scheduler") as err:
                sweep()
            assert time.monotonic() - start < 10 and "\n" not in str(err.value)
        argv = ["compare", str(tmp_path / "problem.json"), "--loss", "van-rossum", "--target"]
        argv += [str(tmp_path / "target.json"), "--out-dir", str(tmp_path / "out")]
        assert main([*argv, "--scheduler", address]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fpgrad: error: client: cannot reach a Dask scheduler")
    assert err.count("\n") == 1 and not (tmp_path / "out").exists()


def test_bench_agreement_rows_on_a_cluster_are_identical(client):
    """bench_agreement's rows (exact gradients against finite differences) mapped over the
    cluster equal the in-process rows, timings apart; its module travels by value."""
    bench = load_benchmark("bench_agreement")
    configs = [("feedforward", (3, 4, 2), 1), ("feedforward", (4, 3, 2), 2)]
    want = bench.sweep.map_rows(bench.check, configs)
    got = bench.sweep.map_rows(bench.check, configs, client, warmup=bench.WARMUP)
    assert [r["n_parameters"] for r in want] == [r["n_parameters"] for r in got]
    assert all(r["max_relative_error"]["reverse_vs_fd"] < 1e-6 for r in want)
    for g, w in zip(got, want, strict=True):
        assert g.keys() == w.keys()
        assert g["seconds"].keys() == w["seconds"].keys()
        for key in w.keys() - {"seconds"}:
            assert json.dumps(g[key]) == json.dumps(w[key]), key  # floats at full precision

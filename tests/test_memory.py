"""Memory known before it is spent: allocations that grow with spikes x parameters or grid steps
x neurons are estimated first and refused with the figure (fpgrad/_memory.py)."""

from __future__ import annotations

import numpy as np
import pytest

import fpgrad
from fpgrad import _memory, discrete
from fpgrad.cli import main

PROBLEM = "examples/problem.json"


@pytest.fixture
def small_machine(monkeypatch):
    """A machine with 1 MiB of memory: the limit is 512 KiB."""
    monkeypatch.setattr(_memory, "physical_memory", lambda: 2**20)


def test_format_bytes():
    assert _memory.format_bytes(512) == "512 B"
    assert _memory.format_bytes(1.5 * 2**30) == "1.5 GiB"


def _busy_problem() -> fpgrad.Problem:
    rng = np.random.default_rng(0)
    net = fpgrad.random_feedforward_network([10, 40, 5], rng, weight_mean=0.12, weight_std=0.05)
    return fpgrad.Problem(net, fpgrad.poisson_inputs(10, 50.0, 200.0, rng), 200.0)


def test_forward_jacobian_is_estimated_first(small_machine, monkeypatch):
    problem = _busy_problem()
    result = fpgrad.simulate(problem)
    n_params = problem.network.n_synapses + problem.n_input_spikes + 2 * 45 + 1
    assert 8.0 * n_params * result.record_node.shape[0] > 2**19  # the estimate exceeds the limit
    with pytest.raises(fpgrad.ProblemError, match=r"forward-mode Jacobian .* reverse mode"):
        fpgrad.spike_jacobian(result)
    with pytest.raises(fpgrad.ProblemError, match="more than 512 KiB"):
        fpgrad.gradient(problem, fpgrad.FirstSpikeMSE([50], [5.0]), fpgrad.ExactForward())
    # reverse mode needs memory per event (32 bytes: states and touch schedule), not per
    # parameter: refused with its own figure here, it runs on a machine four times as large,
    # where the forward-mode Jacobian still does not fit
    with pytest.raises(fpgrad.ProblemError, match=r"reverse pass over \d+ synaptic events"):
        fpgrad.gradient(problem, fpgrad.FirstSpikeMSE([50], [5.0]))
    monkeypatch.setattr(_memory, "physical_memory", lambda: 2**22)
    assert 8.0 * n_params * result.record_node.shape[0] > 2**21
    with pytest.raises(fpgrad.ProblemError, match=r"forward-mode Jacobian"):
        fpgrad.spike_jacobian(result)
    res = fpgrad.gradient(problem, fpgrad.FirstSpikeMSE([50], [5.0]))
    assert res.grad.weight.shape == (problem.network.n_synapses,)
    # a parameter subset fits
    assert fpgrad.spike_jacobian(result, {"weight": [0, 1]})["weight"].shape[1] == 2


def test_grid_model_is_estimated_first():
    problem = fpgrad.load_problem(PROBLEM)
    with pytest.raises(fpgrad.ProblemError, match=r"dt = 1e-09 ms .* TiB .* larger dt"):
        discrete.discretize(problem, 1e-9)
    assert discrete.discretize(problem, 0.01).n_steps == 4000


def test_cli_refuses_with_the_figure(small_machine, capsys):
    assert main(["simulate", PROBLEM, "--jacobian"]) == 0  # small enough
    capsys.readouterr()
    assert main(["compare", PROBLEM, "--loss", "first-spike-ce", "--dt", "1e-9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("fpgrad: error: the grid model with dt = 1e-09")

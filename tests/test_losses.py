"""Loss constructors check their arguments: integers must be integers, numbers finite."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fpgrad

NAN = math.nan


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: fpgrad.FirstSpikeMSE([3.7], [8.0]), r"neurons\[0\] = 3.7: expected an integer"),
        (lambda: fpgrad.FirstSpikeMSE(["3"], [8.0]), "expected an integer"),
        (lambda: fpgrad.FirstSpikeMSE([3], [NAN]), r"targets\[0\] = nan is not finite"),
        (lambda: fpgrad.FirstSpikeMSE([3], ["a"]), "expected numbers"),
        (lambda: fpgrad.FirstSpikeMSE([3, 4], [8.0]), "expected 2 values"),
        (lambda: fpgrad.FirstSpikeCrossEntropy([3, 4], 0.9), "label = 0.9: expected an integer"),
        (lambda: fpgrad.FirstSpikeCrossEntropy([3, 4], 1.7), "label = 1.7"),
        (lambda: fpgrad.FirstSpikeCrossEntropy([3, 4], True), "label = True"),
        (lambda: fpgrad.FirstSpikeCrossEntropy([3, 4], 2), r"must lie in \[0, 2\)"),
        (lambda: fpgrad.FirstSpikeCrossEntropy([3], 0, tau0=NAN), "tau0 = nan is not finite"),
        (lambda: fpgrad.FirstSpikeCrossEntropy([3], 0, tau1=0.0), "tau1 = 0.0 must be > 0"),
        (lambda: fpgrad.FirstSpikeCrossEntropy([3], 0, alpha=-1.0), "alpha = -1.0 must be >= 0"),
        (lambda: fpgrad.SpikeCount([3], [NAN]), "is not finite"),
        (lambda: fpgrad.SpikeCount([3.5], [1.0]), "expected an integer"),
        (lambda: fpgrad.VanRossum([1.0, 2.0]), "expected a mapping"),
        (lambda: fpgrad.VanRossum({3.5: [1.0]}), "neuron id = 3.5"),
        (lambda: fpgrad.VanRossum({3: [NAN]}), "is not finite"),
        (lambda: fpgrad.VanRossum({3: [1.0]}, tau=0.0), "tau = 0.0 must be > 0"),
    ],
)
def test_bad_arguments_name_the_value(make, match):
    with pytest.raises(fpgrad.ProblemError, match=match):
        make()


def test_integral_values_are_accepted():
    loss = fpgrad.FirstSpikeCrossEntropy(np.array([3, 4]), np.int64(1), tau0=1)
    assert loss.neurons == (3, 4) and loss.label == 1 and loss.tau0 == 1.0
    assert fpgrad.FirstSpikeMSE([3.0], [8]).neurons == (3,)
    assert fpgrad.VanRossum({np.int64(3): [2.0, 1.0]}).targets == {3: (1.0, 2.0)}


def test_api_misuse_is_a_clear_error():
    problem = fpgrad.load_problem("examples/problem.json")
    loss = fpgrad.FirstSpikeMSE([3], [8.0])
    for bad, match in (
        (lambda: fpgrad.gradient(problem, None), "loss: expected a loss object"),
        (lambda: fpgrad.gradient(problem, "first-spike-mse"), "got 'first-spike-mse'"),
        (lambda: fpgrad.gradient(problem, loss, params={"weight": [99]}), "spike_jacobian"),
        (lambda: fpgrad.gradient(problem, loss, params="weight"), "the string 'weight'"),
        (lambda: fpgrad.gradient(problem, loss, degeneracy_tol=-1), "degeneracy_tol = -1"),
        (
            lambda: fpgrad.testing.gradcheck(problem, None, methods={"g": {"weight": [0.0] * 4}}),
            "loss: expected",
        ),
        (lambda: fpgrad.simulate(problem, max_spikes=2**70), r"max_spikes: expected an integer"),
    ):
        with pytest.raises(fpgrad.ProblemError, match=match):
            bad()

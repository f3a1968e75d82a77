"""Verifying a gradient with fpgrad's testing tools: the example of the README.

Replace ``my_gradient`` with your own implementation (another framework's BPTT, a hand-written
adjoint): the first test checks it on one problem, the second on random problems drawn by
fpgrad's hypothesis strategies (non-degenerate by construction), the third checks fpgrad's exact
gradient itself against finite differences.
"""

import numpy as np
from hypothesis import given, settings

import fpgrad
from fpgrad.testing import assert_external_close, assert_gradients_close
from fpgrad.testing import strategies as fst


def my_gradient(problem, loss):
    """Your gradient as {group: array} in fpgrad's layout (stand-in: fpgrad's reverse mode)."""
    return fpgrad.gradient(problem, loss).grad.groups()


def test_my_gradient_on_one_problem():
    rng = np.random.default_rng(0)
    net = fpgrad.random_feedforward_network([3, 3, 2], rng, weight_mean=0.12, weight_std=0.05)
    problem = fpgrad.Problem(net, fpgrad.poisson_inputs(3, 100.0, 25.0, rng), 25.0)
    loss = fpgrad.FirstSpikeMSE([6, 7], [5.0, 8.0])  # output neurons are nodes 6 and 7
    report = assert_gradients_close(problem, loss, methods={"mine": my_gradient(problem, loss)})
    print(report)  # per-group table: errors against finite differences, margins, verdict


@settings(max_examples=10, deadline=None)
@given(fst.problems_and_losses(kinds=["first-spike-mse", "first-spike-ce"]))
def test_my_gradient_on_random_problems(problem_and_loss):
    problem, loss = problem_and_loss
    # raises AssertionError with the per-group table (cosine, relative error, sign agreement)
    assert_external_close(problem, loss, my_gradient(problem, loss), rtol=1e-8)


@settings(max_examples=5, deadline=None)
@given(fst.problems_and_losses(fst.feedforward_problems(min_peak_gap=1e-2)))
def test_exact_gradient_matches_finite_differences(problem_and_loss):
    problem, loss = problem_and_loss
    assert_gradients_close(problem, loss, params=["weight", "threshold"])

"""The thread map of the batch entry points (:mod:`fpgrad._threads`): results in order, the
first error re-raised, a map called from inside a pool thread does not wait for itself, and the
batch kernels release the GIL."""

from __future__ import annotations

import time

import pytest

from fpgrad._threads import map_threads


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_results_in_order_whatever_the_timing(threads):
    def slow_square(x: int) -> int:
        time.sleep(0.001 * (x % 3))  # uneven work: items finish out of order
        return x * x

    assert map_threads(slow_square, range(23), threads) == [x * x for x in range(23)]
    assert map_threads(slow_square, [], threads) == []


def test_the_first_error_is_reraised_and_work_stops():
    done = []

    def fail_at_five(x: int) -> int:
        if x == 5:
            raise ValueError("item 5")
        done.append(x)
        return x

    with pytest.raises(ValueError, match="item 5"):
        map_threads(fail_at_five, range(1000), 2)
    assert len(done) < 999  # the threads stopped taking items after the failure


def test_nested_maps_do_not_deadlock():
    """Each outer item maps again on the same pool: the inner calls run in their own threads."""

    def inner_sum(x: int) -> int:
        return sum(map_threads(lambda y: x * y, range(10), 2))

    assert map_threads(inner_sum, range(6), 2) == [45 * x for x in range(6)]


def test_the_batch_kernels_release_the_gil():
    """What lets threads use several cores: every kernel a batch runs is compiled nogil."""
    from fpgrad.event._kernel import simulate_kernel
    from fpgrad.grad._batch import _batch_kernel
    from fpgrad.grad._reverse import reverse_kernel

    for kernel in (simulate_kernel, reverse_kernel, _batch_kernel):
        assert kernel.targetoptions["nogil"] is True

"""Fused batch path: a minibatch of first-spike loss gradients in one Numba loop.

Building a :class:`~fpgrad.Problem` per sample, then calling the simulation and reverse kernels
and the loss from Python, costs more than the kernels themselves for the small networks of
classification tasks (a few hundred synaptic events per sample). :func:`first_spike_batch`
calls the very same kernels (:func:`fpgrad.event._kernel.simulate_kernel`,
:func:`fpgrad.grad._reverse.reverse_kernel`) from one Numba loop over the samples, with the
network compiled once and the inputs merged once per dataset (:meth:`fpgrad.InputBatch.merged`),
and evaluates the first-spike losses through their own Numba functions
(:func:`~fpgrad.losses.cross_entropy_and_time_grad` of :class:`fpgrad.FirstSpikeCrossEntropy`,
:func:`~fpgrad.losses.mse_and_time_grad` of :class:`fpgrad.FirstSpikeMSE`). The loop releases
the GIL, so the batch is split over threads. It is :class:`fpgrad.ExactReverse`'s batch entry
for such losses; its results equal the per-sample path to rounding (tested).

On a Dask cluster the same kernel runs one sample at a time on the workers
(:func:`first_spike_samples`) and :func:`combine_samples` adds the per-sample gradients on the
driver into the partial sums of the in-process threads (:func:`thread_chunks`), in the same
order: ``0 + g`` is ``g`` exactly, so the result equals :func:`first_spike_batch` bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._numba import jit
from .._threads import map_threads, thread_count
from ..event._kernel import STATUS_BUDGET, simulate_kernel
from ..event._simulate import CompiledNetwork, RunawayActivityError
from ..losses import (
    FirstSpikeCrossEntropy,
    FirstSpikeMSE,
    cross_entropy_and_time_grad,
    mse_and_time_grad,
)
from ._reverse import reverse_kernel

__all__ = [
    "FirstSpikeLosses",
    "StackedOutcomes",
    "combine_samples",
    "first_spike_batch",
    "first_spike_samples",
    "thread_chunks",
]


#: The groups the fused path computes, in the order of :func:`_batch_kernel`'s sums (every
#: group but the per-sample input times, in :data:`~fpgrad.GROUPS` order).
BATCH_GROUPS = ("weight", "threshold", "tau_mem", "tau_syn", "delay", "bias", "v_reset", "t_ref")
#: The rows of the kernel's per-neuron sums ``g_neu`` (its per-synapse ``g_syn``: weight, delay).
_NEURON_SUMS = ("threshold", "tau_mem", "tau_syn", "bias", "v_reset", "t_ref")


@jit
def _batch_kernel(
    rows,
    n_inputs,
    a,
    b,
    c,
    v_reset,
    delta,
    theta,
    t_ref,
    out_ptr,
    out_zend,
    out_post,
    out_w,
    out_d,
    out_syn,
    in_node,
    in_time,
    in_index,
    in_ptr,
    t_max,
    max_spikes,
    outputs,
    kind,
    labels,
    targets,
    tau0,
    tau1,
    alpha,
    want,
    sample_clip,
):
    """Losses, first spike times, degeneracy margins and summed gradients of ``rows``.

    ``rows[r]`` is the sample (into ``in_ptr``) of batch position ``r``; its loss is
    :class:`~fpgrad.FirstSpikeCrossEntropy` with label ``labels[r]`` (``kind`` is
    :data:`CROSS_ENTROPY`) or :class:`~fpgrad.FirstSpikeMSE` with targets ``targets[r]``
    (:data:`MSE`), over the first spikes of the neurons ``outputs``. ``want[q]`` says whether
    group ``BATCH_GROUPS[q]`` is wanted (none: no gradient). With ``sample_clip > 0`` each
    sample's gradient (the wanted groups together) is scaled to Euclidean norm at most
    ``sample_clip`` before it is added.
    """
    n = b.shape[0]
    n_synapses = out_w.shape[0]
    n_out = outputs.shape[0]
    m = rows.shape[0]
    loss = np.zeros(m)
    first = np.full((m, n), math.inf)
    margins = np.zeros((m, 2))
    status_bad = -1
    with_grad = False
    for q in range(want.shape[0]):
        with_grad = with_grad or want[q]
    g_syn = np.zeros((2, n_synapses))  # weight, delay
    g_neu = np.zeros((6, n))  # threshold, tau_mem, tau_syn, bias, v_reset, t_ref
    times = np.empty(n_out)
    where = np.empty(n_out, np.int64)
    for r in range(m):
        s = rows[r]
        lo = in_ptr[s]
        hi = in_ptr[s + 1]
        ev_node, ev_time, ev_input, ev_ce, ev_cp, status, _n_syn, deg, _fl = simulate_kernel(
            n_inputs, a, b, c, v_reset, delta, theta, t_ref, out_ptr, out_zend, out_post,
            out_w, out_d, in_node[lo:hi], in_time[lo:hi], in_index[lo:hi], t_max, max_spikes,
        )  # fmt: skip
        if status == STATUS_BUDGET:
            status_bad = r
            break
        margins[r, 0] = deg[0]
        margins[r, 1] = deg[3]
        for q in range(n_out):
            times[q] = t_max
            where[q] = -1
        for e in range(ev_node.shape[0]):
            if ev_input[e] < 0:
                i = ev_node[e] - n_inputs
                if first[r, i] == math.inf:
                    first[r, i] = ev_time[e]
                for q in range(n_out):
                    if outputs[q] == ev_node[e] and where[q] < 0:
                        where[q] = e
                        times[q] = ev_time[e]
        if kind == CROSS_ENTROPY:
            loss[r], dl_dt = cross_entropy_and_time_grad(times, labels[r], tau0, tau1, alpha)
        else:
            loss[r], dl_dt = mse_and_time_grad(times, targets[r])
        if not with_grad:
            continue
        lam_f = np.zeros(ev_node.shape[0])
        for q in range(n_out):
            if where[q] >= 0:  # a silent neuron's "time" t_max carries no gradient
                lam_f[where[q]] += dl_dt[q]
        gw, _gin, gth, gtm, gts, gd, gc, gvr, gtr = reverse_kernel(
            n_inputs, a, b, c, v_reset, delta, theta, t_ref, out_ptr, out_zend, out_post,
            out_w, out_d, out_syn, ev_node, ev_time, ev_input, ev_ce, ev_cp, t_max, hi - lo,
            lam_f, want[3], want[2], want[5],
        )  # fmt: skip
        syn = (gw, gd)
        neu = (gth, gtm, gts, gc, gvr, gtr)
        scale = 1.0
        if sample_clip > 0.0:
            sq = 0.0
            for g in range(2):
                if want[0 if g == 0 else 4]:
                    for k in range(n_synapses):
                        sq += syn[g][k] * syn[g][k]
            for g in range(6):
                if want[g + 1 if g < 3 else g + 2]:
                    for i in range(n):
                        sq += neu[g][i] * neu[g][i]
            norm = math.sqrt(sq)
            if norm > sample_clip:
                scale = sample_clip / norm
        for g in range(2):
            for k in range(n_synapses):
                g_syn[g, k] += scale * syn[g][k]
        for g in range(6):
            for i in range(n):
                g_neu[g, i] += scale * neu[g][i]
    return loss, first, margins, g_syn, g_neu, status_bad


def thread_chunks(n_rows: int, n_threads: int | None) -> list[tuple[int, int]]:
    """The contiguous ``(lo, hi)`` row chunks of :func:`first_spike_batch`, one per thread."""
    n_chunks = max(1, min(thread_count(n_threads), n_rows))
    return [(int(x[0]), int(x[-1]) + 1) for x in np.array_split(np.arange(n_rows), n_chunks)]


CROSS_ENTROPY = 0
MSE = 1


@dataclass(frozen=True)
class FirstSpikeLosses:
    """The losses of a fused batch in the kernel's form: all
    :class:`~fpgrad.FirstSpikeCrossEntropy` (``kind = CROSS_ENTROPY``, one label per sample,
    shared ``constants = (tau0, tau1, alpha)``) or all :class:`~fpgrad.FirstSpikeMSE`
    (``kind = MSE``, one target row per sample), over the same output neurons ``outputs``
    (global ids)."""

    kind: int
    outputs: NDArray[np.int64]
    labels: NDArray[np.int64]
    targets: NDArray[np.float64]
    constants: tuple[float, float, float]

    @classmethod
    def of(cls, losses: list[Any]) -> FirstSpikeLosses | None:
        """The fused form of ``losses``, or ``None`` if they are not one kind of first-spike
        loss on the same neurons (and, for cross-entropy, with the same constants)."""
        head = losses[0]
        n = len(losses)
        if type(head) is FirstSpikeCrossEntropy:
            key = (head.neurons, head.tau0, head.tau1, head.alpha)
            same = (
                type(lo) is FirstSpikeCrossEntropy
                and (lo.neurons, lo.tau0, lo.tau1, lo.alpha) == key
                for lo in losses
            )
            if not all(same):
                return None
            labels = np.array([lo.label for lo in losses], dtype=np.int64)
            targets = np.zeros((n, 0))
            constants = (float(head.tau0), float(head.tau1), float(head.alpha))
            kind = CROSS_ENTROPY
        elif type(head) is FirstSpikeMSE:
            if not all(type(lo) is FirstSpikeMSE and lo.neurons == head.neurons for lo in losses):
                return None
            labels = np.zeros(n, np.int64)
            targets = np.array([lo.targets for lo in losses], dtype=np.float64)
            constants = (0.0, 0.0, 0.0)
            kind = MSE
        else:
            return None
        outputs = np.asarray(head.neurons, dtype=np.int64)
        return cls(kind, outputs, labels, targets, constants)

    def rows(self, lo: int, hi: int) -> FirstSpikeLosses:
        """The losses of batch positions ``lo:hi``."""
        return FirstSpikeLosses(
            self.kind, self.outputs, self.labels[lo:hi], self.targets[lo:hi], self.constants
        )


def _kernel_rows(
    net: CompiledNetwork,
    merged: dict[str, NDArray],
    rows: NDArray[np.int64],
    losses: FirstSpikeLosses,
    t_max: float,
    groups: tuple[str, ...],
    sample_clip: float,
    max_spikes: int,
) -> tuple:
    """:func:`_batch_kernel` on ``rows`` (losses ``losses``): ``(losses, first, margins, sums,
    status)``, ``sums`` the summed gradient of each of ``groups``."""
    tau0, tau1, alpha = losses.constants
    want = np.array([name in groups for name in BATCH_GROUPS])
    loss, first, margins, g_syn, g_neu, status = _batch_kernel(
        rows, *net.gradient_args, merged["node"], merged["time"], merged["flat"], merged["ptr"],
        float(t_max), int(max_spikes), losses.outputs, losses.kind, losses.labels,
        losses.targets, tau0, tau1, alpha, want, float(sample_clip),
    )  # fmt: skip
    rows_of = {"weight": g_syn[0], "delay": g_syn[1]}
    rows_of.update(zip(_NEURON_SUMS, g_neu, strict=True))
    return loss, first, margins, {name: rows_of[name] for name in groups}, int(status)


def first_spike_batch(
    net: CompiledNetwork,
    merged: dict[str, NDArray],
    rows: NDArray[np.int64],
    losses: FirstSpikeLosses,
    t_max: float,
    *,
    groups: tuple[str, ...],
    sample_clip: float,
    max_spikes: int,
    n_threads: int | None,
) -> tuple[NDArray, NDArray, NDArray, dict[str, NDArray]]:
    """First-spike losses of the samples ``rows`` of ``merged`` and their exact gradient.

    Batch position ``r`` is sample ``rows[r]`` with the loss of position ``r`` of ``losses``.
    The rows are split into contiguous chunks, one per thread (:func:`thread_chunks`); partial
    sums are added in chunk order, so the result does not depend on thread timing. Returns
    per-sample losses ``(B,)``, first spike times ``(B, N)`` (``inf`` if silent), degeneracy
    margins ``(B, 2)`` (peak gap, crossing slope) and the *mean* gradient of each of ``groups``
    (a subset of :data:`BATCH_GROUPS`).
    """
    chunks = thread_chunks(rows.size, n_threads)

    def run(chunk: tuple[int, int]) -> tuple:
        lo, hi = chunk
        return _kernel_rows(
            net, merged, rows[lo:hi], losses.rows(lo, hi), t_max, groups, sample_clip,
            max_spikes,
        )  # fmt: skip

    return _finish(chunks, map_threads(run, chunks, len(chunks)), groups, max_spikes)


@dataclass(frozen=True)
class StackedOutcomes:
    """The per-row outcomes of :func:`first_spike_samples`, stacked: a few large arrays
    (``sums[name][r]`` is row ``r``'s gradient of group ``name``), which a Dask worker sends back
    in a few frames, where a list of small arrays costs one frame each (measured: 0.8 s to
    gather 256 rows of the Yin-Yang network as 1280 arrays). Iterating gives the rows as
    ``(loss, first, margins, sums, status)`` tuples of views, what :func:`combine_samples`
    reduces."""

    losses: NDArray[np.float64]
    first: NDArray[np.float64]
    margins: NDArray[np.float64]
    status: NDArray[np.int64]
    sums: dict[str, NDArray[np.float64]]

    def __len__(self) -> int:
        return int(self.losses.shape[0])

    def __iter__(self) -> Iterator[tuple]:
        for r in range(len(self)):
            rows = (self.losses[r : r + 1], self.first[r : r + 1], self.margins[r : r + 1])
            yield (*rows, {name: g[r] for name, g in self.sums.items()}, int(self.status[r]))


def first_spike_samples(
    net: CompiledNetwork,
    merged: dict[str, NDArray],
    rows: NDArray[np.int64],
    losses: FirstSpikeLosses,
    t_max: float,
    *,
    groups: tuple[str, ...],
    sample_clip: float,
    max_spikes: int,
) -> StackedOutcomes:
    """The kernel's outcome of each row on its own (arguments of :func:`first_spike_batch`):
    per row ``(loss, first, margins, sums, status)`` (``sums``: that row's gradient of each of
    ``groups``, what a worker sends back), stacked, for :func:`combine_samples`."""

    def one(r: int) -> tuple:
        return _kernel_rows(
            net, merged, rows[r : r + 1], losses.rows(r, r + 1), t_max, groups, sample_clip,
            max_spikes,
        )  # fmt: skip

    outcomes = [one(r) for r in range(rows.size)]
    return StackedOutcomes(
        losses=np.concatenate([o[0] for o in outcomes]),
        first=np.concatenate([o[1] for o in outcomes]).reshape(rows.size, net.b.shape[0]),
        margins=np.concatenate([o[2] for o in outcomes]).reshape(rows.size, 2),
        status=np.array([o[4] for o in outcomes], dtype=np.int64),
        sums={name: np.stack([o[3][name] for o in outcomes]) for name in groups},
    )


def combine_samples(
    samples: Iterable[tuple], *, groups: tuple[str, ...], max_spikes: int, n_threads: int | None
) -> tuple[NDArray, NDArray, NDArray, dict[str, NDArray]]:
    """:func:`first_spike_batch`'s result from the per-row outcomes of
    :func:`first_spike_samples` (the rows of one or more :class:`StackedOutcomes`, in order,
    as a list): each thread chunk's gradient is summed from zero in row order,
    as the kernel sums it, then the chunks in order."""
    samples = list(samples)
    chunks = thread_chunks(len(samples), n_threads)
    parts = []
    for lo, hi in chunks:
        rows = samples[lo:hi]
        sums = {name: np.zeros_like(value) for name, value in rows[0][3].items()}
        status = -1
        for r, row in enumerate(rows):
            if row[4] >= 0:
                status = r
                break
            for name, total in sums.items():
                total += row[3][name]
        joined = [np.concatenate([row[k] for row in rows]) for k in range(3)]
        parts.append((*joined, sums, status))
    return _finish(chunks, parts, groups, max_spikes)


def _finish(
    chunks: list[tuple[int, int]], parts: list[tuple], groups: tuple[str, ...], max_spikes: int
) -> tuple[NDArray, NDArray, NDArray, dict[str, NDArray]]:
    """The per-chunk kernel outcomes ``parts`` joined: losses, first spikes, margins and the
    mean gradient of ``groups`` (the chunks' sums added in order)."""
    n_rows = chunks[-1][1]
    for (lo, _hi), part in zip(chunks, parts, strict=True):
        if part[4] >= 0:
            raise RunawayActivityError(
                f"runaway activity in sample {lo + int(part[4])} of the batch: more than "
                f"max_spikes={max_spikes} neuron spikes"
            )
    grads: dict[str, NDArray] = {}
    for name in groups:
        total = parts[0][3][name].copy()
        for part in parts[1:]:
            total += part[3][name]
        grads[name] = total / n_rows
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
        grads,
    )

"""Fused batch path: a minibatch of first-spike cross-entropy gradients in one Numba loop.

Building a :class:`~fpgrad.Problem` per sample, then calling the simulation and reverse kernels
and the loss from Python, costs more than the kernels themselves for the small networks of
classification tasks (a few hundred synaptic events per sample). :func:`cross_entropy_batch`
calls the very same kernels (:func:`fpgrad.event._kernel.simulate_kernel`,
:func:`fpgrad.grad._reverse.reverse_kernel`) from one Numba loop over the samples, with the
network compiled once and the inputs merged once per dataset (:meth:`fpgrad.InputBatch.merged`),
and evaluates :class:`fpgrad.FirstSpikeCrossEntropy` through the loss's own Numba
:func:`~fpgrad.losses.cross_entropy_and_time_grad`. The loop releases the GIL, so the batch is
split over threads. It is :class:`fpgrad.ExactReverse`'s batch entry for such losses; its
results equal the per-sample path to rounding (tested).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from .._numba import jit
from .._threads import map_threads, thread_count
from ..event._kernel import STATUS_BUDGET, simulate_kernel
from ..event._simulate import CompiledNetwork, RunawayActivityError
from ..losses import cross_entropy_and_time_grad
from ._reverse import reverse_kernel

__all__ = ["cross_entropy_batch"]


@jit
def _batch_kernel(
    rows,
    n_inputs,
    a,
    b,
    theta,
    t_ref,
    out_ptr,
    out_post,
    out_w,
    out_syn,
    in_node,
    in_time,
    in_index,
    in_ptr,
    t_max,
    max_spikes,
    outputs,
    labels,
    tau0,
    tau1,
    alpha,
    with_grad,
    sample_clip,
):
    """Losses, first spike times, degeneracy margins and summed gradients of ``rows``.

    ``rows[r]`` is the sample (into ``in_ptr``) of batch position ``r``, with label
    ``labels[r]``. With ``sample_clip > 0`` each sample's gradient (weights and thresholds
    together) is scaled to Euclidean norm at most ``sample_clip`` before it is added.
    """
    n = b.shape[0]
    n_synapses = out_w.shape[0]
    n_out = outputs.shape[0]
    m = rows.shape[0]
    loss = np.zeros(m)
    first = np.full((m, n), math.inf)
    margins = np.zeros((m, 2))
    status_bad = -1
    g_w = np.zeros(n_synapses)
    g_theta = np.zeros(n)
    times = np.empty(n_out)
    where = np.empty(n_out, np.int64)
    for r in range(m):
        s = rows[r]
        lo = in_ptr[s]
        hi = in_ptr[s + 1]
        ev_node, ev_time, ev_input, status, _n_syn, deg = simulate_kernel(
            n_inputs, a, b, theta, t_ref, out_ptr, out_post, out_w,
            in_node[lo:hi], in_time[lo:hi], in_index[lo:hi], t_max, max_spikes,
        )  # fmt: skip
        if status == STATUS_BUDGET:
            status_bad = r
            break
        margins[r, 0] = deg[0]
        margins[r, 1] = deg[3]
        for c in range(n_out):
            times[c] = t_max
            where[c] = -1
        for e in range(ev_node.shape[0]):
            if ev_input[e] < 0:
                i = ev_node[e] - n_inputs
                if first[r, i] == math.inf:
                    first[r, i] = ev_time[e]
                for c in range(n_out):
                    if outputs[c] == ev_node[e] and where[c] < 0:
                        where[c] = e
                        times[c] = ev_time[e]
        loss[r], dl_dt = cross_entropy_and_time_grad(times, labels[r], tau0, tau1, alpha)
        if not with_grad:
            continue
        lam_f = np.zeros(ev_node.shape[0])
        for c in range(n_out):
            if where[c] >= 0:  # a silent neuron's "time" t_max carries no gradient
                lam_f[where[c]] += dl_dt[c]
        gw, _gin, gth, _gtm, _gts = reverse_kernel(
            n_inputs, a, b, theta, t_ref, out_ptr, out_post, out_w, out_syn,
            ev_node, ev_time, ev_input, hi - lo, lam_f, False, False,
        )  # fmt: skip
        scale = 1.0
        if sample_clip > 0.0:
            sq = 0.0
            for k in range(n_synapses):
                sq += gw[k] * gw[k]
            for i in range(n):
                sq += gth[i] * gth[i]
            norm = math.sqrt(sq)
            if norm > sample_clip:
                scale = sample_clip / norm
        for k in range(n_synapses):
            g_w[k] += scale * gw[k]
        for i in range(n):
            g_theta[i] += scale * gth[i]
    return loss, first, margins, g_w, g_theta, status_bad


def cross_entropy_batch(
    net: CompiledNetwork,
    merged: dict[str, NDArray],
    rows: NDArray[np.int64],
    labels: NDArray[np.int64],
    outputs: NDArray[np.int64],
    t_max: float,
    constants: tuple[float, float, float],
    *,
    with_grad: bool,
    sample_clip: float,
    max_spikes: int,
    n_threads: int | None,
) -> tuple[NDArray, NDArray, NDArray, NDArray | None, NDArray | None]:
    """First-spike cross-entropy of the samples ``rows`` of ``merged`` and its exact gradient.

    ``labels[r]`` and the output neurons ``outputs`` (global ids, class ``c`` is ``outputs[c]``)
    define sample ``r``'s loss with ``constants = (tau0, tau1, alpha)``. The rows are split into
    contiguous chunks, one per thread; partial sums are added in chunk order, so the result does
    not depend on thread timing. Returns per-sample losses ``(B,)``, first spike times
    ``(B, N)`` (``inf`` if silent), degeneracy margins ``(B, 2)`` (peak gap, crossing slope)
    and the *mean* weight and threshold gradients (``None`` without ``with_grad``).
    """
    tau0, tau1, alpha = (float(c) for c in constants)
    n_chunks = max(1, min(thread_count(n_threads), rows.size))
    chunks = [(int(c[0]), int(c[-1]) + 1) for c in np.array_split(np.arange(rows.size), n_chunks)]

    def run(chunk: tuple[int, int]) -> tuple:
        lo, hi = chunk
        return _batch_kernel(
            rows[lo:hi], *net.gradient_args, merged["node"], merged["time"], merged["flat"],
            merged["ptr"], float(t_max), int(max_spikes), outputs, labels[lo:hi], tau0, tau1,
            alpha, bool(with_grad), float(sample_clip),
        )  # fmt: skip

    parts = map_threads(run, chunks, len(chunks))
    for (lo, _hi), part in zip(chunks, parts, strict=True):
        if part[5] >= 0:
            raise RunawayActivityError(
                f"runaway activity in sample {lo + int(part[5])} of the batch: more than "
                f"max_spikes={max_spikes} neuron spikes"
            )
    g_w = g_theta = None
    if with_grad:
        g_w = parts[0][3].copy()
        g_theta = parts[0][4].copy()
        for part in parts[1:]:
            g_w += part[3]
            g_theta += part[4]
        g_w /= rows.size
        g_theta /= rows.size
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
        g_w,
        g_theta,
    )

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


#: The groups the fused path computes, in the order of :func:`_batch_kernel`'s sums (every
#: group but the per-sample input times, in :data:`~fpgrad.GROUPS` order).
BATCH_GROUPS = ("weight", "threshold", "tau_mem", "tau_syn", "delay", "bias", "v_reset", "t_ref")


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
    labels,
    tau0,
    tau1,
    alpha,
    want,
    sample_clip,
):
    """Losses, first spike times, degeneracy margins and summed gradients of ``rows``.

    ``rows[r]`` is the sample (into ``in_ptr``) of batch position ``r``, with label
    ``labels[r]``. ``want[q]`` says whether group ``BATCH_GROUPS[q]`` is wanted (none: no
    gradient). With ``sample_clip > 0`` each sample's gradient (the wanted groups together) is
    scaled to Euclidean norm at most ``sample_clip`` before it is added.
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
        loss[r], dl_dt = cross_entropy_and_time_grad(times, labels[r], tau0, tau1, alpha)
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


def cross_entropy_batch(
    net: CompiledNetwork,
    merged: dict[str, NDArray],
    rows: NDArray[np.int64],
    labels: NDArray[np.int64],
    outputs: NDArray[np.int64],
    t_max: float,
    constants: tuple[float, float, float],
    *,
    groups: tuple[str, ...],
    sample_clip: float,
    max_spikes: int,
    n_threads: int | None,
) -> tuple[NDArray, NDArray, NDArray, dict[str, NDArray]]:
    """First-spike cross-entropy of the samples ``rows`` of ``merged`` and its exact gradient.

    ``labels[r]`` and the output neurons ``outputs`` (global ids, class ``c`` is ``outputs[c]``)
    define sample ``r``'s loss with ``constants = (tau0, tau1, alpha)``. The rows are split into
    contiguous chunks, one per thread; partial sums are added in chunk order, so the result does
    not depend on thread timing. Returns per-sample losses ``(B,)``, first spike times
    ``(B, N)`` (``inf`` if silent), degeneracy margins ``(B, 2)`` (peak gap, crossing slope)
    and the *mean* gradient of each of ``groups`` (a subset of :data:`BATCH_GROUPS`).
    """
    tau0, tau1, alpha = (float(x) for x in constants)
    want = np.array([name in groups for name in BATCH_GROUPS])
    n_chunks = max(1, min(thread_count(n_threads), rows.size))
    chunks = [(int(x[0]), int(x[-1]) + 1) for x in np.array_split(np.arange(rows.size), n_chunks)]

    def run(chunk: tuple[int, int]) -> tuple:
        lo, hi = chunk
        return _batch_kernel(
            rows[lo:hi], *net.gradient_args, merged["node"], merged["time"], merged["flat"],
            merged["ptr"], float(t_max), int(max_spikes), outputs, labels[lo:hi], tau0, tau1,
            alpha, want, float(sample_clip),
        )  # fmt: skip

    parts = map_threads(run, chunks, len(chunks))
    for (lo, _hi), part in zip(chunks, parts, strict=True):
        if part[5] >= 0:
            raise RunawayActivityError(
                f"runaway activity in sample {lo + int(part[5])} of the batch: more than "
                f"max_spikes={max_spikes} neuron spikes"
            )
    grads: dict[str, NDArray] = {}
    if groups:
        g_syn = parts[0][3].copy()
        g_neu = parts[0][4].copy()
        for part in parts[1:]:
            g_syn += part[3]
            g_neu += part[4]
        stacked = {"weight": g_syn[0], "delay": g_syn[1]}
        for q, name in enumerate(("threshold", "tau_mem", "tau_syn", "bias", "v_reset", "t_ref")):
            stacked[name] = g_neu[q]
        grads = {name: stacked[name] / rows.size for name in groups}
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
        grads,
    )

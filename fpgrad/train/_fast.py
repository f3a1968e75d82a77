"""Fast path for training: whole minibatches of first-spike cross-entropy gradients in Numba.

``fpgrad.gradient_batch`` builds and validates a :class:`~fpgrad.Problem`, compiles the network
and sorts the inputs for every sample, then calls the simulation and reverse-mode kernels and the
loss from Python. For the small networks of classification tasks (a few hundred synaptic events
per sample) that Python work costs more than the kernels themselves. This module calls the very
same kernels (:func:`fpgrad.event._kernel.simulate_kernel`,
:func:`fpgrad.grad._reverse.reverse_kernel`) from one Numba loop over the samples of a minibatch,
with the network compiled once per step and the inputs merged once per dataset, and evaluates
:class:`fpgrad.FirstSpikeCrossEntropy` (through the loss's own Numba
``cross_entropy_and_time_grad``) and the prediction inside the loop. The loop releases the GIL,
so a minibatch is split over threads. Results equal
``gradient_batch(..., ExactReverse(), params=["weight", "threshold"])`` to rounding (tested).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._numba import jit
from .._problem import Network
from ..event._kernel import STATUS_BUDGET, simulate_kernel
from ..event._simulate import CompiledNetwork, RunawayActivityError, compile_network, merge_inputs
from ..grad._reverse import reverse_kernel
from ..losses import cross_entropy_and_time_grad

__all__ = ["EncodedInputs", "FastBatch", "encode_inputs", "fast_batch"]


@dataclass(frozen=True, eq=False)
class EncodedInputs:
    """Input spikes of many samples, each merged and sorted by ``(time, node)``, flattened.

    Sample ``s`` owns entries ``ptr[s]:ptr[s+1]`` of ``node``, ``time`` and ``index`` (the
    flat index of each spike in its sample's per-input spike list, as the kernels expect).
    """

    node: NDArray[np.int64]
    time: NDArray[np.float64]
    index: NDArray[np.int64]
    ptr: NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.ptr.shape[0] - 1)


def encode_inputs(inputs: Sequence[Sequence[ArrayLike]]) -> EncodedInputs:
    """Merge every sample's spike trains once (``inputs[s][j]``: spike times of input ``j``)."""
    nodes, times, indices = [], [], []
    ptr = np.zeros(len(inputs) + 1, np.int64)
    for s, sample in enumerate(inputs):
        node, time, index = merge_inputs([np.asarray(t, np.float64).ravel() for t in sample])
        if np.any(~np.isfinite(time)) or np.any(time < 0):
            raise ValueError(f"inputs[{s}]: spike times must be finite and >= 0")
        nodes.append(node)
        times.append(time)
        indices.append(index)
        ptr[s + 1] = ptr[s] + node.shape[0]

    def cat(parts: list[NDArray], dtype: type) -> NDArray:
        return np.concatenate(parts).astype(dtype) if parts else np.empty(0, dtype)

    return EncodedInputs(
        node=cat(nodes, np.int64),
        time=cat(times, np.float64),
        index=cat(indices, np.int64),
        ptr=ptr,
    )


@jit
def _batch_kernel(
    samples,
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
    n_synapses,
    sample_clip,
):
    """Loss, prediction, firing and (summed) gradients for the samples ``samples``.

    With ``sample_clip > 0`` each sample's gradient (weights and thresholds together) is scaled
    to Euclidean norm at most ``sample_clip`` before it is added.
    """
    n = b.shape[0]
    n_out = outputs.shape[0]
    m = samples.shape[0]
    loss = np.zeros(m)
    pred = np.zeros(m, np.int64)
    fired = np.zeros((m, n), np.bool_)
    first = np.full((m, n_out), t_max)
    status_bad = -1
    g_w = np.zeros(n_synapses)
    g_theta = np.zeros(n)
    times = np.empty(n_out)
    where = np.empty(n_out, np.int64)
    for r in range(m):
        s = samples[r]
        lo = in_ptr[s]
        hi = in_ptr[s + 1]
        ev_node, ev_time, ev_input, status, _n_syn, _deg = simulate_kernel(
            n_inputs,
            a,
            b,
            theta,
            t_ref,
            out_ptr,
            out_post,
            out_w,
            in_node[lo:hi],
            in_time[lo:hi],
            in_index[lo:hi],
            t_max,
            max_spikes,
        )
        if status == STATUS_BUDGET:
            status_bad = s
            break
        for c in range(n_out):
            times[c] = t_max
            where[c] = -1
        for e in range(ev_node.shape[0]):
            if ev_input[e] < 0:
                i = ev_node[e] - n_inputs
                fired[r, i] = True
                for c in range(n_out):
                    if outputs[c] == ev_node[e] and where[c] < 0:
                        where[c] = e
                        times[c] = ev_time[e]
        best = 0
        for c in range(n_out):
            first[r, c] = times[c]
            if times[c] < times[best]:
                best = c
        pred[r] = best
        loss[r], dl_dt = cross_entropy_and_time_grad(times, labels[s], tau0, tau1, alpha)
        if not with_grad:
            continue
        lam_f = np.zeros(ev_node.shape[0])
        for c in range(n_out):
            if where[c] >= 0:  # a silent neuron's "time" t_max carries no gradient
                lam_f[where[c]] += dl_dt[c]
        gw, _gin, gth, _gtm, _gts = reverse_kernel(
            n_inputs,
            a,
            b,
            theta,
            t_ref,
            out_ptr,
            out_post,
            out_w,
            out_syn,
            ev_node,
            ev_time,
            ev_input,
            hi - lo,
            lam_f,
            False,
            False,
        )
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
    return loss, pred, fired, first, g_w, g_theta, status_bad


@dataclass(frozen=True, eq=False)
class FastBatch:
    """Per-sample losses, predictions, first output spike times (``t_max`` if silent) and which
    neurons fired, and the *mean* gradients over the batch (``None`` without gradients)."""

    loss: NDArray[np.float64]
    pred: NDArray[np.int64]
    fired: NDArray[np.bool_]
    first_time: NDArray[np.float64]
    grad_weight: NDArray[np.float64] | None
    grad_threshold: NDArray[np.float64] | None


def fast_batch(
    network: Network | CompiledNetwork,
    n_inputs: int,
    n_synapses: int,
    encoded: EncodedInputs,
    samples: ArrayLike,
    labels: ArrayLike,
    outputs: ArrayLike,
    t_max: float,
    *,
    tau0: float = 2.0,
    tau1: float = 10.0,
    alpha: float = 1e-2,
    with_grad: bool = True,
    n_threads: int = 1,
    max_spikes: int = 100_000,
    sample_clip: float = 0.0,
) -> FastBatch:
    """First-spike cross-entropy of ``samples`` (indices into ``encoded``) and its exact gradient.

    ``labels`` holds one label per sample of ``encoded`` (indexed like it), ``outputs`` the global
    node ids of the output neurons (class ``c`` is ``outputs[c]``). The samples are split into
    ``n_threads`` contiguous chunks; partial sums are added in chunk order, so the result does not
    depend on thread timing. ``sample_clip > 0`` clips each sample's gradient norm (weights and
    thresholds together) to that value before averaging (0: the exact mean gradient).
    """
    net = network if isinstance(network, CompiledNetwork) else compile_network(network)
    idx = np.ascontiguousarray(samples, dtype=np.int64)
    lab = np.ascontiguousarray(labels, dtype=np.int64)
    out = np.ascontiguousarray(outputs, dtype=np.int64)
    chunks = [c for c in np.array_split(idx, max(1, min(int(n_threads), idx.size))) if c.size]

    def run(chunk: NDArray[np.int64]) -> tuple:
        return _batch_kernel(
            chunk,
            int(n_inputs),
            net.a,
            net.b,
            net.theta,
            net.t_ref,
            net.out_ptr,
            net.out_post,
            net.out_w,
            net.out_syn,
            encoded.node,
            encoded.time,
            encoded.index,
            encoded.ptr,
            float(t_max),
            int(max_spikes),
            out,
            lab,
            float(tau0),
            float(tau1),
            float(alpha),
            bool(with_grad),
            int(n_synapses),
            float(sample_clip),
        )

    if len(chunks) == 1:
        parts = [run(chunks[0])]
    else:
        with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
            parts = list(pool.map(run, chunks))
    for part in parts:
        if part[6] >= 0:
            raise RunawayActivityError(
                f"runaway activity in sample {int(part[6])}: more than max_spikes={max_spikes} "
                "neuron spikes"
            )
    g_w = g_theta = None
    if with_grad:
        g_w = parts[0][4].copy()
        g_theta = parts[0][5].copy()
        for part in parts[1:]:
            g_w += part[4]
            g_theta += part[5]
        g_w /= idx.size
        g_theta /= idx.size
    return FastBatch(
        loss=np.concatenate([p[0] for p in parts]),
        pred=np.concatenate([p[1] for p in parts]),
        fired=np.concatenate([p[2] for p in parts]),
        first_time=np.concatenate([p[3] for p in parts]),
        grad_weight=g_w,
        grad_threshold=g_theta,
    )

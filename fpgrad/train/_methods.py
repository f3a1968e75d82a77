"""Gradient methods for training: objects that turn a minibatch into a loss and a gradient.

The training loop only needs the :class:`TrainMethod` contract, so the method is an object passed
in (as ``fpgrad.gradient`` takes ``ExactReverse()``):

* :class:`ExactMethod`: exact reverse-mode gradients of the first-spike cross-entropy, through the
  batched Numba fast path (:mod:`fpgrad.train._fast`) or, with ``fast=False``, through the
  public :func:`fpgrad.gradient_batch` (the reference; same numbers, slower);
* :class:`GradientBatchMethod`: wraps any per-sample method object accepted by
  :func:`fpgrad.gradient` / :func:`fpgrad.gradient_batch`;
* :class:`~fpgrad.train.SurrogateMethod` (:mod:`fpgrad.train._surrogate`): surrogate-gradient
  BPTT in JAX, one compiled ``vmap`` over the minibatch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._gradient import ExactReverse, gradient_batch
from ..event import simulate_batch
from ..event._simulate import compile_network
from ..losses import FirstSpikeCrossEntropy
from ._fast import EncodedInputs, encode_inputs, fast_batch
from ._model import Classifier, Params

__all__ = [
    "ExactMethod",
    "GradientBatchMethod",
    "LossConfig",
    "StepResult",
    "TrainMethod",
]


@dataclass(frozen=True)
class LossConfig:
    """Constants of :class:`fpgrad.FirstSpikeCrossEntropy` (its defaults)."""

    tau0: float = 2.0
    tau1: float = 10.0
    alpha: float = 1e-2


@dataclass(frozen=True, eq=False)
class StepResult:
    """Per-sample losses and predictions (``-1`` if unknown), which neurons fired
    (``(n_samples, n_neurons)``, or ``None`` if the method cannot tell) and the mean gradient
    over the batch (``weight`` per synapse, ``threshold`` per neuron; ``None`` if not computed)."""

    loss: NDArray[np.float64]
    pred: NDArray[np.int64]
    fired: NDArray[np.bool_] | None
    grad_weight: NDArray[np.float64] | None = None
    grad_threshold: NDArray[np.float64] | None = None


class TrainMethod(Protocol):
    """What the training loop needs from a gradient method.

    ``prepare`` is called once per dataset split with the encoded input spike trains
    (``inputs[s][j]``) and returns an opaque handle; ``run`` evaluates the samples ``index`` of
    that handle, with gradients when ``with_grad``; ``sample_clip > 0`` asks for each sample's
    gradient norm to be clipped to that value before averaging.
    """

    name: str

    def prepare(self, inputs: Sequence[Sequence[ArrayLike]]) -> Any:
        """Preprocess one split's inputs (done once)."""
        ...

    def run(
        self,
        model: Classifier,
        params: Params,
        data: Any,
        index: NDArray[np.int64],
        labels: NDArray[np.int64],
        loss: LossConfig,
        with_grad: bool,
        sample_clip: float = 0.0,
    ) -> StepResult:
        """Loss, predictions and (optionally) the mean gradient of the samples ``index``."""
        ...


@dataclass(frozen=True)
class ExactMethod:
    """Exact gradients (reverse mode over the causality record), parallel over samples.

    ``fast=True`` (default) runs a whole minibatch in one Numba loop per thread;
    ``fast=False`` goes through :func:`fpgrad.gradient_batch` with :class:`fpgrad.ExactReverse`.
    """

    n_threads: int = 2
    fast: bool = True
    max_spikes: int = 100_000
    name: str = field(default="exact", init=False)

    def prepare(self, inputs: Sequence[Sequence[ArrayLike]]) -> EncodedInputs | list:
        """Merge the inputs once (fast path) or keep them as they are."""
        return encode_inputs(inputs) if self.fast else list(inputs)

    def run(
        self,
        model: Classifier,
        params: Params,
        data: Any,
        index: NDArray[np.int64],
        labels: NDArray[np.int64],
        loss: LossConfig,
        with_grad: bool,
        sample_clip: float = 0.0,
    ) -> StepResult:
        """See :class:`TrainMethod`."""
        network = model.network(params)
        if not self.fast:
            return GradientBatchMethod(ExactReverse(), self.n_threads).run(
                model, params, data, index, labels, loss, with_grad, sample_clip
            )
        out = fast_batch(
            compile_network(network),
            model.n_inputs,
            network.n_synapses,
            data,
            index,
            labels,
            model.outputs,
            model.t_max,
            tau0=loss.tau0,
            tau1=loss.tau1,
            alpha=loss.alpha,
            with_grad=with_grad,
            n_threads=self.n_threads,
            max_spikes=self.max_spikes,
            sample_clip=sample_clip,
        )
        return StepResult(out.loss, out.pred, out.fired, out.grad_weight, out.grad_threshold)


@dataclass(frozen=True)
class GradientBatchMethod:
    """Any method object of :func:`fpgrad.gradient_batch` (per-sample ``Method`` contract).

    Predictions come from ``FirstSpikeCrossEntropy.predict`` on each sample's simulation result
    when the method returns one, else from an exact simulation of the same network.
    """

    method: Any
    n_threads: int = 2
    name: str = "gradient-batch"

    def prepare(self, inputs: Sequence[Sequence[ArrayLike]]) -> list:
        """The inputs, unchanged."""
        return list(inputs)

    def run(
        self,
        model: Classifier,
        params: Params,
        data: Any,
        index: NDArray[np.int64],
        labels: NDArray[np.int64],
        loss: LossConfig,
        with_grad: bool,
        sample_clip: float = 0.0,
    ) -> StepResult:
        """See :class:`TrainMethod`."""
        network = model.network(params)
        outputs = [int(o) for o in model.outputs]
        inputs = [data[int(s)] for s in index]
        losses = [
            FirstSpikeCrossEntropy(outputs, int(labels[s]), loss.tau0, loss.tau1, loss.alpha)
            for s in index
        ]
        first = model.n_inputs
        if with_grad:
            batch = gradient_batch(
                network,
                inputs,
                model.t_max,
                losses,
                self.method,
                params=["weight", "threshold"],
                n_threads=self.n_threads,
            )
            results = [s.result for s in batch.samples]
            values = np.array([s.loss for s in batch.samples])
            g_w, g_th = batch.grad.weight, batch.grad.threshold
            if sample_clip > 0:
                scaled = []
                for s in batch.samples:
                    norm = np.sqrt(np.sum(s.grad.weight**2) + np.sum(s.grad.threshold**2))
                    scaled.append(s.grad.scale(min(1.0, sample_clip / norm) if norm > 0 else 1.0))
                g_w = np.mean([g.weight for g in scaled], axis=0)
                g_th = np.mean([g.threshold for g in scaled], axis=0)
        else:
            results, g_w, g_th = [None] * len(inputs), None, None
            values = None
        if any(r is None for r in results):
            results = simulate_batch(network, inputs, model.t_max, n_threads=self.n_threads)
        if values is None:
            values = np.array(
                [lo.value_and_spike_grad(r)[0] for lo, r in zip(losses, results, strict=True)]
            )
        pred = np.array(
            [lo.predict(r) for lo, r in zip(losses, results, strict=True)], dtype=np.int64
        )
        fired = np.zeros((len(results), model.n_neurons), dtype=bool)
        for row, r in enumerate(results):
            fired[row, r.spike_node - first] = True
        return StepResult(values, pred, fired, g_w, g_th)

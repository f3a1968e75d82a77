"""The gradient-method contract: one base class, from a single problem to a training batch.

Every way fpgrad computes a gradient is a :class:`GradientMethod` object (as diffrax's adjoints
are ``AbstractAdjoint`` objects): :class:`~fpgrad.ExactReverse`, :class:`~fpgrad.ExactForward`,
:class:`~fpgrad.FiniteDifference` and ``fpgrad.discrete.Surrogate``. A method has two entry
points, and everything that needs gradients (:func:`fpgrad.gradient`,
:func:`fpgrad.gradient_batch`, :func:`fpgrad.train.train`, :func:`fpgrad.compare`,
:mod:`fpgrad.testing`, the benchmarks) calls only these:

* :meth:`GradientMethod.gradient`: one problem, one loss -> :class:`GradientResult`;
* :meth:`GradientMethod.batch`: one network, a batch of input samples, one loss per sample ->
  :class:`BatchGradient`, the per-sample losses, first spike times and degeneracy flags, and the
  mean gradient ``(1/B) sum_b dL_b/dp`` over the network's parameter groups (optionally with
  each sample's gradient clipped to a norm first). A method may run a batch faster than sample
  by sample (the exact reverse mode fuses a minibatch of first-spike cross-entropies into one
  Numba loop; the surrogate runs one compiled ``vmap``); the default runs
  :meth:`GradientMethod.gradient` per sample on all cores.

:meth:`GradientMethod.prepare` turns raw input trains into the method's own prepared form once
(a training loop calls it once per dataset split and then passes ``prepared.subset(index)`` per
minibatch). ``kind`` says what a method computes: ``"exact"`` (the derivative of the current
spike pattern to rounding), ``"finite-difference"`` (a numerical reference) or ``"surrogate"``
(a different model's gradient, never expected to match).

A new method subclasses :class:`GradientMethod`, sets ``kind`` and implements
:meth:`GradientMethod._gradient` (and, to be fast on batches, :meth:`GradientMethod._batch`).

On a Dask cluster (``batch(..., client=...)``, :mod:`fpgrad._distributed`) a batch is split in
two: :meth:`GradientMethod._samples` computes each sample's outcome (on the workers, chunk by
chunk) and :meth:`GradientMethod._combine` reduces them on the driver, the same reduction as in
process, so both give the same bits. A method whose in-process batch is computed another way
(``ExactReverse``'s fused loop) says so in :meth:`GradientMethod._route` and reduces per-sample
outcomes in its own in-process order; one that cannot be split (``fpgrad.discrete.Surrogate``,
one compiled ``vmap``) sets ``supports_client = False``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._problem import Network, Problem, ProblemError, TrainBatch, check_t_max
from ._threads import map_threads
from .event import Degeneracy, SimulationResult
from .grad._params import GROUPS, Gradients, check_groups

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "DEFAULT_DEGENERACY_TOL",
    "NETWORK_GROUPS",
    "SURROGATE_GROUPS",
    "BatchGradient",
    "GradientMethod",
    "GradientResult",
    "InputBatch",
]

#: Margin (in units of threshold for peaks, threshold/ms for slopes) below which a result is
#: flagged as near-degenerate.
DEFAULT_DEGENERACY_TOL = 1e-6

#: The parameter groups shared by all samples of a batch (every group but ``input_time``).
NETWORK_GROUPS = tuple(name for name in GROUPS if name != "input_time")
#: The groups the grid model differentiates (delays and refractory periods are whole steps
#: there, a piecewise-constant map): what exact and surrogate gradients are compared on.
SURROGATE_GROUPS = tuple(name for name in NETWORK_GROUPS if name not in ("delay", "t_ref"))

KINDS = ("exact", "finite-difference", "surrogate")


@dataclass(frozen=True, eq=False)
class GradientResult:
    """A loss, its gradient and how trustworthy the gradient is.

    ``degenerate`` is True when a spike is within ``degeneracy_tol`` of appearing (a
    sub-threshold peak that close to threshold) or vanishing (a crossing that flat), or when a
    finite-difference step changed the spike sequence. The exact gradient is then still the
    derivative of the *current* spike pattern, but that pattern changes within a tiny parameter
    step, where the loss jumps (see README, "Degenerate cases"); ``degeneracy`` holds the margins
    and where they occur (``None`` for a grid method, which has no exact simulation).
    """

    loss: float
    grad: Gradients
    result: SimulationResult | None
    degeneracy: Degeneracy | None
    degenerate: bool
    method: str


@dataclass(frozen=True, eq=False)
class BatchGradient:
    """A batch of samples through one method: per-sample outcomes and the mean gradient.

    Attributes:
        loss: the mean loss ``(1/B) sum_b L_b``.
        grad: the mean gradient ``(1/B) sum_b dL_b/dp`` over the requested network groups (each
            sample's gradient clipped first when ``sample_clip > 0``); ``None`` when no group was
            requested (a forward evaluation).
        losses: ``L_b`` per sample, shape ``(B,)``.
        first_spike_time: each neuron's first spike time per sample, ``(B, N)`` (neuron ``i`` is
            node ``M + i``), ``inf`` where it stayed silent; on the grid for a surrogate.
        degenerate: per sample, whether it was flagged near-degenerate (see
            :class:`GradientResult`).
        method: the method's name.
        samples: the per-sample :class:`GradientResult` (with their ``input_time`` gradients, if
            requested) when the method computed the batch sample by sample; ``None`` for a fused
            batch path.
    """

    loss: float
    grad: Gradients | None
    losses: NDArray[np.float64]
    first_spike_time: NDArray[np.float64]
    degenerate: NDArray[np.bool_]
    method: str
    samples: tuple[GradientResult, ...] | None = None

    @property
    def n_degenerate(self) -> int:
        """Number of samples flagged near-degenerate."""
        return int(np.count_nonzero(self.degenerate))

    @property
    def fired(self) -> NDArray[np.bool_]:
        """``(B, N)``: whether each neuron fired in each sample."""
        return np.isfinite(self.first_spike_time)


class InputBatch:
    """Input spike trains of many samples, checked and sorted once.

    ``inputs[s][j]`` are the spike times of input ``j`` in sample ``s`` (finite, ``>= 0``).
    :meth:`subset` is a cheap view (the trains are shared), what a training loop passes per
    minibatch. Methods with a form of their own (the surrogate's input counts on the grid)
    derive it from this one.
    """

    def __init__(self, inputs: Sequence[Sequence[ArrayLike]]) -> None:
        if isinstance(inputs, InputBatch):
            self._data, self.index, self._cache = inputs._data, inputs.index, inputs._cache
            return
        if isinstance(inputs, str | bytes) or not isinstance(inputs, Sequence | np.ndarray):
            raise ProblemError(
                "inputs: expected a sequence of samples, each a sequence of spike trains "
                f"(inputs[s][j]), got {type(inputs).__name__}"
            )
        if len(inputs) == 0:
            raise ProblemError("inputs: need at least one sample")
        self._data: TrainBatch = TrainBatch.of(len(inputs[0]), inputs, batch=True)
        self.index: NDArray[np.int64] = np.arange(len(inputs), dtype=np.int64)
        # derived layouts (the merged spikes), shared with every subset: computed once
        self._cache: dict[str, Any] = {}

    def __len__(self) -> int:
        return int(self.index.shape[0])

    @property
    def n_inputs(self) -> int:
        """Number of input trains per sample."""
        return self._data.n_inputs

    def sample(self, k: int) -> tuple[NDArray[np.float64], ...]:
        """The trains of the ``k``-th sample of this batch."""
        return self._data.sample(int(self.index[k]))

    def all_trains(self) -> tuple[tuple[NDArray[np.float64], ...], ...]:
        """Every sample's trains, those outside this (sub)batch included (:attr:`index` holds
        the positions of this batch's samples among them)."""
        if "trains" not in self._cache:
            data = self._data
            self._cache["trains"] = tuple(data.sample(s) for s in range(data.n_samples))
        return self._cache["trains"]

    def subset(self, index: ArrayLike) -> InputBatch:
        """The samples ``index`` (positions in this batch), sharing the data."""
        idx = np.asarray(index, dtype=np.int64).reshape(-1)
        if idx.size == 0:
            raise ProblemError("index: need at least one sample")
        if idx.min() < -len(self) or idx.max() >= len(self):
            raise ProblemError(f"index: positions must lie in [0, {len(self)})")
        view = InputBatch.__new__(InputBatch)
        view._data, view.index, view._cache = self._data, self.index[idx], self._cache
        return view

    def merged(self) -> dict[str, NDArray]:
        """Every sample's input spikes merged and sorted by ``(time, node)``, flattened (the
        kernels' layout, :meth:`fpgrad._problem.TrainBatch.merged`): sample ``s`` owns entries
        ``ptr[s]:ptr[s+1]`` of ``node``, ``time`` and ``flat``. Computed once for all samples
        (``s`` indexes the full batch, see :attr:`index`) and shared by subsets."""
        if "merged" not in self._cache:
            self._cache["merged"] = self._data.merged()
        return self._cache["merged"]


def first_spike_matrix(result: SimulationResult) -> NDArray[np.float64]:
    """First spike time of every neuron of one run, ``(N,)``, ``inf`` if silent."""
    net = result.problem.network
    first = np.full(net.n_neurons, np.inf)
    # spikes are sorted by time: the first occurrence of each node is its first spike
    nodes, where = np.unique(result.spike_node, return_index=True)
    first[nodes - net.n_inputs] = result.spike_time[where]
    return first


def check_params(
    params: Iterable[str] | None, default: tuple[str, ...] = GROUPS
) -> tuple[str, ...]:
    """The parameter groups asked for (``None``: ``default``); an unknown name is an error."""
    if params is None:
        return default
    if isinstance(params, str):
        raise ProblemError(f"params: expected a list of group names, got the string {params!r}")
    if isinstance(params, Mapping):
        raise ProblemError(
            "params: expected a list of group names such as ['weight']; parameter subsets "
            "({group: indices}) are for fpgrad.spike_jacobian"
        )
    return tuple(check_groups(params))


def _check_tol(value: float) -> float:
    tol = float(value)
    if not (math.isfinite(tol) and tol >= 0):
        raise ProblemError(f"degeneracy_tol = {value!r} must be finite and >= 0")
    return tol


class GradientMethod(ABC):
    """Base class of every gradient method (module docstring).

    Class attributes: ``kind`` (``"exact"``, ``"finite-difference"`` or ``"surrogate"``);
    ``supports_client`` (whether :meth:`batch` can run on a Dask cluster, module docstring).
    Subclasses implement :meth:`_gradient` and may override :meth:`_batch` and
    :meth:`prepare` (and then :meth:`_route`, :meth:`_samples` and :meth:`_combine`, or set
    ``supports_client = False``).
    """

    kind: ClassVar[str]
    supports_client: ClassVar[bool] = True

    @property
    def exact(self) -> bool:
        """True for the exact engines (the derivative of the current spike pattern)."""
        return self.kind == "exact"

    @property
    def name(self) -> str:
        """The name in results and reports (``GradientResult.method``)."""
        return self.kind

    # ---- single problem ---------------------------------------------------------------------

    def gradient(
        self,
        problem: Problem,
        loss: Any,
        *,
        params: Iterable[str] | None = None,
        degeneracy_tol: float = DEFAULT_DEGENERACY_TOL,
    ) -> GradientResult:
        """The loss of ``problem``'s spikes and its gradient w.r.t. the groups ``params``
        (default all of :data:`fpgrad.grad.GROUPS`)."""
        if not isinstance(problem, Problem):
            raise ProblemError(f"problem: expected a fpgrad.Problem, got {type(problem).__name__}")
        check_loss(loss)
        return self._gradient(problem, loss, check_params(params), _check_tol(degeneracy_tol))

    @abstractmethod
    def _gradient(
        self, problem: Problem, loss: Any, params: tuple[str, ...], tol: float
    ) -> GradientResult:
        """:meth:`gradient` on validated arguments."""

    # ---- batches ----------------------------------------------------------------------------

    def prepare(self, inputs: Sequence[Sequence[ArrayLike]] | InputBatch) -> Any:
        """The method's prepared form of a batch of input samples (default :class:`InputBatch`);
        it supports ``len()`` and ``subset(index)``, and :meth:`batch` accepts it."""
        return InputBatch(inputs)

    def batch(
        self,
        network: Network,
        inputs: Sequence[Sequence[ArrayLike]] | Any,
        t_max: float,
        losses: Sequence[Any],
        *,
        params: Iterable[str] | None = None,
        degeneracy_tol: float = DEFAULT_DEGENERACY_TOL,
        sample_clip: float = 0.0,
        n_threads: int | None = None,
        client: Client | str | None = None,
    ) -> BatchGradient:
        """Losses, first spikes and the mean gradient of a batch (module docstring).

        Args:
            network: the network every sample runs on.
            inputs: ``inputs[s][j]`` (spike times of input ``j`` in sample ``s``), or the output
                of :meth:`prepare` (or a ``subset`` of it).
            t_max: horizon (ms).
            losses: one loss per sample.
            params: network groups to average (default every group but ``input_time``; ``[]``
                evaluates losses only). ``input_time`` may be asked for: it is then in each
                ``samples[b].grad``, not averaged (input spikes differ between samples).
            degeneracy_tol: margin below which a sample is flagged degenerate.
            sample_clip: if ``> 0``, each sample's gradient (the averaged groups together) is
                scaled to Euclidean norm at most ``sample_clip`` before averaging.
            n_threads: threads for the exact kernels (default: all cores). With ``client``,
                the in-process run whose bits are reproduced (the fused path sums per thread).
            client: a ``dask.distributed.Client`` or a scheduler address (``"tcp://host:8786"``):
                the samples are computed in chunks on its workers and reduced here, equal bit
                for bit to the in-process call (:mod:`fpgrad._distributed`; the ``dask`` extra).
        """
        if not isinstance(network, Network):
            raise ProblemError(f"network: expected a fpgrad.Network, got {type(network).__name__}")
        data = inputs if _is_prepared(inputs) else self.prepare(inputs)
        source = data if isinstance(data, InputBatch) else getattr(data, "source", None)
        if source is not None and source.n_inputs != network.n_inputs:
            raise ProblemError(
                f"inputs: the network has {network.n_inputs} inputs, the samples have "
                f"{source.n_inputs} spike trains each"
            )
        losses = list(losses)
        if len(losses) != len(data):
            raise ProblemError(
                f"need one loss per sample: got {len(data)} samples and {len(losses)} losses"
            )
        for loss in losses:
            check_loss(loss)
        names = check_params(params, NETWORK_GROUPS)
        clip = float(sample_clip)
        if not (math.isfinite(clip) and clip >= 0):
            raise ProblemError(f"sample_clip = {sample_clip!r} must be finite and >= 0")
        t_max = check_t_max(t_max)
        tol = _check_tol(degeneracy_tol)
        if client is not None:
            return self._distributed(
                client, network, data, t_max, losses, names, tol, clip, n_threads
            )
        return self._batch(network, data, t_max, losses, names, tol, clip, n_threads)

    def _distributed(
        self,
        client: Client | str,
        network: Network,
        data: Any,
        t_max: float,
        losses: list[Any],
        params: tuple[str, ...],
        tol: float,
        sample_clip: float,
        n_threads: int | None,
    ) -> BatchGradient:
        """:meth:`batch` on a Dask cluster: :meth:`_samples` per chunk on the workers,
        :meth:`_combine` here."""
        check_distributable(self)
        from ._distributed import map_chunks

        route = self._route(network, data, losses, params)
        batch = data if isinstance(data, InputBatch) else data.source
        samples = map_chunks(
            client,
            _chunk_samples,
            len(batch),
            lambda lo, hi: (tuple(batch.sample(k) for k in range(lo, hi)), losses[lo:hi]),
            shared={"network": network},
            constants={"method": self, "route": route, "t_max": t_max, "params": params,
                       "tol": tol, "sample_clip": sample_clip},
        )  # fmt: skip
        return self._combine(route, network, samples, params, tol, sample_clip, n_threads)

    def _route(
        self, network: Network, data: Any, losses: list[Any], params: tuple[str, ...]
    ) -> str:
        """How this method computes a batch (validated arguments): ``"samples"`` (the default,
        :meth:`_gradient` per sample) or a name of the method's own that :meth:`_samples` and
        :meth:`_combine` understand."""
        return "samples"

    def _samples(
        self,
        route: str,
        network: Network,
        batch: InputBatch,
        t_max: float,
        losses: list[Any],
        params: tuple[str, ...],
        tol: float,
        sample_clip: float,
        n_threads: int | None,
    ) -> Iterable[Any]:
        """Each sample's outcome along ``route``, in sample order, on ``n_threads`` threads
        (default: a list of the :class:`GradientResult` of :meth:`_gradient`). Every sample is
        computed on its own, so any split of a batch gives the same outcomes."""
        data, index = batch._data, batch.index.tolist()
        problems = [Problem.from_batch(network, data, s, t_max) for s in index]

        def one(b: int) -> GradientResult:
            return self._gradient(problems[b], losses[b], params, tol)

        return map_threads(one, range(len(problems)), n_threads)

    def _batch(
        self,
        network: Network,
        data: Any,
        t_max: float,
        losses: list[Any],
        params: tuple[str, ...],
        tol: float,
        sample_clip: float,
        n_threads: int | None,
    ) -> BatchGradient:
        """:meth:`batch` on validated arguments; default: :meth:`_samples` (:meth:`_gradient`
        per sample on ``n_threads`` threads), then :meth:`_combine`."""
        batch = data if isinstance(data, InputBatch) else data.source
        samples = self._samples(
            "samples", network, batch, t_max, losses, params, tol, sample_clip, n_threads
        )
        return self._combine("samples", network, samples, params, tol, sample_clip, n_threads)

    def _combine(
        self,
        route: str,
        network: Network,
        samples: list[Any],
        params: tuple[str, ...],
        tol: float,
        sample_clip: float,
        n_threads: int | None,
    ) -> BatchGradient:
        """The :class:`BatchGradient` of the outcomes of :meth:`_samples` (default: per-sample
        :class:`GradientResult`), ``(1/B) sum_b dL_b/dp`` summed in sample order."""
        shared = [name for name in params if name != "input_time"]
        total = None
        if shared:
            grads = [Gradients(**{n: getattr(s.grad, n) for n in shared}) for s in samples]
            if sample_clip > 0:
                grads = [_clipped(g, sample_clip) for g in grads]
            total = grads[0]
            for g in grads[1:]:
                total = total + g
            total = total.scale(1.0 / len(samples))
        first = [
            first_spike_matrix(s.result)
            if s.result is not None
            else np.full(network.n_neurons, np.nan)
            for s in samples
        ]
        return BatchGradient(
            loss=float(np.mean([s.loss for s in samples])),
            grad=total,
            losses=np.array([s.loss for s in samples], dtype=np.float64),
            first_spike_time=np.stack(first),
            degenerate=np.array([s.degenerate for s in samples], dtype=bool),
            method=self.name,
            samples=tuple(samples),
        )


def check_distributable(method: GradientMethod) -> None:
    """Refuse a method whose batches cannot run on a Dask cluster (``supports_client``)."""
    if not method.supports_client:
        raise ProblemError(
            f"client: {type(method).__name__} computes a batch in one piece in this process and "
            "cannot be split over a Dask cluster; use an exact or finite-difference method there"
        )


def _chunk_samples(
    trains: tuple[tuple[NDArray[np.float64], ...], ...],
    losses: list[Any],
    *,
    method: GradientMethod,
    network: Network,
    route: str,
    t_max: float,
    params: tuple[str, ...],
    tol: float,
    sample_clip: float,
) -> Iterable[Any]:
    """One chunk of a distributed batch, on a worker (:meth:`GradientMethod._distributed`): the
    samples' outcomes on the worker's thread (the worker runs as many tasks as it has threads)."""
    return method._samples(
        route, network, InputBatch(trains), t_max, losses, params, tol, sample_clip, 1
    )


def is_uniform_cross_entropy(losses: list[Any]) -> bool:
    """Whether every loss of a batch is a :class:`~fpgrad.FirstSpikeCrossEntropy` with the same
    output neurons and constants (only the labels differ): a classification minibatch."""
    from .losses import FirstSpikeCrossEntropy

    head = losses[0]
    if type(head) is not FirstSpikeCrossEntropy:
        return False
    key = (head.neurons, head.tau0, head.tau1, head.alpha)
    return all(
        type(lo) is FirstSpikeCrossEntropy and (lo.neurons, lo.tau0, lo.tau1, lo.alpha) == key
        for lo in losses
    )


def is_classification_batch(losses: list[Any], params: tuple[str, ...], sample_clip: float) -> bool:
    """Whether a batch is a classification minibatch (:func:`is_uniform_cross_entropy`) asking
    for ``weight`` and/or ``threshold`` (both, when clipping per sample): what the surrogate's
    fused batch path computes exactly."""
    fused = {"weight", "threshold"}
    if not set(params) <= fused or (sample_clip > 0 and set(params) != fused):
        return False
    return is_uniform_cross_entropy(losses)


def _clipped(grad: Gradients, limit: float) -> Gradients:
    norm = float(np.linalg.norm(grad.flat()))
    return grad.scale(limit / norm) if norm > limit else grad


def _is_prepared(inputs: Any) -> bool:
    return hasattr(inputs, "subset") and hasattr(inputs, "__len__")


def check_loss(loss: Any) -> None:
    if not callable(getattr(loss, "value_and_spike_grad", None)):
        raise ProblemError(
            "loss: expected a loss object such as fpgrad.FirstSpikeMSE(neurons, targets) "
            f"(anything with value_and_spike_grad(result)), got {loss!r}"
        )

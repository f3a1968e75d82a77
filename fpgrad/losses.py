"""Losses of spike times, with exact derivatives.

Each loss is a small frozen dataclass. For the exact engines it maps a
:class:`~fpgrad.SimulationResult` to ``(value, dL/d spike_time)`` (one derivative per neuron
spike, in the order of ``result.spike_time``), which reverse mode turns into parameter gradients.
The formula itself is written once, generic over the array module (``xp`` = ``numpy`` or
``jax.numpy``), so the discrete-time JAX side evaluates the very same definition.

Grid counterpart. Each loss also says how it is evaluated on a time grid (surrogate-gradient
BPTT, :mod:`fpgrad.discrete`): :meth:`grid_statistic` names the statistic of the grid raster it
needs (``"first"``: differentiable first-spike times, ``"count"``: spike counts, ``"raster"``: the
raster columns themselves) and the neurons it reads, and :meth:`grid_value` computes the loss from
that statistic. A new loss that defines the two methods works with surrogate gradients without any
change in :mod:`fpgrad.discrete`.

Silent neurons. A first-spike loss needs a time for every output neuron. A neuron that does not
fire on ``[0, t_max]`` is given the time ``t_max`` (the latest it could have fired) and that time
carries no gradient: the exact derivative of a spike that does not exist is zero. Losses stay
finite, never NaN, and the gradient pushes the other (firing) neurons as usual.

Online accumulation. Forward propagation can run the simulation chunk by chunk and hand out, per
chunk, the neuron spikes (global node ids and times, ordered by time then node) with each spike's
tangent row ``d t_s / dp`` (one column per parameter carried), keeping no history. Every loss here
is also an :class:`OnlineLoss`: ``loss.online(n_columns)`` returns an :class:`OnlineAccumulator`
whose ``update(node, time, tangent)`` takes one chunk and whose ``finish(t_max)`` returns the
value and ``dL/dp = sum_s (dL/dt_s) (dt_s/dp)``, equal to ``value_and_spike_grad`` contracted
with the tangent rows, in memory that does not grow with the number of spikes or ``t_max``:
the first-spike losses keep each neuron's first spike time and tangent row, :class:`VanRossum`
keeps exponential traces per target neuron (the equations are in its docstring),
:class:`SpikeCount` keeps counts (its exact gradient is zero).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._numba import jit
from ._problem import ProblemError
from .event import SimulationResult

__all__ = [
    "FirstSpikeCrossEntropy",
    "FirstSpikeMSE",
    "Loss",
    "OnlineAccumulator",
    "OnlineLoss",
    "SpikeCount",
    "VanRossum",
    "cross_entropy_and_time_grad",
    "first_spike_times",
    "mse_and_time_grad",
]


GridStatistic = Literal["first", "count", "raster"]


class Loss(Protocol):
    """What :func:`fpgrad.gradient` needs from a loss (the last two only on the time grid)."""

    def value_and_spike_grad(self, result: SimulationResult) -> tuple[float, NDArray[np.float64]]:
        """The loss and its derivative w.r.t. each spike time of ``result``."""
        ...

    def grid_statistic(self) -> tuple[GridStatistic, tuple[int, ...]]:
        """The grid statistic this loss reads and the neurons (global ids) it reads it of."""
        ...

    def grid_value(self, statistic: Any, dt: float) -> Any:
        """The loss (a JAX scalar) from :meth:`grid_statistic`'s statistic of its neurons on a
        grid of step ``dt``: first-spike times ``(n,)``, counts ``(n,)`` or the raster
        ``(T + 1, n)`` (column ``c`` is neuron ``c`` of :meth:`grid_statistic`)."""
        ...


class OnlineAccumulator(Protocol):
    """A loss accumulated from spike chunks (see :class:`OnlineLoss`); memory independent of the
    number of spikes and of ``t_max``."""

    def update(
        self, node: NDArray[np.int64], time: NDArray[np.float64], tangent: NDArray[np.float64]
    ) -> None:
        """One chunk of neuron spikes: global node ids ``(k,)``, times ``(k,)`` and tangent rows
        ``d t_s / dp`` ``(k, n_columns)``. Chunks come in time order, spikes within a chunk in
        (time, node) order; a chunk may be empty; spikes of neurons the loss does not read are
        ignored."""
        ...

    def finish(self, t_max: float) -> tuple[float, NDArray[np.float64]]:
        """The loss and ``dL/dp = sum_s (dL/dt_s) (dt_s/dp)`` ``(n_columns,)`` of all spikes fed,
        on ``[0, t_max]`` (``t_max``: a silent neuron's first spike time). Does not change the
        state: more chunks may follow and ``finish`` may be called again."""
        ...


class OnlineLoss(Protocol):
    """A loss that forward propagation can accumulate online, chunk by chunk: for a
    :class:`SimulationResult` whose spikes (in ``spike_time`` order) have tangent rows ``G``
    ``(n_spikes, n_columns)``, feeding the spikes in chunks gives
    ``finish(t_max) == (L, dL/dt @ G)`` with ``(L, dL/dt) = value_and_spike_grad(result)``."""

    def online(self, n_columns: int) -> OnlineAccumulator:
        """A fresh accumulator for tangent rows of ``n_columns`` parameters."""
        ...


def _integer(name: str, value: Any) -> int:
    """``value`` as an int if it is an integer (``3`` or ``3.0``, not ``3.7``, ``True`` or
    ``"3"``); else a :class:`ProblemError` naming ``name`` and the value."""
    if type(value) is int:
        return value
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
        raise ProblemError(f"{name} = {value!r}: expected an integer")
    if isinstance(value, int | np.integer):
        return int(value)
    if not (math.isfinite(value) and float(value).is_integer()):
        raise ProblemError(f"{name} = {value!r}: expected an integer")
    return int(value)


def _node_ids(neurons: Sequence[int] | ArrayLike) -> tuple[int, ...]:
    if isinstance(neurons, tuple) and all(type(x) is int for x in neurons):
        ids = neurons  # the common case (a training loop builds many losses): nothing to convert
    elif isinstance(neurons, str):
        raise ProblemError(f"neurons = {neurons!r}: expected a list of global node ids")
    else:
        items = np.asarray(neurons, dtype=object).ravel()
        ids = tuple(_integer(f"neurons[{k}]", x) for k, x in enumerate(items))
    if not ids:
        raise ProblemError("neurons: need at least one neuron (global node id)")
    return ids


def _finite_values(name: str, values: Any, count: int | None = None) -> tuple[float, ...]:
    """A flat tuple of finite floats (``count`` of them if given), else a clear error."""
    try:
        arr = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise ProblemError(f"{name} = {values!r}: expected numbers") from None
    if count is not None and arr.size != count:
        raise ProblemError(f"{name}: expected {count} values (one per neuron), got {arr.size}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ProblemError(f"{name}[{bad[0]}] = {float(arr[bad[0]])!r} is not finite")
    return tuple(float(x) for x in arr)


def _positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    if type(value) is float and math.isfinite(value) and value > 0:
        return value  # the common case, without a conversion
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ProblemError(f"{name} = {value!r}: expected a number") from None
    if not math.isfinite(x):
        raise ProblemError(f"{name} = {x!r} is not finite")
    if x < 0 or (x == 0 and not allow_zero):
        raise ProblemError(f"{name} = {x!r} must be {'>= 0' if allow_zero else '> 0'}")
    return x


def _check_neurons(result: SimulationResult, neurons: tuple[int, ...]) -> None:
    net = result.problem.network
    for node in neurons:
        if not net.n_inputs <= node < net.n_nodes:
            raise ProblemError(
                f"loss neurons: node {node} is not a neuron (ids {net.n_inputs}..{net.n_nodes - 1})"
            )


def _n_columns(value: Any) -> int:
    n = _integer("n_columns", value)
    if n < 0:
        raise ProblemError(f"n_columns = {n} must be >= 0")
    return n


class _Accumulator:
    """What every online accumulator shares: its width, the check of a chunk (shapes, finite
    times that do not decrease) and of ``t_max``."""

    def __init__(self, n_columns: Any) -> None:
        self.n_columns = _n_columns(n_columns)
        self._last_time = -math.inf  # the latest spike time fed (time order across chunks)

    def _chunk(
        self, node: Any, time: Any, tangent: Any
    ) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
        node = np.asarray(node)
        if node.ndim != 1 or (node.size and node.dtype.kind not in "iu"):
            raise ProblemError(
                f"update: node has shape {node.shape} and dtype {node.dtype}, expected (k,) ids"
            )
        k = node.shape[0]
        try:
            time = np.asarray(time, dtype=np.float64)
            tangent = np.ascontiguousarray(tangent, dtype=np.float64)
        except (TypeError, ValueError):
            raise ProblemError("update: time and tangent must be arrays of numbers") from None
        if time.shape != (k,):
            raise ProblemError(f"update: time has shape {time.shape}, expected ({k},) like node")
        if tangent.shape != (k, self.n_columns):
            raise ProblemError(
                f"update: tangent has shape {tangent.shape}, expected ({k}, {self.n_columns})"
            )
        if k:
            if not np.isfinite(time).all():
                raise ProblemError(f"update: spike time {time[~np.isfinite(time)][0]} not finite")
            if time[0] < self._last_time or np.any(time[1:] < time[:-1]):
                raise ProblemError("update: spike times decrease (chunks must come in time order)")
            self._last_time = float(time[-1])
        return node.astype(np.int64, copy=False), time, tangent

    def _t_max(self, t_max: Any) -> float:
        try:
            t = float(t_max)
        except (TypeError, ValueError):
            raise ProblemError(f"finish: t_max = {t_max!r}: expected a number") from None
        if not math.isfinite(t) or t < self._last_time:
            raise ProblemError(f"finish: t_max = {t!r} must be finite, >= the last spike time")
        return t


def _positions(ids: NDArray[np.int64], node: NDArray[np.int64]) -> NDArray[np.int64]:
    """For each of ``node``, its index in the sorted ``ids``, or -1 if absent."""
    if not ids.size:
        return np.full(node.shape, -1, dtype=np.int64)
    j = np.minimum(np.searchsorted(ids, node), ids.size - 1)
    return np.where(ids[j] == node, j, -1).astype(np.int64)


class _FirstSpikeAccumulator(_Accumulator):
    """Online first-spike loss: each loss neuron's first spike time and tangent row; at
    :meth:`finish` the loss's own ``value_and_time_grad`` of the times (silent: ``t_max``, zero
    tangent) contracted with the rows."""

    def __init__(self, loss: FirstSpikeMSE | FirstSpikeCrossEntropy, n_columns: Any) -> None:
        super().__init__(n_columns)
        self._loss = loss
        self._neurons = np.asarray(loss.neurons, dtype=np.int64)
        self._time = np.zeros(len(loss.neurons))
        self._tangent = np.zeros((len(loss.neurons), self.n_columns))
        self._fired = np.zeros(len(loss.neurons), dtype=bool)

    def update(self, node: Any, time: Any, tangent: Any) -> None:
        """One chunk (see :class:`OnlineAccumulator`)."""
        node, time, tangent = self._chunk(node, time, tangent)
        waiting = np.flatnonzero(~self._fired)
        if not node.size or not waiting.size:
            return
        ids, first = np.unique(node, return_index=True)  # each node's first spike in the chunk
        j = _positions(ids, self._neurons[waiting])
        slots, rows = waiting[j >= 0], first[j[j >= 0]]
        self._time[slots] = time[rows]
        self._tangent[slots] = tangent[rows]
        self._fired[slots] = True

    def finish(self, t_max: Any) -> tuple[float, NDArray[np.float64]]:
        """The loss and ``dL/dp`` (see :class:`OnlineAccumulator`)."""
        times = np.where(self._fired, self._time, self._t_max(t_max))
        value, grad = self._loss.value_and_time_grad(times)
        return float(value), np.where(self._fired, grad, 0.0) @ self._tangent


def first_spike_times(
    result: SimulationResult, neurons: Sequence[int]
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """First spike time of each neuron (``t_max`` if silent) and its spike index (-1 if silent)."""
    neurons = _node_ids(neurons)
    _check_neurons(result, neurons)
    times = np.full(len(neurons), result.problem.t_max)
    if result.n_spikes == 0:
        return times, np.full(len(neurons), -1, dtype=np.int64)
    hit = result.spike_node[None, :] == np.asarray(neurons)[:, None]  # (neuron, spike)
    index = np.where(hit.any(axis=1), hit.argmax(axis=1), -1).astype(np.int64)
    fired = index >= 0
    times[fired] = result.spike_time[index[fired]]
    return times, index


def _scatter(result: SimulationResult, index: NDArray[np.int64], grad: NDArray) -> NDArray:
    out = np.zeros(result.n_spikes)
    fired = index >= 0
    np.add.at(out, index[fired], np.asarray(grad)[fired])
    return out


@dataclass(frozen=True)
class FirstSpikeMSE:
    """Mean squared error of first spike times to targets:
    ``L = (1/n) sum_i (t_i - target_i)^2`` over the ``n`` given neurons (global node ids)."""

    neurons: tuple[int, ...]
    targets: tuple[float, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "neurons", _node_ids(self.neurons))
        targets = _finite_values("targets", self.targets, len(self.neurons))
        object.__setattr__(self, "targets", targets)

    def formula(self, times: Any, xp: Any = np) -> Any:
        """``L`` from the first spike times (array of shape ``(n,)``)."""
        return xp.mean((times - xp.asarray(self.targets)) ** 2)

    def grid_statistic(self) -> tuple[GridStatistic, tuple[int, ...]]:
        """First-spike times of :attr:`neurons` (see :class:`Loss`)."""
        return "first", self.neurons

    def grid_value(self, statistic: Any, dt: float) -> Any:
        """:meth:`formula` of the grid first-spike times."""
        import jax.numpy as jnp

        return self.formula(statistic, xp=jnp)

    def value_and_time_grad(self, times: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        """``L`` and ``dL/dt_i = 2 (t_i - target_i) / n`` of the first spike times ``(n,)``
        (:func:`mse_and_time_grad`)."""
        times = np.ascontiguousarray(times, dtype=np.float64)
        value, grad = mse_and_time_grad(times, np.asarray(self.targets, dtype=np.float64))
        return float(value), grad

    def value_and_spike_grad(self, result: SimulationResult) -> tuple[float, NDArray[np.float64]]:
        times, index = first_spike_times(result, self.neurons)
        value, grad = self.value_and_time_grad(times)
        return value, _scatter(result, index, grad)

    def online(self, n_columns: int) -> OnlineAccumulator:
        """An :class:`OnlineAccumulator`: first spike time and tangent row per neuron."""
        return _FirstSpikeAccumulator(self, n_columns)


@dataclass(frozen=True)
class FirstSpikeCrossEntropy:
    """First-spike classification loss (EventProp's, Wunderlich & Pehle 2021):

        L = -log softmax(-t / tau0)[label] + alpha (exp(t_label / tau1) - 1)

    over the first spike times ``t`` of the output ``neurons`` (global node ids, class ``c`` is
    ``neurons[c]``). The regulariser pushes the correct neuron to fire early. Defaults
    ``tau0 = 2 ms``, ``tau1 = 10 ms``, ``alpha = 1e-2``.
    """

    neurons: tuple[int, ...]
    label: int
    tau0: float = 2.0  # the defaults are written only here (fpgrad.train reads them from here)
    tau1: float = 10.0
    alpha: float = 1e-2

    def __post_init__(self) -> None:
        object.__setattr__(self, "neurons", _node_ids(self.neurons))
        label = _integer("label", self.label)
        if not 0 <= label < len(self.neurons):
            raise ProblemError(f"label = {label} must lie in [0, {len(self.neurons)})")
        object.__setattr__(self, "label", label)
        object.__setattr__(self, "tau0", _positive("tau0", self.tau0))
        object.__setattr__(self, "tau1", _positive("tau1", self.tau1))
        object.__setattr__(self, "alpha", _positive("alpha", self.alpha, allow_zero=True))

    def formula(self, times: Any, xp: Any = np) -> Any:
        """``L`` from the first spike times (array of shape ``(n_classes,)``)."""
        z = -times / self.tau0
        z_max = xp.max(z)
        log_norm = z_max + xp.log(xp.sum(xp.exp(z - z_max)))
        t_label = times[self.label]
        return log_norm - z[self.label] + self.alpha * (xp.exp(t_label / self.tau1) - 1.0)

    def grid_statistic(self) -> tuple[GridStatistic, tuple[int, ...]]:
        """First-spike times of :attr:`neurons` (see :class:`Loss`)."""
        return "first", self.neurons

    def grid_value(self, statistic: Any, dt: float) -> Any:
        """:meth:`formula` of the grid first-spike times."""
        import jax.numpy as jnp

        return self.formula(statistic, xp=jnp)

    def value_and_time_grad(self, times: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        """``L`` and ``dL/dt`` of the first spike times ``(n_classes,)``
        (:func:`cross_entropy_and_time_grad`)."""
        times = np.ascontiguousarray(times, dtype=np.float64)
        value, grad = cross_entropy_and_time_grad(
            times, self.label, self.tau0, self.tau1, self.alpha
        )
        return float(value), grad

    def value_and_spike_grad(self, result: SimulationResult) -> tuple[float, NDArray[np.float64]]:
        times, index = first_spike_times(result, self.neurons)
        value, grad = self.value_and_time_grad(times)
        return value, _scatter(result, index, grad)

    def online(self, n_columns: int) -> OnlineAccumulator:
        """An :class:`OnlineAccumulator`: first spike time and tangent row per neuron."""
        return _FirstSpikeAccumulator(self, n_columns)

    def predict(self, result: SimulationResult) -> int:
        """The predicted class: the output neuron that fires first (ties: lowest class)."""
        return int(np.argmin(first_spike_times(result, self.neurons)[0]))


@jit
def mse_and_time_grad(times, targets):
    """:class:`FirstSpikeMSE`'s value and ``dL/dt`` (Numba; also called per sample by the fused
    batch path): ``L = (1/n) sum_i (t_i - target_i)^2``, ``dL/dt_i = 2 (t_i - target_i) / n``."""
    n = times.shape[0]
    total = 0.0
    grad = np.empty(n)
    for i in range(n):
        d = times[i] - targets[i]
        total += d * d
        grad[i] = 2.0 * d / n
    return total / n, grad


@jit
def cross_entropy_and_time_grad(times, label, tau0, tau1, alpha):
    """:class:`FirstSpikeCrossEntropy`'s value and ``dL/dt`` (Numba; also called per sample by
    the training fast path): with ``z = -t / tau0`` and ``p = softmax(z)``,

        L = logsumexp(z) - z[label] + alpha (e^{t_label / tau1} - 1),
        dL/dt_c = -(p_c - [c = label]) / tau0 + [c = label] alpha / tau1 e^{t_label / tau1}.
    """
    n = times.shape[0]
    z_max = -math.inf
    for c in range(n):
        z_max = max(z_max, -times[c] / tau0)
    total = 0.0
    for c in range(n):
        total += math.exp(-times[c] / tau0 - z_max)
    t_label = times[label]
    value = z_max + math.log(total) + t_label / tau0 + alpha * (math.exp(t_label / tau1) - 1.0)
    grad = np.empty(n)
    for c in range(n):
        grad[c] = -math.exp(-times[c] / tau0 - z_max) / total / tau0
    grad[label] += 1.0 / tau0 + alpha / tau1 * math.exp(t_label / tau1)
    return value, grad


def _van_rossum_pairs(x: Any, y: Any, tau: float, xp: Any) -> Any:
    """``sum_{i,j} exp(-|x_i - y_j| / tau)``."""
    return xp.sum(xp.exp(-xp.abs(x[:, None] - y[None, :]) / tau))


@jit
def _van_rossum_cross_at(t, s, tau):
    """The cross term of one spike at ``t`` with the target train ``s``: ``sum_j K(t - s_j)``
    and its share of ``dL/dt``, ``-sum_j K'(t - s_j) = sum_j sign(t - s_j) K(t - s_j) / tau``."""
    kernel = 0.0
    slope = 0.0
    for j in range(s.shape[0]):
        x = t - s[j]
        k = math.exp(-abs(x) / tau)
        kernel += k
        if x > 0.0:
            slope += k / tau
        elif x < 0.0:
            slope -= k / tau
    return kernel, slope


@jit
def _van_rossum_cross(t, s, tau):
    """:func:`_van_rossum_cross_at`'s share of ``dL/dt`` for each spike of ``t``."""
    slope = np.empty(t.shape[0])
    for i in range(t.shape[0]):
        slope[i] = _van_rossum_cross_at(t[i], s, tau)[1]
    return slope


@jit
def _van_rossum_online(slot, time, tangent, target, start, tau, t_last, a, c, b, h, grad):
    """One chunk of :class:`VanRossum`'s online form (the equations are in its docstring).

    ``slot[k]``: spike ``k``'s target neuron (-1: not read); ``target[start[n]:start[n + 1]]``:
    neuron ``n``'s target train. State per neuron: ``t_last`` (the time of its latest spikes),
    ``c``/``h`` (their count and tangent sum), ``a``/``b`` (the traces ``A*``/``B*`` at
    ``t_last`` of the strictly earlier spikes). Adds to ``grad``; returns the chunk's
    self-pair and cross sums."""
    self_sum = 0.0
    cross_sum = 0.0
    for k in range(slot.shape[0]):
        n = slot[k]
        if n < 0:
            continue
        t = time[k]
        if t > t_last[n]:  # a new time: fold the spikes at t_last in, decay to t
            decay = math.exp(-(t - t_last[n]) / tau)
            a[n] = decay * (a[n] + c[n])
            c[n] = 0.0
            for q in range(b.shape[1]):
                b[n, q] = decay * (b[n, q] + h[n, q])
                h[n, q] = 0.0
            t_last[n] = t
        self_sum += 0.5 + a[n] + c[n]
        kernel, slope = _van_rossum_cross_at(t, target[start[n] : start[n + 1]], tau)
        cross_sum += kernel
        coef = slope - a[n] / tau
        for q in range(b.shape[1]):
            grad[q] += coef * tangent[k, q] + b[n, q] / tau
            h[n, q] += tangent[k, q]
        c[n] += 1.0
    return self_sum, cross_sum


class _VanRossumAccumulator(_Accumulator):
    """Online :class:`VanRossum`: per target neuron the traces ``A*``, ``B*`` and the count and
    tangent sum of its latest equal-time spikes (``2 n_columns + 3`` floats), plus the targets."""

    def __init__(self, loss: VanRossum, n_columns: Any) -> None:
        super().__init__(n_columns)
        nodes = np.asarray(tuple(loss.targets), dtype=np.int64)
        order = np.argsort(nodes, kind="stable")
        self._ids, self._slot_of = nodes[order], order.astype(np.int64)
        trains = [np.asarray(train, dtype=np.float64) for train in loss.targets.values()]
        self._target = np.concatenate(trains)
        self._start = np.cumsum([0] + [x.size for x in trains]).astype(np.int64)
        self._tau = loss.tau
        self._constant = float(sum(0.5 * _van_rossum_pairs(x, x, loss.tau, np) for x in trains))
        n = nodes.size
        self._t_last = np.full(n, -math.inf)
        self._a, self._c = np.zeros(n), np.zeros(n)
        self._b, self._h = np.zeros((n, self.n_columns)), np.zeros((n, self.n_columns))
        self._grad = np.zeros(self.n_columns)
        self._self_sum = 0.0
        self._cross_sum = 0.0

    def update(self, node: Any, time: Any, tangent: Any) -> None:
        """One chunk (see :class:`OnlineAccumulator`)."""
        node, time, tangent = self._chunk(node, time, tangent)
        if not node.size:
            return
        j = _positions(self._ids, node)
        slot = np.where(j >= 0, self._slot_of[j], -1).astype(np.int64)
        self_sum, cross_sum = _van_rossum_online(
            slot, time, tangent, self._target, self._start, self._tau,
            self._t_last, self._a, self._c, self._b, self._h, self._grad,
        )  # fmt: skip
        self._self_sum += self_sum
        self._cross_sum += cross_sum

    def finish(self, t_max: Any) -> tuple[float, NDArray[np.float64]]:
        """The loss and ``dL/dp`` (see :class:`OnlineAccumulator`)."""
        self._t_max(t_max)
        return self._self_sum + self._constant - self._cross_sum, self._grad.copy()


@dataclass(frozen=True)
class VanRossum:
    """Van Rossum distance of spike trains to target trains, summed over neurons:

        L = sum_n D_n^2,   D^2 = (1/tau) integral_0^inf (f(t) - g(t))^2 dt
          = 1/2 [sum_{i,i'} K(t_i - t_i') + sum_{j,j'} K(s_j - s_j') - 2 sum_{i,j} K(t_i - s_j)]

    with ``f = sum_i exp(-(t - t_i)/tau) [t >= t_i]`` (``g`` from the targets ``s_j``) and
    ``K(x) = exp(-|x|/tau)``: the closed form over spike pairs. ``targets`` maps global node ids
    to target spike times. ``dL/dt_i = sum_{i'} K'(t_i - t_i') - sum_j K'(t_i - s_j)`` with
    ``K'(x) = -sign(x) K(x) / tau`` (``sign(0) = 0``: equal times contribute nothing).

    Online form (:meth:`online`). For one neuron, number its spikes in time order
    ``t_1 <= t_2 <= ...`` with tangent rows ``g_i = dt_i/dp``. As ``t_i >= t_i'`` for ``i' < i``:

        (1/2) sum_{i,i'} K(t_i - t_i') = sum_i (1/2 + A_i),   A_i = sum_{i'<i} e^{-(t_i - t_i')/tau}

        d/dp (1/2) sum_{i,i'} K(t_i - t_i') = sum_{i,i'} K'(t_i - t_i') g_i
            = -(1/tau) sum_i (A*_i g_i - B*_i),

        A*_i = sum_{i' < i, t_i' < t_i} e^{-(t_i - t_i')/tau},   B*_i = (the same sum of the g_i')

    (a pair at equal times adds ``K(0) = 1`` to ``A_i`` but, as ``sign(0) = 0``, nothing to the
    gradient). With ``c``, ``h`` the count and tangent sum of the neuron's spikes at its latest
    time ``t_last`` and ``A*``, ``B*`` the traces at ``t_last`` of the strictly earlier ones, a
    spike at ``t`` first, if ``t > t_last``, folds the latest spikes in and decays the traces
    (``exp`` of a non-positive number only, so nothing overflows however long the run):

        A* <- e^{-(t - t_last)/tau} (A* + c),   B* <- e^{-(t - t_last)/tau} (B* + h),
        c <- 0,  h <- 0,  t_last <- t

    then ``A_i = A* + c``, ``A*_i = A*``, ``B*_i = B*``, and afterwards ``c += 1``, ``h += g_i``.
    The cross term is per spike, ``C_i = sum_j K(t_i - s_j)`` with slope
    ``sigma_i = -sum_j K'(t_i - s_j)``, and the target-target term a constant, so

        L     = sum_n [ sum_{i of n} (1/2 + A_i - C_i) + (1/2) sum_{j,j'} K(s_j - s_j') ]
        dL/dp = sum_i [ (sigma_i - A*_i / tau) g_i + B*_i / tau ]

    in ``2 n_columns + 3`` floats per target neuron, updated spike by spike.
    """

    targets: Mapping[int, tuple[float, ...]] = field(hash=False)
    tau: float = 10.0

    def __post_init__(self) -> None:
        if not isinstance(self.targets, Mapping):
            raise ProblemError(
                f"targets = {self.targets!r}: expected a mapping {{neuron id: [spike times]}}"
            )
        clean = {}
        for node, train in dict(self.targets).items():
            times = _finite_values(f"targets[{node!r}]", train)
            clean[_integer("targets: neuron id", node)] = tuple(sorted(times))
        if not clean:
            raise ProblemError("targets: need at least one neuron")
        object.__setattr__(self, "tau", _positive("tau", self.tau))
        object.__setattr__(self, "targets", clean)

    def formula(self, trains: Sequence[Any], xp: Any = np) -> Any:
        """``L`` from the spike trains of ``targets``' neurons (in the mapping's order)."""
        total = 0.0
        for train, target in zip(trains, self.targets.values(), strict=True):
            s = xp.asarray(target)
            total = total + 0.5 * (
                _van_rossum_pairs(train, train, self.tau, xp)
                + _van_rossum_pairs(s, s, self.tau, xp)
                - 2.0 * _van_rossum_pairs(train, s, self.tau, xp)
            )
        return total

    def grid_statistic(self) -> tuple[GridStatistic, tuple[int, ...]]:
        """The raster columns of the target neurons (see :class:`Loss`)."""
        return "raster", tuple(self.targets)

    def grid_value(self, statistic: Any, dt: float) -> Any:
        """The pair form with the grid raster ``r_n`` (columns in :attr:`targets` order) as spike
        weights at the grid times ``t_n = n dt`` (targets ``s_j`` stay off the grid):

            D^2 = 1/2 [sum_{m,n} r_m r_n K(t_m - t_n) + sum_{j,j'} K(s_j - s_j')
                       - 2 sum_{n,j} r_n K(t_n - s_j)],        K(x) = exp(-|x| / tau),

        the self term in ``O(T)`` through the exactly filtered raster
        ``y_n = r_n + e^{-dt/tau} y_{n-1}``: ``sum_{m,n} r_m r_n K(t_m - t_n) = 2 sum_n r_n y_n -
        sum_n r_n^2``. For a 0/1 raster this *is* the loss of the grid spike times: exact for
        spikes on grid points, first order in ``dt`` otherwise.
        """
        import jax
        import jax.numpy as jnp

        raster = statistic
        times = dt * jnp.arange(raster.shape[0], dtype=raster.dtype)
        decay = jnp.exp(-dt / self.tau)

        def filter_step(y: Any, r_n: Any) -> tuple[Any, Any]:
            y = decay * y + r_n
            return y, y

        _, filtered = jax.lax.scan(filter_step, jnp.zeros_like(raster[0]), raster)
        self_pairs = 2.0 * jnp.sum(raster * filtered, axis=0) - jnp.sum(raster * raster, axis=0)
        total = jnp.zeros((), raster.dtype)
        for p, target in enumerate(self.targets.values()):
            s = jnp.asarray(target, raster.dtype).reshape(-1)
            kernel = jnp.exp(-jnp.abs(times[:, None] - s[None, :]) / self.tau)  # K(t_n - s_j)
            cross = jnp.sum(raster[:, p] * jnp.sum(kernel, axis=1))
            total = total + 0.5 * (
                self_pairs[p] + _van_rossum_pairs(s, s, self.tau, jnp) - 2.0 * cross
            )
        return total

    def value_and_spike_grad(self, result: SimulationResult) -> tuple[float, NDArray[np.float64]]:
        nodes = tuple(self.targets)
        _check_neurons(result, nodes)
        grad = np.zeros(result.n_spikes)
        trains = []
        for node, target in self.targets.items():
            rows = np.flatnonzero(result.spike_node == node)
            t = result.spike_time[rows]
            trains.append(t)
            s = np.asarray(target, dtype=np.float64)
            # dK(x)/dx = -sign(x)/tau K(x); the self-sum counts each pair twice (x 1/2 x 2).
            d_self = (
                -np.sign(t[:, None] - t[None, :])
                / self.tau
                * np.exp(-np.abs(t[:, None] - t[None, :]) / self.tau)
            )
            grad[rows] = d_self.sum(axis=1) + _van_rossum_cross(t, s, self.tau)
        return float(self.formula(trains)), grad

    def online(self, n_columns: int) -> OnlineAccumulator:
        """An :class:`OnlineAccumulator`: exponential traces per target neuron (see above)."""
        return _VanRossumAccumulator(self, n_columns)


@dataclass(frozen=True)
class SpikeCount:
    """Squared error of spike counts: ``L = 1/2 sum_i (n_i - target_i)^2``.

    Its exact gradient is zero almost everywhere: a count is piecewise constant in every
    parameter (it changes only where a spike appears or vanishes, a set of measure zero, where it
    jumps and has no derivative). Only a surrogate, which smooths the threshold, gives it a
    non-zero gradient; fpgrad reports the exact zero.
    """

    neurons: tuple[int, ...]
    targets: tuple[float, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "neurons", _node_ids(self.neurons))
        object.__setattr__(
            self, "targets", _finite_values("targets", self.targets, len(self.neurons))
        )

    def formula(self, counts: Any, xp: Any = np) -> Any:
        """``L`` from the spike counts of ``neurons``."""
        return 0.5 * xp.sum((counts - xp.asarray(self.targets)) ** 2)

    def grid_statistic(self) -> tuple[GridStatistic, tuple[int, ...]]:
        """Spike counts of :attr:`neurons` (see :class:`Loss`)."""
        return "count", self.neurons

    def grid_value(self, statistic: Any, dt: float) -> Any:
        """:meth:`formula` of the grid spike counts."""
        import jax.numpy as jnp

        return self.formula(statistic, xp=jnp)

    def value_and_spike_grad(self, result: SimulationResult) -> tuple[float, NDArray[np.float64]]:
        _check_neurons(result, self.neurons)
        counts = np.array([np.sum(result.spike_node == n) for n in self.neurons], dtype=float)
        return float(self.formula(counts)), np.zeros(result.n_spikes)

    def online(self, n_columns: int) -> OnlineAccumulator:
        """An :class:`OnlineAccumulator`: one count per neuron; ``dL/dp`` is the exact zero."""
        return _SpikeCountAccumulator(self, n_columns)


class _SpikeCountAccumulator(_Accumulator):
    """Online :class:`SpikeCount`: the counts (a float per neuron, exact up to 2^53)."""

    def __init__(self, loss: SpikeCount, n_columns: Any) -> None:
        super().__init__(n_columns)
        self._loss = loss
        self._neurons = np.asarray(loss.neurons, dtype=np.int64)
        self._counts = np.zeros(len(loss.neurons))

    def update(self, node: Any, time: Any, tangent: Any) -> None:
        """One chunk (see :class:`OnlineAccumulator`)."""
        node, _, _ = self._chunk(node, time, tangent)
        if node.size:
            ids, counts = np.unique(node, return_counts=True)
            j = _positions(ids, self._neurons)
            self._counts[j >= 0] += counts[j[j >= 0]]

    def finish(self, t_max: Any) -> tuple[float, NDArray[np.float64]]:
        """The loss and ``dL/dp = 0`` (see :class:`SpikeCount`)."""
        self._t_max(t_max)
        return float(self._loss.formula(self._counts)), np.zeros(self.n_columns)

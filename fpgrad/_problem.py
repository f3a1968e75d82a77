"""The problem model (model 2): a LIF network, its input spike trains and a horizon.

Nodes are numbered globally (docs/model.md §1): inputs ``0..M-1`` only emit the given spike
times, neurons ``M..M+N-1`` integrate (synapse ``k`` from ``pre[k]`` to ``post[k] = i``, delay
``d_k``)

    dJ_i/dt = -J_i / tau_syn_i + sum_k [post[k] = i] w_k sum_{g in F_pre[k]} delta(t - g - d_k)
    dV_i/dt = -V_i / tau_mem_i + J_i + bias_i

and fire when ``V_i`` reaches ``threshold_i`` from below, after which ``V_i <- v_reset_i`` and
``V_i`` is held there on ``(f, f + t_ref_i]``. ``tau_syn_i = 0`` makes neuron ``i``'s synapses
delta synapses (``V_i`` jumps by ``w_k`` at an arrival; an arrival that lifts it to
``threshold_i`` or above is a spike at that instant). All times are in ms, all arrays float64
(times, weights) or int64 (node ids).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain, pairwise
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._numba import jit

__all__ = ["Network", "Problem", "ProblemError"]


class ProblemError(ValueError):
    """A problem, network or input is malformed; the message names the offending field."""


def _per_neuron(name: str, value: ArrayLike, count: int) -> NDArray[np.float64]:
    """A number or a length-``count`` sequence, as a new float64 array of length ``count`` (a
    copy: the network freezes it, never the caller's array)."""
    arr = np.array(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(count, float(arr))
    if arr.shape != (count,):
        raise ProblemError(
            f"{name}: expected a number or a list of length {count}, got shape {arr.shape}"
        )
    return arr


def _check_finite(name: str, arr: NDArray[np.float64]) -> None:
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ProblemError(f"{name}[{bad[0]}] = {arr[bad[0]].item()!r} is not finite")


def _check_positive(name: str, arr: NDArray[np.float64], *, allow_inf: bool = False) -> None:
    _check_finite(name, np.where(np.isposinf(arr), 1.0, arr) if allow_inf else arr)
    bad = np.flatnonzero(arr <= 0)
    if bad.size:
        raise ProblemError(f"{name}[{bad[0]}] = {arr[bad[0]].item()!r} must be > 0")


#: The smallest time constant (ms) accepted for ``tau_syn`` and ``tau_mem``: the smallest normal
#: float64 (below it ``1 / tau`` overflows to infinity).
MIN_TIME_CONSTANT = float(np.finfo(np.float64).tiny)


def _check_normal(name: str, arr: NDArray[np.float64], *, scalar: bool = False) -> None:
    """Time constants must be normal floats: ``1 / tau`` overflows below the smallest one
    (``scalar``: the value was given as one number, so the message has no index)."""
    tiny = MIN_TIME_CONSTANT
    bad = np.flatnonzero(arr < tiny)
    if bad.size:
        where = name if scalar else f"{name}[{bad[0]}]"
        raise ProblemError(
            f"{where} = {arr[bad[0]].item()!r} is too small: time constants must be >= "
            f"{tiny!r} ms (the smallest normal float64; 1/tau overflows below)"
        )


#: The per-neuron fields of a network, in the order of :data:`fpgrad.GROUPS`'s neuron groups.
NEURON_FIELDS = ("tau_mem", "threshold", "tau_syn", "bias", "v_reset", "t_ref")


@dataclass(frozen=True, eq=False)
class Network:
    """A LIF network of model 2 (docs/model.md §1).

    Attributes:
        n_inputs: number of input nodes ``M`` (global ids ``0..M-1``).
        n_neurons: number of LIF neurons ``N`` (global ids ``M..M+N-1``).
        tau_syn: synaptic time constants in ms of each (target) neuron, shape ``(N,)``, ``>= 0``;
            ``0`` makes the neuron's incoming synapses delta synapses (``V`` jumps by ``w``).
        tau_mem: membrane time constants in ms, shape ``(N,)``; ``inf`` is a perfect
            integrator (no leak: NIR's ``IF``), simulated and differentiated exactly.
        threshold: firing thresholds ``theta_i``, shape ``(N,)``.
        pre, post: global node ids of each synapse's source (any node) and target (a neuron),
            shape ``(K,)``; the synapse order is the file order, used for gradients.
        weight: synaptic weights ``w_k`` (jump of the target's ``J``, or of its ``V`` for a
            delta synapse, per spike).
        t_ref: absolute refractory periods in ms (``>= 0``), shape ``(N,)``.
        bias: constant input currents (``V`` units per ms), shape ``(N,)``.
        v_reset: reset values ``< threshold``, shape ``(N,)``.
        delay: transmission delays in ms (``>= 0``) per synapse, shape ``(K,)``.

    Scalars passed for a per-neuron field (or for ``delay``) are broadcast. The defaults
    (``bias = v_reset = delay = 0``, one shared ``tau_syn > 0``) are model 1.
    """

    n_inputs: int
    n_neurons: int
    tau_syn: NDArray[np.float64]
    tau_mem: NDArray[np.float64]
    threshold: NDArray[np.float64]
    pre: NDArray[np.int64]
    post: NDArray[np.int64]
    weight: NDArray[np.float64]
    t_ref: NDArray[np.float64] = field(default=0.0)  # type: ignore[assignment]
    bias: NDArray[np.float64] = field(default=0.0)  # type: ignore[assignment]
    v_reset: NDArray[np.float64] = field(default=0.0)  # type: ignore[assignment]
    delay: NDArray[np.float64] = field(default=0.0)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name in ("n_inputs", "n_neurons"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
                raise ProblemError(f"{name}: expected a non-negative integer, got {value!r}")
            set_(self, name, int(value))
        n = self.n_neurons
        tau_syn_scalar = np.ndim(self.tau_syn) == 0
        set_(self, "tau_syn", _per_neuron("neurons.tau_syn", self.tau_syn, n))
        _check_finite("neurons.tau_syn", self.tau_syn)
        bad = np.flatnonzero(self.tau_syn < 0)
        if bad.size:
            raise ProblemError(
                f"neurons.tau_syn[{bad[0]}] = {self.tau_syn[bad[0]].item()!r} must be >= 0 "
                "(0: delta synapses)"
            )
        _check_normal(  # 0 (delta synapses) is exempt; indices stay those of the neurons
            "neurons.tau_syn", np.where(self.tau_syn == 0, 1.0, self.tau_syn), scalar=tau_syn_scalar
        )
        tau_mem_scalar = np.ndim(self.tau_mem) == 0
        set_(self, "tau_mem", _per_neuron("neurons.tau_mem", self.tau_mem, n))
        _check_positive("neurons.tau_mem", self.tau_mem, allow_inf=True)
        _check_normal("neurons.tau_mem", self.tau_mem, scalar=tau_mem_scalar)
        set_(self, "threshold", _per_neuron("neurons.threshold", self.threshold, n))
        _check_positive("neurons.threshold", self.threshold)
        set_(self, "t_ref", _per_neuron("neurons.t_ref", self.t_ref, n))
        _check_finite("neurons.t_ref", self.t_ref)
        if np.any(self.t_ref < 0):
            i = int(np.flatnonzero(self.t_ref < 0)[0])
            raise ProblemError(f"neurons.t_ref[{i}] = {self.t_ref[i].item()!r} must be >= 0")
        for name in ("bias", "v_reset"):
            set_(self, name, _per_neuron(f"neurons.{name}", getattr(self, name), n))
            _check_finite(f"neurons.{name}", getattr(self, name))
        bad = np.flatnonzero(self.v_reset >= self.threshold)
        if bad.size:
            i = int(bad[0])
            raise ProblemError(
                f"neurons.v_reset[{i}] = {self.v_reset[i].item()!r} must be below the threshold "
                f"{self.threshold[i].item()!r}"
            )
        arrays = {}
        for name in ("pre", "post", "weight"):
            raw = np.asarray(getattr(self, name))
            if raw.ndim != 1:
                raise ProblemError(f"synapses.{name}: expected a flat list, got shape {raw.shape}")
            arrays[name] = raw
        lengths = {name: arr.shape[0] for name, arr in arrays.items()}
        if len(set(lengths.values())) != 1:
            raise ProblemError(
                f"synapses: pre, post and weight must have equal lengths, got {lengths}"
            )
        n_nodes = self.n_inputs + n
        for name in ("pre", "post"):
            raw = arrays[name]
            if raw.size and (raw.dtype.kind not in "iuf" or np.any(raw != np.round(raw))):
                raise ProblemError(f"synapses.{name}: node ids must be integers")
            # range first (a huge id, 1e30 or 2^63, must neither wrap nor warn in the cast)
            outside = np.flatnonzero((raw < 0) | (raw >= n_nodes)) if raw.size else []
            if len(outside) and (name == "pre" or raw[outside[0]] >= n_nodes):
                k = int(outside[0])
                raise ProblemError(
                    f"synapses.{name}[{k}] = {raw[k].item()!r} is out of range: node ids are "
                    f"0..{n_nodes - 1}"
                )
            set_(self, name, raw.astype(np.int64))
        weight = arrays["weight"].astype(np.float64)
        _check_finite("synapses.weight", weight)
        set_(self, "weight", weight)
        delay = _per_neuron("synapses.delay", self.delay, weight.shape[0])
        _check_finite("synapses.delay", delay)
        bad = np.flatnonzero(delay < 0)
        if bad.size:
            raise ProblemError(f"synapses.delay[{bad[0]}] = {delay[bad[0]].item()!r} must be >= 0")
        set_(self, "delay", delay)
        bad = np.flatnonzero((self.pre < 0) | (self.pre >= n_nodes))
        if bad.size:
            k = int(bad[0])
            raise ProblemError(
                f"synapses.pre[{k}] = {self.pre[k]} is out of range: node ids are 0..{n_nodes - 1}"
            )
        bad = np.flatnonzero((self.post < self.n_inputs) | (self.post >= n_nodes))
        if bad.size:
            k = int(bad[0])
            raise ProblemError(
                f"synapses.post[{k}] = {self.post[k]} is not a neuron: neuron ids are "
                f"{self.n_inputs}..{n_nodes - 1} (inputs cannot receive synapses)"
            )
        for name in (*NEURON_FIELDS, "pre", "post", "weight", "delay"):
            getattr(self, name).setflags(write=False)

    @property
    def n_nodes(self) -> int:
        """Number of nodes, inputs and neurons: ``M + N``."""
        return self.n_inputs + self.n_neurons

    @property
    def n_synapses(self) -> int:
        """Number of synapses ``K``."""
        return int(self.weight.shape[0])

    @property
    def is_model1(self) -> bool:
        """Whether the network is in model 1 (one shared ``tau_syn > 0``, no bias, reset 0,
        no delays): what problem format 1 can hold."""
        return bool(
            self.n_neurons == 0
            or (
                np.all(self.tau_syn == self.tau_syn[0])
                and self.tau_syn[0] > 0
                and not np.any(self.bias)
                and not np.any(self.v_reset)
                and not np.any(self.delay)
            )
        )

    def replace(self, **changes: object) -> Network:
        """A copy with some fields changed (validated again).

        Changing the number of synapses (``pre``, ``post``, ``weight``) without giving ``delay``
        keeps a delay shared by every synapse (0 by default); per-synapse delays must then be
        given anew. Likewise a changed ``n_neurons`` keeps per-neuron fields that are uniform.
        """
        fields = {
            name: getattr(self, name)
            for name in (
                "n_inputs",
                "n_neurons",
                "tau_syn",
                "tau_mem",
                "threshold",
                "pre",
                "post",
                "weight",
                "t_ref",
                "bias",
                "v_reset",
                "delay",
            )
        }
        fields.update(changes)
        resized = {
            "delay": ("pre", "post", "weight"),
            **{name: ("n_neurons",) for name in NEURON_FIELDS},
        }
        for name, sources in resized.items():
            if name in changes or not any(source in changes for source in sources):
                continue
            current = getattr(self, name)
            if current.size and np.all(current == current[0]):
                fields[name] = float(current[0])
            elif not current.size and name in ("delay", "bias", "v_reset", "t_ref"):
                fields[name] = 0.0  # the model-1 default
        return Network(**fields)  # type: ignore[arg-type]


def _check_spike_times(name: str, arr: NDArray[np.float64]) -> None:
    _check_finite(name, arr)
    bad = np.flatnonzero(arr < 0)
    if bad.size:
        raise ProblemError(
            f"{name}[{bad[0]}] = {arr[bad[0]].item()!r} is negative: spike times must be >= 0"
        )


def check_t_max(t_max: object) -> float:
    """The horizon ``t_max`` as a float if it is finite and ``> 0``, else a ``ProblemError``."""
    value = float(t_max)  # type: ignore[arg-type]
    if not math.isfinite(value) or value <= 0:
        raise ProblemError(f"t_max = {t_max!r} must be finite and > 0")
    return value


def as_inputs(n_inputs: int, inputs: Sequence[ArrayLike]) -> tuple[NDArray[np.float64], ...]:
    """Validate input spike trains: one finite, non-negative train per input node, sorted
    (:class:`TrainBatch` of the one sample)."""
    return TrainBatch.of(n_inputs, [inputs], batch=False).sample(0)


def _check_sample(n_inputs: int, inputs: Sequence[ArrayLike]) -> None:
    """The first problem of one sample's trains, as a ``ProblemError`` naming the train and spike
    (the slow path of :meth:`TrainBatch.of`, taken only once a check has failed)."""
    if len(inputs) != n_inputs:
        raise ProblemError(
            f"inputs: expected {n_inputs} spike trains (one per input), got {len(inputs)}"
        )
    for j, train in enumerate(inputs):
        try:
            arr = np.asarray(train, dtype=np.float64)
        except (TypeError, ValueError):
            raise ProblemError(
                f"inputs[{j}]: expected a flat list of spike times (numbers), got {train!r:.60}"
            ) from None
        if arr.ndim != 1:
            raise ProblemError(
                f"inputs[{j}]: expected a flat list of spike times, got shape {arr.shape}"
            )
        _check_spike_times(f"inputs[{j}]", arr)


@dataclass(frozen=True, eq=False)
class TrainBatch:
    """The validated input spike trains of one or more samples, in one read-only buffer.

    Train ``j`` of sample ``s`` is ``buffer[bounds[s M + j] : bounds[s M + j + 1]]`` (``M =
    n_inputs``), sorted. :meth:`of` checks every train of every sample in a few vectorised
    passes: a batch of samples with one spike per input would otherwise spend most of its
    Python time on per-train checks. The buffer is a private copy (the caller's arrays are never
    shared or frozen).
    """

    n_inputs: int
    n_samples: int
    buffer: NDArray[np.float64]
    bounds: NDArray[np.int64]

    @classmethod
    def of(
        cls, n_inputs: int, samples: Sequence[Sequence[ArrayLike]], *, batch: bool
    ) -> TrainBatch:
        """Validate ``samples[s][j]`` (the spike times of input ``j`` in sample ``s``). A failure
        names the train and spike (``inputs[j]...``), prefixed by the sample (``inputs[s]: ...``)
        when ``batch``."""
        trains = list(chain.from_iterable(samples))
        ok = all(len(sample) == n_inputs for sample in samples)
        if ok and trains:
            try:  # one C pass converts every train; a non-flat one fails or shows in the shape
                buffer = np.concatenate(trains, dtype=np.float64)
                sizes = np.fromiter(map(len, trains), np.int64, len(trains))
                ok = buffer.ndim == 1 and int(sizes.sum()) == buffer.size and _all_valid(buffer)
            except (TypeError, ValueError):
                ok = False
        else:
            buffer, sizes = np.empty(0), np.zeros(0, np.int64)
        if not ok:
            for s, sample in enumerate(samples):
                try:
                    _check_sample(n_inputs, sample)
                except ProblemError as err:
                    raise ProblemError(f"inputs[{s}]: {err}" if batch else str(err)) from None
            raise ProblemError("inputs: invalid spike trains")  # the checks above agree: unreached
        bounds = np.zeros(len(trains) + 1, np.int64)
        np.cumsum(sizes, out=bounds[1:])
        if buffer.size > 1:
            falls = np.flatnonzero(buffer[1:] < buffer[:-1]) + 1  # a time below its predecessor
            train = np.searchsorted(bounds, falls, side="right") - 1
            for k in np.unique(train[falls > bounds[train]]):  # within a train: sort that train
                buffer[bounds[k] : bounds[k + 1]].sort(kind="stable")
        buffer.setflags(write=False)
        return cls(n_inputs, len(samples), buffer, bounds)

    def sample(self, s: int) -> tuple[NDArray[np.float64], ...]:
        """The trains of sample ``s``: read-only views into the buffer."""
        lo = s * self.n_inputs
        edges = self.bounds[lo : lo + self.n_inputs + 1].tolist()
        buf = self.buffer
        return tuple(buf[a:b] for a, b in pairwise(edges))

    def merged(self) -> dict[str, NDArray]:
        """Every sample's input spikes sorted by ``(time, node)``, flattened (the kernels'
        layout): sample ``s`` owns entries ``ptr[s]:ptr[s+1]`` of ``node``, ``time`` and
        ``flat`` (each spike's index in its sample's flattened trains; equal times of one node
        keep that order). One Numba pass, :func:`merge_trains`."""
        m = self.n_inputs
        if m == 0:
            empty = np.empty(0, np.int64)
            return {"node": empty, "time": np.empty(0), "flat": empty,
                    "ptr": np.zeros(self.n_samples + 1, np.int64)}  # fmt: skip
        node, time, flat = merge_trains(self.buffer, self.bounds, m)
        return {"node": node, "time": time, "flat": flat, "ptr": self.bounds[::m].copy()}


@jit
def merge_trains(
    buffer: NDArray[np.float64], bounds: NDArray[np.int64], n_inputs: int
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
    """Each sample's input spikes in ``(time, node)`` order: ``(node, time, flat)``.

    Train ``k`` (input ``k mod n_inputs`` of sample ``k // n_inputs``) is
    ``buffer[bounds[k]:bounds[k+1]]``, sorted. Within a sample the flattened trains are in node
    order, so a *stable* sort by time alone (mergesort) is the ``(time, node)`` order, equal
    times of one node keeping their order in the train; ``flat`` is each spike's index in its
    sample's flattened trains.
    """
    n = buffer.shape[0]
    train_node = np.empty(n, np.int64)
    for k in range(bounds.shape[0] - 1):
        for e in range(bounds[k], bounds[k + 1]):
            train_node[e] = k % n_inputs
    node = np.empty(n, np.int64)
    time = np.empty(n)
    flat = np.empty(n, np.int64)
    for s in range((bounds.shape[0] - 1) // n_inputs):
        lo = bounds[s * n_inputs]
        hi = bounds[(s + 1) * n_inputs]
        local = np.argsort(buffer[lo:hi], kind="mergesort")
        for k in range(hi - lo):
            e = lo + local[k]
            node[lo + k] = train_node[e]
            time[lo + k] = buffer[e]
            flat[lo + k] = local[k]
    return node, time, flat


def _all_valid(times: NDArray[np.float64]) -> bool:
    """Whether every spike time is finite and ``>= 0`` (``NaN`` fails both comparisons)."""
    return bool(np.all((times >= 0) & (times < np.inf)))


@dataclass(frozen=True, eq=False)
class Problem:
    """A network, the spike trains of its inputs and a horizon ``t_max`` (ms).

    ``inputs[j]`` are the spike times of input node ``j``, stored sorted (the order in which
    input-time gradients are reported). Spikes are simulated on ``[0, t_max]``.
    """

    network: Network
    inputs: tuple[NDArray[np.float64], ...]
    t_max: float

    def __post_init__(self) -> None:
        if not isinstance(self.network, Network):
            raise ProblemError(f"network: expected a Network, got {type(self.network).__name__}")
        object.__setattr__(self, "inputs", as_inputs(self.network.n_inputs, self.inputs))
        object.__setattr__(self, "t_max", check_t_max(self.t_max))

    @classmethod
    def from_batch(cls, network: Network, trains: TrainBatch, sample: int, t_max: float) -> Problem:
        """The problem of sample ``sample`` of trains already validated (a :class:`TrainBatch`)
        and a checked float ``t_max``, without checking them again (the batch entry points'
        per-sample problems). :attr:`inputs` is made on first use, as views into the batch's
        buffer: a batch whose results are never asked for their inputs skips one NumPy view
        per train and sample (about 0.5 us each, 20 us per sample of 40 trains)."""
        problem = object.__new__(cls)
        object.__setattr__(problem, "network", network)
        object.__setattr__(problem, "t_max", t_max)
        object.__setattr__(problem, "_batch_sample", (trains, sample))
        return problem

    def __getattr__(self, name: str) -> Any:
        """Called only for attributes not set: the inputs of a :meth:`from_batch` problem."""
        lazy = self.__dict__.get("_batch_sample")
        if name != "inputs" or lazy is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        inputs = lazy[0].sample(lazy[1])
        object.__setattr__(self, "inputs", inputs)  # the same views for every later use
        return inputs

    def __getstate__(self) -> dict[str, Any]:
        """Pickled with its own trains, never with the whole batch they came from."""
        return {"network": self.network, "inputs": self.inputs, "t_max": self.t_max}

    @property
    def n_input_spikes(self) -> int:
        """Total number of input spikes."""
        return sum(train.shape[0] for train in self.inputs)

    def with_inputs(self, inputs: Sequence[ArrayLike]) -> Problem:
        """The same network and horizon with other input spike trains."""
        return Problem(self.network, tuple(inputs), self.t_max)  # type: ignore[arg-type]

    def with_network(self, network: Network) -> Problem:
        """The same inputs and horizon with another network."""
        return Problem(network, self.inputs, self.t_max)

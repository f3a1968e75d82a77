"""Batches over a Dask cluster: the one place fpgrad talks to ``dask.distributed``.

:func:`fpgrad.simulate_batch`, :func:`fpgrad.gradient_batch`, :meth:`fpgrad.GradientMethod.batch`
and :func:`fpgrad.train.train` take ``client=``: a ``dask.distributed.Client`` or the address of
a running scheduler (``"tcp://host:8786"``). The samples are cut into contiguous chunks and each
chunk is one Dask task (:func:`map_chunks`); Dask's scheduler places the tasks, moves the data and
reruns what a lost worker held (fpgrad has no scheduler of its own). Sweeps of independent
configurations (:func:`fpgrad.compare`, :func:`fpgrad.forward_convergence`, the benchmark sweeps)
take ``client=`` too and are mapped one configuration per task (:func:`map_configurations`),
with the same keys, retries and error handling.

Exactness. A task computes each of its samples on its own, exactly as the in-process code does
(the same kernels, one sample at a time), and returns the per-sample outcomes; the driver puts
them back in sample order and reduces them with the in-process reduction (the mean gradient's
sum in the same order, the fused path's per-thread partial sums included, see
:meth:`fpgrad.GradientMethod._combine`). So a batch on a cluster equals the in-process call with
the same arguments bit for bit, whatever the number of workers, the chunking or the order in
which tasks finish, provided the workers run the same fpgrad, NumPy and Numba on the same kind of
CPU (Numba compiles for the host; IEEE arithmetic without fast-math is the same everywhere, but
math-library calls such as ``exp`` could differ between CPU families).

Chunks. :func:`chunk_bounds` cuts ``B`` samples into ``min(B, CHUNKS_PER_THREAD * T)`` chunks of
(nearly) equal size for ``T`` worker threads: two chunks per thread so that a slow or lost
worker holds up at most half a thread's share while the others take the rest, and few enough that
the fixed cost stays small: ``benchmarks/bench_distributed.py`` measured about 26 ms for the round
trip of a trivial chunk and 5 ms per further task on loopback, against 1-2 ms per sample of the
Yin-Yang network's gradient (a 256-sample batch on 4 threads: 32 samples, some 50 ms, a task).
The per-sample outcomes travel stacked (:class:`fpgrad.grad._batch.StackedOutcomes`) and each
chunk's arguments as one pickled bytes object: Dask sends a list of small arrays as one frame
each and tokenizes task arguments to name them, which cost more than the batch itself.

The network goes to the cluster once per call as a task returning it, keyed by its content, so
later calls with an equal network reuse it and a lost worker's copy is recomputed (scattered
data, ``Client.scatter``, would be lost with its worker and cancel the batch).

Faults. Task keys are ``fpgrad-<call>-<chunk index>``: results are gathered by chunk, never
by arrival, so a task that runs twice (its worker died after finishing it, or mid-way) is counted
once and none is lost. A worker that dies mid-task is handled by Dask's scheduler (the task is
rerun elsewhere, up to ``distributed.scheduler.allowed-failures`` times, default 3, then
:class:`ClusterError`); a task that raises anything but fpgrad's own errors is rerun
:data:`RETRIES` times. fpgrad's own errors (:class:`fpgrad.ProblemError`,
:class:`fpgrad.RunawayActivityError`) are deterministic: they are returned by the task, never
retried, and raised on the driver for the first failing chunk, as in process. While waiting, the
driver checks every :data:`POLL_S` seconds that its client is still connected and that the
cluster has workers: a lost scheduler is a :class:`ClusterError` at once, a cluster without
workers for :data:`NO_WORKERS_S` seconds too (never a hang). Connecting to an address waits at
most Dask's ``distributed.comm.timeouts.connect`` (``dask.config``).

``dask`` is an optional extra (``pip install fpgrad[dask]``) imported only here, only when a
client is given: ``import fpgrad`` does not import it.
"""

from __future__ import annotations

import pickle
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import CancelledError
from typing import TYPE_CHECKING, Any

from ._problem import ProblemError

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "CHUNKS_PER_THREAD",
    "NO_WORKERS_S",
    "POLL_S",
    "RETRIES",
    "ClusterError",
    "chunk_bounds",
    "get_client",
    "map_chunks",
    "map_configurations",
]

#: Chunks per worker thread (module docstring, "Chunks").
CHUNKS_PER_THREAD = 2
#: Reruns of a task that raised an error other than fpgrad's own (a worker's ``MemoryError``).
RETRIES = 2
#: Seconds between the driver's checks of its connection while a batch runs.
POLL_S = 0.5
#: Seconds a cluster may have no worker at all before the batch gives up.
NO_WORKERS_S = 60.0

# Clients opened for an address, reused by later calls (a loop of batches by address).
_CLIENTS: dict[str, Client] = {}


class ClusterError(ProblemError):
    """The Dask cluster cannot be reached, went away or keeps losing workers (one line)."""


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _dask() -> Any:
    try:
        import distributed
    except ImportError:
        raise ProblemError(
            "client: Dask is not installed; pip install 'fpgrad[dask]' (dask[distributed])"
        ) from None
    return distributed


def get_client(client: Client | str) -> Client:
    """``client`` itself, or a client of the scheduler at the address ``client`` (one per
    address, reused while connected). Raises :class:`ClusterError` if it is not connected or
    cannot be reached within ``distributed.comm.timeouts.connect``."""
    distributed = _dask()
    if isinstance(client, str):
        address = client.strip()
        cached = _CLIENTS.get(address)
        if cached is not None and cached.status == "running":
            return cached
        if cached is not None:  # lost its scheduler: a fresh client replaces it
            cached.close()
        import dask

        timeout = dask.config.get("distributed.comm.timeouts.connect")
        try:
            opened = distributed.Client(address, timeout=timeout, set_as_default=False)
        except Exception as err:  # OSError, ValueError (a malformed address), TimeoutError
            raise ClusterError(
                f"client: cannot reach a Dask scheduler at {address!r} (within {timeout}): "
                f"{_one_line(err)}"
            ) from None
        _CLIENTS[address] = opened
        return opened
    if not isinstance(client, distributed.Client):
        raise ProblemError(
            "client: expected a dask.distributed.Client or a scheduler address such as "
            f"'tcp://host:8786', got {type(client).__name__}"
        )
    _check_connected(client)
    return client


def _check_connected(client: Client) -> None:
    if client.status != "running":
        raise ClusterError(
            f"client: the Dask client is not connected to its scheduler (status "
            f"{client.status!r}); the cluster was closed or went away"
        )


def chunk_bounds(n_samples: int, n_threads: int) -> list[tuple[int, int]]:
    """Contiguous ``(lo, hi)`` chunks of ``range(n_samples)`` for ``n_threads`` worker threads
    (module docstring): ``min(n_samples, CHUNKS_PER_THREAD * n_threads)`` chunks whose sizes
    differ by at most one."""
    n_chunks = max(1, min(n_samples, CHUNKS_PER_THREAD * max(1, n_threads)))
    base, extra = divmod(n_samples, n_chunks)
    bounds, lo = [], 0
    for k in range(n_chunks):
        hi = lo + base + (1 if k < extra else 0)
        bounds.append((lo, hi))
        lo = hi
    return bounds


def _guarded(fn: Callable[..., Any], payload: bytes, **kwargs: Any) -> tuple[bool, Any]:
    """Run ``fn(*pickle.loads(payload), **kwargs)`` on a worker: ``(True, result)``, or
    ``(False, error)`` for fpgrad's own (deterministic) errors, which are then raised on the
    driver instead of being retried."""
    from .event import RunawayActivityError

    try:
        return True, fn(*pickle.loads(payload), **kwargs)
    except (ProblemError, RunawayActivityError) as err:
        return False, err


def _held(obj: Any) -> Any:
    return obj


def _hold(client: Client, name: str, obj: Any) -> Any:
    """A future of ``obj`` on the cluster, keyed by its content (:func:`map_chunks`)."""
    from dask.base import tokenize

    return client.submit(_held, obj, key=f"fpgrad-{name}-{tokenize(obj)}", retries=RETRIES)


def _thread_total(client: Client) -> int:
    try:
        return sum(client.nthreads().values())
    except Exception as err:
        raise ClusterError(
            f"client: the Dask scheduler does not answer: {_one_line(err)}"
        ) from None


def _wait(client: Client, futures: list[Any]) -> None:
    """Wait for ``futures``, checking the connection and the workers (module docstring)."""
    distributed = _dask()
    lonely_since: float | None = None
    while True:
        _check_connected(client)
        try:
            distributed.wait(futures, timeout=POLL_S)
            return
        except TimeoutError:
            pass
        if _thread_total(client) > 0:
            lonely_since = None
            continue
        now = time.monotonic()
        lonely_since = now if lonely_since is None else lonely_since
        if now - lonely_since > NO_WORKERS_S:
            raise ClusterError(
                f"client: the Dask cluster has had no workers for {NO_WORKERS_S:g} s; start "
                "workers (dask worker ADDRESS) or check the cluster"
            )


def map_chunks(
    client: Client | str,
    fn: Callable[..., Iterable[Any]],
    n_samples: int,
    chunk_args: Callable[[int, int], tuple],
    *,
    shared: dict[str, Any],
    constants: dict[str, Any],
) -> list[Any]:
    """``fn(*chunk_args(lo, hi), **shared, **constants)`` for every chunk ``lo:hi`` of
    ``range(n_samples)`` (:func:`chunk_bounds`) on the cluster; the per-sample outcomes it
    returns, joined in chunk order into one list.

    ``fn`` is a module-level pure function returning an iterable of one outcome per sample (a
    few large arrays travel faster than many small ones: see
    :class:`fpgrad.grad._batch.StackedOutcomes`). The ``shared``
    objects (the network) go to the cluster once per call, keyed by content (a later call with an
    equal network reuses them), as a task that returns them rather than with
    ``Client.scatter``: scattered data lives only on workers, so losing the worker that holds it
    would cancel the batch, while a task's result is recomputed from the scheduler's copy.
    ``constants`` are small and go with every task.
    """
    client = get_client(client)
    bounds = chunk_bounds(n_samples, _thread_total(client))
    # Each chunk's arguments travel pickled: Dask tokenizes task arguments to name the graph,
    # and hashing one bytes object is quick where walking 256 samples' trains and loss objects
    # took 0.12 s (a quarter of the batch's own compute on one thread).
    payloads = [pickle.dumps(chunk_args(lo, hi), protocol=5) for lo, hi in bounds]
    joined: list[Any] = []
    for outcomes in _run_tasks(client, fn, payloads, shared, constants, "batch"):
        joined.extend(outcomes)
    return joined


def map_configurations(
    client: Client | str,
    fn: Callable[..., Any],
    configurations: Sequence[tuple],
    *,
    shared: dict[str, Any] | None = None,
    constants: dict[str, Any] | None = None,
) -> list[Any]:
    """``[fn(*c, **shared, **constants) for c in configurations]`` on the cluster, one task per
    configuration; the results in the order of ``configurations``.

    For sweeps (:func:`fpgrad.compare`'s grid steps and surrogates, a benchmark's problems)
    rather than batches: tens of configurations whose costs differ by orders of magnitude (a
    grid step of 0.01 ms scans 100 times the steps of 1 ms, and each configuration compiles its
    own code, 1-3 s), so each is a task of its own and Dask's scheduler hands the next one to
    whichever worker is free; the 5 ms a task costs does not matter at that size. ``shared``,
    ``constants``, keys, retries and errors as in :func:`map_chunks`.
    """
    client = get_client(client)
    payloads = [pickle.dumps(tuple(c), protocol=5) for c in configurations]
    return _run_tasks(client, fn, payloads, shared or {}, constants or {}, "sweep")


def _run_tasks(
    client: Client,
    fn: Callable[..., Any],
    payloads: list[bytes],
    shared: dict[str, Any],
    constants: dict[str, Any],
    what: str,
) -> list[Any]:
    """``fn(*pickle.loads(p), **shared, **constants)`` for every payload ``p``, one task each
    (keys, retries and errors: module docstring); the results in payload order. ``what`` (a
    batch, a sweep) names the call in the errors."""
    distributed = _dask()
    call = uuid.uuid4().hex
    futures: list[Any] = []
    try:
        held = {name: _hold(client, name, obj) for name, obj in shared.items()}
        futures = client.map(
            _guarded,
            [fn] * len(payloads),
            payloads,
            key=[f"fpgrad-{call}-{k}" for k in range(len(payloads))],
            retries=RETRIES,
            **held,
            **constants,
        )
        _wait(client, futures)
        outcomes = client.gather(futures)
    except ClusterError:
        raise
    except CancelledError as err:  # the client lost its scheduler, which cancels every future
        raise ClusterError(
            f"client: the Dask cluster went away during the {what} ({_one_line(err)})"
        ) from None
    except distributed.KilledWorker as err:
        raise ClusterError(
            f"client: a task of the {what} kept killing its workers ({_one_line(err)}); "
            "each worker needs the memory of one task"
        ) from None
    except (OSError, distributed.comm.CommClosedError) as err:
        raise ClusterError(f"client: the Dask cluster failed: {_one_line(err)}") from None
    finally:
        for future in futures:
            future.release()
    results: list[Any] = []
    for ok, value in outcomes:
        if not ok:
            raise value
        results.append(value)
    return results

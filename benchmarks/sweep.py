"""A benchmark's configuration rows, in process or over a Dask cluster (``--scheduler``).

``bench_agreement.py`` and ``bench_surrogate.py`` sweep independent configurations (problems,
grid steps, surrogates). Given the address of a Dask scheduler they map them over its workers
through fpgrad's own machinery (:func:`fpgrad._distributed.map_configurations`: one task per
configuration, retries, keys, a lost cluster as one :class:`fpgrad.ClusterError` line), and
every number is the local run's bit for bit, timings apart: a row's timings are measured inside
its task, on the worker that ran it (the report's ``timed_on`` says where).

A benchmark module is not importable on the workers (the runner loads it under another name,
and the workers need not have ``benchmarks/`` on their path), so the row function travels by
value: its module is registered with ``cloudpickle.register_pickle_by_value`` and the function
is handed to Dask as :class:`_ByValue`, which pickles as ``cloudpickle.loads(<the function by
value>)`` (Dask tries the standard pickle first, which would name the function's module). The
function and the module's functions and constants it uses travel with each task, the libraries
it imports (NumPy, fpgrad) by name.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

#: ``timed_on`` of a report: where the rows' timings were measured.
IN_PROCESS = "this process"
ON_WORKERS = "Dask workers"


def command_line(doc: str | None, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """``main``'s keyword arguments from a sweep benchmark's command line: ``--quick`` and
    ``--scheduler ADDRESS``."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small problems, few repeats")
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="map the configuration rows over the Dask cluster of this scheduler "
        "(tcp://host:8786): the same numbers, timings measured on the workers",
    )
    return vars(parser.parse_args(argv))


def timed_on(scheduler: Any) -> str:
    """Where a sweep run with ``scheduler`` (``None``: in process) measures its timings."""
    return IN_PROCESS if scheduler is None else ON_WORKERS


class _ByValue:
    """``fn``, pickled by value whatever pickler Dask uses: unpickling gives ``fn`` itself."""

    def __init__(self, fn: Callable[..., Any]):
        self.fn = fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        import cloudpickle

        return cloudpickle.loads, (cloudpickle.dumps(self.fn),)


def map_rows(
    fn: Callable[..., Any],
    configs: Sequence[tuple],
    scheduler: Any = None,
    warmup: Sequence[tuple] = (),
) -> list[Any]:
    """``[fn(*c) for c in configs]``, in process or, given ``scheduler`` (an address or a
    ``dask.distributed.Client``), one Dask task per configuration; ``fn(*w)`` for each
    ``warmup`` first, here or on every worker (JIT and disk-cache loads then stay out of the
    rows' timings)."""
    if scheduler is None:
        for w in warmup:
            fn(*w)
        return [fn(*c) for c in configs]
    import cloudpickle

    from fpgrad._distributed import get_client, map_configurations

    if fn.__module__ != "__main__":  # __main__ is pickled by value anyway
        cloudpickle.register_pickle_by_value(sys.modules[fn.__module__])
    client = get_client(scheduler)
    shipped = _ByValue(fn)
    for w in warmup:
        client.run(shipped, *w)
    return map_configurations(client, shipped, configs)

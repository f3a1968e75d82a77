"""One decorator for every Numba kernel of fpgrad.

``cache=True`` keeps compile time to the first run on a machine; ``nogil=True`` lets the batch
API run kernels on several threads; ``error_model="numpy"`` makes float division follow IEEE
(inf/nan, no Python exception checks in hot loops).
"""

import numba

__all__ = ["jit"]


def jit(fn=None, **options):
    """``numba.njit`` with fpgrad's defaults (``cache``, ``nogil``, numpy error model)."""
    kwargs = {"cache": True, "nogil": True, "error_model": "numpy"}
    kwargs.update(options)
    if fn is None:
        return lambda f: numba.njit(**kwargs)(f)
    return numba.njit(**kwargs)(fn)

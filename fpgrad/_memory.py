"""Memory known before it is spent: estimate an allocation, refuse it with the figure.

Every path whose memory grows with spikes x parameters (the forward-mode Jacobian) or with grid
steps x neurons x samples (the grid model and its BPTT) calls :func:`check_allocation` with its
estimate before allocating, so a run that cannot fit stops at once with a one-line
:class:`~fpgrad.ProblemError` giving the size and the alternatives, instead of a ``MemoryError``
minutes later or a machine that swaps.
"""

from __future__ import annotations

import os

from ._problem import ProblemError

__all__ = ["MEMORY_FRACTION", "check_allocation", "format_bytes", "physical_memory"]

#: The largest share of the machine's physical memory one estimated allocation may take.
MEMORY_FRACTION = 0.5


def physical_memory() -> int:
    """This machine's physical memory in bytes (64 GiB if the system does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):  # pragma: no cover - non-POSIX systems
        return 64 * 2**30


def format_bytes(n: float) -> str:
    """``n`` bytes in binary units (``1.5 GiB``)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if abs(n) < 1024 or unit == "EiB":
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} EiB"  # pragma: no cover


def check_allocation(n_bytes: float, what: str, alternatives: str) -> None:
    """Raise :class:`~fpgrad.ProblemError` if ``n_bytes`` exceeds :data:`MEMORY_FRACTION` of
    the physical memory: ``"<what> needs about <size>, more than <limit> (half of this
    machine's <total>); <alternatives>"``."""
    total = physical_memory()
    limit = MEMORY_FRACTION * total
    if n_bytes > limit:
        raise ProblemError(
            f"{what} needs about {format_bytes(n_bytes)} of memory, more than "
            f"{format_bytes(limit)} (half of this machine's {format_bytes(total)}); {alternatives}"
        )

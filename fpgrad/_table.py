"""Plain-text tables and number formatting shared by the reports (gradcheck, compare)."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["format_number", "format_table"]


def format_number(x: float) -> str:
    """``x`` in ``.2e`` notation, ``nan`` and ``inf`` spelled out."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.2e}"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: left-aligned columns separated by two spaces."""
    widths = [max(len(h), *(len(r[c]) for r in rows)) for c, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])

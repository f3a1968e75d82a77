"""Benchmark results: writing them (JSON + PNG) and rendering their tables into the README.

Every benchmark's ``main(quick)`` ends with :func:`save`, which writes
``results/<name>.json`` (full run) or ``results/quick/<name>.json`` (``--quick``: a quick run
never overwrites the full numbers), stamped with the date and the machine, plus the PNG of the
same name next to it. The JSON carries a ``"tables"`` list; each table is

    {"id": "simulator-throughput", "title": "...", "columns": ["", "wall s", ...],
     "rows": [["(a) fpgrad, 1 thread", "0.194", ...], ...]}

with its cells already formatted (strings or numbers). ``benchmarks/README.md`` holds markers

    <!-- table:simulator-throughput -->
    (generated: replaced by every render)
    <!-- /table:simulator-throughput -->

and ``<!-- figure:<name> -->`` ... ``<!-- /figure:<name> -->`` for the PNG ``<name>.png``.
:func:`render` replaces what lies between the markers, each table from the full run's JSON when
it has that table, else from the quick run's, with a caption naming the mode, date and machine.
Text outside the markers is left alone; a marker with nothing to render is left unchanged and
reported, as is a table that has no marker.

    python benchmarks/report.py           # re-render benchmarks/README.md from results/

``benchmarks/run.py`` calls :func:`main` after every run. :func:`median_times` is the timer the
benchmarks share.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE / "README.md"

_MARKER = re.compile(
    r"<!-- (?P<kind>table|figure):(?P<id>[A-Za-z0-9_.-]+) -->\n"
    r"(?P<body>.*?)"
    r"<!-- /(?P=kind):(?P=id) -->",
    re.DOTALL,
)
_NUMBER = re.compile(r"^\*{0,2}[-+]?[\d,]*\.?\d+(e[-+]?\d+)?\s*(x|%|[kMG]|MiB|h)?\*{0,2}$")


# --------------------------------------------------------------------------------------------
# writing results


def results_dir(quick: bool, root: Path = RESULTS) -> Path:
    """Where a run's JSON and PNG go: ``results/`` (full) or ``results/quick/``."""
    return root / "quick" if quick else root


def machine_info() -> dict[str, Any]:
    """CPU, core count, load average (1, 5, 15 min, now), and the versions that matter for the
    timings. :func:`save` records it at the end of a run unless the benchmark did earlier."""
    import numba
    import numpy as np

    import fpgrad

    cpu: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "cpu family", "model", "cpu MHz") and key not in cpu:
                cpu[key] = value.strip()
            if not line.strip():  # first processor only
                break
    return {
        "cpu_model": cpu.get("model name") or platform.processor() or "unknown",
        "cpu_family_model": f"family {cpu.get('cpu family', '?')}, model {cpu.get('model', '?')}",
        "cpu_mhz": cpu.get("cpu MHz"),
        "cores": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "fpgrad": fpgrad.__version__,
    }


def table(
    table_id: str, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> dict[str, Any]:
    """One table of the contract; every row must have one cell per column."""
    rows = [list(row) for row in rows]
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(
                f"table {table_id!r}: row {row!r} has {len(row)} cells, expected "
                f"{len(columns)} ({', '.join(map(str, columns))})"
            )
    return {"id": table_id, "title": title, "columns": list(columns), "rows": rows}


def median_times(fn: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """Median wall-clock and median process CPU seconds (all threads) of ``fn()``.

    On the shared machine wall time is inflated by other jobs; CPU time is the steadier figure
    for single-threaded work, so the benchmarks report both.
    """
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def pyplot():
    """matplotlib's pyplot on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(
    name: str,
    report: dict[str, Any],
    quick: bool,
    tables: list[dict[str, Any]],
    figure: Callable[[dict[str, Any]], Any] | None = None,
    *,
    root: Path = RESULTS,
) -> Path:
    """Write ``report`` (plus ``benchmark``, ``quick``, ``date``, ``machine`` unless present, and
    ``tables``) to ``<root>[/quick]/<name>.json``; ``figure(report)`` returns a matplotlib
    figure, saved as the PNG of the same name. Returns the JSON's path."""
    out = results_dir(quick, root)
    out.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": name,
        "quick": quick,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        **report,
        "tables": tables,
    }
    report.setdefault("machine", machine_info())
    path = out / f"{name}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    if figure is not None:
        fig = figure(report)
        fig.savefig(out / f"{name}.png", dpi=110, bbox_inches="tight")
        pyplot().close(fig)
    return path


# --------------------------------------------------------------------------------------------
# rendering


@dataclass
class Source:
    """One results file: its benchmark name, mode and content."""

    name: str
    path: Path
    data: dict[str, Any]

    @property
    def quick(self) -> bool:
        return bool(self.data.get("quick", self.path.parent.name == "quick"))

    def caption(self, root: Path) -> str:
        m = self.data.get("machine") or {}
        load = m.get("load_average")
        where = ", ".join(
            x
            for x in (
                f"{m['cpu_model']} ({m.get('cpu_family_model', '?')})" if m else "machine unknown",
                f"{m['cores']} cores" if m.get("cores") else "",
                f"load average {load[1]:.1f} (5 min)" if load else "",
            )
            if x
        )
        mode = "quick run (`--quick`)" if self.quick else "full run"
        date = self.data.get("date") or "date not recorded"
        return f"{mode}, {date}, {where}: `{self.path.relative_to(root.parent).as_posix()}`"


@dataclass
class RenderReport:
    """What :func:`render` did."""

    replaced: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # markers left unchanged: nothing to render
    unplaced: list[str] = field(default_factory=list)  # tables without a marker

    def lines(self) -> list[str]:
        out = [f"rendered {len(self.replaced)} block(s)"]
        if self.missing:
            out.append("left unchanged (no results): " + ", ".join(self.missing))
        if self.unplaced:
            out.append("tables without a README marker: " + ", ".join(self.unplaced))
        return out


def load_sources(root: Path = RESULTS) -> list[Source]:
    """Every results JSON, full runs first, then quick runs (``results/quick/``)."""
    sources = []
    for folder in (root, root / "quick"):
        for path in sorted(folder.glob("*.json")):
            sources.append(Source(path.stem, path, json.loads(path.read_text())))
    return sources


def format_cell(value: Any) -> str:
    """A cell as markdown: strings as they are (``|`` escaped), numbers in general format."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value).replace("|", "\\|")
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.4g}"


def render_table(tab: dict[str, Any], caption: str) -> str:
    """``tab`` as a markdown table under its bold title and ``caption``; columns whose cells
    are all numbers (after the first column) are right-aligned."""
    cols = [format_cell(c) for c in tab["columns"]]
    rows = [[format_cell(c) for c in row] for row in tab["rows"]]
    align = ["---"]
    for j in range(1, len(cols)):
        cells = [r[j] for r in rows if r[j]]
        numeric = bool(cells) and all(_NUMBER.match(c) for c in cells)
        align.append("---:" if numeric else "---")
    lines = [f"**{tab['title']}** ({caption})", ""]
    lines += ["| " + " | ".join(cols) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def render(text: str, sources: list[Source], root: Path = RESULTS) -> tuple[str, RenderReport]:
    """Replace every marker block of ``text``: tables from ``sources``, figures from the PNGs
    under ``root`` (full runs take precedence over ``quick/`` in both)."""
    tables: dict[str, str] = {}
    for src in sorted(sources, key=lambda s: s.quick):  # full first: it wins
        for tab in src.data.get("tables", []):
            tables.setdefault(tab["id"], render_table(tab, src.caption(root)))
    figures: dict[str, str] = {}
    for folder, mode in ((root, "full run"), (root / "quick", "quick run")):
        for png in sorted(folder.glob("*.png")):
            rel = png.relative_to(root.parent).as_posix()
            figures.setdefault(png.stem, f"![{png.stem} ({mode})]({rel})")
    report = RenderReport()
    seen: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        kind, ident = match["kind"], match["id"]
        body = (tables if kind == "table" else figures).get(ident)
        key = f"{kind}:{ident}"
        seen.add(key)
        if body is None:
            report.missing.append(key)
            return match[0]
        report.replaced.append(key)
        return f"<!-- {key} -->\n{body}\n<!-- /{key} -->"

    new = _MARKER.sub(replace, text)
    report.unplaced = sorted(f"table:{t}" for t in tables if f"table:{t}" not in seen)
    return new, report


def main(argv: list[str] | None = None, *, readme: Path = README, root: Path = RESULTS) -> int:
    """Render ``readme`` in place from the results under ``root``."""
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args(argv)
    text = readme.read_text()
    new, report = render(text, load_sources(root), root)
    for line in report.lines():
        print(f"report: {line}")
    if new != text:
        readme.write_text(new)
        print(f"report: updated {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

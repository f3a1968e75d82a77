"""Per-epoch metrics written as CSV (one row per epoch) and JSON (config and all epochs)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

__all__ = ["MetricsLog"]


class MetricsLog:
    """Appends one dict of metrics per epoch to ``metrics.csv`` and rewrites ``metrics.json``.

    On resume, the rows of earlier epochs already in ``metrics.json`` are kept (rows of epochs
    at or after the resumed epoch are dropped, so a resumed run never duplicates an epoch).
    """

    def __init__(self, out_dir: str | Path, config: dict[str, Any], start_epoch: int = 0) -> None:
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.csv_path = self.dir / "metrics.csv"
        self.json_path = self.dir / "metrics.json"
        self.config = config
        self.rows: list[dict[str, Any]] = []
        if start_epoch > 0 and self.json_path.exists():
            old = json.loads(self.json_path.read_text())
            self.rows = [r for r in old.get("epochs", []) if r["epoch"] <= start_epoch]
        self._write_all()

    def append(self, row: dict[str, Any]) -> None:
        """Record one epoch's metrics."""
        self.rows.append(row)
        self._write_all()

    def _write_all(self) -> None:
        self.json_path.write_text(
            json.dumps({"config": self.config, "epochs": self.rows}, indent=1) + "\n"
        )
        if not self.rows:
            return
        fields = list(self.rows[0])
        for row in self.rows[1:]:
            fields += [k for k in row if k not in fields]
        with self.csv_path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(self.rows)

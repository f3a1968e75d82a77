"""``fpgrad demo`` (the main job of ``make demo``), run end to end at reduced sizes."""

from __future__ import annotations

import pytest

from fpgrad import _demo

pytest.importorskip("jax")
pytest.importorskip("matplotlib")


@pytest.mark.slow
def test_demo_runs_and_writes_its_files(tmp_path, monkeypatch, capsys):
    for name, value in {
        "GRADCHECK_SAMPLES": 1,
        "COMPARE_SAMPLES": 2,
        "COMPARE_DTS": (1.0,),
        "TRAIN_SAMPLES": 64,
        "TRAIN_EPOCHS": 1,
        "MAP_RESOLUTION": 8,
    }.items():
        monkeypatch.setattr(_demo, name, value)
    assert _demo.run_demo(str(tmp_path)) == 0
    out = capsys.readouterr().out
    for section in ("1. the example", "2. exact gradients", "3. exact vs surrogate", "4. brief"):
        assert section in out
    assert "gradient check passed" in out
    made = {p.name for p in tmp_path.iterdir()}
    assert {
        "example_problem.json",
        "example_spikes.json",
        "gradcheck.txt",
        "compare.csv",
        "compare.json",
        "compare.png",
        "training.csv",
        "training.png",
        "decision_map.png",
    } <= made
    assert "passed" in (tmp_path / "gradcheck.txt").read_text()

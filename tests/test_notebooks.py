"""The research notebooks in ``notebooks/``: stored without outputs, and executed top to bottom.

Each notebook is run with ``nbclient`` in a ``python3`` kernel of this interpreter's environment
(``JUPYTER_PATH`` points at its kernelspec first, and ``jupyter_client`` starts a kernelspec's
``python`` as ``sys.executable``), from the ``notebooks/`` folder, with the small default
parameters of its first code cell. A cell that raises fails the test with the cell's traceback; a
cell that emits a Python warning (``...: SomeWarning: message`` on stderr) fails it too, in the
spirit of the suite's ``filterwarnings = error``. Figures use matplotlib's inline backend
(``%matplotlib inline``: no display needed).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
KERNEL = "python3"
#: Seconds a single cell may run (a whole notebook takes under a minute on two cores).
CELL_TIMEOUT = 300
#: How ``warnings.showwarning`` prints a warning: ``file:line: Category: message``.
WARNING_LINE = re.compile(r":\d+: \w*Warning: ")


def test_notebooks_are_found():
    assert len(NOTEBOOKS) >= 3, f"expected the research notebooks in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path: Path):
    """Outputs are not committed: every code cell has no outputs and no execution count."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == KERNEL
    dirty = [
        index
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, (
        f"{path.name}: code cells {dirty} hold outputs or execution counts; clear them before "
        f"committing (jupyter nbconvert --clear-output --inplace {path.name})"
    )


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path: Path, monkeypatch: pytest.MonkeyPatch):
    """The notebook runs top to bottom without errors and without warnings."""
    monkeypatch.setenv("JUPYTER_PATH", str(Path(sys.prefix, "share", "jupyter")))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    client.execute()
    warned = [
        f"cell {index}: {output.text.strip()}"
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "stream"
        and output.name == "stderr"
        and WARNING_LINE.search(output.text)
    ]
    assert not warned, f"{path.name} emitted warnings:\n" + "\n".join(warned)
    figures = sum(
        "image/png" in output.get("data", {})
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )
    assert figures >= 2, f"{path.name}: expected its plots, got {figures} figure(s)"

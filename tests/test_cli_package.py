"""The layout of the ``fpgrad.cli`` package: ``--version``, ``--help`` of every command, no
import cycle (command modules import only ``_common`` and library modules), and no JAX import
for building the parser."""

from __future__ import annotations

import argparse
import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import fpgrad
import fpgrad.cli
from fpgrad.cli import main

PACKAGE = "fpgrad.cli"
PACKAGE_DIR = Path(fpgrad.cli.__file__).parent
COMMANDS = ("simulate", "grad", "check", "compare", "train", "demo")
COMMAND_MODULES = {f"{PACKAGE}.{name}" for name in COMMANDS}


def test_version(capsys):
    """``fpgrad --version`` prints ``fpgrad <version>`` and exits 0, also as a process."""
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"fpgrad {fpgrad.__version__}\n"
    done = subprocess.run(
        [sys.executable, "-m", "fpgrad", "--version"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"fpgrad {fpgrad.__version__}\n"


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help(command, capsys):
    """``fpgrad COMMAND --help`` exits 0 with the command's usage."""
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: fpgrad {command} ")


@pytest.mark.parametrize("command", ["grad", "check"])
def test_help_names_every_parameter_group(command, capsys):
    """``grad`` and ``check`` describe the gradient's groups (``check``: the arrays of
    ``--gradient FILE.npz``): every group of model 2, none missing."""
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps the description
    for group in fpgrad.GROUPS:
        assert group in out, group
    assert "per neuron" in out and "per synapse" in out


def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--version" in out
    for command in COMMANDS:
        assert f"    {command} " in out


@pytest.mark.parametrize("command", COMMANDS)
def test_command_module_registers_itself(command):
    """Each command module's ``add_command`` adds exactly its subcommand, with ``func`` set to
    a function of that module."""
    module = importlib.import_module(f"{PACKAGE}.{command}")
    parser = argparse.ArgumentParser(prog="fpgrad")
    sub = parser.add_subparsers(dest="command", required=True)
    module.add_command(sub)
    assert list(sub.choices) == [command]
    func = sub.choices[command].get_default("func")
    assert callable(func) and func.__module__ == module.__name__


def _imported_modules(source: str, stem: str) -> set[str]:
    """Absolute names of every module that the source of ``fpgrad/cli/<stem>.py`` imports
    (anywhere in the file, deferred imports included); ``from X import y`` counts as both ``X``
    and ``X.y``. The file's own name is left out."""
    parts = PACKAGE.split(".")  # every file sits directly in the package
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(filter(None, [*parts[: len(parts) - node.level + 1], node.module]))
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    names.discard(PACKAGE if stem == "__init__" else f"{PACKAGE}.{stem}")
    return names


def test_source_files_found():
    files = {p.stem for p in PACKAGE_DIR.glob("*.py")}
    assert files >= {"__init__", "_common", *COMMANDS}


@pytest.mark.parametrize("path", sorted(PACKAGE_DIR.glob("*.py")), ids=lambda p: p.name)
def test_no_import_cycle(path):
    """No module of ``fpgrad.cli`` imports ``fpgrad.cli`` itself; of the package's modules,
    the others import only its shared private modules (``_common``, ``_problem_file``) and only
    the package's ``__init__`` (which assembles the parser) imports the command modules."""
    imported = _imported_modules(path.read_text(encoding="utf-8"), path.stem)
    assert PACKAGE not in imported, f"{path.name} imports {PACKAGE}"
    if path.stem != "__init__":
        internal = {m for m in imported if m.startswith(PACKAGE + ".")}
        bad = {m for m in internal if not m[len(PACKAGE) + 1 :].startswith("_")}
        assert not bad, f"{path.name} imports {sorted(bad)}"


@pytest.mark.parametrize(
    "source",
    [
        "from . import check",
        "from .check import run",
        "from fpgrad.cli import main",
        "from .. import cli",
        "import fpgrad.cli.train",
        "def f():\n    from .train import run\n",
    ],
)
def test_import_checker_sees_cycles(source):
    """The checker itself: relative, absolute, package and deferred imports are caught."""
    imported = _imported_modules(source, "grad")
    assert PACKAGE in imported or imported & COMMAND_MODULES
    assert _imported_modules("from ._common import emit\nfrom .._io import load_problem", "grad")
    assert not _imported_modules("from ._common import emit", "grad") & (
        COMMAND_MODULES | {PACKAGE}
    )


def test_parser_does_not_import_jax():
    """Importing ``fpgrad.cli`` and printing every ``--help`` leaves JAX and the training stack
    unimported (a fresh interpreter: this one may have imported them already)."""
    code = (
        "import sys, contextlib, io\n"
        "from fpgrad.cli import main\n"
        f"for argv in [['--help'], *[[c, '--help'] for c in {COMMANDS!r}]]:\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "        main(argv)\n"
        "print(sorted(m for m in ('jax', 'optax', 'fpgrad.train') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_train_task_names_match_the_tasks():
    """``fpgrad train``'s choices are listed in the CLI (to keep JAX out of ``--help``): they
    must be the tasks of :data:`fpgrad.train.TASKS`."""
    pytest.importorskip("jax")
    from fpgrad.cli.train import TASK_NAMES
    from fpgrad.train import TASKS

    assert sorted(TASK_NAMES) == sorted(TASKS)

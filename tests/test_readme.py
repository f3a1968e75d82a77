"""Every example of README.md runs here and must show what the program really does.

README.md's fenced code blocks, by language tag:

* ``pycon``: Python sessions (``>>>`` / ``...`` prompts, then the output). All of them run in
  README order in one shared namespace with :mod:`doctest` (``ELLIPSIS``,
  ``NORMALIZE_WHITESPACE``), in a temporary working directory holding a copy of ``examples/``.
* ``console``: shell sessions. ``$ fpgrad ARGS`` runs ``python -m fpgrad ARGS`` from the
  repository root and its stdout must match the lines that follow (doctest's output checker,
  same flags); ``$ cat FILE`` shows a file of the repository. The exit status must be 0, or N
  where the command line ends with ``# exit status N`` (then stderr is part of the output).
* ``sh``: synopses, not run: every ``fpgrad [COMMAND]`` named must answer ``--help``, and every
  ``--option`` and every ``a|b`` choice shown must appear in that help; ``make TARGET`` must be
  a target of the Makefile.
* ``json``: must be the text of a file in ``examples/``.
* ``python``: must be the text of ``tests/test_example_user.py`` (which runs in this suite).

One test per block, named by its index and first line; any other language tag fails.
"""

from __future__ import annotations

import doctest
import functools
import os
import re
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
EXAMPLES = ROOT / "examples"
EXAMPLE_USER = ROOT / "tests" / "test_example_user.py"
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
LANGUAGES = {"pycon", "console", "sh", "json", "python"}


@dataclass(frozen=True)
class Block:
    index: int
    lang: str
    lineno: int  # README line (1-based) of the block's first line of content
    text: str

    @property
    def id(self) -> str:
        """``index-lang-first_words`` (the first line with a word), for the test's name."""
        first = next((line for line in self.text.splitlines() if re.search(r"\w", line)), "")
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", first).strip("_")[:48]
        return f"{self.index}-{self.lang}-{slug}".rstrip("-")


def readme_blocks() -> list[Block]:
    """The fenced (```) blocks of README.md, in order."""
    blocks: list[Block] = []
    lang: str | None = None
    start = 0
    body: list[str] = []
    for number, line in enumerate(README.read_text(encoding="utf-8").splitlines(), 1):
        fence = re.fullmatch(r"```\s*(\S*)\s*", line)
        if lang is None:
            if fence:
                lang, start, body = fence.group(1), number + 1, []
        elif fence and not fence.group(1):
            blocks.append(Block(len(blocks), lang, start, "".join(body)))
            lang = None
        else:
            body.append(line + "\n")
    assert lang is None, f"README.md: block opened at line {start - 1} is never closed"
    return blocks


BLOCKS = readme_blocks()


def blocks_of(lang: str) -> list:
    """The blocks of one language as parameters; the exact-vs-surrogate comparison (it compiles
    BPTT for several grid steps, about 20 s) is marked slow (left out of ``make test-quick``)."""
    return [
        pytest.param(b, id=b.id, marks=[pytest.mark.slow] if "fpgrad.compare(" in b.text else [])
        for b in BLOCKS
        if b.lang == lang
    ]


def test_every_block_has_a_checked_language():
    unknown = [(b.lineno - 1, b.lang or "(none)") for b in BLOCKS if b.lang not in LANGUAGES]
    assert not unknown, f"README blocks (line, tag) that no test checks: {unknown}"
    assert {b.lang for b in BLOCKS} >= {"pycon", "console", "sh"}


def test_every_example_file_is_shown():
    text = README.read_text(encoding="utf-8")
    unused = [p.name for p in sorted(EXAMPLES.iterdir()) if f"examples/{p.name}" not in text]
    assert not unused, f"examples/ files that README.md never refers to: {unused}"


# --- pycon: doctest, in README order, one namespace ---------------------------------------------


class PyconSession:
    """Runs the pycon blocks in README order in one namespace, each at most once."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.globs: dict = {"__name__": "readme"}
        self.reports: dict[int, str] = {}  # block index -> doctest report ("" if it passed)

    def run(self, block: Block) -> str:
        if block.index not in self.reports:
            test = doctest.DocTestParser().get_doctest(
                block.text, self.globs, f"README.md block {block.index}", str(README),
                block.lineno - 1,
            )  # fmt: skip
            runner = doctest.DocTestRunner(optionflags=FLAGS)
            report: list[str] = []
            runner.run(test, out=report.append, clear_globs=False)
            self.globs = test.globs  # the DocTest ran in a copy
            self.reports[block.index] = "".join(report) if runner.failures else ""
        return self.reports[block.index]


@pytest.fixture(scope="module")
def pycon_session(tmp_path_factory) -> PyconSession:
    workdir = tmp_path_factory.mktemp("readme")
    shutil.copytree(EXAMPLES, workdir / "examples")
    return PyconSession(workdir)


@pytest.mark.parametrize("block", blocks_of("pycon"))
def test_pycon(block, pycon_session, monkeypatch):
    monkeypatch.chdir(pycon_session.workdir)
    for earlier in BLOCKS[: block.index]:
        if earlier.lang == "pycon" and pycon_session.run(earlier):
            pytest.fail(f"needs the example at README line {earlier.lineno}, which fails")
    report = pycon_session.run(block)
    if report:
        pytest.fail(f"README example at line {block.lineno}:\n{report}", pytrace=False)


# --- console: commands and their output ---------------------------------------------------------


def console_commands(block: Block) -> list[tuple[str, int, str]]:
    """(command line, README line, expected output) for each ``$ `` line of a console block."""
    commands: list[tuple[str, int, list[str]]] = []
    for offset, line in enumerate(block.text.splitlines(keepends=True)):
        if line.startswith("$ "):
            commands.append((line[2:].strip(), block.lineno + offset, []))
        else:
            assert commands, f"README line {block.lineno}: output before any '$ ' command"
            commands[-1][2].append(line)
    return [(cmd, lineno, "".join(want)) for cmd, lineno, want in commands]


def run_console(argv: list[str]) -> subprocess.CompletedProcess:
    if argv[0] == "fpgrad":
        return subprocess.run(
            [sys.executable, "-m", "fpgrad", *argv[1:]],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    if argv[0] == "cat":
        text = "".join((ROOT / name).read_text(encoding="utf-8") for name in argv[1:])
        return subprocess.CompletedProcess(argv, 0, text, "")
    pytest.fail(f"console blocks run only 'fpgrad ...' and 'cat FILE', not {argv[0]!r}")


@pytest.mark.parametrize("block", blocks_of("console"))
def test_console(block):
    checker = doctest.OutputChecker()
    problems = []
    for command, lineno, want in console_commands(block):
        status = re.search(r"#\s*exit status (\d+)", command)
        expected_rc = int(status.group(1)) if status else 0
        done = run_console(shlex.split(command, comments=True))
        got = done.stdout if expected_rc == 0 else done.stdout + done.stderr
        if done.returncode != expected_rc:
            problems.append(
                f"line {lineno}: $ {command}\nexit status {done.returncode}, expected "
                f"{expected_rc}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
            )
        elif not checker.check_output(want, got, FLAGS):
            example = doctest.Example(command, want)
            problems.append(
                f"line {lineno}: $ {command}\n{checker.output_difference(example, got, FLAGS)}"
            )
    assert not problems, "README console example:\n" + "\n".join(problems)


# --- sh: synopses -------------------------------------------------------------------------------


def run_help(command: str | None) -> subprocess.CompletedProcess:
    """``fpgrad [command] --help``, unwrapped (wide terminal) so that no option is split."""
    return subprocess.run(
        [sys.executable, "-m", "fpgrad", *([command] if command else []), "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "COLUMNS": "1000"},
    )


@functools.cache
def help_texts() -> dict[str | None, subprocess.CompletedProcess]:
    """The help of every command that a synopsis names, fetched in parallel."""
    commands = {
        synopsis_command(line)
        for block in BLOCKS
        if block.lang == "sh"
        for _, line in synopsis_lines(block)
        if line.split()[0] == "fpgrad"
    }
    with ThreadPoolExecutor() as pool:
        return dict(zip(commands, pool.map(run_help, commands), strict=True))


def synopsis_command(line: str) -> str | None:
    """The subcommand of ``fpgrad COMMAND ...`` (None for ``fpgrad --help``)."""
    words = line.split()
    return words[1] if len(words) > 1 and not words[1].startswith("-") else None


def synopsis_lines(block: Block) -> list[tuple[int, str]]:
    """(README line, text) of each command of a synopsis; indented lines continue the last."""
    lines: list[tuple[int, str]] = []
    for offset, line in enumerate(block.text.splitlines()):
        if line[:1].isspace() and lines:
            lines[-1] = (lines[-1][0], f"{lines[-1][1]} {line.strip()}")
        elif line.strip():
            lines.append((block.lineno + offset, line.strip()))
    return lines


def has_word(word: str, text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


@pytest.mark.parametrize("block", blocks_of("sh"))
def test_sh_synopsis(block):
    problems = []
    for lineno, line in synopsis_lines(block):
        words = line.split()
        if words[0] == "make":
            makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
            for target in shlex.split(line, comments=True)[1:]:
                if not re.search(rf"^{re.escape(target)}\s*:", makefile, re.MULTILINE):
                    problems.append(f"line {lineno}: no Makefile target {target!r}")
            continue
        if words[0] != "fpgrad":
            problems.append(f"line {lineno}: a synopsis line is 'fpgrad ...' or 'make ...'")
            continue
        command = synopsis_command(line)
        done = help_texts()[command]
        if done.returncode != 0:
            problems.append(f"line {lineno}: fpgrad {command or ''} --help failed: {done.stderr}")
            continue
        text = done.stdout
        for flag in re.findall(r"(?<![\w-])--[A-Za-z][\w-]*", line):
            if not has_word(flag, text):
                problems.append(f"line {lineno}: fpgrad {command or ''} has no option {flag}")
        for choices in re.findall(r"(?<![\w|-])[\w-]+(?:\|[\w-]+)+", line):
            for choice in choices.split("|"):
                if not has_word(choice, text):
                    problems.append(
                        f"line {lineno}: {choice!r} ({choices}) is not in fpgrad "
                        f"{command or ''} --help"
                    )
    assert not problems, "README synopsis:\n" + "\n".join(problems)


# --- json and python: copies of files that are used and tested ----------------------------------


@pytest.mark.parametrize("block", blocks_of("json"))
def test_json_block_is_an_example_file(block):
    files = {p.name: p.read_text(encoding="utf-8") for p in sorted(EXAMPLES.glob("*.json"))}
    matches = [name for name, text in files.items() if text == block.text]
    assert matches, f"README line {block.lineno}: this JSON is not the text of an examples/ file"


def test_problem_file_loads():
    import fpgrad

    problem = fpgrad.load_problem(EXAMPLES / "problem.json")
    assert problem.network.n_neurons == 3


@pytest.mark.parametrize("block", blocks_of("python"))
def test_python_block_is_the_example_test(block):
    assert block.text == EXAMPLE_USER.read_text(encoding="utf-8"), (
        f"README line {block.lineno}: a python block must be tests/test_example_user.py "
        "verbatim (write runnable examples as pycon blocks)"
    )

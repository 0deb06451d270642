"""What the README documents works (issue #17): every `tracekit` command line in its shell
blocks names a real command and real flags, every `make` target it names exists, and the
"A first session" block runs as written."""

from __future__ import annotations

import contextlib
import re
import shlex
from pathlib import Path

import click
import pytest

from tests.cli import run
from tracekit.cli import cli

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()
SHELL_BLOCKS = re.findall(r"```(?:sh|cron|ini)\n(.*?)```", README, flags=re.DOTALL)


def _command_lines(block: str) -> list[list[str]]:
    """Each ``tracekit ...`` invocation in a block (after ``&&``, ``|`` or a path prefix)."""
    found = []
    for line in block.replace("\\\n", " ").splitlines():
        line = line.split(" #")[0]
        for part in re.split(r"&&|\|\||\s\|\s", line):  # not NAME|all
            words = part.split()
            for index, word in enumerate(words):
                if word == "tracekit" or word.endswith("/bin/tracekit"):
                    found.append(words[index + 1 :])
                    break
    return found


INVOCATIONS = [words for block in SHELL_BLOCKS for words in _command_lines(block)]


def test_the_readme_shows_commands() -> None:
    assert len(INVOCATIONS) >= 20
    assert {words[0] for words in INVOCATIONS if words} >= set(cli.list_commands(None))  # type: ignore[arg-type]


@pytest.mark.parametrize("words", INVOCATIONS, ids=lambda words: " ".join(words)[:60])
def test_every_documented_invocation_uses_real_flags(words: list[str]) -> None:
    command = cli.get_command(None, words[0])  # type: ignore[arg-type]
    assert isinstance(command, click.Command), f"tracekit {words[0]}: no such command"
    known = {opt for param in command.params for opt in param.opts + param.secondary_opts}
    known |= {"-h", "--help"}
    for word in words[1:]:
        for flag in word.split("=")[0].strip("[]()|.,").split("/"):  # --progress/--no-progress
            if re.fullmatch(r"--?[a-z][a-z0-9-]*", flag):
                assert flag in known, f"tracekit {words[0]} has no {flag} (README: {words})"


def test_every_documented_make_target_exists() -> None:
    makefile = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, flags=re.MULTILINE))
    named = set(re.findall(r"`make ([a-z][a-z-]*)", README))
    named |= {m for block in SHELL_BLOCKS for m in re.findall(r"^make ([a-z-]+)", block, re.M)}
    assert named, "the README names no make target"
    assert named <= targets, sorted(named - targets)


@pytest.mark.slow
def test_a_first_session_runs_as_written(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()  # the block's `mkdir -p data`
    block = README.split("## A first session", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    ran = []
    for words in _command_lines(block):
        if words[0] not in ("simulate", "info", "sql", "capacity"):
            continue  # report runs a kernel (tests/test_report_*), export needs a Jaeger
        with contextlib.chdir(tmp_path):
            proc = run(*shlex.split(" ".join(words)), timeout=300)
        assert proc.returncode == 0, (words, proc.stderr)
        assert "Traceback" not in proc.stderr
        ran.append(words[0])
    assert ran.count("sql") >= 2 and {"simulate", "info", "capacity"} <= set(ran), ran

"""The README documents every command and every view (as sqlite-utils' test_docs does)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import tracekit
from tracekit.cli import cli
from tracekit.dataset import write_spans

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(cli.list_commands(None)))  # type: ignore[arg-type]
def test_every_command_has_a_readme_section(name: str) -> None:
    assert f"## tracekit {name}" in README
    section = README.split(f"## tracekit {name}", 1)[1].split("\n## ", 1)[0]
    assert "(being written)" not in section, f"tracekit {name} is not documented yet"
    command = cli.get_command(None, name)  # type: ignore[arg-type]
    assert command is not None
    for param in command.params:
        flags = [opt for opt in param.opts + param.secondary_opts if opt.startswith("-")]
        if flags and "--help" not in flags:
            assert any(re.search(rf"{re.escape(flag)}\b", section) for flag in flags), (
                f"{'/'.join(flags)} of tracekit {name} is not in the README"
            )


def test_every_view_is_in_the_readme(tmp_path: Path) -> None:
    write_spans(tmp_path, [])
    con = tracekit.connect(tmp_path)
    views = {
        row[0]
        for row in con.execute(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal AND NOT temporary"
        ).fetchall()
    }
    macros = {
        row[0]
        for row in con.execute(
            "SELECT function_name FROM duckdb_functions() "
            "WHERE function_type = 'table_macro' AND NOT internal"
        ).fetchall()
    }
    documented = set(re.findall(r"^\| `([a-z_]+)(?:\(|`)", README, flags=re.MULTILINE))
    assert views | macros <= documented, sorted((views | macros) - documented)

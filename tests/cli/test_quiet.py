"""Issue 18 item 6: no Alembic lines on stderr, and flags shown without a value type in help."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import typer.main
from typer.core import TyperGroup
from typer.testing import CliRunner

from awoooi.cli.main import LAZY_COMMANDS, app
from tests.cli.test_cli import awoooi_cli, cli_env

ALEMBIC_NOISE = ("Context impl", "Will assume", "Running upgrade", "alembic")


def command_paths() -> Iterator[tuple[str, ...]]:
    """Every command and group of the CLI, as the words that reach it."""
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)

    def walk(group: TyperGroup, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        for name in group.list_commands(typer.Context(group)):
            command = group.get_command(typer.Context(group), name)
            assert command is not None
            yield (*path, name)
            if isinstance(command, TyperGroup):
                yield from walk(command, (*path, name))

    yield ()
    yield from walk(root, ())


def test_every_command_is_walked() -> None:
    paths = set(command_paths())

    assert {(name,) for name in LAZY_COMMANDS} <= paths
    assert ("drift", "scan") in paths
    assert ("db", "prune") in paths


@pytest.mark.parametrize("path", list(command_paths()), ids=" ".join)
def test_help_shows_no_type_for_flags(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})

    assert result.exit_code == 0, result.output
    assert "--help" in result.output
    assert "<bool>" not in result.output
    help_line = next(line for line in result.output.splitlines() if "--help" in line)
    assert help_line.split("--help", 1)[1].split()[0] == "Show"


def test_a_value_option_still_shows_its_type() -> None:
    result = CliRunner().invoke(app, ["db", "prune", "--help"], env={"COLUMNS": "200"})
    listed = CliRunner().invoke(app, ["jobs", "list", "--help"], env={"COLUMNS": "200"})

    assert "--dry-run" in result.output
    assert "<int range>" in listed.output


def test_cli_commands_print_no_alembic_lines(tmp_path: Path, database_url: str) -> None:
    env = cli_env(tmp_path / "home", database_url, AWOOOI_LOG_FORMAT="json")

    upgraded = awoooi_cli("db", "upgrade", env=env, cwd=tmp_path)
    listed = awoooi_cli("jobs", "list", env=env, cwd=tmp_path)

    assert upgraded.returncode == 0, upgraded.stderr
    assert listed.returncode == 0, listed.stderr
    for noise in ALEMBIC_NOISE:
        assert noise not in upgraded.stderr
        assert noise not in listed.stderr
    # The one line left says what the upgrade changed; an up-to-date database says nothing.
    assert '"event": "database schema upgraded"' in upgraded.stderr
    assert listed.stderr == ""

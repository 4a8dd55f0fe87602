"""The root command loads command modules lazily, yet lists and runs every one of them."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer.main
from typer.testing import CliRunner

from awoooi.cli.main import LAZY_COMMANDS, app

# What `awoooi --help` and `awoooi version` used to import on every run, for nothing.
HEAVY_MODULES = (
    "awoooi.runtime",
    "awoooi.settings",
    "awoooi.core.config",
    "fastapi",
    "lightkube",
    "sqlalchemy",
)


@pytest.mark.parametrize("name", list(LAZY_COMMANDS))
def test_listed_help_is_the_loaded_commands_help(name: str) -> None:
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    command = group.get_command(typer.Context(group), name)

    assert command is not None
    assert command.name == name
    assert command.help == LAZY_COMMANDS[name][2]


def test_help_lists_every_command_in_order_with_its_help() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})

    assert result.exit_code == 0, result.output
    rows = [line.strip("│ ").split(None, 1) for line in result.output.splitlines()]
    listed = [row for row in rows if row and row[0] in {"version", *LAZY_COMMANDS}]
    assert [row[0] for row in listed] == ["version", *LAZY_COMMANDS]
    for command, help_text in listed[1:]:
        assert help_text.strip() == LAZY_COMMANDS[command][2]


def test_a_lazy_group_runs_its_subcommands() -> None:
    result = CliRunner().invoke(app, ["playbooks", "--help"])

    assert result.exit_code == 0, result.output
    assert "validate" in result.output
    assert "list" in result.output


def test_a_mistyped_command_still_gets_a_suggestion() -> None:
    result = CliRunner().invoke(app, ["tokns"])

    assert result.exit_code == 2
    assert "Did you mean 'tokens'?" in result.output


@pytest.mark.parametrize("argv", [["--help"], ["version"]])
def test_help_and_version_import_no_subsystem(argv: list[str]) -> None:
    probe = (
        "import sys\n"
        "from awoooi.cli.main import app\n"
        "try:\n"
        f"    app({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules), file=sys.stderr)\n"
    )
    result = subprocess.run(  # the probe is this file's own code
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines()[-1] == "[]"

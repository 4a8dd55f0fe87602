"""`awoooi playbooks`: validate a directory of playbooks, list the loaded ones."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from awoooi.cli.context import err_console, fail, out_console, settings_from
from awoooi.repair.playbooks import PlaybookError, load_catalog, validate_directory

app = typer.Typer(help="Repair playbooks: validate and list.", no_args_is_help=True)


@app.command()
def validate(
    ctx: typer.Context,
    directory: Annotated[
        Path, typer.Argument(help="Directory of playbook YAML files.", file_okay=False)
    ],
) -> None:
    """Check every playbook in DIR against the schema, the action catalog and this config's
    policy (allowed hosts, patch fields, replica ceiling); exit 1 naming file, line and field."""
    settings = settings_from(ctx)
    playbooks, problems = validate_directory(directory, settings.repair)
    for playbook in playbooks:
        out_console.print(
            Text.assemble(("ok ", "green"), f"{playbook.id}  ({playbook.source})"),
            highlight=False,
        )
    for problem in problems:
        err_console.print(Text.assemble(("error: ", "bold red"), str(problem)), highlight=False)
    if problems:
        raise typer.Exit(1)
    out_console.print(f"{len(playbooks)} playbook(s) valid", highlight=False)


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """The playbooks awoooi would use (shipped ones plus `repair.playbooks_dir`), in the order
    they are tried."""
    settings = settings_from(ctx)
    try:
        catalog = load_catalog(settings.repair)
    except PlaybookError as exc:
        raise fail(exc.detail) from None
    table = Table("id", "risk", "approval", "signals / causes", "steps", "source")
    for playbook in catalog.playbooks:
        table.add_row(
            playbook.id,
            playbook.risk,
            "yes" if playbook.requires_approval else "policy",
            Text(", ".join([*playbook.match.signals, *playbook.match.causes]) or "-"),
            Text(", ".join(step.action for step in playbook.steps)),
            Text(playbook.source),
        )
    out_console.print(table)

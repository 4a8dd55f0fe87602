"""`awoooi playbooks`: validate a directory of playbooks, list the loaded ones."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from awoooi.cli.backend import with_backend
from awoooi.cli.context import err_console, out_console, settings_from
from awoooi.cli.output import FormatOption, print_json, table
from awoooi.repair.playbooks import validate_directory
from awoooi.repair.schemas import PlaybookOut

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
def list_(ctx: typer.Context, output: FormatOption = "table") -> None:
    """The playbooks awoooi would use (shipped ones plus `repair.playbooks_dir`), in the order
    they are tried."""
    found: list[PlaybookOut] = with_backend(ctx, lambda backend: backend.playbooks())
    if output == "json":
        print_json(found)
        return
    shown = table("id", "risk", "approval", "signals / causes", "steps", "source")
    for playbook in found:
        match = playbook.match
        shown.add_row(
            playbook.id,
            playbook.risk,
            "yes" if playbook.requires_approval else "policy",
            Text(", ".join([*match.get("signals", []), *match.get("causes", [])]) or "-"),
            Text(", ".join(str(step.get("action")) for step in playbook.steps)),
            Text(playbook.source),
        )
    out_console.print(shown)

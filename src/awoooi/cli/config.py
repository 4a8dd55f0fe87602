"""`awoooi config`: show the effective settings and document every key."""

from __future__ import annotations

import json

import typer

from awoooi.cli.context import out_console, settings_from
from awoooi.config_docs import markdown_table
from awoooi.core.db import redact_url

app = typer.Typer(help="Configuration.", no_args_is_help=True)


@app.command()
def show(ctx: typer.Context) -> None:
    """Print the effective settings as JSON (secrets masked); exits 2 when they are invalid."""
    settings = settings_from(ctx)
    data = settings.model_dump(mode="json")
    data["database_url"] = redact_url(settings.resolved_database_url)
    out_console.print_json(json.dumps(data))


@app.command()
def keys() -> None:
    """Print every setting as a Markdown table (key, env var, type, default, meaning)."""
    out_console.print(markdown_table(), highlight=False, soft_wrap=True)

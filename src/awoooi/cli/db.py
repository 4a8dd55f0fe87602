"""`awoooi db`: schema migrations."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from awoooi.cli.context import out_console, settings_from, with_runtime
from awoooi.core import migrate
from awoooi.core.db import redact_url

if TYPE_CHECKING:
    from awoooi.runtime import Runtime

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command()
def upgrade(ctx: typer.Context) -> None:
    """Apply every pending migration."""
    settings = settings_from(ctx)

    async def action(runtime: Runtime) -> str | None:
        return await migrate.current_revision(runtime.engine)

    revision = with_runtime(settings, action)
    out_console.print(
        f"database {redact_url(settings.resolved_database_url)} is at revision {revision}",
        highlight=False,
    )


@app.command()
def current(ctx: typer.Context) -> None:
    """Print the database's revision and the newest one shipped."""
    settings = settings_from(ctx)

    async def action(runtime: Runtime) -> str | None:
        return await migrate.current_revision(runtime.engine)

    revision = with_runtime(settings, action, migrate=False)
    out_console.print(f"current: {revision}\nhead:    {migrate.head_revision()}", highlight=False)

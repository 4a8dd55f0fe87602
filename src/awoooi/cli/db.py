"""`awoooi db`: schema migrations and retention."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from awoooi.cli.context import (
    cli_caller,
    fail,
    out_console,
    settings_from,
    with_database,
    with_runtime,
)
from awoooi.core import migrate
from awoooi.core.db import redact_url

if TYPE_CHECKING:
    from awoooi.database import Database
    from awoooi.retention.service import PruneReport
    from awoooi.runtime import Runtime

app = typer.Typer(help="Database schema and retention.", no_args_is_help=True)


@app.command()
def upgrade(ctx: typer.Context) -> None:
    """Apply every pending migration."""
    settings = settings_from(ctx)

    async def action(database: Database) -> str | None:
        return await migrate.current_revision(database.engine)

    revision = with_database(settings, action, create=True)
    out_console.print(
        f"database {redact_url(settings.resolved_database_url)} is at revision {revision}",
        highlight=False,
    )


@app.command()
def current(ctx: typer.Context) -> None:
    """Print the database's revision and the newest one shipped."""
    settings = settings_from(ctx)

    async def action(database: Database) -> str | None:
        return await migrate.current_revision(database.engine)

    revision = with_database(settings, action, migrate=False)
    out_console.print(f"current: {revision}\nhead:    {migrate.head_revision()}", highlight=False)


@app.command()
def prune(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be deleted; delete nothing.")
    ] = False,
) -> None:
    """Delete rows older than their retention (see the README's Retention section) now, in
    short batches; prints the rows per table."""
    settings = settings_from(ctx)

    async def action(runtime: Runtime) -> PruneReport:
        from awoooi.retention.service import prune as prune_rows

        return await prune_rows(
            runtime.session_factory, runtime.retention_policy, caller=cli_caller(), dry_run=dry_run
        )

    report = with_runtime(settings, action)
    table = Table("table", "would delete" if dry_run else "deleted")
    for name, rows in report.removed.items():
        table.add_row(name, str(rows))
    out_console.print(table)
    if report.busy:
        raise fail("another process is pruning; stopped early (run again later)")

"""`awoooi jobs`: inspect the durable job queue and retry dead jobs (local database or --server)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from awoooi.api.schemas import JobOut
from awoooi.cli.backend import with_backend
from awoooi.cli.context import MAX_ID, err_console, out_console
from awoooi.cli.output import FormatOption, print_json, table, when
from awoooi.core.models import JobStatus

app = typer.Typer(help="Durable jobs.", no_args_is_help=True)


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[JobStatus | None, typer.Option(help="Only jobs in this state.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    output: FormatOption = "table",
) -> None:
    """List jobs, newest first."""
    found: list[JobOut] = with_backend(ctx, lambda b: b.jobs(status=status, limit=limit))
    if output == "json":
        print_json(found)
        return
    shown = table(
        "id",
        "kind",
        "status",
        "attempts",
        "run at",
        "last error",
        whole=("status",),
        optional=("attempts",),
    )
    for job in found:
        shown.add_row(
            str(job.id),
            Text(job.kind),
            job.status,
            str(job.attempts),
            when(job.run_at, "%Y-%m-%d %H:%M:%S"),
            Text((job.last_error or "")[:80]),
        )
    out_console.print(shown)


@app.command()
def retry(
    ctx: typer.Context,
    job_id: Annotated[int, typer.Argument(help="A dead job's id.", min=1, max=MAX_ID)],
    output: FormatOption = "table",
) -> None:
    """Queue a dead job again with a fresh set of attempts."""
    job: JobOut = with_backend(ctx, lambda backend: backend.retry_job(job_id))
    if output == "json":
        print_json(job)
        return
    err_console.print(f"job {job.id} queued again")

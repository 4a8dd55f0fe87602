"""`awoooi jobs`: inspect the durable job queue and retry dead jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from awoooi.cli.context import cli_caller, err_console, in_transaction, out_console, settings_from
from awoooi.core import jobs
from awoooi.core.models import Job, JobStatus

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from awoooi.runtime import Runtime

app = typer.Typer(help="Durable jobs.", no_args_is_help=True)


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[JobStatus | None, typer.Option(help="Only jobs in this state.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """List jobs, newest first."""

    async def action(_runtime: Runtime, session: AsyncSession) -> list[Job]:
        return await jobs.list_jobs(session, status=status, limit=limit)

    table = Table("id", "kind", "status", "attempts", "run at", "last error")
    for job in in_transaction(settings_from(ctx), action):
        table.add_row(
            str(job.id),
            job.kind,
            job.status,
            str(job.attempts),
            f"{job.run_at:%Y-%m-%d %H:%M:%S}",
            (job.last_error or "")[:80],
        )
    out_console.print(table)


@app.command()
def retry(
    ctx: typer.Context, job_id: Annotated[int, typer.Argument(help="A dead job's id.")]
) -> None:
    """Queue a dead job again with a fresh set of attempts."""

    async def action(_runtime: Runtime, session: AsyncSession) -> None:
        await jobs.requeue_dead_job(session, job_id, caller=cli_caller())

    in_transaction(settings_from(ctx), action)
    err_console.print(f"job {job_id} queued again")

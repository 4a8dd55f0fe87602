"""`awoooi jobs`: inspect the durable job queue and retry dead jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from awoooi.cli.context import cli_actor, err_console, out_console, settings_from, with_runtime
from awoooi.core import jobs
from awoooi.core.audit import record_audit
from awoooi.core.db import transaction
from awoooi.core.models import Job, JobStatus

if TYPE_CHECKING:
    from awoooi.runtime import Runtime

app = typer.Typer(help="Durable jobs.", no_args_is_help=True)


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[JobStatus | None, typer.Option(help="Only jobs in this state.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """List jobs, newest first."""
    settings = settings_from(ctx)

    async def action(runtime: Runtime) -> list[Job]:
        async with transaction(runtime.session_factory) as session:
            return await jobs.list_jobs(session, status=status, limit=limit)

    table = Table("id", "kind", "status", "attempts", "run at", "last error")
    for job in with_runtime(settings, action):
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
    settings = settings_from(ctx)

    async def action(runtime: Runtime) -> None:
        async with transaction(runtime.session_factory) as session:
            job = await jobs.requeue_dead_job(session, job_id)
            await record_audit(
                session,
                actor=cli_actor(),
                action="job.retry",
                target=f"job:{job_id}",
                detail={"kind": job.kind},
            )

    with_runtime(settings, action)
    err_console.print(f"job {job_id} queued again")

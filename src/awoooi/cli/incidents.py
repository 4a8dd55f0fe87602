"""`awoooi incidents`: list and show incidents."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from awoooi.cli.context import fail, in_transaction, out_console, settings_from
from awoooi.incidents import repository
from awoooi.incidents.models import Incident, IncidentStatus, Severity

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from awoooi.runtime import Runtime

app = typer.Typer(help="Incidents.", no_args_is_help=True)


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[IncidentStatus | None, typer.Option(help="Only this status.")] = None,
    severity: Annotated[Severity | None, typer.Option(help="Only this severity.")] = None,
    service: Annotated[str | None, typer.Option(help="Only incidents affecting it.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
) -> None:
    """List incidents, newest first."""

    async def action(_runtime: Runtime, session: AsyncSession) -> tuple[list[Incident], int]:
        return await repository.search(
            session,
            status=status.value if status else None,
            severity=severity.value if severity else None,
            service=service,
            since=None,
            limit=limit,
            offset=0,
        )

    items, total = in_transaction(settings_from(ctx), action)
    table = Table("id", "severity", "status", "services", "seen", "last seen", "title")
    for incident in items:
        table.add_row(
            incident.human_id,
            incident.severity,
            incident.status,
            ",".join(incident.affected_services),
            str(incident.occurrences),
            f"{incident.last_seen:%Y-%m-%d %H:%M}",
            incident.title[:60],
        )
    out_console.print(table)
    out_console.print(f"{len(items)} of {total}", highlight=False)


@app.command()
def show(
    ctx: typer.Context, incident_id: Annotated[str, typer.Argument(help="INC-YYYYMMDD-NNNN")]
) -> None:
    """Show one incident with its symptoms and timeline."""

    async def action(_runtime: Runtime, session: AsyncSession) -> Incident | None:
        return await repository.get_by_human_id(session, incident_id, with_timeline=True)

    # The API view lives with the endpoints, whose FastAPI import only this command needs.
    from awoooi.incidents.endpoints import incident_out

    incident = in_transaction(settings_from(ctx), action)
    if incident is None:
        raise fail(f"no incident {incident_id}")
    view = incident_out(incident)
    out_console.print(f"[bold]{view.id}[/] {view.title}", highlight=False)
    for label, value in (
        ("severity", view.severity.value),
        ("status", view.status.value),
        ("services", ", ".join(view.affected_services) or "-"),
        ("namespace", view.namespace or "-"),
        ("symptoms hash", view.symptoms_hash),
        ("signature", str(view.symptoms.get("error_signature", ""))),
        ("occurrences", str(view.occurrences)),
        ("first / last seen", f"{view.first_seen:%Y-%m-%d %H:%M:%S} / {view.last_seen:%H:%M:%S}"),
        ("alerts", ", ".join(view.fingerprints)),
    ):
        out_console.print(f"  {label:18} {value}", highlight=False, markup=False)
    table = Table("at", "actor", "event", "status", "detail", title="timeline")
    for event in incident.events:
        change = f"{event.from_status or ''} -> {event.to_status}" if event.to_status else ""
        table.add_row(
            f"{event.at:%Y-%m-%d %H:%M:%S}",
            event.actor,
            event.event,
            change,
            ", ".join(f"{k}={v}" for k, v in event.detail.items()),
        )
    out_console.print(table)

"""`awoooi incidents`: list and show incidents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from awoooi.cli.context import fail, in_transaction, out_console, settings_from
from awoooi.diagnosis.incidents import latest_diagnosis
from awoooi.diagnosis.models import DiagnosisRecord
from awoooi.incidents import repository
from awoooi.incidents.models import Incident, IncidentStatus, Severity

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from awoooi.runtime import Runtime

app = typer.Typer(help="Incidents.", no_args_is_help=True)

SHOWN_FINDINGS = 3
SHOWN_CHILDREN = 200


@dataclass(frozen=True)
class Shown:
    """What `show` prints: the incident, its latest diagnosis, its storm and its children."""

    incident: Incident | None
    diagnosis: DiagnosisRecord | None
    parent: str | None
    children: list[Incident]
    children_total: int


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

    async def action(_runtime: Runtime, session: AsyncSession) -> Shown:
        found = await repository.get_by_human_id(session, incident_id, with_timeline=True)
        if found is None:
            return Shown(None, None, None, [], 0)
        parent = await repository.human_ids(session, [found.parent_id] if found.parent_id else [])
        return Shown(
            found,
            await latest_diagnosis(session, found.id),
            parent.get(found.parent_id or 0),
            await repository.children_of(session, found.id, limit=SHOWN_CHILDREN),
            await repository.count_children(session, found.id),
        )

    # The API view lives with the endpoints, whose FastAPI import only this command needs.
    from awoooi.incidents.endpoints import incident_out

    shown = in_transaction(settings_from(ctx), action)
    incident, diagnosis = shown.incident, shown.diagnosis
    if incident is None:
        raise fail(f"no incident {incident_id}")
    view = incident_out(incident, parent=shown.parent)
    out_console.print(f"[bold]{view.id}[/] {view.title}", highlight=False)
    for label, value in (
        ("kind", view.kind),
        ("storm", view.parent or "-"),
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
    if shown.children_total:
        _print_children(shown.children, shown.children_total, view.id)
    if diagnosis is not None:
        _print_diagnosis(diagnosis)


def _print_children(children: list[Incident], total: int, storm: str) -> None:
    """A storm's children: each still an incident of its own."""
    table = Table("id", "severity", "status", "title", title=f"children ({total})")
    for child in children:
        table.add_row(child.human_id, child.severity, child.status, child.title[:60])
    out_console.print(table)
    if total > len(children):
        out_console.print(
            f"{total - len(children)} more: GET /api/v1/incidents?parent={storm}",
            highlight=False,
        )


def _print_diagnosis(diagnosis: DiagnosisRecord) -> None:
    """The latest diagnosis: who made it, the target, the findings with the evidence they cite."""
    where = f"{diagnosis.target_namespace}/" if diagnosis.target_namespace else ""
    found = "" if diagnosis.target_resolved else " (from the alert's labels)"
    head = f"diagnosis #{diagnosis.id} by {diagnosis.made_by}"
    if diagnosis.provider:
        head += f" ({diagnosis.provider})"
    out_console.print(Text(head, style="bold"))
    for label, value in (
        ("target", f"{diagnosis.target_kind} {where}{diagnosis.target_name}{found}"),
        ("cause", diagnosis.cause or "-"),
        ("summary", diagnosis.summary),
    ):
        out_console.print(Text(f"  {label:18} {value}"))
    evidence = {item.get("id"): item for item in diagnosis.evidence}
    for number, finding in enumerate(diagnosis.findings[:SHOWN_FINDINGS], 1):
        out_console.print(
            Text(
                f"  {number}. {finding.get('cause')} ({finding.get('confidence')}): "
                f"{finding.get('summary')}"
            )
        )
        for evidence_id in finding.get("evidence", []):
            item = evidence.get(evidence_id)
            if item is not None:
                first = str(item.get("text", "")).splitlines()[:1]
                shown = f"     {evidence_id} [{item.get('source')}] {''.join(first)}"
                out_console.print(Text(shown))
    out_console.print(
        Text(f"  {len(diagnosis.evidence)} pieces of evidence (GET /api/v1/incidents/ID)")
    )

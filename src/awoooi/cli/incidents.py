"""`awoooi incidents`: list and show incidents (local database or --server)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from awoooi.cli.backend import with_backend
from awoooi.cli.context import out_console
from awoooi.cli.output import FormatOption, print_json, table, when
from awoooi.diagnosis.schemas import DiagnosisOut
from awoooi.incidents.models import IncidentStatus, Severity
from awoooi.incidents.schemas import ChildOut, IncidentDetail, IncidentPage

app = typer.Typer(help="Incidents.", no_args_is_help=True)

SHOWN_FINDINGS = 3
SHOWN_CHILDREN = 200


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[IncidentStatus | None, typer.Option(help="Only this status.")] = None,
    severity: Annotated[Severity | None, typer.Option(help="Only this severity.")] = None,
    service: Annotated[str | None, typer.Option(help="Only incidents affecting it.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    output: FormatOption = "table",
) -> None:
    """List incidents, newest first."""
    page: IncidentPage = with_backend(
        ctx,
        lambda backend: backend.incidents(
            status=status, severity=severity, service=service, limit=limit
        ),
    )
    if output == "json":
        print_json(page)
        return
    # On a narrow terminal the services and the count go: the id, status and title stay whole.
    shown = table(
        "id",
        "severity",
        "status",
        "services",
        "seen",
        "last seen",
        "title",
        whole=("severity", "status"),
        optional=("services", "seen"),
    )
    for incident in page.items:
        shown.add_row(
            incident.id,
            incident.severity,
            incident.status,
            Text(",".join(incident.affected_services)),
            str(incident.occurrences),
            when(incident.last_seen),
            Text(incident.title[:60]),
        )
    out_console.print(shown)
    out_console.print(f"{len(page.items)} of {page.total}", highlight=False)


@app.command()
def show(
    ctx: typer.Context,
    incident_id: Annotated[str, typer.Argument(help="INC-YYYYMMDD-NNNN")],
    output: FormatOption = "table",
) -> None:
    """Show one incident with its symptoms and timeline."""
    view: IncidentDetail = with_backend(ctx, lambda backend: backend.incident(incident_id))
    if output == "json":
        print_json(view)
        return
    out_console.print(Text.assemble((view.id, "bold"), " ", view.title))
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
        out_console.print(Text(f"  {label:18} {value}"))
    timeline = table("at", "actor", "event", "status", "detail", ids=("at",), title="timeline")
    for event in view.timeline:
        change = f"{event.from_status or ''} -> {event.to_status}" if event.to_status else ""
        timeline.add_row(
            when(event.at, "%Y-%m-%d %H:%M:%S"),
            Text(event.actor),
            Text(event.event),
            change,
            Text(", ".join(f"{k}={v}" for k, v in event.detail.items())),
        )
    out_console.print(timeline)
    if view.children_total:
        _print_children(view.children[:SHOWN_CHILDREN], view.children_total, view.id)
    if view.diagnosis is not None:
        _print_diagnosis(view.diagnosis)


def _print_children(children: list[ChildOut], total: int, storm: str) -> None:
    """A storm's children: each still an incident of its own."""
    shown = table("id", "severity", "status", "title", title=f"children ({total})")
    for child in children:
        shown.add_row(child.id, child.severity, child.status, Text(child.title[:60]))
    out_console.print(shown)
    if total > len(children):
        out_console.print(
            f"{total - len(children)} more: GET /api/v1/incidents?parent={storm}",
            highlight=False,
        )


def _print_diagnosis(diagnosis: DiagnosisOut) -> None:
    """The latest diagnosis: who made it, the target, the findings with the evidence they cite."""
    target = diagnosis.target
    where = f"{target.namespace}/" if target.namespace else ""
    found = "" if target.resolved else " (from the alert's labels)"
    head = f"diagnosis #{diagnosis.id} by {diagnosis.by}"
    if diagnosis.provider:
        head += f" ({diagnosis.provider})"
    out_console.print(Text(head, style="bold"))
    for label, value in (
        ("target", f"{target.kind} {where}{target.name}{found}"),
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

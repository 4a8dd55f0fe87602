"""Alert ingestion and incident endpoints (thin: parse, call the service, shape the answer)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from awoooi.api.deps import Ingest, OperatorCaller, RuntimeDep, SessionDep, Viewer
from awoooi.api.routing import AuthBeforeBodyRoute
from awoooi.core.audit import Caller
from awoooi.core.errors import InvalidInputError, NotFoundError
from awoooi.core.inputs import Text, UtcTime
from awoooi.core.logging import get_logger
from awoooi.diagnosis.incidents import latest_diagnosis
from awoooi.diagnosis.schemas import DiagnosisOut
from awoooi.incidents import repository, service
from awoooi.incidents.alerts import Alert, from_alertmanager, from_generic
from awoooi.incidents.models import Incident, IncidentStatus, Severity
from awoooi.incidents.schemas import (
    AlertmanagerWebhook,
    ChildOut,
    GenericAlertBatch,
    IncidentDetail,
    IncidentOut,
    IncidentPage,
    IngestResult,
    RejectedAlert,
    StatusChange,
    TimelineEntry,
)
from awoooi.runtime import Runtime

log = get_logger(__name__)
router = APIRouter(prefix="/api/v1", route_class=AuthBeforeBodyRoute)

HumanId = Annotated[str, Query(max_length=32)]
# Children a storm's detail lists; `GET /incidents?parent=ID` pages through all of them.
SHOWN_CHILDREN = 500


async def parents_of(session: SessionDep, incidents: list[Incident]) -> dict[int, str]:
    """The human ids of these incidents' storms, by storm database id."""
    ids = [item.parent_id for item in incidents if item.parent_id is not None]
    return await repository.human_ids(session, ids)


def incident_out(incident: Incident, *, parent: str | None = None) -> IncidentOut:
    """The API view of an incident (its alerts must be loaded; `parent`: its storm's id)."""
    return IncidentOut(
        id=incident.human_id,
        kind=incident.kind.value,
        parent=parent,
        title=incident.title,
        severity=incident.severity,
        status=incident.status,
        affected_services=incident.affected_services,
        namespace=incident.namespace,
        labels=incident.labels,
        annotations=incident.annotations,
        symptoms=incident.symptoms,
        symptoms_hash=incident.symptoms_hash,
        source=incident.source,
        fingerprints=[alert.fingerprint for alert in incident.alerts],
        occurrences=incident.occurrences,
        first_seen=incident.first_seen,
        last_seen=incident.last_seen,
        resolved_at=incident.resolved_at,
        created_at=incident.created_at,
        updated_at=incident.updated_at,
    )


async def _ingest(
    runtime: Runtime,
    session: SessionDep,
    alerts: list[Alert],
    rejected: list[RejectedAlert],
    actor: str,
) -> IngestResult:
    limit = runtime.settings.incidents.max_alerts_per_request
    sent = len(alerts) + len(rejected)
    if sent > limit:
        raise InvalidInputError(f"{sent} alerts in one request; the limit is {limit}")
    for alert in rejected:
        log.warning(
            "alert rejected",
            index=alert.index,
            fingerprint=alert.fingerprint,
            reason=alert.reason,
            sender=actor,
        )
    with runtime.foreground.serving():
        outcome = await runtime.incident_ingestor.ingest(session, alerts, actor=actor)
    return IngestResult(
        incidents=outcome.incidents,
        alerts=outcome.alerts,
        opened=outcome.opened,
        deduplicated=outcome.deduplicated,
        resolved=outcome.resolved,
        ignored=outcome.ignored,
        rejected=rejected,
    )


@router.post(
    "/alerts/alertmanager",
    response_model=IngestResult,
    status_code=status.HTTP_202_ACCEPTED,
    tags=["alerts"],
)
async def post_alertmanager(
    payload: AlertmanagerWebhook, session: SessionDep, runtime: RuntimeDep, principal: Ingest
) -> IngestResult:
    """Ingest an Alertmanager webhook (version 4): open, group, deduplicate or resolve."""
    alerts = from_alertmanager(payload)
    return await _ingest(runtime, session, alerts, payload.rejected, principal.name)


@router.post(
    "/alerts", response_model=IngestResult, status_code=status.HTTP_202_ACCEPTED, tags=["alerts"]
)
async def post_generic(
    payload: GenericAlertBatch, session: SessionDep, runtime: RuntimeDep, principal: Ingest
) -> IngestResult:
    """Ingest generic alerts ({"alerts": [{"name", "status", "severity", "labels", ...}]})."""
    alerts = from_generic(payload)
    return await _ingest(runtime, session, alerts, payload.rejected, principal.name)


@router.get("/incidents", response_model=IncidentPage, tags=["incidents"])
async def list_incidents(
    session: SessionDep,
    _principal: Viewer,
    status: IncidentStatus | None = None,
    severity: Severity | None = None,
    service: Annotated[Text | None, Query(max_length=253)] = None,
    since: UtcTime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    storm: Annotated[bool | None, Query(description="Only storms (true) or no storms.")] = None,
    parent: Annotated[str | None, Query(max_length=32, description="A storm's children.")] = None,
) -> IncidentPage:
    """Incidents, newest first, filtered by status, severity, service, last-seen time, kind
    (`storm`) and storm (`parent`)."""
    parent_id = None
    if parent is not None:
        found = await repository.get_by_human_id(session, parent)
        if found is None:
            raise NotFoundError(f"no incident {parent}")
        parent_id = found.id
    items, total = await repository.search(
        session,
        status=status.value if status else None,
        severity=severity.value if severity else None,
        service=service,
        since=since,
        limit=limit,
        offset=offset,
        storm=storm,
        parent_id=parent_id,
    )
    parents = await parents_of(session, items)
    return IncidentPage(
        items=[incident_out(item, parent=parents.get(item.parent_id or 0)) for item in items],
        total=total,
        limit=limit,
        offset=offset,
    )


async def incident_detail(session: SessionDep, incident_id: str) -> IncidentDetail:
    """The API view of one incident with its timeline, diagnosis and storm children."""
    incident = await repository.get_by_human_id(session, incident_id, with_timeline=True)
    if incident is None:
        raise NotFoundError(f"no incident {incident_id}")
    timeline = [
        TimelineEntry(
            at=event.at,
            actor=event.actor,
            event=event.event,
            from_status=event.from_status,
            to_status=event.to_status,
            detail=event.detail,
        )
        for event in incident.events
    ]
    record = await latest_diagnosis(session, incident.id)
    diagnosis = DiagnosisOut.of(record) if record is not None else None
    parent = (await parents_of(session, [incident])).get(incident.parent_id or 0)
    children = await repository.children_of(session, incident.id, limit=SHOWN_CHILDREN)
    return IncidentDetail(
        **incident_out(incident, parent=parent).model_dump(),
        timeline=timeline,
        diagnosis=diagnosis,
        children=[
            ChildOut(id=c.human_id, title=c.title, severity=c.severity, status=c.status)
            for c in children
        ],
        children_total=await repository.count_children(session, incident.id),
    )


@router.get("/incidents/{incident_id}", response_model=IncidentDetail, tags=["incidents"])
async def get_incident(incident_id: str, session: SessionDep, _principal: Viewer) -> IncidentDetail:
    """One incident with its timeline."""
    return await incident_detail(session, incident_id)


async def _change(
    incident_id: str,
    to: IncidentStatus,
    body: StatusChange | None,
    session: SessionDep,
    caller: Caller,
) -> IncidentOut:
    reason = body.reason if body else None
    await service.set_status(session, incident_id, to, caller=caller, reason=reason)
    refreshed = await repository.get_by_human_id(session, incident_id)
    assert refreshed is not None
    parent = (await parents_of(session, [refreshed])).get(refreshed.parent_id or 0)
    return incident_out(refreshed, parent=parent)


@router.post("/incidents/{incident_id}/resolve", response_model=IncidentOut, tags=["incidents"])
async def resolve_incident(
    incident_id: str,
    session: SessionDep,
    caller: OperatorCaller,
    body: StatusChange | None = None,
) -> IncidentOut:
    """Mark an incident resolved by hand."""
    return await _change(incident_id, IncidentStatus.RESOLVED, body, session, caller)


@router.post("/incidents/{incident_id}/escalate", response_model=IncidentOut, tags=["incidents"])
async def escalate_incident(
    incident_id: str,
    session: SessionDep,
    caller: OperatorCaller,
    body: StatusChange | None = None,
) -> IncidentOut:
    """Hand an incident to humans: no automatic repair will touch it."""
    return await _change(incident_id, IncidentStatus.ESCALATED, body, session, caller)

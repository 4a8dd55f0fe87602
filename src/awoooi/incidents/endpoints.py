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
from awoooi.incidents import repository, service
from awoooi.incidents.alerts import Alert, from_alertmanager, from_generic
from awoooi.incidents.models import IncidentStatus, Severity
from awoooi.incidents.schemas import (
    AlertmanagerWebhook,
    GenericAlertBatch,
    IncidentDetail,
    IncidentOut,
    IncidentPage,
    IngestResult,
    RejectedAlert,
    StatusChange,
)
from awoooi.incidents.views import incident_detail, incident_out, parents_of
from awoooi.runtime import Runtime

log = get_logger(__name__)
router = APIRouter(prefix="/api/v1", route_class=AuthBeforeBodyRoute)

HumanId = Annotated[str, Query(max_length=32)]


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

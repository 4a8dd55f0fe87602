"""Incidents: the list with filters and auto-refresh, and one incident with its timeline,
diagnosis, repairs and related knowledge; resolve, escalate and repair act on it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from awoooi.console.deps import OperatorCaller, RuntimeDep, SessionDep, User
from awoooi.console.forms import choice, text_filter
from awoooi.console.routing import ConsoleRoute
from awoooi.console.templates import render
from awoooi.core.errors import NotFoundError
from awoooi.core.inputs import Text
from awoooi.diagnosis.incidents import latest_diagnosis
from awoooi.diagnosis.models import DiagnosisRecord
from awoooi.incidents import repository, service
from awoooi.incidents.models import Incident, IncidentStatus, Severity
from awoooi.knowledge.models import KnowledgeEntry
from awoooi.knowledge.service import published_for_symptoms
from awoooi.repair import repository as repairs
from awoooi.repair.models import Repair, RepairStep

router = APIRouter(prefix="/ui", route_class=ConsoleRoute, include_in_schema=False)

PAGE_SIZE = 50
SHOWN_CHILDREN = 100
SHOWN_REPAIRS = 20
IncidentId = Annotated[str, Path(max_length=32)]
NOTICES = {
    "resolved": "The incident is resolved.",
    "escalated": "The incident is escalated: no automatic repair will touch it.",
    "repair": "A repair was decided; its outcome is below.",
}


@router.get("/")
async def home() -> Response:
    """The console opens on the incident list."""
    return RedirectResponse("/ui/incidents", status_code=303)


@router.get("/incidents")
async def incident_list(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    user: User,
    status: Annotated[str | None, Query(max_length=32)] = None,
    severity: Annotated[str | None, Query(max_length=32)] = None,
    namespace: Annotated[str | None, Query(max_length=253)] = None,
    service: Annotated[str | None, Query(max_length=253)] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    """Incidents, newest first, filtered by status, severity, namespace and service."""
    filters = {
        "status": choice(IncidentStatus, status, "status"),
        "severity": choice(Severity, severity, "severity"),
        "namespace": text_filter(namespace),
        "service": text_filter(service),
    }
    items, total = await repository.search(
        session,
        status=filters["status"],
        severity=filters["severity"],
        namespace=filters["namespace"],
        service=filters["service"],
        since=None,
        limit=PAGE_SIZE,
        offset=offset,
    )
    shown = {key: str(value) for key, value in filters.items() if value is not None}
    return render(
        request,
        "incidents.html",
        {
            "active": "incidents",
            "incidents": items,
            "total": total,
            "offset": offset,
            "page_size": PAGE_SIZE,
            "filters": shown,
            "filtered": bool(shown),
            "statuses": list(IncidentStatus),
            "severities": list(Severity),
            "page_query": lambda at: urlencode({**shown, "offset": at}),
            "refresh": runtime.settings.console.refresh_seconds,
        },
    )


@dataclass(frozen=True)
class IncidentPage:
    """Everything the incident page shows."""

    incident: Incident
    parent: str | None
    children: list[Incident]
    children_total: int
    diagnosis: DiagnosisRecord | None
    repairs: list[tuple[Repair, list[RepairStep]]]
    knowledge: list[KnowledgeEntry]


async def load_incident(session: SessionDep, human_id: str) -> IncidentPage:
    """The incident with its timeline, storm, diagnosis, repairs and related knowledge."""
    incident = await repository.get_by_human_id(session, human_id, with_timeline=True)
    if incident is None:
        raise NotFoundError(f"no incident {human_id}")
    parent = None
    if incident.parent_id is not None:
        parent = (await repository.human_ids(session, [incident.parent_id])).get(incident.parent_id)
    found, _total = await repairs.list_repairs(
        session, incident_id=incident.id, limit=SHOWN_REPAIRS
    )
    return IncidentPage(
        incident=incident,
        parent=parent,
        children=await repository.children_of(session, incident.id, limit=SHOWN_CHILDREN),
        children_total=await repository.count_children(session, incident.id),
        diagnosis=await latest_diagnosis(session, incident.id),
        repairs=[(repair, await repairs.steps_of(session, repair.id)) for repair in found],
        knowledge=await published_for_symptoms(session, incident.symptoms_hash),
    )


@router.get("/incidents/{incident_id}")
async def incident_detail(
    request: Request,
    incident_id: IncidentId,
    session: SessionDep,
    runtime: RuntimeDep,
    user: User,
    notice: str | None = None,
) -> Response:
    """One incident: facts, actions, diagnosis with evidence, repairs, timeline, knowledge."""
    page = await load_incident(session, incident_id)
    return render(
        request,
        "incident.html",
        {
            "active": "incidents",
            "page": page,
            "incident": page.incident,
            "notice": NOTICES.get(notice or ""),
            "can_resolve": page.incident.status is not IncidentStatus.RESOLVED,
            "can_escalate": page.incident.status
            not in (IncidentStatus.RESOLVED, IncidentStatus.ESCALATED),
            "refresh": runtime.settings.console.refresh_seconds,
        },
    )


def _back(incident_id: str, notice: str) -> Response:
    return RedirectResponse(
        f"/ui/incidents/{incident_id}?{urlencode({'notice': notice})}", status_code=303
    )


Reason = Annotated[Text, Form(max_length=2000)]


@router.post("/incidents/{incident_id}/resolve")
async def resolve(
    incident_id: IncidentId, session: SessionDep, caller: OperatorCaller, reason: Reason = ""
) -> Response:
    """Resolve the incident by hand (the service the API calls, audited the same way)."""
    await service.set_status(
        session, incident_id, IncidentStatus.RESOLVED, caller=caller, reason=reason.strip() or None
    )
    return _back(incident_id, "resolved")


@router.post("/incidents/{incident_id}/escalate")
async def escalate(
    incident_id: IncidentId, session: SessionDep, caller: OperatorCaller, reason: Reason = ""
) -> Response:
    """Hand the incident to humans: no automatic repair will touch it."""
    await service.set_status(
        session,
        incident_id,
        IncidentStatus.ESCALATED,
        caller=caller,
        reason=reason.strip() or None,
    )
    return _back(incident_id, "escalated")


@router.post("/incidents/{incident_id}/repair")
async def repair(
    incident_id: IncidentId, session: SessionDep, runtime: RuntimeDep, caller: OperatorCaller
) -> Response:
    """Decide a repair now; when the gates allow it a worker runs it."""
    incident = await service.find_incident(session, incident_id)
    if incident is None:
        raise NotFoundError(f"no incident {incident_id}")
    await runtime.repairs.decide_and_record(session, incident, caller=caller)
    return _back(incident_id, "repair")

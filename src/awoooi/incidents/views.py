"""The API's views of incidents, shared by the endpoints and the CLI (no FastAPI, no runtime)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from awoooi.core.errors import NotFoundError

# The diagnosis repository, not diagnosis.incidents (the same query behind the model router
# and its HTTP clients): the CLI's reads import this module.
from awoooi.diagnosis import repository as diagnoses
from awoooi.diagnosis.schemas import DiagnosisOut
from awoooi.incidents import repository
from awoooi.incidents.schemas import ChildOut, IncidentDetail, IncidentOut, TimelineEntry

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from awoooi.incidents.models import Incident

# Children a storm's detail lists; `GET /incidents?parent=ID` pages through all of them.
SHOWN_CHILDREN = 500


async def parents_of(session: AsyncSession, incidents: list[Incident]) -> dict[int, str]:
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


async def incident_detail(session: AsyncSession, incident_id: str) -> IncidentDetail:
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
    record = await diagnoses.latest_for(session, incident.id)
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

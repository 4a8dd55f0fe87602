"""What retention deletes with a pruned incident: its finished repairs and their steps; and
which rows a repair still in flight keeps."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.repair import repository
from awoooi.repair.models import FINISHED_STATUSES


async def repairs_of(session: AsyncSession, incident_ids: list[int]) -> dict[int, int]:
    """The repairs of these incidents: repair id -> incident id."""
    rows = await repository.ids_by_incident(session, incident_ids) if incident_ids else []
    return {repair_id: incident_id for repair_id, incident_id, _status in rows}


async def incidents_with_unfinished_repairs(
    session: AsyncSession, incident_ids: list[int]
) -> set[int]:
    """Which of these incidents have a repair that is not finished (waiting for approval,
    queued or running): they are kept."""
    rows = await repository.ids_by_incident(session, incident_ids) if incident_ids else []
    return {incident_id for _id, incident_id, status in rows if status not in FINISHED_STATUSES}


async def on_active_incidents(session: AsyncSession, repair_ids: set[int]) -> set[int]:
    """Which of these repairs belong to an incident that is not resolved."""
    if not repair_ids:
        return set()
    return await repository.on_active_incidents(session, sorted(repair_ids))


async def remove_of_incidents(
    session: AsyncSession, incident_ids: list[int], *, dry_run: bool
) -> dict[str, int]:
    """Delete the finished repairs of these incidents and their steps (on a dry run only count
    them); rows per table."""
    if not incident_ids:
        return {"repair_steps": 0, "repairs": 0}
    if dry_run:
        return await repository.count_finished_of(session, incident_ids)
    return await repository.delete_finished_of(session, incident_ids)

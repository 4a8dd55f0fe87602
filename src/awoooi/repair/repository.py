"""Queries over repairs. The gate queries are built once: they run on every decision."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from awoooi.incidents.models import ACTIVE_STATUSES, Incident
from awoooi.repair.models import (
    BUSY_STATUSES,
    FINISHED_STATUSES,
    Repair,
    RepairStatus,
    RepairStep,
)

_LAST_FINISHED = select(func.max(Repair.finished_at)).where(
    Repair.target == bindparam("target"), Repair.started_at.is_not(None)
)
_STARTED_SINCE = select(func.count()).where(
    Repair.target == bindparam("target"), Repair.started_at >= bindparam("since")
)
# An interrupted run proved nothing either way, so a human may ask for the fix again.
_ATTEMPTS = select(func.count()).where(
    Repair.incident_id == bindparam("incident_id"),
    Repair.playbook_id == bindparam("playbook_id"),
    Repair.started_at.is_not(None),
    Repair.status != RepairStatus.INTERRUPTED,
)
_BUSY = (
    select(Repair)
    .where(
        Repair.target == bindparam("target"),
        Repair.status.in_(BUSY_STATUSES),
        Repair.id != bindparam("exclude_id"),
    )
    .order_by(Repair.id)
    .limit(1)
)


async def get(session: AsyncSession, repair_id: int, *, with_steps: bool = False) -> Repair | None:
    """A repair by id (with its steps when asked)."""
    query = select(Repair).where(Repair.id == repair_id)
    if with_steps:
        query = query.options(selectinload(Repair.steps))
    return await session.scalar(query)


async def steps_of(session: AsyncSession, repair_id: int) -> list[RepairStep]:
    """A repair's steps in order."""
    query = select(RepairStep).where(RepairStep.repair_id == repair_id)
    return list(await session.scalars(query.order_by(RepairStep.position)))


async def step_at(session: AsyncSession, repair_id: int, position: int) -> RepairStep | None:
    """One step of a repair by its position."""
    query = select(RepairStep).where(
        RepairStep.repair_id == repair_id, RepairStep.position == position
    )
    return await session.scalar(query)


async def count_for_incident(session: AsyncSession, incident_id: int) -> int:
    """How many repairs were decided for an incident."""
    query = select(func.count()).where(Repair.incident_id == incident_id)
    return int(await session.scalar(query) or 0)


async def last_finished_on(session: AsyncSession, target: str) -> datetime | None:
    """When the last repair that ran on this target finished."""
    return await session.scalar(_LAST_FINISHED, {"target": target})


async def started_since(session: AsyncSession, target: str, since: datetime) -> int:
    """How many repairs started on this target since `since`."""
    return int(await session.scalar(_STARTED_SINCE, {"target": target, "since": since}) or 0)


async def attempts(session: AsyncSession, incident_id: int, playbook_id: str) -> int:
    """How many times this playbook has run for this incident (interrupted runs aside)."""
    parameters = {"incident_id": incident_id, "playbook_id": playbook_id}
    return int(await session.scalar(_ATTEMPTS, parameters) or 0)


async def busy_with(session: AsyncSession, target: str, *, exclude_id: int = 0) -> Repair | None:
    """A queued or running repair on this target, other than `exclude_id`."""
    return await session.scalar(_BUSY, {"target": target, "exclude_id": exclude_id})


async def running_on(session: AsyncSession, target: str, *, exclude_id: int = 0) -> Repair | None:
    """The running repair on this target, other than `exclude_id`."""
    query = select(Repair).where(
        Repair.target == target,
        Repair.status == RepairStatus.RUNNING,
        Repair.id != exclude_id,
    )
    return await session.scalar(query.limit(1))


async def list_repairs(
    session: AsyncSession,
    *,
    status: RepairStatus | None = None,
    incident_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[Sequence[Repair], int]:
    """A page of repairs, newest first, and how many match."""
    query = select(Repair)
    if status is not None:
        query = query.where(Repair.status == status)
    if incident_id is not None:
        query = query.where(Repair.incident_id == incident_id)
    total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    page = await session.scalars(query.order_by(Repair.id.desc()).limit(limit).offset(offset))
    return page.all(), total


# --------------------------------------------------------------------------- retention


async def ids_by_incident(
    session: AsyncSession, incident_ids: Sequence[int]
) -> Sequence[tuple[int, int, RepairStatus]]:
    """(repair id, incident id, status) of every repair of these incidents."""
    query = select(Repair.id, Repair.incident_id, Repair.status).where(
        Repair.incident_id.in_(incident_ids)
    )
    return [(int(row[0]), int(row[1]), row[2]) for row in await session.execute(query)]


async def on_active_incidents(session: AsyncSession, repair_ids: Sequence[int]) -> set[int]:
    """Which of these repairs belong to an incident that is not resolved."""
    query = (
        select(Repair.id)
        .join(Incident, Incident.id == Repair.incident_id)
        .where(Repair.id.in_(repair_ids), Incident.status.in_(ACTIVE_STATUSES))
    )
    return set(await session.scalars(query))


_OF_INCIDENTS = (
    ("repair_steps", RepairStep, RepairStep.repair_id),
    ("repairs", Repair, Repair.id),
)


def _finished_of(incident_ids: Sequence[int]) -> Select[Any]:
    return select(Repair.id).where(
        Repair.incident_id.in_(incident_ids), Repair.status.in_(FINISHED_STATUSES)
    )


async def count_finished_of(session: AsyncSession, incident_ids: Sequence[int]) -> dict[str, int]:
    """Per table, the finished repairs of these incidents and their steps."""
    finished = _finished_of(incident_ids)
    counts = {}
    for table, _model, column in _OF_INCIDENTS:
        query = select(func.count()).where(column.in_(finished))
        counts[table] = int(await session.scalar(query) or 0)
    return counts


async def delete_finished_of(session: AsyncSession, incident_ids: Sequence[int]) -> dict[str, int]:
    """Delete the finished repairs of these incidents with their steps; per table, how many."""
    finished = _finished_of(incident_ids)
    counts = {}
    for table, model, column in _OF_INCIDENTS:
        result = await session.execute(
            delete(model).where(column.in_(finished)).execution_options(synchronize_session=False)
        )
        counts[table] = int(result.rowcount)  # type: ignore[attr-defined]
    return counts

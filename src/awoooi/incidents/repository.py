"""Queries over incidents; the service decides, this module reads, counts and (for retention)
deletes."""

from __future__ import annotations

import typing
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    String,
    Table,
    bindparam,
    cast,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer, selectinload

from awoooi.incidents.models import (
    ACTIVE_STATUSES,
    AlertStatus,
    Incident,
    IncidentAlert,
    IncidentDayCounter,
    IncidentEvent,
    IncidentKind,
    IncidentStatus,
)
from awoooi.incidents.places import StormScope

T = TypeVar("T", str, int)


# Bound parameters per IN list: far below SQLite's and asyncpg's limits (32,766 / 32,767).
IN_CHUNK = 1000


def _chunks(values: Iterable[T], size: int = IN_CHUNK) -> Iterator[list[T]]:
    ordered = sorted(set(values))
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


_ALERTS_TABLE = typing.cast(Table, IncidentAlert.__table__)
_EVENTS_TABLE = typing.cast(Table, IncidentEvent.__table__)
_INCIDENTS_TABLE = typing.cast(Table, Incident.__table__)

# Ingestion decides from counts, times and statuses. Decoding every JSON column of each row it
# reads was a third of its CPU on PostgreSQL; these are left unloaded, and touching one raises
# instead of querying (no ingestion decision may come to depend on them unnoticed).
_INGEST_INCIDENT = (
    defer(Incident.labels, raiseload=True),
    defer(Incident.annotations, raiseload=True),
    defer(Incident.symptoms, raiseload=True),
)


async def active_alerts(
    session: AsyncSession, fingerprints: Iterable[str]
) -> dict[str, IncidentAlert]:
    """Per fingerprint, its newest alert on an incident that is not resolved (labels unloaded)."""
    found: dict[str, IncidentAlert] = {}
    for chunk in _chunks(fingerprints):
        query = (
            select(IncidentAlert)
            .options(defer(IncidentAlert.labels, raiseload=True))
            .join(Incident)
            .where(IncidentAlert.fingerprint.in_(chunk), Incident.status.in_(ACTIVE_STATUSES))
            .order_by(IncidentAlert.id.desc())
        )
        for alert in await session.scalars(query):
            found.setdefault(alert.fingerprint, alert)
    return found


async def incidents_by_id(session: AsyncSession, ids: Iterable[int]) -> dict[int, Incident]:
    """The incidents with these ids, as ingestion reads them (labels, annotations and symptoms
    unloaded)."""
    found: dict[int, Incident] = {}
    for chunk in _chunks(ids):
        query = select(Incident).options(*_INGEST_INCIDENT).where(Incident.id.in_(chunk))
        for incident in await session.scalars(query):
            found[incident.id] = incident
    return found


async def lock_for_change(session: AsyncSession, ids: Iterable[int]) -> None:
    """Lock these incidents' rows until the transaction ends and reread them as committed now
    (in id order, so two callers never deadlock): a status change must start from the status
    a job or a person committed meanwhile, not from an earlier read."""
    for chunk in _chunks(ids):
        query = (
            select(Incident)
            .options(*_INGEST_INCIDENT)
            .where(Incident.id.in_(chunk))
            .order_by(Incident.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        await session.scalars(query)


async def groupable_incidents(
    session: AsyncSession, symptoms_hashes: Iterable[str], seen_since: datetime
) -> dict[str, list[Incident]]:
    """Per symptoms hash, the unresolved incidents with it seen since `seen_since`, newest
    first (labels, annotations and symptoms unloaded)."""
    found: dict[str, list[Incident]] = {}
    for chunk in _chunks(symptoms_hashes):
        query = (
            select(Incident)
            .options(*_INGEST_INCIDENT)
            .where(
                Incident.symptoms_hash.in_(chunk),
                Incident.status.in_(ACTIVE_STATUSES),
                Incident.last_seen >= seen_since,
            )
            .order_by(Incident.last_seen.desc(), Incident.id.desc())
        )
        for incident in await session.scalars(query):
            found.setdefault(incident.symptoms_hash, []).append(incident)
    return found


async def alerts_of_incidents(
    session: AsyncSession, incident_ids: Iterable[int]
) -> dict[int, list[IncidentAlert]]:
    """Every alert attached to each of these incidents."""
    found: dict[int, list[IncidentAlert]] = {}
    for chunk in _chunks(incident_ids):
        query = select(IncidentAlert).where(IncidentAlert.incident_id.in_(chunk))
        for alert in await session.scalars(query):
            found.setdefault(alert.incident_id, []).append(alert)
    return found


async def insert_alerts(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Store new alert rows in one statement (their ids are not needed back)."""
    if rows:
        # The table, not the mapped class: the ORM's bulk path re-processes every row dict.
        await session.execute(insert(_ALERTS_TABLE), rows)


async def update_counters(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Write new column values of stored incidents (each row: `id` and the columns), one
    statement for all of them."""
    if not rows:
        return
    table = _INCIDENTS_TABLE
    # Bound names must differ from the columns they set (SQLAlchemy reserves those).
    columns = [name for name in rows[0] if name != "id"]
    statement = (
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values({name: bindparam(f"new_{name}") for name in columns})
    )
    await session.execute(
        statement,
        [{"row_id": row["id"], **{f"new_{name}": row[name] for name in columns}} for row in rows],
    )


async def insert_events(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Store new timeline entries in one statement."""
    if rows:
        await session.execute(insert(_EVENTS_TABLE), rows)


async def get_by_id(session: AsyncSession, incident_id: int) -> Incident | None:
    """An incident by its database id."""
    return await session.get(Incident, incident_id)


async def get_by_id_with_timeline(session: AsyncSession, incident_id: int) -> Incident | None:
    """An incident by database id with its alerts and timeline loaded."""
    query = (
        select(Incident)
        .where(Incident.id == incident_id)
        .options(selectinload(Incident.alerts), selectinload(Incident.events))
    )
    return await session.scalar(query)


async def get_by_human_id(
    session: AsyncSession, human_id: str, *, with_timeline: bool = False
) -> Incident | None:
    """An incident by its human id, with its alerts (and timeline when asked)."""
    options = [selectinload(Incident.alerts)]
    if with_timeline:
        options.append(selectinload(Incident.events))
    query = select(Incident).where(Incident.human_id == human_id).options(*options)
    return await session.scalar(query)


async def alerts_of(session: AsyncSession, incident_id: int) -> Sequence[IncidentAlert]:
    """Every alert attached to an incident."""
    query = select(IncidentAlert).where(IncidentAlert.incident_id == incident_id)
    return (await session.scalars(query)).all()


async def take_day_numbers(session: AsyncSession, day: str, count: int) -> int:
    """Atomically take the next `count` incident numbers of a day (YYYYMMDD); the first."""
    dialect = session.get_bind().dialect.name
    upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        upsert(IncidentDayCounter)
        .values(day=day, last_number=count)
        .on_conflict_do_update(
            index_elements=[IncidentDayCounter.day],
            set_={"last_number": IncidentDayCounter.last_number + count},
        )
        .returning(IncidentDayCounter.last_number)
    )
    return int(await session.scalar(statement) or 0) - count + 1


async def search(
    session: AsyncSession,
    *,
    status: str | None,
    severity: str | None,
    service: str | None,
    since: datetime | None,
    limit: int,
    offset: int,
    storm: bool | None = None,
    parent_id: int | None = None,
    namespace: str | None = None,
) -> tuple[list[Incident], int]:
    """A page of incidents, newest first, and the total matching count (`storm`: only storms,
    or only the rest; `parent_id`: only that storm's children; `namespace`: only that one)."""
    query = select(Incident)
    if storm is not None:
        query = query.where(
            Incident.kind == IncidentKind.STORM if storm else Incident.kind != IncidentKind.STORM
        )
    if parent_id is not None:
        query = query.where(Incident.parent_id == parent_id)
    if status is not None:
        query = query.where(Incident.status == status)
    if severity is not None:
        query = query.where(Incident.severity == severity)
    if namespace is not None:
        query = query.where(Incident.namespace == namespace)
    if since is not None:
        query = query.where(Incident.last_seen >= since)
    if service is not None:
        # Services are stored as a JSON list; matching its quoted element text works on both
        # databases without a JSON-path dialect split, and quotes stop prefix matches.
        needle = '"' + service.replace("\\", "\\\\").replace('"', '\\"') + '"'
        query = query.where(cast(Incident.affected_services, String).contains(needle))
    total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    page = query.options(selectinload(Incident.alerts))
    page = page.order_by(Incident.created_at.desc(), Incident.id.desc()).limit(limit).offset(offset)
    return list(await session.scalars(page)), total


async def firing_count(session: AsyncSession, incident_id: int) -> int:
    """How many of the incident's alerts are still firing."""
    query = select(func.count()).where(
        IncidentAlert.incident_id == incident_id,
        IncidentAlert.status == AlertStatus.FIRING,
    )
    return int(await session.scalar(query) or 0)


async def resolved_with_symptoms(
    session: AsyncSession, symptoms_hash: str, *, exclude_id: int, limit: int
) -> list[Incident]:
    """Resolved incidents with these symptoms, newest first, with their timelines."""
    query = (
        select(Incident)
        .where(
            Incident.symptoms_hash == symptoms_hash,
            Incident.status == IncidentStatus.RESOLVED,
            Incident.id != exclude_id,
        )
        .order_by(Incident.last_seen.desc(), Incident.id.desc())
        .limit(limit)
        .options(selectinload(Incident.events))
    )
    return list(await session.scalars(query))


async def resolved_ids_before(
    session: AsyncSession, *, resolved_before: datetime, after_id: int, limit: int
) -> list[int]:
    """Ids of incidents resolved before a time, above `after_id`, in id order."""
    query = (
        select(Incident.id)
        .where(
            Incident.status == IncidentStatus.RESOLVED,
            Incident.resolved_at < resolved_before,
            Incident.id > after_id,
        )
        .order_by(Incident.id)
        .limit(limit)
    )
    return list(await session.scalars(query))


# ---------------------------------------------------------------- storms


def _in_place(scope: StormScope, value: str) -> ColumnElement[bool]:
    # A namespace storm has no node and a node storm no namespace, so the column tells them apart.
    if scope is StormScope.NAMESPACE:
        return Incident.namespace == value
    return Incident.node == value


async def active_storm(
    session: AsyncSession, scope: StormScope, value: str, seen_since: datetime
) -> Incident | None:
    """The unresolved storm of this namespace or node that gained a child since `seen_since`."""
    query = (
        select(Incident)
        .where(
            Incident.kind == IncidentKind.STORM,
            _in_place(scope, value),
            Incident.status.in_(ACTIVE_STATUSES),
            Incident.last_seen >= seen_since,
        )
        .order_by(Incident.id.desc())
        .limit(1)
    )
    return await session.scalar(query)


async def count_new_in_place(
    session: AsyncSession, scope: StormScope, value: str, since: datetime
) -> int:
    """How many incidents of this namespace or node opened since `since` belong to no storm."""
    query = select(func.count(Incident.id)).where(
        Incident.kind == IncidentKind.INCIDENT,
        Incident.parent_id.is_(None),
        _in_place(scope, value),
        Incident.created_at >= since,
    )
    return int(await session.scalar(query) or 0)


async def new_in_place(
    session: AsyncSession, scope: StormScope, value: str, since: datetime
) -> list[Incident]:
    """The incidents of this namespace or node opened since `since` that belong to no storm."""
    query = (
        select(Incident)
        .where(
            Incident.kind == IncidentKind.INCIDENT,
            Incident.parent_id.is_(None),
            _in_place(scope, value),
            Incident.created_at >= since,
        )
        .order_by(Incident.id)
    )
    return list(await session.scalars(query))


# The incident's own rows, children first; each (table, model, its incident id column).
_ROWS = (
    ("incident_alerts", IncidentAlert, IncidentAlert.incident_id),
    ("incident_events", IncidentEvent, IncidentEvent.incident_id),
    ("incidents", Incident, Incident.id),
)


async def count_rows_of(session: AsyncSession, ids: Sequence[int]) -> dict[str, int]:
    """Per table, the rows of these incidents (alerts, timeline, the incidents)."""
    counts = {}
    for table, _model, column in _ROWS:
        counts[table] = int(await session.scalar(select(func.count()).where(column.in_(ids))) or 0)
    return counts


async def delete_resolved(session: AsyncSession, ids: Sequence[int]) -> dict[str, int]:
    """Delete these incidents (only resolved ones) with their alerts and timeline; per table,
    the rows deleted."""
    resolved = select(Incident.id).where(
        Incident.id.in_(ids), Incident.status == IncidentStatus.RESOLVED
    )
    counts = {}
    for table, model, column in _ROWS:
        result = await session.execute(
            delete(model).where(column.in_(resolved)).execution_options(synchronize_session=False)
        )
        counts[table] = int(result.rowcount)  # type: ignore[attr-defined]
    return counts


async def children_of(session: AsyncSession, parent_id: int, *, limit: int) -> list[Incident]:
    """A storm's children, oldest first (at most `limit`)."""
    query = (
        select(Incident).where(Incident.parent_id == parent_id).order_by(Incident.id).limit(limit)
    )
    return list(await session.scalars(query))


async def count_children(
    session: AsyncSession, parent_id: int, *, unresolved_only: bool = False
) -> int:
    """How many children a storm has (only those not resolved, when asked)."""
    query = select(func.count(Incident.id)).where(Incident.parent_id == parent_id)
    if unresolved_only:
        query = query.where(Incident.status != IncidentStatus.RESOLVED)
    return int(await session.scalar(query) or 0)


async def human_ids(session: AsyncSession, ids: Sequence[int]) -> dict[int, str]:
    """The human ids of these incidents, by database id."""
    if not ids:
        return {}
    query = select(Incident.id, Incident.human_id).where(Incident.id.in_(set(ids)))
    return {row.id: row.human_id for row in await session.execute(query)}

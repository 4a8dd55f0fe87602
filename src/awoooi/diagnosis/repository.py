"""Queries over stored diagnoses."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.diagnosis.models import DiagnosisRecord


async def latest_for(session: AsyncSession, incident_id: int) -> DiagnosisRecord | None:
    """The incident's newest diagnosis."""
    query = (
        select(DiagnosisRecord)
        .where(DiagnosisRecord.incident_id == incident_id)
        .order_by(DiagnosisRecord.id.desc())
        .limit(1)
    )
    return await session.scalar(query)


async def count_for(session: AsyncSession, incident_id: int) -> int:
    """How many diagnoses the incident has."""
    query = select(func.count()).where(DiagnosisRecord.incident_id == incident_id)
    return int(await session.scalar(query) or 0)


async def count_of_incidents(session: AsyncSession, incident_ids: Sequence[int]) -> int:
    """How many diagnoses these incidents have."""
    query = select(func.count()).where(DiagnosisRecord.incident_id.in_(incident_ids))
    return int(await session.scalar(query) or 0)


async def delete_of_incidents(session: AsyncSession, incident_ids: Sequence[int]) -> int:
    """Delete the diagnoses of these incidents; how many went."""
    result = await session.execute(
        delete(DiagnosisRecord)
        .where(DiagnosisRecord.incident_id.in_(incident_ids))
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]

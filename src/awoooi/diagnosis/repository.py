"""Queries over stored diagnoses."""

from __future__ import annotations

from sqlalchemy import func, select
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

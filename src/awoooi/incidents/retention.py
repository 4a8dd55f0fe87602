"""What retention may delete of incidents: resolved ones, long enough ago, with their alerts and
timeline. An incident that is not resolved is never a candidate."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.incidents import repository


async def resolved_before(
    session: AsyncSession, *, before: datetime, after_id: int, limit: int
) -> list[int]:
    """Ids of incidents resolved before `before`, above `after_id`, in id order."""
    return await repository.resolved_ids_before(
        session, resolved_before=before, after_id=after_id, limit=limit
    )


async def remove(session: AsyncSession, ids: list[int], *, dry_run: bool) -> dict[str, int]:
    """Delete these resolved incidents with their alerts and timeline (on a dry run only count
    them); rows per table. Other domains' rows of them go first (see awoooi.retention)."""
    if not ids:
        return {}
    if dry_run:
        return await repository.count_rows_of(session, ids)
    return await repository.delete_resolved(session, ids)

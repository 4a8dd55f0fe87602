"""What retention may delete of drift reports: finished scans (not queued) started long enough
ago, with their items; the newest finished report of each source, and its newest one that is not
a failure, are never deleted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.drift import repository


async def finished_before(
    session: AsyncSession, *, before: datetime, after_id: int, limit: int
) -> list[int]:
    """Ids of finished reports whose scan started before `before`, above `after_id`, in id
    order."""
    return await repository.finished_report_ids_before(
        session, started_before=before, after_id=after_id, limit=limit
    )


async def newest_of_their_sources(session: AsyncSession, ids: list[int]) -> set[int]:
    """Those of these reports that are the newest finished one, or the newest one not failed,
    of their (desired, live) source pair: kept so `drift reports` always shows every source's
    last known state and its last real result."""
    return await repository.newest_finished_of_sources(session, ids) & set(ids)


async def remove(session: AsyncSession, ids: list[int], *, dry_run: bool) -> dict[str, int]:
    """Delete these finished reports with their items (on a dry run only count them); rows per
    table. Ignore rules made from a deleted item stay, no longer linked to it."""
    if not ids:
        return {}
    if dry_run:
        return await repository.count_reports_of(session, ids)
    return await repository.delete_finished_reports(session, ids)

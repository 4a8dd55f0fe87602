"""What retention may delete of notifications: ones older than `notify.retention_days` that are
no longer pending and have no button that still works, with their button records."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.notify import repository

# Button actions whose target is a repair id ("repair.approve:12").
REPAIR_ACTION_PREFIX = "repair."


async def settled_before(
    session: AsyncSession, *, before: datetime, now: datetime, after_id: int, limit: int
) -> list[int]:
    """Ids of notifications created before `before`, sent or failed, whose buttons are all used
    or expired, above `after_id`, in id order."""
    return await repository.settled_ids_before(
        session, created_before=before, now=now, after_id=after_id, limit=limit
    )


async def repair_buttons(session: AsyncSession, ids: list[int]) -> dict[int, set[int]]:
    """The repairs these notifications' buttons act on: notification id -> repair ids."""
    found: dict[int, set[int]] = {}
    if not ids:
        return found
    for notification_id, target in await repository.action_targets(
        session, ids, prefix=REPAIR_ACTION_PREFIX
    ):
        if target.isdigit():
            found.setdefault(notification_id, set()).add(int(target))
    return found


async def remove(session: AsyncSession, ids: list[int], *, dry_run: bool) -> dict[str, int]:
    """Delete these notifications and their button records (on a dry run only count them);
    rows per table."""
    if not ids:
        return {}
    if dry_run:
        return await repository.count_rows_of(session, ids)
    return await repository.delete_rows_of(session, ids)

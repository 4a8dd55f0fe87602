"""Queries over notifications and their button actions; services decide, this module reads
(and deletes what retention lets go)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.notify.models import Notification, NotificationStatus, NotifyAction


async def get_notification(session: AsyncSession, notification_id: int) -> Notification | None:
    """A notification by its id, if it exists."""
    return await session.get(Notification, notification_id)


async def list_notifications(session: AsyncSession, *, limit: int = 100) -> list[Notification]:
    """Recent notifications, newest first."""
    query = select(Notification).order_by(Notification.id.desc()).limit(limit)
    return list(await session.scalars(query))


async def get_action(session: AsyncSession, action_id: str) -> NotifyAction | None:
    """A button's action record by its opaque id, if it exists."""
    return await session.get(NotifyAction, action_id)


async def unused_sibling_actions(session: AsyncSession, action: NotifyAction) -> list[NotifyAction]:
    """The other action records of the same notification that nobody has used yet."""
    query = select(NotifyAction).where(
        NotifyAction.notification_id == action.notification_id,
        NotifyAction.id != action.id,
        NotifyAction.used_at.is_(None),
    )
    return list(await session.scalars(query))


# --------------------------------------------------------------------------- retention


async def settled_ids_before(
    session: AsyncSession, *, created_before: datetime, now: datetime, after_id: int, limit: int
) -> list[int]:
    """Ids of notifications created before a time, no longer pending and without a button that
    still works (unused, unexpired), above `after_id`, in id order."""
    live_button = (
        select(NotifyAction.id)
        .where(
            NotifyAction.notification_id == Notification.id,
            NotifyAction.used_at.is_(None),
            NotifyAction.expires_at > now,
        )
        .exists()
    )
    query = (
        select(Notification.id)
        .where(
            Notification.created_at < created_before,
            Notification.status != NotificationStatus.PENDING,
            Notification.id > after_id,
            ~live_button,
        )
        .order_by(Notification.id)
        .limit(limit)
    )
    return list(await session.scalars(query))


async def action_targets(
    session: AsyncSession, notification_ids: Sequence[int], *, prefix: str
) -> Sequence[tuple[int, str]]:
    """(notification id, target) of these notifications' buttons whose action starts with
    `prefix` (e.g. `repair.`)."""
    query = select(NotifyAction.notification_id, NotifyAction.target).where(
        NotifyAction.notification_id.in_(notification_ids),
        NotifyAction.action.startswith(prefix, autoescape=True),
    )
    return [(int(row[0]), str(row[1])) for row in await session.execute(query)]


# Children first; each (table, model, its notification id column).
_ROWS = (
    ("notify_actions", NotifyAction, NotifyAction.notification_id),
    ("notifications", Notification, Notification.id),
)


async def count_rows_of(session: AsyncSession, ids: Sequence[int]) -> dict[str, int]:
    """Per table, the rows of these notifications (their buttons, the notifications)."""
    counts = {}
    for table, _model, column in _ROWS:
        counts[table] = int(await session.scalar(select(func.count()).where(column.in_(ids))) or 0)
    return counts


async def delete_rows_of(session: AsyncSession, ids: Sequence[int]) -> dict[str, int]:
    """Delete these notifications and their buttons; per table, how many went."""
    counts = {}
    for table, model, column in _ROWS:
        result = await session.execute(
            delete(model).where(column.in_(ids)).execution_options(synchronize_session=False)
        )
        counts[table] = int(result.rowcount)  # type: ignore[attr-defined]
    return counts

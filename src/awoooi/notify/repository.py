"""Queries over notifications and their button actions; services decide, this module reads."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.notify.models import Notification, NotifyAction


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

"""Server-side action records behind card buttons: what a button does, who may press it, until
when; a button carries only the record's opaque id (Telegram allows 64 bytes of callback data)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatchcase

from sqlalchemy import ForeignKey, Index, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from awoooi.core.db import Base, JSONType, UTCDateTime, utcnow
from awoooi.core.errors import AwoooiError
from awoooi.core.locks import lock_names
from awoooi.notify.base import Severity
from awoooi.notify.settings import NotifySettings

SEVERITY_RANK = {"critical": 4, "high": 3, "medium": 2, "low": 1, "info": 0}
# What a button may do: "<action>:<target id>" as the caller wrote it in Button.action_id.
KNOWN_ACTIONS = ("knowledge.approve", "knowledge.reject", "repair.approve", "repair.reject")


class NotifyAction(Base):
    """One pressable button of one notification."""

    __tablename__ = "notify_actions"
    __table_args__ = (Index("ix_notify_actions_notification", "notification_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(64))
    notification_id: Mapped[int] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE")
    )
    allowed_users: Mapped[list[int]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    used_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    outcome: Mapped[str | None] = mapped_column(Text, nullable=True)


def new_action_id() -> str:
    """An opaque, unguessable id (22 characters)."""
    return secrets.token_urlsafe(16)


def parse_action(action_id: str) -> tuple[str, str]:
    """Split "repair.approve:12" into ("repair.approve", "12"); ValueError when unknown."""
    action, _, target = action_id.partition(":")
    if action not in KNOWN_ACTIONS or not target or len(target) > 64:
        raise ValueError(f"unknown button action {action_id!r}")
    return action, target


@dataclass
class NotifyPolicy:
    """Which channels a notification goes to, and how its buttons are made."""

    settings: NotifySettings = field(default_factory=NotifySettings)
    public_url: str = "http://127.0.0.1:8080"

    def select(self, kind: str, severity: Severity) -> list[str]:
        """The channels for a notification: every matching route's, else the defaults."""
        rank = SEVERITY_RANK[severity.value]
        chosen: list[str] = []
        for route in self.settings.routes:
            if rank < SEVERITY_RANK[route.min_severity]:
                continue
            if any(fnmatchcase(kind, pattern) for pattern in route.kinds):
                chosen.extend(route.channels)
        return list(dict.fromkeys(chosen or self.settings.channels))

    @property
    def action_ttl(self) -> timedelta:
        """How long a button works."""
        return timedelta(hours=self.settings.action_ttl_hours)

    @property
    def approvers(self) -> list[int]:
        """Telegram user ids allowed to press action buttons."""
        return list(self.settings.telegram.approvers)

    def link_for(self, action: str, target: str) -> str:
        """Where a channel that cannot press buttons links instead."""
        base = self.public_url.rstrip("/")
        resource = "knowledge" if action.startswith("knowledge.") else "repairs"
        return f"{base}/api/v1/{resource}/{target}"


ChannelChoice = Sequence[str] | NotifyPolicy


async def create_action(
    session: AsyncSession,
    *,
    action_id: str,
    notification_id: int,
    policy: NotifyPolicy,
) -> NotifyAction:
    """Record one button's action; its opaque id goes into the button."""
    action, target = parse_action(action_id)
    record = NotifyAction(
        id=new_action_id(),
        action=action,
        target=target,
        notification_id=notification_id,
        allowed_users=policy.approvers,
        created_at=utcnow(),
        expires_at=utcnow() + policy.action_ttl,
    )
    session.add(record)
    return record


ActionHandler = Callable[[AsyncSession, str, str], Awaitable[str]]


@dataclass
class ActionRegistry:
    """What each action does: (session, target, actor) -> a one-line outcome."""

    handlers: dict[str, ActionHandler] = field(default_factory=dict)

    def register(self, action: str, handler: ActionHandler) -> None:
        """Bind an action name to its handler."""
        self.handlers[action] = handler


@dataclass(frozen=True)
class PressResult:
    """What pressing a button did."""

    allowed: bool
    performed: bool
    message: str
    record: NotifyAction | None = None


async def press(
    session: AsyncSession,
    action_id: str,
    *,
    user_id: int,
    actor: str,
    registry: ActionRegistry,
    approvers: Sequence[int],
    now: datetime | None = None,
) -> PressResult:
    """Run a button's action once, for a user who was an approver when the card was sent and
    still is, before it expires. A second press (or the card's other button) does nothing."""
    await lock_names(session, [f"notify-action:{action_id}"])
    record = await session.get(NotifyAction, action_id)
    if record is None:
        return PressResult(False, False, "This button is not known.")
    await session.refresh(record)
    if user_id not in (record.allowed_users or []) or user_id not in approvers:
        return PressResult(False, False, "Not allowed: you are not an approver.", record)
    if record.used_at is not None:
        return PressResult(True, False, f"Already decided by {record.used_by}.", record)
    moment = now or utcnow()
    if record.expires_at <= moment:
        return PressResult(True, False, "This button has expired.", record)
    handler = registry.handlers.get(record.action)
    if handler is None:
        return PressResult(True, False, f"Action {record.action} is not available.", record)
    try:
        outcome = await handler(session, record.target, actor)
    except AwoooiError as exc:  # e.g. already approved through the API: nothing to do here
        return PressResult(True, False, f"Not done: {exc.detail}", record)
    record.used_at = moment
    record.used_by = actor[:128]
    record.outcome = outcome
    # The card's other button (Reject after Approve) is spent too: one decision per card.
    siblings = await session.scalars(
        select(NotifyAction).where(
            NotifyAction.notification_id == record.notification_id,
            NotifyAction.id != record.id,
            NotifyAction.used_at.is_(None),
        )
    )
    for sibling in siblings:
        sibling.used_at = moment
        sibling.used_by = actor[:128]
        sibling.outcome = f"superseded: {outcome}"
    await session.flush()
    return PressResult(True, True, outcome, record)

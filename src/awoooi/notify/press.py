"""Card buttons that run server-side actions: the action records behind them and `press`.

A button carries only its record's opaque id (Telegram allows 64 bytes of callback data); what it
does, who may press it and until when stay on the server.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.core.audit import Caller, Outcome, record_audit
from awoooi.core.db import utcnow
from awoooi.core.errors import AwoooiError
from awoooi.core.locks import lock_names
from awoooi.notify import repository
from awoooi.notify.models import NotifyAction
from awoooi.notify.routing import NotifyPolicy

# What a button may do: "<action>:<target id>" as the caller wrote it in Button.action_id.
KNOWN_ACTIONS = ("knowledge.approve", "knowledge.reject", "repair.approve", "repair.reject")


def new_action_id() -> str:
    """An opaque, unguessable id (22 characters)."""
    return secrets.token_urlsafe(16)


def parse_action(action_id: str) -> tuple[str, str]:
    """Split "repair.approve:12" into ("repair.approve", "12"); ValueError when unknown."""
    action, _, target = action_id.partition(":")
    if action not in KNOWN_ACTIONS or not target or len(target) > 64:
        raise ValueError(f"unknown button action {action_id!r}")
    return action, target


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


# (session, target, caller) -> a one-line outcome; the handler's service audits the decision.
ActionHandler = Callable[[AsyncSession, str, Caller], Awaitable[str]]


@dataclass
class ActionRegistry:
    """What each action does: (session, target, caller) -> a one-line outcome."""

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
    caller: Caller,
    registry: ActionRegistry,
    approvers: Sequence[int],
    now: datetime | None = None,
) -> PressResult:
    """Run a button's action once, for a user who was an approver when the card was sent and
    still is, before it expires. A second press (or the card's other button) does nothing.
    The action's own service audits what it decides; a press that decides nothing (refused,
    spent, expired) is audited here."""
    result = await _press(
        session,
        action_id,
        user_id=user_id,
        caller=caller,
        registry=registry,
        approvers=approvers,
        now=now,
    )
    if not result.performed:
        record = result.record
        await record_audit(
            session,
            caller,
            action=f"notify.{record.action}" if record else "notify.unknown_action",
            target=f"{record.action.split('.')[0]}:{record.target}"
            if record
            else f"action:{action_id}",
            outcome=Outcome.NO_OP if result.allowed else Outcome.REFUSED,
            detail={"channel": caller.door.value, "message": result.message},
        )
    return result


async def _press(
    session: AsyncSession,
    action_id: str,
    *,
    user_id: int,
    caller: Caller,
    registry: ActionRegistry,
    approvers: Sequence[int],
    now: datetime | None,
) -> PressResult:
    await lock_names(session, [f"notify-action:{action_id}"])
    record = await repository.get_action(session, action_id)
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
        outcome = await handler(session, record.target, caller)
    except AwoooiError as exc:  # e.g. already approved through the API: nothing to do here
        return PressResult(True, False, f"Not done: {exc.detail}", record)
    record.used_at = moment
    record.used_by = caller.actor[:128]
    record.outcome = outcome
    # The card's other button (Reject after Approve) is spent too: one decision per card.
    for sibling in await repository.unused_sibling_actions(session, record):
        sibling.used_at = moment
        sibling.used_by = caller.actor[:128]
        sibling.outcome = f"superseded: {outcome}"
    await session.flush()
    return PressResult(True, True, outcome, record)

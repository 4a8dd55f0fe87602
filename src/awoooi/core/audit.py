"""The audit log: every decision, who made it, through which door, and how it ended.

Services write the audit record in the same transaction as the decision, so its shape is the
same whichever door (API, CLI, a Telegram button, the console) the request came through; the
door is a field of the record, not a reason for another shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from awoooi.core import repository
from awoooi.core.db import transaction, utcnow
from awoooi.core.errors import AwoooiError
from awoooi.core.models import AuditEntry, Door, Outcome
from awoooi.core.redact import redact_structure

__all__ = [
    "SYSTEM_CALLER",
    "Caller",
    "Door",
    "Outcome",
    "add_audit",
    "list_audit",
    "record_audit",
    "record_refusal",
]


@dataclass(frozen=True)
class Caller:
    """Who asks for a decision, through which door (and the request that carried it)."""

    actor: str
    door: Door
    request_id: str | None = None


SYSTEM_CALLER = Caller("awoooi", Door.SYSTEM)


async def record_audit(
    session: AsyncSession,
    caller: Caller,
    *,
    action: str,
    target: str,
    outcome: Outcome = Outcome.OK,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit entry to the caller's transaction."""
    entry = add_audit(session, caller, action=action, target=target, outcome=outcome, detail=detail)
    await session.flush()
    return entry


def add_audit(
    session: AsyncSession,
    caller: Caller,
    *,
    action: str,
    target: str,
    outcome: Outcome = Outcome.OK,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit entry to the caller's transaction, written with its next flush (a batch
    of decisions flushes once)."""
    entry = AuditEntry(
        at=utcnow(),
        actor=caller.actor[:128],
        door=caller.door,
        action=action[:64],
        target=target[:256],
        outcome=outcome,
        # Details carry what people typed (reasons, notes): never a secret they pasted in.
        detail=redact_structure(detail or {}),
        request_id=caller.request_id,
    )
    session.add(entry)
    return entry


async def record_refusal(
    session: AsyncSession,
    factory: async_sessionmaker[AsyncSession],
    caller: Caller,
    *,
    action: str,
    target: str,
    error: AwoooiError,
) -> None:
    """Audit a refused decision in a transaction of its own: the caller's one rolls back."""
    # First: on SQLite the caller's transaction holds the write lock the audit needs.
    await session.rollback()
    async with transaction(factory) as audit:
        await record_audit(
            audit,
            caller,
            action=action,
            target=target,
            outcome=Outcome.REFUSED,
            detail={"error": error.code, "detail": error.detail[:500]},
        )


async def list_audit(
    session: AsyncSession,
    *,
    limit: int = 100,
    before_id: int | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
) -> list[AuditEntry]:
    """Audit entries, newest first, filtered and paged by id."""
    return await repository.audit_entries(
        session, limit=limit, before_id=before_id, actor=actor, action=action, since=since
    )

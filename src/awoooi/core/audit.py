"""The audit log: every mutation, who made it and how it ended."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.core.db import utcnow
from awoooi.core.models import AuditEntry


async def record_audit(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    target: str,
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
    request_id: str | None = None,
) -> AuditEntry:
    """Add an audit entry to the caller's transaction."""
    entry = AuditEntry(
        at=utcnow(),
        actor=actor[:128],
        action=action[:64],
        target=target[:256],
        outcome=outcome[:32],
        detail=detail or {},
        request_id=request_id,
    )
    session.add(entry)
    await session.flush()
    return entry


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
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    return list(await session.scalars(query))

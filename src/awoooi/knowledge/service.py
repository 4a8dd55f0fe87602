"""Knowledge life cycle: create, edit (versions kept), review, archive, anti-pattern checks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.core.audit import Caller, record_audit
from awoooi.core.db import utcnow
from awoooi.core.errors import ConflictError, InvalidInputError, NotFoundError
from awoooi.core.locks import lock_names
from awoooi.core.redact import redact
from awoooi.knowledge import repository
from awoooi.knowledge.models import (
    EntrySource,
    EntryStatus,
    EntryType,
    KnowledgeEntry,
    KnowledgeVersion,
)

# Which status may follow which, and by which action.
_REVIEWABLE = {EntryStatus.DRAFT}
_ARCHIVABLE = {EntryStatus.DRAFT, EntryStatus.PUBLISHED, EntryStatus.REJECTED}


@dataclass(frozen=True)
class NewEntry:
    """Everything needed to create an entry."""

    title: str
    content: str
    entry_type: EntryType
    source: EntrySource
    status: EntryStatus
    created_by: str
    category: str | None = None
    tags: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    related_incident_id: str | None = None
    related_playbook_id: str | None = None
    symptoms_hash: str | None = None
    harvest_key: str | None = None
    uid: str | None = None


def _clean_list(values: tuple[str, ...] | list[str]) -> list[str]:
    return sorted({value.strip() for value in values if value.strip()})


async def _audit(
    session: AsyncSession,
    caller: Caller,
    action: str,
    record: KnowledgeEntry,
    detail: dict[str, Any] | None = None,
) -> None:
    await record_audit(
        session,
        caller,
        action=f"knowledge.{action}",
        target=f"knowledge:{record.id}",
        detail={
            "title": record.title[:120],
            "status": record.status,
            "version": record.version,
            **(detail or {}),
        },
    )


async def create_entry(
    session: AsyncSession,
    entry: NewEntry,
    *,
    caller: Caller | None = None,
    audit_detail: dict[str, Any] | None = None,
) -> KnowledgeEntry:
    """Create an entry; secrets are redacted from its text before it is stored. Entries made
    for a caller (a person, an import) are audited; the harvester's are recorded as its own."""
    if (
        entry.source is EntrySource.AI_EXTRACTED
        and entry.status is EntryStatus.PUBLISHED
        and entry.entry_type is not EntryType.ANTI_PATTERN
    ):
        raise ConflictError(
            "an AI-extracted entry is created PUBLISHED only if it is an ANTI_PATTERN"
        )
    if entry.status not in {EntryStatus.DRAFT, EntryStatus.PUBLISHED}:
        raise InvalidInputError("a new entry is DRAFT or PUBLISHED")
    now = utcnow()
    record = KnowledgeEntry(
        uid=entry.uid or str(uuid.uuid4()),
        title=redact(entry.title)[:300],
        content=redact(entry.content),
        entry_type=entry.entry_type.value,
        category=entry.category,
        tags=_clean_list(entry.tags),
        services=_clean_list(entry.services),
        source=entry.source.value,
        status=entry.status.value,
        related_incident_id=entry.related_incident_id,
        related_playbook_id=entry.related_playbook_id,
        symptoms_hash=entry.symptoms_hash,
        harvest_key=entry.harvest_key,
        created_by=entry.created_by[:128],
        version=1,
        published_at=now if entry.status is EntryStatus.PUBLISHED else None,
        created_at=now,
        updated_at=now,
    )
    session.add(record)
    try:
        await session.flush()
    except IntegrityError as exc:
        # The transaction is spoiled; the request or job boundary rolls it back.
        raise ConflictError("an entry with this uid or harvest key already exists") from exc
    if caller is not None:
        await _audit(session, caller, "create", record, audit_detail)
    return record


async def get_entry(session: AsyncSession, entry_id: int) -> KnowledgeEntry:
    """The entry with this id, or NotFoundError."""
    record = await repository.get_by_id(session, entry_id)
    if record is None:
        raise NotFoundError(f"no knowledge entry {entry_id}")
    return record


async def get_by_uid(session: AsyncSession, uid: str) -> KnowledgeEntry | None:
    """The entry with this stable uid, if any."""
    return await repository.get_by_uid(session, uid)


async def get_by_harvest_key(session: AsyncSession, key: str) -> KnowledgeEntry | None:
    """The entry a harvest job made for one repair attempt, if any."""
    return await repository.get_by_harvest_key(session, key)


async def _locked(session: AsyncSession, entry_id: int) -> KnowledgeEntry:
    # Serialize changes to one entry across requests and replicas.
    await lock_names(session, [f"knowledge:{entry_id}"])
    record = await get_entry(session, entry_id)
    await session.refresh(record)
    return record


async def update_entry(
    session: AsyncSession,
    entry_id: int,
    *,
    caller: Caller,
    title: str | None = None,
    content: str | None = None,
    category: str | None = None,
    tags: list[str] | None = None,
    services: list[str] | None = None,
    audit_detail: dict[str, Any] | None = None,
) -> KnowledgeEntry:
    """Edit an entry, audited: the current text becomes a kept version and `version` goes up."""
    record = await _locked(session, entry_id)
    if record.status == EntryStatus.ARCHIVED:
        raise ConflictError(f"entry {entry_id} is ARCHIVED; archived entries are not edited")
    session.add(
        KnowledgeVersion(
            entry_id=record.id,
            version=record.version,
            title=record.title,
            content=record.content,
            category=record.category,
            tags=list(record.tags),
            services=list(record.services),
            edited_by=caller.actor[:128],
            edited_at=utcnow(),
        )
    )
    if title is not None:
        record.title = redact(title)[:300]
    if content is not None:
        record.content = redact(content)
    if category is not None:
        record.category = category
    if tags is not None:
        record.tags = _clean_list(tags)
    if services is not None:
        record.services = _clean_list(services)
    record.version += 1
    record.updated_at = utcnow()
    await session.flush()
    await _audit(session, caller, "update", record, audit_detail)
    return record


async def list_versions(session: AsyncSession, entry_id: int) -> list[KnowledgeVersion]:
    """Earlier versions of an entry, oldest first."""
    await get_entry(session, entry_id)
    return await repository.list_versions(session, entry_id)


async def approve_entry(
    session: AsyncSession, entry_id: int, *, caller: Caller, note: str | None = None
) -> KnowledgeEntry:
    """DRAFT -> PUBLISHED, recording the reviewer; audited."""
    record = await _locked(session, entry_id)
    if record.status not in _REVIEWABLE:
        raise ConflictError(f"entry {entry_id} is {record.status}; only a DRAFT can be approved")
    now = utcnow()
    record.status = EntryStatus.PUBLISHED
    record.reviewed_by = caller.actor[:128]
    record.reviewed_at = now
    record.review_note = note
    record.published_at = now
    record.updated_at = now
    await session.flush()
    await _audit(session, caller, "approve", record)
    return record


async def reject_entry(
    session: AsyncSession, entry_id: int, *, caller: Caller, reason: str
) -> KnowledgeEntry:
    """DRAFT -> REJECTED; the reason is required and kept; audited."""
    if not reason.strip():
        raise InvalidInputError("a rejection needs a reason")
    record = await _locked(session, entry_id)
    if record.status not in _REVIEWABLE:
        raise ConflictError(f"entry {entry_id} is {record.status}; only a DRAFT can be rejected")
    now = utcnow()
    record.status = EntryStatus.REJECTED
    record.reviewed_by = caller.actor[:128]
    record.reviewed_at = now
    record.review_note = reason.strip()
    record.updated_at = now
    await session.flush()
    await _audit(session, caller, "reject", record)
    return record


async def archive_entry(session: AsyncSession, entry_id: int, *, caller: Caller) -> KnowledgeEntry:
    """Any live entry -> ARCHIVED (an archived anti-pattern no longer blocks repairs); audited."""
    record = await _locked(session, entry_id)
    if record.status not in _ARCHIVABLE:
        raise ConflictError(f"entry {entry_id} is already ARCHIVED")
    record.status = EntryStatus.ARCHIVED
    record.updated_at = utcnow()
    await session.flush()
    await _audit(session, caller, "archive", record)
    return record


async def check_anti_pattern(
    session: AsyncSession, symptoms_hash: str, days: float = 7, *, now: datetime | None = None
) -> KnowledgeEntry | None:
    """The newest PUBLISHED ANTI_PATTERN for these symptoms published in the last `days` days."""
    since = (now or utcnow()) - timedelta(days=days)
    return await repository.newest_anti_pattern(session, symptoms_hash, since)


async def published_for_symptoms(
    session: AsyncSession, symptoms_hash: str, *, limit: int = 5
) -> list[KnowledgeEntry]:
    """PUBLISHED entries (runbooks, anti-patterns ...) written for exactly these symptoms."""
    return await repository.with_symptoms(
        session, symptoms_hash, statuses=[EntryStatus.PUBLISHED], limit=limit
    )

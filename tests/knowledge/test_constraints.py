"""The database's own guards on knowledge entries, written around the service (both databases)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError, StatementError

from awoooi.core.db import transaction, utcnow
from awoooi.core.errors import ConflictError, InvalidInputError
from awoooi.knowledge import service
from awoooi.knowledge.models import EntrySource, EntryStatus, EntryType, KnowledgeEntry
from awoooi.runtime import Runtime
from tests.knowledge.conftest import add_entry, person


def row(**values: Any) -> KnowledgeEntry:
    now = utcnow()
    fields: dict[str, Any] = {
        "uid": str(uuid.uuid4()),
        "title": "t",
        "content": "c",
        "entry_type": "RUNBOOK",
        "source": "MANUAL",
        "status": "DRAFT",
        "tags": [],
        "services": [],
        "created_by": "test",
        "version": 1,
        "created_at": now,
        "updated_at": now,
        **values,
    }
    return KnowledgeEntry(**fields)


async def insert(runtime: Runtime, **values: Any) -> None:
    """Insert one row through the ORM, committed (raises what the database raises)."""
    async with transaction(runtime.session_factory) as session:
        session.add(row(**values))


async def insert_raw(runtime: Runtime, **values: Any) -> None:
    """Insert one row as plain SQL, around the model's column types (committed)."""
    fields = {**row().__dict__, **values}
    columns = [column.name for column in KnowledgeEntry.__table__.columns if column.name in fields]
    names = ", ".join(columns)
    binds = ", ".join(f":{column}" for column in columns)
    plain = {
        column: json.dumps(fields[column]) if isinstance(fields[column], list) else fields[column]
        for column in columns
    }
    statement = text(f"INSERT INTO knowledge_entries ({names}) VALUES ({binds})")
    async with transaction(runtime.session_factory) as session:
        await session.execute(statement, plain)


AI_PUBLISHED = {"source": "AI_EXTRACTED", "status": "PUBLISHED", "published_at": utcnow()}


async def test_ai_entry_is_published_only_when_reviewed(runtime: Runtime) -> None:
    for entry_type in ("AUTO_RUNBOOK", "RUNBOOK", "POSTMORTEM", "REFERENCE"):
        with pytest.raises(IntegrityError, match="ai_published_reviewed"):
            await insert(runtime, entry_type=entry_type, **AI_PUBLISHED)
        # Reviewed, or not published, or not from the model: allowed.
        await insert(runtime, entry_type=entry_type, reviewed_by="alice", **AI_PUBLISHED)
        await insert(runtime, entry_type=entry_type, source="AI_EXTRACTED", status="DRAFT")
        await insert(runtime, entry_type=entry_type, source="MANUAL", status="PUBLISHED")
        await insert(runtime, entry_type=entry_type, source="IMPORTED", status="PUBLISHED")

    # An anti-pattern from the model publishes itself (a warning needs no review).
    await insert(
        runtime, entry_type="ANTI_PATTERN", symptoms_hash="0123456789abcdef", **AI_PUBLISHED
    )
    async with runtime.session_factory() as session:
        stored = await session.scalar(
            select(KnowledgeEntry).where(KnowledgeEntry.entry_type == "ANTI_PATTERN")
        )
    assert stored is not None
    assert (stored.entry_type, stored.source, stored.status) == (
        "ANTI_PATTERN",
        "AI_EXTRACTED",
        "PUBLISHED",
    )
    assert stored.reviewed_by is None


async def test_an_update_cannot_publish_an_unreviewed_ai_draft(runtime: Runtime) -> None:
    draft = await add_entry(
        runtime, entry_type=EntryType.AUTO_RUNBOOK, source=EntrySource.AI_EXTRACTED
    )
    with pytest.raises(IntegrityError, match="ai_published_reviewed"):
        async with transaction(runtime.session_factory) as session:
            await session.execute(
                update(KnowledgeEntry)
                .where(KnowledgeEntry.id == draft.id)
                .values(status="PUBLISHED")
            )
    # Clearing the reviewer of a reviewed, published AI entry is refused as well (raw SQL).
    async with transaction(runtime.session_factory) as session:
        await service.approve_entry(session, draft.id, caller=person("alice"))
    with pytest.raises(IntegrityError, match="ai_published_reviewed"):
        async with transaction(runtime.session_factory) as session:
            await session.execute(
                text("UPDATE knowledge_entries SET reviewed_by = NULL WHERE id = :id"),
                {"id": draft.id},
            )


async def test_shapes_enums_and_unique_keys(runtime: Runtime) -> None:
    for symptoms_hash in (
        "ABCDEF0123456789",  # upper case
        "0123456789abcde",  # 15 characters
        "0123456789abcdeg",  # not hex
        "0123456789abcd e",
        "",
    ):
        with pytest.raises(IntegrityError, match="symptoms_hash_shape"):
            await insert(runtime, symptoms_hash=symptoms_hash)
    await insert(runtime, symptoms_hash="0123456789abcdef")
    await insert(runtime, symptoms_hash=None)
    for column, bad in (("entry_type", "HOWTO"), ("source", "SCRAPED"), ("status", "LIVE")):
        # The model's enum column refuses the value before it is sent ...
        with pytest.raises(StatementError, match=f"'{bad}' is not a valid"):
            await insert(runtime, **{column: bad})
        # ... and the database's CHECK refuses it too, when written around the model.
        with pytest.raises(IntegrityError, match=column):
            await insert_raw(runtime, **{column: bad})

    await insert(runtime, uid="fixed-uid", harvest_key="repair:1")
    with pytest.raises(IntegrityError):
        await insert(runtime, uid="fixed-uid")
    with pytest.raises(IntegrityError):
        await insert(runtime, harvest_key="repair:1")
    # The service reports the same as a conflict.
    with pytest.raises(ConflictError, match="already exists"):
        await add_entry(runtime, harvest_key="repair:1")


async def test_service_create_rules(runtime: Runtime) -> None:
    for entry_type in (
        EntryType.AUTO_RUNBOOK,
        EntryType.RUNBOOK,
        EntryType.POSTMORTEM,
        EntryType.REFERENCE,
    ):
        with pytest.raises(ConflictError, match="only if it is an ANTI_PATTERN"):
            await add_entry(
                runtime,
                entry_type=entry_type,
                source=EntrySource.AI_EXTRACTED,
                status=EntryStatus.PUBLISHED,
            )
    async with runtime.session_factory() as session:
        assert await session.scalar(select(KnowledgeEntry)) is None
    anti = await add_entry(
        runtime,
        entry_type=EntryType.ANTI_PATTERN,
        source=EntrySource.AI_EXTRACTED,
        status=EntryStatus.PUBLISHED,
        symptoms_hash="0123456789abcdef",
    )
    assert anti.published_at is not None
    assert anti.reviewed_by is None
    for status in (EntryStatus.REJECTED, EntryStatus.ARCHIVED):
        with pytest.raises(InvalidInputError, match="DRAFT or PUBLISHED"):
            await add_entry(runtime, status=status)

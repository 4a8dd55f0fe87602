"""Queries over knowledge entries: lookups, listings, full-text search, the anti-pattern check.

The services decide (which statuses count, how a user's words become a query, how a rank reads);
this module only builds the statements and runs them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, bindparam, cast, column, func, or_, select, table, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from awoooi.knowledge.models import EntryStatus, EntryType, KnowledgeEntry, KnowledgeVersion

SNIPPET_WORDS = 16
TOTAL_CAP = 1000

# One row of a ranked search: the entry, its snippet, and the database's own score.
SearchRow = tuple[KnowledgeEntry, str, float]


@dataclass(frozen=True)
class Filters:
    """Search filters; None means any."""

    entry_type: str | None = None
    status: str | None = None
    tag: str | None = None
    service: str | None = None


async def get_by_id(session: AsyncSession, entry_id: int) -> KnowledgeEntry | None:
    """The entry with this id, if any."""
    return await session.get(KnowledgeEntry, entry_id)


async def get_by_uid(session: AsyncSession, uid: str) -> KnowledgeEntry | None:
    """The entry with this stable uid, if any."""
    return await session.scalar(select(KnowledgeEntry).where(KnowledgeEntry.uid == uid))


async def get_by_harvest_key(session: AsyncSession, key: str) -> KnowledgeEntry | None:
    """The entry a harvest job made for one repair attempt, if any."""
    return await session.scalar(select(KnowledgeEntry).where(KnowledgeEntry.harvest_key == key))


async def list_versions(session: AsyncSession, entry_id: int) -> list[KnowledgeVersion]:
    """The kept versions of an entry, oldest first."""
    query = (
        select(KnowledgeVersion)
        .where(KnowledgeVersion.entry_id == entry_id)
        .order_by(KnowledgeVersion.version)
    )
    return list(await session.scalars(query))


# Built once: constructing a select() per call costs more than the indexed lookup itself
# (about 0.4 ms of the gate's budget), and a reused statement keeps its compiled-cache key.
_ANTI_PATTERN_QUERY = (
    select(KnowledgeEntry)
    .where(
        KnowledgeEntry.symptoms_hash == bindparam("symptoms_hash"),
        KnowledgeEntry.entry_type == EntryType.ANTI_PATTERN,
        KnowledgeEntry.status == EntryStatus.PUBLISHED,
        KnowledgeEntry.published_at >= bindparam("since"),
    )
    .order_by(KnowledgeEntry.published_at.desc(), KnowledgeEntry.id.desc())
    .limit(1)
)


async def newest_anti_pattern(
    session: AsyncSession, symptoms_hash: str, since: datetime
) -> KnowledgeEntry | None:
    """The newest PUBLISHED ANTI_PATTERN with these symptoms published at or after `since`."""
    parameters = {"symptoms_hash": symptoms_hash, "since": since}
    return await session.scalar(_ANTI_PATTERN_QUERY, parameters)


async def with_symptoms(
    session: AsyncSession, symptoms_hash: str, *, statuses: Sequence[str], limit: int
) -> list[KnowledgeEntry]:
    """Entries in one of these statuses with exactly these symptoms, newest change first."""
    query = (
        select(KnowledgeEntry)
        .where(
            KnowledgeEntry.symptoms_hash == symptoms_hash,
            KnowledgeEntry.status.in_(statuses),
        )
        .order_by(KnowledgeEntry.updated_at.desc())
        .limit(limit)
    )
    return list(await session.scalars(query))


def _json_list_contains(column: Any, value: str) -> Any:
    # JSON lists are stored as text-comparable arrays on both databases; quoting the element
    # stops prefix matches ("web" must not match "webhook"). SQLite keeps json.dumps text
    # (non-ASCII as \u escapes), PostgreSQL's jsonb::text the characters themselves: either
    # spelling matches. autoescape: "%" and "_" in a tag are characters, not LIKE wildcards.
    text_column = cast(column, String)
    return or_(
        *(
            text_column.contains(needle, autoescape=True)
            for needle in dict.fromkeys([json.dumps(value), json.dumps(value, ensure_ascii=False)])
        )
    )


def _filtered(query: Any, filters: Filters) -> Any:
    """The query narrowed by the filters: the one place they are spelled as SQL."""
    if filters.entry_type:
        query = query.where(KnowledgeEntry.entry_type == filters.entry_type)
    if filters.status:
        query = query.where(KnowledgeEntry.status == filters.status)
    if filters.tag:
        query = query.where(_json_list_contains(KnowledgeEntry.tags, filters.tag))
    if filters.service:
        query = query.where(_json_list_contains(KnowledgeEntry.services, filters.service))
    return query


async def list_entries(
    session: AsyncSession, filters: Filters, *, limit: int, offset: int
) -> tuple[list[KnowledgeEntry], int]:
    """A page of the matching entries, newest change first, and how many match in all."""
    total = int(
        await session.scalar(_filtered(select(func.count()).select_from(KnowledgeEntry), filters))
        or 0
    )
    rows = await session.scalars(
        _filtered(select(KnowledgeEntry), filters)
        .order_by(KnowledgeEntry.updated_at.desc(), KnowledgeEntry.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), total


async def entries_after(
    session: AsyncSession, filters: Filters, *, after_id: int, limit: int
) -> list[KnowledgeEntry]:
    """Up to `limit` matching entries with an id above `after_id`, in id order (keyset paging)."""
    query = _filtered(select(KnowledgeEntry).where(KnowledgeEntry.id > after_id), filters)
    return list(await session.scalars(query.order_by(KnowledgeEntry.id).limit(limit)))


async def _capped_count(session: AsyncSession, ids: Any, params: dict[str, Any]) -> int:
    # Counting every match of a common word costs more than ranking the page; past the cap
    # the exact figure helps nobody, so `total` stops at TOTAL_CAP.
    capped = select(func.count()).select_from(ids.limit(TOTAL_CAP).subquery())
    return int(await session.scalar(capped, params) or 0)


async def search_fts5(
    session: AsyncSession, match: str, filters: Filters, *, limit: int, offset: int
) -> tuple[list[SearchRow], int]:
    """SQLite: a page of entries matching an FTS5 query (score: bm25, lower is better), total."""
    # A table construct (not text()): select_from() and join() need a FROM element.
    fts = table("knowledge_fts", column("rowid"))
    # bm25 weights: title 10, content 1, tags 5.
    rank = text("bm25(knowledge_fts, 10.0, 1.0, 5.0)")
    snippet = text(f"snippet(knowledge_fts, 1, '[', ']', '…', {SNIPPET_WORDS})")
    matched = (
        select(KnowledgeEntry, snippet, rank)
        .select_from(fts)
        .join(KnowledgeEntry, KnowledgeEntry.id == fts.c.rowid)
        .where(text("knowledge_fts MATCH :match"))
    )
    matched = _filtered(matched, filters)
    if filters == Filters():
        # Unfiltered: the FTS index alone knows the matches; no join needed to count them.
        counted = select(fts.c.rowid).select_from(fts).where(text("knowledge_fts MATCH :match"))
    else:
        counted = _filtered(
            select(KnowledgeEntry.id)
            .select_from(fts)
            .join(KnowledgeEntry, KnowledgeEntry.id == fts.c.rowid)
            .where(text("knowledge_fts MATCH :match")),
            filters,
        )
    total = await _capped_count(session, counted, {"match": match})
    rows = (
        await session.execute(
            matched.order_by(rank, KnowledgeEntry.id.desc()).limit(limit).offset(offset),
            {"match": match},
        )
    ).all()
    return [(row[0], str(row[1] or ""), float(row[2])) for row in rows], total


async def search_tsvector(
    session: AsyncSession, tsquery: str, filters: Filters, *, limit: int, offset: int
) -> tuple[list[SearchRow], int]:
    """PostgreSQL: a page of entries matching a tsquery (score: ts_rank_cd, higher is better)."""
    query = func.to_tsquery("simple", tsquery)
    # Vectors live in a narrow side table (migration 0005), so ranking every match reads few
    # pages; the wide entries rows are read only for the page.
    vectors = table("knowledge_search", column("entry_id"), column("search_vector"))
    vector: ColumnElement[Any] = vectors.c.search_vector
    rank = func.ts_rank_cd(vector, query)
    snippet = func.ts_headline(
        "simple",
        KnowledgeEntry.content,
        query,
        f"StartSel=[, StopSel=], MaxWords={SNIPPET_WORDS}, MinWords=5, ShortWord=2",
    )
    condition = vector.op("@@")(query)
    entry_id = vectors.c.entry_id
    if filters == Filters():
        matches = select(entry_id.label("id")).where(condition)
        ranked = select(entry_id.label("id"), rank.label("rank")).where(condition)
    else:
        joined = vectors.join(KnowledgeEntry, KnowledgeEntry.id == entry_id)
        matches = _filtered(
            select(entry_id.label("id")).select_from(joined).where(condition), filters
        )
        ranked = _filtered(
            select(entry_id.label("id"), rank.label("rank")).select_from(joined).where(condition),
            filters,
        )
    total = await _capped_count(session, matches, {})
    page = (
        ranked.order_by(text("rank DESC"), entry_id.desc()).limit(limit).offset(offset).subquery()
    )
    # Headlines are costly; make them only for the page, not for every match.
    rows = (
        await session.execute(
            select(KnowledgeEntry, snippet, page.c.rank)
            .join(page, page.c.id == KnowledgeEntry.id)
            .order_by(page.c.rank.desc(), KnowledgeEntry.id.desc())
        )
    ).all()
    return [(row[0], str(row[1] or ""), float(row[2])) for row in rows], total

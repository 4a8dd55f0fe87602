"""Ranked full-text search with snippets: SQLite FTS5 (bm25) or PostgreSQL tsvector (ts_rank_cd)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, cast, column, func, or_, select, table, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from awoooi.knowledge.models import KnowledgeEntry

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_QUERY_TERMS = 16
SNIPPET_WORDS = 16
TOTAL_CAP = 1000


@dataclass(frozen=True)
class Filters:
    """Search filters; None means any."""

    entry_type: str | None = None
    status: str | None = None
    tag: str | None = None
    service: str | None = None


@dataclass(frozen=True)
class Hit:
    """One ranked result."""

    entry: KnowledgeEntry
    snippet: str
    rank: float


def query_terms(query: str) -> list[str]:
    """The words of a user query (punctuation and operators dropped, so nothing is syntax)."""
    return _WORD.findall(query.lower())[:MAX_QUERY_TERMS]


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
    if filters.entry_type:
        query = query.where(KnowledgeEntry.entry_type == filters.entry_type)
    if filters.status:
        query = query.where(KnowledgeEntry.status == filters.status)
    if filters.tag:
        query = query.where(_json_list_contains(KnowledgeEntry.tags, filters.tag))
    if filters.service:
        query = query.where(_json_list_contains(KnowledgeEntry.services, filters.service))
    return query


def _fts5_query(terms: list[str], *, any_term: bool) -> str:
    # Every term quoted, so FTS5 never reads user text as its query syntax; the last one is a
    # prefix so "crashloo" finds "crashloopbackoff" while the user types.
    quoted = [f'"{term}"' for term in terms]
    if any_term:
        return " OR ".join(quoted)
    quoted[-1] += "*"
    return " ".join(quoted)


async def search(
    session: AsyncSession,
    query: str,
    filters: Filters,
    *,
    limit: int,
    offset: int,
    any_term: bool = False,
) -> tuple[list[Hit], int]:
    """Entries matching every word (or, with any_term, any word), best first, with a snippet."""
    terms = query_terms(query)
    if not terms:
        return [], 0
    if session.get_bind().dialect.name == "postgresql":
        return await _search_postgresql(
            session, query, filters, limit=limit, offset=offset, any_term=any_term
        )
    return await _search_sqlite(
        session, terms, filters, limit=limit, offset=offset, any_term=any_term
    )


async def _search_sqlite(
    session: AsyncSession,
    terms: list[str],
    filters: Filters,
    *,
    limit: int,
    offset: int,
    any_term: bool,
) -> tuple[list[Hit], int]:
    match = _fts5_query(terms, any_term=any_term)
    # A table construct (not text()): select_from() and join() need a FROM element.
    fts = table("knowledge_fts", column("rowid"))
    # bm25 weights: title 10, content 1, tags 5 (lower is better in FTS5, so negate for rank).
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
    return [Hit(row[0], str(row[1] or ""), -float(row[2])) for row in rows], total


async def _capped_count(session: AsyncSession, ids: Any, params: dict[str, Any]) -> int:
    # Counting every match of a common word costs more than ranking the page; past the cap
    # the exact figure helps nobody, so `total` stops at TOTAL_CAP.
    capped = select(func.count()).select_from(ids.limit(TOTAL_CAP).subquery())
    return int(await session.scalar(capped, params) or 0)


def _pg_tsquery(text_query: str, *, any_term: bool) -> str:
    # PostgreSQL's parser keeps host names, addresses, versions and paths whole as one lexeme
    # ("redis.cache.svc", "10.0.0.7"), which their words alone never match: each
    # whitespace-separated chunk matches as the parser reads it, or as its words.
    groups: list[tuple[str, list[str]]] = []
    budget = MAX_QUERY_TERMS
    # PostgreSQL text cannot hold NUL; it separates chunks like a space.
    for chunk in text_query.lower().replace("\x00", " ").split():
        words = _WORD.findall(chunk)[:budget]
        if words:
            groups.append((chunk, words))
            budget -= len(words)
        if budget <= 0:
            break
    join = " | " if any_term else " & "
    parts = []
    for index, (chunk, words) in enumerate(groups):
        # The last word is a prefix so "crashloo" finds "crashloopbackoff" while the user types.
        star = "" if any_term or index < len(groups) - 1 else ":*"
        alternatives = join.join([*map(_pg_lexeme, words[:-1]), _pg_lexeme(words[-1]) + star])
        if words != [chunk]:
            alternatives = f"{_pg_lexeme(chunk)}{star} | {alternatives}"
        parts.append(f"({alternatives})")
    return join.join(parts)


async def _search_postgresql(
    session: AsyncSession,
    text_query: str,
    filters: Filters,
    *,
    limit: int,
    offset: int,
    any_term: bool,
) -> tuple[list[Hit], int]:
    query = func.to_tsquery("simple", _pg_tsquery(text_query, any_term=any_term))
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
    return [Hit(row[0], str(row[1] or ""), float(row[2])) for row in rows], total


def _pg_lexeme(term: str) -> str:
    # Quoted (quote doubled, backslash escaped), so nothing in it reads as tsquery syntax.
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


async def list_entries(
    session: AsyncSession, filters: Filters, *, limit: int, offset: int
) -> tuple[list[KnowledgeEntry], int]:
    """Entries without a query: newest change first."""
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

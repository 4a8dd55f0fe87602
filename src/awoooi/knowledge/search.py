"""Ranked full-text search with snippets: SQLite FTS5 (bm25) or PostgreSQL tsvector (ts_rank_cd)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.knowledge import repository
from awoooi.knowledge.models import KnowledgeEntry

# Filters are the search's input; the doors build them through this module.
from awoooi.knowledge.repository import Filters as Filters

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_QUERY_TERMS = 16


@dataclass(frozen=True)
class Hit:
    """One ranked result."""

    entry: KnowledgeEntry
    snippet: str
    rank: float


def query_terms(query: str) -> list[str]:
    """The words of a user query (punctuation and operators dropped, so nothing is syntax)."""
    return _WORD.findall(query.lower())[:MAX_QUERY_TERMS]


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
    rows, total = await repository.search_fts5(session, match, filters, limit=limit, offset=offset)
    # bm25 is lower for a better match; a rank is higher for one, as on PostgreSQL.
    return [Hit(entry, snippet, -score) for entry, snippet, score in rows], total


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
    tsquery = _pg_tsquery(text_query, any_term=any_term)
    rows, total = await repository.search_tsvector(
        session, tsquery, filters, limit=limit, offset=offset
    )
    return [Hit(entry, snippet, score) for entry, snippet, score in rows], total


def _pg_lexeme(term: str) -> str:
    # Quoted (quote doubled, backslash escaped), so nothing in it reads as tsquery syntax.
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


async def list_entries(
    session: AsyncSession, filters: Filters, *, limit: int, offset: int
) -> tuple[list[KnowledgeEntry], int]:
    """Entries without a query: newest change first."""
    return await repository.list_entries(session, filters, limit=limit, offset=offset)


async def pages_by_id(
    session: AsyncSession, filters: Filters, *, page_size: int
) -> AsyncIterator[list[KnowledgeEntry]]:
    """Every matching entry in id order, one page at a time (for exports of any size)."""
    # Keyset paging: each page starts after the last id seen, so entries written meanwhile are
    # neither skipped nor repeated, and a deep page costs what the first one does.
    last_id = 0
    while True:
        page = await repository.entries_after(session, filters, after_id=last_id, limit=page_size)
        if page:
            yield page
        if len(page) < page_size:
            return
        last_id = page[-1].id

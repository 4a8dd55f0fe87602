"""The API's views of knowledge entries, shared by the endpoints and the CLI (no FastAPI)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from awoooi.knowledge.schemas import SearchHit

if TYPE_CHECKING:
    from awoooi.knowledge.models import KnowledgeEntry


def hit_from_entry(entry: KnowledgeEntry, snippet: str = "", rank: float = 0.0) -> SearchHit:
    """A search hit for an entry."""
    return SearchHit(
        id=entry.id,
        uid=entry.uid,
        title=entry.title,
        entry_type=entry.entry_type,
        status=entry.status,
        tags=entry.tags,
        services=entry.services,
        symptoms_hash=entry.symptoms_hash,
        snippet=snippet or entry.content[:200],
        rank=rank,
        updated_at=entry.updated_at,
    )

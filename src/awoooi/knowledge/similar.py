"""Knowledge that may help with an incident: same symptoms first, then similar text."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.incidents.models import Incident
from awoooi.knowledge import repository, search
from awoooi.knowledge.models import EntryStatus

LIVE_STATUSES = (EntryStatus.DRAFT, EntryStatus.PUBLISHED)


async def similar_entries(
    session: AsyncSession, incident: Incident, *, limit: int = 10
) -> list[search.Hit]:
    """Live entries with the incident's symptoms_hash, then text matches on its signal/title."""
    exact = await repository.with_symptoms(
        session, incident.symptoms_hash, statuses=LIVE_STATUSES, limit=limit
    )
    hits = [search.Hit(entry, entry.content[:200], 1.0e9) for entry in exact]
    room = limit - len(hits)
    if room <= 0:
        return hits
    signature = str(incident.symptoms.get("error_signature", ""))
    words = " ".join([str(incident.symptoms.get("signal", "")), incident.title, signature])
    seen = {entry.id for entry in exact}
    for status in LIVE_STATUSES:
        found, _ = await search.search(
            session,
            words,
            search.Filters(status=status),
            limit=room + len(seen),
            offset=0,
            any_term=True,
        )
        for hit in found:
            if hit.entry.id not in seen and len(hits) < limit:
                hits.append(hit)
                seen.add(hit.entry.id)
    return hits

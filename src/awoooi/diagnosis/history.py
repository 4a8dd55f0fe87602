"""What awoooi already knows about these symptoms, as diagnosis evidence: published runbooks
and anti-patterns for the same symptoms hash, then how earlier incidents like it ended."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.diagnosis.evidence import ExtraEvidence
from awoooi.diagnosis.model import Target
from awoooi.incidents import service as incidents
from awoooi.incidents.models import Incident, IncidentEvent
from awoooi.knowledge import service as knowledge

MAX_ENTRY_CHARS = 400


class KnowledgeEvidence:
    """Published knowledge for the incident's symptoms hash."""

    def __init__(self, session: AsyncSession, incident: Incident) -> None:
        self._session = session
        self._incident = incident

    async def evidence(self, target: Target, labels: Mapping[str, str]) -> Sequence[ExtraEvidence]:
        """Each published runbook or anti-patterns for these symptoms, its opening lines."""
        entries = await knowledge.published_for_symptoms(
            self._session, self._incident.symptoms_hash
        )
        found = []
        for entry in entries:
            text = " ".join(entry.content.split())
            if len(text) > MAX_ENTRY_CHARS:
                text = text[: MAX_ENTRY_CHARS - 1] + "…"
            published = f"{entry.published_at:%Y-%m-%d}" if entry.published_at else "-"
            found.append(
                ExtraEvidence(
                    "knowledge",
                    f"{entry.entry_type} #{entry.id} {entry.title!r} (published {published}, "
                    f"same symptoms {entry.symptoms_hash}): {text}",
                )
            )
        return found


def _ending(events: Sequence[IncidentEvent]) -> str:
    """How an incident ended, from its timeline: the last repair outcome and who resolved it."""
    parts = []
    for event in events:
        detail = event.detail or {}
        if event.event == "repair_succeeded":
            parts.append(f"repair {detail.get('playbook')} succeeded")
        elif event.event == "repair_failed":
            parts.append(f"repair {detail.get('playbook')} failed")
        elif event.event == "repair_interrupted":
            parts.append(f"repair {detail.get('playbook')} interrupted by a restart")
        elif event.event == "diagnosis" and detail.get("cause"):
            parts.append(f"diagnosed {detail.get('cause')}")
        elif event.to_status == "resolved":
            parts.append(f"resolved by {event.actor}")
    return "; ".join(dict.fromkeys(parts)) or "resolved"


class IncidentHistory:
    """Resolved incidents with the same symptoms, and how each ended."""

    def __init__(self, session: AsyncSession, incident: Incident) -> None:
        self._session = session
        self._incident = incident

    async def evidence(self, target: Target, labels: Mapping[str, str]) -> Sequence[ExtraEvidence]:
        """One line per similar resolved incident."""
        earlier = await incidents.resolved_like(self._session, self._incident)
        if not earlier:
            return []
        lines = [
            f"{incident.human_id} ({incident.first_seen:%Y-%m-%d}): {incident.title}: "
            f"{_ending(incident.events)}"
            for incident in earlier
        ]
        return [ExtraEvidence("history", "similar resolved incidents:\n" + "\n".join(lines))]

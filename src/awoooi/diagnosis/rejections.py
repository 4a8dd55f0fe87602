"""Telling a human that an incident's diagnosis was rejected (no local model could answer).

When a repair decision follows the diagnosis, the decision tells: an incident whose diagnosis was
rejected and whose repair was blocked or not found is escalated in ONE notification saying both
(`repair.notices.escalated`); otherwise the rejection is told on its own. The stored diagnosis
remembers whether a human was told, so a retry or a later decision never tells twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.diagnosis import repository
from awoooi.diagnosis.model import Target
from awoooi.diagnosis.models import DiagnosisRecord
from awoooi.incidents.models import Incident
from awoooi.incidents.notices import notify_incident
from awoooi.notify.base import Severity
from awoooi.notify.routing import ChannelChoice

REJECTION_KIND = "ai.rejected"
DEFAULT_HEADLINE = "diagnose rejected: no local model available"
# Findings a rejection notice names (all are stored with the diagnosis).
SHOWN_FINDINGS = 3


def rejection_of(
    error: str | None, attempts: list[dict[str, Any]], *, told: bool
) -> dict[str, Any]:
    """What a diagnosis stores about its rejected model call (`answer["rejected"]`): the
    router's error, its headline, each provider's reason, and whether a human was told."""
    # The router's error reads "diagnose rejected: no local model available: <each reason>".
    headline = ": ".join((error or DEFAULT_HEADLINE).split(": ")[:2])
    return {"error": error, "headline": headline, "attempts": attempts, "told": told}


async def untold_rejection(session: AsyncSession, incident: Incident) -> DiagnosisRecord | None:
    """The incident's latest diagnosis when its model call was rejected and no human was told."""
    record = await repository.latest_for(session, incident.id)
    if record is None:
        return None
    rejected = record.answer.get("rejected")
    if not isinstance(rejected, dict) or rejected.get("told", True):
        return None
    return record


def mark_told(record: DiagnosisRecord) -> None:
    """Remember that a human was told about the rejection (in the caller's transaction)."""
    rejected = dict(record.answer.get("rejected") or {})
    # A new dict: the JSON column notices a replaced value, not an edit in place.
    record.answer = {**record.answer, "rejected": {**rejected, "told": True}}


def rejection_headline(record: DiagnosisRecord) -> str:
    """`diagnose rejected: no local model available`, as the router said it."""
    rejected = record.answer.get("rejected") or {}
    return str(rejected.get("headline") or DEFAULT_HEADLINE)


def rejection_lines(record: DiagnosisRecord) -> list[str]:
    """What a human reads about a rejected diagnosis: each provider's reason (never the
    prompt), the target and what the rules found meanwhile."""
    rejected = record.answer.get("rejected") or {}
    lines = [f"Diagnosis: {rejection_headline(record)}; every provider in the chain failed:"]
    attempts = rejected.get("attempts") or []
    lines += [f"- {a.get('provider')}: {a.get('reason')}" for a in attempts] or [
        "- (the chain is empty)"
    ]
    target = Target(record.target_kind, record.target_namespace, record.target_name)
    lines.append(f"Target: {target}")
    findings = record.findings[:SHOWN_FINDINGS]
    lines += [
        f"Finding: {f.get('cause')} ({float(f.get('confidence') or 0):.2f}): {f.get('summary')}"
        for f in findings
    ] or ["Finding: none of the rules named a cause"]
    return lines


async def notify_rejection(
    session: AsyncSession,
    incident: Incident,
    record: DiagnosisRecord,
    *,
    channels: ChannelChoice,
    public_url: str,
) -> None:
    """Tell a human that the incident's diagnosis was rejected (once), naming the incident."""
    await notify_incident(
        session,
        incident,
        public_url=public_url,
        kind=REJECTION_KIND,
        title=rejection_headline(record),
        lines=rejection_lines(record),
        channels=channels,
        severity=Severity.HIGH,
    )
    mark_told(record)

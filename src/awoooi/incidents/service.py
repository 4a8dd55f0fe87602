"""Incident life cycle: ingestion with dedup and grouping, status changes, the timeline."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.core.after_commit import after_commit
from awoooi.core.audit import Caller, record_audit
from awoooi.core.db import utcnow
from awoooi.core.errors import ConflictError, NotFoundError
from awoooi.core.locks import lock_names
from awoooi.core.metrics import ALERTS_DEDUPLICATED, ALERTS_RECEIVED, INCIDENTS_OPENED
from awoooi.incidents import repository
from awoooi.incidents.alerts import Alert
from awoooi.incidents.models import (
    AlertStatus,
    Incident,
    IncidentAlert,
    IncidentEvent,
    IncidentStatus,
)
from awoooi.incidents.places import storm_lock_names
from awoooi.incidents.severity import map_severity, most_severe
from awoooi.symptoms import SymptomPattern, SymptomSettings, pattern_from_alert

MAX_TITLE_CHARS = 512

# Which status may follow which; resolved is final (a new alert opens a new incident).
TRANSITIONS: dict[IncidentStatus, frozenset[IncidentStatus]] = {
    IncidentStatus.OPEN: frozenset(
        {
            IncidentStatus.DIAGNOSING,
            IncidentStatus.REPAIRING,
            IncidentStatus.RESOLVED,
            IncidentStatus.ESCALATED,
        }
    ),
    IncidentStatus.DIAGNOSING: frozenset(
        {
            IncidentStatus.REPAIRING,
            IncidentStatus.RESOLVED,
            IncidentStatus.ESCALATED,
            IncidentStatus.OPEN,
        }
    ),
    IncidentStatus.REPAIRING: frozenset(
        {IncidentStatus.RESOLVED, IncidentStatus.ESCALATED, IncidentStatus.OPEN}
    ),
    IncidentStatus.ESCALATED: frozenset({IncidentStatus.RESOLVED}),
    IncidentStatus.RESOLVED: frozenset(),
}


@dataclass
class IngestOutcome:
    """What one ingestion call did."""

    incidents: list[str] = field(default_factory=list)
    alerts: int = 0
    opened: int = 0
    deduplicated: int = 0
    resolved: int = 0
    ignored: int = 0
    # What the metrics count once the transaction committed: (source, status) per alert,
    # the severity of each incident opened, the reason of each deduplication.
    received: list[tuple[str, str]] = field(default_factory=list)
    opened_severities: list[str] = field(default_factory=list)
    dedup_reasons: list[str] = field(default_factory=list)

    def touched(self, incident: Incident) -> None:
        """Remember an incident this call created or changed (once, in order)."""
        if incident.human_id not in self.incidents:
            self.incidents.append(incident.human_id)

    def count(self) -> None:
        """Add this call's alerts, deduplications and openings to the metrics."""
        for source, status in self.received:
            ALERTS_RECEIVED.labels(source=source, status=status).inc()
        for reason in self.dedup_reasons:
            ALERTS_DEDUPLICATED.labels(reason=reason).inc()
        for severity in self.opened_severities:
            INCIDENTS_OPENED.labels(severity=severity).inc()


def format_human_id(day: str, number: int) -> str:
    """INC-YYYYMMDD-NNNN (more digits past 9999)."""
    return f"INC-{day}-{number:04d}"


def _title(alert: Alert, pattern: SymptomPattern) -> str:
    summary = alert.annotations.get("summary") or alert.annotations.get("message")
    base = summary.strip() if summary else alert.name or pattern.signal
    where = "/".join(part for part in (pattern.namespace, ",".join(pattern.services)) if part)
    title = f"{base} ({where})" if where and where not in base else base
    return title[:MAX_TITLE_CHARS]


def add_event(
    session: AsyncSession,
    incident: Incident,
    *,
    actor: str,
    event: str,
    from_status: str | None = None,
    to_status: str | None = None,
    detail: dict[str, Any] | None = None,
) -> IncidentEvent:
    """Append a timeline entry to an incident (in the caller's transaction)."""
    entry = IncidentEvent(
        incident_id=incident.id,
        at=utcnow(),
        actor=actor[:128],
        event=event,
        from_status=from_status,
        to_status=to_status,
        detail=detail or {},
    )
    session.add(entry)
    return entry


OpenedHook = Callable[[AsyncSession, Incident], Awaitable[None]]


class IncidentIngestor:
    """Turns alerts into incidents: one open incident per fingerprint, grouped by symptoms."""

    def __init__(
        self,
        symptoms: SymptomSettings,
        group_window: timedelta,
        *,
        on_opened: OpenedHook | None = None,
    ) -> None:
        self._symptoms = symptoms
        self._group_window = group_window
        self._on_opened = on_opened

    async def ingest(
        self, session: AsyncSession, alerts: Sequence[Alert], *, actor: str
    ) -> IngestOutcome:
        """Apply a batch of alerts in the caller's transaction (all or nothing); the metrics
        count it once that transaction commits."""
        outcome = IngestOutcome(alerts=len(alerts))
        patterns = [pattern_from_alert(a.labels, a.annotations, self._symptoms) for a in alerts]
        hashes = [pattern.compute_hash() for pattern in patterns]
        # Concurrent deliveries of the same alert or symptoms must not open two incidents.
        # Storms (incidents/storms.py) lock each namespace and node here too, before anything is
        # read: one sorted pass, so two payloads never wait on each other's locks in a circle.
        await lock_names(
            session,
            [f"alert:{a.fingerprint}" for a in alerts]
            + [f"symptoms:{h}" for h in hashes]
            + storm_lock_names(a.labels for a in alerts if a.status == AlertStatus.FIRING),
        )
        seen: set[tuple[str, str]] = set()
        for alert, pattern, symptoms_hash in zip(alerts, patterns, hashes, strict=True):
            outcome.received.append((alert.source, alert.status))
            if (alert.fingerprint, alert.status) in seen:
                outcome.deduplicated += 1
                continue
            seen.add((alert.fingerprint, alert.status))
            if alert.status == AlertStatus.FIRING:
                await self._firing(session, alert, pattern, symptoms_hash, actor, outcome)
            else:
                await self._resolved(session, alert, actor, outcome)
        await session.flush()
        after_commit(session, outcome.count)
        return outcome

    async def _firing(
        self,
        session: AsyncSession,
        alert: Alert,
        pattern: SymptomPattern,
        symptoms_hash: str,
        actor: str,
        outcome: IngestOutcome,
    ) -> None:
        now = utcnow()
        known = await repository.active_alert(session, alert.fingerprint)
        if known is not None:
            incident = await session.get_one(Incident, known.incident_id)
            if known.status == AlertStatus.FIRING and known.starts_at == alert.starts_at:
                # A redelivery (Alertmanager repeats firing alerts): nothing new happened.
                self._deduplicated(outcome, incident, "redelivery")
                return
            known.status = AlertStatus.FIRING
            known.starts_at = alert.starts_at
            known.ends_at = None
            known.received_count += 1
            known.last_received_at = now
            self._joined(session, incident, alert, pattern, actor, now, "alert_refired")
            self._deduplicated(outcome, incident, "refired")
            return
        grouped = await repository.incident_for_grouping(
            session, symptoms_hash, now - self._group_window
        )
        if grouped is not None:
            self._attach(session, grouped, alert, now)
            self._joined(session, grouped, alert, pattern, actor, now, "alert_grouped")
            self._deduplicated(outcome, grouped, "same_symptoms")
            return
        opened = await self._open(session, alert, pattern, symptoms_hash, actor, now)
        outcome.opened += 1
        outcome.opened_severities.append(opened.severity)
        outcome.touched(opened)

    async def _open(
        self,
        session: AsyncSession,
        alert: Alert,
        pattern: SymptomPattern,
        symptoms_hash: str,
        actor: str,
        now: datetime,
    ) -> Incident:
        day = now.strftime("%Y%m%d")
        number = await repository.next_day_number(session, day)
        incident = Incident(
            human_id=format_human_id(day, number),
            title=_title(alert, pattern),
            severity=map_severity(alert.labels.get("severity")),
            status=IncidentStatus.OPEN,
            affected_services=list(pattern.services),
            namespace=pattern.namespace[:253] if pattern.namespace else None,
            labels=dict(alert.labels),
            annotations=dict(alert.annotations),
            symptoms=pattern.model_dump(mode="json"),
            symptoms_hash=symptoms_hash,
            source=alert.source,
            occurrences=1,
            first_seen=now,
            last_seen=now,
            created_at=now,
            updated_at=now,
        )
        session.add(incident)
        await session.flush()
        self._attach(session, incident, alert, now)
        add_event(
            session,
            incident,
            actor=actor,
            event="opened",
            to_status=IncidentStatus.OPEN,
            detail={"fingerprint": alert.fingerprint, "alertname": alert.name},
        )
        if self._on_opened is not None:
            await self._on_opened(session, incident)  # e.g. queue its diagnosis, same transaction
        return incident

    @staticmethod
    def _attach(session: AsyncSession, incident: Incident, alert: Alert, now: datetime) -> None:
        session.add(
            IncidentAlert(
                incident_id=incident.id,
                fingerprint=alert.fingerprint,
                status=AlertStatus.FIRING,
                starts_at=alert.starts_at,
                ends_at=None,
                labels=dict(alert.labels),
                generator_url=alert.generator_url,
                received_count=1,
                first_received_at=now,
                last_received_at=now,
            )
        )

    def _joined(
        self,
        session: AsyncSession,
        incident: Incident,
        alert: Alert,
        pattern: SymptomPattern,
        actor: str,
        now: datetime,
        event: str,
    ) -> None:
        """An alert (again) part of an existing incident: count it and put it on the timeline."""
        self._seen_again(incident, alert, pattern, now)
        add_event(
            session,
            incident,
            actor=actor,
            event=event,
            detail={"fingerprint": alert.fingerprint, "alertname": alert.name},
        )

    @staticmethod
    def _deduplicated(outcome: IngestOutcome, incident: Incident, reason: str) -> None:
        outcome.deduplicated += 1
        outcome.dedup_reasons.append(reason)
        outcome.touched(incident)

    @staticmethod
    def _seen_again(
        incident: Incident, alert: Alert, pattern: SymptomPattern, now: datetime
    ) -> None:
        incident.occurrences += 1
        incident.last_seen = now
        incident.updated_at = now
        merged = sorted(set(incident.affected_services) | set(pattern.services))
        if merged != incident.affected_services:
            incident.affected_services = merged
        severity = most_severe(
            map_severity(incident.severity), map_severity(alert.labels.get("severity"))
        )
        incident.severity = severity

    async def _resolved(
        self, session: AsyncSession, alert: Alert, actor: str, outcome: IngestOutcome
    ) -> None:
        known = await repository.active_alert(session, alert.fingerprint)
        if known is None:
            outcome.ignored += 1  # resolved before we saw it fire, or already resolved
            return
        incident = await session.get_one(Incident, known.incident_id)
        if known.status == AlertStatus.RESOLVED:
            self._deduplicated(outcome, incident, "redelivery")
            return
        outcome.touched(incident)
        now = utcnow()
        known.status = AlertStatus.RESOLVED
        known.ends_at = alert.ends_at or now
        known.last_received_at = now
        await session.flush()
        remaining = [
            a
            for a in await repository.alerts_of(session, incident.id)
            if a.status == AlertStatus.FIRING
        ]
        if remaining:
            add_event(
                session,
                incident,
                actor=actor,
                event="alert_resolved",
                detail={"fingerprint": alert.fingerprint, "still_firing": len(remaining)},
            )
            return
        change_status(
            session,
            incident,
            IncidentStatus.RESOLVED,
            actor=actor,
            reason="all alerts resolved",
        )
        outcome.resolved += 1
        await resolve_parent_when_done(session, incident, actor=actor)  # storms (issue 17)


def change_status(
    session: AsyncSession,
    incident: Incident,
    to: IncidentStatus,
    *,
    actor: str,
    reason: str | None = None,
) -> None:
    """Move an incident to `to` if the life cycle allows it, and record it on the timeline."""
    current = incident.status
    if to not in TRANSITIONS[current]:
        raise ConflictError(
            f"incident {incident.human_id} is {current.value}; cannot become {to.value}"
        )
    now = utcnow()
    incident.status = to
    incident.updated_at = now
    if to is IncidentStatus.RESOLVED:
        incident.resolved_at = now
    add_event(
        session,
        incident,
        actor=actor,
        event="status_changed",
        from_status=current,
        to_status=to,
        detail={"reason": reason} if reason else {},
    )


async def resolve_parent_when_done(
    session: AsyncSession, incident: Incident, *, actor: str
) -> None:
    """A resolved child's parent (its storm) resolves with the last of its children."""
    if incident.parent_id is None or incident.status is not IncidentStatus.RESOLVED:
        return
    await session.flush()
    if await repository.count_children(session, incident.parent_id, unresolved_only=True):
        return
    parent = await repository.get_by_id(session, incident.parent_id)
    if parent is None or parent.status is IncidentStatus.RESOLVED:
        return
    change_status(
        session, parent, IncidentStatus.RESOLVED, actor=actor, reason="all its incidents resolved"
    )


async def set_status(
    session: AsyncSession,
    human_id: str,
    to: IncidentStatus,
    *,
    caller: Caller,
    reason: str | None = None,
) -> Incident:
    """Change an incident's status by its human id (resolve, escalate ...), audited."""
    incident = await repository.get_by_human_id(session, human_id)
    if incident is None:
        raise NotFoundError(f"no incident {human_id}")
    await lock_names(session, [f"incident:{incident.id}"])
    await session.refresh(incident)
    change_status(session, incident, to, actor=caller.actor, reason=reason)
    await resolve_parent_when_done(session, incident, actor=caller.actor)  # storms (issue 17)
    await session.flush()
    await record_audit(
        session,
        caller,
        action=f"incident.{to.value}",
        target=f"incident:{human_id}",
        detail={"reason": reason} if reason else {},
    )
    return incident


# ---------------------------------------------------------------- reads for other domains


async def get_incident(
    session: AsyncSession, incident_id: int, *, with_timeline: bool = False
) -> Incident | None:
    """An incident by its id (with its alerts and timeline when asked)."""
    if with_timeline:
        return await repository.get_by_id_with_timeline(session, incident_id)
    return await repository.get_by_id(session, incident_id)


async def find_incident(session: AsyncSession, human_id: str) -> Incident | None:
    """An incident by its human id (INC-YYYYMMDD-NNNN)."""
    return await repository.get_by_human_id(session, human_id)


async def firing_alerts(session: AsyncSession, incident_id: int) -> int:
    """How many of the incident's alerts still fire."""
    return await repository.firing_count(session, incident_id)


async def resolved_like(
    session: AsyncSession, incident: Incident, *, limit: int = 3
) -> list[Incident]:
    """Earlier incidents with the same symptoms that were resolved, newest first (timelines
    loaded): how they ended is evidence for this one."""
    return await repository.resolved_with_symptoms(
        session, incident.symptoms_hash, exclude_id=incident.id, limit=limit
    )

"""Incident life cycle: ingestion with dedup and grouping, status changes, the timeline.

open -> diagnosing -> repairing | awaiting_approval | escalated -> resolved. Every change of
status is made here (`change_status`, or `advance` for an automatic step), with its timeline
entry and its audit record in the caller's transaction.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from awoooi.core.after_commit import after_commit
from awoooi.core.audit import Caller, Door, add_audit, record_audit
from awoooi.core.db import utcnow
from awoooi.core.errors import ConflictError, NotFoundError
from awoooi.core.locks import lock_names
from awoooi.core.metrics import ALERTS_DEDUPLICATED, ALERTS_RECEIVED, INCIDENTS_OPENED
from awoooi.core.redact import redact
from awoooi.incidents import repository
from awoooi.incidents.alerts import Alert
from awoooi.incidents.models import (
    ACTIVE_STATUSES,
    AlertStatus,
    Incident,
    IncidentAlert,
    IncidentEvent,
    IncidentStatus,
)
from awoooi.incidents.places import storm_lock_names
from awoooi.incidents.redaction import redact_alerts
from awoooi.incidents.severity import map_severity, most_severe
from awoooi.symptoms import SymptomPattern, SymptomSettings, pattern_from_alert

MAX_TITLE_CHARS = 512

# Which status may follow which. `open` is also where an incident waits for a person with no
# automatic step ahead (diagnosed without a repair, a repair done while alerts still fire, an
# approval that expired); `escalated` is handed to humans and only resolves; resolved is final
# (a new alert opens a new incident).
_S = IncidentStatus
TRANSITIONS: dict[IncidentStatus, frozenset[IncidentStatus]] = {
    _S.OPEN: frozenset(
        {_S.DIAGNOSING, _S.REPAIRING, _S.AWAITING_APPROVAL, _S.ESCALATED, _S.RESOLVED}
    ),
    _S.DIAGNOSING: frozenset(
        {_S.OPEN, _S.REPAIRING, _S.AWAITING_APPROVAL, _S.ESCALATED, _S.RESOLVED}
    ),
    _S.REPAIRING: frozenset({_S.OPEN, _S.ESCALATED, _S.RESOLVED}),
    _S.AWAITING_APPROVAL: frozenset({_S.OPEN, _S.REPAIRING, _S.ESCALATED, _S.RESOLVED}),
    _S.ESCALATED: frozenset({_S.RESOLVED}),
    _S.RESOLVED: frozenset(),
}
STATUS_EVENT = "status_changed"


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
        count it once that transaction commits. `actor` is the sender's token name (alerts
        arrive through the API)."""
        # Before anything is computed or stored: secrets never reach the database.
        alerts = redact_alerts(alerts)
        outcome = IngestOutcome(alerts=len(alerts))
        patterns = [pattern_from_alert(a.labels, a.annotations, self._symptoms) for a in alerts]
        hashes = [pattern.compute_hash() for pattern in patterns]
        # Concurrent deliveries of the same alert or symptoms must not open two incidents, and
        # storms (incidents/storms.py) lock each namespace and node. One call takes every name
        # in one stable order, so payloads sharing names never deadlock.
        await lock_names(
            session,
            [f"alert:{a.fingerprint}" for a in alerts]
            + [f"symptoms:{h}" for h in hashes]
            + storm_lock_names(a.labels for a in alerts if a.status == AlertStatus.FIRING),
        )
        batch = await _Batch.load(
            session, alerts, hashes, seen_since=utcnow() - self._group_window, actor=actor
        )
        seen: set[tuple[str, str]] = set()
        for alert, pattern, symptoms_hash in zip(alerts, patterns, hashes, strict=True):
            outcome.received.append((alert.source, alert.status))
            if (alert.fingerprint, alert.status) in seen:
                outcome.deduplicated += 1
                continue
            seen.add((alert.fingerprint, alert.status))
            if alert.status == AlertStatus.FIRING:
                batch.firing(alert, pattern, symptoms_hash, self._group_window, outcome)
            else:
                await batch.resolved(alert, outcome)
        for incident in await batch.write():
            if self._on_opened is not None:
                await self._on_opened(session, incident)  # e.g. queue its diagnosis
        caller = Caller(actor, Door.API)
        for incident in batch.resolved_incidents:
            await resolve_parent_when_done(session, incident, caller=caller)  # storms
        await session.flush()
        outcome.incidents = [incident.human_id for incident in batch.touched]
        after_commit(session, outcome.count)
        return outcome


@dataclass
class _Entry:
    """A timeline entry decided before its incident has an id."""

    incident: Incident
    at: datetime
    event: str
    detail: dict[str, Any]
    from_status: IncidentStatus | None = None
    to_status: IncidentStatus | None = None


@dataclass
class _Batch:
    """One ingestion call: every row it needs read up front, every decision made in memory in
    the alerts' order, then everything written with one flush."""

    session: AsyncSession
    actor: str
    # Per fingerprint, its alert row on an unresolved incident (and that incident).
    known: dict[str, tuple[AlertRow, Incident]]
    # Per symptoms hash, the unresolved incidents a firing alert may join.
    candidates: dict[str, list[Incident]]
    # Alert rows per incident, loaded where a resolution must count the ones still firing.
    stored_alerts: dict[Incident, list[AlertRow]]
    opened: list[Incident] = field(default_factory=list)
    new_alerts: list[tuple[_NewAlert, Incident]] = field(default_factory=list)
    entries: list[_Entry] = field(default_factory=list)
    touched_once: dict[Incident, None] = field(default_factory=dict)
    resolved_incidents: list[Incident] = field(default_factory=list)
    # Stored incidents whose counters this batch changed (written by one UPDATE).
    seen_again: dict[Incident, None] = field(default_factory=dict)
    # Status changes made, audited with the batch's write.
    changes: list[tuple[Incident, StatusChange]] = field(default_factory=list)

    @classmethod
    async def load(
        cls,
        session: AsyncSession,
        alerts: Sequence[Alert],
        hashes: Sequence[str],
        *,
        seen_since: datetime,
        actor: str,
    ) -> _Batch:
        """Read what the alerts may touch: three queries whatever the batch's size."""
        rows = await repository.active_alerts(session, (a.fingerprint for a in alerts))
        incidents = await repository.incidents_by_id(
            session, {row.incident_id for row in rows.values()}
        )
        firing = {h for a, h in zip(alerts, hashes, strict=True) if a.status == AlertStatus.FIRING}
        candidates = await repository.groupable_incidents(session, firing, seen_since)
        resolving = {
            rows[a.fingerprint].incident_id
            for a in alerts
            if a.status != AlertStatus.FIRING and a.fingerprint in rows
        }
        # PostgreSQL: the job worker changes an incident's status without these alerts' locks;
        # a resolution must start from its committed status (SQLite's write lock, taken
        # before the first read, already keeps it out).
        await repository.lock_for_change(session, resolving)
        stored = await repository.alerts_of_incidents(session, resolving)
        return cls(
            session=session,
            actor=actor,
            known={fp: (row, incidents[row.incident_id]) for fp, row in rows.items()},
            candidates=candidates,
            stored_alerts={incidents[i]: list(stored.get(i, [])) for i in resolving},
        )

    @property
    def touched(self) -> list[Incident]:
        """The incidents this call created or changed, in the order it first touched them."""
        return list(self.touched_once)

    def firing(
        self,
        alert: Alert,
        pattern: SymptomPattern,
        symptoms_hash: str,
        window: timedelta,
        outcome: IngestOutcome,
    ) -> None:
        """A firing alert: a redelivery, a refiring, a member of a group, or a new incident."""
        now = utcnow()
        known = self._active(alert.fingerprint)
        if known is not None:
            row, incident = known
            if row.status == AlertStatus.FIRING and row.starts_at == alert.starts_at:
                # A redelivery (Alertmanager repeats firing alerts): nothing new happened.
                self._deduplicated(outcome, incident, "redelivery")
                return
            row.status = AlertStatus.FIRING
            row.starts_at = alert.starts_at
            row.ends_at = None
            row.received_count += 1
            row.last_received_at = now
            self._joined(incident, alert, pattern, now, "alert_refired")
            self._deduplicated(outcome, incident, "refired")
            return
        grouped = self._group(symptoms_hash, now - window)
        if grouped is not None:
            self._attach(grouped, alert, now)
            self._joined(grouped, alert, pattern, now, "alert_grouped")
            self._deduplicated(outcome, grouped, "same_symptoms")
            return
        opened = self._open(alert, pattern, symptoms_hash, now)
        outcome.opened += 1
        outcome.opened_severities.append(opened.severity)

    async def resolved(self, alert: Alert, outcome: IngestOutcome) -> None:
        """A resolved alert: the incident resolves with the last of its firing alerts."""
        known = self._active(alert.fingerprint)
        if known is None:
            outcome.ignored += 1  # resolved before we saw it fire, or already resolved
            return
        row, incident = known
        if row.status == AlertStatus.RESOLVED:
            self._deduplicated(outcome, incident, "redelivery")
            return
        self.touched_once.setdefault(incident)
        now = utcnow()
        row.status = AlertStatus.RESOLVED
        row.ends_at = alert.ends_at or now
        row.last_received_at = now
        remaining = [a for a in await self._alerts_of(incident) if a.status == AlertStatus.FIRING]
        if remaining:
            detail = {"fingerprint": alert.fingerprint, "still_firing": len(remaining)}
            self.entries.append(_Entry(incident, now, "alert_resolved", detail))
            return
        change = transition(incident, IncidentStatus.RESOLVED, reason="all alerts resolved")
        self.entries.append(
            _Entry(
                incident,
                utcnow(),
                STATUS_EVENT,
                change.detail,
                from_status=change.from_status,
                to_status=change.to_status,
            )
        )
        self.changes.append((incident, change))
        self.resolved_incidents.append(incident)
        outcome.resolved += 1

    async def write(self) -> list[Incident]:
        """Store what the batch decided (numbers taken once, one flush); the incidents opened."""
        session = self.session
        if self.opened:
            day = self.opened[0].created_at.strftime("%Y%m%d")
            first = await repository.take_day_numbers(session, day, len(self.opened))
            for offset, incident in enumerate(self.opened):
                incident.human_id = format_human_id(day, first + offset)
            session.add_all(self.opened)
            await session.flush()  # the new incidents' ids, for their alerts and timelines
        # Core inserts: SQLite cannot hand back the ids of a many-row INSERT in order, so the
        # ORM would send one INSERT per row; nothing here needs the new rows' ids.
        await repository.insert_alerts(
            session, [_alert_values(row, incident) for row, incident in self.new_alerts]
        )
        await repository.update_counters(session, [_counters(i) for i in self.seen_again])
        await repository.insert_events(
            session,
            [
                {
                    "incident_id": entry.incident.id,
                    "at": entry.at,
                    "actor": self.actor[:128],
                    "event": entry.event,
                    "from_status": entry.from_status,
                    "to_status": entry.to_status,
                    "detail": entry.detail,
                }
                for entry in self.entries
            ],
        )
        caller = Caller(self.actor, Door.API)
        for incident, change in self.changes:
            add_audit(session, caller, **status_audit(incident, change))
        await session.flush()
        return self.opened

    def _active(self, fingerprint: str) -> tuple[AlertRow, Incident] | None:
        # An incident this batch resolved no longer holds its alerts.
        known = self.known.get(fingerprint)
        if known is None or known[1].status not in ACTIVE_STATUSES:
            return None
        return known

    def _group(self, symptoms_hash: str, seen_since: datetime) -> Incident | None:
        """The newest unresolved incident with these symptoms seen since `seen_since`."""
        live = [
            incident
            for incident in self.candidates.get(symptoms_hash, [])
            if incident.status in ACTIVE_STATUSES and incident.last_seen >= seen_since
        ]
        # Incidents opened by this batch have no id yet, and are the newest.
        return max(
            live,
            key=lambda i: (i.last_seen, i.id if i.id is not None else math.inf),
            default=None,
        )

    async def _alerts_of(self, incident: Incident) -> list[AlertRow]:
        stored = self.stored_alerts.get(incident)
        if stored is None:
            # Only an incident this batch attached the alert to before resolving it; its
            # alerts this batch attached are not in the session yet.
            with self.session.no_autoflush:
                stored = list(await repository.alerts_of(self.session, incident.id))
            self.stored_alerts[incident] = stored
        return stored + [row for row, owner in self.new_alerts if owner is incident]

    def _open(
        self, alert: Alert, pattern: SymptomPattern, symptoms_hash: str, now: datetime
    ) -> Incident:
        incident = Incident(
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
        self.opened.append(incident)
        self.candidates.setdefault(symptoms_hash, []).append(incident)
        self.touched_once.setdefault(incident)
        self.stored_alerts[incident] = []
        self._attach(incident, alert, now)
        detail = {"fingerprint": alert.fingerprint, "alertname": alert.name}
        self.entries.append(_Entry(incident, now, "opened", detail, to_status=IncidentStatus.OPEN))
        return incident

    def _attach(self, incident: Incident, alert: Alert, now: datetime) -> None:
        row = _NewAlert(
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
        self.new_alerts.append((row, incident))
        self.known[alert.fingerprint] = (row, incident)

    def _joined(
        self, incident: Incident, alert: Alert, pattern: SymptomPattern, now: datetime, event: str
    ) -> None:
        """An alert (again) part of an existing incident: count it and put it on the timeline."""
        stored = incident.id is not None
        _seen_again(incident, alert, pattern, now, stored=stored)
        if stored:
            self.seen_again.setdefault(incident)
        # Seen now, it is the newest incident with its symptoms.
        group = self.candidates.setdefault(incident.symptoms_hash, [])
        if incident not in group:
            group.append(incident)
        detail = {"fingerprint": alert.fingerprint, "alertname": alert.name}
        self.entries.append(_Entry(incident, now, event, detail))

    def _deduplicated(self, outcome: IngestOutcome, incident: Incident, reason: str) -> None:
        outcome.deduplicated += 1
        outcome.dedup_reasons.append(reason)
        self.touched_once.setdefault(incident)


@dataclass(slots=True)
class _NewAlert:
    """An alert row decided in memory, inserted with the batch (ORM objects cost more to build
    than the whole decision, and nothing here needs their identity map)."""

    fingerprint: str
    status: AlertStatus
    starts_at: datetime | None
    ends_at: datetime | None
    labels: dict[str, str]
    generator_url: str | None
    received_count: int
    first_received_at: datetime
    last_received_at: datetime


# An alert row as ingestion reads and changes it: stored, or new in this batch.
AlertRow = IncidentAlert | _NewAlert


def _alert_values(row: _NewAlert, incident: Incident) -> dict[str, Any]:
    """The column values of an alert row decided in memory."""
    return {
        "incident_id": incident.id,
        "fingerprint": row.fingerprint,
        "status": row.status,
        "starts_at": row.starts_at,
        "ends_at": row.ends_at,
        "labels": row.labels,
        "generator_url": row.generator_url,
        "received_count": row.received_count,
        "first_received_at": row.first_received_at,
        "last_received_at": row.last_received_at,
    }


def _seen_again(
    incident: Incident, alert: Alert, pattern: SymptomPattern, now: datetime, *, stored: bool
) -> None:
    # A stored incident's counters are written by one UPDATE for the whole batch
    # (`_Batch.write`), so they change without the ORM tracking them; a new one is inserted
    # with whatever it holds.
    put = set_committed_value if stored else setattr
    put(incident, "occurrences", incident.occurrences + 1)
    put(incident, "last_seen", now)
    put(incident, "updated_at", now)
    merged = sorted(set(incident.affected_services) | set(pattern.services))
    if merged != incident.affected_services:
        put(incident, "affected_services", merged)
    severity = most_severe(
        map_severity(incident.severity), map_severity(alert.labels.get("severity"))
    )
    put(incident, "severity", severity)


def _counters(incident: Incident) -> dict[str, Any]:
    """What `_seen_again` changes on a stored incident, as one row of the batch's UPDATE."""
    return {
        "id": incident.id,
        "occurrences": incident.occurrences,
        "last_seen": incident.last_seen,
        "updated_at": incident.updated_at,
        "affected_services": incident.affected_services,
        "severity": incident.severity,
    }


@dataclass(frozen=True)
class StatusChange:
    """A status change made on an incident, as its timeline entry records it."""

    from_status: IncidentStatus
    to_status: IncidentStatus
    detail: dict[str, Any]


def transition(
    incident: Incident, to: IncidentStatus, *, reason: str | None = None
) -> StatusChange:
    """Move an incident to `to` if the life cycle allows it (ConflictError otherwise)."""
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
    # A reason is typed by a person, who may paste a secret into it.
    return StatusChange(current, to, {"reason": redact(reason)} if reason else {})


def status_audit(incident: Incident, change: StatusChange) -> dict[str, Any]:
    """The audit record of a status change: `incident.<new status>` on the incident."""
    return {
        "action": f"incident.{change.to_status.value}",
        "target": f"incident:{incident.human_id}",
        "detail": {"from": change.from_status.value, **change.detail},
    }


async def change_status(
    session: AsyncSession,
    incident: Incident,
    to: IncidentStatus,
    *,
    caller: Caller,
    reason: str | None = None,
) -> StatusChange:
    """Move an incident to `to` if the life cycle allows it (ConflictError otherwise), with its
    timeline entry and audit record."""
    change = transition(incident, to, reason=reason)
    add_event(
        session,
        incident,
        actor=caller.actor,
        event=STATUS_EVENT,
        from_status=change.from_status,
        to_status=change.to_status,
        detail=change.detail,
    )
    await record_audit(session, caller, **status_audit(incident, change))
    return change


async def advance(
    session: AsyncSession,
    incident: Incident,
    to: IncidentStatus,
    *,
    caller: Caller,
    reason: str,
    only_from: IncidentStatus | None = None,
) -> StatusChange | None:
    """An automatic step of the life cycle: taken when the incident's status, as committed
    now, allows it (and is `only_from`, when given); else skipped (its alerts resolved it, a
    person or an earlier step moved it elsewhere first)."""
    await lock_current(session, incident)
    current = incident.status
    if current == to or to not in TRANSITIONS[current]:
        return None
    if only_from is not None and current != only_from:
        return None
    return await change_status(session, incident, to, caller=caller, reason=reason)


async def lock_current(session: AsyncSession, incident: Incident) -> None:
    """Lock the incident until the transaction ends and read its status as committed now: a
    job holding it since before (a diagnosis, a decision) must not write its step over a
    change made meanwhile — alerts resolving it would be lost."""
    await lock_names(session, [f"incident:{incident.id}"])
    # FOR UPDATE: on PostgreSQL ingestion changes the row without the name lock; SQLite's
    # write lock, taken just above, already keeps every other writer out.
    await session.refresh(
        incident, attribute_names=["status", "resolved_at", "updated_at"], with_for_update=True
    )


async def resolve_parent_when_done(
    session: AsyncSession, incident: Incident, *, caller: Caller
) -> None:
    """A resolved child's parent (its storm) resolves with the last of its children."""
    if incident.parent_id is None or incident.status is not IncidentStatus.RESOLVED:
        return
    await session.flush()
    if await repository.count_children(session, incident.parent_id, unresolved_only=True):
        return
    parent = await repository.get_by_id(session, incident.parent_id)
    if parent is None:
        return
    await lock_current(session, parent)
    if parent.status is IncidentStatus.RESOLVED:
        return
    await change_status(
        session, parent, IncidentStatus.RESOLVED, caller=caller, reason="all its incidents resolved"
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
    # FOR UPDATE: ingestion resolves incidents holding the row, not the name.
    await session.refresh(incident, with_for_update=True)
    await change_status(session, incident, to, caller=caller, reason=reason)
    await resolve_parent_when_done(session, incident, caller=caller)  # storms (issue 17)
    await session.flush()
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

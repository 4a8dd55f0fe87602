"""Storms: many new incidents at once in one namespace or on one node become the children of one
storm incident, which is diagnosed and notified once instead of once per child.

More than `incidents.storm_threshold` incidents opened within `incidents.storm_window`
in one place open a storm: the incident that crosses the threshold and the earlier ones of the
window become its children, and so does every new incident of that place while the storm is
unresolved and kept gaining children within the window. Children stay incidents of their own
(alerts, timeline, resolvable one by one); the storm resolves when its last child does
(`service.resolve_parent_when_done`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.incidents import repository
from awoooi.incidents.models import Incident, IncidentKind, IncidentStatus, Severity
from awoooi.incidents.notices import incident_link, notify_incident
from awoooi.incidents.places import StormScope, node_of, places
from awoooi.incidents.service import add_event, format_human_id
from awoooi.incidents.severity import most_severe
from awoooi.notify.base import Severity as NoticeSeverity
from awoooi.notify.routing import ChannelChoice

ACTOR = "awoooi:storms"
NOTIFY_KIND = "incident.storm"
# How many children a notification and the model's brief name (the API lists them all).
NAMED_CHILDREN = 20
MAX_SERVICES = 50
_KNOWN = "awoooi.storms.known"

StormHook = Callable[[AsyncSession, Incident], Awaitable[None]]


@dataclass(frozen=True)
class StormPolicy:
    """When incidents form a storm, and where its one notification goes."""

    threshold: int
    window: timedelta
    channels: ChannelChoice
    public_url: str = "http://127.0.0.1:8080"


def _known(session: AsyncSession) -> dict[tuple[StormScope, str], Incident]:
    """The storms this transaction already found, by place (forgotten with the transaction)."""
    transaction = session.sync_session.get_transaction()
    cached = session.info.get(_KNOWN)
    if cached is None or cached[0] is not transaction:
        cached = (transaction, {})
        session.info[_KNOWN] = cached
    known: dict[tuple[StormScope, str], Incident] = cached[1]
    return known


def _symptoms_hash(scope: StormScope, value: str) -> str:
    return hashlib.sha256(f"storm|{scope.value}|{value}".encode()).hexdigest()[:16]


def _where(scope: StormScope, value: str) -> str:
    return f"namespace {value}" if scope is StormScope.NAMESPACE else f"node {value}"


def _named(children: Sequence[Incident]) -> list[str]:
    return [f"{child.human_id} [{child.severity}] {child.title}" for child in children]


class StormGrouper:
    """Puts each new incident in its storm, opening the storm when the threshold is crossed."""

    def __init__(self, policy: StormPolicy, *, on_storm: StormHook | None = None) -> None:
        self.policy = policy
        self._on_storm = on_storm

    async def admit(self, session: AsyncSession, incident: Incident) -> Incident | None:
        """Record where a just-opened incident happened and make it a storm's child when its
        namespace or node is in a storm (opening one at the threshold); the storm, or None.

        The caller holds the place's storm lock (`places.storm_lock_names`), so two concurrent
        payloads never open two storms for one place.
        """
        incident.node = node_of(incident.labels or {})
        if self.policy.threshold <= 0:
            return None
        now = incident.created_at
        since = now - self.policy.window
        for scope, value in places(incident.namespace, incident.node):
            storm = await self._storm_of(session, scope, value, since)
            if storm is not None:
                # The child's timeline says it joined; the storm's lists its children.
                self._adopt(session, storm, [incident], now)
                return storm
            if await repository.count_new_in_place(session, scope, value, since) > (
                self.policy.threshold
            ):
                return await self._open(session, scope, value, since, now)
        return None

    @staticmethod
    async def _storm_of(
        session: AsyncSession, scope: StormScope, value: str, since: datetime
    ) -> Incident | None:
        """The place's active storm, remembered for the rest of the transaction: a payload of
        thousands of alerts looks it up once, and the place's lock keeps it current."""
        known = _known(session)
        storm = known.get((scope, value))
        if storm is None:
            storm = await repository.active_storm(session, scope, value, since)
            if storm is not None:
                known[(scope, value)] = storm
        return storm

    async def _open(
        self, session: AsyncSession, scope: StormScope, value: str, since: datetime, now: datetime
    ) -> Incident:
        children = await repository.new_in_place(session, scope, value, since)
        severity = Severity.INFO
        for child in children:
            severity = most_severe(severity, Severity(child.severity))
        services = sorted({s for child in children for s in child.affected_services})
        where = _where(scope, value)
        title = f"Storm: many incidents at once in {where}"
        day = now.strftime("%Y%m%d")
        storm = Incident(
            human_id=format_human_id(day, await repository.take_day_numbers(session, day, 1)),
            title=title,
            severity=severity,
            status=IncidentStatus.OPEN,
            kind=IncidentKind.STORM,
            affected_services=services[:MAX_SERVICES],
            namespace=value if scope is StormScope.NAMESPACE else None,
            node=value if scope is StormScope.NODE else None,
            labels={scope.value: value},
            annotations={
                "summary": title,
                # What the model reads about the storm: the children it started with.
                "description": f"{len(children)} incidents opened within "
                f"{self.policy.window.total_seconds() / 60:g} minutes in {where}:\n"
                + "\n".join(_named(children[:NAMED_CHILDREN])),
            },
            symptoms={"storm": scope.value, scope.value: value},
            symptoms_hash=_symptoms_hash(scope, value),
            source="awoooi",
            occurrences=0,
            first_seen=min(child.first_seen for child in children),
            last_seen=now,
            created_at=now,
            updated_at=now,
        )
        session.add(storm)
        await session.flush()
        _known(session)[(scope, value)] = storm
        self._adopt(session, storm, children, now)
        add_event(
            session,
            storm,
            actor=ACTOR,
            event="storm_opened",
            to_status=IncidentStatus.OPEN,
            detail={
                "scope": scope.value,
                "place": value,
                "threshold": self.policy.threshold,
                "window_minutes": self.policy.window.total_seconds() / 60,
                "children": [child.human_id for child in children],
            },
        )
        await self._notify(session, storm, children, where)
        if self._on_storm is not None:
            await self._on_storm(session, storm)  # e.g. queue its diagnosis, same transaction
        return storm

    @staticmethod
    def _adopt(
        session: AsyncSession, storm: Incident, children: Sequence[Incident], now: datetime
    ) -> None:
        for child in children:
            child.parent_id = storm.id
            child.updated_at = now
            add_event(
                session,
                child,
                actor=ACTOR,
                event="storm_joined",
                detail={"storm": storm.human_id, "title": storm.title},
            )
            storm.severity = most_severe(Severity(storm.severity), Severity(child.severity))
            merged = sorted(set(storm.affected_services) | set(child.affected_services))
            storm.affected_services = merged[:MAX_SERVICES]
        storm.occurrences += len(children)
        storm.last_seen = now
        storm.updated_at = now

    async def _notify(
        self, session: AsyncSession, storm: Incident, children: Sequence[Incident], where: str
    ) -> None:
        """The storm's one notification; its children are not notified one by one."""
        link = incident_link(self.policy.public_url, storm.human_id)
        more = len(children) - NAMED_CHILDREN
        lines = [
            f"{len(children)} incidents opened within "
            f"{self.policy.window.total_seconds() / 60:g} minutes in {where} "
            f"(more than incidents.storm_threshold {self.policy.threshold}).",
            "They are grouped under this storm: it is diagnosed once, new incidents there join "
            "it without a notification of their own, and their repairs wait for a human.",
            "Children:",
            *_named(children[:NAMED_CHILDREN]),
        ]
        if more > 0:
            lines.append(f"... and {more} more")
        lines.append(f"All children: {link} (awoooi incidents show {storm.human_id})")
        await notify_incident(
            session,
            storm,
            public_url=self.policy.public_url,
            kind=NOTIFY_KIND,
            title=storm.title,
            lines=lines,
            channels=self.policy.channels,
            severity=NoticeSeverity(storm.severity),
        )

"""The safety gates a repair passes, as data: one ordered list, used when a repair is decided and
again when it starts (an approval may come hours after the decision).

Each gate is one class with a `name`, the `phases` it runs in and `check(ctx) -> GateVerdict`;
adding a gate is one class and one entry in `GATES`. The first gate that blocks decides; a gate
may instead let the repair through only with a human's approval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.incidents.models import Incident, IncidentStatus
from awoooi.incidents.service import get_incident
from awoooi.knowledge.models import KnowledgeEntry
from awoooi.knowledge.service import check_anti_pattern
from awoooi.repair import repository
from awoooi.repair.models import GateName
from awoooi.repair.playbooks import RISK_ORDER, Playbook
from awoooi.repair.settings import FreezeWindow, RepairSettings

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Phase(StrEnum):
    """When the gates run: at the decision, or when a queued repair is about to start."""

    DECIDE = "decide"
    START = "start"


@dataclass(frozen=True)
class GateContext:
    """Everything a gate may look at for one repair of one incident."""

    session: AsyncSession
    phase: Phase
    now: datetime
    incident: Incident
    symptoms_hash: str
    playbook: Playbook
    target: str
    namespace: str | None
    settings: RepairSettings
    anti_pattern_days: float
    # The repair being started (START); its own row never blocks it.
    repair_id: int = 0


@dataclass(frozen=True)
class GateVerdict:
    """One gate's answer: passed (perhaps only with a human's approval), or blocked with a
    reason (and the anti-pattern that did it)."""

    gate: GateName
    passed: bool
    reason: str = ""
    anti_pattern: KnowledgeEntry | None = None
    needs_approval: bool = False

    @classmethod
    def asks_approval(cls, gate: GateName, reason: str) -> GateVerdict:
        """The repair may run, but only once a human approves it."""
        return cls(gate, True, reason, needs_approval=True)

    @classmethod
    def passes(cls, gate: GateName) -> GateVerdict:
        """The gate lets the repair through."""
        return cls(gate, True)

    @classmethod
    def blocks(
        cls, gate: GateName, reason: str, anti_pattern: KnowledgeEntry | None = None
    ) -> GateVerdict:
        """The gate stops the repair, saying why."""
        return cls(gate, False, reason, anti_pattern)


class Gate(Protocol):
    """One safety check."""

    @property
    def name(self) -> GateName:
        """The gate's name, as recorded on a blocked repair."""
        ...

    @property
    def phases(self) -> frozenset[Phase]:
        """When the gate runs."""
        ...

    async def check(self, ctx: GateContext) -> GateVerdict:
        """Pass or block this repair."""
        ...


_BOTH = frozenset({Phase.DECIDE, Phase.START})


class ResolvedGate:
    """A repair never starts for an incident resolved since the decision."""

    name = GateName.RESOLVED
    phases = frozenset({Phase.START})

    async def check(self, ctx: GateContext) -> GateVerdict:
        """Blocked when the incident is resolved."""
        if ctx.incident.status == IncidentStatus.RESOLVED:
            return GateVerdict.blocks(self.name, "the incident was resolved before the repair ran")
        return GateVerdict.passes(self.name)


class AntiPatternGate:
    """A published anti-pattern for these symptoms blocks the same fix for its window."""

    name = GateName.ANTI_PATTERN
    phases = _BOTH

    async def check(self, ctx: GateContext) -> GateVerdict:
        """Blocked when a published anti-pattern for the symptoms is younger than its window."""
        days = ctx.anti_pattern_days
        entry = await check_anti_pattern(ctx.session, ctx.symptoms_hash, days, now=ctx.now)
        if entry is None:
            return GateVerdict.passes(self.name)
        return GateVerdict.blocks(
            self.name,
            f"anti-pattern #{entry.id} {entry.title!r} (published "
            f"{entry.published_at:%Y-%m-%d %H:%M} UTC) says this fix failed for the same "
            f"symptoms ({ctx.symptoms_hash}) within {days:g} days",
            entry,
        )


class FreezeGate:
    """No repair runs inside a freeze window covering the target's namespace."""

    name = GateName.FREEZE
    phases = _BOTH

    async def check(self, ctx: GateContext) -> GateVerdict:
        """Blocked while a freeze window is on."""
        window = active_window(ctx.settings.freeze_windows, ctx.now, ctx.namespace)
        if window is None:
            return GateVerdict.passes(self.name)
        return GateVerdict.blocks(self.name, f"freeze window {window.name!r} is in effect")


class CooldownGate:
    """A target rests for the playbook's cooldown after a repair that ran on it."""

    name = GateName.COOLDOWN
    phases = _BOTH

    async def check(self, ctx: GateContext) -> GateVerdict:
        """Blocked while the last repair on the target finished less than `cooldown` ago."""
        cooldown = ctx.playbook.cooldown
        if cooldown <= 0:
            return GateVerdict.passes(self.name)
        finished = await repository.last_finished_on(ctx.session, ctx.target)
        if finished is None or ctx.now - finished >= timedelta(seconds=cooldown):
            return GateVerdict.passes(self.name)
        ready = finished + timedelta(seconds=cooldown)
        return GateVerdict.blocks(
            self.name,
            f"{ctx.target} was repaired at {finished:%H:%M:%S} UTC; "
            f"cooldown until {ready:%H:%M:%S} UTC",
        )


class RateLimitGate:
    """At most `repair.max_repairs_per_target_per_hour` repairs start on a target per hour."""

    name = GateName.RATE_LIMIT
    phases = _BOTH

    async def check(self, ctx: GateContext) -> GateVerdict:
        """Blocked when the target already had that many repairs in the last hour."""
        per_hour = ctx.settings.max_repairs_per_target_per_hour
        since = ctx.now - timedelta(hours=1)
        count = await repository.started_since(ctx.session, ctx.target, since)
        if count < per_hour:
            return GateVerdict.passes(self.name)
        return GateVerdict.blocks(
            self.name, f"{ctx.target} had {count} repairs in the last hour (max {per_hour})"
        )


class AttemptsGate:
    """A playbook runs at most `max_attempts` times for one incident (an interrupted run is
    neither a success nor a failure, and does not count)."""

    name = GateName.MAX_ATTEMPTS
    phases = _BOTH

    async def check(self, ctx: GateContext) -> GateVerdict:
        """Blocked when the playbook already ran `max_attempts` times for this incident."""
        playbook = ctx.playbook
        count = await repository.attempts(ctx.session, ctx.incident.id, playbook.id)
        if count < playbook.max_attempts:
            return GateVerdict.passes(self.name)
        return GateVerdict.blocks(
            self.name,
            f"{playbook.id} already ran {count} time(s) for this incident "
            f"(max_attempts {playbook.max_attempts})",
        )


class BusyGate:
    """One repair at a time per target."""

    name = GateName.BUSY
    phases = _BOTH

    async def check(self, ctx: GateContext) -> GateVerdict:
        """Blocked while another repair holds the target: queued or running when deciding;
        running when starting, so queued repairs go first come, first served."""
        if ctx.phase is Phase.DECIDE:
            other = await repository.busy_with(ctx.session, ctx.target, exclude_id=ctx.repair_id)
        else:
            other = await repository.running_on(ctx.session, ctx.target, exclude_id=ctx.repair_id)
        if other is None:
            return GateVerdict.passes(self.name)
        return GateVerdict.blocks(
            self.name, f"repair #{other.id} is already {other.status} on {ctx.target}"
        )


class StormChildGate:
    """An incident that is part of a storm is one symptom of something larger: repairing it on
    its own is a human's call, so an automatic repair of it waits for approval."""

    name = GateName.STORM
    phases = frozenset({Phase.DECIDE})

    async def check(self, ctx: GateContext) -> GateVerdict:
        """Asks for approval when the incident is a storm's child."""
        parent_id = ctx.incident.parent_id
        if parent_id is None:
            return GateVerdict.passes(self.name)
        storm = await get_incident(ctx.session, parent_id)
        named = storm.human_id if storm is not None else f"#{parent_id}"
        return GateVerdict.asks_approval(
            self.name,
            f"{ctx.incident.human_id} is part of storm {named}: a repair of one of a storm's "
            "incidents waits for a human",
        )


# The order is the order of the README: the first gate that says no decides.
GATES: tuple[Gate, ...] = (
    ResolvedGate(),
    AntiPatternGate(),
    FreezeGate(),
    CooldownGate(),
    RateLimitGate(),
    AttemptsGate(),
    BusyGate(),
    StormChildGate(),
)


@dataclass(frozen=True)
class GateOutcome:
    """What the gates of one phase said: the first block, else the approvals they ask for."""

    block: GateVerdict | None
    approvals: tuple[GateVerdict, ...] = ()


async def check_gates(ctx: GateContext, gates: Sequence[Gate] = GATES) -> GateOutcome:
    """Run the gates of this phase in order until one blocks."""
    approvals: list[GateVerdict] = []
    for gate in gates:
        if ctx.phase not in gate.phases:
            continue
        verdict = await gate.check(ctx)
        if not verdict.passed:
            return GateOutcome(verdict, tuple(approvals))
        if verdict.needs_approval:
            approvals.append(verdict)
    return GateOutcome(None, tuple(approvals))


async def first_block(ctx: GateContext, gates: Sequence[Gate] = GATES) -> GateVerdict | None:
    """The verdict of the first gate of this phase that blocks, or None when all pass."""
    return (await check_gates(ctx, gates)).block


def approval_reason(playbook: Playbook, settings: RepairSettings) -> str | None:
    """Why a human must approve this playbook, or None when it may run on its own."""
    if playbook.requires_approval:
        return f"{playbook.id} requires approval"
    ceiling = settings.auto_approve_max_risk
    if ceiling == "none" or RISK_ORDER[playbook.risk] > RISK_ORDER[ceiling]:
        return f"risk {playbook.risk} is above repair.auto_approve_max_risk ({ceiling})"
    return None


# ---------------------------------------------------------------- freeze windows


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(23, 59, 59, 999999) if hours == "24" else time(int(hours), int(minutes))


def in_window(window: FreezeWindow, now: datetime, namespace: str | None) -> bool:
    """True when `now` falls inside the window (and the namespace is covered)."""
    if window.namespaces and not (
        namespace and any(fnmatchcase(namespace, pattern) for pattern in window.namespaces)
    ):
        return False
    if window.start is not None and window.end is not None:
        return window.start <= now < window.end
    # Both are present on a weekly window (checked when the settings load).
    assert window.start_time is not None
    assert window.end_time is not None
    local = now.astimezone(ZoneInfo(window.timezone))
    start, end = _clock(window.start_time), _clock(window.end_time)
    day = _WEEKDAYS[local.weekday()]
    previous_day = _WEEKDAYS[(local.weekday() - 1) % 7]
    moment = local.time()
    if start <= end:
        return day in window.days and start <= moment < end
    # An overnight window (22:00-06:00) belongs to the day it starts on.
    return (day in window.days and moment >= start) or (
        previous_day in window.days and moment < end
    )


def active_window(
    windows: Sequence[FreezeWindow], now: datetime, namespace: str | None
) -> FreezeWindow | None:
    """The first freeze window in effect for this namespace now, if any."""
    for window in windows:
        if in_window(window, now, namespace):
            return window
    return None

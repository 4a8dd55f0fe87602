"""The safety gates a repair passes before it runs; each answers with a reason or None."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from fnmatch import fnmatchcase
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.knowledge.models import KnowledgeEntry
from awoooi.knowledge.service import check_anti_pattern
from awoooi.repair import repository
from awoooi.repair.playbooks import RISK_ORDER, Playbook
from awoooi.repair.settings import FreezeWindow, RepairSettings

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Blocked:
    """A gate said no: which gate, and why."""

    gate: str
    reason: str
    anti_pattern: KnowledgeEntry | None = None


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


def freeze_gate(
    windows: Sequence[FreezeWindow], now: datetime, namespace: str | None
) -> Blocked | None:
    """Blocked while a freeze window is on."""
    for window in windows:
        if in_window(window, now, namespace):
            return Blocked("freeze", f"freeze window {window.name!r} is in effect")
    return None


async def anti_pattern_gate(
    session: AsyncSession, symptoms_hash: str, days: float, now: datetime
) -> Blocked | None:
    """Blocked when a published anti-pattern for these symptoms is younger than `days`."""
    entry = await check_anti_pattern(session, symptoms_hash, days, now=now)
    if entry is None:
        return None
    return Blocked(
        "anti_pattern",
        f"anti-pattern #{entry.id} {entry.title!r} (published {entry.published_at:%Y-%m-%d %H:%M} "
        f"UTC) says this fix failed for the same symptoms ({symptoms_hash}) within {days:g} days",
        anti_pattern=entry,
    )


async def cooldown_gate(
    session: AsyncSession, target: str, cooldown_seconds: float, now: datetime
) -> Blocked | None:
    """Blocked while the last repair on the target finished less than `cooldown` ago."""
    if cooldown_seconds <= 0:
        return None
    finished = await repository.last_finished_on(session, target)
    if finished is None or now - finished >= timedelta(seconds=cooldown_seconds):
        return None
    ready = finished + timedelta(seconds=cooldown_seconds)
    return Blocked(
        "cooldown",
        f"{target} was repaired at {finished:%H:%M:%S} UTC; cooldown until {ready:%H:%M:%S} UTC",
    )


async def rate_limit_gate(
    session: AsyncSession, target: str, per_hour: int, now: datetime
) -> Blocked | None:
    """Blocked when the target already had `per_hour` repairs in the last hour."""
    count = await repository.started_since(session, target, now - timedelta(hours=1))
    if count < per_hour:
        return None
    return Blocked("rate_limit", f"{target} had {count} repairs in the last hour (max {per_hour})")


async def attempts_gate(
    session: AsyncSession, incident_id: int, playbook: Playbook
) -> Blocked | None:
    """Blocked when the playbook already ran `max_attempts` times for this incident."""
    count = await repository.attempts(session, incident_id, playbook.id)
    if count < playbook.max_attempts:
        return None
    return Blocked(
        "max_attempts",
        f"{playbook.id} already ran {count} time(s) for this incident "
        f"(max_attempts {playbook.max_attempts})",
    )


async def busy_gate(session: AsyncSession, target: str, exclude_id: int = 0) -> Blocked | None:
    """Blocked while another repair is queued or running on the target."""
    other = await repository.busy_with(session, target, exclude_id=exclude_id)
    if other is None:
        return None
    return Blocked("busy", f"repair #{other.id} is already {other.status} on {target}")


def approval_reason(playbook: Playbook, settings: RepairSettings) -> str | None:
    """Why a human must approve this playbook, or None when it may run on its own."""
    if playbook.requires_approval:
        return f"{playbook.id} requires approval"
    ceiling = settings.auto_approve_max_risk
    if ceiling == "none" or RISK_ORDER[playbook.risk] > RISK_ORDER[ceiling]:
        return f"risk {playbook.risk} is above repair.auto_approve_max_risk ({ceiling})"
    return None

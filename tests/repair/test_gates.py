"""The safety gates one by one (freeze windows, anti-pattern memory, cooldown, rate limit,
attempts, lock, approval), then `decide()` through all of them on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from sqlalchemy import delete, update

from awoooi.core.db import transaction, utcnow
from awoooi.incidents.models import Incident
from awoooi.knowledge.models import EntrySource, EntryStatus, EntryType, KnowledgeEntry
from awoooi.knowledge.service import NewEntry, create_entry
from awoooi.repair import gates
from awoooi.repair.decide import RepairDecision
from awoooi.repair.models import GateName, Repair, RepairStatus, Verdict
from awoooi.repair.playbooks import Playbook
from awoooi.repair.settings import FreezeWindow, RepairSettings
from awoooi.runtime import Runtime
from tests.conftest import make_settings
from tests.helpers.fake_kube import InMemoryKube

HASH = "0123456789abcdef"
OTHER_HASH = "fedcba9876543210"
WEB = "prod/Deployment/web"
LA = "America/Los_Angeles"

# ---------------------------------------------------------------- freeze windows (no database)


def window(**values: Any) -> FreezeWindow:
    return FreezeWindow.model_validate(values)


def test_absolute_window_edges() -> None:
    frozen = window(
        name="release",
        start=datetime(2026, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))),  # 10:00 UTC
        end="2026-05-01T12:00:00Z",
    )
    at = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
    assert not gates.in_window(frozen, at - timedelta(microseconds=1), "prod")
    assert gates.in_window(frozen, at, "prod")  # the start is in
    assert gates.in_window(frozen, at + timedelta(hours=1, minutes=59, seconds=59), "prod")
    assert not gates.in_window(frozen, at + timedelta(hours=2), "prod")  # the end is out
    assert gates.in_window(frozen, at + timedelta(hours=1), None)  # no namespace filter


def test_weekly_overnight_window_in_a_non_utc_zone() -> None:
    friday_night = window(days=["fri"], start_time="22:00", end_time="06:00", timezone=LA)

    def at(day: int, hour: int, minute: int = 0) -> datetime:
        # January 2026: the 8th is a Thursday, the 9th a Friday, the 10th a Saturday.
        return datetime(2026, 1, day, hour, minute, tzinfo=ZoneInfo(LA)).astimezone(UTC)

    assert gates.in_window(friday_night, at(10, 3), "prod")  # sat 03:00 belongs to fri night
    assert not gates.in_window(friday_night, at(10, 7), "prod")
    assert not gates.in_window(friday_night, at(9, 21, 59), "prod")
    assert gates.in_window(friday_night, at(9, 22), "prod")
    assert gates.in_window(friday_night, at(10, 5, 59), "prod")
    assert not gates.in_window(friday_night, at(10, 6), "prod")
    assert not gates.in_window(friday_night, at(9, 3), "prod")  # thursday's night: not listed
    assert not gates.in_window(friday_night, at(10, 23), "prod")  # saturday's night: not listed
    # The zone matters: sat 03:00 in Los Angeles is sat 11:00 UTC, outside the same window in UTC.
    in_utc = window(days=["fri"], start_time="22:00", end_time="06:00")
    assert not gates.in_window(in_utc, at(10, 3), "prod")
    assert gates.in_window(in_utc, datetime(2026, 1, 10, 3, 0, tzinfo=UTC), "prod")


def test_weekly_daytime_window() -> None:
    office = window(
        days=["mon", "tue", "wed", "thu", "fri"],
        start_time="09:00",
        end_time="17:30",
        timezone="Asia/Tokyo",
    )
    tokyo = ZoneInfo("Asia/Tokyo")
    assert gates.in_window(office, datetime(2026, 1, 9, 9, 0, tzinfo=tokyo), None)
    assert gates.in_window(office, datetime(2026, 1, 9, 17, 29, tzinfo=tokyo), None)
    assert not gates.in_window(office, datetime(2026, 1, 9, 17, 30, tzinfo=tokyo), None)
    assert not gates.in_window(office, datetime(2026, 1, 9, 8, 59, tzinfo=tokyo), None)
    assert not gates.in_window(office, datetime(2026, 1, 10, 12, 0, tzinfo=tokyo), None)  # sat
    whole_sunday = window(days=["sun"], start_time="00:00", end_time="24:00")
    assert gates.in_window(whole_sunday, datetime(2026, 1, 11, 23, 59, 59, tzinfo=UTC), None)
    assert not gates.in_window(whole_sunday, datetime(2026, 1, 12, 0, 0, tzinfo=UTC), None)


def test_window_namespaces() -> None:
    prod_only = window(
        start="2026-05-01T00:00:00Z", end="2026-05-02T00:00:00Z", namespaces=["prod-*", "payments"]
    )
    at = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert gates.in_window(prod_only, at, "prod-eu")
    assert gates.in_window(prod_only, at, "payments")
    assert not gates.in_window(prod_only, at, "dev")
    assert not gates.in_window(prod_only, at, "payments-dev")
    assert not gates.in_window(prod_only, at, None)


def test_freeze_gate_names_the_window() -> None:
    windows = [
        window(name="dev nights", days=["mon"], start_time="00:00", end_time="06:00"),
        window(name="black friday", start="2026-11-27T00:00:00Z", end="2026-11-28T00:00:00Z"),
    ]
    found = gates.active_window(windows, datetime(2026, 11, 27, 8, 0, tzinfo=UTC), "prod")
    assert found is not None
    assert found.name == "black friday"
    assert gates.active_window(windows, datetime(2026, 11, 28, 8, 0, tzinfo=UTC), "prod") is None
    assert gates.active_window([], datetime(2026, 11, 27, 8, 0, tzinfo=UTC), "prod") is None


def test_the_gate_list_is_ordered_data() -> None:
    """One list, in the README's order; the start-time re-check runs the same classes."""
    assert [gate.name for gate in gates.GATES] == [
        GateName.RESOLVED,
        GateName.ANTI_PATTERN,
        GateName.FREEZE,
        GateName.COOLDOWN,
        GateName.RATE_LIMIT,
        GateName.MAX_ATTEMPTS,
        GateName.BUSY,
        GateName.STORM,
    ]
    deciding = [gate.name for gate in gates.GATES if gates.Phase.DECIDE in gate.phases]
    starting = [gate.name for gate in gates.GATES if gates.Phase.START in gate.phases]
    assert GateName.RESOLVED not in deciding
    # The storm gate asks for approval when deciding; an approved repair starts.
    assert starting == [gate.name for gate in gates.GATES if gate.name is not GateName.STORM]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {
                "start": "2026-05-01T00:00:00Z",
                "end": "2026-05-02T00:00:00Z",
                "days": ["mon"],
                "start_time": "00:00",
                "end_time": "01:00",
            },
            "give either start and end, or days",
        ),
        ({}, "give either start and end, or days"),
        ({"start": "2026-05-02T00:00:00Z", "end": "2026-05-01T00:00:00Z"}, "end must be after"),
        ({"start": "2026-05-01T00:00:00Z", "end": "2026-05-01T00:00:00Z"}, "end must be after"),
        ({"start": "2026-05-01T00:00:00Z"}, "start and end are both needed"),
        ({"start": "2026-05-01T00:00:00", "end": "2026-05-02T00:00:00Z"}, "time zone offset"),
        ({"start": "2026-05-01T00:00:00Z", "end": "2026-05-02T00:00:00"}, "time zone offset"),
        (
            {"days": ["mon"], "start_time": "22:00", "end_time": "06:00", "timezone": "Mars/Base"},
            "unknown time zone 'Mars/Base'",
        ),
        (
            {
                "start": "2026-05-01T00:00:00Z",
                "end": "2026-05-02T00:00:00Z",
                "timezone": "Nowhere",
            },
            "unknown time zone",
        ),
        ({"days": ["mon"], "start_time": "22:00"}, "needs days, start_time and end_time"),
        ({"start_time": "22:00", "end_time": "06:00"}, "needs days, start_time and end_time"),
        ({"days": ["monday"], "start_time": "22:00", "end_time": "06:00"}, "days.0"),
        ({"days": ["mon"], "start_time": "25:00", "end_time": "06:00"}, "start_time"),
        ({"days": ["mon"], "start_time": "22:00", "end_time": "6:00"}, "end_time"),
        ({"days": ["mon"], "start_time": "22:00", "end_time": "06:00", "zone": "UTC"}, "zone"),
    ],
)
def test_freeze_window_config_errors(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FreezeWindow.model_validate(values)


def test_freeze_windows_in_the_settings() -> None:
    with pytest.raises(ValidationError, match="time zone offset"):
        RepairSettings.model_validate(
            {"freeze_windows": [{"start": "2026-05-01T00:00", "end": "2026-05-02T00:00"}]}
        )


# ---------------------------------------------------------------- approval (no database)


def playbook(**values: Any) -> Playbook:
    data: dict[str, Any] = {
        "id": "pb",
        "name": "PB",
        "match": {"signals": ["X"]},
        "risk": "low",
        "steps": [{"action": "kube.rollout_restart"}],
    }
    data.update(values)
    return Playbook.model_validate(data)


@pytest.mark.parametrize(
    ("ceiling", "allowed"),
    [
        ("none", set()),
        ("low", {"low"}),
        ("medium", {"low", "medium"}),
        ("high", {"low", "medium", "high"}),
    ],
)
def test_approval_reason_by_risk_ceiling(ceiling: str, allowed: set[str]) -> None:
    policy = RepairSettings(auto_approve_max_risk=ceiling)  # type: ignore[arg-type]
    for risk in ("low", "medium", "high"):
        reason = gates.approval_reason(playbook(risk=risk), policy)
        if risk in allowed:
            assert reason is None, (ceiling, risk)
        else:
            assert reason == f"risk {risk} is above repair.auto_approve_max_risk ({ceiling})"
        # requires_approval wins over any ceiling.
        assert gates.approval_reason(playbook(risk=risk, requires_approval=True), policy) == (
            "pb requires approval"
        )


# ---------------------------------------------------------------- database helpers

RuntimeFactory = Callable[..., Awaitable[Runtime]]
_numbers = itertools.count(1)


@pytest.fixture
async def make_runtime(tmp_path: Path, database_url: str) -> AsyncIterator[RuntimeFactory]:
    """Build a migrated runtime with the given `repair:` settings (one per test)."""
    made: list[Runtime] = []

    async def build(**repair: Any) -> Runtime:
        settings = make_settings(
            tmp_path / "home", database_url, repair=repair, ai={"diagnose_incidents": False}
        )
        active = Runtime.from_settings(settings, kube=InMemoryKube())
        await active.migrate()
        made.append(active)
        return active

    yield build
    for active in made:
        await active.dispose()


@pytest.fixture
async def runtime(make_runtime: RuntimeFactory) -> Runtime:
    return await make_runtime()


async def add_incident(
    runtime: Runtime,
    *,
    alertname: str = "KubePodCrashLooping",
    labels: dict[str, str] | None = None,
    services: tuple[str, ...] = ("web",),
    namespace: str = "prod",
    symptoms_hash: str = HASH,
) -> int:
    number = next(_numbers)
    async with transaction(runtime.session_factory) as session:
        incident = Incident(
            human_id=f"INC-{number:04d}",
            title=f"{alertname} on {namespace}/{services[0] if services else '-'}",
            severity="high",
            source="alertmanager",
            labels={"alertname": alertname, **(labels or {})},
            symptoms={"signal": alertname},
            affected_services=list(services),
            namespace=namespace,
            symptoms_hash=symptoms_hash,
        )
        session.add(incident)
        await session.flush()
        return incident.id


async def add_repair(
    runtime: Runtime,
    incident_id: int,
    *,
    target: str = WEB,
    status: RepairStatus = RepairStatus.SUCCEEDED,
    started_at: datetime | None = None,
    finished_at: datetime | None = None,
    playbook_id: str = "restart-crashloop",
) -> int:
    async with transaction(runtime.session_factory) as session:
        repair = Repair(
            incident_id=incident_id,
            playbook_id=playbook_id,
            playbook_name=playbook_id,
            target=target,
            verdict=Verdict.AUTO.value,
            status=status.value,
            reasons=[],
            plan=[],
            symptoms_hash=HASH,
            requested_by="test",
            started_at=started_at,
            finished_at=finished_at,
        )
        session.add(repair)
        await session.flush()
        return repair.id


async def add_anti_pattern(
    runtime: Runtime,
    *,
    published_at: datetime,
    status: EntryStatus = EntryStatus.PUBLISHED,
    symptoms_hash: str = HASH,
    title: str = "restart does not fix the crash loop",
) -> int:
    async with transaction(runtime.session_factory) as session:
        entry = await create_entry(
            session,
            NewEntry(
                title=title,
                content="Restarting web did not stop the crash loop; the config map is broken.",
                entry_type=EntryType.ANTI_PATTERN,
                source=EntrySource.AI_EXTRACTED,
                status=EntryStatus.PUBLISHED,
                created_by="awoooi:harvest",
                symptoms_hash=symptoms_hash,
                related_playbook_id="restart-crashloop",
            ),
        )
        entry_id = entry.id
        await session.execute(
            update(KnowledgeEntry)
            .where(KnowledgeEntry.id == entry_id)
            .values(published_at=published_at, status=status.value)
        )
    return entry_id


async def decide(runtime: Runtime, incident_id: int, now: datetime) -> RepairDecision:
    async with runtime.session_factory() as session:
        incident = await session.get(Incident, incident_id)
        assert incident is not None
        return await runtime.repairs.decide(session, incident, now=now)


def moment() -> datetime:
    return utcnow().replace(microsecond=0)


# ---------------------------------------------------------------- gates over the database


async def gate_verdict(
    runtime: Runtime,
    gate: gates.Gate,
    now: datetime,
    *,
    incident_id: int | None = None,
    symptoms_hash: str = HASH,
    target: str = WEB,
    run: Playbook | None = None,
    phase: gates.Phase = gates.Phase.DECIDE,
    repair_id: int = 0,
    anti_pattern_days: float = 7,
    per_hour: int = 3,
) -> gates.GateVerdict:
    """One gate's verdict over the runtime's database."""
    async with runtime.session_factory() as session:
        incident = (
            await session.get(Incident, incident_id)
            if incident_id is not None
            else Incident(id=0, status="open", namespace="prod")
        )
        assert incident is not None
        context = gates.GateContext(
            session=session,
            phase=phase,
            now=now,
            incident=incident,
            symptoms_hash=symptoms_hash,
            playbook=run or playbook(id="restart-crashloop"),
            target=target,
            namespace="prod",
            settings=RepairSettings(max_repairs_per_target_per_hour=per_hour),
            anti_pattern_days=anti_pattern_days,
            repair_id=repair_id,
        )
        return await gate.check(context)


def blocked(verdict: gates.GateVerdict, gate: GateName) -> gates.GateVerdict:
    assert not verdict.passed, verdict
    assert verdict.gate is gate
    return verdict


async def test_anti_pattern_gate_window(runtime: Runtime) -> None:
    """6.9 days in, 7.1 days out, other symptoms never."""
    published = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    entry_id = await add_anti_pattern(runtime, published_at=published)
    gate = gates.AntiPatternGate()
    found = blocked(
        await gate_verdict(runtime, gate, published + timedelta(days=6.9)), GateName.ANTI_PATTERN
    )
    assert found.anti_pattern is not None
    assert found.anti_pattern.id == entry_id
    assert f"anti-pattern #{entry_id} 'restart does not fix the crash loop'" in found.reason
    assert "published 2026-03-01 12:00 UTC" in found.reason
    assert f"same symptoms ({HASH}) within 7 days" in found.reason
    assert (await gate_verdict(runtime, gate, published + timedelta(days=7.1))).passed
    aged = published + timedelta(days=7.1)
    assert not (await gate_verdict(runtime, gate, aged, anti_pattern_days=10)).passed
    later = published + timedelta(days=1)
    assert (await gate_verdict(runtime, gate, later, symptoms_hash=OTHER_HASH)).passed


@pytest.mark.parametrize("status", [EntryStatus.DRAFT, EntryStatus.ARCHIVED, EntryStatus.REJECTED])
async def test_anti_pattern_gate_counts_published_entries_only(
    runtime: Runtime, status: EntryStatus
) -> None:
    published = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    await add_anti_pattern(runtime, published_at=published, status=status)
    later = published + timedelta(days=1)
    assert (await gate_verdict(runtime, gates.AntiPatternGate(), later)).passed


async def test_cooldown_gate_edges(runtime: Runtime) -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    gate = gates.CooldownGate()
    incident_id = await add_incident(runtime)
    # Never started (blocked, rejected...): no cooldown, whatever its finished_at says.
    await add_repair(runtime, incident_id, status=RepairStatus.BLOCKED, finished_at=now)
    # Another target.
    await add_repair(
        runtime,
        incident_id,
        target="prod/Deployment/api",
        started_at=now - timedelta(seconds=30),
        finished_at=now - timedelta(seconds=10),
    )
    ten_minutes = playbook(id="restart-crashloop", cooldown="600s")
    assert (await gate_verdict(runtime, gate, now, run=ten_minutes)).passed
    repair_id = await add_repair(
        runtime,
        incident_id,
        started_at=now - timedelta(seconds=700),
        finished_at=now - timedelta(seconds=599),
    )
    found = blocked(await gate_verdict(runtime, gate, now, run=ten_minutes), GateName.COOLDOWN)
    assert found.reason == f"{WEB} was repaired at 11:50:01 UTC; cooldown until 12:00:01 UTC"
    for cooldown in ("0s", "598s"):
        run = playbook(id="restart-crashloop", cooldown=cooldown)
        assert (await gate_verdict(runtime, gate, now, run=run)).passed
    async with transaction(runtime.session_factory) as session:
        await session.execute(
            update(Repair)
            .where(Repair.id == repair_id)
            .values(finished_at=now - timedelta(seconds=600))
        )
    assert (await gate_verdict(runtime, gate, now, run=ten_minutes)).passed  # exactly over


async def test_rate_limit_gate(runtime: Runtime) -> None:
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    gate = gates.RateLimitGate()
    incident_id = await add_incident(runtime)
    for minutes in (59, 30):
        await add_repair(runtime, incident_id, started_at=now - timedelta(minutes=minutes))
    old = await add_repair(runtime, incident_id, started_at=now - timedelta(minutes=61))
    await add_repair(runtime, incident_id, status=RepairStatus.BLOCKED)  # never started
    await add_repair(runtime, incident_id, target="prod/Deployment/api", started_at=now)
    assert (await gate_verdict(runtime, gate, now, per_hour=3)).passed
    found = blocked(await gate_verdict(runtime, gate, now, per_hour=2), GateName.RATE_LIMIT)
    assert found.reason == f"{WEB} had 2 repairs in the last hour (max 2)"
    async with transaction(runtime.session_factory) as session:
        await session.execute(
            update(Repair).where(Repair.id == old).values(started_at=now - timedelta(minutes=1))
        )
    found = blocked(await gate_verdict(runtime, gate, now, per_hour=3), GateName.RATE_LIMIT)
    assert "had 3 repairs in the last hour (max 3)" in found.reason


async def test_attempts_gate(runtime: Runtime) -> None:
    now = datetime(2026, 3, 1, 13, 0, tzinfo=UTC)
    gate = gates.AttemptsGate()
    incident_id = await add_incident(runtime)
    other_incident = await add_incident(runtime)
    twice = playbook(id="restart-crashloop", max_attempts=2)
    once = playbook(id="restart-crashloop", max_attempts=1)
    started = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    await add_repair(runtime, incident_id, started_at=started)
    await add_repair(runtime, incident_id, status=RepairStatus.PENDING_APPROVAL)  # not run
    await add_repair(runtime, incident_id, started_at=started, playbook_id="other")
    await add_repair(runtime, other_incident, started_at=started)
    assert (await gate_verdict(runtime, gate, now, incident_id=incident_id, run=twice)).passed
    found = blocked(
        await gate_verdict(runtime, gate, now, incident_id=incident_id, run=once),
        GateName.MAX_ATTEMPTS,
    )
    assert found.reason == (
        "restart-crashloop already ran 1 time(s) for this incident (max_attempts 1)"
    )
    await add_repair(runtime, incident_id, started_at=started, status=RepairStatus.FAILED)
    again = await gate_verdict(runtime, gate, now, incident_id=incident_id, run=twice)
    assert not again.passed


async def test_busy_gate_when_deciding(runtime: Runtime) -> None:
    now = moment()
    gate = gates.BusyGate()
    incident_id = await add_incident(runtime)
    for status in (
        RepairStatus.SUCCEEDED,
        RepairStatus.FAILED,
        RepairStatus.PENDING_APPROVAL,
        RepairStatus.BLOCKED,
    ):
        await add_repair(runtime, incident_id, status=status)
    await add_repair(
        runtime, incident_id, target="prod/Deployment/api", status=RepairStatus.RUNNING
    )
    assert (await gate_verdict(runtime, gate, now)).passed
    queued = await add_repair(runtime, incident_id, status=RepairStatus.QUEUED)
    found = blocked(await gate_verdict(runtime, gate, now), GateName.BUSY)
    assert found.reason == f"repair #{queued} is already queued on {WEB}"
    assert (await gate_verdict(runtime, gate, now, repair_id=queued)).passed
    running = await add_repair(runtime, incident_id, status=RepairStatus.RUNNING)
    found = blocked(await gate_verdict(runtime, gate, now, repair_id=queued), GateName.BUSY)
    assert found.reason == f"repair #{running} is already running on {WEB}"
    found = blocked(await gate_verdict(runtime, gate, now), GateName.BUSY)
    assert f"#{queued}" in found.reason  # the oldest first


async def test_busy_gate_when_starting_counts_running_repairs_only(runtime: Runtime) -> None:
    """Queued repairs go first come, first served: another queued one never blocks a start."""
    now = moment()
    gate = gates.BusyGate()
    incident_id = await add_incident(runtime)
    first = await add_repair(runtime, incident_id, status=RepairStatus.QUEUED)
    second = await add_repair(runtime, incident_id, status=RepairStatus.QUEUED)
    start = gates.Phase.START
    assert (await gate_verdict(runtime, gate, now, phase=start, repair_id=first)).passed
    assert (await gate_verdict(runtime, gate, now, phase=start, repair_id=second)).passed
    async with transaction(runtime.session_factory) as session:
        await session.execute(
            update(Repair).where(Repair.id == first).values(status=RepairStatus.RUNNING.value)
        )
    found = blocked(
        await gate_verdict(runtime, gate, now, phase=start, repair_id=second), GateName.BUSY
    )
    assert found.reason == f"repair #{first} is already running on {WEB}"


async def test_resolved_gate_runs_at_start_only(runtime: Runtime) -> None:
    now = moment()
    incident_id = await add_incident(runtime)
    async with transaction(runtime.session_factory) as session:
        incident = await session.get(Incident, incident_id)
        assert incident is not None
        incident.status = "resolved"
    gate = gates.ResolvedGate()
    assert gates.Phase.DECIDE not in gate.phases
    found = blocked(
        await gate_verdict(runtime, gate, now, incident_id=incident_id, phase=gates.Phase.START),
        GateName.RESOLVED,
    )
    assert found.reason == "the incident was resolved before the repair ran"


# ---------------------------------------------------------------- decide()


async def test_decide_no_playbook(runtime: Runtime) -> None:
    """Nothing matches; or something matches but its placeholders cannot be filled."""
    incident_id = await add_incident(runtime, alertname="SomethingNobodyHandles")
    decision = await decide(runtime, incident_id, moment())
    assert decision.verdict is Verdict.NO_PLAYBOOK
    assert decision.playbook is None
    assert decision.plan is None
    assert decision.reasons == ("no playbook matches this incident",)

    # The shipped rollback targets ${labels.deployment}; this alert has no such label.
    incident_id = await add_incident(runtime, alertname="KubeDeploymentRolloutStuck")
    decision = await decide(runtime, incident_id, moment())
    assert decision.verdict is Verdict.NO_PLAYBOOK
    # One reason: a playbook matched, so "no playbook matches" would contradict it (issue 18).
    assert decision.reasons == (
        "no playbook can be used: rollback-bad-rollout matches but cannot be planned: "
        "${labels.deployment} has no value for this incident",
    )
    bad_name = await add_incident(runtime, alertname="KubePodCrashLooping", services=("Web_1",))
    decision = await decide(runtime, bad_name, moment())
    assert decision.verdict is Verdict.NO_PLAYBOOK
    (reason,) = decision.reasons
    assert reason.startswith(
        "no playbook can be used: restart-crashloop matches but cannot be planned: "
        "target name 'Web_1'"
    )


async def test_decide_auto(runtime: Runtime) -> None:
    """AUTO with the shipped playbooks."""
    incident_id = await add_incident(runtime)
    decision = await decide(runtime, incident_id, moment())
    assert decision.verdict is Verdict.AUTO
    assert decision.playbook is not None
    assert decision.playbook.id == "restart-crashloop"
    assert decision.plan is not None
    assert decision.plan.target_key == WEB
    assert [step.action for step in decision.plan.steps] == ["kube.rollout_restart"]
    assert decision.gate is None
    assert decision.dry_run is False
    assert decision.reasons == (
        f"playbook restart-crashloop matches; target {WEB}",
        "anti-pattern, freeze, cooldown, rate limit and lock gates passed",
        "risk low may run without approval",
    )


async def test_decide_dry_run(make_runtime: RuntimeFactory) -> None:
    runtime = await make_runtime(mode="dry-run")
    decision = await decide(runtime, await add_incident(runtime), moment())
    assert decision.verdict is Verdict.AUTO
    assert decision.dry_run is True
    assert decision.reasons[-1] == "repair.mode is dry-run: planned and recorded, nothing runs"
    saturated = await add_incident(runtime, alertname="CPUThrottlingHigh", services=("api",))
    decision = await decide(runtime, saturated, moment())
    assert decision.verdict is Verdict.NEEDS_APPROVAL
    assert decision.dry_run is True


async def test_decide_needs_approval(runtime: Runtime) -> None:
    saturated = await add_incident(runtime, alertname="KubeHpaMaxedOut")
    decision = await decide(runtime, saturated, moment())
    assert decision.verdict is Verdict.NEEDS_APPROVAL
    assert decision.playbook is not None
    assert decision.playbook.id == "scale-up-saturation"
    assert decision.gate == "approval"
    assert decision.reasons[-1] == "risk medium is above repair.auto_approve_max_risk (low)"
    rollout = await add_incident(
        runtime,
        alertname="KubeDeploymentRolloutStuck",
        labels={"deployment": "checkout"},
        services=("checkout",),
    )
    decision = await decide(runtime, rollout, moment())
    assert decision.verdict is Verdict.NEEDS_APPROVAL
    assert decision.plan is not None
    assert decision.plan.target_key == "prod/Deployment/checkout"
    assert decision.reasons[-1] == "rollback-bad-rollout requires approval"


async def test_decide_with_ceiling_high(make_runtime: RuntimeFactory) -> None:
    runtime = await make_runtime(auto_approve_max_risk="high")
    rollout = await add_incident(
        runtime, alertname="KubeDeploymentReplicasMismatch", labels={"deployment": "web"}
    )
    saturated = await add_incident(runtime, alertname="KubeDeploymentSaturated", services=("api",))
    now = moment()
    assert (await decide(runtime, saturated, now)).verdict is Verdict.AUTO
    decision = await decide(runtime, rollout, now)
    assert decision.verdict is Verdict.NEEDS_APPROVAL  # requires_approval beats the ceiling
    assert decision.reasons[-1] == "rollback-bad-rollout requires approval"


async def test_decide_with_ceiling_none(make_runtime: RuntimeFactory) -> None:
    runtime = await make_runtime(auto_approve_max_risk="none")
    decision = await decide(runtime, await add_incident(runtime), moment())
    assert decision.verdict is Verdict.NEEDS_APPROVAL
    assert decision.reasons[-1] == "risk low is above repair.auto_approve_max_risk (none)"


def assert_blocked(decision: RepairDecision, gate: str) -> None:
    assert decision.verdict is Verdict.BLOCKED, decision
    assert decision.gate == gate, decision.reasons
    assert decision.playbook is not None
    assert decision.playbook.id == "restart-crashloop"
    assert decision.reasons[0] == f"playbook restart-crashloop matches; target {WEB}"
    assert len(decision.reasons) == 2


async def test_decide_gates_in_order(runtime: Runtime) -> None:
    """Every database gate blocks at once; removing the reported one reveals the next."""
    now = moment()
    incident_id = await add_incident(runtime)
    elsewhere = await add_incident(runtime, alertname="KubePodCrashLooping")
    fresh = await add_repair(
        runtime,
        elsewhere,
        started_at=now - timedelta(minutes=10),
        finished_at=now - timedelta(minutes=5),
    )
    hourly = [
        await add_repair(
            runtime,
            elsewhere,
            started_at=now - timedelta(minutes=50),
            finished_at=now - timedelta(minutes=45),
        )
        for _ in range(3)
    ]
    attempt = await add_repair(
        runtime,
        incident_id,
        target="prod/Deployment/other",
        started_at=now - timedelta(hours=3),
        finished_at=now - timedelta(hours=3),
    )
    queued = await add_repair(runtime, elsewhere, status=RepairStatus.QUEUED)
    anti_pattern = await add_anti_pattern(runtime, published_at=now - timedelta(days=1))

    async def remove(model: type[Any], row_id: int) -> None:
        async with transaction(runtime.session_factory) as session:
            await session.execute(delete(model).where(model.id == row_id))

    decision = await decide(runtime, incident_id, now)
    assert_blocked(decision, "anti_pattern")
    assert decision.anti_pattern_id == anti_pattern
    assert decision.anti_pattern_title == "restart does not fix the crash loop"
    await remove(KnowledgeEntry, anti_pattern)

    decision = await decide(runtime, incident_id, now)
    assert_blocked(decision, "cooldown")
    assert decision.anti_pattern_id is None
    assert "cooldown until" in decision.reasons[-1]
    await remove(Repair, fresh)

    decision = await decide(runtime, incident_id, now)
    assert_blocked(decision, "rate_limit")
    assert decision.reasons[-1] == f"{WEB} had 3 repairs in the last hour (max 3)"
    await remove(Repair, hourly[0])

    decision = await decide(runtime, incident_id, now)
    assert_blocked(decision, "max_attempts")
    await remove(Repair, attempt)

    decision = await decide(runtime, incident_id, now)
    assert_blocked(decision, "busy")
    assert decision.reasons[-1] == f"repair #{queued} is already queued on {WEB}"
    async with transaction(runtime.session_factory) as session:
        await session.execute(
            update(Repair).where(Repair.id == queued).values(status=RepairStatus.REJECTED.value)
        )

    assert (await decide(runtime, incident_id, now)).verdict is Verdict.AUTO


async def test_decide_anti_pattern_beats_freeze_and_freeze_beats_cooldown(
    make_runtime: RuntimeFactory,
) -> None:
    now = moment()
    runtime = await make_runtime(
        freeze_windows=[
            {
                "name": "release",
                "start": now - timedelta(hours=1),
                "end": now + timedelta(minutes=10),
            }
        ]
    )
    incident_id = await add_incident(runtime)
    earlier = await add_incident(runtime)
    await add_repair(
        runtime,
        earlier,
        started_at=now - timedelta(minutes=2),
        finished_at=now - timedelta(minutes=1),
    )
    entry_id = await add_anti_pattern(runtime, published_at=now - timedelta(days=6.9))
    decision = await decide(runtime, incident_id, now)
    assert_blocked(decision, "anti_pattern")
    assert decision.anti_pattern_id == entry_id
    assert f"anti-pattern #{entry_id}" in decision.reasons[-1]

    # Published 7.1 days ago the anti-pattern has aged out; the freeze comes before cooldown.
    async with transaction(runtime.session_factory) as session:
        await session.execute(
            update(KnowledgeEntry)
            .where(KnowledgeEntry.id == entry_id)
            .values(published_at=now - timedelta(days=7.1))
        )
    decision = await decide(runtime, incident_id, now)
    assert_blocked(decision, "freeze")
    assert decision.reasons[-1] == "freeze window 'release' is in effect"

    # When the window ends the cooldown (30 min after the last repair finished) is left.
    assert_blocked(await decide(runtime, incident_id, now + timedelta(minutes=10)), "cooldown")
    decision = await decide(runtime, incident_id, now + timedelta(minutes=29))
    assert decision.verdict is Verdict.AUTO


async def test_decide_freeze_by_namespace(make_runtime: RuntimeFactory) -> None:
    now = moment()
    runtime = await make_runtime(
        freeze_windows=[
            {
                "name": "payments freeze",
                "start": now - timedelta(hours=1),
                "end": now + timedelta(hours=1),
                "namespaces": ["payments*"],
            }
        ]
    )
    web = await add_incident(runtime)
    payments = await add_incident(runtime, namespace="payments-eu", services=("ledger",))
    assert (await decide(runtime, web, now)).verdict is Verdict.AUTO
    decision = await decide(runtime, payments, now)
    assert decision.verdict is Verdict.BLOCKED
    assert decision.gate == "freeze"
    assert decision.reasons[-1] == "freeze window 'payments freeze' is in effect"

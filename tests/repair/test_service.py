"""RepairService: the gates, execution (timeouts, first failure, verification), approvals checked
again at run time, and what survives a crash. On SQLite and PostgreSQL unless marked."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from awoooi.core.audit import Caller, Door
from awoooi.core.db import transaction, utcnow
from awoooi.core.errors import ConflictError
from awoooi.core.jobs import enqueue, job_for_key
from awoooi.core.models import Job, JobStatus
from awoooi.incidents import repository as incidents
from awoooi.knowledge import service as knowledge
from awoooi.knowledge.harvest import ANTI_PATTERN_JOB, RUNBOOK_JOB, harvest_key
from awoooi.knowledge.models import EntrySource, EntryStatus, EntryType
from awoooi.repair.models import Repair, RepairStep, StepStatus
from awoooi.repair.playbooks import PlaybookCatalog
from awoooi.repair.service import (
    DECIDE_JOB,
    EXECUTE_JOB,
    EXECUTE_JOB_ATTEMPTS,
    RepairService,
    queue_decision,
)
from awoooi.repair.settings import RepairSettings
from awoooi.runtime import Runtime
from awoooi.settings import Settings
from tests.conftest import make_settings
from tests.helpers.fake_kube import InMemoryKube
from tests.helpers.serve import AWOOOI, background_process, cli_env
from tests.repair.conftest import (
    HOST,
    RecordingServer,
    count_repairs,
    decide,
    entries,
    events,
    fire,
    incident,
    jobs,
    load_repair,
    notifications,
    repairs_of,
)

TARGET = "shop/Deployment/web"
RESTART = ("rollout_restart", TARGET)
WAIT_TIMEOUT = 30.0  # a bound on polling, never asserted

PLAYBOOKS = """
id: restart
name: Restart the deployment
match:
  signals: [WebDown, WebSlow]
risk: low
steps:
  - action: kube.rollout_restart
verify: {check: deployment_available, wait: 0, timeout: 1s, interval: 0.2s}
cooldown: 0
max_attempts: 1
---
id: restart-cooled
name: Restart, then leave it alone for an hour
match:
  signals: [CoolA, CoolB]
risk: low
steps:
  - action: kube.rollout_restart
cooldown: 1h
---
id: two-steps
name: Restart, then add a replica
match:
  signals: [TwoSteps]
risk: low
steps:
  - action: kube.rollout_restart
  - action: kube.scale
    params: {delta: 1}
cooldown: 0
---
id: slow-first
name: Ask a slow endpoint, then restart
match:
  signals: [SlowFirst]
risk: low
steps:
  - action: http.request
    params: {method: GET, url: "http://127.0.0.1:__HEAL__/slow"}
    timeout: 1s
  - action: kube.rollout_restart
cooldown: 0
---
id: slow-verify
name: Heal, then wait before calling it done
match:
  signals: [SlowVerify]
target: null
risk: low
steps:
  - action: http.request
    params: {method: POST, url: "http://127.0.0.1:__HEAL__/heal/${service}"}
    timeout: 5s
verify: {wait: 2s, check: none}
cooldown: 0
---
id: ping
name: Ping the heal endpoint (no workload target)
match:
  signals: [Ping]
target: null
risk: low
steps:
  - action: http.request
    params: {method: POST, url: "http://127.0.0.1:__HEAL__/ping/${namespace}"}
    timeout: 5s
cooldown: 0
---
id: medium
name: A medium-risk restart
match:
  signals: [Medium]
risk: medium
steps:
  - action: kube.rollout_restart
cooldown: 0
---
id: gated
name: A low-risk restart that always asks
match:
  signals: [Gated]
risk: low
requires_approval: true
steps:
  - action: kube.rollout_restart
cooldown: 0
---
id: risky
name: A high-risk restart
match:
  signals: [Risky]
risk: high
steps:
  - action: kube.rollout_restart
cooldown: 0
"""

ALICE = Caller("alice", Door.CLI)
BOB = Caller("bob", Door.CLI)


def repair_settings(playbooks: Path) -> dict[str, Any]:
    return {
        "playbooks_dir": str(playbooks),
        "http_allowed_hosts": [HOST],
        "include_default_playbooks": False,
        "on_new_incident": False,  # the tests decide when a decision is made
    }


@pytest.fixture
def settings(tmp_path: Path, database_url: str, heal_server: RecordingServer) -> Settings:
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "service.yaml").write_text(PLAYBOOKS.replace("__HEAL__", str(heal_server.port)))
    return make_settings(
        tmp_path / "home",
        database_url,
        repair=repair_settings(playbooks),
        ai={"diagnose_incidents": False},
    )


@pytest.fixture
def kube() -> InMemoryKube:
    cluster = InMemoryKube()
    cluster.add("Deployment", "shop", "web")
    cluster.add("Deployment", "shop2", "web")
    return cluster


@pytest.fixture
async def runtime(settings: Settings, kube: InMemoryKube) -> AsyncIterator[Runtime]:
    active = Runtime.from_settings(settings, kube=kube)
    await active.migrate()
    try:
        yield active
    finally:
        await active.dispose()


@pytest.fixture
async def service_with(runtime: Runtime) -> AsyncIterator[Callable[..., RepairService]]:
    """RepairService over the runtime's database and playbooks with other settings or clock."""
    made: list[RepairService] = []

    def make(*, now: Callable[[], datetime] = utcnow, **repair: Any) -> RepairService:
        base = runtime.repairs.policy
        settings = RepairSettings.model_validate({**base.repair.model_dump(), **repair})
        policy = replace(base, repair=settings)
        service = RepairService(
            runtime.session_factory, runtime.repairs.catalog, policy, kube=runtime.kube, now=now
        )
        made.append(service)
        return service

    yield make
    for service in made:
        await service.aclose()


async def assert_recorded(runtime: Runtime, human_id: str, repair: Repair) -> None:
    """The verdict is stored with its reasons, and the timeline shows the same decision."""
    stored = await load_repair(runtime, repair.id)
    assert stored.reasons, stored
    decisions = [
        e
        for e in await events(runtime, human_id, "repair_decision")
        if e.detail["repair_id"] == repair.id
    ]
    assert len(decisions) == 1
    detail = decisions[0].detail
    assert (detail["verdict"], detail["gate"], detail["playbook"]) == (
        stored.verdict,
        stored.gate,
        stored.playbook_id,
    )
    assert detail["reasons"] == stored.reasons


async def run_jobs(runtime: Runtime) -> None:
    await runtime.worker().run_until_idle()


# ---------------------------------------------------------------- gates


async def test_cooldown_blocks_a_second_repair_on_the_target(
    runtime: Runtime, kube: InMemoryKube
) -> None:
    first = await fire(runtime, alertname="CoolA")
    repaired = await decide(runtime, first)
    assert (repaired.verdict, repaired.status, repaired.target) == ("AUTO", "queued", TARGET)
    await assert_recorded(runtime, first, repaired)
    await run_jobs(runtime)
    assert (await load_repair(runtime, repaired.id)).status == "succeeded"

    second = await fire(runtime, alertname="CoolB")
    blocked = await decide(runtime, second)
    assert (blocked.verdict, blocked.status, blocked.gate, blocked.target) == (
        "BLOCKED",
        "blocked",
        "cooldown",
        TARGET,
    )
    assert "cooldown until" in blocked.reasons[-1]
    await assert_recorded(runtime, second, blocked)
    assert (await incident(runtime, second)).status == "escalated"
    [note] = await notifications(runtime, "repair.blocked")
    assert "(cooldown)" in note.title
    await run_jobs(runtime)
    assert kube.calls.count(RESTART) == 1
    # Past the cooldown the same incident would be repaired.
    async with runtime.session_factory() as session:
        later = await incidents.get_by_human_id(session, second)
        assert later is not None
        verdict = await runtime.repairs.decide(session, later, now=utcnow() + timedelta(hours=2))
    assert verdict.verdict.value == "AUTO"


async def test_rate_limit_per_target(
    runtime: Runtime, kube: InMemoryKube, service_with: Callable[..., RepairService]
) -> None:
    strict = service_with(max_repairs_per_target_per_hour=1)
    first = await fire(runtime, alertname="WebDown")
    assert (await decide(runtime, first, strict)).status == "queued"
    await run_jobs(runtime)
    assert kube.calls.count(RESTART) == 1

    second = await fire(runtime, alertname="WebSlow")
    async with runtime.session_factory() as session:
        found = await incidents.get_by_human_id(session, second)
        assert found is not None
        # The default limit (3 an hour) lets it through; so does the next hour.
        assert (await runtime.repairs.decide(session, found)).verdict.value == "AUTO"
        an_hour_later = utcnow() + timedelta(minutes=61)
        assert (await strict.decide(session, found, now=an_hour_later)).verdict.value == "AUTO"
    blocked = await decide(runtime, second, strict)
    assert (blocked.verdict, blocked.gate) == ("BLOCKED", "rate_limit")
    assert "had 1 repairs in the last hour (max 1)" in blocked.reasons[-1]
    await assert_recorded(runtime, second, blocked)
    await run_jobs(runtime)
    assert kube.calls.count(RESTART) == 1


async def test_a_queued_repair_keeps_the_target_busy(runtime: Runtime, kube: InMemoryKube) -> None:
    first = await fire(runtime, alertname="WebDown")
    queued = await decide(runtime, first)
    assert queued.status == "queued"
    second = await fire(runtime, alertname="WebSlow")
    blocked = await decide(runtime, second)
    assert (blocked.verdict, blocked.gate) == ("BLOCKED", "busy")
    assert f"repair #{queued.id} is already queued on {TARGET}" in blocked.reasons[-1]
    await assert_recorded(runtime, second, blocked)
    await run_jobs(runtime)
    assert (await load_repair(runtime, queued.id)).status == "succeeded"
    assert (await load_repair(runtime, blocked.id)).status == "blocked"
    assert kube.calls.count(RESTART) == 1


async def test_max_attempts_per_incident(runtime: Runtime, kube: InMemoryKube) -> None:
    human_id = await fire(runtime, alertname="WebDown")
    first = await decide(runtime, human_id)
    await run_jobs(runtime)
    assert (await load_repair(runtime, first.id)).status == "succeeded"
    assert (await incident(runtime, human_id)).status == "open"  # the alert still fires

    again = await decide(runtime, human_id)
    assert (again.verdict, again.gate) == ("BLOCKED", "max_attempts")
    assert "already ran 1 time(s) for this incident (max_attempts 1)" in again.reasons[-1]
    await assert_recorded(runtime, human_id, again)
    await run_jobs(runtime)
    assert kube.calls.count(RESTART) == 1


async def test_freeze_window_blocks_decisions_and_queued_runs(
    runtime: Runtime,
    kube: InMemoryKube,
    heal_server: RecordingServer,
    service_with: Callable[..., RepairService],
) -> None:
    now = utcnow()
    window = {
        "name": "black-friday",
        "start": now - timedelta(hours=1),
        "end": now + timedelta(hours=1),
        "namespaces": ["shop"],
    }
    frozen = service_with(freeze_windows=[window])
    assert frozen.settings.freeze_windows[0].name == "black-friday"

    # Queued before the freeze, run during it: blocked at the start.
    queued_id = await fire(runtime, alertname="WebDown")
    queued = await decide(runtime, queued_id)
    assert queued.status == "queued"
    stopped = await frozen.run_repair(queued.id)
    assert stopped is not None
    assert (stopped.status, stopped.gate, stopped.steps) == ("blocked", "freeze", [])
    assert "black-friday" in stopped.reasons[-1]

    # The same for a playbook without a workload target: the incident's namespace counts.
    ping_id = await fire(runtime, alertname="Ping")
    ping = await decide(runtime, ping_id)
    assert (ping.status, ping.target) == ("queued", "playbook/ping")
    held = await frozen.run_repair(ping.id)
    assert held is not None
    assert (held.status, held.gate, held.steps) == ("blocked", "freeze", [])
    assert heal_server.requests == []
    blocked_ping = await decide(runtime, ping_id, frozen)
    assert (blocked_ping.verdict, blocked_ping.gate) == ("BLOCKED", "freeze")

    human_id = await fire(runtime, alertname="WebSlow")
    blocked = await decide(runtime, human_id, frozen)
    assert (blocked.verdict, blocked.gate) == ("BLOCKED", "freeze")
    assert "freeze window 'black-friday' is in effect" in blocked.reasons[-1]
    await assert_recorded(runtime, human_id, blocked)

    # The window covers namespace shop only.
    elsewhere = await fire(runtime, alertname="WebDown", namespace="shop2")
    allowed = await decide(runtime, elsewhere, frozen)
    assert (allowed.verdict, allowed.target) == ("AUTO", "shop2/Deployment/web")
    await run_jobs(runtime)
    assert [call for call in kube.calls if call[0] == "rollout_restart"] == [
        ("rollout_restart", "shop2/Deployment/web")
    ]


async def test_approval_policy(
    runtime: Runtime, kube: InMemoryKube, service_with: Callable[..., RepairService]
) -> None:
    medium = await fire(runtime, alertname="Medium")
    waits = await decide(runtime, medium)
    assert (waits.verdict, waits.status, waits.gate) == (
        "NEEDS_APPROVAL",
        "pending_approval",
        "approval",
    )
    assert "risk medium is above repair.auto_approve_max_risk (low)" in waits.reasons[-1]
    await assert_recorded(runtime, medium, waits)

    gated = await fire(runtime, alertname="Gated")
    asks = await decide(runtime, gated)
    assert (asks.verdict, asks.reasons[-1]) == ("NEEDS_APPROVAL", "gated requires approval")
    await assert_recorded(runtime, gated, asks)

    low = await fire(runtime, alertname="WebDown")
    nobody = service_with(auto_approve_max_risk="none")
    careful = await decide(runtime, low, nobody)
    assert careful.verdict == "NEEDS_APPROVAL"
    assert "risk low is above repair.auto_approve_max_risk (none)" in careful.reasons[-1]
    await assert_recorded(runtime, low, careful)

    trusting = service_with(auto_approve_max_risk="high")
    async with runtime.session_factory() as session:
        found = await incidents.get_by_human_id(session, medium)
        assert found is not None
        assert (await trusting.decide(session, found)).verdict.value == "AUTO"
        found = await incidents.get_by_human_id(session, gated)
        assert found is not None
        # requires_approval holds whatever the ceiling.
        assert (await trusting.decide(session, found)).verdict.value == "NEEDS_APPROVAL"

    asked = await notifications(runtime, "repair.approval")
    assert len(asked) == 3
    await run_jobs(runtime)
    assert kube.actions == []
    assert await jobs(runtime, EXECUTE_JOB) == []


# ---------------------------------------------------------------- execution


async def test_a_step_timeout_stops_the_repair_at_that_step(
    runtime: Runtime, kube: InMemoryKube, heal_server: RecordingServer
) -> None:
    heal_server.delays["/slow"] = 3.0
    human_id = await fire(runtime, alertname="SlowFirst")
    repair = await decide(runtime, human_id)
    await run_jobs(runtime)

    done = await load_repair(runtime, repair.id)
    assert (done.status, done.success) == ("failed", False)
    assert done.error is not None
    assert "step 1 (http.request) timed out after 1s" in done.error
    assert [(s.action, s.status) for s in done.steps] == [
        ("http.request", "failed"),
        ("kube.rollout_restart", "planned"),
    ]
    assert "timed out" in (done.steps[0].error or "")
    assert done.steps[1].started_at is None
    assert [r.path for r in heal_server.requests] == ["/slow"]
    assert kube.actions == []
    [anti] = await entries(runtime, "ANTI_PATTERN")
    assert (anti.status, anti.symptoms_hash) == ("PUBLISHED", done.symptoms_hash)
    assert (await incident(runtime, human_id)).status == "escalated"
    assert [e.event for e in await events(runtime, human_id)] == [
        "repair_decision",
        "repair_started",
        "repair_failed",
    ]


async def test_a_failed_verification_fails_the_repair_and_teaches(
    runtime: Runtime, kube: InMemoryKube
) -> None:
    kube.get("Deployment", "shop", "web").available = False
    human_id = await fire(runtime, alertname="WebDown")
    repair = await decide(runtime, human_id)
    await run_jobs(runtime)

    done = await load_repair(runtime, repair.id)
    assert (done.status, done.success) == ("failed", False)
    assert done.error == f"verification failed: {TARGET} did not become available within 1s"
    assert [(s.action, s.status) for s in done.steps] == [("kube.rollout_restart", "succeeded")]
    assert kube.calls.count(RESTART) == 1
    assert kube.calls.count(("deployment_available", "shop/web")) >= 2  # polled, not asked once
    [anti] = await entries(runtime, "ANTI_PATTERN")
    assert (anti.status, anti.symptoms_hash, anti.harvest_key) == (
        "PUBLISHED",
        done.symptoms_hash,
        harvest_key(str(repair.id)),
    )
    assert await entries(runtime, "AUTO_RUNBOOK") == []
    assert (await incident(runtime, human_id)).status == "escalated"
    assert len(await notifications(runtime, "repair.failed")) == 1


async def leave_as_a_killed_worker_does(
    runtime: Runtime, repair: Repair, actions: tuple[str, ...], *, attempts: int = 1
) -> None:
    """As a killed worker leaves it: repair running, its first step running, the job's lease
    expired after `attempts` claims."""
    past = utcnow() - timedelta(seconds=5)
    async with transaction(runtime.session_factory) as session:
        row = await session.get(Repair, repair.id)
        assert row is not None
        row.status = "running"
        row.started_at = past
        for position, action in enumerate(actions):
            session.add(
                RepairStep(
                    repair_id=repair.id,
                    position=position,
                    action=action,
                    params={},
                    status="running" if position == 0 else "planned",
                    started_at=past if position == 0 else None,
                )
            )
        job = await session.get(Job, await job_for_key(session, f"repair:{repair.id}"))
        assert job is not None
        job.status = JobStatus.RUNNING.value
        job.attempts = attempts
        job.locked_by = "killed-worker:1:abc"
        job.lease_expires_at = past


async def test_an_interrupted_step_is_not_run_again(runtime: Runtime, kube: InMemoryKube) -> None:
    human_id = await fire(runtime, alertname="TwoSteps")
    repair = await decide(runtime, human_id)
    await leave_as_a_killed_worker_does(runtime, repair, ("kube.rollout_restart", "kube.scale"))

    await run_jobs(runtime)
    done = await load_repair(runtime, repair.id)
    assert (done.status, done.success) == ("interrupted", None)
    assert "interrupted by a restart" in (done.error or "")
    assert [(s.action, s.status) for s in done.steps] == [
        ("kube.rollout_restart", "interrupted"),
        ("kube.scale", "planned"),
    ]
    assert "interrupted" in (done.steps[0].error or "")
    assert kube.actions == []
    # An interruption is not a failed fix: nothing is learnt from it.
    assert await entries(runtime, "ANTI_PATTERN") == []
    assert await jobs(runtime, RUNBOOK_JOB, ANTI_PATTERN_JOB) == []
    assert (await incident(runtime, human_id)).status == "escalated"
    assert len(await notifications(runtime, "repair.interrupted")) == 1


async def test_a_dead_execute_job_interrupts_the_repair_it_left_running(
    runtime: Runtime, kube: InMemoryKube
) -> None:
    # Killed on its last allowed attempt: no worker will take the job again, so the repair
    # must not stay `running` (holding its target) for ever.
    human_id = await fire(runtime, alertname="TwoSteps")
    repair = await decide(runtime, human_id)
    await leave_as_a_killed_worker_does(
        runtime, repair, ("kube.rollout_restart", "kube.scale"), attempts=EXECUTE_JOB_ATTEMPTS
    )

    await run_jobs(runtime)
    [job] = await jobs(runtime, EXECUTE_JOB)
    assert job.status == "dead"
    done = await load_repair(runtime, repair.id)
    assert (done.status, done.success) == ("interrupted", None)
    assert "gave up after 5 attempt(s)" in (done.error or "")
    assert [(s.action, s.status) for s in done.steps] == [
        ("kube.rollout_restart", "interrupted"),
        ("kube.scale", "planned"),
    ]
    assert kube.actions == []
    assert await entries(runtime, "ANTI_PATTERN") == []
    assert [e.event for e in await events(runtime, human_id)][-1] == "repair_interrupted"
    [note] = await notifications(runtime, "repair.interrupted")
    assert "1. kube.rollout_restart" in note.text
    assert await count_repairs(runtime, status="running") == 0


# ---------------------------------------------------------------- approvals and changes


async def test_an_approved_repair_meets_an_anti_pattern_published_meanwhile(
    runtime: Runtime, kube: InMemoryKube
) -> None:
    human_id = await fire(runtime, alertname="Risky")
    pending = await decide(runtime, human_id)
    assert pending.status == "pending_approval"
    async with transaction(runtime.session_factory) as session:
        entry = await knowledge.create_entry(
            session,
            knowledge.NewEntry(
                title="Restarting web makes it worse",
                content="A restart during the migration corrupted the cache.",
                entry_type=EntryType.ANTI_PATTERN,
                source=EntrySource.MANUAL,
                status=EntryStatus.PUBLISHED,
                created_by="alice",
                symptoms_hash=pending.symptoms_hash,
            ),
        )
        approved = await runtime.repairs.approve(session, pending.id, caller=ALICE)
        assert approved.status == "queued"
    await run_jobs(runtime)

    done = await load_repair(runtime, pending.id)
    assert (done.status, done.gate, done.anti_pattern_id) == ("blocked", "anti_pattern", entry.id)
    assert done.steps == []
    assert done.started_at is None
    assert kube.actions == []
    assert [e.event for e in await events(runtime, human_id)] == [
        "repair_decision",
        "repair_approved",
        "repair_blocked",
    ]
    [note] = await notifications(runtime, "repair.blocked")
    assert f"#{entry.id}" in note.title
    assert (await incident(runtime, human_id)).status == "escalated"


async def test_an_expired_approval_cannot_be_given(
    runtime: Runtime, service_with: Callable[..., RepairService]
) -> None:
    start = utcnow()
    clock = [start]
    service = service_with(now=lambda: clock[0])
    first = await decide(runtime, await fire(runtime, alertname="Risky"), service)
    second = await decide(
        runtime, await fire(runtime, alertname="Risky", namespace="shop2"), service
    )
    assert first.expires_at == start + timedelta(hours=24)

    clock[0] = start + timedelta(hours=23)
    async with transaction(runtime.session_factory) as session:
        assert (await service.approve(session, first.id, caller=BOB)).status == "queued"

    clock[0] = start + timedelta(hours=24, seconds=1)
    async with runtime.session_factory() as session, session.begin():
        with pytest.raises(ConflictError, match="expired"):
            await service.approve(session, second.id, caller=BOB)
    async with runtime.session_factory() as session, session.begin():
        with pytest.raises(ConflictError, match="expired"):
            await service.reject(session, second.id, caller=BOB, reason="too late anyway")
    assert (await load_repair(runtime, second.id)).status != "queued"
    assert [job.payload for job in await jobs(runtime, EXECUTE_JOB)] == [{"repair_id": first.id}]


async def test_a_playbook_changed_since_the_decision_does_not_run(
    runtime: Runtime, kube: InMemoryKube
) -> None:
    catalog = runtime.repairs.catalog
    original = catalog.get("restart")
    assert original is not None
    edited = original.model_copy(update={"cooldown": 5.0})
    assert edited.digest != original.digest
    others = [p for p in catalog.playbooks if p.id != "restart"]

    def service_over(playbooks: list[Any]) -> RepairService:
        return RepairService(
            runtime.session_factory,
            PlaybookCatalog(playbooks),
            runtime.repairs.policy,
            kube=runtime.kube,
        )

    changed = await decide(runtime, await fire(runtime, alertname="WebDown"))
    assert changed.playbook_digest == original.digest
    stopped = await service_over([*others, edited]).run_repair(changed.id)
    assert stopped is not None
    assert (stopped.status, stopped.gate, stopped.steps) == ("blocked", "playbook", [])
    assert "changed since the decision" in stopped.reasons[-1]

    removed = await decide(runtime, await fire(runtime, alertname="WebSlow"))
    assert removed.status == "queued"
    gone = await service_over(others).run_repair(removed.id)
    assert gone is not None
    assert (gone.status, gone.gate) == ("blocked", "playbook")
    assert "no longer loaded" in gone.reasons[-1]
    assert kube.actions == []


# ---------------------------------------------------------------- one at a time, and crashes


async def test_concurrent_repairs_on_one_target_run_one_at_a_time(
    runtime: Runtime, kube: InMemoryKube, database_url: str
) -> None:
    if "sqlite" in database_url:
        pytest.skip("concurrent claims need PostgreSQL's row and advisory locks")
    a_id = await fire(runtime, alertname="WebDown")
    b_id = await fire(runtime, alertname="WebSlow")
    async with transaction(runtime.session_factory) as session:
        found = [await incidents.get_by_human_id(session, h) for h in (a_id, b_id)]
        assert None not in found
        # Both decided before either is recorded: two AUTO verdicts on one target.
        verdicts = [await runtime.repairs.decide(session, item) for item in found]
        assert [v.verdict.value for v in verdicts] == ["AUTO", "AUTO"]
        recorded = [
            await runtime.repairs.record(session, item, verdict, actor="test")
            for item, verdict in zip(found, verdicts, strict=True)
        ]
    assert [r.status for r in recorded] == ["queued", "queued"]

    kube.delay = {"rollout_restart": 0.5}
    most_running = 0
    stop = asyncio.Event()

    async def watch() -> None:
        nonlocal most_running
        while not stop.is_set():
            most_running = max(most_running, await count_repairs(runtime, status="running"))
            await asyncio.sleep(0.02)

    watcher = asyncio.create_task(watch())
    try:
        results = await asyncio.gather(*(runtime.repairs.run_repair(r.id) for r in recorded))
    finally:
        stop.set()
        await watcher
    outcomes = sorted((r.status, r.gate) for r in results if r is not None)
    assert outcomes == [("blocked", "busy"), ("succeeded", None)]
    assert kube.calls.count(RESTART) == 1
    assert most_running == 1
    blocked = next(r for r in results if r is not None and r.status == "blocked")
    assert blocked.steps == []
    assert f"running on {TARGET}" in blocked.reasons[-1]


async def test_the_database_refuses_two_running_repairs_on_one_target(runtime: Runtime) -> None:
    human_id = await fire(runtime, alertname="WebDown")
    found = await incident(runtime, human_id)

    def running(target: str) -> Repair:
        return Repair(
            incident_id=found.id,
            target=target,
            verdict="AUTO",
            status="running",
            symptoms_hash=found.symptoms_hash,
            requested_by="test",
            reasons=[],
            plan=[],
        )

    async with transaction(runtime.session_factory) as session:
        session.add(running(TARGET))
        session.add(running("shop2/Deployment/web"))  # another target may run meanwhile
    with pytest.raises(IntegrityError):
        async with transaction(runtime.session_factory) as session:
            session.add(running(TARGET))
    assert await count_repairs(runtime, status="running") == 2


async def test_a_crash_after_the_run_still_harvests_exactly_once(
    runtime: Runtime, settings: Settings, kube: InMemoryKube
) -> None:
    human_id = await fire(runtime, alertname="WebDown")
    repair = await decide(runtime, human_id)
    async with runtime.session_factory() as session:
        job_id = await job_for_key(session, f"repair:{repair.id}")
    assert job_id is not None
    assert await runtime.worker().run_job(job_id)
    assert (await load_repair(runtime, repair.id)).status == "succeeded"
    [queued] = await jobs(runtime, RUNBOOK_JOB)
    assert queued.status == JobStatus.QUEUED.value
    await runtime.dispose()  # the process goes away before any worker runs the harvest

    restarted = Runtime.from_settings(settings, kube=kube)
    try:
        await restarted.worker().run_until_idle()
        [entry] = await entries(restarted, "AUTO_RUNBOOK")
        assert (entry.status, entry.harvest_key) == ("DRAFT", harvest_key(str(repair.id)))
        # A redelivered execute job finds the repair finished: nothing runs, nothing is queued.
        again = await restarted.repairs.run_repair(repair.id)
        assert again is not None
        assert again.status == "succeeded"
        await restarted.worker().run_until_idle()
        assert len(await entries(restarted, "AUTO_RUNBOOK")) == 1
        assert len(await jobs(restarted, RUNBOOK_JOB, ANTI_PATTERN_JOB)) == 1
        assert kube.calls.count(RESTART) == 1
    finally:
        await restarted.dispose()


async def test_a_killed_worker_process_is_resumed_without_repeating_a_step(
    runtime: Runtime, settings: Settings, heal_server: RecordingServer, tmp_path: Path
) -> None:
    config = tmp_path / "worker.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "repair": repair_settings(Path(str(settings.repair.playbooks_dir))),
                "ai": {"diagnose_incidents": False},
                "jobs": {"lease_seconds": 1, "poll_interval": 0.05, "concurrency": 1},
            }
        )
    )
    human_id = await fire(runtime, alertname="SlowVerify")
    repair = await decide(runtime, human_id)
    assert repair.status == "queued"

    env = cli_env(
        tmp_path / "worker-home", settings.resolved_database_url, AWOOOI_CONFIG=str(config)
    )
    with background_process(
        [str(AWOOOI), "worker", "--id", "doomed"], name="worker", env=env, directory=tmp_path
    ) as worker:
        deadline = time.monotonic() + WAIT_TIMEOUT
        while True:
            steps = (await load_repair(runtime, repair.id)).steps
            if steps and steps[0].status == StepStatus.SUCCEEDED.value:
                break
            worker.assert_alive()
            if time.monotonic() > deadline:
                pytest.fail(f"the worker never finished the step:\n{worker.output()}")
            await asyncio.sleep(0.05)
        os.kill(worker.popen.pid, signal.SIGKILL)
        worker.popen.wait(timeout=WAIT_TIMEOUT)
    assert (await load_repair(runtime, repair.id)).status == "running"  # killed mid-verify
    assert len(heal_server.requests) == 1

    deadline = time.monotonic() + WAIT_TIMEOUT
    while (await load_repair(runtime, repair.id)).status == "running":
        await runtime.worker().run_until_idle()  # takes the job once its lease expires
        if time.monotonic() > deadline:
            pytest.fail("the repair was not resumed")
        await asyncio.sleep(0.1)
    await runtime.worker().run_until_idle()

    done = await load_repair(runtime, repair.id)
    assert (done.status, done.success) == ("succeeded", True)
    assert [(s.action, s.status) for s in done.steps] == [("http.request", "succeeded")]
    assert [(r.method, r.path) for r in heal_server.requests] == [("POST", "/heal/web")]
    [entry] = await entries(runtime, "AUTO_RUNBOOK")
    assert entry.harvest_key == harvest_key(str(repair.id))
    [job] = await jobs(runtime, EXECUTE_JOB)
    assert (job.status, job.attempts) == ("done", 2)
    assert [e.event for e in await events(runtime, human_id)] == [
        "repair_decision",
        "repair_started",
        "repair_succeeded",
    ]


# ---------------------------------------------------------------- the decide job


async def test_the_decide_job_records_one_decision_however_often_it_runs(
    runtime: Runtime, kube: InMemoryKube
) -> None:
    human_id = await fire(runtime, alertname="WebDown")
    found = await incident(runtime, human_id)
    async with transaction(runtime.session_factory) as session:
        job_id = await queue_decision(session, found.id)
        assert await queue_decision(session, found.id) == job_id  # once per incident
    assert await runtime.worker().run_job(job_id)
    assert [r.status for r in await repairs_of(runtime, human_id)] == ["queued"]

    # Delivered again (a lost lease), and once more under another key.
    async with transaction(runtime.session_factory) as session:
        job = await session.get(Job, job_id)
        assert job is not None
        job.status = JobStatus.QUEUED.value
        await enqueue(session, DECIDE_JOB, {"incident_id": found.id})
    await runtime.worker().run_until_idle()

    assert [r.status for r in await repairs_of(runtime, human_id)] == ["succeeded"]
    assert [e.event for e in await events(runtime, human_id, "repair_decision")] == [
        "repair_decision"
    ]
    async with runtime.session_factory() as session:
        decided = await session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.kind == DECIDE_JOB, Job.status == JobStatus.DONE.value)
        )
    assert decided == 2
    assert kube.calls.count(RESTART) == 1


# ---------------------------------------------------------------- follow-ups


async def test_an_unanswered_approval_expires_by_its_job(
    runtime: Runtime, service_with: Callable[..., RepairService], kube: InMemoryKube
) -> None:
    service = service_with(approval_ttl_hours=0.0005)  # about 1.8 s
    human_id = await fire(runtime, alertname="Risky")
    waiting = await decide(runtime, human_id, service)
    assert waiting.status == "pending_approval"
    [expiry] = await jobs(runtime, "repair.expire")
    assert expiry.run_at == waiting.expires_at

    await runtime.worker().run_until_idle()
    assert waiting.expires_at is not None
    if utcnow() < waiting.expires_at:  # a loaded machine may already be past the deadline
        # Not due yet: the repair still waits.
        assert (await load_repair(runtime, waiting.id)).status == "pending_approval"

    deadline = time.monotonic() + WAIT_TIMEOUT
    while (await load_repair(runtime, waiting.id)).status == "pending_approval":
        assert time.monotonic() < deadline, "the expiry job never ran"
        await asyncio.sleep(0.1)
        await runtime.worker().run_until_idle()
    assert (await load_repair(runtime, waiting.id)).status == "expired"
    assert [e.event for e in await events(runtime, human_id)][-1] == "repair_expired"
    async with runtime.session_factory() as session, session.begin():
        with pytest.raises(ConflictError, match="expired"):
            await service.approve(session, waiting.id, caller=BOB)
    assert RESTART not in kube.calls


async def test_an_approval_given_late_still_meets_the_rate_limit(
    runtime: Runtime, service_with: Callable[..., RepairService], kube: InMemoryKube
) -> None:
    service = service_with(max_repairs_per_target_per_hour=1)
    waiting = await decide(runtime, await fire(runtime, alertname="Gated"), service)
    assert waiting.status == "pending_approval"
    # Meanwhile another repair runs on the same target and uses up the hour's allowance.
    other = await decide(runtime, await fire(runtime, alertname="WebDown"), service)
    assert other.status == "queued"
    assert (await service.run_repair(other.id)) is not None
    assert (await load_repair(runtime, other.id)).status == "succeeded"

    async with transaction(runtime.session_factory) as session:
        await service.approve(session, waiting.id, caller=BOB)
    finished = await service.run_repair(waiting.id)
    assert finished is not None
    assert (finished.status, finished.gate) == ("blocked", "rate_limit")
    assert kube.calls.count(RESTART) == 1


async def test_the_decide_job_leaves_an_operator_decision_alone(
    runtime: Runtime, kube: InMemoryKube
) -> None:
    human_id = await fire(runtime, alertname="WebDown")
    found = await incident(runtime, human_id)
    async with transaction(runtime.session_factory) as session:
        job_id = await queue_decision(session, found.id)
    await decide(runtime, human_id)  # an operator was faster (POST /incidents/{id}/repair)
    assert await runtime.worker().run_job(job_id)
    assert len(await repairs_of(runtime, human_id)) == 1


async def test_dry_run_records_a_blocked_verdict_without_paging(
    runtime: Runtime, service_with: Callable[..., RepairService]
) -> None:
    service = service_with(mode="dry-run", max_repairs_per_target_per_hour=1)
    async with transaction(runtime.session_factory) as session:
        session.add(
            Repair(
                incident_id=(await incident(runtime, await fire(runtime, alertname="WebSlow"))).id,
                target=TARGET,
                verdict="AUTO",
                status="succeeded",
                symptoms_hash="0" * 16,
                requested_by="test",
                started_at=utcnow(),
                finished_at=utcnow(),
            )
        )
    human_id = await fire(runtime, alertname="WebDown")
    blocked = await decide(runtime, human_id, service)
    assert (blocked.verdict, blocked.gate, blocked.dry_run) == ("BLOCKED", "rate_limit", True)
    assert (await incident(runtime, human_id)).status == "open"
    assert await notifications(runtime, "repair.blocked") == []


async def test_without_a_cluster_kube_playbooks_are_not_tried(
    runtime: Runtime, kube: InMemoryKube
) -> None:
    # Running them would fail and publish an anti-pattern for a fix that was never tried.
    service = RepairService(
        runtime.session_factory, runtime.repairs.catalog, runtime.repairs.policy, kube=lambda: None
    )
    try:
        human_id = await fire(runtime, alertname="WebDown")
        decided = await decide(runtime, human_id, service)
        assert (decided.verdict, decided.status) == ("NO_PLAYBOOK", "no_playbook")
        # One clear reason, not "no playbook matches" next to the playbook that matched.
        assert decided.reasons == [
            "no playbook can be used: restart matches but needs a Kubernetes cluster, and "
            "none is configured (kube.server, kube.kubeconfig, kube.in_cluster)"
        ]
        # A playbook without kube steps still runs.
        ping = await decide(runtime, await fire(runtime, alertname="Ping"), service)
        assert (ping.verdict, ping.playbook_id) == ("AUTO", "ping")
        await runtime.worker().run_until_idle()
        assert await entries(runtime, "ANTI_PATTERN") == []
        assert kube.actions == []
    finally:
        await service.aclose()

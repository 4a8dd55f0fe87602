"""Drift scans as durable jobs: queued reports, failures recorded, one scan at a time across
replicas (PostgreSQL advisory lock), one scheduled scan per interval, notifications."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from awoooi.core.db import transaction
from awoooi.core.jobs import Job
from awoooi.core.locks import try_lock_name
from awoooi.drift import repository
from awoooi.drift.models import DriftReportRecord
from awoooi.drift.scanning import (
    SCAN_JOB,
    SCAN_LOCK,
    DriftNotConfigured,
    configured_sources,
    queue_scan,
    queue_scheduled_scan,
    run_schedule,
    schedule_slot,
)
from awoooi.drift.settings import DriftSettings
from awoooi.notify.models import Notification
from awoooi.runtime import Runtime
from awoooi.settings import Settings
from tests.conftest import make_settings

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "api", "namespace": "prod"},
    "spec": {
        "replicas": 3,
        "template": {
            "spec": {
                "containers": [
                    {"name": "api", "image": "api:2.0", "securityContext": {"privileged": False}}
                ]
            }
        },
    },
}


def write(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(obj, sort_keys=False))


@pytest.fixture
def sources(tmp_path: Path) -> tuple[Path, Path]:
    desired = tmp_path / "git"
    write(desired / "api.yaml", DEPLOYMENT)
    live = yaml.safe_load(yaml.safe_dump(DEPLOYMENT))
    live["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    write(tmp_path / "dump" / "api.yaml", live)
    return desired, tmp_path / "dump"


@pytest.fixture
def settings(tmp_path: Path, database_url: str, sources: tuple[Path, Path]) -> Settings:
    desired, dump = sources
    return make_settings(
        tmp_path / "home",
        database_url,
        drift={"desired": str(desired), "live_dump": dump, "interpret": True, "scan_interval": 0},
        # No provider is reachable: interpretation falls back to heuristics.
        ai={"providers": []},
    )


async def test_a_queued_scan_fills_its_report_interprets_and_notifies(runtime: Runtime) -> None:
    sources = configured_sources(runtime.settings.drift, cluster_available=False)
    async with transaction(runtime.session_factory) as session:
        record = await queue_scan(session, sources, actor="alice")
        report_id = record.id
    await runtime.worker().run_until_idle()
    async with transaction(runtime.session_factory) as session:
        record = await repository.get_report(session, report_id)
        assert record is not None
        assert record.status == "DETECTED"
        assert record.created_by == "alice"
        assert record.summary["drifted"] == 1
        [item] = [i for i in record.items if not i.ignored]
        assert item.path == "spec.template.spec.containers[name=api].securityContext.privileged"
        assert item.level == "critical"
        [found] = record.interpretations
        assert found["intent"] == "SECURITY_RISK"
        assert found["source"] == "heuristic"
        sent = list(await session.scalars(select(Notification)))
    # The model was asked and rejected (a human is told once), then the rules read the drift.
    assert [n.kind for n in sent] == ["ai.rejected", "drift.detected"]
    assert sent[1].severity == "critical"
    assert "Deployment/prod/api" in sent[1].text


async def test_an_unreadable_source_fails_the_report_not_the_job(
    runtime: Runtime, tmp_path: Path
) -> None:
    sources = configured_sources(runtime.settings.drift, cluster_available=False)
    sources = type(sources)(desired=str(tmp_path / "nowhere"), live_dump=sources.live_dump)
    async with transaction(runtime.session_factory) as session:
        report_id = (await queue_scan(session, sources, actor="bob")).id
    await runtime.worker().run_until_idle()
    async with transaction(runtime.session_factory) as session:
        record = await repository.get_report(session, report_id)
        jobs = list(await session.scalars(select(Job).where(Job.kind == SCAN_JOB)))
    assert record is not None
    assert record.status == "FAILED"
    assert record.error
    assert "nowhere" in record.error
    assert [job.status for job in jobs] == ["done"]


async def test_nothing_configured_is_a_clear_error() -> None:
    with pytest.raises(DriftNotConfigured, match=r"drift\.desired"):
        configured_sources(DriftSettings(), cluster_available=True)
    with pytest.raises(DriftNotConfigured, match="live"):
        configured_sources(DriftSettings(desired="/srv/git"), cluster_available=False)


async def test_one_scheduled_scan_per_interval_whoever_asks(runtime: Runtime) -> None:
    settings = runtime.settings.drift.model_copy(update={"scan_interval": timedelta(hours=1)})
    now = datetime(2026, 11, 29, 10, 15, tzinfo=UTC)
    first = await queue_scheduled_scan(
        runtime.session_factory, settings, cluster_available=False, now=now
    )
    # Another replica, later in the same hour: nothing new.
    again = await queue_scheduled_scan(
        runtime.session_factory,
        settings,
        cluster_available=False,
        now=now + timedelta(minutes=40),
    )
    later = await queue_scheduled_scan(
        runtime.session_factory, settings, cluster_available=False, now=now + timedelta(hours=1)
    )
    assert first is not None
    assert again is None
    assert later is not None
    assert later != first
    async with transaction(runtime.session_factory) as session:
        reports = list(await session.scalars(select(DriftReportRecord.created_by)))
        keys = list(await session.scalars(select(Job.dedupe_key).where(Job.kind == SCAN_JOB)))
    assert reports == ["schedule", "schedule"]
    assert keys == [
        f"drift-schedule:{schedule_slot(now, timedelta(hours=1))}",
        f"drift-schedule:{schedule_slot(now, timedelta(hours=1)) + 1}",
    ]


async def test_replicas_racing_on_the_schedule_queue_one_scan(runtime: Runtime) -> None:
    settings = runtime.settings.drift.model_copy(update={"scan_interval": timedelta(hours=1)})
    now = datetime(2026, 11, 29, 11, 0, tzinfo=UTC)
    results = await asyncio.gather(
        *(
            queue_scheduled_scan(
                runtime.session_factory, settings, cluster_available=False, now=now
            )
            for _ in range(4)
        ),
        return_exceptions=True,
    )
    queued = [r for r in results if isinstance(r, int)]
    assert len(queued) == 1, results
    async with transaction(runtime.session_factory) as session:
        count = len(list(await session.scalars(select(DriftReportRecord.id))))
    assert count == 1


async def test_the_schedule_loop_queues_and_stops(runtime: Runtime) -> None:
    settings = runtime.settings.drift.model_copy(update={"scan_interval": timedelta(hours=1)})
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_schedule(runtime.session_factory, settings, stop, cluster_available=False)
    )
    for _ in range(200):
        async with transaction(runtime.session_factory) as session:
            if await session.scalar(select(DriftReportRecord.id)):
                break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, timeout=10)
    async with transaction(runtime.session_factory) as session:
        assert [r.status for r in await session.scalars(select(DriftReportRecord))] == ["QUEUED"]


@pytest.fixture
async def second_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    active = Runtime.from_settings(settings)
    try:
        yield active
    finally:
        await active.dispose()


async def test_a_scan_waits_while_another_replica_scans(
    runtime: Runtime, second_runtime: Runtime, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite serves one process: there is no other replica to wait for")
    sources = configured_sources(runtime.settings.drift, cluster_available=False)
    async with transaction(runtime.session_factory) as session:
        report_id = (await queue_scan(session, sources, actor="carol")).id
    # Another replica holds the scan lock for the length of its transaction.
    async with second_runtime.session_factory() as other, other.begin():
        assert await try_lock_name(other, SCAN_LOCK)
        await runtime.worker().run_until_idle()
        async with transaction(runtime.session_factory) as session:
            record = await repository.get_report(session, report_id)
            job = await session.scalar(select(Job).where(Job.kind == SCAN_JOB))
        assert record is not None
        assert record.status == "QUEUED"
        assert job is not None
        assert job.status == "queued"
        assert job.attempts == 1
        assert "another drift scan is running" in (job.last_error or "")
    # Lock released: the retry scans.
    async with transaction(runtime.session_factory) as session:
        job = await session.scalar(select(Job).where(Job.kind == SCAN_JOB))
        assert job is not None
        job.run_at = datetime.now(UTC)
    await runtime.worker().run_until_idle()
    async with transaction(runtime.session_factory) as session:
        record = await repository.get_report(session, report_id)
    assert record is not None
    assert record.status == "DETECTED"

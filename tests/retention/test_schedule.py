"""The `retention.prune` job: queued once per interval whoever asks, run by a worker, queued by
`serve` as it starts; and the `retention` settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from awoooi.api.app import create_app
from awoooi.core.errors import ConfigError
from awoooi.core.models import Job, JobStatus
from awoooi.incidents.models import Incident
from awoooi.retention.schedule import PRUNE_JOB, queue_scheduled_prune
from awoooi.runtime import Runtime
from awoooi.settings import Settings, load_settings
from tests.core.test_jobs import wait_until
from tests.retention.seed import add_incident, exists

HOUR = timedelta(hours=1)
START = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


async def prune_jobs(runtime: Runtime) -> list[Job]:
    async with runtime.session_factory() as session:
        return list(await session.scalars(select(Job).where(Job.kind == PRUNE_JOB)))


async def test_one_prune_job_per_interval_whoever_queues_it(runtime: Runtime) -> None:
    factory = runtime.session_factory
    first = await queue_scheduled_prune(factory, HOUR, now=START)
    # Another replica, later in the same interval, finds the same job.
    same = await queue_scheduled_prune(factory, HOUR, now=START + timedelta(minutes=59))
    following = await queue_scheduled_prune(factory, HOUR, now=START + HOUR)

    assert same == first
    assert following != first
    assert sorted(job.id for job in await prune_jobs(runtime)) == sorted({first, following})


async def test_a_worker_runs_the_prune_job(runtime: Runtime) -> None:
    # The runtime's defaults: resolved incidents are kept 180 days.
    old = await add_incident(runtime.session_factory)
    recent = await add_incident(
        runtime.session_factory, resolved_at=datetime.now(UTC) - timedelta(days=179)
    )
    job_id = await queue_scheduled_prune(runtime.session_factory, HOUR)

    assert await runtime.worker().run_job(job_id)

    [job] = await prune_jobs(runtime)
    assert job.status == JobStatus.DONE
    assert not await exists(runtime.session_factory, Incident, old.incident_id)
    assert await exists(runtime.session_factory, Incident, recent.incident_id)


async def test_serve_queues_a_prune_as_it_starts(settings: Settings, runtime: Runtime) -> None:
    app: FastAPI = create_app(settings, runtime=runtime, run_worker=False)
    async with app.router.lifespan_context(app):

        async def queued() -> bool:
            return bool(await prune_jobs(runtime))

        await wait_until(queued, "the prune job serve queues as it starts")
    [job] = await prune_jobs(runtime)
    assert job.status == JobStatus.QUEUED
    assert (job.dedupe_key or "").startswith("retention-prune:")


def test_retention_settings_read_durations_and_refuse_bad_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWOOOI_RETENTION__INTERVAL", "30m")
    monkeypatch.setenv("AWOOOI_INCIDENTS__RETENTION_DAYS", "0")
    settings = load_settings()
    assert settings.retention.interval == timedelta(minutes=30)
    assert settings.incidents.retention_days == 0
    monkeypatch.setenv("AWOOOI_RETENTION__INTERVAL", "0")
    assert not load_settings().retention.interval
    for bad, reason in (("10s", "at least 1 minute"), ("40d", "at most 31 days")):
        monkeypatch.setenv("AWOOOI_RETENTION__INTERVAL", bad)
        with pytest.raises(ConfigError, match=reason):
            load_settings()
    monkeypatch.setenv("AWOOOI_RETENTION__INTERVAL", "1h")
    monkeypatch.setenv("AWOOOI_JOBS__RETENTION_DAYS", "-1")
    with pytest.raises(ConfigError, match="AWOOOI_JOBS__RETENTION_DAYS"):
        load_settings()

"""Scan input that can never work: refused at the API, and a queued scan holding it dies at once
with the reason on its report instead of retrying for hours."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import select

from awoooi.core.db import transaction
from awoooi.core.jobs import enqueue
from awoooi.core.models import Job, JobStatus, Role
from awoooi.drift import repository
from awoooi.drift.scanning import SCAN_JOB, configured_sources, queue_scan
from awoooi.runtime import Runtime
from awoooi.settings import Settings
from tests.conftest import make_settings
from tests.incidents.conftest import TokenFactory

CONFIG_MAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"}}


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    for side in ("git/apps", "dump"):
        (tmp_path / side).mkdir(parents=True)
        (tmp_path / side / "c.yaml").write_text(yaml.safe_dump(CONFIG_MAP))
    drift = {
        "desired": str(tmp_path / "git"),
        "live_dump": tmp_path / "dump",
        "interpret": False,
        "scan_interval": 0,  # no scheduled scan: the jobs here are the tests' own
    }
    return make_settings(tmp_path / "home", database_url, drift=drift, ai={"providers": []})


async def _scan_jobs(runtime: Runtime) -> list[Job]:
    async with runtime.session_factory() as session:
        return list(await session.scalars(select(Job).where(Job.kind == SCAN_JOB)))


@pytest.mark.parametrize("path", ["apps\u0000x", "apps\nx", "\u0000"])
async def test_a_path_with_control_characters_is_422(
    client: httpx.AsyncClient, runtime: Runtime, headers_for: TokenFactory, path: str
) -> None:
    operator = await headers_for(Role.OPERATOR)

    response = await client.post("/api/v1/drift/scan", json={"path": path}, headers=operator)

    assert response.status_code == 422, response.text
    assert ["body", "path"] in [problem["loc"] for problem in response.json()["detail"]]
    assert await _scan_jobs(runtime) == []
    good = await client.post("/api/v1/drift/scan", json={"path": "apps"}, headers=operator)
    assert good.status_code == 202, good.text


async def test_a_queued_scan_of_a_nul_path_dies_at_once_and_fails_its_report(
    runtime: Runtime, database_url: str
) -> None:
    if database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL cannot store the NUL path, so no such scan can be queued there")
    sources = configured_sources(runtime.settings.drift, cluster_available=False)
    sources = type(sources)(desired=sources.desired, path="apps\x00x", live_dump=sources.live_dump)
    async with transaction(runtime.session_factory) as session:
        report_id = (await queue_scan(session, sources, actor="old-cli")).id

    await runtime.worker().run_until_idle()

    [job] = await _scan_jobs(runtime)
    assert (job.status, job.attempts) == (JobStatus.DEAD.value, 1)
    assert job.last_error is not None
    assert "NUL" in job.last_error
    async with runtime.session_factory() as session:
        record = await repository.get_report(session, report_id)
    assert record is not None
    assert record.status == "FAILED"
    assert record.error == job.last_error


async def test_a_scan_job_naming_no_report_dies_at_once(runtime: Runtime) -> None:
    async with transaction(runtime.session_factory) as session:
        await enqueue(session, SCAN_JOB, {"report_id": "not-a-number"}, max_attempts=20)

    await runtime.worker().run_until_idle()

    [job] = await _scan_jobs(runtime)
    assert (job.status, job.attempts) == (JobStatus.DEAD.value, 1)
    assert "report_id" in (job.last_error or "")

"""End to end: `awoooi serve` and `awoooi worker` as real processes on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import stat
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

import awoooi
from awoooi.core import migrate
from awoooi.core.db import create_engine, create_session_factory, transaction
from awoooi.core.models import Job
from awoooi.notify.models import Notification
from awoooi.notify.service import SEND_JOB, notify
from awoooi.runtime import ADMIN_TOKEN_FILE
from tests.helpers.serve import Process, awoooi_process, cli_env, free_port

START_TIMEOUT = 30.0  # bounds on waiting, never asserted as durations
POLL = 0.1


def wait_until(process: Process, condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not condition():
        process.assert_alive()
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}:\n{process.output()}")
        time.sleep(POLL)


def healthy(client: httpx.Client) -> bool:
    try:
        return client.get("/healthz").status_code == 200
    except httpx.TransportError:
        return False


def test_serve_end_to_end(tmp_path: Path, database_url: str) -> None:
    home = tmp_path / "home"
    env = cli_env(home, database_url)
    port = free_port()
    token_file = (home / ADMIN_TOKEN_FILE).resolve()

    with (
        awoooi_process(
            "serve", "--port", str(port), env=env, directory=tmp_path / "run1"
        ) as server,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client,
    ):
        wait_until(server, lambda: healthy(client), "/healthz")

        assert client.get("/healthz").json() == {"status": "ok"}

        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "schema": migrate.head_revision()}

        metrics = client.get("/metrics")
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain")
        assert f'awoooi_build_info{{version="{awoooi.__version__}"}} 1.0' in metrics.text
        assert "awoooi_http_requests_total" in metrics.text

        anonymous = client.get("/api/v1/audit")
        assert anonymous.status_code == 401
        assert anonymous.json()["error"] == "unauthorized"
        forged = client.get("/api/v1/audit", headers={"Authorization": "Bearer awi_" + "x" * 43})
        assert forged.status_code == 401

        token = token_file.read_text().strip()
        assert token.startswith("awi_")
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        audit = client.get("/api/v1/audit", headers={"Authorization": f"Bearer {token}"})
        assert audit.status_code == 200
        assert isinstance(audit.json(), list)

        assert server.terminate() == 0

    logs = server.output()
    assert str(token_file) in logs
    assert token not in logs
    assert token[4:] not in logs
    events = [event.get("event") for event in server.events()]
    assert "created the first admin token" in events
    assert "stopped" in events

    # A second start keeps the first admin token and does not announce a new one.
    port = free_port()
    with (
        awoooi_process("serve", "--port", str(port), env=env, directory=tmp_path / "run2") as again,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client,
    ):
        wait_until(again, lambda: healthy(client), "/healthz after a restart")
        audit = client.get("/api/v1/audit", headers={"Authorization": f"Bearer {token}"})
        assert audit.status_code == 200
        assert again.terminate() == 0

    assert token_file.read_text().strip() == token
    assert "created the first admin token" not in [event.get("event") for event in again.events()]


async def notification_and_job(database_url: str, notification_id: int) -> tuple[Notification, Job]:
    engine = create_engine(database_url)
    try:
        async with transaction(create_session_factory(engine)) as session:
            record = await session.get(Notification, notification_id)
            job = await session.scalar(select(Job).where(Job.kind == SEND_JOB))
            assert record is not None
            assert job is not None
            return record, job
    finally:
        await engine.dispose()


async def queue_notification(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        async with transaction(create_session_factory(engine)) as session:
            records = await notify(
                session,
                kind="test.ping",
                title="hello from the worker test",
                text="delivered through the log channel",
                channels=["log"],
            )
            return records[0].id
    finally:
        await engine.dispose()


async def test_worker_processes_a_queued_notification(tmp_path: Path, database_url: str) -> None:
    env = cli_env(tmp_path / "home", database_url, AWOOOI_JOBS__POLL_INTERVAL="0.1")

    with awoooi_process(
        "worker", "--id", "e2e-worker", env=env, directory=tmp_path / "worker"
    ) as worker:
        # The worker migrates before it starts polling; queue only once the schema is there.
        wait_until(
            worker,
            lambda: any(e.get("event") == "worker started" for e in worker.events()),
            "the worker to start",
        )
        notification_id = await queue_notification(database_url)

        deadline = time.monotonic() + START_TIMEOUT
        while True:
            record, job = await notification_and_job(database_url, notification_id)
            if record.status == "sent" and job.status == "done":
                break
            worker.assert_alive()
            if time.monotonic() > deadline:
                pytest.fail(f"notification stayed {record.status}:\n{worker.output()}")
            await asyncio.sleep(POLL)

        assert record.external_id == f"log-{notification_id}"
        assert record.attempts == 1
        assert record.error is None
        assert record.sent_at is not None
        assert job.payload == {"notification_id": notification_id}
        assert job.attempts == 1
        assert job.finished_at is not None

        assert worker.terminate() == 0

    events = worker.events()
    started = [e for e in events if e.get("event") == "worker started"]
    assert started[0]["worker_id"] == "e2e-worker"
    assert SEND_JOB in started[0]["kinds"]
    delivered = [e for e in events if e.get("event") == "notification"]
    assert [(e["notification_id"], e["title"]) for e in delivered] == [
        (notification_id, "hello from the worker test")
    ]
    assert any(e.get("event") == "worker stopped" for e in events)

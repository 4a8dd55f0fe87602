"""Many replicas, proven: two `awoooi serve` and one `awoooi worker` on one PostgreSQL database
take an alert storm sent to both servers at once (duplicates across servers, redeliveries,
refires), one server is SIGKILLed mid-storm and started again, and afterwards the database
shows every alert counted once, one incident per symptoms, one diagnosis per incident, no job
stuck, no repair run twice on a target and one scheduled drift scan per interval.

The repairs are real: a playbook POSTs to a recording HTTP server. The drift schedule runs at
its shortest interval (one minute) against a local desired directory and a dump: the test
lasts less than that, so it checks the mechanism's dedupe — every replica that starts (three
starts here) queues the current interval's scan, and only one report per interval exists.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from awoooi.core.auth import create_token
from awoooi.core.db import create_engine, create_session_factory, transaction, utcnow
from awoooi.core.models import Job, JobStatus, Role
from awoooi.diagnosis.incidents import DIAGNOSE_JOB
from awoooi.diagnosis.models import DiagnosisRecord
from awoooi.drift.models import DriftReportRecord
from awoooi.drift.scanning import SCAN_JOB, SCHEDULE_ACTOR, schedule_slot
from awoooi.incidents.models import ACTIVE_STATUSES, Incident, IncidentAlert
from awoooi.repair.models import Repair
from tests.conftest import create_pg_database, drop_pg_database
from tests.helpers.serve import (
    AWOOOI,
    Process,
    background_process,
    cli_env,
    free_port,
    run_awoooi,
    wait_until,
)
from tests.incidents.conftest import am_alert, am_payload
from tests.repair.conftest import HOST, RecordingServer

NAMESPACE = "storm"
HEAL_ALERT = "StormHealNeeded"
CRASH_ALERT = "KubernetesPodCrashLooping"
HEALED = [f"heal{index}" for index in range(6)]
CRASHED = [f"crash{index}" for index in range(6)]
PODS = ("6b7c9d8f5-x2kqz", "6b7c9d8f5-p7wtn")
FIRST_START = "2026-12-07T08:00:00.000Z"
REFIRED_START = "2026-12-07T08:20:00.000Z"
SCAN_INTERVAL = timedelta(minutes=1)  # the shortest the settings allow
LEASE_SECONDS = 2
QUIET_TIMEOUT = 90.0  # bounds on polling, never asserted
HOLD_TIMEOUT = 5.0
START_TIMEOUT = 60.0  # process start-up on a busy machine
REPAIRED_STATUSES = {"running", "succeeded", "failed", "interrupted"}

PLAYBOOK = f"""
id: storm-heal
name: Heal a storm service
match:
  signals: [{HEAL_ALERT}]
risk: low
steps:
  - action: http.request
    params: {{method: POST, url: "http://{HOST}:__PORT__/heal/${{namespace}}/${{service}}"}}
    timeout: 10s
cooldown: 1h
max_attempts: 1
"""

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "heal0", "namespace": NAMESPACE},
    "spec": {
        "replicas": 2,
        "template": {"spec": {"containers": [{"name": "app", "image": "a:1"}]}},
    },
}


def alert(service: str, pod: str, *, starts_at: str = FIRST_START) -> dict[str, Any]:
    """One firing alert of a storm service's pod, as Alertmanager sends it."""
    name = HEAL_ALERT if service in HEALED else CRASH_ALERT
    found = am_alert(
        alertname=name,
        namespace=NAMESPACE,
        pod=f"{service}-{pod}",
        instance=f"10.1.{len(service)}.{PODS.index(pod) + 2}:8080",
        starts_at=starts_at,
        fingerprint=f"{service}-{pod}".replace("-", "")[:16],
    )
    return found


@dataclass
class Deliveries:
    """What each server answered: accepted (2xx) alerts, refusals and lost requests."""

    accepted: list[dict[str, Any]] = field(default_factory=list)
    lost: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def starts_sent(self, fingerprint: str) -> set[str]:
        return {a["startsAt"] for a in self.accepted + self.lost if a["fingerprint"] == fingerprint}


@pytest.fixture
async def database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database (replicas need one every process reaches)."""
    url = await create_pg_database()
    try:
        yield url
    finally:
        await drop_pg_database(url)


@pytest.fixture
def heal_server() -> Iterator[RecordingServer]:
    server = RecordingServer().start()
    server.delays = {f"/heal/{NAMESPACE}/{service}": 0.3 for service in HEALED}
    try:
        yield server
    finally:
        server.stop()


def write_config(tmp_path: Path, heal_port: int) -> Path:
    """One config for every process: no model, short leases, the playbook, the drift schedule."""
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "storm.yaml").write_text(PLAYBOOK.replace("__PORT__", str(heal_port)))
    desired = tmp_path / "desired"
    desired.mkdir()
    (desired / "heal0.yaml").write_text(yaml.safe_dump(DEPLOYMENT))
    dump = tmp_path / "dump"
    dump.mkdir()
    live = yaml.safe_load(yaml.safe_dump(DEPLOYMENT))
    live["spec"]["replicas"] = 5
    (dump / "heal0.yaml").write_text(yaml.safe_dump(live))
    config = {
        "ai": {"providers": [], "diagnose_incidents": False},
        "jobs": {
            "lease_seconds": LEASE_SECONDS,
            "poll_interval": 0.05,
            "backoff_base": 0.2,
            "backoff_max": 1,
            "concurrency": 2,
        },
        "repair": {
            "playbooks_dir": str(playbooks),
            "include_default_playbooks": False,
            "http_allowed_hosts": [HOST],
            "on_new_incident": True,
        },
        "drift": {
            "desired": str(desired),
            "live_dump": str(dump),
            "scan_interval": int(SCAN_INTERVAL.total_seconds()),
            "interpret": False,
        },
    }
    path = tmp_path / "awoooi.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


class Replicas:
    """The processes of the test, each with its own home and log files."""

    def __init__(self, tmp_path: Path, database_url: str, config: Path) -> None:
        self.tmp_path = tmp_path
        self.database_url = database_url
        self.config = config
        self.started: list[datetime] = []

    def env(self, name: str) -> dict[str, str]:
        return cli_env(
            self.tmp_path / f"home-{name}", self.database_url, AWOOOI_CONFIG=str(self.config)
        )

    def serve(self, name: str, port: int) -> AbstractContextManager[Process]:
        self.started.append(utcnow())
        argv = [str(AWOOOI), "serve", "--host", HOST, "--port", str(port)]
        return background_process(
            argv, name=name, env=self.env(name), directory=self.tmp_path / name
        )

    def worker(self, name: str) -> AbstractContextManager[Process]:
        argv = [str(AWOOOI), "worker", "--id", name]
        return background_process(
            argv, name=name, env=self.env(name), directory=self.tmp_path / name
        )


async def deliver(
    http: httpx.AsyncClient, url: str, alerts: list[dict[str, Any]], seen: Deliveries
) -> None:
    """POST one Alertmanager webhook; record whether its alerts were accepted."""
    try:
        answer = await http.post(f"{url}/api/v1/alerts/alertmanager", json=am_payload(alerts))
    except httpx.TransportError:
        seen.lost += alerts  # the server died: the alerts may or may not be stored
        return
    if answer.is_success:
        seen.accepted += alerts
    else:
        seen.refused.append(f"{answer.status_code} {answer.text[:300]}")


async def to_both(
    http: httpx.AsyncClient, urls: list[str], batches: list[list[dict[str, Any]]], seen: Deliveries
) -> None:
    """Every batch to every server, all at once."""
    await asyncio.gather(*(deliver(http, url, batch, seen) for batch in batches for url in urls))


T = TypeVar("T")


async def rows(factory: async_sessionmaker[AsyncSession], model: type[T]) -> list[T]:
    async with factory() as session:
        return list(await session.scalars(select(model)))


async def test_two_servers_and_a_worker_take_a_storm_and_a_kill(
    tmp_path: Path, database: str, heal_server: RecordingServer
) -> None:
    config = write_config(tmp_path, heal_server.port)
    replicas = Replicas(tmp_path, database, config)
    setup = replicas.env("setup")
    run_awoooi("db", "upgrade", env=setup, directory=tmp_path / "setup")

    batches = storm_batches()
    refired = [alert(service, PODS[0], starts_at=REFIRED_START) for service in HEALED[:2]]
    refired.append(alert(CRASHED[0], PODS[0], starts_at=REFIRED_START))
    seen = Deliveries()
    port_a, port_b = free_port(), free_port()
    engine = create_engine(database, pool_size=2)
    factory = create_session_factory(engine)
    try:
        async with transaction(factory) as session:
            issued = await create_token(session, name="storm", role=Role.INGEST, created_by="test")
        headers = {"Authorization": f"Bearer {issued.secret}"}
        with (
            replicas.serve("serve-a", port_a) as server_a,
            replicas.serve("serve-b", port_b) as server_b,
            replicas.worker("worker") as worker,
        ):
            url_a, url_b = f"http://{HOST}:{port_a}", f"http://{HOST}:{port_b}"
            async with httpx.AsyncClient(headers=headers, timeout=30) as http:
                await wait_healthy([server_a, server_b, worker], [url_a, url_b])

                # The first half of the storm reaches both servers at once.
                await to_both(http, [url_a, url_b], batches[:4], seen)

                # The second half is under way when server B is killed, holding a job if it
                # gets one in time (its in-process worker), so its lease has to expire.
                second = asyncio.ensure_future(to_both(http, [url_a, url_b], batches[4:], seen))
                await holding_a_job(factory, server_b)
                os.kill(server_b.popen.pid, signal.SIGKILL)
                server_b.popen.wait(timeout=30)
                await second

                # B starts again on a new port; Alertmanager redelivers everything to both.
                port_b = free_port()
                with replicas.serve("serve-b-again", port_b) as server_b_again:
                    url_b = f"http://{HOST}:{port_b}"
                    alive = [server_a, server_b_again, worker]
                    await wait_healthy(alive, [url_b])
                    before_redelivery = len(seen.accepted)
                    await to_both(http, [url_a, url_b], batches, seen)
                    await to_both(http, [url_a, url_b], [refired], seen)
                    await to_both(http, [url_a, url_b], [refired], seen)  # a redelivery
                    assert not seen.refused, seen.refused
                    # Everything after the restart was answered.
                    assert len(seen.accepted) - before_redelivery == 2 * (24 + 3 + 3)

                    await wait_quiet(factory, alive)
                    ended = utcnow()
                    for process in alive:
                        process.assert_alive()
                    await check_database(factory, seen, heal_server, replicas.started, ended)
    finally:
        await engine.dispose()


def storm_batches() -> list[list[dict[str, Any]]]:
    """Every alert of the storm (24), shuffled into webhooks of three alerts each."""
    alerts = [alert(service, pod) for service in HEALED + CRASHED for pod in PODS]
    random.Random(17).shuffle(alerts)
    return [alerts[index : index + 3] for index in range(0, len(alerts), 3)]


async def wait_healthy(processes: list[Process], urls: list[str]) -> None:
    """Until every server answers /healthz (fails when one of the processes dies)."""
    with httpx.Client(timeout=2) as probe:

        def up() -> bool:
            return all(healthy_at(probe, url) for url in urls)

        await asyncio.to_thread(
            wait_until, processes, up, "the servers to answer /healthz", START_TIMEOUT
        )


def healthy_at(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(f"{url}/healthz").status_code == 200
    except httpx.TransportError:
        return False


async def holding_a_job(factory: async_sessionmaker[AsyncSession], server: Process) -> bool:
    """Wait (a little) until the server's own worker runs a job; whether it came to that."""
    owner = f"{socket.gethostname()}:{server.popen.pid}:"
    deadline = time.monotonic() + HOLD_TIMEOUT
    while time.monotonic() < deadline:
        async with factory() as session:
            held = await session.scalar(
                select(Job.id).where(
                    Job.status == JobStatus.RUNNING, Job.locked_by.startswith(owner)
                )
            )
        if held is not None:
            return True
        await asyncio.sleep(0.02)
    return False


async def wait_quiet(factory: async_sessionmaker[AsyncSession], processes: list[Process]) -> None:
    """Until no job is queued or running and every incident has its diagnosis."""
    deadline = time.monotonic() + QUIET_TIMEOUT
    state = ""
    while True:
        jobs = await rows(factory, Job)
        incidents = await rows(factory, Incident)
        diagnosed = {d.incident_id for d in await rows(factory, DiagnosisRecord)}
        busy = [j for j in jobs if j.status in (JobStatus.QUEUED, JobStatus.RUNNING)]
        state = f"busy jobs: {[(j.id, j.kind, j.status) for j in busy]}"
        if not busy and incidents and all(i.id in diagnosed for i in incidents):
            return
        for process in processes:
            process.assert_alive()
        if time.monotonic() > deadline:
            outputs = "\n".join(f"--- {p.name} ---\n{p.output()[-4000:]}" for p in processes)
            pytest.fail(f"the replicas never went quiet; {state}\n{outputs}")
        await asyncio.sleep(0.2)


async def check_database(
    factory: async_sessionmaker[AsyncSession],
    seen: Deliveries,
    heal_server: RecordingServer,
    started: list[datetime],
    ended: datetime,
) -> None:
    """What the database must say after the storm."""
    alerts = await rows(factory, IncidentAlert)
    incidents = await rows(factory, Incident)

    # Every accepted alert is stored once, counted once per firing (refires count, redeliveries
    # and the copies sent to the other server do not).
    accepted = {a["fingerprint"] for a in seen.accepted}
    assert len(accepted) == 24
    by_fingerprint = Counter(a.fingerprint for a in alerts)
    assert set(by_fingerprint) == accepted
    assert set(by_fingerprint.values()) == {1}
    for stored in alerts:
        assert stored.received_count == len(seen.starts_sent(stored.fingerprint)), stored
    assert sum(a.received_count for a in alerts) == 24 + 3

    # One incident per symptoms (a service's two pods share them), counting what it grouped.
    assert len(incidents) == len(HEALED + CRASHED)
    active = Counter(i.symptoms_hash for i in incidents if i.status in ACTIVE_STATUSES)
    assert set(active.values()) == {1}
    for incident in incidents:
        own = [a for a in alerts if a.incident_id == incident.id]
        assert len(own) == len(PODS)
        assert incident.occurrences == sum(a.received_count for a in own), incident.human_id

    # Each incident diagnosed once, by one job.
    diagnoses = await rows(factory, DiagnosisRecord)
    assert sorted(d.incident_id for d in diagnoses) == sorted(i.id for i in incidents)
    jobs = await rows(factory, Job)
    diagnose_jobs = Counter(j.payload["incident_id"] for j in jobs if j.kind == DIAGNOSE_JOB)
    assert set(diagnose_jobs.values()) == {1}

    # No job left behind: none running (past its lease or not), none dead.
    assert [(j.id, j.kind, j.status, j.last_error) for j in jobs if j.status != "done"] == []
    now = utcnow()
    assert not [j for j in jobs if j.lease_expires_at is not None and j.lease_expires_at < now]

    # No repair ran twice on one target: one started repair per healed service, one POST each.
    repairs = await rows(factory, Repair)
    ran = Counter(r.target for r in repairs if r.status in REPAIRED_STATUSES)
    assert ran == Counter({f"{NAMESPACE}/Deployment/{service}": 1 for service in HEALED})
    assert all(
        r.status in {"succeeded", "interrupted"} for r in repairs if r.status in REPAIRED_STATUSES
    )
    posts = Counter(r.path for r in heal_server.requests if r.method == "POST")
    assert set(posts.values()) <= {1}
    succeeded = {r.target for r in repairs if r.status == "succeeded"}
    assert {f"/heal/{t.replace('/Deployment/', '/')}" for t in succeeded if t} <= set(posts)

    # The drift schedule: one scan per interval whichever replica queued it, each one run.
    reports = [r for r in await rows(factory, DriftReportRecord) if r.created_by == SCHEDULE_ACTOR]
    scan_jobs = [j for j in jobs if j.kind == SCAN_JOB]
    keys = [j.dedupe_key for j in scan_jobs]
    assert len(keys) == len(set(keys)) == len(reports)
    slots = sorted(int(str(key).removeprefix("drift-schedule:")) for key in keys)
    first, last = schedule_slot(started[0], SCAN_INTERVAL), schedule_slot(ended, SCAN_INTERVAL)
    assert slots, "no replica queued a scheduled scan"
    assert slots == list(range(slots[0], slots[0] + len(slots)))
    assert first <= slots[0]
    assert slots[-1] <= last
    # Three server starts queued their interval's scan within these intervals: a schedule
    # without the dedupe would show a report per start (and per replica at each boundary).
    assert len(started) == 3
    assert len(reports) <= last - first + 1 < len(started)
    assert all(r.status == "DETECTED" for r in reports), [(r.id, r.status) for r in reports]

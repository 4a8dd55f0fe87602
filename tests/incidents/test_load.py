"""Ingestion under load: a storm against a real `awoooi serve` on SQLite answers no 5xx and
loses nothing; concurrent payloads sharing fingerprints in different orders never deadlock."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from awoooi.core.models import Job, Role
from awoooi.incidents.models import Incident, IncidentAlert
from awoooi.runtime import ADMIN_TOKEN_FILE, Runtime
from tests.helpers.serve import awoooi_process, cli_env, free_port, healthy, wait_until
from tests.incidents.conftest import TokenFactory, am_alert, am_payload

AM = "/api/v1/alerts/alertmanager"


def storm(payloads: int, size: int, seed: int = 7) -> tuple[list[dict[str, Any]], set[str]]:
    """Payloads from 8 failing workloads, each alert a fresh pod, a quarter redeliveries."""
    rng = random.Random(seed)
    workloads = [(f"Rule{i % 4}", f"team{i % 3}", f"svc{i}") for i in range(8)]
    sent: list[dict[str, Any]] = []
    bodies = []
    for number in range(payloads):
        alerts: dict[str, dict[str, Any]] = {}
        while len(alerts) < size:
            if sent and rng.random() < 0.25:
                alert = rng.choice(sent)
            else:
                rule, namespace, service = rng.choice(workloads)
                pod = f"{service}-7d9f8c6b5d-{number:03d}{len(sent):05d}"
                alert = am_alert(
                    alertname=rule,
                    namespace=namespace,
                    pod=pod,
                    instance=f"10.{number}.{len(alerts)}.9:8080",
                    value=str(rng.random()),
                    fingerprint=f"fp-{pod}",
                )
                sent.append(alert)
            alerts[alert["fingerprint"]] = alert
        bodies.append(am_payload(list(alerts.values())))
    return bodies, {alert["fingerprint"] for alert in sent}


async def post_all(
    client: httpx.AsyncClient, payloads: list[dict[str, Any]], headers: dict[str, str]
) -> list[httpx.Response]:
    """Post every payload from 8 concurrent senders."""
    queue = list(payloads)
    answers: list[httpx.Response] = []

    async def sender() -> None:
        while queue:
            answers.append(await client.post(AM, json=queue.pop(), headers=headers))

    await asyncio.gather(*(sender() for _ in range(8)))
    return answers


def stored(database: Path, sql: str) -> int:
    with closing(sqlite3.connect(database)) as conn:
        return int(conn.execute(sql).fetchone()[0])


def test_a_storm_on_sqlite_answers_no_5xx_and_loses_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    database = tmp_path / "awoooi.db"
    port = free_port()
    env = cli_env(home, f"sqlite+aiosqlite:///{database}", AWOOOI_PORT=str(port))
    payloads, fingerprints = storm(40, 50)
    with awoooi_process("serve", env=env, directory=tmp_path) as server:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=5) as probe:
            wait_until(server, lambda: healthy(probe), "awoooi serve to answer")
        headers = {"Authorization": f"Bearer {(home / ADMIN_TOKEN_FILE).read_text().strip()}"}

        async def send() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=base, timeout=120) as client:
                return await post_all(client, payloads, headers)

        answers = asyncio.run(send())
        assert server.terminate() == 0, server.output()

    assert sorted({a.status_code for a in answers}) == [202], [a.text for a in answers][:3]
    bodies = [a.json() for a in answers]
    opened = sum(b["opened"] for b in bodies)
    assert sum(b["alerts"] for b in bodies) == 40 * 50
    assert sum(b["opened"] + b["deduplicated"] + b["ignored"] for b in bodies) == 40 * 50
    assert stored(database, "SELECT count(*) FROM incidents") == opened == 8
    assert stored(database, "SELECT count(*) FROM incident_alerts") == len(fingerprints)
    assert stored(database, "SELECT sum(occurrences) FROM incidents") == len(fingerprints)
    grouped = "SELECT count(*) FROM incident_events WHERE event = 'alert_grouped'"
    assert stored(database, grouped) == len(fingerprints) - opened
    assert "Traceback" not in server.output()


async def _count(runtime: Runtime, model: Any) -> int:
    async with runtime.session_factory() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_payloads_sharing_fingerprints_in_different_orders_never_deadlock(
    client: httpx.AsyncClient, runtime: Runtime, headers_for: TokenFactory
) -> None:
    ingest = await headers_for(Role.INGEST)
    alerts = [
        am_alert(
            alertname=f"Rule{i % 5}",
            pod=f"web-7d9f8c6b5d-{i:05d}",
            instance=f"10.0.0.{i}:80",
            fingerprint=f"shared-{i}",
        )
        for i in range(40)
    ]
    rng = random.Random(3)
    payloads = []
    for _ in range(12):
        mixed = alerts[:]
        rng.shuffle(mixed)
        payloads.append(am_payload(mixed))

    answers = await asyncio.wait_for(post_all(client, payloads, ingest), timeout=120)

    assert [a.status_code for a in answers] == [202] * 12, [a.text for a in answers]
    assert sum(a.json()["opened"] for a in answers) == 5
    assert await _count(runtime, Incident) == 5
    assert await _count(runtime, IncidentAlert) == 40
    async with runtime.session_factory() as session:
        diagnoses = await session.scalar(
            select(func.count()).select_from(Job).where(Job.kind == "incident.diagnose")
        )
    assert diagnoses == 5  # one diagnosis queued per incident (serve also queues a prune)
    assert [a.json()["alerts"] for a in answers] == [40] * 12

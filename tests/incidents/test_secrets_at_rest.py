"""Secrets in alerts never reach the database: what the API and the notifications serve is what
was stored, redacted at ingestion; symptoms and deduplication do not depend on a secret's value.

Every "secret" is fabricated and assembled at runtime, so no literal here looks like a leaked
credential to a secret scanner.
"""

from __future__ import annotations

import json
import random
import string
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import inspect, select
from sqlalchemy.orm import ColumnProperty

from awoooi.core.models import Role
from awoooi.incidents.models import Incident, IncidentAlert, IncidentEvent
from awoooi.runtime import Runtime
from awoooi.settings import Settings
from tests.ai.support import seed
from tests.conftest import make_settings
from tests.helpers import llm_servers
from tests.helpers.llm_servers import OllamaServer, OpenAIServer
from tests.incidents.conftest import TokenFactory, am_alert, am_payload
from tests.repair.conftest import RecordingServer

openai_server = llm_servers.openai_server
ollama_server = llm_servers.ollama_server

AM = "/api/v1/alerts/alertmanager"
GENERIC = "/api/v1/alerts"
ALNUM = string.ascii_letters + string.digits


def _random(size: int, seed: int) -> str:
    return "".join(random.Random(seed).choices(ALNUM, k=size))


GITHUB_TOKEN = "gh" + "p_" + _random(36, 1)
GITHUB_TOKEN_2 = "gh" + "p_" + _random(36, 2)
AWS_KEY_ID = "AK" + "IA" + "Q7ZT3MXW" + "K2V9RB4N"
PASSWORD = "Fabricated-" + "Pa55w0rd!"
LABEL_PASSWORD = "Label-" + "Pa55w0rd"
URL_TOKEN = "tok" + _random(24, 3)
SECRETS = (GITHUB_TOKEN, AWS_KEY_ID, PASSWORD, LABEL_PASSWORD, URL_TOKEN)


@pytest.fixture
def webhook_receiver() -> Any:
    """A real HTTP server on 127.0.0.1 that records what the webhook channel posts."""
    server = RecordingServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def settings(
    tmp_path: Path,
    database_url: str,
    openai_server: OpenAIServer,
    ollama_server: OllamaServer,
    webhook_receiver: RecordingServer,
) -> Settings:
    """Local models on test servers (the diagnosis asks them) and notifications to a webhook."""
    return make_settings(
        tmp_path / "home",
        database_url,
        ai=seed(openai_server, ollama_server, diagnose_incidents=True),
        notify={
            "channels": ["webhook"],
            "webhook": {"url": webhook_receiver.url("/hook"), "secret": "hook-signing-key"},
        },
    )


def leaky_alert(*, token: str = GITHUB_TOKEN, **overrides: Any) -> dict[str, Any]:
    """An Alertmanager alert with secrets in its summary, description, labels and URL."""
    alert = am_alert(
        alertname="BackupFailed",
        extra_labels={"aws_key": AWS_KEY_ID, "db_password": LABEL_PASSWORD},
        **overrides,
    )
    alert["annotations"]["summary"] = f"Backup push with token {token} rejected"
    alert["annotations"]["description"] = (
        f"pg_dump: password={PASSWORD} rejected for user backup; key {AWS_KEY_ID} denied"
    )
    alert["generatorURL"] = f"http://prometheus.local/graph?g0.expr=up&access_token={URL_TOKEN}"
    return alert


async def post_alerts(
    client: httpx.AsyncClient, headers_for: TokenFactory, alerts: list[dict[str, Any]]
) -> dict[str, Any]:
    response = await client.post(
        AM, json=am_payload(alerts), headers=await headers_for(Role.INGEST)
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_no_secret(text: str) -> None:
    for secret in (*SECRETS, GITHUB_TOKEN_2):
        assert secret not in text


def columns(row: Any) -> list[ColumnProperty[Any]]:
    return list(inspect(row).mapper.column_attrs)


async def stored_rows(runtime: Runtime) -> str:
    """Every stored incident, alert and timeline entry, as one text."""
    async with runtime.session_factory() as session:
        rows: list[Any] = [
            *(await session.scalars(select(Incident))),
            *(await session.scalars(select(IncidentAlert))),
            *(await session.scalars(select(IncidentEvent))),
        ]
    return json.dumps(
        [
            {attribute.key: getattr(row, attribute.key) for attribute in columns(row)}
            for row in rows
        ],
        default=str,
    )


async def test_secrets_in_alerts_are_redacted_before_they_are_stored(
    runtime: Runtime, client: httpx.AsyncClient, headers_for: TokenFactory, settings: Settings
) -> None:
    (human_id,) = (await post_alerts(client, headers_for, [leaky_alert()]))["incidents"]
    viewer = await headers_for(Role.VIEWER)

    listing = await client.get("/api/v1/incidents", headers=viewer)
    detail = await client.get(f"/api/v1/incidents/{human_id}", headers=viewer)
    assert listing.status_code == detail.status_code == 200
    assert_no_secret(listing.text)
    assert_no_secret(detail.text)
    shown = detail.json()
    assert shown["title"].startswith("Backup push with token [REDACTED:github_token] rejected")
    assert shown["labels"]["aws_key"] == "[REDACTED:aws_access_key]"
    assert shown["labels"]["db_password"] == "[REDACTED:password]"
    assert shown["labels"]["pod"] == "web-7d9f8c6b5d-x2kqz"  # the rest is kept as sent
    assert shown["annotations"]["description"] == (
        "pg_dump: password=[REDACTED:password] rejected for user backup; "
        "key [REDACTED:aws_access_key] denied"
    )
    assert "[REDACTED:github_token]" in shown["symptoms"]["error_signature"]
    assert listing.json()["items"][0]["title"] == shown["title"]

    # Not only what the API renders: nothing stored holds a secret.
    assert_no_secret(await stored_rows(runtime))
    if settings.resolved_database_url.startswith("sqlite"):
        database = Path(settings.resolved_database_url.split("///", 1)[1])
        for path in (database, Path(f"{database}-wal")):
            if path.exists():
                raw = path.read_bytes()
                assert not any(secret.encode() in raw for secret in SECRETS)


async def test_symptoms_and_deduplication_do_not_depend_on_the_secret(
    runtime: Runtime, client: httpx.AsyncClient, headers_for: TokenFactory
) -> None:
    first = await post_alerts(client, headers_for, [leaky_alert()])
    again = await post_alerts(client, headers_for, [leaky_alert()])
    assert again["incidents"] == first["incidents"]
    assert again["deduplicated"] == 1
    assert again["opened"] == 0

    # Another pod, another token: the same symptoms, so the same incident.
    other = leaky_alert(token=GITHUB_TOKEN_2, pod="web-7d9f8c6b5d-abcde", fingerprint="fp-other")
    grouped = await post_alerts(client, headers_for, [other])
    assert grouped["incidents"] == first["incidents"]
    assert grouped["opened"] == 0
    async with runtime.session_factory() as session:
        hashes = set(await session.scalars(select(Incident.symptoms_hash)))
    assert len(hashes) == 1


async def test_a_fingerprint_holding_a_secret_is_replaced_the_same_way_every_time(
    runtime: Runtime, client: httpx.AsyncClient, headers_for: TokenFactory
) -> None:
    ingest = await headers_for(Role.INGEST)
    alert = {"name": "DeployKeyRejected", "fingerprint": f"deploy-{GITHUB_TOKEN}"}
    opened = await client.post(GENERIC, json={"alerts": [alert]}, headers=ingest)
    repeated = await client.post(GENERIC, json={"alerts": [alert]}, headers=ingest)
    resolved = await client.post(
        GENERIC, json={"alerts": [{**alert, "status": "resolved"}]}, headers=ingest
    )
    assert opened.status_code == repeated.status_code == resolved.status_code == 202
    assert repeated.json()["deduplicated"] == 1
    assert resolved.json()["resolved"] == 1
    viewer = await headers_for(Role.VIEWER)
    (human_id,) = opened.json()["incidents"]
    shown = (await client.get(f"/api/v1/incidents/{human_id}", headers=viewer)).json()
    assert_no_secret(json.dumps(shown))
    (fingerprint,) = shown["fingerprints"]
    assert len(fingerprint) == 16
    assert all(char in string.hexdigits for char in fingerprint)
    assert shown["status"] == "resolved"
    # A fingerprint without a secret is an identity and is kept as sent.
    plain = await client.post(
        GENERIC,
        json={"alerts": [{"name": "DiskFull", "fingerprint": "disk-full-db-0"}]},
        headers=ingest,
    )
    (plain_id,) = plain.json()["incidents"]
    plain_shown = (await client.get(f"/api/v1/incidents/{plain_id}", headers=viewer)).json()
    assert plain_shown["fingerprints"] == ["disk-full-db-0"]


async def test_notifications_carry_the_stored_redacted_title(
    runtime: Runtime,
    client: httpx.AsyncClient,
    headers_for: TokenFactory,
    openai_server: OpenAIServer,
    ollama_server: OllamaServer,
    webhook_receiver: RecordingServer,
) -> None:
    # No local model answers, so the diagnosis is rejected and a notice names the incident
    # (with no cluster no playbook can run either: the one notice escalates it).
    openai_server.status = 500
    ollama_server.malformed = "json"
    (human_id,) = (await post_alerts(client, headers_for, [leaky_alert()]))["incidents"]

    await runtime.worker().run_until_idle()

    viewer = await headers_for(Role.VIEWER)
    stored_title = (await client.get(f"/api/v1/incidents/{human_id}", headers=viewer)).json()[
        "title"
    ]
    posts = [request for request in webhook_receiver.requests if request.path == "/hook"]
    assert posts, "the rejection notice was not delivered"
    bodies = [json.loads(request.body) for request in posts]
    assert any(
        body["title"].startswith(f"{human_id}: ")
        and f"Incident: {human_id} {stored_title}\n" in body["text"]
        for body in bodies
    )
    for request in posts:
        assert_no_secret(request.body.decode())
    # The model, asked first, was sent the same redacted incident.
    assert_no_secret(json.dumps(openai_server.last_request.json))


async def test_a_reason_typed_by_a_person_is_redacted_on_the_timeline_and_in_the_audit(
    client: httpx.AsyncClient, headers_for: TokenFactory, admin_headers: dict[str, str]
) -> None:
    (human_id,) = (await post_alerts(client, headers_for, [leaky_alert()]))["incidents"]
    operator = await headers_for(Role.OPERATOR)
    reason = f"DBA asked: try password={PASSWORD} first"
    escalated = await client.post(
        f"/api/v1/incidents/{human_id}/escalate", headers=operator, json={"reason": reason}
    )
    assert escalated.status_code == 200, escalated.text

    viewer = await headers_for(Role.VIEWER)
    shown = (await client.get(f"/api/v1/incidents/{human_id}", headers=viewer)).json()
    (change,) = [entry for entry in shown["timeline"] if entry["event"] == "status_changed"]
    assert change["detail"]["reason"] == "DBA asked: try password=[REDACTED:password] first"
    audit = await client.get("/api/v1/audit", headers=admin_headers)
    assert_no_secret(audit.text)
    (entry,) = [e for e in audit.json() if e["action"] == "incident.escalated"]
    assert entry["detail"]["reason"] == change["detail"]["reason"]

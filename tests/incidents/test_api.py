"""Incident listing, detail, manual status changes and the CLI view."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from awoooi.core.models import Role
from awoooi.settings import Settings
from tests.incidents.conftest import TokenFactory, am_alert, am_payload

AM = "/api/v1/alerts/alertmanager"
AWOOOI = str(Path(sys.executable).parent / "awoooi")


async def _seed(client: httpx.AsyncClient, headers_for: TokenFactory) -> list[str]:
    ingest = await headers_for(Role.INGEST)
    alerts = [
        am_alert(alertname="KubernetesPodCrashLooping", severity="critical"),
        am_alert(alertname="KubernetesContainerOomKiller", pod="api-6c8d9f7b5c-abcde"),
        am_alert(alertname="KubernetesPodNotHealthy", pod="db-0", severity="info"),
    ]
    body = (await client.post(AM, json=am_payload(alerts), headers=ingest)).json()
    return list(body["incidents"])


async def test_filters_and_pagination(client: httpx.AsyncClient, headers_for: TokenFactory) -> None:
    ids = await _seed(client, headers_for)
    viewer = await headers_for(Role.VIEWER)

    async def ids_for(**params: object) -> list[str]:
        response = await client.get("/api/v1/incidents", headers=viewer, params=params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert sorted(await ids_for()) == sorted(ids)
    assert await ids_for(severity="critical") == [ids[0]]
    assert await ids_for(service="api") == [ids[1]]
    assert await ids_for(service="ap") == []  # whole names only
    assert await ids_for(service="db") == [ids[2]]
    assert await ids_for(status="resolved") == []
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert await ids_for(since=future) == []
    first = await client.get("/api/v1/incidents", headers=viewer, params={"limit": 2})
    second = await client.get("/api/v1/incidents", headers=viewer, params={"limit": 2, "offset": 2})
    assert first.json()["total"] == second.json()["total"] == 3
    paged = [i["id"] for i in first.json()["items"] + second.json()["items"]]
    assert sorted(paged) == sorted(ids)
    bad = await client.get("/api/v1/incidents", headers=viewer, params={"severity": "huge"})
    assert bad.status_code == 422
    naive = await client.get(
        "/api/v1/incidents", headers=viewer, params={"since": "2026-01-01T00:00:00"}
    )
    assert naive.status_code == 422


async def test_resolve_and_escalate_by_hand(
    client: httpx.AsyncClient, headers_for: TokenFactory, admin_headers: dict[str, str]
) -> None:
    first, second, _ = await _seed(client, headers_for)
    operator = await headers_for(Role.OPERATOR)
    viewer = await headers_for(Role.VIEWER)

    assert (
        await client.post(f"/api/v1/incidents/{first}/resolve", headers=viewer)
    ).status_code == 403
    escalated = await client.post(
        f"/api/v1/incidents/{first}/escalate", headers=operator, json={"reason": "needs a DBA"}
    )
    assert escalated.status_code == 200, escalated.text
    assert escalated.json()["status"] == "escalated"
    again = await client.post(f"/api/v1/incidents/{first}/escalate", headers=operator)
    assert again.status_code == 409
    assert again.json()["error"] == "conflict"
    resolved = await client.post(f"/api/v1/incidents/{first}/resolve", headers=operator)
    assert resolved.json()["status"] == "resolved"
    assert (
        await client.post(f"/api/v1/incidents/{first}/resolve", headers=operator)
    ).status_code == 409
    missing = await client.post("/api/v1/incidents/INC-19990101-0001/resolve", headers=operator)
    assert missing.status_code == 404

    detail = (await client.get(f"/api/v1/incidents/{first}", headers=viewer)).json()
    changes = [
        (e["from_status"], e["to_status"], e["detail"].get("reason"))
        for e in detail["timeline"]
        if e["event"] == "status_changed"
    ]
    assert changes == [("open", "escalated", "needs a DBA"), ("escalated", "resolved", None)]
    audit = (await client.get("/api/v1/audit", headers=admin_headers)).json()
    actions = [(entry["action"], entry["target"]) for entry in audit]
    assert ("incident.escalated", f"incident:{first}") in actions
    assert ("incident.resolved", f"incident:{first}") in actions
    assert ("incident.resolved", f"incident:{second}") not in actions

    unknown = await client.get("/api/v1/incidents/INC-19990101-0001", headers=viewer)
    assert unknown.status_code == 404
    extra = await client.post(
        f"/api/v1/incidents/{second}/escalate", headers=operator, json={"why": "x"}
    )
    assert extra.status_code == 422


async def test_cli_lists_and_shows_incidents(
    client: httpx.AsyncClient, headers_for: TokenFactory, settings: Settings
) -> None:
    ids = await _seed(client, headers_for)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWOOOI_")}
    env |= {
        "AWOOOI_HOME": str(settings.home),
        "AWOOOI_DATABASE_URL": settings.resolved_database_url,
        "AWOOOI_LOG_LEVEL": "warning",
        "COLUMNS": "200",
    }

    async def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(
            subprocess.run, [AWOOOI, *args], env=env, capture_output=True, text=True, timeout=60
        )

    listed = await cli("incidents", "list")
    assert listed.returncode == 0, listed.stderr
    for incident_id in ids:
        assert incident_id in listed.stdout
    assert "3 of 3" in listed.stdout

    shown = await cli("incidents", "show", ids[0])
    assert shown.returncode == 0, shown.stderr
    assert ids[0] in shown.stdout
    assert "opened" in shown.stdout
    assert "critical" in shown.stdout

    missing = await cli("incidents", "show", "INC-19990101-0001")
    assert missing.returncode == 1
    assert "no incident INC-19990101-0001" in missing.stderr
    assert "Traceback" not in missing.stderr

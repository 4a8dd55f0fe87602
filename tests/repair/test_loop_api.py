"""The repair loop end to end through the HTTP API: alert -> decision -> run -> knowledge.

Real pieces only: the API app in-process, a real local HTTP server (or a refused port) for
`http.request` steps, InMemoryKube behind the KubeClient Protocol, the durable job worker.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from awoooi.core.models import Role
from awoooi.knowledge.harvest import ANTI_PATTERN_JOB, RUNBOOK_JOB
from awoooi.notify.models import NotifyAction
from awoooi.runtime import Runtime
from awoooi.settings import Settings
from tests.conftest import make_settings
from tests.helpers.fake_kube import InMemoryKube
from tests.incidents.conftest import am_alert, am_payload, headers_for  # noqa: F401
from tests.repair.conftest import (
    HOST,
    SECRET,
    RecordingServer,
    connection_attempts,
    jobs,
    notifications,
)

PLAYBOOKS = """
id: heal-fails
name: Heal through an endpoint that is down
match:
  signals: [HealFails]
target: null
risk: low
steps:
  - action: http.request
    params:
      method: POST
      url: http://127.0.0.1:__REFUSED__/heal/${service}
    timeout: 5s
cooldown: 0
---
id: restart-web
name: Restart the deployment
match:
  signals: [WebDown]
risk: low
steps:
  - action: kube.rollout_restart
verify:
  check: deployment_available
  wait: 0
  timeout: 2s
  interval: 0.1s
cooldown: 0
---
id: heal-ok
name: Heal through the local endpoint
match:
  signals: [HealOk]
target: null
risk: low
steps:
  - action: http.request
    params:
      method: POST
      url: http://127.0.0.1:__HEAL__/heal/${service}
      headers:
        Authorization: "Bearer __SECRET__"
      body: {incident: "${incident}"}
    timeout: 5s
cooldown: 0
max_attempts: 3
---
id: risky-heal
name: Heal, once a human agrees
match:
  signals: [HealRisky]
target: null
risk: high
steps:
  - action: http.request
    params:
      method: POST
      url: http://127.0.0.1:__HEAL__/risky/${service}
      headers:
        Authorization: "Bearer __SECRET__"
    timeout: 5s
cooldown: 0
max_attempts: 3
"""


@pytest.fixture
def repair_overrides() -> dict[str, Any]:
    """Extra `repair` settings (a test parametrizes this name to change them)."""
    return {}


@pytest.fixture
def settings(
    tmp_path: Path,
    database_url: str,
    heal_server: RecordingServer,
    refused_port: socket.socket,
    repair_overrides: dict[str, Any],
) -> Settings:
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    text = (
        PLAYBOOKS.replace("__REFUSED__", str(refused_port.getsockname()[1]))
        .replace("__HEAL__", str(heal_server.port))
        .replace("__SECRET__", SECRET)
    )
    (playbooks / "loop.yaml").write_text(text)
    repair: dict[str, Any] = {
        "playbooks_dir": playbooks,
        "http_allowed_hosts": [HOST],
        "include_default_playbooks": False,
        **repair_overrides,
    }
    return make_settings(
        tmp_path / "home", database_url, repair=repair, ai={"diagnose_incidents": False}
    )


@pytest.fixture
def kube() -> InMemoryKube:
    cluster = InMemoryKube()
    cluster.add("Deployment", "shop", "web")
    return cluster


@pytest.fixture
async def runtime(settings: Settings, kube: InMemoryKube) -> AsyncIterator[Runtime]:
    active = Runtime.from_settings(settings, kube=kube)
    await active.migrate()
    try:
        yield active
    finally:
        await active.dispose()


async def post_alert(
    client: httpx.AsyncClient, headers: dict[str, str], alert: dict[str, Any]
) -> None:
    status = "resolved" if alert["status"] == "resolved" else "firing"
    response = await client.post(
        "/api/v1/alerts/alertmanager", json=am_payload([alert], status), headers=headers
    )
    assert response.status_code == 202, response.text


async def get_json(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> Any:
    response = await client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def only_repair(client: httpx.AsyncClient, viewer: dict[str, str], human_id: str) -> Any:
    page = await get_json(client, f"/api/v1/repairs?incident={human_id}", viewer)
    assert page["total"] == 1, page
    return await get_json(client, f"/api/v1/repairs/{page['items'][0]['id']}", viewer)


async def incident_ids(client: httpx.AsyncClient, viewer: dict[str, str]) -> list[str]:
    page = await get_json(client, "/api/v1/incidents?limit=500", viewer)
    return sorted(item["id"] for item in page["items"])


async def test_a_failed_repair_publishes_an_anti_pattern_that_blocks_the_next_one(
    runtime: Runtime,
    client: httpx.AsyncClient,
    headers_for,  # noqa: F811
    refused_port: socket.socket,
) -> None:
    ingest = await headers_for(Role.INGEST)
    viewer = await headers_for(Role.VIEWER)
    first = am_alert(alertname="HealFails", pod="web-7d9f8c6b5d-aaaaa")
    await post_alert(client, ingest, first)
    await runtime.worker().run_until_idle()

    [first_id] = await incident_ids(client, viewer)
    failed = await only_repair(client, viewer, first_id)
    assert (failed["status"], failed["verdict"], failed["success"]) == ("failed", "AUTO", False)
    assert re.search(r"refused|connect", failed["error"], re.IGNORECASE), failed["error"]
    assert [(s["action"], s["status"]) for s in failed["steps"]] == [("http.request", "failed")]
    first_incident = await get_json(client, f"/api/v1/incidents/{first_id}", viewer)
    assert first_incident["status"] == "escalated"

    published = await get_json(
        client, "/api/v1/knowledge?type=ANTI_PATTERN&status=PUBLISHED", viewer
    )
    assert published["total"] == 1, published
    anti_pattern = published["items"][0]
    assert anti_pattern["symptoms_hash"] == first_incident["symptoms_hash"]

    # From now on a connection attempt to the step's port would be seen (and not refused).
    refused_port.listen(8)
    resolved = {**first, "status": "resolved", "endsAt": "2026-11-28T10:05:00Z"}
    await post_alert(client, ingest, resolved)
    await post_alert(client, ingest, am_alert(alertname="HealFails", pod="web-7d9f8c6b5d-bbbbb"))
    await runtime.worker().run_until_idle()

    second_id = next(i for i in await incident_ids(client, viewer) if i != first_id)
    second_incident = await get_json(client, f"/api/v1/incidents/{second_id}", viewer)
    assert second_incident["symptoms_hash"] == first_incident["symptoms_hash"]
    blocked = await only_repair(client, viewer, second_id)
    assert (blocked["verdict"], blocked["status"], blocked["gate"]) == (
        "BLOCKED",
        "blocked",
        "anti_pattern",
    )
    assert blocked["anti_pattern_id"] == anti_pattern["id"]
    assert blocked["steps"] == []
    assert blocked["started_at"] is None
    assert second_incident["status"] == "escalated"
    assert connection_attempts(refused_port) == 0
    notes = await get_json(client, "/api/v1/notifications", viewer)
    blocked_notes = [n for n in notes if n["kind"] == "repair.blocked"]
    assert len(blocked_notes) == 1, notes
    assert f"#{anti_pattern['id']}" in blocked_notes[0]["title"]
    assert second_id in blocked_notes[0]["title"]
    # The listening check above could see a connection: this one is counted.
    socket.create_connection(refused_port.getsockname(), timeout=5).close()
    assert connection_attempts(refused_port) == 1


async def test_a_successful_repair_drafts_a_runbook_an_operator_publishes(
    runtime: Runtime,
    client: httpx.AsyncClient,
    headers_for,  # noqa: F811
    kube: InMemoryKube,
) -> None:
    ingest = await headers_for(Role.INGEST)
    viewer = await headers_for(Role.VIEWER)
    operator = await headers_for(Role.OPERATOR)
    await post_alert(client, ingest, am_alert(alertname="WebDown"))
    await runtime.worker().run_until_idle()

    [human_id] = await incident_ids(client, viewer)
    repair = await only_repair(client, viewer, human_id)
    assert (repair["status"], repair["verdict"], repair["success"]) == ("succeeded", "AUTO", True)
    assert repair["target"] == "shop/Deployment/web"
    assert [(s["action"], s["status"]) for s in repair["steps"]] == [
        ("kube.rollout_restart", "succeeded")
    ]
    assert kube.calls.count(("rollout_restart", "shop/Deployment/web")) == 1
    assert "kubectl.kubernetes.io/restartedAt" in kube.get("Deployment", "shop", "web").annotations
    assert ("deployment_available", "shop/web") in kube.calls

    detail = await get_json(client, f"/api/v1/incidents/{human_id}", viewer)
    repair_events = [e["event"] for e in detail["timeline"] if e["event"].startswith("repair_")]
    assert repair_events == ["repair_decision", "repair_started", "repair_succeeded"]
    assert detail["status"] == "open"  # the alert still fires: not resolved by the repair

    drafts = await get_json(client, "/api/v1/knowledge?type=AUTO_RUNBOOK&status=DRAFT", viewer)
    assert drafts["total"] == 1, drafts
    draft = drafts["items"][0]
    assert draft["symptoms_hash"] == detail["symptoms_hash"]
    entry = await get_json(client, f"/api/v1/knowledge/{draft['id']}", viewer)
    assert entry["related_incident_id"] == human_id
    assert entry["related_playbook_id"] == "restart-web"

    refused = await client.post(f"/api/v1/knowledge/{draft['id']}/approve", headers=viewer)
    assert refused.status_code == 403
    approved = await client.post(f"/api/v1/knowledge/{draft['id']}/approve", headers=operator)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "PUBLISHED"
    published = await get_json(
        client, "/api/v1/knowledge?type=AUTO_RUNBOOK&status=PUBLISHED", viewer
    )
    assert [item["id"] for item in published["items"]] == [draft["id"]]
    still_draft = await get_json(client, "/api/v1/knowledge?type=AUTO_RUNBOOK&status=DRAFT", viewer)
    assert still_draft["total"] == 0


async def test_a_risky_repair_waits_for_an_operator(
    runtime: Runtime,
    client: httpx.AsyncClient,
    headers_for,  # noqa: F811
    heal_server: RecordingServer,
) -> None:
    ingest = await headers_for(Role.INGEST)
    viewer = await headers_for(Role.VIEWER)
    operator = await headers_for(Role.OPERATOR)
    await post_alert(client, ingest, am_alert(alertname="HealRisky"))
    await runtime.worker().run_until_idle()

    [human_id] = await incident_ids(client, viewer)
    pending = await only_repair(client, viewer, human_id)
    assert (pending["status"], pending["verdict"], pending["gate"]) == (
        "pending_approval",
        "NEEDS_APPROVAL",
        "approval",
    )
    assert pending["steps"] == []
    assert pending["expires_at"] is not None
    assert "risk high" in pending["reasons"][-1]
    [asked] = await notifications(runtime, "repair.approval")
    # The buttons carry opaque ids of action records saying what they do.
    async with runtime.session_factory() as session:
        pressed = {
            b["label"]: await session.get(NotifyAction, b["action_id"])
            for b in asked.buttons
            if b["label"] in {"Approve", "Reject"}
        }
    assert {label: (r.action, r.target) for label, r in pressed.items() if r} == {
        "Approve": ("repair.approve", str(pending["id"])),
        "Reject": ("repair.reject", str(pending["id"])),
    }
    assert heal_server.requests == []

    # Who may decide, and about what.
    assert (
        await client.post(f"/api/v1/repairs/{pending['id']}/approve", headers=viewer)
    ).status_code == 403
    assert (
        await client.post(
            f"/api/v1/repairs/{pending['id']}/reject", json={"reason": "no"}, headers=viewer
        )
    ).status_code == 403
    assert (
        await client.post("/api/v1/repairs/999999/approve", headers=operator)
    ).status_code == 404
    assert (
        await client.post("/api/v1/repairs/999999/reject", json={"reason": "x"}, headers=operator)
    ).status_code == 404

    # Reject: a reason is required; then nothing runs.
    reject = f"/api/v1/repairs/{pending['id']}/reject"
    assert (await client.post(reject, headers=operator)).status_code == 422
    assert (await client.post(reject, json={}, headers=operator)).status_code == 422
    assert (await client.post(reject, json={"reason": ""}, headers=operator)).status_code == 422
    rejected = await client.post(reject, json={"reason": "not during the sale"}, headers=operator)
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["decision_note"] == "not during the sale"
    assert (
        await client.post(f"/api/v1/repairs/{pending['id']}/approve", headers=operator)
    ).status_code == 409
    await runtime.worker().run_until_idle()
    assert heal_server.requests == []
    assert (await get_json(client, f"/api/v1/repairs/{pending['id']}", viewer))["steps"] == []

    # Ask again, approve: queued, a worker runs it.
    again = await client.post(f"/api/v1/incidents/{human_id}/repair", headers=operator)
    assert again.status_code == 200, again.text
    second = again.json()
    assert (second["status"], second["verdict"]) == ("pending_approval", "NEEDS_APPROVAL")
    assert heal_server.requests == []
    approve = f"/api/v1/repairs/{second['id']}/approve"
    approved = await client.post(approve, json={"note": "go"}, headers=operator)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "queued"
    assert approved.json()["decided_by"] is not None
    assert heal_server.requests == []
    await runtime.worker().run_until_idle()
    done = await get_json(client, f"/api/v1/repairs/{second['id']}", viewer)
    assert done["status"] == "succeeded", done
    assert [(s["action"], s["status"]) for s in done["steps"]] == [("http.request", "succeeded")]
    assert [(r.method, r.path) for r in heal_server.requests] == [("POST", "/risky/web")]
    assert (await client.post(approve, headers=operator)).status_code == 409
    assert (
        await client.post(
            f"/api/v1/repairs/{second['id']}/reject", json={"reason": "late"}, headers=operator
        )
    ).status_code == 409
    timeline = await get_json(client, f"/api/v1/incidents/{human_id}", viewer)
    assert [e["event"] for e in timeline["timeline"] if e["event"].startswith("repair_")] == [
        "repair_decision",
        "repair_rejected",
        "repair_decision",
        "repair_approved",
        "repair_started",
        "repair_succeeded",
    ]


@pytest.mark.parametrize("repair_overrides", [{"on_new_incident": False}])
async def test_repair_now_through_the_api(
    runtime: Runtime,
    client: httpx.AsyncClient,
    headers_for,  # noqa: F811
    heal_server: RecordingServer,
) -> None:
    ingest = await headers_for(Role.INGEST)
    viewer = await headers_for(Role.VIEWER)
    operator = await headers_for(Role.OPERATOR)
    await post_alert(client, ingest, am_alert(alertname="HealOk"))
    await post_alert(client, ingest, am_alert(alertname="HealOk", namespace="shop2"))
    first_id, second_id = await incident_ids(client, viewer)
    assert (await get_json(client, "/api/v1/repairs", viewer))["total"] == 0

    # wait (the default): decided, run, finished, with its steps.
    response = await client.post(f"/api/v1/incidents/{first_id}/repair", headers=operator)
    assert response.status_code == 200, response.text
    ran = response.json()
    assert (ran["status"], ran["incident_id"]) == ("succeeded", first_id)
    assert ran["requested_by"].startswith("user:")
    assert [(s["action"], s["status"]) for s in ran["steps"]] == [("http.request", "succeeded")]
    assert ran["steps"][0]["detail"].startswith(f"POST {heal_server.url('/heal/web')} -> 200")
    assert [(r.method, r.path) for r in heal_server.requests] == [("POST", "/heal/web")]
    assert json.loads(heal_server.requests[0].body) == {"incident": first_id}

    # wait false: decided and queued; a worker runs it.
    response = await client.post(
        f"/api/v1/incidents/{second_id}/repair", json={"wait": False}, headers=operator
    )
    assert response.status_code == 200, response.text
    queued = response.json()
    assert (queued["status"], queued["started_at"], queued["steps"]) == ("queued", None, [])
    assert len(heal_server.requests) == 1
    await runtime.worker().run_until_idle()
    finished = await get_json(client, f"/api/v1/repairs/{queued['id']}", viewer)
    assert finished["status"] == "succeeded"
    assert len(heal_server.requests) == 2

    missing = await client.post("/api/v1/incidents/INC-20000101-9999/repair", headers=operator)
    assert missing.status_code == 404
    unknown_field = await client.post(
        f"/api/v1/incidents/{first_id}/repair", json={"wait": True, "force": True}, headers=operator
    )
    assert unknown_field.status_code == 422
    assert (
        await client.post(f"/api/v1/incidents/{first_id}/repair", headers=viewer)
    ).status_code == 403
    assert (await get_json(client, "/api/v1/repairs", viewer))["total"] == 2
    assert len(heal_server.requests) == 2


@pytest.mark.parametrize("repair_overrides", [{"mode": "dry-run"}])
async def test_dry_run_records_the_verdict_and_runs_nothing(
    runtime: Runtime,
    client: httpx.AsyncClient,
    headers_for,  # noqa: F811
    heal_server: RecordingServer,
    kube: InMemoryKube,
) -> None:
    ingest = await headers_for(Role.INGEST)
    viewer = await headers_for(Role.VIEWER)
    for alertname in ("WebDown", "HealOk", "HealRisky"):
        await post_alert(client, ingest, am_alert(alertname=alertname))
    await runtime.worker().run_until_idle()

    page = await get_json(client, "/api/v1/repairs", viewer)
    assert page["total"] == 3, page
    by_playbook = {
        item["playbook_id"]: await get_json(client, f"/api/v1/repairs/{item['id']}", viewer)
        for item in page["items"]
    }
    assert {p: (r["verdict"], r["status"], r["dry_run"]) for p, r in by_playbook.items()} == {
        "restart-web": ("AUTO", "dry_run", True),
        "heal-ok": ("AUTO", "dry_run", True),
        "risky-heal": ("NEEDS_APPROVAL", "dry_run", True),
    }
    for repair in by_playbook.values():
        assert repair["steps"], repair
        assert {step["status"] for step in repair["steps"]} == {"planned"}
        assert repair["started_at"] is None
        assert repair["reasons"], repair
    assert "dry-run" in by_playbook["heal-ok"]["reasons"][-1]
    assert kube.actions == []
    assert heal_server.requests == []
    assert await jobs(runtime, RUNBOOK_JOB, ANTI_PATTERN_JOB) == []
    assert await jobs(runtime, "repair.execute") == []
    assert await notifications(runtime, "repair.approval") == []
    for item in page["items"]:
        detail = await get_json(client, f"/api/v1/incidents/{item['incident_id']}", viewer)
        decisions = [e for e in detail["timeline"] if e["event"].startswith("repair_")]
        assert [(e["event"], e["detail"]["dry_run"]) for e in decisions] == [
            ("repair_decision", True)
        ]
        assert detail["status"] == "open"


async def test_secrets_in_playbooks_are_never_shown(
    runtime: Runtime,
    client: httpx.AsyncClient,
    headers_for,  # noqa: F811
    heal_server: RecordingServer,
) -> None:
    ingest = await headers_for(Role.INGEST)
    viewer = await headers_for(Role.VIEWER)

    response = await client.get("/api/v1/playbooks", headers=viewer)
    assert response.status_code == 200, response.text
    assert SECRET not in response.text
    listed = {playbook["id"]: playbook for playbook in response.json()}
    assert list(listed) == [p.id for p in runtime.repairs.catalog.playbooks]
    assert set(listed) == {"heal-fails", "restart-web", "heal-ok", "risky-heal"}
    for playbook_id, playbook in listed.items():
        assert playbook["digest"] == runtime.repairs.catalog.get(playbook_id).digest
        assert re.fullmatch(r"[0-9a-f]{16}", playbook["digest"])
    headers = listed["heal-ok"]["steps"][0]["params"]["headers"]
    assert list(headers) == ["Authorization"]
    assert "REDACTED" in headers["Authorization"]
    assert listed["heal-ok"]["steps"][0]["params"]["url"].endswith("/heal/${service}")
    assert listed["restart-web"]["verify"]["check"] == "deployment_available"

    await post_alert(client, ingest, am_alert(alertname="HealOk"))
    await post_alert(client, ingest, am_alert(alertname="HealRisky"))
    await runtime.worker().run_until_idle()
    # The secret did go out, to the endpoint it is for.
    assert [r.headers.get("authorization") for r in heal_server.requests] == [f"Bearer {SECRET}"]

    page = await get_json(client, "/api/v1/repairs", viewer)
    assert page["total"] == 2
    assert SECRET not in json.dumps(page)
    for item in page["items"]:
        response = await client.get(f"/api/v1/repairs/{item['id']}", headers=viewer)
        assert SECRET not in response.text
        shown = response.json()
        assert "REDACTED" in shown["plan"][0]["params"]["headers"]["Authorization"]
        for step in shown["steps"]:
            assert "REDACTED" in step["params"]["headers"]["Authorization"]
    notes = await client.get("/api/v1/notifications", headers=viewer)
    assert SECRET not in notes.text
    kinds = set()
    for kind in ("repair.approval", "knowledge.review"):
        for note in await notifications(runtime, kind):
            kinds.add(kind)
            assert SECRET not in note.title + note.text + json.dumps(note.buttons)
    assert kinds == {"repair.approval", "knowledge.review"}
    # Nor the knowledge the success taught.
    drafts = await get_json(client, "/api/v1/knowledge?type=AUTO_RUNBOOK", viewer)
    for item in drafts["items"]:
        entry = await client.get(f"/api/v1/knowledge/{item['id']}", headers=viewer)
        assert SECRET not in entry.text

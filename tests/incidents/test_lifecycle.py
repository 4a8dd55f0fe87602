"""The incident life cycle through the whole flow, on SQLite and PostgreSQL: alerts in through the
API, the diagnosis job (the model on a local test server), the repair decision, the repair on
the in-memory cluster, approvals and rejections through the API — and at every step the status,
the list filters, the timeline and the audit log agree (issue 18)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from awoooi.core.audit import SYSTEM_CALLER
from awoooi.core.jobs import job_for_key
from awoooi.core.models import AuditEntry, Role
from awoooi.incidents.models import IncidentStatus
from awoooi.incidents.service import advance, find_incident
from awoooi.notify.models import Notification
from awoooi.runtime import Runtime
from awoooi.settings import Settings
from tests.ai.support import seed
from tests.conftest import make_settings
from tests.helpers import llm_servers
from tests.helpers.fake_kube import InMemoryKube
from tests.helpers.llm_servers import OllamaServer, OpenAIServer
from tests.incidents.conftest import TokenFactory, am_alert, am_payload

openai_server = llm_servers.openai_server
ollama_server = llm_servers.ollama_server

AM = "/api/v1/alerts/alertmanager"
PLAYBOOKS = """
id: restart
name: Restart the deployment
match:
  signals: [WebDown]
risk: low
steps:
  - action: kube.rollout_restart
verify: {check: deployment_available, wait: 0, timeout: 1s, interval: 0.2s}
cooldown: 0
---
id: gated
name: A restart that always asks
match:
  signals: [Gated]
risk: low
requires_approval: true
steps:
  - action: kube.rollout_restart
cooldown: 0
---
id: cooled
name: Restart, then leave the target alone for an hour
match:
  signals: [CoolA, CoolB]
risk: low
steps:
  - action: kube.rollout_restart
cooldown: 1h
"""
DIAGNOSIS = {
    "summary": "web crashes after its last release",
    "cause": "APP_CRASH",
    "evidence": [],
    "probable_causes": ["a bad release"],
    "suggested_playbooks": ["restart"],
    "confidence": 0.7,
}


@pytest.fixture
def settings(
    tmp_path: Path,
    database_url: str,
    openai_server: OpenAIServer,
    ollama_server: OllamaServer,
) -> Settings:
    """The seed's model chain on the test servers, a repair decided for every new incident."""
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "lifecycle.yaml").write_text(PLAYBOOKS)
    openai_server.configure(answer=json.dumps(DIAGNOSIS))
    return make_settings(
        tmp_path / "home",
        database_url,
        ai=seed(openai_server, ollama_server),
        repair={"playbooks_dir": str(playbooks), "include_default_playbooks": False},
    )


@pytest.fixture
def kube() -> InMemoryKube:
    cluster = InMemoryKube()
    for namespace in ("shop", "shop2", "shop3"):
        cluster.add("Deployment", namespace, "web")
    return cluster


@pytest.fixture
async def runtime(settings: Settings, kube: InMemoryKube) -> AsyncIterator[Runtime]:
    active = Runtime.from_settings(settings, kube=kube)
    await active.migrate()
    try:
        yield active
    finally:
        await active.dispose()


class Flow:
    """The API as an Alertmanager, a viewer and an operator use it, and the worker."""

    def __init__(self, runtime: Runtime, client: httpx.AsyncClient, tokens: TokenFactory) -> None:
        self.runtime = runtime
        self.client = client
        self._tokens = tokens
        self._headers: dict[Role, dict[str, str]] = {}

    async def headers(self, role: Role) -> dict[str, str]:
        """One token per role (ingest-0, viewer-1, operator-2 ...), made when first used."""
        if role not in self._headers:
            self._headers[role] = await self._tokens(role)
        return self._headers[role]

    async def fire(self, alertname: str, namespace: str = "shop", status: str = "firing") -> str:
        alert = am_alert(alertname=alertname, namespace=namespace, status=status)
        response = await self.client.post(
            AM, json=am_payload([alert], status=status), headers=await self.headers(Role.INGEST)
        )
        assert response.status_code == 202, response.text
        (human_id,) = response.json()["incidents"]
        return str(human_id)

    async def get(self, path: str, **params: Any) -> Any:
        response = await self.client.get(
            path, params=params, headers=await self.headers(Role.VIEWER)
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = await self.client.post(
            path, json=body, headers=await self.headers(Role.OPERATOR)
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def status(self, human_id: str) -> str:
        return str((await self.get(f"/api/v1/incidents/{human_id}"))["status"])

    async def listed(self, status: str) -> list[str]:
        """The incidents `GET /incidents?status=` lists."""
        page = await self.get("/api/v1/incidents", status=status)
        return [item["id"] for item in page["items"]]

    async def changes(self, human_id: str) -> list[tuple[str, str, str]]:
        """The timeline's status changes: (from, to, actor)."""
        timeline = (await self.get(f"/api/v1/incidents/{human_id}"))["timeline"]
        return [
            (e["from_status"], e["to_status"], e["actor"])
            for e in timeline
            if e["event"] == "status_changed"
        ]

    async def audited(self, human_id: str) -> list[tuple[str, str, str, str]]:
        """The audit log's status changes of the incident: (action, from, actor, door)."""
        async with self.runtime.session_factory() as session:
            rows = await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.target == f"incident:{human_id}")
                .order_by(AuditEntry.id)
            )
            return [(r.action, r.detail.get("from"), r.actor, r.door) for r in rows]

    async def run_job(self, key: str) -> None:
        """Run one queued job (by its dedupe key) and nothing else."""
        async with self.runtime.session_factory() as session:
            job_id = await job_for_key(session, key)
        assert job_id is not None, key
        assert await self.runtime.worker().run_job(job_id)

    async def notices(self) -> list[Notification]:
        async with self.runtime.session_factory() as session:
            return list(await session.scalars(select(Notification).order_by(Notification.id)))


@pytest.fixture
def flow(runtime: Runtime, client: httpx.AsyncClient, headers_for: TokenFactory) -> Flow:
    return Flow(runtime, client, headers_for)


async def incident_id(runtime: Runtime, human_id: str) -> int:
    async with runtime.session_factory() as session:
        found = await find_incident(session, human_id)
        assert found is not None
        return found.id


async def test_an_auto_repair_goes_open_diagnosing_repairing_then_resolved(
    flow: Flow, kube: InMemoryKube, openai_server: OpenAIServer
) -> None:
    human_id = await flow.fire("WebDown")
    assert await flow.status(human_id) == "open"
    assert await flow.listed("open") == [human_id]

    # The diagnosis job alone: the decision is queued, the incident is being diagnosed.
    db_id = await incident_id(flow.runtime, human_id)
    await flow.run_job(f"diagnose:{db_id}")
    assert len(openai_server.chat_requests) == 1
    assert await flow.listed("diagnosing") == [human_id]
    assert await flow.listed("open") == []

    # The decision: the playbook runs without approval.
    await flow.run_job(f"decide:{db_id}")
    assert await flow.listed("repairing") == [human_id]

    # The repair runs and succeeds; its alert still fires, so a person's turn again.
    await flow.runtime.worker().run_until_idle()
    assert kube.calls.count(("rollout_restart", "shop/Deployment/web")) == 1
    assert await flow.status(human_id) == "open"

    # The alert resolves: so does the incident.
    await flow.fire("WebDown", status="resolved")
    assert await flow.listed("resolved") == [human_id]
    assert await flow.changes(human_id) == [
        ("open", "diagnosing", "ai:diagnose"),
        ("diagnosing", "repairing", "awoooi:repair"),
        ("repairing", "open", "awoooi:repair"),
        ("open", "resolved", "ingest-0"),
    ]
    # Each change is in the audit log too, with who made it and through which door.
    assert await flow.audited(human_id) == [
        ("incident.diagnosing", "open", "ai:diagnose", "system"),
        ("incident.repairing", "diagnosing", "awoooi:repair", "system"),
        ("incident.open", "repairing", "awoooi:repair", "system"),
        ("incident.resolved", "open", "ingest-0", "api"),
    ]
    # Nobody had to be told anything.
    assert [n.kind for n in await flow.notices()] == ["knowledge.review"]


async def test_an_approval_waits_in_awaiting_approval_and_an_approved_repair_runs(
    flow: Flow, kube: InMemoryKube
) -> None:
    human_id = await flow.fire("Gated")
    await flow.runtime.worker().run_until_idle()
    assert await flow.listed("awaiting_approval") == [human_id]
    (approval,) = [n for n in await flow.notices() if n.kind == "repair.approval"]
    assert approval.title.startswith(f"{human_id}: approve repair #")
    assert ("rollout_restart", "shop/Deployment/web") not in kube.calls

    repair = (await flow.get("/api/v1/repairs", status="pending_approval"))["items"][0]
    await flow.post(f"/api/v1/repairs/{repair['id']}/approve", {"note": "go"})
    assert await flow.status(human_id) == "repairing"
    await flow.runtime.worker().run_until_idle()
    assert kube.calls.count(("rollout_restart", "shop/Deployment/web")) == 1

    changes = await flow.changes(human_id)
    assert [(before, after) for before, after, _actor in changes] == [
        ("open", "diagnosing"),
        ("diagnosing", "awaiting_approval"),
        ("awaiting_approval", "repairing"),
        ("repairing", "open"),
    ]
    # The approval's change is the operator's, through the API.
    approved = (await flow.audited(human_id))[2]
    assert approved[0:2] == ("incident.repairing", "awaiting_approval")
    assert approved[2].startswith("operator-")
    assert approved[3] == "api"


async def test_a_rejected_approval_escalates_to_the_person_who_said_no(flow: Flow) -> None:
    human_id = await flow.fire("Gated", namespace="shop2")
    await flow.runtime.worker().run_until_idle()
    repair = (await flow.get("/api/v1/repairs", status="pending_approval"))["items"][0]
    await flow.post(f"/api/v1/repairs/{repair['id']}/reject", {"reason": "not during the sale"})
    assert await flow.listed("escalated") == [human_id]
    last = (await flow.changes(human_id))[-1]
    assert last[0:2] == ("awaiting_approval", "escalated")
    timeline = (await flow.get(f"/api/v1/incidents/{human_id}"))["timeline"]
    (change,) = [e for e in timeline if e["to_status"] == "escalated"]
    assert change["detail"]["reason"] == (
        f"repair #{repair['id']} rejected by {last[2]}: not during the sale"
    )


async def test_a_blocked_repair_escalates_with_one_notice_naming_the_incident(
    flow: Flow,
) -> None:
    first = await flow.fire("CoolA", namespace="shop3")
    await flow.runtime.worker().run_until_idle()
    second = await flow.fire("CoolB", namespace="shop3")  # the same target, within its cooldown
    await flow.runtime.worker().run_until_idle()

    assert await flow.status(first) == "open"
    assert await flow.listed("escalated") == [second]
    assert [(b, a) for b, a, _actor in await flow.changes(second)] == [
        ("open", "diagnosing"),
        ("diagnosing", "escalated"),
    ]
    (blocked,) = [n for n in await flow.notices() if n.kind == "repair.blocked"]
    assert blocked.title == f"{second}: auto-repair blocked (cooldown)"
    assert f"Incident: {second} " in blocked.text
    assert "Namespace: shop3  Service: web" in blocked.text
    assert f"Link: http://127.0.0.1:8080/api/v1/incidents/{second}" in blocked.text


async def test_a_rejected_diagnosis_and_a_blocked_repair_are_one_escalation_notice(
    flow: Flow, openai_server: OpenAIServer, ollama_server: OllamaServer
) -> None:
    first = await flow.fire("CoolA", namespace="shop3")
    await flow.runtime.worker().run_until_idle()
    openai_server.configure(status=500)
    ollama_server.configure(status=500)
    second = await flow.fire("CoolB", namespace="shop3")
    await flow.runtime.worker().run_until_idle()

    assert await flow.listed("escalated") == [second]
    about_second = [n for n in await flow.notices() if second in n.title]
    (notice,) = about_second  # not a rejection notice and then a blocked one
    assert notice.kind == "incident.escalated"
    assert notice.title == (
        f"{second}: escalated to a human: diagnosis rejected, auto-repair blocked (cooldown)"
    )
    assert "Diagnosis: diagnose rejected: no local model available" in notice.text
    assert "- nemotron: HTTP 500" in notice.text
    assert "Repair: playbook cooled was not run: " in notice.text
    assert first not in notice.text
    (change,) = [c for c in await flow.changes(second) if c[1] == "escalated"]
    assert change[0] == "diagnosing"


async def test_a_storm_child_keeps_its_own_status_and_resolves_its_storm(flow: Flow) -> None:
    # Storms (incidents/storms.py) still work with the life cycle: the children are not
    # diagnosed one by one, so they stay open; the storm resolves with its last child.
    threshold = flow.runtime.settings.incidents.storm_threshold
    names = [f"Thing{i}" for i in range(threshold + 1)]
    opened = [await flow.fire(name, namespace="busy") for name in names]
    await flow.runtime.worker().run_until_idle()
    storms = await flow.get("/api/v1/incidents", storm=True)
    (storm,) = storms["items"]
    children = (await flow.get("/api/v1/incidents", parent=storm["id"]))["items"]
    assert {child["id"] for child in children} == set(opened)
    assert {child["status"] for child in children} == {"open"}
    for name in names:
        await flow.fire(name, namespace="busy", status="resolved")
    assert await flow.status(storm["id"]) == "resolved"
    (change,) = [c for c in await flow.changes(storm["id"]) if c[1] == "resolved"]
    assert change[2].startswith("ingest-")
    assert ("incident.resolved", change[0], change[2], "api") in await flow.audited(storm["id"])


async def test_an_automatic_step_never_overwrites_a_change_made_meanwhile(flow: Flow) -> None:
    # A job holds the incident it read before the alerts resolved it (a diagnosis starting, a
    # decision escalating): its step must see `resolved`, not write over it.
    human_id = await flow.fire("Unhandled", namespace="shop2")
    async with flow.runtime.session_factory() as held:
        stale = await find_incident(held, human_id)
        assert stale is not None
        assert stale.status == "open"
        await held.commit()  # nothing held meanwhile but the object read
        await flow.fire("Unhandled", namespace="shop2", status="resolved")
        for to in (IncidentStatus.DIAGNOSING, IncidentStatus.ESCALATED):
            step = await advance(held, stale, to, caller=SYSTEM_CALLER, reason="late")
            assert step is None
        await held.commit()
    assert await flow.status(human_id) == "resolved"
    assert [c[0:2] for c in await flow.changes(human_id)] == [("open", "resolved")]


async def test_alerts_resolving_an_incident_start_from_the_status_a_job_committed_meanwhile(
    flow: Flow,
) -> None:
    # CI saw `open -> diagnosing` then `open -> resolved` on PostgreSQL: ingestion had read the
    # incident before the worker's diagnosis committed its step. The resolution must wait for
    # that step and start where it ended.
    human_id = await flow.fire("Unhandled", namespace="shop3")
    async with flow.runtime.session_factory() as job:
        incident = await find_incident(job, human_id)
        assert incident is not None
        step = await advance(
            job, incident, IncidentStatus.DIAGNOSING, caller=SYSTEM_CALLER, reason="diagnosis"
        )
        assert step is not None
        await job.flush()
        resolving = asyncio.create_task(
            flow.fire("Unhandled", namespace="shop3", status="resolved")
        )
        await _until_waiting_for_a_lock(flow.runtime, resolving)
        await job.commit()
    await resolving
    assert [c[0:2] for c in await flow.changes(human_id)] == [
        ("open", "diagnosing"),
        ("diagnosing", "resolved"),
    ]
    assert await flow.status(human_id) == "resolved"


async def _until_waiting_for_a_lock(runtime: Runtime, task: asyncio.Task[Any]) -> None:
    """Until `task` waits for a lock the test holds (PostgreSQL shows it; SQLite's waiter sits
    in its busy handler, which shows nothing: a pause lets it get there)."""
    if runtime.engine.dialect.name == "sqlite":
        await asyncio.sleep(0.5)
        assert not task.done()
        return
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    while not task.done():
        async with runtime.session_factory() as session:
            if await session.scalar(query):
                return
        await asyncio.sleep(0.02)
    task.result()  # it ended without waiting: let its error, if any, show
    raise AssertionError("the resolution did not wait for the job's step")

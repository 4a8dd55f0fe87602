"""Storms are admitted, not amplified (both databases, through the API): many new incidents in one
place become one storm, notified and diagnosed once; the diagnosis budget holds across workers,
critical first; a storm child's repair waits for a human; concurrent payloads make one storm."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from awoooi.core.jobs import JobStatus
from awoooi.core.models import Job, Role
from awoooi.diagnosis.incidents import DIAGNOSE_JOB
from awoooi.notify.models import Notification
from awoooi.runtime import Runtime
from awoooi.settings import Settings
from tests.ai.support import seed
from tests.conftest import make_settings
from tests.helpers import llm_servers
from tests.helpers.llm_servers import OllamaServer, OpenAIServer
from tests.incidents import conftest as incident_fixtures
from tests.incidents.conftest import TokenFactory, am_alert, am_payload

openai_server = llm_servers.openai_server
ollama_server = llm_servers.ollama_server
headers_for = incident_fixtures.headers_for

GENERIC = "/api/v1/alerts"
AM = "/api/v1/alerts/alertmanager"
BUDGET = 2
PLAYBOOK = """
id: storm-heal
name: Heal one service
match:
  signals: [StormHeal]
target: null
risk: low
steps:
  - action: http.request
    params:
      method: POST
      url: http://127.0.0.1:9/heal/${service}
    timeout: 1s
cooldown: 0
"""


@pytest.fixture
def storm_threshold() -> int:
    """incidents.storm_threshold (a test parametrizes this name)."""
    return 20


@pytest.fixture
def settings(
    tmp_path: Path,
    database_url: str,
    openai_server: OpenAIServer,
    ollama_server: OllamaServer,
    storm_threshold: int,
) -> Settings:
    """The seed's model chain on the test servers, a budget of two diagnoses, one playbook."""
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "storm.yaml").write_text(PLAYBOOK)
    return make_settings(
        tmp_path / "home",
        database_url,
        ai=seed(openai_server, ollama_server, max_concurrent_diagnoses=BUDGET),
        incidents={"storm_threshold": storm_threshold, "storm_window": 300},
        repair={
            "playbooks_dir": playbooks,
            "include_default_playbooks": False,
            "http_allowed_hosts": ["127.0.0.1"],
        },
    )


def generic(name: str, namespace: str, *, severity: str = "warning", **labels: str) -> Any:
    return {
        "name": name,
        "severity": severity,
        "summary": f"{name} in {namespace}",
        "labels": {"namespace": namespace, "service": name.lower(), **labels},
    }


async def post(client: httpx.AsyncClient, headers: dict[str, str], path: str, body: Any) -> Any:
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()


async def get(client: httpx.AsyncClient, headers: dict[str, str], path: str) -> Any:
    response = await client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def notification_kinds(runtime: Runtime) -> list[str]:
    async with runtime.session_factory() as session:
        return list(await session.scalars(select(Notification.kind).order_by(Notification.id)))


async def diagnose_jobs_left(runtime: Runtime) -> int:
    async with runtime.session_factory() as session:
        query = select(func.count(Job.id)).where(
            Job.kind == DIAGNOSE_JOB, Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING])
        )
        return int(await session.scalar(query) or 0)


def chat_count(*servers: OpenAIServer | OllamaServer) -> int:
    return sum(len(server.chat_requests) for server in servers)


async def test_a_thousand_alerts_make_one_storm_notified_and_diagnosed_once(
    runtime: Runtime,
    client: httpx.AsyncClient,
    headers_for: TokenFactory,
    openai_server: OpenAIServer,
    ollama_server: OllamaServer,
) -> None:
    ingest = await headers_for(Role.INGEST)
    viewer = await headers_for(Role.VIEWER)
    for batch in range(2):
        alerts = [generic(f"Signal{batch}x{i}", "shop") for i in range(500)]
        result = await post(client, ingest, GENERIC, {"alerts": alerts})
        assert result["opened"] == 500

    storms = await get(client, viewer, "/api/v1/incidents?storm=true")
    assert storms["total"] == 1
    storm = await get(client, viewer, f"/api/v1/incidents/{storms['items'][0]['id']}")
    assert (storm["kind"], storm["namespace"], storm["parent"]) == ("storm", "shop", None)
    assert storm["children_total"] == 1000
    assert [e["event"] for e in storm["timeline"]][:1] == ["storm_opened"]
    # The payload's incidents are written together, then the one that crossed the threshold
    # opens the storm: every new incident of the window present by then (the first payload's
    # 500) joins it at once, the second payload's one by one.
    assert len(storm["timeline"][0]["detail"]["children"]) == 500
    children = await get(client, viewer, f"/api/v1/incidents?parent={storm['id']}&limit=20")
    assert children["total"] == 1000
    assert {item["parent"] for item in children["items"]} == {storm["id"]}
    assert (await get(client, viewer, "/api/v1/incidents?storm=false"))["total"] == 1000
    child = await get(client, viewer, f"/api/v1/incidents/{children['items'][0]['id']}")
    assert child["parent"] == storm["id"]
    assert "storm_joined" in [e["event"] for e in child["timeline"]]

    assert await notification_kinds(runtime) == ["incident.storm"]
    await runtime.worker().run_until_idle()

    # One model call for the storm; no child was diagnosed (the first payload's incidents were
    # all written before the storm check ran, so none queued a diagnosis of its own).
    assert chat_count(openai_server, ollama_server) == 1
    assert "Storm" in str(openai_server.chat_requests[0].json)
    assert await notification_kinds(runtime) == ["incident.storm"]
    storm = await get(client, viewer, f"/api/v1/incidents/{storm['id']}")
    assert storm["diagnosis"] is not None
    first_child = storm["timeline"][0]["detail"]["children"][0]
    child = await get(client, viewer, f"/api/v1/incidents/{first_child}")
    assert child["diagnosis"] is None
    assert child["parent"] == storm["id"]


@pytest.mark.parametrize("storm_threshold", [0])
async def test_the_budget_holds_across_worker_loops_and_critical_goes_first(
    settings: Settings,
    runtime: Runtime,
    client: httpx.AsyncClient,
    headers_for: TokenFactory,
    openai_server: OpenAIServer,
) -> None:
    # In flight when an answer is made = received so far - answered before it; the largest
    # such figure is the most calls the model ever had at once.
    lock = threading.Lock()
    answered = 0
    peaks: list[int] = []

    def answer(_request: Any) -> str:
        nonlocal answered
        with lock:
            peaks.append(len(openai_server.chat_requests) - answered)
            answered += 1
        return llm_servers.DEFAULT_ANSWER

    openai_server.configure(answer=answer, delay=0.1)
    ingest = await headers_for(Role.INGEST)
    mediums = [generic(f"Slow{i}", f"team{i}") for i in range(10)]
    await post(client, ingest, GENERIC, {"alerts": mediums})
    await post(client, ingest, GENERIC, {"alerts": [generic("Down", "pay", severity="critical")]})

    jobs = settings.jobs.model_copy(update={"concurrency": 6})
    worker = Runtime.from_settings(settings.model_copy(update={"jobs": jobs}))
    stop = asyncio.Event()
    task = asyncio.create_task(worker.worker().run(stop))
    try:
        for _ in range(600):  # a bound on waiting, never asserted
            if not await diagnose_jobs_left(runtime):
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task
        await worker.dispose()

    assert await diagnose_jobs_left(runtime) == 0
    assert len(openai_server.chat_requests) == 11
    assert 1 <= max(peaks) <= BUDGET
    first_asked = [str(request.json) for request in openai_server.chat_requests[:BUDGET]]
    assert any("Down in pay" in text for text in first_asked)


@pytest.mark.parametrize("storm_threshold", [3])
async def test_a_storm_childs_repair_waits_for_a_human(
    runtime: Runtime, client: httpx.AsyncClient, headers_for: TokenFactory
) -> None:
    ingest = await headers_for(Role.INGEST)
    operator = await headers_for(Role.OPERATOR)
    viewer = await headers_for(Role.VIEWER)
    alone = am_alert(alertname="StormHeal", pod="solo-7d9f8c6b5d-x2kqz", namespace="calm")
    await post(client, ingest, AM, am_payload([alone]))
    many = [
        am_alert(alertname="StormHeal", pod=f"svc{i}-7d9f8c6b5d-x2kqz", namespace="shop")
        for i in range(4)
    ]
    await post(client, ingest, AM, am_payload(many))
    children = await get(client, viewer, "/api/v1/incidents?storm=false&limit=10")
    by_namespace = {item["namespace"]: item for item in children["items"]}
    child, free = by_namespace["shop"], by_namespace["calm"]
    assert child["parent"] is not None
    assert free["parent"] is None

    response = await client.post(
        f"/api/v1/incidents/{child['id']}/repair", json={"wait": False}, headers=operator
    )
    assert response.status_code == 200, response.text
    waiting = response.json()
    assert (waiting["status"], waiting["gate"]) == ("pending_approval", "storm")
    assert f"part of storm {child['parent']}" in waiting["reasons"][-1]
    response = await client.post(
        f"/api/v1/incidents/{free['id']}/repair", json={"wait": False}, headers=operator
    )
    assert response.json()["status"] == "queued"  # the same playbook, outside a storm


@pytest.mark.parametrize("storm_threshold", [5])
async def test_concurrent_payloads_make_one_storm_that_resolves_with_its_children(
    runtime: Runtime, client: httpx.AsyncClient, headers_for: TokenFactory
) -> None:
    ingest = await headers_for(Role.INGEST)
    viewer = await headers_for(Role.VIEWER)
    operator = await headers_for(Role.OPERATOR)
    payloads = [
        {"alerts": [generic(f"P{p}x{i}", "shop", node="node-1") for i in range(5)]}
        for p in range(4)
    ]
    await asyncio.gather(*(post(client, ingest, GENERIC, body) for body in payloads))

    storms = await get(client, viewer, "/api/v1/incidents?storm=true")
    assert storms["total"] == 1  # one storm, whichever payload crossed the threshold
    storm_id = storms["items"][0]["id"]
    children = await get(client, viewer, f"/api/v1/incidents?parent={storm_id}&limit=50")
    assert children["total"] == 20
    assert await notification_kinds(runtime) == ["incident.storm"]

    # Each child resolves on its own; the storm with the last of them.
    resolved = [{**alert, "status": "resolved"} for body in payloads for alert in body["alerts"]]
    await post(client, ingest, GENERIC, {"alerts": resolved[:-1]})
    assert (await get(client, viewer, f"/api/v1/incidents/{storm_id}"))["status"] == "open"
    left = await get(client, viewer, f"/api/v1/incidents?parent={storm_id}&status=open")
    assert left["total"] == 1
    response = await client.post(
        f"/api/v1/incidents/{left['items'][0]['id']}/resolve", headers=operator
    )
    assert response.status_code == 200, response.text
    storm = await get(client, viewer, f"/api/v1/incidents/{storm_id}")
    assert storm["status"] == "resolved"
    assert storm["timeline"][-1]["detail"] == {"reason": "all its incidents resolved"}

"""Incident diagnosis end to end (both databases) and the parsing of what the model says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from awoooi.ai.diagnosis import (
    DIAGNOSE_JOB,
    SYSTEM_PROMPT,
    build_prompt,
    parse_diagnosis,
    queue_diagnosis,
)
from awoooi.core.db import transaction
from awoooi.core.jobs import enqueue
from awoooi.core.models import Job, Role
from awoooi.incidents import repository
from awoooi.incidents.models import Incident
from awoooi.notify.models import Notification
from awoooi.runtime import Runtime
from awoooi.settings import Settings
from tests.ai.support import NEMOTRON_MODEL, seed
from tests.conftest import make_settings
from tests.helpers import llm_servers
from tests.helpers.llm_servers import OllamaServer, OpenAIServer
from tests.incidents import conftest as incident_fixtures
from tests.incidents.conftest import TokenFactory, am_alert, am_payload

openai_server = llm_servers.openai_server
ollama_server = llm_servers.ollama_server
headers_for = incident_fixtures.headers_for

AM = "/api/v1/alerts/alertmanager"
POD = "checkout-5c7d9f8b6-qwert"
DIAGNOSIS = {
    "summary": "The checkout pod is OOM-killed: its memory limit is below its working set.",
    "probable_causes": ["memory limit 256Mi too low", "traffic spike"],
    "suggested_playbooks": ["restart-pod", "Not A Playbook!", "scale-deployment"],
    "confidence": 0.8,
}
SECRET_TOKEN = "awi_" + "Qm7" * 10
SECRET_ANNOTATION = (
    f"debug with token {SECRET_TOKEN} against postgresql://shop:s3cretPassw0rd@db:5432/shop "
    "or curl -H 'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abcdefghijkl'"
)
SECRETS = (SECRET_TOKEN, "s3cretPassw0rd", "eyJhbGciOiJIUzI1NiJ9.abcdefghijkl")


@pytest.fixture
def diagnose_incidents() -> bool:
    """Whether new incidents are diagnosed (a test may parametrize this)."""
    return True


@pytest.fixture
def settings(
    tmp_path: Path,
    database_url: str,
    openai_server: OpenAIServer,
    ollama_server: OllamaServer,
    diagnose_incidents: bool,
) -> Settings:
    """The seed's providers on the test servers: nemotron 0.5 s, ollama 1 s to diagnose."""
    ai = seed(openai_server, ollama_server, diagnose_incidents=diagnose_incidents)
    return make_settings(tmp_path / "home", database_url, ai=ai)


async def ingest(
    client: httpx.AsyncClient, headers_for: TokenFactory, **alert: Any
) -> tuple[str, dict[str, Any]]:
    ingest_headers = await headers_for(Role.INGEST)
    payload = am_payload([am_alert(**{"pod": POD, **alert})])
    response = await client.post(AM, json=payload, headers=ingest_headers)
    assert response.status_code == 202, response.text
    return response.json()["incidents"][0], response.json()


async def incident_db_id(runtime: Runtime, human_id: str) -> int:
    async with runtime.session_factory() as session:
        incident = await repository.get_by_human_id(session, human_id)
        assert incident is not None
        return incident.id


async def diagnose_jobs(runtime: Runtime) -> list[Job]:
    async with runtime.session_factory() as session:
        return list(await session.scalars(select(Job).where(Job.kind == DIAGNOSE_JOB)))


async def timeline(
    client: httpx.AsyncClient, headers_for: TokenFactory, human_id: str
) -> list[dict[str, Any]]:
    viewer = await headers_for(Role.VIEWER)
    response = await client.get(f"/api/v1/incidents/{human_id}", headers=viewer)
    assert response.status_code == 200, response.text
    return list(response.json()["timeline"])


def ai_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] in {"diagnosis", "diagnosis_rejected"}]


# --- end to end ---------------------------------------------------------------------------------


async def test_new_incident_queues_one_diagnosis_job(
    runtime: Runtime, client: httpx.AsyncClient, headers_for: TokenFactory
) -> None:
    human_id, _ = await ingest(client, headers_for)
    db_id = await incident_db_id(runtime, human_id)
    jobs = await diagnose_jobs(runtime)
    assert [(j.payload, j.dedupe_key, j.status) for j in jobs] == [
        ({"incident_id": db_id}, f"diagnose:{db_id}", "queued")
    ]

    # The same alert again, or a second queueing, does not add a job.
    again, body = await ingest(client, headers_for)
    assert again == human_id
    assert body["opened"] == 0
    async with transaction(runtime.session_factory) as session:
        assert await queue_diagnosis(session, db_id) == jobs[0].id
    assert len(await diagnose_jobs(runtime)) == 1

    # A second incident gets its own job.
    await ingest(client, headers_for, alertname="KubernetesContainerOomKiller", pod="api-0")
    assert len(await diagnose_jobs(runtime)) == 2


@pytest.mark.parametrize("diagnose_incidents", [False])
async def test_diagnosis_can_be_switched_off(
    runtime: Runtime, client: httpx.AsyncClient, headers_for: TokenFactory
) -> None:
    assert runtime.settings.ai.diagnose_incidents is False
    human_id, body = await ingest(client, headers_for)
    assert body["opened"] == 1
    assert await diagnose_jobs(runtime) == []
    await runtime.worker().run_until_idle()  # the repair decision still runs
    assert ai_events(await timeline(client, headers_for, human_id)) == []


async def test_diagnosis_lands_on_the_timeline(
    runtime: Runtime,
    client: httpx.AsyncClient,
    headers_for: TokenFactory,
    openai_server: OpenAIServer,
    ollama_server: OllamaServer,
) -> None:
    openai_server.configure(
        answer="```json\n" + json.dumps(DIAGNOSIS) + "\n```",
        prompt_tokens=900,
        completion_tokens=100,
    )
    human_id, _ = await ingest(client, headers_for)

    assert await runtime.worker().run_until_idle() >= 1

    events = ai_events(await timeline(client, headers_for, human_id))
    assert len(events) == 1
    event = events[0]
    assert event["event"] == "diagnosis"
    assert event["actor"] == "ai:diagnose"
    detail = event["detail"]
    assert detail["summary"] == DIAGNOSIS["summary"]
    assert detail["probable_causes"] == DIAGNOSIS["probable_causes"]
    assert detail["suggested_playbooks"] == ["restart-pod", "scale-deployment"]
    assert detail["confidence"] == 0.8
    assert detail["structured"] is True
    assert detail["provider"] == "nemotron"
    assert detail["total_tokens"] == 1000
    assert detail["cost_usd"] == pytest.approx((900 * 0.5 + 100 * 1.5) / 1000)
    assert detail["latency_ms"] > 0
    assert ollama_server.chat_requests == []

    # What the model was asked: the system prompt and the incident as JSON.
    (request,) = openai_server.chat_requests
    assert request.json["model"] == NEMOTRON_MODEL
    system, user = request.json["messages"]
    assert system == {"role": "system", "content": SYSTEM_PROMPT}
    document = json.loads(user["content"])
    assert document["incident"] == human_id
    assert document["labels"]["pod"] == POD
    assert any(entry["event"] == "opened" for entry in document["timeline"])

    (job,) = await diagnose_jobs(runtime)
    assert job.status == "done"

    # Running the diagnosis again (a retry, a re-queue) adds nothing and asks no model.
    async with transaction(runtime.session_factory) as session:
        await enqueue(session, DIAGNOSE_JOB, {"incident_id": job.payload["incident_id"]})
    assert await runtime.worker().run_until_idle() == 1
    assert len(ai_events(await timeline(client, headers_for, human_id))) == 1
    assert len(openai_server.chat_requests) == 1


async def test_slow_nemotron_diagnosis_comes_from_ollama(
    runtime: Runtime,
    client: httpx.AsyncClient,
    headers_for: TokenFactory,
    openai_server: OpenAIServer,
    ollama_server: OllamaServer,
) -> None:
    openai_server.delay = 5.0  # its diagnose deadline is 0.5 s
    ollama_server.answer = "Probably a bad deploy; I cannot tell more."  # not JSON
    human_id, _ = await ingest(client, headers_for)

    await runtime.worker().run_until_idle()

    (event,) = ai_events(await timeline(client, headers_for, human_id))
    assert event["event"] == "diagnosis"
    assert event["detail"]["provider"] == "ollama"
    assert event["detail"]["structured"] is False
    assert event["detail"]["summary"] == "Probably a bad deploy; I cannot tell more."
    assert event["detail"]["probable_causes"] == []
    assert len(openai_server.chat_requests) == 1
    assert ollama_server.last_request.json["stream"] is False


async def test_no_local_model_is_a_rejection_event_and_a_notification(
    runtime: Runtime,
    client: httpx.AsyncClient,
    headers_for: TokenFactory,
    openai_server: OpenAIServer,
    ollama_server: OllamaServer,
) -> None:
    openai_server.status = 500
    ollama_server.malformed = "json"
    human_id, _ = await ingest(client, headers_for)

    await runtime.worker().run_until_idle()

    (event,) = ai_events(await timeline(client, headers_for, human_id))
    assert event["event"] == "diagnosis_rejected"
    assert event["detail"]["attempts"] == [
        {"provider": "nemotron", "reason": "HTTP 500"},
        {"provider": "ollama", "reason": "the answer is not JSON"},
    ]
    assert event["detail"]["error"].startswith("diagnose rejected: no local model available")

    async with runtime.session_factory() as session:
        notices = list(
            await session.scalars(select(Notification).where(Notification.kind == "ai.rejected"))
        )
    assert len(notices) == len(runtime.settings.notify.channels) == 1
    notice = notices[0]
    assert notice.title == "diagnose rejected: no local model available"
    assert "nemotron: HTTP 500" in notice.text
    assert "ollama: the answer is not JSON" in notice.text
    prompt = openai_server.last_request.json["messages"][-1]["content"]
    assert prompt not in notice.text
    for fragment in (POD, human_id, "crash looping", "SRE assistant"):
        assert fragment not in notice.text
        assert fragment not in notice.title
    assert notice.status == "sent"  # the worker delivered it through the log channel

    # A second run adds no second event and no second notification.
    (job,) = await diagnose_jobs(runtime)
    async with transaction(runtime.session_factory) as session:
        await enqueue(session, DIAGNOSE_JOB, {"incident_id": job.payload["incident_id"]})
    await runtime.worker().run_until_idle()
    assert len(ai_events(await timeline(client, headers_for, human_id))) == 1
    async with runtime.session_factory() as session:
        count = await session.scalar(
            select(func.count()).select_from(Notification).where(Notification.kind == "ai.rejected")
        )
    assert count == 1
    assert len(openai_server.chat_requests) == 1


async def test_prompt_redacts_secrets_in_annotations(
    runtime: Runtime,
    client: httpx.AsyncClient,
    headers_for: TokenFactory,
    openai_server: OpenAIServer,
) -> None:
    ingest_headers = await headers_for(Role.INGEST)
    alert = am_alert(pod=POD)
    alert["annotations"]["runbook"] = SECRET_ANNOTATION
    response = await client.post(AM, json=am_payload([alert]), headers=ingest_headers)
    human_id = response.json()["incidents"][0]
    db_id = await incident_db_id(runtime, human_id)

    async with runtime.session_factory() as session:
        incident = await repository.get_by_id_with_timeline(session, db_id)
        assert incident is not None
        prompt = build_prompt(incident)
    for secret in SECRETS:
        assert secret not in prompt
    assert "[REDACTED" in prompt
    assert POD in prompt

    await runtime.worker().run_until_idle()
    sent = json.dumps(openai_server.last_request.json)
    for secret in SECRETS:
        assert secret not in sent


def test_build_prompt_redacts_whatever_the_incident_holds() -> None:
    # An incident straight from memory (nothing redacted on the way in): the prompt still is.
    incident = Incident(
        human_id="INC-20261128-0001",
        title=f"Pod {POD} crash looping",
        severity="warning",
        status="open",
        affected_services=["checkout"],
        namespace="shop",
        occurrences=2,
        symptoms={"kind": "crashloop"},
        labels={"pod": POD, "password": "labelpass"},
        annotations={"runbook": SECRET_ANNOTATION},
        events=[],
    )
    prompt = build_prompt(incident)
    document = json.loads(prompt)
    assert document["incident"] == "INC-20261128-0001"
    assert document["labels"]["pod"] == POD
    assert document["occurrences"] == 2
    assert document["timeline"] == []
    for secret in SECRETS:
        assert secret not in prompt
    assert "[REDACTED" in document["annotations"]["runbook"]


# --- parse_diagnosis ----------------------------------------------------------------------------


def test_parse_plain_json() -> None:
    diagnosis = parse_diagnosis(json.dumps(DIAGNOSIS))
    assert diagnosis.structured
    assert diagnosis.summary == DIAGNOSIS["summary"]
    assert diagnosis.probable_causes == DIAGNOSIS["probable_causes"]
    assert diagnosis.suggested_playbooks == ["restart-pod", "scale-deployment"]
    assert diagnosis.confidence == 0.8


def test_parse_fenced_json() -> None:
    text = "```json\n" + json.dumps(DIAGNOSIS, indent=2) + "\n```"
    diagnosis = parse_diagnosis(text)
    assert diagnosis.structured
    assert diagnosis.summary == DIAGNOSIS["summary"]
    assert diagnosis.confidence == 0.8


def test_parse_prose_around_json() -> None:
    text = (
        "Sure! Here is my analysis of the incident.\n\n"
        + json.dumps(DIAGNOSIS)
        + "\n\nLet me know if you need anything else."
    )
    diagnosis = parse_diagnosis(text)
    assert diagnosis.structured
    assert diagnosis.probable_causes == DIAGNOSIS["probable_causes"]


@pytest.mark.parametrize(
    "text",
    [
        "The pod is crash looping because its liveness probe fails. Increase the timeout.",
        "{not json at all}",
        '["a", "list", "not", "an", "object"]',
        '{"summary": "cut off in the mid',
    ],
)
def test_parse_non_json_is_unstructured_text(text: str) -> None:
    diagnosis = parse_diagnosis(text)
    assert not diagnosis.structured
    assert diagnosis.summary == text.strip()
    assert diagnosis.probable_causes == []
    assert diagnosis.suggested_playbooks == []
    assert diagnosis.confidence is None


def test_parse_drops_invalid_playbook_ids() -> None:
    answer = {
        "summary": "s",
        "suggested_playbooks": [
            "restart-pod",
            "rm -rf /",
            "Restart-Pod",
            "x" * 65,
            "../etc/passwd",
            "drain.node_v2",
            "kubectl delete ns shop",
            "scale-up\n",  # `$` alone would let a trailing newline through
            None,
            7,
        ],
    }
    assert parse_diagnosis(json.dumps(answer)).suggested_playbooks == [
        "restart-pod",
        "drain.node_v2",
        "7",
    ]


def test_parse_without_summary_keeps_the_text() -> None:
    text = json.dumps({"probable_causes": ["x"]})
    diagnosis = parse_diagnosis(text)
    assert diagnosis.structured
    assert diagnosis.summary == text
    assert diagnosis.probable_causes == ["x"]


def test_parse_a_lone_string_is_one_item_not_characters() -> None:
    answer = {"summary": "s", "probable_causes": "disk full", "suggested_playbooks": "restart-pod"}
    diagnosis = parse_diagnosis(json.dumps(answer))
    assert diagnosis.structured
    assert diagnosis.probable_causes == ["disk full"]
    assert diagnosis.suggested_playbooks == ["restart-pod"]


def test_parse_null_fields_are_missing() -> None:
    text = json.dumps({"summary": None, "probable_causes": None, "suggested_playbooks": None})
    diagnosis = parse_diagnosis(text)
    assert diagnosis.structured
    assert diagnosis.summary == text  # not "None"
    assert diagnosis.probable_causes == []
    assert diagnosis.suggested_playbooks == []


def test_parse_caps_sizes() -> None:
    answer = {
        "summary": "s" * 20000,
        "probable_causes": [f"cause {i} " + "c" * 600 for i in range(50)],
        "suggested_playbooks": [f"playbook-{i}" for i in range(50)],
    }
    diagnosis = parse_diagnosis(json.dumps(answer))
    assert diagnosis.structured
    assert len(diagnosis.summary) == 8000
    assert len(diagnosis.probable_causes) == 20
    assert all(len(cause) <= 500 for cause in diagnosis.probable_causes)
    assert len(diagnosis.suggested_playbooks) == 20

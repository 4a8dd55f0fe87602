"""Incident diagnosis end to end (both databases): the job, what is stored and shown, the model
asked or not, a rejection's notice, running it again; with and without a cluster to read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from awoooi.ai.models import LlmCall
from awoooi.core.db import transaction
from awoooi.core.jobs import enqueue
from awoooi.core.models import AuditEntry, Job, Role
from awoooi.diagnosis.incidents import DIAGNOSE_JOB, latest_diagnosis, queue_diagnosis
from awoooi.diagnosis.models import DiagnosisRecord
from awoooi.diagnosis.prompt import SYSTEM_PROMPT
from awoooi.diagnosis.source import DumpSource
from awoooi.incidents import repository
from awoooi.incidents.alerts import from_alertmanager
from awoooi.incidents.schemas import AlertmanagerWebhook
from awoooi.knowledge.models import EntrySource, EntryStatus, EntryType
from awoooi.knowledge.service import NewEntry, create_entry
from awoooi.notify.models import Notification
from awoooi.runtime import Runtime
from awoooi.settings import Settings
from tests.ai.support import NEMOTRON_MODEL, seed
from tests.conftest import make_settings
from tests.diagnosis.dumps import T0, Dump, container, exited, template, waiting
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
    "cause": "OOM_KILLED",
    "evidence": ["e1", "e99"],
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
    """Whether the model explains new incidents (a test may parametrize this)."""
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


async def shown(
    client: httpx.AsyncClient, headers_for: TokenFactory, human_id: str
) -> dict[str, Any]:
    viewer = await headers_for(Role.VIEWER)
    response = await client.get(f"/api/v1/incidents/{human_id}", headers=viewer)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def timeline(
    client: httpx.AsyncClient, headers_for: TokenFactory, human_id: str
) -> list[dict[str, Any]]:
    return list((await shown(client, headers_for, human_id))["timeline"])


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
async def test_without_the_model_the_rules_diagnose(
    runtime: Runtime,
    client: httpx.AsyncClient,
    headers_for: TokenFactory,
    openai_server: OpenAIServer,
) -> None:
    assert runtime.settings.ai.diagnose_incidents is False
    human_id, body = await ingest(client, headers_for)
    assert body["opened"] == 1
    await runtime.worker().run_until_idle()  # the diagnosis, then the repair decision
    (event,) = ai_events(await timeline(client, headers_for, human_id))
    assert event["event"] == "diagnosis"
    assert event["detail"]["by"] == "rules"
    diagnosis = (await shown(client, headers_for, human_id))["diagnosis"]
    assert diagnosis["by"] == "rules"
    assert diagnosis["answer"]["reason"] == "model not asked (ai.diagnose_incidents is false)"
    # No cluster here: the target comes from the labels, and the evidence says why.
    assert diagnosis["target"] == {
        "kind": "Deployment",
        "namespace": "shop",
        "name": "checkout",
        "resolved": False,
    }
    assert any(item["source"] == "cluster" for item in diagnosis["evidence"])
    assert openai_server.chat_requests == []
    assert len(await diagnose_jobs(runtime)) == 1


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
    assert detail["by"] == "model"
    assert detail["cause"] == "OOM_KILLED"
    assert detail["summary"] == DIAGNOSIS["summary"]
    assert detail["probable_causes"] == DIAGNOSIS["probable_causes"]
    assert detail["suggested_playbooks"] == ["restart-pod", "scale-deployment"]
    assert detail["confidence"] == 0.8
    assert detail["provider"] == "nemotron"
    assert detail["total_tokens"] == 1000
    assert detail["cost_usd"] == pytest.approx((900 * 0.5 + 100 * 1.5) / 1000)
    assert detail["latency_ms"] > 0
    assert ollama_server.chat_requests == []

    # The whole diagnosis is with the incident; cited ids that do not exist are dropped.
    diagnosis = (await shown(client, headers_for, human_id))["diagnosis"]
    assert diagnosis["id"] == detail["diagnosis_id"]
    assert diagnosis["answer"]["evidence"] == ["e1"]
    assert diagnosis["answer"]["structured"] is True

    # What the model was asked: the system prompt, then the incident, findings and evidence.
    (request,) = openai_server.chat_requests
    assert request.json["model"] == NEMOTRON_MODEL
    system, user = request.json["messages"]
    assert system == {"role": "system", "content": SYSTEM_PROMPT}
    assert human_id in user["content"]
    assert POD in user["content"]
    assert "[e1]" in user["content"] or "e1" in user["content"]

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
    assert event["detail"]["summary"] == "Probably a bad deploy; I cannot tell more."
    assert event["detail"]["probable_causes"] == []
    diagnosis = (await shown(client, headers_for, human_id))["diagnosis"]
    assert diagnosis["answer"]["structured"] is False
    assert len(openai_server.chat_requests) == 1
    assert ollama_server.last_request.json["stream"] is False


async def ledger(runtime: Runtime) -> list[tuple[str, str]]:
    """The LLM ledger: (provider, outcome) per row, oldest first."""
    async with runtime.session_factory() as session:
        rows = await session.execute(select(LlmCall.provider, LlmCall.outcome).order_by(LlmCall.id))
        return [(row.provider, row.outcome) for row in rows]


async def notices(runtime: Runtime) -> list[Notification]:
    async with runtime.session_factory() as session:
        return list(await session.scalars(select(Notification).order_by(Notification.id)))


def status_changes(events: list[dict[str, Any]]) -> list[tuple[str | None, str | None]]:
    return [(e["from_status"], e["to_status"]) for e in events if e["event"] == "status_changed"]


async def test_no_local_model_and_no_repair_escalate_in_one_notice_naming_the_incident(
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

    events = await timeline(client, headers_for, human_id)
    rejected, diagnosed = ai_events(events)
    assert rejected["event"] == "diagnosis_rejected"
    assert rejected["detail"]["attempts"] == [
        {"provider": "nemotron", "reason": "HTTP 500"},
        {"provider": "ollama", "reason": "the answer is not JSON"},
    ]
    assert rejected["detail"]["error"].startswith("diagnose rejected: no local model available")
    # The findings are the diagnosis.
    assert diagnosed["event"] == "diagnosis"
    assert diagnosed["detail"]["by"] == "rules"
    # No cluster, so no playbook can run either: a human must take it (issue 18).
    incident = await shown(client, headers_for, human_id)
    assert incident["status"] == "escalated"
    assert status_changes(events) == [("open", "diagnosing"), ("diagnosing", "escalated")]

    # ONE notice says both, naming the incident: not a rejection notice and then another.
    (notice,) = await notices(runtime)
    assert notice.kind == "incident.escalated"
    assert notice.title == (
        f"{human_id}: escalated to a human: diagnosis rejected, no automatic repair"
    )
    text = notice.text
    assert f"Incident: {human_id} {incident['title']}\n" in text
    assert "Namespace: shop  Service: checkout" in text
    assert f"Link: http://127.0.0.1:8080/api/v1/incidents/{human_id}" in text
    assert "Diagnosis: diagnose rejected: no local model available" in text
    assert "- nemotron: HTTP 500" in text
    assert "- ollama: the answer is not JSON" in text
    assert "Target: Deployment shop/checkout" in text
    assert "Finding:" in text
    assert "Repair: no playbook matches this incident" in text
    prompt = openai_server.last_request.json["messages"][-1]["content"]
    assert prompt not in text
    assert "SRE assistant" not in text
    assert notice.status == "sent"  # the worker delivered it through the log channel

    # A second run adds no second event and no second notification.
    (job,) = await diagnose_jobs(runtime)
    async with transaction(runtime.session_factory) as session:
        await enqueue(session, DIAGNOSE_JOB, {"incident_id": job.payload["incident_id"]})
    await runtime.worker().run_until_idle()
    assert len(ai_events(await timeline(client, headers_for, human_id))) == 2
    assert len(await notices(runtime)) == 1
    assert len(openai_server.chat_requests) == 1

    # Asked again by a person, a rejection is told at once (no decision follows it).
    calls = await ledger(runtime)
    operator = await headers_for(Role.OPERATOR)
    again = await client.post(f"/api/v1/incidents/{human_id}/diagnose", headers=operator)
    assert again.status_code == 200, again.text
    # The model was asked with no write lock held (an escalated incident does not become
    # `diagnosing`): the ledger took every attempt and the rejection, none waited out.
    assert await ledger(runtime) == [
        *calls,
        ("nemotron", "error"),
        ("ollama", "error"),
        ("-", "rejected"),
    ]
    await runtime.worker().run_until_idle()
    assert [n.kind for n in await notices(runtime)] == ["incident.escalated", "ai.rejected"]
    assert (await shown(client, headers_for, human_id))["status"] == "escalated"


async def test_a_rejection_without_a_repair_decision_is_told_at_once_and_the_incident_reopens(
    settings: Settings,
    openai_server: OpenAIServer,
    ollama_server: OllamaServer,
) -> None:
    openai_server.status = 500
    ollama_server.malformed = "json"
    quiet = settings.model_copy(
        update={"repair": settings.repair.model_copy(update={"on_new_incident": False})}
    )
    runtime = Runtime.from_settings(quiet)
    await runtime.migrate()
    try:
        alert = am_alert(pod=POD)
        payload = AlertmanagerWebhook.model_validate(am_payload([alert]))
        async with transaction(runtime.session_factory) as session:
            result = await runtime.incident_ingestor.ingest(
                session, from_alertmanager(payload), actor="test"
            )
        (human_id,) = result.incidents
        await runtime.worker().run_until_idle()
        async with runtime.session_factory() as session:
            incident = await repository.get_by_human_id(session, human_id, with_timeline=True)
        assert incident is not None
        (notice,) = await notices(runtime)
    finally:
        await runtime.dispose()
    assert incident.status == "open"
    changes = [(e.from_status, e.to_status) for e in incident.events if e.to_status]
    assert changes == [(None, "open"), ("open", "diagnosing"), ("diagnosing", "open")]
    assert notice.kind == "ai.rejected"
    assert notice.title == f"{human_id}: diagnose rejected: no local model available"
    assert f"Incident: {human_id} {incident.title}\n" in notice.text
    assert "Namespace: shop  Service: checkout" in notice.text
    assert "- nemotron: HTTP 500" in notice.text
    assert "Finding:" in notice.text
    assert [b["label"] for b in notice.buttons] == ["Open incident"]


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
    assert response.status_code == 202, response.text

    await runtime.worker().run_until_idle()
    sent = json.dumps(openai_server.last_request.json)
    assert POD in sent
    assert "[REDACTED" in sent
    for secret in SECRETS:
        assert secret not in sent


async def test_published_knowledge_and_how_similar_incidents_ended_are_evidence(
    runtime: Runtime,
    client: httpx.AsyncClient,
    headers_for: TokenFactory,
    openai_server: OpenAIServer,
) -> None:
    operator = await headers_for(Role.OPERATOR)
    first, _ = await ingest(client, headers_for)
    await runtime.worker().run_until_idle()
    resolved = await client.post(f"/api/v1/incidents/{first}/resolve", headers=operator)
    assert resolved.status_code == 200, resolved.text
    symptoms_hash = (await shown(client, headers_for, first))["symptoms_hash"]
    async with transaction(runtime.session_factory) as session:
        await create_entry(
            session,
            NewEntry(
                title="checkout runs out of memory after a release",
                content="Raise the memory limit of checkout to 512Mi, then restart it.",
                entry_type=EntryType.RUNBOOK,
                source=EntrySource.MANUAL,
                status=EntryStatus.PUBLISHED,
                created_by="alice",
                symptoms_hash=symptoms_hash,
            ),
        )

    second, _ = await ingest(client, headers_for, fingerprint="f" * 16)
    assert second != first
    await runtime.worker().run_until_idle()

    evidence = (await shown(client, headers_for, second))["diagnosis"]["evidence"]
    by_source = {item["source"]: item["text"] for item in evidence}
    assert "Raise the memory limit of checkout to 512Mi" in by_source["knowledge"]
    assert first in by_source["history"]
    sent = openai_server.last_request.json["messages"][-1]["content"]
    assert "Raise the memory limit of checkout to 512Mi" in sent


async def test_an_operator_runs_the_diagnosis_again(
    runtime: Runtime,
    client: httpx.AsyncClient,
    headers_for: TokenFactory,
    openai_server: OpenAIServer,
) -> None:
    human_id, _ = await ingest(client, headers_for)
    await runtime.worker().run_until_idle()
    first = (await shown(client, headers_for, human_id))["diagnosis"]
    operator = await headers_for(Role.OPERATOR)

    again = await client.post(f"/api/v1/incidents/{human_id}/diagnose", headers=operator)
    assert again.status_code == 200, again.text
    assert again.json()["id"] > first["id"]
    assert (await shown(client, headers_for, human_id))["diagnosis"]["id"] == again.json()["id"]
    assert len(ai_events(await timeline(client, headers_for, human_id))) == 2
    assert len(openai_server.chat_requests) == 2
    async with runtime.session_factory() as session:
        audited = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "incident.diagnose")
        )
    assert audited is not None
    assert (audited.target, audited.door) == (f"incident:{human_id}", "api")

    queued = await client.post(
        f"/api/v1/incidents/{human_id}/diagnose", json={"wait": False}, headers=operator
    )
    assert queued.status_code == 202, queued.text
    viewer = await headers_for(Role.VIEWER)
    refused = await client.post(f"/api/v1/incidents/{human_id}/diagnose", headers=viewer)
    assert refused.status_code == 403
    missing = await client.post("/api/v1/incidents/INC-20000101-0001/diagnose", headers=operator)
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"


# --- with a cluster to read -----------------------------------------------------------------------


@pytest.fixture
def oom_dump(tmp_path: Path) -> Path:
    """A cluster where checkout's pod is OOM-killed at its 256Mi limit."""
    dump = Dump(tmp_path / "cluster")
    dump.node("node-1")
    deployment = dump.deployment("shop", "checkout", replicas=1)
    replicaset = dump.replicaset(
        deployment,
        template(container("checkout", limits={"memory": "256Mi"})),
        revision=4,
        replicas=1,
        ready=0,
    )
    dump.pod(
        replicaset,
        POD,
        statuses={
            "checkout": waiting(
                "CrashLoopBackOff",
                "back-off 5m0s restarting failed container",
                restarts=6,
                last=exited("OOMKilled", 137),
            )
        },
    )
    return dump.write()


@pytest.mark.parametrize("diagnose_incidents", [False])
async def test_a_cluster_gives_the_findings_their_evidence(
    settings: Settings, oom_dump: Path
) -> None:
    runtime = Runtime.from_settings(settings, cluster_source=DumpSource(oom_dump))
    await runtime.migrate()
    try:
        alert = am_alert(pod=POD, starts_at=T0.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
        payload = AlertmanagerWebhook.model_validate(am_payload([alert]))
        async with transaction(runtime.session_factory) as session:
            result = await runtime.incident_ingestor.ingest(
                session, from_alertmanager(payload), actor="test"
            )
        (human_id,) = result.incidents
        await runtime.worker().run_until_idle()
        async with runtime.session_factory() as session:
            incident = await repository.get_by_human_id(session, human_id, with_timeline=True)
            assert incident is not None
            record = await latest_diagnosis(session, incident.id)
        assert record is not None
        assert (record.target_kind, record.target_namespace, record.target_name) == (
            "Deployment",
            "shop",
            "checkout",
        )
        assert record.target_resolved
        assert record.made_by == "rules"
        assert record.cause == "OOM_KILLED"
        top = record.findings[0]
        assert top["cause"] == "OOM_KILLED"
        cited = " ".join(e["text"] for e in record.evidence if e["id"] in top["evidence"])
        assert "OOMKilled" in cited
        assert "256Mi" in cited
        (event,) = [e for e in incident.events if e.event == "diagnosis"]
        assert event.detail["findings"][0]["cause"] == "OOM_KILLED"
        assert event.detail["target"]["name"] == "checkout"
    finally:
        await runtime.dispose()


@pytest.fixture
def leaky_dump(tmp_path: Path) -> Path:
    """A crash-looping checkout whose env, Secret and log lines hold credentials."""
    dump = Dump(tmp_path / "leaky")
    dump.node("node-1")
    dump.secret("shop", "checkout-db", {"password": "Sup3rS3cretDbPass", "user": "checkout"})
    deployment = dump.deployment("shop", "checkout", replicas=1)
    env = {"DB_PASSWORD": "Sup3rS3cretDbPass", "STRIPE_KEY": "sk_live_" + "Z9" * 12}
    replicaset = dump.replicaset(
        deployment, template(container("checkout", env=env)), revision=2, replicas=1, ready=0
    )
    pod = dump.pod(
        replicaset,
        POD,
        statuses={
            "checkout": waiting(
                "CrashLoopBackOff",
                "back-off 5m0s restarting failed container",
                restarts=5,
                last=exited("Error", 1),
            )
        },
    )
    dump.log(
        pod,
        "checkout",
        [
            "connecting to postgres://checkout:Sup3rS3cretDbPass@db.shop.svc:5432/orders",
            'FATAL: password authentication failed for user "checkout"',
        ],
    )
    return dump.write()


async def test_secrets_reach_no_notice_no_model_and_no_stored_diagnosis(
    settings: Settings,
    leaky_dump: Path,
    openai_server: OpenAIServer,
    ollama_server: OllamaServer,
) -> None:
    openai_server.status = 500  # rejected: the notice carries the findings
    ollama_server.malformed = "json"
    runtime = Runtime.from_settings(settings, cluster_source=DumpSource(leaky_dump))
    await runtime.migrate()
    try:
        alert = am_alert(pod=POD, starts_at=T0.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
        alert["annotations"]["runbook"] = SECRET_ANNOTATION
        payload = AlertmanagerWebhook.model_validate(am_payload([alert]))
        async with transaction(runtime.session_factory) as session:
            await runtime.incident_ingestor.ingest(
                session, from_alertmanager(payload), actor="test"
            )
        await runtime.worker().run_until_idle()
        async with runtime.session_factory() as session:
            notices = list(await session.scalars(select(Notification)))
            records = list(await session.scalars(select(DiagnosisRecord)))
    finally:
        await runtime.dispose()
    assert records
    assert records[0].findings, "the rules found the crash"
    said = json.dumps(
        {
            "notices": [(n.title, n.text) for n in notices],
            "diagnoses": [(r.summary, r.findings, r.evidence, r.answer) for r in records],
            "model": [r.json for r in openai_server.chat_requests],
        }
    )
    # Rejected, and no playbook can run without a cluster client: one escalation notice,
    # carrying the findings.
    assert [n.kind for n in notices] == ["incident.escalated"]
    assert "Finding: DEPENDENCY_FAILURE" in notices[0].text
    for secret in (*SECRETS, "Sup3rS3cretDbPass", "sk_live_" + "Z9" * 12):
        assert secret not in said

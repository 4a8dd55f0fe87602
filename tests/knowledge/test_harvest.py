"""Harvesting knowledge from repairs, end to end through the job queue (both databases): the
model answering, timing out and rejecting; templates in both languages; redaction; retries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from awoooi.ai.settings import AISettings
from awoooi.core.db import transaction, utcnow
from awoooi.core.jobs import enqueue
from awoooi.core.models import Job
from awoooi.incidents.models import Incident
from awoooi.knowledge import service
from awoooi.knowledge.harvest import (
    ANTI_PATTERN_JOB,
    RUNBOOK_JOB,
    RepairReport,
    StepResult,
    queue_harvest,
)
from awoooi.knowledge.models import KnowledgeEntry
from awoooi.knowledge.settings import KnowledgeSettings
from awoooi.knowledge.templates import ANTI_PATTERN_SECTIONS, RUNBOOK_SECTIONS
from awoooi.notify.models import Notification, NotifyAction
from awoooi.runtime import Runtime
from tests.ai.support import nemotron, ollama
from tests.conftest import make_settings
from tests.helpers import llm_servers
from tests.helpers.llm_servers import JSONObject, OllamaServer, OpenAIServer
from tests.knowledge.conftest import person

openai_server = llm_servers.openai_server
ollama_server = llm_servers.ollama_server

HASH = "0123456789abcdef"
INCIDENT = "INC-20261128-0007"
TOKEN = "awi_" + "Zx9" * 10
DB_PASSWORD = "pw"
DB_URL = f"postgresql://u:{DB_PASSWORD}@h/db"
SECRETS = (TOKEN, f"u:{DB_PASSWORD}@")

RUNBOOK_ANSWER = (
    "\n\n".join(
        f"## {title}\nWhat the model says about {title.lower()}." for title in RUNBOOK_SECTIONS
    )
    + f"\n\nNote: the model echoed {TOKEN} here."
)
ANTI_PATTERN_ANSWER = "\n\n".join(
    f"## {title}\nWhy restarting did not help: {title.lower()}." for title in ANTI_PATTERN_SECTIONS
)

MakeRuntime = Callable[..., Awaitable[Runtime]]


def answer(request: JSONObject) -> str:
    """The runbook or the anti-pattern, whichever the system prompt asks for."""
    system = request["messages"][0]["content"]
    return ANTI_PATTERN_ANSWER if "anti-pattern" in system else RUNBOOK_ANSWER


def report(attempt: str, *, success: bool, incident: str = INCIDENT) -> RepairReport:
    steps = (
        StepResult("kubectl rollout restart deploy/checkout", True, 1200, "restarted"),
        StepResult(
            "kubectl rollout status deploy/checkout",
            success,
            30000,
            error=None if success else f"timed out; token {TOKEN} db {DB_URL}",
        ),
    )
    return RepairReport(
        attempt_id=attempt,
        incident_id=incident,
        playbook_id="restart-deployment",
        playbook_name="Restart a deployment",
        success=success,
        execution_ms=31200,
        symptoms_hash=HASH,
        steps=steps,
        error=None if success else f"rollout did not finish ({DB_URL})",
    )


@pytest.fixture
async def make_runtime(
    tmp_path: Path,
    database_url: str,
    runtime: Runtime,
    openai_server: OpenAIServer,
    ollama_server: OllamaServer,
) -> AsyncIterator[MakeRuntime]:
    """Build a migrated runtime on the test model servers (tiny deadlines to write runbooks)."""
    # `runtime` is not used itself: asking for it makes `database_url` a copy of the database
    # migrated once per worker (tests/conftest.py), so the migrate() below finds nothing to do.
    made: list[Runtime] = []

    async def make(deadline: float = 2.0, **overrides: Any) -> Runtime:
        timeouts = {"generate_runbook": deadline, "default": 10.0}
        ai = AISettings(
            providers=[
                nemotron(openai_server.base_url, timeouts=timeouts),
                ollama(ollama_server.base_url, timeouts=timeouts),
            ],
            diagnose_incidents=False,
        )
        runtime = Runtime.from_settings(
            make_settings(tmp_path / f"home{len(made)}", database_url, ai=ai, **overrides)
        )
        made.append(runtime)
        await runtime.migrate()
        return runtime

    yield make
    for runtime in made:
        await runtime.dispose()


async def add_incident(runtime: Runtime) -> None:
    now = utcnow()
    async with transaction(runtime.session_factory) as session:
        session.add(
            Incident(
                human_id=INCIDENT,
                title="Pod shop/checkout crash looping",
                severity="high",
                status="repairing",
                affected_services=["checkout"],
                namespace="shop",
                labels={"pod": "checkout-1"},
                annotations={},
                symptoms={"signal": "crashloop", "error_signature": "OOMKilled"},
                symptoms_hash=HASH,
                source="alertmanager",
                occurrences=1,
                first_seen=now,
                last_seen=now,
                created_at=now,
                updated_at=now,
            )
        )


async def harvest(runtime: Runtime, *reports: RepairReport) -> list[int]:
    async with transaction(runtime.session_factory) as session:
        job_ids = [await queue_harvest(session, item) for item in reports]
    await runtime.worker().run_until_idle()
    return job_ids


async def entry_for(runtime: Runtime, attempt: str) -> KnowledgeEntry:
    async with runtime.session_factory() as session:
        entry = await service.get_by_harvest_key(session, f"repair:{attempt}")
    assert entry is not None, attempt
    return entry


async def notifications(runtime: Runtime, kind: str) -> list[Notification]:
    async with runtime.session_factory() as session:
        query = select(Notification).where(Notification.kind == kind).order_by(Notification.id)
        return list(await session.scalars(query))


async def count_entries(runtime: Runtime) -> int:
    async with runtime.session_factory() as session:
        return int(await session.scalar(select(func.count()).select_from(KnowledgeEntry)) or 0)


async def jobs(runtime: Runtime) -> list[Job]:
    async with runtime.session_factory() as session:
        return list(await session.scalars(select(Job).order_by(Job.id)))


def assert_sections(content: str, titles: tuple[str, ...]) -> None:
    headings = [line[3:] for line in content.splitlines() if line.startswith("## ")]
    assert headings == list(titles)


async def check_anti_pattern(runtime: Runtime) -> int | None:
    async with runtime.session_factory() as session:
        found = await service.check_anti_pattern(session, HASH)
    return found.id if found else None


# --- the model answers ------------------------------------------------------------------------


async def test_model_written_runbook_and_anti_pattern(
    make_runtime: MakeRuntime, openai_server: OpenAIServer, ollama_server: OllamaServer
) -> None:
    runtime = await make_runtime()
    await add_incident(runtime)
    openai_server.answer = answer

    await harvest(runtime, report("ok-1", success=True), report("bad-1", success=False))

    runbook = await entry_for(runtime, "ok-1")
    assert (runbook.entry_type, runbook.status, runbook.source) == (
        "AUTO_RUNBOOK",
        "DRAFT",
        "AI_EXTRACTED",
    )
    assert runbook.harvest_key == "repair:ok-1"
    assert runbook.content.startswith("## Symptoms\nWhat the model says about symptoms.")
    assert_sections(runbook.content, RUNBOOK_SECTIONS)
    assert TOKEN not in runbook.content  # what the model echoes is redacted too
    assert "[REDACTED:awoooi_token]" in runbook.content
    assert runbook.title == "Pod shop/checkout crash looping: repaired by restart-deployment"
    assert runbook.related_incident_id == INCIDENT
    assert runbook.related_playbook_id == "restart-deployment"
    assert runbook.symptoms_hash == HASH
    assert runbook.services == ["checkout"]
    assert runbook.tags == ["auto-harvest", "restart-deployment"]
    assert runbook.created_by == "ai:harvest"
    assert runbook.published_at is None
    assert runbook.reviewed_by is None

    anti = await entry_for(runtime, "bad-1")
    assert (anti.entry_type, anti.status, anti.source) == (
        "ANTI_PATTERN",
        "PUBLISHED",
        "AI_EXTRACTED",
    )
    assert anti.content == ANTI_PATTERN_ANSWER
    assert anti.published_at is not None
    assert anti.title == "Pod shop/checkout crash looping: failed fix restart-deployment"
    assert await check_anti_pattern(runtime) == anti.id

    # The model saw the facts and the sections wanted, redacted, and only the first provider.
    assert len(openai_server.chat_requests) == 2
    assert ollama_server.chat_requests == []
    prompts = [request.json for request in openai_server.chat_requests]
    runbook_prompt = next(p for p in prompts if "anti-pattern" not in p["messages"][0]["content"])
    system, user = runbook_prompt["messages"]
    assert "runbook" in system["content"]
    assert "English" in system["content"]
    for title in RUNBOOK_SECTIONS:
        assert f"## {title}" in user["content"]
    assert INCIDENT in user["content"]
    assert "restart-deployment" in user["content"]
    sent = json.dumps(prompts)
    for secret in SECRETS:
        assert secret not in sent

    # One review card, one anti-pattern notice, delivered by the worker.
    (review,) = await notifications(runtime, "knowledge.review")
    assert f"entry {runbook.id}" in review.text
    # Approve / Reject carry opaque ids of server-side action records; every button also links.
    by_label = {button["label"]: button for button in review.buttons}
    async with runtime.session_factory() as session:
        for label, action in (("Approve", "knowledge.approve"), ("Reject", "knowledge.reject")):
            record = await session.get(NotifyAction, by_label[label]["action_id"])
            assert record is not None
            assert (record.action, record.target) == (action, str(runbook.id))
            assert record.notification_id == review.id
            assert record.used_at is None
    link = f"http://127.0.0.1:8080/api/v1/knowledge/{runbook.id}"
    incident_link = f"http://127.0.0.1:8080/api/v1/incidents/{runbook.related_incident_id}"
    assert {button["url"] for button in review.buttons} == {link, incident_link}
    assert f"Incident: {runbook.related_incident_id} " in review.text
    assert review.status == "sent"
    (notice,) = await notifications(runtime, "knowledge.anti_pattern")
    assert notice.severity == "high"
    assert HASH in notice.text
    assert notice.status == "sent"
    assert await notifications(runtime, "ai.rejected") == []

    # A human approves the draft: the database accepts it now that a reviewer is recorded.
    async with transaction(runtime.session_factory) as session:
        approved = await service.approve_entry(session, runbook.id, caller=person("alice"))
    assert (approved.status, approved.reviewed_by) == ("PUBLISHED", "alice")


async def test_model_timing_out_falls_back_to_the_templates(
    make_runtime: MakeRuntime, openai_server: OpenAIServer, ollama_server: OllamaServer
) -> None:
    # The generate_runbook deadline (0.2 s), not the default (10 s), bounds each call.
    runtime = await make_runtime(deadline=0.2)
    await add_incident(runtime)
    openai_server.configure(answer=answer, delay=3.0)
    ollama_server.configure(answer=RUNBOOK_ANSWER, delay=3.0)

    await harvest(runtime, report("ok-2", success=True), report("bad-2", success=False))

    runbook = await entry_for(runtime, "ok-2")
    assert (runbook.entry_type, runbook.status, runbook.source) == (
        "AUTO_RUNBOOK",
        "DRAFT",
        "AI_EXTRACTED",
    )
    assert_sections(runbook.content, RUNBOOK_SECTIONS)
    assert "What the model says" not in runbook.content
    assert "Pod shop/checkout crash looping (high)" in runbook.content
    assert "`kubectl rollout restart deploy/checkout` — ok (1200 ms)" in runbook.content
    assert "Playbook `restart-deployment` reported success after 31200 ms." in runbook.content
    assert runbook.harvest_key == "repair:ok-2"
    assert runbook.related_incident_id == INCIDENT

    anti = await entry_for(runtime, "bad-2")
    assert (anti.entry_type, anti.status) == ("ANTI_PATTERN", "PUBLISHED")
    assert anti.published_at is not None
    assert_sections(anti.content, ANTI_PATTERN_SECTIONS)
    assert "FAILED (30000 ms)" in anti.content
    assert await check_anti_pattern(runtime) == anti.id

    assert len(openai_server.chat_requests) == 2
    assert len(ollama_server.chat_requests) == 2
    assert len(await notifications(runtime, "knowledge.review")) == 1
    assert len(await notifications(runtime, "knowledge.anti_pattern")) == 1
    assert len(await notifications(runtime, "ai.rejected")) == 2  # each harvest asked once
    assert {job.status for job in await jobs(runtime)} == {"done"}


async def test_no_model_redacts_and_uses_the_templates(
    make_runtime: MakeRuntime, openai_server: OpenAIServer, ollama_server: OllamaServer
) -> None:
    runtime = await make_runtime()
    await add_incident(runtime)
    openai_server.stop()  # both providers down: connections refused
    ollama_server.stop()

    await harvest(runtime, report("ok-3", success=True), report("bad-3", success=False))

    runbook = await entry_for(runtime, "ok-3")
    assert runbook.status == "DRAFT"
    assert_sections(runbook.content, RUNBOOK_SECTIONS)
    anti = await entry_for(runtime, "bad-3")
    assert anti.status == "PUBLISHED"
    assert_sections(anti.content, ANTI_PATTERN_SECTIONS)
    assert "[REDACTED:awoooi_token]" in anti.content
    assert "postgresql://u:[REDACTED:password]@h/db" in anti.content
    assert "timed out; token" in anti.content  # the rest of the error is kept
    assert await check_anti_pattern(runtime) == anti.id

    # No secret is stored anywhere: entries, notifications, job payloads and errors.
    async with runtime.session_factory() as session:
        stored = [
            json.dumps([e.title, e.content, e.tags])
            for e in await session.scalars(select(KnowledgeEntry))
        ]
        stored += [n.title + n.text for n in await session.scalars(select(Notification))]
    stored += [json.dumps(job.payload) + (job.last_error or "") for job in await jobs(runtime)]
    assert len(stored) >= 4
    for secret in SECRETS:
        assert not [text for text in stored if secret in text], secret
    (notice,) = await notifications(runtime, "knowledge.anti_pattern")
    assert "rollout did not finish" in notice.text
    assert len(await notifications(runtime, "knowledge.review")) == 1


async def test_templates_in_traditional_chinese(
    make_runtime: MakeRuntime, openai_server: OpenAIServer, ollama_server: OllamaServer
) -> None:
    runtime = await make_runtime(knowledge=KnowledgeSettings(language="zh-TW"))
    await add_incident(runtime)
    openai_server.status = 503
    ollama_server.status = 503

    await harvest(runtime, report("ok-4", success=True), report("bad-4", success=False))

    runbook = (await entry_for(runtime, "ok-4")).content
    assert_sections(
        runbook,
        (
            "症狀",
            "根本原因",
            "執行步驟",
            "驗證",
            "注意事項",
            "影響範圍",
            "相關事件",
            "下次預防",
            "適用條件",
        ),
    )
    assert "## 根本原因\n未知" in runbook
    anti = (await entry_for(runtime, "bad-4")).content
    assert_sections(anti, ("症狀", "嘗試的修復", "失敗原因", "不適用條件", "替代方案"))
    assert "## 替代方案\n未知" in anti
    # The model would have been asked for Traditional Chinese.
    system = openai_server.chat_requests[0].json["messages"][0]["content"]
    assert "Traditional Chinese (zh-TW)" in system


async def test_retries_and_requeues_make_one_entry(
    make_runtime: MakeRuntime, openai_server: OpenAIServer
) -> None:
    runtime = await make_runtime()
    await add_incident(runtime)
    openai_server.answer = answer
    ok, bad = report("ok-5", success=True), report("bad-5", success=False)

    async with transaction(runtime.session_factory) as session:
        first = [await queue_harvest(session, ok), await queue_harvest(session, bad)]
        # The same report queued again (a replayed repair event): the same job.
        assert [await queue_harvest(session, ok), await queue_harvest(session, bad)] == first
    assert await runtime.worker().run_until_idle() >= 2
    # ... and after it ran.
    async with transaction(runtime.session_factory) as session:
        assert [await queue_harvest(session, ok), await queue_harvest(session, bad)] == first
    assert await runtime.worker().run_until_idle() == 0

    # The same job run again (a retry after a lost lease, a manual re-run): nothing new.
    async with transaction(runtime.session_factory) as session:
        await enqueue(session, RUNBOOK_JOB, ok.to_payload())
        await enqueue(session, ANTI_PATTERN_JOB, bad.to_payload())
    assert await runtime.worker().run_until_idle() == 2

    assert await count_entries(runtime) == 2
    assert len(await notifications(runtime, "knowledge.review")) == 1
    assert len(await notifications(runtime, "knowledge.anti_pattern")) == 1
    assert len(openai_server.chat_requests) == 2  # the re-runs did not ask the model again
    assert {job.status for job in await jobs(runtime)} == {"done"}
    assert (await entry_for(runtime, "ok-5")).version == 1


async def test_short_answer_and_concurrent_runs(
    make_runtime: MakeRuntime, openai_server: OpenAIServer, ollama_server: OllamaServer
) -> None:
    runtime = await make_runtime()
    await add_incident(runtime)
    # An answer too short to be a runbook: the template, without asking the next provider.
    openai_server.answer = "OK."
    await harvest(runtime, report("ok-7", success=True))
    short = await entry_for(runtime, "ok-7")
    assert_sections(short.content, RUNBOOK_SECTIONS)
    assert "OK." not in short.content
    assert ollama_server.chat_requests == []

    # Two workers run two jobs for the same attempt at the same time: one entry, one card.
    openai_server.answer = answer
    item = report("ok-8", success=True)
    async with transaction(runtime.session_factory) as session:
        await enqueue(session, RUNBOOK_JOB, item.to_payload())
        await enqueue(session, RUNBOOK_JOB, item.to_payload())
    await asyncio.gather(runtime.worker("w1").run_once(), runtime.worker("w2").run_once())
    await runtime.worker().run_until_idle()
    async with runtime.session_factory() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(KnowledgeEntry)
            .where(KnowledgeEntry.harvest_key == "repair:ok-8")
        )
    assert count == 1
    cards = await notifications(runtime, "knowledge.review")
    assert len(cards) == 2  # ok-7 and ok-8
    entry = await entry_for(runtime, "ok-8")
    assert sum(f"entry {entry.id}" in card.text for card in cards) == 1


async def test_unknown_incident_still_harvests(
    make_runtime: MakeRuntime, openai_server: OpenAIServer, ollama_server: OllamaServer
) -> None:
    runtime = await make_runtime()
    openai_server.stop()
    ollama_server.stop()
    missing = "INC-20990101-0042"

    await harvest(
        runtime,
        report("ok-6", success=True, incident=missing),
        report("bad-6", success=False, incident=missing),
    )

    runbook = await entry_for(runtime, "ok-6")
    assert runbook.title == f"{missing}: repaired by restart-deployment"
    assert runbook.services == []
    assert runbook.related_incident_id == missing
    assert f"## Symptoms\nIncident {missing}; symptoms hash `{HASH}`." in runbook.content
    assert "## Impact scope\nunknown" in runbook.content
    assert_sections(runbook.content, RUNBOOK_SECTIONS)
    anti = await entry_for(runtime, "bad-6")
    assert anti.title == f"{missing}: failed fix restart-deployment"
    assert await check_anti_pattern(runtime) == anti.id
    assert len(await notifications(runtime, "knowledge.review")) == 1
    assert len(await notifications(runtime, "knowledge.anti_pattern")) == 1


def test_report_payload_round_trip() -> None:
    item = report("rt-1", success=False)
    # Through JSON, as the job table keeps it.
    assert RepairReport.from_payload(json.loads(json.dumps(item.to_payload()))) == item

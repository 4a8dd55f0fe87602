"""The call ledger on both databases, its API, provider states and the LLM metrics."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from awoooi.ai.intents import Intent
from awoooi.ai.ledger import DatabaseLedger
from awoooi.ai.models import LlmCall
from awoooi.ai.router import Router
from awoooi.notify.models import Notification
from awoooi.runtime import Runtime
from awoooi.settings import Settings
from tests.ai.support import NEMOTRON_MODEL, OLLAMA_MODEL, seed
from tests.conftest import make_settings
from tests.helpers import llm_servers
from tests.helpers.llm_servers import OllamaServer, OpenAIServer

openai_server = llm_servers.openai_server
ollama_server = llm_servers.ollama_server

PROMPT = "PROMPT-MARKER-5d1e why does checkout-7f9 restart"
NEMOTRON_ANSWER = "ANSWER-MARKER-nemotron: the liveness probe is too strict"
OLLAMA_ANSWER = "ANSWER-MARKER-ollama: memory limit too low"
ROW_COLUMNS = {
    "id",
    "at",
    "intent",
    "provider",
    "model",
    "local",
    "tokens_in",
    "tokens_out",
    "cost_usd",
    "latency_ms",
    "outcome",
    "error_class",
}


@pytest.fixture
def settings(
    tmp_path: Path, database_url: str, openai_server: OpenAIServer, ollama_server: OllamaServer
) -> Settings:
    """Settings whose providers are the test servers; a breaker opens at the first failure."""
    ai = seed(openai_server, ollama_server, breaker_failures=1, breaker_cooldown_seconds=3600)
    return make_settings(tmp_path / "home", database_url, ai=ai)


def metric_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def delta(before: dict[Any, float], after: dict[Any, float], name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def run_calls(runtime: Runtime, openai: OpenAIServer, oll: OllamaServer) -> None:
    """chat ok; nemotron fails; nemotron skipped; both out -> rejected."""
    openai.configure(answer=NEMOTRON_ANSWER, prompt_tokens=100, completion_tokens=20)
    oll.configure(answer=OLLAMA_ANSWER, prompt_tokens=40, completion_tokens=10)
    first = await runtime.ai.chat(Intent.CHAT, PROMPT)
    assert first.provider == "nemotron"
    openai.status = 500
    second = await runtime.ai.chat(Intent.DIAGNOSE, PROMPT, task_type="diagnose")
    assert second.provider == "ollama"
    third = await runtime.ai.chat(Intent.DIAGNOSE, PROMPT, task_type="diagnose")
    assert third.provider == "ollama"
    oll.status = 500
    fourth = await runtime.ai.chat(Intent.DIAGNOSE, PROMPT, task_type="diagnose")
    assert fourth.rejected


async def test_one_row_per_attempt_api_filters_daily_totals_and_metrics(
    runtime: Runtime,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    openai_server: OpenAIServer,
    ollama_server: OllamaServer,
) -> None:
    before = metric_samples((await client.get("/metrics")).text)

    await run_calls(runtime, openai_server, ollama_server)

    response = await client.get("/api/v1/ai/calls", headers=admin_headers)
    assert response.status_code == 200, response.text
    rows = response.json()
    assert all(set(row) == ROW_COLUMNS for row in rows)
    oldest_first = rows[::-1]
    assert [
        (r["intent"], r["provider"], r["model"], r["outcome"], r["error_class"])
        for r in oldest_first
    ] == [
        ("chat", "nemotron", NEMOTRON_MODEL, "success", None),
        ("diagnose", "nemotron", NEMOTRON_MODEL, "error", "http_500"),
        ("diagnose", "ollama", OLLAMA_MODEL, "success", None),
        ("diagnose", "nemotron", NEMOTRON_MODEL, "skipped", "circuit_open"),
        ("diagnose", "ollama", OLLAMA_MODEL, "success", None),
        ("diagnose", "nemotron", NEMOTRON_MODEL, "skipped", "circuit_open"),
        ("diagnose", "ollama", OLLAMA_MODEL, "error", "http_500"),
        ("diagnose", "-", "-", "rejected", "rejected"),
    ]
    assert [(r["tokens_in"], r["tokens_out"]) for r in oldest_first] == [
        (100, 20),
        (0, 0),
        (40, 10),
        (0, 0),
        (40, 10),
        (0, 0),
        (0, 0),
        (0, 0),
    ]
    assert oldest_first[0]["cost_usd"] == pytest.approx((100 * 0.5 + 20 * 1.5) / 1000)
    assert all(r["cost_usd"] == 0 for r in oldest_first[1:])
    for row in oldest_first:
        assert row["local"] is True
        if row["outcome"] in {"success", "error"}:
            assert row["latency_ms"] > 0
        else:
            assert row["latency_ms"] == 0
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)

    # The ledger never holds the prompt or the answer: not in the API, not in the table.
    dumped = json.dumps(rows)
    for marker in ("PROMPT-MARKER", "ANSWER-MARKER", "checkout-7f9"):
        assert marker not in dumped
    assert set(LlmCall.__table__.columns.keys()) == ROW_COLUMNS
    async with runtime.session_factory() as session:
        stored = list(await session.scalars(select(LlmCall)))
    assert len(stored) == 8
    for call in stored:
        for column in ROW_COLUMNS:
            value = str(getattr(call, column))
            assert "MARKER" not in value
            assert "checkout" not in value

    async def ids(**params: Any) -> list[int]:
        found = await client.get("/api/v1/ai/calls", headers=admin_headers, params=params)
        assert found.status_code == 200, found.text
        return [row["id"] for row in found.json()]

    by_id = [r["id"] for r in oldest_first]
    assert await ids(provider="nemotron") == [by_id[5], by_id[3], by_id[1], by_id[0]]
    assert await ids(provider="ollama", intent="diagnose") == [by_id[6], by_id[4], by_id[2]]
    assert await ids(intent="chat") == [by_id[0]]
    assert await ids(intent="summarize") == []
    assert await ids(limit=2) == [by_id[7], by_id[6]]
    assert await ids(before_id=by_id[2]) == [by_id[1], by_id[0]]
    assert await ids(before_id=by_id[2], limit=1) == [by_id[1]]
    bad = await client.get("/api/v1/ai/calls", headers=admin_headers, params={"intent": "poem"})
    assert bad.status_code == 422
    assert (await client.get("/api/v1/ai/calls")).status_code == 401

    # Daily totals per provider and UTC day (skipped attempts are not calls; a rejected request
    # is no call either, and no success: it is counted as `rejected` on the `-` row).
    columns = ("calls", "failures", "rejected", "tokens_in", "tokens_out", "cost_usd")
    expected: dict[tuple[str, str], dict[str, float]] = defaultdict(
        lambda: dict.fromkeys(columns, 0)
    )
    for row in oldest_first:
        if row["outcome"] == "skipped":
            continue
        total = expected[(row["at"][:10], row["provider"])]
        total["calls"] += row["outcome"] != "rejected"
        total["failures"] += row["outcome"] == "error"
        total["rejected"] += row["outcome"] == "rejected"
        total["tokens_in"] += row["tokens_in"]
        total["tokens_out"] += row["tokens_out"]
        total["cost_usd"] += row["cost_usd"]
    daily = await client.get("/api/v1/ai/calls/daily", headers=admin_headers)
    assert daily.status_code == 200, daily.text
    got = {(d["day"], d["provider"]): {k: d[k] for k in columns} for d in daily.json()}
    assert set(got) == set(expected)
    for key, total in expected.items():
        assert got[key] == pytest.approx(total), key
    days = [d["day"] for d in daily.json()]
    assert days == sorted(days, reverse=True)
    if len({day for day, _ in expected}) == 1:  # not straddling midnight UTC
        (day,) = {day for day, _ in expected}
        assert got[(day, "nemotron")] == pytest.approx(
            {
                "calls": 2,
                "failures": 1,
                "rejected": 0,
                "tokens_in": 100,
                "tokens_out": 20,
                "cost_usd": 0.08,
            }
        )
        assert got[(day, "ollama")] == {
            "calls": 3,
            "failures": 1,
            "rejected": 0,
            "tokens_in": 80,
            "tokens_out": 20,
            "cost_usd": 0.0,
        }
        # The rejection: not a call with no failure (issue 18), a rejected request.
        assert got[(day, "-")] == {
            "calls": 0,
            "failures": 0,
            "rejected": 1,
            "tokens_in": 0,
            "tokens_out": 0,
            "cost_usd": 0.0,
        }
    week = await client.get("/api/v1/ai/calls/daily", headers=admin_headers, params={"days": 1})
    assert {(d["day"], d["provider"]) for d in week.json()} == set(expected)
    no_days = await client.get("/api/v1/ai/calls/daily", headers=admin_headers, params={"days": 0})
    assert no_days.status_code == 422

    # Provider states: both local, both breakers open after their failure.
    assert (await client.get("/api/v1/ai/providers")).status_code == 401
    assert (await client.get("/api/v1/ai/calls/daily")).status_code == 401
    providers = await client.get("/api/v1/ai/providers", headers=admin_headers)
    assert providers.status_code == 200, providers.text
    assert providers.json() == [
        {
            "name": "nemotron",
            "kind": "openai",
            "model": NEMOTRON_MODEL,
            "base_url": openai_server.base_url,
            "local": True,
            "breaker": "open",
        },
        {
            "name": "ollama",
            "kind": "ollama",
            "model": OLLAMA_MODEL,
            "base_url": ollama_server.base_url,
            "local": True,
            "breaker": "open",
        },
    ]

    # The rejection became a notification naming each provider's reason, not the prompt.
    async with runtime.session_factory() as session:
        notices = list(
            await session.scalars(select(Notification).where(Notification.kind == "ai.rejected"))
        )
    assert [n.title for n in notices] == ["diagnose rejected: no local model available"]
    assert "nemotron: circuit open" in notices[0].text
    assert "ollama: HTTP 500" in notices[0].text
    assert "MARKER" not in notices[0].text

    # Prometheus series.
    metrics = await client.get("/metrics")
    text = metrics.text
    for name in (
        "awoooi_llm_calls_total",
        "awoooi_llm_tokens_total",
        "awoooi_llm_cost_usd_total",
        "awoooi_llm_latency_seconds",
    ):
        assert f"# TYPE {name.removesuffix('_total')}" in text, name
    after = metric_samples(text)
    calls = "awoooi_llm_calls_total"
    assert delta(before, after, calls, intent="chat", provider="nemotron", outcome="success") == 1
    assert delta(before, after, calls, intent="diagnose", provider="nemotron", outcome="error") == 1
    assert (
        delta(before, after, calls, intent="diagnose", provider="nemotron", outcome="skipped") == 2
    )
    assert delta(before, after, calls, intent="diagnose", provider="ollama", outcome="success") == 2
    assert delta(before, after, calls, intent="diagnose", provider="ollama", outcome="error") == 1
    assert delta(before, after, calls, intent="diagnose", provider="-", outcome="rejected") == 1
    tokens = "awoooi_llm_tokens_total"
    assert delta(before, after, tokens, provider="nemotron", direction="input") == 100
    assert delta(before, after, tokens, provider="nemotron", direction="output") == 20
    assert delta(before, after, tokens, provider="ollama", direction="input") == 80
    assert delta(before, after, tokens, provider="ollama", direction="output") == 20
    cost = "awoooi_llm_cost_usd_total"
    assert delta(before, after, cost, provider="nemotron") == pytest.approx(0.08)
    latency = "awoooi_llm_latency_seconds_count"
    assert delta(before, after, latency, provider="nemotron") == 2
    assert delta(before, after, latency, provider="ollama") == 3


async def test_ledger_survives_storage_trouble(
    tmp_path: Path, openai_server: OpenAIServer, ollama_server: OllamaServer
) -> None:
    # Sessions that cannot connect (the directory does not exist): the call is still answered.
    broken = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'awoooi.db'}")
    ledger = DatabaseLedger(async_sessionmaker(broken, expire_on_commit=False))
    router = Router(seed(openai_server, ollama_server), ledger=ledger)
    try:
        result = await router.chat(Intent.DIAGNOSE, PROMPT)
    finally:
        await router.aclose()
        await broken.dispose()
    assert result.provider == "nemotron"
    assert result.text == llm_servers.DEFAULT_ANSWER

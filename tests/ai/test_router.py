"""The router against real HTTP test servers: fallbacks, deadlines, redaction, breakers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from awoooi.ai.breaker import BreakerState
from awoooi.ai.intents import Intent
from awoooi.ai.providers.base import Message
from awoooi.ai.providers.openai_compat import OpenAICompatBackend
from awoooi.ai.router import Attempt, RejectionSubject, Router, build_backend, rejection_text
from awoooi.ai.settings import AISettings, ProviderConfig
from tests.ai.support import NEMOTRON_MODEL, OLLAMA_MODEL, nemotron, ollama, seed
from tests.helpers import llm_servers
from tests.helpers.llm_servers import OllamaServer, OpenAIServer

openai_server = llm_servers.openai_server
ollama_server = llm_servers.ollama_server
refused_url = llm_servers.refused_url

PROMPT = "PROMPT-MARKER-7f3a: pod web-0 in namespace shop restarts every minute"
SECRET_TOKEN = "awi_" + "Zx9" * 10
SECRET_PROMPT = (
    f"use token {SECRET_TOKEN} and postgresql://app:hunter2pass@db.shop:5432/app "
    "with header Authorization: Bearer sk-abcdefghijklmnopqrstuv and password=Tr0ub4dor-3x"
)
SECRETS = (SECRET_TOKEN, "hunter2pass", "sk-abcdefghijklmnopqrstuv", "Tr0ub4dor-3x")


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Rejections:
    """A rejection hook that remembers what it was told."""

    def __init__(self) -> None:
        self.calls: list[tuple[Intent, tuple[Attempt, ...]]] = []
        self.subjects: list[RejectionSubject | None] = []

    async def __call__(
        self, intent: Intent, attempts: tuple[Attempt, ...], subject: RejectionSubject | None
    ) -> None:
        self.calls.append((intent, attempts))
        self.subjects.append(subject)


RouterFactory = Callable[..., Router]


@pytest.fixture
async def make_router() -> AsyncIterator[RouterFactory]:
    """Build routers; every one is closed after the test."""
    routers: list[Router] = []

    def make(settings: AISettings, **kwargs: Any) -> Router:
        router = Router(settings, **kwargs)
        routers.append(router)
        return router

    yield make
    for router in routers:
        await router.aclose()


def user_text(request: llm_servers.RecordedRequest) -> str:
    return json.dumps(request.json["messages"])


# --- answers and fallbacks ----------------------------------------------------------------------


async def test_nemotron_answers(
    openai_server: OpenAIServer, ollama_server: OllamaServer, make_router: RouterFactory
) -> None:
    openai_server.configure(answer="Disk full on node-3.", prompt_tokens=120, completion_tokens=30)
    router = make_router(seed(openai_server, ollama_server))

    result = await router.chat("diagnose", PROMPT, system="be brief", task_type="diagnose")

    assert result.success
    assert not result.rejected
    assert result.error is None
    assert result.text == "Disk full on node-3."
    assert result.provider == "nemotron"
    assert result.total_tokens == 150
    assert result.cost_usd == pytest.approx((120 * 0.5 + 30 * 1.5) / 1000)
    assert result.latency_ms > 0
    assert [(a.provider, a.outcome) for a in result.attempts] == [("nemotron", "success")]
    assert ollama_server.chat_requests == []
    body = openai_server.last_request.json
    assert body["model"] == NEMOTRON_MODEL
    assert body["stream"] is False
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": PROMPT},
    ]


async def test_slow_nemotron_falls_back_to_ollama(
    openai_server: OpenAIServer, ollama_server: OllamaServer, make_router: RouterFactory
) -> None:
    openai_server.delay = 5.0
    ollama_server.configure(answer="OOMKilled; raise the limit.", completion_tokens=5)
    router = make_router(seed(openai_server, ollama_server))

    result = await router.chat(Intent.DIAGNOSE, PROMPT, task_type="diagnose")

    assert result.success
    assert result.provider == "ollama"
    assert result.text == "OOMKilled; raise the limit."
    assert result.cost_usd == 0.0
    assert result.total_tokens == len(PROMPT.split()) + 5  # Ollama's prompt_eval + eval counts
    first, second = result.attempts
    assert (first.provider, first.outcome, first.error_class) == ("nemotron", "error", "timeout")
    assert (second.provider, second.outcome) == ("ollama", "success")
    assert len(openai_server.chat_requests) == 1
    request = ollama_server.last_request
    assert request.path == "/api/chat"
    assert request.json["stream"] is False
    assert request.json["model"] == OLLAMA_MODEL
    assert request.json["messages"] == [{"role": "user", "content": PROMPT}]


async def test_trickling_answer_is_cut_by_the_whole_call_deadline(
    openai_server: OpenAIServer, ollama_server: OllamaServer, make_router: RouterFactory
) -> None:
    # Headers at once, then one byte every 20 ms: no socket read ever times out, so only a
    # deadline on the whole call can stop it (the full body would take many seconds).
    openai_server.configure(drip=0.02, drip_bytes=1)
    router = make_router(seed(openai_server, ollama_server))

    result = await router.chat(Intent.DIAGNOSE, PROMPT, task_type="diagnose")

    assert result.provider == "ollama"
    nemotron_attempt = result.attempts[0]
    assert nemotron_attempt.error_class == "timeout"
    assert nemotron_attempt.reason == "no answer within 0.5s"
    assert len(openai_server.chat_requests) == 1


@pytest.mark.parametrize(
    ("fault", "error_class"),
    [
        ({"status": 500}, "http_500"),
        ({"status": 503}, "http_503"),
        ({"status": 429}, "http_429"),
        ({"malformed": "json"}, "malformed"),
        ({"malformed": "truncated"}, "transport"),
        ({"answer": ""}, "empty"),
        ({"answer": "   "}, "empty"),
    ],
)
async def test_failing_nemotron_falls_back(
    openai_server: OpenAIServer,
    ollama_server: OllamaServer,
    make_router: RouterFactory,
    fault: dict[str, Any],
    error_class: str,
) -> None:
    openai_server.configure(**fault)
    router = make_router(seed(openai_server, ollama_server))

    result = await router.chat(Intent.DIAGNOSE, PROMPT)

    assert result.success
    assert result.provider == "ollama"
    assert result.text == llm_servers.DEFAULT_ANSWER
    assert [(a.provider, a.outcome, a.error_class) for a in result.attempts] == [
        ("nemotron", "error", error_class),
        ("ollama", "success", None),
    ]


async def test_refused_connection_falls_back(
    refused_url: str, ollama_server: OllamaServer, make_router: RouterFactory
) -> None:
    settings = AISettings(providers=[nemotron(refused_url + "/v1"), ollama(ollama_server.base_url)])
    router = make_router(settings)

    result = await router.chat(Intent.DIAGNOSE, PROMPT)

    assert result.provider == "ollama"
    assert result.attempts[0].error_class == "connection"


async def test_both_down_is_a_rejection_without_the_prompt(
    refused_url: str, openai_server: OpenAIServer, make_router: RouterFactory
) -> None:
    openai_server.status = 500
    settings = AISettings(
        providers=[nemotron(openai_server.base_url), ollama(refused_url)],
    )
    hook = Rejections()
    router = make_router(settings, on_reject=hook)

    result = await router.chat(Intent.DIAGNOSE, PROMPT, system="SYSTEM-MARKER-91c2")

    assert result.rejected
    assert not result.success
    assert result.text == ""
    assert result.provider is None
    assert result.total_tokens == 0
    assert result.error is not None
    assert result.error.startswith("diagnose rejected: no local model available")
    assert "nemotron: HTTP 500" in result.error
    assert "ollama: cannot connect" in result.error
    assert [(a.provider, a.error_class) for a in result.attempts] == [
        ("nemotron", "http_500"),
        ("ollama", "connection"),
    ]
    assert hook.calls == [(Intent.DIAGNOSE, result.attempts)]
    assert hook.subjects == [None]
    title, body = rejection_text(Intent.DIAGNOSE, result.attempts)
    assert title == "diagnose rejected: no local model available"
    assert "- nemotron: HTTP 500" in body
    assert "- ollama: cannot connect" in body
    for text in (result.error, title, body):
        assert "PROMPT-MARKER" not in text
        assert "SYSTEM-MARKER" not in text
        assert "web-0" not in text


async def test_the_rejection_names_what_the_request_was_about(
    refused_url: str, make_router: RouterFactory
) -> None:
    hook = Rejections()
    router = make_router(AISettings(providers=[ollama(refused_url)]), on_reject=hook)
    about = RejectionSubject("INC-20261206-0001 web crash loop", ("OOM_KILLED: 512Mi",))
    result = await router.chat(Intent.DIAGNOSE, PROMPT, subject=about)
    assert result.rejected
    assert hook.subjects == [about]


async def test_rejection_hook_failure_still_returns_the_rejection(
    refused_url: str, make_router: RouterFactory
) -> None:
    async def broken(intent: Intent, attempts: tuple[Attempt, ...], subject: object) -> None:
        raise RuntimeError("notification store down")

    router = make_router(AISettings(providers=[ollama(refused_url)]), on_reject=broken)
    result = await router.chat(Intent.CHAT, PROMPT)
    assert result.rejected
    assert "ollama: cannot connect" in (result.error or "")


async def test_empty_chain_rejects_without_any_request(
    openai_server: OpenAIServer, ollama_server: OllamaServer, make_router: RouterFactory
) -> None:
    hook = Rejections()
    router = make_router(
        seed(openai_server, ollama_server, chains={"interpret_drift": []}), on_reject=hook
    )
    result = await router.chat(Intent.INTERPRET_DRIFT, PROMPT)
    assert result.rejected
    assert result.attempts == ()
    assert hook.calls == [(Intent.INTERPRET_DRIFT, ())]
    assert openai_server.requests == ollama_server.requests == []
    title, body = rejection_text(Intent.INTERPRET_DRIFT, ())
    assert title == "interpret drift rejected: no local model available"
    assert "(chain is empty)" in body


async def test_a_crashing_backend_counts_as_a_failure(
    openai_server: OpenAIServer, ollama_server: OllamaServer, make_router: RouterFactory
) -> None:
    class Crashing:
        async def complete(self, messages: list[Message]) -> Any:
            raise ZeroDivisionError

        async def probe(self) -> str:
            return "ok"

        async def aclose(self) -> None:
            return None

    settings = seed(openai_server, ollama_server)
    backends = {
        "nemotron": Crashing(),
        "ollama": build_backend(settings.provider("ollama"), local=True),
    }
    router = make_router(settings, backends=backends)
    result = await router.chat(Intent.DIAGNOSE, PROMPT)
    assert result.provider == "ollama"
    assert result.attempts[0].error_class == "unexpected"
    assert result.attempts[0].reason == "ZeroDivisionError"


async def test_long_prompts_are_cut(
    openai_server: OpenAIServer, ollama_server: OllamaServer, make_router: RouterFactory
) -> None:
    router = make_router(seed(openai_server, ollama_server, max_prompt_chars=1000))
    await router.chat(Intent.DIAGNOSE, "x" * 5000)
    assert openai_server.last_request.json["messages"][-1]["content"] == "x" * 1000


# --- task types pick the deadline ---------------------------------------------------------------


async def test_task_type_picks_the_deadline(
    openai_server: OpenAIServer, ollama_server: OllamaServer, make_router: RouterFactory
) -> None:
    settings = AISettings(
        providers=[
            nemotron(openai_server.base_url, timeouts={"diagnose": 3.0, "default": 0.2}),
            ollama(ollama_server.base_url),
        ]
    )
    router = make_router(settings)
    openai_server.delay = 0.7

    short = await router.chat(Intent.DIAGNOSE, PROMPT, task_type="default")
    assert short.provider == "ollama"
    assert short.attempts[0].error_class == "timeout"

    long = await router.chat(Intent.DIAGNOSE, PROMPT, task_type="diagnose")
    assert long.provider == "nemotron"

    by_intent = await router.chat(Intent.DIAGNOSE, PROMPT)  # no task type: the intent's name
    assert by_intent.provider == "nemotron"

    unknown = await router.chat(Intent.CHAT, PROMPT, task_type="no-such-task")  # -> default
    assert unknown.provider == "ollama"
    assert unknown.attempts[0].error_class == "timeout"


# --- cloud providers get redacted prompts, local ones the prompt as is --------------------------


async def test_cloud_ollama_model_gets_a_redacted_prompt(
    openai_server: OpenAIServer, ollama_server: OllamaServer, make_router: RouterFactory
) -> None:
    cloudy = ProviderConfig(
        name="cloudy", kind="ollama", base_url=ollama_server.base_url, model="gpt-oss:120b-cloud"
    )
    settings = AISettings(
        providers=[nemotron(openai_server.base_url), cloudy],
        chains={"chat": ["cloudy", "nemotron"]},
    )
    assert not settings.is_local("cloudy")
    router = make_router(settings)

    answered = await router.chat(Intent.CHAT, SECRET_PROMPT, system=f"ops key {SECRET_TOKEN}")
    assert answered.provider == "cloudy"
    sent = user_text(ollama_server.last_request)
    for secret in SECRETS:
        assert secret not in sent
    assert "[REDACTED" in sent
    assert "postgresql://app:" in sent  # the rest of the prompt is kept

    ollama_server.status = 500
    fallback = await router.chat(Intent.CHAT, SECRET_PROMPT, system=f"ops key {SECRET_TOKEN}")
    assert fallback.provider == "nemotron"
    assert openai_server.last_request.json["messages"] == [
        {"role": "system", "content": f"ops key {SECRET_TOKEN}"},
        {"role": "user", "content": SECRET_PROMPT},
    ]


async def test_cloud_openai_provider_gets_a_redacted_prompt_and_never_a_local_only_intent(
    ollama_server: OllamaServer, make_router: RouterFactory
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={
                "choices": [{"message": {"role": "assistant", "content": "cloud says hi"}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 3},
            },
        )

    gpt = ProviderConfig(
        name="gpt",
        kind="openai",
        base_url="https://api.openai.com/v1",
        model="gpt-4o",
        price_per_1k_input=2.5,
        price_per_1k_output=10.0,
    )
    local = ollama(ollama_server.base_url)
    settings = AISettings(providers=[gpt, local])
    assert not settings.is_local("gpt")
    assert [p.name for p in settings.chain(Intent.CHAT)] == ["gpt", "ollama"]
    assert [p.name for p in settings.chain(Intent.DIAGNOSE)] == ["ollama"]
    client = httpx.AsyncClient(base_url=gpt.base_url, transport=httpx.MockTransport(handler))
    backends = {"gpt": OpenAICompatBackend(gpt, client), "ollama": build_backend(local, local=True)}
    router = make_router(settings, backends=backends)

    result = await router.chat(Intent.CHAT, SECRET_PROMPT)
    assert result.provider == "gpt"
    assert result.cost_usd == pytest.approx((10 * 2.5 + 3 * 10.0) / 1000)
    assert len(seen) == 1
    assert seen[0].url.host == "api.openai.com"
    body = seen[0].content.decode()
    for secret in SECRETS:
        assert secret not in body
    assert "[REDACTED" in body

    ollama_server.status = 500
    rejected = await router.chat(Intent.DIAGNOSE, SECRET_PROMPT)
    assert rejected.rejected
    assert len(seen) == 1  # the cloud provider never saw the local-only intent
    assert SECRET_TOKEN in user_text(ollama_server.last_request)  # local: unchanged


# --- circuit breaker ----------------------------------------------------------------------------


async def breaker_of(router: Router, name: str) -> BreakerState:
    return next(p.breaker for p in await router.providers() if p.name == name)


async def test_breaker_opens_skips_then_lets_one_probe_through(
    openai_server: OpenAIServer, ollama_server: OllamaServer, make_router: RouterFactory
) -> None:
    clock = FakeClock()
    settings = seed(openai_server, ollama_server, breaker_failures=2, breaker_cooldown_seconds=30)
    router = make_router(settings, clock=clock)
    openai_server.status = 500

    for _ in range(2):
        result = await router.chat(Intent.DIAGNOSE, PROMPT)
        assert result.provider == "ollama"
    assert len(openai_server.chat_requests) == 2
    assert await breaker_of(router, "nemotron") is BreakerState.OPEN
    assert await breaker_of(router, "ollama") is BreakerState.CLOSED

    skipped = await router.chat(Intent.DIAGNOSE, PROMPT)
    assert skipped.provider == "ollama"
    assert skipped.attempts[0] == Attempt("nemotron", "skipped", "circuit_open", "circuit open")
    clock.advance(29.9)
    await router.chat(Intent.DIAGNOSE, PROMPT)
    assert len(openai_server.chat_requests) == 2  # the server saw nothing while open

    clock.advance(0.1)
    assert await breaker_of(router, "nemotron") is BreakerState.HALF_OPEN
    openai_server.configure(status=200, delay=0.15, answer="recovered")
    first, second = await asyncio.gather(
        router.chat(Intent.DIAGNOSE, PROMPT), router.chat(Intent.DIAGNOSE, PROMPT)
    )
    assert len(openai_server.chat_requests) == 3  # exactly one probe
    assert first.provider == "nemotron"
    assert first.text == "recovered"
    assert second.provider == "ollama"
    assert second.attempts[0].error_class == "circuit_open"
    assert await breaker_of(router, "nemotron") is BreakerState.CLOSED

    openai_server.delay = 0
    again = await router.chat(Intent.DIAGNOSE, PROMPT)
    assert again.provider == "nemotron"
    assert len(openai_server.chat_requests) == 4


async def test_failed_probe_reopens_the_breaker(
    openai_server: OpenAIServer, ollama_server: OllamaServer, make_router: RouterFactory
) -> None:
    clock = FakeClock()
    settings = seed(openai_server, ollama_server, breaker_failures=1, breaker_cooldown_seconds=10)
    router = make_router(settings, clock=clock)
    openai_server.status = 503

    await router.chat(Intent.DIAGNOSE, PROMPT)
    assert await breaker_of(router, "nemotron") is BreakerState.OPEN
    clock.advance(10)
    probe = await router.chat(Intent.DIAGNOSE, PROMPT)  # the probe fails
    assert probe.attempts[0].error_class == "http_503"
    assert len(openai_server.chat_requests) == 2
    assert await breaker_of(router, "nemotron") is BreakerState.OPEN
    await router.chat(Intent.DIAGNOSE, PROMPT)
    assert len(openai_server.chat_requests) == 2
    clock.advance(10)
    openai_server.status = 200
    assert (await router.chat(Intent.DIAGNOSE, PROMPT)).provider == "nemotron"
    assert await breaker_of(router, "nemotron") is BreakerState.CLOSED


async def test_success_resets_the_failure_count(
    openai_server: OpenAIServer, ollama_server: OllamaServer, make_router: RouterFactory
) -> None:
    settings = seed(openai_server, ollama_server, breaker_failures=2)
    router = make_router(settings, clock=FakeClock())
    for status in (500, 200, 500, 200, 500):
        openai_server.status = status
        await router.chat(Intent.DIAGNOSE, PROMPT)
    assert await breaker_of(router, "nemotron") is BreakerState.CLOSED
    assert len(openai_server.chat_requests) == 5


async def test_all_breakers_open_is_a_rejection(
    openai_server: OpenAIServer, ollama_server: OllamaServer, make_router: RouterFactory
) -> None:
    hook = Rejections()
    settings = seed(openai_server, ollama_server, breaker_failures=1)
    router = make_router(settings, clock=FakeClock(), on_reject=hook)
    openai_server.status = ollama_server.status = 500
    await router.chat(Intent.DIAGNOSE, PROMPT)
    openai_server.clear_requests()
    ollama_server.clear_requests()

    result = await router.chat(Intent.DIAGNOSE, PROMPT)
    assert result.rejected
    assert [a.error_class for a in result.attempts] == ["circuit_open", "circuit_open"]
    assert "nemotron: circuit open" in (result.error or "")
    assert openai_server.requests == ollama_server.requests == []
    assert len(hook.calls) == 2


# --- providers and probes -----------------------------------------------------------------------


async def test_providers_and_probes(
    openai_server: OpenAIServer,
    ollama_server: OllamaServer,
    refused_url: str,
    make_router: RouterFactory,
) -> None:
    openai_server.models = [NEMOTRON_MODEL, "other"]
    ollama_server.models = ["mistral:7b"]
    down = ProviderConfig(name="down", kind="ollama", base_url=refused_url, model=OLLAMA_MODEL)
    settings = AISettings(providers=[*seed(openai_server, ollama_server).providers, down])
    router = make_router(settings)

    statuses = await router.providers()
    assert [(p.name, p.kind, p.model, p.local, p.breaker) for p in statuses] == [
        ("nemotron", "openai", NEMOTRON_MODEL, True, BreakerState.CLOSED),
        ("ollama", "ollama", OLLAMA_MODEL, True, BreakerState.CLOSED),
        ("down", "ollama", OLLAMA_MODEL, True, BreakerState.CLOSED),
    ]
    ok, detail = await router.probe("nemotron")
    assert ok, detail
    assert NEMOTRON_MODEL in detail
    assert openai_server.last_request.path == "/v1/models"
    ok, detail = await router.probe("ollama")
    assert not ok
    assert detail.startswith("model_missing")
    assert ollama_server.last_request.path == "/api/tags"
    ollama_server.models = [OLLAMA_MODEL]
    assert (await router.probe("ollama"))[0]
    ok, detail = await router.probe("down")
    assert not ok
    assert detail.startswith("connection")


async def test_cancelled_probe_lets_the_next_call_probe(
    openai_server: OpenAIServer, ollama_server: OllamaServer, make_router: RouterFactory
) -> None:
    clock = FakeClock()
    settings = seed(openai_server, ollama_server, breaker_failures=1, breaker_cooldown_seconds=5)
    router = make_router(settings, clock=clock)
    openai_server.status = 500
    await router.chat(Intent.DIAGNOSE, PROMPT)
    clock.advance(5)
    openai_server.configure(status=200, delay=5.0)

    probe = asyncio.create_task(router.chat(Intent.DIAGNOSE, PROMPT))
    for _ in range(500):  # until the probe reached the server (bounded, never asserted)
        if len(openai_server.chat_requests) == 2:
            break
        await asyncio.sleep(0.01)
    assert len(openai_server.chat_requests) == 2
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe

    openai_server.delay = 0
    result = await router.chat(Intent.DIAGNOSE, PROMPT)
    assert result.provider == "nemotron"  # not stuck "probing" after the cancellation
    assert await breaker_of(router, "nemotron") is BreakerState.CLOSED


# --- HTTP client details ------------------------------------------------------------------------


async def test_api_key_comes_from_the_named_environment_variable(
    openai_server: OpenAIServer,
    ollama_server: OllamaServer,
    make_router: RouterFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    openai_server.api_key = "nim-test-key-0123456789"
    monkeypatch.setenv("NIM_TEST_API_KEY", "nim-test-key-0123456789")
    keyed = AISettings(providers=[nemotron(openai_server.base_url, api_key_env="NIM_TEST_API_KEY")])
    result = await make_router(keyed).chat(Intent.DIAGNOSE, PROMPT)
    assert result.provider == "nemotron"
    assert openai_server.last_request.header("authorization") == "Bearer nim-test-key-0123456789"

    monkeypatch.delenv("NIM_TEST_API_KEY")
    unkeyed = AISettings(
        providers=[nemotron(openai_server.base_url, api_key_env="NIM_TEST_API_KEY")]
    )
    result = await make_router(unkeyed).chat(Intent.DIAGNOSE, PROMPT)
    assert result.rejected
    assert result.attempts[0].error_class == "http_401"
    assert openai_server.last_request.header("authorization") is None


async def test_local_providers_ignore_proxy_settings(
    openai_server: OpenAIServer,
    ollama_server: OllamaServer,
    refused_url: str,
    make_router: RouterFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A proxy from the environment must not carry local traffic (it could be off-site);
    # non-local providers do honour it, as any HTTP client would.
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, refused_url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    cloudy = ProviderConfig(
        name="cloudy", kind="ollama", base_url=ollama_server.base_url, model="qwen3:480b-cloud"
    )
    settings = AISettings(
        providers=[nemotron(openai_server.base_url), cloudy],
        chains={"chat": ["cloudy", "nemotron"]},
    )
    router = make_router(settings)

    result = await router.chat(Intent.CHAT, PROMPT)

    assert result.provider == "nemotron"
    assert result.attempts[0].provider == "cloudy"
    assert result.attempts[0].error_class == "connection"  # went to the (refusing) proxy
    assert ollama_server.requests == []
    assert len(openai_server.chat_requests) == 1

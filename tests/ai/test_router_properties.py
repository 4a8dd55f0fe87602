"""Property: a local-only intent never reaches a non-local host, and ends within its deadlines.

Generated provider lists mix local and public hosts, both kinds and cloud-suffixed models; each
provider fails or answers in a generated way through `httpx.MockTransport`. Either the settings
refuse the chain (naming a non-local provider), or the router only ever talks to local hosts and
gives up no later than the sum of the chain's deadlines (plus a small margin).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from awoooi.ai.intents import LOCAL_ONLY_INTENTS, Intent
from awoooi.ai.locality import host_is_local
from awoooi.ai.providers.base import ChatBackend
from awoooi.ai.providers.ollama import OllamaBackend
from awoooi.ai.providers.openai_compat import OpenAICompatBackend
from awoooi.ai.router import Router
from awoooi.ai.settings import AISettings, ProviderConfig

LOCAL_HOSTS = [
    "127.0.0.1",
    "localhost",
    "10.1.2.3",
    "172.20.0.4",
    "192.168.50.2",
    "169.254.10.1",
    "[::1]",
    "[fd00::7]",
    "[fe80::1]",
]
PUBLIC_HOSTS = [
    "8.8.8.8",
    "1.1.1.1",
    "203.0.113.5",
    "198.18.0.5",
    "api.example.com",
    "[2001:4860::8888]",
]
MODELS = ["llama3.1:8b", "nemotron-70b", "gpt-oss:120b-cloud", "kimi-k2:cloud", "qwen3-cloud"]
PATTERNS = ["succeed", "http_500", "timeout", "connection", "malformed"]
DEADLINES = [0.02, 0.03, 0.05]
MARGIN = 0.5
SLOW = 10.0  # how long a "timeout" provider would take without the deadline
LOCAL_ONLY = sorted(LOCAL_ONLY_INTENTS)


@dataclass(frozen=True)
class Spec:
    """One generated provider and how it behaves."""

    name: str
    host: str
    kind: str
    model: str
    deadline: float
    pattern: str

    @property
    def expected_local(self) -> bool:
        """The test's own oracle: a listed local host, and not an Ollama cloud model."""
        cloud = self.kind == "ollama" and self.model.endswith(("-cloud", ":cloud"))
        return self.host in LOCAL_HOSTS and not cloud

    def config(self, intent: Intent) -> ProviderConfig:
        base = f"http://{self.host}:8000" + ("/v1" if self.kind == "openai" else "")
        # The intent's own deadline is tiny; a router that used "default" would blow the bound.
        timeouts = {intent.value: self.deadline, "default": 5.0}
        return ProviderConfig(
            name=self.name, kind=self.kind, base_url=base, model=self.model, timeouts=timeouts
        )


@dataclass(frozen=True)
class Scenario:
    specs: tuple[Spec, ...]
    intent: Intent
    chain: tuple[str, ...] | None  # None: the default chain


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    count = draw(st.integers(min_value=1, max_value=4))
    specs = tuple(
        Spec(
            name=f"p{index}",
            host=draw(st.sampled_from(LOCAL_HOSTS + PUBLIC_HOSTS)),
            kind=draw(st.sampled_from(["openai", "ollama"])),
            model=draw(st.sampled_from(MODELS)),
            deadline=draw(st.sampled_from(DEADLINES)),
            pattern=draw(st.sampled_from(PATTERNS)),
        )
        for index in range(count)
    )
    intent = draw(st.sampled_from(LOCAL_ONLY))
    names = [spec.name for spec in specs]
    chain = draw(
        st.none()
        | st.lists(st.sampled_from(names), unique=True, max_size=count).map(tuple)
        | st.permutations(names).map(tuple)
    )
    return Scenario(specs, intent, chain)


def answer(spec: Spec) -> httpx.Response:
    if spec.kind == "ollama":
        body: dict[str, Any] = {
            "message": {"role": "assistant", "content": f"answer from {spec.name}"},
            "done": True,
            "prompt_eval_count": 3,
            "eval_count": 2,
        }
    else:
        body = {
            "choices": [{"message": {"role": "assistant", "content": f"answer from {spec.name}"}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2},
        }
    return httpx.Response(200, json=body)


def backend_for(spec: Spec, config: ProviderConfig, seen: list[str]) -> ChatBackend:
    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        if spec.pattern == "http_500":
            return httpx.Response(500, json={"error": "boom"})
        if spec.pattern == "timeout":
            await asyncio.sleep(SLOW)
            return answer(spec)
        if spec.pattern == "connection":
            raise httpx.ConnectError("connection refused", request=request)
        if spec.pattern == "malformed":
            return httpx.Response(200, content=b'{"choices": [{"message": ', headers={})
        return answer(spec)

    client = httpx.AsyncClient(base_url=config.base_url, transport=httpx.MockTransport(handler))
    if spec.kind == "ollama":
        return OllamaBackend(config, client)
    return OpenAICompatBackend(config, client)


async def run(scenario: Scenario) -> None:
    specs = {spec.name: spec for spec in scenario.specs}
    configs = [spec.config(scenario.intent) for spec in scenario.specs]
    values: dict[str, Any] = {"providers": configs}
    if scenario.chain is not None:
        values["chains"] = {scenario.intent.value: list(scenario.chain)}
    refusal: str | None = None
    try:
        ai = AISettings.model_validate(values)
    except ValidationError as exc:
        refusal = str(exc)
    if refusal is not None:
        # Refused: justified only by a non-local provider in the chain, and the error names it.
        assert scenario.chain is not None
        offenders = [name for name in scenario.chain if not specs[name].expected_local]
        assert offenders, f"refused a chain of local providers: {refusal}"
        assert f"provider {offenders[0]!r}" in refusal
        assert repr(scenario.intent.value) in refusal
        return

    chain = [config.name for config in ai.chain(scenario.intent)]
    if scenario.chain is None:
        assert chain == [spec.name for spec in scenario.specs if spec.expected_local]
    else:
        assert chain == list(scenario.chain)
    assert all(specs[name].expected_local for name in chain)

    seen: list[str] = []
    backends = {c.name: backend_for(specs[c.name], c, seen) for c in configs}
    rejected: list[Intent] = []

    async def on_reject(intent: Intent, attempts: object, subject: object) -> None:
        rejected.append(intent)

    router = Router(ai, backends=backends, on_reject=on_reject)
    try:
        started = time.monotonic()
        result = await router.chat(scenario.intent, "why is web-0 crash looping?")
        elapsed = time.monotonic() - started
    finally:
        await router.aclose()

    assert all(host_is_local(host) for host in seen), seen
    assert all(f"[{host}]" in LOCAL_HOSTS or host in LOCAL_HOSTS for host in seen), seen
    budget = sum(specs[name].deadline for name in chain)
    assert elapsed <= budget + MARGIN, (elapsed, budget)

    attempted = [attempt.provider for attempt in result.attempts]
    assert attempted == chain[: len(attempted)]
    if result.success:
        assert result.provider is not None
        assert specs[result.provider].pattern == "succeed"
        assert result.text == f"answer from {result.provider}"
        assert all(a.outcome == "error" for a in result.attempts[:-1])
        assert rejected == []
    else:
        assert result.rejected
        assert attempted == chain
        assert rejected == [scenario.intent]
    if not any(specs[name].pattern == "succeed" for name in chain):
        assert result.rejected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_local_only_intents_stay_local_and_within_their_deadlines(scenario: Scenario) -> None:
    asyncio.run(run(scenario))

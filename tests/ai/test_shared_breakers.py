"""Circuit breakers shared through the database: two runtimes (two replicas: own engines, own
routers) on one database count failures together, see the same open breaker, let one probe
through in half-open, and `awoooi ai providers` shows it. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from awoooi.ai.breaker import BreakerState, DatabaseBreakers
from awoooi.ai.intents import Intent
from awoooi.ai.router import Router, breaker_policy
from awoooi.runtime import Runtime
from awoooi.settings import Settings
from tests.ai.support import seed
from tests.conftest import make_settings
from tests.helpers import llm_servers
from tests.helpers.llm_servers import OllamaServer, OpenAIServer
from tests.helpers.serve import cli_env, run_awoooi

openai_server = llm_servers.openai_server
ollama_server = llm_servers.ollama_server

PROMPT = "pod web-0 in namespace shop restarts every minute"
COOLDOWN = 30.0
# Stored times keep microseconds: a step past a boundary, not onto it.
PAST = 0.001


class WallClock:
    """Wall time (what replicas share) that the test moves forward by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def settings(
    tmp_path: Path, database_url: str, openai_server: OpenAIServer, ollama_server: OllamaServer
) -> Settings:
    ai = seed(openai_server, ollama_server, breaker_failures=2, breaker_cooldown_seconds=COOLDOWN)
    return make_settings(tmp_path / "home", database_url, ai=ai)


@pytest.fixture
async def replica(settings: Settings, runtime: Runtime) -> AsyncIterator[Runtime]:
    """A second runtime on the same (migrated) database: its own engine, pool and router."""
    other = Runtime.from_settings(settings)
    try:
        yield other
    finally:
        await other.dispose()


def router_on(runtime: Runtime, clock: WallClock) -> tuple[Router, DatabaseBreakers]:
    """A router with the runtime's database breakers on the test's clock."""
    store = DatabaseBreakers(
        runtime.session_factory, breaker_policy(runtime.settings.ai), clock=clock
    )
    return Router(runtime.settings.ai, breakers=store), store


async def breaker_of(router: Router, name: str = "nemotron") -> BreakerState:
    return next(p.breaker for p in await router.providers() if p.name == name)


async def test_two_replicas_share_one_breaker_and_one_probe(
    runtime: Runtime,
    replica: Runtime,
    openai_server: OpenAIServer,
    ollama_server: OllamaServer,
    settings: Settings,
    tmp_path: Path,
) -> None:
    clock = WallClock()
    (first, _), (second, _) = router_on(runtime, clock), router_on(replica, clock)
    try:
        openai_server.status = 500
        # One failure on each replica: neither alone reaches the threshold of two.
        assert (await first.chat(Intent.DIAGNOSE, PROMPT)).provider == "ollama"
        assert await breaker_of(second) is BreakerState.CLOSED
        assert (await second.chat(Intent.DIAGNOSE, PROMPT)).provider == "ollama"
        assert len(openai_server.chat_requests) == 2

        # Both replicas (and each runtime's own router, on real wall time) see it open.
        assert await breaker_of(first) is BreakerState.OPEN
        assert await breaker_of(second) is BreakerState.OPEN
        assert await breaker_of(runtime.ai) is BreakerState.OPEN
        assert await breaker_of(replica.ai, "ollama") is BreakerState.CLOSED
        skipped = await first.chat(Intent.DIAGNOSE, PROMPT)
        assert skipped.attempts[0].error_class == "circuit_open"
        assert len(openai_server.chat_requests) == 2

        # `awoooi ai providers`, a third process, reads the same state.
        config = tmp_path / "cli.yaml"
        config.write_text(yaml.safe_dump({"ai": settings.ai.model_dump(mode="json")}))
        env = cli_env(
            tmp_path / "cli-home",
            settings.resolved_database_url,
            AWOOOI_CONFIG=str(config),
            COLUMNS="250",
        )
        listed = run_awoooi("ai", "providers", env=env, directory=tmp_path)
        [nemotron] = [
            line for line in listed.splitlines() if "nemotron" in line and "openai" in line
        ]
        assert "open" in nemotron
        assert "half_open" not in nemotron

        # Half-open: of two replicas calling at once, exactly one probes.
        clock.advance(COOLDOWN + PAST)
        assert await breaker_of(second) is BreakerState.HALF_OPEN
        openai_server.configure(status=200, delay=0.2, answer="recovered")
        results = await asyncio.gather(
            first.chat(Intent.DIAGNOSE, PROMPT), second.chat(Intent.DIAGNOSE, PROMPT)
        )
        assert len(openai_server.chat_requests) == 3
        assert sorted(str(r.provider) for r in results) == ["nemotron", "ollama"]
        [waited] = [r for r in results if r.provider == "ollama"]
        assert waited.attempts[0].error_class == "circuit_open"
        assert await breaker_of(first) is BreakerState.CLOSED
        assert await breaker_of(second) is BreakerState.CLOSED
    finally:
        await first.aclose()
        await second.aclose()


async def test_many_callers_on_two_replicas_get_one_probe(
    runtime: Runtime, replica: Runtime
) -> None:
    clock = WallClock()
    (_, here), (_, there) = router_on(runtime, clock), router_on(replica, clock)
    await here.record_failure("nemotron")
    await there.record_failure("nemotron")
    assert await here.try_acquire("nemotron", probe_seconds=5) is False
    clock.advance(COOLDOWN + PAST)

    granted = await asyncio.gather(
        *(store.try_acquire("nemotron", probe_seconds=5) for store in [here, there] * 10)
    )
    assert granted.count(True) == 1


async def test_a_probe_whose_replica_died_expires_with_its_deadline(
    runtime: Runtime, replica: Runtime
) -> None:
    clock = WallClock()
    (_, doomed), (_, survivor) = router_on(runtime, clock), router_on(replica, clock)
    await doomed.record_failure("nemotron")
    await doomed.record_failure("nemotron")
    clock.advance(COOLDOWN + PAST)
    # The probe is granted, then its replica is killed: no outcome, no release, ever.
    assert await doomed.try_acquire("nemotron", probe_seconds=5)
    await runtime.dispose()

    assert await survivor.try_acquire("nemotron", probe_seconds=5) is False
    clock.advance(5 + PAST)
    assert await survivor.try_acquire("nemotron", probe_seconds=5)
    await survivor.record_success("nemotron")
    assert (await survivor.states(["nemotron"]))["nemotron"] is BreakerState.CLOSED

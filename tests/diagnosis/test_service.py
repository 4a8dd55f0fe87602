"""The service: investigate an alert, then the model explains — or the findings are the answer
when the model is off or every local provider fails."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from awoooi.ai.intents import Intent
from awoooi.ai.router import Router
from awoooi.ai.settings import AISettings, ProviderConfig
from awoooi.diagnosis.model import Cause, Investigation
from awoooi.diagnosis.service import diagnose, investigate
from awoooi.diagnosis.source import DumpSource
from tests.diagnosis.dumps import T0, Dump, container, exited, template, waiting
from tests.helpers.llm_servers import OpenAIServer

INCIDENT = {"alert": "KubePodCrashLooping", "severity": "warning"}


@dataclass(frozen=True)
class Reply:
    text: str
    rejected: bool = False
    provider: str | None = "fake"
    error: str | None = None


@dataclass
class FakeRouter:
    """An in-memory router behind the service's own Protocol."""

    reply: Reply
    calls: list[dict[str, object]] = field(default_factory=list)

    async def chat(
        self,
        intent: Intent | str,
        prompt: str,
        *,
        system: str | None = None,
        task_type: str | None = None,
        subject: object = None,
    ) -> Reply:
        self.calls.append(
            {"intent": intent, "prompt": prompt, "system": system, "task_type": task_type}
        )
        return self.reply


@pytest.fixture
async def inv(tmp_path: Path) -> Investigation:
    d = Dump(tmp_path / "cluster")
    d.node("node-1")
    dep = d.deployment("ml", "ranker", replicas=1)
    rs = d.replicaset(
        dep,
        template(container("ranker", limits={"memory": "2Gi"})),
        revision=5,
        replicas=1,
        ready=0,
    )
    d.pod(
        rs,
        f"{rs['metadata']['name']}-v8b9n",
        statuses={
            "ranker": waiting(
                "CrashLoopBackOff", "back-off", restarts=7, last=exited("OOMKilled", 137)
            )
        },
    )
    return await investigate(
        DumpSource(d.write()), {"namespace": "ml", "deployment": "ranker"}, at=T0
    )


async def test_the_model_explains_the_findings(inv: Investigation) -> None:
    answer = {
        "summary": "The ranker exceeds its 2Gi limit.",
        "cause": "OOM_KILLED",
        "evidence": ["e2", "e404"],
        "confidence": 0.9,
    }
    router = FakeRouter(Reply(json.dumps(answer)))

    diagnosis = await diagnose(inv, router=router, incident=INCIDENT)

    assert diagnosis["by"] == "model"
    assert diagnosis["provider"] == "fake"
    assert diagnosis["cause"] == "OOM_KILLED"
    assert diagnosis["evidence"] == ["e2"]
    assert diagnosis["rules_cause"] == "OOM_KILLED"
    call = router.calls[0]
    assert call["intent"] == Intent.DIAGNOSE
    assert call["task_type"] == "diagnose"
    assert "1. OOM_KILLED" in str(call["prompt"])
    assert "2Gi" in str(call["prompt"])
    assert "cause is one of" in str(call["system"])


async def test_a_rejected_model_leaves_the_findings_as_the_diagnosis(inv: Investigation) -> None:
    router = FakeRouter(Reply("", rejected=True, provider=None, error="no local model available"))

    diagnosis = await diagnose(inv, router=router, incident=INCIDENT)

    assert diagnosis["by"] == "rules"
    assert diagnosis["cause"] == Cause.OOM_KILLED.value
    assert "no local model available" in diagnosis["reason"]
    assert diagnosis["evidence"] == list(inv.findings[0].evidence)


async def test_no_model_means_no_call(inv: Investigation) -> None:
    router = FakeRouter(Reply("{}"))

    diagnosis = await diagnose(inv, router=router, incident=INCIDENT, no_model=True)

    assert diagnosis["by"] == "rules"
    assert router.calls == []


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _provider(name: str, url: str) -> ProviderConfig:
    return ProviderConfig(
        name=name,
        kind="openai",
        base_url=url,
        model="m",
        timeouts={"diagnose": 2.0, "default": 2.0},
    )


async def test_the_real_router_against_a_local_model(inv: Investigation) -> None:
    answer = json.dumps({"summary": "Out of memory.", "cause": "OOM_KILLED", "evidence": ["e1"]})
    with OpenAIServer(answer=answer) as server:
        router = Router(
            AISettings(providers=[_provider("local", server.base_url)], max_prompt_chars=6_000)
        )
        try:
            diagnosis = await diagnose(
                inv, router=router, incident=INCIDENT, max_prompt_chars=6_000
            )
        finally:
            await router.aclose()
        sent = server.chat_requests[0].json

    assert diagnosis["by"] == "model"
    assert diagnosis["provider"] == "local"
    text = "\n".join(m["content"] for m in sent["messages"])
    assert len(text) <= 6_000
    assert "OOMKilled" in text


async def test_the_real_router_with_nothing_listening_falls_back_to_rules(
    inv: Investigation,
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    router = Router(AISettings(providers=[_provider("local", url)]))
    try:
        diagnosis = await diagnose(inv, router=router, incident=INCIDENT)
    finally:
        await router.aclose()

    assert diagnosis["by"] == "rules"
    assert diagnosis["cause"] == "OOM_KILLED"
    assert "rejected" in diagnosis["reason"]

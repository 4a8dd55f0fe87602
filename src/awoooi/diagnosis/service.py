"""Diagnosis, the room: investigate an alert (target, evidence, findings), then let a local model
explain it — or, with no model, let the findings be the diagnosis."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from awoooi.ai.intents import Intent
from awoooi.ai.router import RejectionSubject
from awoooi.diagnosis.analyzers import analyze
from awoooi.diagnosis.evidence import EvidenceProvider, collect
from awoooi.diagnosis.model import Investigation
from awoooi.diagnosis.prompt import DEFAULT_MAX_CHARS, build_prompt, parse_model_answer
from awoooi.diagnosis.source import ClusterSource
from awoooi.diagnosis.target import resolve

TASK_TYPE = "diagnose"


class ChatReply(Protocol):
    """What a router answers (`awoooi.ai.router.ChatResult` has these)."""

    @property
    def text(self) -> str:
        """The model's text ("" when rejected)."""
        ...

    @property
    def rejected(self) -> bool:
        """True when no allowed provider answered."""
        ...

    @property
    def provider(self) -> str | None:
        """The provider that answered."""
        ...

    @property
    def error(self) -> str | None:
        """Why the call was rejected."""
        ...


class ChatRouter(Protocol):
    """The model router (`awoooi.ai.router.Router`): DIAGNOSE only reaches local providers."""

    async def chat(
        self,
        intent: Intent | str,
        prompt: str,
        *,
        system: str | None = None,
        task_type: str | None = None,
        subject: RejectionSubject | None = None,
    ) -> ChatReply:
        """Answer from the intent's provider chain, or a rejection (naming `subject`)."""
        ...


async def investigate(
    source: ClusterSource,
    labels: Mapping[str, str],
    *,
    extra_evidence: Sequence[EvidenceProvider] = (),
    at: datetime | None = None,
) -> Investigation:
    """Resolve the alert's target, collect the evidence, name the likely causes (read-only)."""
    resolution = await resolve(labels, source)
    facts, evidence = await collect(source, resolution, labels, at=at, providers=extra_evidence)
    return Investigation(resolution.target, evidence, analyze(facts))


def rules_diagnosis(investigation: Investigation, *, reason: str) -> dict[str, Any]:
    """The findings as the diagnosis (`"by": "rules"`), for when no model answers."""
    top = investigation.top
    return {
        "by": "rules",
        "reason": reason,
        "cause": top.cause.value if top else None,
        "summary": top.summary if top else "no finding",
        "confidence": top.confidence if top else None,
        "evidence": list(top.evidence) if top else [],
        "probable_causes": [f"{f.cause.value}: {f.summary}" for f in investigation.findings],
        "suggested_playbooks": [],
    }


async def diagnose(
    investigation: Investigation,
    *,
    router: ChatRouter | None,
    incident: Mapping[str, Any],
    no_model: bool = False,
    max_prompt_chars: int = DEFAULT_MAX_CHARS,
) -> dict[str, Any]:
    """The model's explanation ("by": "model"), or the findings themselves ("by": "rules")."""
    if no_model or router is None:
        return rules_diagnosis(investigation, reason="model not asked")
    diagnosis, _reply = await explain(
        investigation, router=router, incident=incident, max_prompt_chars=max_prompt_chars
    )
    return diagnosis


async def explain(
    investigation: Investigation,
    *,
    router: ChatRouter,
    incident: Mapping[str, Any],
    subject: RejectionSubject | None = None,
    max_prompt_chars: int = DEFAULT_MAX_CHARS,
) -> tuple[dict[str, Any], ChatReply]:
    """Ask the local model to explain the investigation: its diagnosis, or the rules' when it is
    rejected (the rejection notice names `subject`); with the router's reply."""
    prompt = build_prompt(investigation, incident, max_chars=max_prompt_chars)
    reply = await router.chat(
        Intent.DIAGNOSE, prompt.text, system=prompt.system, task_type=TASK_TYPE, subject=subject
    )
    if reply.rejected or not reply.text.strip():
        reason = f"model rejected: {reply.error or 'empty answer'}"
        return rules_diagnosis(investigation, reason=reason), reply
    answer = parse_model_answer(reply.text, [e.id for e in investigation.evidence])
    top = investigation.top
    diagnosis = {
        "by": "model",
        "provider": reply.provider,
        **answer.to_json(),
        "rules_cause": top.cause.value if top else None,
        "prompt_evidence": list(prompt.included),
    }
    return diagnosis, reply

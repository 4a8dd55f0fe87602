"""Diagnose incidents with a local model: a durable job per new incident, result on the timeline."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.ai.intents import Intent
from awoooi.ai.router import ChatResult, Router
from awoooi.core.jobs import JobContext, JobRegistry, enqueue
from awoooi.core.logging import redact_text as redact
from awoooi.incidents.models import Incident
from awoooi.incidents.service import add_event, get_incident

DIAGNOSE_JOB = "incident.diagnose"
IncidentHook = Callable[[AsyncSession, Incident], Awaitable[None]]
ACTOR = "ai:diagnose"
MAX_TIMELINE_EVENTS = 20
_PLAYBOOK_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")

SYSTEM_PROMPT = """You are an SRE assistant diagnosing a Kubernetes incident.
Answer with one JSON object and nothing else:
{"summary": "<one paragraph>", "probable_causes": ["<cause>", ...],
 "suggested_playbooks": ["<playbook id>", ...], "confidence": <0..1>}
Explain; do not write commands to run. A human and awoooi's fixed playbooks decide any action."""


class Diagnosis(BaseModel):
    """What the model concluded; playbook ids are suggestions for humans, never actions."""

    summary: str = Field(max_length=8000)
    probable_causes: list[str] = Field(default_factory=list, max_length=20)
    suggested_playbooks: list[str] = Field(default_factory=list, max_length=20)
    confidence: float | None = Field(None, ge=0, le=1)
    structured: bool = True


def _items(value: Any) -> list[Any]:
    """A list field of the answer: a lone string is one item (not its characters), null none."""
    if isinstance(value, str):
        return [value]
    return [item for item in value if item is not None] if isinstance(value, list) else []


def _first_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in the text (fences or prose around it are fine), if any."""
    decoder = json.JSONDecoder()
    position = text.find("{")
    while position != -1:
        try:
            value, _ = decoder.raw_decode(text, position)
        except ValueError:
            position = text.find("{", position + 1)
            continue
        if isinstance(value, dict):
            return value
        position = text.find("{", position + 1)
    return None


def _confidence(value: Any) -> float | None:
    """A confidence in 0..1; anything else ("high", 85) is dropped, not the whole answer."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0 <= value <= 1 else None


def parse_diagnosis(text: str) -> Diagnosis:
    """The model's JSON when it complied (fences and prose around it tolerated), else plain text."""
    data = _first_json_object(text)
    if data is not None:
        try:
            return Diagnosis.model_validate(
                {
                    "summary": str(data.get("summary") or "").strip()[:8000] or text.strip()[:8000],
                    "probable_causes": [str(c)[:500] for c in _items(data.get("probable_causes"))][
                        :20
                    ],
                    "suggested_playbooks": [
                        str(p)
                        for p in _items(data.get("suggested_playbooks"))
                        if _PLAYBOOK_ID.fullmatch(str(p))
                    ][:20],
                    "confidence": _confidence(data.get("confidence")),
                }
            )
        except (ValueError, TypeError, ValidationError):
            pass
    return Diagnosis(summary=text.strip()[:8000], structured=False)


def build_prompt(incident: Incident) -> str:
    """The incident as the model sees it: symptoms, labels, annotations, timeline; redacted."""
    timeline = [
        {"at": event.at.isoformat(), "actor": event.actor, "event": event.event, **event.detail}
        for event in incident.events[-MAX_TIMELINE_EVENTS:]
    ]
    document: dict[str, Any] = {
        "incident": incident.human_id,
        "title": incident.title,
        "severity": incident.severity,
        "status": incident.status,
        "services": incident.affected_services,
        "namespace": incident.namespace,
        "occurrences": incident.occurrences,
        "symptoms": incident.symptoms,
        "labels": incident.labels,
        "annotations": incident.annotations,
        "timeline": timeline,
    }
    # Even a local model gets no secrets: prompts can end up in its logs.
    return redact(json.dumps(document, indent=1, default=str, ensure_ascii=False))


def diagnosis_event_detail(result: ChatResult) -> tuple[str, dict[str, Any]]:
    """The timeline event (name, detail) for a router result."""
    meta = {
        "provider": result.provider,
        "latency_ms": result.latency_ms,
        "total_tokens": result.total_tokens,
        "cost_usd": result.cost_usd,
    }
    if result.rejected:
        reasons = [
            {"provider": a.provider, "reason": a.reason or a.error_class} for a in result.attempts
        ]
        return "diagnosis_rejected", {"error": result.error, "attempts": reasons}
    diagnosis = parse_diagnosis(result.text)
    return "diagnosis", {**diagnosis.model_dump(), **meta}


async def queue_diagnosis(session: AsyncSession, incident_id: int) -> int:
    """Queue the diagnosis of a new incident (once per incident)."""
    return await enqueue(
        session, DIAGNOSE_JOB, {"incident_id": incident_id}, f"diagnose:{incident_id}"
    )


class IncidentDiagnoser:
    """The `incident.diagnose` job."""

    def __init__(self, router: Router, *, after: IncidentHook | None = None) -> None:
        self._router = router
        self._after = after

    def register(self, registry: JobRegistry) -> None:
        """Register the job handler."""
        registry.register(DIAGNOSE_JOB, self.run)

    async def run(self, ctx: JobContext) -> None:
        """Diagnose once: the model call happens before any write, so no lock waits on it."""
        incident = await get_incident(
            ctx.session, int(ctx.payload["incident_id"]), with_timeline=True
        )
        if incident is None:
            return
        if any(event.event in {"diagnosis", "diagnosis_rejected"} for event in incident.events):
            return  # a retry after the result was stored: nothing to do
        result = await self._router.chat(
            Intent.DIAGNOSE, build_prompt(incident), system=SYSTEM_PROMPT, task_type="diagnose"
        )
        event, detail = diagnosis_event_detail(result)
        add_event(ctx.session, incident, actor=ACTOR, event=event, detail=detail)
        if self._after is not None:
            # The next step (the repair decision) is queued in the same transaction.
            await self._after(ctx.session, incident)

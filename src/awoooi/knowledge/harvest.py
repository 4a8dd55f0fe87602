"""Harvest knowledge from every repair: a success drafts a runbook, a failure publishes an
anti-pattern. Durable jobs; text from the local model, or a minimal template when it fails."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.ai.intents import Intent
from awoooi.ai.router import RejectionSubject, Router
from awoooi.core.jobs import JobContext, JobRegistry, enqueue
from awoooi.core.logging import get_logger
from awoooi.core.redact import redact
from awoooi.incidents import service as incidents
from awoooi.incidents.models import Incident
from awoooi.incidents.notices import incident_header, incident_link, notify_incident
from awoooi.knowledge import service
from awoooi.knowledge.models import EntrySource, EntryStatus, EntryType, KnowledgeEntry
from awoooi.knowledge.settings import KnowledgeSettings
from awoooi.knowledge.templates import (
    ANTI_PATTERN_SECTIONS,
    RUNBOOK_SECTIONS,
    anti_pattern_template,
    runbook_template,
    system_prompt,
)
from awoooi.notify.base import Button, Severity
from awoooi.notify.routing import ChannelChoice
from awoooi.notify.service import notify

log = get_logger(__name__)

RUNBOOK_JOB = "knowledge.generate_runbook"
ANTI_PATTERN_JOB = "knowledge.generate_anti_pattern"
ACTOR = "ai:harvest"


@dataclass(frozen=True)
class StepResult:
    """One executed playbook step."""

    action: str
    success: bool
    duration_ms: int = 0
    detail: str = ""
    error: str | None = None


@dataclass(frozen=True)
class RepairReport:
    """What a repair attempt did: the harvest job's payload."""

    attempt_id: str
    incident_id: str
    playbook_id: str
    playbook_name: str
    success: bool
    execution_ms: int
    symptoms_hash: str
    steps: tuple[StepResult, ...] = field(default_factory=tuple)
    error: str | None = None

    def to_payload(self) -> dict[str, Any]:
        """JSON for the job table."""
        return asdict(self)

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> RepairReport:
        """Back from the job table."""
        steps = tuple(StepResult(**step) for step in data.get("steps", []))
        return cls(**{**data, "steps": steps})


def _redacted(report: RepairReport) -> RepairReport:
    # The payload is stored in the jobs table: no secret from a step's output may go there.
    def clean(text: str | None) -> str | None:
        return redact(text) if text else text

    steps = tuple(
        replace(
            step, action=redact(step.action), detail=redact(step.detail), error=clean(step.error)
        )
        for step in report.steps
    )
    return replace(report, error=clean(report.error), steps=steps)


def harvest_key(attempt_id: str) -> str:
    """The entry's idempotency key for one repair attempt (hashed when too long to store)."""
    key = f"repair:{attempt_id}"
    return key if len(key) <= 128 else "repair:sha256:" + hashlib.sha256(key.encode()).hexdigest()


async def queue_harvest(session: AsyncSession, report: RepairReport) -> int:
    """Queue the harvest for a finished repair in the caller's transaction (once per attempt)."""
    kind = RUNBOOK_JOB if report.success else ANTI_PATTERN_JOB
    payload = _redacted(report).to_payload()
    return await enqueue(session, kind, payload, f"harvest:{report.attempt_id}")


def _prompt(report: RepairReport, incident: Incident | None, sections: Sequence[str]) -> str:
    facts = {
        "incident": incident.human_id if incident else report.incident_id,
        "title": incident.title if incident else None,
        "severity": incident.severity if incident else None,
        "services": incident.affected_services if incident else [],
        "namespace": incident.namespace if incident else None,
        "symptoms": incident.symptoms if incident else {},
        "symptoms_hash": report.symptoms_hash,
        "playbook": {"id": report.playbook_id, "name": report.playbook_name},
        "outcome": "success" if report.success else "failure",
        "execution_ms": report.execution_ms,
        "error": report.error,
        "steps": [asdict(step) for step in report.steps],
    }
    wanted = "\n".join(f"## {title}" for title in sections)
    return redact(
        f"Facts (JSON):\n{facts}\n\nWrite Markdown with exactly these sections:\n{wanted}"
    )


class KnowledgeHarvester:
    """The two harvest jobs."""

    def __init__(
        self,
        router: Router | None,
        settings: KnowledgeSettings,
        channels: ChannelChoice,
        *,
        public_url: str = "http://127.0.0.1:8080",
    ) -> None:
        self._router = router
        self._settings = settings
        self._channels = channels
        self._public_url = public_url.rstrip("/")

    def register(self, registry: JobRegistry) -> None:
        """Register both job kinds."""
        registry.register(RUNBOOK_JOB, self.generate_runbook)
        registry.register(ANTI_PATTERN_JOB, self.generate_anti_pattern)

    async def generate_runbook(self, ctx: JobContext) -> None:
        """A successful repair -> AUTO_RUNBOOK in DRAFT and a review card."""
        report = RepairReport.from_payload(ctx.payload)
        harvested = await self._harvest(ctx.session, report, EntryType.AUTO_RUNBOOK)
        if harvested is None:
            return
        entry, incident = harvested
        link = f"{self._public_url}/api/v1/knowledge/{entry.id}"
        await self._notify(
            ctx.session,
            incident,
            report,
            kind="knowledge.review",
            title=f"Runbook draft to review: {entry.title}",
            lines=[
                f"Incident {report.incident_id} was repaired by playbook {report.playbook_id} "
                f"in {report.execution_ms} ms. A runbook draft (entry {entry.id}) needs review:",
                entry.content[:600],
                "",
                f"Approve: awoooi kb approve {entry.id}",
                f"Reject: awoooi kb reject {entry.id} --reason '...'",
            ],
            severity=Severity.INFO,
            # Action buttons name what they do; a channel that can press them (Telegram)
            # turns them into callbacks, the others show the CLI lines above.
            buttons=[
                Button(label="Approve", action_id=f"knowledge.approve:{entry.id}"),
                Button(label="Reject", action_id=f"knowledge.reject:{entry.id}"),
                Button(label="Open draft", url=link),
            ],
        )

    async def generate_anti_pattern(self, ctx: JobContext) -> None:
        """A failed repair -> ANTI_PATTERN published at once and a notice."""
        report = RepairReport.from_payload(ctx.payload)
        harvested = await self._harvest(ctx.session, report, EntryType.ANTI_PATTERN)
        if harvested is None:
            return
        entry, incident = harvested
        days = self._settings.anti_pattern_days
        await self._notify(
            ctx.session,
            incident,
            report,
            kind="knowledge.anti_pattern",
            title=f"Anti-pattern published: {report.playbook_id} failed",
            lines=[
                f"Playbook {report.playbook_id} failed on incident {report.incident_id}: "
                f"{report.error or 'see steps'}. For {days:g} days, alerts with the same "
                f"symptoms ({report.symptoms_hash}) will not be repaired automatically; "
                f"a human will be asked. Entry {entry.id}."
            ],
            severity=Severity.HIGH,
        )

    async def _notify(
        self,
        session: AsyncSession,
        incident: Incident | None,
        report: RepairReport,
        *,
        kind: str,
        title: str,
        lines: Sequence[str],
        severity: Severity,
        buttons: Sequence[Button] = (),
    ) -> None:
        """A harvest notice names its incident and links to it (when it still exists)."""
        if incident is not None:
            await notify_incident(
                session,
                incident,
                public_url=self._public_url,
                kind=kind,
                title=title,
                lines=lines,
                channels=self._channels,
                severity=severity,
                buttons=buttons,
            )
            return
        # Retention deleted the incident meanwhile: its id is all that is left to name.
        await notify(
            session,
            kind=kind,
            title=f"{report.incident_id}: {title}",
            text="\n".join(lines),
            channels=self._channels,
            severity=severity,
            buttons=buttons,
        )

    async def _harvest(
        self, session: AsyncSession, report: RepairReport, entry_type: EntryType
    ) -> tuple[KnowledgeEntry, Incident | None] | None:
        """The new entry and its incident, or None for a retried job (the entry exists)."""
        key = harvest_key(report.attempt_id)
        if await service.get_by_harvest_key(session, key) is not None:
            return None  # a retried job: the entry exists, and so do its notifications
        incident = await incidents.find_incident(session, report.incident_id)
        sections = (
            RUNBOOK_SECTIONS if entry_type is EntryType.AUTO_RUNBOOK else ANTI_PATTERN_SECTIONS
        )
        # The model call comes before any write, so no database lock waits on it.
        content = await self._model_text(report, incident, sections, entry_type)
        if content is None:
            build = (
                runbook_template if entry_type is EntryType.AUTO_RUNBOOK else anti_pattern_template
            )
            content = build(report, incident, self._settings.language)
        verb = "repaired by" if report.success else "failed fix"
        title = f"{incident.title if incident else report.incident_id}: {verb} {report.playbook_id}"
        entry = await service.create_entry(
            session,
            service.NewEntry(
                title=title,
                content=content,
                entry_type=entry_type,
                source=EntrySource.AI_EXTRACTED,
                status=EntryStatus.DRAFT
                if entry_type is EntryType.AUTO_RUNBOOK
                else EntryStatus.PUBLISHED,
                created_by=ACTOR,
                category="auto-repair",
                tags=("auto-harvest", report.playbook_id[:64]),
                services=tuple(incident.affected_services) if incident else (),
                related_incident_id=report.incident_id[:32],
                related_playbook_id=report.playbook_id[:64],
                symptoms_hash=report.symptoms_hash,
                harvest_key=key,
            ),
        )
        return entry, incident

    async def _model_text(
        self,
        report: RepairReport,
        incident: Incident | None,
        sections: Sequence[str],
        entry_type: EntryType,
    ) -> str | None:
        if self._router is None:
            return None
        result = await self._router.chat(
            Intent.GENERATE_RUNBOOK,
            _prompt(report, incident, sections),
            system=system_prompt(entry_type, self._settings.language),
            task_type="generate_runbook",
            subject=self._subject(report, incident),
        )
        if not result.success or len(result.text.strip()) < 40:
            log.info(
                "harvest falls back to the template",
                attempt_id=report.attempt_id,
                rejected=result.rejected,
                error=result.error,
            )
            return None
        return result.text.strip()

    def _subject(self, report: RepairReport, incident: Incident | None) -> RejectionSubject:
        """What a rejection notice says: which incident's runbook or anti-pattern it was."""
        fix = f"Text for the {'runbook' if report.success else 'anti-pattern'} of playbook "
        fix += f"{report.playbook_id}: the template is used instead."
        if incident is None:
            return RejectionSubject(report.incident_id, (fix,))
        return RejectionSubject(
            f"{incident.human_id} {incident.title}",
            (*incident_header(incident, self._public_url), fix),
            incident_link(self._public_url, incident.human_id),
            namespace=incident.namespace,
            services=tuple(incident.affected_services),
        )

"""Diagnosing incidents: a durable job per new incident (and on request), stored with its
target, findings and evidence, summarised on the incident's timeline.

Code collects the evidence (the cluster when one is configured, the knowledge base, drift, how
similar incidents ended), the rules name the likely causes, and the local model only explains.
With no model — rejected, or `ai.diagnose_incidents: false` — the findings are the diagnosis;
a rejection still tells a human, naming the incident and its top findings: at once when no repair
decision follows, else with the decision (`diagnosis.rejections`).

The incident is `diagnosing` while its first diagnosis runs (committed before the evidence is
collected, so lists show it); the repair decision moves it on, or it is `open` again when none
follows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.ai.router import RejectionSubject
from awoooi.core.audit import Caller, Door, record_audit
from awoooi.core.errors import AwoooiError
from awoooi.core.jobs import JobContext, JobFailure, JobRegistry, enqueue
from awoooi.core.logging import get_logger
from awoooi.diagnosis import repository
from awoooi.diagnosis.errors import DiagnosisInputError
from awoooi.diagnosis.evidence import EvidenceBook, EvidenceProvider
from awoooi.diagnosis.model import Cause, Finding, Investigation, Target
from awoooi.diagnosis.models import DiagnosisRecord
from awoooi.diagnosis.prompt import DEFAULT_MAX_CHARS
from awoooi.diagnosis.rejections import notify_rejection, rejection_of, untold_rejection
from awoooi.diagnosis.service import ChatRouter, explain, investigate, rules_diagnosis
from awoooi.diagnosis.source import ClusterSource
from awoooi.incidents.models import Incident, IncidentStatus
from awoooi.incidents.notices import incident_link
from awoooi.incidents.service import add_event, advance, get_incident
from awoooi.notify.routing import ChannelChoice

log = get_logger(__name__)

DIAGNOSE_JOB = "incident.diagnose"
ACTOR = "ai:diagnose"
CALLER = Caller(ACTOR, Door.SYSTEM)
# Findings carried by the timeline event and a rejection notice (all are stored).
SHOWN_FINDINGS = 3
MAX_EVENT_SUMMARY = 2_000
WORKLOAD_KINDS = {"deployment", "statefulset", "daemonset", "job", "cronjob", "pod", "node"}
PRIORITY_OF_SEVERITY = {"critical": 2, "high": 1}
# A person asking for a diagnosis again waits behind no automatic one.
REQUESTED_PRIORITY = 3

IncidentHook = Callable[[AsyncSession, Incident], Awaitable[None]]
SourceProvider = Callable[[], ClusterSource | None]
ProviderFactory = Callable[[AsyncSession, Incident], Sequence[EvidenceProvider]]


@dataclass(frozen=True)
class DiagnosisPolicy:
    """How incidents are diagnosed."""

    use_model: bool = True
    max_prompt_chars: int = DEFAULT_MAX_CHARS
    public_url: str = "http://127.0.0.1:8080"
    # Where a rejection notice goes when no repair decision follows to tell it.
    channels: ChannelChoice = ("log",)


def incident_brief(incident: Incident) -> dict[str, Any]:
    """The incident as the prompt shows it (redacted there)."""
    return {
        "incident": incident.human_id,
        "title": incident.title,
        "severity": incident.severity,
        "services": incident.affected_services,
        "namespace": incident.namespace,
        "occurrences": incident.occurrences,
        "first_seen": incident.first_seen.isoformat(),
        "labels": incident.labels,
        "annotations": incident.annotations,
    }


def label_target(incident: Incident) -> Target:
    """The target as the alert's labels name it, for when no cluster can resolve it."""
    labels = incident.labels or {}
    kind = str((incident.symptoms or {}).get("resource_kind") or "").lower()
    if kind == "node" or (labels.get("node") and not incident.affected_services):
        return Target("Node", "", labels.get("node") or "")
    name = incident.affected_services[0] if incident.affected_services else ""
    shown = {k: k.capitalize() for k in WORKLOAD_KINDS}
    shown |= {"statefulset": "StatefulSet", "daemonset": "DaemonSet", "cronjob": "CronJob"}
    return Target(shown.get(kind, "Deployment"), incident.namespace or "", name)


def alert_started(incident: Incident) -> datetime:
    """When the incident's first alert started firing (its sender's clock), else first seen."""
    starts = [alert.starts_at for alert in incident.alerts if alert.starts_at is not None]
    return min(starts) if starts else incident.first_seen


def stored_target(record: DiagnosisRecord) -> Target:
    """A stored diagnosis' target."""
    return Target(record.target_kind, record.target_namespace, record.target_name)


def stored_findings(record: DiagnosisRecord) -> list[Finding]:
    """A stored diagnosis' findings, most likely first."""
    return [
        Finding(
            Cause(item["cause"]),
            str(item.get("summary", "")),
            float(item.get("confidence", 0.0)),
            tuple(item.get("evidence", ())),
        )
        for item in record.findings
        if item.get("cause") in Cause.__members__
    ]


async def latest_diagnosis(session: AsyncSession, incident_id: int) -> DiagnosisRecord | None:
    """The incident's newest diagnosis, if it has one."""
    return await repository.latest_for(session, incident_id)


def diagnosis_priority(severity: str) -> int:
    """Where a new incident's diagnosis stands in the queue: critical, then high, then the rest
    in order (the diagnosis budget, `ai.max_concurrent_diagnoses`, lets only so many run)."""
    return PRIORITY_OF_SEVERITY.get(str(severity), 0)


async def queue_diagnosis(session: AsyncSession, incident_id: int, *, priority: int = 0) -> int:
    """Queue the diagnosis of a new incident (once per incident)."""
    return await enqueue(
        session,
        DIAGNOSE_JOB,
        {"incident_id": incident_id},
        f"diagnose:{incident_id}",
        priority=priority,
    )


async def request_diagnosis(session: AsyncSession, incident: Incident, *, caller: Caller) -> int:
    """Someone asks to diagnose an incident again: queue the run and audit the request."""
    count = await repository.count_for(session, incident.id)
    job_id = await enqueue(
        session,
        DIAGNOSE_JOB,
        {"incident_id": incident.id, "again": True, "requested_by": caller.actor},
        f"diagnose:{incident.id}:{count + 1}",
        priority=REQUESTED_PRIORITY,
    )
    await record_audit(
        session, caller, action="incident.diagnose", target=f"incident:{incident.human_id}"
    )
    return job_id


class IncidentDiagnoser:
    """The `incident.diagnose` job: investigate, explain, store, tell the timeline."""

    def __init__(
        self,
        router: ChatRouter,
        *,
        source: SourceProvider = lambda: None,
        providers: ProviderFactory = lambda _session, _incident: (),
        policy: DiagnosisPolicy | None = None,
        after: IncidentHook | None = None,
    ) -> None:
        self._router = router
        self._source = source
        self._providers = providers
        self.policy = policy or DiagnosisPolicy()
        self._after = after

    def register(self, registry: JobRegistry) -> None:
        """Register the job handler (and what a dead job leaves behind)."""
        registry.register(DIAGNOSE_JOB, self.run, on_failure=self._failed)

    async def run(self, ctx: JobContext) -> None:
        """Diagnose once (or again on request); the next step is queued after the first one."""
        incident = await get_incident(
            ctx.session, int(ctx.payload["incident_id"]), with_timeline=True
        )
        if incident is None:
            return
        again = bool(ctx.payload.get("again"))
        if not again and await repository.count_for(ctx.session, incident.id):
            return  # a retry after the result was stored: nothing to do
        if not again and incident.parent_id is not None:
            await self._skip_storm_child(ctx.session, incident)
            return
        requested_by = str(ctx.payload.get("requested_by") or ACTOR)
        await advance(
            ctx.session,
            incident,
            IncidentStatus.DIAGNOSING,
            caller=CALLER,
            reason="diagnosis started" if not again else f"diagnosis asked by {requested_by}",
        )
        # Commit whether or not the step was taken: lists show `diagnosing` while the evidence
        # is read and the model thinks, and the locks `advance` took (the incident's row; on
        # SQLite the write lock) are not held while the model answers.
        await ctx.session.commit()
        record = await self.diagnose(ctx.session, incident, requested_by=requested_by)
        if self._after is not None and not again:
            # The next step (the repair decision) is queued in the same transaction; it moves
            # the incident on and tells a human about a rejection.
            await self._after(ctx.session, incident)
            return
        await self._done(ctx.session, incident, record)

    async def _done(
        self, session: AsyncSession, incident: Incident, record: DiagnosisRecord
    ) -> None:
        """No repair decision follows: the incident is open again, and a rejection is told."""
        await advance(
            session,
            incident,
            IncidentStatus.OPEN,
            caller=CALLER,
            reason="diagnosed; no automatic repair decision follows",
            only_from=IncidentStatus.DIAGNOSING,
        )
        if await untold_rejection(session, incident) is not None:
            await notify_rejection(
                session,
                incident,
                record,
                channels=self.policy.channels,
                public_url=self.policy.public_url,
            )

    async def _failed(self, session: AsyncSession, failure: JobFailure) -> None:
        """A dead diagnosis job leaves no incident `diagnosing` forever."""
        if not failure.dead:
            return
        incident = await get_incident(session, int(failure.payload["incident_id"]))
        if incident is None:
            return
        await advance(
            session,
            incident,
            IncidentStatus.OPEN,
            caller=CALLER,
            reason=f"the diagnosis failed: {failure.error[:500]}",
            only_from=IncidentStatus.DIAGNOSING,
        )

    @staticmethod
    async def _skip_storm_child(session: AsyncSession, incident: Incident) -> None:
        """A storm's child is diagnosed through its storm (once, not once per child): no model
        call, no cluster reads, no repair decision of its own. A person may still ask."""
        if any(event.event == "diagnosis_skipped" for event in incident.events):
            return
        storm = await get_incident(session, incident.parent_id) if incident.parent_id else None
        add_event(
            session,
            incident,
            actor=ACTOR,
            event="diagnosis_skipped",
            detail={
                "storm": storm.human_id if storm is not None else None,
                "reason": "part of a storm: the storm is diagnosed for all its incidents",
            },
        )

    async def investigate(
        self, session: AsyncSession, incident: Incident
    ) -> tuple[Investigation, bool]:
        """The investigation, and whether the cluster resolved its target."""
        providers = self._providers(session, incident)
        labels = {str(k): str(v) for k, v in (incident.labels or {}).items()}
        source = self._source()
        if source is not None:
            try:
                found = await investigate(
                    source, labels, extra_evidence=providers, at=alert_started(incident)
                )
                return found, True
            except DiagnosisInputError as exc:
                log.warning("target not found", incident=incident.human_id, error=exc.detail)
                note = f"the cluster does not hold the alerted object: {exc.detail}"
            except AwoooiError as exc:  # forbidden, unreachable, a bad answer: the API said so
                log.warning("cluster unreadable", incident=incident.human_id, error=exc.detail)
                note = f"the cluster could not be read: {exc.detail}"
            except OSError as exc:
                note = f"the cluster could not be read: {type(exc).__name__}: {exc}"
        else:
            note = "no cluster is configured: only the alert and awoooi's own records were read"
        return await self._without_cluster(incident, labels, providers, note), False

    @staticmethod
    async def _without_cluster(
        incident: Incident,
        labels: dict[str, str],
        providers: Sequence[EvidenceProvider],
        note: str,
    ) -> Investigation:
        """Evidence from the knowledge base, drift and history alone; no rule can name a cause."""
        target = label_target(incident)
        book = EvidenceBook()
        book.add("cluster", note)
        for provider in providers:
            for item in await provider.evidence(target, labels):
                book.add(item.source, item.text)
        return Investigation(target, book.items, [])

    async def diagnose(
        self, session: AsyncSession, incident: Incident, *, requested_by: str
    ) -> DiagnosisRecord:
        """Investigate and explain the incident, store the diagnosis and put it on the timeline
        (the model is asked before anything is written, so no lock waits on it)."""
        investigation, resolved = await self.investigate(session, incident)
        reply = None
        if self.policy.use_model:
            diagnosis, reply = await explain(
                investigation,
                router=self._router,
                incident=incident_brief(incident),
                subject=self._subject(incident, investigation),
                max_prompt_chars=self.policy.max_prompt_chars,
            )
        else:
            reason = "model not asked (ai.diagnose_incidents is false)"
            diagnosis = rules_diagnosis(investigation, reason=reason)
        record = self._record(incident, investigation, diagnosis, resolved, requested_by, reply)
        attempts = [
            {"provider": a.provider, "reason": a.reason or a.error_class}
            for a in getattr(reply, "attempts", ())
        ]
        if reply is not None and reply.rejected:
            # Told later, once: by the repair decision, or when the job ends without one.
            record.answer = {
                **record.answer,
                "rejected": rejection_of(reply.error, attempts, told=False),
            }
        session.add(record)
        await session.flush()
        if reply is not None and reply.rejected:
            add_event(
                session,
                incident,
                actor=ACTOR,
                event="diagnosis_rejected",
                detail={"error": reply.error, "attempts": attempts},
            )
        add_event(session, incident, actor=ACTOR, event="diagnosis", detail=_event(record, reply))
        return record

    def _subject(self, incident: Incident, investigation: Investigation) -> RejectionSubject:
        """What a rejection notice says about the incident: which one, and the top findings."""
        findings = investigation.findings[:SHOWN_FINDINGS]
        lines = [f"Target: {investigation.target}"]
        lines += [f"Finding: {f.cause.value} ({f.confidence:.2f}): {f.summary}" for f in findings]
        if not findings:
            lines.append("Finding: none of the rules named a cause")
        link = incident_link(self.policy.public_url, incident.human_id)
        # This job tells a human itself, in its own transaction (`diagnosis.rejections`).
        return RejectionSubject(
            f"{incident.human_id} {incident.title}", tuple(lines), link, caller_notifies=True
        )

    @staticmethod
    def _record(
        incident: Incident,
        investigation: Investigation,
        diagnosis: dict[str, Any],
        resolved: bool,
        requested_by: str,
        reply: Any,
    ) -> DiagnosisRecord:
        cause = str(diagnosis.get("cause") or "")
        target = investigation.target
        return DiagnosisRecord(
            incident_id=incident.id,
            made_by=str(diagnosis.get("by")),
            cause=Cause(cause) if cause in Cause.__members__ else None,
            summary=str(diagnosis.get("summary") or ""),
            confidence=diagnosis.get("confidence"),
            provider=getattr(reply, "provider", None) if diagnosis.get("by") == "model" else None,
            target_kind=target.kind[:32],
            target_namespace=target.namespace[:253],
            target_name=target.name[:253],
            target_resolved=resolved,
            findings=[finding.to_json() for finding in investigation.findings],
            evidence=[item.to_json() for item in investigation.evidence],
            answer=diagnosis,
            requested_by=requested_by[:128],
        )


def _event(record: DiagnosisRecord, reply: Any) -> dict[str, Any]:
    """The timeline's view of a diagnosis: what it says, with a pointer to the whole of it."""
    detail: dict[str, Any] = {
        "diagnosis_id": record.id,
        "by": record.made_by,
        "cause": record.cause,
        "summary": record.summary[:MAX_EVENT_SUMMARY],
        "confidence": record.confidence,
        "target": {
            "kind": record.target_kind,
            "namespace": record.target_namespace,
            "name": record.target_name,
        },
        "findings": record.findings[:SHOWN_FINDINGS],
        "evidence_count": len(record.evidence),
        "probable_causes": record.answer.get("probable_causes", []),
        "suggested_playbooks": record.answer.get("suggested_playbooks", []),
    }
    if record.made_by == "model" and reply is not None:
        detail |= {
            "provider": reply.provider,
            "latency_ms": getattr(reply, "latency_ms", None),
            "total_tokens": getattr(reply, "total_tokens", None),
            "cost_usd": getattr(reply, "cost_usd", None),
        }
    return detail

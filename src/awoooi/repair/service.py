"""Auto-repair decisions in the caller's session: record a verdict, approve, reject, expire.

A repair's life: decided (recorded with its reasons) -> queued, or pending approval, or
blocked -> running (claimed under a per-target lock by `RepairRunner`) -> succeeded | failed |
interrupted (a restart cut a step with side effects short: nothing is learnt, a human is told).
Every write of this module happens in the caller's transaction and never commits; human
decisions are audited here, in the same transaction, whatever door they came through.

The incident follows its repair: `repairing` once a repair is decided to run (or approved),
`awaiting_approval` while one waits for a human, `escalated` when a gate blocks it, it fails or
is interrupted — or when the diagnosis was rejected and no repair can run (one notification
says both) — `resolved` after a success once its alerts stopped, else `open` again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from awoooi.adapters.kube import KubeClient
from awoooi.core.audit import SYSTEM_CALLER, Caller, Door, record_audit
from awoooi.core.db import utcnow
from awoooi.core.errors import ConflictError, InvalidInputError, NotFoundError
from awoooi.core.jobs import JobContext, JobFailure, JobRegistry, enqueue
from awoooi.core.locks import lock_names
from awoooi.core.redact import redact, redact_structure
from awoooi.diagnosis.models import DiagnosisRecord
from awoooi.diagnosis.rejections import (
    mark_told,
    notify_rejection,
    rejection_lines,
    untold_rejection,
)
from awoooi.incidents import service as incidents
from awoooi.incidents.models import Incident, IncidentStatus
from awoooi.incidents.service import add_event, advance
from awoooi.knowledge.harvest import RepairReport, queue_harvest
from awoooi.notify.routing import ChannelChoice
from awoooi.repair import repository
from awoooi.repair.actions import Params
from awoooi.repair.decide import RepairDecider, RepairDecision
from awoooi.repair.models import (
    GateName,
    Repair,
    RepairStatus,
    RepairStep,
    StepStatus,
    Verdict,
)
from awoooi.repair.notices import RepairNotices
from awoooi.repair.playbooks import PlaybookCatalog, ResolvedPlan
from awoooi.repair.runner import AutoRepairResult, RepairRunner, repair_locks, step_result
from awoooi.repair.settings import RepairSettings

DECIDE_JOB = "repair.decide"
EXECUTE_JOB = "repair.execute"
EXPIRE_JOB = "repair.expire"
SYSTEM_ACTOR = "awoooi:repair"
REPAIR_CALLER = Caller(SYSTEM_ACTOR, Door.SYSTEM)
# A repair job is resumed after a crash, not retried from scratch; a few claims are plenty.
EXECUTE_JOB_ATTEMPTS = 5


class NotYetExpiredError(Exception):
    """The expiry job ran before the deadline; its retry comes later."""


@dataclass
class RepairPolicy:
    """The settings a repair service needs."""

    repair: RepairSettings
    anti_pattern_days: float
    channels: ChannelChoice
    public_url: str = "http://127.0.0.1:8080"


def redacted_params(params: Params) -> dict[str, Any]:
    """A step's parameters as stored and shown: secrets (and secret-looking headers) masked."""
    cleaned: dict[str, Any] = redact_structure(params.model_dump(mode="json"))
    return cleaned


def plan_document(plan: ResolvedPlan) -> list[dict[str, Any]]:
    """The plan as stored on the repair (redacted)."""
    return [
        {
            "position": step.position,
            "action": step.action,
            "params": redacted_params(step.params),
            "timeout": step.timeout,
        }
        for step in plan.steps
    ]


def planned_steps(repair: Repair, plan: ResolvedPlan) -> list[RepairStep]:
    """The plan's steps as rows, every one PLANNED."""
    return [
        RepairStep(
            repair_id=repair.id,
            position=step.position,
            action=step.action,
            params=redacted_params(step.params),
            status=StepStatus.PLANNED,
        )
        for step in plan.steps
    ]


async def move_incident(
    session: AsyncSession,
    incident: Incident,
    to: IncidentStatus,
    why: str,
    *,
    caller: Caller = REPAIR_CALLER,
    only_from: IncidentStatus | None = None,
) -> None:
    """Change the incident's status when its life cycle allows it (a human may be ahead of us),
    with its timeline entry and audit record."""
    await advance(session, incident, to, caller=caller, reason=why, only_from=only_from)


_STATUS_OF_VERDICT = {
    Verdict.NO_PLAYBOOK: RepairStatus.NO_PLAYBOOK,
    Verdict.BLOCKED: RepairStatus.BLOCKED,
    Verdict.NEEDS_APPROVAL: RepairStatus.PENDING_APPROVAL,
    Verdict.AUTO: RepairStatus.QUEUED,
}


class RepairService:
    """Decides, records and approves repairs; `runner` runs them (the job boundary)."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        catalog: PlaybookCatalog,
        policy: RepairPolicy,
        *,
        kube: Callable[[], KubeClient | None] = lambda: None,
        http: httpx.AsyncClient | None = None,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.policy = policy
        self._now = now
        self.decider = RepairDecider(
            catalog, policy.repair, anti_pattern_days=policy.anti_pattern_days, kube=kube, now=now
        )
        self.notices = RepairNotices(policy.channels, policy.public_url, policy.anti_pattern_days)
        self.runner = RepairRunner(session_factory, self, http=http, now=now)

    @property
    def catalog(self) -> PlaybookCatalog:
        """The loaded playbooks."""
        return self.decider.catalog

    @property
    def settings(self) -> RepairSettings:
        """The repair settings."""
        return self.policy.repair

    def register(self, registry: JobRegistry) -> None:
        """Register the decide, execute and expire jobs."""
        registry.register(DECIDE_JOB, self._decide_job)
        registry.register(EXECUTE_JOB, self.runner.execute_job, on_failure=self._execute_failed)
        registry.register(EXPIRE_JOB, self._expire_job)

    async def aclose(self) -> None:
        """Close the HTTP client the runner opened."""
        await self.runner.aclose()

    async def decide(
        self, session: AsyncSession, incident: Incident, *, now: datetime | None = None
    ) -> RepairDecision:
        """The verdict for an incident (writes nothing); see `RepairDecider.decide`."""
        return await self.decider.decide(session, incident, now=now)

    async def run_repair(self, repair_id: int) -> Repair | None:
        """Run a queued repair now; see `RepairRunner.run_repair`."""
        return await self.runner.run_repair(repair_id)

    # ------------------------------------------------------------------ record

    async def decide_and_record(
        self, session: AsyncSession, incident: Incident, *, caller: Caller
    ) -> Repair:
        """Someone asks for a repair now: decide, record, act on it, and audit the request."""
        await lock_names(session, [f"incident:{incident.id}"])
        decision = await self.decide(session, incident)
        # People are recorded as user:<name>; awoooi itself under its own actor name.
        requester = caller.actor if caller.door is Door.SYSTEM else f"user:{caller.actor}"
        repair = await self.record(session, incident, decision, actor=requester)
        await self._audit(session, caller, "request", repair)
        return repair

    async def record(
        self, session: AsyncSession, incident: Incident, decision: RepairDecision, *, actor: str
    ) -> Repair:
        """Persist a decision with its reasons and act on it (in the caller's transaction)."""
        now = self._now()
        playbook, plan = decision.playbook, decision.plan
        status = _STATUS_OF_VERDICT[decision.verdict]
        if decision.dry_run and status in {RepairStatus.QUEUED, RepairStatus.PENDING_APPROVAL}:
            status = RepairStatus.DRY_RUN
        waits = status is RepairStatus.PENDING_APPROVAL
        repair = Repair(
            incident_id=incident.id,
            playbook_id=playbook.id if playbook else None,
            playbook_name=playbook.name if playbook else None,
            playbook_digest=playbook.digest if playbook else None,
            target=plan.target_key if plan else None,
            verdict=decision.verdict,
            gate=decision.gate,
            reasons=[redact(reason) for reason in decision.reasons],
            status=status,
            dry_run=decision.dry_run,
            risk=playbook.risk if playbook else None,
            symptoms_hash=incident.symptoms_hash,
            anti_pattern_id=decision.anti_pattern_id,
            finding=decision.finding.to_json() if decision.finding else None,
            plan=plan_document(plan) if plan else [],
            requested_by=actor[:128],
            decided_at=None if waits else now,
            expires_at=now + timedelta(hours=self.settings.approval_ttl_hours) if waits else None,
            created_at=now,
            updated_at=now,
        )
        session.add(repair)
        await session.flush()
        add_event(
            session,
            incident,
            actor=actor,
            event="repair_decision",
            detail={
                "repair_id": repair.id,
                "verdict": decision.verdict.value,
                "playbook": repair.playbook_id,
                "gate": repair.gate,
                "dry_run": decision.dry_run,
                "reasons": repair.reasons,
            },
        )
        # A rejected diagnosis nobody was told about yet: this decision tells it.
        rejection = await untold_rejection(session, incident)
        if status is RepairStatus.BLOCKED and not decision.dry_run:
            # In dry-run the verdict is recorded and nobody is paged: nothing would have run.
            await self._escalate(session, incident, repair, decision, rejection)
        elif status is RepairStatus.NO_PLAYBOOK and rejection is not None:
            # Neither the model nor a playbook: a human must take it (dry-run or not, nothing
            # would have run), told once with both.
            await self._escalate(session, incident, repair, decision, rejection)
        elif waits:
            await self.notices.approval_needed(session, incident, repair)
            await enqueue(
                session,
                EXPIRE_JOB,
                {"repair_id": repair.id},
                f"repair-expire:{repair.id}",
                run_at=repair.expires_at,
            )
        elif status is RepairStatus.QUEUED:
            await self._queue_execution(session, repair)
        elif status is RepairStatus.DRY_RUN and plan is not None:
            session.add_all(planned_steps(repair, plan))
        if rejection is not None and rejection.answer["rejected"].get("told") is False:
            await notify_rejection(
                session,
                incident,
                rejection,
                channels=self.policy.channels,
                public_url=self.policy.public_url,
            )
        await self._follow_decision(session, incident, repair)
        await session.flush()
        return repair

    async def _follow_decision(
        self, session: AsyncSession, incident: Incident, repair: Repair
    ) -> None:
        """The incident's status after a decision that did not escalate it."""
        label = f"repair #{repair.id} ({repair.playbook_id})"
        if repair.status == RepairStatus.QUEUED:
            await move_incident(
                session, incident, IncidentStatus.REPAIRING, f"{label} runs without approval"
            )
        elif repair.status == RepairStatus.PENDING_APPROVAL:
            await move_incident(
                session, incident, IncidentStatus.AWAITING_APPROVAL, f"{label} waits for approval"
            )
        else:
            # Diagnosed, and nothing runs by itself (no playbook, dry-run): a person's turn.
            why = repair.reasons[-1] if repair.reasons else repair.status
            await move_incident(
                session,
                incident,
                IncidentStatus.OPEN,
                f"no automatic repair: {why}",
                only_from=IncidentStatus.DIAGNOSING,
            )

    async def _queue_execution(self, session: AsyncSession, repair: Repair) -> None:
        await enqueue(
            session,
            EXECUTE_JOB,
            {"repair_id": repair.id},
            f"repair:{repair.id}",
            max_attempts=EXECUTE_JOB_ATTEMPTS,
        )

    async def _escalate(
        self,
        session: AsyncSession,
        incident: Incident,
        repair: Repair,
        decision: RepairDecision,
        rejection: DiagnosisRecord | None = None,
    ) -> None:
        reason = decision.reasons[-1]
        if rejection is not None:
            blocked = repair.status == RepairStatus.BLOCKED
            why = f"repair blocked: {reason}" if blocked else reason
            await move_incident(
                session, incident, IncidentStatus.ESCALATED, f"diagnosis rejected and {why}"
            )
            await self.notices.escalated(
                session, incident, repair, diagnosis=rejection_lines(rejection)
            )
            mark_told(rejection)
            return
        await move_incident(
            session, incident, IncidentStatus.ESCALATED, f"repair blocked: {reason}"
        )
        await self.notices.blocked(
            session,
            incident,
            repair,
            gate=decision.gate,
            reason=reason,
            anti_pattern_title=decision.anti_pattern_title,
        )

    async def block(
        self, session: AsyncSession, repair: Repair, incident: Incident, decision: RepairDecision
    ) -> None:
        """A gate stopped a queued repair at start: record it and tell people (unless the
        incident was resolved meanwhile, which needs nobody)."""
        assert decision.gate is not None
        reason = decision.reasons[-1]
        # The verdict stays what was decided; the status says a gate stopped it at start.
        repair.status = RepairStatus.BLOCKED
        repair.gate = decision.gate
        repair.reasons = [*repair.reasons, redact(reason)]
        repair.finished_at = None
        repair.updated_at = self._now()
        if decision.anti_pattern_id is not None:
            repair.anti_pattern_id = decision.anti_pattern_id
        add_event(
            session,
            incident,
            actor=SYSTEM_ACTOR,
            event="repair_blocked",
            detail={"repair_id": repair.id, "gate": decision.gate.value, "reason": reason},
        )
        if decision.gate is not GateName.RESOLVED:
            await self._escalate(session, incident, repair, decision)
        await session.flush()

    async def start(
        self, session: AsyncSession, repair: Repair, incident: Incident, plan: ResolvedPlan
    ) -> None:
        """Mark a queued repair running, with its steps planned and the incident repairing."""
        now = self._now()
        repair.status = RepairStatus.RUNNING
        repair.started_at = now
        repair.updated_at = now
        session.add_all(planned_steps(repair, plan))
        await move_incident(
            session, incident, IncidentStatus.REPAIRING, f"repair #{repair.id} started"
        )
        add_event(
            session,
            incident,
            actor=SYSTEM_ACTOR,
            event="repair_started",
            detail={"repair_id": repair.id, "playbook": repair.playbook_id},
        )
        await session.flush()

    async def finish(self, session: AsyncSession, repair: Repair, result: AutoRepairResult) -> None:
        """Record a run's result, queue the knowledge harvest and move the incident, together."""
        if result.interrupted:
            await self.interrupt(session, repair, reason=result.error or "interrupted by a restart")
            return
        now = self._now()
        repair.status = RepairStatus.SUCCEEDED if result.success else RepairStatus.FAILED
        repair.success = result.success
        repair.finished_at = now
        started = repair.started_at or now
        repair.execution_ms = max(
            result.execution_time_ms, int((now - started).total_seconds() * 1000)
        )
        repair.error = redact(result.error) if result.error else None
        repair.updated_at = now
        incident = await incidents.get_incident(session, repair.incident_id)
        steps = await repository.steps_of(session, repair.id)
        report = RepairReport(
            attempt_id=str(repair.id),
            incident_id=incident.human_id if incident else str(repair.incident_id),
            playbook_id=repair.playbook_id or "",
            playbook_name=repair.playbook_name or "",
            success=result.success,
            execution_ms=repair.execution_ms,
            symptoms_hash=repair.symptoms_hash,
            steps=tuple(step_result(step) for step in steps if step.finished_at),
            error=repair.error,
        )
        await queue_harvest(session, report)
        if incident is not None:
            await self._after_result(session, incident, repair)

    async def _after_result(
        self, session: AsyncSession, incident: Incident, repair: Repair
    ) -> None:
        await session.refresh(incident)
        add_event(
            session,
            incident,
            actor=SYSTEM_ACTOR,
            event="repair_succeeded" if repair.success else "repair_failed",
            detail={
                "repair_id": repair.id,
                "playbook": repair.playbook_id,
                "execution_ms": repair.execution_ms,
                "error": repair.error,
            },
        )
        if repair.success:
            firing = await incidents.firing_alerts(session, incident.id)
            to = IncidentStatus.OPEN if firing else IncidentStatus.RESOLVED
            why = f"repair #{repair.id} succeeded" + ("; its alerts still fire" if firing else "")
            await move_incident(session, incident, to, why)
            await incidents.resolve_parent_when_done(session, incident, caller=REPAIR_CALLER)
            return
        await move_incident(
            session, incident, IncidentStatus.ESCALATED, f"repair #{repair.id} failed"
        )
        await self.notices.failed(session, incident, repair)

    def resumed(
        self, session: AsyncSession, incident: Incident, repair_id: int, position: int, action: str
    ) -> None:
        """Note on the timeline that a step without side effects runs again after a restart."""
        add_event(
            session,
            incident,
            actor=SYSTEM_ACTOR,
            event="repair_resumed",
            detail={"repair_id": repair_id, "step": position + 1, "action": action},
        )

    async def interrupt(self, session: AsyncSession, repair: Repair, *, reason: str) -> None:
        """End a running repair as `interrupted`: its running step's effect is unknown. Neither
        a success nor a failure, so nothing is harvested; the incident is escalated, a human is
        told which step was running, and the audit keeps it."""
        now = self._now()
        repair.status = RepairStatus.INTERRUPTED
        repair.success = None
        repair.finished_at = now
        repair.execution_ms = int((now - (repair.started_at or now)).total_seconds() * 1000)
        repair.error = redact(reason)
        repair.updated_at = now
        steps = await repository.steps_of(session, repair.id)
        step = next((step for step in steps if step.status == StepStatus.RUNNING), None)
        if step is not None:
            step.status = StepStatus.INTERRUPTED
            step.finished_at = now
            step.error = repair.error
        where = {
            "step": step.position + 1 if step else None,
            "action": step.action if step else None,
        }
        await record_audit(
            session,
            SYSTEM_CALLER,
            action="repair.interrupted",
            target=f"repair:{repair.id}",
            detail={"playbook": repair.playbook_id, "target": repair.target, **where},
        )
        incident = await incidents.get_incident(session, repair.incident_id)
        if incident is None:
            return
        await session.refresh(incident)
        add_event(
            session,
            incident,
            actor=SYSTEM_ACTOR,
            event="repair_interrupted",
            detail={
                "repair_id": repair.id,
                "playbook": repair.playbook_id,
                **where,
                "error": repair.error,
            },
        )
        await move_incident(
            session, incident, IncidentStatus.ESCALATED, f"repair #{repair.id} was interrupted"
        )
        await self.notices.interrupted(session, incident, repair, step)

    async def _execute_failed(self, session: AsyncSession, failure: JobFailure) -> None:
        """The execute job is dead: a repair it left running is interrupted, so its target is
        free again and a human knows."""
        if not failure.dead:
            return
        repair = await repository.get(session, int(failure.payload["repair_id"]))
        if repair is None:
            return
        await lock_names(session, repair_locks(repair))
        await session.refresh(repair)
        if repair.status != RepairStatus.RUNNING:
            return
        reason = (
            f"the repair job gave up after {failure.attempt} attempt(s) ({failure.error}); "
            "the effect of the step that was running is unknown"
        )
        await self.interrupt(session, repair, reason=reason)

    # ------------------------------------------------------------------ approvals

    async def _pending(self, session: AsyncSession, repair_id: int) -> Repair:
        """The repair, locked, and still waiting for a human before its deadline."""
        await lock_names(session, [f"repair:{repair_id}"])
        repair = await repository.get(session, repair_id)
        if repair is None:
            raise NotFoundError(f"no repair {repair_id}")
        await session.refresh(repair)
        if repair.status != RepairStatus.PENDING_APPROVAL:
            raise ConflictError(
                f"repair {repair.id} is {repair.status}; only a pending_approval repair can be "
                "approved or rejected"
            )
        if repair.expires_at is not None and repair.expires_at <= self._now():
            raise ConflictError(
                f"repair {repair.id} expired at {repair.expires_at:%Y-%m-%d %H:%M} UTC; "
                "ask for a new decision (POST /api/v1/incidents/{id}/repair)"
            )
        return repair

    async def _decide_by_human(
        self,
        session: AsyncSession,
        repair_id: int,
        *,
        caller: Caller,
        to: RepairStatus,
        note: str | None,
        event: str,
        note_key: str,
    ) -> Repair:
        repair = await self._pending(session, repair_id)
        now = self._now()
        repair.status = to
        repair.decided_by = caller.actor[:128]
        repair.decided_at = now
        repair.decision_note = redact(note) if note else None
        repair.updated_at = now
        incident = await incidents.get_incident(session, repair.incident_id)
        if incident is not None:
            add_event(
                session,
                incident,
                actor=caller.actor,
                event=event,
                detail={"repair_id": repair.id, note_key: repair.decision_note},
            )
        await session.flush()
        return repair

    async def approve(
        self, session: AsyncSession, repair_id: int, *, caller: Caller, note: str | None = None
    ) -> Repair:
        """pending_approval -> queued (runs on a worker, gates checked again first); audited."""
        repair = await self._decide_by_human(
            session,
            repair_id,
            caller=caller,
            to=RepairStatus.QUEUED,
            note=note,
            event="repair_approved",
            note_key="note",
        )
        await self._queue_execution(session, repair)
        await self._audit(session, caller, "approve", repair)
        incident = await incidents.get_incident(session, repair.incident_id)
        if incident is not None:
            await move_incident(
                session,
                incident,
                IncidentStatus.REPAIRING,
                f"repair #{repair.id} approved by {caller.actor}",
                caller=caller,
            )
        return repair

    async def reject(
        self, session: AsyncSession, repair_id: int, *, caller: Caller, reason: str
    ) -> Repair:
        """pending_approval -> rejected (nothing runs; the incident stays with humans); audited."""
        if not reason.strip():
            raise InvalidInputError("a reason is required to reject a repair")
        repair = await self._decide_by_human(
            session,
            repair_id,
            caller=caller,
            to=RepairStatus.REJECTED,
            note=reason.strip(),
            event="repair_rejected",
            note_key="reason",
        )
        await self._audit(session, caller, "reject", repair)
        incident = await incidents.get_incident(session, repair.incident_id)
        if incident is not None:
            # A person said no to the fix: the incident is theirs now.
            await move_incident(
                session,
                incident,
                IncidentStatus.ESCALATED,
                f"repair #{repair.id} rejected by {caller.actor}: {reason.strip()}",
                caller=caller,
                only_from=IncidentStatus.AWAITING_APPROVAL,
            )
        return repair

    async def _audit(
        self, session: AsyncSession, caller: Caller, action: str, repair: Repair
    ) -> None:
        await record_audit(
            session,
            caller,
            action=f"repair.{action}",
            target=f"repair:{repair.id}",
            detail={
                "playbook": repair.playbook_id,
                "target": repair.target,
                "status": repair.status,
            },
        )

    # ------------------------------------------------------------------ jobs

    async def _decide_job(self, ctx: JobContext) -> None:
        incident_id = int(ctx.payload["incident_id"])
        await lock_names(ctx.session, [f"incident:{incident_id}"])
        incident = await incidents.get_incident(ctx.session, incident_id)
        if incident is None or incident.status == IncidentStatus.RESOLVED:
            return
        if await repository.count_for_incident(ctx.session, incident.id):
            return  # decided already: by a retried job, or by an operator through the API
        if incident.parent_id is not None:
            # Queued before its storm formed: the storm speaks for it now; a person may still
            # ask for its repair, which then waits for approval (the storm gate).
            return
        decision = await self.decide(ctx.session, incident)
        await self.record(ctx.session, incident, decision, actor=SYSTEM_ACTOR)

    async def _expire_job(self, ctx: JobContext) -> None:
        """A repair still waiting for approval at its deadline becomes `expired`."""
        repair_id = int(ctx.payload["repair_id"])
        await lock_names(ctx.session, [f"repair:{repair_id}"])
        repair = await repository.get(ctx.session, repair_id)
        if repair is None or repair.status != RepairStatus.PENDING_APPROVAL:
            return
        if repair.expires_at is not None and repair.expires_at > self._now():
            # The job ran early (clocks of replicas differ): fail this attempt, retry later.
            raise NotYetExpiredError(f"repair {repair.id} expires at {repair.expires_at}")
        repair.status = RepairStatus.EXPIRED
        repair.updated_at = self._now()
        incident = await incidents.get_incident(ctx.session, repair.incident_id)
        if incident is not None:
            add_event(
                ctx.session,
                incident,
                actor=SYSTEM_ACTOR,
                event="repair_expired",
                detail={"repair_id": repair.id, "expired_at": str(repair.expires_at)},
            )
            await move_incident(
                ctx.session,
                incident,
                IncidentStatus.OPEN,
                f"repair #{repair.id} expired without a decision",
                only_from=IncidentStatus.AWAITING_APPROVAL,
            )


async def queue_decision(session: AsyncSession, incident_id: int) -> int:
    """Queue `decide` for a new incident (once per incident)."""
    return await enqueue(session, DECIDE_JOB, {"incident_id": incident_id}, f"decide:{incident_id}")

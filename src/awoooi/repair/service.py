"""Auto-repair: `decide()` runs the gates, `execute()` runs a plan, the jobs tie them together.

A repair's life: decided (recorded with its reasons) -> queued, or pending approval, or
blocked -> running (claimed under a per-target lock) -> succeeded | failed. The result and the
knowledge-harvest job are written in one transaction, so a crash can never leave a finished
repair that teaches nothing; a repair interrupted mid-way is resumed by its durable job.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from awoooi.adapters.kube import KubeClient, KubeError
from awoooi.core.db import utcnow
from awoooi.core.errors import ConflictError, InvalidInputError, NotFoundError
from awoooi.core.jobs import JobContext, JobRegistry, enqueue
from awoooi.core.locks import lock_names
from awoooi.core.logging import get_logger
from awoooi.core.redact import redact, redact_structure
from awoooi.incidents import repository as incidents
from awoooi.incidents.models import AlertStatus, Incident, IncidentAlert, IncidentStatus
from awoooi.incidents.service import TRANSITIONS, add_event, change_status
from awoooi.knowledge.harvest import RepairReport, StepResult, queue_harvest
from awoooi.notify.actions import ChannelChoice
from awoooi.notify.base import Button, Severity
from awoooi.notify.service import notify
from awoooi.repair import gates, repository
from awoooi.repair.actions import ActionContext, ActionFailed, Params, run_action
from awoooi.repair.models import (
    FINISHED_STATUSES,
    Repair,
    RepairStatus,
    RepairStep,
    StepStatus,
    Verdict,
)
from awoooi.repair.playbooks import (
    Playbook,
    PlaybookCatalog,
    ResolvedPlan,
    UnresolvedPlaceholder,
    resolve_plan,
)
from awoooi.repair.settings import RepairSettings

log = get_logger(__name__)

DECIDE_JOB = "repair.decide"
EXECUTE_JOB = "repair.execute"
EXPIRE_JOB = "repair.expire"
SYSTEM_ACTOR = "awoooi:repair"
# A repair job is resumed after a crash, not retried from scratch; a few claims are plenty.
EXECUTE_JOB_ATTEMPTS = 5


class NotYetExpiredError(Exception):
    """The expiry job ran before the deadline; its retry comes later."""


@dataclass(frozen=True)
class RepairDecision:
    """What `decide()` concluded, and why."""

    verdict: Verdict
    playbook: Playbook | None
    reasons: tuple[str, ...]
    plan: ResolvedPlan | None = None
    gate: str | None = None
    anti_pattern_id: int | None = None
    anti_pattern_title: str | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class ExecutionPlan:
    """A claimed repair ready to run."""

    repair_id: int
    incident_id: int
    incident_human_id: str
    symptoms_hash: str
    plan: ResolvedPlan


@dataclass(frozen=True)
class AutoRepairResult:
    """What `execute()` did."""

    success: bool
    executed_steps: tuple[StepResult, ...]
    execution_time_ms: int
    error: str | None = None


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


def _move(session: AsyncSession, incident: Incident, to: IncidentStatus, reason: str) -> None:
    """Change the incident's status when its life cycle allows it (a human may be ahead of us)."""
    current = IncidentStatus(incident.status)
    if current is not to and to in TRANSITIONS[current]:
        change_status(session, incident, to, actor=SYSTEM_ACTOR, reason=reason)


class RepairService:
    """Decides, records and runs repairs."""

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
        self._factory = session_factory
        self.catalog = catalog
        self.policy = policy
        self._kube = kube
        self._http = http
        self._now = now

    @property
    def settings(self) -> RepairSettings:
        """The repair settings."""
        return self.policy.repair

    def register(self, registry: JobRegistry) -> None:
        """Register the decide and execute jobs."""
        registry.register(DECIDE_JOB, self._decide_job)
        registry.register(EXECUTE_JOB, self._execute_job)
        registry.register(EXPIRE_JOB, self._expire_job)

    async def aclose(self) -> None:
        """Close the HTTP client this service opened."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            # No proxies from the environment and no redirects: the allow-list names the
            # host a step reaches, and a redirect must not take it elsewhere.
            self._http = httpx.AsyncClient(trust_env=False, follow_redirects=False, timeout=30.0)
        return self._http

    # ------------------------------------------------------------------ decide

    async def decide(
        self, session: AsyncSession, incident: Incident, *, now: datetime | None = None
    ) -> RepairDecision:
        """The verdict for an incident: the first matching playbook, through every gate in order."""
        moment = now or self._now()
        dry_run = self.settings.mode == "dry-run"
        reasons: list[str] = []
        chosen: tuple[Playbook, ResolvedPlan] | None = None
        cluster: bool | None = None
        for playbook in self.catalog.matching(incident):
            if playbook.needs_cluster:
                if cluster is None:
                    cluster = self._kube_or_none() is not None
                if not cluster:
                    # Running it would fail and publish an anti-pattern for a fix never tried.
                    reasons.append(
                        f"{playbook.id} matches but needs a Kubernetes cluster, and none is "
                        "configured (kube.server, kube.kubeconfig, kube.in_cluster)"
                    )
                    continue
            try:
                chosen = (playbook, resolve_plan(playbook, incident, self.settings))
                break
            except (UnresolvedPlaceholder, ValueError) as exc:
                reasons.append(f"{playbook.id} matches but cannot be planned: {exc}")
        if chosen is None:
            reasons.insert(0, "no playbook matches this incident")
            return RepairDecision(Verdict.NO_PLAYBOOK, None, tuple(reasons), dry_run=dry_run)
        playbook, plan = chosen
        reasons.append(f"playbook {playbook.id} matches; target {plan.target_key}")

        def blocked(found: gates.Blocked) -> RepairDecision:
            entry = found.anti_pattern
            return RepairDecision(
                Verdict.BLOCKED,
                playbook,
                (*reasons, found.reason),
                plan,
                gate=found.gate,
                anti_pattern_id=entry.id if entry else None,
                anti_pattern_title=entry.title if entry else None,
                dry_run=dry_run,
            )

        target = plan.target_key
        namespace = plan.target.namespace if plan.target else incident.namespace
        found = await gates.anti_pattern_gate(
            session, incident.symptoms_hash, self.policy.anti_pattern_days, moment
        )
        if found is None:
            found = gates.freeze_gate(self.settings.freeze_windows, moment, namespace)
        if found is None:
            found = await gates.cooldown_gate(session, target, playbook.cooldown, moment)
        if found is None:
            found = await gates.rate_limit_gate(
                session, target, self.settings.max_repairs_per_target_per_hour, moment
            )
        if found is None:
            found = await gates.attempts_gate(session, incident.id, playbook)
        if found is None:
            found = await gates.busy_gate(session, target)
        if found is not None:
            return blocked(found)
        reasons.append("anti-pattern, freeze, cooldown, rate limit and lock gates passed")
        approval = gates.approval_reason(playbook, self.settings)
        if approval is not None:
            return RepairDecision(
                Verdict.NEEDS_APPROVAL,
                playbook,
                (*reasons, approval),
                plan,
                gate="approval",
                dry_run=dry_run,
            )
        reasons.append(f"risk {playbook.risk} may run without approval")
        if dry_run:
            reasons.append("repair.mode is dry-run: planned and recorded, nothing runs")
        return RepairDecision(Verdict.AUTO, playbook, tuple(reasons), plan, dry_run=dry_run)

    # ------------------------------------------------------------------ record

    async def decide_and_record(
        self, session: AsyncSession, incident: Incident, *, actor: str = SYSTEM_ACTOR
    ) -> Repair:
        """Decide, then record the verdict, tell people, and queue the run if it may run."""
        await lock_names(session, [f"incident:{incident.id}"])
        decision = await self.decide(session, incident)
        return await self.record(session, incident, decision, actor=actor)

    async def record(
        self, session: AsyncSession, incident: Incident, decision: RepairDecision, *, actor: str
    ) -> Repair:
        """Persist a decision with its reasons and act on it (in the caller's transaction)."""
        now = self._now()
        playbook, plan = decision.playbook, decision.plan
        status = {
            Verdict.NO_PLAYBOOK: RepairStatus.NO_PLAYBOOK,
            Verdict.BLOCKED: RepairStatus.BLOCKED,
            Verdict.NEEDS_APPROVAL: RepairStatus.PENDING_APPROVAL,
            Verdict.AUTO: RepairStatus.QUEUED,
        }[decision.verdict]
        if decision.dry_run and status in {RepairStatus.QUEUED, RepairStatus.PENDING_APPROVAL}:
            status = RepairStatus.DRY_RUN
        repair = Repair(
            incident_id=incident.id,
            playbook_id=playbook.id if playbook else None,
            playbook_name=playbook.name if playbook else None,
            playbook_digest=playbook.digest if playbook else None,
            target=plan.target_key if plan else None,
            verdict=decision.verdict.value,
            gate=decision.gate,
            reasons=[redact(reason) for reason in decision.reasons],
            status=status.value,
            dry_run=decision.dry_run,
            risk=playbook.risk if playbook else None,
            symptoms_hash=incident.symptoms_hash,
            anti_pattern_id=decision.anti_pattern_id,
            plan=plan_document(plan) if plan else [],
            requested_by=actor[:128],
            decided_at=now if status is not RepairStatus.PENDING_APPROVAL else None,
            expires_at=now + timedelta(hours=self.settings.approval_ttl_hours)
            if status is RepairStatus.PENDING_APPROVAL
            else None,
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
                "gate": decision.gate,
                "dry_run": decision.dry_run,
                "reasons": repair.reasons,
            },
        )
        if status is RepairStatus.BLOCKED and not decision.dry_run:
            # In dry-run the verdict is recorded and nobody is paged: nothing would have run.
            await self._escalate_blocked(session, incident, repair, decision)
        elif status is RepairStatus.PENDING_APPROVAL:
            await self._ask_approval(session, incident, repair)
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
            for step in plan.steps:
                session.add(
                    RepairStep(
                        repair_id=repair.id,
                        position=step.position,
                        action=step.action,
                        params=redacted_params(step.params),
                        status=StepStatus.PLANNED.value,
                    )
                )
        await session.flush()
        return repair

    async def _queue_execution(self, session: AsyncSession, repair: Repair) -> None:
        await enqueue(
            session,
            EXECUTE_JOB,
            {"repair_id": repair.id},
            f"repair:{repair.id}",
            max_attempts=EXECUTE_JOB_ATTEMPTS,
        )

    async def _escalate_blocked(
        self, session: AsyncSession, incident: Incident, repair: Repair, decision: RepairDecision
    ) -> None:
        reason = decision.reasons[-1]
        _move(session, incident, IncidentStatus.ESCALATED, f"repair blocked: {reason}")
        if decision.gate == "anti_pattern":
            title = (
                f"{incident.human_id}: auto-repair blocked by anti-pattern "
                f"#{repair.anti_pattern_id}"
            )
            text = (
                f"{incident.title}\nPlaybook {repair.playbook_id} was not run: anti-pattern "
                f"#{decision.anti_pattern_id} ({decision.anti_pattern_title}) says it failed "
                f"for these symptoms ({incident.symptoms_hash}). A human needs to look."
            )
        else:
            title = f"{incident.human_id}: auto-repair blocked ({decision.gate})"
            text = f"{incident.title}\nPlaybook {repair.playbook_id} was not run: {reason}."
        await notify(
            session,
            kind="repair.blocked",
            title=title,
            text=text,
            channels=self.policy.channels,
            severity=Severity.HIGH,
            buttons=[Button(label="Open repair", url=self._link(repair))],
        )

    async def _ask_approval(
        self, session: AsyncSession, incident: Incident, repair: Repair
    ) -> None:
        steps = "\n".join(
            f"{step['position'] + 1}. {step['action']} {step['params']}" for step in repair.plan
        )
        expires = f"{repair.expires_at:%Y-%m-%d %H:%M} UTC" if repair.expires_at else "never"
        await notify(
            session,
            kind="repair.approval",
            title=f"{incident.human_id}: approve repair #{repair.id} ({repair.playbook_id})?",
            text=(
                f"{incident.title}\nTarget: {repair.target}\nRisk: {repair.risk}\nPlan:\n{steps}\n"
                f"Why it waits: {repair.reasons[-1]}\nExpires: {expires}\n"
                f"CLI: awoooi repairs approve {repair.id} | awoooi repairs reject {repair.id} "
                "--reason '...'"
            ),
            channels=self.policy.channels,
            severity=Severity.MEDIUM,
            # The buttons name server-side actions; channels that can press them do so
            # through the API, the others show the CLI line above.
            buttons=[
                Button(label="Approve", action_id=f"repair.approve:{repair.id}"),
                Button(label="Reject", action_id=f"repair.reject:{repair.id}"),
            ],
        )

    def _link(self, repair: Repair) -> str:
        return f"{self.policy.public_url.rstrip('/')}/api/v1/repairs/{repair.id}"

    # ------------------------------------------------------------------ approvals

    async def _locked(self, session: AsyncSession, repair_id: int) -> Repair:
        await lock_names(session, [f"repair:{repair_id}"])
        repair = await repository.get(session, repair_id)
        if repair is None:
            raise NotFoundError(f"no repair {repair_id}")
        await session.refresh(repair)
        return repair

    async def approve(
        self, session: AsyncSession, repair_id: int, *, actor: str, note: str | None = None
    ) -> Repair:
        """pending_approval -> queued (runs on a worker, gates checked again first)."""
        repair = await self._locked(session, repair_id)
        self._check_pending(repair)
        now = self._now()
        repair.status = RepairStatus.QUEUED.value
        repair.decided_by = actor[:128]
        repair.decided_at = now
        repair.decision_note = redact(note) if note else None
        repair.updated_at = now
        incident = await incidents.get_by_id(session, repair.incident_id)
        if incident is not None:
            add_event(
                session,
                incident,
                actor=actor,
                event="repair_approved",
                detail={"repair_id": repair.id, "note": repair.decision_note},
            )
        await self._queue_execution(session, repair)
        await session.flush()
        return repair

    async def reject(
        self, session: AsyncSession, repair_id: int, *, actor: str, reason: str
    ) -> Repair:
        """pending_approval -> rejected (nothing runs; the incident stays with humans)."""
        if not reason.strip():
            raise InvalidInputError("a reason is required to reject a repair")
        repair = await self._locked(session, repair_id)
        self._check_pending(repair)
        now = self._now()
        repair.status = RepairStatus.REJECTED.value
        repair.decided_by = actor[:128]
        repair.decided_at = now
        repair.decision_note = redact(reason.strip())
        repair.updated_at = now
        incident = await incidents.get_by_id(session, repair.incident_id)
        if incident is not None:
            add_event(
                session,
                incident,
                actor=actor,
                event="repair_rejected",
                detail={"repair_id": repair.id, "reason": repair.decision_note},
            )
        await session.flush()
        return repair

    def _check_pending(self, repair: Repair) -> None:
        if repair.status != RepairStatus.PENDING_APPROVAL.value:
            raise ConflictError(
                f"repair {repair.id} is {repair.status}; only a pending_approval repair can be "
                "approved or rejected"
            )
        if repair.expires_at is not None and repair.expires_at <= self._now():
            raise ConflictError(
                f"repair {repair.id} expired at {repair.expires_at:%Y-%m-%d %H:%M} UTC; "
                "ask for a new decision (POST /api/v1/incidents/{id}/repair)"
            )

    # ------------------------------------------------------------------ run

    async def _decide_job(self, ctx: JobContext) -> None:
        incident_id = int(ctx.payload["incident_id"])
        await lock_names(ctx.session, [f"incident:{incident_id}"])
        incident = await incidents.get_by_id(ctx.session, incident_id)
        if incident is None or incident.status == IncidentStatus.RESOLVED.value:
            return
        already = await ctx.session.scalar(
            select(func.count()).where(Repair.incident_id == incident.id)
        )
        if already:
            return  # decided already: by a retried job, or by an operator through the API
        await self.record(
            ctx.session, incident, await self.decide(ctx.session, incident), actor=SYSTEM_ACTOR
        )

    async def _execute_job(self, ctx: JobContext) -> None:
        await self.run_repair(int(ctx.payload["repair_id"]))

    async def _expire_job(self, ctx: JobContext) -> None:
        """A repair still waiting for approval at its deadline becomes `expired`."""
        repair_id = int(ctx.payload["repair_id"])
        await lock_names(ctx.session, [f"repair:{repair_id}"])
        repair = await repository.get(ctx.session, repair_id)
        if repair is None or repair.status != RepairStatus.PENDING_APPROVAL.value:
            return
        if repair.expires_at is not None and repair.expires_at > self._now():
            # The job ran early (clocks of replicas differ): fail this attempt, retry later.
            raise NotYetExpiredError(f"repair {repair.id} expires at {repair.expires_at}")
        repair.status = RepairStatus.EXPIRED.value
        repair.updated_at = self._now()
        incident = await incidents.get_by_id(ctx.session, repair.incident_id)
        if incident is not None:
            add_event(
                ctx.session,
                incident,
                actor=SYSTEM_ACTOR,
                event="repair_expired",
                detail={"repair_id": repair.id, "expired_at": str(repair.expires_at)},
            )

    async def run_repair(self, repair_id: int) -> Repair | None:
        """Claim a queued repair (or resume a running one), execute it, record the result and
        queue the harvest; returns the finished repair, or None when there was nothing to run."""
        execution = await self._claim(repair_id)
        if execution is None:
            async with self._factory() as session:
                return await repository.get(session, repair_id, with_steps=True)
        if isinstance(execution, str):
            await self._finish(repair_id, None, interrupted=execution)
        else:
            result = await self.execute(execution)
            await self._finish(repair_id, result)
        async with self._factory() as session:
            return await repository.get(session, repair_id, with_steps=True)

    async def _claim(self, repair_id: int) -> ExecutionPlan | str | None:
        """Move queued -> running under the target's lock; None when it must not run."""
        peeked = await self._peek(repair_id)
        if peeked is None:
            return None
        async with self._factory() as session, session.begin():
            # Locks first: on SQLite the write lock must come before the transaction's reads.
            await lock_names(session, self._lock_names(repair_id, *peeked))
            repair = await repository.get(session, repair_id)
            if repair is None or RepairStatus(repair.status) in FINISHED_STATUSES:
                return None
            if repair.status == RepairStatus.PENDING_APPROVAL.value:
                return None
            incident = await incidents.get_by_id(session, repair.incident_id)
            if incident is None:
                return None
            resuming = repair.status == RepairStatus.RUNNING.value
            plan_or_reason = self._replan(repair, incident)
            if isinstance(plan_or_reason, str):
                if resuming:
                    return plan_or_reason
                await self._block(session, repair, incident, "playbook", plan_or_reason)
                return None
            if resuming:
                return self._execution(repair, incident, plan_or_reason)
            if repair.status != RepairStatus.QUEUED.value:
                return None
            found = await self._gates_at_start(
                session, repair, incident, plan_or_reason.playbook
            )
            if found is not None:
                await self._block(session, repair, incident, found.gate, found.reason, found)
                return None
            now = self._now()
            repair.status = RepairStatus.RUNNING.value
            repair.started_at = now
            repair.updated_at = now
            for step in plan_or_reason.steps:
                session.add(
                    RepairStep(
                        repair_id=repair.id,
                        position=step.position,
                        action=step.action,
                        params=redacted_params(step.params),
                        status=StepStatus.PLANNED.value,
                    )
                )
            _move(session, incident, IncidentStatus.REPAIRING, f"repair #{repair.id} started")
            add_event(
                session,
                incident,
                actor=SYSTEM_ACTOR,
                event="repair_started",
                detail={"repair_id": repair.id, "playbook": repair.playbook_id},
            )
            try:
                await session.flush()
            except IntegrityError:
                # Another replica claimed the same target between our check and our write.
                await session.rollback()
                await self._claim_lost(repair_id)
                return None
            return self._execution(repair, incident, plan_or_reason)

    async def _peek(self, repair_id: int) -> tuple[str | None, int] | None:
        """The repair's target and incident, read before locking (they never change)."""
        async with self._factory() as session:
            repair = await repository.get(session, repair_id)
            return None if repair is None else (repair.target, repair.incident_id)

    @staticmethod
    def _lock_names(repair_id: int, target: str | None, incident_id: int) -> list[str]:
        names = [f"repair:{repair_id}", f"incident:{incident_id}"]
        return [*names, f"repair-target:{target}"] if target else names

    async def _claim_lost(self, repair_id: int) -> None:
        peeked = await self._peek(repair_id)
        if peeked is None:
            return None
        async with self._factory() as session, session.begin():
            await lock_names(session, self._lock_names(repair_id, *peeked))
            repair = await repository.get(session, repair_id)
            incident = await incidents.get_by_id(session, repair.incident_id) if repair else None
            if repair is not None and incident is not None:
                reason = f"another repair is running on {repair.target}"
                await self._block(session, repair, incident, "busy", reason)
        return None

    def _replan(self, repair: Repair, incident: Incident) -> ResolvedPlan | str:
        playbook = self.catalog.get(repair.playbook_id or "")
        if playbook is None:
            return f"playbook {repair.playbook_id} is no longer loaded"
        if playbook.digest != repair.playbook_digest:
            return f"playbook {playbook.id} changed since the decision; decide again"
        try:
            return resolve_plan(playbook, incident, self.settings)
        except (UnresolvedPlaceholder, ValueError) as exc:
            return f"cannot plan {playbook.id}: {exc}"

    @staticmethod
    def _execution(repair: Repair, incident: Incident, plan: ResolvedPlan) -> ExecutionPlan:
        return ExecutionPlan(repair.id, incident.id, incident.human_id, repair.symptoms_hash, plan)

    async def _gates_at_start(
        self, session: AsyncSession, repair: Repair, incident: Incident, playbook: Playbook
    ) -> gates.Blocked | None:
        """The gates that can change between the decision and the run (an approval may be
        hours old): incident state, anti-patterns, freezes, per-target limits, the lock."""
        if incident.status == IncidentStatus.RESOLVED.value:
            return gates.Blocked("resolved", "the incident was resolved before the repair ran")
        now = self._now()
        found = await gates.anti_pattern_gate(
            session, repair.symptoms_hash, self.policy.anti_pattern_days, now
        )
        if found is None:
            # A workload target is "namespace/Kind/name"; a target-less playbook's key is
            # "playbook/<id>", which names no namespace: the incident's counts (as in decide()).
            parts = (repair.target or "").split("/")
            namespace = parts[0] if len(parts) == 3 else incident.namespace
            found = gates.freeze_gate(self.settings.freeze_windows, now, namespace)
        if found is None and repair.target:
            # Other repairs may have run on the target since the decision (an approval can
            # come hours later): the per-target limits hold at start too.
            found = await gates.cooldown_gate(session, repair.target, playbook.cooldown, now)
        if found is None and repair.target:
            found = await gates.rate_limit_gate(
                session, repair.target, self.settings.max_repairs_per_target_per_hour, now
            )
        if found is None:
            found = await gates.attempts_gate(session, incident.id, playbook)
        if found is None and repair.target:
            # Only a running repair blocks a queued one; queued ones go first come, first served.
            running = await repository.running_on(session, repair.target, exclude_id=repair.id)
            if running is not None:
                found = gates.Blocked(
                    "busy", f"repair #{running.id} is already running on {repair.target}"
                )
        return found

    async def _block(
        self,
        session: AsyncSession,
        repair: Repair,
        incident: Incident,
        gate: str,
        reason: str,
        found: gates.Blocked | None = None,
    ) -> None:
        now = self._now()
        # The verdict stays what was decided; the status says a gate stopped it at start.
        repair.status = RepairStatus.BLOCKED.value
        repair.gate = gate
        repair.reasons = [*repair.reasons, redact(reason)]
        repair.finished_at = None
        repair.updated_at = now
        entry = found.anti_pattern if found else None
        if entry is not None:
            repair.anti_pattern_id = entry.id
        add_event(
            session,
            incident,
            actor=SYSTEM_ACTOR,
            event="repair_blocked",
            detail={"repair_id": repair.id, "gate": gate, "reason": reason},
        )
        if gate != "resolved":
            decision = RepairDecision(
                Verdict.BLOCKED,
                None,
                (reason,),
                gate=gate,
                anti_pattern_id=entry.id if entry else None,
                anti_pattern_title=entry.title if entry else None,
            )
            await self._escalate_blocked(session, incident, repair, decision)
        await session.flush()

    async def execute(self, execution: ExecutionPlan) -> AutoRepairResult:
        """Run the steps in order (each with its timeout, stopping at the first failure), then
        verify; every step is recorded as it starts and ends."""
        started = time.perf_counter()
        recorded = await self._recorded_steps(execution.repair_id)
        results: list[StepResult] = []
        error: str | None = None
        context = ActionContext(
            kube=self._kube_or_none(),
            http=self._client(),
            settings=self.settings,
            target=execution.plan.target,
            now=self._now,
        )
        for step in execution.plan.steps:
            previous = recorded.get(step.position)
            if previous is not None and previous.status == StepStatus.SUCCEEDED.value:
                results.append(_step_result(previous))
                continue  # done before a restart: never run twice
            if previous is not None and previous.status == StepStatus.FAILED.value:
                results.append(_step_result(previous))
                error = previous.error or f"step {step.position + 1} ({step.action}) failed"
                break  # it failed before a restart; the result was not recorded yet
            if previous is not None and previous.status == StepStatus.RUNNING.value:
                error = (
                    f"step {step.position + 1} ({step.action}) was interrupted by a restart; "
                    "its effect is unknown, so the repair stops here"
                )
                results.append(StepResult(step.action, False, 0, "", error))
                await self._record_step_end(execution.repair_id, step.position, False, 0, "", error)
                break
            await self._record_step_start(execution.repair_id, step.position)
            step_started = time.perf_counter()
            detail, failure = "", None
            try:
                async with asyncio.timeout(step.timeout):
                    detail = await run_action(step.action, step.params, context)
            except TimeoutError:
                failure = (
                    f"step {step.position + 1} ({step.action}) timed out after {step.timeout:g}s"
                )
            except ActionFailed as exc:
                failure = f"step {step.position + 1} ({step.action}) failed: {exc}"
            duration = int((time.perf_counter() - step_started) * 1000)
            detail, failure = redact(detail), redact(failure) if failure else None
            results.append(StepResult(step.action, failure is None, duration, detail, failure))
            await self._record_step_end(
                execution.repair_id, step.position, failure is None, duration, detail, failure
            )
            if failure is not None:
                error = failure
                break
        if error is None:
            error = await self._verify(execution, context)
        elapsed = int((time.perf_counter() - started) * 1000)
        return AutoRepairResult(error is None, tuple(results), elapsed, error)

    def _kube_or_none(self) -> KubeClient | None:
        try:
            return self._kube()
        except KubeError as exc:
            log.warning("kubernetes client unavailable", error=exc.detail)
            return None

    async def _verify(self, execution: ExecutionPlan, context: ActionContext) -> str | None:
        verify = execution.plan.playbook.verify
        if verify.check == "none":
            if verify.wait:
                await asyncio.sleep(verify.wait)
            return None
        await asyncio.sleep(verify.wait)
        deadline = time.monotonic() + max(0.0, verify.timeout - verify.wait)
        while True:
            try:
                if await self._check(verify.check, execution, context):
                    return None
            except (KubeError, ActionFailed) as exc:
                last = str(getattr(exc, "detail", exc))
            else:
                last = ""
            if time.monotonic() >= deadline:
                what = (
                    "the alert did not resolve"
                    if verify.check == "alert_resolved"
                    else f"{execution.plan.target} did not become available"
                )
                suffix = f" ({last})" if last else ""
                return redact(f"verification failed: {what} within {verify.timeout:g}s{suffix}")
            await asyncio.sleep(min(verify.interval, max(0.0, deadline - time.monotonic())))

    async def _check(self, check: str, execution: ExecutionPlan, context: ActionContext) -> bool:
        if check == "alert_resolved":
            async with self._factory() as session:
                firing = await session.scalar(
                    select(func.count()).where(
                        IncidentAlert.incident_id == execution.incident_id,
                        IncidentAlert.status == AlertStatus.FIRING.value,
                    )
                )
                return not firing
        target = context.workload()
        return await context.cluster().deployment_available(target.namespace, target.name)

    async def _recorded_steps(self, repair_id: int) -> dict[int, RepairStep]:
        async with self._factory() as session:
            return {step.position: step for step in await repository.steps_of(session, repair_id)}

    async def _record_step_start(self, repair_id: int, position: int) -> None:
        async with self._factory() as session, session.begin():
            step = await session.scalar(
                select(RepairStep).where(
                    RepairStep.repair_id == repair_id, RepairStep.position == position
                )
            )
            if step is not None:
                step.status = StepStatus.RUNNING.value
                step.started_at = self._now()

    async def _record_step_end(
        self,
        repair_id: int,
        position: int,
        success: bool,
        duration_ms: int,
        detail: str,
        error: str | None,
    ) -> None:
        async with self._factory() as session, session.begin():
            step = await session.scalar(
                select(RepairStep).where(
                    RepairStep.repair_id == repair_id, RepairStep.position == position
                )
            )
            if step is not None:
                step.status = (StepStatus.SUCCEEDED if success else StepStatus.FAILED).value
                step.finished_at = self._now()
                step.duration_ms = duration_ms
                step.detail = detail or None
                step.error = error

    async def _finish(
        self, repair_id: int, result: AutoRepairResult | None, *, interrupted: str | None = None
    ) -> None:
        """Record the result, queue the harvest and move the incident: one transaction."""
        if result is None:
            result = AutoRepairResult(False, (), 0, interrupted or "interrupted")
        peeked = await self._peek(repair_id)
        if peeked is None:
            return
        async with self._factory() as session, session.begin():
            await lock_names(session, self._lock_names(repair_id, *peeked))
            repair = await repository.get(session, repair_id)
            if repair is None or repair.status != RepairStatus.RUNNING.value:
                return  # finished by an earlier attempt of this job
            incident = await incidents.get_by_id(session, repair.incident_id)
            now = self._now()
            repair.status = (
                RepairStatus.SUCCEEDED if result.success else RepairStatus.FAILED
            ).value
            repair.success = result.success
            repair.finished_at = now
            started = repair.started_at or now
            repair.execution_ms = max(
                result.execution_time_ms, int((now - started).total_seconds() * 1000)
            )
            repair.error = redact(result.error) if result.error else None
            repair.updated_at = now
            steps = await repository.steps_of(session, repair_id)
            report = RepairReport(
                attempt_id=str(repair.id),
                incident_id=incident.human_id if incident else str(repair.incident_id),
                playbook_id=repair.playbook_id or "",
                playbook_name=repair.playbook_name or "",
                success=result.success,
                execution_ms=repair.execution_ms,
                symptoms_hash=repair.symptoms_hash,
                steps=tuple(_step_result(step) for step in steps if step.finished_at),
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
            firing = await session.scalar(
                select(func.count()).where(
                    IncidentAlert.incident_id == incident.id,
                    IncidentAlert.status == AlertStatus.FIRING.value,
                )
            )
            to = IncidentStatus.OPEN if firing else IncidentStatus.RESOLVED
            _move(session, incident, to, f"repair #{repair.id} succeeded")
            return
        _move(session, incident, IncidentStatus.ESCALATED, f"repair #{repair.id} failed")
        await notify(
            session,
            kind="repair.failed",
            title=f"{incident.human_id}: repair #{repair.id} ({repair.playbook_id}) failed",
            text=(
                f"{incident.title}\n{repair.error}\nThe incident is escalated; an anti-pattern "
                "will block this fix for these symptoms for "
                f"{self.policy.anti_pattern_days:g} days."
            ),
            channels=self.policy.channels,
            severity=Severity.HIGH,
            buttons=[Button(label="Open repair", url=self._link(repair))],
        )


def _step_result(step: RepairStep) -> StepResult:
    return StepResult(
        action=step.action,
        success=step.status == StepStatus.SUCCEEDED.value,
        duration_ms=step.duration_ms or 0,
        detail=step.detail or "",
        error=step.error,
    )


async def queue_decision(session: AsyncSession, incident_id: int) -> int:
    """Queue `decide` for a new incident (once per incident)."""
    return await enqueue(session, DECIDE_JOB, {"incident_id": incident_id}, f"decide:{incident_id}")

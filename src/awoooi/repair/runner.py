"""Running a repair: the job boundary that owns its transactions.

A queued repair is claimed under its target's lock (the gates are checked again first), its
steps run one by one, each recorded as it starts and ends in a transaction of its own, then the
result and the knowledge-harvest job are written together, so a crash never leaves a finished
repair that teaches nothing; a repair interrupted mid-way is resumed by its durable job.

On resume, steps recorded as done are never run again. The step that was running when the
process died runs again from its start when the catalog says it has no side effects (a wait, a
GET); otherwise the repair ends `interrupted`: its effect is unknown and a human decides.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import httpx
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from awoooi.adapters.kube import KubeError
from awoooi.core.db import utcnow
from awoooi.core.jobs import JobContext
from awoooi.core.locks import lock_names
from awoooi.core.redact import redact
from awoooi.incidents import service as incidents
from awoooi.incidents.models import Incident
from awoooi.knowledge.harvest import StepResult
from awoooi.repair import gates, repository
from awoooi.repair.actions import ActionContext, ActionFailed, has_side_effects, run_action
from awoooi.repair.decide import RepairDecision, gate_context
from awoooi.repair.models import (
    FINISHED_STATUSES,
    GateName,
    Repair,
    RepairStatus,
    RepairStep,
    StepStatus,
)
from awoooi.repair.playbooks import ResolvedPlan

if TYPE_CHECKING:
    from awoooi.repair.service import RepairService


@dataclass(frozen=True)
class AutoRepairResult:
    """What `execute()` did."""

    success: bool
    executed_steps: tuple[StepResult, ...]
    execution_time_ms: int
    error: str | None = None
    # A restart cut a step with side effects short: neither a success nor a failure.
    interrupted: bool = False


def step_result(step: RepairStep) -> StepResult:
    """A recorded step as the harvester reads it."""
    return StepResult(
        action=step.action,
        success=step.status == StepStatus.SUCCEEDED,
        duration_ms=step.duration_ms or 0,
        detail=step.detail or "",
        error=step.error,
    )


def repair_locks(repair: Repair) -> list[str]:
    """The lock names a change of this repair takes: itself, its incident, its target."""
    names = [f"repair:{repair.id}", f"incident:{repair.incident_id}"]
    return [*names, f"repair-target:{repair.target}"] if repair.target else names


@dataclass(frozen=True)
class ExecutionPlan:
    """A claimed repair ready to run."""

    repair_id: int
    incident_id: int
    incident_human_id: str
    symptoms_hash: str
    plan: ResolvedPlan


class RepairRunner:
    """Claims, executes and finishes repairs, each change in its own transaction."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        service: RepairService,
        *,
        http: httpx.AsyncClient | None = None,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self._factory = session_factory
        self._service = service
        self._http = http
        self._now = now

    async def aclose(self) -> None:
        """Close the HTTP client this runner opened."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            # No proxies from the environment and no redirects: the allow-list names the
            # host a step reaches, and a redirect must not take it elsewhere.
            self._http = httpx.AsyncClient(trust_env=False, follow_redirects=False, timeout=30.0)
        return self._http

    async def execute_job(self, ctx: JobContext) -> None:
        """The `repair.execute` job: run the repair it names."""
        await self.run_repair(int(ctx.payload["repair_id"]))

    async def run_repair(self, repair_id: int) -> Repair | None:
        """Claim a queued repair (or resume a running one), execute it, record the result and
        queue the harvest; returns the finished repair, or None when there was nothing to run."""
        execution = await self._claim(repair_id)
        if isinstance(execution, ExecutionPlan):
            await self._finish(repair_id, await self.execute(execution))
        elif isinstance(execution, str):
            await self._finish(repair_id, AutoRepairResult(False, (), 0, execution))
        async with self._factory() as session:
            return await repository.get(session, repair_id, with_steps=True)

    # ------------------------------------------------------------------ claim

    async def _peek(self, repair_id: int) -> list[str] | None:
        """The locks a repair's changes take, read before locking (target and incident never
        change); None when there is no such repair."""
        async with self._factory() as session:
            repair = await repository.get(session, repair_id)
        return None if repair is None else repair_locks(repair)

    async def _claim(self, repair_id: int) -> ExecutionPlan | str | None:
        """Move queued -> running under the target's lock: the plan to run, the reason a
        resumed repair cannot go on, or None when it must not run."""
        locks = await self._peek(repair_id)
        if locks is None:
            return None
        async with self._factory() as session, session.begin():
            # Locks first: on SQLite the write lock must come before the transaction's reads.
            await lock_names(session, locks)
            repair = await repository.get(session, repair_id)
            if repair is None or repair.status in FINISHED_STATUSES:
                return None
            if repair.status == RepairStatus.PENDING_APPROVAL:
                return None
            incident = await incidents.get_incident(session, repair.incident_id)
            if incident is None:
                return None
            resuming = repair.status == RepairStatus.RUNNING
            plan = self._service.decider.replan(
                incident, repair.playbook_id or "", repair.playbook_digest, repair.target
            )
            if isinstance(plan, str):
                if resuming:
                    return plan
                stopped = RepairDecision.blocked(gates.GateVerdict.blocks(GateName.PLAYBOOK, plan))
                await self._service.block(session, repair, incident, stopped)
                return None
            if resuming:
                return self._execution(repair, incident, plan)
            if repair.status != RepairStatus.QUEUED:
                return None
            found = await gates.first_block(self._start_context(session, repair, incident, plan))
            if found is not None:
                await self._service.block(session, repair, incident, RepairDecision.blocked(found))
                return None
            await self._service.start(session, repair, incident, plan)
            try:
                await session.flush()
            except IntegrityError:
                # Another replica claimed the same target between our check and our write.
                await session.rollback()
                await self._claim_lost(repair_id, locks)
                return None
            return self._execution(repair, incident, plan)

    def _start_context(
        self, session: AsyncSession, repair: Repair, incident: Incident, plan: ResolvedPlan
    ) -> gates.GateContext:
        """The gates' view at start: what can change between the decision and the run (an
        approval may be hours old)."""
        service = self._service
        return gate_context(
            session,
            gates.Phase.START,
            incident=incident,
            symptoms_hash=repair.symptoms_hash,
            plan=plan,
            settings=service.settings,
            anti_pattern_days=service.policy.anti_pattern_days,
            now=self._now(),
            repair_id=repair.id,
        )

    async def _claim_lost(self, repair_id: int, locks: list[str]) -> None:
        async with self._factory() as session, session.begin():
            await lock_names(session, locks)
            repair = await repository.get(session, repair_id)
            incident = await incidents.get_incident(session, repair.incident_id) if repair else None
            if repair is not None and incident is not None:
                reason = f"another repair is running on {repair.target}"
                stopped = RepairDecision.blocked(gates.GateVerdict.blocks(GateName.BUSY, reason))
                await self._service.block(session, repair, incident, stopped)

    @staticmethod
    def _execution(repair: Repair, incident: Incident, plan: ResolvedPlan) -> ExecutionPlan:
        return ExecutionPlan(repair.id, incident.id, incident.human_id, repair.symptoms_hash, plan)

    # ------------------------------------------------------------------ execute

    async def execute(self, execution: ExecutionPlan) -> AutoRepairResult:
        """Run the steps in order (each with its timeout, stopping at the first failure), then
        verify; every step is recorded as it starts and ends."""
        started = time.perf_counter()
        recorded = await self._recorded_steps(execution.repair_id)
        results: list[StepResult] = []
        error: str | None = None
        context = ActionContext(
            kube=self._service.decider.cluster(),
            http=self._client(),
            settings=self._service.settings,
            target=execution.plan.target,
            now=self._now,
        )
        for step in execution.plan.steps:
            previous = recorded.get(step.position)
            if previous is not None and previous.status == StepStatus.SUCCEEDED:
                results.append(step_result(previous))
                continue  # done before a restart: never run twice
            if previous is not None and previous.status == StepStatus.FAILED:
                results.append(step_result(previous))
                error = previous.error or f"step {step.position + 1} ({step.action}) failed"
                break  # it failed before a restart; the result was not recorded yet
            if previous is not None and previous.status == StepStatus.RUNNING:
                if has_side_effects(step.action, step.params):
                    error = (
                        f"step {step.position + 1} ({step.action}) was interrupted by a restart; "
                        "it may have changed something, so it is not run again: its effect is "
                        "unknown"
                    )
                    elapsed = int((time.perf_counter() - started) * 1000)
                    return AutoRepairResult(False, tuple(results), elapsed, error, True)
                await self._record_resume(execution, step.position, step.action)
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
                return not await incidents.firing_alerts(session, execution.incident_id)
        target = context.workload()
        if check == "workload_available":
            return await context.cluster().workload_available(target)
        return await context.cluster().deployment_available(target.namespace, target.name)

    # ------------------------------------------------------------------ record

    async def _recorded_steps(self, repair_id: int) -> dict[int, RepairStep]:
        async with self._factory() as session:
            return {step.position: step for step in await repository.steps_of(session, repair_id)}

    async def _record_resume(self, execution: ExecutionPlan, position: int, action: str) -> None:
        async with self._factory() as session, session.begin():
            await lock_names(session, [f"incident:{execution.incident_id}"])
            incident = await incidents.get_incident(session, execution.incident_id)
            if incident is not None:
                self._service.resumed(session, incident, execution.repair_id, position, action)

    async def _record_step_start(self, repair_id: int, position: int) -> None:
        async with self._factory() as session, session.begin():
            step = await repository.step_at(session, repair_id, position)
            if step is not None:
                step.status = StepStatus.RUNNING
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
            step = await repository.step_at(session, repair_id, position)
            if step is not None:
                step.status = StepStatus.SUCCEEDED if success else StepStatus.FAILED
                step.finished_at = self._now()
                step.duration_ms = duration_ms
                step.detail = detail or None
                step.error = error

    async def _finish(self, repair_id: int, result: AutoRepairResult) -> None:
        """Record the result, queue the harvest and move the incident: one transaction."""
        locks = await self._peek(repair_id)
        if locks is None:
            return
        async with self._factory() as session, session.begin():
            await lock_names(session, locks)
            repair = await repository.get(session, repair_id)
            if repair is None or repair.status != RepairStatus.RUNNING:
                return  # finished by an earlier attempt of this job
            await self._service.finish(session, repair, result)

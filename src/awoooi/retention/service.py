"""Prune old rows in short batches: each batch is one transaction that selects at most
`retention.batch_size` candidates above a cursor, drops the ones still needed and deletes the
rest, children first. Nothing an active incident or a queued or running job needs is deleted."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from awoooi.ai import retention as ai_retention
from awoooi.core import jobs
from awoooi.core.audit import Caller, record_audit
from awoooi.core.db import transaction, utcnow
from awoooi.core.locks import lock_names, try_lock_name
from awoooi.core.logging import get_logger
from awoooi.core.models import JobStatus
from awoooi.diagnosis import retention as diagnosis_retention
from awoooi.drift import retention as drift_retention
from awoooi.incidents import retention as incident_retention
from awoooi.notify import retention as notify_retention
from awoooi.repair import retention as repair_retention

log = get_logger(__name__)

PRUNE_LOCK = "retention.prune"
# Every table pruning touches, in the order a report lists them.
TABLES = (
    "jobs",
    "llm_calls",
    "notifications",
    "notify_actions",
    "incidents",
    "incident_alerts",
    "incident_events",
    "diagnoses",
    "repairs",
    "repair_steps",
    "drift_reports",
    "drift_items",
)


@dataclass(frozen=True)
class RetentionPolicy:
    """How many days each kind of row is kept (0: forever) and the batch size."""

    jobs_done_days: float
    jobs_dead_days: float
    incidents_days: float
    notifications_days: float
    llm_calls_days: float
    drift_reports_days: float
    batch_size: int = 500

    @property
    def keeps_everything(self) -> bool:
        """Whether every kind of row is kept forever (nothing to schedule)."""
        return not any(
            (
                self.jobs_done_days,
                self.jobs_dead_days,
                self.incidents_days,
                self.notifications_days,
                self.llm_calls_days,
                self.drift_reports_days,
            )
        )


@dataclass
class PruneReport:
    """Rows deleted (or, on a dry run, that would be) per table."""

    dry_run: bool
    removed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    # Another replica held the prune lock; this run stopped early.
    busy: bool = False

    @property
    def total(self) -> int:
        """Rows over every table."""
        return sum(self.removed.values())

    def add(self, counts: dict[str, int]) -> None:
        """Count one batch."""
        for table, rows in counts.items():
            self.removed[table] = self.removed.get(table, 0) + rows


Candidates = Callable[[AsyncSession, int, int], Awaitable[list[int]]]
Remover = Callable[[AsyncSession, list[int], bool], Awaitable[dict[str, int]]]


@dataclass(frozen=True)
class _Step:
    """One kind of row: how to find candidates above a cursor, and how to remove a batch."""

    name: str
    candidates: Candidates
    remove: Remover


async def prune(
    session_factory: async_sessionmaker[AsyncSession],
    policy: RetentionPolicy,
    *,
    caller: Caller,
    dry_run: bool = False,
    now: datetime | None = None,
) -> PruneReport:
    """Delete (or on a dry run, count) every row older than its retention, batch by batch;
    audited when rows were deleted."""
    report = PruneReport(dry_run=dry_run)
    for step in _steps(policy, now or utcnow()):
        if not await _run_step(session_factory, step, policy.batch_size, report):
            report.busy = True
            log.info("prune stopped: another process is pruning", step=step.name)
            break
    if not dry_run and report.total:
        async with transaction(session_factory) as session:
            await record_audit(
                session,
                caller,
                action="retention.prune",
                target="database",
                detail={table: rows for table, rows in report.removed.items() if rows},
            )
    log.info("prune finished", dry_run=dry_run, busy=report.busy, **report.removed)
    return report


async def _run_step(
    session_factory: async_sessionmaker[AsyncSession],
    step: _Step,
    batch_size: int,
    report: PruneReport,
) -> bool:
    """Run one step's batches until no candidate is left; False when another process prunes."""
    after_id = 0
    while True:
        # One short transaction per batch: no lock is held between batches.
        async with transaction(session_factory) as session:
            if not await try_lock_name(session, PRUNE_LOCK):
                return False
            if not report.dry_run:
                # SQLite: take the write lock before the batch's first read, or a writer that
                # commits in between makes the delete fail; PostgreSQL already holds this name.
                await lock_names(session, [PRUNE_LOCK])
            ids = await step.candidates(session, after_id, batch_size)
            if not ids:
                return True
            after_id = ids[-1]
            report.add(await step.remove(session, ids, report.dry_run))


def _cutoff(now: datetime, days: float) -> datetime:
    return now - timedelta(days=days)


def _steps(policy: RetentionPolicy, now: datetime) -> list[_Step]:
    """The steps the policy asks for (a kind kept forever has none)."""
    steps: list[_Step] = []
    for status, days in (
        (JobStatus.DONE, policy.jobs_done_days),
        (JobStatus.DEAD, policy.jobs_dead_days),
    ):
        if days:
            steps.append(_jobs_step(status, _cutoff(now, days)))
    if policy.llm_calls_days:
        steps.append(_llm_calls_step(_cutoff(now, policy.llm_calls_days)))
    if policy.notifications_days:
        steps.append(_notifications_step(_cutoff(now, policy.notifications_days), now))
    if policy.incidents_days:
        steps.append(_incidents_step(_cutoff(now, policy.incidents_days)))
    if policy.drift_reports_days:
        steps.append(_drift_reports_step(_cutoff(now, policy.drift_reports_days)))
    return steps


def _jobs_step(status: JobStatus, before: datetime) -> _Step:
    async def candidates(session: AsyncSession, after_id: int, limit: int) -> list[int]:
        return await jobs.finished_jobs_before(
            session, status, before=before, after_id=after_id, limit=limit
        )

    async def remove(session: AsyncSession, ids: list[int], dry_run: bool) -> dict[str, int]:
        return {"jobs": await jobs.remove_finished_jobs(session, ids, dry_run=dry_run)}

    return _Step(f"jobs.{status.value}", candidates, remove)


def _llm_calls_step(before: datetime) -> _Step:
    async def candidates(session: AsyncSession, after_id: int, limit: int) -> list[int]:
        return await ai_retention.calls_before(
            session, before=before, after_id=after_id, limit=limit
        )

    async def remove(session: AsyncSession, ids: list[int], dry_run: bool) -> dict[str, int]:
        return await ai_retention.remove_calls(session, ids, dry_run=dry_run)

    return _Step("llm_calls", candidates, remove)


def _notifications_step(before: datetime, now: datetime) -> _Step:
    async def candidates(session: AsyncSession, after_id: int, limit: int) -> list[int]:
        return await notify_retention.settled_before(
            session, before=before, now=now, after_id=after_id, limit=limit
        )

    async def remove(session: AsyncSession, ids: list[int], dry_run: bool) -> dict[str, int]:
        held = await _held_notifications(session, ids)
        kept = [notification for notification in ids if notification not in held]
        return await notify_retention.remove(session, kept, dry_run=dry_run)

    return _Step("notifications", candidates, remove)


async def _held_notifications(session: AsyncSession, ids: list[int]) -> set[int]:
    """Notifications a queued or running job sends, or whose buttons act on a repair of an
    incident that is not resolved."""
    references = await jobs.active_job_references(session, "notification_id")
    held = references["notification_id"] & set(ids)
    buttons = await notify_retention.repair_buttons(session, ids)
    repairs = set().union(*buttons.values()) if buttons else set()
    open_repairs = await repair_retention.on_active_incidents(session, repairs)
    held |= {notification for notification, acted in buttons.items() if acted & open_repairs}
    return held


def _incidents_step(before: datetime) -> _Step:
    async def candidates(session: AsyncSession, after_id: int, limit: int) -> list[int]:
        return await incident_retention.resolved_before(
            session, before=before, after_id=after_id, limit=limit
        )

    async def remove(session: AsyncSession, ids: list[int], dry_run: bool) -> dict[str, int]:
        held = await _held_incidents(session, ids)
        kept = [incident for incident in ids if incident not in held]
        counts: dict[str, int] = {}
        # Children first, so neither database depends on ON DELETE CASCADE being in place.
        counts |= await repair_retention.remove_of_incidents(session, kept, dry_run=dry_run)
        counts |= await diagnosis_retention.remove_of_incidents(session, kept, dry_run=dry_run)
        counts |= await incident_retention.remove(session, kept, dry_run=dry_run)
        return counts

    return _Step("incidents", candidates, remove)


async def _held_incidents(session: AsyncSession, ids: list[int]) -> set[int]:
    """Resolved incidents still needed: a repair of theirs is not finished, or a queued or
    running job names them or one of their repairs."""
    held = await repair_retention.incidents_with_unfinished_repairs(session, ids)
    references = await jobs.active_job_references(session, "incident_id", "repair_id")
    held |= references["incident_id"] & set(ids)
    repairs = await repair_retention.repairs_of(session, ids)
    held |= {repairs[repair] for repair in references["repair_id"] if repair in repairs}
    return held


def _drift_reports_step(before: datetime) -> _Step:
    async def candidates(session: AsyncSession, after_id: int, limit: int) -> list[int]:
        return await drift_retention.finished_before(
            session, before=before, after_id=after_id, limit=limit
        )

    async def remove(session: AsyncSession, ids: list[int], dry_run: bool) -> dict[str, int]:
        held = await _held_drift_reports(session, ids)
        prunable = [report for report in ids if report not in held]
        return await drift_retention.remove(session, prunable, dry_run=dry_run)

    return _Step("drift_reports", candidates, remove)


async def _held_drift_reports(session: AsyncSession, ids: list[int]) -> set[int]:
    """Finished reports still needed: a queued or running job (a rollback, an adopt) names
    them, or they are the newest finished report of their source."""
    references = await jobs.active_job_references(session, "report_id")
    held = references["report_id"] & set(ids)
    held |= await drift_retention.newest_of_their_sources(session, ids)
    return held

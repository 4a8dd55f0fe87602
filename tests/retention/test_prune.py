"""Pruning on SQLite and PostgreSQL: old rows go in batches, recent ones stay, and nothing an
active incident or a queued or running job needs is deleted."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from awoooi.core.audit import SYSTEM_CALLER
from awoooi.core.models import AuditEntry, Job, JobStatus
from awoooi.incidents.models import Incident, IncidentStatus
from awoooi.notify.models import Notification, NotificationStatus
from awoooi.repair.models import RepairStatus
from awoooi.retention.service import TABLES, RetentionPolicy, prune
from awoooi.runtime import Runtime
from tests.retention.seed import (
    NOW,
    RECENT,
    add_drift_report,
    add_incident,
    add_job,
    add_llm_call,
    add_notification,
    exists,
    row_counts,
)

# Smaller than every kind of row seeded below: each step has to loop.
POLICY = RetentionPolicy(
    jobs_done_days=30,
    jobs_dead_days=60,
    incidents_days=30,
    notifications_days=30,
    llm_calls_days=30,
    drift_reports_days=30,
    batch_size=2,
)


async def seed_prunable(runtime: Runtime) -> dict[str, int]:
    """Old rows of every kind and a recent one of each; what a prune must delete, per table."""
    factory = runtime.session_factory
    for _ in range(3):
        await add_incident(factory)
        await add_job(factory)
        await add_llm_call(factory)
        await add_notification(factory, button=("repair.approve", "999999"), button_used=True)
        await add_drift_report(factory)
    await add_job(factory, status=JobStatus.DEAD)
    await add_incident(factory, resolved_at=RECENT)
    await add_job(factory, finished_at=RECENT)
    # Dead jobs are kept longer than done ones: 45 days is past the done limit only.
    await add_job(factory, status=JobStatus.DEAD, finished_at=NOW - timedelta(days=45))
    await add_llm_call(factory, at=RECENT)
    await add_notification(factory, created_at=RECENT)
    # Also the newest report of its source, which would keep it however old.
    await add_drift_report(factory, started_at=RECENT)
    return {
        "jobs": 4,
        "llm_calls": 3,
        "notifications": 3,
        "notify_actions": 3,
        "incidents": 3,
        "incident_alerts": 6,
        "incident_events": 6,
        "diagnoses": 3,
        "repairs": 3,
        "repair_steps": 6,
        "drift_reports": 3,
        "drift_items": 6,
    }


async def test_old_rows_are_deleted_in_batches_and_recent_ones_stay(runtime: Runtime) -> None:
    expected = await seed_prunable(runtime)
    before = await row_counts(runtime.session_factory)

    report = await prune(runtime.session_factory, POLICY, caller=SYSTEM_CALLER)

    assert report.removed == expected
    assert not report.busy
    after = await row_counts(runtime.session_factory)
    assert after == {table: before[table] - expected[table] for table in TABLES}
    assert (after["incidents"], after["llm_calls"], after["notifications"]) == (1, 1, 1)
    # Run again: nothing older is left.
    again = await prune(runtime.session_factory, POLICY, caller=SYSTEM_CALLER)
    assert again.total == 0


async def test_a_prune_is_audited_with_the_rows_per_table(runtime: Runtime) -> None:
    expected = await seed_prunable(runtime)
    await prune(runtime.session_factory, POLICY, caller=SYSTEM_CALLER)
    async with runtime.session_factory() as session:
        entries = list(
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "retention.prune"))
        )
    assert [(entry.actor, entry.target) for entry in entries] == [("awoooi", "database")]
    assert entries[0].detail == expected


async def test_a_dry_run_counts_the_same_rows_and_deletes_nothing(runtime: Runtime) -> None:
    expected = await seed_prunable(runtime)
    before = await row_counts(runtime.session_factory)

    dry = await prune(runtime.session_factory, POLICY, caller=SYSTEM_CALLER, dry_run=True)

    assert dry.dry_run
    assert dry.removed == expected
    assert await row_counts(runtime.session_factory) == before
    async with runtime.session_factory() as session:
        assert await session.scalar(select(AuditEntry.id)) is None
    real = await prune(runtime.session_factory, POLICY, caller=SYSTEM_CALLER)
    assert real.removed == dry.removed


async def test_what_active_incidents_and_pending_jobs_need_stays(runtime: Runtime) -> None:
    factory = runtime.session_factory
    kept_incidents = [
        # Not resolved, however old: never a candidate.
        (await add_incident(factory, status=IncidentStatus.ESCALATED, resolved_at=None)),
        (await add_incident(factory, status=IncidentStatus.OPEN, resolved_at=None)),
        # Resolved, but a repair still waits for approval.
        (await add_incident(factory, repair_status=RepairStatus.PENDING_APPROVAL)),
    ]
    named_by_job = await add_incident(factory)
    await add_job(
        factory, status=JobStatus.QUEUED, payload={"incident_id": named_by_job.incident_id}
    )
    repair_named_by_job = await add_incident(factory)
    await add_job(
        factory,
        status=JobStatus.RUNNING,
        payload={"repair_id": repair_named_by_job.repair_ids[0]},
    )
    kept_incidents += [named_by_job, repair_named_by_job]
    open_repair = kept_incidents[0]
    gone_incident = await add_incident(factory)
    old_queued_job = await add_job(factory, status=JobStatus.QUEUED, finished_at=None)

    kept_notifications = [
        await add_notification(factory, status=NotificationStatus.PENDING),
        # A button that still works (unused, not expired).
        await add_notification(
            factory, button=("knowledge.approve", "7"), button_expires_at=NOW + timedelta(hours=1)
        ),
        # An expired button, but on a repair of an incident that is not resolved.
        await add_notification(factory, button=("repair.approve", str(open_repair.repair_ids[0]))),
    ]
    sent_by_job = await add_notification(factory, status=NotificationStatus.FAILED)
    await add_job(factory, status=JobStatus.QUEUED, payload={"notification_id": sent_by_job})
    kept_notifications.append(sent_by_job)
    gone_notification = await add_notification(
        factory, button=("repair.approve", str(gone_incident.repair_ids[0]))
    )

    report = await prune(factory, POLICY, caller=SYSTEM_CALLER)

    for tree in kept_incidents:
        assert await exists(factory, Incident, tree.incident_id)
    for notification in kept_notifications:
        assert await exists(factory, Notification, notification)
    assert await exists(factory, Job, old_queued_job)
    assert not await exists(factory, Incident, gone_incident.incident_id)
    assert not await exists(factory, Notification, gone_notification)
    assert (report.removed["incidents"], report.removed["notifications"]) == (1, 1)
    assert report.removed["jobs"] == 0
    counts = await row_counts(factory)
    # Each kept incident kept its alerts, timeline, diagnosis and repair with its steps.
    assert counts["incident_alerts"] == 2 * len(kept_incidents)
    assert counts["diagnoses"] == len(kept_incidents)
    assert counts["repair_steps"] == 2 * len(kept_incidents)


async def test_zero_days_keeps_every_kind_of_row(runtime: Runtime) -> None:
    await seed_prunable(runtime)
    before = await row_counts(runtime.session_factory)
    forever = RetentionPolicy(0, 0, 0, 0, 0, 0, batch_size=2)
    assert forever.keeps_everything

    report = await prune(runtime.session_factory, forever, caller=SYSTEM_CALLER)

    assert report.total == 0
    assert await row_counts(runtime.session_factory) == before


async def test_prunes_running_at_once_delete_each_row_once(runtime: Runtime) -> None:
    for _ in range(5):
        await add_incident(runtime.session_factory)
        await add_job(runtime.session_factory)

    reports = await asyncio.gather(
        *(prune(runtime.session_factory, POLICY, caller=SYSTEM_CALLER) for _ in range(2))
    )

    assert sum(report.removed["incidents"] for report in reports) == 5
    assert sum(report.removed["jobs"] for report in reports) == 5
    assert sum(report.removed["repair_steps"] for report in reports) == 10
    counts = await row_counts(runtime.session_factory)
    assert counts["incidents"] == counts["jobs"] == counts["repair_steps"] == 0
    # A run that found the other one pruning stopped early; the other finished the work.
    assert sum(report.busy for report in reports) <= 1

"""Rows of every pruned table, written straight through the models with chosen timestamps."""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from awoooi.ai.intents import Intent
from awoooi.ai.models import LlmCall
from awoooi.core.db import transaction, utcnow
from awoooi.core.models import Job, JobStatus
from awoooi.diagnosis.models import DiagnosisRecord
from awoooi.drift.models import DriftIgnoreRule, DriftItemRecord, DriftReportRecord
from awoooi.drift.report import Change, DriftLevel, ReportStatus
from awoooi.incidents.models import (
    AlertStatus,
    Incident,
    IncidentAlert,
    IncidentEvent,
    IncidentStatus,
)
from awoooi.notify.models import Notification, NotificationStatus, NotifyAction
from awoooi.repair.models import Repair, RepairStatus, RepairStep, StepStatus, Verdict

NOW = utcnow()
OLD = NOW - timedelta(days=1000)  # older than every retention in the tests
RECENT = NOW - timedelta(hours=1)
_numbers = itertools.count(1)

Factory = async_sessionmaker[AsyncSession]


@dataclass
class IncidentTree:
    """One incident and the ids of its rows."""

    incident_id: int
    repair_ids: list[int] = field(default_factory=list)


async def add_incident(
    factory: Factory,
    *,
    status: IncidentStatus = IncidentStatus.RESOLVED,
    resolved_at: datetime | None = OLD,
    repair_status: RepairStatus | None = RepairStatus.SUCCEEDED,
) -> IncidentTree:
    """An incident with 2 alerts, 2 timeline events, a diagnosis and (unless None) a repair with
    2 steps: 8 rows, 10 with the repair's steps."""
    number = next(_numbers)
    async with transaction(factory) as session:
        incident = Incident(
            human_id=f"INC-R-{number:05d}",
            title=f"retention test {number}",
            severity="high",
            status=status,
            source="alertmanager",
            labels={"alertname": "KubePodCrashLooping"},
            symptoms={"signal": "KubePodCrashLooping"},
            symptoms_hash="abcdef0123456789",
            first_seen=resolved_at or NOW,
            last_seen=resolved_at or NOW,
            resolved_at=resolved_at,
        )
        session.add(incident)
        await session.flush()
        for index in range(2):
            session.add(
                IncidentAlert(
                    incident_id=incident.id,
                    fingerprint=f"fp-{number}-{index}",
                    status=AlertStatus.RESOLVED,
                    labels={},
                )
            )
            session.add(IncidentEvent(incident_id=incident.id, actor="test", event="opened"))
        session.add(
            DiagnosisRecord(
                incident_id=incident.id,
                made_by="rules",
                summary="crash loop",
                target_kind="Deployment",
                target_namespace="prod",
                target_name="web",
                requested_by="test",
            )
        )
        tree = IncidentTree(incident.id)
        if repair_status is not None:
            repair = Repair(
                incident_id=incident.id,
                playbook_id="restart",
                target="Deployment/prod/web",
                verdict=Verdict.AUTO,
                status=repair_status,
                symptoms_hash="abcdef0123456789",
                requested_by="test",
            )
            session.add(repair)
            await session.flush()
            for position in range(2):
                session.add(
                    RepairStep(
                        repair_id=repair.id,
                        position=position,
                        action="restart",
                        status=StepStatus.SUCCEEDED,
                    )
                )
            tree.repair_ids.append(repair.id)
    return tree


async def add_job(
    factory: Factory,
    *,
    status: JobStatus = JobStatus.DONE,
    finished_at: datetime | None = OLD,
    payload: dict[str, Any] | None = None,
    kind: str = "test.kind",
) -> int:
    """A job in `status` that finished at `finished_at`."""
    async with transaction(factory) as session:
        job = Job(
            kind=kind,
            payload=payload or {},
            status=status,
            run_at=finished_at or NOW,
            created_at=finished_at or NOW,
            finished_at=finished_at if status in (JobStatus.DONE, JobStatus.DEAD) else None,
        )
        session.add(job)
        await session.flush()
        return job.id


async def add_llm_call(factory: Factory, *, at: datetime = OLD) -> int:
    """One ledger row made at `at`."""
    async with transaction(factory) as session:
        call = LlmCall(
            at=at, intent=Intent.DIAGNOSE, provider="ollama", model="m", outcome="ok", local=True
        )
        session.add(call)
        await session.flush()
        return call.id


async def add_notification(
    factory: Factory,
    *,
    created_at: datetime = OLD,
    status: NotificationStatus = NotificationStatus.SENT,
    button: tuple[str, str] | None = None,
    button_expires_at: datetime = OLD,
    button_used: bool = False,
) -> int:
    """A notification, optionally with one button record (action, target)."""
    async with transaction(factory) as session:
        record = Notification(
            channel="log",
            kind="repair.approval",
            severity="high",
            title="t",
            text="x",
            status=status,
            created_at=created_at,
        )
        session.add(record)
        await session.flush()
        if button is not None:
            session.add(
                NotifyAction(
                    id=secrets.token_urlsafe(16),
                    action=button[0],
                    target=button[1],
                    notification_id=record.id,
                    created_at=created_at,
                    expires_at=button_expires_at,
                    used_at=created_at if button_used else None,
                )
            )
        return record.id


@dataclass
class DriftReportTree:
    """One saved drift report and the ids of its items."""

    report_id: int
    item_ids: list[int] = field(default_factory=list)


async def add_drift_report(
    factory: Factory,
    *,
    started_at: datetime = OLD,
    status: ReportStatus = ReportStatus.DETECTED,
    desired: str = "https://git.example/deploy.git",
    live: str = "cluster",
    items: int = 2,
) -> DriftReportTree:
    """A report of a scan of `desired` against `live` started at `started_at`, with `items`
    items."""
    async with transaction(factory) as session:
        report = DriftReportRecord(
            desired_source=desired,
            live_source=live,
            started_at=started_at,
            finished_at=None if status is ReportStatus.QUEUED else started_at,
            created_by="test",
            status=status,
        )
        session.add(report)
        await session.flush()
        tree = DriftReportTree(report.id)
        for index in range(items):
            item = DriftItemRecord(
                report_id=report.id,
                api_version="apps/v1",
                kind="Deployment",
                namespace="prod",
                name="web",
                change=Change.MODIFIED,
                path=f"spec.replicas{index}",
                level=DriftLevel.MEDIUM,
            )
            session.add(item)
            await session.flush()
            tree.item_ids.append(item.id)
    return tree


async def add_ignore_rule(factory: Factory, item_id: int) -> int:
    """An ignore rule made from ignoring one item."""
    async with transaction(factory) as session:
        rule = DriftIgnoreRule(
            kind="Deployment",
            group="apps",
            namespace="prod",
            name="web",
            path="spec.replicas",
            reason="HPA owns it",
            created_by="test",
            item_id=item_id,
        )
        session.add(rule)
        await session.flush()
        return rule.id


async def row_counts(factory: Factory) -> dict[str, int]:
    """Rows per pruned table."""
    models = {
        "jobs": Job,
        "llm_calls": LlmCall,
        "notifications": Notification,
        "notify_actions": NotifyAction,
        "incidents": Incident,
        "incident_alerts": IncidentAlert,
        "incident_events": IncidentEvent,
        "diagnoses": DiagnosisRecord,
        "repairs": Repair,
        "repair_steps": RepairStep,
        "drift_reports": DriftReportRecord,
        "drift_items": DriftItemRecord,
    }
    async with factory() as session:
        return {
            table: int(await session.scalar(select(func.count()).select_from(model)) or 0)
            for table, model in models.items()
        }


async def exists(factory: Factory, model: Any, row_id: int) -> bool:
    """Whether the row is still there."""
    async with factory() as session:
        return await session.get(model, row_id) is not None

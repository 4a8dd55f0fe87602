"""Drift endpoints: queue a scan, read reports, roll back, adopt or ignore their items."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status

from awoooi.api.deps import Operator, RequestId, RuntimeDep, SessionDep, Viewer
from awoooi.core.audit import Caller, Door, Outcome, record_audit
from awoooi.core.db import transaction
from awoooi.core.errors import AwoooiError, NotFoundError
from awoooi.drift import repository
from awoooi.drift.decisions import ActionResult
from awoooi.drift.report import DriftLevel, ReportStatus
from awoooi.drift.scanning import configured_sources, queue_scan
from awoooi.drift.schemas import (
    ActionOut,
    AdoptRequest,
    DriftReportOut,
    DriftReportPage,
    DriftReportSummary,
    IgnoreRequest,
    RollbackRequest,
    ScanQueued,
    ScanRequest,
)

router = APIRouter(prefix="/api/v1/drift", tags=["drift"])


async def _audit(
    session: SessionDep,
    actor: str,
    result: ActionResult,
    request_id: str | None,
    **extra: object,
) -> None:
    await record_audit(
        session,
        Caller(actor, Door.API, request_id),
        action=f"drift.{result.action}",
        target=f"drift-report:{result.report_id}",
        outcome=Outcome.OK if result.ok else Outcome.PARTIAL,
        detail={
            "dry_run": result.dry_run,
            "items": {str(item.item_id): item.outcome for item in result.items},
            "commit": result.commit,
            "branch": result.branch,
            **extra,
        },
    )


async def _audit_refusal(
    session: SessionDep,
    runtime: RuntimeDep,
    actor: str,
    action: str,
    report_id: int,
    request_id: str | None,
    exc: AwoooiError,
) -> None:
    """A refused action is audited too, in its own transaction (the request's rolls back)."""
    await session.rollback()  # first: on SQLite it holds the write lock the audit needs
    async with transaction(runtime.session_factory) as audit:
        await record_audit(
            audit,
            Caller(actor, Door.API, request_id),
            action=f"drift.{action}",
            target=f"drift-report:{report_id}",
            outcome=Outcome.REFUSED,
            detail={"error": exc.code, "detail": exc.detail[:500]},
        )


@router.post("/scan", response_model=ScanQueued, status_code=status.HTTP_202_ACCEPTED)
async def queue_drift_scan(
    session: SessionDep,
    runtime: RuntimeDep,
    principal: Operator,
    request_id: RequestId,
    body: ScanRequest | None = None,
) -> ScanQueued:
    """Queue a durable scan of the configured sources; the report id answers at once."""
    sources = configured_sources(
        runtime.settings.drift,
        cluster_available=runtime.cluster_configured(),
        ref=body.ref if body else None,
        path=body.path if body else None,
    )
    record = await queue_scan(session, sources, actor=principal.name)
    await record_audit(
        session,
        Caller(principal.name, Door.API, request_id),
        action="drift.scan",
        target=f"drift-report:{record.id}",
        detail={"ref": sources.ref, "path": sources.path},
    )
    return ScanQueued(report_id=record.id, status=record.status)


@router.get("/reports", response_model=DriftReportPage)
async def list_drift_reports(
    session: SessionDep,
    _principal: Viewer,
    status: ReportStatus | None = None,
    level: Annotated[DriftLevel | None, Query(description="Reports with an item at it.")] = None,
    since: datetime | None = None,
    source: Annotated[str | None, Query(max_length=2048)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> DriftReportPage:
    """Reports, newest first (`?status=`, `?level=`, `?since=`, `?source=` filter)."""
    records, total = await repository.list_reports(
        session,
        status=status,
        level=level,
        since=since,
        source=source,
        limit=limit,
        offset=offset,
    )
    counts = await repository.level_counts(session, [record.id for record in records])
    return DriftReportPage(
        items=[DriftReportSummary.of(record, counts[record.id]) for record in records],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/reports/{report_id}", response_model=DriftReportOut)
async def get_drift_report(
    report_id: int,
    session: SessionDep,
    _principal: Viewer,
    show_ignored: bool = False,
) -> DriftReportOut:
    """One report with its items (allowed differences with `?show_ignored=true`)."""
    record = await repository.get_report(session, report_id)
    if record is None:
        raise NotFoundError(f"no drift report {report_id}")
    items = [item for item in record.items if show_ignored or not item.ignored]
    return DriftReportOut.full(record, items)


async def _decide(
    session: SessionDep,
    runtime: RuntimeDep,
    principal: Operator,
    request_id: str | None,
    action: str,
    report_id: int,
    call: Callable[[], Awaitable[ActionResult]],
    **extra: object,
) -> ActionOut:
    """Run one decision and audit it, refused or done."""
    try:
        result = await call()
    except AwoooiError as exc:
        await _audit_refusal(session, runtime, principal.name, action, report_id, request_id, exc)
        raise
    await _audit(session, principal.name, result, request_id, **extra)
    return ActionOut.model_validate(result.to_json())


@router.post("/rollback", response_model=ActionOut)
async def rollback_drift(
    body: RollbackRequest,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: Operator,
    request_id: RequestId,
) -> ActionOut:
    """Apply Git's state to the items' resources (server-side apply; a dry run first)."""
    return await _decide(
        session,
        runtime,
        principal,
        request_id,
        "rollback",
        body.report_id,
        lambda: runtime.drift.rollback(
            session,
            body.report_id,
            body.item_ids,
            actor=principal.name,
            dry_run=body.dry_run,
            force=body.force,
            delete_extra=body.delete_extra,
        ),
        force=body.force,
        delete=body.delete_extra,
    )


@router.post("/adopt", response_model=ActionOut)
async def adopt_drift(
    body: AdoptRequest,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: Operator,
    request_id: RequestId,
) -> ActionOut:
    """Write the items' live values into their Git files, commit and push."""
    return await _decide(
        session,
        runtime,
        principal,
        request_id,
        "adopt",
        body.report_id,
        lambda: runtime.drift.adopt(
            session, body.report_id, body.item_ids, actor=principal.name, dry_run=body.dry_run
        ),
    )


@router.post("/ignore", response_model=ActionOut)
async def ignore_drift(
    body: IgnoreRequest,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: Operator,
    request_id: RequestId,
) -> ActionOut:
    """Accept items as they are (optionally whitelisting each field for later scans)."""
    return await _decide(
        session,
        runtime,
        principal,
        request_id,
        "ignore",
        body.report_id,
        lambda: runtime.drift.ignore(
            session,
            body.report_id,
            body.item_ids,
            actor=principal.name,
            reason=body.reason,
            add_rule=body.add_rule,
        ),
        add_rule=body.add_rule,
    )

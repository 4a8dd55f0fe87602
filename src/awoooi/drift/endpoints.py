"""Drift endpoints: queue a scan, read reports, roll back, adopt or ignore their items."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from awoooi.api.deps import OperatorCaller, RowIdPath, RuntimeDep, SessionDep, Viewer
from awoooi.api.routing import AuthBeforeBodyRoute
from awoooi.core.errors import NotFoundError
from awoooi.core.inputs import Text, UtcTime
from awoooi.drift import repository
from awoooi.drift.report import DriftLevel, ReportStatus
from awoooi.drift.scanning import configured_sources, request_scan
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

router = APIRouter(prefix="/api/v1/drift", tags=["drift"], route_class=AuthBeforeBodyRoute)


@router.post("/scan", response_model=ScanQueued, status_code=status.HTTP_202_ACCEPTED)
async def queue_drift_scan(
    session: SessionDep,
    runtime: RuntimeDep,
    caller: OperatorCaller,
    body: ScanRequest | None = None,
) -> ScanQueued:
    """Queue a durable scan of the configured sources; the report id answers at once."""
    sources = configured_sources(
        runtime.settings.drift,
        cluster_available=runtime.cluster_configured(),
        ref=body.ref if body else None,
        path=body.path if body else None,
    )
    record = await request_scan(session, sources, caller=caller)
    return ScanQueued(report_id=record.id, status=record.status)


@router.get("/reports", response_model=DriftReportPage)
async def list_drift_reports(
    session: SessionDep,
    _principal: Viewer,
    status: ReportStatus | None = None,
    level: Annotated[DriftLevel | None, Query(description="Reports with an item at it.")] = None,
    since: UtcTime | None = None,
    source: Annotated[Text | None, Query(max_length=2048)] = None,
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
    report_id: RowIdPath,
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


@router.post("/rollback", response_model=ActionOut)
async def rollback_drift(
    body: RollbackRequest, session: SessionDep, runtime: RuntimeDep, caller: OperatorCaller
) -> ActionOut:
    """Apply Git's state to the items' resources (server-side apply; a dry run first)."""
    result = await runtime.drift.rollback(
        session,
        body.report_id,
        body.item_ids,
        caller=caller,
        dry_run=body.dry_run,
        force=body.force,
        delete_extra=body.delete_extra,
    )
    return ActionOut.model_validate(result.to_json())


@router.post("/adopt", response_model=ActionOut)
async def adopt_drift(
    body: AdoptRequest, session: SessionDep, runtime: RuntimeDep, caller: OperatorCaller
) -> ActionOut:
    """Write the items' live values into their Git files, commit and push."""
    result = await runtime.drift.adopt(
        session, body.report_id, body.item_ids, caller=caller, dry_run=body.dry_run
    )
    return ActionOut.model_validate(result.to_json())


@router.post("/ignore", response_model=ActionOut)
async def ignore_drift(
    body: IgnoreRequest, session: SessionDep, runtime: RuntimeDep, caller: OperatorCaller
) -> ActionOut:
    """Accept items as they are (optionally whitelisting each field for later scans)."""
    result = await runtime.drift.ignore(
        session,
        body.report_id,
        body.item_ids,
        caller=caller,
        reason=body.reason,
        add_rule=body.add_rule,
    )
    return ActionOut.model_validate(result.to_json())

"""Queries for saved drift reports, their items and the ignore rules added from them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from awoooi.drift.models import DriftIgnoreRule, DriftItemRecord, DriftReportRecord
from awoooi.drift.report import DriftLevel, ReportStatus


async def get_report(
    session: AsyncSession, report_id: int, *, for_update: bool = False
) -> DriftReportRecord | None:
    """A report with its items, optionally locked for a decision (PostgreSQL row lock)."""
    query = (
        select(DriftReportRecord)
        .where(DriftReportRecord.id == report_id)
        .options(selectinload(DriftReportRecord.items))
    )
    if for_update:
        query = query.with_for_update()
    return (await session.scalars(query)).first()


def _filtered(
    query: Select[Any],
    *,
    status: ReportStatus | None,
    level: DriftLevel | None,
    since: datetime | None,
    source: str | None,
) -> Select[Any]:
    if status is not None:
        query = query.where(DriftReportRecord.status == status.value)
    if since is not None:
        query = query.where(DriftReportRecord.started_at >= since)
    if source is not None:
        query = query.where(DriftReportRecord.desired_source == source)
    if level is not None:
        query = query.where(
            select(DriftItemRecord.id)
            .where(
                DriftItemRecord.report_id == DriftReportRecord.id,
                DriftItemRecord.level == level.value,
                DriftItemRecord.ignored.is_(False),
            )
            .exists()
        )
    return query


async def list_reports(
    session: AsyncSession,
    *,
    status: ReportStatus | None = None,
    level: DriftLevel | None = None,
    since: datetime | None = None,
    source: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[DriftReportRecord], int]:
    """Reports, newest first, and how many match the filters."""
    query = _filtered(
        select(DriftReportRecord), status=status, level=level, since=since, source=source
    )
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    page = await session.scalars(
        query.order_by(DriftReportRecord.id.desc()).limit(limit).offset(offset)
    )
    return list(page), int(total or 0)


async def level_counts(
    session: AsyncSession, report_ids: Sequence[int]
) -> dict[int, dict[str, int]]:
    """Reported (not ignored, still detected or not) items per level for each report."""
    if not report_ids:
        return {}
    rows = await session.execute(
        select(DriftItemRecord.report_id, DriftItemRecord.level, func.count())
        .where(DriftItemRecord.report_id.in_(report_ids), DriftItemRecord.ignored.is_(False))
        .group_by(DriftItemRecord.report_id, DriftItemRecord.level)
    )
    counts: dict[int, dict[str, int]] = {report_id: {} for report_id in report_ids}
    for report_id, level, count in rows:
        counts[report_id][level] = int(count)
    return counts


async def ignore_rules(session: AsyncSession) -> list[DriftIgnoreRule]:
    """Every ignore rule added from the API or CLI, oldest first."""
    return list(await session.scalars(select(DriftIgnoreRule).order_by(DriftIgnoreRule.id)))


async def latest_items_for(
    session: AsyncSession, kind: str, namespace: str | None, name: str, *, limit: int
) -> list[tuple[DriftItemRecord, DriftReportRecord]]:
    """The newest report's reported (not ignored) items about one resource, with the report."""
    newest = (
        select(func.max(DriftItemRecord.report_id))
        .where(
            DriftItemRecord.kind == kind,
            DriftItemRecord.namespace == (namespace or None),
            DriftItemRecord.name == name,
        )
        .scalar_subquery()
    )
    query = (
        select(DriftItemRecord, DriftReportRecord)
        .join(DriftReportRecord, DriftReportRecord.id == DriftItemRecord.report_id)
        .where(
            DriftItemRecord.report_id == newest,
            DriftItemRecord.kind == kind,
            DriftItemRecord.namespace == (namespace or None),
            DriftItemRecord.name == name,
            DriftItemRecord.ignored.is_(False),
        )
        .order_by(DriftItemRecord.id)
        .limit(limit)
    )
    return [(item, report) for item, report in (await session.execute(query)).all()]

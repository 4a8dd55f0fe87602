"""Queries for saved drift reports, their items and the ignore rules added from them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case, delete, func, select, update
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


# ---------------------------------------------------------------- retention


async def finished_report_ids_before(
    session: AsyncSession, *, started_before: datetime, after_id: int, limit: int
) -> list[int]:
    """Ids of finished (not queued) reports whose scan started before a time, above `after_id`,
    in id order."""
    query = (
        select(DriftReportRecord.id)
        .where(
            DriftReportRecord.started_at < started_before,
            DriftReportRecord.status != ReportStatus.QUEUED.value,
            DriftReportRecord.id > after_id,
        )
        .order_by(DriftReportRecord.id)
        .limit(limit)
    )
    return list(await session.scalars(query))


async def newest_finished_of_sources(session: AsyncSession, ids: Sequence[int]) -> set[int]:
    """For each (desired, live) source pair of these reports, the ids of its newest finished
    report and of its newest report that is not a failure (a source whose scans keep failing
    keeps its last real result)."""
    if not ids:
        return set()
    pairs = (
        select(DriftReportRecord.desired_source, DriftReportRecord.live_source)
        .where(DriftReportRecord.id.in_(ids))
        .distinct()
        .subquery()
    )
    not_failed = case((DriftReportRecord.status != ReportStatus.FAILED.value, DriftReportRecord.id))
    query = (
        select(func.max(DriftReportRecord.id), func.max(not_failed))
        .join(
            pairs,
            and_(
                DriftReportRecord.desired_source == pairs.c.desired_source,
                DriftReportRecord.live_source == pairs.c.live_source,
            ),
        )
        .where(
            DriftReportRecord.status != ReportStatus.QUEUED.value,
            # A pair's newest report is at least as new as any of these ids: skip older rows.
            DriftReportRecord.id >= min(ids),
        )
        .group_by(DriftReportRecord.desired_source, DriftReportRecord.live_source)
    )
    newest = await session.execute(query)
    return {report_id for row in newest for report_id in row if report_id is not None}


def _finished(ids: Sequence[int]) -> Select[Any]:
    return select(DriftReportRecord.id).where(
        DriftReportRecord.id.in_(ids), DriftReportRecord.status != ReportStatus.QUEUED.value
    )


async def count_reports_of(session: AsyncSession, ids: Sequence[int]) -> dict[str, int]:
    """Per table, the rows of these finished reports (their items, the reports)."""
    finished = _finished(ids)
    items = select(func.count()).where(DriftItemRecord.report_id.in_(finished))
    reports = select(func.count()).where(DriftReportRecord.id.in_(finished))
    return {
        "drift_reports": int(await session.scalar(reports) or 0),
        "drift_items": int(await session.scalar(items) or 0),
    }


async def delete_finished_reports(session: AsyncSession, ids: Sequence[int]) -> dict[str, int]:
    """Delete these reports (only finished ones) with their items, after unlinking the ignore
    rules made from those items (the rules stay); per table, the rows deleted."""
    finished = _finished(ids)
    items = select(DriftItemRecord.id).where(DriftItemRecord.report_id.in_(finished))
    # The foreign key would set it NULL too; doing it here keeps the delete independent of it,
    # as the other domains' deletes are of ON DELETE CASCADE.
    await session.execute(
        update(DriftIgnoreRule)
        .where(DriftIgnoreRule.item_id.in_(items))
        .values(item_id=None)
        .execution_options(synchronize_session=False)
    )
    deleted_items = await session.execute(
        delete(DriftItemRecord)
        .where(DriftItemRecord.report_id.in_(finished))
        .execution_options(synchronize_session=False)
    )
    deleted_reports = await session.execute(
        delete(DriftReportRecord)
        .where(DriftReportRecord.id.in_(finished))
        .execution_options(synchronize_session=False)
    )
    return {
        "drift_reports": int(deleted_reports.rowcount),  # type: ignore[attr-defined]
        "drift_items": int(deleted_items.rowcount),  # type: ignore[attr-defined]
    }

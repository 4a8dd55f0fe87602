"""Drift scans as durable jobs: queued from the API or the schedule, one at a time across
replicas, interpreted, saved, and announced when they find something serious."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from awoooi.adapters.git import GitClient
from awoooi.adapters.kube import ClusterReader
from awoooi.core.audit import Caller, record_audit
from awoooi.core.db import transaction, utcnow
from awoooi.core.errors import AwoooiError, ConflictError
from awoooi.core.jobs import (
    JobContext,
    JobFailure,
    JobRegistry,
    PermanentJobError,
    enqueue,
    job_for_key,
)
from awoooi.core.locks import lock_names, try_lock_name
from awoooi.core.logging import get_logger
from awoooi.drift import repository
from awoooi.drift.interpret import ChatRouter, interpret_report
from awoooi.drift.models import DriftItemRecord, DriftReportRecord
from awoooi.drift.paths import encode_segments
from awoooi.drift.report import (
    LEVEL_ORDER,
    DriftLevel,
    DriftReport,
    DriftStatus,
    ReportStatus,
    report_status,
)
from awoooi.drift.scan import scan
from awoooi.drift.settings import DriftSettings, IgnoreRule
from awoooi.drift.sources import (
    ClusterState,
    DriftSourceError,
    DumpState,
    LiveState,
    ScanSources,
    load_desired,
)
from awoooi.notify.base import Button, Severity
from awoooi.notify.routing import NotifyPolicy
from awoooi.notify.service import notify

log = get_logger(__name__)

SCAN_JOB = "drift.scan"
SCAN_LOCK = "drift.scan"
SCHEDULE_ACTOR = "schedule"
SCAN_MAX_ATTEMPTS = 20
_SEVERITY = {
    DriftLevel.CRITICAL: Severity.CRITICAL,
    DriftLevel.HIGH: Severity.HIGH,
    DriftLevel.MEDIUM: Severity.MEDIUM,
    DriftLevel.LOW: Severity.LOW,
    DriftLevel.INFO: Severity.INFO,
}


class DriftNotConfigured(AwoooiError):
    """A scan was asked for but `drift.desired` (or a live source) is not configured."""

    status_code = 422
    code = "drift_not_configured"


class ScanBusy(ConflictError):
    """Another replica is scanning; the job is retried later."""


ReaderProvider = Callable[[], ClusterReader | None]


def configured_sources(
    settings: DriftSettings,
    *,
    cluster_available: bool,
    ref: str | None = None,
    path: str | None = None,
) -> ScanSources:
    """The configured desired and live sources, with an optional ref and sub-path override."""
    if not settings.desired:
        raise DriftNotConfigured("drift.desired is not set: there is no Git source to scan")
    if settings.live_dump is None and not cluster_available:
        raise DriftNotConfigured(
            "no live source: set drift.live_dump or configure a cluster in the kube settings"
        )
    return ScanSources(
        desired=settings.desired,
        ref=ref if ref is not None else settings.ref,
        path=path if path is not None else settings.path,
        live_dump=str(settings.live_dump) if settings.live_dump is not None else None,
        live_context=None if settings.live_dump is not None else "configured",
    )


async def queue_scan(
    session: AsyncSession, sources: ScanSources, *, actor: str, dedupe_key: str | None = None
) -> DriftReportRecord:
    """Create a QUEUED report and its scan job in the caller's transaction."""
    record = DriftReportRecord(
        desired_source=sources.desired[:2048],
        live_source=(f"dump:{sources.live_dump}" if sources.live_dump else "cluster")[:2048],
        started_at=utcnow(),
        summary={},
        problems=[],
        created_by=actor[:128],
        status=ReportStatus.QUEUED,
        desired_ref=sources.ref,
        desired_path=sources.path,
        live_dump=sources.live_dump,
        live_context=sources.live_context,
        interpretations=[],
    )
    session.add(record)
    await session.flush()
    await enqueue(
        session,
        SCAN_JOB,
        {"report_id": record.id},
        dedupe_key or f"drift-scan:{record.id}",
        # A scan waiting for another replica's scan retries with backoff; give it room.
        max_attempts=SCAN_MAX_ATTEMPTS,
    )
    return record


async def request_scan(
    session: AsyncSession, sources: ScanSources, *, caller: Caller
) -> DriftReportRecord:
    """Queue a scan someone asked for, and audit the request."""
    record = await queue_scan(session, sources, actor=caller.actor)
    await record_audit(
        session,
        caller,
        action="drift.scan",
        target=f"drift-report:{record.id}",
        detail={"ref": sources.ref, "path": sources.path},
    )
    return record


def unusable_input(sources: ScanSources) -> str | None:
    """Why these sources can never be scanned (a NUL in a path or ref), or None."""
    for name, value in (
        ("desired", sources.desired),
        ("ref", sources.ref),
        ("path", sources.path),
        ("live dump", sources.live_dump),
    ):
        if value is not None and "\x00" in value:
            return f"the {name} {value!r} holds a NUL character; no file or ref can be named so"
    return None


def sources_of(record: DriftReportRecord) -> ScanSources:
    """The sources a saved report was scanned from."""
    return ScanSources(
        desired=record.desired_source,
        ref=record.desired_ref,
        path=record.desired_path,
        live_dump=record.live_dump,
        live_context=record.live_context,
    )


async def live_state(
    sources: ScanSources, settings: DriftSettings, reader: ClusterReader | None
) -> LiveState:
    """The live side of a scan: the dump it names, else the cluster."""
    if sources.live_dump:
        return await DumpState.load(Path(sources.live_dump), settings)
    if reader is None:
        raise DriftSourceError("no cluster is configured (kube settings) to read live state from")
    return ClusterState(reader, label=f"cluster:{sources.live_context or 'configured'}")


def with_rules(settings: DriftSettings, added: list[IgnoreRule]) -> DriftSettings:
    """The settings with ignore rules added from the API or CLI after the configured ones."""
    if not added:
        return settings
    return settings.model_copy(update={"ignore": [*settings.ignore, *added]})


async def stored_rules(session: AsyncSession) -> list[IgnoreRule]:
    """Ignore rules added by ignoring items, as config rules."""
    return [
        IgnoreRule(
            kind=rule.kind,
            group=rule.group,
            namespace=rule.namespace,
            name=rule.name,
            path=rule.path,
            reason=rule.reason,
        )
        for rule in await repository.ignore_rules(session)
    ]


@dataclass
class ScanRun:
    """A finished scan: the report and the live objects of drifted resources."""

    report: DriftReport
    live_objects: dict[tuple[str, str, str, str], dict[str, Any]]


async def run_scan(
    sources: ScanSources,
    settings: DriftSettings,
    *,
    git: GitClient,
    cache_dir: Path,
    reader: ClusterReader | None,
) -> ScanRun:
    """Read both sides and compare them."""
    desired = await load_desired(
        sources.desired,
        git=git,
        ref=sources.ref,
        sub_path=sources.path,
        settings=settings,
        cache_dir=cache_dir,
    )
    live = await live_state(sources, settings, reader)
    live_objects: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    report = await scan(desired, live, settings, live_objects=live_objects)
    return ScanRun(report, live_objects)


def worst_level(report: DriftReport) -> DriftLevel | None:
    """The most serious reported level, or None when nothing is reported."""
    levels = [item.level for item in report.reported]
    return min(levels, key=LEVEL_ORDER.__getitem__) if levels else None


class DriftScanner:
    """Runs queued scans (the `drift.scan` job)."""

    def __init__(
        self,
        settings: DriftSettings,
        *,
        git: GitClient,
        cache_dir: Path,
        reader: ReaderProvider,
        router: ChatRouter | None,
        channels: NotifyPolicy,
        public_url: str,
    ) -> None:
        self.settings = settings
        self._git = git
        self._cache_dir = cache_dir
        self._reader = reader
        self._router = router
        self._channels = channels
        self._public_url = public_url.rstrip("/")

    def register(self, registry: JobRegistry) -> None:
        """Register the job handler (and what a dead scan job does to its report)."""
        registry.register(SCAN_JOB, self.run, on_failure=fail_report)

    async def run(self, ctx: JobContext) -> None:
        """Scan once; a report no longer QUEUED (a retry after success) is left alone."""
        report_id = _report_id(ctx.payload)
        if not await try_lock_name(ctx.session, SCAN_LOCK):
            raise ScanBusy("another drift scan is running; retrying later")
        record = await repository.get_report(ctx.session, report_id, for_update=True)
        if record is None or record.status != ReportStatus.QUEUED:
            return
        problem = unusable_input(sources_of(record))
        if problem is not None:
            raise PermanentJobError(problem)
        settings = with_rules(self.settings, await stored_rules(ctx.session))
        try:
            done = await run_scan(
                sources_of(record),
                settings,
                git=self._git,
                cache_dir=self._cache_dir,
                reader=self._reader(),
            )
        except DriftSourceError as exc:
            # A source that cannot be read is a result, not a crash: the report says why.
            record.status = ReportStatus.FAILED
            record.error = exc.detail
            record.finished_at = utcnow()
            log.warning("drift scan failed", report_id=record.id, error=exc.detail)
            return
        router = self._router if settings.interpret else None
        interpretations = await interpret_report(
            router,
            done.report.items,
            done.live_objects,
            max_model_calls=settings.interpret_max_resources,
        )
        await save_report(
            ctx.session,
            done.report,
            actor=record.created_by,
            record=record,
            interpretations=[found.to_json() for found in interpretations],
        )
        await announce(
            ctx.session,
            record,
            done.report,
            levels=self.settings.notify_levels,
            channels=self._channels,
            public_url=self._public_url,
        )


def _report_id(payload: dict[str, Any]) -> int:
    value = payload.get("report_id")
    if isinstance(value, bool) or not isinstance(value, int):
        raise PermanentJobError(f"the job's report_id {value!r} is not a report id")
    return value


async def fail_report(session: AsyncSession, failure: JobFailure) -> None:
    """A scan job that died leaves its report FAILED with the reason, not QUEUED forever."""
    report_id = failure.payload.get("report_id")
    if not failure.dead or isinstance(report_id, bool) or not isinstance(report_id, int):
        return
    record = await repository.get_report(session, report_id, for_update=True)
    if record is None or record.status != ReportStatus.QUEUED:
        return
    record.status = ReportStatus.FAILED
    record.error = failure.error
    record.finished_at = utcnow()
    log.warning("drift scan job dead", report_id=report_id, error=failure.error)


async def announce(
    session: AsyncSession,
    record: DriftReportRecord,
    report: DriftReport,
    *,
    levels: Sequence[str],
    channels: NotifyPolicy,
    public_url: str,
) -> None:
    """Notify about a new report when an item reaches one of `levels` (drift.notify_levels)."""
    worst = worst_level(report)
    if worst is None or worst.value not in levels:
        return
    counts: dict[str, int] = {}
    for item in report.reported:
        counts[item.level.value] = counts.get(item.level.value, 0) + 1
    found = ", ".join(
        f"{counts[level.value]} {level.value}" for level in DriftLevel if level.value in counts
    )
    resources = sorted({str(item.resource) for item in report.reported})
    shown = "\n".join(f"- {name}" for name in resources[:10])
    more = f"\n... and {len(resources) - 10} more" if len(resources) > 10 else ""
    await notify(
        session,
        kind="drift.detected",
        title=f"Drift report {record.id}: {len(resources)} resources drifted ({worst.value})",
        text=(
            f"Git {report.desired_source} vs {report.live_source}: {found}.\n{shown}{more}\n"
            f"CLI: awoooi drift show {record.id}"
        ),
        channels=channels,
        severity=_SEVERITY[worst],
        buttons=[
            Button(
                label="Open report",
                url=f"{public_url.rstrip('/')}/api/v1/drift/reports/{record.id}",
            )
        ],
    )


def schedule_slot(now: datetime, interval: timedelta) -> int:
    """Which interval `now` falls in (the same number on every replica)."""
    return int(now.timestamp() // interval.total_seconds())


async def queue_scheduled_scan(
    session_factory: async_sessionmaker[AsyncSession],
    settings: DriftSettings,
    *,
    cluster_available: bool,
    now: datetime | None = None,
) -> int | None:
    """Queue this interval's scan unless a replica already did; the new report id, or None."""
    sources = configured_sources(settings, cluster_available=cluster_available)
    slot = schedule_slot(now or utcnow(), settings.scan_interval)
    key = f"drift-schedule:{slot}"
    async with transaction(session_factory) as session:
        # Every replica tries; the lock makes them take turns and the first one's job (found by
        # its dedupe key) tells the others the interval is served.
        await lock_names(session, [key])
        if await job_for_key(session, key) is not None:
            return None
        record = await queue_scan(session, sources, actor=SCHEDULE_ACTOR, dedupe_key=key)
        return record.id


async def run_schedule(
    session_factory: async_sessionmaker[AsyncSession],
    settings: DriftSettings,
    stop: asyncio.Event,
    *,
    cluster_available: bool,
) -> None:
    """Queue a scan every `drift.scan_interval` until `stop` is set (the serve lifespan)."""
    interval = settings.scan_interval.total_seconds()
    while not stop.is_set():
        try:
            report_id = await queue_scheduled_scan(
                session_factory, settings, cluster_available=cluster_available
            )
            if report_id is not None:
                log.info("drift scan scheduled", report_id=report_id)
        except DriftNotConfigured as exc:
            log.warning("drift schedule stopped", reason=exc.detail)
            return
        except Exception as exc:  # noqa: BLE001 - the schedule must outlive a database blip
            log.warning("drift schedule could not queue a scan", error=str(exc))
        # Sleep to the start of the next interval, so replicas agree on the slot.
        left = interval - (utcnow().timestamp() % interval)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(left, 1.0))


async def save_report(
    session: Any,
    report: DriftReport,
    *,
    actor: str,
    sources: ScanSources | None = None,
    record: DriftReportRecord | None = None,
    interpretations: Sequence[dict[str, Any]] = (),
) -> tuple[DriftReportRecord, list[DriftItemRecord]]:
    """Persist a report (into `record` when the scan was queued) and its items, ignored ones
    marked IGNORED; the item records come back in the order of `report.items`."""
    if record is None:
        record = DriftReportRecord(created_by=actor[:128])
        session.add(record)
    record.desired_source = report.desired_source[:2048]
    record.live_source = report.live_source[:2048]
    record.revision = report.revision
    record.started_at = report.started_at
    record.finished_at = report.finished_at
    record.summary = report.summary()
    record.problems = [str(problem) for problem in report.problems]
    record.interpretations = list(interpretations)
    if sources is not None:
        record.desired_ref = sources.ref
        record.desired_path = sources.path
        record.live_dump = sources.live_dump
        record.live_context = sources.live_context
    await session.flush()
    items = []
    for item in report.items:
        status = DriftStatus.IGNORED if item.ignored else DriftStatus.DETECTED
        items.append(
            DriftItemRecord(
                report_id=record.id,
                api_version=item.resource.api_version,
                kind=item.resource.kind,
                namespace=item.resource.namespace,
                name=item.resource.name,
                change=item.change,
                path=item.path,
                desired=item.desired,
                live=item.live,
                level=item.level,
                ignored=item.ignored,
                reason=item.reason,
                source_file=item.source_file,
                document_index=item.document_index,
                item_index=item.item_index,
                path_segments=encode_segments(item.segments),
                status=status,
                status_by=actor[:128] if item.ignored else None,
                status_at=report.finished_at if item.ignored else None,
                status_detail={},
            )
        )
    session.add_all(items)
    await session.flush()
    record.status = report_status(item.status for item in items if not item.ignored)
    await session.flush()
    return record, items

"""Pruning drift reports on SQLite and PostgreSQL: old finished reports go with their items;
queued ones, ones a pending job names and the newest finished one of each source stay, and ignore
rules outlive the items they were made from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from awoooi.core.audit import SYSTEM_CALLER
from awoooi.core.db import transaction
from awoooi.core.models import JobStatus
from awoooi.drift.models import DriftIgnoreRule, DriftItemRecord, DriftReportRecord
from awoooi.drift.report import ReportStatus
from awoooi.retention.service import RetentionPolicy, prune
from awoooi.runtime import Runtime
from awoooi.settings import Settings
from tests.conftest import make_settings
from tests.retention.seed import (
    RECENT,
    DriftReportTree,
    add_drift_report,
    add_ignore_rule,
    add_job,
    exists,
    row_counts,
)

# Drift reports only, in batches smaller than what is seeded: the step has to loop.
DRIFT_ONLY = RetentionPolicy(0, 0, 0, 0, 0, drift_reports_days=30, batch_size=2)
SOURCE = "https://git.example/deploy.git"
FLAKY = "https://git.example/flaky.git"


async def seed_reports(runtime: Runtime) -> tuple[list[DriftReportTree], list[DriftReportTree]]:
    """Old and recent reports of three sources and a queued scan; (deleted, kept) by a prune."""
    factory = runtime.session_factory
    gone = [
        await add_drift_report(factory),
        await add_drift_report(factory, status=ReportStatus.FAILED, items=0),
        await add_drift_report(factory, status=ReportStatus.ROLLED_BACK),
        # Another cluster's scans of the same Git source: a source is the pair.
        await add_drift_report(factory, live="dump:/var/dumps/staging"),
    ]
    named_by_queued = await add_drift_report(factory)
    await add_job(
        factory, status=JobStatus.QUEUED, payload={"report_id": named_by_queued.report_id}
    )
    named_by_running = await add_drift_report(factory, status=ReportStatus.IN_SYNC, items=0)
    await add_job(
        factory, status=JobStatus.RUNNING, payload={"report_id": str(named_by_running.report_id)}
    )
    # A job that is done no longer needs its report.
    named_by_done = await add_drift_report(factory)
    await add_job(factory, payload={"report_id": named_by_done.report_id})
    gone.append(named_by_done)
    kept = [
        named_by_queued,
        named_by_running,
        # The newest finished report of the main source, however old: its last known state.
        await add_drift_report(factory, status=ReportStatus.ADOPTED),
        # A queued scan: never a candidate, and not the newest *finished* report above.
        await add_drift_report(factory, status=ReportStatus.QUEUED, items=0),
        # The other cluster's newest is recent; an old one of a third source is its only one.
        await add_drift_report(factory, live="dump:/var/dumps/staging", started_at=RECENT),
        await add_drift_report(factory, desired="/srv/manifests"),
    ]
    # A source whose scans have failed since its last real result keeps that result too.
    gone.append(await add_drift_report(factory, desired=FLAKY))
    for status in (ReportStatus.IN_SYNC, ReportStatus.FAILED):
        kept.append(await add_drift_report(factory, desired=FLAKY, status=status, items=0))
    return gone, kept


async def test_old_finished_reports_go_with_their_items_and_what_is_needed_stays(
    runtime: Runtime,
) -> None:
    factory = runtime.session_factory
    gone, kept = await seed_reports(runtime)
    before = await row_counts(factory)

    report = await prune(factory, DRIFT_ONLY, caller=SYSTEM_CALLER)

    gone_items = sum(len(tree.item_ids) for tree in gone)
    assert (report.removed["drift_reports"], report.removed["drift_items"]) == (
        len(gone),
        gone_items,
    )
    assert report.total == len(gone) + gone_items
    for tree in gone:
        assert not await exists(factory, DriftReportRecord, tree.report_id)
        for item in tree.item_ids:
            assert not await exists(factory, DriftItemRecord, item)
    for tree in kept:
        assert await exists(factory, DriftReportRecord, tree.report_id)
        for item in tree.item_ids:
            assert await exists(factory, DriftItemRecord, item)
    after = await row_counts(factory)
    assert after["drift_reports"] == before["drift_reports"] - len(gone) == len(kept)
    assert after["drift_items"] == before["drift_items"] - gone_items
    # Run again: what is left is all still needed.
    assert (await prune(factory, DRIFT_ONLY, caller=SYSTEM_CALLER)).total == 0


async def test_a_dry_run_counts_the_same_reports_and_deletes_nothing(runtime: Runtime) -> None:
    factory = runtime.session_factory
    await seed_reports(runtime)
    before = await row_counts(factory)

    dry = await prune(factory, DRIFT_ONLY, caller=SYSTEM_CALLER, dry_run=True)

    assert dry.removed["drift_reports"]
    assert dry.removed["drift_items"]
    assert await row_counts(factory) == before
    real = await prune(factory, DRIFT_ONLY, caller=SYSTEM_CALLER)
    assert real.removed == dry.removed


async def test_retention_days_zero_keeps_every_report(
    runtime: Runtime, settings: Settings, tmp_path: Path
) -> None:
    factory = runtime.session_factory
    await seed_reports(runtime)
    before = await row_counts(factory)
    # Everything else is pruned as configured; drift reports are kept forever.
    forever = Runtime.from_settings(
        make_settings(
            tmp_path / "home", settings.resolved_database_url, drift={"retention_days": 0}
        )
    )
    try:
        policy = forever.retention_policy
    finally:
        await forever.dispose()
    assert policy.drift_reports_days == 0
    assert not policy.keeps_everything

    report = await prune(factory, policy, caller=SYSTEM_CALLER)

    assert (report.removed["drift_reports"], report.removed["drift_items"]) == (0, 0)
    after = await row_counts(factory)
    assert (after["drift_reports"], after["drift_items"]) == (
        before["drift_reports"],
        before["drift_items"],
    )


async def test_ignore_rules_outlive_the_items_they_were_made_from(runtime: Runtime) -> None:
    factory = runtime.session_factory
    old = await add_drift_report(factory)
    rule = await add_ignore_rule(factory, old.item_ids[0])
    newest = await add_drift_report(factory)
    rule_of_kept = await add_ignore_rule(factory, newest.item_ids[0])

    report = await prune(factory, DRIFT_ONLY, caller=SYSTEM_CALLER)

    assert report.removed["drift_items"] == 2
    async with factory() as session:
        unlinked = await session.get(DriftIgnoreRule, rule)
        linked = await session.get(DriftIgnoreRule, rule_of_kept)
    assert unlinked is not None
    assert unlinked.item_id is None
    assert linked is not None
    assert linked.item_id == newest.item_ids[0]


async def test_the_schema_unlinks_ignore_rules_from_a_deleted_item(runtime: Runtime) -> None:
    """The migrated schema itself keeps a rule and sets its item NULL (ON DELETE SET NULL),
    whoever deletes the item."""

    def item_foreign_key(connection: Connection) -> dict[str, Any]:
        keys = inspect(connection).get_foreign_keys("drift_ignore_rules")
        (key,) = [key for key in keys if key["constrained_columns"] == ["item_id"]]
        return dict(key)

    async with runtime.engine.connect() as connection:
        key = await connection.run_sync(item_foreign_key)
    assert key["referred_table"] == "drift_items"
    assert str(key["options"].get("ondelete", "")).upper() == "SET NULL"

    factory = runtime.session_factory
    tree = await add_drift_report(factory, items=1)
    rule = await add_ignore_rule(factory, tree.item_ids[0])
    async with transaction(factory) as session:
        await session.delete(await session.get(DriftItemRecord, tree.item_ids[0]))
    async with factory() as session:
        kept = await session.get(DriftIgnoreRule, rule)
    assert kept is not None
    assert kept.item_id is None

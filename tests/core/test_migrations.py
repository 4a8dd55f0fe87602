"""Alembic migrations on SQLite and PostgreSQL: build, agree with the models, go down and up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from awoooi import models
from awoooi.core import migrate
from awoooi.core.db import create_engine
from awoooi.runtime import Runtime
from awoooi.settings import Settings

APP_TABLES = {
    "api_tokens",
    "audit_log",
    "jobs",
    "notifications",
    "write_locks",
    "incidents",
    "incident_alerts",
    "incident_events",
    "incident_day_counters",
    "llm_calls",
    "knowledge_entries",
    "knowledge_versions",
    "repairs",
    "repair_steps",
    "drift_reports",
    "drift_items",
    "drift_ignore_rules",
    "notify_actions",
    "diagnoses",
    "provider_breakers",
}


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    active = create_engine(database_url)
    try:
        yield active
    finally:
        await active.dispose()


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
    # The hand-made search index (FTS5 shadow tables on SQLite) is not a model table.
    return {name for name in names if migrate.include_name(name, "table", {})}


def _schema(conn: Connection) -> dict[str, Any]:
    inspector = inspect(conn)
    snapshot: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):
        snapshot[table] = {
            "columns": [
                (column["name"], str(column["type"]), column["nullable"])
                for column in inspector.get_columns(table)
            ],
            "indexes": sorted(index["name"] or "" for index in inspector.get_indexes(table)),
            "unique": sorted(
                constraint["name"] or "" for constraint in inspector.get_unique_constraints(table)
            ),
        }
    return snapshot


async def schema_snapshot(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as conn:
        return await conn.run_sync(_schema)


def _differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(
        conn, opts={"compare_type": True, "include_name": migrate.include_name}
    )
    return list(compare_metadata(context, models.metadata))


def _downgrade(conn: Connection, revision: str) -> None:
    command.downgrade(migrate.alembic_config(conn), revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_downgrade, revision)


async def version_rows(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars())


def test_head_revision_is_the_newest_script() -> None:
    assert migrate.head_revision() == "0017"
    assert (migrate.migrations_dir() / "env.py").is_file()


async def test_empty_database_has_no_revision(engine: AsyncEngine) -> None:
    assert await migrate.current_revision(engine) is None
    assert await table_names(engine) == set()


async def test_upgrade_builds_the_schema(engine: AsyncEngine) -> None:
    await migrate.upgrade(engine)

    assert await table_names(engine) == APP_TABLES | {"alembic_version"}
    assert await migrate.current_revision(engine) == migrate.head_revision()
    assert await version_rows(engine) == [migrate.head_revision()]


async def test_models_and_migrations_agree(engine: AsyncEngine) -> None:
    await migrate.upgrade(engine)

    async with engine.connect() as conn:
        differences = await conn.run_sync(_differences)

    assert differences == []


async def test_every_model_table_is_migrated() -> None:
    assert set(models.metadata.tables) == APP_TABLES


async def test_upgrade_twice_is_a_no_op(engine: AsyncEngine) -> None:
    await migrate.upgrade(engine)
    before = await schema_snapshot(engine)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO audit_log (at, actor, action, target, outcome, detail) "
                "VALUES (CURRENT_TIMESTAMP, 'test', 'probe', 'schema', 'ok', '{}')"
            )
        )

    await migrate.upgrade(engine)

    assert await schema_snapshot(engine) == before
    assert await version_rows(engine) == [migrate.head_revision()]
    async with engine.connect() as conn:
        kept = (await conn.execute(text("SELECT action FROM audit_log"))).scalars().all()
    assert list(kept) == ["probe"]  # the tables were not rebuilt


async def test_downgrade_to_base_then_upgrade_again(engine: AsyncEngine) -> None:
    await migrate.upgrade(engine)
    built = await schema_snapshot(engine)

    await downgrade(engine, "base")

    assert await migrate.current_revision(engine) is None
    assert await table_names(engine) - {"alembic_version"} == set()

    await migrate.upgrade(engine)

    assert await migrate.current_revision(engine) == migrate.head_revision()
    assert await schema_snapshot(engine) == built
    async with engine.connect() as conn:
        assert await conn.run_sync(_differences) == []


async def test_current_revision_equals_head(engine: AsyncEngine) -> None:
    head = migrate.head_revision()
    assert head is not None

    await migrate.upgrade(engine)

    assert await migrate.current_revision(engine) == head


async def test_runtime_migrations_can_run_concurrently(settings: Settings) -> None:
    # Replicas (serve + workers) migrate on start; on PostgreSQL an advisory lock serialises them.
    runtimes = [Runtime.from_settings(settings) for _ in range(3)]
    try:
        await asyncio.gather(*(runtime.migrate() for runtime in runtimes))
        assert await migrate.current_revision(runtimes[0].engine) == migrate.head_revision()
        assert await version_rows(runtimes[0].engine) == [migrate.head_revision()]
    finally:
        for runtime in runtimes:
            await runtime.dispose()


_DRIFT_REPORT = (
    "INSERT INTO drift_reports (desired_source, live_source, started_at, created_by, summary,"
    " problems) VALUES ('git', 'live', CURRENT_TIMESTAMP, 'test', '{}', '[]')"
)
_DRIFT_ITEMS = tuple(
    "INSERT INTO drift_items (report_id, api_version, kind, name, change, path, level, ignored,"
    f" reason, status) SELECT id, 'v1', 'ConfigMap', '{name}', 'modified', '/data/a', 'low',"
    " false, 'edited live', 'DETECTED' FROM drift_reports"
    for name in ("settings", "flags")
)


async def drift_item_names(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        names = await conn.execute(text("SELECT name FROM drift_items ORDER BY id"))
        return list(names.scalars())


async def test_0010_keeps_every_drift_item_of_a_saved_report(engine: AsyncEngine) -> None:
    await migrate.upgrade(engine, "0009")
    async with engine.begin() as conn:
        for statement in (_DRIFT_REPORT, *_DRIFT_ITEMS):
            await conn.execute(text(statement))

    await migrate.upgrade(engine, "0010")
    # Rebuilding `drift_reports` on SQLite (for its status CHECK) must not cascade to its items.
    assert await drift_item_names(engine) == ["settings", "flags"]
    async with engine.connect() as conn:
        status = await conn.scalar(text("SELECT status FROM drift_reports"))
    assert status == "DETECTED"  # saved before remediation existed: a finished scan

    await downgrade(engine, "0009")
    assert await drift_item_names(engine) == ["settings", "flags"]


_INCIDENT = (
    "INSERT INTO incidents (human_id, title, severity, status, affected_services, labels,"
    " annotations, symptoms, symptoms_hash, source, occurrences, first_seen, last_seen,"
    " created_at, updated_at) VALUES ('INC-1', 't', 'high', 'repairing', '[]', '{}', '{}', '{}',"
    " 'h', 'test', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
)
_REPAIR = (
    "INSERT INTO repairs (incident_id, target, verdict, reasons, status, dry_run, symptoms_hash,"
    " plan, requested_by, started_at, created_at, updated_at) SELECT id, 'shop/Deployment/web',"
    " 'AUTO', '[]', 'running', false, 'h', '[]', 'test', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP,"
    " CURRENT_TIMESTAMP FROM incidents"
)
_STEPS = tuple(
    "INSERT INTO repair_steps (repair_id, position, action, params, status) "
    f"SELECT id, {position}, '{action}', '{{}}', '{status}' FROM repairs"
    for position, action, status in ((0, "http.request", "succeeded"), (1, "kube.scale", "running"))
)


async def statuses(engine: AsyncEngine) -> tuple[list[str], list[str]]:
    async with engine.connect() as conn:
        repairs = (
            (await conn.execute(text("SELECT status FROM repairs ORDER BY id"))).scalars().all()
        )
        steps = await conn.execute(text("SELECT status FROM repair_steps ORDER BY position"))
        return list(repairs), list(steps.scalars().all())


async def test_0013_allows_interrupted_and_keeps_every_repair_and_step(
    engine: AsyncEngine,
) -> None:
    await migrate.upgrade(engine, "0012")
    async with engine.begin() as conn:
        for statement in (_INCIDENT, _REPAIR, *_STEPS):
            await conn.execute(text(statement))
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE repairs SET status = 'interrupted'"))

    await migrate.upgrade(engine)
    # Rebuilding `repairs` on SQLite must not cascade to its steps.
    assert await statuses(engine) == (["running"], ["succeeded", "running"])
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE repairs SET status = 'interrupted'"))
        await conn.execute(
            text("UPDATE repair_steps SET status = 'interrupted' WHERE position = 1")
        )
    for table in ("repairs", "repair_steps"):
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(text(f"UPDATE {table} SET status = 'bogus'"))
    # The partial unique index still allows one running repair per target, and only one.
    async with engine.begin() as conn:
        await conn.execute(text(_REPAIR))
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(text(_REPAIR))

    await downgrade(engine, "0012")
    assert await statuses(engine) == (["failed", "running"], ["succeeded", "failed"])


async def test_0016_adds_storms_and_keeps_every_incident_row(engine: AsyncEngine) -> None:
    await migrate.upgrade(engine, "0013")
    async with engine.begin() as conn:
        for statement in (_INCIDENT, _REPAIR, *_STEPS):
            await conn.execute(text(statement))

    await migrate.upgrade(engine)
    # Rebuilding `incidents` on SQLite must not cascade to its repairs and their steps.
    assert await statuses(engine) == (["running"], ["succeeded", "running"])
    async with engine.begin() as conn:
        kind = await conn.scalar(text("SELECT kind FROM incidents"))
        priority = await conn.scalar(text("SELECT count(*) FROM jobs WHERE priority <> 0"))
    assert (kind, priority) == ("incident", 0)
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE incidents SET kind = 'bogus'"))

    await downgrade(engine, "0013")
    assert await statuses(engine) == (["running"], ["succeeded", "running"])


_STORM_CHILD = (
    "INSERT INTO incidents (human_id, title, severity, status, affected_services, labels,"
    " annotations, symptoms, symptoms_hash, source, occurrences, first_seen, last_seen,"
    " created_at, updated_at, kind, parent_id) SELECT 'INC-2', 'child', 'low', 'open', '[]',"
    " '{}', '{}', '{}', 'h', 'test', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP,"
    " CURRENT_TIMESTAMP, 'incident', id FROM incidents WHERE human_id = 'INC-1'"
)
_EVENT = (
    "INSERT INTO incident_events (incident_id, at, actor, event, from_status, to_status, detail)"
    " SELECT id, CURRENT_TIMESTAMP, 'test', 'status_changed', 'open', 'repairing', '{}'"
    " FROM incidents WHERE human_id = 'INC-1'"
)


async def incident_rows(engine: AsyncEngine) -> list[tuple[str, str, str | None]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT i.human_id, i.status, p.human_id FROM incidents i "
                "LEFT JOIN incidents p ON p.id = i.parent_id ORDER BY i.human_id"
            )
        )
        return [(row[0], row[1], row[2]) for row in rows]


async def test_0017_allows_awaiting_approval_and_keeps_every_incident_row(
    engine: AsyncEngine,
) -> None:
    await migrate.upgrade(engine, "0016")
    async with engine.begin() as conn:
        for statement in (_INCIDENT, _REPAIR, *_STEPS, _STORM_CHILD, _EVENT):
            await conn.execute(text(statement))
    # Refused by the CHECK (and on PostgreSQL by the column's length first).
    with pytest.raises(DBAPIError):
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE incidents SET status = 'awaiting_approval'"))

    await migrate.upgrade(engine)
    # Rebuilding `incidents` on SQLite keeps its repairs, steps, timeline and storm children.
    assert await statuses(engine) == (["running"], ["succeeded", "running"])
    assert await incident_rows(engine) == [("INC-1", "repairing", None), ("INC-2", "open", "INC-1")]
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE incidents SET status = 'awaiting_approval'"))
        await conn.execute(text("UPDATE incident_events SET to_status = 'awaiting_approval'"))
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE incidents SET status = 'waiting'"))

    await downgrade(engine, "0016")
    # The older schema's closest word for a wait: open.
    assert await incident_rows(engine) == [("INC-1", "open", None), ("INC-2", "open", "INC-1")]
    assert await statuses(engine) == (["running"], ["succeeded", "running"])
    async with engine.connect() as conn:
        moved = await conn.execute(text("SELECT from_status, to_status FROM incident_events"))
        assert [tuple(row) for row in moved] == [("open", "open")]

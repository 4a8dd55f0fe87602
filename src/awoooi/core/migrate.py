"""Apply Alembic migrations from inside the process, on an async engine."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

import awoooi
from awoooi.core.db import is_sqlite
from awoooi.core.filelock import file_lock
from awoooi.core.logging import get_logger

log = get_logger(__name__)

# Any constant shared by every replica works; this one spells "awoooi" in ASCII.
MIGRATION_LOCK_ID = 0x61776F6F6F69

# Database objects made by hand in migrations that no model describes: the full-text search
# index (an FTS5 table and its shadow tables on SQLite, a generated tsvector column on
# PostgreSQL). Autogenerate and the models-vs-migrations check must leave them alone.
UNMODELLED_TABLE_PREFIXES = ("knowledge_fts", "knowledge_search")
UNMODELLED_COLUMNS = frozenset({("knowledge_entries", "search_vector")})
UNMODELLED_INDEXES = frozenset({"ix_knowledge_entries_search", "ix_knowledge_search_vector"})


def include_name(name: str | None, type_: str, parent_names: dict[str, str | None]) -> bool:
    """Alembic filter: skip the search objects that migrations create by hand."""
    if type_ == "table" and name is not None:
        return not name.startswith(UNMODELLED_TABLE_PREFIXES)
    if type_ == "column":
        return (parent_names.get("table_name"), name) not in UNMODELLED_COLUMNS
    if type_ == "index":
        return name not in UNMODELLED_INDEXES
    return True


def migrations_dir() -> Path:
    """Where the migration scripts are: inside the wheel, or at the source tree's root."""
    package_dir = Path(awoooi.__file__).resolve().parent
    for candidate in (package_dir / "_migrations", package_dir.parents[1] / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError("awoooi's migration scripts are missing from this installation")


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at our scripts, optionally bound to an open connection."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    before = _current(connection)
    command.upgrade(alembic_config(connection), revision)
    after = _current(connection)
    if after != before:
        # Alembic's own INFO lines are silenced (core.logging); this is the one that matters.
        log.info("database schema upgraded", from_revision=before, to_revision=after)


def _current(connection: Connection) -> str | None:
    # Read the version table directly: MigrationContext logs at INFO on every call, and
    # /readyz calls this on every probe.
    if not inspect(connection).has_table("alembic_version"):
        return None
    revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return str(revision) if revision is not None else None


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema up to `revision` (default: the newest)."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, revision)


async def upgrade_exclusively(engine: AsyncEngine) -> None:
    """Apply pending migrations, one process at a time (PostgreSQL advisory lock, SQLite lock
    file)."""
    if is_sqlite(str(engine.url)):
        database = engine.url.database
        if not database or database == ":memory:":
            await upgrade(engine)
            return
        # SQLite has no advisory locks; without this, processes starting together on a fresh
        # file race to CREATE TABLE and one fails ("already exists" / "database is locked").
        async with file_lock(Path(f"{database}.migrate-lock")):
            await upgrade(engine)
        return
    async with engine.connect() as conn:
        await conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        await conn.commit()
        try:
            await upgrade(engine)
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
            await conn.commit()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None when it has no schema yet."""
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


def head_revision() -> str | None:
    """The newest revision among the shipped scripts."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()

"""Async database engine, session factory and the declarative Base shared by every model."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import JSON, DateTime, MetaData, String, event, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection, Dialect, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection, ExecutionContext
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from awoooi.core.private_files import private_directory, private_file, tighten_file
from awoooi.core.write_gate import WriteGate

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The files SQLite keeps beside the database while it runs.
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")

# Statements that take SQLite's write lock (pysqlite opens the transaction right before them).
_WRITE_STATEMENT = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER)\b", re.I)
DEFAULT_WRITE_WAIT = 10.0

# JSONB on PostgreSQL (indexable, compact), plain JSON text on SQLite.
JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always returned timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; awoooi stores timezone-aware UTC times")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


E = TypeVar("E", bound=StrEnum)


class EnumText(TypeDecorator[E]):
    """A StrEnum stored as its value in a plain string column (kept by a CHECK constraint), so
    the model holds enum members and a wrong value fails where it is written, not when read."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)


class Base(DeclarativeBase):
    """Declarative base with a naming convention so migrations name constraints stably."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def is_sqlite(url: str) -> bool:
    """Whether the URL points at SQLite."""
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_pragmas(write_wait: float) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets readers run beside the single writer. Writers of this process queue at the
        # write gate; busy_timeout only bounds the wait for another process's writer.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(write_wait * 1000)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return on_connect


def install_write_gate(engine: AsyncEngine, gate: WriteGate) -> None:
    """Make every connection of an SQLite engine take the gate before its first write and hold
    it until the connection goes back to the pool (after its COMMIT or ROLLBACK)."""

    def before_write(
        conn: Connection,
        _cursor: Any,
        statement: str,
        _parameters: Any,
        _context: ExecutionContext | None,
        _executemany: bool,
    ) -> None:
        dbapi_connection = conn.connection.dbapi_connection
        if gate.holder is dbapi_connection or not _WRITE_STATEMENT.match(statement):
            return
        # Event handlers are synchronous; run_async awaits in the caller's task (SQLAlchemy's
        # documented bridge for asyncio drivers).
        dbapi_connection.run_async(lambda _driver: gate.acquire(dbapi_connection))  # type: ignore[union-attr]

    def returned(dbapi_connection: DBAPIConnection | None, _record: ConnectionPoolEntry) -> None:
        gate.release(dbapi_connection)

    def invalidated(
        dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry, _exc: Any
    ) -> None:
        gate.release(dbapi_connection)

    event.listen(engine.sync_engine, "before_cursor_execute", before_write)
    event.listen(engine.sync_engine.pool, "checkin", returned)
    event.listen(engine.sync_engine.pool, "invalidate", invalidated)
    event.listen(engine.sync_engine.pool, "close", returned)


def _private_database_files(database: Path) -> Callable[..., None]:
    """A connect hook: the database file exists 0600 before SQLite opens it (SQLite gives its
    WAL, SHM and journal the database's mode), and files an older version left open are
    tightened."""

    def before_connect(*_args: Any) -> None:
        private_file(database)
        for suffix in SQLITE_SIDE_FILES:
            tighten_file(Path(f"{database}{suffix}"))

    return before_connect


def create_engine(
    url: str, *, pool_size: int = 10, write_wait: float = DEFAULT_WRITE_WAIT
) -> AsyncEngine:
    """Create the async engine for a SQLite or PostgreSQL URL, with our connection settings;
    SQLite writers queue at a write gate for up to `write_wait` seconds."""
    if is_sqlite(url):
        database = make_url(url).database
        engine = create_async_engine(url, connect_args={"timeout": write_wait})
        if database and database != ":memory:":
            private_directory(Path(database).parent)
            event.listen(engine.sync_engine, "do_connect", _private_database_files(Path(database)))
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas(write_wait))
        install_write_gate(engine, WriteGate(write_wait))
        return engine
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        # Sessions in UTC, so timestamps print (and group by day) the same as on SQLite.
        connect_args={"server_settings": {"timezone": "UTC"}},
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Session factory whose objects stay usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(
    factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A session that commits when the block succeeds and rolls back when it raises."""
    async with factory() as session, session.begin():
        yield session


async def ping(engine: AsyncEngine) -> None:
    """Run a trivial query; raises when the database is unreachable."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


def redact_url(url: str) -> str:
    """The URL with its password hidden, safe for logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL must still never be logged verbatim
        return "<unparsable database url>"


def enum_check(column: str, enum: type[StrEnum]) -> str:
    """A CHECK constraint's SQL: the column holds one of the enum's values."""
    return f"{column} IN ({', '.join(repr(member.value) for member in enum)})"

"""Fixtures for knowledge tests: both databases, tokens per role, entries made by the service.

`database_url` is overridden here so the PostgreSQL runs share one database (created once per
session, emptied before each test) instead of creating and dropping one per test, which is what
dominates the run time; SQLite still gets a new file per test. Migrations run against it once,
from the first test's runtime, so migration 0004 is still applied on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from awoooi.core.audit import Caller, Door
from awoooi.core.db import transaction
from awoooi.core.models import Role
from awoooi.knowledge import service
from awoooi.knowledge.models import EntrySource, EntryStatus, EntryType, KnowledgeEntry
from awoooi.runtime import Runtime
from tests.conftest import create_pg_database, drop_pg_database
from tests.incidents import conftest as incident_fixtures
from tests.incidents.conftest import TokenFactory

headers_for = incident_fixtures.headers_for

BASE = "/api/v1/knowledge"
T = TypeVar("T")


def _in_thread(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on its own loop, whether or not a loop is running here."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, make()).result()


@pytest.fixture(scope="session")
def shared_pg_database() -> Iterator[str]:
    """One PostgreSQL database for the knowledge tests, dropped at the end of the session."""
    url = _in_thread(create_pg_database)
    try:
        yield url
    finally:
        _in_thread(lambda: drop_pg_database(url))


async def _empty(url: str) -> None:
    """Truncate every table but alembic's (identities restart), so each test starts empty."""
    parts = make_url(url)
    conn = await asyncpg.connect(
        host=parts.host or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password,
        database=parts.database,
        timeout=5,
    )
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version'"
        )
        if tables:
            names = ", ".join(f'"{row["tablename"]}"' for row in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database, once on SQLite and once on PostgreSQL (shared, emptied per test)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'awoooi.db'}"
        return
    url: str = request.getfixturevalue("shared_pg_database")
    await _empty(url)
    yield url


@pytest.fixture
async def operator(headers_for: TokenFactory) -> dict[str, str]:
    """Authorization headers of an operator token."""
    return await headers_for(Role.OPERATOR)


@pytest.fixture
async def viewer(headers_for: TokenFactory) -> dict[str, str]:
    """Authorization headers of a viewer token."""
    return await headers_for(Role.VIEWER)


async def add_entry(runtime: Runtime, **values: Any) -> KnowledgeEntry:
    """Create an entry through the service (defaults: a MANUAL RUNBOOK in DRAFT), committed."""
    fields: dict[str, Any] = {
        "title": "An entry",
        "content": "Some content.",
        "entry_type": EntryType.RUNBOOK,
        "source": EntrySource.MANUAL,
        "status": EntryStatus.DRAFT,
        "created_by": "test",
        **values,
    }
    async with transaction(runtime.session_factory) as session:
        return await service.create_entry(session, service.NewEntry(**fields))


def person(name: str) -> Caller:
    """A person deciding through the CLI, as the services audit them."""
    return Caller(name, Door.CLI)

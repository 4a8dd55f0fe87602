"""Shared fixtures: every database test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from awoooi.api.app import create_app
from awoooi.core.config import JobsSettings
from awoooi.runtime import ADMIN_TOKEN_FILE, Runtime
from awoooi.settings import Settings

# The API-server stand-in's `api` and `kube` fixtures, for adapter and diagnosis tests.
pytest_plugins = ["tests.helpers.kube_fixtures"]

DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
T = TypeVar("T")


def pg_base_url() -> str:
    """The PostgreSQL server the tests may create databases on."""
    return os.environ.get("AWOOOI_TEST_DATABASE_URL", DEFAULT_PG_URL)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


async def _admin_connection() -> asyncpg.Connection:
    url = make_url(pg_base_url())
    return await asyncpg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        database=url.database or "postgres",
        timeout=5,
    )


async def create_pg_database(template: str | None = None) -> str:
    """Create a uniquely named PostgreSQL database (empty, or a copy of `template`); its URL."""
    try:
        conn = await _admin_connection()
    except (OSError, asyncpg.PostgresError) as exc:
        message = f"PostgreSQL at {pg_base_url()} is unreachable: {exc}"
        if _in_ci():
            pytest.fail(message + " (CI=true: PostgreSQL tests must not skip)")
        pytest.skip(message)
    name = f"awoooi_t_{uuid.uuid4().hex[:12]}"
    try:
        if template is None:
            await conn.execute(f'CREATE DATABASE "{name}"')
        else:
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()
    return make_url(pg_base_url()).set(database=name).render_as_string(hide_password=False)


async def drop_pg_database(url: str) -> None:
    """Drop a database made by create_pg_database, closing its leftover connections."""
    name = make_url(url).database
    conn = await _admin_connection()
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def _in_thread(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on its own loop, whether or not a loop is running here."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, make()).result()


async def _migrate(home: Path, url: str) -> None:
    runtime = Runtime.from_settings(make_settings(home, url))
    try:
        await runtime.migrate()
    finally:
        await runtime.dispose()  # a template database must have no open connection


@pytest.fixture(scope="session")
def pg_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL database migrated to head once per worker process: the source of copies."""
    # Each pytest-xdist worker runs its own session, hence has its own template: CREATE DATABASE
    # ... TEMPLATE fails while anyone else is connected to the template, and no one else is.
    url = _in_thread(create_pg_database)
    try:
        _in_thread(lambda: _migrate(tmp_path_factory.mktemp("pg-template"), url))
        name = make_url(url).database
        assert name is not None
        yield name
    finally:
        _in_thread(lambda: drop_pg_database(url))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated to head once per worker process: the source of copies."""
    home = tmp_path_factory.mktemp("sqlite-template")
    path = home / "awoooi.db"
    _in_thread(lambda: _migrate(home, f"sqlite+aiosqlite:///{path}"))
    return path


def _copy_sqlite(source: Path, target: Path) -> None:
    # The backup API copies a consistent database whatever is left in a write-ahead log.
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database (a migrated one under a `runtime`), on SQLite and on PostgreSQL."""
    # A `runtime` migrates the database as it starts, so its tests get a copy of one migrated
    # once per worker: the same schema without running every migration per test, which was most
    # of a PostgreSQL test's setup. Migrations themselves run on the empty databases of the
    # migration and CLI tests.
    migrated = "runtime" in request.fixturenames
    if request.param == "sqlite":
        path = tmp_path / "awoooi.db"
        if migrated:
            _copy_sqlite(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    template = request.getfixturevalue("pg_template") if migrated else None
    url = await create_pg_database(template)
    try:
        yield url
    finally:
        await drop_pg_database(url)


def make_settings(home: Path, database_url: str, **overrides: object) -> Settings:
    """Settings for a test: its own home, a fast job queue, no in-process worker."""
    jobs = JobsSettings(
        poll_interval=0.05, lease_seconds=30, backoff_base=1, backoff_max=60, run_in_serve=False
    )
    values: dict[str, object] = {"home": home, "database_url": database_url, "jobs": jobs}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings over the parametrized database."""
    return make_settings(tmp_path / "home", database_url)


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """A migrated runtime."""
    active = Runtime.from_settings(settings)
    await active.migrate()
    try:
        yield active
    finally:
        await active.dispose()


@pytest.fixture
async def app(settings: Settings, runtime: Runtime) -> AsyncIterator[FastAPI]:
    """The API with its lifespan running (migrations, admin bootstrap)."""
    application = create_app(settings, runtime=runtime, run_worker=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client speaking to the app in-process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://awoooi.test") as http:
        yield http


@pytest.fixture
def admin_token(settings: Settings, app: FastAPI) -> str:
    """The admin token the first start wrote to $AWOOOI_HOME/admin-token."""
    return (settings.home / ADMIN_TOKEN_FILE).read_text().strip()


@pytest.fixture
def admin_headers(admin_token: str) -> dict[str, str]:
    """Authorization headers for the bootstrap admin."""
    return {"Authorization": f"Bearer {admin_token}"}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No AWOOOI_* variable from the outer environment leaks into settings."""
    for key in list(os.environ):
        if key.startswith("AWOOOI_") and key != "AWOOOI_TEST_DATABASE_URL":
            monkeypatch.delenv(key)

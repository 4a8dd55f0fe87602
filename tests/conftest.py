"""Shared fixtures: every database test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from awoooi.api.app import create_app
from awoooi.core.config import JobsSettings, Settings
from awoooi.runtime import ADMIN_TOKEN_FILE, Runtime

DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


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


async def create_pg_database() -> str:
    """Create an empty, uniquely named PostgreSQL database; return its async URL."""
    try:
        conn = await _admin_connection()
    except (OSError, asyncpg.PostgresError) as exc:
        message = f"PostgreSQL at {pg_base_url()} is unreachable: {exc}"
        if _in_ci():
            pytest.fail(message + " (CI=true: PostgreSQL tests must not skip)")
        pytest.skip(message)
    name = f"awoooi_t_{uuid.uuid4().hex[:12]}"
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
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


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'awoooi.db'}"
        return
    url = await create_pg_database()
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

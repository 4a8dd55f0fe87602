"""A write that cannot start in time (SQLite locked by another process past the bound) is a
503 with Retry-After, never a 500, and writes nothing of the request."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from awoooi.core.models import Role
from awoooi.incidents.models import IncidentAlert, IncidentEvent
from awoooi.runtime import Runtime
from awoooi.settings import Settings
from tests.conftest import make_settings
from tests.incidents.conftest import TokenFactory, am_alert, am_payload

AM = "/api/v1/alerts/alertmanager"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """A short write bound, so a locked database answers quickly."""
    return make_settings(tmp_path / "home", database_url, db_write_wait=0.5)


@contextmanager
def held_by_another_process(database: Path) -> Iterator[subprocess.Popen[str]]:
    """A separate process holding SQLite's write lock (BEGIN IMMEDIATE) until it is told."""
    script = (
        "import sqlite3, sys\n"
        "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "conn.execute('BEGIN IMMEDIATE')\n"
        "print('locked', flush=True)\n"
        "sys.stdin.readline()\n"
        "conn.execute('ROLLBACK')\n"
    )
    holder = subprocess.Popen(  # a fixed argv, no shell
        [sys.executable, "-c", script, str(database)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        if holder.poll() is None:
            holder.communicate("release\n", timeout=30)


async def _count(runtime: Runtime, model: Any) -> int:
    async with runtime.session_factory() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_database_locked_by_another_process_is_503_with_retry_after(
    client: httpx.AsyncClient, runtime: Runtime, headers_for: TokenFactory, database_url: str
) -> None:
    ingest = await headers_for(Role.INGEST)
    viewer = await headers_for(Role.VIEWER)
    # Each token's first use records it (a write): use them before the lock is taken.
    assert (await client.get("/api/v1/incidents", headers=viewer)).status_code == 200
    first = [am_alert(pod=f"web-7d9f8c6b5d-{i:05d}", fingerprint=f"fp{i}") for i in range(30)]
    assert (await client.post(AM, json=am_payload(first[:1]), headers=ingest)).status_code == 202
    database = Path(database_url.removeprefix("sqlite+aiosqlite:///"))

    with held_by_another_process(database):
        busy = await client.post(AM, json=am_payload(first), headers=ingest)
        reading = await client.get("/api/v1/incidents", headers=viewer)

    assert busy.status_code == 503, busy.text
    assert busy.json()["error"] == "database_busy"
    assert int(busy.headers["Retry-After"]) > 0
    assert reading.status_code == 200  # readers are not held up by a writer
    assert await _count(runtime, IncidentAlert) == 1  # nothing of the refused payload
    assert await _count(runtime, IncidentEvent) == 1

    again = await client.post(AM, json=am_payload(first), headers=ingest)
    assert again.status_code == 202, again.text
    assert again.json()["deduplicated"] == 30
    assert await _count(runtime, IncidentAlert) == 30

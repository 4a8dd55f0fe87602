"""`awoooi serve --workers N`: N processes on one port over PostgreSQL, a dead one replaced,
a clean stop; refused on SQLite, whose write gate serialises the writers of one process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from awoooi.core.db import create_engine, create_session_factory
from awoooi.incidents.models import IncidentAlert
from tests.conftest import create_pg_database, drop_pg_database
from tests.helpers.serve import (
    AWOOOI,
    START_TIMEOUT,
    Process,
    awoooi_process,
    cli_env,
    free_port,
    healthy,
    wait_until,
)
from tests.incidents.conftest import am_alert, am_payload


def children(pid: int) -> set[int]:
    """The live serving processes `pid` started (Linux /proc; multiprocessing's resource
    tracker is a child too, not a server)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            with contextlib.suppress(OSError):
                if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.add(int(child))
    return found


STARTED = "Application startup complete."
# Each process is a fresh interpreter importing the whole service: slow on a busy machine.
SLOW_START = 120.0


def started(server: Process) -> int:
    """How many processes have finished their start so far."""
    return sum(
        1 for event in server.events() if event.get("event") == "Application startup complete."
    )


def alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie."""
    try:
        return " Z " not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1][:3]
    except OSError:
        return False


@pytest.fixture
async def database() -> AsyncIterator[str]:
    url = await create_pg_database()
    try:
        yield url
    finally:
        await drop_pg_database(url)


def test_workers_are_refused_on_sqlite(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "home", f"sqlite+aiosqlite:///{tmp_path / 'awoooi.db'}")
    done = subprocess.run(  # a fixed argv, no shell
        [str(AWOOOI), "serve", "--workers", "2", "--port", str(free_port())],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        check=False,
    )
    assert done.returncode == 2
    assert "--workers needs PostgreSQL" in done.stderr
    assert not (tmp_path / "awoooi.db").exists()  # refused before anything was created


async def test_two_processes_share_the_port_and_a_dead_one_is_replaced(
    tmp_path: Path, database: str
) -> None:
    sent = await asyncio.to_thread(serve_with_two_processes, tmp_path, database)
    engine = create_engine(database)
    try:
        async with create_session_factory(engine)() as session:
            stored = await session.scalar(select(func.count()).select_from(IncidentAlert))
    finally:
        await engine.dispose()
    assert stored == sent


def serve_with_two_processes(tmp_path: Path, database: str) -> int:
    """Start `serve --workers 2`, kill one process, ingest, kill the supervisor; alerts sent."""
    port = free_port()
    env = cli_env(tmp_path / "home", database)
    with (
        awoooi_process(
            "serve", "--workers", "2", "--port", str(port), env=env, directory=tmp_path / "run"
        ) as server,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client,
    ):
        pid = server.popen.pid
        wait_until(server, lambda: started(server) == 2 and healthy(client), "two", SLOW_START)
        assert len(children(pid)) == 2
        token = (tmp_path / "home" / "admin-token").read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}

        first = children(server.popen.pid)
        os.kill(min(first), signal.SIGKILL)
        wait_until(
            server,
            lambda: len(children(server.popen.pid)) == 2 and children(server.popen.pid) != first,
            "the supervisor to replace the killed process",
            SLOW_START,
        )
        wait_until(
            server,
            lambda: started(server) == 3 and healthy(client),
            "the replacement to serve",
            SLOW_START,
        )

        sent = [
            am_alert(pod=f"api-{index}-7d9f8c6b5d-x2kqz", instance=f"10.0.0.{index}:8080")
            for index in range(40)
        ]
        for start in range(0, len(sent), 10):
            answer = client.post(
                "/api/v1/alerts/alertmanager",
                json=am_payload(sent[start : start + 10]),
                headers=headers,
            )
            assert answer.status_code == 202, answer.text
        workers = children(server.popen.pid)
        server.popen.kill()  # the supervisor dies without stopping anyone
        server.popen.wait(timeout=START_TIMEOUT)
        # Its processes notice and stop by themselves, gracefully.
        wait_until([], lambda: not any(map(alive, workers)), "orphans to stop", SLOW_START)
    return len(sent)

"""Shared pieces for the repair-loop tests: a real recording HTTP server, a refused port,
incidents from Alertmanager-shaped alerts, and readers for what the loop recorded.

Only new fixture names here (`heal_server`, `refused_port`): the other modules of this folder
keep the root `settings` / `runtime` fixtures.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import func, select

from awoooi.core.audit import Caller, Door
from awoooi.core.db import transaction
from awoooi.core.models import Job
from awoooi.incidents import repository as incidents
from awoooi.incidents.alerts import from_alertmanager
from awoooi.incidents.models import Incident, IncidentEvent
from awoooi.incidents.schemas import AlertmanagerWebhook
from awoooi.knowledge.models import KnowledgeEntry
from awoooi.notify.models import Notification
from awoooi.repair import repository
from awoooi.repair.models import Repair
from awoooi.repair.service import SYSTEM_ACTOR
from awoooi.runtime import Runtime
from tests.incidents.conftest import am_alert, am_payload

SYSTEM = Caller(SYSTEM_ACTOR, Door.SYSTEM)

HOST = "127.0.0.1"
STOP_TIMEOUT = 10.0  # a bound on waiting for the server thread, never asserted
SECRET = "sk-live-abcdefghijklmnopqrstuvwxyz123456"


@dataclass(frozen=True)
class Received:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes


class RecordingServer:
    """A real HTTP/1.1 server on 127.0.0.1 in its own thread: records every request, then
    answers `status` after `delays[path]` seconds (read on every request)."""

    def __init__(self) -> None:
        self.status = 200
        self.delays: dict[str, float] = {}
        self._requests: list[Received] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def requests(self) -> list[Received]:
        """Every request so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def port(self) -> int:
        assert self._server is not None, "the server is not running"
        return int(self._server.server_address[1])

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def start(self) -> RecordingServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return  # quiet: the test asserts on the record instead

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                received = Received(
                    self.command,
                    self.path.split("?")[0],
                    {name.lower(): value for name, value in self.headers.items()},
                    body,
                )
                with owner._lock:
                    owner._requests.append(received)
                delay = owner.delays.get(received.path, 0.0)
                if delay:
                    time.sleep(delay)
                payload = b'{"healed": true}'
                try:
                    self.send_response(owner.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    self.close_connection = True  # the client gave up (a step timeout)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _answer

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

            def handle_error(self, request: Any, client_address: Any) -> None:
                return  # a client that went away mid-response is expected here

        self._server = Server((HOST, 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        assert self._thread is not None
        self._thread.join(STOP_TIMEOUT)
        self._server = None


@pytest.fixture
def heal_server() -> Iterator[RecordingServer]:
    """A running RecordingServer."""
    server = RecordingServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def refused_port() -> Iterator[socket.socket]:
    """A TCP socket bound on 127.0.0.1 but not listening: connecting to its port is refused,
    and no other process can take the port. Call `.listen()` to start observing connects."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((HOST, 0))
    try:
        yield sock
    finally:
        sock.close()


def connection_attempts(sock: socket.socket) -> int:
    """How many connections reached a listening socket's backlog (accepted and closed)."""
    sock.setblocking(False)
    count = 0
    while True:
        try:
            conn, _address = sock.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


# ---------------------------------------------------------------- incidents


async def fire(runtime: Runtime, **alert: Any) -> str:
    """Ingest one firing Alertmanager alert (am_alert keywords); the incident's human id."""
    payload = AlertmanagerWebhook.model_validate(am_payload([am_alert(**alert)]))
    async with transaction(runtime.session_factory) as session:
        outcome = await runtime.incident_ingestor.ingest(
            session, from_alertmanager(payload), actor="test"
        )
    assert len(outcome.incidents) == 1, outcome
    return outcome.incidents[0]


async def incident(runtime: Runtime, human_id: str) -> Incident:
    """An incident with its timeline."""
    async with runtime.session_factory() as session:
        found = await incidents.get_by_human_id(session, human_id, with_timeline=True)
    assert found is not None, human_id
    return found


async def events(runtime: Runtime, human_id: str, prefix: str = "repair_") -> list[IncidentEvent]:
    """The incident's timeline events whose name starts with `prefix`, in order."""
    return [e for e in (await incident(runtime, human_id)).events if e.event.startswith(prefix)]


async def decide(runtime: Runtime, human_id: str, service: Any = None) -> Repair:
    """`decide_and_record` for an incident in its own committed transaction."""
    repairs = service or runtime.repairs
    async with transaction(runtime.session_factory) as session:
        found = await incidents.get_by_human_id(session, human_id)
        assert found is not None
        repair = await repairs.decide_and_record(session, found, caller=SYSTEM)
    return repair


async def load_repair(runtime: Runtime, repair_id: int) -> Repair:
    """A repair with its steps."""
    async with runtime.session_factory() as session:
        found = await repository.get(session, repair_id, with_steps=True)
    assert found is not None, repair_id
    return found


async def repairs_of(runtime: Runtime, human_id: str) -> list[Repair]:
    """Every repair of an incident, oldest first."""
    found = await incident(runtime, human_id)
    async with runtime.session_factory() as session:
        rows = await session.scalars(
            select(Repair).where(Repair.incident_id == found.id).order_by(Repair.id)
        )
        return list(rows)


async def entries(runtime: Runtime, entry_type: str) -> list[KnowledgeEntry]:
    """Knowledge entries of a type, oldest first."""
    async with runtime.session_factory() as session:
        rows = await session.scalars(
            select(KnowledgeEntry)
            .where(KnowledgeEntry.entry_type == entry_type)
            .order_by(KnowledgeEntry.id)
        )
        return list(rows)


async def jobs(runtime: Runtime, *kinds: str) -> list[Job]:
    """Jobs of these kinds, oldest first."""
    async with runtime.session_factory() as session:
        rows = await session.scalars(select(Job).where(Job.kind.in_(kinds)).order_by(Job.id))
        return list(rows)


async def notifications(runtime: Runtime, kind: str) -> list[Notification]:
    """Notifications of a kind, oldest first."""
    async with runtime.session_factory() as session:
        rows = await session.scalars(
            select(Notification).where(Notification.kind == kind).order_by(Notification.id)
        )
        return list(rows)


async def count_repairs(runtime: Runtime, **where: Any) -> int:
    """How many repairs have these column values."""
    async with runtime.session_factory() as session:
        query = select(func.count()).select_from(Repair)
        for column, value in where.items():
            query = query.where(getattr(Repair, column) == value)
        return int(await session.scalar(query) or 0)

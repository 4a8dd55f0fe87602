"""Shared pieces for the notification flow tests: the fake Bot API under the configured token and
small real HTTP servers. Only new fixture names here (`bot_api`, `heal_server`, `leaky_server`,
`refused_port`): the other modules of this folder keep their own fixtures."""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.helpers.telegram_api import FakeTelegramAPI
from tests.repair.conftest import HOST, RecordingServer

BOT_TOKEN = "123456:ABC-test-token-000000000000000000000"
CHAT_ID = "-100123"
APPROVER = 111
STRANGER = 999
WEBHOOK_SECRET = "s3cret-hook"
PUBLIC_URL = "https://awoooi.example"
# What a heal endpoint leaks in its error body: a password and an API token's shape.
LEAKED_PASSWORD = "hunter2-secret-value"
LEAKED_TOKEN = "awi_" + "Zq8xK2mN5pR7tV9wY1bC3dF6gH0jL4nQ8sU2vX5zA7e"


def telegram_config(api_url: str, **overrides: Any) -> dict[str, Any]:
    """The `notify.telegram` section the tests use, pointed at `api_url`."""
    values: dict[str, Any] = {
        "bot_token": BOT_TOKEN,
        "chat_id": CHAT_ID,
        "approvers": [APPROVER],
        "webhook_secret": WEBHOOK_SECRET,
        "api_url": api_url,
        "pace_seconds": 0,
        "timeout_seconds": 5,
    }
    values.update(overrides)
    return values


@pytest.fixture
def bot_api() -> Iterator[FakeTelegramAPI]:
    """A running fake Bot API that knows BOT_TOKEN."""
    with FakeTelegramAPI(BOT_TOKEN) as api:
        yield api


class LeakyServer:
    """A real HTTP server on 127.0.0.1 whose every answer is 500 with secrets in the body."""

    BODY = f"password={LEAKED_PASSWORD} token={LEAKED_TOKEN}".encode()

    def __init__(self) -> None:
        self.hits = 0
        body = self.BODY
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                owner.hits += 1
                self.send_response(500)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def __enter__(self) -> LeakyServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


class BotApiFront:
    """A real HTTP server in front of the fake Bot API: while `down`, every call is answered
    500 the way api.telegram.org words it; otherwise it is passed through unchanged."""

    DOWN_BODY = json.dumps(
        {"ok": False, "error_code": 500, "description": "Internal Server Error"}
    ).encode()

    def __init__(self, target: str) -> None:
        self.down = True
        self.refused = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                if owner.down:
                    owner.refused += 1
                    status, answer = 500, owner.DOWN_BODY
                else:
                    forwarded = urllib.request.Request(
                        target + self.path,
                        data=body,
                        headers={"Content-Type": self.headers.get("content-type") or ""},
                        method="POST",
                    )
                    try:
                        with urllib.request.urlopen(forwarded, timeout=10) as response:
                            status, answer = response.status, response.read()
                    except urllib.error.HTTPError as error:
                        status, answer = error.code, error.read()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}"

    def __enter__(self) -> BotApiFront:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


@pytest.fixture
def bot_api_front(bot_api: FakeTelegramAPI) -> Iterator[BotApiFront]:
    """A switchable front of `bot_api`, down (answering 500) until a test brings it up."""
    with BotApiFront(bot_api.api_url) as front:
        yield front


@pytest.fixture
def heal_server() -> Iterator[RecordingServer]:
    """A running RecordingServer (answers 200)."""
    server = RecordingServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def leaky_server() -> Iterator[LeakyServer]:
    """A running server answering 500 with secrets in the body."""
    with LeakyServer() as server:
        yield server


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port on 127.0.0.1 bound but not listening: connecting is refused at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((HOST, 0))
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()

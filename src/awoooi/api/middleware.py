"""ASGI middleware: request ids, access logs, metrics, the 500 envelope and the body size cap."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from awoooi.api.errors import error_body
from awoooi.core.logging import bind_context, clear_context, get_logger
from awoooi.core.metrics import HTTP_DURATION, HTTP_REQUESTS

log = get_logger("awoooi.http")

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# Clients choose the method token freely; metric labels must stay a small, fixed set.
_METRIC_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


async def send_json_error(send: Send, status: int, detail: Any, extra_headers: list[Any]) -> None:
    """Send a complete JSON error response straight from ASGI."""
    body = json.dumps(error_body(status, detail)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *extra_headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class RequestContextMiddleware:
    """Gives each request an id (kept from X-Request-ID when sane), logs it and counts it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, REQUEST_ID_HEADER.encode())
        request_id = (
            incoming if incoming and _VALID_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        )
        scope.setdefault("state", {})["request_id"] = request_id
        clear_context()
        bind_context(request_id=request_id)
        id_header = (REQUEST_ID_HEADER.encode(), request_id.encode())
        status = 500
        started = time.perf_counter()
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [*message.get("headers", []), id_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error", method=scope["method"], path=scope["path"])
            status = 500
            if not response_started:
                detail = f"internal server error (request id {request_id})"
                await send_json_error(send, 500, detail, [id_header])
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"] if scope["method"] in _METRIC_METHODS else "OTHER"
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_DURATION.labels(method, route).observe(elapsed)
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
            clear_context()


class _BodyTooLargeError(HTTPException):
    """Raised from receive(); an HTTPException, because FastAPI turns any other exception raised
    while it reads the body into a 400 "error parsing the body" but re-raises these."""


class BodySizeLimitMiddleware:
    """Answers 413 for bodies over the cap, whether declared by Content-Length or streamed."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope.get("path", ""):
            # No text column on PostgreSQL can hold a NUL; refuse it before it reaches one.
            await send_json_error(send, 422, "NUL bytes are not allowed in the URL path", [])
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            # isascii(): str.isdigit() also accepts digits such as "²" that int() rejects.
            if not (declared.isascii() and declared.isdigit()):
                await send_json_error(send, 400, "invalid Content-Length header", [])
                return
            # The length check keeps int() away from values past its digit limit (4300).
            if len(declared.lstrip("0")) > 20 or int(declared) > self.max_body_bytes:
                await send_json_error(send, 413, self._too_large(), [])
                return
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyTooLargeError(413, self._too_large())
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLargeError:
            if not response_started:
                await send_json_error(send, 413, self._too_large(), [])

    def _too_large(self) -> str:
        return f"request body is larger than {self.max_body_bytes} bytes"

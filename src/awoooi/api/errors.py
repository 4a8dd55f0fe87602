"""Every error leaves the API as JSON {"error": code, "detail": ...}."""

from __future__ import annotations

import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from awoooi.core.errors import AuthError, AwoooiError, DatabaseBusyError


def error_code(status: int) -> str:
    """A stable snake_case code for an HTTP status (404 -> not_found)."""
    special = {
        413: "payload_too_large",
        422: "validation_error",
        500: "internal_error",
        503: "unavailable",
    }
    if status in special:
        return special[status]
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        return "error"
    return re.sub(r"[^a-z0-9]+", "_", phrase.lower()).strip("_")


def error_body(status: int, detail: Any, code: str | None = None) -> dict[str, Any]:
    """The envelope for an error response."""
    return {"error": code or error_code(status), "detail": detail}


def error_response(
    status: int, detail: Any, *, code: str | None = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A JSON error response in the envelope."""
    return JSONResponse(error_body(status, detail, code), status_code=status, headers=headers)


def _validation_detail(exc: RequestValidationError) -> list[dict[str, Any]]:
    # The offending input is left out: it may be large, or hold a secret the client mistyped.
    return [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]


async def _awoooi_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AwoooiError)
    headers: dict[str, str] | None = None
    if isinstance(exc, AuthError):
        headers = {"WWW-Authenticate": "Bearer"}
    elif isinstance(exc, DatabaseBusyError):
        headers = {"Retry-After": str(exc.retry_after_seconds)}
    return error_response(exc.status_code, exc.detail, code=exc.code, headers=headers)


def _busy(detail: str) -> JSONResponse:
    return error_response(
        503,
        detail,
        code=DatabaseBusyError.code,
        headers={"Retry-After": str(DatabaseBusyError.retry_after_seconds)},
    )


# SQLite's words for a write lock held past busy_timeout (by another process: this one's own
# writers queue at the write gate) and for a table locked by another connection.
_LOCKED = ("database is locked", "database table is locked", "database is busy")


async def _operational_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OperationalError)
    if any(words in str(exc.orig) for words in _LOCKED):
        return _busy("the database is locked by another writer; nothing was written")
    # Any other operational failure (connection lost ...) is a server fault: the default 500
    # handler logs it with its traceback.
    raise exc


async def _pool_timeout(_request: Request, exc: Exception) -> JSONResponse:
    # Every pooled connection stayed busy past the pool's timeout: a storm, not a fault.
    return _busy("the database is busy: no connection was free in time; nothing was written")


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if exc.detail else HTTPStatus(exc.status_code).phrase
    return error_response(exc.status_code, detail, headers=exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(422, _validation_detail(exc))


async def _data_error(_request: Request, exc: Exception) -> JSONResponse:
    # The database refused a value (a NUL byte, a string past a column's length): the client's
    # input, not a server fault. The driver's message may quote the value, so it is not echoed.
    cause = getattr(getattr(exc, "orig", None), "__cause__", None) or getattr(exc, "orig", None)
    return error_response(
        422, f"a value cannot be stored ({type(cause).__name__})", code="invalid_input"
    )


def install_error_handlers(app: FastAPI) -> None:
    """Render expected errors, HTTP errors and validation errors in the envelope."""
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(OperationalError, _operational_error)
    app.add_exception_handler(PoolTimeoutError, _pool_timeout)
    app.add_exception_handler(AwoooiError, _awoooi_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)

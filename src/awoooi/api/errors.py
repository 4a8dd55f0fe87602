"""Every error leaves the API as JSON {"error": code, "detail": ...}."""

from __future__ import annotations

import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from awoooi.core.errors import AuthError, AwoooiError


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
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthError) else None
    return error_response(exc.status_code, exc.detail, code=exc.code, headers=headers)


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
    app.add_exception_handler(AwoooiError, _awoooi_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)

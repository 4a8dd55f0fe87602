"""Expected failures: each carries an HTTP status and a message safe to show a client."""

from __future__ import annotations

from typing import Any


class AwoooiError(Exception):
    """Base of expected errors; rendered as {"error": code, "detail": message}."""

    status_code = 400
    code = "bad_request"

    def __init__(self, detail: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}


class ConfigError(AwoooiError):
    """The configuration is invalid; the CLI exits with code 2."""

    code = "config_error"


class NotFoundError(AwoooiError):
    """The named thing does not exist."""

    status_code = 404
    code = "not_found"


class ConflictError(AwoooiError):
    """The request conflicts with the current state (duplicate, illegal transition)."""

    status_code = 409
    code = "conflict"


class AuthError(AwoooiError):
    """Missing, unknown or revoked credentials."""

    status_code = 401
    code = "unauthorized"


class ForbiddenError(AwoooiError):
    """The credentials are valid but their role is too low."""

    status_code = 403
    code = "forbidden"


class InvalidInputError(AwoooiError):
    """The input is well-formed but its values are not acceptable."""

    status_code = 422
    code = "invalid_input"


class DatabaseBusyError(AwoooiError):
    """No write could start in time (a storm, or another process holding SQLite's lock): the
    client should retry; nothing of the request was written."""

    status_code = 503
    code = "database_busy"
    retry_after_seconds = 5

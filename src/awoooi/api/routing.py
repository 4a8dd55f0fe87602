"""Routes that check the caller before they say anything about the body."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from awoooi.api.deps import RoleCheck, get_runtime, role_checks

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def _role_check(dependant: Dependant) -> RoleCheck | None:
    """The role check among a route's dependencies, however deep, if it has one."""
    for dependency in dependant.dependencies:
        if dependency.call in role_checks():
            return dependency.call
        found = _role_check(dependency)
        if found is not None:
            return found
    return None


def _unparsable_body(exc: Exception) -> RequestValidationError | None:
    """The 422 for a body that is not JSON, when `exc` is FastAPI's complaint about one."""
    if isinstance(exc, RequestValidationError):
        errors = exc.errors()
        return exc if errors and all(e.get("type") == "json_invalid" for e in errors) else None
    cause = exc.__cause__
    if isinstance(exc, HTTPException) and exc.status_code == 400 and isinstance(cause, ValueError):
        # Bytes that are not UTF-8 fail before JSON parsing, as a 400; they are malformed JSON.
        start = cause.start if isinstance(cause, UnicodeDecodeError) else 0
        problem = {"type": "json_invalid", "loc": ("body", start), "msg": "JSON decode error"}
        return RequestValidationError([{**problem, "input": {}, "ctx": {"error": "not UTF-8"}}])
    return None


class AuthBeforeBodyRoute(APIRoute):
    """FastAPI reads and parses a JSON body before it runs any dependency, so a malformed body
    would answer before the token is checked; this route checks the caller first (401/403),
    and a malformed body is then always the 422 `json_invalid`."""

    def get_route_handler(self) -> Handler:
        """The route's handler, checking the caller before reporting an unparsable body."""
        handler = super().get_route_handler()
        check = _role_check(self.dependant)
        if check is None:
            return handler

        async def checked(request: Request) -> Response:
            try:
                return await handler(request)
            except (RequestValidationError, HTTPException) as exc:
                malformed = _unparsable_body(exc)
                if malformed is None:
                    raise
                async with get_runtime(request).session_factory() as session:
                    await check(request, session)  # raises AuthError / ForbiddenError
                    await session.commit()
                raise malformed from exc

        return checked

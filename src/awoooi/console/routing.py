"""Console routes answer with pages: an expected error is a page with its message (never a
stack trace), a missing session a redirect to the sign-in page."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException

from awoooi.console.errors import CsrfError, SignInRequired
from awoooi.console.sessions import COOKIE_PATH, SESSION_COOKIE
from awoooi.console.templates import render
from awoooi.core.errors import AwoooiError
from awoooi.core.logging import get_logger

log = get_logger("awoooi.console")

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def safe_next(target: str | None, default: str = "/ui/incidents") -> str:
    """A local console path to go back to (anything else, e.g. another host, is the default)."""
    if not target or not target.startswith("/ui/") or target.startswith("//"):
        return default
    if any(c in target for c in "\\\r\n\t") or len(target) > 2000:
        return default
    return target


def back_with_notice(next_path: str, default: str, notice: str) -> Response:
    """See Other to the page the form came from (a safe local path, else `default`), with the
    notice it shows."""
    target = safe_next(next_path, default)
    separator = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{separator}notice={notice}", status_code=303)


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    """A page that says what went wrong and what to do next."""
    return render(
        request,
        "error.html",
        {"status": status, "title": title, "message": message},
        status_code=status,
    )


def _sign_in(request: Request, exc: SignInRequired) -> Response:
    if request.method in {"GET", "HEAD"}:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        query = {"next": safe_next(here)}
        if exc.reason:
            query["reason"] = exc.reason
        response: Response = RedirectResponse(f"/ui/login?{urlencode(query)}", status_code=303)
    else:
        response = error_page(
            request,
            401,
            "Signed out",
            "Your session has ended or your token was revoked; nothing was changed. "
            "Sign in again, then repeat the action.",
        )
    if exc.reason:
        response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
    return response


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ())[1:]) or "input"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request is not valid"


class ConsoleRoute(APIRoute):
    """A console route: errors become pages, a missing session a trip to the sign-in page."""

    def get_route_handler(self) -> Handler:
        """The route's handler, answering every failure with a page."""
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired as exc:
                return _sign_in(request, exc)
            except CsrfError as exc:
                return error_page(
                    request,
                    403,
                    "Request refused",
                    f"{exc.detail}: nothing was changed. Reload the page and try again.",
                )
            except AwoooiError as exc:
                return error_page(request, exc.status_code, _title(exc.status_code), exc.detail)
            except RequestValidationError as exc:
                return error_page(request, 422, "Invalid input", _validation_message(exc))
            except HTTPException as exc:
                return error_page(
                    request, exc.status_code, _title(exc.status_code), str(exc.detail)
                )
            except OperationalError as exc:
                if "locked" in str(exc.orig):
                    return error_page(
                        request, 503, "Busy", "The database is busy; nothing was changed."
                    )
                log.exception("console page failed", method=request.method, path=request.url.path)
                return _unexpected(request)
            except Exception:
                # Logged with its traceback for the operator; the page shows only the request id.
                log.exception("console page failed", method=request.method, path=request.url.path)
                return _unexpected(request)

        return page


def _unexpected(request: Request) -> Response:
    request_id = request.scope.get("state", {}).get("request_id", "")
    return error_page(
        request,
        500,
        "Something went wrong",
        f"An unexpected error was logged (request id {request_id}); nothing more is shown here.",
    )


def _title(status: int) -> str:
    return {
        400: "Bad request",
        401: "Signed out",
        403: "Not allowed",
        404: "Not found",
        409: "Not possible now",
        422: "Invalid input",
        503: "Busy",
    }.get(status, "Error")

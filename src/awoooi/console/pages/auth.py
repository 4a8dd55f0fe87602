"""Sign in with an API token, sign out."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from awoooi.console.deps import CSRF_FIELD, SessionDep, SignerDep, get_runtime
from awoooi.console.errors import CsrfError
from awoooi.console.routing import ConsoleRoute, safe_next
from awoooi.console.sessions import COOKIE_PATH, LOGIN_COOKIE, SESSION_COOKIE, CookieSigner
from awoooi.console.templates import render
from awoooi.core.auth import authenticate, hash_token
from awoooi.core.errors import AuthError
from awoooi.core.inputs import Text
from awoooi.core.logging import get_logger
from awoooi.core.models import Role

log = get_logger("awoooi.console")
router = APIRouter(prefix="/ui", route_class=ConsoleRoute, include_in_schema=False)

REASONS = {
    "expired": "Your session expired. Sign in again.",
    "revoked": "Your token was revoked or is no longer valid, so you were signed out.",
    "signed_out": "You are signed out.",
}


def secure_cookies(request: Request) -> bool:
    """Whether cookies must be Secure: the request came over https, or the public URL is https."""
    public_url = get_runtime(request).settings.public_url
    return request.url.scheme == "https" or public_url.lower().startswith("https://")


def _login_page(
    request: Request,
    signer: CookieSigner,
    *,
    next_path: str,
    message: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    cookie, nonce = signer.new_login_nonce()
    response = render(
        request,
        "login.html",
        {"nonce": nonce, "next": next_path, "message": message, "error": error},
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        cookie,
        max_age=3600,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )
    return response


@router.get("/login")
async def login_form(
    request: Request, signer: SignerDep, next: str | None = None, reason: str | None = None
) -> Response:
    """The sign-in form: one password field for an API token."""
    return _login_page(
        request, signer, next_path=safe_next(next), message=REASONS.get(reason or "")
    )


@router.post("/login")
async def login(
    request: Request,
    session: SessionDep,
    signer: SignerDep,
    token: Annotated[Text, Form(max_length=256)] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=256)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Check the token (same tokens and roles as the API) and start a session."""
    expected = signer.read_login_nonce(request.cookies.get(LOGIN_COOKIE))
    if expected is None or not secrets.compare_digest(csrf_token.encode(), expected.encode()):
        raise CsrfError("the sign-in form expired or was not sent by this console")
    target = safe_next(next)
    try:
        principal = await authenticate(session, token.strip())
    except AuthError:
        return _login_page(
            request,
            signer,
            next_path=target,
            error="That token is not valid: it is unknown or was revoked.",
            status_code=401,
        )
    if not principal.allows(Role.VIEWER):
        return _login_page(
            request,
            signer,
            next_path=target,
            error="Ingest tokens only send alerts; sign in with a viewer, operator or admin token.",
            status_code=403,
        )
    cookie, _state = signer.new_session(hash_token(token.strip()))
    log.info("console sign-in", token=principal.name, role=principal.role.value)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(signer.session_ttl.total_seconds()),
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )
    response.delete_cookie(LOGIN_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
    return response


@router.post("/logout")
async def logout(
    request: Request,
    signer: SignerDep,
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=256)] = "",
) -> Response:
    """End the session (the token itself stays valid)."""
    state = signer.read_session(request.cookies.get(SESSION_COOKIE))
    # No session left (expired, or signed out in another tab): there is nothing to end.
    if state is not None and not secrets.compare_digest(
        csrf_token.encode(), state.csrf_token.encode()
    ):
        raise CsrfError("the form's security token is missing or stale")
    response = RedirectResponse("/ui/login?reason=signed_out", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
    return response

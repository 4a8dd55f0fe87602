"""Console dependencies: the request's database session, the signed-in user, the CSRF check
and the role an action needs (checked again on every request, whatever the page showed)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.console.errors import CsrfError, SignInRequired
from awoooi.console.sessions import SESSION_COOKIE, CookieSigner, signing_key
from awoooi.core.audit import Caller, Door
from awoooi.core.auth import Principal, authenticate_hash, require
from awoooi.core.errors import AuthError
from awoooi.core.models import Role
from awoooi.runtime import Runtime

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def get_runtime(request: Request) -> Runtime:
    """The runtime the app was started with."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """A session for this request: committed when the page succeeds, rolled back otherwise."""
    async with runtime.session_factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


# scope="function": committed before the response leaves, as the API does.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def cookie_signer(request: Request) -> CookieSigner:
    """The app's cookie signer, made on first use (the key file is read or created once)."""
    signer: CookieSigner | None = getattr(request.app.state, "console_signer", None)
    if signer is None:
        settings = get_runtime(request).settings
        key = signing_key(settings.console, settings.home)
        signer = CookieSigner(key, session_ttl=settings.console.session_ttl)
        request.app.state.console_signer = signer
    return signer


SignerDep = Annotated[CookieSigner, Depends(cookie_signer)]


@dataclass(frozen=True)
class ConsoleUser:
    """Who is signed in: the token's principal, and the CSRF token their forms carry."""

    principal: Principal
    csrf_token: str

    @property
    def name(self) -> str:
        """The token's name."""
        return self.principal.name

    @property
    def role(self) -> str:
        """The token's role."""
        return self.principal.role.value

    def can(self, role: str) -> bool:
        """Whether this user may act with `role` (viewer, operator, admin)."""
        return self.principal.allows(Role(role))


async def signed_in(request: Request, session: SessionDep, signer: SignerDep) -> ConsoleUser:
    """The user behind the session cookie; the token is looked up again on every request."""
    cookie = request.cookies.get(SESSION_COOKIE)
    state = signer.read_session(cookie)
    if state is None:
        raise SignInRequired("expired" if cookie else "")
    try:
        principal = await authenticate_hash(session, state.token_hash)
    except AuthError:
        raise SignInRequired("revoked") from None
    if not principal.allows(Role.VIEWER):  # an ingest token's session (it cannot sign in)
        raise SignInRequired("revoked")
    user = ConsoleUser(principal=principal, csrf_token=state.csrf_token)
    request.state.console_user = user
    return user


User = Annotated[ConsoleUser, Depends(signed_in)]


async def checked_csrf(request: Request, user: User) -> ConsoleUser:
    """The user of a state-changing request that carries its session's CSRF token."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        field = form.get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if not sent or not secrets.compare_digest(sent.encode(), user.csrf_token.encode()):
        raise CsrfError("the form's security token is missing or stale")
    return user


def caller_of(request: Request, user: ConsoleUser) -> Caller:
    """The user as the services' audit records name them (door: console)."""
    request_id = request.scope.get("state", {}).get("request_id")
    return Caller(user.name, Door.CONSOLE, str(request_id) if request_id else None)


def acting(role: Role) -> Callable[[Request, ConsoleUser], Awaitable[Caller]]:
    """A dependency for an action: signed in, CSRF token checked, then the role checked."""

    async def dependency(request: Request, user: ConsoleUser = Depends(checked_csrf)) -> Caller:  # noqa: B008
        require(user.principal, role)
        return caller_of(request, user)

    return dependency


OperatorCaller = Annotated[Caller, Depends(acting(Role.OPERATOR))]
AdminCaller = Annotated[Caller, Depends(acting(Role.ADMIN))]

"""FastAPI dependencies: the runtime, a per-request session and role checks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.core.audit import Caller, Door
from awoooi.core.auth import Principal, authenticate, require
from awoooi.core.errors import AuthError
from awoooi.core.inputs import MAX_ROW_ID
from awoooi.core.models import Role
from awoooi.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    """The runtime the app was started with."""
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_session(
    runtime: Annotated[Runtime, Depends(get_runtime)],
) -> AsyncIterator[AsyncSession]:
    """A session for this request: committed when the endpoint succeeds, rolled back otherwise."""
    async with runtime.session_factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


# scope="function": commit before the response is sent (FastAPI's default, "request", runs the
# exit code afterwards), so a client never holds a result that is not yet, or never, committed.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def _bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise AuthError("missing Authorization: Bearer <token> header")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("the Authorization header must be 'Bearer <token>'")
    return token.strip()


RoleCheck = Callable[..., Awaitable[Principal]]

# Declares the bearer scheme in the OpenAPI schema, so /docs' "Authorize" sends the token with
# "Try it out"; the header itself is read by _bearer_token, whose errors say what is wrong.
bearer_scheme = HTTPBearer(
    bearerFormat="awi_…",
    description="An API token: `Authorization: Bearer awi_...` (awoooi tokens create).",
    auto_error=False,
)


def require_role(role: Role) -> RoleCheck:
    """A dependency that authenticates the caller and checks the role."""

    # `_declared` is a default, so routing's auth-before-body check can call this with two args.
    async def dependency(
        request: Request,
        session: SessionDep,
        _declared: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),  # noqa: B008
    ) -> Principal:
        principal = await authenticate(session, _bearer_token(request))
        require(principal, role)
        request.state.principal = principal
        return principal

    return dependency


def request_id(request: Request) -> str | None:
    """The id the request-context middleware gave this request."""
    value = request.scope.get("state", {}).get("request_id")
    return str(value) if value else None


_viewer = require_role(Role.VIEWER)
_ingest = require_role(Role.INGEST)
_operator = require_role(Role.OPERATOR)
_admin = require_role(Role.ADMIN)


def role_checks() -> frozenset[RoleCheck]:
    """The dependencies that authenticate a caller (one per role)."""
    return frozenset({_viewer, _ingest, _operator, _admin})


Viewer = Annotated[Principal, Depends(_viewer)]
Ingest = Annotated[Principal, Depends(_ingest)]
Operator = Annotated[Principal, Depends(_operator)]
Admin = Annotated[Principal, Depends(_admin)]
RequestId = Annotated[str | None, Depends(request_id)]


def _caller(
    role_check: Callable[[Request, AsyncSession], Awaitable[Principal]],
) -> Callable[[Request, Principal], Caller]:
    """A dependency naming the authenticated caller for the services' audit records."""

    # The dependency is given as a default: an annotation naming a closure variable would be a
    # string FastAPI cannot resolve (this module uses postponed annotations).
    def dependency(request: Request, principal: Principal = Depends(role_check)) -> Caller:  # noqa: B008
        return Caller(principal.name, Door.API, request_id(request))

    return dependency


IngestCaller = Annotated[Caller, Depends(_caller(_ingest))]
OperatorCaller = Annotated[Caller, Depends(_caller(_operator))]
AdminCaller = Annotated[Caller, Depends(_caller(_admin))]

# A row's id in a path: a number no row can have is refused (422), not sent to the database.
RowIdPath = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]

"""API tokens: creation, hashing, lookup and the role order."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.core import repository
from awoooi.core.audit import Caller, record_audit
from awoooi.core.db import utcnow
from awoooi.core.errors import (
    AuthError,
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
)
from awoooi.core.logging import get_logger
from awoooi.core.models import ApiToken, Door, Role

log = get_logger(__name__)

TOKEN_PREFIX = "awi_"  # a public marker that lets redaction spot tokens
TOKEN_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ROLE_RANK = {Role.VIEWER: 0, Role.INGEST: 1, Role.OPERATOR: 2, Role.ADMIN: 3}
# Writing last_used_at on every request would turn reads into writes; a minute is precise enough.
_LAST_USED_GRANULARITY = timedelta(minutes=1)
# Who mints the first admin token on a database without any: awoooi itself, at start.
BOOTSTRAP_CALLER = Caller("bootstrap", Door.SYSTEM)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's name and role."""

    name: str
    role: Role

    def allows(self, required: Role) -> bool:
        """Whether this principal may use a route that requires `required`."""
        if self.role is Role.INGEST:
            # Ingest tokens sit in alert senders' configs; they may post alerts and nothing else.
            return required is Role.INGEST
        return _ROLE_RANK[self.role] >= _ROLE_RANK[required]


@dataclass(frozen=True)
class IssuedToken:
    """A token just created; `secret` is shown once and never stored."""

    record: ApiToken
    secret: str


def hash_token(secret: str) -> str:
    """SHA-256 hex of a token (256 random bits each, so a fast hash resists brute force)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def validate_token_name(name: str) -> str:
    """Return the name if it is a valid token name, else raise."""
    if not TOKEN_NAME_PATTERN.fullmatch(name):
        raise InvalidInputError(
            "token names are 1-64 characters of letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


async def create_token(
    session: AsyncSession, *, name: str, role: Role, created_by: str
) -> IssuedToken:
    """Create a token with this unique name and role; the secret is returned only here."""
    validate_token_name(name)
    if await repository.token_by_name(session, name) is not None:
        raise ConflictError(f"a token named {name!r} already exists")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(
        name=name,
        role=role.value,
        token_hash=hash_token(secret),
        token_prefix=secret[: len(TOKEN_PREFIX) + 4],
        created_by=created_by,
        created_at=utcnow(),
    )
    session.add(record)
    try:
        await session.flush()
    except IntegrityError as exc:
        # A concurrent request inserted the same name after our check: a conflict, not a 500.
        raise ConflictError(f"a token named {name!r} already exists") from exc
    return IssuedToken(record=record, secret=secret)


async def issue_token(
    session: AsyncSession, *, name: str, role: Role, caller: Caller
) -> IssuedToken:
    """Create a token for a caller and audit it (never the secret)."""
    issued = await create_token(session, name=name, role=role, created_by=caller.actor)
    await record_audit(
        session, caller, action="token.create", target=f"token:{name}", detail={"role": role.value}
    )
    return issued


async def bootstrap_admin_token(session: AsyncSession, *, name: str) -> IssuedToken | None:
    """On a database without any token, create the first admin token, audited like every
    other token (the audit log must show where the first admin came from); else None."""
    if await count_tokens(session) > 0:
        return None
    return await issue_token(session, name=name, role=Role.ADMIN, caller=BOOTSTRAP_CALLER)


async def list_tokens(session: AsyncSession) -> list[ApiToken]:
    """Every token, revoked ones included, oldest first."""
    return await repository.all_tokens(session)


async def count_tokens(session: AsyncSession) -> int:
    """How many tokens were ever created (revoked ones count)."""
    return await repository.token_count(session)


async def revoke_token(session: AsyncSession, *, name: str, caller: Caller) -> ApiToken:
    """Revoke the named token and audit it; revoking twice is a conflict."""
    record = await repository.token_by_name(session, name)
    if record is None:
        raise NotFoundError(f"no token named {name!r}")
    if record.revoked_at is not None:
        raise ConflictError(f"token {name!r} is already revoked")
    record.revoked_at = utcnow()
    await session.flush()
    await record_audit(session, caller, action="token.revoke", target=f"token:{name}")
    return record


async def authenticate(session: AsyncSession, secret: str) -> Principal:
    """The principal behind a presented token; raises AuthError ("invalid token", the same for
    unknown and revoked tokens) otherwise."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 256:
        raise AuthError("invalid token")
    return await authenticate_hash(session, hash_token(secret))


async def authenticate_hash(session: AsyncSession, token_hash: str) -> Principal:
    """The principal behind a token's stored hash (a console session carries the hash, never
    the secret, and re-checks it on every request); AuthError for unknown and revoked tokens."""
    if len(token_hash) != 64:
        raise AuthError("invalid token")
    record = await repository.token_by_hash(session, token_hash)
    # The lookup is by hash, so no secret is compared byte by byte; a second constant-time compare
    # keeps it that way should the lookup ever change.
    if record is None or not secrets.compare_digest(record.token_hash, token_hash):
        raise AuthError("invalid token")
    if record.revoked_at is not None:
        # The caller hears what an unknown token hears, so a leaked token does not reveal that
        # it was once valid; the log keeps the difference for the operator.
        log.warning("revoked token used", token=record.name, revoked_at=str(record.revoked_at))
        raise AuthError("invalid token")
    now = utcnow()
    if record.last_used_at is None or now - record.last_used_at > _LAST_USED_GRANULARITY:
        record.last_used_at = now
    return Principal(name=record.name, role=record.role)


def require(principal: Principal, role: Role) -> None:
    """Raise ForbiddenError unless the principal may act with `role`."""
    if not principal.allows(role):
        raise ForbiddenError(f"this needs the {role.value} role; token has {principal.role.value}")

"""Response and request bodies of the foundation endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from awoooi.core.models import Role


class ApiModel(BaseModel):
    """Base of API bodies: built from ORM objects, unknown request fields rejected."""

    model_config = ConfigDict(from_attributes=True, extra="forbid")


class AuditEntryOut(ApiModel):
    """One audit log entry."""

    id: int
    at: datetime
    actor: str
    door: str | None
    action: str
    target: str
    outcome: str
    detail: dict[str, Any]
    request_id: str | None


class TokenOut(ApiModel):
    """A token's public description (never the secret)."""

    name: str
    role: str
    token_prefix: str
    created_at: datetime
    created_by: str
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreate(ApiModel):
    """Request to create a token."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    role: Role


class TokenCreated(TokenOut):
    """A new token; `token` is shown this once."""

    token: str


class JobOut(ApiModel):
    """A durable job's state."""

    id: int
    kind: str
    status: str
    attempts: int
    max_attempts: int | None
    dedupe_key: str | None
    run_at: datetime
    locked_by: str | None
    lease_expires_at: datetime | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None


class NotificationOut(ApiModel):
    """A notification and its delivery state."""

    id: int
    channel: str
    kind: str
    severity: str
    title: str
    status: str
    attempts: int
    error: str | None
    created_at: datetime
    sent_at: datetime | None

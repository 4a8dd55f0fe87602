"""Operations endpoints: audit log, tokens, jobs and notifications."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from awoooi.api.deps import Admin, AdminCaller, Operator, SessionDep, Viewer
from awoooi.api.routing import AuthBeforeBodyRoute
from awoooi.api.schemas import (
    AuditEntryOut,
    JobOut,
    NotificationOut,
    TokenCreate,
    TokenCreated,
    TokenOut,
)
from awoooi.core import auth, jobs
from awoooi.core.audit import list_audit
from awoooi.core.inputs import MAX_ROW_ID, Text, UtcTime
from awoooi.core.models import JobStatus
from awoooi.notify.repository import list_notifications

router = APIRouter(prefix="/api/v1", route_class=AuthBeforeBodyRoute)

Limit = Annotated[int, Query(ge=1, le=1000)]
# Ids are INTEGER columns: a larger value made PostgreSQL (and SQLite past 2**63) fail with a 500.


@router.get("/audit", response_model=list[AuditEntryOut], tags=["audit"])
async def get_audit(
    session: SessionDep,
    _principal: Admin,
    limit: Limit = 100,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    actor: Annotated[Text | None, Query(max_length=128)] = None,
    action: Annotated[Text | None, Query(max_length=64)] = None,
    # Aware only: a naive time is ambiguous, and the database layer refuses it (was a 500).
    since: UtcTime | None = None,
) -> list[AuditEntryOut]:
    """Audit entries, newest first; page with `before_id`."""
    entries = await list_audit(
        session, limit=limit, before_id=before_id, actor=actor, action=action, since=since
    )
    return [AuditEntryOut.model_validate(entry) for entry in entries]


@router.get("/tokens", response_model=list[TokenOut], tags=["tokens"])
async def get_tokens(session: SessionDep, _principal: Admin) -> list[TokenOut]:
    """Every token, revoked ones included; secrets are never shown."""
    return [TokenOut.model_validate(token) for token in await auth.list_tokens(session)]


@router.post(
    "/tokens", response_model=TokenCreated, status_code=status.HTTP_201_CREATED, tags=["tokens"]
)
async def post_token(body: TokenCreate, session: SessionDep, caller: AdminCaller) -> TokenCreated:
    """Create a token; its secret is in this response only."""
    issued = await auth.issue_token(session, name=body.name, role=body.role, caller=caller)
    return TokenCreated(**TokenOut.model_validate(issued.record).model_dump(), token=issued.secret)


@router.delete("/tokens/{name}", response_model=TokenOut, tags=["tokens"])
async def delete_token(name: str, session: SessionDep, caller: AdminCaller) -> TokenOut:
    """Revoke a token; it stops working at once."""
    record = await auth.revoke_token(session, name=name, caller=caller)
    return TokenOut.model_validate(record)


@router.get("/jobs", response_model=list[JobOut], tags=["jobs"])
async def get_jobs(
    session: SessionDep,
    _principal: Operator,
    status: JobStatus | None = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 100,
) -> list[JobOut]:
    """Durable jobs, newest first; `status=dead` lists the dead letters."""
    found = await jobs.list_jobs(session, status=status, kind=kind, limit=limit)
    return [JobOut.model_validate(job) for job in found]


@router.post("/jobs/{job_id}/retry", response_model=JobOut, tags=["jobs"])
async def retry_job(
    job_id: Annotated[int, Path(le=MAX_ROW_ID)],
    session: SessionDep,
    caller: AdminCaller,
) -> JobOut:
    """Queue a dead job again with a fresh set of attempts."""
    job = await jobs.requeue_dead_job(session, job_id, caller=caller)
    return JobOut.model_validate(job)


@router.get("/notifications", response_model=list[NotificationOut], tags=["notifications"])
async def get_notifications(
    session: SessionDep, _principal: Viewer, limit: Limit = 100
) -> list[NotificationOut]:
    """Recent notifications with their delivery state."""
    found = await list_notifications(session, limit=limit)
    return [NotificationOut.model_validate(record) for record in found]

"""Queries of the core tables: API tokens, the audit log and the durable job queue (and its
retention)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from awoooi.core.models import ApiToken, AuditEntry, Job, JobStatus

# --------------------------------------------------------------------------- tokens


async def token_by_name(session: AsyncSession, name: str) -> ApiToken | None:
    """The token with this name, revoked or not."""
    return await session.scalar(select(ApiToken).where(ApiToken.name == name))


async def token_by_hash(session: AsyncSession, token_hash: str) -> ApiToken | None:
    """The token whose secret hashes to `token_hash`."""
    return await session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))


async def all_tokens(session: AsyncSession) -> list[ApiToken]:
    """Every token, revoked ones included, oldest first."""
    return list(await session.scalars(select(ApiToken).order_by(ApiToken.id)))


async def token_count(session: AsyncSession) -> int:
    """How many tokens were ever created."""
    return int(await session.scalar(select(func.count(ApiToken.id))) or 0)


# --------------------------------------------------------------------------- audit


async def audit_entries(
    session: AsyncSession,
    *,
    limit: int,
    before_id: int | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
) -> list[AuditEntry]:
    """Audit entries, newest first, filtered and paged by id."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    return list(await session.scalars(query))


# --------------------------------------------------------------------------- jobs


async def job_id_for_key(session: AsyncSession, dedupe_key: str) -> int | None:
    """The id of the job queued under a dedupe key, if any."""
    return await session.scalar(select(Job.id).where(Job.dedupe_key == dedupe_key))


async def insert_job(session: AsyncSession, values: dict[str, Any]) -> int:
    """Insert a job; with a dedupe key already used, the first job's id instead."""
    dedupe_key = values.get("dedupe_key")
    if dedupe_key is None:
        job_id = await session.scalar(insert(Job).values(values).returning(Job.id))
        return int(job_id)  # type: ignore[arg-type]
    dialect = session.get_bind().dialect.name
    upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        upsert(Job)
        .values(values)
        .on_conflict_do_nothing(index_elements=[Job.dedupe_key])
        .returning(Job.id)
    )
    job_id = await session.scalar(statement)
    if job_id is None:
        job_id = await job_id_for_key(session, dedupe_key)
    return int(job_id)  # type: ignore[arg-type]


def _attempt_limit(default_max_attempts: int) -> Any:
    return func.coalesce(Job.max_attempts, default_max_attempts)


async def kill_expired_jobs(
    session: AsyncSession, *, now: datetime, default_max_attempts: int, error: str
) -> Sequence[Row[Any]]:
    """Mark dead the running jobs whose lease expired on their last allowed attempt."""
    statement = (
        update(Job)
        .where(
            Job.status == JobStatus.RUNNING,
            Job.lease_expires_at < now,
            Job.attempts >= _attempt_limit(default_max_attempts),
        )
        .values(
            status=JobStatus.DEAD,
            last_error=error,
            locked_by=None,
            lease_expires_at=None,
            finished_at=now,
            updated_at=now,
        )
        .returning(Job.id, Job.kind, Job.payload, Job.attempts, Job.last_error)
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(statement)).all()


async def claim_job(
    session: AsyncSession,
    *,
    now: datetime,
    lock_token: str,
    lease_until: datetime,
    default_max_attempts: int,
    job_id: int | None = None,
    kind_limits: Mapping[str, int] | None = None,
) -> tuple[int, str, dict[str, Any], int, int] | None:
    """Take the most urgent ready job, oldest first (or the given one), under a lease:
    (id, kind, payload, attempts, max attempts), or None when none is ready. A kind in
    `kind_limits` is not taken while that many jobs of it hold a live lease."""
    limit = _attempt_limit(default_max_attempts)
    ready = or_(
        and_(Job.status == JobStatus.QUEUED, Job.run_at <= now),
        and_(
            Job.status == JobStatus.RUNNING,
            Job.lease_expires_at < now,
            Job.attempts < limit,
        ),
    )
    for kind, most in (kind_limits or {}).items():
        ready = and_(ready, or_(Job.kind != kind, _running_subquery(kind, now) < most))
    # One UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED): on PostgreSQL concurrent
    # workers skip each other's rows; on SQLite the statement takes the write lock at once.
    candidate = (
        select(Job.id)
        .where(ready, *([Job.id == job_id] if job_id is not None else []))
        .order_by(Job.priority.desc(), Job.run_at, Job.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    statement = (
        update(Job)
        .where(Job.id == candidate, ready)
        .values(
            status=JobStatus.RUNNING,
            attempts=Job.attempts + 1,
            locked_by=lock_token,
            lease_expires_at=lease_until,
            updated_at=now,
        )
        .returning(Job.id, Job.kind, Job.payload, Job.attempts, limit)
        .execution_options(synchronize_session=False)
    )
    row = (await session.execute(statement)).first()
    if row is None:
        return None
    return int(row[0]), str(row[1]), dict(row[2]), int(row[3]), int(row[4])


def _running_subquery(kind: str, now: datetime) -> Any:
    # An alias, so the count is not correlated with the row being claimed.
    other = aliased(Job)
    return (
        select(func.count(other.id))
        .where(
            other.kind == kind,
            other.status == JobStatus.RUNNING,
            other.lease_expires_at >= now,
        )
        .scalar_subquery()
    )


async def running_count(session: AsyncSession, kind: str, *, now: datetime) -> int:
    """How many jobs of a kind hold a live lease (as this transaction sees them)."""
    return int(await session.scalar(select(_running_subquery(kind, now))) or 0)


async def update_claimed_job(
    session: AsyncSession, job_id: int, lock_token: str, values: dict[str, Any]
) -> bool:
    """Change a job only while this claim still holds it; False when the lease was lost."""
    result = await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.locked_by == lock_token)
        .values(values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def release_claimed_job(
    session: AsyncSession, job_id: int, lock_token: str, *, now: datetime
) -> None:
    """Give a claimed job back to the queue without spending its attempt."""
    await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.locked_by == lock_token)
        .values(
            status=JobStatus.QUEUED,
            attempts=Job.attempts - 1,
            locked_by=None,
            lease_expires_at=None,
            run_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )


async def list_jobs(
    session: AsyncSession,
    *,
    status: JobStatus | None = None,
    kind: str | None = None,
    limit: int = 100,
) -> list[Job]:
    """Jobs, newest first, optionally of one status or kind."""
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Job.status == status.value)
    if kind is not None:
        query = query.where(Job.kind == kind)
    return list(await session.scalars(query))


_FINISHED = (JobStatus.DONE, JobStatus.DEAD)
_ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)


async def finished_job_ids(
    session: AsyncSession,
    *,
    status: JobStatus,
    finished_before: datetime,
    after_id: int,
    limit: int,
) -> list[int]:
    """Ids of jobs in `status` (done or dead) that finished before a time, above `after_id`,
    oldest id first."""
    query = (
        select(Job.id)
        .where(Job.status == status, Job.finished_at < finished_before, Job.id > after_id)
        .order_by(Job.id)
        .limit(limit)
    )
    return list(await session.scalars(query))


async def count_finished_jobs(session: AsyncSession, ids: Sequence[int]) -> int:
    """How many of these jobs are still done or dead."""
    query = select(func.count()).where(Job.id.in_(ids), Job.status.in_(_FINISHED))
    return int(await session.scalar(query) or 0)


async def delete_finished_jobs(session: AsyncSession, ids: Sequence[int]) -> int:
    """Delete these jobs if they are still done or dead (a retried one is not); how many went."""
    result = await session.execute(
        delete(Job)
        .where(Job.id.in_(ids), Job.status.in_(_FINISHED))
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def active_job_payloads(session: AsyncSession) -> list[dict[str, Any]]:
    """The payloads of every queued or running job."""
    query = select(Job.payload).where(Job.status.in_(_ACTIVE))
    return [dict(payload) for payload in await session.scalars(query)]

"""Durable jobs: enqueue inside the caller's transaction; workers claim under a lease and retry."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from awoooi.core import repository
from awoooi.core.audit import Caller, record_audit
from awoooi.core.config import JobsSettings
from awoooi.core.db import utcnow
from awoooi.core.errors import ConflictError, NotFoundError
from awoooi.core.locks import lock_names
from awoooi.core.logging import get_logger, redact_text
from awoooi.core.metrics import JOB_DURATION, JOBS_FINISHED
from awoooi.core.models import Job, JobStatus
from awoooi.core.write_gate import background_writes

log = get_logger(__name__)

MAX_ERROR_CHARS = 4000


@dataclass(frozen=True)
class JobContext:
    """What a handler gets: a session (committed with the job's completion) and the job."""

    session: AsyncSession
    job_id: int
    kind: str
    payload: dict[str, Any]
    attempt: int


@dataclass(frozen=True)
class JobFailure:
    """A failed attempt, as shown to a failure hook."""

    job_id: int
    kind: str
    payload: dict[str, Any]
    attempt: int
    error: str
    dead: bool


JobHandler = Callable[[JobContext], Awaitable[None]]
FailureHook = Callable[[AsyncSession, JobFailure], Awaitable[None]]


class PermanentJobError(Exception):
    """The job's input can never work: the worker marks it dead at once, with this reason,
    instead of retrying it."""


class UnknownJobKindError(Exception):
    """No handler is registered for the job's kind in this process."""


class JobRegistry:
    """Maps job kinds to handlers (and optional failure hooks)."""

    def __init__(self) -> None:
        self._handlers: dict[str, JobHandler] = {}
        self._failure_hooks: dict[str, FailureHook] = {}

    def register(
        self, kind: str, handler: JobHandler, *, on_failure: FailureHook | None = None
    ) -> None:
        """Register the handler for `kind`; `on_failure` runs where a failure is recorded."""
        if kind in self._handlers:
            raise ValueError(f"a handler for job kind {kind!r} is already registered")
        self._handlers[kind] = handler
        if on_failure is not None:
            self._failure_hooks[kind] = on_failure

    def handler(self, kind: str) -> JobHandler | None:
        """The handler for `kind`, if any."""
        return self._handlers.get(kind)

    def failure_hook(self, kind: str) -> FailureHook | None:
        """The failure hook for `kind`, if any."""
        return self._failure_hooks.get(kind)

    @property
    def kinds(self) -> list[str]:
        """Registered kinds, sorted."""
        return sorted(self._handlers)


async def job_for_key(session: AsyncSession, dedupe_key: str) -> int | None:
    """The id of the job queued under a dedupe key, if any."""
    return await repository.job_id_for_key(session, dedupe_key)


async def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    dedupe_key: str | None = None,
    *,
    run_at: datetime | None = None,
    max_attempts: int | None = None,
    priority: int = 0,
) -> int:
    """Queue a job in the caller's transaction; a dedupe_key already used returns that job's id.
    Ready jobs run by `priority` (highest first), then oldest first."""
    now = utcnow()
    values: dict[str, Any] = {
        "kind": kind,
        "payload": payload,
        "status": JobStatus.QUEUED,
        "dedupe_key": dedupe_key,
        "priority": priority,
        "attempts": 0,
        "max_attempts": max_attempts,
        "run_at": run_at or now,
        "created_at": now,
        "updated_at": now,
    }
    return await repository.insert_job(session, values)


def backoff_delay(attempt: int, settings: JobsSettings) -> float:
    """Seconds to wait before retrying after failed attempt number `attempt` (1-based)."""
    exponent = min(max(attempt - 1, 0), 32)
    return float(min(settings.backoff_max, settings.backoff_base * (2**exponent)))


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return redact_text(text)[:MAX_ERROR_CHARS]


def default_worker_id() -> str:
    """host:pid, so an operator can tell which process holds a job."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class _Claim:
    job_id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    lock_token: str


class Worker:
    """Claims ready jobs, runs their handlers and records the outcome."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        registry: JobRegistry,
        settings: JobsSettings,
        *,
        worker_id: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        kind_limits: Mapping[str, int] | None = None,
        before_claim: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._factory = session_factory
        # Awaited by the polling loops before each claim (the serving process's worker steps
        # aside while alerts are being delivered).
        self._before_claim = before_claim
        self._registry = registry
        self._settings = settings
        # At most this many jobs of a kind run at once, across every worker on the database.
        self._kind_limits = dict(kind_limits or {})
        self.worker_id = worker_id or default_worker_id()
        self._clock = clock

    async def run(self, stop: asyncio.Event) -> None:
        """Process jobs with `jobs.concurrency` loops until `stop` is set."""
        log.info("worker started", worker_id=self.worker_id, kinds=self._registry.kinds)
        # Jobs write as background work: on SQLite, requests (alert ingestion) go first.
        with background_writes():
            loops = [
                asyncio.create_task(self._loop(stop, sweeper=(index == 0)))
                for index in range(self._settings.concurrency)
            ]
        try:
            await asyncio.gather(*loops)
        finally:
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            log.info("worker stopped", worker_id=self.worker_id)

    async def _loop(self, stop: asyncio.Event, *, sweeper: bool) -> None:
        # Leases last lease_seconds; sweeping once a poll interval finds an expired one soon
        # enough, where sweeping before every claim cost a query per job under load.
        next_sweep = 0.0
        while not stop.is_set():
            try:
                if sweeper and time.monotonic() >= next_sweep:
                    await self.sweep_expired()
                    next_sweep = time.monotonic() + self._settings.poll_interval
                if self._before_claim is not None:
                    await self._before_claim()
                ran = await self.run_once()
            except Exception:  # a database hiccup must not kill the worker; log and back off
                log.exception("worker loop error", worker_id=self.worker_id)
                ran = False
            if not ran:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._settings.poll_interval)

    async def run_until_idle(self, *, max_jobs: int = 10_000) -> int:
        """Run ready jobs one after another until none is ready; returns how many ran."""
        count = 0
        while count < max_jobs:
            await self.sweep_expired()
            if not await self.run_once():
                break
            count += 1
        return count

    async def run_once(self) -> bool:
        """Claim one ready job and run it; False when no job was ready."""
        claim = await self._claim()
        if claim is None:
            return False
        await self._execute(claim)
        return True

    async def run_job(self, job_id: int) -> bool:
        """Claim one given job (if it is ready) and run it now, under the usual lease."""
        claim = await self._claim(job_id)
        if claim is None:
            return False
        await self._execute(claim)
        return True

    async def sweep_expired(self) -> int:
        """Mark dead the jobs whose lease expired on their last allowed attempt."""
        now = self._clock()
        async with self._factory() as session, session.begin():
            rows = await repository.kill_expired_jobs(
                session,
                now=now,
                default_max_attempts=self._settings.max_attempts,
                error="worker lost: lease expired on the last allowed attempt",
            )
            for row in rows:
                await self._call_failure_hook(
                    session,
                    JobFailure(row.id, row.kind, row.payload, row.attempts, row.last_error, True),
                )
                JOBS_FINISHED.labels(kind=row.kind, outcome="dead").inc()
                log.warning("job dead", job_id=row.id, kind=row.kind, error=row.last_error)
        return len(rows)

    async def _claim(self, job_id: int | None = None) -> _Claim | None:
        token = f"{self.worker_id}:{uuid.uuid4().hex[:12]}"
        async with self._factory() as session, session.begin():
            if self._kind_limits:
                await self._serialize_limited_claims(session)
            now = self._clock()  # after any wait for the lock, so the lease is whole
            row = await repository.claim_job(
                session,
                now=now,
                lock_token=token,
                lease_until=now + timedelta(seconds=self._settings.lease_seconds),
                default_max_attempts=self._settings.max_attempts,
                job_id=job_id,
                kind_limits=self._kind_limits,
            )
        if row is None:
            return None
        return _Claim(*row, token)

    async def _serialize_limited_claims(self, session: AsyncSession) -> None:
        """Claims that may take a limited kind run one at a time, across every replica.

        Concurrent claims on PostgreSQL skip each other's locked rows, so two of them could both
        see a kind's last free slot, or a later claim could take it past the most urgent job
        another claim was still taking. Under the lock each claim counts every committed one and
        takes the most urgent ready job; a claim is one short UPDATE, so the wait is short.
        """
        await lock_names(session, [f"jobs:limit:{kind}" for kind in self._kind_limits])

    async def _execute(self, claim: _Claim) -> None:
        bound = log.bind(job_id=claim.job_id, kind=claim.kind, attempt=claim.attempts)
        heartbeat = asyncio.create_task(self._heartbeat(claim))
        started = time.perf_counter()
        try:
            async with self._factory() as session:
                try:
                    handler = self._registry.handler(claim.kind)
                    if handler is None:
                        raise UnknownJobKindError(f"no handler for job kind {claim.kind!r}")
                    await handler(
                        JobContext(session, claim.job_id, claim.kind, claim.payload, claim.attempts)
                    )
                    finished = await self._mark_done(session, claim)
                except asyncio.CancelledError:
                    await session.rollback()
                    await asyncio.shield(self._release(claim))
                    raise
                except Exception as exc:  # noqa: BLE001 - every handler failure becomes a retry, never a crash
                    await session.rollback()
                    await self._fail(claim, exc)
                    return
                if finished:
                    await session.commit()
                    JOBS_FINISHED.labels(kind=claim.kind, outcome="done").inc()
                    bound.info("job done")
                else:
                    # Our lease expired and another worker took the job: its run wins.
                    await session.rollback()
                    bound.warning("job lease lost; result discarded")
        finally:
            heartbeat.cancel()
            JOB_DURATION.labels(kind=claim.kind).observe(time.perf_counter() - started)

    async def _mark_done(self, session: AsyncSession, claim: _Claim) -> bool:
        now = self._clock()
        values = {
            "status": JobStatus.DONE,
            "locked_by": None,
            "lease_expires_at": None,
            "last_error": None,
            "finished_at": now,
            "updated_at": now,
        }
        return await repository.update_claimed_job(session, claim.job_id, claim.lock_token, values)

    async def _fail(self, claim: _Claim, exc: Exception) -> None:
        error = _error_text(exc)
        dead = isinstance(exc, PermanentJobError) or claim.attempts >= claim.max_attempts
        now = self._clock()
        values: dict[str, Any] = {
            "locked_by": None,
            "lease_expires_at": None,
            "last_error": error,
            "updated_at": now,
        }
        if dead:
            values |= {"status": JobStatus.DEAD, "finished_at": now}
        else:
            delay = backoff_delay(claim.attempts, self._settings)
            values |= {"status": JobStatus.QUEUED, "run_at": now + timedelta(seconds=delay)}
        async with self._factory() as session, session.begin():
            if not await repository.update_claimed_job(
                session, claim.job_id, claim.lock_token, values
            ):
                return
            failure = JobFailure(
                claim.job_id, claim.kind, claim.payload, claim.attempts, error, dead
            )
            await self._call_failure_hook(session, failure)
        outcome = "dead" if dead else "retry"
        JOBS_FINISHED.labels(kind=claim.kind, outcome=outcome).inc()
        log.warning(
            "job dead" if dead else "job failed; will retry",
            job_id=claim.job_id,
            kind=claim.kind,
            attempt=claim.attempts,
            error=error,
        )

    async def _release(self, claim: _Claim) -> None:
        """Give a job back unfinished (worker shutting down); the attempt does not count."""
        now = self._clock()
        async with self._factory() as session, session.begin():
            await repository.release_claimed_job(session, claim.job_id, claim.lock_token, now=now)
        JOBS_FINISHED.labels(kind=claim.kind, outcome="released").inc()

    async def _heartbeat(self, claim: _Claim) -> None:
        """Extend the lease while the handler runs, so long jobs are not taken over."""
        interval = self._settings.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            try:
                async with self._factory() as session, session.begin():
                    until = self._clock() + timedelta(seconds=self._settings.lease_seconds)
                    await repository.update_claimed_job(
                        session, claim.job_id, claim.lock_token, {"lease_expires_at": until}
                    )
            except Exception:  # a missed heartbeat only risks a duplicate run, which is allowed
                log.warning("job heartbeat failed", job_id=claim.job_id, exc_info=True)

    async def _call_failure_hook(self, session: AsyncSession, failure: JobFailure) -> None:
        hook = self._registry.failure_hook(failure.kind)
        if hook is None:
            return
        try:
            async with session.begin_nested():
                await hook(session, failure)
        except Exception:  # the hook is bookkeeping; the job's own state must still be saved
            log.exception("job failure hook failed", job_id=failure.job_id, kind=failure.kind)


async def get_job(session: AsyncSession, job_id: int) -> Job | None:
    """The job with this id, if any."""
    return await session.get(Job, job_id)


async def list_jobs(
    session: AsyncSession,
    *,
    status: JobStatus | None = None,
    kind: str | None = None,
    limit: int = 100,
) -> list[Job]:
    """Jobs, newest first, optionally of one status or kind."""
    return await repository.list_jobs(session, status=status, kind=kind, limit=limit)


async def requeue_dead_job(session: AsyncSession, job_id: int, *, caller: Caller) -> Job:
    """Give a dead job a fresh set of attempts, to run as soon as a worker is free (audited)."""
    job = await session.get(Job, job_id)
    if job is None:
        raise NotFoundError(f"no job {job_id}")
    if job.status != JobStatus.DEAD:
        raise ConflictError(f"job {job_id} is {job.status}; only dead jobs can be retried")
    now = utcnow()
    job.status = JobStatus.QUEUED
    job.attempts = 0
    job.run_at = now
    job.finished_at = None
    job.updated_at = now
    await session.flush()
    await record_audit(
        session, caller, action="job.retry", target=f"job:{job_id}", detail={"kind": job.kind}
    )
    return job


# --------------------------------------------------------------------------- retention


async def finished_jobs_before(
    session: AsyncSession, status: JobStatus, *, before: datetime, after_id: int, limit: int
) -> list[int]:
    """Ids of done or dead jobs that finished before `before`, above `after_id`, in id order."""
    if status not in (JobStatus.DONE, JobStatus.DEAD):
        raise ValueError(f"only finished jobs are pruned, not {status}")
    return await repository.finished_job_ids(
        session, status=status, finished_before=before, after_id=after_id, limit=limit
    )


async def remove_finished_jobs(session: AsyncSession, ids: list[int], *, dry_run: bool) -> int:
    """Delete these jobs while they are still done or dead (count them on a dry run)."""
    if not ids:
        return 0
    if dry_run:
        return await repository.count_finished_jobs(session, ids)
    return await repository.delete_finished_jobs(session, ids)


async def active_job_references(session: AsyncSession, *keys: str) -> dict[str, set[int]]:
    """For each payload key (`incident_id`, `repair_id` ...), the ids queued or running jobs
    name under it: rows a pending job still needs."""
    found: dict[str, set[int]] = {key: set() for key in keys}
    for payload in await repository.active_job_payloads(session):
        for key in keys:
            value = payload.get(key)
            # bool is an int too, and never an id.
            if isinstance(value, int) and not isinstance(value, bool):
                found[key].add(value)
            elif isinstance(value, str) and value.isdigit():
                found[key].add(int(value))
    return found

"""The durable job queue against real SQLite and PostgreSQL databases."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pytest
from sqlalchemy import func, select, text, update

from awoooi.core.audit import SYSTEM_CALLER, Caller, Door, record_audit
from awoooi.core.config import JobsSettings
from awoooi.core.db import transaction, utcnow
from awoooi.core.errors import ConflictError, NotFoundError
from awoooi.core.jobs import (
    JobContext,
    JobFailure,
    JobRegistry,
    PermanentJobError,
    Worker,
    backoff_delay,
    enqueue,
    list_jobs,
    requeue_dead_job,
)
from awoooi.core.models import AuditEntry, Job, JobStatus
from awoooi.runtime import Runtime
from tests.conftest import create_pg_database, drop_pg_database, make_settings

WORKER_SCRIPT = Path(__file__).resolve().parents[1] / "helpers" / "worker_proc.py"
BLOCK_KIND = "test.block"  # the kind tests/helpers/worker_proc.py blocks on
PROC_WORKER_ID = "proc-worker"
WAIT = 30.0  # upper bound on waiting for a condition, so a broken queue fails instead of hanging


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def jobs_settings(**overrides: Any) -> JobsSettings:
    """Fast queue settings with round numbers the assertions can use."""
    values: dict[str, Any] = {
        "poll_interval": 0.01,
        "lease_seconds": 30,
        "max_attempts": 3,
        "backoff_base": 2,
        "backoff_max": 5,
        "concurrency": 1,
        "run_in_serve": False,
    }
    values.update(overrides)
    return JobsSettings(**values)


def make_worker(
    runtime: Runtime,
    registry: JobRegistry,
    settings: JobsSettings | None = None,
    *,
    worker_id: str = "test-worker",
    clock: FakeClock | None = None,
) -> Worker:
    if clock is None:
        return Worker(
            runtime.session_factory, registry, settings or jobs_settings(), worker_id=worker_id
        )
    return Worker(
        runtime.session_factory,
        registry,
        settings or jobs_settings(),
        worker_id=worker_id,
        clock=clock,
    )


async def add_job(
    runtime: Runtime,
    kind: str,
    payload: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
    **options: Any,
) -> int:
    async with transaction(runtime.session_factory) as session:
        return await enqueue(session, kind, payload or {}, dedupe_key, **options)


async def load_job(runtime: Runtime, job_id: int) -> Job:
    async with runtime.session_factory() as session:
        job = await session.get(Job, job_id)
    assert job is not None, f"job {job_id} is missing"
    return job


async def all_jobs(runtime: Runtime) -> list[Job]:
    async with runtime.session_factory() as session:
        return list(await session.scalars(select(Job).order_by(Job.id)))


async def count_jobs(runtime: Runtime, status: JobStatus | None = None) -> int:
    query = select(func.count()).select_from(Job)
    if status is not None:
        query = query.where(Job.status == status.value)
    async with runtime.session_factory() as session:
        return int(await session.scalar(query) or 0)


async def audit_targets(runtime: Runtime) -> list[str]:
    """Targets of the audit rows, which the handlers here use as their own side-effect table."""
    async with runtime.session_factory() as session:
        return list(await session.scalars(select(AuditEntry.target).order_by(AuditEntry.id)))


async def write_side_effect(ctx: JobContext, actor: str = "handler") -> None:
    """A write in the job's own session: committed only together with the job's completion."""
    await record_audit(
        ctx.session,
        Caller(actor, Door.SYSTEM),
        action=ctx.kind,
        target=f"job:{ctx.job_id}:attempt:{ctx.attempt}",
    )


async def wait_until(condition: Any, what: str) -> None:
    """Poll an async predicate until it holds (bounded, so a failure cannot hang the suite)."""
    try:
        async with asyncio.timeout(WAIT):
            while True:
                if await condition():
                    return
                await asyncio.sleep(0.02)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


async def stop_task(task: asyncio.Task[Any]) -> None:
    """Cancel a task if it is still running and wait for it to end."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


# --- enqueue and the caller's transaction ---------------------------------------------------


async def test_enqueue_rolled_back_with_callers_transaction(runtime: Runtime) -> None:
    async def failing_caller() -> None:
        async with transaction(runtime.session_factory) as session:
            await record_audit(session, Caller("caller", Door.SYSTEM), action="work", target="t")
            job_id = await enqueue(session, "test.noop", {"n": 1})
            assert await session.get(Job, job_id) is not None  # visible inside the transaction
            raise RuntimeError("caller failed")

    with pytest.raises(RuntimeError, match="caller failed"):
        await failing_caller()

    assert await count_jobs(runtime) == 0
    assert await audit_targets(runtime) == []


async def test_enqueue_committed_with_callers_transaction(runtime: Runtime) -> None:
    before = utcnow()
    async with transaction(runtime.session_factory) as session:
        await record_audit(session, Caller("caller", Door.SYSTEM), action="work", target="t")
        job_id = await enqueue(session, "test.noop", {"n": 1, "nested": {"a": [1, 2]}})

    jobs = await all_jobs(runtime)
    assert [job.id for job in jobs] == [job_id]
    job = jobs[0]
    assert job.kind == "test.noop"
    assert job.payload == {"n": 1, "nested": {"a": [1, 2]}}
    assert job.status == JobStatus.QUEUED.value
    assert job.attempts == 0
    assert job.max_attempts is None
    assert job.dedupe_key is None
    assert job.locked_by is None
    assert job.lease_expires_at is None
    assert job.last_error is None
    assert job.finished_at is None
    assert job.run_at >= before
    assert await audit_targets(runtime) == ["t"]


async def test_enqueue_in_explicit_session_rollback_leaves_no_job(runtime: Runtime) -> None:
    async with runtime.session_factory() as session:
        await session.begin()
        await enqueue(session, "test.noop", {}, "rolled-back-key")
        await session.rollback()
    assert await count_jobs(runtime) == 0

    # The key was never committed, so it is free for a new job.
    job_id = await add_job(runtime, "test.noop", {"second": True}, "rolled-back-key")
    assert (await load_job(runtime, job_id)).payload == {"second": True}


async def test_enqueue_run_at_in_future_waits(runtime: Runtime) -> None:
    clock = FakeClock()
    job_id = await add_job(runtime, "test.noop", run_at=clock.now + timedelta(seconds=30))
    runs: list[int] = []

    async def handler(ctx: JobContext) -> None:
        runs.append(ctx.job_id)

    registry = JobRegistry()
    registry.register("test.noop", handler)
    worker = make_worker(runtime, registry, clock=clock)

    clock.advance(29)
    assert await worker.run_until_idle() == 0
    clock.advance(1)
    assert await worker.run_until_idle() == 1
    assert runs == [job_id]
    assert (await load_job(runtime, job_id)).status == JobStatus.DONE.value


# --- retries and backoff --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "base", "maximum", "expected"),
    [
        (1, 2, 5, 2.0),
        (2, 2, 5, 4.0),
        (3, 2, 5, 5.0),
        (4, 2, 5, 5.0),
        (0, 2, 5, 2.0),
        (1000, 2, 5, 5.0),
        (5, 1.5, 600, 24.0),
        (11, 1, 600, 600.0),
        (10, 1, 600, 512.0),
    ],
)
def test_backoff_delay(attempt: int, base: float, maximum: float, expected: float) -> None:
    settings = jobs_settings(backoff_base=base, backoff_max=maximum)
    assert backoff_delay(attempt, settings) == expected


async def test_failing_job_is_retried_with_exponential_backoff(runtime: Runtime) -> None:
    calls: list[int] = []

    async def always_fail(ctx: JobContext) -> None:
        calls.append(ctx.attempt)
        raise RuntimeError(f"boom on attempt {ctx.attempt}")

    registry = JobRegistry()
    registry.register("test.fail", always_fail)
    job_id = await add_job(runtime, "test.fail", {"x": 1})
    clock = FakeClock()
    worker = make_worker(runtime, registry, jobs_settings(max_attempts=10), clock=clock)

    # Attempt 1 fails: back to the queue, due backoff_base (2 s) later.
    assert await worker.run_once() is True
    job = await load_job(runtime, job_id)
    assert job.status == JobStatus.QUEUED.value
    assert job.attempts == 1
    assert job.last_error == "RuntimeError: boom on attempt 1"
    assert job.run_at == clock.now + timedelta(seconds=2)
    assert job.locked_by is None
    assert job.lease_expires_at is None
    assert job.finished_at is None

    # Not claimable a moment before run_at; claimable exactly at run_at.
    clock.advance(1.999)
    assert await worker.run_once() is False
    assert await worker.run_until_idle() == 0
    clock.advance(0.001)
    assert clock.now == job.run_at

    # Attempt 2 fails: the delay doubles.
    assert await worker.run_once() is True
    job = await load_job(runtime, job_id)
    assert job.attempts == 2
    assert job.last_error == "RuntimeError: boom on attempt 2"
    assert job.run_at == clock.now + timedelta(seconds=4)
    clock.advance(3.999)
    assert await worker.run_once() is False
    clock.advance(0.001)

    # Attempt 3 fails: 8 s would exceed backoff_max, so the delay is capped at 5 s.
    assert await worker.run_once() is True
    job = await load_job(runtime, job_id)
    assert job.attempts == 3
    assert job.run_at == clock.now + timedelta(seconds=5)
    clock.advance(5)

    assert await worker.run_once() is True
    job = await load_job(runtime, job_id)
    assert job.attempts == 4
    assert job.run_at == clock.now + timedelta(seconds=5)
    assert job.status == JobStatus.QUEUED.value
    assert calls == [1, 2, 3, 4]


async def test_job_failing_twice_then_succeeding_ends_done(runtime: Runtime) -> None:
    calls: list[int] = []

    async def flaky(ctx: JobContext) -> None:
        calls.append(ctx.attempt)
        # Each attempt writes; only the successful attempt's write may survive.
        await write_side_effect(ctx)
        if ctx.attempt < 3:
            raise ValueError(f"transient failure {ctx.attempt}")

    registry = JobRegistry()
    registry.register("test.flaky", flaky)
    job_id = await add_job(runtime, "test.flaky")
    clock = FakeClock()
    worker = make_worker(runtime, registry, clock=clock)

    assert await worker.run_once() is True
    assert (await load_job(runtime, job_id)).last_error == "ValueError: transient failure 1"
    clock.advance(2)
    assert await worker.run_once() is True
    assert (await load_job(runtime, job_id)).last_error == "ValueError: transient failure 2"
    clock.advance(4)
    assert await worker.run_once() is True

    job = await load_job(runtime, job_id)
    assert job.status == JobStatus.DONE.value
    assert job.attempts == 3
    assert job.last_error is None
    assert job.finished_at == clock.now
    assert job.locked_by is None
    assert job.lease_expires_at is None
    assert calls == [1, 2, 3]
    assert await audit_targets(runtime) == [f"job:{job_id}:attempt:3"]
    clock.advance(3600)
    assert await worker.run_until_idle() == 0


# --- dead-lettering ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings_max", "job_max", "expected_attempts"),
    [(3, None, 3), (3, 2, 2), (2, 4, 4)],
    ids=["settings-limit", "job-limit-lower", "job-limit-higher"],
)
async def test_job_dies_after_max_attempts_and_hook_sees_each_failure(
    runtime: Runtime, settings_max: int, job_max: int | None, expected_attempts: int
) -> None:
    seen: list[tuple[int, int, bool, str, dict[str, Any]]] = []

    async def always_fail(ctx: JobContext) -> None:
        raise RuntimeError(f"failure {ctx.attempt}")

    async def on_failure(session: Any, failure: JobFailure) -> None:
        seen.append((failure.job_id, failure.attempt, failure.dead, failure.error, failure.payload))
        await record_audit(
            session,
            Caller("hook", Door.SYSTEM),
            action="job.failed",
            target=f"{failure.attempt}:{'dead' if failure.dead else 'retry'}",
        )

    registry = JobRegistry()
    registry.register("test.doomed", always_fail, on_failure=on_failure)
    job_id = await add_job(runtime, "test.doomed", {"p": 7}, max_attempts=job_max)
    clock = FakeClock()
    worker = make_worker(runtime, registry, jobs_settings(max_attempts=settings_max), clock=clock)

    for attempt in range(1, expected_attempts + 1):
        job = await load_job(runtime, job_id)
        assert job.status == JobStatus.QUEUED.value, f"before attempt {attempt}"
        assert await worker.run_once() is True
        clock.advance(5)  # backoff_max: always past the retry time
    died_at = clock.now - timedelta(seconds=5)

    job = await load_job(runtime, job_id)
    assert job.status == JobStatus.DEAD.value
    assert job.attempts == expected_attempts
    assert job.max_attempts == job_max
    assert job.finished_at == died_at
    assert job.last_error == f"RuntimeError: failure {expected_attempts}"
    assert job.locked_by is None
    assert job.lease_expires_at is None

    assert seen == [
        (
            job_id,
            attempt,
            attempt == expected_attempts,
            f"RuntimeError: failure {attempt}",
            {"p": 7},
        )
        for attempt in range(1, expected_attempts + 1)
    ]
    # The hook's writes were committed with each failure.
    assert await audit_targets(runtime) == [
        f"{attempt}:{'dead' if attempt == expected_attempts else 'retry'}"
        for attempt in range(1, expected_attempts + 1)
    ]

    # A dead job is never claimed again, however much time passes.
    clock.advance(86400)
    assert await worker.run_until_idle() == 0
    assert (await load_job(runtime, job_id)).attempts == expected_attempts


async def test_failing_failure_hook_does_not_block_job_bookkeeping(runtime: Runtime) -> None:
    async def always_fail(ctx: JobContext) -> None:
        raise RuntimeError("handler failed")

    async def broken_hook(session: Any, failure: JobFailure) -> None:
        await record_audit(
            session, Caller("hook", Door.SYSTEM), action="partial", target="half-written"
        )
        raise ValueError("hook failed")

    registry = JobRegistry()
    registry.register("test.hooked", always_fail, on_failure=broken_hook)
    job_id = await add_job(runtime, "test.hooked", max_attempts=2)
    clock = FakeClock()
    worker = make_worker(runtime, registry, clock=clock)

    assert await worker.run_once() is True
    job = await load_job(runtime, job_id)
    assert (job.status, job.attempts) == (JobStatus.QUEUED.value, 1)
    assert job.last_error == "RuntimeError: handler failed"
    clock.advance(5)
    assert await worker.run_once() is True
    job = await load_job(runtime, job_id)
    assert (job.status, job.attempts) == (JobStatus.DEAD.value, 2)
    # The hook's own writes were rolled back to its savepoint; the job's state was saved.
    assert await audit_targets(runtime) == []


async def test_permanent_failure_dies_at_once_with_its_reason(runtime: Runtime) -> None:
    seen: list[tuple[int, bool]] = []

    async def hopeless(ctx: JobContext) -> None:
        raise PermanentJobError(f"report_id {ctx.payload['report_id']!r} is not a number")

    async def on_failure(session: Any, failure: JobFailure) -> None:
        seen.append((failure.attempt, failure.dead))

    registry = JobRegistry()
    registry.register("test.hopeless", hopeless, on_failure=on_failure)
    job_id = await add_job(runtime, "test.hopeless", {"report_id": "x"}, max_attempts=20)
    worker = make_worker(runtime, registry, clock=FakeClock())

    assert await worker.run_until_idle() == 1

    job = await load_job(runtime, job_id)
    assert (job.status, job.attempts) == (JobStatus.DEAD.value, 1)
    assert job.last_error == "PermanentJobError: report_id 'x' is not a number"
    assert job.finished_at is not None
    assert seen == [(1, True)]


async def test_unknown_kind_retries_then_dies_naming_the_kind(runtime: Runtime) -> None:
    registry = JobRegistry()
    job_id = await add_job(runtime, "test.unregistered", {"a": 1}, max_attempts=2)
    clock = FakeClock()
    worker = make_worker(runtime, registry, clock=clock)
    expected_error = "UnknownJobKindError: no handler for job kind 'test.unregistered'"

    assert await worker.run_once() is True
    job = await load_job(runtime, job_id)
    assert job.status == JobStatus.QUEUED.value
    assert job.attempts == 1
    assert job.last_error == expected_error
    assert job.run_at == clock.now + timedelta(seconds=2)

    clock.advance(2)
    assert await worker.run_once() is True
    job = await load_job(runtime, job_id)
    assert job.status == JobStatus.DEAD.value
    assert job.attempts == 2
    assert job.last_error == expected_error
    assert job.finished_at == clock.now


async def test_requeue_dead_job_runs_it_again(runtime: Runtime) -> None:
    state = {"fail": True}
    runs: list[int] = []

    async def handler(ctx: JobContext) -> None:
        runs.append(ctx.attempt)
        if state["fail"]:
            raise RuntimeError("downstream unavailable")
        await write_side_effect(ctx)

    registry = JobRegistry()
    registry.register("test.revive", handler)
    job_id = await add_job(runtime, "test.revive", max_attempts=1)
    clock = FakeClock()
    worker = make_worker(runtime, registry, clock=clock)

    assert await worker.run_once() is True
    assert (await load_job(runtime, job_id)).status == JobStatus.DEAD.value

    async with transaction(runtime.session_factory) as session:
        job = await requeue_dead_job(session, job_id, caller=SYSTEM_CALLER)
        assert job.status == JobStatus.QUEUED.value
    job = await load_job(runtime, job_id)
    assert job.status == JobStatus.QUEUED.value
    assert job.attempts == 0
    assert job.finished_at is None

    state["fail"] = False
    clock.now = utcnow() + timedelta(seconds=1)  # requeue schedules at the real "now"
    assert await worker.run_until_idle() == 1
    job = await load_job(runtime, job_id)
    assert job.status == JobStatus.DONE.value
    assert job.attempts == 1
    assert job.last_error is None
    assert runs == [1, 1]
    # The requeue is audited; the handler's own side effect committed once.
    assert await audit_targets(runtime) == [f"job:{job_id}", f"job:{job_id}:attempt:1"]

    # Only dead jobs can be requeued.
    async with runtime.session_factory() as session:
        with pytest.raises(ConflictError, match="is done"):
            await requeue_dead_job(session, job_id, caller=SYSTEM_CALLER)
        with pytest.raises(NotFoundError):
            await requeue_dead_job(session, job_id + 1000, caller=SYSTEM_CALLER)
    queued_id = await add_job(runtime, "test.revive")
    async with runtime.session_factory() as session:
        with pytest.raises(ConflictError, match="is queued"):
            await requeue_dead_job(session, queued_id, caller=SYSTEM_CALLER)


async def test_list_jobs_filters_and_orders_newest_first(runtime: Runtime) -> None:
    first = await add_job(runtime, "kind.a")
    second = await add_job(runtime, "kind.b", run_at=utcnow() + timedelta(hours=1))
    third = await add_job(runtime, "kind.a", max_attempts=1)
    clock = FakeClock()

    async def fail(ctx: JobContext) -> None:
        raise RuntimeError("no")

    registry = JobRegistry()
    registry.register("kind.a", fail)
    # `first` fails and waits for its retry, `third` dies, `second` is not due yet.
    assert await make_worker(runtime, registry, clock=clock).run_until_idle() == 2

    async with runtime.session_factory() as session:
        assert [job.id for job in await list_jobs(session)] == [third, second, first]
        assert [job.id for job in await list_jobs(session, limit=2)] == [third, second]
        assert [job.id for job in await list_jobs(session, kind="kind.a")] == [third, first]
        dead = await list_jobs(session, status=JobStatus.DEAD)
        assert [job.id for job in dead] == [third]
        queued = await list_jobs(session, status=JobStatus.QUEUED, kind="kind.a")
        assert [job.id for job in queued] == [first]
        assert await list_jobs(session, status=JobStatus.RUNNING) == []


# --- a worker killed mid-job ------------------------------------------------------------------


@pytest.fixture
def proc_log(tmp_path: Path) -> Iterator[IO[bytes]]:
    """Where the worker subprocess writes its output (shown when it misbehaves)."""
    with (tmp_path / "worker_proc.log").open("wb") as handle:
        yield handle


async def start_worker_process(
    database_url: str, ready_dir: Path, log: IO[bytes], *, lease: float, concurrency: int
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(WORKER_SCRIPT),
        database_url,
        str(ready_dir),
        str(lease),
        str(concurrency),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=log,
        stderr=log,
    )


async def wait_for_ready_files(
    proc: asyncio.subprocess.Process, ready_dir: Path, job_ids: list[int], log: IO[bytes]
) -> dict[int, int]:
    """Wait until the subprocess's handler runs every job; return job id -> attempt."""
    paths = {job_id: ready_dir / str(job_id) for job_id in job_ids}

    async def all_ready() -> bool:
        if proc.returncode is not None:
            log.flush()
            output = await asyncio.to_thread(Path(log.name).read_text, errors="replace")
            pytest.fail(f"worker process exited with {proc.returncode}:\n{output}")
        return all(await asyncio.gather(*(asyncio.to_thread(p.exists) for p in paths.values())))

    await wait_until(all_ready, "the worker process to claim its jobs")
    contents = await asyncio.gather(*(asyncio.to_thread(p.read_text) for p in paths.values()))
    return {job_id: int(body) for job_id, body in zip(paths, contents, strict=True)}


async def test_killed_workers_job_completes_after_restart(
    runtime: Runtime, tmp_path: Path, proc_log: IO[bytes]
) -> None:
    job_id = await add_job(runtime, BLOCK_KIND, {"work": "resume me"})
    last_try_id = await add_job(runtime, BLOCK_KIND, {"work": "only once"}, max_attempts=1)
    ready_dir = tmp_path / "ready"
    ready_dir.mkdir()

    proc = await start_worker_process(
        runtime.settings.resolved_database_url, ready_dir, proc_log, lease=1.0, concurrency=2
    )
    try:
        attempts = await wait_for_ready_files(proc, ready_dir, [job_id, last_try_id], proc_log)
        assert attempts == {job_id: 1, last_try_id: 1}
        for claimed in (job_id, last_try_id):
            job = await load_job(runtime, claimed)
            assert job.status == JobStatus.RUNNING.value
            assert job.attempts == 1
            assert job.locked_by is not None
            assert job.locked_by.startswith(f"{PROC_WORKER_ID}:")
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
    assert proc.returncode == -signal.SIGKILL

    runs: list[tuple[int, int, dict[str, Any]]] = []
    dead_seen: list[JobFailure] = []

    async def finish(ctx: JobContext) -> None:
        runs.append((ctx.job_id, ctx.attempt, ctx.payload))
        await write_side_effect(ctx, actor="restarted")

    async def on_failure(session: Any, failure: JobFailure) -> None:
        dead_seen.append(failure)

    registry = JobRegistry()
    registry.register(BLOCK_KIND, finish, on_failure=on_failure)
    worker = make_worker(runtime, registry, jobs_settings(lease_seconds=1), worker_id="restarted")

    async def settled() -> bool:
        await worker.run_until_idle()  # sweeps expired leases, then runs what is ready
        resumed, last_try = await load_job(runtime, job_id), await load_job(runtime, last_try_id)
        return resumed.status == JobStatus.DONE.value and last_try.status == JobStatus.DEAD.value

    await wait_until(settled, "the restarted worker to recover both jobs")

    assert runs == [(job_id, 2, {"work": "resume me"})]
    job = await load_job(runtime, job_id)
    assert job.attempts == 2
    assert job.last_error is None
    assert job.locked_by is None
    assert job.lease_expires_at is None
    assert await audit_targets(runtime) == [f"job:{job_id}:attempt:2"]

    last_try = await load_job(runtime, last_try_id)
    assert last_try.attempts == 1
    assert last_try.last_error == "worker lost: lease expired on the last allowed attempt"
    assert last_try.finished_at is not None
    assert last_try.locked_by is None
    assert [(f.job_id, f.attempt, f.dead) for f in dead_seen] == [(last_try_id, 1, True)]


async def test_sweep_marks_expired_last_attempt_dead(runtime: Runtime) -> None:
    started = asyncio.Event()
    seen: list[tuple[int, int, bool, str]] = []

    async def hang(ctx: JobContext) -> None:
        started.set()
        await asyncio.Event().wait()

    async def on_failure(session: Any, failure: JobFailure) -> None:
        seen.append((failure.job_id, failure.attempt, failure.dead, failure.error))
        await record_audit(
            session, Caller("hook", Door.SYSTEM), action="dead", target=f"job:{failure.job_id}"
        )

    registry = JobRegistry()
    registry.register("test.hang", hang, on_failure=on_failure)
    settings = jobs_settings(lease_seconds=30)
    job_id = await add_job(runtime, "test.hang", max_attempts=1)
    spare_id = await add_job(runtime, "test.hang", run_at=utcnow() + timedelta(days=1))

    holder = make_worker(runtime, registry, settings, worker_id="holder")
    holding = asyncio.create_task(holder.run_once())
    try:
        await asyncio.wait_for(started.wait(), WAIT)

        # Within the lease nothing is swept.
        now = FakeClock(utcnow())
        assert await make_worker(runtime, registry, settings, clock=now).sweep_expired() == 0

        later = FakeClock(utcnow() + timedelta(seconds=31))
        sweeper = make_worker(runtime, registry, settings, worker_id="sweeper", clock=later)
        assert await sweeper.run_once() is False  # no attempt left, so no takeover either
        assert await sweeper.sweep_expired() == 1
        assert await sweeper.sweep_expired() == 0
    finally:
        holding.cancel()
        with pytest.raises(asyncio.CancelledError):
            await holding

    error = "worker lost: lease expired on the last allowed attempt"
    job = await load_job(runtime, job_id)
    assert job.status == JobStatus.DEAD.value
    assert job.attempts == 1
    assert job.last_error == error
    assert job.finished_at == later.now
    assert job.locked_by is None
    assert job.lease_expires_at is None
    assert seen == [(job_id, 1, True, error)]
    assert await audit_targets(runtime) == [f"job:{job_id}"]
    assert (await load_job(runtime, spare_id)).status == JobStatus.QUEUED.value


# --- two workers on PostgreSQL ------------------------------------------------------------------


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database (these tests are about PostgreSQL's row locking)."""
    url = await create_pg_database()
    try:
        yield url
    finally:
        await drop_pg_database(url)


async def test_two_postgresql_workers_never_run_the_same_job(pg_url: str, tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path / "home", pg_url, jobs=jobs_settings(concurrency=4, poll_interval=0.01)
    )
    runtimes = [Runtime.from_settings(settings), Runtime.from_settings(settings)]
    try:
        await runtimes[0].migrate()
        async with transaction(runtimes[0].session_factory) as session:
            job_ids = [await enqueue(session, "test.count", {"i": i}) for i in range(200)]

        runs: list[tuple[str, int]] = []
        for name, active in zip(("a", "b"), runtimes, strict=True):

            async def count(ctx: JobContext, name: str = name) -> None:
                runs.append((name, ctx.job_id))
                await asyncio.sleep(0)  # let the other loops interleave
                await write_side_effect(ctx, actor=name)

            active.registry.register("test.count", count)

        workers = [runtimes[0].worker("worker-a"), runtimes[1].worker("worker-b")]
        stop = asyncio.Event()
        tasks = [asyncio.create_task(worker.run(stop)) for worker in workers]
        try:

            async def all_done() -> bool:
                return await count_jobs(runtimes[0], JobStatus.DONE) == len(job_ids)

            await wait_until(all_done, "both workers to finish 200 jobs")
        finally:
            stop.set()
            await asyncio.gather(*tasks)

        run_counts = Counter(job_id for _, job_id in runs)
        assert sorted(run_counts) == job_ids
        assert set(run_counts.values()) == {1}, "some job ran more than once"
        assert {name for name, _ in runs} == {"a", "b"}, "both workers should have taken jobs"
        jobs = await all_jobs(runtimes[0])
        assert {(job.status, job.attempts) for job in jobs} == {(JobStatus.DONE.value, 1)}
        targets = await audit_targets(runtimes[0])
        assert sorted(targets) == sorted(f"job:{job_id}:attempt:1" for job_id in job_ids)
    finally:
        for active in runtimes:
            await active.dispose()


# --- dedupe keys ------------------------------------------------------------------------------


async def test_dedupe_key_returns_existing_job(runtime: Runtime) -> None:
    async with transaction(runtime.session_factory) as session:
        first = await enqueue(session, "test.noop", {"n": 1}, "key-1")
        again = await enqueue(session, "test.noop", {"n": 2}, "key-1")
    async with transaction(runtime.session_factory) as session:
        later = await enqueue(session, "test.noop", {"n": 3}, "key-1")
        other = await enqueue(session, "test.noop", {"n": 4}, "key-2")

    assert first == again == later
    assert other != first
    jobs = await all_jobs(runtime)
    assert [(job.id, job.dedupe_key, job.payload) for job in jobs] == [
        (first, "key-1", {"n": 1}),
        (other, "key-2", {"n": 4}),
    ]

    # A finished job keeps its key: enqueuing it again neither duplicates nor re-runs it.
    runs: list[int] = []

    async def handler(ctx: JobContext) -> None:
        runs.append(ctx.job_id)

    registry = JobRegistry()
    registry.register("test.noop", handler)
    worker = make_worker(runtime, registry)
    assert await worker.run_until_idle() == 2
    assert await add_job(runtime, "test.noop", {"n": 5}, "key-1") == first
    assert await worker.run_until_idle() == 0
    assert sorted(runs) == sorted([first, other])
    assert await count_jobs(runtime) == 2


async def test_dedupe_key_concurrent_sessions_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home", pg_url)
    first_rt, second_rt = Runtime.from_settings(settings), Runtime.from_settings(settings)
    try:
        await first_rt.migrate()

        async def enqueue_committed(active: Runtime, key: str, payload: dict[str, Any]) -> int:
            async with transaction(active.session_factory) as session:
                return await enqueue(session, "test.noop", payload, key)

        async def jobs_with_key(key: str) -> list[tuple[int, dict[str, Any]]]:
            async with first_rt.session_factory() as session:
                rows = await session.execute(
                    select(Job.id, Job.payload).where(Job.dedupe_key == key)
                )
                return [(row.id, row.payload) for row in rows]

        async def lock_waiters() -> int:
            """Sessions of this database waiting for a lock."""
            async with first_rt.session_factory() as session:
                query = text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
                return int(await session.scalar(query) or 0)

        async def hold_key_then(key: str, *, commit: bool) -> tuple[int, int]:
            """Insert `key` uncommitted, start a second enqueue of it, then end the first."""
            async with first_rt.session_factory() as holder:
                await holder.begin()
                held = await enqueue(holder, "test.noop", {"who": "holder"}, key)
                contender = asyncio.create_task(
                    enqueue_committed(second_rt, key, {"who": "contender"})
                )

                async def contender_blocked() -> bool:
                    assert not contender.done(), "the second insert did not wait for the first"
                    return await lock_waiters() > 0

                await wait_until(contender_blocked, "the second enqueue to wait on the key")
                if commit:
                    await holder.commit()
                else:
                    await holder.rollback()
            return held, await contender

        held, contended = await hold_key_then("shared", commit=True)
        assert contended == held
        assert await jobs_with_key("shared") == [(held, {"who": "holder"})]

        # When the first transaction rolls back, the waiting one gets the key.
        held, contended = await hold_key_then("abandoned", commit=False)
        assert contended != held
        assert await jobs_with_key("abandoned") == [(contended, {"who": "contender"})]

        # Many sessions on two engines at once: one row, one id.
        ids = await asyncio.gather(
            *(
                enqueue_committed(active, "burst", {"i": i})
                for i, active in enumerate([first_rt, second_rt] * 6)
            )
        )
        assert len(set(ids)) == 1
        assert [job_id for job_id, _ in await jobs_with_key("burst")] == [ids[0]]
    finally:
        await first_rt.dispose()
        await second_rt.dispose()


# --- lease lost -------------------------------------------------------------------------------


@pytest.mark.parametrize("handler_fails", [False, True], ids=["handler-succeeds", "handler-fails"])
async def test_lease_lost_discards_handler_writes(runtime: Runtime, handler_fails: bool) -> None:
    started, proceed = asyncio.Event(), asyncio.Event()
    hook_calls: list[JobFailure] = []

    async def handler(ctx: JobContext) -> None:
        started.set()
        await proceed.wait()
        await write_side_effect(ctx, actor="loser")
        if handler_fails:
            raise RuntimeError("late failure")

    async def on_failure(session: Any, failure: JobFailure) -> None:
        hook_calls.append(failure)

    registry = JobRegistry()
    registry.register("test.usurped", handler, on_failure=on_failure)
    job_id = await add_job(runtime, "test.usurped")
    worker = make_worker(runtime, registry, worker_id="loser")

    running = asyncio.create_task(worker.run_once())
    try:
        await asyncio.wait_for(started.wait(), WAIT)
        # Another worker takes the job over while the handler is still running.
        async with transaction(runtime.session_factory) as session:
            await session.execute(
                update(Job).where(Job.id == job_id).values(locked_by="usurper:abc")
            )
        proceed.set()
        assert await asyncio.wait_for(running, WAIT) is True
    finally:
        await stop_task(running)

    job = await load_job(runtime, job_id)
    assert job.status == JobStatus.RUNNING.value
    assert job.locked_by == "usurper:abc"
    assert job.attempts == 1
    assert job.last_error is None
    assert job.finished_at is None
    assert await audit_targets(runtime) == []
    assert hook_calls == []


async def test_expired_lease_taken_over_by_second_worker(runtime: Runtime) -> None:
    first_started, release_first = asyncio.Event(), asyncio.Event()

    async def handler(ctx: JobContext) -> None:
        if ctx.attempt == 1:
            first_started.set()
            await release_first.wait()
        # Written after the wait: on SQLite an open write would hold the database lock.
        await write_side_effect(ctx, actor=f"attempt-{ctx.attempt}")

    registry = JobRegistry()
    registry.register("test.slow", handler)
    settings = jobs_settings(lease_seconds=30)
    job_id = await add_job(runtime, "test.slow")

    slow = make_worker(runtime, registry, settings, worker_id="slow")
    first = asyncio.create_task(slow.run_once())
    later = FakeClock(utcnow() + timedelta(seconds=31))
    fast = make_worker(runtime, registry, settings, worker_id="fast", clock=later)
    try:
        await asyncio.wait_for(first_started.wait(), WAIT)
        # The lease of attempt 1 has expired by `fast`'s clock: it takes the job over.
        assert await fast.run_once() is True
        job = await load_job(runtime, job_id)
        assert (job.status, job.attempts, job.finished_at) == (JobStatus.DONE.value, 2, later.now)
        release_first.set()
        assert await asyncio.wait_for(first, WAIT) is True
    finally:
        await stop_task(first)

    job = await load_job(runtime, job_id)
    assert job.status == JobStatus.DONE.value
    assert job.attempts == 2
    assert job.finished_at == later.now
    assert await audit_targets(runtime) == [f"job:{job_id}:attempt:2"]


async def test_heartbeat_keeps_a_long_job_leased(runtime: Runtime) -> None:
    started, proceed = asyncio.Event(), asyncio.Event()

    async def handler(ctx: JobContext) -> None:
        started.set()
        await proceed.wait()
        await write_side_effect(ctx)

    registry = JobRegistry()
    registry.register("test.long", handler)
    settings = jobs_settings(lease_seconds=0.3)  # a heartbeat every 0.1 s of real time
    job_id = await add_job(runtime, "test.long")
    clock = FakeClock()
    holder = make_worker(runtime, registry, settings, worker_id="holder", clock=clock)
    other = make_worker(runtime, registry, settings, worker_id="other", clock=clock)

    running = asyncio.create_task(holder.run_once())
    try:
        await asyncio.wait_for(started.wait(), WAIT)
        claimed = await load_job(runtime, job_id)
        assert claimed.lease_expires_at == clock.now + timedelta(seconds=0.3)

        # Far past the first lease; the holder's next heartbeat renews it from "now".
        clock.advance(60)
        renewed = clock.now + timedelta(seconds=0.3)

        async def lease_renewed() -> bool:
            return (await load_job(runtime, job_id)).lease_expires_at == renewed

        await wait_until(lease_renewed, "a heartbeat to renew the lease")
        assert await other.run_once() is False
        assert await other.sweep_expired() == 0
        proceed.set()
        assert await asyncio.wait_for(running, WAIT) is True
    finally:
        await stop_task(running)

    job = await load_job(runtime, job_id)
    assert (job.status, job.attempts, job.lease_expires_at) == (JobStatus.DONE.value, 1, None)
    assert await audit_targets(runtime) == [f"job:{job_id}:attempt:1"]


# --- shutdown -----------------------------------------------------------------------------------


async def test_cancelled_worker_requeues_job_without_using_an_attempt(runtime: Runtime) -> None:
    started = asyncio.Event()
    block = {"on": True}
    runs: list[int] = []

    async def handler(ctx: JobContext) -> None:
        runs.append(ctx.attempt)
        await write_side_effect(ctx)
        if block["on"]:
            started.set()
            await asyncio.Event().wait()

    registry = JobRegistry()
    registry.register("test.long", handler)
    job_id = await add_job(runtime, "test.long", max_attempts=1)
    worker = make_worker(runtime, registry, jobs_settings(concurrency=1), worker_id="stopping")

    task = asyncio.create_task(worker.run(asyncio.Event()))
    try:
        await asyncio.wait_for(started.wait(), WAIT)
        job = await load_job(runtime, job_id)
        assert (job.status, job.attempts) == (JobStatus.RUNNING.value, 1)
    finally:
        task.cancel()  # what a shutting-down service does to its worker
        with pytest.raises(asyncio.CancelledError):
            await task

    job = await load_job(runtime, job_id)
    assert job.status == JobStatus.QUEUED.value
    assert job.attempts == 0
    assert job.locked_by is None
    assert job.lease_expires_at is None
    assert job.last_error is None
    assert job.run_at <= utcnow()
    assert await audit_targets(runtime) == []

    # Its only allowed attempt was given back, so the job can still run to completion.
    block["on"] = False
    assert await make_worker(runtime, registry).run_until_idle() == 1
    job = await load_job(runtime, job_id)
    assert (job.status, job.attempts) == (JobStatus.DONE.value, 1)
    assert runs == [1, 1]
    assert await audit_targets(runtime) == [f"job:{job_id}:attempt:1"]


async def test_stop_event_lets_running_job_finish(runtime: Runtime) -> None:
    started, proceed = asyncio.Event(), asyncio.Event()
    done_ids: list[int] = []

    async def handler(ctx: JobContext) -> None:
        if ctx.payload.get("slow"):
            started.set()
            await proceed.wait()
        await write_side_effect(ctx)
        done_ids.append(ctx.job_id)

    registry = JobRegistry()
    registry.register("test.graceful", handler)
    fast_ids = [await add_job(runtime, "test.graceful", {"i": i}) for i in range(3)]
    worker = make_worker(runtime, registry, jobs_settings(concurrency=2), worker_id="graceful")
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:

        async def fast_done() -> bool:
            return await count_jobs(runtime, JobStatus.DONE) == len(fast_ids)

        await wait_until(fast_done, "the worker to run the first jobs")
        slow_id = await add_job(runtime, "test.graceful", {"slow": True})
        await asyncio.wait_for(started.wait(), WAIT)
        stop.set()
        proceed.set()
        await asyncio.wait_for(task, WAIT)
    finally:
        await stop_task(task)

    assert sorted(done_ids) == sorted([*fast_ids, slow_id])
    job = await load_job(runtime, slow_id)
    assert (job.status, job.attempts) == (JobStatus.DONE.value, 1)


# --------------------------------------------------------------------------- priority, limits


async def test_ready_jobs_run_most_urgent_first_then_oldest(runtime: Runtime) -> None:
    ran: list[str] = []
    registry = JobRegistry()

    async def record(ctx: JobContext) -> None:
        ran.append(str(ctx.payload["name"]))

    registry.register("test.order", record)
    async with transaction(runtime.session_factory) as session:
        for name, priority in (("old", 0), ("high", 1), ("newer", 0), ("critical", 2)):
            await enqueue(session, "test.order", {"name": name}, priority=priority)

    await make_worker(runtime, registry).run_until_idle()

    assert ran == ["critical", "high", "old", "newer"]


async def test_a_kind_limit_holds_while_other_kinds_still_run(runtime: Runtime) -> None:
    registry = JobRegistry()
    release = asyncio.Event()
    running = 0
    peak = 0

    async def limited(_ctx: JobContext) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1

    others: list[int] = []

    async def other(ctx: JobContext) -> None:
        others.append(ctx.job_id)

    registry.register("test.limited", limited)
    registry.register("test.other", other)
    async with transaction(runtime.session_factory) as session:
        for _ in range(5):
            await enqueue(session, "test.limited", {}, priority=1)
        await enqueue(session, "test.other", {})
    worker = Worker(
        runtime.session_factory,
        registry,
        jobs_settings(concurrency=4),
        worker_id="limited-worker",
        kind_limits={"test.limited": 2},
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        for _ in range(int(WAIT / 0.01)):  # both slots taken, and the other kind ran beside
            if running == 2 and others:
                break
            await asyncio.sleep(0.01)
        assert (running, len(others)) == (2, 1)
        release.set()
        for _ in range(int(WAIT / 0.01)):
            async with runtime.session_factory() as session:
                left = await session.scalar(
                    select(func.count(Job.id)).where(Job.status != JobStatus.DONE)
                )
            if not left:
                break
            await asyncio.sleep(0.01)
    finally:
        release.set()
        stop.set()
        await task
    assert peak == 2
    assert left == 0


# SQLite runs one claim at a time under its write lock; only PostgreSQL's claims can race.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_limited_kinds_free_slots_go_to_its_most_urgent_jobs(runtime: Runtime) -> None:
    # Many loops claim at once: the one that takes the urgent job must not lose its slot to
    # claims that skipped past it (each round starts every loop together, to meet that race).
    registry = JobRegistry()
    release = asyncio.Event()
    started: list[str] = []

    async def limited(ctx: JobContext) -> None:
        started.append(str(ctx.payload["name"]))
        await release.wait()

    registry.register("test.limited", limited)
    for round_number in range(8):
        release.clear()
        started.clear()
        async with transaction(runtime.session_factory) as session:
            for index in range(10):
                await enqueue(session, "test.limited", {"name": f"medium{index}"})
            await enqueue(session, "test.limited", {"name": "urgent"}, priority=2)
        workers = [
            Worker(
                runtime.session_factory,
                registry,
                jobs_settings(concurrency=4),
                worker_id=f"limited-{round_number}-{index}",
                kind_limits={"test.limited": 2},
            )
            for index in range(3)
        ]
        stop = asyncio.Event()
        tasks = [asyncio.create_task(worker.run(stop)) for worker in workers]

        async def running(count: int) -> bool:
            return len(started) >= count

        try:
            await wait_until(lambda: running(2), "two limited jobs running")
            assert "urgent" in started[:2], f"round {round_number}: {started}"
        finally:
            release.set()
            await wait_until(lambda: running(11), "every limited job ran")
            stop.set()
            await asyncio.gather(*tasks)

"""Notifications: recorded in the caller's transaction, delivered by the job worker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from awoooi.core.config import JobsSettings
from awoooi.core.db import transaction, utcnow
from awoooi.core.jobs import JobContext, JobRegistry, Worker, list_jobs
from awoooi.core.models import Job, JobStatus
from awoooi.notify.base import (
    Button,
    ChannelError,
    DeliveryReceipt,
    Notifier,
    OutgoingMessage,
    Severity,
)
from awoooi.notify.channels.log import LogNotifier
from awoooi.notify.models import Notification, NotificationStatus
from awoooi.notify.repository import list_notifications
from awoooi.notify.service import SEND_JOB, NotificationSender, notify
from awoooi.runtime import Runtime
from awoooi.settings import Settings
from tests.conftest import make_settings

ALWAYS = -1


class RecordingNotifier:
    """A test channel: fails its first `failures` sends (ALWAYS: every send), then delivers."""

    def __init__(self, name: str, *, failures: int = 0, error: str = "channel down") -> None:
        self.name = name
        self.failures = failures
        self.error = error
        self.calls = 0
        self.sent: list[OutgoingMessage] = []

    async def send(self, message: OutgoingMessage) -> DeliveryReceipt:
        self.calls += 1
        if self.failures == ALWAYS or self.calls <= self.failures:
            raise ChannelError(f"{self.error} (call {self.calls})")
        self.sent.append(message)
        return DeliveryReceipt(external_id=f"{self.name}-msg-{len(self.sent)}")


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


BuildRuntime = Callable[..., Awaitable[Runtime]]


@pytest.fixture
async def build_runtime(tmp_path: Path, database_url: str) -> AsyncIterator[BuildRuntime]:
    """Make a migrated runtime with the given channels (closed after the test)."""
    made: list[Runtime] = []

    async def build(notifiers: dict[str, Notifier], *, max_attempts: int = 3) -> Runtime:
        jobs = JobsSettings(
            poll_interval=0.01,
            lease_seconds=30,
            max_attempts=max_attempts,
            backoff_base=2,
            backoff_max=5,
            concurrency=1,
            run_in_serve=False,
        )
        settings = make_settings(tmp_path / f"home-{len(made)}", database_url, jobs=jobs)
        active = Runtime.from_settings(settings, notifiers=notifiers)
        made.append(active)
        await active.migrate()
        return active

    try:
        yield build
    finally:
        for active in made:
            await active.dispose()


def clocked_worker(active: Runtime, clock: FakeClock) -> Worker:
    return Worker(
        active.session_factory, active.registry, active.settings.jobs, worker_id="t", clock=clock
    )


async def send_notification(active: Runtime, channels: list[str], **fields: Any) -> list[int]:
    values: dict[str, Any] = {"kind": "test.event", "title": "Disk full", "text": "node-1: 98%"}
    values.update(fields)
    async with transaction(active.session_factory) as session:
        records = await notify(session, channels=channels, **values)
        return [record.id for record in records]


async def load_notification(active: Runtime, notification_id: int) -> Notification:
    async with active.session_factory() as session:
        record = await session.get(Notification, notification_id)
    assert record is not None
    return record


async def send_job(active: Runtime, notification_id: int) -> Job:
    async with active.session_factory() as session:
        job = await session.scalar(select(Job).where(Job.dedupe_key == f"notify:{notification_id}"))
    assert job is not None, f"no {SEND_JOB} job for notification {notification_id}"
    return job


async def test_notify_records_one_row_per_channel_and_queues_jobs(
    build_runtime: BuildRuntime,
) -> None:
    chat, pager = RecordingNotifier("chat"), RecordingNotifier("pager")
    active = await build_runtime({"chat": chat, "pager": pager})
    buttons = [Button("Open", url="https://awoooi.test/i/1"), Button("Ack", action_id="ack:1")]

    ids = await send_notification(
        active,
        ["chat", "pager", "chat"],
        kind="incident.opened",
        title="Pod crashlooping",
        text="api-7f9 restarted 5 times",
        severity=Severity.HIGH,
        buttons=buttons,
    )

    assert len(ids) == 2
    rows = [await load_notification(active, notification_id) for notification_id in ids]
    assert [row.channel for row in rows] == ["chat", "pager"]
    for row in rows:
        assert row.kind == "incident.opened"
        assert row.severity == "high"
        assert row.title == "Pod crashlooping"
        assert row.text == "api-7f9 restarted 5 times"
        assert row.buttons == [
            {"label": "Open", "url": "https://awoooi.test/i/1", "action_id": None},
            {"label": "Ack", "url": None, "action_id": "ack:1"},
        ]
        assert row.status == NotificationStatus.PENDING.value
        assert row.attempts == 0
        assert row.error is None
        assert row.external_id is None
        assert row.sent_at is None

    async with active.session_factory() as session:
        jobs = await list_jobs(session, kind=SEND_JOB)
    by_payload = {job.payload["notification_id"]: job for job in jobs}
    assert sorted(by_payload) == sorted(ids)
    for notification_id, job in by_payload.items():
        assert job.payload == {"notification_id": notification_id}
        assert job.dedupe_key == f"notify:{notification_id}"
        assert job.status == JobStatus.QUEUED.value
    # Recording is not sending: no channel is called before a worker runs.
    assert (chat.calls, pager.calls) == (0, 0)


async def test_notify_rolls_back_with_callers_transaction(build_runtime: BuildRuntime) -> None:
    chat = RecordingNotifier("chat")
    active = await build_runtime({"chat": chat})

    async def failing_caller() -> None:
        async with transaction(active.session_factory) as session:
            await notify(session, kind="k", title="t", text="x", channels=["chat"])
            raise RuntimeError("caller failed")

    with pytest.raises(RuntimeError, match="caller failed"):
        await failing_caller()

    async with active.session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(Notification)) == 0
        assert await session.scalar(select(func.count()).select_from(Job)) == 0
    assert await active.worker().run_until_idle() == 0
    assert chat.calls == 0


async def test_worker_delivers_through_channel(build_runtime: BuildRuntime) -> None:
    chat = RecordingNotifier("chat")
    active = await build_runtime({"chat": chat})
    before = utcnow()
    [notification_id] = await send_notification(
        active,
        ["chat"],
        kind="incident.resolved",
        title="Resolved",
        text="all good",
        severity=Severity.LOW,
        buttons=[Button("Details", url="https://awoooi.test/i/2")],
    )

    assert await active.worker("w").run_until_idle() == 1

    assert chat.sent == [
        OutgoingMessage(
            notification_id=notification_id,
            kind="incident.resolved",
            severity=Severity.LOW,
            title="Resolved",
            text="all good",
            buttons=(Button("Details", url="https://awoooi.test/i/2"),),
        )
    ]
    row = await load_notification(active, notification_id)
    assert row.status == NotificationStatus.SENT.value
    assert row.external_id == "chat-msg-1"
    assert row.attempts == 1
    assert row.error is None
    assert row.sent_at is not None
    assert row.sent_at >= before
    job = await send_job(active, notification_id)
    assert (job.status, job.attempts) == (JobStatus.DONE.value, 1)

    async with active.session_factory() as session:
        assert [n.id for n in await list_notifications(session)] == [notification_id]


async def test_failing_channel_is_retried_until_sent(build_runtime: BuildRuntime) -> None:
    chat = RecordingNotifier(
        "chat", failures=1, error="HTTP 502 from https://bot:s3cr3t-pw@chat.example/api"
    )
    active = await build_runtime({"chat": chat})
    # The caller only records; the channel is not touched, so nothing can raise at the caller.
    [notification_id] = await send_notification(active, ["chat"])
    assert chat.calls == 0
    clock = FakeClock()
    worker = clocked_worker(active, clock)

    assert await worker.run_once() is True
    expected_error = (
        "ChannelError: HTTP 502 from https://bot:[REDACTED:password]@chat.example/api (call 1)"
    )
    row = await load_notification(active, notification_id)
    assert row.status == NotificationStatus.FAILED.value
    assert row.attempts == 1
    assert row.error == expected_error
    assert row.external_id is None
    assert row.sent_at is None
    job = await send_job(active, notification_id)
    assert (job.status, job.attempts, job.last_error) == (
        JobStatus.QUEUED.value,
        1,
        expected_error,
    )
    assert job.run_at == clock.now + timedelta(seconds=2)

    assert await worker.run_once() is False  # waiting for its backoff
    clock.advance(2)
    assert await worker.run_once() is True

    row = await load_notification(active, notification_id)
    assert row.status == NotificationStatus.SENT.value
    assert row.attempts == 2
    assert row.error is None
    assert row.external_id == "chat-msg-1"
    assert row.sent_at is not None
    job = await send_job(active, notification_id)
    assert (job.status, job.attempts, job.last_error) == (JobStatus.DONE.value, 2, None)
    assert chat.calls == 2
    assert len(chat.sent) == 1


async def test_channel_that_always_fails_ends_dead_and_failed(
    build_runtime: BuildRuntime,
) -> None:
    broken = RecordingNotifier("broken", failures=ALWAYS, error="connection refused")
    healthy = RecordingNotifier("healthy")
    active = await build_runtime({"broken": broken, "healthy": healthy}, max_attempts=2)
    broken_id, healthy_id = await send_notification(active, ["broken", "healthy"])
    clock = FakeClock()
    worker = clocked_worker(active, clock)

    assert await worker.run_until_idle() == 2
    clock.advance(5)
    assert await worker.run_until_idle() == 1
    clock.advance(3600)
    assert await worker.run_until_idle() == 0

    row = await load_notification(active, broken_id)
    assert row.status == NotificationStatus.FAILED.value
    assert row.attempts == 2
    assert row.error == "ChannelError: connection refused (call 2)"
    assert row.external_id is None
    job = await send_job(active, broken_id)
    assert job.status == JobStatus.DEAD.value
    assert job.attempts == 2
    assert job.last_error == "ChannelError: connection refused (call 2)"
    assert job.finished_at is not None
    assert broken.calls == 2

    # One channel failing does not hold back another.
    assert (await load_notification(active, healthy_id)).status == NotificationStatus.SENT.value
    assert len(healthy.sent) == 1


async def test_unconfigured_channel_fails_with_its_name(build_runtime: BuildRuntime) -> None:
    active = await build_runtime({"chat": RecordingNotifier("chat")}, max_attempts=1)
    [notification_id] = await send_notification(active, ["pager"])

    assert await active.worker().run_until_idle() == 1

    row = await load_notification(active, notification_id)
    assert row.status == NotificationStatus.FAILED.value
    assert row.attempts == 1
    assert row.error == "LookupError: channel 'pager' is not configured"
    assert (await send_job(active, notification_id)).status == JobStatus.DEAD.value


async def test_second_run_after_sent_does_not_send_again(build_runtime: BuildRuntime) -> None:
    chat = RecordingNotifier("chat")
    active = await build_runtime({"chat": chat})
    [notification_id] = await send_notification(active, ["chat"])
    assert await active.worker().run_until_idle() == 1
    sent = await load_notification(active, notification_id)
    assert sent.status == NotificationStatus.SENT.value

    # The same job delivered again (at-least-once: e.g. a worker lost its lease after sending).
    job = await send_job(active, notification_id)
    async with transaction(active.session_factory) as session:
        await session.execute(
            update(Job)
            .where(Job.id == job.id)
            .values(status=JobStatus.QUEUED.value, run_at=utcnow(), finished_at=None)
        )
    assert await active.worker().run_until_idle() == 1

    assert len(chat.sent) == 1
    assert chat.calls == 1
    again = await load_notification(active, notification_id)
    assert (again.status, again.attempts, again.external_id, again.sent_at) == (
        NotificationStatus.SENT.value,
        1,
        "chat-msg-1",
        sent.sent_at,
    )
    job = await send_job(active, notification_id)
    assert (job.status, job.attempts) == (JobStatus.DONE.value, 2)

    # Calling the handler directly is just as harmless.
    sender = NotificationSender({"chat": chat})
    async with transaction(active.session_factory) as session:
        payload = {"notification_id": notification_id}
        await sender.send(JobContext(session, job.id, SEND_JOB, payload, attempt=3))
    assert chat.calls == 1
    assert (await load_notification(active, notification_id)).attempts == 1


async def test_sender_registers_on_a_registry(build_runtime: BuildRuntime) -> None:
    chat = RecordingNotifier("chat")
    active = await build_runtime({})  # the runtime's own sender knows no channel
    registry = JobRegistry()
    NotificationSender({"chat": chat}).register(registry)
    assert registry.kinds == [SEND_JOB]
    [notification_id] = await send_notification(active, ["chat"])

    worker = Worker(active.session_factory, registry, active.settings.jobs, worker_id="own")
    assert await worker.run_until_idle() == 1

    row = await load_notification(active, notification_id)
    assert (row.status, row.external_id) == (NotificationStatus.SENT.value, "chat-msg-1")


async def test_secrets_in_title_and_text_are_redacted(build_runtime: BuildRuntime) -> None:
    chat = RecordingNotifier("chat")
    active = await build_runtime({"chat": chat})
    token = "awi_" + "Zq3" * 10
    [notification_id] = await send_notification(
        active,
        ["chat"],
        title=f"token {token} leaked",
        text=f"dsn postgresql://user:pass@host/db, header Bearer abcdef123456789 and {token}",
    )

    row = await load_notification(active, notification_id)
    assert row.title == "token [REDACTED:awoooi_token] leaked"
    assert row.text == (
        "dsn postgresql://user:[REDACTED:password]@host/db,"
        " header Bearer [REDACTED:bearer] and [REDACTED:awoooi_token]"
    )
    assert await active.worker().run_until_idle() == 1
    [message] = chat.sent
    assert (message.title, message.text) == (row.title, row.text)
    assert token not in message.text
    assert "pass@" not in message.text


async def test_long_title_and_text_are_truncated(build_runtime: BuildRuntime) -> None:
    active = await build_runtime({"chat": RecordingNotifier("chat")})
    # Spaced words keep this about truncation; long unbroken runs are redaction's own tests.
    title = "title " * 100
    text = "line of log output\n" * 4000
    [notification_id] = await send_notification(active, ["chat"], title=title, text=text)
    row = await load_notification(active, notification_id)
    assert len(text) > 64 * 1024
    assert row.title == title[:256]
    assert row.text == text[: 64 * 1024]


async def test_log_notifier_returns_external_id() -> None:
    notifier = LogNotifier()
    assert isinstance(notifier, Notifier)
    assert notifier.name == "log"
    message = OutgoingMessage(
        notification_id=42,
        kind="test.event",
        severity=Severity.CRITICAL,
        title="t",
        text="x",
        buttons=(Button("Open", url="https://awoooi.test"),),
    )
    receipt = await notifier.send(message)
    assert receipt.external_id == "log-42"


async def test_default_log_channel_end_to_end(settings: Settings, runtime: Runtime) -> None:
    assert settings.notify.channels is None  # unset: every configured channel, here `log`
    assert settings.notify.default_channels() == ["log"]
    [notification_id] = await send_notification(runtime, ["log"])
    assert await runtime.worker().run_until_idle() == 1
    row = await load_notification(runtime, notification_id)
    assert row.status == NotificationStatus.SENT.value
    assert row.external_id == f"log-{notification_id}"
    assert row.attempts == 1

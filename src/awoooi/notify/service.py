"""Queue notifications as durable jobs and deliver them through the configured channels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict

from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.core.db import utcnow
from awoooi.core.jobs import JobContext, JobFailure, JobRegistry, enqueue
from awoooi.core.logging import redact_text
from awoooi.core.metrics import NOTIFICATIONS
from awoooi.notify import repository
from awoooi.notify.base import Button, Notifier, OutgoingMessage, Severity
from awoooi.notify.models import Notification, NotificationStatus
from awoooi.notify.press import create_action, parse_action
from awoooi.notify.routing import ChannelChoice, NotifyPolicy, Scope

SEND_JOB = "notify.send"
MAX_TITLE_CHARS = 256
MAX_TEXT_CHARS = 64 * 1024


async def notify(
    session: AsyncSession,
    *,
    kind: str,
    title: str,
    text: str,
    channels: ChannelChoice,
    severity: Severity = Severity.INFO,
    buttons: Sequence[Button] = (),
    scope: Scope | None = None,
) -> list[Notification]:
    """Record one notification per channel and queue its delivery in the caller's transaction.

    `channels` is a list of channel names, or the NotifyPolicy that routes by kind, severity and
    `scope` (the incident's namespace and services) and turns action buttons into server-side
    action records (the button keeps only their id).
    """
    policy: NotifyPolicy | None = None
    if isinstance(channels, NotifyPolicy):
        policy = channels
        names = policy.select(kind, severity, scope)
    else:
        names = list(channels)
    records = []
    for channel in dict.fromkeys(names):  # keep order, drop repeats
        record = Notification(
            channel=channel,
            kind=kind,
            severity=severity.value,
            # Secrets must not leave the process through a notification, whoever wrote the text.
            title=redact_text(title)[:MAX_TITLE_CHARS],
            text=redact_text(text)[:MAX_TEXT_CHARS],
            buttons=[],
            status=NotificationStatus.PENDING,
            created_at=utcnow(),
        )
        session.add(record)
        await session.flush()
        record.buttons = [
            await _stored_button(session, button, record, policy) for button in buttons
        ]
        await enqueue(session, SEND_JOB, {"notification_id": record.id}, f"notify:{record.id}")
        records.append(record)
    return records


async def _stored_button(
    session: AsyncSession, button: Button, record: Notification, policy: NotifyPolicy | None
) -> dict[str, str | None]:
    if button.action_id is None or policy is None:
        return asdict(button)
    action = await create_action(
        session, action_id=button.action_id, notification_id=record.id, policy=policy
    )
    name, target = parse_action(button.action_id)
    return {
        "label": button.label,
        "url": button.url or policy.link_for(name, target),
        "action_id": action.id,
    }


def _message(record: Notification) -> OutgoingMessage:
    return OutgoingMessage(
        notification_id=record.id,
        kind=record.kind,
        severity=record.severity,
        title=record.title,
        text=record.text,
        buttons=tuple(Button(**button) for button in record.buttons),
    )


class NotificationSender:
    """The `notify.send` job: delivers one notification through its channel."""

    def __init__(self, notifiers: Mapping[str, Notifier]) -> None:
        self._notifiers = dict(notifiers)

    def register(self, registry: JobRegistry) -> None:
        """Register the send job and its failure bookkeeping."""
        registry.register(SEND_JOB, self.send, on_failure=self.record_failure)

    async def send(self, ctx: JobContext) -> None:
        """Send the notification unless it was already sent (retries are harmless)."""
        record = await repository.get_notification(ctx.session, int(ctx.payload["notification_id"]))
        if record is None or record.status == NotificationStatus.SENT:
            return
        notifier = self._notifiers.get(record.channel)
        if notifier is None:
            raise LookupError(f"channel {record.channel!r} is not configured")
        receipt = await notifier.send(_message(record))
        record.status = NotificationStatus.SENT
        record.attempts = ctx.attempt
        record.external_id = receipt.external_id
        record.error = None
        record.sent_at = utcnow()
        NOTIFICATIONS.labels(channel=record.channel, outcome="sent").inc()

    async def record_failure(self, session: AsyncSession, failure: JobFailure) -> None:
        """Keep the channel's error on the notification; it stays failed once the job is dead."""
        record = await repository.get_notification(session, int(failure.payload["notification_id"]))
        if record is None or record.status == NotificationStatus.SENT:
            return
        record.status = NotificationStatus.FAILED
        record.attempts = failure.attempt
        record.error = failure.error
        NOTIFICATIONS.labels(channel=record.channel, outcome="failed").inc()

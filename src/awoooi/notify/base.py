"""The Notifier Protocol every channel implements, and the message it is handed."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable


class Severity(StrEnum):
    """How urgent a notification is; channels route on it."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


@dataclass(frozen=True)
class Button:
    """A card button: a link (`url`), a server-side action (`action_id`), or both — channels
    that can press buttons (Telegram) use the action, the others show the link."""

    label: str
    url: str | None = None
    action_id: str | None = None

    def __post_init__(self) -> None:
        if self.url is None and self.action_id is None:
            raise ValueError("a button needs a url or an action_id")


@dataclass(frozen=True)
class OutgoingMessage:
    """What a channel sends: plain text plus optional buttons (a card when it has any)."""

    notification_id: int
    kind: str
    severity: Severity
    title: str
    text: str
    buttons: tuple[Button, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class DeliveryReceipt:
    """What a channel reports back; `external_id` lets a later edit find the message."""

    external_id: str | None = None


class ChannelError(Exception):
    """A channel could not deliver; the send is retried by its job."""


@runtime_checkable
class Notifier(Protocol):
    """A notification channel (log, Telegram, Slack, webhook ...)."""

    name: str

    async def send(self, message: OutgoingMessage) -> DeliveryReceipt:
        """Deliver the message or raise ChannelError (any exception counts as a failure)."""
        ...

"""The `webhook` channel: a JSON POST signed with HMAC-SHA256, for any other receiver.

Each notification is one ``POST`` to ``notify.webhook.url`` with these headers::

    Content-Type: application/json
    User-Agent: awoooi
    X-Awoooi-Timestamp: 1767225600                   (unix seconds, when it was signed)
    X-Awoooi-Signature: sha256=<64 lowercase hex digits>

and a compact JSON body::

    {"id":42,"kind":"repair.approval","severity":"high","title":"...","text":"...",
     "buttons":[{"label":"Open","url":"https://...","action_id":null}],
     "sent_at":"2026-01-01T00:00:00Z"}

To verify a delivery, on the raw body bytes exactly as received (before any JSON parsing):

1. Read ``X-Awoooi-Timestamp``; refuse it if it is more than 5 minutes from your clock.
2. Compute ``HMAC-SHA256(key=secret, message=timestamp + "." + body)``, as bytes: the timestamp
   header's ASCII digits, one ``.``, then the body bytes.
3. Compare ``"sha256=" + hexdigest`` with ``X-Awoooi-Signature`` in constant time.

In Python::

    import hashlib, hmac, time

    def verify(secret: str, timestamp: str, body: bytes, header: str) -> bool:
        if abs(time.time() - int(timestamp)) > 300:
            return False
        mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
        expected = "sha256=" + mac.hexdigest()
        return hmac.compare_digest(expected.encode(), header.encode())

Delivery is at least once: a retried send carries the same ``id`` (a new timestamp and
signature), so a receiver drops an ``id`` it has already seen.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from awoooi.core.errors import ConfigError
from awoooi.core.redact import redact
from awoooi.notify.base import DeliveryReceipt, OutgoingMessage
from awoooi.notify.channels.http import ChannelHTTP
from awoooi.notify.settings import WebhookSettings

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookNotifier",
    "signature",
    "verify",
    "webhook_body",
]

SIGNATURE_HEADER = "X-Awoooi-Signature"
TIMESTAMP_HEADER = "X-Awoooi-Timestamp"
DEFAULT_TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Awoooi-Signature` value: `sha256=` and the HMAC of `timestamp.` + body."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    header: str,
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """Whether the signature header matches and the timestamp is within the tolerance."""
    if not timestamp.isascii() or not timestamp.isdigit():
        return False
    current = time.time() if now is None else now
    # Both directions: a replayed old delivery and a forged "future" one are refused alike.
    if abs(current - int(timestamp)) > tolerance_seconds:
        return False
    expected = signature(secret, timestamp, body).encode()
    # Bytes, not str: compare_digest refuses non-ASCII str, and a header may hold anything.
    return hmac.compare_digest(expected, header.strip().encode("utf-8", "replace"))


def webhook_body(message: OutgoingMessage, sent_at: datetime) -> bytes:
    """The compact JSON body for a message (redacted), as signed and sent."""
    document: dict[str, Any] = {
        "id": message.notification_id,
        "kind": message.kind,
        "severity": message.severity.value,
        "title": redact(message.title),
        "text": redact(message.text),
        "buttons": [
            {"label": redact(button.label), "url": button.url, "action_id": button.action_id}
            for button in message.buttons
        ],
        "sent_at": sent_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return json.dumps(document, separators=(",", ":")).encode()


class WebhookNotifier:
    """POSTs each notification as signed JSON to the configured URL."""

    name = "webhook"

    def __init__(
        self, settings: WebhookSettings, *, clock: Callable[[], float] = time.time
    ) -> None:
        if not settings.url or settings.secret is None:
            raise ConfigError("notify.webhook.url and notify.webhook.secret must be set")
        self._url = settings.url
        self._secret = settings.secret.get_secret_value()
        self._clock = clock
        # The URL may carry credentials (basic auth, a token in the query).
        self._http = ChannelHTTP(
            timeout=settings.timeout_seconds, secret=self._url, secret_shown_as="<webhook url>"
        )

    def __repr__(self) -> str:
        return "WebhookNotifier()"  # the URL may carry credentials

    async def send(self, message: OutgoingMessage) -> DeliveryReceipt:
        """Sign and POST the message; any answer but 2xx raises ChannelError (the job retries)."""
        now = self._clock()
        timestamp = str(int(now))
        body = webhook_body(message, datetime.fromtimestamp(int(now), UTC))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "awoooi",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(self._secret, timestamp, body),
        }
        # `content=`, not `json=`: the bytes sent must be the bytes signed.
        response = await self._http.post(
            self._url, content=body, headers=headers, failure="webhook request failed"
        )
        self._http.require_success(response, name="webhook")
        return DeliveryReceipt(external_id=None)

    async def aclose(self) -> None:
        """Close the connection pool (a later send opens a new one)."""
        await self._http.aclose()

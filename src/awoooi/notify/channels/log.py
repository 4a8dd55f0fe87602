"""The `log` channel: notifications become structured log lines (the default)."""

from __future__ import annotations

from awoooi.core.logging import get_logger
from awoooi.notify.base import DeliveryReceipt, OutgoingMessage

log = get_logger("awoooi.notify")


class LogNotifier:
    """Writes each notification to the service log."""

    name = "log"

    async def send(self, message: OutgoingMessage) -> DeliveryReceipt:
        """Log the message with its buttons' labels."""
        log.info(
            "notification",
            notification_id=message.notification_id,
            kind=message.kind,
            severity=message.severity.value,
            title=message.title,
            text=message.text,
            buttons=[button.label for button in message.buttons],
        )
        return DeliveryReceipt(external_id=f"log-{message.notification_id}")

"""The `slack` channel: Block Kit messages through an incoming webhook (buttons are links)."""

from __future__ import annotations

from typing import Any

from awoooi.core.errors import ConfigError
from awoooi.core.redact import placeholder, redact
from awoooi.notify.base import DeliveryReceipt, OutgoingMessage
from awoooi.notify.channels.http import ChannelHTTP
from awoooi.notify.settings import SlackSettings

__all__ = ["SlackNotifier", "escape", "slack_payload", "split_text"]

HEADER_MAX_CHARS = 150
SECTION_MAX_CHARS = 3000
MAX_SECTIONS = 10
BUTTON_LABEL_MAX_CHARS = 75
MAX_BUTTONS = 25
CUT_MARKER = "\n… (cut; the full text is in awoooi)"
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def escape(text: str) -> str:
    """The text safe for Slack mrkdwn: `&`, `<` and `>` as entities (no links, no @channel)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _take(text: str, budget: int) -> str:
    """The longest prefix whose escaped form fits `budget`, ending on a nearby line break."""
    used = 0
    for index, char in enumerate(text):
        used += len(_ESCAPES.get(char, char))
        if used > budget:
            kept = text[:index]
            # A section that ends on a whole line reads better; only back up a little for it.
            line_end = kept.rfind("\n")
            return kept[: line_end + 1] if line_end >= len(kept) * 0.8 else kept
    return text


def split_text(text: str, *, size: int = SECTION_MAX_CHARS, most: int = MAX_SECTIONS) -> list[str]:
    """The text escaped into at most `most` pieces of <= `size` characters; the last may be cut.

    The plain text is split before escaping, so an entity (`&amp;`) never straddles two pieces.
    """
    pieces: list[str] = []
    rest = text.rstrip()  # trailing blank lines would make an empty, refused last section
    while rest:
        piece = _take(rest, size)
        if not piece:  # only when `size` cannot hold one escaped character
            raise ValueError(f"a Slack section of {size} characters cannot hold the text")
        rest = rest[len(piece) :]
        if rest and len(pieces) == most - 1:
            kept = _take(piece, size - len(CUT_MARKER)).rstrip()
            pieces.append(escape(kept) + CUT_MARKER)
            break
        pieces.append(escape(piece))
    return pieces


def _cut_plain(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_payload(message: OutgoingMessage) -> dict[str, Any]:
    """The Block Kit body for a message: header, text sections, context, link buttons."""
    title = redact(message.title).strip() or message.kind
    text = redact(message.text)
    blocks: list[dict[str, Any]] = [
        # plain_text is shown as written (Slack parses no markup in it), so it is not escaped.
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cut_plain(title, HEADER_MAX_CHARS)},
        }
    ]
    if text.strip():
        blocks += [
            {"type": "section", "text": {"type": "mrkdwn", "text": piece}}
            for piece in split_text(text)
        ]
    blocks.append(
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"*Severity:* {escape(message.severity.value)}"},
                {"type": "mrkdwn", "text": f"*Kind:* {escape(message.kind)}"},
            ],
        }
    )
    # Slack cannot call our API for an action, so only buttons with a link are shown.
    links = [button for button in message.buttons if button.url][:MAX_BUTTONS]
    if links:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {
                            "type": "plain_text",
                            "text": _cut_plain(redact(button.label), BUTTON_LABEL_MAX_CHARS),
                        },
                        "url": button.url,
                    }
                    for button in links
                ],
            }
        )
    # `text` is what notifications and screen readers show; it is mrkdwn, hence escaped.
    return {"text": escape(title), "blocks": blocks}


class SlackNotifier:
    """POSTs each notification to a Slack incoming webhook."""

    name = "slack"

    def __init__(self, settings: SlackSettings) -> None:
        if settings.webhook_url is None or not settings.webhook_url.get_secret_value():
            raise ConfigError("notify.slack.webhook_url is not set")
        self._url = settings.webhook_url.get_secret_value()
        self._http = ChannelHTTP(
            timeout=settings.timeout_seconds,
            secret=self._url,
            secret_shown_as=placeholder("slack_webhook"),
        )

    def __repr__(self) -> str:
        return "SlackNotifier()"  # the webhook URL is the credential

    async def send(self, message: OutgoingMessage) -> DeliveryReceipt:
        """POST the Block Kit payload; any answer but 2xx raises ChannelError (the job retries)."""
        payload = slack_payload(message)
        response = await self._http.post(
            self._url, json=payload, failure="Slack webhook request failed"
        )
        self._http.require_success(response, name="Slack webhook")
        # An incoming webhook answers a bare "ok": there is no message id to keep.
        return DeliveryReceipt(external_id=None)

    async def aclose(self) -> None:
        """Close the connection pool (a later send opens a new one)."""
        await self._http.aclose()

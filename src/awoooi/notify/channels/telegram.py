"""The `telegram` channel: review cards with buttons through the Telegram Bot API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx

from awoooi.core.errors import ConfigError
from awoooi.core.logging import get_logger
from awoooi.core.redact import placeholder, redact
from awoooi.notify.base import Button, ChannelError, DeliveryReceipt, OutgoingMessage
from awoooi.notify.channels.http import ChannelHTTP
from awoooi.notify.channels.telegram_html import render_card
from awoooi.notify.settings import TelegramSettings

__all__ = [
    "CALLBACK_DATA_MAX_BYTES",
    "TelegramBot",
    "TelegramNotifier",
    "inline_button",
    "telegram_buttons",
]

log = get_logger("awoooi.notify")

CALLBACK_DATA_MAX_BYTES = 64
CALLBACK_ANSWER_MAX_CHARS = 200
CAPTION_LIMIT = 1024
MAX_RETRY_AFTER = 60.0
RATE_LIMIT_RETRIES = 3
# Telegram answers 400 to an edit that changes nothing; for us that edit already happened (a
# retried job, a second press), so it is a success.
_NOT_MODIFIED = "message is not modified"

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


def inline_button(button: Button) -> dict[str, str]:
    """The inline keyboard button: a callback when the button has an action, else a link."""
    if button.action_id is not None:
        size = len(button.action_id.encode())
        if not 1 <= size <= CALLBACK_DATA_MAX_BYTES:
            raise ValueError(
                f"button {button.label!r}: callback data must be 1-{CALLBACK_DATA_MAX_BYTES} "
                f"bytes, got {size}"
            )
        return {"text": button.label, "callback_data": button.action_id}
    if button.url is None:  # Button refuses this; a hand-built one must not become `null`
        raise ValueError(f"button {button.label!r} has neither a url nor an action_id")
    return {"text": button.label, "url": button.url}


def telegram_buttons(buttons: Sequence[Button], text: str) -> tuple[list[Button], list[str]]:
    """The buttons Telegram takes, and text lines for the links it would refuse: a link button
    must be https (a `public_url` of http://127.0.0.1:8080 would fail the whole message). A
    link the text already shows is not repeated."""
    kept: list[Button] = []
    lines: list[str] = []
    for button in buttons:
        if button.action_id is not None or (button.url or "").startswith("https://"):
            kept.append(button)
        elif button.url and button.url not in text:
            lines.append(f"{button.label}: {button.url}")
            text = f"{text}\n{button.url}"
    return kept, lines


class TelegramBot:
    """A small Bot API client: JSON and multipart calls, 429 back-off and per-chat pacing."""

    def __init__(
        self,
        settings: TelegramSettings,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if settings.bot_token is None or not settings.bot_token.get_secret_value():
            raise ConfigError("notify.telegram.bot_token is not set")
        self._token = settings.bot_token.get_secret_value()
        self._api_url = settings.api_url.rstrip("/")
        # The token is in every URL; the literal is hidden even when it has no token's shape.
        self._http = ChannelHTTP(
            timeout=settings.timeout_seconds,
            secret=self._token,
            secret_shown_as=placeholder("telegram_bot_token"),
        )
        self._pace = settings.pace_seconds
        # Injectable so tests can check pacing and back-off without waiting for them.
        self._clock = clock
        self._sleep = sleep
        self._chat_locks: dict[str, asyncio.Lock] = {}
        self._last_send: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"TelegramBot(api_url={self._api_url!r})"  # never the token

    # -- Bot API methods ------------------------------------------------------------------------

    async def send_message(self, chat_id: str, html: str, *, buttons: Sequence[Button] = ()) -> int:
        """Send an HTML message, with one row of inline buttons; returns its message_id."""
        payload: dict[str, Any] = {
            "chat_id": chat_id,
            "text": html,
            "parse_mode": "HTML",
            "disable_web_page_preview": True,
        }
        if buttons:
            # Checked before the call: a bad button must not cost a message without buttons.
            payload["reply_markup"] = {"inline_keyboard": [[inline_button(b) for b in buttons]]}
        async with self._paced(chat_id):
            result = await self._call("sendMessage", json=payload)
        return _message_id(result, "sendMessage")

    async def send_document(
        self, chat_id: str, filename: str, content: bytes, *, caption_html: str = ""
    ) -> int:
        """Upload a file (multipart/form-data) with an optional HTML caption; returns message_id."""
        data = {"chat_id": chat_id}
        if caption_html:
            data |= {"caption": caption_html, "parse_mode": "HTML"}
        files = {"document": (filename, content, _content_type(filename))}
        async with self._paced(chat_id):
            result = await self._call("sendDocument", data=data, files=files)
        return _message_id(result, "sendDocument")

    async def answer_callback_query(
        self, callback_query_id: str, text: str, *, show_alert: bool = False
    ) -> None:
        """Answer a button press (the toast the presser sees; Telegram allows 200 characters)."""
        payload = {
            "callback_query_id": callback_query_id,
            "text": text[:CALLBACK_ANSWER_MAX_CHARS],
            "show_alert": show_alert,
        }
        await self._call("answerCallbackQuery", json=payload)

    async def edit_message_text(self, chat_id: str, message_id: int, html: str) -> None:
        """Replace a message's text and remove its buttons (a decided card cannot be pressed)."""
        payload = {
            "chat_id": chat_id,
            "message_id": message_id,
            "text": html,
            "parse_mode": "HTML",
            "disable_web_page_preview": True,
            "reply_markup": {"inline_keyboard": []},
        }
        async with self._paced(chat_id):
            try:
                await self._call("editMessageText", json=payload)
            except _NotModified:
                return

    async def set_webhook(
        self,
        url: str,
        secret_token: str,
        *,
        allowed_updates: Sequence[str] = ("callback_query",),
    ) -> None:
        """Point Telegram's updates at our webhook, signed with `secret_token`."""
        payload = {
            "url": url,
            "secret_token": secret_token,
            "allowed_updates": list(allowed_updates),
        }
        await self._call("setWebhook", json=payload)

    async def get_me(self) -> dict[str, Any]:
        """The bot's own user (proves the token works)."""
        result = await self._call("getMe", json={})
        if not isinstance(result, dict):
            raise ChannelError("Telegram getMe returned no user")
        return result

    async def aclose(self) -> None:
        """Close the connection pool (a later call opens a new one)."""
        await self._http.aclose()

    # -- machinery --------------------------------------------------------------------------

    @asynccontextmanager
    async def _paced(self, chat_id: str) -> AsyncIterator[None]:
        # Telegram allows about one message per second in a chat and answers bursts with 429s;
        # spacing sends here is cheaper than backing off. The lock also keeps a chat's messages
        # in the order they were sent.
        lock = self._chat_locks.setdefault(chat_id, asyncio.Lock())
        async with lock:
            last = self._last_send.get(chat_id)
            if last is not None:
                wait = last + self._pace - self._clock()
                if wait > 0:
                    await self._sleep(wait)
            try:
                yield
            finally:
                self._last_send[chat_id] = self._clock()

    async def _call(
        self,
        method: str,
        *,
        json: Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> Any:
        """POST one Bot API method; the `result`, after up to RATE_LIMIT_RETRIES 429 waits."""
        url = f"{self._api_url}/bot{self._token}/{method}"
        for attempt in range(RATE_LIMIT_RETRIES + 1):
            response = await self._http.post(
                url, json=json, data=data, files=files, failure=f"Telegram {method}: request failed"
            )
            body = _json_body(response)
            if body is None:
                raise ChannelError(
                    f"Telegram {method}: HTTP {response.status_code} with a body that is not "
                    "a Bot API answer"
                )
            if body.get("ok") is True:
                return body.get("result")
            code = body.get("error_code", response.status_code)
            description = self._http.redact(str(body.get("description") or f"HTTP {code}"))
            if code == 429 or response.status_code == 429:
                retry_after = _retry_after(body)
                if attempt < RATE_LIMIT_RETRIES:
                    log.warning("telegram_rate_limited", method=method, retry_after=retry_after)
                    await self._sleep(retry_after)
                    continue
                raise ChannelError(
                    f"Telegram {method}: still rate limited after {RATE_LIMIT_RETRIES} retries "
                    f"({description})"
                )
            if method == "editMessageText" and _NOT_MODIFIED in description:
                raise _NotModified
            raise ChannelError(f"Telegram {method} failed ({code}): {description}")
        raise AssertionError("unreachable")  # the loop returns or raises


class _NotModified(Exception):
    """An edit that changed nothing (Telegram's 400 `message is not modified`)."""


def _json_body(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) and "ok" in body else None


def _retry_after(body: Mapping[str, Any]) -> float:
    parameters = body.get("parameters")
    value = parameters.get("retry_after") if isinstance(parameters, dict) else None
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        return 1.0  # a 429 without a usable hint: a short pause rather than none
    # Capped: a job retries later anyway, and a worker must not sleep for an hour.
    return min(float(value), MAX_RETRY_AFTER)


def _message_id(result: Any, method: str) -> int:
    message_id = result.get("message_id") if isinstance(result, dict) else None
    if not isinstance(message_id, int) or isinstance(message_id, bool):
        raise ChannelError(f"Telegram {method} returned no message_id")
    return message_id


def _content_type(filename: str) -> str:
    if filename.endswith(".md"):
        return "text/markdown; charset=utf-8"
    if filename.endswith(".txt"):
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


class TelegramNotifier:
    """Sends each notification as an HTML card; a cut card is followed by the full text."""

    name = "telegram"

    def __init__(self, settings: TelegramSettings, bot: TelegramBot | None = None) -> None:
        if not settings.chat_id:
            raise ConfigError("notify.telegram.chat_id is not set")
        self._chat_id = settings.chat_id
        self._bot = bot if bot is not None else TelegramBot(settings)

    @property
    def bot(self) -> TelegramBot:
        """The Bot API client (the callback handler answers presses through it)."""
        return self._bot

    async def send(self, message: OutgoingMessage) -> DeliveryReceipt:
        """Send the card (buttons as callbacks or links), then the full text if it was cut."""
        buttons, text_links = telegram_buttons(message.buttons, message.text)
        title = redact(message.title)
        text = redact("\n".join([message.text, *text_links]) if text_links else message.text)
        html, cut = render_card(title, text)
        message_id = await self._bot.send_message(self._chat_id, html, buttons=buttons)
        if cut:
            await self._send_full_text(message.notification_id, title, text)
        return DeliveryReceipt(external_id=f"{self._chat_id}:{message_id}")

    async def _send_full_text(self, notification_id: int, title: str, text: str) -> None:
        caption, _ = render_card(f"Full text: {title}", "", limit=CAPTION_LIMIT)
        content = f"# {title}\n\n{text}\n".encode()
        try:
            await self._bot.send_document(
                self._chat_id, f"notification-{notification_id}.md", content, caption_html=caption
            )
        except ChannelError as exc:
            # The card is out and its buttons work; failing the send would make the job post a
            # second live card. The full text stays readable through the API.
            log.warning(
                "telegram_full_text_failed", notification_id=notification_id, error=str(exc)
            )

    async def aclose(self) -> None:
        """Close the bot's connection pool."""
        await self._bot.aclose()

"""Telegram updates: a press on a card's button runs its action for an approver, once."""

from __future__ import annotations

import re
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.core.audit import Caller, Door
from awoooi.core.logging import get_logger
from awoooi.core.redact import redact
from awoooi.notify.base import ChannelError
from awoooi.notify.channels.telegram_html import escape, fit
from awoooi.notify.press import ActionRegistry, PressResult, press

log = get_logger(__name__)

# Our callback data is an opaque id (url-safe base64); anything else was not made by a card, and
# must not reach the database (a NUL or a lone surrogate there is a 500, not a refusal).
_CALLBACK_DATA = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_USERNAME = re.compile(r"[A-Za-z0-9_]{1,64}")


class CallbackBot(Protocol):
    """The Bot API calls a button press needs."""

    async def answer_callback_query(
        self, callback_query_id: str, text: str, *, show_alert: bool = False
    ) -> None:
        """Answer the press (the spinner on the user's button stops)."""
        ...

    async def edit_message_text(self, chat_id: str, message_id: int, html: str) -> None:
        """Replace the card's text (and drop its buttons)."""
        ...


def _actor(user: dict[str, Any]) -> str:
    name = user.get("username")
    shown = isinstance(name, str) and _USERNAME.fullmatch(name) is not None
    return f"telegram:{user.get('id')}" + (f" (@{name})" if shown else "")


async def handle_update(
    session: AsyncSession,
    update: dict[str, Any],
    *,
    approvers: list[int],
    registry: ActionRegistry,
    request_id: str | None = None,
) -> tuple[PressResult | None, dict[str, Any] | None]:
    """Decide a `callback_query` (in the caller's transaction); other updates are ignored.
    Returns the result and the callback, so the caller can answer Telegram after committing."""
    callback = update.get("callback_query")
    if not isinstance(callback, dict):
        return None, None
    user = callback.get("from") if isinstance(callback.get("from"), dict) else {}
    assert isinstance(user, dict)
    user_id = user.get("id")
    data = callback.get("data")
    if (
        not isinstance(user_id, int)
        or not isinstance(data, str)
        or not _CALLBACK_DATA.fullmatch(data)
    ):
        return None, None
    caller = Caller(_actor(user), Door.TELEGRAM, request_id)
    result = await press(
        session, data, user_id=user_id, caller=caller, registry=registry, approvers=approvers
    )
    return result, callback


async def answer(bot: CallbackBot, result: PressResult, callback: dict[str, Any]) -> None:
    """Tell the presser what happened and, when a decision was made, show it on the card."""
    try:
        await bot.answer_callback_query(
            str(callback.get("id")), result.message[:200], show_alert=not result.performed
        )
        message = callback.get("message")
        if not result.performed or not isinstance(message, dict):
            return
        chat = message.get("chat")
        if not isinstance(chat, dict):
            chat = {}
        original = str(message.get("text") or "")
        outcome = f"{result.message} — by {result.record.used_by if result.record else '?'}"
        # Cut the plain text, then escape: a cut never lands inside an entity such as &amp;.
        kept, _cut = fit(redact(original), 3500)
        html = escape(kept) + "\n\n<b>" + escape(outcome) + "</b>"
        await bot.edit_message_text(str(chat.get("id")), int(message.get("message_id", 0)), html)
    except (ChannelError, ValueError, TypeError) as exc:  # TypeError: int() of a bad message_id
        # The decision is committed; a failed answer only leaves the card as it was.
        log.warning("telegram answer failed", error=str(exc))

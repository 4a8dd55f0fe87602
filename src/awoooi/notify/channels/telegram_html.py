"""Telegram HTML parse mode: escaping and cards that fit one message."""

from __future__ import annotations

__all__ = ["CUT_MARKER", "MESSAGE_LIMIT", "escape", "fit", "render_card", "units"]

MESSAGE_LIMIT = 4096
CUT_MARKER = "\n\n… (cut; full text attached)"
# A title longer than this share of the limit is cut too, so the body always has room to start.
_TITLE_SHARE = 0.5
# When cutting, back up to a line break found in this last share of the kept text, so the card
# ends on a whole line instead of mid-word.
_LINE_BACKUP = 0.2

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def escape(text: str) -> str:
    """The text safe for Telegram's HTML parse mode (only `&`, `<` and `>` need it)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cost(char: str) -> int:
    # Telegram counts UTF-16 code units: a character outside the BMP (most emoji) counts twice.
    escaped = _ESCAPES.get(char)
    if escaped is not None:
        return len(escaped)
    return 2 if ord(char) > 0xFFFF else 1


def units(text: str) -> int:
    """The length Telegram measures: UTF-16 code units (never less than `len(text)`)."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def fit(text: str, budget: int) -> tuple[str, bool]:
    """The longest prefix of the plain text whose escaped form fits `budget` units; was it cut."""
    used = 0
    for index, char in enumerate(text):
        used += _cost(char)
        if used > budget:
            kept = text[:index]
            line_end = kept.rfind("\n")
            if line_end > 0 and line_end >= len(kept) * (1 - _LINE_BACKUP):
                kept = kept[:line_end]
            return kept.rstrip(), True
    return text, False


def render_card(title: str, text: str, *, limit: int = MESSAGE_LIMIT) -> tuple[str, bool]:
    """`<b>title</b>` and the text, escaped, cut to `limit` units with a marker; was it cut.

    The plain text is cut before escaping, so an entity (`&amp;`) is never split, and the only
    tags are ours, so none is either.
    """
    marker = escape(CUT_MARKER)
    body = escape(text)
    html = f"<b>{escape(title)}</b>\n\n{body}" if text else f"<b>{escape(title)}</b>"
    if units(html) <= limit:
        return html, False
    title_html = escape(title)
    if units(title_html) > limit * _TITLE_SHARE:
        kept, _ = fit(title, int(limit * _TITLE_SHARE) - 1)
        title_html = escape(kept) + "…"
    head = f"<b>{title_html}</b>\n\n"
    budget = limit - units(head) - units(marker)
    if budget < 0:
        raise ValueError(f"a Telegram card cannot fit in {limit} characters")
    kept, _ = fit(text, budget)
    return head + escape(kept) + marker, True

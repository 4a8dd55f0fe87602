"""The Telegram channel against a fake Bot API server that speaks the real wire format."""

from __future__ import annotations

import asyncio
import re
import traceback
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from awoooi.core.errors import ConfigError
from awoooi.notify.base import Button, ChannelError, Notifier, OutgoingMessage, Severity
from awoooi.notify.channels.telegram import TelegramBot, TelegramNotifier, inline_button
from awoooi.notify.channels.telegram_html import CUT_MARKER, escape, render_card, units
from awoooi.notify.settings import TelegramSettings
from tests.helpers import telegram_api as fake_telegram
from tests.helpers.llm_servers import refusing_port
from tests.helpers.telegram_api import FakeTelegramAPI, parse_html, utf16_len

telegram_api = fake_telegram.telegram_api

CHAT = "4242"
AWI_TOKEN = "awi_" + "Zq8xK2mN5pR7tV9wY1bC3dF6gH0jL4nQ8sU2vX5zA7e"  # an API token's shape
PASSWORD = "hunter2-Corr3ct-Horse"


class FakeTime:
    """An injected clock and sleep: sleeping advances the clock, and each sleep is recorded
    with how many calls the server had received by then (so order is checkable)."""

    def __init__(self, api: FakeTelegramAPI) -> None:
        self.now = 1_000.0
        self.api = api
        self.events: list[tuple[float, int]] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.events.append((seconds, len(self.api.calls)))
        self.now += seconds
        await asyncio.sleep(0)

    @property
    def sleeps(self) -> list[float]:
        return [seconds for seconds, _ in self.events]


MakeChannel = Callable[..., tuple[TelegramNotifier, FakeTime]]


@pytest.fixture
async def make_channel(telegram_api: FakeTelegramAPI) -> AsyncIterator[MakeChannel]:
    """Build notifiers on the fake API with a fake clock; all are closed afterwards."""
    made: list[TelegramNotifier] = []

    def make(*, pace_seconds: float = 0.0, **overrides: Any) -> tuple[TelegramNotifier, FakeTime]:
        fake_time = FakeTime(telegram_api)
        values: dict[str, Any] = {
            "bot_token": telegram_api.token,
            "chat_id": CHAT,
            "api_url": telegram_api.api_url,
            "pace_seconds": pace_seconds,
            "timeout_seconds": 5.0,
        }
        values.update(overrides)
        config = TelegramSettings(**values)
        bot = TelegramBot(config, clock=fake_time.clock, sleep=fake_time.sleep)
        notifier = TelegramNotifier(config, bot)
        made.append(notifier)
        return notifier, fake_time

    yield make
    for notifier in made:
        await notifier.aclose()


def message(
    text: str = "Pod web-1 restarted 5 times.",
    *,
    title: str = "Approve repair #7?",
    buttons: tuple[Button, ...] = (),
    notification_id: int = 7,
) -> OutgoingMessage:
    return OutgoingMessage(
        notification_id=notification_id,
        kind="repair.approval",
        severity=Severity.HIGH,
        title=title,
        text=text,
        buttons=buttons,
    )


def tags(html: str) -> list[str]:
    return re.findall(r"</?([A-Za-z][A-Za-z0-9-]*)", html)


# -- cards and buttons ---------------------------------------------------------------------------


async def test_card_with_approve_reject_callbacks_and_a_link(
    make_channel: MakeChannel, telegram_api: FakeTelegramAPI
) -> None:
    notifier, _ = make_channel()
    buttons = (
        Button("Approve", action_id="approve:7f3a"),
        Button("Reject", action_id="reject:7f3a", url="https://awoooi.example/r/7"),
        Button("Open", url="https://awoooi.example/repairs/7"),
    )

    receipt = await notifier.send(message(buttons=buttons))

    assert isinstance(notifier, Notifier)
    (call,) = telegram_api.calls
    assert call.method == "sendMessage"
    assert call.status == 200
    assert call.params["parse_mode"] == "HTML"
    assert call.params["disable_web_page_preview"] is True
    (sent,) = telegram_api.messages
    assert receipt.external_id == f"{CHAT}:{sent.message_id}"
    assert sent.visible_text == "Approve repair #7?\n\nPod web-1 restarted 5 times."
    assert sent.text == "<b>Approve repair #7?</b>\n\nPod web-1 restarted 5 times."
    # An action button is a callback even when it has a link too: Telegram can press it.
    assert sent.reply_markup == {
        "inline_keyboard": [
            [
                {"text": "Approve", "callback_data": "approve:7f3a"},
                {"text": "Reject", "callback_data": "reject:7f3a"},
                {"text": "Open", "url": "https://awoooi.example/repairs/7"},
            ]
        ]
    }


async def test_message_ids_increase_and_a_card_without_buttons_has_no_keyboard(
    make_channel: MakeChannel, telegram_api: FakeTelegramAPI
) -> None:
    notifier, _ = make_channel()

    first = await notifier.send(message("one"))
    second = await notifier.send(message("two"))

    assert (first.external_id, second.external_id) == (f"{CHAT}:1", f"{CHAT}:2")
    assert all("reply_markup" not in call.params for call in telegram_api.calls)


@pytest.mark.parametrize(
    "action_id",
    ["x" * 65, "é" * 33],  # 65 bytes; 33 characters but 66 bytes
)
async def test_callback_data_over_64_bytes_is_refused_before_any_call(
    make_channel: MakeChannel, telegram_api: FakeTelegramAPI, action_id: str
) -> None:
    notifier, _ = make_channel()

    with pytest.raises(ValueError, match="64 bytes"):
        await notifier.send(message(buttons=(Button("Approve", action_id=action_id),)))

    assert telegram_api.calls == []


async def test_callback_data_of_exactly_64_bytes_is_sent(
    make_channel: MakeChannel, telegram_api: FakeTelegramAPI
) -> None:
    notifier, _ = make_channel()
    action_id = "a:" + "b" * 62

    await notifier.send(message(buttons=(Button("Approve", action_id=action_id),)))

    (sent,) = telegram_api.messages
    assert sent.reply_markup is not None
    assert sent.reply_markup["inline_keyboard"][0][0]["callback_data"] == action_id


def test_inline_button_shapes() -> None:
    assert inline_button(Button("Go", url="https://x.example")) == {
        "text": "Go",
        "url": "https://x.example",
    }
    assert inline_button(Button("Do", action_id="do:1", url="https://x.example")) == {
        "text": "Do",
        "callback_data": "do:1",
    }


# -- HTML ----------------------------------------------------------------------------------------


def test_escape_only_touches_the_three_html_characters() -> None:
    assert escape("a < b > c & \"d\" 'e'") == "a &lt; b &gt; c &amp; \"d\" 'e'"
    assert escape("&amp;") == "&amp;amp;"  # text that looks escaped is still text


async def test_html_in_title_and_text_is_escaped_and_only_our_tags_are_sent(
    make_channel: MakeChannel, telegram_api: FakeTelegramAPI
) -> None:
    notifier, _ = make_channel()
    title = "<i>Deploy</i> & rollback"
    text = (
        "<script>alert(1)</script>\n"
        "R&D budget: a < b > c\n"
        "<b>unbalanced bold\n"
        "&amp; stays literal, <a href='https://evil.example'>click</a>"
    )

    await notifier.send(message(text, title=title))

    (call,) = telegram_api.calls
    assert call.status == 200  # the fake parsed it the way Telegram does
    (sent,) = telegram_api.messages
    assert sent.visible_text == f"{title}\n\n{text}"  # what the reader sees is the raw text
    assert tags(sent.text) == ["b", "b"]  # only our <b>title</b>
    assert "<script>" not in sent.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in sent.text
    assert "R&amp;D budget: a &lt; b &gt; c" in sent.text
    assert "&amp;amp; stays literal" in sent.text


def test_the_fake_refuses_what_telegram_refuses() -> None:
    """The checks above mean something only if unescaped HTML really fails."""
    for bad in ("a < b", "<script>x</script>", "<b>open", "</b>", "<b><i>x</b></i>"):
        with pytest.raises(fake_telegram.ApiError, match="can't parse entities"):
            parse_html(bad)
    assert parse_html("<b>x</b> &lt;&amp;&gt; &quot; &#65; & y") == 'x <&> " A & y'


@settings(max_examples=200, deadline=None)
@given(
    title=st.text(alphabet="ab<>&;\n é😀", max_size=20),
    text=st.text(alphabet="ab<>&;#\n é😀", max_size=400),
    limit=st.integers(min_value=120, max_value=400),
)
def test_render_card_always_parses_fits_and_keeps_a_prefix(
    title: str, text: str, limit: int
) -> None:
    html, cut = render_card(title, text, limit=limit)

    visible = parse_html(html)  # never an entity or tag cut in half
    assert units(html) <= limit
    assert utf16_len(html) == units(html)
    head = f"{title}\n\n" if text else title
    if not cut:
        assert visible == head + text if text else visible == title
    else:
        assert visible.startswith(title + "\n\n")
        assert visible.endswith(CUT_MARKER)
        kept = visible[len(title) + 2 : -len(CUT_MARKER)]
        assert text.startswith(kept)


def test_render_card_cuts_on_a_line_break_near_the_end() -> None:
    text = "".join(f"step {n}: kubectl rollout restart deploy/web\n" for n in range(200))

    html, cut = render_card("Runbook", text, limit=500)

    assert cut
    body = html.removeprefix("<b>Runbook</b>\n\n").removesuffix(CUT_MARKER)
    assert body.endswith("deploy/web")  # a whole line, not half of one


# -- long text -----------------------------------------------------------------------------------


async def test_a_10000_character_runbook_is_cut_and_attached_in_full(
    make_channel: MakeChannel, telegram_api: FakeTelegramAPI
) -> None:
    notifier, _ = make_channel()
    lines = [f"{n:04d}. check pods & events <ns=prod> then restart" for n in range(250)]
    runbook = "\n".join(lines)
    assert len(runbook) >= 10_000

    receipt = await notifier.send(message(runbook, title="Runbook: web", notification_id=31))

    assert [call.method for call in telegram_api.calls] == ["sendMessage", "sendDocument"]
    card, document = telegram_api.messages
    assert receipt.external_id == f"{CHAT}:{card.message_id}"
    assert utf16_len(card.text) <= 4096
    assert card.visible_text.endswith(CUT_MARKER)
    shown = card.visible_text.removeprefix("Runbook: web\n\n").removesuffix(CUT_MARKER)
    assert runbook.startswith(shown)
    assert len(shown) > 2_000
    assert document.document is not None
    assert document.document.filename == "notification-31.md"
    assert document.document.content_type == "text/markdown"
    assert document.document.content.decode("utf-8") == f"# Runbook: web\n\n{runbook}\n"
    assert document.chat_id == CHAT
    assert "Runbook: web" in document.visible_text  # the caption names the card


async def test_a_short_card_sends_no_document(
    make_channel: MakeChannel, telegram_api: FakeTelegramAPI
) -> None:
    notifier, _ = make_channel()

    await notifier.send(message("x" * 4000))

    assert [call.method for call in telegram_api.calls] == ["sendMessage"]


async def test_a_failed_attachment_does_not_fail_the_delivered_card(
    make_channel: MakeChannel, telegram_api: FakeTelegramAPI
) -> None:
    notifier, _ = make_channel()
    telegram_api.fail_next(
        status=400, description="Bad Request: file too big", method="sendDocument"
    )

    receipt = await notifier.send(message("y" * 9_000))

    # A retried job would post a second card with live buttons; one card it is.
    assert receipt.external_id == f"{CHAT}:1"
    assert [(c.method, c.status) for c in telegram_api.calls] == [
        ("sendMessage", 200),
        ("sendDocument", 400),
    ]


# -- rate limits and errors ----------------------------------------------------------------------


async def test_429_waits_retry_after_then_sends_once(
    make_channel: MakeChannel, telegram_api: FakeTelegramAPI
) -> None:
    notifier, fake_time = make_channel()
    telegram_api.fail_next(1, status=429, retry_after=1)

    receipt = await notifier.send(message())

    assert [(c.method, c.status) for c in telegram_api.calls] == [
        ("sendMessage", 429),
        ("sendMessage", 200),
    ]
    # One wait of retry_after seconds, after the refused call and before the retry.
    assert fake_time.events == [(1.0, 1)]
    assert len(telegram_api.messages) == 1
    assert receipt.external_id == f"{CHAT}:1"


async def test_429_four_times_raises_channel_error_after_three_waits(
    make_channel: MakeChannel, telegram_api: FakeTelegramAPI
) -> None:
    notifier, fake_time = make_channel()
    telegram_api.fail_next(4, status=429, retry_after=2)

    with pytest.raises(ChannelError, match="rate limited"):
        await notifier.send(message())

    assert [c.status for c in telegram_api.calls] == [429, 429, 429, 429]
    assert fake_time.events == [(2.0, 1), (2.0, 2), (2.0, 3)]
    assert telegram_api.messages == []


async def test_a_huge_retry_after_is_capped(
    make_channel: MakeChannel, telegram_api: FakeTelegramAPI
) -> None:
    notifier, fake_time = make_channel()
    telegram_api.fail_next(1, status=429, retry_after=3600)

    await notifier.send(message())

    assert fake_time.sleeps == [60.0]


async def test_400_raises_channel_error_with_telegrams_description(
    make_channel: MakeChannel, telegram_api: FakeTelegramAPI
) -> None:
    notifier, fake_time = make_channel()
    telegram_api.fail_next(status=400, description="Bad Request: chat not found")

    with pytest.raises(ChannelError, match="Bad Request: chat not found") as caught:
        await notifier.send(message())

    assert "400" in str(caught.value)
    assert len(telegram_api.calls) == 1  # not retried here: the job retries with backoff
    assert fake_time.sleeps == []


@pytest.mark.parametrize(
    "token",
    [
        fake_telegram.DEFAULT_TOKEN,  # a real token's shape: redact() knows it too
        "42:odd-shaped-token-the-redactor-cannot-recognise",
    ],
)
async def test_the_bot_token_never_appears_in_errors(token: str) -> None:
    with FakeTelegramAPI(token) as api:
        config = TelegramSettings(bot_token=token, chat_id=CHAT, api_url=api.api_url)
        bot = TelegramBot(config)
        wrong = TelegramBot(config.model_copy(update={"bot_token": SecretStr(token + "x")}))
        errors: list[BaseException] = []
        try:
            # Telegram echoing the token back in a description (a proxy error page might).
            api.fail_next(status=400, description=f"Bad Request: bad url /bot{token}/sendMessage")
            with pytest.raises(ChannelError) as caught:
                await bot.send_message(CHAT, "hi")
            errors.append(caught.value)
            with pytest.raises(ChannelError, match="Unauthorized") as caught:
                await wrong.get_me()
            errors.append(caught.value)
        finally:
            await bot.aclose()
            await wrong.aclose()
        assert [c.status for c in api.calls] == [400, 401]

    with refusing_port() as port:
        refused = TelegramBot(config.model_copy(update={"api_url": f"http://127.0.0.1:{port}"}))
        try:
            with pytest.raises(ChannelError, match="request failed") as caught:
                await refused.send_message(CHAT, "hi")
            errors.append(caught.value)
        finally:
            await refused.aclose()

    secret_part = token.split(":", 1)[1]
    for error in errors:
        rendered = "".join(traceback.format_exception(error))  # the chain a log would show
        assert secret_part not in rendered
        assert error.__cause__ is None
    assert secret_part not in repr(bot)


async def test_a_secret_in_the_text_never_reaches_telegram(
    make_channel: MakeChannel, telegram_api: FakeTelegramAPI
) -> None:
    notifier, _ = make_channel()
    text = (
        f"the deploy used {AWI_TOKEN} and DATABASE_URL password={PASSWORD}\n"
        + "filler line\n" * 500
        + f"and again at the end: token {AWI_TOKEN}"  # beyond the cut: only in the document
    )

    await notifier.send(message(text, title=f"leak {AWI_TOKEN}"))

    traffic = telegram_api.raw_traffic()
    assert len(telegram_api.calls) == 2
    assert AWI_TOKEN.encode() not in traffic
    assert PASSWORD.encode() not in traffic
    card, document = telegram_api.messages
    assert "[REDACTED:awoooi_token]" in card.text
    assert "[REDACTED:" in card.visible_text.split("\n")[2]
    assert document.document is not None
    assert document.document.content.count(b"[REDACTED:awoooi_token]") == 3


# -- pacing --------------------------------------------------------------------------------------


async def test_two_messages_to_one_chat_are_spaced_by_pace_seconds(
    make_channel: MakeChannel, telegram_api: FakeTelegramAPI
) -> None:
    notifier, fake_time = make_channel(pace_seconds=1.5)

    await notifier.bot.send_message(CHAT, "first")
    await notifier.bot.send_message(CHAT, "second")

    assert fake_time.events == [(1.5, 1)]  # after the first call, before the second
    assert [m.text for m in telegram_api.messages] == ["first", "second"]


async def test_messages_to_two_chats_are_not_spaced(
    make_channel: MakeChannel, telegram_api: FakeTelegramAPI
) -> None:
    notifier, fake_time = make_channel(pace_seconds=1.5)

    await notifier.bot.send_message("1001", "to one")
    await notifier.bot.send_message("1002", "to another")
    assert fake_time.sleeps == []

    await notifier.bot.send_message("1001", "to the first again")
    assert fake_time.sleeps == [1.5]


async def test_concurrent_sends_to_one_chat_are_spaced_and_keep_their_order(
    make_channel: MakeChannel, telegram_api: FakeTelegramAPI
) -> None:
    notifier, fake_time = make_channel(pace_seconds=1.0)

    await asyncio.gather(*(notifier.bot.send_message(CHAT, f"m{n}") for n in range(3)))

    assert fake_time.events == [(1.0, 1), (1.0, 2)]
    assert [m.text for m in telegram_api.messages] == ["m0", "m1", "m2"]


async def test_time_already_passed_counts_towards_the_pace(
    make_channel: MakeChannel, telegram_api: FakeTelegramAPI
) -> None:
    notifier, fake_time = make_channel(pace_seconds=1.0)

    await notifier.bot.send_message(CHAT, "first")
    fake_time.now += 0.75
    await notifier.bot.send_message(CHAT, "second")

    assert fake_time.sleeps == [pytest.approx(0.25)]


# -- the other Bot API methods -------------------------------------------------------------------


async def test_edit_replaces_the_text_and_removes_the_keyboard(
    make_channel: MakeChannel, telegram_api: FakeTelegramAPI
) -> None:
    notifier, _ = make_channel()
    buttons = (Button("Approve", action_id="approve:1"), Button("Reject", action_id="reject:1"))
    receipt = await notifier.send(message(buttons=buttons))
    assert receipt.external_id is not None
    chat_id, message_id = receipt.external_id.split(":")

    html = "<b>Approve repair #7?</b>\n\nApproved by @alice"
    await notifier.bot.edit_message_text(chat_id, int(message_id), html)
    await notifier.bot.edit_message_text(chat_id, int(message_id), html)  # a retry: no error

    card = telegram_api.message(chat_id, int(message_id))
    assert card.visible_text.endswith("Approved by @alice")
    assert card.reply_markup == {"inline_keyboard": []}
    assert len(card.edits) == 1
    assert [c.status for c in telegram_api.calls_to("editMessageText")] == [200, 400]

    with pytest.raises(ChannelError, match="message to edit not found"):
        await notifier.bot.edit_message_text(chat_id, 999, html)


async def test_answer_callback_query_set_webhook_and_get_me(
    make_channel: MakeChannel, telegram_api: FakeTelegramAPI
) -> None:
    notifier, _ = make_channel()
    bot = notifier.bot

    await bot.answer_callback_query("cbq-1", "Approved ✅")
    await bot.answer_callback_query("cbq-2", "x" * 500, show_alert=True)
    await bot.set_webhook("https://awoooi.example/api/v1/notify/telegram/webhook", "s3cr3t_T")
    me = await bot.get_me()

    assert telegram_api.callback_answers == [
        {"callback_query_id": "cbq-1", "text": "Approved ✅", "show_alert": False},
        {"callback_query_id": "cbq-2", "text": "x" * 200, "show_alert": True},
    ]
    assert telegram_api.webhook == {
        "url": "https://awoooi.example/api/v1/notify/telegram/webhook",
        "secret_token": "s3cr3t_T",
        "allowed_updates": ["callback_query"],
    }
    assert me["is_bot"] is True
    assert me["username"] == "awoooi_test_bot"


async def test_the_client_is_reopened_after_aclose(
    make_channel: MakeChannel, telegram_api: FakeTelegramAPI
) -> None:
    notifier, _ = make_channel()
    await notifier.send(message("before"))
    await notifier.aclose()
    await notifier.aclose()  # twice is harmless

    await notifier.send(message("after"))

    assert len(telegram_api.messages) == 2


def test_a_missing_token_or_chat_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="chat_id"):
        TelegramNotifier(TelegramSettings(bot_token="1:x"))
    with pytest.raises(ConfigError, match="bot_token"):
        TelegramNotifier(TelegramSettings(chat_id=CHAT))

"""`awoooi notify`: list notifications; send a test message; register the Telegram webhook."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

import typer
from rich.text import Text

from awoooi.api.schemas import NotificationOut
from awoooi.cli.backend import with_backend
from awoooi.cli.context import fail, out_console, run, settings_from
from awoooi.cli.output import FormatOption, print_json, table, when
from awoooi.notify.base import ChannelError, OutgoingMessage, Severity
from awoooi.notify.channels.telegram import TelegramBot

app = typer.Typer(help="Notification channels.", no_args_is_help=True)
WEBHOOK_PATH = "/api/v1/notify/telegram/webhook"


@app.command("list")
def list_(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    output: FormatOption = "table",
) -> None:
    """Recent notifications, newest first, with their delivery state."""
    found: list[NotificationOut] = with_backend(ctx, lambda b: b.notifications(limit=limit))
    if output == "json":
        print_json(found)
        return
    shown = table(
        "id",
        "channel",
        "kind",
        "severity",
        "status",
        "created",
        "title",
        optional=("kind", "created"),
    )
    for record in found:
        shown.add_row(
            str(record.id),
            record.channel,
            Text(record.kind),
            record.severity,
            record.status + (f" ({record.attempts})" if record.attempts > 1 else ""),
            when(record.created_at),
            Text(record.title),
        )
    out_console.print(shown)


@app.command()
def test(
    ctx: typer.Context,
    channel: Annotated[
        Literal["log", "telegram", "slack", "webhook"],
        typer.Option("--channel", help="Which configured channel to send through."),
    ],
) -> None:
    """Send a test message through one channel; exit 1 when it fails."""
    # The runtime module pulls in every subsystem; only this command needs its channel wiring.
    from awoooi.runtime import build_notifiers

    settings = settings_from(ctx)
    notifiers = build_notifiers(settings)
    notifier = notifiers.get(channel)
    if notifier is None:
        raise fail(f"channel {channel!r} is not in notify.channels or notify.routes")
    message = OutgoingMessage(
        notification_id=0,
        kind="notify.test",
        severity=Severity.INFO,
        title="awoooi test notification",
        text="If you can read this, the channel works.",
    )

    async def send() -> str:
        try:
            receipt = await notifier.send(message)
        finally:
            close = getattr(notifier, "aclose", None)
            if close is not None:
                await close()
        return receipt.external_id or "-"

    try:
        external_id = asyncio.run(send())
    except ChannelError as exc:
        raise fail(f"{channel}: {exc}") from None
    out_console.print(f"sent through {channel} ({external_id})", highlight=False)


@app.command("telegram-setup")
def telegram_setup(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option(help="Public base URL Telegram calls (default: public_url)."),
    ] = None,
) -> None:
    """Register awoooi's webhook with Telegram (setWebhook with the secret token)."""
    settings = settings_from(ctx)
    telegram = settings.notify.telegram
    if telegram.bot_token is None or telegram.webhook_secret is None:
        raise fail("set notify.telegram.bot_token and notify.telegram.webhook_secret first")
    base = (url or settings.public_url).rstrip("/")
    if not base.startswith("https://"):
        raise fail(f"Telegram only calls https:// webhooks; got {base!r} (use --url)")
    target = base + WEBHOOK_PATH
    secret = telegram.webhook_secret.get_secret_value()

    async def register() -> None:
        bot = TelegramBot(telegram)
        try:
            await bot.set_webhook(target, secret)
        finally:
            await bot.aclose()

    try:
        run(register())
    except ChannelError as exc:
        raise fail(f"setWebhook failed: {exc}") from None
    out_console.print(f"Telegram will post button presses to {target}", highlight=False)

"""Routing by kind and severity (units), settings that name an unconfigured channel, and the
`awoooi notify` commands as users run them (real subprocesses against real local servers)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from awoooi.notify.base import ChannelError, OutgoingMessage, Severity
from awoooi.notify.channels.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookNotifier,
    verify,
)
from awoooi.notify.routing import NotifyPolicy, Scope
from awoooi.notify.settings import NotifySettings, WebhookSettings
from tests.helpers.telegram_api import FakeTelegramAPI
from tests.notify.conftest import BOT_TOKEN, CHAT_ID, WEBHOOK_SECRET
from tests.repair.conftest import HOST

AWOOOI = Path(sys.executable).parent / "awoooi"
CLI_TIMEOUT = 60
HOOK_SECRET = "whsec-test-0123456789"

CONFIGURED: dict[str, Any] = {
    "telegram": {"bot_token": BOT_TOKEN, "chat_id": CHAT_ID},
    "slack": {"webhook_url": "https://hooks.slack.example/services/T/B/x"},
    "webhook": {"url": "https://receiver.example/hook", "secret": HOOK_SECRET},
}


LOG_ONLY = ("log",)


def policy(routes: list[dict[str, Any]], channels: Sequence[str] | None = LOG_ONLY) -> NotifyPolicy:
    """Every channel configured; the defaults `channels` (None: unset)."""
    values: dict[str, Any] = {"routes": routes, **CONFIGURED}
    if channels is not None:
        values["channels"] = list(channels)
    return NotifyPolicy(NotifySettings(**values), "https://awoooi.example/")


# ---------------------------------------------------------------- routing


ROUTES: list[dict[str, Any]] = [
    {"kinds": ["repair.*"], "min_severity": "high", "channels": ["telegram"]},
    {"kinds": ["knowledge.review", "knowledge.anti_?attern"], "channels": ["slack"]},
    {"kinds": ["*"], "min_severity": "critical", "channels": ["webhook", "telegram"]},
]


@pytest.mark.parametrize(
    ("kind", "severity", "expected"),
    [
        # A route matches on kind glob and on severity at or above its minimum.
        ("repair.failed", Severity.HIGH, ["telegram"]),
        ("repair.blocked", Severity.HIGH, ["telegram"]),
        # Below the minimum: no route matches, so the defaults.
        ("repair.failed", Severity.MEDIUM, ["log"]),
        ("repair.approval", Severity.INFO, ["log"]),
        # Every matching route counts, in route order, each channel once.
        ("repair.failed", Severity.CRITICAL, ["telegram", "webhook"]),
        ("knowledge.review", Severity.CRITICAL, ["slack", "webhook", "telegram"]),
        # min_severity defaults to info: every severity matches.
        ("knowledge.review", Severity.INFO, ["slack"]),
        ("knowledge.anti_pattern", Severity.LOW, ["slack"]),
        # Globs are whole-kind and case-sensitive.
        ("knowledge.reviewed", Severity.INFO, ["log"]),
        ("Repair.failed", Severity.HIGH, ["log"]),
        ("repair", Severity.HIGH, ["log"]),
        ("ai.rejected", Severity.HIGH, ["log"]),
        ("ai.rejected", Severity.CRITICAL, ["webhook", "telegram"]),
    ],
)
def test_routes_by_kind_glob_and_min_severity(
    kind: str, severity: Severity, expected: list[str]
) -> None:
    assert policy(ROUTES).select(kind, severity) == expected


def test_the_defaults_when_no_route_matches_or_there_are_none() -> None:
    assert policy([]).select("anything", Severity.CRITICAL) == ["log"]
    assert policy([], ["telegram", "log", "telegram"]).select("x", Severity.INFO) == [
        "telegram",
        "log",
    ]
    defaults = policy(ROUTES, ["log", "slack"])
    assert defaults.select("incident.opened", Severity.HIGH) == ["log", "slack"]
    # A matching route replaces the defaults; it does not add to them.
    assert defaults.select("repair.failed", Severity.HIGH) == ["telegram"]


def test_unset_defaults_are_every_configured_channel() -> None:
    # Issue 18: a bot token and a chat id were set, and everything still went to `log` only.
    assert policy([], None).select("x", Severity.INFO) == ["log", "telegram", "slack", "webhook"]
    telegram_only = NotifySettings(telegram=CONFIGURED["telegram"])
    assert telegram_only.default_channels() == ["log", "telegram"]
    assert NotifySettings().default_channels() == ["log"]
    # Half a configuration is no channel (and no error while nothing names it).
    assert NotifySettings(telegram={"bot_token": BOT_TOKEN}).default_channels() == ["log"]
    assert NotifySettings(webhook={"url": "https://x.example"}).default_channels() == ["log"]
    # An explicit list wins, even an empty one.
    assert NotifySettings(channels=["slack"], **CONFIGURED).default_channels() == ["slack"]
    assert NotifySettings(channels=[], **CONFIGURED).default_channels() == []
    assert NotifySettings(**CONFIGURED).used_channels() == ["log", "telegram", "slack", "webhook"]


SHOP_ROUTES: list[dict[str, Any]] = [
    {"namespaces": ["shop", "shop-*"], "channels": ["slack"]},
    {"kinds": ["repair.*"], "services": ["pay*"], "channels": ["webhook"]},
]


@pytest.mark.parametrize(
    ("kind", "scope", "expected"),
    [
        # The shop team's incidents go to their Slack, whatever the kind.
        ("repair.failed", Scope("shop", ("checkout",)), ["slack"]),
        ("incident.escalated", Scope("shop-eu", ()), ["slack"]),
        # Their payment service's repairs also to the webhook: every matching route counts.
        ("repair.blocked", Scope("shop", ("cart", "payments")), ["slack", "webhook"]),
        ("repair.blocked", Scope("billing", ("payments",)), ["webhook"]),
        ("incident.escalated", Scope("billing", ("payments",)), ["log"]),
        # A notice about no incident (a drift report) matches only `*`.
        ("drift.report", Scope(), ["log"]),
        ("drift.report", None, ["log"]),
        ("repair.failed", Scope("shopping", ()), ["log"]),
    ],
)
def test_routes_group_incident_notices_by_namespace_and_service(
    kind: str, scope: Scope | None, expected: list[str]
) -> None:
    assert policy(SHOP_ROUTES).select(kind, Severity.HIGH, scope) == expected


def test_a_route_with_repeated_channels_sends_once_per_channel() -> None:
    routes = [
        {"kinds": ["repair.*", "repair.failed"], "channels": ["slack", "slack"]},
        {"kinds": ["repair.failed"], "channels": ["slack", "log"]},
    ]
    assert policy(routes).select("repair.failed", Severity.INFO) == ["slack", "log"]


def test_every_severity_has_a_rank_and_the_order_is_total() -> None:
    ranked = [Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]
    assert set(ranked) == set(Severity)
    for index, minimum in enumerate(ranked):
        routes = [{"min_severity": minimum.value, "channels": ["slack"]}]
        chosen = {s: policy(routes).select("k", s) for s in ranked}
        assert chosen == {
            s: (["slack"] if position >= index else ["log"]) for position, s in enumerate(ranked)
        }


def test_policy_buttons_links_ttl_and_approvers() -> None:
    settings = NotifySettings(
        action_ttl_hours=0.5, telegram={"approvers": [111, 222]}, channels=["log"]
    )
    made = NotifyPolicy(settings, "https://awoooi.example/")
    assert made.action_ttl == timedelta(minutes=30)
    assert made.approvers == [111, 222]
    assert made.link_for("knowledge.approve", "12") == "https://awoooi.example/api/v1/knowledge/12"
    assert made.link_for("repair.reject", "7") == "https://awoooi.example/api/v1/repairs/7"


# ---------------------------------------------------------------- settings validation


@pytest.mark.parametrize(
    ("values", "missing"),
    [
        ({"channels": ["telegram"]}, "notify.telegram.bot_token"),
        ({"channels": ["telegram"], "telegram": {"bot_token": BOT_TOKEN}}, "chat_id"),
        ({"channels": ["slack"]}, "notify.slack.webhook_url"),
        ({"channels": ["webhook"], "webhook": {"url": "https://x.example"}}, "webhook.secret"),
        ({"channels": ["webhook"], "webhook": {"secret": "s"}}, "notify.webhook.url"),
        # A channel used only by a route must be configured too.
        ({"routes": [{"kinds": ["repair.*"], "channels": ["slack"]}]}, "notify.slack.webhook_url"),
    ],
)
def test_a_channel_in_use_must_be_configured(values: dict[str, Any], missing: str) -> None:
    with pytest.raises(ValidationError, match=missing.replace(".", r"\.")):
        NotifySettings(**values)


def test_unknown_channels_and_severities_are_refused() -> None:
    with pytest.raises(ValidationError):
        NotifySettings(channels=["sms"])  # type: ignore[list-item]
    with pytest.raises(ValidationError):
        NotifySettings(routes=[{"min_severity": "urgent", "channels": ["log"]}])
    with pytest.raises(ValidationError):
        NotifySettings(routes=[{"kinds": ["*"], "channels": []}])


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """The outer environment without AWOOOI_*, plus this test's home and settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AWOOOI_") and key not in {"COLUMNS", "LINES"}
    }
    env["AWOOOI_HOME"] = str(home)
    env["AWOOOI_DATABASE_URL"] = f"sqlite+aiosqlite:///{home / 'awoooi.db'}"
    env.update(extra)
    return env


def awoooi(*args: str, env: Mapping[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run(  # a fixed argv, no shell; callers assert on the exit code
        [str(AWOOOI), *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )


def squeeze(text: str) -> str:
    """Text with whitespace runs collapsed: rich may wrap long lines."""
    return " ".join(text.split())


def test_config_show_and_serve_refuse_a_channel_that_is_not_configured(tmp_path: Path) -> None:
    telegram = cli_env(tmp_path / "home", AWOOOI_NOTIFY__CHANNELS='["telegram"]')
    shown = awoooi("config", "show", env=telegram, cwd=tmp_path)
    assert shown.returncode == 2, shown.stdout + shown.stderr
    assert "notify.telegram.bot_token" in squeeze(shown.stderr)
    assert "Traceback" not in shown.stderr

    # Telegram is configured here, the webhook lacks its secret: only the webhook is named.
    webhook = cli_env(
        tmp_path / "home",
        AWOOOI_NOTIFY__CHANNELS='["telegram", "webhook"]',
        AWOOOI_NOTIFY__TELEGRAM__BOT_TOKEN=BOT_TOKEN,
        AWOOOI_NOTIFY__TELEGRAM__CHAT_ID=CHAT_ID,
        AWOOOI_NOTIFY__WEBHOOK__URL=f"http://{HOST}:9/hook",
    )
    served = awoooi("serve", env=webhook, cwd=tmp_path)
    assert served.returncode == 2, served.stdout + served.stderr
    message = squeeze(served.stderr)
    assert "notify.webhook.url and notify.webhook.secret" in message
    assert "notify.telegram" not in message
    assert "Traceback" not in served.stderr
    assert BOT_TOKEN not in served.stdout + served.stderr


# ---------------------------------------------------------------- awoooi notify test


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool


class SignedReceiver:
    """A real HTTP server that checks each delivery's signature with `verify`: 204 when it
    holds, 401 when it does not."""

    def __init__(self, secret: str) -> None:
        self.deliveries: list[Delivery] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {name.lower(): value for name, value in self.headers.items()}
                verified = verify(
                    secret,
                    headers.get(TIMESTAMP_HEADER.lower(), ""),
                    body,
                    headers.get(SIGNATURE_HEADER.lower(), ""),
                )
                owner.deliveries.append(Delivery(self.path, headers, body, verified))
                self.send_response(204 if verified else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}{path}"

    def __enter__(self) -> SignedReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


@pytest.fixture
def receiver() -> Iterator[SignedReceiver]:
    with SignedReceiver(HOOK_SECRET) as server:
        yield server


def webhook_env(home: Path, url: str, secret: str = HOOK_SECRET) -> dict[str, str]:
    return cli_env(
        home,
        AWOOOI_NOTIFY__CHANNELS='["log", "webhook"]',
        AWOOOI_NOTIFY__WEBHOOK__URL=url,
        AWOOOI_NOTIFY__WEBHOOK__SECRET=secret,
        AWOOOI_NOTIFY__WEBHOOK__TIMEOUT_SECONDS="5",
    )


def test_notify_test_sends_one_signed_webhook(tmp_path: Path, receiver: SignedReceiver) -> None:
    env = webhook_env(tmp_path / "home", receiver.url("/hooks/awoooi"))
    done = awoooi("notify", "test", "--channel", "webhook", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sent through webhook" in done.stdout

    [delivery] = receiver.deliveries
    assert delivery.path == "/hooks/awoooi"
    assert delivery.verified
    assert delivery.headers["content-type"] == "application/json"
    body = json.loads(delivery.body)
    assert (body["kind"], body["severity"], body["title"]) == (
        "notify.test",
        "info",
        "awoooi test notification",
    )


async def test_the_receiver_refuses_a_wrong_signature(receiver: SignedReceiver) -> None:
    """The check above is not vacuous: a delivery signed with another secret is refused."""
    wrong = WebhookNotifier(WebhookSettings(url=receiver.url("/hook"), secret="not-the-secret"))
    message = OutgoingMessage(0, "notify.test", Severity.INFO, "title", "text")
    try:
        with pytest.raises(ChannelError, match="HTTP 401"):
            await wrong.send(message)
    finally:
        await wrong.aclose()
    assert [d.verified for d in receiver.deliveries] == [False]


def test_notify_test_fails_clearly_when_the_channel_cannot_send(
    tmp_path: Path, refused_port: int
) -> None:
    # Nothing listens: exit 1, and the message says what failed (no traceback).
    closed = webhook_env(tmp_path / "home", f"http://{HOST}:{refused_port}/hook")
    failed = awoooi("notify", "test", "--channel", "webhook", env=closed, cwd=tmp_path)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    message = squeeze(failed.stderr)
    assert "error: webhook: webhook request failed" in message, message
    assert "Traceback" not in failed.stderr
    assert HOOK_SECRET not in failed.stdout + failed.stderr

    # A channel that is not configured: exit 1, naming it.
    env = cli_env(tmp_path / "home")
    slack = awoooi("notify", "test", "--channel", "slack", env=env, cwd=tmp_path)
    assert slack.returncode == 1, slack.stdout + slack.stderr
    assert "channel 'slack' is not in notify.channels or notify.routes" in squeeze(slack.stderr)


# ---------------------------------------------------------------- awoooi notify telegram-setup


def telegram_env(home: Path, api: FakeTelegramAPI, **extra: str) -> dict[str, str]:
    return cli_env(
        home,
        AWOOOI_NOTIFY__CHANNELS='["log", "telegram"]',
        AWOOOI_NOTIFY__TELEGRAM__BOT_TOKEN=BOT_TOKEN,
        AWOOOI_NOTIFY__TELEGRAM__CHAT_ID=CHAT_ID,
        AWOOOI_NOTIFY__TELEGRAM__WEBHOOK_SECRET=WEBHOOK_SECRET,
        AWOOOI_NOTIFY__TELEGRAM__API_URL=api.api_url,
        **extra,
    )


def test_telegram_setup_registers_the_webhook_with_its_secret(
    tmp_path: Path, bot_api: FakeTelegramAPI
) -> None:
    env = telegram_env(tmp_path / "home", bot_api)
    done = awoooi(
        "notify", "telegram-setup", "--url", "https://awoooi.example/", env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr

    [call] = bot_api.calls_to("setWebhook")
    assert call.status == 200
    assert bot_api.webhook == {
        "url": "https://awoooi.example/api/v1/notify/telegram/webhook",
        "secret_token": WEBHOOK_SECRET,
        "allowed_updates": ["callback_query"],
    }
    assert "https://awoooi.example/api/v1/notify/telegram/webhook" in squeeze(done.stdout)
    assert WEBHOOK_SECRET not in done.stdout + done.stderr
    assert BOT_TOKEN not in done.stdout + done.stderr


def test_telegram_setup_refuses_a_webhook_telegram_cannot_call(
    tmp_path: Path, bot_api: FakeTelegramAPI
) -> None:
    env = telegram_env(tmp_path / "home", bot_api)
    plain = awoooi(
        "notify", "telegram-setup", "--url", "http://awoooi.example", env=env, cwd=tmp_path
    )
    assert plain.returncode == 1, plain.stdout + plain.stderr
    assert "https" in squeeze(plain.stderr)
    assert "http://awoooi.example" in squeeze(plain.stderr)

    assert bot_api.calls == []

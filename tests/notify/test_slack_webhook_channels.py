"""The Slack and webhook channels against real receiving servers on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import pytest
from pydantic import SecretStr

from awoooi.core.errors import ConfigError
from awoooi.notify.base import Button, ChannelError, Notifier, OutgoingMessage, Severity
from awoooi.notify.channels.slack import SlackNotifier, slack_payload, split_text
from awoooi.notify.channels.webhook import WebhookNotifier, signature, verify
from awoooi.notify.settings import SlackSettings, WebhookSettings
from tests.helpers.llm_servers import refusing_port

HOST = "127.0.0.1"
AWI_TOKEN = "awi_" + "Zq8xK2mN5pR7tV9wY1bC3dF6gH0jL4nQ8sU2vX5zA7e"
PASSWORD = "hunter2-Corr3ct-Horse"
SLACK_PATH = "/services/T0001/B0002/XyZsecretPart123456789"
WEBHOOK_SECRET = "whk-7b1e0c9a-secret"
SLACK_MARKER = "… (cut; the full text is in awoooi)"


@dataclass(frozen=True)
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    verified: bool | None  # the webhook receiver's own signature check


class Receiver:
    """A receiving server: records requests; answers like Slack or like a webhook consumer.

    As Slack, it refuses what Slack refuses (no text, a header over 150 characters, a section
    over 3000, more than 50 blocks) with `400 invalid_blocks`. As a webhook consumer, it checks
    the signature itself with the documented recipe and answers 401 when it fails.
    """

    def __init__(self, mode: str, *, secret: str = WEBHOOK_SECRET) -> None:
        self.mode = mode
        self.secret = secret
        self.status: int | None = None  # force an answer
        self.answer_body = b""
        self.location: str | None = None
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, answer = receiver.handle(self.path, headers, body)
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(answer)))
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(10)

    @property
    def root(self) -> str:
        assert self._server is not None
        return f"http://{HOST}:{self._server.server_address[1]}"

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        verified = self._verify(headers, body) if self.mode == "webhook" else None
        with self._lock:
            self.requests.append(Received(path, headers, body, verified))
        if self.status is not None:
            return self.status, self.answer_body
        if self.mode == "webhook":
            return (204, b"") if verified else (401, b"bad signature")
        return self._slack(body)

    def _verify(self, headers: dict[str, str], body: bytes) -> bool:
        """The recipe of the webhook module's docstring, written out independently."""
        timestamp = headers.get("x-awoooi-timestamp", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
            return False
        digest = hmac.new(self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
        expected = ("sha256=" + digest.hexdigest()).encode()
        return hmac.compare_digest(expected, headers.get("x-awoooi-signature", "").encode())

    @staticmethod
    def _slack(body: bytes) -> tuple[int, bytes]:
        try:
            payload = json.loads(body)
        except ValueError:
            return 400, b"invalid_payload"
        if not payload.get("text") and not payload.get("blocks"):
            return 400, b"no_text"
        blocks = payload.get("blocks", [])
        if len(blocks) > 50:
            return 400, b"invalid_blocks"
        for block in blocks:
            text = block.get("text", {}).get("text", "")
            limit = {"header": 150, "section": 3000}.get(block["type"])
            if limit is not None and not 0 < len(text) <= limit:
                return 400, b"invalid_blocks"
        return 200, b"ok"

    @property
    def last_json(self) -> Any:
        return json.loads(self.requests[-1].body)


@pytest.fixture
def slack_server() -> Iterator[Receiver]:
    receiver = Receiver("slack").start()
    yield receiver
    receiver.stop()


@pytest.fixture
def webhook_server() -> Iterator[Receiver]:
    receiver = Receiver("webhook").start()
    yield receiver
    receiver.stop()


@pytest.fixture
async def slack(slack_server: Receiver) -> AsyncIterator[SlackNotifier]:
    notifier = SlackNotifier(SlackSettings(webhook_url=SecretStr(slack_server.root + SLACK_PATH)))
    yield notifier
    await notifier.aclose()


@pytest.fixture
async def webhook(webhook_server: Receiver) -> AsyncIterator[WebhookNotifier]:
    settings = WebhookSettings(
        url=webhook_server.root + "/hooks/awoooi", secret=SecretStr(WEBHOOK_SECRET)
    )
    notifier = WebhookNotifier(settings)
    yield notifier
    await notifier.aclose()


def message(
    text: str = "Pod web-1 restarted 5 times.",
    *,
    title: str = "Approve repair #7?",
    buttons: tuple[Button, ...] = (),
) -> OutgoingMessage:
    return OutgoingMessage(
        notification_id=7,
        kind="repair.approval",
        severity=Severity.HIGH,
        title=title,
        text=text,
        buttons=buttons,
    )


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


# -- Slack ---------------------------------------------------------------------------------------


async def test_slack_payload_has_header_sections_context_and_link_buttons(
    slack: SlackNotifier, slack_server: Receiver
) -> None:
    buttons = (
        Button("Approve", action_id="approve:1"),  # Slack cannot press our API: skipped
        Button("Reject", action_id="reject:1", url="https://awoooi.example/r/1"),
        Button("Open", url="https://awoooi.example/repairs/7"),
    )
    text = "<!channel> R&D says a < b > c, see <https://evil.example|here>"

    receipt = await slack.send(message(text, title="Disk <full> & slow", buttons=buttons))

    assert isinstance(slack, Notifier)
    assert receipt.external_id is None
    (request,) = slack_server.requests
    assert request.path == SLACK_PATH
    assert request.headers["content-type"] == "application/json"
    payload = json.loads(request.body)
    assert payload["text"] == "Disk &lt;full&gt; &amp; slow"
    header, section, context, actions = payload["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Disk <full> & slow"},
    }
    assert section == {
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": "&lt;!channel&gt; R&amp;D says a &lt; b &gt; c, see "
            "&lt;https://evil.example|here&gt;",
        },
    }
    assert context["type"] == "context"
    assert [element["text"] for element in context["elements"]] == [
        "*Severity:* high",
        "*Kind:* repair.approval",
    ]
    assert actions == {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Reject"},
                "url": "https://awoooi.example/r/1",
            },
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Open"},
                "url": "https://awoooi.example/repairs/7",
            },
        ],
    }


def test_slack_payload_without_text_or_links_has_no_empty_blocks() -> None:
    payload = slack_payload(message("", buttons=(Button("Approve", action_id="a:1"),)))

    assert [block["type"] for block in payload["blocks"]] == ["header", "context"]


def test_slack_header_is_cut_to_150_characters() -> None:
    payload = slack_payload(message(title="t" * 400))

    header = payload["blocks"][0]["text"]["text"]
    assert len(header) == 150
    assert header.endswith("…")


async def test_slack_long_text_is_split_into_sections_then_cut(
    slack: SlackNotifier, slack_server: Receiver
) -> None:
    text = "\n".join(f"{n:05d} event & <detail> for pod web-{n}" for n in range(2_000))

    await slack.send(message(text))

    blocks = slack_server.last_json["blocks"]
    sections = [block["text"]["text"] for block in blocks if block["type"] == "section"]
    assert len(sections) == 10
    assert all(0 < len(piece) <= 3000 for piece in sections)
    assert sections[-1].endswith(SLACK_MARKER)
    shown = unescape("".join(sections).removesuffix(SLACK_MARKER).removesuffix("\n"))
    assert text.startswith(shown)
    assert len(shown) > 20_000


def test_slack_split_is_exact_when_the_text_fits_and_never_cuts_an_entity() -> None:
    text = "line & <x>\n" * 700  # 7,700 characters, 12,600 escaped

    pieces = split_text(text)

    assert len(pieces) == 5
    assert all(len(piece) <= 3000 for piece in pieces)
    assert unescape("".join(pieces)) == text.rstrip()
    ampersands = split_text("&" * 4_000)
    assert all(len(piece) % 5 == 0 and set(piece.split("&amp;")) == {""} for piece in ampersands)


@pytest.mark.parametrize(("status", "body"), [(500, b"internal_error"), (429, b"rate_limited")])
async def test_slack_non_2xx_is_a_channel_error_without_the_webhook_url(
    slack: SlackNotifier, slack_server: Receiver, status: int, body: bytes
) -> None:
    slack_server.status, slack_server.answer_body = status, body

    with pytest.raises(ChannelError, match=f"HTTP {status}: {body.decode()}") as caught:
        await slack.send(message())

    assert "XyZsecretPart" not in str(caught.value)


async def test_slack_invalid_blocks_are_reported() -> None:
    receiver = Receiver("slack").start()
    try:
        notifier = SlackNotifier(SlackSettings(webhook_url=SecretStr(receiver.root + SLACK_PATH)))
        receiver.status, receiver.answer_body = 400, b"invalid_blocks"
        with pytest.raises(ChannelError, match="HTTP 400: invalid_blocks"):
            await notifier.send(message())
        await notifier.aclose()
    finally:
        receiver.stop()


async def test_slack_connection_failure_hides_the_webhook_url() -> None:
    with refusing_port() as port:
        url = f"http://{HOST}:{port}{SLACK_PATH}"
        notifier = SlackNotifier(SlackSettings(webhook_url=SecretStr(url)))
        with pytest.raises(ChannelError, match="request failed") as caught:
            await notifier.send(message())
        await notifier.aclose()

    assert "XyZsecretPart" not in str(caught.value)
    assert caught.value.__cause__ is None
    assert "XyZsecretPart" not in repr(notifier)


async def test_slack_secrets_are_redacted(slack: SlackNotifier, slack_server: Receiver) -> None:
    await slack.send(message(f"token {AWI_TOKEN}\npassword={PASSWORD}", title=f"t {AWI_TOKEN}"))

    body = slack_server.requests[-1].body
    assert AWI_TOKEN.encode() not in body
    assert PASSWORD.encode() not in body
    assert b"[REDACTED:awoooi_token]" in body


def test_slack_needs_a_webhook_url() -> None:
    with pytest.raises(ConfigError, match="webhook_url"):
        SlackNotifier(SlackSettings())


# -- webhook -------------------------------------------------------------------------------------


async def test_webhook_delivery_is_signed_and_verified_by_the_receiver(
    webhook: WebhookNotifier, webhook_server: Receiver
) -> None:
    buttons = (
        Button("Approve", action_id="approve:1"),
        Button("Open", url="https://awoooi.example/repairs/7"),
    )

    receipt = await webhook.send(message(buttons=buttons))

    assert isinstance(webhook, Notifier)
    assert receipt.external_id is None
    (request,) = webhook_server.requests
    assert request.verified is True  # the receiver's independent HMAC check passed
    assert request.path == "/hooks/awoooi"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "awoooi"
    timestamp = request.headers["x-awoooi-timestamp"]
    assert re.fullmatch(r"[0-9]{10}", timestamp)
    assert re.fullmatch(r"sha256=[0-9a-f]{64}", request.headers["x-awoooi-signature"])
    document = json.loads(request.body)
    assert request.body == json.dumps(document, separators=(",", ":")).encode()  # compact
    assert document == {
        "id": 7,
        "kind": "repair.approval",
        "severity": "high",
        "title": "Approve repair #7?",
        "text": "Pod web-1 restarted 5 times.",
        "buttons": [
            {"label": "Approve", "url": None, "action_id": "approve:1"},
            {"label": "Open", "url": "https://awoooi.example/repairs/7", "action_id": None},
        ],
        "sent_at": datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


async def test_verify_accepts_the_delivery_and_refuses_tampering(
    webhook: WebhookNotifier, webhook_server: Receiver
) -> None:
    await webhook.send(message())
    request = webhook_server.requests[-1]
    timestamp = request.headers["x-awoooi-timestamp"]
    header = request.headers["x-awoooi-signature"]
    body = request.body
    sent = int(timestamp)

    assert verify(WEBHOOK_SECRET, timestamp, body, header)
    assert verify(WEBHOOK_SECRET, timestamp, body, header, now=sent + 300)
    assert not verify(WEBHOOK_SECRET, timestamp, body.replace(b"web-1", b"web-2"), header)
    assert not verify("another-secret", timestamp, body, header)
    assert not verify(WEBHOOK_SECRET, timestamp, body, header, now=sent + 301)  # stale
    assert not verify(WEBHOOK_SECRET, timestamp, body, header, now=sent - 301)  # future
    assert not verify(WEBHOOK_SECRET, str(sent + 1), body, header, now=sent)  # other timestamp
    assert not verify(WEBHOOK_SECRET, timestamp, body, header, tolerance_seconds=0, now=sent + 1)
    assert not verify(WEBHOOK_SECRET, "not-a-number", body, header)
    assert not verify(WEBHOOK_SECRET, timestamp, body, header.upper())
    assert not verify(WEBHOOK_SECRET, timestamp, body, "sha256=ä" + header[8:])
    assert not verify(WEBHOOK_SECRET, timestamp, body, "")


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"id":1}'
    expected = hmac.new(b"k", b"1700000000." + body, hashlib.sha256).hexdigest()

    assert signature("k", "1700000000", body) == "sha256=" + expected


async def test_webhook_timestamp_and_sent_at_come_from_one_clock(webhook_server: Receiver) -> None:
    webhook_server.status = 200  # the receiver's clock check would refuse a 2026 timestamp
    settings = WebhookSettings(url=webhook_server.root + "/h", secret=SecretStr(WEBHOOK_SECRET))
    notifier = WebhookNotifier(settings, clock=lambda: 1_767_225_600.9)
    try:
        await notifier.send(message())
    finally:
        await notifier.aclose()

    request = webhook_server.requests[-1]
    assert request.headers["x-awoooi-timestamp"] == "1767225600"
    assert json.loads(request.body)["sent_at"] == "2026-01-01T00:00:00Z"
    assert verify(
        WEBHOOK_SECRET,
        "1767225600",
        request.body,
        request.headers["x-awoooi-signature"],
        now=1_767_225_600,
    )


async def test_a_receiver_with_another_secret_refuses_and_the_send_fails(
    webhook_server: Receiver,
) -> None:
    settings = WebhookSettings(url=webhook_server.root + "/h", secret=SecretStr("wrong-secret"))
    notifier = WebhookNotifier(settings)
    try:
        with pytest.raises(ChannelError, match="HTTP 401: bad signature"):
            await notifier.send(message())
    finally:
        await notifier.aclose()
    assert webhook_server.requests[-1].verified is False


@pytest.mark.parametrize("status", [500, 404, 302])
async def test_webhook_non_2xx_is_a_channel_error(
    webhook: WebhookNotifier, webhook_server: Receiver, status: int
) -> None:
    webhook_server.status, webhook_server.answer_body = status, b"nope"
    webhook_server.location = webhook_server.root + "/elsewhere"  # a redirect is not followed

    with pytest.raises(ChannelError, match=f"HTTP {status}"):
        await webhook.send(message())

    assert [r.path for r in webhook_server.requests] == ["/hooks/awoooi"]


async def test_webhook_connection_failure_hides_credentials_in_the_url() -> None:
    with refusing_port() as port:
        url = f"http://user:Pa55w0rd-xyz@{HOST}:{port}/hook?token=q1w2e3r4t5"
        notifier = WebhookNotifier(WebhookSettings(url=url, secret=SecretStr(WEBHOOK_SECRET)))
        with pytest.raises(ChannelError, match="request failed") as caught:
            await notifier.send(message())
        await notifier.aclose()

    assert "Pa55w0rd" not in str(caught.value)
    assert "q1w2e3r4t5" not in str(caught.value)
    assert caught.value.__cause__ is None


async def test_webhook_secrets_are_redacted(
    webhook: WebhookNotifier, webhook_server: Receiver
) -> None:
    await webhook.send(message(f"token {AWI_TOKEN}\npassword={PASSWORD}", title=AWI_TOKEN))

    request = webhook_server.requests[-1]
    assert request.verified is True
    assert AWI_TOKEN.encode() not in request.body
    assert PASSWORD.encode() not in request.body
    assert json.loads(request.body)["title"] == "[REDACTED:awoooi_token]"


def test_webhook_needs_a_url_and_a_secret() -> None:
    with pytest.raises(ConfigError):
        WebhookNotifier(WebhookSettings(url="http://127.0.0.1:9/h"))
    with pytest.raises(ConfigError):
        WebhookNotifier(WebhookSettings(secret=SecretStr("s")))

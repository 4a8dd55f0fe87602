"""A small in-process fake of the Telegram Bot API, for testing the `telegram` channel.

`FakeTelegramAPI` runs `http.server.ThreadingHTTPServer` on 127.0.0.1 (port 0, no races) in a
daemon thread and answers `POST|GET /bot<token>/<method>` the way api.telegram.org does: JSON,
form or multipart parameters in, `{"ok": true, "result": ...}` or
`{"ok": false, "error_code": N, "description": "..."}` out.

    with FakeTelegramAPI() as api:
        settings = TelegramSettings(bot_token=api.token, chat_id="42", api_url=api.api_url)
        ...
        api.calls[-1].params                  # every call, parsed (JSON, form or multipart)
        api.message("42", 1).reply_markup     # a sent card, with its later edits
        api.documents()                       # sendDocument uploads (filename, bytes)
        api.fail_next(2, status=429, retry_after=1)   # the next 2 calls are rate limited
        api.fail_next(status=400, description="Bad Request: chat not found")

Methods: sendMessage, sendDocument (multipart), answerCallbackQuery, editMessageText,
setWebhook, getWebhookInfo, getMe. Like the real API it checks the HTML parse mode (only the tags
Telegram knows, balanced; an unescaped `<` is refused, a lone `&` is kept as text), the
4096-character limit measured after entity parsing in UTF-16 code units, the 1024-character
caption limit, inline keyboards (callback_data of 1-64 bytes), edits of unknown messages and
edits that change nothing. A wrong token gets 401 Unauthorized, an unknown method 404.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

JSON = dict[str, Any]

HOST = "127.0.0.1"
STOP_TIMEOUT = 10.0
DEFAULT_TOKEN = "123456789:AAEfakeTelegramTokenForTests_012345"  # a real token's shape
MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_ANSWER_LIMIT = 200
CALLBACK_DATA_MAX_BYTES = 64

# Tags Telegram's HTML parse mode knows (https://core.telegram.org/bots/api#html-style).
ALLOWED_TAGS = frozenset(
    {
        "a", "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span",
        "tg-spoiler", "tg-emoji", "code", "pre", "blockquote",
    }
)  # fmt: skip
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY = re.compile(r"&(?:#(?P<dec>[0-9]{1,7})|#x(?P<hex>[0-9a-fA-F]{1,6})|(?P<name>[a-z]+));")
_PATH = re.compile(r"^/bot(?P<token>[^/]*)/(?P<method>[A-Za-z]+)$")


class ApiError(Exception):
    """An `ok: false` answer: HTTP status = error_code, Telegram's description."""

    def __init__(self, code: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


def utf16_len(text: str) -> int:
    """The length Telegram measures: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def parse_html(text: str) -> str:
    """The visible text of a Telegram HTML message, or ApiError as Telegram words it."""
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "&":
            match = _ENTITY.match(text, i)
            decoded = None
            if match is not None:
                if match["name"] is not None:
                    decoded = _ENTITIES.get(match["name"])
                else:
                    code = int(match["dec"]) if match["dec"] else int(match["hex"], 16)
                    decoded = chr(code) if 0 < code <= 0x10FFFF else None
            if decoded is None or match is None:
                out.append("&")  # Telegram keeps an unknown entity as text
                i += 1
                continue
            out.append(decoded)
            i = match.end()
            continue
        if char != "<":
            out.append(char)
            i += 1
            continue
        offset = len(text[:i].encode())
        end = text.find(">", i)
        if end < 0:
            raise _bad(f"can't parse entities: Unclosed start tag at byte offset {offset}")
        inner = text[i + 1 : end]
        if inner.startswith("/"):
            name = inner[1:].strip().lower()
            if not stack:
                raise _bad(f"can't parse entities: Unexpected end tag at byte offset {offset}")
            if stack[-1] != name:
                raise _bad(
                    "can't parse entities: Unmatched end tag at byte offset "
                    f'{offset}, expected "</{stack[-1]}>", found "</{name}>"'
                )
            stack.pop()
        else:
            name = re.split(r"[\s>]", inner, maxsplit=1)[0].lower()
            if name not in ALLOWED_TAGS:
                raise _bad(
                    f'can\'t parse entities: Unsupported start tag "{name}" at byte offset {offset}'
                )
            stack.append(name)
        i = end + 1
    if stack:
        raise _bad(
            f"can't parse entities: Can't find end tag corresponding to start tag \"{stack[-1]}\""
        )
    return "".join(out)


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request."""

    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class RecordedCall:
    """One Bot API call as the server received it, and the status it answered."""

    method: str  # as in the URL, e.g. "sendMessage"
    params: JSON  # JSON body, form fields or multipart text fields (+ query string)
    files: dict[str, UploadedFile]
    raw: bytes  # the request line's path and the body, to search for leaked secrets
    content_type: str
    time: float  # time.monotonic() on arrival
    status: int


@dataclass
class SentMessage:
    """A message the bot sent, as it stands now (after edits)."""

    chat_id: str
    message_id: int
    text: str  # as sent (HTML), or the caption of a document
    parse_mode: str | None
    visible_text: str  # after entity parsing
    reply_markup: JSON | None
    document: UploadedFile | None = None
    edits: list[JSON] = field(default_factory=list)  # each edit's text and reply_markup


@dataclass
class _Fault:
    status: int
    description: str
    retry_after: int | None
    method: str | None
    remaining: int


class FakeTelegramAPI:
    """The fake Bot API: state, the call record, faults, and the HTTP front end."""

    def __init__(self, token: str = DEFAULT_TOKEN, *, username: str = "awoooi_test_bot") -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 1
        self.username = username
        self.webhook: JSON = {}
        self.callback_answers: list[JSON] = []
        self._calls: list[RecordedCall] = []
        self._messages: list[SentMessage] = []
        self._faults: list[_Fault] = []
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind 127.0.0.1:0 and serve in a daemon thread."""
        owner: FakeTelegramAPI = self

        class Handler(_Handler):
            fake = owner

        server = ThreadingHTTPServer((HOST, 0), Handler)
        server.daemon_threads = True
        self._server = server
        # A short poll keeps shutdown() (which waits for the next poll) from costing 0.5 s.
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.02,), name="fake-telegram-api", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        """`http://127.0.0.1:PORT`, what `notify.telegram.api_url` is set to."""
        assert self._server is not None, "the fake Telegram API is not running"
        return f"http://{HOST}:{self._server.server_address[1]}"

    # -- behaviour -----------------------------------------------------------------------------

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 429,
        retry_after: int | None = None,
        description: str | None = None,
        method: str | None = None,
    ) -> None:
        """Answer the next `count` calls (of `method`, or any) with an error.

        429 answers carry `parameters.retry_after` (default 1) and Telegram's description.
        """
        if status == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            description = (
                f"Too Many Requests: retry after {retry_after}"
                if status == 429
                else "Bad Request: injected failure"
            )
        with self._lock:
            self._faults.append(_Fault(status, description, retry_after, method, count))

    # -- the record ----------------------------------------------------------------------------

    @property
    def calls(self) -> list[RecordedCall]:
        """Every call received, oldest first (a copy), failed ones included."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[RecordedCall]:
        """The calls of one method (e.g. "sendMessage")."""
        return [call for call in self.calls if call.method.lower() == method.lower()]

    @property
    def messages(self) -> list[SentMessage]:
        """Every message sent (cards and documents), oldest first."""
        with self._lock:
            return list(self._messages)

    def message(self, chat_id: str, message_id: int) -> SentMessage:
        """One sent message, as it stands after its edits."""
        with self._lock:
            for sent in self._messages:
                if sent.chat_id == str(chat_id) and sent.message_id == message_id:
                    return sent
        raise LookupError(f"no message {message_id} in chat {chat_id}")

    def documents(self) -> list[SentMessage]:
        """The messages sent with sendDocument."""
        return [sent for sent in self.messages if sent.document is not None]

    def raw_traffic(self) -> bytes:
        """Everything the clients sent (paths and bodies), to search for leaked secrets."""
        return b"\n".join(call.raw for call in self.calls)

    # -- dispatch ------------------------------------------------------------------------------

    def handle(self, verb: str, target: str, content_type: str, body: bytes) -> tuple[int, JSON]:
        """Answer one HTTP request: (status, JSON body)."""
        url = urlsplit(target)
        match = _PATH.match(unquote(url.path))
        if match is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        method = match["method"]
        try:
            params, files = _parse_params(content_type, body, url.query)
        except ValueError as exc:
            params, files = {}, {}
            parse_error: ApiError | None = _bad(str(exc))
        else:
            parse_error = None
        raw = target.encode() + b"\n" + body
        try:
            if parse_error is not None:
                raise parse_error
            if match["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            handler = getattr(self, f"_m_{method.lower()}", None)
            if handler is None:
                raise ApiError(404, "Not Found")
            with self._lock:
                self._take_fault(method)
                result = handler(params, files)
            status, answer = 200, {"ok": True, "result": result}
        except ApiError as error:
            status = error.code
            answer = {"ok": False, "error_code": error.code, "description": error.description}
            if error.parameters:
                answer["parameters"] = error.parameters
        with self._lock:
            self._calls.append(
                RecordedCall(method, params, files, raw, content_type, time.monotonic(), status)
            )
        return status, answer

    def _take_fault(self, method: str) -> None:
        for fault in self._faults:
            if fault.method is None or fault.method.lower() == method.lower():
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                parameters = (
                    None if fault.retry_after is None else {"retry_after": fault.retry_after}
                )
                raise ApiError(fault.status, fault.description, parameters)

    # -- methods -------------------------------------------------------------------------------

    def _bot_user(self) -> JSON:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "awoooi",
            "username": self.username,
        }

    def _chat(self, chat_id: str) -> JSON:
        chat_key = str(chat_id)
        if chat_key.lstrip("-").isdigit():
            return {"id": int(chat_key), "type": "private" if int(chat_key) > 0 else "group"}
        return {"id": -1001, "type": "channel", "username": chat_key.lstrip("@")}

    def _message_json(self, sent: SentMessage) -> JSON:
        answer: JSON = {
            "message_id": sent.message_id,
            "from": self._bot_user(),
            "chat": self._chat(sent.chat_id),
            "date": int(time.time()),
        }
        if sent.document is not None:
            answer["document"] = {
                "file_name": sent.document.filename,
                "mime_type": sent.document.content_type.split(";")[0],
                "file_id": f"file-{sent.message_id}",
                "file_unique_id": f"u{sent.message_id}",
                "file_size": len(sent.document.content),
            }
            if sent.visible_text:
                answer["caption"] = sent.visible_text
        else:
            answer["text"] = sent.visible_text
        if sent.reply_markup and sent.reply_markup.get("inline_keyboard"):
            answer["reply_markup"] = sent.reply_markup
        if sent.edits:
            answer["edit_date"] = int(time.time())
        return answer

    def _m_getme(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        return {**self._bot_user(), "can_join_groups": True, "supports_inline_queries": False}

    def _m_sendmessage(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        chat_id = _required(params, "chat_id")
        text = params.get("text")
        if not isinstance(text, str) or not text:
            raise _bad("message text is empty")
        parse_mode = params.get("parse_mode")
        visible = _visible(text, parse_mode)
        if not visible.strip():
            raise _bad("message text is empty")
        if utf16_len(visible) > MESSAGE_LIMIT:
            raise _bad("message is too long")
        markup = _keyboard(params.get("reply_markup"))
        sent = SentMessage(str(chat_id), next(self._ids), text, parse_mode, visible, markup)
        self._messages.append(sent)
        return self._message_json(sent)

    def _m_senddocument(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        chat_id = _required(params, "chat_id")
        document = files.get("document")
        if document is None:
            if isinstance(params.get("document"), str):
                raise _bad("wrong remote file identifier specified")
            raise _bad("there is no document in the request")
        if not document.content:
            raise _bad("file must be non-empty")
        caption = params.get("caption") or ""
        parse_mode = params.get("parse_mode")
        visible = _visible(caption, parse_mode) if caption else ""
        if utf16_len(visible) > CAPTION_LIMIT:
            raise _bad("message caption is too long")
        markup = _keyboard(params.get("reply_markup"))
        sent = SentMessage(
            str(chat_id), next(self._ids), caption, parse_mode, visible, markup, document
        )
        self._messages.append(sent)
        return self._message_json(sent)

    def _m_answercallbackquery(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        query_id = _required(params, "callback_query_id")
        text = params.get("text") or ""
        if utf16_len(str(text)) > CALLBACK_ANSWER_LIMIT:
            raise _bad("MESSAGE_TOO_LONG")
        self.callback_answers.append(
            {
                "callback_query_id": str(query_id),
                "text": text,
                "show_alert": _truthy(params.get("show_alert")),
            }
        )
        return True

    def _m_editmessagetext(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        chat_id = str(_required(params, "chat_id"))
        try:
            message_id = int(_required(params, "message_id"))
        except (TypeError, ValueError):
            raise _bad("message identifier is not specified") from None
        text = params.get("text")
        if not isinstance(text, str) or not text:
            raise _bad("message text is empty")
        parse_mode = params.get("parse_mode")
        visible = _visible(text, parse_mode)
        if utf16_len(visible) > MESSAGE_LIMIT:
            raise _bad("MESSAGE_TOO_LONG")
        markup = _keyboard(params.get("reply_markup"))
        try:
            sent = self.message(chat_id, message_id)
        except LookupError:
            raise _bad("message to edit not found") from None
        if sent.document is not None:
            raise _bad("there is no text in the message to edit")
        old_buttons = (sent.reply_markup or {}).get("inline_keyboard") or []
        new_buttons = (markup or {}).get("inline_keyboard") or []
        if visible == sent.visible_text and old_buttons == new_buttons:
            raise _bad(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        sent.edits.append({"text": text, "reply_markup": markup})
        sent.text, sent.parse_mode, sent.visible_text = text, parse_mode, visible
        sent.reply_markup = markup
        return self._message_json(sent)

    def _m_setwebhook(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        url = params.get("url") or ""
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_\-]{1,256}", str(secret)):
            raise _bad("secret token contains unallowed characters")
        if url and not str(url).startswith("https://"):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        updates = params.get("allowed_updates")
        if isinstance(updates, str):
            updates = json.loads(updates)
        self.webhook = {"url": url, "secret_token": secret, "allowed_updates": updates}
        return True

    def _m_getwebhookinfo(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        return {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": 0,
            "allowed_updates": self.webhook.get("allowed_updates") or [],
        }


# -- parameters ----------------------------------------------------------------------------------


def _parse_params(
    content_type: str, body: bytes, query: str
) -> tuple[JSON, dict[str, UploadedFile]]:
    """The call's parameters from the query string and a JSON, form or multipart body."""
    params: JSON = dict(parse_qsl(query))
    files: dict[str, UploadedFile] = {}
    kind = content_type.split(";")[0].strip().lower()
    if not body:
        return params, files
    if kind == "application/json":
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise ValueError("can't parse JSON object") from exc
        if not isinstance(document, dict):
            raise ValueError("can't parse JSON object")
        params.update(document)
    elif kind == "application/x-www-form-urlencoded":
        params.update(parse_qsl(body.decode()))
    elif kind == "multipart/form-data":
        for name, part in _multipart(content_type, body):
            filename = part.get_filename()
            payload = part.get_payload(decode=True)
            content = payload if isinstance(payload, bytes) else b""
            if filename is not None:
                files[name] = UploadedFile(filename, part.get_content_type(), content)
            else:
                params[name] = content.decode()
    else:
        raise ValueError(f"unsupported content type {content_type!r}")
    return params, files


def _multipart(content_type: str, body: bytes) -> Iterator[tuple[str, Message]]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not parsed.is_multipart():
        raise ValueError("can't parse multipart body")
    for part in parsed.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name is None:
            raise ValueError("multipart part without a name")
        yield str(name), part


def _required(params: JSON, name: str) -> Any:
    value = params.get(name)
    if value in (None, ""):
        raise _bad(f"{name} is empty" if name == "chat_id" else f"parameter {name} is required")
    return value


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))


def _visible(text: str, parse_mode: Any) -> str:
    if parse_mode is None:
        return text
    if str(parse_mode).lower() != "html":
        raise _bad(f"unsupported parse_mode {parse_mode!r} in this fake")
    return parse_html(text)


def _keyboard(markup: Any) -> JSON | None:
    """The reply_markup, checked like Telegram checks an inline keyboard."""
    if markup is None:
        return None
    if isinstance(markup, str):
        try:
            markup = json.loads(markup)
        except ValueError:
            raise _bad("can't parse reply keyboard markup JSON object") from None
    if not isinstance(markup, dict) or not isinstance(markup.get("inline_keyboard"), list):
        raise _bad("can't parse reply keyboard markup JSON object")
    for row in markup["inline_keyboard"]:
        if not isinstance(row, list):
            raise _bad(
                'field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays'
            )
        for button in row:
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise _bad("can't parse inline keyboard button: Text must be non-empty")
            kinds = [key for key in ("url", "callback_data") if key in button]
            if len(kinds) != 1:
                raise _bad(
                    "can't parse inline keyboard button: Text buttons are unallowed in the "
                    "inline keyboard"
                )
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not 1 <= len(data.encode()) <= 64:
                    raise _bad("BUTTON_DATA_INVALID")
            elif not re.match(r"(?i)^(https?|tg)://", str(button["url"])):
                raise _bad(f"inline keyboard button URL '{button['url']}' is invalid")
    return markup


# -- HTTP front end ------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive, like api.telegram.org."""

    protocol_version = "HTTP/1.1"
    fake: FakeTelegramAPI  # set on the subclass FakeTelegramAPI.start makes

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, verb: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type") or ""
        status, answer = self.fake.handle(verb, self.path, content_type, raw)
        body = json.dumps(answer).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            parameters = answer.get("parameters") or {}
            if "retry_after" in parameters:
                self.send_header("Retry-After", str(parameters["retry_after"]))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True  # the client went away

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line."""


@pytest.fixture
def telegram_api() -> Iterator[FakeTelegramAPI]:
    """A running FakeTelegramAPI; `api_url` and `token` configure a client for it."""
    with FakeTelegramAPI() as api:
        yield api

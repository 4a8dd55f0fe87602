"""Small real LLM HTTP servers on 127.0.0.1 for testing the LLM router against real wire formats.

`OpenAIServer` speaks OpenAI chat completions (as served by OpenAI, NVIDIA NIM and vLLM) and
`OllamaServer` speaks Ollama's native API. Each runs `asyncio.start_server` with a minimal
HTTP/1.1 parser on its own event loop in a daemon thread, so starting and stopping never touches
the test's loop and works from sync and async tests alike; the port is bound as 0 (no races).

Behaviour is plain attributes, read on every request, so a test may switch it at any time:

    openai_server.answer = "hi"                # or a callable: request JSON -> text
    openai_server.delay = 5.0                  # seconds before the response (headers included)
    openai_server.status = 500                 # with `error_body` or the server's own error JSON
    openai_server.malformed = True             # 200 with invalid JSON ("json") or "truncated"
    openai_server.drip = 0.05                  # headers now, then `drip_bytes` every 0.05 s
    openai_server.configure(delay=1.0, status=503)   # several at once; `reset()` restores all

Faults (`delay`, `status`, `malformed`, `drip`) hit the chat endpoint only unless
`faults_on = "all"`. Every request is recorded (`requests`, `chat_requests`, `last_request`)
before any fault is applied. Token counts are the number of whitespace-separated words unless
`prompt_tokens` / `completion_tokens` are set.

Fixtures: `openai_server`, `ollama_server` (function-scoped, running) and `refused_url`. Load
them with `pytest_plugins = ["tests.helpers.llm_servers"]` in the root conftest, or bind them in a
test module (`openai_server = llm_servers.openai_server`); a test module that both imports this
module and lists it in its own `pytest_plugins` gets a PytestAssertRewriteWarning.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import http
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from types import TracebackType
from typing import Any, ClassVar, Literal, Self
from urllib.parse import urlsplit

import pytest

JSONObject = dict[str, Any]
AnswerFn = Callable[[JSONObject], str]
Answer = str | AnswerFn
Malformed = Literal["json", "truncated"]
FaultScope = Literal["chat", "all"]

HOST = "127.0.0.1"
START_TIMEOUT = 10.0  # bounds on waiting for the server thread, never asserted
STOP_TIMEOUT = 10.0
DEFAULT_ANSWER = "Hello from the test server."
MAX_BODY = 16 * 1024 * 1024
# What a "json" malformed response sends: a complete HTTP body that is not JSON.
MALFORMED_BODY = b'{"id": "chatcmpl-broken", "choices": [{"message": {"content": "unterminated'
_WORD = re.compile(r"\s*\S+\s*|\s+")


def count_words(text: str) -> int:
    """The servers' default token count: whitespace-separated words."""
    return len(text.split())


def _content_text(content: Any) -> str:
    """The text of a message's content: a string, or OpenAI's list of typed parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return ""


def _pieces(text: str) -> list[str]:
    """`text` split into word-sized streaming pieces that concatenate back to it."""
    return _WORD.findall(text) or [""]


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str  # without the query string
    query: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    json: Any  # the parsed body, None when empty or not JSON

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class _Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    stream: list[bytes] | None = None  # chunked transfer encoding, one piece per chunk
    headers: dict[str, str] = field(default_factory=dict)
    truncate: bool = False  # promise len(body) bytes, send half, close

    @classmethod
    def json(cls, status: int, value: Any) -> _Response:
        return cls(status, _dumps(value))


class _BadRequest(Exception):
    pass


async def _read_request(reader: asyncio.StreamReader) -> tuple[RecordedRequest, bool] | None:
    """The next request on the connection and whether it allows keep-alive; None at EOF."""
    line = await reader.readline()
    if not line.strip():
        return None
    try:
        method, target, version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    except ValueError as exc:
        raise _BadRequest(f"bad request line {line!r}") from exc
    headers: dict[str, str] = {}
    while True:
        raw = await reader.readline()
        if raw in (b"\r\n", b"\n"):
            break
        if not raw:
            raise _BadRequest("connection closed inside the headers")
        name, sep, value = raw.decode("latin-1").partition(":")
        if not sep:
            raise _BadRequest(f"bad header line {raw!r}")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts = []
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts)
    else:
        length = int(headers.get("content-length", "0") or "0")
        if length > MAX_BODY:
            raise _BadRequest("body too large")
        body = await reader.readexactly(length) if length else b""
    parsed: Any = None
    if body:
        with contextlib.suppress(ValueError):
            parsed = json.loads(body)
    url = urlsplit(target)
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" and (version == "HTTP/1.1" or connection == "keep-alive")
    request = RecordedRequest(method.upper(), url.path, url.query, headers, body, parsed)
    return request, keep_alive


class LLMServer:
    """The common machinery: thread, loop, HTTP/1.1, recording and fault injection."""

    chat_path: ClassVar[str]
    default_models: ClassVar[tuple[str, ...]] = ("test-model",)
    _BEHAVIOUR: ClassVar[tuple[str, ...]] = (
        "answer",
        "delay",
        "status",
        "error_body",
        "response_headers",
        "malformed",
        "drip",
        "drip_bytes",
        "prompt_tokens",
        "completion_tokens",
        "models",
        "reject_unknown_models",
        "faults_on",
        "api_key",
    )

    def __init__(self, **behaviour: Any) -> None:
        self.host = HOST
        self.port = 0
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self.reset()
        self.configure(**behaviour)

    # -- behaviour ---------------------------------------------------------------------------

    def reset(self) -> None:
        """Restore every behaviour to its default (the request record is kept)."""
        self.answer: Answer = DEFAULT_ANSWER
        self.delay: float = 0.0
        self.status: int = 200
        self.error_body: str | bytes | JSONObject | None = None
        self.response_headers: dict[str, str] = {}
        self.malformed: bool | Malformed = False
        self.drip: float = 0.0
        self.drip_bytes: int = 1
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.models: list[str] = list(self.default_models)
        self.reject_unknown_models: bool = False
        self.faults_on: FaultScope = "chat"
        self.api_key: str | None = None

    def configure(self, **changes: Any) -> Self:
        """Set several behaviours at once; unknown names raise TypeError."""
        unknown = sorted(set(changes) - set(self._BEHAVIOUR))
        if unknown:
            raise TypeError(f"unknown behaviour(s) {unknown}; known: {list(self._BEHAVIOUR)}")
        for name, value in changes.items():
            setattr(self, name, value)
        return self

    # -- the record --------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """The requests to the chat endpoint."""
        return [request for request in self.requests if request.path == self.chat_path]

    @property
    def last_request(self) -> RecordedRequest:
        requests = self.requests
        if not requests:
            raise LookupError(f"{type(self).__name__} has received no request")
        return requests[-1]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- addresses ---------------------------------------------------------------------------

    @property
    def root_url(self) -> str:
        """`http://127.0.0.1:PORT`, without any API prefix."""
        if not self.port:
            raise RuntimeError(f"{type(self).__name__} is not running")
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The URL a client is configured with (subclasses add their API prefix)."""
        return self.root_url

    def url(self, path: str) -> str:
        """An absolute URL for `path` on this server (path from the root, e.g. /api/tags)."""
        return self.root_url + path

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        self._ready.clear()
        self._start_error = None
        thread = threading.Thread(target=self._run, name=f"{type(self).__name__}", daemon=True)
        self._thread = thread
        thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise RuntimeError(f"{type(self).__name__} did not start within {START_TIMEOUT}s")
        if self._start_error is not None:
            self._thread = None
            thread.join(STOP_TIMEOUT)
            raise RuntimeError(f"{type(self).__name__} failed to start") from self._start_error
        return self

    def stop(self) -> None:
        """Stop serving: abort delayed and dripping responses, close every connection."""
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None:
            return
        if loop is not None and stop_event is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stop_event.set)
        thread.join(STOP_TIMEOUT)
        if thread.is_alive():
            raise RuntimeError(f"{type(self).__name__} did not stop within {STOP_TIMEOUT}s")
        self._thread = None
        self._loop = None
        self._stop_event = None
        self.port = 0

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._serve(loop))
        except BaseException as exc:
            self._start_error = exc
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()
                self._ready.set()

    async def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        stop_event = asyncio.Event()
        server = await asyncio.start_server(self._handle, self.host, 0)
        self.port = server.sockets[0].getsockname()[1]
        self._loop, self._stop_event = loop, stop_event
        self._ready.set()
        try:
            await stop_event.wait()
        finally:
            server.close()
            current = asyncio.current_task()
            tasks = [task for task in asyncio.all_tasks() if task is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await server.wait_closed()

    # -- HTTP --------------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    received = await _read_request(reader)
                except (_BadRequest, ValueError) as exc:
                    await self._write(writer, _Response(400, str(exc).encode(), "text/plain"), 0)
                    return
                if received is None:
                    return
                request, keep_alive = received
                if not await self._respond(request, writer, keep_alive):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away, e.g. at its deadline
        except asyncio.CancelledError:
            # stop() cancels every handler; ending normally keeps asyncio's stream callback
            # (which calls task.exception()) from logging the cancellation as an error.
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _respond(
        self, request: RecordedRequest, writer: asyncio.StreamWriter, keep_alive: bool
    ) -> bool:
        """Answer one request; whether the connection stays open."""
        with self._lock:
            self._requests.append(request)
        faulted = self.faults_on == "all" or request.path == self.chat_path
        if faulted and self.delay > 0:
            await asyncio.sleep(self.delay)
        response = self._build(request, faulted)
        response.headers = {**response.headers, **self.response_headers}
        drip = self.drip if faulted else 0.0
        keep_alive = keep_alive and not response.truncate
        await self._write(writer, response, drip, keep_alive=keep_alive)
        return keep_alive

    def _build(self, request: RecordedRequest, faulted: bool) -> _Response:
        if self.api_key is not None:
            authorization = request.header("authorization")
            if authorization != f"Bearer {self.api_key}":
                return self._unauthorized(authorization)
        if faulted and self.status != 200:
            return self._injected_error(self.status)
        if faulted and self.malformed:
            if self.malformed == "truncated":
                return self._truncated(request)
            return _Response(200, MALFORMED_BODY)
        routes = self._routes()
        handlers = {
            method: handler for (method, path), handler in routes.items() if path == request.path
        }
        if not handlers:
            return self._not_found(request)
        handler = handlers.get(request.method)
        if handler is None:
            response = self._error(405, "method not allowed")
            response.headers["Allow"] = ", ".join(sorted(handlers))
            return response
        return handler(request)

    def _truncated(self, request: RecordedRequest) -> _Response:
        """A valid-looking 200 whose body stops halfway (Content-Length promises more)."""
        routes = self._routes()
        handler = routes.get((request.method, request.path))
        body = handler(request).body if handler is not None else b""
        if len(body) < 2:
            body = MALFORMED_BODY
        return _Response(200, body, truncate=True)

    async def _write(
        self,
        writer: asyncio.StreamWriter,
        response: _Response,
        drip: float,
        *,
        keep_alive: bool = False,
    ) -> None:
        try:
            phrase = http.HTTPStatus(response.status).phrase
        except ValueError:
            phrase = "Unknown"
        head = [
            f"HTTP/1.1 {response.status} {phrase}",
            f"Date: {formatdate(usegmt=True)}",
            "Server: awoooi-test-llm",
            f"Content-Type: {response.content_type}",
        ]
        if response.stream is not None:
            head.append("Transfer-Encoding: chunked")
        else:
            head.append(f"Content-Length: {len(response.body)}")
        head.append(f"Connection: {'keep-alive' if keep_alive else 'close'}")
        head.extend(f"{name}: {value}" for name, value in response.headers.items())
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        if response.stream is None:
            body = response.body[: len(response.body) // 2] if response.truncate else response.body
            await self._emit(writer, body, drip, chunked=False)
        else:
            for piece in response.stream:
                await self._emit(writer, piece, drip, chunked=True)
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    async def _emit(
        self, writer: asyncio.StreamWriter, data: bytes, drip: float, *, chunked: bool
    ) -> None:
        """Send `data`; when dripping, `drip_bytes` at a time with `drip` seconds before each."""
        size = max(1, self.drip_bytes) if drip > 0 else max(1, len(data))
        for start in range(0, len(data), size):
            part = data[start : start + size]
            if drip > 0:
                await asyncio.sleep(drip)
            writer.write(f"{len(part):x}\r\n".encode() + part + b"\r\n" if chunked else part)
            await writer.drain()

    # -- shared chat logic -------------------------------------------------------------------

    def _answer_text(self, body: JSONObject) -> str:
        answer = self.answer
        return answer(body) if callable(answer) else answer

    def _token_counts(self, body: JSONObject, text: str) -> tuple[int, int]:
        prompt = self.prompt_tokens
        if prompt is None:
            prompt = sum(
                count_words(_content_text(message.get("content")))
                for message in body.get("messages", [])
                if isinstance(message, Mapping)
            )
        completion = self.completion_tokens
        if completion is None:
            completion = count_words(text)
        return prompt, completion

    def _validate_chat(self, request: RecordedRequest) -> tuple[JSONObject, str] | _Response:
        """The request JSON and the answer text, or the error response to send."""
        body = request.json
        if not isinstance(body, dict):
            return self._error(400, "request body must be a JSON object")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return self._error(400, "model is required")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return self._error(400, "messages must be a non-empty list")
        for message in messages:
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                return self._error(400, "each message needs a string role")
        if self.reject_unknown_models and model not in self.models:
            return self._unknown_model(model)
        try:
            text = self._answer_text(body)
        except Exception as exc:
            return self._error(500, f"answer callable raised {exc!r}")
        return body, text

    # -- per-API hooks -----------------------------------------------------------------------

    def _routes(self) -> dict[tuple[str, str], Callable[[RecordedRequest], _Response]]:
        raise NotImplementedError

    def _error(self, status: int, message: str) -> _Response:
        raise NotImplementedError

    def _unauthorized(self, authorization: str | None) -> _Response:
        return self._error(401, "unauthorized")

    def _unknown_model(self, model: str) -> _Response:
        return self._error(404, f"model {model!r} not found")

    def _not_found(self, request: RecordedRequest) -> _Response:
        return self._error(404, f"{request.method} {request.path} not found")

    def _injected_error(self, status: int) -> _Response:
        body = self.error_body
        if body is None:
            return self._error(status, f"injected failure (HTTP {status})")
        if isinstance(body, dict):
            return _Response.json(status, body)
        if isinstance(body, str):
            return _Response(status, body.encode(), "text/plain; charset=utf-8")
        return _Response(status, body, "text/plain; charset=utf-8")


class OpenAIServer(LLMServer):
    """OpenAI chat completions: `POST /v1/chat/completions`, `GET /v1/models`.

    `base_url` is `http://127.0.0.1:PORT/v1`, the convention of OpenAI clients. With `api_key`
    set, every request needs `Authorization: Bearer <api_key>` or gets OpenAI's 401.
    `"stream": true` is answered with server-sent events ending in `data: [DONE]`.
    """

    chat_path = "/v1/chat/completions"

    def __init__(self, *, api_key: str | None = None, **behaviour: Any) -> None:
        super().__init__(api_key=api_key, **behaviour)

    @property
    def base_url(self) -> str:
        return self.root_url + "/v1"

    def _routes(self) -> dict[tuple[str, str], Callable[[RecordedRequest], _Response]]:
        return {("POST", self.chat_path): self._chat, ("GET", "/v1/models"): self._list_models}

    @staticmethod
    def _error_json(
        status: int, message: str, error_type: str, code: str | None, param: str | None = None
    ) -> _Response:
        error = {"message": message, "type": error_type, "param": param, "code": code}
        return _Response.json(status, {"error": error})

    def _error(self, status: int, message: str) -> _Response:
        error_type = "server_error" if status >= 500 else "invalid_request_error"
        return self._error_json(status, message, error_type, None)

    def _unauthorized(self, authorization: str | None) -> _Response:
        message = (
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            if authorization is None
            else "Incorrect API key provided."
        )
        return self._error_json(401, message, "invalid_request_error", "invalid_api_key")

    def _unknown_model(self, model: str) -> _Response:
        message = f"The model `{model}` does not exist or you do not have access to it."
        return self._error_json(404, message, "invalid_request_error", "model_not_found")

    def _not_found(self, request: RecordedRequest) -> _Response:
        message = f"Invalid URL ({request.method} {request.path})"
        return self._error_json(404, message, "invalid_request_error", None)

    def _list_models(self, request: RecordedRequest) -> _Response:
        data = [
            {"id": model, "object": "model", "created": 0, "owned_by": "test"}
            for model in self.models
        ]
        return _Response.json(200, {"object": "list", "data": data})

    def _chat(self, request: RecordedRequest) -> _Response:
        checked = self._validate_chat(request)
        if isinstance(checked, _Response):
            return checked
        body, text = checked
        prompt, completion = self._token_counts(body, text)
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        ident, created, model = f"chatcmpl-{uuid.uuid4().hex}", int(time.time()), body["model"]
        if body.get("stream") is True:
            return self._sse(body, text, usage, ident, created, model)
        return _Response.json(
            200,
            {
                "id": ident,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            },
        )

    @staticmethod
    def _sse(
        body: JSONObject,
        text: str,
        usage: dict[str, int],
        ident: str,
        created: int,
        model: str,
    ) -> _Response:
        def chunk(delta: JSONObject, finish: str | None) -> JSONObject:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [choice],
            }

        events = [chunk({"role": "assistant", "content": ""}, None)]
        events += [chunk({"content": piece}, None) for piece in _pieces(text)]
        events.append(chunk({}, "stop"))
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            events.append({**chunk({}, None), "choices": [], "usage": usage})
        stream = [b"data: " + _dumps(event) + b"\n\n" for event in events]
        stream.append(b"data: [DONE]\n\n")
        return _Response(200, content_type="text/event-stream; charset=utf-8", stream=stream)


class OllamaServer(LLMServer):
    """Ollama's native API: `POST /api/chat`, `GET /api/tags`, `GET /api/version`, `GET /`.

    `base_url` is `http://127.0.0.1:PORT`. Like real Ollama, a chat request without
    `"stream": false` is answered as a chunked NDJSON stream (partial `"done": false` lines, then
    a final `"done": true` line with the counts), so a client that forgets to disable streaming
    gets a body that is not one JSON document.
    """

    chat_path = "/api/chat"
    version = "0.6.2"
    LOAD_NS: ClassVar[int] = 1_000_000
    PROMPT_NS_PER_TOKEN: ClassVar[int] = 100_000
    EVAL_NS_PER_TOKEN: ClassVar[int] = 10_000_000

    def _routes(self) -> dict[tuple[str, str], Callable[[RecordedRequest], _Response]]:
        return {
            ("POST", self.chat_path): self._chat,
            ("GET", "/api/tags"): self._tags,
            ("GET", "/api/version"): self._version,
            ("GET", "/"): self._root,
        }

    def _error(self, status: int, message: str) -> _Response:
        return _Response.json(status, {"error": message})

    def _unknown_model(self, model: str) -> _Response:
        return self._error(404, f'model "{model}" not found, try pulling it first')

    def _not_found(self, request: RecordedRequest) -> _Response:
        return _Response(404, b"404 page not found", "text/plain")

    def _root(self, request: RecordedRequest) -> _Response:
        return _Response(200, b"Ollama is running", "text/plain; charset=utf-8")

    def _version(self, request: RecordedRequest) -> _Response:
        return _Response.json(200, {"version": self.version})

    def _tags(self, request: RecordedRequest) -> _Response:
        models = [
            {
                "name": model,
                "model": model,
                "modified_at": "2025-01-01T00:00:00Z",
                "size": 4_920_753_328,
                "digest": hashlib.sha256(model.encode()).hexdigest(),
                "details": {
                    "parent_model": "",
                    "format": "gguf",
                    "family": "llama",
                    "families": ["llama"],
                    "parameter_size": "8.0B",
                    "quantization_level": "Q4_K_M",
                },
            }
            for model in self.models
        ]
        return _Response.json(200, {"models": models})

    def _chat(self, request: RecordedRequest) -> _Response:
        checked = self._validate_chat(request)
        if isinstance(checked, _Response):
            return checked
        body, text = checked
        prompt, completion = self._token_counts(body, text)
        model = body["model"]
        created_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        prompt_ns = prompt * self.PROMPT_NS_PER_TOKEN
        eval_ns = completion * self.EVAL_NS_PER_TOKEN
        final = {
            "model": model,
            "created_at": created_at,
            "message": {"role": "assistant", "content": text},
            "done_reason": "stop",
            "done": True,
            "total_duration": self.LOAD_NS + prompt_ns + eval_ns,
            "load_duration": self.LOAD_NS,
            "prompt_eval_count": prompt,
            "prompt_eval_duration": prompt_ns,
            "eval_count": completion,
            "eval_duration": eval_ns,
        }
        if body.get("stream") is False:
            return _Response.json(200, final)
        lines = [
            {
                "model": model,
                "created_at": created_at,
                "message": {"role": "assistant", "content": piece},
                "done": False,
            }
            for piece in _pieces(text)
        ]
        lines.append({**final, "message": {"role": "assistant", "content": ""}})
        stream = [_dumps(line) + b"\n" for line in lines]
        return _Response(200, content_type="application/x-ndjson", stream=stream)


# -- refused connections -----------------------------------------------------------------------


@contextlib.contextmanager
def refusing_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses connections for as long as the block runs.

    The socket stays bound but never listens, so the kernel answers every connection attempt
    with a reset and no other process can take the port meanwhile.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        yield port


def refused_port() -> int:
    """A port on 127.0.0.1 that nothing listened on a moment ago (bound, then closed)."""
    with refusing_port() as port:
        return port


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    """A running OpenAIServer on a free port; `base_url` is `http://127.0.0.1:PORT/v1`."""
    with OpenAIServer() as server:
        yield server


@pytest.fixture
def ollama_server() -> Iterator[OllamaServer]:
    """A running OllamaServer on a free port; `base_url` is `http://127.0.0.1:PORT`."""
    with OllamaServer() as server:
        yield server


@pytest.fixture
def refused_url() -> Iterator[str]:
    """`http://127.0.0.1:PORT` where PORT refuses connections for the whole test."""
    with refusing_port() as port:
        yield f"http://{HOST}:{port}"

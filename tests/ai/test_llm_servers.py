"""The fake LLM servers of tests/helpers/llm_servers.py, exercised with plain httpx."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import httpx
import pytest

from tests.helpers import llm_servers
from tests.helpers.llm_servers import MALFORMED_BODY, OllamaServer, OpenAIServer, refused_port

# The helper's fixtures, made visible to this module's tests (other modules can do the same, or
# list "tests.helpers.llm_servers" in a root conftest's pytest_plugins).
openai_server = llm_servers.openai_server
ollama_server = llm_servers.ollama_server
refused_url = llm_servers.refused_url

MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Why is the pod crash looping?"},
]
OPENAI_CHAT = {"model": "test-model", "messages": MESSAGES, "temperature": 0.1, "max_tokens": 64}
OLLAMA_CHAT = {"model": "llama3.1:8b", "messages": MESSAGES, "stream": False}
LONG_ANSWER = "the quick brown fox jumps over the lazy dog " * 4


# -- OpenAI ------------------------------------------------------------------------------------


async def test_openai_success_shape_and_usage(openai_server: OpenAIServer) -> None:
    openai_server.answer = "Out of memory: raise the limit."
    assert openai_server.base_url == f"http://127.0.0.1:{openai_server.port}/v1"
    async with httpx.AsyncClient(base_url=openai_server.base_url) as client:
        response = await client.post("/chat/completions", json=OPENAI_CHAT)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["id"].startswith("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int)
    assert body["model"] == "test-model"
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Out of memory: raise the limit."},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    # 3 + 6 words in the prompt, 6 in the answer
    assert body["usage"] == {"prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15}


async def test_openai_records_requests(openai_server: OpenAIServer) -> None:
    async with httpx.AsyncClient(base_url=openai_server.base_url) as client:
        await client.get("/models")
        await client.post("/chat/completions?x=1", json=OPENAI_CHAT, headers={"X-Trace": "abc"})
    first, second = openai_server.requests
    assert (first.method, first.path, first.json) == ("GET", "/v1/models", None)
    assert (second.method, second.path, second.query) == ("POST", "/v1/chat/completions", "x=1")
    assert second.json == OPENAI_CHAT
    assert json.loads(second.body) == OPENAI_CHAT
    assert second.headers["x-trace"] == "abc"
    assert second.header("Content-Type") == "application/json"
    assert openai_server.chat_requests == [second]
    assert openai_server.last_request == second
    openai_server.clear_requests()
    assert openai_server.requests == []
    with pytest.raises(LookupError):
        _ = openai_server.last_request


async def test_openai_models(openai_server: OpenAIServer) -> None:
    openai_server.models = ["meta/llama-3.1-8b-instruct", "other"]
    async with httpx.AsyncClient(base_url=openai_server.base_url) as client:
        response = await client.get("/models")
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    assert [(m["id"], m["object"]) for m in body["data"]] == [
        ("meta/llama-3.1-8b-instruct", "model"),
        ("other", "model"),
    ]


async def test_openai_bearer_check(openai_server: OpenAIServer) -> None:
    openai_server.api_key = "nvapi-secret"
    async with httpx.AsyncClient(base_url=openai_server.base_url) as client:
        missing = await client.post("/chat/completions", json=OPENAI_CHAT)
        wrong = await client.post(
            "/chat/completions", json=OPENAI_CHAT, headers={"Authorization": "Bearer nope"}
        )
        models = await client.get("/models")
        good = await client.post(
            "/chat/completions",
            json=OPENAI_CHAT,
            headers={"Authorization": "Bearer nvapi-secret"},
        )
    for response in (missing, wrong, models):
        assert response.status_code == 401
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert error["code"] == "invalid_api_key"
        assert error["message"]
    assert good.status_code == 200
    assert openai_server.last_request.headers["authorization"] == "Bearer nvapi-secret"
    assert len(openai_server.requests) == 4  # rejected requests are recorded too


async def test_openai_unknown_model_and_bad_request(openai_server: OpenAIServer) -> None:
    openai_server.reject_unknown_models = True
    async with httpx.AsyncClient(base_url=openai_server.base_url) as client:
        unknown = await client.post("/chat/completions", json={**OPENAI_CHAT, "model": "nope"})
        bad = await client.post("/chat/completions", content=b"{not json")
        no_messages = await client.post("/chat/completions", json={"model": "test-model"})
        wrong_method = await client.get("/chat/completions")
        nowhere = await client.get("/nowhere")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "model_not_found"
    assert bad.status_code == 400
    assert bad.json()["error"]["type"] == "invalid_request_error"
    assert no_messages.status_code == 400
    assert wrong_method.status_code == 405
    assert nowhere.status_code == 404


async def test_openai_streaming_is_server_sent_events(openai_server: OpenAIServer) -> None:
    openai_server.answer = "one two three"
    request = {**OPENAI_CHAT, "stream": True, "stream_options": {"include_usage": True}}
    async with httpx.AsyncClient(base_url=openai_server.base_url) as client:
        response = await client.post("/chat/completions", json=request)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [line[6:] for line in response.text.split("\n\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "one two three"
    assert chunks[-1]["usage"]["completion_tokens"] == 3


async def test_answer_callable_and_configured_counts(openai_server: OpenAIServer) -> None:
    def answer(request: dict[str, Any]) -> str:
        return f"{request['model']} saw {len(request['messages'])} messages"

    openai_server.configure(answer=answer, prompt_tokens=1000, completion_tokens=7)
    async with httpx.AsyncClient(base_url=openai_server.base_url) as client:
        body = (await client.post("/chat/completions", json=OPENAI_CHAT)).json()
    assert body["choices"][0]["message"]["content"] == "test-model saw 2 messages"
    assert body["usage"] == {"prompt_tokens": 1000, "completion_tokens": 7, "total_tokens": 1007}

    def broken(request: dict[str, Any]) -> str:
        raise ValueError("boom")

    openai_server.answer = broken
    async with httpx.AsyncClient(base_url=openai_server.base_url) as client:
        response = await client.post("/chat/completions", json=OPENAI_CHAT)
    assert response.status_code == 500
    assert "boom" in response.json()["error"]["message"]


def test_configure_and_reset() -> None:
    server = OpenAIServer(api_key="k", delay=1.5)
    assert (server.api_key, server.delay) == ("k", 1.5)
    with pytest.raises(TypeError, match="unknown behaviour"):
        server.configure(dealy=1.0)
    server.reset()
    assert (server.api_key, server.delay, server.status) == (None, 0.0, 200)
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.base_url


# -- Ollama ------------------------------------------------------------------------------------


async def test_ollama_success_shape_and_counts(ollama_server: OllamaServer) -> None:
    ollama_server.answer = "Raise the memory limit."
    assert ollama_server.base_url == f"http://127.0.0.1:{ollama_server.port}"
    request = {**OLLAMA_CHAT, "options": {"temperature": 0.1, "num_predict": 64}}
    async with httpx.AsyncClient(base_url=ollama_server.base_url) as client:
        response = await client.post("/api/chat", json=request)
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "llama3.1:8b"
    assert body["created_at"].endswith("Z")
    assert body["message"] == {"role": "assistant", "content": "Raise the memory limit."}
    assert body["done"] is True
    assert body["done_reason"] == "stop"
    assert body["prompt_eval_count"] == 9
    assert body["eval_count"] == 4
    for key in ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration"):
        assert isinstance(body[key], int)
        assert body[key] > 0
    assert ollama_server.last_request.json == request


@pytest.mark.parametrize("stream", [None, True])
async def test_ollama_streams_unless_told_not_to(
    ollama_server: OllamaServer, stream: bool | None
) -> None:
    ollama_server.answer = "Raise the memory limit."
    request: dict[str, Any] = {"model": "llama3.1:8b", "messages": MESSAGES}
    if stream is not None:
        request["stream"] = stream
    async with httpx.AsyncClient(base_url=ollama_server.base_url) as client:
        response = await client.post("/api/chat", json=request)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.headers["transfer-encoding"] == "chunked"
    with pytest.raises(json.JSONDecodeError):
        response.json()  # what a client that forgot "stream": false trips over
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert len(lines) > 2
    assert all(line["done"] is False for line in lines[:-1])
    final = lines[-1]
    assert final["done"] is True
    assert final["done_reason"] == "stop"
    assert final["eval_count"] == 4
    assert final["prompt_eval_count"] == 9
    assert "".join(line["message"]["content"] for line in lines) == "Raise the memory limit."


async def test_ollama_tags_version_and_root(ollama_server: OllamaServer) -> None:
    ollama_server.models = ["qwen2.5:7b"]
    async with httpx.AsyncClient(base_url=ollama_server.base_url) as client:
        tags = await client.get("/api/tags")
        version = await client.get("/api/version")
        root = await client.get("/")
    model = tags.json()["models"][0]
    assert (model["name"], model["model"]) == ("qwen2.5:7b", "qwen2.5:7b")
    assert {"size", "digest", "modified_at", "details"} <= set(model)
    assert isinstance(version.json()["version"], str)
    assert root.text == "Ollama is running"


async def test_ollama_unknown_model(ollama_server: OllamaServer) -> None:
    ollama_server.reject_unknown_models = True
    async with httpx.AsyncClient(base_url=ollama_server.base_url) as client:
        response = await client.post("/api/chat", json={**OLLAMA_CHAT, "model": "nope"})
    assert response.status_code == 404
    assert response.json() == {"error": 'model "nope" not found, try pulling it first'}


# -- faults, on both servers -------------------------------------------------------------------


def _chat_call(server: OpenAIServer | OllamaServer) -> tuple[str, dict[str, Any]]:
    if isinstance(server, OpenAIServer):
        return server.base_url + "/chat/completions", OPENAI_CHAT
    return server.base_url + "/api/chat", OLLAMA_CHAT


@pytest.fixture(params=["openai", "ollama"])
def server(
    request: pytest.FixtureRequest, openai_server: OpenAIServer, ollama_server: OllamaServer
) -> OpenAIServer | OllamaServer:
    return openai_server if request.param == "openai" else ollama_server


async def test_delay_exceeds_client_deadline(server: OpenAIServer | OllamaServer) -> None:
    url, payload = _chat_call(server)
    server.delay = 5.0
    async with httpx.AsyncClient(timeout=0.3) as client:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            await client.post(url, json=payload)
        assert time.monotonic() - started < 4.0
    assert server.last_request.json == payload  # recorded before the delay

    server.delay = 0.3
    async with httpx.AsyncClient(timeout=5.0) as client:
        started = time.monotonic()
        response = await client.post(url, json=payload)
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.29  # the delay, give or take clock resolution


async def test_status_with_default_and_custom_body(server: OpenAIServer | OllamaServer) -> None:
    url, payload = _chat_call(server)
    listing = server.url("/v1/models" if isinstance(server, OpenAIServer) else "/api/tags")
    server.status = 500
    async with httpx.AsyncClient() as client:
        failed = await client.post(url, json=payload)
        assert (await client.get(listing)).status_code == 200  # faults hit chat only
        server.configure(status=503, error_body="upstream overloaded")
        custom = await client.post(url, json=payload)
        server.configure(status=429, error_body={"detail": "slow down"}, faults_on="all")
        server.response_headers = {"Retry-After": "2"}
        limited = await client.get(listing)
    assert failed.status_code == 500
    error = failed.json()["error"]
    if isinstance(server, OpenAIServer):
        assert error["type"] == "server_error"
        assert set(error) >= {"message", "type", "code"}
    else:
        assert isinstance(error, str)
    assert (custom.status_code, custom.text) == (503, "upstream overloaded")
    assert (limited.status_code, limited.json()) == (429, {"detail": "slow down"})
    assert limited.headers["retry-after"] == "2"


async def test_malformed_json_and_truncated(server: OpenAIServer | OllamaServer) -> None:
    url, payload = _chat_call(server)
    server.malformed = True
    async with httpx.AsyncClient() as client:
        response = await client.post(url, json=payload)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.content == MALFORMED_BODY
        with pytest.raises(json.JSONDecodeError):
            response.json()

        server.malformed = "truncated"
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post(url, json=payload)

        server.malformed = False
        assert (await client.post(url, json=payload)).status_code == 200


async def test_drip_defeats_per_read_timeouts_not_deadlines(
    server: OpenAIServer | OllamaServer,
) -> None:
    url, payload = _chat_call(server)
    server.configure(answer=LONG_ANSWER, drip=0.03, drip_bytes=24)
    # A read timeout shorter than the whole body: every read gets bytes in time, so it passes.
    async with httpx.AsyncClient(timeout=httpx.Timeout(0.25)) as client:
        started = time.monotonic()
        async with client.stream("POST", url, json=payload) as response:
            headers_after = time.monotonic() - started
            body = await response.aread()
        total = time.monotonic() - started
    assert response.status_code == 200
    assert json.loads(body)["done" if isinstance(server, OllamaServer) else "object"]
    assert total > 0.25  # longer than the read timeout, yet it never fired
    assert headers_after < total / 2  # headers came first, then the body trickled

    # A whole-call deadline does stop it.
    server.configure(drip=0.05, drip_bytes=1)
    async with httpx.AsyncClient(timeout=httpx.Timeout(0.25)) as client:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await client.post(url, json=payload)
        # and the server survives the abandoned connection
        server.drip = 0.0
        assert (await client.post(url, json=payload)).status_code == 200


async def test_drip_streams_ollama_ndjson(ollama_server: OllamaServer) -> None:
    ollama_server.configure(drip=0.001, drip_bytes=7)
    async with httpx.AsyncClient(base_url=ollama_server.base_url) as client:
        response = await client.post("/api/chat", json={**OLLAMA_CHAT, "stream": True})
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert lines[-1]["done"] is True


async def test_keep_alive_and_concurrency(server: OpenAIServer | OllamaServer) -> None:
    url, payload = _chat_call(server)
    async with httpx.AsyncClient() as client:
        responses = await asyncio.gather(*(client.post(url, json=payload) for _ in range(10)))
        responses.append(await client.post(url, json=payload))
    assert [r.status_code for r in responses] == [200] * 11
    assert len(server.chat_requests) == 11


# -- refused connections, sync use, lifecycle ----------------------------------------------------


async def test_refused_url(refused_url: str) -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(refused_url + "/v1/models")


def test_refused_port_sync() -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{refused_port()}/api/tags")


def test_fixtures_work_from_sync_tests(
    openai_server: OpenAIServer, ollama_server: OllamaServer
) -> None:
    with httpx.Client() as client:
        openai = client.post(openai_server.base_url + "/chat/completions", json=OPENAI_CHAT)
        ollama = client.post(ollama_server.base_url + "/api/chat", json=OLLAMA_CHAT)
    assert openai.json()["choices"][0]["message"]["content"]
    assert ollama.json()["done"] is True


def test_start_stop_is_fast_and_aborts_pending_responses() -> None:
    started = time.monotonic()
    server = OllamaServer().start()
    assert time.monotonic() - started < 2.0  # typically a few milliseconds
    server.delay = 30.0
    url = server.base_url + "/api/chat"
    with httpx.Client(timeout=10.0) as client:
        errors: list[BaseException] = []

        def call() -> None:
            try:
                client.post(url, json=OLLAMA_CHAT)
            except httpx.HTTPError as exc:
                errors.append(exc)

        thread = threading.Thread(target=call)
        thread.start()
        deadline = time.monotonic() + 5.0
        while not server.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        server.stop()
        thread.join(5.0)
    assert time.monotonic() - started < 2.0  # the 30 s delay was aborted
    assert errors  # the client saw the connection go away
    server.stop()  # idempotent
    with pytest.raises(httpx.ConnectError):
        httpx.get(url)

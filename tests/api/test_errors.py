"""Every error leaves the API as a JSON envelope, and every response carries a request id."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Message, Scope

from awoooi.api.app import create_app
from awoooi.runtime import Runtime
from awoooi.settings import Settings
from tests.conftest import make_settings

MAX_BODY = 2048
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings with a small body cap so oversized bodies stay cheap."""
    return make_settings(tmp_path / "home", database_url, max_body_bytes=MAX_BODY)


def assert_envelope(response: httpx.Response, status: int, code: str) -> object:
    """Check status, JSON content type, the envelope shape and the request id; return detail."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "detail"}
    assert body["error"] == code
    assert response.headers.get("x-request-id")
    return body["detail"]


async def test_unknown_route_is_404_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/does-not-exist")
    assert assert_envelope(response, 404, "not_found") == "Not Found"


async def test_wrong_method_is_405_envelope(client: httpx.AsyncClient) -> None:
    response = await client.delete("/healthz")
    assert assert_envelope(response, 405, "method_not_allowed") == "Method Not Allowed"
    assert response.headers["allow"] == "GET"


async def test_malformed_json_is_422_without_echo(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/tokens",
        content=b"{bad",
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    detail = assert_envelope(response, 422, "validation_error")
    assert isinstance(detail, list)
    assert len(detail) == 1
    assert detail[0]["type"] == "json_invalid"
    assert detail[0]["loc"][0] == "body"
    assert set(detail[0]) == {"loc", "msg", "type"}
    assert "bad" not in response.text


async def test_mistyped_secret_is_not_echoed(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    secret = "awi_" + "S" * 40
    response = await client.post(
        "/api/v1/tokens", json={"name": "ok", "role": secret}, headers=admin_headers
    )
    detail = assert_envelope(response, 422, "validation_error")
    assert isinstance(detail, list)
    assert [item["loc"] for item in detail] == [["body", "role"]]
    assert secret not in response.text


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"name": "ok"}, ["body", "role"]),
        ({"name": "ok", "role": "superuser"}, ["body", "role"]),
        ({"name": "ok", "role": "viewer", "extra": 1}, ["body", "extra"]),
        ([1, 2, 3], ["body"]),
    ],
)
async def test_schema_invalid_body_is_422(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    body: object,
    loc: list[str],
) -> None:
    response = await client.post("/api/v1/tokens", json=body, headers=admin_headers)
    detail = assert_envelope(response, 422, "validation_error")
    assert isinstance(detail, list)
    assert loc in [item["loc"] for item in detail]


async def test_body_over_cap_with_content_length_is_413(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    payload = b'{"name": "big", "role": "viewer", "pad": "' + b"x" * MAX_BODY + b'"}'
    response = await client.post(
        "/api/v1/tokens",
        content=payload,
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    assert response.request.headers["content-length"] == str(len(payload))
    detail = assert_envelope(response, 413, "payload_too_large")
    assert detail == f"request body is larger than {MAX_BODY} bytes"


async def test_body_at_cap_is_accepted(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    base = b'{"name": "fits", "role": "viewer"}'
    payload = base + b" " * (MAX_BODY - len(base))
    assert len(payload) == MAX_BODY
    response = await client.post(
        "/api/v1/tokens",
        content=payload,
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "fits"


async def _chunks(total: int, size: int = 512) -> AsyncIterator[bytes]:
    yield b'{"name": "big", "role": "viewer", "pad": "'
    sent = 0
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'"}'


async def test_streamed_body_over_cap_is_413(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/tokens",
        content=_chunks(MAX_BODY * 2),
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    detail = assert_envelope(response, 413, "payload_too_large")
    assert detail == f"request body is larger than {MAX_BODY} bytes"


async def test_streamed_body_over_cap_without_auth_is_413(client: httpx.AsyncClient) -> None:
    # The body is read before the route's dependencies run, so the cap wins over auth.
    response = await client.post(
        "/api/v1/tokens",
        content=_chunks(MAX_BODY * 2),
        headers={"Content-Type": "application/json"},
    )
    assert_envelope(response, 413, "payload_too_large")


async def test_streamed_body_under_cap_is_accepted(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    async def small() -> AsyncIterator[bytes]:
        yield b'{"name": "streamed", '
        yield b'"role": "viewer"}'

    response = await client.post(
        "/api/v1/tokens",
        content=small(),
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "streamed"


async def raw_request(
    app: FastAPI, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes
) -> tuple[int, dict[bytes, bytes], bytes]:
    """Call the ASGI app directly, with header bytes exactly as given."""
    sent: list[Message] = []
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1234),
        "server": ("awoooi.test", 80),
    }
    await app(scope, receive, send)
    start = sent[0]
    assert start["type"] == "http.response.start"
    response_body = b"".join(
        message.get("body", b"") for message in sent[1:] if message["type"] == "http.response.body"
    )
    return int(start["status"]), dict(start["headers"]), response_body


@pytest.mark.parametrize(
    "value",
    [b"abc", b"-1", b"12x", b"1e3", b" ", b"+5", b"", b"\xb2", b"1\xb9\xb3"],
    ids=[
        "letters",
        "negative",
        "suffix",
        "exponent",
        "blank",
        "plus",
        "empty",
        "superscript",
        "mixed-superscript",
    ],
)
async def test_non_numeric_content_length_is_400(
    app: FastAPI, admin_token: str, value: bytes
) -> None:
    # b"\xb2" decodes (latin-1) to a superscript two: str.isdigit() says yes, int() says no.
    headers = [
        (b"authorization", f"Bearer {admin_token}".encode()),
        (b"content-type", b"application/json"),
        (b"content-length", value),
    ]
    status, response_headers, body = await raw_request(
        app, "POST", "/api/v1/tokens", headers, b"{}"
    )
    assert status == 400, body
    assert response_headers[b"content-type"] == b"application/json"
    assert json.loads(body) == {"error": "bad_request", "detail": "invalid Content-Length header"}
    assert GENERATED_ID.fullmatch(response_headers[b"x-request-id"].decode())


async def test_huge_content_length_is_413(app: FastAPI) -> None:
    # 5000 digits: past int()'s default conversion limit, which must not turn into a 500.
    headers = [(b"content-length", b"9" * 5000)]
    status, _headers, body = await raw_request(app, "POST", "/api/v1/tokens", headers, b"")
    assert status == 413, body
    assert json.loads(body)["error"] == "payload_too_large"


async def test_zero_padded_content_length_is_read_as_number(app: FastAPI, admin_token: str) -> None:
    headers = [
        (b"authorization", f"Bearer {admin_token}".encode()),
        (b"content-type", b"application/json"),
        (b"content-length", b"0" * 30 + b"2"),
    ]
    status, _headers, body = await raw_request(app, "POST", "/api/v1/tokens", headers, b"{}")
    # Within the cap, so the request reaches validation (an empty object lacks name and role).
    assert status == 422, body
    assert json.loads(body)["error"] == "validation_error"


async def test_numeric_content_length_over_cap_raw_is_413(app: FastAPI) -> None:
    headers = [(b"content-length", str(MAX_BODY + 1).encode()), (b"x-request-id", b"raw-1")]
    status, response_headers, body = await raw_request(app, "POST", "/api/v1/tokens", headers, b"")
    assert status == 413
    assert json.loads(body)["error"] == "payload_too_large"
    assert response_headers[b"x-request-id"] == b"raw-1"


async def test_unexpected_exception_is_500_envelope(settings: Settings, runtime: Runtime) -> None:
    application = create_app(settings, runtime=runtime, run_worker=False)
    marker = "kaboom-postgresql://u:hunter2@db/x"

    async def explode() -> dict[str, str]:
        raise RuntimeError(marker)

    application.add_api_route("/explode", explode, methods=["GET"])
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get("/explode", headers={"X-Request-ID": "boom-1"})
            after = await http.get("/healthz")
    detail = assert_envelope(response, 500, "internal_error")
    assert response.headers["x-request-id"] == "boom-1"
    assert detail == "internal server error (request id boom-1)"
    for leak in ("Traceback", "RuntimeError", "kaboom", "hunter2", 'File "'):
        assert leak not in response.text
    # The app keeps serving after the failure.
    assert after.status_code == 200


async def test_unexpected_exception_does_not_echo_the_body(
    settings: Settings, runtime: Runtime
) -> None:
    application: FastAPI = create_app(settings, runtime=runtime, run_worker=False)

    async def explode_post(payload: dict[str, str]) -> dict[str, str]:
        raise ValueError(f"bad payload {payload}")

    application.add_api_route("/explode", explode_post, methods=["POST"])
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.post("/explode", json={"secret": "zebra-canary"})
    detail = assert_envelope(response, 500, "internal_error")
    request_id = response.headers["x-request-id"]
    assert GENERATED_ID.fullmatch(request_id)
    assert detail == f"internal server error (request id {request_id})"
    assert "bad payload" not in response.text
    assert "zebra" not in response.text  # 'z' cannot appear in the hex request id


async def test_every_response_has_a_request_id(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    responses = [
        await client.get("/healthz"),
        await client.get("/nope"),
        await client.put("/healthz"),
        await client.get("/api/v1/tokens"),
        await client.get("/api/v1/tokens", headers=admin_headers),
        await client.post("/api/v1/tokens", content=b"x" * (MAX_BODY + 1), headers=admin_headers),
    ]
    assert [r.status_code for r in responses] == [200, 404, 405, 401, 200, 413]
    ids = [r.headers["x-request-id"] for r in responses]
    assert all(GENERATED_ID.fullmatch(value) for value in ids), ids
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    "incoming", ["abc-123", "req.1:part_2-X", "a" * 64, "0123456789abcdef0123456789abcdef"]
)
async def test_sane_request_id_is_echoed(client: httpx.AsyncClient, incoming: str) -> None:
    ok = await client.get("/healthz", headers={"X-Request-ID": incoming})
    missing = await client.get("/missing", headers={"X-Request-ID": incoming})
    assert ok.headers["x-request-id"] == incoming
    assert missing.headers["x-request-id"] == incoming
    assert len(ok.headers.get_list("x-request-id")) == 1


@pytest.mark.parametrize(
    "incoming", ["a" * 65, "bad id", "id;drop", "<script>", "new\\line", "ü-umlaut", ""]
)
async def test_insane_request_id_is_replaced(client: httpx.AsyncClient, incoming: str) -> None:
    raw = incoming.encode("utf-8")  # bytes, so httpx sends non-ASCII values untouched
    response = await client.get("/healthz", headers={b"X-Request-ID": raw})
    assert response.status_code == 200
    replaced = response.headers["x-request-id"]
    assert replaced != incoming
    assert GENERATED_ID.fullmatch(replaced)
    assert len(response.headers.get_list("x-request-id")) == 1

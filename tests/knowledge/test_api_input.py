"""Bad input to the knowledge API, body caps, and who may do what (both databases)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from awoooi.core.models import Role
from tests.incidents.conftest import TokenFactory
from tests.knowledge.conftest import BASE

GOOD = {"title": "Drain a node", "content": "kubectl drain --ignore-daemonsets"}


async def test_text_the_databases_cannot_hold_is_stored_replaced(
    client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    # The one rule of awoooi.core.inputs: NUL and lone surrogates become U+FFFD, on both
    # databases (PostgreSQL text cannot hold them).
    body = {"title": "a\x00b", "content": "c\x00", "tags": ["t\x00"], "category": "k\x00"}
    raw = json.dumps(body).replace("c\\u0000", "c\\ud800")
    created = await client.post(
        BASE, content=raw.encode(), headers={**operator, "content-type": "application/json"}
    )
    assert created.status_code == 201, created.text
    entry = created.json()
    assert (entry["title"], entry["content"]) == ("a\ufffdb", "c\ufffd")
    assert (entry["tags"], entry["category"]) == (["t\ufffd"], "k\ufffd")
    rejected = await client.post(
        f"{BASE}/{entry['id']}/reject", json={"reason": "r\x00"}, headers=operator
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["review_note"] == "r\ufffd"


async def test_bad_input_is_422_and_illegal_transitions_409(
    client: httpx.AsyncClient, operator: dict[str, str], viewer: dict[str, str]
) -> None:
    for params in (
        {"type": "HOWTO"},
        {"type": "runbook"},  # values are upper case
        {"status": "LIVE"},
        {"status": ""},
        {"tag": "x" * 65},
        {"service": "x" * 65},
    ):
        response = await client.get(BASE, params=params, headers=viewer)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["error"] == "validation_error"
    assert (await client.get(BASE, params={"type": "RUNBOOK"}, headers=viewer)).status_code == 200

    bad_creates: list[dict[str, Any]] = [
        {**GOOD, "entry_type": "HOWTO"},
        {**GOOD, "status": "LIVE"},
        {**GOOD, "status": "REJECTED"},  # a new entry is DRAFT or PUBLISHED
        {**GOOD, "status": "ARCHIVED"},
        {**GOOD, "source": "AI_EXTRACTED"},  # the API never lets a client claim the model
        {**GOOD, "reviewed_by": "me"},
        {**GOOD, "id": 5},
        {**GOOD, "unknown": True},
        {**GOOD, "title": ""},
        {**GOOD, "title": "t" * 301},
        {**GOOD, "tags": [""]},
        {**GOOD, "tags": ["x" * 65]},
        {**GOOD, "tags": ["t"] * 51},
        {**GOOD, "symptoms_hash": "ABCDEF0123456789"},
        {**GOOD, "symptoms_hash": "0123456789abcde"},
        {**GOOD, "content": "x" * (512 * 1024 + 1)},  # under the body cap, over the field cap
        {"title": "no content"},
        {"content": "no title"},
    ]
    for body in bad_creates:
        response = await client.post(BASE, json=body, headers=operator)
        assert response.status_code == 422, (
            {k: str(v)[:40] for k, v in body.items()},
            response.text,
        )
    not_json = await client.post(
        BASE, content=b"{not json", headers={**operator, "content-type": "application/json"}
    )
    assert not_json.status_code == 422

    created = await client.post(BASE, json=GOOD, headers=operator)
    assert created.status_code == 201, created.text
    entry = created.json()
    path = f"{BASE}/{entry['id']}"
    for body in (
        {"status": "PUBLISHED"},
        {"version": 9},
        {"title": ""},
        {"reviewed_by": "me"},
    ):
        response = await client.patch(path, json=body, headers=operator)
        assert response.status_code == 422, (body, response.text)
    extra_approve = await client.post(
        f"{path}/approve", json={"note": "ok", "x": 1}, headers=operator
    )
    assert extra_approve.status_code == 422
    nul_similar = await client.get(
        f"{BASE}/similar", params={"incident": "INC\x00"}, headers=operator
    )
    assert nul_similar.status_code == 422
    extra_reject = await client.post(
        f"{path}/reject", json={"reason": "r", "x": 1}, headers=operator
    )
    assert extra_reject.status_code == 422
    # Nothing above changed the entry.
    unchanged = await client.get(path, headers=operator)
    assert unchanged.json() == entry

    # An illegal transition is 409 with a message saying why.
    created = await client.post(BASE, json={**GOOD, "status": "PUBLISHED"}, headers=operator)
    response = await client.post(f"{BASE}/{created.json()['id']}/approve", headers=operator)
    assert response.status_code == 409
    assert response.json() == {
        "error": "conflict",
        "detail": f"entry {created.json()['id']} is PUBLISHED; only a DRAFT can be approved",
    }


async def test_large_bodies_are_413(client: httpx.AsyncClient, operator: dict[str, str]) -> None:
    huge = {**GOOD, "content": "x" * (5 * 1024 * 1024)}
    response = await client.post(BASE, json=huge, headers=operator)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"

    created = await client.post(BASE, json=GOOD, headers=operator)
    path = f"{BASE}/{created.json()['id']}"
    patched = await client.patch(path, json={"content": "y" * (2 * 1024 * 1024)}, headers=operator)
    assert patched.status_code == 413
    reject = await client.post(
        f"{path}/reject", json={"reason": "z" * (2 * 1024 * 1024)}, headers=operator
    )
    assert reject.status_code == 413
    # Without a Content-Length (streamed), the cap holds too.

    async def chunks() -> Any:
        for _ in range(3):
            yield b"x" * (512 * 1024)

    streamed = await client.post(
        BASE, content=chunks(), headers={**operator, "content-type": "application/json"}
    )
    assert streamed.status_code == 413
    listing = await client.get(BASE, headers=operator)
    assert listing.json()["total"] == 1


async def test_roles(client: httpx.AsyncClient, headers_for: TokenFactory) -> None:
    viewer = await headers_for(Role.VIEWER)
    ingest = await headers_for(Role.INGEST)
    operator = await headers_for(Role.OPERATOR)
    admin = await headers_for(Role.ADMIN)

    created = await client.post(BASE, json=GOOD, headers=operator)
    assert created.status_code == 201
    entry_id = created.json()["id"]
    path = f"{BASE}/{entry_id}"

    reads = [
        ("GET", BASE, None),
        ("GET", path, None),
        ("GET", f"{path}/versions", None),
        ("GET", f"{BASE}/anti-patterns/check?symptoms_hash=0123456789abcdef", None),
    ]
    writes = [
        ("POST", BASE, GOOD),
        ("PATCH", path, {"content": "edited"}),
        ("POST", f"{path}/approve", None),
        ("POST", f"{path}/reject", {"reason": "r"}),
        ("POST", f"{path}/archive", None),
    ]

    async def call(method: str, url: str, body: Any, headers: dict[str, str]) -> int:
        response = await client.request(method, url, json=body, headers=headers)
        return response.status_code

    for method, url, body in reads:
        assert await call(method, url, body, viewer) == 200, url
        assert await call(method, url, body, ingest) == 403, url
        assert await call(method, url, body, {}) == 401, url
    for method, url, body in writes:
        assert await call(method, url, body, viewer) == 403, (method, url)
        assert await call(method, url, body, ingest) == 403, (method, url)
        assert await call(method, url, body, {}) == 401, (method, url)
    forbidden = await client.post(BASE, json=GOOD, headers=viewer)
    assert forbidden.json() == {
        "error": "forbidden",
        "detail": "this needs the operator role; token has viewer",
    }
    # The viewer's attempts changed nothing.
    shown = (await client.get(path, headers=viewer)).json()
    assert (shown["status"], shown["version"]) == ("DRAFT", 1)
    assert (await client.get(BASE, headers=viewer)).json()["total"] == 1

    # Operators (and admins) may write and review.
    assert await call("PATCH", path, {"content": "edited"}, operator) == 200
    assert await call("POST", f"{path}/approve", None, operator) == 200
    assert await call("POST", f"{path}/archive", None, admin) == 200
    assert await call("POST", BASE, GOOD, admin) == 201

"""The caller is checked before the body: a malformed body never tells an unauthenticated or
unauthorized caller anything, and is a 422 for one who may call the route."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI

from awoooi.core.models import Role
from awoooi.runtime import Runtime
from tests.api.test_auth import ALLOWS, ROUTES, assert_unauthorized, bearer, issue

# Not JSON, and not even UTF-8.
MALFORMED = [b"{bad", b'{"alerts": [', b"\xff\xfe{\x00", b"\xc3\x28"]
BODY_ROUTES = [(method, path, role) for method, path, _body, role in ROUTES if method != "GET"]


@pytest.mark.parametrize("raw", MALFORMED)
async def test_no_token_is_401_whatever_the_body(client: httpx.AsyncClient, raw: bytes) -> None:
    for method, path, _role in BODY_ROUTES:
        response = await client.request(
            method, path, content=raw, headers={"Content-Type": "application/json"}
        )
        assert_unauthorized(response)


async def test_unknown_token_is_401_and_too_low_a_role_403_before_the_body(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    viewer = bearer(await issue(runtime, "viewer-first", Role.VIEWER))
    unknown = bearer("awi_" + "a" * 43)
    for method, path, role in BODY_ROUTES:
        for raw in MALFORMED:
            headers = {"Content-Type": "application/json"}
            response = await client.request(method, path, content=raw, headers=headers | unknown)
            assert_unauthorized(response)
            if role not in ALLOWS[Role.VIEWER]:
                response = await client.request(method, path, content=raw, headers=headers | viewer)
                assert response.status_code == 403, (method, path, response.text)


def taking_a_body(app: FastAPI) -> list[tuple[str, str]]:
    """The routes of BODY_ROUTES whose operation declares a JSON body."""
    templates = [
        (method.upper(), re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"))
        for path, operations in app.openapi()["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    ]
    return [
        (method, path)
        for method, path, _role in BODY_ROUTES
        if any(m == method and t.match(path.split("?")[0]) for m, t in templates)
    ]


@pytest.mark.parametrize("raw", MALFORMED)
async def test_an_allowed_caller_gets_422_for_a_malformed_body(
    app: FastAPI, client: httpx.AsyncClient, admin_token: str, raw: bytes
) -> None:
    headers = {"Content-Type": "application/json"} | bearer(admin_token)
    routes = taking_a_body(app)
    assert len(routes) >= 15
    for method, path in routes:
        response = await client.request(method, path, content=raw, headers=headers)
        assert response.status_code == 422, (method, path, response.text)
        body = response.json()
        assert body["error"] == "validation_error"
        assert [problem["type"] for problem in body["detail"]] == ["json_invalid"]
        assert "bad" not in response.text

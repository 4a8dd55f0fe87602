"""Bearer authentication, the role matrix, token storage and the token endpoints."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import stat
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from starlette.types import Message, Scope

from awoooi.api.app import create_app
from awoooi.core.audit import SYSTEM_CALLER
from awoooi.core.auth import Principal, authenticate, create_token, revoke_token
from awoooi.core.auth import list_tokens as auth_list
from awoooi.core.errors import AuthError
from awoooi.core.models import ApiToken, AuditEntry, Role
from awoooi.runtime import ADMIN_TOKEN_FILE, Runtime
from awoooi.settings import Settings

TOKEN_SHAPE = re.compile(r"^awi_[A-Za-z0-9_-]{43}$")

# Every /api/v1 route with a concrete path, a body where one is needed, and the role it requires.
EMPTY_AM_WEBHOOK: dict[str, Any] = {"version": "4", "status": "firing", "alerts": []}
NO_INCIDENT = "/api/v1/incidents/INC-20000101-0001"
NO_ENTRY = "/api/v1/knowledge/999999"
ANTI_PATTERN_CHECK = "/api/v1/knowledge/anti-patterns/check?symptoms_hash=0123456789abcdef"
SIMILAR = "/api/v1/knowledge/similar?incident=INC-20000101-0001"
NO_REPAIR = "/api/v1/repairs/999999"
NO_DRIFT_REPORT = "/api/v1/drift/reports/999999"
SECRET_HEADER_ROUTES = {("POST", "/api/v1/notify/telegram/webhook")}
ROUTES: list[tuple[str, str, dict[str, Any] | None, Role]] = [
    ("GET", "/api/v1/audit", None, Role.ADMIN),
    ("GET", "/api/v1/tokens", None, Role.ADMIN),
    ("POST", "/api/v1/tokens", {"name": "made-by-matrix", "role": "viewer"}, Role.ADMIN),
    ("DELETE", "/api/v1/tokens/no-such-token", None, Role.ADMIN),
    ("GET", "/api/v1/jobs", None, Role.OPERATOR),
    ("POST", "/api/v1/jobs/999999/retry", None, Role.ADMIN),
    ("GET", "/api/v1/notifications", None, Role.VIEWER),
    ("POST", "/api/v1/alerts/alertmanager", EMPTY_AM_WEBHOOK, Role.INGEST),
    ("POST", "/api/v1/alerts", {"alerts": []}, Role.INGEST),
    ("GET", "/api/v1/incidents", None, Role.VIEWER),
    ("GET", NO_INCIDENT, None, Role.VIEWER),
    ("POST", f"{NO_INCIDENT}/resolve", None, Role.OPERATOR),
    ("POST", f"{NO_INCIDENT}/escalate", None, Role.OPERATOR),
    ("GET", "/api/v1/ai/calls", None, Role.VIEWER),
    ("GET", "/api/v1/ai/calls/daily", None, Role.VIEWER),
    ("GET", "/api/v1/ai/providers", None, Role.VIEWER),
    ("POST", "/api/v1/knowledge", {"title": "t", "content": "c"}, Role.OPERATOR),
    ("GET", "/api/v1/knowledge", None, Role.VIEWER),
    ("GET", ANTI_PATTERN_CHECK, None, Role.VIEWER),
    ("GET", SIMILAR, None, Role.VIEWER),
    ("GET", NO_ENTRY, None, Role.VIEWER),
    ("GET", f"{NO_ENTRY}/versions", None, Role.VIEWER),
    ("PATCH", NO_ENTRY, {"title": "x"}, Role.OPERATOR),
    ("POST", f"{NO_ENTRY}/approve", None, Role.OPERATOR),
    ("POST", f"{NO_ENTRY}/reject", {"reason": "r"}, Role.OPERATOR),
    ("POST", f"{NO_ENTRY}/archive", None, Role.OPERATOR),
    ("GET", "/api/v1/playbooks", None, Role.VIEWER),
    ("GET", "/api/v1/repairs", None, Role.VIEWER),
    ("GET", NO_REPAIR, None, Role.VIEWER),
    ("POST", f"{NO_REPAIR}/approve", None, Role.OPERATOR),
    ("POST", f"{NO_REPAIR}/reject", {"reason": "r"}, Role.OPERATOR),
    ("POST", f"{NO_INCIDENT}/repair", None, Role.OPERATOR),
    ("POST", f"{NO_INCIDENT}/diagnose", None, Role.OPERATOR),
    ("POST", "/api/v1/drift/scan", None, Role.OPERATOR),
    ("GET", "/api/v1/drift/reports", None, Role.VIEWER),
    ("GET", NO_DRIFT_REPORT, None, Role.VIEWER),
    ("POST", "/api/v1/drift/rollback", {"report_id": 999999}, Role.OPERATOR),
    ("POST", "/api/v1/drift/adopt", {"report_id": 999999}, Role.OPERATOR),
    ("POST", "/api/v1/drift/ignore", {"report_id": 999999, "item_ids": [1]}, Role.OPERATOR),
]
# What an allowed caller gets from each route above (the token and job do not exist).
ALLOWED_STATUS = {
    ("GET", "/api/v1/audit"): 200,
    ("GET", "/api/v1/tokens"): 200,
    ("POST", "/api/v1/tokens"): 201,
    ("DELETE", "/api/v1/tokens/no-such-token"): 404,
    ("GET", "/api/v1/jobs"): 200,
    ("POST", "/api/v1/jobs/999999/retry"): 404,
    ("GET", "/api/v1/notifications"): 200,
    ("POST", "/api/v1/alerts/alertmanager"): 202,
    ("POST", "/api/v1/alerts"): 202,
    ("GET", "/api/v1/incidents"): 200,
    ("GET", NO_INCIDENT): 404,
    ("POST", f"{NO_INCIDENT}/resolve"): 404,
    ("POST", f"{NO_INCIDENT}/escalate"): 404,
    ("GET", "/api/v1/ai/calls"): 200,
    ("GET", "/api/v1/ai/calls/daily"): 200,
    ("GET", "/api/v1/ai/providers"): 200,
    ("POST", "/api/v1/knowledge"): 201,
    ("GET", "/api/v1/knowledge"): 200,
    ("GET", ANTI_PATTERN_CHECK): 200,
    ("GET", SIMILAR): 404,
    ("GET", NO_ENTRY): 404,
    ("GET", f"{NO_ENTRY}/versions"): 404,
    ("PATCH", NO_ENTRY): 404,
    ("POST", f"{NO_ENTRY}/approve"): 404,
    ("POST", f"{NO_ENTRY}/reject"): 404,
    ("POST", f"{NO_ENTRY}/archive"): 404,
    ("GET", "/api/v1/playbooks"): 200,
    ("GET", "/api/v1/repairs"): 200,
    ("GET", NO_REPAIR): 404,
    ("POST", f"{NO_REPAIR}/approve"): 404,
    ("POST", f"{NO_REPAIR}/reject"): 404,
    ("POST", f"{NO_INCIDENT}/repair"): 404,
    ("POST", f"{NO_INCIDENT}/diagnose"): 404,
    ("POST", "/api/v1/drift/scan"): 422,  # drift.desired is not configured here
    ("GET", "/api/v1/drift/reports"): 200,
    ("GET", NO_DRIFT_REPORT): 404,
    ("POST", "/api/v1/drift/rollback"): 404,
    ("POST", "/api/v1/drift/adopt"): 404,
    ("POST", "/api/v1/drift/ignore"): 404,
}

# Which required roles each role may use: ingest is outside the order and only posts alerts.
ALLOWS: dict[Role, set[Role]] = {
    Role.VIEWER: {Role.VIEWER},
    Role.INGEST: {Role.INGEST},
    Role.OPERATOR: {Role.VIEWER, Role.INGEST, Role.OPERATOR},
    Role.ADMIN: {Role.VIEWER, Role.INGEST, Role.OPERATOR, Role.ADMIN},
}


async def issue(runtime: Runtime, name: str, role: Role) -> str:
    """Create a token straight in the database (committed); return its secret."""
    async with runtime.session_factory() as session:
        issued = await create_token(session, name=name, role=role, created_by="test")
        await session.commit()
    return issued.secret


async def call(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.request(method, path, json=body, headers=headers)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"] == "unauthorized"
    assert isinstance(response.json()["detail"], str)


def test_route_table_covers_every_api_route(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    declared = {
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/api/v1")
        for method in operations
    }
    covered = {
        ("GET", "/api/v1/audit"),
        ("GET", "/api/v1/tokens"),
        ("POST", "/api/v1/tokens"),
        ("DELETE", "/api/v1/tokens/{name}"),
        ("GET", "/api/v1/jobs"),
        ("POST", "/api/v1/jobs/{job_id}/retry"),
        ("GET", "/api/v1/notifications"),
        ("POST", "/api/v1/alerts/alertmanager"),
        ("POST", "/api/v1/alerts"),
        ("GET", "/api/v1/incidents"),
        ("GET", "/api/v1/incidents/{incident_id}"),
        ("POST", "/api/v1/incidents/{incident_id}/resolve"),
        ("POST", "/api/v1/incidents/{incident_id}/escalate"),
        ("GET", "/api/v1/ai/calls"),
        ("GET", "/api/v1/ai/calls/daily"),
        ("GET", "/api/v1/ai/providers"),
        ("POST", "/api/v1/knowledge"),
        ("GET", "/api/v1/knowledge"),
        ("GET", "/api/v1/knowledge/anti-patterns/check"),
        ("GET", "/api/v1/knowledge/similar"),
        ("GET", "/api/v1/knowledge/{entry_id}"),
        ("GET", "/api/v1/knowledge/{entry_id}/versions"),
        ("PATCH", "/api/v1/knowledge/{entry_id}"),
        ("POST", "/api/v1/knowledge/{entry_id}/approve"),
        ("POST", "/api/v1/knowledge/{entry_id}/reject"),
        ("POST", "/api/v1/knowledge/{entry_id}/archive"),
        ("GET", "/api/v1/playbooks"),
        ("GET", "/api/v1/repairs"),
        ("GET", "/api/v1/repairs/{repair_id}"),
        ("POST", "/api/v1/repairs/{repair_id}/approve"),
        ("POST", "/api/v1/repairs/{repair_id}/reject"),
        ("POST", "/api/v1/incidents/{incident_id}/repair"),
        ("POST", "/api/v1/incidents/{incident_id}/diagnose"),
        ("POST", "/api/v1/drift/scan"),
        ("GET", "/api/v1/drift/reports"),
        ("GET", "/api/v1/drift/reports/{report_id}"),
        ("POST", "/api/v1/drift/rollback"),
        ("POST", "/api/v1/drift/adopt"),
        ("POST", "/api/v1/drift/ignore"),
    }
    # Telegram cannot send a bearer token: its webhook is authenticated by its own secret
    # header (tests/notify/test_telegram_flow.py).
    covered |= SECRET_HEADER_ROUTES
    # A new route must be added to ROUTES (and to this set) so its auth is tested.
    assert declared == covered
    assert len(ROUTES) == len(covered - SECRET_HEADER_ROUTES)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic YWRtaW46YWRtaW4=",
        "awi_" + "a" * 43,
        "Token awi_" + "a" * 43,
        "Bearer not-an-awoooi-token",
        "Bearer awi_" + "a" * 43,
        "Bearer awi_" + "x" * 300,
    ],
    ids=[
        "missing",
        "empty",
        "scheme-only",
        "scheme-space",
        "basic",
        "no-scheme",
        "wrong-scheme",
        "no-prefix",
        "unknown",
        "too-long",
    ],
)
async def test_every_route_rejects_bad_credentials(
    client: httpx.AsyncClient, admin_token: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    for method, path, body, _role in ROUTES:
        response = await call(client, method, path, body, headers)
        assert_unauthorized(response)
    # Nothing was created by the rejected POSTs.
    listed = await client.get("/api/v1/tokens", headers=bearer(admin_token))
    assert [token["name"] for token in listed.json()] == ["admin"]


async def test_every_route_rejects_a_revoked_token(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    secret = await issue(runtime, "soon-revoked", Role.ADMIN)
    ok = await client.get("/api/v1/audit", headers=bearer(secret))
    assert ok.status_code == 200
    async with runtime.session_factory() as session:
        await revoke_token(session, name="soon-revoked", caller=SYSTEM_CALLER)
        await session.commit()
    for method, path, body, _role in ROUTES:
        response = await call(client, method, path, body, bearer(secret))
        assert_unauthorized(response)
        # The same answer as for a token never issued: a leaked one reveals nothing.
        assert response.json()["detail"] == "invalid token"


async def test_scheme_is_case_insensitive(client: httpx.AsyncClient, admin_token: str) -> None:
    response = await client.get(
        "/api/v1/tokens", headers={"Authorization": f"bearer {admin_token}"}
    )
    assert response.status_code == 200


async def test_viewer_cannot_read_audit(client: httpx.AsyncClient, runtime: Runtime) -> None:
    secret = await issue(runtime, "watcher", Role.VIEWER)
    response = await client.get("/api/v1/audit", headers=bearer(secret))
    assert response.status_code == 403
    assert response.json() == {
        "error": "forbidden",
        "detail": "this needs the admin role; token has viewer",
    }
    assert "www-authenticate" not in response.headers


async def test_operator_cannot_create_tokens(client: httpx.AsyncClient, runtime: Runtime) -> None:
    secret = await issue(runtime, "oper", Role.OPERATOR)
    response = await client.post(
        "/api/v1/tokens", json={"name": "sneaky", "role": "admin"}, headers=bearer(secret)
    )
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    async with runtime.session_factory() as session:
        names = list(await session.scalars(select(ApiToken.name)))
    assert "sneaky" not in names


async def test_ingest_cannot_list_notifications(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    secret = await issue(runtime, "alertmanager", Role.INGEST)
    response = await client.get("/api/v1/notifications", headers=bearer(secret))
    assert response.status_code == 403
    assert response.json() == {
        "error": "forbidden",
        "detail": "this needs the viewer role; token has ingest",
    }


@pytest.mark.parametrize("role", list(Role))
async def test_role_matrix_through_real_tokens(
    client: httpx.AsyncClient, runtime: Runtime, role: Role
) -> None:
    secret = await issue(runtime, f"matrix-{role.value}", role)
    outcomes = {}
    for method, path, body, required in ROUTES:
        response = await call(client, method, path, body, bearer(secret))
        outcomes[(method, path)] = response.status_code
        if required in ALLOWS[role]:
            assert response.status_code == ALLOWED_STATUS[(method, path)], (path, response.text)
        else:
            assert response.status_code == 403, (path, response.text)
            assert response.json()["error"] == "forbidden"
    allowed_count = sum(1 for status in outcomes.values() if status != 403)
    expected_count = {Role.VIEWER: 16, Role.INGEST: 2, Role.OPERATOR: 34, Role.ADMIN: 39}[role]
    assert allowed_count == expected_count, outcomes


@pytest.mark.parametrize("holder", list(Role))
@pytest.mark.parametrize("required", list(Role))
def test_principal_allows_matrix(holder: Role, required: Role) -> None:
    principal = Principal(name="p", role=holder)
    assert principal.allows(required) is (required in ALLOWS[holder])


def test_ingest_allows_only_ingest() -> None:
    ingest = Principal(name="sender", role=Role.INGEST)
    assert [role for role in Role if ingest.allows(role)] == [Role.INGEST]
    viewer = Principal(name="watcher", role=Role.VIEWER)
    assert not viewer.allows(Role.INGEST)


async def test_tokens_are_stored_hashed(
    client: httpx.AsyncClient, runtime: Runtime, admin_headers: dict[str, str], admin_token: str
) -> None:
    response = await client.post(
        "/api/v1/tokens", json={"name": "hashed", "role": "operator"}, headers=admin_headers
    )
    assert response.status_code == 201
    secret = response.json()["token"]
    async with runtime.session_factory() as session:
        rows = (
            (await session.execute(text("SELECT * FROM api_tokens ORDER BY id"))).mappings().all()
        )
    assert [row["name"] for row in rows] == ["admin", "hashed"]
    for row, plain in zip(rows, [admin_token, secret], strict=True):
        assert row["token_hash"] == hashlib.sha256(plain.encode()).hexdigest()
        assert row["token_prefix"] == plain[:8]
        stored = " ".join(str(value) for value in row.values())
        assert plain not in stored
        assert plain[8:] not in stored
        assert plain[8:20] not in stored


async def test_admin_token_file_is_private_and_created_once(
    settings: Settings, runtime: Runtime, app: FastAPI, admin_token: str
) -> None:
    path = settings.home / ADMIN_TOKEN_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert TOKEN_SHAPE.fullmatch(admin_token)
    async with runtime.session_factory() as session:
        principal = await authenticate(session, admin_token)
    assert principal == Principal(name="admin", role=Role.ADMIN)

    before = path.read_text()
    path.unlink()
    second = create_app(settings, runtime=runtime, run_worker=False)
    async with second.router.lifespan_context(second):
        pass
    assert not path.exists()  # tokens exist, so no new one was minted
    async with runtime.session_factory() as session:
        names = list(await session.scalars(select(ApiToken.name)))
        still = await authenticate(session, before.strip())
    assert names == ["admin"]
    assert still.name == "admin"


async def test_bootstrap_on_fresh_home_writes_0600(settings: Settings, runtime: Runtime) -> None:
    created = await runtime.ensure_admin_token()
    assert created is not None
    assert created == (settings.home / ADMIN_TOKEN_FILE).resolve()
    assert stat.S_IMODE(created.stat().st_mode) == 0o600
    assert await runtime.ensure_admin_token() is None
    assert TOKEN_SHAPE.fullmatch(created.read_text().strip())


async def test_create_token_returns_secret_once_and_it_works(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/tokens", json={"name": "grafana.ro_1", "role": "viewer"}, headers=admin_headers
    )
    assert response.status_code == 201
    created = response.json()
    assert created["name"] == "grafana.ro_1"
    assert created["role"] == "viewer"
    assert created["created_by"] == "admin"
    assert created["revoked_at"] is None
    assert TOKEN_SHAPE.fullmatch(created["token"])
    assert created["token_prefix"] == created["token"][:8]

    usable = await client.get("/api/v1/notifications", headers=bearer(created["token"]))
    assert usable.status_code == 200
    assert usable.json() == []

    listed = await client.get("/api/v1/tokens", headers=admin_headers)
    assert listed.status_code == 200
    entry = next(token for token in listed.json() if token["name"] == "grafana.ro_1")
    assert "token" not in entry
    assert created["token"] not in listed.text
    assert entry["last_used_at"] is not None  # the viewer call above recorded its use


async def test_duplicate_token_name_is_409(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    first = await client.post(
        "/api/v1/tokens", json={"name": "dup", "role": "viewer"}, headers=admin_headers
    )
    second = await client.post(
        "/api/v1/tokens", json={"name": "dup", "role": "admin"}, headers=admin_headers
    )
    assert first.status_code == 201
    assert second.status_code == 409
    assert second.json() == {"error": "conflict", "detail": "a token named 'dup' already exists"}
    listed = await client.get("/api/v1/tokens", headers=admin_headers)
    assert [(t["name"], t["role"]) for t in listed.json()] == [
        ("admin", "admin"),
        ("dup", "viewer"),
    ]


@pytest.mark.parametrize(
    "name", ["", "-leading-dash", ".dot", "has space", "slash/name", "a" * 65, "ünïcode", "x\n"]
)
async def test_invalid_token_name_is_422(
    client: httpx.AsyncClient, admin_headers: dict[str, str], name: str
) -> None:
    response = await client.post(
        "/api/v1/tokens", json={"name": name, "role": "viewer"}, headers=admin_headers
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "validation_error"
    assert ["body", "name"] in [item["loc"] for item in response.json()["detail"]]


async def test_longest_valid_name_is_accepted(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    name = "a" * 64
    response = await client.post(
        "/api/v1/tokens", json={"name": name, "role": "ingest"}, headers=admin_headers
    )
    assert response.status_code == 201
    assert response.json()["name"] == name


async def test_revoke_token_lifecycle(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    created = await client.post(
        "/api/v1/tokens", json={"name": "temp", "role": "operator"}, headers=admin_headers
    )
    secret = created.json()["token"]
    assert (await client.get("/api/v1/jobs", headers=bearer(secret))).status_code == 200

    revoked = await client.delete("/api/v1/tokens/temp", headers=admin_headers)
    assert revoked.status_code == 200
    assert revoked.json()["name"] == "temp"
    assert revoked.json()["revoked_at"] is not None
    assert "token" not in revoked.json()

    after = await client.get("/api/v1/jobs", headers=bearer(secret))
    assert_unauthorized(after)
    assert after.json()["detail"] == "invalid token"

    again = await client.delete("/api/v1/tokens/temp", headers=admin_headers)
    assert again.status_code == 409
    assert again.json() == {"error": "conflict", "detail": "token 'temp' is already revoked"}

    unknown = await client.delete("/api/v1/tokens/never-existed", headers=admin_headers)
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "not_found", "detail": "no token named 'never-existed'"}

    listed = await client.get("/api/v1/tokens", headers=admin_headers)
    states = {t["name"]: t["revoked_at"] is not None for t in listed.json()}
    assert states == {"admin": False, "temp": True}


async def test_authenticate_rejects_unknown_and_revoked(runtime: Runtime) -> None:
    secret = await issue(runtime, "direct", Role.VIEWER)
    async with runtime.session_factory() as session:
        assert await authenticate(session, secret) == Principal("direct", Role.VIEWER)
        with pytest.raises(AuthError, match="invalid token"):
            await authenticate(session, secret + "x")
        with pytest.raises(AuthError, match="invalid token"):
            await authenticate(session, secret.removeprefix("awi_"))
        await revoke_token(session, name="direct", caller=SYSTEM_CALLER)
        await session.commit()
    async with runtime.session_factory() as session:
        with pytest.raises(AuthError, match=r"^invalid token$"):
            await authenticate(session, secret)


async def test_token_is_committed_before_the_response_is_sent(
    app: FastAPI, runtime: Runtime, admin_token: str
) -> None:
    # A client may use the secret the moment it reads the response, on another connection:
    # by then the row (and its audit entry) must be committed, not merely flushed.
    body = json.dumps({"name": "early", "role": "viewer"}).encode()
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
    seen_at_start: list[tuple[bool, bool]] = []
    messages: list[Message] = []

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        messages.append(message)
        if message["type"] == "http.response.start":
            async with runtime.session_factory() as session:
                token = await session.scalar(select(ApiToken.id).where(ApiToken.name == "early"))
                audit = await session.scalar(
                    select(AuditEntry.id).where(AuditEntry.target == "token:early")
                )
            seen_at_start.append((token is not None, audit is not None))

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/tokens",
        "raw_path": b"/api/v1/tokens",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"authorization", f"Bearer {admin_token}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1234),
        "server": ("awoooi.test", 80),
    }
    await app(scope, receive, send)
    assert messages[0]["status"] == 201
    assert seen_at_start == [(True, True)]


async def test_concurrent_creates_of_one_name_conflict_cleanly(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    # Warm up: the first use of the admin token writes last_used_at, which would serialize
    # the racing requests below on that row instead of letting them race on the insert.
    assert (await client.get("/api/v1/tokens", headers=admin_headers)).status_code == 200
    results = await asyncio.gather(
        *[
            client.post(
                "/api/v1/tokens", json={"name": "race", "role": "viewer"}, headers=admin_headers
            )
            for _ in range(4)
        ]
    )
    statuses = sorted(response.status_code for response in results)
    assert statuses == [201, 409, 409, 409], [r.text for r in results]
    for response in results:
        if response.status_code == 409:
            assert response.json() == {
                "error": "conflict",
                "detail": "a token named 'race' already exists",
            }
    listed = await client.get("/api/v1/tokens", headers=admin_headers)
    assert [t["name"] for t in listed.json()] == ["admin", "race"]
    audit = await client.get("/api/v1/audit", headers=admin_headers)
    assert [e["target"] for e in audit.json()] == ["token:race", "token:admin"]


async def test_concurrent_bootstrap_creates_one_admin(settings: Settings, runtime: Runtime) -> None:
    # Two replicas starting together on an empty database: one mints the token, the other
    # sees the conflict and leaves it be (the race surfaced as an IntegrityError before).
    other = Runtime.from_settings(settings)
    try:
        for engine in (runtime.engine, other.engine):  # pooled connections: a fair start
            async with engine.connect():
                pass
        results = await asyncio.gather(runtime.ensure_admin_token(), other.ensure_admin_token())
    finally:
        await other.dispose()
    created = [path for path in results if path is not None]
    assert len(created) == 1
    secret = created[0].read_text().strip()
    async with runtime.session_factory() as session:
        assert [t.name for t in await auth_list(session)] == ["admin"]
        assert await authenticate(session, secret) == Principal("admin", Role.ADMIN)

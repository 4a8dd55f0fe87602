"""The console's security model over HTTP, in-process, on SQLite and PostgreSQL: the session
cookie, its expiry and revocation, CSRF, roles, redirects, error pages and /docs."""

from __future__ import annotations

import contextlib
import json
import re
import stat
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from itsdangerous import TimestampSigner, URLSafeSerializer, URLSafeTimedSerializer
from sqlalchemy import select

from awoooi.api.app import create_app
from awoooi.console.sessions import KEY_FILE
from awoooi.core.audit import SYSTEM_CALLER
from awoooi.core.auth import create_token, hash_token, revoke_token
from awoooi.core.db import transaction
from awoooi.core.models import AuditEntry, Role
from awoooi.incidents.models import Incident
from awoooi.repair.models import Repair, RepairStatus, Verdict
from awoooi.runtime import Runtime
from awoooi.settings import Settings
from tests.conftest import make_settings
from tests.repair.conftest import fire

KEY = "k" * 40
TTL = timedelta(hours=1)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings with a known signing key (so a test can sign a cookie of its own)."""
    return make_settings(
        tmp_path / "home",
        database_url,
        console={"session_key": KEY, "session_ttl": "1h"},
        ai={"diagnose_incidents": False},
    )


async def token(runtime: Runtime, role: Role, name: str | None = None) -> str:
    async with transaction(runtime.session_factory) as session:
        issued = await create_token(
            session, name=name or f"{role.value}-http", role=role, created_by="test"
        )
    return issued.secret


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def alert_text(html: str) -> str:
    found = re.search(r'role="alert">([^<]*)<', html)
    assert found, html[:800]
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, secret: str, next_path: str = "") -> httpx.Response:
    form = await client.get("/ui/login")
    assert form.status_code == 200
    return await client.post(
        "/ui/login", data={"token": secret, "csrf_token": csrf_of(form.text), "next": next_path}
    )


async def page_csrf(client: httpx.AsyncClient) -> str:
    page = await client.get("/ui/incidents")
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def set_cookie(response: httpx.Response, name: str) -> str:
    [header] = [h for h in response.headers.get_list("set-cookie") if h.startswith(name + "=")]
    return header


async def test_sign_in_sets_a_strict_http_only_session_cookie(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    secret = await token(runtime, Role.VIEWER)
    signed = await sign_in(client, secret)
    assert signed.status_code == 303
    assert signed.headers["location"] == "/ui/incidents"
    header = set_cookie(signed, "awoooi_session")
    assert "HttpOnly" in header
    assert "SameSite=strict" in header
    assert "Path=/ui" in header
    assert f"Max-Age={int(TTL.total_seconds())}" in header
    assert "Secure" not in header  # plain http on loopback, public_url http
    assert secret not in header
    assert hash_token(secret) in _payload(header)
    page = await client.get("/ui/incidents")
    assert page.status_code == 200
    assert "viewer-http" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"


def _payload(header: str) -> str:
    """The cookie's payload, unverified, as JSON text (itsdangerous compresses a payload when
    that is shorter, marking it with a leading dot)."""
    value = header.split(";")[0].split("=", 1)[1]
    payload = value.rsplit(".", 2)[0]  # payload.timestamp.signature
    return json.dumps(URLSafeSerializer("unverified").load_payload(payload.encode()))


@contextlib.asynccontextmanager
async def served(
    settings: Settings, base: str = "http://awoooi.test"
) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    """The app (and a runtime of its own) over these settings, and a client speaking to it."""
    active = Runtime.from_settings(settings)
    application = create_app(settings, runtime=active, run_worker=False)
    try:
        async with (
            application.router.lifespan_context(application),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=application), base_url=base
            ) as http,
        ):
            yield active, http
    finally:
        await active.dispose()


@pytest.mark.parametrize("how", ["https request", "https public_url"])
async def test_cookies_are_secure_behind_https(
    how: str, tmp_path: Path, database_url: str, runtime: Runtime
) -> None:
    public = "https://awoooi.example.org" if how == "https public_url" else "http://127.0.0.1:8080"
    settings = make_settings(tmp_path / "home", database_url, public_url=public)
    base = "https://awoooi.test" if how == "https request" else "http://awoooi.test"
    secret = await token(runtime, Role.VIEWER)
    async with served(settings, base) as (_active, http):
        form = await http.get("/ui/login")
        login_cookie = set_cookie(form, "awoooi_login")
        assert "Secure" in login_cookie
        # The test client speaks plain http to the app behind the (imagined) https proxy, so
        # it would keep a Secure cookie to itself: hand it back as the browser would.
        http.cookies.set("awoooi_login", login_cookie.split(";")[0].split("=", 1)[1])
        signed = await http.post(
            "/ui/login", data={"token": secret, "csrf_token": csrf_of(form.text)}
        )
        assert signed.status_code == 303
        assert "Secure" in set_cookie(signed, "awoooi_session")


async def test_a_revoked_token_signs_its_session_out(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    secret = await token(runtime, Role.OPERATOR)
    await sign_in(client, secret)
    csrf = await page_csrf(client)
    async with transaction(runtime.session_factory) as session:
        await revoke_token(session, name="operator-http", caller=SYSTEM_CALLER)

    page = await client.get("/ui/incidents?status=open")
    assert page.status_code == 303
    assert page.headers["location"].startswith("/ui/login?next=%2Fui%2Fincidents%3Fstatus%3Dopen")
    assert "reason=revoked" in page.headers["location"]
    assert 'awoooi_session=""' in set_cookie(page, "awoooi_session")  # cleared
    human_id = await fire(runtime, alertname="AfterRevoke")
    refused = await client.post(f"/ui/incidents/{human_id}/resolve", data={"csrf_token": csrf})
    assert refused.status_code == 401
    assert "Signed out" in refused.text
    login = await client.get(page.headers["location"])
    assert "revoked" in login.text


async def test_an_expired_or_forged_session_is_signed_out(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    secret = await token(runtime, Role.VIEWER)

    class Back(TimestampSigner):
        seconds = 0

        def get_timestamp(self) -> int:
            return int(time.time()) - self.seconds

    def cookie(age: timedelta) -> str:
        Back.seconds = int(age.total_seconds())
        serializer = URLSafeTimedSerializer(KEY, salt="awoooi.console.session", signer=Back)
        return str(serializer.dumps({"h": hash_token(secret), "c": "x" * 43}))

    client.cookies.set("awoooi_session", cookie(TTL / 2))
    fresh = await client.get("/ui/incidents")
    assert fresh.status_code == 200
    for value in (
        cookie(TTL + timedelta(minutes=1)),  # past the TTL
        cookie(TTL / 2)[:-2] + "xx",  # signature altered
        URLSafeTimedSerializer("another key" * 4, salt="awoooi.console.session").dumps(
            {"h": hash_token(secret), "c": "x"}
        ),
    ):
        client.cookies.clear()
        client.cookies.set("awoooi_session", value)
        answer = await client.get("/ui/incidents")
        assert answer.status_code == 303
        assert "reason=expired" in answer.headers["location"]


async def test_sign_in_refuses_bad_tokens_ingest_tokens_and_a_form_without_its_nonce(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    wrong = await sign_in(client, "awi_" + "x" * 40)
    assert wrong.status_code == 401
    assert "not valid" in alert_text(wrong.text)
    assert "awoooi_session" not in wrong.headers.get("set-cookie", "")

    ingest = await sign_in(client, await token(runtime, Role.INGEST))
    assert ingest.status_code == 403
    assert "Ingest tokens only send alerts" in alert_text(ingest.text)

    viewer = await token(runtime, Role.VIEWER)
    no_nonce = await client.post("/ui/login", data={"token": viewer})
    assert no_nonce.status_code == 403
    assert "sign-in form expired" in alert_text(no_nonce.text)
    client.cookies.clear()
    other = await client.post("/ui/login", data={"token": viewer, "csrf_token": "made-up"})
    assert other.status_code == 403
    long = await client.post("/ui/login", data={"token": "x" * 5000, "csrf_token": "y"})
    assert long.status_code == 422
    assert "Traceback" not in long.text


@pytest.mark.parametrize(
    ("next_path", "lands"),
    [
        ("/ui/repairs", "/ui/repairs"),
        ("https://evil.example/ui/", "/ui/incidents"),
        ("//evil.example/ui/", "/ui/incidents"),
        ("/api/v1/tokens", "/ui/incidents"),
        ("/ui/\r\nSet-Cookie: x=1", "/ui/incidents"),
    ],
)
async def test_sign_in_goes_back_to_console_pages_only(
    next_path: str, lands: str, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    signed = await sign_in(client, await token(runtime, Role.VIEWER), next_path)
    assert signed.status_code == 303
    assert signed.headers["location"] == lands


async def test_without_a_configured_key_one_is_made_private_and_kept(
    tmp_path: Path, database_url: str, runtime: Runtime
) -> None:
    settings = make_settings(tmp_path / "home", database_url)
    secret = await token(runtime, Role.VIEWER)
    async with served(settings) as (_active, http):
        assert (await sign_in(http, secret)).status_code == 303
        cookies = httpx.Cookies(http.cookies)
    key = settings.home / KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(key.read_text().strip()) >= 32
    # Another process on the same home (a restart) accepts the session.
    async with served(settings) as (_active, http):
        http.cookies = cookies
        assert (await http.get("/ui/incidents")).status_code == 200
    # A different key does not.
    other = make_settings(tmp_path / "home", database_url, console={"session_key": "o" * 32})
    async with served(other) as (_active, http):
        http.cookies = cookies
        assert (await http.get("/ui/incidents")).status_code == 303


async def test_actions_need_the_operator_role_and_are_audited_as_the_console(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    human_id = await fire(runtime, alertname="ConsoleActions")
    await sign_in(client, await token(runtime, Role.VIEWER))
    viewer_csrf = await page_csrf(client)
    detail = await client.get(f"/ui/incidents/{human_id}")
    assert "Resolve" not in detail.text
    assert "/resolve" not in detail.text
    forged = await client.post(
        f"/ui/incidents/{human_id}/escalate", data={"csrf_token": viewer_csrf}
    )
    assert forged.status_code == 403
    assert "needs the operator role" in alert_text(forged.text)

    client.cookies.clear()
    await sign_in(client, await token(runtime, Role.OPERATOR))
    csrf = await page_csrf(client)
    no_token = await client.post(f"/ui/incidents/{human_id}/escalate", data={"reason": "x"})
    assert no_token.status_code == 403
    header_token = await client.post(
        f"/ui/incidents/{human_id}/escalate",
        data={"reason": "paging the team"},
        headers={"X-CSRF-Token": csrf},
    )
    assert header_token.status_code == 303
    assert header_token.headers["location"] == f"/ui/incidents/{human_id}?notice=escalated"
    again = await client.post(f"/ui/incidents/{human_id}/escalate", data={"csrf_token": csrf})
    assert again.status_code == 409
    assert "cannot become escalated" in alert_text(again.text)

    async with runtime.session_factory() as session:
        entries = list(
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action == "incident.escalated")
            )
        )
    assert [(e.actor, e.door.value, e.detail) for e in entries] == [
        ("operator-http", "console", {"from": "open", "reason": "paging the team"})
    ]


async def add_pending_repair(runtime: Runtime, human_id: str) -> int:
    async with transaction(runtime.session_factory) as session:
        incident = await session.scalar(select(Incident).where(Incident.human_id == human_id))
        assert incident is not None
        repair = Repair(
            incident_id=incident.id,
            playbook_id="by-hand",
            playbook_name="by hand",
            target="shop/Deployment/web",
            verdict=Verdict.NEEDS_APPROVAL.value,
            status=RepairStatus.PENDING_APPROVAL.value,
            reasons=["risk high"],
            plan=[],
            symptoms_hash=incident.symptoms_hash,
            requested_by="test",
        )
        session.add(repair)
        await session.flush()
        return repair.id


async def test_reject_needs_a_reason_and_the_repair_pages_say_what_happened(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    human_id = await fire(runtime, alertname="ConsoleReject")
    repair_id = await add_pending_repair(runtime, human_id)
    await sign_in(client, await token(runtime, Role.OPERATOR))
    csrf = await page_csrf(client)
    listing = await client.get("/ui/repairs")
    assert f"Approve repair {repair_id}" in listing.text

    empty = await client.post(
        f"/ui/repairs/{repair_id}/reject", data={"csrf_token": csrf, "reason": "  "}
    )
    assert empty.status_code == 422
    assert "a reason is required" in alert_text(empty.text)
    rejected = await client.post(
        f"/ui/repairs/{repair_id}/reject",
        data={"csrf_token": csrf, "reason": "not during the sale", "next": "/ui/repairs"},
    )
    assert rejected.status_code == 303
    assert rejected.headers["location"] == "/ui/repairs?notice=rejected"
    shown = await client.get(f"/ui/repairs/{repair_id}")
    assert "rejected" in shown.text
    assert "not during the sale" in shown.text
    late = await client.post(f"/ui/repairs/{repair_id}/approve", data={"csrf_token": csrf})
    assert late.status_code == 409
    missing = await client.post("/ui/repairs/999999/approve", data={"csrf_token": csrf})
    assert missing.status_code == 404
    assert "no repair 999999" in alert_text(missing.text)


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/ui/incidents/INC-20990101-0001", 404, "no incident INC-20990101-0001"),
        ("/ui/incidents?severity=loud", 422, "unknown severity"),
        ("/ui/incidents?offset=-1", 422, "offset"),
        ("/ui/repairs/not-a-number", 422, "repair_id"),
        ("/ui/repairs/99999999999", 422, "repair_id"),
        ("/ui/nowhere/at/all", 404, "there is no console page at /ui/nowhere/at/all"),
    ],
)
async def test_errors_are_pages_with_their_message(
    path: str, status: int, message: str, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    await sign_in(client, await token(runtime, Role.VIEWER))
    answer = await client.get(path)
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("text/html")
    assert message in alert_text(answer.text).replace("&#39;", "'")
    assert "Traceback" not in answer.text


async def test_the_bare_address_and_docs_stay_on_this_server(client: httpx.AsyncClient) -> None:
    root = await client.get("/")
    assert root.status_code == 307
    assert root.headers["location"] == "/ui/"
    assert (await client.get("/ui")).headers["location"] == "/ui/"
    assert (await client.get("/ui/")).headers["location"] == "/ui/incidents"
    docs = await client.get("/docs")
    assert docs.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert all(s.startswith("/") and not s.startswith("//") for s in sources), sources
    sources = [s for s in sources if s.startswith("/ui/static/")]
    assert len(sources) == 5, sources
    for source in sources:
        asset = await client.get(source)
        assert asset.status_code == 200, source
    license_file = await client.get("/ui/static/vendor/swagger-ui/LICENSE")
    assert "Apache License" in license_file.text
    assert "script-src 'self'" in docs.headers["content-security-policy"]
    assert (await client.get("/redoc")).status_code == 404


async def test_the_schema_declares_the_bearer_scheme_on_protected_routes(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "awi_…",
        "description": "An API token: `Authorization: Bearer awi_...` (awoooi tokens create).",
    }
    operations: dict[str, Any] = {
        f"{method.upper()} {path}": operation
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    }
    assert operations["GET /api/v1/incidents"]["security"] == [{"HTTPBearer": []}]
    assert operations["POST /api/v1/alerts/alertmanager"]["security"] == [{"HTTPBearer": []}]
    assert "security" not in operations["GET /healthz"]
    assert not any(path.startswith(("/ui", "/docs")) for path in schema["paths"])


async def test_a_token_still_works_on_the_api_after_signing_out(
    runtime: Runtime, client: httpx.AsyncClient, app: FastAPI
) -> None:
    secret = await token(runtime, Role.VIEWER)
    await sign_in(client, secret)
    csrf = await page_csrf(client)
    out = await client.post("/ui/logout", data={"csrf_token": csrf})
    assert out.status_code == 303
    assert out.headers["location"] == "/ui/login?reason=signed_out"
    assert (await client.get("/ui/incidents")).status_code == 303
    api = await client.get("/api/v1/incidents", headers={"Authorization": f"Bearer {secret}"})
    assert api.status_code == 200
    # The API never takes the console's cookie in place of a token.
    await sign_in(client, secret)
    assert (await client.get("/api/v1/incidents")).status_code == 401

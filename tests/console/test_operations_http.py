"""The console's Operations pages over HTTP on SQLite and PostgreSQL: jobs with dead-letter retry,
notifications, LLM calls and cost, and for admins only the audit log and the tokens."""

from __future__ import annotations

import html
import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from awoooi.ai.intents import Intent
from awoooi.ai.models import LlmCall
from awoooi.core import jobs
from awoooi.core.db import transaction, utcnow
from awoooi.core.models import AuditEntry, Job, JobStatus, Role
from awoooi.notify.base import Severity
from awoooi.notify.models import Notification, NotificationStatus
from awoooi.runtime import Runtime
from awoooi.settings import Settings
from tests.conftest import make_settings
from tests.console.pages_helpers import SignIn
from tests.console.test_http import KEY, alert_text


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings with a known signing key and no model calls."""
    return make_settings(
        tmp_path / "home",
        database_url,
        console={"session_key": KEY},
        ai={"diagnose_incidents": False},
    )


@pytest.fixture
def signed_in_as(runtime: Runtime, client: httpx.AsyncClient) -> SignIn:
    """Sign the client in as a role; the CSRF token of its forms."""
    return SignIn(runtime, client, "/ui/operations/notifications")


async def dead_job(runtime: Runtime) -> int:
    async with transaction(runtime.session_factory) as session:
        job_id = await jobs.enqueue(session, "notify.send", {"notification_id": 1})
        await session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                status=JobStatus.DEAD, attempts=5, last_error="ConnectError: telegram unreachable"
            )
        )
    return job_id


async def job_of(runtime: Runtime, job_id: int) -> Job:
    async with runtime.session_factory() as session:
        job = await session.get(Job, job_id)
    assert job is not None
    return job


async def audited(runtime: Runtime, action: str) -> list[tuple[str, str | None, str]]:
    async with runtime.session_factory() as session:
        entries = await session.scalars(select(AuditEntry).where(AuditEntry.action == action))
        return [(e.actor, e.door.value if e.door else None, e.target) for e in entries]


def main_of(page: str) -> str:
    return page.split("<main", 1)[1]


async def test_dead_letters_are_retried_by_admins(
    runtime: Runtime, client: httpx.AsyncClient, signed_in_as: SignIn
) -> None:
    job_id = await dead_job(runtime)
    await signed_in_as(Role.VIEWER)
    viewer = await client.get("/ui/operations")
    assert viewer.status_code == 200
    assert "Jobs are shown to operators and admins" in viewer.text
    assert "telegram unreachable" not in viewer.text

    operator_csrf = await signed_in_as(Role.OPERATOR)
    seen = await client.get("/ui/operations")
    assert "Dead letters (1)" in seen.text
    assert "telegram unreachable" in seen.text
    assert 'method="post"' not in main_of(seen.text)  # retry is an admin's, as on the API
    assert "An admin retries them" in seen.text
    forged = await client.post(
        f"/ui/operations/jobs/{job_id}/retry", data={"csrf_token": operator_csrf}
    )
    assert forged.status_code == 403
    assert "needs the admin role" in alert_text(forged.text)

    csrf = await signed_in_as(Role.ADMIN)
    page = await client.get("/ui/operations")
    assert f"Retry job {job_id}" in page.text
    assert (await client.post(f"/ui/operations/jobs/{job_id}/retry")).status_code == 403
    assert (await job_of(runtime, job_id)).status is JobStatus.DEAD
    retried = await client.post(f"/ui/operations/jobs/{job_id}/retry", data={"csrf_token": csrf})
    assert retried.status_code == 303
    assert retried.headers["location"] == "/ui/operations?notice=retried"
    job = await job_of(runtime, job_id)
    assert (job.status, job.attempts) == (JobStatus.QUEUED, 0)
    assert await audited(runtime, "job.retry") == [("admin-http", "console", f"job:{job_id}")]
    again = await client.post(f"/ui/operations/jobs/{job_id}/retry", data={"csrf_token": csrf})
    assert again.status_code == 409
    assert "only dead jobs can be retried" in alert_text(again.text)
    after = await client.get(retried.headers["location"])
    assert "No dead letters" in after.text
    filtered = await client.get(
        "/ui/operations", params={"status": "queued", "kind": "notify.send"}
    )
    assert f'<tr data-job="{job_id}">' in filtered.text
    wrong = await client.get("/ui/operations", params={"status": "sleeping"})
    assert wrong.status_code == 422


async def test_notifications_and_llm_calls_are_read_by_viewers(
    runtime: Runtime, client: httpx.AsyncClient, signed_in_as: SignIn
) -> None:
    await signed_in_as(Role.VIEWER)
    empty = await client.get("/ui/operations/llm")
    assert "No model call is recorded" in empty.text
    assert "No notification yet" in (await client.get("/ui/operations/notifications")).text
    async with transaction(runtime.session_factory) as session:
        session.add(
            Notification(
                channel="telegram",
                kind="incident.opened",
                severity=Severity.HIGH,
                title="INC-20260501-0001 <opened>",
                text="...",
                status=NotificationStatus.FAILED,
                attempts=3,
                error="HTTP 401 from Telegram",
                created_at=utcnow(),
            )
        )
        for cost in (0.25, 0.5):
            session.add(
                LlmCall(
                    at=utcnow(),
                    intent=Intent.SUMMARIZE,
                    provider="cloud",
                    model="big-model",
                    local=False,
                    tokens_in=1000,
                    tokens_out=200,
                    cost_usd=cost,
                    latency_ms=812.0,
                    outcome="ok",
                )
            )
    notifications = await client.get("/ui/operations/notifications")
    assert notifications.status_code == 200
    assert "INC-20260501-0001 &lt;opened&gt;" in notifications.text
    assert "HTTP 401 from Telegram" in notifications.text
    llm = await client.get("/ui/operations/llm")
    assert llm.status_code == 200
    assert "(total $0.7500)" in llm.text
    assert len(re.findall(r'<tr data-call="\d+">', llm.text)) == 2
    assert "big-model" in llm.text
    # The sub-navigation offers a viewer only what a viewer may open.
    nav = re.findall(r'<nav class="subnav".*?</nav>', llm.text, re.S)[0]
    assert "Notifications" in nav
    assert "Audit log" not in nav
    assert "Tokens" not in nav
    other = await client.get("/ui/operations/llm", params={"intent": "diagnose"})
    assert "No call matches these filters" in other.text
    wrong = await client.get("/ui/operations/llm", params={"intent": "poetry"})
    assert wrong.status_code == 422
    assert "unknown intent" in html.unescape(alert_text(wrong.text))


async def test_audit_log_and_tokens_are_for_admins(
    runtime: Runtime, client: httpx.AsyncClient, signed_in_as: SignIn
) -> None:
    operator_csrf = await signed_in_as(Role.OPERATOR)
    for path in ("/ui/operations/audit", "/ui/operations/tokens"):
        refused = await client.get(path)
        assert refused.status_code == 403, path
        assert "needs the admin role" in alert_text(refused.text)
    for path, form in (
        ("/ui/operations/tokens", {"name": "mallory", "role": "admin"}),
        ("/ui/operations/tokens/operator-http/revoke", {}),
    ):
        forged = await client.post(path, data={**form, "csrf_token": operator_csrf})
        assert forged.status_code == 403, path
        assert "needs the admin role" in alert_text(forged.text)

    csrf = await signed_in_as(Role.ADMIN)
    listing = await client.get("/ui/operations/tokens")
    assert '<tr data-token="operator-http">' in listing.text
    assert "(yours)" in listing.text
    assert "mallory" not in listing.text
    no_token = await client.post("/ui/operations/tokens", data={"name": "alice", "role": "viewer"})
    assert no_token.status_code == 403
    created = await client.post(
        "/ui/operations/tokens", data={"csrf_token": csrf, "name": "alice", "role": "operator"}
    )
    assert created.status_code == 200
    assert created.headers["cache-control"] == "no-store"
    found = re.search(r'id="secret" class="secret" value="(awi_[^"]+)"', created.text)
    assert found, created.text
    secret = found.group(1)
    api = await client.get("/api/v1/incidents", headers={"Authorization": f"Bearer {secret}"})
    assert api.status_code == 200
    listing = await client.get("/ui/operations/tokens")
    assert '<tr data-token="alice">' in listing.text
    assert secret not in listing.text
    duplicate = await client.post(
        "/ui/operations/tokens", data={"csrf_token": csrf, "name": "alice", "role": "viewer"}
    )
    assert duplicate.status_code == 409
    bad = await client.post(
        "/ui/operations/tokens", data={"csrf_token": csrf, "name": "no spaces", "role": "viewer"}
    )
    assert bad.status_code == 422
    assert "token names are 1-64 characters" in alert_text(bad.text)
    no_role = await client.post(
        "/ui/operations/tokens", data={"csrf_token": csrf, "name": "bob", "role": "king"}
    )
    assert no_role.status_code == 422

    revoked = await client.post("/ui/operations/tokens/alice/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 303
    assert revoked.headers["location"] == "/ui/operations/tokens?notice=revoked"
    api = await client.get("/api/v1/incidents", headers={"Authorization": f"Bearer {secret}"})
    assert api.status_code == 401
    twice = await client.post("/ui/operations/tokens/alice/revoke", data={"csrf_token": csrf})
    assert twice.status_code == 409
    assert await audited(runtime, "token.create") == [
        ("bootstrap", "system", "token:admin"),  # the first admin token, made at start
        ("admin-http", "console", "token:alice"),
    ]
    assert await audited(runtime, "token.revoke") == [("admin-http", "console", "token:alice")]

    audit = await client.get("/ui/operations/audit", params={"action": "token.revoke"})
    assert audit.status_code == 200
    rows = re.findall(r'<tr data-audit="\d+">(.*?)</tr>', audit.text, re.S)
    assert len(rows) == 1
    assert "admin-http" in rows[0]
    assert "console" in rows[0]
    everything = await client.get("/ui/operations/audit")
    assert len(re.findall(r'<tr data-audit="\d+">', everything.text)) >= 2
    assert (
        "No entry matches these filters"
        in (await client.get("/ui/operations/audit", params={"actor": "nobody"})).text
    )

"""The console's Knowledge pages over HTTP on SQLite and PostgreSQL: the review queue, approve
and reject (roles, CSRF, audit), editing, search, anti-pattern windows, and runbook text that
reaches the page as text, never as markup."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from awoooi.console.markdown import markdown_html
from awoooi.console.pages.knowledge import time_left
from awoooi.core.db import transaction
from awoooi.core.models import AuditEntry, Role
from awoooi.knowledge import service
from awoooi.knowledge.models import EntrySource, EntryStatus, EntryType, KnowledgeEntry
from awoooi.runtime import Runtime
from awoooi.settings import Settings
from tests.conftest import make_settings
from tests.console.pages_helpers import SignIn
from tests.console.test_http import KEY, alert_text

HOSTILE = """# Restart the worker

<script>window.pwned = 1</script>

<img src=x onerror="window.pwned = 2">

Run [this](javascript:alert(1)) and see ![a chart](http://tracker.example/pixel.png).
"""


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings with a known signing key and no model calls."""
    return make_settings(
        tmp_path / "home",
        database_url,
        console={"session_key": KEY},
        ai={"diagnose_incidents": False},
    )


async def add_entry(
    runtime: Runtime,
    title: str,
    content: str = "Restart it.",
    *,
    entry_type: EntryType = EntryType.AUTO_RUNBOOK,
    status: EntryStatus = EntryStatus.DRAFT,
    symptoms_hash: str | None = None,
) -> int:
    async with transaction(runtime.session_factory) as session:
        entry = await service.create_entry(
            session,
            service.NewEntry(
                title=title,
                content=content,
                entry_type=entry_type,
                source=EntrySource.AI_EXTRACTED,
                status=status,
                created_by="harvester",
                symptoms_hash=symptoms_hash,
            ),
        )
        return entry.id


async def stored(runtime: Runtime, entry_id: int) -> KnowledgeEntry:
    async with runtime.session_factory() as session:
        entry = await session.get(KnowledgeEntry, entry_id)
    assert entry is not None
    return entry


async def audited(runtime: Runtime, action: str) -> list[tuple[str, str | None, str]]:
    async with runtime.session_factory() as session:
        entries = await session.scalars(select(AuditEntry).where(AuditEntry.action == action))
        return [(e.actor, e.door.value if e.door else None, e.target) for e in entries]


@pytest.fixture
def signed_in_as(runtime: Runtime, client: httpx.AsyncClient) -> SignIn:
    """Sign the client in as a role; the CSRF token of its forms."""
    return SignIn(runtime, client, "/ui/knowledge")


async def test_a_draft_is_approved_or_rejected_from_the_review_queue(
    runtime: Runtime, client: httpx.AsyncClient, signed_in_as: SignIn
) -> None:
    draft = await add_entry(runtime, "Restart the stuck worker")
    other = await add_entry(runtime, "Raise the memory limit")

    viewer_csrf = await signed_in_as(Role.VIEWER)
    queue = await client.get("/ui/knowledge")
    assert "Review queue (2)" in queue.text
    assert "Restart the stuck worker" in queue.text
    assert "/approve" not in queue.text
    assert "An operator or admin approves or rejects drafts" in queue.text
    forged = await client.post(
        f"/ui/knowledge/{draft}/approve", data={"csrf_token": viewer_csrf, "note": "forged"}
    )
    assert forged.status_code == 403
    assert "needs the operator role" in alert_text(forged.text)
    assert (await stored(runtime, draft)).status is EntryStatus.DRAFT

    csrf = await signed_in_as(Role.OPERATOR)
    queue = await client.get("/ui/knowledge")
    assert f"Approve entry {draft}" in queue.text
    no_token = await client.post(f"/ui/knowledge/{draft}/approve", data={"note": "x"})
    assert no_token.status_code == 403
    assert "security token is missing" in alert_text(no_token.text)
    approved = await client.post(
        f"/ui/knowledge/{draft}/approve",
        data={"csrf_token": csrf, "note": "read it", "next": "/ui/knowledge"},
    )
    assert approved.status_code == 303
    assert approved.headers["location"] == "/ui/knowledge?notice=approved"
    entry = await stored(runtime, draft)
    assert (entry.status, entry.reviewed_by, entry.review_note) == (
        EntryStatus.PUBLISHED,
        "operator-http",
        "read it",
    )
    assert await audited(runtime, "knowledge.approve") == [
        ("operator-http", "console", f"knowledge:{draft}")
    ]
    again = await client.post(f"/ui/knowledge/{draft}/approve", data={"csrf_token": csrf})
    assert again.status_code == 409
    assert "only a DRAFT can be approved" in alert_text(again.text)

    empty = await client.post(
        f"/ui/knowledge/{other}/reject", data={"csrf_token": csrf, "reason": "  "}
    )
    assert empty.status_code == 422
    assert "a rejection needs a reason" in alert_text(empty.text)
    rejected = await client.post(
        f"/ui/knowledge/{other}/reject", data={"csrf_token": csrf, "reason": "wrong service"}
    )
    assert rejected.status_code == 303
    assert rejected.headers["location"] == f"/ui/knowledge/{other}?notice=rejected"
    shown = await client.get(rejected.headers["location"])
    assert "Rejected because" in shown.text
    assert "wrong service" in shown.text
    assert (await stored(runtime, other)).status is EntryStatus.REJECTED
    queue = await client.get("/ui/knowledge")
    assert "No draft waits for review" in queue.text
    missing = await client.post("/ui/knowledge/999999/approve", data={"csrf_token": csrf})
    assert missing.status_code == 404
    assert "no knowledge entry 999999" in alert_text(missing.text)


def main_of(page: str) -> str:
    found = re.search(r"<main[^>]*>(.*)</main>", page, re.S)
    assert found
    return found.group(1)


async def test_runbook_html_is_shown_as_text(
    runtime: Runtime, client: httpx.AsyncClient, signed_in_as: SignIn
) -> None:
    entry_id = await add_entry(runtime, "Hostile <b>title</b>", HOSTILE)
    await signed_in_as(Role.OPERATOR)
    for path in (f"/ui/knowledge/{entry_id}", "/ui/knowledge"):
        page = await client.get(path)
        assert page.status_code == 200
        body = main_of(page.text)
        assert "<script" not in body
        assert "<img" not in body
        assert "javascript:" not in body.replace("[this](javascript:alert(1))", "")
        assert "<b>" not in body
        text = html.unescape(body)
        assert "<script>window.pwned = 1</script>" in text
        assert '<img src=x onerror="window.pwned = 2">' in text
        assert "Hostile <b>title</b>" in text
    page = await client.get(f"/ui/knowledge/{entry_id}")
    # The runbook's own heading sits under the page's headings; a picture is only a link.
    assert "<h3>Restart the worker</h3>" in page.text
    assert 'href="http://tracker.example/pixel.png" rel="noopener noreferrer nofollow"' in page.text


@pytest.mark.parametrize(
    ("text", "absent", "present"),
    [
        ("<script>x()</script>", "<script", "&lt;script&gt;"),
        ('<a href="javascript:x()">a</a>', "<a ", "&lt;a href="),
        ("[a](javascript:x())", 'href="javascript', "[a](javascript:x())"),
        ("[a](data:text/html,x)", 'href="data', "[a](data:text/html,x)"),
        ("<!-- c --><iframe src=x>", "<iframe", "&lt;iframe"),
        ("`<b>`", "<b>", "<code>&lt;b&gt;</code>"),
        (
            "[ok](https://example.org/a?b=1&c=2)",
            "<script",
            'href="https://example.org/a?b=1&amp;c=2"',
        ),
    ],
)
def test_markdown_html_has_no_markup_of_its_own(text: str, absent: str, present: str) -> None:
    rendered = str(markdown_html(text))
    assert absent not in rendered
    assert present in rendered


async def test_an_entry_is_edited_as_a_new_version(
    runtime: Runtime, client: httpx.AsyncClient, signed_in_as: SignIn
) -> None:
    entry_id = await add_entry(runtime, "Restart the stuck worker", "old text")
    viewer_csrf = await signed_in_as(Role.VIEWER)
    assert (await client.get(f"/ui/knowledge/{entry_id}/edit")).status_code == 403
    forged = await client.post(
        f"/ui/knowledge/{entry_id}/edit",
        data={"csrf_token": viewer_csrf, "title": "x", "content": "forged"},
    )
    assert forged.status_code == 403

    csrf = await signed_in_as(Role.OPERATOR)
    form = await client.get(f"/ui/knowledge/{entry_id}/edit")
    assert form.status_code == 200
    assert "Save version 2" in form.text
    assert ">\nold text</textarea>" in form.text
    saved = await client.post(
        f"/ui/knowledge/{entry_id}/edit",
        data={
            "csrf_token": csrf,
            "title": " Restart the worker ",
            "content": "\r\nStep one.\r\nStep two.\r\n",
            "tags": "worker, ,restart",
            "services": "queue",
            "category": "ops",
        },
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/ui/knowledge/{entry_id}?notice=saved"
    entry = await stored(runtime, entry_id)
    assert (entry.title, entry.content, entry.tags, entry.services, entry.version) == (
        "Restart the worker",
        "\nStep one.\nStep two.\n",
        ["restart", "worker"],
        ["queue"],
        2,
    )
    page = await client.get(saved.headers["location"])
    assert "Earlier versions (1)" in page.text
    assert await audited(runtime, "knowledge.update") == [
        ("operator-http", "console", f"knowledge:{entry_id}")
    ]
    too_many = await client.post(
        f"/ui/knowledge/{entry_id}/edit",
        data={"csrf_token": csrf, "title": "t", "tags": ",".join(f"t{i}" for i in range(51))},
    )
    assert too_many.status_code == 422
    assert "tags: at most 50" in alert_text(too_many.text)
    no_title = await client.post(
        f"/ui/knowledge/{entry_id}/edit", data={"csrf_token": csrf, "title": "  "}
    )
    assert no_title.status_code == 422
    assert (await stored(runtime, entry_id)).version == 2


async def test_search_and_anti_pattern_windows(
    runtime: Runtime, client: httpx.AsyncClient, signed_in_as: SignIn
) -> None:
    runbook = await add_entry(
        runtime,
        "CrashLoopBackOff after a bad config",
        "Roll back the ConfigMap, then restart.",
        entry_type=EntryType.RUNBOOK,
    )
    fresh = await add_entry(
        runtime,
        "Do not restart the database pod",
        entry_type=EntryType.ANTI_PATTERN,
        status=EntryStatus.PUBLISHED,
        symptoms_hash="0123456789abcdef",
    )
    old = await add_entry(
        runtime,
        "Do not scale the queue to zero",
        entry_type=EntryType.ANTI_PATTERN,
        status=EntryStatus.PUBLISHED,
        symptoms_hash="fedcba9876543210",
    )
    async with transaction(runtime.session_factory) as session:
        await session.execute(
            update(KnowledgeEntry)
            .where(KnowledgeEntry.id == old)
            .values(published_at=datetime.now(UTC) - timedelta(days=8))
        )
    await signed_in_as(Role.VIEWER)

    found = await client.get("/ui/knowledge/search", params={"q": "crashloop"})
    assert found.status_code == 200
    assert f'data-entry="{runbook}"' in found.text
    assert "1\u20131 of 1, best match first" in found.text
    nothing = await client.get("/ui/knowledge/search", params={"q": "zzzqqq"})
    assert "Nothing matches" in nothing.text
    typed = await client.get("/ui/knowledge/search", params={"type": "ANTI_PATTERN"})
    assert f'data-entry="{fresh}"' in typed.text
    assert f'data-entry="{runbook}"' not in typed.text
    wrong = await client.get("/ui/knowledge/search", params={"type": "POEM"})
    assert wrong.status_code == 422
    assert "unknown type 'POEM'" in html.unescape(alert_text(wrong.text))

    home = await client.get("/ui/knowledge")
    rows = re.findall(r'<tr data-entry="(\d+)">(.*?)</tr>', home.text, re.S)
    assert [int(entry_id) for entry_id, _ in rows] == [fresh, old]  # still blocking first
    assert "6 d 23 h left" in rows[0][1]
    assert "window over" in rows[1][1]
    page = await client.get(f"/ui/knowledge/{fresh}")
    assert "Blocks the same fix" in page.text
    assert "6 d 23 h left" in page.text


@pytest.mark.parametrize(
    ("left", "shown"),
    [
        (timedelta(days=6, hours=23, minutes=59), "6 d 23 h left"),
        (timedelta(hours=5, minutes=7), "5 h 7 min left"),
        (timedelta(seconds=20), "1 min left"),
        (timedelta(0), "window over"),
        (-timedelta(days=1), "window over"),
    ],
)
def test_time_left_in_a_window(left: timedelta, shown: str) -> None:
    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert time_left(now + left, now) == shown

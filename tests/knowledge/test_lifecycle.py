"""Review life cycle through the API: DRAFT -> PUBLISHED | REJECTED, anything -> ARCHIVED,
illegal transitions answered 409, and edits that keep every earlier version (both databases)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from awoooi.core.db import transaction
from awoooi.core.errors import ConflictError, InvalidInputError, NotFoundError
from awoooi.core.models import AuditEntry
from awoooi.knowledge import service
from awoooi.runtime import Runtime
from tests.knowledge.conftest import BASE, add_entry, person


async def create(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    payload = {"title": "Restart a crash-looping pod", "content": "kubectl rollout restart", **body}
    response = await client.post(BASE, json=payload, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def post(
    client: httpx.AsyncClient, headers: dict[str, str], path: str, body: Any = None
) -> httpx.Response:
    return await client.post(f"{BASE}{path}", json=body, headers=headers)


def assert_conflict(response: httpx.Response, *fragments: str) -> None:
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["error"] == "conflict"
    for fragment in fragments:
        assert fragment in body["detail"], body["detail"]


async def test_approve_publishes_and_records_the_reviewer(
    client: httpx.AsyncClient, operator: dict[str, str], viewer: dict[str, str]
) -> None:
    entry = await create(client, operator, tags=["k8s"], services=["web"])
    assert entry["status"] == "DRAFT"
    assert entry["source"] == "MANUAL"
    assert entry["version"] == 1
    assert entry["reviewed_by"] is None
    assert entry["reviewed_at"] is None
    assert entry["published_at"] is None
    assert entry["created_by"].startswith("operator-")

    response = await post(client, operator, f"/{entry['id']}/approve", {"note": "looks right"})
    assert response.status_code == 200, response.text
    approved = response.json()
    assert approved["status"] == "PUBLISHED"
    assert approved["reviewed_by"] == entry["created_by"]
    assert approved["review_note"] == "looks right"
    assert approved["reviewed_at"] is not None
    assert approved["published_at"] == approved["reviewed_at"]
    assert datetime.fromisoformat(approved["reviewed_at"]) >= datetime.fromisoformat(
        entry["created_at"]
    )
    assert approved["version"] == 1  # a review is not an edit

    # Stored, not only answered.
    shown = (await client.get(f"{BASE}/{entry['id']}", headers=viewer)).json()
    assert shown == approved

    # Approving again is an illegal transition.
    again = await post(client, operator, f"/{entry['id']}/approve")
    assert_conflict(again, f"entry {entry['id']} is PUBLISHED", "only a DRAFT can be approved")
    # ... and so is rejecting a published entry.
    rejected = await post(client, operator, f"/{entry['id']}/reject", {"reason": "no"})
    assert_conflict(rejected, "is PUBLISHED", "only a DRAFT can be rejected")
    # The failed calls changed nothing.
    assert (await client.get(f"{BASE}/{entry['id']}", headers=viewer)).json() == approved

    # Approving needs no body.
    other = await create(client, operator)
    response = await client.post(f"{BASE}/{other['id']}/approve", headers=operator)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "PUBLISHED"
    assert response.json()["review_note"] is None


async def test_reject_needs_a_reason(
    client: httpx.AsyncClient, operator: dict[str, str], viewer: dict[str, str]
) -> None:
    entry = await create(client, operator)
    path = f"/{entry['id']}/reject"
    for body in (None, {}, {"reason": ""}, {"reason": "   "}, {"reason": "x", "extra": 1}):
        response = await post(client, operator, path, body)
        assert response.status_code == 422, (body, response.text)
    still = (await client.get(f"{BASE}/{entry['id']}", headers=viewer)).json()
    assert still["status"] == "DRAFT"
    assert still["reviewed_by"] is None

    response = await post(client, operator, path, {"reason": "  duplicate of entry 1  "})
    assert response.status_code == 200, response.text
    rejected = response.json()
    assert rejected["status"] == "REJECTED"
    assert rejected["review_note"] == "duplicate of entry 1"
    assert rejected["reviewed_by"].startswith("operator-")
    assert rejected["reviewed_at"] is not None
    assert rejected["published_at"] is None

    assert_conflict(await post(client, operator, path, {"reason": "again"}), "is REJECTED")
    assert_conflict(await post(client, operator, f"/{entry['id']}/approve"), "is REJECTED")


async def test_every_live_status_can_be_archived_once(
    client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    draft = await create(client, operator, title="draft")
    published = await create(client, operator, title="published", status="PUBLISHED")
    assert published["published_at"] is not None
    rejected = await create(client, operator, title="rejected")
    await post(client, operator, f"/{rejected['id']}/reject", {"reason": "wrong"})

    for entry in (draft, published, rejected):
        path = f"/{entry['id']}"
        response = await post(client, operator, f"{path}/archive")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "ARCHIVED"

        assert_conflict(await post(client, operator, f"{path}/archive"), "already ARCHIVED")
        assert_conflict(await post(client, operator, f"{path}/approve"), "is ARCHIVED")
        assert_conflict(
            await post(client, operator, f"{path}/reject", {"reason": "r"}), "is ARCHIVED"
        )
        edit = await client.patch(f"{BASE}{path}", json={"content": "new"}, headers=operator)
        assert_conflict(edit, "ARCHIVED", "not edited")


async def test_edits_keep_earlier_versions(
    client: httpx.AsyncClient, operator: dict[str, str], viewer: dict[str, str]
) -> None:
    entry = await create(
        client, operator, title="v1 title", content="v1 content", tags=["a"], category="k8s"
    )
    path = f"{BASE}/{entry['id']}"
    assert (await client.get(f"{path}/versions", headers=viewer)).json() == []

    first = await client.patch(path, json={"content": "v2 content"}, headers=operator)
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 2
    assert first.json()["title"] == "v1 title"  # fields not given stay
    assert first.json()["content"] == "v2 content"
    assert first.json()["category"] == "k8s"

    second = await client.patch(
        path, json={"title": "v3 title", "tags": ["b", " a ", "b"]}, headers=operator
    )
    assert second.status_code == 200, second.text
    v3 = second.json()
    assert v3["version"] == 3
    assert v3["title"] == "v3 title"
    assert v3["content"] == "v2 content"
    assert v3["tags"] == ["a", "b"]
    assert datetime.fromisoformat(v3["updated_at"]) >= datetime.fromisoformat(entry["updated_at"])

    versions = (await client.get(f"{path}/versions", headers=viewer)).json()
    assert [(v["version"], v["title"], v["content"], v["tags"]) for v in versions] == [
        (1, "v1 title", "v1 content", ["a"]),
        (2, "v1 title", "v2 content", ["a"]),
    ]
    assert all(v["edited_by"] == entry["created_by"] for v in versions)
    assert all(v["category"] == "k8s" for v in versions)

    # Editing a published entry keeps it published; editing a rejected one is allowed too.
    await post(client, operator, f"/{entry['id']}/approve")
    edited = await client.patch(path, json={"content": "v4"}, headers=operator)
    assert edited.json()["status"] == "PUBLISHED"
    assert edited.json()["version"] == 4
    assert len((await client.get(f"{path}/versions", headers=viewer)).json()) == 3

    # Archived: no edit, and the versions are still there.
    await post(client, operator, f"/{entry['id']}/archive")
    assert (await client.patch(path, json={"content": "v5"}, headers=operator)).status_code == 409
    assert len((await client.get(f"{path}/versions", headers=viewer)).json()) == 3
    assert (await client.get(path, headers=viewer)).json()["version"] == 4


async def test_unknown_entries_are_404(
    client: httpx.AsyncClient, operator: dict[str, str], viewer: dict[str, str]
) -> None:
    assert (await client.get(f"{BASE}/999999", headers=viewer)).status_code == 404
    assert (await client.get(f"{BASE}/999999/versions", headers=viewer)).status_code == 404
    assert (await post(client, operator, "/999999/approve")).status_code == 404
    assert (await post(client, operator, "/999999/reject", {"reason": "r"})).status_code == 404
    assert (await post(client, operator, "/999999/archive")).status_code == 404
    patched = await client.patch(f"{BASE}/999999", json={"title": "t"}, headers=operator)
    assert patched.status_code == 404
    assert (await client.get(f"{BASE}/abc", headers=viewer)).status_code == 422


# --- the service directly -----------------------------------------------------------------------


async def test_service_transitions(runtime: Runtime) -> None:
    entry = await add_entry(runtime)
    async with transaction(runtime.session_factory) as session:
        with pytest.raises(InvalidInputError):
            await service.reject_entry(session, entry.id, caller=person("r"), reason=" ")
        approved = await service.approve_entry(session, entry.id, caller=person("alice"), note=None)
        assert approved.reviewed_by == "alice"
        assert approved.published_at == approved.reviewed_at
    async with transaction(runtime.session_factory) as session:
        with pytest.raises(ConflictError, match="only a DRAFT can be approved"):
            await service.approve_entry(session, entry.id, caller=person("bob"))
    async with transaction(runtime.session_factory) as session:
        await service.archive_entry(session, entry.id, caller=person("alice"))
    async with transaction(runtime.session_factory) as session:
        with pytest.raises(ConflictError, match="already ARCHIVED"):
            await service.archive_entry(session, entry.id, caller=person("alice"))
    async with transaction(runtime.session_factory) as session:
        with pytest.raises(ConflictError, match="ARCHIVED"):
            await service.update_entry(session, entry.id, caller=person("alice"), title="x")
        with pytest.raises(NotFoundError):
            await service.get_entry(session, entry.id + 1000)


async def test_secrets_are_redacted_and_changes_audited(
    runtime: Runtime,
    client: httpx.AsyncClient,
    operator: dict[str, str],
    viewer: dict[str, str],
) -> None:
    token = "awi_" + "Kp4" * 10
    entry = await create(
        client,
        operator,
        title=f"Rotate {token}",
        content=f"connect with postgresql://app:hunter2secret@db/shop and {token}",
    )
    for text in (entry["title"], entry["content"]):
        assert token not in text
        assert "hunter2secret" not in text
    assert "[REDACTED:awoooi_token]" in entry["content"]
    path = f"{BASE}/{entry['id']}"
    edited = await client.patch(path, json={"content": f"now {token}"}, headers=operator)
    assert edited.json()["content"] == "now [REDACTED:awoooi_token]"
    versions = (await client.get(f"{path}/versions", headers=viewer)).text
    assert token not in versions
    assert "hunter2secret" not in versions

    entry = await create(client, operator)
    await client.patch(f"{BASE}/{entry['id']}", json={"title": "t2"}, headers=operator)
    await post(client, operator, f"/{entry['id']}/approve")
    await post(client, operator, f"/{entry['id']}/archive")
    async with runtime.session_factory() as session:
        rows = list(
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.target == f"knowledge:{entry['id']}")
                .order_by(AuditEntry.id)
            )
        )
    assert [row.action for row in rows] == [
        "knowledge.create",
        "knowledge.update",
        "knowledge.approve",
        "knowledge.archive",
    ]

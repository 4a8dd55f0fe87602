"""`check_anti_pattern`: the window's edges, which statuses count, the newest wins; and its API."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
from sqlalchemy import update

from awoooi.core.db import transaction
from awoooi.knowledge import service
from awoooi.knowledge.models import EntrySource, EntryStatus, EntryType, KnowledgeEntry
from awoooi.runtime import Runtime
from tests.knowledge.conftest import BASE, add_entry, person

HASH = "0123456789abcdef"
OTHER = "fedcba9876543210"
CHECK = f"{BASE}/anti-patterns/check"


async def anti_pattern(runtime: Runtime, symptoms_hash: str = HASH, title: str = "") -> int:
    entry = await add_entry(
        runtime,
        title=f"anti-pattern {title}",
        entry_type=EntryType.ANTI_PATTERN,
        source=EntrySource.AI_EXTRACTED,
        status=EntryStatus.PUBLISHED,
        symptoms_hash=symptoms_hash,
    )
    return entry.id


async def set_published_at(runtime: Runtime, entry_id: int, when: datetime) -> None:
    async with transaction(runtime.session_factory) as session:
        await session.execute(
            update(KnowledgeEntry).where(KnowledgeEntry.id == entry_id).values(published_at=when)
        )


async def check(
    runtime: Runtime, symptoms_hash: str = HASH, days: float = 7, *, now: datetime | None = None
) -> int | None:
    async with runtime.session_factory() as session:
        found = await service.check_anti_pattern(session, symptoms_hash, days, now=now)
    return found.id if found else None


async def test_window_edges(runtime: Runtime) -> None:
    entry_id = await anti_pattern(runtime)
    async with runtime.session_factory() as session:
        published = (await service.get_entry(session, entry_id)).published_at
    assert published is not None

    assert await check(runtime, now=published) == entry_id
    assert await check(runtime, now=published + timedelta(days=6.9)) == entry_id
    assert await check(runtime, now=published + timedelta(days=7)) == entry_id  # inclusive
    assert await check(runtime, now=published + timedelta(days=7, microseconds=1)) is None
    assert await check(runtime, now=published + timedelta(days=7.1)) is None
    # A custom window.
    assert await check(runtime, days=1, now=published + timedelta(days=0.9)) == entry_id
    assert await check(runtime, days=1, now=published + timedelta(days=1.1)) is None
    assert await check(runtime, days=30, now=published + timedelta(days=29)) == entry_id
    # Other symptoms never match.
    assert await check(runtime, OTHER, now=published) is None

    # The same, by moving published_at.
    recent = entry_id
    old = await anti_pattern(runtime, OTHER)
    now = datetime.now().astimezone()
    await set_published_at(runtime, recent, now - timedelta(days=6.9))
    await set_published_at(runtime, old, now - timedelta(days=7.1))
    assert await check(runtime, HASH, now=now) == recent
    assert await check(runtime, OTHER, now=now) is None


async def test_only_published_anti_patterns_count(runtime: Runtime) -> None:
    # A draft anti-pattern (written by hand), a rejected one and an archived one: none counts.
    draft = await add_entry(
        runtime, entry_type=EntryType.ANTI_PATTERN, symptoms_hash=HASH, title="draft"
    )
    rejected = await add_entry(
        runtime, entry_type=EntryType.ANTI_PATTERN, symptoms_hash=HASH, title="rejected"
    )
    archived = await anti_pattern(runtime, title="archived")
    async with transaction(runtime.session_factory) as session:
        await service.reject_entry(session, rejected.id, caller=person("r"), reason="wrong")
        await service.archive_entry(session, archived, caller=person("r"))
    # Published entries of other types with the same symptoms do not count either.
    await add_entry(
        runtime, entry_type=EntryType.RUNBOOK, status=EntryStatus.PUBLISHED, symptoms_hash=HASH
    )
    await add_entry(
        runtime, entry_type=EntryType.POSTMORTEM, status=EntryStatus.PUBLISHED, symptoms_hash=HASH
    )
    assert await check(runtime) is None

    # Approving the draft makes it count; archiving it stops it again.
    async with transaction(runtime.session_factory) as session:
        await service.approve_entry(session, draft.id, caller=person("r"))
    assert await check(runtime) == draft.id
    async with transaction(runtime.session_factory) as session:
        await service.archive_entry(session, draft.id, caller=person("r"))
    assert await check(runtime) is None


async def test_newest_of_several_wins(runtime: Runtime) -> None:
    now = datetime.now().astimezone()
    ids = [await anti_pattern(runtime, title=str(n)) for n in range(4)]
    for entry_id, days_ago in zip(ids, (3, 1, 2, 10), strict=True):
        await set_published_at(runtime, entry_id, now - timedelta(days=days_ago))
    assert await check(runtime, now=now) == ids[1]
    # Once the newest ages out of a short window, nothing; a wider one still finds it.
    assert await check(runtime, days=0.5, now=now) is None
    assert await check(runtime, days=1.5, now=now) == ids[1]
    # The same published_at: the later entry wins, deterministically.
    await set_published_at(runtime, ids[2], now - timedelta(days=1))
    assert await check(runtime, now=now) == max(ids[1], ids[2])


async def test_check_api(
    runtime: Runtime, client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    assert (await client.get(CHECK, params={"symptoms_hash": HASH}, headers=viewer)).json() is None

    entry_id = await anti_pattern(runtime)
    response = await client.get(CHECK, params={"symptoms_hash": HASH}, headers=viewer)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == entry_id
    assert body["entry_type"] == "ANTI_PATTERN"
    assert body["status"] == "PUBLISHED"
    assert body["symptoms_hash"] == HASH

    other = await client.get(CHECK, params={"symptoms_hash": OTHER}, headers=viewer)
    assert other.status_code == 200
    assert other.text == "null"

    # The window, through `days`: published two days ago.
    now = datetime.now().astimezone()
    await set_published_at(runtime, entry_id, now - timedelta(days=2))
    inside = await client.get(CHECK, params={"symptoms_hash": HASH, "days": 3}, headers=viewer)
    assert inside.json()["id"] == entry_id
    outside = await client.get(CHECK, params={"symptoms_hash": HASH, "days": 1}, headers=viewer)
    assert outside.status_code == 200
    assert outside.json() is None

    for params in (
        {"symptoms_hash": "ABCDEF0123456789"},
        {"symptoms_hash": "0123456789abcde"},
        {"symptoms_hash": "0123456789abcdef0"},
        {"symptoms_hash": "0123456789abcdeg"},
        {},
        {"symptoms_hash": HASH, "days": 0},
        {"symptoms_hash": HASH, "days": -1},
        {"symptoms_hash": HASH, "days": "soon"},
    ):
        bad = await client.get(CHECK, params=params, headers=viewer)
        assert bad.status_code == 422, (params, bad.text)
        assert bad.json()["error"] == "validation_error"
    assert (await client.get(CHECK, params={"symptoms_hash": HASH})).status_code == 401

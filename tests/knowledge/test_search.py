"""Ranked search with snippets, filters, query syntax that is never syntax, paging, listing, and
similar entries for an incident (both databases: FTS5 on SQLite, tsvector on PostgreSQL)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from awoooi.core.db import transaction
from awoooi.core.models import Role
from awoooi.incidents import repository
from awoooi.knowledge import search, service
from awoooi.knowledge.models import EntryStatus, EntryType
from awoooi.runtime import Runtime
from tests.incidents.conftest import TokenFactory, am_alert, am_payload
from tests.knowledge.conftest import BASE, add_entry, person

PUBLISHED = EntryStatus.PUBLISHED


async def find(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await client.get(BASE, params=params, headers=headers)
    assert response.status_code == 200, (params, response.text)
    return dict(response.json())


def titles(page: dict[str, Any]) -> list[str]:
    return [item["title"] for item in page["items"]]


@pytest.fixture
async def corpus(runtime: Runtime) -> dict[str, int]:
    """A few entries with known words; returns their ids by short name."""
    specs: dict[str, dict[str, Any]] = {
        "crash": {
            "title": "CrashLoopBackOff after deploy",
            "content": "Roll the deployment back. Do not scale up and do not restart by hand: "
            "the pod is near its memory limit.",
            "entry_type": EntryType.RUNBOOK,
            "status": PUBLISHED,
            "tags": ("k8s", "teamxa"),
            "services": ("web",),
        },
        "disk": {
            "title": "Node disk pressure",
            "content": "Pods are evicted when the kubelet sees disk pressure; look for "
            "crashloopbackoff in the kubelet logs of the node before you drain it.",
            "entry_type": EntryType.REFERENCE,
            "tags": ("node", "team_a"),
            "services": ("api", "webhook"),
        },
        "timeouts": {
            "title": "Upstream errors, first kind",
            "content": "timeout timeout timeout while connecting to the upstream gateway",
            "entry_type": EntryType.POSTMORTEM,
            "status": PUBLISHED,
        },
        "timeout": {
            "title": "Upstream errors, second kind",
            "content": "a timeout while connecting to the upstream gateway of the shop",
            "entry_type": EntryType.POSTMORTEM,
        },
        "redis": {
            "title": "Cache connection refused",
            "content": "checkout logs connection refused from redis.cache.svc port 6379 "
            "(10.0.0.7) after the failover",
            "entry_type": EntryType.RUNBOOK,
            "tags": ("網路",),
            "services": ("checkout",),
        },
    }
    return {name: (await add_entry(runtime, **spec)).id for name, spec in specs.items()}


async def test_ranking(
    runtime: Runtime, client: httpx.AsyncClient, viewer: dict[str, str], corpus: dict[str, int]
) -> None:
    # A title match outranks a content-only match.
    page = await find(client, viewer, q="crashloopbackoff")
    assert [item["id"] for item in page["items"]] == [corpus["crash"], corpus["disk"]]
    assert page["total"] == 2
    ranks = [item["rank"] for item in page["items"]]
    assert ranks[0] > ranks[1] > 0
    # Case does not matter.
    assert titles(await find(client, viewer, q="CRASHLOOPBACKOFF")) == titles(page)

    # More hits of a word rank higher.
    page = await find(client, viewer, q="timeout")
    assert [item["id"] for item in page["items"]] == [corpus["timeouts"], corpus["timeout"]]
    assert page["items"][0]["rank"] > page["items"][1]["rank"]

    # With any_term (used for similar entries), more of the words matched ranks higher.
    async with runtime.session_factory() as session:
        hits, total = await search.search(
            session, "gateway shop evicted", search.Filters(), limit=10, offset=0, any_term=True
        )
    assert total == 3
    assert hits[0].entry.id == corpus["timeout"]  # gateway and shop
    assert {hit.entry.id for hit in hits[1:]} == {corpus["timeouts"], corpus["disk"]}
    assert hits[0].rank > hits[1].rank


async def test_snippets_mark_the_matched_word(
    client: httpx.AsyncClient, viewer: dict[str, str], corpus: dict[str, int]
) -> None:
    (hit,) = (await find(client, viewer, q="evicted"))["items"]
    assert hit["id"] == corpus["disk"]
    assert "[evicted]" in hit["snippet"]
    assert "kubelet" in hit["snippet"]
    assert "content" not in hit  # search hits do not carry the whole text

    # Prefix on the last word: the whole matched word is marked.
    page = await find(client, viewer, q="kubelet crashloo")
    assert [item["id"] for item in page["items"]] == [corpus["disk"]]
    assert "[crashloopbackoff]" in page["items"][0]["snippet"]
    # Only the last word is a prefix.
    assert (await find(client, viewer, q="crashloo kubelet"))["total"] == 0
    assert (await find(client, viewer, q="evict"))["total"] == 1
    assert (await find(client, viewer, q="evict pods"))["total"] == 0


async def test_filters(
    client: httpx.AsyncClient, viewer: dict[str, str], corpus: dict[str, int]
) -> None:
    async def ids(**params: Any) -> set[int]:
        return {item["id"] for item in (await find(client, viewer, **params))["items"]}

    assert await ids(type="RUNBOOK") == {corpus["crash"], corpus["redis"]}
    assert await ids(type="ANTI_PATTERN") == set()
    assert await ids(status="PUBLISHED") == {corpus["crash"], corpus["timeouts"]}
    assert await ids(status="DRAFT", type="POSTMORTEM") == {corpus["timeout"]}
    assert await ids(tag="k8s") == {corpus["crash"]}
    assert await ids(tag="k8") == set()  # whole tags only
    assert await ids(service="web") == {corpus["crash"]}  # not "webhook"
    assert await ids(service="api") == {corpus["disk"]}
    # Filters combine with a query.
    assert await ids(q="crashloopbackoff", type="REFERENCE") == {corpus["disk"]}
    assert await ids(q="crashloopbackoff", status="PUBLISHED") == {corpus["crash"]}
    assert await ids(q="crashloopbackoff", tag="node") == {corpus["disk"]}
    assert await ids(q="crashloopbackoff", service="web") == {corpus["crash"]}
    assert await ids(q="timeout", service="web") == set()
    page = await find(client, viewer, q="crashloopbackoff", service="web")
    assert page["total"] == 1

    # Tags are matched literally: LIKE wildcards in a tag are plain characters.
    assert await ids(tag="team_a") == {corpus["disk"]}
    assert await ids(tag="team%") == set()
    assert await ids(tag="k8s\x00") == set()
    assert await ids(service="web\x00") == set()
    # Non-ASCII tags (zh-TW is a supported language) are found on both databases.
    assert await ids(tag="網路") == {corpus["redis"]}


# Characters and words that mean something to FTS5 or to_tsquery: here they are plain text.
SYNTAX_QUERIES: list[tuple[str, set[str]]] = [
    ('"crashloopbackoff', {"crash", "disk"}),
    ('crashloopbackoff"', {"crash", "disk"}),
    ('"crashloopbackoff"', {"crash", "disk"}),
    ("crashloopbackoff*", {"crash", "disk"}),
    ("crash*loop", set()),
    ("(crashloopbackoff", {"crash", "disk"}),
    ("crashloopbackoff)", {"crash", "disk"}),
    ("{crashloopbackoff}", {"crash", "disk"}),
    ("^crashloopbackoff", {"crash", "disk"}),
    ("-crashloopbackoff", {"crash", "disk"}),
    ("crashloopbackoff -deploy", {"crash"}),
    ("deploy:", {"crash"}),
    ("deploy:*", {"crash"}),
    ("title:deploy", set()),  # "title" is a word here, not a column filter
    ("deploy & crashloopbackoff", {"crash"}),
    ("deploy | crashloopbackoff", {"crash"}),
    ("deploy + crashloopbackoff", {"crash"}),
    ("deploy ! crashloopbackoff", {"crash"}),
    ("deploy <-> crashloopbackoff", {"crash"}),
    ("crashloopbackoff NEAR deploy", {"crash"}),  # the content has the word "near"
    ("NEAR(crashloopbackoff deploy)", {"crash"}),
    ("near/crashloopbackoff", {"crash"}),
    ("crashloopbackoff AND NOT deploy", {"crash"}),
    ("crashloopbackoff OR unknownword", set()),
    ("crashloopbackoff'", {"crash", "disk"}),
    ("it's crashloopbackoff", set()),
    ("crashloopbackoff\\", {"crash", "disk"}),
    ("crashloopbackoff;--", {"crash", "disk"}),
    ("crashloopbackoff%", {"crash", "disk"}),
    ("_", set()),
    ("deploy _", {"crash"}),
    ("crashloopbackoff\x00", {"crash", "disk"}),  # PostgreSQL text cannot hold NUL
    ("deploy\x00 crashloopbackoff", {"crash"}),
]


async def test_query_syntax_is_never_syntax(
    client: httpx.AsyncClient, viewer: dict[str, str], corpus: dict[str, int]
) -> None:
    names = {entry_id: name for name, entry_id in corpus.items()}
    wrong = []
    for query, expected in SYNTAX_QUERIES:
        response = await client.get(BASE, params={"q": query}, headers=viewer)
        if response.status_code != 200:
            wrong.append((query, response.status_code, response.text))
            continue
        page = response.json()
        found = {names[item["id"]] for item in page["items"]}
        if found != expected or page["total"] != len(expected):
            wrong.append((query, found, page["total"]))
    assert wrong == []

    # What an operator pastes from an alert: a host name, an address (PostgreSQL's parser keeps
    # these as one lexeme each; FTS5 splits them into words).
    for query in ("redis.cache.svc", "10.0.0.7", "redis.cache.svc refused", "redis.cache"):
        page = await find(client, viewer, q=query)
        assert [item["id"] for item in page["items"]] == [corpus["redis"]], query


async def test_listing_is_newest_first_and_pages(
    runtime: Runtime, client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    ids = [
        (await add_entry(runtime, title=f"paging entry {n}", content=f"paging {'word ' * n}")).id
        for n in range(7)
    ]
    listing = await find(client, viewer, limit=50)
    assert [item["id"] for item in listing["items"]] == ids[::-1]
    assert listing["total"] == 7
    # A query without words lists everything.
    for query in ("", "   ", "*", '"', "-", ":*", "&|!()", "''"):
        assert await find(client, viewer, q=query, limit=50) == listing, query
    # An edit makes an entry the newest.
    async with transaction(runtime.session_factory) as session:
        await service.update_entry(session, ids[2], caller=person("t"), content="paging edited")
    assert (await find(client, viewer, limit=1))["items"][0]["id"] == ids[2]

    # Search pages: same total on every page, no overlap, the ranking order kept.
    whole = await find(client, viewer, q="paging", limit=50)
    assert whole["total"] == 7
    pages = [await find(client, viewer, q="paging", limit=3, offset=o) for o in (0, 3, 6, 9)]
    assert [page["total"] for page in pages] == [7, 7, 7, 7]
    assert [len(page["items"]) for page in pages] == [3, 3, 1, 0]
    assert [page["limit"] for page in pages] == [3, 3, 3, 3]
    assert [page["offset"] for page in pages] == [0, 3, 6, 9]
    paged = [item["id"] for page in pages for item in page["items"]]
    assert paged == [item["id"] for item in whole["items"]]
    ranks = [item["rank"] for item in whole["items"]]
    assert ranks == sorted(ranks, reverse=True)
    # Listing pages too.
    first = await find(client, viewer, limit=4)
    second = await find(client, viewer, limit=4, offset=4)
    assert len(first["items"]) + len(second["items"]) == 7
    assert {i["id"] for i in first["items"]}.isdisjoint({i["id"] for i in second["items"]})

    for params in ({"limit": 0}, {"limit": 201}, {"offset": -1}, {"q": "x" * 501}):
        response = await client.get(BASE, params=params, headers=viewer)
        assert response.status_code == 422, params


async def test_pages_by_id_walk_every_match_in_id_order(runtime: Runtime) -> None:
    published = [
        (await add_entry(runtime, title=f"export {n}", status=PUBLISHED)).id for n in range(4)
    ]
    draft = (await add_entry(runtime, title="a draft")).id
    reference = (await add_entry(runtime, entry_type=EntryType.REFERENCE, status=PUBLISHED)).id
    async with transaction(runtime.session_factory) as session:
        # An edit reorders the listing (newest change first), never the id order of an export.
        await service.update_entry(session, published[0], caller=person("t"), content="edited")

    async def walk(filters: search.Filters, size: int) -> list[list[int]]:
        async with runtime.session_factory() as session:
            return [
                [entry.id for entry in page]
                async for page in search.pages_by_id(session, filters, page_size=size)
            ]

    everything = sorted([*published, draft, reference])
    assert await walk(search.Filters(), 2) == [everything[:2], everything[2:4], everything[4:]]
    # A last page exactly full is followed by one look that finds nothing, and no empty page.
    assert await walk(search.Filters(), 3) == [everything[:3], everything[3:]]
    assert await walk(search.Filters(), 50) == [everything]
    only_published = search.Filters(status=PUBLISHED.value)
    assert await walk(only_published, 3) == [published[:3], [published[3], reference]]
    runbooks = search.Filters(status=PUBLISHED.value, entry_type=EntryType.RUNBOOK.value)
    assert await walk(runbooks, 10) == [published]
    assert await walk(search.Filters(entry_type=EntryType.POSTMORTEM.value), 10) == []


async def test_search_follows_edits(
    runtime: Runtime, client: httpx.AsyncClient, viewer: dict[str, str], corpus: dict[str, int]
) -> None:
    async with transaction(runtime.session_factory) as session:
        await service.update_entry(
            session, corpus["disk"], caller=person("t"), content="replaced text about inodes"
        )
    assert (await find(client, viewer, q="evicted"))["total"] == 0
    (hit,) = (await find(client, viewer, q="inodes"))["items"]
    assert hit["id"] == corpus["disk"]
    async with transaction(runtime.session_factory) as session:
        await service.update_entry(session, corpus["disk"], caller=person("t"), tags=["storage"])
    assert (await find(client, viewer, q="storage"))["total"] == 1


async def test_similar_puts_same_symptoms_first(
    runtime: Runtime, client: httpx.AsyncClient, headers_for: TokenFactory, viewer: dict[str, str]
) -> None:
    ingest = await headers_for(Role.INGEST)
    response = await client.post(
        "/api/v1/alerts/alertmanager", json=am_payload([am_alert()]), headers=ingest
    )
    assert response.status_code == 202, response.text
    human_id = response.json()["incidents"][0]
    async with runtime.session_factory() as session:
        incident = await repository.get_by_human_id(session, human_id)
    assert incident is not None

    text_match = await add_entry(
        runtime, title="Seen before", content=f"Notes about {incident.title} and more."
    )
    same_hash = await add_entry(
        runtime,
        title="Unrelated words",
        content="nothing in common",
        symptoms_hash=incident.symptoms_hash,
    )
    archived = await add_entry(
        runtime, title="Old", content="x", symptoms_hash=incident.symptoms_hash
    )
    rejected = await add_entry(runtime, title="Rejected", content=f"About {incident.title}.")
    await add_entry(runtime, title="Elsewhere", content="disk pressure on a node")
    async with transaction(runtime.session_factory) as session:
        await service.archive_entry(session, archived.id, caller=person("t"))
        await service.reject_entry(session, rejected.id, caller=person("t"), reason="wrong")

    response = await client.get(f"{BASE}/similar", params={"incident": human_id}, headers=viewer)
    assert response.status_code == 200, response.text
    assert [hit["id"] for hit in response.json()] == [same_hash.id, text_match.id]

    limited = await client.get(
        f"{BASE}/similar", params={"incident": human_id, "limit": 1}, headers=viewer
    )
    assert [hit["id"] for hit in limited.json()] == [same_hash.id]
    missing = await client.get(
        f"{BASE}/similar", params={"incident": "INC-20000101-0001"}, headers=viewer
    )
    assert missing.status_code == 404


async def test_tags_are_searchable_words(
    request: pytest.FixtureRequest,
    database_url: str,
    client: httpx.AsyncClient,
    viewer: dict[str, str],
    corpus: dict[str, int],
) -> None:
    assert [item["id"] for item in (await find(client, viewer, q="k8s"))["items"]] == [
        corpus["crash"]
    ]
    if database_url.startswith("sqlite"):
        # Open issue: the FTS5 triggers (migration 0004) index the tags' JSON text, in which
        # SQLite's JSON serializer escapes non-ASCII ("\u7db2"); PostgreSQL indexes the words.
        request.applymarker(
            pytest.mark.xfail(strict=True, reason="SQLite FTS indexes JSON-escaped tags")
        )
    assert [item["id"] for item in (await find(client, viewer, q="網路"))["items"]] == [
        corpus["redis"]
    ]

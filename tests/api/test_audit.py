"""Mutations through the API land in the audit log, which filters and pages."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from awoooi.core.db import utcnow
from awoooi.core.models import Job, JobStatus
from awoooi.runtime import Runtime


async def dead_job(runtime: Runtime, kind: str = "test.kind") -> int:
    """Insert a dead job; return its id."""
    now = utcnow()
    async with runtime.session_factory() as session:
        job = Job(
            kind=kind,
            payload={},
            status=JobStatus.DEAD.value,
            attempts=5,
            run_at=now,
            last_error="boom",
            created_at=now,
            updated_at=now,
            finished_at=now,
        )
        session.add(job)
        await session.commit()
        return job.id


def summary(entries: list[dict[str, Any]]) -> list[tuple[str, str, str, str, str | None]]:
    return [(e["actor"], e["action"], e["target"], e["outcome"], e["request_id"]) for e in entries]


async def test_mutations_are_audited(
    client: httpx.AsyncClient, runtime: Runtime, admin_headers: dict[str, str]
) -> None:
    job_id = await dead_job(runtime)
    created = await client.post(
        "/api/v1/tokens",
        json={"name": "alpha", "role": "viewer"},
        headers={**admin_headers, "X-Request-ID": "req-create-1"},
    )
    revoked = await client.delete(
        "/api/v1/tokens/alpha", headers={**admin_headers, "X-Request-ID": "req-revoke-1"}
    )
    retried = await client.post(
        f"/api/v1/jobs/{job_id}/retry", headers={**admin_headers, "X-Request-ID": "req-retry-1"}
    )
    assert [created.status_code, revoked.status_code, retried.status_code] == [201, 200, 200]
    assert retried.json()["status"] == "queued"
    assert retried.json()["attempts"] == 0

    response = await client.get("/api/v1/audit", headers=admin_headers)
    assert response.status_code == 200
    entries = response.json()
    assert summary(entries) == [
        ("admin", "job.retry", f"job:{job_id}", "ok", "req-retry-1"),
        ("admin", "token.revoke", "token:alpha", "ok", "req-revoke-1"),
        ("admin", "token.create", "token:alpha", "ok", "req-create-1"),
        # The first admin token, minted at the first start, is in the log too (issue 18).
        ("bootstrap", "token.create", "token:admin", "ok", None),
    ]
    assert [e["detail"] for e in entries] == [
        {"kind": "test.kind"},
        {},
        {"role": "viewer"},
        {"role": "admin"},
    ]
    assert [e["door"] for e in entries] == ["api", "api", "api", "system"]
    ids = [e["id"] for e in entries]
    assert ids == sorted(ids, reverse=True)
    assert all(e["at"] for e in entries)
    # The secret of the created token never reaches the audit log.
    assert created.json()["token"] not in response.text


async def test_generated_request_id_is_recorded(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    created = await client.post(
        "/api/v1/tokens", json={"name": "gen", "role": "viewer"}, headers=admin_headers
    )
    entries = (await client.get("/api/v1/audit", headers=admin_headers)).json()
    assert entries[0]["request_id"] == created.headers["x-request-id"]


async def test_failed_mutations_leave_no_entry(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await client.post(
        "/api/v1/tokens", json={"name": "once", "role": "viewer"}, headers=admin_headers
    )
    duplicate = await client.post(
        "/api/v1/tokens", json={"name": "once", "role": "viewer"}, headers=admin_headers
    )
    missing = await client.delete("/api/v1/tokens/missing", headers=admin_headers)
    not_dead = await client.post("/api/v1/jobs/424242/retry", headers=admin_headers)
    assert [duplicate.status_code, missing.status_code, not_dead.status_code] == [409, 404, 404]
    entries = (await client.get("/api/v1/audit", headers=admin_headers)).json()
    assert [(e["action"], e["target"]) for e in entries] == [
        ("token.create", "token:once"),
        ("token.create", "token:admin"),  # the first start's
    ]


async def test_actor_is_the_calling_token(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    boss = await client.post(
        "/api/v1/tokens", json={"name": "boss", "role": "admin"}, headers=admin_headers
    )
    boss_headers = {"Authorization": f"Bearer {boss.json()['token']}"}
    made = await client.post(
        "/api/v1/tokens", json={"name": "beta", "role": "operator"}, headers=boss_headers
    )
    assert made.status_code == 201
    assert made.json()["created_by"] == "boss"
    await client.delete("/api/v1/tokens/beta", headers=admin_headers)

    by_boss = await client.get("/api/v1/audit", params={"actor": "boss"}, headers=admin_headers)
    assert [(e["actor"], e["action"], e["target"]) for e in by_boss.json()] == [
        ("boss", "token.create", "token:beta")
    ]
    by_admin = await client.get("/api/v1/audit", params={"actor": "admin"}, headers=admin_headers)
    assert [(e["action"], e["target"]) for e in by_admin.json()] == [
        ("token.revoke", "token:beta"),
        ("token.create", "token:boss"),
    ]
    creations = await client.get(
        "/api/v1/audit", params={"action": "token.create"}, headers=admin_headers
    )
    assert [(e["actor"], e["target"]) for e in creations.json()] == [
        ("boss", "token:beta"),
        ("admin", "token:boss"),
        ("bootstrap", "token:admin"),
    ]
    both = await client.get(
        "/api/v1/audit",
        params={"actor": "admin", "action": "token.revoke"},
        headers=admin_headers,
    )
    assert [e["target"] for e in both.json()] == ["token:beta"]
    nobody = await client.get("/api/v1/audit", params={"actor": "nobody"}, headers=admin_headers)
    assert nobody.status_code == 200
    assert nobody.json() == []


async def test_paging_with_before_id_and_limit(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    for index in range(7):
        response = await client.post(
            "/api/v1/tokens",
            json={"name": f"page-{index}", "role": "viewer"},
            headers=admin_headers,
        )
        assert response.status_code == 201
    everything = (await client.get("/api/v1/audit", headers=admin_headers)).json()
    assert [e["target"] for e in everything] == [
        *(f"token:page-{i}" for i in range(6, -1, -1)),
        "token:admin",  # the first start's
    ]

    pages: list[list[dict[str, Any]]] = []
    params: dict[str, int] = {"limit": 3}
    while True:
        page = (await client.get("/api/v1/audit", params=params, headers=admin_headers)).json()
        if not page:
            break
        pages.append(page)
        params = {"limit": 3, "before_id": page[-1]["id"]}
    assert [len(page) for page in pages] == [3, 3, 2]
    assert [e["id"] for page in pages for e in page] == [e["id"] for e in everything]

    below = await client.get(
        "/api/v1/audit", params={"before_id": everything[2]["id"]}, headers=admin_headers
    )
    assert [e["id"] for e in below.json()] == [e["id"] for e in everything[3:]]
    one = await client.get("/api/v1/audit", params={"limit": 1}, headers=admin_headers)
    assert [e["id"] for e in one.json()] == [everything[0]["id"]]


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"limit": 1001}, ["query", "limit"]),
        ({"limit": 0}, ["query", "limit"]),
        ({"limit": "many"}, ["query", "limit"]),
        ({"before_id": 0}, ["query", "before_id"]),
        ({"before_id": 2**31}, ["query", "before_id"]),
        ({"before_id": 2**70}, ["query", "before_id"]),
        ({"actor": "a" * 129}, ["query", "actor"]),
        ({"action": "a" * 65}, ["query", "action"]),
        ({"since": "yesterday"}, ["query", "since"]),
    ],
)
async def test_invalid_audit_query_is_422(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    params: dict[str, object],
    loc: list[str],
) -> None:
    response = await client.get("/api/v1/audit", params=params, headers=admin_headers)  # type: ignore[arg-type]
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "validation_error"
    assert [item["loc"] for item in body["detail"]] == [loc]


async def test_limit_at_maximum_is_accepted(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.get("/api/v1/audit", params={"limit": 1000}, headers=admin_headers)
    assert response.status_code == 200
    assert [e["target"] for e in response.json()] == ["token:admin"]


async def test_since_filter(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    await client.post(
        "/api/v1/tokens", json={"name": "old", "role": "viewer"}, headers=admin_headers
    )
    entries = (await client.get("/api/v1/audit", headers=admin_headers)).json()
    stamp = entries[0]["at"]
    same = await client.get("/api/v1/audit", params={"since": stamp}, headers=admin_headers)
    assert [e["target"] for e in same.json()] == ["token:old"]
    future = await client.get(
        "/api/v1/audit", params={"since": "2999-01-01T00:00:00Z"}, headers=admin_headers
    )
    assert future.json() == []


@pytest.mark.parametrize(
    ("since", "status"),
    [
        ("2020-01-01T00:00:00", 422),
        ("2020-01-01", 422),
        ("2020-01-01T00:00:00+02:00", 200),
        ("2020-01-01T00:00:00Z", 200),
        ("1577836800", 200),
    ],
)
async def test_since_needs_a_timezone(
    client: httpx.AsyncClient, admin_headers: dict[str, str], since: str, status: int
) -> None:
    await client.post(
        "/api/v1/tokens", json={"name": "recent", "role": "viewer"}, headers=admin_headers
    )
    response = await client.get("/api/v1/audit", params={"since": since}, headers=admin_headers)
    # A time without a zone is ambiguous: the client gets a 422, never a 500.
    assert response.status_code == status, response.text
    if status == 200:
        assert [e["target"] for e in response.json()] == ["token:recent", "token:admin"]
    else:
        assert response.json()["error"] == "validation_error"
        assert [item["loc"] for item in response.json()["detail"]] == [["query", "since"]]


async def test_largest_before_id_is_accepted(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await client.post("/api/v1/tokens", json={"name": "t", "role": "viewer"}, headers=admin_headers)
    response = await client.get(
        "/api/v1/audit", params={"before_id": 2**31 - 1}, headers=admin_headers
    )
    assert response.status_code == 200
    assert [e["target"] for e in response.json()] == ["token:t", "token:admin"]


@pytest.mark.parametrize(("job_id", "status"), [(2**31 - 1, 404), (2**31, 422), (2**63, 422)])
async def test_retry_with_out_of_range_job_id(
    client: httpx.AsyncClient, admin_headers: dict[str, str], job_id: int, status: int
) -> None:
    # Ids past the INTEGER column range used to reach the database and fail there with a 500.
    response = await client.post(f"/api/v1/jobs/{job_id}/retry", headers=admin_headers)
    assert response.status_code == status, response.text
    if status == 404:
        assert response.json() == {"error": "not_found", "detail": f"no job {job_id}"}
    else:
        assert response.json()["error"] == "validation_error"
        assert [item["loc"] for item in response.json()["detail"]] == [["path", "job_id"]]
    entries = (await client.get("/api/v1/audit", headers=admin_headers)).json()
    assert [e["target"] for e in entries] == ["token:admin"]  # only the first start's


async def test_retry_of_a_job_that_is_not_dead_is_409(
    client: httpx.AsyncClient, runtime: Runtime, admin_headers: dict[str, str]
) -> None:
    job_id = await dead_job(runtime)
    first = await client.post(f"/api/v1/jobs/{job_id}/retry", headers=admin_headers)
    second = await client.post(f"/api/v1/jobs/{job_id}/retry", headers=admin_headers)
    assert first.status_code == 200
    assert second.status_code == 409
    assert second.json() == {
        "error": "conflict",
        "detail": f"job {job_id} is queued; only dead jobs can be retried",
    }
    entries = (await client.get("/api/v1/audit", headers=admin_headers)).json()
    assert [e["action"] for e in entries] == ["job.retry", "token.create"]

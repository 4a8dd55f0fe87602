"""Liveness, readiness, Prometheus metrics and the API docs."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from awoooi.api import health
from awoooi.api.app import create_app
from awoooi.core import migrate
from awoooi.runtime import Runtime
from tests.conftest import make_settings

UNREACHABLE_URL = "postgresql+asyncpg://postgres@127.0.0.1:1/x"


def request_count(metrics_text: str, method: str, route: str, status: str) -> float:
    """The awoooi_http_requests_total sample for these labels (0 when absent)."""
    for family in text_string_to_metric_families(metrics_text):
        if family.name != "awoooi_http_requests":
            continue
        for sample in family.samples:
            if sample.name == "awoooi_http_requests_total" and sample.labels == {
                "method": method,
                "route": route,
                "status": status,
            }:
                return sample.value
    return 0.0


def routes_seen(metrics_text: str) -> set[str]:
    return {
        sample.labels["route"]
        for family in text_string_to_metric_families(metrics_text)
        if family.name == "awoooi_http_requests"
        for sample in family.samples
        if sample.name == "awoooi_http_requests_total"
    }


@contextlib.asynccontextmanager
async def unstarted_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://awoooi.test") as http:
        yield http


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_schema_revision(client: httpx.AsyncClient) -> None:
    head = migrate.head_revision()
    assert head is not None
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "schema": head}


async def test_readyz_503_when_database_unreachable(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home", UNREACHABLE_URL)
    runtime = Runtime.from_settings(settings)
    try:
        # No lifespan: without a database the admin bootstrap cannot run; the probe must answer.
        app = create_app(settings, runtime=runtime, run_migrations=False, run_worker=False)
        async with unstarted_client(app) as http:
            response = await http.get("/readyz")
            health = await http.get("/healthz")
    finally:
        await runtime.dispose()
    assert response.status_code == 503
    assert response.json() == {"error": "unavailable", "detail": "database unreachable"}
    assert response.headers["x-request-id"]
    assert health.status_code == 200


async def test_readyz_503_when_database_hangs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path / "home", f"sqlite+aiosqlite:///{tmp_path / 'h.db'}")
    runtime = Runtime.from_settings(settings)

    async def never(_engine: object) -> str:
        await asyncio.Event().wait()
        return "unreachable"

    monkeypatch.setattr(health, "READY_TIMEOUT_SECONDS", 0.05)
    monkeypatch.setattr(migrate, "current_revision", never)
    try:
        app = create_app(settings, runtime=runtime, run_migrations=False, run_worker=False)
        async with unstarted_client(app) as http:
            response = await http.get("/readyz")
    finally:
        await runtime.dispose()
    assert response.status_code == 503
    assert response.json() == {"error": "unavailable", "detail": "database unreachable"}


async def test_readyz_503_when_not_migrated(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path / "home", database_url)
    runtime = Runtime.from_settings(settings)
    try:
        app = create_app(settings, runtime=runtime, run_migrations=False, run_worker=False)
        async with unstarted_client(app) as http:
            before = await http.get("/readyz")
            await runtime.migrate()
            after = await http.get("/readyz")
    finally:
        await runtime.dispose()
    head = migrate.head_revision()
    assert before.status_code == 503
    assert before.json() == {
        "error": "unavailable",
        "detail": f"database schema at None, expected {head}",
    }
    assert after.status_code == 200
    assert after.json() == {"status": "ready", "schema": head}


async def test_metrics_count_requests_by_route_template(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    name = f"probe-{uuid.uuid4().hex[:8]}"
    route = "/api/v1/tokens/{name}"
    before = (await client.get("/metrics")).text
    deleted = await client.delete(f"/api/v1/tokens/{name}", headers=admin_headers)
    assert deleted.status_code == 404
    await client.get(f"/definitely-missing-{name}")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = response.text

    assert (
        request_count(after, "DELETE", route, "404") - request_count(before, "DELETE", route, "404")
        == 1
    )
    assert (
        request_count(after, "GET", "unmatched", "404")
        - request_count(before, "GET", "unmatched", "404")
        == 1
    )
    seen = routes_seen(after)
    assert route in seen
    assert "/metrics" in seen
    assert not any(name in r for r in seen), seen
    assert "awoooi_http_request_duration_seconds_bucket" in after
    assert 'awoooi_build_info{version="' in after


async def test_metrics_count_each_request_once(client: httpx.AsyncClient) -> None:
    before = (await client.get("/metrics")).text
    for _ in range(3):
        assert (await client.get("/healthz")).status_code == 200
    after = (await client.get("/metrics")).text
    assert (
        request_count(after, "GET", "/healthz", "200")
        - request_count(before, "GET", "/healthz", "200")
        == 3
    )


async def test_metrics_do_not_grow_a_series_per_invented_method(
    client: httpx.AsyncClient,
) -> None:
    # Any client can send any method token; each one must not become a new time series.
    invented = [f"X{uuid.uuid4().hex[:10].upper()}" for _ in range(3)]
    before = (await client.get("/metrics")).text
    for method in invented:
        response = await client.request(method, "/healthz")
        assert response.status_code == 405
    after = (await client.get("/metrics")).text
    for method in invented:
        assert method not in after
    assert request_count(after, "OTHER", "/healthz", "405") - request_count(
        before, "OTHER", "/healthz", "405"
    ) == len(invented)


async def test_openapi_and_docs(client: httpx.AsyncClient) -> None:
    schema = await client.get("/openapi.json")
    assert schema.status_code == 200
    body = schema.json()
    assert body["info"]["title"] == "awoooi"
    assert "/api/v1/tokens/{name}" in body["paths"]
    assert "/readyz" in body["paths"]
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in docs.text

"""Poison at the edge: text the databases cannot hold, times that overflow, one bad alert in a
batch, and metrics that only count committed work — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from awoooi.core.db import transaction
from awoooi.core.metrics import REGISTRY
from awoooi.core.models import Role
from awoooi.incidents.alerts import Alert
from awoooi.incidents.models import Incident, IncidentAlert
from awoooi.incidents.service import IncidentIngestor
from awoooi.runtime import Runtime
from tests.incidents.conftest import TokenFactory, am_alert, am_payload

AM = "/api/v1/alerts/alertmanager"
GENERIC = "/api/v1/alerts"
REPLACEMENT = "\ufffd"


async def _count(runtime: Runtime, model: Any) -> int:
    async with runtime.session_factory() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def _batch(size: int, prefix: str) -> list[dict[str, Any]]:
    """Alerts with different symptoms (names differ in letters: digits are masked)."""
    names = [prefix + chr(ord("A") + i) for i in range(size)]
    return [am_alert(alertname=name, pod=f"{name.lower()}-0") for name in names]


async def test_one_nul_does_not_sink_an_alertmanager_batch(
    client: httpx.AsyncClient, runtime: Runtime, headers_for: TokenFactory
) -> None:
    ingest = await headers_for(Role.INGEST)
    alerts = _batch(20, "Nul")
    alerts[3]["annotations"]["description"] = "log tail: panic\u0000"
    alerts[7]["labels"]["service"] = "web\u0000"

    # Alertmanager redelivers the same batch: every delivery must be taken, none may fail.
    for _ in range(2):
        response = await client.post(AM, json=am_payload(alerts), headers=ingest)
        assert response.status_code == 202, response.text
        assert response.json()["rejected"] == []

    assert await _count(runtime, IncidentAlert) == 20
    async with runtime.session_factory() as session:
        by_name = {i.labels["alertname"]: i for i in await session.scalars(select(Incident))}
    assert len(by_name) == 20
    assert by_name["NulD"].annotations["description"] == f"log tail: panic{REPLACEMENT}"
    assert by_name["NulH"].labels["service"] == f"web{REPLACEMENT}"


async def test_lone_surrogates_are_cleaned_like_nul(
    client: httpx.AsyncClient, runtime: Runtime, headers_for: TokenFactory
) -> None:
    ingest = await headers_for(Role.INGEST)
    alerts = _batch(3, "Sur")
    alerts[1]["annotations"]["summary"] = "SURROGATE-SUMMARY"
    alerts[2]["labels"]["team"] = "LABEL-VALUE"
    # json.dumps would never write a lone surrogate escape; Go's encoder cannot either, but any
    # other sender may: write them into the body text by hand.
    raw = (
        json.dumps(am_payload(alerts))
        .replace("SURROGATE-SUMMARY", "half \\ud800 a pair")
        .replace("LABEL-VALUE", "\\udfff")
    )

    response = await client.post(
        AM, content=raw.encode(), headers={**ingest, "Content-Type": "application/json"}
    )

    assert response.status_code == 202, response.text
    assert response.json()["rejected"] == []
    async with runtime.session_factory() as session:
        by_name = {i.labels["alertname"]: i for i in await session.scalars(select(Incident))}
    assert by_name["SurB"].annotations["summary"] == f"half {REPLACEMENT} a pair"
    assert by_name["SurC"].labels["team"] == REPLACEMENT


async def test_generic_alerts_with_nul_are_stored_cleaned(
    client: httpx.AsyncClient, runtime: Runtime, headers_for: TokenFactory
) -> None:
    ingest = await headers_for(Role.INGEST)
    batch = {
        "alerts": [
            {"name": "Disk\u0000Full", "summary": "at 99%\u0000", "severity": "critical\u0000"},
            {"name": "Fine", "labels": {"service": "db"}},
        ]
    }

    response = await client.post(GENERIC, json=batch, headers=ingest)

    assert response.status_code == 202, response.text
    assert response.json()["opened"] == 2
    async with runtime.session_factory() as session:
        by_name = {i.labels["alertname"]: i for i in await session.scalars(select(Incident))}
    assert by_name[f"Disk{REPLACEMENT}Full"].title == f"at 99%{REPLACEMENT}"


async def test_a_bad_alert_is_rejected_by_name_and_the_rest_stored(
    client: httpx.AsyncClient, runtime: Runtime, headers_for: TokenFactory
) -> None:
    ingest = await headers_for(Role.INGEST)
    alerts = _batch(5, "Mix")
    alerts[1]["startsAt"] = "9999-12-31T23:59:59-01:00"  # past year 9999 in UTC
    alerts[3]["status"] = "pending"

    response = await client.post(AM, json=am_payload(alerts), headers=ingest)

    assert response.status_code == 202, response.text
    body = response.json()
    assert body["alerts"] == 3
    assert body["opened"] == 3
    rejected = {item["index"]: item for item in body["rejected"]}
    assert sorted(rejected) == [1, 3]
    assert rejected[1]["fingerprint"] == alerts[1]["fingerprint"]
    assert "startsAt" in rejected[1]["reason"]
    assert "status" in rejected[3]["reason"]
    assert await _count(runtime, IncidentAlert) == 3


@pytest.mark.parametrize(
    ("path", "alert", "field"),
    [
        (GENERIC, {"name": "Old", "starts_at": "0001-01-01T00:00:00+14:00"}, "starts_at"),
        (GENERIC, {"name": "Late", "ends_at": "9999-12-31T23:59:59-01:00"}, "ends_at"),
        (AM, {**am_alert(), "startsAt": "9999-12-31T23:59:59-01:00"}, "startsAt"),
        (AM, {**am_alert(), "endsAt": "0001-01-01T00:00:00+00:01"}, "endsAt"),
    ],
)
async def test_times_out_of_range_are_422_naming_the_field(
    client: httpx.AsyncClient,
    runtime: Runtime,
    headers_for: TokenFactory,
    path: str,
    alert: dict[str, Any],
    field: str,
) -> None:
    ingest = await headers_for(Role.INGEST)
    payload = am_payload([alert]) if path == AM else {"alerts": [alert]}

    response = await client.post(path, json=payload, headers=ingest)

    assert response.status_code == 422, response.text
    assert response.json()["error"] == "validation_error"
    assert ["body", "alerts", 0, field] in [p["loc"] for p in response.json()["detail"]]
    assert await _count(runtime, Incident) == 0


async def test_alertmanager_zero_time_still_means_absent(
    client: httpx.AsyncClient, runtime: Runtime, headers_for: TokenFactory
) -> None:
    ingest = await headers_for(Role.INGEST)
    alert = {**am_alert(), "startsAt": "0001-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z"}

    response = await client.post(AM, json=am_payload([alert]), headers=ingest)

    assert response.status_code == 202, response.text
    async with runtime.session_factory() as session:
        [stored] = list(await session.scalars(select(IncidentAlert)))
    assert stored.starts_at is None


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _counters() -> tuple[float, float]:
    received = _sample("awoooi_alerts_received_total", {"source": "generic", "status": "firing"})
    opened = _sample("awoooi_incidents_opened_total", {"severity": "medium"})
    return received, opened


async def test_metrics_count_only_committed_ingestion(runtime: Runtime) -> None:
    alerts = [
        Alert(fingerprint=f"metric-{i}", status="firing", labels={"alertname": f"Metric{i}"})
        for i in range(3)
    ]

    class Boom(Exception):
        pass

    async def fail_after_opening(*_args: object) -> None:
        raise Boom

    failing = IncidentIngestor(
        runtime.settings.symptoms, timedelta(minutes=30), on_opened=fail_after_opening
    )
    before = _counters()
    with pytest.raises(Boom):
        async with transaction(runtime.session_factory) as session:
            await failing.ingest(session, alerts, actor="test")
    assert _counters() == before
    assert await _count(runtime, Incident) == 0

    # Work rolled back by the caller after ingestion succeeded is not counted either.
    async with runtime.session_factory() as session:
        await runtime.incident_ingestor.ingest(session, alerts, actor="test")
        await session.rollback()
    assert _counters() == before

    async with transaction(runtime.session_factory) as session:
        await runtime.incident_ingestor.ingest(session, alerts, actor="test")
    assert _counters() == (before[0] + 3, before[1] + 3)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/incidents?service=web%00", 200),
        ("/api/v1/audit?actor=a%00&action=%ED%A0%80", 200),
        ("/api/v1/drift/reports?source=a%00", 200),
        ("/api/v1/repairs?incident=INC%00", 404),
        ("/api/v1/ai/calls?provider=a%00", 200),
    ],
)
async def test_query_filters_follow_the_text_rule(
    client: httpx.AsyncClient, admin_headers: dict[str, str], path: str, status: int
) -> None:
    # A filter holding what no stored text can hold matches nothing: not a 500.
    response = await client.get(path, headers=admin_headers)

    assert response.status_code == status, response.text


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/incidents?since=0001-01-01T00:00:00%2B14:00",
        "/api/v1/audit?since=9999-12-31T23:59:59-01:00",
        "/api/v1/drift/reports?since=0001-01-01T00:00:00%2B14:00",
        # A time without its offset is ambiguous: refused, as everywhere else.
        "/api/v1/drift/reports?since=2026-12-01T00:00:00",
    ],
)
async def test_since_out_of_range_is_422(
    client: httpx.AsyncClient, admin_headers: dict[str, str], path: str
) -> None:
    response = await client.get(path, headers=admin_headers)

    assert response.status_code == 422, response.text
    assert ["query", "since"] in [problem["loc"] for problem in response.json()["detail"]]


@pytest.mark.parametrize("number", ["2147483648", "99999999999999999999", "-1"])
@pytest.mark.parametrize(
    "path", ["/api/v1/repairs/{n}", "/api/v1/drift/reports/{n}", "/api/v1/knowledge/{n}"]
)
async def test_an_id_no_row_can_have_is_not_found(
    client: httpx.AsyncClient, admin_headers: dict[str, str], path: str, number: str
) -> None:
    # Past the database's integer range (PostgreSQL's 4 bytes, SQLite's 8): no such row, not
    # a 500 from the driver.
    response = await client.get(path.format(n=number), headers=admin_headers)

    assert response.status_code in {404, 422}, response.text
    assert response.json()["error"], response.text


@pytest.mark.parametrize(
    "body",
    [
        {"report_id": 99999999999999999999, "dry_run": True},
        {"report_id": 1, "item_ids": [2147483648], "dry_run": True},
    ],
)
async def test_a_drift_action_on_an_id_no_row_can_have_is_refused(
    client: httpx.AsyncClient, admin_headers: dict[str, str], body: dict[str, Any]
) -> None:
    response = await client.post("/api/v1/drift/rollback", json=body, headers=admin_headers)

    assert response.status_code == 422, response.text
    assert response.json()["error"], response.text

"""Alert ingestion end to end through the API, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from awoooi.core.models import Role
from awoooi.incidents.models import Incident, IncidentAlert, IncidentEvent
from awoooi.runtime import Runtime
from awoooi.symptoms import pattern_from_alert
from tests.incidents.conftest import TokenFactory, am_alert, am_payload

AM = "/api/v1/alerts/alertmanager"


async def _count(runtime: Runtime, model: Any) -> int:
    async with runtime.session_factory() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _incidents(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> Any:
    response = await client.get("/api/v1/incidents", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_one_payload_twice_yields_one_incident(
    client: httpx.AsyncClient, runtime: Runtime, headers_for: TokenFactory
) -> None:
    ingest = await headers_for(Role.INGEST)
    payload = am_payload([am_alert()])

    first = await client.post(AM, json=payload, headers=ingest)
    second = await client.post(AM, json=payload, headers=ingest)

    assert first.status_code == 202, first.text
    assert first.json()["opened"] == 1
    assert second.status_code == 202
    assert second.json()["opened"] == 0
    assert second.json()["deduplicated"] == 1
    assert first.json()["incidents"] == second.json()["incidents"]
    assert await _count(runtime, Incident) == 1
    assert await _count(runtime, IncidentAlert) == 1
    viewer = await headers_for(Role.VIEWER)
    [incident] = (await _incidents(client, viewer))["items"]
    assert incident["occurrences"] == 1  # a redelivery is not a new occurrence


async def test_alerts_differing_in_pod_instance_value_share_incident_and_hash(
    client: httpx.AsyncClient, runtime: Runtime, headers_for: TokenFactory
) -> None:
    ingest = await headers_for(Role.INGEST)
    alerts = [
        am_alert(pod="web-7d9f8c6b5d-x2kqz", instance="10.0.0.7:8080", value="3"),
        am_alert(pod="web-7d9f8c6b5d-q8w4n", instance="10.0.1.9:8080", value="11"),
        am_alert(pod="web-5f6b7c8d9e-zz9kd", instance="10.0.2.3:8080", value="0.5"),
    ]

    response = await client.post(AM, json=am_payload(alerts), headers=ingest)

    assert response.status_code == 202, response.text
    body = response.json()
    assert body["opened"] == 1
    assert body["deduplicated"] == 2
    assert len(body["incidents"]) == 1
    [incident] = (await _incidents(client, await headers_for(Role.VIEWER)))["items"]
    expected = pattern_from_alert(alerts[0]["labels"], alerts[0]["annotations"]).compute_hash()
    for alert in alerts[1:]:
        assert pattern_from_alert(alert["labels"], alert["annotations"]).compute_hash() == expected
    assert incident["symptoms_hash"] == expected
    assert incident["affected_services"] == ["web"]
    assert incident["namespace"] == "shop"
    assert incident["severity"] == "medium"  # warning -> medium
    assert incident["occurrences"] == 3
    assert sorted(incident["fingerprints"]) == sorted(a["fingerprint"] for a in alerts)
    assert incident["id"].startswith("INC-")
    assert len(incident["id"]) == len("INC-20261128-0001")


async def test_different_symptoms_open_different_incidents(
    client: httpx.AsyncClient, headers_for: TokenFactory
) -> None:
    ingest = await headers_for(Role.INGEST)
    alerts = [
        am_alert(alertname="KubernetesPodCrashLooping"),
        am_alert(alertname="KubernetesContainerOomKiller"),
        am_alert(alertname="KubernetesPodCrashLooping", namespace="billing"),
        am_alert(alertname="KubernetesPodCrashLooping", pod="api-6c8d9f7b5c-abcde"),
    ]

    body = (await client.post(AM, json=am_payload(alerts), headers=ingest)).json()

    assert body["opened"] == 4
    page = await _incidents(client, await headers_for(Role.VIEWER))
    assert page["total"] == 4
    assert len({item["symptoms_hash"] for item in page["items"]}) == 4
    numbers = sorted(int(item["id"].rsplit("-", 1)[1]) for item in page["items"])
    assert numbers == [1, 2, 3, 4]


async def test_resolved_payload_resolves_once_every_alert_resolved(
    client: httpx.AsyncClient, headers_for: TokenFactory
) -> None:
    ingest = await headers_for(Role.INGEST)
    viewer = await headers_for(Role.VIEWER)
    one = am_alert(pod="web-7d9f8c6b5d-x2kqz", instance="10.0.0.7:8080")
    two = am_alert(pod="web-7d9f8c6b5d-q8w4n", instance="10.0.0.8:8080")
    await client.post(AM, json=am_payload([one, two]), headers=ingest)

    resolved_one = {**one, "status": "resolved", "endsAt": "2026-11-28T10:05:00Z"}
    body = (
        await client.post(AM, json=am_payload([resolved_one], "resolved"), headers=ingest)
    ).json()
    assert body["resolved"] == 0
    [incident] = (await _incidents(client, viewer))["items"]
    assert incident["status"] == "open"

    resolved_two = {**two, "status": "resolved", "endsAt": "2026-11-28T10:06:00Z"}
    body = (
        await client.post(AM, json=am_payload([resolved_two], "resolved"), headers=ingest)
    ).json()
    assert body["resolved"] == 1
    detail = (await client.get(f"/api/v1/incidents/{incident['id']}", headers=viewer)).json()
    assert detail["status"] == "resolved"
    assert detail["resolved_at"] is not None
    events = [entry["event"] for entry in detail["timeline"]]
    assert events == ["opened", "alert_grouped", "alert_resolved", "status_changed"]
    assert detail["timeline"][-1]["to_status"] == "resolved"
    assert detail["timeline"][-1]["actor"].startswith("ingest-")

    again = (
        await client.post(AM, json=am_payload([resolved_two], "resolved"), headers=ingest)
    ).json()
    assert again["resolved"] == 0
    assert again["ignored"] == 1


async def test_alert_firing_after_resolution_opens_a_new_incident(
    client: httpx.AsyncClient, headers_for: TokenFactory
) -> None:
    ingest = await headers_for(Role.INGEST)
    alert = am_alert()
    await client.post(AM, json=am_payload([alert]), headers=ingest)
    await client.post(
        AM, json=am_payload([{**alert, "status": "resolved"}], "resolved"), headers=ingest
    )
    refired = {**alert, "startsAt": "2026-11-28T11:00:00Z"}

    body = (await client.post(AM, json=am_payload([refired]), headers=ingest)).json()

    assert body["opened"] == 1
    page = await _incidents(client, await headers_for(Role.VIEWER))
    assert sorted(item["status"] for item in page["items"]) == ["open", "resolved"]


async def test_grouping_respects_the_window(
    client: httpx.AsyncClient, runtime: Runtime, headers_for: TokenFactory
) -> None:
    runtime.settings.incidents.group_window_minutes = 0  # nothing is recent enough to join
    ingest = await headers_for(Role.INGEST)
    await client.post(AM, json=am_payload([am_alert(pod="web-7d9f8c6b5d-aaaaa")]), headers=ingest)

    body = (
        await client.post(
            AM, json=am_payload([am_alert(pod="web-7d9f8c6b5d-bbbbb")]), headers=ingest
        )
    ).json()

    assert body["opened"] == 1
    assert await _count(runtime, Incident) == 2


async def test_severity_mapping_and_escalation_to_the_worst(
    client: httpx.AsyncClient, headers_for: TokenFactory
) -> None:
    ingest = await headers_for(Role.INGEST)
    cases = {"critical": "critical", "error": "high", "info": "info", "bogus": "medium"}
    for index, label in enumerate(cases):
        alert = am_alert(alertname=f"Signal{index}", severity=label)
        await client.post(AM, json=am_payload([alert]), headers=ingest)
    page = await _incidents(client, await headers_for(Role.VIEWER), limit=10)
    by_signal = {item["symptoms"]["signal"]: item["severity"] for item in page["items"]}
    assert by_signal == {f"Signal{i}": cases[label] for i, label in enumerate(cases)}

    worse = am_alert(alertname="Signal2", severity="critical", pod="web-7d9f8c6b5d-zzzzz")
    await client.post(AM, json=am_payload([worse]), headers=ingest)
    page = await _incidents(client, await headers_for(Role.VIEWER), severity="critical")
    assert {item["symptoms"]["signal"] for item in page["items"]} == {"Signal0", "Signal2"}


async def test_thousand_alerts_in_one_payload(
    client: httpx.AsyncClient, runtime: Runtime, headers_for: TokenFactory
) -> None:
    ingest = await headers_for(Role.INGEST)
    alerts = [
        am_alert(
            alertname=f"Rule{index % 50}",
            pod=f"web-7d9f8c6b5d-{index:05d}",
            instance=f"10.0.{index // 250}.{index % 250}:8080",
        )
        for index in range(1000)
    ]

    response = await client.post(AM, json=am_payload(alerts), headers=ingest)

    assert response.status_code == 202, response.text
    assert response.json()["alerts"] == 1000
    assert response.json()["opened"] == 50
    # The 50 incidents of one namespace form a storm (more than incidents.storm_threshold).
    assert await _count(runtime, Incident) == 51
    assert await _count(runtime, IncidentAlert) == 1000


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda p: p.pop("alerts"), "alerts"),
        (lambda p: p.update(version="3"), "version"),
    ],
)
async def test_bad_payload_is_422_naming_the_field(
    client: httpx.AsyncClient,
    runtime: Runtime,
    headers_for: TokenFactory,
    mutate: Any,
    field: str,
) -> None:
    ingest = await headers_for(Role.INGEST)
    payload = am_payload([am_alert(), am_alert(pod="web-7d9f8c6b5d-other")])
    mutate(payload)

    response = await client.post(AM, json=payload, headers=ingest)

    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "validation_error"
    assert any(field in [str(part) for part in problem["loc"]] for problem in body["detail"])
    assert await _count(runtime, Incident) == 0


BAD_ALERTS = [
    (lambda a: a.pop("fingerprint"), "fingerprint"),
    (lambda a: a.update(status="pending"), "status"),
    (lambda a: a.update(labels=["not", "a", "map"]), "labels"),
    (lambda a: a["labels"].update(severity=5), "severity"),
    (lambda a: a.update(startsAt="yesterday"), "startsAt"),
]


@pytest.mark.parametrize(("mutate", "field"), BAD_ALERTS)
async def test_a_bad_alert_is_set_aside_naming_the_field(
    client: httpx.AsyncClient,
    runtime: Runtime,
    headers_for: TokenFactory,
    mutate: Any,
    field: str,
) -> None:
    ingest = await headers_for(Role.INGEST)
    payload = am_payload([am_alert(), am_alert(alertname="KubernetesPodNotHealthy", pod="db-0")])
    mutate(payload["alerts"][0])

    response = await client.post(AM, json=payload, headers=ingest)

    assert response.status_code == 202, response.text
    body = response.json()
    [rejected] = body["rejected"]
    assert rejected["index"] == 0
    assert field in rejected["reason"]
    assert body["alerts"] == 1
    assert await _count(runtime, Incident) == 1


@pytest.mark.parametrize(("mutate", "field"), BAD_ALERTS)
async def test_a_batch_of_only_bad_alerts_is_422_naming_each(
    client: httpx.AsyncClient,
    runtime: Runtime,
    headers_for: TokenFactory,
    mutate: Any,
    field: str,
) -> None:
    ingest = await headers_for(Role.INGEST)
    payload = am_payload([am_alert(), am_alert(pod="web-7d9f8c6b5d-other")])
    for alert in payload["alerts"]:
        mutate(alert)

    response = await client.post(AM, json=payload, headers=ingest)

    assert response.status_code == 422, response.text
    named = {
        problem["loc"][2]
        for problem in response.json()["detail"]
        if field in [str(part) for part in problem["loc"]]
    }
    assert named == {0, 1}
    assert await _count(runtime, Incident) == 0


async def test_too_many_alerts_is_rejected_and_writes_nothing(
    client: httpx.AsyncClient, runtime: Runtime, headers_for: TokenFactory
) -> None:
    runtime.settings.incidents.max_alerts_per_request = 5
    ingest = await headers_for(Role.INGEST)
    alerts = [am_alert(pod=f"web-7d9f8c6b5d-{i:05d}") for i in range(6)]

    response = await client.post(AM, json=am_payload(alerts), headers=ingest)

    assert response.status_code == 422
    assert "limit is 5" in response.json()["detail"]
    assert await _count(runtime, Incident) == 0


async def test_oversized_payload_is_413(
    client: httpx.AsyncClient, runtime: Runtime, headers_for: TokenFactory
) -> None:
    ingest = await headers_for(Role.INGEST)
    big = am_alert()
    big["annotations"]["description"] = "x" * 30_000
    payload = am_payload([big] * 40)  # ~1.2 MB, over the 1 MiB default

    response = await client.post(AM, json=payload, headers=ingest)

    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert await _count(runtime, Incident) == 0


async def test_ingestion_is_one_transaction(runtime: Runtime) -> None:
    from awoooi.incidents.alerts import Alert

    alerts = [
        Alert(fingerprint=f"fp{i}", status="firing", labels={"alertname": f"A{i}"})
        for i in range(3)
    ]

    class Boom(Exception):
        pass

    async def ingest_then_fail() -> None:
        async with runtime.session_factory() as session, session.begin():
            await runtime.incident_ingestor.ingest(session, alerts, actor="test")
            raise Boom

    with pytest.raises(Boom):
        await ingest_then_fail()

    assert await _count(runtime, Incident) == 0
    assert await _count(runtime, IncidentEvent) == 0


async def test_roles_for_ingestion_and_reading(
    client: httpx.AsyncClient, headers_for: TokenFactory
) -> None:
    payload = am_payload([am_alert()])
    assert (await client.post(AM, json=payload)).status_code == 401
    viewer = await headers_for(Role.VIEWER)
    assert (await client.post(AM, json=payload, headers=viewer)).status_code == 403
    operator = await headers_for(Role.OPERATOR)
    assert (await client.post(AM, json=payload, headers=operator)).status_code == 202
    ingest = await headers_for(Role.INGEST)
    assert (await client.get("/api/v1/incidents", headers=ingest)).status_code == 403
    assert (await client.get("/api/v1/incidents")).status_code == 401


async def test_generic_alerts(client: httpx.AsyncClient, headers_for: TokenFactory) -> None:
    ingest = await headers_for(Role.INGEST)
    batch = {
        "alerts": [
            {
                "name": "HighLatency",
                "severity": "high",
                "summary": "p99 latency 1250ms over 800ms on checkout",
                "labels": {"service": "checkout", "namespace": "shop", "pod": "checkout-0"},
            },
            {
                "name": "HighLatency",
                "severity": "high",
                "summary": "p99 latency 990ms over 800ms on checkout",
                "labels": {"service": "checkout", "namespace": "shop", "pod": "checkout-1"},
            },
        ]
    }

    body = (await client.post("/api/v1/alerts", json=batch, headers=ingest)).json()
    again = (await client.post("/api/v1/alerts", json=batch, headers=ingest)).json()

    assert body["opened"] == 1
    assert body["deduplicated"] == 1
    assert again["opened"] == 0
    assert again["deduplicated"] == 2
    page = await _incidents(client, await headers_for(Role.VIEWER))
    [incident] = page["items"]
    assert incident["source"] == "generic"
    assert incident["severity"] == "high"
    assert incident["affected_services"] == ["checkout"]
    assert len(incident["fingerprints"]) == 2

    bad = await client.post(
        "/api/v1/alerts", json={"alerts": [{"severity": "high"}]}, headers=ingest
    )
    assert bad.status_code == 422
    assert ["body", "alerts", 0, "name"] in [problem["loc"] for problem in bad.json()["detail"]]

    resolved = {"alerts": [{**batch["alerts"][0], "status": "resolved"}]}
    assert (await client.post("/api/v1/alerts", json=resolved, headers=ingest)).status_code == 202


async def test_concurrent_deliveries_open_one_incident(
    client: httpx.AsyncClient, runtime: Runtime, headers_for: TokenFactory
) -> None:
    ingest = await headers_for(Role.INGEST)
    payloads = [
        am_payload([am_alert(pod=f"web-7d9f8c6b5d-{i:05d}", instance=f"10.1.0.{i}:80")])
        for i in range(8)
    ]

    responses = await asyncio.gather(
        *(client.post(AM, json=payload, headers=ingest) for payload in payloads)
    )

    assert [r.status_code for r in responses] == [202] * 8
    assert sum(r.json()["opened"] for r in responses) == 1
    assert await _count(runtime, Incident) == 1
    assert await _count(runtime, IncidentAlert) == 8

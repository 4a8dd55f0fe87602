"""Fixtures for incident tests: tokens per role and Alertmanager-shaped payloads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from fastapi import FastAPI

from awoooi.core.auth import create_token
from awoooi.core.db import transaction
from awoooi.core.models import Role
from awoooi.runtime import Runtime

TokenFactory = Callable[[Role], Awaitable[dict[str, str]]]


@pytest.fixture
def headers_for(runtime: Runtime, app: FastAPI) -> TokenFactory:
    """Create a token of a role and return its Authorization header."""
    counter = iter(range(1000))

    async def make(role: Role) -> dict[str, str]:
        async with transaction(runtime.session_factory) as session:
            issued = await create_token(
                session, name=f"{role.value}-{next(counter)}", role=role, created_by="test"
            )
        return {"Authorization": f"Bearer {issued.secret}"}

    return make


def am_alert(
    *,
    alertname: str = "KubernetesPodCrashLooping",
    pod: str = "web-7d9f8c6b5d-x2kqz",
    namespace: str = "shop",
    instance: str = "10.0.0.7:8080",
    value: str = "3",
    severity: str = "warning",
    status: str = "firing",
    fingerprint: str | None = None,
    starts_at: str = "2026-11-28T10:00:00.000Z",
    ends_at: str = "0001-01-01T00:00:00Z",
    extra_labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One alert exactly as Alertmanager puts it in a webhook."""
    labels = {
        "alertname": alertname,
        "namespace": namespace,
        "pod": pod,
        "container": "web",
        "instance": instance,
        "job": "kube-state-metrics",
        "severity": severity,
        **(extra_labels or {}),
    }
    return {
        "status": status,
        "labels": labels,
        "annotations": {
            "summary": f"Kubernetes pod crash looping (instance {instance})",
            "description": f"Pod {namespace}/{pod} is crash looping\n  VALUE = {value}\n"
            f"  LABELS = map[namespace:{namespace} pod:{pod}]",
        },
        "startsAt": starts_at,
        "endsAt": ends_at,
        "generatorURL": "http://prometheus.local/graph?g0.expr=up",
        "fingerprint": fingerprint or f"{alertname}-{namespace}-{pod}-{instance}".lower()[:64],
    }


def am_payload(alerts: list[dict[str, Any]], status: str = "firing") -> dict[str, Any]:
    """An Alertmanager webhook (version 4) around these alerts."""
    return {
        "receiver": "awoooi",
        "status": status,
        "alerts": alerts,
        "groupLabels": {"alertname": alerts[0]["labels"]["alertname"]} if alerts else {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.local:9093",
        "version": "4",
        "groupKey": '{}:{alertname="KubernetesPodCrashLooping"}',
        "truncatedAlerts": 0,
    }

"""End to end with a real Alertmanager: its webhook opens, groups and resolves awoooi incidents.

A real `prometheus-alertmanager` (Debian's package; `.ci/run` installs it) and a real
`awoooi serve` run on free ports on 127.0.0.1, once on SQLite and once on PostgreSQL. The test
posts alerts to Alertmanager's API the way Prometheus does; Alertmanager groups them and
delivers its own webhook payload (version 4) to awoooi with the ingest token.
"""

from __future__ import annotations

import itertools
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from awoooi.runtime import ADMIN_TOKEN_FILE
from awoooi.symptoms import pattern_from_alert
from tests.helpers.serve import (
    Process,
    awoooi_process,
    background_process,
    cli_env,
    free_port,
    healthy,
    in_ci,
    responds,
    run_awoooi,
    wait_until,
)

ALERTMANAGER = "prometheus-alertmanager"
DELIVERY_TIMEOUT = 30.0  # a bound on waiting for Alertmanager's webhook, never asserted
HUMAN_ID = re.compile(r"^INC-\d{8}-\d{4,}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")
UNRESOLVED = {"open", "diagnosing", "escalated"}

KSM = {"job": "kube-state-metrics"}
CRASH_LOOP_ANNOTATIONS = {
    "summary": "Kubernetes pod crash looping (instance {instance})",
    "description": "Pod shop/{pod} is crash looping\n  VALUE = {value}\n  LABELS = {labels}",
}
NODE_NOT_READY_ANNOTATIONS = {
    "summary": "Kubernetes Node not ready (instance {instance})",
    "description": "Node {node} has been unready for a long time\n  VALUE = 0\n  LABELS = {labels}",
}


@dataclass(frozen=True)
class TestAlert:
    """One alert as Prometheus would post it to Alertmanager."""

    labels: dict[str, str]
    annotations: dict[str, str]

    __test__ = False  # not a test class, whatever its name

    def posted(self, starts_at: datetime, ends_at: datetime) -> dict[str, Any]:
        """The body entry for Alertmanager's POST /api/v2/alerts."""
        return {
            "labels": self.labels,
            "annotations": self.annotations,
            "startsAt": starts_at.isoformat().replace("+00:00", "Z"),
            "endsAt": ends_at.isoformat().replace("+00:00", "Z"),
            "generatorURL": "http://prometheus.test/graph?g0.expr=up",
        }

    def expected_hash(self) -> str:
        return pattern_from_alert(self.labels, self.annotations).compute_hash()


def go_map(labels: dict[str, str]) -> str:
    """How Go's text/template renders `{{ $labels }}`: map[k1:v1 k2:v2], keys sorted."""
    return "map[" + " ".join(f"{key}:{labels[key]}" for key in sorted(labels)) + "]"


def crash_loop(pod: str, instance: str, uid: str, value: str) -> TestAlert:
    series = {"namespace": "shop", "pod": pod, "uid": uid, "container": "web"}
    series |= KSM | {"instance": instance}
    annotations = {
        key: text.format(instance=instance, pod=pod, value=value, labels=go_map(series))
        for key, text in CRASH_LOOP_ANNOTATIONS.items()
    }
    return TestAlert(
        {"alertname": "KubernetesPodCrashLooping", "severity": "warning", **series}, annotations
    )


def node_not_ready(node: str, instance: str) -> TestAlert:
    series = {"node": node, "condition": "Ready", "status": "true"} | KSM | {"instance": instance}
    annotations = {
        key: text.format(instance=instance, node=node, labels=go_map(series))
        for key, text in NODE_NOT_READY_ANNOTATIONS.items()
    }
    return TestAlert(
        {"alertname": "KubernetesNodeNotReady", "severity": "critical", **series}, annotations
    )


CRASH_LOOPS = (
    crash_loop(
        "web-7d9f8c6b5d-x2kqz", "10.0.1.15:8080", "0b6f4c7e-3f5a-4a8e-9d2c-1e7b5a9c3d21", "4"
    ),
    crash_loop(
        "web-7d9f8c6b5d-q8w4n", "10.0.2.31:8080", "9e2d1c4b-7a6f-4e3d-8b1a-5c9f2e7d4a10", "3.5"
    ),
)
NODE_DOWN = node_not_ready("worker-3", "10.0.4.17:8080")


@dataclass
class Awoooi:
    """A running `awoooi serve` and the tokens to talk to it."""

    process: Process
    url: str
    admin_token: str
    ingest_token: str


@dataclass
class Alertmanager:
    """A running Alertmanager that delivers to awoooi."""

    process: Process
    url: str


@pytest.fixture
def alertmanager_binary() -> str:
    """The Alertmanager executable: skip without it locally, fail without it in CI."""
    found = shutil.which(ALERTMANAGER)
    if found is None:
        message = f"{ALERTMANAGER} is not installed (Debian package prometheus-alertmanager)"
        if in_ci():
            pytest.fail(message + "; CI=true: .ci/run must install it")
        pytest.skip(message)
    return found


@pytest.fixture
def awoooi_server(alertmanager_binary: str, tmp_path: Path, database_url: str) -> Iterator[Awoooi]:
    """`awoooi serve` on a free port over the parametrized database, with an ingest token."""
    home = tmp_path / "home"
    env = cli_env(home, database_url)
    port = free_port()
    with (
        awoooi_process(
            "serve", "--port", str(port), env=env, directory=tmp_path / "awoooi"
        ) as server,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client,
    ):
        wait_until(server, lambda: healthy(client), "awoooi /healthz")
        admin_token = (home / ADMIN_TOKEN_FILE).read_text().strip()
        # The way an operator makes Alertmanager's token: the CLI, next to the running server.
        created = run_awoooi(
            "tokens", "create", "--name", "alertmanager", "--role", "ingest",
            env=env, directory=tmp_path / "cli",
        )  # fmt: skip
        ingest_token = created.strip().splitlines()[-1].strip()
        assert ingest_token.startswith("awi_"), created
        yield Awoooi(server, f"http://127.0.0.1:{port}", admin_token, ingest_token)


def alertmanager_config(awoooi: Awoooi) -> dict[str, Any]:
    """One route, every alert its own group ('...'), straight to awoooi's webhook.

    With one group per alert the two crash-looping pods arrive in separate (and usually
    concurrent) webhooks, so grouping by symptoms is exercised across requests.
    """
    return {
        "route": {
            "receiver": "awoooi",
            "group_by": ["..."],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "awoooi",
                "webhook_configs": [
                    {
                        "url": f"{awoooi.url}/api/v1/alerts/alertmanager",
                        "send_resolved": True,
                        "http_config": {
                            "authorization": {"type": "Bearer", "credentials": awoooi.ingest_token}
                        },
                    }
                ],
            }
        ],
    }


@pytest.fixture
def alertmanager(
    alertmanager_binary: str, awoooi_server: Awoooi, tmp_path: Path
) -> Iterator[Alertmanager]:
    """A real Alertmanager on free ports, clustering off, its state in tmp_path."""
    directory = tmp_path / "alertmanager"
    storage = directory / "data"
    storage.mkdir(parents=True)
    config = directory / "am.yml"
    config.write_text(yaml.safe_dump(alertmanager_config(awoooi_server), sort_keys=False))
    port = free_port()
    argv = [
        alertmanager_binary,
        f"--config.file={config}",
        f"--storage.path={storage}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",  # empty: no gossip port, no peers
        "--log.level=debug",
    ]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(directory)}
    with (
        background_process(argv, name="alertmanager", env=env, directory=directory) as process,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client,
    ):
        wait_until(
            [process, awoooi_server.process], lambda: responds(client, "/-/ready"), "/-/ready"
        )
        yield Alertmanager(process, f"http://127.0.0.1:{port}")


def post_alerts(am: Alertmanager, body: list[dict[str, Any]]) -> None:
    response = httpx.post(f"{am.url}/api/v2/alerts", json=body, timeout=10)
    assert response.status_code == 200, response.text


def _describe(last: list[str]) -> Callable[[], str]:
    return lambda: last[-1] if last else "no answer yet"


def wait_for_incidents(
    awoooi: Awoooi,
    am: Alertmanager,
    what: str,
    ready: Callable[[list[dict[str, Any]]], bool],
) -> list[dict[str, Any]]:
    """Poll GET /api/v1/incidents until `ready(items)`; fail with the last answer and logs."""
    headers = {"Authorization": f"Bearer {awoooi.admin_token}"}
    last: list[str] = []
    items: list[dict[str, Any]] = []

    def check() -> bool:
        nonlocal items
        response = httpx.get(
            f"{awoooi.url}/api/v1/incidents", params={"limit": 100}, headers=headers, timeout=10
        )
        last.append(f"{response.status_code} {response.text}")
        if response.status_code != 200:
            return False
        page = response.json()
        items = page["items"]
        return ready(items)

    wait_until(
        [awoooi.process, am.process],
        check,
        what,
        timeout=DELIVERY_TIMEOUT,
        describe=_describe(last),
    )
    return items


def by_hash(items: list[dict[str, Any]], symptoms_hash: str) -> list[dict[str, Any]]:
    return [item for item in items if item["symptoms_hash"] == symptoms_hash]


def alertmanager_fingerprints(am: Alertmanager) -> dict[str, str]:
    """Alertmanager's own fingerprint of each alert, by pod or node name."""
    response = httpx.get(f"{am.url}/api/v2/alerts", timeout=10)
    assert response.status_code == 200, response.text
    return {
        alert["labels"].get("pod") or alert["labels"]["node"]: alert["fingerprint"]
        for alert in response.json()
    }


def test_alertmanager_webhook_opens_groups_and_resolves(
    awoooi_server: Awoooi, alertmanager: Alertmanager
) -> None:
    crash_hash = CRASH_LOOPS[0].expected_hash()
    node_hash = NODE_DOWN.expected_hash()
    # The pods differ only per instance (pod suffix, instance, uid, value): one symptom.
    assert CRASH_LOOPS[1].expected_hash() == crash_hash
    assert node_hash != crash_hash
    assert HEX16.match(crash_hash)
    assert HEX16.match(node_hash)

    starts_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    firing_until = starts_at + timedelta(hours=2)
    alerts = [*CRASH_LOOPS, NODE_DOWN]
    post_alerts(alertmanager, [alert.posted(starts_at, firing_until) for alert in alerts])

    def both_open(items: list[dict[str, Any]]) -> bool:
        crash = by_hash(items, crash_hash)
        # The list reads incidents and their alerts in two statements; on PostgreSQL (read
        # committed) a poll between the two commits can see the second alert before the
        # incident's count: wait for both.
        return (
            len(crash) == 1
            and len(crash[0]["fingerprints"]) == 2
            and crash[0]["occurrences"] == 2
            and len(by_hash(items, node_hash)) == 1
        )

    items = wait_for_incidents(awoooi_server, alertmanager, "both incidents open", both_open)
    assert len(items) == 2, items
    fingerprints = alertmanager_fingerprints(alertmanager)

    [crash] = by_hash(items, crash_hash)
    assert HUMAN_ID.match(crash["id"]), crash
    # The in-process worker may already be diagnosing it, or have escalated it (no local model
    # and no cluster here): unresolved either way.
    assert crash["status"] in UNRESOLVED
    assert crash["severity"] == "medium"  # severity=warning
    assert crash["affected_services"] == ["web"]
    assert crash["namespace"] == "shop"
    assert crash["source"] == "alertmanager"
    assert crash["occurrences"] == 2
    assert crash["resolved_at"] is None
    assert crash["title"]
    assert crash["labels"]["alertname"] == "KubernetesPodCrashLooping"
    assert crash["symptoms"] == pattern_from_alert(
        CRASH_LOOPS[0].labels, CRASH_LOOPS[0].annotations
    ).model_dump(mode="json")
    assert sorted(crash["fingerprints"]) == sorted(
        fingerprints[alert.labels["pod"]] for alert in CRASH_LOOPS
    )

    [node] = by_hash(items, node_hash)
    assert HUMAN_ID.match(node["id"]), node
    assert node["id"] != crash["id"]
    assert node["status"] in UNRESOLVED
    assert node["severity"] == "critical"
    assert node["affected_services"] == []
    assert node["namespace"] is None
    assert node["source"] == "alertmanager"
    assert node["occurrences"] == 1
    assert node["fingerprints"] == [fingerprints["worker-3"]]
    assert node["symptoms"]["resource_kind"] == "Node"

    headers = {"Authorization": f"Bearer {awoooi_server.admin_token}"}
    detail = httpx.get(
        f"{awoooi_server.url}/api/v1/incidents/{crash['id']}", headers=headers, timeout=10
    )
    assert detail.status_code == 200, detail.text
    timeline = [entry["event"] for entry in detail.json()["timeline"]]
    assert timeline[0] == "opened", timeline
    assert "alert_grouped" in timeline, timeline

    # Prometheus resolves an alert by sending it again with endsAt in the past.
    resolved_at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    post_alerts(alertmanager, [alert.posted(starts_at, resolved_at) for alert in alerts])

    def both_resolved(items: list[dict[str, Any]]) -> bool:
        watched = by_hash(items, crash_hash) + by_hash(items, node_hash)
        return len(watched) == 2 and all(item["status"] == "resolved" for item in watched)

    items = wait_for_incidents(
        awoooi_server, alertmanager, "both incidents resolved", both_resolved
    )
    assert len(items) == 2, items
    for item in items:
        assert item["resolved_at"] is not None, item
        assert item["id"] in {crash["id"], node["id"]}
    [crash_after] = by_hash(items, crash_hash)
    assert crash_after["occurrences"] == 2  # resolving is not another occurrence

    detail = httpx.get(
        f"{awoooi_server.url}/api/v1/incidents/{crash['id']}", headers=headers, timeout=10
    )
    assert detail.status_code == 200, detail.text
    changes = [
        (entry["from_status"], entry["to_status"])
        for entry in detail.json()["timeline"]
        if entry["event"] == "status_changed"
    ]
    # The in-process worker may have moved it on first (diagnosing, escalated: no model and no
    # cluster here); every change starts where the last one ended, and the alerts resolve it.
    assert changes[0][0] == "open", changes
    assert all(a[1] == b[0] for a, b in itertools.pairwise(changes)), changes
    assert changes[-1][1] == "resolved", changes

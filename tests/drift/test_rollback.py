"""Rollback against the local API-server stand-in: a dry run first, then server-side apply with
field manager `awoooi`, whitelisted and autoscaler-owned fields left as they are live,
conflicts forced only when asked."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI

from awoooi.adapters.lightkube_client import LightkubeClient
from awoooi.api.app import create_app
from awoooi.core.models import Role
from awoooi.runtime import Runtime
from awoooi.settings import Settings
from tests.conftest import make_settings
from tests.helpers.kube_api import APPLY, FakeKubeAPI

IMAGE_PATH = "spec.template.spec.containers[name=web].image"
DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop", "annotations": {"team": "payments"}},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "web:1.4.0"}]},
        },
    },
}
CONFIG: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "web-config", "namespace": "shop"},
    "data": {"LOG_LEVEL": "info"},
}


def live_deployment() -> dict[str, Any]:
    """Applied from Git by awoooi, then hand-edited: image by kubectl-edit, replicas by the HPA
    (scale subresource), the team annotation by a person (whitelisted below)."""
    live = copy.deepcopy(DEPLOYMENT)
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "web:1.5.1-hotfix"
    live["spec"]["replicas"] = 7
    live["metadata"]["annotations"]["team"] = "checkout"
    live["metadata"]["managedFields"] = [
        {
            "manager": "awoooi",
            "operation": "Apply",
            "apiVersion": "apps/v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:spec": {
                    "f:selector": {},
                    "f:template": {
                        "f:metadata": {"f:labels": {"f:app": {}}},
                        "f:spec": {"f:containers": {'k:{"name":"web"}': {".": {}, "f:name": {}}}},
                    },
                }
            },
        },
        {
            "manager": "kubectl-edit",
            "operation": "Update",
            "apiVersion": "apps/v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:annotations": {"f:team": {}}},
                "f:spec": {
                    "f:template": {
                        "f:spec": {"f:containers": {'k:{"name":"web"}': {"f:image": {}}}}
                    }
                },
            },
        },
        {
            "manager": "horizontal-pod-autoscaler",
            "operation": "Update",
            "apiVersion": "apps/v1",
            "subresource": "scale",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:replicas": {}}},
        },
    ]
    return live


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI() as server:
        server.add(live_deployment())
        yield server


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    desired = tmp_path / "git"
    desired.mkdir()
    (desired / "web.yaml").write_text(yaml.safe_dump_all([DEPLOYMENT, CONFIG], sort_keys=False))
    return make_settings(
        tmp_path / "home",
        database_url,
        drift={
            "desired": str(desired),
            "interpret": False,
            "scan_interval": 0,
            "ignore": [{"kind": "Deployment", "path": "metadata.annotations.team"}],
        },
    )


@pytest.fixture
async def runtime(settings: Settings, api: FakeKubeAPI) -> AsyncIterator[Runtime]:
    kube = LightkubeClient.connect(server=api.url, timeout=5.0)
    active = Runtime.from_settings(settings, kube=kube)
    await active.migrate()
    try:
        yield active
    finally:
        await active.dispose()


@pytest.fixture
async def app(settings: Settings, runtime: Runtime) -> AsyncIterator[FastAPI]:
    application = create_app(settings, runtime=runtime, run_worker=False)
    async with application.router.lifespan_context(application):
        yield application


async def scanned(
    client: httpx.AsyncClient, runtime: Runtime, headers: dict[str, str]
) -> dict[str, Any]:
    answer = await client.post("/api/v1/drift/scan", headers=headers)
    assert answer.status_code == 202, answer.text
    await runtime.worker().run_until_idle()
    report = await client.get(
        f"/api/v1/drift/reports/{answer.json()['report_id']}?show_ignored=true", headers=headers
    )
    assert report.status_code == 200
    return dict(report.json())


def by_path(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(item["kind"], item["path"]): item for item in report["items"]}


async def test_rollback_dry_run_then_apply_as_awoooi(
    client: httpx.AsyncClient, runtime: Runtime, headers_for: Any, api: FakeKubeAPI
) -> None:
    operator = await headers_for(Role.OPERATOR)
    report = await scanned(client, runtime, operator)
    items = by_path(report)
    image = items[("Deployment", IMAGE_PATH)]
    missing = items[("ConfigMap", "")]
    assert image["status"] == "DETECTED"
    assert missing["change"] == "missing"
    assert items[("Deployment", "metadata.annotations.team")]["ignored"]
    assert items[("Deployment", "spec.replicas")]["ignored"]  # the autoscaler's
    chosen = [image["id"], missing["id"]]

    # The dry run shows what would change and writes nothing.
    preview = await client.post(
        "/api/v1/drift/rollback",
        json={"report_id": report["id"], "item_ids": chosen, "dry_run": True, "force": True},
        headers=operator,
    )
    assert preview.status_code == 200, preview.text
    outcome = {i["item_id"]: i for i in preview.json()["items"]}
    assert outcome[image["id"]]["outcome"] == "would_change"
    assert outcome[image["id"]]["before"] == "web:1.5.1-hotfix"
    assert outcome[image["id"]]["after"] == "web:1.4.0"
    assert (
        api.get("Deployment", "shop", "web")["spec"]["template"]["spec"]["containers"][0]["image"]
        == "web:1.5.1-hotfix"
    )
    assert api.get("ConfigMap", "shop", "web-config") is None
    patches = api.requests_to("PATCH")
    assert patches
    assert all(p.query.get("dryRun") == "All" for p in patches)

    # Without force, the hand-edited image is a conflict: reported, not taken.
    conflicted = await client.post(
        "/api/v1/drift/rollback",
        json={"report_id": report["id"], "item_ids": [image["id"]]},
        headers=operator,
    )
    assert conflicted.status_code == 200
    [failed] = conflicted.json()["items"]
    assert failed["outcome"] == "failed"
    assert "kubectl-edit" in failed["detail"]
    assert "force" in failed["detail"]
    assert not conflicted.json()["ok"]

    api.requests.clear()
    done = await client.post(
        "/api/v1/drift/rollback",
        json={"report_id": report["id"], "item_ids": chosen, "force": True},
        headers=operator,
    )
    assert done.status_code == 200, done.text
    assert done.json()["ok"]
    assert {i["outcome"] for i in done.json()["items"]} == {"rolled_back"}

    writes = api.writes()
    assert all(w.method == "PATCH" and w.content_type == APPLY for w in writes)
    assert all(w.query.get("fieldManager") == "awoooi" for w in writes)
    assert all(w.query.get("force") == "true" for w in writes)
    # Each resource: a dry run first, then the real apply.
    for path in {w.path for w in writes}:
        mine = [w for w in writes if w.path == path]
        assert [w.query.get("dryRun") for w in mine] == ["All", None], path
    deployment_apply = next(
        w for w in writes if w.path.endswith("/deployments/web") and "dryRun" not in w.query
    )
    body = deployment_apply.body
    assert "replicas" not in body["spec"]  # the autoscaler's field stays its own
    assert "team" not in (body["metadata"].get("annotations") or {})  # whitelisted
    assert "managedFields" not in body["metadata"]
    assert "status" not in body

    live = api.get("Deployment", "shop", "web")
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "web:1.4.0"
    assert live["spec"]["replicas"] == 7
    assert live["metadata"]["annotations"]["team"] == "checkout"
    assert api.get("ConfigMap", "shop", "web-config")["data"] == {"LOG_LEVEL": "info"}

    shown = await client.get(f"/api/v1/drift/reports/{report['id']}", headers=operator)
    after = by_path(shown.json())
    assert after[("Deployment", IMAGE_PATH)]["status"] == "ROLLED_BACK"
    assert after[("Deployment", IMAGE_PATH)]["status_detail"]["field_manager"] == "awoooi"
    assert after[("ConfigMap", "")]["status"] == "ROLLED_BACK"
    assert shown.json()["status"] == "ROLLED_BACK"

    # A rescan finds the cluster back in line with Git.
    again = await scanned(client, runtime, operator)
    assert [i for i in again["items"] if not i["ignored"]] == []
    assert again["status"] == "IN_SYNC"


async def test_rollback_rules_and_roles(
    client: httpx.AsyncClient, runtime: Runtime, headers_for: Any, api: FakeKubeAPI
) -> None:
    operator = await headers_for(Role.OPERATOR)
    viewer = await headers_for(Role.VIEWER)
    report = await scanned(client, runtime, operator)
    denied = await client.post(
        "/api/v1/drift/rollback", json={"report_id": report["id"]}, headers=viewer
    )
    assert denied.status_code == 403
    assert api.writes() == []
    ignored = [i["id"] for i in report["items"] if i["ignored"]]
    # Whitelisted items are not rolled back even when named; only reported ones are acted on.
    named = await client.post(
        "/api/v1/drift/rollback",
        json={"report_id": report["id"], "item_ids": ignored, "dry_run": True},
        headers=operator,
    )
    assert named.status_code == 200
    assert {i["outcome"] for i in named.json()["items"]} == {"skipped"}

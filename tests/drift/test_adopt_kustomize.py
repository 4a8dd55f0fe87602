"""Adopt of kustomize-rendered objects: a field from the base's plain file is written there (the
overlay's namePrefix seen through); a field a patch sets is refused, nothing pushed."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from awoooi.core.models import Role
from awoooi.runtime import Runtime
from awoooi.settings import Settings
from tests.conftest import make_settings
from tests.drift.conftest import git, seed_remote

BASE_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web  # prefixed by the overlay
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: registry.local/web:1.0   # bumped by CI
"""
FILES = {
    "base/kustomization.yaml": "resources:\n  - deployment.yaml\n",
    "base/deployment.yaml": BASE_DEPLOYMENT,
    "overlay/kustomization.yaml": (
        "resources:\n  - ../base\nnamePrefix: prod-\nnamespace: shop\n"
        "patches:\n  - path: replicas.yaml\n"
    ),
    "overlay/replicas.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3\n"
    ),
}


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return seed_remote(tmp_path, FILES)


@pytest.fixture
def settings(tmp_path: Path, database_url: str, remote: Path) -> Settings:
    live = yaml.safe_load(BASE_DEPLOYMENT)
    live = copy.deepcopy(live)
    live["metadata"] = {"name": "prod-web", "namespace": "shop"}
    live["spec"]["replicas"] = 5
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.local/web:1.1"
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "live.yaml").write_text(yaml.safe_dump(live))
    return make_settings(
        tmp_path / "home",
        database_url,
        drift={
            "desired": f"file://{remote}",
            "path": "overlay",
            "live_dump": dump,
            "interpret": False,
            "scan_interval": 0,
        },
    )


async def test_adopt_writes_the_base_file_and_refuses_patched_fields(
    client: httpx.AsyncClient, runtime: Runtime, headers_for: Any, remote: Path
) -> None:
    operator = await headers_for(Role.OPERATOR)
    queued = await client.post("/api/v1/drift/scan", headers=operator)
    await runtime.worker().run_until_idle()
    report = (
        await client.get(f"/api/v1/drift/reports/{queued.json()['report_id']}", headers=operator)
    ).json()
    items = {item["path"]: item for item in report["items"]}
    image = items["spec.template.spec.containers[name=web].image"]
    replicas = items["spec.replicas"]
    assert image["source_file"] == "kustomization.yaml"
    head = git("--git-dir", str(remote), "rev-parse", "main")

    refused = await client.post(
        "/api/v1/drift/adopt",
        json={"report_id": report["id"], "item_ids": [replicas["id"]]},
        headers=operator,
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "adopt_refused"
    assert "patch" in refused.json()["detail"]
    assert git("--git-dir", str(remote), "rev-parse", "main") == head

    adopted = await client.post(
        "/api/v1/drift/adopt",
        json={"report_id": report["id"], "item_ids": [image["id"]]},
        headers=operator,
    )
    assert adopted.status_code == 200, adopted.text
    written = git("--git-dir", str(remote), "show", "main:base/deployment.yaml") + "\n"
    assert written == BASE_DEPLOYMENT.replace("web:1.0 ", "web:1.1 ")
    overlay = git("--git-dir", str(remote), "show", "main:overlay/kustomization.yaml") + "\n"
    assert overlay == FILES["overlay/kustomization.yaml"]

"""deploy/kustomize renders with `kubectl kustomize`, and its RBAC stays least-privilege: the
scan reads (get/list) and only the rollback component may patch."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2] / "deploy" / "kustomize"


def render(directory: Path) -> list[dict[str, Any]]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    done = subprocess.run(
        ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def verbs(objects: list[dict[str, Any]]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for obj in objects:
        if obj["kind"] in {"ClusterRole", "Role"}:
            for rule in obj["rules"]:
                for resource in rule["resources"]:
                    found.setdefault(resource, set()).update(rule["verbs"])
    return found


def test_the_cronjob_scans_hourly_with_read_only_rights() -> None:
    objects = render(ROOT / "drift-cronjob")
    kinds = sorted(obj["kind"] for obj in objects)
    assert kinds == ["ClusterRole", "ClusterRoleBinding", "CronJob", "ServiceAccount"]
    [cron] = [obj for obj in objects if obj["kind"] == "CronJob"]
    assert cron["spec"]["schedule"] == "0 * * * *"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "awoooi-drift"
    [container] = pod["containers"]
    assert container["args"][:4] == ["drift", "scan", "--cluster", "--save"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    granted = verbs(objects)
    assert granted, "no rules rendered"
    assert all(v <= {"get", "list"} for v in granted.values()), granted
    assert "secrets" not in granted
    assert "*" not in granted
    [binding] = [obj for obj in objects if obj["kind"] == "ClusterRoleBinding"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "awoooi-drift", "namespace": "awoooi"}
    ]


def test_the_rollback_component_adds_patch_only(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    # kustomize wants paths relative to the overlay.
    base = Path("..") / Path(*[".."] * len(tmp_path.parts[1:])) / ROOT.relative_to("/")
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": [str(base / "drift-cronjob")],
                "components": [str(base / "components" / "drift-rollback")],
            }
        )
    )
    granted = verbs(render(overlay))
    assert granted["deployments"] == {"get", "list", "patch"}
    assert all("delete" not in v and "*" not in v for v in granted.values()), granted
    assert "secrets" not in granted

"""The diagnosis-read component renders with `kubectl kustomize` and grants exactly what the live
diagnosis and `awoooi cluster dump` read: get and list on every kind, get on pods/log, no write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from awoooi.diagnosis.dump_writer import NAMESPACED_KINDS
from awoooi.diagnosis.kinds import kind_info
from tests.deploy.test_drift_cronjob import ROOT, render


def overlay(tmp_path: Path) -> Path:
    directory = tmp_path / "overlay"
    directory.mkdir()
    # kustomize wants paths relative to the overlay.
    base = Path("..") / Path(*[".."] * len(tmp_path.parts[1:])) / ROOT.relative_to("/")
    (directory / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": [str(base / "drift-cronjob")],
                "components": [str(base / "components" / "diagnosis-read")],
            }
        )
    )
    return directory


def grants(objects: list[dict[str, Any]], role: str) -> dict[tuple[str, str], set[str]]:
    """(apiGroup, resource) -> verbs of one ClusterRole."""
    [cluster_role] = [
        o for o in objects if o["kind"] == "ClusterRole" and o["metadata"]["name"] == role
    ]
    found: dict[tuple[str, str], set[str]] = {}
    for rule in cluster_role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                found.setdefault((group, resource), set()).update(rule["verbs"])
    return found


def test_every_kind_the_diagnosis_reads_is_granted_read_only(tmp_path: Path) -> None:
    objects = render(overlay(tmp_path))
    granted = grants(objects, "awoooi-diagnosis-read")

    for kind in ("Node", *NAMESPACED_KINDS):
        info = kind_info(kind)
        group = info.api_version.rpartition("/")[0]
        assert granted.get((group, info.plural)) == {"get", "list"}, kind
    assert granted[("", "pods/log")] == {"get"}
    assert all(verbs <= {"get", "list"} for verbs in granted.values()), granted
    [binding] = [
        o
        for o in objects
        if o["kind"] == "ClusterRoleBinding" and o["metadata"]["name"] == "awoooi-diagnosis-read"
    ]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "awoooi-drift", "namespace": "awoooi"}
    ]


def test_the_drift_scan_alone_still_reads_no_secret(tmp_path: Path) -> None:
    granted = grants(render(ROOT / "drift-cronjob"), "awoooi-drift-read")

    assert not any(resource == "secrets" for _, resource in granted)

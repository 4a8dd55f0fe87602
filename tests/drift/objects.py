"""Small builders shared by the drift tests: objects, managedFields entries, one-object verdicts."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from awoooi.drift.analyze import ScanContext, analyze
from awoooi.drift.diff import DiffOptions, diff_object
from awoooi.drift.manifests import resource_id
from awoooi.drift.report import DriftItem, ResourceId
from awoooi.drift.settings import DriftSettings

# <repo>/../shared: /work/shared beside /work/main here, $d/shared beside a CI clone at $d/p.
CONFORMANCE = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "argocd-diff"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def conformance_dir() -> Path:
    """The Argo CD fixtures; skipped locally when absent, a failure in CI."""
    if not (CONFORMANCE / "README.md").is_file():
        message = f"conformance fixtures not found at {CONFORMANCE}"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message + " (CI=true: must not skip)")
        pytest.skip(message)
    return CONFORMANCE


def load_fixture(name: str) -> dict[str, Any]:
    """One Argo CD fixture file (JSON or YAML), parsed."""
    path = conformance_dir() / name
    text = path.read_text(encoding="utf-8")
    loaded = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    assert isinstance(loaded, dict), name
    return loaded


def rid(obj: Mapping[str, Any]) -> ResourceId:
    found = resource_id(dict(obj))
    assert isinstance(found, ResourceId), found
    return found


def items_for(
    desired: Mapping[str, Any],
    live: Mapping[str, Any],
    settings: DriftSettings | None = None,
    *,
    context_objects: Iterable[Mapping[str, Any]] = (),
) -> list[DriftItem]:
    """Every item (ignored ones too) of one desired/live pair, as a scan would analyze it."""
    settings = settings or DriftSettings()
    options = DiffOptions(
        imperative_managers=tuple(settings.imperative_managers),
        gitops_managers=tuple(settings.gitops_managers),
    )
    context = ScanContext.from_objects([desired, live, *context_objects])
    return analyze(rid(desired), diff_object(desired, live, options), live, settings, context)


def reported(items: Iterable[DriftItem]) -> list[DriftItem]:
    return [item for item in items if not item.ignored]


def show(items: Iterable[DriftItem]) -> str:
    """Items for an assertion message."""
    return (
        "\n".join(
            f"{'IGNORED ' if i.ignored else ''}{i.change.value} {i.path} "
            f"{i.desired!r} -> {i.live!r} [{i.level.value}] {i.reason}"
            for i in items
        )
        or "(no items)"
    )


def deployment(
    container: Mapping[str, Any] | None = None,
    *,
    name: str = "web",
    namespace: str | None = "default",
    replicas: int = 3,
    pod: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A small Deployment with one container `web` (fields merged in from `container`)."""
    main = {"name": "web", "image": "nginx:1.25"}
    main.update(copy.deepcopy(dict(container or {})))
    pod_spec: dict[str, Any] = {"containers": [main]}
    pod_spec.update(copy.deepcopy(dict(pod or {})))
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec},
        },
    }


def managed(
    manager: str,
    fields: Mapping[str, Any],
    *,
    operation: str = "Update",
    api_version: str = "apps/v1",
    subresource: str | None = None,
) -> dict[str, Any]:
    """One metadata.managedFields entry."""
    entry: dict[str, Any] = {
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": "2026-01-01T00:00:00Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": dict(fields),
    }
    if subresource is not None:
        entry["subresource"] = subresource
    return entry


def container_fields(fields: Mapping[str, Any], name: str = "web") -> dict[str, Any]:
    """FieldsV1 for fields of one container of a Deployment's pod template."""
    key = "k:" + json.dumps({"name": name}, separators=(",", ":"))
    return {"f:spec": {"f:template": {"f:spec": {"f:containers": {key: dict(fields)}}}}}

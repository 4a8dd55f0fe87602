"""Render deploy/kustomize with `kubectl kustomize` and pick objects out of the result."""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2] / "deploy" / "kustomize"
OVERLAYS = ("dev", "production")
JSON = dict[str, Any]


@functools.lru_cache(maxsize=32)
def _rendered(directory: str) -> str:
    done = subprocess.run(
        ["kubectl", "kustomize", directory], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def render(directory: Path) -> list[JSON]:
    """The objects a kustomization renders to (each call gets its own copies)."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    return [doc for doc in yaml.safe_load_all(_rendered(str(directory))) if doc]


def overlay(tmp_path: Path, resources: list[str], components: list[str]) -> Path:
    """A kustomization in tmp_path over directories of deploy/kustomize (relative names)."""
    directory = tmp_path / "overlay"
    directory.mkdir()
    # kustomize wants paths relative to the overlay.
    up = Path("..") / Path(*[".."] * len(tmp_path.parts[1:])) / ROOT.relative_to("/")
    (directory / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": [str(up / name) for name in resources],
                "components": [str(up / name) for name in components],
            }
        )
    )
    return directory


def one(objects: list[JSON], kind: str, name: str) -> JSON:
    """The object of this kind and name."""
    [found] = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def of_kind(objects: list[JSON], kind: str) -> list[JSON]:
    """Every object of a kind."""
    return [o for o in objects if o["kind"] == kind]


def pod_specs(objects: list[JSON]) -> Iterator[tuple[str, JSON]]:
    """(object name, pod spec) of every Deployment, Job and CronJob."""
    for obj in objects:
        if obj["kind"] in ("Deployment", "Job"):
            yield obj["metadata"]["name"], obj["spec"]["template"]["spec"]
        elif obj["kind"] == "CronJob":
            yield obj["metadata"]["name"], obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def containers(spec: JSON) -> list[JSON]:
    """Init containers, then containers."""
    return [*spec.get("initContainers", []), *spec["containers"]]

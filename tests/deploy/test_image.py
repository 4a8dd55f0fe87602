"""The manifests run the image deploy/Dockerfile builds: its name, the package version as its
tag, the UID and GID it creates, its entrypoint (container args are awoooi's arguments) and
its state directory. (The image itself cannot be built here: no registry for base images.)"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

import awoooi
from tests.deploy.manifests import OVERLAYS, ROOT, containers, pod_specs, render

REPOSITORY = ROOT.parents[1]
DOCKERFILE = (REPOSITORY / "deploy" / "Dockerfile").read_text()
TARGETS = [ROOT / "overlays" / name for name in OVERLAYS] + [ROOT / "drift-cronjob"]


def final_stage() -> str:
    """The Dockerfile from its last FROM on: what the image runs."""
    return DOCKERFILE[DOCKERFILE.rindex("\nFROM ") :]


def instruction(name: str) -> str:
    """The argument of the final stage's only `name` instruction."""
    [value] = re.findall(rf"^{name} (.+)$", final_stage(), re.MULTILINE)
    return value.strip()


def test_the_version_is_the_packages() -> None:
    project = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]
    assert project["version"] == awoooi.__version__
    # The build command the Dockerfile documents tags the same version.
    assert re.findall(r"-t (\S+) \.", DOCKERFILE) == [f"awoooi:{awoooi.__version__}"]


@pytest.mark.parametrize("target", TARGETS, ids=lambda p: p.name)
def test_every_container_runs_the_image_the_dockerfile_builds(target: Path) -> None:
    title = re.search(r'org\.opencontainers\.image\.title="([^"]+)"', final_stage())
    assert title is not None
    user, group = instruction("USER").split(":")
    entrypoint = json.loads(instruction("ENTRYPOINT"))
    env = dict(re.findall(r"(\w+)=(\S+)", instruction("ENV")))
    port = int(instruction("EXPOSE"))
    assert entrypoint == ["awoooi"]

    for _, spec in pod_specs(render(target)):
        assert spec["securityContext"]["runAsUser"] == int(user)
        assert spec["securityContext"].get("runAsGroup", int(group)) == int(group)
        for container in containers(spec):
            assert container["image"] == f"{title.group(1)}:{awoooi.__version__}"
            assert "command" not in container  # args go to the `awoooi` entrypoint
            variables = {e["name"]: e.get("value") for e in container.get("env", [])}
            assert variables["AWOOOI_HOME"] == env["AWOOOI_HOME"]
            for exposed in container.get("ports", []):
                assert exposed["containerPort"] == port

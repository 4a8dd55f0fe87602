"""The kube Protocols load without the client library: naming a workload must not pay for
lightkube (and httpx), only talking to a cluster does."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def loaded_by(module: str) -> list[str]:
    """The lightkube modules a fresh interpreter holds after importing `module`."""
    script = (
        "import importlib, json, sys; importlib.import_module(sys.argv[1]); "
        "print(json.dumps(sorted(n for n in sys.modules if n.split('.')[0] == 'lightkube')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, module],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


@pytest.mark.parametrize("module", ["awoooi.adapters.kube", "awoooi.repair.playbooks"])
def test_importing_does_not_load_lightkube(module: str) -> None:
    assert loaded_by(module) == []


def test_the_lightkube_client_does_load_it() -> None:
    """The probe above would pass for any module if it could not see lightkube at all."""
    assert "lightkube" in loaded_by("awoooi.adapters.lightkube_client")

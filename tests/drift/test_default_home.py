"""Issue 18 item 1: with AWOOOI_HOME unset the home is `./.awoooi`, resolved to an absolute path
once when settings load, so a Git-URL scan (git runs inside the cache directory) works from any
directory and leaves nothing stray behind."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from awoooi.settings import load_settings
from tests.drift.conftest import seed_remote
from tests.drift.objects import deployment
from tests.helpers.serve import AWOOOI

CLI_TIMEOUT = 60


def env_without_home() -> dict[str, str]:
    """The outer environment without any AWOOOI_* variable (the default home applies)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWOOOI_")}
    env["COLUMNS"] = "200"
    return env


def test_git_url_scan_with_the_default_home_from_another_directory(tmp_path: Path) -> None:
    app = yaml.safe_dump(deployment(), sort_keys=False)
    bare = seed_remote(tmp_path, {"app.yaml": app})
    live = tmp_path / "live"
    live.mkdir()
    drifted = deployment()
    drifted["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:9.9-hotfix"
    (live / "all.yaml").write_text(
        yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [drifted]})
    )
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()

    done = subprocess.run(  # a fixed argv, no shell
        [
            str(AWOOOI),
            "drift",
            "scan",
            "--desired",
            f"file://{bare}",
            "--ref",
            "main",
            "--live-dump",
            str(live),
            "--format",
            "json",
        ],
        env=env_without_home(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )

    assert done.returncode == 1, done.stderr  # drift found: the clone worked
    assert "nginx:9.9-hotfix" in done.stdout
    assert "FileNotFoundError" not in done.stderr
    cache = cwd / ".awoooi" / "git-cache"
    assert cache.is_dir()
    # One clone, named by the URL's hash; no `.awoooi` made inside the cache by git's cwd.
    entries = sorted(path.name for path in cache.iterdir() if not path.name.endswith(".lock"))
    assert len(entries) == 1, entries
    assert not (cache / ".awoooi").exists()
    assert (cache / entries[0] / ".git").exists()


def test_every_path_setting_is_absolute_after_loading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("AWOOOI_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWOOOI_REPAIR__PLAYBOOKS_DIR", "playbooks")
    config = tmp_path / "awoooi.yaml"
    config.write_text(
        "kube: {kubeconfig: kube/config}\n"
        "drift: {cache_dir: cache, live_dump: dump, desired: gitops}\n"
    )

    settings = load_settings(config)

    assert settings.home == tmp_path / ".awoooi"
    assert settings.repair.playbooks_dir == tmp_path / "playbooks"
    assert settings.kube.kubeconfig == tmp_path / "kube" / "config"
    assert settings.drift.cache_dir == tmp_path / "cache"
    assert settings.drift.live_dump == tmp_path / "dump"
    assert settings.drift.desired == str(tmp_path / "gitops")


def test_a_git_url_desired_source_is_left_alone(tmp_path: Path) -> None:
    settings = load_settings(None, drift={"desired": "https://git.example.test/ops.git"})

    assert settings.drift.desired == "https://git.example.test/ops.git"

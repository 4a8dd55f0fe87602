"""Issue 18 items 8 and 11: `drift scan` exit codes follow `kubectl diff` (an error wins with 2,
the drift is still printed), `drift show` prints a report's problems as the API does, and
`--show-ignored` lists allowed differences (an HPA that only the cluster holds owns replicas).

CLI subprocesses from a directory that is not the repository."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.drift.objects import deployment
from tests.helpers.serve import AWOOOI, cli_env

CLI_TIMEOUT = 60
BROKEN = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: broken\n"
IMAGE_PATH = "spec.template.spec.containers[name=web].image"


def awoooi(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # a fixed argv, no shell
        [str(AWOOOI), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )


def write(path: Path, *documents: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))


def live_dump(directory: Path, *objects: dict[str, Any]) -> Path:
    write(directory / "all.yaml", {"apiVersion": "v1", "kind": "List", "items": list(objects)})
    return directory


def drifted_deployment() -> dict[str, Any]:
    live = deployment()
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:9.9-hotfix"
    return live


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A directory away from the repository holding git/, live/ and the CLI's home."""
    (tmp_path / "run").mkdir()
    return tmp_path / "run"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(
        tmp_path / "home", f"sqlite+aiosqlite:///{tmp_path / 'awoooi.db'}", COLUMNS="200"
    )


def scan(workdir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return awoooi(
        "drift", "scan", "--desired", "git", "--live-dump", "live", *args, env=env, cwd=workdir
    )


@pytest.mark.parametrize("output", ["table", "json"])
def test_a_broken_manifest_wins_over_drift_and_the_drift_is_still_printed(
    workdir: Path, env: dict[str, str], output: str
) -> None:
    write(workdir / "git" / "app.yaml", deployment())
    (workdir / "git" / "broken.yaml").write_text(BROKEN)
    live_dump(workdir / "live", drifted_deployment())

    done = scan(workdir, env, "--format", output)

    assert done.returncode == 2, done.stderr
    assert "error: " in done.stderr
    assert "broken.yaml" in done.stderr
    assert "nginx:9.9-hotfix" in done.stdout
    if output == "json":
        assert [item["path"] for item in json.loads(done.stdout)["items"]] == [IMAGE_PATH]


def test_a_broken_manifest_alone_exits_2(workdir: Path, env: dict[str, str]) -> None:
    write(workdir / "git" / "app.yaml", deployment())
    (workdir / "git" / "broken.yaml").write_text(BROKEN)
    live_dump(workdir / "live", deployment())

    done = scan(workdir, env)

    assert done.returncode == 2, done.stderr
    assert "broken.yaml" in done.stderr
    assert "1 in sync, 0 drifted" in done.stdout


def test_drift_alone_exits_1_and_in_sync_exits_0(tmp_path: Path, env: dict[str, str]) -> None:
    drifted, clean = tmp_path / "drifted", tmp_path / "clean"
    for directory, live in ((drifted, drifted_deployment()), (clean, deployment())):
        write(directory / "git" / "app.yaml", deployment())
        live_dump(directory / "live", live)

    assert scan(drifted, env).returncode == 1
    assert scan(clean, env).returncode == 0


def test_drift_show_prints_the_reports_problems(workdir: Path, env: dict[str, str]) -> None:
    write(workdir / "git" / "app.yaml", deployment())
    (workdir / "git" / "broken.yaml").write_text(BROKEN)
    live_dump(workdir / "live", drifted_deployment())
    saved = scan(workdir, env, "--save", "--yes", "--format", "json")
    assert saved.returncode == 2, saved.stderr
    report_id = json.loads(saved.stdout)["report_id"]

    shown = awoooi("drift", "show", str(report_id), env=env, cwd=workdir)
    as_json = awoooi("drift", "show", str(report_id), "--format", "json", env=env, cwd=workdir)

    assert shown.returncode == 0, shown.stderr
    problems = json.loads(as_json.stdout)["problems"]
    assert len(problems) == 1
    assert "broken.yaml" in problems[0]
    assert "problems: 1" in shown.stdout
    assert f"  - {problems[0]}" in shown.stdout
    assert "nginx:9.9-hotfix" in shown.stdout


def autoscaled(workdir: Path) -> None:
    """Git sets replicas 2; the cluster's HPA (not in Git) scaled it to 5."""
    desired = deployment()
    desired["spec"]["replicas"] = 2
    write(workdir / "git" / "app.yaml", desired)
    live = deployment()
    live["spec"]["replicas"] = 5
    live["status"] = {"replicas": 5}
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": live["metadata"].get("namespace", "default")},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 2,
            "maxReplicas": 10,
        },
    }
    live_dump(workdir / "live", live, hpa)


def test_show_ignored_lists_what_an_hpa_only_live_decides(
    workdir: Path, env: dict[str, str]
) -> None:
    autoscaled(workdir)

    plain = scan(workdir, env)
    shown = scan(workdir, env, "--show-ignored")
    as_json = scan(workdir, env, "--show-ignored", "--format", "json")

    assert plain.returncode == shown.returncode == as_json.returncode == 0, plain.stdout
    assert "spec.replicas" not in plain.stdout
    assert "spec.replicas" in shown.stdout
    assert "info (ignored)" in shown.stdout
    assert "replicas are managed by a HorizontalPodAutoscaler" in shown.stdout
    assert "1 allowed difference(s) shown" in shown.stdout
    (item,) = json.loads(as_json.stdout)["items"]
    assert (item["path"], item["ignored"], item["desired"], item["live"]) == (
        "spec.replicas",
        True,
        2,
        5,
    )


def test_show_ignored_says_when_there_is_nothing_to_show(
    workdir: Path, env: dict[str, str]
) -> None:
    write(workdir / "git" / "app.yaml", deployment())
    live = deployment()
    live["status"] = {"replicas": 1}
    live["metadata"].update({"uid": "u-1", "resourceVersion": "7"})
    live_dump(workdir / "live", live)

    done = scan(workdir, env, "--show-ignored")

    assert done.returncode == 0, done.stderr
    assert "no allowed differences" in " ".join(done.stdout.split())

"""`awoooi cluster dump` as users run it (the installed console script against the API
stand-in): the dump replays `awoooi diagnose --cluster`, holds no Secret value, and refuses what
it must."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.diagnosis.dumps import Dump, alertmanager, container, exited, template, waiting
from tests.diagnosis.live_cluster import load_dump
from tests.helpers.kube_api import FakeKubeAPI, refusing_port

AWOOOI = Path(sys.executable).parent / "awoooi"
VALUE = "Only-In-The-Secret-4417"


def env(home: Path, **extra: str) -> dict[str, str]:
    # No cluster unless the test names one: no $KUBECONFIG, a HOME without ~/.kube.
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith("AWOOOI_") and k != "KUBECONFIG"
    }
    return {**clean, "AWOOOI_HOME": str(home), "HOME": str(home), "COLUMNS": "200", **extra}


def awoooi(*args: str, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # callers check the exit code
        [str(AWOOOI), *args], env=environ, capture_output=True, text=True, timeout=90
    )


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pod OOM-killed in `ml`, a Secret whose value must never be written, an alert."""
    root = tmp_path_factory.mktemp("case")
    d = Dump(root / "cluster")
    d.node("node-1")
    dep = d.deployment("ml", "ranker", replicas=1)
    rs = d.replicaset(
        dep, template(container("ranker", limits={"memory": "1Gi"})), revision=2, ready=0
    )
    pod = d.pod(
        rs,
        f"{rs['metadata']['name']}-v8b9n",
        statuses={
            "ranker": waiting("CrashLoopBackOff", restarts=4, last=exited("OOMKilled", 137, at=-1))
        },
    )
    d.log(pod, "ranker", ["loading model shards", "allocated 980Mi"])
    d.previous_log(pod, "ranker", ["loading model shards", "allocated 1010Mi"])
    d.secret("ml", "ranker-token", {"token": VALUE})
    d.write()
    labels = {"alertname": "KubePodCrashLooping", "namespace": "ml", "pod": pod["metadata"]["name"]}
    (root / "alert.json").write_text(json.dumps(alertmanager(labels)))
    return root


@pytest.fixture
def api(case: Path) -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI() as server:
        load_dump(server, case / "cluster")
        yield server


def test_a_dump_replays_the_live_diagnosis(api: FakeKubeAPI, case: Path, tmp_path: Path) -> None:
    live_env = env(tmp_path, AWOOOI_KUBE__SERVER=api.url)
    target = tmp_path / "dump"

    dumped = awoooi("cluster", "dump", str(target), environ=live_env)
    live = awoooi(
        "diagnose", "--alert", str(case / "alert.json"), "--cluster",
        "--format", "json", "--no-model", environ=live_env,
    )  # fmt: skip
    replay = awoooi(
        "diagnose", "--alert", str(case / "alert.json"), "--cluster-dump", str(target),
        "--format", "json", "--no-model", environ=env(tmp_path),
    )  # fmt: skip

    assert dumped.returncode == 0, dumped.stderr
    assert f"wrote {target}" in dumped.stdout
    assert "5 objects and 2 container logs from namespaces ml" in dumped.stdout
    assert live.returncode == 0, live.stderr
    assert replay.returncode == 0, replay.stderr
    assert json.loads(replay.stdout) == json.loads(live.stdout)
    assert json.loads(live.stdout)["findings"][0]["cause"] == "OOM_KILLED"
    written = [p for p in target.rglob("*") if p.is_file()]
    assert any(p.name == "logs-ranker-previous.txt" for p in written)
    assert all(VALUE not in p.read_text() for p in written)
    assert all(r.method == "GET" for r in api.requests)


def test_namespaces_and_log_bounds_are_options(api: FakeKubeAPI, tmp_path: Path) -> None:
    target = tmp_path / "dump"

    result = awoooi(
        "cluster", "dump", str(target), "--namespace", "ml", "--log-lines", "1",
        environ=env(tmp_path, AWOOOI_KUBE__SERVER=api.url),
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in target.iterdir() if p.is_dir()) == ["ml"]
    [pod_dir] = [p for p in (target / "ml").iterdir() if p.is_dir()]
    assert "allocated 980Mi\n==== END" in (pod_dir / "logs.txt").read_text()
    assert "loading model" not in (pod_dir / "logs.txt").read_text()
    marker = json.loads((target / "awoooi-dump.json").read_text())
    assert (marker["namespaces"], marker["logLines"]) == (["ml"], 1)


def test_without_a_cluster_it_exits_2(tmp_path: Path) -> None:
    result = awoooi("cluster", "dump", str(tmp_path / "dump"), environ=env(tmp_path))

    assert result.returncode == 2
    assert "no cluster configured" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "dump").exists()


def test_a_foreign_directory_is_refused_with_exit_2(api: FakeKubeAPI, tmp_path: Path) -> None:
    target = tmp_path / "photos"
    target.mkdir()
    (target / "cat.jpg").write_bytes(b"\xff\xd8")

    result = awoooi(
        "cluster", "dump", str(target), environ=env(tmp_path, AWOOOI_KUBE__SERVER=api.url)
    )

    assert result.returncode == 2
    assert "holds no earlier awoooi dump" in result.stderr
    assert sorted(p.name for p in target.iterdir()) == ["cat.jpg"]
    assert api.requests == []


def test_an_unreachable_cluster_exits_1(tmp_path: Path) -> None:
    with refusing_port() as port:
        result = awoooi(
            "cluster", "dump", str(tmp_path / "dump"),
            environ=env(tmp_path, AWOOOI_KUBE__SERVER=f"http://127.0.0.1:{port}"),
        )  # fmt: skip

    assert result.returncode == 1
    assert "cannot reach the API server" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert sorted(os.listdir(tmp_path)) == []  # neither a dump nor a staging directory

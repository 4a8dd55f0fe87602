"""`awoooi diagnose` as users run it: the installed console script in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.diagnosis.dumps import Dump, alertmanager, container, exited, template, waiting
from tests.diagnosis.live_cluster import load_dump
from tests.helpers.kube_api import FakeKubeAPI, refusing_port
from tests.helpers.llm_servers import OpenAIServer

AWOOOI = Path(sys.executable).parent / "awoooi"
SECRET = "Qw3rty-Secr3t-Pass-42"


def env(home: Path, **extra: str) -> dict[str, str]:
    # No cluster unless a test names one: no $KUBECONFIG, and a HOME without ~/.kube.
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith("AWOOOI_") and k != "KUBECONFIG"
    }
    return {**clean, "AWOOOI_HOME": str(home), "HOME": str(home), "COLUMNS": "200", **extra}


def cli(*args: str, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # callers check the exit code
        [str(AWOOOI), "diagnose", *args], env=environ, capture_output=True, text=True, timeout=60
    )


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("case")
    d = Dump(root / "cluster")
    d.node("node-1")
    dep = d.deployment("ml", "ranker", replicas=1)
    rs = d.replicaset(
        dep,
        template(container("ranker", limits={"memory": "2Gi"}, env={"DB_PASSWORD": SECRET})),
        revision=5,
        replicas=1,
        ready=0,
    )
    pod = d.pod(
        rs,
        f"{rs['metadata']['name']}-v8b9n",
        statuses={
            "ranker": waiting(
                "CrashLoopBackOff", "back-off", restarts=7, last=exited("OOMKilled", 137)
            )
        },
    )
    d.log(pod, "ranker", [f"connecting with password {SECRET}", "loading model"])
    d.write()
    labels = {
        "alertname": "KubePodCrashLooping",
        "namespace": "ml",
        "pod": pod["metadata"]["name"],
        "container": "ranker",
        "job": "kube-state-metrics",
        "severity": "warning",
    }
    (root / "alert.json").write_text(json.dumps(alertmanager(labels)))
    (root / "generic.json").write_text(
        json.dumps({"name": "RankerDown", "labels": {"namespace": "ml", "deployment": "ranker"}})
    )
    (root / "ghost.json").write_text(
        json.dumps(alertmanager({"alertname": "X", "namespace": "ml", "deployment": "ghost"}))
    )
    (root / "bad.json").write_text('{"version": "4", "alerts": [')
    return root


def test_json_output_has_exactly_the_four_parts(case: Path, tmp_path: Path) -> None:
    result = cli(
        "--alert",
        str(case / "alert.json"),
        "--cluster-dump",
        str(case / "cluster"),
        "--format",
        "json",
        "--no-model",
        environ=env(tmp_path),
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert list(report) == ["target", "findings", "evidence", "diagnosis"]
    assert report["target"] == {"kind": "Deployment", "namespace": "ml", "name": "ranker"}
    assert report["findings"][0]["cause"] == "OOM_KILLED"
    assert set(report["findings"][0]) == {"cause", "summary", "confidence", "evidence"}
    assert set(report["evidence"][0]) == {"id", "source", "text"}
    assert report["diagnosis"]["by"] == "rules"
    assert SECRET not in result.stdout + result.stderr


def test_a_generic_alert_works_too(case: Path, tmp_path: Path) -> None:
    result = cli(
        "--alert",
        str(case / "generic.json"),
        "--cluster-dump",
        str(case / "cluster"),
        "--format",
        "json",
        "--no-model",
        environ=env(tmp_path),
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["target"]["name"] == "ranker"


def test_the_configured_local_model_explains(case: Path, tmp_path: Path) -> None:
    answer = json.dumps(
        {
            "summary": "Out of memory at 2Gi.",
            "cause": "OOM_KILLED",
            "evidence": ["e2"],
            "confidence": 0.7,
        }
    )
    with OpenAIServer(answer=answer) as server:
        providers = [{"name": "local", "kind": "openai", "base_url": server.base_url, "model": "m"}]
        result = cli(
            "--alert",
            str(case / "alert.json"),
            "--cluster-dump",
            str(case / "cluster"),
            "--format",
            "json",
            environ=env(
                tmp_path,
                AWOOOI_AI__PROVIDERS=json.dumps(providers),
                AWOOOI_AI__CHAINS=json.dumps({"diagnose": ["local"]}),
            ),
        )
        sent = json.dumps(server.chat_requests[0].json)

    assert result.returncode == 0, result.stderr
    diagnosis = json.loads(result.stdout)["diagnosis"]
    assert diagnosis["by"] == "model"
    assert diagnosis["summary"] == "Out of memory at 2Gi."
    assert "OOMKilled" in sent
    assert SECRET not in sent + result.stdout + result.stderr


def test_the_table_is_what_an_sre_reads_first(case: Path, tmp_path: Path) -> None:
    result = cli(
        "--alert",
        str(case / "alert.json"),
        "--cluster-dump",
        str(case / "cluster"),
        "--no-model",
        environ=env(tmp_path),
    )

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Deployment ml/ranker")
    assert "OOM_KILLED" in result.stdout
    assert "Diagnosis by rules" in result.stdout
    assert SECRET not in result.stdout


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (
            ["--alert", "{case}/missing.json", "--cluster-dump", "{case}/cluster"],
            "cannot read alert",
        ),
        (["--alert", "{case}/bad.json", "--cluster-dump", "{case}/cluster"], "not valid JSON"),
        (
            ["--alert", "{case}/ghost.json", "--cluster-dump", "{case}/cluster"],
            "no Deployment ml/ghost",
        ),
        (["--alert", "{case}/alert.json", "--cluster-dump", "{case}/nowhere"], "no cluster dump"),
        (["--alert", "{case}/alert.json", "--cluster"], "no cluster configured"),
        (
            ["--alert", "{case}/alert.json", "--cluster", "--cluster-dump", "{case}/cluster"],
            "not both",
        ),
        (["--alert", "{case}/alert.json"], "--cluster-dump"),
    ],
)
def test_bad_input_exits_2_with_a_one_line_reason(
    case: Path, tmp_path: Path, args: list[str], reason: str
) -> None:
    result = cli(*(a.format(case=case) for a in args), "--no-model", environ=env(tmp_path))

    assert result.returncode == 2
    assert reason in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_models_switched_off_in_settings_leave_the_rules(case: Path, tmp_path: Path) -> None:
    result = cli(
        "--alert",
        str(case / "alert.json"),
        "--cluster-dump",
        str(case / "cluster"),
        "--format",
        "json",
        environ=env(tmp_path, AWOOOI_AI__DIAGNOSE_INCIDENTS="false"),
    )

    assert result.returncode == 0, result.stderr
    diagnosis = json.loads(result.stdout)["diagnosis"]
    assert diagnosis["by"] == "rules"
    assert "ai.diagnose_incidents" in diagnosis["reason"]


# -- --cluster: the live cluster of the kube settings -------------------------------------------


def test_the_live_cluster_gives_the_dumps_answer(case: Path, tmp_path: Path) -> None:
    dumped = cli(
        "--alert", str(case / "alert.json"), "--cluster-dump", str(case / "cluster"),
        "--format", "json", "--no-model", environ=env(tmp_path),
    )  # fmt: skip
    with FakeKubeAPI() as api:
        load_dump(api, case / "cluster")
        live = cli(
            "--alert", str(case / "alert.json"), "--cluster", "--format", "json", "--no-model",
            environ=env(tmp_path, AWOOOI_KUBE__SERVER=api.url),
        )  # fmt: skip
        logs = [r for r in api.requests if r.path.endswith("/log")]

    assert live.returncode == 0, live.stderr
    assert dumped.returncode == 0, dumped.stderr
    assert json.loads(live.stdout) == json.loads(dumped.stdout)
    assert json.loads(live.stdout)["findings"][0]["cause"] == "OOM_KILLED"
    assert logs, "the live diagnosis read no container log"
    assert all(r.method == "GET" for r in api.requests)  # read-only
    assert SECRET not in live.stdout + live.stderr


def test_a_live_target_that_does_not_exist_exits_2(case: Path, tmp_path: Path) -> None:
    with FakeKubeAPI() as api:
        load_dump(api, case / "cluster")
        result = cli(
            "--alert", str(case / "ghost.json"), "--cluster", "--no-model",
            environ=env(tmp_path, AWOOOI_KUBE__SERVER=api.url),
        )  # fmt: skip

    assert result.returncode == 2
    assert "no Deployment ml/ghost" in result.stderr


def test_an_unreachable_cluster_exits_1_with_one_line(case: Path, tmp_path: Path) -> None:
    with refusing_port() as port:
        result = cli(
            "--alert", str(case / "alert.json"), "--cluster", "--no-model",
            environ=env(tmp_path, AWOOOI_KUBE__SERVER=f"http://127.0.0.1:{port}"),
        )  # fmt: skip

    assert result.returncode == 1
    assert "cannot reach the API server" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""

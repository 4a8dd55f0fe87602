"""`awoooi drift scan` as users run it (a real subprocess per run, kept few: each costs ~1-4 s),
and the bad inputs a scan must survive (most of them in-process, where they are cheap)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from awoooi.adapters.git import GitCli
from awoooi.drift.manifests import parse_documents
from awoooi.drift.scan import scan
from awoooi.drift.settings import DriftSettings
from awoooi.drift.sources import DriftSourceError, DumpState, load_desired
from tests.drift.objects import deployment, managed, show
from tests.helpers.kube_api import refusing_port
from tests.helpers.serve import AWOOOI, cli_env

CLI_TIMEOUT = 60
GIT = GitCli()
TRACKING = {"app.kubernetes.io/managed-by": "awoooi"}
IMAGE_PATH = "spec.template.spec.containers[name=web].image"
ONE_LIVE_SOURCE = "give exactly one of --live-dump DIR, --context KUBECONTEXT or --cluster"
SECRET_CLEAR = "s3cret-Clear-Value-42"
SECRET_OLD = "older-Value-that-leaked"
SUMMARY_KEYS = {"resources", "in_sync", "drifted", "missing", "extra"}
ITEM_KEYS = [
    "apiVersion",
    "kind",
    "namespace",
    "name",
    "change",
    "path",
    "desired",
    "live",
    "level",
    "ignored",
    "reason",
]
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.test",
    "GIT_COMMITTER_NAME": "Test Committer",
    "GIT_COMMITTER_EMAIL": "committer@example.test",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def sha(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:12]


def write_yaml(path: Path, *documents: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return path


def live_list(*objects: dict[str, Any]) -> dict[str, Any]:
    """What `kubectl get -A -o yaml` writes."""
    return {"apiVersion": "v1", "kind": "List", "metadata": {}, "items": list(objects)}


def config_map(name: str, namespace: str = "default", **fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        **fields,
    }


def labelled(obj: dict[str, Any]) -> dict[str, Any]:
    obj["metadata"].setdefault("labels", {}).update(TRACKING)
    return obj


def service(target_port: Any) -> dict[str, Any]:
    return labelled(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "selector": {"app": "web"},
                "ports": [{"port": 80, "targetPort": target_port}],
            },
        }
    )


def live_service() -> dict[str, Any]:
    live = service("8080")
    live["spec"].update(
        {
            "clusterIP": "10.96.0.12",
            "clusterIPs": ["10.96.0.12"],
            "type": "ClusterIP",
            "sessionAffinity": "None",
        }
    )
    live["spec"]["ports"][0]["protocol"] = "TCP"
    live["metadata"].update({"uid": "u-1", "resourceVersion": "42"})
    return live


def scaled_by_autoscaler(obj: dict[str, Any], replicas: int) -> dict[str, Any]:
    obj["spec"]["replicas"] = replicas
    obj["metadata"]["managedFields"] = [
        managed("kube-controller-manager", {"f:spec": {"f:replicas": {}}}, subresource="scale")
    ]
    obj["status"] = {"replicas": replicas, "readyReplicas": replicas}
    return obj


# ------------------------------------------------------------------ running the CLI


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return cli_env(home, f"sqlite+aiosqlite:///{tmp_path / 'awoooi.db'}", COLUMNS="250")


def drift_scan(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # a fixed argv, no shell
        [str(AWOOOI), "drift", "scan", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )


def explain(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"


def scan_json(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(done.stdout)
    saved = "report_id" in report  # --save adds the report's id and each item's
    assert list(report) == ["report_id"] * saved + ["summary", "items"], done.stdout
    assert set(report["summary"]) == SUMMARY_KEYS
    for item in report["items"]:
        assert list(item) == ["id"] * saved + ITEM_KEYS, item
        assert item["change"] in {"modified", "added", "removed", "missing", "extra"}
        if item["change"] in {"missing", "extra"}:
            assert item["path"] == ""
    return report


# ------------------------------------------------------------------ exit 0 and 1


def test_in_sync_exits_0(tmp_path: Path, env: dict[str, str]) -> None:
    write_yaml(tmp_path / "git" / "web.yaml", deployment(), service(8080))
    live = deployment()
    live["status"] = {"replicas": 3}
    live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    write_yaml(tmp_path / "live" / "all.yaml", live_list(live, live_service()))
    done = drift_scan(
        "--desired", "git", "--live-dump", "live", "--format", "json", env=env, cwd=tmp_path
    )
    assert done.returncode == 0, explain(done)
    assert scan_json(done) == {
        "summary": {"resources": 2, "in_sync": 2, "drifted": 0, "missing": 0, "extra": 0},
        "items": [],
    }


@pytest.fixture
def drifted(tmp_path: Path) -> Path:
    """Git: a Deployment, a Secret, a Service and a ConfigMap. Live: the image changed, replicas
    set by an autoscaler (ignored), the Secret value changed, the ConfigMap missing, a tracked
    ConfigMap not in Git (extra), and untracked or other-kind objects that are not extras."""
    git = tmp_path / "git"
    write_yaml(git / "app.yaml", labelled(deployment()), service(8080))
    write_yaml(
        git / "secret.yaml",
        labelled(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "db", "namespace": "default"},
                "stringData": {"password": SECRET_CLEAR},
            }
        ),
    )
    write_yaml(git / "config" / "settings.yaml", labelled(config_map("settings", data={"a": "1"})))
    live_deploy = scaled_by_autoscaler(labelled(deployment({"image": "nginx:1.26"})), 5)
    live_secret = labelled(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {"name": "db", "namespace": "default"},
            "data": {"password": b64(SECRET_OLD)},
        }
    )
    stray_role = labelled(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "stray", "namespace": "default"},
            "rules": [],
        }
    )
    write_yaml(
        tmp_path / "live" / "dump.yaml",
        live_list(
            live_deploy,
            live_service(),
            live_secret,
            labelled(config_map("orphan")),
            config_map("kube-root-ca.crt"),
            stray_role,
        ),
    )
    return tmp_path


EXPECTED_ITEMS: list[dict[str, Any]] = [
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "namespace": "default",
        "name": "web",
        "change": "modified",
        "path": IMAGE_PATH,
        "desired": "nginx:1.25",
        "live": "nginx:1.26",
        "level": "high",
        "ignored": False,
        "reason": "",
    },
    {
        "apiVersion": "v1",
        "kind": "Secret",
        "namespace": "default",
        "name": "db",
        "change": "modified",
        "path": "data.password",
        "desired": sha(SECRET_CLEAR),
        "live": sha(SECRET_OLD),
        "level": "high",
        "ignored": False,
        "reason": "",
    },
    {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "namespace": "default",
        "name": "settings",
        "change": "missing",
        "path": "",
        "desired": None,
        "live": None,
        "level": "high",
        "ignored": False,
        "reason": "in Git, not in the cluster",
    },
    {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "namespace": "default",
        "name": "orphan",
        "change": "extra",
        "path": "",
        "desired": None,
        "live": None,
        "level": "medium",
        "ignored": False,
        "reason": "in the cluster with app.kubernetes.io/managed-by=awoooi, not in Git",
    },
]
IGNORED_REPLICAS: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "namespace": "default",
    "name": "web",
    "change": "modified",
    "path": "spec.replicas",
    "desired": 3,
    "live": 5,
    "level": "info",
    "ignored": True,
    "reason": "replicas are set through the scale subresource by kube-controller-manager",
}
DRIFT_SUMMARY = {"resources": 5, "in_sync": 1, "drifted": 2, "missing": 1, "extra": 1}


def key(item: dict[str, Any]) -> tuple[str, str, str]:
    return (item["kind"], item["name"], item["path"])


def assert_no_secret(text: str) -> None:
    for value in (SECRET_CLEAR, SECRET_OLD):
        assert value not in text
        assert b64(value) not in text


def test_drift_json_exits_1_with_the_exact_shape(drifted: Path, env: dict[str, str]) -> None:
    done = drift_scan(
        "--desired", "git", "--live-dump", "live", "--format", "json", env=env, cwd=drifted
    )
    assert done.returncode == 1, explain(done)
    report = scan_json(done)
    assert report["summary"] == DRIFT_SUMMARY
    # The ignored replicas item is left out without --show-ignored (the table run shows it).
    assert sorted(report["items"], key=key) == sorted(EXPECTED_ITEMS, key=key)
    assert_no_secret(done.stdout + done.stderr)


def test_drift_table_shows_ignored_items_and_hides_secret_values(
    drifted: Path, env: dict[str, str]
) -> None:
    done = drift_scan(
        "--desired", "git", "--live-dump", "live", "--show-ignored", env=env, cwd=drifted
    )
    assert done.returncode == 1, explain(done)
    out = done.stdout
    for text in (
        "Deployment/default/web",
        IMAGE_PATH,
        "nginx:1.26",
        "Secret/default/db",
        "data.password",
        sha(SECRET_CLEAR),
        sha(SECRET_OLD),
        "ConfigMap/default/settings",
        "missing",
        "ConfigMap/default/orphan",
        "extra",
        "info (ignored)",
        IGNORED_REPLICAS["reason"],
        "5 resources: 1 in sync, 2 drifted, 1 missing, 1 extra",
    ):
        assert text in out, f"{text!r} not in\n{out}"
    assert_no_secret(done.stdout + done.stderr)


async def test_ignored_items_are_in_the_json_only_when_asked_for(drifted: Path) -> None:
    """The same scan in-process: `--show-ignored` JSON adds the ignored item, same shape."""
    settings = DriftSettings()
    desired = await load_desired(
        str(drifted / "git"), git=GIT, settings=settings, cache_dir=drifted
    )
    report = await scan(desired, await DumpState.load(drifted / "live", settings), settings)
    shown = report.to_json(show_ignored=True)
    assert shown["summary"] == report.to_json()["summary"] == DRIFT_SUMMARY
    assert sorted(shown["items"], key=key) == sorted([*EXPECTED_ITEMS, IGNORED_REPLICAS], key=key)
    assert sorted(report.to_json()["items"], key=key) == sorted(EXPECTED_ITEMS, key=key)
    assert [list(item) for item in shown["items"]] == [ITEM_KEYS] * len(shown["items"])


# ------------------------------------------------------------------ --save, kustomize, Git


def test_save_stores_the_report_and_kustomized_items_keep_their_file(
    tmp_path: Path, env: dict[str, str]
) -> None:
    git = tmp_path / "git"
    (git / "app").mkdir(parents=True)
    (git / "app" / "kustomization.yaml").write_text(
        "namespace: shop\nresources:\n  - deploy.yaml\n"
    )
    write_yaml(git / "app" / "deploy.yaml", deployment(namespace=None))
    write_yaml(git / "plain" / "cm.yaml", config_map("settings", "shop", data={"a": "1"}))
    live_deploy = scaled_by_autoscaler(deployment({"image": "nginx:1.26"}, namespace="shop"), 4)
    write_yaml(
        tmp_path / "live" / "dump.yaml",
        live_list(live_deploy, config_map("settings", "shop", data={"a": "1"})),
    )
    done = drift_scan(
        "--desired",
        "git",
        "--live-dump",
        "live",
        "--format",
        "json",
        "--save",
        "--yes",  # the database does not exist yet: create it
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 1, explain(done)
    assert "saved as drift report 1" in done.stderr
    assert scan_json(done)["summary"] == {
        "resources": 2,
        "in_sync": 1,
        "drifted": 1,
        "missing": 0,
        "extra": 0,
    }
    with sqlite3.connect(tmp_path / "awoooi.db") as db:
        reports = db.execute(
            "SELECT id, desired_source, live_source, summary FROM drift_reports"
        ).fetchall()
        rows = db.execute(
            "SELECT report_id, kind, namespace, name, change, path, level, ignored, source_file,"
            " status FROM drift_items ORDER BY path"
        ).fetchall()
    assert len(reports) == 1
    # The dump is stored absolute: rollback and adopt read it again from elsewhere.
    assert reports[0][1:3] == ("git", f"dump:{tmp_path / 'live'}")
    assert json.loads(reports[0][3])["drifted"] == 1
    assert rows == [
        (
            1,
            "Deployment",
            "shop",
            "web",
            "modified",
            "spec.replicas",
            "info",
            1,
            "app/kustomization.yaml",
            "IGNORED",
        ),
        (
            1,
            "Deployment",
            "shop",
            "web",
            "modified",
            IMAGE_PATH,
            "high",
            0,
            "app/kustomization.yaml",
            "DETECTED",
        ),
    ]


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def test_git_source_with_ref_and_path(tmp_path: Path, env: dict[str, str]) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git("init", "--quiet", "-b", "main", cwd=repo)
    write_yaml(repo / "sub" / "web.yaml", deployment())
    write_yaml(repo / "other" / "cm.yaml", config_map("not-scanned"))  # outside --path
    git("add", "--all", cwd=repo)
    git("commit", "--quiet", "-m", "desired", cwd=repo)
    git("checkout", "--quiet", "-b", "next", cwd=repo)
    write_yaml(repo / "sub" / "web.yaml", deployment({"image": "nginx:next"}))
    git("commit", "--quiet", "-am", "next", cwd=repo)
    write_yaml(repo / "sub" / "web.yaml", deployment({"image": "uncommitted"}))
    write_yaml(tmp_path / "live" / "dump.yaml", live_list(deployment()))
    done = drift_scan(
        "--desired",
        f"file://{repo}",
        "--ref",
        "main",
        "--path",
        "sub",
        "--live-dump",
        "live",
        "--format",
        "json",
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, explain(done)
    assert scan_json(done)["summary"] == {
        "resources": 1,
        "in_sync": 1,
        "drifted": 0,
        "missing": 0,
        "extra": 0,
    }


def test_unreadable_files_are_reported_and_the_rest_is_scanned(
    tmp_path: Path, env: dict[str, str]
) -> None:
    git_dir = tmp_path / "git"
    git_dir.mkdir()
    (git_dir / "a-broken.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: before, namespace: default}\n"
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\n  labels: {a: b: c}\n"
    )
    (git_dir / "b-nokind.yaml").write_text("apiVersion: v1\nmetadata: {name: nokind}\n")
    write_yaml(git_dir / "c-good.yaml", config_map("after"))
    write_yaml(
        tmp_path / "live" / "dump.yaml", live_list(config_map("before"), config_map("after"))
    )
    done = drift_scan(
        "--desired", "git", "--live-dump", "live", "--format", "json", env=env, cwd=tmp_path
    )
    # Nothing drifted in what could be read, but part of Git could not be: exit 2, not 0.
    assert done.returncode == 2, explain(done)
    assert scan_json(done)["summary"] == {
        "resources": 2,
        "in_sync": 2,
        "drifted": 0,
        "missing": 0,
        "extra": 0,
    }
    assert "a-broken.yaml:9: invalid YAML" in done.stderr
    assert "b-nokind.yaml: document 0: object without kind, skipped" in done.stderr


# ------------------------------------------------------------------ exit 2


@pytest.fixture
def closed_port() -> Iterator[int]:
    with refusing_port() as port:
        yield port


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("unreachable http", "cannot clone http://127.0.0.1:"),
        ("missing file url", "cannot clone file:///nonexistent"),
        ("missing live dump", "--live-dump 'no-such-dump' does not exist"),
        ("path escaping the root", "--path '../..' leaves the repository"),
        ("neither live source", ONE_LIVE_SOURCE),
        ("both live sources", ONE_LIVE_SOURCE),
    ],
)
def test_bad_sources_exit_2_with_the_reason(
    tmp_path: Path, env: dict[str, str], closed_port: int, case: str, expected: str
) -> None:
    write_yaml(tmp_path / "git" / "web.yaml", deployment())
    write_yaml(tmp_path / "live" / "dump.yaml", live_list(deployment()))
    args = {
        "unreachable http": [
            "--desired",
            f"http://127.0.0.1:{closed_port}/repo.git",
            "--live-dump",
            "live",
        ],
        "missing file url": ["--desired", "file:///nonexistent", "--live-dump", "live"],
        "missing live dump": ["--desired", "git", "--live-dump", "no-such-dump"],
        "path escaping the root": ["--desired", "git", "--path", "../..", "--live-dump", "live"],
        "neither live source": ["--desired", "git"],
        "both live sources": ["--desired", "git", "--live-dump", "live", "--context", "kind"],
    }[case]
    done = drift_scan(*args, env=env, cwd=tmp_path)
    assert done.returncode == 2, explain(done)
    assert expected in done.stderr, explain(done)
    assert done.stdout == ""


# ------------------------------------------------------------------ bad input, in-process


async def test_invalid_yaml_names_file_and_line_and_the_rest_is_still_read(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: first}\n"
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: second\n  labels: {a: b: c}\n"
    )
    (tmp_path / "b.json").write_text('{"apiVersion": "v1",\n "kind": }')
    write_yaml(tmp_path / "sub" / "c.yaml", config_map("third"))
    desired = await load_desired(
        str(tmp_path), git=GIT, settings=DriftSettings(), cache_dir=tmp_path
    )
    assert sorted(m.resource.name for m in desired.manifests) == ["first", "third"]
    problems = {(p.source, p.line, p.message.split(":")[0]) for p in desired.problems}
    assert problems == {("a.yaml", 9, "invalid YAML"), ("b.json", 2, "invalid JSON")}
    first = next(m for m in desired.manifests if m.resource.name == "first")
    assert (first.source_file, first.document_index) == ("a.yaml", 0)


@pytest.mark.timeout(20)
async def test_a_yaml_alias_bomb_is_refused(tmp_path: Path) -> None:
    lines = ["  a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    previous = "a"
    for name in "bcdefghi":  # 9 levels of 9 aliases: 9**9 nodes once expanded
        lines.append(f"  {name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
        previous = name
    bomb = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n" + "\n".join(lines)
    manifests, problems = parse_documents(bomb, "bomb.yaml")
    assert manifests == []
    assert [str(p) for p in problems] == [
        "bomb.yaml: document 0: the document expands to more than 2,000,000 nodes; refused"
    ]
    (tmp_path / "bomb.yaml").write_text(bomb + "\n")
    write_yaml(tmp_path / "ok.yaml", config_map("ok"))
    desired = await load_desired(
        str(tmp_path), git=GIT, settings=DriftSettings(), cache_dir=tmp_path
    )
    assert [m.resource.name for m in desired.manifests] == ["ok"]
    assert [p.source for p in desired.problems] == ["bomb.yaml"]


async def test_objects_without_kind_or_name_are_reported_not_fatal(tmp_path: Path) -> None:
    git_dir = tmp_path / "git"
    write_yaml(
        git_dir / "objects.yaml",
        {"apiVersion": "v1", "metadata": {"name": "no-kind"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": "default"}},
        {"apiVersion": "v1", "kind": "ConfigMap"},
        config_map("fine"),
    )
    write_yaml(tmp_path / "live" / "dump.yaml", live_list(config_map("fine")))
    settings = DriftSettings()
    desired = await load_desired(str(git_dir), git=GIT, settings=settings, cache_dir=tmp_path)
    report = await scan(desired, await DumpState.load(tmp_path / "live", settings), settings)
    assert [str(p) for p in report.problems] == [
        "objects.yaml: document 0: object without kind, skipped",
        "objects.yaml: document 1: ConfigMap without metadata.name, skipped",
        "objects.yaml: document 2: ConfigMap without metadata, skipped",
    ]
    assert report.summary()["in_sync"] == 1
    assert report.items == [], show(report.items)


async def test_bad_sources_raise_a_source_error(tmp_path: Path) -> None:
    settings = DriftSettings()
    (tmp_path / "git").mkdir()
    with pytest.raises(DriftSourceError, match="leaves the repository"):
        await load_desired(
            str(tmp_path / "git"),
            git=GIT,
            sub_path="../..",
            settings=settings,
            cache_dir=tmp_path,
        )
    with pytest.raises(DriftSourceError, match="does not exist"):
        await load_desired(
            str(tmp_path / "git"), git=GIT, sub_path="nope", settings=settings, cache_dir=tmp_path
        )
    with pytest.raises(DriftSourceError, match="neither a directory nor a Git URL"):
        await load_desired(str(tmp_path / "absent"), git=GIT, settings=settings, cache_dir=tmp_path)
    with pytest.raises(DriftSourceError, match="does not exist"):
        await DumpState.load(tmp_path / "no-dump", settings)

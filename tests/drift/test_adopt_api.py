"""Scan -> report -> adopt -> ADOPTED through the HTTP API, with a real bare Git remote and a
`kubectl get -o yaml` dump as the live side; roles enforced, a concurrent push refused."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select

from awoooi.adapters.git import GitCheckout, GitCli, Worktree
from awoooi.api.app import create_app
from awoooi.core.audit import SYSTEM_CALLER
from awoooi.core.auth import create_token
from awoooi.core.db import transaction
from awoooi.core.models import AuditEntry, Role
from awoooi.drift.scanning import configured_sources, queue_scan
from awoooi.runtime import Runtime
from awoooi.settings import Settings
from tests.conftest import make_settings
from tests.drift.conftest import git, seed_remote

IMAGE_PATH = "spec.template.spec.containers[name=web].image"

APP_YAML = """\
# The web tier. Reviewed by the platform team; keep the comments.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels:
    app: web   # selector label
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: "registry.local/web:1.4.0"  # pinned by release 2026.11
          ports:
            - containerPort: 8080
---
# Feature switches for the web tier.
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: shop
data:
  LOG_LEVEL: info      # debug only while investigating
  CACHE_TTL: "300"
"""


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """A bare remote whose main branch holds manifests/app.yaml."""
    return seed_remote(tmp_path, {"manifests/app.yaml": APP_YAML})


def remote_file(bare: Path, branch: str = "main") -> str:
    return git("--git-dir", str(bare), "show", f"{branch}:manifests/app.yaml") + "\n"


def live_objects(image: str = "registry.local/web:1.5.1-hotfix") -> list[dict[str, Any]]:
    deployment = yaml.safe_load(APP_YAML.split("---")[0])
    deployment["metadata"]["managedFields"] = [
        {
            "manager": "kubectl-edit",
            "operation": "Update",
            "apiVersion": "apps/v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:spec": {
                    "f:template": {
                        "f:spec": {"f:containers": {'k:{"name":"web"}': {"f:image": {}}}}
                    }
                }
            },
        }
    ]
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = image
    config = yaml.safe_load(APP_YAML.split("---")[1])
    config["data"]["LOG_LEVEL"] = "debug"
    return [deployment, config]


@pytest.fixture
def dump(tmp_path: Path) -> Path:
    directory = tmp_path / "dump"
    directory.mkdir()
    listing = {"apiVersion": "v1", "kind": "List", "metadata": {}, "items": live_objects()}
    (directory / "all.yaml").write_text(yaml.safe_dump(listing))
    return directory


@pytest.fixture
def settings(tmp_path: Path, database_url: str, remote: Path, dump: Path) -> Settings:
    return make_settings(
        tmp_path / "home",
        database_url,
        drift={
            "desired": f"file://{remote}",
            "path": "manifests",
            "live_dump": dump,
            "interpret": False,
            "scan_interval": 0,
        },
    )


async def scanned(
    client: httpx.AsyncClient, runtime: Runtime, headers: dict[str, str]
) -> dict[str, Any]:
    """Queue a scan through the API, run the job, and read the report."""
    answer = await client.post("/api/v1/drift/scan", headers=headers)
    assert answer.status_code == 202, answer.text
    report_id = answer.json()["report_id"]
    assert answer.json()["status"] == "QUEUED"
    await runtime.worker().run_until_idle()
    report = await client.get(f"/api/v1/drift/reports/{report_id}", headers=headers)
    assert report.status_code == 200, report.text
    return dict(report.json())


def item_at(report: dict[str, Any], kind: str, path: str) -> dict[str, Any]:
    found = [i for i in report["items"] if i["kind"] == kind and i["path"] == path]
    assert len(found) == 1, report["items"]
    return dict(found[0])


async def test_scan_report_adopt_end_to_end(
    client: httpx.AsyncClient, runtime: Runtime, headers_for: Any, remote: Path
) -> None:
    operator = await headers_for(Role.OPERATOR)
    viewer = await headers_for(Role.VIEWER)
    before = remote_file(remote)
    head_before = git("--git-dir", str(remote), "rev-parse", "main")

    report = await scanned(client, runtime, operator)
    assert report["status"] == "DETECTED"
    assert report["revision"] == head_before
    image = item_at(report, "Deployment", IMAGE_PATH)
    assert image["status"] == "DETECTED"
    assert image["live"] == "registry.local/web:1.5.1-hotfix"
    level = item_at(report, "ConfigMap", "data.LOG_LEVEL")

    # A viewer reads reports but cannot adopt.
    listing = await client.get("/api/v1/drift/reports", headers=viewer)
    assert listing.status_code == 200
    assert [r["id"] for r in listing.json()["items"]] == [report["id"]]
    denied = await client.post(
        "/api/v1/drift/adopt", json={"report_id": report["id"]}, headers=viewer
    )
    assert denied.status_code == 403
    assert set(denied.json()) >= {"error", "detail"}

    # The dry run shows the diff and changes nothing.
    preview = await client.post(
        "/api/v1/drift/adopt",
        json={"report_id": report["id"], "item_ids": [image["id"]], "dry_run": True},
        headers=operator,
    )
    assert preview.status_code == 200, preview.text
    assert '-          image: "registry.local/web:1.4.0"' in preview.json()["diff"]
    assert '+          image: "registry.local/web:1.5.1-hotfix"' in preview.json()["diff"]
    assert git("--git-dir", str(remote), "rev-parse", "main") == head_before

    adopted = await client.post(
        "/api/v1/drift/adopt",
        json={"report_id": report["id"], "item_ids": [image["id"]]},
        headers=operator,
    )
    assert adopted.status_code == 200, adopted.text
    body = adopted.json()
    assert body["ok"]
    assert body["commit"]
    assert body["branch"] == "main"
    assert [i["outcome"] for i in body["items"]] == ["adopted"]

    # Only the image changed: comments, quotes, order and the other document are byte-identical.
    after = remote_file(remote)
    assert after == before.replace(
        '"registry.local/web:1.4.0"', '"registry.local/web:1.5.1-hotfix"'
    )
    assert git("--git-dir", str(remote), "rev-parse", "main") == body["commit"]
    message = git("--git-dir", str(remote), "log", "-1", "--format=%B", "main")
    assert f"report {report['id']}" in message
    assert "Deployment/shop/web" in message
    assert IMAGE_PATH in message

    shown = await client.get(f"/api/v1/drift/reports/{report['id']}", headers=viewer)
    image_now = item_at(shown.json(), "Deployment", IMAGE_PATH)
    assert image_now["status"] == "ADOPTED"
    assert image_now["status_by"].startswith("operator-")
    assert image_now["status_detail"]["commit"] == body["commit"]
    assert item_at(shown.json(), "ConfigMap", "data.LOG_LEVEL")["status"] == "DETECTED"
    assert shown.json()["status"] == "DETECTED"  # one item still waits

    # A second adopt of the same item is a no-op: no new commit.
    again = await client.post(
        "/api/v1/drift/adopt",
        json={"report_id": report["id"], "item_ids": [image["id"]]},
        headers=operator,
    )
    assert again.status_code == 200
    assert [i["outcome"] for i in again.json()["items"]] == ["skipped"]
    assert git("--git-dir", str(remote), "rev-parse", "main") == body["commit"]

    # Ignoring the last item decides the report: what was done to the rest is what it shows.
    ignored = await client.post(
        "/api/v1/drift/ignore",
        json={"report_id": report["id"], "item_ids": [level["id"]], "reason": "investigating"},
        headers=operator,
    )
    assert ignored.status_code == 200, ignored.text
    assert ignored.json()["report_status"] == "ADOPTED"

    async with transaction(runtime.session_factory) as session:
        actions = list(await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions.count("drift.adopt") == 3  # dry run, adopt, no-op
    assert "drift.scan" in actions
    assert "drift.ignore" in actions


async def test_a_push_that_loses_the_race_is_refused_and_nothing_is_marked(
    client: httpx.AsyncClient, runtime: Runtime, headers_for: Any, remote: Path, tmp_path: Path
) -> None:
    operator = await headers_for(Role.OPERATOR)
    report = await scanned(client, runtime, operator)
    image = item_at(report, "Deployment", IMAGE_PATH)
    # Someone else's push lands while ours is on the wire: the remote's pre-receive hook moves
    # main to another commit first, so our ref update finds main where it no longer expects it.
    marker = tmp_path / "raced"
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\n"
        # Outside the push's quarantine, as another receive-pack would be.
        "unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES\n"
        f'if [ ! -e "{marker}" ]; then\n'
        f'  touch "{marker}"\n'
        "  tree=$(git rev-parse main^{tree})\n"
        "  other=$(GIT_AUTHOR_NAME=o GIT_AUTHOR_EMAIL=o@x GIT_COMMITTER_NAME=o "
        'GIT_COMMITTER_EMAIL=o@x git commit-tree -p main -m other "$tree")\n'
        '  git update-ref refs/heads/main "$other"\n'
        "fi\n"
        "exit 0\n"
    )
    hook.chmod(0o755)
    lost = await client.post(
        "/api/v1/drift/adopt",
        json={"report_id": report["id"], "item_ids": [image["id"]]},
        headers=operator,
    )
    assert lost.status_code == 409, lost.text
    assert lost.json()["error"] == "git_push_rejected"
    assert "main" in lost.json()["detail"]
    assert marker.exists()
    # The remote holds the other push, not ours; the item still waits.
    assert git("--git-dir", str(remote), "log", "-1", "--format=%s", "main") == "other"
    async with transaction(runtime.session_factory) as session:
        refused = await session.scalar(select(AuditEntry).where(AuditEntry.outcome == "refused"))
    assert refused is not None
    assert refused.action == "drift.adopt"
    assert refused.detail["error"] == "git_push_rejected"
    assert "1.5.1-hotfix" not in remote_file(remote)
    shown = await client.get(f"/api/v1/drift/reports/{report['id']}", headers=operator)
    assert item_at(shown.json(), "Deployment", IMAGE_PATH)["status"] == "DETECTED"
    # Retrying after the race succeeds on top of the other commit.
    retried = await client.post(
        "/api/v1/drift/adopt",
        json={"report_id": report["id"], "item_ids": [image["id"]]},
        headers=operator,
    )
    assert retried.status_code == 200, retried.text
    assert (
        git("--git-dir", str(remote), "log", "-2", "--format=%s", "main").splitlines()[1] == "other"
    )


async def test_branch_mode_pushes_to_a_new_branch(
    tmp_path: Path, database_url: str, remote: Path, dump: Path
) -> None:
    settings = make_settings(
        tmp_path / "home2",
        database_url,
        drift={
            "desired": f"file://{remote}",
            "path": "manifests",
            "live_dump": dump,
            "interpret": False,
            "scan_interval": 0,
            "adopt_branch_mode": "branch",
        },
    )
    active = Runtime.from_settings(settings)
    await active.migrate()
    application = create_app(settings, runtime=active, run_worker=False)
    try:
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                async with transaction(active.session_factory) as session:
                    issued = await create_token(
                        session, name="op", role=Role.OPERATOR, created_by="test"
                    )
                operator = {"Authorization": f"Bearer {issued.secret}"}
                report = await scanned(client, active, operator)
                first = item_at(report, "Deployment", IMAGE_PATH)
                second = item_at(report, "ConfigMap", "data.LOG_LEVEL")
                main_before = git("--git-dir", str(remote), "rev-parse", "main")
                for item in (first, second):
                    done = await client.post(
                        "/api/v1/drift/adopt",
                        json={"report_id": report["id"], "item_ids": [item["id"]]},
                        headers=operator,
                    )
                    assert done.status_code == 200, done.text
                    assert done.json()["branch"] == f"awoooi/adopt-{report['id']}"
    finally:
        await active.dispose()
    assert git("--git-dir", str(remote), "rev-parse", "main") == main_before
    adopted = remote_file(remote, f"awoooi/adopt-{report['id']}")
    assert "1.5.1-hotfix" in adopted
    assert "LOG_LEVEL: debug      # debug only" in adopted


async def test_refusals_are_clear(
    client: httpx.AsyncClient, runtime: Runtime, headers_for: Any
) -> None:
    operator = await headers_for(Role.OPERATOR)
    missing = await client.post("/api/v1/drift/adopt", json={"report_id": 999}, headers=operator)
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    bad = await client.post(
        "/api/v1/drift/adopt", json={"report_id": "x", "surprise": 1}, headers=operator
    )
    assert bad.status_code == 422
    report = await scanned(client, runtime, operator)
    unknown = await client.post(
        "/api/v1/drift/adopt",
        json={"report_id": report["id"], "item_ids": [987654]},
        headers=operator,
    )
    assert unknown.status_code == 404
    assert "987654" in unknown.json()["detail"]
    ignore_nothing = await client.post(
        "/api/v1/drift/ignore", json={"report_id": report["id"], "item_ids": []}, headers=operator
    )
    assert ignore_nothing.status_code == 422


class RecordingGit(GitCli):
    """The real git client, noting which of its methods drift called."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def checkout(self, *args: Any, **kwargs: Any) -> GitCheckout:
        self.calls.append("checkout")
        return await super().checkout(*args, **kwargs)

    def edit_worktree(self, *args: Any, **kwargs: Any) -> AbstractAsyncContextManager[Worktree]:
        self.calls.append("edit_worktree")
        return super().edit_worktree(*args, **kwargs)

    def worktree_file(self, worktree: Worktree, relative: str) -> Path:
        self.calls.append("worktree_file")
        return super().worktree_file(worktree, relative)

    async def commit_files(self, *args: Any, **kwargs: Any) -> str | None:
        self.calls.append("commit_files")
        return await super().commit_files(*args, **kwargs)

    async def push(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append("push")
        await super().push(*args, **kwargs)

    async def remote_branch_exists(self, *args: Any, **kwargs: Any) -> bool:
        self.calls.append("remote_branch_exists")
        return await super().remote_branch_exists(*args, **kwargs)


async def test_drift_does_its_git_work_through_the_client_it_is_given(
    tmp_path: Path, database_url: str, remote: Path, dump: Path
) -> None:
    settings = make_settings(
        tmp_path / "home",
        database_url,
        drift={
            "desired": f"file://{remote}",
            "path": "manifests",
            "live_dump": dump,
            "interpret": False,
            "scan_interval": 0,
            "adopt_branch_mode": "branch",
        },
    )
    recording = RecordingGit()
    runtime = Runtime.from_settings(settings, git=recording)
    await runtime.migrate()
    try:
        async with transaction(runtime.session_factory) as session:
            sources = configured_sources(settings.drift, cluster_available=False)
            report_id = (await queue_scan(session, sources, actor="test")).id
        await runtime.worker().run_until_idle()
        assert recording.calls == ["checkout"]

        async with transaction(runtime.session_factory) as session:
            result = await runtime.drift.adopt(session, report_id, [], caller=SYSTEM_CALLER)
    finally:
        await runtime.dispose()

    assert result.ok, result.to_json()
    assert result.branch == f"awoooi/adopt-{report_id}"
    assert recording.calls[:3] == ["checkout", "remote_branch_exists", "edit_worktree"]
    assert recording.calls[-2:] == ["commit_files", "push"]
    assert "worktree_file" in recording.calls
    assert git("--git-dir", str(remote), "rev-parse", result.branch) == result.commit

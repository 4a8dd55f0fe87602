"""`kubectl kustomize` through the process runner: a real render, a failure whose secret is
redacted, and a kubectl that hangs (a stand-in on PATH that starts a child of its own) killed
with that child on timeout and on cancellation."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from pathlib import Path

import pytest

from awoooi.adapters.kustomize import (
    KustomizeError,
    KustomizeRefused,
    relative_paths,
    render_kustomization,
)
from awoooi.core.errors import AwoooiError


def alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie waiting for its reaper."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


async def gone(pid: int, seconds: float = 5.0) -> bool:
    """Wait until the process is gone (an orphan is reaped by init, not at once)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not alive(pid):
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.fixture
def hanging_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `kubectl` first on PATH that starts a child, writes both pids, and never finishes."""
    bin_dir, pids = tmp_path / "bin", tmp_path / "pids"
    bin_dir.mkdir()
    stub = bin_dir / "kubectl"
    # Written to a temporary name and renamed: the test never reads half a line.
    stub.write_text(
        f"#!/bin/sh\nsleep 300 &\necho \"$$ $!\" > '{pids}.tmp'\nmv '{pids}.tmp' '{pids}'\nwait\n"
    )
    stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return pids


def written(pids: Path) -> list[int]:
    """The pids in the file, none before the stand-in wrote it."""
    return [int(pid) for pid in pids.read_text().split()] if pids.exists() else []


async def started(pids: Path) -> list[int]:
    """The stand-in's pid and its child's, once it has written them."""
    for _ in range(200):
        found = written(pids)
        if found:
            return found
        await asyncio.sleep(0.025)
    raise AssertionError("the kubectl stand-in did not start")


async def test_a_kustomization_renders(tmp_path: Path) -> None:
    (tmp_path / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: '1'\n"
    )
    (tmp_path / "kustomization.yaml").write_text("namePrefix: prod-\nresources:\n  - cm.yaml\n")

    rendered = await render_kustomization(
        tmp_path, repository=tmp_path, allow_remote=(), timeout=60
    )

    assert "name: prod-settings" in rendered


async def test_a_failure_is_typed_and_its_secret_redacted(tmp_path: Path) -> None:
    # kustomize names the broken resource in its error, so the secret lands on stderr.
    (tmp_path / "password=hunter2.yaml").write_text("kind: [\n")
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - password=hunter2.yaml\n")

    with pytest.raises(KustomizeError) as caught:
        await render_kustomization(tmp_path, repository=tmp_path, allow_remote=(), timeout=60)

    error = caught.value
    assert isinstance(error, AwoooiError)
    assert error.detail.startswith("kubectl kustomize failed: ")
    assert error.returncode == 1
    assert "hunter2" not in error.detail
    assert "hunter2" not in error.stderr
    assert "[REDACTED" in error.detail


async def test_a_timeout_is_a_typed_error_and_kills_kubectl_and_its_child(
    tmp_path: Path, hanging_kubectl: Path
) -> None:
    started_at = time.monotonic()
    task = asyncio.create_task(
        render_kustomization(tmp_path, repository=tmp_path, allow_remote=(), timeout=1)
    )
    pids = await started(hanging_kubectl)

    with pytest.raises(KustomizeError, match=r"^kubectl kustomize timed out after 1s$") as caught:
        await task

    assert caught.value.timed_out
    assert caught.value.returncode is None
    assert time.monotonic() - started_at < 10
    for pid in pids:
        assert await gone(pid), f"process {pid} outlived the timeout"


async def test_a_cancelled_render_leaves_no_process_running(
    tmp_path: Path, hanging_kubectl: Path
) -> None:
    task = asyncio.create_task(
        render_kustomization(tmp_path, repository=tmp_path, allow_remote=(), timeout=300)
    )
    pids = await started(hanging_kubectl)
    assert all(alive(pid) for pid in pids)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    for pid in pids:
        assert await gone(pid), f"process {pid} outlived the cancelled render"


async def test_without_kubectl_the_error_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))

    with pytest.raises(KustomizeError, match="kubectl is not installed"):
        await render_kustomization(tmp_path, repository=tmp_path, allow_remote=(), timeout=5)


@pytest.fixture
def recording_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `kubectl` first on PATH that only records that it was started."""
    bin_dir, marker = tmp_path / "bin", tmp_path / "kubectl-ran"
    bin_dir.mkdir()
    stub = bin_dir / "kubectl"
    stub.write_text(f"#!/bin/sh\necho \"$@\" > '{marker}'\n")
    stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return marker


async def test_a_refused_reference_is_typed_and_kubectl_never_starts(
    tmp_path: Path, recording_kubectl: Path
) -> None:
    repo = tmp_path / "repo"
    (repo / "app").mkdir(parents=True)
    (repo / "app" / "kustomization.yaml").write_text(
        "resources:\n  - https://user:hunter2@git.example.com/org/repo.git\n  - ../../outside\n"
    )

    with pytest.raises(KustomizeRefused) as caught:
        await render_kustomization(
            repo / "app", repository=repo, allow_remote=["example.com"], timeout=60
        )

    error = caught.value
    assert isinstance(error, KustomizeError)
    assert error.status_code == 422
    assert [(r.file, r.field, r.reason.split(";")[0]) for r in error.refusals] == [
        ("app/kustomization.yaml", "resources", "is remote (host git.example.com)"),
        ("app/kustomization.yaml", "resources", "leaves the repository: refused"),
    ]
    assert "hunter2" not in error.detail
    assert not await asyncio.to_thread(recording_kubectl.exists)


async def test_allowed_hosts_reach_kubectl_with_the_restricting_flags(
    tmp_path: Path, recording_kubectl: Path
) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - https://GIT.example.com/o/r\n")

    await render_kustomization(
        tmp_path, repository=tmp_path, allow_remote=["git.example.com"], timeout=60
    )

    assert (await asyncio.to_thread(recording_kubectl.read_text)).split() == [
        "kustomize",
        "--load-restrictor=LoadRestrictionsRootOnly",
        "--enable-helm=false",
        "--enable-alpha-plugins=false",
        "--network=false",
        str(tmp_path),
    ]


async def test_a_failure_shows_paths_relative_to_the_repository(tmp_path: Path) -> None:
    repo = tmp_path / "cache" / "checkout"
    (repo / "app" / "empty").mkdir(parents=True)
    (repo / "app" / "kustomization.yaml").write_text("resources:\n  - empty\n")

    with pytest.raises(KustomizeError) as caught:
        await render_kustomization(repo / "app", repository=repo, allow_remote=(), timeout=60)

    error = caught.value
    assert str(tmp_path) not in error.detail
    assert str(tmp_path) not in error.stderr
    assert "'app/empty'" in error.detail
    assert "run.go" not in error.detail  # kubectl's log prefix is not part of the reason
    assert error.detail.startswith("kubectl kustomize failed: accumulating resources")


def test_server_paths_are_cut_and_repository_paths_made_relative(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    text = (
        f"lstat {repo}/app/x: no such file; '{repo}2/y' and '{repo}'; "
        "clone in /tmp/kustomize-123/repo failed; see https://example.com/a/b and apps/v1"
    )

    assert relative_paths(text, repo) == (
        "lstat app/x: no such file; '.../y' and '.'; clone in .../repo failed; "
        "see https://example.com/a/b and apps/v1"
    )

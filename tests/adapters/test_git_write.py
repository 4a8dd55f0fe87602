"""Write access to Git (adopt into Git) against real repositories: clone, edit, commit, push."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from awoooi.adapters.git import (
    GitError,
    GitPushRejected,
    Worktree,
    commit_files,
    edit_worktree,
    push,
    worktree_file,
)
from tests.helpers.kube_api import refusing_port

MANIFEST = "deploy/web.yaml"
SEEDED = """\
# The web front end; replicas are tuned by hand (see runbook 12).
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web  # keep in sync with the Service
spec:
  replicas: 2
"""
EDITED = SEEDED.replace("replicas: 2", "replicas: 5")
AUTHOR = {"author_name": "awoooi adopt", "author_email": "adopt@awoooi.test"}
TIMEOUT = 30.0

# The test's own git commands: an identity of their own, no developer config.
SETUP_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Someone Else",
    "GIT_AUTHOR_EMAIL": "else@example.test",
    "GIT_COMMITTER_NAME": "Someone Else",
    "GIT_COMMITTER_EMAIL": "else@example.test",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(*args: str, cwd: Path) -> str:
    """Run git for the test's own setup and checks; fail loudly."""
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=SETUP_ENV, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


@pytest.fixture(autouse=True)
def no_git_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """Like a CI machine: no global or system git config and no identity in the environment."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("NAME", "EMAIL"):
        monkeypatch.delenv(f"GIT_AUTHOR_{name}", raising=False)
        monkeypatch.delenv(f"GIT_COMMITTER_{name}", raising=False)


@dataclass
class Remote:
    """A bare remote (HEAD is main) seeded with one commit holding a commented manifest."""

    bare: Path
    url: str
    seed: str

    def rev(self, ref: str) -> str:
        return git("rev-parse", "--verify", "--quiet", ref, cwd=self.bare)

    def show(self, spec: str) -> str:
        return git("show", spec, cwd=self.bare) + "\n"

    def branches(self) -> list[str]:
        return git("for-each-ref", "--format=%(refname:short)", "refs/heads", cwd=self.bare).split()


def make_remote(tmp_path: Path, form: str) -> Remote:
    bare, seed_dir = tmp_path / "remote.git", tmp_path / "seed"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(bare), cwd=tmp_path)
    git("clone", "--quiet", str(bare), str(seed_dir), cwd=tmp_path)
    (seed_dir / "deploy").mkdir()
    (seed_dir / MANIFEST).write_text(SEEDED)
    (seed_dir / "deploy/other.yaml").write_text("kind: ConfigMap\n")
    git("add", "--all", cwd=seed_dir)
    git("commit", "--quiet", "-m", "seed", cwd=seed_dir)
    git("push", "--quiet", "origin", "HEAD:refs/heads/main", cwd=seed_dir)
    url = bare.as_uri() if form == "file-url" else str(bare)
    return Remote(bare=bare, url=url, seed=git("rev-parse", "HEAD", cwd=seed_dir))


@pytest.fixture(params=["path", "file-url"])
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> Remote:
    return make_remote(tmp_path, request.param)


@pytest.fixture
def local(tmp_path: Path) -> Remote:
    """The remote by plain path only, for cases where the URL form does not matter."""
    return make_remote(tmp_path, "path")


@pytest.fixture
def work_root(tmp_path: Path) -> Path:
    return tmp_path / "edits"


def entries(directory: Path) -> list[str]:
    return sorted(child.name for child in directory.iterdir())


def exists(path: Path) -> bool:
    return path.exists()


def push_from_elsewhere(remote: Remote, tmp_path: Path, text: str) -> str:
    """Another writer: clone, commit, push main; returns its commit."""
    other = tmp_path / "other"
    git("clone", "--quiet", str(remote.bare), str(other), cwd=tmp_path)
    (other / MANIFEST).write_text(text)
    git("commit", "--quiet", "-am", "someone else", cwd=other)
    git("push", "--quiet", "origin", "HEAD:refs/heads/main", cwd=other)
    return git("rev-parse", "HEAD", cwd=other)


# -- the round trip ----------------------------------------------------------------------------


async def test_edit_commit_push_updates_the_remote_branch(remote: Remote, work_root: Path) -> None:
    async with edit_worktree(remote.url, "main", work_root, timeout=TIMEOUT) as tree:
        assert (tree.branch, tree.base_commit, tree.url) == ("main", remote.seed, remote.url)
        assert tree.path.parent.parent.name == work_root.name
        worktree_file(tree, MANIFEST).write_text(EDITED)
        commit = await commit_files(
            tree, [MANIFEST], "Adopt web replicas", **AUTHOR, timeout=TIMEOUT
        )
        await push(tree, "main", timeout=TIMEOUT)

    assert commit is not None
    assert remote.rev("main") == commit
    assert remote.rev("main^") == remote.seed
    assert remote.show(f"main:{MANIFEST}") == EDITED  # comments and all
    assert git("show", "--name-only", "--format=", "main", cwd=remote.bare) == MANIFEST


async def test_the_default_is_the_remote_head_branch(local: Remote, work_root: Path) -> None:
    git("branch", "release", "main", cwd=local.bare)
    git("symbolic-ref", "HEAD", "refs/heads/release", cwd=local.bare)

    async with edit_worktree(local.url, None, work_root, timeout=TIMEOUT) as tree:
        assert (tree.branch, tree.base_commit) == ("release", local.seed)


async def test_the_commit_has_the_given_author_and_exact_message(
    local: Remote, work_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An identity inherited from the environment must not win over the given one.
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Inherited")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "inherited@example.test")
    message = "Adopt web: replicas 2 -> 5\n\n# kept, not a comment to strip\n  indented line"
    async with edit_worktree(local.url, "main", work_root, timeout=TIMEOUT) as tree:
        worktree_file(tree, MANIFEST).write_text(EDITED)
        commit = await commit_files(tree, [MANIFEST], message, **AUTHOR, timeout=TIMEOUT)
        await push(tree, "main", timeout=TIMEOUT)

    assert commit is not None
    fields = git("log", "-1", "--format=%an|%ae|%cn|%ce", commit, cwd=local.bare)
    assert fields == "awoooi adopt|adopt@awoooi.test|awoooi adopt|adopt@awoooi.test"
    assert git("log", "-1", "--format=%B", commit, cwd=local.bare) == message


async def test_no_change_commits_and_pushes_nothing(local: Remote, work_root: Path) -> None:
    async with edit_worktree(local.url, "main", work_root, timeout=TIMEOUT) as tree:
        worktree_file(tree, MANIFEST).write_text(SEEDED)  # written back unchanged
        assert await commit_files(tree, [MANIFEST], "noop", **AUTHOR, timeout=TIMEOUT) is None
        await push(tree, "main", timeout=TIMEOUT)
        await push(tree, "awoooi/adopt-0", timeout=TIMEOUT)

    assert local.rev("main") == local.seed
    assert git("rev-list", "--count", "--all", cwd=local.bare) == "1"


async def test_only_the_named_paths_are_staged(local: Remote, work_root: Path) -> None:
    async with edit_worktree(local.url, "main", work_root, timeout=TIMEOUT) as tree:
        worktree_file(tree, MANIFEST).write_text(EDITED)
        (tree.path / "stray.yaml").write_text("kind: Secret\n")
        (tree.path / "deploy/other.yaml").write_text("kind: Changed\n")
        commit = await commit_files(tree, [MANIFEST], "one file", **AUTHOR, timeout=TIMEOUT)
        left = git("status", "--porcelain", cwd=tree.path).splitlines()
        await push(tree, "main", timeout=TIMEOUT)

    assert commit is not None
    assert git("show", "--name-only", "--format=", commit, cwd=local.bare) == MANIFEST
    assert sorted(line.strip() for line in left) == ["?? stray.yaml", "M deploy/other.yaml"]


async def test_new_deleted_and_glob_like_paths_are_taken_literally(
    local: Remote, work_root: Path
) -> None:
    async with edit_worktree(local.url, "main", work_root, timeout=TIMEOUT) as tree:
        worktree_file(tree, "deploy/*.yaml").write_text("kind: Literal\n")
        worktree_file(tree, "deploy/new.yaml").write_text("kind: New\n")
        worktree_file(tree, "deploy/other.yaml").unlink()
        (tree.path / "deploy/ignored-by-glob.yaml").write_text("kind: Stray\n")
        paths = ["deploy/*.yaml", "deploy/new.yaml", "deploy/other.yaml"]
        commit = await commit_files(tree, paths, "three", **AUTHOR, timeout=TIMEOUT)
        await push(tree, "main", timeout=TIMEOUT)

    assert commit is not None
    changes = git("show", "--name-status", "--format=", commit, cwd=local.bare)
    assert sorted(changes.splitlines()) == [
        "A\tdeploy/*.yaml",
        "A\tdeploy/new.yaml",
        "D\tdeploy/other.yaml",
    ]


# -- the remote moved --------------------------------------------------------------------------


async def test_a_concurrent_push_is_rejected_and_the_remote_keeps_it(
    remote: Remote, work_root: Path, tmp_path: Path
) -> None:
    async with edit_worktree(remote.url, "main", work_root, timeout=TIMEOUT) as tree:
        worktree_file(tree, MANIFEST).write_text(EDITED)
        await commit_files(tree, [MANIFEST], "ours", **AUTHOR, timeout=TIMEOUT)
        theirs = push_from_elsewhere(remote, tmp_path, SEEDED + "# theirs\n")
        with pytest.raises(GitPushRejected) as caught:
            await push(tree, "main", timeout=TIMEOUT)

    error = caught.value
    assert isinstance(error, GitError)
    assert (error.status_code, error.code) == (409, "git_push_rejected")
    assert "'main'" in error.detail
    assert "nothing was changed on the remote" in error.detail
    assert "retry" in error.detail
    assert remote.rev("main") == theirs


async def test_a_push_to_a_new_branch_creates_it(remote: Remote, work_root: Path) -> None:
    async with edit_worktree(remote.url, "main", work_root, timeout=TIMEOUT) as tree:
        worktree_file(tree, MANIFEST).write_text(EDITED)
        commit = await commit_files(tree, [MANIFEST], "adopt", **AUTHOR, timeout=TIMEOUT)
        await push(tree, "awoooi/adopt-12", timeout=TIMEOUT)

    assert remote.branches() == ["awoooi/adopt-12", "main"]
    assert remote.rev("awoooi/adopt-12") == commit
    assert remote.rev("main") == remote.seed
    assert git("symbolic-ref", "HEAD", cwd=remote.bare) == "refs/heads/main"


# -- worktree_file -----------------------------------------------------------------------------


@pytest.fixture
async def tree(local: Remote, work_root: Path, tmp_path: Path) -> AsyncIterator[Worktree]:
    """A worktree with a symlink out of it, one to .git, and one to a file inside."""
    async with edit_worktree(local.url, "main", work_root, timeout=TIMEOUT) as made:
        (tmp_path / "outside").mkdir()
        (made.path / "out-file").symlink_to(tmp_path / "outside" / "secret")
        (made.path / "out-dir").symlink_to(tmp_path / "outside")
        (made.path / "to-git").symlink_to(made.path / ".git")
        (made.path / "alias.yaml").symlink_to(made.path / MANIFEST)
        yield made


@pytest.mark.parametrize(
    "relative",
    [
        "../x",
        "deploy/../../x",
        "deploy/../web.yaml",
        "/etc/passwd",
        ".git/config",
        ".GIT/config",
        "to-git/config",
        "out-file",
        "out-dir/x.yaml",
        "",
        ".",
        "a\nb",
    ],
)
def test_worktree_file_refuses_paths_outside_the_tree(tree: Worktree, relative: str) -> None:
    with pytest.raises(GitError, match="refusing path") as caught:
        worktree_file(tree, relative)
    assert caught.value.status_code == 400


def test_worktree_file_accepts_paths_inside(tree: Worktree) -> None:
    assert worktree_file(tree, MANIFEST) == tree.path / MANIFEST
    assert worktree_file(tree, "./deploy/new/x.yaml") == tree.path / "deploy/new/x.yaml"
    # A link inside the tree is followed to the file it names, which is what gets committed.
    assert worktree_file(tree, "alias.yaml") == tree.path / MANIFEST


async def test_commit_files_refuses_a_path_outside_or_a_directory(tree: Worktree) -> None:
    for paths in (["../x"], ["deploy"], []):
        with pytest.raises(GitError) as caught:
            await commit_files(tree, paths, "x", **AUTHOR, timeout=TIMEOUT)
        assert caught.value.status_code == 400
    assert git("status", "--porcelain", "--untracked-files=no", cwd=tree.path) == ""


# -- cleanup, failures, refusals ---------------------------------------------------------------


async def test_the_temporary_directory_is_removed_on_exit(local: Remote, work_root: Path) -> None:
    async with edit_worktree(local.url, "main", work_root, timeout=TIMEOUT) as tree:
        assert exists(tree.path)
    assert not exists(tree.path)
    assert entries(work_root) == []

    async def edit_then_fail() -> None:
        async with edit_worktree(local.url, "main", work_root, timeout=TIMEOUT) as tree:
            (tree.path / "scratch").write_text("x")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await edit_then_fail()
    assert entries(work_root) == []


async def test_an_unknown_branch_or_a_tag_is_refused(local: Remote, work_root: Path) -> None:
    with pytest.raises(GitError, match=r"cannot clone .*branch 'nope'"):
        async with edit_worktree(local.url, "nope", work_root, timeout=TIMEOUT):
            pass
    git("tag", "v1", "main", cwd=local.bare)
    with pytest.raises(GitError, match=r"'v1' .* not a branch") as caught:
        async with edit_worktree(local.url, "v1", work_root, timeout=TIMEOUT):
            pass
    assert caught.value.status_code == 400
    assert entries(work_root) == []


async def test_credentials_never_reach_the_error(work_root: Path) -> None:
    with refusing_port() as port:
        url = f"https://user:s3cret@127.0.0.1:{port}/repo.git"
        with pytest.raises(GitError) as caught:
            async with edit_worktree(url, "main", work_root, timeout=TIMEOUT):
                pass

    error = caught.value
    assert f"127.0.0.1:{port}/repo.git" in error.detail
    for text in (error.detail, str(error), error.stderr, repr(error.args)):
        assert "s3cret" not in text
    assert entries(work_root) == []


def test_the_worktree_repr_hides_the_url(tmp_path: Path) -> None:
    tree = Worktree(tmp_path, "https://user:s3cret@host/repo.git", "main", "0" * 40)
    assert "s3cret" not in repr(tree)


@pytest.mark.parametrize("branch", ["--upload-pack=x", "-b", "main..x", "a b", "x.lock", "HEAD"])
async def test_a_branch_that_is_not_a_name_is_refused(
    local: Remote, work_root: Path, branch: str
) -> None:
    with pytest.raises(GitError, match="refusing branch name") as caught:
        async with edit_worktree(local.url, branch, work_root, timeout=TIMEOUT):
            pass
    assert caught.value.status_code == 400
    assert not exists(work_root)  # refused before anything was created or run

    async with edit_worktree(local.url, "main", work_root, timeout=TIMEOUT) as tree:
        with pytest.raises(GitError, match="refusing branch name"):
            await push(tree, branch, timeout=TIMEOUT)
    assert local.branches() == ["main"]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


async def test_a_timeout_is_a_git_error(silent_port: int, work_root: Path) -> None:
    url = f"http://127.0.0.1:{silent_port}/repo.git"
    with pytest.raises(GitError, match=r"timed out after 0\.5s") as caught:
        async with edit_worktree(url, "main", work_root, timeout=0.5):
            pass
    assert caught.value.timed_out
    assert entries(work_root) == []


async def test_hooks_never_run(
    local: Remote, work_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even hooks the operator's config points at stay off: adopt is not a place for them."""
    hooks, ran = tmp_path / "hooks", tmp_path / "hook-ran"
    hooks.mkdir()
    for name in ("post-checkout", "pre-commit", "commit-msg", "post-commit", "pre-push"):
        hook = hooks / name
        hook.write_text(f"#!/bin/sh\necho {name} >> '{ran}'\nexit 1\n")
        hook.chmod(0o755)
    config = tmp_path / "gitconfig"
    config.write_text(f"[core]\n\thooksPath = {hooks}\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))

    async with edit_worktree(local.url, "main", work_root, timeout=TIMEOUT) as tree:
        worktree_file(tree, MANIFEST).write_text(EDITED)
        commit = await commit_files(tree, [MANIFEST], "adopt", **AUTHOR, timeout=TIMEOUT)
        await push(tree, "main", timeout=TIMEOUT)

    assert not ran.exists()
    assert local.rev("main") == commit

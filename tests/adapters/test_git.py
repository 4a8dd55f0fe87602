"""The git adapter against real repositories: a bare remote, a working clone that pushes."""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from awoooi.adapters.git import GitCheckout, GitError, checkout, display_url, run_git
from tests.helpers.kube_api import refusing_port

# Identity and isolation for the test's own git commands: no global or system config is read
# or written, so a developer's settings (signing, hooks, default branch) cannot interfere.
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


def git(*args: str, cwd: Path) -> str:
    """Run git for the test's own setup; fail loudly."""
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


@dataclass
class Remote:
    """A bare remote and a working clone that commits and pushes to it."""

    bare: Path
    work: Path
    commits: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return str(self.bare)

    def commit(self, label: str, files: dict[str, str], *, push: bool = True) -> str:
        """Write files, commit them and (by default) push `main`; returns the commit id."""
        for name, text in files.items():
            target = self.work / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        git("add", "--all", cwd=self.work)
        git("commit", "--quiet", "-m", label, cwd=self.work)
        sha = git("rev-parse", "HEAD", cwd=self.work)
        self.commits[label] = sha
        if push:
            git("push", "--quiet", "origin", "HEAD:refs/heads/main", cwd=self.work)
        return sha

    def tag(self, name: str, commit: str, *, force: bool = False) -> None:
        """Create (or move) a tag and push it."""
        git("tag", *(["--force"] if force else []), name, commit, cwd=self.work)
        git(
            "push",
            "--quiet",
            *(["--force"] if force else []),
            "origin",
            f"refs/tags/{name}",
            cwd=self.work,
        )


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    """main: c1 (tagged v1) then c2; HEAD of the remote is main."""
    bare, work = tmp_path / "remote.git", tmp_path / "work"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(bare), cwd=tmp_path)
    git("init", "--quiet", "--initial-branch=main", str(work), cwd=tmp_path)
    git("remote", "add", "origin", str(bare), cwd=work)
    repo = Remote(bare, work)
    c1 = repo.commit("c1", {"app/deploy.yaml": "replicas: 1\n", "README": "one\n"})
    repo.tag("v1", c1)
    repo.commit("c2", {"app/deploy.yaml": "replicas: 2\n"})
    return repo


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def read(result: GitCheckout, name: str = "app/deploy.yaml") -> str:
    return (result.path / name).read_text()


def exists(path: Path) -> bool:
    return path.exists()


def names(directory: Path) -> list[str]:
    return sorted(child.name for child in directory.iterdir())


# -- checkout by ref ---------------------------------------------------------------------------


async def test_checkout_a_branch(remote: Remote, cache: Path) -> None:
    result = await checkout(remote.url, "main", cache)

    assert result == GitCheckout(path=result.path, commit=remote.commits["c2"], ref="main")
    assert result.path.parent == cache
    assert len(result.path.name) == 16
    assert read(result) == "replicas: 2\n"
    # Detached: the working tree is at a commit, not on a local branch.
    assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=result.path) == "HEAD"


async def test_checkout_a_tag(remote: Remote, cache: Path) -> None:
    result = await checkout(remote.url, "v1", cache)

    assert (result.commit, result.ref) == (remote.commits["c1"], "v1")
    assert read(result) == "replicas: 1\n"


async def test_checkout_full_refs(remote: Remote, cache: Path) -> None:
    branch = await checkout(remote.url, "refs/heads/main", cache)
    assert branch.commit == remote.commits["c2"]
    tag = await checkout(remote.url, "refs/tags/v1", cache)
    assert tag.commit == remote.commits["c1"]


@pytest.mark.parametrize("length", [40, 12])
async def test_checkout_a_commit(remote: Remote, cache: Path, length: int) -> None:
    sha = remote.commits["c1"][:length]
    result = await checkout(remote.url, sha, cache)

    assert result.commit == remote.commits["c1"]
    assert result.ref == sha
    assert read(result) == "replicas: 1\n"


async def test_checkout_a_commit_no_branch_reaches_by_id(remote: Remote, cache: Path) -> None:
    await checkout(remote.url, "main", cache)
    # A commit pushed only under a ref outside refs/heads and refs/tags (like a review ref).
    hidden = remote.commit("hidden", {"x": "1\n"}, push=False)
    git("push", "--quiet", "origin", "HEAD:refs/review/1", cwd=remote.work)

    result = await checkout(remote.url, hidden, cache)

    assert result.commit == hidden


async def test_checkout_the_remote_head_by_default(remote: Remote, cache: Path) -> None:
    result = await checkout(remote.url, None, cache)

    assert (result.commit, result.ref) == (remote.commits["c2"], "main")
    assert (await checkout(remote.url, "HEAD", cache)).commit == remote.commits["c2"]


async def test_default_follows_a_changed_remote_head(remote: Remote, cache: Path) -> None:
    await checkout(remote.url, None, cache)
    git("push", "--quiet", "origin", f"{remote.commits['c1']}:refs/heads/release", cwd=remote.work)
    git("symbolic-ref", "HEAD", "refs/heads/release", cwd=remote.bare)

    result = await checkout(remote.url, None, cache)

    assert (result.commit, result.ref) == (remote.commits["c1"], "release")


async def test_a_file_url_works(remote: Remote, cache: Path) -> None:
    result = await checkout(remote.bare.as_uri(), "v1", cache)

    assert result.commit == remote.commits["c1"]


# -- the cache ---------------------------------------------------------------------------------


async def test_a_second_checkout_fetches_new_commits(remote: Remote, cache: Path) -> None:
    first = await checkout(remote.url, "main", cache)
    c3 = remote.commit("c3", {"app/deploy.yaml": "replicas: 3\n", "new.yaml": "x: 1\n"})

    second = await checkout(remote.url, "main", cache)

    assert first.path == second.path
    assert (first.commit, second.commit) == (remote.commits["c2"], c3)
    assert read(second) == "replicas: 3\n"
    assert read(second, "new.yaml") == "x: 1\n"


async def test_a_moved_tag_and_a_deleted_branch_follow_the_remote(
    remote: Remote, cache: Path
) -> None:
    git("push", "--quiet", "origin", f"{remote.commits['c1']}:refs/heads/old", cwd=remote.work)
    assert (await checkout(remote.url, "old", cache)).commit == remote.commits["c1"]
    assert (await checkout(remote.url, "v1", cache)).commit == remote.commits["c1"]
    remote.tag("v1", remote.commits["c2"], force=True)
    git("push", "--quiet", "origin", "--delete", "old", cwd=remote.work)

    assert (await checkout(remote.url, "v1", cache)).commit == remote.commits["c2"]
    with pytest.raises(GitError, match="unknown ref 'old'"):
        await checkout(remote.url, "old", cache)


async def test_the_checkout_is_clean_after_local_edits(remote: Remote, cache: Path) -> None:
    first = await checkout(remote.url, "main", cache)
    (first.path / "app/deploy.yaml").write_text("tampered\n")
    (first.path / "stray.yaml").write_text("kind: Secret\n")

    second = await checkout(remote.url, "main", cache)

    assert read(second) == "replicas: 2\n"
    assert not (second.path / "stray.yaml").exists()


async def test_a_broken_cache_entry_is_cloned_again(remote: Remote, cache: Path) -> None:
    first = await checkout(remote.url, "main", cache)
    shutil.rmtree(first.path)
    first.path.mkdir()
    (first.path / "junk").write_text("not a repository\n")

    second = await checkout(remote.url, "v1", cache)

    assert second.path == first.path
    assert second.commit == remote.commits["c1"]
    assert not (second.path / "junk").exists()


async def test_concurrent_checkouts_of_one_url_both_succeed(remote: Remote, cache: Path) -> None:
    results = await asyncio.gather(
        checkout(remote.url, "main", cache),
        checkout(remote.url, "main", cache),
        checkout(remote.url, "v1", cache),
    )

    assert [r.commit for r in results] == [
        remote.commits["c2"],
        remote.commits["c2"],
        remote.commits["c1"],
    ]
    assert len({r.path for r in results}) == 1
    # One clone, no staging directories left behind.
    assert names(cache) == sorted([results[0].path.name, results[0].path.name + ".lock"])
    assert git("fsck", "--no-progress", cwd=results[0].path) == ""


def test_concurrent_checkouts_from_two_processes(remote: Remote, cache: Path) -> None:
    """Two processes (two API replicas) share the cache directory: the flock serialises them."""
    script = (
        "import asyncio, sys; from pathlib import Path; "
        "from awoooi.adapters.git import checkout; "
        "r = asyncio.run(checkout(sys.argv[1], sys.argv[2], Path(sys.argv[3]))); print(r.commit)"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, remote.url, ref, str(cache)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for ref in ("main", "v1", "main", "v1")
    ]
    outputs = [proc.communicate(timeout=60) for proc in procs]

    assert [p.returncode for p in procs] == [0, 0, 0, 0], [err for _, err in outputs]
    assert [out.strip() for out, _ in outputs] == [
        remote.commits["c2"],
        remote.commits["c1"],
        remote.commits["c2"],
        remote.commits["c1"],
    ]


async def test_waiting_for_a_held_lock_counts_against_the_timeout(
    remote: Remote, cache: Path
) -> None:
    first = await checkout(remote.url, "main", cache)
    lock_file = first.path.with_name(first.path.name + ".lock")
    with lock_file.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another process in the middle of a checkout
        with pytest.raises(GitError, match="waiting for another checkout") as caught:
            await checkout(remote.url, "main", cache, timeout=0.3)
    assert caught.value.timed_out

    assert (await checkout(remote.url, "v1", cache)).commit == remote.commits["c1"]


# -- refused before git runs -------------------------------------------------------------------


@pytest.fixture
def git_spy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `git` first on PATH that only records that it ran; returns the record file."""
    bin_dir, record = tmp_path / "spy-bin", tmp_path / "git-ran"
    bin_dir.mkdir()
    spy = bin_dir / "git"
    spy.write_text(f"#!/bin/sh\necho \"$@\" >> '{record}'\nexit 1\n")
    spy.chmod(spy.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return record


@pytest.mark.parametrize(
    "ref",
    ["--upload-pack=touch /tmp/pwned", "-b", "main..v1", "main@{1}", "v1^", "a b", "x:y", ""],
)
async def test_a_ref_that_is_not_a_name_is_refused_before_git_runs(
    remote: Remote, cache: Path, git_spy: Path, ref: str
) -> None:
    with pytest.raises(GitError, match="refusing git ref"):
        await checkout(remote.url, ref, cache)

    assert not exists(git_spy)
    assert not exists(cache)


@pytest.mark.parametrize(
    "url",
    [
        "--upload-pack=touch /tmp/pwned",
        "-oProxyCommand=touch /tmp/pwned",
        "ext::sh -c touch% /tmp/pwned",
        "ftp://example.com/x.git",
        "ssh://-oProxyCommand=touch%20pwned/x.git",
        "ssh://git@-oProxyCommand=touch%20pwned/x.git",
        "git@-oProxyCommand=x:org/x.git",
        "relative/path/that/does/not/exist",
        "https://example.com/x.git\nfoo",
        "",
    ],
)
async def test_a_url_that_is_not_a_repository_url_is_refused(
    cache: Path, git_spy: Path, url: str
) -> None:
    with pytest.raises(GitError, match="refusing git URL"):
        await checkout(url, "main", cache)

    assert not exists(git_spy)


# -- failures ----------------------------------------------------------------------------------


async def test_an_unknown_ref_is_git_error(remote: Remote, cache: Path) -> None:
    with pytest.raises(GitError, match="unknown ref 'nope'") as caught:
        await checkout(remote.url, "nope", cache)
    assert caught.value.status_code == 502
    assert caught.value.code == "git_error"
    with pytest.raises(GitError, match="unknown ref"):
        await checkout(remote.url, "0" * 40, cache)


async def test_an_unreachable_file_url_names_it(cache: Path) -> None:
    with pytest.raises(GitError) as caught:
        await checkout("file:///nonexistent", "main", cache)

    message = str(caught.value)
    assert "file:///nonexistent" in message
    assert "does not appear to be a git repository" in message or "not found" in message


async def test_a_refused_http_port_names_the_url(cache: Path) -> None:
    with refusing_port() as port:
        url = f"http://127.0.0.1:{port}/x.git"
        with pytest.raises(GitError) as caught:
            await checkout(url, "main", cache, timeout=30)

    assert url in str(caught.value)
    assert "Failed to connect" in str(caught.value) or "Connection refused" in str(caught.value)


async def test_credentials_in_the_url_never_reach_the_message(cache: Path) -> None:
    with refusing_port() as port:
        url = f"https://user:secret@127.0.0.1:{port}/x.git"
        with pytest.raises(GitError) as caught:
            await checkout(url, "main", cache, timeout=30)

    message = str(caught.value)
    assert "secret" not in message
    assert "secret" not in caught.value.detail
    assert f"127.0.0.1:{port}/x.git" in message


def test_display_url_hides_passwords_and_tokens() -> None:
    assert display_url("https://user:secret@host/x.git") == "https://user:[REDACTED]@host/x.git"
    assert display_url("https://ghp_token123@host/x.git") == "https://[REDACTED]@host/x.git"
    assert display_url("ssh://git@host/x.git") == "ssh://git@host/x.git"
    assert display_url("git@host:org/x.git") == "git@host:org/x.git"


class _AuthRequired(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="git"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


async def test_a_password_prompt_fails_at_once_instead_of_waiting(cache: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AuthRequired)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/x.git"
        started = time.monotonic()
        with pytest.raises(GitError) as caught:
            await checkout(url, "main", cache, timeout=30)
        elapsed = time.monotonic() - started
    finally:
        server.shutdown()
        server.server_close()

    assert elapsed < 10
    assert "timed out" not in str(caught.value)
    assert url in str(caught.value)


@pytest.fixture
def silent_server() -> Iterator[tuple[int, threading.Event]]:
    """A TCP server that accepts, reads, and never answers; the event is set when a client
    closes its connection."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.05)
    closed, stop = threading.Event(), threading.Event()

    def drain(conn: socket.socket) -> None:
        with conn:
            while not stop.is_set():
                try:
                    if not conn.recv(65536):
                        closed.set()
                        return
                except TimeoutError:
                    continue
                except OSError:
                    closed.set()
                    return

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(0.05)
            threading.Thread(target=drain, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], closed
    finally:
        stop.set()
        thread.join(5)
        listener.close()


async def test_a_server_that_never_answers_times_out_and_git_is_killed(
    cache: Path, silent_server: tuple[int, threading.Event]
) -> None:
    port, closed = silent_server
    started = time.monotonic()
    with pytest.raises(GitError, match="timed out after 1s"):
        await checkout(f"http://127.0.0.1:{port}/x.git", "main", cache, timeout=1)

    assert time.monotonic() - started < 5
    # git's HTTP helper (a child of git) is gone too: its connection was closed.
    assert await asyncio.to_thread(closed.wait, 5)
    assert not any(name.startswith(".") for name in names(cache))  # no staging left


# -- run_git -----------------------------------------------------------------------------------


async def test_run_git_returns_stdout(remote: Remote) -> None:
    assert (await run_git(["rev-parse", "HEAD"], cwd=remote.work)).strip() == remote.commits["c2"]
    assert (await run_git(["--version"])).startswith("git version")


async def test_run_git_failure_carries_the_stderr_tail(tmp_path: Path) -> None:
    with pytest.raises(GitError, match=r"git rev-parse failed \(exit 128\): fatal: not a git") as c:
        await run_git(["rev-parse", "HEAD"], cwd=tmp_path)
    assert c.value.returncode == 128


async def test_run_git_environment_is_non_interactive_and_english(tmp_path: Path) -> None:
    # A "!" alias runs a program with git's environment: print it.
    out = await run_git(
        ["-c", "alias.showenv=!env", "showenv"],
        cwd=tmp_path,
        env={"LANG": "de_DE.UTF-8", "EXTRA_FOR_TEST": "1"},
    )
    env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert env["GIT_ASKPASS"] == ""
    assert env["LC_ALL"] == "C"
    assert env["EXTRA_FOR_TEST"] == "1"
    assert env["PATH"].endswith(os.environ["PATH"])  # git puts its exec-path first


async def test_run_git_cancelled_kills_git(silent_server: tuple[int, threading.Event]) -> None:
    port, closed = silent_server
    task = asyncio.create_task(run_git(["ls-remote", f"http://127.0.0.1:{port}/x.git"]))
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(closed.wait, 5)

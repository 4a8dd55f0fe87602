"""Git, through the git CLI: the only module that runs git (argument lists, never a shell)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import signal
import tempfile
import weakref
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from awoooi.core.errors import AwoooiError
from awoooi.core.redact import redact

# How much of git's stderr an error message keeps (the reason is in the last lines).
_STDERR_TAIL_CHARS = 2000
_STDERR_TAIL_LINES = 20
_LOCK_POLL_SECONDS = 0.05

# No part of the user@host:port authority may start with "-": ssh would read it as an option
# (CVE-2017-1000117; git refuses it too, this refuses it before git runs).
_SCHEME_URL = re.compile(r"(?i)(?:https?|ssh|file)://(?P<authority>[^/\s]*)(?:/\S*)?")
_DASH_PART = re.compile(r"(?:^|[@:])-")
# scp-like syntax (`git@host:path`): git reads it as ssh when a colon comes before any slash.
_SCP_URL = re.compile(r"(?!-)[A-Za-z0-9._~-]+@(?!-)[A-Za-z0-9.-]+:(?!/{2})\S+")
_HEX_COMMIT = re.compile(r"[0-9a-fA-F]{4,40}")
_FULL_COMMIT = re.compile(r"[0-9a-f]{40}")
# What git check-ref-format forbids anywhere in a ref (plus whitespace and control characters),
# and revision syntax (`@{`, `..`) that would make a "ref" an expression.
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_DEFAULT_REMOTE_HEAD = "refs/remotes/origin/HEAD"


class GitError(AwoooiError):
    """A git command failed, timed out, or was refused before it ran."""

    status_code = 502
    code = "git_error"

    def __init__(
        self,
        message: str,
        *,
        returncode: int | None = None,
        stderr: str = "",
        timed_out: bool = False,
    ) -> None:
        super().__init__(message)
        self.returncode = returncode  # None: git did not finish (refused, timed out)
        self.stderr = stderr  # the redacted tail of git's stderr
        self.timed_out = timed_out


@dataclass(frozen=True)
class GitCheckout:
    """A working tree at one commit: where it is, which commit, which ref asked for it."""

    path: Path
    commit: str
    ref: str


def _git_env(extra: Mapping[str, str] | None) -> dict[str, str]:
    """The caller's environment, made non-interactive and with stable (English) messages."""
    env = dict(os.environ)
    env.update(
        {
            # Never wait for a password on a terminal nobody watches.
            "GIT_TERMINAL_PROMPT": "0",
            # Set but empty: git then skips core.askPass and SSH_ASKPASS and runs no helper.
            "GIT_ASKPASS": "",
            "SSH_ASKPASS": "",
            "SSH_ASKPASS_REQUIRE": "never",
            "LC_ALL": "C",
            "LANGUAGE": "C",
        }
    )
    if extra:
        env.update(extra)
    return env


def _stderr_tail(raw: bytes) -> str:
    """The last lines of git's stderr, redacted (URLs in it may carry credentials)."""
    text = raw.decode("utf-8", "replace").strip()
    lines = text.splitlines()[-_STDERR_TAIL_LINES:]
    return redact("\n".join(lines)[-_STDERR_TAIL_CHARS:])


def _kill(process: asyncio.subprocess.Process) -> None:
    """Kill git and whatever it started (remote helpers, ssh): they share its session."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()


async def run_git(
    args: list[str],
    *,
    cwd: Path | None = None,
    timeout: float = 120.0,  # noqa: ASYNC109 - it also kills git, which asyncio.timeout cannot
    env: dict[str, str] | None = None,
) -> str:
    """Run `git <args>` (no shell) and return its stdout; GitError on failure or timeout."""
    if not args:
        raise GitError("git: no command given")
    command = f"git {args[0]}"
    try:
        process = await asyncio.create_subprocess_exec(
            "git",
            *args,
            cwd=cwd,
            env=_git_env(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            # A session of its own: no controlling terminal (ssh cannot prompt either), and
            # one killpg stops git's helpers on timeout.
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise GitError("git is not installed (no `git` on PATH)") from exc
    except OSError as exc:
        raise GitError(f"{command}: cannot start git: {exc}") from exc
    try:
        async with asyncio.timeout(timeout):
            stdout, stderr = await process.communicate()
    except TimeoutError:
        _kill(process)
        await process.wait()
        raise GitError(f"{command} timed out after {timeout:g}s", timed_out=True) from None
    except BaseException:  # cancelled: the process must not outlive its caller
        _kill(process)
        with contextlib.suppress(BaseException):
            await asyncio.shield(process.wait())
        raise
    if process.returncode != 0:
        tail = _stderr_tail(stderr)
        raise GitError(
            f"{command} failed (exit {process.returncode})" + (f": {tail}" if tail else ""),
            returncode=process.returncode,
            stderr=tail,
        )
    return stdout.decode("utf-8", "replace")


# -- checkout ----------------------------------------------------------------------------------


def display_url(url: str) -> str:
    """The URL with any password (or a token used as the user name) replaced, for messages."""
    match = re.match(r"(?i)(https?|ssh|file)://([^/@]*)@", url)
    if match is None:
        return url
    scheme, userinfo = match.group(1).lower(), match.group(2)
    user, has_password, _ = userinfo.partition(":")
    if has_password:
        shown = f"{user}:[REDACTED]"
    elif scheme.startswith("http"):
        shown = "[REDACTED]"  # https://<token>@host is how many forges take a token
    else:
        shown = user
    return f"{url[: match.start(2)]}{shown}{url[match.end(2) :]}"


def _secrets_in(url: str) -> list[str]:
    """The credentials written into a URL (as written and percent-decoded)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found = [parts.password] if parts.password else []
    if parts.scheme.lower().startswith("http") and parts.username and not parts.password:
        found.append(parts.username)
    # Short strings would match innocent text; git's own output never needs them hidden.
    return [s for value in found for s in {value, unquote(value)} if len(s) >= 3]


def _scrub(text: str, url: str) -> str:
    """`text` redacted, and the URL's own credentials removed even where redact misses them."""
    for secret in _secrets_in(url):
        text = text.replace(secret, "[REDACTED]")
    return redact(text)


def _normalize_url(url: str) -> str:
    """A URL git will read as a URL (never as an option), or GitError."""
    if not url or url.startswith("-") or _CONTROL.search(url):
        raise GitError(f"refusing git URL {display_url(url)!r}: not a repository URL")
    scheme_url = _SCHEME_URL.fullmatch(url)
    if scheme_url is not None and not _DASH_PART.search(scheme_url["authority"]):
        return url
    if scheme_url is None and _SCP_URL.fullmatch(url):
        return url
    path = Path(url).expanduser()
    if path.is_dir():
        # Absolute, so git never mistakes a local "a:b" for the scp-like ssh syntax.
        return str(path.resolve())
    raise GitError(
        f"refusing git URL {display_url(url)!r}: use https://, http://, ssh://, file://, "
        "user@host:path or an existing local directory"
    )


def _cache_key(url: str) -> str:
    """The cache directory name: the URL's hash without credentials, so a rotated token keeps
    using the same clone."""
    match = re.match(r"(?i)(?:https?|ssh|file)://([^/@]*)@", url)
    if match is not None and ":" in match.group(1):
        user = match.group(1).partition(":")[0]
        url = f"{url[: match.start(1)]}{user}{url[match.end(1) :]}"
    elif match is not None and url.lower().startswith("http"):
        url = url[: match.start(1)] + url[match.end(0) :]
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


def _cache_path(cache_dir: Path, url: str) -> Path:
    """Where the clone of `url` lives (the cache directory is created if missing)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    return cache_dir / _cache_key(url)


def _exists(path: Path) -> bool:
    return path.exists()


def _same_directory(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def _check_ref(ref: str) -> None:
    """Refuse a ref git could read as an option or a revision expression."""
    if not ref or ref.startswith("-") or _REF_FORBIDDEN.search(ref) or ref.endswith(("/", ".")):
        raise GitError(f"refusing git ref {ref!r}: not a branch, tag or commit name")


# One asyncio.Lock per (event loop, checkout path) while somebody uses it; the flock below
# excludes other processes (API replicas, workers, the CLI) sharing the cache directory.
_LOCKS: weakref.WeakValueDictionary[tuple[asyncio.AbstractEventLoop, Path], asyncio.Lock] = (
    weakref.WeakValueDictionary()
)


async def _flock(descriptor: int) -> None:
    """Take an exclusive flock, polling so the event loop (and cancellation) go on."""
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            await asyncio.sleep(_LOCK_POLL_SECONDS)


@contextlib.asynccontextmanager
async def _exclusive(path: Path, deadline: _Deadline, shown: str) -> AsyncIterator[None]:
    """Be the only checkout of `path`, in this process and in any other sharing the cache."""
    key = (asyncio.get_running_loop(), path)
    lock = _LOCKS.get(key)
    if lock is None:
        lock = _LOCKS[key] = asyncio.Lock()
    descriptor = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            async with asyncio.timeout(deadline.left(f"checkout of {shown}")):
                await lock.acquire()
                try:
                    await _flock(descriptor)
                except BaseException:
                    lock.release()
                    raise
        except TimeoutError:
            raise GitError(
                f"checkout of {shown} timed out after {deadline.timeout:g}s "
                "waiting for another checkout of the same repository",
                timed_out=True,
            ) from None
        try:
            yield
        finally:
            lock.release()
    finally:
        os.close(descriptor)  # closing the descriptor releases the flock


class _Deadline:
    """One time budget shared by the several git commands of a checkout."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._end = asyncio.get_running_loop().time() + timeout

    def left(self, what: str) -> float:
        """Seconds left; GitError once the budget is spent."""
        remaining = self._end - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise GitError(f"{what} timed out after {self.timeout:g}s", timed_out=True)
        return remaining


class _Git(Protocol):
    """Runs git in the clone and explains a failure with `what` (credentials scrubbed)."""

    async def __call__(self, args: list[str], what: str, cwd: Path | None = ...) -> str: ...


async def checkout(
    url: str,
    ref: str | None,
    cache_dir: Path,
    *,
    timeout: float = 120.0,  # noqa: ASYNC109 - one budget for several commands and the lock
) -> GitCheckout:
    """Clone or fetch `url` into `cache_dir` and check out `ref` (a branch, tag or commit;
    default the remote's HEAD) detached; `timeout` bounds the whole operation."""
    url = _normalize_url(url)
    if ref is not None:
        _check_ref(ref)
    if ref == "HEAD":
        ref = None
    shown = display_url(url)
    deadline = _Deadline(timeout)
    path = _cache_path(cache_dir, url)
    async with _exclusive(path, deadline, shown):
        return await _checkout_locked(url, ref, path, deadline)


async def _checkout_locked(
    url: str, ref: str | None, path: Path, deadline: _Deadline
) -> GitCheckout:
    shown = display_url(url)

    async def git(args: list[str], what: str, cwd: Path | None = path) -> str:
        try:
            return await run_git(args, cwd=cwd, timeout=deadline.left(what))
        except GitError as exc:
            if exc.timed_out:  # the budget is the caller's timeout, not what was left of it
                reason = f"git {args[0]} timed out after {deadline.timeout:g}s"
            else:
                reason = _scrub(exc.stderr or str(exc), url)
            raise GitError(
                f"{what}: {reason}", returncode=exc.returncode, timed_out=exc.timed_out
            ) from None

    if await _usable_clone(path, deadline):
        # The URL's credentials may have changed since the clone (same cache key).
        await git(["remote", "set-url", "origin", "--", url], f"git remote set-url for {shown}")
        # --force: a tag moved on the remote replaces ours instead of failing the fetch.
        # --prune-tags: the cache mirrors the remote, so a deleted tag is gone here too.
        await git(
            ["fetch", "--quiet", "--prune", "--prune-tags", "--force", "--tags", "origin"],
            f"cannot fetch {shown}",
        )
        if ref is None:
            # The remote's default branch may have changed since the clone; if the remote
            # cannot say (HEAD detached or missing), the clone's idea of it stands.
            with contextlib.suppress(GitError):
                await git(["remote", "set-head", "origin", "--auto"], "git remote set-head")
    else:
        await _clone(url, path, git)

    if ref is None:
        commit, name = await _remote_head(shown, git)
    else:
        commit, name = await _resolve(ref, shown, git), ref
    await git(["checkout", "--quiet", "--force", "--detach", commit], f"cannot check out {name}")
    # Files left by anyone else in the cache would otherwise look like desired state.
    await git(["clean", "-ffdxq"], f"cannot clean the checkout of {shown}")
    head = (await git(["rev-parse", "--verify", "HEAD"], f"cannot read HEAD in {path}")).strip()
    if not _FULL_COMMIT.fullmatch(head):
        raise GitError(f"git rev-parse HEAD in {path} answered {head!r}, not a commit id")
    return GitCheckout(path=path, commit=head, ref=name)


async def _usable_clone(path: Path, deadline: _Deadline) -> bool:
    """True when `path` holds a clone to fetch into; a broken leftover is removed."""
    if not _exists(path):
        return False
    try:
        top = await run_git(
            ["rev-parse", "--show-toplevel"], cwd=path, timeout=deadline.left("git rev-parse")
        )
        if _same_directory(Path(top.strip()), path):
            return True
    except GitError:
        pass
    # Not ours or half-written (clones are renamed into place, so only by hand): start over.
    await asyncio.to_thread(shutil.rmtree, path, ignore_errors=True)
    return False


async def _clone(url: str, path: Path, git: _Git) -> None:
    """Clone into a temporary directory beside `path`, then rename it into place, so a clone
    killed half-way never leaves a broken cache entry."""
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        await git(
            ["clone", "--quiet", "--no-checkout", "--", url, str(staging / "repo")],
            f"cannot clone {display_url(url)}",
            cwd=path.parent,
        )
        os.replace(staging / "repo", path)
    finally:
        await asyncio.to_thread(shutil.rmtree, staging, ignore_errors=True)


async def _remote_head(shown: str, git: _Git) -> tuple[str, str]:
    """The commit of the remote's HEAD and the branch it names ("HEAD" when detached)."""
    commit = await _rev_parse(_DEFAULT_REMOTE_HEAD, git)
    if commit is None:
        raise GitError(f"{shown} has no HEAD to check out (an empty repository?)")
    try:
        target = await git(
            ["symbolic-ref", "--quiet", "--short", _DEFAULT_REMOTE_HEAD], "symbolic-ref"
        )
        name = target.strip().removeprefix("origin/") or "HEAD"
    except GitError:
        name = "HEAD"
    return commit, name


async def _resolve(ref: str, shown: str, git: _Git) -> str:
    """The commit a branch (preferred), tag or commit id names, or GitError."""
    candidates: list[str] = []
    if ref.startswith("refs/heads/"):
        candidates.append("refs/remotes/origin/" + ref.removeprefix("refs/heads/"))
    elif ref.startswith("refs/tags/"):
        candidates.append(ref)
    else:
        candidates += [f"refs/remotes/origin/{ref}", f"refs/tags/{ref}"]
    is_commit = _HEX_COMMIT.fullmatch(ref) is not None
    if is_commit:
        candidates.append(ref.lower())
    for candidate in candidates:
        commit = await _rev_parse(candidate, git)
        if commit is not None:
            return commit
    if is_commit and len(ref) == 40:
        # A commit no branch or tag reaches (yet): ask for it by id, which many servers allow.
        try:
            await git(["fetch", "--quiet", "origin", ref.lower()], f"cannot fetch {ref}")
        except GitError as exc:
            if exc.timed_out:
                raise
        else:
            commit = await _rev_parse(ref.lower(), git)
            if commit is not None:
                return commit
    raise GitError(f"unknown ref {ref!r} in {shown}: not a branch, tag or commit there")


async def _rev_parse(revision: str, git: _Git) -> str | None:
    """The commit `revision` names in the clone, or None."""
    try:
        out = await git(["rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"], "rev-parse")
    except GitError as exc:
        if exc.returncode is None:  # timed out, or git could not start: not "unknown ref"
            raise
        return None
    commit = out.strip()
    return commit if _FULL_COMMIT.fullmatch(commit) else None

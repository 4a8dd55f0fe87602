"""Git, through the git CLI: the only module that runs git (argument lists, never a shell)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Protocol
from urllib.parse import unquote, urlsplit

from awoooi.adapters.process import ProcessError, run_process
from awoooi.core.filelock import file_lock
from awoooi.core.private_files import private_directory
from awoooi.core.redact import redact

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

# Variables that would point git at another repository, index or object store than the one in
# cwd (set, for instance, when awoooi runs under a git hook).
_REPOSITORY_ENV = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_SHALLOW_FILE",
    "GIT_GRAFT_FILE",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_PREFIX",
)


class GitError(ProcessError):
    """A git command failed, timed out, or was refused before it ran."""

    status_code = 502
    code = "git_error"


@dataclass(frozen=True)
class GitCheckout:
    """A working tree at one commit: where it is, which commit, which ref asked for it."""

    path: Path
    commit: str
    ref: str


def _git_env(extra: Mapping[str, str] | None) -> dict[str, str]:
    """The caller's environment, made non-interactive and with stable (English) messages."""
    env = dict(os.environ)
    for name in _REPOSITORY_ENV:
        env.pop(name, None)
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
    stdout = await run_process(
        ["git", *args],
        label=f"git {args[0]}",
        timeout=timeout,
        cwd=cwd,
        env=_git_env(env),
        error=GitError,
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
    private_directory(cache_dir)  # a clone's config holds its URL, credentials included
    return cache_dir / _cache_key(url)


def _exists(path: Path) -> bool:
    return path.exists()


def _same_directory(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def _check_ref(ref: str) -> None:
    """Refuse a ref git could read as an option or a revision expression."""
    if not ref or ref.startswith("-") or _REF_FORBIDDEN.search(ref) or ref.endswith(("/", ".")):
        raise GitError(f"refusing git ref {ref!r}: not a branch, tag or commit name")


@contextlib.asynccontextmanager
async def _exclusive(path: Path, deadline: _Deadline, shown: str) -> AsyncIterator[None]:
    """Be the only checkout of `path`, in this process and in any other sharing the cache."""
    async with contextlib.AsyncExitStack() as held:
        try:
            await held.enter_async_context(
                file_lock(
                    path.with_name(path.name + ".lock"),
                    timeout=deadline.left(f"checkout of {shown}"),
                )
            )
        except TimeoutError:
            raise GitError(
                f"checkout of {shown} timed out after {deadline.timeout:g}s "
                "waiting for another checkout of the same repository",
                timed_out=True,
            ) from None
        yield


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


# -- edit (adopt into Git) ---------------------------------------------------------------------

# Every command in an edit worktree runs with these: no hook runs (not even one the operator's
# config points at), and no filesystem-monitor daemon is left in a directory about to be deleted.
_EDIT_CONFIG = {"core.hooksPath": "/dev/null", "core.fsmonitor": "false"}
# An edit needs the tip; a push needs only that the remote has the base, which it does.
_EDIT_CLONE_DEPTH = "50"
# How git words a push refused because the remote branch has commits the push does not.
# A push that lost a race: refused before sending (fetch first / non-fast-forward), or refused
# at the ref update because another push moved the branch meanwhile (the lock's old value).
_PUSH_RACE = re.compile(
    r"\[rejected\][^\n]*\((?:fetch first|non-fast-forward)\)"
    r"|cannot lock ref [^\n]*but expected|incorrect old value provided"
)
_IDENTITY_FORBIDDEN = re.compile(r"[<>\x00-\x1f\x7f]")


class GitPushRejected(GitError):
    """The remote refused the push (someone pushed first); nothing was changed there."""

    status_code = 409
    code = "git_push_rejected"


class GitInputRefused(GitError):
    """A branch name, path, message or identity refused before git ran."""

    status_code = 400
    code = "git_input_refused"


@dataclass(frozen=True)
class Worktree:
    """A fresh clone private to one edit, on a branch, at the commit the edit starts from."""

    path: Path
    url: str = field(repr=False)  # it may carry credentials
    branch: str
    base_commit: str


def _edit_git(
    url: str,
    deadline: _Deadline,
    cwd: Path | None,
    *,
    config: Mapping[str, str] | None = None,
    env: dict[str, str] | None = None,
) -> _Git:
    """A runner for edit commands: hooks off, one time budget, failures with no credentials."""
    options = [
        arg
        for key, value in {**_EDIT_CONFIG, **(config or {})}.items()
        for arg in ("-c", f"{key}={value}")
    ]

    async def git(args: list[str], what: str, cwd: Path | None = cwd) -> str:
        try:
            return await run_git([*options, *args], cwd=cwd, timeout=deadline.left(what), env=env)
        except GitError as exc:
            stderr = _scrub(exc.stderr, url)
            if exc.timed_out:  # the budget is the caller's timeout, not what was left of it
                reason = f"git {args[0]} timed out after {deadline.timeout:g}s"
            else:
                reason = stderr or f"git {args[0]} failed (exit {exc.returncode})"
            raise GitError(
                f"{what}: {reason}",
                returncode=exc.returncode,
                stderr=stderr,
                timed_out=exc.timed_out,
            ) from None

    return git


async def _branch_name(name: str, git: _Git) -> str:
    """`name` as a plain branch name (a leading refs/heads/ dropped), or GitInputRefused."""
    short = name.removeprefix("refs/heads/")
    refused = GitInputRefused(f"refusing branch name {name!r}: not a valid branch name")
    try:
        _check_ref(short)  # first, so nothing that looks like an option reaches git
    except GitError:
        raise refused from None
    if short == "HEAD" or short.startswith("refs/"):
        raise refused
    try:
        # git's own rules too (no ".lock" suffix, no component starting with ".", ...).
        await git(["check-ref-format", "--branch", short], f"cannot check branch {short!r}")
    except GitError as exc:
        if exc.returncode is None:
            raise
        raise refused from None
    return short


@contextlib.asynccontextmanager
async def edit_worktree(
    url: str,
    branch: str | None,
    work_root: Path,
    *,
    timeout: float,  # noqa: ASYNC109 - one budget for the clone and the checks after it
) -> AsyncIterator[Worktree]:
    """A fresh clone of `branch` (default: the remote's HEAD branch) in a temporary directory
    under work_root, removed on exit."""
    url = _normalize_url(url)
    deadline = _Deadline(timeout)
    if branch is not None:
        branch = await _branch_name(branch, _edit_git(url, deadline, None))
    scratch = _scratch_directory(work_root)
    try:
        yield await _clone_for_edit(url, branch, scratch / "repo", deadline)
    finally:
        # Shielded: a second cancellation must not leave a half-deleted clone behind.
        await asyncio.shield(asyncio.to_thread(shutil.rmtree, scratch, ignore_errors=True))


def _scratch_directory(work_root: Path) -> Path:
    """A new private directory under work_root (created if missing), symlinks resolved."""
    private_directory(work_root)
    # mkdtemp makes it 0700: the clone's config holds the URL, credentials included.
    return Path(tempfile.mkdtemp(prefix="edit-", dir=work_root)).resolve()


async def _clone_for_edit(
    url: str, branch: str | None, path: Path, deadline: _Deadline
) -> Worktree:
    """Clone one branch of `url` into `path` and say where the edit starts."""
    shown = display_url(url)
    git = _edit_git(url, deadline, path)
    # --template=: no hook or other file from a template directory enters the clone.
    # No tags, one branch: the push must never carry anything but the edit.
    # A local directory is always cloned whole (git ignores --depth there, with a warning).
    depth = [] if Path(url).is_absolute() else ["--depth", _EDIT_CLONE_DEPTH]
    await git(
        [
            "clone",
            "--quiet",
            "--template=",
            "--no-tags",
            "--single-branch",
            *depth,
            *(["--branch", branch] if branch else []),
            "--",
            url,
            str(path),
        ],
        f"cannot clone {shown}" + (f" (branch {branch!r})" if branch else ""),
        cwd=path.parent,
    )
    base = await _rev_parse("HEAD", git)
    if base is None:
        raise GitError(f"{shown} has no commit to edit (an empty repository?)")
    try:
        out = await git(["symbolic-ref", "--quiet", "--short", "HEAD"], "git symbolic-ref")
        checked_out = out.strip()
    except GitError as exc:
        if exc.returncode is None:
            raise
        checked_out = ""  # detached: `branch` named a tag, or the remote's HEAD is detached
    if not checked_out or (branch is not None and checked_out != branch):
        what = f"{branch!r} in {shown} is" if branch else f"the HEAD of {shown} names"
        raise GitInputRefused(f"cannot edit: {what} not a branch; name the branch to edit")
    return Worktree(path=path, url=url, branch=checked_out, base_commit=base)


def worktree_file(worktree: Worktree, relative: str) -> Path:
    """The file's path inside the worktree; GitError (status 400) when `relative` is absolute,
    has `..` escaping, or resolves (symlinks) outside the worktree, or points into .git."""

    def refused(why: str) -> GitInputRefused:
        return GitInputRefused(f"refusing path {relative!r} in the Git worktree: {why}")

    name = PurePosixPath(relative)
    if not relative or _CONTROL.search(relative) or not name.parts:
        raise refused("not a file name")
    if name.is_absolute():
        raise refused("an absolute path")
    if ".." in name.parts:
        raise refused("`..` is not allowed")
    root = worktree.path.resolve()
    try:
        target = (root / name).resolve()
    except (OSError, RuntimeError):  # a symlink loop
        raise refused("it cannot be resolved") from None
    if target == root or not target.is_relative_to(root):
        raise refused("it resolves outside the worktree")
    # Case-folded: on a case-insensitive filesystem .GIT is the same directory.
    if any(part.casefold() == ".git" for part in (*name.parts, *target.relative_to(root).parts)):
        raise refused("it points into .git")
    return target


def _check_identity(name: str, email: str) -> None:
    """Refuse an author git would mangle (it strips <, > and newlines) or reject."""
    for label, value in (("name", name), ("email", email)):
        if not value.strip() or _IDENTITY_FORBIDDEN.search(value):
            raise GitInputRefused(f"refusing commit author {label} {value!r}")


async def commit_files(
    worktree: Worktree,
    paths: Sequence[str],
    message: str,
    *,
    author_name: str,
    author_email: str,
    timeout: float,  # noqa: ASYNC109 - one budget for staging and committing
) -> str | None:
    """Stage exactly these paths and commit; the new commit id, or None when nothing changed."""
    if not paths:
        raise GitInputRefused("nothing to commit: no paths given")
    if not message.strip() or "\x00" in message:
        raise GitInputRefused("refusing an empty commit message")
    _check_identity(author_name, author_email)
    root = worktree.path.resolve()
    staged: list[str] = []
    for relative in paths:
        target = worktree_file(worktree, relative)
        if target.is_dir():  # adding a directory would stage every file under it
            raise GitInputRefused(f"refusing path {relative!r}: a directory, not a file")
        staged.append(target.relative_to(root).as_posix())
    identity = {"user.name": author_name, "user.email": author_email}
    git = _edit_git(
        worktree.url,
        _Deadline(timeout),
        root,
        # No signing: nobody is there to unlock a key, and the identity is the service's.
        config={**identity, "commit.gpgSign": "false"},
        env={
            # The environment outranks user.name/email: an inherited GIT_AUTHOR_NAME must not win.
            "GIT_AUTHOR_NAME": author_name,
            "GIT_AUTHOR_EMAIL": author_email,
            "GIT_COMMITTER_NAME": author_name,
            "GIT_COMMITTER_EMAIL": author_email,
            # A path like `*.yaml` names that one file, never a pattern matching others.
            "GIT_LITERAL_PATHSPECS": "1",
        },
    )
    shown = ", ".join(staged)
    # --all: a deleted file's removal is staged too, still only for these paths.
    await git(["add", "--all", "--", *staged], f"cannot stage {shown}")
    changed = await git(
        ["diff", "--cached", "--name-only", "-z", "HEAD", "--", *staged],
        f"cannot compare {shown} with HEAD",
    )
    if not changed:
        return None
    # With paths, git commits only those paths, whatever else the index holds.
    await git(
        ["commit", "--quiet", "--no-verify", "--cleanup=verbatim", "-m", message, "--", *staged],
        f"cannot commit {shown}",
    )
    commit = await _rev_parse("HEAD", git)
    if commit is None:
        raise GitError(f"cannot read the new commit in {worktree.path}")
    return commit


async def push(
    worktree: Worktree,
    target_branch: str,
    *,
    timeout: float,  # noqa: ASYNC109 - it also kills git, which asyncio.timeout cannot
) -> None:
    """Push HEAD to target_branch on the remote (never forced); GitPushRejected when the remote
    moved."""
    deadline = _Deadline(timeout)
    git = _edit_git(worktree.url, deadline, worktree.path)
    target = await _branch_name(target_branch, git)
    shown = display_url(worktree.url)
    try:
        await git(
            [
                "push",
                "--quiet",
                "--no-verify",
                "--no-signed",
                "--no-follow-tags",
                "--recurse-submodules=no",
                "origin",
                f"HEAD:refs/heads/{target}",
            ],
            f"cannot push to branch {target!r} of {shown}",
        )
    except GitError as exc:
        if exc.timed_out or not _PUSH_RACE.search(exc.stderr):
            raise
        raise GitPushRejected(
            f"push to branch {target!r} of {shown} rejected: the remote branch has commits "
            "this edit was not based on (someone pushed first); nothing was changed on the "
            "remote, retry the adopt",
            returncode=exc.returncode,
            stderr=exc.stderr,
        ) from None


async def remote_branch_exists(
    url: str,
    branch: str,
    *,
    timeout: float,  # noqa: ASYNC109 - it also kills git, which asyncio.timeout cannot
) -> bool:
    """Whether the remote has this branch (`git ls-remote --heads`)."""
    deadline = _Deadline(timeout)
    git = _edit_git(url, deadline, None)
    target = await _branch_name(branch, git)
    found = await git(
        ["ls-remote", "--heads", "--", url, f"refs/heads/{target}"],
        f"cannot list the branches of {display_url(url)}",
    )
    return bool(found.strip())


# -- the client drift is given ------------------------------------------------------------------


class GitClient(Protocol):
    """The git work drift does: check out desired state, and edit, commit and push for adopt."""

    async def checkout(
        self,
        url: str,
        ref: str | None,
        cache_dir: Path,
        *,
        timeout: float = 120.0,  # noqa: ASYNC109 - a budget for several commands and the lock
    ) -> GitCheckout:
        """Check out `ref` (default the remote's HEAD) of `url` in a clone cached in cache_dir."""
        ...

    def edit_worktree(
        self, url: str, branch: str | None, work_root: Path, *, timeout: float
    ) -> contextlib.AbstractAsyncContextManager[Worktree]:
        """A fresh clone of `branch` under work_root to edit, removed on exit."""
        ...

    def worktree_file(self, worktree: Worktree, relative: str) -> Path:
        """The path of a file inside the worktree; GitInputRefused when it would leave it."""
        ...

    async def commit_files(
        self,
        worktree: Worktree,
        paths: Sequence[str],
        message: str,
        *,
        author_name: str,
        author_email: str,
        timeout: float,  # noqa: ASYNC109 - one budget for staging and committing
    ) -> str | None:
        """Commit exactly these paths; the new commit id, or None when nothing changed."""
        ...

    async def push(
        self,
        worktree: Worktree,
        target_branch: str,
        *,
        timeout: float,  # noqa: ASYNC109 - it also kills git, which asyncio.timeout cannot
    ) -> None:
        """Push HEAD to target_branch (never forced); GitPushRejected when the remote moved."""
        ...

    async def remote_branch_exists(
        self,
        url: str,
        branch: str,
        *,
        timeout: float,  # noqa: ASYNC109 - it also kills git, which asyncio.timeout cannot
    ) -> bool:
        """Whether the remote has this branch."""
        ...


class GitCli:
    """GitClient over the git command line (the functions of this module)."""

    async def checkout(
        self,
        url: str,
        ref: str | None,
        cache_dir: Path,
        *,
        timeout: float = 120.0,  # noqa: ASYNC109 - a budget for several commands and the lock
    ) -> GitCheckout:
        """Clone or fetch into the cache and check `ref` out detached (see `checkout`)."""
        return await checkout(url, ref, cache_dir, timeout=timeout)

    def edit_worktree(
        self, url: str, branch: str | None, work_root: Path, *, timeout: float
    ) -> contextlib.AbstractAsyncContextManager[Worktree]:
        """A fresh clone of `branch` under work_root (see `edit_worktree`)."""
        return edit_worktree(url, branch, work_root, timeout=timeout)

    def worktree_file(self, worktree: Worktree, relative: str) -> Path:
        """The file's path inside the worktree (see `worktree_file`)."""
        return worktree_file(worktree, relative)

    async def commit_files(
        self,
        worktree: Worktree,
        paths: Sequence[str],
        message: str,
        *,
        author_name: str,
        author_email: str,
        timeout: float,  # noqa: ASYNC109 - one budget for staging and committing
    ) -> str | None:
        """Stage exactly these paths and commit (see `commit_files`)."""
        return await commit_files(
            worktree,
            paths,
            message,
            author_name=author_name,
            author_email=author_email,
            timeout=timeout,
        )

    async def push(
        self,
        worktree: Worktree,
        target_branch: str,
        *,
        timeout: float,  # noqa: ASYNC109 - it also kills git, which asyncio.timeout cannot
    ) -> None:
        """Push HEAD to target_branch, never forced (see `push`)."""
        await push(worktree, target_branch, timeout=timeout)

    async def remote_branch_exists(
        self,
        url: str,
        branch: str,
        *,
        timeout: float,  # noqa: ASYNC109 - it also kills git, which asyncio.timeout cannot
    ) -> bool:
        """`git ls-remote --heads` for the branch (see `remote_branch_exists`)."""
        return await remote_branch_exists(url, branch, timeout=timeout)

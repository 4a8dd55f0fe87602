"""Kustomize, through `kubectl kustomize` (no shell): the only module that renders a
kustomization. What it may read outside the repository is checked before it runs."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Collection
from pathlib import Path

from awoooi.adapters.kustomize_refs import Refusal, refused_references
from awoooi.adapters.process import ProcessError, run_process

# Explicit, though they are kubectl's defaults: files only from the kustomization's own
# directory, no Helm, no plugins (exec or container functions), no network for functions.
_FLAGS = (
    "--load-restrictor=LoadRestrictionsRootOnly",
    "--enable-helm=false",
    "--enable-alpha-plugins=false",
    "--network=false",
)
# kubectl logs the error through klog: `E1206 07:33:20.246902 9650 run.go:72] "command failed"
# err="..."`, the message possibly spanning lines (git's output).
_KLOG_ERROR = re.compile(r'"command failed" err="(?P<error>.*)"\s*$', re.DOTALL)
# An absolute path left after the repository's own were made relative (kustomize's clone of a
# remote base, a file outside): only its last component is shown.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])/(?:[^\s'\"/:]+/)*(?P<name>[^\s'\"/:]+)")


class KustomizeError(ProcessError):
    """A kustomization could not be rendered (kubectl missing, a failure, or out of time)."""

    status_code = 502
    code = "kustomize_error"


class KustomizeRefused(KustomizeError):
    """A kustomization names a remote base or file that is not allowed, or leaves the
    repository: kustomize was not run."""

    status_code = 422
    code = "kustomize_refused"

    def __init__(self, message: str, *, refusals: list[Refusal]) -> None:
        super().__init__(message)
        self.refusals = refusals


def relative_paths(text: str, repository: Path) -> str:
    """`text` with the repository's absolute paths made relative to it, and any other
    absolute path cut to its last component (server paths are not for viewers)."""
    for root in dict.fromkeys((str(repository.resolve()), str(repository.absolute()))):
        inside = re.compile(re.escape(root) + r"(?:/|(?=[\s'\":]|$))")
        text = inside.sub(lambda found: "" if found[0].endswith("/") else ".", text)
    return _ABSOLUTE_PATH.sub(r".../\g<name>", text)


def _reason(stderr: str) -> str:
    """kubectl's error message without klog's prefix, on one line."""
    found = _KLOG_ERROR.search(stderr)
    text = found["error"].replace('\\"', '"') if found else stderr
    return " ".join(text.split()) or "no output"


async def render_kustomization(
    directory: Path,
    *,
    repository: Path,
    allow_remote: Collection[str],
    timeout: float,  # noqa: ASYNC109 - it also kills kubectl, which asyncio.timeout cannot
) -> str:
    """`kubectl kustomize DIR`: the rendered multi-document YAML. KustomizeRefused, before
    kubectl runs, when it names a remote host not in `allow_remote` or a path leaving
    `repository`; KustomizeError when rendering fails (paths in it relative to `repository`)."""
    refusals = await asyncio.to_thread(
        refused_references, directory, repository=repository, allow_remote=allow_remote
    )
    if refusals:
        raise KustomizeRefused(
            "kustomization not rendered: "
            + "; ".join(refusal.text(with_file=True) for refusal in refusals),
            refusals=refusals,
        )
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise KustomizeError("kubectl is not installed (needed to render kustomizations)")
    try:
        stdout = await run_process(
            [kubectl, "kustomize", *_FLAGS, str(directory)],
            label="kubectl kustomize",
            timeout=timeout,
            error=KustomizeError,
        )
    except KustomizeError as exc:
        if exc.returncode is None:  # timed out or could not start: that message says it all
            raise
        stderr = relative_paths(exc.stderr, repository)
        raise KustomizeError(
            f"kubectl kustomize failed: {_reason(stderr)}",
            returncode=exc.returncode,
            stderr=stderr,
        ) from None
    return stdout.decode()

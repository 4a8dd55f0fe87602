"""Kustomize, through `kubectl kustomize` (no shell): the only module that renders a
kustomization."""

from __future__ import annotations

import shutil
from pathlib import Path

from awoooi.adapters.process import ProcessError, run_process


class KustomizeError(ProcessError):
    """A kustomization could not be rendered (kubectl missing, a failure, or out of time)."""

    status_code = 502
    code = "kustomize_error"


async def render_kustomization(
    directory: Path,
    *,
    timeout: float,  # noqa: ASYNC109 - it also kills kubectl, which asyncio.timeout cannot
) -> str:
    """`kubectl kustomize DIR`: the rendered multi-document YAML; KustomizeError when it fails."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise KustomizeError("kubectl is not installed (needed to render kustomizations)")
    try:
        stdout = await run_process(
            [kubectl, "kustomize", str(directory)],
            label="kubectl kustomize",
            timeout=timeout,
            error=KustomizeError,
        )
    except KustomizeError as exc:
        if exc.returncode is None:  # timed out or could not start: that message says it all
            raise
        # The reason is kubectl's last line (kustomize logs its whole error chain there).
        lines = exc.stderr.splitlines()
        raise KustomizeError(
            f"kubectl kustomize failed: {lines[-1] if lines else 'no output'}",
            returncode=exc.returncode,
            stderr=exc.stderr,
        ) from None
    return stdout.decode()

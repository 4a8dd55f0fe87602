"""The `kube:` config section: how the adapters reach the cluster (repairs, drift, runtime)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class KubeSettings(BaseModel):
    """How to reach the cluster (config section `kube`)."""

    model_config = ConfigDict(extra="forbid")

    server: str | None = Field(
        None, max_length=2048, description="API server URL (no auth; tests and proxies)."
    )
    kubeconfig: Path | None = Field(None, description="Kubeconfig file (default: $KUBECONFIG).")
    context: str | None = Field(None, max_length=253, description="Kubeconfig context.")
    in_cluster: bool = Field(False, description="Use the pod's service account.")
    timeout_seconds: float = Field(30.0, gt=0, le=600, description="Per API call.")


KUBE_NOT_CONFIGURED = (
    "no cluster configured: set kube.server, kube.kubeconfig or kube.in_cluster "
    "(AWOOOI_KUBE__SERVER, ...), or $KUBECONFIG, or create ~/.kube/config"
)


def kube_configured(settings: KubeSettings) -> bool:
    """Whether any way to reach a cluster is configured (settings, $KUBECONFIG, ~/.kube)."""
    # The same rule as awoooi.runtime.kube_configured, without loading the runtime.
    if settings.server or settings.kubeconfig or settings.in_cluster:
        return True
    return bool(os.environ.get("KUBECONFIG")) or (Path.home() / ".kube" / "config").is_file()

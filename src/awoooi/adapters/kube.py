"""Kubernetes as awoooi sees it: the Protocols repairs and drift call, object references and
errors. No client library here: the lightkube implementation is `awoooi.adapters.lightkube_client`,
so code that only names a workload does not load it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from awoooi.core.errors import AwoooiError

WorkloadKind = Literal["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"]
WORKLOAD_KINDS: tuple[str, ...] = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")


@dataclass(frozen=True)
class ObjectRef:
    """A namespaced workload: kind, namespace, name."""

    kind: WorkloadKind
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.kind}/{self.name}"


class KubeError(AwoooiError):
    """The API server refused or failed a call (its status and message are kept)."""

    status_code = 502
    code = "kubernetes_error"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class KubeNotFound(KubeError):
    """The object does not exist."""


class KubeKindNotServed(KubeError):
    """The API server does not serve the kind (a CRD not installed, an API version removed)."""


class KubeConflict(KubeError):
    """Server-side apply found fields owned by another manager (retry with force to take them)."""

    status_code = 409
    code = "kube_conflict"


@runtime_checkable
class KubeClient(Protocol):
    """The calls awoooi makes to a cluster (repairs; drift adds its own later)."""

    async def rollout_restart(self, ref: ObjectRef, *, at: datetime) -> None:
        """Restart a workload's pods the way `kubectl rollout restart` does (restartedAt)."""
        ...

    async def get_replicas(self, ref: ObjectRef) -> int:
        """Desired replicas, read through the scale subresource."""
        ...

    async def scale(self, ref: ObjectRef, replicas: int) -> None:
        """Set desired replicas through the scale subresource."""
        ...

    async def rollout_undo(self, ref: ObjectRef, *, to_revision: int | None = None) -> int:
        """Roll a Deployment back to a ReplicaSet's template, a StatefulSet or DaemonSet to a
        ControllerRevision's (the previous one by default); returns the revision rolled back
        to."""
        ...

    async def delete_pod(
        self, namespace: str, name: str, *, grace_period_seconds: int | None = None
    ) -> None:
        """Delete one pod (its controller replaces it)."""
        ...

    async def patch(self, ref: ObjectRef, patch: dict[str, Any]) -> None:
        """Apply a strategic-merge patch to a workload."""
        ...

    async def deployment_available(self, namespace: str, name: str) -> bool:
        """True when the Deployment's rollout is complete and its Available condition is True."""
        ...

    async def workload_available(self, ref: ObjectRef) -> bool:
        """True when a Deployment's, StatefulSet's or DaemonSet's rollout is complete: the
        latest spec observed, every pod updated and ready."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class ClusterReader(Protocol):
    """Reads objects of any kind as plain dicts, the way the API server returns them (drift)."""

    async def get_object(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        """The live object (managedFields included), or None when it does not exist; the
        namespace is ignored for a cluster-scoped kind."""
        ...

    async def list_objects(
        self,
        api_version: str,
        kind: str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Every object of the kind (in every namespace when `namespace` is None) matching the
        label selector, each with apiVersion and kind set; at most `limit` of them (the first
        in the server's order) when given."""
        ...


@runtime_checkable
class LogReader(Protocol):
    """Reads container logs (diagnosis)."""

    async def read_log(
        self,
        namespace: str,
        pod: str,
        container: str,
        *,
        previous: bool = False,
        tail_lines: int | None = None,
        limit_bytes: int | None = None,
    ) -> str | None:
        """The container's log as the API server sends it: the last `tail_lines` lines, cut
        after `limit_bytes` bytes (the server cuts the end, not the start), the run before
        when `previous`; None when there is none (no such pod or container, a container
        that has not started, no previous run)."""
        ...


@runtime_checkable
class ClusterWriter(Protocol):
    """Writes objects of any kind (drift rollback)."""

    async def apply_object(
        self,
        obj: dict[str, Any],
        *,
        field_manager: str,
        dry_run: bool = False,
        force: bool = False,
    ) -> dict[str, Any]:
        """Server-side apply (PATCH application/apply-patch+yaml, fieldManager, force only when
        asked, dryRun=All when dry_run); returns the object as the server answers (created
        when missing)."""
        ...

    async def delete_object(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        *,
        dry_run: bool = False,
    ) -> bool:
        """Delete; False when it did not exist."""
        ...

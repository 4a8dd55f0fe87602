"""An in-memory cluster behind the KubeClient Protocol, for everything above the adapter."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from awoooi.adapters.kube import KubeClient, KubeError, KubeNotFound, ObjectRef


@dataclass
class Workload:
    """What the fake knows about one workload."""

    replicas: int = 2
    available: bool = True
    revision: int = 2
    revisions: list[int] = field(default_factory=lambda: [1, 2])
    annotations: dict[str, str] = field(default_factory=dict)
    patches: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class InMemoryKube:
    """Workloads and pods in dicts; every call is recorded; failures and delays on demand."""

    workloads: dict[tuple[str, str, str], Workload] = field(default_factory=dict)
    pods: set[tuple[str, str]] = field(default_factory=set)
    calls: list[tuple[str, str]] = field(default_factory=list)
    fail: dict[str, KubeError] = field(default_factory=dict)
    delay: dict[str, float] = field(default_factory=dict)
    # How many deployment_available checks answer False before the real answer.
    unavailable_checks: int = 0
    closed: bool = False

    def add(self, kind: str, namespace: str, name: str, **values: Any) -> Workload:
        """Create a workload."""
        workload = Workload(**values)
        self.workloads[(kind, namespace, name)] = workload
        return workload

    def get(self, kind: str, namespace: str, name: str) -> Workload:
        """A workload the test created."""
        return self.workloads[(kind, namespace, name)]

    async def _enter(self, verb: str, what: str) -> None:
        self.calls.append((verb, what))
        if verb in self.delay:
            await asyncio.sleep(self.delay[verb])
        if verb in self.fail:
            raise self.fail[verb]

    def _workload(self, ref: ObjectRef) -> Workload:
        found = self.workloads.get((ref.kind, ref.namespace, ref.name))
        if found is None:
            raise KubeNotFound(f"{ref.kind.lower()}s {ref.name!r} not found", status=404)
        return found

    async def rollout_restart(self, ref: ObjectRef, *, at: datetime) -> None:
        await self._enter("rollout_restart", str(ref))
        self._workload(ref).annotations["kubectl.kubernetes.io/restartedAt"] = at.isoformat()

    async def get_replicas(self, ref: ObjectRef) -> int:
        await self._enter("get_replicas", str(ref))
        return self._workload(ref).replicas

    async def scale(self, ref: ObjectRef, replicas: int) -> None:
        await self._enter("scale", str(ref))
        self._workload(ref).replicas = replicas

    async def rollout_undo(self, ref: ObjectRef, *, to_revision: int | None = None) -> int:
        await self._enter("rollout_undo", str(ref))
        workload = self._workload(ref)
        older = [rev for rev in workload.revisions if rev < workload.revision]
        target = to_revision if to_revision is not None else (max(older) if older else None)
        if target is None or target not in workload.revisions:
            raise KubeError(f"no revision to roll {ref} back to", status=None)
        workload.revision = max(workload.revisions) + 1
        workload.revisions.append(workload.revision)
        return target

    async def delete_pod(
        self, namespace: str, name: str, *, grace_period_seconds: int | None = None
    ) -> None:
        await self._enter("delete_pod", f"{namespace}/{name}")
        if (namespace, name) not in self.pods:
            raise KubeNotFound(f'pods "{name}" not found', status=404)
        self.pods.discard((namespace, name))

    async def patch(self, ref: ObjectRef, patch: dict[str, Any]) -> None:
        await self._enter("patch", str(ref))
        self._workload(ref).patches.append(patch)

    async def deployment_available(self, namespace: str, name: str) -> bool:
        await self._enter("deployment_available", f"{namespace}/{name}")
        if self.unavailable_checks > 0:
            self.unavailable_checks -= 1
            return False
        return self._workload(ObjectRef("Deployment", namespace, name)).available

    async def aclose(self) -> None:
        self.closed = True


def _conforms(client: KubeClient) -> KubeClient:
    return client


_conforms(InMemoryKube())  # mypy-style check that the fake implements the Protocol

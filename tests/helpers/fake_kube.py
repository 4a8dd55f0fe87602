"""An in-memory cluster behind the KubeClient, ClusterReader and ClusterWriter Protocols, for
everything above the adapter.

Repairs work on `workloads` and `pods`; reads of any kind (drift) on `objects`, plain dicts keyed
by (apiVersion, kind, namespace, name), namespace None for a cluster-scoped kind:

    kube = InMemoryKube()
    kube.add_object({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": "settings", "namespace": "prod"}})
    kube.add_kind("stable.example.com/v1", "CronTab")       # served, no objects yet
    await kube.list_objects("v1", "ConfigMap", label_selector="app=web")

    await kube.apply_object(obj, field_manager="awoooi")      # merged into `objects`
    kube.conflicts[key] = 'conflict with "kubectl-edit" using apps/v1: .spec.replicas'
    kube.applied, kube.deleted                               # every write call, in order

As on a real server, reading or writing a kind nobody added or declared is KubeError("unknown
kind ...").
Label selectors: equality only (`k=v`, `k==v`, `k!=v`, comma-separated).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from awoooi.adapters.kube import (
    ClusterReader,
    ClusterWriter,
    KubeClient,
    KubeConflict,
    KubeError,
    KubeKindNotServed,
    KubeNotFound,
    LogReader,
    ObjectRef,
)
from tests.helpers.kube_api import strategic_merge

READS = frozenset({"get_object", "list_objects", "read_log"})
ObjectKey = tuple[str, str, str | None, str]  # (apiVersion, kind, namespace, name)
# Metadata the server sets; an applied object's copies are dropped, as the adapter does.
_SERVER_METADATA = frozenset(
    {"managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "selfLink"}
)


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
    objects: dict[ObjectKey, dict[str, Any]] = field(default_factory=dict)
    # Served kinds: (apiVersion, kind) -> namespaced.
    kinds: dict[tuple[str, str], bool] = field(default_factory=dict)
    # Every apply_object call: (object as passed, field_manager, dry_run, force).
    applied: list[tuple[dict[str, Any], str, bool, bool]] = field(default_factory=list)
    # Every delete_object call: (apiVersion, kind, namespace, name, dry_run).
    deleted: list[tuple[str, str, str | None, str, bool]] = field(default_factory=list)
    # Objects another manager owns fields of: an apply without force answers KubeConflict with
    # this message (the server's, naming fields and managers); a forced apply clears it.
    conflicts: dict[ObjectKey, str] = field(default_factory=dict)
    # Container logs: (namespace, pod, container, previous) -> text (read_log answers None
    # for any other).
    logs: dict[tuple[str, str, str, bool], str] = field(default_factory=dict)

    def add(self, kind: str, namespace: str, name: str, **values: Any) -> Workload:
        """Create a workload."""
        workload = Workload(**values)
        self.workloads[(kind, namespace, name)] = workload
        return workload

    def get(self, kind: str, namespace: str, name: str) -> Workload:
        """A workload the test created."""
        return self.workloads[(kind, namespace, name)]

    @property
    def actions(self) -> list[tuple[str, str]]:
        """The calls that act on the cluster or wait for it: everything but reads (a diagnosis
        reads objects and logs before any repair is decided)."""
        return [call for call in self.calls if call[0] not in READS]

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
        if ref.kind not in ("Deployment", "StatefulSet", "DaemonSet"):
            raise KubeError(f"undo {ref}: a {ref.kind} cannot be rolled back", status=None)
        workload = self._workload(ref)
        if ref.kind == "Deployment":
            older = [rev for rev in workload.revisions if rev < workload.revision]
            default = max(older) if older else None
        else:
            # kubectl's ControllerRevision rule: the second highest, whatever runs now.
            ordered = sorted(workload.revisions)
            default = ordered[-2] if len(ordered) > 1 else None
        target = to_revision or default  # 0 means the previous one, as for kubectl
        if target is None or target not in workload.revisions:
            raise KubeError(f"no revision to roll {ref} back to", status=None)
        if ref.kind != "Deployment":
            # The controller renumbers the revision whose template runs again to the top.
            workload.revisions.remove(target)
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

    async def workload_available(self, ref: ObjectRef) -> bool:
        await self._enter("workload_available", str(ref))
        if self.unavailable_checks > 0:
            self.unavailable_checks -= 1
            return False
        return self._workload(ref).available

    async def aclose(self) -> None:
        self.closed = True

    # -- ClusterReader -------------------------------------------------------------------------

    def add_kind(self, api_version: str, kind: str, *, namespaced: bool = True) -> None:
        """Serve a kind (with no objects yet)."""
        self.kinds[(api_version, kind)] = namespaced

    def add_object(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a copy of an object; a metadata.namespace makes its kind namespaced."""
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        namespace = meta.get("namespace")
        kind_key = (obj["apiVersion"], obj["kind"])
        namespaced = self.kinds.setdefault(kind_key, namespace is not None)
        if namespaced and namespace is None:
            raise ValueError(f"{obj['kind']} {meta.get('name')} needs a metadata.namespace")
        if not namespaced:
            meta.pop("namespace", None)
            namespace = None
        self.objects[(obj["apiVersion"], obj["kind"], namespace, meta["name"])] = obj
        return copy.deepcopy(obj)

    def _served(self, api_version: str, kind: str, where: str) -> bool:
        namespaced = self.kinds.get((api_version, kind))
        if namespaced is None:
            raise KubeKindNotServed(f"{where}: unknown kind {kind} in {api_version} (not served)")
        return namespaced

    async def get_object(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        where = f"get {api_version} {kind} {namespace + '/' if namespace else ''}{name}"
        await self._enter("get_object", where.removeprefix("get "))
        namespaced = self._served(api_version, kind, where)
        if namespaced and namespace is None:
            raise KubeError(f"{where}: {kind} is namespaced, a namespace is required")
        found = self.objects.get((api_version, kind, namespace if namespaced else None, name))
        return copy.deepcopy(found) if found is not None else None

    async def list_objects(
        self,
        api_version: str,
        kind: str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        where = f"list {api_version} {kind}" + (f" in {namespace}" if namespace else "")
        await self._enter("list_objects", where.removeprefix("list "))
        namespaced = self._served(api_version, kind, where)
        matches = _equality_selector(label_selector or "", where)
        found = []
        # Ordered like the API server: by namespace, then name.
        for key in sorted(self.objects, key=lambda k: (k[2] or "", k[3])):
            obj = self.objects[key]
            if key[:2] != (api_version, kind):
                continue
            if namespaced and namespace is not None and key[2] != namespace:
                continue
            if matches((obj.get("metadata") or {}).get("labels") or {}):
                found.append(copy.deepcopy(obj))
        return found[:limit] if limit is not None else found

    # -- LogReader -----------------------------------------------------------------------------

    def set_log(
        self, namespace: str, pod: str, container: str, text: str, *, previous: bool = False
    ) -> None:
        """The log a container has (its current run, or the one before)."""
        self.logs[(namespace, pod, container, previous)] = text

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
        await self._enter("read_log", f"{namespace}/{pod}/{container}")
        text = self.logs.get((namespace, pod, container, previous))
        if text is None:
            return None
        lines = text.splitlines(keepends=True)
        if tail_lines is not None:
            lines = lines[len(lines) - tail_lines :] if tail_lines else []
        data = "".join(lines).encode()
        # Like the kubelet: the tail is selected first, then its end is cut after limit_bytes.
        if limit_bytes is not None:
            data = data[:limit_bytes]
        return data.decode("utf-8", "replace")

    # -- ClusterWriter -------------------------------------------------------------------------

    async def apply_object(
        self,
        obj: dict[str, Any],
        *,
        field_manager: str,
        dry_run: bool = False,
        force: bool = False,
    ) -> dict[str, Any]:
        self.applied.append((copy.deepcopy(obj), field_manager, dry_run, force))
        meta = obj.get("metadata") or {}
        api_version, kind, name = obj["apiVersion"], obj["kind"], meta["name"]
        given = meta.get("namespace")
        where = f"{api_version} {kind} {given + '/' if given else ''}{name}"
        await self._enter("apply_object", where)
        namespaced = self._served(api_version, kind, f"apply {where}")
        namespace = (meta.get("namespace") or "default") if namespaced else None
        key = (api_version, kind, namespace, name)
        if key in self.conflicts and not force:
            raise KubeConflict(f"apply {where}: {self.conflicts[key]}", status=409)
        body = {k: copy.deepcopy(v) for k, v in obj.items() if k != "status"}
        body["metadata"] = {k: v for k, v in meta.items() if k not in _SERVER_METADATA}
        # Like the server: the applied fields merge into the live object, whose others stay.
        merged: dict[str, Any] = strategic_merge(self.objects.get(key) or {}, body)
        if namespace is None:
            merged["metadata"].pop("namespace", None)
        else:
            merged["metadata"]["namespace"] = namespace
        if not dry_run:
            self.objects[key] = merged
            self.conflicts.pop(key, None)
        return copy.deepcopy(merged)

    async def delete_object(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        *,
        dry_run: bool = False,
    ) -> bool:
        self.deleted.append((api_version, kind, namespace, name, dry_run))
        where = f"{api_version} {kind} {namespace + '/' if namespace else ''}{name}"
        await self._enter("delete_object", where)
        namespaced = self._served(api_version, kind, f"delete {where}")
        if namespaced and namespace is None:
            raise KubeError(f"delete {where}: {kind} is namespaced, a namespace is required")
        key = (api_version, kind, namespace if namespaced else None, name)
        if key not in self.objects:
            return False
        if not dry_run:
            del self.objects[key]
            self.conflicts.pop(key, None)
        return True


def _equality_selector(selector: str, where: str) -> Callable[[dict[str, str]], bool]:
    """A predicate for `k=v`, `k==v`, `k!=v` terms (all must hold); KubeError otherwise."""
    terms: list[tuple[str, str, bool]] = []
    for term in (t.strip() for t in selector.split(",")):
        if not term:
            continue
        negate = "!=" in term
        key, sep, value = term.partition("!=" if negate else "=")
        value = value.removeprefix("=") if not negate else value
        if not sep or not key.strip():
            raise KubeError(f"{where}: unsupported label selector term {term!r}", status=400)
        terms.append((key.strip(), value.strip(), negate))
    return lambda labels: all((labels.get(k) == v) != negate for k, v, negate in terms)


def _conforms(client: KubeClient) -> KubeClient:
    return client


def _reads(reader: ClusterReader) -> ClusterReader:
    return reader


def _writes(writer: ClusterWriter) -> ClusterWriter:
    return writer


def _logs(reader: LogReader) -> LogReader:
    return reader


_conforms(InMemoryKube())  # mypy-style checks that the fake implements the Protocols
_reads(InMemoryKube())
_writes(InMemoryKube())
_logs(InMemoryKube())

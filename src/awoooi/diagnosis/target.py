"""From an alert's labels to the object it is about: pod → ReplicaSet → Deployment, pod →
StatefulSet / DaemonSet / Job, workload labels, an HPA's scale target, a PVC's users, a Node.

Labels such as `instance`, `job`, `service` and `endpoint` name the exporter that produced the
metric (kube-state-metrics, node-exporter), not the workload, so they never pick the target.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from awoooi.diagnosis.errors import TargetNotFound
from awoooi.diagnosis.model import Target
from awoooi.diagnosis.source import ClusterSource

__all__ = [
    "Resolution",
    "TargetNotFound",
    "controller_of",
    "owner_chain",
    "resolve",
    "resolve_target",
    "workload_of_pod",
]

# The alphabet of generated name suffixes (k8s.io/apimachinery rand.SafeEncodeString).
_SUFFIX = "[bcdfghjklmnpqrstvwxz2456789]"
_GENERATED = re.compile(rf"^(?P<owner>.+)-{_SUFFIX}{{5}}$")
_ORDINAL = re.compile(r"^(?P<owner>.+)-(?P<ordinal>\d+)$")
# <deployment>-<pod-template-hash>-<suffix>
_REPLICATED = re.compile(rf"^(?P<owner>.+)-{_SUFFIX}{{6,10}}-{_SUFFIX}{{5}}$")
# A CronJob names each Job <cronjob>-<scheduled time in minutes since the epoch>.
_SCHEDULED = re.compile(r"^(?P<owner>.+)-\d{8,10}$")

# Label → kind of the object it names (kube-state-metrics' label names); `job_name` is the Job
# (`job` is Prometheus' scrape job).
WORKLOAD_LABELS: tuple[tuple[str, str], ...] = (
    ("deployment", "Deployment"),
    ("statefulset", "StatefulSet"),
    ("daemonset", "DaemonSet"),
    ("job_name", "Job"),
    ("cronjob", "CronJob"),
    ("replicaset", "ReplicaSet"),
    ("horizontalpodautoscaler", "HorizontalPodAutoscaler"),
    ("persistentvolumeclaim", "PersistentVolumeClaim"),
)
# Kinds the chain stops at: a Job is the target even when a CronJob created it.
_STOP_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"})


@dataclass(frozen=True)
class Resolution:
    """How the labels were resolved: the target, the chain from the alerted object up to it,
    and the alerted pod and container (the pod may be gone from the cluster)."""

    target: Target
    chain: tuple[Target, ...]
    pod: str | None = None
    container: str | None = None
    via: str = ""


def _label(labels: Mapping[str, str], *names: str) -> str:
    """The first non-empty label among `names`; `exported_<name>` wins over `<name>` because a
    scrape with honorLabels off renames the object's own label that way."""
    for name in names:
        for key in (f"exported_{name}", name):
            value = (labels.get(key) or "").strip()
            if value:
                return value
    return ""


def _ref(obj: Mapping[str, Any]) -> Target:
    meta = obj.get("metadata") or {}
    return Target(str(obj.get("kind") or ""), str(meta.get("namespace") or ""), str(meta["name"]))


def controller_of(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    """The (kind, name) of the object's controlling owner (the first owner when none is marked)."""
    refs = [r for r in (obj.get("metadata") or {}).get("ownerReferences") or [] if r.get("name")]
    if not refs:
        return None
    ref = next((r for r in refs if r.get("controller")), refs[0])
    return str(ref.get("kind") or ""), str(ref["name"])


async def owner_chain(
    source: ClusterSource, obj: Mapping[str, Any], *, through_cronjob: bool = False
) -> list[Target]:
    """The object and its controllers up to the top-level workload (Pod, ReplicaSet, ...)."""
    chain = [_ref(obj)]
    current: Mapping[str, Any] | None = obj
    seen = {(chain[0].kind, chain[0].name)}
    while current is not None:
        owner = controller_of(current)
        kind = chain[-1].kind
        if owner is None or (kind in _STOP_KINDS and not (kind == "Job" and through_cronjob)):
            break
        owner_kind, owner_name = owner
        if owner_kind == "Node" or (owner_kind, owner_name) in seen:
            break  # a static pod's mirror is owned by its Node: the pod is the target
        seen.add((owner_kind, owner_name))
        chain.append(Target(owner_kind, chain[0].namespace, owner_name))
        current = await source.get_object(owner_kind, chain[0].namespace, owner_name)
    return chain


async def workload_of_pod(source: ClusterSource, namespace: str, pod: str) -> Target | None:
    """The workload a pod belongs to (repairs act on it), or None when the pod is unknown."""
    found = await _pod_chain(source, namespace, pod)
    return found[-1] if found else None


async def _pod_chain(source: ClusterSource, namespace: str, pod: str) -> list[Target] | None:
    obj = await source.get_object("Pod", namespace, pod)
    if obj is not None:
        return await owner_chain(source, obj)
    # The pod is gone (replaced, evicted and collected, deleted with its Job): its name still
    # says which controller generated it.
    pod_ref = Target("Pod", namespace, pod)
    generated = _GENERATED.match(pod)
    if generated is not None:
        owner = generated.group("owner")
        for kind in ("ReplicaSet", "DaemonSet", "Job"):
            parent = await source.get_object(kind, namespace, owner)
            if parent is not None:
                return [pod_ref, *await owner_chain(source, parent)]
    ordinal = _ORDINAL.match(pod)
    if ordinal is not None:
        owner = ordinal.group("owner")
        if await source.get_object("StatefulSet", namespace, owner) is not None:
            return [pod_ref, Target("StatefulSet", namespace, owner)]
    replicated = _REPLICATED.match(pod)
    if replicated is not None:
        # The ReplicaSet is gone too (an old revision cleaned up): its Deployment remains.
        owner = replicated.group("owner")
        if await source.get_object("Deployment", namespace, owner) is not None:
            return [pod_ref, Target("Deployment", namespace, owner)]
    return None


async def _mentioned_in_events(source: ClusterSource, namespace: str, kind: str, name: str) -> bool:
    for event in await source.list_objects("Event", namespace):
        involved = event.get("involvedObject") or {}
        if involved.get("kind") == kind and involved.get("name") == name:
            return True
    return False


async def _scheduled_by_cronjob(
    source: ClusterSource, namespace: str, kind: str, name: str
) -> bool:
    match = _SCHEDULED.match(name)
    return (
        kind == "Job"
        and match is not None
        and await source.get_object("CronJob", namespace, match.group("owner")) is not None
    )


async def resolve_target(labels: Mapping[str, str], source: ClusterSource) -> Target:
    """The alert's object resolved to its top-level controller; raises TargetNotFound."""
    return (await resolve(labels, source)).target


async def resolve(labels: Mapping[str, str], source: ClusterSource) -> Resolution:
    """Like `resolve_target`, keeping the chain and the alerted pod and container."""
    namespace = _label(labels, "namespace", "kubernetes_namespace")
    pod = _label(labels, "pod", "kubernetes_pod_name", "pod_name")
    container = _label(labels, "container", "container_name") or None
    if pod:
        if not namespace:
            raise TargetNotFound(f"the alert names pod {pod} but no namespace")
        return await _resolve_pod(source, namespace, pod, container)
    for label, kind in WORKLOAD_LABELS:
        name = _label(labels, label)
        if not name:
            continue
        if not namespace:
            raise TargetNotFound(f"the alert names {kind} {name} but no namespace")
        return await _resolve_workload(source, namespace, kind, name, label)
    node = _label(labels, "node", "nodename")
    if node:
        return await _resolve_node(source, node, "node")
    instance = _label(labels, "instance").rsplit(":", 1)[0]
    if instance and not namespace:
        # A node-exporter alert relabelled with the node's name (or its IP) as `instance`.
        found = await _node_by_address(source, instance)
        if found is not None:
            node_ref = Target("Node", "", found)
            return Resolution(node_ref, (node_ref,), via="instance")
    present = ", ".join(sorted(labels)) or "none"
    raise TargetNotFound(f"the alert's labels name no pod, workload or node (labels: {present})")


async def _resolve_pod(
    source: ClusterSource, namespace: str, pod: str, container: str | None
) -> Resolution:
    chain = await _pod_chain(source, namespace, pod)
    if chain is None:
        if not await _mentioned_in_events(source, namespace, "Pod", pod):
            raise TargetNotFound(
                f"the cluster source has no pod {namespace}/{pod} and no controller its name "
                "points to"
            )
        chain = [Target("Pod", namespace, pod)]
    return Resolution(chain[-1], tuple(chain), pod=pod, container=container, via="pod")


async def _resolve_workload(
    source: ClusterSource, namespace: str, kind: str, name: str, label: str
) -> Resolution:
    obj = await source.get_object(kind, namespace, name)
    if obj is None:
        if kind in _STOP_KINDS and (
            await _mentioned_in_events(source, namespace, kind, name)
            or await _scheduled_by_cronjob(source, namespace, kind, name)
        ):
            # Deleted (a finished Job's TTL) but its events or its CronJob are still there.
            ref = Target(kind, namespace, name)
            return Resolution(ref, (ref,), via=label)
        raise TargetNotFound(f"the cluster source has no {kind} {namespace}/{name}")
    if kind == "HorizontalPodAutoscaler":
        scale = (obj.get("spec") or {}).get("scaleTargetRef") or {}
        if not scale.get("kind") or not scale.get("name"):
            raise TargetNotFound(f"HorizontalPodAutoscaler {namespace}/{name} has no scale target")
        target = Target(str(scale["kind"]), namespace, str(scale["name"]))
        return Resolution(target, (_ref(obj), target), via=label)
    if kind == "PersistentVolumeClaim":
        return await _resolve_claim(source, obj, label)
    chain = await owner_chain(source, obj)
    return Resolution(chain[-1], tuple(chain), via=label)


async def _resolve_claim(source: ClusterSource, claim: Mapping[str, Any], label: str) -> Resolution:
    ref = _ref(claim)
    for pod in await source.list_objects("Pod", ref.namespace):
        volumes = (pod.get("spec") or {}).get("volumes") or []
        claims = {(v.get("persistentVolumeClaim") or {}).get("claimName") for v in volumes}
        if ref.name in claims:
            chain = await owner_chain(source, pod)
            return Resolution(chain[-1], (ref, *chain), via=label)
    return Resolution(ref, (ref,), via=label)


async def _resolve_node(source: ClusterSource, name: str, label: str) -> Resolution:
    if await source.get_object("Node", None, name) is None and not await _mentioned_in_events(
        source, "default", "Node", name
    ):
        raise TargetNotFound(f"the cluster source has no node {name}")
    ref = Target("Node", "", name)
    return Resolution(ref, (ref,), via=label)


async def _node_by_address(source: ClusterSource, address: str) -> str | None:
    for node in await source.list_objects("Node"):
        name = str((node.get("metadata") or {}).get("name") or "")
        addresses = {a.get("address") for a in (node.get("status") or {}).get("addresses") or []}
        if address == name or address in addresses:
            return name
    return None

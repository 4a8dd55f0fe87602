"""Kubernetes kinds the diagnosis reads: their list file names, API versions and scope."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KindInfo:
    """How a kind is stored: `<plural>.json` per namespace (or at the root when cluster-scoped)."""

    kind: str
    plural: str
    api_version: str
    namespaced: bool = True


KINDS: dict[str, KindInfo] = {
    info.kind: info
    for info in (
        KindInfo("Node", "nodes", "v1", namespaced=False),
        KindInfo("PersistentVolume", "persistentvolumes", "v1", namespaced=False),
        KindInfo("StorageClass", "storageclasses", "storage.k8s.io/v1", namespaced=False),
        KindInfo("Pod", "pods", "v1"),
        KindInfo("Event", "events", "v1"),
        KindInfo("Service", "services", "v1"),
        KindInfo("ReplicationController", "replicationcontrollers", "v1"),
        KindInfo("ConfigMap", "configmaps", "v1"),
        KindInfo("Secret", "secrets", "v1"),
        KindInfo("PersistentVolumeClaim", "persistentvolumeclaims", "v1"),
        KindInfo("ResourceQuota", "resourcequotas", "v1"),
        KindInfo("LimitRange", "limitranges", "v1"),
        KindInfo("Endpoints", "endpoints", "v1"),
        KindInfo("Deployment", "deployments", "apps/v1"),
        KindInfo("ReplicaSet", "replicasets", "apps/v1"),
        KindInfo("StatefulSet", "statefulsets", "apps/v1"),
        KindInfo("DaemonSet", "daemonsets", "apps/v1"),
        KindInfo("ControllerRevision", "controllerrevisions", "apps/v1"),
        KindInfo("Job", "jobs", "batch/v1"),
        KindInfo("CronJob", "cronjobs", "batch/v1"),
        KindInfo("HorizontalPodAutoscaler", "horizontalpodautoscalers", "autoscaling/v2"),
    )
}


def kind_info(kind: str) -> KindInfo:
    """The storage facts of a kind; unknown kinds are namespaced `<kind>s` lists."""
    return KINDS.get(kind) or KindInfo(kind, kind.lower() + "s", "v1")

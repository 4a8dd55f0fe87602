"""A small builder of `kubectl cluster-info dump` directories, shaped like real API objects
(ownerReferences, List files without item kinds, old- and new-style events, log markers)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

JSON = dict[str, Any]
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
LIST_KINDS = {
    "pods": ("PodList", "v1"),
    "events": ("EventList", "v1"),
    "services": ("ServiceList", "v1"),
    "deployments": ("DeploymentList", "apps/v1"),
    "replicasets": ("ReplicaSetList", "apps/v1"),
    "daemonsets": ("DaemonSetList", "apps/v1"),
    "replicationcontrollers": ("ReplicationControllerList", "v1"),
    "statefulsets": ("StatefulSetList", "apps/v1"),
    "controllerrevisions": ("ControllerRevisionList", "apps/v1"),
    "jobs": ("JobList", "batch/v1"),
    "cronjobs": ("CronJobList", "batch/v1"),
    "horizontalpodautoscalers": ("HorizontalPodAutoscalerList", "autoscaling/v2"),
    "persistentvolumeclaims": ("PersistentVolumeClaimList", "v1"),
    "resourcequotas": ("ResourceQuotaList", "v1"),
    "configmaps": ("ConfigMapList", "v1"),
    "secrets": ("SecretList", "v1"),
}


def ts(minutes: float) -> str:
    """A timestamp `minutes` from the alert's start."""
    return (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def container(
    name: str,
    image: str = "registry.example.com/app:1.0.0",
    *,
    env: dict[str, str] | None = None,
    env_from: list[JSON] | None = None,
    env_refs: list[JSON] | None = None,
    requests: dict[str, str] | None = None,
    limits: dict[str, str] | None = None,
    args: list[str] | None = None,
    liveness: bool = False,
    readiness: bool = True,
) -> JSON:
    """A container spec."""
    spec: JSON = {"name": name, "image": image}
    entries = [{"name": k, "value": v} for k, v in (env or {}).items()] + list(env_refs or [])
    if entries:
        spec["env"] = entries
    if env_from:
        spec["envFrom"] = env_from
    if args:
        spec["args"] = args
    spec["resources"] = {
        k: v
        for k, v in (
            ("requests", requests or {"cpu": "100m", "memory": "128Mi"}),
            ("limits", limits or {"memory": "256Mi"}),
        )
    }
    if liveness:
        spec["livenessProbe"] = {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10}
    if readiness:
        spec["readinessProbe"] = {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 5}
    return spec


def template(
    *containers: JSON,
    labels: dict[str, str] | None = None,
    volumes: list[JSON] | None = None,
    node_selector: dict[str, str] | None = None,
) -> JSON:
    """A pod template."""
    spec: JSON = {"containers": list(containers), "volumes": list(volumes or [])}
    if node_selector:
        spec["nodeSelector"] = node_selector
    return {"metadata": {"labels": dict(labels or {"app": containers[0]["name"]})}, "spec": spec}


def running(
    *, ready: bool = True, restarts: int = 0, last: JSON | None = None, since: float = -60
) -> JSON:
    """A running container's status."""
    return {
        "state": {"running": {"startedAt": ts(since)}},
        "ready": ready,
        "started": True,
        "restartCount": restarts,
        "lastState": {"terminated": last} if last else {},
    }


def waiting(reason: str, message: str = "", *, restarts: int = 0, last: JSON | None = None) -> JSON:
    """A waiting container's status."""
    detail: JSON = {"reason": reason}
    if message:
        detail["message"] = message
    return {
        "state": {"waiting": detail},
        "ready": False,
        "started": False,
        "restartCount": restarts,
        "lastState": {"terminated": last} if last else {},
    }


def exited(reason: str, code: int, at: float = -3, message: str = "") -> JSON:
    """A terminated state (current or last)."""
    detail: JSON = {
        "exitCode": code,
        "reason": reason,
        "startedAt": ts(at - 1),
        "finishedAt": ts(at),
    }
    if message:
        detail["message"] = message
    return detail


def b64(text: str) -> str:
    """Base64, as Secret data is stored."""
    return base64.b64encode(text.encode()).decode()


class Dump:
    """Objects of a fake cluster, written as a dump directory by `write`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.nodes: list[JSON] = []
        self.spaces: dict[str, dict[str, list[JSON]]] = defaultdict(lambda: defaultdict(list))
        self.logs: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(dict)
        self.previous: dict[tuple[str, str, str], list[str]] = {}
        self._n = 0

    def _uid(self) -> str:
        self._n += 1
        return f"00000000-0000-4000-8000-{self._n:012d}"

    def _meta(
        self,
        name: str,
        ns: str | None,
        *,
        created: float = -60 * 24 * 30,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
        owner: JSON | None = None,
    ) -> JSON:
        meta: JSON = {"name": name, "uid": self._uid(), "creationTimestamp": ts(created)}
        if ns is not None:
            meta["namespace"] = ns
        if labels:
            meta["labels"] = dict(labels)
        if annotations:
            meta["annotations"] = dict(annotations)
        if owner is not None:
            meta["ownerReferences"] = [
                {
                    "apiVersion": owner["apiVersion"],
                    "kind": owner["kind"],
                    "name": owner["metadata"]["name"],
                    "uid": owner["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ]
        return meta

    def _add(self, ns: str, plural: str, obj: JSON) -> JSON:
        self.spaces[ns][plural].append(obj)
        return obj

    # -- cluster-scoped --------------------------------------------------------------------------

    def node(
        self,
        name: str,
        *,
        ready: str = "True",
        reason: str = "KubeletReady",
        message: str = "kubelet is posting ready status",
        pressure: dict[str, str] | None = None,
        taints: list[JSON] | None = None,
        unschedulable: bool = False,
    ) -> JSON:
        """A node; `pressure` maps MemoryPressure/DiskPressure/PIDPressure to "True"."""
        conditions = []
        for kind in ("MemoryPressure", "DiskPressure", "PIDPressure"):
            status = (pressure or {}).get(kind, "False")
            conditions.append(
                {
                    "type": kind,
                    "status": status,
                    "reason": f"KubeletHas{'' if status == 'True' else 'No'}{kind}",
                    "message": f"kubelet has {'' if status == 'True' else 'no '}{kind}",
                    "lastTransitionTime": ts(-20 if status == "True" else -9000),
                }
            )
        conditions.append(
            {
                "type": "Ready",
                "status": ready,
                "reason": reason,
                "message": message,
                "lastTransitionTime": ts(-30 if ready != "True" else -9000),
            }
        )
        spec: JSON = {}
        if taints:
            spec["taints"] = taints
        if unschedulable:
            spec["unschedulable"] = True
        node = {
            "kind": "Node",
            "apiVersion": "v1",
            "metadata": self._meta(name, None),
            "spec": spec,
            "status": {
                "conditions": conditions,
                "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
                "allocatable": {"cpu": "3920m", "memory": "15Gi", "pods": "110"},
            },
        }
        self.nodes.append(node)
        return node

    # -- workloads -------------------------------------------------------------------------------

    def deployment(
        self,
        ns: str,
        name: str,
        *,
        replicas: int = 2,
        ready: int = 0,
        conditions: list[JSON] | None = None,
    ) -> JSON:
        """A Deployment (add its ReplicaSets with `replicaset`)."""
        dep = {
            "kind": "Deployment",
            "apiVersion": "apps/v1",
            "metadata": self._meta(
                name,
                ns,
                created=-60 * 24 * 90,
                annotations={"deployment.kubernetes.io/revision": "1"},
            ),
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}},
            "status": {
                "replicas": replicas,
                "readyReplicas": ready,
                "availableReplicas": ready,
                "updatedReplicas": replicas,
                "conditions": conditions or [],
            },
        }
        return self._add(ns, "deployments", dep)

    def replicaset(
        self,
        dep: JSON,
        tmpl: JSON,
        *,
        revision: int,
        created: float = -60 * 24 * 7,
        replicas: int = 2,
        ready: int = 2,
    ) -> JSON:
        """A ReplicaSet of a Deployment, at a revision."""
        ns, name = dep["metadata"]["namespace"], dep["metadata"]["name"]
        digest = hashlib.sha256(json.dumps([tmpl, revision]).encode()).hexdigest()
        pod_hash = "".join("bcdfghjklmnpqrstvwxz2456789"[int(c, 16)] for c in digest[:10])
        t = json.loads(json.dumps(tmpl))
        t["metadata"]["labels"]["pod-template-hash"] = pod_hash
        rs = {
            "kind": "ReplicaSet",
            "apiVersion": "apps/v1",
            "metadata": self._meta(
                f"{name}-{pod_hash}",
                ns,
                created=created,
                labels=t["metadata"]["labels"],
                annotations={"deployment.kubernetes.io/revision": str(revision)},
                owner=dep,
            ),
            "spec": {"replicas": replicas, "template": t},
            "status": {"replicas": replicas, "readyReplicas": ready},
        }
        dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = str(
            max(revision, int(dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"]))
        )
        dep["spec"]["template"] = t
        return self._add(ns, "replicasets", rs)

    def statefulset(
        self,
        ns: str,
        name: str,
        tmpl: JSON,
        *,
        replicas: int = 1,
        ready: int = 0,
        current: str = "",
        update: str = "",
    ) -> JSON:
        """A StatefulSet."""
        sts = {
            "kind": "StatefulSet",
            "apiVersion": "apps/v1",
            "metadata": self._meta(name, ns),
            "spec": {"replicas": replicas, "serviceName": name, "template": tmpl},
            "status": {
                "replicas": replicas,
                "readyReplicas": ready,
                "currentRevision": current or f"{name}-aaa",
                "updateRevision": update or current or f"{name}-aaa",
            },
        }
        return self._add(ns, "statefulsets", sts)

    def daemonset(
        self, ns: str, name: str, tmpl: JSON, *, desired: int = 3, ready: int = 2
    ) -> JSON:
        """A DaemonSet."""
        ds = {
            "kind": "DaemonSet",
            "apiVersion": "apps/v1",
            "metadata": self._meta(name, ns),
            "spec": {"template": tmpl},
            "status": {
                "desiredNumberScheduled": desired,
                "numberReady": ready,
                "numberAvailable": ready,
                "updatedNumberScheduled": desired,
            },
        }
        return self._add(ns, "daemonsets", ds)

    def cronjob(self, ns: str, name: str, tmpl: JSON) -> JSON:
        """A CronJob."""
        cj = {
            "kind": "CronJob",
            "apiVersion": "batch/v1",
            "metadata": self._meta(name, ns),
            "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": tmpl}}},
            "status": {"lastScheduleTime": ts(-30)},
        }
        return self._add(ns, "cronjobs", cj)

    def job(
        self,
        ns: str,
        name: str,
        tmpl: JSON,
        *,
        failed_reason: str = "",
        message: str = "",
        backoff: int = 6,
        deadline: int | None = None,
        cronjob: JSON | None = None,
        failed: int = 0,
        created: float = -40,
    ) -> JSON:
        """A Job, failed with `failed_reason` when given."""
        spec: JSON = {"backoffLimit": backoff, "template": tmpl}
        if deadline is not None:
            spec["activeDeadlineSeconds"] = deadline
        status: JSON = {"startTime": ts(created), "failed": failed}
        if failed_reason:
            status["conditions"] = [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": failed_reason,
                    "message": message,
                    "lastTransitionTime": ts(-5),
                }
            ]
        job = {
            "kind": "Job",
            "apiVersion": "batch/v1",
            "metadata": self._meta(name, ns, created=created, owner=cronjob),
            "spec": spec,
            "status": status,
        }
        return self._add(ns, "jobs", job)

    def pod(
        self,
        owner: JSON | None,
        name: str,
        *,
        ns: str | None = None,
        node: str | None = "node-1",
        statuses: dict[str, JSON] | None = None,
        phase: str = "Running",
        reason: str = "",
        message: str = "",
        conditions: list[JSON] | None = None,
        tmpl: JSON | None = None,
        created: float = -60,
        labels: dict[str, str] | None = None,
    ) -> JSON:
        """A pod of `owner` (a ReplicaSet, StatefulSet, DaemonSet, Job, or None for a bare pod)."""
        if owner is not None:
            ns = owner["metadata"]["namespace"]
            tmpl = tmpl or (owner.get("spec") or {}).get("template")
        assert ns is not None
        assert tmpl is not None
        spec = json.loads(json.dumps(tmpl["spec"]))
        if node:
            spec["nodeName"] = node
        pod_labels = {**tmpl["metadata"].get("labels", {}), **(labels or {})}
        statuses = statuses or {}
        container_statuses = []
        for c in spec["containers"]:
            status = statuses.get(c["name"], running())
            container_statuses.append({"name": c["name"], "image": c["image"], **status})
        ready = all(s.get("ready") for s in container_statuses) and phase == "Running"
        all_conditions = [
            *list(conditions or []),
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                **({} if ready else {"reason": "ContainersNotReady"}),
                "lastTransitionTime": ts(-10),
            },
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": ts(created)},
        ]
        if any(c["type"] == "PodScheduled" for c in conditions or []):
            all_conditions = [
                c for c in all_conditions if c["type"] != "PodScheduled" or c in (conditions or [])
            ]
        status: JSON = {"phase": phase, "conditions": all_conditions}
        if node:
            status["containerStatuses"] = container_statuses
        if reason:
            status["reason"] = reason
        if message:
            status["message"] = message
        pod = {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": self._meta(name, ns, created=created, labels=pod_labels, owner=owner),
            "spec": spec,
            "status": status,
        }
        return self._add(ns, "pods", pod)

    # -- the rest --------------------------------------------------------------------------------

    def event(
        self,
        obj: JSON,
        reason: str,
        message: str,
        *,
        type_: str = "Warning",
        count: int = 1,
        first: float = -10,
        last: float = -1,
        field: str | None = None,
        new_style: bool = False,
    ) -> JSON:
        """An event about `obj` (old style: count and timestamps; new style: a series)."""
        meta = obj["metadata"]
        ns = meta.get("namespace") or "default"
        involved: JSON = {"kind": obj["kind"], "name": meta["name"], "uid": meta["uid"]}
        if meta.get("namespace"):
            involved["namespace"] = meta["namespace"]
        if field:
            involved["fieldPath"] = field
        event: JSON = {
            "metadata": {
                "name": f"{meta['name']}.{self._n:x}",
                "namespace": ns,
                "uid": self._uid(),
            },
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": type_,
        }
        if new_style:
            event.update(
                {
                    "firstTimestamp": None,
                    "lastTimestamp": None,
                    "source": {},
                    "eventTime": ts(first).replace("Z", ".000000Z"),
                    "reportingComponent": "default-scheduler",
                }
            )
            if count > 1:
                event["series"] = {
                    "count": count,
                    "lastObservedTime": ts(last).replace("Z", ".000000Z"),
                }
        else:
            event.update(
                {
                    "count": count,
                    "firstTimestamp": ts(first),
                    "lastTimestamp": ts(last),
                    "source": {"component": "kubelet"},
                    "eventTime": None,
                }
            )
        return self._add(ns, "events", event)

    def hpa(
        self,
        ns: str,
        name: str,
        target: JSON,
        *,
        min_r: int,
        max_r: int,
        current: int,
        utilization: int,
        goal: int = 70,
        limited: bool = False,
    ) -> JSON:
        """An autoscaling/v2 HPA on cpu utilization."""
        conditions = [
            {
                "type": "AbleToScale",
                "status": "True",
                "reason": "ReadyForNewScale",
                "message": "recommended size matches current size",
            },
            {
                "type": "ScalingActive",
                "status": "True",
                "reason": "ValidMetricFound",
                "message": "the HPA was able to successfully calculate a replica count",
            },
            {
                "type": "ScalingLimited",
                "status": "True" if limited else "False",
                "reason": "TooManyReplicas" if limited else "DesiredWithinRange",
                "message": "the desired replica count is more than the maximum replica count"
                if limited
                else "the desired count is within the acceptable range",
            },
        ]
        hpa = {
            "metadata": self._meta(name, ns),
            "spec": {
                "scaleTargetRef": {
                    "apiVersion": "apps/v1",
                    "kind": target["kind"],
                    "name": target["metadata"]["name"],
                },
                "minReplicas": min_r,
                "maxReplicas": max_r,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": goal},
                        },
                    }
                ],
            },
            "status": {
                "currentReplicas": current,
                "desiredReplicas": current,
                "currentMetrics": [
                    {
                        "type": "Resource",
                        "resource": {"name": "cpu", "current": {"averageUtilization": utilization}},
                    }
                ],
                "conditions": conditions,
            },
        }
        return self._add(ns, "horizontalpodautoscalers", hpa)

    def pvc(
        self, ns: str, name: str, *, phase: str = "Bound", storage_class: str = "standard"
    ) -> JSON:
        """A PersistentVolumeClaim."""
        pvc = {
            "kind": "PersistentVolumeClaim",
            "apiVersion": "v1",
            "metadata": self._meta(name, ns),
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": storage_class,
                "resources": {"requests": {"storage": "10Gi"}},
            },
            "status": {"phase": phase},
        }
        return self._add(ns, "persistentvolumeclaims", pvc)

    def quota(self, ns: str, name: str, hard: dict[str, str], used: dict[str, str]) -> JSON:
        """A ResourceQuota."""
        return self._add(
            ns,
            "resourcequotas",
            {
                "metadata": self._meta(name, ns),
                "spec": {"hard": hard},
                "status": {"hard": hard, "used": used},
            },
        )

    def configmap(self, ns: str, name: str, data: dict[str, str]) -> JSON:
        """A ConfigMap."""
        return self._add(ns, "configmaps", {"metadata": self._meta(name, ns), "data": data})

    def secret(self, ns: str, name: str, data: dict[str, str]) -> JSON:
        """A Secret (values base64-encoded, as the API returns them)."""
        return self._add(
            ns,
            "secrets",
            {
                "metadata": self._meta(name, ns),
                "type": "Opaque",
                "data": {k: b64(v) for k, v in data.items()},
            },
        )

    def service(self, ns: str, name: str, selector: dict[str, str]) -> JSON:
        """A Service."""
        return self._add(
            ns,
            "services",
            {
                "metadata": self._meta(name, ns),
                "spec": {"selector": selector, "ports": [{"port": 80}]},
            },
        )

    def log(self, pod: JSON, container_name: str, lines: list[str]) -> None:
        """The current log of a container (in the pod's logs.txt block)."""
        meta = pod["metadata"]
        self.logs[(meta["namespace"], meta["name"])][container_name] = lines

    def previous_log(self, pod: JSON, container_name: str, lines: list[str]) -> None:
        """The previous run's log (logs-<container>-previous.txt)."""
        meta = pod["metadata"]
        self.previous[(meta["namespace"], meta["name"], container_name)] = lines

    def write(self) -> Path:
        """Write the dump directory; returns its path."""
        root = self.root
        root.mkdir(parents=True, exist_ok=True)
        self._write_list(root / "nodes.json", "NodeList", "v1", self.nodes)
        for ns, lists in self.spaces.items():
            (root / ns).mkdir(exist_ok=True)
            for plural in (
                "events",
                "pods",
                "deployments",
                "replicasets",
                "services",
                "daemonsets",
                "replicationcontrollers",
            ):
                lists.setdefault(plural, [])
            for plural, items in lists.items():
                kind, api = LIST_KINDS[plural]
                self._write_list(root / ns / f"{plural}.json", kind, api, items)
            for pod in lists["pods"]:
                name = pod["metadata"]["name"]
                (root / ns / name).mkdir(exist_ok=True)
                blocks = []
                for c in pod["spec"]["containers"]:
                    lines = self.logs.get((ns, name), {}).get(c["name"], [f"starting {c['name']}"])
                    blocks.append(
                        f"==== START logs for container {c['name']} of pod {ns}/{name} ====\n"
                        + "".join(line + "\n" for line in lines)
                        + f"==== END logs for container {c['name']} of pod {ns}/{name} ====\n"
                    )
                (root / ns / name / "logs.txt").write_text("".join(blocks))
        for (ns, name, cname), lines in self.previous.items():
            (root / ns / name).mkdir(parents=True, exist_ok=True)
            (root / ns / name / f"logs-{cname}-previous.txt").write_text("\n".join(lines) + "\n")
        return root

    @staticmethod
    def _write_list(path: Path, kind: str, api: str, items: list[JSON]) -> None:
        # As in real dumps, the items carry no kind/apiVersion of their own.
        clean = [
            {k: v for k, v in item.items() if k not in {"kind", "apiVersion"}} for item in items
        ]
        path.write_text(
            json.dumps({"kind": kind, "apiVersion": api, "metadata": {}, "items": clean})
        )


def alertmanager(labels: dict[str, str], *, starts: str = "2026-05-01T12:00:00Z") -> JSON:
    """An Alertmanager v4 webhook payload with one firing alert."""
    return {
        "version": "4",
        "status": "firing",
        "receiver": "awoooi",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
        "groupLabels": {},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": "test alert"},
                "startsAt": starts,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus/graph",
                "fingerprint": "0123456789abcdef",
            }
        ],
    }

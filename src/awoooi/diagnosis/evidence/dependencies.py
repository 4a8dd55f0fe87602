"""In-cluster dependencies the target's logs name (`svc.ns.svc.cluster.local`, `svc.ns`,
`pod.svc.ns.svc`): the Service in the source and how many ready pods serve it."""

from __future__ import annotations

import re

from awoooi.diagnosis.evidence.base import JSON, Collection, name_of
from awoooi.diagnosis.evidence.podspec import labels_match
from awoooi.diagnosis.facts import DependencyFact
from awoooi.diagnosis.target import controller_of

SOURCE = "dependencies"
MAX_HOSTS = 3
_HOST = re.compile(
    r"(?<![A-Za-z0-9.\-])((?:[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?\.)+svc(?:\.cluster\.local)?)"
    r"(?![A-Za-z0-9\-])"
)


def split_host(host: str) -> tuple[str, str] | None:
    """(namespace, service) of a cluster DNS name: `svc.ns.svc...` or `pod.svc.ns.svc...`."""
    labels = host.split(".")
    at = labels.index("svc")
    if at < 2:
        return None
    return labels[at - 1], labels[at - 2]


def _workloads_text(workloads: list[JSON]) -> str:
    parts = []
    for obj in workloads[:2]:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        parts.append(
            f"{obj.get('kind')} {name_of(obj)}: {spec.get('replicas', '?')} desired, "
            f"{status.get('readyReplicas') or 0} ready"
        )
    return "; ".join(parts)


async def collect(c: Collection) -> None:
    """Describe the Services behind the cluster host names the collected logs mention."""
    hosts: list[str] = []
    for log in c.facts.logs:
        for line in log.lines:
            for host in _HOST.findall(line):
                if host not in hosts:
                    hosts.append(host)
    for host in hosts[:MAX_HOSTS]:
        parts = split_host(host)
        if parts is None:
            continue
        namespace, service = parts
        svc = await c.source.get_object("Service", namespace, service)
        if svc is None:
            text = f"dependency {host}: no Service {namespace}/{service} in the cluster source"
            c.facts.dependencies.append(DependencyFact(c.book.add(SOURCE, text), host))
            continue
        selector = (svc.get("spec") or {}).get("selector") or {}
        pods = [
            p
            for p in await c.source.list_objects("Pod", namespace)
            if labels_match(selector, (p.get("metadata") or {}).get("labels") or {})
        ]
        ready = sum(
            1
            for p in pods
            if any(
                cond.get("type") == "Ready" and cond.get("status") == "True"
                for cond in (p.get("status") or {}).get("conditions") or []
            )
        )
        owners = sorted({f"{o[0]} {o[1]}" for p in pods if (o := controller_of(p))})
        text = (
            f"dependency {host}: Service {namespace}/{service} has {len(pods)} matching pods, "
            f"{ready} ready"
        )
        if owners:
            text += f" (owned by {', '.join(owners[:3])})"
        elif selector:
            workloads = [
                w
                for kind in ("StatefulSet", "Deployment")
                for w in await c.source.list_objects(kind, namespace)
                if labels_match(
                    selector,
                    ((w.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels")
                    or {},
                )
            ]
            if workloads:
                text += f"; {_workloads_text(workloads)}"
        c.facts.dependencies.append(
            DependencyFact(c.book.add(SOURCE, text), host, f"{namespace}/{service}", ready)
        )

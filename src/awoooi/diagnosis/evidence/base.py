"""What every collector shares: the source, the resolved target, its raw objects, the facts and
the evidence book. `gather` reads the target's objects once; collectors only read from here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from awoooi.diagnosis.evidence.book import EvidenceBook
from awoooi.diagnosis.evidence.podspec import containers, env_literals, pod_spec
from awoooi.diagnosis.facts import Facts
from awoooi.diagnosis.model import Target
from awoooi.diagnosis.source import ClusterSource
from awoooi.diagnosis.target import Resolution, controller_of

JSON = dict[str, Any]
# Pods beyond this many (a large DaemonSet) are summarised, not read one by one.
MAX_PODS = 200


@dataclass(frozen=True)
class ExtraEvidence:
    """A piece of evidence from outside the cluster (knowledge base, drift), not yet numbered."""

    source: str
    text: str


@runtime_checkable
class EvidenceProvider(Protocol):
    """A source of extra evidence about a target (published runbooks, anti-patterns, similar
    incidents, drift items); it is scrubbed and numbered like the rest."""

    async def evidence(self, target: Target, labels: Mapping[str, str]) -> Sequence[ExtraEvidence]:
        """The extra evidence for this target and alert."""
        ...


@dataclass
class Collection:
    """The state collectors share while investigating one target."""

    source: ClusterSource
    resolution: Resolution
    facts: Facts
    book: EvidenceBook
    labels: Mapping[str, str] = field(default_factory=dict)
    workload: JSON | None = None
    replicasets: list[JSON] = field(default_factory=list)
    jobs: list[JSON] = field(default_factory=list)
    pods: list[JSON] = field(default_factory=list)

    @property
    def target(self) -> Target:
        """The resolved target."""
        return self.resolution.target

    @property
    def namespace(self) -> str:
        """The target's namespace ("" for a node)."""
        return self.resolution.target.namespace

    def owner_names(self) -> set[str]:
        """Names of the controllers whose pods belong to the target."""
        names = {self.target.name}
        names.update(name_of(rs) for rs in self.replicasets)
        names.update(name_of(job) for job in self.jobs)
        return names


def name_of(obj: Mapping[str, Any]) -> str:
    """An object's name."""
    return str((obj.get("metadata") or {}).get("name") or "")


def owned_by(obj: Mapping[str, Any], kind: str, names: set[str]) -> bool:
    """Whether the object's controller is a `kind` named in `names`."""
    owner = controller_of(obj)
    return owner is not None and owner[0] == kind and owner[1] in names


async def gather(
    source: ClusterSource,
    resolution: Resolution,
    labels: Mapping[str, str],
    *,
    at: datetime | None,
    book: EvidenceBook,
) -> Collection:
    """Read the target, its ReplicaSets or Jobs and its pods; remember their secret env values."""
    target = resolution.target
    facts = Facts(
        target=target,
        alert_pod=resolution.pod,
        alert_container=resolution.container,
        now=at,
        scrub=book.scrub,
    )
    c = Collection(source, resolution, facts, book, labels)
    ns = target.namespace
    if target.kind == "Node":
        pods = [
            p
            for p in await source.list_objects("Pod")
            if (p.get("spec") or {}).get("nodeName") == target.name
        ]
        c.pods = pods[:MAX_PODS]
    elif target.kind == "Pod":
        pod = await source.get_object("Pod", ns, target.name)
        c.pods = [pod] if pod is not None else []
    else:
        c.workload = await source.get_object(target.kind, ns, target.name)
        if target.kind == "Deployment":
            c.replicasets = [
                rs
                for rs in await source.list_objects("ReplicaSet", ns)
                if owned_by(rs, "Deployment", {target.name})
            ]
        elif target.kind == "CronJob":
            c.jobs = [
                job
                for job in await source.list_objects("Job", ns)
                if owned_by(job, "CronJob", {target.name})
            ]
        owners = {
            "ReplicaSet": {name_of(rs) for rs in c.replicasets},
            "Job": {name_of(job) for job in c.jobs},
        }
        owners.setdefault(target.kind, set()).add(target.name)
        c.pods = [
            pod
            for pod in await source.list_objects("Pod", ns)
            if any(owned_by(pod, kind, names) for kind, names in owners.items() if names)
        ][:MAX_PODS]
    # An alerted pod that exists but is not (or no longer) owned by the target still counts.
    if resolution.pod and all(name_of(p) != resolution.pod for p in c.pods) and ns:
        alerted = await source.get_object("Pod", ns, resolution.pod)
        if alerted is not None:
            c.pods.insert(0, alerted)
    for obj in [c.workload, *c.replicasets, *c.jobs, *c.pods]:
        if obj is None:
            continue
        spec = pod_spec(obj)
        for name, value in env_literals(spec):
            book.scrub.protect_env(name, value)
        for item, _ in containers(spec):
            for key in ("command", "args"):
                if isinstance(item.get(key), list):
                    book.scrub.protect_args([str(a) for a in item[key]])
    return c

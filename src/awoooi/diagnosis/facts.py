"""Structured facts the collectors gather and the analyzers read; each cites its evidence id.

Facts hold what Kubernetes reported (reasons, exit codes, condition types, messages), already
redacted where they are text, and never a Secret value or an environment value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from awoooi.core.redact import redact
from awoooi.diagnosis.model import Target

# Failures older than this before the alert are history, not this incident.
RECENT = timedelta(hours=2)


def parse_time(value: object) -> datetime | None:
    """A Kubernetes timestamp (RFC 3339, `Z` or offset, optional fraction), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def stamp(value: datetime | None) -> str:
    """A timestamp as the evidence shows it (seconds, UTC `Z`)."""
    if value is None:
        return "?"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Condition:
    """One status condition (pod, node, workload, HPA, Job)."""

    type: str
    status: str
    reason: str = ""
    message: str = ""
    since: datetime | None = None


@dataclass
class ContainerFact:
    """A container's spec highlights and its current and last state."""

    name: str
    init: bool = False
    image: str = ""
    ready: bool = False
    started: bool = False
    restarts: int = 0
    state: str = "unknown"  # running | waiting | terminated | unknown
    reason: str = ""  # the waiting or terminated reason
    message: str = ""
    exit_code: int | None = None
    finished: datetime | None = None
    last_reason: str = ""
    last_exit_code: int | None = None
    last_finished: datetime | None = None
    last_message: str = ""
    limits: dict[str, str] = field(default_factory=dict)
    requests: dict[str, str] = field(default_factory=dict)
    probes: tuple[str, ...] = ()  # "liveness httpGet /healthz:8080 every 10s, ..."

    @property
    def failing(self) -> bool:
        """Whether the container is not doing its job: waiting, failed, restarting or unready."""
        if self.state == "waiting" or (self.state == "terminated" and self.exit_code != 0):
            return True
        return not self.init and (not self.ready or (self.restarts > 0 and bool(self.last_reason)))


@dataclass
class PodFact:
    """A pod of the target: phase, conditions, containers, where it runs, what it mounts."""

    name: str
    namespace: str
    evidence: str
    phase: str = ""
    reason: str = ""
    message: str = ""
    node: str = ""
    created: datetime | None = None
    deleting: bool = False
    alerted: bool = False
    owner: str = ""  # its controller's name (a ReplicaSet for a Deployment's pod)
    revision: str = ""  # pod-template-hash or controller-revision-hash
    conditions: dict[str, Condition] = field(default_factory=dict)
    containers: list[ContainerFact] = field(default_factory=list)
    claims: list[str] = field(default_factory=list)
    config_refs: list[str] = field(default_factory=list)  # "ConfigMap x", "Secret y key k"
    placement: list[str] = field(default_factory=list)  # nodeSelector, affinity, tolerations

    @property
    def healthy(self) -> bool:
        """Running with every container ready (a finished Job pod counts as healthy too)."""
        if self.phase == "Succeeded":
            return True
        ready = self.conditions.get("Ready")
        return self.phase == "Running" and ready is not None and ready.status == "True"

    def container(self, name: str) -> ContainerFact | None:
        """The container with this name, if the pod has it."""
        return next((c for c in self.containers if c.name == name), None)


@dataclass
class EventFact:
    """One (folded) event: repeats of the same reason and message on one object are one fact."""

    evidence: str
    type: str
    reason: str
    message: str
    kind: str
    name: str
    field_path: str = ""
    count: int = 1
    first: datetime | None = None
    last: datetime | None = None
    objects: tuple[str, ...] = ()  # every object name the folded events were about


@dataclass
class LogFact:
    """The redacted tail of a container's log (the current or the previous run)."""

    evidence: str
    pod: str
    container: str
    previous: bool
    lines: list[str]


@dataclass
class RevisionFact:
    """One rollout revision (a Deployment's ReplicaSet) and what changed since the one before."""

    evidence: str
    name: str
    number: int
    created: datetime | None
    desired: int
    ready: int
    changes: list[str] = field(default_factory=list)
    newest: bool = False


@dataclass
class WorkloadFact:
    """The target controller's replica counts and conditions."""

    evidence: str
    kind: str
    name: str
    desired: int | None = None
    ready: int | None = None
    available: int | None = None
    updated: int | None = None
    conditions: dict[str, Condition] = field(default_factory=dict)
    current_revision: str = ""
    update_revision: str = ""


@dataclass
class NodeFact:
    """A node the target's pods run on (or the alerted node)."""

    evidence: str
    name: str
    conditions: dict[str, Condition] = field(default_factory=dict)
    unschedulable: bool = False
    taints: list[str] = field(default_factory=list)

    @property
    def not_ready(self) -> bool:
        """Whether the kubelet reports the node not ready, or stopped reporting."""
        ready = self.conditions.get("Ready")
        return ready is not None and ready.status in {"False", "Unknown"}

    @property
    def pressures(self) -> list[str]:
        """The pressure conditions that are True (MemoryPressure, DiskPressure, PIDPressure)."""
        return [
            c.type
            for c in self.conditions.values()
            if c.type.endswith("Pressure") and c.status == "True"
        ]


@dataclass
class HpaFact:
    """A HorizontalPodAutoscaler scaling the target."""

    evidence: str
    name: str
    min_replicas: int | None
    max_replicas: int | None
    current: int | None
    desired: int | None
    conditions: dict[str, Condition] = field(default_factory=dict)
    above_target: list[str] = field(default_factory=list)  # metrics over their target


@dataclass
class PvcFact:
    """A PersistentVolumeClaim the target's pods mount."""

    evidence: str
    name: str
    phase: str
    storage_class: str = ""
    access_modes: tuple[str, ...] = ()


@dataclass
class QuotaFact:
    """A ResourceQuota of the target's namespace: hard limits and use."""

    evidence: str
    name: str
    hard: dict[str, str]
    used: dict[str, str]


@dataclass
class JobFact:
    """A Job (the target, or the CronJob target's latest)."""

    evidence: str
    name: str
    conditions: dict[str, Condition] = field(default_factory=dict)
    active: int = 0
    failed: int = 0
    succeeded: int = 0
    backoff_limit: int | None = None
    deadline_seconds: int | None = None


@dataclass
class ConfigFact:
    """A ConfigMap or Secret the target references that is missing, or lacks the key."""

    evidence: str
    kind: str
    name: str
    key: str | None = None
    optional: bool = False


@dataclass
class DependencyFact:
    """An in-cluster host the target's logs name, and what serves it in the source."""

    evidence: str
    host: str
    service: str = ""  # namespace/name, when the host is a Service of the source
    ready_endpoints: int | None = None


@dataclass
class Facts:
    """Everything the collectors found about one target."""

    target: Target
    alert_pod: str | None = None
    alert_container: str | None = None
    now: datetime | None = None
    workload: WorkloadFact | None = None
    pods: list[PodFact] = field(default_factory=list)
    events: list[EventFact] = field(default_factory=list)
    logs: list[LogFact] = field(default_factory=list)
    revisions: list[RevisionFact] = field(default_factory=list)
    nodes: list[NodeFact] = field(default_factory=list)
    hpas: list[HpaFact] = field(default_factory=list)
    pvcs: list[PvcFact] = field(default_factory=list)
    quotas: list[QuotaFact] = field(default_factory=list)
    jobs: list[JobFact] = field(default_factory=list)
    dependencies: list[DependencyFact] = field(default_factory=list)
    missing_config: list[ConfigFact] = field(default_factory=list)
    # The evidence book's scrubber: findings quote messages and log lines, and are scrubbed
    # with the same knowledge (the target's secret env values) before anyone sees them.
    scrub: Callable[[str], str] = redact

    def pod(self, name: str) -> PodFact | None:
        """The pod with this name, if collected."""
        return next((p for p in self.pods if p.name == name), None)

    def node(self, name: str) -> NodeFact | None:
        """The node with this name, if collected."""
        return next((n for n in self.nodes if n.name == name), None)

    def focus_pods(self) -> list[PodFact]:
        """The pods a verdict rests on: the alerted pod if it exists, else the unhealthy ones."""
        alerted = [p for p in self.pods if p.alerted]
        if alerted:
            return alerted
        return [p for p in self.pods if not p.healthy]

    def events_about(self, *names: str, kind: str | None = None) -> list[EventFact]:
        """Events about any of the named objects (optionally of one kind), newest first."""
        wanted = set(names)
        return [
            e
            for e in self.events
            if (kind is None or e.kind == kind) and wanted.intersection(e.objects or (e.name,))
        ]

    def logs_of(self, pod: str, container: str | None = None) -> list[LogFact]:
        """The log facts of a pod (one container's when named), current run first."""
        found = [
            log
            for log in self.logs
            if log.pod == pod and (container is None or log.container == container)
        ]
        return sorted(found, key=lambda log: log.previous)

    def is_recent(self, when: datetime | None, window: timedelta | None = None) -> bool:
        """Whether a time falls within `window` (default RECENT) before now; unknown times do."""
        if when is None or self.now is None:
            return True
        return when >= self.now - (window or RECENT)

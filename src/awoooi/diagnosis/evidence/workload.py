"""The target and its owner chain: replica counts and conditions of the controller."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from awoooi.diagnosis.evidence.base import Collection
from awoooi.diagnosis.facts import Condition, WorkloadFact, parse_time

SOURCE = "workload"
# Kinds described here; Jobs, nodes, bare pods and claims have collectors of their own.
CONTROLLERS = frozenset(
    {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController"}
)


def conditions_of(status: Mapping[str, Any]) -> dict[str, Condition]:
    """Status conditions by type."""
    found: dict[str, Condition] = {}
    for raw in status.get("conditions") or []:
        if not raw.get("type"):
            continue
        found[str(raw["type"])] = Condition(
            type=str(raw["type"]),
            status=str(raw.get("status") or ""),
            reason=str(raw.get("reason") or ""),
            message=str(raw.get("message") or "").strip(),
            since=parse_time(raw.get("lastTransitionTime") or raw.get("lastUpdateTime")),
        )
    return found


def describe_conditions(conditions: Mapping[str, Condition]) -> str:
    """`Available=False MinimumReplicasUnavailable: Deployment does not have ...; ...`."""
    parts = []
    for c in conditions.values():
        text = f"{c.type}={c.status}" + (f" {c.reason}" if c.reason else "")
        if c.message:
            text += f": {c.message}"
        parts.append(text)
    return "; ".join(parts)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def chain_text(c: Collection) -> str:
    """`pod recs/x → ReplicaSet y → Deployment z` (how the alert led to the target)."""
    chain = c.resolution.chain
    if len(chain) < 2:
        return ""
    return "alert: " + " → ".join(f"{ref.kind} {ref.name}" for ref in chain)


async def collect(c: Collection) -> None:
    """Describe the target controller (Jobs, nodes and bare pods have their own collectors)."""
    target = c.target
    if target.kind not in CONTROLLERS:
        return
    where = f"{target.kind} {target.namespace}/{target.name}"
    chain = chain_text(c)
    if c.workload is None:
        text = f"{where}: not in the cluster source (named by the alert's labels)"
        c.facts.workload = WorkloadFact(c.book.add(SOURCE, text), target.kind, target.name)
        return
    spec = c.workload.get("spec") or {}
    status = c.workload.get("status") or {}
    conditions = conditions_of(status)
    fact = WorkloadFact("", target.kind, target.name, conditions=conditions)
    if target.kind == "DaemonSet":
        fact.desired = _int(status.get("desiredNumberScheduled"))
        fact.ready = _int(status.get("numberReady")) or 0
        fact.available = _int(status.get("numberAvailable")) or 0
        fact.updated = _int(status.get("updatedNumberScheduled")) or 0
        counts = (
            f"{fact.desired} scheduled, {fact.updated} updated, {fact.ready} ready, "
            f"{fact.available} available, {status.get('numberUnavailable') or 0} unavailable"
        )
    else:
        fact.desired = _int(spec.get("replicas"))
        fact.ready = _int(status.get("readyReplicas")) or 0
        fact.available = _int(status.get("availableReplicas")) or 0
        fact.updated = _int(status.get("updatedReplicas")) or 0
        counts = (
            f"{fact.desired if fact.desired is not None else 1} desired, {fact.updated} updated, "
            f"{fact.ready} ready, {fact.available} available"
        )
    if target.kind == "StatefulSet":
        fact.current_revision = str(status.get("currentRevision") or "")
        fact.update_revision = str(status.get("updateRevision") or "")
        if fact.update_revision and fact.update_revision != fact.current_revision:
            counts += f"; rolling from revision {fact.current_revision} to {fact.update_revision}"
    if spec.get("paused"):
        counts += "; rollout paused"
    revision = ((c.workload.get("metadata") or {}).get("annotations") or {}).get(
        "deployment.kubernetes.io/revision"
    )
    text = f"{where}: {counts}" + (f" (revision {revision})" if revision else "")
    described = describe_conditions(conditions)
    if described:
        text += f"; {described}"
    if chain:
        text += f" ({chain})"
    fact.evidence = c.book.add(SOURCE, text)
    c.facts.workload = fact

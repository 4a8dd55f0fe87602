"""Pods the scheduler cannot place: parsed from its own message format,
`0/5 nodes are available: 1 node(s) had untolerated taint {k: v}, 4 Insufficient cpu.`

The default scheduler reports, for each node, the first filter that rejected it (taints and
node affinity run before resource fit): so a node counted as `Insufficient cpu` would have
accepted the pod but for resources, and one such node makes it a resource problem."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

from awoooi.diagnosis.analyzers.common import pod_events, quoted, scoped_pods, unique
from awoooi.diagnosis.analyzers.registry import register
from awoooi.diagnosis.evidence.podspec import quantities
from awoooi.diagnosis.facts import Facts, PodFact
from awoooi.diagnosis.model import Cause, Finding

_ITEM = re.compile(r"(\d+)\s+((?:[^,{}]|\{[^}]*\})+)")
_PRESSURE_TAINT = re.compile(r"node\.kubernetes\.io/(memory|disk|pid)-pressure")
_NOT_READY_TAINT = re.compile(r"node\.kubernetes\.io/(not-ready|unreachable)")
_CATEGORIES = (
    ("resources", re.compile(r"(?i)insufficient \S+|too many pods|didn't have enough resource")),
    (
        "volume",
        re.compile(
            r"(?i)volume node affinity conflict|unbound immediate persistentvolumeclaims"
            r"|didn't find available persistent volumes|persistentvolumeclaim \"[^\"]+\" not found"
            r"|exceed max volume count|volume.*(conflict|not found)"
        ),
    ),
    (
        "constraints",
        re.compile(
            r"(?i)node affinity|node selector|taint|didn't match pod (anti-)?affinity"
            r"|didn't satisfy existing pods anti-affinity|topology spread|unschedulable"
            r"|didn't have free ports|didn't match pod's node|affinity/selector"
        ),
    ),
)


def categorize(message: str) -> Counter[str]:
    """Nodes per rejection category in a FailedScheduling message (preemption text ignored)."""
    body = re.split(r"(?i)\bpreemption:", message, maxsplit=1)[0]
    body = body.split("are available:", 1)[1] if "are available:" in body else body
    counts: Counter[str] = Counter()
    for number, text in _ITEM.findall(body):
        if _PRESSURE_TAINT.search(text):
            counts["pressure"] += int(number)
            continue
        if _NOT_READY_TAINT.search(text):
            counts["not_ready"] += int(number)
            continue
        for name, pattern in _CATEGORIES:
            if pattern.search(text):
                counts[name] += int(number)
                break
    if not counts:
        for name, pattern in _CATEGORIES:
            if pattern.search(body):
                counts[name] += 1
                break
    return counts


def _requests(pod: PodFact) -> str:
    totals = [f"{c.name}: {quantities(c.requests)}" for c in pod.containers if c.requests]
    return "; ".join(totals)


_VERDICTS = (
    ("resources", Cause.UNSCHEDULABLE_RESOURCES, 0.92, "no node has enough free resources"),
    ("volume", Cause.VOLUME, 0.88, "its volumes cannot be bound or placed"),
    ("pressure", Cause.NODE_PRESSURE, 0.85, "nodes are tainted for resource pressure"),
    ("not_ready", Cause.NODE_NOT_READY, 0.85, "nodes are not ready"),
    (
        "constraints",
        Cause.UNSCHEDULABLE_CONSTRAINTS,
        0.9,
        "no node satisfies its taints, affinity or node selector",
    ),
)


@register("unschedulable")
def unschedulable(facts: Facts) -> Iterator[Finding]:
    """UNSCHEDULABLE_RESOURCES / _CONSTRAINTS (or VOLUME, node pressure) from FailedScheduling."""
    for pod, penalty in scoped_pods(facts):
        scheduled = pod.conditions.get("PodScheduled")
        events = pod_events(facts, pod, reasons={"FailedScheduling"})
        message = ""
        if scheduled is not None and scheduled.status == "False" and scheduled.message:
            message = scheduled.message
        elif events and not pod.node:
            message = events[0].message
        if not message:
            continue
        counts = categorize(message)
        cited = unique([pod.evidence, *(e.evidence for e in events[:2])])
        requests = _requests(pod)
        first = True
        for key, cause, sure, why in _VERDICTS:
            if not counts.get(key):
                continue
            # Every other category is a second reading, less likely than the first one found.
            summary = f"pod {pod.name} cannot be scheduled: {why}: {quoted(message, 220)}"
            if requests and key == "resources":
                summary += f" (requests {requests})"
            yield Finding(cause, summary, (sure if first else sure - 0.3) - penalty, cited)
            first = False
        return

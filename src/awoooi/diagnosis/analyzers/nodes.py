"""Node trouble: evictions and pressure conditions (NODE_PRESSURE), a node whose kubelet stopped
reporting or reports not ready (NODE_NOT_READY)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from awoooi.diagnosis.analyzers.common import pod_events, quoted, scoped_pods, unique
from awoooi.diagnosis.analyzers.registry import register
from awoooi.diagnosis.facts import Facts, NodeFact, PodFact
from awoooi.diagnosis.model import Cause, Finding

# kubelet eviction manager: `The node was low on resource: memory.`, `The node had condition:
# [DiskPressure].`, `Pod ephemeral local storage usage exceeds the total limit of containers`.
EVICTION = re.compile(
    r"(?i)(the node was low on resource|the node had condition|ephemeral local storage usage"
    r"|exceeded its local ephemeral storage limit)"
)
_PRESSURE_EVENTS = frozenset(
    {
        "NodeHasInsufficientMemory",
        "NodeHasDiskPressure",
        "NodeHasInsufficientPID",
        "EvictionThresholdMet",
        "FreeDiskSpaceFailed",
        "ImageGCFailed",
    }
)
_NODE_TROUBLE = frozenset(
    {
        "NodeNotReady",
        "NodeHasInsufficientMemory",
        "NodeHasDiskPressure",
        "NodeHasInsufficientPID",
        "EvictionThresholdMet",
        "FreeDiskSpaceFailed",
        "ImageGCFailed",
        "NodeShutdown",
        "Rebooted",
    }
)


def _evicted(pod: PodFact) -> str:
    """The eviction message of an evicted pod, or ""."""
    if pod.reason == "Evicted" or EVICTION.search(pod.message):
        return pod.message or "evicted"
    disruption = pod.conditions.get("DisruptionTarget")
    if (
        disruption is not None
        and disruption.status == "True"
        and EVICTION.search(disruption.message)
    ):
        return disruption.message
    return ""


def _node_events(facts: Facts, node: str) -> list[str]:
    return [
        e.evidence
        for e in facts.events
        if e.kind == "Node" and node in e.objects and e.reason in _NODE_TROUBLE
    ][:3]


def _lost(pod: PodFact, node: NodeFact | None) -> bool:
    disruption = pod.conditions.get("DisruptionTarget")
    return (node is not None and node.not_ready) or (
        disruption is not None and disruption.reason == "DeletionByTaintManager"
    )


@register("node_trouble")
def node_trouble(facts: Facts) -> Iterator[Finding]:
    """NODE_PRESSURE / NODE_NOT_READY for the alerted node, or for the nodes of the pods."""
    if facts.target.kind == "Node":
        node = facts.node(facts.target.name)
        if node is None:
            return
        cited = [node.evidence, *_node_events(facts, node.name)]
        if node.not_ready:
            ready = node.conditions["Ready"]
            yield Finding(
                Cause.NODE_NOT_READY,
                f"node {node.name} is Ready={ready.status} "
                f"({ready.reason}: {quoted(ready.message)})",
                0.93,
                unique(cited),
            )
        if node.pressures:
            yield Finding(
                Cause.NODE_PRESSURE,
                f"node {node.name} reports {', '.join(node.pressures)}",
                0.9,
                unique(cited),
            )
            return
        # Recovered since, but its events (or the pods it evicted) tell what happened.
        evicted_pods = [p for p in facts.pods if _evicted(p)]
        pressure = [e for e in facts.events if e.kind == "Node" and e.reason in _PRESSURE_EVENTS]
        if evicted_pods or pressure:
            yield Finding(
                Cause.NODE_PRESSURE,
                f"node {node.name} was under resource pressure: "
                + quoted(pressure[0].message if pressure else _evicted(evicted_pods[0])),
                0.75,
                unique(
                    [
                        node.evidence,
                        *(e.evidence for e in pressure[:2]),
                        *(p.evidence for p in evicted_pods[:2]),
                    ]
                ),
            )
        not_ready = [e for e in facts.events if e.kind == "Node" and e.reason == "NodeNotReady"]
        if not_ready:
            yield Finding(
                Cause.NODE_NOT_READY,
                f"node {node.name} was not ready: {quoted(not_ready[0].message)}",
                0.7,
                unique([node.evidence, not_ready[0].evidence]),
            )
        return
    for pod, penalty in scoped_pods(facts):
        node = facts.node(pod.node) if pod.node else None
        node_cited = [node.evidence, *_node_events(facts, node.name)] if node else []
        evicted = _evicted(pod)
        if evicted:
            events = pod_events(facts, pod, reasons={"Evicted", "Killing"})
            yield Finding(
                Cause.NODE_PRESSURE,
                f"pod {pod.name} was evicted by the kubelet of node {pod.node or '?'}: "
                f"{quoted(evicted, 200)}",
                0.93 - penalty,
                unique([pod.evidence, *(e.evidence for e in events[:2]), *node_cited]),
            )
            return
        if _lost(pod, node):
            events = pod_events(facts, pod, reasons={"NodeNotReady", "TaintManagerEviction"})
            state = ""
            if node is not None and "Ready" in node.conditions:
                ready = node.conditions["Ready"]
                state = f" (Ready={ready.status} {ready.reason}: {quoted(ready.message)})"
            yield Finding(
                Cause.NODE_NOT_READY,
                f"pod {pod.name} runs on node {pod.node}, which is not ready{state}",
                0.9 - penalty,
                unique([*node_cited, pod.evidence, *(e.evidence for e in events[:2])]),
            )
            return
        if node is not None and node.pressures:
            yield Finding(
                Cause.NODE_PRESSURE,
                f"pod {pod.name} runs on node {node.name}, which reports "
                f"{', '.join(node.pressures)}",
                0.7 - penalty,
                unique([*node_cited, pod.evidence]),
            )
            return

"""Containers the kernel killed for memory: terminated with reason `OOMKilled`."""

from __future__ import annotations

import re
from collections.abc import Iterator

from awoooi.diagnosis.analyzers.common import (
    pod_events,
    recovered,
    scoped_pods,
    terminations,
    unique,
)
from awoooi.diagnosis.analyzers.registry import register
from awoooi.diagnosis.facts import Facts
from awoooi.diagnosis.model import Cause, Finding

# The node's own OOM killer (a system OOM, not the container's cgroup limit).
_SYSTEM_OOM = re.compile(r"(?i)(system oom encountered|out of memory: kill|oom-kill|OOMKilling)")


@register("oom_killed")
def oom_killed(facts: Facts) -> Iterator[Finding]:
    """OOM_KILLED: a recent termination with reason OOMKilled (exit 137 from the OOM killer)."""
    for pod, penalty in scoped_pods(facts):
        for container in pod.containers:
            kills = [t for t in terminations(facts, container) if t[0] == "OOMKilled"]
            if not kills:
                continue
            limit = container.limits.get("memory")
            events = pod_events(
                facts, pod, container=container.name, reasons={"BackOff", "Killing"}
            )
            logs = [log.evidence for log in facts.logs_of(pod.name, container.name)]
            yield Finding(
                Cause.OOM_KILLED,
                f"container {container.name} of pod {pod.name} was OOMKilled (exit code "
                f"{kills[0][1]})"
                + (f", {container.restarts} restarts" if container.restarts else "")
                + f"; memory limit {limit or 'none (killed by node memory pressure)'}",
                0.95 - penalty - recovered(container),
                unique([pod.evidence, *(e.evidence for e in events[:2]), *logs[:2]]),
            )
            return
    node_ooms = [
        e
        for e in facts.events
        if e.kind == "Node" and _SYSTEM_OOM.search(f"{e.reason} {e.message}")
    ]
    if node_ooms and facts.focus_pods():
        yield Finding(
            Cause.OOM_KILLED,
            f"the node's OOM killer fired: {node_ooms[0].message}",
            0.6,
            unique([e.evidence for e in node_ooms[:2]]),
        )

"""Probe failures: the kubelet restarting a container that fails its liveness (or startup) probe,
or keeping a running container out of service because its readiness probe fails."""

from __future__ import annotations

import re
from collections.abc import Iterator

from awoooi.diagnosis.analyzers.common import (
    pod_events,
    probe_kills,
    quoted,
    recovered,
    scoped_pods,
    terminations,
    unique,
)
from awoooi.diagnosis.analyzers.registry import register
from awoooi.diagnosis.facts import Facts
from awoooi.diagnosis.model import Cause, Finding

# kubelet prober: `Liveness probe failed: HTTP probe failed with statuscode: 500`,
# `Readiness probe errored: ...`, `Startup probe failed: ...`.
PROBE_FAILED = re.compile(r"(?i)^(liveness|readiness|startup) probe (failed|errored)")


@register("probe_failure")
def probe_failure(facts: Facts) -> Iterator[Finding]:
    """PROBE_FAILURE: liveness/startup kills (not OOMs), or a running container kept unready."""
    for pod, penalty in scoped_pods(facts):
        for container in pod.containers:
            unhealthy = [
                e
                for e in pod_events(facts, pod, container=container.name, reasons={"Unhealthy"})
                if PROBE_FAILED.search(e.message)
            ]
            kills = probe_kills(facts, pod, container.name)
            logs = [log.evidence for log in facts.logs_of(pod.name, container.name)][:1]
            oom = any(r == "OOMKilled" for r, _ in terminations(facts, container))
            restarting = container.restarts > 0 or bool(terminations(facts, container))
            liveness = [e for e in unhealthy if not e.message.lower().startswith("readiness")]
            if (kills or (liveness and restarting)) and not oom:
                exits = terminations(facts, container)
                exit_text = (
                    f" (exit code {exits[0][1]}, reason {exits[0][0] or '?'})" if exits else ""
                )
                what = liveness[0].message if liveness else kills[0].message
                yield Finding(
                    Cause.PROBE_FAILURE,
                    f"the kubelet restarts container {container.name} of pod {pod.name} for "
                    f"failing its probe{exit_text}: {quoted(what)}",
                    (0.9 if kills else 0.8) - penalty - recovered(container),
                    unique(
                        [
                            *(e.evidence for e in liveness[:2]),
                            *(e.evidence for e in kills[:1]),
                            pod.evidence,
                            *logs,
                        ]
                    ),
                )
                return
            readiness = [e for e in unhealthy if e.message.lower().startswith("readiness")]
            if readiness and container.state == "running" and not container.ready:
                yield Finding(
                    Cause.PROBE_FAILURE,
                    f"container {container.name} of pod {pod.name} runs but fails its readiness "
                    f"probe: {quoted(readiness[0].message)}",
                    0.8 - penalty,
                    unique([readiness[0].evidence, pod.evidence, *logs]),
                )
                return

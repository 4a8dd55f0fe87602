"""Helpers the rules share: which pods count, recent terminations, events of a container."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

from awoooi.diagnosis.facts import ContainerFact, EventFact, Facts, LogFact, PodFact

# Pods outside the alert's focus (siblings of the alerted pod) count for less.
SIBLING_PENALTY = 0.15
RECOVERED_PENALTY = 0.25
# An exit this long before the alert, of a container that has recovered since, is history.
RECOVERED = timedelta(minutes=30)
LOST_REASONS = frozenset({"ContainerStatusUnknown"})
_PROBE_KILL = re.compile(r"(?i)failed (liveness|startup) probe")


def scoped_pods(facts: Facts) -> Iterator[tuple[PodFact, float]]:
    """The focus pods (no penalty), then the target's other unhealthy pods (a penalty)."""
    # A node target's pods have troubles of their own: none of them is the node's.
    if facts.target.kind == "Node":
        return
    focus = facts.focus_pods()
    for pod in focus:
        yield pod, 0.0
    for pod in facts.pods:
        if pod not in focus and not pod.healthy:
            yield pod, SIBLING_PENALTY


def recovered(c: ContainerFact) -> float:
    """What a failure counts for less when its container runs and is ready again now."""
    # A past failure with decisive evidence (an OOM kill, a logged error) still explains the
    # alert; a vague one of a container that has recovered does not (UNKNOWN wins).
    return RECOVERED_PENALTY if c.state == "running" and c.ready else 0.0


def unique(ids: list[str]) -> tuple[str, ...]:
    """Evidence ids in order, without repeats or blanks."""
    return tuple(dict.fromkeys(i for i in ids if i))


def terminations(facts: Facts, c: ContainerFact) -> list[tuple[str, int | None]]:
    """(reason, exit code) of the container's recent exits: its current state, then its last."""
    # A container running and ready again only counts an exit from around the alert's start.
    window = RECOVERED if c.state == "running" and c.ready else None
    found: list[tuple[str, int | None]] = []
    if c.state == "terminated" and facts.is_recent(c.finished):
        found.append((c.reason, c.exit_code))
    if (c.last_reason or c.last_exit_code is not None) and facts.is_recent(c.last_finished, window):
        found.append((c.last_reason, c.last_exit_code))
    # The kubelet lost track of a container on a node going away: not an exit of the process.
    return [t for t in found if t[0] not in LOST_REASONS]


def crashing(facts: Facts, c: ContainerFact) -> bool:
    """Whether the container keeps stopping: back-off, or a recent non-zero or repeated exit."""
    if c.state == "waiting" and c.reason in {"CrashLoopBackOff", "RunContainerError"}:
        return True
    exits = terminations(facts, c)
    return any(code not in (0, None) or reason == "Error" for reason, code in exits) or (
        c.restarts > 0 and bool(exits)
    )


def pod_events(
    facts: Facts, pod: PodFact, *, container: str | None = None, reasons: set[str] | None = None
) -> list[EventFact]:
    """Events about a pod (one container's, by field path, when named), newest first."""
    found = []
    for event in facts.events_about(pod.name, kind="Pod"):
        if reasons is not None and event.reason not in reasons:
            continue
        if container and event.field_path and f"{{{container}}}" not in event.field_path:
            continue
        found.append(event)
    return found


def probe_kills(facts: Facts, pod: PodFact, container: str) -> list[EventFact]:
    """The kubelet's `Container X failed liveness probe, will be restarted` events."""
    return [
        e
        for e in pod_events(facts, pod, container=container, reasons={"Killing"})
        if _PROBE_KILL.search(e.message)
    ]


def logs_for(facts: Facts, pod: PodFact, container: str) -> list[LogFact]:
    """The container's log facts, the current (last) run first."""
    return facts.logs_of(pod.name, container)


def quoted(text: str, limit: int = 160) -> str:
    """A log line or message trimmed for a summary."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"

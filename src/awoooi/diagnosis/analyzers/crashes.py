"""Containers that exit on their own: the log names an unreachable dependency
(DEPENDENCY_FAILURE) or an error of the program itself (APP_CRASH)."""

from __future__ import annotations

from collections.abc import Iterator

from awoooi.diagnosis.analyzers.common import (
    crashing,
    pod_events,
    probe_kills,
    quoted,
    recovered,
    scoped_pods,
    terminations,
    unique,
)
from awoooi.diagnosis.analyzers.registry import register
from awoooi.diagnosis.analyzers.signals import LogVerdict, read_log
from awoooi.diagnosis.facts import ContainerFact, Facts, LogFact, PodFact
from awoooi.diagnosis.model import Cause, Finding

# What an exit code says when the log says nothing (128+n is "killed by signal n").
EXIT_MEANINGS = {
    1: "a general error",
    2: "a Go panic or a misused command",
    126: "a command that cannot run",
    127: "a command not found",
    134: "SIGABRT (abort)",
    137: "SIGKILL",
    139: "SIGSEGV (segmentation fault)",
    143: "SIGTERM",
}


def _verdict(logs: list[LogFact]) -> tuple[LogVerdict | None, LogFact | None]:
    for log in logs:  # the last run first, then the one before
        verdict = read_log(log.lines)
        if verdict is not None:
            return verdict, log
    return None, None


def _exit_text(facts: Facts, container: ContainerFact) -> str:
    exits = terminations(facts, container)
    if not exits:
        return f"restarted {container.restarts} times" if container.restarts else "never exited"
    reason, code = exits[0]
    meaning = EXIT_MEANINGS.get(code or 0, "")
    return (
        f"exits with code {code}"
        + (f" ({meaning})" if meaning else "")
        + (f", reason {reason}" if reason and reason != "Error" else "")
    )


def _findings(
    facts: Facts, pod: PodFact, container: ContainerFact, penalty: float
) -> list[Finding]:
    logs = facts.logs_of(pod.name, container.name)
    verdict, log = _verdict(logs)
    events = pod_events(facts, pod, container=container.name, reasons={"BackOff"})
    cited = [pod.evidence, *(e.evidence for e in events[:1])]
    if log is not None:
        cited.insert(1, log.evidence)
    crashed = crashing(facts, container)
    # A container the kubelet killed for failing its liveness probe did not exit on its own.
    killed = bool(probe_kills(facts, pod, container.name))
    base = penalty + (0.35 if killed else 0.0) + recovered(container)
    exit_text = _exit_text(facts, container)
    found = []
    if verdict is not None and verdict.kind == "dependency":
        deps = [d.evidence for d in facts.dependencies if verdict.host and d.host in verdict.host]
        sure = 0.9 if verdict.host else 0.72
        if not crashed:
            sure -= 0.06  # running but unready, logging that it cannot reach its peer
        peer = f" {verdict.host}" if verdict.host else ""
        found.append(
            Finding(
                Cause.DEPENDENCY_FAILURE,
                f"container {container.name} of pod {pod.name} cannot reach its dependency{peer}"
                f" ({exit_text}): {quoted(verdict.line)}",
                sure - base,
                unique([*cited, *deps]),
            )
        )
        if crashed:
            found.append(
                Finding(
                    Cause.APP_CRASH,
                    f"container {container.name} of pod {pod.name} {exit_text} after failing to "
                    "reach a dependency",
                    0.5 - base,
                    unique(cited),
                )
            )
    elif crashed:
        if verdict is not None:
            summary = (
                f"container {container.name} of pod {pod.name} {exit_text}: {quoted(verdict.line)}"
            )
            sure = 0.85
        else:
            summary = (
                f"container {container.name} of pod {pod.name} {exit_text}; its log shows no "
                "decisive error"
            )
            sure = 0.6
        found.append(Finding(Cause.APP_CRASH, summary, sure - base, unique(cited)))
    return found


@register("crashes")
def crashes(facts: Facts) -> Iterator[Finding]:
    """DEPENDENCY_FAILURE or APP_CRASH for containers that stop (or stay unready) by themselves."""
    for pod, penalty in scoped_pods(facts):
        if pod.phase in {"Failed", "Succeeded"} and pod.reason:
            continue  # evicted, preempted, shut down: stopped from outside (other rules)
        found: list[Finding] = []
        for container in pod.containers:
            if any(reason == "OOMKilled" for reason, _ in terminations(facts, container)):
                continue  # the OOM rule explains it
            if crashing(facts, container) or (container.state == "running" and not container.ready):
                found += _findings(facts, pod, container, penalty)
        if found:
            yield from found
            return

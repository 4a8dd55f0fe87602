"""A bad rollout: the newest revision changed the pod template shortly before the failure, its
pods fail, and the previous revision's pods are healthy (the change, not the world, broke it)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from awoooi.diagnosis.analyzers.common import crashing, probe_kills, terminations, unique
from awoooi.diagnosis.analyzers.registry import register
from awoooi.diagnosis.analyzers.start_failures import CONFIG_REASONS, PULL_REASONS
from awoooi.diagnosis.facts import Facts, PodFact, RevisionFact, stamp
from awoooi.diagnosis.model import Cause, Finding

# "Shortly before": a revision older than this is not what changed today.
ROLLOUT_WINDOW = timedelta(hours=24)
FRESH = timedelta(hours=2)
# A restart (`kubectl rollout restart`) changes only this annotation: not a change of what runs.
_RESTART_ONLY = "template annotations changed: kubectl.kubernetes.io/restartedAt"


def _in_revision(pod: PodFact, name: str) -> bool:
    return pod.owner == name or bool(
        pod.revision and (name == pod.revision or name.endswith("-" + pod.revision))
    )


def _failure_mode(facts: Facts, pods: list[PodFact]) -> str:
    """How the new revision's pods fail: start (config, image), runtime (exits), pending."""
    for pod in pods:
        for c in pod.containers:
            if c.state == "waiting" and c.reason in CONFIG_REASONS | PULL_REASONS:
                return "start"
            if crashing(facts, c) or probe_kills(facts, pod, c.name) or terminations(facts, c):
                return "runtime"
            if c.state == "running" and not c.ready:
                return "runtime"
    return "pending"


def _how(facts: Facts, pods: list[PodFact]) -> str:
    for pod in pods:
        for c in pod.containers:
            exits = terminations(facts, c)
            if c.state == "waiting" and c.reason:
                last = f", last exit code {exits[0][1]} ({exits[0][0]})" if exits else ""
                return f"{c.reason}{last}"
            if exits:
                return f"exit code {exits[0][1]} ({exits[0][0]})"
    return "not ready"


@register("bad_rollout")
def bad_rollout(facts: Facts) -> Iterator[Finding]:
    """BAD_ROLLOUT: the newest revision's pods fail where the previous revision's are healthy."""
    newest, previous = _revisions(facts)
    if newest is None or (previous is None and facts.target.kind == "Deployment"):
        return  # a first revision changed nothing: a new Deployment is not a rollout
    changes = [c for c in newest.changes if c != _RESTART_ONLY]
    if previous is not None and not changes and newest.changes:
        return  # a plain restart: nothing about what runs changed
    if (
        newest.created is not None
        and facts.now is not None
        and (newest.created < facts.now - ROLLOUT_WINDOW)
    ):
        return
    new_pods = [p for p in facts.pods if _in_revision(p, newest.name)]
    failing = [p for p in new_pods if not p.healthy]
    if not failing:
        return
    old_pods = [p for p in facts.pods if p not in new_pods]
    if any(not p.healthy for p in old_pods):
        return  # the older revision fails too: the change is not what differs
    old_healthy = [p for p in old_pods if previous is None or _in_revision(p, previous.name)]
    mode = _failure_mode(facts, failing)
    if old_healthy:
        # The previous revision still serves where the new one fails: whatever the mechanism
        # (a crash, an OOM kill after a limit change, a pull of a new tag, a config reference,
        # requests that no longer fit), the change is the cause; the mechanism comes second.
        sure = {"runtime": 0.96, "start": 0.96, "pending": 0.93}[mode]
    else:
        sure = {"runtime": 0.93, "start": 0.8, "pending": 0.6}[mode]
    if not old_healthy and (previous is None or previous.ready <= 0):
        # Nothing left to compare with: only the timing points at the rollout, strongly when
        # the failures follow it within the hour or two an alert takes to fire.
        fresh = (
            newest.created is not None
            and facts.now is not None
            and (newest.created >= facts.now - FRESH)
        )
        sure -= 0.06 if fresh else 0.18
    if previous is None or not changes:
        sure -= 0.1
    what = "; ".join(changes[:4]) or "the pod template (revision history not in the source)"
    before = (
        f" while {len(old_healthy)} pods of revision {previous.number} stay ready"
        if previous is not None and old_healthy
        else ""
    )
    logs = [log.evidence for p in failing[:1] for log in facts.logs_of(p.name)][:2]
    yield Finding(
        Cause.BAD_ROLLOUT,
        f"revision {newest.number} of {facts.target} ({newest.name}, created "
        f"{stamp(newest.created)}) changed the pod template: {what}; its pods fail "
        f"({_how(facts, failing)})"
        f"{before}",
        sure,
        unique(
            [newest.evidence, failing[0].evidence, *logs, *(p.evidence for p in old_healthy[:1])]
        ),
    )


def _revisions(facts: Facts) -> tuple[RevisionFact | None, RevisionFact | None]:
    """The newest revision and the one before it (StatefulSets: update vs current revision)."""
    revisions = [r for r in facts.revisions if r.number > 0]
    workload = facts.workload
    if facts.target.kind == "StatefulSet" and workload is not None and workload.update_revision:
        if workload.update_revision == workload.current_revision:
            return None, None
        newest = next((r for r in revisions if r.name == workload.update_revision), None)
        previous = next((r for r in revisions if r.name == workload.current_revision), None)
        if newest is None:
            newest = RevisionFact(workload.evidence, workload.update_revision, 0, None, -1, -1)
        return newest, previous
    if not revisions:
        return None, None
    return revisions[0], revisions[1] if len(revisions) > 1 else None

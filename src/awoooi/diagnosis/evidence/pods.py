"""The target's pods: phase, conditions, container states, resources and what they reference."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from awoooi.diagnosis.evidence.base import JSON, Collection, name_of
from awoooi.diagnosis.evidence.podspec import (
    claims,
    config_refs,
    containers,
    placement,
    pod_spec,
    probes,
    quantities,
    resources,
)
from awoooi.diagnosis.evidence.workload import conditions_of
from awoooi.diagnosis.facts import ContainerFact, PodFact, parse_time, stamp
from awoooi.diagnosis.target import controller_of

SOURCE = "pods"
# Pods described one by one; the rest of a large workload is one summary line.
MAX_DESCRIBED = 6
# Conditions worth a word when not True (ContainersReady repeats Ready).
_SHOWN_CONDITIONS = ("PodScheduled", "Initialized", "Ready", "DisruptionTarget")


def _state(raw: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    for key in ("waiting", "terminated", "running"):
        if isinstance(raw.get(key), dict):
            return key, raw[key]
    return "unknown", {}


def _container_fact(
    spec: Mapping[str, Any], init: bool, status: Mapping[str, Any]
) -> ContainerFact:
    requests, limits = resources(spec)
    fact = ContainerFact(
        name=str(spec.get("name") or status.get("name") or "?"),
        init=init,
        image=str(spec.get("image") or status.get("image") or ""),
        ready=bool(status.get("ready")),
        started=bool(status.get("started")),
        restarts=int(status.get("restartCount") or 0),
        requests=requests,
        limits=limits,
        probes=probes(spec),
    )
    state, detail = _state(status.get("state") or {})
    fact.state = state
    fact.reason = str(detail.get("reason") or "")
    fact.message = str(detail.get("message") or "").strip()
    if state == "terminated":
        fact.exit_code = detail.get("exitCode")
        fact.finished = parse_time(detail.get("finishedAt"))
    _, last = _state(status.get("lastState") or {})
    if last:
        fact.last_reason = str(last.get("reason") or "")
        fact.last_exit_code = last.get("exitCode")
        fact.last_finished = parse_time(last.get("finishedAt"))
        fact.last_message = str(last.get("message") or "").strip()
    return fact


def pod_fact(pod: JSON, *, alerted: bool) -> PodFact:
    """The facts of one pod (its evidence id is set by the caller)."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    spec = pod_spec(pod)
    owner = controller_of(pod)
    labels = meta.get("labels") or {}
    fact = PodFact(
        name=name_of(pod),
        namespace=str(meta.get("namespace") or ""),
        evidence="",
        phase=str(status.get("phase") or ""),
        reason=str(status.get("reason") or ""),
        message=str(status.get("message") or "").strip(),
        node=str(spec.get("nodeName") or ""),
        created=parse_time(meta.get("creationTimestamp")),
        deleting=bool(meta.get("deletionTimestamp")),
        alerted=alerted,
        owner=owner[1] if owner else "",
        revision=str(
            labels.get("pod-template-hash") or labels.get("controller-revision-hash") or ""
        ),
        conditions=conditions_of(status),
        claims=claims(spec),
        placement=placement(spec),
    )
    statuses = {
        str(s.get("name")): s
        for s in (status.get("initContainerStatuses") or [])
        + (status.get("containerStatuses") or [])
    }
    for container, init in containers(spec):
        status_of = statuses.get(str(container.get("name")), {})
        fact.containers.append(_container_fact(container, init, status_of))
    for kind, name, key, optional, how in config_refs(spec):
        text = f"{kind} {name}" + (f" key {key}" if key else "") + f" ({how}"
        fact.config_refs.append(text + (", optional)" if optional else ")"))
    return fact


def _describe_container(c: ContainerFact) -> str:
    kind = "init container" if c.init else "container"
    parts = [f"{kind} {c.name}:"]
    if c.state == "waiting":
        parts.append(
            f"waiting {c.reason or '(no reason)'}" + (f" ({c.message})" if c.message else "")
        )
    elif c.state == "terminated":
        parts.append(
            f"terminated {c.reason or '(no reason)'}, exit code {c.exit_code} "
            f"at {stamp(c.finished)}" + (f" ({c.message})" if c.message else "")
        )
    elif c.state == "running":
        parts.append("running, " + ("ready" if c.ready else "not ready"))
    else:
        parts.append("no status yet")
    if c.last_reason or c.last_exit_code is not None:
        parts.append(
            f"; last terminated {c.last_reason or '(no reason)'}, exit code {c.last_exit_code} "
            f"at {stamp(c.last_finished)}" + (f" ({c.last_message})" if c.last_message else "")
        )
    parts.append(f"; restarts {c.restarts}; image {c.image}")
    if c.requests:
        parts.append(f"; requests {quantities(c.requests)}")
    if c.limits:
        parts.append(f"; limits {quantities(c.limits)}")
    else:
        parts.append("; no limits")
    if c.probes:
        parts.append("; probes: " + "; ".join(c.probes))
    return " ".join(parts).replace(" ;", ";")


def describe_pod(p: PodFact) -> str:
    """The pod as one evidence text."""
    tags = []
    if p.alerted:
        tags.append("alerted")
    if p.owner:
        tags.append(f"owner {p.owner}")
    if p.deleting:
        tags.append("terminating")
    head = f"Pod {p.namespace}/{p.name}" + (f" ({', '.join(tags)})" if tags else "")
    head += f" on node {p.node}" if p.node else " (not scheduled to a node)"
    head += f" created {stamp(p.created)}: phase {p.phase or '?'}"
    if p.reason:
        head += f", reason {p.reason}"
    if p.message:
        head += f": {p.message}"
    for name in _SHOWN_CONDITIONS:
        cond = p.conditions.get(name)
        if cond is None or (cond.status == "True") != (name == "DisruptionTarget"):
            continue
        text = f"; {name}={cond.status}" + (f" {cond.reason}" if cond.reason else "")
        if cond.message and cond.message != p.message:
            text += f": {cond.message}"
        head += text
    lines = [head] + [f"  {_describe_container(c)}" for c in p.containers]
    if p.claims:
        lines.append(
            "  volumes: " + ", ".join(f"PersistentVolumeClaim {name}" for name in p.claims)
        )
    if p.config_refs:
        lines.append("  references: " + "; ".join(p.config_refs))
    if p.placement and not p.node:
        lines.append("  placement: " + "; ".join(p.placement))
    return "\n".join(lines)


def _priority(p: PodFact) -> tuple[int, int, str]:
    return (0 if p.alerted else 1, 1 if p.healthy else 0, p.name)


async def collect(c: Collection) -> None:
    """Describe the alerted pod and the target's unhealthy pods; summarise the rest."""
    facts = [pod_fact(pod, alerted=name_of(pod) == c.resolution.pod) for pod in c.pods]
    facts.sort(key=_priority)
    described = facts[:MAX_DESCRIBED]
    rest = facts[MAX_DESCRIBED:]
    for fact in described:
        fact.evidence = c.book.add(SOURCE, describe_pod(fact))
    if rest:
        states = Counter(
            f"{p.phase}/{'ready' if p.healthy else 'not ready'}"
            + (f"/{p.reason}" if p.reason else "")
            for p in rest
        )
        names = ", ".join(p.name for p in rest[:10]) + (" …" if len(rest) > 10 else "")
        text = (
            f"{len(rest)} more pods of {c.target}: "
            + ", ".join(f"{n} {state}" for state, n in states.most_common())
            + f" ({names})"
        )
        summary = c.book.add(SOURCE, text)
        for fact in rest:
            fact.evidence = summary
    if c.resolution.pod and not any(p.alerted for p in facts):
        c.book.add(
            SOURCE,
            f"Pod {c.namespace}/{c.resolution.pod} (alerted) is no longer in the cluster source",
        )
    c.facts.pods = facts

"""Pods the API server refuses to create because a ResourceQuota is used up
(`FailedCreate ... is forbidden: exceeded quota: q, requested: ..., used: ..., limited: ...`)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from awoooi.diagnosis.analyzers.common import quoted, unique
from awoooi.diagnosis.analyzers.registry import register
from awoooi.diagnosis.facts import Facts
from awoooi.diagnosis.model import Cause, Finding

# `exceeded quota: <name>, requested: ...` and `failed quota: <name>: must specify limits.cpu`.
QUOTA = re.compile(r"(?i)(exceeded|failed) quota:\s*([a-z0-9.\-]+)")


@register("quota_exceeded")
def quota_exceeded(facts: Facts) -> Iterator[Finding]:
    """QUOTA_EXCEEDED: the target's controller cannot create pods over a namespace quota."""
    events = [e for e in facts.events if e.type == "Warning" and QUOTA.search(e.message)]
    conditions = []
    if facts.workload is not None:
        conditions = [c for c in facts.workload.conditions.values() if QUOTA.search(c.message)]
    if not events and not conditions:
        return
    message = events[0].message if events else conditions[0].message
    match = QUOTA.search(message)
    name = match.group(2) if match else ""
    quotas = [q.evidence for q in facts.quotas if q.name == name] or [
        q.evidence for q in facts.quotas
    ]
    cited = [*(e.evidence for e in events[:2])]
    if conditions and facts.workload is not None:
        cited.append(facts.workload.evidence)
    yield Finding(
        Cause.QUOTA_EXCEEDED,
        f"pods of {facts.target} cannot be created: {quoted(message, 240)}",
        0.95,
        unique([*cited, *quotas[:2]]),
    )

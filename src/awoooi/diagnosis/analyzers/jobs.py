"""A Job that failed as a whole: condition `Failed` with `BackoffLimitExceeded`,
`DeadlineExceeded` (or another reason the Job controller gives)."""

from __future__ import annotations

from collections.abc import Iterator

from awoooi.diagnosis.analyzers.common import unique
from awoooi.diagnosis.analyzers.registry import register
from awoooi.diagnosis.facts import Facts
from awoooi.diagnosis.model import Cause, Finding

JOB_FAILURES = frozenset(
    {
        "BackoffLimitExceeded",
        "DeadlineExceeded",
        "PodFailurePolicy",
        "MaxFailedIndexesExceeded",
        "FailedIndexes",
    }
)


@register("job_failed")
def job_failed(facts: Facts) -> Iterator[Finding]:
    """JOB_FAILED: the target Job (or the CronJob's latest run) has failed."""
    if facts.target.kind not in {"Job", "CronJob"}:
        return
    for job in facts.jobs:
        failed = job.conditions.get("Failed")
        events = [
            e
            for e in facts.events
            if e.kind == "Job" and job.name in e.objects and e.reason in JOB_FAILURES
        ]
        if failed is not None and failed.status == "True":
            # The Job is what failed; its pods' own reasons (OOM, crash) come second.
            reason, message, sure = failed.reason, failed.message, 0.97
        elif events:
            reason, message, sure = events[0].reason, events[0].message, 0.9
        else:
            continue
        limits = f"backoffLimit {job.backoff_limit}"
        if job.deadline_seconds is not None:
            limits += f", activeDeadlineSeconds {job.deadline_seconds}"
        yield Finding(
            Cause.JOB_FAILED,
            f"Job {job.name} failed: {reason} ({message}; {limits}; {job.failed} failed pods)",
            sure if facts.target.kind == "Job" else sure - 0.05,
            unique([job.evidence, *(e.evidence for e in events[:2])]),
        )
        return

"""Jobs: the target Job (or a CronJob's latest runs): conditions, counts, limits, times."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from awoooi.diagnosis.evidence.base import Collection, name_of
from awoooi.diagnosis.evidence.workload import chain_text, conditions_of, describe_conditions
from awoooi.diagnosis.facts import JobFact, parse_time, stamp

SOURCE = "jobs"
MAX_RUNS = 3


def _describe(job: Mapping[str, Any], fact: JobFact) -> str:
    status = job.get("status") or {}
    text = f"Job {(job.get('metadata') or {}).get('namespace')}/{fact.name}: "
    described = describe_conditions(fact.conditions)
    text += described or "no conditions yet"
    limits = [f"backoffLimit {fact.backoff_limit}"]
    if fact.deadline_seconds is not None:
        limits.append(f"activeDeadlineSeconds {fact.deadline_seconds}")
    text += f" ({', '.join(limits)})"
    started = parse_time(status.get("startTime"))
    finished = parse_time(status.get("completionTime"))
    text += f"; started {stamp(started)}"
    if finished:
        text += f", completed {stamp(finished)}"
    text += f"; {fact.active} active, {fact.succeeded} succeeded, {fact.failed} failed"
    return text


def job_fact(job: Mapping[str, Any]) -> JobFact:
    """The facts of one Job (its evidence id is set by the caller)."""
    spec, status = job.get("spec") or {}, job.get("status") or {}
    deadline = spec.get("activeDeadlineSeconds")
    return JobFact(
        evidence="",
        name=name_of(job),
        conditions=conditions_of(status),
        active=int(status.get("active") or 0),
        failed=int(status.get("failed") or 0),
        succeeded=int(status.get("succeeded") or 0),
        backoff_limit=int(spec.get("backoffLimit", 6)),
        deadline_seconds=deadline if isinstance(deadline, int) else None,
    )


async def collect(c: Collection) -> None:
    """Describe the target Job, or the CronJob and its latest Jobs."""
    if c.target.kind == "Job":
        jobs = [c.workload] if c.workload is not None else []
        if not jobs:
            text = (
                f"Job {c.namespace}/{c.target.name}: not in the cluster source (deleted); "
                "see its events"
            )
            c.facts.jobs.append(JobFact(c.book.add(SOURCE, text), c.target.name))
            return
    elif c.target.kind == "CronJob":
        jobs = sorted(
            c.jobs,
            key=lambda j: str((j.get("metadata") or {}).get("creationTimestamp") or ""),
            reverse=True,
        )[:MAX_RUNS]
        if c.workload is not None:
            spec, status = c.workload.get("spec") or {}, c.workload.get("status") or {}
            c.book.add(
                SOURCE,
                f"CronJob {c.namespace}/{c.target.name}: schedule '{spec.get('schedule')}'"
                f"{', suspended' if spec.get('suspend') else ''}; last scheduled "
                f"{stamp(parse_time(status.get('lastScheduleTime')))}, last successful "
                f"{stamp(parse_time(status.get('lastSuccessfulTime')))}",
            )
    else:
        return
    chain = chain_text(c)
    for job in jobs:
        fact = job_fact(job)
        text = _describe(job, fact) + (f" ({chain})" if chain and c.target.kind == "Job" else "")
        fact.evidence = c.book.add(SOURCE, text)
        c.facts.jobs.append(fact)

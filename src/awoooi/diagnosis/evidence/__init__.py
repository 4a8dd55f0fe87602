"""Evidence collectors, one per source, all read-only: `collect` runs them in order over a
resolved target and returns the structured facts and the numbered, scrubbed evidence."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime

from awoooi.diagnosis.evidence import (
    autoscaling,
    config,
    dependencies,
    events,
    jobs,
    logs,
    nodes,
    pods,
    quota,
    rollout,
    volumes,
    workload,
)
from awoooi.diagnosis.evidence.base import Collection, EvidenceProvider, ExtraEvidence, gather
from awoooi.diagnosis.evidence.book import EvidenceBook, Scrubber
from awoooi.diagnosis.facts import Facts
from awoooi.diagnosis.model import Evidence
from awoooi.diagnosis.source import ClusterSource
from awoooi.diagnosis.target import Resolution

__all__ = [
    "COLLECTORS",
    "Collection",
    "EvidenceBook",
    "EvidenceProvider",
    "ExtraEvidence",
    "Scrubber",
    "collect",
]

Collector = Callable[[Collection], Awaitable[None]]

# Order matters: pods before events (their names), logs before dependencies (their hosts).
COLLECTORS: tuple[Collector, ...] = (
    workload.collect,
    jobs.collect,
    pods.collect,
    events.collect,
    logs.collect,
    config.collect,
    rollout.collect,
    nodes.collect,
    autoscaling.collect,
    volumes.collect,
    quota.collect,
    dependencies.collect,
)


async def collect(
    source: ClusterSource,
    resolution: Resolution,
    labels: Mapping[str, str],
    *,
    at: datetime | None = None,
    providers: Sequence[EvidenceProvider] = (),
) -> tuple[Facts, list[Evidence]]:
    """Gather the facts and evidence about a resolved target (`at`: when the alert started)."""
    book = EvidenceBook()
    collection = await gather(source, resolution, labels, at=at, book=book)
    for collector in COLLECTORS:
        await collector(collection)
    for provider in providers:
        for item in await provider.evidence(resolution.target, labels):
            book.add(item.source, item.text)
    return collection.facts, book.items

"""The drift scan: every desired object compared with its live counterpart, extras found by the
tracking label, each difference analyzed."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from awoooi.core.db import utcnow
from awoooi.drift.analyze import ScanContext, analyze, resource_item
from awoooi.drift.diff import DiffOptions, diff_object
from awoooi.drift.manifests import Manifest, resource_id
from awoooi.drift.report import Change, DriftItem, DriftReport, ResourceId, ScanProblem
from awoooi.drift.settings import DriftSettings
from awoooi.drift.sources import DesiredState, LiveState

LOOKUP_BATCH = 16


async def scan(
    desired: DesiredState,
    live: LiveState,
    settings: DriftSettings,
    *,
    progress: Any = None,
    live_objects: dict[tuple[str, str, str, str], dict[str, Any]] | None = None,
) -> DriftReport:
    """Compare every desired object with live, find extras, and analyze each difference;
    `live_objects` (when given) receives the live object of every drifted resource."""
    report = DriftReport(
        desired_source=desired.source,
        live_source=live.label,
        started_at=utcnow(),
        revision=desired.revision,
        problems=list(desired.problems),
    )
    options = DiffOptions(
        imperative_managers=tuple(settings.imperative_managers),
        gitops_managers=tuple(settings.gitops_managers),
    )
    pairs: list[tuple[Manifest, dict[str, Any] | None]] = []
    seen: set[tuple[str, str, str, str]] = set()
    unique = _unique(desired.manifests, report)
    # A few lookups at a time: a cluster answers GETs in parallel; a dump answers at once.
    for start in range(0, len(unique), LOOKUP_BATCH):
        batch = unique[start : start + LOOKUP_BATCH]
        found = await asyncio.gather(*(live.get(manifest.resource) for manifest in batch))
        pairs.extend(zip(batch, found, strict=True))
        if progress is not None:
            for _ in batch:
                progress()
    # An HPA decides a workload's replicas whether or not Git holds the HPA: a dump or cluster
    # with one but a Git tree without it must not report the scaled replicas as drift.
    context = ScanContext.from_objects(
        [m.obj for m, _ in pairs]
        + [obj for _, obj in pairs if obj is not None]
        + await live.autoscalers()
    )
    for manifest, live_object in pairs:
        resource = manifest.resource
        report.resources += 1
        if live_object is None:
            report.missing += 1
            report.items.append(
                resource_item(
                    resource,
                    Change.MISSING,
                    settings,
                    reason="in Git, not in the cluster",
                    source_file=manifest.source_file,
                    document_index=manifest.document_index,
                    item_index=manifest.item_index,
                )
            )
            continue
        live_id = resource_id(live_object)
        if isinstance(live_id, ResourceId):
            seen.add(live_id.key())
        seen.add(resource.key())
        items = analyze(
            resource,
            diff_object(manifest.obj, live_object, options),
            live_object,
            settings,
            context,
            source_file=manifest.source_file,
            document_index=manifest.document_index,
            item_index=manifest.item_index,
        )
        report.items.extend(items)
        if any(not item.ignored for item in items):
            report.drifted_resources.add(resource.key())
            if live_objects is not None:
                live_objects[resource.key()] = live_object
    _add_extras(report, await _extras(desired, live, settings, seen), settings)
    report.finished_at = utcnow()
    return report


def _unique(manifests: Sequence[Manifest], report: DriftReport) -> list[Manifest]:
    chosen: dict[tuple[str, str, str, str], Manifest] = {}
    for manifest in manifests:
        key = manifest.resource.key()
        if key in chosen:
            first = chosen[key]
            report.problems.append(
                ScanProblem(
                    manifest.source_file,
                    f"{manifest.resource} is also defined in {first.source_file}; "
                    "the first one is used",
                )
            )
            continue
        chosen[key] = manifest
    return list(chosen.values())


async def _extras(
    desired: DesiredState,
    live: LiveState,
    settings: DriftSettings,
    seen: set[tuple[str, str, str, str]],
) -> list[ResourceId]:
    name, _, value = settings.tracking_label.partition("=")
    kinds = {(m.resource.api_version, m.resource.kind) for m in desired.manifests}
    extras = []
    for obj in await live.tracked(kinds, (name, value)):
        found = resource_id(obj)
        if isinstance(found, ResourceId) and found.key() not in seen:
            extras.append(found)
    return sorted(set(extras), key=lambda r: r.key())


def _add_extras(report: DriftReport, extras: list[ResourceId], settings: DriftSettings) -> None:
    for resource in extras:
        report.resources += 1
        report.extra += 1
        item: DriftItem = resource_item(
            resource,
            Change.EXTRA,
            settings,
            reason=f"in the cluster with {settings.tracking_label}, not in Git",
        )
        report.items.append(item)

"""A drift scan: desired state (a directory or Git) against live state (a dump or the cluster)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from awoooi.adapters.git import GitError, checkout
from awoooi.adapters.kube import ClusterReader, KubeError
from awoooi.core.db import utcnow
from awoooi.core.errors import AwoooiError
from awoooi.drift.analyze import ScanContext, analyze, resource_item
from awoooi.drift.diff import DiffOptions, diff_object
from awoooi.drift.manifests import Manifest, load_directory, resource_id
from awoooi.drift.models import DriftItemRecord, DriftReportRecord
from awoooi.drift.report import (
    Change,
    DriftItem,
    DriftReport,
    DriftStatus,
    ReportStatus,
    ResourceId,
    ScanProblem,
)
from awoooi.drift.settings import DriftSettings

LOOKUP_BATCH = 16
_REMOTE = re.compile(r"^(https?|ssh|git|file)://|^[\w.-]+@[\w.-]+:")


class DriftSourceError(AwoooiError):
    """A desired or live source cannot be read at all (bad path, unreachable Git or cluster)."""

    status_code = 422
    code = "drift_source_error"


@dataclass
class DesiredState:
    """The manifests from Git, where they came from, and what could not be read."""

    manifests: list[Manifest]
    problems: list[ScanProblem]
    source: str
    revision: str | None = None


def is_git_url(text: str) -> bool:
    """Whether a desired source is a Git URL (adopt can only write into Git)."""
    return bool(_REMOTE.match(text))


def _inside(root: Path, sub_path: str | None) -> Path:
    if not sub_path:
        return root
    target = (root / sub_path).resolve()
    if not target.is_relative_to(root.resolve()):
        raise DriftSourceError(f"--path {sub_path!r} leaves the repository")
    if not target.exists():
        raise DriftSourceError(f"--path {sub_path!r} does not exist in {root}")
    return target


async def load_desired(
    desired: str,
    *,
    ref: str | None = None,
    sub_path: str | None = None,
    settings: DriftSettings,
    cache_dir: Path,
) -> DesiredState:
    """Read the desired state: a local directory or file, or a Git URL (cloned into a cache)."""
    local = Path(desired)
    revision = None
    exists, is_dir = await asyncio.to_thread(lambda: (local.exists(), local.is_dir()))
    if exists and ref is None:
        root = local
    elif is_dir or _REMOTE.match(desired):
        try:
            checked = await checkout(desired, ref, cache_dir, timeout=settings.git_timeout_seconds)
        except GitError as exc:
            raise DriftSourceError(exc.detail) from exc
        root, revision = checked.path, checked.commit
    else:
        raise DriftSourceError(f"--desired {desired!r} is neither a directory nor a Git URL")
    base = await asyncio.to_thread(_inside, root, sub_path)
    manifests, problems = await load_directory(
        base,
        max_bytes=settings.max_file_bytes,
        max_nodes=settings.max_yaml_nodes,
        kustomize_seconds=settings.kustomize_timeout_seconds,
    )
    return DesiredState(manifests, problems, desired, revision)


class LiveState(Protocol):
    """Where live objects come from."""

    label: str

    async def get(self, resource: ResourceId) -> dict[str, Any] | None:
        """The live counterpart of a desired object, or None when it does not exist."""
        ...

    async def tracked(
        self, kinds: Iterable[tuple[str, str]], selector: tuple[str, str]
    ) -> list[dict[str, Any]]:
        """Live objects of these (apiVersion, kind)s carrying the tracking label."""
        ...


def _labelled(obj: dict[str, Any], selector: tuple[str, str]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return isinstance(labels, dict) and labels.get(selector[0]) == selector[1]


@dataclass
class DumpState:
    """Live state from `kubectl get -A -o yaml` output files (objects or `kind: List`)."""

    objects: dict[tuple[str, str, str, str], dict[str, Any]] = field(default_factory=dict)
    problems: list[ScanProblem] = field(default_factory=list)
    label: str = "dump"

    @classmethod
    async def load(cls, directory: Path, settings: DriftSettings) -> DumpState:
        """Read every object in the dump directory (or file)."""
        if not await asyncio.to_thread(directory.exists):
            raise DriftSourceError(f"--live-dump {str(directory)!r} does not exist")
        manifests, problems = await load_directory(
            directory,
            max_bytes=settings.max_file_bytes,
            max_nodes=settings.max_yaml_nodes,
            render=False,
        )
        state = cls(problems=problems, label=f"dump:{directory}")
        for manifest in manifests:
            state.objects[manifest.resource.key()] = manifest.obj
        return state

    async def get(self, resource: ResourceId) -> dict[str, Any] | None:
        """Look up by group, kind, namespace and name (any version of the group)."""
        group, kind, namespace, name = resource.key()
        found = self.objects.get((group, kind, namespace, name))
        if found is None and not namespace:
            # A namespaced kind written without a namespace lands in "default".
            found = self.objects.get((group, kind, "default", name))
        if found is None and namespace:
            # A cluster-scoped kind written with a namespace (it is ignored by the server).
            candidate = self.objects.get((group, kind, "", name))
            if candidate is not None:
                found = candidate
        return found

    async def tracked(
        self, kinds: Iterable[tuple[str, str]], selector: tuple[str, str]
    ) -> list[dict[str, Any]]:
        """Dump objects of the kinds, with the tracking label."""
        wanted = {(api_version.rpartition("/")[0], kind) for api_version, kind in kinds}
        return [
            obj
            for (group, kind, _ns, _name), obj in self.objects.items()
            if (group, kind) in wanted and _labelled(obj, selector)
        ]


@dataclass
class ClusterState:
    """Live state read from the cluster through the kube adapter."""

    reader: ClusterReader
    label: str = "cluster"

    async def get(self, resource: ResourceId) -> dict[str, Any] | None:
        """GET the object (cluster-scoped kinds ignore the namespace)."""
        # A manifest without a namespace lands in "default", as with `kubectl apply`; the
        # adapter ignores the namespace for cluster-scoped kinds.
        namespace = resource.namespace or "default"
        try:
            return await self.reader.get_object(
                resource.api_version, resource.kind, namespace, resource.name
            )
        except KubeError as exc:
            raise DriftSourceError(f"cannot read {resource}: {exc.detail}") from exc

    async def tracked(
        self, kinds: Iterable[tuple[str, str]], selector: tuple[str, str]
    ) -> list[dict[str, Any]]:
        """LIST each kind with the tracking label."""
        found: list[dict[str, Any]] = []
        for api_version, kind in sorted(set(kinds)):
            try:
                found.extend(
                    await self.reader.list_objects(
                        api_version, kind, label_selector=f"{selector[0]}={selector[1]}"
                    )
                )
            except KubeError as exc:
                raise DriftSourceError(f"cannot list {kind}: {exc.detail}") from exc
        return found


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
    context = ScanContext.from_objects(
        [m.obj for m, _ in pairs] + [obj for _, obj in pairs if obj is not None]
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


@dataclass(frozen=True)
class ScanSources:
    """What a scan reads, kept with its report so rollback and adopt read the same places."""

    desired: str
    ref: str | None = None
    path: str | None = None
    live_dump: str | None = None
    live_context: str | None = None


def encode_segments(segments: Sequence[Any]) -> list[Any]:
    """A path as JSON: keys and indexes as they are, a list-item selector as an object."""
    return [dict(segment) if isinstance(segment, tuple) else segment for segment in segments]


def decode_segments(encoded: Sequence[Any]) -> tuple[Any, ...]:
    """The path back from `encode_segments`."""
    return tuple(
        tuple(segment.items()) if isinstance(segment, dict) else segment for segment in encoded
    )


def report_status(statuses: Iterable[str]) -> ReportStatus:
    """A report's status from its items': DETECTED while any waits, else how they were decided."""
    decided = set(statuses)
    if not decided:
        return ReportStatus.IN_SYNC
    if DriftStatus.DETECTED.value in decided:
        return ReportStatus.DETECTED
    if len(decided) == 1:
        return ReportStatus(decided.pop())
    acted = decided - {DriftStatus.IGNORED.value}
    # Ignored items do not change what was done to the others.
    return ReportStatus(acted.pop()) if len(acted) == 1 else ReportStatus.RESOLVED


async def save_report(
    session: Any,
    report: DriftReport,
    *,
    actor: str,
    sources: ScanSources | None = None,
    record: DriftReportRecord | None = None,
    interpretations: Sequence[dict[str, Any]] = (),
) -> tuple[DriftReportRecord, list[DriftItemRecord]]:
    """Persist a report (into `record` when the scan was queued) and its items, ignored ones
    marked IGNORED; the item records come back in the order of `report.items`."""
    if record is None:
        record = DriftReportRecord(created_by=actor[:128])
        session.add(record)
    record.desired_source = report.desired_source[:2048]
    record.live_source = report.live_source[:2048]
    record.revision = report.revision
    record.started_at = report.started_at
    record.finished_at = report.finished_at
    record.summary = report.summary()
    record.problems = [str(problem) for problem in report.problems]
    record.interpretations = list(interpretations)
    if sources is not None:
        record.desired_ref = sources.ref
        record.desired_path = sources.path
        record.live_dump = sources.live_dump
        record.live_context = sources.live_context
    await session.flush()
    items = []
    for item in report.items:
        status = DriftStatus.IGNORED if item.ignored else DriftStatus.DETECTED
        items.append(
            DriftItemRecord(
                report_id=record.id,
                api_version=item.resource.api_version,
                kind=item.resource.kind,
                namespace=item.resource.namespace,
                name=item.resource.name,
                change=item.change.value,
                path=item.path,
                desired=item.desired,
                live=item.live,
                level=item.level.value,
                ignored=item.ignored,
                reason=item.reason,
                source_file=item.source_file,
                document_index=item.document_index,
                item_index=item.item_index,
                path_segments=encode_segments(item.segments),
                status=status.value,
                status_by=actor[:128] if item.ignored else None,
                status_at=report.finished_at if item.ignored else None,
                status_detail={},
            )
        )
    session.add_all(items)
    await session.flush()
    record.status = report_status(item.status for item in items if not item.ignored).value
    await session.flush()
    return record, items

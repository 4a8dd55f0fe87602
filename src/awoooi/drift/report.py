"""What a drift scan found: `DriftReport` of `DriftItem`s, each with a `DriftLevel`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class DriftLevel(StrEnum):
    """How much a difference matters, most first."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


LEVEL_ORDER = {level: rank for rank, level in enumerate(DriftLevel)}


class DriftStatus(StrEnum):
    """What became of a detected drift."""

    DETECTED = "DETECTED"
    ROLLED_BACK = "ROLLED_BACK"
    ADOPTED = "ADOPTED"
    IGNORED = "IGNORED"


class ReportStatus(StrEnum):
    """Where a saved report stands: queued or failed scans, then what became of its items."""

    QUEUED = "QUEUED"
    FAILED = "FAILED"
    IN_SYNC = "IN_SYNC"
    DETECTED = "DETECTED"  # some item still waits for a decision
    ROLLED_BACK = "ROLLED_BACK"
    ADOPTED = "ADOPTED"
    IGNORED = "IGNORED"
    RESOLVED = "RESOLVED"  # every item decided, not all the same way


class Change(StrEnum):
    """The kind of difference."""

    MODIFIED = "modified"
    ADDED = "added"
    REMOVED = "removed"
    MISSING = "missing"
    EXTRA = "extra"


@dataclass(frozen=True)
class ResourceId:
    """Which object: apiVersion, kind, namespace (None when cluster-scoped), name."""

    api_version: str
    kind: str
    namespace: str | None
    name: str

    @property
    def group(self) -> str:
        """The API group ('' for the core group)."""
        return self.api_version.rpartition("/")[0]

    def key(self) -> tuple[str, str, str, str]:
        """Identity across versions of one group: (group, kind, namespace, name)."""
        return (self.group, self.kind, self.namespace or "", self.name)

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{where}{self.name}"


@dataclass(frozen=True)
class DriftItem:
    """One difference on one resource (paths empty for missing/extra resources)."""

    resource: ResourceId
    change: Change
    path: str
    desired: Any
    live: Any
    level: DriftLevel
    ignored: bool = False
    reason: str = ""
    source_file: str | None = None
    document_index: int | None = None
    item_index: int | None = None  # the object's place in a `kind: List` document
    segments: tuple[Any, ...] = ()  # `path` as segments: key, list index or merge-key selector

    def to_json(self) -> dict[str, Any]:
        """The CLI's JSON shape for an item."""
        return {
            "apiVersion": self.resource.api_version,
            "kind": self.resource.kind,
            "namespace": self.resource.namespace,
            "name": self.resource.name,
            "change": self.change.value,
            "path": self.path,
            "desired": self.desired,
            "live": self.live,
            "level": self.level.value,
            "ignored": self.ignored,
            "reason": self.reason,
        }


@dataclass
class ScanProblem:
    """Something that could not be read (a bad file, an object without a name)."""

    source: str
    message: str
    line: int | None = None
    warning: bool = False  # skipped on purpose (not a manifest), not a failure to read

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.message}"


@dataclass
class DriftReport:
    """A scan's result."""

    desired_source: str
    live_source: str
    started_at: datetime
    finished_at: datetime | None = None
    revision: str | None = None
    resources: int = 0
    items: list[DriftItem] = field(default_factory=list)
    problems: list[ScanProblem] = field(default_factory=list)
    drifted_resources: set[tuple[str, str, str, str]] = field(default_factory=set)
    missing: int = 0
    extra: int = 0

    @property
    def reported(self) -> list[DriftItem]:
        """Items not ignored."""
        return [item for item in self.items if not item.ignored]

    @property
    def in_sync(self) -> int:
        """Resources present on both sides with nothing reported."""
        return self.resources - len(self.drifted_resources) - self.missing - self.extra

    @property
    def has_drift(self) -> bool:
        """Any drift, missing or extra resource reported."""
        return bool(self.reported)

    def summary(self) -> dict[str, int]:
        """The CLI's JSON summary."""
        return {
            "resources": self.resources,
            "in_sync": self.in_sync,
            "drifted": len(self.drifted_resources),
            "missing": self.missing,
            "extra": self.extra,
        }

    def to_json(self, *, show_ignored: bool = False) -> dict[str, Any]:
        """`{"summary", "items"}` as `awoooi drift scan --format json` prints it."""
        items = self.items if show_ignored else self.reported
        return {"summary": self.summary(), "items": [item.to_json() for item in items]}


def report_status(statuses: Iterable[DriftStatus]) -> ReportStatus:
    """A report's status from its items': DETECTED while any waits, else how they were decided."""
    decided = set(statuses)
    if not decided:
        return ReportStatus.IN_SYNC
    if DriftStatus.DETECTED in decided:
        return ReportStatus.DETECTED
    if len(decided) == 1:
        return ReportStatus(decided.pop())
    acted = decided - {DriftStatus.IGNORED}
    # Ignored items do not change what was done to the others.
    return ReportStatus(acted.pop()) if len(acted) == 1 else ReportStatus.RESOLVED

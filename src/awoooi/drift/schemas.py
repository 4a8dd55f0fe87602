"""Drift report shapes on the API."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from awoooi.core.inputs import RowId, Text

# Typing only: the rows are read as objects, and the CLI's --server path builds these models
# from JSON without the ORM.
if TYPE_CHECKING:
    from awoooi.drift.models import DriftItemRecord, DriftReportRecord

ItemIds = Annotated[list[RowId], Field(max_length=10_000)]
Ref = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^\s\x00-\x1f]+$")]
SubPath = Annotated[
    str, StringConstraints(min_length=1, max_length=1024, pattern=r"^[^\x00-\x1f\x7f]+$")
]


class ScanRequest(BaseModel):
    """Queue a scan of the configured sources (optionally another ref or sub-path)."""

    model_config = ConfigDict(extra="forbid")

    ref: Ref | None = None
    # A name, not free text (awoooi.core.inputs): a control character is refused, not replaced.
    path: SubPath | None = None


class ScanQueued(BaseModel):
    """The report a queued scan will fill."""

    report_id: int
    status: str


class ItemsRequest(BaseModel):
    """Act on items of one report (every reported item when `item_ids` is empty)."""

    model_config = ConfigDict(extra="forbid")

    report_id: RowId
    item_ids: ItemIds = Field(default_factory=list)


class RollbackRequest(ItemsRequest):
    """Roll items back to Git by server-side apply."""

    dry_run: bool = False
    force: bool = Field(False, description="Take fields another manager owns (conflicts).")
    delete_extra: bool = Field(False, description="Delete extra resources (live, not in Git).")


class AdoptRequest(ItemsRequest):
    """Write the items' live values into Git."""

    dry_run: bool = False


class IgnoreRequest(ItemsRequest):
    """Accept items as they are; `add_rule` whitelists each field for later scans."""

    item_ids: ItemIds = Field(min_length=1)
    reason: Text = Field("", max_length=500)
    add_rule: bool = False


class DriftItemOut(BaseModel):
    """One difference and what became of it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    api_version: str
    kind: str
    namespace: str | None
    name: str
    change: str
    path: str
    desired: Any
    live: Any
    level: str
    ignored: bool
    reason: str
    source_file: str | None
    document_index: int | None
    status: str
    status_by: str | None
    status_at: datetime | None
    status_detail: dict[str, Any]


class DriftReportSummary(BaseModel):
    """A report without its items."""

    id: int
    status: str
    desired_source: str
    desired_ref: str | None
    desired_path: str | None
    live_source: str
    revision: str | None
    started_at: datetime
    finished_at: datetime | None
    summary: dict[str, int]
    levels: dict[str, int]
    created_by: str
    error: str | None

    @classmethod
    def of(cls, record: DriftReportRecord, levels: dict[str, int]) -> DriftReportSummary:
        """From the record and its per-level counts."""
        return cls(
            id=record.id,
            status=record.status,
            desired_source=record.desired_source,
            desired_ref=record.desired_ref,
            desired_path=record.desired_path,
            live_source=record.live_source,
            revision=record.revision,
            started_at=record.started_at,
            finished_at=record.finished_at,
            summary=record.summary,
            levels=levels,
            created_by=record.created_by,
            error=record.error,
        )


class DriftReportOut(DriftReportSummary):
    """A report with its items, intents and problems."""

    problems: list[str]
    interpretations: list[dict[str, Any]]
    items: list[DriftItemOut]

    @classmethod
    def full(cls, record: DriftReportRecord, items: list[DriftItemRecord]) -> DriftReportOut:
        """From the record with its items loaded."""
        levels: dict[str, int] = {}
        for item in items:
            if not item.ignored:
                levels[item.level] = levels.get(item.level, 0) + 1
        base = DriftReportSummary.of(record, levels).model_dump()
        return cls(
            **base,
            problems=list(record.problems),
            interpretations=list(record.interpretations),
            items=[DriftItemOut.model_validate(item) for item in items],
        )


class DriftReportPage(BaseModel):
    """A page of reports."""

    items: list[DriftReportSummary]
    total: int
    limit: int
    offset: int


class ItemOutcomeOut(BaseModel):
    """What happened to one item."""

    item_id: int
    resource: str
    path: str
    outcome: str
    detail: str
    before: Any = None
    after: Any = None


class ActionOut(BaseModel):
    """The answer to rollback, adopt and ignore."""

    report_id: int
    action: str
    dry_run: bool
    ok: bool
    report_status: str
    commit: str | None
    branch: str | None
    diff: str
    items: list[ItemOutcomeOut]

"""Shared by rollback, adopt and ignore: the answer's shape, which items a request names, and
how an item's decision is recorded."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.core.db import utcnow
from awoooi.core.errors import AwoooiError, InvalidInputError, NotFoundError
from awoooi.drift import repository
from awoooi.drift.analyze import clean_value, masked_value
from awoooi.drift.models import DriftItemRecord, DriftReportRecord
from awoooi.drift.paths import ABSENT
from awoooi.drift.report import DriftStatus, ReportStatus, ResourceId, report_status


class RemediationRefused(AwoooiError):
    """The action cannot be done on these items (the detail says why)."""

    status_code = 409
    code = "drift_action_refused"


@dataclass
class ItemOutcome:
    """What happened to one item."""

    item_id: int
    resource: str
    path: str
    outcome: str  # rolled_back | adopted | ignored | would_change | unchanged | skipped | failed
    detail: str = ""
    before: Any = None
    after: Any = None

    def to_json(self) -> dict[str, Any]:
        """The API's shape."""
        return {
            "item_id": self.item_id,
            "resource": self.resource,
            "path": self.path,
            "outcome": self.outcome,
            "detail": self.detail,
            "before": self.before,
            "after": self.after,
        }


@dataclass
class ActionResult:
    """The answer to a rollback, adopt or ignore request."""

    report_id: int
    action: str
    dry_run: bool
    items: list[ItemOutcome] = field(default_factory=list)
    commit: str | None = None
    branch: str | None = None
    diff: str = ""
    report_status: str = ""

    @property
    def ok(self) -> bool:
        """Nothing failed."""
        return all(item.outcome != "failed" for item in self.items)

    def to_json(self) -> dict[str, Any]:
        """The API's shape."""
        return {
            "report_id": self.report_id,
            "action": self.action,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "report_status": self.report_status,
            "commit": self.commit,
            "branch": self.branch,
            "diff": self.diff,
            "items": [item.to_json() for item in self.items],
        }


def resource_of(item: DriftItemRecord) -> ResourceId:
    return ResourceId(item.api_version, item.kind, item.namespace, item.name)


def shown_value(item: DriftItemRecord, value: Any) -> Any:
    """A value as it may be shown: Secret values fingerprinted, secret-shaped text redacted."""
    if value is ABSENT:
        return None
    if item.kind == "Secret":
        return masked_value(value)
    return clean_value(value)


async def load_report(session: AsyncSession, report_id: int) -> DriftReportRecord:
    record = await repository.get_report(session, report_id, for_update=True)
    if record is None:
        raise NotFoundError(f"no drift report {report_id}")
    if record.status in {ReportStatus.QUEUED, ReportStatus.FAILED}:
        raise RemediationRefused(f"drift report {report_id} is {record.status}: nothing to act on")
    return record


def chosen_items(
    record: DriftReportRecord, item_ids: Sequence[int], *, limit: int
) -> list[DriftItemRecord]:
    """The named items of the report (every reported one when none are named)."""
    if len(item_ids) > limit:
        raise InvalidInputError(f"at most {limit} items per request (got {len(item_ids)})")
    by_id = {item.id: item for item in record.items}
    if not item_ids:
        return [item for item in record.items if not item.ignored]
    unknown = sorted(set(item_ids) - set(by_id))
    if unknown:
        raise NotFoundError(
            f"drift report {record.id} has no item {', '.join(map(str, unknown[:10]))}"
        )
    return [by_id[item_id] for item_id in dict.fromkeys(item_ids)]


def decide(item: DriftItemRecord, status: DriftStatus, actor: str, detail: dict[str, Any]) -> None:
    item.status = status
    item.status_by = actor[:128]
    item.status_at = utcnow()
    item.status_detail = detail


def refresh_status(record: DriftReportRecord) -> ReportStatus:
    """Recompute the report's status from its items' (the ignored ones aside)."""
    record.status = report_status(item.status for item in record.items if not item.ignored)
    return record.status


def undecided(items: list[DriftItemRecord], result: ActionResult) -> list[DriftItemRecord]:
    """Items still DETECTED; the others are reported as skipped (deciding twice is a no-op)."""
    waiting = []
    for item in items:
        if item.status == DriftStatus.DETECTED:
            waiting.append(item)
        else:
            result.items.append(
                ItemOutcome(
                    item.id,
                    str(resource_of(item)),
                    item.path,
                    "skipped",
                    f"already {item.status} by {item.status_by or '?'}",
                )
            )
    return waiting

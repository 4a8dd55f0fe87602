"""Drift: saved reports, one report's items grouped by resource with their level and probable
intent, and what an operator does with them: roll back (the dry run's diff shown before the
confirm), adopt into Git (the Git diff shown before the confirm), or ignore (optionally with a
rule for later scans)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from awoooi.console.deps import OperatorCaller, RuntimeDep, SessionDep, User
from awoooi.console.diffs import DiffLine, diff_lines, value_diff
from awoooi.console.forms import choice
from awoooi.console.routing import ConsoleRoute
from awoooi.console.templates import render
from awoooi.core.errors import InvalidInputError, NotFoundError
from awoooi.core.inputs import MAX_ROW_ID, RowId, Text
from awoooi.drift import repository
from awoooi.drift.decisions import ActionResult, ItemOutcome
from awoooi.drift.models import DriftItemRecord, DriftReportRecord
from awoooi.drift.report import LEVEL_ORDER, DriftLevel, DriftStatus, ReportStatus
from awoooi.drift.scanning import configured_sources, request_scan

router = APIRouter(prefix="/ui", route_class=ConsoleRoute, include_in_schema=False)

PAGE_SIZE = 50
SHORT_VALUE_CHARS = 160
ReportId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
ItemIds = Annotated[list[RowId], Form(max_length=10_000)]
Flag = Annotated[bool, Form()]
NOTICES = {
    "queued": "Scan queued: the report fills in when a worker has read Git and the cluster.",
    "ignored": "Ignored: those items are accepted as they are live.",
    "ignored_rule": "Ignored, and a rule added: later scans leave those fields out.",
}


def short(value: Any) -> str:
    """A stored value on one line, cut to a readable length."""
    if value is None:
        return "(absent)"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= SHORT_VALUE_CHARS else text[: SHORT_VALUE_CHARS - 1] + "…"


@router.get("/drift")
async def drift_reports(
    request: Request,
    session: SessionDep,
    user: User,
    status: Annotated[str | None, Query(max_length=32)] = None,
    level: Annotated[str | None, Query(max_length=32)] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    notice: str | None = None,
) -> Response:
    """Saved reports, newest first, with their reported items per level."""
    status_filter = choice(ReportStatus, status, "status")
    level_filter = choice(DriftLevel, level, "level")
    records, total = await repository.list_reports(
        session, status=status_filter, level=level_filter, limit=PAGE_SIZE, offset=offset
    )
    counts = await repository.level_counts(session, [record.id for record in records])
    filters = {"status": status_filter, "level": level_filter}
    shown = {key: value.value for key, value in filters.items() if value is not None}
    return render(
        request,
        "drift.html",
        {
            "active": "drift",
            "reports": records,
            "counts": counts,
            "levels": list(DriftLevel),
            "statuses": list(ReportStatus),
            "total": total,
            "offset": offset,
            "page_size": PAGE_SIZE,
            "filters": shown,
            "page_query": lambda at: urlencode({**shown, "offset": at}),
            "notice": NOTICES.get(notice or ""),
        },
    )


@router.post("/drift/scan")
async def drift_scan(session: SessionDep, runtime: RuntimeDep, caller: OperatorCaller) -> Response:
    """Queue a scan of the configured sources (the service the API calls, audited)."""
    sources = configured_sources(
        runtime.settings.drift, cluster_available=runtime.cluster_configured()
    )
    record = await request_scan(session, sources, caller=caller)
    return RedirectResponse(f"/ui/drift/{record.id}?notice=queued", status_code=303)


@dataclass
class ResourceGroup:
    """One resource's items, its worst level and its interpretation (when the scan made one)."""

    label: str
    items: list[DriftItemRecord] = field(default_factory=list)
    interpretation: dict[str, Any] | None = None

    @property
    def level(self) -> str:
        """The most serious level of the reported items (of all, when every one is ignored)."""
        reported = [item for item in self.items if not item.ignored] or self.items
        return min((DriftLevel(item.level) for item in reported), key=LEVEL_ORDER.__getitem__)


def _label(kind: str, namespace: str | None, name: str) -> str:
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


def group_items(record: DriftReportRecord, items: list[DriftItemRecord]) -> list[ResourceGroup]:
    """Items by resource, in the order a person scans a report (namespace, kind, name)."""
    groups: dict[tuple[str, str, str, str], ResourceGroup] = {}
    for item in items:
        key = (item.namespace or "", item.kind, item.name, item.api_version.rpartition("/")[0])
        if key not in groups:
            groups[key] = ResourceGroup(_label(item.kind, item.namespace, item.name))
        groups[key].items.append(item)
    for found in record.interpretations:
        key = (
            str(found.get("namespace") or ""),
            str(found.get("kind", "")),
            str(found.get("name", "")),
            str(found.get("apiVersion", "")).rpartition("/")[0],
        )
        if key in groups:
            groups[key].interpretation = found
    return [groups[key] for key in sorted(groups)]


async def _report(session: SessionDep, report_id: int) -> DriftReportRecord:
    record = await repository.get_report(session, report_id)
    if record is None:
        raise NotFoundError(f"no drift report {report_id}")
    return record


@router.get("/drift/{report_id}")
async def drift_report(
    request: Request,
    report_id: ReportId,
    session: SessionDep,
    user: User,
    show_ignored: bool = False,
    notice: str | None = None,
) -> Response:
    """One report: its facts and problems, and its items grouped by resource."""
    record = await _report(session, report_id)
    items = [item for item in record.items if show_ignored or not item.ignored]
    hidden = sum(1 for item in record.items if item.ignored) if not show_ignored else 0
    undecided = [item for item in items if item.status == DriftStatus.DETECTED]
    return render(
        request,
        "drift_report.html",
        {
            "active": "drift",
            "report": record,
            "groups": group_items(record, items),
            "hidden": hidden,
            "show_ignored": show_ignored,
            "can_act": bool(undecided) and user.can("operator"),
            "short": short,
            "notice": NOTICES.get(notice or ""),
        },
    )


def _chosen(item_ids: list[int]) -> list[int]:
    if not item_ids:
        raise InvalidInputError("choose at least one item (tick its box), then the action")
    return item_ids


@dataclass(frozen=True)
class OutcomeView:
    """One item's outcome with the diff a person reads before confirming."""

    outcome: ItemOutcome
    diff: list[DiffLine]


def _rollback_views(result: ActionResult) -> list[OutcomeView]:
    views = []
    for outcome in result.items:
        diff: list[DiffLine] = []
        if outcome.outcome in {"would_change", "rolled_back"} and outcome.path:
            diff = value_diff(
                outcome.before,
                outcome.after,
                before_label=f"live   {outcome.resource} {outcome.path}",
                after_label=f"after  {outcome.resource} {outcome.path}",
            )
        views.append(OutcomeView(outcome, diff))
    return views


def _result_page(
    request: Request,
    record: DriftReportRecord,
    result: ActionResult,
    *,
    chosen: list[int],
    options: dict[str, bool],
) -> Response:
    action = result.action
    waiting = any(item.outcome == "would_change" for item in result.items)
    return render(
        request,
        "drift_action.html",
        {
            "active": "drift",
            "report": record,
            "result": result,
            "action": action,
            "verb": "Rollback" if action == "rollback" else "Adopt",
            "views": _rollback_views(result) if action == "rollback" else [],
            "git_diff": diff_lines(result.diff) if result.diff else [],
            "chosen": chosen,
            "options": options,
            "can_confirm": result.dry_run and waiting,
        },
    )


def _previewing(request: Request) -> bool:
    """A form posted to `…/preview` asks for the dry run; the same form without it confirms."""
    return request.url.path.endswith("/preview")


@router.post("/drift/{report_id}/rollback/preview")
@router.post("/drift/{report_id}/rollback")
async def rollback(
    request: Request,
    report_id: ReportId,
    session: SessionDep,
    runtime: RuntimeDep,
    caller: OperatorCaller,
    item: ItemIds = [],  # noqa: B006 - FastAPI copies defaults per request
    force: Flag = False,
    delete_extra: Flag = False,
) -> Response:
    """Roll back as a dry run (`…/preview`: what would change, nothing changed) or for real once
    the preview was confirmed (server-side apply of Git's state): the API's rollback."""
    chosen = _chosen(item)
    result = await runtime.drift.rollback(
        session,
        report_id,
        chosen,
        caller=caller,
        dry_run=_previewing(request),
        force=force,
        delete_extra=delete_extra,
    )
    record = await _report(session, report_id)
    options = {"force": force, "delete_extra": delete_extra}
    return _result_page(request, record, result, chosen=chosen, options=options)


@router.post("/drift/{report_id}/adopt/preview")
@router.post("/drift/{report_id}/adopt")
async def adopt(
    request: Request,
    report_id: ReportId,
    session: SessionDep,
    runtime: RuntimeDep,
    caller: OperatorCaller,
    item: ItemIds = [],  # noqa: B006 - FastAPI copies defaults per request
) -> Response:
    """Adopt as a dry run (`…/preview`: the Git diff it would commit, nothing pushed) or for real
    once its diff was confirmed (commit the live values and push): the API's adopt."""
    chosen = _chosen(item)
    result = await runtime.drift.adopt(
        session, report_id, chosen, caller=caller, dry_run=_previewing(request)
    )
    record = await _report(session, report_id)
    return _result_page(request, record, result, chosen=chosen, options={})


@router.post("/drift/{report_id}/ignore")
async def ignore(
    report_id: ReportId,
    session: SessionDep,
    runtime: RuntimeDep,
    caller: OperatorCaller,
    item: ItemIds = [],  # noqa: B006 - FastAPI copies defaults per request
    reason: Annotated[Text, Form(max_length=500)] = "",
    add_rule: Flag = False,
) -> Response:
    """Accept items as they are live; with a rule, later scans leave those fields out."""
    await runtime.drift.ignore(
        session,
        report_id,
        _chosen(item),
        caller=caller,
        reason=reason.strip(),
        add_rule=add_rule,
    )
    notice = "ignored_rule" if add_rule else "ignored"
    return RedirectResponse(f"/ui/drift/{report_id}?notice={notice}", status_code=303)

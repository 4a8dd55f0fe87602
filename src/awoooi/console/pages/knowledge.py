"""Knowledge: the review queue of DRAFT entries (approve, or reject with a reason), one entry
with its Markdown rendered and sanitized, editing, search, and the anti-patterns with the time
left in their window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request, Response
from markupsafe import Markup

from awoooi.console.deps import OperatorCaller, RuntimeDep, SessionDep, User
from awoooi.console.forms import choice, text_filter
from awoooi.console.markdown import markdown_html
from awoooi.console.routing import ConsoleRoute, back_with_notice
from awoooi.console.templates import render
from awoooi.core.auth import require
from awoooi.core.db import utcnow
from awoooi.core.errors import InvalidInputError
from awoooi.core.inputs import MAX_ROW_ID, Text
from awoooi.core.models import Role
from awoooi.knowledge import search as kb_search
from awoooi.knowledge import service
from awoooi.knowledge.models import EntryStatus, EntryType, KnowledgeEntry
from awoooi.knowledge.schemas import MAX_CONTENT_CHARS

router = APIRouter(prefix="/ui", route_class=ConsoleRoute, include_in_schema=False)

SHOWN = 50
# A draft longer than this is read on its own page, not inside the queue.
PREVIEW_CHARS = 20_000
MAX_LIST_ITEMS = 50
MAX_TAG_CHARS = 64
EntryId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
NOTICES = {
    "approved": "Approved: the entry is PUBLISHED and shows with incidents of its symptoms.",
    "rejected": "Rejected: the entry stays out of the knowledge base; the reason is kept.",
    "saved": "Saved as a new version; the previous text is kept.",
}


@dataclass(frozen=True)
class AntiPatternRow:
    """A published anti-pattern and when its window (the time it blocks the same fix) ends."""

    entry: KnowledgeEntry
    ends: datetime | None
    left: str


def time_left(ends: datetime | None, now: datetime) -> str:
    """What is left of a window, e.g. "6 d 23 h left"; "window over" once it ended."""
    if ends is None:
        return "not published"
    remaining = ends - now
    if remaining <= timedelta(0):
        return "window over"
    hours = int(remaining.total_seconds() // 3600)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h left"
    minutes = int(remaining.total_seconds() // 60) % 60
    return f"{hours} h {minutes} min left" if hours else f"{max(minutes, 1)} min left"


def _anti_pattern_rows(entries: list[KnowledgeEntry], days: float) -> list[AntiPatternRow]:
    now = utcnow()
    rows = []
    for entry in entries:
        ends = entry.published_at + timedelta(days=days) if entry.published_at else None
        rows.append(AntiPatternRow(entry, ends, time_left(ends, now)))
    # Those still blocking first, the one ending soonest on top.
    return sorted(rows, key=lambda row: (row.left == "window over", row.ends or now))


def _preview(entry: KnowledgeEntry) -> Markup | None:
    """A draft's text for reading inside the queue; None when it is too long for that."""
    return markdown_html(entry.content) if len(entry.content) <= PREVIEW_CHARS else None


@router.get("/knowledge")
async def knowledge_home(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    user: User,
    notice: str | None = None,
) -> Response:
    """Drafts waiting for review, and the published anti-patterns with their windows."""
    drafts, drafts_total = await kb_search.list_entries(
        session, kb_search.Filters(status=EntryStatus.DRAFT.value), limit=SHOWN, offset=0
    )
    anti, _anti_total = await kb_search.list_entries(
        session,
        kb_search.Filters(
            entry_type=EntryType.ANTI_PATTERN.value, status=EntryStatus.PUBLISHED.value
        ),
        limit=SHOWN,
        offset=0,
    )
    days = runtime.settings.knowledge.anti_pattern_days
    return render(
        request,
        "knowledge.html",
        {
            "active": "knowledge",
            "drafts": [(entry, _preview(entry)) for entry in drafts],
            "drafts_total": drafts_total,
            "anti_patterns": _anti_pattern_rows(anti, days),
            "window_days": days,
            "types": list(EntryType),
            "statuses": list(EntryStatus),
            "notice": NOTICES.get(notice or ""),
        },
    )


@router.get("/knowledge/search")
async def knowledge_search(
    request: Request,
    session: SessionDep,
    user: User,
    q: Annotated[str | None, Query(max_length=500)] = None,
    type: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Response:
    """Ranked full-text search with snippets (the API's search); without words, newest first."""
    entry_type = choice(EntryType, type, "type")
    entry_status = choice(EntryStatus, status, "status")
    filters = kb_search.Filters(
        entry_type=entry_type.value if entry_type else None,
        status=entry_status.value if entry_status else None,
    )
    query = text_filter(q) or ""
    hits: list[tuple[KnowledgeEntry, str]]
    if kb_search.query_terms(query):
        found, total = await kb_search.search(session, query, filters, limit=SHOWN, offset=offset)
        hits = [(hit.entry, hit.snippet) for hit in found]
    else:
        entries, total = await kb_search.list_entries(session, filters, limit=SHOWN, offset=offset)
        hits = [(entry, entry.content[:200]) for entry in entries]
    shown = {
        key: value
        for key, value in {
            "q": query,
            "type": entry_type.value if entry_type else "",
            "status": entry_status.value if entry_status else "",
        }.items()
        if value
    }
    return render(
        request,
        "knowledge_search.html",
        {
            "active": "knowledge",
            "hits": hits,
            "total": total,
            "offset": offset,
            "page_size": SHOWN,
            "filters": shown,
            "types": list(EntryType),
            "statuses": list(EntryStatus),
            "page_query": lambda at: urlencode({**shown, "offset": at}),
        },
    )


@router.get("/knowledge/{entry_id}")
async def knowledge_entry(
    request: Request,
    entry_id: EntryId,
    session: SessionDep,
    runtime: RuntimeDep,
    user: User,
    notice: str | None = None,
) -> Response:
    """One entry: its text rendered (sanitized), its facts, and review actions for a DRAFT."""
    entry = await service.get_entry(session, entry_id)
    versions = await service.list_versions(session, entry_id)
    ends = None
    if entry.entry_type is EntryType.ANTI_PATTERN and entry.published_at is not None:
        ends = entry.published_at + timedelta(days=runtime.settings.knowledge.anti_pattern_days)
    return render(
        request,
        "knowledge_entry.html",
        {
            "active": "knowledge",
            "entry": entry,
            "body": markdown_html(entry.content),
            "versions": versions,
            "window_ends": ends,
            "window_left": time_left(ends, utcnow()) if ends else "",
            "notice": NOTICES.get(notice or ""),
        },
    )


@router.get("/knowledge/{entry_id}/edit")
async def knowledge_edit_form(
    request: Request, entry_id: EntryId, session: SessionDep, user: User
) -> Response:
    """The edit form (operators and admins)."""
    require(user.principal, Role.OPERATOR)
    entry = await service.get_entry(session, entry_id)
    return render(request, "knowledge_edit.html", {"active": "knowledge", "entry": entry})


def _names(value: str, field: str) -> list[str]:
    """A comma-separated list of tags or services, each checked as the API checks them."""
    names = [name.strip() for name in value.split(",") if name.strip()]
    if len(names) > MAX_LIST_ITEMS:
        raise InvalidInputError(f"{field}: at most {MAX_LIST_ITEMS} (got {len(names)})")
    long = [name for name in names if len(name) > MAX_TAG_CHARS]
    if long:
        raise InvalidInputError(f"{field}: {long[0][:40]!r}… is over {MAX_TAG_CHARS} characters")
    return names


def _back(entry_id: int, notice: str, next_path: str = "") -> Response:
    return back_with_notice(next_path, f"/ui/knowledge/{entry_id}", notice)


@router.post("/knowledge/{entry_id}/edit")
async def knowledge_edit(
    entry_id: EntryId,
    session: SessionDep,
    caller: OperatorCaller,
    title: Annotated[Text, Form(min_length=1, max_length=300)],
    content: Annotated[Text, Form(max_length=MAX_CONTENT_CHARS)] = "",
    category: Annotated[Text, Form(max_length=64)] = "",
    tags: Annotated[Text, Form(max_length=4000)] = "",
    services: Annotated[Text, Form(max_length=4000)] = "",
) -> Response:
    """Save an edit (the service the API calls): a new version, the old text kept; audited."""
    if not title.strip():
        raise InvalidInputError("title: a title is required")
    await service.update_entry(
        session,
        entry_id,
        caller=caller,
        title=title.strip(),
        # A browser sends a textarea's line breaks as CRLF; the stored text keeps LF.
        content=content.replace("\r\n", "\n"),
        category=category.strip(),
        tags=_names(tags, "tags"),
        services=_names(services, "services"),
    )
    return _back(entry_id, "saved")


@router.post("/knowledge/{entry_id}/approve")
async def knowledge_approve(
    entry_id: EntryId,
    session: SessionDep,
    caller: OperatorCaller,
    note: Annotated[Text, Form(max_length=4000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Publish a DRAFT (a human reviewed it); audited as the API's approval is."""
    await service.approve_entry(session, entry_id, caller=caller, note=note.strip() or None)
    return _back(entry_id, "approved", next)


@router.post("/knowledge/{entry_id}/reject")
async def knowledge_reject(
    entry_id: EntryId,
    session: SessionDep,
    caller: OperatorCaller,
    reason: Annotated[Text, Form(max_length=4000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Reject a DRAFT with a reason (required); audited."""
    await service.reject_entry(session, entry_id, caller=caller, reason=reason)
    return _back(entry_id, "rejected", next)

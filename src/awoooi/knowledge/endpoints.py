"""Knowledge endpoints: CRUD with versions, review, search, anti-pattern check, similar entries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from awoooi.api.deps import OperatorCaller, RowIdPath, RuntimeDep, SessionDep, Viewer
from awoooi.api.routing import AuthBeforeBodyRoute
from awoooi.core.errors import NotFoundError
from awoooi.incidents import repository as incidents
from awoooi.knowledge import search as kb_search
from awoooi.knowledge import service
from awoooi.knowledge.models import EntrySource, EntryStatus, EntryType
from awoooi.knowledge.schemas import (
    EntryCreate,
    EntryOut,
    EntryUpdate,
    RejectDecision,
    ReviewDecision,
    SearchHit,
    SearchPage,
    SymptomsHash,
)
from awoooi.knowledge.similar import similar_entries
from awoooi.knowledge.views import hit_from_entry

router = APIRouter(prefix="/api/v1/knowledge", tags=["knowledge"], route_class=AuthBeforeBodyRoute)


@router.post("", response_model=EntryOut, status_code=status.HTTP_201_CREATED)
async def create(body: EntryCreate, session: SessionDep, caller: OperatorCaller) -> EntryOut:
    """Write an entry by hand (DRAFT by default)."""
    entry = await service.create_entry(
        session,
        service.NewEntry(
            title=body.title,
            content=body.content,
            entry_type=body.entry_type,
            source=EntrySource.MANUAL,
            status=body.status,
            created_by=caller.actor,
            category=body.category,
            tags=tuple(body.tags),
            services=tuple(body.services),
            related_incident_id=body.related_incident_id,
            related_playbook_id=body.related_playbook_id,
            symptoms_hash=body.symptoms_hash,
        ),
        caller=caller,
    )
    return EntryOut.model_validate(entry)


@router.get("", response_model=SearchPage)
async def list_or_search(
    session: SessionDep,
    _principal: Viewer,
    q: Annotated[str | None, Query(max_length=500)] = None,
    entry_type: Annotated[EntryType | None, Query(alias="type")] = None,
    status: EntryStatus | None = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    service_name: Annotated[str | None, Query(alias="service", max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> SearchPage:
    """Ranked full-text search with snippets when `q` is given, else the newest entries."""
    filters = kb_search.Filters(
        entry_type=entry_type.value if entry_type else None,
        status=status.value if status else None,
        tag=tag,
        service=service_name,
    )
    if q and kb_search.query_terms(q):
        hits, total = await kb_search.search(session, q, filters, limit=limit, offset=offset)
        items = [hit_from_entry(hit.entry, hit.snippet, hit.rank) for hit in hits]
    else:
        entries, total = await kb_search.list_entries(session, filters, limit=limit, offset=offset)
        items = [hit_from_entry(entry) for entry in entries]
    return SearchPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/anti-patterns/check", response_model=EntryOut | None)
async def check_anti_pattern(
    session: SessionDep,
    runtime: RuntimeDep,
    _principal: Viewer,
    symptoms_hash: Annotated[SymptomsHash, Query()],
    days: Annotated[float | None, Query(gt=0, le=3650)] = None,
) -> EntryOut | None:
    """The newest PUBLISHED anti-pattern for these symptoms inside the window, or null."""
    window = days if days is not None else runtime.settings.knowledge.anti_pattern_days
    entry = await service.check_anti_pattern(session, symptoms_hash, window)
    return EntryOut.model_validate(entry) if entry else None


@router.get("/similar", response_model=list[SearchHit])
async def similar(
    session: SessionDep,
    _principal: Viewer,
    incident: Annotated[
        str, Query(max_length=32, pattern=r"^[A-Za-z0-9_-]+$", description="INC-YYYYMMDD-NNNN")
    ],
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> list[SearchHit]:
    """Entries for an incident: same symptoms first, then text-similar ones."""
    found = await incidents.get_by_human_id(session, incident)
    if found is None:
        raise NotFoundError(f"no incident {incident}")
    return [
        hit_from_entry(hit.entry, hit.snippet, hit.rank)
        for hit in await similar_entries(session, found, limit=limit)
    ]


@router.get("/{entry_id}", response_model=EntryOut)
async def get(entry_id: RowIdPath, session: SessionDep, _principal: Viewer) -> EntryOut:
    """One entry."""
    return EntryOut.model_validate(await service.get_entry(session, entry_id))


@router.get("/{entry_id}/versions", response_model=list[dict[str, object]])
async def versions(
    entry_id: RowIdPath, session: SessionDep, _principal: Viewer
) -> list[dict[str, object]]:
    """Earlier versions of an entry, oldest first."""
    return [
        {
            "version": version.version,
            "title": version.title,
            "content": version.content,
            "category": version.category,
            "tags": version.tags,
            "services": version.services,
            "edited_by": version.edited_by,
            "edited_at": version.edited_at.isoformat(),
        }
        for version in await service.list_versions(session, entry_id)
    ]


@router.patch("/{entry_id}", response_model=EntryOut)
async def update(
    entry_id: RowIdPath,
    body: EntryUpdate,
    session: SessionDep,
    caller: OperatorCaller,
) -> EntryOut:
    """Edit an entry; the previous text is kept as a version."""
    entry = await service.update_entry(
        session,
        entry_id,
        caller=caller,
        title=body.title,
        content=body.content,
        category=body.category,
        tags=body.tags,
        services=body.services,
    )
    return EntryOut.model_validate(entry)


@router.post("/{entry_id}/approve", response_model=EntryOut)
async def approve(
    entry_id: RowIdPath,
    session: SessionDep,
    caller: OperatorCaller,
    body: ReviewDecision | None = None,
) -> EntryOut:
    """Publish a DRAFT (a human reviewed it)."""
    entry = await service.approve_entry(
        session, entry_id, caller=caller, note=body.note if body else None
    )
    return EntryOut.model_validate(entry)


@router.post("/{entry_id}/reject", response_model=EntryOut)
async def reject(
    entry_id: RowIdPath,
    body: RejectDecision,
    session: SessionDep,
    caller: OperatorCaller,
) -> EntryOut:
    """Reject a DRAFT, with a reason."""
    entry = await service.reject_entry(session, entry_id, caller=caller, reason=body.reason)
    return EntryOut.model_validate(entry)


@router.post("/{entry_id}/archive", response_model=EntryOut)
async def archive(entry_id: RowIdPath, session: SessionDep, caller: OperatorCaller) -> EntryOut:
    """Retire an entry (an archived anti-pattern stops blocking repairs)."""
    entry = await service.archive_entry(session, entry_id, caller=caller)
    return EntryOut.model_validate(entry)

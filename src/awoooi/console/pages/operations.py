"""Operations: durable jobs (dead letters with retry), notifications, LLM calls and their cost,
and for admins the audit log and the API tokens (create, revoke)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from awoooi.ai import ledger
from awoooi.ai.intents import Intent
from awoooi.console.deps import AdminCaller, RuntimeDep, SessionDep, User
from awoooi.console.forms import choice, text_filter
from awoooi.console.routing import ConsoleRoute
from awoooi.console.templates import render
from awoooi.core import auth, jobs
from awoooi.core.audit import list_audit
from awoooi.core.auth import require
from awoooi.core.errors import InvalidInputError
from awoooi.core.inputs import MAX_ROW_ID
from awoooi.core.models import JobStatus, Role
from awoooi.notify.repository import list_notifications

router = APIRouter(prefix="/ui", route_class=ConsoleRoute, include_in_schema=False)

SHOWN = 100
JobId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
TokenName = Annotated[str, Path(max_length=64)]
NOTICES = {
    "retried": "The job is queued again with a fresh set of attempts.",
    "revoked": "The token is revoked: it stops working at its next request.",
}


def sections(user_can: Callable[[str], bool]) -> list[tuple[str, str, str]]:
    """The Operations sub-pages this user may open: (key, label, link)."""
    found = [("jobs", "Jobs", "/ui/operations")] if user_can("operator") else []
    found += [
        ("notifications", "Notifications", "/ui/operations/notifications"),
        ("llm", "LLM calls and cost", "/ui/operations/llm"),
    ]
    if user_can("admin"):
        found += [
            ("audit", "Audit log", "/ui/operations/audit"),
            ("tokens", "Tokens", "/ui/operations/tokens"),
        ]
    return found


def _page(request: Request, template: str, section: str, context: dict[str, object]) -> Response:
    user = request.state.console_user
    return render(
        request,
        template,
        {"active": "operations", "section": section, "sections": sections(user.can), **context},
    )


@router.get("/operations")
async def operations_jobs(
    request: Request,
    session: SessionDep,
    user: User,
    status: Annotated[str | None, Query(max_length=32)] = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    notice: str | None = None,
) -> Response:
    """Durable jobs (operators and admins, as on the API): dead letters first, then the rest."""
    if not user.can("operator"):
        return _page(request, "operations.html", "jobs", {"allowed": False})
    status_filter = choice(JobStatus, status, "status")
    kind_filter = text_filter(kind)
    dead = await jobs.list_jobs(session, status=JobStatus.DEAD, kind=kind_filter, limit=SHOWN)
    found = await jobs.list_jobs(session, status=status_filter, kind=kind_filter, limit=SHOWN)
    filters = {
        key: value
        for key, value in {
            "status": status_filter.value if status_filter else "",
            "kind": kind_filter or "",
        }.items()
        if value
    }
    return _page(
        request,
        "operations.html",
        "jobs",
        {
            "allowed": True,
            "dead": dead,
            "jobs": found,
            "statuses": list(JobStatus),
            "filters": filters,
            "notice": NOTICES.get(notice or ""),
        },
    )


@router.post("/operations/jobs/{job_id}/retry")
async def retry_job(job_id: JobId, session: SessionDep, caller: AdminCaller) -> Response:
    """Queue a dead job again (admins, the service the API calls; audited)."""
    await jobs.requeue_dead_job(session, job_id, caller=caller)
    return RedirectResponse("/ui/operations?notice=retried", status_code=303)


@router.get("/operations/notifications")
async def operations_notifications(request: Request, session: SessionDep, user: User) -> Response:
    """Recent notifications with their delivery state."""
    found = await list_notifications(session, limit=SHOWN)
    return _page(request, "operations_notifications.html", "notifications", {"items": found})


@router.get("/operations/llm")
async def operations_llm(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    user: User,
    intent: Annotated[str | None, Query(max_length=64)] = None,
    provider: Annotated[str | None, Query(max_length=32)] = None,
    days: Annotated[int, Query(ge=1, le=366)] = 7,
) -> Response:
    """Model calls (never their prompts), per-day totals with cost, and the providers' state."""
    chosen_intent = choice(Intent, intent, "intent")
    chosen_provider = text_filter(provider)
    calls = await ledger.list_calls(
        session,
        intent=chosen_intent.value if chosen_intent else None,
        provider=chosen_provider,
        limit=SHOWN,
    )
    totals = await ledger.daily_totals(session, days=days)
    filters = {
        key: value
        for key, value in {
            "intent": chosen_intent.value if chosen_intent else "",
            "provider": chosen_provider or "",
        }.items()
        if value
    }
    return _page(
        request,
        "operations_llm.html",
        "llm",
        {
            "calls": calls,
            "totals": totals,
            "days": days,
            "cost": round(sum(total.cost_usd for total in totals), 6),
            "providers": await runtime.ai.providers(),
            "intents": list(Intent),
            "filters": filters,
        },
    )


@router.get("/operations/audit")
async def operations_audit(
    request: Request,
    session: SessionDep,
    user: User,
    actor: Annotated[str | None, Query(max_length=128)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> Response:
    """The audit log, newest first (admins, as on the API); paged by id."""
    require(user.principal, Role.ADMIN)
    filters = {
        key: value
        for key, value in {"actor": text_filter(actor), "action": text_filter(action)}.items()
        if value
    }
    entries = await list_audit(
        session,
        limit=SHOWN,
        before_id=before_id,
        actor=filters.get("actor"),
        action=filters.get("action"),
    )
    older = urlencode({**filters, "before_id": entries[-1].id}) if len(entries) == SHOWN else None
    return _page(
        request,
        "operations_audit.html",
        "audit",
        {"entries": entries, "filters": filters, "older": older, "paged": before_id is not None},
    )


@router.get("/operations/tokens")
async def operations_tokens(
    request: Request, session: SessionDep, user: User, notice: str | None = None
) -> Response:
    """Every API token, revoked ones too; secrets are never shown (admins)."""
    require(user.principal, Role.ADMIN)
    return _page(
        request,
        "operations_tokens.html",
        "tokens",
        {
            "tokens": await auth.list_tokens(session),
            "roles": list(Role),
            "notice": NOTICES.get(notice or ""),
        },
    )


@router.post("/operations/tokens")
async def create_token(
    request: Request,
    session: SessionDep,
    caller: AdminCaller,
    name: Annotated[str, Form(max_length=64)] = "",
    role: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Create a token (the service the API calls, audited); its secret is on this page only."""
    chosen = choice(Role, role, "role")
    if chosen is None:
        raise InvalidInputError("role: choose the token's role")
    issued = await auth.issue_token(session, name=name.strip(), role=chosen, caller=caller)
    return _page(
        request,
        "operations_token_created.html",
        "tokens",
        {"token": issued.record, "secret": issued.secret},
    )


@router.post("/operations/tokens/{name}/revoke")
async def revoke_token(name: TokenName, session: SessionDep, caller: AdminCaller) -> Response:
    """Revoke a token; every session signed in with it ends at its next request (audited)."""
    await auth.revoke_token(session, name=name, caller=caller)
    return RedirectResponse("/ui/operations/tokens?notice=revoked", status_code=303)

"""Mount the console on the API's app: its pages at /ui/, its assets at /ui/static, `/docs`,
and `/` sending browsers to the console."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from awoooi.console.pages import (
    auth,
    coming,
    docs,
    drift,
    incidents,
    knowledge,
    operations,
    repairs,
)
from awoooi.console.routing import ConsoleRoute
from awoooi.console.templates import STATIC_PREFIX

# Every section's router, in any order; a new section adds its router here (see console.nav).
PAGE_ROUTERS: tuple[APIRouter, ...] = (
    auth.router,
    incidents.router,
    repairs.router,
    knowledge.router,
    drift.router,
    operations.router,
    coming.router,
)

_root = APIRouter(include_in_schema=False)
_fallback = APIRouter(prefix="/ui", route_class=ConsoleRoute, include_in_schema=False)


@_root.get("/")
async def root() -> Response:
    """Browsers that open the bare address land in the console."""
    return RedirectResponse("/ui/", status_code=307)


@_fallback.get("")
async def console_root() -> Response:
    """/ui without its slash."""
    return RedirectResponse("/ui/", status_code=307)


@_fallback.api_route("/{path:path}", methods=["GET", "POST"])
async def not_found(request: Request, path: str) -> Response:
    """A console address that does not exist: a page saying so, not JSON."""
    raise HTTPException(404, f"there is no console page at /ui/{path[:200]}")


def install_console(app: FastAPI) -> None:
    """Add the console's routes, static files and `/docs` to the app."""
    app.include_router(docs.router)
    app.include_router(_root)
    for router in PAGE_ROUTERS:
        app.include_router(router)
    app.mount(
        STATIC_PREFIX,
        StaticFiles(packages=[("awoooi.console", "static")]),
        name="console-static",
    )
    # Last: it answers any /ui/ address no page claimed.
    app.include_router(_fallback)

"""Sections whose pages are not built yet: each says so, and what to use meanwhile."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response

from awoooi.console.deps import ConsoleUser, User
from awoooi.console.routing import ConsoleRoute
from awoooi.console.templates import render

router = APIRouter(prefix="/ui", route_class=ConsoleRoute, include_in_schema=False)

# key: (heading, what to use until the page exists)
# Every section has its page now (knowledge, drift and operations were the last).
COMING: dict[str, tuple[str, str]] = {}


def _coming(key: str) -> Callable[[Request, ConsoleUser], Awaitable[Response]]:
    heading, meanwhile = COMING[key]

    async def page(request: Request, user: User) -> Response:
        return render(
            request,
            "coming.html",
            {"active": key, "heading": heading, "meanwhile": meanwhile},
        )

    page.__doc__ = f"The {heading} section (coming)."
    return page


for _key in COMING:
    router.add_api_route(f"/{_key}", _coming(_key), methods=["GET"], name=f"coming_{_key}")

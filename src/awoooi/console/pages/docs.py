"""`/docs`: Swagger UI from the package's own copy, no CDN (the API's schema is /openapi.json)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from awoooi.console.templates import PAGE_POLICY, page_headers, render

router = APIRouter(include_in_schema=False)

# Swagger UI sets inline styles as it draws; scripts still come from this server only.
DOCS_POLICY = PAGE_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")


@router.get("/docs")
async def docs(request: Request) -> Response:
    """The interactive API reference; "Authorize" takes an API token for "Try it out"."""
    return render(
        request,
        "docs.html",
        {"openapi_url": request.app.openapi_url or "/openapi.json"},
        headers=page_headers(DOCS_POLICY),
    )

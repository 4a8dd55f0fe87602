"""Jinja2 rendering for the console: autoescaped templates from the package, the headers every
page carries, and the filters that show times and states."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

import awoooi
from awoooi.console.nav import NAV

STATIC_PREFIX = "/ui/static"

# Pages load nothing from anywhere but this server, run no inline script, and cannot be framed.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # Pages show incidents and who may act on them: never keep them in a shared cache.
    "Cache-Control": "no-store",
}


def page_headers(policy: str = PAGE_POLICY) -> dict[str, str]:
    """The headers every console page is sent with."""
    return {"Content-Security-Policy": policy, **_SECURITY_HEADERS}


def static_url(path: str) -> str:
    """The URL of a packaged asset, versioned so an upgrade is never served a stale copy."""
    return f"{STATIC_PREFIX}/{path}?v={awoooi.__version__}"


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def time_tag(value: datetime | None, *, relative: bool = True) -> Markup:
    """A <time> element in UTC; the console's script shows it in the viewer's zone."""
    if value is None:
        return Markup('<span class="muted">never</span>')
    at = _utc(value)
    iso = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    kind = "relative" if relative else "absolute"
    # Markup.format escapes every argument.
    return Markup('<time datetime="{0}" data-format="{1}" title="{0}">{2} UTC</time>').format(
        iso, kind, f"{at:%Y-%m-%d %H:%M}"
    )


def badge(value: object) -> Markup:
    """A state as a small labelled badge (the class names the value for its colour)."""
    text = str(getattr(value, "value", value))
    css = "".join(c if c.isalnum() else "-" for c in text.lower())
    return Markup('<span class="badge badge-{0}">{1}</span>').format(css, text)


def plain(value: object) -> str:
    """A stored JSON value as a person reads it: lists joined, maps as `key: value`, no None."""
    if value is None or value == [] or value == {}:
        return "\u2013"  # an en dash, as the pages show for "none"
    if isinstance(value, list | tuple):
        return ", ".join(plain(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key}: {plain(item)}" for key, item in value.items())
    return str(value)


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("awoooi.console", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = time_tag
    env.filters["at"] = lambda value: time_tag(value, relative=False)
    env.filters["badge"] = badge
    env.filters["plain"] = plain
    env.globals["static"] = static_url
    env.globals["nav"] = NAV
    env.globals["version"] = awoooi.__version__
    return env


ENVIRONMENT = _environment()


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render a template as a page (the signed-in user, if any, is in its context)."""
    values: dict[str, Any] = {
        "request": request,
        "user": getattr(request.state, "console_user", None),
        "active": "",
        "notice": None,
    }
    values.update(context or {})
    body = ENVIRONMENT.get_template(template).render(values)
    all_headers = {**page_headers(), **(headers or {})}
    return HTMLResponse(body, status_code=status_code, headers=all_headers)

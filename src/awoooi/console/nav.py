"""The console's sections, in the order the navigation bar shows them.

A new section adds its router in `console.app.PAGE_ROUTERS` and points its entry here at
its own page; until then `console.pages.coming` answers for it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NavItem:
    """One entry of the navigation bar: a key pages name as `active`, a label, a link."""

    key: str
    label: str
    href: str


NAV = (
    NavItem("incidents", "Incidents", "/ui/incidents"),
    NavItem("repairs", "Repairs", "/ui/repairs"),
    NavItem("knowledge", "Knowledge", "/ui/knowledge"),
    NavItem("drift", "Drift", "/ui/drift"),
    NavItem("operations", "Operations", "/ui/operations"),
)

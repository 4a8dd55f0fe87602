"""The console's sections, in the order the navigation bar shows them.

A section is a module in `console.pages` with its own `router` (prefix /ui, route_class
ConsoleRoute), listed in `console.app.PAGE_ROUTERS`; its pages render templates extending
base.html with `active` set to its key here. Knowledge, Drift and Operations are answered by
`console.pages.coming` until their modules exist: take the key out of `coming.COMING` when
adding one.
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

"""Routing policy: which channels a notification goes to, and how its buttons are made."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from fnmatch import fnmatchcase

from awoooi.notify.base import Severity
from awoooi.notify.settings import NotifySettings, Route

SEVERITY_RANK = {"critical": 4, "high": 3, "medium": 2, "low": 1, "info": 0}


@dataclass(frozen=True)
class Scope:
    """What a notification is about, for routes that match on it: an incident's namespace and
    services (none for notices about no incident)."""

    namespace: str | None = None
    services: tuple[str, ...] = ()


def _globs_match(globs: Sequence[str], values: Sequence[str]) -> bool:
    """`*` matches anything, even nothing; other globs need a value they match."""
    if "*" in globs:
        return True
    return any(fnmatchcase(value, glob) for glob in globs for value in values)


def route_matches(route: Route, kind: str, rank: int, scope: Scope) -> bool:
    """Whether a notification of this kind, severity rank and scope takes this route."""
    if rank < SEVERITY_RANK[route.min_severity]:
        return False
    if not any(fnmatchcase(kind, pattern) for pattern in route.kinds):
        return False
    namespaces = [scope.namespace] if scope.namespace else []
    return _globs_match(route.namespaces, namespaces) and _globs_match(
        route.services, scope.services
    )


@dataclass
class NotifyPolicy:
    """Which channels a notification goes to, and how its buttons are made."""

    settings: NotifySettings = field(default_factory=NotifySettings)
    public_url: str = "http://127.0.0.1:8080"

    def select(self, kind: str, severity: Severity, scope: Scope | None = None) -> list[str]:
        """The channels for a notification: every matching route's, else the defaults."""
        rank = SEVERITY_RANK[severity.value]
        about = scope or Scope()
        chosen: list[str] = []
        for route in self.settings.routes:
            if route_matches(route, kind, rank, about):
                chosen.extend(route.channels)
        return list(dict.fromkeys(chosen or self.settings.default_channels()))

    @property
    def action_ttl(self) -> timedelta:
        """How long a button works."""
        return timedelta(hours=self.settings.action_ttl_hours)

    @property
    def approvers(self) -> list[int]:
        """Telegram user ids allowed to press action buttons."""
        return list(self.settings.telegram.approvers)

    def link_for(self, action: str, target: str) -> str:
        """Where a channel that cannot press buttons links instead."""
        base = self.public_url.rstrip("/")
        resource = "knowledge" if action.startswith("knowledge.") else "repairs"
        return f"{base}/api/v1/{resource}/{target}"


ChannelChoice = Sequence[str] | NotifyPolicy

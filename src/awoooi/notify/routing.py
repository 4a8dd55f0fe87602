"""Routing policy: which channels a notification goes to, and how its buttons are made."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from fnmatch import fnmatchcase

from awoooi.notify.base import Severity
from awoooi.notify.settings import NotifySettings

SEVERITY_RANK = {"critical": 4, "high": 3, "medium": 2, "low": 1, "info": 0}


@dataclass
class NotifyPolicy:
    """Which channels a notification goes to, and how its buttons are made."""

    settings: NotifySettings = field(default_factory=NotifySettings)
    public_url: str = "http://127.0.0.1:8080"

    def select(self, kind: str, severity: Severity) -> list[str]:
        """The channels for a notification: every matching route's, else the defaults."""
        rank = SEVERITY_RANK[severity.value]
        chosen: list[str] = []
        for route in self.settings.routes:
            if rank < SEVERITY_RANK[route.min_severity]:
                continue
            if any(fnmatchcase(kind, pattern) for pattern in route.kinds):
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

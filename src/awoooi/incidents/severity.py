"""Map an alert's `severity` label onto awoooi's five severities."""

from __future__ import annotations

from awoooi.incidents.models import Severity

_ALIASES = {
    "critical": Severity.CRITICAL,
    "crit": Severity.CRITICAL,
    "fatal": Severity.CRITICAL,
    "emergency": Severity.CRITICAL,
    "page": Severity.CRITICAL,
    "p1": Severity.CRITICAL,
    "high": Severity.HIGH,
    "error": Severity.HIGH,
    "major": Severity.HIGH,
    "p2": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "warning": Severity.MEDIUM,
    "warn": Severity.MEDIUM,
    "moderate": Severity.MEDIUM,
    "p3": Severity.MEDIUM,
    "low": Severity.LOW,
    "minor": Severity.LOW,
    "p4": Severity.LOW,
    "info": Severity.INFO,
    "informational": Severity.INFO,
    "notice": Severity.INFO,
    "none": Severity.INFO,
    "p5": Severity.INFO,
}
_RANK = [Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]


def map_severity(label: str | None) -> Severity:
    """The severity an alert label names (case-insensitive, with aliases); unknown -> medium."""
    if not label:
        return Severity.MEDIUM
    return _ALIASES.get(label.strip().lower(), Severity.MEDIUM)


def most_severe(first: Severity, second: Severity) -> Severity:
    """The more urgent of two severities."""
    return max(first, second, key=_RANK.index)

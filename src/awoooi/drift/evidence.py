"""Drift as diagnosis evidence: a hand edit of the alerted workload (an image, an env value) is
often what broke it, so the newest report's items about the target are shown to the diagnosis."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.diagnosis.evidence import ExtraEvidence
from awoooi.diagnosis.model import Target
from awoooi.drift import repository
from awoooi.drift.decisions import shown_value
from awoooi.drift.models import DriftItemRecord

MAX_ITEMS = 10
MAX_VALUE_CHARS = 120


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def describe_item(item: DriftItemRecord) -> str:
    """One drift item as a line of evidence (Secret values masked, text redacted)."""
    what = item.path or "the whole resource"
    desired, live = shown_value(item, item.desired), shown_value(item, item.live)
    return (
        f"{what} {item.change}: Git has {_short(desired)}, the cluster has {_short(live)} "
        f"({item.level}, {item.status})"
    )


class DriftEvidence:
    """The diagnosed target's items in the newest drift report that mentions it."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def evidence(self, target: Target, labels: Mapping[str, str]) -> Sequence[ExtraEvidence]:
        """Drift items about the target, with the report they come from."""
        found = await repository.latest_items_for(
            self._session, target.kind, target.namespace, target.name, limit=MAX_ITEMS
        )
        if not found:
            return []
        report = found[0][1]
        when = report.finished_at or report.started_at
        head = f"drift report {report.id} ({when:%Y-%m-%d %H:%M} UTC) on {target}:"
        lines = [describe_item(item) for item, _report in found]
        return [ExtraEvidence("drift", "\n".join([head, *lines]))]

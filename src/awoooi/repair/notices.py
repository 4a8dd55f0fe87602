"""What people are told about repairs: blocked, waiting for approval, failed, interrupted, and
an incident escalated because neither the model nor a repair could handle it. Every notice
names its incident (id, title, namespace and services) and links to it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.incidents.models import Incident
from awoooi.incidents.notices import notify_incident
from awoooi.notify.base import Button, Severity
from awoooi.notify.routing import ChannelChoice
from awoooi.repair.models import GateName, Repair, RepairStatus, RepairStep

ESCALATED_KIND = "incident.escalated"


@dataclass(frozen=True)
class RepairNotices:
    """Sends the repair notifications to the configured channels, with links back."""

    channels: ChannelChoice
    public_url: str
    anti_pattern_days: float

    def link(self, repair: Repair) -> str:
        """Where a person opens the repair."""
        return f"{self.public_url.rstrip('/')}/api/v1/repairs/{repair.id}"

    async def _send(
        self,
        session: AsyncSession,
        incident: Incident,
        *,
        kind: str,
        title: str,
        lines: Sequence[str],
        severity: Severity,
        buttons: Sequence[Button],
    ) -> None:
        await notify_incident(
            session,
            incident,
            public_url=self.public_url,
            kind=kind,
            title=title,
            lines=lines,
            channels=self.channels,
            severity=severity,
            buttons=buttons,
        )

    async def blocked(
        self,
        session: AsyncSession,
        incident: Incident,
        repair: Repair,
        *,
        gate: GateName | None,
        reason: str,
        anti_pattern_title: str | None = None,
    ) -> None:
        """A gate stopped the repair: a human needs to look."""
        if gate is GateName.ANTI_PATTERN:
            title = f"auto-repair blocked by anti-pattern #{repair.anti_pattern_id}"
            line = (
                f"Playbook {repair.playbook_id} was not run: anti-pattern "
                f"#{repair.anti_pattern_id} ({anti_pattern_title}) says it failed "
                f"for these symptoms ({incident.symptoms_hash}). A human needs to look."
            )
        else:
            title = f"auto-repair blocked ({gate})"
            line = f"Playbook {repair.playbook_id} was not run: {reason}."
        await self._send(
            session,
            incident,
            kind="repair.blocked",
            title=title,
            lines=[line],
            severity=Severity.HIGH,
            buttons=[Button(label="Open repair", url=self.link(repair))],
        )

    async def approval_needed(
        self, session: AsyncSession, incident: Incident, repair: Repair
    ) -> None:
        """Ask for an approval, with Approve / Reject buttons where the channel has them."""
        steps = [
            f"{step['position'] + 1}. {step['action']} {step['params']}" for step in repair.plan
        ]
        expires = f"{repair.expires_at:%Y-%m-%d %H:%M} UTC" if repair.expires_at else "never"
        await self._send(
            session,
            incident,
            kind="repair.approval",
            title=f"approve repair #{repair.id} ({repair.playbook_id})?",
            lines=[
                f"Target: {repair.target}",
                f"Risk: {repair.risk}",
                "Plan:",
                *steps,
                f"Why it waits: {repair.reasons[-1]}",
                f"Expires: {expires}",
                f"CLI: awoooi repairs approve {repair.id} | awoooi repairs reject {repair.id} "
                "--reason '...'",
            ],
            severity=Severity.MEDIUM,
            # The buttons name server-side actions; channels that can press them do so
            # through the API, the others show the CLI line above.
            buttons=[
                Button(label="Approve", action_id=f"repair.approve:{repair.id}"),
                Button(label="Reject", action_id=f"repair.reject:{repair.id}"),
            ],
        )

    async def failed(self, session: AsyncSession, incident: Incident, repair: Repair) -> None:
        """The repair failed: the incident is escalated and an anti-pattern will follow."""
        await self._send(
            session,
            incident,
            kind="repair.failed",
            title=f"repair #{repair.id} ({repair.playbook_id}) failed",
            lines=[
                f"{repair.error}",
                "The incident is escalated; an anti-pattern will block this fix for these "
                f"symptoms for {self.anti_pattern_days:g} days.",
            ],
            severity=Severity.HIGH,
            buttons=[Button(label="Open repair", url=self.link(repair))],
        )

    async def interrupted(
        self, session: AsyncSession, incident: Incident, repair: Repair, step: RepairStep | None
    ) -> None:
        """A restart cut the repair short in a step with side effects: someone must check what
        that step did; nothing was learnt from it."""
        running = (
            f"{step.position + 1}. {step.action} {step.params}"
            if step is not None
            else "none (between steps)"
        )
        await self._send(
            session,
            incident,
            kind="repair.interrupted",
            title=f"repair #{repair.id} ({repair.playbook_id}) interrupted",
            lines=[
                f"Target: {repair.target or '-'}",
                f"Step running when awoooi restarted: {running}",
                f"{repair.error}",
                "Check what that step did. The incident is escalated; no anti-pattern is "
                "published, so the fix may be asked for again "
                f"(POST /api/v1/incidents/{incident.human_id}/repair).",
            ],
            severity=Severity.HIGH,
            buttons=[Button(label="Open repair", url=self.link(repair))],
        )

    async def escalated(
        self,
        session: AsyncSession,
        incident: Incident,
        repair: Repair,
        *,
        diagnosis: Sequence[str],
    ) -> None:
        """Neither the model nor a repair can handle the incident (the diagnosis was rejected,
        and no playbook could be used or a gate blocked it): ONE notice says all of it."""
        if repair.status == RepairStatus.BLOCKED:
            what = f"auto-repair blocked ({repair.gate})"
            repair_line = f"Repair: playbook {repair.playbook_id} was not run: {repair.reasons[-1]}"
        else:
            what = "no automatic repair"
            repair_line = f"Repair: {repair.reasons[-1] if repair.reasons else 'none'}"
        await self._send(
            session,
            incident,
            kind=ESCALATED_KIND,
            title=f"escalated to a human: diagnosis rejected, {what}",
            lines=[
                *diagnosis,
                repair_line,
                "awoooi will not act on this incident by itself: a human needs to look.",
            ],
            severity=Severity.HIGH,
            buttons=[Button(label="Open repair", url=self.link(repair))],
        )

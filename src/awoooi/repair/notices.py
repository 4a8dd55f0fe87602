"""What people are told about repairs: blocked, waiting for approval, failed, interrupted."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.incidents.models import Incident
from awoooi.notify.base import Button, Severity
from awoooi.notify.routing import ChannelChoice
from awoooi.notify.service import notify
from awoooi.repair.models import GateName, Repair, RepairStep


@dataclass(frozen=True)
class RepairNotices:
    """Sends the repair notifications to the configured channels, with a link back."""

    channels: ChannelChoice
    public_url: str
    anti_pattern_days: float

    def link(self, repair: Repair) -> str:
        """Where a person opens the repair."""
        return f"{self.public_url.rstrip('/')}/api/v1/repairs/{repair.id}"

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
            title = (
                f"{incident.human_id}: auto-repair blocked by anti-pattern "
                f"#{repair.anti_pattern_id}"
            )
            text = (
                f"{incident.title}\nPlaybook {repair.playbook_id} was not run: anti-pattern "
                f"#{repair.anti_pattern_id} ({anti_pattern_title}) says it failed "
                f"for these symptoms ({incident.symptoms_hash}). A human needs to look."
            )
        else:
            title = f"{incident.human_id}: auto-repair blocked ({gate})"
            text = f"{incident.title}\nPlaybook {repair.playbook_id} was not run: {reason}."
        await notify(
            session,
            kind="repair.blocked",
            title=title,
            text=text,
            channels=self.channels,
            severity=Severity.HIGH,
            buttons=[Button(label="Open repair", url=self.link(repair))],
        )

    async def approval_needed(
        self, session: AsyncSession, incident: Incident, repair: Repair
    ) -> None:
        """Ask for an approval, with Approve / Reject buttons where the channel has them."""
        steps = "\n".join(
            f"{step['position'] + 1}. {step['action']} {step['params']}" for step in repair.plan
        )
        expires = f"{repair.expires_at:%Y-%m-%d %H:%M} UTC" if repair.expires_at else "never"
        await notify(
            session,
            kind="repair.approval",
            title=f"{incident.human_id}: approve repair #{repair.id} ({repair.playbook_id})?",
            text=(
                f"{incident.title}\nTarget: {repair.target}\nRisk: {repair.risk}\nPlan:\n{steps}\n"
                f"Why it waits: {repair.reasons[-1]}\nExpires: {expires}\n"
                f"CLI: awoooi repairs approve {repair.id} | awoooi repairs reject {repair.id} "
                "--reason '...'"
            ),
            channels=self.channels,
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
        await notify(
            session,
            kind="repair.failed",
            title=f"{incident.human_id}: repair #{repair.id} ({repair.playbook_id}) failed",
            text=(
                f"{incident.title}\n{repair.error}\nThe incident is escalated; an anti-pattern "
                "will block this fix for these symptoms for "
                f"{self.anti_pattern_days:g} days."
            ),
            channels=self.channels,
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
        await notify(
            session,
            kind="repair.interrupted",
            title=f"{incident.human_id}: repair #{repair.id} ({repair.playbook_id}) interrupted",
            text=(
                f"{incident.title}\nTarget: {repair.target or '-'}\n"
                f"Step running when awoooi restarted: {running}\n{repair.error}\n"
                "Check what that step did. The incident is escalated; no anti-pattern is "
                "published, so the fix may be asked for again "
                f"(POST /api/v1/incidents/{incident.human_id}/repair)."
            ),
            channels=self.channels,
            severity=Severity.HIGH,
            buttons=[Button(label="Open repair", url=self.link(repair))],
        )

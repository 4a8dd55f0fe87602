"""Notifications about an incident: each names it (id, title, namespace and services) and links
to it, whatever it reports, so four incidents never read as four identical notices."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.incidents.models import Incident
from awoooi.notify.base import Button, Severity
from awoooi.notify.models import Notification
from awoooi.notify.routing import ChannelChoice, Scope
from awoooi.notify.service import notify

OPEN_LABEL = "Open incident"


def incident_link(public_url: str, human_id: str) -> str:
    """Where a person opens an incident (`public_url` + the API path)."""
    return f"{public_url.rstrip('/')}/api/v1/incidents/{human_id}"


def incident_header(incident: Incident, public_url: str) -> list[str]:
    """The lines every incident notification starts with: which, where, and the link."""
    services = ", ".join(incident.affected_services) or "-"
    return [
        f"Incident: {incident.human_id} {incident.title}",
        f"Namespace: {incident.namespace or '-'}  Service: {services}",
        f"Link: {incident_link(public_url, incident.human_id)}",
    ]


def incident_title(incident: Incident, title: str) -> str:
    """A notification title that starts with the incident's id."""
    return title if title.startswith(incident.human_id) else f"{incident.human_id}: {title}"


def incident_scope(incident: Incident) -> Scope:
    """What routes may match an incident notification on: its namespace and services."""
    return Scope(namespace=incident.namespace, services=tuple(incident.affected_services))


async def notify_incident(
    session: AsyncSession,
    incident: Incident,
    *,
    public_url: str,
    kind: str,
    title: str,
    lines: Sequence[str],
    channels: ChannelChoice,
    severity: Severity = Severity.INFO,
    buttons: Sequence[Button] = (),
) -> list[Notification]:
    """Notify about an incident (in the caller's transaction): its id leads the title, its
    header leads the text, an "Open incident" link ends the buttons, and routes may match its
    namespace and services."""
    link = incident_link(public_url, incident.human_id)
    return await notify(
        session,
        kind=kind,
        title=incident_title(incident, title),
        text="\n".join([*incident_header(incident, public_url), "", *lines]),
        channels=channels,
        severity=severity,
        buttons=[*buttons, Button(label=OPEN_LABEL, url=link)],
        scope=incident_scope(incident),
    )

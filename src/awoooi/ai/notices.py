"""Tell humans when a request was rejected because no allowed model could answer."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from awoooi.ai.intents import Intent
from awoooi.ai.router import Attempt, RejectionHook, RejectionSubject, rejection_text
from awoooi.core.db import transaction
from awoooi.notify.base import Button, Severity
from awoooi.notify.routing import ChannelChoice, Scope
from awoooi.notify.service import notify

REJECTION_KIND = "ai.rejected"


def rejection_notifier(
    session_factory: async_sessionmaker[AsyncSession], channels: ChannelChoice
) -> RejectionHook:
    """A hook that records a notification (each provider's reason, never the prompt)."""

    async def send(
        intent: Intent, attempts: tuple[Attempt, ...], subject: RejectionSubject | None
    ) -> None:
        title, body = rejection_text(intent, attempts)
        buttons: list[Button] = []
        if subject is not None:
            # Which incident (or report) it was, and what the rules found meanwhile.
            title = f"{title}: {subject.title}"
            body = "\n".join([*subject.lines, body] if subject.lines else [body])
            if subject.link:
                buttons.append(Button(label="Open", url=subject.link))
        scope = (
            Scope(namespace=subject.namespace, services=subject.services)
            if subject is not None
            else None
        )
        async with transaction(session_factory) as session:
            await notify(
                session,
                kind=REJECTION_KIND,
                title=title,
                text=body,
                channels=channels,
                severity=Severity.HIGH,
                buttons=buttons,
                scope=scope,
            )

    return send

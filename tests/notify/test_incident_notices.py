"""Every incident notification names its incident and links to it (issue 18): four incidents
whose diagnoses were rejected give four notices that tell them apart, and each channel (log,
Telegram, Slack, webhook) shows the id, title, namespace, service and link. On both databases."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import select

from awoooi.core.db import transaction
from awoooi.incidents.alerts import from_alertmanager
from awoooi.incidents.models import Incident
from awoooi.incidents.schemas import AlertmanagerWebhook
from awoooi.incidents.service import find_incident
from awoooi.notify.base import Button, OutgoingMessage
from awoooi.notify.channels.log import LogNotifier
from awoooi.notify.channels.slack import slack_payload
from awoooi.notify.channels.telegram import TelegramBot, TelegramNotifier
from awoooi.notify.channels.webhook import webhook_body
from awoooi.notify.models import Notification
from awoooi.notify.settings import TelegramSettings
from awoooi.runtime import Runtime
from awoooi.settings import Settings
from tests.ai.support import seed
from tests.conftest import make_settings
from tests.helpers import llm_servers
from tests.helpers.llm_servers import OllamaServer, OpenAIServer
from tests.helpers.telegram_api import FakeTelegramAPI
from tests.incidents.conftest import am_alert, am_payload

openai_server = llm_servers.openai_server
ollama_server = llm_servers.ollama_server

PUBLIC_URL = "https://awoooi.example"
CHAT = "-100777"
# Four pods of four services in two namespaces, all crash looping at once.
PLACES = [("shop", "cart"), ("shop", "checkout"), ("billing", "invoices"), ("billing", "ledger")]


@pytest.fixture
def settings(
    tmp_path: Path, database_url: str, openai_server: OpenAIServer, ollama_server: OllamaServer
) -> Settings:
    """No local model answers; no repair decision follows (so each rejection is told alone)."""
    openai_server.configure(status=500)
    ollama_server.configure(status=500)
    return make_settings(
        tmp_path / "home",
        database_url,
        ai=seed(openai_server, ollama_server),
        repair={"on_new_incident": False},
        public_url=PUBLIC_URL,
    )


@pytest.fixture
def telegram_api() -> Iterator[FakeTelegramAPI]:
    with FakeTelegramAPI() as api:
        yield api


@pytest.fixture
async def telegram(telegram_api: FakeTelegramAPI) -> AsyncIterator[TelegramNotifier]:
    config = TelegramSettings(
        bot_token=telegram_api.token,
        chat_id=CHAT,
        api_url=telegram_api.api_url,
        pace_seconds=0,
        timeout_seconds=5,
    )
    notifier = TelegramNotifier(config, TelegramBot(config))
    try:
        yield notifier
    finally:
        await notifier.aclose()


async def four_rejected_incidents(runtime: Runtime) -> list[Incident]:
    alerts = [
        am_alert(namespace=namespace, pod=f"{service}-7d9f8c6b5d-x2kqz", instance=f"10.0.0.{i}:80")
        for i, (namespace, service) in enumerate(PLACES)
    ]
    payload = AlertmanagerWebhook.model_validate(am_payload(alerts))
    async with transaction(runtime.session_factory) as session:
        outcome = await runtime.incident_ingestor.ingest(
            session, from_alertmanager(payload), actor="am"
        )
    assert outcome.opened == 4
    await runtime.worker().run_until_idle()
    found = []
    async with runtime.session_factory() as session:
        for human_id in outcome.incidents:
            incident = await find_incident(session, human_id)
            assert incident is not None
            found.append(incident)
    return found


async def rejection_notices(runtime: Runtime) -> list[Notification]:
    async with runtime.session_factory() as session:
        rows = await session.scalars(
            select(Notification).where(Notification.kind == "ai.rejected").order_by(Notification.id)
        )
        return list(rows)


def outgoing(record: Notification) -> OutgoingMessage:
    return OutgoingMessage(
        notification_id=record.id,
        kind=record.kind,
        severity=record.severity,
        title=record.title,
        text=record.text,
        buttons=tuple(Button(**button) for button in record.buttons),
    )


def what_names(incident: Incident) -> list[str]:
    """What a person must read in a notice to know which incident it is and reach it."""
    return [
        incident.human_id,
        incident.title,
        f"Namespace: {incident.namespace}",
        f"Service: {incident.affected_services[0]}",
        f"{PUBLIC_URL}/api/v1/incidents/{incident.human_id}",
    ]


async def test_four_rejected_diagnoses_are_four_notices_each_naming_its_incident(
    runtime: Runtime,
) -> None:
    incidents = await four_rejected_incidents(runtime)
    notices = await rejection_notices(runtime)
    assert len(notices) == 4
    # Not four identical "diagnose rejected: no local model available" (issue 18).
    assert len({n.title for n in notices}) == 4
    assert len({n.text for n in notices}) == 4
    by_incident = {n.title.split(":")[0]: n for n in notices}
    for incident in incidents:
        notice = by_incident[incident.human_id]
        assert notice.title == f"{incident.human_id}: diagnose rejected: no local model available"
        for needed in what_names(incident):
            assert needed in notice.text, (needed, notice.text)
        assert notice.buttons == [
            {
                "label": "Open incident",
                "url": f"{PUBLIC_URL}/api/v1/incidents/{incident.human_id}",
                "action_id": None,
            }
        ]


async def test_each_channel_shows_which_incident_and_links_to_it(
    runtime: Runtime, telegram: TelegramNotifier, telegram_api: FakeTelegramAPI
) -> None:
    incidents = await four_rejected_incidents(runtime)
    notices = {n.title.split(":")[0]: n for n in await rejection_notices(runtime)}
    for incident in incidents:
        message = outgoing(notices[incident.human_id])
        link = f"{PUBLIC_URL}/api/v1/incidents/{incident.human_id}"

        # log: one structured line with the title and the text.
        with structlog.testing.capture_logs() as logged:
            await LogNotifier().send(message)
        (line,) = logged
        assert line["title"].startswith(incident.human_id)
        for needed in what_names(incident):
            assert needed in line["text"]

        # Slack: the header names the incident; the sections carry the rest; a link button.
        blocks: list[dict[str, Any]] = slack_payload(message)["blocks"]
        header = blocks[0]["text"]["text"]
        assert header.startswith(f"{incident.human_id}: diagnose rejected")
        shown = json.dumps(blocks)
        for needed in what_names(incident):
            assert needed in shown
        assert link in [
            element.get("url")
            for block in blocks
            if block["type"] == "actions"
            for element in block["elements"]
        ]

        # webhook: the JSON body a receiver verifies and reads.
        body = json.loads(webhook_body(message, datetime(2026, 12, 6, tzinfo=UTC)))
        assert body["title"].startswith(incident.human_id)
        for needed in what_names(incident):
            assert needed in body["text"]
        assert body["buttons"][-1]["url"] == link

        # Telegram: the card's text, and an https link button.
        await telegram.send(message)
        card = telegram_api.messages[-1]
        assert card.visible_text.startswith(f"{incident.human_id}: diagnose rejected")
        for needed in what_names(incident):
            assert needed in card.visible_text
        assert card.reply_markup == {"inline_keyboard": [[{"text": "Open incident", "url": link}]]}


async def test_telegram_gets_an_http_link_as_text_not_as_a_refused_button(
    telegram: TelegramNotifier, telegram_api: FakeTelegramAPI
) -> None:
    # Telegram refuses link buttons to a non-https public_url (the default is
    # http://127.0.0.1:8080): the link goes into the text and the callbacks stay buttons.
    link = "http://127.0.0.1:8080/api/v1/incidents/INC-20261206-0001"
    message = OutgoingMessage(
        notification_id=1,
        kind="repair.approval",
        severity="high",  # type: ignore[arg-type]
        title="INC-20261206-0001: approve repair #3 (restart)?",
        text=f"Incident: INC-20261206-0001 web down\nLink: {link}",
        buttons=(
            Button("Approve", action_id="a1"),
            Button("Open repair", url="http://127.0.0.1:8080/api/v1/repairs/3"),
            Button("Open incident", url=link),
        ),
    )
    await telegram.send(message)
    (card,) = telegram_api.messages
    assert card.reply_markup == {"inline_keyboard": [[{"text": "Approve", "callback_data": "a1"}]]}
    assert card.visible_text.count(link) == 1  # already in the text: not repeated
    assert "Open repair: http://127.0.0.1:8080/api/v1/repairs/3" in card.visible_text

"""Review cards on Telegram end to end: a repair drafts a runbook, the card reaches a real local
Bot API server, a press comes back through the webhook and decides, once, for approvers only.

Real pieces only: the API app in-process, the fake Bot API over HTTP, real local HTTP servers for
`http.request` steps, InMemoryKube behind the KubeClient Protocol, the durable job worker.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from awoooi.core.config import JobsSettings
from awoooi.core.db import transaction, utcnow
from awoooi.core.models import Job
from awoooi.knowledge.harvest import RUNBOOK_JOB
from awoooi.notify.endpoints import SECRET_HEADER
from awoooi.notify.models import Notification, NotifyAction
from awoooi.notify.service import SEND_JOB
from awoooi.runtime import Runtime
from awoooi.settings import Settings
from tests.conftest import make_settings
from tests.helpers.fake_kube import InMemoryKube
from tests.helpers.serve import cli_env, run_awoooi
from tests.helpers.telegram_api import FakeTelegramAPI, RecordedCall, SentMessage
from tests.incidents.conftest import am_alert, am_payload
from tests.notify.conftest import (
    APPROVER,
    CHAT_ID,
    LEAKED_PASSWORD,
    LEAKED_TOKEN,
    PUBLIC_URL,
    STRANGER,
    WEBHOOK_SECRET,
    BotApiFront,
    LeakyServer,
    telegram_config,
)
from tests.repair.conftest import HOST, RecordingServer, jobs, notifications

WEBHOOK = "/api/v1/notify/telegram/webhook"

PLAYBOOKS = """
id: restart-web
name: Restart the deployment
match:
  signals: [WebDown]
risk: low
steps:
  - action: kube.rollout_restart
verify:
  check: deployment_available
  wait: 0
  timeout: 2s
  interval: 0.1s
cooldown: 0
---
id: risky-heal
name: Heal, once a human agrees
match:
  signals: [HealRisky]
target: null
risk: high
steps:
  - action: http.request
    params:
      method: POST
      url: http://127.0.0.1:__HEAL__/risky/${service}
    timeout: 5s
cooldown: 0
---
id: leaky-heal
name: Heal through an endpoint that leaks secrets in its errors
match:
  signals: [HealLeaks]
target: null
risk: low
steps:
  - action: http.request
    params:
      method: POST
      url: http://127.0.0.1:__LEAKY__/heal/${service}
    timeout: 5s
cooldown: 0
"""


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def telegram_target() -> str:
    """Where the Telegram channel points: "fake" (the Bot API), "front" (the fake behind a front
    that answers 500 until brought up) or "closed" (a refused port); a test parametrizes this."""
    return "fake"


@pytest.fixture
def jobs_overrides() -> dict[str, Any]:
    """Extra `jobs` settings (a test parametrizes this name to change them)."""
    return {}


@pytest.fixture
def settings(
    tmp_path: Path,
    database_url: str,
    bot_api: FakeTelegramAPI,
    bot_api_front: BotApiFront,
    heal_server: RecordingServer,
    leaky_server: LeakyServer,
    refused_port: int,
    telegram_target: str,
    jobs_overrides: dict[str, Any],
) -> Settings:
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    text = PLAYBOOKS.replace("__HEAL__", str(heal_server.port)).replace(
        "__LEAKY__", str(leaky_server.port)
    )
    (playbooks / "flow.yaml").write_text(text)
    api_url = {
        "fake": bot_api.api_url,
        "front": bot_api_front.url,
        "closed": f"http://{HOST}:{refused_port}",
    }[telegram_target]
    job_settings = JobsSettings(
        poll_interval=0.05,
        lease_seconds=30,
        backoff_base=1,
        backoff_max=60,
        run_in_serve=False,
        **jobs_overrides,
    )
    return make_settings(
        tmp_path / "home",
        database_url,
        jobs=job_settings,
        notify={
            "channels": ["log", "telegram"],
            "telegram": telegram_config(api_url),
        },
        # No model providers: the harvest uses its template (and no local port is tried).
        ai={"diagnose_incidents": False, "providers": []},
        knowledge={"public_url": PUBLIC_URL},
        repair={
            "playbooks_dir": playbooks,
            "http_allowed_hosts": [HOST],
            "include_default_playbooks": False,
        },
    )


@pytest.fixture
def kube() -> InMemoryKube:
    cluster = InMemoryKube()
    cluster.add("Deployment", "shop", "web")
    return cluster


@pytest.fixture
async def runtime(settings: Settings, kube: InMemoryKube) -> AsyncIterator[Runtime]:
    active = Runtime.from_settings(settings, kube=kube)
    await active.migrate()
    try:
        yield active
    finally:
        await active.dispose()


# ---------------------------------------------------------------- helpers


async def post_alert(client: httpx.AsyncClient, headers: dict[str, str], alertname: str) -> None:
    payload = am_payload([am_alert(alertname=alertname)])
    response = await client.post("/api/v1/alerts/alertmanager", json=payload, headers=headers)
    assert response.status_code == 202, response.text


async def get_json(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> Any:
    response = await client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def user(user_id: int) -> dict[str, Any]:
    if user_id == APPROVER:
        return {"id": user_id, "is_bot": False, "first_name": "Ann", "username": "ann"}
    return {"id": user_id, "is_bot": False, "first_name": "Eve", "username": "eve"}


def press_update(
    card: SentMessage,
    data: str,
    *,
    user_id: int = APPROVER,
    update_id: int = 1,
    callback_id: str = "cb1",
) -> dict[str, Any]:
    """A `callback_query` update exactly as Telegram posts it for a press on `card`."""
    return {
        "update_id": update_id,
        "callback_query": {
            "id": callback_id,
            "from": user(user_id),
            "message": {
                "message_id": card.message_id,
                "chat": {"id": int(CHAT_ID), "type": "supergroup"},
                "date": 0,
                "text": card.visible_text,
            },
            "chat_instance": "x",
            "data": data,
        },
    }


async def post_update(
    client: httpx.AsyncClient, update_body: Any, *, secret: str | None = WEBHOOK_SECRET
) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    # json.dumps escapes what is not ASCII: a lone surrogate goes out as Telegram would send it.
    return await client.post(WEBHOOK, content=json.dumps(update_body), headers=headers)


def sent_cards(api: FakeTelegramAPI, title_part: str) -> list[RecordedCall]:
    """The successful sendMessage calls whose text mentions `title_part`."""
    return [
        call
        for call in api.calls_to("sendMessage")
        if call.status == 200 and title_part in str(call.params.get("text"))
    ]


def buttons_of(call: RecordedCall) -> dict[str, dict[str, str]]:
    [row] = call.params["reply_markup"]["inline_keyboard"]
    return {button["text"]: button for button in row}


def card_message(api: FakeTelegramAPI, call: RecordedCall) -> SentMessage:
    """The message a successful sendMessage created, as it stands now."""
    [created] = [m for m in api.messages if m.text == call.params["text"]]
    return created


async def entry(client: httpx.AsyncClient, headers: dict[str, str], entry_id: int) -> Any:
    return await get_json(client, f"/api/v1/knowledge/{entry_id}", headers)


async def notify_audit(client: httpx.AsyncClient, headers: dict[str, str]) -> list[Any]:
    """Audit entries of card presses (through the Telegram door), oldest first."""
    rows = await get_json(client, "/api/v1/audit?limit=1000", headers)
    return [row for row in reversed(rows) if row["door"] == "telegram"]


async def actions_of(runtime: Runtime, notification_id: int) -> list[NotifyAction]:
    async with runtime.session_factory() as session:
        rows = await session.scalars(
            select(NotifyAction)
            .where(NotifyAction.notification_id == notification_id)
            .order_by(NotifyAction.action)
        )
        return list(rows)


async def requeue_now(runtime: Runtime) -> None:
    """Make queued sends due now (their backoff would otherwise keep them for a while)."""
    async with transaction(runtime.session_factory) as session:
        await session.execute(
            update(Job)
            .where(Job.kind == SEND_JOB, Job.status == "queued")
            .values(run_at=utcnow() - timedelta(seconds=1))
        )


async def notifications_on(runtime: Runtime, channel: str) -> list[Notification]:
    async with runtime.session_factory() as session:
        rows = await session.scalars(
            select(Notification).where(Notification.channel == channel).order_by(Notification.id)
        )
        return list(rows)


def by_channel(records: list[Notification]) -> dict[str, Notification]:
    found = {record.channel: record for record in records}
    assert len(found) == len(records), records
    return found


class Drafted:
    """A successful repair's runbook draft and its Telegram card."""

    def __init__(self, entry_id: int, call: RecordedCall, card: SentMessage) -> None:
        self.entry_id = entry_id
        self.call = call
        self.card = card
        self.approve = buttons_of(call)["Approve"]["callback_data"]
        self.reject = buttons_of(call)["Reject"]["callback_data"]


async def draft_runbook(
    runtime: Runtime, client: httpx.AsyncClient, headers: dict[str, str], api: FakeTelegramAPI
) -> Drafted:
    """Alert -> AUTO repair on InMemoryKube -> succeeded -> harvest -> the card on Telegram."""
    await post_alert(client, headers, "WebDown")
    await runtime.worker().run_until_idle()
    drafts = await get_json(client, "/api/v1/knowledge?type=AUTO_RUNBOOK&status=DRAFT", headers)
    assert drafts["total"] == 1, drafts
    [call] = sent_cards(api, "Runbook draft to review")
    return Drafted(drafts["items"][0]["id"], call, card_message(api, call))


# ---------------------------------------------------------------- the card


async def test_a_drafted_runbook_becomes_one_telegram_card_with_working_buttons(
    runtime: Runtime,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    bot_api: FakeTelegramAPI,
    kube: InMemoryKube,
) -> None:
    drafted = await draft_runbook(runtime, client, admin_headers, bot_api)
    assert kube.calls.count(("rollout_restart", "shop/Deployment/web")) == 1
    draft = await entry(client, admin_headers, drafted.entry_id)
    assert draft["status"] == "DRAFT"

    # One card for the draft, and one message per Telegram notification (no duplicates).
    sends = bot_api.calls_to("sendMessage")
    sent_to_telegram = [
        n for n in await notifications_on(runtime, "telegram") if n.status == "sent"
    ]
    assert len(sends) == len(sent_to_telegram), [call.params for call in sends]
    assert [n.kind for n in sent_to_telegram].count("knowledge.review") == 1
    call = drafted.call
    assert call.params["chat_id"] == CHAT_ID
    assert call.params["parse_mode"] == "HTML"
    visible = drafted.card.visible_text
    assert draft["title"] in visible
    # A preview of the runbook: its beginning is on the card.
    preview = draft["content"][:200]
    assert len(preview.splitlines()) >= 2
    assert preview in visible

    buttons = buttons_of(call)
    assert list(buttons) == ["Approve", "Reject", "Open draft", "Open incident"]
    assert buttons["Open draft"] == {
        "text": "Open draft",
        "url": f"{PUBLIC_URL}/api/v1/knowledge/{drafted.entry_id}",
    }
    # The card names the incident it came from and links to it (issue 18).
    incident_url = buttons["Open incident"]["url"]
    human_id = incident_url.rsplit("/", 1)[-1]
    assert incident_url == f"{PUBLIC_URL}/api/v1/incidents/{human_id}"
    assert f"Incident: {human_id} " in visible
    assert "Namespace: shop  Service: web" in visible
    approve, reject = drafted.approve, drafted.reject
    assert approve != reject
    for data in (approve, reject):
        assert 1 <= len(data.encode()) <= 64
        assert "approve" not in data  # opaque, not "knowledge.approve:12"
        assert "reject" not in data
    # A button is a callback or a link, never both (Telegram refuses both).
    assert set(buttons["Approve"]) == set(buttons["Reject"]) == {"text", "callback_data"}

    [telegram] = [
        n for n in await notifications(runtime, "knowledge.review") if n.channel == "telegram"
    ]
    assert telegram.status == "sent"
    assert telegram.external_id == f"{CHAT_ID}:{drafted.card.message_id}"
    records = await actions_of(runtime, telegram.id)
    assert {(r.id, r.action, r.target) for r in records} == {
        (approve, "knowledge.approve", str(drafted.entry_id)),
        (reject, "knowledge.reject", str(drafted.entry_id)),
    }
    for record in records:
        assert record.allowed_users == [APPROVER]
        assert record.used_at is None
        assert record.expires_at > utcnow() + timedelta(hours=23)
    # The log channel got its copy too.
    assert {n.channel: n.status for n in await notifications(runtime, "knowledge.review")} == {
        "log": "sent",
        "telegram": "sent",
    }


# ---------------------------------------------------------------- presses


async def test_an_approver_publishes_the_runbook_from_the_card_once(
    runtime: Runtime,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    bot_api: FakeTelegramAPI,
) -> None:
    drafted = await draft_runbook(runtime, client, admin_headers, bot_api)
    before = len(bot_api.calls)

    pressed = press_update(drafted.card, drafted.approve)
    response = await post_update(client, pressed)
    assert response.status_code == 200, response.text

    published = await entry(client, admin_headers, drafted.entry_id)
    assert published["status"] == "PUBLISHED"
    assert published["reviewed_by"] == "telegram:111 (@ann)"
    new_calls = bot_api.calls[before:]
    assert [call.method for call in new_calls] == ["answerCallbackQuery", "editMessageText"]
    assert bot_api.callback_answers == [
        {
            "callback_query_id": "cb1",
            "text": f"Approved: runbook #{drafted.entry_id} is published",
            "show_alert": False,
        }
    ]
    edit = new_calls[1].params
    assert (edit["chat_id"], edit["message_id"]) == (CHAT_ID, drafted.card.message_id)
    card = bot_api.message(CHAT_ID, drafted.card.message_id)
    assert len(card.edits) == 1
    assert not (card.reply_markup or {}).get("inline_keyboard")  # the keyboard is gone
    assert "Runbook draft to review" in card.visible_text  # the card is kept ...
    assert (  # ... and says what was decided and by whom
        f"Approved: runbook #{drafted.entry_id} is published — by telegram:111 (@ann)"
        in card.visible_text
    )

    # The decision is audited by the knowledge service, as from any door; the door says where.
    [audited] = await notify_audit(client, admin_headers)
    assert (audited["actor"], audited["action"], audited["target"], audited["outcome"]) == (
        "telegram:111 (@ann)",
        "knowledge.approve",
        f"knowledge:{drafted.entry_id}",
        "ok",
    )
    assert audited["detail"]["status"] == "PUBLISHED"
    assert audited["request_id"]
    async with runtime.session_factory() as session:
        record = await session.get(NotifyAction, drafted.approve)
        sibling = await session.get(NotifyAction, drafted.reject)
    assert record is not None
    assert sibling is not None
    assert record.used_by == "telegram:111 (@ann)"
    assert record.used_at is not None
    assert sibling.used_at is not None  # one decision per card

    # Telegram delivers an update again when it missed our answer: nothing happens twice.
    before = len(bot_api.calls)
    assert (await post_update(client, pressed)).status_code == 200
    # A stale copy of the card still shows Reject; pressing it changes nothing either.
    late = press_update(drafted.card, drafted.reject, update_id=2, callback_id="cb2")
    assert (await post_update(client, late)).status_code == 200
    assert [call.method for call in bot_api.calls[before:]] == [
        "answerCallbackQuery",
        "answerCallbackQuery",
    ]
    for answer in bot_api.callback_answers[1:]:
        assert answer["text"].startswith("Already decided by telegram:111 (@ann)"), answer
    still = await entry(client, admin_headers, drafted.entry_id)
    assert (still["status"], still["reviewed_by"]) == ("PUBLISHED", "telegram:111 (@ann)")
    assert len(bot_api.message(CHAT_ID, drafted.card.message_id).edits) == 1
    audited = await notify_audit(client, admin_headers)
    assert [(a["action"], a["outcome"]) for a in audited] == [
        ("knowledge.approve", "ok"),
        ("notify.knowledge.approve", "no-op"),
        ("notify.knowledge.reject", "no-op"),
    ]


async def test_a_stranger_cannot_decide(
    runtime: Runtime,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    bot_api: FakeTelegramAPI,
) -> None:
    drafted = await draft_runbook(runtime, client, admin_headers, bot_api)
    before = len(bot_api.calls)

    for data in (drafted.approve, drafted.reject):
        pressed = press_update(drafted.card, data, user_id=STRANGER, callback_id=f"cb-{data}")
        response = await post_update(client, pressed)
        assert response.status_code == 200, response.text

    assert [call.method for call in bot_api.calls[before:]] == ["answerCallbackQuery"] * 2
    for answer in bot_api.callback_answers:
        assert "not allowed" in answer["text"].lower(), answer
        assert answer["show_alert"] is True
    assert bot_api.message(CHAT_ID, drafted.card.message_id).edits == []
    assert (await entry(client, admin_headers, drafted.entry_id))["status"] == "DRAFT"
    audited = await notify_audit(client, admin_headers)
    assert [(a["actor"], a["action"], a["outcome"]) for a in audited] == [
        ("telegram:999 (@eve)", "notify.knowledge.approve", "refused"),
        ("telegram:999 (@eve)", "notify.knowledge.reject", "refused"),
    ]
    async with runtime.session_factory() as session:
        record = await session.get(NotifyAction, drafted.approve)
    assert record is not None
    assert record.used_at is None

    # The buttons still work for an approver.
    assert (await post_update(client, press_update(drafted.card, drafted.approve))).is_success
    assert (await entry(client, admin_headers, drafted.entry_id))["status"] == "PUBLISHED"


async def test_a_wrong_or_missing_secret_is_refused_and_changes_nothing(
    runtime: Runtime,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    bot_api: FakeTelegramAPI,
) -> None:
    drafted = await draft_runbook(runtime, client, admin_headers, bot_api)
    before = len(bot_api.calls)
    pressed = press_update(drafted.card, drafted.approve)

    for secret in (None, "", "wrong", WEBHOOK_SECRET + "x", WEBHOOK_SECRET[:-1], "S3CRET-HOOK"):
        response = await post_update(client, pressed, secret=secret)
        assert response.status_code == 401, (secret, response.text)
        assert response.json()["error"] == "unauthorized"
    # Garbage with a wrong secret is refused before it is read.
    response = await client.post(WEBHOOK, content=b"{{{", headers={SECRET_HEADER: "wrong"})
    assert response.status_code == 401

    assert bot_api.calls[before:] == []
    assert (await entry(client, admin_headers, drafted.entry_id))["status"] == "DRAFT"
    assert await notify_audit(client, admin_headers) == []
    async with runtime.session_factory() as session:
        record = await session.get(NotifyAction, drafted.approve)
    assert record is not None
    assert record.used_at is None

    # The same update with the right secret is the one that decides.
    assert (await post_update(client, pressed)).status_code == 200
    assert (await entry(client, admin_headers, drafted.entry_id))["status"] == "PUBLISHED"


async def test_an_expired_button_does_nothing(
    runtime: Runtime,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    bot_api: FakeTelegramAPI,
) -> None:
    drafted = await draft_runbook(runtime, client, admin_headers, bot_api)
    async with transaction(runtime.session_factory) as session:
        await session.execute(
            update(NotifyAction)
            .where(NotifyAction.id.in_([drafted.approve, drafted.reject]))
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
    before = len(bot_api.calls)

    response = await post_update(client, press_update(drafted.card, drafted.approve))
    assert response.status_code == 200, response.text

    assert [call.method for call in bot_api.calls[before:]] == ["answerCallbackQuery"]
    [answer] = bot_api.callback_answers
    assert "expired" in answer["text"], answer
    assert bot_api.message(CHAT_ID, drafted.card.message_id).edits == []
    assert (await entry(client, admin_headers, drafted.entry_id))["status"] == "DRAFT"
    async with runtime.session_factory() as session:
        record = await session.get(NotifyAction, drafted.approve)
    assert record is not None
    assert record.used_at is None
    audited = await notify_audit(client, admin_headers)
    assert [(a["action"], a["outcome"]) for a in audited] == [("notify.knowledge.approve", "no-op")]


async def test_updates_that_are_not_presses_are_ignored_and_garbage_is_refused(
    runtime: Runtime,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    bot_api: FakeTelegramAPI,
) -> None:
    drafted = await draft_runbook(runtime, client, admin_headers, bot_api)
    before = len(bot_api.calls)
    headers = {SECRET_HEADER: WEBHOOK_SECRET, "Content-Type": "application/json"}

    message = {
        "update_id": 7,
        "message": {
            "message_id": 99,
            "from": user(APPROVER),
            "chat": {"id": int(CHAT_ID), "type": "supergroup"},
            "date": 0,
            "text": f"/approve {drafted.entry_id}",
        },
    }
    ignored: list[Any] = [
        message,
        {"update_id": 8},
        {"update_id": 9, "callback_query": "not an object"},
        {"update_id": 10, "callback_query": {"id": "c", "data": drafted.approve}},  # no from
        {"update_id": 11, "callback_query": {"id": "c", "from": user(APPROVER), "data": 5}},
        {"update_id": 12, "callback_query": {"id": "c", "from": {"id": "111"}, "data": "x"}},
        {"update_id": 13, "callback_query": {"id": "c", "from": user(APPROVER), "data": "x" * 65}},
    ]
    for body in ignored:
        response = await post_update(client, body)
        assert response.status_code == 200, (body, response.text)
        assert response.json() == {"ok": True}
    assert bot_api.calls[before:] == []

    for raw in (b"", b"not json", b"{", b"[]", b'"text"', b"42", b"null", b"\xff\xfe\x00"):
        response = await client.post(WEBHOOK, content=raw, headers=headers)
        assert response.status_code == 422, (raw, response.status_code, response.text)
    nested = b"[" * 100_000 + b"]" * 100_000
    response = await client.post(WEBHOOK, content=nested, headers=headers)
    assert response.status_code == 422, response.text[:300]

    # A press on a button nobody made is answered, and decides nothing.
    for data in ("no-such-button", "A" * 22):
        response = await post_update(
            client, press_update(drafted.card, data, callback_id="cb-unknown")
        )
        assert response.status_code == 200, (data, response.text)
    assert [call.method for call in bot_api.calls[before:]] == ["answerCallbackQuery"] * 2
    for answer in bot_api.callback_answers:
        assert answer["text"] == "This button is not known.", answer
    # Data no card carries (a plain action name, a NUL, a lone surrogate) is not even looked up.
    for data in (f"knowledge.approve:{drafted.entry_id}", "\u0000", "\ud800", "é" * 10):
        response = await post_update(client, press_update(drafted.card, data, callback_id="c"))
        assert response.status_code == 200, (data, response.text)
    # A user name no Telegram account has is left out of the actor, not stored.
    for username in ("eve\u0000", "\ud800", 5):
        pressed = press_update(drafted.card, drafted.approve, user_id=STRANGER, callback_id="c")
        pressed["callback_query"]["from"]["username"] = username
        response = await post_update(client, pressed)
        assert response.status_code == 200, (username, response.text)
    assert len(bot_api.calls[before:]) == 2 + 3
    assert (await entry(client, admin_headers, drafted.entry_id))["status"] == "DRAFT"
    audited = await notify_audit(client, admin_headers)
    assert [(a["actor"], a["action"], a["outcome"]) for a in audited] == [
        ("telegram:111 (@ann)", "notify.unknown_action", "refused"),
        ("telegram:111 (@ann)", "notify.unknown_action", "refused"),
        ("telegram:999", "notify.knowledge.approve", "refused"),
        ("telegram:999", "notify.knowledge.approve", "refused"),
        ("telegram:999", "notify.knowledge.approve", "refused"),
    ]

    # A press whose message is not Telegram-shaped still decides; only the card edit is skipped.
    for message in ({"message_id": "x", "chat": "not an object"}, {"message_id": [1]}):
        odd = press_update(drafted.card, drafted.approve, callback_id="cb-odd")
        odd["callback_query"]["message"] = message
        response = await post_update(client, odd)
        assert response.status_code == 200, response.text
    assert (await entry(client, admin_headers, drafted.entry_id))["status"] == "PUBLISHED"
    assert bot_api.message(CHAT_ID, drafted.card.message_id).edits == []


# ---------------------------------------------------------------- repairs waiting for a human


async def test_a_risky_repair_is_approved_from_its_card_and_runs(
    runtime: Runtime,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    bot_api: FakeTelegramAPI,
    heal_server: RecordingServer,
) -> None:
    await post_alert(client, admin_headers, "HealRisky")
    await runtime.worker().run_until_idle()
    page = await get_json(client, "/api/v1/repairs", admin_headers)
    assert page["total"] == 1, page
    repair_id = page["items"][0]["id"]
    pending = await get_json(client, f"/api/v1/repairs/{repair_id}", admin_headers)
    assert (pending["status"], pending["verdict"]) == ("pending_approval", "NEEDS_APPROVAL")
    assert heal_server.requests == []

    [call] = sent_cards(bot_api, f"approve repair #{repair_id}")
    assert call.params["chat_id"] == CHAT_ID
    assert call.params["parse_mode"] == "HTML"
    buttons = buttons_of(call)
    assert list(buttons) == ["Approve", "Reject", "Open incident"]
    assert buttons["Open incident"]["url"].startswith(f"{PUBLIC_URL}/api/v1/incidents/INC-")
    [telegram] = [
        n for n in await notifications(runtime, "repair.approval") if n.channel == "telegram"
    ]
    records = {r.id: (r.action, r.target) for r in await actions_of(runtime, telegram.id)}
    assert records == {
        buttons["Approve"]["callback_data"]: ("repair.approve", str(repair_id)),
        buttons["Reject"]["callback_data"]: ("repair.reject", str(repair_id)),
    }

    card = card_message(bot_api, call)
    response = await post_update(client, press_update(card, buttons["Approve"]["callback_data"]))
    assert response.status_code == 200, response.text
    queued = await get_json(client, f"/api/v1/repairs/{repair_id}", admin_headers)
    assert queued["status"] == "queued"
    assert queued["decided_by"] == "telegram:111 (@ann)"
    assert bot_api.callback_answers[-1]["text"] == f"Approved: repair #{repair_id} is queued"
    edited = bot_api.message(CHAT_ID, card.message_id)
    assert "is queued — by telegram:111 (@ann)" in edited.visible_text
    assert not (edited.reply_markup or {}).get("inline_keyboard")
    assert heal_server.requests == []

    await runtime.worker().run_until_idle()
    done = await get_json(client, f"/api/v1/repairs/{repair_id}", admin_headers)
    assert done["status"] == "succeeded", done
    assert [(r.method, r.path) for r in heal_server.requests] == [("POST", "/risky/web")]
    audited = await notify_audit(client, admin_headers)
    assert [(a["action"], a["target"], a["outcome"]) for a in audited] == [
        ("repair.approve", f"repair:{repair_id}", "ok"),
        # The approval moved the incident on: the approver's change, through the same door.
        ("incident.repairing", f"incident:{done['incident_id']}", "ok"),
    ]

    # Reject on the same card, later: the repair has run, nothing changes.
    late = press_update(card, buttons["Reject"]["callback_data"], update_id=2, callback_id="cb2")
    assert (await post_update(client, late)).status_code == 200
    assert bot_api.callback_answers[-1]["text"].startswith("Already decided")
    assert (await get_json(client, f"/api/v1/repairs/{repair_id}", admin_headers))[
        "status"
    ] == "succeeded"


# ---------------------------------------------------------------- a channel that is down


@pytest.mark.parametrize("telegram_target", ["front"])
async def test_a_failing_telegram_never_holds_up_the_repair_and_is_retried(
    runtime: Runtime,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    bot_api: FakeTelegramAPI,
    bot_api_front: BotApiFront,
) -> None:
    assert bot_api_front.down  # every Bot API call is answered 500
    await post_alert(client, admin_headers, "WebDown")
    await runtime.worker().run_until_idle()

    # The repair and the harvest finished; only the Telegram copy waits for a retry.
    [repair] = (await get_json(client, "/api/v1/repairs", admin_headers))["items"]
    assert repair["status"] == "succeeded"
    assert {job.status for job in await jobs(runtime, RUNBOOK_JOB)} == {"done"}
    drafts = await get_json(
        client, "/api/v1/knowledge?type=AUTO_RUNBOOK&status=DRAFT", admin_headers
    )
    assert drafts["total"] == 1
    copies = by_channel(await notifications(runtime, "knowledge.review"))
    assert copies["log"].status == "sent"
    assert (copies["telegram"].status, copies["telegram"].attempts) == ("failed", 1)
    assert "(500): Internal Server Error" in (copies["telegram"].error or "")
    assert bot_api_front.refused >= 1

    await requeue_now(runtime)
    await runtime.worker().run_until_idle()
    telegram = by_channel(await notifications(runtime, "knowledge.review"))["telegram"]
    assert (telegram.status, telegram.attempts) == ("failed", 2)
    assert bot_api.calls == []

    # The server is back: the next attempt delivers the card, once.
    bot_api_front.down = False
    await requeue_now(runtime)
    await runtime.worker().run_until_idle()
    telegram = by_channel(await notifications(runtime, "knowledge.review"))["telegram"]
    assert (telegram.status, telegram.attempts, telegram.error) == ("sent", 3, None)
    [call] = sent_cards(bot_api, "Runbook draft to review")
    assert telegram.external_id == f"{CHAT_ID}:{card_message(bot_api, call).message_id}"
    [send_job] = [
        job
        for job in await jobs(runtime, SEND_JOB)
        if job.payload["notification_id"] == telegram.id
    ]
    assert (send_job.status, send_job.attempts) == ("done", 3)
    # Its buttons work like those of a card that went out at once.
    approve = buttons_of(call)["Approve"]["callback_data"]
    pressed = press_update(card_message(bot_api, call), approve)
    assert (await post_update(client, pressed)).status_code == 200
    assert (await entry(client, admin_headers, drafts["items"][0]["id"]))["status"] == "PUBLISHED"


@pytest.mark.parametrize(("telegram_target", "jobs_overrides"), [("closed", {"max_attempts": 2})])
async def test_an_unreachable_telegram_ends_failed_with_its_error(
    runtime: Runtime,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    bot_api: FakeTelegramAPI,
) -> None:
    await post_alert(client, admin_headers, "WebDown")
    await runtime.worker().run_until_idle()

    [repair] = (await get_json(client, "/api/v1/repairs", admin_headers))["items"]
    assert repair["status"] == "succeeded"
    drafts = await get_json(
        client, "/api/v1/knowledge?type=AUTO_RUNBOOK&status=DRAFT", admin_headers
    )
    assert drafts["total"] == 1
    copies = by_channel(await notifications(runtime, "knowledge.review"))
    assert copies["log"].status == "sent"
    assert (copies["telegram"].status, copies["telegram"].attempts) == ("failed", 1)

    await requeue_now(runtime)
    await runtime.worker().run_until_idle()
    telegram = by_channel(await notifications(runtime, "knowledge.review"))["telegram"]
    assert (telegram.status, telegram.attempts) == ("failed", 2)
    assert "request failed" in (telegram.error or ""), telegram.error
    [send_job] = [
        job
        for job in await jobs(runtime, SEND_JOB)
        if job.payload["notification_id"] == telegram.id
    ]
    assert send_job.status == "dead"
    assert bot_api.calls == []


# ---------------------------------------------------------------- secrets


async def test_no_secret_from_a_failed_step_reaches_telegram(
    runtime: Runtime,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    bot_api: FakeTelegramAPI,
    leaky_server: LeakyServer,
) -> None:
    await post_alert(client, admin_headers, "HealLeaks")
    await runtime.worker().run_until_idle()

    [repair] = (await get_json(client, "/api/v1/repairs", admin_headers))["items"]
    assert repair["status"] == "failed"
    assert leaky_server.hits >= 1
    [notice] = sent_cards(bot_api, "Anti-pattern published")
    assert "leaky-heal" in str(notice.params["text"])
    # The error did reach the card, with the secrets taken out.
    shown = "\n".join(message.visible_text for message in bot_api.messages)
    assert "/heal/web -> 500, expected 2xx: password=[REDACTED:" in shown
    assert "[REDACTED:awoooi_token]" in shown
    traffic = bot_api.raw_traffic()
    assert LEAKED_PASSWORD.encode() not in traffic
    assert LEAKED_TOKEN.encode() not in traffic
    assert LEAKED_TOKEN[4:].encode() not in traffic
    for kind in ("knowledge.anti_pattern", "repair.failed"):
        copies = by_channel(await notifications(runtime, kind))
        assert {n.status for n in copies.values()} == {"sent"}, kind
        for note in copies.values():
            assert LEAKED_PASSWORD not in note.title + note.text
            assert LEAKED_TOKEN not in note.title + note.text


# ---------------------------------------------------------------- one decision, one audit shape


async def test_approving_a_repair_is_audited_alike_from_every_door(
    runtime: Runtime,
    settings: Settings,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    bot_api: FakeTelegramAPI,
) -> None:
    """The API, the CLI and a Telegram button approve three waiting repairs: the repair service
    writes each audit row, so the rows differ only in who decided and through which door."""
    for namespace in ("north", "south", "east"):
        payload = am_payload([am_alert(alertname="HealRisky", namespace=namespace)])
        alerts = "/api/v1/alerts/alertmanager"
        posted = await client.post(alerts, json=payload, headers=admin_headers)
        assert posted.status_code == 202, posted.text
    await runtime.worker().run_until_idle()
    page = await get_json(client, "/api/v1/repairs?status=pending_approval", admin_headers)
    by_api, by_cli, by_button = sorted(item["id"] for item in page["items"])

    approved = await client.post(f"/api/v1/repairs/{by_api}/approve", headers=admin_headers)
    assert approved.status_code == 200, approved.text

    assert settings.database_url is not None
    env = cli_env(settings.home, settings.database_url.get_secret_value())
    printed = await asyncio.to_thread(
        run_awoooi, "repairs", "approve", str(by_cli), env=env, directory=settings.home
    )
    assert f"repair {by_cli} approved: queued" in printed

    [card_call] = sent_cards(bot_api, f"approve repair #{by_button}")
    card = card_message(bot_api, card_call)
    pressed = press_update(card, buttons_of(card_call)["Approve"]["callback_data"])
    assert (await post_update(client, pressed)).status_code == 200

    rows = await get_json(client, "/api/v1/audit?action=repair.approve", admin_headers)
    by_door = {row["door"]: row for row in rows}
    assert set(by_door) == {"api", "cli", "telegram"}
    assert by_door["api"]["actor"] == "admin"
    assert by_door["cli"]["actor"].startswith("cli:")
    assert by_door["telegram"]["actor"] == "telegram:111 (@ann)"
    repair_of = {"api": by_api, "cli": by_cli, "telegram": by_button}

    def decision(door: str) -> dict[str, Any]:
        """The row without its identity (id, time, request) and who/where: the decision."""
        row = by_door[door]
        assert row["target"] == f"repair:{repair_of[door]}"
        ignored = {"id", "at", "request_id", "actor", "door"}
        return {**{k: v for k, v in row.items() if k not in ignored}, "target": "repair:N"}

    assert decision("api") == decision("cli") == decision("telegram")
    assert decision("api") == {
        "action": "repair.approve",
        "target": "repair:N",
        "outcome": "ok",
        "detail": {"playbook": "risky-heal", "target": "playbook/risky-heal", "status": "queued"},
    }

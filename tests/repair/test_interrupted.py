"""A restart in the middle of a repair: a step with a side effect leaves the repair `interrupted`
(a human is told; no anti-pattern, no runbook), a step without one runs again and the repair
goes on. The restart is real: `awoooi worker` is SIGKILLed mid-step and a second worker takes
the job once its lease expires. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from awoooi.core.audit import list_audit
from awoooi.knowledge.harvest import ANTI_PATTERN_JOB, RUNBOOK_JOB
from awoooi.knowledge.service import check_anti_pattern
from awoooi.repair.actions import has_side_effects, validate_params
from awoooi.repair.models import Repair
from awoooi.repair.service import EXECUTE_JOB
from awoooi.repair.settings import RepairSettings
from awoooi.runtime import Runtime
from awoooi.settings import Settings
from tests.conftest import make_settings
from tests.helpers.serve import AWOOOI, background_process, cli_env, run_awoooi
from tests.repair.conftest import (
    HOST,
    RecordingServer,
    decide,
    entries,
    events,
    fire,
    incident,
    jobs,
    load_repair,
    notifications,
)

WAIT_TIMEOUT = 30.0  # a bound on polling, never asserted
HELD = 60.0  # how long the server holds the POST: far longer than the test needs

PLAYBOOKS = """
id: check-heal-check
name: Check, heal, check again
match:
  signals: [HealHangs]
target: null
risk: low
steps:
  - action: http.request
    params: {method: GET, url: "http://127.0.0.1:__HEAL__/check"}
    timeout: 5s
  - action: http.request
    params: {method: POST, url: "http://127.0.0.1:__HEAL__/heal/${service}"}
    timeout: 5m
  - action: http.request
    params: {method: GET, url: "http://127.0.0.1:__HEAL__/check-again"}
    timeout: 5s
cooldown: 0
max_attempts: 1
---
id: check-wait-check
name: Check, wait, check again
match:
  signals: [WaitThenCheck]
target: null
risk: low
steps:
  - action: http.request
    params: {method: GET, url: "http://127.0.0.1:__HEAL__/before"}
    timeout: 5s
  - action: wait
    params: {seconds: 3}
  - action: http.request
    params: {method: GET, url: "http://127.0.0.1:__HEAL__/after"}
    timeout: 5s
cooldown: 0
max_attempts: 1
"""


def repair_settings(playbooks: Path) -> dict[str, Any]:
    return {
        "playbooks_dir": str(playbooks),
        "http_allowed_hosts": [HOST],
        "include_default_playbooks": False,
        "on_new_incident": False,  # the tests decide when a decision is made
    }


@pytest.fixture
def settings(tmp_path: Path, database_url: str, heal_server: RecordingServer) -> Settings:
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "service.yaml").write_text(PLAYBOOKS.replace("__HEAL__", str(heal_server.port)))
    return make_settings(
        tmp_path / "home",
        database_url,
        repair=repair_settings(playbooks),
        ai={"diagnose_incidents": False},
    )


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    active = Runtime.from_settings(settings)
    await active.migrate()
    try:
        yield active
    finally:
        await active.dispose()


async def kill_worker_when(
    settings: Settings, tmp_path: Path, ready: Callable[[], Awaitable[bool]], what: str
) -> None:
    """Run `awoooi worker` (1 s lease) until `ready()` holds, then SIGKILL it: a real crash."""
    config = tmp_path / "worker.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "repair": repair_settings(Path(str(settings.repair.playbooks_dir))),
                "ai": {"diagnose_incidents": False},
                "jobs": {"lease_seconds": 1, "poll_interval": 0.05, "concurrency": 1},
            }
        )
    )
    env = cli_env(
        tmp_path / "worker-home", settings.resolved_database_url, AWOOOI_CONFIG=str(config)
    )
    with background_process(
        [str(AWOOOI), "worker", "--id", "doomed"], name="worker", env=env, directory=tmp_path
    ) as worker:
        deadline = time.monotonic() + WAIT_TIMEOUT
        while not await ready():
            worker.assert_alive()
            if time.monotonic() > deadline:
                pytest.fail(f"the worker never reached {what}:\n{worker.output()}")
            await asyncio.sleep(0.05)
        os.kill(worker.popen.pid, signal.SIGKILL)
        worker.popen.wait(timeout=WAIT_TIMEOUT)


async def restart_and_recover(runtime: Runtime, repair_id: int) -> Repair:
    """Another worker takes the job once the dead one's lease expires, and runs what follows."""
    deadline = time.monotonic() + WAIT_TIMEOUT
    while (await load_repair(runtime, repair_id)).status == "running":
        await runtime.worker().run_until_idle()
        if time.monotonic() > deadline:
            pytest.fail("the repair was not picked up after the restart")
        await asyncio.sleep(0.1)
    await runtime.worker().run_until_idle()  # the notifications, the harvest
    return await load_repair(runtime, repair_id)


def step_statuses(repair: Repair) -> list[tuple[str, str]]:
    return [(step.action, step.status) for step in repair.steps]


async def test_a_restart_during_a_step_with_a_side_effect_interrupts_the_repair(
    runtime: Runtime,
    settings: Settings,
    heal_server: RecordingServer,
    tmp_path: Path,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
) -> None:
    heal_server.delays["/heal/web"] = HELD
    human_id = await fire(runtime, alertname="HealHangs")
    repair = await decide(runtime, human_id)
    assert repair.status == "queued"

    async def posting() -> bool:
        return any(r.method == "POST" for r in heal_server.requests)

    await kill_worker_when(settings, tmp_path, posting, "the POST")
    assert (await load_repair(runtime, repair.id)).status == "running"

    done = await restart_and_recover(runtime, repair.id)
    assert (done.status, done.success) == ("interrupted", None)
    assert done.finished_at is not None
    assert "step 2 (http.request)" in (done.error or "")
    assert "restart" in (done.error or "")
    assert step_statuses(done) == [
        ("http.request", "succeeded"),
        ("http.request", "interrupted"),
        ("http.request", "planned"),
    ]
    # The POST is never sent twice, and nothing after it runs.
    assert [(r.method, r.path) for r in heal_server.requests] == [
        ("GET", "/check"),
        ("POST", "/heal/web"),
    ]
    [job] = await jobs(runtime, EXECUTE_JOB)
    assert job.status == "done"

    # Not a failed fix: nothing is learnt, nothing blocks these symptoms.
    assert await entries(runtime, "ANTI_PATTERN") == []
    assert await entries(runtime, "AUTO_RUNBOOK") == []
    assert await jobs(runtime, RUNBOOK_JOB, ANTI_PATTERN_JOB) == []
    async with runtime.session_factory() as session:
        assert await check_anti_pattern(session, done.symptoms_hash, 7) is None

    # A human is told, with the incident, the repair and the step that was running.
    assert await notifications(runtime, "repair.failed") == []
    [note] = await notifications(runtime, "repair.interrupted")
    assert note.status == "sent"
    assert human_id in note.title
    assert f"#{repair.id}" in note.title
    assert "interrupted" in note.title
    assert "2. http.request" in note.text
    assert "/heal/web" in note.text
    assert "POST" in note.text
    assert [button["label"] for button in note.buttons] == ["Open repair", "Open incident"]

    # The timeline and the audit say so.
    found = await incident(runtime, human_id)
    assert found.status == "escalated"
    timeline = await events(runtime, human_id)
    assert [e.event for e in timeline] == [
        "repair_decision",
        "repair_started",
        "repair_interrupted",
    ]
    assert timeline[-1].detail["repair_id"] == repair.id
    assert (timeline[-1].detail["step"], timeline[-1].detail["action"]) == (2, "http.request")
    async with runtime.session_factory() as session:
        audited = await list_audit(session, action="repair.interrupted")
    [entry] = audited
    assert (entry.actor, entry.door, entry.target) == ("awoooi", "system", f"repair:{repair.id}")
    assert entry.detail["step"] == 2

    # The doors show the new status.
    listed = await client.get(
        "/api/v1/repairs", params={"status": "interrupted"}, headers=admin_headers
    )
    assert listed.status_code == 200, listed.text
    assert [item["id"] for item in listed.json()["items"]] == [repair.id]
    shown = await client.get(f"/api/v1/repairs/{repair.id}", headers=admin_headers)
    assert shown.json()["status"] == "interrupted"
    assert [s["status"] for s in shown.json()["steps"]] == ["succeeded", "interrupted", "planned"]
    env = cli_env(tmp_path / "cli-home", settings.resolved_database_url, COLUMNS="200")
    table = run_awoooi("repairs", "list", "--status", "interrupted", env=env, directory=tmp_path)
    assert f"│ {repair.id}  │ {human_id} │" in table
    assert "interrupted" in table
    assert "1 of 1" in table
    shown_cli = run_awoooi("repairs", "show", str(repair.id), env=env, directory=tmp_path)
    assert f"repair #{repair.id} interrupted" in shown_cli
    rows = [line.split("│") for line in shown_cli.splitlines() if line.startswith("│")]
    assert [(row[2].strip(), row[3].strip()) for row in rows] == step_statuses(done)

    # Neither success nor failure: a human may ask for the same fix again for this incident.
    again = await client.post(
        f"/api/v1/incidents/{human_id}/repair", json={"wait": False}, headers=admin_headers
    )
    assert again.status_code == 200, again.text
    assert (again.json()["verdict"], again.json()["status"]) == ("AUTO", "queued")


async def test_a_restart_during_a_wait_resumes_the_repair(
    runtime: Runtime, settings: Settings, heal_server: RecordingServer, tmp_path: Path
) -> None:
    human_id = await fire(runtime, alertname="WaitThenCheck")
    repair = await decide(runtime, human_id)
    assert repair.status == "queued"

    async def waiting() -> bool:
        steps = (await load_repair(runtime, repair.id)).steps
        return len(steps) == 3 and steps[1].status == "running"

    await kill_worker_when(settings, tmp_path, waiting, "the wait")
    assert [(r.method, r.path) for r in heal_server.requests] == [("GET", "/before")]

    done = await restart_and_recover(runtime, repair.id)
    assert (done.status, done.success) == ("succeeded", True)
    assert step_statuses(done) == [
        ("http.request", "succeeded"),
        ("wait", "succeeded"),
        ("http.request", "succeeded"),
    ]
    # The finished GET is not repeated; the wait runs again; the second GET is made once.
    assert [(r.method, r.path) for r in heal_server.requests] == [
        ("GET", "/before"),
        ("GET", "/after"),
    ]
    [job] = await jobs(runtime, EXECUTE_JOB)
    assert (job.status, job.attempts) == ("done", 2)
    assert [e.event for e in await events(runtime, human_id)] == [
        "repair_decision",
        "repair_started",
        "repair_resumed",
        "repair_succeeded",
    ]
    assert len(await entries(runtime, "AUTO_RUNBOOK")) == 1
    assert await entries(runtime, "ANTI_PATTERN") == []
    assert await notifications(runtime, "repair.interrupted") == []


@pytest.mark.parametrize(
    ("action", "params", "changes"),
    [
        ("wait", {"seconds": 1}, False),
        ("http.request", {"url": "http://127.0.0.1/x"}, False),
        ("http.request", {"method": "GET", "url": "http://127.0.0.1/x"}, False),
        ("http.request", {"method": "head", "url": "http://127.0.0.1/x"}, False),
        ("http.request", {"method": "POST", "url": "http://127.0.0.1/x"}, True),
        ("http.request", {"method": "PUT", "url": "http://127.0.0.1/x"}, True),
        ("http.request", {"method": "PATCH", "url": "http://127.0.0.1/x"}, True),
        ("http.request", {"method": "DELETE", "url": "http://127.0.0.1/x"}, True),
        ("kube.rollout_restart", {}, True),
        ("kube.scale", {"delta": 1}, True),
        ("kube.rollout_undo", {}, True),
        ("kube.delete_pod", {"pod": "web-1"}, True),
        ("kube.patch", {"patch": {"metadata": {"labels": {"a": "b"}}}}, True),
    ],
)
def test_the_catalog_says_which_steps_change_something(
    action: str, params: dict[str, Any], changes: bool
) -> None:
    settings = RepairSettings(http_allowed_hosts=[HOST], patch_allowed_fields=["metadata.labels.*"])
    typed = validate_params(action, params, settings)
    assert has_side_effects(action, typed) is changes

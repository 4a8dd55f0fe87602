"""The Knowledge, Drift and Operations pages in Debian's Chromium, against a real `awoooi serve`
whose cluster is the local API-server stand-in and whose Git is a real bare remote: a draft
approved from the review queue, a rollback whose dry-run diff is shown before its confirm (and
applied only after it), hostile runbook text shown as text, no action for a viewer, and every
page whole with every request outside 127.0.0.1 refused (and none attempted)."""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import yaml

from awoooi.runtime import ADMIN_TOKEN_FILE
from tests.conftest import _in_thread, create_pg_database, drop_pg_database
from tests.console.conftest import Console, Tab, _make_token
from tests.drift.conftest import seed_remote
from tests.drift.test_adopt_api import APP_YAML, IMAGE_PATH
from tests.helpers.kube_api import FakeKubeAPI
from tests.helpers.serve import awoooi_process, cli_env, free_port, healthy, wait_until

pytestmark = pytest.mark.xdist_group("console-browser")

POLL = 0.2
WAIT = 30.0  # a bound on waiting for the worker, never asserted as a duration
START = 120.0  # a bound on waiting for the server on a loaded machine, never asserted
GIT_IMAGE = "registry.local/web:1.4.0"
LIVE_IMAGE = "registry.local/web:1.5.1-hotfix"
HOSTILE = """# Restart the worker

<script>window.pwned = 1</script>

<img src=x onerror="window.pwned = 2">

Then watch ![the graph](http://tracker.example/pixel.png).
"""


@dataclass
class DriftConsole(Console):
    """The console with a cluster (the API-server stand-in) and Git (a bare remote)."""

    kube: FakeKubeAPI | None = None


def live_objects() -> list[dict[str, Any]]:
    """Git's objects as hand-edited live: a hotfix image, a debug log level."""
    deployment, config = (yaml.safe_load(doc) for doc in APP_YAML.split("---"))
    live = copy.deepcopy(deployment)
    live["spec"]["template"]["spec"]["containers"][0]["image"] = LIVE_IMAGE
    config["data"]["LOG_LEVEL"] = "debug"
    return [live, config]


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def console(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Console]:
    """`awoooi serve` (with its worker) whose drift compares a bare remote with the stand-in."""
    root = tmp_path_factory.mktemp(f"console-pages-{request.param}")
    remote = seed_remote(root, {"manifests/app.yaml": APP_YAML})
    kube = FakeKubeAPI().start()
    for obj in live_objects():
        kube.add(obj)
    config = root / "awoooi.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "ai": {"diagnose_incidents": False},
                "jobs": {"poll_interval": 0.1},
                "console": {"refresh_seconds": 3600},
                "kube": {"server": kube.url},
                "drift": {
                    "desired": f"file://{remote}",
                    "path": "manifests",
                    "scan_interval": 0,
                    "interpret": False,
                },
            }
        )
    )
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{root / 'awoooi.db'}"
    else:  # from the migrated template: a busy machine starts it sooner
        template = request.getfixturevalue("pg_template")
        url = _in_thread(lambda: create_pg_database(template))
    port = free_port()
    home = root / "home"
    env = cli_env(home, url, AWOOOI_PORT=str(port), AWOOOI_CONFIG=str(config))
    try:
        with awoooi_process("serve", env=env, directory=root / "run") as server:
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=5) as probe:
                wait_until(server, lambda: healthy(probe), "awoooi serve to answer", timeout=START)
            admin = (home / ADMIN_TOKEN_FILE).read_text().strip()
            running = DriftConsole(request.param, base, admin, kube=kube)
            with running.api() as client:
                for role in ("viewer", "operator"):
                    running.tokens[role] = _make_token(client, f"{role}-pages", role)
            yield running
            assert "Traceback" not in server.output(), server.output()
    finally:
        kube.stop()
        if request.param == "postgresql":
            _in_thread(lambda: drop_pg_database(url))


def stand_in(console: Console) -> FakeKubeAPI:
    assert isinstance(console, DriftConsole)
    assert console.kube is not None
    return console.kube


def hand_edit(console: Console) -> None:
    """Put the hand-edited objects back in the stand-in (a rollback may have undone them)."""
    for obj in live_objects():
        stand_in(console).add(obj)


def live_image(console: Console) -> str:
    found = stand_in(console).get("Deployment", "shop", "web")
    assert found is not None
    return str(found["spec"]["template"]["spec"]["containers"][0]["image"])


def draft(console: Console, title: str, content: str) -> int:
    """A DRAFT runbook written through the API."""
    with console.api() as client:
        answer = client.post(
            "/api/v1/knowledge",
            json={"title": title, "content": content, "entry_type": "AUTO_RUNBOOK"},
        )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def entry(console: Console, entry_id: int) -> dict[str, Any]:
    with console.api() as client:
        answer = client.get(f"/api/v1/knowledge/{entry_id}")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def report(console: Console, report_id: int) -> dict[str, Any]:
    """A drift report once its scan has finished (the in-process worker scans)."""
    deadline = time.monotonic() + WAIT
    while True:
        with console.api() as client:
            answer = client.get(f"/api/v1/drift/reports/{report_id}")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        if body["status"] != "QUEUED":
            return body
        if time.monotonic() > deadline:
            pytest.fail(f"drift report {report_id} stayed QUEUED")
        time.sleep(POLL)


def scanned(console: Console) -> dict[str, Any]:
    """A finished drift report of a scan queued through the API."""
    with console.api() as client:
        answer = client.post("/api/v1/drift/scan")
    assert answer.status_code == 202, answer.text
    return report(console, int(answer.json()["report_id"]))


def item_at(found: dict[str, Any], kind: str, path: str) -> dict[str, Any]:
    [item] = [i for i in found["items"] if i["kind"] == kind and i["path"] == path]
    return item


def heading(tab: Tab) -> str:
    return str(tab.page.locator("h1").first.inner_text())


def test_a_runbook_draft_is_approved_from_the_review_queue(tab: Tab) -> None:
    console = tab.console
    entry_id = draft(console, "Restart the stuck queue worker", "1. `kubectl rollout restart`")
    tab.sign_in("operator")
    page = tab.page
    tab.open("/ui/knowledge")
    assert page.title() == "Knowledge · awoooi console"
    article = page.locator(f"#review article[data-entry='{entry_id}']")
    article.get_by_text("Read the draft").click()
    assert "kubectl rollout restart" in article.locator(".markdown code").inner_text()
    tab.shoot("knowledge-queue")

    article.get_by_label("Note").fill("matches what we did by hand")
    article.get_by_role("button", name=f"Approve entry {entry_id}").click()
    page.wait_for_url(re.compile(r"/ui/knowledge\?notice=approved"))
    assert "Approved" in page.get_by_role("status").inner_text()
    assert page.locator(f"#review article[data-entry='{entry_id}']").count() == 0
    approved = entry(console, entry_id)
    assert (approved["status"], approved["reviewed_by"], approved["review_note"]) == (
        "PUBLISHED",
        "operator-pages",
        "matches what we did by hand",
    )
    [audited] = [
        e for e in console.audit("knowledge.approve") if e["target"] == f"knowledge:{entry_id}"
    ]
    assert (audited["actor"], audited["door"]) == ("operator-pages", "console")


def test_hostile_runbook_text_is_shown_as_text(tab: Tab) -> None:
    entry_id = draft(tab.console, "Restart <b>now</b>", HOSTILE)
    tab.sign_in("operator")
    page = tab.page
    for path, body in (
        (f"/ui/knowledge/{entry_id}", "main .markdown"),
        ("/ui/knowledge", f"article[data-entry='{entry_id}'] .markdown"),
    ):
        tab.open(path)
        if path == "/ui/knowledge":
            page.locator(f"article[data-entry='{entry_id}'] summary").click()
        text = page.locator(body).inner_text()
        assert "<script>window.pwned = 1</script>" in text
        assert '<img src=x onerror="window.pwned = 2">' in text
        assert page.evaluate("window.pwned") is None  # nothing ran
        assert page.locator("main script").count() == 0
        assert page.locator("img").count() == 0
        assert page.locator("[onerror]").count() == 0
        assert page.locator("main b").count() == 0
    tab.open(f"/ui/knowledge/{entry_id}")
    assert heading(tab) == "Restart <b>now</b>"
    # The picture is a link to click, never a request the page makes by itself.
    assert page.get_by_role("link", name="the graph").get_attribute("href") == (
        "http://tracker.example/pixel.png"
    )
    tab.shoot("knowledge-hostile")


def test_a_rollback_shows_its_dry_run_diff_before_the_confirm(tab: Tab) -> None:
    console = tab.console
    kube = stand_in(console)
    hand_edit(console)
    tab.sign_in("operator")
    page = tab.page
    tab.open("/ui/drift")
    page.get_by_role("button", name="Scan now").click()
    page.wait_for_url(re.compile(r"/ui/drift/\d+\?notice=queued"))
    report_id = int(re.findall(r"/ui/drift/(\d+)", page.url)[0])
    found = report(console, report_id)
    image = item_at(found, "Deployment", IMAGE_PATH)
    assert image["live"] == LIVE_IMAGE
    assert live_image(console) == LIVE_IMAGE
    tab.open(f"/ui/drift/{report_id}")
    assert page.title() == f"Report {report_id} · Drift · awoooi console"
    resource = page.locator("article.resource", has_text="Deployment/shop/web")
    assert "high" in resource.locator("h3").inner_text().lower()
    assert resource.locator(".intent").count() == 1
    tab.shoot("drift-report")

    page.locator(f"input[name=item][value='{image['id']}']").check()
    writes_before = len(kube.requests_to("PATCH"))
    page.get_by_role("button", name="Preview rollback").click()
    page.wait_for_url(re.compile(rf"/ui/drift/{report_id}/rollback/preview"))
    assert page.title() == f"Rollback preview · Report {report_id} · Drift · awoooi console"
    diff = page.get_by_label(f"Dry-run diff of item {image['id']}")
    assert diff.locator(".diff-del").inner_text() == f"-{LIVE_IMAGE}"
    assert diff.locator(".diff-add").inner_text() == f"+{GIT_IMAGE}"
    assert "would_change" in page.locator(f"li[data-item='{image['id']}']").inner_text()
    # Only a dry run so far: the cluster is as it was, every write was dryRun=All.
    assert live_image(console) == LIVE_IMAGE
    previews = kube.requests_to("PATCH")[writes_before:]
    assert previews
    assert all(p.query.get("dryRun") == "All" for p in previews)
    assert report(console, report_id)["status"] == "DETECTED"
    tab.shoot("drift-rollback-preview")

    page.get_by_role("button", name="Confirm rollback").click()
    page.wait_for_url(re.compile(rf"/ui/drift/{report_id}/rollback$"))
    assert heading(tab) == f"Rollback done: report {report_id}"
    assert "rolled_back" in page.locator(f"li[data-item='{image['id']}']").inner_text()
    assert live_image(console) == GIT_IMAGE
    assert any(p.query.get("dryRun") is None for p in kube.requests_to("PATCH")[writes_before:])
    after = item_at(report(console, report_id), "Deployment", IMAGE_PATH)
    assert (after["status"], after["status_by"]) == ("ROLLED_BACK", "operator-pages")
    rollbacks = [
        e for e in console.audit("drift.rollback") if e["target"] == f"drift-report:{report_id}"
    ]
    assert sorted((e["actor"], e["door"], e["detail"]["dry_run"]) for e in rollbacks) == [
        ("operator-pages", "console", False),
        ("operator-pages", "console", True),
    ]
    tab.shoot("drift-rollback-done")


def test_a_viewer_sees_no_actions_on_these_pages(tab: Tab) -> None:
    console = tab.console
    entry_id = draft(console, "Drain the node first", "Cordon, then drain.")
    hand_edit(console)
    found = scanned(console)
    tab.sign_in("viewer")
    page = tab.page
    for path in (
        "/ui/knowledge",
        f"/ui/knowledge/{entry_id}",
        "/ui/drift",
        f"/ui/drift/{found['id']}",
        "/ui/operations",
        "/ui/operations/notifications",
        "/ui/operations/llm",
    ):
        tab.open(path)
        assert page.locator("main form[method=post]").count() == 0, path
        assert page.locator("main input[type=checkbox]").count() == 0, path
        for name in ("Approve", "Reject", "Scan now", "Preview rollback", "Ignore", "Retry"):
            assert page.get_by_role("button", name=re.compile(name)).count() == 0, (path, name)
    tab.open(f"/ui/drift/{found['id']}")
    assert "An operator or admin rolls back" in page.locator("#items").inner_text()
    tab.shoot("drift-report-viewer")
    tab.open("/ui/operations")
    assert page.locator("nav.subnav").inner_text().split() == [
        "Notifications",
        "LLM",
        "calls",
        "and",
        "cost",
    ]
    for path in ("/ui/operations/audit", "/ui/operations/tokens", f"/ui/knowledge/{entry_id}/edit"):
        answer = tab.open(path)
        assert answer.status == 403, path
        assert "needs the" in page.get_by_role("alert").inner_text()


def test_every_new_page_is_whole_without_the_internet(tab: Tab) -> None:
    console = tab.console
    entry_id = draft(console, "Restart the cache", "## Steps\n\n- restart\n- check")
    hand_edit(console)
    found = scanned(console)
    assert len({item["kind"] for item in found["items"]}) == 2  # long values to fit a phone
    page = tab.page
    broken: list[str] = []
    page.on("response", lambda r: broken.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    tab.sign_in("admin")
    pages = [
        ("/ui/knowledge", "Knowledge", "Knowledge"),
        ("/ui/knowledge/search?q=cache", "Search · Knowledge", "Search knowledge"),
        (f"/ui/knowledge/{entry_id}", "Restart the cache · Knowledge", "Restart the cache"),
        (f"/ui/knowledge/{entry_id}/edit", "Edit Restart the cache", "Edit: Restart the cache"),
        ("/ui/drift", "Drift", "Drift"),
        (f"/ui/drift/{found['id']}", f"Report {found['id']} · Drift", "Drift report"),
        ("/ui/operations", "Operations", "Operations"),
        ("/ui/operations/notifications", "Notifications · Operations", "Notifications"),
        ("/ui/operations/llm", "LLM calls · Operations", "LLM calls and cost"),
        ("/ui/operations/audit", "Audit log · Operations", "Audit log"),
        ("/ui/operations/tokens", "Tokens · Operations", "API tokens"),
    ]
    for path, title, head in pages:
        answer = tab.open(path)
        assert answer.status == 200, path
        assert page.title().startswith(title), (path, page.title())
        assert head in heading(tab), (path, heading(tab))
        bar = page.locator("header.top")
        assert bar.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(15, 23, 42)"
        assert page.locator("nav[aria-label=Sections] a[aria-current=page]").count() == 1
        name = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")
        tab.shoot("page-" + name)
    assert broken == []

    # A phone's width: nothing scrolls sideways, tables become labelled rows.
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/ui/knowledge", f"/ui/drift/{found['id']}", "/ui/operations/audit"):
        tab.open(path)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
        tab.shoot("phone-" + re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-"))
    assert tab.outside.attempts == []
    assert tab.outside.failed_local == []


def test_keyboard_reaches_the_review_actions(tab: Tab) -> None:
    entry_id = draft(tab.console, "Scale the consumer", "Scale it to 3.")
    tab.sign_in("operator")
    page = tab.page
    tab.open("/ui/knowledge")
    focused = []
    for _ in range(80):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.textContent.trim()"))
    assert {"Knowledge", "Search", f"Approve entry {entry_id}", f"Reject entry {entry_id}"} <= set(
        focused
    )

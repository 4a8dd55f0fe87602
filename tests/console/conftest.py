"""The console in a real browser: Debian's Chromium driven by Playwright against a real
`awoooi serve` on 127.0.0.1, with every request to anywhere else refused and recorded.

One browser for the module of browser tests; one server per database (SQLite, PostgreSQL),
each started once. Each test gets a fresh browser context (its own cookies) whose outside
requests are blocked. Screenshots of every page go to test-artifacts/console/ (git-ignored).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from awoooi.runtime import ADMIN_TOKEN_FILE
from tests.conftest import _in_thread, create_pg_database, drop_pg_database
from tests.helpers.serve import awoooi_process, cli_env, free_port, healthy, in_ci, wait_until
from tests.incidents.conftest import am_alert, am_payload
from tests.repair.conftest import RecordingServer

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
LOCAL_HOSTS = frozenset({"127.0.0.1"})
VIEWER_ZONE = "Asia/Kolkata"  # UTC+05:30 all year
WAIT_MS = 15_000  # a bound on waiting for the page, never asserted as a duration

# A risky playbook: every incident of this alert waits for an operator's approval.
PLAYBOOK = """
id: risky-heal
name: Heal, once a human agrees
match:
  signals: [HealRisky, HealRiskyViewer]
target: null
risk: high
steps:
  - action: http.request
    params:
      method: POST
      url: http://127.0.0.1:__HEAL__/heal/${service}
    timeout: 5s
cooldown: 0
max_attempts: 5
"""


def _skip_or_fail(message: str) -> None:
    if in_ci():
        pytest.fail(message + " (CI=true: the browser tests must not skip)")
    pytest.skip(message)


# Module scope, not session: while the sync driver lives it marks an event loop as running in
# this thread, and every asyncio test after it on the same worker would fail to start its own.
@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Any]:
    """Playwright's driver (never a downloaded browser: Debian's chromium is launched)."""
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _skip_or_fail("playwright is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        _skip_or_fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright_driver: Any) -> Iterator[Any]:
    """One headless Chromium for the browser tests' module."""
    launched = playwright_driver.chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        # Root in a container has no user namespace for Chromium's sandbox.
        args=["--no-sandbox", "--disable-dev-shm-usage"],
    )
    try:
        yield launched
    finally:
        launched.close()


@dataclass
class Console:
    """A running `awoooi serve`, its tokens and what it needs to be driven."""

    database: str
    base_url: str
    admin: str
    tokens: dict[str, str] = field(default_factory=dict)
    heal: RecordingServer | None = None

    def api(self, token: str | None = None) -> httpx.Client:
        """An API client (admin's token unless another is given)."""
        headers = {"Authorization": f"Bearer {token or self.admin}"}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=10)

    def fire(self, **alert: Any) -> str:
        """Post one Alertmanager alert with the ingest token; the incident's human id."""
        with self.api(self.tokens["ingest"]) as client:
            answer = client.post(
                "/api/v1/alerts/alertmanager", json=am_payload([am_alert(**alert)])
            )
        assert answer.status_code == 202, answer.text
        [human_id] = answer.json()["incidents"]
        return str(human_id)

    def incident(self, human_id: str) -> dict[str, Any]:
        """The incident as the API shows it."""
        with self.api() as client:
            answer = client.get(f"/api/v1/incidents/{human_id}")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def repairs_of(self, human_id: str) -> list[dict[str, Any]]:
        """The incident's repairs as the API lists them, newest first."""
        with self.api() as client:
            answer = client.get("/api/v1/repairs", params={"incident": human_id})
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()["items"]
        return items

    def audit(self, action: str) -> list[dict[str, Any]]:
        """Audit entries of an action, newest first."""
        with self.api() as client:
            answer = client.get("/api/v1/audit", params={"action": action})
        assert answer.status_code == 200, answer.text
        entries: list[dict[str, Any]] = answer.json()
        return entries


def _make_token(client: httpx.Client, name: str, role: str) -> str:
    answer = client.post("/api/v1/tokens", json={"name": name, "role": role})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["token"])


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def console(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Console]:
    """`awoooi serve` (with its in-process worker) on a free port, on SQLite or PostgreSQL."""
    root = tmp_path_factory.mktemp(f"console-{request.param}")
    heal = RecordingServer().start()
    playbooks = root / "playbooks"
    playbooks.mkdir()
    (playbooks / "risky.yaml").write_text(PLAYBOOK.replace("__HEAL__", str(heal.port)))
    config = root / "awoooi.yaml"
    config.write_text(
        "ai:\n  diagnose_incidents: false\n"
        "repair:\n"
        f"  playbooks_dir: {playbooks}\n"
        "  include_default_playbooks: false\n"
        "  http_allowed_hosts: ['127.0.0.1']\n"
        "jobs:\n  poll_interval: 0.1\n"
        "console:\n  refresh_seconds: 3600\n"  # refreshes only when a test moves the clock
    )
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{root / 'awoooi.db'}"
    else:
        url = _in_thread(create_pg_database)
    port = free_port()
    home = root / "home"
    env = cli_env(home, url, AWOOOI_PORT=str(port), AWOOOI_CONFIG=str(config))
    try:
        with awoooi_process("serve", env=env, directory=root / "run") as server:
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=5) as probe:
                wait_until(server, lambda: healthy(probe), "awoooi serve to answer")
            admin = (home / ADMIN_TOKEN_FILE).read_text().strip()
            running = Console(request.param, base, admin, heal=heal)
            with running.api() as client:
                for role in ("viewer", "operator", "ingest"):
                    running.tokens[role] = _make_token(client, f"{role}-browser", role)
            yield running
            assert "Traceback" not in server.output(), server.output()
    finally:
        heal.stop()
        if request.param == "postgresql":
            _in_thread(lambda: drop_pg_database(url))


@dataclass
class Outside:
    """Requests the browser tried to send anywhere but 127.0.0.1 (each was refused)."""

    attempts: list[str] = field(default_factory=list)
    failed_local: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """test-artifacts/console/, emptied once per session."""
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@dataclass
class Tab:
    """A browser page on the console, with what its context tried to reach."""

    page: Any
    console: Console
    outside: Outside
    artifacts: Path

    def open(self, path: str) -> Any:
        """Go to a console path; the response."""
        return self.page.goto(self.console.base_url + path, wait_until="load")

    def sign_in(self, role: str) -> None:
        """Sign in through the form with this role's token."""
        token = self.console.admin if role == "admin" else self.console.tokens[role]
        self.open("/ui/login")
        self.page.get_by_label("API token").fill(token)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(re.compile(r"/ui/incidents"))

    def shoot(self, name: str) -> Path:
        """Save a full-page screenshot under test-artifacts/console/."""
        path = self.artifacts / f"{self.console.database}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def csrf(self) -> str:
        """The CSRF token this session's forms carry (from the sign-out form)."""
        value = self.page.locator("form[action='/ui/logout'] input[name=csrf_token]").get_attribute(
            "value"
        )
        assert value
        return str(value)


@pytest.fixture
def tab(browser: Any, console: Console, artifacts: Path) -> Iterator[Tab]:
    """A fresh browser context (no cookies) on the console; outside requests are refused."""
    outside = Outside()
    # A viewer half a world from UTC, so the pages' "your time zone" is seen to be theirs.
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="en-US", timezone_id=VIEWER_ZONE
    )
    context.set_default_timeout(WAIT_MS)

    def guard(route: Any) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            route.continue_()
        else:
            outside.attempts.append(route.request.url)
            route.abort("blockedbyclient")

    context.route("**/*", guard)

    def failed(request: Any) -> None:
        # A request cut short by the next navigation (a favicon, say) is not a broken page.
        local = (urlsplit(request.url).hostname or "") in LOCAL_HOSTS
        if local and request.failure != "net::ERR_ABORTED":
            outside.failed_local.append(f"{request.url} {request.failure}")

    context.on("requestfailed", failed)
    page = context.new_page()
    try:
        yield Tab(page, console, outside, artifacts)
    finally:
        context.close()
    assert outside.attempts == [], f"the page tried to reach outside hosts: {outside.attempts}"

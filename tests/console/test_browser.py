"""The console in Debian's Chromium: sign-in, incidents, approvals, roles, CSRF and /docs,
with every request outside 127.0.0.1 refused (and none attempted)."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.console.conftest import Console, Tab

pytestmark = pytest.mark.xdist_group("console-browser")

POLL = 0.2
WAIT = 30.0  # a bound on waiting for the worker, never asserted as a duration


def heading(tab: Tab) -> str:
    return str(tab.page.locator("h1").first.inner_text())


def test_sign_in_and_out(tab: Tab) -> None:
    page = tab.page
    tab.open("/")
    page.wait_for_url(re.compile(r"/ui/login"))
    assert page.title() == "Sign in · awoooi console"
    assert page.get_by_label("API token").get_attribute("type") == "password"
    tab.shoot("login")

    page.get_by_label("API token").fill("awi_not-a-real-token")
    page.get_by_role("button", name="Sign in").click()
    assert "not valid" in page.get_by_role("alert").inner_text()

    tab.sign_in("viewer")
    assert heading(tab) == "Incidents"
    assert page.locator(".who-name").inner_text() == "viewer-browser"
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["awoooi_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Strict"
    assert "viewer-browser" not in session["value"]  # a hash and a nonce, not the token

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/ui/login\?reason=signed_out"))
    assert "signed out" in page.get_by_role("status").inner_text()
    assert "awoooi_session" not in {c["name"] for c in page.context.cookies()}
    tab.open("/ui/incidents")
    page.wait_for_url(re.compile(r"/ui/login\?next="))


def test_an_ingested_alert_shows_in_the_list_and_its_page(tab: Tab) -> None:
    human_id = tab.console.fire(
        alertname="CheckoutLatencyHigh", namespace="payments", pod="checkout-6d5f7b9c8-abcde"
    )
    tab.sign_in("viewer")
    page = tab.page
    row = page.locator(f"tr[data-incident='{human_id}']")
    row.wait_for()
    text = row.inner_text()
    assert "payments" in text
    assert "open" in text or "diagnosing" in text or "repairing" in text
    # Times are shown in the viewer's zone, relative ("just now", "5 min ago").
    assert row.locator("time").first.get_attribute("datetime")
    assert "UTC" not in row.locator("time").first.inner_text()
    assert "GMT+5:30" in str(row.locator("time").first.get_attribute("title"))
    tab.shoot("incidents")

    page.get_by_role("link", name=human_id).click()
    page.wait_for_url(re.compile(human_id))
    assert page.title() == f"{human_id} · Incidents · awoooi console"
    assert human_id in heading(tab)
    assert page.get_by_role("heading", name="Timeline").is_visible()
    assert "opened" in page.locator(".timeline").inner_text()
    tab.shoot("incident")

    tab.open("/ui/incidents")
    page.get_by_label("Namespace").fill("payments")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"namespace=payments"))
    assert page.locator(f"tr[data-incident='{human_id}']").is_visible()
    page.get_by_label("Namespace").fill("nowhere")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"namespace=nowhere"))
    assert "No incident matches these filters" in page.locator("#live").inner_text()
    tab.shoot("incidents-filtered-empty")


def wait_for_repair(console: Console, human_id: str, status: str) -> dict[str, Any]:
    """The incident's newest repair once it has this status (the in-process worker decides)."""
    deadline = time.monotonic() + WAIT
    while True:
        repairs = console.repairs_of(human_id)
        if repairs and repairs[0]["status"] == status:
            return repairs[0]
        if time.monotonic() > deadline:
            pytest.fail(f"{human_id}'s repair never became {status}: {repairs}")
        time.sleep(POLL)


def test_an_operator_approves_a_waiting_repair(tab: Tab) -> None:
    console = tab.console
    human_id = console.fire(alertname="HealRisky", pod="shop-5f6d7c8b9-qwert")
    waiting = wait_for_repair(console, human_id, "pending_approval")
    tab.sign_in("operator")
    page = tab.page
    tab.open("/ui/repairs")
    assert page.title() == "Repairs · awoooi console"
    row = page.locator(f"#waiting tr[data-repair='{waiting['id']}']")
    assert "pending_approval" in row.inner_text()
    tab.shoot("repairs-waiting")

    row.get_by_label("Note").fill("checked the dashboards")
    row.get_by_role("button", name=f"Approve repair {waiting['id']}").click()
    page.wait_for_url(re.compile(r"notice=approved"))
    assert "Approved" in page.get_by_role("status").inner_text()
    after = console.repairs_of(human_id)[0]
    assert after["id"] == waiting["id"]
    assert after["status"] in {"queued", "running", "succeeded"}
    assert after["decided_by"] == "operator-browser"
    assert page.locator(f"#waiting tr[data-repair='{waiting['id']}']").count() == 0
    [audited] = [
        e for e in console.audit("repair.approve") if e["target"] == f"repair:{waiting['id']}"
    ]
    assert (audited["actor"], audited["door"]) == ("operator-browser", "console")

    done = wait_for_repair(console, human_id, "succeeded")
    tab.open(f"/ui/repairs/{done['id']}")
    assert page.title() == f"Repair {done['id']} · Repairs · awoooi console"
    assert "succeeded" in page.locator(".facts").inner_text()
    assert "http.request" in page.locator("table.steps").inner_text()
    tab.shoot("repair")


def test_a_viewer_sees_no_actions_and_a_forged_post_is_refused(tab: Tab) -> None:
    console = tab.console
    human_id = console.fire(alertname="HealRiskyViewer", pod="shop-5f6d7c8b9-viewr")
    waiting = wait_for_repair(console, human_id, "pending_approval")
    tab.sign_in("viewer")
    page = tab.page
    tab.open(f"/ui/incidents/{human_id}")
    assert page.locator("main form").count() == 0
    for name in ("Resolve", "Escalate", "Repair now", f"Approve repair {waiting['id']}"):
        assert page.get_by_role("button", name=name).count() == 0
    tab.open("/ui/repairs")
    assert page.locator(f"#waiting tr[data-repair='{waiting['id']}']").is_visible()
    assert page.locator("main button").count() == 0
    tab.shoot("repairs-viewer")

    # The viewer's own session and CSRF token, posted by hand: the server checks the role.
    csrf = tab.csrf()
    for path, form in (
        (f"/ui/incidents/{human_id}/resolve", {"reason": "forged"}),
        (f"/ui/repairs/{waiting['id']}/approve", {"note": "forged"}),
        (f"/ui/incidents/{human_id}/repair", {}),
    ):
        answer = page.request.post(console.base_url + path, form={**form, "csrf_token": csrf})
        assert answer.status == 403, (path, answer.text())
        assert "operator role" in answer.text()
    assert console.incident(human_id)["status"] != "resolved"
    assert console.repairs_of(human_id)[0]["status"] == "pending_approval"


def test_a_post_without_the_csrf_token_is_refused(tab: Tab) -> None:
    console = tab.console
    human_id = console.fire(alertname="CsrfProbe", pod="csrf-5f6d7c8b9-zzzzz")
    tab.sign_in("operator")
    page = tab.page
    tab.open(f"/ui/incidents/{human_id}")
    # The real form, its hidden token taken out: the browser posts it with the session cookie.
    page.evaluate(
        "document.querySelector(\"form[action$='/resolve'] input[name=csrf_token]\").remove()"
    )
    page.get_by_role("button", name="Resolve").click()
    page.wait_for_load_state()
    assert page.title() == "Request refused · awoooi console"
    assert "security token is missing" in page.get_by_role("alert").inner_text()
    tab.shoot("csrf-refused")
    wrong = page.request.post(
        f"{console.base_url}/ui/incidents/{human_id}/resolve", form={"csrf_token": "forged"}
    )
    assert wrong.status == 403
    assert console.incident(human_id)["status"] != "resolved"

    # With its token the same form works, audited as the console's.
    tab.open(f"/ui/incidents/{human_id}")
    page.get_by_label("Reason").first.fill("fixed by hand")
    page.get_by_role("button", name="Resolve").click()
    page.wait_for_url(re.compile(r"notice=resolved"))
    assert console.incident(human_id)["status"] == "resolved"
    [audited] = [e for e in console.audit("incident.resolved") if human_id in e["target"]]
    assert (audited["actor"], audited["door"]) == ("operator-browser", "console")


def test_docs_load_whole_without_the_internet(tab: Tab) -> None:
    page = tab.page
    answer = tab.open("/docs")
    assert answer.status == 200
    page.locator(".opblock").first.wait_for()
    assert page.locator(".opblock").count() > 20
    assert page.get_by_role("button", name=re.compile("Authorize")).is_visible()
    assert page.locator(".swagger-ui .information-container").inner_text().startswith("awoooi")
    tab.shoot("docs")

    # "Authorize" takes a token, and "Try it out" sends it.
    page.locator(".auth-wrapper button.authorize").click()
    page.locator(".modal-ux input[type=text], .modal-ux input[type=password]").first.fill(
        tab.console.tokens["viewer"]
    )
    page.locator(".modal-ux .auth-btn-wrapper button.authorize").click()
    page.locator(".modal-ux button.btn-done").click()
    operation = page.locator("#operations-incidents-list_incidents_api_v1_incidents_get")
    operation.locator(".opblock-summary").first.click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tr.response .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip() == "200"
    tab.shoot("docs-try-it-out")
    assert tab.outside.attempts == []
    assert tab.outside.failed_local == []


CONSOLE_PAGES = [
    ("/ui/incidents", "Incidents", "Incidents"),
    ("/ui/repairs", "Repairs", "Repairs"),
    ("/ui/knowledge", "Knowledge", "Knowledge"),
    ("/ui/drift", "Drift", "Drift"),
    ("/ui/operations", "Operations", "Operations"),
    ("/ui/no-such-page", "Not found", "Not found"),
]


def test_every_page_is_whole_without_the_internet(tab: Tab) -> None:
    page = tab.page
    broken: list[str] = []
    page.on("response", lambda r: broken.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    tab.sign_in("admin")
    human_id = tab.console.fire(alertname="EveryPage", pod="every-5f6d7c8b9-pages")
    pages = [*CONSOLE_PAGES, (f"/ui/incidents/{human_id}", human_id, human_id)]
    for path, title, head in pages:
        tab.open(path)
        assert page.title().startswith(title), (path, page.title())
        assert head in heading(tab), (path, heading(tab))
        # Styled by the packaged stylesheet: the bar is dark, not the browser's default.
        bar = page.locator("header.top")
        assert bar.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(15, 23, 42)"
        tab.shoot("page-" + path.strip("/").replace("/", "-"))
    assert broken == ["404 " + tab.console.base_url + "/ui/no-such-page"]
    # A phone's width: the table becomes labelled rows, nothing scrolls sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    tab.open("/ui/incidents")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.evaluate(
        "[...document.querySelectorAll('.scroll')].every(e => e.scrollWidth <= e.clientWidth)"
    )
    tab.shoot("incidents-phone")
    assert tab.outside.attempts == []
    assert tab.outside.failed_local == []


def test_keyboard_reaches_the_sign_in_and_the_actions(tab: Tab) -> None:
    page = tab.page
    tab.open("/ui/login")
    page.keyboard.type(tab.console.tokens["operator"])  # the token field has the focus
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/ui/incidents"))
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    focused = []
    for _ in range(40):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.textContent.trim()"))
    assert {"Incidents", "Repairs", "Sign out", "Filter"} <= set(focused)


def test_the_list_refreshes_itself(tab: Tab) -> None:
    page = tab.page
    # The page's clock is the test's: the hourly refresh (this server's setting) fires on demand.
    page.clock.install()
    tab.sign_in("viewer")
    before = page.locator("tr[data-incident]").count()
    human_id = tab.console.fire(alertname="ShowsUpByItself", pod="self-5f6d7c8b9-rfrsh")
    assert page.locator(f"tr[data-incident='{human_id}']").count() == 0
    page.clock.fast_forward(3600 * 1000)
    page.locator(f"tr[data-incident='{human_id}']").wait_for()
    assert page.locator("tr[data-incident]").count() == before + 1
    # The new rows' times are formatted too (an hour later on the page's clock).
    assert page.locator(f"tr[data-incident='{human_id}'] time").first.inner_text() == "1 hr. ago"

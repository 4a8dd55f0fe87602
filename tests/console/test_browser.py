"""The console in Debian's Chromium: sign-in, incidents, approvals, roles, CSRF and /docs,
with every request outside 127.0.0.1 refused (and none attempted)."""

from __future__ import annotations

import re

import pytest

from tests.console.conftest import Tab

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

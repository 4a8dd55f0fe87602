"""The console's Drift pages over HTTP on SQLite and PostgreSQL, with a real bare Git remote and a
`kubectl get -o yaml` dump as the live side: reports, items by resource with level and intent,
roles and CSRF on every action, adopt's Git diff before its confirm, ignore with a rule."""

from __future__ import annotations

import html
import re
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import select

from awoooi.core.models import AuditEntry, Role
from awoooi.drift.models import DriftIgnoreRule, DriftItemRecord
from awoooi.runtime import Runtime
from awoooi.settings import Settings
from tests.conftest import make_settings
from tests.console.pages_helpers import SignIn
from tests.console.test_http import KEY, alert_text
from tests.drift.conftest import git, seed_remote
from tests.drift.test_adopt_api import APP_YAML, IMAGE_PATH, live_objects, remote_file


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """A bare remote whose main branch holds manifests/app.yaml."""
    return seed_remote(tmp_path, {"manifests/app.yaml": APP_YAML})


@pytest.fixture
def settings(tmp_path: Path, database_url: str, remote: Path) -> Settings:
    """Drift from the remote against a dump of the live objects; no cluster."""
    dump = tmp_path / "dump"
    dump.mkdir()
    listing = {"apiVersion": "v1", "kind": "List", "metadata": {}, "items": live_objects()}
    (dump / "all.yaml").write_text(yaml.safe_dump(listing))
    return make_settings(
        tmp_path / "home",
        database_url,
        console={"session_key": KEY},
        ai={"diagnose_incidents": False},
        drift={
            "desired": f"file://{remote}",
            "path": "manifests",
            "live_dump": dump,
            "interpret": False,
            "scan_interval": 0,
        },
    )


@pytest.fixture
def signed_in_as(runtime: Runtime, client: httpx.AsyncClient) -> SignIn:
    """Sign the client in as a role; the CSRF token of its forms."""
    return SignIn(runtime, client, "/ui/drift")


async def scanned(runtime: Runtime, client: httpx.AsyncClient, csrf: str) -> int:
    """Scan through the console's button, run the job; the report's id."""
    queued = await client.post("/ui/drift/scan", data={"csrf_token": csrf})
    assert queued.status_code == 303, queued.text
    found = re.fullmatch(r"/ui/drift/(\d+)\?notice=queued", queued.headers["location"])
    assert found, queued.headers["location"]
    await runtime.worker().run_until_idle()
    return int(found.group(1))


async def item_ids(runtime: Runtime, report_id: int) -> dict[tuple[str, str], int]:
    async with runtime.session_factory() as session:
        items = await session.scalars(
            select(DriftItemRecord).where(DriftItemRecord.report_id == report_id)
        )
        return {(item.kind, item.path): item.id for item in items}


async def audited(runtime: Runtime, action: str) -> list[AuditEntry]:
    async with runtime.session_factory() as session:
        return list(
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
            )
        )


def actions_of(report_id: int) -> list[str]:
    return [
        f"/ui/drift/{report_id}/rollback/preview",
        f"/ui/drift/{report_id}/rollback",
        f"/ui/drift/{report_id}/adopt/preview",
        f"/ui/drift/{report_id}/adopt",
        f"/ui/drift/{report_id}/ignore",
    ]


async def test_reports_items_by_resource_and_the_roles_of_every_action(
    runtime: Runtime, client: httpx.AsyncClient, signed_in_as: SignIn, remote: Path
) -> None:
    viewer_csrf = await signed_in_as(Role.VIEWER)
    empty = await client.get("/ui/drift")
    assert "No drift report yet" in empty.text
    assert "Scan now" not in empty.text
    assert (await client.post("/ui/drift/scan", data={"csrf_token": viewer_csrf})).status_code == (
        403
    )

    csrf = await signed_in_as(Role.OPERATOR)
    assert (await client.post("/ui/drift/scan")).status_code == 403  # no CSRF token
    report_id = await scanned(runtime, client, csrf)
    [scan] = await audited(runtime, "drift.scan")
    assert (scan.actor, scan.door and scan.door.value) == ("operator-http", "console")
    ids = await item_ids(runtime, report_id)
    image = ids[("Deployment", IMAGE_PATH)]

    listing = await client.get("/ui/drift")
    assert f'<tr data-report="{report_id}">' in listing.text
    assert "DETECTED" in listing.text
    page = await client.get(f"/ui/drift/{report_id}")
    assert page.status_code == 200
    assert "<title>Report" in page.text
    # Grouped by resource, in the order a person reads them, each with its probable intent.
    labels = re.findall(r'<h3 id="res-\d+-h"><code>([^<]+)</code>', page.text)
    assert labels == ["ConfigMap/shop/web-config", "Deployment/shop/web"]
    assert page.text.count('class="intent"') == 2
    assert f'name="item" value="{image}"' in page.text
    assert "Preview rollback" in page.text
    assert "registry.local/web:1.5.1-hotfix" in page.text

    viewer_csrf = await signed_in_as(Role.VIEWER)
    seen = await client.get(f"/ui/drift/{report_id}")
    assert 'method="post"' not in seen.text.split("<main", 1)[1]
    assert 'name="item"' not in seen.text
    assert "An operator or admin rolls back" in seen.text
    for path in actions_of(report_id):
        forged = await client.post(path, data={"csrf_token": viewer_csrf, "item": str(image)})
        assert forged.status_code == 403, path
        assert "needs the operator role" in alert_text(forged.text), path

    await signed_in_as(Role.OPERATOR)
    for path in actions_of(report_id):
        refused = await client.post(path, data={"item": str(image)})
        assert refused.status_code == 403, path
        assert "security token is missing" in alert_text(refused.text), path
    head = git("--git-dir", str(remote), "rev-parse", "main")
    assert git("--git-dir", str(remote), "rev-parse", "main") == head
    assert [e.detail.get("dry_run") for e in await audited(runtime, "drift.adopt")] == []


async def test_adopt_shows_the_git_diff_before_its_confirm(
    runtime: Runtime, client: httpx.AsyncClient, signed_in_as: SignIn, remote: Path
) -> None:
    csrf = await signed_in_as(Role.OPERATOR)
    report_id = await scanned(runtime, client, csrf)
    image = (await item_ids(runtime, report_id))[("Deployment", IMAGE_PATH)]
    before = remote_file(remote)
    head = git("--git-dir", str(remote), "rev-parse", "main")

    preview = await client.post(
        f"/ui/drift/{report_id}/adopt/preview", data={"csrf_token": csrf, "item": str(image)}
    )
    assert preview.status_code == 200, preview.text
    text = html.unescape(preview.text)
    assert "Adopt preview: report" in text
    assert "Dry run: nothing was changed in Git" in text
    assert '<span class="diff-del">-          image: "registry.local/web:1.4.0"' in text
    assert '<span class="diff-add">+          image: "registry.local/web:1.5.1-hotfix"' in text
    assert f'<input type="hidden" name="item" value="{image}">' in text
    assert "Confirm adopt: commit and push" in text
    assert remote_file(remote) == before
    assert git("--git-dir", str(remote), "rev-parse", "main") == head

    confirmed = await client.post(
        f"/ui/drift/{report_id}/adopt", data={"csrf_token": csrf, "item": str(image)}
    )
    assert confirmed.status_code == 200, confirmed.text
    assert "Adopt done: report" in confirmed.text
    assert "Confirm" not in confirmed.text
    assert remote_file(remote) == before.replace(
        '"registry.local/web:1.4.0"', '"registry.local/web:1.5.1-hotfix"'
    )
    commit = git("--git-dir", str(remote), "rev-parse", "main")
    assert commit != head
    assert commit[:12] in confirmed.text
    entries = await audited(runtime, "drift.adopt")
    assert [(e.actor, e.door and e.door.value, e.detail["dry_run"]) for e in entries] == [
        ("operator-http", "console", True),
        ("operator-http", "console", False),
    ]
    page = await client.get(f"/ui/drift/{report_id}")
    assert "ADOPTED" in page.text
    assert f'name="item" value="{image}"' not in page.text  # decided: no box to tick


async def test_ignore_with_a_rule_and_what_is_refused(
    runtime: Runtime, client: httpx.AsyncClient, signed_in_as: SignIn
) -> None:
    csrf = await signed_in_as(Role.OPERATOR)
    report_id = await scanned(runtime, client, csrf)
    ids = await item_ids(runtime, report_id)
    level = ids[("ConfigMap", "data.LOG_LEVEL")]

    none_chosen = await client.post(f"/ui/drift/{report_id}/ignore", data={"csrf_token": csrf})
    assert none_chosen.status_code == 422
    assert "choose at least one item" in alert_text(none_chosen.text)
    no_cluster = await client.post(
        f"/ui/drift/{report_id}/rollback/preview", data={"csrf_token": csrf, "item": str(level)}
    )
    assert no_cluster.status_code == 409
    assert "rollback needs a cluster" in alert_text(no_cluster.text)
    stranger = await client.post(
        f"/ui/drift/{report_id}/adopt/preview", data={"csrf_token": csrf, "item": "999999"}
    )
    assert stranger.status_code == 404
    assert "has no item 999999" in alert_text(stranger.text)

    ignored = await client.post(
        f"/ui/drift/{report_id}/ignore",
        data={"csrf_token": csrf, "item": str(level), "reason": "debugging", "add_rule": "true"},
    )
    assert ignored.status_code == 303
    assert ignored.headers["location"] == f"/ui/drift/{report_id}?notice=ignored_rule"
    async with runtime.session_factory() as session:
        [rule] = list(await session.scalars(select(DriftIgnoreRule)))
        item = await session.get(DriftItemRecord, level)
    assert (rule.kind, rule.path, rule.reason, rule.created_by) == (
        "ConfigMap",
        "data.LOG_LEVEL",
        "debugging",
        "operator-http",
    )
    assert item is not None
    assert item.status == "IGNORED"
    page = await client.get(ignored.headers["location"])
    assert "a rule added" in page.text
    [entry] = await audited(runtime, "drift.ignore")
    assert (entry.actor, entry.door and entry.door.value) == ("operator-http", "console")


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/ui/drift?level=loud", 422, "unknown level"),
        ("/ui/drift?status=maybe", 422, "unknown status"),
        ("/ui/drift/424242", 404, "no drift report 424242"),
        ("/ui/drift/0", 422, "report_id"),
    ],
)
async def test_drift_errors_are_pages_with_their_message(
    path: str,
    status: int,
    message: str,
    runtime: Runtime,
    client: httpx.AsyncClient,
    signed_in_as: SignIn,
) -> None:
    await signed_in_as(Role.VIEWER)
    answer = await client.get(path)
    assert answer.status_code == status
    assert message in html.unescape(alert_text(answer.text))

"""`awoooi drift scan --save`, `reports`, `show`, `adopt`, `ignore`, `rollback` from the CLI:
one real subprocess for the saved scan's JSON (other checks read `report_id` and `id`), the
rest in-process through Typer's runner (each subprocess costs seconds of imports)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from awoooi.cli.main import app
from awoooi.core.db import create_engine, create_session_factory, transaction
from awoooi.core.models import AuditEntry
from tests.drift.conftest import seed_remote
from tests.drift.test_adopt_api import APP_YAML, IMAGE_PATH, live_objects, remote_file
from tests.helpers.serve import AWOOOI, cli_env


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return seed_remote(tmp_path, {"manifests/app.yaml": APP_YAML})


@pytest.fixture
def dump(tmp_path: Path) -> Path:
    directory = tmp_path / "dump"
    directory.mkdir()
    listing = {"apiVersion": "v1", "kind": "List", "metadata": {}, "items": live_objects()}
    (directory / "all.yaml").write_text(yaml.safe_dump(listing))
    return directory


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return cli_env(
        tmp_path / "home",
        database_url,
        AWOOOI_DRIFT__INTERPRET="false",
        AWOOOI_AI__PROVIDERS="[]",
        AWOOOI_LOG_LEVEL="warning",
    )


def run(env: dict[str, str], *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result.stdout


def test_saved_scan_json_then_show_adopt_ignore(
    env: dict[str, str], remote: Path, dump: Path
) -> None:
    scan = subprocess.run(
        [
            str(AWOOOI),
            "drift",
            "scan",
            "--desired",
            f"file://{remote}",
            "--path",
            "manifests",
            "--live-dump",
            str(dump),
            "--save",
            "--yes",  # the database does not exist yet: create it
            "--format",
            "json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert scan.returncode == 1, scan.stderr  # drift found
    saved = json.loads(scan.stdout)
    report_id = saved["report_id"]
    assert isinstance(report_id, int)
    by_path = {item["path"]: item for item in saved["items"]}
    assert set(by_path) == {IMAGE_PATH, "data.LOG_LEVEL"}
    assert all(isinstance(item["id"], int) for item in saved["items"])
    image_id, level_id = by_path[IMAGE_PATH]["id"], by_path["data.LOG_LEVEL"]["id"]

    listed = json.loads(run(env, "drift", "reports", "--format", "json"))
    assert [r["id"] for r in listed["items"]] == [report_id]
    assert listed["items"][0]["status"] == "DETECTED"

    shown = json.loads(run(env, "drift", "show", str(report_id), "--format", "json"))
    assert {item["id"] for item in shown["items"]} == {image_id, level_id}
    assert {i["intent"] for i in shown["interpretations"]} == {"HOTFIX", "DEBUGGING"}
    table = run(env, "drift", "show", str(report_id))
    assert "HOTFIX" in table
    assert str(image_id) in table

    before = remote_file(remote)
    preview = run(env, "drift", "adopt", str(report_id), "--item", str(image_id), "--dry-run")
    assert "1.5.1-hotfix" in preview
    assert "dry run" in preview
    assert remote_file(remote) == before

    done = json.loads(
        run(env, "drift", "adopt", str(report_id), "--item", str(image_id), "--format", "json")
    )
    assert done["ok"]
    assert done["commit"]
    assert remote_file(remote) == before.replace("web:1.4.0", "web:1.5.1-hotfix")

    ignored = json.loads(
        run(
            env,
            "drift",
            "ignore",
            str(report_id),
            "--item",
            str(level_id),
            "--reason",
            "debugging the cache",
            "--add-rule",
            "--format",
            "json",
        )
    )
    assert [i["outcome"] for i in ignored["items"]] == ["ignored"]
    assert ignored["report_status"] == "ADOPTED"

    # The rule added by --add-rule whitelists the field in the next saved scan.
    rescan = subprocess.run(
        [
            str(AWOOOI),
            "drift",
            "scan",
            "--desired",
            f"file://{remote}",
            "--path",
            "manifests",
            "--live-dump",
            str(dump),
            "--save",
            "--format",
            "json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rescan.returncode == 0, (rescan.stdout, rescan.stderr)
    assert json.loads(rescan.stdout)["items"] == []


def test_rollback_without_a_cluster_and_bad_ids_fail_cleanly(
    env: dict[str, str], remote: Path, dump: Path, tmp_path: Path
) -> None:
    missing = CliRunner().invoke(app, ["drift", "show", "42", "--yes"], env=env)
    assert missing.exit_code == 1
    assert "no drift report 42" in missing.stderr
    assert "Traceback" not in missing.stderr + missing.stdout
    run(
        env,
        "drift",
        "scan",
        "--desired",
        f"file://{remote}",
        "--path",
        "manifests",
        "--live-dump",
        str(dump),
        "--save",
        code=1,
    )
    # No kube settings, no $KUBECONFIG, no ~/.kube/config: no cluster at all.
    no_cluster = {**env, "KUBECONFIG": "", "HOME": str(tmp_path)}
    refused = CliRunner().invoke(app, ["drift", "rollback", "1", "--dry-run"], env=no_cluster)
    assert refused.exit_code == 1
    assert "rollback needs a cluster" in refused.stderr
    unknown = CliRunner().invoke(app, ["drift", "adopt", "1", "--item", "999"], env=env)
    assert unknown.exit_code == 1
    assert "no item 999" in unknown.stderr
    # Refused decisions are audited from the CLI as from the API (the service does it).
    refusals = [
        (entry.door, entry.action, entry.target, entry.detail["error"])
        for entry in asyncio.run(audit_rows(env["AWOOOI_DATABASE_URL"]))
        if entry.outcome == "refused"
    ]
    assert refusals == [
        ("cli", "drift.rollback", "drift-report:1", "drift_action_refused"),
        ("cli", "drift.adopt", "drift-report:1", "not_found"),
    ]


async def audit_rows(database_url: str) -> list[AuditEntry]:
    engine = create_engine(database_url)
    try:
        async with transaction(create_session_factory(engine)) as session:
            return list(await session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    finally:
        await engine.dispose()


def test_scan_needs_one_live_source(env: dict[str, str]) -> None:
    both = CliRunner().invoke(
        app, ["drift", "scan", "--desired", "x", "--cluster", "--live-dump", "y"], env=env
    )
    assert both.exit_code == 2
    assert "exactly one of" in both.stderr
    nothing: Any = CliRunner().invoke(app, ["drift", "scan", "--cluster"], env=env)
    assert nothing.exit_code == 2
    assert "--desired" in nothing.stderr

"""`awoooi db prune [--dry-run]` as users run it: a real subprocess of the console script."""

from __future__ import annotations

from pathlib import Path

from awoooi.retention.service import TABLES
from awoooi.runtime import Runtime
from awoooi.settings import Settings
from tests.cli.test_cli import awoooi_cli, cli_env, table_rows
from tests.retention.seed import add_drift_report, add_incident, add_llm_call, row_counts


async def test_db_prune_prints_rows_per_table_and_dry_run_deletes_nothing(
    tmp_path: Path, settings: Settings, runtime: Runtime
) -> None:
    await add_incident(runtime.session_factory)
    await add_llm_call(runtime.session_factory)
    # Two old scans of one source: the newer one is the source's last known state and stays.
    await add_drift_report(runtime.session_factory)
    await add_drift_report(runtime.session_factory)
    before = await row_counts(runtime.session_factory)
    env = cli_env(settings.home, settings.resolved_database_url)

    dry = awoooi_cli("db", "prune", "--dry-run", env=env, cwd=tmp_path)

    assert dry.returncode == 0, dry.stderr
    assert "would delete" in dry.stdout
    expected = {
        "incidents": "1",
        "incident_alerts": "2",
        "incident_events": "2",
        "diagnoses": "1",
        "repairs": "1",
        "repair_steps": "2",
        "llm_calls": "1",
        "drift_reports": "1",
        "drift_items": "2",
    }
    rows = dict(table_rows(dry.stdout))
    assert list(rows) == list(TABLES)
    assert {table: rows[table] for table in expected} == expected
    assert await row_counts(runtime.session_factory) == before

    real = awoooi_cli("db", "prune", env=env, cwd=tmp_path)

    assert real.returncode == 0, real.stderr
    assert dict(table_rows(real.stdout)) == rows
    after = await row_counts(runtime.session_factory)
    assert after["incidents"] == after["llm_calls"] == after["repair_steps"] == 0
    assert (after["drift_reports"], after["drift_items"]) == (1, 2)

"""`drift.scan_interval` as the README documents it (`0` off, seconds, `30m`, `1h`, `1d`, ISO 8601),
through the real loading paths: AWOOOI_* variables, the YAML file, and `awoooi config show`."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from awoooi.core.errors import ConfigError
from awoooi.settings import load_settings
from tests.cli.test_cli import awoooi_cli, cli_env

ENV = "AWOOOI_DRIFT__SCAN_INTERVAL"

ACCEPTED = [
    ("0", timedelta(0)),
    ("3600", timedelta(hours=1)),
    ("90", timedelta(seconds=90)),
    ("90.5", timedelta(seconds=90.5)),
    (" 120 ", timedelta(minutes=2)),
    ("30m", timedelta(minutes=30)),
    ("1h", timedelta(hours=1)),
    ("1d", timedelta(days=1)),
    ("1h30m", timedelta(minutes=90)),
    ("2m 30s", timedelta(seconds=150)),
    ("PT1H", timedelta(hours=1)),
    ("PT15M", timedelta(minutes=15)),
    ("P1D", timedelta(days=1)),
    ("1:00:00", timedelta(hours=1)),  # how the configuration table shows the default
]


@pytest.mark.parametrize(("value", "expected"), ACCEPTED)
def test_the_environment_accepts_every_documented_form(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: timedelta
) -> None:
    monkeypatch.setenv(ENV, value)

    assert load_settings().drift.scan_interval == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0", timedelta(0)), ("3600", timedelta(hours=1)), ("'3600'", timedelta(hours=1))],
)
def test_the_yaml_file_accepts_seconds(tmp_path: Path, text: str, expected: timedelta) -> None:
    config = tmp_path / "awoooi.yaml"
    config.write_text(f"drift:\n  scan_interval: {text}\n", encoding="utf-8")

    assert load_settings(config).drift.scan_interval == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("30", "at least 1 minute"),
        ("-60", "at least 1 minute"),
        ("32d", "at most 31 days"),
        ("99999999999999999999", "at most 31 days"),
        ("99999999999d", "at most 31 days"),
        ("soon", "scan_interval"),
        ("1x", "scan_interval"),
        ("", "scan_interval"),
    ],
)
def test_bad_values_still_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, value: str, reason: str
) -> None:
    monkeypatch.setenv(ENV, value)

    with pytest.raises(ConfigError) as caught:
        load_settings()

    assert f"drift.scan_interval (env {ENV})" in caught.value.detail
    assert reason in caught.value.detail


@pytest.mark.parametrize(("value", "shown"), [("0", "PT0S"), ("3600", "PT1H"), ("30m", "PT30M")])
def test_config_show_starts_with_the_interval_from_the_environment(
    tmp_path: Path, value: str, shown: str
) -> None:
    done = awoooi_cli(
        "config", "show", env=cli_env(tmp_path / "home", **{ENV: value}), cwd=tmp_path
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["drift"]["scan_interval"] == shown

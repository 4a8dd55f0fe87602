"""Settings: defaults, the YAML file, AWOOOI_* variables, precedence and error messages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from awoooi.core.config import MAX_CONFIG_BYTES, JobsSettings
from awoooi.core.errors import ConfigError
from awoooi.notify.settings import NotifySettings
from awoooi.repair.settings import RepairSettings
from awoooi.settings import Settings, config_warnings, load_settings

README = Path(__file__).resolve().parents[2] / "README.md"


def write_yaml(directory: Path, text: str, name: str = "awoooi.yaml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def config_error(config_file: Path | None = None, **overrides: Any) -> str:
    """The text of the ConfigError load_settings raises."""
    with pytest.raises(ConfigError) as caught:
        load_settings(config_file, **overrides)
    assert str(caught.value) == caught.value.detail
    return caught.value.detail


def setting_keys(model: type[BaseModel] = Settings, prefix: str = "") -> Iterator[str]:
    """Every leaf setting as a dotted key; nested sections are walked."""
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from setting_keys(annotation, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}"


# --- defaults -----------------------------------------------------------------------------------


def test_defaults_without_file_or_environment() -> None:
    settings = load_settings()

    # Resolved once, when settings load (issue 18 item 1): `.awoooi` of the working directory.
    assert settings.home == Path(".awoooi").absolute()
    assert settings.database_url is None
    assert settings.host == "127.0.0.1"
    assert settings.port == 8080
    assert settings.log_format == "auto"
    assert settings.log_level == "info"
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.db_pool_size == 10
    assert settings.jobs == JobsSettings(
        poll_interval=1.0,
        lease_seconds=60.0,
        max_attempts=5,
        backoff_base=2.0,
        backoff_max=600.0,
        concurrency=2,
        run_in_serve=True,
    )
    assert settings.notify == NotifySettings()
    assert settings.notify.default_channels() == ["log"]  # every configured channel: log only
    assert settings.repair == RepairSettings(mode="auto")
    assert settings.public_url == "http://127.0.0.1:8080"
    assert config_warnings(settings) == []


def test_default_database_is_sqlite_under_home(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path / "state")

    expected = f"sqlite+aiosqlite:///{(tmp_path / 'state' / 'awoooi.db').resolve()}"
    assert settings.resolved_database_url == expected


def test_explicit_database_url_wins_over_home(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://awoooi:pw@db.example:5432/awoooi"
    settings = load_settings(home=tmp_path, database_url=url)

    assert settings.resolved_database_url == url
    assert "pw" not in repr(settings)  # a SecretStr: the password stays out of reprs


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    settings = load_settings(write_yaml(tmp_path, "# nothing set here\n"))

    assert settings.port == 8080
    assert settings.jobs.max_attempts == 5


# --- YAML file ----------------------------------------------------------------------------------


def test_yaml_file_values(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path,
        """
home: /var/lib/awoooi
database_url: postgresql+asyncpg://awoooi@db:5432/awoooi
host: 0.0.0.0
port: 9090
log_format: json
log_level: debug
max_body_bytes: 2048
db_pool_size: 3
jobs:
  poll_interval: 0.5
  max_attempts: 7
  concurrency: 4
  run_in_serve: false
notify:
  channels: [log]
repair:
  mode: dry-run
""",
    )

    settings = load_settings(path)

    assert settings.home == Path("/var/lib/awoooi")
    assert settings.resolved_database_url == "postgresql+asyncpg://awoooi@db:5432/awoooi"
    assert settings.host == "0.0.0.0"
    assert settings.port == 9090
    assert settings.log_format == "json"
    assert settings.log_level == "debug"
    assert settings.max_body_bytes == 2048
    assert settings.db_pool_size == 3
    assert settings.jobs.poll_interval == 0.5
    assert settings.jobs.max_attempts == 7
    assert settings.jobs.concurrency == 4
    assert settings.jobs.run_in_serve is False
    assert settings.jobs.lease_seconds == 60.0  # untouched keys keep their defaults
    assert settings.notify.channels == ["log"]
    assert settings.repair.mode == "dry-run"


def test_config_file_given_as_string(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "port: 9191\n")

    assert load_settings(str(path)).port == 9191


def test_awoooi_config_variable_picks_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_yaml(tmp_path, "port: 9292\nrepair: {mode: dry-run}\n")
    monkeypatch.setenv("AWOOOI_CONFIG", str(path))

    settings = load_settings()

    assert settings.port == 9292
    assert settings.repair.mode == "dry-run"


def test_explicit_file_wins_over_awoooi_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_env = write_yaml(tmp_path, "port: 9292\n", name="env.yaml")
    explicit = write_yaml(tmp_path, "port: 9393\n", name="explicit.yaml")
    monkeypatch.setenv("AWOOOI_CONFIG", str(from_env))

    assert load_settings(explicit).port == 9393


# --- environment --------------------------------------------------------------------------------


def test_env_sets_top_level_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWOOOI_PORT", "9001")
    monkeypatch.setenv("AWOOOI_HOST", "0.0.0.0")
    monkeypatch.setenv("AWOOOI_DATABASE_URL", "sqlite+aiosqlite:////srv/a.db")

    settings = load_settings()

    assert settings.port == 9001
    assert settings.host == "0.0.0.0"
    assert settings.resolved_database_url == "sqlite+aiosqlite:////srv/a.db"


def test_nested_env_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWOOOI_JOBS__MAX_ATTEMPTS", "3")
    monkeypatch.setenv("AWOOOI_REPAIR__MODE", "dry-run")
    monkeypatch.setenv("AWOOOI_JOBS__RUN_IN_SERVE", "false")
    monkeypatch.setenv("AWOOOI_NOTIFY__CHANNELS", '["log"]')

    settings = load_settings()

    assert settings.jobs.max_attempts == 3
    assert settings.jobs.run_in_serve is False
    assert settings.jobs.concurrency == 2  # the rest of the section keeps its defaults
    assert settings.repair.mode == "dry-run"
    assert settings.notify.channels == ["log"]


def test_env_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("awoooi_jobs__max_attempts", "4")

    assert load_settings().jobs.max_attempts == 4


def test_env_overrides_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_yaml(tmp_path, "port: 9090\nhost: 10.0.0.1\nrepair: {mode: auto}\n")
    monkeypatch.setenv("AWOOOI_PORT", "9191")
    monkeypatch.setenv("AWOOOI_REPAIR__MODE", "dry-run")

    settings = load_settings(path)

    assert settings.port == 9191
    assert settings.repair.mode == "dry-run"
    assert settings.host == "10.0.0.1"  # not set in the environment: the file's value


def test_yaml_and_env_merge_within_a_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_yaml(tmp_path, "jobs:\n  max_attempts: 7\n  concurrency: 4\n")
    monkeypatch.setenv("AWOOOI_JOBS__MAX_ATTEMPTS", "3")
    monkeypatch.setenv("AWOOOI_JOBS__POLL_INTERVAL", "0.25")

    jobs = load_settings(path).jobs

    assert jobs.max_attempts == 3  # env beats the file
    assert jobs.concurrency == 4  # only in the file: kept
    assert jobs.poll_interval == 0.25  # only in the environment: added
    assert jobs.lease_seconds == 60.0  # in neither: default


def test_explicit_overrides_beat_env_and_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_yaml(tmp_path, "port: 9090\nhost: 10.0.0.1\n")
    monkeypatch.setenv("AWOOOI_PORT", "9191")
    monkeypatch.setenv("AWOOOI_HOST", "10.0.0.2")

    settings = load_settings(path, port=9292)

    assert settings.port == 9292
    assert settings.host == "10.0.0.2"


def test_unrelated_awoooi_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    # AWOOOI_CONFIG names the file, AWOOOI_TEST_DATABASE_URL belongs to the test suite.
    monkeypatch.setenv("AWOOOI_TEST_DATABASE_URL", "postgresql+asyncpg://x@y/z")

    assert load_settings().database_url is None


# --- invalid settings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("yaml_text", "key", "env"),
    [
        ("jobs: {max_attempts: 0}\n", "jobs.max_attempts", "AWOOOI_JOBS__MAX_ATTEMPTS"),
        ("jobs: {max_attempts: 101}\n", "jobs.max_attempts", "AWOOOI_JOBS__MAX_ATTEMPTS"),
        ("jobs: {poll_interval: 0}\n", "jobs.poll_interval", "AWOOOI_JOBS__POLL_INTERVAL"),
        ("repair: {mode: sometimes}\n", "repair.mode", "AWOOOI_REPAIR__MODE"),
        ('port: "abc"\n', "port", "AWOOOI_PORT"),
        ("port: 70000\n", "port", "AWOOOI_PORT"),
        ("log_level: loud\n", "log_level", "AWOOOI_LOG_LEVEL"),
        ("database_url: mysql://db/awoooi\n", "database_url", "AWOOOI_DATABASE_URL"),
        ("database_url: postgresql://db/awoooi\n", "database_url", "AWOOOI_DATABASE_URL"),
        ("notify: {channels: [pager]}\n", "notify.channels[0]", "AWOOOI_NOTIFY__CHANNELS"),
        ("jobs: 5\n", "jobs", "AWOOOI_JOBS"),
    ],
)
def test_invalid_yaml_value_names_key_and_env_var(
    tmp_path: Path, yaml_text: str, key: str, env: str
) -> None:
    message = config_error(write_yaml(tmp_path, yaml_text))

    assert message.startswith("invalid configuration:")
    assert f"{key} (env {env}): " in message


@pytest.mark.parametrize(
    ("env", "value", "key"),
    [
        ("AWOOOI_JOBS__MAX_ATTEMPTS", "0", "jobs.max_attempts"),
        ("AWOOOI_REPAIR__MODE", "sometimes", "repair.mode"),
        ("AWOOOI_PORT", "abc", "port"),
        ("AWOOOI_DATABASE_URL", "mysql://db/awoooi", "database_url"),
        ("AWOOOI_JOBS__MAX_ATEMPTS", "3", "jobs.max_atempts"),
    ],
)
def test_invalid_env_value_names_key_and_env_var(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, key: str
) -> None:
    monkeypatch.setenv(env, value)

    message = config_error()

    assert f"{key} (env {env}): " in message


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("AWOOOI_NOTIFY__CHANNELS", "log"),  # lists come from the environment as JSON
        ("AWOOOI_JOBS", "{not json"),
    ],
)
def test_unparsable_env_value_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str
) -> None:
    monkeypatch.setenv(env, value)

    message = config_error()

    assert env in message
    assert "JSON" in message


def test_every_bad_key_gets_its_own_line(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "port: abc\njobs: {max_attempts: 0}\nrepair: {mode: sometimes}\n")

    lines = config_error(path).splitlines()

    assert lines[0] == "invalid configuration:"
    assert len(lines) == 4
    assert any(line.strip().startswith("port (env AWOOOI_PORT): ") for line in lines)
    assert any(
        line.strip().startswith("jobs.max_attempts (env AWOOOI_JOBS__MAX_ATTEMPTS): ")
        for line in lines
    )
    assert any(line.strip().startswith("repair.mode (env AWOOOI_REPAIR__MODE): ") for line in lines)


@pytest.mark.parametrize(
    ("yaml_text", "key", "env"),
    [
        ("jobz: {max_attempts: 3}\n", "jobz", "AWOOOI_JOBZ"),
        ("jobs: {max_atempts: 3}\n", "jobs.max_atempts", "AWOOOI_JOBS__MAX_ATEMPTS"),
        ("repair: {mode: auto, dry: true}\n", "repair.dry", "AWOOOI_REPAIR__DRY"),
    ],
)
def test_unknown_key_is_an_error(tmp_path: Path, yaml_text: str, key: str, env: str) -> None:
    message = config_error(write_yaml(tmp_path, yaml_text))

    assert f"{key} (env {env}): unknown setting" in message


def test_bad_database_url_does_not_leak_its_password(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "database_url: mysql://awoooi:hunter2-secret@db/awoooi\n")

    message = config_error(path)

    assert "database_url (env AWOOOI_DATABASE_URL)" in message
    assert "hunter2-secret" not in message


def test_overrides_are_validated_too() -> None:
    message = config_error(port=0)

    assert "port (env AWOOOI_PORT): " in message


# --- the file itself ----------------------------------------------------------------------------


@pytest.mark.parametrize("yaml_text", ["- port\n- 8080\n", "just a string\n", "42\n"])
def test_non_mapping_yaml_is_an_error(tmp_path: Path, yaml_text: str) -> None:
    path = write_yaml(tmp_path, yaml_text)

    message = config_error(path)

    assert message == f"config file {path} must hold a mapping of settings at the top"


@pytest.mark.parametrize("yaml_text", ["1: a\n", "null: 3\n", "true: yes\n"])
def test_non_string_top_level_key_is_an_error(tmp_path: Path, yaml_text: str) -> None:
    path = write_yaml(tmp_path, yaml_text)

    message = config_error(path)

    assert str(path) in message
    assert "setting names" in message


def test_invalid_yaml_syntax_is_an_error(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "jobs: {max_attempts: 3\nport: 9090\n")

    message = config_error(path)

    assert message.startswith(f"config file {path} is not valid YAML")


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"

    message = config_error(path)

    assert message.startswith(f"cannot read config file {path}")
    assert "No such file" in message


def test_missing_file_from_awoooi_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "absent.yaml"
    monkeypatch.setenv("AWOOOI_CONFIG", str(path))

    assert config_error().startswith(f"cannot read config file {path}")


def test_directory_instead_of_file_is_an_error(tmp_path: Path) -> None:
    assert config_error(tmp_path).startswith(f"cannot read config file {tmp_path}")


def test_non_utf8_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("host: caf\u00e9\n".encode("latin-1"))

    assert config_error(path) == f"config file {path} is not UTF-8 text"


def test_oversized_file_is_an_error(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "# " + "x" * MAX_CONFIG_BYTES + "\nport: 9090\n")

    assert "larger than" in config_error(path)


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.system",
        "!!python/object/apply:pathlib.Path.touch",
        "!!python/name:os.system",
    ],
)
def test_yaml_is_loaded_safely(tmp_path: Path, tag: str) -> None:
    marker = tmp_path / "pwned"
    path = write_yaml(tmp_path, f'port: {tag} ["touch {marker}"]\n')

    message = config_error(path)

    assert "not valid YAML" in message
    assert not marker.exists()


def test_python_object_tag_is_not_constructed(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path, "jobs: !!python/object:awoooi.core.config.JobsSettings {max_attempts: 9}\n"
    )

    message = config_error(path)

    assert "not valid YAML" in message
    assert "python/object" in message


# --- documentation ------------------------------------------------------------------------------


# --- public_url and the channels it links from ------------------------------------------------


DEPRECATED = (
    "knowledge.public_url (env AWOOOI_KNOWLEDGE__PUBLIC_URL) is deprecated: set public_url "
    "(env AWOOOI_PUBLIC_URL) instead"
)


def test_public_url_is_top_level_and_the_old_key_still_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWOOOI_PUBLIC_URL", "https://awoooi.example/")
    assert load_settings().public_url == "https://awoooi.example"
    monkeypatch.delenv("AWOOOI_PUBLIC_URL")

    # The key of earlier releases is read, with a warning at start.
    old = write_yaml(tmp_path, "knowledge:\n  public_url: https://old.example/awoooi/\n")
    settings = load_settings(old)
    assert settings.public_url == "https://old.example/awoooi"
    assert config_warnings(settings) == [DEPRECATED]
    monkeypatch.setenv("AWOOOI_KNOWLEDGE__PUBLIC_URL", "https://env.example")
    assert load_settings().public_url == "https://env.example"
    monkeypatch.delenv("AWOOOI_KNOWLEDGE__PUBLIC_URL")
    # The new key wins over the old one.
    both = "public_url: https://new.example\nknowledge:\n  public_url: https://old.example\n"
    assert load_settings(write_yaml(tmp_path, both, "both.yaml")).public_url == (
        "https://new.example"
    )


@pytest.mark.parametrize(
    ("yaml_text", "key"),
    [
        ("public_url: awoooi.example\n", "public_url (env AWOOOI_PUBLIC_URL)"),
        ("public_url: ftp://awoooi.example\n", "public_url (env AWOOOI_PUBLIC_URL)"),
        ("knowledge:\n  public_url: awoooi.example\n", "knowledge.public_url"),
    ],
)
def test_a_public_url_that_is_no_http_url_is_refused(
    tmp_path: Path, yaml_text: str, key: str
) -> None:
    message = config_error(write_yaml(tmp_path, yaml_text))
    assert key in message
    assert "must be an http:// or https:// URL" in message


TELEGRAM = "notify:\n  telegram:\n    bot_token: '123:abc'\n    chat_id: '42'\n"


def test_telegram_configured_is_a_default_channel_and_wants_an_https_public_url(
    tmp_path: Path,
) -> None:
    settings = load_settings(write_yaml(tmp_path, TELEGRAM))
    assert settings.notify.default_channels() == ["log", "telegram"]
    (warning,) = config_warnings(settings)
    assert warning.startswith("public_url is http://127.0.0.1:8080, not https: Telegram refuses")
    https = load_settings(write_yaml(tmp_path, TELEGRAM + "public_url: https://a.example\n", "s"))
    assert config_warnings(https) == []
    # An explicit list still wins: Telegram unused, nothing to warn about.
    quiet = load_settings(write_yaml(tmp_path, TELEGRAM + "  channels: [log]\n", "quiet.yaml"))
    assert quiet.notify.default_channels() == ["log"]
    assert config_warnings(quiet) == []


def test_setting_keys_walks_sections() -> None:
    keys = set(setting_keys())

    assert {"port", "database_url", "jobs.max_attempts", "repair.mode", "notify.channels"} <= keys
    assert "jobs" not in keys  # sections are not leaves


def test_readme_documents_every_setting() -> None:
    readme = README.read_text(encoding="utf-8")
    assert "## Configuration" in readme

    # A key counts as documented in backticks or as a Markdown table cell, not as a substring.
    missing = [
        key
        for key in setting_keys()
        if not re.search(rf"`{re.escape(key)}`|\|\s*{re.escape(key)}\s*\|", readme)
    ]

    assert missing == []

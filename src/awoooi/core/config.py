"""Settings machinery: one YAML file plus AWOOOI_* environment variables, validated by
pydantic-settings, with one line per invalid key; the sections core itself uses.

The whole `Settings` model is composed in `awoooi.settings`, above the domains.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsError,
)

from awoooi.core.errors import ConfigError

ENV_PREFIX = "AWOOOI_"
ENV_NESTED_DELIMITER = "__"
CONFIG_ENV_VAR = "AWOOOI_CONFIG"
MAX_CONFIG_BYTES = 1024 * 1024
_SECONDS = re.compile(r"^[+-]?\d+(?:\.\d+)?$")
_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?\s*[smhd]\s*)+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_from_text(value: Any) -> Any:
    """A duration setting given as text: seconds (the environment's `0`, `3600`) or `30m`,
    `1h30m`, `1d`; anything else (ISO 8601, numbers) is left to pydantic."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if _SECONDS.match(text):
        seconds = float(text)
    elif _DURATION.match(text):
        parts = _DURATION_PART.findall(text)
        seconds = sum(float(amount) * _UNIT_SECONDS[unit] for amount, unit in parts)
    else:
        return text
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError("the duration is too long") from None


class Section(BaseModel):
    """Base of every config section: unknown keys are typos, so they are errors."""

    model_config = ConfigDict(extra="forbid")


class JobsSettings(Section):
    """Durable job queue: polling, leases, retries."""

    poll_interval: float = Field(1.0, gt=0, le=60, description="Seconds an idle worker waits.")
    lease_seconds: float = Field(
        60.0, gt=0, le=86400, description="A claimed job returns to the queue after this."
    )
    max_attempts: int = Field(5, ge=1, le=100, description="Attempts before a job is dead.")
    backoff_base: float = Field(2.0, gt=0, le=3600, description="First retry delay (seconds).")
    backoff_max: float = Field(600.0, gt=0, le=86400, description="Longest retry delay.")
    concurrency: int = Field(2, ge=1, le=64, description="Jobs one worker process runs at once.")
    run_in_serve: bool = Field(True, description="`serve` also runs a worker loop.")
    retention_days: float = Field(
        14.0, ge=0, le=36500, description="Done jobs are deleted this long after; `0` keeps them."
    )
    dead_retention_days: float = Field(
        90.0, ge=0, le=36500, description="Dead jobs are deleted this long after; `0` keeps them."
    )


class YamlSource(PydanticBaseSettingsSource):
    """Settings source over an already-parsed YAML mapping."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse the YAML config file safely; raise ConfigError with the reason."""
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"config file {path} is larger than {MAX_CONFIG_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of settings at the top")
    not_names = [key for key in data if not isinstance(key, str)]
    if not_names:  # `1: x` or `null: x` would otherwise crash settings construction
        raise ConfigError(
            f"config file {path}: setting names must be strings, got {not_names[0]!r}"
        )
    return data


def _key_name(loc: tuple[int | str, ...]) -> str:
    """Dotted config key for a validation error location (list indexes kept as [i])."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + item)
    return "".join(parts) or "(top level)"


def _env_name(key: str) -> str:
    return ENV_PREFIX + key.split("[")[0].replace(".", ENV_NESTED_DELIMITER).upper()


def format_validation_error(exc: ValidationError) -> str:
    """One line per invalid key, naming the YAML key and its environment variable."""
    lines = []
    for err in exc.errors():
        key = _key_name(tuple(err["loc"]))
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown setting"
        lines.append(f"{key} (env {_env_name(key)}): {message}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def format_settings_error(exc: SettingsError) -> str:
    """A value pydantic-settings could not decode: a list or section from the environment."""
    match = re.search(r'field "([^"]+)"', str(exc))
    if match is None:
        return f"invalid configuration:\n  {exc}"
    key = match.group(1)
    top = _env_name(key)
    names = sorted(
        name.upper()
        for name in os.environ
        if name.upper() == top or name.upper().startswith(top + ENV_NESTED_DELIMITER)
    )
    return (
        f"invalid configuration:\n  {key} (env {', '.join(names) or top}): not valid JSON "
        "(lists and sections set in the environment are JSON, e.g. "
        "AWOOOI_NOTIFY__CHANNELS='[\"log\"]')"
    )


S = TypeVar("S", bound=BaseSettings)


def absolute_paths(model: BaseModel) -> None:
    """Make every `Path` field of `model` and of its sections (lists of them too) absolute,
    against the working directory of this moment."""
    # Resolved once, where settings load: code that later runs git or opens files in another
    # directory (a cache, a clone) must never read a relative path against that directory.
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, Path):
            setattr(model, name, value.expanduser().absolute())
        elif isinstance(value, BaseModel):
            absolute_paths(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, BaseModel):
                    absolute_paths(item)


def settings_from_sources(
    model: type[S], config_file: Path | str | None, overrides: dict[str, Any]
) -> S:
    """Build a settings model from overrides, the environment and the YAML file (argument or
    AWOOOI_CONFIG), highest precedence first; invalid values raise ConfigError, one line each."""
    path_text = str(config_file) if config_file else os.environ.get(CONFIG_ENV_VAR)
    file_data = read_config_file(Path(path_text)) if path_text else {}

    class _FileSettings(model):  # type: ignore[valid-type,misc]
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, YamlSource(settings_cls, file_data))

    try:
        built: S = _FileSettings(**overrides)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from exc
    except SettingsError as exc:
        raise ConfigError(format_settings_error(exc)) from exc
    return built

"""Every awoooi setting in one model, composed from each domain's section (above the domains,
so core imports none of them); `load_settings` reads the YAML file and the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from awoooi.adapters.settings import KubeSettings
from awoooi.ai.settings import AISettings
from awoooi.console.settings import ConsoleSettings
from awoooi.core.config import (
    ENV_NESTED_DELIMITER,
    ENV_PREFIX,
    JobsSettings,
    absolute_paths,
    settings_from_sources,
)
from awoooi.drift.settings import DriftSettings, is_git_url
from awoooi.incidents.settings import IncidentSettings
from awoooi.knowledge.settings import KnowledgeSettings
from awoooi.notify.settings import NotifySettings
from awoooi.repair.settings import RepairSettings
from awoooi.retention.settings import RetentionSettings
from awoooi.symptoms.mapping import SymptomSettings

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8080"


def public_base_url(value: str) -> str:
    """An http(s) base URL without its trailing slash (links are built as base + path)."""
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL, e.g. https://awoooi.example.com")
    return value.rstrip("/")


class Settings(BaseSettings):
    """Every awoooi setting; see the README's configuration table."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        extra="forbid",
        case_sensitive=False,
    )

    home: Path = Field(Path(".awoooi"), description="State directory (SQLite file, admin token).")
    database_url: SecretStr | None = Field(
        None, description="SQLAlchemy async URL; default sqlite+aiosqlite under `home`."
    )
    public_url: str = Field(
        DEFAULT_PUBLIC_URL,
        max_length=2048,
        description="Base URL people use to reach awoooi: every notification links to its "
        "incident, repair or review through it (Telegram link buttons need https).",
    )
    host: str = Field("127.0.0.1", description="Address `serve` binds.")
    port: int = Field(8080, ge=1, le=65535, description="Port `serve` binds.")
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="`auto`: JSON unless stderr is a terminal."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Lowest level logged."
    )
    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, le=256 * 1024 * 1024, description="Larger request bodies get 413."
    )
    db_pool_size: int = Field(10, ge=1, le=200, description="PostgreSQL connection pool size.")
    db_write_wait: float = Field(
        10.0,
        gt=0,
        le=300,
        description="SQLite: seconds a write may wait for its turn (in this process, then for "
        "another process's lock) before the request is answered 503 with Retry-After.",
    )
    jobs: JobsSettings = Field(default_factory=JobsSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    ai: AISettings = Field(default_factory=AISettings)
    incidents: IncidentSettings = Field(default_factory=IncidentSettings)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    symptoms: SymptomSettings = Field(default_factory=SymptomSettings)
    repair: RepairSettings = Field(default_factory=RepairSettings)
    kube: KubeSettings = Field(default_factory=KubeSettings)
    drift: DriftSettings = Field(default_factory=DriftSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return public_base_url(value)

    @model_validator(mode="after")
    def _moved_keys(self) -> Settings:
        # `knowledge.public_url` became the top-level `public_url`: an old config keeps working
        # (with a warning at start, see `config_warnings`) unless the new key is set too.
        old = self.knowledge.public_url
        if old is not None and "public_url" not in self.model_fields_set:
            try:
                self.public_url = public_base_url(old)
            except ValueError as exc:
                raise ValueError(f"knowledge.public_url {exc}") from None
        return self

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        url = value.get_secret_value()
        if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// (async drivers)"
            )
        return value

    @model_validator(mode="after")
    def _absolute_paths(self) -> Settings:
        absolute_paths(self)
        desired = self.drift.desired
        if desired and not is_git_url(desired):
            # A local desired directory, read by scheduled scans whatever the server's cwd.
            self.drift.desired = str(Path(desired).expanduser().absolute())
        return self

    @property
    def resolved_database_url(self) -> str:
        """The database URL to connect to, defaulting to SQLite in `home`."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite+aiosqlite:///{(self.home / 'awoooi.db').resolve()}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Plain Settings() reads the environment only; load_settings() adds the YAML file below it.
        return (init_settings, env_settings)


def config_warnings(settings: Settings) -> list[str]:
    """What a start logs as warnings: deprecated keys in use, and settings that work but
    will not do what was probably meant."""
    found = []
    if settings.knowledge.public_url is not None:
        found.append(
            "knowledge.public_url (env AWOOOI_KNOWLEDGE__PUBLIC_URL) is deprecated: set "
            "public_url (env AWOOOI_PUBLIC_URL) instead"
        )
    if "telegram" in settings.notify.used_channels() and not settings.public_url.startswith(
        "https://"
    ):
        found.append(
            f"public_url is {settings.public_url}, not https: Telegram refuses link buttons to "
            "it, so Telegram notifications carry the links as text only; set public_url to the "
            "https address people reach awoooi at"
        )
    return found


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Load settings from the YAML file (argument or AWOOOI_CONFIG) and the environment."""
    return settings_from_sources(Settings, config_file, overrides)

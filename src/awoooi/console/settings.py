"""Console settings (config section `console`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from awoooi.core.config import duration_from_text


class ConsoleSettings(BaseModel):
    """The web console at /ui/ (config section `console`)."""

    model_config = ConfigDict(extra="forbid")

    session_ttl: timedelta = Field(
        timedelta(hours=8),
        description="How long a console sign-in lasts before the token must be typed again "
        "(seconds, `8h`, ISO 8601; 1 minute to 30 days).",
    )
    session_key: SecretStr | None = Field(
        None,
        description="Key that signs console session cookies (32+ characters); default: a random "
        "key kept in `home`/console-key. Set the same value on every replica.",
    )
    refresh_seconds: int = Field(
        15,
        ge=0,
        le=3600,
        description="How often the incident and repair lists refresh themselves; 0: never.",
    )

    @field_validator("session_ttl", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return duration_from_text(value)

    @field_validator("session_ttl")
    @classmethod
    def _ttl_bounds(cls, value: timedelta) -> timedelta:
        if not timedelta(minutes=1) <= value <= timedelta(days=30):
            raise ValueError("session_ttl must be between 1 minute and 30 days")
        return value

    @field_validator("session_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("session_key must be at least 32 characters")
        return value

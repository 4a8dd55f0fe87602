"""The `ai:` config section: providers, chains per intent, locality and breaker settings."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from awoooi.ai.intents import Intent, is_local_only
from awoooi.ai.locality import provider_is_local

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


class ProviderConfig(BaseModel):
    """One model endpoint."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: Literal["openai", "ollama"]
    base_url: str
    model: str = Field(min_length=1, max_length=256)
    api_key_env: str | None = None
    price_per_1k_input: float = Field(0.0, ge=0)
    price_per_1k_output: float = Field(0.0, ge=0)
    timeouts: dict[str, float] = Field(default_factory=lambda: {"default": 20.0})
    max_tokens: int = Field(1024, ge=1, le=131072)
    temperature: float = Field(0.2, ge=0, le=2)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError("provider names are 1-32 lowercase letters, digits, '.', '_', '-'")
        return value

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("base_url must be an http(s) URL with a host")
        if parts.username or parts.password:
            raise ValueError("base_url must not carry credentials; use api_key_env")
        return value.rstrip("/")

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.fullmatch(value):
            raise ValueError("api_key_env is the NAME of an environment variable, not the key")
        return value

    @field_validator("timeouts")
    @classmethod
    def _positive_timeouts(cls, value: dict[str, float]) -> dict[str, float]:
        if any(not 0 < seconds <= 3600 for seconds in value.values()):
            raise ValueError("timeouts are seconds between 0 and 3600")
        return {"default": 20.0, **value}

    def timeout_for(self, task_type: str) -> float:
        """The whole-call deadline for a task type (falling back to `default`)."""
        return self.timeouts.get(task_type, self.timeouts["default"])


def _default_providers() -> list[ProviderConfig]:
    # The seed's defaults: an on-prem NIM serving Nemotron (30 s to diagnose), then Ollama (60 s).
    return [
        ProviderConfig(
            name="nemotron",
            kind="openai",
            base_url="http://127.0.0.1:8000/v1",
            model="nvidia/llama-3.1-nemotron-70b-instruct",
            timeouts={"diagnose": 30.0, "default": 20.0},
        ),
        ProviderConfig(
            name="ollama",
            kind="ollama",
            base_url="http://127.0.0.1:11434",
            model="llama3.1:8b",
            timeouts={"diagnose": 60.0, "default": 30.0},
        ),
    ]


class AISettings(BaseModel):
    """Model providers and routing policy (config section `ai`)."""

    model_config = ConfigDict(extra="forbid")

    providers: list[ProviderConfig] = Field(
        default_factory=_default_providers, description="Model endpoints (see README)."
    )
    chains: dict[Intent, list[str]] = Field(
        default_factory=dict,
        description=(
            "Provider names tried in order per intent, then REJECT; an intent not listed uses "
            "every local provider (local-only intents) or every provider, in listed order."
        ),
    )
    local_hosts: list[str] = Field(
        default_factory=list, description="Extra host names trusted as on-premises."
    )
    breaker_failures: int = Field(
        3, ge=1, le=100, description="Consecutive failures that open a provider's breaker."
    )
    breaker_cooldown_seconds: float = Field(
        60.0, gt=0, le=86400, description="How long an open breaker skips its provider."
    )
    diagnose_incidents: bool = Field(
        True,
        description="Ask the local model to explain each new incident's diagnosis "
        "(else the rules' findings are the diagnosis).",
    )
    max_prompt_chars: int = Field(
        16000, ge=1000, le=1_000_000, description="Longer prompts are cut to this."
    )
    retention_days: float = Field(
        400.0,
        ge=0,
        le=36500,
        description="LLM call ledger rows are deleted this long after; `0` keeps them "
        "(the default outlives the 366-day cost report).",
    )
    max_concurrent_diagnoses: int = Field(
        4,
        ge=1,
        le=1000,
        description="Diagnosis jobs running at once across every worker and replica "
        "(the rest wait in the queue, critical and high first).",
    )

    _local: dict[str, bool] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _chains_are_safe(self) -> AISettings:
        names = [provider.name for provider in self.providers]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"provider names must be unique: {', '.join(duplicates)}")
        # Decided once, at load: resolving names on every call would be slow and could flip.
        self._local = {
            p.name: provider_is_local(p.kind, p.base_url, p.model, self.local_hosts)
            for p in self.providers
        }
        for intent, chain in self.chains.items():
            for name in chain:
                if name not in self._local:
                    raise ValueError(
                        f"chain for intent {intent.value!r} names unknown provider {name!r}"
                    )
                if is_local_only(intent) and not self._local[name]:
                    provider = self.provider(name)
                    raise ValueError(
                        f"provider {name!r} ({provider.base_url}, model {provider.model}) is not "
                        f"local and cannot be in the chain of local-only intent {intent.value!r}"
                    )
        return self

    def is_local(self, name: str) -> bool:
        """Whether the named provider was found local when the settings were loaded."""
        return self._local.get(name, False)

    def provider(self, name: str) -> ProviderConfig:
        """The provider with this name."""
        return next(provider for provider in self.providers if provider.name == name)

    def chain(self, intent: Intent) -> list[ProviderConfig]:
        """The providers to try for an intent, in order (never a cloud one for local-only)."""
        if intent in self.chains:
            names = self.chains[intent]
        elif is_local_only(intent):
            names = [p.name for p in self.providers if self.is_local(p.name)]
        else:
            names = [p.name for p in self.providers]
        return [self.provider(name) for name in names]

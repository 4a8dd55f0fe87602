"""The `notify:` config section: channels, their credentials, and routing by kind and severity."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

ChannelName = Literal["log", "telegram", "slack", "webhook"]
SeverityName = Literal["critical", "high", "medium", "low", "info"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TelegramSettings(_Section):
    """Telegram Bot API: review cards with working buttons."""

    bot_token: SecretStr | None = Field(None, description="The bot's token from @BotFather.")
    chat_id: str | None = Field(
        None, max_length=64, description="Chat (user, group or @channel) cards go to."
    )
    approvers: list[int] = Field(
        default_factory=list, description="Telegram user ids allowed to press Approve / Reject."
    )
    webhook_secret: SecretStr | None = Field(
        None, description="Secret Telegram sends in X-Telegram-Bot-Api-Secret-Token."
    )
    api_url: str = Field(
        "https://api.telegram.org", max_length=2048, description="Bot API base URL."
    )
    pace_seconds: float = Field(1.0, ge=0, le=60, description="Least time between two messages.")
    timeout_seconds: float = Field(15.0, gt=0, le=300, description="Per Bot API call.")


class SlackSettings(_Section):
    """Slack incoming webhook (Block Kit; buttons are links)."""

    webhook_url: SecretStr | None = Field(None, description="The incoming webhook URL.")
    timeout_seconds: float = Field(15.0, gt=0, le=300, description="Per request.")


class WebhookSettings(_Section):
    """A JSON POST signed with HMAC-SHA256, for anything else."""

    url: str | None = Field(None, max_length=2048, description="Where notifications are POSTed.")
    secret: SecretStr | None = Field(None, description="HMAC-SHA256 key for X-Awoooi-Signature.")
    timeout_seconds: float = Field(15.0, gt=0, le=300, description="Per request.")


class Route(_Section):
    """Send notifications of these kinds at or above this severity, about incidents in these
    namespaces and services, to these channels."""

    kinds: list[str] = Field(default_factory=lambda: ["*"], description="Kind globs.")
    min_severity: SeverityName = "info"
    namespaces: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Namespace globs of the incident a notification is about; `*` also takes "
        "notifications about no incident.",
    )
    services: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Service globs (any of the incident's services); `*` takes everything.",
    )
    channels: list[ChannelName] = Field(min_length=1)


class NotifySettings(_Section):
    """Notification channels and routing (config section `notify`)."""

    channels: list[ChannelName] | None = Field(
        default=None,
        description="Channels for notifications no route matches; unset: every configured "
        "channel (`log`, and `telegram`, `slack`, `webhook` once their credentials are set).",
    )
    routes: list[Route] = Field(
        default_factory=list,
        description="Routing by kind glob, severity, and the namespace and service of the "
        "incident a notification is about; every matching route's channels are used.",
    )
    action_ttl_hours: float = Field(
        24.0, gt=0, le=24 * 30, description="How long a card's Approve / Reject buttons work."
    )
    retention_days: float = Field(
        90.0,
        ge=0,
        le=36500,
        description="Notifications are deleted this long after; `0` keeps them.",
    )
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)

    @field_validator("channels", mode="before")
    @classmethod
    def _json_list(cls, value: Any) -> Any:
        # An optional list is handed over as text when the environment's value is no JSON.
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise ValueError(
                    "not a list: lists set in the environment are JSON, e.g. "
                    'AWOOOI_NOTIFY__CHANNELS=\'["log", "telegram"]\''
                ) from None
        return value

    @model_validator(mode="after")
    def _configured(self) -> NotifySettings:
        used = set(self.default_channels()) | {n for route in self.routes for n in route.channels}
        missing = []
        if "telegram" in used and (self.telegram.bot_token is None or not self.telegram.chat_id):
            missing.append("notify.telegram.bot_token and notify.telegram.chat_id")
        if "slack" in used and self.slack.webhook_url is None:
            missing.append("notify.slack.webhook_url")
        if "webhook" in used and (not self.webhook.url or self.webhook.secret is None):
            missing.append("notify.webhook.url and notify.webhook.secret")
        if missing:
            raise ValueError("a channel in use is not configured: set " + "; ".join(missing))
        return self

    def configured_channels(self) -> list[ChannelName]:
        """The channels whose credentials are set (`log` needs none)."""
        configured: list[ChannelName] = ["log"]
        if self.telegram.bot_token is not None and self.telegram.chat_id:
            configured.append("telegram")
        if self.slack.webhook_url is not None:
            configured.append("slack")
        if self.webhook.url and self.webhook.secret is not None:
            configured.append("webhook")
        return configured

    def default_channels(self) -> list[ChannelName]:
        """Where a notification no route matches goes: `channels` when given, else every
        configured channel (setting a bot token and chat id is enough to get Telegram)."""
        return list(self.channels) if self.channels is not None else self.configured_channels()

    def used_channels(self) -> list[str]:
        """Every channel any notification may go to."""
        routed = (c for r in self.routes for c in r.channels)
        return list(dict.fromkeys([*self.default_channels(), *routed]))

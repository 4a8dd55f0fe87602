"""The `knowledge:` config section."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class KnowledgeSettings(BaseModel):
    """Knowledge harvesting (config section `knowledge`)."""

    model_config = ConfigDict(extra="forbid")

    language: Literal["en", "zh-TW"] = Field(
        "en", description="Language of harvested runbooks and anti-patterns."
    )
    anti_pattern_days: float = Field(
        7.0, gt=0, le=365, description="How long a published anti-pattern blocks the same fix."
    )
    public_url: str | None = Field(
        None,
        max_length=2048,
        description="Deprecated: use the top-level `public_url` (still read when that is unset).",
    )

"""The `drift:` config section."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from awoooi.drift.diff import DEFAULT_GITOPS_MANAGERS, DEFAULT_IMPERATIVE_MANAGERS

LevelName = Literal["critical", "high", "medium", "low", "info"]


class IgnoreRule(BaseModel):
    """Differences that are allowed (like Argo CD's ignoreDifferences): kind and path globs."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field("*", max_length=253, description="Kind glob (`Deployment`, `*`).")
    group: str = Field("*", max_length=253, description="API group glob (`apps`, `*`).")
    path: str = Field(max_length=1024, description="Path glob (`spec.replicas`, `*.caBundle`).")
    name: str = Field("*", max_length=253, description="Object name glob.")
    namespace: str = Field("*", max_length=253, description="Namespace glob.")
    reason: str = Field("ignored by a drift.ignore rule", max_length=500)


class LevelRule(BaseModel):
    """A level for matching differences (checked before the built-in levels)."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field("*", max_length=253)
    path: str = Field(max_length=1024)
    level: LevelName


class DriftSettings(BaseModel):
    """Drift detection (config section `drift`)."""

    model_config = ConfigDict(extra="forbid")

    tracking_label: str = Field(
        "app.kubernetes.io/managed-by=awoooi",
        max_length=317,
        pattern=r"^[A-Za-z0-9./_-]+=[A-Za-z0-9._-]*$",
        description="Live objects with this label and no Git counterpart are `extra`.",
    )
    imperative_managers: list[str] = Field(
        default_factory=lambda: list(DEFAULT_IMPERATIVE_MANAGERS),
        description="managedFields managers whose live-only fields are drift (hand edits).",
    )
    gitops_managers: list[str] = Field(
        default_factory=lambda: list(DEFAULT_GITOPS_MANAGERS),
        description="Managers that apply Git: fields they own that Git dropped are drift.",
    )
    ignore: list[IgnoreRule] = Field(
        default_factory=list, description="Extra differences to ignore (kind/path globs)."
    )
    levels: list[LevelRule] = Field(
        default_factory=list, description="Level overrides (kind/path globs), first match wins."
    )
    ignore_aggregated_rules: bool = Field(
        True, description="ClusterRoles with an aggregationRule: `rules` belong to the controller."
    )
    cache_dir: Path | None = Field(
        None, description="Where Git checkouts are kept (default: `home`/git-cache)."
    )
    git_timeout_seconds: float = Field(120.0, gt=0, le=3600, description="Per git command.")
    kustomize_timeout_seconds: float = Field(
        60.0, gt=0, le=3600, description="Per `kubectl kustomize` run."
    )
    max_file_bytes: int = Field(
        8 * 1024 * 1024, ge=1024, le=1024**3, description="Larger manifest files are refused."
    )
    max_yaml_nodes: int = Field(
        2_000_000,
        ge=1000,
        le=100_000_000,
        description="A document expanding (aliases) beyond this many nodes is refused.",
    )

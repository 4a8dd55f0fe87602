"""The `drift:` config section."""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from awoooi.core.config import duration_from_text
from awoooi.drift.diff import DEFAULT_GITOPS_MANAGERS, DEFAULT_IMPERATIVE_MANAGERS

LevelName = Literal["critical", "high", "medium", "low", "info"]
_BRANCH = re.compile(r"^[A-Za-z0-9._/-]+$")
# A desired source that git fetches (anything else is a local directory or file).
GIT_URL = re.compile(r"^(https?|ssh|git|file)://|^[\w.-]+@[\w.-]+:")
_HOST = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_git_url(text: str) -> bool:
    """Whether a desired source is a Git URL (adopt can only write into Git)."""
    return bool(GIT_URL.match(text))


def valid_branch(name: str) -> bool:
    """A branch name git accepts and no option can hide in (a safe subset of git's rules)."""
    return bool(
        _BRANCH.match(name)
        and not name.startswith(("-", "/", "."))
        and not name.endswith(("/", ".", ".lock"))
        and ".." not in name
        and "//" not in name
        and "/." not in name
    )


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
    kustomize_allow_remote: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="Hosts remote kustomize bases and files may come from; none when empty.",
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

    # -- where scheduled and API-queued scans read from
    desired: str | None = Field(
        None,
        max_length=2048,
        description="Git URL or directory of the desired state for scheduled and API scans.",
    )
    ref: str | None = Field(None, max_length=255, description="Git branch, tag or commit.")
    path: str | None = Field(None, max_length=1024, description="Sub-directory in `desired`.")
    live_dump: Path | None = Field(
        None, description="Read live state from this dump directory instead of the cluster."
    )
    scan_interval: timedelta = Field(
        timedelta(hours=1),
        description="How often the service scans; `0` turns it off.",
    )
    interpret: bool = Field(
        True, description="Ask the local model what each drift is (else heuristics only)."
    )
    interpret_max_resources: int = Field(
        20, ge=0, le=10_000, description="Drifted resources per scan the model reads (rules: rest)."
    )
    notify_levels: list[LevelName] = Field(
        default_factory=lambda: ["critical", "high"],  # type: ignore[arg-type]
        description="A new report with an item at one of these levels sends a notification.",
    )
    retention_days: float = Field(
        90.0,
        ge=0,
        le=36500,
        description="Finished reports (with their items) are deleted this long after the scan "
        "started; `0` keeps them (the newest of each source is always kept).",
    )
    # -- remediation
    rollback_enabled: bool = Field(
        True, description="Allow rollback (server-side apply of Git state) from API and CLI."
    )
    field_manager: str = Field(
        "awoooi",
        max_length=128,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="Server-side apply field manager of rollbacks.",
    )
    adopt_branch_mode: Literal["push", "branch"] = Field(
        "push",
        description="`push`: commit to the scanned branch; `branch`: to awoooi/adopt-<report>.",
    )
    adopt_branch: str | None = Field(
        None,
        max_length=255,
        description="Branch adopt commits to in `push` mode (default: `ref`, else the remote's).",
    )
    git_author_name: str = Field("awoooi", max_length=128, description="Adopt commit author.")
    git_author_email: str = Field(
        "awoooi@localhost", max_length=254, description="Adopt commit author e-mail."
    )
    max_items_per_action: int = Field(
        500, ge=1, le=10_000, description="Items one rollback/adopt/ignore request may name."
    )

    @field_validator("adopt_branch")
    @classmethod
    def _branch(cls, value: str | None) -> str | None:
        """A branch name git accepts and that cannot read as an option."""
        if value is not None and not valid_branch(value):
            raise ValueError(f"{value!r} is not a usable branch name")
        return value

    @field_validator("kustomize_allow_remote")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        """Bare host names or addresses (`github.com`, `10.0.0.5`, `::1`): no scheme, port,
        path or wildcard."""
        hosts = [host.strip().lower().removeprefix("[").removesuffix("]") for host in value]
        for host in hosts:
            if not (_HOST.fullmatch(host) or _is_address(host)):
                raise ValueError(f"{host!r} is not a host name (no scheme, port or path)")
        return hosts

    @field_validator("scan_interval", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        """Read seconds given as text (the environment's `0`, `3600`) and `30m`, `1h30m`, `1d`."""
        try:
            return duration_from_text(value)
        except ValueError:  # too long for a timedelta
            raise ValueError("scan_interval must be at most 31 days") from None

    @field_validator("scan_interval")
    @classmethod
    def _interval_bounds(cls, value: timedelta) -> timedelta:
        """Zero turns scheduling off; anything else must be at least a minute."""
        if value and value < timedelta(minutes=1):
            raise ValueError("scan_interval must be 0 (off) or at least 1 minute")
        if value > timedelta(days=31):
            raise ValueError("scan_interval must be at most 31 days")
        return value

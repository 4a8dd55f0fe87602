"""Analyzers: small deterministic rules (one family per module) that name the likely cause from
the collected facts. `analyze` runs every registered rule and ranks the findings."""

from __future__ import annotations

from collections.abc import Sequence

from awoooi.diagnosis.analyzers import (  # noqa: F401 -- importing a module registers its rules
    autoscaling,
    crashes,
    jobs,
    nodes,
    probes,
    quota,
    rollout,
    scheduling,
    start_failures,
    terminations,
    volumes,
)
from awoooi.diagnosis.analyzers.registry import ANALYZERS, Analyzer, rank, register, run
from awoooi.diagnosis.facts import Facts
from awoooi.diagnosis.model import Finding

__all__ = ["ANALYZERS", "Analyzer", "analyze", "rank", "register"]


def analyze(facts: Facts, analyzers: Sequence[tuple[str, Analyzer]] | None = None) -> list[Finding]:
    """Findings about the target, most likely first (one UNKNOWN when nothing explains it)."""
    return run(facts, ANALYZERS if analyzers is None else analyzers)

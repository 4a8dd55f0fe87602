"""Deciding a repair: the most specific playbook that can be planned, then every gate in order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.adapters.kube import KubeClient, KubeError
from awoooi.core.db import utcnow
from awoooi.core.logging import get_logger
from awoooi.incidents.models import Incident
from awoooi.repair import gates
from awoooi.repair.models import GateName, Verdict
from awoooi.repair.playbooks import (
    Playbook,
    PlaybookCatalog,
    ResolvedPlan,
    UnresolvedPlaceholder,
    resolve_plan,
)
from awoooi.repair.settings import RepairSettings

log = get_logger(__name__)

GATES_PASSED = "anti-pattern, freeze, cooldown, rate limit and lock gates passed"


@dataclass(frozen=True)
class RepairDecision:
    """What `decide()` concluded, and why."""

    verdict: Verdict
    playbook: Playbook | None
    reasons: tuple[str, ...]
    plan: ResolvedPlan | None = None
    gate: GateName | None = None
    anti_pattern_id: int | None = None
    anti_pattern_title: str | None = None
    dry_run: bool = False

    @classmethod
    def blocked(
        cls,
        verdict: gates.GateVerdict,
        reasons: tuple[str, ...] = (),
        *,
        playbook: Playbook | None = None,
        plan: ResolvedPlan | None = None,
        dry_run: bool = False,
    ) -> RepairDecision:
        """A BLOCKED decision from the gate that said no."""
        entry = verdict.anti_pattern
        return cls(
            Verdict.BLOCKED,
            playbook,
            (*reasons, verdict.reason),
            plan,
            gate=verdict.gate,
            anti_pattern_id=entry.id if entry else None,
            anti_pattern_title=entry.title if entry else None,
            dry_run=dry_run,
        )


def gate_context(
    session: AsyncSession,
    phase: gates.Phase,
    *,
    incident: Incident,
    symptoms_hash: str,
    plan: ResolvedPlan,
    settings: RepairSettings,
    anti_pattern_days: float,
    now: datetime,
    repair_id: int = 0,
) -> gates.GateContext:
    """The gates' view of one planned repair (the same whether deciding or starting)."""
    # A target-less playbook's key ("playbook/<id>") names no namespace: the incident's counts.
    namespace = plan.target.namespace if plan.target is not None else incident.namespace
    return gates.GateContext(
        session=session,
        phase=phase,
        now=now,
        incident=incident,
        symptoms_hash=symptoms_hash,
        playbook=plan.playbook,
        target=plan.target_key,
        namespace=namespace,
        settings=settings,
        anti_pattern_days=anti_pattern_days,
        repair_id=repair_id,
    )


class RepairDecider:
    """Chooses a playbook for an incident and runs the gates; writes nothing."""

    def __init__(
        self,
        catalog: PlaybookCatalog,
        settings: RepairSettings,
        *,
        anti_pattern_days: float,
        kube: Callable[[], KubeClient | None] = lambda: None,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.catalog = catalog
        self.settings = settings
        self.anti_pattern_days = anti_pattern_days
        self._kube = kube
        self._now = now

    def cluster(self) -> KubeClient | None:
        """The cluster client, or None when none is configured or it cannot be made."""
        try:
            return self._kube()
        except KubeError as exc:
            log.warning("kubernetes client unavailable", error=exc.detail)
            return None

    def plan(self, incident: Incident) -> tuple[Playbook, ResolvedPlan] | list[str]:
        """The first matching playbook that can be planned, or why none could."""
        reasons: list[str] = []
        cluster: bool | None = None
        for playbook in self.catalog.matching(incident):
            if playbook.needs_cluster:
                if cluster is None:
                    cluster = self.cluster() is not None
                if not cluster:
                    # Running it would fail and publish an anti-pattern for a fix never tried.
                    reasons.append(
                        f"{playbook.id} matches but needs a Kubernetes cluster, and none is "
                        "configured (kube.server, kube.kubeconfig, kube.in_cluster)"
                    )
                    continue
            try:
                return playbook, resolve_plan(playbook, incident, self.settings)
            except (UnresolvedPlaceholder, ValueError) as exc:
                reasons.append(f"{playbook.id} matches but cannot be planned: {exc}")
        return reasons

    def replan(
        self, incident: Incident, playbook_id: str, digest: str | None
    ) -> ResolvedPlan | str:
        """The decided playbook planned again at start, or why it no longer can be."""
        playbook = self.catalog.get(playbook_id)
        if playbook is None:
            return f"playbook {playbook_id} is no longer loaded"
        if playbook.digest != digest:
            return f"playbook {playbook.id} changed since the decision; decide again"
        try:
            return resolve_plan(playbook, incident, self.settings)
        except (UnresolvedPlaceholder, ValueError) as exc:
            return f"cannot plan {playbook.id}: {exc}"

    async def decide(
        self, session: AsyncSession, incident: Incident, *, now: datetime | None = None
    ) -> RepairDecision:
        """The verdict for an incident: the first matching playbook, through every gate in order."""
        dry_run = self.settings.mode == "dry-run"
        chosen = self.plan(incident)
        if isinstance(chosen, list):
            reasons = ("no playbook matches this incident", *chosen)
            return RepairDecision(Verdict.NO_PLAYBOOK, None, reasons, dry_run=dry_run)
        playbook, plan = chosen
        reasons = (f"playbook {playbook.id} matches; target {plan.target_key}",)
        context = gate_context(
            session,
            gates.Phase.DECIDE,
            incident=incident,
            symptoms_hash=incident.symptoms_hash,
            plan=plan,
            settings=self.settings,
            anti_pattern_days=self.anti_pattern_days,
            now=now or self._now(),
        )
        found = await gates.first_block(context)
        if found is not None:
            return RepairDecision.blocked(
                found, reasons, playbook=playbook, plan=plan, dry_run=dry_run
            )
        reasons = (*reasons, GATES_PASSED)
        approval = gates.approval_reason(playbook, self.settings)
        if approval is not None:
            return RepairDecision(
                Verdict.NEEDS_APPROVAL,
                playbook,
                (*reasons, approval),
                plan,
                gate=GateName.APPROVAL,
                dry_run=dry_run,
            )
        reasons = (*reasons, f"risk {playbook.risk} may run without approval")
        if dry_run:
            reasons = (*reasons, "repair.mode is dry-run: planned and recorded, nothing runs")
        return RepairDecision(Verdict.AUTO, playbook, reasons, plan, dry_run=dry_run)

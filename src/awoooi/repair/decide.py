"""Deciding a repair: the most specific playbook that can be planned, then every gate in order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from awoooi.adapters.kube import WORKLOAD_KINDS, KubeClient, KubeError, ObjectRef
from awoooi.core.db import utcnow
from awoooi.core.logging import get_logger
from awoooi.diagnosis.incidents import latest_diagnosis, stored_findings, stored_target
from awoooi.diagnosis.model import Finding
from awoooi.incidents.models import Incident
from awoooi.repair import gates
from awoooi.repair.models import GateName, Verdict
from awoooi.repair.playbooks import (
    Diagnosed,
    Playbook,
    PlaybookCatalog,
    ResolvedPlan,
    UnresolvedPlaceholder,
    resolve_plan,
)
from awoooi.repair.settings import RepairSettings

log = get_logger(__name__)

GATES_PASSED = "anti-pattern, freeze, cooldown, rate limit and lock gates passed"
NO_MATCH = "no playbook matches this incident"


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
    # The diagnosis finding a cause-matched playbook acts on.
    finding: Finding | None = None

    @classmethod
    def blocked(
        cls,
        verdict: gates.GateVerdict,
        reasons: tuple[str, ...] = (),
        *,
        playbook: Playbook | None = None,
        plan: ResolvedPlan | None = None,
        dry_run: bool = False,
        finding: Finding | None = None,
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
            finding=finding,
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


def no_playbook_reason(unusable: list[str]) -> str:
    """The one reason of a NO_PLAYBOOK verdict: nothing matched, or why each match could not
    be used (a match that cannot run is not "no match": saying both contradicts itself)."""
    if not unusable:
        return NO_MATCH
    return "no playbook can be used: " + "; ".join(unusable)


def decided_workload(target_key: str | None) -> ObjectRef | None:
    """The workload a decision recorded ("namespace/Kind/name"), or None (a playbook key)."""
    parts = (target_key or "").split("/")
    if len(parts) != 3 or parts[1] not in WORKLOAD_KINDS:
        return None
    return ObjectRef(parts[1], parts[0], parts[2])  # type: ignore[arg-type]


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

    def plan(
        self, incident: Incident, diagnosed: Diagnosed | None = None
    ) -> tuple[Playbook, ResolvedPlan] | list[str]:
        """The first matching playbook that can be planned, or why none could."""
        reasons: list[str] = []
        cluster: bool | None = None
        for playbook in self.catalog.matching(incident, diagnosed):
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
                return playbook, resolve_plan(playbook, incident, self.settings, diagnosed)
            except (UnresolvedPlaceholder, ValueError) as exc:
                reasons.append(f"{playbook.id} matches but cannot be planned: {exc}")
        return reasons

    @staticmethod
    async def diagnosed(session: AsyncSession, incident: Incident) -> Diagnosed:
        """What the incident's latest diagnosis gives repairs: the rules' findings (never the
        model's reading: a model does not choose an action) and the target a cluster resolved."""
        record = await latest_diagnosis(session, incident.id)
        if record is None:
            return Diagnosed()
        target = stored_target(record) if record.target_resolved else None
        return Diagnosed(tuple(stored_findings(record)), target)

    def replan(
        self, incident: Incident, playbook_id: str, digest: str | None, target: str | None
    ) -> ResolvedPlan | str:
        """The decided playbook planned again at start, on the target decided then, or why it
        no longer can be."""
        playbook = self.catalog.get(playbook_id)
        if playbook is None:
            return f"playbook {playbook_id} is no longer loaded"
        if playbook.digest != digest:
            return f"playbook {playbook.id} changed since the decision; decide again"
        workload = decided_workload(target)
        try:
            return resolve_plan(playbook, incident, self.settings, workload=workload)
        except (UnresolvedPlaceholder, ValueError) as exc:
            return f"cannot plan {playbook.id}: {exc}"

    async def decide(
        self, session: AsyncSession, incident: Incident, *, now: datetime | None = None
    ) -> RepairDecision:
        """The verdict for an incident: the first matching playbook, through every gate in order."""
        dry_run = self.settings.mode == "dry-run"
        diagnosed = await self.diagnosed(session, incident)
        chosen = self.plan(incident, diagnosed)
        if isinstance(chosen, list):
            return RepairDecision(
                Verdict.NO_PLAYBOOK, None, (no_playbook_reason(chosen),), dry_run=dry_run
            )
        playbook, plan = chosen
        finding = playbook.acted_on(diagnosed) if playbook.match.causes else None
        reasons: tuple[str, ...] = (f"playbook {playbook.id} matches; target {plan.target_key}",)
        if finding is not None:
            reasons = (
                *reasons,
                f"acting on the diagnosis' finding {finding.cause.value} "
                f"({finding.confidence:.2f}): {finding.summary}",
            )
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
        outcome = await gates.check_gates(context)
        if outcome.block is not None:
            return RepairDecision.blocked(
                outcome.block,
                reasons,
                playbook=playbook,
                plan=plan,
                dry_run=dry_run,
                finding=finding,
            )
        reasons = (*reasons, GATES_PASSED)
        asked = [verdict.reason for verdict in outcome.approvals]
        approval = gates.approval_reason(playbook, self.settings)
        if asked or approval is not None:
            # A gate that asks for a human names the wait (its reason last, as notices show the
            # last one); else the playbook's own risk does.
            gate = outcome.approvals[0].gate if outcome.approvals else GateName.APPROVAL
            return RepairDecision(
                Verdict.NEEDS_APPROVAL,
                playbook,
                (*reasons, *([approval] if approval is not None else []), *asked),
                plan,
                gate=gate,
                dry_run=dry_run,
                finding=finding,
            )
        reasons = (*reasons, f"risk {playbook.risk} may run without approval")
        if dry_run:
            reasons = (*reasons, "repair.mode is dry-run: planned and recorded, nothing runs")
        return RepairDecision(
            Verdict.AUTO, playbook, reasons, plan, dry_run=dry_run, finding=finding
        )

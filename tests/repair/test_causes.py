"""Repairs that follow the diagnosis: `match.causes` on the rules' most likely finding (never the
model's reading), the finding recorded with the decision, and `${target.*}`: the workload the
diagnosis resolved the alert to."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from awoooi.core.db import transaction
from awoooi.diagnosis.models import DiagnosisRecord
from awoooi.incidents.models import Incident
from awoooi.repair.models import Verdict
from awoooi.repair.playbooks import Playbook, resolve_plan
from awoooi.repair.service import SYSTEM_ACTOR
from awoooi.runtime import Runtime
from tests.repair.test_gates import RuntimeFactory, add_incident, decide, moment
from tests.repair.test_gates import make_runtime as make_runtime  # a fixture, used by name


@pytest.fixture
async def runtime(make_runtime: RuntimeFactory) -> Runtime:
    return await make_runtime()


ROLLOUT = {
    "cause": "BAD_ROLLOUT",
    "summary": "revision 7 changed env DB_URL 4 minutes before its pods began to fail",
    "confidence": 0.9,
    "evidence": ["e3", "e5"],
}
OOM = {"cause": "OOM_KILLED", "summary": "killed at its 256Mi limit", "confidence": 0.95}


async def diagnose(
    runtime: Runtime,
    incident_id: int,
    *,
    findings: list[dict[str, Any]],
    target: tuple[str, str, str] = ("Deployment", "prod", "web"),
    resolved: bool = True,
    by: str = "rules",
    answer: dict[str, Any] | None = None,
) -> None:
    """Store a diagnosis for the incident, as the diagnosis job would."""
    kind, namespace, name = target
    async with transaction(runtime.session_factory) as session:
        session.add(
            DiagnosisRecord(
                incident_id=incident_id,
                made_by=by,
                cause=findings[0]["cause"] if findings else None,
                summary="s",
                target_kind=kind,
                target_namespace=namespace,
                target_name=name,
                target_resolved=resolved,
                findings=findings,
                evidence=[],
                answer=answer or {},
                requested_by="test",
            )
        )


async def test_a_bad_rollout_finding_chooses_the_shipped_undo_playbook(runtime: Runtime) -> None:
    incident_id = await add_incident(runtime, alertname="SomethingNobodyHandles")
    await diagnose(
        runtime, incident_id, findings=[ROLLOUT, OOM], target=("StatefulSet", "prod", "cart")
    )
    decision = await decide(runtime, incident_id, moment())
    assert decision.verdict is Verdict.NEEDS_APPROVAL
    assert decision.playbook is not None
    assert decision.playbook.id == "undo-bad-rollout"
    assert decision.plan is not None
    assert decision.plan.target_key == "prod/StatefulSet/cart"
    assert [step.action for step in decision.plan.steps] == ["kube.rollout_undo"]
    assert decision.finding is not None
    assert decision.finding.cause == "BAD_ROLLOUT"
    assert any("acting on the diagnosis' finding BAD_ROLLOUT" in r for r in decision.reasons)
    assert decision.reasons[-1] == "undo-bad-rollout requires approval"

    async with transaction(runtime.session_factory) as session:
        incident = await session.get(Incident, incident_id)
        assert incident is not None
        repair = await runtime.repairs.record(session, incident, decision, actor=SYSTEM_ACTOR)
    assert repair.finding == ROLLOUT


async def test_only_the_most_likely_finding_counts(runtime: Runtime) -> None:
    incident_id = await add_incident(runtime, alertname="SomethingNobodyHandles")
    await diagnose(runtime, incident_id, findings=[OOM, ROLLOUT])
    decision = await decide(runtime, incident_id, moment())
    assert decision.verdict is Verdict.NO_PLAYBOOK


async def test_the_models_reading_never_chooses_a_repair(runtime: Runtime) -> None:
    """A model that says BAD_ROLLOUT while the rules found an OOM kill chooses nothing."""
    incident_id = await add_incident(runtime, alertname="SomethingNobodyHandles")
    await diagnose(
        runtime,
        incident_id,
        findings=[OOM],
        by="model",
        answer={"by": "model", "cause": "BAD_ROLLOUT", "rules_cause": "OOM_KILLED"},
    )
    decision = await decide(runtime, incident_id, moment())
    assert decision.verdict is Verdict.NO_PLAYBOOK
    assert decision.finding is None


async def test_without_a_diagnosis_cause_playbooks_do_not_match(runtime: Runtime) -> None:
    incident_id = await add_incident(runtime, alertname="SomethingNobodyHandles")
    decision = await decide(runtime, incident_id, moment())
    assert decision.verdict is Verdict.NO_PLAYBOOK


async def test_a_statefulset_pods_alert_targets_the_statefulset(runtime: Runtime) -> None:
    """The diagnosis resolved the pod to its StatefulSet: the shipped crash-loop restart acts on
    it (and waits for its rollout), never on a Deployment of the same name."""
    incident_id = await add_incident(runtime, services=("cart",))
    await diagnose(runtime, incident_id, findings=[OOM], target=("StatefulSet", "prod", "cart"))
    decision = await decide(runtime, incident_id, moment())
    assert all("Deployment/cart" not in reason for reason in decision.reasons)
    assert decision.verdict is Verdict.AUTO
    assert decision.plan is not None
    assert decision.plan.target_key == "prod/StatefulSet/cart"
    assert decision.plan.playbook.verify.check == "workload_available"


async def test_deployment_available_needs_a_deployment(make_runtime: RuntimeFactory) -> None:
    """A playbook that waits for a Deployment is not planned on a StatefulSet."""
    runtime = await make_runtime(include_default_playbooks=False, playbooks_dir=None)
    playbook = Playbook.model_validate(
        {
            "id": "restart-deployment",
            "name": "Restart",
            "match": {"signals": ["KubePodCrashLooping"]},
            "target": {
                "kind": "${target.kind}",
                "name": "${target.name}",
                "namespace": "${target.namespace}",
            },
            "risk": "low",
            "steps": [{"action": "kube.rollout_restart"}],
            "verify": {"check": "deployment_available", "timeout": "1m"},
        }
    )
    incident_id = await add_incident(runtime, services=("cart",))
    await diagnose(runtime, incident_id, findings=[OOM], target=("StatefulSet", "prod", "cart"))
    async with runtime.session_factory() as session:
        incident = await session.get(Incident, incident_id)
        assert incident is not None
        with pytest.raises(ValueError, match="needs a Deployment; the target is prod/StatefulSet"):
            resolve_plan(
                playbook,
                incident,
                runtime.repairs.settings,
                await runtime.repairs.decider.diagnosed(session, incident),
            )


async def test_a_target_only_guessed_from_labels_is_not_taken_as_resolved(
    runtime: Runtime,
) -> None:
    """Without a cluster the diagnosis' target is read from the labels: repairs keep their own
    reading of the incident (the symptoms), as before."""
    incident_id = await add_incident(runtime)
    await diagnose(
        runtime, incident_id, findings=[], target=("StatefulSet", "prod", "web"), resolved=False
    )
    decision = await decide(runtime, incident_id, moment())
    assert decision.verdict is Verdict.AUTO
    assert decision.plan is not None
    assert decision.plan.target_key == "prod/Deployment/web"


def test_causes_are_checked_against_the_taxonomy() -> None:
    base: dict[str, Any] = {
        "id": "pb",
        "name": "PB",
        "risk": "low",
        "steps": [{"action": "kube.rollout_restart"}],
        "target": {"kind": "${target.kind}", "name": "${target.name}"},
    }
    playbook = Playbook.model_validate({**base, "match": {"causes": ["OOM_KILLED"]}})
    assert playbook.match.specificity() == 1
    with pytest.raises(ValidationError, match="causes"):
        Playbook.model_validate({**base, "match": {"causes": ["DISK_ON_FIRE"]}})
    with pytest.raises(ValidationError, match="unknown placeholder"):
        Playbook.model_validate(
            {**base, "match": {"causes": ["OOM_KILLED"]}, "target": {"name": "${target.uid}"}}
        )

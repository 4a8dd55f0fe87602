"""HorizontalPodAutoscalers scaling the target: replicas against their bounds, metrics against
their targets, conditions (ScalingLimited / TooManyReplicas)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from awoooi.diagnosis.evidence.base import Collection, name_of
from awoooi.diagnosis.evidence.workload import conditions_of, describe_conditions
from awoooi.diagnosis.facts import HpaFact

SOURCE = "hpa"


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _metric_name(metric: Mapping[str, Any]) -> str:
    kind = str(metric.get("type") or "")
    body = metric.get(kind[:1].lower() + kind[1:]) or {}
    name = body.get("name") or (body.get("metric") or {}).get("name") or kind
    return str(name)


def metrics(hpa: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(descriptions, names of metrics above their target) of an autoscaling/v2 or v1 HPA."""
    spec, status = hpa.get("spec") or {}, hpa.get("status") or {}
    texts: list[str] = []
    above: list[str] = []
    if "targetCPUUtilizationPercentage" in spec:  # autoscaling/v1
        cpu_target = _int(spec.get("targetCPUUtilizationPercentage"))
        cpu_now = _int(status.get("currentCPUUtilizationPercentage"))
        shown = cpu_now if cpu_now is not None else "?"
        texts.append(f"cpu {shown}% of requests (target {cpu_target}%)")
        if cpu_now is not None and cpu_target is not None and cpu_now > cpu_target:
            above.append("cpu")
    current_by_name = {_metric_name(m): m for m in status.get("currentMetrics") or []}
    for metric in spec.get("metrics") or []:
        name = _metric_name(metric)
        kind = str(metric.get("type") or "")
        body = metric.get(kind[:1].lower() + kind[1:]) or {}
        target = body.get("target") or {}
        now_metric = current_by_name.get(name) or {}
        now_body = now_metric.get(kind[:1].lower() + kind[1:]) or {}
        current = now_body.get("current") or {}
        if target.get("averageUtilization") is not None:
            value, goal = current.get("averageUtilization"), target.get("averageUtilization")
            shown = value if value is not None else "?"
            texts.append(f"{name} {shown}% of requests (target {goal}%)")
            if isinstance(value, int) and isinstance(goal, int) and value > goal:
                above.append(name)
        else:
            goal = target.get("averageValue") or target.get("value")
            value = current.get("averageValue") or current.get("value")
            texts.append(f"{name} {value if value is not None else '?'} (target {goal})")
    return texts, above


async def collect(c: Collection) -> None:
    """Describe the autoscalers whose scale target is the target."""
    if not c.namespace:
        return
    for hpa in await c.source.list_objects("HorizontalPodAutoscaler", c.namespace):
        ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        if ref.get("kind") != c.target.kind or ref.get("name") != c.target.name:
            continue
        spec, status = hpa.get("spec") or {}, hpa.get("status") or {}
        conditions = conditions_of(status)
        texts, above = metrics(hpa)
        fact = HpaFact(
            "",
            name_of(hpa),
            _int(spec.get("minReplicas")),
            _int(spec.get("maxReplicas")),
            _int(status.get("currentReplicas")),
            _int(status.get("desiredReplicas")),
            conditions,
            above,
        )
        text = (
            f"HorizontalPodAutoscaler {c.namespace}/{fact.name} → {c.target.kind} {c.target.name}: "
            f"{fact.current} current / {fact.desired} desired replicas (minReplicas "
            f"{fact.min_replicas}, maxReplicas {fact.max_replicas})"
        )
        if texts:
            text += "; " + ", ".join(texts)
        described = describe_conditions(conditions)
        if described:
            text += "; " + described
        fact.evidence = c.book.add(SOURCE, text)
        c.facts.hpas.append(fact)

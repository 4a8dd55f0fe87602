"""An autoscaler at its ceiling: at maxReplicas (`ScalingLimited` / `TooManyReplicas`) while its
metrics stay above target."""

from __future__ import annotations

from collections.abc import Iterator

from awoooi.diagnosis.analyzers.registry import register
from awoooi.diagnosis.facts import Facts
from awoooi.diagnosis.model import Cause, Finding


@register("hpa_maxed")
def hpa_maxed(facts: Facts) -> Iterator[Finding]:
    """HPA_MAXED: the target's HPA runs at maxReplicas and wants more."""
    for hpa in facts.hpas:
        if hpa.max_replicas is None:
            continue
        at_max = max(hpa.current or 0, hpa.desired or 0) >= hpa.max_replicas
        limited = hpa.conditions.get("ScalingLimited")
        capped = (
            limited is not None
            and limited.status == "True"
            and (limited.reason == "TooManyReplicas" or "maximum" in limited.message.lower())
        )
        if not at_max and not capped:
            continue
        if capped and hpa.above_target:
            sure = 0.92
        elif capped or hpa.above_target:
            sure = 0.8
        else:
            sure = 0.45  # at the ceiling, but the metrics are within target
        over = f"; {', '.join(hpa.above_target)} above target" if hpa.above_target else ""
        yield Finding(
            Cause.HPA_MAXED,
            f"HorizontalPodAutoscaler {hpa.name} is at maxReplicas {hpa.max_replicas} "
            f"({hpa.current} running){over}"
            + (f" — {limited.reason}: {limited.message}" if capped and limited else ""),
            sure,
            (hpa.evidence,),
        )

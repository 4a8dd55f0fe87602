"""The nodes the target's pods run on (or the alerted node): conditions, taints, cordons."""

from __future__ import annotations

from awoooi.diagnosis.evidence.base import Collection
from awoooi.diagnosis.evidence.workload import conditions_of
from awoooi.diagnosis.facts import NodeFact

SOURCE = "nodes"
MAX_NODES = 6
# A node condition is bad when True, except Ready (bad when not True).
_GOOD_WHEN_TRUE = frozenset({"Ready"})


async def collect(c: Collection) -> None:
    """Describe each node the focus pods (then the other pods) run on."""
    names: list[str] = [c.target.name] if c.target.kind == "Node" else []
    for pod in [*c.facts.focus_pods(), *c.facts.pods]:
        if pod.node and pod.node not in names:
            names.append(pod.node)
    for name in names[:MAX_NODES]:
        node = await c.source.get_object("Node", None, name)
        if node is None:
            c.facts.nodes.append(
                NodeFact(c.book.add(SOURCE, f"Node {name}: not in the cluster source"), name)
            )
            continue
        spec, status = node.get("spec") or {}, node.get("status") or {}
        conditions = conditions_of(status)
        taints = [
            f"{t.get('key')}{'=' + str(t['value']) if t.get('value') else ''}:{t.get('effect')}"
            for t in spec.get("taints") or []
        ]
        fact = NodeFact("", name, conditions, bool(spec.get("unschedulable")), taints)
        parts = []
        for cond in conditions.values():
            bad = (cond.status == "True") != (cond.type in _GOOD_WHEN_TRUE)
            if cond.type in _GOOD_WHEN_TRUE or bad:
                text = f"{cond.type}={cond.status}" + (f" {cond.reason}" if cond.reason else "")
                if bad and cond.message:
                    text += f": {cond.message}"
                if bad and cond.since:
                    text += f" (since {cond.since:%Y-%m-%dT%H:%M:%SZ})"
                parts.append(text)
        if fact.unschedulable:
            parts.append("cordoned (unschedulable)")
        if taints:
            parts.append("taints " + ", ".join(taints))
        allocatable = status.get("allocatable") or {}
        if c.target.kind == "Node" and allocatable:
            shown = {
                k: allocatable[k]
                for k in ("cpu", "memory", "pods", "ephemeral-storage")
                if k in allocatable
            }
            parts.append("allocatable " + ", ".join(f"{k}={v}" for k, v in shown.items()))
        fact.evidence = c.book.add(SOURCE, f"Node {name}: " + "; ".join(parts))
        c.facts.nodes.append(fact)

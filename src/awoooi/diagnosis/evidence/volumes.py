"""The PersistentVolumeClaims the target's pods mount: phase, class, access modes, volume."""

from __future__ import annotations

from awoooi.diagnosis.evidence.base import Collection
from awoooi.diagnosis.facts import PvcFact

SOURCE = "volumes"


async def collect(c: Collection) -> None:
    """Describe each claim the target's pods mount (a StatefulSet's per-pod claims too)."""
    users: dict[str, list[str]] = {}
    if c.target.kind == "PersistentVolumeClaim":
        users[c.target.name] = []  # a claim no pod mounts (yet)
    for pod in c.facts.pods:
        for claim in pod.claims:
            users.setdefault(claim, []).append(pod.name)
    for claim, pods in users.items():
        pvc = await c.source.get_object("PersistentVolumeClaim", c.namespace, claim)
        who = ", ".join(pods[:4]) + (" …" if len(pods) > 4 else "") or "no pod"
        if pvc is None:
            text = f"PersistentVolumeClaim {c.namespace}/{claim} (mounted by {who}): not found"
            c.facts.pvcs.append(PvcFact(c.book.add(SOURCE, text), claim, "Missing"))
            continue
        spec, status = pvc.get("spec") or {}, pvc.get("status") or {}
        phase = str(status.get("phase") or "")
        modes = tuple(str(m) for m in spec.get("accessModes") or status.get("accessModes") or [])
        size = (status.get("capacity") or {}).get("storage") or (
            (spec.get("resources") or {}).get("requests") or {}
        ).get("storage")
        storage_class = str(spec.get("storageClassName") or "")
        text = f"PersistentVolumeClaim {c.namespace}/{claim} (mounted by {who}): {phase or '?'}"
        if spec.get("volumeName"):
            text += f" to volume {spec['volumeName']}"
        details = [
            d
            for d in (
                str(size or ""),
                ", ".join(modes),
                f"storage class {storage_class}" if storage_class else "",
            )
            if d
        ]
        if details:
            text += f" ({'; '.join(details)})"
        c.facts.pvcs.append(PvcFact(c.book.add(SOURCE, text), claim, phase, storage_class, modes))

"""The ConfigMaps and Secrets the target's pods reference: which are missing, which lack the
referenced key. Secrets are read as key names only (the source never hands out values)."""

from __future__ import annotations

from awoooi.diagnosis.evidence.base import Collection, name_of
from awoooi.diagnosis.evidence.podspec import config_refs, pod_spec
from awoooi.diagnosis.facts import ConfigFact

SOURCE = "config"
MAX_SIMILAR = 3


async def collect(c: Collection) -> None:
    """Note each missing ConfigMap/Secret (or missing key) a pod or template references."""
    if not c.namespace:
        return
    specs = [pod_spec(obj) for obj in [*c.pods[:10], c.workload] if obj is not None]
    seen: set[tuple[str, str, str | None]] = set()
    for spec in specs:
        for kind, name, key, optional, how in config_refs(spec):
            if (kind, name, key) in seen:
                continue
            seen.add((kind, name, key))
            obj = await c.source.get_object(kind, c.namespace, name)
            flag = " (optional)" if optional else ""
            if obj is None:
                others = [
                    name_of(o)
                    for o in await c.source.list_objects(kind, c.namespace)
                    if name_of(o) != name and (name in name_of(o) or name_of(o) in name)
                ][:MAX_SIMILAR]
                text = f"{kind} {c.namespace}/{name} referenced by {how}{flag}: not found"
                if others:
                    text += f" (similar names in {c.namespace}: {', '.join(others)})"
                evidence = c.book.add(SOURCE, text)
                c.facts.missing_config.append(ConfigFact(evidence, kind, name, None, optional))
                continue
            if key is not None:
                keys = set((obj.get("data") or {}) | (obj.get("binaryData") or {}))
                if key not in keys:
                    shown = ", ".join(sorted(keys)[:10]) or "none"
                    evidence = c.book.add(
                        SOURCE,
                        f"{kind} {c.namespace}/{name} referenced by {how}{flag}: has no key "
                        f"{key} (keys: {shown})",
                    )
                    c.facts.missing_config.append(ConfigFact(evidence, kind, name, key, optional))

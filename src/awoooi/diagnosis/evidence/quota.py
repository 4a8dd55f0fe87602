"""ResourceQuotas of the target's namespace: what is used of each hard limit."""

from __future__ import annotations

from awoooi.diagnosis.evidence.base import Collection, name_of
from awoooi.diagnosis.facts import QuotaFact

SOURCE = "quota"


async def collect(c: Collection) -> None:
    """Describe each quota of the namespace (used / hard per resource)."""
    if not c.namespace:
        return
    for quota in await c.source.list_objects("ResourceQuota", c.namespace):
        status = quota.get("status") or {}
        hard = {
            str(k): str(v)
            for k, v in (status.get("hard") or (quota.get("spec") or {}).get("hard") or {}).items()
        }
        used = {str(k): str(v) for k, v in (status.get("used") or {}).items()}
        uses = ", ".join(
            f"{key} {used.get(key, '?')} used of {limit}" for key, limit in sorted(hard.items())
        )
        text = f"ResourceQuota {c.namespace}/{name_of(quota)}: {uses or 'no hard limits'}"
        c.facts.quotas.append(QuotaFact(c.book.add(SOURCE, text), name_of(quota), hard, used))

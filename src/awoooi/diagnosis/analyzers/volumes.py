"""Volumes that keep a pod from starting: claims Pending or lost, attach and mount failures
(`Multi-Attach error`, `FailedAttachVolume`, `FailedMount`)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from awoooi.diagnosis.analyzers.common import pod_events, quoted, scoped_pods, unique
from awoooi.diagnosis.analyzers.registry import register
from awoooi.diagnosis.analyzers.start_failures import MISSING_CONFIG
from awoooi.diagnosis.facts import Facts
from awoooi.diagnosis.model import Cause, Finding

VOLUME_REASONS = frozenset(
    {
        "FailedAttachVolume",
        "FailedMount",
        "FailedMapVolume",
        "VolumeResizeFailed",
        "FileSystemResizeFailed",
        "ProvisioningFailed",
        "FailedBinding",
    }
)
# The service-account token volume fails to mount on every pod being torn down: not a cause.
_GENERIC = re.compile(r"(?i)^unable to attach or mount volumes")
_NOISE = re.compile(r"kube-api-access-|not registered")


@register("volume")
def volume(facts: Facts) -> Iterator[Finding]:
    """VOLUME: attach/mount failures of the alerted pods, or their claims not Bound."""
    bad_claims = {p.name: p for p in facts.pvcs if p.phase not in {"Bound", ""}}
    claim_events = [
        e for e in facts.events if e.kind == "PersistentVolumeClaim" and e.type == "Warning"
    ]
    for pod, penalty in scoped_pods(facts):
        events = [
            e
            for e in pod_events(facts, pod, reasons=set(VOLUME_REASONS))
            if e.type == "Warning" and not _NOISE.search(e.message)
        ]
        claims = [bad_claims[name] for name in pod.claims if name in bad_claims]
        if not events and not claims:
            continue
        config_only = (
            events and all(MISSING_CONFIG.search(e.message) for e in events) and not claims
        )
        mounted = [p for p in facts.pvcs if p.name in pod.claims]
        if claims:
            what = ", ".join(f"PersistentVolumeClaim {c.name} is {c.phase}" for c in claims)
            if claim_events:
                what += f": {quoted(claim_events[0].message)}"
        else:
            # The kubelet's timeout ("Unable to attach or mount volumes: ... timed out") follows
            # the specific failure (Multi-Attach error, attach or SetUp failure): name that one.
            specific = [e for e in events if not _GENERIC.search(e.message)] or events
            what = quoted(specific[0].message, 220)
        names = ", ".join(pod.claims)
        yield Finding(
            Cause.VOLUME,
            f"pod {pod.name} cannot start: {what}" + (f" (claims: {names})" if names else ""),
            (0.85 if config_only else 0.9) - penalty,
            unique(
                [
                    *(e.evidence for e in events[:3]),
                    pod.evidence,
                    *(c.evidence for c in claims),
                    *(m.evidence for m in mounted),
                    *(e.evidence for e in claim_events[:2]),
                ]
            ),
        )
        if config_only:
            yield Finding(
                Cause.CONFIG_MISSING,
                f"pod {pod.name} mounts a ConfigMap or Secret that is missing: "
                f"{quoted(events[0].message)}",
                0.7 - penalty,
                unique(
                    [events[0].evidence, pod.evidence, *(m.evidence for m in facts.missing_config)]
                ),
            )
        return

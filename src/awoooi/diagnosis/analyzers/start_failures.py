"""Containers that cannot start: a missing ConfigMap/Secret or key (`CreateContainerConfigError`),
an image that cannot be pulled (`ErrImagePull`, `ImagePullBackOff`, `InvalidImageName`)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from awoooi.diagnosis.analyzers.common import pod_events, quoted, scoped_pods, unique
from awoooi.diagnosis.analyzers.registry import register
from awoooi.diagnosis.facts import Facts
from awoooi.diagnosis.model import Cause, Finding

CONFIG_REASONS = frozenset({"CreateContainerConfigError"})
PULL_REASONS = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "RegistryUnavailable",
        "SignatureValidationFailed",
    }
)
# kubelet: `configmap "x" not found`, `secret "x" not found`, `couldn't find key k in Secret ns/x`
MISSING_CONFIG = re.compile(
    r"(?i)((configmaps?|secrets?) \"[^\"]+\" not found|couldn't find key \S+ in (ConfigMap|Secret)"
    r" \S+)"
)
PULL_FAILURE = re.compile(
    r"(?i)(failed to pull image|error: (errimagepull|imagepullbackoff)"
    r"|back-off pulling image|invalidimagename)"
)
# Why the registry said no, in the words of containerd, CRI-O and the registries.
_PULL_WHY = (
    (re.compile(r"(?i)no match for platform"), "no image for the node's platform"),
    # Auth first: "pull access denied, repository does not exist or may require authorization"
    # is how registries answer both.
    (
        re.compile(
            r"(?i)unauthorized|authentication required|authorization failed|no basic auth"
            r"|denied|forbidden|\b40[13]\b"
        ),
        "the registry refused the credentials",
    ),
    (
        re.compile(r"(?i)manifest unknown|not found|no such manifest|does not exist"),
        "the tag or image does not exist",
    ),
    (re.compile(r"(?i)toomanyrequests|rate limit"), "the registry rate-limited the pull"),
    (
        re.compile(r"(?i)no such host|i/o timeout|connection refused|dial tcp|x509|tls"),
        "the registry is unreachable",
    ),
)


def pull_reason(message: str) -> str:
    """Why a pull failed, from the kubelet's message."""
    for pattern, why in _PULL_WHY:
        if pattern.search(message):
            return why
    return "the pull failed"


@register("config_missing")
def config_missing(facts: Facts) -> Iterator[Finding]:
    """CONFIG_MISSING: a container waits in CreateContainerConfigError on a missing reference."""
    for pod, penalty in scoped_pods(facts):
        # A missing Secret or ConfigMap *volume* is a FailedMount: the volume rule's first.
        events = [
            e
            for e in pod_events(facts, pod)
            if e.type == "Warning"
            and e.reason != "FailedMount"
            and MISSING_CONFIG.search(e.message)
        ]
        waiting = [c for c in pod.containers if c.state == "waiting" and c.reason in CONFIG_REASONS]
        if not waiting and not events:
            continue
        detail = next((c.message for c in waiting if c.message), "") or (
            events[0].message if events else ""
        )
        names = {m.name for m in facts.missing_config}
        cited = [pod.evidence, *(e.evidence for e in events[:3])]
        cited += [m.evidence for m in facts.missing_config if m.name in detail or not detail]
        base = 0.95 if waiting else 0.88
        if detail and not MISSING_CONFIG.search(detail) and not facts.missing_config:
            # CreateContainerConfigError for another reason (runAsNonRoot against a root image,
            # a bad subPath): a configuration problem, not a missing reference.
            base = 0.6
        what = quoted(detail) if detail else "a referenced ConfigMap or Secret is missing"
        yield Finding(
            Cause.CONFIG_MISSING,
            f"pod {pod.name} cannot start its container: {what}"
            + (f" (missing: {', '.join(sorted(names))})" if names else ""),
            base - penalty,
            unique(cited),
        )
        return


@register("image_pull")
def image_pull(facts: Facts) -> Iterator[Finding]:
    """IMAGE_PULL: a container's image cannot be pulled (tag not found, unauthorized, ...)."""
    for pod, penalty in scoped_pods(facts):
        events = [
            e
            for e in pod_events(facts, pod)
            if PULL_FAILURE.search(e.message) or e.reason in PULL_REASONS
        ]
        waiting = [c for c in pod.containers if c.state == "waiting" and c.reason in PULL_REASONS]
        if not waiting and not any(e.type == "Warning" for e in events):
            continue
        failed = next((e.message for e in events if "failed to pull" in e.message.lower()), "")
        image = waiting[0].image if waiting else ""
        why = pull_reason(failed or (waiting[0].message if waiting else ""))
        summary = f"pod {pod.name} cannot pull image {image or '(see events)'}: {why}"
        if waiting:
            summary += f" ({waiting[0].reason})"
        yield Finding(
            Cause.IMAGE_PULL,
            summary,
            (0.95 if waiting else 0.85) - penalty,
            unique([pod.evidence, *(e.evidence for e in events[:4])]),
        )
        return

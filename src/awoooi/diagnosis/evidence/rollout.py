"""Rollout history: the target's revisions (a Deployment's ReplicaSets, a StatefulSet's or
DaemonSet's ControllerRevisions) and what changed in the pod template between the newest and the
one before — image, env names (never values), args, resources — with times."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from awoooi.diagnosis.evidence.base import JSON, Collection, name_of, owned_by
from awoooi.diagnosis.evidence.podspec import containers, quantities, resources, template_of
from awoooi.diagnosis.facts import RevisionFact, parse_time, stamp

SOURCE = "rollout"
MAX_HISTORY = 5
_REVISION = "deployment.kubernetes.io/revision"
# Labels and annotations a controller sets itself: not a change anyone made.
_OWN_KEYS = frozenset({"pod-template-hash", "controller-revision-hash", "pod-template-generation"})


def _digest(value: Any) -> str:
    """A comparable fingerprint of a value that must never be shown (an env value)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def _env(container: Mapping[str, Any]) -> dict[str, str]:
    return {
        str(e.get("name")): _digest({k: v for k, v in e.items() if k != "name"})
        for e in container.get("env") or []
    }


def _env_from(container: Mapping[str, Any]) -> set[str]:
    found = set()
    for entry in container.get("envFrom") or []:
        for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            name = (entry.get(field) or {}).get("name")
            if name:
                found.add(f"{kind} {name}")
    return found


def _volumes(spec: Mapping[str, Any]) -> dict[str, str]:
    found = {}
    for volume in spec.get("volumes") or []:
        source = {k: v for k, v in volume.items() if k != "name"}
        kind = next(iter(source), "?")
        detail = source.get(kind) or {}
        ref = detail.get("name") or detail.get("secretName") or detail.get("claimName") or ""
        found[str(volume.get("name"))] = f"{kind} {ref}".strip()
    return found


def _words(value: Any) -> str:
    return " ".join(str(v) for v in value) if isinstance(value, list) else str(value)


def _container_changes(name: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    where = f"container {name}"
    changes = []
    if old.get("image") != new.get("image"):
        changes.append(f"image {old.get('image')} → {new.get('image')} ({where})")
    old_env, new_env = _env(old), _env(new)
    added = sorted(set(new_env) - set(old_env))
    removed = sorted(set(old_env) - set(new_env))
    changed = sorted(k for k in set(old_env) & set(new_env) if old_env[k] != new_env[k])
    for label, names in (("added", added), ("removed", removed), ("changed", changed)):
        if names:
            changes.append(f"env {', '.join(names)} {label} ({where}; values not shown)")
    old_from, new_from = _env_from(old), _env_from(new)
    if old_from != new_from:
        changes.append(
            f"envFrom {', '.join(sorted(old_from)) or 'none'} → "
            f"{', '.join(sorted(new_from)) or 'none'} ({where})"
        )
    for field in ("command", "args"):
        if old.get(field) != new.get(field):
            changes.append(
                f"{field} '{_words(old.get(field) or '')}' → "
                f"'{_words(new.get(field) or '')}' ({where})"
            )
    old_req, old_lim = resources(old)
    new_req, new_lim = resources(new)
    if old_req != new_req:
        changes.append(
            f"requests {quantities(old_req) or 'none'} → {quantities(new_req) or 'none'} ({where})"
        )
    if old_lim != new_lim:
        changes.append(
            f"limits {quantities(old_lim) or 'none'} → {quantities(new_lim) or 'none'} ({where})"
        )
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if old.get(probe) != new.get(probe):
            changes.append(f"{probe} changed ({where})")
    if old.get("volumeMounts") != new.get("volumeMounts"):
        changes.append(f"volumeMounts changed ({where})")
    return changes


def template_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What changed between two pod templates, in words (env values never appear)."""
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    old_c = {str(c.get("name")): c for c, _ in containers(old_spec)}
    new_c = {str(c.get("name")): c for c, _ in containers(new_spec)}
    changes = [f"container {n} added" for n in sorted(set(new_c) - set(old_c))]
    changes += [f"container {n} removed" for n in sorted(set(old_c) - set(new_c))]
    for name in sorted(set(old_c) & set(new_c)):
        changes += _container_changes(name, old_c[name], new_c[name])
    old_v, new_v = _volumes(old_spec), _volumes(new_spec)
    for vname in sorted(set(old_v) | set(new_v)):
        if old_v.get(vname) != new_v.get(vname):
            changes.append(
                f"volume {vname}: {old_v.get(vname, 'none')} → {new_v.get(vname, 'none')}"
            )
    for field in (
        "nodeSelector",
        "affinity",
        "tolerations",
        "serviceAccountName",
        "priorityClassName",
    ):
        if old_spec.get(field) != new_spec.get(field):
            changes.append(f"{field} changed")
    old_meta, new_meta = old.get("metadata") or {}, new.get("metadata") or {}
    for field in ("labels", "annotations"):
        before = {k: v for k, v in (old_meta.get(field) or {}).items() if k not in _OWN_KEYS}
        after = {k: v for k, v in (new_meta.get(field) or {}).items() if k not in _OWN_KEYS}
        if before != after:
            keys = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
            changes.append(f"template {field} changed: {', '.join(keys)}")
    return changes


def _number(obj: Mapping[str, Any]) -> int:
    if obj.get("kind") == "ControllerRevision":
        value = obj.get("revision")
    else:
        value = ((obj.get("metadata") or {}).get("annotations") or {}).get(_REVISION)
    try:
        return int(str(value))
    except ValueError:
        return 0


def _replica_counts(obj: Mapping[str, Any]) -> tuple[int, int]:
    if obj.get("kind") != "ReplicaSet":
        return -1, -1
    status = obj.get("status") or {}
    return int((obj.get("spec") or {}).get("replicas") or 0), int(status.get("readyReplicas") or 0)


async def _revisions(c: Collection) -> list[JSON]:
    if c.target.kind == "Deployment":
        return list(c.replicasets)
    if c.target.kind in {"StatefulSet", "DaemonSet"}:
        return [
            r
            for r in await c.source.list_objects("ControllerRevision", c.namespace)
            if owned_by(r, c.target.kind, {c.target.name})
        ]
    return []


async def collect(c: Collection) -> None:
    """Describe the revisions and the newest revision's changes."""
    revisions = sorted(await _revisions(c), key=_number, reverse=True)
    revisions = [r for r in revisions if _number(r) > 0]
    if not revisions:
        return
    facts = []
    for index, obj in enumerate(revisions[:MAX_HISTORY]):
        desired, ready = _replica_counts(obj)
        changes: list[str] = []
        if index + 1 < len(revisions):
            changes = template_changes(template_of(revisions[index + 1]), template_of(obj))
        facts.append(
            RevisionFact(
                evidence="",
                name=name_of(obj),
                number=_number(obj),
                created=parse_time((obj.get("metadata") or {}).get("creationTimestamp")),
                desired=desired,
                ready=ready,
                changes=changes,
                newest=index == 0,
            )
        )
    lines = []
    for fact in facts:
        line = f"revision {fact.number} ({fact.name}, created {stamp(fact.created)}"
        line += f", {fact.desired} desired, {fact.ready} ready)" if fact.desired >= 0 else ")"
        lines.append(line)
    history = c.book.add(SOURCE, f"rollout history of {c.target}: " + "; ".join(lines))
    newest = facts[0]
    newest.evidence = history
    if len(facts) > 1:
        before = facts[1]
        what = "; ".join(newest.changes) or "no change in the pod template"
        newest.evidence = c.book.add(
            SOURCE,
            f"{c.target} revision {newest.number} ({newest.name}, created "
            f"{stamp(newest.created)}) versus revision {before.number} ({before.name}, created "
            f"{stamp(before.created)}): {what}",
        )
    for fact in facts[1:]:
        fact.evidence = history
    c.facts.revisions = facts

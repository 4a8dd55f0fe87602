"""Who wrote a drifted field: the field managers in the live object's managedFields, and which of
them edit by hand (kubectl) or apply Git (Argo CD, Flux)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from awoooi.drift.diff import (
    DEFAULT_GITOPS_MANAGERS,
    DEFAULT_IMPERATIVE_MANAGERS,
    FieldTrie,
    Segment,
    scale_owners,
)
from awoooi.drift.paths import item_segments, stored_segment
from awoooi.drift.report import DriftItem


def field_managers(live: Mapping[str, Any] | None, path: Sequence[Segment]) -> list[str]:
    """Managers whose managedFields own the path or its nearest owned ancestor/descendant."""
    if not live:
        return []
    wanted = tuple(stored_segment(raw) for raw in path)
    exact: list[str] = []
    ancestors: list[tuple[int, bool, str]] = []  # (depth, owns it whole, manager)
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        if not isinstance(entry, dict) or not entry.get("manager"):
            continue
        if entry.get("subresource") == "status" and wanted[:1] != ("status",):
            continue  # controllers' status writes say nothing about who changed the spec
        fields = entry.get("fieldsV1")
        if not isinstance(fields, dict):
            continue
        manager = str(entry["manager"])
        node = FieldTrie(manager)
        node.add(fields, manager)
        depth = 0
        for segment in wanted:
            child = node.children.get(segment)
            if child is None:
                break
            node, depth = child, depth + 1
        if depth == len(wanted):
            exact.append(manager)  # owns the path itself or fields below it
        elif depth:
            # A leaf above the path is owned whole (an atomic list or map); a node with other
            # children only says the manager wrote siblings.
            ancestors.append((depth, not node.children, manager))
    if exact:
        return list(dict.fromkeys(exact))
    if not ancestors:
        return []
    best = max((whole, depth) for depth, whole, _ in ancestors)
    return list(dict.fromkeys(m for depth, whole, m in ancestors if (whole, depth) == best))


def item_managers(item: DriftItem, live: Mapping[str, Any] | None) -> list[str]:
    """Managers of one drifted field (for spec.replicas, whoever writes the scale too)."""
    segments = item_segments(item)
    found = field_managers(live, segments)
    if segments == ("spec", "replicas") and live:
        found = list(dict.fromkeys([*found, *scale_owners(live)]))
    return found


def resource_managers(
    items: Sequence[DriftItem], live: Mapping[str, Any] | None
) -> tuple[str, ...]:
    """Managers of a resource's drifted fields, each once, in the order met."""
    found: dict[str, None] = {}
    for item in items:
        found.update(dict.fromkeys(item_managers(item, live)))
    return tuple(found)


_IMPERATIVE = frozenset(name.lower() for name in DEFAULT_IMPERATIVE_MANAGERS)
_GITOPS = frozenset(name.lower() for name in DEFAULT_GITOPS_MANAGERS)


def is_imperative(manager: str) -> bool:
    """Whether the manager is a hand edit (kubectl and its subcommands)."""
    name = manager.lower()
    return name in _IMPERATIVE or name.startswith("kubectl")


def is_gitops(manager: str) -> bool:
    """Whether the manager applies Git (Argo CD, Flux)."""
    name = manager.lower()
    return name in _GITOPS or name.startswith(("argocd", "flux"))


def likely_actors(managers: Sequence[str]) -> list[str]:
    """Who most likely made the change: the appliers of Git are only a last resort."""
    others = [m for m in managers if not is_gitops(m)]
    return others or list(managers)

"""Where an alert happens, as storms group it: its namespace and the node it names."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

# Labels that name a Kubernetes node, most specific first. `instance` is left out on purpose:
# it names a scrape target (a pod or an exporter's address), not a node.
NODE_LABELS = ("node", "kubernetes_node", "nodename")
MAX_NAME_CHARS = 253


class StormScope(StrEnum):
    """What the incidents of one storm share."""

    NAMESPACE = "namespace"
    NODE = "node"


def node_of(labels: Mapping[str, str]) -> str | None:
    """The node an alert's labels name, if any."""
    for name in NODE_LABELS:
        value = (labels.get(name) or "").strip()
        if value:
            return value[:MAX_NAME_CHARS]
    return None


def places(namespace: str | None, node: str | None) -> list[tuple[StormScope, str]]:
    """The places a storm may gather an incident in: its namespace first, then its node."""
    found: list[tuple[StormScope, str]] = []
    if namespace:
        found.append((StormScope.NAMESPACE, namespace[:MAX_NAME_CHARS]))
    if node:
        found.append((StormScope.NODE, node))
    return found


def storm_lock_name(scope: StormScope, value: str) -> str:
    """The lock that serializes storm decisions for one place."""
    return f"storm:{'ns' if scope is StormScope.NAMESPACE else 'node'}:{value}"


def storm_lock_names(labels: Iterable[Mapping[str, str]]) -> list[str]:
    """The storm locks a batch of alerts (by their labels) may need: taken with the batch's
    other locks, in one sorted pass, so no two batches wait on each other in a circle."""
    names: set[str] = set()
    for alert_labels in labels:
        namespace = alert_labels.get("namespace") or None
        for scope, value in places(namespace, node_of(alert_labels)):
            names.add(storm_lock_name(scope, value))
    return sorted(names)

"""RBAC as sets of (apiGroup, resource, verb): what a recorded request needs, what a role grants."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from awoooi.repair.actions import KubePermission
from tests.helpers.kube_api import RecordedRequest

_RESOURCE_PATH = re.compile(
    r"^/(?:api/v1|apis/(?P<group>[^/]+)/[^/]+)(?:/namespaces/[^/]+)?"
    r"/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>[^/]+))?$"
)
_WRITE_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def permission(request: RecordedRequest) -> KubePermission | None:
    """The RBAC permission a request needs; None for discovery (granted to every account)."""
    match = _RESOURCE_PATH.match(request.path)
    if match is None:
        return None
    resource = match["plural"] + (f"/{match['sub']}" if match["sub"] else "")
    if request.method == "GET":
        verb = "get" if match["name"] else "list"
    else:
        verb = _WRITE_VERBS[request.method]
    return KubePermission(match["group"] or "", resource, verb)


def needed(requests: Iterable[RecordedRequest]) -> set[KubePermission]:
    """The permissions a run of requests needed."""
    return {p for p in map(permission, requests) if p is not None}


def role_grants(role: dict[str, Any]) -> set[KubePermission]:
    """Every (apiGroup, resource, verb) a ClusterRole's rules grant."""
    return {
        KubePermission(group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }

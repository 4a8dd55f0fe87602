"""Each kube action declares the RBAC permissions it needs, and the declaration is what the real
kube adapter does: every action runs on every kind it accepts against the API-server stand-in,
and the requests it sends, read as (apiGroup, resource, verb), are exactly what it declared."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

import httpx
import pytest

from awoooi.adapters.kube import ObjectRef, WorkloadKind
from awoooi.adapters.lightkube_client import LightkubeClient
from awoooi.repair.actions import (
    CATALOG,
    ActionContext,
    KubePermission,
    required_permissions,
    run_action,
    validate_params,
)
from awoooi.repair.settings import RepairSettings
from tests.helpers.kube_api import (
    FakeKubeAPI,
    make_controller_revision,
    make_deployment,
    make_pod,
    make_replicaset,
    make_workload,
)
from tests.helpers.rbac import needed

NS = "prod"


def seed_rollout(api: FakeKubeAPI, kind: str) -> None:
    """`web` of `kind` with two revisions of history, so an undo has somewhere to go."""
    if kind == "Deployment":
        dep = api.add(make_deployment("web", NS, revision=2, image="web:v2"))
        for revision, image, pod_hash in ((1, "web:v1", "aaa111"), (2, "web:v2", "bbb222")):
            api.add(
                make_replicaset(dep, revision=revision, image=image, pod_template_hash=pod_hash)
            )
        return
    stored = api.add(make_workload(kind, "web", NS, image="web:v2"))
    for revision in (1, 2):
        api.add(make_controller_revision(stored, revision=revision, image=f"web:v{revision}"))


def seed_workload(api: FakeKubeAPI, kind: str) -> None:
    """`web` of `kind` with two replicas (none for a DaemonSet) and one pod."""
    api.add(make_workload(kind, "web", NS, replicas=2))
    api.add(make_pod("web-abc12", NS))


# Action -> (kinds it accepts, how to seed the cluster for it, its parameters). A new kube
# action must be added here, so its declared permissions are checked against what it sends.
SCENARIOS: dict[str, tuple[tuple[str, ...], Callable[[FakeKubeAPI, str], None], dict[str, Any]]] = {
    "kube.rollout_restart": (("Deployment", "StatefulSet", "DaemonSet"), seed_workload, {}),
    "kube.scale": (("Deployment", "StatefulSet", "ReplicaSet"), seed_workload, {"delta": 1}),
    "kube.rollout_undo": (("Deployment", "StatefulSet", "DaemonSet"), seed_rollout, {}),
    "kube.delete_pod": (("Deployment",), seed_workload, {"pod": "web-abc12"}),
    "kube.patch": (
        ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"),
        seed_workload,
        {"patch": {"spec": {"template": {"metadata": {"annotations": {"a": "b"}}}}}},
    ),
}


async def observed(action: str) -> set[KubePermission]:
    """The permissions the action's requests needed, on every kind it accepts."""
    kinds, seed, raw_params = SCENARIOS[action]
    settings = RepairSettings()
    params = validate_params(action, raw_params, settings)
    seen: set[KubePermission] = set()
    for kind in kinds:
        with FakeKubeAPI() as api:
            seed(api, kind)
            client = LightkubeClient.connect(server=api.url, timeout=5.0)
            async with httpx.AsyncClient() as http:
                ctx = ActionContext(
                    kube=client,
                    http=http,
                    settings=settings,
                    target=ObjectRef(cast(WorkloadKind, kind), NS, "web"),
                    now=lambda: datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
                )
                await run_action(action, params, ctx)
            await client.aclose()
            seen |= needed(api.requests)
    return seen


def test_every_kube_action_declares_permissions_and_has_a_scenario() -> None:
    kube_actions = {name for name in CATALOG if name.startswith("kube.")}

    assert set(SCENARIOS) == kube_actions
    for name, action in CATALOG.items():
        assert bool(action.permissions) == (name in kube_actions), name


@pytest.mark.parametrize("action", sorted(SCENARIOS))
async def test_an_action_declares_exactly_the_permissions_its_requests_need(action: str) -> None:
    assert await observed(action) == set(CATALOG[action].permissions)


def test_the_catalog_needs_no_cluster_wide_or_secret_access() -> None:
    needed = required_permissions()

    assert {p.verb for p in needed} <= {"get", "list", "patch", "delete"}
    assert {p.resource for p in needed if p.verb == "delete"} == {"pods"}
    assert not any(p.resource in {"secrets", "nodes", "namespaces"} for p in needed)

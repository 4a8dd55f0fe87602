"""LightkubeClient against a fake API server: results, and the exact requests on the wire."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from awoooi.adapters.kube import KubeClient, KubeError, KubeNotFound, ObjectRef
from awoooi.adapters.lightkube_client import LightkubeClient
from tests.helpers.kube_api import (
    APPLY,
    JSON_PATCH,
    MERGE,
    STRATEGIC,
    FakeKubeAPI,
    make_deployment,
    make_pod,
    make_replicaset,
    make_workload,
    refusing_port,
)

NS = "prod"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
WEB = ObjectRef("Deployment", NS, "web")
DEPLOYMENT_PATH = f"/apis/apps/v1/namespaces/{NS}/deployments/web"
PLURALS = {
    "Deployment": "deployments",
    "StatefulSet": "statefulsets",
    "DaemonSet": "daemonsets",
    "ReplicaSet": "replicasets",
}
SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


def workload_path(kind: str, name: str = "web", namespace: str = NS) -> str:
    return f"/apis/apps/v1/namespaces/{namespace}/{PLURALS[kind]}/{name}"


def add_web(api: FakeKubeAPI, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("replicas", 3)
    return api.add(make_deployment("web", NS, **kwargs))


def seed_history(api: FakeKubeAPI) -> dict[str, Any]:
    """web at revision 3 (image v3) with ReplicaSets for revisions 1-3, plus look-alikes."""
    dep = add_web(
        api,
        image="registry/web:v3",
        revision=3,
        annotations={CHANGE_CAUSE: "deploy v3", "team": "payments"},
    )
    for revision, image, pod_hash in (
        (1, "registry/web:v1", "aaa111"),
        (2, "registry/web:v2", "bbb222"),
        (3, "registry/web:v3", "ccc333"),
    ):
        api.add(
            make_replicaset(
                dep,
                revision=revision,
                image=image,
                pod_template_hash=pod_hash,
                replicas=3 if revision == 3 else 0,
                annotations={CHANGE_CAUSE: f"deploy v{revision}"},
            )
        )
    # Same labels, revision 9, but controlled by another object: not web's history.
    api.add(
        make_replicaset(
            dep,
            revision=9,
            image="evil:v9",
            pod_template_hash="zzz999",
            owner_uid="00000000-0000-0000-0000-000000000000",
        )
    )
    # Another app's ReplicaSet in the namespace: the selector keeps it out of the list.
    other = api.add(make_deployment("api", NS))
    api.add(make_replicaset(other, revision=1, image="api:v1", pod_template_hash="ddd444"))
    api.requests.clear()
    return dep


def template_of(api: FakeKubeAPI, kind: str, name: str) -> dict[str, Any]:
    obj = api.get(kind, NS, name)
    assert obj is not None
    template: dict[str, Any] = obj["spec"]["template"]
    return template


def test_lightkube_client_is_a_kube_client(kube: LightkubeClient) -> None:
    assert isinstance(kube, KubeClient)


# -- rollout_restart ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet"])
async def test_rollout_restart_sets_restarted_at_by_strategic_merge(
    api: FakeKubeAPI, kube: LightkubeClient, kind: str
) -> None:
    api.add(make_workload(kind, "web", NS, annotations={"team": "payments"}))
    api.requests.clear()
    at = datetime(2024, 5, 1, 12, 30, 5, tzinfo=UTC)

    await kube.rollout_restart(ObjectRef(kind, NS, "web"), at=at)  # type: ignore[arg-type]

    [request] = api.requests
    assert request.method == "PATCH"
    assert request.path == workload_path(kind)
    assert request.content_type == STRATEGIC
    assert request.query == {}
    annotations = {RESTARTED_AT: "2024-05-01T12:30:05+00:00"}
    assert request.body == {"spec": {"template": {"metadata": {"annotations": annotations}}}}
    stored = api.get(kind, NS, "web")
    assert stored is not None
    assert stored["spec"]["template"]["metadata"]["annotations"] == {
        RESTARTED_AT: "2024-05-01T12:30:05+00:00"
    }
    assert stored["spec"]["template"]["metadata"]["labels"] == {"app": "web"}
    assert stored["metadata"]["annotations"] == {"team": "payments"}
    assert stored["metadata"]["generation"] == 2


async def test_rollout_restart_keeps_the_offset_and_treats_naive_times_as_utc(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    add_web(api)
    api.requests.clear()

    plus_two = timezone(timedelta(hours=2))
    await kube.rollout_restart(WEB, at=datetime(2024, 5, 1, 14, 0, tzinfo=plus_two))
    await kube.rollout_restart(WEB, at=datetime(2024, 5, 1, 12, 0, 0, 250000))

    sent = [
        r.body["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT] for r in api.requests
    ]
    assert sent == ["2024-05-01T14:00:00+02:00", "2024-05-01T12:00:00.250000+00:00"]
    assert template_of(api, "Deployment", "web")["metadata"]["annotations"][RESTARTED_AT] == sent[1]


async def test_rollout_restart_refuses_a_replicaset_without_a_request(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    with pytest.raises(KubeError, match="cannot be restarted") as info:
        await kube.rollout_restart(ObjectRef("ReplicaSet", NS, "web-abc"), at=datetime.now(UTC))
    assert info.value.status is None
    assert api.requests == []


# -- get_replicas / scale ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "ReplicaSet"])
async def test_get_replicas_reads_the_scale_subresource(
    api: FakeKubeAPI, kube: LightkubeClient, kind: str
) -> None:
    api.add(make_workload(kind, "web", NS, replicas=4))
    api.requests.clear()

    assert await kube.get_replicas(ObjectRef(kind, NS, "web")) == 4  # type: ignore[arg-type]

    [request] = api.requests
    assert (request.method, request.path, request.body) == (
        "GET",
        workload_path(kind) + "/scale",
        None,
    )


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "ReplicaSet"])
async def test_scale_merge_patches_the_scale_subresource(
    api: FakeKubeAPI, kube: LightkubeClient, kind: str
) -> None:
    api.add(make_workload(kind, "web", NS, replicas=2))
    api.requests.clear()

    await kube.scale(ObjectRef(kind, NS, "web"), 5)  # type: ignore[arg-type]

    [request] = api.requests
    assert request.method == "PATCH"
    assert request.path == workload_path(kind) + "/scale"
    assert request.content_type == MERGE
    assert request.body == {"spec": {"replicas": 5}}
    stored = api.get(kind, NS, "web")
    assert stored is not None
    assert stored["spec"]["replicas"] == 5
    assert stored["metadata"]["generation"] == 2
    assert await kube.get_replicas(ObjectRef(kind, NS, "web")) == 5  # type: ignore[arg-type]


async def test_scale_to_zero_is_sent(api: FakeKubeAPI, kube: LightkubeClient) -> None:
    add_web(api)
    await kube.scale(WEB, 0)
    assert api.requests[-1].body == {"spec": {"replicas": 0}}
    assert await kube.get_replicas(WEB) == 0


async def test_scale_refuses_a_daemonset_and_negative_replicas(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    with pytest.raises(KubeError, match="no scale subresource"):
        await kube.scale(ObjectRef("DaemonSet", NS, "agent"), 2)
    with pytest.raises(KubeError, match="no scale subresource"):
        await kube.get_replicas(ObjectRef("DaemonSet", NS, "agent"))
    with pytest.raises(KubeError, match=">= 0"):
        await kube.scale(WEB, -1)
    assert api.requests == []


# -- rollout_undo ------------------------------------------------------------------------------


async def test_rollout_undo_goes_back_to_the_previous_revision_like_kubectl(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    seed_history(api)
    # A field newer than lightkube's models must survive the copy untouched.
    stored_rs2 = api.objects[("apps/v1", NS, "replicasets", "web-bbb222")]
    stored_rs2["spec"]["template"]["spec"]["futureField"] = {"enabled": True}
    rs2 = api.get("ReplicaSet", NS, "web-bbb222")
    assert rs2 is not None

    assert await kube.rollout_undo(WEB) == 2

    get, listing, patch = api.requests
    assert (get.method, get.path) == ("GET", DEPLOYMENT_PATH)
    assert (listing.method, listing.path) == ("GET", f"/apis/apps/v1/namespaces/{NS}/replicasets")
    assert listing.query == {"labelSelector": "app=web"}
    assert (patch.method, patch.path, patch.content_type) == ("PATCH", DEPLOYMENT_PATH, JSON_PATCH)
    expected_template = rs2["spec"]["template"]
    assert expected_template["metadata"]["labels"].pop("pod-template-hash") == "bbb222"
    assert patch.body == [
        {"op": "replace", "path": "/spec/template", "value": expected_template},
        # kubectl: the revision bookkeeping stays, everything else comes from the ReplicaSet.
        {
            "op": "replace",
            "path": "/metadata/annotations",
            "value": {REVISION: "3", CHANGE_CAUSE: "deploy v2"},
        },
    ]
    template = template_of(api, "Deployment", "web")
    assert template["metadata"]["labels"] == {"app": "web"}
    assert template["spec"]["containers"][0]["image"] == "registry/web:v2"
    assert template["spec"]["futureField"] == {"enabled": True}
    stored = api.get("Deployment", NS, "web")
    assert stored is not None
    assert stored["metadata"]["generation"] == 2
    assert stored["metadata"]["annotations"] == {REVISION: "3", CHANGE_CAUSE: "deploy v2"}


async def test_rollout_undo_to_an_explicit_revision(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    seed_history(api)

    assert await kube.rollout_undo(WEB, to_revision=1) == 1

    patch = api.requests[-1]
    assert patch.content_type == JSON_PATCH
    assert patch.body[0]["value"]["spec"]["containers"][0]["image"] == "registry/web:v1"
    assert "pod-template-hash" not in patch.body[0]["value"]["metadata"]["labels"]
    assert template_of(api, "Deployment", "web")["spec"]["containers"][0]["image"] == (
        "registry/web:v1"
    )


async def test_rollout_undo_after_an_undo_skips_the_relabelled_revision(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    seed_history(api)
    # After an undo to 1 the controller re-labels ReplicaSet aaa111 as revision 4 and the
    # Deployment follows; the previous revision is then 3.
    dep = api.objects[("apps/v1", NS, "deployments", "web")]
    dep["metadata"]["annotations"][REVISION] = "4"
    dep["spec"]["template"]["spec"]["containers"][0]["image"] = "registry/web:v1"
    api.add(make_replicaset(dep, revision=4, image="registry/web:v1", pod_template_hash="aaa111"))

    assert await kube.rollout_undo(WEB) == 3
    assert template_of(api, "Deployment", "web")["spec"]["containers"][0]["image"] == (
        "registry/web:v3"
    )


async def test_rollout_undo_previous_is_below_the_deployments_own_revision(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    seed_history(api)
    dep = api.objects[("apps/v1", NS, "deployments", "web")]
    dep["metadata"]["annotations"][REVISION] = "2"  # e.g. revision 3 was created, then undone

    assert await kube.rollout_undo(WEB) == 1


async def test_rollout_undo_sends_match_expressions_in_the_selector(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    obj = make_deployment("web", NS, labels={"app": "web", "tier": "api"}, revision=2)
    obj["spec"]["selector"] = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["web", "api"]},
            {"key": "canary", "operator": "DoesNotExist"},
        ],
    }
    dep = api.add(obj)
    api.add(make_replicaset(dep, revision=1, image="web:v1", pod_template_hash="h1"))
    api.add(make_replicaset(dep, revision=2, image="nginx:1.25", pod_template_hash="h2"))
    api.requests.clear()

    assert await kube.rollout_undo(WEB) == 1

    assert api.requests[1].query == {"labelSelector": "app=web,tier in (api,web),!canary"}
    assert template_of(api, "Deployment", "web")["spec"]["containers"][0]["image"] == "web:v1"


async def test_rollout_undo_with_one_revision_fails_without_patching(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    dep = add_web(api, revision=1)
    api.add(make_replicaset(dep, revision=1, image="nginx:1.25", pod_template_hash="aaa111"))
    api.requests.clear()

    with pytest.raises(KubeError, match="no previous revision") as info:
        await kube.rollout_undo(WEB)

    assert not isinstance(info.value, KubeNotFound)
    assert [r.method for r in api.requests] == ["GET", "GET"]


async def test_rollout_undo_to_an_unknown_revision_fails(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    seed_history(api)
    with pytest.raises(KubeError, match="revision 9 not found"):
        await kube.rollout_undo(WEB, to_revision=9)  # 9 exists, but is not web's
    assert api.writes() == []


async def test_rollout_undo_to_the_running_template_skips_the_patch(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    seed_history(api)
    assert await kube.rollout_undo(WEB, to_revision=3) == 3
    assert api.writes() == []


async def test_rollout_undo_refuses_paused_deployments_and_replicasets(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    seed_history(api)
    obj = api.objects[("apps/v1", NS, "deployments", "web")]
    obj["spec"]["paused"] = True

    with pytest.raises(KubeError, match="paused"):
        await kube.rollout_undo(WEB)
    with pytest.raises(KubeError, match="only a Deployment, StatefulSet or DaemonSet"):
        await kube.rollout_undo(ObjectRef("ReplicaSet", NS, "web"))
    assert api.writes() == []


# -- delete_pod / patch ------------------------------------------------------------------------


async def test_delete_pod(api: FakeKubeAPI, kube: LightkubeClient) -> None:
    api.add(make_pod("web-abc", NS))
    api.add(make_pod("web-def", NS))
    api.requests.clear()

    await kube.delete_pod(NS, "web-abc")
    await kube.delete_pod(NS, "web-def", grace_period_seconds=0)

    first, second = api.requests
    assert (first.method, first.path, first.query) == (
        "DELETE",
        f"/api/v1/namespaces/{NS}/pods/web-abc",
        {},
    )
    assert (second.method, second.path, second.query) == (
        "DELETE",
        f"/api/v1/namespaces/{NS}/pods/web-def",
        {"gracePeriodSeconds": "0"},
    )
    assert api.get("Pod", NS, "web-abc") is None
    assert api.get("Pod", NS, "web-def") is None


async def test_delete_a_missing_pod_is_not_found(api: FakeKubeAPI, kube: LightkubeClient) -> None:
    with pytest.raises(KubeNotFound) as info:
        await kube.delete_pod(NS, "ghost")
    assert info.value.status == 404
    assert str(info.value) == f'delete {NS}/Pod/ghost: pods "ghost" not found'


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"])
async def test_patch_is_a_strategic_merge_patch(
    api: FakeKubeAPI, kube: LightkubeClient, kind: str
) -> None:
    obj = make_workload(kind, "web", NS)
    obj["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "envoy:1"})
    api.add(obj)
    api.requests.clear()
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "web", "resources": {"limits": {"memory": "512Mi"}}}]
                }
            }
        }
    }

    await kube.patch(ObjectRef(kind, NS, "web"), patch)  # type: ignore[arg-type]

    [request] = api.requests
    assert (request.method, request.path) == ("PATCH", workload_path(kind))
    assert request.content_type == STRATEGIC
    assert request.body == patch
    containers = template_of(api, kind, "web")["spec"]["containers"]
    # Merged by name: the image stays, the sidecar stays, the limit is added.
    assert containers == [
        {
            "name": "web",
            "image": "nginx:1.25",
            "ports": [{"containerPort": 8080}],
            "resources": {"limits": {"memory": "512Mi"}},
        },
        {"name": "sidecar", "image": "envoy:1"},
    ]


# -- deployment_available ----------------------------------------------------------------------

COMPLETE: dict[str, Any] = {
    "observedGeneration": 1,
    "replicas": 3,
    "updatedReplicas": 3,
    "readyReplicas": 3,
    "availableReplicas": 3,
    "conditions": [
        {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
        {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
    ],
}


def _status(**changes: Any) -> dict[str, Any]:
    status = {**COMPLETE, **changes}
    return {k: v for k, v in status.items() if v is not None}


@pytest.mark.parametrize(
    ("generation", "status", "expected"),
    [
        pytest.param(1, COMPLETE, True, id="complete"),
        pytest.param(1, _status(updatedReplicas=1, availableReplicas=2), False, id="progressing"),
        pytest.param(1, _status(availableReplicas=2), False, id="not-all-available"),
        pytest.param(2, COMPLETE, False, id="old-generation"),
        pytest.param(1, None, False, id="missing-status"),
        pytest.param(1, {"observedGeneration": 1}, False, id="empty-status"),
        pytest.param(1, _status(conditions=None), False, id="no-conditions"),
        pytest.param(
            1,
            _status(
                conditions=[
                    {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"}
                ]
            ),
            False,
            id="available-false",
        ),
        pytest.param(1, _status(replicas=4), False, id="old-pods-terminating"),
        pytest.param(3, _status(observedGeneration=4), True, id="observed-newer"),
    ],
)
async def test_deployment_available(
    api: FakeKubeAPI,
    kube: LightkubeClient,
    generation: int,
    status: dict[str, Any] | None,
    expected: bool,
) -> None:
    obj = make_deployment("web", NS, replicas=3, status=status)
    obj["metadata"]["generation"] = generation
    api.add(obj)
    api.requests.clear()

    assert await kube.deployment_available(NS, "web") is expected

    [request] = api.requests
    assert (request.method, request.path) == ("GET", DEPLOYMENT_PATH)


async def test_deployment_scaled_to_zero_is_available(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    api.add(
        make_deployment(
            "web",
            NS,
            replicas=0,
            status={
                "observedGeneration": 1,
                "conditions": [{"type": "Available", "status": "True"}],
            },
        )
    )
    assert await kube.deployment_available(NS, "web") is True


async def test_deployment_available_follows_a_rollout(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    add_web(api, status=COMPLETE)
    assert await kube.deployment_available(NS, "web") is True

    await kube.rollout_restart(WEB, at=datetime.now(UTC))  # generation 2, not yet observed
    assert await kube.deployment_available(NS, "web") is False

    api.set_status("Deployment", NS, "web", _status(observedGeneration=2))
    assert await kube.deployment_available(NS, "web") is True


# -- workload_available ------------------------------------------------------------------------


def _sts(status: dict[str, Any] | None, generation: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": NS, "generation": generation},
        "spec": {
            "replicas": 3,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {},
        },
        **({"status": status} if status is not None else {}),
    }


STS_DONE = {
    "observedGeneration": 1,
    "replicas": 3,
    "readyReplicas": 3,
    "updatedReplicas": 3,
    "currentRevision": "db-7f9",
    "updateRevision": "db-7f9",
}


@pytest.mark.parametrize(
    ("status", "generation", "expected"),
    [
        pytest.param(STS_DONE, 1, True, id="complete"),
        pytest.param({**STS_DONE, "updateRevision": "db-8a1"}, 1, False, id="rolling"),
        pytest.param({**STS_DONE, "readyReplicas": 2}, 1, False, id="not-ready"),
        pytest.param(STS_DONE, 2, False, id="old-generation"),
        pytest.param(None, 1, False, id="no-status"),
    ],
)
async def test_statefulset_available(
    api: FakeKubeAPI,
    kube: LightkubeClient,
    status: dict[str, Any] | None,
    generation: int,
    expected: bool,
) -> None:
    api.add(_sts(status, generation))
    assert await kube.workload_available(ObjectRef("StatefulSet", NS, "db")) is expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        pytest.param(
            {
                "observedGeneration": 1,
                "desiredNumberScheduled": 4,
                "updatedNumberScheduled": 4,
                "numberAvailable": 4,
                "currentNumberScheduled": 4,
                "numberMisscheduled": 0,
                "numberReady": 4,
            },
            True,
            id="complete",
        ),
        pytest.param(
            {
                "observedGeneration": 1,
                "desiredNumberScheduled": 4,
                "updatedNumberScheduled": 2,
                "numberAvailable": 4,
                "currentNumberScheduled": 4,
                "numberMisscheduled": 0,
                "numberReady": 4,
            },
            False,
            id="rolling",
        ),
    ],
)
async def test_daemonset_available(
    api: FakeKubeAPI, kube: LightkubeClient, status: dict[str, Any], expected: bool
) -> None:
    api.add(
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": NS, "generation": 1},
            "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {}},
            "status": status,
        }
    )
    assert await kube.workload_available(ObjectRef("DaemonSet", NS, "agent")) is expected


async def test_workload_available_of_a_deployment_is_deployment_available(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    add_web(api, status=COMPLETE)
    assert await kube.workload_available(WEB) is True


# -- errors ------------------------------------------------------------------------------------

Call = Callable[[LightkubeClient], Awaitable[object]]
CALLS: list[tuple[str, Call]] = [
    ("restart", lambda k: k.rollout_restart(WEB, at=datetime.now(UTC))),
    ("get replicas", lambda k: k.get_replicas(WEB)),
    ("scale", lambda k: k.scale(WEB, 2)),
    ("undo", lambda k: k.rollout_undo(WEB)),
    ("patch", lambda k: k.patch(WEB, {"spec": {"paused": True}})),
    ("get", lambda k: k.deployment_available(NS, "web")),
]
CALL_IDS = [verb for verb, _ in CALLS]


@pytest.mark.parametrize(("verb", "call"), CALLS, ids=CALL_IDS)
async def test_a_missing_object_is_kube_not_found(
    kube: LightkubeClient, verb: str, call: Call
) -> None:
    with pytest.raises(KubeNotFound) as info:
        await call(kube)
    assert info.value.status == 404
    assert str(info.value) == f'{verb} {WEB}: deployments.apps "web" not found'


@pytest.mark.parametrize(("verb", "call"), CALLS, ids=CALL_IDS)
async def test_a_server_error_is_kube_error_with_its_status(
    api: FakeKubeAPI, kube: LightkubeClient, verb: str, call: Call
) -> None:
    seed_history(api)
    api.fail_next(500, "etcdserver: request timed out")

    with pytest.raises(KubeError) as info:
        await call(kube)

    assert not isinstance(info.value, KubeNotFound)
    assert info.value.status == 500
    assert str(info.value) == f"{verb} {WEB}: etcdserver: request timed out"


async def test_a_conflict_on_the_undo_patch_is_kube_error_409(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    seed_history(api)
    api.fail_next(409, "the object has been modified", method="PATCH")

    with pytest.raises(KubeError) as info:
        await kube.rollout_undo(WEB)

    assert info.value.status == 409
    assert "the object has been modified" in str(info.value)
    assert [r.method for r in api.requests] == ["GET", "GET", "PATCH"]
    assert template_of(api, "Deployment", "web")["spec"]["containers"][0]["image"] == (
        "registry/web:v3"
    )


async def test_a_rejected_patch_is_kube_error_422(api: FakeKubeAPI, kube: LightkubeClient) -> None:
    add_web(api)
    # The fake, like the API server, refuses a template whose labels miss the selector's.
    bad = {"spec": {"template": {"metadata": {"labels": {"app": None, "x": "y"}}}}}
    with pytest.raises(KubeError, match="does not match template") as info:
        await kube.patch(WEB, bad)
    assert info.value.status == 422


async def test_a_non_json_error_page_is_kube_error_with_its_status(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    add_web(api)
    api.fail_next(502, content_type="text/html", body=b"<html><h1>502 Bad Gateway</h1></html>")

    with pytest.raises(KubeError) as info:
        await kube.get_replicas(WEB)

    assert info.value.status == 502
    assert "502 Bad Gateway" in str(info.value)


async def test_a_json_error_that_is_not_json_keeps_its_status(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    # lightkube fails decoding this inside its own error handling (a ValueError).
    api.fail_next(503, content_type="application/json", body=b"upstream connect error")

    with pytest.raises(KubeError) as info:
        await kube.deployment_available(NS, "web")

    assert info.value.status == 503
    assert "upstream connect error" in str(info.value)


async def test_a_refused_connection_is_kube_error_without_status() -> None:
    with refusing_port() as port:
        kube = LightkubeClient.connect(server=f"http://127.0.0.1:{port}", timeout=5.0)
        try:
            with pytest.raises(KubeError, match="cannot reach the API server") as info:
                await kube.get_replicas(WEB)
        finally:
            await kube.aclose()
    assert info.value.status is None
    assert str(info.value).startswith(f"get replicas {WEB}: ")


async def test_a_hanging_server_times_out_as_kube_error(api: FakeKubeAPI) -> None:
    add_web(api)
    api.hang_next(30.0)
    kube = LightkubeClient.connect(server=api.url, timeout=0.3)
    started = time.monotonic()
    try:
        with pytest.raises(KubeError, match="did not answer in time") as info:
            await kube.get_replicas(WEB)
        elapsed = time.monotonic() - started
        # The next call (no fault left) goes through on a fresh connection.
        assert await kube.get_replicas(WEB) == 3
    finally:
        await kube.aclose()
    assert info.value.status is None
    assert elapsed < 5.0


async def test_a_closed_client_is_kube_error(api: FakeKubeAPI) -> None:
    add_web(api)
    kube = LightkubeClient.connect(server=api.url)
    await kube.aclose()
    with pytest.raises(KubeError):
        await kube.get_replicas(WEB)


# -- connect -----------------------------------------------------------------------------------


def write_kubeconfig(path: Path, good_url: str, bad_url: str) -> Path:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "broken",
                "clusters": [
                    {"name": "fake", "cluster": {"server": good_url}},
                    {"name": "gone", "cluster": {"server": bad_url}},
                ],
                "users": [{"name": "robot", "user": {"token": "s3cret"}}],
                "contexts": [
                    {
                        "name": "fake",
                        "context": {"cluster": "fake", "user": "robot", "namespace": NS},
                    },
                    {"name": "broken", "context": {"cluster": "gone", "user": "robot"}},
                ],
            }
        )
    )
    return path


async def test_connect_with_a_kubeconfig_context(api: FakeKubeAPI, tmp_path: Path) -> None:
    add_web(api)
    with refusing_port() as port:
        config = write_kubeconfig(tmp_path / "config", api.url, f"http://127.0.0.1:{port}")
        kube = LightkubeClient.connect(kubeconfig=str(config), context="fake")
        current = LightkubeClient.connect(kubeconfig=str(config))  # current-context: broken
        try:
            assert await kube.get_replicas(WEB) == 3
            with pytest.raises(KubeError, match="cannot reach"):
                await current.get_replicas(WEB)
        finally:
            await kube.aclose()
            await current.aclose()
    [request] = api.requests
    assert request.headers["authorization"] == "Bearer s3cret"


@pytest.mark.skipif(SERVICE_ACCOUNT_TOKEN.exists(), reason="runs inside a cluster")
async def test_connect_falls_back_to_kubeconfig_env(
    api: FakeKubeAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_web(api)
    config = write_kubeconfig(tmp_path / "config", api.url, api.url)
    monkeypatch.setenv("KUBECONFIG", str(config))
    for kube in (LightkubeClient.connect(), LightkubeClient.connect(context="fake")):
        try:
            assert await kube.get_replicas(WEB) == 3
        finally:
            await kube.aclose()


async def test_connect_server_wins_over_everything(api: FakeKubeAPI, tmp_path: Path) -> None:
    add_web(api)
    kube = LightkubeClient.connect(
        server=api.url, kubeconfig=str(tmp_path / "missing"), context="nope", in_cluster=True
    )
    try:
        assert await kube.get_replicas(WEB) == 3
    finally:
        await kube.aclose()
    assert "authorization" not in api.requests[-1].headers


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"kubeconfig": "/nonexistent/kubeconfig"}, id="missing-file"),
        pytest.param({"context": "nope"}, id="unknown-context"),
        pytest.param({"in_cluster": True}, id="not-in-a-cluster"),
    ],
)
def test_connect_with_bad_configuration_is_kube_error(
    api: FakeKubeAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any]
) -> None:
    if kwargs.get("in_cluster") and SERVICE_ACCOUNT_TOKEN.exists():
        pytest.skip("runs inside a cluster")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(tmp_path / "config", api.url, api.url)))
    with pytest.raises(KubeError, match="kubernetes configuration"):
        LightkubeClient.connect(**kwargs)


# -- the fake API server itself ----------------------------------------------------------------


@pytest.fixture
async def http(api: FakeKubeAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api.url) as client:
        yield client


async def test_fake_apply_patch_records_the_field_manager(
    api: FakeKubeAPI, http: httpx.AsyncClient
) -> None:
    body = make_deployment("web", NS, replicas=2)
    missing = await http.patch(
        DEPLOYMENT_PATH, content=json.dumps(body), headers={"Content-Type": APPLY}
    )
    created = await http.patch(
        DEPLOYMENT_PATH,
        params={"fieldManager": "awoooi"},
        content=json.dumps(body),
        headers={"Content-Type": APPLY},
    )
    body["spec"]["replicas"] = 4
    updated = await http.patch(
        DEPLOYMENT_PATH,
        params={"fieldManager": "awoooi"},
        content=json.dumps(body),
        headers={"Content-Type": APPLY},
    )

    assert missing.status_code == 400
    assert (created.status_code, updated.status_code) == (201, 200)
    assert updated.json()["spec"]["replicas"] == 4
    assert updated.json()["metadata"]["generation"] == 2
    assert api.field_managers[("apps/v1", NS, "deployments", "web")] == ["awoooi", "awoooi"]
    assert api.requests[-1].query == {"fieldManager": "awoooi"}


async def test_fake_json_patch_and_merge_patch(api: FakeKubeAPI, http: httpx.AsyncClient) -> None:
    add_web(api, annotations={"a": "1", "b": "2"})
    ops = [
        {"op": "remove", "path": "/metadata/annotations/a"},
        {
            "op": "add",
            "path": "/spec/template/spec/containers/-",
            "value": {"name": "log", "image": "busybox"},
        },
        {"op": "replace", "path": "/spec/replicas", "value": 7},
    ]
    response = await http.patch(DEPLOYMENT_PATH, json=ops, headers={"Content-Type": JSON_PATCH})
    assert response.status_code == 200, response.text
    merged = await http.patch(
        DEPLOYMENT_PATH,
        json={"metadata": {"annotations": {"b": None}}},
        headers={"Content-Type": MERGE},
    )
    bad = await http.patch(
        DEPLOYMENT_PATH,
        json=[{"op": "replace", "path": "/nope/x", "value": 1}],
        headers={"Content-Type": JSON_PATCH},
    )
    unknown = await http.patch(DEPLOYMENT_PATH, json={}, headers={"Content-Type": "text/plain"})

    stored = merged.json()
    assert stored["metadata"].get("annotations") == {}
    assert [c["name"] for c in stored["spec"]["template"]["spec"]["containers"]] == ["web", "log"]
    assert stored["spec"]["replicas"] == 7
    assert (bad.status_code, bad.json()["kind"], bad.json()["reason"]) == (422, "Status", "Invalid")
    assert unknown.status_code == 415


async def test_fake_lists_by_label_selector_and_answers_status_on_404(
    api: FakeKubeAPI, http: httpx.AsyncClient
) -> None:
    api.add(make_pod("a", NS, labels={"app": "web", "tier": "api"}))
    api.add(make_pod("b", NS, labels={"app": "web", "tier": "db"}))
    api.add(make_pod("c", NS, labels={"app": "other"}))
    api.add(make_pod("d", "elsewhere", labels={"app": "web"}))

    async def names(selector: str, path: str = f"/api/v1/namespaces/{NS}/pods") -> list[str]:
        response = await http.get(path, params={"labelSelector": selector})
        assert response.status_code == 200, response.text
        assert response.json()["kind"] == "PodList"
        return [item["metadata"]["name"] for item in response.json()["items"]]

    assert await names("app=web") == ["a", "b"]
    assert await names("app=web,tier=db") == ["b"]
    assert await names("app==web,tier!=db") == ["a"]
    assert await names("tier in (api,db)") == ["a", "b"]
    assert await names("!tier") == ["c"]
    # All namespaces, ordered by namespace then name like the real server.
    assert await names("app=web", "/api/v1/pods") == ["d", "a", "b"]
    missing = await http.get(DEPLOYMENT_PATH)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/json"
    assert missing.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'deployments.apps "web" not found',
        "reason": "NotFound",
        "code": 404,
        "details": {"name": "web", "group": "apps", "kind": "deployments"},
    }


async def test_fake_scale_put_checks_the_resource_version(
    api: FakeKubeAPI, http: httpx.AsyncClient
) -> None:
    add_web(api)
    scale = (await http.get(DEPLOYMENT_PATH + "/scale")).json()
    assert scale["kind"] == "Scale"
    assert scale["apiVersion"] == "autoscaling/v1"
    assert scale["status"]["selector"] == "app=web"
    scale["spec"]["replicas"] = 6
    ok = await http.put(DEPLOYMENT_PATH + "/scale", json=scale)
    stale = await http.put(DEPLOYMENT_PATH + "/scale", json=scale)

    assert ok.status_code == 200
    assert ok.json()["spec"]["replicas"] == 6
    assert (stale.status_code, stale.json()["reason"]) == (409, "Conflict")
    stored = api.get("Deployment", NS, "web")
    assert stored is not None
    assert stored["spec"]["replicas"] == 6

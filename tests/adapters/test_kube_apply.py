"""ClusterWriter: server-side apply and delete of any kind (drift rollback), against the stand-in
API server."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from awoooi.adapters.kube import ClusterWriter, KubeConflict, KubeError, KubeNotFound
from awoooi.adapters.lightkube_client import LightkubeClient
from tests.helpers.fake_kube import InMemoryKube
from tests.helpers.kube_api import APPLY, STRATEGIC, FakeKubeAPI, make_deployment

NS = "prod"
RBAC = "rbac.authorization.k8s.io/v1"
CRONTAB = "stable.example.com/v1"
WEB_PATH = f"/apis/apps/v1/namespaces/{NS}/deployments/web"
WEB_KEY = ("apps/v1", NS, "deployments", "web")


@pytest.fixture
async def http(api: FakeKubeAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api.url) as client:
        yield client


def desired_web(replicas: int = 3, image: str = "nginx:1.25") -> dict[str, Any]:
    """What Git says the web Deployment is (no status, no server metadata)."""
    return make_deployment("web", NS, replicas=replicas, image=image)


def cluster_role(name: str) -> dict[str, Any]:
    return {
        "apiVersion": RBAC,
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": {"managed": "awoooi"}},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
    }


def crontab(name: str, namespace: str | None = NS) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    return {
        "apiVersion": CRONTAB,
        "kind": "CronTab",
        "metadata": meta,
        "spec": {"cronSpec": "*/5 * * * *", "image": "my-cron-image"},
    }


def owners(obj: dict[str, Any] | None) -> dict[tuple[str, str], dict[str, Any]]:
    """The object's managedFields as (manager, operation) -> fieldsV1."""
    assert obj is not None
    return {
        (entry["manager"], entry["operation"]): entry["fieldsV1"]
        for entry in obj["metadata"].get("managedFields") or []
    }


async def hand_edit(http: httpx.AsyncClient, path: str, patch: dict[str, Any]) -> None:
    """What `kubectl edit` does to the object: a plain (non-apply) PATCH."""
    response = await http.patch(path, json=patch, headers={"Content-Type": STRATEGIC})
    assert response.status_code == 200, response.text


def test_lightkube_client_is_a_cluster_writer(kube: LightkubeClient) -> None:
    assert isinstance(kube, ClusterWriter)


# -- apply -------------------------------------------------------------------------------------


async def test_apply_is_a_server_side_apply_patch_merged_into_the_live_object(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    live = make_deployment("web", NS, replicas=1, annotations={"team": "payments"})
    live["spec"]["revisionHistoryLimit"] = 5  # a field Git does not mention
    api.add(live)
    api.requests.clear()

    result = await kube.apply_object(desired_web(replicas=3), field_manager="awoooi")

    [discovery, patch] = api.requests
    assert (discovery.method, discovery.path) == ("GET", "/apis/apps/v1")
    assert (patch.method, patch.path) == ("PATCH", WEB_PATH)
    assert patch.content_type == APPLY
    assert patch.query == {"fieldManager": "awoooi"}  # no force, no dryRun
    assert patch.body == desired_web(replicas=3)
    stored = api.get("Deployment", NS, "web")
    assert result == stored
    assert type(result) is dict
    assert result["spec"]["replicas"] == 3
    assert result["spec"]["revisionHistoryLimit"] == 5  # the apply merges, it does not replace
    assert result["metadata"]["annotations"] == {"team": "payments"}
    assert result["metadata"]["generation"] == 2
    assert owners(result)[("awoooi", "Apply")]["f:spec"]["f:replicas"] == {}


async def test_apply_of_a_missing_object_creates_it(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    result = await kube.apply_object(desired_web(), field_manager="awoooi")

    stored = api.get("Deployment", NS, "web")
    assert stored is not None
    assert result == stored
    assert result["metadata"]["uid"]
    assert result["metadata"]["generation"] == 1
    fields = owners(result)[("awoooi", "Apply")]
    # A list of named items is owned item by item, keyed by name, as on a real server.
    container = fields["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}']
    assert container["."] == {}
    assert container["f:image"] == {}
    assert api.field_managers[WEB_KEY] == ["awoooi"]


async def test_a_reapply_of_the_same_object_changes_nothing(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    first = await kube.apply_object(desired_web(), field_manager="awoooi")
    second = await kube.apply_object(desired_web(), field_manager="awoooi")

    assert second == first
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]


async def test_dry_run_apply_answers_the_would_be_object_and_stores_nothing(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    before = api.add(make_deployment("web", NS, replicas=1))

    result = await kube.apply_object(desired_web(replicas=4), field_manager="awoooi", dry_run=True)

    patch = api.requests[-1]
    assert patch.query == {"fieldManager": "awoooi", "dryRun": "All"}
    assert result["spec"]["replicas"] == 4
    assert result["metadata"]["generation"] == 2
    assert ("awoooi", "Apply") in owners(result)
    assert result["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert api.get("Deployment", NS, "web") == before
    assert WEB_KEY not in api.field_managers


async def test_dry_run_apply_of_a_missing_object_creates_nothing(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    result = await kube.apply_object(desired_web(), field_manager="awoooi", dry_run=True)

    assert result["metadata"]["name"] == "web"
    assert result["spec"]["replicas"] == 3
    assert "resourceVersion" not in result["metadata"]  # never written
    assert api.get("Deployment", NS, "web") is None
    # The real call afterwards takes the next resourceVersion, as if the dry run never was.
    created = await kube.apply_object(desired_web(), field_manager="awoooi")
    assert created["metadata"]["resourceVersion"] == "1001"


async def test_apply_a_cluster_scoped_cluster_role(api: FakeKubeAPI, kube: LightkubeClient) -> None:
    role = cluster_role("reader")
    role["metadata"]["namespace"] = NS  # a manifest may carry one; it means nothing here

    result = await kube.apply_object(role, field_manager="awoooi")

    patch = api.requests[-1]
    assert patch.path == f"/apis/{RBAC}/clusterroles/reader"
    assert "namespace" not in patch.body["metadata"]
    assert "namespace" not in result["metadata"]
    assert result["rules"] == role["rules"]
    assert api.get("ClusterRole", "", "reader") == result
    assert "namespace" in role["metadata"]  # the caller's object is left alone


async def test_apply_a_custom_resource(api: FakeKubeAPI, kube: LightkubeClient) -> None:
    api.register_kind(CRONTAB, "CronTab", "crontabs")
    api.add(crontab("nightly"))

    changed = crontab("nightly")
    changed["spec"]["image"] = "my-cron-image:v2"
    result = await kube.apply_object(changed, field_manager="awoooi")

    assert api.requests[-1].path == f"/apis/{CRONTAB}/namespaces/{NS}/crontabs/nightly"
    assert (result["apiVersion"], result["kind"]) == (CRONTAB, "CronTab")
    assert result["spec"] == {"cronSpec": "*/5 * * * *", "image": "my-cron-image:v2"}


async def test_a_namespaced_object_without_a_namespace_goes_to_default(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    api.register_kind(CRONTAB, "CronTab", "crontabs")

    result = await kube.apply_object(crontab("nightly", namespace=None), field_manager="awoooi")

    patch = api.requests[-1]
    assert patch.path == f"/apis/{CRONTAB}/namespaces/default/crontabs/nightly"
    assert patch.body["metadata"]["namespace"] == "default"
    assert result["metadata"]["namespace"] == "default"


async def test_server_metadata_and_status_are_stripped_from_the_body(
    api: FakeKubeAPI, kube: LightkubeClient, http: httpx.AsyncClient
) -> None:
    api.add(make_deployment("web", NS, replicas=1, status={"replicas": 1}))
    await hand_edit(http, WEB_PATH, {"metadata": {"labels": {"edited": "yes"}}})
    live = await kube.get_object("apps/v1", "Deployment", NS, "web")
    assert live is not None
    assert live["metadata"]["managedFields"]
    stale = copy.deepcopy(live)
    stale["metadata"]["resourceVersion"] = "1"  # would be a precondition the server fails
    stale["spec"]["replicas"] = 2
    sent = copy.deepcopy(stale)

    result = await kube.apply_object(stale, field_manager="awoooi")

    body = api.requests[-1].body
    assert "status" not in body
    for server_field in (
        "managedFields",
        "resourceVersion",
        "uid",
        "creationTimestamp",
        "generation",
    ):
        assert server_field not in body["metadata"], server_field
    assert body["metadata"]["labels"] == {"app": "web", "edited": "yes"}
    assert result["spec"]["replicas"] == 2
    assert result["status"] == {"replicas": 1}  # the server's own, untouched
    assert stale == sent  # the caller's object is not modified


async def test_the_stand_in_refuses_what_the_adapter_strips(
    api: FakeKubeAPI, http: httpx.AsyncClient
) -> None:
    api.add(make_deployment("web", NS))
    with_managed = desired_web()
    with_managed["metadata"]["managedFields"] = []
    stale = desired_web()
    stale["metadata"]["resourceVersion"] = "1"

    refused = await http.patch(
        WEB_PATH,
        params={"fieldManager": "x"},
        content=json.dumps(with_managed),
        headers={"Content-Type": APPLY},
    )
    outdated = await http.patch(
        WEB_PATH,
        params={"fieldManager": "x"},
        content=json.dumps(stale),
        headers={"Content-Type": APPLY},
    )

    assert (refused.status_code, refused.json()["message"]) == (
        400,
        "metadata.managedFields must be nil",
    )
    assert outdated.status_code == 409
    assert "the object has been modified" in outdated.json()["message"]


# -- conflicts ---------------------------------------------------------------------------------


async def test_a_field_changed_by_hand_is_a_conflict_with_the_server_message(
    api: FakeKubeAPI, kube: LightkubeClient, http: httpx.AsyncClient
) -> None:
    await kube.apply_object(desired_web(replicas=3), field_manager="awoooi")
    api.default_field_manager = "kubectl-edit"
    await hand_edit(http, WEB_PATH, {"spec": {"replicas": 7}})
    edited = api.get("Deployment", NS, "web")

    with pytest.raises(KubeConflict) as caught:
        await kube.apply_object(desired_web(replicas=3), field_manager="awoooi")

    error = caught.value
    assert error.status == 409
    assert (error.status_code, error.code) == (409, "kube_conflict")
    assert isinstance(error, KubeError)
    assert error.detail == (
        f"apply apps/v1 Deployment {NS}/web: Apply failed with 1 conflict: "
        'conflict with "kubectl-edit" using apps/v1: .spec.replicas'
    )
    assert api.get("Deployment", NS, "web") == edited  # nothing changed
    assert api.requests[-1].query == {"fieldManager": "awoooi"}


async def test_force_takes_the_conflicting_field(
    api: FakeKubeAPI, kube: LightkubeClient, http: httpx.AsyncClient
) -> None:
    await kube.apply_object(desired_web(replicas=3), field_manager="awoooi")
    api.default_field_manager = "kubectl-edit"
    await hand_edit(http, WEB_PATH, {"spec": {"replicas": 7}})
    assert owners(api.get("Deployment", NS, "web"))[("kubectl-edit", "Update")] == {
        "f:spec": {"f:replicas": {}}
    }

    result = await kube.apply_object(desired_web(replicas=3), field_manager="awoooi", force=True)

    assert api.requests[-1].query == {"fieldManager": "awoooi", "force": "true"}
    assert result["spec"]["replicas"] == 3
    managed = owners(api.get("Deployment", NS, "web"))
    assert ("kubectl-edit", "Update") not in managed  # it owned nothing else
    assert managed[("awoooi", "Apply")]["f:spec"]["f:replicas"] == {}
    # The field is ours now: the next plain apply goes through.
    again = await kube.apply_object(desired_web(replicas=3), field_manager="awoooi")
    assert again["spec"]["replicas"] == 3


async def test_an_apply_keeping_the_edited_value_is_no_conflict(
    api: FakeKubeAPI, kube: LightkubeClient, http: httpx.AsyncClient
) -> None:
    await kube.apply_object(desired_web(replicas=3), field_manager="awoooi")
    api.default_field_manager = "kubectl-edit"
    await hand_edit(http, WEB_PATH, {"spec": {"replicas": 7}})

    result = await kube.apply_object(desired_web(replicas=7), field_manager="awoooi")

    assert result["spec"]["replicas"] == 7  # shared ownership, as on the real server
    managed = owners(result)
    assert managed[("kubectl-edit", "Update")] == {"f:spec": {"f:replicas": {}}}
    assert managed[("awoooi", "Apply")]["f:spec"]["f:replicas"] == {}


async def test_a_conflict_inside_a_list_names_the_item_and_every_field(
    api: FakeKubeAPI, kube: LightkubeClient, http: httpx.AsyncClient
) -> None:
    api.add(make_deployment("web", NS, replicas=3, image="nginx:1.25"))
    await http.patch(
        WEB_PATH,
        params={"fieldManager": "hotfix"},
        headers={"Content-Type": STRATEGIC},
        json={
            "spec": {
                "replicas": 5,
                "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}},
            }
        },
    )

    with pytest.raises(KubeConflict) as caught:
        await kube.apply_object(desired_web(replicas=3, image="nginx:1.25"), field_manager="awoooi")

    assert caught.value.detail.endswith(
        'Apply failed with 2 conflicts: conflicts with "hotfix" using apps/v1:\n'
        "- .spec.replicas\n"
        '- .spec.template.spec.containers[name="web"].image'
    )


async def test_a_field_owned_in_seeded_managed_fields_conflicts(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    live = make_deployment("web", NS, replicas=5)
    live["metadata"]["managedFields"] = [
        {
            "manager": "helm",
            "operation": "Apply",
            "apiVersion": "apps/v1",
            "time": "2024-05-01T12:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:replicas": {}}},
        }
    ]
    api.add(live)

    with pytest.raises(KubeConflict, match=r'conflict with "helm": \.spec\.replicas$'):
        await kube.apply_object(desired_web(replicas=3), field_manager="awoooi")


async def test_other_server_errors_on_apply_are_plain_kube_errors(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    await kube.apply_object(desired_web(), field_manager="awoooi")  # discovery cached
    api.fail_next(
        403, 'deployments.apps "web" is forbidden: User "drift" cannot patch', method="PATCH"
    )

    with pytest.raises(KubeError, match=r"apply apps/v1 Deployment prod/web: .*forbidden") as info:
        await kube.apply_object(desired_web(), field_manager="awoooi")

    assert not isinstance(info.value, KubeConflict)
    assert info.value.status == 403
    with pytest.raises(KubeError, match="unknown kind Widget"):
        await kube.apply_object(
            {"apiVersion": "apps/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": NS}},
            field_manager="awoooi",
        )


# -- delete ------------------------------------------------------------------------------------


async def test_delete_an_object(api: FakeKubeAPI, kube: LightkubeClient) -> None:
    api.add(make_deployment("web", NS))

    assert await kube.delete_object("apps/v1", "Deployment", NS, "web") is True

    request = api.requests[-1]
    assert (request.method, request.path) == ("DELETE", WEB_PATH)
    assert request.query == {"propagationPolicy": "Background"}  # kubectl's default
    assert api.get("Deployment", NS, "web") is None


async def test_dry_run_delete_keeps_the_object(api: FakeKubeAPI, kube: LightkubeClient) -> None:
    before = api.add(make_deployment("web", NS))

    assert await kube.delete_object("apps/v1", "Deployment", NS, "web", dry_run=True) is True

    assert api.requests[-1].query["dryRun"] == "All"
    assert api.get("Deployment", NS, "web") == before


async def test_delete_of_a_missing_object_is_false(api: FakeKubeAPI, kube: LightkubeClient) -> None:
    assert await kube.delete_object("apps/v1", "Deployment", NS, "ghost") is False
    assert await kube.delete_object(RBAC, "ClusterRole", None, "ghost", dry_run=True) is False


async def test_delete_cluster_scoped_and_custom_kinds(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    api.add(cluster_role("reader"))
    api.register_kind(CRONTAB, "CronTab", "crontabs")
    api.add(crontab("nightly"))

    assert await kube.delete_object(RBAC, "ClusterRole", NS, "reader") is True  # ns ignored
    assert api.requests[-1].path == f"/apis/{RBAC}/clusterroles/reader"
    assert await kube.delete_object(CRONTAB, "CronTab", NS, "nightly") is True
    assert api.requests[-1].path == f"/apis/{CRONTAB}/namespaces/{NS}/crontabs/nightly"
    assert api.get("ClusterRole", "", "reader") is None
    assert api.get("CronTab", NS, "nightly") is None


async def test_delete_never_guesses_a_namespace(api: FakeKubeAPI, kube: LightkubeClient) -> None:
    with pytest.raises(KubeError, match="namespaced, a namespace is required"):
        await kube.delete_object("apps/v1", "Deployment", None, "web")
    assert [r.method for r in api.requests] == ["GET"]  # discovery only


async def test_server_errors_on_delete_are_kube_errors(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    api.add(make_deployment("web", NS))
    api.fail_next(500, "etcdserver: request timed out", method="DELETE")

    with pytest.raises(KubeError, match="delete apps/v1 Deployment prod/web: etcdserver") as info:
        await kube.delete_object("apps/v1", "Deployment", NS, "web")

    assert not isinstance(info.value, KubeNotFound)
    assert info.value.status == 500
    assert api.get("Deployment", NS, "web") is not None


# -- refused before any request ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("namespace", "name"),
    [(NS, "../../api/v1/secrets"), (NS, ""), ("a/b", "web"), (NS, ".."), (NS, "web\n")],
)
async def test_bad_names_are_refused_before_any_request(
    api: FakeKubeAPI, kube: LightkubeClient, namespace: str, name: str
) -> None:
    obj = desired_web()
    obj["metadata"].update(name=name, namespace=namespace)
    with pytest.raises(KubeError, match="is not a valid"):
        await kube.apply_object(obj, field_manager="awoooi")
    with pytest.raises(KubeError, match="is not a valid"):
        await kube.delete_object("apps/v1", "Deployment", namespace, name)
    assert api.requests == []


@pytest.mark.parametrize(
    "obj",
    [
        {"kind": "Deployment", "metadata": {"name": "web"}},
        {"apiVersion": "apps/v1", "metadata": {"name": "web"}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {}},
        {"apiVersion": "apps/v1", "kind": "Deployment"},
        {"apiVersion": "apps", "kind": "Deployment", "metadata": {"name": "web"}},
    ],
)
async def test_malformed_objects_are_refused_before_any_request(
    api: FakeKubeAPI, kube: LightkubeClient, obj: dict[str, Any]
) -> None:
    with pytest.raises(KubeError):
        await kube.apply_object(obj, field_manager="awoooi")
    with pytest.raises(KubeError, match="field manager is required"):
        await kube.apply_object(desired_web(), field_manager="")
    assert api.requests == []


# -- the stand-in's dry runs and ownership, at the HTTP level ----------------------------------


async def test_stand_in_dry_run_post_and_delete_store_nothing(
    api: FakeKubeAPI, http: httpx.AsyncClient
) -> None:
    created = await http.post(
        f"/api/v1/namespaces/{NS}/configmaps",
        params={"dryRun": "All"},
        json={
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings"},
            "data": {"a": "1"},
        },
    )
    role = await http.post(
        f"/apis/{RBAC}/clusterroles", params={"dryRun": "All"}, json=cluster_role("reader")
    )
    web = api.add(make_deployment("web", NS))
    deleted = await http.delete(WEB_PATH, params={"dryRun": "All"})
    bad = await http.delete(WEB_PATH, params={"dryRun": "Some"})

    assert created.status_code == 201
    assert created.json()["metadata"]["namespace"] == NS
    assert "resourceVersion" not in created.json()["metadata"]
    assert role.status_code == 201
    assert "namespace" not in role.json()["metadata"]
    assert deleted.status_code == 200
    assert bad.status_code == 400
    assert api.get("ConfigMap", NS, "settings") is None
    assert api.get("ClusterRole", "", "reader") is None
    assert api.get("Deployment", NS, "web") is not None
    # No resourceVersion was used up: the next write takes the one after web's.
    probe = api.add(cluster_role("probe"))
    assert int(probe["metadata"]["resourceVersion"]) == int(web["metadata"]["resourceVersion"]) + 1
    assert [r.method for r in api.writes()] == ["POST", "POST", "DELETE", "DELETE"]  # recorded


async def test_stand_in_updates_own_what_they_change(
    api: FakeKubeAPI, http: httpx.AsyncClient
) -> None:
    api.add(make_deployment("web", NS))
    await http.patch(
        WEB_PATH,
        params={"fieldManager": "kubectl-scale"},
        json={"spec": {"replicas": 4}},
        headers={"Content-Type": STRATEGIC},
    )
    await http.patch(
        WEB_PATH + "/scale",
        json={"spec": {"replicas": 6}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    forced = await http.patch(
        WEB_PATH, params={"force": "true"}, json={}, headers={"Content-Type": STRATEGIC}
    )

    entries = api.get("Deployment", NS, "web")["metadata"]["managedFields"]  # type: ignore[index]
    # The scale write took replicas from kubectl-scale, whose entry owned nothing else.
    assert [(e["manager"], e["operation"], e.get("subresource")) for e in entries] == [
        ("python-httpx", "Update", "scale")
    ]
    assert entries[0]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert forced.status_code == 400  # force is for apply only


# -- the in-memory fake ------------------------------------------------------------------------


@pytest.fixture
def memory() -> InMemoryKube:
    kube = InMemoryKube()
    live = make_deployment("web", NS, replicas=7, status={"replicas": 7})
    live["spec"]["revisionHistoryLimit"] = 5
    kube.add_object(live)
    kube.add_object(cluster_role("reader"))
    kube.add_kind(CRONTAB, "CronTab")
    return kube


def test_in_memory_fake_is_a_cluster_writer(memory: InMemoryKube) -> None:
    assert isinstance(memory, ClusterWriter)


async def test_in_memory_apply_merges_and_records(memory: InMemoryKube) -> None:
    key = ("apps/v1", "Deployment", NS, "web")
    would_be = await memory.apply_object(
        desired_web(replicas=3), field_manager="awoooi", dry_run=True
    )
    assert would_be["spec"]["replicas"] == 3
    assert memory.objects[key]["spec"]["replicas"] == 7

    applied = await memory.apply_object(desired_web(replicas=3), field_manager="awoooi")

    assert applied == memory.objects[key]
    assert applied["spec"]["replicas"] == 3
    assert applied["spec"]["revisionHistoryLimit"] == 5
    assert applied["status"] == {"replicas": 7}
    created = await memory.apply_object(crontab("nightly", namespace=None), field_manager="awoooi")
    assert created["metadata"]["namespace"] == "default"
    assert (CRONTAB, "CronTab", "default", "nightly") in memory.objects
    assert [(m, d, f) for _, m, d, f in memory.applied] == [
        ("awoooi", True, False),
        ("awoooi", False, False),
        ("awoooi", False, False),
    ]
    with pytest.raises(KubeError, match="unknown kind"):
        await memory.apply_object(
            {"apiVersion": "x/v1", "kind": "Widget", "metadata": {"name": "w"}},
            field_manager="awoooi",
        )


async def test_in_memory_conflicts_until_forced(memory: InMemoryKube) -> None:
    key = ("apps/v1", "Deployment", NS, "web")
    memory.conflicts[key] = (
        'Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1: .spec.replicas'
    )

    with pytest.raises(KubeConflict, match=r"\.spec\.replicas"):
        await memory.apply_object(desired_web(), field_manager="awoooi")
    assert memory.objects[key]["spec"]["replicas"] == 7

    await memory.apply_object(desired_web(), field_manager="awoooi", force=True)
    assert memory.objects[key]["spec"]["replicas"] == 3
    assert key not in memory.conflicts


async def test_in_memory_delete(memory: InMemoryKube) -> None:
    assert await memory.delete_object("apps/v1", "Deployment", NS, "web", dry_run=True) is True
    assert ("apps/v1", "Deployment", NS, "web") in memory.objects
    assert await memory.delete_object("apps/v1", "Deployment", NS, "web") is True
    assert await memory.delete_object("apps/v1", "Deployment", NS, "web") is False
    assert await memory.delete_object(RBAC, "ClusterRole", NS, "reader") is True
    with pytest.raises(KubeError, match="namespace is required"):
        await memory.delete_object("apps/v1", "Deployment", None, "web")
    assert memory.deleted[:2] == [
        ("apps/v1", "Deployment", NS, "web", True),
        ("apps/v1", "Deployment", NS, "web", False),
    ]

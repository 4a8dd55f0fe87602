"""ClusterReader: objects of any kind as plain dicts, through API discovery (drift's view)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from awoooi.adapters.kube import ClusterReader, KubeError, KubeNotFound
from awoooi.adapters.lightkube_client import LightkubeClient
from tests.helpers.fake_kube import InMemoryKube
from tests.helpers.kube_api import FakeKubeAPI, make_deployment, refusing_port

NS = "prod"
RBAC = "rbac.authorization.k8s.io/v1"
CRONTAB = "stable.example.com/v1"
MANAGED_FIELDS = [
    {
        "manager": "kubectl-client-side-apply",
        "operation": "Update",
        "apiVersion": "apps/v1",
        "time": "2024-05-01T12:00:00Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:spec": {"f:replicas": {}}},
    }
]


def configmap(name: str, namespace: str = NS, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": {"LOG_LEVEL": "info"},
    }


def cluster_role(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": RBAC,
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": labels},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
    }


def crontab(name: str, namespace: str = NS, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": CRONTAB,
        "kind": "CronTab",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"cronSpec": "* * * * */5", "image": "my-cron-image"},
    }


def paths(api: FakeKubeAPI) -> list[str]:
    return [r.path for r in api.requests]


def test_lightkube_client_is_a_cluster_reader(kube: LightkubeClient) -> None:
    assert isinstance(kube, ClusterReader)


# -- get_object --------------------------------------------------------------------------------


async def test_get_a_deployment_as_the_server_sends_it(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    deployment = make_deployment("web", NS, replicas=3)
    deployment["metadata"]["managedFields"] = MANAGED_FIELDS
    deployment["spec"]["someFieldLightkubeDoesNotKnow"] = {"x": 1}
    stored = api.add(deployment)

    obj = await kube.get_object("apps/v1", "Deployment", NS, "web")

    assert obj == stored
    assert type(obj) is dict
    assert obj["metadata"]["managedFields"] == MANAGED_FIELDS
    assert type(obj["metadata"]) is dict
    assert paths(api) == ["/apis/apps/v1", f"/apis/apps/v1/namespaces/{NS}/deployments/web"]


async def test_get_a_configmap_from_the_core_group(api: FakeKubeAPI, kube: LightkubeClient) -> None:
    stored = api.add(configmap("settings"))

    obj = await kube.get_object("v1", "ConfigMap", NS, "settings")

    assert obj == stored
    assert paths(api) == ["/api/v1", f"/api/v1/namespaces/{NS}/configmaps/settings"]


async def test_get_a_cluster_scoped_cluster_role(api: FakeKubeAPI, kube: LightkubeClient) -> None:
    stored = api.add(cluster_role("reader"))

    obj = await kube.get_object(RBAC, "ClusterRole", None, "reader")
    # A namespace on a cluster-scoped kind (a manifest may carry one) is ignored, as by kubectl.
    again = await kube.get_object(RBAC, "ClusterRole", NS, "reader")

    assert obj == again == stored
    assert "namespace" not in obj["metadata"]
    assert paths(api)[1:] == [f"/apis/{RBAC}/clusterroles/reader"] * 2


async def test_get_an_object_of_a_custom_resource_kind(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    api.register_kind(CRONTAB, "CronTab", "crontabs")
    stored = api.add(crontab("nightly"))

    obj = await kube.get_object(CRONTAB, "CronTab", NS, "nightly")

    assert obj == stored
    assert paths(api)[-1] == f"/apis/stable.example.com/v1/namespaces/{NS}/crontabs/nightly"


async def test_get_a_cluster_scoped_custom_resource(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    api.register_kind("example.com/v1alpha1", "Tenant", "tenants", namespaced=False)
    stored = api.add(
        {
            "apiVersion": "example.com/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": "acme"},
            "spec": {"tier": "gold"},
        }
    )

    assert await kube.get_object("example.com/v1alpha1", "Tenant", None, "acme") == stored
    assert paths(api)[-1] == "/apis/example.com/v1alpha1/tenants/acme"


async def test_a_missing_object_is_none(api: FakeKubeAPI, kube: LightkubeClient) -> None:
    assert await kube.get_object("apps/v1", "Deployment", NS, "ghost") is None
    assert await kube.get_object(RBAC, "ClusterRole", None, "ghost") is None


async def test_a_namespaced_kind_needs_a_namespace(api: FakeKubeAPI, kube: LightkubeClient) -> None:
    with pytest.raises(KubeError, match="namespaced, a namespace is required"):
        await kube.get_object("apps/v1", "Deployment", None, "web")
    assert paths(api) == ["/apis/apps/v1"]  # discovery only, no guess at a namespace


@pytest.mark.parametrize(
    ("api_version", "namespace", "name"),
    [
        ("apps/v1", NS, "../../api/v1/secrets"),
        ("apps/v1", NS, ""),
        ("apps/v1", "a/b", "web"),
        ("apps/v1", NS, ".."),
        ("apps", NS, "web"),
        ("Apps/V1", NS, "web"),
    ],
)
async def test_names_that_would_change_the_path_are_refused_before_any_request(
    api: FakeKubeAPI, kube: LightkubeClient, api_version: str, namespace: str, name: str
) -> None:
    with pytest.raises(KubeError):
        await kube.get_object(api_version, "Deployment", namespace, name)
    assert api.requests == []


# -- list_objects ------------------------------------------------------------------------------


async def test_list_across_namespaces_by_label_selector(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    api.add(make_deployment("web", NS, labels={"app": "web", "team": "payments"}))
    api.add(make_deployment("web", "staging", labels={"app": "web", "team": "payments"}))
    api.add(make_deployment("api", NS, labels={"app": "api", "team": "search"}))
    api.add(make_deployment("db", "data", labels={"app": "db", "team": "payments", "tier": "db"}))

    objects = await kube.list_objects("apps/v1", "Deployment", label_selector="team=payments")

    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects] == [
        ("data", "db"),
        (NS, "web"),
        ("staging", "web"),
    ]
    for obj in objects:
        assert (obj["apiVersion"], obj["kind"]) == ("apps/v1", "Deployment")
        assert type(obj) is dict
        assert obj == api.get("Deployment", obj["metadata"]["namespace"], obj["metadata"]["name"])
    request = api.requests[-1]
    assert request.path == "/apis/apps/v1/deployments"
    assert request.query == {"labelSelector": "team=payments", "limit": "500"}


async def test_a_set_based_selector_goes_to_the_server_verbatim(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    api.add(make_deployment("web", NS, labels={"app": "web", "team": "payments"}))
    api.add(make_deployment("db", NS, labels={"app": "db", "team": "payments", "tier": "db"}))
    api.add(make_deployment("api", NS, labels={"app": "api", "team": "search"}))
    selector = "team in (payments,search),tier!=db,app"

    objects = await kube.list_objects("apps/v1", "Deployment", label_selector=selector)

    assert sorted(o["metadata"]["name"] for o in objects) == ["api", "web"]
    assert api.requests[-1].query["labelSelector"] == selector


async def test_list_in_one_namespace_and_without_a_selector(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    api.add(configmap("a", NS, app="web"))
    api.add(configmap("b", "other", app="web"))

    objects = await kube.list_objects("v1", "ConfigMap", namespace=NS)

    assert [o["metadata"]["name"] for o in objects] == ["a"]
    assert objects[0]["kind"] == "ConfigMap"
    assert api.requests[-1].path == f"/api/v1/namespaces/{NS}/configmaps"
    assert "labelSelector" not in api.requests[-1].query


async def test_list_cluster_scoped_and_custom_kinds(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    api.add(cluster_role("reader", managed="awoooi"))
    api.add(cluster_role("admin"))
    api.register_kind(CRONTAB, "CronTab", "crontabs")
    api.add(crontab("nightly", NS, managed="awoooi"))
    api.add(crontab("hourly", "other", managed="awoooi"))

    roles = await kube.list_objects(RBAC, "ClusterRole", label_selector="managed=awoooi")
    tabs = await kube.list_objects(CRONTAB, "CronTab", label_selector="managed=awoooi")

    assert [(r["kind"], r["metadata"]["name"]) for r in roles] == [("ClusterRole", "reader")]
    assert [(t["apiVersion"], t["metadata"]["name"]) for t in tabs] == [
        (CRONTAB, "hourly"),
        (CRONTAB, "nightly"),
    ]
    assert f"/apis/{RBAC}/clusterroles" in paths(api)
    assert "/apis/stable.example.com/v1/crontabs" in paths(api)


async def test_an_empty_list(api: FakeKubeAPI, kube: LightkubeClient) -> None:
    assert await kube.list_objects("apps/v1", "StatefulSet") == []


# -- discovery ---------------------------------------------------------------------------------


async def test_discovery_is_fetched_once_per_group_version(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    api.add(make_deployment("web", NS))
    api.add(configmap("settings"))

    for _ in range(3):
        await kube.get_object("apps/v1", "Deployment", NS, "web")
        await kube.list_objects("apps/v1", "Deployment")
        await kube.list_objects("apps/v1", "ReplicaSet", namespace=NS)
        await kube.get_object("v1", "ConfigMap", NS, "settings")

    assert len(api.requests_to("GET", "/apis/apps/v1")) == 1
    assert len(api.requests_to("GET", "/api/v1")) == 1
    assert len(api.requests) == 2 + 3 * 4


async def test_an_unknown_kind_is_kube_error(api: FakeKubeAPI, kube: LightkubeClient) -> None:
    with pytest.raises(KubeError, match="unknown kind Widget in apps/v1") as caught:
        await kube.get_object("apps/v1", "Widget", NS, "w")
    assert not isinstance(caught.value, KubeNotFound)
    # A group the server does not serve at all (its discovery document is a 404).
    with pytest.raises(KubeError, match=r"unknown kind CronTab in stable\.example\.com/v1"):
        await kube.list_objects(CRONTAB, "CronTab")
    # A subresource's kind (deployments/scale is a "Scale") is not an object kind.
    with pytest.raises(KubeError, match="unknown kind Scale"):
        await kube.get_object("apps/v1", "Scale", NS, "web")
    assert not any("/namespaces/" in path for path in paths(api))


async def test_a_kind_installed_later_is_found_after_the_retry_interval(
    api: FakeKubeAPI,
) -> None:
    async def lookup(kube: LightkubeClient) -> None:
        with pytest.raises(KubeError, match="unknown kind CronTab"):
            await kube.list_objects(CRONTAB, "CronTab")
        api.register_kind(CRONTAB, "CronTab", "crontabs")  # the CRD gets installed
        api.add(crontab("nightly"))

    patient = LightkubeClient.connect(server=api.url, timeout=5.0)
    eager = LightkubeClient.connect(server=api.url, timeout=5.0, discovery_retry=0.0)
    try:
        await lookup(patient)
        with pytest.raises(KubeError, match="unknown kind CronTab"):  # cached for 30 s
            await patient.list_objects(CRONTAB, "CronTab")
        assert [o["metadata"]["name"] for o in await eager.list_objects(CRONTAB, "CronTab")] == [
            "nightly"
        ]
    finally:
        await patient.aclose()
        await eager.aclose()


async def test_a_failed_discovery_is_kube_error_and_is_retried(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    api.add(make_deployment("web", NS))
    api.fail_next(503, "etcd is unhappy")

    with pytest.raises(KubeError, match="discover apps/v1: etcd is unhappy") as caught:
        await kube.get_object("apps/v1", "Deployment", NS, "web")
    assert caught.value.status == 503

    assert await kube.get_object("apps/v1", "Deployment", NS, "web") is not None
    assert len(api.requests_to("GET", "/apis/apps/v1")) == 2


async def test_server_errors_on_get_and_list_are_kube_errors(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    await kube.list_objects("apps/v1", "Deployment")  # discovery cached
    api.fail_next(403, 'deployments.apps is forbidden: User "drift" cannot list', times=2)

    with pytest.raises(KubeError, match="forbidden") as listing:
        await kube.list_objects("apps/v1", "Deployment")
    with pytest.raises(KubeError, match="forbidden") as getting:
        await kube.get_object("apps/v1", "Deployment", NS, "web")
    assert listing.value.status == getting.value.status == 403


async def test_a_malformed_label_selector_is_kube_error_400(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    with pytest.raises(KubeError, match="unable to parse requirement") as caught:
        await kube.list_objects("apps/v1", "Deployment", label_selector="app in web")
    assert caught.value.status == 400


async def test_an_unreachable_server_is_kube_error() -> None:
    with refusing_port() as port:
        kube = LightkubeClient.connect(server=f"http://127.0.0.1:{port}", timeout=2.0)
        try:
            with pytest.raises(KubeError, match="discover apps/v1: cannot reach the API server"):
                await kube.get_object("apps/v1", "Deployment", NS, "web")
        finally:
            await kube.aclose()


# -- the fake API server's discovery -----------------------------------------------------------


async def test_fake_serves_discovery_documents(api: FakeKubeAPI) -> None:
    api.register_kind(CRONTAB, "CronTab", "crontabs")
    async with httpx.AsyncClient(base_url=api.url) as http:
        core = (await http.get("/api")).json()
        groups = (await http.get("/apis")).json()
        apps = (await http.get("/apis/apps")).json()
        apps_v1 = (await http.get("/apis/apps/v1")).json()
        core_v1 = (await http.get("/api/v1")).json()
        custom = (await http.get("/apis/stable.example.com/v1")).json()
        missing = await http.get("/apis/nope.example.com/v1")

    assert core == {"kind": "APIVersions", "versions": ["v1"]}
    assert groups["kind"] == "APIGroupList"
    assert {g["name"] for g in groups["groups"]} >= {
        "apps",
        "rbac.authorization.k8s.io",
        "stable.example.com",
    }
    assert apps["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}
    by_name = {r["name"]: r for r in apps_v1["resources"]}
    assert by_name["deployments"]["kind"] == "Deployment"
    assert by_name["deployments"]["namespaced"] is True
    assert "list" in by_name["deployments"]["verbs"]
    assert by_name["deployments/scale"]["kind"] == "Scale"
    assert by_name["deployments/status"]["kind"] == "Deployment"
    core_kinds = {r["name"]: r["namespaced"] for r in core_v1["resources"]}
    assert core_kinds["configmaps"] is True
    assert core_kinds["namespaces"] is False
    assert custom["groupVersion"] == CRONTAB
    assert [r["name"] for r in custom["resources"]] == ["crontabs"]
    assert missing.status_code == 404


# -- the in-memory fake ------------------------------------------------------------------------


@pytest.fixture
def memory() -> InMemoryKube:
    kube = InMemoryKube()
    kube.add_object(configmap("a", NS, app="web", tier="api"))
    kube.add_object(configmap("b", "other", app="web"))
    kube.add_object(configmap("c", NS, app="db"))
    kube.add_object(cluster_role("reader", app="web"))
    kube.add_kind(CRONTAB, "CronTab")
    return kube


def test_in_memory_fake_is_a_cluster_reader(memory: InMemoryKube) -> None:
    assert isinstance(memory, ClusterReader)


async def test_in_memory_get_object(memory: InMemoryKube) -> None:
    found = await memory.get_object("v1", "ConfigMap", NS, "a")
    assert found == configmap("a", NS, app="web", tier="api")
    assert found is not None
    found["data"]["LOG_LEVEL"] = "debug"  # a copy: the stored object is untouched
    assert (await memory.get_object("v1", "ConfigMap", NS, "a")) == configmap(
        "a", NS, app="web", tier="api"
    )
    assert await memory.get_object("v1", "ConfigMap", NS, "zzz") is None
    assert await memory.get_object("v1", "ConfigMap", "other", "a") is None
    assert await memory.get_object(CRONTAB, "CronTab", NS, "nightly") is None
    role = await memory.get_object(RBAC, "ClusterRole", NS, "reader")  # namespace ignored
    assert role is not None
    assert role["metadata"]["name"] == "reader"
    with pytest.raises(KubeError, match="namespace is required"):
        await memory.get_object("v1", "ConfigMap", None, "a")
    with pytest.raises(KubeError, match="unknown kind"):
        await memory.get_object("apps/v1", "Widget", NS, "w")
    assert ("get_object", f"v1 ConfigMap {NS}/a") in memory.calls


async def test_in_memory_list_objects(memory: InMemoryKube) -> None:
    def names(objects: list[dict[str, Any]]) -> list[tuple[str | None, str]]:
        return [(o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects]

    assert names(await memory.list_objects("v1", "ConfigMap")) == [
        ("other", "b"),
        (NS, "a"),
        (NS, "c"),
    ]
    assert names(await memory.list_objects("v1", "ConfigMap", label_selector="app=web")) == [
        ("other", "b"),
        (NS, "a"),
    ]
    assert names(
        await memory.list_objects("v1", "ConfigMap", namespace=NS, label_selector="app==web")
    ) == [(NS, "a")]
    assert names(await memory.list_objects("v1", "ConfigMap", label_selector="app!=web")) == [
        (NS, "c")
    ]
    assert names(await memory.list_objects(RBAC, "ClusterRole", namespace=NS)) == [(None, "reader")]
    assert await memory.list_objects(CRONTAB, "CronTab") == []
    with pytest.raises(KubeError, match="unsupported label selector"):
        await memory.list_objects("v1", "ConfigMap", label_selector="app in (web)")
    with pytest.raises(KubeError, match="unknown kind"):
        await memory.list_objects("apps/v1", "Widget")


async def test_in_memory_failures_on_demand(memory: InMemoryKube) -> None:
    memory.fail["list_objects"] = KubeError("boom", status=500)
    with pytest.raises(KubeError, match="boom"):
        await memory.list_objects("v1", "ConfigMap")

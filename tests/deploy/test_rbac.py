"""The service's RBAC is derived from the code, not from a hand-written list: what the live
diagnosis, the drift scan, the repair catalog and drift rollback really send to the API-server
stand-in (read as apiGroup, resource, verb) is exactly what the rendered roles grant."""

from __future__ import annotations

from pathlib import Path

from awoooi.adapters.kube import ObjectRef
from awoooi.adapters.lightkube_client import LightkubeClient
from awoooi.diagnosis.dump_writer import NAMESPACED_KINDS
from awoooi.diagnosis.live import KubeSource
from awoooi.drift.report import ResourceId
from awoooi.drift.sources import ClusterState
from awoooi.repair.actions import KubePermission, required_permissions
from tests.deploy.manifests import JSON, ROOT, of_kind, one, overlay, render
from tests.helpers.kube_api import FakeKubeAPI, make_pod, make_workload
from tests.helpers.rbac import needed, role_grants

SERVICE_ACCOUNT = {"kind": "ServiceAccount", "name": "awoooi", "namespace": "awoooi"}
SECRETS = {KubePermission("", "secrets", verb) for verb in ("get", "list")}


def granted_to_service(objects: list[JSON]) -> dict[str, set[KubePermission]]:
    """ClusterRole name -> what it grants, for every role bound to the service's account."""
    roles = {role["metadata"]["name"]: role for role in of_kind(objects, "ClusterRole")}
    found: dict[str, set[KubePermission]] = {}
    for binding in of_kind(objects, "ClusterRoleBinding"):
        if SERVICE_ACCOUNT in binding["subjects"]:
            assert binding["subjects"] == [SERVICE_ACCOUNT]
            name = binding["roleRef"]["name"]
            found[name] = role_grants(roles[name])
    return found


def all_granted(objects: list[JSON]) -> set[KubePermission]:
    return set().union(*granted_to_service(objects).values())


async def diagnosis_reads(api: FakeKubeAPI, kube: LightkubeClient) -> set[KubePermission]:
    """What a live diagnosis and `awoooi cluster dump` send: every kind they read, listed
    and fetched, and a container log."""
    api.add(make_pod("web-abc12", "prod"))
    api.set_log("prod", "web-abc12", "main", "started\n")
    source = KubeSource(kube, kube, cache=False)
    for kind in ("Node", *NAMESPACED_KINDS):
        await source.list_objects(kind, "prod")
        await source.get_object(kind, "prod", "web")
    await source.read_log("prod", "web-abc12", "main")
    return needed(api.requests)


async def drift_verbs(api: FakeKubeAPI, kube: LightkubeClient) -> set[str]:
    """The verbs a drift scan uses on a kind Git tracks (GET each object, LIST the labelled)."""
    live = ClusterState(kube)
    await live.get(ResourceId("apps/v1", "Deployment", "prod", "web"))
    await live.tracked([("apps/v1", "Deployment")], ("app.kubernetes.io/managed-by", "awoooi"))
    found = needed(api.requests)
    assert {(p.api_group, p.resource) for p in found} == {("apps", "deployments")}
    return {p.verb for p in found}


def drift_kinds() -> set[tuple[str, str]]:
    """The kinds a drift scan reads by default: those of the drift CronJob's role."""
    role = one(render(ROOT / "drift-cronjob"), "ClusterRole", "awoooi-drift-read")
    return {(p.api_group, p.resource) for p in role_grants(role)}


async def test_the_base_grants_exactly_the_diagnosis_and_drift_reads_without_secrets(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    diagnosis = await diagnosis_reads(api, kube)
    api.requests.clear()
    verbs = await drift_verbs(api, kube)
    drift = {KubePermission(g, r, v) for g, r in drift_kinds() for v in verbs}

    assert diagnosis >= SECRETS  # the code reads them; the base leaves them to a component
    base = granted_to_service(render(ROOT / "base"))
    assert set(base) == {"awoooi-read"}
    assert base["awoooi-read"] == (diagnosis | drift) - SECRETS
    with_keys = granted_to_service(render(ROOT / "overlays" / "production"))
    assert with_keys["awoooi-secret-keys"] == SECRETS
    assert all_granted(render(ROOT / "overlays" / "production")) == diagnosis | drift


def test_the_repair_component_grants_exactly_what_the_catalog_declares(tmp_path: Path) -> None:
    objects = render(overlay(tmp_path, ["base"], ["components/repair"]))

    assert granted_to_service(objects)["awoooi-repair"] == required_permissions()


async def test_repair_verification_reads_only_what_the_base_grants(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    for kind in ("Deployment", "StatefulSet", "DaemonSet"):
        api.add(make_workload(kind, "web", "prod"))
        await kube.workload_available(ObjectRef(kind, "prod", "web"))

    assert needed(api.requests) <= all_granted(render(ROOT / "base"))


async def test_rollback_can_read_and_apply_every_kind_it_is_granted(
    api: FakeKubeAPI, kube: LightkubeClient, tmp_path: Path
) -> None:
    # A rollback GETs the live object, then applies Git's (server-side apply: PATCH).
    live = ClusterState(kube)
    manifest = make_workload("Deployment", "web", "prod")
    await live.get(ResourceId("apps/v1", "Deployment", "prod", "web"))
    await kube.apply_object(manifest, field_manager="awoooi")
    verbs = {p.verb for p in needed(api.requests)}
    assert verbs == {"get", "patch"}

    objects = render(overlay(tmp_path, ["base"], ["components/drift-rollback"]))
    roles = granted_to_service(objects)
    rollback = roles["awoooi-drift-rollback"]
    assert {p.verb for p in rollback} == {"patch"}
    for p in rollback:
        assert KubePermission(p.api_group, p.resource, "get") in roles["awoooi-read"], p
        assert (p.api_group, p.resource) not in {("", "secrets"), ("", "namespaces")}
        assert p.api_group != "rbac.authorization.k8s.io", p


def test_production_with_every_component_binds_only_the_service(
    tmp_path: Path,
) -> None:
    # production already includes secret-keys.
    components = ["components/repair", "components/drift-rollback"]
    objects = render(overlay(tmp_path, ["overlays/production"], components))

    roles = granted_to_service(objects)
    assert set(roles) == {
        "awoooi-read",
        "awoooi-secret-keys",
        "awoooi-repair",
        "awoooi-drift-rollback",
    }
    assert not any("*" in (p.api_group, p.resource, p.verb) for p in all_granted(objects))
    assert {p.verb for p in all_granted(objects)} == {"get", "list", "patch", "delete"}
    for binding in of_kind(objects, "ClusterRoleBinding"):
        assert binding["roleRef"]["name"] in roles

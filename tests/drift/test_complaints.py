"""One test per user complaint about drift reports: false alarms that must stay quiet, and the
blind spots (hand edits, security weakening, deletions from Git) that must be reported."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from awoooi.adapters.git import GitCli
from awoooi.drift.report import Change, DriftItem, DriftLevel
from awoooi.drift.scan import scan
from awoooi.drift.settings import DriftSettings, IgnoreRule, LevelRule
from awoooi.drift.sources import DumpState, load_desired
from tests.drift.objects import (
    LAST_APPLIED,
    container_fields,
    deployment,
    items_for,
    managed,
    reported,
    show,
)

CONTAINER = "spec.template.spec.containers[name=web]"
POD = "spec.template.spec"


def only(items: list[DriftItem]) -> DriftItem:
    """The single item (ignored or not) of a pair."""
    assert len(items) == 1, show(items)
    return items[0]


def assert_item(
    item: DriftItem,
    *,
    path: str,
    change: str,
    level: str,
    reason: str = "",
    ignored: bool = False,
) -> None:
    got = (item.path, item.change.value, item.level.value, item.reason, item.ignored)
    assert got == (path, change, level, reason, ignored), show([item])


def sha(value: str) -> str:
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:12]


# ------------------------------------------------------------------ quantities


@pytest.mark.parametrize(
    ("field", "desired", "live"),
    [
        ("cpu", 0.5, "500m"),
        ("cpu", "0.5", "500m"),
        ("cpu", 1, "1000m"),
        ("memory", "1Gi", "1024Mi"),
        ("memory", "1Gi", "1073741824"),
        ("memory", "1G", "1000M"),
        ("ephemeral-storage", "2Gi", "2048Mi"),
    ],
)
def test_quantities_in_another_notation_are_in_sync(field: str, desired: Any, live: str) -> None:
    resources = {"requests": {field: desired}, "limits": {field: desired}}
    live_resources = {"requests": {field: live}, "limits": {field: live}}
    items = items_for(
        deployment({"resources": resources}), deployment({"resources": live_resources})
    )
    assert items == [], show(items)


def test_a_changed_quantity_is_reported() -> None:
    items = items_for(
        deployment({"resources": {"requests": {"cpu": 0.5, "memory": "1Gi"}}}),
        deployment({"resources": {"requests": {"cpu": "250m", "memory": "1024Mi"}}}),
    )
    item = only(items)
    assert_item(item, path=f"{CONTAINER}.resources.requests.cpu", change="modified", level="medium")
    assert (item.desired, item.live) == (0.5, "250m")


# ------------------------------------------------------------------ replicas owned elsewhere

HPA: dict[str, Any] = {
    "apiVersion": "autoscaling/v2",
    "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 2,
        "maxReplicas": 10,
    },
}


def scaled(replicas: int, *entries: dict[str, Any]) -> dict[str, Any]:
    live = deployment(replicas=replicas)
    if entries:
        live["metadata"]["managedFields"] = list(entries)
    return live


def test_replicas_of_a_deployment_an_hpa_in_the_scan_targets_are_not_drift() -> None:
    item = only(items_for(deployment(replicas=3), scaled(7), context_objects=[HPA]))
    assert_item(
        item,
        path="spec.replicas",
        change="modified",
        level="info",
        reason="replicas are managed by a HorizontalPodAutoscaler",
        ignored=True,
    )
    other = copy.deepcopy(HPA)
    other["spec"]["scaleTargetRef"]["name"] = "api"
    item = only(items_for(deployment(replicas=3), scaled(7), context_objects=[other]))
    assert_item(item, path="spec.replicas", change="modified", level="medium")


def test_replicas_written_through_the_scale_subresource_are_not_drift() -> None:
    autoscaler = managed(
        "kube-controller-manager", {"f:spec": {"f:replicas": {}}}, subresource="scale"
    )
    item = only(items_for(deployment(replicas=3), scaled(7, autoscaler)))
    assert_item(
        item,
        path="spec.replicas",
        change="modified",
        level="info",
        reason="replicas are set through the scale subresource by kube-controller-manager",
        ignored=True,
    )


@pytest.mark.parametrize("manager", ["kubectl-scale", "kubectl"])
def test_a_manual_kubectl_scale_is_still_reported(manager: str) -> None:
    """`kubectl scale` also writes through the scale subresource, but it is a hand edit."""
    by_hand = managed(manager, {"f:spec": {"f:replicas": {}}}, subresource="scale")
    item = only(items_for(deployment(replicas=3), scaled(7, by_hand)))
    assert_item(
        item,
        path="spec.replicas",
        change="modified",
        level="medium",
        reason=f"set by {manager}, differs from Git",
    )


# ------------------------------------------------------------------ webhook-injected fields


def webhook_config(ca_bundle: str | None) -> dict[str, Any]:
    client: dict[str, Any] = {"service": {"name": "hook", "namespace": "system", "path": "/m"}}
    if ca_bundle is not None:
        client["caBundle"] = ca_bundle
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "hook"},
        "webhooks": [
            {
                "name": "mutate.example.com",
                "clientConfig": client,
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
            }
        ],
    }


def test_a_webhook_ca_bundle_injected_by_a_controller_is_not_drift() -> None:
    injected = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB\n").decode()
    live = webhook_config(injected)
    live["metadata"]["managedFields"] = [
        managed(
            "cainjector",
            {
                "f:webhooks": {
                    'k:{"name":"mutate.example.com"}': {"f:clientConfig": {"f:caBundle": {}}}
                }
            },
            api_version="admissionregistration.k8s.io/v1",
        )
    ]
    assert items_for(webhook_config(None), live) == []
    item = only(items_for(webhook_config("Cg=="), live))
    assert_item(
        item,
        path="webhooks[name=mutate.example.com].clientConfig.caBundle",
        change="modified",
        level="info",
        reason="webhook caBundle is injected by a certificate controller",
        ignored=True,
    )


@pytest.mark.parametrize("owner", [None, "istio-sidecar-injector"])
def test_a_sidecar_injected_by_a_webhook_is_not_drift(owner: str | None) -> None:
    sidecar = {"name": "istio-proxy", "image": "istio/proxyv2:1.22", "args": ["proxy", "sidecar"]}
    live = deployment(pod={"volumes": [{"name": "istio-envoy", "emptyDir": {"medium": "Memory"}}]})
    live["spec"]["template"]["spec"]["containers"].append(sidecar)
    live["spec"]["template"]["metadata"]["annotations"] = {"sidecar.istio.io/status": "{}"}
    # A hand edit elsewhere in the object: the imperative trie exists, but not for the sidecar.
    entries = [managed("kubectl-edit", {"f:metadata": {"f:labels": {"f:team": {}}}})]
    live["metadata"]["labels"] = {"team": "a"}
    if owner is not None:
        entries.append(
            managed(
                owner,
                {
                    "f:spec": {
                        "f:template": {
                            "f:spec": {"f:containers": {'k:{"name":"istio-proxy"}': {".": {}}}}
                        }
                    }
                },
            )
        )
    live["metadata"]["managedFields"] = entries
    desired = deployment()
    desired["metadata"]["labels"] = {"team": "a"}
    assert items_for(desired, live) == []


# ------------------------------------------------------------------ empty versus null


@pytest.mark.parametrize(
    ("where", "desired", "live"),
    [
        ("list", {"args": []}, {}),
        ("list", {"args": None}, {"args": []}),
        ("list", {}, {"args": []}),
        ("map", {"resources": {}}, {}),
        ("map", {"resources": {"limits": {}}}, {"resources": None}),
        ("map", {"env": [{"name": "A", "value": ""}]}, {"env": [{"name": "A"}]}),
        ("string", {"workingDir": ""}, {}),
        ("string", {"workingDir": None}, {"workingDir": ""}),
    ],
)
def test_empty_and_null_are_the_same_as_absent(
    where: str, desired: dict[str, Any], live: dict[str, Any]
) -> None:
    items = items_for(deployment(desired), deployment(live))
    assert items == [], f"{where}: {show(items)}"


def test_empty_metadata_maps_and_pod_lists_are_the_same_as_absent() -> None:
    desired = deployment(pod={"tolerations": None, "nodeSelector": {}, "imagePullSecrets": []})
    desired["metadata"]["annotations"] = {}
    desired["metadata"]["labels"] = None
    live = deployment(pod={"tolerations": [], "nodeSelector": None})
    live["metadata"]["labels"] = {}
    assert items_for(desired, live) == []


# ------------------------------------------------------------------ kubectl edit is reported

EDITS: dict[str, tuple[dict[str, Any], dict[str, Any], str, str]] = {
    "env var": (
        {"env": [{"name": "A", "value": "1"}, {"name": "DEBUG", "value": "true"}]},
        container_fields({"f:env": {'k:{"name":"DEBUG"}': {".": {}, "f:name": {}, "f:value": {}}}}),
        f"{CONTAINER}.env[name=DEBUG]",
        "medium",
    ),
    "container field": (
        {"env": [{"name": "A", "value": "1"}], "command": ["sleep", "infinity"]},
        container_fields({"f:command": {}}),
        f"{CONTAINER}.command",
        "high",
    ),
    "annotation": (
        {"env": [{"name": "A", "value": "1"}]},
        {"f:metadata": {"f:annotations": {".": {}, "f:debug.example.com/trace": {}}}},
        'metadata.annotations["debug.example.com/trace"]',
        "low",
    ),
}


@pytest.mark.parametrize("what", sorted(EDITS))
def test_a_field_added_by_kubectl_edit_is_reported_naming_the_manager(what: str) -> None:
    container, fields, path, level = EDITS[what]
    live = deployment(container)
    if what == "annotation":
        live["metadata"]["annotations"] = {"debug.example.com/trace": "on"}
    live["metadata"]["managedFields"] = [
        managed("argocd-controller", container_fields({"f:image": {}}), operation="Apply"),
        managed("kubectl-edit", fields),
    ]
    item = only(items_for(deployment({"env": [{"name": "A", "value": "1"}]}), live))
    assert_item(
        item, path=path, change="added", level=level, reason="set by kubectl-edit, not in Git"
    )
    assert item.desired is None
    assert item.live is not None


def test_the_same_live_only_field_without_an_imperative_owner_is_not_reported() -> None:
    live = deployment({"env": [{"name": "DEBUG", "value": "true"}]})
    live["metadata"]["managedFields"] = [
        managed("some-operator", container_fields({"f:env": {'k:{"name":"DEBUG"}': {}}}))
    ]
    assert items_for(deployment(), live) == []


# ------------------------------------------------------------------ security-sensitive fields

SECURITY: dict[str, tuple[dict[str, Any], dict[str, Any], str]] = {
    "privileged": (
        {"securityContext": {"privileged": True}},
        {},
        f"{CONTAINER}.securityContext.privileged",
    ),
    "hostNetwork": ({}, {"hostNetwork": True}, f"{POD}.hostNetwork"),
    "capabilities.add": (
        {"securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}},
        {},
        f"{CONTAINER}.securityContext.capabilities.add",
    ),
    "runAsUser 0 (container)": (
        {"securityContext": {"runAsUser": 0}},
        {},
        f"{CONTAINER}.securityContext.runAsUser",
    ),
    "runAsUser 0 (pod)": (
        {},
        {"securityContext": {"runAsUser": 0}},
        f"{POD}.securityContext.runAsUser",
    ),
    "hostPath volume": (
        {},
        {"volumes": [{"name": "root", "hostPath": {"path": "/", "type": "Directory"}}]},
        f"{POD}.volumes[name=root].hostPath",
    ),
}


@pytest.mark.parametrize("owner", [None, "some-operator", "argocd-controller"])
@pytest.mark.parametrize("what", sorted(SECURITY))
def test_security_sensitive_live_only_fields_are_critical_whoever_owns_them(
    what: str, owner: str | None
) -> None:
    container, pod, path = SECURITY[what]
    live = deployment(container, pod=pod)
    if owner is not None:
        live["metadata"]["managedFields"] = [managed(owner, {"f:spec": {"f:template": {}}})]
    item = only(items_for(deployment(), live))
    assert_item(
        item, path=path, change="added", level="critical", reason="security-sensitive, not in Git"
    )


def test_a_security_field_set_by_kubectl_edit_is_reported_once() -> None:
    live = deployment({"securityContext": {"privileged": True}})
    live["metadata"]["managedFields"] = [
        managed("kubectl-edit", container_fields({"f:securityContext": {"f:privileged": {}}}))
    ]
    item = only(items_for(deployment(), live))
    assert (item.path, item.change, item.level, item.reason) == (
        f"{CONTAINER}.securityContext.privileged",
        Change.ADDED,
        DriftLevel.CRITICAL,
        "set by kubectl-edit, not in Git",
    )


def test_safe_security_values_and_values_git_sets_are_not_security_findings() -> None:
    safe = deployment({"securityContext": {"privileged": False, "runAsUser": 1000}})
    assert items_for(deployment(), safe) == []
    both = deployment({"securityContext": {"privileged": True}}, pod={"hostNetwork": True})
    assert items_for(copy.deepcopy(both), both) == []


# ------------------------------------------------------------------ keyed lists in any order


def test_keyed_lists_in_any_order_are_in_sync() -> None:
    desired = deployment(
        {
            "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
            "ports": [
                {"containerPort": 80},
                {"containerPort": 53, "protocol": "UDP"},
                {"containerPort": 53},
            ],
            "volumeMounts": [{"name": "a", "mountPath": "/a"}, {"name": "b", "mountPath": "/b"}],
        },
        pod={"volumes": [{"name": "a", "emptyDir": {}}, {"name": "b", "configMap": {"name": "c"}}]},
    )
    desired["spec"]["template"]["spec"]["containers"].append({"name": "log", "image": "busybox"})
    live = copy.deepcopy(desired)
    pod = live["spec"]["template"]["spec"]
    pod["containers"].reverse()
    pod["volumes"].reverse()
    web = pod["containers"][1]
    web["env"].reverse()
    web["volumeMounts"].reverse()
    web["ports"] = [
        {"containerPort": 53, "protocol": "TCP"},
        {"containerPort": 53, "protocol": "UDP"},
        {"containerPort": 80, "protocol": "TCP"},
    ]
    assert items_for(desired, live) == []
    web["env"][0]["value"] = "changed"  # Y, now first in live
    web["ports"][1]["protocol"] = "SCTP"
    found = {(i.path, i.change.value) for i in reported(items_for(desired, live))}
    assert found == {
        (f"{CONTAINER}.env[name=Y].value", "modified"),
        (f"{CONTAINER}.ports[containerPort=53,protocol=UDP]", "removed"),
    }


# ------------------------------------------------------------------ Secrets

SECRET_CLEAR = "correct-horse-battery-staple"
SECRET_OLD = "tr0ub4dor&3-old-value"


def secret(**fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "default"},
        **fields,
    }


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def assert_no_secret_text(value: Any, *clear: str) -> None:
    text = json.dumps(value, default=str)
    for plain in clear:
        assert plain not in text, text
        assert b64(plain) not in text, text


def test_secret_string_data_and_base64_data_are_in_sync() -> None:
    desired = secret(stringData={"password": SECRET_CLEAR}, data={"user": b64("app")})
    live = secret(type="Opaque", data={"password": b64(SECRET_CLEAR), "user": b64("app")})
    assert items_for(desired, live) == []


def test_a_changed_secret_value_is_reported_as_a_hash_only() -> None:
    desired = secret(stringData={"password": SECRET_CLEAR})
    live = secret(type="Opaque", data={"password": b64(SECRET_OLD)})
    item = only(items_for(desired, live))
    assert_item(item, path="data.password", change="modified", level="high")
    assert (item.desired, item.live) == (sha(SECRET_CLEAR), sha(SECRET_OLD))
    assert_no_secret_text(item.to_json(), SECRET_CLEAR, SECRET_OLD)


def test_secret_keys_added_or_removed_and_the_last_applied_copy_do_not_leak() -> None:
    applied = secret(data={"password": b64(SECRET_OLD), "token": b64("old-token-value")})
    live = secret(
        type="Opaque", data={"password": b64(SECRET_OLD), "token": b64("old-token-value")}
    )
    live["metadata"]["annotations"] = {
        LAST_APPLIED: json.dumps(applied, sort_keys=True, separators=(",", ":"))
    }
    live["metadata"]["managedFields"] = [
        managed(
            "kubectl-client-side-apply",
            {
                "f:data": {".": {}, "f:password": {}, "f:token": {}},
                "f:metadata": {"f:annotations": {".": {}, f"f:{LAST_APPLIED}": {}}},
            },
            api_version="v1",
        )
    ]
    desired = secret(stringData={"password": SECRET_CLEAR, "api-key": "brand-new-key"})
    items = items_for(desired, live)
    by_path = {i.path: i for i in items}
    assert set(by_path) == {
        "data.password",
        "data.api-key",
        "data.token",
        f'metadata.annotations["{LAST_APPLIED}"]',
    }, show(items)
    assert by_path["data.api-key"].change is Change.REMOVED
    assert by_path["data.token"].change is Change.ADDED
    assert by_path[f'metadata.annotations["{LAST_APPLIED}"]'].ignored
    for item in items:
        assert_no_secret_text(
            item.to_json(), SECRET_CLEAR, SECRET_OLD, "old-token-value", "brand-new-key"
        )


# ------------------------------------------------------------------ int-or-string


def service(target_port: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": target_port}]},
    }


def test_int_or_string_values_are_in_sync() -> None:
    live = service("8080")
    live["spec"]["ports"][0]["protocol"] = "TCP"
    assert items_for(service(8080), live) == []
    assert items_for(service("8080"), service(8080)) == []
    item = only(items_for(service(8080), service("http")))
    assert_item(
        item, path="spec.ports[port=80,protocol=TCP].targetPort", change="modified", level="medium"
    )


# ------------------------------------------------------------------ 3-way deletion


def with_last_applied(live: dict[str, Any], applied: dict[str, Any]) -> dict[str, Any]:
    live.setdefault("metadata", {}).setdefault("annotations", {})[LAST_APPLIED] = json.dumps(
        applied
    )
    return live


def test_a_field_removed_from_git_but_still_live_is_reported() -> None:
    before = deployment({"env": [{"name": "A", "value": "1"}, {"name": "OLD", "value": "x"}]})
    before["metadata"]["annotations"] = {"team": "payments"}
    live = with_last_applied(copy.deepcopy(before), before)
    now = deployment({"env": [{"name": "A", "value": "1"}]})
    items = reported(items_for(now, live))
    reason = "removed from Git, still live (the last applied configuration had it)"
    by_path = {i.path: i for i in items}
    assert set(by_path) == {f"{CONTAINER}.env[name=OLD]", "metadata.annotations.team"}, show(items)
    assert_item(
        by_path[f"{CONTAINER}.env[name=OLD]"],
        path=f"{CONTAINER}.env[name=OLD]",
        change="added",
        level="medium",
        reason=reason,
    )
    assert_item(
        by_path["metadata.annotations.team"],
        path="metadata.annotations.team",
        change="added",
        level="low",
        reason=reason,
    )
    # Without the last-applied annotation a 2-way comparison cannot see the deletion (Argo too).
    del live["metadata"]["annotations"][LAST_APPLIED]
    assert reported(items_for(now, live)) == []


def test_a_field_a_gitops_applier_owned_and_git_dropped_is_reported() -> None:
    env = [{"name": "A", "value": "1"}]
    live = deployment({"env": [*env, {"name": "OLD", "value": "x"}]})
    live["metadata"]["managedFields"] = [
        managed(
            "argocd-controller",
            container_fields(
                {
                    "f:image": {},
                    "f:env": {'k:{"name":"A"}': {".": {}}, 'k:{"name":"OLD"}': {".": {}}},
                }
            ),
            operation="Apply",
        )
    ]
    item = only(items_for(deployment({"env": env}), live))
    assert_item(
        item,
        path=f"{CONTAINER}.env[name=OLD]",
        change="added",
        level="medium",
        reason="removed from Git, still live (argocd-controller applied it)",
    )


def test_a_hotfixed_image_names_its_editor_like_an_added_field() -> None:
    # Issue 18: the env item said "set by kubectl-edit, not in Git" and the image item of the
    # same `kubectl edit` said nothing.
    env = [{"name": "A", "value": "1"}]
    debug_env = {"name": "DEBUG", "value": "1"}
    live = deployment({"image": "nginx:1.25-hotfix", "env": [*env, debug_env]})
    live["metadata"]["managedFields"] = [
        managed("argocd-controller", container_fields({"f:name": {}}), operation="Apply"),
        managed(
            "kubectl-edit",
            container_fields({"f:image": {}, "f:env": {'k:{"name":"DEBUG"}': {}}}),
        ),
    ]
    items = {item.path: item for item in items_for(deployment({"env": env}), live)}
    image, debug = items[f"{CONTAINER}.image"], items[f"{CONTAINER}.env[name=DEBUG]"]
    assert (image.change.value, image.desired, image.live) == (
        "modified",
        "nginx:1.25",
        "nginx:1.25-hotfix",
    )
    assert image.reason == "set by kubectl-edit, differs from Git"
    assert debug.reason == "set by kubectl-edit, not in Git"
    # A value nobody edited by hand (Git moved on, or a controller wrote it) names no editor.
    live["metadata"]["managedFields"] = [
        managed("argocd-controller", container_fields({"f:image": {}}), operation="Apply")
    ]
    (plain,) = [
        i for i in items_for(deployment({"env": env}), live) if i.path == f"{CONTAINER}.image"
    ]
    assert plain.reason == ""


# ------------------------------------------------------------------ configurable rules


def test_ignore_rules_match_kind_and_path_globs() -> None:
    settings = DriftSettings(
        ignore=[
            IgnoreRule(
                kind="Deploy*", path="spec.template.spec.containers[*].image", reason="CD pins"
            ),
            IgnoreRule(kind="StatefulSet", path="spec.replicas"),
        ]
    )
    live = deployment({"image": "nginx:1.27"}, replicas=5)
    items = {i.path: i for i in items_for(deployment(), live, settings)}
    assert_item(
        items[f"{CONTAINER}.image"],
        path=f"{CONTAINER}.image",
        change="modified",
        level="info",
        reason="CD pins",
        ignored=True,
    )
    assert_item(items["spec.replicas"], path="spec.replicas", change="modified", level="medium")


def test_level_rules_come_before_the_built_in_levels_first_match_wins() -> None:
    settings = DriftSettings(
        levels=[
            LevelRule(kind="Deployment", path="spec.replicas", level="critical"),
            LevelRule(kind="*", path="spec.*", level="low"),
            LevelRule(kind="*", path="spec.replicas", level="info"),
        ]
    )
    live = deployment({"image": "nginx:1.27"}, replicas=5)
    levels = {i.path: i.level.value for i in items_for(deployment(), live, settings)}
    assert levels == {"spec.replicas": "critical", f"{CONTAINER}.image": "low"}


# ------------------------------------------------------------------ levels of typical items


def role(verbs: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "reader", "namespace": "default"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": verbs}],
    }


def test_levels_of_typical_items() -> None:
    desired = deployment(pod={"serviceAccountName": "web"})
    desired["metadata"]["labels"] = {"tier": "web"}
    live = deployment({"image": "nginx:evil"}, replicas=9, pod={"serviceAccountName": "admin"})
    live["metadata"]["labels"] = {"tier": "db"}
    levels = {i.path: i.level.value for i in items_for(desired, live)}
    assert levels == {
        f"{CONTAINER}.image": "high",
        "spec.replicas": "medium",
        "metadata.labels.tier": "low",
        f"{POD}.serviceAccountName": "critical",
    }
    item = only(items_for(role(["get", "list"]), role(["*"])))
    assert_item(item, path="rules", change="modified", level="critical")


# ------------------------------------------------------------------ through the whole scan


def write_yaml(path: Path, *documents: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))


def live_list(*objects: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "items": list(objects)}


async def scan_dirs(tmp_path: Path, settings: DriftSettings | None = None) -> Any:
    settings = settings or DriftSettings()
    desired = await load_desired(
        str(tmp_path / "git"), git=GitCli(), settings=settings, cache_dir=tmp_path / "cache"
    )
    live = await DumpState.load(tmp_path / "live", settings)
    return await scan(desired, live, settings)


async def test_scan_hpa_quantities_secret_and_keyed_lists_in_sync(tmp_path: Path) -> None:
    desired_deploy = deployment(
        {"resources": {"requests": {"cpu": 0.5, "memory": "1Gi"}}, "ports": [{"containerPort": 80}]}
    )
    hpa = copy.deepcopy(HPA)
    write_yaml(tmp_path / "git" / "app.yaml", desired_deploy, hpa)
    write_yaml(tmp_path / "git" / "secret.yaml", secret(stringData={"password": SECRET_CLEAR}))
    live_deploy = deployment(
        {
            "resources": {"requests": {"cpu": "500m", "memory": "1024Mi"}},
            "ports": [{"containerPort": 80, "protocol": "TCP"}],
        },
        replicas=8,
    )
    live_deploy["status"] = {"replicas": 8}
    write_yaml(
        tmp_path / "live" / "all.yaml",
        live_list(live_deploy, hpa, secret(type="Opaque", data={"password": b64(SECRET_CLEAR)})),
    )
    report = await scan_dirs(tmp_path)
    assert report.problems == []
    assert report.summary() == {
        "resources": 3,
        "in_sync": 3,
        "drifted": 0,
        "missing": 0,
        "extra": 0,
    }
    assert not report.has_drift
    ignored = {(i.path, i.reason) for i in report.items}
    assert ("spec.replicas", "replicas are managed by a HorizontalPodAutoscaler") in ignored


async def test_scan_reports_hand_edits_security_and_secret_changes(tmp_path: Path) -> None:
    env = [{"name": "A", "value": "1"}]
    write_yaml(
        tmp_path / "git" / "app.yaml",
        deployment({"env": env}),
        secret(stringData={"password": SECRET_CLEAR}),
    )
    live_deploy = deployment(
        {"env": [*env, {"name": "DEBUG", "value": "1"}]}, pod={"hostNetwork": True}
    )
    live_deploy["metadata"]["managedFields"] = [
        managed("kubectl-edit", container_fields({"f:env": {'k:{"name":"DEBUG"}': {}}}))
    ]
    write_yaml(
        tmp_path / "live" / "all.yaml",
        live_list(live_deploy, secret(type="Opaque", data={"password": b64(SECRET_OLD)})),
    )
    report = await scan_dirs(tmp_path)
    found = {(i.resource.kind, i.path, i.level.value, i.reason) for i in report.reported}
    assert found == {
        ("Deployment", f"{CONTAINER}.env[name=DEBUG]", "medium", "set by kubectl-edit, not in Git"),
        ("Deployment", f"{POD}.hostNetwork", "critical", "security-sensitive, not in Git"),
        ("Secret", "data.password", "high", ""),
    }
    assert report.summary()["drifted"] == 2
    assert_no_secret_text(report.to_json(show_ignored=True), SECRET_CLEAR, SECRET_OLD)
    assert {i.source_file for i in report.items} == {"app.yaml"}


def test_an_edit_to_a_default_looking_value_is_still_reported() -> None:
    # `kubectl edit` owns only what it changed, so `imagePullPolicy: Always` is a hand edit here,
    # while the same value owned by the creating client-side apply is the server's default.
    live = deployment({"imagePullPolicy": "Always"})
    live["metadata"]["managedFields"] = [
        managed("kubectl-edit", container_fields({"f:imagePullPolicy": {}}))
    ]
    item = only(items_for(deployment(), live))
    assert_item(
        item,
        path=f"{CONTAINER}.imagePullPolicy",
        change="added",
        level="medium",
        reason="set by kubectl-edit, not in Git",
    )
    live["metadata"]["managedFields"] = [
        managed("kubectl-client-side-apply", container_fields({"f:imagePullPolicy": {}}))
    ]
    assert items_for(deployment(), live) == []


def test_fields_the_server_derives_or_defaults_are_not_drift_for_a_client_side_apply() -> None:
    # Noise found by bench/drift.py on client-side-applied objects: kubectl-client-side-apply
    # is recorded as owning what the server filled in when it created the object.
    live = deployment(pod={"serviceAccountName": "web", "serviceAccount": "web"})
    live["metadata"]["annotations"] = {
        "argocd.argoproj.io/tracking-id": "shop:apps/Deployment:default/web"
    }
    live["metadata"]["managedFields"] = [
        managed(
            "kubectl-client-side-apply",
            {
                "f:metadata": {"f:annotations": {"f:argocd.argoproj.io/tracking-id": {}}},
                "f:spec": {"f:template": {"f:spec": {"f:serviceAccount": {}}}},
            },
        )
    ]
    items = items_for(deployment(pod={"serviceAccountName": "web"}), live)
    assert reported(items) == [], show(items)
    # A different derived value is a real difference.
    live["spec"]["template"]["spec"]["serviceAccount"] = "admin"
    assert [
        i.path for i in reported(items_for(deployment(pod={"serviceAccountName": "web"}), live))
    ] == [f"{POD}.serviceAccount"]

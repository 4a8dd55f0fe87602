"""The optional drift CronJob renders with `kubectl kustomize` and stays read-only: the scan
gets and lists, reads no Secret, and rollback (a component of the service) is not its to do."""

from __future__ import annotations

from awoooi.repair.actions import KubePermission
from tests.deploy.manifests import ROOT, one, render
from tests.helpers.rbac import role_grants


def test_the_cronjob_scans_hourly_with_read_only_rights() -> None:
    objects = render(ROOT / "drift-cronjob")
    kinds = sorted(obj["kind"] for obj in objects)
    assert kinds == ["ClusterRole", "ClusterRoleBinding", "CronJob", "ServiceAccount"]
    cron = one(objects, "CronJob", "awoooi-drift-scan")
    assert cron["spec"]["schedule"] == "0 * * * *"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "awoooi-drift"
    [container] = pod["containers"]
    assert container["args"][:4] == ["drift", "scan", "--cluster", "--save"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    granted = role_grants(one(objects, "ClusterRole", "awoooi-drift-read"))
    assert granted, "no rules rendered"
    assert {p.verb for p in granted} == {"get", "list"}
    assert not any(p.resource in {"secrets", "*"} for p in granted)
    binding = one(objects, "ClusterRoleBinding", "awoooi-drift-read")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "awoooi-drift", "namespace": "awoooi"}
    ]


def test_the_drift_read_role_lists_each_kind_once_per_group() -> None:
    role = one(render(ROOT / "drift-cronjob"), "ClusterRole", "awoooi-drift-read")
    pairs = [
        (group, resource)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    ]

    assert len(pairs) == len(set(pairs))
    assert KubePermission("apps", "deployments", "get") in role_grants(role)

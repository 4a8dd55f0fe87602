"""Target resolution for every owner kind, and the labels that must not pick the target."""

from __future__ import annotations

from pathlib import Path

import pytest

from awoooi.diagnosis.model import Target
from awoooi.diagnosis.source import DumpSource
from awoooi.diagnosis.target import (
    TargetNotFound,
    owner_chain,
    resolve,
    resolve_target,
    workload_of_pod,
)
from tests.diagnosis.dumps import Dump, container, template

# The scrape's own labels, as kube-state-metrics alerts carry them.
SCRAPE = {
    "instance": "10.8.0.14:8080",
    "job": "kube-state-metrics",
    "service": "prometheus-kube-state-metrics",
    "endpoint": "http",
    "prometheus": "monitoring/prometheus-k8s",
}


@pytest.fixture
def source(tmp_path: Path) -> DumpSource:
    d = Dump(tmp_path / "cluster")
    d.node("node-1")
    d.node("node-2")
    tmpl = template(container("api"))
    dep = d.deployment("shop", "api")
    rs = d.replicaset(dep, tmpl, revision=3)
    d.pod(rs, f"{rs['metadata']['name']}-x7k2p")
    sts = d.statefulset("shop", "db", template(container("db")))
    d.pod(sts, "db-0")
    ds = d.daemonset("shop", "agent", template(container("agent")))
    d.pod(ds, "agent-k9z2m")
    cron = d.cronjob("shop", "report", template(container("report")))
    job = d.job("shop", "report-29580850", template(container("report")), cronjob=cron)
    d.pod(job, "report-29580850-q8vtz")
    d.job("shop", "migrate", template(container("migrate")))
    d.pod(None, "debug", ns="shop", tmpl=template(container("debug")))
    static = d.pod(None, "etcd-node-1", ns="kube-system", tmpl=template(container("etcd")))
    static["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "Node", "name": "node-1", "uid": "n", "controller": True}
    ]
    d.hpa("shop", "api-hpa", dep, min_r=2, max_r=10, current=4, utilization=50)
    d.pvc("shop", "data-db-0")
    d.spaces["shop"]["pods"][1]["spec"]["volumes"] = [
        {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}}
    ]
    gone = d.job("shop", "cleanup", template(container("c")))
    d.event(gone, "BackoffLimitExceeded", "Job has reached the specified backoff limit")
    d.spaces["shop"]["jobs"].remove(gone)  # deleted (TTL), its event remains
    return DumpSource(d.write())


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"pod": "db-0"}, Target("StatefulSet", "shop", "db")),
        ({"pod": "agent-k9z2m"}, Target("DaemonSet", "shop", "agent")),
        ({"pod": "report-29580850-q8vtz"}, Target("Job", "shop", "report-29580850")),
        ({"pod": "debug"}, Target("Pod", "shop", "debug")),
        ({"deployment": "api"}, Target("Deployment", "shop", "api")),
        ({"statefulset": "db"}, Target("StatefulSet", "shop", "db")),
        ({"daemonset": "agent"}, Target("DaemonSet", "shop", "agent")),
        ({"job_name": "migrate"}, Target("Job", "shop", "migrate")),
        ({"job_name": "cleanup"}, Target("Job", "shop", "cleanup")),  # gone, known from events
        ({"cronjob": "report"}, Target("CronJob", "shop", "report")),
        ({"horizontalpodautoscaler": "api-hpa"}, Target("Deployment", "shop", "api")),
        ({"persistentvolumeclaim": "data-db-0"}, Target("StatefulSet", "shop", "db")),
    ],
)
async def test_labels_resolve_to_the_top_level_controller(
    source: DumpSource, labels: dict[str, str], expected: Target
) -> None:
    assert await resolve_target({**SCRAPE, "namespace": "shop", **labels}, source) == expected


async def test_a_deployment_pod_resolves_through_its_replicaset(source: DumpSource) -> None:
    pod = next(
        p["metadata"]["name"]
        for p in await source.list_objects("Pod", "shop")
        if p["metadata"]["name"].startswith("api-")
    )

    resolution = await resolve(
        {**SCRAPE, "namespace": "shop", "pod": pod, "container": "api"}, source
    )

    assert resolution.target == Target("Deployment", "shop", "api")
    assert [ref.kind for ref in resolution.chain] == ["Pod", "ReplicaSet", "Deployment"]
    assert resolution.pod == pod
    assert resolution.container == "api"


async def test_a_pod_gone_from_the_dump_resolves_by_its_generated_name(source: DumpSource) -> None:
    rs = next(r["metadata"]["name"] for r in await source.list_objects("ReplicaSet", "shop"))

    target = await resolve_target({"namespace": "shop", "pod": f"{rs}-zzzzz"}, source)
    sts_target = await resolve_target({"namespace": "shop", "pod": "db-7"}, source)

    assert target == Target("Deployment", "shop", "api")
    assert sts_target == Target("StatefulSet", "shop", "db")


async def test_names_lead_to_deployments_and_cronjob_runs_whose_children_are_gone(
    source: DumpSource,
) -> None:
    pod_target = await resolve_target({"namespace": "shop", "pod": "api-5f7d9c8b4x-q2w4z"}, source)
    job_target = await resolve_target({"namespace": "shop", "job_name": "report-29580999"}, source)

    assert pod_target == Target("Deployment", "shop", "api")
    assert job_target == Target("Job", "shop", "report-29580999")


async def test_a_static_pod_owned_by_its_node_is_the_target(source: DumpSource) -> None:
    target = await resolve_target({"namespace": "kube-system", "pod": "etcd-node-1"}, source)

    assert target == Target("Pod", "kube-system", "etcd-node-1")


async def test_a_node_label_names_a_cluster_scoped_target(source: DumpSource) -> None:
    target = await resolve_target({**SCRAPE, "node": "node-2"}, source)

    assert target == Target("Node", "", "node-2")
    assert target.to_json() == {"kind": "Node", "namespace": "", "name": "node-2"}


async def test_exported_labels_win_over_the_scrapes_own(source: DumpSource) -> None:
    labels = {
        **SCRAPE,
        "namespace": "monitoring",
        "exported_namespace": "shop",
        "deployment": "api",
    }

    assert await resolve_target(labels, source) == Target("Deployment", "shop", "api")


async def test_scrape_labels_never_pick_the_target(source: DumpSource) -> None:
    # `job` is the scrape job and `service` the exporter's Service: neither is a workload.
    with pytest.raises(TargetNotFound, match="name no pod, workload or node"):
        await resolve_target({**SCRAPE, "namespace": "shop", "job": "migrate"}, source)


@pytest.mark.parametrize(
    ("labels", "reason"),
    [
        ({"namespace": "shop", "pod": "nothing-like-it"}, "no pod shop/nothing-like-it"),
        ({"namespace": "shop", "deployment": "ghost"}, "no Deployment shop/ghost"),
        ({"pod": "debug"}, "no namespace"),
        ({"node": "node-9"}, "no node node-9"),
    ],
)
async def test_a_missing_target_is_a_one_line_reason(
    source: DumpSource, labels: dict[str, str], reason: str
) -> None:
    with pytest.raises(TargetNotFound, match=reason) as caught:
        await resolve_target(labels, source)
    assert "\n" not in caught.value.detail


async def test_workload_of_pod_for_repairs(source: DumpSource) -> None:
    assert await workload_of_pod(source, "shop", "db-0") == Target("StatefulSet", "shop", "db")
    assert await workload_of_pod(source, "shop", "nope") is None


async def test_owner_chain_can_go_through_the_cronjob(source: DumpSource) -> None:
    pod = await source.get_object("Pod", "shop", "report-29580850-q8vtz")
    assert pod is not None

    plain = await owner_chain(source, pod)
    through = await owner_chain(source, pod, through_cronjob=True)

    assert plain[-1] == Target("Job", "shop", "report-29580850")
    assert through[-1] == Target("CronJob", "shop", "report")

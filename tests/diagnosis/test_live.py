"""KubeSource: the live cluster through the kube adapter, against the API stand-in (events, logs
with previous=true, ReplicaSet revisions, Secrets as key names), and the same investigation as
from a dump of the same objects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from awoooi.adapters.kube import KubeError
from awoooi.adapters.lightkube_client import LightkubeClient
from awoooi.diagnosis.alert import load_alert
from awoooi.diagnosis.errors import DiagnosisInputError
from awoooi.diagnosis.live import KubeSource, SourceLimitExceeded
from awoooi.diagnosis.service import investigate
from awoooi.diagnosis.source import ClusterSource, DumpSource
from tests.diagnosis.dumps import Dump, container, exited, template, waiting
from tests.diagnosis.live_cluster import load_dump
from tests.diagnosis.test_scenarios import FOUND
from tests.helpers.fake_kube import InMemoryKube
from tests.helpers.kube_api import FakeKubeAPI

SECRET = "Zx9-super-Secret-Value-71"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


@pytest.fixture
def source(kube: LightkubeClient) -> KubeSource:
    return KubeSource(kube, kube)


def shop(root: Path) -> tuple[Dump, dict[str, str]]:
    """A Deployment whose revision 2 changed an env value and crash-loops; the alert's labels."""
    d = Dump(root)
    d.node("node-1")
    dep = d.deployment("shop", "cart", replicas=2, ready=1)
    good = template(container("cart", "registry.example.com/cart:1.4.0", env={"MODE": "a"}))
    bad = template(
        container(
            "cart",
            "registry.example.com/cart:1.4.0",
            env={"MODE": "b", "DB_PASSWORD": SECRET},
        )
    )
    d.replicaset(dep, good, revision=1, created=-60 * 24, replicas=1, ready=1)
    rs = d.replicaset(dep, bad, revision=2, created=-20, replicas=1, ready=0)
    pod = d.pod(
        rs,
        f"{rs['metadata']['name']}-x7k2p",
        statuses={"cart": waiting("CrashLoopBackOff", restarts=5, last=exited("Error", 1, at=-2))},
    )
    d.event(pod, "BackOff", "Back-off restarting failed container cart in pod cart", count=30)
    d.event(d.nodes[0], "NodeReady", "Node node-1 status is now: NodeReady", type_="Normal")
    d.log(pod, "cart", ["starting cart", "FATAL: unknown MODE 'b'"])
    d.previous_log(pod, "cart", ["starting cart", f"using password {SECRET}", "exit 1"])
    secret = d.secret("shop", "cart-db", {"password": SECRET, "user": "cart"})
    secret["metadata"]["annotations"] = {LAST_APPLIED: json.dumps({"data": {"p": SECRET}})}
    d.configmap("shop", "cart-flags", {"flags.yaml": f"token: {SECRET}"})
    labels = {
        "alertname": "KubePodCrashLooping",
        "namespace": "shop",
        "pod": pod["metadata"]["name"],
    }
    return d, labels


@pytest.fixture
def cluster(api: FakeKubeAPI, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    d, labels = shop(tmp_path / "dump")
    root = d.write()
    load_dump(api, root)
    return root, labels


# -- the ClusterSource calls -------------------------------------------------------------------


async def test_events_come_with_kind_and_are_read_once(
    api: FakeKubeAPI, source: KubeSource, cluster: tuple[Path, dict[str, str]]
) -> None:
    assert isinstance(source, ClusterSource)

    events = await source.list_objects("Event", "shop")
    again = await source.list_objects("Event", "shop")
    nodes = await source.list_objects("Node")

    assert [(e["kind"], e["apiVersion"], e["reason"]) for e in events] == [
        ("Event", "v1", "BackOff")
    ]
    assert again == events
    assert [n["metadata"]["name"] for n in nodes] == ["node-1"]
    assert len(api.requests_to("GET", "/api/v1/namespaces/shop/events")) == 1
    assert "managedFields" not in events[0]["metadata"]


async def test_get_object_uses_a_list_already_read(
    api: FakeKubeAPI, source: KubeSource, cluster: tuple[Path, dict[str, str]]
) -> None:
    pods = await source.list_objects("Pod")  # every namespace
    name = pods[0]["metadata"]["name"]

    assert await source.get_object("Pod", "shop", name) == pods[0]
    assert await source.get_object("Pod", "shop", "missing-pod") is None
    assert await source.get_object("Pod", None, name) is None  # namespaced: no guess
    assert [r.path for r in api.requests if "/pods" in r.path] == ["/api/v1/pods"]
    # Without a list, one GET per object, remembered (a missing one too).
    assert await source.get_object("Deployment", "shop", "nope") is None
    assert await source.get_object("Deployment", "shop", "nope") is None
    assert len(api.requests_to("GET", "/apis/apps/v1/namespaces/shop/deployments/nope")) == 1


async def test_previous_logs_and_bounds(
    api: FakeKubeAPI, source: KubeSource, cluster: tuple[Path, dict[str, str]]
) -> None:
    _, labels = cluster
    pod = labels["pod"]

    current = await source.read_log("shop", pod, "cart")
    previous = await source.read_log("shop", pod, "cart", previous=True, max_lines=2)

    assert current == "starting cart\nFATAL: unknown MODE 'b'"
    assert previous == f"using password {SECRET}\nexit 1"  # the source bounds, redaction is later
    request = api.requests_to("GET", f"/api/v1/namespaces/shop/pods/{pod}/log")[-1]
    assert request.query["previous"] == "true"
    assert request.query["tailLines"] == "2"
    assert await source.read_log("shop", pod, "sidecar") is None  # no such container
    assert await source.read_log("shop", "gone-x7k2p", "cart", previous=True) is None


async def test_a_log_larger_than_one_fetch_keeps_its_newest_lines(api: FakeKubeAPI) -> None:
    kube = InMemoryKube()
    kube.set_log("shop", "p", "c", "".join(f"{n:04d} " + "x" * 90 + "\n" for n in range(100)))
    source = KubeSource(kube, kube, max_log_fetch_bytes=1_000)

    text = await source.read_log("shop", "p", "c", max_lines=50, max_bytes=10_000)

    assert text is not None
    assert text.splitlines()[-1].startswith("0099 ")  # the newest line survived the cut
    assert len(text.encode()) < 1_000
    fetches = [verb for verb, _ in kube.calls if verb == "read_log"]
    assert len(fetches) > 1  # asked again with fewer lines


async def test_lines_and_bytes_are_bounded_like_the_dump_source() -> None:
    kube = InMemoryKube()
    kube.set_log("ns", "p", "c", "short\n" + "y" * 10_000 + "\nlast\n")
    source = KubeSource(kube, kube)

    text = await source.read_log("ns", "p", "c", max_lines=2, max_bytes=5_000)

    assert text is not None
    long_line, last = text.splitlines()
    assert long_line.endswith(" …[line cut]")
    assert last == "last"


async def test_an_unreachable_kubelet_leaves_the_log_out_but_forbidden_is_an_error(
    api: FakeKubeAPI, source: KubeSource, cluster: tuple[Path, dict[str, str]]
) -> None:
    pod = cluster[1]["pod"]
    api.fail_next(500, "Get https://10.0.0.7:10250/containerLogs: dial tcp: i/o timeout")
    assert await source.read_log("shop", pod, "cart") is None

    api.fail_next(403, 'pods "x" is forbidden: cannot get resource "pods/log"')
    with pytest.raises(KubeError, match="forbidden"):
        await source.read_log("shop", pod, "cart")


async def test_secret_values_never_leave_the_source(
    kube: LightkubeClient, source: KubeSource, cluster: tuple[Path, dict[str, str]]
) -> None:
    listed = await source.list_objects("Secret", "shop")
    got = await source.get_object("Secret", "shop", "cart-db")
    config = await source.get_object("ConfigMap", "shop", "cart-flags")
    single = await KubeSource(kube, kube).get_object("Secret", "shop", "cart-db")  # a GET

    assert listed[0]["data"] == {"password": "", "user": ""}
    assert got == listed[0]
    assert single is not None
    assert single["data"] == {"password": "", "user": ""}
    assert config is not None
    assert config["data"] == {"flags.yaml": ""}
    assert LAST_APPLIED not in json.dumps(listed)
    assert SECRET not in json.dumps([listed, got, single, config])


async def test_replicaset_revisions_reach_the_rollout_evidence(
    source: KubeSource, cluster: tuple[Path, dict[str, str]]
) -> None:
    _, labels = cluster

    inv = await investigate(source, labels)

    texts = "\n".join(e.text for e in inv.evidence)
    assert "revision 2" in texts
    assert "revision 1" in texts
    assert "MODE" in texts
    assert SECRET not in json.dumps(inv.to_json())


async def test_unserved_kinds_are_empty_and_bad_names_refused(source: KubeSource) -> None:
    assert await source.list_objects("PersistentVolume") == []
    assert await source.get_object("StorageClass", None, "fast") is None
    assert await source.get_object("Pod", "shop", "../etc") is None
    with pytest.raises(DiagnosisInputError, match="not a Kubernetes object name"):
        await source.list_objects("Pod", "a/b")


async def test_a_list_over_the_limit_is_refused_not_cut(api: FakeKubeAPI, kube: Any) -> None:
    for n in range(4):
        api.add({"kind": "Pod", "metadata": {"name": f"p{n}", "namespace": "big"}})

    with pytest.raises(SourceLimitExceeded, match="more than 3 Pod objects in big"):
        await KubeSource(kube, kube, max_list_items=3).list_objects("Pod", "big")
    assert len(await KubeSource(kube, kube, max_list_items=4).list_objects("Pod", "big")) == 4


# -- live and dump agree -----------------------------------------------------------------------


async def test_the_live_source_and_the_dump_give_the_same_investigation(
    source: KubeSource, cluster: tuple[Path, dict[str, str]]
) -> None:
    root, labels = cluster

    live = await investigate(source, labels)
    dumped = await investigate(DumpSource(root), labels)

    assert live.to_json() == dumped.to_json()
    assert live.findings


@pytest.mark.skipif(not FOUND, reason="no diagnosis scenarios")
@pytest.mark.parametrize("case", FOUND, ids=[p.name for p in FOUND])
async def test_every_scenario_reads_the_same_live(case: Path) -> None:
    alert = load_alert((case / "alert.json").read_text())
    expect = json.loads((case / "expect.json").read_text())
    with FakeKubeAPI() as api:
        load_dump(api, case / "cluster")
        client = LightkubeClient.connect(server=api.url, timeout=10.0)
        try:
            live = await investigate(KubeSource(client, client), alert.labels, at=alert.starts_at)
        finally:
            await client.aclose()
    dumped = await investigate(DumpSource(case / "cluster"), alert.labels, at=alert.starts_at)

    assert live.to_json() == dumped.to_json()
    shown = json.dumps(live.to_json())
    for secret in expect.get("secrets", []):
        assert secret not in shown

"""write_dump: the live cluster (through the API stand-in) written in the layout DumpSource reads,
replaying the same investigation, with no Secret value in any file and a safe target directory."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from awoooi.adapters.kube import KubeError
from awoooi.adapters.lightkube_client import LightkubeClient
from awoooi.diagnosis.alert import load_alert
from awoooi.diagnosis.dump_files import MARKER, DumpTargetError
from awoooi.diagnosis.dump_writer import NAMESPACED_KINDS, write_dump
from awoooi.diagnosis.kinds import kind_info
from awoooi.diagnosis.live import KubeSource
from awoooi.diagnosis.service import investigate
from awoooi.diagnosis.source import DumpSource
from tests.diagnosis.dumps import Dump, container, exited, template, waiting
from tests.diagnosis.live_cluster import load_dump
from tests.diagnosis.test_scenarios import FOUND
from tests.helpers.kube_api import FakeKubeAPI

VALUE = "Vault-Only-Value-9931"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def cluster(root: Path) -> tuple[Path, dict[str, str]]:
    """shop/cart crash-looping after a config change, a healthy ops namespace, a node event."""
    d = Dump(root)
    node = d.node("node-1")
    dep = d.deployment("shop", "cart", replicas=1)
    rs = d.replicaset(
        dep,
        template(
            container("cart", env_refs=[_secret_ref("cart-db", "password")]),
            container("proxy", "envoy:1.30"),
        ),
        revision=3,
        replicas=1,
        ready=0,
    )
    pod = d.pod(
        rs,
        f"{rs['metadata']['name']}-q8w2z",
        statuses={
            "cart": waiting("CrashLoopBackOff", restarts=3, last=exited("Error", 2, at=-1)),
        },
    )
    d.log(pod, "cart", ["boot", "error: cannot parse /etc/cart/config.yaml: line 3"])
    d.log(pod, "proxy", ["proxy ready"])
    d.previous_log(pod, "cart", ["boot", "error: cannot parse /etc/cart/config.yaml: line 3"])
    d.event(pod, "BackOff", "Back-off restarting failed container cart", count=12)
    d.event(node, "NodeHasSufficientMemory", "Node node-1 status is now: NodeHasSufficientMemory")
    secret = d.secret("shop", "cart-db", {"password": VALUE, "user": "cart"})
    secret["metadata"]["annotations"] = {LAST_APPLIED: json.dumps({"stringData": {"p": VALUE}})}
    d.configmap("shop", "cart-config", {"config.yaml": f"dsn: postgres://cart:{VALUE}@db"})
    ops = d.deployment("ops", "exporter", replicas=1, ready=1)
    ops_rs = d.replicaset(ops, template(container("exporter")), revision=1, replicas=1)
    d.pod(ops_rs, f"{ops_rs['metadata']['name']}-b4c5d")
    labels = {
        "alertname": "KubePodCrashLooping",
        "namespace": "shop",
        "pod": pod["metadata"]["name"],
    }
    return d.write(), labels


def _secret_ref(name: str, key: str) -> dict[str, object]:
    return {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": name, "key": key}}}


def all_text(root: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(root.rglob("*")) if p.is_file())


async def test_the_dump_has_the_layout_dump_source_reads(
    api: FakeKubeAPI, kube: LightkubeClient, tmp_path: Path
) -> None:
    original, _ = cluster(tmp_path / "original")
    load_dump(api, original)

    summary = await write_dump(KubeSource(kube, kube, cache=False), tmp_path / "out")

    out = tmp_path / "out"
    assert summary.directory == out
    assert summary.namespaces == ["default", "ops", "shop"]
    plurals = {f"{kind_info(kind).plural}.json" for kind in NAMESPACED_KINDS}
    assert {p.name for p in (out / "shop").glob("*.json")} == plurals
    pods = json.loads((out / "shop" / "pods.json").read_text())
    assert (pods["kind"], pods["apiVersion"]) == ("PodList", "v1")
    assert all("kind" not in item and "apiVersion" not in item for item in pods["items"])
    hpas = json.loads((out / "shop" / "horizontalpodautoscalers.json").read_text())
    assert (hpas["apiVersion"], hpas["items"]) == ("autoscaling/v2", [])
    assert json.loads((out / "nodes.json").read_text())["kind"] == "NodeList"
    pod = pods["items"][0]["metadata"]["name"]
    logs = (out / "shop" / pod / "logs.txt").read_text()
    assert logs.startswith(f"==== START logs for container cart of pod shop/{pod} ====\n")
    assert f"==== END logs for container proxy of pod shop/{pod} ====\n" in logs
    previous = (out / "shop" / pod / "logs-cart-previous.txt").read_text()
    assert previous == "boot\nerror: cannot parse /etc/cart/config.yaml: line 3\n"
    assert not (out / "shop" / pod / "logs-proxy-previous.txt").exists()  # never restarted
    marker = json.loads((out / MARKER).read_text())
    assert marker["kind"] == "AwoooiClusterDump"
    assert marker["namespaces"] == "all"
    assert all(r.method == "GET" for r in api.requests)
    assert (out.stat().st_mode & 0o077) == 0  # owner-only: logs are in there


async def test_no_secret_or_configmap_value_is_written(
    api: FakeKubeAPI, kube: LightkubeClient, tmp_path: Path
) -> None:
    original, _ = cluster(tmp_path / "original")
    load_dump(api, original)

    await write_dump(KubeSource(kube, kube, cache=False), tmp_path / "out")

    secrets = json.loads((tmp_path / "out" / "shop" / "secrets.json").read_text())
    assert secrets["items"][0]["data"] == {"password": "", "user": ""}
    text = all_text(tmp_path / "out")
    assert VALUE not in text
    assert LAST_APPLIED not in text


async def test_the_dump_replays_the_live_investigation(
    api: FakeKubeAPI, kube: LightkubeClient, tmp_path: Path
) -> None:
    original, labels = cluster(tmp_path / "original")
    load_dump(api, original)
    await write_dump(KubeSource(kube, kube, cache=False), tmp_path / "out")

    live = await investigate(KubeSource(kube, kube), labels)
    replayed = await investigate(DumpSource(tmp_path / "out"), labels)

    assert replayed.to_json() == live.to_json()
    assert live.findings


@pytest.mark.skipif(not FOUND, reason="no diagnosis scenarios")
@pytest.mark.parametrize("case", FOUND, ids=[p.name for p in FOUND])
async def test_every_scenario_replays_from_its_awoooi_dump(case: Path, tmp_path: Path) -> None:
    alert = load_alert((case / "alert.json").read_text())
    with FakeKubeAPI() as api:
        load_dump(api, case / "cluster")
        client = LightkubeClient.connect(server=api.url, timeout=10.0)
        try:
            await write_dump(KubeSource(client, client, cache=False), tmp_path / "dump")
        finally:
            await client.aclose()
    expect = json.loads((case / "expect.json").read_text())

    replayed = await investigate(DumpSource(tmp_path / "dump"), alert.labels, at=alert.starts_at)
    original = await investigate(DumpSource(case / "cluster"), alert.labels, at=alert.starts_at)

    assert replayed.to_json() == original.to_json()
    written = all_text(tmp_path / "dump")
    for secret_file in (case / "cluster").glob("*/secrets.json"):
        for item in json.loads(secret_file.read_text())["items"]:
            for value in (item.get("data") or {}).values():
                assert value not in written
    assert expect["target"]["name"] in written


async def test_chosen_namespaces_only_with_the_node_events(
    api: FakeKubeAPI, kube: LightkubeClient, tmp_path: Path
) -> None:
    original, labels = cluster(tmp_path / "original")
    load_dump(api, original)

    summary = await write_dump(
        KubeSource(kube, kube, cache=False), tmp_path / "out", namespaces=["shop"]
    )

    out = tmp_path / "out"
    assert summary.namespaces == ["shop"]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["default", "shop"]
    assert [p.name for p in (out / "default").iterdir()] == ["events.json"]
    events = json.loads((out / "default" / "events.json").read_text())["items"]
    assert {e["involvedObject"]["kind"] for e in events} == {"Node"}
    replayed = await investigate(DumpSource(out), labels)
    assert replayed.to_json() == (await investigate(KubeSource(kube, kube), labels)).to_json()


async def test_log_bounds_apply(api: FakeKubeAPI, kube: LightkubeClient, tmp_path: Path) -> None:
    original, _ = cluster(tmp_path / "original")
    load_dump(api, original)
    pod = next(p for p in (original / "shop").iterdir() if p.is_dir()).name
    api.set_log("shop", pod, "proxy", "".join(f"line {n}\n" for n in range(50)))

    await write_dump(KubeSource(kube, kube, cache=False), tmp_path / "out", log_lines=3)

    blocks = (tmp_path / "out" / "shop" / pod / "logs.txt").read_text()
    assert "line 46" not in blocks
    assert "line 47\nline 48\nline 49\n==== END" in blocks


# -- the target directory ----------------------------------------------------------------------


async def test_a_directory_with_other_files_is_refused_before_reading(
    api: FakeKubeAPI, kube: LightkubeClient, tmp_path: Path
) -> None:
    target = tmp_path / "notes"
    target.mkdir()
    (target / "todo.txt").write_text("keep me")

    with pytest.raises(DumpTargetError, match="not empty and holds no earlier awoooi dump"):
        await write_dump(KubeSource(kube, kube), target)

    assert (target / "todo.txt").read_text() == "keep me"
    assert api.requests == []


async def test_a_symlinked_target_or_a_file_is_refused(
    kube: LightkubeClient, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "link").symlink_to(elsewhere)
    (tmp_path / "file").write_text("x")

    with pytest.raises(DumpTargetError, match="symlink"):
        await write_dump(KubeSource(kube, kube), tmp_path / "link")
    with pytest.raises(DumpTargetError, match="not a directory"):
        await write_dump(KubeSource(kube, kube), tmp_path / "file")
    with pytest.raises(DumpTargetError, match="invalid namespace"):
        await write_dump(KubeSource(kube, kube), tmp_path / "new", namespaces=["../etc"])
    assert list(elsewhere.iterdir()) == []


async def test_an_earlier_dump_is_replaced_whole_and_kept_when_a_dump_fails(
    api: FakeKubeAPI, kube: LightkubeClient, tmp_path: Path
) -> None:
    original, _ = cluster(tmp_path / "original")
    load_dump(api, original)
    target = tmp_path / "out"
    await write_dump(KubeSource(kube, kube, cache=False), target, namespaces=["ops"])
    (target / "ops" / "stale.json").write_text("{}")

    api.fail_next(500, "etcdserver: request timed out", method="GET")
    with pytest.raises(KubeError, match="request timed out"):
        await write_dump(KubeSource(kube, kube, cache=False), target)
    assert (target / "ops" / "stale.json").exists()  # the earlier dump is intact
    assert sorted(os.listdir(tmp_path)) == ["original", "out"]  # no staging left behind

    await write_dump(KubeSource(kube, kube, cache=False), target)
    assert not (target / "ops" / "stale.json").exists()
    assert (target / "shop" / "pods.json").exists()
    assert sorted(os.listdir(tmp_path)) == ["original", "out"]


async def test_an_empty_directory_is_used(
    api: FakeKubeAPI, kube: LightkubeClient, tmp_path: Path
) -> None:
    target = tmp_path / "empty"
    target.mkdir()

    summary = await write_dump(KubeSource(kube, kube), target)

    assert summary.namespaces == []
    assert sorted(p.name for p in target.iterdir()) == [MARKER, "nodes.json"]

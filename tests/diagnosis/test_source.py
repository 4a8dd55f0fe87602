"""DumpSource: the `cluster-info dump` layout, logs (current and previous), and its refusals."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from awoooi.diagnosis.errors import DumpError
from awoooi.diagnosis.source import ClusterSource, DumpSource
from tests.diagnosis.dumps import Dump, container, template


@pytest.fixture
def dump(tmp_path: Path) -> Path:
    d = Dump(tmp_path / "cluster")
    d.node("node-1")
    dep = d.deployment("shop", "web")
    rs = d.replicaset(dep, template(container("web"), container("sidecar")), revision=1)
    pod = d.pod(rs, "web-abc12")
    d.log(pod, "web", ["one", "two", "three"])
    d.log(pod, "sidecar", ["side"])
    d.previous_log(pod, "web", ["old run", "panic: boom"])
    d.secret("shop", "db", {"password": "s3cr3t-Value-123", "user": "app"})
    d.configmap("shop", "flags", {"feature.yaml": "enabled: true"})
    return d.write()


async def test_lists_carry_kind_and_api_version_from_the_list(dump: Path) -> None:
    source = DumpSource(dump)
    assert isinstance(source, ClusterSource)

    pods = await source.list_objects("Pod", "shop")
    replicasets = await source.list_objects("ReplicaSet")  # every namespace

    assert [(p["kind"], p["apiVersion"], p["metadata"]["name"]) for p in pods] == [
        ("Pod", "v1", "web-abc12")
    ]
    assert replicasets[0]["kind"] == "ReplicaSet"
    assert replicasets[0]["apiVersion"] == "apps/v1"
    assert (await source.list_objects("Node"))[0]["metadata"]["name"] == "node-1"
    assert await source.list_objects("StatefulSet", "shop") == []  # no file: none
    assert await source.list_objects("Pod", "nowhere") == []


async def test_get_object_by_name(dump: Path) -> None:
    source = DumpSource(dump)

    assert (await source.get_object("Pod", "shop", "web-abc12"))["metadata"]["name"] == "web-abc12"
    assert await source.get_object("Pod", "shop", "missing") is None
    assert await source.get_object("Node", None, "node-1") is not None
    assert await source.get_object("Pod", None, "web-abc12") is None


async def test_secrets_and_configmaps_keep_key_names_only(dump: Path) -> None:
    source = DumpSource(dump)

    secret = await source.get_object("Secret", "shop", "db")
    configmap = await source.get_object("ConfigMap", "shop", "flags")

    assert secret["data"] == {"password": "", "user": ""}
    assert configmap["data"] == {"feature.yaml": ""}
    assert "s3cr3t" not in json.dumps(await source.list_objects("Secret"))


async def test_secret_last_applied_annotation_is_dropped(tmp_path: Path) -> None:
    (tmp_path / "ns").mkdir()
    manifest = json.dumps({"kind": "Secret", "stringData": {"token": "tok-very-secret"}})
    (tmp_path / "ns" / "secrets.json").write_text(
        json.dumps(
            {
                "kind": "SecretList",
                "apiVersion": "v1",
                "items": [
                    {
                        "metadata": {
                            "name": "s",
                            "annotations": {
                                "kubectl.kubernetes.io/last-applied-configuration": manifest,
                                "team": "a",
                            },
                        },
                        "stringData": {"token": "tok-very-secret"},
                    }
                ],
            }
        )
    )

    secret = await DumpSource(tmp_path).get_object("Secret", "ns", "s")

    assert "tok-very-secret" not in json.dumps(secret)
    assert secret["metadata"]["annotations"] == {"team": "a"}


async def test_logs_come_from_the_containers_block(dump: Path) -> None:
    source = DumpSource(dump)

    assert await source.read_log("shop", "web-abc12", "web") == "one\ntwo\nthree"
    assert await source.read_log("shop", "web-abc12", "sidecar") == "side"
    assert await source.read_log("shop", "web-abc12", "nope") is None
    assert await source.read_log("shop", "gone-pod", "web") is None


async def test_previous_logs_come_from_their_own_file(dump: Path) -> None:
    source = DumpSource(dump)

    assert (
        await source.read_log("shop", "web-abc12", "web", previous=True) == "old run\npanic: boom"
    )
    assert await source.read_log("shop", "web-abc12", "sidecar", previous=True) is None


async def test_logs_are_bounded_in_lines_bytes_and_line_length(tmp_path: Path) -> None:
    pod_dir = tmp_path / "ns" / "p"
    pod_dir.mkdir(parents=True)
    lines = [f"line {n}" for n in range(10_000)] + ["x" * 50_000, "last"]
    block = "\n".join(lines)
    (pod_dir / "logs.txt").write_text(
        f"==== START logs for container c of pod ns/p ====\n{block}\n"
        "==== END logs for container c of pod ns/p ====\n"
    )
    source = DumpSource(tmp_path)

    tail = await source.read_log("ns", "p", "c", max_lines=3, max_bytes=100_000)
    small = await source.read_log("ns", "p", "c", max_lines=1000, max_bytes=500)

    assert tail is not None
    assert small is not None
    assert tail.splitlines()[0] == "line 9999"
    assert tail.splitlines()[-1] == "last"
    assert "line cut" in tail.splitlines()[1]
    assert len(tail.splitlines()[1]) < 2100
    assert len(small.encode()) <= 500
    assert small.endswith("last")


async def test_a_huge_log_file_is_scanned_from_its_end(tmp_path: Path) -> None:
    pod_dir = tmp_path / "ns" / "p"
    pod_dir.mkdir(parents=True)
    (pod_dir / "logs-c-previous.txt").write_text("early\n" * 200_000 + "the end\n")
    source = DumpSource(tmp_path, max_log_scan_bytes=10_000)

    text = await source.read_log("ns", "p", "c", previous=True, max_lines=2)

    assert text == "early\nthe end"


@pytest.mark.parametrize(
    ("namespace", "pod", "container_name"),
    [
        ("..", "p", "c"),
        ("ns", "..", "c"),
        ("ns/../..", "p", "c"),
        ("ns", "p", "../../etc/passwd"),
        ("/etc", "p", "c"),
    ],
)
async def test_paths_that_leave_the_root_are_refused(
    dump: Path, namespace: str, pod: str, container_name: str
) -> None:
    with pytest.raises(DumpError):
        await DumpSource(dump).read_log(namespace, pod, container_name)


async def test_a_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "pods.json").write_text(
        '{"kind": "PodList", "items": [{"metadata": {"name": "x"}}]}'
    )
    root = tmp_path / "dump"
    root.mkdir()
    os.symlink(outside, root / "evil")

    with pytest.raises(DumpError, match="outside"):
        await DumpSource(root).list_objects("Pod", "evil")


async def test_bad_json_is_a_clear_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "ns").mkdir()
    (tmp_path / "ns" / "pods.json").write_text('{"kind": "PodList", "items": [')

    with pytest.raises(DumpError, match=r"ns/pods.json is not valid JSON"):
        await DumpSource(tmp_path).list_objects("Pod", "ns")


async def test_a_file_that_is_not_a_list_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ns").mkdir()
    (tmp_path / "ns" / "pods.json").write_text('{"items": 5}')

    with pytest.raises(DumpError, match="not a Kubernetes List"):
        await DumpSource(tmp_path).list_objects("Pod", "ns")


async def test_files_over_the_size_cap_are_refused(dump: Path) -> None:
    with pytest.raises(DumpError, match="byte limit"):
        await DumpSource(dump, max_list_bytes=10).list_objects("Pod", "shop")


def test_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DumpError, match="no cluster dump directory"):
        DumpSource(tmp_path / "nope")

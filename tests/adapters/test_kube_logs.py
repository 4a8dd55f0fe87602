"""LogReader: container logs through pods/log, and the API stand-in's log answers (the real
server's: tailLines then limitBytes, 400 for a previous run that never happened)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from awoooi.adapters.kube import KubeError, KubeKindNotServed, LogReader
from awoooi.adapters.lightkube_client import LightkubeClient
from tests.helpers.fake_kube import InMemoryKube
from tests.helpers.kube_api import FakeKubeAPI, make_pod

NS = "prod"
POD = "web-7d9f8-x2x4q"
LOG_PATH = f"/api/v1/namespaces/{NS}/pods/{POD}/log"


def crashing_pod(**status: Any) -> dict[str, Any]:
    """A pod with an app container in CrashLoopBackOff (it ran before) and a sidecar."""
    pod = make_pod(POD, NS)
    pod["spec"]["containers"] = [
        {"name": "web", "image": "web:2"},
        {"name": "proxy", "image": "envoy:1.30"},
    ]
    pod["status"] = {
        "phase": "Running",
        "containerStatuses": [
            {
                "name": "web",
                "restartCount": 4,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
            },
            {"name": "proxy", "restartCount": 0, "state": {"running": {}}, "lastState": {}},
        ],
        **status,
    }
    return pod


def test_lightkube_client_is_a_log_reader(kube: LightkubeClient) -> None:
    assert isinstance(kube, LogReader)


async def test_reads_a_containers_log_as_text(api: FakeKubeAPI, kube: LightkubeClient) -> None:
    api.add(crashing_pod())
    api.set_log(NS, POD, "web", "starting\npanic: nil map\n")

    assert await kube.read_log(NS, POD, "web") == "starting\npanic: nil map\n"
    [request] = api.requests_to("GET", LOG_PATH)
    assert request.query == {"container": "web"}


async def test_previous_run_tail_and_limit_go_on_the_wire(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    api.add(crashing_pod())
    api.set_log(NS, POD, "web", "".join(f"line {n}\n" for n in range(10)), previous=True)

    text = await kube.read_log(NS, POD, "web", previous=True, tail_lines=3, limit_bytes=1000)

    assert text == "line 7\nline 8\nline 9\n"
    [request] = api.requests_to("GET", LOG_PATH)
    assert request.query == {
        "container": "web",
        "previous": "true",
        "tailLines": "3",
        "limitBytes": "1000",
    }


async def test_limit_bytes_cuts_the_end_of_the_tail_like_the_kubelet(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    api.add(crashing_pod())
    api.set_log(NS, POD, "web", "old\nnewer\nnewest\n")

    # The last two lines are selected first, then only their first 8 bytes are sent.
    assert await kube.read_log(NS, POD, "web", tail_lines=2, limit_bytes=8) == "newer\nne"


async def test_no_previous_run_is_none(api: FakeKubeAPI, kube: LightkubeClient) -> None:
    api.add(crashing_pod())
    api.set_log(NS, POD, "proxy", "ready\n")

    assert await kube.read_log(NS, POD, "proxy", previous=True) is None
    answers = api.requests_to("GET", LOG_PATH)
    assert answers[0].query["previous"] == "true"


async def test_missing_pod_container_or_unstarted_container_is_none(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    pod = crashing_pod()
    pod["spec"]["containers"].append({"name": "init-db", "image": "db:1"})
    pod["status"]["containerStatuses"].append(
        {"name": "init-db", "restartCount": 0, "state": {"waiting": {"reason": "ErrImagePull"}}}
    )
    api.add(pod)

    assert await kube.read_log(NS, "gone-pod", "web") is None
    assert await kube.read_log(NS, POD, "nosuch") is None
    assert await kube.read_log(NS, POD, "init-db") is None
    # A container in CrashLoopBackOff ran before: its current log is its last run's.
    assert await kube.read_log(NS, POD, "web") == ""


async def test_a_server_failure_is_kube_error(api: FakeKubeAPI, kube: LightkubeClient) -> None:
    api.add(crashing_pod())
    api.fail_next(500, "Get https://10.0.0.5:10250/containerLogs/prod/web: dial tcp: i/o timeout")

    with pytest.raises(KubeError, match="i/o timeout") as caught:
        await kube.read_log(NS, POD, "web")
    assert caught.value.status == 500
    api.fail_next(403, 'pods "web" is forbidden: cannot get resource "pods/log"')
    with pytest.raises(KubeError, match="forbidden"):
        await kube.read_log(NS, POD, "web")


async def test_a_server_ignoring_limit_bytes_is_cut_by_the_client(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    api.fail_next(200, content_type="text/plain", body=b"x" * 100_000)

    text = await kube.read_log(NS, POD, "web", limit_bytes=100)

    assert text == "x" * 100


async def test_invalid_bytes_are_replaced_not_fatal(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    api.fail_next(200, content_type="text/plain", body=b"caf\xc3\xa9 \xff\xfe ok\n")

    assert await kube.read_log(NS, POD, "web") == "café \ufffd\ufffd ok\n"


async def test_bad_arguments_are_refused_before_any_request(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    with pytest.raises(KubeError, match="not a valid container"):
        await kube.read_log(NS, POD, "../x")
    with pytest.raises(KubeError, match="tail_lines"):
        await kube.read_log(NS, POD, "web", tail_lines=-1)
    with pytest.raises(KubeError, match="limit_bytes"):
        await kube.read_log(NS, POD, "web", limit_bytes=0)
    assert api.requests == []


# -- list limits and unserved kinds ------------------------------------------------------------


async def test_list_with_a_limit_stops_after_that_many(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    for n in range(5):
        api.add(make_pod(f"p{n}", NS))

    pods = await kube.list_objects("v1", "Pod", namespace=NS, limit=2)

    assert [p["metadata"]["name"] for p in pods] == ["p0", "p1"]
    [request] = api.requests_to("GET", f"/api/v1/namespaces/{NS}/pods")
    assert request.query["limit"] == "2"
    with pytest.raises(KubeError, match="limit"):
        await kube.list_objects("v1", "Pod", limit=0)


async def test_an_unserved_kind_is_its_own_error(kube: LightkubeClient) -> None:
    with pytest.raises(KubeKindNotServed, match="unknown kind Rollout"):
        await kube.list_objects("argoproj.io/v1alpha1", "Rollout", namespace=NS)


async def test_in_memory_fake_lists_with_a_limit() -> None:
    memory = InMemoryKube()
    for n in range(3):
        memory.add_object(make_pod(f"p{n}", NS))

    assert len(await memory.list_objects("v1", "Pod", limit=2)) == 2


# -- the stand-in on the wire ------------------------------------------------------------------


async def test_stand_in_log_errors_are_the_real_servers(api: FakeKubeAPI) -> None:
    api.add(crashing_pod())
    async with httpx.AsyncClient(base_url=api.url) as http:
        no_name = await http.get(LOG_PATH)
        previous = await http.get(LOG_PATH, params={"container": "proxy", "previous": "true"})
        negative = await http.get(LOG_PATH, params={"container": "web", "tailLines": "-1"})
        post = await http.post(LOG_PATH)
        discovery = (await http.get("/api/v1")).json()

    assert no_name.status_code == 400
    assert no_name.json()["message"] == (
        f"a container name must be specified for pod {POD}, choose one of: [web proxy]"
    )
    assert previous.status_code == 400
    assert previous.json()["reason"] == "BadRequest"
    assert previous.json()["message"] == (
        f'previous terminated container "proxy" in pod "{POD}" not found'
    )
    assert negative.status_code == 422
    assert post.status_code == 405
    resources = {r["name"]: r for r in discovery["resources"]}
    assert resources["pods/log"]["verbs"] == ["get"]
    assert resources["events"]["kind"] == "Event"


async def test_stand_in_serves_text_plain_and_an_unterminated_last_line(
    api: FakeKubeAPI,
) -> None:
    api.add(crashing_pod())
    api.set_log(NS, POD, "web", "a\nb\nc")
    async with httpx.AsyncClient(base_url=api.url) as http:
        answer = await http.get(LOG_PATH, params={"container": "web", "tailLines": "2"})

    assert answer.headers["content-type"] == "text/plain"
    assert answer.text == "b\nc"


async def test_stand_in_selects_events_by_involved_object(api: FakeKubeAPI) -> None:
    for n, (kind, name) in enumerate([("Pod", "a"), ("Pod", "b"), ("Node", "a")]):
        api.add(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": f"e{n}", "namespace": NS},
                "involvedObject": {"kind": kind, "name": name},
                "reason": "BackOff",
                "source": {"component": "kubelet"},
                "type": "Warning",
            }
        )
    async with httpx.AsyncClient(base_url=api.url) as http:
        listing = await http.get(
            f"/api/v1/namespaces/{NS}/events",
            params={"fieldSelector": "involvedObject.kind=Pod,involvedObject.name=a"},
        )
        by_source = await http.get("/api/v1/events", params={"fieldSelector": "source=kubelet"})
        refused = await http.get("/api/v1/events", params={"fieldSelector": "spec.nodeName=x"})

    assert [e["metadata"]["name"] for e in listing.json()["items"]] == ["e0"]
    assert len(by_source.json()["items"]) == 3
    assert refused.status_code == 400
    assert refused.json()["message"] == 'field label not supported: "spec.nodeName"'

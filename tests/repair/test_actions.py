"""The action catalog: http.request against real local servers, the kube actions against the
in-memory cluster, wait, parameter validation, and the patch allow-list as a property."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from awoooi.adapters.kube import KubeError, ObjectRef
from awoooi.repair.actions import (
    CATALOG,
    ActionContext,
    ActionFailed,
    HttpParams,
    disallowed_patch_paths,
    run_action,
    validate_params,
)
from awoooi.repair.settings import DEFAULT_PATCH_FIELDS, RepairSettings
from tests.helpers.fake_kube import InMemoryKube

NS = "prod"
WEB = ObjectRef("Deployment", NS, "web")
LOCAL = RepairSettings(http_allowed_hosts=["127.0.0.1"])
FIXED = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


# ---------------------------------------------------------------- a real HTTP server


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    """A ThreadingHTTPServer on 127.0.0.1 that records requests and answers by path."""

    host: str = "127.0.0.1"
    seen: list[Seen] = field(default_factory=list)
    redirect_to: str = ""
    _httpd: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return int(self._httpd.server_address[1])

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def start(self) -> Server:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {key.lower(): value for key, value in self.headers.items()}
                server.seen.append(Seen(self.command, self.path, headers, body))
                status, extra, text = 200, {}, f"ok {self.command} {self.path}"
                if self.path.startswith("/status/"):
                    status = int(self.path.split("/")[2])
                    text = f"answered {status}"
                elif self.path == "/redirect":
                    status, extra, text = 302, {"Location": server.redirect_to}, "moved"
                elif self.path == "/empty":
                    status, text = 204, ""
                payload = text.encode()
                self.send_response(status)
                for key, value in extra.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _answer

        self._httpd = ThreadingHTTPServer((self.host, 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server().start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def other_server() -> Iterator[Server]:
    """Another host: 127.0.0.2 is loopback too on Linux, and it is not 127.0.0.1."""
    try:
        running = Server(host="127.0.0.2").start()
    except OSError as exc:  # pragma: no cover - only where 127.0.0.2 is not local
        pytest.skip(f"cannot bind 127.0.0.2: {exc}")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, follow_redirects=False, timeout=10) as client:
        yield client


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def context(
    http: httpx.AsyncClient,
    *,
    kube: InMemoryKube | None = None,
    policy: RepairSettings = LOCAL,
    target: ObjectRef | None = WEB,
) -> ActionContext:
    return ActionContext(kube=kube, http=http, settings=policy, target=target, now=lambda: FIXED)


async def run(
    name: str,
    params: dict[str, Any],
    http: httpx.AsyncClient,
    *,
    kube: InMemoryKube | None = None,
    policy: RepairSettings = LOCAL,
    target: ObjectRef | None = WEB,
) -> str:
    typed = validate_params(name, params, policy)
    return await run_action(name, typed, context(http, kube=kube, policy=policy, target=target))


# ---------------------------------------------------------------- http.request


async def test_http_request_arrives_as_sent(server: Server, http: httpx.AsyncClient) -> None:
    body = {"incident": "INC-1", "pods": ["web-1", "web-2"], "n": 3}
    detail = await run(
        "http.request",
        {
            "method": "post",
            "url": server.url("/heal/web?force=1"),
            "headers": {"X-Awoooi": "yes", "Authorization": "Bearer abc"},
            "body": body,
        },
        http,
    )
    assert detail == f"POST {server.url('/heal/web?force=1')} -> 200: ok POST /heal/web?force=1"
    [seen] = server.seen
    assert (seen.method, seen.path) == ("POST", "/heal/web?force=1")
    assert seen.headers["x-awoooi"] == "yes"
    assert seen.headers["authorization"] == "Bearer abc"
    assert seen.headers["content-type"] == "application/json"
    assert json.loads(seen.body) == body


async def test_http_request_text_body_and_own_content_type(
    server: Server, http: httpx.AsyncClient
) -> None:
    await run(
        "http.request",
        {
            "method": "PUT",
            "url": server.url("/x"),
            "headers": {"Content-Type": "text/csv"},
            "body": "a,b\n1,2\n",
        },
        http,
    )
    await run("http.request", {"method": "DELETE", "url": server.url("/y")}, http)
    first, second = server.seen
    assert (first.method, first.headers["content-type"], first.body) == (
        "PUT",
        "text/csv",
        b"a,b\n1,2\n",
    )
    assert (second.method, second.path, second.body) == ("DELETE", "/y", b"")
    assert "content-type" not in second.headers


async def test_http_json_body_keeps_an_explicit_content_type(
    server: Server, http: httpx.AsyncClient
) -> None:
    await run(
        "http.request",
        {
            "method": "POST",
            "url": server.url("/j"),
            "headers": {"content-type": "application/vnd.api+json"},
            "body": [1, 2],
        },
        http,
    )
    [seen] = server.seen
    assert seen.headers["content-type"] == "application/vnd.api+json"
    assert json.loads(seen.body) == [1, 2]


async def test_http_failure_status(server: Server, http: httpx.AsyncClient) -> None:
    with pytest.raises(ActionFailed) as caught:
        await run("http.request", {"url": server.url("/status/503")}, http)
    message = str(caught.value)
    assert "-> 503" in message
    assert "expected 2xx" in message
    assert "answered 503" in message
    assert len(server.seen) == 1


async def test_http_expected_status(server: Server, http: httpx.AsyncClient) -> None:
    detail = await run(
        "http.request", {"url": server.url("/status/503"), "expect_status": [503]}, http
    )
    assert detail.endswith("-> 503: answered 503")
    # A single int is one expected status; a 200 is then a failure.
    with pytest.raises(ActionFailed, match=r"-> 200, expected \[202\]"):
        await run("http.request", {"url": server.url("/ok"), "expect_status": 202}, http)
    assert await run("http.request", {"url": server.url("/empty")}, http) == (
        f"GET {server.url('/empty')} -> 204"
    )


async def test_http_closed_port(http: httpx.AsyncClient) -> None:
    url = f"http://127.0.0.1:{closed_port()}/heal"
    with pytest.raises(ActionFailed, match=r"GET .* failed: ConnectError"):
        await run("http.request", {"url": url}, http)


async def test_http_redirect_is_not_followed(
    server: Server, other_server: Server, http: httpx.AsyncClient
) -> None:
    server.redirect_to = other_server.url("/stolen")
    with pytest.raises(ActionFailed, match=r"-> 302, expected 2xx"):
        await run("http.request", {"url": server.url("/redirect")}, http)
    detail = await run(
        "http.request", {"url": server.url("/redirect"), "expect_status": [302]}, http
    )
    assert "-> 302" in detail
    assert [seen.path for seen in server.seen] == ["/redirect", "/redirect"]
    assert other_server.seen == []


async def test_http_host_not_allowed_at_run_time(server: Server, http: httpx.AsyncClient) -> None:
    """Validated while 127.0.0.1 was allowed; the policy at run time no longer allows it."""
    typed = validate_params("http.request", {"url": server.url("/heal")}, LOCAL)
    narrower = RepairSettings(http_allowed_hosts=["hooks.example.com"])
    with pytest.raises(ActionFailed, match="is not allowed"):
        await run_action("http.request", typed, context(http, policy=narrower))
    assert server.seen == []


def test_http_host_refused_at_validation() -> None:
    with pytest.raises(ValidationError, match=r"not in repair.http_allowed_hosts"):
        validate_params("http.request", {"url": "http://127.0.0.1/x"}, RepairSettings())
    with pytest.raises(ValidationError, match="credentials in the url"):
        validate_params("http.request", {"url": "http://a:b@127.0.0.1/x"}, LOCAL)


async def test_http_needs_no_target_or_cluster(server: Server, http: httpx.AsyncClient) -> None:
    await run("http.request", {"url": server.url("/z"), "method": "HEAD"}, http, target=None)
    assert [seen.method for seen in server.seen] == ["HEAD"]


# ---------------------------------------------------------------- kube actions


@pytest.fixture
def kube() -> InMemoryKube:
    cluster = InMemoryKube()
    cluster.add("Deployment", NS, "web", replicas=3)
    cluster.add("DaemonSet", NS, "agent")
    cluster.add("StatefulSet", NS, "db", replicas=1)
    cluster.pods.add((NS, "web-7d9f8c6b5d-aaaaa"))
    return cluster


async def test_restart_sets_restarted_at(kube: InMemoryKube, http: httpx.AsyncClient) -> None:
    detail = await run("kube.rollout_restart", {}, http, kube=kube)
    assert detail == "restarted prod/Deployment/web"
    assert kube.get("Deployment", NS, "web").annotations == {
        "kubectl.kubernetes.io/restartedAt": FIXED.isoformat()
    }
    with pytest.raises(ActionFailed, match="ReplicaSet cannot be restarted"):
        await run(
            "kube.rollout_restart", {}, http, kube=kube, target=ObjectRef("ReplicaSet", NS, "x")
        )


async def test_restart_of_a_missing_workload_fails(
    kube: InMemoryKube, http: httpx.AsyncClient
) -> None:
    with pytest.raises(ActionFailed, match=r"kube.rollout_restart: deployments 'gone' not found"):
        await run(
            "kube.rollout_restart", {}, http, kube=kube, target=ObjectRef("Deployment", NS, "gone")
        )


@pytest.mark.parametrize(
    ("start", "params", "expected"),
    [
        (3, {"delta": 2}, 5),
        (9, {"delta": 2, "max_replicas": 10}, 10),  # clamped to the maximum
        (3, {"delta": -5, "min_replicas": 1}, 1),  # clamped to the minimum
        (3, {"delta": -1, "min_replicas": 0}, 2),
        (3, {"replicas": 7}, 7),
        (3, {"replicas": 0, "min_replicas": 0}, 0),
        (60, {"delta": 1}, 50),  # above the ceiling already: brought down to repair.max_replicas
    ],
)
async def test_scale(
    kube: InMemoryKube, http: httpx.AsyncClient, start: int, params: dict[str, int], expected: int
) -> None:
    kube.get("Deployment", NS, "web").replicas = start
    detail = await run("kube.scale", params, http, kube=kube)
    assert kube.get("Deployment", NS, "web").replicas == expected
    assert detail == f"scaled prod/Deployment/web from {start} to {expected} replicas"


@pytest.mark.parametrize(
    ("start", "params"),
    [
        (10, {"delta": 2, "max_replicas": 10}),
        (1, {"delta": -1, "min_replicas": 1}),
        (4, {"replicas": 4}),
    ],
)
async def test_scale_at_the_bound_fails(
    kube: InMemoryKube, http: httpx.AsyncClient, start: int, params: dict[str, int]
) -> None:
    kube.get("Deployment", NS, "web").replicas = start
    with pytest.raises(ActionFailed, match=f"already has {start} replicas; bounds"):
        await run("kube.scale", params, http, kube=kube)
    assert kube.get("Deployment", NS, "web").replicas == start
    assert ("scale", "prod/Deployment/web") not in kube.calls


async def test_scale_statefulset_and_not_daemonset(
    kube: InMemoryKube, http: httpx.AsyncClient
) -> None:
    db = ObjectRef("StatefulSet", NS, "db")
    await run("kube.scale", {"delta": 1}, http, kube=kube, target=db)
    assert kube.get("StatefulSet", NS, "db").replicas == 2
    with pytest.raises(ActionFailed, match="DaemonSet has no replicas"):
        await run(
            "kube.scale", {"delta": 1}, http, kube=kube, target=ObjectRef("DaemonSet", NS, "agent")
        )
    assert [verb for verb, what in kube.calls if what.endswith("agent")] == []


async def test_scale_ceiling_comes_from_the_settings_at_run_time(
    kube: InMemoryKube, http: httpx.AsyncClient
) -> None:
    typed = validate_params("kube.scale", {"delta": 5}, LOCAL)
    tight = RepairSettings(max_replicas=4)
    await run_action("kube.scale", typed, context(http, kube=kube, policy=tight))
    assert kube.get("Deployment", NS, "web").replicas == 4


async def test_undo(kube: InMemoryKube, http: httpx.AsyncClient) -> None:
    web = kube.get("Deployment", NS, "web")
    web.revisions, web.revision = [1, 2, 3], 3
    assert await run("kube.rollout_undo", {}, http, kube=kube) == (
        "rolled prod/Deployment/web back to revision 2"
    )
    assert await run("kube.rollout_undo", {"to_revision": 1}, http, kube=kube) == (
        "rolled prod/Deployment/web back to revision 1"
    )
    db = kube.add("StatefulSet", NS, "db")
    db.revisions, db.revision = [4, 5], 5
    assert await run(
        "kube.rollout_undo", {}, http, kube=kube, target=ObjectRef("StatefulSet", NS, "db")
    ) == ("rolled prod/StatefulSet/db back to revision 4")
    with pytest.raises(ActionFailed, match="works on Deployments, StatefulSets and DaemonSets"):
        await run(
            "kube.rollout_undo", {}, http, kube=kube, target=ObjectRef("ReplicaSet", NS, "web-1")
        )


async def test_undo_without_a_previous_revision(
    kube: InMemoryKube, http: httpx.AsyncClient
) -> None:
    web = kube.get("Deployment", NS, "web")
    web.revisions, web.revision = [1], 1
    with pytest.raises(ActionFailed, match=r"^kube.rollout_undo: no revision to roll") as caught:
        await run("kube.rollout_undo", {}, http, kube=kube)
    assert isinstance(caught.value.__cause__, KubeError)
    with pytest.raises(ActionFailed, match="no revision"):
        await run("kube.rollout_undo", {"to_revision": 7}, http, kube=kube)


async def test_delete_pod(kube: InMemoryKube, http: httpx.AsyncClient) -> None:
    detail = await run(
        "kube.delete_pod",
        {"pod": "web-7d9f8c6b5d-aaaaa", "grace_period_seconds": 5},
        http,
        kube=kube,
    )
    assert detail == "deleted pod prod/web-7d9f8c6b5d-aaaaa"
    assert kube.pods == set()
    with pytest.raises(ActionFailed, match=r"kube.delete_pod: pods \"web-7d9f8c6b5d-aaaaa\" not"):
        await run("kube.delete_pod", {"pod": "web-7d9f8c6b5d-aaaaa"}, http, kube=kube)


async def test_delete_pod_in_the_targets_namespace(
    kube: InMemoryKube, http: httpx.AsyncClient
) -> None:
    kube.pods.add(("staging", "web-1"))
    with pytest.raises(ActionFailed, match="not found"):
        await run("kube.delete_pod", {"pod": "web-1"}, http, kube=kube)
    await run(
        "kube.delete_pod",
        {"pod": "web-1"},
        http,
        kube=kube,
        target=ObjectRef("Deployment", "staging", "web"),
    )
    assert ("staging", "web-1") not in kube.pods


async def test_patch_records_the_patch(kube: InMemoryKube, http: httpx.AsyncClient) -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "app", "resources": {"limits": {"memory": "1Gi"}}}]
                }
            }
        }
    }
    detail = await run("kube.patch", {"patch": patch}, http, kube=kube)
    assert kube.get("Deployment", NS, "web").patches == [patch]
    assert detail == (
        "patched prod/Deployment/web: spec.template.spec.containers[].name, "
        "spec.template.spec.containers[].resources.limits.memory"
    )


async def test_patch_outside_the_allow_list_is_refused(http: httpx.AsyncClient) -> None:
    bad = {"spec": {"template": {"spec": {"hostNetwork": True}}}}
    with pytest.raises(ValidationError, match=r"spec.template.spec.hostNetwork"):
        validate_params("kube.patch", {"patch": bad}, LOCAL)
    wider = RepairSettings(patch_allowed_fields=["spec.template.spec.hostNetwork"])
    assert validate_params("kube.patch", {"patch": bad}, wider) is not None
    with pytest.raises(ValidationError, match=r"directives are not allowed: \$retainKeys"):
        validate_params("kube.patch", {"patch": {"spec": {"$retainKeys": ["replicas"]}}}, wider)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("kube.rollout_restart", {}),
        ("kube.scale", {"delta": 1}),
        ("kube.rollout_undo", {}),
        ("kube.delete_pod", {"pod": "web-1"}),
        ("kube.patch", {"patch": {"spec": {"replicas": 2}}}),
    ],
)
async def test_kube_action_without_a_cluster(
    http: httpx.AsyncClient, name: str, params: dict[str, Any]
) -> None:
    with pytest.raises(ActionFailed, match=r"no Kubernetes cluster is configured.*`kube` settings"):
        await run(name, params, http, kube=None)


@pytest.mark.parametrize("name", [name for name, entry in CATALOG.items() if entry.needs_target])
async def test_kube_action_without_a_target(
    kube: InMemoryKube, http: httpx.AsyncClient, name: str
) -> None:
    params = {
        "kube.scale": {"delta": 1},
        "kube.delete_pod": {"pod": "web-1"},
        "kube.patch": {"patch": {"spec": {"replicas": 2}}},
    }.get(name, {})
    with pytest.raises(ActionFailed, match="needs the playbook's target"):
        await run(name, params, http, kube=kube, target=None)
    assert kube.calls == []


async def test_kube_failure_becomes_the_steps_failure(
    kube: InMemoryKube, http: httpx.AsyncClient
) -> None:
    kube.fail["scale"] = KubeError("admission webhook denied the request", status=403)
    with pytest.raises(ActionFailed, match=r"^kube.scale: admission webhook denied the request$"):
        await run("kube.scale", {"delta": 1}, http, kube=kube)
    assert kube.get("Deployment", NS, "web").replicas == 3


# ---------------------------------------------------------------- wait and validation


async def test_wait_completes(http: httpx.AsyncClient) -> None:
    assert await run("wait", {"seconds": 0.01}, http, target=None) == "waited 0.01 s"


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("wait", {"seconds": 1, "minutes": 2}),
        ("wait", {}),
        ("wait", {"seconds": 0}),
        ("wait", {"seconds": 3601}),
        ("kube.rollout_restart", {"force": True}),
        ("kube.rollout_undo", {"to_revision": 0}),
        ("kube.delete_pod", {"pod": "Web_1"}),
        ("kube.delete_pod", {"pod": "web-1", "grace_period_seconds": -1}),
        ("kube.patch", {"patch": {}}),
        ("http.request", {"url": "http://127.0.0.1/x", "method": "TRACE"}),
        ("http.request", {"url": "http://127.0.0.1/x", "verb": "GET"}),
    ],
)
def test_validate_params_refuses(name: str, params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        validate_params(name, params, LOCAL)


def test_validate_params_unknown_action() -> None:
    with pytest.raises(ValueError, match=r"unknown action 'shell.run'; known: http.request"):
        validate_params("shell.run", {"command": "rm -rf /"}, LOCAL)


def test_validate_params_types() -> None:
    typed = validate_params("http.request", {"url": "http://127.0.0.1/x", "method": "patch"}, LOCAL)
    assert isinstance(typed, HttpParams)
    assert typed.method == "PATCH"
    assert typed.expect_status == []
    assert typed.accepts(204)
    assert not typed.accepts(302)


# ---------------------------------------------------------------- the patch allow-list


_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12)
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 1000), st.text(max_size=10))
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3),
        st.dictionaries(_names, inner, min_size=1, max_size=3),
    ),
    max_leaves=6,
)
_annotation_keys = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz0123456789-./", min_size=1, max_size=30
)


@st.composite
def _containers(draw: st.DrawFn) -> dict[str, Any]:
    container: dict[str, Any] = {"name": draw(_names)}
    if draw(st.booleans()):
        container["resources"] = draw(st.dictionaries(_names, _json, min_size=1, max_size=3))
    if draw(st.booleans()):
        container["env"] = draw(
            st.lists(st.dictionaries(_names, _json, min_size=1, max_size=3), max_size=3)
        )
    return container


@st.composite
def allowed_patches(draw: st.DrawFn) -> dict[str, Any]:
    """A patch that touches only paths the default allow-list names."""
    spec: dict[str, Any] = {}
    if draw(st.booleans()):
        spec["replicas"] = draw(st.integers(0, 50))
    template: dict[str, Any] = {}
    if draw(st.booleans()):
        annotations = draw(st.dictionaries(_annotation_keys, st.text(), min_size=1, max_size=3))
        template["metadata"] = {"annotations": annotations}
    if draw(st.booleans()) or not (spec or template):
        template["spec"] = {"containers": draw(st.lists(_containers(), min_size=1, max_size=3))}
    if template:
        spec["template"] = template
    return {"spec": spec}


FORBIDDEN = ["securityContext", "hostNetwork", "image", "command"]


def _insertion_points(patch: dict[str, Any]) -> list[dict[str, Any]]:
    """The mappings of a patch where a forbidden field would be a real Kubernetes field."""
    points = [patch, patch["spec"]]
    template = patch["spec"].get("template")
    if template is not None:
        points.append(template)
        points.extend(
            template[key] for key in ("metadata", "spec") if isinstance(template.get(key), dict)
        )
        points.extend(template.get("spec", {}).get("containers", []))
    return points


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patch=allowed_patches())
def test_allow_listed_patches_are_accepted(patch: dict[str, Any]) -> None:
    assert disallowed_patch_paths(patch, DEFAULT_PATCH_FIELDS) == []
    assert validate_params("kube.patch", {"patch": patch}, LOCAL) is not None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    patch=allowed_patches(),
    forbidden=st.sampled_from(FORBIDDEN),
    value=_json,
    data=st.data(),
)
def test_forbidden_fields_are_refused(
    patch: dict[str, Any], forbidden: str, value: Any, data: st.DataObject
) -> None:
    point = data.draw(st.sampled_from(_insertion_points(patch)))
    point[forbidden] = value
    refused = disallowed_patch_paths(patch, DEFAULT_PATCH_FIELDS)
    assert refused
    assert any(forbidden in path.split(".") or f"{forbidden}[]" in path for path in refused)
    with pytest.raises(ValidationError, match=r"fields outside repair.patch_allowed_fields"):
        validate_params("kube.patch", {"patch": patch}, LOCAL)


@pytest.mark.parametrize(
    "patch",
    [
        {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "evil:latest"}]}}}},
        {"spec": {"template": {"spec": {"containers": [{"name": "a", "command": ["sh"]}]}}}},
        {"spec": {"template": {"spec": {"initContainers": [{"name": "a"}]}}}},
        {
            "spec": {
                "template": {"spec": {"volumes": [{"name": "root", "hostPath": {"path": "/"}}]}}
            }
        },
        {"spec": {"template": {"spec": {"serviceAccountName": "admin"}}}},
        {"spec": {"template": {"metadata": {"labels": {"app": "other"}}}}},
        {"spec": {"selector": {"matchLabels": {"app": "x"}}}},
        {"metadata": {"annotations": {"a": "b"}}},
        {"spec": {"template": {"metadata": {"annotations": {}}}}},
        {"spec": {"template": {"spec": {"containers": []}}}},
    ],
)
def test_specific_patches_are_refused(patch: dict[str, Any]) -> None:
    assert disallowed_patch_paths(patch, DEFAULT_PATCH_FIELDS) != []

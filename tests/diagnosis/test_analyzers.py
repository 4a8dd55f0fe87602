"""Each rule family on positive and negative evidence, with unrelated failures nearby that must
not win. The dumps use Kubernetes' own reasons and message formats, with wording other than the
shared scenarios'."""

from __future__ import annotations

from pathlib import Path

import pytest

from awoooi.diagnosis.model import Cause, Investigation
from awoooi.diagnosis.service import investigate
from awoooi.diagnosis.source import DumpSource
from tests.diagnosis.dumps import (
    T0,
    Dump,
    container,
    exited,
    running,
    template,
    waiting,
)

NS = "shop"
CRASHING = "back-off 5m0s restarting failed container"


@pytest.fixture
def d(tmp_path: Path) -> Dump:
    dump = Dump(tmp_path / "cluster")
    dump.node("node-1")
    dump.node("node-2")
    return dump


async def run(d: Dump, labels: dict[str, str]) -> Investigation:
    inv = await investigate(DumpSource(d.write()), {"namespace": NS, **labels}, at=T0)
    ids = {e.id for e in inv.evidence}
    for finding in inv.findings:
        assert set(finding.evidence) <= ids, finding
    return inv


def text(inv: Investigation) -> str:
    return "\n".join(e.text for e in inv.evidence)


def cited(inv: Investigation, n: int = 0) -> str:
    by_id = {e.id: e.text for e in inv.evidence}
    return "\n".join(by_id[i] for i in inv.findings[n].evidence)


def crashloop_app(
    d: Dump,
    name: str = "orders",
    *,
    lines: list[str],
    code: int = 1,
    reason: str = "Error",
    revision: int = 2,
    created: float = -60 * 24 * 7,
    tmpl: object = None,
) -> dict:
    dep = d.deployment(NS, name, replicas=1)
    rs = d.replicaset(
        dep,
        tmpl or template(container(name)),
        revision=revision,
        created=created,
        replicas=1,
        ready=0,
    )
    pod = d.pod(
        rs,
        f"{rs['metadata']['name']}-m4x9q",
        statuses={
            name: waiting("CrashLoopBackOff", CRASHING, restarts=6, last=exited(reason, code))
        },
    )
    d.log(pod, name, lines)
    d.event(
        pod,
        "BackOff",
        "Back-off restarting failed container",
        count=40,
        field=f"spec.containers{{{name}}}",
    )
    return pod


def decoy_oom(d: Dump) -> None:
    """A different broken workload in the same namespace."""
    dep = d.deployment(NS, "noisy", replicas=1)
    rs = d.replicaset(dep, template(container("noisy")), revision=1, replicas=1, ready=0)
    d.pod(
        rs,
        f"{rs['metadata']['name']}-b8c2d",
        statuses={
            "noisy": waiting(
                "CrashLoopBackOff", CRASHING, restarts=9, last=exited("OOMKilled", 137)
            )
        },
    )


def healthy(d: Dump, name: str) -> dict:
    dep = d.deployment(NS, name, replicas=2, ready=2)
    rs = d.replicaset(dep, template(container(name)), revision=4)
    d.pod(rs, f"{rs['metadata']['name']}-aaaaa")
    d.pod(rs, f"{rs['metadata']['name']}-bbbbb", node="node-2")
    return dep


# -- OOM_KILLED ---------------------------------------------------------------------------------


async def test_oom_killed_names_the_limit(d: Dump) -> None:
    dep = d.deployment(NS, "indexer", replicas=1)
    rs = d.replicaset(
        dep,
        template(container("indexer", limits={"memory": "768Mi"})),
        revision=3,
        replicas=1,
        ready=0,
    )
    pod = d.pod(
        rs,
        f"{rs['metadata']['name']}-p2x7k",
        statuses={
            "indexer": waiting(
                "CrashLoopBackOff", CRASHING, restarts=4, last=exited("OOMKilled", 137)
            )
        },
    )

    inv = await run(d, {"pod": pod["metadata"]["name"]})

    assert inv.findings[0].cause is Cause.OOM_KILLED
    assert "768Mi" in inv.findings[0].summary
    assert "OOMKilled" in cited(inv)
    assert "768Mi" in cited(inv)


async def test_a_liveness_kill_with_exit_137_is_not_an_oom(d: Dump) -> None:
    dep = d.deployment(NS, "gateway", replicas=1)
    rs = d.replicaset(
        dep, template(container("gateway", liveness=True)), revision=2, replicas=1, ready=0
    )
    pod = d.pod(
        rs,
        f"{rs['metadata']['name']}-t5v8w",
        statuses={
            "gateway": waiting("CrashLoopBackOff", CRASHING, restarts=3, last=exited("Error", 137))
        },
    )
    field = "spec.containers{gateway}"
    d.event(
        pod,
        "Unhealthy",
        'Liveness probe failed: Get "http://10.1.2.3:8080/healthz": context '
        "deadline exceeded (Client.Timeout exceeded while awaiting headers)",
        count=9,
        field=field,
    )
    d.event(
        pod,
        "Killing",
        "Container gateway failed liveness probe, will be restarted",
        type_="Normal",
        count=3,
        field=field,
    )
    d.log(pod, "gateway", ['level=info msg="serving" addr=:8080', 'level=warn msg="gc pause 4.2s"'])

    inv = await run(d, {"pod": pod["metadata"]["name"]})

    assert inv.findings[0].cause is Cause.PROBE_FAILURE
    assert Cause.OOM_KILLED not in {f.cause for f in inv.findings}
    assert "failed liveness probe" in cited(inv)


async def test_a_healthy_target_next_to_an_oom_is_unknown(d: Dump) -> None:
    decoy_oom(d)
    healthy(d, "catalog")

    inv = await run(d, {"deployment": "catalog"})

    assert inv.findings[0].cause is Cause.UNKNOWN
    assert all(f.cause is not Cause.OOM_KILLED for f in inv.findings)


async def test_an_old_oom_of_a_recovered_container_is_history(d: Dump) -> None:
    dep = d.deployment(NS, "catalog", replicas=1, ready=1)
    rs = d.replicaset(dep, template(container("catalog")), revision=4, replicas=1)
    d.pod(
        rs,
        f"{rs['metadata']['name']}-aaaaa",
        statuses={"catalog": running(restarts=1, last=exited("OOMKilled", 137, at=-60 * 24 * 3))},
    )

    inv = await run(d, {"deployment": "catalog"})

    assert inv.findings[0].cause is Cause.UNKNOWN


# -- APP_CRASH and DEPENDENCY_FAILURE ----------------------------------------------------------


async def test_a_python_traceback_of_its_own_is_an_app_crash(d: Dump) -> None:
    decoy_oom(d)
    pod = crashloop_app(
        d,
        lines=[
            "INFO:orders.app:loading pricing table",
            "Traceback (most recent call last):",
            '  File "/app/orders/app.py", line 88, in <module>',
            "    rate = table[region]",
            "KeyError: 'eu-central'",
        ],
    )

    inv = await run(d, {"pod": pod["metadata"]["name"]})

    assert inv.findings[0].cause is Cause.APP_CRASH
    assert "KeyError: 'eu-central'" in inv.findings[0].summary
    assert "KeyError" in cited(inv)


@pytest.mark.parametrize(
    ("lines", "host"),
    [
        (
            [
                "level=info msg=starting",
                'level=fatal msg="cannot open cache" err="dial tcp: lookup '
                'redis-master.cache.svc.cluster.local on 10.96.0.10:53: no such host"',
            ],
            "redis-master.cache.svc.cluster.local",
        ),
        (
            [
                "2026-05-01 11:58:02.114 ERROR 1 --- [main] o.a.k.c.NetworkClient : "
                "Connection to node -1 could not be established",
                "org.apache.kafka.common.KafkaException: Failed to construct kafka consumer",
                "Caused by: java.net.UnknownHostException: kafka-0.kafka-brokers.events",
            ],
            "kafka-0.kafka-brokers.events",
        ),
        (
            [
                "connecting to postgres host=orders-db.shop.svc port=5432",
                'FATAL:  password authentication failed for user "orders"',
            ],
            "orders-db.shop.svc",
        ),
        (
            [
                '{"level":"info","msg":"cache","url":"redis://sessions.shop.svc:6379/0"}',
                "Error: connect ETIMEDOUT 10.0.3.7:6379",
                "    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1555:16)",
            ],
            "sessions.shop.svc:6379",
        ),
        (
            [
                "Traceback (most recent call last):",
                '  File "/app/main.py", line 12, in <module>',
                "psycopg2.OperationalError: could not connect to server: Connection refused",
                '\tIs the server running on host "ledger-db" (10.1.4.4) and accepting',
            ],
            "ledger-db",
        ),
    ],
)
async def test_a_dependency_the_log_names_is_a_dependency_failure(
    d: Dump, lines: list[str], host: str
) -> None:
    decoy_oom(d)
    pod = crashloop_app(d, lines=lines)

    inv = await run(d, {"pod": pod["metadata"]["name"]})

    assert inv.findings[0].cause is Cause.DEPENDENCY_FAILURE, inv.findings
    assert host in inv.findings[0].summary
    assert host in cited(inv)


async def test_a_panic_after_a_good_connection_is_the_apps_own(d: Dump) -> None:
    pod = crashloop_app(
        d,
        code=2,
        lines=[
            "2026/05/01 11:58:01 connected to orders-db.shop.svc:5432",
            "2026/05/01 11:58:03 dial tcp 10.0.0.9:6379: connect: connection refused (retrying)",
            "2026/05/01 11:58:04 connected to cache.shop.svc:6379",
            "panic: runtime error: index out of range [3] with length 3",
            "",
            "goroutine 41 [running]:",
            "main.(*Batcher).flush(0xc0001a2000)",
        ],
    )

    inv = await run(d, {"pod": pod["metadata"]["name"]})

    assert inv.findings[0].cause is Cause.APP_CRASH
    assert "index out of range" in inv.findings[0].summary


async def test_a_crash_with_a_silent_log_is_still_an_app_crash(d: Dump) -> None:
    pod = crashloop_app(d, code=139, lines=["starting worker pool size=8"])

    inv = await run(d, {"pod": pod["metadata"]["name"]})

    assert inv.findings[0].cause is Cause.APP_CRASH
    assert "139" in inv.findings[0].summary


# -- CONFIG_MISSING and IMAGE_PULL -------------------------------------------------------------


async def test_a_missing_secret_key_is_config_missing(d: Dump) -> None:
    d.secret(NS, "db-creds", {"username": "orders"})
    dep = d.deployment(NS, "orders", replicas=1)
    ref = {
        "name": "DB_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "db-creds", "key": "password"}},
    }
    rs = d.replicaset(
        dep, template(container("orders", env_refs=[ref])), revision=1, replicas=1, ready=0
    )
    message = "couldn't find key password in Secret shop/db-creds"
    pod = d.pod(
        rs,
        f"{rs['metadata']['name']}-c4z9k",
        phase="Pending",
        statuses={"orders": waiting("CreateContainerConfigError", message)},
    )
    d.event(pod, "Failed", f"Error: {message}", count=30, field="spec.containers{orders}")

    inv = await run(d, {"deployment": "orders"})

    assert inv.findings[0].cause is Cause.CONFIG_MISSING
    assert "CreateContainerConfigError" in cited(inv)
    assert "has no key password" in text(inv)  # the config collector checked the Secret's keys


async def test_a_running_pod_with_its_config_present_is_not_config_missing(d: Dump) -> None:
    d.configmap(NS, "orders-flags", {"a": "1"})
    healthy(d, "orders")

    inv = await run(d, {"deployment": "orders"})

    assert Cause.CONFIG_MISSING not in {f.cause for f in inv.findings}


async def test_an_unauthorized_pull_is_an_image_pull_failure(d: Dump) -> None:
    decoy_oom(d)
    image = "registry.internal.example/payments/api:4.1.0"
    dep = d.deployment(NS, "payments", replicas=1)
    rs = d.replicaset(dep, template(container("payments", image)), revision=1, replicas=1, ready=0)
    pod = d.pod(
        rs,
        f"{rs['metadata']['name']}-h7j2k",
        phase="Pending",
        statuses={"payments": waiting("ImagePullBackOff", f'Back-off pulling image "{image}"')},
    )
    field = "spec.containers{payments}"
    d.event(
        pod,
        "Failed",
        f'Failed to pull image "{image}": failed to pull and unpack image '
        f'"{image}": failed to authorize: failed to fetch anonymous token: unexpected status: '
        "401 Unauthorized",
        count=5,
        field=field,
    )
    d.event(pod, "Failed", "Error: ImagePullBackOff", count=20, field=field)

    inv = await run(d, {"pod": pod["metadata"]["name"]})

    assert inv.findings[0].cause is Cause.IMAGE_PULL
    assert "credentials" in inv.findings[0].summary
    assert image in cited(inv)


# -- BAD_ROLLOUT -------------------------------------------------------------------------------


def rollout(d: Dump, *, new_created: float, old_ready: bool = True) -> dict:
    dep = d.deployment(NS, "checkout", replicas=3, ready=2)
    old = d.replicaset(
        dep,
        template(container("checkout", args=["--workers=4"])),
        revision=7,
        created=-60 * 24 * 20,
        replicas=2,
        ready=2 if old_ready else 0,
    )
    new = d.replicaset(
        dep,
        template(container("checkout", args=["--workers=4", "--strict-tls"])),
        revision=8,
        created=new_created,
        replicas=1,
        ready=0,
    )
    for suffix, node in (("qq2rt", "node-1"), ("w8x4z", "node-2")):
        statuses = (
            {}
            if old_ready
            else {
                "checkout": waiting(
                    "CrashLoopBackOff", CRASHING, restarts=3, last=exited("Error", 1)
                )
            }
        )
        d.pod(
            old,
            f"{old['metadata']['name']}-{suffix}",
            node=node,
            statuses=statuses,
            created=-60 * 24 * 20,
        )
    pod = d.pod(
        new,
        f"{new['metadata']['name']}-k2n5p",
        statuses={
            "checkout": waiting("CrashLoopBackOff", CRASHING, restarts=5, last=exited("Error", 1))
        },
    )
    d.log(pod, "checkout", ["ERROR tls: unknown flag --strict-tls", "exit status 1"])
    return pod


async def test_a_fresh_revision_failing_where_the_old_one_serves_is_a_bad_rollout(d: Dump) -> None:
    pod = rollout(d, new_created=-35)

    inv = await run(d, {"pod": pod["metadata"]["name"]})

    assert inv.findings[0].cause is Cause.BAD_ROLLOUT
    assert "revision 8" in inv.findings[0].summary
    assert "--strict-tls" in cited(inv)  # the args change, quoted from the rollout diff
    assert inv.findings[1].cause is Cause.APP_CRASH


async def test_an_old_revision_is_not_a_rollout(d: Dump) -> None:
    pod = rollout(d, new_created=-60 * 24 * 10)

    inv = await run(d, {"pod": pod["metadata"]["name"]})

    assert inv.findings[0].cause is Cause.APP_CRASH
    assert Cause.BAD_ROLLOUT not in {f.cause for f in inv.findings}


async def test_when_the_old_revision_fails_too_the_rollout_is_not_to_blame(d: Dump) -> None:
    pod = rollout(d, new_created=-35, old_ready=False)

    inv = await run(d, {"pod": pod["metadata"]["name"]})

    assert Cause.BAD_ROLLOUT not in {f.cause for f in inv.findings}


async def test_rollout_diffs_name_env_variables_never_their_values(d: Dump) -> None:
    dep = d.deployment(NS, "quotes", replicas=1)
    old = d.replicaset(
        dep,
        template(container("quotes", env={"API_TOKEN": "old-Tok3n-Value-9f8e7d", "MODE": "a"})),
        revision=1,
        created=-60 * 24 * 9,
        replicas=1,
        ready=1,
    )
    new = d.replicaset(
        dep,
        template(
            container(
                "quotes", env={"API_TOKEN": "new-Tok3n-Value-1a2b3c", "MODE": "strict-mode-b"}
            )
        ),
        revision=2,
        created=-20,
        replicas=1,
        ready=0,
    )
    d.pod(old, f"{old['metadata']['name']}-aaaaa", created=-60 * 24 * 9)
    pod = d.pod(
        new,
        f"{new['metadata']['name']}-bbbbb",
        statuses={
            "quotes": waiting("CrashLoopBackOff", CRASHING, restarts=2, last=exited("Error", 1))
        },
    )
    d.log(pod, "quotes", ["Error: invalid mode strict-mode-b"])

    inv = await run(d, {"pod": pod["metadata"]["name"]})
    everything = text(inv) + "\n".join(f.summary for f in inv.findings)

    assert inv.findings[0].cause is Cause.BAD_ROLLOUT
    assert "env API_TOKEN, MODE changed" in everything
    assert "Tok3n" not in everything


# -- PROBE_FAILURE -----------------------------------------------------------------------------


async def test_a_failing_readiness_probe_keeps_a_running_pod_unready(d: Dump) -> None:
    dep = d.deployment(NS, "search", replicas=1)
    rs = d.replicaset(dep, template(container("search")), revision=2, replicas=1, ready=0)
    pod = d.pod(rs, f"{rs['metadata']['name']}-r5t6y", statuses={"search": running(ready=False)})
    d.event(
        pod,
        "Unhealthy",
        "Readiness probe failed: HTTP probe failed with statuscode: 503",
        count=120,
        field="spec.containers{search}",
    )
    d.log(pod, "search", ["INFO warming index shard 3/12"])

    inv = await run(d, {"pod": pod["metadata"]["name"]})

    assert inv.findings[0].cause is Cause.PROBE_FAILURE
    assert "statuscode: 503" in cited(inv)


async def test_past_probe_failures_of_a_ready_pod_are_not_a_cause(d: Dump) -> None:
    dep = healthy(d, "search")
    pod = d.spaces[NS]["pods"][0]
    d.event(
        pod,
        "Unhealthy",
        "Readiness probe failed: HTTP probe failed with statuscode: 503",
        count=2,
        field="spec.containers{search}",
    )

    inv = await run(d, {"deployment": dep["metadata"]["name"]})

    assert inv.findings[0].cause is Cause.UNKNOWN


# -- scheduling --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "cause"),
    [
        (
            "0/6 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/"
            "control-plane: }, 5 Insufficient memory. preemption: 0/6 nodes are available: 1 "
            "Preemption is not helpful for scheduling, 5 No preemption victims found for "
            "incoming pod.",
            Cause.UNSCHEDULABLE_RESOURCES,
        ),
        ("0/3 nodes are available: 3 Insufficient nvidia.com/gpu.", Cause.UNSCHEDULABLE_RESOURCES),
        (
            "0/4 nodes are available: 4 node(s) didn't match Pod's node affinity/selector. "
            "preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling.",
            Cause.UNSCHEDULABLE_CONSTRAINTS,
        ),
        (
            "0/5 nodes are available: 2 node(s) had untolerated taint {dedicated: ml}, 3 node(s) "
            "didn't match pod anti-affinity rules.",
            Cause.UNSCHEDULABLE_CONSTRAINTS,
        ),
        (
            "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. "
            "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
            Cause.VOLUME,
        ),
        (
            "0/2 nodes are available: 2 node(s) had untolerated taint {node.kubernetes.io/"
            "disk-pressure: }.",
            Cause.NODE_PRESSURE,
        ),
    ],
)
async def test_failed_scheduling_follows_the_schedulers_reasons(
    d: Dump, message: str, cause: Cause
) -> None:
    dep = d.deployment(NS, "trainer", replicas=2, ready=1)
    rs = d.replicaset(
        dep,
        template(container("trainer", requests={"cpu": "2", "memory": "12Gi"})),
        revision=1,
        replicas=2,
        ready=1,
    )
    d.pod(rs, f"{rs['metadata']['name']}-aaaaa")
    pending = d.pod(
        rs,
        f"{rs['metadata']['name']}-bbbbb",
        node=None,
        phase="Pending",
        conditions=[
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": message,
            }
        ],
    )
    d.event(pending, "FailedScheduling", message, count=14, new_style=True)

    inv = await run(d, {"deployment": "trainer"})

    assert inv.findings[0].cause is cause
    if cause is Cause.UNSCHEDULABLE_RESOURCES:
        assert "12Gi" in inv.findings[0].summary


# -- VOLUME ------------------------------------------------------------------------------------


async def test_a_pending_claim_keeps_a_statefulset_pod_pending(d: Dump) -> None:
    sts = d.statefulset(
        NS,
        "ledger",
        template(
            container("ledger"),
            volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data-ledger-0"}}],
        ),
        replicas=1,
    )
    claim = d.pvc(NS, "data-ledger-0", phase="Pending", storage_class="fast-ssd")
    d.event(
        claim, "ProvisioningFailed", 'storageclass.storage.k8s.io "fast-ssd" not found', count=25
    )
    message = "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims."
    pod = d.pod(
        sts,
        "ledger-0",
        node=None,
        phase="Pending",
        conditions=[
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": message,
            }
        ],
    )
    d.event(pod, "FailedScheduling", message, count=12, new_style=True)

    inv = await run(d, {"pod": "ledger-0"})

    assert inv.target.kind == "StatefulSet"
    assert inv.findings[0].cause is Cause.VOLUME
    assert "fast-ssd" in cited(inv)


async def test_a_mount_failure_is_a_volume_problem(d: Dump) -> None:
    dep = d.deployment(NS, "uploads", replicas=1)
    rs = d.replicaset(
        dep,
        template(
            container("uploads"),
            volumes=[{"name": "share", "nfs": {"server": "10.0.9.9", "path": "/exports/up"}}],
        ),
        revision=2,
        replicas=1,
        ready=0,
    )
    pod = d.pod(
        rs,
        f"{rs['metadata']['name']}-n6m7b",
        phase="Pending",
        statuses={"uploads": waiting("ContainerCreating")},
    )
    d.event(
        pod,
        "FailedMount",
        'MountVolume.SetUp failed for volume "share" : mount failed: exit '
        "status 32 mount.nfs: Connection timed out",
        count=8,
    )

    inv = await run(d, {"pod": pod["metadata"]["name"]})

    assert inv.findings[0].cause is Cause.VOLUME


async def test_token_volume_noise_is_not_a_volume_problem(d: Dump) -> None:
    dep = healthy(d, "uploads")
    pod = d.spaces[NS]["pods"][0]
    d.event(
        pod,
        "FailedMount",
        'MountVolume.SetUp failed for volume "kube-api-access-x2v9c" : '
        'object "shop"/"kube-root-ca.crt" not registered',
        count=2,
    )

    inv = await run(d, {"deployment": dep["metadata"]["name"]})

    assert Cause.VOLUME not in {f.cause for f in inv.findings}


# -- nodes -------------------------------------------------------------------------------------


async def test_an_evicted_pod_points_at_node_pressure(d: Dump) -> None:
    d.node("node-3", pressure={"DiskPressure": "True"})
    dep = d.deployment(NS, "thumbnails", replicas=1, ready=1)
    rs = d.replicaset(dep, template(container("thumbnails")), revision=1, replicas=1, ready=1)
    message = (
        "The node was low on resource: ephemeral-storage. Threshold quantity: 4226280360, "
        "available: 3854924Ki. Container thumbnails was using 9120Mi, request is 0."
    )
    pod = d.pod(
        rs,
        f"{rs['metadata']['name']}-e5r6t",
        node="node-3",
        phase="Failed",
        reason="Evicted",
        message=message,
        statuses={
            "thumbnails": {
                "state": {"terminated": exited("ContainerStatusUnknown", 137)},
                "ready": False,
                "restartCount": 0,
                "lastState": {},
            }
        },
    )
    d.event(pod, "Evicted", message)
    d.pod(rs, f"{rs['metadata']['name']}-y7u8i")

    inv = await run(d, {"pod": pod["metadata"]["name"]})

    assert inv.findings[0].cause is Cause.NODE_PRESSURE
    assert "low on resource: ephemeral-storage" in cited(inv)
    assert "DiskPressure=True" in cited(inv)


async def test_a_node_alert_reads_the_nodes_conditions(d: Dump) -> None:
    d.node(
        "node-4",
        ready="Unknown",
        reason="NodeStatusUnknown",
        message="Kubelet stopped posting node status.",
    )

    inv = await investigate(DumpSource(d.write()), {"node": "node-4"}, at=T0)

    assert inv.target.kind == "Node"
    assert inv.findings[0].cause is Cause.NODE_NOT_READY
    assert "Kubelet stopped posting node status" in cited(inv)


async def test_a_pod_on_a_lost_node_is_node_not_ready(d: Dump) -> None:
    d.node(
        "node-5",
        ready="Unknown",
        reason="NodeStatusUnknown",
        message="Kubelet stopped posting node status.",
    )
    dep = d.deployment(NS, "cart", replicas=2, ready=1)
    rs = d.replicaset(dep, template(container("cart")), revision=3, replicas=2, ready=1)
    pod = d.pod(
        rs,
        f"{rs['metadata']['name']}-f4g5h",
        node="node-5",
        statuses={"cart": running(ready=False)},
    )
    d.pod(rs, f"{rs['metadata']['name']}-j6k7l")

    inv = await run(d, {"pod": pod["metadata"]["name"]})

    assert inv.findings[0].cause is Cause.NODE_NOT_READY


async def test_a_healthy_node_with_a_broken_pod_is_not_the_nodes_fault(d: Dump) -> None:
    decoy_oom(d)

    inv = await investigate(DumpSource(d.write()), {"node": "node-1"}, at=T0)

    assert inv.findings[0].cause is Cause.UNKNOWN


# -- HPA_MAXED, QUOTA_EXCEEDED, JOB_FAILED ------------------------------------------------------


async def test_an_hpa_at_its_ceiling_above_target_is_maxed(d: Dump) -> None:
    dep = healthy(d, "frontend")
    d.hpa(NS, "frontend", dep, min_r=2, max_r=12, current=12, utilization=188, limited=True)

    inv = await run(d, {"horizontalpodautoscaler": "frontend"})

    assert inv.target.name == "frontend"
    assert inv.target.kind == "Deployment"
    assert inv.findings[0].cause is Cause.HPA_MAXED
    assert "188%" in cited(inv)


async def test_an_hpa_within_range_is_not_maxed(d: Dump) -> None:
    dep = healthy(d, "frontend")
    d.hpa(NS, "frontend", dep, min_r=2, max_r=12, current=4, utilization=55)

    inv = await run(d, {"horizontalpodautoscaler": "frontend"})

    assert inv.findings[0].cause is Cause.UNKNOWN


async def test_exceeded_quota_stops_pod_creation(d: Dump) -> None:
    d.quota(
        NS,
        "team-quota",
        {"limits.memory": "16Gi", "pods": "30"},
        {"limits.memory": "15872Mi", "pods": "12"},
    )
    dep = d.deployment(NS, "reports", replicas=2)
    rs = d.replicaset(
        dep,
        template(container("reports", limits={"memory": "1Gi"})),
        revision=1,
        replicas=2,
        ready=0,
    )
    d.event(
        rs,
        "FailedCreate",
        f'Error creating: pods "{rs["metadata"]["name"]}-x9c8v" is forbidden:'
        " exceeded quota: team-quota, requested: limits.memory=1Gi, used: limits.memory=15872Mi,"
        " limited: limits.memory=16Gi",
        count=17,
    )

    inv = await run(d, {"deployment": "reports"})

    assert inv.findings[0].cause is Cause.QUOTA_EXCEEDED
    assert "limits.memory 15872Mi used of 16Gi" in cited(inv)


async def test_a_quota_with_room_is_not_a_cause(d: Dump) -> None:
    d.quota(NS, "team-quota", {"pods": "30"}, {"pods": "3"})
    healthy(d, "reports")

    inv = await run(d, {"deployment": "reports"})

    assert Cause.QUOTA_EXCEEDED not in {f.cause for f in inv.findings}


async def test_a_job_over_its_backoff_limit_failed(d: Dump) -> None:
    job = d.job(
        NS,
        "import-catalog",
        template(container("importer")),
        backoff=2,
        failed=3,
        failed_reason="BackoffLimitExceeded",
        message="Job has reached the specified backoff limit",
    )
    for suffix in ("a1b2c", "d4f5g", "h6j7k"):
        pod = d.pod(
            job,
            f"import-catalog-{suffix}",
            phase="Failed",
            statuses={
                "importer": {
                    "state": {"terminated": exited("Error", 1)},
                    "ready": False,
                    "restartCount": 0,
                    "lastState": {},
                }
            },
        )
        d.log(pod, "importer", ["ValueError: row 18233: price is not a number"])
    d.event(job, "BackoffLimitExceeded", "Job has reached the specified backoff limit")

    inv = await run(d, {"job_name": "import-catalog"})

    assert inv.findings[0].cause is Cause.JOB_FAILED
    assert "BackoffLimitExceeded" in inv.findings[0].summary
    assert Cause.APP_CRASH in {f.cause for f in inv.findings[1:]}


async def test_a_cronjobs_failed_run(d: Dump) -> None:
    cron = d.cronjob(NS, "nightly-export", template(container("export")))
    d.job(
        NS,
        "nightly-export-29610000",
        template(container("export")),
        cronjob=cron,
        failed_reason="DeadlineExceeded",
        message="Job was active longer than specified deadline",
        deadline=600,
    )

    inv = await run(d, {"cronjob": "nightly-export"})

    assert inv.findings[0].cause is Cause.JOB_FAILED
    assert "activeDeadlineSeconds 600" in inv.findings[0].summary


async def test_a_completed_job_is_not_failed(d: Dump) -> None:
    job = d.job(NS, "backfill", template(container("backfill")))
    job["status"]["conditions"] = [{"type": "Complete", "status": "True"}]

    inv = await run(d, {"job_name": "backfill"})

    assert inv.findings[0].cause is Cause.UNKNOWN


def limit_rollout(d: Dump, *, old_serving: bool) -> dict:
    dep = d.deployment(NS, "scorer", replicas=2, ready=2 if old_serving else 0)
    old = d.replicaset(
        dep,
        template(container("scorer", limits={"memory": "2Gi"})),
        revision=3,
        created=-60 * 24 * 30,
        replicas=2 if old_serving else 0,
        ready=2 if old_serving else 0,
    )
    new = d.replicaset(
        dep,
        template(container("scorer", limits={"memory": "512Mi"})),
        revision=4,
        created=-50,
        replicas=1,
        ready=0,
    )
    if old_serving:
        d.pod(old, f"{old['metadata']['name']}-aaaaa", created=-60 * 24 * 30)
    return d.pod(
        new,
        f"{new['metadata']['name']}-bbbbb",
        statuses={
            "scorer": waiting(
                "CrashLoopBackOff", CRASHING, restarts=4, last=exited("OOMKilled", 137)
            )
        },
    )


async def test_a_limit_cut_by_a_rollout_that_the_old_revision_survives_is_the_rollout(
    d: Dump,
) -> None:
    pod = limit_rollout(d, old_serving=True)

    inv = await run(d, {"pod": pod["metadata"]["name"]})

    assert [f.cause for f in inv.findings[:2]] == [Cause.BAD_ROLLOUT, Cause.OOM_KILLED]
    assert "limits memory=2Gi → memory=512Mi" in inv.findings[0].summary


async def test_an_oom_after_a_finished_rollout_is_an_oom(d: Dump) -> None:
    pod = limit_rollout(d, old_serving=False)

    inv = await run(d, {"pod": pod["metadata"]["name"]})

    assert inv.findings[0].cause is Cause.OOM_KILLED


async def test_a_vague_past_crash_of_a_recovered_container_is_unknown(d: Dump) -> None:
    dep = d.deployment(NS, "ledger", replicas=1, ready=1)
    rs = d.replicaset(dep, template(container("ledger")), revision=2, replicas=1)
    pod = d.pod(
        rs,
        f"{rs['metadata']['name']}-aaaaa",
        statuses={"ledger": running(restarts=2, last=exited("Error", 1, at=-12), since=-11)},
    )
    d.log(pod, "ledger", ["INFO ledger ready"])

    inv = await run(d, {"pod": pod["metadata"]["name"]})

    assert inv.findings[0].cause is Cause.UNKNOWN
    assert inv.findings[1].cause is Cause.APP_CRASH  # the weaker reading, still shown


async def test_a_recent_oom_of_a_recovered_container_still_explains_the_alert(d: Dump) -> None:
    dep = d.deployment(NS, "ledger", replicas=1, ready=1)
    rs = d.replicaset(dep, template(container("ledger")), revision=2, replicas=1)
    pod = d.pod(
        rs,
        f"{rs['metadata']['name']}-aaaaa",
        statuses={"ledger": running(restarts=3, last=exited("OOMKilled", 137, at=-4), since=-3)},
    )

    inv = await run(d, {"pod": pod["metadata"]["name"]})

    assert inv.findings[0].cause is Cause.OOM_KILLED


async def test_a_config_error_without_a_missing_reference_is_a_weaker_reading(d: Dump) -> None:
    dep = d.deployment(NS, "vault-agent", replicas=1)
    rs = d.replicaset(dep, template(container("agent")), revision=1, replicas=1, ready=0)
    message = 'container has runAsNonRoot and image will run as root (container: "agent")'
    pod = d.pod(
        rs,
        f"{rs['metadata']['name']}-c4z9k",
        phase="Pending",
        statuses={"agent": waiting("CreateContainerConfigError", message)},
    )

    inv = await run(d, {"pod": pod["metadata"]["name"]})

    assert inv.findings[0].cause is Cause.CONFIG_MISSING
    assert inv.findings[0].confidence < 0.7

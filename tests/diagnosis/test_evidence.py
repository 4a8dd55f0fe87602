"""Evidence collection: events folded and newest first, bounded logs, extra providers, and
secrets (env values, Secret data, log lines) never in evidence, prompts or findings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from awoooi.diagnosis.evidence import ExtraEvidence
from awoooi.diagnosis.model import Cause, Investigation, Target
from awoooi.diagnosis.prompt import build_prompt
from awoooi.diagnosis.service import investigate
from awoooi.diagnosis.source import DumpSource
from tests.diagnosis.dumps import T0, Dump, container, exited, template, waiting

NS = "pay"
CRASHING = "back-off 5m0s restarting failed container"
PLANTED = [
    "sk_live_9Qx7Lm2Vb8Nc4Zr6Tw1Yp3Kd",  # env value of a secret-named variable
    "Hk29xLp0Qz7Wm4Vn8Rt2",  # Secret data
    "Pg-Sup3r-S3cret-99",  # a password in a DSN env value and in a log URL
    "AbCdEf0123456789GhIjKlMnOpQrStUv",  # a bare token a log line prints
    "hunter2-Admin-77",  # a --password flag in args
]


@pytest.fixture
def leaky(tmp_path: Path) -> Dump:
    d = Dump(tmp_path / "cluster")
    d.node("node-1")
    d.secret(NS, "gateway-keys", {"webhook-secret": PLANTED[1]})
    dep = d.deployment(NS, "gateway", replicas=1)
    env = {
        "STRIPE_API_KEY": PLANTED[0],
        "DATABASE_URL": f"postgres://gw:{PLANTED[2]}@ledger-db.pay.svc:5432/gw",
        "LOG_LEVEL": "debug",
    }
    ref = {
        "name": "WEBHOOK_SECRET",
        "valueFrom": {"secretKeyRef": {"name": "gateway-keys", "key": "webhook-secret"}},
    }
    old = d.replicaset(
        dep,
        template(
            container(
                "gateway",
                env=env,
                env_refs=[ref],
                args=["--admin-user=ops", f"--password={PLANTED[4]}"],
            )
        ),
        revision=1,
        created=-60 * 24 * 5,
        replicas=0,
        ready=0,
    )
    env2 = {**env, "STRIPE_API_KEY": PLANTED[0] + "x"}
    rs = d.replicaset(
        dep,
        template(
            container(
                "gateway",
                env=env2,
                env_refs=[ref],
                args=["--admin-user=ops", f"--password={PLANTED[4]}"],
            )
        ),
        revision=2,
        created=-30,
        replicas=1,
        ready=0,
    )
    assert old
    pod = d.pod(
        rs,
        f"{rs['metadata']['name']}-q2w3e",
        statuses={
            "gateway": waiting("CrashLoopBackOff", CRASHING, restarts=4, last=exited("Error", 1))
        },
    )
    d.log(
        pod,
        "gateway",
        [
            f"INFO connecting to postgres://gw:{PLANTED[2]}@ledger-db.pay.svc:5432/gw",
            f"DEBUG stripe client ready key={PLANTED[0]}",
            f"DEBUG using signing token {PLANTED[3]}",
            f"DEBUG webhook secret is {PLANTED[1]}",
            "ERROR dial tcp 10.9.0.4:5432: connect: connection refused",
        ],
    )
    d.previous_log(pod, "gateway", [f"boot with admin password {PLANTED[4]}", "fatal: exiting"])
    d.event(pod, "BackOff", "Back-off restarting failed container", count=12)
    # A message quoting a secret env value verbatim: findings quote messages too.
    d.event(
        pod,
        "Unhealthy",
        f"Liveness probe failed: Get http://10.0.0.9:8080/live?db={PLANTED[2]}",
        count=3,
        field="spec.containers{gateway}",
    )
    return d


async def test_no_planted_secret_reaches_evidence_findings_or_prompt(leaky: Dump) -> None:
    inv = await investigate(
        DumpSource(leaky.write()), {"namespace": NS, "deployment": "gateway"}, at=T0
    )
    prompt = build_prompt(inv, {"alert": "KubePodCrashLooping"}, max_chars=100_000)
    everything = "\n".join(
        [e.text for e in inv.evidence] + [f.summary for f in inv.findings] + [prompt.text]
    )

    for secret in PLANTED:
        assert secret not in everything, secret
    # The useful parts survive the scrubbing.
    assert "ledger-db.pay.svc" in everything
    assert "connection refused" in everything
    assert "env STRIPE_API_KEY changed" in everything
    assert "Secret gateway-keys key webhook-secret" in everything
    probe = next(f for f in inv.findings if f.cause is Cause.PROBE_FAILURE)
    assert "db=[REDACTED:env]" in probe.summary


async def test_events_are_folded_with_their_counts_newest_first(tmp_path: Path) -> None:
    d = Dump(tmp_path / "cluster")
    d.node("node-1")
    dep = d.deployment(NS, "api", replicas=2)
    rs = d.replicaset(dep, template(container("api")), revision=1, replicas=2, ready=0)
    pods = [
        d.pod(
            rs,
            f"{rs['metadata']['name']}-{s}",
            statuses={
                "api": waiting("CrashLoopBackOff", CRASHING, restarts=3, last=exited("Error", 1))
            },
        )
        for s in ("aaaaa", "bbbbb")
    ]
    for n, pod in enumerate(pods):
        name, uid = pod["metadata"]["name"], pod["metadata"]["uid"]
        d.event(
            pod,
            "BackOff",
            f"Back-off restarting failed container api in pod {name}_pay({uid})",
            count=10 + n,
            first=-40,
            last=-2 - n,
        )
    d.event(
        pods[0],
        "FailedScheduling",
        "0/1 nodes are available: 1 Insufficient cpu.",
        count=4,
        first=-50,
        last=-30,
        new_style=True,
    )
    d.event(pods[0], "Scheduled", "Successfully assigned pay/x to node-1", type_="Normal")
    d.event(pods[0], "Killing", "Stopping container api", type_="Normal", last=-1)
    d.event(
        rs,
        "FailedCreate",
        "(combined from similar events): Error creating: pods is forbidden",
        count=3,
        last=-5,
    )
    d.event(rs, "FailedCreate", "Error creating: pods is forbidden", count=2, last=-20)
    d.event(d.deployment(NS, "other"), "Unhealthy", "not ours", count=99)

    inv = await investigate(DumpSource(d.write()), {"namespace": NS, "deployment": "api"}, at=T0)
    events = [e.text for e in inv.evidence if e.source == "events"]

    assert (
        len(events) == 4
    )  # BackOff (both pods), FailedCreate (both wordings), Killing, scheduling
    assert events[0].startswith("Normal Killing x1")
    assert "Warning BackOff x21 on Pod" in events[1]
    assert pods[0]["metadata"]["name"] in events[1]
    assert pods[1]["metadata"]["name"] in events[1]
    assert any("FailedCreate x5" in e for e in events)
    assert any("FailedScheduling x4" in e and "first" in e for e in events)
    assert not any("Scheduled" in e and "Successfully" in e for e in events)
    assert not any("not ours" in e for e in events)


async def test_log_evidence_is_bounded_and_keeps_the_end(tmp_path: Path) -> None:
    d = Dump(tmp_path / "cluster")
    d.node("node-1")
    dep = d.deployment(NS, "api", replicas=1)
    rs = d.replicaset(dep, template(container("api")), revision=1, replicas=1, ready=0)
    pod = d.pod(
        rs,
        f"{rs['metadata']['name']}-aaaaa",
        statuses={
            "api": waiting("CrashLoopBackOff", CRASHING, restarts=3, last=exited("Error", 1))
        },
    )
    noise = [f"DEBUG request {n} " + "x" * 400 for n in range(12_000)]  # ~5 MB
    d.log(
        pod,
        "api",
        [
            *noise[:6000],
            "ERROR early failure worth keeping",
            *noise[6000:],
            "FATAL config: unknown field 'timeoutz'",
        ],
    )

    inv = await investigate(DumpSource(d.write()), {"namespace": NS, "deployment": "api"}, at=T0)
    logs = [e for e in inv.evidence if e.source == "logs"]

    assert len(logs) == 1
    assert len(logs[0].text) <= 6_000
    assert logs[0].text.rstrip().endswith("FATAL config: unknown field 'timeoutz'")
    assert "unknown field 'timeoutz'" in inv.findings[0].summary


class KnowledgeStub:
    """An extra evidence provider, as the knowledge base will be."""

    def __init__(self) -> None:
        self.asked: list[Target] = []

    async def evidence(self, target: Target, labels: Mapping[str, str]) -> Sequence[ExtraEvidence]:
        self.asked.append(target)
        return [
            ExtraEvidence(
                "knowledge",
                f"runbook for {target.name}: raise the memory limit; token=abcd1234abcd1234",
            )
        ]


async def test_extra_evidence_providers_are_numbered_and_scrubbed(leaky: Dump) -> None:
    provider = KnowledgeStub()

    inv: Investigation = await investigate(
        DumpSource(leaky.write()),
        {"namespace": NS, "deployment": "gateway"},
        extra_evidence=[provider],
        at=T0,
    )

    extra = [e for e in inv.evidence if e.source == "knowledge"]
    assert provider.asked == [Target("Deployment", NS, "gateway")]
    assert len(extra) == 1
    assert extra[0].id == inv.evidence[-1].id
    assert "runbook for gateway" in extra[0].text
    assert "abcd1234abcd1234" not in extra[0].text

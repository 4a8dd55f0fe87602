"""Diagnosis at scale: investigate() and build_prompt() per incident on a cluster dump of 2,000
pods and 20,000 events, against the floor of loading the whole dump."""

# Run from the repository root with the project's venv:
#
#     .venv/bin/python bench/diagnosis.py [--pods 2000] [--events 20000] [--incidents 200]
#         [--seed 7] [--reference-runs 5] [--keep DIR] [--profile N]
#
# 1. Generates (seeded, deterministic) one EKS-like cluster as `kubectl cluster-info dump
#    --all-namespaces --output-directory` writes it, with awoooi's extra Lists (statefulsets,
#    jobs, cronjobs, horizontalpodautoscalers, persistentvolumeclaims, resourcequotas,
#    configmaps, secrets) and `logs-<container>-previous.txt`: --pods pods and exactly --events
#    events over ~60 nodes and ~50 namespaces of skewed sizes. System namespaces (kube-system,
#    monitoring, logging, ingress-nginx, cert-manager, argocd) with their DaemonSets on every
#    node; team namespaces with Deployments (several old ReplicaSets each, revisions with other
#    image tags), StatefulSets with their PVCs, CronJobs with their Jobs and Completed pods, HPAs,
#    ResourceQuotas, ConfigMaps and Secrets (real-looking base64 values), sidecars and init
#    containers in a mesh; per-pod `logs.txt` with a block per container in the formats real
#    programs write (logfmt, zap, Spring Boot, Python logging, pino, Rust tracing, nginx), a few
#    thousand lines for the chatty ones. Failing workloads cover the taxonomy: OOMKilled, app
#    crashes with their logs, dependencies refused / unresolvable / timing out / rejecting
#    credentials, missing ConfigMaps, Secrets and keys, image pulls (tag not found, 401, 403),
#    bad rollouts (a new revision failing while the old one serves), liveness and readiness
#    probe failures, unschedulable pods (resources, taints and selectors), volumes (unbound
#    claims, Multi-Attach, a missing Secret volume), evictions under node pressure, a node whose
#    kubelet stopped posting status, HPAs at their maximum, quota refusals, failed Jobs. Noise:
#    healthy rollouts and CronJob runs within the hour (their events outlive their pods), old
#    probe flaps, HPA rescales, Argo CD and ingress events, old restarts, GPU nodes with a taint.
#    About 0.6 x --incidents workloads fail (a quarter of them all: a stress case, not a
#    typical day). Events are cut to the API server's one-hour TTL before the dump time.
# 2. Draws --incidents alerts from the failing workloads with the labels kube-prometheus rules
#    produce (namespace + pod + container, deployment, statefulset, job_name,
#    horizontalpodautoscaler, node, plus the scrape's instance/job/endpoint/service/prometheus),
#    each as an Alertmanager v4 payload read with awoooi's own alert parser.
# 3. Times per incident `investigate(source, labels, at=startsAt)` (target resolution, every
#    evidence collector, the analyzers) and `build_prompt` (default budget), three ways, in this
#    order: a fresh DumpSource per incident ("cold": what `awoooi diagnose --cluster-dump` pays
#    each run), then one shared DumpSource over all incidents in a random order (its first pass
#    pays each List's parse once; the second pass is all cached). Files are in the page cache in
#    every case (they were just written). The generator's objects are dropped first: a real run
#    does not carry them, and every full collection of the cyclic GC would walk them.
# 4. The reference, in the same run: reading the whole dump per incident — `json.load` of every
#    List in every namespace and every log file read whole — the floor any tool that "just loads
#    the dump" pays before it has looked at anything (timed --reference-runs times; it does not
#    depend on the incident). Also, per incident, the namespace floor: `json.load` of the
#    target namespace's Lists, nodes.json and default/events.json only (for a node, every
#    namespace's pods.json too: a dump has no index by node), the least a cold reader parses.
#    Both are interleaved with the cold pass (the reference every --incidents/--reference-runs
#    incidents, the floor just before each incident), so they share its moment's load.
# 5. Sanity (not a claim): top-1 cause and target against what the generator planted, and
#    whether any planted secret value reached a prompt or the evidence.
#
# --profile N prints cProfile's top functions for N incidents, cold and cached, instead. The
# defaults take about a minute on two cores (generating and writing the 160 MB dump is ~15 s).

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import gc
import hashlib
import json
import math
import os
import platform
import pstats
import random
import shutil
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from awoooi.diagnosis.alert import AlertContext, parse_alert
from awoooi.diagnosis.errors import DiagnosisInputError
from awoooi.diagnosis.model import Investigation
from awoooi.diagnosis.prompt import Prompt, build_prompt
from awoooi.diagnosis.service import investigate
from awoooi.diagnosis.source import DumpSource

JSON = dict[str, Any]
# Alerts start around T0; the dump is taken DUMP_AT minutes later; the API server keeps events
# for an hour after their last update.
T0 = datetime(2026, 11, 24, 14, 2, 17, 480000, tzinfo=UTC)
DUMP_AT = 12.0
EVENT_TTL = 60.0
SAFE = "bcdfghjklmnpqrstvwxz2456789"
REGION = "eu-west-1"
K8S = "v1.29.8-eks-a737599"
ACCOUNT = "318744912605"
ECR = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
PODS_PER_NODE = 34
MESH_SHARE = 0.3
LIST_KINDS = {
    "events": ("EventList", "v1"),
    "replicationcontrollers": ("ReplicationControllerList", "v1"),
    "services": ("ServiceList", "v1"),
    "daemonsets": ("DaemonSetList", "apps/v1"),
    "deployments": ("DeploymentList", "apps/v1"),
    "replicasets": ("ReplicaSetList", "apps/v1"),
    "pods": ("PodList", "v1"),
    "statefulsets": ("StatefulSetList", "apps/v1"),
    "jobs": ("JobList", "batch/v1"),
    "cronjobs": ("CronJobList", "batch/v1"),
    "horizontalpodautoscalers": ("HorizontalPodAutoscalerList", "autoscaling/v2"),
    "persistentvolumeclaims": ("PersistentVolumeClaimList", "v1"),
    "resourcequotas": ("ResourceQuotaList", "v1"),
    "configmaps": ("ConfigMapList", "v1"),
    "secrets": ("SecretList", "v1"),
}
# What `kubectl cluster-info dump` always writes per namespace (the rest only when non-empty).
ALWAYS = (
    "events",
    "replicationcontrollers",
    "services",
    "daemonsets",
    "deployments",
    "replicasets",
    "pods",
)

# fmt: off
TEAMS = (
    "checkout", "payments", "search", "catalog", "identity", "ledger", "notifications", "media",
    "analytics", "ingest", "billing", "shipping", "inventory", "pricing", "reviews", "recs",
    "messaging", "gateway", "reports", "etl", "ml-serving", "fraud", "support", "cms", "geo",
    "booking", "loyalty", "partner-api", "warehouse", "orders", "accounts", "storefront",
    "mobile-bff", "ads", "experiments", "feature-flags", "audit", "compliance", "tax",
    "subscriptions", "returns", "carriers", "routing", "forecast", "labels", "kiosk", "rewards",
    "chat", "telemetry", "invoicing", "docs", "onboarding", "scheduler", "quotes", "tenants",
)
NOUNS = (
    "order", "cart", "invoice", "ledger", "user", "session", "token", "price", "quote", "stock",
    "label", "route", "parcel", "review", "rating", "image", "thumb", "feed", "event", "report",
    "export", "import", "sync", "index", "search", "match", "fraud", "risk", "rule", "notice",
    "mail", "sms", "push", "webhook", "audit", "tax", "refund", "payout", "ticket", "slot",
)
ROLES = (
    "api", "worker", "web", "consumer", "scheduler", "gateway", "sync", "indexer", "exporter",
    "service", "processor", "bridge", "collector", "renderer", "resolver", "writer", "reader",
)
RUNTIMES = ("go", "go", "java", "java", "python", "python", "node", "node", "rust", "nginx")
PATHS = ("/api/v1/items", "/api/v1/orders", "/v2/search", "/graphql", "/api/cart", "/v1/quotes",
         "/api/users/me", "/internal/sync", "/v1/prices", "/api/v3/labels", "/healthz", "/metrics")
# fmt: on
EXIT_CODES = {"go": 2, "java": 1, "python": 1, "node": 1, "rust": 101, "nginx": 1}
PORTS = {"go": 8080, "java": 8080, "python": 8000, "node": 3000, "rust": 8080, "nginx": 80}
DATA_KINDS = {
    "postgres": ("docker.io/library/postgres:16.4", 5432, "postgres"),
    "redis": ("docker.io/bitnami/redis:7.2.5", 6379, "redis"),
    "mongo": ("docker.io/library/mongo:7.0.12", 27017, "mongo"),
    "rabbitmq": ("docker.io/library/rabbitmq:3.13-management", 5672, "amqp"),
    "kafka": ("docker.io/bitnami/kafka:3.7.0", 9092, "kafka"),
    "elasticsearch": ("docker.elastic.co/elasticsearch/elasticsearch:8.14.3", 9200, "http"),
}
# (cause, share of failing workloads, plausible alerts first-choice first)
CAUSES: tuple[tuple[str, float], ...] = (
    ("OOM_KILLED", 0.11),
    ("APP_CRASH", 0.12),
    ("DEPENDENCY_FAILURE", 0.14),
    ("CONFIG_MISSING", 0.08),
    ("IMAGE_PULL", 0.09),
    ("BAD_ROLLOUT", 0.1),
    ("PROBE_FAILURE", 0.09),
    ("UNSCHEDULABLE_RESOURCES", 0.05),
    ("UNSCHEDULABLE_CONSTRAINTS", 0.03),
    ("VOLUME", 0.05),
    ("NODE_PRESSURE", 0.04),
    ("HPA_MAXED", 0.03),
    ("QUOTA_EXCEEDED", 0.03),
    ("JOB_FAILED", 0.04),
)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_ms(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def iso_us(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def quantity_m(value: str | None) -> float:
    """A cpu quantity in millicores."""
    if not value:
        return 0.0
    return float(value[:-1]) if value.endswith("m") else float(value) * 1000


def quantity_mi(value: str | None) -> float:
    """A memory quantity in MiB."""
    if not value:
        return 0.0
    for suffix, factor in (("Ki", 1 / 1024), ("Mi", 1.0), ("Gi", 1024.0)):
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * factor
    return float(value) / 2**20


def http_probe(
    path: str, port: int, *, delay: int = 10, period: int = 10, timeout: int = 1, failures: int = 3
) -> JSON:
    return {
        "httpGet": {"path": path, "port": port, "scheme": "HTTP"},
        "initialDelaySeconds": delay,
        "timeoutSeconds": timeout,
        "periodSeconds": period,
        "successThreshold": 1,
        "failureThreshold": failures,
    }


# --- container states (minutes from T0) -------------------------------------------------------


@dataclass
class Term:
    reason: str
    code: int
    started: float | None
    finished: float | None
    message: str | None = None


@dataclass
class State:
    kind: str  # running | waiting | terminated
    since: float | None = None
    ready: bool = True
    restarts: int = 0
    reason: str = ""
    message: str | None = None
    term: Term | None = None
    last: Term | None = None


def running(
    since: float, *, ready: bool = True, restarts: int = 0, last: Term | None = None
) -> State:
    return State("running", since=since, ready=ready, restarts=restarts, last=last)


def waiting(
    reason: str, message: str | None = None, *, restarts: int = 0, last: Term | None = None
) -> State:
    return State(
        "waiting", ready=False, reason=reason, message=message, restarts=restarts, last=last
    )


def terminated(
    reason: str, code: int, started: float, finished: float, *, message: str | None = None
) -> State:
    return State("terminated", ready=False, term=Term(reason, code, started, finished, message))


# --- log lines in the formats real programs write ----------------------------------------------


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


class Logs:
    """Log lines per runtime: healthy chatter, a crash, a dependency failure, memory growth."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def ip(self) -> str:
        return f"10.20.{self.rng.randint(0, 63)}.{self.rng.randint(2, 254)}"

    def line(
        self,
        runtime: str,
        app: str,
        pod: str,
        dt: datetime,
        *,
        level: str = "info",
        msg: str | None = None,
    ) -> str:
        """One line at this level; an access-log line when no message is given."""
        r = self.rng
        path = r.choice(PATHS)
        status = r.choice((200, 200, 200, 200, 201, 204, 304, 404)) if msg is None else 0
        took = round(r.lognormvariate(1.2, 0.9), 3)
        if runtime == "go":
            text = msg or "request served"
            if r.random() < 0.5:
                extra = (
                    f" method=GET path={path} status={status} duration={took}ms" if not msg else ""
                )
                return f'time="{iso(dt)}" level={level} msg="{text}"{extra}'
            body: JSON = {
                "level": level,
                "ts": iso_ms(dt),
                "caller": f"{app.split('-')[0]}/server.go:{r.randint(40, 300)}",
                "msg": text,
            }
            if not msg:
                body.update(
                    {"method": "GET", "path": path, "status": status, "latency": f"{took}ms"}
                )
            return json.dumps(body, separators=(",", ":"))
        if runtime == "java":
            thread = r.choice(("main", "http-nio-8080-exec-3", "scheduling-1", "kafka-consumer-1"))
            logger = r.choice(
                (
                    "c.n.web.RequestLogger",
                    "o.s.web.servlet.DispatcherServlet",
                    "c.n.service.SyncService",
                    "o.h.engine.jdbc.batch",
                )
            )
            text = msg or f"GET {path} -> {status} in {took}ms"
            lvl = {"info": "INFO", "warn": "WARN", "error": "ERROR", "debug": "DEBUG"}[level]
            return f"{iso_ms(dt)} {lvl:>5} 1 --- [{app}] [{thread[-15:]:>15}] {logger:<40} : {text}"
        if runtime == "python":
            lvl = {"info": "INFO", "warn": "WARNING", "error": "ERROR", "debug": "DEBUG"}[level]
            if msg is None:
                return (
                    f"{dt:%Y-%m-%d %H:%M:%S},{dt.microsecond // 1000:03d} INFO [uvicorn.access] "
                    f'{self.ip()}:{r.randint(30000, 60000)} - "GET {path} HTTP/1.1" {status}'
                )
            return (
                f"{dt:%Y-%m-%d %H:%M:%S},{dt.microsecond // 1000:03d} {lvl} "
                f"[{app.replace('-', '_')}] {msg}"
            )
        if runtime == "node":
            number = {"debug": 20, "info": 30, "warn": 40, "error": 50}[level]
            body = {"level": number, "time": int(dt.timestamp() * 1000), "pid": 1, "hostname": pod}
            if msg is None:
                body.update(
                    {
                        "req": {"method": "GET", "url": path},
                        "res": {"statusCode": status},
                        "responseTime": took,
                        "msg": "request completed",
                    }
                )
            else:
                body["msg"] = msg
            return json.dumps(body, separators=(",", ":"))
        if runtime == "rust":
            lvl = {"info": " INFO", "warn": " WARN", "error": "ERROR", "debug": "DEBUG"}[level]
            if msg is None:
                return (
                    f"{iso_us(dt)} {lvl} request{{method=GET uri={path} version=HTTP/1.1}}: "
                    "tower_http::trace::on_response: finished processing request "
                    f"latency={int(took)} ms status={status}"
                )
            return f"{iso_us(dt)} {lvl} {app.replace('-', '_')}: {msg}"
        # nginx
        if msg is None:
            return (
                f'{self.ip()} - - [{dt:%d/%b/%Y:%H:%M:%S} +0000] "GET {path} HTTP/1.1" {status} '
                f'{r.randint(200, 90000)} "-" "Mozilla/5.0 (X11; Linux x86_64)" "{self.ip()}"'
            )
        nginx_level = {"info": "notice", "warn": "warn", "error": "error", "debug": "debug"}[level]
        return f"{dt:%Y/%m/%d %H:%M:%S} [{nginx_level}] 1#1: {msg}"

    def start(self, runtime: str, app: str, pod: str, dt: datetime, version: str) -> list[str]:
        r = self.rng
        port = PORTS[runtime]
        if runtime == "java":
            return [
                "",
                "  .   ____          _            __ _ _",
                " :: Spring Boot ::                (v3.3.2)",
                "",
                self.line(
                    runtime,
                    app,
                    pod,
                    dt,
                    msg=f"Starting {app.title().replace('-', '')}Application v{version} using "
                    "Java 21.0.4 with PID 1",
                ),
                self.line(
                    runtime,
                    app,
                    pod,
                    dt + timedelta(seconds=2),
                    msg='No active profile set, falling back to 1 default profile: "default"',
                ),
                self.line(
                    runtime,
                    app,
                    pod,
                    dt + timedelta(seconds=9),
                    msg=f"Tomcat started on port {port} (http) with context path '/'",
                ),
                self.line(
                    runtime,
                    app,
                    pod,
                    dt + timedelta(seconds=9.5),
                    msg=f"Started {app.title().replace('-', '')}Application in "
                    f"{r.uniform(8, 20):.3f} seconds (process running for {r.uniform(9, 21):.3f})",
                ),
            ]
        if runtime == "nginx":
            return [
                "/docker-entrypoint.sh: Configuration complete; ready for start up",
                f'{dt:%Y/%m/%d %H:%M:%S} [notice] 1#1: using the "epoll" event method',
                f"{dt:%Y/%m/%d %H:%M:%S} [notice] 1#1: nginx/1.27.0",
                f"{dt:%Y/%m/%d %H:%M:%S} [notice] 1#1: start worker processes",
            ]
        return [
            self.line(runtime, app, pod, dt, msg=f"{app} {version} starting"),
            self.line(runtime, app, pod, dt + timedelta(seconds=0.4), msg=f"listening on :{port}"),
        ]

    def chatter(
        self, runtime: str, app: str, pod: str, begin: datetime, end: datetime, count: int
    ) -> Iterator[str]:
        """Healthy traffic with the odd warning and a recovered error, evenly over the span."""
        r = self.rng
        step = max((end - begin).total_seconds() / max(count, 1), 0.001)
        for index in range(count):
            dt = begin + timedelta(seconds=index * step + r.random() * step)
            roll = r.random()
            if roll < 0.015:
                yield self.line(
                    runtime,
                    app,
                    pod,
                    dt,
                    level="warn",
                    msg=r.choice(
                        (
                            f"slow request: {r.choice(PATHS)} took {r.randint(1100, 4800)}ms",
                            "cache refresh took longer than the interval, skipping one",
                            f"retrying upstream call ({r.randint(1, 3)}/3)",
                        )
                    ),
                )
            elif roll < 0.02:
                yield self.line(
                    runtime,
                    app,
                    pod,
                    dt,
                    level="error",
                    msg=r.choice(
                        (
                            f"upstream returned 503 for {r.choice(PATHS)}; served from cache",
                            "failed to publish metrics batch; will retry",
                            f"request {r.getrandbits(64):016x} failed validation: missing field "
                            "'currency'",
                        )
                    ),
                )
            else:
                yield self.line(runtime, app, pod, dt)

    def crash(self, runtime: str, app: str, pod: str, dt: datetime) -> list[str]:
        """The end of a run that failed on an error of its own."""
        r = self.rng
        module = app.split("-")[0]
        if runtime == "go":
            return r.choice(
                (
                    [
                        "panic: runtime error: invalid memory address or nil pointer dereference",
                        "[signal SIGSEGV: segmentation violation code=0x1 "
                        f"addr=0x{r.randint(16, 200):x} pc=0x{r.getrandbits(24):x}]",
                        "",
                        f"goroutine {r.randint(20, 9000)} [running]:",
                        f"github.com/northwind/{module}/internal/handler.(*Handler)."
                        f"{r.choice(('Apply', 'Resolve', 'Sync'))}"
                        f"(0xc000{r.getrandbits(20):05x}, {{0xc0003a6000, 0x5}})",
                        f"\t/src/internal/handler/handler.go:{r.randint(40, 400)} "
                        f"+0x{r.getrandbits(12):x}",
                        "net/http.HandlerFunc.ServeHTTP(0xc000510000?, {0x1a2b3c0?, "
                        "0xc0004a2000?}, 0x0?)",
                        "\t/usr/local/go/src/net/http/server.go:2171 +0x29",
                    ],
                    [
                        "panic: assignment to entry in nil map",
                        "",
                        f"goroutine {r.randint(20, 9000)} [running]:",
                        f"github.com/northwind/{module}/internal/store.(*Cache).Put(...)",
                        f"\t/src/internal/store/cache.go:{r.randint(40, 200)}",
                    ],
                    [
                        self.line(
                            runtime,
                            app,
                            pod,
                            dt,
                            level="error",
                            msg="invalid configuration: field rate_limit.burst must be > 0",
                        ),
                        self.line(runtime, app, pod, dt, level="fatal", msg="exiting"),
                    ],
                )
            )
        if runtime == "java":
            return [
                self.line(runtime, app, pod, dt, level="error", msg="Application run failed"),
                "org.springframework.beans.factory.BeanCreationException: Error creating bean "
                f"with name '{module}Service': Invocation of init method failed",
                "\tat org.springframework.beans.factory.annotation."
                "InitDestroyAnnotationBeanPostProcessor.postProcessBeforeInitialization"
                "(InitDestroyAnnotationBeanPostProcessor.java:222)",
                "\tat org.springframework.boot.SpringApplication.run(SpringApplication.java:335)",
                r.choice(
                    (
                        'Caused by: java.lang.NumberFormatException: For input string: "12h"',
                        "Caused by: java.lang.IllegalStateException: Duplicate key ACTIVE "
                        "(attempted merging values 1 and 4)",
                        "Caused by: java.lang.ClassCastException: class java.lang.String cannot "
                        "be cast to class java.lang.Long",
                    )
                ),
                f"\tat com.northwind.{module}.config.Settings.load"
                f"(Settings.java:{r.randint(30, 200)})",
                "\t... 18 common frames omitted",
            ]
        if runtime == "python":
            return [
                "Traceback (most recent call last):",
                f'  File "/app/{module}/main.py", line {r.randint(20, 200)}, in <module>',
                "    app = create_app(settings)",
                f'  File "/app/{module}/app.py", line {r.randint(20, 200)}, in create_app',
                "    tenants = {t['tenant_id']: t for t in settings.tenants}",
                r.choice(
                    (
                        "KeyError: 'tenant_id'",
                        "ValueError: invalid literal for int() with base 10: ''",
                        "TypeError: 'NoneType' object is not iterable",
                        "ModuleNotFoundError: No module named 'orjson'",
                    )
                ),
            ]
        if runtime == "node":
            return [
                "/app/dist/server.js:" + str(r.randint(100, 900)),
                "        const [region] = tenant.settings.region.split('-');",
                "                                                 ^",
                "",
                "TypeError: Cannot read properties of undefined (reading 'split')",
                "    at resolveTenant "
                f"(/app/dist/{module}/tenants.js:{r.randint(10, 90)}:{r.randint(5, 60)})",
                "    at async Promise.all (index 3)",
                "    at async bootstrap (/app/dist/server.js:41:5)",
                "",
                "Node.js v20.15.1",
            ]
        if runtime == "rust":
            return [
                "thread 'main' panicked at "
                f"src/{module}/plan.rs:{r.randint(20, 400)}:{r.randint(5, 60)}:",
                "called `Option::unwrap()` on a `None` value",
                "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
            ]
        return [
            f'{dt:%Y/%m/%d %H:%M:%S} [emerg] 1#1: unknown directive "proxy_bufer_size" in '
            f"/etc/nginx/conf.d/default.conf:{r.randint(5, 60)}",
            'nginx: [emerg] unknown directive "proxy_bufer_size" in /etc/nginx/conf.d/default.conf',
        ]

    def dependency(
        self,
        runtime: str,
        app: str,
        pod: str,
        dt: datetime,
        host: str,
        port: int,
        protocol: str,
        how: str,
    ) -> list[str]:
        """The end of a run that could not reach or use a dependency at host:port."""
        ip = self.ip()
        if how == "refused":
            err = {
                "go": f"dial tcp {ip}:{port}: connect: connection refused",
                "node": f"connect ECONNREFUSED {ip}:{port}",
            }.get(runtime, "Connection refused")
        elif how == "dns":
            err = {
                "go": f"dial tcp: lookup {host} on 172.20.0.10:53: no such host",
                "node": f"getaddrinfo ENOTFOUND {host}",
                "python": f'could not translate host name "{host}" to address: Name or service '
                "not known",
            }.get(runtime, f"{host}: Name or service not known")
        elif how == "timeout":
            err = {
                "go": f"dial tcp {ip}:{port}: i/o timeout",
                "node": f"connect ETIMEDOUT {ip}:{port}",
            }.get(runtime, "connect timed out")
        else:  # auth
            err = {
                "postgres": 'password authentication failed for user "app"',
                "redis": "WRONGPASS invalid username-password pair or user is disabled.",
                "mongo": "Authentication failed.",
                "amqp": "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN",
            }.get(protocol, "authentication failed")
        if runtime == "go":
            return [
                self.line(runtime, app, pod, dt, msg=f"connecting to {protocol} at {host}:{port}"),
                self.line(
                    runtime,
                    app,
                    pod,
                    dt + timedelta(seconds=10),
                    level="error",
                    msg=f"failed to connect to `host={host} user=app database=app`: {err}",
                ),
                self.line(
                    runtime,
                    app,
                    pod,
                    dt + timedelta(seconds=10.1),
                    level="fatal",
                    msg="startup failed: store unavailable",
                ),
            ]
        if runtime == "java":
            return [
                self.line(runtime, app, pod, dt, msg="HikariPool-1 - Starting..."),
                self.line(
                    runtime,
                    app,
                    pod,
                    dt + timedelta(seconds=30),
                    level="error",
                    msg="HikariPool-1 - Exception during pool initialization.",
                ),
                f"org.postgresql.util.PSQLException: Connection to {host}:{port} refused. Check "
                "that the hostname and port are correct and that the postmaster is accepting "
                "TCP/IP connections."
                if how == "refused"
                else f"org.postgresql.util.PSQLException: FATAL: {err}"
                if how == "auth"
                else f"java.net.UnknownHostException: {host}"
                if how == "dns"
                else f"java.net.SocketTimeoutException: Connect timed out ({host}:{port})",
                "\tat org.postgresql.core.v3.ConnectionFactoryImpl.openConnectionImpl"
                "(ConnectionFactoryImpl.java:352)",
                "\tat com.zaxxer.hikari.pool.HikariPool.checkFailFast(HikariPool.java:562)",
                "Caused by: java.net.ConnectException: Connection refused"
                if how == "refused"
                else "\t... 42 common frames omitted",
            ]
        if runtime == "python":
            if protocol == "redis":
                exc = (
                    f"redis.exceptions.ConnectionError: Error 111 connecting to {host}:{port}. "
                    "Connection refused."
                )
                if how != "refused":
                    exc = (
                        f"redis.exceptions.ConnectionError: Error connecting to {host}:{port}. "
                        f"{err.rstrip('.')}."
                    )
            else:
                exc = (
                    "psycopg.OperationalError: connection failed: connection to server at "
                    f'"{host}" ({ip}), port {port} failed: {err}'
                )
            return [
                self.line(runtime, app, pod, dt, msg=f"connecting to {host}:{port}"),
                "Traceback (most recent call last):",
                f'  File "/app/{app.split("-")[0]}/db.py", line 31, in connect',
                "    conn = pool.getconn()",
                exc,
            ]
        if runtime == "node":
            return [
                self.line(runtime, app, pod, dt, msg=f"connecting to {protocol}://{host}:{port}"),
                self.line(
                    runtime,
                    app,
                    pod,
                    dt + timedelta(seconds=5),
                    level="error",
                    msg=f"{protocol} connection failed: {err}",
                ),
                f"Error: {err}",
                "    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1607:16)",
            ]
        return [
            self.line(runtime, app, pod, dt, msg=f"connecting to {host}:{port}"),
            self.line(
                runtime,
                app,
                pod,
                dt + timedelta(seconds=3),
                level="error",
                msg=f"error connecting to {host}:{port}: {err}",
            ),
        ]

    def memory(self, runtime: str, app: str, pod: str, dt: datetime) -> list[str]:
        """A run killed by the OOM killer: normal work, then nothing (the kernel does not log
        into the container)."""
        r = self.rng
        lines = [
            self.line(
                runtime,
                app,
                pod,
                dt,
                msg=f"loading {r.randint(2, 40)} partitions into the in-memory index",
            )
        ]
        for i in range(r.randint(3, 9)):
            lines.append(
                self.line(
                    runtime,
                    app,
                    pod,
                    dt + timedelta(seconds=10 * (i + 1)),
                    msg=f"indexed {r.randint(100_000, 900_000) * (i + 1)} records",
                )
            )
        return lines

    def probe(self, runtime: str, app: str, pod: str, dt: datetime) -> list[str]:
        """A run that stops answering its health endpoint and is killed (SIGTERM, then gone)."""
        r = self.rng
        return [
            self.line(
                runtime,
                app,
                pod,
                dt,
                level="warn",
                msg=f"worker pool saturated: {r.randint(200, 900)} requests queued",
            ),
            self.line(
                runtime,
                app,
                pod,
                dt + timedelta(seconds=40),
                level="warn",
                msg=f"event loop lag {r.randint(1200, 4000)}ms",
            ),
            self.line(
                runtime,
                app,
                pod,
                dt + timedelta(seconds=80),
                msg="received SIGTERM, draining connections",
            ),
        ]


# --- the cluster -----------------------------------------------------------------------------


@dataclass
class Plant:
    """A failing workload as the generator made it: cause, expected target, alerts it fires."""

    cause: str
    target: tuple[str, str, str]  # kind, namespace, name
    alerts: list[tuple[str, dict[str, str], float]] = field(
        default_factory=list
    )  # name, labels, startsAt minutes


@dataclass
class App:
    """An application: what its containers run and how it logs."""

    ns: str
    name: str
    runtime: str
    image: str
    version: str
    port: int
    labels: dict[str, str]
    req: tuple[str | None, str | None]
    lim: tuple[str | None, str | None]
    mesh: bool
    env: list[JSON] = field(default_factory=list)
    env_from: list[JSON] = field(default_factory=list)
    volumes: list[JSON] = field(default_factory=list)
    mounts: list[JSON] = field(default_factory=list)
    init: bool = False
    probe_path: str = "/healthz"
    chatty: float = 1.0


class Cluster:
    """Builds the objects of one cluster, its events and logs, and writes the dump."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.logs = Logs(random.Random(seed * 7919 + 3))
        self.rv = 482_000_000 + self.rng.randint(0, 9_000_000)
        self.nodes: list[JSON] = []
        self.node_use: dict[str, list[float]] = {}
        self.node_ips: dict[str, str] = {}
        self.pod_net: dict[str, list[int]] = {}
        self.healthy_nodes: list[str] = []
        self.spaces: dict[str, dict[str, list[JSON]]] = {}
        self.log_blocks: dict[tuple[str, str], dict[str, Any]] = {}
        self.prev_logs: dict[tuple[str, str, str], list[str]] = {}
        self.plants: list[Plant] = []
        self.secrets: dict[str, set[str]] = defaultdict(set)
        self.pods = 0
        self.filler: list[JSON] = []
        self.data_services: list[tuple[str, str, str, int, str]] = []  # ns, svc, kind, port, proto

    # -- ids and times --
    def at(self, minutes: float) -> datetime:
        return _at(minutes)

    def ts(self, minutes: float) -> str:
        return iso(_at(minutes))

    def next_rv(self) -> str:
        self.rv += self.rng.randint(3, 900)
        return str(self.rv)

    def hexs(self, n: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def uid(self) -> str:
        h = self.hexs(32)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{self.rng.choice('89ab')}{h[17:20]}-{h[20:]}"

    def safe(self, n: int) -> str:
        return "".join(self.rng.choice(SAFE) for _ in range(n))

    def token(self, n: int) -> str:
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def ns(self, namespace: str) -> dict[str, list[JSON]]:
        if namespace not in self.spaces:
            self.spaces[namespace] = {plural: [] for plural in ALWAYS}
            root_ca = {
                "_kind": "ConfigMap",
                "metadata": self.meta("kube-root-ca.crt", namespace, -60 * 24 * 300),
                "data": {
                    "ca.crt": "-----BEGIN CERTIFICATE-----\nMIIDBTCCAe2gAwIBAgIIQ3x...\n-----END "
                    "CERTIFICATE-----\n"
                },
            }
            self.add(namespace, "configmaps", root_ca)
        return self.spaces[namespace]

    def add(self, namespace: str, plural: str, obj: JSON) -> JSON:
        self.ns(namespace).setdefault(plural, []).append(obj)
        return obj

    def meta(
        self,
        name: str,
        namespace: str | None,
        created: float,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
        owner: JSON | None = None,
        generate_name: str | None = None,
    ) -> JSON:
        m: JSON = {"name": name}
        if generate_name:
            m["generateName"] = generate_name
        if namespace is not None:
            m["namespace"] = namespace
        m["uid"] = self.uid()
        m["resourceVersion"] = self.next_rv()
        m["creationTimestamp"] = self.ts(created)
        if labels:
            m["labels"] = dict(labels)
        if annotations:
            m["annotations"] = dict(annotations)
        if owner is not None:
            m["ownerReferences"] = [
                {
                    "apiVersion": owner["_api"],
                    "kind": owner["_kind"],
                    "name": owner["metadata"]["name"],
                    "uid": owner["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ]
        return m

    # -- nodes --
    def node(self, index: int, *, gpu: bool = False) -> str:
        a, b = divmod(index * 37 + 11, 250)
        ip = f"10.20.{a + (64 if gpu else 32)}.{b + 2}"
        name = f"ip-{ip.replace('.', '-')}.{REGION}.compute.internal"
        zone = f"{REGION}{'abc'[index % 3]}"
        itype = "g5.2xlarge" if gpu else "m6i.4xlarge"
        cpu, mem_gi = (8, 32) if gpu else (16, 64)
        mem_ki = mem_gi * 1024 * 1024 - self.rng.randint(150_000, 420_000)
        labels = {
            "beta.kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/instance-type": itype,
            "beta.kubernetes.io/os": "linux",
            "eks.amazonaws.com/capacityType": "ON_DEMAND",
            "eks.amazonaws.com/nodegroup": "gpu" if gpu else "general",
            "eks.amazonaws.com/nodegroup-image": "ami-0f3a2b1c9d8e7f605",
            "failure-domain.beta.kubernetes.io/region": REGION,
            "failure-domain.beta.kubernetes.io/zone": zone,
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "node.kubernetes.io/instance-type": itype,
            "topology.ebs.csi.aws.com/zone": zone,
            "topology.kubernetes.io/region": REGION,
            "topology.kubernetes.io/zone": zone,
        }
        created = -60 * 24 * self.rng.randint(2, 40) - self.rng.random() * 600
        beat = 11 + self.rng.random()
        conditions = [
            (
                "MemoryPressure",
                "False",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            (
                "PIDPressure",
                "False",
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available",
            ),
            ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ]
        spec: JSON = {"providerID": f"aws:///{zone}/i-0{self.hexs(16)}"}
        if gpu:
            spec["taints"] = [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
        obj: JSON = {
            "_kind": "Node",
            "_api": "v1",
            "metadata": self.meta(
                name,
                None,
                created,
                labels,
                {
                    "alpha.kubernetes.io/provided-node-ip": ip,
                    "csi.volume.kubernetes.io/nodeid": json.dumps(
                        {"ebs.csi.aws.com": f"i-0{self.hexs(16)}"}
                    ),
                    "node.alpha.kubernetes.io/ttl": "0",
                    "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                },
            ),
            "spec": spec,
            "status": {
                "capacity": {
                    "cpu": str(cpu),
                    "ephemeral-storage": "104845292Ki",
                    "hugepages-1Gi": "0",
                    "hugepages-2Mi": "0",
                    "memory": f"{mem_ki}Ki",
                    "pods": "110",
                },
                "allocatable": {
                    "cpu": f"{cpu * 1000 - 190}m",
                    "ephemeral-storage": "95551679124",
                    "hugepages-1Gi": "0",
                    "hugepages-2Mi": "0",
                    "memory": f"{mem_ki - int(mem_gi * 1024 * 1024 * 0.07)}Ki",
                    "pods": "110",
                },
                "conditions": [
                    {
                        "type": t,
                        "status": s,
                        "lastHeartbeatTime": self.ts(beat),
                        "lastTransitionTime": self.ts(created + 1.5),
                        "reason": r,
                        "message": m,
                    }
                    for t, s, r, m in conditions
                ],
                "addresses": [
                    {"type": "InternalIP", "address": ip},
                    {"type": "InternalDNS", "address": name},
                    {"type": "Hostname", "address": name},
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {
                    "machineID": self.hexs(32),
                    "systemUUID": "ec2" + self.hexs(5) + "-" + self.uid()[9:],
                    "bootID": self.uid(),
                    "kernelVersion": "5.10.223-211.872.amzn2.x86_64",
                    "osImage": "Amazon Linux 2",
                    "containerRuntimeVersion": "containerd://1.7.11",
                    "kubeletVersion": K8S,
                    "kubeProxyVersion": K8S,
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                },
                "images": [],
            },
        }
        self.nodes.append(obj)
        self.node_use[name] = [0.0, 0.0, 0.0]
        self.node_ips[name] = ip
        self.pod_net[name] = [int(ip.split(".")[2]) + 128, 2]
        if not gpu:
            self.healthy_nodes.append(name)
        return name

    def node_obj(self, name: str) -> JSON:
        return next(n for n in self.nodes if n["metadata"]["name"] == name)

    def place(
        self,
        cpu_m: float,
        mem_mi: float,
        *,
        avoid: tuple[str, ...] = (),
        only: list[str] | None = None,
    ) -> str:
        """A node with room for the requests (random among a few candidates, least used wins)."""
        pool = [n for n in (only or self.healthy_nodes) if n not in avoid]
        best = None
        for name in self.rng.sample(pool, min(6, len(pool))):
            use = self.node_use[name]
            fits = use[0] + cpu_m <= 15_500 and use[1] + mem_mi <= 58_000 and use[2] < 105
            if fits and (best is None or use[0] < self.node_use[best][0]):
                best = name
        name = best or min(pool, key=lambda n: self.node_use[n][0])
        return name

    def pod_ip(self, node: str) -> str:
        net = self.pod_net[node]
        net[1] += 1
        if net[1] > 254:
            net[0], net[1] = net[0] + 1, 2
        return f"10.20.{net[0]}.{net[1]}"

    # -- templates and controllers --
    def container(
        self,
        app: App,
        *,
        image: str | None = None,
        env: list[JSON] | None = None,
        req: tuple[str | None, str | None] | None = None,
        lim: tuple[str | None, str | None] | None = None,
        probes: bool = True,
    ) -> JSON:
        c: JSON = {"name": app.name if len(app.name) < 40 else "app", "image": image or app.image}
        if app.runtime == "java":
            c["env"] = [{"name": "JAVA_TOOL_OPTIONS", "value": "-XX:MaxRAMPercentage=75"}]
        if app.port:
            c["ports"] = [{"name": "http", "containerPort": app.port, "protocol": "TCP"}]
        if app.env_from:
            c["envFrom"] = list(app.env_from)
        c["env"] = list(c.get("env", [])) + list(app.env if env is None else env)
        if not c["env"]:
            del c["env"]
        rq, lm = req or app.req, lim or app.lim
        resources: JSON = {}
        if any(lm):
            resources["limits"] = {k: v for k, v in zip(("cpu", "memory"), lm, strict=True) if v}
        if any(rq):
            resources["requests"] = {k: v for k, v in zip(("cpu", "memory"), rq, strict=True) if v}
        c["resources"] = resources
        if probes and app.probe_path:
            c["livenessProbe"] = http_probe(
                app.probe_path, app.port, delay=15, period=20, timeout=2
            )
            c["readinessProbe"] = http_probe(app.probe_path, app.port, delay=5, period=10)
        c["volumeMounts"] = list(app.mounts)
        c["terminationMessagePath"] = "/dev/termination-log"
        c["terminationMessagePolicy"] = "File"
        c["imagePullPolicy"] = "IfNotPresent"
        c["securityContext"] = {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        }
        return c

    def template(
        self,
        app: App,
        containers: list[JSON],
        *,
        restart: str = "Always",
        node_selector: dict[str, str] | None = None,
        affinity: JSON | None = None,
        volumes: list[JSON] | None = None,
        annotations: dict[str, str] | None = None,
    ) -> JSON:
        spec: JSON = {"volumes": list(app.volumes if volumes is None else volumes)}
        init = []
        if app.init:
            init.append(
                {
                    "name": "migrate",
                    "image": app.image,
                    "command": ["/app/migrate", "up"],
                    "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                    "imagePullPolicy": "IfNotPresent",
                }
            )
        containers = list(containers)
        anns = dict(annotations or {})
        if app.mesh:
            init.append(
                {
                    "name": "istio-init",
                    "image": "docker.io/istio/proxyv2:1.22.3",
                    "args": ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337"],
                    "resources": {
                        "limits": {"cpu": "2", "memory": "1Gi"},
                        "requests": {"cpu": "10m", "memory": "40Mi"},
                    },
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                    "imagePullPolicy": "IfNotPresent",
                }
            )
            containers.append(
                {
                    "name": "istio-proxy",
                    "image": "docker.io/istio/proxyv2:1.22.3",
                    "args": ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local"],
                    "ports": [
                        {"name": "http-envoy-prom", "containerPort": 15090, "protocol": "TCP"}
                    ],
                    "resources": {
                        "limits": {"cpu": "2", "memory": "1Gi"},
                        "requests": {"cpu": "10m", "memory": "40Mi"},
                    },
                    "readinessProbe": http_probe(
                        "/healthz/ready", 15021, delay=1, period=2, failures=30
                    ),
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                    "imagePullPolicy": "IfNotPresent",
                }
            )
            anns.update(
                {
                    "sidecar.istio.io/status": json.dumps(
                        {"initContainers": ["istio-init"], "containers": ["istio-proxy"]},
                        separators=(",", ":"),
                    ),
                    "prometheus.io/path": "/stats/prometheus",
                    "prometheus.io/port": "15020",
                }
            )
        if init:
            spec["initContainers"] = init
        spec["containers"] = containers
        spec["restartPolicy"] = restart
        spec["terminationGracePeriodSeconds"] = 30
        spec["dnsPolicy"] = "ClusterFirst"
        if node_selector:
            spec["nodeSelector"] = node_selector
        spec["serviceAccountName"] = app.name
        spec["serviceAccount"] = app.name
        spec["securityContext"] = {"fsGroup": 1000, "runAsUser": 1000}
        if affinity:
            spec["affinity"] = affinity
        spec["schedulerName"] = "default-scheduler"
        md: JSON = {"creationTimestamp": None, "labels": dict(app.labels)}
        if anns:
            md["annotations"] = anns
        return {"metadata": md, "spec": spec}

    def deployment(self, app: App, replicas: int, created: float) -> JSON:
        d: JSON = {
            "_kind": "Deployment",
            "_api": "apps/v1",
            "_rs": [],
            "_app": app,
            "_conditions": None,
            "metadata": self.meta(
                app.name,
                app.ns,
                created,
                app.labels,
                {"meta.helm.sh/release-name": app.ns, "meta.helm.sh/release-namespace": app.ns},
            ),
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app.kubernetes.io/name": app.name}},
                "template": None,
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
                },
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600,
            },
            "status": {},
        }
        d["metadata"]["generation"] = 1
        return self.add(app.ns, "deployments", d)

    def replicaset(
        self, dep: JSON, template: JSON, *, revision: int, created: float, replicas: int
    ) -> JSON:
        app: App = dep["_app"]
        t = json.loads(json.dumps(template))
        h = self.safe(self.rng.choice((9, 10, 10)))
        t["metadata"]["labels"]["pod-template-hash"] = h
        want = dep["spec"]["replicas"]
        rs: JSON = {
            "_kind": "ReplicaSet",
            "_api": "apps/v1",
            "_pods": [],
            "_dep": dep,
            "_app": app,
            "_revision": revision,
            "_created": created,
            "metadata": self.meta(
                f"{app.name}-{h}",
                app.ns,
                created,
                t["metadata"]["labels"],
                {
                    "deployment.kubernetes.io/desired-replicas": str(want),
                    "deployment.kubernetes.io/max-replicas": str(want + max(1, -(-want // 4))),
                    "deployment.kubernetes.io/revision": str(revision),
                    "meta.helm.sh/release-name": app.ns,
                    "meta.helm.sh/release-namespace": app.ns,
                },
                owner=dep,
            ),
            "spec": {
                "replicas": replicas,
                "selector": {
                    "matchLabels": {"app.kubernetes.io/name": app.name, "pod-template-hash": h}
                },
                "template": t,
            },
            "status": {},
        }
        rs["metadata"]["generation"] = self.rng.randint(1, 5)
        dep["_rs"].append(rs)
        return self.add(app.ns, "replicasets", rs)

    def history(self, dep: JSON, current: int, oldest: float, newest: float) -> None:
        """Old ReplicaSets (scaled to zero) for revisions before `current`, older image tags."""
        app: App = dep["_app"]
        keep = min(current - 1, self.rng.randint(1, 9))
        for i in range(keep):
            revision = current - keep + i
            when = oldest + (newest - oldest) * (i + 1) / (keep + 1)
            major, minor, patch = (int(x) for x in app.version.split("."))
            old_version = f"{major}.{max(minor - (keep - i), 0)}.{(patch + i * 3) % 10}"
            image = app.image.rsplit(":", 1)[0] + ":" + old_version
            t = self.template(app, [self.container(app, image=image)])
            self.replicaset(dep, t, revision=revision, created=when, replicas=0)

    def statefulset(
        self,
        app: App,
        template: JSON,
        replicas: int,
        created: float,
        *,
        claims: tuple[tuple[str, str, str], ...] | list[tuple[str, str, str]] = (),
    ) -> JSON:
        rev = f"{app.name}-{self.safe(10)}"
        s: JSON = {
            "_kind": "StatefulSet",
            "_api": "apps/v1",
            "_pods": [],
            "_rev": rev,
            "_app": app,
            "metadata": self.meta(app.name, app.ns, created, app.labels),
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app.kubernetes.io/name": app.name}},
                "template": json.loads(json.dumps(template)),
                "serviceName": f"{app.name}-headless",
                "podManagementPolicy": "OrderedReady",
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                "revisionHistoryLimit": 10,
                "persistentVolumeClaimRetentionPolicy": {
                    "whenDeleted": "Retain",
                    "whenScaled": "Retain",
                },
            },
            "status": {},
        }
        if claims:
            s["spec"]["volumeClaimTemplates"] = [
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {"name": name, "creationTimestamp": None},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": size}},
                        "storageClassName": sc,
                        "volumeMode": "Filesystem",
                    },
                    "status": {"phase": "Pending"},
                }
                for name, size, sc in claims
            ]
        s["metadata"]["generation"] = self.rng.randint(1, 9)
        return self.add(app.ns, "statefulsets", s)

    def daemonset(self, app: App, template: JSON, created: float) -> JSON:
        d: JSON = {
            "_kind": "DaemonSet",
            "_api": "apps/v1",
            "_pods": [],
            "_rev": self.safe(10),
            "_app": app,
            "metadata": self.meta(
                app.name,
                app.ns,
                created,
                app.labels,
                {"deprecated.daemonset.template.generation": "4"},
            ),
            "spec": {
                "selector": {"matchLabels": {"app.kubernetes.io/name": app.name}},
                "template": template,
                "updateStrategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
                },
                "revisionHistoryLimit": 10,
            },
            "status": {},
        }
        d["metadata"]["generation"] = 4
        return self.add(app.ns, "daemonsets", d)

    def cronjob(self, app: App, template: JSON, schedule: str, created: float) -> JSON:
        cj: JSON = {
            "_kind": "CronJob",
            "_api": "batch/v1",
            "_app": app,
            "metadata": self.meta(app.name, app.ns, created, app.labels),
            "spec": {
                "schedule": schedule,
                "concurrencyPolicy": "Forbid",
                "suspend": False,
                "jobTemplate": {
                    "metadata": {"creationTimestamp": None},
                    "spec": {"backoffLimit": 2, "template": template},
                },
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 1,
            },
            "status": {},
        }
        cj["metadata"]["generation"] = 1
        return self.add(app.ns, "cronjobs", cj)

    def job(
        self,
        app: App,
        name: str,
        template: JSON,
        *,
        created: float,
        cronjob: JSON | None,
        outcome: str,
        ended: float | None,
        backoff: int = 2,
        deadline: int | None = None,
        failed: int = 0,
        succeeded: int = 0,
        reason: str = "BackoffLimitExceeded",
    ) -> JSON:
        t = json.loads(json.dumps(template))
        j: JSON = {
            "_kind": "Job",
            "_api": "batch/v1",
            "_pods": [],
            "_app": app,
            "metadata": self.meta(
                name, app.ns, created, None, {"batch.kubernetes.io/job-tracking": ""}, owner=cronjob
            ),
            "spec": {},
            "status": {},
        }
        cuid = j["metadata"]["uid"]
        labels = {
            "batch.kubernetes.io/controller-uid": cuid,
            "batch.kubernetes.io/job-name": name,
            "controller-uid": cuid,
            "job-name": name,
        }
        j["metadata"]["labels"] = dict(labels)
        t["metadata"]["labels"].update(labels)
        j["spec"] = {
            "parallelism": 1,
            "completions": 1,
            "backoffLimit": backoff,
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": cuid}},
            "manualSelector": False,
            "template": t,
            "completionMode": "NonIndexed",
            "suspend": False,
            "podReplacementPolicy": "TerminatingOrFailed",
        }
        if deadline:
            j["spec"]["activeDeadlineSeconds"] = deadline
        status: JSON = {"startTime": self.ts(created + 0.02)}
        if outcome == "failed" and ended is not None:
            message = {
                "BackoffLimitExceeded": "Job has reached the specified backoff limit",
                "DeadlineExceeded": "Job was active longer than specified deadline",
            }[reason]
            status["conditions"] = [
                {
                    "type": kind,
                    "status": "True",
                    "lastProbeTime": self.ts(ended),
                    "lastTransitionTime": self.ts(ended),
                    "reason": reason,
                    "message": message,
                }
                for kind in ("FailureTarget", "Failed")
            ]
        elif outcome == "complete" and ended is not None:
            status["completionTime"] = self.ts(ended)
            status["conditions"] = [
                {
                    "type": kind,
                    "status": "True",
                    "lastProbeTime": self.ts(ended),
                    "lastTransitionTime": self.ts(ended),
                    "reason": "CompletionsReached",
                    "message": "Reached expected number of succeeded pods",
                }
                for kind in ("SuccessCriteriaMet", "Complete")
            ]
        else:
            status["active"] = 1
        if failed:
            status["failed"] = failed
        if succeeded:
            status["succeeded"] = succeeded
        status.update({"terminating": 0, "ready": 0, "uncountedTerminatedPods": {}})
        j["status"] = status
        j["metadata"]["generation"] = 1
        return self.add(app.ns, "jobs", j)

    # -- pods --
    def pod(
        self,
        owner: JSON,
        *,
        node: str | None,
        created: float,
        states: dict[str, State],
        name: str | None = None,
        unscheduled: str | None = None,
        evicted: str | None = None,
        node_lost: float | None = None,
        deleting: float | None = None,
        log: str = "healthy",
    ) -> JSON:
        """A pod of a ReplicaSet, StatefulSet, DaemonSet or Job with its status and log plan."""
        kind = owner["_kind"]
        namespace = owner["metadata"]["namespace"]
        t = json.loads(json.dumps(owner["spec"]["template"]))
        labels = dict(t["metadata"]["labels"])
        generate = owner["metadata"]["name"] + "-"
        if kind == "StatefulSet":
            labels.update(
                {
                    "apps.kubernetes.io/pod-index": str(name),
                    "controller-revision-hash": owner["_rev"],
                    "statefulset.kubernetes.io/pod-name": f"{generate}{name}",
                }
            )
            name = f"{generate}{name}"
        elif kind == "DaemonSet":
            labels.update(
                {"controller-revision-hash": owner["_rev"], "pod-template-generation": "4"}
            )
        name = name or generate + self.safe(5)
        spec = t["spec"]
        m = self.meta(
            name,
            namespace,
            created,
            labels,
            t["metadata"].get("annotations"),
            owner=owner,
            generate_name=generate,
        )
        if kind == "StatefulSet":
            spec["hostname"] = name
            spec["subdomain"] = owner["spec"]["serviceName"]
            for vct in owner["spec"].get("volumeClaimTemplates", []):
                claim = vct["metadata"]["name"]
                spec["volumes"].insert(
                    0, {"name": claim, "persistentVolumeClaim": {"claimName": f"{claim}-{name}"}}
                )
        if deleting is not None:
            m["deletionTimestamp"] = self.ts(deleting)
            m["deletionGracePeriodSeconds"] = 30
        token = "kube-api-access-" + self.safe(5)
        spec["volumes"].append(
            {
                "name": token,
                "projected": {
                    "defaultMode": 420,
                    "sources": [
                        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                        {
                            "configMap": {
                                "name": "kube-root-ca.crt",
                                "items": [{"key": "ca.crt", "path": "ca.crt"}],
                            }
                        },
                        {
                            "downwardAPI": {
                                "items": [
                                    {
                                        "path": "namespace",
                                        "fieldRef": {
                                            "apiVersion": "v1",
                                            "fieldPath": "metadata.namespace",
                                        },
                                    }
                                ]
                            }
                        },
                    ],
                },
            }
        )
        for c in spec.get("initContainers", []) + spec["containers"]:
            c.setdefault("volumeMounts", []).append(
                {
                    "name": token,
                    "readOnly": True,
                    "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                }
            )
        if node and not unscheduled:
            spec["nodeName"] = node
        tolerations = list(spec.get("tolerations", []))
        if kind == "DaemonSet":
            tolerations += [
                {"key": k, "operator": "Exists", "effect": e}
                for k, e in (
                    ("node.kubernetes.io/not-ready", "NoExecute"),
                    ("node.kubernetes.io/unreachable", "NoExecute"),
                    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
                    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
                    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
                    ("node.kubernetes.io/unschedulable", "NoSchedule"),
                )
            ]
        else:
            tolerations += [
                {"key": k, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
                for k in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
            ]
        spec["tolerations"] = tolerations
        spec["priority"] = 0
        spec["enableServiceLinks"] = True
        spec["preemptionPolicy"] = "PreemptLowerPriority"
        containers = spec["containers"]
        cpu = sum(
            quantity_m((c.get("resources", {}).get("requests") or {}).get("cpu"))
            for c in containers
        )
        mem = sum(
            quantity_mi((c.get("resources", {}).get("requests") or {}).get("memory"))
            for c in containers
        )
        status: JSON = {}
        conditions: list[JSON] = []
        if unscheduled:
            status["phase"] = "Pending"
            conditions.append(
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "lastProbeTime": None,
                    "lastTransitionTime": self.ts(created + 0.01),
                    "reason": "Unschedulable",
                    "message": unscheduled,
                }
            )
            status["conditions"] = conditions
            status["qosClass"] = "Burstable"
            pod = {
                "_kind": "Pod",
                "_api": "v1",
                "_owner": owner,
                "metadata": m,
                "spec": spec,
                "status": status,
            }
            self.add(namespace, "pods", pod)
            owner.setdefault("_pods", []).append(pod)
            self.pods += 1
            return pod
        assert node is not None
        terminal = evicted is not None or all(
            states.get(c["name"], running(0)).kind == "terminated" for c in containers
        )
        if not terminal:
            use = self.node_use[node]
            use[0] += cpu
            use[1] += mem
            use[2] += 1
        app: App | None = owner.get("_app")
        statuses = []
        init_statuses = []
        latest = created + 0.1
        for c in spec.get("initContainers", []):
            init_statuses.append(
                self.cstatus(c, terminated("Completed", 0, created + 0.03, created + 0.05))
            )
        all_ready = True
        phases = []
        for c in containers:
            s = states.get(c["name"]) or running(created + 0.2)
            statuses.append(self.cstatus(c, s))
            all_ready &= s.ready
            phases.append(
                s.kind
                if s.kind != "terminated" or s.term is None
                else ("ok" if s.term.code == 0 else "failed")
            )
            for value in (
                s.since,
                s.last.finished if s.last else None,
                s.term.finished if s.term else None,
            ):
                if value is not None:
                    latest = max(latest, value)
        if evicted is not None:
            phase = "Failed"
        elif all(p in {"ok", "failed"} for p in phases):
            phase = "Failed" if "failed" in phases else "Succeeded"
        elif any(p == "running" for p in phases) or any(st.get("lastState") for st in statuses):
            phase = "Running"
        else:
            phase = "Pending"
        status["phase"] = phase
        ready = all_ready and phase == "Running" and node_lost is None
        not_ready = [
            c["name"] for c, st in zip(containers, statuses, strict=True) if not st["ready"]
        ]
        conditions.append(
            {
                "type": "PodReadyToStartContainers",
                "status": "True" if phase == "Running" else "False",
                "lastProbeTime": None,
                "lastTransitionTime": self.ts(created + 0.08),
            }
        )
        conditions.append(
            {
                "type": "Initialized",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": self.ts(created + 0.06),
            }
        )
        if ready:
            for kind_ in ("Ready", "ContainersReady"):
                conditions.append(
                    {
                        "type": kind_,
                        "status": "True",
                        "lastProbeTime": None,
                        "lastTransitionTime": self.ts(latest),
                    }
                )
        elif phase in ("Failed", "Succeeded"):
            why = "PodCompleted" if phase == "Succeeded" else "PodFailed"
            for kind_ in ("Ready", "ContainersReady"):
                conditions.append(
                    {
                        "type": kind_,
                        "status": "False",
                        "lastProbeTime": None,
                        "lastTransitionTime": self.ts(latest),
                        "reason": why,
                    }
                )
        elif node_lost is not None:
            conditions.append(
                {
                    "type": "Ready",
                    "status": "False",
                    "lastProbeTime": None,
                    "lastTransitionTime": self.ts(node_lost),
                }
            )
            conditions.append(
                {
                    "type": "ContainersReady",
                    "status": "True",
                    "lastProbeTime": None,
                    "lastTransitionTime": self.ts(latest),
                }
            )
        else:
            message = f"containers with unready status: [{' '.join(not_ready)}]"
            for kind_ in ("Ready", "ContainersReady"):
                conditions.append(
                    {
                        "type": kind_,
                        "status": "False",
                        "lastProbeTime": None,
                        "lastTransitionTime": self.ts(latest),
                        "reason": "ContainersNotReady",
                        "message": message,
                    }
                )
        conditions.append(
            {
                "type": "PodScheduled",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": self.ts(created + 0.01),
            }
        )
        if evicted is not None:
            status["message"] = evicted
            status["reason"] = "Evicted"
            conditions.insert(
                0,
                {
                    "type": "DisruptionTarget",
                    "status": "True",
                    "lastProbeTime": None,
                    "lastTransitionTime": self.ts(latest),
                    "reason": "TerminationByKubelet",
                    "message": evicted,
                },
            )
        status["conditions"] = conditions
        host_ip = self.node_ips[node]
        status["hostIP"] = host_ip
        status["hostIPs"] = [{"ip": host_ip}]
        if evicted is None:
            ip = (
                host_ip
                if kind == "DaemonSet" and app is not None and app.port == 0
                else self.pod_ip(node)
            )
            status["podIP"] = ip
            status["podIPs"] = [{"ip": ip}]
        status["startTime"] = self.ts(created + 0.02)
        for st in statuses:
            w = st["state"].get("waiting")
            if w and w["reason"] == "CrashLoopBackOff" and "message" not in w:
                n = st["restartCount"]
                delay = ["10s", "20s", "40s", "1m20s", "2m40s"][n - 1] if 0 < n <= 5 else "5m0s"
                w["message"] = (
                    f"back-off {delay} restarting failed container={st['name']} "
                    f"pod={name}_{namespace}({m['uid']})"
                )
        if init_statuses:
            status["initContainerStatuses"] = init_statuses
        status["containerStatuses"] = statuses
        status["qosClass"] = "Burstable"
        pod = {
            "_kind": "Pod",
            "_api": "v1",
            "_owner": owner,
            "metadata": m,
            "spec": spec,
            "status": status,
        }
        self.add(namespace, "pods", pod)
        owner.setdefault("_pods", []).append(pod)
        self.pods += 1
        if app is not None:
            self.plan_log(pod, app, created, states, log)
        return pod

    def cstatus(self, c: JSON, s: State) -> JSON:
        image = c["image"]
        repo = image.rsplit(":", 1)[0]
        if "." not in repo.split("/")[0]:
            repo = "docker.io/" + repo
        st: JSON = {
            "name": c["name"],
            "state": {},
            "lastState": {},
            "ready": s.ready,
            "restartCount": s.restarts,
            "image": image,
            "imageID": f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}",
            "containerID": "containerd://" + self.hexs(64),
            "started": s.kind == "running",
        }

        def term(t: Term) -> JSON:
            d: JSON = {"exitCode": t.code, "reason": t.reason}
            if t.message:
                d["message"] = t.message
            d["startedAt"] = self.ts(t.started) if t.started is not None else None
            d["finishedAt"] = self.ts(t.finished) if t.finished is not None else None
            d["containerID"] = "containerd://" + self.hexs(64)
            return d

        if s.kind == "running":
            st["state"] = {"running": {"startedAt": self.ts(s.since or 0)}}
        elif s.kind == "waiting":
            w: JSON = {"reason": s.reason}
            if s.message:
                w["message"] = s.message
            st["state"] = {"waiting": w}
            if s.last is None:
                st["imageID"] = ""
                del st["containerID"]
        else:
            assert s.term is not None
            st["state"] = {"terminated": term(s.term)}
        if s.last is not None:
            st["lastState"] = {"terminated": term(s.last)}
        return st

    def plan_log(
        self, pod: JSON, app: App, created: float, states: dict[str, State], log: str
    ) -> None:
        """What each container's log block will hold (lines are made when the dump is written)."""
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
        r = self.rng
        blocks: dict[str, Any] = {}
        spec = pod["spec"]
        for c in spec.get("initContainers", []):
            blocks[c["name"]] = (
                [f"{c['name']}: done"]
                if c["name"] != "migrate"
                else [
                    f"{iso(_at(created + 0.04))} migrations: 0 to apply, schema at version "
                    f"{r.randint(20, 140)}"
                ]
            )
        for c in spec["containers"]:
            s = states.get(c["name"]) or running(created + 0.2)
            if c["name"] == "istio-proxy":
                blocks[c["name"]] = ("proxy", created)
                continue
            if s.kind == "waiting" and s.last is None:
                why = {
                    "ErrImagePull": "image can't be pulled",
                    "ImagePullBackOff": "trying and failing to pull image",
                }.get(s.reason, s.reason)
                blocks[c["name"]] = [
                    f'Request log error: container "{c["name"]}" in pod "{key[1]}" is waiting to '
                    f"start: {why}"
                ]
                continue
            since = (
                s.since
                if s.kind == "running" and s.since is not None
                else (s.last.started if s.last and s.last.started is not None else created)
            )
            if s.kind == "terminated" and s.term is not None:
                since = s.term.started or created
            until = (
                s.term.finished
                if s.term is not None and s.term.finished is not None
                else DUMP_AT - 0.05
            )
            if log == "healthy":
                roll = r.random() * app.chatty
                count = (
                    r.randint(5, 60)
                    if roll < 0.7
                    else r.randint(100, 600)
                    if roll < 0.95
                    else r.randint(2000, 8000)
                )
                blocks[c["name"]] = ("healthy", app, since, count, until)
            else:
                blocks[c["name"]] = (log, app, since, r.randint(3, 40), until)
        self.log_blocks[key] = blocks

    def log_lines(self, pod_name: str, block: Any) -> list[str]:
        if isinstance(block, list):
            return block
        kind = block[0]
        if kind == "proxy":
            created = block[1]
            return [
                f'{iso_ms(_at(created + 0.1))}\tinfo\tFLAG: --concurrency="2"',
                f"{iso_ms(_at(created + 0.1))}\tinfo\tVersion "
                "1.22.3-ea1d4c1d2d5c1b0e6d2b6f1e5c9e4a0f2e3b9c11-Clean",
                f"{iso_ms(_at(created + 0.2))}\tinfo\tEnvoy proxy is ready",
            ]
        _, app, since, count, until = block if len(block) == 5 else (*block, DUMP_AT - 0.05)
        rt = app.runtime
        begin = _at(since)
        lines = self.logs.start(rt, app.name, pod_name, begin, app.version)
        if kind == "healthy":
            end = max(begin + timedelta(seconds=20), _at(until))
            lines += list(
                self.logs.chatter(rt, app.name, pod_name, begin + timedelta(seconds=10), end, count)
            )
            return lines
        body = list(
            self.logs.chatter(
                rt,
                app.name,
                pod_name,
                begin + timedelta(seconds=10),
                begin + timedelta(seconds=10 + count),
                count,
            )
        )
        crash_at = begin + timedelta(seconds=12 + count)
        if kind == "crash":
            return lines + body + self.logs.crash(rt, app.name, pod_name, crash_at)
        if kind == "oom":
            return lines + body[: count // 3] + self.logs.memory(rt, app.name, pod_name, crash_at)
        if kind == "probe":
            return lines + body + self.logs.probe(rt, app.name, pod_name, crash_at)
        if kind.startswith("dep:"):
            _, host, port, proto, how = kind.split(":")
            return lines[:1] + self.logs.dependency(
                rt, app.name, pod_name, begin + timedelta(seconds=1), host, int(port), proto, how
            )
        return lines + body

    # -- other objects --
    def service(
        self,
        namespace: str,
        name: str,
        selector: dict[str, str] | None,
        port: int,
        target: int,
        *,
        headless: bool = False,
        created: float = -60 * 24 * 90,
    ) -> JSON:
        ip = "None" if headless else f"172.20.{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}"
        s: JSON = {
            "_kind": "Service",
            "metadata": self.meta(name, namespace, created, {"app.kubernetes.io/name": name}),
            "spec": {
                "ports": [
                    {
                        "name": "http" if port in (80, 8080, 3000, 8000) else "tcp",
                        "protocol": "TCP",
                        "port": port,
                        "targetPort": target,
                    }
                ],
                "clusterIP": ip,
                "clusterIPs": [ip],
                "type": "ClusterIP",
                "sessionAffinity": "None",
                "ipFamilies": ["IPv4"],
                "ipFamilyPolicy": "SingleStack",
                "internalTrafficPolicy": "Cluster",
            },
            "status": {"loadBalancer": {}},
        }
        if selector is not None:
            s["spec"]["selector"] = selector
        return self.add(namespace, "services", s)

    def secret(
        self,
        namespace: str,
        name: str,
        data: dict[str, str],
        *,
        kind: str = "Opaque",
        plant: bool = True,
    ) -> JSON:
        s: JSON = {
            "_kind": "Secret",
            "metadata": self.meta(name, namespace, -60 * 24 * self.rng.randint(5, 300)),
            "data": {k: b64(v) for k, v in data.items()},
            "type": kind,
        }
        if plant:
            for value in data.values():
                if len(value) >= 10:
                    self.secrets[namespace].add(value)
        return self.add(namespace, "secrets", s)

    def configmap(self, namespace: str, name: str, data: dict[str, str]) -> JSON:
        c = {
            "_kind": "ConfigMap",
            "metadata": self.meta(name, namespace, -60 * 24 * self.rng.randint(1, 200)),
            "data": data,
        }
        return self.add(namespace, "configmaps", c)

    def pvc(
        self,
        namespace: str,
        name: str,
        *,
        phase: str,
        storage_class: str,
        size: str,
        created: float,
        labels: dict[str, str] | None = None,
    ) -> JSON:
        annotations = {
            "volume.beta.kubernetes.io/storage-provisioner": "ebs.csi.aws.com",
            "volume.kubernetes.io/storage-provisioner": "ebs.csi.aws.com",
        }
        if phase == "Bound":
            annotations.update(
                {
                    "pv.kubernetes.io/bind-completed": "yes",
                    "pv.kubernetes.io/bound-by-controller": "yes",
                }
            )
        p: JSON = {
            "_kind": "PersistentVolumeClaim",
            "metadata": self.meta(name, namespace, created, labels, annotations),
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": size}},
                "storageClassName": storage_class,
                "volumeMode": "Filesystem",
            },
            "status": {"phase": phase},
        }
        p["metadata"]["finalizers"] = ["kubernetes.io/pvc-protection"]
        if phase == "Bound":
            p["spec"]["volumeName"] = f"pvc-{p['metadata']['uid']}"
            p["status"].update({"accessModes": ["ReadWriteOnce"], "capacity": {"storage": size}})
        return self.add(namespace, "persistentvolumeclaims", p)

    def hpa(
        self,
        dep: JSON,
        *,
        min_r: int,
        max_r: int,
        current: int,
        util: int,
        target: int = 70,
        limited: bool = False,
        created: float = -60 * 24 * 60,
    ) -> JSON:
        app: App = dep["_app"]
        conditions = [
            ("AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size"),
            (
                "ScalingActive",
                "True",
                "ValidMetricFound",
                "the HPA was able to successfully calculate a replica count from cpu resource "
                "utilization (percentage of request)",
            ),
            (
                "ScalingLimited",
                "True",
                "TooManyReplicas",
                "the desired replica count is more than the maximum replica count",
            )
            if limited
            else (
                "ScalingLimited",
                "False",
                "DesiredWithinRange",
                "the desired count is within the acceptable range",
            ),
        ]
        h: JSON = {
            "_kind": "HorizontalPodAutoscaler",
            "metadata": self.meta(app.name, app.ns, created, app.labels),
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": app.name},
                "minReplicas": min_r,
                "maxReplicas": max_r,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": target},
                        },
                    }
                ],
            },
            "status": {
                "lastScaleTime": self.ts(-self.rng.randint(20, 600)),
                "currentReplicas": current,
                "desiredReplicas": current,
                "currentMetrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "current": {"averageValue": f"{util * 5}m", "averageUtilization": util},
                        },
                    }
                ],
                "conditions": [
                    {
                        "type": t,
                        "status": s,
                        "lastTransitionTime": self.ts(-self.rng.randint(30, 3000)),
                        "reason": r,
                        "message": m,
                    }
                    for t, s, r, m in conditions
                ],
            },
        }
        return self.add(app.ns, "horizontalpodautoscalers", h)

    # -- events --
    def event(
        self,
        obj: JSON,
        reason: str,
        message: str,
        *,
        type_: str = "Normal",
        count: int = 1,
        first: float,
        last: float | None = None,
        component: str = "kubelet",
        host: str | None = None,
        field_path: str | None = None,
        new_style: bool = False,
        namespace: str | None = None,
        filler: bool = False,
    ) -> JSON:
        kind = obj["_kind"]
        md = obj["metadata"]
        ens = namespace or md.get("namespace") or "default"
        last = first if last is None else last
        involved: JSON = {"kind": kind}
        if md.get("namespace"):
            involved["namespace"] = md["namespace"]
        involved["name"] = md["name"]
        involved["uid"] = md["name"] if kind == "Node" and component == "kubelet" else md["uid"]
        if kind != "Node":
            involved["apiVersion"] = obj.get("_api", "v1")
            involved["resourceVersion"] = md["resourceVersion"]
        if field_path:
            involved["fieldPath"] = field_path
        e: JSON = {
            "_kind": "Event",
            "metadata": {
                "name": f"{md['name']}.{self.hexs(16)}",
                "namespace": ens,
                "uid": self.uid(),
                "resourceVersion": self.next_rv(),
                "creationTimestamp": self.ts(first),
            },
            "involvedObject": involved,
            "reason": reason,
            "message": message,
        }
        if new_style:
            e.update(
                {
                    "source": {},
                    "firstTimestamp": None,
                    "lastTimestamp": None,
                    "type": type_,
                    "eventTime": iso_us(_at(first)),
                }
            )
            if count > 1:
                e["series"] = {"count": count, "lastObservedTime": iso_us(_at(last))}
            e.update(
                {
                    "action": "Scheduling" if reason != "Scheduled" else "Binding",
                    "reportingComponent": component,
                    "reportingInstance": f"{component}-ip-10-0-12-7",
                }
            )
        else:
            source: JSON = {"component": component}
            if host:
                source["host"] = host
            e.update(
                {
                    "source": source,
                    "firstTimestamp": self.ts(first),
                    "lastTimestamp": self.ts(last),
                    "count": count,
                    "type": type_,
                    "eventTime": None,
                    "reportingComponent": component,
                    "reportingInstance": host or "",
                }
            )
        self.add(ens, "events", e)
        if filler:
            self.filler.append(e)
        return e

    def lifecycle(
        self, pod: JSON, at: float, *, pull_s: float | None = None, filler: bool = False
    ) -> None:
        """Scheduled / Pulling / Pulled / Created / Started for every container of a new pod."""
        md = pod["metadata"]
        node = pod["spec"].get("nodeName")
        self.event(
            pod,
            "Scheduled",
            f"Successfully assigned {md['namespace']}/{md['name']} to {node}",
            first=at,
            component="default-scheduler",
            new_style=True,
            filler=filler,
        )
        m = at + 0.02
        for c in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]:
            kind = "initContainers" if c in pod["spec"].get("initContainers", []) else "containers"
            fp = f"spec.{kind}{{{c['name']}}}"
            if pull_s:
                self.event(
                    pod,
                    "Pulling",
                    f'Pulling image "{c["image"]}"',
                    first=m,
                    host=node,
                    field_path=fp,
                    filler=filler,
                )
                m += pull_s / 60
                self.event(
                    pod,
                    "Pulled",
                    f'Successfully pulled image "{c["image"]}" in {pull_s:.3f}s ({pull_s:.3f}s '
                    f"including waiting). Image size: {self.rng.randint(20, 900) * 1_000_003} "
                    "bytes.",
                    first=m,
                    host=node,
                    field_path=fp,
                    filler=filler,
                )
            else:
                self.event(
                    pod,
                    "Pulled",
                    f'Container image "{c["image"]}" already present on machine',
                    first=m,
                    host=node,
                    field_path=fp,
                    filler=filler,
                )
            self.event(
                pod,
                "Created",
                f"Created container {c['name']}",
                first=m + 0.01,
                host=node,
                field_path=fp,
                filler=filler,
            )
            self.event(
                pod,
                "Started",
                f"Started container {c['name']}",
                first=m + 0.02,
                host=node,
                field_path=fp,
                filler=filler,
            )

    def scaled(
        self,
        dep: JSON,
        rs: JSON,
        to: int,
        frm: int,
        *,
        at: float,
        down: bool = False,
        filler: bool = False,
    ) -> None:
        self.event(
            dep,
            "ScalingReplicaSet",
            f"Scaled {'down' if down else 'up'} replica set {rs['metadata']['name']} to {to} from "
            f"{frm}",
            first=at,
            component="deployment-controller",
            filler=filler,
        )


# --- workloads: system, healthy, failing, noise ------------------------------------------------


class Builder:
    """Fills a Cluster: nodes, system namespaces, team namespaces with healthy and failing
    workloads (each failing one planted with its cause, target and alerts), then noise events up
    to the requested count."""

    def __init__(self, cluster: Cluster, pods: int, events: int, incidents: int) -> None:
        self.c = cluster
        self.rng = cluster.rng
        self.pods_target = pods
        self.events_target = events
        self.incidents = incidents
        self.teams: list[str] = []
        self.team_weights: list[float] = []
        self.apps_by_ns: dict[str, list[JSON]] = defaultdict(list)  # healthy Deployments
        self.cronjobs: list[tuple[App, JSON, JSON]] = []
        self.names: set[tuple[str, str]] = set()
        self.bad_nodes: dict[str, str] = {}  # role -> node

    # -- names and apps --
    def app_name(self, ns: str) -> str:
        for _ in range(200):
            name = f"{self.rng.choice(NOUNS)}-{self.rng.choice(ROLES)}"
            if self.rng.random() < 0.3:
                name = f"{ns.split('-')[0]}-{name}"
            if (ns, name) not in self.names:
                self.names.add((ns, name))
                return name
        raise RuntimeError(f"no free name in {ns}")

    def new_app(
        self,
        ns: str,
        *,
        runtime: str | None = None,
        name: str | None = None,
        mesh: bool | None = None,
        plain: bool = False,
    ) -> App:
        r = self.rng
        name = name or self.app_name(ns)
        runtime = runtime or r.choice(RUNTIMES)
        version = f"{r.randint(1, 9)}.{r.randint(3, 40)}.{r.randint(0, 9)}"
        registry = r.choice((ECR, ECR, ECR, "ghcr.io/northwind-labs", "registry.northwind.dev"))
        image = (
            f"{registry}/{ns}/{name}:{version}"
            if registry == ECR
            else f"{registry}/{name}:{version}"
        )
        cpu = r.choice(("50m", "100m", "100m", "200m", "250m", "500m"))
        mem = r.choice(("128Mi", "256Mi", "256Mi", "512Mi", "768Mi", "1Gi"))
        lim_mem = {
            "128Mi": "256Mi",
            "256Mi": "512Mi",
            "512Mi": "1Gi",
            "768Mi": "1536Mi",
            "1Gi": "2Gi",
        }[mem]
        if runtime == "java":
            mem, lim_mem = "1Gi", r.choice(("1536Mi", "2Gi"))
        app = App(
            ns=ns,
            name=name,
            runtime=runtime,
            image=image,
            version=version,
            port=PORTS[runtime],
            labels={
                "app.kubernetes.io/name": name,
                "app.kubernetes.io/part-of": ns,
                "app.kubernetes.io/managed-by": "Helm",
                "app.kubernetes.io/version": version,
            },
            req=(cpu, mem),
            lim=(None, lim_mem),
            mesh=(r.random() < MESH_SHARE) if mesh is None else mesh,
            init=r.random() < 0.12,
            probe_path=r.choice(
                (
                    "/healthz",
                    "/health",
                    "/actuator/health" if runtime == "java" else "/ready",
                    "/livez",
                )
            ),
            chatty=r.choice((1.0, 1.0, 1.0, 0.9, 1.05)),
        )
        app.env = [
            {"name": "LOG_LEVEL", "value": r.choice(("info", "info", "debug", "warn"))},
            {
                "name": "OTEL_EXPORTER_OTLP_ENDPOINT",
                "value": "http://otel-collector.monitoring.svc:4317",
            },
            {
                "name": "POD_NAME",
                "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}},
            },
        ]
        if plain:
            return app
        if r.random() < 0.6:
            cm = f"{name}-config"
            self.c.configmap(
                ns,
                cm,
                {
                    "FEATURE_FLAGS": "checkout_v2,fast_search",
                    "REGION": REGION,
                    "CACHE_TTL": f"{r.randint(1, 60)}m",
                },
            )
            app.env_from.append({"configMapRef": {"name": cm}})
        if r.random() < 0.5:
            secret = f"{name}-secrets"
            password = self.c.token(24)
            self.c.secret(
                ns, secret, {"DB_PASSWORD": password, "API_TOKEN": "sk_live_" + self.c.token(28)}
            )
            app.env.append(
                {
                    "name": "DB_PASSWORD",
                    "valueFrom": {"secretKeyRef": {"name": secret, "key": "DB_PASSWORD"}},
                }
            )
        if r.random() < 0.12:
            # A DSN with its password inline: bad practice, common, and a value to keep out.
            password = self.c.token(18)
            self.c.secrets[ns].add(password)
            app.env.append(
                {
                    "name": "DATABASE_URL",
                    "value": f"postgres://{name.replace('-', '_')}:{password}@{ns}-db.{ns}"
                    f".svc.cluster.local:5432/{ns.replace('-', '_')}",
                }
            )
        return app

    # -- plan --
    def build(self) -> None:
        c = self.c
        nodes = max(6, -(-self.pods_target // PODS_PER_NODE))
        for i in range(nodes):
            c.node(i)
        for i in range(3):
            c.node(i, gpu=True)
        healthy = c.healthy_nodes
        self.bad_nodes = {"notready": healthy[-1], "memory": healthy[-2], "disk": healthy[-3]}
        for node in self.bad_nodes.values():
            healthy.remove(node)
        self.system()
        team_count = max(4, self.pods_target // 45)
        self.teams = list(TEAMS[:team_count]) + [
            f"{TEAMS[i % len(TEAMS)]}-{i // len(TEAMS) + 2}" for i in range(len(TEAMS), team_count)
        ]
        self.team_weights = [1 / (i + 1) ** 0.8 for i in range(len(self.teams))]
        for ns in self.teams:
            self.team_base(ns)
        failing = max(4, round(self.incidents * 0.6))
        shares = [share for _, share in CAUSES]
        causes = [
            CAUSES[i % len(CAUSES)][0] for i in range(len(CAUSES))
        ]  # each cause once at least
        causes += self.rng.choices(
            [cause for cause, _ in CAUSES], weights=shares, k=max(0, failing - len(causes))
        )
        self.rng.shuffle(causes)
        for cause in causes:
            ns = self.rng.choices(self.teams, weights=self.team_weights)[0]
            getattr(self, "fail_" + cause.lower())(ns)
        self.node_failures()
        while c.pods < self.pods_target:
            ns = self.rng.choices(self.teams, weights=self.team_weights)[0]
            self.healthy_workload(ns, room=self.pods_target - c.pods)
        self.finish()
        self.noise()

    # -- system namespaces --
    def system(self) -> None:
        c = self.c
        nodes = [n["metadata"]["name"] for n in c.nodes]
        for ns, name, image, req in (
            (
                "kube-system",
                "kube-proxy",
                f"602401143452.dkr.ecr.{REGION}.amazonaws.com/eks/kube-proxy:v1.29.7-minimal-eksbuild.2",
                ("100m", None),
            ),
            (
                "kube-system",
                "aws-node",
                f"602401143452.dkr.ecr.{REGION}.amazonaws.com/amazon-k8s-cni:v1.18.3-eksbuild.1",
                ("25m", None),
            ),
            (
                "kube-system",
                "ebs-csi-node",
                f"602401143452.dkr.ecr.{REGION}.amazonaws.com/eks/aws-ebs-csi-driver:v1.32.0",
                ("10m", "40Mi"),
            ),
            (
                "monitoring",
                "node-exporter",
                "quay.io/prometheus/node-exporter:v1.8.2",
                ("50m", "64Mi"),
            ),
            ("logging", "fluent-bit", "cr.fluentbit.io/fluent/fluent-bit:3.1.4", ("50m", "64Mi")),
        ):
            app = self.new_app(ns, runtime="go", name=name, mesh=False, plain=True)
            app.image, app.req, app.lim, app.port, app.probe_path = (
                image,
                req,
                (None, None),
                0 if name in ("kube-proxy", "aws-node") else 9100,
                "",
            )
            app.env, app.env_from, app.init = [], [], False
            t = c.template(app, [c.container(app, probes=False)])
            t["spec"]["priorityClassName"] = "system-node-critical"
            if not app.port:
                t["spec"]["hostNetwork"] = True
            ds = c.daemonset(app, t, -60 * 24 * 200)
            for node in nodes:
                created = -60 * 24 * self.rng.randint(1, 40)
                restarts = 1 if self.rng.random() < 0.05 else 0
                last = Term("Error", 1, created, created + 0.2) if restarts else None
                c.pod(
                    ds,
                    node=node,
                    created=created,
                    states={name: running(created + 0.3, restarts=restarts, last=last)},
                )
            self.finish_ds(ds)
        for ns, name, replicas, runtime in (
            ("kube-system", "coredns", 2, "go"),
            ("kube-system", "metrics-server", 1, "go"),
            ("kube-system", "ebs-csi-controller", 2, "go"),
            ("kube-system", "cluster-autoscaler", 1, "go"),
            ("monitoring", "kube-state-metrics", 1, "go"),
            ("monitoring", "grafana", 1, "go"),
            ("monitoring", "prometheus-operator", 1, "go"),
            ("monitoring", "otel-collector", 2, "go"),
            ("ingress-nginx", "ingress-nginx-controller", 3, "nginx"),
            ("cert-manager", "cert-manager", 1, "go"),
            ("cert-manager", "cert-manager-cainjector", 1, "go"),
            ("cert-manager", "cert-manager-webhook", 1, "go"),
            ("argocd", "argocd-server", 2, "go"),
            ("argocd", "argocd-repo-server", 2, "go"),
            ("argocd", "argocd-applicationset-controller", 1, "go"),
            ("argocd", "argocd-redis", 1, "go"),
        ):
            app = self.new_app(ns, runtime=runtime, name=name, mesh=False, plain=True)
            self.deploy_healthy(app, replicas)
        for ns, name, replicas in (
            ("monitoring", "prometheus-k8s", 2),
            ("monitoring", "alertmanager-main", 3),
            ("argocd", "argocd-application-controller", 1),
            ("logging", "loki", 3),
        ):
            app = self.new_app(ns, runtime="go", name=name, mesh=False, plain=True)
            self.sts_healthy(app, replicas, claims=[("data", "50Gi", "gp3")])
        c.service("default", "kubernetes", None, 443, 443, created=-60 * 24 * 400)

    # -- team namespaces --
    def team_base(self, ns: str) -> None:
        c = self.c
        r = self.rng
        c.ns(ns)
        c.secret(
            ns,
            "registry-credentials",
            {
                ".dockerconfigjson": json.dumps(
                    {
                        "auths": {
                            "registry.northwind.dev": {
                                "username": "ci",
                                "password": "rg_" + c.token(30),
                            }
                        }
                    }
                )
            },
            kind="kubernetes.io/dockerconfigjson",
        )
        c.secret(
            ns,
            f"{ns}-tls",
            {
                "tls.crt": "-----BEGIN CERTIFICATE-----\nMIIF...\n-----END CERTIFICATE-----\n",
                "tls.key": "-----BEGIN PRIVATE KEY-----\n"
                + c.token(64)
                + "\n-----END PRIVATE KEY-----\n",
            },
            kind="kubernetes.io/tls",
        )
        if r.random() < 0.3:
            c.add(
                ns,
                "resourcequotas",
                {
                    "_kind": "ResourceQuota",
                    "_fill": r.uniform(0.35, 0.8),
                    "metadata": c.meta("compute-quota", ns, -60 * 24 * 200),
                    "spec": {},
                    "status": {},
                },
            )
        if r.random() < 0.45:
            kind = r.choice(
                (
                    "postgres",
                    "postgres",
                    "redis",
                    "redis",
                    "mongo",
                    "rabbitmq",
                    "kafka",
                    "elasticsearch",
                )
            )
            image, port, proto = DATA_KINDS[kind]
            name = f"{ns}-{kind}" if kind != "postgres" else f"{ns}-db"
            app = self.new_app(ns, runtime="go", name=name, mesh=False, plain=True)
            app.image, app.port, app.probe_path = image, port, ""
            app.req, app.lim = ("250m", "1Gi"), (None, "2Gi")
            self.sts_healthy(
                app, r.choice((1, 3)), claims=[("data", r.choice(("20Gi", "100Gi")), "gp3")]
            )
            c.service(ns, name, {"app.kubernetes.io/name": name}, port, port)
            c.data_services.append((ns, name, kind, port, proto))
        for _ in range(r.choice((0, 0, 1, 1, 2))):
            self.cronjob_healthy(ns)

    def deploy_healthy(self, app: App, replicas: int, *, room: int | None = None) -> JSON:
        c = self.c
        r = self.rng
        replicas = min(replicas, room) if room is not None else replicas
        age = -60 * 24 * r.randint(30, 400)
        dep = c.deployment(app, replicas, age)
        revision = r.randint(1, 30)
        rolled = r.random() < 0.15 and replicas <= 6
        rs_created = r.uniform(-44, -8) if rolled else -60 * r.uniform(2, 24 * 20)
        c.history(dep, revision, age + 60, rs_created - 30)
        template = c.template(app, [c.container(app)])
        rs = c.replicaset(dep, template, revision=revision, created=rs_created, replicas=replicas)
        old = dep["_rs"][-2] if len(dep["_rs"]) > 1 else None
        for i in range(replicas):
            created = rs_created + (i * 0.4 if rolled else r.uniform(0, 600))
            restarts = r.choice((0, 0, 0, 0, 0, 0, 1, 2)) if not rolled else 0
            last = None
            if restarts:
                when = created + r.uniform(60, 3000)
                if when < -60:
                    reason = r.choice(("Error", "OOMKilled", "Completed"))
                    last = Term(
                        reason,
                        {"Error": 1, "OOMKilled": 137, "Completed": 0}[reason],
                        created + 0.3,
                        when,
                    )
                else:
                    restarts = 0
            since = (last.finished if last and last.finished is not None else created) + 0.2
            pod = c.pod(
                rs,
                node=c.place(quantity_m(app.req[0]), quantity_mi(app.req[1])),
                created=created,
                states={c.container(app)["name"]: running(since, restarts=restarts, last=last)},
            )
            if rolled:
                c.lifecycle(pod, created, pull_s=r.uniform(1.5, 9) if i == 0 else None)
                c.event(
                    rs,
                    "SuccessfulCreate",
                    f"Created pod: {pod['metadata']['name']}",
                    first=created,
                    component="replicaset-controller",
                )
        if rolled and old is not None:
            for i in range(replicas):
                at = rs_created + i * 0.4 + 0.35
                c.scaled(dep, rs, i + 1, i, at=at - 0.3)
                c.scaled(dep, old, replicas - i - 1, replicas - i, at=at, down=True)
                gone = f"{old['metadata']['name']}-{c.safe(5)}"
                c.event(
                    old,
                    "SuccessfulDelete",
                    f"Deleted pod: {gone}",
                    first=at,
                    component="replicaset-controller",
                )
                ghost = {
                    "_kind": "Pod",
                    "_api": "v1",
                    "metadata": {
                        "name": gone,
                        "namespace": app.ns,
                        "uid": c.uid(),
                        "resourceVersion": c.next_rv(),
                    },
                }
                c.event(
                    ghost,
                    "Killing",
                    f"Stopping container {c.container(app)['name']}",
                    first=at,
                    host=c.place(0, 0),
                    field_path=f"spec.containers{{{c.container(app)['name']}}}",
                )
        c.service(
            app.ns,
            app.name,
            {"app.kubernetes.io/name": app.name},
            80 if app.port != 0 else 9100,
            app.port or 9100,
        )
        self.apps_by_ns[app.ns].append(dep)
        return dep

    def sts_healthy(self, app: App, replicas: int, *, claims: list[tuple[str, str, str]]) -> JSON:
        c = self.c
        template = c.template(app, [c.container(app)])
        s = c.statefulset(
            app, template, replicas, -60 * 24 * self.rng.randint(60, 500), claims=claims
        )
        for i in range(replicas):
            created = -60 * 24 * self.rng.randint(1, 30) - i
            c.pod(
                s,
                name=str(i),
                node=c.place(quantity_m(app.req[0]), quantity_mi(app.req[1])),
                created=created,
                states={c.container(app)["name"]: running(created + 0.5)},
            )
            for claim, size, sc in claims:
                c.pvc(
                    app.ns,
                    f"{claim}-{app.name}-{i}",
                    phase="Bound",
                    storage_class=sc,
                    size=size,
                    created=-60 * 24 * 300,
                    labels={"app.kubernetes.io/name": app.name},
                )
        c.service(
            app.ns,
            f"{app.name}-headless",
            {"app.kubernetes.io/name": app.name},
            app.port or 80,
            app.port or 80,
            headless=True,
        )
        self.finish_sts(s)
        return s

    def cronjob_healthy(self, ns: str) -> None:
        c = self.c
        r = self.rng
        app = self.new_app(ns, mesh=False)
        app.probe_path = ""
        every = r.choice((5, 10, 15, 30, 60))
        template = c.template(app, [c.container(app, probes=False)], restart="Never")
        cj = c.cronjob(
            app,
            template,
            f"*/{every} * * * *" if every < 60 else "0 * * * *",
            -60 * 24 * r.randint(10, 300),
        )
        runs = [DUMP_AT - every * k - (DUMP_AT % every) for k in range(0, 100)]
        runs = [t for t in runs if -60 * 6 < t < DUMP_AT - 3][:12]
        kept = sorted(runs, reverse=True)[:3]
        name = app.name if len(app.name) < 40 else "app"
        for t in runs:
            stamp = int(_at(t).timestamp() // 60)
            jn = f"{app.name}-{stamp}"
            took = r.uniform(0.2, 3)
            if t in kept:
                job = c.job(
                    app,
                    jn,
                    template,
                    created=t,
                    cronjob=cj,
                    outcome="complete",
                    ended=t + took,
                    succeeded=1,
                )
                pod = c.pod(
                    job,
                    node=c.place(0, 0),
                    created=t,
                    states={name: terminated("Completed", 0, t + 0.05, t + took)},
                )
                self.cronjobs.append((app, cj, job))
            else:
                pod = {
                    "_kind": "Pod",
                    "_api": "v1",
                    "metadata": {
                        "name": f"{jn}-{c.safe(5)}",
                        "namespace": ns,
                        "uid": c.uid(),
                        "resourceVersion": c.next_rv(),
                    },
                    "spec": {
                        "nodeName": c.place(0, 0),
                        "containers": [{"name": name, "image": app.image}],
                    },
                }
                job = {
                    "_kind": "Job",
                    "_api": "batch/v1",
                    "metadata": {
                        "name": jn,
                        "namespace": ns,
                        "uid": c.uid(),
                        "resourceVersion": c.next_rv(),
                    },
                }
            if t > DUMP_AT - EVENT_TTL:
                self.cron_events(app, cj, job, pod, t, took, filler=False)
        cj["status"] = {"lastScheduleTime": c.ts(runs[0]), "lastSuccessfulTime": c.ts(runs[0] + 1)}

    def cron_events(
        self, app: App, cj: JSON, job: JSON, pod: JSON, t: float, took: float, *, filler: bool
    ) -> None:
        c = self.c
        jn = job["metadata"]["name"]
        c.event(
            cj,
            "SuccessfulCreate",
            f"Created job {jn}",
            first=t,
            component="cronjob-controller",
            filler=filler,
        )
        c.event(
            job,
            "SuccessfulCreate",
            f"Created pod: {pod['metadata']['name']}",
            first=t,
            component="job-controller",
            filler=filler,
        )
        c.lifecycle(pod, t + 0.01, filler=filler)
        c.event(
            job,
            "Completed",
            "Job completed",
            first=t + took,
            component="job-controller",
            filler=filler,
        )
        c.event(
            cj,
            "SawCompletedJob",
            f"Saw completed job: {jn}, condition: Complete",
            first=t + took + 0.01,
            component="cronjob-controller",
            filler=filler,
        )
        c.event(
            cj,
            "SuccessfulDelete",
            f"Deleted job {app.name}-{int(_at(t - 60).timestamp() // 60)}",
            first=t + took + 0.02,
            component="cronjob-controller",
            filler=filler,
        )

    def healthy_workload(self, ns: str, room: int) -> None:
        r = self.rng
        app = self.new_app(ns)
        if r.random() < 0.07 and room >= 3:
            app.probe_path = "/healthz"
            self.sts_healthy(app, r.choice((2, 3)), claims=[("data", "10Gi", "gp3")])
            return
        replicas = r.choice((1, 2, 2, 2, 3, 3, 3, 4, 5, 6, 8, 12))
        dep = self.deploy_healthy(app, replicas, room=room)
        if replicas >= 3 and r.random() < 0.3:
            c = self.c
            current = dep["spec"]["replicas"]
            c.hpa(
                dep,
                min_r=max(2, current - 2),
                max_r=current + r.randint(2, 10),
                current=current,
                util=r.randint(30, 75),
            )

    # -- failing workloads (one per cause) --
    def plant(self, cause: str, kind: str, ns: str, name: str) -> Plant:
        plant = Plant(cause, (kind, ns, name))
        self.c.plants.append(plant)
        return plant

    def crashing_deployment(
        self,
        ns: str,
        cause: str,
        log: str,
        *,
        code: int,
        reason: str,
        app: App | None = None,
        sts: bool = False,
    ) -> tuple[App, JSON, list[JSON]]:
        """A controller whose pods crash-loop with this last termination and log."""
        c = self.c
        r = self.rng
        app = app or self.new_app(ns)
        replicas = r.choice((1, 2, 2, 3))
        onset = r.uniform(-45, -12)
        template = c.template(app, [c.container(app)])
        cname = c.container(app)["name"]
        rs_created = 0.0
        if sts:
            owner = c.statefulset(app, template, replicas, -60 * 24 * r.randint(30, 300))
            kind = "StatefulSet"
        else:
            dep = c.deployment(app, replicas, -60 * 24 * r.randint(30, 300))
            revision = r.randint(2, 40)
            rs_created = -60 * r.uniform(6, 24 * 15)
            c.history(dep, revision, -60 * 24 * 29, rs_created - 60)
            owner = c.replicaset(
                dep, template, revision=revision, created=rs_created, replicas=replicas
            )
            kind = "Deployment"
        pods = []
        for i in range(replicas):
            restarts = max(1, int((DUMP_AT - onset) / r.uniform(3.5, 6)))
            fin = DUMP_AT - r.uniform(0.3, 4.5)
            started = fin - r.uniform(0.2, 1.5)
            pod_created = -60 * 24 * r.uniform(1, 5) if sts else rs_created + r.uniform(0.1, 30)
            node = c.place(quantity_m(app.req[0]), quantity_mi(app.req[1]))
            state = waiting(
                "CrashLoopBackOff", restarts=restarts, last=Term(reason, code, started, fin)
            )
            if r.random() < 0.25:
                state = running(
                    fin + 0.1, ready=False, restarts=restarts, last=Term(reason, code, started, fin)
                )
            pod = c.pod(
                owner,
                name=str(i) if sts else None,
                node=node,
                created=pod_created,
                states={cname: state},
                log=log,
            )
            pods.append(pod)
            fp = f"spec.containers{{{cname}}}"
            c.event(
                pod,
                "Pulled",
                f'Container image "{app.image}" already present on machine',
                count=restarts,
                first=onset + i,
                last=started,
                host=node,
                field_path=fp,
            )
            c.event(
                pod,
                "Created",
                f"Created container {cname}",
                count=restarts,
                first=onset + i,
                last=started,
                host=node,
                field_path=fp,
            )
            c.event(
                pod,
                "Started",
                f"Started container {cname}",
                count=restarts,
                first=onset + i,
                last=started,
                host=node,
                field_path=fp,
            )
            md = pod["metadata"]
            message = r.choice(
                (
                    "Back-off restarting failed container",
                    f"Back-off restarting failed container {cname} in pod "
                    f"{md['name']}_{ns}({md['uid']})",
                )
            )
            c.event(
                pod,
                "BackOff",
                message,
                type_="Warning",
                count=restarts * 4 + r.randint(0, 9),
                first=onset + i + 0.5,
                last=DUMP_AT - r.uniform(0.1, 1.5),
                host=node,
                field_path=fp,
            )
            if restarts > 1 and r.random() < 0.6:
                c.prev_logs[(ns, md["name"], cname)] = c.log_lines(
                    md["name"], (log, app, started - 5, r.randint(3, 30))
                )
        if sts:
            self.finish_sts(owner)
        plant = self.plant(cause, kind, ns, app.name)
        starts = min(onset + 15, 8.0)
        self.pod_alerts(plant, pods, cname, starts, kind, app.name)
        return app, owner, pods

    def pod_alerts(
        self,
        plant: Plant,
        pods: list[JSON],
        container: str,
        starts: float,
        kind: str,
        name: str,
        reason: str = "CrashLoopBackOff",
    ) -> None:
        """A pod-level alert (first), then a workload-level one."""
        pod = self.rng.choice(pods)
        ns = pod["metadata"]["namespace"]
        base = self.ksm_labels()
        if reason == "CrashLoopBackOff":
            plant.alerts.append(
                (
                    "KubePodCrashLooping",
                    {
                        **base,
                        "namespace": ns,
                        "pod": pod["metadata"]["name"],
                        "container": container,
                        "reason": reason,
                        "uid": pod["metadata"]["uid"],
                    },
                    starts,
                )
            )
        elif reason in (
            "CreateContainerConfigError",
            "ImagePullBackOff",
            "ErrImagePull",
            "ContainerCreating",
        ):
            plant.alerts.append(
                (
                    "KubeContainerWaiting",
                    {
                        **base,
                        "namespace": ns,
                        "pod": pod["metadata"]["name"],
                        "container": container,
                        "reason": reason,
                    },
                    starts,
                )
            )
        else:
            plant.alerts.append(
                (
                    "KubePodNotReady",
                    {**base, "namespace": ns, "pod": pod["metadata"]["name"]},
                    starts,
                )
            )
        if kind == "Deployment":
            plant.alerts.append(
                (
                    "KubeDeploymentReplicasMismatch",
                    {**base, "namespace": ns, "deployment": name},
                    starts + 2,
                )
            )
        elif kind == "StatefulSet":
            plant.alerts.append(
                (
                    "KubeStatefulSetReplicasMismatch",
                    {**base, "namespace": ns, "statefulset": name},
                    starts + 2,
                )
            )

    def ksm_labels(self) -> dict[str, str]:
        if self.rng.random() < 0.5:
            return {
                "container": "kube-state-metrics",
                "endpoint": "http",
                "instance": "10.20.37.14:8080",
                "job": "kube-state-metrics",
                "prometheus": "monitoring/kube-prometheus-stack-prometheus",
                "service": "kube-prometheus-stack-kube-state-metrics",
            }
        return {
            "endpoint": "https-main",
            "instance": "10.20.37.14:8443",
            "job": "kube-state-metrics",
            "prometheus": "monitoring/k8s",
            "service": "kube-state-metrics",
            "cluster": "prod-eu-west-1",
        }

    def fail_oom_killed(self, ns: str) -> None:
        app = self.new_app(ns)
        app.lim = (app.lim[0], app.req[1])
        self.crashing_deployment(
            ns,
            "OOM_KILLED",
            "oom",
            code=137,
            reason="OOMKilled",
            app=app,
            sts=self.rng.random() < 0.15,
        )

    def fail_app_crash(self, ns: str) -> None:
        app = self.new_app(ns)
        self.crashing_deployment(
            ns,
            "APP_CRASH",
            "crash",
            code=EXIT_CODES[app.runtime],
            reason="Error",
            app=app,
            sts=self.rng.random() < 0.1,
        )

    def fail_dependency_failure(self, ns: str) -> None:
        c = self.c
        r = self.rng
        app = self.new_app(ns, runtime=r.choice(("go", "java", "python", "node", "rust")))
        how = r.choice(("refused", "refused", "dns", "timeout", "auth"))
        if how == "dns" or not c.data_services:
            kind = r.choice(("postgres", "redis", "mongo"))
            host = f"{app.name.split('-')[0]}-{kind}.{ns}.svc.cluster.local"
            port, proto = DATA_KINDS[kind][1], DATA_KINDS[kind][2]
            how = "dns"
        elif how == "timeout" and r.random() < 0.5:
            host = f"{ns}-{self.c.hexs(4)}.cluster-c{self.c.hexs(10)}.{REGION}.rds.amazonaws.com"
            port, proto = 5432, "postgres"
        else:
            dns_ns, svc, kind, port, proto = r.choice(c.data_services)
            host = (
                f"{svc}.{dns_ns}.svc.cluster.local" if r.random() < 0.7 else f"{svc}.{dns_ns}.svc"
            )
            if how == "refused":
                # The database is down: its StatefulSet was scaled to zero for maintenance.
                for sts in c.spaces[dns_ns].get("statefulsets", []):
                    if sts["metadata"]["name"] == svc and sts["spec"]["replicas"]:
                        sts["spec"]["replicas"] = 0
                        for pod in list(sts["_pods"]):
                            c.spaces[dns_ns]["pods"].remove(pod)
                            c.pods -= 1
                            c.log_blocks.pop((dns_ns, pod["metadata"]["name"]), None)
                            c.event(
                                sts,
                                "SuccessfulDelete",
                                f"delete Pod {pod['metadata']['name']} in StatefulSet {svc} "
                                "successful",
                                first=r.uniform(-47, -30),
                                component="statefulset-controller",
                            )
                        sts["_pods"].clear()
                        self.finish_sts(sts)
        if how == "auth" and proto not in ("postgres", "redis", "mongo", "amqp"):
            how = "refused"
        log = f"dep:{host}:{port}:{proto}:{how}"
        self.crashing_deployment(
            ns, "DEPENDENCY_FAILURE", log, code=1, reason="Error", app=app, sts=r.random() < 0.1
        )

    def fresh_deployment(
        self,
        ns: str,
        app: App,
        replicas: int,
        *,
        created: float,
        revision: int = 1,
        template: JSON | None = None,
    ) -> tuple[JSON, JSON]:
        """A Deployment created (or scaled up from zero) at `created`, its ReplicaSet."""
        c = self.c
        template = template or c.template(app, [c.container(app)])
        dep_created = created if revision == 1 else -60 * 24 * self.rng.randint(30, 300)
        dep = c.deployment(app, replicas, dep_created)
        rs_created = created if revision == 1 else -60 * 24 * self.rng.uniform(3, 20)
        if revision > 1:
            c.history(dep, revision, dep_created + 60, rs_created - 60)
        rs = c.replicaset(dep, template, revision=revision, created=rs_created, replicas=replicas)
        c.scaled(dep, rs, replicas, 0, at=created)
        return dep, rs

    def fail_config_missing(self, ns: str) -> None:
        c = self.c
        r = self.rng
        app = self.new_app(ns)
        variant = r.choice(("configmap", "secret", "key"))
        if variant == "configmap":
            missing = f"{app.name}-{r.choice(('settings', 'flags', 'env', 'config-v2'))}"
            app.env_from.append({"configMapRef": {"name": missing}})
            message = f'configmap "{missing}" not found'
        elif variant == "secret":
            missing = f"{app.name}-{r.choice(('credentials', 'api-keys', 'oauth'))}"
            app.env.append(
                {
                    "name": "OAUTH_CLIENT_SECRET",
                    "valueFrom": {"secretKeyRef": {"name": missing, "key": "client-secret"}},
                }
            )
            message = f'secret "{missing}" not found'
        else:
            secret = f"{app.name}-db"
            password = c.token(20)
            c.secret(ns, secret, {"username": app.name, "password": password}, plant=False)
            c.secrets[ns].add(password)
            app.env.append(
                {
                    "name": "DB_PASSWORD",
                    "valueFrom": {"secretKeyRef": {"name": secret, "key": "db-password"}},
                }
            )
            message = f"couldn't find key db-password in Secret {ns}/{secret}"
        created = r.uniform(-45, -15)
        replicas = r.choice((1, 2, 3))
        _, rs = self.fresh_deployment(
            ns, app, replicas, created=created, revision=r.choice((1, 1, r.randint(2, 20)))
        )
        cname = c.container(app)["name"]
        pods = []
        for i in range(replicas):
            node = c.place(quantity_m(app.req[0]), quantity_mi(app.req[1]))
            pod = c.pod(
                rs,
                node=node,
                created=created + i * 0.01,
                states={cname: waiting("CreateContainerConfigError", message)},
            )
            pods.append(pod)
            c.event(
                rs,
                "SuccessfulCreate",
                f"Created pod: {pod['metadata']['name']}",
                first=created,
                component="replicaset-controller",
            )
            c.event(
                pod,
                "Scheduled",
                f"Successfully assigned {ns}/{pod['metadata']['name']} to {node}",
                first=created,
                component="default-scheduler",
                new_style=True,
            )
            n = int((DUMP_AT - created) * 1.5) + 3
            fp = f"spec.containers{{{cname}}}"
            c.event(
                pod,
                "Pulled",
                f'Container image "{app.image}" already present on machine',
                count=n,
                first=created + 0.02,
                last=DUMP_AT - r.uniform(0.2, 2),
                host=node,
                field_path=fp,
            )
            c.event(
                pod,
                "Failed",
                f"Error: {message}",
                type_="Warning",
                count=n,
                first=created + 0.02,
                last=DUMP_AT - r.uniform(0.2, 2),
                host=node,
                field_path=fp,
            )
        plant = self.plant("CONFIG_MISSING", "Deployment", ns, app.name)
        self.pod_alerts(
            plant,
            pods,
            cname,
            min(created + 15, 8),
            "Deployment",
            app.name,
            reason="CreateContainerConfigError",
        )

    def fail_image_pull(self, ns: str) -> None:
        c = self.c
        r = self.rng
        app = self.new_app(ns)
        variant = r.choice(("tag", "tag", "auth", "forbidden"))
        repo = app.image.rsplit(":", 1)[0]
        image = f"{repo}:{app.version}-rc.{r.randint(1, 5)}" if variant == "tag" else app.image
        app.image = image
        registry = image.split("/")[0]
        path = "/".join(image.split("/")[1:]).rsplit(":", 1)
        if variant == "tag":
            error = (
                f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": '
                "failed to resolve "
                f'reference "{image}": {image}: not found'
            )
        elif variant == "auth":
            error = (
                f'rpc error: code = Unknown desc = failed to pull and unpack image "{image}": '
                "failed to resolve "
                f'reference "{image}": pull access denied, repository does not exist or may '
                "require authorization: "
                f"server message: insufficient_scope: authorization failed"
            )
            if registry == ECR:
                error = (
                    f'failed to pull and unpack image "{image}": failed to resolve reference '
                    f'"{image}": '
                    "unexpected status from HEAD request to "
                    f"https://{registry}/v2/{path[0]}/manifests/{path[1]}: "
                    "401 Unauthorized"
                )
        else:
            error = (
                f'failed to pull and unpack image "{image}": failed to resolve reference '
                f'"{image}": unexpected '
                "status from HEAD request to "
                f"https://{registry}/v2/{path[0]}/manifests/{path[1]}: 403 Forbidden"
            )
        created = r.uniform(-45, -15)
        replicas = r.choice((1, 2, 3))
        _, rs = self.fresh_deployment(ns, app, replicas, created=created)
        cname = c.container(app)["name"]
        pods = []
        for i in range(replicas):
            node = c.place(quantity_m(app.req[0]), quantity_mi(app.req[1]))
            waiting_reason = r.choice(("ImagePullBackOff", "ImagePullBackOff", "ErrImagePull"))
            message = (
                f'Back-off pulling image "{image}"'
                if waiting_reason == "ImagePullBackOff"
                else error
            )
            pod = c.pod(
                rs,
                node=node,
                created=created + i * 0.01,
                states={cname: waiting(waiting_reason, message)},
            )
            pods.append(pod)
            c.event(
                rs,
                "SuccessfulCreate",
                f"Created pod: {pod['metadata']['name']}",
                first=created,
                component="replicaset-controller",
            )
            c.event(
                pod,
                "Scheduled",
                f"Successfully assigned {ns}/{pod['metadata']['name']} to {node}",
                first=created,
                component="default-scheduler",
                new_style=True,
            )
            fp = f"spec.containers{{{cname}}}"
            n = max(2, int((DUMP_AT - created) / 5))
            last = DUMP_AT - r.uniform(0.5, 3)
            c.event(
                pod,
                "Pulling",
                f'Pulling image "{image}"',
                count=n,
                first=created + 0.02,
                last=last - 0.4,
                host=node,
                field_path=fp,
            )
            c.event(
                pod,
                "Failed",
                f'Failed to pull image "{image}": {error}',
                type_="Warning",
                count=n,
                first=created + 0.03,
                last=last - 0.39,
                host=node,
                field_path=fp,
            )
            c.event(
                pod,
                "Failed",
                "Error: ErrImagePull",
                type_="Warning",
                count=n,
                first=created + 0.03,
                last=last - 0.39,
                host=node,
                field_path=fp,
            )
            c.event(
                pod,
                "BackOff",
                f'Back-off pulling image "{image}"',
                count=n * 4 + 3,
                first=created + 0.05,
                last=last,
                host=node,
                field_path=fp,
            )
            c.event(
                pod,
                "Failed",
                "Error: ImagePullBackOff",
                type_="Warning",
                count=n * 4 + 3,
                first=created + 0.05,
                last=last,
                host=node,
                field_path=fp,
            )
        plant = self.plant("IMAGE_PULL", "Deployment", ns, app.name)
        self.pod_alerts(
            plant,
            pods,
            cname,
            min(created + 15, 8),
            "Deployment",
            app.name,
            reason="ImagePullBackOff",
        )

    def fail_bad_rollout(self, ns: str) -> None:
        c = self.c
        r = self.rng
        app = self.new_app(ns)
        replicas = r.choice((2, 3, 4))
        dep = c.deployment(app, replicas, -60 * 24 * r.randint(30, 300))
        dep["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": 1, "maxUnavailable": 0}
        revision = r.randint(3, 60)
        old_created = -60 * 24 * r.uniform(2, 20)
        c.history(dep, revision - 1, -60 * 24 * 29, old_created - 60)
        old = c.replicaset(
            dep,
            c.template(app, [c.container(app)]),
            revision=revision - 1,
            created=old_created,
            replicas=replicas,
        )
        cname = c.container(app)["name"]
        for _ in range(replicas):
            created = old_created + r.uniform(0, 30)
            c.pod(
                old,
                node=c.place(quantity_m(app.req[0]), quantity_mi(app.req[1])),
                created=created,
                states={cname: running(created + 0.3)},
            )
        major, minor, _ = (int(x) for x in app.version.split("."))
        new_version = f"{major}.{minor + 1}.0"
        new_image = app.image.rsplit(":", 1)[0] + ":" + new_version
        env = list(app.env)
        mode = r.choice(("crash", "crash", "dep", "env"))
        if mode == "env":
            env.append({"name": "STORAGE_BACKEND", "value": "s3v2"})
        new_app = App(**{**app.__dict__, "image": new_image, "version": new_version})
        template = c.template(app, [c.container(app, image=new_image, env=env)])
        template["metadata"]["labels"]["app.kubernetes.io/version"] = new_version
        onset = r.uniform(-40, -12)
        new = c.replicaset(dep, template, revision=revision, created=onset, replicas=1)
        new["_app"] = new_app
        c.scaled(dep, new, 1, 0, at=onset)
        restarts = max(1, int((DUMP_AT - onset) / 5))
        fin = DUMP_AT - r.uniform(0.3, 4)
        node = c.place(quantity_m(app.req[0]), quantity_mi(app.req[1]))
        log = "crash"
        if mode == "dep" and c.data_services:
            dns_ns, svc, _, port, proto = r.choice(c.data_services)
            log = f"dep:{svc}-primary.{dns_ns}.svc.cluster.local:{port}:{proto}:dns"
        pod = c.pod(
            new,
            node=node,
            created=onset,
            log=log,
            states={
                cname: waiting(
                    "CrashLoopBackOff",
                    restarts=restarts,
                    last=Term("Error", EXIT_CODES[app.runtime], fin - 0.5, fin),
                )
            },
        )
        c.event(
            new,
            "SuccessfulCreate",
            f"Created pod: {pod['metadata']['name']}",
            first=onset,
            component="replicaset-controller",
        )
        c.lifecycle(pod, onset, pull_s=r.uniform(2, 12))
        fp = f"spec.containers{{{cname}}}"
        c.event(
            pod,
            "Pulled",
            f'Container image "{new_image}" already present on machine',
            count=restarts,
            first=onset + 1,
            last=fin - 0.5,
            host=node,
            field_path=fp,
        )
        c.event(
            pod,
            "BackOff",
            "Back-off restarting failed container",
            type_="Warning",
            count=restarts * 4,
            first=onset + 1.2,
            last=DUMP_AT - r.uniform(0.1, 1),
            host=node,
            field_path=fp,
        )
        if onset < DUMP_AT - 10:
            dep["_conditions"] = [
                (
                    "Available",
                    "True",
                    "MinimumReplicasAvailable",
                    "Deployment has minimum availability.",
                    old_created + 1,
                ),
                (
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    f'ReplicaSet "{new["metadata"]["name"]}" has timed out progressing.',
                    onset + 10,
                ),
            ]
        plant = self.plant("BAD_ROLLOUT", "Deployment", ns, app.name)
        base = self.ksm_labels()
        starts = min(onset + 15, 8)
        plant.alerts.append(
            (
                "KubeDeploymentRolloutStuck",
                {**base, "namespace": ns, "deployment": app.name, "condition": "Progressing"},
                starts,
            )
        )
        plant.alerts.append(
            (
                "KubePodCrashLooping",
                {
                    **base,
                    "namespace": ns,
                    "pod": pod["metadata"]["name"],
                    "container": cname,
                    "reason": "CrashLoopBackOff",
                    "uid": pod["metadata"]["uid"],
                },
                starts - 1,
            )
        )

    def fail_probe_failure(self, ns: str) -> None:
        c = self.c
        r = self.rng
        app = self.new_app(ns, runtime=r.choice(("go", "java", "node", "python")))
        liveness = r.random() < 0.6
        replicas = r.choice((2, 3, 4))
        dep = c.deployment(app, replicas, -60 * 24 * r.randint(30, 300))
        revision = r.randint(2, 30)
        rs_created = -60 * 24 * r.uniform(2, 20)
        c.history(dep, revision, -60 * 24 * 29, rs_created - 60)
        rs = c.replicaset(
            dep,
            c.template(app, [c.container(app)]),
            revision=revision,
            created=rs_created,
            replicas=replicas,
        )
        cname = c.container(app)["name"]
        onset = r.uniform(-45, -15)
        pods = []
        failing = max(1, replicas - r.randint(0, 1))
        for i in range(replicas):
            created = rs_created + r.uniform(0, 60)
            node = c.place(quantity_m(app.req[0]), quantity_mi(app.req[1]))
            fp = f"spec.containers{{{cname}}}"
            if i >= failing:
                c.pod(rs, node=node, created=created, states={cname: running(created + 0.3)})
                continue
            ip = f"10.20.{r.randint(128, 190)}.{r.randint(2, 254)}"
            if liveness:
                restarts = max(1, int((DUMP_AT - onset) / 6))
                fin = DUMP_AT - r.uniform(0.5, 5)
                last = Term("Error", 137, fin - r.uniform(2, 5), fin)
                state = (
                    running(fin + 0.05, ready=False, restarts=restarts, last=last)
                    if r.random() < 0.5
                    else waiting("CrashLoopBackOff", restarts=restarts, last=last)
                )
                pod = c.pod(rs, node=node, created=created, states={cname: state}, log="probe")
                c.prev_logs[(ns, pod["metadata"]["name"], cname)] = c.log_lines(
                    pod["metadata"]["name"], ("probe", app, fin - 6, r.randint(20, 200))
                )
                probe_msg = r.choice(
                    (
                        "Liveness probe failed: HTTP probe failed with statuscode: "
                        f"{r.choice((500, 503))}",
                        f'Liveness probe failed: Get "http://{ip}:{app.port}{app.probe_path}": '
                        "context deadline exceeded (Client.Timeout exceeded while awaiting "
                        "headers)",
                    )
                )
                c.event(
                    pod,
                    "Unhealthy",
                    probe_msg,
                    type_="Warning",
                    count=restarts * 3,
                    first=onset,
                    last=fin - 0.3,
                    host=node,
                    field_path=fp,
                )
                c.event(
                    pod,
                    "Killing",
                    f"Container {cname} failed liveness probe, will be restarted",
                    count=restarts,
                    first=onset + 0.5,
                    last=fin - 0.3,
                    host=node,
                    field_path=fp,
                )
                c.event(
                    pod,
                    "Pulled",
                    f'Container image "{app.image}" already present on machine',
                    count=restarts,
                    first=onset + 0.6,
                    last=fin,
                    host=node,
                    field_path=fp,
                )
            else:
                pod = c.pod(
                    rs,
                    node=node,
                    created=created,
                    states={cname: running(created + 0.3, ready=False)},
                    log="probe",
                )
                probe_msg = r.choice(
                    (
                        "Readiness probe failed: HTTP probe failed with statuscode: "
                        f"{r.choice((500, 503))}",
                        f'Readiness probe failed: Get "http://{ip}:{app.port}{app.probe_path}": '
                        f"dial tcp {ip}:{app.port}: connect: connection refused",
                    )
                )
                c.event(
                    pod,
                    "Unhealthy",
                    probe_msg,
                    type_="Warning",
                    count=int((DUMP_AT - onset) * 6),
                    first=onset,
                    last=DUMP_AT - r.uniform(0.05, 0.5),
                    host=node,
                    field_path=fp,
                )
            pods.append(pod)
        plant = self.plant("PROBE_FAILURE", "Deployment", ns, app.name)
        self.pod_alerts(
            plant,
            pods,
            cname,
            min(onset + 15, 8),
            "Deployment",
            app.name,
            reason="CrashLoopBackOff" if liveness else "NotReady",
        )

    def pending(
        self,
        ns: str,
        cause: str,
        message: str,
        app: App,
        *,
        req: tuple[str, str] | None = None,
        node_selector: dict[str, str] | None = None,
    ) -> None:
        """A Deployment scaled up (or new) whose new pods the scheduler cannot place."""
        c = self.c
        r = self.rng
        if req:
            app.req, app.lim = req, (None, req[1])
        running_n = r.choice((0, 1, 2)) if not node_selector and not req else 0
        extra = r.choice((1, 2))
        replicas = running_n + extra
        template = c.template(app, [c.container(app)], node_selector=node_selector)
        dep = c.deployment(app, replicas, -60 * 24 * r.randint(1, 300))
        onset = r.uniform(-40, -12)
        rs = c.replicaset(
            dep,
            template,
            revision=r.randint(1, 12),
            created=-60 * r.uniform(3, 200) if running_n else onset,
            replicas=replicas,
        )
        cname = c.container(app)["name"]
        for _ in range(running_n):
            created = -60 * r.uniform(3, 200)
            c.pod(
                rs,
                node=c.place(quantity_m(app.req[0]), quantity_mi(app.req[1])),
                created=created,
                states={cname: running(created + 0.2)},
            )
        c.scaled(dep, rs, replicas, running_n, at=onset)
        pods = []
        for i in range(extra):
            pod = c.pod(rs, node=None, created=onset + i * 0.01, states={}, unscheduled=message)
            pods.append(pod)
            c.event(
                rs,
                "SuccessfulCreate",
                f"Created pod: {pod['metadata']['name']}",
                first=onset,
                component="replicaset-controller",
            )
            c.event(
                pod,
                "FailedScheduling",
                message,
                type_="Warning",
                count=int(DUMP_AT - onset) // 2 + 2,
                first=onset + 0.01,
                last=DUMP_AT - r.uniform(0.5, 5),
                component="default-scheduler",
                new_style=True,
            )
            if r.random() < 0.6:
                c.event(
                    pod,
                    "NotTriggerScaleUp",
                    r.choice(
                        (
                            "pod didn't trigger scale-up: 1 max node group size reached, 1 "
                            "node(s) had untolerated taint {nvidia.com/gpu: present}",
                            "pod didn't trigger scale-up: 2 Insufficient memory, 1 node(s) had "
                            "untolerated taint {nvidia.com/gpu: present}",
                        )
                    ),
                    count=int(DUMP_AT - onset),
                    first=onset + 0.2,
                    last=DUMP_AT - 1,
                    component="cluster-autoscaler",
                )
        plant = self.plant(cause, "Deployment", ns, app.name)
        self.pod_alerts(
            plant, pods, cname, min(onset + 15, 8), "Deployment", app.name, reason="Pending"
        )

    def node_count(self) -> tuple[int, int]:
        nodes = len(self.c.nodes)
        return nodes, 3

    def fail_unschedulable_resources(self, ns: str) -> None:
        r = self.rng
        nodes, gpu = self.node_count()
        app = self.new_app(ns)
        resource = r.choice(("memory", "cpu"))
        req = ("2", "80Gi") if resource == "memory" else ("18", "4Gi")
        message = (
            f"0/{nodes} nodes are available: {gpu} node(s) had untolerated taint "
            "{nvidia.com/gpu: present}, "
            f"{nodes - gpu} Insufficient {resource}. preemption: 0/{nodes} nodes are available: "
            f"{gpu} Preemption is not "
            f"helpful for scheduling, {nodes - gpu} No preemption victims found for incoming pod."
        )
        self.pending(ns, "UNSCHEDULABLE_RESOURCES", message, app, req=req)

    def fail_unschedulable_constraints(self, ns: str) -> None:
        r = self.rng
        nodes, gpu = self.node_count()
        app = self.new_app(ns)
        selector = r.choice(
            (
                {"eks.amazonaws.com/nodegroup": "batch-spot"},
                {"node.kubernetes.io/instance-type": "c7i.8xlarge"},
            )
        )
        message = (
            f"0/{nodes} nodes are available: {gpu} node(s) had untolerated taint "
            "{nvidia.com/gpu: present}, "
            f"{nodes - gpu} node(s) didn't match Pod's node affinity/selector. preemption: "
            f"0/{nodes} nodes are "
            f"available: {nodes} Preemption is not helpful for scheduling."
        )
        self.pending(ns, "UNSCHEDULABLE_CONSTRAINTS", message, app, node_selector=selector)

    def fail_volume(self, ns: str) -> None:
        c = self.c
        r = self.rng
        nodes, _ = self.node_count()
        app = self.new_app(ns)
        variant = r.choice(("class", "multiattach", "secret"))
        cname = c.container(app)["name"]
        onset = r.uniform(-40, -12)
        if variant == "class":
            app.probe_path = "/healthz"
            template = c.template(app, [c.container(app)])
            replicas = r.choice((2, 3))
            s = c.statefulset(
                app,
                template,
                replicas,
                -60 * 24 * r.randint(30, 300),
                claims=[("data", "50Gi", "gp3-encrypted")],
            )
            for i in range(replicas - 1):
                created = -60 * 24 * r.randint(2, 30)
                c.pod(
                    s,
                    name=str(i),
                    node=c.place(quantity_m(app.req[0]), quantity_mi(app.req[1])),
                    created=created,
                    states={cname: running(created + 0.4)},
                )
                c.pvc(
                    ns,
                    f"data-{app.name}-{i}",
                    phase="Bound",
                    storage_class="gp3",
                    size="50Gi",
                    created=-60 * 24 * 300,
                )
            message = (
                f"0/{nodes} nodes are available: pod has unbound immediate "
                "PersistentVolumeClaims. preemption: "
                f"0/{nodes} nodes are available: {nodes} Preemption is not helpful for scheduling."
            )
            pod = c.pod(
                s, name=str(replicas - 1), node=None, created=onset, states={}, unscheduled=message
            )
            claim = c.pvc(
                ns,
                f"data-{app.name}-{replicas - 1}",
                phase="Pending",
                storage_class="gp3-encrypted",
                size="50Gi",
                created=onset,
            )
            c.event(
                claim,
                "ProvisioningFailed",
                'storageclass.storage.k8s.io "gp3-encrypted" not found',
                type_="Warning",
                count=int((DUMP_AT - onset) * 4),
                first=onset,
                last=DUMP_AT - 0.2,
                component="persistentvolume-controller",
            )
            c.event(
                pod,
                "FailedScheduling",
                message,
                type_="Warning",
                count=int(DUMP_AT - onset) // 2 + 1,
                first=onset,
                last=DUMP_AT - r.uniform(0.5, 5),
                component="default-scheduler",
                new_style=True,
            )
            c.event(
                s,
                "SuccessfulCreate",
                f"create Claim data-{pod['metadata']['name']} Pod {pod['metadata']['name']} in "
                f"StatefulSet {app.name} success",
                first=onset,
                component="statefulset-controller",
            )
            self.finish_sts(s)
            plant = self.plant("VOLUME", "StatefulSet", ns, app.name)
            self.pod_alerts(
                plant, [pod], cname, min(onset + 15, 8), "StatefulSet", app.name, reason="Pending"
            )
            return
        if variant == "multiattach":
            claim = c.pvc(
                ns,
                f"{app.name}-data",
                phase="Bound",
                storage_class="gp3",
                size="100Gi",
                created=-60 * 24 * 200,
            )
            app.volumes = [
                {"name": "data", "persistentVolumeClaim": {"claimName": f"{app.name}-data"}}
            ]
            app.mounts = [{"name": "data", "mountPath": "/var/lib/data"}]
            failure = (
                f'Multi-Attach error for volume "{claim["spec"]["volumeName"]}" Volume is already '
                "exclusively attached to one node "
                "and can't be attached to another"
            )
            mount = (
                "Unable to attach or mount volumes: unmounted volumes=[data], unattached "
                "volumes=[data], failed to process "
                "volumes=[]: timed out waiting for the condition"
            )
            reason = "FailedAttachVolume"
        else:
            secret = f"{app.name}-tls"
            app.volumes = [{"name": "tls", "secret": {"secretName": secret, "defaultMode": 420}}]
            app.mounts = [{"name": "tls", "mountPath": "/etc/tls", "readOnly": True}]
            failure = f'MountVolume.SetUp failed for volume "tls" : secret "{secret}" not found'
            mount = (
                "Unable to attach or mount volumes: unmounted volumes=[tls], unattached "
                "volumes=[], failed to process "
                "volumes=[]: timed out waiting for the condition"
            )
            reason = "FailedMount"
        _, rs = self.fresh_deployment(ns, app, 1, created=onset, revision=r.randint(2, 20))
        node = c.place(quantity_m(app.req[0]), quantity_mi(app.req[1]))
        pod = c.pod(rs, node=node, created=onset, states={cname: waiting("ContainerCreating")})
        c.event(
            rs,
            "SuccessfulCreate",
            f"Created pod: {pod['metadata']['name']}",
            first=onset,
            component="replicaset-controller",
        )
        c.event(
            pod,
            "Scheduled",
            f"Successfully assigned {ns}/{pod['metadata']['name']} to {node}",
            first=onset,
            component="default-scheduler",
            new_style=True,
        )
        c.event(
            pod,
            reason,
            failure,
            type_="Warning",
            count=1 if reason == "FailedAttachVolume" else int(DUMP_AT - onset),
            first=onset + 0.01,
            last=DUMP_AT - 1,
            component="attachdetach-controller" if reason == "FailedAttachVolume" else "kubelet",
            host=None if reason == "FailedAttachVolume" else node,
        )
        c.event(
            pod,
            "FailedMount",
            mount,
            type_="Warning",
            count=int(DUMP_AT - onset) // 2,
            first=onset + 2,
            last=DUMP_AT - 0.5,
            host=node,
        )
        plant = self.plant("VOLUME", "Deployment", ns, app.name)
        self.pod_alerts(
            plant,
            [pod],
            cname,
            min(onset + 15, 8),
            "Deployment",
            app.name,
            reason="ContainerCreating",
        )

    def fail_node_pressure(self, ns: str) -> None:
        c = self.c
        r = self.rng
        app = self.new_app(ns)
        node = self.bad_nodes[r.choice(("memory", "disk"))]
        resource = "memory" if node == self.bad_nodes["memory"] else "ephemeral-storage"
        replicas = r.choice((2, 3))
        dep = c.deployment(app, replicas, -60 * 24 * r.randint(30, 300))
        revision = r.randint(2, 30)
        rs_created = -60 * 24 * r.uniform(2, 20)
        c.history(dep, revision, -60 * 24 * 29, rs_created - 60)
        rs = c.replicaset(
            dep,
            c.template(app, [c.container(app)]),
            revision=revision,
            created=rs_created,
            replicas=replicas,
        )
        cname = c.container(app)["name"]
        onset = r.uniform(-40, -15)
        if resource == "memory":
            message = (
                "The node was low on resource: memory. Threshold quantity: 100Mi, available: "
                f"{r.randint(60000, 99000)}Ki. "
                f"Container {cname} was using {r.randint(2_000_000, 4_000_000)}Ki, request is "
                f"{app.req[1]}, has larger "
                "consumption of memory. "
            )
        else:
            message = (
                "The node was low on resource: ephemeral-storage. Threshold quantity: "
                "10223675392, available: "
                f"{r.randint(8_000_000, 9_900_000)}Ki. Container {cname} was using "
                f"{r.randint(9_000_000, 30_000_000)}Ki, "
                "request is 0, has larger consumption of ephemeral-storage. "
            )
        evicted = c.pod(
            rs,
            node=node,
            created=rs_created + 1,
            states={
                cname: terminated(
                    "ContainerStatusUnknown",
                    137,
                    rs_created + 1.3,
                    onset,
                    message="The container could not be located when the pod was terminated",
                )
            },
            evicted=message,
        )
        c.event(evicted, "Evicted", message, type_="Warning", first=onset, host=node)
        c.event(
            evicted,
            "Killing",
            f"Stopping container {cname}",
            first=onset + 0.01,
            host=node,
            field_path=f"spec.containers{{{cname}}}",
        )
        for i in range(replicas):
            created = rs_created + r.uniform(0, 30) if i else onset + 0.05
            pod = c.pod(
                rs,
                node=c.place(quantity_m(app.req[0]), quantity_mi(app.req[1])),
                created=created,
                states={cname: running(created + 0.3)},
            )
            if not i:
                c.event(
                    rs,
                    "SuccessfulCreate",
                    f"Created pod: {pod['metadata']['name']}",
                    first=created,
                    component="replicaset-controller",
                )
                c.lifecycle(pod, created)
        plant = self.plant("NODE_PRESSURE", "Deployment", ns, app.name)
        plant.alerts.append(
            (
                "KubePodNotReady",
                {**self.ksm_labels(), "namespace": ns, "pod": evicted["metadata"]["name"]},
                min(onset + 15, 8),
            )
        )

    def fail_hpa_maxed(self, ns: str) -> None:
        r = self.rng
        app = self.new_app(ns)
        maximum = r.choice((4, 6, 8, 10))
        dep = self.deploy_healthy(app, maximum)
        self.apps_by_ns[ns].remove(dep)
        h = self.c.hpa(
            dep, min_r=2, max_r=maximum, current=maximum, util=r.randint(130, 260), limited=True
        )
        self.c.event(
            h,
            "SuccessfulRescale",
            f"New size: {maximum}; reason: cpu resource utilization (percentage of request) above "
            "target",
            first=r.uniform(-45, -20),
            component="horizontal-pod-autoscaler",
        )
        plant = self.plant("HPA_MAXED", "Deployment", ns, app.name)
        plant.alerts.append(
            (
                "KubeHpaMaxedOut",
                {**self.ksm_labels(), "namespace": ns, "horizontalpodautoscaler": app.name},
                r.uniform(-20, 5),
            )
        )

    def fail_quota_exceeded(self, ns: str) -> None:
        c = self.c
        r = self.rng
        app = self.new_app(ns)
        quotas = c.spaces[ns].get("resourcequotas") or []
        if not quotas:
            c.add(
                ns,
                "resourcequotas",
                {
                    "_kind": "ResourceQuota",
                    "_fill": 0.97,
                    "metadata": c.meta("compute-quota", ns, -60 * 24 * 200),
                    "spec": {},
                    "status": {},
                },
            )
        else:
            quotas[0]["_fill"] = 0.97
        onset = r.uniform(-40, -15)
        replicas = r.choice((2, 3))
        dep, rs = self.fresh_deployment(ns, app, replicas, created=onset)
        dep["_quota"] = (rs, onset, app)
        plant = self.plant("QUOTA_EXCEEDED", "Deployment", ns, app.name)
        plant.alerts.append(
            (
                "KubeDeploymentReplicasMismatch",
                {**self.ksm_labels(), "namespace": ns, "deployment": app.name},
                min(onset + 15, 8),
            )
        )

    def fail_job_failed(self, ns: str) -> None:
        c = self.c
        r = self.rng
        app = self.new_app(ns, mesh=False)
        app.probe_path = ""
        template = c.template(app, [c.container(app, probes=False)], restart="Never")
        cname = c.container(app)["name"]
        at = r.uniform(-45, -15)
        plant_starts = min(at + 8, 8)
        if r.random() < 0.7:
            cj = c.cronjob(
                app,
                template,
                r.choice(("0 */6 * * *", "30 2 * * *", "15 * * * *")),
                -60 * 24 * r.randint(10, 300),
            )
            jn = f"{app.name}-{int(_at(at).timestamp() // 60)}"
            job = c.job(
                app,
                jn,
                template,
                created=at,
                cronjob=cj,
                outcome="failed",
                ended=at + 3.5,
                failed=3,
            )
            log = "crash"
            if c.data_services and r.random() < 0.5:
                dns_ns, svc, _, port, proto = r.choice(c.data_services)
                log = f"dep:{svc}.{dns_ns}.svc.cluster.local:{port}:{proto}:timeout"
            for i in range(3):
                start = at + i * 1.1
                pod = c.pod(
                    job,
                    node=c.place(0, 0),
                    created=start,
                    log=log,
                    states={
                        cname: terminated(
                            "Error", EXIT_CODES[app.runtime], start + 0.1, start + 0.6
                        )
                    },
                )
                c.event(
                    job,
                    "SuccessfulCreate",
                    f"Created pod: {pod['metadata']['name']}",
                    first=start,
                    component="job-controller",
                )
                c.lifecycle(pod, start + 0.01)
            c.event(
                job,
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
                type_="Warning",
                first=at + 3.5,
                component="job-controller",
            )
            c.event(
                cj,
                "SuccessfulCreate",
                f"Created job {jn}",
                first=at,
                component="cronjob-controller",
            )
            c.event(
                cj,
                "SawCompletedJob",
                f"Saw completed job: {jn}, condition: Failed",
                first=at + 3.6,
                component="cronjob-controller",
            )
            cj["status"] = {"lastScheduleTime": c.ts(at), "lastSuccessfulTime": c.ts(at - 360)}
        else:
            jn = f"{app.name}-backfill-{r.randint(1, 12):02d}"
            job = c.job(
                app,
                jn,
                template,
                created=at - 60,
                cronjob=None,
                outcome="failed",
                ended=at,
                failed=1,
                backoff=0,
                deadline=3600,
                reason="DeadlineExceeded",
            )
            gone = f"{jn}-{c.safe(5)}"
            c.event(
                job,
                "SuccessfulDelete",
                f"Deleted pod: {gone}",
                first=at,
                component="job-controller",
            )
            c.event(
                job,
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
                type_="Warning",
                first=at,
                component="job-controller",
            )
        plant = self.plant("JOB_FAILED", "Job", ns, jn)
        plant.alerts.append(
            (
                "KubeJobFailed",
                {**self.ksm_labels(), "namespace": ns, "job_name": jn, "condition": "true"},
                plant_starts,
            )
        )

    def node_failures(self) -> None:
        """A node whose kubelet stopped posting status, nodes under memory and disk pressure."""
        c = self.c
        r = self.rng
        lost = self.bad_nodes["notready"]
        obj = c.node_obj(lost)
        at = r.uniform(-35, -20)
        for cond in obj["status"]["conditions"]:
            cond.update(
                {
                    "status": "Unknown",
                    "reason": "NodeStatusUnknown",
                    "message": "Kubelet stopped posting node status.",
                    "lastTransitionTime": c.ts(at),
                    "lastHeartbeatTime": c.ts(at - 0.7),
                }
            )
        obj["spec"]["taints"] = [
            {
                "key": "node.kubernetes.io/unreachable",
                "effect": "NoSchedule",
                "timeAdded": c.ts(at),
            },
            {
                "key": "node.kubernetes.io/unreachable",
                "effect": "NoExecute",
                "timeAdded": c.ts(at + 0.1),
            },
        ]
        c.event(
            obj,
            "NodeNotReady",
            f"Node {lost} status is now: NodeNotReady",
            first=at,
            component="node-controller",
            namespace="default",
        )
        plant = self.plant("NODE_NOT_READY", "Node", "", lost)
        plant.alerts.append(
            (
                "KubeNodeNotReady",
                {**self.ksm_labels(), "node": lost, "condition": "Ready", "status": "true"},
                at + 15,
            )
        )
        plant.alerts.append(
            (
                "KubeNodeUnreachable",
                {
                    **self.ksm_labels(),
                    "node": lost,
                    "key": "node.kubernetes.io/unreachable",
                    "effect": "NoSchedule",
                },
                at + 15,
            )
        )
        for role, condition, reason, message, event in (
            (
                "memory",
                "MemoryPressure",
                "KubeletHasInsufficientMemory",
                "kubelet has insufficient memory available",
                "NodeHasInsufficientMemory",
            ),
            (
                "disk",
                "DiskPressure",
                "KubeletHasDiskPressure",
                "kubelet has disk pressure",
                "NodeHasDiskPressure",
            ),
        ):
            name = self.bad_nodes[role]
            obj = c.node_obj(name)
            at = r.uniform(-40, -20)
            for cond in obj["status"]["conditions"]:
                if cond["type"] == condition:
                    cond.update(
                        {
                            "status": "True",
                            "reason": reason,
                            "message": message,
                            "lastTransitionTime": c.ts(at),
                        }
                    )
            taint = "memory-pressure" if role == "memory" else "disk-pressure"
            obj["spec"]["taints"] = [
                {
                    "key": f"node.kubernetes.io/{taint}",
                    "effect": "NoSchedule",
                    "timeAdded": c.ts(at),
                }
            ]
            c.event(
                obj,
                event,
                f"Node {name} status is now: {event}",
                first=at,
                host=name,
                namespace="default",
            )
            c.event(
                obj,
                "EvictionThresholdMet",
                f"Attempting to reclaim {'memory' if role == 'memory' else 'ephemeral-storage'}",
                type_="Warning",
                count=r.randint(2, 6),
                first=at,
                last=DUMP_AT - r.uniform(1, 10),
                host=name,
                namespace="default",
            )
            plant = self.plant("NODE_PRESSURE", "Node", "", name)
            plant.alerts.append(
                (
                    "KubeNodePressure",
                    {**self.ksm_labels(), "node": name, "condition": condition, "status": "true"},
                    at + 10,
                )
            )
        # Healthy workloads' pods on the bad nodes: what a real cluster would also show.
        for name in self.bad_nodes.values():
            c.healthy_nodes.append(name)
        self.lost_node = lost

    # -- finishing --
    def finish(self) -> None:
        c = self.c
        lost_at = None
        for cond in c.node_obj(self.lost_node)["status"]["conditions"]:
            if cond["type"] == "Ready":
                lost_at = (
                    datetime.fromisoformat(cond["lastTransitionTime"].replace("Z", "+00:00")) - T0
                ).total_seconds() / 60
        for ns, lists in c.spaces.items():
            for pod in lists["pods"]:
                if (
                    pod["spec"].get("nodeName") == self.lost_node
                    and pod["status"].get("phase") == "Running"
                    and lost_at is not None
                ):
                    for cond in pod["status"]["conditions"]:
                        if cond["type"] == "Ready":
                            cond.update(
                                {"status": "False", "lastTransitionTime": c.ts(lost_at + 0.7)}
                            )
                            cond.pop("reason", None)
                            cond.pop("message", None)
            for quota in lists.get("resourcequotas", []):
                self.finish_quota(ns, quota)
            for dep in lists.get("deployments", []):
                self.finish_deployment(dep)
            for ds in lists.get("daemonsets", []):
                self.finish_ds(ds)
            for job in lists.get("jobs", []):
                job["status"]["ready"] = 0

    @staticmethod
    def ready(pod: JSON) -> bool:
        return any(
            cd["type"] == "Ready" and cd["status"] == "True"
            for cd in pod["status"].get("conditions", [])
        )

    def finish_deployment(self, dep: JSON) -> None:
        c = self.c
        rss = sorted(dep["_rs"], key=lambda rs: rs["_revision"])
        if not rss:
            return
        new = rss[-1]
        dep["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = str(
            new["_revision"]
        )
        dep["metadata"]["generation"] = new["_revision"] + self.rng.randint(0, 3)
        template = json.loads(json.dumps(new["spec"]["template"]))
        template["metadata"]["labels"].pop("pod-template-hash", None)
        dep["spec"]["template"] = template
        total = ready = updated = 0
        for rs in rss:
            live = [
                p for p in rs["_pods"] if p["status"].get("phase") not in ("Failed", "Succeeded")
            ]
            n_ready = sum(1 for p in live if self.ready(p))
            rs["status"] = {
                "replicas": len(live),
                "fullyLabeledReplicas": len(live),
                "readyReplicas": n_ready,
                "availableReplicas": n_ready,
                "observedGeneration": rs["metadata"]["generation"],
            }
            if not n_ready:
                rs["status"].pop("readyReplicas")
                rs["status"].pop("availableReplicas")
            if not live:
                rs["status"] = {"replicas": 0, "observedGeneration": rs["metadata"]["generation"]}
            total += len(live)
            ready += n_ready
            if rs is new:
                updated = len(live)
        want = dep["spec"]["replicas"]
        status: JSON = {
            "observedGeneration": dep["metadata"]["generation"],
            "replicas": total,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": ready,
        }
        if max(total, want) - ready > 0:
            status["unavailableReplicas"] = max(total, want) - ready
        if not ready:
            status.pop("readyReplicas")
            status.pop("availableReplicas")
        if dep["_conditions"]:
            conditions = dep["_conditions"]
        else:
            name = new["metadata"]["name"]
            if ready >= want - int(want * 0.25):
                available = (
                    "Available",
                    "True",
                    "MinimumReplicasAvailable",
                    "Deployment has minimum availability.",
                    new["_created"] + 1,
                )
            else:
                available = (
                    "Available",
                    "False",
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.",
                    min(-30.0, DUMP_AT - 20),
                )
            new_ready = sum(1 for p in new["_pods"] if self.ready(p))
            if (new_ready >= want and updated == want) or new["_created"] < -60 * 6:
                progressing = (
                    "Progressing",
                    "True",
                    "NewReplicaSetAvailable",
                    f'ReplicaSet "{name}" has successfully progressed.',
                    new["_created"] + 1,
                )
            elif new["_created"] < DUMP_AT - 10:
                progressing = (
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    f'ReplicaSet "{name}" has timed out progressing.',
                    new["_created"] + 10,
                )
            else:
                progressing = (
                    "Progressing",
                    "True",
                    "ReplicaSetUpdated",
                    f'ReplicaSet "{name}" is progressing.',
                    new["_created"],
                )
            conditions = [available, progressing]
            if "_quota" in dep:
                conditions.insert(
                    1,
                    (
                        "ReplicaFailure",
                        "True",
                        "FailedCreate",
                        dep["_quota_message"],
                        dep["_quota"][1],
                    ),
                )
        status["conditions"] = [
            {
                "type": t,
                "status": s,
                "lastUpdateTime": c.ts(w + 0.5),
                "lastTransitionTime": c.ts(w),
                "reason": reason,
                "message": m,
            }
            for t, s, reason, m, w in conditions
        ]
        dep["status"] = status

    def finish_sts(self, s: JSON) -> None:
        live = [p for p in s["_pods"] if p["status"].get("phase") not in ("Failed", "Succeeded")]
        ready = sum(1 for p in live if self.ready(p))
        s["status"] = {
            "observedGeneration": s["metadata"]["generation"],
            "replicas": len(live),
            "readyReplicas": ready,
            "currentReplicas": len(live),
            "updatedReplicas": len(live),
            "currentRevision": s["_rev"],
            "updateRevision": s["_rev"],
            "collisionCount": 0,
            "availableReplicas": ready,
        }
        if not ready:
            s["status"].pop("readyReplicas")

    def finish_ds(self, d: JSON) -> None:
        n = len(d["_pods"])
        ready = sum(1 for p in d["_pods"] if self.ready(p))
        d["status"] = {
            "currentNumberScheduled": n,
            "numberMisscheduled": 0,
            "desiredNumberScheduled": n,
            "numberReady": ready,
            "observedGeneration": 4,
            "updatedNumberScheduled": n,
            "numberAvailable": ready,
        }
        if n - ready:
            d["status"]["numberUnavailable"] = n - ready

    def finish_quota(self, ns: str, quota: JSON) -> None:
        """Hard limits set so that the namespace's running pods use `_fill` of them; a quota
        refusal's FailedCreate events carry the numbers."""
        c = self.c
        cpu = mem = 0.0
        pods = 0
        for pod in c.spaces[ns]["pods"]:
            if pod["status"].get("phase") in ("Failed", "Succeeded"):
                continue
            pods += 1
            for ctr in pod["spec"]["containers"]:
                requests = ctr.get("resources", {}).get("requests") or {}
                cpu += quantity_m(requests.get("cpu"))
                mem += quantity_mi(requests.get("memory"))
        fill = quota["_fill"]
        hard_cpu = max(1000, int(cpu / fill / 1000 + 1) * 1000)
        hard_mem = max(1024, int(mem / fill / 1024 + 1) * 1024)
        hard = {
            "requests.cpu": str(hard_cpu // 1000),
            "requests.memory": f"{hard_mem // 1024}Gi",
            "pods": str(max(pods + 10, int(pods / fill))),
        }
        used = {
            "requests.cpu": f"{int(cpu)}m",
            "requests.memory": f"{int(mem)}Mi",
            "pods": str(pods),
        }
        quota["spec"] = {"hard": dict(hard)}
        quota["status"] = {"hard": hard, "used": used}
        for dep in c.spaces[ns].get("deployments", []):
            if "_quota" not in dep:
                continue
            rs, onset, app = dep["_quota"]
            message = (
                f'pods "{rs["metadata"]["name"]}-{c.safe(5)}" is forbidden: exceeded quota: '
                "compute-quota, requested: "
                f"requests.cpu={app.req[0]}, used: requests.cpu={int(cpu)}m, limited: "
                f"requests.cpu={hard_cpu // 1000}"
            )
            if quantity_m(app.req[0]) + cpu <= hard_cpu:
                # Not over by cpu: the memory request is what does not fit.
                hard["requests.memory"] = f"{int(mem + 1)}Mi"
                quota["spec"]["hard"]["requests.memory"] = hard["requests.memory"]
                message = (
                    f'pods "{rs["metadata"]["name"]}-{c.safe(5)}" is forbidden: exceeded quota: '
                    "compute-quota, "
                    f"requested: requests.memory={app.req[1]}, used: "
                    f"requests.memory={int(mem)}Mi, limited: "
                    f"requests.memory={int(mem + 1)}Mi"
                )
            dep["_quota_message"] = message
            c.event(
                rs,
                "FailedCreate",
                "Error creating: " + message,
                type_="Warning",
                first=onset,
                component="replicaset-controller",
            )
            c.event(
                rs,
                "FailedCreate",
                "(combined from similar events): Error creating: " + message,
                type_="Warning",
                count=int((DUMP_AT - onset) * 2),
                first=onset + 0.1,
                last=DUMP_AT - 0.4,
                component="replicaset-controller",
            )

    # -- noise up to the event count --
    def noise(self) -> None:
        """Filler events until --events: CronJob runs whose Jobs and pods are gone, probe flaps
        on healthy pods, HPA rescales, ingress syncs, Argo CD application events."""
        c = self.c
        r = self.rng
        self.expire()
        healthy_pods = [
            p
            for deps in self.apps_by_ns.values()
            for d in deps
            for rs in d["_rs"]
            for p in rs["_pods"]
            if p["status"].get("phase") == "Running"
        ]
        argocd: JSON = {"_kind": "Application", "_api": "argoproj.io/v1alpha1"}
        while self.count_events() < self.events_target:
            roll = r.random()
            t = r.uniform(DUMP_AT - EVENT_TTL + 0.5, DUMP_AT - 0.2)
            if roll < 0.45 and self.cronjobs:
                app, cj, _ = r.choice(self.cronjobs)
                stamp = int(_at(t).timestamp() // 60)
                jn = f"{app.name}-{stamp}"
                ghost_job = {
                    "_kind": "Job",
                    "_api": "batch/v1",
                    "metadata": {
                        "name": jn,
                        "namespace": app.ns,
                        "uid": c.uid(),
                        "resourceVersion": c.next_rv(),
                    },
                }
                ghost_pod = {
                    "_kind": "Pod",
                    "_api": "v1",
                    "metadata": {
                        "name": f"{jn}-{c.safe(5)}",
                        "namespace": app.ns,
                        "uid": c.uid(),
                        "resourceVersion": c.next_rv(),
                    },
                    "spec": {
                        "nodeName": c.place(0, 0),
                        "containers": cj["spec"]["jobTemplate"]["spec"]["template"]["spec"][
                            "containers"
                        ],
                    },
                }
                self.cron_events(app, cj, ghost_job, ghost_pod, t, r.uniform(0.2, 2), filler=True)
            elif roll < 0.75 and healthy_pods:
                pod = r.choice(healthy_pods)
                ctr = pod["spec"]["containers"][0]
                probe = ctr.get("readinessProbe") or {}
                path = (probe.get("httpGet") or {}).get("path", "/healthz")
                ip = pod["status"].get("podIP", "10.20.130.4")
                port = ctr["ports"][0]["containerPort"] if ctr.get("ports") else 8080
                message = r.choice(
                    (
                        "Readiness probe failed: HTTP probe failed with statuscode: "
                        f"{r.choice((500, 503))}",
                        "Readiness probe failed: Get "
                        f'"http://{ip}:{port}{path}": context deadline exceeded '
                        "(Client.Timeout exceeded while awaiting headers)",
                    )
                )
                c.event(
                    pod,
                    "Unhealthy",
                    message,
                    type_="Warning",
                    count=r.randint(1, 4),
                    first=t,
                    last=t + r.uniform(0, 0.5),
                    host=pod["spec"]["nodeName"],
                    field_path=f"spec.containers{{{ctr['name']}}}",
                    filler=True,
                )
            elif roll < 0.85:
                ns = r.choice(self.teams)
                obj: JSON = {
                    "_kind": "Ingress",
                    "_api": "networking.k8s.io/v1",
                    "metadata": {
                        "name": r.choice(self.apps_by_ns[ns])["metadata"]["name"]
                        if self.apps_by_ns[ns]
                        else ns,
                        "namespace": ns,
                        "uid": c.uid(),
                        "resourceVersion": c.next_rv(),
                    },
                }
                c.event(
                    obj,
                    "Sync",
                    "Scheduled for sync",
                    first=t,
                    component="nginx-ingress-controller",
                    host=f"ingress-nginx-controller-{c.safe(9)}-{c.safe(5)}",
                    filler=True,
                )
            elif roll < 0.93:
                argocd["metadata"] = {
                    "name": r.choice(self.teams),
                    "namespace": "argocd",
                    "uid": c.uid(),
                    "resourceVersion": c.next_rv(),
                }
                reason, message = r.choice(
                    (
                        ("ResourceUpdated", "Updated sync status: Synced -> OutOfSync"),
                        ("ResourceUpdated", "Updated health status: Progressing -> Healthy"),
                        ("OperationStarted", "Initiated automated sync to 'a3f9c1e'"),
                        ("OperationCompleted", "Sync operation to a3f9c1e succeeded"),
                    )
                )
                c.event(
                    dict(argocd),
                    reason,
                    message,
                    first=t,
                    component="argocd-application-controller",
                    filler=True,
                )
            else:
                ns = r.choice(self.teams)
                hpas = c.spaces[ns].get("horizontalpodautoscalers") or []
                if not hpas:
                    continue
                h = r.choice(hpas)
                size = h["status"]["currentReplicas"]
                c.event(
                    h,
                    "SuccessfulRescale",
                    f"New size: {size}; reason: "
                    + r.choice(
                        (
                            "cpu resource utilization (percentage of request) above target",
                            "All metrics below target",
                        )
                    ),
                    first=t,
                    component="horizontal-pod-autoscaler",
                    filler=True,
                )
        surplus = self.count_events() - self.events_target
        while surplus > 0 and c.filler:
            e = c.filler.pop()
            c.spaces[e["metadata"]["namespace"]]["events"].remove(e)
            surplus -= 1

    def count_events(self) -> int:
        return sum(len(lists["events"]) for lists in self.c.spaces.values())

    def expire(self) -> None:
        """The API server deletes events an hour after their last update."""
        for lists in self.c.spaces.values():
            lists["events"] = [
                e for e in lists["events"] if self.last_seen(e) >= DUMP_AT - EVENT_TTL
            ]

    @staticmethod
    def last_seen(e: JSON) -> float:
        stamp = (
            e.get("lastTimestamp")
            or (e.get("series") or {}).get("lastObservedTime")
            or e.get("eventTime")
            or ""
        )
        return (datetime.fromisoformat(stamp.replace("Z", "+00:00")) - T0).total_seconds() / 60


# --- the dump on disk --------------------------------------------------------------------------


def clean(obj: JSON) -> JSON:
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def dump_list(path: Path, plural: str, items: list[JSON], rv: int) -> None:
    kind, api = LIST_KINDS.get(plural, ("NodeList", "v1"))
    document = {
        "kind": kind,
        "apiVersion": api,
        "metadata": {"resourceVersion": str(rv)},
        "items": [clean(item) for item in items],
    }
    # kubectl writes its Lists indented by four spaces.
    path.write_text(json.dumps(document, indent=4, ensure_ascii=False) + "\n")


def write_dump(c: Cluster, root: Path) -> None:
    """The directory `kubectl cluster-info dump --all-namespaces --output-directory` writes,
    with awoooi's extra Lists and previous-run logs."""
    root.mkdir(parents=True)
    by_name = lambda obj: obj["metadata"]["name"]  # noqa: E731
    dump_list(root / "nodes.json", "nodes", sorted(c.nodes, key=by_name), c.rv)
    for ns in sorted(c.spaces):
        folder = root / ns
        folder.mkdir()
        lists = c.spaces[ns]
        for plural in LIST_KINDS:
            items = lists.get(plural)
            if not items and plural not in ALWAYS:
                continue
            dump_list(
                folder / f"{plural}.json", plural, sorted(items or [], key=by_name), c.rv + 1000
            )
        for pod in sorted(lists["pods"], key=by_name):
            name = pod["metadata"]["name"]
            (folder / name).mkdir()
            blocks = c.log_blocks.get((ns, name), {})
            chunks = []
            spec = pod["spec"]
            for container in spec.get("initContainers", []) + spec["containers"]:
                cn = container["name"]
                chunks.append(f"==== START logs for container {cn} of pod {ns}/{name} ====\n")
                if "nodeName" not in spec:
                    chunks.append(f"Request log error: pod {name} does not have a host assigned\n")
                elif cn not in blocks:
                    chunks.append(
                        f'Request log error: container "{cn}" in pod "{name}" is waiting to '
                        "start: ContainerCreating\n"
                    )
                else:
                    lines = c.log_lines(name, blocks[cn])
                    if lines:
                        chunks.append("\n".join(lines) + "\n")
                chunks.append(f"==== END logs for container {cn} of pod {ns}/{name} ====\n")
            (folder / name / "logs.txt").write_text("".join(chunks))
    for (ns, name, cn), lines in sorted(c.prev_logs.items()):
        if (root / ns / name).is_dir():
            (root / ns / name / f"logs-{cn}-previous.txt").write_text("\n".join(lines) + "\n")


def dump_size(root: Path) -> tuple[int, int, int, int]:
    """(JSON bytes, log bytes, JSON files, log files)."""
    json_bytes = log_bytes = json_files = log_files = 0
    for folder, _, files in os.walk(root):
        for name in files:
            size = os.path.getsize(os.path.join(folder, name))
            if name.endswith(".json"):
                json_bytes += size
                json_files += 1
            else:
                log_bytes += size
                log_files += 1
    return json_bytes, log_bytes, json_files, log_files


# --- alerts ---------------------------------------------------------------------------------------

ANNOTATIONS = {
    "KubePodCrashLooping": (
        "Pod is crash looping.",
        'Pod {namespace}/{pod} ({container}) is in waiting state (reason: "CrashLoopBackOff").',
    ),
    "KubePodNotReady": (
        "Pod has been in a non-ready state for more than 15 minutes.",
        "Pod {namespace}/{pod} has been in a non-ready state for longer than 15 minutes.",
    ),
    "KubeContainerWaiting": (
        "Pod container waiting longer than 1 hour",
        "pod/{pod} in namespace {namespace} on container {container} has been in waiting state "
        'for longer than 1 hour. (reason: "{reason}").',
    ),
    "KubeDeploymentReplicasMismatch": (
        "Deployment has not matched the expected number of replicas.",
        "Deployment {namespace}/{deployment} has not matched the expected number of replicas for "
        "longer than 15 minutes.",
    ),
    "KubeDeploymentRolloutStuck": (
        "Deployment rollout is not progressing.",
        "Rollout of deployment {namespace}/{deployment} is not progressing for longer than 15 "
        "minutes.",
    ),
    "KubeStatefulSetReplicasMismatch": (
        "StatefulSet has not matched the expected number of replicas.",
        "StatefulSet {namespace}/{statefulset} has not matched the expected number of replicas "
        "for longer than 15 minutes.",
    ),
    "KubeJobFailed": (
        "Job failed to complete.",
        "Job {namespace}/{job_name} failed to complete. Removing failed job after investigation "
        "should clear this alert.",
    ),
    "KubeHpaMaxedOut": (
        "HPA is running at max replicas",
        "HPA {namespace}/{horizontalpodautoscaler} has been running at max replicas for longer "
        "than 15 minutes.",
    ),
    "KubeNodeNotReady": ("Node is not ready.", "{node} has been unready for more than 15 minutes."),
    "KubeNodeUnreachable": (
        "Node is unreachable.",
        "{node} is unreachable and some workloads may be rescheduled.",
    ),
    "KubeNodePressure": (
        "Node has as active Condition.",
        "{node} has active Condition {condition}. This is caused by resource usage exceeding "
        "eviction thresholds.",
    ),
}


def alert_payload(name: str, labels: dict[str, str], starts: float) -> JSON:
    """An Alertmanager v4 webhook payload with this one firing alert."""
    severity = "critical" if name in ("KubeNodeNotReady", "KubeJobFailed") else "warning"
    merged = dict(sorted({"alertname": name, **labels, "severity": severity}.items()))
    summary, description = ANNOTATIONS[name]
    annotations = {
        "description": description.format_map(defaultdict(str, merged)),
        "runbook_url": f"https://runbooks.prometheus-operator.dev/runbooks/kubernetes/{name.lower()}",
        "summary": summary,
    }
    fingerprint = hashlib.sha256(json.dumps(merged, sort_keys=True).encode()).hexdigest()[:16]
    alert = {
        "status": "firing",
        "labels": merged,
        "annotations": annotations,
        "startsAt": iso_ms(_at(starts)),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": f"http://prometheus.monitoring.svc:9090/graph?g0.expr={name}&g0.tab=1",
        "fingerprint": fingerprint,
    }
    return {
        "version": "4",
        "status": "firing",
        "receiver": "awoooi",
        "groupKey": f'{{}}:{{alertname="{name}"}}',
        "truncatedAlerts": 0,
        "groupLabels": {"alertname": name},
        "commonLabels": merged,
        "commonAnnotations": annotations,
        "externalURL": "http://alertmanager.monitoring.svc:9093",
        "alerts": [alert],
    }


@dataclass
class Incident:
    alert: AlertContext
    plant: Plant


def draw_incidents(c: Cluster, count: int, rng: random.Random) -> list[Incident]:
    """Every planted failure's first alert, then their other alerts at random, up to `count`."""
    first = [(plant, plant.alerts[0]) for plant in c.plants if plant.alerts]
    rest = [(plant, alert) for plant in c.plants for alert in plant.alerts[1:]]
    rng.shuffle(first)
    rng.shuffle(rest)
    chosen = (first + rest)[:count]
    rng.shuffle(chosen)
    return [Incident(parse_alert(alert_payload(*alert)), plant) for plant, alert in chosen]


# --- measurement ---------------------------------------------------------------------------------


@dataclass
class Run:
    label: str
    floor_ms: list[float] = field(default_factory=list)
    reference_ms: list[float] = field(default_factory=list)
    investigate_ms: list[float] = field(default_factory=list)
    prompt_ms: list[float] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)
    results: list[tuple[Incident, Investigation, Prompt]] = field(default_factory=list)
    errors: list[tuple[Incident, str]] = field(default_factory=list)


async def run_ours(
    label: str,
    incidents: list[Incident],
    root: Path,
    shared: DumpSource | None,
    *,
    reference_runs: int = 0,
) -> Run:
    """investigate + build_prompt per incident, a fresh DumpSource each unless one is shared;
    with `reference_runs`, the floors interleaved (not part of our figures)."""
    run = Run(label)
    every = max(1, len(incidents) // reference_runs) if reference_runs else 0
    for index, incident in enumerate(incidents):
        if every and index % every == 0 and len(run.reference_ms) < reference_runs:
            gc.collect()
            started = time.perf_counter()
            load_whole_dump(root)
            run.reference_ms.append((time.perf_counter() - started) * 1000)
            gc.collect()
        if reference_runs:
            kind, namespace, _ = incident.plant.target
            started = time.perf_counter()
            load_namespace(root, namespace, node=kind == "Node")
            run.floor_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        source = shared if shared is not None else DumpSource(root)
        try:
            investigation = await investigate(
                source, incident.alert.labels, at=incident.alert.starts_at
            )
        except DiagnosisInputError as exc:
            run.errors.append((incident, exc.detail))
            continue
        collected = time.perf_counter()
        prompt = build_prompt(investigation, incident.alert.describe())
        done = time.perf_counter()
        run.investigate_ms.append((collected - started) * 1000)
        run.prompt_ms.append((done - collected) * 1000)
        run.total_ms.append((done - started) * 1000)
        run.results.append((incident, investigation, prompt))
    return run


def load_whole_dump(root: Path) -> int:
    """The reference: every List parsed with json.load, every log file read whole (as text)."""
    items = 0
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            if name.endswith(".json"):
                with open(path, "rb") as handle:
                    items += len(json.load(handle).get("items") or [])
            else:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    items += len(handle.read()) > 0
    return items


def load_namespace(root: Path, namespace: str, *, node: bool = False) -> int:
    """The namespace floor: the target namespace's Lists, nodes.json and default/events.json;
    for a node, every namespace's pods.json as well."""
    paths = [root / "nodes.json", root / "default" / "events.json"]
    if namespace and namespace != "default":
        paths += sorted((root / namespace).glob("*.json"))
    if node:
        paths += sorted(root.glob("*/pods.json"))
    items = 0
    for path in paths:
        with path.open("rb") as handle:
            items += len(json.load(handle).get("items") or [])
    return items


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = max(0, min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1))
    return ordered[index]


def spread(values: Sequence[float]) -> tuple[float, float, float]:
    return statistics.median(values), percentile(values, 0.95), percentile(values, 0.99)


def machine() -> str:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} CPUs ({model}), {memory:.0f} GiB, {platform.system()} "
        f"{platform.release()}\n"
        f"Python {platform.python_version()}"
    )


def load_average() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def profile(incidents: list[Incident], root: Path, count: int) -> None:
    """cProfile of `count` incidents, cold and on a warm shared source (cumulative, top 30)."""
    for label, shared in (
        ("cold (fresh source per incident)", None),
        ("warm (shared source, cached)", DumpSource(root)),
    ):
        if shared is not None:
            asyncio.run(run_ours("warm-up", incidents[:count], root, shared))
        profiler = cProfile.Profile()
        profiler.enable()
        asyncio.run(run_ours(label, incidents[:count], root, shared))
        profiler.disable()
        print(f"\n== profile: {label}, {count} incidents ==")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


def main(args: argparse.Namespace) -> None:
    print(machine())
    print(f"load average {load_average()} at the start")
    print(
        f"pods {args.pods:,}, events {args.events:,}, incidents {args.incidents}, seed "
        f"{args.seed}, "
        f"reference runs {args.reference_runs}"
    )
    print("\n== data ==")
    started = time.perf_counter()
    cluster = Cluster(args.seed)
    builder = Builder(cluster, args.pods, args.events, args.incidents)
    builder.build()
    built = time.perf_counter() - started
    base = (
        Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="awoooi-bench-diagnosis-"))
    )
    root = base / "cluster"
    if root.exists():
        shutil.rmtree(root)
    started = time.perf_counter()
    write_dump(cluster, root)
    written = time.perf_counter() - started
    try:
        incidents, secrets = describe_data(args, cluster, root, built, written)
        # What is timed runs without the generator's objects in memory: a real `awoooi diagnose`
        # process does not carry them, and every full collection of the cyclic GC would walk them.
        del cluster, builder
        gc.collect()
        if args.profile:
            profile(incidents, root, args.profile)
        else:
            measure(args, incidents, secrets, root)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
        else:
            print(f"\nkept {root}")


def describe_data(
    args: argparse.Namespace, cluster: Cluster, root: Path, built: float, written: float
) -> tuple[list[Incident], set[str]]:
    """Print what was generated; the incidents and the planted secret values."""
    json_bytes, log_bytes, json_files, log_files = dump_size(root)
    kinds: Counter[str] = Counter()
    for lists in cluster.spaces.values():
        for plural, items in lists.items():
            kinds[plural] += len(items)
    kinds["nodes"] = len(cluster.nodes)
    print(
        f"built in {built:.1f} s, written in {written:.1f} s: {len(cluster.spaces)} namespaces, "
        f"{json_files:,} Lists ({json_bytes / 2**20:.1f} MiB), {log_files:,} log files "
        f"({log_bytes / 2**20:.1f} MiB)"
    )
    print("objects: " + ", ".join(f"{kinds[k]:,} {k}" for k in ("nodes", *LIST_KINDS) if kinds[k]))
    pods_by_ns = sorted(
        ((len(lists["pods"]), ns) for ns, lists in cluster.spaces.items()), reverse=True
    )
    events_by_ns = sorted(
        ((len(lists["events"]), ns) for ns, lists in cluster.spaces.items()), reverse=True
    )
    print("largest namespaces by pods: " + ", ".join(f"{ns} {n}" for n, ns in pods_by_ns[:5]))
    print("largest namespaces by events: " + ", ".join(f"{ns} {n:,}" for n, ns in events_by_ns[:5]))
    causes = Counter(plant.cause for plant in cluster.plants)
    print(
        f"planted failures: {len(cluster.plants)} ("
        + ", ".join(f"{n} {cause}" for cause, n in causes.most_common())
        + ")"
    )
    incidents = draw_incidents(cluster, args.incidents, random.Random(args.seed * 31 + 5))
    alerts = Counter(incident.alert.name for incident in incidents)
    print(
        f"incidents: {len(incidents)} alerts ("
        + ", ".join(f"{n} {name}" for name, n in alerts.most_common())
        + ")"
    )
    return incidents, {value for values in cluster.secrets.values() for value in values}


def measure(
    args: argparse.Namespace, incidents: list[Incident], secrets: set[str], root: Path
) -> None:
    """Time ours and the reference, print the figures and the sanity check."""
    print("\n== ours: investigate + build_prompt per incident ==")
    gc.collect()
    cold = asyncio.run(
        run_ours(
            "cold (fresh DumpSource per incident)",
            incidents,
            root,
            None,
            reference_runs=args.reference_runs,
        )
    )
    shared = DumpSource(root)
    order = list(incidents)
    random.Random(args.seed).shuffle(order)
    warm1 = asyncio.run(run_ours("shared source, 1st pass (parses included)", order, root, shared))
    warm2 = asyncio.run(run_ours("shared source, 2nd pass (all cached)", order, root, shared))
    runs = (cold, warm1, warm2)
    print(f"  {'':<52}{'investigate ms':>24}{'build_prompt ms':>20}{'total ms':>24}")
    print(f"  {'':<52}{'median / p95 / p99':>24}{'median / p95':>20}{'median / p95 / p99':>24}")
    for run in runs:
        inv = spread(run.investigate_ms)
        pr = spread(run.prompt_ms)
        tot = spread(run.total_ms)
        print(
            f"  {run.label:<52}{inv[0]:>8.1f} /{inv[1]:>6.1f} /{inv[2]:>6.1f}{pr[0]:>10.2f} "
            f"/{pr[1]:>6.2f}"
            f"{tot[0]:>8.1f} /{tot[1]:>6.1f} /{tot[2]:>6.1f}"
        )
    by_target: dict[str, list[float]] = defaultdict(list)
    for (_, investigation, _), ms in zip(cold.results, cold.total_ms, strict=True):
        by_target["node" if investigation.target.kind == "Node" else "namespaced"].append(ms)
    for kind, values in sorted(by_target.items()):
        med, p95, p99 = spread(values)
        print(
            f"  cold, {kind} targets ({len(values)}): median {med:.1f}, p95 {p95:.1f}, p99 "
            f"{p99:.1f} ms"
        )

    print("\n== reference: load the whole dump (json.load every List, read every log) ==")
    floors = cold.reference_ms
    floor = statistics.median(floors)
    print(
        f"  {len(floors)} runs interleaved with the cold pass: "
        + ", ".join(f"{ms:.0f}" for ms in floors)
        + f" ms; median {floor:.0f} ms"
    )
    ns_med, ns_p95, ns_p99 = spread(cold.floor_ms)
    print(
        "  namespace floor per incident (the target namespace's Lists, nodes.json, "
        "default/events.json; for a node every pods.json): "
        f"median {ns_med:.1f}, p95 {ns_p95:.1f}, p99 {ns_p99:.1f} ms"
    )
    ratios = [
        ours / max(base, 1e-3) for ours, base in zip(cold.total_ms, cold.floor_ms, strict=True)
    ]
    print(
        f"  cold / namespace floor, per incident: median {statistics.median(ratios):.1f}, "
        f"p95 {percentile(ratios, 0.95):.1f}"
    )

    prompt_chars = [len(p) for _, _, p in warm2.results]
    included = [len(p.included) for _, _, p in warm2.results]
    omitted = [len(p.omitted) for _, _, p in warm2.results]
    evidence = [len(inv.evidence) for _, inv, _ in warm2.results]
    print("\n== prompt (default budget of 16,000 characters) ==")
    print(
        f"  chars: median {statistics.median(prompt_chars):,.0f}, p95 "
        f"{percentile(prompt_chars, 0.95):,.0f}, "
        f"max {max(prompt_chars):,}"
    )
    print(
        f"  evidence items: collected median {statistics.median(evidence):.0f} / p95 "
        f"{percentile(evidence, 0.95):.0f}; "
        f"in the prompt median {statistics.median(included):.0f} / p95 "
        f"{percentile(included, 0.95):.0f}; "
        f"left out median {statistics.median(omitted):.0f} / p95 {percentile(omitted, 0.95):.0f} "
        f"({sum(1 for n in omitted if n)} prompts left something out)"
    )

    print("\n== summary (one run; ratios from the same run) ==")
    header = (
        "| path | ours per incident: median / p95 / p99 ms | whole dump (reference) median ms "
        "| ours / reference (medians) |"
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for run in runs:
        med, p95, p99 = spread(run.total_ms)
        print(
            f"| {run.label} | **{med:.1f}** / {p95:.1f} / {p99:.1f} | {floor:,.0f} "
            f"| {med / floor:.3f} |"
        )
    print(f"| namespace floor (json.load only) | {ns_med:.1f} / {ns_p95:.1f} / {ns_p99:.1f} | | |")
    verdicts = []
    for run in runs:
        med, p95, p99 = spread(run.total_ms)
        verdicts.append(
            f"{run.label.split(' (')[0]}: median {'met' if med < 200 else 'NOT met'}, "
            f"p95 {'met' if p95 < 200 else 'NOT met'}, p99 {'met' if p99 < 200 else 'NOT met'}"
        )
    print("target < 200 ms per incident — " + "; ".join(verdicts))

    print("\n== sanity: against what the generator planted (not a claim) ==")
    leaks = 0
    per_cause: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    misses: Counter[tuple[str, str]] = Counter()
    examples: dict[tuple[str, str], str] = {}
    for incident, investigation, prompt in warm2.results:
        top = investigation.findings[0].cause.value if investigation.findings else "UNKNOWN"
        target = (
            investigation.target.kind,
            investigation.target.namespace,
            investigation.target.name,
        )
        row = per_cause[incident.plant.cause]
        row[0] += 1
        row[1] += top == incident.plant.cause
        row[2] += target == incident.plant.target
        if top != incident.plant.cause:
            misses[(incident.plant.cause, top)] += 1
            examples.setdefault(
                (incident.plant.cause, top), f"{incident.alert.name} {incident.plant.target}"
            )
        text = prompt.system + prompt.text + "".join(e.text for e in investigation.evidence)
        leaked = [value for value in secrets if value in text]
        leaks += len(leaked)
        for value in leaked[:2]:
            where = next((e for e in investigation.evidence if value in e.text), None)
            print(
                f"  LEAK {value!r} in "
                f"{where.source + ' ' + where.text[:300] if where else 'the prompt'}"
            )
    total = sum(row[0] for row in per_cause.values())
    right = sum(row[1] for row in per_cause.values())
    targets = sum(row[2] for row in per_cause.values())
    errors = len(warm2.errors)
    print(
        f"top-1 {right}/{total} ({right / max(total, 1):.0%}), target {targets}/{total}, errors "
        f"{errors}, "
        f"secret values in prompts or evidence: {leaks}"
    )
    for cause, (n, ok, tgt) in sorted(per_cause.items()):
        print(f"  {cause:<26} {ok:>3}/{n:<3} top-1   {tgt:>3}/{n:<3} target")
    for (cause, got), n in misses.most_common():
        print(f"  planted {cause}, top-1 {got}: {n} (e.g. {examples[(cause, got)]})")
    for incident, detail in warm2.errors[:5]:
        print(f"  error: {incident.alert.name} {incident.plant.target}: {detail}")
    print(f"load average {load_average()} at the end")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pods", type=int, default=2000)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--incidents", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reference-runs", type=int, default=5)
    parser.add_argument("--keep", metavar="DIR", help="write the dump under DIR and keep it")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="instead of timing, cProfile N incidents cold and warm",
    )
    main(parser.parse_args())

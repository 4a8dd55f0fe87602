"""Drift scan at scale: 10,000 desired/live pairs against DeepDiff and the YAML parse floor."""

# Run from the repository root with the project's venv:
#
#     .venv/bin/python bench/drift.py [--pairs 10000] [--seed 7] [--drift-rate 0.1] [--rounds 2]
#         [--deepdiff-budget 180] [--deepdiff-subset 2000] [--argocd-tracking annotation|none]
#         [--keep]
#
# 1. Generates --pairs object pairs with a seeded RNG (~50 % Deployments, 20 % Services, 20 %
#    ConfigMaps, 10 % StatefulSets). The desired object is what Git holds; the live one is the same
#    after a real API server stored it: server defaults (container, probe, pod, Deployment,
#    StatefulSet and Service defaults, ports' protocol, volumes' defaultMode, fieldRef apiVersion,
#    Service targetPort when Git leaves it out, replicas when Git leaves it out), quantities in
#    their canonical spelling (0.5 -> 500m, 1024Mi -> 1Gi), metadata (uid, resourceVersion,
#    generation, creationTimestamp, the Deployment revision, the last-applied annotation for
#    client-side appliers, Argo CD's tracking annotation), managedFields (the applier:
#    argocd-controller by server-side apply or by client-side apply, or kubectl-client-side-apply;
#    kube-controller-manager for the revision and for status; kubectl-rollout restart stamps on a
#    few), status, and list items (env, volumes, volumeMounts) in another order on ~30 %. A
#    --drift-rate share get one real change by hand, with the managedFields entry that change
#    leaves (image by kubectl-set; replicas, an env value, a hand-added env var or a ConfigMap key
#    by kubectl-edit; a Service's session affinity by kubectl-patch). Desired objects are written as
#    multi-document YAML files (100 documents each) into a temporary "git" directory; live ones as
#    `kind: List` files (100 items each, like `kubectl get -A -o yaml`) into a dump directory.
# 2. Times, alternating, --rounds times each, every pass in a fresh child process: the parse floor
#    (read every desired and dump file and yaml.load_all with PyYAML's CSafeLoader, nothing else,
#    in an interpreter that imported PyYAML only; once more with the cyclic GC off, for
#    reference) and our whole scan (load_desired + DumpState.load + scan, as
#    `awoooi drift scan --live-dump` runs it). A scan child's peak resident set (VmHWM) is the
#    scan's peak memory as the CLI would see it.
# 3. On the pairs one more (untimed) scan parsed: diff_object alone, diff_object + analyze, and
#    DeepDiff(desired, live, ignore_order=False), per kind. DeepDiff runs on a stratified subset
#    first and on all pairs only when that is estimated to take at most --deepdiff-budget seconds.
# 4. Sanity: resources our scan reports as drifted against the pairs a change was injected into;
#    every reported item that is not the injected change (on untouched pairs or on drifted ones),
#    grouped by kind, path pattern and reason, with examples: noise.
#
# Ratios are from the same run. Defaults take about 25-30 minutes on two busy cores: writing and
# parsing ~110 MB of YAML five times (PyYAML builds every node in Python) is most of it.

from __future__ import annotations

import argparse
import asyncio
import copy
import gc
import json
import os
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from awoooi.adapters.git import GitCli
from awoooi.drift.analyze import ScanContext, analyze
from awoooi.drift.diff import DiffOptions, diff_object, format_path
from awoooi.drift.report import DriftReport, ResourceId
from awoooi.drift.scan import scan
from awoooi.drift.settings import DriftSettings
from awoooi.drift.sources import DumpState, load_desired

KINDS = ("Deployment", "Service", "ConfigMap", "StatefulSet")
KIND_WEIGHTS = (50, 20, 20, 10)
API_VERSIONS = {
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "Service": "v1",
    "ConfigMap": "v1",
}
DOCS_PER_FILE = 100
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
TRACKING_ID = "argocd.argoproj.io/tracking-id"
# Appliers: (manager, operation, writes the last-applied annotation), with their shares.
APPLIERS = (
    ("argocd-controller", "Apply", False),  # Argo CD with ServerSideApply=true
    ("argocd-controller", "Update", True),  # Argo CD's default client-side apply
    ("kubectl-client-side-apply", "Update", True),  # `kubectl apply -f` from a pipeline
)
APPLIER_WEIGHTS = (40, 20, 40)
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

NAMESPACES = (
    "shop-prod", "shop-staging", "payments-prod", "payments-staging", "search-prod", "identity",
    "data-pipeline", "observability", "platform", "ml-serving", "edge", "internal-tools",
    "billing-prod", "billing-staging", "media", "notifications", "catalog-prod", "partners",
    "backoffice", "ingress",
)  # fmt: skip
APPS = (
    "checkout", "cart", "payments", "search", "catalog", "auth", "gateway", "orders", "inventory",
    "shipping", "billing", "notify", "profile", "reviews", "ledger", "pricing", "media", "session",
    "recommend", "audit", "export", "import", "reporting", "webhooks", "scheduler", "thumbnails",
)  # fmt: skip
ROLES = ("api", "worker", "web", "sync", "consumer", "grpc", "admin", "proxy")
TEAMS = ("shop", "payments", "platform", "data", "identity", "growth")
SIDECARS = ("envoy", "log-shipper", "metrics-exporter", "cloudsql-proxy", "vault-agent")
PLAIN_ENV = {
    "PORT": ("8080", "3000", "9000"),
    "TZ": ("UTC", "Europe/Berlin"),
    "REDIS_HOST": ("redis-master.cache.svc.cluster.local", "redis.cache:6379"),
    "OTEL_EXPORTER_OTLP_ENDPOINT": ("http://otel-collector.observability:4317",),
    "JAVA_OPTS": ("-XX:MaxRAMPercentage=75 -XX:+UseG1GC", "-Xms256m -Xmx512m"),
    "HTTP_TIMEOUT": ("30s", "5s", "10s"),
    "CACHE_TTL": ("300", "60", "3600"),
    "QUEUE_NAME": ("orders", "events", "emails", "exports"),
    "REGION": ("eu-west-1", "us-east-1", "ap-southeast-2"),
    "MAX_CONNECTIONS": ("50", "100", "200"),
    "FEATURE_FLAGS": ("new-cart,fast-search", "beta-ui", ""),
    "DATABASE_HOST": ("postgres-primary.db.svc", "10.20.0.15"),
    "UPSTREAM_URL": ("http://catalog-api.catalog-prod:8080", "https://partners.example.com/v2"),
    "WORKERS": ("4", "8", "16"),
    "METRICS_ENABLED": ("true", "false"),
    "NODE_ENV": ("production", "staging"),
    "GRPC_PORT": ("9090", "50051"),
}
SECRET_ENV = ("DB_PASSWORD", "API_KEY", "SENTRY_DSN", "JWT_SECRET", "STRIPE_KEY")
FIELD_ENV = {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace",
             "NODE_NAME": "spec.nodeName", "POD_IP": "status.podIP"}  # fmt: skip
# (Git spelling, what the API server stores)
CPU = ((0.5, "500m"), ("500m", "500m"), (1, "1"), ("1000m", "1"), ("250m", "250m"),
       (0.25, "250m"), ("100m", "100m"), (0.1, "100m"), (2, "2"), ("1.5", "1500m"),
       ("50m", "50m"))  # fmt: skip
MEMORY = (("256Mi", "256Mi"), ("1Gi", "1Gi"), ("1024Mi", "1Gi"), ("512Mi", "512Mi"),
          ("0.5Gi", "512Mi"), ("2Gi", "2Gi"), ("128Mi", "128Mi"), ("512M", "512M"),
          ("1G", "1G"), ("64Mi", "64Mi"), ("2048Mi", "2Gi"))  # fmt: skip
STORAGE = (("10Gi", "10Gi"), ("10240Mi", "10Gi"), ("50Gi", "50Gi"), ("1Ti", "1Ti"),
           ("100Gi", "100Gi"))  # fmt: skip


# --- YAML out -----------------------------------------------------------------------------------


class _Dumper(yaml.CSafeDumper):  # type: ignore[misc,name-defined]
    """No anchors (generated objects share dicts) and multi-line strings as `|` blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def dump_all(documents: Iterable[Any], *, sort_keys: bool) -> str:
    return yaml.dump_all(
        documents, Dumper=_Dumper, sort_keys=sort_keys, default_flow_style=False, width=10_000
    )


# --- managedFields ------------------------------------------------------------------------------

_ATOMIC = {"selector", "fieldRef", "secretKeyRef", "configMapKeyRef", "resourceFieldRef",
           "volumeClaimTemplates", "nodeSelector", "affinity"}  # fmt: skip


def _list_key(field_name: str, item: Any) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        return None
    if field_name in {"containers", "initContainers", "env", "volumes", "imagePullSecrets"}:
        return {"name": item["name"]} if "name" in item else None
    if field_name == "volumeMounts":
        return {"mountPath": item["mountPath"]}
    if field_name == "ports":
        port = "containerPort" if "containerPort" in item else "port"
        return {port: item[port], "protocol": item.get("protocol", "TCP")}
    if field_name == "conditions":
        return {"type": item["type"]}
    return None


def fields_v1(value: Any, name: str = "", depth: int = 0) -> dict[str, Any]:
    """The FieldsV1 set a manager owns when it set `value` (as the API server records it)."""
    if isinstance(value, dict):
        if name in _ATOMIC or not value:
            return {}
        out: dict[str, Any] = {".": {}} if depth >= 2 else {}
        for key, item in value.items():
            if item is None:
                continue
            out[f"f:{key}"] = fields_v1(item, key, depth + 1)
        return out
    if isinstance(value, list):
        keys = [_list_key(name, item) for item in value]
        if not value or not all(keys):
            return {}
        out = {".": {}}
        for item, key in zip(value, keys, strict=True):
            sub = fields_v1(item, "", depth + 1)
            sub["."] = {}
            out["k:" + json.dumps(key, sort_keys=True, separators=(",", ":"))] = sub
        return out
    return {}


def fields_at(segments: list[str], leaf: dict[str, Any] | None = None) -> dict[str, Any]:
    """A FieldsV1 set owning one path (segments like "f:spec", 'k:{"name":"web"}')."""
    out: dict[str, Any] = leaf if leaf is not None else {}
    for segment in reversed(segments):
        out = {segment: out}
    return out


def drop_field(fields: dict[str, Any], segments: list[str]) -> None:
    """Another manager took the field over: the applier no longer owns it."""
    node = fields
    for segment in segments[:-1]:
        node = node.get(segment)  # type: ignore[assignment]
        if node is None:
            return
    node.pop(segments[-1], None)


def entry(
    manager: str,
    operation: str,
    api_version: str,
    fields: dict[str, Any],
    when: datetime,
    subresource: str | None = None,
) -> dict[str, Any]:
    found = {
        "apiVersion": api_version,
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
        "manager": manager,
        "operation": operation,
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if subresource:
        found["subresource"] = subresource
    return found


def key_segment(key: dict[str, Any]) -> str:
    return "k:" + json.dumps(key, sort_keys=True, separators=(",", ":"))


# --- desired objects ----------------------------------------------------------------------------


@dataclass
class Pair:
    """One generated object: its Git and live forms and what was changed by hand."""

    kind: str
    namespace: str
    name: str
    applier: str
    desired: dict[str, Any]
    live: dict[str, Any] = field(default_factory=dict)
    drift: str = ""  # "" for untouched pairs
    drift_paths: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (API_VERSIONS[self.kind].rpartition("/")[0], self.kind, self.namespace, self.name)


def _labels(rng: random.Random, name: str, team: str, version: str) -> dict[str, str]:
    labels = {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/part-of": team,
        "app.kubernetes.io/version": version,
    }
    if rng.random() < 0.5:
        labels["app.kubernetes.io/managed-by"] = "awoooi"
    if rng.random() < 0.4:
        labels["team"] = team
    return labels


def _metadata(rng: random.Random, name: str, namespace: str, labels: dict[str, str]) -> dict:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(labels)}
    if rng.random() < 0.3:
        metadata["annotations"] = {
            "owner": f"{rng.choice(TEAMS)}@example.com",
            "runbook": f"https://runbooks.example.com/{name}",
        }
    return metadata


def _env(rng: random.Random, main: bool) -> list[dict[str, Any]]:
    count = rng.randint(3, 15) if main else rng.randint(1, 4)
    env: list[dict[str, Any]] = [{"name": "LOG_LEVEL", "value": rng.choice(("info", "warn"))}]
    names = [n for n in PLAIN_ENV if rng.random() < 0.6]
    rng.shuffle(names)
    for env_name in names[: max(0, count - 1)]:
        env.append({"name": env_name, "value": rng.choice(PLAIN_ENV[env_name])})
    if main:
        for env_name in SECRET_ENV:
            if rng.random() < 0.25:
                ref = {"name": "app-secrets", "key": env_name.lower().replace("_", "-")}
                env.append({"name": env_name, "valueFrom": {"secretKeyRef": ref}})
        for env_name, path in FIELD_ENV.items():
            if rng.random() < 0.2:
                env.append({"name": env_name, "valueFrom": {"fieldRef": {"fieldPath": path}}})
        if rng.random() < 0.15:
            ref = {"resource": "limits.cpu"}
            env.append({"name": "GOMAXPROCS", "valueFrom": {"resourceFieldRef": ref}})
    return env


def _resources(rng: random.Random, small: bool) -> dict[str, Any]:
    cpu = rng.choice(CPU[-3:] if small else CPU)
    memory = rng.choice(MEMORY[-4:] if small else MEMORY)
    resources: dict[str, Any] = {"requests": {"cpu": cpu[0], "memory": memory[0]}}
    limits: dict[str, Any] = {"memory": rng.choice(MEMORY)[0]}
    if rng.random() < 0.4:
        limits["cpu"] = rng.choice(CPU)[0]
    resources["limits"] = limits
    return resources


def _container(rng: random.Random, name: str, team: str, volumes: list[str], main: bool) -> dict:
    tag = f"{rng.randint(1, 4)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
    registry = rng.choice(("ghcr.io/example", "registry.example.com", "europe-docker.pkg.dev/p"))
    container: dict[str, Any] = {
        "name": name,
        "image": f"{registry}/{team}/{name}:{tag}" if rng.random() < 0.97 else f"{name}:latest",
    }
    if main and rng.random() < 0.4:
        container["args"] = [
            "--config=/etc/app/config.yaml",
            f"--log-format={rng.choice(('json', 'text'))}",
        ]
    port = rng.choice((8080, 3000, 9000, 8000))
    ports: list[dict[str, Any]] = [{"name": "http", "containerPort": port}]
    if main and rng.random() < 0.4:
        ports.append({"name": "metrics", "containerPort": 9090})
    if main or rng.random() < 0.5:
        container["ports"] = ports
    container["env"] = _env(rng, main)
    container["resources"] = _resources(rng, small=not main)
    if main:
        container["readinessProbe"] = {
            "httpGet": {"path": "/ready", "port": rng.choice(("http", port))},
            "initialDelaySeconds": rng.choice((0, 5, 10)),
        }
        if rng.random() < 0.3:
            container["readinessProbe"]["periodSeconds"] = 5
        if rng.random() < 0.7:
            container["livenessProbe"] = {
                "httpGet": {"path": "/healthz", "port": port},
                "initialDelaySeconds": 15,
                "periodSeconds": 20,
            }
        else:
            container["livenessProbe"] = {"tcpSocket": {"port": port}, "failureThreshold": 5}
    mounts = [v for v in volumes if main or rng.random() < 0.5]
    if mounts:
        container["volumeMounts"] = [
            {
                "name": v,
                "mountPath": f"/etc/{name}/{v}" if v != "tmp" else "/tmp",
                **({"readOnly": True} if v in {"config", "tls"} else {}),
            }
            for v in mounts
        ]
    if rng.random() < 0.4:
        container["securityContext"] = {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        }
    return container


def _pod_template(rng: random.Random, name: str, team: str, labels: dict[str, str]) -> dict:
    volume_names = [v for v in ("config", "tls", "cache", "tmp") if rng.random() < 0.5]
    volumes: list[dict[str, Any]] = []
    for volume in volume_names:
        if volume == "config":
            volumes.append({"name": volume, "configMap": {"name": f"{name}-config"}})
        elif volume == "tls":
            volumes.append({"name": volume, "secret": {"secretName": f"{name}-tls"}})
        else:
            volumes.append({"name": volume, "emptyDir": {}})
    containers = [_container(rng, name, team, volume_names, main=True)]
    for sidecar in rng.sample(SIDECARS, rng.choice((0, 0, 1, 1, 2))):
        containers.append(_container(rng, sidecar, team, volume_names, main=False))
    spec: dict[str, Any] = {"containers": containers}
    if volumes:
        spec["volumes"] = volumes
    if rng.random() < 0.6:
        spec["serviceAccountName"] = name
    if rng.random() < 0.4:
        spec["securityContext"] = {"runAsNonRoot": True, "fsGroup": 2000}
    if rng.random() < 0.2:
        spec["imagePullSecrets"] = [{"name": "regcred"}]
    if rng.random() < 0.1:
        spec["nodeSelector"] = {"node.kubernetes.io/pool": rng.choice(("general", "highmem"))}
    if rng.random() < 0.2:
        spec["affinity"] = {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": name}},
                        },
                    }
                ]
            }
        }
    if rng.random() < 0.1:
        spec["terminationGracePeriodSeconds"] = 60
    template: dict[str, Any] = {"metadata": {"labels": dict(labels)}, "spec": spec}
    if rng.random() < 0.3:
        template["metadata"]["annotations"] = {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": "9090",
        }
    return template


def desired_workload(rng: random.Random, kind: str, namespace: str, name: str, team: str) -> dict:
    version = f"{rng.randint(1, 4)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
    labels = _labels(rng, name, team, version)
    selector = {"app.kubernetes.io/name": name}
    pod_labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/version": version}
    spec: dict[str, Any] = {}
    if kind == "StatefulSet" or rng.random() < 0.9:
        spec["replicas"] = rng.randint(1, 6) if kind == "Deployment" else rng.randint(1, 3)
    if kind == "StatefulSet":
        spec["serviceName"] = f"{name}-headless"
    spec["selector"] = {"matchLabels": selector}
    if kind == "Deployment" and rng.random() < 0.3:
        spec["strategy"] = {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
        }
    spec["template"] = _pod_template(rng, name, team, pod_labels)
    if kind == "StatefulSet":
        claim: dict[str, Any] = {
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": rng.choice(STORAGE)[0]}},
            },
        }
        if rng.random() < 0.5:
            claim["spec"]["storageClassName"] = rng.choice(("standard", "premium-rwo", "gp3"))
        spec["volumeClaimTemplates"] = [claim]
        spec["template"]["spec"]["containers"][0].setdefault("volumeMounts", []).append(
            {"name": "data", "mountPath": "/var/lib/data"}
        )
    return {
        "apiVersion": API_VERSIONS[kind],
        "kind": kind,
        "metadata": _metadata(rng, name, namespace, labels),
        "spec": spec,
    }


def desired_service(rng: random.Random, namespace: str, name: str, team: str) -> dict:
    labels = _labels(rng, name, team, "")
    labels.pop("app.kubernetes.io/version")
    ports: list[dict[str, Any]] = []
    for port_name, port, target in (("http", 80, "http"), ("grpc", 9090, 9090)):
        if port_name == "grpc" and rng.random() < 0.6:
            continue
        item: dict[str, Any] = {"name": port_name, "port": port}
        roll = rng.random()
        if roll < 0.6:
            item["targetPort"] = target
        elif roll < 0.8:
            item["targetPort"] = 8080 if port_name == "http" else port
        # else: no targetPort in Git (the server sets it to the port)
        ports.append(item)
    spec: dict[str, Any] = {"selector": {"app.kubernetes.io/name": name}, "ports": ports}
    if rng.random() < 0.3:
        spec["type"] = "ClusterIP"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(rng, name, namespace, labels),
        "spec": spec,
    }


_CONFIG_FILES = {
    "app.yaml": lambda rng: (
        "\n".join(
            [
                "server:",
                f"  port: {rng.choice((8080, 3000))}",
                f"  readTimeout: {rng.choice((5, 10, 30))}s",
                "database:",
                f"  pool: {rng.randint(5, 50)}",
                f"  host: postgres-{rng.randint(1, 9)}.db.svc",
                "features:",
                *[f"  flag{i}: {rng.choice(('true', 'false'))}" for i in range(rng.randint(2, 25))],
            ]
        )
        + "\n"
    ),
    "application.properties": lambda rng: (
        "\n".join(f"app.setting{i}={rng.randint(0, 10_000)}" for i in range(rng.randint(3, 30)))
        + "\n"
    ),
    "nginx.conf": lambda rng: (
        "server {\n"
        f"  listen {rng.choice((80, 8080))};\n"
        "  location / {\n"
        f"    proxy_pass http://127.0.0.1:{rng.choice((3000, 9000))};\n"
        f"    proxy_read_timeout {rng.randint(5, 120)}s;\n"
        "  }\n"
        "}\n"
    ),
}


def desired_configmap(rng: random.Random, namespace: str, name: str, team: str) -> dict:
    labels = _labels(rng, name, team, "")
    labels.pop("app.kubernetes.io/version")
    data: dict[str, str] = {"LOG_LEVEL": rng.choice(("info", "warn"))}
    for key in rng.sample(sorted(PLAIN_ENV), rng.randint(1, 6)):
        data[key] = rng.choice(PLAIN_ENV[key])
    for file_name in rng.sample(sorted(_CONFIG_FILES), rng.randint(0, 2)):
        data[file_name] = _CONFIG_FILES[file_name](rng)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(rng, f"{name}-config", namespace, labels),
        "data": data,
    }


# --- what the API server adds -------------------------------------------------------------------


def _probe_defaults(probe: dict[str, Any]) -> None:
    for key, value in (
        ("timeoutSeconds", 1),
        ("periodSeconds", 10),
        ("successThreshold", 1),
        ("failureThreshold", 3),
    ):
        probe.setdefault(key, value)
    if "httpGet" in probe:
        probe["httpGet"].setdefault("scheme", "HTTP")


def _canonical_quantities(resources: dict[str, Any]) -> None:
    spelled = {git: live for git, live in CPU + MEMORY + STORAGE}
    for group in ("requests", "limits"):
        for name, value in (resources.get(group) or {}).items():
            resources[group][name] = spelled.get(value, str(value))


def _pod_defaults(spec: dict[str, Any]) -> None:
    for container in spec["containers"]:
        image = container["image"]
        container.setdefault(
            "imagePullPolicy", "Always" if image.endswith(":latest") else "IfNotPresent"
        )
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})
        _canonical_quantities(container["resources"])
        for port in container.get("ports") or []:
            port.setdefault("protocol", "TCP")
        for probe in ("readinessProbe", "livenessProbe"):
            if probe in container:
                _probe_defaults(container[probe])
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            if "fieldRef" in source:
                source["fieldRef"].setdefault("apiVersion", "v1")
            if "resourceFieldRef" in source:
                source["resourceFieldRef"].setdefault("divisor", "0")
    for volume in spec.get("volumes") or []:
        for source in ("configMap", "secret"):
            if source in volume:
                volume[source].setdefault("defaultMode", 420)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("terminationGracePeriodSeconds", 30)
    if "serviceAccountName" in spec:
        spec["serviceAccount"] = spec["serviceAccountName"]  # the deprecated alias, always set


def server_defaults(obj: dict[str, Any], rng: random.Random) -> None:
    """What the API server's defaulting and conversion add to a stored object."""
    kind, spec = obj["kind"], obj.get("spec")
    if kind in {"Deployment", "StatefulSet"}:
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec["template"]["metadata"]["creationTimestamp"] = None
        _pod_defaults(spec["template"]["spec"])
    if kind == "Deployment":
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
        strategy.setdefault("rollingUpdate", {"maxSurge": "25%", "maxUnavailable": "25%"})
    elif kind == "StatefulSet":
        spec.setdefault("podManagementPolicy", "OrderedReady")
        spec.setdefault(
            "updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
        )
        spec.setdefault(
            "persistentVolumeClaimRetentionPolicy",
            {"whenDeleted": "Retain", "whenScaled": "Retain"},
        )
        for claim in spec["volumeClaimTemplates"]:
            claim["apiVersion"] = "v1"
            claim["kind"] = "PersistentVolumeClaim"
            claim["metadata"]["creationTimestamp"] = None
            claim["spec"].setdefault("volumeMode", "Filesystem")
            _canonical_quantities(claim["spec"]["resources"])
            claim["status"] = {"phase": "Pending"}
    elif kind == "Service":
        address = f"10.96.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        spec["clusterIP"] = address
        spec["clusterIPs"] = [address]
        spec["ipFamilies"] = ["IPv4"]
        spec["ipFamilyPolicy"] = "SingleStack"
        spec["internalTrafficPolicy"] = "Cluster"
        spec["sessionAffinity"] = "None"
        spec.setdefault("type", "ClusterIP")
        for port in spec["ports"]:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port["port"])


def _status(obj: dict[str, Any], rng: random.Random, created: datetime) -> dict[str, Any] | None:
    kind = obj["kind"]
    if kind == "Service":
        return {"loadBalancer": {}}
    if kind == "ConfigMap":
        return None
    replicas = obj["spec"]["replicas"]
    generation = obj["metadata"]["generation"]
    stamp = (created + timedelta(minutes=rng.randint(1, 600))).strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind == "StatefulSet":
        return {
            "availableReplicas": replicas,
            "collisionCount": 0,
            "currentReplicas": replicas,
            "currentRevision": f"{obj['metadata']['name']}-{rng.getrandbits(32):08x}"[:63],
            "observedGeneration": generation,
            "readyReplicas": replicas,
            "replicas": replicas,
            "updateRevision": f"{obj['metadata']['name']}-{rng.getrandbits(32):08x}"[:63],
            "updatedReplicas": replicas,
        }
    name = obj["metadata"]["name"]
    return {
        "availableReplicas": replicas,
        "conditions": [
            {
                "lastTransitionTime": stamp,
                "lastUpdateTime": stamp,
                "message": "Deployment has minimum availability.",
                "reason": "MinimumReplicasAvailable",
                "status": "True",
                "type": "Available",
            },
            {
                "lastTransitionTime": stamp,
                "lastUpdateTime": stamp,
                "message": f'ReplicaSet "{name}-{rng.getrandbits(40):010x}" has successfully '
                "progressed.",
                "reason": "NewReplicaSetAvailable",
                "status": "True",
                "type": "Progressing",
            },
        ],
        "observedGeneration": generation,
        "readyReplicas": replicas,
        "replicas": replicas,
        "updatedReplicas": replicas,
    }


# --- the live object ----------------------------------------------------------------------------


def _containers_path(name: str) -> list[str]:
    return ["f:spec", "f:template", "f:spec", "f:containers", key_segment({"name": name})]


def make_live(pair: Pair, rng: random.Random, drift: bool, tracking: str) -> None:
    """The live object: defaults, metadata, managedFields, status and maybe a hand change."""
    desired = pair.desired
    manager, operation, last_applied = APPLIERS[
        rng.choices(range(len(APPLIERS)), APPLIER_WEIGHTS)[0]
    ]
    pair.applier = f"{manager} ({'server-side' if operation == 'Apply' else 'client-side'})"
    applied = copy.deepcopy(desired)
    if manager == "argocd-controller" and tracking == "annotation":
        # Argo CD 3's default tracking marker, added to what it applies.
        applied["metadata"].setdefault("annotations", {})[TRACKING_ID] = (
            f"{pair.namespace}-{pair.name.split('-')[0]}:"
            f"{API_VERSIONS[pair.kind].rpartition('/')[0]}/{pair.kind}:{pair.namespace}/{pair.name}"
        )
    live = copy.deepcopy(applied)
    if last_applied:
        live["metadata"].setdefault("annotations", {})[LAST_APPLIED] = (
            json.dumps(applied, sort_keys=True, separators=(",", ":")) + "\n"
        )
    server_defaults(live, rng)
    created = NOW - timedelta(days=rng.uniform(1, 400))
    generation = rng.randint(1, 12)
    metadata = live["metadata"]
    metadata["uid"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    metadata["resourceVersion"] = str(rng.randint(10_000, 90_000_000))
    metadata["creationTimestamp"] = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    if pair.kind in {"Deployment", "StatefulSet"}:
        metadata["generation"] = generation
    applied_at = created + timedelta(days=rng.uniform(0, 1))
    # The applier's field set: server-side apply owns what it sent; client-side (Update) owns
    # everything the create/update left in the object, defaults included.
    if operation == "Apply":
        applier_fields = fields_v1(
            {k: v for k, v in applied.items() if k not in {"apiVersion", "kind"}}
        )
    else:
        owned = {k: v for k, v in live.items() if k not in {"apiVersion", "kind", "status"}}
        owned_meta = {k: v for k, v in live["metadata"].items() if k in {"labels", "annotations"}}
        owned["metadata"] = owned_meta
        if pair.kind == "Service":
            owned["spec"] = {
                k: v
                for k, v in live["spec"].items()
                if k not in {"clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"}
            }
        applier_fields = fields_v1(owned)
    applier_fields.get("f:metadata", {}).pop("f:name", None)
    applier_fields.get("f:metadata", {}).pop("f:namespace", None)
    entries = [entry(manager, operation, API_VERSIONS[pair.kind], applier_fields, applied_at)]
    later = applied_at + timedelta(minutes=rng.randint(1, 60 * 24 * 30))
    if pair.kind == "Deployment":
        metadata.setdefault("annotations", {})["deployment.kubernetes.io/revision"] = str(
            rng.randint(1, 40)
        )
        revision = ["f:metadata", "f:annotations", "f:deployment.kubernetes.io/revision"]
        entries.append(
            entry("kube-controller-manager", "Update", "apps/v1", fields_at(revision), later)
        )
    if pair.kind in {"Deployment", "StatefulSet"} and rng.random() < 0.05:
        stamp = later.strftime("%Y-%m-%dT%H:%M:%S+00:00")
        template_meta = live["spec"]["template"]["metadata"]
        template_meta.setdefault("annotations", {})["kubectl.kubernetes.io/restartedAt"] = stamp
        restart = [
            "f:spec",
            "f:template",
            "f:metadata",
            "f:annotations",
            "f:kubectl.kubernetes.io/restartedAt",
        ]
        entries.append(entry("kubectl-rollout", "Update", "apps/v1", fields_at(restart), later))
    if drift:
        entries.append(inject(pair, live, applier_fields, rng, later))
        if "generation" in metadata:
            metadata["generation"] += 1
    status = _status(live, rng, created)
    if status is not None:
        live["status"] = status
        if pair.kind != "Service":
            entries.append(
                entry(
                    "kube-controller-manager",
                    "Update",
                    API_VERSIONS[pair.kind],
                    {"f:status": fields_v1(status, "status", 1)},
                    later,
                    "status",
                )
            )
    metadata["managedFields"] = entries
    if rng.random() < 0.3 and pair.kind in {"Deployment", "StatefulSet"}:
        pod = live["spec"]["template"]["spec"]
        for container in pod["containers"]:
            rng.shuffle(container.get("env") or [])
            rng.shuffle(container.get("volumeMounts") or [])
        rng.shuffle(pod.get("volumes") or [])
    pair.live = live


def inject(
    pair: Pair, live: dict[str, Any], applier: dict[str, Any], rng: random.Random, when: datetime
) -> dict[str, Any]:
    """One hand change to the live object; returns its managedFields entry."""
    api_version = API_VERSIONS[pair.kind]
    if pair.kind == "ConfigMap":
        key = rng.choice(sorted(live["data"]))
        value = live["data"][key]
        live["data"][key] = value + "extra.setting=1\n" if "\n" in value else value + "-edited"
        pair.drift, pair.drift_paths = "ConfigMap key", (format_path(("data", key)),)
        drop_field(applier, ["f:data", f"f:{key}"])
        return entry("kubectl-edit", "Update", api_version, fields_at(["f:data", f"f:{key}"]), when)
    if pair.kind == "Service":
        live["spec"]["sessionAffinity"] = "ClientIP"
        live["spec"]["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}
        pair.drift = "Service sessionAffinity"
        pair.drift_paths = ("spec.sessionAffinity", "spec.sessionAffinityConfig")
        drop_field(applier, ["f:spec", "f:sessionAffinity"])
        fields = {
            "f:spec": {
                "f:sessionAffinity": {},
                "f:sessionAffinityConfig": {
                    ".": {},
                    "f:clientIP": {".": {}, "f:timeoutSeconds": {}},
                },
            }
        }
        return entry("kubectl-patch", "Update", api_version, fields, when)
    choice = rng.choice(("image", "replicas", "env value", "env added"))
    if choice == "replicas" and "replicas" not in pair.desired["spec"]:
        choice = "image"
    main = live["spec"]["template"]["spec"]["containers"][0]
    container_path = ("spec", "template", "spec", "containers", (("name", main["name"]),))
    pair.drift = f"{pair.kind} {choice}"
    if choice == "image":
        repository, _, tag = main["image"].rpartition(":")
        main["image"] = f"{repository}:{tag}-hotfix"
        pair.drift_paths = (format_path((*container_path, "image")),)
        segments = [*_containers_path(main["name"]), "f:image"]
        drop_field(applier, segments)
        return entry("kubectl-set", "Update", api_version, fields_at(segments), when)
    if choice == "replicas":
        live["spec"]["replicas"] += rng.choice((1, 2, 5))
        pair.drift_paths = ("spec.replicas",)
        drop_field(applier, ["f:spec", "f:replicas"])
        return entry(
            "kubectl-edit", "Update", api_version, fields_at(["f:spec", "f:replicas"]), when
        )
    env_path = (*container_path, "env")
    if choice == "env value":
        item = next(e for e in main["env"] if e["name"] == "LOG_LEVEL")
        item["value"] = "debug"
        pair.drift_paths = (format_path((*env_path, (("name", "LOG_LEVEL"),), "value")),)
        segments = [
            *_containers_path(main["name"]),
            "f:env",
            key_segment({"name": "LOG_LEVEL"}),
            "f:value",
        ]
        drop_field(applier, segments)
        return entry("kubectl-edit", "Update", api_version, fields_at(segments), when)
    main["env"].append({"name": "DEBUG_PPROF", "value": "true"})
    pair.drift_paths = (format_path((*env_path, (("name", "DEBUG_PPROF"),))),)
    segments = [*_containers_path(main["name"]), "f:env", key_segment({"name": "DEBUG_PPROF"})]
    leaf = {".": {}, "f:name": {}, "f:value": {}}
    return entry("kubectl-edit", "Update", api_version, fields_at(segments, leaf), when)


def generate(count: int, seed: int, drift_rate: float, tracking: str) -> list[Pair]:
    rng = random.Random(seed)
    taken: set[tuple[str, str, str]] = set()
    pairs: list[Pair] = []
    for _ in range(count):
        kind = rng.choices(KINDS, KIND_WEIGHTS)[0]
        namespace = rng.choice(NAMESPACES)
        base = f"{rng.choice(APPS)}-{rng.choice(ROLES)}"
        name, suffix = base, 1
        while (kind, namespace, name if kind != "ConfigMap" else f"{name}-config") in taken:
            suffix += 1
            name = f"{base}-{suffix}"
        team = rng.choice(TEAMS)
        if kind == "Service":
            desired = desired_service(rng, namespace, name, team)
        elif kind == "ConfigMap":
            desired = desired_configmap(rng, namespace, name, team)
            name = desired["metadata"]["name"]
        else:
            desired = desired_workload(rng, kind, namespace, name, team)
        taken.add((kind, namespace, name))
        pair = Pair(kind, namespace, name, "", desired)
        make_live(pair, rng, rng.random() < drift_rate, tracking)
        pairs.append(pair)
    return pairs


def write(pairs: list[Pair], root: Path) -> tuple[Path, Path, int, int]:
    """Desired objects as multi-document files, live ones as `kind: List` dump files."""
    git, dump = root / "git", root / "dump"
    git.mkdir()
    dump.mkdir()
    git_bytes = dump_bytes = 0
    for index in range(0, len(pairs), DOCS_PER_FILE):
        chunk = pairs[index : index + DOCS_PER_FILE]
        text = dump_all([p.desired for p in chunk], sort_keys=False)
        (git / f"apps-{index // DOCS_PER_FILE:03d}.yaml").write_text(text)
        git_bytes += len(text)
    live = sorted(pairs, key=lambda p: (p.kind, p.namespace, p.name))
    for index in range(0, len(live), DOCS_PER_FILE):
        chunk = live[index : index + DOCS_PER_FILE]
        document = {
            "apiVersion": "v1",
            "items": [p.live for p in chunk],
            "kind": "List",
            "metadata": {"resourceVersion": ""},
        }
        text = dump_all([document], sort_keys=True)
        (dump / f"dump-{index // DOCS_PER_FILE:03d}.yaml").write_text(text)
        dump_bytes += len(text)
    return git, dump, git_bytes, dump_bytes


# --- measuring ----------------------------------------------------------------------------------


# The parse floor runs in a bare interpreter (PyYAML only): the cyclic GC's full collections walk
# every live container, so the scan's imports (SQLAlchemy, pydantic, ...) would slow the floor too.
FLOOR_CODE = """
import gc, json, sys, time
from pathlib import Path
import yaml
if sys.argv[1] == "nogc":
    gc.disable()
started = time.perf_counter()
documents = 0
for directory in sys.argv[2:]:
    for path in sorted(Path(directory).iterdir()):
        text = path.read_text(encoding="utf-8")
        for _document in yaml.load_all(text, Loader=yaml.CSafeLoader):
            documents += 1
seconds = time.perf_counter() - started
status = Path("/proc/self/status").read_text().splitlines()
peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
print(json.dumps({"seconds": seconds, "peak_mb": peak, "documents": documents}))
"""


@dataclass
class ScanRun:
    report: DriftReport
    desired: Any
    live: DumpState
    seconds: float
    phases: dict[str, float]


async def _scan(git: Path, dump: Path, settings: DriftSettings, cache: Path) -> ScanRun:
    started = time.perf_counter()
    desired = await load_desired(str(git), git=GitCli(), settings=settings, cache_dir=cache)
    loaded = time.perf_counter()
    live = await DumpState.load(dump, settings)
    dumped = time.perf_counter()
    report = await scan(desired, live, settings)
    finished = time.perf_counter()
    phases = {
        "load_desired": loaded - started,
        "DumpState.load": dumped - loaded,
        "scan (match, diff, analyze)": finished - dumped,
    }
    return ScanRun(report, desired, live, finished - started, phases)


def our_scan(git: Path, dump: Path, settings: DriftSettings, cache: Path) -> ScanRun:
    return asyncio.run(_scan(git, dump, settings, cache))


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


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
    import deepdiff

    return (
        f"{os.cpu_count()} CPUs ({model}), {memory:.0f} GiB, {platform.system()} "
        f"{platform.release()}\nPython {platform.python_version()}, PyYAML {yaml.__version__} "
        f"(libyaml {'yes' if yaml.__with_libyaml__ else 'NO'}), DeepDiff {deepdiff.__version__}"
    )


def load_average() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def peak_mb() -> float:
    """This process's peak resident set size. VmHWM belongs to the address space exec() made, so
    a child does not inherit its parent's peak (ru_maxrss does: Linux carries the high-water mark
    of the forked copy across execve); ru_maxrss where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


_SELECTOR = re.compile(r"\[([^\]=]+)=[^\]]*\]")


def pattern(path: str) -> str:
    """`containers[name=web].env[name=X]` -> `containers[name=*].env[name=*]`."""
    return _SELECTOR.sub(r"[\1=*]", path)


def short(value: Any, width: int = 60) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= width else text[: width - 3] + "..."


def child(side: str, git: Path, dump: Path) -> None:
    """`--child scan GIT DUMP`: one timed scan in a fresh process; prints JSON."""
    settings = DriftSettings()
    with tempfile.TemporaryDirectory() as cache:
        run = our_scan(git, dump, settings, Path(cache))
    problems = run.desired.problems + run.live.problems + run.report.problems
    print(
        json.dumps(
            {
                "seconds": run.seconds,
                "peak_mb": peak_mb(),
                "phases": run.phases,
                "drifted": len(run.report.drifted_resources),
                "problems": [str(problem) for problem in problems[:3]],
            }
        )
    )


def run_child(side: str, git: Path, dump: Path) -> dict[str, Any]:
    """One timed pass in a fresh process: "floor", "floor-nogc" (the floor with the cyclic GC
    off) or "scan"."""
    if side.startswith("floor"):
        mode = "nogc" if side == "floor-nogc" else "gc"
        command = [sys.executable, "-c", FLOOR_CODE, mode, str(git), str(dump)]
    else:
        command = [sys.executable, __file__, "--child", side, str(git), str(dump)]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"child {side} failed: {done.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def per_pair_times(
    groups: dict[str, list[tuple[Any, ...]]], call: Callable[[Any], Any], rounds: int
) -> dict[str, float]:
    """Seconds per pair for each kind (median of `rounds` passes)."""
    out = {}
    for kind, items in groups.items():
        passes = []
        for _ in range(rounds):
            started = time.perf_counter()
            for item in items:
                call(item)
            passes.append((time.perf_counter() - started) / len(items))
        out[kind] = statistics.median(passes)
    return out


def main(args: argparse.Namespace) -> None:
    from deepdiff import DeepDiff

    bench_started = time.perf_counter()
    print(machine())
    print(f"load average {load_average()} at the start")
    print(
        f"pairs {args.pairs:,}, seed {args.seed}, drift rate {args.drift_rate}, "
        f"rounds {args.rounds}, Argo CD tracking: {args.argocd_tracking}"
    )

    print("\n== data ==")
    elapsed, pairs = timed(
        lambda: generate(args.pairs, args.seed, args.drift_rate, args.argocd_tracking)
    )
    kinds = Counter(p.kind for p in pairs)
    injected = {p.key: p for p in pairs if p.drift}
    appliers = Counter(p.applier for p in pairs)
    print(f"generated in {elapsed:.1f} s: " + ", ".join(f"{kinds[k]:,} {k}" for k in KINDS))
    print("appliers: " + ", ".join(f"{n:,} {name}" for name, n in appliers.most_common()))
    print(
        f"injected changes: {len(injected):,} ("
        + ", ".join(
            f"{n} {d}" for d, n in sorted(Counter(p.drift for p in injected.values()).items())
        )
        + ")"
    )
    truth = {p.key: p for p in pairs}
    root = Path(tempfile.mkdtemp(prefix="awoooi-drift-bench-"))
    try:
        elapsed, (git, dump, git_bytes, dump_bytes) = timed(lambda: write(pairs, root))
        print(
            f"written in {elapsed:.1f} s to {root}: git {len(list(git.iterdir()))} files, "
            f"{git_bytes / 2**20:.1f} MiB; dump {len(list(dump.iterdir()))} files, "
            f"{dump_bytes / 2**20:.1f} MiB"
        )
        for p in pairs:
            p.desired = p.live = {}  # the scan works from the files
        gc.collect()
        run_benchmark(args, git, dump, truth, injected, kinds, DeepDiff)
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(
        f"\ntotal {time.perf_counter() - bench_started:.0f} s; "
        f"load average {load_average()} at the end"
    )


def run_benchmark(
    args: argparse.Namespace,
    git: Path,
    dump: Path,
    truth: dict[tuple[str, str, str, str], Pair],
    injected: dict[tuple[str, str, str, str], Pair],
    kinds: Counter[str],
    deep_diff: Any,
) -> None:
    settings = DriftSettings()
    cache = git.parent / "cache"
    cache.mkdir()

    print("\n== parse floor vs our whole scan (alternating rounds, each in a fresh process) ==")
    floors: list[dict[str, Any]] = []
    scans: list[dict[str, Any]] = []
    for index in range(args.rounds):
        order = ("floor", "scan") if index % 2 == 0 else ("scan", "floor")
        for side in order:
            (floors if side == "floor" else scans).append(run_child(side, git, dump))
        print(
            f"  round {index + 1}: parse floor {floors[-1]['seconds']:.2f} s "
            f"(peak {floors[-1]['peak_mb']:.0f} MB), our scan {scans[-1]['seconds']:.2f} s "
            f"(peak {scans[-1]['peak_mb']:.0f} MB); load average {load_average()}"
        )
    no_gc = run_child("floor-nogc", git, dump)
    print(
        f"  (the parse floor with the cyclic GC off, once: {no_gc['seconds']:.2f} s; the GC's full "
        "collections during parsing are part of both sides above)"
    )
    floor_s = statistics.median(r["seconds"] for r in floors)
    scan_s = statistics.median(r["seconds"] for r in scans)
    scan_peak = max(r["peak_mb"] for r in scans)
    print(f"parse floor: {floors[0]['documents']:,} YAML documents, median {floor_s:.2f} s")
    print(f"our scan:    median {scan_s:.2f} s  (ratio scan/parse {scan_s / floor_s:.2f})")
    for phase in scans[0]["phases"]:
        value = statistics.median(r["phases"][phase] for r in scans)
        print(f"  {phase:<30}{value:>8.2f} s")
    if scans[0]["problems"]:
        print(f"  scan problems, first: {scans[0]['problems']}")
    print(
        f"peak RSS of a scan process: {scan_peak:.0f} MB (VmHWM: interpreter and imports "
        f"included; a parse-floor process peaks at {max(r['peak_mb'] for r in floors):.0f} MB)"
    )

    elapsed, run = timed(lambda: our_scan(git, dump, settings, cache))
    print(
        f"one more scan in this process (untimed: its report and parsed pairs are used below): "
        f"{elapsed:.2f} s"
    )
    # The pairs exactly as the scan parsed them.
    live_objects = run.live.objects
    manifests = [m for m in run.desired.manifests if m.resource.key() in live_objects]
    print(f"  matched pairs: {len(manifests):,} of {len(run.desired.manifests):,} desired")
    groups: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for manifest in manifests:
        groups[manifest.resource.kind].append(
            (manifest.resource, manifest.obj, live_objects[manifest.resource.key()])
        )
    groups = {kind: groups[kind] for kind in KINDS if groups.get(kind)}

    print("\n== diff_object / diff_object + analyze on the parsed pairs (in memory) ==")
    options = DiffOptions()
    context = ScanContext.from_objects(
        [m.obj for m in manifests] + [live_objects[m.resource.key()] for m in manifests]
    )
    for items in groups.values():  # warm up
        for _resource, desired, live in items[:50]:
            diff_object(desired, live, options)

    def diff_only(item: tuple[Any, ...]) -> Any:
        return diff_object(item[1], item[2], options)

    def diff_analyze(item: tuple[Any, ...]) -> Any:
        return analyze(item[0], diff_object(item[1], item[2], options), item[2], settings, context)

    ours = per_pair_times(groups, diff_only, args.rounds)
    ours_analyzed = per_pair_times(groups, diff_analyze, 1)
    total_pairs = sum(len(v) for v in groups.values())
    diff_total = sum(ours[k] * len(groups[k]) for k in groups)
    analyzed_total = sum(ours_analyzed[k] * len(groups[k]) for k in groups)
    print(
        f"diff_object over {total_pairs:,} pairs: {diff_total:.2f} s "
        f"({diff_total / total_pairs * 1000:.4f} ms/pair)"
    )
    print(
        f"diff_object + analyze: {analyzed_total:.2f} s "
        f"({analyzed_total / total_pairs * 1000:.4f} ms/pair)"
    )

    print("\n== DeepDiff on the same pairs ==")
    print(
        "options: DeepDiff(desired, live, ignore_order=False); everything else default "
        "(verbose_level=1, view='text', cache_size=0, no exclude_paths)"
    )
    rng = random.Random(args.seed + 1)
    subset = {
        kind: rng.sample(items, max(1, round(len(items) * args.deepdiff_subset / total_pairs)))
        if args.deepdiff_subset < total_pairs
        else list(items)
        for kind, items in groups.items()
    }
    for items in subset.values():  # warm up
        for _resource, desired, live in items[:10]:
            deep_diff(desired, live, ignore_order=False)

    def deep(item: tuple[Any, ...]) -> Any:
        return deep_diff(item[1], item[2], ignore_order=False)

    theirs = per_pair_times(subset, deep, 1)
    estimate = sum(theirs[k] * len(groups[k]) for k in groups)
    subset_count = sum(len(v) for v in subset.values())
    if subset_count < total_pairs and estimate <= args.deepdiff_budget:
        print(
            f"subset of {subset_count:,} took "
            f"{sum(theirs[k] * len(subset[k]) for k in subset):.1f} s;"
            f" all {total_pairs:,} pairs estimated at {estimate:.0f} s: timing all of them"
        )
        theirs = per_pair_times(groups, deep, 1)
        compared = groups
        ours_compared = ours
    elif subset_count < total_pairs:
        print(
            f"all {total_pairs:,} pairs estimated at {estimate:.0f} s (> {args.deepdiff_budget:g} s"
            f" budget): DeepDiff timed on a fixed stratified subset of {subset_count:,} pairs; "
            "figures are per pair, ours measured on the same subset"
        )
        compared = subset
        ours_compared = per_pair_times(subset, diff_only, args.rounds)
    else:
        compared = groups
        ours_compared = ours
    compared_count = sum(len(v) for v in compared.values())
    deep_total = sum(theirs[k] * len(compared[k]) for k in compared)
    ours_total = sum(ours_compared[k] * len(compared[k]) for k in compared)
    sample = next(iter(compared.values()))[0]
    found = deep_diff(sample[1], sample[2], ignore_order=False)
    print(
        f"DeepDiff over {compared_count:,} pairs: {deep_total:.1f} s; on the first "
        f"{sample[0].kind} it reports {sum(len(v) for v in found.values())} changes in "
        f"{len(found)} categories ({', '.join(sorted(found))})"
    )

    print("\n== per kind, ms per pair ==")
    same = "" if compared is groups else " (DeepDiff's subset)"
    print(f"  diff_object and + analyze over all pairs; the speed-up is on DeepDiff's pairs{same}")
    print(
        f"  {'kind':<13}{'pairs':>7}{'diff_object':>13}{'+ analyze':>11}{'ours, same':>12}"
        f"{'DeepDiff':>11}{'speed-up':>10}"
    )
    for kind in compared:
        print(
            f"  {kind:<13}{len(groups[kind]):>7,}{ours[kind] * 1000:>13.4f}"
            f"{ours_analyzed[kind] * 1000:>11.4f}{ours_compared[kind] * 1000:>12.4f}"
            f"{theirs[kind] * 1000:>11.3f}{theirs[kind] / ours_compared[kind]:>9.1f}x"
        )
    ours_ms = ours_total / compared_count * 1000
    deep_ms = deep_total / compared_count * 1000
    print(
        f"  {'all':<13}{total_pairs:>7,}{diff_total / total_pairs * 1000:>13.4f}"
        f"{analyzed_total / total_pairs * 1000:>11.4f}{ours_ms:>12.4f}{deep_ms:>11.3f}"
        f"{deep_ms / ours_ms:>9.1f}x"
    )

    print(
        f"\nthis benchmark process (generation, in-memory timing, DeepDiff): peak RSS "
        f"{peak_mb():.0f} MB"
    )

    sanity(run.report, truth, injected)

    print("\n== summary (one run; ratios from the same run) ==")
    header = (
        "| pairs | parse floor s | our scan s | scan/parse (target <= 1.5) | diff-only ms/pair "
        "| DeepDiff ms/pair | speed-up (target >= 10x) | peak MB (target < 500) |"
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    subset_note = "" if compared_count == total_pairs else f" ({compared_count:,}-pair subset)"
    print(
        f"| {total_pairs:,} | {floor_s:.2f} | {scan_s:.2f} | {scan_s / floor_s:.2f} "
        f"| {ours_ms:.4f} | {deep_ms:.3f}{subset_note} | {deep_ms / ours_ms:.0f}x "
        f"| {scan_peak:.0f} |"
    )
    deployment = "Deployment"
    if deployment in compared:
        print(
            f"Deployment pairs: ours {ours_compared[deployment] * 1000:.4f} ms, DeepDiff "
            f"{theirs[deployment] * 1000:.3f} ms "
            f"({theirs[deployment] / ours_compared[deployment]:.0f}x)"
        )


def sanity(
    report: DriftReport,
    truth: dict[tuple[str, str, str, str], Pair],
    injected: dict[tuple[str, str, str, str], Pair],
) -> None:
    print("\n== sanity: reported drift against the injected changes ==")
    drifted = report.drifted_resources
    caught = drifted & set(injected)
    untouched_reported = drifted - set(injected)
    missed = set(injected) - drifted
    summary = report.summary()
    print(
        f"scan summary: {summary}; items {len(report.items):,} "
        f"({len(report.reported):,} reported, {len(report.items) - len(report.reported):,} ignored)"
    )
    print(f"injected changes: {len(injected):,}; resources reported as drifted: {len(drifted):,}")
    print(f"  injected and reported: {len(caught):,}; injected, not reported: {len(missed):,}")
    print(
        f"  untouched pairs reported (false positives): {len(untouched_reported):,} "
        f"of {len(truth) - len(injected):,}"
    )
    for key in sorted(missed)[:5]:
        pair = truth[key]
        print(
            f"    MISSED {pair.kind}/{pair.namespace}/{pair.name}: {pair.drift} {pair.drift_paths}"
        )
    # Which injected paths were found, and every other reported item (noise).
    expected_found = 0
    noise: dict[tuple[str, str, str, str], list[tuple[ResourceId, Any]]] = defaultdict(list)
    noisy_resources: dict[str, set[tuple[str, str, str, str]]] = {
        "untouched": set(),
        "drifted": set(),
    }
    seen_expected: set[tuple[str, str, str, str]] = set()
    for item in report.reported:
        key = item.resource.key()
        pair = truth.get(key)
        if (
            pair is not None
            and pair.drift
            and any(
                item.path == p or item.path.startswith(p + ".") or item.path.startswith(p + "[")
                for p in pair.drift_paths
            )
        ):
            if key not in seen_expected:
                seen_expected.add(key)
                expected_found += 1
            continue
        where = "drifted" if pair is not None and pair.drift else "untouched"
        noisy_resources[where].add(key)
        applier = pair.applier if pair is not None else "?"
        group = (item.resource.kind, pattern(item.path), item.reason or item.change.value, applier)
        noise[group].append((item.resource, item))
    print(f"  injected changes found at the injected path: {expected_found:,} of {len(injected):,}")
    total_noise = sum(len(v) for v in noise.values())
    print(
        f"noise: {total_noise:,} reported items that are not an injected change, on "
        f"{len(noisy_resources['untouched']):,} untouched and "
        f"{len(noisy_resources['drifted']):,} drifted resources"
    )
    if not noise:
        return
    print(f"  {'items':>6}  kind / path pattern / reason / applier, then an example")
    for (kind, path, reason, applier), found in sorted(noise.items(), key=lambda kv: -len(kv[1])):
        resource_id, item = found[0]
        print(f"  {len(found):>6}  {kind} {path}\n          reason: {reason!r}; applier: {applier}")
        print(
            f"          e.g. {resource_id}: {item.change.value} {item.path} "
            f"desired={short(item.desired)} live={short(item.live)} level={item.level.value}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--drift-rate", type=float, default=0.1)
    parser.add_argument("--rounds", type=int, default=2, help="alternations of floor and scan")
    parser.add_argument(
        "--deepdiff-budget", type=float, default=180, help="seconds DeepDiff may take on all pairs"
    )
    parser.add_argument(
        "--deepdiff-subset", type=int, default=2000, help="stratified pairs DeepDiff runs first"
    )
    parser.add_argument(
        "--argocd-tracking",
        choices=("annotation", "none"),
        default="annotation",
        help="Argo CD's tracking-id annotation on what argocd-controller applies (its default)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--child", nargs=3, metavar=("SIDE", "GIT", "DUMP"), help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    if parsed.child:
        child(parsed.child[0], Path(parsed.child[1]), Path(parsed.child[2]))
    else:
        main(parsed)

"""Symptom hashes over real alerting rules, and the hash and mapping contracts themselves.

The rules are the 37 kube-state-metrics rules of awesome-prometheus-alerts
(/work/shared/bench/alerts/kubestate-exporter.yml, CC BY 4.0). Each rule is rendered the way
Prometheus renders it (a small Go-template renderer below) for several alerts that differ only
per instance: the pod's ReplicaSet hash and random suffix, the instance address, the pod uid,
the node (node-scoped alerts), the value. Alerts of one rule must share one symptoms hash;
the rules must all hash differently.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from awoooi.symptoms import SymptomPattern, SymptomSettings, pattern_from_alert

RULES_DIR = Path(__file__).resolve().parents[3] / "shared" / "bench" / "alerts"
RULES_FILE = RULES_DIR / "kubestate-exporter.yml"
RULE_COUNT = 37
VALUES = (1.0, 3.5, 0.97, 42.0, 1234.5)  # one per variant: $value differs per alert
HEX16 = re.compile(r"^[0-9a-f]{16}$")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


# --- A Go text/template renderer, just big enough for Prometheus alert annotations ----------

NO_VALUE = "<no value>"  # what Go prints for a missing map key ($labels.absent)
_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.DOTALL)
_SI_UP = ("k", "M", "G", "T", "P", "E", "Z", "Y")
_SI_DOWN = ("m", "u", "n", "p", "f", "a", "z", "y")


def go_float(value: float) -> str:
    """fmt.Sprint of a float64 (%v: shortest representation, exponent outside 1e-4..1e21)."""
    if math.isfinite(value) and value == int(value) and abs(value) < 1e21:
        return str(int(value))
    return repr(value)  # Python's shortest repr matches Go's here ("3.5", "0.97", "1e-05")


def go_g4(value: float) -> str:
    """Go's fmt.Sprintf("%.4g", v), which agrees with C's and Python's."""
    return f"{value:.4g}"


def humanize(value: float) -> str:
    """Prometheus's `humanize`: SI prefixes, four significant digits."""
    if value == 0 or not math.isfinite(value):
        return go_g4(value)
    prefix = ""
    if abs(value) >= 1:
        for candidate in _SI_UP:
            if abs(value) < 1000:
                break
            prefix = candidate
            value /= 1000
    else:
        for candidate in _SI_DOWN:
            if abs(value) >= 1:
                break
            prefix = candidate
            value *= 1000
    return go_g4(value) + prefix


def humanize_percentage(value: float) -> str:
    """Prometheus's `humanizePercentage`: a ratio as a percentage, four significant digits."""
    return go_g4(value * 100) + "%"


PIPE_FUNCTIONS: dict[str, Callable[[float], str]] = {
    "humanize": humanize,
    "humanizePercentage": humanize_percentage,
}


def go_map(labels: Mapping[str, str]) -> str:
    """How Go prints a map[string]string: map[k1:v1 k2:v2], keys sorted."""
    return "map[" + " ".join(f"{key}:{labels[key]}" for key in sorted(labels)) + "]"


def render(template: str, labels: Mapping[str, str], value: float) -> str:
    """Render `{{ $labels.X }}`, `{{ $labels }}`, `{{ $value }}` and `| humanize...` pipes.

    Anything else raises, so a rule file using more of Go's template language fails loudly
    instead of being rendered wrongly.
    """

    def action(match: re.Match[str]) -> str:
        head, *pipes = (part.strip() for part in match.group(1).split("|"))
        if head == "$value":
            if not pipes:
                return go_float(value)
            if len(pipes) == 1 and pipes[0] in PIPE_FUNCTIONS:
                return PIPE_FUNCTIONS[pipes[0]](value)
        elif not pipes and head == "$labels":
            return go_map(labels)
        elif not pipes and head.startswith("$labels."):
            return labels.get(head.removeprefix("$labels."), NO_VALUE)
        raise ValueError(f"unsupported template action {match.group(0)!r}")

    return _ACTION.sub(action, template)


def template_labels(template: str) -> set[str]:
    """The label names a template reads as `$labels.X`."""
    return set(re.findall(r"\$labels\.([A-Za-z_][A-Za-z0-9_]*)", template))


def test_renderer_matches_go_and_prometheus() -> None:
    assert render("{{ $value }}", {}, 1.0) == "1"
    assert render("{{$value}}", {}, 3.5) == "3.5"
    assert render("{{ $value }}", {}, 0.97) == "0.97"
    assert render("{{ $value }}", {}, 1e-05) == "1e-05"
    assert render("{{ $value | humanize }}", {}, 0.97) == "970m"
    assert render("{{ $value | humanize }}", {}, 1234.5) == "1.234k"
    assert render("{{ $value | humanize }}", {}, 42.0) == "42"
    assert render("{{ $value | humanizePercentage }}", {}, 0.97) == "97%"
    labels = {"pod": "web-1", "container": "web", "instance": "10.0.0.1:8080"}
    assert (
        render("{{ $labels }}", labels, 0) == "map[container:web instance:10.0.0.1:8080 pod:web-1]"
    )
    assert render("x {{ $labels.pod }} {{ $labels.node }}", labels, 0) == "x web-1 <no value>"
    with pytest.raises(ValueError, match="unsupported"):
        render("{{ range $labels }}", labels, 0)
    assert template_labels("{{ $labels.namespace }}/{{ $labels.pod }} {{ $labels }}") == {
        "namespace",
        "pod",
    }


# --- Realistic per-instance values ------------------------------------------------------------

# Kubernetes' rand.SafeEncodeString alphabet: pod-name suffixes and pod-template-hash use it.
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def safe_encode(text: str) -> str:
    return "".join(SAFE_ALPHABET[ord(char) % len(SAFE_ALPHABET)] for char in text)


@dataclass
class Variant:
    """The per-instance values of one alert (deterministic: a seeded generator)."""

    rng: random.Random
    value: float

    def ip(self) -> str:
        return (
            f"10.{self.rng.randrange(256)}.{self.rng.randrange(256)}.{self.rng.randrange(1, 255)}"
        )

    def instance(self, port: int = 8080) -> str:
        return f"{self.ip()}:{port}"

    def deployment_pod(self, deployment: str) -> str:
        """<deployment>-<pod-template-hash>-<5 random>, as the ReplicaSet controller names it."""
        template_hash = safe_encode(str(self.rng.randrange(2**32)))  # FNV-32 as decimal, encoded
        suffix = "".join(self.rng.choice(SAFE_ALPHABET) for _ in range(5))
        return f"{deployment}-{template_hash}-{suffix}"

    def node(self) -> str:
        return f"ip-10-0-{self.rng.randrange(256)}-{self.rng.randrange(1, 255)}.ec2.internal"

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


def ksm(v: Variant) -> dict[str, str]:
    """Target labels of kube-state-metrics' own series."""
    return {"job": "kube-state-metrics", "instance": v.instance(8080)}


def kubelet(v: Variant) -> dict[str, str]:
    """Target labels of the kubelet's volume stats (scraped on the node the volume is on)."""
    return {
        "job": "kubelet",
        "instance": v.instance(10250),
        "endpoint": "https-metrics",
        "metrics_path": "/metrics",
        "node": v.node(),
    }


def apiserver(v: Variant) -> dict[str, str]:
    return {"job": "apiserver", "instance": v.instance(6443)}


def node_condition(condition: str) -> Callable[[Variant], dict[str, str]]:
    return lambda v: {"node": v.node(), "condition": condition, "status": "true", **ksm(v)}


def workload(kind: str, name: str, namespace: str = "shop") -> Callable[[Variant], dict[str, str]]:
    return lambda v: {"namespace": namespace, kind: name, **ksm(v)}


def container_series(deployment: str) -> Callable[[Variant], dict[str, str]]:
    """kube_pod_container_* series: namespace, pod, uid, container."""
    return lambda v: {
        "namespace": "shop",
        "pod": v.deployment_pod(deployment),
        "uid": v.uid(),
        "container": deployment,
        **ksm(v),
    }


def pvc_volume(v: Variant) -> dict[str, str]:
    return {"namespace": "shop", "persistentvolumeclaim": "data-db-0", **kubelet(v)}


# The series labels ($labels) of each rule's alerts: what its expression returns, plus every
# label its templates read. Within a rule only per-instance values vary; namespace and the
# workload's name stay fixed.
SERIES: dict[str, Callable[[Variant], dict[str, str]]] = {
    "KubernetesNodeNotReady": node_condition("Ready"),
    "KubernetesNodeSchedulingDisabled": lambda v: {
        "node": v.node(),
        "key": "node.kubernetes.io/unschedulable",
        "effect": "NoSchedule",
        **ksm(v),
    },
    "KubernetesNodeMemoryPressure": node_condition("MemoryPressure"),
    "KubernetesNodeDiskPressure": node_condition("DiskPressure"),
    "KubernetesNodeNetworkUnavailable": node_condition("NetworkUnavailable"),
    "KubernetesNodeOutOfPodCapacity": lambda v: {"node": v.node(), **ksm(v)},
    "KubernetesContainerOomKiller": container_series("web"),
    "KubernetesJobFailed": workload("job_name", "db-migrate"),
    "KubernetesJobNotStarting": workload("job_name", "db-migrate"),
    "KubernetesCronjobFailing": workload("cronjob", "nightly-report"),
    "KubernetesCronjobSuspended": workload("cronjob", "nightly-report"),
    "KubernetesPersistentvolumeclaimPending": lambda v: {
        "namespace": "shop",
        "persistentvolumeclaim": "data-db-0",
        "phase": "Pending",
        **ksm(v),
    },
    "KubernetesVolumeOutOfDiskSpace": pvc_volume,
    "KubernetesVolumeFullInFourDays": pvc_volume,
    "KubernetesPersistentvolumeError": lambda v: {
        "persistentvolume": "pvc-3f1c2b7e-8d4a-4c6e-9b1f-2a7d5e8c0b93",
        "phase": "Failed",
        **ksm(v),
    },
    "KubernetesStatefulsetDown": workload("statefulset", "db"),
    "KubernetesHpaScaleInability": workload("horizontalpodautoscaler", "web"),
    "KubernetesHpaMetricsUnavailability": lambda v: {
        **workload("horizontalpodautoscaler", "web")(v),
        "condition": "ScalingActive",
        "status": "false",
    },
    "KubernetesHpaScaleMaximum": workload("horizontalpodautoscaler", "web"),
    "KubernetesHpaUnderutilized": workload("horizontalpodautoscaler", "web"),
    "KubernetesPodNotHealthy": lambda v: {
        "namespace": "shop",
        "pod": v.deployment_pod("checkout"),
        **ksm(v),
    },
    "KubernetesPodCrashLooping": container_series("web"),
    "KubernetesReplicasetReplicasMismatch": workload("replicaset", "web-7d9f8c6b5d"),
    "KubernetesDeploymentReplicasMismatch": workload("deployment", "web"),
    "KubernetesStatefulsetReplicasMismatch": workload("statefulset", "db"),
    "KubernetesDeploymentGenerationMismatch": workload("deployment", "web"),
    "KubernetesStatefulsetGenerationMismatch": workload("statefulset", "db"),
    "KubernetesStatefulsetUpdateNotRolledOut": workload("statefulset", "db"),
    "KubernetesDaemonsetRolloutStuck": workload("daemonset", "node-exporter", "monitoring"),
    "KubernetesDaemonsetMisscheduled": workload("daemonset", "node-exporter", "monitoring"),
    # Each run of the CronJob is a new Job named <cronjob>-<scheduled minute>: per instance.
    "KubernetesCronjobTooLong": lambda v: {
        "namespace": "shop",
        "job_name": f"nightly-report-{v.rng.randrange(28_000_000, 29_000_000)}",
        "cronjob": "nightly-report",
        **ksm(v),
    },
    "KubernetesJobSlowCompletion": workload("job_name", "reindex"),
    "KubernetesApiServerErrors": apiserver,
    "KubernetesApiClientErrors": lambda v: {
        "job": "kube-controller-manager",
        "instance": v.instance(10257),
    },
    "KubernetesClientCertificateExpiresNextWeek": apiserver,
    "KubernetesClientCertificateExpiresSoon": apiserver,
    "KubernetesApiServerLatency": lambda v: {
        "verb": "LIST",
        "resource": "pods",
        "scope": "cluster",
        "component": "apiserver",
        "version": "v1",
        **apiserver(v),
    },
}


@dataclass(frozen=True)
class Rule:
    name: str
    severity: str
    annotations: dict[str, str]

    def alert(self, variant: Variant) -> tuple[dict[str, str], dict[str, str]]:
        """Labels and annotations of one alert, as Prometheus sends it to Alertmanager."""
        series = SERIES[self.name](variant)
        annotations = {
            key: render(text, series, variant.value) for key, text in self.annotations.items()
        }
        return {"alertname": self.name, "severity": self.severity, **series}, annotations


def load_rules() -> list[Rule]:
    if not RULES_FILE.is_file():
        message = f"rule fixtures missing: {RULES_FILE} (see /work/shared/bench/alerts/README.md)"
        if _in_ci():
            pytest.fail(message + "; CI=true: fixtures must be present")
        pytest.skip(message)
    document: Any = yaml.safe_load(RULES_FILE.read_text())
    return [
        Rule(rule["alert"], rule["labels"]["severity"], dict(rule["annotations"]))
        for group in document["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


@pytest.fixture(scope="module")
def rules() -> list[Rule]:
    return load_rules()


def variants(rule: str) -> list[Variant]:
    """Several alerts' worth of per-instance values, seeded by the rule name (reproducible)."""
    seed = int.from_bytes(hashlib.sha256(rule.encode()).digest()[:8], "big")
    rng = random.Random(seed)
    return [Variant(rng, value) for value in VALUES]


# The default mapping signs an alert by its summary; a deployment whose rules carry only a
# description (or which prefers it) signs by the description: "LABELS = map[...]", "VALUE = 0.97"
# and "{{ $value | humanize }}%" are then part of the text and must not split a symptom.
SIGNATURES = {
    "default": None,
    "description": SymptomSettings(signature_annotations=["description"]),
}


def rule_patterns(rule: Rule, mapping: SymptomSettings | None) -> list[SymptomPattern]:
    return [pattern_from_alert(*rule.alert(v), mapping) for v in variants(rule.name)]


def test_fixture_has_the_37_rules_and_each_has_labels(rules: list[Rule]) -> None:
    names = [rule.name for rule in rules]
    assert len(names) == RULE_COUNT
    assert len(set(names)) == RULE_COUNT
    assert set(names) == set(SERIES)
    for rule in rules:
        used = set().union(*(template_labels(text) for text in rule.annotations.values()))
        series = SERIES[rule.name](variants(rule.name)[0])
        assert used <= set(series), f"{rule.name}: $labels {used - set(series)} not in the series"
        labels, annotations = rule.alert(variants(rule.name)[0])
        assert NO_VALUE not in "".join(annotations.values())
        assert labels["severity"] in {"critical", "warning", "info"}


def test_alerts_really_differ_per_instance(rules: list[Rule]) -> None:
    """Guard the fixtures: the alerts of each rule differ in labels and in rendered text."""
    for rule in rules:
        alerts = [rule.alert(variant) for variant in variants(rule.name)]
        assert len({tuple(sorted(labels.items())) for labels, _ in alerts}) == len(VALUES)
        assert len({annotations["summary"] for _, annotations in alerts}) == len(VALUES)
        assert len({annotations["description"] for _, annotations in alerts}) == len(VALUES)


@pytest.mark.parametrize("signature", sorted(SIGNATURES))
def test_alerts_of_one_rule_share_one_hash(rules: list[Rule], signature: str) -> None:
    split = {}
    for rule in rules:
        patterns = rule_patterns(rule, SIGNATURES[signature])
        if len({pattern.compute_hash() for pattern in patterns}) != 1:
            split[rule.name] = [pattern.model_dump() for pattern in patterns]
    assert not split, f"rules whose alerts hash differently: {split}"


@pytest.mark.parametrize("signature", sorted(SIGNATURES))
def test_every_rule_hashes_differently(rules: list[Rule], signature: str) -> None:
    by_hash: dict[str, list[str]] = {}
    by_signature: dict[str, list[str]] = {}
    for rule in rules:
        pattern = rule_patterns(rule, SIGNATURES[signature])[0]
        by_hash.setdefault(pattern.compute_hash(), []).append(rule.name)
        by_signature.setdefault(pattern.error_signature, []).append(rule.name)
    assert len(by_hash) == RULE_COUNT, {h: n for h, n in by_hash.items() if len(n) > 1}
    if signature == "default":
        # Not only the alert name tells them apart: the normalized summaries differ too. (The
        # descriptions do not: "Node X has MemoryPressure condition" becomes "... has
        # <condition> condition" for all three node-condition rules, because the rule's
        # `condition` label value is substituted like a per-instance value.)
        assert len(by_signature) == RULE_COUNT, {
            s: n for s, n in by_signature.items() if len(n) > 1
        }


def test_rule_patterns_name_namespace_and_workload(rules: list[Rule]) -> None:
    """Spot checks that the hashes are built from the right things, not from nothing."""
    patterns = {
        rule.name: pattern_from_alert(*rule.alert(variants(rule.name)[0])) for rule in rules
    }
    crash = patterns["KubernetesPodCrashLooping"]
    assert (crash.signal, crash.services, crash.namespace) == (
        "KubernetesPodCrashLooping",
        ("web",),
        "shop",
    )
    assert patterns["KubernetesNodeNotReady"].resource_kind == "Node"
    assert patterns["KubernetesNodeNotReady"].namespace is None
    assert patterns["KubernetesStatefulsetDown"].services == ("db",)
    assert patterns["KubernetesStatefulsetDown"].resource_kind == "StatefulSet"
    assert patterns["KubernetesCronjobTooLong"].services == ("nightly-report",)
    assert patterns["KubernetesCronjobTooLong"].resource_kind == "CronJob"
    for name, pattern in patterns.items():
        assert pattern.error_signature, name
        assert "10." not in pattern.error_signature, (name, pattern.error_signature)


# --- SymptomPattern.compute_hash ------------------------------------------------------------

CRASH_PATTERN = SymptomPattern(
    signal="KubernetesPodCrashLooping",
    services=["web"],
    namespace="shop",
    resource_kind="Deployment",
    error_signature="Kubernetes pod crash looping (instance <instance>)",
)
# The canonical encoding documented in awoooi/symptoms/pattern.py, written out by hand:
# sorted-key compact JSON, every text field NFC + stripped + lower-cased, ASCII-escaped.
CRASH_ENCODING = (
    b'{"error_signature":"kubernetes pod crash looping (instance <instance>)",'
    b'"namespace":"shop","resource_kind":"deployment","services":["web"],'
    b'"signal":"kubernetespodcrashlooping","v":1}'
)
CRASH_HASH = "45c5bc5f4e1bba8f"

# Unordered services, no namespace or kind, a decomposed "e" + combining acute (NFC -> U+00E9).
DISK_PATTERN_SOURCE = (
    "SymptomPattern(signal='DiskFull', services={'web', 'api', 'db'}, namespace=None, "
    "resource_kind=None, error_signature='Cafe\\u0301 disk /var is 99% full')"
)
DISK_ENCODING = (
    b'{"error_signature":"caf\\u00e9 disk /var is 99% full","namespace":"",'
    b'"resource_kind":"","services":["api","db","web"],"signal":"diskfull","v":1}'
)
DISK_HASH = "24be024590fff27b"


def test_known_answer_hashes_follow_the_documented_encoding() -> None:
    assert CRASH_PATTERN.canonical_encoding() == CRASH_ENCODING
    assert hashlib.sha256(CRASH_ENCODING).hexdigest()[:16] == CRASH_HASH
    assert CRASH_PATTERN.compute_hash() == CRASH_HASH

    disk = eval(DISK_PATTERN_SOURCE, {"SymptomPattern": SymptomPattern})
    assert disk.canonical_encoding() == DISK_ENCODING
    assert hashlib.sha256(DISK_ENCODING).hexdigest()[:16] == DISK_HASH
    assert disk.compute_hash() == DISK_HASH


@pytest.mark.parametrize("hash_seed", ["0", "1", "4242"])
def test_hash_is_the_same_in_another_process(hash_seed: str) -> None:
    """No dependence on Python's per-process string hashing (set order, dict order)."""
    code = (
        "from awoooi.symptoms import SymptomPattern\n"
        "crash = SymptomPattern(signal='KubernetesPodCrashLooping', services=['web'],"
        " namespace='shop', resource_kind='Deployment',"
        " error_signature='Kubernetes pod crash looping (instance <instance>)')\n"
        f"print(crash.compute_hash(), {DISK_PATTERN_SOURCE}.compute_hash())\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [CRASH_HASH, DISK_HASH]


def test_hash_is_16_lowercase_hex() -> None:
    for pattern in (CRASH_PATTERN, SymptomPattern(signal="x"), SymptomPattern(signal="")):
        assert HEX16.match(pattern.compute_hash()), pattern


def test_hash_ignores_case_and_white_space_in_every_field() -> None:
    noisy = SymptomPattern(
        signal="  KUBERNETESPodCrashLooping\t",
        services=[" WEB\n"],
        namespace=" Shop ",
        resource_kind="deployment  ",
        error_signature="\tKubernetes   POD crash\nlooping  (instance <INSTANCE>) ",
    )
    assert noisy.compute_hash() == CRASH_HASH
    for field, value in (
        ("signal", " kubernetespodcrashlooping"),
        ("services", ["Web "]),
        ("namespace", "SHOP\n"),
        ("resource_kind", " DEPLOYMENT"),
        ("error_signature", "KUBERNETES pod  crash looping (instance <instance>)\n"),
    ):
        rebuilt = SymptomPattern(**(CRASH_PATTERN.model_dump() | {field: value}))
        assert rebuilt.compute_hash() == CRASH_HASH, field


def test_services_are_sorted_unique_and_order_free() -> None:
    pattern = SymptomPattern(signal="s", services=["web", "api", "Web", " api ", "", "db"])
    assert pattern.services == ("api", "db", "web")
    assert (
        SymptomPattern(signal="s", services=["db", "web", "api"]).compute_hash()
        == SymptomPattern(signal="s", services=("api", "web", "db", "db")).compute_hash()
        == SymptomPattern(signal="s", services={"web", "api", "db"}).compute_hash()
        == pattern.compute_hash()
    )
    assert SymptomPattern(signal="s", services="web").services == ("web",)
    assert SymptomPattern(signal="s", services=None).services == ()


def test_every_field_changes_the_hash() -> None:
    changes: list[dict[str, Any]] = [
        {"signal": "KubernetesPodNotHealthy"},
        {"services": ["api"]},
        {"services": ["web", "api"]},
        {"namespace": "payments"},
        {"namespace": None},
        {"resource_kind": "StatefulSet"},
        {"error_signature": "Kubernetes pod not healthy (instance <instance>)"},
        {"hash_version": 2},
    ]
    hashes = {CRASH_HASH} | {
        SymptomPattern(**(CRASH_PATTERN.model_dump() | change)).compute_hash() for change in changes
    }
    assert len(hashes) == len(changes) + 1


# --- pattern_from_alert ---------------------------------------------------------------------

BASE_LABELS = {
    "alertname": "KubernetesPodCrashLooping",
    "severity": "warning",
    "namespace": "shop",
    "pod": "web-7d9f8c6b5d-x2kqz",
    "container": "web",
    "job": "kube-state-metrics",
    "instance": "10.0.1.15:8080",
}


def crash_alert(
    pod: str = "web-7d9f8c6b5d-x2kqz", instance: str = "10.0.1.15:8080", **extra: str
) -> tuple[dict[str, str], dict[str, str]]:
    labels = BASE_LABELS | {"pod": pod, "instance": instance} | extra
    series = {key: value for key, value in labels.items() if key not in {"alertname", "severity"}}
    annotations = {
        "summary": f"Kubernetes pod crash looping (instance {instance})",
        "description": f"Pod shop/{pod} is crash looping\n  VALUE = 4\n  LABELS = {go_map(series)}",
    }
    return labels, annotations


BASE_HASH = pattern_from_alert(*crash_alert()).compute_hash()


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"ip": "10.0.7.3"},
        {"pod_ip": "10.244.3.17"},
        {"endpoint": "http-metrics"},
        {"value": "3.5"},
        {"ip": "192.168.10.4", "pod_ip": "10.244.9.201", "endpoint": "https-main", "value": "42"},
    ],
)
def test_per_instance_labels_never_change_the_hash(extra: dict[str, str]) -> None:
    for pod, instance in (
        ("web-7d9f8c6b5d-x2kqz", "10.0.1.15:8080"),
        ("web-7d9f8c6b5d-q8w4n", "10.0.2.31:8080"),
        ("web-5c8b9d7f46-z7j2w", "172.16.4.200:8443"),
    ):
        assert pattern_from_alert(*crash_alert(pod, instance, **extra)).compute_hash() == BASE_HASH


@settings(max_examples=60, deadline=None)
@given(
    template_hash=st.text(alphabet="456789bcdf", min_size=6, max_size=10),
    suffix=st.text(alphabet=SAFE_ALPHABET, min_size=5, max_size=5),
    instance=st.ip_addresses(v=4).map(str),
    port=st.integers(min_value=1, max_value=65535),
    ip=st.ip_addresses(v=4).map(str),
    pod_ip=st.ip_addresses(v=4).map(str),
    value=st.floats(min_value=-1e9, max_value=1e9, allow_nan=False).map(go_float),
)
def test_per_instance_values_never_change_the_hash_property(
    template_hash: str, suffix: str, instance: str, port: int, ip: str, pod_ip: str, value: str
) -> None:
    labels, annotations = crash_alert(
        f"web-{template_hash}-{suffix}", f"{instance}:{port}", ip=ip, pod_ip=pod_ip, value=value
    )
    assert pattern_from_alert(labels, annotations).compute_hash() == BASE_HASH


def test_label_order_does_not_matter() -> None:
    labels, annotations = crash_alert()
    reversed_labels = dict(reversed(list(labels.items())))
    reversed_annotations = dict(reversed(list(annotations.items())))
    assert pattern_from_alert(reversed_labels, reversed_annotations).compute_hash() == BASE_HASH


def _service_value(name: str) -> str:
    return "from-" + re.sub(r"[^a-z0-9]+", "-", name.lower())


def test_service_label_priority() -> None:
    """The configured service labels are tried in order; `pod` stands for the pod's owner."""
    order = SymptomSettings().service_labels
    assert order[0] == "service"
    assert order.index("pod") < order.index("container")
    labels = {"alertname": "A"} | {name: _service_value(name) for name in order}
    labels["pod"] = "owner-7d9f8c6b5d-x2kqz"
    for name in order:
        expected = "owner" if name == "pod" else labels[name]
        assert pattern_from_alert(labels, {}).services == (expected,), name
        labels[name] = "  "  # blank counts as absent: the next label wins
    assert pattern_from_alert(labels, {}).services == ()


def test_service_label_priority_is_configurable() -> None:
    labels = {"alertname": "A", "service": "svc", "app": "the-app", "pod": "web-0"}
    custom = SymptomSettings(service_labels=["app", "service"])
    assert pattern_from_alert(labels, {}, custom).services == ("the-app",)
    assert pattern_from_alert(labels, {}).services == ("svc",)


@pytest.mark.parametrize(
    ("pod", "service", "kind"),
    [
        ("web-7d9f8c6b5d-x2kqz", "web", "Deployment"),
        ("checkout-api-66b6c48dd5-4jw2p", "checkout-api", "Deployment"),
        ("db-0", "db", "StatefulSet"),
        ("redis-master-12", "redis-master", "StatefulSet"),
        ("node-exporter-x7k2p", "node-exporter", "DaemonSet"),
    ],
)
def test_pod_owner_derivation(pod: str, service: str, kind: str) -> None:
    pattern = pattern_from_alert({"alertname": "A", "namespace": "shop", "pod": pod}, {})
    assert pattern.services == (service,)
    assert pattern.resource_kind == kind
    assert pattern.namespace == "shop"


def test_kind_label_wins_over_the_pod_name() -> None:
    labels = {"alertname": "A", "statefulset": "db", "pod": "db-7d9f8c6b5d-x2kqz"}
    pattern = pattern_from_alert(labels, {})
    assert (pattern.services, pattern.resource_kind) == (("db",), "StatefulSet")

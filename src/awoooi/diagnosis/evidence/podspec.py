"""Reading pod specs and templates: containers, resources, what they reference (names only)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

JSON = dict[str, Any]


def pod_spec(obj: Mapping[str, Any]) -> JSON:
    """The pod spec of a Pod, or of a workload's / ControllerRevision's pod template."""
    spec = obj.get("spec") or {}
    if "containers" in spec:
        return dict(spec)
    if obj.get("kind") == "ControllerRevision":
        spec = ((obj.get("data") or {}).get("spec")) or {}
    if obj.get("kind") == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    template = spec.get("template") or {}
    return dict(template.get("spec") or {})


def template_of(obj: Mapping[str, Any]) -> JSON:
    """The pod template (metadata and spec) of a workload or ControllerRevision."""
    spec = obj.get("spec") or {}
    if obj.get("kind") == "ControllerRevision":
        spec = ((obj.get("data") or {}).get("spec")) or {}
    return dict(spec.get("template") or {})


def containers(spec: Mapping[str, Any]) -> Iterator[tuple[JSON, bool]]:
    """Every container of a pod spec with whether it is an init container."""
    for item in spec.get("initContainers") or []:
        yield item, True
    for item in spec.get("containers") or []:
        yield item, False


def resources(container: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """A container's (requests, limits) as strings."""
    res = container.get("resources") or {}
    requests = {str(k): str(v) for k, v in (res.get("requests") or {}).items()}
    limits = {str(k): str(v) for k, v in (res.get("limits") or {}).items()}
    return requests, limits


def quantities(values: Mapping[str, str]) -> str:
    """`cpu=1, memory=1536Mi` (sorted by resource name)."""
    return ", ".join(f"{k}={v}" for k, v in sorted(values.items()))


def env_literals(spec: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(name, literal value) of every env entry with a `value` (only to scrub, never shown)."""
    for container, _ in containers(spec):
        for entry in container.get("env") or []:
            value = entry.get("value")
            if isinstance(value, str) and entry.get("name"):
                yield str(entry["name"]), value


def config_refs(spec: Mapping[str, Any]) -> list[tuple[str, str, str | None, bool, str]]:
    """The ConfigMaps and Secrets a pod spec references: (kind, name, key, optional, how)."""
    found: list[tuple[str, str, str | None, bool, str]] = []
    for container, _ in containers(spec):
        cname = container.get("name", "?")
        for entry in container.get("env") or []:
            value_from = entry.get("valueFrom") or {}
            for field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                ref = value_from.get(field)
                if ref and ref.get("name"):
                    found.append(
                        (
                            kind,
                            str(ref["name"]),
                            ref.get("key"),
                            bool(ref.get("optional")),
                            f"env {entry.get('name')} of container {cname}",
                        )
                    )
        for entry in container.get("envFrom") or []:
            for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                ref = entry.get(field)
                if ref and ref.get("name"):
                    found.append(
                        (
                            kind,
                            str(ref["name"]),
                            None,
                            bool(ref.get("optional")),
                            f"envFrom of container {cname}",
                        )
                    )
    for volume in spec.get("volumes") or []:
        vname = volume.get("name", "?")
        sources = [volume] + [dict(s) for s in (volume.get("projected") or {}).get("sources") or []]
        for item in sources:
            cm = item.get("configMap")
            if cm and cm.get("name") and cm.get("name") != "kube-root-ca.crt":
                found.append(
                    (
                        "ConfigMap",
                        str(cm["name"]),
                        None,
                        bool(cm.get("optional")),
                        f"volume {vname}",
                    )
                )
            secret = item.get("secret")
            if secret and (secret.get("secretName") or secret.get("name")):
                found.append(
                    (
                        "Secret",
                        str(secret.get("secretName") or secret.get("name")),
                        None,
                        bool(secret.get("optional")),
                        f"volume {vname}",
                    )
                )
    return found


def claims(spec: Mapping[str, Any]) -> list[str]:
    """The PersistentVolumeClaims a pod spec mounts."""
    return [
        str(v["persistentVolumeClaim"]["claimName"])
        for v in spec.get("volumes") or []
        if (v.get("persistentVolumeClaim") or {}).get("claimName")
    ]


def probes(container: Mapping[str, Any]) -> tuple[str, ...]:
    """The container's probes in words: `liveness httpGet /livez:8080 every 10s, 3 failures`."""
    found = []
    for kind in ("liveness", "readiness", "startup"):
        probe = container.get(f"{kind}Probe")
        if not probe:
            continue
        if probe.get("httpGet"):
            get = probe["httpGet"]
            how = f"httpGet {get.get('path', '/')}:{get.get('port', '?')}"
        elif probe.get("tcpSocket"):
            how = f"tcpSocket :{probe['tcpSocket'].get('port', '?')}"
        elif probe.get("exec"):
            how = "exec " + " ".join(str(a) for a in probe["exec"].get("command") or [])[:60]
        elif probe.get("grpc"):
            how = f"grpc :{probe['grpc'].get('port', '?')}"
        else:
            how = "?"
        found.append(
            f"{kind} {how} every {probe.get('periodSeconds', 10)}s, timeout "
            f"{probe.get('timeoutSeconds', 1)}s, {probe.get('failureThreshold', 3)} failures"
        )
    return tuple(found)


def labels_match(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether labels satisfy a LabelSelector or a Service's plain selector (empty: none)."""
    if not selector:
        return False
    match_labels = selector.get("matchLabels")
    expressions = selector.get("matchExpressions")
    if match_labels is None and expressions is None:
        match_labels, expressions = selector, []
    for key, value in (match_labels or {}).items():
        if labels.get(key) != value:
            return False
    for expr in expressions or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and present and labels.get(key) in values)
            or (op == "Exists" and not present)
            or (op == "DoesNotExist" and present)
        ):
            return False
    return True


# Tolerations every pod gets from the DefaultTolerationSeconds admission plugin: not a choice.
_DEFAULT_TOLERATIONS = frozenset({"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"})


def _requirement(expr: Mapping[str, Any]) -> str:
    values = ",".join(str(v) for v in expr.get("values") or [])
    return f"{expr.get('key')} {expr.get('operator')}" + (f" [{values}]" if values else "")


def _toleration(t: Mapping[str, Any]) -> str:
    value = f"={t['value']}" if t.get("value") else ""
    return f"{t.get('key') or '*'}{value}:{t.get('effect') or '*'}"


def placement(spec: Mapping[str, Any]) -> list[str]:
    """Where a pod may run, in words: selector, required affinity, spread, own tolerations."""
    found = []
    if spec.get("nodeSelector"):
        found.append(
            "nodeSelector " + ", ".join(f"{k}={v}" for k, v in sorted(spec["nodeSelector"].items()))
        )
    affinity = spec.get("affinity") or {}
    required = (
        (affinity.get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution")
        or {}
    ).get("nodeSelectorTerms") or []
    for term in required:
        exprs = [_requirement(e) for e in term.get("matchExpressions") or []]
        if exprs:
            found.append("node affinity requires " + " and ".join(exprs))
    for kind in ("podAffinity", "podAntiAffinity"):
        if (affinity.get(kind) or {}).get("requiredDuringSchedulingIgnoredDuringExecution"):
            found.append(f"{kind} required")
    if spec.get("topologySpreadConstraints"):
        found.append("topologySpreadConstraints")
    tolerations = [
        _toleration(t)
        for t in spec.get("tolerations") or []
        if t.get("key") not in _DEFAULT_TOLERATIONS
    ]
    if tolerations:
        found.append("tolerates " + ", ".join(tolerations))
    return found

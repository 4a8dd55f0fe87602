"""Value equivalence for drift: quantities, int-or-string, empty versus absent, Secret data."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
from decimal import Decimal, InvalidOperation
from typing import Any

_QUANTITY = re.compile(
    r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$"
)
_SUFFIX = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
# Map keys whose values are resource quantities (cpu: 0.5 == 500m, memory: 1Gi == 1024Mi).
QUANTITY_PARENTS = frozenset(
    {
        "limits",
        "requests",
        "capacity",
        "allocatable",
        "hard",
        "used",
        "min",
        "max",
        "default",
        "defaultRequest",
        "maxLimitRequestRatio",
    }
)
QUANTITY_KEYS = frozenset({"sizeLimit", "storage", "divisor"})


def parse_quantity(value: Any) -> Decimal | None:
    """A Kubernetes quantity as a number, or None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return Decimal(str(value))
        except InvalidOperation:
            return None
    if not isinstance(value, str):
        return None
    match = _QUANTITY.fullmatch(value.strip())
    if match is None:
        return None
    try:
        return Decimal(match.group(1)) * _SUFFIX[match.group(2) or ""]
    except InvalidOperation:
        return None


def is_empty(value: Any) -> bool:
    """Null, an empty string, list or map: all the same as absent."""
    return value is None or value == "" or value == [] or value == {}


def scalars_equal(desired: Any, live: Any, *, quantity: bool = False) -> bool:
    """Two leaf values are equal after normalization."""
    if desired == live and type(desired) is type(live):
        return True
    if is_empty(desired) and is_empty(live):
        return True
    if isinstance(desired, bool) or isinstance(live, bool):
        return desired is live
    if isinstance(desired, int | float) and isinstance(live, int | float):
        return float(desired) == float(live)
    if quantity:
        left, right = parse_quantity(desired), parse_quantity(live)
        if left is not None and right is not None:
            return left == right
    # int-or-string (targetPort: 8080 == "8080", maxSurge: 1 == "1").
    if isinstance(desired, int) and isinstance(live, str):
        return str(desired) == live
    if isinstance(desired, str) and isinstance(live, int):
        return desired == str(live)
    return False


def fold_string_data(secret: dict[str, Any]) -> dict[str, Any]:
    """A Secret with `stringData` folded into base64 `data`, as the API server stores it."""
    string_data = secret.get("stringData")
    if not isinstance(string_data, dict) or not string_data:
        return secret
    data = dict(secret.get("data") or {})
    for key, value in string_data.items():
        text = value if isinstance(value, str) else str(value)
        data[key] = base64.b64encode(text.encode()).decode()
    folded = {k: v for k, v in secret.items() if k != "stringData"}
    folded["data"] = data
    return folded


def secret_fingerprint(value: Any) -> str | None:
    """A short hash standing in for a Secret value: differences stay visible, values do not."""
    if value is None:
        return None
    raw = value.encode() if isinstance(value, str) else repr(value).encode()
    with contextlib.suppress(ValueError):  # not base64: hash the text as given
        raw = base64.b64decode(raw, validate=True)
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:12]


# Values the API server (or an admission default) fills in when a field is not set. A field only
# live has, holding one of these, is a default and not drift whoever the managedFields name:
# a client-side `kubectl apply` is recorded as owning the defaults of what it created.
SERVER_DEFAULTS: dict[str, frozenset[Any]] = {
    key: frozenset(values)
    for key, values in {
        "sessionAffinity": ("None",),
        "type": ("ClusterIP", "RollingUpdate", "Opaque"),
        "internalTrafficPolicy": ("Cluster",),
        "externalTrafficPolicy": ("Cluster",),
        "ipFamilyPolicy": ("SingleStack",),
        "ipFamilies": (("IPv4",), ("IPv6",)),
        "protocol": ("TCP",),
        "imagePullPolicy": ("IfNotPresent", "Always"),
        "terminationMessagePath": ("/dev/termination-log",),
        "terminationMessagePolicy": ("File",),
        "dnsPolicy": ("ClusterFirst",),
        "restartPolicy": ("Always",),
        "schedulerName": ("default-scheduler",),
        "terminationGracePeriodSeconds": (30,),
        "revisionHistoryLimit": (10,),
        "progressDeadlineSeconds": (600,),
        "maxSurge": ("25%", 1),
        "maxUnavailable": ("25%", 0, 1),
        "podManagementPolicy": ("OrderedReady",),
        "whenDeleted": ("Retain",),
        "whenScaled": ("Retain",),
        "replicas": (1,),
        "partition": (0,),
        "defaultMode": (420, 0o644),
        "failureThreshold": (3,),
        "periodSeconds": (10,),
        "successThreshold": (1,),
        "timeoutSeconds": (1, 10, 30),
        "scheme": ("HTTP",),
        "enableServiceLinks": (True,),
        "automountServiceAccountToken": (),
        "concurrencyPolicy": ("Allow",),
        "suspend": (False,),
        "successfulJobsHistoryLimit": (3,),
        "failedJobsHistoryLimit": (1,),
        "backoffLimit": (6,),
        "completions": (1,),
        "parallelism": (1,),
        "completionMode": ("NonIndexed",),
        "preemptionPolicy": ("PreemptLowerPriority",),
        "priority": (0,),
        "volumeMode": ("Filesystem",),
        "matchPolicy": ("Equivalent",),
        "reinvocationPolicy": ("Never",),
        "sideEffects": ("None", "Unknown"),
        "scope": ("*",),
        "admissionReviewVersions": (("v1",), ("v1beta1",), ("v1", "v1beta1")),
        "divisor": ("0", 0),
        "minReadySeconds": (0,),
        "persistentVolumeReclaimPolicy": ("Delete",),
        "allocateLoadBalancerNodePorts": (True,),
    }.items()
}
# Assigned by the server, never written in Git.
SERVER_ASSIGNED = frozenset(
    {"clusterIP", "clusterIPs", "nodePort", "healthCheckNodePort", "volumeName", "finalizers"}
)


def is_server_default(key: Any, value: Any) -> bool:
    """True when a live-only value is what the server fills in for an unset field."""
    if not isinstance(key, str):
        return False
    if key in SERVER_ASSIGNED:
        return True
    if isinstance(value, dict):
        return (
            bool(value) and all(is_server_default(k, v) for k, v in value.items())
        ) or value == {}
    defaults = SERVER_DEFAULTS.get(key)
    if defaults is None:
        return bool(value == {} or value == [])
    if isinstance(value, list):
        try:
            return tuple(value) in defaults
        except TypeError:
            return False
    try:
        return value in defaults
    except TypeError:
        return False

"""What the local model is asked about one resource's drift: paths, changes and values, redacted,
Secret values never."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from awoooi.core.redact import placeholder, redact
from awoooi.drift.diff import LAST_APPLIED, format_path
from awoooi.drift.intent import DriftIntent
from awoooi.drift.intent_rules import path_names, secret_named
from awoooi.drift.paths import item_segments
from awoooi.drift.report import Change, DriftItem, ResourceId

TASK_TYPE = "interpret_drift"
MAX_PROMPT_ITEMS = 40
MAX_VALUE_CHARS = 200
MAX_PROMPT_MANAGERS = 20
SECRET_OMITTED = "(secret value omitted)"
LAST_APPLIED_OMITTED = "(last-applied configuration omitted)"

SYSTEM_PROMPT = (
    "You explain configuration drift in a Kubernetes cluster: fields whose live value differs "
    "from what Git declares. From the fields, their values and the field managers that wrote "
    "them, say what the change most likely is.\n"
    "Answer with one JSON object and nothing else:\n"
    '{"intent": "<one of ' + ", ".join(DriftIntent) + '>", '
    '"explanation": "<one paragraph for a human>", "confidence": <number from 0 to 1>}\n'
    "Use SECURITY_RISK whenever the change weakens security, whatever else it may be.\n"
    "Do not give commands, scripts, patches or fixes, and add no other keys: a human decides "
    "whether the change is rolled back or adopted into Git."
)


def _without_last_applied(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: LAST_APPLIED_OMITTED if key == LAST_APPLIED else _without_last_applied(sub)
            for key, sub in value.items()
        }
    if isinstance(value, list):
        return [_without_last_applied(sub) for sub in value]
    return value


def _prompt_value(resource: ResourceId, item: DriftItem, value: Any) -> str:
    if value is None:
        return "(not set)"
    path = item_segments(item)
    if resource.kind == "Secret":
        return SECRET_OMITTED  # not even the masked fingerprint: a local model still logs prompts
    if LAST_APPLIED in path_names(path):
        return LAST_APPLIED_OMITTED
    if secret_named(path):
        return placeholder("secret")
    text = json.dumps(_without_last_applied(value), default=str, sort_keys=True, ensure_ascii=False)
    # Redacted before it is cut, so a cut never leaves a partial secret the redactor misses.
    text = redact(text)
    if len(text) > MAX_VALUE_CHARS:
        text = text[:MAX_VALUE_CHARS] + "…(truncated)"
    return text


def build_prompt(resource: ResourceId, items: Sequence[DriftItem], managers: Sequence[str]) -> str:
    """The drift of one resource as the model sees it: paths, changes, redacted values."""
    shown = list(managers[:MAX_PROMPT_MANAGERS])
    lines = [
        f"Resource: kind {resource.kind}, apiVersion {resource.api_version}, "
        f"namespace {resource.namespace or '(cluster-scoped)'}, name {resource.name}",
        "Field managers owning the drifted fields: " + (", ".join(shown) or "(none recorded)"),
    ]
    if resource.kind == "Secret":
        lines.append("This is a Secret: only the paths of its drifted fields are shown.")
    lines.append(f"Drifted fields (desired = Git, live = cluster), {len(items)} in all:")
    for item in items[:MAX_PROMPT_ITEMS]:
        path = item.path or format_path(item_segments(item)) or "(whole resource)"
        lines.append(f"- path: {path}")
        lines.append(f"  change: {item.change.value}")
        if item.change not in (Change.EXTRA, Change.MISSING):
            lines.append(f"  desired: {_prompt_value(resource, item, item.desired)}")
            lines.append(f"  live: {_prompt_value(resource, item, item.live)}")
        if item.reason:
            lines.append(f"  note: {item.reason[:MAX_VALUE_CHARS]}")
    if len(items) > MAX_PROMPT_ITEMS:
        lines.append(f"... and {len(items) - MAX_PROMPT_ITEMS} more drifted fields not shown.")
    # Once more over the whole text: names and notes are not values, but may still hold secrets.
    return redact("\n".join(lines))

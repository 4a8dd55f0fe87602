"""Secrets never reach the database: each incoming alert is redacted before it is stored.

Everything an incident keeps comes from its alerts (title, labels, annotations, symptoms, the raw
alert rows, the timeline), so redacting the alert once, before patterns and hashes are computed,
covers all of it, and the symptoms hash of a secret-bearing alert is the hash of its redacted
text: the same whatever the secret's value.

The fingerprint is the alert's identity (Alertmanager's hash of its labels, or the sender's
own), not its content, so it is kept as sent. Only a fingerprint that itself holds a secret
(a sender's "deploy-<token>") is replaced, by a hash of its redacted text: the same alert still
gets the same fingerprint every time (redeliveries and its resolution find it), and two that
differ only in the secret's value are one alert.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence

from awoooi.core.redact import redact, redact_structure
from awoooi.incidents.alerts import Alert

FINGERPRINT_CHARS = 16


def redact_alerts(alerts: Sequence[Alert]) -> list[Alert]:
    """The alerts with every secret replaced by a typed placeholder, ready to store."""
    # Redaction is regex-heavy and a batch repeats most values (namespace, job, severity, the
    # rule's annotations): each distinct (key, value) is redacted once per batch.
    memo: dict[tuple[str, str], str] = {}
    return [_redact_alert(alert, memo) for alert in alerts]


def _redact_alert(alert: Alert, memo: dict[tuple[str, str], str]) -> Alert:
    return dataclasses.replace(
        alert,
        fingerprint=redacted_fingerprint(alert.fingerprint),
        labels=_redacted_values(alert.labels, memo),
        annotations=_redacted_values(alert.annotations, memo),
        generator_url=(
            _redacted_text("generatorURL", alert.generator_url, memo)
            if alert.generator_url
            else alert.generator_url
        ),
    )


def _redacted_values(values: Mapping[str, str], memo: dict[tuple[str, str], str]) -> dict[str, str]:
    return {name: _redacted_text(name, value, memo) for name, value in values.items()}


def _redacted_text(name: str, value: str, memo: dict[tuple[str, str], str]) -> str:
    key = (name, value)
    if key not in memo:
        # A value under a secret-named key ("db_password", "api_token") is hidden whole.
        memo[key] = str(redact_structure(value, name))
    return memo[key]


def redacted_fingerprint(fingerprint: str) -> str:
    """The identity an alert is stored under: as sent, unless it holds a secret."""
    redacted = redact(fingerprint)
    if redacted == fingerprint:
        return fingerprint
    return hashlib.sha256(redacted.encode()).hexdigest()[:FINGERPRINT_CHARS]

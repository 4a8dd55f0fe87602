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
from collections.abc import Mapping

from awoooi.core.redact import redact, redact_structure
from awoooi.incidents.alerts import Alert

FINGERPRINT_CHARS = 16


def redact_alert(alert: Alert) -> Alert:
    """The alert with every secret in it replaced by a typed placeholder, ready to store."""
    return dataclasses.replace(
        alert,
        fingerprint=_redacted_fingerprint(alert.fingerprint),
        labels=_redacted_values(alert.labels),
        annotations=_redacted_values(alert.annotations),
        generator_url=redact(alert.generator_url) if alert.generator_url else alert.generator_url,
    )


def _redacted_values(values: Mapping[str, str]) -> dict[str, str]:
    # A value under a secret-named key ("db_password", "api_token") is hidden whole, as in logs.
    return {name: str(redact_structure(value, name)) for name, value in values.items()}


def _redacted_fingerprint(fingerprint: str) -> str:
    redacted = redact(fingerprint)
    if redacted == fingerprint:
        return fingerprint
    return hashlib.sha256(redacted.encode()).hexdigest()[:FINGERPRINT_CHARS]

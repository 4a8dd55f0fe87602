"""Privacy-first AI: local-only routing for sensitive intents, redaction, the call ledger."""

from awoooi.core.redact import redact

__all__ = ["redact"]

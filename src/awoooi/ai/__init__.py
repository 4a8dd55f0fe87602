"""Privacy-first AI: local-only routing for sensitive intents, redaction, the call ledger."""

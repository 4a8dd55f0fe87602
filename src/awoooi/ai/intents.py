"""What a model is asked to do, and which intents may never leave the premises."""

from __future__ import annotations

from enum import StrEnum


class Intent(StrEnum):
    """A reason to call a model; the router's policy is per intent."""

    DIAGNOSE = "diagnose"
    GENERATE_RUNBOOK = "generate_runbook"
    INTERPRET_DRIFT = "interpret_drift"
    SUMMARIZE = "summarize"
    CHAT = "chat"


# Incidents, runbooks and drift carry cluster internals: only local models may see them.
LOCAL_ONLY_INTENTS = frozenset({Intent.DIAGNOSE, Intent.GENERATE_RUNBOOK, Intent.INTERPRET_DRIFT})


def is_local_only(intent: Intent) -> bool:
    """Whether the intent may only reach local providers."""
    return intent in LOCAL_ONLY_INTENTS

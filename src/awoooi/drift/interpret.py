"""What a drift probably is (hotfix, scaling, debugging, ...), per drifted resource.

A local model reads the drifted fields (values redacted, Secret values never) and names the intent;
its answer is text for humans only, so anything that looks like a command is thrown away. Rules
over the field managers, paths and values give the answer when there is no usable model answer,
and a security-weakening change is always reported as a security risk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from awoooi.ai.intents import Intent
from awoooi.ai.router import ChatResult
from awoooi.core.redact import redact
from awoooi.drift.field_managers import resource_managers
from awoooi.drift.intent import DriftIntent, Interpretation
from awoooi.drift.intent_answer import parse_answer
from awoooi.drift.intent_prompt import SYSTEM_PROMPT, TASK_TYPE, build_prompt
from awoooi.drift.intent_rules import heuristic
from awoooi.drift.report import DriftItem, ResourceId


class ChatRouter(Protocol):
    """The part of `awoooi.ai.router.Router` used here."""

    async def chat(
        self,
        intent: Intent | str,
        prompt: str,
        *,
        system: str | None = None,
        task_type: str | None = None,
    ) -> ChatResult: ...


async def interpret(
    router: ChatRouter | None,
    resource: ResourceId,
    items: Sequence[DriftItem],
    live: Mapping[str, Any] | None,
) -> Interpretation:
    """One resource's interpretation: the local model's when usable, else the rules'."""
    if router is None:
        return heuristic(resource, items, live)
    managers = resource_managers(items, live)
    result = await router.chat(
        Intent.INTERPRET_DRIFT,
        build_prompt(resource, items, managers),
        system=SYSTEM_PROMPT,
        task_type=TASK_TYPE,
    )
    answered = result.success and not result.rejected
    parsed = parse_answer(result.text) if answered else None
    fallback = heuristic(resource, items, live)
    if parsed is None:
        why = (
            "the local model's answer was not usable (not the JSON asked for, or it held commands)"
            if answered
            else "no local model answered"
        )
        return replace(fallback, explanation=f"{fallback.explanation} ({why}: read by rules.)")
    intent, explanation, confidence = parsed
    if fallback.intent is DriftIntent.SECURITY_RISK and intent is not DriftIntent.SECURITY_RISK:
        # A model must not talk a security-weakening change down to something harmless.
        note = f" (The local model read it as {intent.value}; a security risk is reported as such.)"
        return replace(fallback, explanation=fallback.explanation + note)
    return Interpretation(resource, intent, redact(explanation), confidence, "model", managers)


async def interpret_report(
    router: ChatRouter | None,
    items: Sequence[DriftItem],
    live_objects: Mapping[tuple[str, str, str, str], Mapping[str, Any] | None],
    *,
    max_model_calls: int = 20,
) -> list[Interpretation]:
    """One interpretation per drifted resource (ignored items left out), in a stable order; the
    model reads at most `max_model_calls` of them (a scan must not wait on it for hours), the
    rules the rest."""
    # Items are grouped by resource.key(), so apps/v1 and extensions/v1beta1 items meet.
    groups: dict[tuple[str, str, str, str], list[DriftItem]] = {}
    for item in items:
        if not item.ignored:
            groups.setdefault(item.resource.key(), []).append(item)
    # Namespace, kind, name, group: the order a human scans a report in, whatever came first.
    order = sorted(groups, key=lambda key: (key[2], key[1], key[3], key[0]))
    # One at a time: a local model serves one request at a time anyway. After a rejection
    # (no local model reachable) the rest are read by rules: one rejection notice per report,
    # not one per resource.
    latch = _RejectionLatch(router) if router is not None else None
    found = []
    for position, key in enumerate(order):
        usable = latch is not None and not latch.rejected and position < max_model_calls
        active = latch if usable else None
        found.append(
            await interpret(active, groups[key][0].resource, groups[key], live_objects.get(key))
        )
    return found


class _RejectionLatch:
    """A router that remembers whether a call was rejected."""

    def __init__(self, router: ChatRouter) -> None:
        self._router = router
        self.rejected = False

    async def chat(
        self,
        intent: Intent | str,
        prompt: str,
        *,
        system: str | None = None,
        task_type: str | None = None,
    ) -> ChatResult:
        """Ask the router; note a rejection."""
        result = await self._router.chat(intent, prompt, system=system, task_type=task_type)
        self.rejected = self.rejected or result.rejected
        return result

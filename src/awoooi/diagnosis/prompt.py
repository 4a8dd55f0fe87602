"""The model's prompt and how its answer is read.

The prompt is the system prompt, the incident, the rules' findings and the evidence, cut to a
character budget by priority — the incident, then the findings, then the evidence they cite,
then the rest — never in the middle of an item. Everything is redacted. The model only has to
explain: the facts are already in front of it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from awoooi.core.redact import redact
from awoooi.diagnosis.model import Cause, Investigation

DEFAULT_MAX_CHARS = 16_000
MAX_SUMMARY = 8_000
MAX_LIST = 20
_PLAYBOOK_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_EVIDENCE_ID = re.compile(r"^\[?(e\d{1,5})\]?$")

SYSTEM_PROMPT = (
    "You are an SRE assistant explaining a Kubernetes incident to the on-call engineer.\n"
    "awoooi has already collected the evidence from the cluster (each piece has an id such as "
    "e3) and its rules have named the likely causes (findings, most likely first). Explain what "
    "most likely happened and why, using only this evidence; say so when it does not suffice.\n"
    "Answer with one JSON object and nothing else:\n"
    '{"summary": "<one paragraph>", "cause": "<one code>", "evidence": ["<id>", ...], '
    '"probable_causes": ["<cause>", ...], "suggested_playbooks": ["<playbook id>", ...], '
    '"confidence": <0..1>}\n'
    "cause is one of: " + ", ".join(c.value for c in Cause) + ".\n"
    "evidence lists the ids you relied on. Explain; do not write commands to run: a human and "
    "awoooi's fixed playbooks decide any action."
)


@dataclass(frozen=True)
class Prompt:
    """A prompt ready for the router: system and user text, and which evidence made it in."""

    system: str
    text: str
    included: tuple[str, ...]
    omitted: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.system) + len(self.text)


def _incident_lines(incident: Mapping[str, Any]) -> list[str]:
    lines = []
    for key, value in incident.items():
        if isinstance(value, Mapping):
            inner = ", ".join(f"{k}={v}" for k, v in value.items())
            lines.append(f"{key}: {inner}")
        elif isinstance(value, list | tuple):
            lines.append(f"{key}: {', '.join(str(v) for v in value)}")
        elif value not in (None, ""):
            lines.append(f"{key}: {value}")
    return lines


def build_prompt(
    investigation: Investigation,
    incident: Mapping[str, Any],
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
    system: str = SYSTEM_PROMPT,
) -> Prompt:
    """The redacted prompt, at most `max_chars` in all, whole items kept by priority."""
    # Priority: the incident, the findings, the evidence they cite, then the rest.
    target = investigation.target
    head = ["Incident:", f"target: {target}"] + [redact(x) for x in _incident_lines(incident)]
    findings = [
        redact(
            f"{n}. {f.cause.value} (confidence {f.confidence:.2f}): {f.summary}"
            + (f" [evidence: {', '.join(f.evidence)}]" if f.evidence else "")
        )
        for n, f in enumerate(investigation.findings, 1)
    ]
    budget = max_chars - len(system)
    # An item many times the budget cannot fit, whatever redaction takes out: not redacted.
    evidence = {
        e.id: redact(f"[{e.id}] ({e.source}) {e.text}") if len(e.text) <= 4 * budget else e.text
        for e in investigation.evidence
    }
    cited = [i for f in investigation.findings for i in f.evidence if i in evidence]
    order = list(dict.fromkeys([*cited, *evidence]))
    closing = "Answer with the JSON object described."

    def assemble(kept_findings: list[str], kept: list[str]) -> str:
        """The prompt text with these findings and evidence (the omission note included)."""
        parts = ["\n".join(head)]
        if kept_findings:
            parts.append(
                "Findings of awoooi's rules (most likely first):\n" + "\n".join(kept_findings)
            )
        if kept:
            ids = sorted(kept, key=_number)
            parts.append("Evidence:\n" + "\n".join(evidence[i] for i in ids))
        left = [i for i in evidence if i not in kept]
        if left:
            parts.append(
                f"({len(left)} more pieces of evidence left out to fit the prompt: "
                f"{', '.join(left[:40])}{' …' if len(left) > 40 else ''})"
            )
        parts.append(closing)
        return "\n\n".join(parts)

    # The fixed parts: headings, the omission note (at its longest) and the closing line.
    reserve = 200 + min(len(evidence), 40) * 8
    room = budget - reserve
    while head and sum(len(line) + 1 for line in head) > room:
        head.pop()  # an enormous alert: its last labels go first
    room -= sum(len(line) + 1 for line in head)
    kept_findings: list[str] = []
    for line in findings:
        if len(line) + 1 <= room:
            kept_findings.append(line)
            room -= len(line) + 1
    kept: list[str] = []
    for evidence_id in order:
        cost = len(evidence[evidence_id]) + 1
        if cost <= room and len(evidence[evidence_id]) <= 4 * budget:
            kept.append(evidence_id)
            room -= cost
    text = redact(assemble(kept_findings, kept))
    while len(text) > budget and (kept or kept_findings):
        # Redacting the whole can only grow it past the budget by a few characters: drop the
        # least important item and try again.
        if kept:
            kept.pop()
        else:
            kept_findings.pop()
        text = redact(assemble(kept_findings, kept))
    omitted = tuple(i for i in evidence if i not in kept)
    return Prompt(system, text, tuple(sorted(kept, key=_number)), omitted)


def _number(evidence_id: str) -> int:
    digits = evidence_id.lstrip("e")
    return int(digits) if digits.isdigit() else 0


@dataclass(frozen=True)
class ModelAnswer:
    """The model's answer: today's JSON fields plus a taxonomy `cause` and evidence ids."""

    summary: str
    probable_causes: list[str] = field(default_factory=list)
    suggested_playbooks: list[str] = field(default_factory=list)
    confidence: float | None = None
    cause: Cause | None = None
    evidence: list[str] = field(default_factory=list)
    structured: bool = True

    def to_json(self) -> dict[str, Any]:
        """The answer as JSON (the cause as its code, or null)."""
        return {
            "summary": self.summary,
            "cause": self.cause.value if self.cause else None,
            "evidence": list(self.evidence),
            "probable_causes": list(self.probable_causes),
            "suggested_playbooks": list(self.suggested_playbooks),
            "confidence": self.confidence,
            "structured": self.structured,
        }


def _first_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in the text (code fences or prose around it are fine)."""
    decoder = json.JSONDecoder()
    position = text.find("{")
    while position != -1:
        try:
            value, _ = decoder.raw_decode(text, position)
        except ValueError:
            position = text.find("{", position + 1)
            continue
        if isinstance(value, dict):
            return value
        position = text.find("{", position + 1)
    return None


def _items(value: Any) -> list[Any]:
    """A list field: a lone string is one item (not its characters), anything else none."""
    if isinstance(value, str):
        return [value]
    return [item for item in value if item is not None] if isinstance(value, list) else []


def _confidence(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0 <= value <= 1 else None


def _cause(value: Any) -> Cause | None:
    """A taxonomy code ("oom killed" and "OOM-KILLED" spell OOM_KILLED); anything else None."""
    if not isinstance(value, str):
        return None
    code = re.sub(r"[\s\-]+", "_", value.strip()).upper()
    return Cause.__members__.get(code)


def parse_model_answer(text: str, evidence_ids: Collection[str]) -> ModelAnswer:
    """The model's JSON answer (else its text); unknown causes and evidence ids dropped."""
    clean = redact(text).strip()
    data = _first_json_object(clean)
    if data is None:
        return ModelAnswer(summary=clean[:MAX_SUMMARY], structured=False)
    known = set(evidence_ids)
    cited = []
    for item in _items(data.get("evidence")):
        match = _EVIDENCE_ID.match(str(item).strip())
        if match and match.group(1) in known and match.group(1) not in cited:
            cited.append(match.group(1))
    summary = str(data.get("summary") or "").strip()
    return ModelAnswer(
        summary=(summary or clean)[:MAX_SUMMARY],
        probable_causes=[str(c)[:500] for c in _items(data.get("probable_causes"))][:MAX_LIST],
        suggested_playbooks=[
            str(p)
            for p in _items(data.get("suggested_playbooks"))
            if _PLAYBOOK_ID.fullmatch(str(p))
        ][:MAX_LIST],
        confidence=_confidence(data.get("confidence")),
        cause=_cause(data.get("cause")),
        evidence=cited[:MAX_LIST],
    )

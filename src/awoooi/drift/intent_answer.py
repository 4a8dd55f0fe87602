"""The local model's answer, checked: one JSON object with a known intent and an explanation, and
nothing anywhere that looks like a command (the answer is text for humans only)."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from awoooi.drift.intent import DriftIntent

MAX_EXPLANATION_CHARS = 1000
MAX_ANSWER_CHARS = 20000  # an answer this long is not the one JSON object asked for
DEFAULT_CONFIDENCE = 0.5

_FENCE = re.compile(r"```[A-Za-z]*")
_WHITESPACE = re.compile(r"\s+")
_COMMAND_LIKE = re.compile(
    r"(?i)(?<![a-z0-9-])kubectl\s|(?<![a-z0-9-])helm\s|(?<![a-z0-9-])oc\s|\$\s|\$\("
    r"|(?<![a-z0-9-])sudo\s|(?<![a-z0-9-])rm\s+-|(?<![a-z0-9-])curl\s|`|&&|\|\s*(?:ba|z)?sh\b"
)
_ANSWER_KEYS = frozenset({"intent", "explanation", "confidence"})


def _json_objects(text: str) -> list[tuple[dict[str, Any], int, int]]:
    """Every top-level JSON object in the text, with where it starts and ends."""
    decoder = json.JSONDecoder()
    found: list[tuple[dict[str, Any], int, int]] = []
    position = text.find("{")
    while position != -1:
        try:
            value, end = decoder.raw_decode(text, position)
        except ValueError:
            position = text.find("{", position + 1)
            continue
        if isinstance(value, dict):
            found.append((value, position, end))
        position = text.find("{", end)
    return found


def _confidence(value: Any) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return DEFAULT_CONFIDENCE
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return DEFAULT_CONFIDENCE
    return min(1.0, max(0.0, float(value)))


def parse_answer(text: str) -> tuple[DriftIntent, str, float] | None:
    """(intent, explanation, confidence) from the model's one JSON object; None when unusable."""
    if len(text) > MAX_ANSWER_CHARS:
        return None
    objects = _json_objects(text)
    if len(objects) != 1:
        return None
    data, start, end = objects[0]
    # The model must never hand over something to run: no extra keys, no commands anywhere.
    if set(data) - _ANSWER_KEYS:
        return None
    around = _FENCE.sub(" ", text[:start] + " " + text[end:])
    if _COMMAND_LIKE.search(_WHITESPACE.sub(" ", around)):
        return None
    raw_intent = data.get("intent")
    if not isinstance(raw_intent, str):
        return None
    name = re.sub(r"[\s-]+", "_", raw_intent.strip()).upper()
    if name not in DriftIntent.__members__:
        return None
    explanation = data.get("explanation")
    if not isinstance(explanation, str):
        return None
    explanation = _WHITESPACE.sub(" ", explanation).strip()
    if not explanation or _COMMAND_LIKE.search(explanation):
        return None
    if len(explanation) > MAX_EXPLANATION_CHARS:
        explanation = explanation[: MAX_EXPLANATION_CHARS - 1].rstrip() + "…"
    return DriftIntent[name], explanation, _confidence(data.get("confidence", DEFAULT_CONFIDENCE))

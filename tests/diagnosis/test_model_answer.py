"""What the model says, read as the diagnosis answer: JSON (fenced, in prose) or plain text;
list fields, playbook ids and sizes checked (carried over from the first diagnosis parser)."""

from __future__ import annotations

import json

import pytest

from awoooi.diagnosis.prompt import ModelAnswer, parse_model_answer

DIAGNOSIS = {
    "summary": "The checkout pod is OOM-killed: its memory limit is below its working set.",
    "probable_causes": ["memory limit 256Mi too low", "traffic spike"],
    "suggested_playbooks": ["restart-pod", "Not A Playbook!", "scale-deployment"],
    "confidence": 0.8,
}


def parse(text: str) -> ModelAnswer:
    return parse_model_answer(text, ["e1", "e2"])


def test_parse_plain_json() -> None:
    diagnosis = parse(json.dumps(DIAGNOSIS))
    assert diagnosis.structured
    assert diagnosis.summary == DIAGNOSIS["summary"]
    assert diagnosis.probable_causes == DIAGNOSIS["probable_causes"]
    assert diagnosis.suggested_playbooks == ["restart-pod", "scale-deployment"]
    assert diagnosis.confidence == 0.8


def test_parse_fenced_json() -> None:
    text = "```json\n" + json.dumps(DIAGNOSIS, indent=2) + "\n```"
    diagnosis = parse(text)
    assert diagnosis.structured
    assert diagnosis.summary == DIAGNOSIS["summary"]
    assert diagnosis.confidence == 0.8


def test_parse_prose_around_json() -> None:
    text = (
        "Sure! Here is my analysis of the incident.\n\n"
        + json.dumps(DIAGNOSIS)
        + "\n\nLet me know if you need anything else."
    )
    diagnosis = parse(text)
    assert diagnosis.structured
    assert diagnosis.probable_causes == DIAGNOSIS["probable_causes"]


@pytest.mark.parametrize(
    "text",
    [
        "The pod is crash looping because its liveness probe fails. Increase the timeout.",
        "{not json at all}",
        '["a", "list", "not", "an", "object"]',
        '{"summary": "cut off in the mid',
    ],
)
def test_parse_non_json_is_unstructured_text(text: str) -> None:
    diagnosis = parse(text)
    assert not diagnosis.structured
    assert diagnosis.summary == text.strip()
    assert diagnosis.probable_causes == []
    assert diagnosis.suggested_playbooks == []
    assert diagnosis.confidence is None


def test_parse_drops_invalid_playbook_ids() -> None:
    answer = {
        "summary": "s",
        "suggested_playbooks": [
            "restart-pod",
            "rm -rf /",
            "Restart-Pod",
            "x" * 65,
            "../etc/passwd",
            "drain.node_v2",
            "kubectl delete ns shop",
            "scale-up\n",  # `$` alone would let a trailing newline through
            None,
            7,
        ],
    }
    assert parse(json.dumps(answer)).suggested_playbooks == [
        "restart-pod",
        "drain.node_v2",
        "7",
    ]


def test_parse_without_summary_keeps_the_text() -> None:
    text = json.dumps({"probable_causes": ["x"]})
    diagnosis = parse(text)
    assert diagnosis.structured
    assert diagnosis.summary == text
    assert diagnosis.probable_causes == ["x"]


def test_parse_a_lone_string_is_one_item_not_characters() -> None:
    answer = {"summary": "s", "probable_causes": "disk full", "suggested_playbooks": "restart-pod"}
    diagnosis = parse(json.dumps(answer))
    assert diagnosis.structured
    assert diagnosis.probable_causes == ["disk full"]
    assert diagnosis.suggested_playbooks == ["restart-pod"]


def test_parse_null_fields_are_missing() -> None:
    text = json.dumps({"summary": None, "probable_causes": None, "suggested_playbooks": None})
    diagnosis = parse(text)
    assert diagnosis.structured
    assert diagnosis.summary == text  # not "None"
    assert diagnosis.probable_causes == []
    assert diagnosis.suggested_playbooks == []


def test_parse_caps_sizes() -> None:
    answer = {
        "summary": "s" * 20000,
        "probable_causes": [f"cause {i} " + "c" * 600 for i in range(50)],
        "suggested_playbooks": [f"playbook-{i}" for i in range(50)],
    }
    diagnosis = parse(json.dumps(answer))
    assert diagnosis.structured
    assert len(diagnosis.summary) == 8000
    assert len(diagnosis.probable_causes) == 20
    assert all(len(cause) <= 500 for cause in diagnosis.probable_causes)
    assert len(diagnosis.suggested_playbooks) == 20

"""The prompt budget (a 5 MB log is cut, findings kept, no item cut in the middle), redaction,
and reading the model's answer (unknown causes and evidence ids dropped, the text kept)."""

from __future__ import annotations

from awoooi.diagnosis.model import Cause, Evidence, Finding, Investigation, Target
from awoooi.diagnosis.prompt import SYSTEM_PROMPT, build_prompt, parse_model_answer

TARGET = Target("Deployment", "shop", "api")
INCIDENT = {
    "alert": "KubePodCrashLooping",
    "severity": "warning",
    "labels": {"namespace": "shop", "pod": "api-7d9f8-abcde"},
}


def investigation(*, log_size: int = 5_000_000) -> Investigation:
    evidence = [
        Evidence("e1", "workload", "Deployment shop/api: 2 desired, 0 ready"),
        Evidence(
            "e2",
            "pods",
            "Pod shop/api-7d9f8-abcde: waiting CrashLoopBackOff; last "
            "terminated OOMKilled, exit code 137; limits memory=512Mi",
        ),
        Evidence("e3", "logs", "log of pod api:\n" + ("GC overhead " * (log_size // 12))),
        Evidence("e4", "events", "Warning BackOff x40 on Pod api-7d9f8-abcde"),
        Evidence("e5", "nodes", "Node node-1: Ready=True KubeletReady"),
    ]
    findings = [
        Finding(
            Cause.OOM_KILLED, "container api was OOMKilled; memory limit 512Mi", 0.95, ("e2", "e4")
        ),
        Finding(Cause.APP_CRASH, "container api exits with code 137", 0.4, ("e2", "e3")),
    ]
    return Investigation(TARGET, evidence, findings)


def test_a_huge_log_is_left_out_whole_and_the_findings_kept() -> None:
    prompt = build_prompt(investigation(), INCIDENT, max_chars=16_000)

    assert len(prompt) <= 16_000
    assert prompt.system == SYSTEM_PROMPT
    assert "1. OOM_KILLED (confidence 0.95)" in prompt.text
    assert "2. APP_CRASH" in prompt.text
    assert "e3" in prompt.omitted
    assert "GC overhead" not in prompt.text  # not a cut-off piece of it either
    assert prompt.included == ("e1", "e2", "e4", "e5")
    assert "left out to fit the prompt: e3" in prompt.text


def test_every_included_item_is_whole() -> None:
    inv = investigation(log_size=3_000)
    for budget in (2_500, 3_000, 4_000, 6_000, 9_000):
        prompt = build_prompt(inv, INCIDENT, max_chars=budget)
        assert len(prompt) <= budget
        for item in inv.evidence:
            rendered = f"[{item.id}] ({item.source}) {item.text}"
            if item.id in prompt.included:
                assert rendered in prompt.text
            else:
                assert f"[{item.id}] (" not in prompt.text


def test_cited_evidence_comes_before_the_rest() -> None:
    inv = investigation(log_size=200)
    size = {e.id: len(e.text) for e in inv.evidence}
    seen = set()
    for budget in range(len(SYSTEM_PROMPT) + 300, len(SYSTEM_PROMPT) + 2_000, 20):
        included = set(build_prompt(inv, INCIDENT, max_chars=budget).included)
        seen.add(frozenset(included))
        # An uncited piece only takes room a cited piece was too large for.
        for extra in included & {"e1", "e5"}:
            for cited in {"e2", "e3", "e4"} - included:
                assert size[cited] > size[extra]
    assert frozenset({"e2", "e4"}) in seen  # some budget holds just the top finding's evidence
    assert frozenset({"e1", "e2", "e3", "e4", "e5"}) in seen


def test_an_enormous_alert_loses_labels_before_findings() -> None:
    incident = {"alert": "X", "labels": {f"label_{n}": "v" * 200 for n in range(400)}}

    prompt = build_prompt(investigation(log_size=100), incident, max_chars=8_000)

    assert len(prompt) <= 8_000
    assert "OOM_KILLED" in prompt.text


def test_the_prompt_is_redacted() -> None:
    inv = investigation(log_size=100)
    inv.evidence.append(Evidence("e6", "logs", "retrying with password=Sup3rS3cret!x"))
    incident = {
        **INCIDENT,
        "annotations": {"description": "token ghp_R8mK2xT5qW9zL4vN7cB1hJ6dF3sY0uE"},
    }

    prompt = build_prompt(inv, incident, max_chars=50_000)

    assert "Sup3rS3cret" not in prompt.text
    assert "ghp_R8mK2" not in prompt.text
    assert "[REDACTED:" in prompt.text


def test_the_answer_keeps_known_causes_and_ids_only() -> None:
    text = (
        "Here is my analysis:\n```json\n"
        '{"summary": "The container ran out of memory.", "cause": "oom killed", '
        '"evidence": ["e2", "[e4]", "e99", 7, "e2"], "probable_causes": "memory leak", '
        '"suggested_playbooks": ["restart-pod", "rm -rf /"], "confidence": 0.8}\n```'
    )

    answer = parse_model_answer(text, {"e1", "e2", "e4"})

    assert answer.summary == "The container ran out of memory."
    assert answer.cause is Cause.OOM_KILLED
    assert answer.evidence == ["e2", "e4"]
    assert answer.probable_causes == ["memory leak"]
    assert answer.suggested_playbooks == ["restart-pod"]
    assert answer.confidence == 0.8
    assert answer.structured


def test_a_cause_outside_the_taxonomy_is_dropped_not_the_answer() -> None:
    answer = parse_model_answer(
        '{"summary": "Cosmic rays.", "cause": "SOLAR_FLARE", "confidence": "high"}', ["e1"]
    )

    assert answer.cause is None
    assert answer.summary == "Cosmic rays."
    assert answer.confidence is None
    assert answer.to_json()["cause"] is None


def test_prose_without_json_is_kept_as_the_summary() -> None:
    answer = parse_model_answer("It looks like an OOM kill; token=abcdef0123456789", ["e1"])

    assert not answer.structured
    assert answer.summary.startswith("It looks like an OOM kill")
    assert "abcdef0123456789" not in answer.summary
    assert answer.cause is None
    assert answer.evidence == []

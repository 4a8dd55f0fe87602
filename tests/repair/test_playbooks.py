"""Playbooks: the shipped ones load, bad files are refused at load with file:line: field, the
catalog matches and orders, plans resolve placeholders safely, and the digest tracks content."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from awoooi.core.errors import ConfigError
from awoooi.incidents.models import Incident
from awoooi.repair.actions import DeletePodParams, HttpParams
from awoooi.repair.playbooks import (
    MAX_PLAYBOOK_BYTES,
    Playbook,
    PlaybookCatalog,
    PlaybookError,
    PlaybookProblem,
    UnresolvedPlaceholder,
    load_catalog,
    parse_playbooks,
    resolve_plan,
    validate_directory,
)
from awoooi.repair.settings import RepairSettings
from awoooi.runtime import Runtime
from tests.conftest import make_settings

HOOKS = "hooks.example.com"
POLICY = RepairSettings(http_allowed_hosts=[HOOKS])

VALID_TWO = """\
# two playbooks in one file
id: first
name: First
match:
  signals: [KubePodCrashLooping]
risk: low
steps:
  - action: kube.rollout_restart
    timeout: 30s
---
id: second
name: Second
match:
  labels: {team: payments}
target: null
risk: medium
steps:
  - action: http.request
    params:
      method: post
      url: "https://hooks.example.com/heal/${service}"
      expect_status: 202
  - action: wait
    params: {seconds: 5}
    timeout: 1m
verify: {wait: 10s, check: alert_resolved, timeout: 5m}
cooldown: 1h30m
"""


def one(step: str, *, head: str = "", tail: str = "") -> str:
    """A playbook document whose single step is `step` (indented under `steps:` at line 8)."""
    return (
        "id: probe\n"  # 1
        "name: Probe\n"  # 2
        "match:\n"  # 3
        "  signals: [X]\n"  # 4
        f"{head}"
        "risk: low\n"
        "steps:\n" + textwrap.indent(textwrap.dedent(step), "  ") + tail
    )


def problems_of(text: str, policy: RepairSettings = POLICY) -> list[PlaybookProblem]:
    playbooks, problems = parse_playbooks(text, "pb.yaml", policy)
    assert playbooks == [], "an invalid playbook must not load"
    assert problems, "an invalid playbook must report a problem"
    return problems


def only(text: str, policy: RepairSettings = POLICY) -> PlaybookProblem:
    problems = problems_of(text, policy)
    assert len(problems) == 1, [str(problem) for problem in problems]
    return problems[0]


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing `needle`."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in text")


def incident(
    *,
    labels: dict[str, str] | None = None,
    symptoms: dict[str, Any] | None = None,
    services: list[str] | None = None,
    namespace: str | None = "prod",
    human_id: str = "INC-0042",
) -> Incident:
    return Incident(
        id=42,
        human_id=human_id,
        labels=labels if labels is not None else {},
        symptoms=symptoms if symptoms is not None else {},
        affected_services=services if services is not None else [],
        namespace=namespace,
        symptoms_hash="0123456789abcdef",
    )


def playbook(**values: Any) -> Playbook:
    data: dict[str, Any] = {
        "id": "pb",
        "name": "PB",
        "match": {"signals": ["X"]},
        "risk": "low",
        "steps": [{"action": "kube.rollout_restart"}],
    }
    data.update(values)
    return Playbook.model_validate(data)


# ---------------------------------------------------------------- shipped defaults


def test_shipped_defaults_load() -> None:
    catalog = load_catalog(RepairSettings())
    ids = {p.id for p in catalog.playbooks}
    assert {
        "restart-crashloop",
        "scale-up-saturation",
        "rollback-bad-rollout",
        "delete-stuck-pod",
    } <= ids
    rollback = catalog.get("rollback-bad-rollout")
    assert rollback is not None
    assert rollback.requires_approval
    assert rollback.risk == "high"
    restart = catalog.get("restart-crashloop")
    assert restart is not None
    assert restart.source == "<builtin>/restart-crashloop.yaml"
    assert not restart.requires_approval
    assert [step.action for step in restart.steps] == ["kube.rollout_restart"]


def test_shipped_defaults_can_be_left_out() -> None:
    assert load_catalog(RepairSettings(include_default_playbooks=False)).playbooks == []


def test_shipped_scale_playbook_is_refused_under_a_lower_ceiling() -> None:
    """The shipped scale-up caps at 10; a repair.max_replicas of 5 refuses it at load."""
    with pytest.raises(PlaybookError, match=r"scale-up-saturation\.yaml:\d+: .*max_replicas 10"):
        load_catalog(RepairSettings(max_replicas=5))


# ---------------------------------------------------------------- parsing: the good case


def test_valid_multi_document_file() -> None:
    playbooks, problems = parse_playbooks(VALID_TWO, "two.yaml", POLICY)
    assert problems == []
    assert [p.id for p in playbooks] == ["first", "second"]
    first, second = playbooks
    assert first.source == "two.yaml"
    assert first.target is not None
    assert (first.target.kind, first.target.name, first.target.namespace) == (
        "Deployment",
        "${service}",
        "${namespace}",
    )
    assert first.steps[0].timeout == 30
    assert second.target is None
    assert second.cooldown == 5400
    assert second.verify.wait == 10
    assert second.verify.timeout == 300
    assert second.steps[1].timeout == 60


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("---\n" + VALID_TWO, 2),
        (VALID_TWO + "---\n", 2),
        ("---\n---\n" + VALID_TWO + "---\n# nothing here\n---\n", 2),
        ("", 0),
        ("# only a comment\n", 0),
    ],
)
def test_empty_documents_are_skipped(text: str, count: int) -> None:
    """A leading or trailing `---` (common in YAML files) is an empty document, not an error."""
    playbooks, problems = parse_playbooks(text, "x.yaml", POLICY)
    assert problems == []
    assert len(playbooks) == count


def test_good_documents_load_next_to_a_bad_one() -> None:
    text = VALID_TWO + "---\nid: third\nname: Third\nmatch: {signals: [Y]}\nsteps: []\n"
    playbooks, problems = parse_playbooks(text, "mixed.yaml", POLICY)
    assert [p.id for p in playbooks] == ["first", "second"]
    assert {problem.field for problem in problems} == {"risk", "steps"}
    assert all(
        problem.line == line_of(text, "id: third")
        for problem in problems
        if problem.field == "risk"
    )


# ---------------------------------------------------------------- parsing: refused at load


def test_unknown_action_names_the_action_line() -> None:
    text = one("- action: kube.explode\n  timeout: 5s\n")
    problem = only(text)
    assert problem.file == "pb.yaml"
    assert problem.line == line_of(text, "action: kube.explode")
    assert problem.field == "steps[0].action"
    assert "unknown action 'kube.explode'" in problem.message
    assert str(problem) == f"pb.yaml:{problem.line}: steps[0].action: {problem.message}"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("{delta: 1, max_replicas: 500}", "max_replicas 500 is above repair.max_replicas (50)"),
        ("{replicas: 20, max_replicas: 10}", "replicas 20 is outside [1, 10]"),
        ("{replicas: 0, min_replicas: 1}", "replicas 0 is outside [1, 50]"),
        ("{delta: 0}", "delta 0 must be non-zero"),
        ("{delta: 60}", "delta 60 must be non-zero and at most 50"),
        ("{delta: 1, replicas: 3}", "exactly one of replicas or delta"),
        ("{min_replicas: 8, max_replicas: 4, delta: 1}", "min_replicas 8 is above max_replicas 4"),
    ],
)
def test_out_of_bounds_scale_is_refused_at_load(params: str, message: str) -> None:
    text = one(f"- action: kube.scale\n  params: {params}\n")
    problem = only(text)
    assert problem.line == line_of(text, "params:")
    assert problem.field == "steps[0].params"
    assert message in problem.message
    assert str(problem).startswith(f"pb.yaml:{problem.line}: steps[0].params: ")


def test_scale_ceiling_follows_the_settings() -> None:
    text = one("- action: kube.scale\n  params: {delta: 1, max_replicas: 500}\n")
    playbooks, problems = parse_playbooks(text, "pb.yaml", RepairSettings(max_replicas=1000))
    assert problems == []
    assert len(playbooks) == 1


def test_missing_risk() -> None:
    text = "id: probe\nname: Probe\nmatch: {signals: [X]}\nsteps:\n  - action: kube.rollout_undo\n"
    problem = only(text)
    assert (problem.line, problem.field) == (1, "risk")
    assert str(problem) == "pb.yaml:1: risk: Field required"


def test_unknown_top_level_key_is_a_typo() -> None:
    text = one("- action: kube.rollout_restart\n", head="cooldwn: 5m\n")
    problem = only(text)
    assert problem.line == line_of(text, "cooldwn")
    assert problem.field == "cooldwn"
    assert "Extra inputs are not permitted" in problem.message


def test_unknown_param_is_a_typo() -> None:
    text = one("- action: kube.delete_pod\n  params:\n    pod: web-1\n    grace: 3\n")
    problem = only(text)
    assert problem.line == line_of(text, "grace: 3")
    assert problem.field == "steps[0].params.grace"


@pytest.mark.parametrize("value", ["5 minutes", "5d", "-5s", "1h30x", "''"])
def test_bad_duration(value: str) -> None:
    text = one("- action: kube.rollout_restart\n", head=f"cooldown: {value}\n")
    problem = only(text)
    assert problem.line == line_of(text, "cooldown:")
    assert problem.field == "cooldown"


def test_step_timeout_duration_and_bounds() -> None:
    text = one("- action: kube.rollout_restart\n  timeout: 2h\n")
    problem = only(text)
    assert problem.line == line_of(text, "timeout: 2h")
    assert problem.field == "steps[0].timeout"
    assert "at most 1h" in problem.message


def test_unknown_placeholder_in_target() -> None:
    text = one("- action: kube.rollout_restart\n", head="target: {name: '${foo}'}\n")
    problem = only(text)
    assert problem.line == line_of(text, "target:")
    assert problem.field == "target.name"
    assert "unknown placeholder ${foo}" in problem.message


@pytest.mark.parametrize(
    "step",
    [
        "- action: kube.delete_pod\n  params: {pod: '${foo}'}\n",
        "- action: http.request\n  params: {url: 'https://hooks.example.com/x/${foo}'}\n",
    ],
)
def test_unknown_placeholder_in_step_params(step: str) -> None:
    text = one(step)
    problem = only(text)
    assert problem.line == line_of(text, "${foo}")
    assert problem.field.startswith("steps[0].params")
    assert "unknown placeholder ${foo}" in problem.message


def test_patch_outside_the_allow_list() -> None:
    text = one(
        """\
        - action: kube.patch
          params:
            patch:
              spec:
                template:
                  spec:
                    containers:
                      - name: app
                        securityContext:
                          privileged: true
        """
    )
    problem = only(text)
    # The line of the patch's value: its first key.
    assert problem.line == line_of(text, "patch:") + 1
    assert problem.field == "steps[0].params.patch"
    assert "spec.template.spec.containers[].securityContext.privileged" in problem.message
    assert "repair.patch_allowed_fields" in problem.message


def test_patch_directive_is_refused() -> None:
    text = one(
        """\
        - action: kube.patch
          params:
            patch:
              spec:
                template:
                  spec:
                    containers:
                      - name: app
                        $patch: delete
        """
    )
    problem = only(text)
    assert problem.field == "steps[0].params.patch"
    assert "$patch" in problem.message


def test_allow_listed_patch_loads() -> None:
    text = one(
        """\
        - action: kube.patch
          params:
            patch:
              spec:
                template:
                  metadata: {annotations: {example.com/why: oom}}
                  spec:
                    containers:
                      - name: app
                        resources: {limits: {memory: 1Gi}}
        """
    )
    playbooks, problems = parse_playbooks(text, "pb.yaml", POLICY)
    assert problems == []
    assert len(playbooks) == 1


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "https://evil.example.net/x",
            "host 'evil.example.net' is not in repair.http_allowed_hosts",
        ),
        ("https://${service}.example.com/x", "not a ${...} placeholder"),
        ("https://hooks.example.com${labels.x}/x", "not a ${...} placeholder"),
        ("https://user:secret@hooks.example.com/x", "credentials in the url are not allowed"),
        ("ftp://hooks.example.com/x", "http:// or https://"),
        ("https://hooks.example.com.evil.net/x", "not in repair.http_allowed_hosts"),
        ("https://127.0.0.1/x", "not in repair.http_allowed_hosts"),
    ],
)
def test_http_url_is_checked_at_load(url: str, message: str) -> None:
    text = one(f"- action: http.request\n  params:\n    url: '{url}'\n", head="target: null\n")
    problem = only(text)
    assert problem.line == line_of(text, "url:")
    assert problem.field == "steps[0].params.url"
    assert message in problem.message


def test_http_allow_list_entry_with_port() -> None:
    # A bare host allows any port; a host:port entry allows that port only.
    any_port = one(
        "- action: http.request\n  params: {url: 'https://hooks.example.com:8443/x'}\n",
        head="target: null\n",
    )
    assert parse_playbooks(any_port, "pb.yaml", POLICY)[1] == []
    policy = RepairSettings(http_allowed_hosts=["hooks.example.com:8443"])
    good = one(
        "- action: http.request\n  params: {url: 'https://hooks.example.com:8443/x'}\n",
        head="target: null\n",
    )
    assert parse_playbooks(good, "pb.yaml", policy)[1] == []
    other_port = one(
        "- action: http.request\n  params: {url: 'https://hooks.example.com/x'}\n",
        head="target: null\n",
    )
    assert only(other_port, policy).field == "steps[0].params.url"


def test_wait_longer_than_its_timeout() -> None:
    text = one("- action: wait\n  params: {seconds: 90}\n  timeout: 1m\n")
    problem = only(text)
    assert problem.line == line_of(text, "timeout: 1m")
    assert problem.field == "steps[0].timeout"
    assert "must be longer than the wait (90s)" in problem.message
    # The default timeout (60 s) is too short for a 60 s wait as well.
    assert only(one("- action: wait\n  params: {seconds: 60}\n")).field == "steps[0].timeout"


def test_verify_timeout_shorter_than_its_wait() -> None:
    text = one(
        "- action: kube.rollout_restart\n",
        tail="verify:\n  wait: 10m\n  check: alert_resolved\n  timeout: 5m\n",
    )
    problem = only(text)
    assert problem.line == line_of(text, "wait: 10m")
    assert problem.field == "verify"
    assert "verify.timeout must not be shorter than verify.wait" in problem.message


def test_kube_action_with_null_target() -> None:
    text = one("- action: kube.rollout_restart\n", head="target: null\n")
    problem = only(text)
    assert problem.file == "pb.yaml"
    assert problem.line is not None
    assert "kube.rollout_restart needs a target, and target is null" in problem.message
    assert str(problem).startswith(f"pb.yaml:{problem.line}: ")


def test_kube_action_with_null_target_names_the_field() -> None:
    text = one("- action: kube.rollout_restart\n", head="target: null\n")
    problem = only(text)
    assert (problem.line, problem.field) == (line_of(text, "target: null"), "target")


def test_broken_yaml_reports_the_line() -> None:
    text = "id: probe\nname: Probe\nmatch: {signals: [X]\nrisk: low\n"
    problem = only(text)
    assert problem.line == 4
    assert problem.field == ""
    assert problem.message.startswith("not valid YAML: ")
    assert str(problem) == f"pb.yaml:4: {problem.message}"


def test_tabs_are_broken_yaml() -> None:
    text = "id: probe\nname: Probe\nmatch:\n\tsignals: [X]\n"
    problem = only(text)
    assert problem.line == 4
    assert "not valid YAML" in problem.message


@pytest.mark.parametrize("document", ["- a\n- b\n", "just text\n", "42\n", "null\n"])
def test_non_mapping_document(document: str) -> None:
    text = VALID_TWO + "---\n" + document
    playbooks, problems = parse_playbooks(text, "pb.yaml", POLICY)
    assert [p.id for p in playbooks] == ["first", "second"]
    assert len(problems) == 1
    assert problems[0].line == len(VALID_TWO.splitlines()) + 2
    assert problems[0].message == "a playbook is a mapping"


def test_no_match_criteria_and_bad_id() -> None:
    text = "id: Bad_ID\nname: x\nmatch: {}\nrisk: low\nsteps:\n  - action: kube.rollout_restart\n"
    problems = problems_of(text)
    by_field = {problem.field: problem for problem in problems}
    assert by_field["id"].line == 1
    assert by_field["match"].line == 3
    assert "at least one of signals" in by_field["match"].message


# ---------------------------------------------------------------- directories


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_validate_directory_reads_yaml_files_recursively(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", VALID_TWO)
    write(
        tmp_path / "sub" / "b.yml",
        VALID_TWO.replace("id: first", "id: third").replace("id: second", "id: fourth"),
    )
    write(tmp_path / "notes.txt", "not: a playbook\n")
    playbooks, problems = validate_directory(tmp_path, POLICY)
    assert problems == []
    assert sorted(p.id for p in playbooks) == ["first", "fourth", "second", "third"]
    assert {p.source for p in playbooks} == {
        str(tmp_path / "a.yaml"),
        str(tmp_path / "sub" / "b.yml"),
    }


def test_validate_directory_reports_file_and_line(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.yaml", one("- action: kube.explode\n"))
    _playbooks, problems = validate_directory(tmp_path, POLICY)
    assert [str(problem) for problem in problems] == [
        f"{bad}:7: steps[0].action: unknown action 'kube.explode'; known: http.request, "
        "kube.delete_pod, kube.patch, kube.rollout_restart, kube.rollout_undo, kube.scale, wait"
    ]


def test_file_over_the_size_cap(tmp_path: Path) -> None:
    big = write(tmp_path / "big.yaml", VALID_TWO + "#" * MAX_PLAYBOOK_BYTES + "\n")
    write(tmp_path / "ok.yaml", one("- action: kube.rollout_restart\n"))
    playbooks, problems = validate_directory(tmp_path, POLICY)
    assert [p.id for p in playbooks] == ["probe"]
    assert len(problems) == 1
    assert problems[0].file == str(big)
    assert problems[0].line is None
    assert f"larger than {MAX_PLAYBOOK_BYTES} bytes" in str(problems[0])


def test_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "latin.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    _playbooks, problems = validate_directory(tmp_path, POLICY)
    assert len(problems) == 1
    assert "cannot read" in problems[0].message


def test_duplicate_ids_across_files_name_both(tmp_path: Path) -> None:
    first = write(tmp_path / "a.yaml", one("- action: kube.rollout_restart\n"))
    second = write(tmp_path / "b.yaml", one("- action: kube.rollout_undo\n"))
    playbooks, problems = validate_directory(tmp_path, POLICY)
    assert [p.source for p in playbooks] == [str(first)]
    assert len(problems) == 1
    text = str(problems[0])
    assert str(first) in text
    assert str(second) in text
    assert problems[0].field == "id"
    assert "'probe'" in text


def test_symlink_out_of_the_directory_is_ignored(tmp_path: Path) -> None:
    inside = tmp_path / "playbooks"
    outside = write(tmp_path / "elsewhere" / "evil.yaml", one("- action: kube.rollout_restart\n"))
    write(inside / "ok.yaml", VALID_TWO)
    os.symlink(outside, inside / "evil.yaml")
    os.symlink(outside.parent, inside / "linked-dir")
    playbooks, problems = validate_directory(inside, POLICY)
    assert problems == []
    assert sorted(p.id for p in playbooks) == ["first", "second"]


def test_symlink_inside_the_directory_is_read(tmp_path: Path) -> None:
    real = write(tmp_path / "real" / "one.yaml", one("- action: kube.rollout_restart\n"))
    os.symlink(real, tmp_path / "real" / "alias.yml")
    playbooks, problems = validate_directory(tmp_path / "real", POLICY)
    # The same file twice: its id is a duplicate, reported, and loaded once.
    assert [p.id for p in playbooks] == ["probe"]
    assert [problem.field for problem in problems] == ["id"]


def test_missing_directory(tmp_path: Path) -> None:
    playbooks, problems = validate_directory(tmp_path / "nope", POLICY)
    assert playbooks == []
    assert [problem.message for problem in problems] == ["not a directory"]


def test_load_catalog_overrides_a_shipped_id(tmp_path: Path) -> None:
    override = write(
        tmp_path / "restart.yaml",
        "id: restart-crashloop\nname: Our restart\nmatch: {signals: [KubePodCrashLooping]}\n"
        "risk: medium\nsteps:\n  - action: kube.rollout_restart\n",
    )
    catalog = load_catalog(RepairSettings(playbooks_dir=tmp_path))
    restart = catalog.get("restart-crashloop")
    assert restart is not None
    assert (restart.name, restart.risk, restart.source) == ("Our restart", "medium", str(override))
    assert len([p for p in catalog.playbooks if p.id == "restart-crashloop"]) == 1
    assert catalog.get("delete-stuck-pod") is not None


def test_load_catalog_with_an_invalid_directory(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.yaml", one("- action: kube.explode\n"))
    with pytest.raises(PlaybookError) as caught:
        load_catalog(RepairSettings(playbooks_dir=tmp_path))
    assert caught.value.detail.startswith(f"1 problem(s) in {tmp_path}: {bad}:7: steps[0].action")
    with pytest.raises(PlaybookError, match="not a directory"):
        load_catalog(RepairSettings(playbooks_dir=tmp_path / "missing"))


def test_runtime_refuses_an_invalid_playbooks_dir(tmp_path: Path) -> None:
    playbooks = tmp_path / "playbooks"
    bad = write(playbooks / "bad.yaml", one("- action: kube.scale\n  params: {delta: 0}\n"))
    settings = make_settings(
        tmp_path / "home",
        f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}",
        repair={"playbooks_dir": playbooks},
    )
    with pytest.raises(ConfigError) as caught:
        Runtime.from_settings(settings)
    assert f"{bad}:8: steps[0].params" in caught.value.detail
    assert caught.value.detail.startswith("repair.playbooks_dir: ")


# ---------------------------------------------------------------- matching


def test_match_by_signal_from_alertname_or_symptoms() -> None:
    pb = playbook(match={"signals": ["KubePodCrashLooping", "Other"]})
    assert pb.matches(incident(labels={"alertname": "KubePodCrashLooping"}))
    assert pb.matches(incident(symptoms={"signal": "Other"}))
    assert not pb.matches(incident(labels={"alertname": "KubePodNotReady"}))
    assert not pb.matches(incident(labels={"signal": "Other"}, symptoms={"alertname": "Other"}))
    assert not pb.matches(incident())


def test_match_by_labels_exact_and_glob() -> None:
    pb = playbook(match={"labels": {"team": "payments", "pod": "web-*"}})
    assert pb.matches(incident(labels={"team": "payments", "pod": "web-7d9f-abcde"}))
    assert not pb.matches(incident(labels={"team": "payments-eu", "pod": "web-1"}))
    assert not pb.matches(incident(labels={"team": "payments", "pod": "api-1"}))
    assert not pb.matches(incident(labels={"team": "payments"}))  # a missing label never matches
    assert not pb.matches(incident(labels={"team": "Payments", "pod": "web-1"}))  # case matters


def test_match_by_services_and_namespaces() -> None:
    services = playbook(match={"services": ["web", "api"]})
    assert services.matches(incident(services=["db", "api"]))
    assert not services.matches(incident(services=["db"]))
    assert not services.matches(incident(services=[]))
    namespaces = playbook(match={"namespaces": ["prod-*", "staging"]})
    assert namespaces.matches(incident(namespace="prod-eu"))
    assert namespaces.matches(incident(namespace="staging"))
    assert not namespaces.matches(incident(namespace="staging-2"))
    assert not namespaces.matches(incident(namespace=None))


def test_every_given_criterion_must_hold() -> None:
    pb = playbook(
        match={
            "signals": ["KubePodCrashLooping"],
            "labels": {"team": "pay*"},
            "services": ["web"],
            "namespaces": ["prod"],
        }
    )
    good = {
        "labels": {"alertname": "KubePodCrashLooping", "team": "payments"},
        "services": ["web"],
        "namespace": "prod",
    }
    assert pb.matches(incident(**good))
    for spoil in (
        {"labels": {"alertname": "Other", "team": "payments"}},
        {"labels": {"alertname": "KubePodCrashLooping", "team": "search"}},
        {"services": ["api"]},
        {"namespace": "dev"},
    ):
        assert not pb.matches(incident(**{**good, **spoil})), spoil


def test_catalog_orders_most_specific_first() -> None:
    broad = playbook(id="broad", match={"signals": ["X"]})
    narrow = playbook(id="narrow", match={"signals": ["X"], "namespaces": ["prod"]})
    narrowest = playbook(
        id="narrowest", match={"signals": ["X"], "namespaces": ["prod"], "services": ["web"]}
    )
    risky_broad = playbook(id="a-risky", match={"signals": ["X"]}, risk="high")
    unrelated = playbook(id="unrelated", match={"signals": ["Y"]})
    catalog = PlaybookCatalog([broad, risky_broad, unrelated, narrow, narrowest])
    x = incident(labels={"alertname": "X"}, services=["web"], namespace="prod")
    # Specificity first, then lower risk, then id.
    assert [p.id for p in catalog.matching(x)] == ["narrowest", "narrow", "broad", "a-risky"]
    assert [
        p.id for p in catalog.matching(incident(labels={"alertname": "X"}, namespace="dev"))
    ] == [
        "broad",
        "a-risky",
    ]
    assert catalog.matching(incident(labels={"alertname": "Z"})) == []
    assert catalog.get("narrow") is narrow
    assert catalog.get("missing") is None


# ---------------------------------------------------------------- plans


def test_resolve_plan_fills_every_placeholder() -> None:
    pb = playbook(
        target={"name": "${service}", "namespace": "${namespace}", "kind": "StatefulSet"},
        steps=[
            {"action": "kube.delete_pod", "params": {"pod": "${labels.pod}"}},
            {
                "action": "http.request",
                "params": {
                    "url": "https://hooks.example.com/ns/${namespace}/svc/${service}?i=${incident}",
                    "headers": {"X-Incident": "${incident}", "X-Pod": "${labels.pod}"},
                    "body": {"incident": "${incident}", "pods": ["${labels.pod}"]},
                },
            },
        ],
    )
    inc = incident(labels={"pod": "db-0"}, services=["db", "web"], namespace="data")
    plan = resolve_plan(pb, inc, POLICY)
    assert plan.target is not None
    assert (plan.target.kind, plan.target.namespace, plan.target.name) == (
        "StatefulSet",
        "data",
        "db",
    )
    assert plan.target_key == "data/StatefulSet/db"
    delete, http = plan.steps
    assert isinstance(delete.params, DeletePodParams)
    assert delete.params.pod == "db-0"
    assert isinstance(http.params, HttpParams)
    assert http.params.url == "https://hooks.example.com/ns/data/svc/db?i=INC-0042"
    assert http.params.headers == {"X-Incident": "INC-0042", "X-Pod": "db-0"}
    assert http.params.body == {"incident": "INC-0042", "pods": ["db-0"]}
    assert [step.position for step in plan.steps] == [0, 1]
    # The playbook itself is untouched.
    assert pb.steps[0].params == {"pod": "${labels.pod}"}


def test_target_key_without_a_target() -> None:
    pb = playbook(
        target=None,
        steps=[{"action": "http.request", "params": {"url": "https://hooks.example.com/x"}}],
    )
    plan = resolve_plan(pb, incident(), POLICY)
    assert plan.target is None
    assert plan.target_key == "playbook/pb"


@pytest.mark.parametrize(
    ("pb_values", "inc", "name"),
    [
        (
            {"steps": [{"action": "kube.delete_pod", "params": {"pod": "${labels.pod}"}}]},
            incident(services=["web"]),
            "labels.pod",
        ),
        ({}, incident(services=[]), "service"),
        ({}, incident(services=["web"], namespace=None), "namespace"),
    ],
)
def test_missing_value_is_unresolved(pb_values: dict[str, Any], inc: Incident, name: str) -> None:
    with pytest.raises(UnresolvedPlaceholder, match=rf"\$\{{{name}\}} has no value"):
        resolve_plan(playbook(**pb_values), inc, POLICY)


@pytest.mark.parametrize(
    ("values", "inc", "message"),
    [
        ({}, incident(services=["UPPER_case"]), "target name 'UPPER_case' is not a valid"),
        ({}, incident(services=["web"], namespace="Prod"), "namespace 'Prod' is not a valid"),
        ({}, incident(services=["../etc"]), "target name '../etc' is not a valid"),
        (
            {"steps": [{"action": "kube.delete_pod", "params": {"pod": "${labels.pod}"}}]},
            incident(services=["web"], labels={"pod": "Pod_1"}),
            r"step 1 \(kube.delete_pod\): .*pod 'Pod_1' is not a valid Kubernetes name",
        ),
        (
            {"steps": [{"action": "kube.delete_pod", "params": {"pod": "${labels.pod}"}}]},
            incident(services=["web"], labels={"pod": ""}),
            r"step 1 \(kube.delete_pod\): String should have at least 1 character",
        ),
    ],
)
def test_invalid_kubernetes_name_after_substitution(
    values: dict[str, Any], inc: Incident, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_plan(playbook(**values), inc, POLICY)


# kube.delete_pod's default `pod: ${labels.pod}` is filled in like a written parameter.
def test_default_pod_placeholder_is_resolved() -> None:
    pb = playbook(steps=[{"action": "kube.delete_pod"}])
    plan = resolve_plan(pb, incident(services=["web"], labels={"pod": "web-1"}), POLICY)
    params = plan.steps[0].params
    assert isinstance(params, DeletePodParams)
    assert params.pod == "web-1"


def test_default_pod_placeholder_without_the_label_is_unresolved() -> None:
    with pytest.raises(UnresolvedPlaceholder):
        resolve_plan(
            playbook(steps=[{"action": "kube.delete_pod"}]), incident(services=["web"]), POLICY
        )


def test_label_cannot_move_a_url_to_another_host_or_path() -> None:
    pb = playbook(
        target=None,
        steps=[
            {
                "action": "http.request",
                "params": {"url": "https://hooks.example.com/heal/${labels.x}?pod=${labels.x}"},
            }
        ],
    )
    for value in ("evil.com/x?y#", "../../admin", "@evil.com", "a b&c=d"):
        url = resolve_plan(pb, incident(labels={"x": value}), POLICY).steps[0].params
        assert isinstance(url, HttpParams)
        parts = urlsplit(url.url)
        assert parts.hostname == HOOKS
        assert parts.path.count("/") == 2, url.url
        assert parts.path.startswith("/heal/")
        assert parts.fragment == ""
        assert "&" not in parts.query
    evil = resolve_plan(pb, incident(labels={"x": "evil.com/x?y#"}), POLICY).steps[0].params
    assert isinstance(evil, HttpParams)
    assert evil.url == "https://hooks.example.com/heal/evil.com%2Fx%3Fy%23?pod=evil.com%2Fx%3Fy%23"


URL_TEMPLATES = [
    "https://hooks.example.com/${labels.x}",
    "https://hooks.example.com/a/${labels.x}/b?q=${labels.x}",
    "https://hooks.example.com?${labels.x}",
    "https://hooks.example.com/#${labels.x}",
    "http://hooks.example.com:80/${labels.x}${labels.x}",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.text(max_size=60), template=st.sampled_from(URL_TEMPLATES))
def test_any_label_text_keeps_the_literal_host(value: str, template: str) -> None:
    pb = playbook(target=None, steps=[{"action": "http.request", "params": {"url": template}}])
    try:
        plan = resolve_plan(pb, incident(labels={"x": value}), POLICY)
    except (UnresolvedPlaceholder, ValueError):
        return
    params = plan.steps[0].params
    assert isinstance(params, HttpParams)
    parts = urlsplit(params.url)
    assert parts.hostname == HOOKS
    assert parts.username is None
    assert parts.password is None
    assert parts.port in (None, 80)
    literal = template.split("${", 1)[0]
    assert params.url.startswith(literal)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.text(min_size=1, max_size=60))
def test_any_label_text_stays_one_path_segment_and_one_query_value(value: str) -> None:
    template = "https://hooks.example.com/a/${labels.x}/b?q=${labels.x}"
    pb = playbook(target=None, steps=[{"action": "http.request", "params": {"url": template}}])
    params = resolve_plan(pb, incident(labels={"x": value}), POLICY).steps[0].params
    assert isinstance(params, HttpParams)
    parts = urlsplit(params.url)
    segments = parts.path.split("/")
    assert len(segments) == 4
    assert (segments[0], segments[1], segments[3]) == ("", "a", "b")
    assert unquote(segments[2]) == value
    assert parse_qsl(parts.query, keep_blank_values=True) == [("q", value)]
    assert parts.fragment == ""


# ---------------------------------------------------------------- digest


def test_digest_follows_content_not_the_file_name() -> None:
    text = one("- action: kube.rollout_restart\n  timeout: 30s\n")
    (a,), _ = parse_playbooks(text, "a.yaml", POLICY)
    (b,), _ = parse_playbooks(text, "somewhere/else.yaml", POLICY)
    assert a.source != b.source
    assert a.digest == b.digest
    assert len(a.digest) == 16
    (timeout,), _ = parse_playbooks(text.replace("30s", "31s"), "a.yaml", POLICY)
    (action,), _ = parse_playbooks(
        text.replace("rollout_restart", "rollout_undo"), "a.yaml", POLICY
    )
    (risk,), _ = parse_playbooks(text.replace("risk: low", "risk: medium"), "a.yaml", POLICY)
    digests = {a.digest, timeout.digest, action.digest, risk.digest}
    assert len(digests) == 4
    # The same content spelled differently (30s vs 30) is the same playbook.
    (seconds,), _ = parse_playbooks(text.replace("30s", "30"), "a.yaml", POLICY)
    assert seconds.digest == a.digest

"""Playbooks: YAML files naming what to match, what to run, how to verify; validated at load."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from awoooi.adapters.kube import WORKLOAD_KINDS, ObjectRef, WorkloadKind
from awoooi.core.errors import AwoooiError
from awoooi.diagnosis.model import Cause, Finding
from awoooi.diagnosis.model import Target as DiagnosedTarget
from awoooi.incidents.models import Incident
from awoooi.repair.actions import (
    CATALOG,
    PLACEHOLDER,
    Params,
    check_namespace,
    check_object_name,
    has_placeholder,
    validate_params,
)
from awoooi.repair.settings import RepairSettings

MAX_PLAYBOOK_BYTES = 256 * 1024
MAX_STEPS = 20
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_DURATION = re.compile(
    r"^\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*$"
)
# What a ${...} placeholder may name.
_VARIABLE = re.compile(
    r"^(namespace|service|incident|target\.(?:kind|name|namespace)"
    r"|labels\.[A-Za-z_][A-Za-z0-9_]{0,127})$"
)
TARGET_KIND = "${target.kind}"
RISK_ORDER = {"low": 1, "medium": 2, "high": 3}


def _seconds(value: Any) -> Any:
    """30, 30s, 5m, 1h30m -> seconds; anything else is left for the type check to refuse."""
    if isinstance(value, str):
        match = _DURATION.fullmatch(value)
        if not value.strip() or match is None or not any(match.groups()):
            raise ValueError(f"{value!r} is not a duration (like 30s, 5m, 1h)")
        hours, minutes, seconds = (float(part) if part else 0.0 for part in match.groups())
        return hours * 3600 + minutes * 60 + seconds
    return value


Duration = Annotated[float, BeforeValidator(_seconds), Field(ge=0, le=7 * 24 * 3600)]


def _check_placeholders(value: str) -> str:
    for name in PLACEHOLDER.findall(value):
        if not _VARIABLE.fullmatch(name):
            raise ValueError(
                f"unknown placeholder ${{{name}}}; use ${{namespace}}, ${{service}}, "
                "${incident}, ${target.kind}, ${target.name}, ${target.namespace} or "
                "${labels.NAME}"
            )
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Match(_Model):
    """Which incidents a playbook is for; every criterion given must hold."""

    signals: list[str] = Field(default_factory=list, max_length=100)
    labels: dict[str, str] = Field(default_factory=dict, max_length=50)
    services: list[str] = Field(default_factory=list, max_length=100)
    namespaces: list[str] = Field(default_factory=list, max_length=100)
    # The diagnosis' most likely cause (a rule's finding, never the model's word) is one of these.
    causes: list[Cause] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _something(self) -> Match:
        if not (self.signals or self.labels or self.services or self.namespaces or self.causes):
            raise ValueError(
                "match needs at least one of signals, labels, services, namespaces, causes"
            )
        return self

    def specificity(self) -> int:
        """How many criteria are given: the more specific playbook wins."""
        parts = (self.signals, self.labels, self.services, self.namespaces, self.causes)
        return sum(1 for part in parts if part)


class Target(_Model):
    """The workload a repair acts on; cooldown, rate limit and the lock are per target.
    `kind: ${target.kind}` (with `${target.name}`, `${target.namespace}`) is the workload the
    diagnosis resolved the alert to (a StatefulSet pod's alert acts on the StatefulSet)."""

    kind: WorkloadKind | Literal["${target.kind}"] = "Deployment"
    name: str = Field("${service}", min_length=1, max_length=253)
    namespace: str = Field("${namespace}", min_length=1, max_length=253)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        _check_placeholders(value)
        return value if has_placeholder(value) else check_object_name(value, "target name")

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        _check_placeholders(value)
        return value if has_placeholder(value) else check_namespace(value)


class Step(_Model):
    """One action with its parameters and a deadline."""

    action: str
    params: dict[str, Any] = Field(default_factory=dict)
    timeout: Duration = 60.0

    @field_validator("action")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in CATALOG:
            raise ValueError(f"unknown action {value!r}; known: {', '.join(sorted(CATALOG))}")
        return value

    @field_validator("timeout")
    @classmethod
    def _positive(cls, value: float) -> float:
        if not 0 < value <= 3600:
            raise ValueError("timeout must be more than 0 and at most 1h")
        return value


class Verify(_Model):
    """After the steps: wait, then check until `timeout`; a failed check fails the repair."""

    wait: Duration = 0.0
    check: Literal["none", "alert_resolved", "deployment_available", "workload_available"] = "none"
    timeout: Duration = 300.0
    interval: Duration = 5.0

    @model_validator(mode="after")
    def _order(self) -> Verify:
        if self.check != "none" and self.timeout < self.wait:
            raise ValueError("verify.timeout must not be shorter than verify.wait")
        if self.interval <= 0:
            raise ValueError("verify.interval must be more than 0")
        return self


class Playbook(_Model):
    """A validated playbook."""

    id: str
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=4000)
    match: Match
    target: Target | None = Field(default_factory=Target)
    risk: Literal["low", "medium", "high"]
    requires_approval: bool = False
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)
    verify: Verify = Field(default_factory=Verify)
    cooldown: Duration = 600.0
    max_attempts: int = Field(1, ge=1, le=10)
    source: str = Field("", exclude=True)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.fullmatch(value):
            raise ValueError("id must be 1-64 of a-z, 0-9, '.', '_', '-', starting alphanumeric")
        return value

    @model_validator(mode="after")
    def _target_when_needed(self) -> Playbook:
        needs = [step.action for step in self.steps if CATALOG[step.action].needs_target]
        if needs and self.target is None:
            raise ValueError(f"target: {needs[0]} needs a target, and target is null")
        if self.verify.check == "deployment_available" and (
            self.target is None or self.target.kind not in ("Deployment", TARGET_KIND)
        ):
            raise ValueError("verify: check deployment_available needs a Deployment target")
        if self.verify.check == "workload_available" and self.target is None:
            raise ValueError("verify: check workload_available needs a target")
        return self

    @property
    def needs_cluster(self) -> bool:
        """Whether a step or the verification talks to Kubernetes."""
        return self.verify.check in ("deployment_available", "workload_available") or any(
            step.action.startswith("kube.") for step in self.steps
        )

    @property
    def digest(self) -> str:
        """A short hash of the playbook's content: an approval is for this exact version."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def acted_on(self, diagnosed: Diagnosed) -> Finding | None:
        """The finding a cause-matched playbook acts on: the diagnosis' most likely one, when
        its cause is one of `match.causes`."""
        top = diagnosed.findings[0] if diagnosed.findings else None
        if top is None or top.cause not in self.match.causes:
            return None
        return top

    def matches(self, incident: Incident, diagnosed: Diagnosed | None = None) -> bool:
        """True when every given match criterion holds for the incident (and its diagnosis)."""
        rule = self.match
        if rule.causes and self.acted_on(diagnosed or Diagnosed()) is None:
            return False
        labels = incident.labels or {}
        if rule.signals and not set(signals_of(incident)) & set(rule.signals):
            return False
        for key, pattern in rule.labels.items():
            value = labels.get(key)
            if value is None or not fnmatchcase(value, pattern):
                return False
        if rule.services and not set(incident.affected_services or ()) & set(rule.services):
            return False
        return not rule.namespaces or (
            incident.namespace is not None
            and any(fnmatchcase(incident.namespace, pattern) for pattern in rule.namespaces)
        )


def signals_of(incident: Incident) -> list[str]:
    """The alert names an incident answers to."""
    names = [(incident.labels or {}).get("alertname"), (incident.symptoms or {}).get("signal")]
    return [str(name) for name in names if name]


# ---------------------------------------------------------------- placeholders and plans


class UnresolvedPlaceholder(Exception):
    """A ${...} placeholder has no value for this incident."""


@dataclass(frozen=True)
class Diagnosed:
    """What repairs take from an incident's diagnosis: the rules' findings, most likely first,
    and the workload the alert was resolved to."""

    findings: tuple[Finding, ...] = ()
    target: DiagnosedTarget | None = None


def workload_of(incident: Incident, diagnosed: Diagnosed | None = None) -> ObjectRef | None:
    """The workload a `${target.*}` playbook acts on: the diagnosis' target when it is one,
    else the kind the symptoms read from the pod's name and the service (a guess)."""
    target = diagnosed.target if diagnosed is not None else None
    kinds = {kind.lower(): kind for kind in WORKLOAD_KINDS}
    if target is not None:
        kind = kinds.get(target.kind.lower())
        if kind is None or not target.namespace:
            return None  # a Job, a Pod, a Node: no workload action fits
        return ObjectRef(kind, target.namespace, target.name)  # type: ignore[arg-type]
    guessed = str((incident.symptoms or {}).get("resource_kind") or "deployment").lower()
    kind = kinds.get(guessed)
    if kind is None or not incident.namespace or not incident.affected_services:
        return None
    return ObjectRef(kind, incident.namespace, incident.affected_services[0])  # type: ignore[arg-type]


def incident_variables(
    incident: Incident, diagnosed: Diagnosed | None = None, workload: ObjectRef | None = None
) -> dict[str, str]:
    """The values placeholders resolve to (`workload`: the target already decided)."""
    values = {f"labels.{key}": str(value) for key, value in (incident.labels or {}).items()}
    if incident.namespace:
        values["namespace"] = incident.namespace
    if incident.affected_services:
        values["service"] = incident.affected_services[0]
    values["incident"] = incident.human_id
    workload = workload or workload_of(incident, diagnosed)
    if workload is not None:
        values |= {
            "target.kind": workload.kind,
            "target.name": workload.name,
            "target.namespace": workload.namespace,
        }
    return values


def substitute(text: str, variables: Mapping[str, str], *, url: bool = False) -> str:
    """Replace every placeholder; in a URL the values are percent-encoded (no new host/path)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            raise UnresolvedPlaceholder(f"${{{name}}} has no value for this incident")
        return quote(variables[name], safe="") if url else variables[name]

    return PLACEHOLDER.sub(value, text)


def _substitute_all(value: Any, variables: Mapping[str, str], key: str = "") -> Any:
    if isinstance(value, str):
        return substitute(value, variables, url=key == "url")
    if isinstance(value, dict):
        return {k: _substitute_all(v, variables, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute_all(item, variables) for item in value]
    return value


@dataclass(frozen=True)
class PlannedStep:
    """A step with the incident's values filled in and validated again."""

    position: int
    action: str
    params: Params
    timeout: float


@dataclass(frozen=True)
class ResolvedPlan:
    """What a playbook would do for one incident."""

    playbook: Playbook
    target: ObjectRef | None
    steps: tuple[PlannedStep, ...]

    @property
    def target_key(self) -> str:
        """The key cooldowns, rate limits and locks are kept under."""
        return str(self.target) if self.target is not None else f"playbook/{self.playbook.id}"


def resolve_plan(
    playbook: Playbook,
    incident: Incident,
    settings: RepairSettings,
    diagnosed: Diagnosed | None = None,
    *,
    workload: ObjectRef | None = None,
) -> ResolvedPlan:
    """Fill the incident's values into target and steps; UnresolvedPlaceholder or ValueError."""
    variables = incident_variables(incident, diagnosed, workload)
    target = None
    if playbook.target is not None:
        kind = substitute(playbook.target.kind, variables)
        if kind not in WORKLOAD_KINDS:
            raise ValueError(f"target kind {kind!r} is not a workload a repair acts on")
        target = ObjectRef(
            kind=kind,  # type: ignore[arg-type]
            namespace=check_namespace(substitute(playbook.target.namespace, variables)),
            name=check_object_name(substitute(playbook.target.name, variables), "target name"),
        )
        if playbook.verify.check == "deployment_available" and kind != "Deployment":
            raise ValueError(
                f"verify deployment_available needs a Deployment; the target is {target}"
            )
    steps = []
    for position, step in enumerate(playbook.steps):
        # Defaults (kube.delete_pod's pod: ${labels.pod}) hold placeholders too: fill them in.
        written = validate_params(step.action, step.params, settings)
        params = _substitute_all(written.model_dump(mode="json"), variables)
        try:
            typed = validate_params(step.action, params, settings)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ValueError(f"step {position + 1} ({step.action}): {first['msg']}") from exc
        steps.append(PlannedStep(position, step.action, typed, step.timeout))
    return ResolvedPlan(playbook=playbook, target=target, steps=tuple(steps))


# ---------------------------------------------------------------- loading with line numbers


class PlaybookError(AwoooiError):
    """A playbook file is invalid; the message names file, line and field."""

    status_code = 422
    code = "invalid_playbook"


@dataclass(frozen=True)
class PlaybookProblem:
    """One thing wrong in one file."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


def _node_at(node: yaml.Node, loc: Sequence[int | str]) -> tuple[yaml.Node, list[str]]:
    """The deepest YAML node along a pydantic error location, and the path walked to it."""
    walked: list[str] = []
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if 0 <= part < len(node.value) else None
        if child is None:
            if isinstance(node, yaml.MappingNode) and isinstance(part, str):
                walked.append(part)  # a missing key: point at the mapping that lacks it
            break
        walked.append(str(part))
        node = child
    return node, walked


def _field_path(parts: Iterable[str]) -> str:
    path = ""
    for part in parts:
        path += f"[{part}]" if part.isdigit() else (f".{part}" if path else part)
    return path


def _problems(
    error: ValidationError, node: yaml.Node, file: str, prefix: Sequence[int | str] = ()
) -> list[PlaybookProblem]:
    problems = []
    for item in error.errors():
        loc = [*prefix, *item["loc"]]
        message = str(item["msg"]).removeprefix("Value error, ")
        if not item["loc"]:
            # A check across fields has no location; it names its field first ("target: ...").
            field_name, _, rest = message.partition(": ")
            if rest and field_name in Playbook.model_fields:
                loc, message = [*prefix, field_name], rest
        found, walked = _node_at(node, loc)
        problems.append(
            PlaybookProblem(file, found.start_mark.line + 1, _field_path(walked), message)
        )
    return problems


def _strings(
    value: Any, path: tuple[int | str, ...]
) -> Iterable[tuple[tuple[int | str, ...], str]]:
    """Every string inside a parameter structure, with its location."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*path, index))


def _check_step_params(
    playbook: Playbook, node: yaml.Node, file: str, settings: RepairSettings
) -> list[PlaybookProblem]:
    problems = []
    for index, step in enumerate(playbook.steps):
        for path, text in _strings(step.params, ("steps", index, "params")):
            try:
                _check_placeholders(text)
            except ValueError as exc:
                found, walked = _node_at(node, path)
                problems.append(
                    PlaybookProblem(file, found.start_mark.line + 1, _field_path(walked), str(exc))
                )
        try:
            typed = validate_params(step.action, step.params, settings)
        except ValidationError as exc:
            problems.extend(_problems(exc, node, file, ("steps", index, "params")))
            continue
        seconds = getattr(typed, "seconds", None)
        if isinstance(seconds, float) and seconds >= step.timeout:
            found, _walked = _node_at(node, ("steps", index, "timeout"))
            problems.append(
                PlaybookProblem(
                    file,
                    found.start_mark.line + 1,
                    f"steps[{index}].timeout",
                    f"timeout {step.timeout:g}s must be longer than the wait ({seconds:g}s)",
                )
            )
    return problems


def _raw_step_problems(
    data: dict[str, Any], node: yaml.Node, file: str, settings: RepairSettings
) -> list[PlaybookProblem]:
    steps = data.get("steps")
    if not isinstance(steps, list):
        return []
    problems = []
    for index, step in enumerate(steps):
        if not isinstance(step, dict) or step.get("action") not in CATALOG:
            continue
        params = step.get("params") or {}
        if not isinstance(params, dict):
            continue
        try:
            validate_params(str(step["action"]), params, settings)
        except ValidationError as exc:
            problems.extend(_problems(exc, node, file, ("steps", index, "params")))
    return problems


def parse_playbooks(
    text: str, file: str, settings: RepairSettings
) -> tuple[list[Playbook], list[PlaybookProblem]]:
    """Every playbook document in one file's text, and what is wrong with the others."""
    playbooks: list[Playbook] = []
    problems: list[PlaybookProblem] = []
    try:
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        return [], [PlaybookProblem(file, line, "", f"not valid YAML: {reason}")]
    for node in documents:
        if node is None or (node.tag == "tag:yaml.org,2002:null" and node.value == ""):
            continue
        data = yaml.SafeLoader("").construct_document(node)
        if not isinstance(data, dict):
            problems.append(
                PlaybookProblem(file, node.start_mark.line + 1, "", "a playbook is a mapping")
            )
            continue
        try:
            playbook = Playbook.model_validate({**data, "source": file})
        except ValidationError as exc:
            problems.extend(_problems(exc, node, file))
            # Report the parameters of the steps that are valid so far too: one pass, all errors.
            problems.extend(_raw_step_problems(data, node, file, settings))
            continue
        step_problems = _check_step_params(playbook, node, file, settings)
        if step_problems:
            problems.extend(step_problems)
            continue
        playbooks.append(playbook)
    problems.sort(key=lambda problem: problem.line or 0)
    return playbooks, problems


def read_playbook_file(
    path: Path, settings: RepairSettings, *, name: str | None = None
) -> tuple[list[Playbook], list[PlaybookProblem]]:
    """Parse one file (size-capped, UTF-8)."""
    label = name or str(path)
    try:
        if path.stat().st_size > MAX_PLAYBOOK_BYTES:
            return [], [PlaybookProblem(label, None, "", f"larger than {MAX_PLAYBOOK_BYTES} bytes")]
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [PlaybookProblem(label, None, "", f"cannot read: {exc}")]
    return parse_playbooks(text, label, settings)


def playbook_files(directory: Path) -> list[Path]:
    """The YAML files of a playbook directory, in a stable order (symlinks out of it refused)."""
    root = directory.resolve()
    files = []
    for path in sorted(directory.rglob("*")):
        if path.suffix not in {".yaml", ".yml"} or not path.is_file():
            continue
        if not path.resolve().is_relative_to(root):
            continue
        files.append(path)
    return files


def validate_directory(
    directory: Path, settings: RepairSettings
) -> tuple[list[Playbook], list[PlaybookProblem]]:
    """Every playbook under a directory, and every problem (duplicate ids included)."""
    if not directory.is_dir():
        return [], [PlaybookProblem(str(directory), None, "", "not a directory")]
    playbooks: list[Playbook] = []
    problems: list[PlaybookProblem] = []
    seen: dict[str, str] = {}
    for path in playbook_files(directory):
        found, wrong = read_playbook_file(path, settings)
        problems.extend(wrong)
        for playbook in found:
            if playbook.id in seen:
                problems.append(
                    PlaybookProblem(
                        str(path),
                        None,
                        "id",
                        f"{playbook.id!r} is also defined in {seen[playbook.id]}",
                    )
                )
                continue
            seen[playbook.id] = str(path)
            playbooks.append(playbook)
    return playbooks, problems


def default_playbooks(settings: RepairSettings) -> list[Playbook]:
    """The playbooks shipped with awoooi."""
    playbooks: list[Playbook] = []
    folder = resources.files("awoooi.repair").joinpath("defaults")
    for item in sorted(folder.iterdir(), key=lambda entry: entry.name):
        if not item.name.endswith(".yaml"):
            continue
        found, problems = parse_playbooks(
            item.read_text("utf-8"), f"<builtin>/{item.name}", settings
        )
        if problems:
            raise PlaybookError("; ".join(str(problem) for problem in problems))
        playbooks.extend(found)
    return playbooks


@dataclass
class PlaybookCatalog:
    """The loaded playbooks, most specific first."""

    playbooks: list[Playbook] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.playbooks.sort(key=lambda p: (-p.match.specificity(), RISK_ORDER[p.risk], p.id))
        self._by_id = {playbook.id: playbook for playbook in self.playbooks}

    def get(self, playbook_id: str) -> Playbook | None:
        """A playbook by id."""
        return self._by_id.get(playbook_id)

    def matching(self, incident: Incident, diagnosed: Diagnosed | None = None) -> list[Playbook]:
        """The playbooks whose match holds for the incident (and its diagnosis), best first."""
        return [p for p in self.playbooks if p.matches(incident, diagnosed)]


def load_catalog(settings: RepairSettings) -> PlaybookCatalog:
    """Shipped playbooks plus `repair.playbooks_dir` (same id overrides), or PlaybookError."""
    by_id = (
        {p.id: p for p in default_playbooks(settings)} if settings.include_default_playbooks else {}
    )
    if settings.playbooks_dir is not None:
        found, problems = validate_directory(settings.playbooks_dir, settings)
        if problems:
            raise PlaybookError(
                f"{len(problems)} problem(s) in {settings.playbooks_dir}: "
                + "; ".join(str(problem) for problem in problems)
            )
        by_id.update({playbook.id: playbook for playbook in found})
    return PlaybookCatalog(list(by_id.values()))

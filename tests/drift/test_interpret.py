"""Drift interpretation: rules over managedFields, paths and values; a local model through the real
Router against fake OpenAI/Ollama servers; answers that are prose or commands are thrown away."""

from __future__ import annotations

import asyncio
import base64
import json
import string
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from awoooi.ai.intents import Intent
from awoooi.ai.router import ChatResult, Router
from awoooi.ai.settings import AISettings, ProviderConfig
from awoooi.drift.analyze import resource_item
from awoooi.drift.diff import LAST_APPLIED, format_path
from awoooi.drift.field_managers import field_managers
from awoooi.drift.intent import DriftIntent, Interpretation
from awoooi.drift.intent_answer import parse_answer
from awoooi.drift.intent_prompt import SECRET_OMITTED, SYSTEM_PROMPT, build_prompt
from awoooi.drift.intent_rules import heuristic
from awoooi.drift.interpret import interpret, interpret_report
from awoooi.drift.paths import parse_path
from awoooi.drift.report import Change, DriftItem, DriftLevel, ResourceId
from awoooi.drift.settings import DriftSettings
from tests.ai.support import nemotron, ollama
from tests.drift.objects import container_fields, deployment, items_for, managed, reported, rid
from tests.helpers import llm_servers
from tests.helpers.llm_servers import OllamaServer, OpenAIServer

openai_server = llm_servers.openai_server
ollama_server = llm_servers.ollama_server
refused_url = llm_servers.refused_url

WEB = 'k:{"name":"web"}'
RBAC = "rbac.authorization.k8s.io/v1"


def with_managers(obj: dict[str, Any], *entries: dict[str, Any]) -> dict[str, Any]:
    obj["metadata"]["managedFields"] = list(entries)
    return obj


def applier() -> dict[str, Any]:
    """What Argo CD's server-side apply of `deployment()` owns."""
    return managed(
        "argocd-controller",
        {
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:containers": {WEB: {".": {}, "f:name": {}, "f:image": {}}}},
                },
            }
        },
        operation="Apply",
    )


# --- scenarios: a desired object and its live counterpart with realistic managedFields ----------


def image_by_kubectl_edit() -> tuple[dict[str, Any], dict[str, Any]]:
    desired = deployment({"image": "app:1.0"})
    live = with_managers(
        deployment({"image": "app:1.1"}),
        applier(),
        managed("kubectl-edit", container_fields({"f:image": {}})),
    )
    live["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:template"]["f:spec"][
        "f:containers"
    ][WEB].pop("f:image")  # an Update takes the field over from the applier
    return desired, live


def image_by_ci_bot() -> tuple[dict[str, Any], dict[str, Any]]:
    desired = deployment({"image": "app:1.0"})
    live = with_managers(
        deployment({"image": "app:1.1"}), managed("ci-deployer", container_fields({"f:image": {}}))
    )
    return desired, live


def replicas_by_hpa() -> tuple[dict[str, Any], dict[str, Any]]:
    live = with_managers(
        deployment(replicas=7),
        applier(),
        managed("kube-controller-manager", {"f:spec": {"f:replicas": {}}}, subresource="scale"),
    )
    # The HPA's writes through the scale subresource took spec.replicas over from the applier.
    live["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"].pop("f:replicas")
    return deployment(replicas=3), live


def replicas_by_kubectl_scale() -> tuple[dict[str, Any], dict[str, Any]]:
    live = with_managers(
        deployment(replicas=10),
        managed("kubectl-scale", {"f:spec": {"f:replicas": {}}}, subresource="scale"),
    )
    return deployment(replicas=3), live


def privileged_by_kubectl_patch() -> tuple[dict[str, Any], dict[str, Any]]:
    live = with_managers(
        deployment({"image": "app:1.1", "securityContext": {"privileged": True}}),
        applier(),
        managed(
            "kubectl-patch",
            container_fields({"f:image": {}, "f:securityContext": {".": {}, "f:privileged": {}}}),
        ),
    )
    live["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:template"]["f:spec"][
        "f:containers"
    ][WEB].pop("f:image")
    return deployment({"image": "app:1.0"}), live


def role_rules_by_kubectl_edit() -> tuple[dict[str, Any], dict[str, Any]]:
    def role(verbs: list[str]) -> dict[str, Any]:
        return {
            "apiVersion": RBAC,
            "kind": "Role",
            "metadata": {"name": "reader", "namespace": "shop"},
            "rules": [{"apiGroups": [""], "resources": ["pods", "secrets"], "verbs": verbs}],
        }

    live = with_managers(
        role(["get", "list", "create", "delete"]),
        managed("kubectl-edit", {"f:rules": {}}, api_version=RBAC),
    )
    return role(["get", "list"]), live


def env(value: str, name: str = "LOG_LEVEL") -> dict[str, Any]:
    return {"env": [{"name": name, "value": value}]}


def debug_log_level_by_kubectl_set() -> tuple[dict[str, Any], dict[str, Any]]:
    fields: dict[str, Any] = {
        "f:env": {'k:{"name":"LOG_LEVEL"}': {".": {}, "f:name": {}, "f:value": {}}}
    }
    live = with_managers(
        deployment(env("debug")), applier(), managed("kubectl-set", container_fields(fields))
    )
    return deployment(env("info")), live


def limits_by_kubectl_edit() -> tuple[dict[str, Any], dict[str, Any]]:
    def limits(memory: str) -> dict[str, Any]:
        return {"resources": {"limits": {"memory": memory}, "requests": {"cpu": "100m"}}}

    fields: dict[str, Any] = {"f:resources": {"f:limits": {"f:memory": {}}}}
    live = with_managers(
        deployment(limits("1Gi")), applier(), managed("kubectl-edit", container_fields(fields))
    )
    return deployment(limits("256Mi")), live


def sleep_command_by_kubectl_edit() -> tuple[dict[str, Any], dict[str, Any]]:
    live = with_managers(
        deployment({"command": ["sh", "-c", "tail -f /dev/null"]}),
        applier(),
        managed("kubectl-edit", container_fields({"f:command": {}})),
    )
    return deployment(), live


def canary_label_by_kubectl_label() -> tuple[dict[str, Any], dict[str, Any]]:
    live = deployment()
    live["metadata"]["labels"] = {"track": "canary"}
    with_managers(
        live, applier(), managed("kubectl-label", {"f:metadata": {"f:labels": {"f:track": {}}}})
    )
    return deployment(), live


def config_map_by_kubectl_edit() -> tuple[dict[str, Any], dict[str, Any]]:
    def config_map(workers: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "web-config", "namespace": "default"},
            "data": {"WORKERS": workers},
        }

    live = with_managers(
        config_map("16"),
        managed("kubectl-edit", {"f:data": {"f:WORKERS": {}}}, api_version="v1"),
    )
    return config_map("4"), live


def dns_policy_by_kubectl_edit() -> tuple[dict[str, Any], dict[str, Any]]:
    live = with_managers(
        deployment(pod={"dnsPolicy": "Default"}),
        managed("kubectl-edit", {"f:spec": {"f:template": {"f:spec": {"f:dnsPolicy": {}}}}}),
    )
    return deployment(pod={"dnsPolicy": "ClusterFirst"}), live


Scenario = Callable[[], tuple[dict[str, Any], dict[str, Any]]]


@pytest.mark.parametrize(
    ("scenario", "intent", "manager", "minimum"),
    [
        (image_by_kubectl_edit, DriftIntent.HOTFIX, "kubectl-edit", 0.7),
        (image_by_ci_bot, DriftIntent.HOTFIX, "ci-deployer", 0.4),
        (replicas_by_hpa, DriftIntent.SCALING, "kube-controller-manager", 0.8),
        (replicas_by_kubectl_scale, DriftIntent.SCALING, "kubectl-scale", 0.7),
        (privileged_by_kubectl_patch, DriftIntent.SECURITY_RISK, "kubectl-patch", 0.8),
        (role_rules_by_kubectl_edit, DriftIntent.SECURITY_RISK, "kubectl-edit", 0.7),
        (debug_log_level_by_kubectl_set, DriftIntent.DEBUGGING, "kubectl-set", 0.7),
        (limits_by_kubectl_edit, DriftIntent.CONFIG_TUNING, "kubectl-edit", 0.6),
        (sleep_command_by_kubectl_edit, DriftIntent.DEBUGGING, "kubectl-edit", 0.8),
        (canary_label_by_kubectl_label, DriftIntent.EXPERIMENT, "kubectl-label", 0.6),
        (config_map_by_kubectl_edit, DriftIntent.CONFIG_TUNING, "kubectl-edit", 0.6),
        (dns_policy_by_kubectl_edit, DriftIntent.UNKNOWN, "kubectl-edit", 0.3),
    ],
)
def test_heuristics_read_the_intent(
    scenario: Scenario, intent: DriftIntent, manager: str, minimum: float
) -> None:
    desired, live = scenario()
    # Every item, ignored ones too: an HPA's replicas are ignored by a scan, not by the rules.
    items = items_for(desired, live)
    assert items, scenario.__name__
    result = heuristic(rid(desired), items, live)
    assert result.intent is intent, result.explanation
    assert result.source == "heuristic"
    assert manager in result.managers
    assert manager in result.explanation
    assert items[0].path in result.explanation
    assert minimum <= result.confidence <= 0.8
    assert "argocd-controller" not in result.explanation  # the applier did not make the change


def test_hotfix_explanation_names_field_values_and_manager() -> None:
    desired, live = image_by_kubectl_edit()
    result = heuristic(rid(desired), reported(items_for(desired, live)), live)
    assert result.explanation.startswith(
        "spec.template.spec.containers[name=web].image was changed from app:1.0 to app:1.1 "
        "by kubectl-edit, outside Git: most likely a hotfix"
    )
    assert result.managers == ("kubectl-edit",)
    assert result.confidence == 0.75


def test_items_stored_without_segments_read_the_same() -> None:
    desired, live = debug_log_level_by_kubectl_set()
    items = reported(items_for(desired, live))
    stored = [replace(i, segments=()) for i in items]
    assert heuristic(rid(desired), stored, live) == heuristic(rid(desired), items, live)
    quoted = item(DEPLOY, ("metadata", "annotations", "example.com/canary"), None, "yes")
    assert quoted.path == 'metadata.annotations["example.com/canary"]'
    assert heuristic(DEPLOY, [replace(quoted, segments=())], None).intent is DriftIntent.EXPERIMENT
    port = item(DEPLOY, (*CONTAINER, "ports", (("containerPort", 80), ("protocol", "TCP"))), 1, 2)
    assert parse_path(port.path) == port.segments


def test_long_values_are_left_out_of_the_explanation() -> None:
    desired, live = role_rules_by_kubectl_edit()
    result = heuristic(rid(desired), items_for(desired, live), live)
    assert result.explanation.startswith("rules was changed by kubectl-edit, outside Git: ")
    assert "apiGroups" not in result.explanation


def test_a_security_risk_wins_over_everything_else() -> None:
    desired, live = privileged_by_kubectl_patch()
    live["spec"]["replicas"] = 9
    live["spec"]["template"]["spec"]["containers"][0]["command"] = ["sleep", "infinity"]
    items = reported(items_for(desired, live))
    assert {item.path.rsplit(".", 1)[-1] for item in items} >= {"image", "privileged", "replicas"}
    result = heuristic(rid(desired), items, live)
    assert result.intent is DriftIntent.SECURITY_RISK
    assert "privileged: true" in result.explanation


def item(
    resource: ResourceId,
    path: tuple[Any, ...],
    desired: Any,
    live: Any,
    change: Change = Change.MODIFIED,
) -> DriftItem:
    return DriftItem(
        resource=resource,
        change=change,
        path=format_path(path),
        desired=desired,
        live=live,
        level=DriftLevel.MEDIUM,
        segments=path,
    )


DEPLOY = ResourceId("apps/v1", "Deployment", "shop", "web")
POD = ResourceId("v1", "Pod", "shop", "web-0")
CONTAINER = ("spec", "template", "spec", "containers", (("name", "web"),))
POD_CONTAINER = ("spec", "containers", (("name", "web"),))


@pytest.mark.parametrize(
    ("resource", "path", "desired", "live", "change", "intent"),
    [
        (
            DEPLOY,
            ("spec", "template", "spec", "hostNetwork"),
            None,
            True,
            Change.ADDED,
            "SECURITY_RISK",
        ),
        (
            DEPLOY,
            ("spec", "template", "spec", "hostPID"),
            False,
            True,
            Change.MODIFIED,
            "SECURITY_RISK",
        ),
        (
            DEPLOY,
            (*CONTAINER, "securityContext"),
            None,
            {"runAsUser": 0},
            Change.ADDED,
            "SECURITY_RISK",
        ),
        (
            DEPLOY,
            (*CONTAINER, "securityContext", "capabilities", "add"),
            None,
            ["SYS_ADMIN"],
            Change.ADDED,
            "SECURITY_RISK",
        ),
        (
            DEPLOY,
            ("spec", "template", "spec", "volumes", (("name", "host"),)),
            None,
            {"name": "host", "hostPath": {"path": "/var/run/docker.sock"}},
            Change.ADDED,
            "SECURITY_RISK",
        ),
        (
            DEPLOY,
            (*CONTAINER, "securityContext", "runAsNonRoot"),
            True,
            None,
            Change.REMOVED,
            "SECURITY_RISK",
        ),
        (
            POD,
            ("spec", "ephemeralContainers", (("name", "debugger-x7"),)),
            None,
            {"name": "debugger-x7", "image": "busybox", "stdin": True, "tty": True},
            Change.ADDED,
            "DEBUGGING",
        ),
        (DEPLOY, (*CONTAINER, "stdin"), None, True, Change.ADDED, "DEBUGGING"),
        (
            DEPLOY,
            ("spec", "template", "spec", "shareProcessNamespace"),
            None,
            True,
            Change.ADDED,
            "DEBUGGING",
        ),
        (
            DEPLOY,
            (*CONTAINER, "args"),
            ["--port=80"],
            ["--port=80", "--v=9"],
            Change.MODIFIED,
            "DEBUGGING",
        ),
        (
            DEPLOY,
            (*CONTAINER, "livenessProbe", "timeoutSeconds"),
            1,
            10,
            Change.MODIFIED,
            "CONFIG_TUNING",
        ),
        (
            DEPLOY,
            (*CONTAINER, "env", (("name", "WORKERS"),), "value"),
            "4",
            "8",
            Change.MODIFIED,
            "CONFIG_TUNING",
        ),
        (
            DEPLOY,
            (*CONTAINER, "env", (("name", "FEATURE_NEW_CHECKOUT"),)),
            None,
            {"name": "FEATURE_NEW_CHECKOUT", "value": "true"},
            Change.ADDED,
            "EXPERIMENT",
        ),
        (
            DEPLOY,
            ("metadata", "annotations", "experiment.example.com/variant"),
            None,
            "b",
            Change.ADDED,
            "EXPERIMENT",
        ),
        (
            ResourceId("autoscaling/v2", "HorizontalPodAutoscaler", "shop", "web"),
            ("spec", "maxReplicas"),
            10,
            30,
            Change.MODIFIED,
            "SCALING",
        ),
    ],
)
def test_heuristic_rules_on_paths_and_values(
    resource: ResourceId,
    path: tuple[Any, ...],
    desired: Any,
    live: Any,
    change: Change,
    intent: str,
) -> None:
    result = heuristic(resource, [item(resource, path, desired, live, change)], None)
    assert result.intent is DriftIntent(intent), result.explanation
    assert 0.3 <= result.confidence <= 0.8


def test_extra_resources_are_experiments_unless_they_grant_permissions() -> None:
    canary = ResourceId("apps/v1", "Deployment", "shop", "web-canary")
    extra = resource_item(canary, Change.EXTRA, DriftSettings(), reason="live, not in Git")
    live = with_managers(deployment(name="web-canary"), managed("kubectl-create", {"f:spec": {}}))
    result = heuristic(canary, [extra], live)
    assert result.intent is DriftIntent.EXPERIMENT
    assert result.managers == ("kubectl-create",)
    assert "exists in the cluster but not in Git (created by kubectl-create)" in result.explanation

    binding = ResourceId(RBAC, "ClusterRoleBinding", None, "debug-admin")
    extra = resource_item(binding, Change.EXTRA, DriftSettings(), reason="live, not in Git")
    assert heuristic(binding, [extra], None).intent is DriftIntent.SECURITY_RISK


def test_missing_resource_is_unknown() -> None:
    missing = resource_item(DEPLOY, Change.MISSING, DriftSettings(), reason="in Git, not live")
    result = heuristic(DEPLOY, [missing], None)
    assert result.intent is DriftIntent.UNKNOWN
    assert result.confidence == 0.3
    assert "is in Git but not in the cluster" in result.explanation


def test_more_fields_the_same_way_raise_confidence_within_bounds() -> None:
    one = item(DEPLOY, (*CONTAINER, "resources", "limits", "memory"), "256Mi", "1Gi")
    two = item(DEPLOY, (*CONTAINER, "resources", "limits", "cpu"), "1", "2")
    three = item(DEPLOY, (*CONTAINER, "resources", "requests", "cpu"), "100m", "500m")
    assert heuristic(DEPLOY, [one], None).confidence == 0.65
    result = heuristic(DEPLOY, [one, two, three], None)
    assert result.intent is DriftIntent.CONFIG_TUNING
    assert result.confidence == 0.75
    assert "2 other drifted fields" in result.explanation


# --- Secrets: paths only ---------------------------------------------------------------------

SECRET = ResourceId("v1", "Secret", "shop", "db")


def secret_items(old: str, new: str) -> list[DriftItem]:
    return [
        item(SECRET, ("data", "password"), old, new),
        item(SECRET, ("stringData", "token"), None, new, Change.ADDED),
    ]


def test_secret_values_never_reach_the_heuristic_explanation_or_the_prompt() -> None:
    old, new = "b2xkLXNlY3JldC12YWx1ZQ==", "bmV3LXNlY3JldC12YWx1ZQ=="
    items = secret_items(old, new)
    result = heuristic(SECRET, items, None)
    prompt = build_prompt(SECRET, items, ["kubectl-edit"])
    for text in (result.explanation, prompt):
        assert old not in text
        assert new not in text
    assert "data.password" in prompt
    assert "stringData.token" in prompt
    assert prompt.count(SECRET_OMITTED) == 3  # desired+live of the edit, live of the addition
    assert result.intent is DriftIntent.CONFIG_TUNING


# --- field_managers ---------------------------------------------------------------------------


def test_field_managers_on_real_managed_fields() -> None:
    _, live = image_by_kubectl_edit()
    live["metadata"]["managedFields"] += [
        managed(
            "istio-sidecar-injector",
            {
                "f:spec": {
                    "f:template": {
                        "f:spec": {
                            "f:containers": {
                                'k:{"name":"istio-proxy"}': {".": {}, "f:image": {}},
                                WEB: {
                                    "f:ports": {
                                        'k:{"containerPort":8080,"protocol":"TCP"}': {
                                            ".": {},
                                            "f:containerPort": {},
                                        }
                                    },
                                    "f:args": {},
                                },
                            }
                        }
                    }
                }
            },
        ),
        managed("kube-controller-manager", {"f:status": {"f:replicas": {}}}, subresource="status"),
    ]
    web: tuple[Any, ...] = ("spec", "template", "spec", "containers", (("name", "web"),))
    assert field_managers(live, (*web, "image")) == ["kubectl-edit"]
    port = (("containerPort", 8080), ("protocol", "TCP"))
    assert field_managers(live, (*web, "ports", port)) == ["istio-sidecar-injector"]
    assert field_managers(live, (*web, "ports", port, "containerPort")) == [
        "istio-sidecar-injector"
    ]
    # The container item: everyone owning something in it (descendants).
    assert field_managers(live, web) == [
        "argocd-controller",
        "kubectl-edit",
        "istio-sidecar-injector",
    ]
    # Below an atomic leaf (args is owned whole): its owner.
    assert field_managers(live, (*web, "args", 0)) == ["istio-sidecar-injector"]
    # A field nobody owns (removed): the managers of its nearest owned ancestor.
    assert field_managers(live, (*web, "livenessProbe")) == [
        "argocd-controller",
        "kubectl-edit",
        "istio-sidecar-injector",
    ]
    assert field_managers(live, ("spec", "replicas")) == ["argocd-controller"]
    # Status writers count for status only; the whole object: every spec manager.
    assert field_managers(live, ("status", "replicas")) == ["kube-controller-manager"]
    assert "kube-controller-manager" not in field_managers(live, ())
    assert field_managers(live, ("data",)) == []
    assert field_managers(None, (*web, "image")) == []
    # Segments as a database returns them (JSON lists) match too.
    stored = json.loads(json.dumps([*web, "image"]))
    assert field_managers(live, stored) == ["kubectl-edit"]


def test_field_managers_of_a_scale_subresource() -> None:
    _, live = replicas_by_hpa()
    assert field_managers(live, ("spec", "replicas")) == ["kube-controller-manager"]
    live["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:replicas"] = {}
    assert field_managers(live, ("spec", "replicas")) == [
        "argocd-controller",
        "kube-controller-manager",
    ]


# --- parse_answer -----------------------------------------------------------------------------

ANSWER = {
    "intent": "HOTFIX",
    "explanation": "The image was bumped by hand to ship a fix.",
    "confidence": 0.7,
}


def test_parse_plain_fenced_and_surrounded_json() -> None:
    expected = (DriftIntent.HOTFIX, ANSWER["explanation"], 0.7)
    assert parse_answer(json.dumps(ANSWER)) == expected
    assert parse_answer("```json\n" + json.dumps(ANSWER, indent=2) + "\n```") == expected
    assert (
        parse_answer("Here is my reading:\n" + json.dumps(ANSWER) + "\nHope it helps.") == expected
    )


@pytest.mark.parametrize(
    ("confidence", "expected"),
    [(1.7, 1.0), (-0.2, 0.0), (0, 0.0), ("0.4", 0.4), ("high", 0.5), (True, 0.5), (None, 0.5)],
)
def test_parse_clamps_confidence(confidence: Any, expected: float) -> None:
    answer = {**ANSWER, "confidence": confidence}
    parsed = parse_answer(json.dumps(answer))
    assert parsed is not None
    assert parsed[2] == expected


def test_parse_defaults_and_normalizes() -> None:
    answer = {"intent": " security risk ", "explanation": "  Opens\n\nthe host   network. "}
    assert parse_answer(json.dumps(answer)) == (
        DriftIntent.SECURITY_RISK,
        "Opens the host network.",
        0.5,
    )
    parsed = parse_answer(json.dumps({**ANSWER, "intent": "config_tuning"}))
    assert parsed is not None
    assert parsed[0] is DriftIntent.CONFIG_TUNING
    parsed = parse_answer(json.dumps({**ANSWER, "explanation": "word " * 400}))
    assert parsed is not None
    assert len(parsed[1]) <= 1000


@pytest.mark.parametrize(
    "text",
    [
        "This looks like a hotfix made with an edit of the deployment.",
        '{"intent": "HOTFIX", "explanation": "cut off',
        "{not json}",
        '["HOTFIX"]',
        json.dumps({**ANSWER, "intent": "ROLLBACK"}),
        json.dumps({**ANSWER, "intent": 3}),
        json.dumps({**ANSWER, "explanation": ""}),
        json.dumps({**ANSWER, "explanation": "   "}),
        json.dumps({**ANSWER, "explanation": None}),
        json.dumps(ANSWER) + "\n" + json.dumps(ANSWER),
        json.dumps({**ANSWER, "command": "kubectl rollout undo deployment/web"}),
        json.dumps({**ANSWER, "commands": ["x"]}),
        json.dumps({**ANSWER, "fix": "restore the image"}),
        json.dumps({**ANSWER, "action": "rollback"}),
        json.dumps({**ANSWER, "script": "#!/bin/sh"}),
    ],
)
def test_parse_rejects_unusable_answers(text: str) -> None:
    assert parse_answer(text) is None


@pytest.mark.parametrize(
    "explanation",
    [
        "A hotfix; undo it with kubectl rollout undo deployment/web.",
        "Roll back with helm rollback web 3.",
        "On OpenShift run oc rollout undo dc/web.",
        "Run $ make deploy to restore it.",
        "Use sudo systemctl restart kubelet.",
        "Clean up with rm -rf /tmp/web.",
        "Fetch it with curl http://web/healthz first.",
        "Run `git revert HEAD` to restore it.",
        "Edit and apply && wait for the rollout.",
        "Get the script | sh and it is fixed.",
    ],
)
def test_parse_rejects_command_like_explanations(explanation: str) -> None:
    assert parse_answer(json.dumps({**ANSWER, "explanation": explanation})) is None


def test_parse_rejects_commands_in_the_prose_around_the_json() -> None:
    text = json.dumps(ANSWER) + "\nTo revert: kubectl rollout undo deployment/web"
    assert parse_answer(text) is None


def test_parse_keeps_manager_names_that_are_not_commands() -> None:
    answer = {**ANSWER, "explanation": "The image was changed by kubectl-edit, outside Git."}
    assert parse_answer(json.dumps(answer)) is not None


# --- with a real Router -----------------------------------------------------------------------


def roomy_chain(openai: OpenAIServer, oll: OllamaServer) -> AISettings:
    """The seed's chain with deadlines no loaded CI machine reaches: these tests are about
    answers, not time (the router's deadline tests live in tests/ai)."""
    roomy = {"timeouts": {"default": 30.0}}
    return AISettings(providers=[nemotron(openai.base_url, **roomy), ollama(oll.base_url, **roomy)])


@pytest.fixture
async def router(openai_server: OpenAIServer, ollama_server: OllamaServer) -> AsyncIterator[Router]:
    """The seed's chain (nemotron then ollama, both on 127.0.0.1) as the real Router."""
    router = Router(roomy_chain(openai_server, ollama_server))
    yield router
    await router.aclose()


def hotfix_case() -> tuple[ResourceId, list[DriftItem], dict[str, Any]]:
    desired, live = image_by_kubectl_edit()
    return rid(desired), reported(items_for(desired, live)), live


async def test_a_valid_model_answer_is_used(router: Router, openai_server: OpenAIServer) -> None:
    openai_server.answer = "```json\n" + json.dumps({**ANSWER, "confidence": 0.9}) + "\n```"
    resource, items, live = hotfix_case()

    result = await interpret(router, resource, items, live)

    assert result == Interpretation(
        resource, DriftIntent.HOTFIX, ANSWER["explanation"], 0.9, "model", ("kubectl-edit",)
    )
    (request,) = openai_server.chat_requests
    system, user = request.json["messages"]
    assert system == {"role": "system", "content": SYSTEM_PROMPT}
    assert "JSON" in SYSTEM_PROMPT
    assert "not give commands" in SYSTEM_PROMPT
    prompt = user["content"]
    for fragment in ("Deployment", "default", "web", "kubectl-edit", items[0].path, "app:1.1"):
        assert fragment in prompt
    assert result.to_json() == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "namespace": "default",
        "name": "web",
        "intent": "HOTFIX",
        "explanation": ANSWER["explanation"],
        "confidence": 0.9,
        "source": "model",
        "managers": ["kubectl-edit"],
    }


@pytest.mark.parametrize(
    "answer",
    [
        "Looks like someone hotfixed the image. I would roll it back.",
        json.dumps({**ANSWER, "command": "kubectl rollout undo deployment/web"}),
        json.dumps({**ANSWER, "explanation": "A hotfix. Revert with kubectl rollout undo."}),
        json.dumps({**ANSWER, "intent": "MAINTENANCE"}),
    ],
)
async def test_unusable_model_answers_fall_back_to_the_rules(
    router: Router, openai_server: OpenAIServer, answer: str
) -> None:
    openai_server.answer = answer
    resource, items, live = hotfix_case()

    result = await interpret(router, resource, items, live)

    assert result.source == "heuristic"
    assert result.intent is DriftIntent.HOTFIX
    assert "kubectl rollout undo" not in result.explanation
    assert "not usable" in result.explanation
    assert len(openai_server.chat_requests) == 1


async def test_no_local_model_answering_falls_back_to_the_rules(refused_url: str) -> None:
    router = Router(AISettings(providers=[ollama(refused_url)]))
    resource, items, live = hotfix_case()
    try:
        result = await interpret(router, resource, items, live)
    finally:
        await router.aclose()
    assert result.source == "heuristic"
    assert result.intent is DriftIntent.HOTFIX
    assert "no local model answered" in result.explanation


async def test_no_local_provider_at_all_is_a_rejection_and_the_rules() -> None:
    cloud = ProviderConfig(
        name="cloud", kind="openai", base_url="https://203.0.113.5/v1", model="gpt-4o"
    )
    router = Router(AISettings(providers=[cloud]))
    resource, items, live = hotfix_case()
    try:
        answer = await router.chat(Intent.INTERPRET_DRIFT, "x", task_type="interpret_drift")
        result = await interpret(router, resource, items, live)
    finally:
        await router.aclose()
    assert answer.rejected
    assert [a.outcome for a in answer.attempts] == []  # the cloud provider is never tried
    assert result.source == "heuristic"
    assert result.intent is DriftIntent.HOTFIX


async def test_failing_nemotron_then_ollama_answers(
    router: Router, openai_server: OpenAIServer, ollama_server: OllamaServer
) -> None:
    openai_server.status = 503
    ollama_server.answer = json.dumps({"intent": "scaling", "explanation": "Scaled for load."})
    desired, live = replicas_by_kubectl_scale()
    items = reported(items_for(desired, live))
    result = await interpret(router, rid(desired), items, live)
    assert (result.intent, result.source, result.confidence) == (DriftIntent.SCALING, "model", 0.5)
    assert result.managers == ("kubectl-scale",)
    assert ollama_server.last_request.json["stream"] is False


async def test_the_model_cannot_talk_a_security_risk_down(
    router: Router, openai_server: OpenAIServer
) -> None:
    openai_server.answer = json.dumps(
        {"intent": "HOTFIX", "explanation": "A new image.", "confidence": 0.95}
    )
    desired, live = privileged_by_kubectl_patch()
    result = await interpret(router, rid(desired), reported(items_for(desired, live)), live)
    assert result.intent is DriftIntent.SECURITY_RISK
    assert result.source == "heuristic"
    assert "read it as HOTFIX" in result.explanation


async def test_the_prompt_holds_nothing_redact_would_hide(
    router: Router, openai_server: OpenAIServer
) -> None:
    openai_server.answer = json.dumps(ANSWER)
    desired = deployment(
        {"env": [{"name": "DB_URL", "value": "host=db"}, {"name": "DB_PASSWORD", "value": "a"}]}
    )
    live = deployment(
        {
            "env": [
                {"name": "DB_URL", "value": "host=db password=hunter2"},
                {"name": "DB_PASSWORD", "value": "s3cr3t-Horse-Battery"},
            ]
        }
    )
    live["metadata"]["annotations"] = {LAST_APPLIED: json.dumps({"spec": {"note": "topsecret42"}})}
    items = [
        *reported(items_for(desired, live)),
        item(
            rid(desired),
            ("metadata", "annotations", LAST_APPLIED),
            None,
            live["metadata"]["annotations"][LAST_APPLIED],
            Change.ADDED,
        ),
        item(rid(desired), ("metadata", "annotations"), {}, dict(live["metadata"]["annotations"])),
    ]
    assert any("DB_URL" in i.path for i in items)

    await interpret(router, rid(desired), items, live)

    sent = openai_server.last_request.body.decode()
    for secret in ("hunter2", "s3cr3t-Horse-Battery", "topsecret42"):
        assert secret not in sent
    assert "[REDACTED:" in sent
    assert "env[name=DB_PASSWORD].value" in sent


def test_the_prompt_is_capped() -> None:
    items = [
        item(DEPLOY, ("metadata", "labels", f"label-{n}"), None, "v" * 500, Change.ADDED)
        for n in range(100)
    ]
    prompt = build_prompt(DEPLOY, items, ["kubectl-label"])
    assert prompt.count("- path:") == 40
    assert "60 more drifted fields not shown" in prompt
    assert "v" * 201 not in prompt
    assert len(prompt) < 16000


SECRET_TEXT = st.text(string.ascii_letters + string.digits, min_size=12, max_size=40)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    raw=st.binary(min_size=9, max_size=48),
    plain=SECRET_TEXT,
    key=st.from_regex(r"[a-z][a-z0-9_.-]{0,20}", fullmatch=True),
)
def test_secret_values_never_reach_the_model(
    openai_server: OpenAIServer, ollama_server: OllamaServer, raw: bytes, plain: str, key: str
) -> None:
    encoded = base64.b64encode(raw).decode()
    assume(plain not in key and encoded not in key)  # the key is shown, as it should be
    items = [
        item(SECRET, ("data", key), "c3RhbGU=", encoded),
        item(SECRET, ("stringData", key), None, plain, Change.ADDED),
        item(SECRET, ("data",), {}, {key: encoded}, Change.MODIFIED),
    ]
    live = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "db",
            "namespace": "shop",
            "annotations": {LAST_APPLIED: json.dumps({"data": {key: encoded}})},
            "managedFields": [
                managed("kubectl-edit", {"f:data": {f"f:{key}": {}}}, api_version="v1")
            ],
        },
        "data": {key: encoded},
    }
    openai_server.answer = json.dumps(ANSWER)
    before = len(openai_server.chat_requests)

    async def run() -> Interpretation:
        router = Router(roomy_chain(openai_server, ollama_server))
        try:
            return await interpret(router, SECRET, items, live)
        finally:
            await router.aclose()

    result = asyncio.run(run())

    assert len(openai_server.chat_requests) == before + 1
    sent = openai_server.last_request.body.decode()
    prompt = openai_server.last_request.json["messages"][-1]["content"]
    for value in (encoded, plain):
        assert value not in sent
        assert value not in prompt
        assert value not in result.explanation
    assert SECRET_OMITTED in prompt
    assert f"data.{key}" in prompt or f'data["{key}"]' in prompt


# --- interpret_report -------------------------------------------------------------------------


async def test_interpret_report_groups_by_resource_and_leaves_ignored_out() -> None:
    hot_desired, hot_live = image_by_kubectl_edit()
    hot_desired["metadata"]["namespace"] = hot_live["metadata"]["namespace"] = "shop"
    scale_desired, scale_live = replicas_by_hpa()
    scale_desired["metadata"]["name"] = scale_live["metadata"]["name"] = "api"
    cm_desired, cm_live = config_map_by_kubectl_edit()
    hot = items_for(hot_desired, hot_live)
    scaled = items_for(scale_desired, scale_live)
    tuned = items_for(cm_desired, cm_live)
    assert [i.ignored for i in scaled] == [True]  # an HPA's replicas are not drift
    # The same name in another API group is another resource (keys carry the group).
    legacy = ResourceId("extensions/v1beta1", "Deployment", "shop", "web")
    legacy_item = item(legacy, (*CONTAINER, "resources", "limits", "cpu"), "1", "2")
    assert legacy.key() != rid(hot_desired).key()
    items = [*tuned, *hot, *scaled, legacy_item]
    lives: dict[tuple[str, str, str, str], Any] = {
        rid(hot_desired).key(): hot_live,
        rid(scale_desired).key(): scale_live,
        rid(cm_desired).key(): cm_live,
    }

    results = await interpret_report(None, items, lives)

    assert [(str(r.resource), r.intent) for r in results] == [
        ("ConfigMap/default/web-config", DriftIntent.CONFIG_TUNING),
        ("Deployment/shop/web", DriftIntent.HOTFIX),
        ("Deployment/shop/web", DriftIntent.CONFIG_TUNING),
    ]
    assert results[1].managers == ("kubectl-edit",)
    assert results[2].managers == ()  # no live object was given for it
    assert all(r.source == "heuristic" for r in results)
    assert await interpret_report(None, list(reversed(items)), lives) == results
    assert await interpret_report(None, scaled, lives) == []


class CountingRouter:
    """A ChatRouter (our Protocol) answering one fixed way, counting the calls."""

    def __init__(self, *, rejected: bool) -> None:
        self.rejected = rejected
        self.calls = 0

    async def chat(
        self,
        intent: Intent | str,
        prompt: str,
        *,
        system: str | None = None,
        task_type: str | None = None,
    ) -> ChatResult:
        self.calls += 1
        text = "" if self.rejected else '{"intent": "EXPERIMENT", "explanation": "A trial."}'
        return ChatResult(
            text=text,
            success=not self.rejected,
            total_tokens=0,
            cost_usd=0.0,
            provider=None if self.rejected else "ollama",
            latency_ms=1.0,
            rejected=self.rejected,
            error="rejected" if self.rejected else None,
        )


def three_resources() -> tuple[list[Any], dict[tuple[str, str, str, str], Any]]:
    items = []
    for name in ("a", "b", "c"):
        resource = ResourceId("v1", "ConfigMap", "shop", name)
        items.append(item(resource, ("data", "MODE"), "x", "y"))
    return items, {}


async def test_after_a_rejection_the_rest_of_the_report_is_read_by_rules() -> None:
    items, lives = three_resources()
    router = CountingRouter(rejected=True)
    results = await interpret_report(router, items, lives)
    assert router.calls == 1  # one rejection (and one notice) per report, not per resource
    assert [r.source for r in results] == ["heuristic"] * 3


async def test_the_model_reads_at_most_max_model_calls_resources() -> None:
    items, lives = three_resources()
    router = CountingRouter(rejected=False)
    results = await interpret_report(router, items, lives, max_model_calls=2)
    assert router.calls == 2
    assert [r.source for r in results] == ["model", "model", "heuristic"]
    assert results[0].intent is DriftIntent.EXPERIMENT

"""The service's overlays render to what an SRE expects: schema-valid objects, probes on routes
the app serves, hardened pods, a PodDisruptionBudget, migrations before serving, container
commands the CLI accepts, a config file the settings accept, Secrets referenced (never held)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import typer.main
from typer.core import TyperGroup

import awoooi
from awoooi.api.app import create_app
from awoooi.cli.main import app as cli
from awoooi.config_docs import iter_settings
from awoooi.core.config import CONFIG_ENV_VAR
from awoooi.settings import load_settings
from tests.deploy.manifests import (
    JSON,
    OVERLAYS,
    ROOT,
    containers,
    of_kind,
    one,
    overlay,
    pod_specs,
    render,
)

# The oldest Kubernetes release the manifests are checked against (PodDisruptionBudget
# policy/v1 and seccompProfile need 1.21+; this is the kubectl the image ships).
KUBERNETES_VERSION = "1.31.0"
HOME = "/var/lib/awoooi"
SECRET_ENVS = {doc.env for doc in iter_settings() if doc.type.startswith("secret string")}
SETTING_ENVS = {doc.env for doc in iter_settings()}


def parse_command(args: list[str]) -> tuple[list[str], dict[str, Any]]:
    """The awoooi subcommand a container's args run and its parsed options (a click
    UsageError when the CLI does not accept them)."""
    command = typer.main.get_command(cli)
    ctx = command.make_context("awoooi", list(args))
    path: list[str] = []
    rest = list(args)  # the root and the groups on the way take no options here
    while isinstance(command, TyperGroup):
        name, sub, rest = command.resolve_command(ctx, rest)
        assert name is not None
        assert sub is not None
        path.append(name)
        command = sub
        ctx = command.make_context(name, list(rest), parent=ctx)
    return path, dict(ctx.params)


def deployments(name: str) -> dict[str, JSON]:
    objects = render(ROOT / "overlays" / name)
    return {d["metadata"]["name"]: d for d in of_kind(objects, "Deployment")}


def env_of(container: JSON) -> dict[str, JSON]:
    return {item["name"]: item for item in container.get("env", [])}


@pytest.mark.parametrize("name", [*OVERLAYS, "with-components"])
def test_every_object_is_valid_for_kubernetes(name: str, tmp_path: Path) -> None:
    components = ["components/repair", "components/drift-rollback"]
    directory = (
        overlay(tmp_path, ["overlays/production"], components)
        if name == "with-components"
        else ROOT / "overlays" / name
    )
    objects = render(directory) + render(ROOT / "drift-cronjob")
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_probes_call_routes_the_app_serves(tmp_path: Path) -> None:
    # The paths the app really serves GET on, from its own OpenAPI document.
    paths = create_app(load_settings(home=tmp_path)).openapi()["paths"]
    served = {path for path, operations in paths.items() if "get" in operations}
    for name in OVERLAYS:
        api = deployments(name)["awoooi-api"]["spec"]["template"]["spec"]
        [container] = api["containers"]
        [port] = container["ports"]
        _, options = parse_command(container["args"])
        assert port["containerPort"] == options["port"]
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        assert {"/readyz", "/healthz"} <= served
        service = one(render(ROOT / "overlays" / name), "Service", "awoooi")
        assert [p["targetPort"] for p in service["spec"]["ports"]] == [port["name"]]


@pytest.mark.parametrize("name", OVERLAYS)
def test_pods_run_hardened_with_writable_state_on_volumes_only(name: str) -> None:
    for workload, spec in pod_specs(render(ROOT / "overlays" / name)):
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, workload
        assert pod["runAsUser"] == pod["runAsGroup"] == pod["fsGroup"] == 10001
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["serviceAccountName"] == "awoooi"
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in containers(spec):
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            }
            assert set(container["resources"]["requests"]) == {"cpu", "memory"}
            assert set(container["resources"]["limits"]) == {"cpu", "memory"}
            writable = {
                m["mountPath"]: volumes[m["name"]]
                for m in container["volumeMounts"]
                if not m.get("readOnly")
            }
            assert set(writable) == {HOME, "/tmp"}
            assert env_of(container)["AWOOOI_HOME"]["value"] == HOME
            assert env_of(container)["HOME"]["value"] == HOME


@pytest.mark.parametrize("name", OVERLAYS)
def test_migrations_run_before_the_service_starts(name: str) -> None:
    for workload, deployment in deployments(name).items():
        spec = deployment["spec"]["template"]["spec"]
        [migrate] = spec["initContainers"]
        [main] = spec["containers"]
        # Init containers run to completion, in order, before any container starts.
        assert parse_command(migrate["args"]) == (["db", "upgrade"], {})
        assert migrate["image"] == main["image"], workload
        # The same database, config and state directory as the process it prepares.
        assert migrate["env"] == main["env"], workload
        assert migrate["volumeMounts"] == main["volumeMounts"], workload


def test_production_migrates_in_a_job_named_for_its_version() -> None:
    objects = render(ROOT / "overlays" / "production")
    [job] = of_kind(objects, "Job")
    # A Job's pod template is immutable: one Job per version, so an upgrade applies cleanly.
    assert job["metadata"]["name"] == "awoooi-db-upgrade-" + awoooi.__version__.replace(".", "-")
    spec = job["spec"]["template"]["spec"]
    [migrate] = spec["containers"]
    assert parse_command(migrate["args"]) == (["db", "upgrade"], {})
    assert spec["restartPolicy"] in ("OnFailure", "Never")
    api = deployments("production")["awoooi-api"]["spec"]["template"]["spec"]["containers"][0]
    assert migrate["image"] == api["image"]
    database = env_of(migrate)["AWOOOI_DATABASE_URL"]
    assert database == env_of(api)["AWOOOI_DATABASE_URL"]
    assert "secretKeyRef" in database["valueFrom"]
    assert env_of(migrate)["AWOOOI_CONFIG"] == env_of(api)["AWOOOI_CONFIG"]
    assert of_kind(render(ROOT / "overlays" / "dev"), "Job") == []  # one process migrates itself


def test_production_runs_replicated_api_workers_and_a_disruption_budget() -> None:
    objects = render(ROOT / "overlays" / "production")
    found = deployments("production")
    api, worker = found["awoooi-api"], found["awoooi-worker"]
    assert api["spec"]["replicas"] == 2
    assert api["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert worker["spec"]["replicas"] == 2
    [api_container] = api["spec"]["template"]["spec"]["containers"]
    [worker_container] = worker["spec"]["template"]["spec"]["containers"]
    assert parse_command(api_container["args"])[1]["no_worker"] is True
    assert parse_command(worker_container["args"])[0] == ["worker"]
    [budget] = of_kind(objects, "PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == 1 < api["spec"]["replicas"]
    labels = api["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert not (
        budget["spec"]["selector"]["matchLabels"].items()
        <= worker["spec"]["template"]["metadata"]["labels"].items()
    )


def test_dev_is_one_process_on_sqlite_in_a_volume() -> None:
    objects = render(ROOT / "overlays" / "dev")
    assert set(deployments("dev")) == {"awoooi-api"}
    assert not of_kind(objects, "PodDisruptionBudget")
    api = deployments("dev")["awoooi-api"]
    assert api["spec"]["replicas"] == 1
    assert api["spec"]["strategy"] == {"type": "Recreate"}
    spec = api["spec"]["template"]["spec"]
    [container] = spec["containers"]
    path, options = parse_command(container["args"])
    assert path == ["serve"]
    assert options["no_worker"] is False  # the in-process worker runs the jobs
    [home] = [v for v in spec["volumes"] if v["name"] == "home"]
    claim = home["persistentVolumeClaim"]["claimName"]
    assert "emptyDir" not in home
    assert one(objects, "PersistentVolumeClaim", claim)
    assert "AWOOOI_DATABASE_URL" not in env_of(container)  # SQLite under AWOOOI_HOME


@pytest.mark.parametrize("name", OVERLAYS)
def test_the_config_file_is_mounted_where_awoooi_reads_it_and_is_valid(
    name: str, tmp_path: Path
) -> None:
    objects = render(ROOT / "overlays" / name)
    config_map = one(objects, "ConfigMap", "awoooi-config")
    for _, spec in pod_specs(objects):
        for container in containers(spec):
            env = env_of(container)
            path = Path(env[CONFIG_ENV_VAR]["value"])
            [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == str(path.parent)]
            [volume] = [v for v in spec["volumes"] if v["name"] == mount["name"]]
            assert volume["configMap"]["name"] == "awoooi-config"
            assert path.name in config_map["data"]
            # Every variable is a setting awoooi knows (a typo would be silently ignored).
            assert set(env) <= SETTING_ENVS | {CONFIG_ENV_VAR, "HOME"}
    file = tmp_path / "awoooi.yaml"
    file.write_text(config_map["data"]["awoooi.yaml"])
    settings = load_settings(file)
    assert settings.kube.in_cluster is True
    assert settings.log_format == "json"


@pytest.mark.parametrize("name", OVERLAYS)
def test_every_secret_setting_comes_from_the_secret_by_reference(name: str) -> None:
    wanted = SECRET_ENVS if name == "production" else SECRET_ENVS - {"AWOOOI_DATABASE_URL"}
    objects = render(ROOT / "overlays" / name)
    assert not of_kind(objects, "Secret")
    for _, spec in pod_specs(objects):
        for container in containers(spec):
            env = env_of(container)
            refs = {k: v["valueFrom"]["secretKeyRef"] for k, v in env.items() if "valueFrom" in v}
            assert set(refs) == wanted
            assert not any("value" in env[k] for k in SECRET_ENVS if k in env)
            assert {ref["name"] for ref in refs.values()} == {"awoooi"}
            for key, ref in refs.items():
                # Channels are optional; the production database is not: without it the pods
                # would start on SQLite in an emptyDir.
                assert ref.get("optional", False) is (key != "AWOOOI_DATABASE_URL"), key


@pytest.mark.parametrize("name", OVERLAYS)
def test_the_network_policy_admits_the_api_port_only_and_reaches_dns(name: str) -> None:
    objects = render(ROOT / "overlays" / name)
    [policy] = of_kind(objects, "NetworkPolicy")
    selector = policy["spec"]["podSelector"]["matchLabels"]
    for deployment in of_kind(objects, "Deployment"):
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    api = one(objects, "Deployment", "awoooi-api")["spec"]["template"]["spec"]["containers"][0]
    ports = [p for rule in policy["spec"]["ingress"] for p in rule["ports"]]
    assert ports == [{"protocol": "TCP", "port": api["ports"][0]["containerPort"]}]
    rules = policy["spec"]["egress"]
    egress = {(p["protocol"], p["port"]) for rule in rules for p in rule["ports"]}
    assert {("UDP", 53), ("TCP", 53), ("TCP", 5432), ("TCP", 443)} <= egress

"""Remote kustomize bases and files in a drift scan: refused before `kubectl kustomize` runs (a
real HTTP server on 127.0.0.1 records that nothing was fetched) unless
`drift.kustomize_allow_remote` names the host, through every nested kustomization; paths that
leave the repository are refused too; and no problem shows the server's own paths."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from awoooi.adapters.git import GitCli
from awoooi.core.models import Role
from awoooi.drift.settings import DriftSettings
from awoooi.drift.sources import DesiredState, DriftSourceError, load_desired
from awoooi.runtime import Runtime
from awoooi.settings import Settings
from tests.conftest import make_settings
from tests.drift.conftest import seed_remote

GIT = GitCli()
FETCHED = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fetched\ndata:\n  a: '1'\n"
LOCAL = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: local\ndata:\n  a: '1'\n"


@dataclass
class RecordingServer:
    """An HTTP server that serves a ConfigMap at every path and records each request."""

    url: str
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    recorded: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            recorded.append(f"GET {self.path}")
            body = FETCHED.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/yaml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        found = RecordingServer(f"http://127.0.0.1:{httpd.server_port}", recorded)
        found.requests = recorded
        yield found
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def kustomization(**fields: Any) -> str:
    return yaml.safe_dump(fields, sort_keys=False)


async def scan_directory(root: Path, settings: DriftSettings, **kwargs: Any) -> DesiredState:
    return await load_desired(
        str(root), git=GIT, settings=settings, cache_dir=root.parent / "cache", **kwargs
    )


def names(desired: DesiredState) -> list[str]:
    return sorted(manifest.resource.name for manifest in desired.manifests)


def messages(desired: DesiredState) -> list[str]:
    return [str(problem) for problem in desired.problems]


# ------------------------------------------------------------------ the finding


async def test_a_remote_resource_is_refused_and_never_fetched(
    tmp_path: Path, server: RecordingServer
) -> None:
    repo = write_tree(
        tmp_path / "repo",
        {
            "app/kustomization.yaml": kustomization(
                resources=["local.yaml", f"{server.url}/meta.yaml"]
            ),
            "app/local.yaml": LOCAL,
            "plain/cm.yaml": LOCAL.replace("name: local", "name: plain"),
        },
    )

    desired = await scan_directory(repo, DriftSettings())

    assert server.requests == []
    assert names(desired) == ["plain"]  # the refused kustomization is not rendered at all
    [problem] = desired.problems
    assert problem.source == "app/kustomization.yaml"
    assert f"resources '{server.url}/meta.yaml'" in problem.message
    assert "host 127.0.0.1" in problem.message
    assert "drift.kustomize_allow_remote" in problem.message
    assert not problem.warning


async def test_an_allowed_host_is_fetched(tmp_path: Path, server: RecordingServer) -> None:
    repo = write_tree(
        tmp_path / "repo",
        {
            "app/kustomization.yaml": kustomization(
                resources=["local.yaml", f"{server.url}/meta.yaml"]
            ),
            "app/local.yaml": LOCAL,
        },
    )

    desired = await scan_directory(repo, DriftSettings(kustomize_allow_remote=["127.0.0.1"]))

    assert messages(desired) == []
    assert server.requests == ["GET /meta.yaml"]
    assert names(desired) == ["fetched", "local"]


async def test_another_allowed_host_does_not_allow_this_one(
    tmp_path: Path, server: RecordingServer
) -> None:
    repo = write_tree(
        tmp_path / "repo",
        {"app/kustomization.yaml": kustomization(resources=[f"{server.url}/meta.yaml"])},
    )

    desired = await scan_directory(repo, DriftSettings(kustomize_allow_remote=["example.com"]))

    assert server.requests == []
    assert "host 127.0.0.1" in messages(desired)[0]


# ------------------------------------------------------------------ every field, every depth


def remote_in(url: str) -> dict[str, dict[str, Any]]:
    """A kustomization per field that can name a file or base, each naming `url` there."""
    return {
        "resources": {"resources": [url]},
        "bases": {"bases": [url]},
        "components": {"components": [url]},
        "crds": {"crds": [url]},
        "configurations": {"configurations": [url]},
        "generators": {"generators": [url]},
        "transformers": {"transformers": [url]},
        "validators": {"validators": [url]},
        "patches[0].path": {"patches": [{"path": url}]},
        "patchesStrategicMerge": {"patchesStrategicMerge": [url]},
        "patchesJson6902[0].path": {
            "patchesJson6902": [{"path": url, "target": {"kind": "ConfigMap", "name": "x"}}]
        },
        "replacements[0].path": {"replacements": [{"path": url}]},
        "openapi.path": {"openapi": {"path": url}},
        "configMapGenerator[0].files": {"configMapGenerator": [{"name": "c", "files": [url]}]},
        "configMapGenerator[0].envs": {"configMapGenerator": [{"name": "c", "envs": [url]}]},
        "secretGenerator[0].env": {"secretGenerator": [{"name": "s", "env": url}]},
        "helmCharts[0].repo": {"helmCharts": [{"name": "web", "repo": url}]},
        "helmCharts[0].valuesFile": {"helmCharts": [{"name": "web", "valuesFile": url}]},
        "helmChartInflationGenerator[0].chartRepoUrl": {
            "helmChartInflationGenerator": [{"chartName": "web", "chartRepoUrl": url}]
        },
        "Resources (any case, as kustomize reads it)": {"Resources": [url]},
    }


FIELDS = list(remote_in("x"))


@pytest.mark.parametrize("where", FIELDS)
async def test_every_field_that_names_a_location_is_checked(
    tmp_path: Path, server: RecordingServer, where: str
) -> None:
    url = f"{server.url}/meta.yaml"
    repo = write_tree(
        tmp_path / "repo", {"app/kustomization.yaml": kustomization(**remote_in(url)[where])}
    )

    desired = await scan_directory(repo, DriftSettings())

    assert server.requests == []
    [problem] = desired.problems
    assert problem.source == "app/kustomization.yaml"
    assert "host 127.0.0.1" in problem.message
    shown_field = where.split(" ")[0]
    assert f"{shown_field} '{url}'" in problem.message


async def test_nested_local_bases_and_components_are_checked_all_the_way_down(
    tmp_path: Path, server: RecordingServer
) -> None:
    url = f"{server.url}/deep.yaml"
    repo = write_tree(
        tmp_path / "repo",
        {
            "overlays/prod/kustomization.yaml": kustomization(
                resources=["../../base"], components=["../../components/extra"]
            ),
            "base/kustomization.yml": kustomization(resources=["cm.yaml", "nested"]),
            "base/cm.yaml": LOCAL,
            "base/nested/Kustomization": kustomization(bases=[url]),
            "components/extra/kustomization.yaml": kustomization(
                apiVersion="kustomize.config.k8s.io/v1alpha1",
                kind="Component",
                patches=[{"path": f"{server.url}/patch.yaml"}],
            ),
        },
    )

    desired = await scan_directory(repo, DriftSettings(), sub_path="overlays/prod")

    assert server.requests == []
    assert names(desired) == []
    assert sorted(messages(desired)) == [
        f"kustomization.yaml: bases '{url}' in base/nested/Kustomization is remote "
        "(host 127.0.0.1); drift.kustomize_allow_remote does not name it: not fetched",
        f"kustomization.yaml: patches[0].path '{server.url}/patch.yaml' in "
        "components/extra/kustomization.yaml is remote (host 127.0.0.1); "
        "drift.kustomize_allow_remote does not name it: not fetched",
    ]


async def test_local_references_inside_the_repository_still_render(tmp_path: Path) -> None:
    repo = write_tree(
        tmp_path / "repo",
        {
            "overlay/kustomization.yaml": kustomization(
                resources=["../base"],
                namePrefix="prod-",
                patches=[
                    {"path": "patch.yaml"},
                    {
                        "patch": "- op: add\n  path: /data/c\n  value: '3'\n",
                        "target": {"kind": "ConfigMap"},
                    },
                ],
                patchesStrategicMerge=[
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: local\ndata:\n  d: '4'\n"
                ],
                configMapGenerator=[{"name": "gen", "files": ["key=conf.txt"], "envs": ["a.env"]}],
            ),
            "overlay/patch.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: local\n"
            "data:\n  b: '2'\n",
            "overlay/conf.txt": "x\n",
            "overlay/a.env": "A=1\n",
            "base/kustomization.yaml": kustomization(resources=["cm.yaml"]),
            "base/cm.yaml": LOCAL,
        },
    )

    desired = await scan_directory(repo, DriftSettings(), sub_path="overlay")

    assert messages(desired) == []
    assert names(desired)[0].startswith("prod-gen-")
    assert names(desired)[1] == "prod-local"
    local = next(m.obj for m in desired.manifests if m.resource.name == "prod-local")
    assert local["data"] == {"a": "1", "b": "2", "c": "3", "d": "4"}


# ------------------------------------------------------------------ remote forms, escapes


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("github.com/org/repo//deploy?ref=v1", "is remote (host github.com)"),
        ("GitHub.com/org/repo", "is remote (host github.com)"),
        ("git@github.com:org/repo", "is remote (host github.com)"),
        ("https://git.example.com/org/repo.git//base?ref=main", "is remote (host git.example.com)"),
        ("ssh://git@git.example.com/org/repo", "is remote (host git.example.com)"),
        ("git::https://git.example.com/org/repo", "is remote (host git.example.com)"),
        ("gh:org/repo", "is remote (host github.com)"),
        ("oci://registry.example.com/charts", "is remote (host registry.example.com)"),
        ("file:///etc", "is a file:// URL"),
        ("git::/srv/other-repo", "is a URL without a host"),
        ("../../etc", "leaves the repository"),
        ("../outside", "leaves the repository"),
        ("/etc/passwd", "is an absolute path"),
        ("escape-link", "leaves the repository"),
        ("missing-dir", "does not exist in the repository"),
    ],
)
async def test_remote_forms_and_escapes_are_refused(
    tmp_path: Path, entry: str, expected: str
) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "kustomization.yaml").write_text(kustomization(resources=["cm.yaml"]))
    (tmp_path / "outside" / "cm.yaml").write_text(LOCAL)
    repo = write_tree(tmp_path / "repo", {"app/kustomization.yaml": kustomization(bases=[entry])})
    (repo / "app" / "escape-link").symlink_to(tmp_path / "outside")
    # The scan reads the repository root; `../outside` from app/ stays inside, so nest once more.
    if entry == "../outside":
        (repo / "app" / "kustomization.yaml").unlink()
        write_tree(repo, {"kustomization.yaml": kustomization(bases=[entry])})

    desired = await scan_directory(repo, DriftSettings(kustomize_allow_remote=["example.org"]))

    assert names(desired) == []
    [problem] = desired.problems
    assert f"bases '{entry}' {expected}" in problem.message
    assert str(tmp_path) not in problem.message


async def test_a_kustomization_file_linked_from_outside_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "outside.yaml").write_text(kustomization(resources=["/etc/passwd"]))
    repo = write_tree(tmp_path / "repo", {"app/cm.yaml": LOCAL})
    (repo / "app" / "kustomization.yaml").symlink_to(tmp_path / "outside.yaml")

    desired = await scan_directory(repo, DriftSettings())

    assert names(desired) == []
    assert messages(desired) == [
        "app/kustomization.yaml: kustomization 'kustomization.yaml' links outside the "
        "repository: refused"
    ]


async def test_a_local_git_work_tree_is_the_repository_of_its_sub_directories(
    tmp_path: Path,
) -> None:
    repo = write_tree(
        tmp_path / "repo",
        {
            "base/kustomization.yaml": kustomization(resources=["cm.yaml"]),
            "base/cm.yaml": LOCAL,
            "overlay/kustomization.yaml": kustomization(resources=["../base"], namePrefix="p-"),
        },
    )
    (repo / ".git").mkdir()  # what `git init` leaves: enough to mark the work tree

    desired = await scan_directory(repo / "overlay", DriftSettings())

    assert messages(desired) == []
    assert names(desired) == ["p-local"]


# ------------------------------------------------------------------ no server paths in problems


async def test_problems_of_a_git_checkout_show_repository_paths_only(
    tmp_path: Path, server: RecordingServer
) -> None:
    remote = seed_remote(
        tmp_path,
        {
            "apps/broken/kustomization.yaml": kustomization(resources=["empty"]),
            "apps/broken/empty/.keep": "",
            "apps/remote/kustomization.yaml": kustomization(resources=[f"{server.url}/m.yaml"]),
            "apps/escape/kustomization.yaml": kustomization(resources=["../../../x"]),
        },
    )
    home = tmp_path / "home"

    desired = await load_desired(
        f"file://{remote}",
        git=GIT,
        settings=DriftSettings(),
        cache_dir=home / "git-cache",
    )

    assert server.requests == []
    shown = messages(desired)
    assert len(shown) == 3, shown
    for message in shown:
        assert str(home) not in message
        assert "git-cache" not in message
        assert str(tmp_path) not in message
    broken = next(m for m in shown if m.startswith("apps/broken/kustomization.yaml:"))
    assert "apps/broken/empty" in broken  # kustomize's own error, with the repository's path


async def test_a_missing_path_names_the_git_url_not_the_cache(tmp_path: Path) -> None:
    remote = seed_remote(tmp_path, {"a.yaml": LOCAL})
    cache = tmp_path / "home" / "git-cache"

    with pytest.raises(DriftSourceError) as caught:
        await load_desired(
            f"file://{remote}", git=GIT, sub_path="nope", settings=DriftSettings(), cache_dir=cache
        )

    assert caught.value.detail == f"--path 'nope' does not exist in file://{remote}"


@pytest.fixture
def git_remote(tmp_path: Path, server: RecordingServer) -> Path:
    return seed_remote(
        tmp_path,
        {
            "kustomization.yaml": kustomization(
                resources=["cm.yaml", f"{server.url}/meta.yaml", "missing"]
            ),
            "cm.yaml": LOCAL,
        },
    )


@pytest.fixture
def settings(tmp_path: Path, database_url: str, git_remote: Path) -> Settings:
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "live.yaml").write_text(LOCAL)
    return make_settings(
        tmp_path / "home",
        database_url,
        drift={
            "desired": f"file://{git_remote}",
            "live_dump": dump,
            "interpret": False,
            "scan_interval": 0,
        },
    )


async def test_the_api_report_names_the_refusal_without_server_paths(
    client: httpx.AsyncClient,
    runtime: Runtime,
    headers_for: Any,
    server: RecordingServer,
    tmp_path: Path,
) -> None:
    operator = await headers_for(Role.OPERATOR)
    queued = await client.post("/api/v1/drift/scan", headers=operator)
    assert queued.status_code == 202, queued.text
    await runtime.worker().run_until_idle()

    answer = await client.get(
        f"/api/v1/drift/reports/{queued.json()['report_id']}", headers=operator
    )

    assert server.requests == []
    report = answer.json()
    assert sorted(report["problems"]) == [
        f"kustomization.yaml: resources '{server.url}/meta.yaml' is remote (host 127.0.0.1); "
        "drift.kustomize_allow_remote does not name it: not fetched",
        "kustomization.yaml: resources 'missing' does not exist in the repository",
    ]
    # The configured sources are shown as configured; the server's home and cache never.
    assert str(tmp_path / "home") not in answer.text
    assert "git-cache" not in answer.text
    assert all(str(tmp_path) not in problem for problem in report["problems"])


# ------------------------------------------------------------------ the setting


def test_allowed_hosts_are_bare_host_names() -> None:
    settings = DriftSettings(kustomize_allow_remote=[" GitHub.com ", "10.0.0.5", "[::1]"])

    assert settings.kustomize_allow_remote == ["github.com", "10.0.0.5", "::1"]
    assert DriftSettings().kustomize_allow_remote == []


@pytest.mark.parametrize(
    "host", ["https://github.com", "github.com:443", "github.com/org", "*.example.com", ""]
)
def test_anything_but_a_host_name_is_refused(host: str) -> None:
    with pytest.raises(ValueError, match="is not a host name"):
        DriftSettings(kustomize_allow_remote=[host])


async def test_an_allowed_ipv6_literal_matches_its_url(tmp_path: Path) -> None:
    repo = write_tree(
        tmp_path / "repo",
        {"app/kustomization.yaml": kustomization(resources=["http://[::1]:9/x.yaml"])},
    )

    refused = await scan_directory(repo, DriftSettings())
    allowed = await scan_directory(repo, DriftSettings(kustomize_allow_remote=["::1"]))

    assert "is remote (host ::1)" in messages(refused)[0]
    # Allowed: kustomize runs and fails to connect (port 9, discard), no refusal of ours.
    assert "kubectl kustomize failed" in messages(allowed)[0]

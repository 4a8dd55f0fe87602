"""`awoooi ai providers|check|chat` as a user runs them: a subprocess with a YAML config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.ai.support import NEMOTRON_MODEL, OLLAMA_MODEL
from tests.helpers import llm_servers
from tests.helpers.llm_servers import OllamaServer, OpenAIServer

openai_server = llm_servers.openai_server
ollama_server = llm_servers.ollama_server
refused_url = llm_servers.refused_url

AWOOOI = str(Path(sys.executable).parent / "awoooi")


def providers(openai_url: str, ollama_url: str) -> list[dict[str, Any]]:
    return [
        {
            "name": "nemotron",
            "kind": "openai",
            "base_url": openai_url,
            "model": NEMOTRON_MODEL,
            "timeouts": {"diagnose": 0.5, "default": 1.0},
        },
        {
            "name": "ollama",
            "kind": "ollama",
            "base_url": ollama_url,
            "model": OLLAMA_MODEL,
            "timeouts": {"diagnose": 1.0, "default": 1.0},
        },
    ]


def write_config(tmp_path: Path, ai: dict[str, Any]) -> Path:
    path = tmp_path / "awoooi.yaml"
    config = {"home": str(tmp_path / "home"), "log_level": "warning", "ai": ai}
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def awoooi(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWOOOI_")}
    env["COLUMNS"] = "250"
    return subprocess.run(  # a fixed argv, no shell
        [AWOOOI, "--config", str(config), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def line_with(text: str, *words: str) -> str:
    """The one output line holding every word."""
    lines = [line for line in text.splitlines() if all(word in line for word in words)]
    assert len(lines) == 1, (words, text)
    return lines[0]


def test_providers_lists_locality_breakers_and_chains(
    tmp_path: Path, openai_server: OpenAIServer, ollama_server: OllamaServer
) -> None:
    ai = {
        "providers": [
            *providers(openai_server.base_url, ollama_server.base_url),
            {
                "name": "cloudy",
                "kind": "ollama",
                "base_url": ollama_server.base_url,
                "model": "gpt-oss:120b-cloud",
            },
        ],
        "chains": {"chat": ["cloudy", "nemotron"]},
    }
    done = awoooi(write_config(tmp_path, ai), "ai", "providers", "--yes")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    nemotron = line_with(out, "nemotron", "openai", NEMOTRON_MODEL)
    assert "local" in nemotron
    assert "closed" in nemotron
    assert openai_server.base_url in nemotron
    assert "local" in line_with(out, "ollama", OLLAMA_MODEL)
    cloudy = line_with(out, "cloudy", "gpt-oss:120b-cloud")
    assert "CLOUD" in cloudy
    assert "closed" in cloudy
    assert "nemotron -> ollama" in line_with(out, "diagnose")
    assert "nemotron -> ollama" in line_with(out, "generate_runbook")
    assert "nemotron -> ollama" in line_with(out, "interpret_drift")
    assert "cloudy -> nemotron" in line_with(out, "chat")
    assert "nemotron -> ollama -> cloudy" in line_with(out, "summarize")
    assert openai_server.requests == ollama_server.requests == []  # listing calls nothing


def test_cloud_provider_in_a_local_only_chain_exits_2(
    tmp_path: Path, openai_server: OpenAIServer, ollama_server: OllamaServer
) -> None:
    ai = {
        "providers": [
            *providers(openai_server.base_url, ollama_server.base_url),
            {
                "name": "gpt",
                "kind": "openai",
                "base_url": "https://api.openai.com/v1",
                "model": "gpt-4o",
            },
        ],
        "chains": {"diagnose": ["nemotron", "gpt"]},
    }
    done = awoooi(write_config(tmp_path, ai), "ai", "providers", "--yes")
    assert done.returncode == 2
    assert "'gpt'" in done.stderr
    assert "'diagnose'" in done.stderr
    assert "not local" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_check_passes_when_both_serve_their_model(
    tmp_path: Path, openai_server: OpenAIServer, ollama_server: OllamaServer
) -> None:
    openai_server.models = ["meta/llama-3.1-8b-instruct", NEMOTRON_MODEL]
    ollama_server.models = ["mistral:7b", OLLAMA_MODEL]
    config = write_config(
        tmp_path, {"providers": providers(openai_server.base_url, ollama_server.base_url)}
    )
    done = awoooi(config, "ai", "check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "yes" in line_with(done.stdout, "nemotron")
    assert "yes" in line_with(done.stdout, "ollama")
    assert [r.path for r in openai_server.requests] == ["/v1/models"]
    assert [r.path for r in ollama_server.requests] == ["/api/tags"]

    ollama_server.models = ["mistral:7b"]  # the configured model is not pulled
    done = awoooi(config, "ai", "check")
    assert done.returncode == 1
    assert "NO" in line_with(done.stdout, "ollama", "model_missing")
    assert "yes" in line_with(done.stdout, "nemotron")


def test_check_fails_when_one_is_down(
    tmp_path: Path, openai_server: OpenAIServer, refused_url: str
) -> None:
    openai_server.models = [NEMOTRON_MODEL]
    config = write_config(tmp_path, {"providers": providers(openai_server.base_url, refused_url)})
    done = awoooi(config, "ai", "check")
    assert done.returncode == 1
    assert "yes" in line_with(done.stdout, "nemotron")
    assert "NO" in line_with(done.stdout, "ollama", "connection")
    assert "Traceback" not in done.stderr


def test_chat_prints_the_answer(
    tmp_path: Path, openai_server: OpenAIServer, ollama_server: OllamaServer
) -> None:
    openai_server.answer = "Hello, operator."
    config = write_config(
        tmp_path, {"providers": providers(openai_server.base_url, ollama_server.base_url)}
    )
    done = awoooi(config, "ai", "chat", "--yes", "--intent", "chat", "hello")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Hello, operator."
    assert "nemotron" in done.stderr  # provider, tokens, cost and latency go to stderr
    assert openai_server.last_request.json["messages"] == [{"role": "user", "content": "hello"}]


def test_chat_diagnose_with_both_down_is_rejected(
    tmp_path: Path, openai_server: OpenAIServer, refused_url: str
) -> None:
    openai_server.status = 503
    config = write_config(tmp_path, {"providers": providers(openai_server.base_url, refused_url)})
    done = awoooi(
        config, "ai", "chat", "--yes", "--intent", "diagnose", "why is PROMPT-MARKER-c0ffee down"
    )
    assert done.returncode == 1
    assert "diagnose rejected: no local model available" in done.stderr
    assert "nemotron: HTTP 503" in done.stderr
    assert "ollama: cannot connect" in done.stderr
    assert "PROMPT-MARKER" not in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""

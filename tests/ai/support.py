"""Shared pieces of the AI tests: the seed's providers pointed at the test servers."""

from __future__ import annotations

from typing import Any

from awoooi.ai.settings import AISettings, ProviderConfig
from tests.helpers.llm_servers import OllamaServer, OpenAIServer

NEMOTRON_MODEL = "nvidia/llama-3.1-nemotron-70b-instruct"
OLLAMA_MODEL = "llama3.1:8b"


def nemotron(base_url: str, **values: Any) -> ProviderConfig:
    """The seed's first provider (an OpenAI-compatible NIM) with small deadlines."""
    return ProviderConfig(
        name="nemotron",
        kind="openai",
        base_url=base_url,
        model=NEMOTRON_MODEL,
        **{"timeouts": {"diagnose": 0.5, "default": 0.4}, **values},
    )


def ollama(base_url: str, **values: Any) -> ProviderConfig:
    """The seed's second provider (Ollama) with small deadlines."""
    return ProviderConfig(
        name="ollama",
        kind="ollama",
        base_url=base_url,
        model=OLLAMA_MODEL,
        **{"timeouts": {"diagnose": 1.0, "default": 0.8}, **values},
    )


def seed(openai: OpenAIServer, oll: OllamaServer, **values: Any) -> AISettings:
    """The seed's chain (nemotron, then ollama) on the test servers; nemotron has prices."""
    return AISettings(
        providers=[
            nemotron(openai.base_url, price_per_1k_input=0.5, price_per_1k_output=1.5),
            ollama(oll.base_url),
        ],
        **values,
    )

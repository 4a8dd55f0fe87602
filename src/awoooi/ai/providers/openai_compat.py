"""OpenAI-compatible chat completions (NVIDIA NIM, vLLM, OpenAI): POST {base}/chat/completions."""

from __future__ import annotations

import httpx

from awoooi.ai.providers.base import (
    BackendError,
    BackendReply,
    Message,
    as_count,
    get_json,
    post_json,
    require,
)
from awoooi.ai.settings import ProviderConfig


class OpenAICompatBackend:
    """A provider of kind `openai`; `base_url` ends in /v1 as the OpenAI convention has it."""

    def __init__(self, config: ProviderConfig, client: httpx.AsyncClient) -> None:
        self._config = config
        self._client = client

    async def complete(self, messages: list[Message]) -> BackendReply:
        """One non-streaming chat completion."""
        answer = await post_json(
            self._client,
            "/chat/completions",
            {
                "model": self._config.model,
                "messages": [{"role": m.role, "content": m.content} for m in messages],
                "temperature": self._config.temperature,
                "max_tokens": self._config.max_tokens,
                "stream": False,
            },
        )
        text = require(answer, "choices", 0, "message", "content")
        if not isinstance(text, str) or not text.strip():
            raise BackendError("empty", "the model returned no text")
        usage = answer.get("usage") if isinstance(answer, dict) else None
        usage = usage if isinstance(usage, dict) else {}
        return BackendReply(
            text=text,
            tokens_in=as_count(usage.get("prompt_tokens")),
            tokens_out=as_count(usage.get("completion_tokens")),
        )

    async def probe(self) -> str:
        """List models; the configured one must be served."""
        answer = await get_json(self._client, "/models")
        models = [item.get("id") for item in require(answer, "data") if isinstance(item, dict)]
        if self._config.model not in models:
            raise BackendError("model_missing", f"model {self._config.model!r} is not served")
        return f"{len(models)} model(s), {self._config.model} served"

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

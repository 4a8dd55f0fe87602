"""Ollama's native chat API: POST {base}/api/chat with "stream": false."""

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


class OllamaBackend:
    """A provider of kind `ollama`."""

    def __init__(self, config: ProviderConfig, client: httpx.AsyncClient) -> None:
        self._config = config
        self._client = client

    async def complete(self, messages: list[Message]) -> BackendReply:
        """One chat turn; Ollama streams unless told not to, so stream is always false here."""
        answer = await post_json(
            self._client,
            "/api/chat",
            {
                "model": self._config.model,
                "messages": [{"role": m.role, "content": m.content} for m in messages],
                "stream": False,
                "options": {
                    "temperature": self._config.temperature,
                    "num_predict": self._config.max_tokens,
                },
            },
        )
        text = require(answer, "message", "content")
        if not isinstance(text, str) or not text.strip():
            raise BackendError("empty", "the model returned no text")
        return BackendReply(
            text=text,
            tokens_in=as_count(answer.get("prompt_eval_count")),
            tokens_out=as_count(answer.get("eval_count")),
        )

    async def probe(self) -> str:
        """List local models; the configured one must be pulled."""
        answer = await get_json(self._client, "/api/tags")
        names = {item.get("name") for item in require(answer, "models") if isinstance(item, dict)}
        if self._config.model not in names:
            raise BackendError("model_missing", f"model {self._config.model!r} is not pulled")
        return f"{len(names)} model(s), {self._config.model} pulled"

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

"""The ChatBackend Protocol and the errors backends raise."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from awoooi.ai.settings import ProviderConfig


@dataclass(frozen=True)
class Message:
    """One chat message."""

    role: str
    content: str


@dataclass(frozen=True)
class BackendReply:
    """A model's answer and what it cost in tokens."""

    text: str
    tokens_in: int
    tokens_out: int


class BackendError(Exception):
    """A provider failed; `error_class` is a short, stable category for the ledger."""

    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class


class ChatBackend(Protocol):
    """Something that completes a chat; network details are the backend's business."""

    async def complete(self, messages: list[Message]) -> BackendReply:
        """Return the model's reply or raise BackendError."""
        ...

    async def probe(self) -> str:
        """A cheap check that the endpoint answers and knows the model; raise BackendError."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def make_client(config: ProviderConfig, *, local: bool) -> httpx.AsyncClient:
    """An HTTP client for a provider: no proxies or .netrc for local ones (trust_env=False)."""
    headers = {"User-Agent": "awoooi"}
    if config.api_key_env:
        key = os.environ.get(config.api_key_env, "")
        if key:
            headers["Authorization"] = f"Bearer {key}"
    # The router enforces a whole-call deadline; this timeout only bounds a stuck socket.
    longest = max(config.timeouts.values())
    return httpx.AsyncClient(
        base_url=config.base_url,
        headers=headers,
        timeout=httpx.Timeout(longest),
        trust_env=not local,
        follow_redirects=False,
    )


async def post_json(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> Any:
    """POST JSON and return the decoded answer, mapping every failure to a BackendError."""
    try:
        response = await client.post(path, json=body)
    except httpx.ConnectError as exc:
        raise BackendError("connection", f"cannot connect: {exc}") from exc
    except httpx.TimeoutException as exc:
        raise BackendError("timeout", f"socket timeout: {type(exc).__name__}") from exc
    except httpx.HTTPError as exc:
        raise BackendError("transport", f"{type(exc).__name__}: {exc}") from exc
    return decode(response)


async def get_json(client: httpx.AsyncClient, path: str) -> Any:
    """GET and decode JSON, mapping failures to BackendError."""
    try:
        response = await client.get(path)
    except httpx.ConnectError as exc:
        raise BackendError("connection", f"cannot connect: {exc}") from exc
    except httpx.HTTPError as exc:
        raise BackendError("transport", f"{type(exc).__name__}: {exc}") from exc
    return decode(response)


def decode(response: httpx.Response) -> Any:
    """The JSON body of a 2xx response, else a BackendError naming the status."""
    if response.status_code >= 400:
        raise BackendError(f"http_{response.status_code}", f"HTTP {response.status_code}")
    try:
        return response.json()
    except ValueError as exc:
        raise BackendError("malformed", "the answer is not JSON") from exc


def require(mapping: Any, *path: str | int) -> Any:
    """Walk into a decoded answer; a missing step is a malformed answer."""
    node = mapping
    for step in path:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError) as exc:
            raise BackendError("malformed", f"the answer lacks {step!r}") from exc
    return node


def as_count(value: Any) -> int:
    """A token count from an answer (missing or odd values count as 0)."""
    return value if isinstance(value, int) and value >= 0 else 0

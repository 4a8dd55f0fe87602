"""The HTTP side the Slack, webhook and Telegram channels share: one lazily opened client, the
channel's own secret hidden in every error, and httpx failures turned into ChannelError."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from awoooi.core.redact import redact
from awoooi.notify.base import ChannelError

__all__ = ["ChannelHTTP"]

ERROR_BODY_CHARS = 200


class ChannelHTTP:
    """One channel's connection pool; `secret` (a URL or a token) never shows in its errors."""

    def __init__(self, *, timeout: float, secret: str, secret_shown_as: str) -> None:
        self._timeout = timeout
        self._secret = secret
        self._secret_shown_as = secret_shown_as
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return "ChannelHTTP()"  # never the secret

    def redact(self, text: str) -> str:
        """The text with the channel's secret replaced, then every other known secret."""
        # The literal first: the secret is hidden even when it has no shape `redact` knows.
        return redact(text.replace(self._secret, self._secret_shown_as))

    async def post(
        self,
        url: str,
        *,
        failure: str,
        json: Any = None,
        content: bytes | None = None,
        data: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """POST; a request that gets no answer raises ChannelError `<failure>: <detail>`."""
        try:
            return await self._http().post(
                url, json=json, content=content, data=data, files=files, headers=headers
            )
        except httpx.HTTPError as exc:
            # `from None`: the cause carries the request, whose URL may hold the secret.
            detail = self.redact(str(exc)) or type(exc).__name__
            raise ChannelError(f"{failure}: {detail}") from None

    def require_success(self, response: httpx.Response, *, name: str) -> None:
        """Raise ChannelError `<name> answered HTTP <code>: <body>` unless the answer is 2xx."""
        if not response.is_success:
            body = self.redact(response.text[:ERROR_BODY_CHARS].strip())
            raise ChannelError(f"{name} answered HTTP {response.status_code}: {body}")

    async def aclose(self) -> None:
        """Close the connection pool (a later request opens a new one)."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # trust_env=False: no proxy from the environment gets to see the secret URL or token.
            # No redirects: one would resend the secret, or a signed body, somewhere unconfigured.
            self._client = httpx.AsyncClient(
                timeout=self._timeout, trust_env=False, follow_redirects=False
            )
        return self._client

"""Shared by the HTTP tests of the Knowledge, Drift and Operations pages."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from awoooi.core.models import Role
from awoooi.runtime import Runtime
from tests.console.test_http import csrf_of, sign_in, token


@dataclass
class SignIn:
    """Signs a client in as a role, with one token per role named `<role>-http`."""

    runtime: Runtime
    client: httpx.AsyncClient
    page: str
    secrets: dict[Role, str] = field(default_factory=dict)

    async def __call__(self, role: Role) -> str:
        """Sign in afresh as `role`; the CSRF token its forms carry."""
        self.client.cookies.clear()
        if role not in self.secrets:
            self.secrets[role] = await token(self.runtime, role)
        await sign_in(self.client, self.secrets[role])
        page = await self.client.get(self.page)
        assert page.status_code == 200, page.text
        return csrf_of(page.text)

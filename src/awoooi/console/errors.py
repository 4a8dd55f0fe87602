"""What the console answers with a page of its own rather than the API's JSON."""

from __future__ import annotations

from awoooi.core.errors import AuthError, ForbiddenError


class SignInRequired(AuthError):
    """No valid session: the browser is sent to the sign-in page (`reason` says why)."""

    def __init__(self, reason: str = "") -> None:
        super().__init__("sign in to use the console")
        self.reason = reason


class CsrfError(ForbiddenError):
    """A state-changing request without its session's CSRF token."""

    code = "csrf_failed"

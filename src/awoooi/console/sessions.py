"""Signed console cookies: the session (a token's hash and a CSRF token) and the sign-in form's
nonce, with the key that signs them.

The session carries the token's SHA-256 hash, never the secret: a stolen cookie cannot be
replayed against the API, and it stops working the moment the token is revoked, because every
request looks the token up again.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from itsdangerous import BadData, URLSafeTimedSerializer

from awoooi.console.settings import ConsoleSettings
from awoooi.core.errors import ConfigError
from awoooi.core.private_files import private_directory, tighten_file

SESSION_COOKIE = "awoooi_session"
LOGIN_COOKIE = "awoooi_login"
COOKIE_PATH = "/ui"
KEY_FILE = "console-key"
MIN_KEY_LENGTH = 32
# A sign-in form left open longer than this asks to be reloaded (its nonce has expired).
LOGIN_FORM_TTL = timedelta(hours=1)


@dataclass(frozen=True)
class ConsoleSession:
    """What a valid session cookie says: whose token, and the CSRF token of its forms."""

    token_hash: str
    csrf_token: str


class CookieSigner:
    """Signs and checks the console's cookies with one key (distinct salts per cookie)."""

    def __init__(self, key: str, *, session_ttl: timedelta) -> None:
        self._session = URLSafeTimedSerializer(key, salt="awoooi.console.session")
        self._login = URLSafeTimedSerializer(key, salt="awoooi.console.login")
        self.session_ttl = session_ttl

    def new_session(self, token_hash: str) -> tuple[str, ConsoleSession]:
        """A fresh session for a token (new CSRF token): the cookie value and what it says."""
        state = ConsoleSession(token_hash=token_hash, csrf_token=secrets.token_urlsafe(32))
        return self._session.dumps({"h": state.token_hash, "c": state.csrf_token}), state

    def read_session(self, value: str | None) -> ConsoleSession | None:
        """The session a cookie carries; None when missing, forged, malformed or expired."""
        data = _loads(self._session, value, self.session_ttl)
        if data is None:
            return None
        token_hash, csrf_token = data.get("h"), data.get("c")
        if not isinstance(token_hash, str) or not isinstance(csrf_token, str):
            return None
        return ConsoleSession(token_hash=token_hash, csrf_token=csrf_token)

    def new_login_nonce(self) -> tuple[str, str]:
        """A nonce for the sign-in form: the cookie value and the form field's value."""
        nonce = secrets.token_urlsafe(32)
        return self._login.dumps({"n": nonce}), nonce

    def read_login_nonce(self, value: str | None) -> str | None:
        """The nonce a sign-in cookie carries; None when missing, forged or expired."""
        data = _loads(self._login, value, LOGIN_FORM_TTL)
        nonce = data.get("n") if data is not None else None
        return nonce if isinstance(nonce, str) else None


def _loads(
    serializer: URLSafeTimedSerializer, value: str | None, ttl: timedelta
) -> dict[str, Any] | None:
    if not value or len(value) > 4096:
        return None
    try:
        data = serializer.loads(value, max_age=int(ttl.total_seconds()))
    except BadData:  # a bad signature, an expired stamp, a payload that is not JSON
        return None
    return data if isinstance(data, dict) else None


def signing_key(settings: ConsoleSettings, home: Path) -> str:
    """The configured key, else the one kept in `home`/console-key (made on first use, 0600)."""
    if settings.session_key is not None:
        return settings.session_key.get_secret_value()
    path = home / KEY_FILE
    if not path.exists():
        _create_key_file(path)
    key = path.read_text(encoding="utf-8").strip()
    if len(key) < MIN_KEY_LENGTH:
        raise ConfigError(
            f"{path} holds no usable console key (under {MIN_KEY_LENGTH} characters); "
            "delete it to have a new one made, or set console.session_key"
        )
    return key


def _create_key_file(path: Path) -> None:
    """Write a new random key to `path` unless another process got there first."""
    private_directory(path.parent)
    staged = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    descriptor = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(descriptor, (secrets.token_urlsafe(48) + "\n").encode("ascii"))
    finally:
        os.close(descriptor)
    tighten_file(staged)
    try:
        # link() never replaces: two processes starting at once agree on whichever came first,
        # and neither reads a half-written file.
        with contextlib.suppress(FileExistsError):
            os.link(staged, path)
    finally:
        staged.unlink()

"""The evidence book: numbers each piece of evidence and scrubs its text before it is kept.

Scrubbing is `awoooi.core.redact.redact` (the one redactor) plus two guards for what a generic
redactor cannot know: the literal values of the target's secret-named environment variables
(masked wherever they reappear, in a log line for instance), and, in log lines, long mixed-case
random-looking tokens (an API key printed without a key name).
"""

from __future__ import annotations

import math
import re
from collections import Counter

from awoooi.core.redact import redact
from awoooi.diagnosis.model import Evidence

MAX_TEXT = 1_500
MAX_LOG_TEXT = 6_000
_MIN_LITERAL = 6

# Environment variable names whose values are credentials.
SECRET_NAME = re.compile(
    r"(?i)(passw(or)?d|passphrase|pwd|secret|token|api[_-]?key|private[_-]?key|access[_-]?key"
    r"|credential|auth|dsn|conn(ection)?[_-]?str|cookie|session[_-]?key|signing|salt|cert[_-]?key"
    r"|(^|_)pass$|(^|_)key$)"
)
_TOKEN = re.compile(r"(?<![A-Za-z0-9_\-+=])[A-Za-z0-9_\-+=]{16,}(?![A-Za-z0-9_\-+=])")
# "webhook secret is X", "admin password X", "token: X" in prose log lines.
_SECRET_PHRASE = re.compile(
    r"(?i)\b(?:passw(?:or)?d|passphrase|secret|token|api[ _\-]?key|credentials?)"
    r"(?:\s+(?:is|was|set to|=|:))?\s*[:=]?\s+(?P<value>[^\s\"',;]{6,})"
)
_URL_PASSWORD = re.compile(r"://[^:/@\s]+:([^@/\s]+)@")
_FLAG = re.compile(r"^--?(?P<name>[A-Za-z0-9_.\-]+)(?:=(?P<value>.*))?$")
_HEX_OR_UUID = re.compile(r"^[0-9a-fA-F\-]+$")
_MASK = "[REDACTED:token]"
PLACEHOLDER_PREFIX = "[REDACTED:"


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _looks_random(token: str) -> bool:
    """A credential-shaped token: upper, lower and digits mixed, not hex, high entropy."""
    if _HEX_OR_UUID.fullmatch(token):
        return False
    if not (any(c.isupper() for c in token) and any(c.islower() for c in token)):
        return False
    if sum(c.isdigit() for c in token) < 2:
        return False
    return _entropy(token) >= 3.5


def _looks_like_a_value(word: str) -> bool:
    """A word after "password"/"secret" that is a value, not prose ("authentication")."""
    if PLACEHOLDER_PREFIX in word or word.startswith("/"):
        return False
    letters = any(c.isalpha() for c in word)
    digits = any(c.isdigit() for c in word)
    mixed = any(c.isupper() for c in word[1:]) and any(c.islower() for c in word)
    return (letters and digits) or mixed


def _mask_phrase(match: re.Match[str]) -> str:
    value = match.group("value")
    if not _looks_like_a_value(value):
        return match.group(0)
    start, end = match.span("value")
    base = match.start()
    whole = match.group(0)
    return whole[: start - base] + "[REDACTED:secret]" + whole[end - base :]


class Scrubber:
    """Redacts a text and masks the literal secret values it was told about."""

    def __init__(self) -> None:
        self._literals: set[str] = set()
        # Pairs already judged: every revision and pod repeats its template's env, and each
        # judgement may cost two redactions.
        self._env_seen: set[tuple[str, str]] = set()

    def protect_env(self, name: str, value: str) -> None:
        """Remember an environment value if it is a credential (by name or by shape)."""
        if (name, value) in self._env_seen:
            return
        self._env_seen.add((name, value))
        for password in _URL_PASSWORD.findall(value):
            # A DSN's password may be printed on its own (a log line quoting the URL's parts).
            if len(password) >= _MIN_LITERAL:
                self._literals.add(password)
        if len(value) < _MIN_LITERAL:
            return
        pair = f"{name}={value}"
        if SECRET_NAME.search(name) or redact(pair) != pair or redact(value) != value:
            self._literals.add(value)

    def protect_args(self, args: list[str]) -> None:
        """Remember the values of secret-named flags (`--password=x`, `--token x`)."""
        for index, arg in enumerate(args):
            match = _FLAG.match(arg)
            if match is None or not SECRET_NAME.search(match.group("name")):
                continue
            value = match.group("value")
            if value is None and index + 1 < len(args) and not args[index + 1].startswith("-"):
                value = args[index + 1]
            if value and len(value) >= _MIN_LITERAL:
                self._literals.add(value)

    def __call__(self, text: str, *, log: bool = False) -> str:
        """The text with every secret it knows or recognises replaced by a placeholder."""
        clean = redact(text)
        for literal in sorted(self._literals, key=len, reverse=True):
            if literal in clean:
                clean = clean.replace(literal, "[REDACTED:env]")
        if log:
            clean = _SECRET_PHRASE.sub(_mask_phrase, clean)
            clean = _TOKEN.sub(lambda m: _MASK if _looks_random(m.group(0)) else m.group(0), clean)
        return clean


def clip(text: str, limit: int) -> str:
    """The text cut to `limit` characters, marked when cut."""
    return text if len(text) <= limit else text[: limit - 12].rstrip() + " …[cut]"


class EvidenceBook:
    """Numbers evidence e1, e2, ... in the order it is found; every text is scrubbed first."""

    def __init__(self, scrubber: Scrubber | None = None) -> None:
        self.scrub = scrubber or Scrubber()
        self._items: list[Evidence] = []

    def add(self, source: str, text: str, *, log: bool = False) -> str:
        """Keep a piece of evidence; returns its id."""
        limit = MAX_LOG_TEXT if log else MAX_TEXT
        evidence = Evidence(
            f"e{len(self._items) + 1}", source, clip(self.scrub(text, log=log), limit)
        )
        self._items.append(evidence)
        return evidence.id

    @property
    def items(self) -> list[Evidence]:
        """Every piece of evidence, in the order found."""
        return list(self._items)

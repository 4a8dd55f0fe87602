"""SymptomPattern: what an incident looks like, independent of which pod or instance it hit."""

from __future__ import annotations

import hashlib
import json
import unicodedata

from pydantic import BaseModel, ConfigDict, field_validator

HASH_VERSION = 1
HASH_LENGTH = 16


def _canonical(text: str | None) -> str:
    """NFC, stripped, lower-cased, inner white space collapsed: case and spacing never matter."""
    if text is None:
        return ""
    return " ".join(unicodedata.normalize("NFC", text).split()).lower()


class SymptomPattern(BaseModel):
    """The symptoms of an incident; equal patterns give equal `compute_hash()`."""

    model_config = ConfigDict(frozen=True)

    signal: str
    services: tuple[str, ...] = ()
    namespace: str | None = None
    resource_kind: str | None = None
    error_signature: str = ""
    hash_version: int = HASH_VERSION

    @field_validator("services", mode="before")
    @classmethod
    def _sorted_unique(cls, value: object) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple | set | frozenset):
            raise ValueError("services must be a list of names")
        cleaned = {_canonical(str(item)) for item in value}
        return tuple(sorted(item for item in cleaned if item))

    def canonical_encoding(self) -> bytes:
        """The exact bytes hashed: sorted-key compact JSON of the canonical fields, UTF-8."""
        document = {
            "v": self.hash_version,
            "signal": _canonical(self.signal),
            "services": list(self.services),
            "namespace": _canonical(self.namespace),
            "resource_kind": _canonical(self.resource_kind),
            "error_signature": _canonical(self.error_signature),
        }
        return json.dumps(
            document, sort_keys=True, separators=(",", ":"), ensure_ascii=True
        ).encode()

    def compute_hash(self) -> str:
        """16 lowercase hex characters of SHA-256 over the canonical encoding."""
        return hashlib.sha256(self.canonical_encoding()).hexdigest()[:HASH_LENGTH]

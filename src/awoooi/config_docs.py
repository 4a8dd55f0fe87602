"""Describe every setting (key, env var, type, default, meaning) from the Settings model itself."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from awoooi.core.config import ENV_NESTED_DELIMITER, ENV_PREFIX
from awoooi.settings import Settings


@dataclass(frozen=True)
class SettingDoc:
    """One documented setting."""

    key: str
    env: str
    type: str
    default: str
    description: str


def _section_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Literal:
        return " \\| ".join(str(arg) for arg in args)
    if origin in (UnionType, Union):
        named = [_type_name(arg) for arg in args if arg is not type(None)]
        return " \\| ".join(named) + ", optional"
    if origin is list:
        return f"list of {_type_name(args[0])} (env: JSON list)"
    if origin is dict:
        value_type = _type_name(args[1]).replace(" (env: JSON list)", "")
        return f"map of {_type_name(args[0])} to {value_type} (env: JSON object)"
    if annotation is SecretStr:
        return "secret string"
    if annotation is Path:
        return "path"
    if annotation is timedelta:
        return "duration (seconds, `30m`, `1h30m`, `1d`, ISO 8601)"
    return str(getattr(annotation, "__name__", annotation))


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value: Any = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "(required)"
    else:
        value = field.default
    if value is None:
        return "-"
    if isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
        # Long structured defaults are summarized by name; their sections show them whole.
        return json.dumps([getattr(v, "name", type(v).__name__) for v in value])
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, timedelta):
        return f"{value.total_seconds():g}"
    return json.dumps(value, default=str)


def iter_settings(model: type[BaseModel] = Settings, prefix: str = "") -> Iterator[SettingDoc]:
    """Every leaf setting, sections flattened into dotted keys."""
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        section = _section_model(field.annotation)
        if section is not None:
            yield from iter_settings(section, key + ".")
            continue
        env = ENV_PREFIX + key.replace(".", ENV_NESTED_DELIMITER).upper()
        yield SettingDoc(
            key=key,
            env=env,
            type=_type_name(field.annotation),
            default=_default(field),
            description=field.description or "",
        )


def markdown_table() -> str:
    """The configuration table for the README."""
    lines = ["| key | environment | type | default | meaning |", "|---|---|---|---|---|"]
    for doc in iter_settings():
        lines.append(
            f"| `{doc.key}` | `{doc.env}` | {doc.type} | `{doc.default}` | {doc.description} |"
        )
    return "\n".join(lines)

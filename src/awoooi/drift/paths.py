"""Drift paths (keys, list indexes, merge-key selectors): reading and removing the value at one,
and their JSON and text forms."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Final, cast

from awoooi.drift.diff import Path, Segment
from awoooi.drift.report import DriftItem

ABSENT: Final[Any] = object()


def _select(items: list[Any], selector: tuple[tuple[str, Any], ...]) -> int | None:
    for index, item in enumerate(items):
        if isinstance(item, dict) and all(item.get(key) == value for key, value in selector):
            return index
    return None


def _step(node: Any, segment: Any) -> tuple[Any, Any]:
    """The child at one segment and the key/index it sits under, or (ABSENT, None)."""
    if isinstance(segment, tuple):
        if not isinstance(node, list):
            return ABSENT, None
        index = _select(node, segment)
        return (ABSENT, None) if index is None else (node[index], index)
    if isinstance(segment, int):
        if not isinstance(node, list) or not -len(node) <= segment < len(node):
            return ABSENT, None
        return node[segment], segment
    if not isinstance(node, dict) or segment not in node:
        return ABSENT, None
    return node[segment], segment


def value_at(obj: Any, segments: Sequence[Any]) -> Any:
    """The value at the path, or ABSENT when any step is missing."""
    node = obj
    for segment in segments:
        node, _ = _step(node, segment)
        if node is ABSENT:
            return ABSENT
    return node


def remove_at(obj: Any, segments: Sequence[Any]) -> bool:
    """Delete the value at the path in place; False when it was not there."""
    if not segments:
        return False
    parent = value_at(obj, segments[:-1])
    if parent is ABSENT:
        return False
    child, where = _step(parent, segments[-1])
    if child is ABSENT:
        return False
    del parent[where]
    return True


def values_match(value: Any, wanted: Any) -> bool:
    """Equal values, ABSENT only matching ABSENT; numbers and their text compare equal."""
    if value is ABSENT or wanted is ABSENT:
        return value is wanted
    if isinstance(value, (int, float)) and isinstance(wanted, (int, float)):
        return bool(value == wanted)
    return bool(value == wanted or str(value) == str(wanted))


def encode_segments(segments: Sequence[Any]) -> list[Any]:
    """A path as JSON: keys and indexes as they are, a list-item selector as an object."""
    return [dict(segment) if isinstance(segment, tuple) else segment for segment in segments]


def decode_segments(encoded: Sequence[Any]) -> tuple[Any, ...]:
    """The path back from `encode_segments`."""
    return tuple(
        tuple(segment.items()) if isinstance(segment, dict) else segment for segment in encoded
    )


def stored_segment(raw: Any) -> Segment:
    """A segment as stored (JSON turns a key selector into lists) back in diff's shape."""
    if isinstance(raw, list):
        return tuple(tuple(pair) if isinstance(pair, list) else pair for pair in raw)
    return cast(Segment, raw)


_PATH_TOKEN = re.compile(r'\["(?P<quoted>[^"]*)"\]|\[(?P<sel>[^\]]*)\]|\.?(?P<key>[^.\[]+)')


def _scalar(text: str) -> Any:
    return int(text) if text.isdigit() else text


def parse_path(text: str) -> Path:
    """Segments back from `format_path` text (for items stored without their segments)."""
    segments: list[Segment] = []
    for match in _PATH_TOKEN.finditer(text):
        if match["quoted"] is not None:
            segments.append(match["quoted"])
        elif match["sel"] is not None:
            inner = match["sel"]
            if inner.isdigit():
                segments.append(int(inner))
            else:
                pairs = (part.partition("=") for part in inner.split(","))
                segments.append(tuple(sorted((key, _scalar(value)) for key, _, value in pairs)))
        else:
            segments.append(match["key"])
    return tuple(segments)


def item_segments(item: DriftItem) -> Path:
    """The item's path as segments: those the scan recorded, else parsed from its text."""
    if item.segments:
        return tuple(stored_segment(raw) for raw in item.segments)
    return parse_path(item.path) if item.path else ()

"""Surgical field edits of a manifest file for adopt-into-Git: each field is located with
ruamel.yaml's composer (node marks are character offsets) and new text is spliced into the
original string, so comments, key order, quoting and the other documents stay byte-identical.

Re-emitting a round-tripped document would be simpler but changes bytes far from the edit
(indentation, quoting, line folding). Every result is parsed again and compared with the
expected objects before it is returned: a wrong splice is refused, never written to Git.
"""

from __future__ import annotations

import copy
import json
import math
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError as RuamelYAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from awoooi.core.errors import AwoooiError
from awoooi.drift.diff import KeySel, Path, Segment, format_path, item_key


class EditRefused(AwoooiError):
    """An edit that cannot be made safely (the reason says why)."""

    status_code = 409
    code = "adopt_refused"


class _Delete:
    """The type of DELETE."""

    def __repr__(self) -> str:
        return "DELETE"


DELETE: Final = _Delete()


@dataclass(frozen=True)
class FieldEdit:
    """Set the field at `path` to `value` (JSON-like), or remove it when `value` is DELETE."""

    path: tuple[Segment, ...]
    value: Any


@dataclass(frozen=True)
class _Slot:
    """Where a node hangs: its parent collection (None for the object root) and, in a
    mapping, its key node."""

    node: Node
    parent: Node | None
    key: Node | None


@dataclass(frozen=True)
class _Splice:
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class _Text:
    """The text being edited and how new lines in it should look."""

    text: str
    newline: str
    step: int
    indentless: bool
    json: bool  # the document is one flow collection (a .json file): flow text is JSON


_WIDTH = sys.maxsize  # never fold a long scalar across lines: the splice must stay local
_LINE_BREAKS = frozenset("\n\r\x85\u2028\u2029")
# Before a key or a list item on its line: indentation, and "- " of the items containing it.
_LINE_PREFIX = re.compile(r"(?: *- +)* *")


def _refused(path: Path, reason: str) -> EditRefused:
    where = format_path(path) or "the object"
    return EditRefused(f"cannot edit {where}: {reason}")


# ---------------------------------------------------------------- rendering new values


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = dumper.default_style
    if any(ch in _LINE_BREAKS for ch in data):
        # A literal block reads best; it cannot end with kept blank lines (they would swallow
        # the blank lines that follow the splice), so those strings are double-quoted.
        style = '"' if data.endswith("\n\n") or data == "\n" else "|"
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


class _Dumper(yaml.SafeDumper):
    """Block style with lists at their key's column (`key:` then `- item`)."""


class _IndentedDumper(_Dumper):
    """Block style with lists indented under their key (`key:` then `  - item`)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


_Dumper.add_representer(str, _represent_str)
_IndentedDumper.add_representer(str, _represent_str)


def _dump(value: Any, *, flow: bool, style: str | None = None, ctx: _Text | None = None) -> str:
    dumper = _IndentedDumper if ctx is not None and not ctx.indentless else _Dumper
    try:
        return yaml.dump(
            value,
            Dumper=dumper,
            default_flow_style=flow,
            default_style=style,
            sort_keys=False,
            allow_unicode=True,
            width=_WIDTH,
            indent=ctx.step if ctx is not None else 2,
        )
    except yaml.YAMLError as exc:
        raise EditRefused(f"cannot write the value as YAML: {exc}") from None


def _quoted(value: str, style: str) -> str | None:
    """The string in the given quotes, or None when they cannot hold it on one line."""
    out = _dump([value], flow=True, style=style).rstrip("\n")
    if out.startswith("[" + style) and out.endswith(style + "]") and "\n" not in out:
        return out[1:-1]
    return None


def _inline(value: Any, *, flow: bool, style: str | None = None) -> str | None:
    """One-line text of a scalar (or of any value in flow style), or None if it needs lines.

    A string keeps the quotes it had when they can represent it; otherwise PyYAML picks the
    lightest style that reads back as the same type ('1.0', 'yes', '' quoted; 1, true plain).
    """
    if isinstance(value, str) and style in ("'", '"'):
        kept = _quoted(value, style)
        if kept is not None:
            return kept
    if flow:
        # Inside a one-item flow list the text is also valid in a flow collection in the file.
        out = _dump([value], flow=True).rstrip("\n")
        if not (out.startswith("[") and out.endswith("]")):
            return None
        out = out[1:-1]
    else:
        out = _dump({"k": value}, flow=False)
        if out.endswith("\n...\n"):
            out = out[: -len("...\n")]
        out = out.rstrip("\n")
        if not out.startswith("k: "):
            return None
        out = out[3:]
    return None if "\n" in out else out


def _flow_text(ctx: _Text, value: Any, style: str | None = None) -> str:
    """A value written inside a flow collection: JSON in a JSON file, flow YAML otherwise."""
    if ctx.json:
        try:
            return json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise EditRefused(f"cannot write the value as JSON: {exc}") from None
    inline = _inline(value, flow=True, style=style)
    if inline is None:  # pragma: no cover - flow style always fits on one line
        raise EditRefused("cannot write the value in flow style")
    return inline


def _flow_separator(ctx: _Text, collection: Node, last: Node) -> str:
    """What goes before a new flow entry: `, ` or, in a collection written one entry a line,
    a comma and a new line at the last entry's column."""
    if last.start_mark.line > collection.start_mark.line:
        return "," + ctx.newline + " " * _column(last)
    return ", "


def _snippet(value: Any, ctx: _Text) -> list[str]:
    """Block-style lines of a value, indented from column 0."""
    out = _dump(value, flow=False, ctx=ctx)
    if out.endswith("\n...\n"):
        out = out[: -len("...\n")]
    return out[:-1].split("\n") if out.endswith("\n") else out.split("\n")


def _indented(lines: Sequence[str], pad: int, newline: str) -> str:
    """Lines joined, each prefixed by `pad` spaces (empty lines stay empty)."""
    return newline.join(" " * pad + line if line else "" for line in lines)


# ---------------------------------------------------------------- positions in the text


def _start(node: Node) -> int:
    return int(node.start_mark.index)


def _end(node: Node) -> int:
    return int(node.end_mark.index)


def _column(node: Node) -> int:
    return int(node.start_mark.column)


def _is_flow(node: Node) -> bool:
    return isinstance(node, MappingNode | SequenceNode) and bool(node.flow_style)


def _is_block_collection(node: Node) -> bool:
    return isinstance(node, MappingNode | SequenceNode) and not node.flow_style


def _line_start(text: str, position: int) -> int:
    return text.rfind("\n", 0, position) + 1


def _line_prefix(text: str, position: int) -> str:
    """What precedes `position` on its line (a byte order mark is not part of the line)."""
    line_start = _line_start(text, position)
    prefix = text[line_start:position]
    return prefix.removeprefix("\ufeff") if line_start == 0 else prefix


def _at_line_start(text: str, position: int) -> bool:
    return position > 0 and text[position - 1] == "\n"


def _line_end(text: str, position: int) -> int:
    """Where the line holding `position` ends (before its line break)."""
    end = text.find("\n", position)
    end = len(text) if end < 0 else end
    return end - 1 if end > position and text[end - 1] == "\r" else end


def _rest_of_line(text: str, position: int) -> int:
    """Past a trailing `# comment` on the line, if there is one (else `position`)."""
    if _at_line_start(text, position):
        return position
    probe = position
    while probe < len(text) and text[probe] in " \t":
        probe += 1
    if probe < len(text) and text[probe] == "#":
        return _line_end(text, probe)
    return position


def _comment_after(text: str, position: int) -> str:
    """The `# comment` that follows `position` on its line, or ""."""
    end = _rest_of_line(text, position)
    return text[position:end].strip() if end > position else ""


def _after_break(text: str, position: int) -> int:
    if text.startswith("\r\n", position):
        return position + 2
    if text.startswith("\n", position):
        return position + 1
    return position


def _block_scalar_end(text: str, node: Node) -> int:
    """The end of a `|` or `>` scalar: its last content line, or its last line break when it
    keeps trailing blank lines (`|+`). The mark itself runs on to the next token."""
    start, end = _start(node), _end(node)
    header = re.sub(r"\s#.*", "", text[start : _line_end(text, start)]).rstrip()
    indicators = re.search(r"[|>][0-9+-]*$", header)
    if indicators is not None and "+" in indicators.group():
        last_break = text.rfind("\n", start, end)
        return last_break + 1 if last_break >= 0 else end
    last = end - 1
    while last > start and text[last] in " \t\r\n":
        last -= 1
    return min(_line_end(text, last), end)


def _content_end(text: str, node: Node, path: Path) -> int:
    """Where the text of a value ends (before any trailing comment)."""
    while True:
        if node.anchor is not None:
            # An alias shares the node of its anchor, whose marks are elsewhere in the file.
            raise _refused(path, "the value ends with an anchored or aliased node")
        if isinstance(node, ScalarNode):
            if node.style in ("|", ">"):
                return _block_scalar_end(text, node)
            return _end(node)
        if _is_flow(node) or not node.value:
            return _end(node)
        last = node.value[-1]
        node = last[1] if isinstance(node, MappingNode) else last


def _colon_end(text: str, key: Node, path: Path) -> int:
    position = _end(key)
    while position < len(text) and text[position] in " \t":
        position += 1
    if position >= len(text) or text[position] != ":":
        raise _refused(path, "a complex mapping key")
    return position + 1


def _check_line_prefix(text: str, position: int, path: Path) -> None:
    """Refuse lines we could not reproduce (tabs, `? ` keys, anything before a key)."""
    if not _LINE_PREFIX.fullmatch(_line_prefix(text, position)):
        raise _refused(path, "unusual indentation (tabs or text before the field)")


# ---------------------------------------------------------------- plain-data semantics


def _matches(field: str, item: Any, selector: KeySel) -> bool:
    """Whether a list item is the one a KeySel names (its merge key, or its own fields)."""
    if not isinstance(item, dict):
        return False
    wanted = tuple(sorted(selector, key=lambda pair: pair[0]))
    if item_key(field, item) == wanted:
        return True
    return all(name in item and _same(item[name], value) for name, value in selector)


def _list_position(items: list[Any], segment: Segment, field: str, path: Path) -> int | None:
    """The index a segment names in a list, or None when it names an item to append."""
    if isinstance(segment, bool | str):
        raise _refused(path, f"{segment!r} is not a list index or selector")
    if isinstance(segment, int):
        if 0 <= segment < len(items):
            return segment
        if segment == len(items):
            return None
        raise _refused(path, f"index {segment} is out of range ({len(items)} items)")
    found = [index for index, item in enumerate(items) if _matches(field, item, segment)]
    if len(found) > 1:
        raise _refused(path, f"the selector matches {len(found)} items")
    return found[0] if found else None


def _nest(path: Path, value: Any, field: str, full: Path) -> Any:
    """The value to write where `path` starts to be missing: intermediate maps and items."""
    if not path:
        return copy.deepcopy(value)
    segment, rest = path[0], path[1:]
    if isinstance(segment, str):
        return {segment: _nest(rest, value, segment, full)}
    if isinstance(segment, int) and segment != 0:
        raise _refused(full, f"index {segment} of a list that does not exist")
    return [_new_element(segment, rest, value, field, full)]


def _new_element(segment: Segment, rest: Path, value: Any, field: str, full: Path) -> Any:
    """A list item to append: the value itself, or a map the selector will find."""
    if not isinstance(segment, tuple):
        return _nest(rest, value, field, full)
    if not rest and not isinstance(value, dict):
        raise _refused(full, "a new list item must be a mapping")
    if not rest and _matches(field, value, segment):
        return copy.deepcopy(value)
    item: dict[str, Any] = {name: copy.deepcopy(wanted) for name, wanted in segment}
    if rest:
        _apply(item, rest, value, full=full)
    else:
        for name, given in value.items():
            if name in item and not _same(item[name], given):
                raise _refused(full, f"the value's {name!r} contradicts the selector")
            item[name] = copy.deepcopy(given)
    if not _matches(field, item, segment):
        raise _refused(full, "the new item would not match its selector (ambiguous)")
    return item


def _apply(root: Any, path: Path, value: Any, *, full: Path) -> None:
    """Apply one edit to plain data: what the edited text must load as."""
    container, field = root, ""
    for position, segment in enumerate(path):
        rest = path[position + 1 :]
        if isinstance(container, dict):
            if not isinstance(segment, str):
                raise _refused(full, f"{format_path(path[:position])} is a mapping")
            if not rest:
                if value is DELETE:
                    container.pop(segment, None)
                else:
                    container[segment] = copy.deepcopy(value)
                return
            child = container.get(segment)
            if child is None:
                if value is not DELETE:
                    container[segment] = _nest(rest, value, segment, full)
                return
            container, field = child, segment
        elif isinstance(container, list):
            index = _list_position(container, segment, field, full)
            if index is None:
                if value is not DELETE:
                    container.append(_new_element(segment, rest, value, field, full))
                return
            if not rest:
                if value is DELETE:
                    del container[index]
                else:
                    container[index] = copy.deepcopy(value)
                return
            if container[index] is None:
                if value is not DELETE:
                    container[index] = _nest(rest, value, field, full)
                return
            container = container[index]
        else:
            raise _refused(full, f"{format_path(path[:position])} is not a mapping or list")


def _same(left: Any, right: Any) -> bool:
    """Equal with types (1, 1.0 and True differ; NaN equals NaN)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        if len(left) != len(right):
            return False
        right_keys = {key: key for key in right}
        for key, value in left.items():
            if key not in right_keys or type(right_keys[key]) is not type(key):
                return False
            if not _same(value, right[key]):
                return False
        return True
    if isinstance(left, list):
        return len(left) == len(right) and all(map(_same, left, right))
    if isinstance(left, float) and math.isnan(left):
        return math.isnan(right)
    return bool(left == right)


# ---------------------------------------------------------------- parsing


def _load_all(text: str) -> list[Any]:
    try:
        return list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise EditRefused(f"the file is not valid YAML: {exc}") from None
    except RecursionError:
        raise EditRefused("the file nests too deeply") from None


def _compose_all(text: str) -> list[Node]:
    try:
        return list(YAML(typ="rt").compose_all(text))
    except RuamelYAMLError as exc:
        raise EditRefused(f"the file cannot be edited in place: {exc}") from None
    except RecursionError:
        raise EditRefused("the file nests too deeply") from None


def _layout(text: str, root: Node) -> _Text:
    """How this document indents nested maps and lists, to write new ones the same way."""
    steps: Counter[int] = Counter()
    offsets: Counter[int] = Counter()
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen or not isinstance(node, MappingNode | SequenceNode):
            continue
        seen.add(id(node))
        if isinstance(node, SequenceNode):
            stack.extend(node.value)
            continue
        for key, value in node.value:
            stack.append(value)
            if not _is_block_collection(value) or value.start_mark.line <= key.start_mark.line:
                continue
            shift = _column(value) - _column(key)
            (steps if isinstance(value, MappingNode) else offsets)[shift] += 1
    step = next((shift for shift, _ in steps.most_common() if 2 <= shift <= 9), 2)
    indentless = bool(offsets) and offsets.most_common(1)[0][0] == 0
    newline = "\r\n" if "\r\n" in text else "\n"
    return _Text(text, newline, step, indentless, _is_flow(root))


# ---------------------------------------------------------------- splices


def _replace(ctx: _Text, slot: _Slot, value: Any, path: Path) -> _Splice:
    """Replace a node's value, keeping the key and the comments around it."""
    text, old = ctx.text, slot.node
    old_style = old.style if isinstance(old, ScalarNode) else None
    if slot.parent is not None and _is_flow(slot.parent):
        written = _flow_text(ctx, value, old_style)
        start, end = _start(old), _content_end(text, old, path)
        return _Splice(start, end, " " + written if start == end else written)
    block_old = _is_block_collection(old)
    empty_old = isinstance(old, ScalarNode) and _start(old) == _end(old)
    if not block_old and not empty_old:
        flow = _is_flow(old) and isinstance(value, dict | list)
        inline = _inline(value, flow=flow, style=old_style)
        if inline is not None:
            end = _content_end(text, old, path)
            # A `|+` scalar ends after its last line break: the next line must stay a line.
            if _at_line_start(text, end):
                inline += ctx.newline
            return _Splice(_start(old), end, inline)
    if slot.key is not None:
        start = _colon_end(text, slot.key, path)
        lines = _snippet({"k": value}, ctx)
        first, pad = lines[0][len("k:") :], _column(slot.key)
    elif slot.parent is None:  # the object itself: "{}" after deleting its last key
        start, pad = _start(old), _column(old)
        lines = _snippet(value, ctx)
        first = lines[0]
    else:
        # The whole item from its dash: the rendered `- ...` lines are consistent among
        # themselves, whatever spacing the file put after its dashes.
        start = _dash_before(text, old, path)
        pad = len(_line_prefix(text, start))
        lines = _snippet([value], ctx)
        first = lines[0]
    comment = _comment_after(text, start) if block_old and slot.key is not None else ""
    end = _content_end(text, old, path)
    if not _at_line_start(text, end):
        stop = _rest_of_line(text, end)
        if not block_old and not comment:
            comment = text[end:stop].strip()
        end = stop
    if _ends_in_block_scalar(lines):
        # Comment lines indented under the replaced value would become the scalar's text.
        end = _comment_lines(text, end, pad, across_blank_lines=True, line_end=True)
    new = first + (" " + comment if comment else "")
    if len(lines) > 1:
        new += ctx.newline + _indented(lines[1:], pad, ctx.newline)
    if _at_line_start(text, end):
        new += ctx.newline
    return _Splice(start, end, new)


def _dash_before(text: str, item: Node, path: Path) -> int:
    """The `-` that introduces a block list item."""
    position = _start(item) - 1
    while position >= 0 and text[position] == " ":
        position -= 1
    if position < 0 or text[position] != "-":
        raise _refused(path, "unusual list layout (the item does not follow its dash)")
    return position


def _ends_in_block_scalar(lines: list[str]) -> bool:
    """Whether rendered lines end inside a `|` or `>` scalar (what follows could join it)."""
    node = yaml.compose("\n".join(lines))
    while isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(node, yaml.MappingNode) else last
    return isinstance(node, yaml.ScalarNode) and node.style in ("|", ">")


def _insert_lines(ctx: _Text, last: Node, lines: list[str], column: int, path: Path) -> _Splice:
    """New lines after the last entry of a block collection, at `column`."""
    text = ctx.text
    body = _indented(lines, column, ctx.newline)
    end = _rest_of_line(text, _content_end(text, last, path))
    if _ends_in_block_scalar(lines):
        # After the comment lines under the last entry: they would join a new block scalar.
        end = _comment_lines(text, end, column, across_blank_lines=True, line_end=True)
    if _at_line_start(text, end):
        return _Splice(end, end, body + ctx.newline)
    return _Splice(end, end, ctx.newline + body)


def _add_key(ctx: _Text, slot: _Slot, mapping: Node, key: str, value: Any, path: Path) -> _Splice:
    """Add `key: value` after the last entry of a mapping."""
    text = ctx.text
    if _is_flow(mapping):
        if not mapping.value and (slot.parent is None or not _is_flow(slot.parent)):
            return _replace(ctx, slot, {key: value}, path)
        if ctx.json:
            entry = _flow_text(ctx, key) + ": " + _flow_text(ctx, value)
        else:
            entry = _flow_text(ctx, {key: value})[1:-1]
        if not mapping.value:
            return _Splice(_end(mapping) - 1, _end(mapping) - 1, entry)
        last_key, last_value = mapping.value[-1]
        end = _content_end(text, last_value, path)
        return _Splice(end, end, _flow_separator(ctx, mapping, last_key) + entry)
    _check_line_prefix(text, _start(mapping), path)
    lines = _snippet({key: value}, ctx)
    return _insert_lines(ctx, mapping.value[-1][1], lines, _column(mapping), path)


def _append_item(ctx: _Text, slot: _Slot, sequence: Node, item: Any, path: Path) -> _Splice:
    """Append an item after the last one of a list."""
    text = ctx.text
    if _is_flow(sequence):
        if not sequence.value and (slot.parent is None or not _is_flow(slot.parent)):
            return _replace(ctx, slot, [item], path)
        inline = _flow_text(ctx, item)
        if not sequence.value:
            return _Splice(_end(sequence) - 1, _end(sequence) - 1, inline)
        last = sequence.value[-1]
        end = _content_end(text, last, path)
        return _Splice(end, end, _flow_separator(ctx, sequence, last) + inline)
    start = _start(sequence)
    if text[start : start + 1] != "-" or _line_prefix(text, start).strip(" "):
        raise _refused(path, "unusual list layout (compact nested lists, tabs)")
    lines = _snippet([item], ctx)
    return _insert_lines(ctx, sequence.value[-1], lines, _column(sequence), path)


def _delete(ctx: _Text, slots: list[_Slot], path: Path) -> _Splice:
    """Remove a key or list item with its lines; a collection left empty becomes {} or []."""
    text, target = ctx.text, slots[-1]
    parent = target.parent
    if parent is None:
        raise _refused(path, "the object itself cannot be deleted")
    if len(parent.value) == 1:
        return _replace(ctx, slots[-2], {} if isinstance(parent, MappingNode) else [], path)
    if isinstance(parent, MappingNode):
        index = next(i for i, (key, _) in enumerate(parent.value) if key is target.key)
        starts = [_start(key) for key, _ in parent.value]
        values = [value for _, value in parent.value]
    else:
        index = next(i for i, item in enumerate(parent.value) if item is target.node)
        starts = [_start(item) for item in parent.value]
        values = list(parent.value)
    if _is_flow(parent):
        if any(value.anchor is not None for value in values):
            raise _refused(path, "a neighbouring value is anchored or aliased")
        if index + 1 < len(values):
            return _Splice(starts[index], starts[index + 1], "")
        previous_end = _content_end(text, values[index - 1], path)
        return _Splice(previous_end, _content_end(text, values[index], path), "")
    begin = starts[index] if target.key is not None else _dash_before(text, target.node, path)
    prefix = _line_prefix(text, begin)
    line_start = begin - len(prefix)
    if target.key is not None and prefix.strip(" ") and index == 0:
        # `- name: web` losing `name`: the next key moves up onto the dash line.
        _check_line_prefix(text, begin, path)
        return _Splice(begin, starts[1], "")
    if prefix.strip(" "):
        raise _refused(path, "unusual layout (the field does not start its line)")
    end = _content_end(text, target.node, path)
    if not _at_line_start(text, end):
        end = _after_break(text, _rest_of_line(text, end))
    end = _comment_lines(text, end, len(prefix), across_blank_lines=False)
    if not _at_line_start(text, end) and end == len(text) and line_start > 0:
        # The last line, without a line break: drop the break before it instead.
        line_start -= 2 if text[line_start - 2 : line_start] == "\r\n" else 1
    return _Splice(line_start, end, "")


def _comment_lines(
    text: str, position: int, column: int, *, across_blank_lines: bool, line_end: bool = False
) -> int:
    """Past the comment lines that follow `position` and are indented deeper than `column`.

    `position` is at a line start, or at a line end when `line_end` (then it stays there
    when no such comment follows).
    """
    end = probe = position
    if line_end and not _at_line_start(text, probe):
        probe = _after_break(text, probe)
        if probe == position:
            return position
    while probe < len(text) and _at_line_start(text, probe):
        stop = _line_end(text, probe)
        line = text[probe:stop]
        stripped = line.lstrip(" ")
        following = _after_break(text, stop)
        if not stripped.strip() and across_blank_lines and following > probe:
            probe = following
            continue
        if not stripped.startswith("#") or len(line) - len(stripped) <= column:
            break
        end = probe = following
    return end


# ---------------------------------------------------------------- locating the field


def _check_mapping(node: Node, data: dict[Any, Any], path: Path) -> None:
    for key, _ in node.value:
        if isinstance(key, ScalarNode) and key.value == "<<" and key.style is None:
            raise _refused(path, "the mapping uses a merge key (<<)")
    if len(node.value) != len(data):
        raise _refused(path, "the mapping has duplicate keys")


def _check_unshared(node: Node, path: Path) -> None:
    """Refuse a node (or anything inside it) that is anchored: it is also used elsewhere."""
    stack, seen = [node], set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if current.anchor is not None:
            raise _refused(path, "the value is anchored or aliased (editing it changes others)")
        if isinstance(current, MappingNode):
            for key, value in current.value:
                stack.extend((key, value))
        elif isinstance(current, SequenceNode):
            stack.extend(current.value)


def _plan(ctx: _Text, root: _Slot, data: Any, path: Path, value: Any) -> _Splice | None:
    """The splice one edit needs, or None when there is nothing to do (deleting a missing field)."""
    slots = [root]
    node, field = root.node, ""
    for position, segment in enumerate(path):
        rest = path[position + 1 :]
        if node.anchor is not None:
            raise _refused(path, "the path goes through an anchored or aliased node")
        if isinstance(node, MappingNode) and isinstance(data, dict):
            if not isinstance(segment, str):
                raise _refused(path, f"{format_path(path[:position])} is a mapping")
            _check_mapping(node, data, path)
            found = next(
                (i for i, key in enumerate(data) if type(key) is str and key == segment), None
            )
            if found is None:
                if value is DELETE:
                    return None
                new = _nest(rest, value, segment, path)
                return _add_key(ctx, slots[-1], node, segment, new, path)
            key_node, child = node.value[found]
            slots.append(_Slot(child, node, key_node))
            node, data, field = child, data[segment], segment
        elif isinstance(node, SequenceNode) and isinstance(data, list):
            if len(node.value) != len(data):
                raise _refused(path, "the list does not match its parsed value")
            index = _list_position(data, segment, field, path)
            if index is None:
                if value is DELETE:
                    return None
                item = _new_element(segment, rest, value, field, path)
                return _append_item(ctx, slots[-1], node, item, path)
            slots.append(_Slot(node.value[index], node, None))
            node, data = node.value[index], data[index]
        elif data is None and isinstance(node, ScalarNode) and len(slots) > 1:
            if value is DELETE:
                return None
            return _replace(ctx, slots[-1], _nest(path[position:], value, field, path), path)
        else:
            raise _refused(path, f"{format_path(path[:position])} is not a mapping or list")
    _check_unshared(node, path)
    if value is DELETE:
        return _delete(ctx, slots, path)
    return _replace(ctx, slots[-1], value, path)


def _object_root(
    node: Node, data: Any, document_index: int, item_index: int | None
) -> tuple[_Slot, Any]:
    """The edited object's node and data: the document, or one item of a `kind: List`."""
    if not isinstance(node, MappingNode) or not isinstance(data, dict):
        raise EditRefused(f"document {document_index} is not a mapping")
    if item_index is None:
        return _Slot(node, None, None), data
    items_path: Path = ("items", item_index)
    items = data.get("items")
    if not str(data.get("kind", "")).endswith("List") or not isinstance(items, list):
        raise EditRefused(f"document {document_index} is not a kind: List")
    if not 0 <= item_index < len(items):
        raise _refused(items_path, f"the List has {len(items)} items")
    _check_mapping(node, data, items_path)
    position = next(i for i, key in enumerate(data) if key == "items")
    sequence = node.value[position][1]
    if not isinstance(sequence, SequenceNode) or len(sequence.value) != len(items):
        raise _refused(items_path, "the items do not match their parsed value")
    if node.anchor is not None or sequence.anchor is not None:
        raise _refused(items_path, "the items are anchored or aliased")
    return _Slot(sequence.value[item_index], sequence, None), items[item_index]


def _edit_once(
    text: str, documents: list[Any], document_index: int, item_index: int | None, edit: FieldEdit
) -> str:
    """The text with one edit spliced in (`documents` is the text, parsed)."""
    nodes = _compose_all(text)
    if len(nodes) != len(documents):
        raise EditRefused("the YAML parsers disagree on the documents of this file")
    root, data = _object_root(
        nodes[document_index], documents[document_index], document_index, item_index
    )
    ctx = _layout(text, nodes[document_index])
    splice = _plan(ctx, root, data, tuple(edit.path), edit.value)
    if splice is None:
        return text
    document = nodes[document_index]
    if not _start(document) <= splice.start <= splice.end <= _end(document):
        # Parsing the result could miss a change in comments between documents.
        raise _refused(tuple(edit.path), "the edit would reach outside its document")
    return text[: splice.start] + splice.text + text[splice.end :]


def _edited_object(document: Any, document_index: int, item_index: int | None) -> Any:
    if not isinstance(document, dict):
        raise EditRefused(f"document {document_index} is not a mapping")
    if item_index is None:
        return document
    items = document.get("items")
    if not isinstance(items, list) or not 0 <= item_index < len(items):
        raise EditRefused(f"document {document_index} has no List item {item_index}")
    return items[item_index]


def edit_document(
    text: str,
    document_index: int,
    edits: Sequence[FieldEdit],
    *,
    item_index: int | None = None,
) -> str:
    """Apply the edits to one document of a multi-document YAML text; everything else byte-identical."""  # noqa: E501
    original = _load_all(text)
    if not 0 <= document_index < len(original):
        raise EditRefused(
            f"document {document_index} is out of range (the file has {len(original)})"
        )
    try:
        expected = copy.deepcopy(original[document_index])
    except RecursionError:
        raise EditRefused("the file nests too deeply") from None
    target = _edited_object(expected, document_index, item_index)
    edited, current = text, original
    for edit in edits:
        path = tuple(edit.path)
        if not path:
            raise EditRefused("an edit needs a path inside the object")
        _apply(target, path, edit.value, full=path)
        edited = _edit_once(edited, current, document_index, item_index, edit)
        # Checked after every edit, so the next one is located in a text known to be right.
        current = _verify(edited, original, document_index, expected, path)
    return edited


def _verify(
    edited: str, original: list[Any], document_index: int, expected: Any, path: Path
) -> list[Any]:
    """The safety net: the edited text must load as the expected objects, or it is refused."""
    where = format_path(path)
    try:
        loaded = list(yaml.safe_load_all(edited))
    except yaml.YAMLError as exc:
        raise EditRefused(f"editing {where} would break the file: {exc}") from None
    if len(loaded) != len(original):
        raise EditRefused(f"editing {where} would change the number of documents")
    for index, (before, after) in enumerate(zip(original, loaded, strict=True)):
        wanted = expected if index == document_index else before
        if not _same(wanted, after):
            if index == document_index:
                raise EditRefused(f"editing {where}: the result would not load as expected")
            raise EditRefused(f"editing {where} would change document {index}")
    return loaded

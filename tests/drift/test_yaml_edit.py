"""Adopt-into-Git edits: the live value lands in the manifest, every other byte stays as it was."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from awoooi.drift.diff import Path
from awoooi.drift.manifests import parse_documents
from awoooi.drift.yaml_edit import DELETE, EditRefused, FieldEdit, edit_document

MANIFESTS = """\
# Web tier of the shop. Adopted drift is written back here by awoooi.
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels:
    app.kubernetes.io/name: web  # shown in dashboards
    app.kubernetes.io/part-of: shop
  annotations:
    deployment.kubernetes.io/revision: "3"
spec:
  replicas: 2  # scaled by hand before the HPA existed
  selector:
    matchLabels:
      app.kubernetes.io/name: web
  template:
    metadata:
      labels:
        app.kubernetes.io/name: web
    spec:
      containers:
        - name: web
          image: "registry.local/web:1.4.2"  # bumped by CI
          ports:
            - containerPort: 8080
          env:
            - name: LOG_LEVEL
              value: info
            - name: FEATURE_X
              value: "true"
        - name: proxy
          image: registry.local/proxy:2.0
          resources:
            limits:
              cpu: 100m
--- # settings read at start-up
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  app.properties: |
    cache.size=128
    cache.ttl=60s

  mode: production
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata:
    name: web
  spec:
    ports:
    - port: 80
      targetPort: 8080  # the container port
- apiVersion: v1
  kind: ServiceAccount
  metadata:
    name: web
"""

WEB: Path = ("spec", "template", "spec", "containers", (("name", "web"),))


def located(kind: str) -> tuple[int, int | None]:
    """Document and List item of an object, as the scan records them."""
    manifests, problems = parse_documents(MANIFESTS, "web.yaml")
    assert problems == []
    found = next(m for m in manifests if m.resource.kind == kind)
    return found.document_index, found.item_index


def edit(path: Path, value: Any, kind: str = "Deployment") -> str:
    document_index, item_index = located(kind)
    return edit_document(MANIFESTS, document_index, [FieldEdit(path, value)], item_index=item_index)


def replaced(text: str, old: str, new: str) -> str:
    """`text` with its one occurrence of `old` replaced."""
    assert text.count(old) == 1, old
    return text.replace(old, new)


def changed_region(before: str, after: str) -> tuple[int, int]:
    """Where in `before` the texts differ: [common prefix, len - common suffix)."""
    prefix = 0
    while prefix < min(len(before), len(after)) and before[prefix] == after[prefix]:
        prefix += 1
    suffix = 0
    while (
        suffix < min(len(before), len(after)) - prefix and before[-1 - suffix] == after[-1 - suffix]
    ):
        suffix += 1
    return prefix, len(before) - suffix


def document_span(text: str, index: int) -> tuple[int, int]:
    """Character range of one document's content."""
    node = list(yaml.compose_all(text))[index]
    return node.start_mark.index, node.end_mark.index


def assert_inside(before: str, after: str, document_index: int) -> None:
    """Every byte outside the edited document is identical."""
    start, end = changed_region(before, after)
    doc_start, doc_end = document_span(before, document_index)
    assert doc_start <= start <= end <= doc_end


# ---------------------------------------------------------------- representative edits


def test_document_index_counts_like_the_scan() -> None:
    assert located("Deployment") == (0, None)
    assert located("ConfigMap") == (1, None)
    assert located("Service") == (2, 0)
    assert located("ServiceAccount") == (2, 1)


def test_change_image_keeps_quotes_and_comment() -> None:
    result = edit((*WEB, "image"), "registry.local/web:1.5.0")
    assert result == replaced(
        MANIFESTS,
        'image: "registry.local/web:1.4.2"  # bumped by CI',
        'image: "registry.local/web:1.5.0"  # bumped by CI',
    )
    assert_inside(MANIFESTS, result, 0)


def test_change_replicas() -> None:
    result = edit(("spec", "replicas"), 5)
    assert result == replaced(MANIFESTS, "replicas: 2  # scaled", "replicas: 5  # scaled")


def test_add_annotation_with_dotted_key() -> None:
    result = edit(("metadata", "annotations", "awoooi.io/adopted-from"), "report-42")
    assert result == replaced(
        MANIFESTS,
        '    deployment.kubernetes.io/revision: "3"\n',
        '    deployment.kubernetes.io/revision: "3"\n    awoooi.io/adopted-from: report-42\n',
    )


def test_add_nested_field_creating_missing_mappings() -> None:
    result = edit((*WEB, "resources", "limits", "memory"), "512Mi")
    assert result == replaced(
        MANIFESTS,
        '              value: "true"\n',
        '              value: "true"\n'
        "          resources:\n"
        "            limits:\n"
        "              memory: 512Mi\n",
    )
    assert_inside(MANIFESTS, result, 0)


def test_delete_a_key_removes_its_line() -> None:
    result = edit(("metadata", "labels", "app.kubernetes.io/part-of"), DELETE)
    assert result == replaced(MANIFESTS, "    app.kubernetes.io/part-of: shop\n", "")


def test_delete_a_mapping_removes_its_value_lines() -> None:
    result = edit((*WEB, "env"), DELETE)
    assert result == replaced(
        MANIFESTS,
        "          env:\n"
        "            - name: LOG_LEVEL\n"
        "              value: info\n"
        "            - name: FEATURE_X\n"
        '              value: "true"\n',
        "",
    )


def test_deleting_the_last_key_leaves_an_empty_mapping() -> None:
    result = edit(("metadata", "annotations", "deployment.kubernetes.io/revision"), DELETE)
    assert result == replaced(
        MANIFESTS,
        '  annotations:\n    deployment.kubernetes.io/revision: "3"\n',
        "  annotations: {}\n",
    )


def test_deleting_a_missing_field_changes_nothing() -> None:
    assert edit(("metadata", "annotations", "nope"), DELETE) == MANIFESTS


def test_change_env_value_selected_by_name() -> None:
    result = edit((*WEB, "env", (("name", "LOG_LEVEL"),), "value"), "debug")
    assert result == replaced(
        MANIFESTS,
        "              value: info\n",
        "              value: debug\n",
    )


def test_env_value_that_needs_quotes_keeps_the_double_quotes() -> None:
    result = edit((*WEB, "env", (("name", "FEATURE_X"),), "value"), "false")
    assert result == replaced(MANIFESTS, 'value: "true"', 'value: "false"')


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("1.0", "'1.0'"),
        ("yes", "'yes'"),
        ("null", "'null'"),
        ("012", "'012'"),
        ("", "''"),
        (7, "7"),
        (True, "true"),
        (None, "null"),
        ("héllo ✓", "héllo ✓"),
    ],
)
def test_plain_scalars_are_quoted_only_when_needed(value: Any, written: str) -> None:
    result = edit((*WEB, "env", (("name", "LOG_LEVEL"),), "value"), value)
    assert result == replaced(MANIFESTS, "value: info\n", f"value: {written}\n")
    deployment = next(iter(yaml.safe_load_all(result)))
    assert deployment["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == value


def test_delete_a_list_item_selected_by_name() -> None:
    result = edit((*WEB, "env", (("name", "FEATURE_X"),)), DELETE)
    assert result == replaced(
        MANIFESTS,
        '            - name: FEATURE_X\n              value: "true"\n',
        "",
    )


def test_append_a_list_item_for_a_missing_selector() -> None:
    result = edit((*WEB, "env", (("name", "REGION"),)), {"name": "REGION", "value": "eu-1"})
    assert result == replaced(
        MANIFESTS,
        '              value: "true"\n',
        '              value: "true"\n            - name: REGION\n              value: eu-1\n',
    )


def test_replace_whole_container() -> None:
    value = {"name": "proxy", "image": "registry.local/proxy:2.1", "args": ["--verbose"]}
    result = edit(("spec", "template", "spec", "containers", (("name", "proxy"),)), value)
    assert result == replaced(
        MANIFESTS,
        "        - name: proxy\n"
        "          image: registry.local/proxy:2.0\n"
        "          resources:\n"
        "            limits:\n"
        "              cpu: 100m\n",
        "        - name: proxy\n"
        "          image: registry.local/proxy:2.1\n"
        "          args:\n"
        "            - --verbose\n",
    )


def test_replace_block_scalar() -> None:
    result = edit(("data", "app.properties"), "cache.size=256\ncache.ttl=60s\n", "ConfigMap")
    assert result == replaced(
        MANIFESTS,
        "  app.properties: |\n    cache.size=128\n    cache.ttl=60s\n",
        "  app.properties: |\n    cache.size=256\n    cache.ttl=60s\n",
    )


def test_block_scalar_becomes_one_line() -> None:
    result = edit(("data", "app.properties"), "off", "ConfigMap")
    assert result == replaced(
        MANIFESTS,
        "  app.properties: |\n    cache.size=128\n    cache.ttl=60s\n",
        "  app.properties: 'off'\n",
    )


def test_one_line_string_becomes_block_scalar() -> None:
    result = edit(("data", "mode"), "a\nb", "ConfigMap")
    assert result == replaced(MANIFESTS, "  mode: production\n", "  mode: |-\n    a\n    b\n")


def test_second_document_of_three() -> None:
    result = edit(("data", "mode"), "staging", "ConfigMap")
    assert result == replaced(MANIFESTS, "mode: production", "mode: staging")
    assert_inside(MANIFESTS, result, 1)
    before, after = list(yaml.safe_load_all(MANIFESTS)), list(yaml.safe_load_all(result))
    assert after[0] == before[0]
    assert after[2] == before[2]


def test_list_item() -> None:
    result = edit(("spec", "ports", 0, "targetPort"), 9090, "Service")
    assert result == replaced(
        MANIFESTS,
        "targetPort: 8080  # the container port",
        "targetPort: 9090  # the container port",
    )
    assert_inside(MANIFESTS, result, 2)


def test_list_item_port_selector_with_default_protocol() -> None:
    selector = (("port", 80), ("protocol", "TCP"))
    result = edit(("spec", "ports", selector, "targetPort"), "http", "Service")
    assert result == replaced(MANIFESTS, "targetPort: 8080", "targetPort: http")


def test_add_to_second_list_item() -> None:
    result = edit(("metadata", "labels", "team"), "shop", "ServiceAccount")
    assert result == MANIFESTS + "    labels:\n      team: shop\n"


def test_several_edits_in_one_document() -> None:
    edits = [
        FieldEdit((*WEB, "image"), "registry.local/web:2.0.0"),
        FieldEdit(("spec", "replicas"), 3),
        FieldEdit(("metadata", "labels", "app.kubernetes.io/part-of"), DELETE),
    ]
    result = edit_document(MANIFESTS, 0, edits)
    expected = replaced(MANIFESTS, "web:1.4.2", "web:2.0.0")
    expected = replaced(expected, "replicas: 2", "replicas: 3")
    assert result == replaced(expected, "    app.kubernetes.io/part-of: shop\n", "")


def test_edited_file_scans_as_the_live_object() -> None:
    result = edit((*WEB, "env", (("name", "LOG_LEVEL"),), "value"), "warn")
    manifests, _ = parse_documents(result, "web.yaml")
    container = manifests[0].obj["spec"]["template"]["spec"]["containers"][0]
    assert container["env"][0] == {"name": "LOG_LEVEL", "value": "warn"}


# ---------------------------------------------------------------- file shapes


def test_crlf_and_no_trailing_newline() -> None:
    text = "a: 1\r\nb:\r\n  c: x  # keep\r\n  d: [1, 2]"
    assert edit_document(text, 0, [FieldEdit(("b", "c"), "y")]) == text.replace("c: x", "c: y")
    added = edit_document(text, 0, [FieldEdit(("b", "e", "f"), 1)])
    assert added == text + "\r\n  e:\r\n    f: 1"
    assert edit_document(text, 0, [FieldEdit(("b", "d"), DELETE)]) == "a: 1\r\nb:\r\n  c: x  # keep"
    flow = edit_document(text, 0, [FieldEdit(("b", "d", 2), 3)])
    assert flow == text.replace("[1, 2]", "[1, 2, 3]")


def test_document_start_marker_with_comments_and_empty_documents() -> None:
    text = "# head\n--- # first\na: 1\n---\n---\n# about b\nb: 2  # two\n"
    assert edit_document(text, 2, [FieldEdit(("b",), 3)]) == text.replace("b: 2", "b: 3")
    with pytest.raises(EditRefused, match="not a mapping"):
        edit_document(text, 1, [FieldEdit(("b",), 3)])


def test_json_file_stays_json() -> None:
    text = json.dumps({"kind": "ConfigMap", "data": {"a": "1"}}, indent=2) + "\n"
    result = edit_document(text, 0, [FieldEdit(("data", "b"), "yes")])
    assert json.loads(result) == {"kind": "ConfigMap", "data": {"a": "1", "b": "yes"}}
    assert result == text.replace('"a": "1"', '"a": "1",\n    "b": "yes"')


def test_unicode_and_null_values() -> None:
    text = "# ünïcode ✓\nname: café\nlabels:\nnote: ~  # later\n"
    result = edit_document(text, 0, [FieldEdit(("labels", "é"), "ü"), FieldEdit(("note",), "☃")])
    assert result == "# ünïcode ✓\nname: café\nlabels:\n  é: ü\nnote: ☃  # later\n"


# ---------------------------------------------------------------- refusals


ANCHORED = """\
metadata:
  labels: &labels
    app: web
spec:
  selector:
    matchLabels: *labels
"""


@pytest.mark.parametrize(
    "path",
    [
        ("metadata", "labels", "app"),
        ("spec", "selector", "matchLabels", "app"),
        ("metadata", "labels"),
        ("spec", "selector", "extra"),
    ],
)
def test_refuses_alias_and_anchor(path: Path) -> None:
    with pytest.raises(EditRefused, match="anchored or aliased") as caught:
        edit_document(ANCHORED, 0, [FieldEdit(path, "x")])
    assert caught.value.status_code == 409
    assert caught.value.code == "adopt_refused"


def test_refuses_merge_keys() -> None:
    text = "base: &b {a: 1}\nobj:\n  <<: *b\n  c: 2\n"
    with pytest.raises(EditRefused, match="merge key"):
        edit_document(text, 0, [FieldEdit(("obj", "c"), 3)])


def test_refuses_document_index_out_of_range() -> None:
    with pytest.raises(EditRefused, match="out of range"):
        edit_document(MANIFESTS, 3, [FieldEdit(("spec", "replicas"), 1)])
    with pytest.raises(EditRefused, match="no List item 5"):
        edit_document(MANIFESTS, 2, [FieldEdit(("kind",), "x")], item_index=5)


def test_refuses_list_index_out_of_range() -> None:
    with pytest.raises(EditRefused, match=r"index 5 is out of range \(2 items\)"):
        edit(("spec", "template", "spec", "containers", 5, "image"), "x")


def test_refuses_duplicate_selector_matches() -> None:
    text = "env:\n- name: A\n  value: '1'\n- name: A\n  value: '2'\n"
    with pytest.raises(EditRefused, match=r"env\[name=A\]\.value: the selector matches 2 items"):
        edit_document(text, 0, [FieldEdit(("env", (("name", "A"),), "value"), "3")])


def test_refuses_path_through_a_scalar() -> None:
    with pytest.raises(EditRefused, match="is not a mapping or list"):
        edit(("spec", "replicas", "max"), 3)


def test_refuses_new_item_contradicting_its_selector() -> None:
    with pytest.raises(EditRefused, match="contradicts the selector"):
        edit((*WEB, "env", (("name", "B"),)), {"name": "C", "value": "1"})


def test_refuses_when_verification_fails() -> None:
    # JSON writes 1e+100, which YAML 1.1 reads as a string: the safety net must catch it.
    text = '{"data": {"a": 1}}\n'
    with pytest.raises(EditRefused, match="would not load as expected"):
        edit_document(text, 0, [FieldEdit(("data", "a"), 1e100)])


def test_refuses_invalid_yaml() -> None:
    with pytest.raises(EditRefused, match="not valid YAML"):
        edit_document("a: [1\n", 0, [FieldEdit(("a",), 1)])


# ---------------------------------------------------------------- property


KEYS = st.sampled_from(
    [
        "a",
        "b",
        "name",
        "image",
        "replicas",
        "spec",
        "metadata",
        "app.kubernetes.io/name",
        "example.com/owner",
        "x-1",
        "ümlaut",
        "on",
        "1.0",
    ]
)
TEXT = st.text(st.characters(exclude_categories=("Cc", "Cs", "Co", "Cn", "Zl", "Zp")), max_size=12)
SCALARS = st.one_of(
    st.integers(-(10**6), 10**6),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(["yes", "1.0", "", "null", "012", "~", "a: b", "#x", "it's", "- x"]),
    TEXT,
)
DOCUMENTS = st.dictionaries(
    KEYS,
    st.recursive(
        SCALARS,
        lambda inner: st.dictionaries(KEYS, inner, min_size=1, max_size=3),
        max_leaves=10,
    ),
    min_size=1,
    max_size=4,
)


def scalar_paths(value: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(value, dict):
        return [p for key, child in value.items() for p in scalar_paths(child, (*prefix, key))]
    return [prefix]


def node_line(text: str, path: tuple[str, ...]) -> int:
    node: Any = yaml.compose(text)
    for key in path:
        node = next(v for k, v in node.value if k.value == key)
    return int(node.start_mark.line)


def canonical(value: Any) -> str:
    """Type-exact comparison text (1, 1.0 and true differ)."""
    return json.dumps(value, sort_keys=True)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=DOCUMENTS, new=SCALARS, data=st.data())
def test_editing_a_scalar_changes_only_its_line(
    document: dict[str, Any], new: Any, data: st.DataObject
) -> None:
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=10**6)
    lines = body.splitlines(keepends=True)
    at = data.draw(st.integers(0, len(lines)), label="comment line")
    lines.insert(at, "  # a comment the edit must keep\n" if at % 2 else "# top comment\n")
    text = "".join(lines)
    path = data.draw(st.sampled_from(scalar_paths(document)), label="path")
    result = edit_document(text, 0, [FieldEdit(path, new)])
    expected = json.loads(json.dumps(document))
    target = expected
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    assert canonical(yaml.safe_load(result)) == canonical(expected)
    before, after = text.splitlines(), result.splitlines()
    assert len(before) == len(after)
    edited_line = node_line(text, path)
    assert [line for i, line in enumerate(before) if i != edited_line] == [
        line for i, line in enumerate(after) if i != edited_line
    ]

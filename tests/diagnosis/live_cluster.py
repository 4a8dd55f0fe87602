"""Put a `cluster-info dump` directory into the API stand-in: every List's items as objects (kind
and apiVersion from the List), every container's log block and previous log as pod logs, so the
same cluster can be read live and from the dump."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.helpers.kube_api import FakeKubeAPI

_BLOCK = re.compile(r"^==== (START|END) logs for container (\S+) of pod (\S+) ====$")
_PREVIOUS = re.compile(r"^logs-(?P<container>.+)-previous\.txt$")


def load_dump(api: FakeKubeAPI, root: Path) -> int:
    """Add the dump's objects and logs to `api`; returns how many objects were added."""
    added = 0
    for path in sorted([root / "nodes.json", *root.glob("*/*.json")]):
        if not path.is_file():
            continue
        document = json.loads(path.read_text())
        kind = str(document.get("kind") or "").removesuffix("List")
        for item in document.get("items") or []:
            api.add({"kind": kind, "apiVersion": document["apiVersion"], **item})
            added += 1
    for pod_dir in sorted(p for p in root.glob("*/*") if p.is_dir()):
        namespace, pod = pod_dir.parent.name, pod_dir.name
        logs = pod_dir / "logs.txt"
        if logs.is_file():
            for container, text in _blocks(logs.read_text()).items():
                api.set_log(namespace, pod, container, text)
        for previous in pod_dir.glob("logs-*-previous.txt"):
            match = _PREVIOUS.match(previous.name)
            if match is not None:
                api.set_log(namespace, pod, match["container"], previous.read_text(), previous=True)
    return added


def _blocks(text: str) -> dict[str, str]:
    """container -> the text of its block (the last block of a container wins)."""
    blocks: dict[str, str] = {}
    current: str | None = None
    lines: list[str] = []
    for line in text.splitlines(keepends=True):
        marker = _BLOCK.match(line.rstrip("\r\n"))
        if marker is None:
            if current is not None:
                lines.append(line)
            continue
        if marker[1] == "START":
            current, lines = marker[2], []
        elif current is not None:
            blocks[current] = "".join(lines)
            current = None
    return blocks

"""Where a dump is written, safely: the target directory is new, empty or an earlier awoooi dump
(anything else is refused), the dump is built in a private staging directory next to it and
swapped in at the end, and every file is created fresh (O_EXCL, O_NOFOLLOW), so a planted
symlink can never send a write outside the dump and a failed dump leaves the old one intact."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

from awoooi.diagnosis.errors import DiagnosisInputError
from awoooi.diagnosis.source import is_object_name

MARKER = "awoooi-dump.json"
MARKER_KIND = "AwoooiClusterDump"
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)


class DumpTargetError(DiagnosisInputError):
    """The dump's target directory cannot be used (not empty and not an earlier dump, ...)."""

    code = "bad_dump_target"


def is_previous_dump(directory: Path) -> bool:
    """Whether the directory holds a dump awoooi wrote (its marker file, a regular file)."""
    marker = directory / MARKER
    if marker.is_symlink() or not marker.is_file():
        return False
    try:
        document = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(document, dict) and document.get("kind") == MARKER_KIND


def check_target(directory: Path) -> Path:
    """The absolute target path, once it is known to be usable; DumpTargetError otherwise."""
    target = Path(os.path.abspath(directory))  # the path itself, not where a symlink leads
    if target.is_symlink():
        raise DumpTargetError(f"{target} is a symlink; give the real directory")
    if target.exists():
        if not target.is_dir():
            raise DumpTargetError(f"{target} exists and is not a directory")
        if any(target.iterdir()) and not is_previous_dump(target):
            raise DumpTargetError(
                f"{target} is not empty and holds no earlier awoooi dump ({MARKER}); "
                "give a new or empty directory"
            )
    elif not target.parent.is_dir():
        raise DumpTargetError(f"no directory {target.parent} to create {target.name} in")
    return target


def staging_for(target: Path) -> Path:
    """A new private directory next to the target (same file system, so the swap is a rename)."""
    try:
        return Path(
            tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
        )
    except OSError as exc:
        raise DumpTargetError(f"cannot write in {target.parent}: {exc.strerror or exc}") from None


def swap_in(staging: Path, target: Path) -> None:
    """Put the finished staging directory in the target's place (an earlier dump is removed)."""
    if not target.exists():
        os.rename(staging, target)
        return
    # check_target ran before the cluster was read; the directory may have changed since.
    if any(target.iterdir()) and not is_previous_dump(target):
        raise DumpTargetError(f"{target} changed while dumping and is no longer an awoooi dump")
    old = target.with_name(f".{target.name}.{secrets.token_hex(4)}.old")
    os.rename(target, old)
    os.rename(staging, target)
    shutil.rmtree(old)  # never follows symlinks inside


def discard(staging: Path) -> None:
    """Remove a staging directory after a failure."""
    shutil.rmtree(staging, ignore_errors=True)


def make_dir(root: Path, *parts: str) -> Path:
    """A new directory under root, each part an object name (never `..`, never a slash)."""
    path = root
    for part in parts:
        if not is_object_name(part):
            raise DumpTargetError(f"refusing to write {part[:80]!r}: not a Kubernetes object name")
        path = path / part
        if not path.is_dir() or path.is_symlink():
            os.mkdir(path, 0o700)
    return path


def write_text(directory: Path, name: str, text: str) -> None:
    """Create a new file (owner-only) and write the text; an existing name is an error."""
    descriptor = os.open(directory / name, _FILE_FLAGS, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


def write_json(directory: Path, name: str, document: Any) -> None:
    """Create a new JSON file, indented like `kubectl cluster-info dump` writes them."""
    write_text(directory, name, json.dumps(document, indent=4, ensure_ascii=False) + "\n")

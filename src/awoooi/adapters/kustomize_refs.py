"""What a kustomization would read besides the repository: remote bases and files (URLs, Git
repositories, Helm repositories) and paths that leave the repository, found before kustomize
runs, through every local base, component and generator it names."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from awoooi.core.redact import redact

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
MAX_DEPTH = 32
MAX_KUSTOMIZATION_BYTES = 1024 * 1024
ALLOW_SETTING = "drift.kustomize_allow_remote"

# Every field of a Kustomization that names a location (kustomize's types.Kustomization; it
# matches field names in any case). Lists whose entries may be kustomizations (followed) or
# files; the plugin lists also take inline YAML.
_BASE_LISTS = ("resources", "bases", "components", "generators", "transformers", "validators")
_FILE_LISTS = ("crds", "configurations", "patchesstrategicmerge")
_TAKES_INLINE = {"generators", "transformers", "validators", "patchesstrategicmerge"}
# Lists of mappings, and mappings, with the fields in them that name a location. Helm runs only
# with --enable-helm, which is never passed; a chart repository is refused all the same.
_ITEM_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("patches", ("path",)),
    ("patchesjson6902", ("path",)),
    ("replacements", ("path",)),
    ("configmapgenerator", ("files", "envs", "env")),
    ("secretgenerator", ("files", "envs", "env")),
    ("helmcharts", ("repo", "valuesfile", "additionalvaluesfiles")),
    ("helmchartinflationgenerator", ("chartrepourl", "values", "charthome")),
)
_MAP_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("openapi", ("path",)),
    ("helmglobals", ("charthome", "confighome")),
)
Fields = dict[str, list[tuple[str, Any]]]  # lower-cased key: (key as written, value) pairs
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_SCP = re.compile(r"^[^@/:\s]+@(?P<host>[^/:\s]+):")
_GITHUB = re.compile(r"^(?:gh:|github\.com[/:])", re.IGNORECASE)


@dataclass(frozen=True)
class Refusal:
    """One reference kustomize may not follow: where it is written and why it is refused."""

    file: str  # the kustomization, relative to the repository
    field: str
    entry: str
    reason: str

    def text(self, *, with_file: bool) -> str:
        """`field 'entry' [in file] reason` (the entry redacted: URLs may carry credentials)."""
        where = f" in {self.file}" if with_file else ""
        return f"{self.field} {redact(repr(self.entry))}{where} {self.reason}"


def kustomization_file(directory: Path) -> Path | None:
    """The kustomization file kustomize reads in `directory`, if any."""
    return next(
        (directory / name for name in KUSTOMIZATION_FILES if (directory / name).is_file()), None
    )


def refused_references(
    directory: Path, *, repository: Path, allow_remote: Collection[str]
) -> list[Refusal]:
    """Every reference of the kustomization in `directory`, and of the local kustomizations it
    names, that is remote on a host `allow_remote` does not name, or leaves `repository`."""
    checker = _Checker(repository.resolve(), {host.lower() for host in allow_remote})
    checker.check(directory.resolve(), depth=0)
    return checker.refusals


class _Checker:
    def __init__(self, repository: Path, allowed: set[str]) -> None:
        self.repository = repository
        self.allowed = allowed
        self.refusals: list[Refusal] = []
        self.seen: set[Path] = set()

    def check(self, directory: Path, *, depth: int) -> None:
        if directory in self.seen:
            return
        self.seen.add(directory)
        file = kustomization_file(directory)
        if file is None:
            return
        shown = self._shown(file)
        if depth > MAX_DEPTH:
            self.refusals.append(Refusal(shown, "resources", ".", "nests too deeply"))
            return
        if not file.resolve().is_relative_to(self.repository):
            self.refusals.append(
                Refusal(shown, "kustomization", file.name, "links outside the repository: refused")
            )
            return
        spec = _load(file)
        if isinstance(spec, str):
            self.refusals.append(Refusal(shown, "kustomization", file.name, spec))
            return
        for field, entry, follow in _references(spec):
            target = self._classify(directory, shown, field, entry)
            if follow and target is not None and target.is_dir():
                self.check(target, depth=depth + 1)

    def _shown(self, path: Path) -> str:
        inside = path.is_relative_to(self.repository)
        return str(path.relative_to(self.repository)) if inside else path.name

    def _classify(self, directory: Path, shown: str, field: str, entry: str) -> Path | None:
        """The local path an entry names inside the repository; None (and a refusal) else."""

        def refuse(reason: str) -> None:
            self.refusals.append(Refusal(shown, field, entry, reason))

        host = _remote_host(entry)
        if host is not None:
            if host == "file":
                refuse("is a file:// URL: refused")
            elif not host:
                refuse("is a URL without a host: refused")
            elif host not in self.allowed:
                refuse(f"is remote (host {host}); {ALLOW_SETTING} does not name it: not fetched")
            return None
        if entry.startswith("/"):
            refuse("is an absolute path: refused")
            return None
        try:
            target = (directory / entry).resolve()
            exists = target.exists()
        except (OSError, RuntimeError, ValueError):
            refuse("is not a usable path")
            return None
        if not target.is_relative_to(self.repository):
            refuse("leaves the repository: refused")
            return None
        if not exists:
            refuse("does not exist in the repository")
            return None
        return target


def _remote_host(entry: str) -> str | None:
    """The host a remote entry is fetched from (`file` for file:// URLs, "" when it names
    none); None for a local path. Covers every form kustomize fetches, and more."""
    text = entry.strip()
    forced_git = text.lower().startswith("git::")
    if forced_git:
        text = text[len("git::") :]
    if _URL.match(text):
        parts = urlsplit(text)
        if parts.scheme.lower() == "file":
            return "file"
        try:
            return (parts.hostname or "").lower()
        except ValueError:
            return ""
    scp = _SCP.match(text)
    if scp is not None:
        return scp["host"].lower()
    if _GITHUB.match(text):
        return "github.com"
    return "" if forced_git else None  # `git::` clones whatever follows, a local path too


def _load(file: Path) -> Fields | str:
    """The kustomization's fields (keys lower-cased: kustomize matches them in any case), or
    why it cannot be checked."""
    try:
        if file.stat().st_size > MAX_KUSTOMIZATION_BYTES:
            return f"is larger than {MAX_KUSTOMIZATION_BYTES:,} bytes: not checked, not rendered"
        loaded = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot be read ({type(exc).__name__}): not rendered"
    except yaml.YAMLError:
        return "is not valid YAML: not rendered"
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        return "is not a mapping: not rendered"
    return _lowered(loaded)


def _lowered(mapping: dict[Any, Any]) -> Fields:
    """Each key lower-cased, with every (key as written, value) spelled that way."""
    fields: Fields = {}
    for key, value in mapping.items():
        fields.setdefault(str(key).lower(), []).append((str(key), value))
    return fields


def _strings(value: Any) -> Iterator[str]:
    """The non-blank strings of a list, or the value itself when it is one."""
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str) and item.strip():
            yield item.strip()


def _items(value: Any) -> Iterator[tuple[int, Fields]]:
    """The mappings of a list, with their indexes."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict):
                yield index, _lowered(item)


def _inline(entry: str) -> bool:
    """An inline YAML document (patch or plugin configuration) rather than a path."""
    return "\n" in entry or entry.startswith(("{", "[")) or ": " in entry


def _sub_entries(fields: Fields, sub: str) -> Iterator[tuple[str, str]]:
    """(name as written, entry) of one field of an item."""
    for name, value in fields.get(sub, []):
        for entry in _strings(value):
            yield name, entry


def _references(spec: Fields) -> Iterator[tuple[str, str, bool]]:
    """(field as written, entry, whether a directory there is a kustomization to follow)."""
    for keys, follow in ((_BASE_LISTS, True), (_FILE_LISTS, False)):
        for key in keys:
            for name, entry in _sub_entries(spec, key):
                if key not in _TAKES_INLINE or not _inline(entry):
                    yield name, entry, follow
    for key, subs in _ITEM_FIELDS:
        for name, value in spec.get(key, []):
            for index, item in _items(value):
                for sub in subs:
                    for sub_name, entry in _sub_entries(item, sub):
                        if sub == "files":  # `key=path` names the data key too
                            entry = entry.partition("=")[2].strip() or entry
                        yield f"{name}[{index}].{sub_name}", entry, False
    for key, subs in _MAP_FIELDS:
        for name, value in spec.get(key, []):
            if isinstance(value, dict):
                for sub in subs:
                    for sub_name, entry in _sub_entries(_lowered(value), sub):
                        yield f"{name}.{sub_name}", entry, False

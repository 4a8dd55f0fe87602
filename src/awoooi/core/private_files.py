"""Files and directories only the service's user may read: $AWOOOI_HOME, the SQLite database,
the Git cache. They hold token hashes, incidents and clones whose config names credentials.

What we create is private from the start, whatever the umask: directories 0700, files 0600.
An existing *file* of ours (the database and its WAL/SHM/journal, left 0644 by an older version)
is tightened to 0600. An existing *directory* is never changed: it may be a mount point, or
shared on purpose; `warn_if_shared` names it instead (the files in it are 0600 either way).
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from awoooi.core.logging import get_logger

PRIVATE_DIRECTORY = 0o700
PRIVATE_FILE = 0o600
_OTHERS = 0o077  # group and world bits

log = get_logger("awoooi.files")


def private_directory(path: Path) -> Path:
    """Create the directory and any missing parents 0700 (an existing one is left as it is)."""
    missing: list[Path] = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIRECTORY)
        except FileExistsError:
            continue  # another process made it first; its mode is its maker's
        os.chmod(directory, PRIVATE_DIRECTORY)  # mkdir's mode is masked by the umask
    return path


def private_file(path: Path) -> None:
    """Create the file 0600 if missing (never truncating one); tighten it if it is not 0600."""
    # O_EXCL: an existing file is not opened for writing (that could fail where reading works).
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    tighten_file(path)


def tighten_file(path: Path) -> None:
    """Take the group and world bits off an existing file (a missing one is fine)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if not mode & _OTHERS:
        return
    try:
        os.chmod(path, mode & ~_OTHERS)
    except PermissionError:  # not the owner: say so; the database still opens
        log.warning("cannot make a file private", path=str(path), mode=oct(mode))


def warn_if_shared(path: Path) -> None:
    """Log a warning when an existing directory lets other users in."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & _OTHERS:
        log.warning(
            "home directory is open to other users; run chmod 700 on it",
            path=str(path),
            mode=oct(mode),
        )

"""What the updater last put in a program folder, so that the next snapshot need not hash it.

When an update or a restore commits, the program folder it moved into place holds
exactly a file list the updater proved (the signed list of the release, or the list of
the snapshot put back). :func:`remember` writes that list to ``installed.json`` next to
the product's snapshots, with each file's size and modification time taken right after
the files were written (before the new program first ran). The next transaction's
snapshot calls :func:`recall`: when the installed version is the one remembered and
one ``lstat`` per file finds the same names, sizes and modification times, the list is
taken as it is instead of hashing every byte again (a stat pass instead of a read of
the whole program). Anything else (another version, a file added, removed, resized or
touched, an unreadable or damaged record) gives ``None`` and the snapshot hashes the
folder as before. A program that writes into its own folder therefore costs only the
hash pass it always cost.

Trust: the record lives in the snapshot store, which only administrators can change,
like the snapshots themselves; a program folder is changed without its modification
times changing only by someone who can also change the saved copies. The hashes the
record gives are what a later copy of the snapshot to another volume is checked
against, so a lie in them makes that copy fail, never succeed with other bytes.

Private to :mod:`updater.install.transaction`.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from updater.errors import ArchiveError, UpdaterError
from updater.fsutil import write_atomic
from updater.install.filelist import FileList, file_stamps

INSTALLED_FILE = "installed.json"
#: The version of the record's format; another is ignored (and the folder hashed).
_FORMAT = 1

Stamps = dict[str, tuple[int, int]]


def stamp(root: Path, expected: FileList) -> Stamps | None:
    """The size and modification time of every file of ``root``, when its names and
    sizes are exactly ``expected``'s (else None: nothing worth remembering)."""
    try:
        found = file_stamps(root)
    except (OSError, ArchiveError):
        return None
    listed = {entry.path: entry.size for entry in expected.files}
    if {path: size for path, (size, _mtime) in found.items()} != listed:
        return None
    return found


def remember(folder: Path, version: str, files: FileList, stamps: Stamps) -> None:
    """Write ``installed.json`` in ``folder`` (the product's snapshot folder); best
    effort: a record that cannot be written only means the next snapshot hashes."""
    record = {
        "format": _FORMAT,
        "version": version,
        "list": json.loads(files.to_json()),
        "mtime_ns": {entry.path: stamps[entry.path][1] for entry in files.files},
    }
    try:
        write_atomic(folder / INSTALLED_FILE, json.dumps(record).encode())
    except OSError:
        forget(folder)


def forget(folder: Path) -> None:
    """Remove ``installed.json`` (best effort)."""
    with contextlib.suppress(OSError):
        (folder / INSTALLED_FILE).unlink(missing_ok=True)


def recall(folder: Path, version: str | None, root: Path) -> FileList | None:
    """The remembered list of ``root`` when it still describes it (see the module)."""
    if version is None:
        return None
    try:
        record = json.loads((folder / INSTALLED_FILE).read_bytes())
        if record.get("format") != _FORMAT or record.get("version") != version:
            return None
        files = FileList.from_json(json.dumps(record["list"]).encode())
        mtimes: dict[str, Any] = record["mtime_ns"]
        found = file_stamps(root)
    except (OSError, ValueError, TypeError, KeyError, AttributeError, UpdaterError):
        return None
    if len(found) != files.file_count:
        return None
    for entry in files.files:
        if found.get(entry.path) != (entry.size, mtimes.get(entry.path)):
            return None
    return files

"""The snapshot store and the trees it saves, read and never changed.

A snapshot is ``<state>/snapshots/<product>/<id>/``: ``snapshot.json`` (a
:class:`SnapshotRecord`), ``program/`` and ``data/<n>``. This module only reads: the
record's format, the kept snapshots as listed to a person (:class:`SnapshotInfo`,
:func:`list_snapshots`), which data paths changed since one was taken
(:func:`changed_data_paths`), sizes (:func:`describe_size`), whether two folders share a
volume (:func:`same_volume`), and the file list of a file or tree read without following
a link (:func:`describe_file`, :func:`describe_path`, :func:`walk_no_follow`).

Every change (taking, committing, restoring and pruning a snapshot, writing its
``snapshot.json``) is :mod:`updater.install.transaction`'s, which builds on this module
and re-exports the names the rest of the updater imported from it before they moved here.

May import: :mod:`updater.install.filelist`, the foundation (``fsutil``), the platform
and the core. Never :mod:`updater.install.transaction`.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from updater.errors import ArchiveError
from updater.fsutil import is_link_like
from updater.i18n import _, render, source_of
from updater.install.filelist import FileEntry, FileList
from updater.platform import current as current_platform
from updater.platform.base import LinkRefusedError, Platform

#: Files are read (and copied) in pieces of this many bytes.
CHUNK = 1 << 20
SNAPSHOT_FILE = "snapshot.json"


@dataclass
class SnapshotRecord:
    """``snapshot.json``: what a snapshot holds and how to prove a restore."""

    id: str
    product: str
    version: str | None
    taken_at: str
    reason: str
    program: dict[str, Any] | None = None  # FileList document of the program dir
    data: list[dict[str, Any]] = field(default_factory=list)  # path, stored, list|None
    registry: dict[str, str] | None = None  # {"file": ..., "where": ...} when saved
    kept: bool = False  # True once the transaction that took it committed
    #: How ``reason`` was made (``updater.i18n.source_of``): shown in the reader's language.
    reason_source: str | None = None

    def __post_init__(self) -> None:
        if self.reason_source is None:
            self.reason_source = source_of(self.reason)
        self.reason = str(self.reason)

    def encode(self) -> bytes:
        """The ``snapshot.json`` document (the transaction writes it)."""
        return json.dumps(asdict(self), indent=2, ensure_ascii=False).encode()

    @classmethod
    def load(cls, directory: Path) -> SnapshotRecord:
        raw = json.loads((directory / SNAPSHOT_FILE).read_text(encoding="utf-8"))
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})  # a newer one's: skipped

    def program_list(self) -> FileList | None:
        return FileList.from_json(json.dumps(self.program).encode()) if self.program else None


@dataclass(frozen=True)
class SnapshotInfo:
    """A kept snapshot, as listed to a person."""

    id: str
    product: str
    version: str | None
    taken_at: datetime
    reason: str
    size: int
    path: Path
    reason_source: str | None = None

    @property
    def shown_reason(self) -> str:
        """Why it was taken, in the reader's language (as written when it cannot be)."""
        return render(self.reason_source, self.reason) or self.reason


def list_snapshots(snapshots_root: Path, product: str) -> list[SnapshotInfo]:
    """The kept snapshots of ``product``, newest first (unfinished ones are not listed)."""
    folder = snapshots_root / product
    found: list[SnapshotInfo] = []
    if not folder.is_dir():
        return found
    for directory in folder.iterdir():
        try:
            record = SnapshotRecord.load(directory)
        except (OSError, ValueError, TypeError):
            continue
        if not record.kept:
            continue
        size = sum(f.stat().st_size for f in directory.rglob("*") if f.is_file())
        found.append(
            SnapshotInfo(
                id=record.id,
                product=record.product,
                version=record.version,
                taken_at=datetime.fromisoformat(record.taken_at),
                reason=record.reason,
                size=size,
                path=directory,
                reason_source=record.reason_source,
            )
        )
    found.sort(key=lambda s: s.id, reverse=True)
    return found


def changed_data_paths(source: SnapshotInfo) -> list[Path]:
    """Data paths whose content now differs from what the snapshot saved."""
    record = SnapshotRecord.load(source.path)
    changed: list[Path] = []
    for item in record.data:
        path = Path(item["path"])
        now = describe_path(path)
        saved = item.get("list")
        now_doc = None if now is None else json.loads(now.to_json())
        if now_doc != saved:
            changed.append(path)
    return changed


def describe_size(path: Path) -> int:
    """Bytes under ``path`` (0 when it does not exist), links not followed (an
    estimate for progress: what is copied later refuses them)."""
    total = 0
    for folder, _subfolders, names in os.walk(path):
        for name in names:
            with contextlib.suppress(OSError):
                info = (Path(folder) / name).lstat()
                total += info.st_size if stat.S_ISREG(info.st_mode) else 0
    with contextlib.suppress(OSError):
        info = os.lstat(path)
        total += info.st_size if stat.S_ISREG(info.st_mode) else 0
    return total


def same_volume(a: Path, b: Path) -> bool:
    """Whether two existing folders are on one file system (so a rename can move between)."""
    return a.stat().st_dev == b.stat().st_dev


# -------------------------------------------------- trees, read without following a link


def walk_no_follow(root: Path, platform: Platform) -> tuple[list[tuple[str, Path, int]], list[str]]:
    """The regular files under ``root`` as (POSIX relative path, path, size) and its
    folders (relative), every folder listed through the platform's no-follow scan.

    Raises:
        LinkRefusedError: a link or junction is in it, or on the way to it.
        OSError: a folder cannot be read, or holds a special file.
    """
    files: list[tuple[str, Path, int]] = []
    folders: list[str] = []
    pending = [(root, "")]
    while pending:
        folder, prefix = pending.pop()
        for name, is_folder, size in platform.scan_no_follow(folder):
            if is_folder:
                folders.append(prefix + name)
                pending.append((folder / name, prefix + name + "/"))
            else:
                files.append((prefix + name, folder / name, size))
    return sorted(files), sorted(folders)


def link_refused(exc: LinkRefusedError) -> ArchiveError:
    """The error to raise when a link or junction was met (and refused) on the way."""
    return ArchiveError(
        _("{path} is a link or junction, which the updater does not copy.").format(
            path=exc.filename
        )
    )


def describe_file(path: Path, platform: Platform = current_platform) -> FileEntry:
    """A file as a one-entry file list entry (path ``""``), read without following a
    link."""
    digest = hashlib.sha256()
    size = 0
    with platform.open_no_follow(path) as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return FileEntry("", size, digest.hexdigest())


def describe_path(path: Path, platform: Platform = current_platform) -> FileList | None:
    """The file list of a data path as it is now (None when it does not exist), read
    without following a link.

    Raises:
        ArchiveError: it holds (or is reached through) a link or junction.
    """
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    try:
        if is_link_like(info):
            raise LinkRefusedError(errno.ELOOP, "a link", str(path))
        if not path.is_dir():
            return FileList((describe_file(path, platform),))
        files, _folders = walk_no_follow(path, platform)
        entries = []
        for relative, source, _size in files:
            found = describe_file(source, platform)
            entries.append(FileEntry(relative, found.size, found.sha256))
    except LinkRefusedError as exc:
        raise link_refused(exc) from exc
    return FileList(tuple(entries))

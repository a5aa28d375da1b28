"""The transaction's file operations: every rename, delete and copy it makes.

Durable renames (:func:`rename`), deletes that follow no link (:func:`remove`), copies
proven against what was read (:func:`copy_verified`), one data path put back from a
snapshot (:func:`restore_data_path`), ``snapshot.json`` written (:func:`write_record`)
and old snapshots deleted (:func:`prune_snapshots`); :func:`refuse_replaceable` is the
check made before any of them touches a folder that others could swap for a link.

Private to :mod:`updater.install.transaction`: these are the only functions of the
updater that change program folders, data paths and snapshots, and only the
transaction's modules call them (the package re-exports :func:`prune_snapshots` and
:func:`refuse_replaceable`). Reading the same trees is :mod:`updater.install.snapshots`.

May import: :mod:`updater.install.archive` (to verify a copy),
:mod:`updater.install.filelist`, :mod:`updater.install.snapshots`, the foundation, the
platform and the core.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from updater.errors import ArchiveError, PreflightError, StorageError
from updater.fsutil import is_link_like, write_atomic
from updater.i18n import _
from updater.install.archive import verify_tree
from updater.install.filelist import FileEntry, FileList
from updater.install.snapshots import (
    CHUNK,
    SNAPSHOT_FILE,
    SnapshotInfo,
    SnapshotRecord,
    describe_file,
    link_refused,
    list_snapshots,
    walk_no_follow,
)
from updater.platform import current as current_platform
from updater.platform.base import LinkRefusedError, Platform


def rename(src: Path, dst: Path, platform: Platform) -> None:
    """Rename a file or folder (retried while another program holds a file), durably:
    both parent folders are fsynced."""
    platform.replace_dir_retrying(src, dst)
    platform.fsync_dir(dst.parent)
    if src.parent != dst.parent:
        platform.fsync_dir(src.parent)


def remove(path: Path, platform: Platform = current_platform) -> None:
    """Delete a file or a tree (read-only entries too) if it exists, following no link
    on its way or in it (users may write in data folders, and in some program folders:
    a folder swapped for a junction while SYSTEM deletes must not lead it elsewhere)."""
    platform.remove_no_follow(path)


def _copy_file(src: Path, dst: Path, on_chunk: Callable[[int], None], platform: Platform) -> str:
    """Copy one file durably, reading it without following a link; returns the SHA-256
    of what was read."""
    digest = hashlib.sha256()
    with platform.open_no_follow(src) as reader, dst.open("xb") as writer:
        while chunk := reader.read(CHUNK):
            writer.write(chunk)
            digest.update(chunk)
            on_chunk(len(chunk))
        writer.flush()
        os.fsync(writer.fileno())
    shutil.copystat(src, dst, follow_symlinks=False)
    return digest.hexdigest()


def copy_verified(
    src: Path,
    dst: Path,
    on_chunk: Callable[[int], None],
    platform: Platform = current_platform,
) -> FileList | None:
    """Copy a file or a folder to ``dst`` (which must not exist), then prove the copy.
    The source is read without following any link (``src`` may be a data folder that
    users write): a link or junction in it, or on the way to it, is refused.

    Returns the copy's file list (a file's list holds one entry named ``""``), or None
    when ``src`` does not exist.

    Raises:
        ArchiveError: ``src`` holds (or is reached through) a link or junction.
        StorageError: a copy differs from its source after writing (bad disk).
        OSError: reading or writing failed (disk full, permissions).
    """
    try:
        info = src.lstat()
    except FileNotFoundError:
        return None
    made: list[Path] = []
    entries: list[FileEntry] = []
    try:
        if is_link_like(info):
            raise LinkRefusedError(errno.ELOOP, "a link", str(src))
        if not stat.S_ISDIR(info.st_mode):
            dst.parent.mkdir(parents=True, exist_ok=True)
            sha = _copy_file(src, dst, on_chunk, platform)
            written = describe_file(dst)
            if written.sha256 != sha:
                raise StorageError(_("The copy of {path} is damaged.").format(path=src))
            return FileList((written,))
        # One read of the source: its list is made of the hashes taken while copying.
        files, folders = walk_no_follow(src, platform)
        dst.mkdir(parents=True)
        made.append(dst)
        for relative in folders:  # parents first (sorted), empty ones too
            folder = dst.joinpath(*relative.split("/"))
            folder.mkdir()
            made.append(folder)
        for relative, source, _size in files:
            target = dst.joinpath(*relative.split("/"))
            sha = _copy_file(source, target, on_chunk, platform)
            entries.append(FileEntry(relative, target.stat().st_size, sha))
    except LinkRefusedError as exc:
        raise link_refused(exc) from exc
    for folder in reversed(made):
        platform.fsync_dir(folder)  # the new entries survive a power cut
    source_list = FileList(tuple(entries))
    try:
        verify_tree(dst, source_list)
    except ArchiveError as exc:
        raise StorageError(
            _("The copy of {path} is damaged: {problem}").format(path=src, problem=exc.message)
        ) from exc
    return source_list


def restore_data_path(source: Path, txid: str, item: dict[str, Any], platform: Platform) -> None:
    """Make one data path exactly its copy in the snapshot ``source`` again (or absent,
    if it was absent then), through a verified copy and two renames."""
    target = Path(item["path"])
    refuse_replaceable([target], platform)  # checked again: nothing is written through a link
    incoming = target.with_name(f".{target.name}.innova-restore-{txid}")
    replaced = target.with_name(f".{target.name}.innova-replaced-{txid}")
    remove(incoming, platform)  # a partial copy from an interrupted attempt
    if item["kind"] != "missing":
        copy_verified(source / item["stored"], incoming, lambda _n: None, platform)
    if os.path.lexists(target):
        remove(replaced, platform)
        rename(target, replaced, platform)
    if item["kind"] != "missing":
        rename(incoming, target, platform)
    remove(replaced, platform)


def refuse_replaceable(paths: Sequence[Path], platform: Platform) -> None:
    """Refuse to work on a program folder or data path that someone other than an
    administrator could swap for a link or another folder while the updater works on
    it (``platform.replaceable_by_others``): the updater, often SYSTEM, would then read
    or write wherever that link points.

    Raises:
        PreflightError: one of them; nothing was changed.
    """
    for path in paths:
        reason = platform.replaceable_by_others(path)
        if reason is not None:
            raise PreflightError(
                _("The updater will not work on {path}: {reason}").format(path=path, reason=reason),
                hint=_(
                    "Nothing was changed. Only administrators may be able to rename or "
                    "replace the folders that hold it; ask your IT support."
                ),
            )


def write_record(record: SnapshotRecord, directory: Path) -> None:
    """Write (atomically) the ``snapshot.json`` of the snapshot in ``directory``."""
    write_atomic(directory / SNAPSHOT_FILE, record.encode())


def prune_snapshots(
    snapshots_root: Path, product: str, *, keep: int, max_bytes: int | None = None
) -> list[SnapshotInfo]:
    """Delete kept snapshots beyond the newest ``keep`` (and beyond the disk budget,
    always keeping the newest one). Returns what was deleted."""
    snapshots = list_snapshots(snapshots_root, product)
    doomed = snapshots[keep:]
    if max_bytes is not None:
        total = 0
        for index, snapshot in enumerate(snapshots[:keep]):
            total += snapshot.size
            if index > 0 and total > max_bytes:
                doomed.append(snapshot)
    for snapshot in doomed:
        remove(snapshot.path)
    return doomed

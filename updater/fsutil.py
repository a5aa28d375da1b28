"""File-system helpers every layer may use: crash-safe writes of the updater's own small
files (state, settings, metadata), plain-file reads that never follow a link, and removing a
folder whole.

Imports only the platform module; nothing above it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

from updater.platform import current as current_platform


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new content:
    a temp file in the same folder, fsynced, ``os.replace``d, then the folder fsynced.

    Raises:
        OSError: the folder or the file cannot be written (nothing replaced ``path``).
    """
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    temp = folder / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        with temp.open("xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temp.replace(path)
    finally:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # only the rename's durability is at stake
        current_platform.fsync_dir(folder)


def fsync_file(path: Path) -> None:
    """Make a file's content durable after something else wrote it (a copy, a zip).

    Opened for writing: on Windows ``fsync`` is ``FlushFileBuffers``, which refuses a
    handle without write access (``PermissionError``), unlike POSIX.
    """
    with path.open("r+b") as handle:
        os.fsync(handle.fileno())


def write_probe(folder: Path) -> OSError | None:
    """Whether this process may create files in ``folder`` (which must exist): creates
    and deletes a probe file, because ``os.access`` is unreliable on Windows. Returns the
    error when it may not, None when it may."""
    probe = folder / f".innova-write-test-{uuid.uuid4().hex[:12]}"
    try:
        with probe.open("xb"):
            pass
        probe.unlink()
    except OSError as exc:
        with contextlib.suppress(OSError):
            probe.unlink(missing_ok=True)
        return exc
    return None


def is_link_like(info: os.stat_result) -> bool:
    """Whether an ``lstat`` result is a link of any kind: a symbolic link, or on
    Windows any reparse point (a junction, a mount point, a cloud placeholder…)."""
    attributes = getattr(info, "st_file_attributes", 0)
    return stat.S_ISLNK(info.st_mode) or bool(attributes & stat.FILE_ATTRIBUTE_REPARSE_POINT)


def read_plain_file(path: Path, limit: int) -> bytes:
    """The content of a file that a less trusted account may have written, read as the
    elevated updater may: only a plain file with one name (no link, junction, device,
    pipe or folder, no hard link to something else), opened without following a link,
    checked to be the file that was looked at, and never more than ``limit`` bytes.

    Raises:
        FileNotFoundError: there is no such file.
        ValueError: it is not a plain file, it was replaced meanwhile, or it is larger
            than ``limit`` (it is not read further).
        OSError: it cannot be read.
    """
    before = os.lstat(path)
    if is_link_like(before) or not stat.S_ISREG(before.st_mode) or before.st_nlink != 1:
        raise ValueError(f"{path} is not a plain file")
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_NONBLOCK", 0)  # a FIFO put in its place must not hang us
    descriptor = os.open(path, flags)
    try:
        after = os.fstat(descriptor)
        if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
            raise ValueError(f"{path} was replaced while it was read")
        if not stat.S_ISREG(after.st_mode):
            raise ValueError(f"{path} is not a plain file")
        chunks: list[bytes] = []
        size = 0
        while size <= limit and (chunk := os.read(descriptor, min(65536, limit + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(descriptor)
    if size > limit:
        raise ValueError(f"{path} is larger than {limit} bytes")
    return b"".join(chunks)


def remove_tree(root: Path) -> None:
    """Remove a folder and everything in it, making read-only entries writable first.

    Links inside are removed, never followed. Raises :class:`OSError` if something
    still cannot be removed.
    """
    top = os.fspath(root)

    def retry(function: Callable[..., object], name: str, error: object) -> None:
        exc = error[1] if isinstance(error, tuple) else error  # onerror passes exc_info
        if isinstance(exc, FileNotFoundError):
            return  # already gone
        if function not in (os.unlink, os.remove, os.rmdir):
            raise exc if isinstance(exc, BaseException) else OSError(f"cannot remove {name}")
        # Windows refuses to delete read-only files; POSIX, entries of read-only folders.
        path = Path(name)
        if name != top:
            path.parent.chmod(stat.S_IRWXU)
        if not path.is_symlink():
            path.chmod(stat.S_IRWXU)
        function(name)

    if sys.version_info >= (3, 12):
        shutil.rmtree(root, onexc=retry)
    else:
        shutil.rmtree(root, onerror=retry)

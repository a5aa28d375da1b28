"""Crash-safe writes of the updater's own small files (state, settings, metadata)."""

from __future__ import annotations

import contextlib
import os
import uuid
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

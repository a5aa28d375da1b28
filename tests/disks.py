"""Small real disks, to fill up for real: a tmpfs on Linux; on Windows a drive that
.ci/windows-lane maps onto a tmpfs of its own (Wine reports its size and ENOSPC as
Windows would: GetDiskFreeSpaceEx, ERROR_DISK_FULL)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Drives the Windows lane maps, by size: ``INNOVA_TEST_DISK_<size>`` names the drive.
WINDOWS_ENV = "INNOVA_TEST_DISK_{size}"


def small_disk(where: Path, size: str) -> Iterator[Path]:
    """Generator for a fixture: an empty folder on a disk of ``size`` (``"2m"``,
    ``"3m"``), emptied again afterwards."""
    if sys.platform == "win32":
        drive = os.environ.get(WINDOWS_ENV.format(size=size.upper()))
        if not drive:
            pytest.skip(
                f"no {size.upper()}B disk to fill: .ci/windows-lane maps one onto a tmpfs "
                f"({WINDOWS_ENV.format(size=size.upper())}); Windows itself would need a VHD"
            )
        root = Path(drive)
        _empty(root)  # what an earlier test may have left
        try:
            yield root
        finally:
            _empty(root)
        return
    where.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {result.stderr!r}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _empty(root: Path) -> None:
    for entry in root.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()

"""Zips built by hand for the archive and extraction tests (hostile ones included)."""

from __future__ import annotations

import time
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path

Entry = tuple[str | zipfile.ZipInfo, bytes]


def make_zip(
    path: Path, entries: Sequence[Entry], *, compression: int = zipfile.ZIP_DEFLATED
) -> Path:
    """Write ``entries`` (name or ZipInfo, data) into a zip at ``path``; duplicates allowed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns on duplicate names
        with zipfile.ZipFile(path, "w", compression=compression) as zf:
            for name, data in entries:
                info = name if isinstance(name, zipfile.ZipInfo) else _info(name, compression)
                zf.writestr(info, data)
    return path


def _info(name: str, compression: int) -> zipfile.ZipInfo:
    """What ``writestr`` makes of a name, but with the name kept as given: on Windows
    ``ZipInfo`` turns ``\\`` into ``/``, and the tests need hostile names as they are."""
    info = zipfile.ZipInfo(name, date_time=time.localtime(time.time())[:6])
    info.filename = name
    if name.endswith("/"):
        info.external_attr = (0o40775 << 16) | 0x10  # a folder, as writestr marks one
    else:
        info.external_attr = 0o600 << 16
    info.compress_type = compression
    return info


def entry_info(
    name: str, *, mode: int = 0, dos_attr: int = 0, compress_type: int = zipfile.ZIP_STORED
) -> zipfile.ZipInfo:
    """A ZipInfo with Unix ``mode`` in the high and MS-DOS attributes in the low bits."""
    info = zipfile.ZipInfo(name)
    info.external_attr = (mode << 16) | dos_attr
    info.compress_type = compress_type
    return info

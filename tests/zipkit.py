"""Zips built by hand for the archive and extraction tests (hostile ones included)."""

from __future__ import annotations

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
                zf.writestr(name, data)
    return path


def entry_info(
    name: str, *, mode: int = 0, dos_attr: int = 0, compress_type: int = zipfile.ZIP_STORED
) -> zipfile.ZipInfo:
    """A ZipInfo with Unix ``mode`` in the high and MS-DOS attributes in the low bits."""
    info = zipfile.ZipInfo(name)
    info.external_attr = (mode << 16) | dos_attr
    info.compress_type = compress_type
    return info

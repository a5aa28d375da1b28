"""Files on Windows: which renames are worth retrying, which file another program has
open, and reading, listing and removing without following links.

* A file that another program holds open (an antivirus scanning a freshly written
  file, Explorer showing a folder) makes a rename fail with a sharing violation for a
  moment (:func:`is_sharing_violation`); :func:`find_locked_file` names the file in use
  by opening files with share mode 0.
* The no-follow primitives open a path itself (a link is opened, not followed) and
  check the handle's final path (``GetFinalPathNameByHandleW``) against the one asked
  for, so that a junction or link on the way, also one made while we looked, is
  refused; what is in a folder is listed and removed through its handle, never by
  path again.

May import :mod:`._win32`, :mod:`.paths` and :mod:`updater.platform.base`.
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys
from pathlib import Path
from typing import BinaryIO

from updater.platform.base import LinkRefusedError
from updater.platform.windows._win32 import (
    DELETE,
    ERROR_ACCESS_DENIED,
    ERROR_LOCK_VIOLATION,
    ERROR_NO_MORE_FILES,
    ERROR_SHARING_VIOLATION,
    FILE_ATTRIBUTE_DIRECTORY,
    FILE_ATTRIBUTE_NORMAL,
    FILE_ATTRIBUTE_READONLY,
    FILE_ATTRIBUTE_REPARSE_POINT,
    FILE_BASIC_INFO_CLASS,
    FILE_DISPOSITION_INFO_CLASS,
    FILE_FLAG_BACKUP_SEMANTICS,
    FILE_FLAG_OPEN_REPARSE_POINT,
    FILE_FULL_DIRECTORY_INFO_CLASS,
    FILE_FULL_DIRECTORY_RESTART_INFO_CLASS,
    FILE_LIST_DIRECTORY,
    FILE_READ_ATTRIBUTES,
    FILE_SHARE_ALL,
    FILE_WRITE_ATTRIBUTES,
    GENERIC_READ,
    GENERIC_WRITE,
    INVALID_HANDLE_VALUE,
    OPEN_EXISTING,
    SYNCHRONIZE,
    closing_handle,
    error_at,
    kernel32,
    last_error,
)
from updater.platform.windows.paths import extended_path, path_key, strip_extended

#: Rename errors that mean "another program has the file open right now".
_TRANSIENT_WINERRORS = frozenset(
    {ERROR_ACCESS_DENIED, ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION}
)


def is_sharing_violation(exc: OSError) -> bool:
    """Whether a failed rename may work a moment later: the file is in use or access
    was refused (what a scanning antivirus causes)."""
    winerror = getattr(exc, "winerror", None)
    if winerror is not None:
        return winerror in _TRANSIENT_WINERRORS
    return isinstance(exc, PermissionError)


# ---------------------------------------------------------------------- files in use


def _open_exclusively(path: str, directory: bool) -> int:
    """Try to open ``path`` with share mode 0; returns 0 on success, else the Win32
    error (``ERROR_SHARING_VIOLATION`` when another program has it open)."""
    if sys.platform != "win32":
        raise NotImplementedError("CreateFileW exists only on Windows")
    # Folders cannot be opened for writing; reading them is enough to collide with a
    # program that has the folder as its current directory.
    access = GENERIC_READ if directory else GENERIC_READ | GENERIC_WRITE
    flags = FILE_FLAG_BACKUP_SEMANTICS if directory else FILE_ATTRIBUTE_NORMAL
    handle = kernel32().CreateFileW(
        extended_path(path), access, 0, None, OPEN_EXISTING, flags, None
    )
    if handle is None or handle == INVALID_HANDLE_VALUE:
        return ctypes.get_last_error() or ERROR_ACCESS_DENIED
    kernel32().CloseHandle(handle)
    return 0


def find_locked_file(root: Path) -> Path | None:
    """The first file or folder under ``root`` (``root`` included) that cannot be
    opened with share mode 0 because another program has it open.

    Files are opened for reading and writing, which also collides with a running
    executable's image; folders for reading, which collides with a program (or a
    console) whose current directory it is. Other failures (access denied by
    permissions, read-only files) do not count as "in use".
    """
    busy = {ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION}
    if not root.exists():
        return None
    if root.is_file():
        return root if _open_exclusively(str(root), directory=False) in busy else None
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for filename in sorted(filenames):
            candidate = os.path.join(dirpath, filename)  # noqa: PTH118 - os.walk strings
            if _open_exclusively(candidate, directory=False) in busy:
                return Path(candidate)
        if _open_exclusively(dirpath, directory=True) in busy:
            return Path(dirpath)
    return None


# ---------------------------------------------------------------------- verified handles


def _long_name(path: str) -> str:
    """``path`` with 8.3 short names expanded (as a handle's final path spells it)."""
    if sys.platform != "win32":
        raise NotImplementedError("GetLongPathNameW exists only on Windows")
    buffer = ctypes.create_unicode_buffer(32768)
    size = kernel32().GetLongPathNameW(extended_path(path), buffer, 32768)
    return strip_extended(buffer.value) if 0 < size < 32768 else path


def _attributes(handle: int) -> int:
    """A handle's file attributes (FILE_BASIC_INFO)."""
    if sys.platform != "win32":
        raise NotImplementedError("GetFileInformationByHandleEx exists only on Windows")
    info = ctypes.create_string_buffer(40)
    if not kernel32().GetFileInformationByHandleEx(handle, FILE_BASIC_INFO_CLASS, info, 40):
        raise last_error()
    return int.from_bytes(info.raw[32:36], "little")


def _open_verified(path: Path, access: int, *, allow_link: bool = False) -> int:
    """A handle to ``path`` itself (a link is opened, not followed), checked to be at
    ``path``: its final path is compared with the one asked for, so a junction or link
    on the way (also one made while we looked) is refused. Returns the handle.

    Raises:
        LinkRefusedError: a link is on the way, or ``path`` is one (unless
            ``allow_link``).
        OSError: it cannot be opened.
    """
    if sys.platform != "win32":
        raise NotImplementedError("CreateFileW exists only on Windows")
    kernel = kernel32()
    expected = os.path.abspath(path)  # noqa: PTH100 - lexical, no link followed
    handle = kernel.CreateFileW(
        extended_path(expected), access, FILE_SHARE_ALL, None, OPEN_EXISTING,
        FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT, None,
    )  # fmt: skip
    if handle is None or handle == INVALID_HANDLE_VALUE:
        raise error_at(expected)
    try:
        if _attributes(handle) & FILE_ATTRIBUTE_REPARSE_POINT and not allow_link:
            raise LinkRefusedError(ERROR_ACCESS_DENIED, "a link or junction", expected)
        buffer = ctypes.create_unicode_buffer(32768)
        size = kernel.GetFinalPathNameByHandleW(handle, buffer, 32768, 0)
        if not 0 < size < 32768:
            raise last_error()
        if path_key(strip_extended(buffer.value)) != path_key(_long_name(expected)):
            raise LinkRefusedError(
                ERROR_ACCESS_DENIED,
                f"reached through a link or junction (it is {strip_extended(buffer.value)})",
                expected,
            )
    except BaseException:
        kernel.CloseHandle(handle)
        raise
    return int(handle)


def _list_handle(handle: int, where: Path) -> list[tuple[str, int, int]]:
    """The entries of an open folder as ``(name, attributes, size)``, listed through the
    handle (never by path again)."""
    if sys.platform != "win32":
        raise NotImplementedError("GetFileInformationByHandleEx exists only on Windows")
    buffer = ctypes.create_string_buffer(65536)
    found: list[tuple[str, int, int]] = []
    info_class = FILE_FULL_DIRECTORY_RESTART_INFO_CLASS
    while True:
        if not kernel32().GetFileInformationByHandleEx(handle, info_class, buffer, 65536):
            error = ctypes.get_last_error()
            if error == ERROR_NO_MORE_FILES:
                return found
            raise error_at(str(where), error)
        info_class = FILE_FULL_DIRECTORY_INFO_CLASS
        offset = 0
        raw = buffer.raw
        while True:
            (following,) = struct.unpack_from("<I", raw, offset)
            (size,) = struct.unpack_from("<q", raw, offset + 40)
            attributes, name_bytes = struct.unpack_from("<II", raw, offset + 56)
            name = raw[offset + 68 : offset + 68 + name_bytes].decode("utf-16-le")
            if name not in (".", ".."):
                found.append((name, attributes, size))
            if not following:
                break
            offset += following


def _delete_handle(handle: int, attributes: int, where: Path) -> None:
    """Mark an open file or (empty) folder for deletion, read-only or not."""
    if sys.platform != "win32":
        raise NotImplementedError("SetFileInformationByHandle exists only on Windows")
    kernel = kernel32()
    if attributes & FILE_ATTRIBUTE_READONLY:
        basic = ctypes.create_string_buffer(40)  # zero times: unchanged
        kept = attributes & ~FILE_ATTRIBUTE_READONLY
        # Windows' typeshed wants a list for a slice; a char array takes bytes too.
        basic[32:36] = (kept or FILE_ATTRIBUTE_NORMAL).to_bytes(4, "little")  # type: ignore[call-overload,unused-ignore]
        kernel.SetFileInformationByHandle(handle, FILE_BASIC_INFO_CLASS, basic, 40)
    flag = ctypes.c_ubyte(1)
    if not kernel.SetFileInformationByHandle(
        handle, FILE_DISPOSITION_INFO_CLASS, ctypes.byref(flag), 1
    ):
        raise error_at(str(where))


# ---------------------------------------------------------------------- no-follow primitives


def open_no_follow(path: Path) -> BinaryIO:
    """``path``, a file reached without a link on the way, open for reading."""
    if sys.platform != "win32":
        raise NotImplementedError("handles exist only on Windows")
    import msvcrt

    handle = _open_verified(path, GENERIC_READ)
    try:
        if _attributes(handle) & FILE_ATTRIBUTE_DIRECTORY:
            raise IsADirectoryError(21, "a folder, not a file", str(path))
        descriptor = msvcrt.open_osfhandle(handle, os.O_RDONLY | os.O_BINARY)
    except BaseException:
        kernel32().CloseHandle(handle)
        raise
    return os.fdopen(descriptor, "rb")


def scan_no_follow(folder: Path) -> list[tuple[str, bool, int]]:
    """``(name, is a folder, size)`` of each entry of ``folder``, sorted, listed through
    a verified handle; a link or junction among them is refused."""
    handle = _open_verified(folder, FILE_LIST_DIRECTORY | FILE_READ_ATTRIBUTES | SYNCHRONIZE)
    with closing_handle(handle):
        if not _attributes(handle) & FILE_ATTRIBUTE_DIRECTORY:
            raise NotADirectoryError(20, "not a folder", str(folder))
        entries = _list_handle(handle, folder)
    found = []
    for name, attributes, size in entries:
        if attributes & FILE_ATTRIBUTE_REPARSE_POINT:
            raise LinkRefusedError(
                ERROR_ACCESS_DENIED, "a link or junction, which the updater does not follow",
                str(folder / name),
            )  # fmt: skip
        found.append((name, bool(attributes & FILE_ATTRIBUTE_DIRECTORY), size))
    return sorted(found)


def remove_no_follow(path: Path) -> None:
    """Delete ``path`` and what is in it through verified handles: a link is deleted
    itself, a folder swapped for a link meanwhile is refused, not followed."""
    if sys.platform != "win32":
        raise NotImplementedError("CreateFileW exists only on Windows")
    access = (
        DELETE | FILE_READ_ATTRIBUTES | FILE_WRITE_ATTRIBUTES | FILE_LIST_DIRECTORY | SYNCHRONIZE
    )
    try:
        handle = _open_verified(path, access, allow_link=True)
    except FileNotFoundError:
        return
    with closing_handle(handle):
        attributes = _attributes(handle)
        if attributes & FILE_ATTRIBUTE_DIRECTORY and not attributes & FILE_ATTRIBUTE_REPARSE_POINT:
            for name, _attributes_of, _size in _list_handle(handle, path):
                remove_no_follow(path / name)
        _delete_handle(handle, attributes, path)

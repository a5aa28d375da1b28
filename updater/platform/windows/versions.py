"""The file version of a Windows program, from its version resource
(``VS_FIXEDFILEINFO``, read with version.dll).

May import :mod:`._win32` only.
"""

from __future__ import annotations

import ctypes
import sys
from ctypes import wintypes
from pathlib import Path

from updater.platform.windows._win32 import VS_FFI_SIGNATURE, VsFixedFileInfo, version_dll


def format_file_version(ms: int, ls: int) -> str:
    """``"a.b.c.d"`` from ``VS_FIXEDFILEINFO.dwFileVersionMS`` / ``dwFileVersionLS``."""
    parts = ((ms >> 16) & 0xFFFF, ms & 0xFFFF, (ls >> 16) & 0xFFFF, ls & 0xFFFF)
    return ".".join(str(part) for part in parts)


def _file_version_dwords(exe: str) -> tuple[int, int] | None:
    """``(dwFileVersionMS, dwFileVersionLS)`` of ``exe``'s version resource."""
    if sys.platform != "win32":
        raise NotImplementedError("version.dll exists only on Windows")
    version = version_dll()
    handle = wintypes.DWORD()
    size = version.GetFileVersionInfoSizeW(exe, ctypes.byref(handle))
    if not size:
        return None
    buffer = ctypes.create_string_buffer(size)
    if not version.GetFileVersionInfoW(exe, 0, size, buffer):
        return None
    pointer = wintypes.LPVOID()
    length = wintypes.UINT()
    if not version.VerQueryValueW(buffer, "\\", ctypes.byref(pointer), ctypes.byref(length)):
        return None
    if not pointer.value or length.value < ctypes.sizeof(VsFixedFileInfo):
        return None
    info = VsFixedFileInfo.from_address(pointer.value)
    if info.dwSignature != VS_FFI_SIGNATURE:
        return None
    return int(info.dwFileVersionMS), int(info.dwFileVersionLS)


def read_file_version(exe: Path) -> str | None:
    """The file version of the program ``exe`` (``"4.2.0.17"``), None when it is not
    a file or has no version resource."""
    if not exe.is_file():
        return None
    dwords = _file_version_dwords(str(exe))
    return format_file_version(*dwords) if dwords else None

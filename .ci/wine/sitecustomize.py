"""Wine 8 stand-ins for the Windows test lane (.ci/windows-lane); not shipped.

psutil asks for a process's image path with NtQuerySystemInformation(
SystemProcessIdInformation), which Wine 8 answers with ERROR_INVALID_PARAMETER (87).
Windows answers it, so the updater keeps using psutil; here, when that call is refused,
the path comes from QueryFullProcessImageNameW instead, as Windows would report it.
"""

from __future__ import annotations

import sys


def _image_path_fallback() -> None:
    if sys.platform != "win32":
        return
    import ctypes
    from ctypes import wintypes

    try:
        from psutil import _pswindows
    except ImportError:
        return
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.OpenProcess.restype = wintypes.HANDLE
    kernel32.OpenProcess.argtypes = [wintypes.DWORD, wintypes.BOOL, wintypes.DWORD]
    kernel32.QueryFullProcessImageNameW.argtypes = [
        wintypes.HANDLE,
        wintypes.DWORD,
        wintypes.LPWSTR,
        ctypes.POINTER(wintypes.DWORD),
    ]
    kernel32.CloseHandle.argtypes = [wintypes.HANDLE]
    query_limited_information = 0x1000
    invalid_parameter = 87
    psutil_exe = _pswindows.cext.proc_exe

    def proc_exe(pid: int) -> str:
        try:
            return str(psutil_exe(pid))
        except OSError as exc:
            if getattr(exc, "winerror", None) != invalid_parameter:
                raise
        handle = kernel32.OpenProcess(query_limited_information, False, pid)
        if not handle:
            if ctypes.get_last_error() == invalid_parameter:
                raise ProcessLookupError(3, "no such process")
            raise PermissionError(13, "access denied")
        try:
            buffer = ctypes.create_unicode_buffer(32768)
            size = wintypes.DWORD(len(buffer))
            if not kernel32.QueryFullProcessImageNameW(handle, 0, buffer, ctypes.byref(size)):
                raise PermissionError(13, "access denied")
            return buffer.value
        finally:
            kernel32.CloseHandle(handle)

    _pswindows.cext.proc_exe = proc_exe


_image_path_fallback()

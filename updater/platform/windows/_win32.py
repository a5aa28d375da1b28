"""The Win32 API as the Windows modules call it: constants, structures, the DLLs with
their functions declared once, and the shared error and handle helpers.

This module imports on any OS: the constants are spelled out and the structures are
plain :mod:`ctypes` ones, while the DLL loaders (:func:`kernel32`, :func:`advapi32`,
...) refuse to run elsewhere. Each loader loads its DLL once and declares the
argument and result types of every function the package calls in it. It imports
nothing of the updater.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import sys
from collections.abc import Iterator
from ctypes import wintypes
from typing import Any

# --- errors
ERROR_FILE_NOT_FOUND = 2
ERROR_ACCESS_DENIED = 5
ERROR_NO_MORE_FILES = 18
ERROR_SHARING_VIOLATION = 32
ERROR_LOCK_VIOLATION = 33
ERROR_PIPE_BUSY = 231
WAIT_OBJECT_0 = 0

# --- processes, windows, job objects and tokens
PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
WM_CLOSE = 0x0010
CREATE_SUSPENDED = 0x00000004
CREATE_NEW_PROCESS_GROUP = 0x00000200
CREATE_NO_WINDOW = 0x08000000
JOB_OBJECT_LIMIT_BREAKAWAY_OK = 0x00000800
JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x00002000
JOB_OBJECT_EXTENDED_LIMIT_INFORMATION = 9
TOKEN_QUERY = 0x0008
TOKEN_USER_CLASS = 1

# --- the registry and version resources
KEY_READ = 0x20019
KEY_WOW64_64KEY = 0x0100
KEY_WOW64_32KEY = 0x0200
VS_FFI_SIGNATURE = 0xFEEF04BD

# --- files and named pipes: access rights, flags, attributes, information classes
GENERIC_READ = 0x80000000
GENERIC_WRITE = 0x40000000
OPEN_EXISTING = 3
FILE_ATTRIBUTE_NORMAL = 0x80
FILE_FLAG_BACKUP_SEMANTICS = 0x02000000
PIPE_ACCESS_DUPLEX = 0x00000003
FILE_FLAG_FIRST_PIPE_INSTANCE = 0x00080000
FILE_FLAG_OVERLAPPED = 0x40000000
PIPE_TYPE_MESSAGE = 0x00000004
PIPE_READMODE_MESSAGE = 0x00000002
PIPE_REJECT_REMOTE_CLIENTS = 0x00000008
PIPE_UNLIMITED_INSTANCES = 255
SECURITY_SQOS_PRESENT = 0x00100000
SECURITY_IDENTIFICATION = 0x00010000
FILE_FLAG_OPEN_REPARSE_POINT = 0x00200000
FILE_SHARE_ALL = 0x00000007  # read | write | delete
DELETE = 0x00010000
FILE_LIST_DIRECTORY = 0x0001
FILE_ADD_FILE = 0x0002
FILE_ADD_SUBDIRECTORY = 0x0004
FILE_DELETE_CHILD = 0x0040
FILE_READ_ATTRIBUTES = 0x0080
FILE_WRITE_ATTRIBUTES = 0x0100
WRITE_DAC = 0x00040000
WRITE_OWNER = 0x00080000
SYNCHRONIZE = 0x00100000
GENERIC_ALL = 0x10000000
GENERIC_WRITE_ACCESS = 0x40000000
FILE_GENERIC_WRITE = 0x00120116
FILE_ATTRIBUTE_READONLY = 0x01
FILE_ATTRIBUTE_DIRECTORY = 0x10
FILE_ATTRIBUTE_REPARSE_POINT = 0x400
INVALID_FILE_ATTRIBUTES = 0xFFFFFFFF
#: What ``CreateFileW`` returns when it fails (``(HANDLE)-1``).
INVALID_HANDLE_VALUE = ctypes.c_void_p(-1).value
FILE_BASIC_INFO_CLASS = 0
FILE_DISPOSITION_INFO_CLASS = 4
FILE_FULL_DIRECTORY_INFO_CLASS = 14
FILE_FULL_DIRECTORY_RESTART_INFO_CLASS = 15

# --- security descriptors
SE_FILE_OBJECT = 1
OWNER_SECURITY_INFORMATION = 0x1
DACL_SECURITY_INFORMATION = 0x4
ACCESS_ALLOWED_ACE_TYPE = 0
INHERIT_ONLY_ACE = 0x08


# ---------------------------------------------------------------------- structures


class BasicLimits(ctypes.Structure):
    """``JOBOBJECT_BASIC_LIMIT_INFORMATION``."""

    _fields_ = [
        ("PerProcessUserTimeLimit", ctypes.c_int64),
        ("PerJobUserTimeLimit", ctypes.c_int64),
        ("LimitFlags", wintypes.DWORD),
        ("MinimumWorkingSetSize", ctypes.c_size_t),
        ("MaximumWorkingSetSize", ctypes.c_size_t),
        ("ActiveProcessLimit", wintypes.DWORD),
        ("Affinity", ctypes.c_size_t),
        ("PriorityClass", wintypes.DWORD),
        ("SchedulingClass", wintypes.DWORD),
    ]


class ExtendedLimits(ctypes.Structure):
    """``JOBOBJECT_EXTENDED_LIMIT_INFORMATION``."""

    _fields_ = [
        ("BasicLimitInformation", BasicLimits),
        ("IoInfo", ctypes.c_uint64 * 6),
        ("ProcessMemoryLimit", ctypes.c_size_t),
        ("JobMemoryLimit", ctypes.c_size_t),
        ("PeakProcessMemoryUsed", ctypes.c_size_t),
        ("PeakJobMemoryUsed", ctypes.c_size_t),
    ]


class VsFixedFileInfo(ctypes.Structure):
    """``VS_FIXEDFILEINFO``, the fixed part of a version resource."""

    _fields_ = [
        ("dwSignature", wintypes.DWORD),
        ("dwStrucVersion", wintypes.DWORD),
        ("dwFileVersionMS", wintypes.DWORD),
        ("dwFileVersionLS", wintypes.DWORD),
        ("dwProductVersionMS", wintypes.DWORD),
        ("dwProductVersionLS", wintypes.DWORD),
        ("dwFileFlagsMask", wintypes.DWORD),
        ("dwFileFlags", wintypes.DWORD),
        ("dwFileOS", wintypes.DWORD),
        ("dwFileType", wintypes.DWORD),
        ("dwFileSubtype", wintypes.DWORD),
        ("dwFileDateMS", wintypes.DWORD),
        ("dwFileDateLS", wintypes.DWORD),
    ]


class SecurityAttributes(ctypes.Structure):
    """``SECURITY_ATTRIBUTES``."""

    _fields_ = [
        ("nLength", wintypes.DWORD),
        ("lpSecurityDescriptor", wintypes.LPVOID),
        ("bInheritHandle", wintypes.BOOL),
    ]


# ---------------------------------------------------------------------- the DLLs


def _declare(dll: Any, signatures: dict[str, tuple[list[Any], Any]]) -> Any:
    """Set ``argtypes`` and ``restype`` (``None`` leaves ctypes' default, int) of each
    function of ``dll`` named in ``signatures``; returns ``dll``."""
    for name, (argtypes, restype) in signatures.items():
        function = getattr(dll, name)
        function.argtypes = argtypes
        if restype is not None:
            function.restype = restype
    return dll


@functools.cache
def kernel32() -> Any:
    """kernel32.dll (Win32 errors kept for :func:`ctypes.get_last_error`)."""
    if sys.platform != "win32":
        raise NotImplementedError("kernel32 exists only on Windows")
    w = wintypes
    return _declare(ctypes.WinDLL("kernel32", use_last_error=True), {
        "CloseHandle": ([w.HANDLE], w.BOOL),
        "CreateFileW": (
            [w.LPCWSTR, w.DWORD, w.DWORD, w.LPVOID, w.DWORD, w.DWORD, w.HANDLE], w.HANDLE,
        ),
        "GetFinalPathNameByHandleW": ([w.HANDLE, w.LPWSTR, w.DWORD, w.DWORD], w.DWORD),
        "GetFileInformationByHandleEx": ([w.HANDLE, ctypes.c_int, w.LPVOID, w.DWORD], None),
        "SetFileInformationByHandle": ([w.HANDLE, ctypes.c_int, w.LPVOID, w.DWORD], None),
        "GetLongPathNameW": ([w.LPCWSTR, w.LPWSTR, w.DWORD], w.DWORD),
        "GetFileAttributesW": ([w.LPCWSTR], w.DWORD),
        "OpenProcess": ([w.DWORD, w.BOOL, w.DWORD], w.HANDLE),
        "QueryFullProcessImageNameW": (
            [w.HANDLE, w.DWORD, w.LPWSTR, ctypes.POINTER(w.DWORD)], w.BOOL,
        ),
        "ProcessIdToSessionId": ([w.DWORD, ctypes.POINTER(w.DWORD)], w.BOOL),
        "CreateJobObjectW": ([ctypes.c_void_p, w.LPCWSTR], w.HANDLE),
        "SetInformationJobObject": ([w.HANDLE, ctypes.c_int, ctypes.c_void_p, w.DWORD], w.BOOL),
        "AssignProcessToJobObject": ([w.HANDLE, w.HANDLE], w.BOOL),
        "TerminateJobObject": ([w.HANDLE, w.UINT], None),
        "GetCurrentThread": ([], w.HANDLE),
        "GetNamedPipeServerProcessId": ([w.HANDLE, ctypes.POINTER(w.ULONG)], None),
        "GetConsoleMode": ([w.HANDLE, ctypes.POINTER(w.DWORD)], None),
    })  # fmt: skip


@functools.cache
def advapi32() -> Any:
    """advapi32.dll: tokens, security descriptors, the registry's raw values."""
    if sys.platform != "win32":
        raise NotImplementedError("advapi32 exists only on Windows")
    w = wintypes
    lpvoid_p = ctypes.POINTER(w.LPVOID)
    return _declare(ctypes.WinDLL("advapi32", use_last_error=True), {
        "OpenThreadToken": ([w.HANDLE, w.DWORD, w.BOOL, ctypes.POINTER(w.HANDLE)], None),
        "OpenProcessToken": ([w.HANDLE, w.DWORD, ctypes.POINTER(w.HANDLE)], None),
        "GetTokenInformation": (
            [w.HANDLE, ctypes.c_int, w.LPVOID, w.DWORD, ctypes.POINTER(w.DWORD)], None,
        ),
        "ConvertSidToStringSidW": ([w.LPVOID, ctypes.POINTER(w.LPWSTR)], None),
        "ImpersonateNamedPipeClient": ([w.HANDLE], None),
        "ConvertStringSecurityDescriptorToSecurityDescriptorW": (
            [w.LPCWSTR, w.DWORD, lpvoid_p, ctypes.POINTER(w.ULONG)], None,
        ),
        "GetNamedSecurityInfoW": (
            [w.LPCWSTR, ctypes.c_int, w.DWORD, lpvoid_p, lpvoid_p, lpvoid_p, lpvoid_p, lpvoid_p],
            w.DWORD,
        ),
        "GetAce": ([w.LPVOID, w.DWORD, lpvoid_p], None),
        "RegQueryValueExW": (
            [w.HKEY, w.LPCWSTR, ctypes.POINTER(w.DWORD), ctypes.POINTER(w.DWORD),
             ctypes.c_void_p, ctypes.POINTER(w.DWORD)],
            w.LONG,
        ),
    })  # fmt: skip


@functools.cache
def window_enum_proc() -> Any:
    """``WNDENUMPROC``, the type of :func:`user32`'s ``EnumWindows`` callback."""
    if sys.platform != "win32":
        raise NotImplementedError("EnumWindows exists only on Windows")
    return ctypes.WINFUNCTYPE(wintypes.BOOL, wintypes.HWND, wintypes.LPARAM)


@functools.cache
def user32() -> Any:
    """user32.dll: top-level windows and their messages."""
    if sys.platform != "win32":
        raise NotImplementedError("user32 exists only on Windows")
    w = wintypes
    return _declare(ctypes.WinDLL("user32", use_last_error=True), {
        "EnumWindows": ([window_enum_proc(), w.LPARAM], w.BOOL),
        "GetWindowThreadProcessId": ([w.HWND, ctypes.POINTER(w.DWORD)], w.DWORD),
        "PostMessageW": ([w.HWND, w.UINT, w.WPARAM, w.LPARAM], w.BOOL),
    })  # fmt: skip


@functools.cache
def ntdll() -> Any:
    """ntdll.dll, for ``NtResumeProcess``: it resumes a process without its thread's
    handle, which subprocess closes. It is not in the SDK's documentation, but stable
    since Windows XP and widely used (Sysinternals' tools suspend and resume processes
    with it)."""
    if sys.platform != "win32":
        raise NotImplementedError("ntdll exists only on Windows")
    return _declare(ctypes.WinDLL("ntdll"), {
        "NtResumeProcess": ([wintypes.HANDLE], wintypes.LONG),
    })  # fmt: skip


@functools.cache
def version_dll() -> Any:
    """version.dll: the version resources of programs."""
    if sys.platform != "win32":
        raise NotImplementedError("version.dll exists only on Windows")
    w = wintypes
    return _declare(ctypes.WinDLL("version", use_last_error=True), {
        "GetFileVersionInfoSizeW": ([w.LPCWSTR, w.LPDWORD], w.DWORD),
        "GetFileVersionInfoW": ([w.LPCWSTR, w.DWORD, w.DWORD, w.LPVOID], w.BOOL),
        "VerQueryValueW": (
            [w.LPCVOID, w.LPCWSTR, ctypes.POINTER(w.LPVOID), ctypes.POINTER(w.UINT)], w.BOOL,
        ),
    })  # fmt: skip


# ---------------------------------------------------------------------- errors and handles


def last_error() -> OSError:
    """The Win32 error of the last call that failed on this thread, as an OSError."""
    if sys.platform != "win32":
        raise NotImplementedError("Win32 errors exist only on Windows")
    return ctypes.WinError(ctypes.get_last_error())


def error_at(path: str, error: int | None = None) -> OSError:
    """An OSError about ``path`` for the Win32 error code ``error`` (by default the
    last one on this thread), with Windows' own text (FileNotFoundError for 2, ...)."""
    if sys.platform != "win32":
        raise NotImplementedError("Win32 errors exist only on Windows")
    code = ctypes.get_last_error() if error is None else error
    return OSError(None, ctypes.FormatError(code), path, code)


@contextlib.contextmanager
def closing_handle(handle: Any) -> Iterator[Any]:
    """Close the Win32 ``handle`` at the end of the ``with`` block, however it ends."""
    try:
        yield handle
    finally:
        kernel32().CloseHandle(handle)


def local_free(pointer: Any) -> None:
    """Free memory that a Win32 function allocated for us (``LocalFree``)."""
    kernel32().LocalFree(pointer)

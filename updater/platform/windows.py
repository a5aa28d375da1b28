"""The :class:`~updater.platform.base.Platform` for Windows, the system the apps run on.

This module imports on any OS, so that its logic can be tested on the Linux build
machines: ``winreg``, ``msvcrt`` and the ``ctypes`` Windows DLLs are only touched inside
the functions that need them, each of which starts by refusing to run elsewhere. The
decisions are small pure functions (:func:`path_key`, :func:`format_file_version`,
:func:`registry_lookups`, :func:`is_sharing_violation`, :func:`extended_path`, ...),
tested everywhere; the thin layers that call the Win32 API are only exercised on
Windows.

Windows specifics handled here:

* Paths compare without regard to letter case (NTFS's default), after removing the
  ``\\\\?\\`` prefix and normalising separators.
* psutil's ``terminate()`` is ``TerminateProcess``, a kill. To *ask* a program to
  close, ``WM_CLOSE`` is posted to its top-level windows, as ``taskkill`` (without
  ``/F``) does; a program without windows can only be killed (``force=True``). Windows
  are per desktop, so an updater running as a service in session 0 cannot reach the
  windows of a logged-in user's programs.
* A file that another program holds open (an antivirus scanning a freshly written
  file, Explorer showing a folder) makes a rename fail with a sharing violation for a
  moment; such renames are retried, and :meth:`WindowsPlatform.find_locked_file`
  names the file in use by opening files with share mode 0.
* A process's program file comes from psutil, else from ``QueryFullProcessImageNameW``
  when psutil's system call is refused (Wine always refuses it), so that one process
  that cannot be asked does not end the search for the running programs.
* NTFS journals its metadata, so a completed rename survives a power cut without a
  folder ``fsync`` (which Windows does not offer); :meth:`fsync_dir` does nothing.
"""

from __future__ import annotations

import contextlib
import ntpath
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, ClassVar
from xml.sax.saxutils import escape as xml_escape

import psutil

from updater.i18n import _
from updater.platform.base import APPLY_TASK, Channel, LinkRefusedError, PsutilPlatform

__all__ = [
    "CHANNEL_SDDL",
    "WindowsPlatform",
    "creation_flags",
    "extended_path",
    "format_file_version",
    "icacls_lockdown_argv",
    "icacls_owner_only_argv",
    "icacls_private_argv",
    "icacls_setowner_argv",
    "icacls_users_write_argv",
    "is_sharing_violation",
    "others_may_replace",
    "path_key",
    "registry_lookups",
    "registry_text",
    "schtasks_create_argv",
    "schtasks_delete_argv",
    "schtasks_run_argv",
    "task_xml",
    "untrusted_rights",
    "windows_by_pid",
]

# Win32 constants, spelled out so that this module imports everywhere.
ERROR_ACCESS_DENIED = 5
ERROR_SHARING_VIOLATION = 32
ERROR_LOCK_VIOLATION = 33
PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
WM_CLOSE = 0x0010
KEY_READ = 0x20019
KEY_WOW64_64KEY = 0x0100
KEY_WOW64_32KEY = 0x0200
CREATE_SUSPENDED = 0x00000004
CREATE_NEW_PROCESS_GROUP = 0x00000200
CREATE_NO_WINDOW = 0x08000000
JOB_OBJECT_LIMIT_BREAKAWAY_OK = 0x00000800
JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x00002000
JOB_OBJECT_EXTENDED_LIMIT_INFORMATION = 9
GENERIC_READ = 0x80000000
GENERIC_WRITE = 0x40000000
OPEN_EXISTING = 3
FILE_ATTRIBUTE_NORMAL = 0x80
FILE_FLAG_BACKUP_SEMANTICS = 0x02000000
VS_FFI_SIGNATURE = 0xFEEF04BD
ERROR_FILE_NOT_FOUND = 2
ERROR_PIPE_BUSY = 231
PIPE_ACCESS_DUPLEX = 0x00000003
FILE_FLAG_FIRST_PIPE_INSTANCE = 0x00080000
FILE_FLAG_OVERLAPPED = 0x40000000
PIPE_TYPE_MESSAGE = 0x00000004
PIPE_READMODE_MESSAGE = 0x00000002
PIPE_REJECT_REMOTE_CLIENTS = 0x00000008
PIPE_UNLIMITED_INSTANCES = 255
SECURITY_SQOS_PRESENT = 0x00100000
SECURITY_IDENTIFICATION = 0x00010000
TOKEN_QUERY = 0x0008
TOKEN_USER_CLASS = 1
WAIT_OBJECT_0 = 0
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
FILE_BASIC_INFO_CLASS = 0
FILE_DISPOSITION_INFO_CLASS = 4
FILE_FULL_DIRECTORY_INFO_CLASS = 14
FILE_FULL_DIRECTORY_RESTART_INFO_CLASS = 15
ERROR_NO_MORE_FILES = 18
SE_FILE_OBJECT = 1
OWNER_SECURITY_INFORMATION = 0x1
DACL_SECURITY_INFORMATION = 0x4
ACCESS_ALLOWED_ACE_TYPE = 0
INHERIT_ONLY_ACE = 0x08

#: Where installers register a program, under HKEY_LOCAL_MACHINE / HKEY_CURRENT_USER.
UNINSTALL_KEY = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall"

#: Rename errors that mean "another program has the file open right now".
_TRANSIENT_WINERRORS = frozenset(
    {ERROR_ACCESS_DENIED, ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION}
)


# ---------------------------------------------------------------------- pure logic


def _fold_case(text: str) -> str:
    """Upper-case ``text`` one character at a time, as NTFS compares names.

    NTFS maps each UTF-16 unit through its upcase table; it never expands a character
    (``ß`` stays ``ß``), which :meth:`str.upper` or :meth:`str.casefold` would do.
    """
    return "".join(u if len(u := ch.upper()) == 1 else ch for ch in text)


def path_key(path: str) -> str:
    r"""A case-folded, normalised form of a Windows path, for comparisons.

    ``\\?\C:\x`` and ``C:/X/.`` give the same key; ``\\?\UNC\srv\share`` becomes
    ``\\SRV\SHARE``.
    """
    text = path.replace("/", "\\")
    if text.startswith("\\\\?\\UNC\\"):
        text = "\\\\" + text[len("\\\\?\\UNC\\") :]
    elif text.startswith(("\\\\?\\", "\\??\\")):
        text = text[4:]
    return _fold_case(ntpath.normpath(text)).rstrip("\\") or "\\"


def is_inside(path: str, root: str) -> bool:
    """Whether Windows path ``path`` is inside folder ``root`` (letter case ignored)."""
    key, root_key = path_key(path), path_key(root)
    prefix = root_key if root_key.endswith("\\") else root_key + "\\"
    return key.startswith(prefix)


def format_file_version(ms: int, ls: int) -> str:
    """``"a.b.c.d"`` from ``VS_FIXEDFILEINFO.dwFileVersionMS`` / ``dwFileVersionLS``."""
    parts = ((ms >> 16) & 0xFFFF, ms & 0xFFFF, (ls >> 16) & 0xFFFF, ls & 0xFFFF)
    return ".".join(str(part) for part in parts)


def registry_lookups(registry_key: str) -> list[tuple[str, str, int]]:
    """Where to look for a program's uninstall entry, in order: ``(hive, subkey, access)``.

    HKLM is read through both registry views, 64-bit first, because a 32-bit installer
    on 64-bit Windows writes to the 32-bit view (``WOW6432Node``); then HKCU, where
    per-user installers register. Returns nothing for an empty or odd key.
    """
    key = registry_key.strip().strip("\\")
    if not key or any(part in ("", ".", "..") for part in key.split("\\")):
        return []
    subkey = f"{UNINSTALL_KEY}\\{key}"
    return [
        ("HKEY_LOCAL_MACHINE", subkey, KEY_READ | KEY_WOW64_64KEY),
        ("HKEY_LOCAL_MACHINE", subkey, KEY_READ | KEY_WOW64_32KEY),
        ("HKEY_CURRENT_USER", subkey, KEY_READ),
    ]


def registry_text(value: object) -> str | None:
    """The text of a ``DisplayVersion`` value (REG_SZ, or a REG_DWORD some installers
    write), ``None`` when it is empty or of another kind."""
    if isinstance(value, str):
        return value.strip().rstrip("\x00").strip() or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def installer_argv(installer: str, fmt: str, args: Sequence[str]) -> list[str]:
    """How Windows runs an installer silently: msiexec for .msi packages (with a
    verbose log next to the package), the program itself for .exe installers."""
    if fmt == "msi":
        return ["msiexec.exe", "/i", installer, *args, "/l*v", installer + ".log"]
    return [installer, *args]


#: The value in which Windows keeps the file operations of the next start.
PENDING_RENAMES = "PendingFileRenameOperations"

#: Where Windows records that a restart is pending (64-bit registry view):
#: ``(hive, subkey, value)``, the key's existence when ``value`` is None, else a non-empty
#: value; for :data:`PENDING_RENAMES`, a file to replace at the next start
#: (:func:`renames_pending`).
REBOOT_PENDING: tuple[tuple[str, str, str | None], ...] = (
    (
        "HKEY_LOCAL_MACHINE",
        r"SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending",
        None,
    ),
    (
        "HKEY_LOCAL_MACHINE",
        r"SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired",
        None,
    ),
    ("HKEY_LOCAL_MACHINE", r"SYSTEM\CurrentControlSet\Control\Session Manager", PENDING_RENAMES),
)


def renames_pending(data: str) -> bool:
    """Whether :data:`PENDING_RENAMES`, as the raw text of its REG_MULTI_SZ, replaces a
    file at the next start.

    Its strings are pairs, a source and a destination; an empty destination deletes the
    source (an uninstaller's own temporary copy, say). Deletions leave nothing in use
    that the restart must finish, so they alone do not count.
    """
    items = data.split("\0")
    for index in range(0, len(items), 2):
        if not items[index]:  # a source is never empty: the end of the list
            return False
        if index + 1 < len(items) and items[index + 1]:
            return True
    return False


def reg_view_flag(access: int) -> str:
    """``reg.exe``'s option naming the registry view of a lookup from registry_lookups."""
    return "/reg:32" if access & KEY_WOW64_32KEY else "/reg:64"


def reg_export_argv(hive: str, subkey: str, access: int, dest: str) -> list[str]:
    """``reg export`` of one key into a .reg file (overwriting it)."""
    return ["reg.exe", "export", f"{hive}\\{subkey}", dest, "/y", reg_view_flag(access)]


def reg_import_argv(source: str, where: str) -> list[str]:
    """``reg import`` of a .reg file into the view it was exported from."""
    return ["reg.exe", "import", source, where]


# --- machine setup: scheduled tasks and folder permissions ----------------------------

#: Who may do what with the on-demand task: SYSTEM and Administrators everything,
#: authenticated users read and run (SDDL).
USERS_MAY_RUN_SDDL = "D:(A;;FA;;;SY)(A;;FA;;;BA)(A;;GRGX;;;AU)"
#: Well-known SIDs (names differ with the Windows language; SIDs do not).
SID_ADMINISTRATORS = "S-1-5-32-544"
SID_SYSTEM = "S-1-5-18"
SID_USERS = "S-1-5-32-545"
SID_TRUSTED_INSTALLER = "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"
#: Who may change a folder without that being anyone else's doing.
TRUSTED_SIDS = frozenset({SID_SYSTEM, SID_ADMINISTRATORS, SID_TRUSTED_INSTALLER})
_TASK_NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"


def task_xml(
    *,
    program: str,
    arguments: str,
    description: str,
    daily_at: tuple[int, int] | None,
    users_may_run: bool = False,
    random_delay_minutes: int = 30,
    time_limit_hours: int = 2,
) -> str:
    """The Task Scheduler definition of a daily task run as SYSTEM, with the highest
    privileges, whoever is logged on, also when the PC was off at that hour (it runs
    when it can), only with a network, never twice at once, stopped after
    ``time_limit_hours``. A random delay spreads a fleet's downloads."""
    triggers = "  <Triggers />"
    if daily_at is not None:
        hour, minute = daily_at
        if not (0 <= hour < 24 and 0 <= minute < 60):
            raise ValueError(f"not a time of day: {hour}:{minute}")
        triggers = f"""  <Triggers>
    <CalendarTrigger>
      <StartBoundary>2026-01-01T{hour:02d}:{minute:02d}:00</StartBoundary>
      <ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay>
      <RandomDelay>PT{random_delay_minutes}M</RandomDelay>
    </CalendarTrigger>
  </Triggers>"""
    security = (
        f"\n    <SecurityDescriptor>{USERS_MAY_RUN_SDDL}</SecurityDescriptor>"
        if users_may_run
        else ""
    )
    return f"""<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.3" xmlns="{_TASK_NS}">
  <RegistrationInfo>
    <Author>InnovaCommerce</Author>
    <Description>{xml_escape(description)}</Description>{security}
  </RegistrationInfo>
{triggers}
  <Principals>
    <Principal id="System">
      <UserId>{SID_SYSTEM}</UserId>
      <RunLevel>HighestAvailable</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <StartWhenAvailable>true</StartWhenAvailable>
    <AllowStartOnDemand>true</AllowStartOnDemand>
    <RunOnlyIfNetworkAvailable>true</RunOnlyIfNetworkAvailable>
    <ExecutionTimeLimit>PT{time_limit_hours}H</ExecutionTimeLimit>
    <Enabled>true</Enabled>
  </Settings>
  <Actions Context="System">
    <Exec>
      <Command>{xml_escape(program)}</Command>
      <Arguments>{xml_escape(arguments)}</Arguments>
    </Exec>
  </Actions>
</Task>
"""


#: Who may use the elevated updater's pipe (SDDL): SYSTEM and Administrators
#: everything; authenticated users read and write data and attributes (0x12019b is
#: FILE_GENERIC_READ | FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES) but not
#: FILE_CREATE_PIPE_INSTANCE, so that nobody else can serve the pipe beside us.
#: Protected: nothing is inherited.
CHANNEL_SDDL = "D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;0x12019b;;;AU)"


def schtasks_create_argv(name: str, xml_file: str) -> list[str]:
    """Register (or replace) a task from its XML definition."""
    return ["schtasks.exe", "/Create", "/F", "/TN", name, "/XML", xml_file]


def schtasks_run_argv(name: str) -> list[str]:
    return ["schtasks.exe", "/Run", "/TN", name]


def icacls_users_write_argv(folder: str) -> list[str]:
    """Let users create files in ``folder`` (the owner's settings) and change, replace
    and delete the files in it, but not delete or rename the folder itself; the rest is
    inherited from the locked state folder. Replacing a file (the atomic save: a new file
    renamed over the old) needs DELETE on the old one (``MoveFileEx``), which write
    access alone does not give."""
    return [
        "icacls.exe", folder,
        "/grant", f"*{SID_USERS}:(RX,W)",
        "/grant", f"*{SID_USERS}:(OI)(CI)(IO)M",
        "/Q",
    ]  # fmt: skip


def schtasks_delete_argv(name: str) -> list[str]:
    return ["schtasks.exe", "/Delete", "/F", "/TN", name]


def icacls_setowner_argv(folder: str) -> list[str]:
    """Make Administrators the owner of ``folder`` and everything in it (links not
    followed: ``/L``)."""
    return ["icacls.exe", folder, "/setowner", f"*{SID_ADMINISTRATORS}", "/T", "/C", "/L", "/Q"]


def icacls_owner_only_argv(path: str, sid: str) -> list[str]:
    """Let only the account ``sid`` (and nobody else, administrators included) into the
    file ``path``: inherited permissions removed, every other grant replaced."""
    return ["icacls.exe", path, "/inheritance:r", "/grant:r", f"*{sid}:F", "/Q"]


def icacls_private_argv(folder: str) -> list[str]:
    """Let only Administrators and SYSTEM into ``folder`` at all, inherited permissions
    removed, the same below it."""
    return [
        "icacls.exe", folder, "/inheritance:r",
        "/grant:r", f"*{SID_ADMINISTRATORS}:(OI)(CI)F",
        "/grant:r", f"*{SID_SYSTEM}:(OI)(CI)F",
        "/T", "/C", "/Q",
    ]  # fmt: skip


def icacls_lockdown_argv(folder: str) -> list[str]:
    """Make ``folder`` writable by Administrators and SYSTEM only, readable by Users:
    inherited permissions removed (``C:\\ProgramData`` lets every user create files),
    the same for everything below it."""
    return [
        "icacls.exe", folder, "/inheritance:r",
        "/grant:r", f"*{SID_ADMINISTRATORS}:(OI)(CI)F",
        "/grant:r", f"*{SID_SYSTEM}:(OI)(CI)F",
        "/grant:r", f"*{SID_USERS}:(OI)(CI)RX",
        "/T", "/C", "/Q",
    ]  # fmt: skip


def untrusted_rights(owner: str, aces: Iterable[tuple[int, int, int, str]], me: str) -> int:
    """The rights that accounts other than SYSTEM, Administrators, TrustedInstaller and
    ``me`` hold on an object, from its owner and its DACL's ``(type, flags, mask, sid)``
    entries (generic rights mapped to file rights; an untrusted owner may grant itself
    anything). Deny entries are not subtracted: this errs towards "others may"."""
    trusted = TRUSTED_SIDS | {me}
    rights = 0
    if owner not in trusted:
        rights |= WRITE_DAC | WRITE_OWNER
    for kind, flags, mask, sid in aces:
        if kind != ACCESS_ALLOWED_ACE_TYPE or flags & INHERIT_ONLY_ACE or sid in trusted:
            continue
        if mask & GENERIC_ALL:
            mask |= 0x001F01FF  # FILE_ALL_ACCESS
        if mask & GENERIC_WRITE_ACCESS:
            mask |= FILE_GENERIC_WRITE
        rights |= mask
    return rights


def others_may_replace(parent_rights: int, entry_rights: int | None) -> bool:
    """Whether others may replace an entry of a folder: take the entry away (delete it,
    or rename it, which needs the same right) and create something in its place; or
    change who may do so. ``entry_rights`` is None when the entry does not exist."""
    if (parent_rights | (entry_rights or 0)) & (WRITE_DAC | WRITE_OWNER):
        return True
    if entry_rights is None:
        return False  # nothing to swap; what comes later is opened without following
    may_create = parent_rights & (FILE_ADD_FILE | FILE_ADD_SUBDIRECTORY)
    may_remove = entry_rights & DELETE or parent_rights & FILE_DELETE_CHILD
    return bool(may_create and may_remove)


def is_sharing_violation(exc: OSError) -> bool:
    """Whether a failed rename may work a moment later: the file is in use or access
    was refused (what a scanning antivirus causes)."""
    winerror = getattr(exc, "winerror", None)
    if winerror is not None:
        return winerror in _TRANSIENT_WINERRORS
    return isinstance(exc, PermissionError)


def extended_path(path: str) -> str:
    r"""An absolute Windows path in the ``\\?\`` form, which has no 260-character limit."""
    text = path.replace("/", "\\")
    if text.startswith("\\\\?\\"):
        return text
    text = ntpath.normpath(text)
    if text.startswith("\\\\"):
        return "\\\\?\\UNC\\" + text[2:]
    return "\\\\?\\" + text


def creation_flags() -> int:
    """``Popen`` creation flags for a child command: its own process group (so that
    Ctrl+C in the updater's console does not reach it and it can be stopped as a
    whole) and no console window flashing up from the tray application."""
    return CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW


def windows_by_pid(pairs: Iterable[tuple[int, int]], pids: Iterable[int]) -> dict[int, list[int]]:
    """Group ``(window handle, process id)`` pairs by process, keeping only ``pids``."""
    wanted = set(pids)
    found: dict[int, list[int]] = {pid: [] for pid in wanted}
    for hwnd, pid in pairs:
        if pid in wanted:
            found[pid].append(hwnd)
    return found


# ---------------------------------------------------------------------- Win32 layer


def _top_level_windows() -> list[tuple[int, int]]:
    """Every top-level window of this desktop, as ``(handle, process id)``."""
    if sys.platform != "win32":
        raise NotImplementedError("EnumWindows exists only on Windows")
    import ctypes
    from ctypes import wintypes

    user32 = ctypes.WinDLL("user32", use_last_error=True)
    enum_proc_type = ctypes.WINFUNCTYPE(wintypes.BOOL, wintypes.HWND, wintypes.LPARAM)
    user32.EnumWindows.argtypes = [enum_proc_type, wintypes.LPARAM]
    user32.EnumWindows.restype = wintypes.BOOL
    user32.GetWindowThreadProcessId.argtypes = [wintypes.HWND, ctypes.POINTER(wintypes.DWORD)]
    user32.GetWindowThreadProcessId.restype = wintypes.DWORD

    pairs: list[tuple[int, int]] = []

    def collect(hwnd: int, _lparam: int) -> bool:
        pid = wintypes.DWORD()
        if user32.GetWindowThreadProcessId(hwnd, ctypes.byref(pid)):
            pairs.append((int(hwnd or 0), int(pid.value)))
        return True  # keep enumerating

    user32.EnumWindows(enum_proc_type(collect), 0)
    return pairs


def _post_close(hwnds: Iterable[int]) -> int:
    """Post ``WM_CLOSE`` to each window; returns how many accepted the message."""
    if sys.platform != "win32":
        raise NotImplementedError("PostMessageW exists only on Windows")
    import ctypes
    from ctypes import wintypes

    user32 = ctypes.WinDLL("user32", use_last_error=True)
    user32.PostMessageW.argtypes = [wintypes.HWND, wintypes.UINT, wintypes.WPARAM, wintypes.LPARAM]
    user32.PostMessageW.restype = wintypes.BOOL
    return sum(1 for hwnd in hwnds if user32.PostMessageW(hwnd, WM_CLOSE, 0, 0))


def _open_exclusively(path: str, directory: bool) -> int:
    """Try to open ``path`` with share mode 0; returns 0 on success, else the Win32
    error (``ERROR_SHARING_VIOLATION`` when another program has it open)."""
    if sys.platform != "win32":
        raise NotImplementedError("CreateFileW exists only on Windows")
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.CreateFileW.argtypes = [
        wintypes.LPCWSTR,
        wintypes.DWORD,
        wintypes.DWORD,
        wintypes.LPVOID,
        wintypes.DWORD,
        wintypes.DWORD,
        wintypes.HANDLE,
    ]
    kernel32.CreateFileW.restype = wintypes.HANDLE
    kernel32.CloseHandle.argtypes = [wintypes.HANDLE]
    kernel32.CloseHandle.restype = wintypes.BOOL
    invalid = wintypes.HANDLE(-1).value

    # Folders cannot be opened for writing; reading them is enough to collide with a
    # program that has the folder as its current directory.
    access = GENERIC_READ if directory else GENERIC_READ | GENERIC_WRITE
    flags = FILE_FLAG_BACKUP_SEMANTICS if directory else FILE_ATTRIBUTE_NORMAL
    handle = kernel32.CreateFileW(extended_path(path), access, 0, None, OPEN_EXISTING, flags, None)
    if handle is None or handle == invalid:
        return ctypes.get_last_error() or ERROR_ACCESS_DENIED
    kernel32.CloseHandle(handle)
    return 0


def _query_image_path(pid: int) -> str | None:
    """``QueryFullProcessImageNameW`` of process ``pid``: its program file, ``None`` when
    the process cannot be opened or asked (ended, or another account's)."""
    if sys.platform != "win32":
        raise NotImplementedError("QueryFullProcessImageNameW exists only on Windows")
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.OpenProcess.argtypes = [wintypes.DWORD, wintypes.BOOL, wintypes.DWORD]
    kernel32.OpenProcess.restype = wintypes.HANDLE
    kernel32.QueryFullProcessImageNameW.argtypes = [
        wintypes.HANDLE,
        wintypes.DWORD,
        wintypes.LPWSTR,
        ctypes.POINTER(wintypes.DWORD),
    ]
    kernel32.QueryFullProcessImageNameW.restype = wintypes.BOOL
    kernel32.CloseHandle.argtypes = [wintypes.HANDLE]
    handle = kernel32.OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
    if not handle:
        return None
    try:
        buffer = ctypes.create_unicode_buffer(32768)
        size = wintypes.DWORD(len(buffer))
        if not kernel32.QueryFullProcessImageNameW(handle, 0, buffer, ctypes.byref(size)):
            return None
        return buffer.value or None
    finally:
        kernel32.CloseHandle(handle)


def _start_job(process: int) -> int:
    """Put the suspended process ``process`` (a handle) in a new job object that ends
    every process in it when it is closed, then let it run; returns the job's handle.
    The processes it starts are in the job too (Windows puts children in their parent's
    job), so none of them can outlive the job, unless one is started with
    ``CREATE_BREAKAWAY_FROM_JOB``: a program that asks to leave may (an installer that
    starts the installed program for the user; refused, its ``CreateProcess`` would fail
    and with it the install).

    Raises:
        OSError: the job could not be made or the process not put in it (the process
            is let run all the same).
    """
    if sys.platform != "win32":
        raise NotImplementedError("job objects exist only on Windows")
    import ctypes
    from ctypes import wintypes

    class BasicLimits(ctypes.Structure):
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
        _fields_ = [
            ("BasicLimitInformation", BasicLimits),
            ("IoInfo", ctypes.c_uint64 * 6),
            ("ProcessMemoryLimit", ctypes.c_size_t),
            ("JobMemoryLimit", ctypes.c_size_t),
            ("PeakProcessMemoryUsed", ctypes.c_size_t),
            ("PeakJobMemoryUsed", ctypes.c_size_t),
        ]

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    ntdll = ctypes.WinDLL("ntdll")
    kernel32.CreateJobObjectW.argtypes = [ctypes.c_void_p, wintypes.LPCWSTR]
    kernel32.CreateJobObjectW.restype = wintypes.HANDLE
    kernel32.SetInformationJobObject.argtypes = [
        wintypes.HANDLE, ctypes.c_int, ctypes.c_void_p, wintypes.DWORD,
    ]  # fmt: skip
    kernel32.SetInformationJobObject.restype = wintypes.BOOL
    kernel32.AssignProcessToJobObject.argtypes = [wintypes.HANDLE, wintypes.HANDLE]
    kernel32.AssignProcessToJobObject.restype = wintypes.BOOL
    kernel32.CloseHandle.argtypes = [wintypes.HANDLE]
    # NtResumeProcess resumes a process without its thread's handle, which subprocess
    # closes. It is not in the SDK's documentation, but stable since Windows XP and
    # widely used (Sysinternals' tools suspend and resume processes with it).
    ntdll.NtResumeProcess.argtypes = [wintypes.HANDLE]
    ntdll.NtResumeProcess.restype = wintypes.LONG
    try:
        job = kernel32.CreateJobObjectW(None, None)
        if not job:
            raise ctypes.WinError(ctypes.get_last_error())
        limits = ExtendedLimits()
        limits.BasicLimitInformation.LimitFlags = (
            JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_BREAKAWAY_OK
        )
        if not kernel32.SetInformationJobObject(
            job, JOB_OBJECT_EXTENDED_LIMIT_INFORMATION, ctypes.byref(limits),
            ctypes.sizeof(limits),
        ) or not kernel32.AssignProcessToJobObject(job, process):  # fmt: skip
            error = ctypes.WinError(ctypes.get_last_error())
            kernel32.CloseHandle(job)
            raise error
        return int(job)
    finally:
        ntdll.NtResumeProcess(process)


def _end_job(job: int) -> None:
    """End every process left in ``job`` and close it."""
    if sys.platform != "win32":
        raise NotImplementedError("job objects exist only on Windows")
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.TerminateJobObject.argtypes = [wintypes.HANDLE, wintypes.UINT]
    kernel32.CloseHandle.argtypes = [wintypes.HANDLE]
    kernel32.TerminateJobObject(job, 1)
    kernel32.CloseHandle(job)


def _session_id() -> int:
    """``ProcessIdToSessionId`` of this process: the session its windows belong to."""
    if sys.platform != "win32":
        raise NotImplementedError("ProcessIdToSessionId exists only on Windows")
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.ProcessIdToSessionId.argtypes = [wintypes.DWORD, ctypes.POINTER(wintypes.DWORD)]
    kernel32.ProcessIdToSessionId.restype = wintypes.BOOL
    session = wintypes.DWORD()
    if not kernel32.ProcessIdToSessionId(kernel32.GetCurrentProcessId(), ctypes.byref(session)):
        raise ctypes.WinError(ctypes.get_last_error())
    return session.value


def _registry_value(hive: str, subkey: str, access: int, name: str | None) -> object:
    """The value ``name`` of a registry key (``True``, the key's existence, when ``name``
    is None); ``None`` when the key or the value does not exist."""
    if sys.platform != "win32":
        raise NotImplementedError("winreg exists only on Windows")
    import winreg

    hives = {
        "HKEY_LOCAL_MACHINE": winreg.HKEY_LOCAL_MACHINE,
        "HKEY_CURRENT_USER": winreg.HKEY_CURRENT_USER,
    }
    try:
        with winreg.OpenKey(hives[hive], subkey, 0, access) as key:
            return True if name is None else winreg.QueryValueEx(key, name)[0]
    except OSError:  # FileNotFoundError when the key or the value does not exist
        return None


def _registry_multi_sz(hive: str, subkey: str, access: int, name: str) -> str | None:
    """A REG_MULTI_SZ value as its raw text, empty strings included (winreg's list stops
    at the first empty string); ``None`` when there is no such value."""
    if sys.platform != "win32":
        raise NotImplementedError("the registry exists only on Windows")
    import ctypes
    import winreg
    from ctypes import wintypes

    advapi32 = ctypes.WinDLL("advapi32", use_last_error=True)
    query = advapi32.RegQueryValueExW
    query.argtypes = [
        wintypes.HKEY, wintypes.LPCWSTR, ctypes.POINTER(wintypes.DWORD),
        ctypes.POINTER(wintypes.DWORD), ctypes.c_void_p, ctypes.POINTER(wintypes.DWORD),
    ]  # fmt: skip
    query.restype = wintypes.LONG
    hives = {
        "HKEY_LOCAL_MACHINE": winreg.HKEY_LOCAL_MACHINE,
        "HKEY_CURRENT_USER": winreg.HKEY_CURRENT_USER,
    }
    try:
        key = winreg.OpenKey(hives[hive], subkey, 0, access)
    except OSError:
        return None
    with key:
        kind, size = wintypes.DWORD(), wintypes.DWORD()
        handle = wintypes.HKEY(int(key))
        if query(handle, name, None, ctypes.byref(kind), None, ctypes.byref(size)) != 0:
            return None
        buffer = ctypes.create_string_buffer(size.value)
        if query(handle, name, None, None, buffer, ctypes.byref(size)) != 0:
            return None
    if kind.value != winreg.REG_MULTI_SZ:
        return None
    return buffer.raw[: size.value].decode("utf-16-le", errors="replace")


def _read_registry(lookups: Sequence[tuple[str, str, int]]) -> str | None:
    """``DisplayVersion`` from the first of ``lookups`` that has one."""
    for hive, subkey, access in lookups:
        text = registry_text(_registry_value(hive, subkey, access, "DisplayVersion"))
        if text:
            return text
    return None


def _registry_marks(marks: Sequence[tuple[str, str, str | None]]) -> bool:
    """Whether any of ``marks`` (see :data:`REBOOT_PENDING`) is set: the key exists, or
    the value is not empty (an empty REG_MULTI_SZ leaves nothing to do at the next start),
    or, for :data:`PENDING_RENAMES`, a file is to be replaced."""
    access = KEY_READ | KEY_WOW64_64KEY
    for hive, subkey, name in marks:
        if name == PENDING_RENAMES:
            data = _registry_multi_sz(hive, subkey, access, name)
            if data is not None and renames_pending(data):
                return True
        elif _registry_value(hive, subkey, access, name):
            return True
    return False


def _file_version_dwords(exe: str) -> tuple[int, int] | None:
    """``(dwFileVersionMS, dwFileVersionLS)`` of ``exe``'s version resource."""
    if sys.platform != "win32":
        raise NotImplementedError("version.dll exists only on Windows")
    import ctypes
    from ctypes import wintypes

    class VsFixedFileInfo(ctypes.Structure):
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

    version = ctypes.WinDLL("version", use_last_error=True)
    version.GetFileVersionInfoSizeW.argtypes = [wintypes.LPCWSTR, wintypes.LPDWORD]
    version.GetFileVersionInfoSizeW.restype = wintypes.DWORD
    version.GetFileVersionInfoW.argtypes = [
        wintypes.LPCWSTR,
        wintypes.DWORD,
        wintypes.DWORD,
        wintypes.LPVOID,
    ]
    version.GetFileVersionInfoW.restype = wintypes.BOOL
    version.VerQueryValueW.argtypes = [
        wintypes.LPCVOID,
        wintypes.LPCWSTR,
        ctypes.POINTER(wintypes.LPVOID),
        ctypes.POINTER(wintypes.UINT),
    ]
    version.VerQueryValueW.restype = wintypes.BOOL

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


# ---------------------------------------------------------------------- the platform


def _kernel32() -> Any:
    if sys.platform != "win32":
        raise NotImplementedError("kernel32 exists only on Windows")
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.CreateFileW.argtypes = [
        wintypes.LPCWSTR, wintypes.DWORD, wintypes.DWORD, wintypes.LPVOID, wintypes.DWORD,
        wintypes.DWORD, wintypes.HANDLE,
    ]  # fmt: skip
    kernel32.CreateFileW.restype = wintypes.HANDLE
    kernel32.CloseHandle.argtypes = [wintypes.HANDLE]
    kernel32.GetFinalPathNameByHandleW.argtypes = [
        wintypes.HANDLE,
        wintypes.LPWSTR,
        wintypes.DWORD,
        wintypes.DWORD,
    ]
    kernel32.GetFinalPathNameByHandleW.restype = wintypes.DWORD
    kernel32.GetFileInformationByHandleEx.argtypes = [
        wintypes.HANDLE,
        ctypes.c_int,
        wintypes.LPVOID,
        wintypes.DWORD,
    ]
    kernel32.SetFileInformationByHandle.argtypes = [
        wintypes.HANDLE,
        ctypes.c_int,
        wintypes.LPVOID,
        wintypes.DWORD,
    ]
    kernel32.GetLongPathNameW.argtypes = [wintypes.LPCWSTR, wintypes.LPWSTR, wintypes.DWORD]
    kernel32.GetLongPathNameW.restype = wintypes.DWORD
    kernel32.GetFileAttributesW.argtypes = [wintypes.LPCWSTR]
    kernel32.GetFileAttributesW.restype = wintypes.DWORD
    return kernel32


def _strip_extended(path: str) -> str:
    if path.startswith("\\\\?\\UNC\\"):
        return "\\\\" + path[8:]
    return path[4:] if path.startswith("\\\\?\\") else path


def _long_name(path: str) -> str:
    """``path`` with 8.3 short names expanded (as a handle's final path spells it)."""
    if sys.platform != "win32":
        raise NotImplementedError("GetLongPathNameW exists only on Windows")
    import ctypes

    buffer = ctypes.create_unicode_buffer(32768)
    size = _kernel32().GetLongPathNameW(extended_path(path), buffer, 32768)
    return _strip_extended(buffer.value) if 0 < size < 32768 else path


def _attributes(handle: int) -> int:
    """A handle's file attributes (FILE_BASIC_INFO)."""
    if sys.platform != "win32":
        raise NotImplementedError("GetFileInformationByHandleEx exists only on Windows")
    import ctypes

    info = ctypes.create_string_buffer(40)
    if not _kernel32().GetFileInformationByHandleEx(handle, FILE_BASIC_INFO_CLASS, info, 40):
        raise ctypes.WinError(ctypes.get_last_error())
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
    import ctypes

    kernel32 = _kernel32()
    expected = os.path.abspath(path)  # noqa: PTH100 - lexical, no link followed
    handle = kernel32.CreateFileW(
        extended_path(expected), access, FILE_SHARE_ALL, None, OPEN_EXISTING,
        FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT, None,
    )  # fmt: skip
    if handle is None or handle == ctypes.c_void_p(-1).value:
        error = ctypes.get_last_error()
        raise OSError(None, ctypes.FormatError(error), expected, error)
    try:
        if _attributes(handle) & FILE_ATTRIBUTE_REPARSE_POINT and not allow_link:
            raise LinkRefusedError(ERROR_ACCESS_DENIED, "a link or junction", expected)
        buffer = ctypes.create_unicode_buffer(32768)
        size = kernel32.GetFinalPathNameByHandleW(handle, buffer, 32768, 0)
        if not 0 < size < 32768:
            raise ctypes.WinError(ctypes.get_last_error())
        if path_key(_strip_extended(buffer.value)) != path_key(_long_name(expected)):
            raise LinkRefusedError(
                ERROR_ACCESS_DENIED,
                f"reached through a link or junction (it is {_strip_extended(buffer.value)})",
                expected,
            )
    except BaseException:
        kernel32.CloseHandle(handle)
        raise
    return int(handle)


def _list_handle(handle: int, where: Path) -> list[tuple[str, int, int]]:
    """The entries of an open folder as ``(name, attributes, size)``, listed through the
    handle (never by path again)."""
    if sys.platform != "win32":
        raise NotImplementedError("GetFileInformationByHandleEx exists only on Windows")
    import ctypes
    import struct

    kernel32 = _kernel32()
    buffer = ctypes.create_string_buffer(65536)
    found: list[tuple[str, int, int]] = []
    info_class = FILE_FULL_DIRECTORY_RESTART_INFO_CLASS
    while True:
        if not kernel32.GetFileInformationByHandleEx(handle, info_class, buffer, 65536):
            error = ctypes.get_last_error()
            if error == ERROR_NO_MORE_FILES:
                return found
            raise OSError(None, ctypes.FormatError(error), str(where), error)
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
    import ctypes

    kernel32 = _kernel32()
    if attributes & FILE_ATTRIBUTE_READONLY:
        basic = ctypes.create_string_buffer(40)  # zero times: unchanged
        kept = attributes & ~FILE_ATTRIBUTE_READONLY
        basic[32:36] = (kept or FILE_ATTRIBUTE_NORMAL).to_bytes(4, "little")
        kernel32.SetFileInformationByHandle(handle, FILE_BASIC_INFO_CLASS, basic, 40)
    flag = ctypes.c_ubyte(1)
    if not kernel32.SetFileInformationByHandle(
        handle, FILE_DISPOSITION_INFO_CLASS, ctypes.byref(flag), 1
    ):
        error = ctypes.get_last_error()
        raise OSError(None, ctypes.FormatError(error), str(where), error)


def _remove_verified(path: Path) -> None:
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
    kernel32 = _kernel32()
    try:
        attributes = _attributes(handle)
        if attributes & FILE_ATTRIBUTE_DIRECTORY and not attributes & FILE_ATTRIBUTE_REPARSE_POINT:
            for name, _attributes_of, _size in _list_handle(handle, path):
                _remove_verified(path / name)
        _delete_handle(handle, attributes, path)
    finally:
        kernel32.CloseHandle(handle)


def _security(path: str) -> tuple[str, list[tuple[int, int, int, str]]]:
    """The owner SID and the DACL entries ``(type, flags, mask, sid)`` of a file or
    folder (``GetNamedSecurityInfoW``; an entry whose SID is not a plain SID has '')."""
    if sys.platform != "win32":
        raise NotImplementedError("GetNamedSecurityInfoW exists only on Windows")
    import ctypes
    from ctypes import wintypes

    advapi = _advapi()
    advapi.GetNamedSecurityInfoW.argtypes = [
        wintypes.LPCWSTR, ctypes.c_int, wintypes.DWORD, ctypes.POINTER(wintypes.LPVOID),
        ctypes.POINTER(wintypes.LPVOID), ctypes.POINTER(wintypes.LPVOID),
        ctypes.POINTER(wintypes.LPVOID), ctypes.POINTER(wintypes.LPVOID),
    ]  # fmt: skip
    advapi.GetNamedSecurityInfoW.restype = wintypes.DWORD
    advapi.GetAce.argtypes = [wintypes.LPVOID, wintypes.DWORD, ctypes.POINTER(wintypes.LPVOID)]
    owner, dacl, descriptor = wintypes.LPVOID(), wintypes.LPVOID(), wintypes.LPVOID()
    error = advapi.GetNamedSecurityInfoW(
        path, SE_FILE_OBJECT, OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
        ctypes.byref(owner), None, ctypes.byref(dacl), None, ctypes.byref(descriptor),
    )  # fmt: skip
    if error:
        raise OSError(None, ctypes.FormatError(error), path, error)

    def sid_text(sid: Any) -> str:
        text = wintypes.LPWSTR()
        if not advapi.ConvertSidToStringSidW(sid, ctypes.byref(text)):
            return ""
        try:
            return str(text.value)
        finally:
            ctypes.WinDLL("kernel32").LocalFree(text)

    try:
        aces: list[tuple[int, int, int, str]] = []
        if not dacl.value:  # a NULL DACL: everyone may do anything
            return sid_text(owner), [(ACCESS_ALLOWED_ACE_TYPE, 0, GENERIC_ALL, "S-1-1-0")]
        count = int.from_bytes(ctypes.string_at(dacl.value + 4, 2), "little")  # ACL.AceCount
        for index in range(count):
            ace = wintypes.LPVOID()
            if not advapi.GetAce(dacl, index, ctypes.byref(ace)) or not ace.value:
                continue
            header = ctypes.string_at(ace.value, 8)  # type, flags, size, mask
            kind, flags = header[0], header[1]
            mask = int.from_bytes(header[4:8], "little")
            sid = sid_text(ace.value + 8) if kind == ACCESS_ALLOWED_ACE_TYPE else ""
            aces.append((kind, flags, mask, sid))
        return sid_text(owner), aces
    finally:
        ctypes.WinDLL("kernel32").LocalFree(descriptor)


def _pipe_path(name: str) -> str:
    return "\\\\.\\pipe\\" + name


def _advapi() -> Any:
    if sys.platform != "win32":
        raise NotImplementedError("advapi32 exists only on Windows")
    import ctypes
    from ctypes import wintypes

    advapi = ctypes.WinDLL("advapi32", use_last_error=True)
    advapi.OpenThreadToken.argtypes = [
        wintypes.HANDLE,
        wintypes.DWORD,
        wintypes.BOOL,
        ctypes.POINTER(wintypes.HANDLE),
    ]
    advapi.OpenProcessToken.argtypes = [
        wintypes.HANDLE,
        wintypes.DWORD,
        ctypes.POINTER(wintypes.HANDLE),
    ]
    advapi.GetTokenInformation.argtypes = [
        wintypes.HANDLE, ctypes.c_int, wintypes.LPVOID, wintypes.DWORD,
        ctypes.POINTER(wintypes.DWORD),
    ]  # fmt: skip
    advapi.ConvertSidToStringSidW.argtypes = [wintypes.LPVOID, ctypes.POINTER(wintypes.LPWSTR)]
    advapi.ImpersonateNamedPipeClient.argtypes = [wintypes.HANDLE]
    advapi.ConvertStringSecurityDescriptorToSecurityDescriptorW.argtypes = [
        wintypes.LPCWSTR, wintypes.DWORD, ctypes.POINTER(wintypes.LPVOID),
        ctypes.POINTER(wintypes.ULONG),
    ]  # fmt: skip
    return advapi


def _token_sid(token: int) -> str:
    """The user SID of an access token, as text (``S-1-5-18``)."""
    if sys.platform != "win32":
        raise NotImplementedError("GetTokenInformation exists only on Windows")
    import ctypes
    from ctypes import wintypes

    advapi = _advapi()
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    size = wintypes.DWORD(0)
    advapi.GetTokenInformation(token, TOKEN_USER_CLASS, None, 0, ctypes.byref(size))
    buffer = ctypes.create_string_buffer(max(size.value, 1))
    if not advapi.GetTokenInformation(token, TOKEN_USER_CLASS, buffer, size, ctypes.byref(size)):
        raise ctypes.WinError(ctypes.get_last_error())
    sid = ctypes.cast(buffer, ctypes.POINTER(wintypes.LPVOID))[0]  # TOKEN_USER.User.Sid
    text = wintypes.LPWSTR()
    if not advapi.ConvertSidToStringSidW(sid, ctypes.byref(text)):
        raise ctypes.WinError(ctypes.get_last_error())
    try:
        return str(text.value)
    finally:
        kernel32.LocalFree(text)


def _process_sid(pid: int) -> str:
    """The user a process runs as."""
    if sys.platform != "win32":
        raise NotImplementedError("OpenProcessToken exists only on Windows")
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.OpenProcess.restype = wintypes.HANDLE
    process = kernel32.OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
    if not process:
        raise ctypes.WinError(ctypes.get_last_error())
    token = wintypes.HANDLE()
    try:
        if not _advapi().OpenProcessToken(process, TOKEN_QUERY, ctypes.byref(token)):
            raise ctypes.WinError(ctypes.get_last_error())
        try:
            return _token_sid(token.value or 0)
        finally:
            kernel32.CloseHandle(token)
    finally:
        kernel32.CloseHandle(wintypes.HANDLE(process))


def _pipe_client_sid(pipe: int) -> str:
    """The user at the client end of a pipe, by impersonating it (identification
    level: enough to read its token, never to act as it). Only after a read."""
    if sys.platform != "win32":
        raise NotImplementedError("ImpersonateNamedPipeClient exists only on Windows")
    import ctypes
    from ctypes import wintypes

    advapi = _advapi()
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.GetCurrentThread.restype = wintypes.HANDLE
    if not advapi.ImpersonateNamedPipeClient(pipe):
        raise ctypes.WinError(ctypes.get_last_error())
    token = wintypes.HANDLE()
    try:
        if not advapi.OpenThreadToken(
            kernel32.GetCurrentThread(), TOKEN_QUERY, True, ctypes.byref(token)
        ):
            raise ctypes.WinError(ctypes.get_last_error())
    finally:
        # Never go on as the client. (Were this to fail, the thread would hold an
        # identification-level token, with which Windows refuses every access.)
        if not advapi.RevertToSelf():
            raise ctypes.WinError(ctypes.get_last_error())
    try:
        return _token_sid(token.value or 0)
    finally:
        kernel32.CloseHandle(token)


def _pipe_server_pid(pipe: int) -> int:
    if sys.platform != "win32":
        raise NotImplementedError("GetNamedPipeServerProcessId exists only on Windows")
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    pid = wintypes.ULONG(0)
    if not kernel32.GetNamedPipeServerProcessId(wintypes.HANDLE(pipe), ctypes.byref(pid)):
        raise ctypes.WinError(ctypes.get_last_error())
    return int(pid.value)


class _PipeChannel(Channel):
    """Messages on a message-mode pipe: read through ``PipeConnection`` (which refuses
    a message longer than the limit before reading it), written with an overlapped
    ``WriteFile`` that gives up after the timeout."""

    def __init__(self, handle: int, identify: Any) -> None:
        if sys.platform != "win32":
            raise NotImplementedError("named pipes exist only on Windows")
        from multiprocessing.connection import PipeConnection  # type: ignore[attr-defined]

        super().__init__(identify)
        self._handle = handle
        self._connection: Any = PipeConnection(handle)

    def send(self, data: bytes, timeout: float) -> None:
        if sys.platform != "win32":
            raise NotImplementedError("named pipes exist only on Windows")
        import _winapi

        try:
            overlapped, error = _winapi.WriteFile(self._handle, data, overlapped=True)
        except OSError as exc:
            raise EOFError(str(exc)) from exc
        if error == _winapi.ERROR_IO_PENDING:
            waited = _winapi.WaitForMultipleObjects(
                [overlapped.event], False, max(1, int(timeout * 1000))
            )
            if waited != WAIT_OBJECT_0:
                overlapped.cancel()
                with contextlib.suppress(OSError):
                    overlapped.GetOverlappedResult(True)
                raise TimeoutError("the other side does not read")
        try:
            written, _error = overlapped.GetOverlappedResult(True)
        except OSError as exc:
            raise EOFError(str(exc)) from exc
        if written != len(data):
            raise EOFError("the message was cut short")

    def receive(self, timeout: float, limit: int) -> bytes | None:
        if not self._connection.poll(timeout):
            return None
        return bytes(self._connection.recv_bytes(limit))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._connection.close()


class _PipeListener:
    """The elevated side of the pipe. One instance always waits for the next client,
    made before the connected one is handed out, so that the name never lapses while
    we serve it (a lapse would let someone else create it)."""

    def __init__(self, name: str) -> None:
        if sys.platform != "win32":
            raise NotImplementedError("named pipes exist only on Windows")
        import ctypes
        from ctypes import wintypes

        class SecurityAttributes(ctypes.Structure):
            _fields_ = [
                ("nLength", wintypes.DWORD),
                ("lpSecurityDescriptor", wintypes.LPVOID),
                ("bInheritHandle", wintypes.BOOL),
            ]

        self._path = _pipe_path(name)
        self._descriptor = wintypes.LPVOID()
        if not _advapi().ConvertStringSecurityDescriptorToSecurityDescriptorW(
            CHANNEL_SDDL, 1, ctypes.byref(self._descriptor), None
        ):
            raise ctypes.WinError(ctypes.get_last_error())
        self._attributes = SecurityAttributes(
            ctypes.sizeof(SecurityAttributes), self._descriptor, False
        )
        self._waiting: int | None = None
        self._waiting = self._instance(first=True)

    def _instance(self, *, first: bool) -> int:
        if sys.platform != "win32":
            raise NotImplementedError("named pipes exist only on Windows")
        import _winapi
        import ctypes

        flags = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED
        if first:  # fails when the name exists: someone else serves it
            flags |= FILE_FLAG_FIRST_PIPE_INSTANCE
        return int(_winapi.CreateNamedPipe(
            self._path, flags,
            PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_REJECT_REMOTE_CLIENTS,
            PIPE_UNLIMITED_INSTANCES, 65536, 65536, 0, ctypes.addressof(self._attributes),
        ))  # fmt: skip

    def accept(self, timeout: float) -> Channel | None:
        if sys.platform != "win32":
            raise NotImplementedError("named pipes exist only on Windows")
        import _winapi

        pipe = self._waiting
        if pipe is None:
            raise OSError("the channel is closed")
        overlapped = _winapi.ConnectNamedPipe(pipe, overlapped=True)
        waited = _winapi.WaitForMultipleObjects(
            [overlapped.event], False, max(0, int(timeout * 1000))
        )
        if waited != WAIT_OBJECT_0:
            overlapped.cancel()
            with contextlib.suppress(OSError):
                overlapped.GetOverlappedResult(True)
            return None
        overlapped.GetOverlappedResult(True)
        self._waiting = self._instance(first=False)
        return _PipeChannel(pipe, lambda: _pipe_client_sid(pipe))

    def close(self) -> None:
        if sys.platform != "win32":
            raise NotImplementedError("named pipes exist only on Windows")
        import _winapi
        import ctypes

        if self._waiting is not None:
            with contextlib.suppress(OSError):
                _winapi.CloseHandle(self._waiting)
            self._waiting = None
        if self._descriptor:
            ctypes.WinDLL("kernel32").LocalFree(self._descriptor)
            self._descriptor.value = None


def _connect_pipe(name: str, server_sid: str) -> Channel:
    """The requester's end of the pipe, once its server is known to be ``server_sid``."""
    if sys.platform != "win32":
        raise NotImplementedError("A named pipe exists only on Windows")
    import _winapi

    path = _pipe_path(name)
    try:
        pipe = _winapi.CreateFile(
            path, GENERIC_READ | GENERIC_WRITE, 0, 0, OPEN_EXISTING,
            FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION, 0,
        )  # fmt: skip
    except OSError as exc:
        if getattr(exc, "winerror", None) == ERROR_PIPE_BUSY:  # all instances taken
            _winapi.WaitNamedPipe(path, 1000)
            raise FileNotFoundError(ERROR_FILE_NOT_FOUND, "the pipe is busy", path) from exc
        raise
    try:
        _winapi.SetNamedPipeHandleState(pipe, PIPE_READMODE_MESSAGE, None, None)
        server = _process_sid(_pipe_server_pid(pipe))
        if server != server_sid:
            raise PermissionError(
                ERROR_ACCESS_DENIED, f"the pipe is served by {server}, not the updater", path
            )
    except OSError:
        _winapi.CloseHandle(pipe)
        raise
    return _PipeChannel(pipe, lambda: server)


class WindowsPlatform(PsutilPlatform):
    """Windows: WM_CLOSE to ask, TerminateProcess to force, retries for files in use."""

    name: ClassVar[str] = "windows"
    sep: ClassVar[str] = "\\"

    def __init__(self) -> None:
        super().__init__()
        #: The job object of each command started by :meth:`start_child`, by pid.
        self._jobs: dict[int, int] = {}

    def path_key(self, path: str) -> str:
        return path_key(path)

    def _ask_to_close(self, procs: Sequence[psutil.Process]) -> None:
        """Post WM_CLOSE to every top-level window of ``procs``.

        psutil's ``terminate()`` would be ``TerminateProcess``, which kills: it is not
        used here. A process without windows gets nothing and is left for ``force``.
        """
        by_pid = windows_by_pid(_top_level_windows(), (proc.pid for proc in procs))
        _post_close(hwnd for hwnds in by_pid.values() for hwnd in hwnds)

    def _is_retryable(self, exc: OSError) -> bool:
        return is_sharing_violation(exc)

    def _image_path(self, proc: psutil.Process) -> str | None:
        """psutil's answer, else ``QueryFullProcessImageNameW``'s.

        psutil asks ``NtQuerySystemInformation(SystemProcessIdInformation)``, which some
        systems refuse with ERROR_INVALID_PARAMETER (Wine 8 always does); psutil passes
        that on as a plain ``OSError``, which would otherwise end the whole search.
        """
        try:
            return proc.exe() or None
        except OSError:
            return _query_image_path(proc.pid)

    def pending_reboot(self) -> bool | None:
        """Whether any mark of :data:`REBOOT_PENDING` is set."""
        return _registry_marks(REBOOT_PENDING)

    def desktop_session(self) -> str:
        """The Remote Desktop Services session id (0 is services, 1 the first console)."""
        return str(_session_id())

    def read_registry_version(self, registry_key: str) -> str | None:
        lookups = registry_lookups(registry_key)
        return _read_registry(lookups) if lookups else None

    def read_file_version(self, exe: Path) -> str | None:
        if not exe.is_file():
            return None
        dwords = _file_version_dwords(str(exe))
        return format_file_version(*dwords) if dwords else None

    def find_locked_file(self, root: Path) -> Path | None:
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

    def fsync_dir(self, path: Path) -> None:
        """Nothing to do: NTFS journals metadata (renames, new entries), and Windows has
        no way to flush a folder."""
        return None

    def popen_kwargs(self) -> dict[str, Any]:
        return {"creationflags": creation_flags()}

    def start_child(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """Started suspended, put in a job object of its own (see :func:`_start_job`),
        then let run: nothing it starts can slip out before it is in the job. Where no
        job can be made, it runs all the same, and only a time-out ends its children
        (those still linked to it)."""
        flags = creation_flags() | CREATE_SUSPENDED
        proc: subprocess.Popen[bytes] = subprocess.Popen(list(argv), creationflags=flags, **kwargs)
        with contextlib.suppress(OSError):
            self._jobs[proc.pid] = _start_job(int(proc._handle))  # type: ignore[attr-defined]
        return proc

    def wait_child_tree(self, proc: subprocess.Popen[bytes], timeout: float) -> bool:
        """As everywhere, then the job ends what the command left running."""
        job = self._jobs.pop(proc.pid, None)
        try:
            return super().wait_child_tree(proc, timeout)
        finally:
            if job is not None:
                _end_job(job)

    def installer_command(self, installer: Path, fmt: str, args: Sequence[str]) -> list[str]:
        return installer_argv(str(installer), fmt, args)

    def export_uninstall_entry(self, registry_key: str, dest: Path) -> str | None:
        for hive, subkey, access in registry_lookups(registry_key):
            result = subprocess.run(
                reg_export_argv(hive, subkey, access, str(dest)),
                capture_output=True,
                creationflags=creation_flags(),
                check=False,
            )
            if result.returncode == 0:
                return reg_view_flag(access)
        return None

    def import_uninstall_entry(self, source: Path, where: str) -> None:
        result = subprocess.run(
            reg_import_argv(str(source), where),
            capture_output=True,
            creationflags=creation_flags(),
            check=False,
        )
        if result.returncode != 0:
            raise OSError(
                result.returncode,
                result.stderr.decode(errors="replace").strip() or "reg import failed",
                str(source),
            )

    # --- machine setup (run by the installer, as administrator) -------------------------

    def needs_elevation(self, install_dir: Path) -> bool:
        """True unless this process is an administrator (or SYSTEM)."""
        return not _is_admin()

    def start_elevated_worker(self) -> None:
        _run_checked(schtasks_run_argv(APPLY_TASK))

    #: The on-demand task runs as SYSTEM.
    elevated_identity: str = SID_SYSTEM

    def own_identity(self) -> str:
        return _process_sid(os.getpid())

    def listen_elevated(self, name: str) -> _PipeListener:
        """A named pipe that authenticated users may write but not serve
        (:data:`CHANNEL_SDDL`), local clients only; each client is known by
        impersonating it at identification level."""
        return _PipeListener(name)

    def connect_elevated(self, name: str) -> Channel:
        return _connect_pipe(name, self.elevated_identity)

    def register_daily_task(
        self, name: str, program: Path, arguments: str, description: str, at: tuple[int, int]
    ) -> None:
        self._register(name, task_xml(
            program=str(program), arguments=arguments, description=description, daily_at=at
        ))  # fmt: skip

    def register_on_demand_task(
        self, name: str, program: Path, arguments: str, description: str
    ) -> None:
        self._register(name, task_xml(
            program=str(program), arguments=arguments, description=description,
            daily_at=None, users_may_run=True,
        ))  # fmt: skip

    def allow_users_to_submit(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        _run_checked(icacls_users_write_argv(str(folder)))

    def _register(self, name: str, xml: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            definition = Path(tmp) / "task.xml"
            definition.write_text(xml, encoding="utf-16")
            _run_checked(schtasks_create_argv(name, str(definition)))

    def remove_task(self, name: str) -> None:
        subprocess.run(  # a task that is not there is not an error
            schtasks_delete_argv(name), capture_output=True, creationflags=creation_flags()
        )

    def restrict_to_administrators(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        _run_checked(icacls_lockdown_argv(str(folder)))

    def make_private(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        _run_checked(icacls_private_argv(str(folder)))

    def others_may_write(self, folder: Path) -> str | None:
        owner, aces = _security(str(folder))
        rights = untrusted_rights(owner, aces, self.own_identity())
        if owner not in TRUSTED_SIDS | {self.own_identity()}:
            return _("{folder} belongs to another account ({owner}).").format(
                folder=folder, owner=owner
            )
        if rights & (FILE_ADD_FILE | FILE_ADD_SUBDIRECTORY | FILE_DELETE_CHILD | WRITE_DAC):
            return _("Other accounts may write in {folder}.").format(folder=folder)
        return None

    def stdin_is_terminal(self) -> bool:
        """Standard input is a console (``GetConsoleMode`` succeeds on its handle)."""
        if sys.platform != "win32":
            raise NotImplementedError("consoles exist only on Windows")
        import ctypes
        import msvcrt
        from ctypes import wintypes

        if sys.stdin is None:
            return False
        try:
            handle = msvcrt.get_osfhandle(sys.stdin.fileno())
        except (OSError, ValueError):
            return False
        mode = wintypes.DWORD()
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        kernel32.GetConsoleMode.argtypes = [wintypes.HANDLE, ctypes.POINTER(wintypes.DWORD)]
        return bool(kernel32.GetConsoleMode(handle, ctypes.byref(mode)))

    def restrict_to_owner(self, path: Path) -> None:
        _run_checked(icacls_owner_only_argv(str(path), self.own_identity()))

    def is_system(self) -> bool:
        return self.own_identity() == SID_SYSTEM

    def writable_by_others(self, program: Path) -> str | None:
        reason = self.replaceable_by_others(program)
        if reason is not None:
            return reason
        owner, aces = _security(str(program))
        me = self.own_identity()
        if owner not in TRUSTED_SIDS | {me}:
            return _("{path} belongs to another account ({owner}).").format(
                path=program, owner=owner
            )
        # FILE_WRITE_DATA and FILE_APPEND_DATA are FILE_ADD_FILE and _SUBDIRECTORY's bits
        if untrusted_rights(owner, aces, me) & (FILE_ADD_FILE | FILE_ADD_SUBDIRECTORY | WRITE_DAC):
            return _("Other accounts may change {path}.").format(path=program)
        return None

    def take_ownership(self, folder: Path) -> None:
        _run_checked(icacls_setowner_argv(str(folder)))

    # --- paths that users may write -------------------------------------------------

    def replaceable_by_others(self, path: Path) -> str | None:
        """From the drive down to ``path``: no reparse point (link, junction, mount
        point), and no folder whose ACL lets an account other than SYSTEM,
        Administrators, TrustedInstaller or ours take an entry away and create
        another in its place, or change the ACL (:func:`others_may_replace`)."""
        me = self.own_identity()
        current = os.path.abspath(path)  # noqa: PTH100 - lexical, no link followed
        chain = [*reversed(Path(current).parents), Path(current)]
        parent_rights = None
        for entry in chain:
            attributes = _kernel32().GetFileAttributesW(extended_path(str(entry)))
            if attributes == 0xFFFFFFFF:  # INVALID_FILE_ATTRIBUTES: not there
                entry_rights = None
            else:
                # A drive's root is a volume, not a folder anyone could swap (Wine's
                # drives, links to Unix folders, say "reparse point" there).
                if attributes & FILE_ATTRIBUTE_REPARSE_POINT and entry != chain[0]:
                    return _("{path} is a link or junction.").format(path=entry)
                owner, aces = _security(str(entry))
                entry_rights = untrusted_rights(owner, aces, me)
            if parent_rights is not None and others_may_replace(parent_rights, entry_rights):
                return _("Other users may rename or replace what is in {folder}.").format(
                    folder=entry.parent
                )
            if entry_rights is None:
                break
            parent_rights = entry_rights
        return None

    def open_no_follow(self, path: Path) -> BinaryIO:
        if sys.platform != "win32":
            raise NotImplementedError("handles exist only on Windows")
        import msvcrt

        handle = _open_verified(path, GENERIC_READ)
        try:
            if _attributes(handle) & FILE_ATTRIBUTE_DIRECTORY:
                raise IsADirectoryError(21, "a folder, not a file", str(path))
            descriptor = msvcrt.open_osfhandle(handle, os.O_RDONLY | os.O_BINARY)
        except BaseException:
            _kernel32().CloseHandle(handle)
            raise
        return os.fdopen(descriptor, "rb")

    def scan_no_follow(self, folder: Path) -> list[tuple[str, bool, int]]:
        handle = _open_verified(folder, FILE_LIST_DIRECTORY | FILE_READ_ATTRIBUTES | SYNCHRONIZE)
        try:
            if not _attributes(handle) & FILE_ATTRIBUTE_DIRECTORY:
                raise NotADirectoryError(20, "not a folder", str(folder))
            entries = _list_handle(handle, folder)
        finally:
            _kernel32().CloseHandle(handle)
        found = []
        for name, attributes, size in entries:
            if attributes & FILE_ATTRIBUTE_REPARSE_POINT:
                raise LinkRefusedError(
                    ERROR_ACCESS_DENIED, "a link or junction, which the updater does not follow",
                    str(folder / name),
                )  # fmt: skip
            found.append((name, bool(attributes & FILE_ATTRIBUTE_DIRECTORY), size))
        return sorted(found)

    def remove_no_follow(self, path: Path) -> None:
        _remove_verified(path)


def _is_admin() -> bool:
    if sys.platform != "win32":
        raise OSError("only on Windows")
    import ctypes

    return bool(ctypes.windll.shell32.IsUserAnAdmin())


def _run_checked(argv: Sequence[str]) -> None:
    result = subprocess.run(list(argv), capture_output=True, creationflags=creation_flags())
    if result.returncode != 0:
        output = (result.stdout + result.stderr).decode(errors="replace").strip()
        raise OSError(result.returncode, output or f"{argv[0]} failed", argv[0])

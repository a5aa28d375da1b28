"""What the Windows registry tells the updater: the installed version of a program
(its uninstall entry's ``DisplayVersion``), saving and restoring that entry with
``reg.exe``, and whether a restart is pending.

HKLM is read through both registry views (a 32-bit installer on 64-bit Windows writes
to ``WOW6432Node``), then HKCU. ``winreg`` is only touched inside the functions that
need it, each of which starts by refusing to run elsewhere; the lookups and commands
are pure functions, tested on every OS.

May import :mod:`._win32` and :mod:`.processes` (to run ``reg.exe``).
"""

from __future__ import annotations

import ctypes
import subprocess
import sys
from ctypes import wintypes
from pathlib import Path
from typing import Any

from updater.platform.windows._win32 import (
    KEY_READ,
    KEY_WOW64_32KEY,
    KEY_WOW64_64KEY,
    advapi32,
)
from updater.platform.windows.processes import creation_flags

#: Where installers register a program, under HKEY_LOCAL_MACHINE / HKEY_CURRENT_USER.
UNINSTALL_KEY = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall"

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


# ---------------------------------------------------------------------- pure logic


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


# ---------------------------------------------------------------------- reading the registry


def _open_key(hive: str, subkey: str, access: int) -> Any:
    """``winreg.OpenKey`` of ``subkey`` under the hive named ``hive``."""
    if sys.platform != "win32":
        raise NotImplementedError("winreg exists only on Windows")
    import winreg

    hives = {
        "HKEY_LOCAL_MACHINE": winreg.HKEY_LOCAL_MACHINE,
        "HKEY_CURRENT_USER": winreg.HKEY_CURRENT_USER,
    }
    return winreg.OpenKey(hives[hive], subkey, 0, access)


def _registry_value(hive: str, subkey: str, access: int, name: str | None) -> object:
    """The value ``name`` of a registry key (``True``, the key's existence, when ``name``
    is None); ``None`` when the key or the value does not exist."""
    if sys.platform != "win32":
        raise NotImplementedError("winreg exists only on Windows")
    import winreg

    try:
        with _open_key(hive, subkey, access) as key:
            return True if name is None else winreg.QueryValueEx(key, name)[0]
    except OSError:  # FileNotFoundError when the key or the value does not exist
        return None


def _registry_multi_sz(hive: str, subkey: str, access: int, name: str) -> str | None:
    """A REG_MULTI_SZ value as its raw text, empty strings included (winreg's list stops
    at the first empty string); ``None`` when there is no such value."""
    if sys.platform != "win32":
        raise NotImplementedError("the registry exists only on Windows")
    import winreg

    query = advapi32().RegQueryValueExW
    try:
        key = _open_key(hive, subkey, access)
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


def read_registry_version(registry_key: str) -> str | None:
    """``DisplayVersion`` from the first of :func:`registry_lookups` that has one."""
    for hive, subkey, access in registry_lookups(registry_key):
        text = registry_text(_registry_value(hive, subkey, access, "DisplayVersion"))
        if text:
            return text
    return None


def pending_reboot() -> bool:
    """Whether any mark of :data:`REBOOT_PENDING` is set: the key exists, or the value
    is not empty (an empty REG_MULTI_SZ leaves nothing to do at the next start), or, for
    :data:`PENDING_RENAMES`, a file is to be replaced."""
    access = KEY_READ | KEY_WOW64_64KEY
    for hive, subkey, name in REBOOT_PENDING:
        if name == PENDING_RENAMES:
            data = _registry_multi_sz(hive, subkey, access, name)
            if data is not None and renames_pending(data):
                return True
        elif _registry_value(hive, subkey, access, name):
            return True
    return False


# ---------------------------------------------------------------------- reg.exe


def export_uninstall_entry(registry_key: str, dest: Path) -> str | None:
    """Save the program's uninstall entry into the .reg file ``dest``; returns the view
    it was found in (for :func:`import_uninstall_entry`), None when there is none."""
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


def import_uninstall_entry(source: Path, where: str) -> None:
    """Put back an uninstall entry saved by :func:`export_uninstall_entry`.

    Raises:
        OSError: ``reg import`` failed.
    """
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

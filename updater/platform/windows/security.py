"""Who is who and who may do what on Windows: accounts (SIDs), owners and DACLs read
with ``GetNamedSecurityInfoW``, the one rule that says whether accounts other than the
trusted ones may change a path, and the ``icacls`` commands that set permissions.

Trusted are SYSTEM, Administrators, TrustedInstaller and the account the updater runs
as (``me`` below); SIDs are used, never account names, which differ with the Windows
language.

May import :mod:`._win32`, :mod:`.paths` and :mod:`updater.i18n`.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Iterable
from ctypes import wintypes
from pathlib import Path
from typing import Any

from updater.i18n import _
from updater.platform.windows._win32 import (
    ACCESS_ALLOWED_ACE_TYPE,
    DACL_SECURITY_INFORMATION,
    DELETE,
    FILE_ADD_FILE,
    FILE_ADD_SUBDIRECTORY,
    FILE_ATTRIBUTE_REPARSE_POINT,
    FILE_DELETE_CHILD,
    FILE_GENERIC_WRITE,
    GENERIC_ALL,
    GENERIC_WRITE_ACCESS,
    INHERIT_ONLY_ACE,
    INVALID_FILE_ATTRIBUTES,
    OWNER_SECURITY_INFORMATION,
    PROCESS_QUERY_LIMITED_INFORMATION,
    SE_FILE_OBJECT,
    TOKEN_QUERY,
    TOKEN_USER_CLASS,
    WRITE_DAC,
    WRITE_OWNER,
    advapi32,
    closing_handle,
    error_at,
    kernel32,
    last_error,
    local_free,
)
from updater.platform.windows.paths import extended_path

#: Well-known SIDs (names differ with the Windows language; SIDs do not).
SID_ADMINISTRATORS = "S-1-5-32-544"
SID_SYSTEM = "S-1-5-18"
SID_USERS = "S-1-5-32-545"
SID_TRUSTED_INSTALLER = "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"
#: Who may change a folder without that being anyone else's doing.
TRUSTED_SIDS = frozenset({SID_SYSTEM, SID_ADMINISTRATORS, SID_TRUSTED_INSTALLER})

#: Rights on a folder that let their holder put something in it or take something out,
#: or change who may.
_WRITE_IN_FOLDER = FILE_ADD_FILE | FILE_ADD_SUBDIRECTORY | FILE_DELETE_CHILD | WRITE_DAC
#: Rights on a file that let their holder change it (FILE_WRITE_DATA and
#: FILE_APPEND_DATA are FILE_ADD_FILE and _SUBDIRECTORY's bits), or change who may.
_CHANGE_FILE = FILE_ADD_FILE | FILE_ADD_SUBDIRECTORY | WRITE_DAC


# ---------------------------------------------------------------------- the rule


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


def _others_hold(path: Path, me: str) -> tuple[str | None, int]:
    """``(owner, rights)`` of ``path``: its owner when that is not a trusted account
    (else None), and the rights others hold on it (:func:`untrusted_rights`)."""
    owner, aces = _security(str(path))
    foreign = None if owner in TRUSTED_SIDS | {me} else owner
    return foreign, untrusted_rights(owner, aces, me)


def others_may_write(folder: Path, me: str) -> str | None:
    """Why accounts other than the trusted ones may write in ``folder``, else None."""
    owner, rights = _others_hold(folder, me)
    if owner is not None:
        return _("{folder} belongs to another account ({owner}).").format(
            folder=folder, owner=owner
        )
    if rights & _WRITE_IN_FOLDER:
        return _("Other accounts may write in {folder}.").format(folder=folder)
    return None


def others_may_change(program: Path, me: str) -> str | None:
    """Why accounts other than the trusted ones may change the file ``program`` itself
    (not swap it: :func:`replaceable_by_others`), else None."""
    owner, rights = _others_hold(program, me)
    if owner is not None:
        return _("{path} belongs to another account ({owner}).").format(path=program, owner=owner)
    if rights & _CHANGE_FILE:
        return _("Other accounts may change {path}.").format(path=program)
    return None


def replaceable_by_others(path: Path, me: str) -> str | None:
    """From the drive down to ``path``: no reparse point (link, junction, mount
    point), and no folder whose ACL lets an account other than SYSTEM,
    Administrators, TrustedInstaller or ``me`` take an entry away and create
    another in its place, or change the ACL (:func:`others_may_replace`)."""
    current = os.path.abspath(path)  # noqa: PTH100 - lexical, no link followed
    chain = [*reversed(Path(current).parents), Path(current)]
    parent_rights = None
    for entry in chain:
        attributes = kernel32().GetFileAttributesW(extended_path(str(entry)))
        if attributes == INVALID_FILE_ATTRIBUTES:  # not there
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


# ---------------------------------------------------------------------- icacls commands


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


# ---------------------------------------------------------------------- Win32 layer


def _sid_text(sid: Any) -> str:
    """A SID as text (``S-1-5-18``), '' when it cannot be converted."""
    if sys.platform != "win32":
        raise NotImplementedError("ConvertSidToStringSidW exists only on Windows")
    text = wintypes.LPWSTR()
    if not advapi32().ConvertSidToStringSidW(sid, ctypes.byref(text)):
        return ""
    try:
        return str(text.value)
    finally:
        local_free(text)


def _security(path: str) -> tuple[str, list[tuple[int, int, int, str]]]:
    """The owner SID and the DACL entries ``(type, flags, mask, sid)`` of a file or
    folder (``GetNamedSecurityInfoW``; an entry whose SID is not a plain SID has '')."""
    if sys.platform != "win32":
        raise NotImplementedError("GetNamedSecurityInfoW exists only on Windows")
    advapi = advapi32()
    owner, dacl, descriptor = wintypes.LPVOID(), wintypes.LPVOID(), wintypes.LPVOID()
    error = advapi.GetNamedSecurityInfoW(
        path, SE_FILE_OBJECT, OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
        ctypes.byref(owner), None, ctypes.byref(dacl), None, ctypes.byref(descriptor),
    )  # fmt: skip
    if error:
        raise error_at(path, error)
    try:
        aces: list[tuple[int, int, int, str]] = []
        if not dacl.value:  # a NULL DACL: everyone may do anything
            return _sid_text(owner), [(ACCESS_ALLOWED_ACE_TYPE, 0, GENERIC_ALL, "S-1-1-0")]
        count = int.from_bytes(ctypes.string_at(dacl.value + 4, 2), "little")  # ACL.AceCount
        for index in range(count):
            ace = wintypes.LPVOID()
            if not advapi.GetAce(dacl, index, ctypes.byref(ace)) or not ace.value:
                continue
            header = ctypes.string_at(ace.value, 8)  # type, flags, size, mask
            kind, flags = header[0], header[1]
            mask = int.from_bytes(header[4:8], "little")
            sid = _sid_text(ace.value + 8) if kind == ACCESS_ALLOWED_ACE_TYPE else ""
            aces.append((kind, flags, mask, sid))
        return _sid_text(owner), aces
    finally:
        local_free(descriptor)


def token_sid(token: int) -> str:
    """The user SID of an access token, as text (``S-1-5-18``)."""
    if sys.platform != "win32":
        raise NotImplementedError("GetTokenInformation exists only on Windows")
    advapi = advapi32()
    size = wintypes.DWORD(0)
    advapi.GetTokenInformation(token, TOKEN_USER_CLASS, None, 0, ctypes.byref(size))
    buffer = ctypes.create_string_buffer(max(size.value, 1))
    if not advapi.GetTokenInformation(token, TOKEN_USER_CLASS, buffer, size, ctypes.byref(size)):
        raise last_error()
    sid = ctypes.cast(buffer, ctypes.POINTER(wintypes.LPVOID))[0]  # TOKEN_USER.User.Sid
    text = wintypes.LPWSTR()
    if not advapi.ConvertSidToStringSidW(sid, ctypes.byref(text)):
        raise last_error()
    try:
        return str(text.value)
    finally:
        local_free(text)


def process_sid(pid: int) -> str:
    """The user a process runs as."""
    if sys.platform != "win32":
        raise NotImplementedError("OpenProcessToken exists only on Windows")
    process = kernel32().OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
    if not process:
        raise last_error()
    with closing_handle(wintypes.HANDLE(process)):
        token = wintypes.HANDLE()
        if not advapi32().OpenProcessToken(process, TOKEN_QUERY, ctypes.byref(token)):
            raise last_error()
        with closing_handle(token):
            return token_sid(token.value or 0)


def is_admin() -> bool:
    """Whether this process runs as an administrator (or SYSTEM)."""
    if sys.platform != "win32":
        raise OSError("only on Windows")
    return bool(ctypes.windll.shell32.IsUserAnAdmin())

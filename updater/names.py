"""Every rule a relative path from outside must pass, in one place.

Zip entries, signed file lists, delta plans and the manifest's data paths all name files
by relative paths that someone else wrote. :func:`validate_entry_name` decides whether such
a path is safe on Windows and on POSIX systems; :class:`PathIndex` refuses two paths that
would land on the same file. The install side (archive, file lists, deltas), the feed side
(the manifest) and the publisher all call these rules, so this module sits below them and
imports only errors and translation.
"""

from __future__ import annotations

import re
import unicodedata

from updater.errors import ArchiveError
from updater.i18n import _

#: The longest file or directory name NTFS accepts (in UTF-16 code units).
MAX_COMPONENT_LENGTH = 255

#: Names Windows maps to devices, whatever their extension or letter case.
_DEVICE_NAMES = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{port}{digit}" for port in ("COM", "LPT") for digit in "0123456789¹²³"}
)
_FORBIDDEN_CHARS = frozenset('<>"|?*')
_DRIVE = re.compile(r"[A-Za-z]:")


def show_name(name: str) -> str:
    """Quote a name for a message, with control characters escaped."""
    return repr(name)


def _unsafe(name: str, reason: str) -> ArchiveError:
    return ArchiveError(
        _("Unsafe entry name {name}: {reason}.").format(name=show_name(name), reason=reason)
    )


def validate_entry_name(name: str) -> str:
    """Check a member name and return it as a POSIX relative path without trailing slash.

    The name must be a plain relative path that means the same thing, and lands in
    the same place, on Windows and on POSIX systems.

    Raises:
        ArchiveError: the name is empty, absolute, uses backslashes, a drive letter or
            a UNC prefix, has an empty, ``.`` or ``..`` component, names a Windows
            device, has a component ending in a dot or space or longer than
            :data:`MAX_COMPONENT_LENGTH`, contains ``:`` (alternate data streams),
            control characters, ``<>"|?*``, or is not valid Unicode.
    """
    if not name:
        raise _unsafe(name, _("it is empty"))
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise _unsafe(name, _("it is not valid Unicode")) from None
    if any(unicodedata.category(char) == "Cc" for char in name):
        raise _unsafe(name, _("it contains control characters"))
    if name.startswith(("\\\\", "//")):
        raise _unsafe(name, _("it is a network (UNC) path"))
    if "\\" in name:
        raise _unsafe(name, _("it contains a backslash"))
    if name.startswith("/"):
        raise _unsafe(name, _("it is an absolute path"))
    if _DRIVE.match(name):
        raise _unsafe(name, _("it starts with a drive letter"))
    if ":" in name:
        raise _unsafe(name, _("it contains ':' (an alternate data stream)"))
    forbidden = sorted(_FORBIDDEN_CHARS.intersection(name))
    if forbidden:
        raise _unsafe(
            name,
            _("it contains characters Windows forbids: {chars}").format(chars=" ".join(forbidden)),
        )

    path = name.removesuffix("/")
    for part in path.split("/"):
        if not part:
            raise _unsafe(name, _("it has an empty path component"))
        if part in (".", ".."):
            raise _unsafe(name, _("it has a '.' or '..' path component"))
        if len(part.encode("utf-16-le")) // 2 > MAX_COMPONENT_LENGTH:
            raise _unsafe(name, _("a path component is too long"))
        if part.endswith((".", " ")):
            raise _unsafe(name, _("a path component ends with a dot or a space"))
        if part.split(".", 1)[0].rstrip(" ").upper() in _DEVICE_NAMES:
            raise _unsafe(name, _("{part} is a reserved Windows device name").format(part=part))
    return path


def path_key(path: str) -> str:
    """The form under which two paths land on the same file on Windows or macOS.

    Case-insensitive (``str.casefold``) and Unicode-normalised (NFC), so it is stricter
    than any single file system.
    """
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", path).casefold())


class PathIndex:
    """A set of validated paths that refuses any two that would collide on disk."""

    def __init__(self) -> None:
        self._entries: dict[str, str] = {}
        self._files: dict[str, str] = {}
        self._dirs: dict[str, str] = {}

    def add(self, path: str, *, is_dir: bool = False) -> None:
        """Add a path (as returned by :func:`validate_entry_name`).

        Raises:
            ArchiveError: the path was already added, differs from another only in
                letter case or Unicode form (also in a parent directory), or is used
                both as a file and as a directory.
        """
        key = path_key(path)
        other = self._entries.get(key)
        if other is not None:
            if other == path:
                raise ArchiveError(_("The name {name} appears twice.").format(name=show_name(path)))
            raise self._case_collision(path, other)
        if not is_dir and key in self._dirs:
            raise self._file_dir_collision(path)

        parts = path.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts))]
        if is_dir:
            prefixes.append(path)
        for prefix in prefixes:
            prefix_key = path_key(prefix)
            if prefix_key in self._files:
                raise self._file_dir_collision(self._files[prefix_key])
            known = self._dirs.setdefault(prefix_key, prefix)
            if known != prefix:
                raise self._case_collision(prefix, known)

        self._entries[key] = path
        if not is_dir:
            self._files[key] = path

    @staticmethod
    def _case_collision(path: str, other: str) -> ArchiveError:
        return ArchiveError(
            _(
                "The names {name} and {other} differ only in letter case or Unicode form; "
                "they would overwrite each other on Windows."
            ).format(name=show_name(path), other=show_name(other))
        )

    @staticmethod
    def _file_dir_collision(path: str) -> ArchiveError:
        return ArchiveError(
            _("The name {name} is used both for a file and for a directory.").format(
                name=show_name(path)
            )
        )

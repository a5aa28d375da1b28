"""Every rule about hostile zip archives, in one place.

Packages are zip files, and a zip file can carry names and entries that harm the PC
that unpacks it: paths that climb out of the target directory, Windows device names,
alternate data streams, symbolic links, names that overwrite each other on a
case-insensitive file system, and members that inflate far beyond what they declare.
This module is the only place that decides what is acceptable; the publisher's tool
and the client both call it, and so will the safe extractor that will live here.

The policy is all or nothing: an archive with a single bad entry is refused as a
whole with :class:`~updater.errors.ArchiveError`. Nothing is ever renamed or skipped.
Foreign exceptions from :mod:`zipfile`, :mod:`zlib` and the OS are converted here,
with the original kept as ``__cause__``.
"""

from __future__ import annotations

import hashlib
import re
import stat
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from updater.errors import ArchiveError
from updater.i18n import _

#: Size of the pieces a member is read in.
CHUNK_SIZE = 64 * 1024

#: The longest file or directory name NTFS accepts (in UTF-16 code units).
MAX_COMPONENT_LENGTH = 255

#: Compression methods an archive may use.
ALLOWED_COMPRESSION = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})

#: Names Windows maps to devices, whatever their extension or letter case.
_DEVICE_NAMES = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{port}{digit}" for port in ("COM", "LPT") for digit in "0123456789¹²³"}
)
_FORBIDDEN_CHARS = frozenset('<>"|?*')
_DRIVE = re.compile(r"[A-Za-z]:")

_FLAG_ENCRYPTED = 0x1
_FLAG_STRONG_ENCRYPTION = 0x40
_ATTR_REPARSE_POINT = 0x400  # FILE_ATTRIBUTE_REPARSE_POINT in the MS-DOS attribute bits

#: What zipfile, zlib and the OS raise for a damaged or unreadable archive.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    OSError,
    EOFError,
    ValueError,
    NotImplementedError,
)


@dataclass(frozen=True)
class ZipMember:
    """One entry of an archive that passed every rule.

    ``path`` is the validated POSIX relative path (no trailing slash for directories);
    ``size`` is the declared uncompressed size (0 for directories).
    """

    path: str
    size: int
    is_dir: bool
    zipinfo: zipfile.ZipInfo


def _show(name: str) -> str:
    """Quote a name for a message, with control characters escaped."""
    return repr(name)


def _unsafe(name: str, reason: str) -> ArchiveError:
    return ArchiveError(
        _("Unsafe entry name {name}: {reason}.").format(name=_show(name), reason=reason)
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
                raise ArchiveError(_("The name {name} appears twice.").format(name=_show(path)))
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
            ).format(name=_show(path), other=_show(other))
        )

    @staticmethod
    def _file_dir_collision(path: str) -> ArchiveError:
        return ArchiveError(
            _("The name {name} is used both for a file and for a directory.").format(
                name=_show(path)
            )
        )


def _check_entry_kind(info: zipfile.ZipInfo) -> None:
    """Refuse encrypted, oddly compressed, and non-regular entries."""
    name = info.orig_filename
    is_dir = name.endswith("/")

    def refuse(reason: str) -> ArchiveError:
        return ArchiveError(
            _("Entry {name} of the archive is refused: {reason}.").format(
                name=_show(name), reason=reason
            )
        )

    if info.flag_bits & (_FLAG_ENCRYPTED | _FLAG_STRONG_ENCRYPTION):
        raise refuse(_("it is encrypted"))
    if info.compress_type not in ALLOWED_COMPRESSION:
        raise refuse(
            _("it uses an unsupported compression method ({method})").format(
                method=info.compress_type
            )
        )
    if info.external_attr & _ATTR_REPARSE_POINT:
        raise refuse(_("it is a Windows reparse point (link or junction)"))
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFLNK:
        raise refuse(_("it is a symbolic link"))
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise refuse(_("it is not a regular file or directory"))
    if (kind == stat.S_IFDIR) != is_dir and kind != 0:
        raise refuse(_("its type does not match its name"))
    if is_dir and info.file_size:
        raise refuse(_("it is a directory with content"))


def open_zip(zip_path: Path) -> zipfile.ZipFile:
    """Open an archive for reading.

    Raises:
        ArchiveError: the file cannot be read or is not a zip archive (damaged,
            truncated, or something else altogether).
    """
    try:
        return zipfile.ZipFile(zip_path)
    except _ZIP_ERRORS as exc:
        raise ArchiveError(
            _("{path} is not a readable zip archive: {error}").format(path=zip_path, error=exc)
        ) from exc


def list_members(
    zf: zipfile.ZipFile, *, max_files: int | None = None, max_total_size: int | None = None
) -> list[ZipMember]:
    """Check every entry of an open archive and return them in archive order.

    ``max_files`` limits the number of file entries (directories are not counted);
    ``max_total_size`` limits the sum of the files' declared uncompressed sizes.

    Raises:
        ArchiveError: any entry has an unsafe name (see :func:`validate_entry_name`),
            is encrypted, is a link or another non-regular entry, uses a compression
            method other than stored or deflated, collides with another entry (see
            :class:`PathIndex`), or a limit is exceeded.
    """
    members: list[ZipMember] = []
    index = PathIndex()
    file_count = 0
    total_size = 0
    for info in zf.infolist():
        # orig_filename is the name as stored: zipfile.ZipInfo cuts ``filename`` at
        # the first NUL and, on Windows, turns backslashes into slashes.
        path = validate_entry_name(info.orig_filename)
        is_dir = info.orig_filename.endswith("/")
        _check_entry_kind(info)
        index.add(path, is_dir=is_dir)
        if not is_dir:
            file_count += 1
            total_size += info.file_size
            if max_files is not None and file_count > max_files:
                raise ArchiveError(
                    _(
                        "The archive has more than {limit} files (limit reached at entry {name})."
                    ).format(limit=max_files, name=_show(path))
                )
            if max_total_size is not None and total_size > max_total_size:
                raise ArchiveError(
                    _(
                        "The archive's files add up to more than {limit} bytes "
                        "(limit reached at entry {name})."
                    ).format(limit=max_total_size, name=_show(path))
                )
        members.append(ZipMember(path, 0 if is_dir else info.file_size, is_dir, info))
    return members


def read_zip_listing(
    zip_path: Path, *, max_files: int | None = None, max_total_size: int | None = None
) -> list[ZipMember]:
    """Open an archive and check every entry; see :func:`list_members`.

    Raises:
        ArchiveError: the archive cannot be read or breaks any rule or limit.
    """
    with open_zip(zip_path) as zf:
        return list_members(zf, max_files=max_files, max_total_size=max_total_size)


def hash_zip_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, *, max_size: int
) -> tuple[int, str]:
    """Stream one member and return its ``(size, sha256 hex digest)``.

    Raises:
        ArchiveError: the member is encrypted or not a regular entry, it declares or
            produces more than ``max_size`` bytes, its data does not match its
            declared size or CRC, or its data is damaged.
    """
    name = _show(info.orig_filename)
    _check_entry_kind(info)
    if info.file_size > max_size:
        raise ArchiveError(
            _("Entry {name} of the archive is larger than {limit} bytes.").format(
                name=name, limit=max_size
            )
        )
    digest = hashlib.sha256()
    size = 0
    try:
        with zf.open(info) as stream:
            while chunk := stream.read(CHUNK_SIZE):
                size += len(chunk)
                if size > info.file_size:  # zipfile stops there too; never trust it alone
                    raise ArchiveError(
                        _("Entry {name} of the archive unpacks to more than {limit} bytes.").format(
                            name=name, limit=info.file_size
                        )
                    )
                digest.update(chunk)
    except _ZIP_ERRORS as exc:
        raise ArchiveError(
            _("Entry {name} of the archive cannot be read: {error}").format(name=name, error=exc)
        ) from exc
    if size != info.file_size:
        raise ArchiveError(
            _("Entry {name} of the archive has {size} bytes but declares {declared}.").format(
                name=name, size=size, declared=info.file_size
            )
        )
    return size, digest.hexdigest()

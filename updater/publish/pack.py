"""The publisher's packer: deterministic zips and the file lists that describe them.

A release of a program is a build directory (every file the program needs, relative to
its program directory). :func:`pack_directory` turns it into a zip whose bytes depend
only on the files' names, contents and execute bits, so that two packs of the same
build can be compared by hash; :func:`scan_directory` and :func:`inspect_zip` describe
a build directory or a zip from another build system as a :class:`FileList` (paths,
sizes and SHA-256 of every file), which the client uses to verify an installation.

Every name rule comes from :mod:`updater.archive`; anything a publisher must fix is
reported as :class:`~updater.errors.PublishError`, a bad serialised file list as
:class:`~updater.errors.ManifestError`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NoReturn

from updater.archive import (
    PathIndex,
    hash_zip_member,
    list_members,
    open_zip,
    validate_entry_name,
)
from updater.errors import ArchiveError, ManifestError, PublishError
from updater.i18n import _

#: Version of the file list document written by :meth:`FileList.to_json`.
SCHEMA_VERSION = 1

#: Timestamp of every entry of a packed zip (the earliest a zip can store).
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)

#: "Made by" system of every entry: Unix, so that the permission bits are meaningful.
ZIP_CREATE_SYSTEM_UNIX = 3

_CHUNK_SIZE = 1024 * 1024
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_ATTR_REPARSE_POINT = 0x400  # FILE_ATTRIBUTE_REPARSE_POINT (junctions and links on Windows)
_TOP_KEYS = frozenset({"schema_version", "file_count", "installed_size", "files"})
_FILE_KEYS = frozenset({"path", "size", "sha256"})


@dataclass(frozen=True)
class FileEntry:
    """One file of a program: POSIX path relative to the program directory, size, SHA-256."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class FileList:
    """Every file of one build of a program, sorted by path."""

    files: tuple[FileEntry, ...]

    @property
    def installed_size(self) -> int:
        """Sum of the sizes of all files, in bytes."""
        return sum(entry.size for entry in self.files)

    @property
    def file_count(self) -> int:
        """Number of files."""
        return len(self.files)

    def to_json(self) -> bytes:
        """The canonical UTF-8 JSON document of this list (same list, same bytes)."""
        document = {
            "schema_version": SCHEMA_VERSION,
            "file_count": self.file_count,
            "installed_size": self.installed_size,
            "files": [
                {"path": entry.path, "size": entry.size, "sha256": entry.sha256}
                for entry in sorted(self.files, key=lambda entry: entry.path)
            ],
        }
        text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return text.encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> FileList:
        """Parse and check a document written by :meth:`to_json`.

        Raises:
            ManifestError: the data is not UTF-8 JSON, has duplicate, missing or unknown
                keys, values of the wrong type, negative sizes, a SHA-256 that is not 64
                lowercase hex digits, an unsafe or colliding path, or a count or total
                that disagrees with the list.
        """
        try:
            document = json.loads(
                data.decode("utf-8"),
                object_pairs_hook=_no_duplicate_keys,
                parse_constant=_no_constant,
            )
        except (ValueError, RecursionError) as exc:
            _bad_list(_("it is not valid UTF-8 JSON ({error})").format(error=exc), exc)
        top = _object(document, _TOP_KEYS, _("the document"))
        if top["schema_version"] != SCHEMA_VERSION or isinstance(top["schema_version"], bool):
            _bad_list(
                _("unsupported schema version {version}").format(
                    version=json.dumps(top["schema_version"])
                )
            )
        file_count = _size(top["file_count"], "file_count")
        installed_size = _size(top["installed_size"], "installed_size")
        items = top["files"]
        if not isinstance(items, list):
            _bad_list(_("'files' is not a list"))

        entries: list[FileEntry] = []
        index = PathIndex()
        for position, item in enumerate(items):
            fields = _object(item, _FILE_KEYS, _("file {position}").format(position=position))
            path, size, sha256 = fields["path"], fields["size"], fields["sha256"]
            if not isinstance(path, str):
                _bad_list(
                    _("the path of file {position} is not a string").format(position=position)
                )
            try:
                if validate_entry_name(path) != path:
                    raise ArchiveError(_("{path} is not a file path").format(path=json.dumps(path)))
                index.add(path)
            except ArchiveError as exc:
                raise ManifestError(
                    _("The file list is not valid. {reason}").format(reason=exc.message)
                ) from exc
            if not isinstance(sha256, str) or not _SHA256_HEX.fullmatch(sha256):
                _bad_list(
                    _("the SHA-256 of {path} is not 64 lowercase hex digits").format(
                        path=json.dumps(path)
                    )
                )
            size = _size(size, _("the size of {path}").format(path=json.dumps(path)))
            entries.append(FileEntry(path, size, sha256))

        result = cls(tuple(sorted(entries, key=lambda entry: entry.path)))
        if file_count != result.file_count:
            _bad_list(
                _("it declares {declared} files but lists {actual}").format(
                    declared=file_count, actual=result.file_count
                )
            )
        if installed_size != result.installed_size:
            _bad_list(
                _("it declares {declared} bytes in total but its files add up to {actual}").format(
                    declared=installed_size, actual=result.installed_size
                )
            )
        return result


def _bad_list(reason: str, cause: BaseException | None = None) -> NoReturn:
    raise ManifestError(_("The file list is not valid: {reason}.").format(reason=reason)) from cause


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not allowed")


def _object(value: object, keys: frozenset[str], what: str) -> dict[str, Any]:
    """Return ``value`` if it is a JSON object with exactly ``keys``."""
    if not isinstance(value, dict):
        _bad_list(_("{what} is not a JSON object").format(what=what))
    missing = sorted(keys - value.keys())
    if missing:
        _bad_list(_("{what} lacks {keys}").format(what=what, keys=", ".join(missing)))
    unknown = sorted(value.keys() - keys)
    if unknown:
        _bad_list(_("{what} has unknown keys {keys}").format(what=what, keys=", ".join(unknown)))
    return value


def _size(value: object, what: str) -> int:
    """Return ``value`` if it is a non-negative integer (not a boolean)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        _bad_list(
            _("{what} must be a non-negative integer, not {value}").format(
                what=what, value=json.dumps(value)
            )
        )
    return value


# --- the build directory --------------------------------------------------------------------


@dataclass(frozen=True)
class _SourceFile:
    path: str  # validated POSIX path relative to the build directory
    source: Path
    size: int
    executable: bool


def _collect(root: Path) -> list[_SourceFile]:
    """Every regular file under ``root``, sorted by path, all names validated.

    Raises:
        PublishError: ``root`` is not a readable directory, holds no file, or holds a
            link, junction, special file, or a name that cannot be published.
    """
    try:
        if not root.is_dir():
            raise PublishError(_("{root} is not a directory.").format(root=root))
        found: list[_SourceFile] = []
        _walk(root, "", found)
    except OSError as exc:
        raise PublishError(
            _("Cannot read the build directory {root}: {error}").format(root=root, error=exc)
        ) from exc
    if not found:
        raise PublishError(_("The build directory {root} contains no files.").format(root=root))
    found.sort(key=lambda source: source.path)
    index = PathIndex()
    for source in found:
        try:
            index.add(source.path)
        except ArchiveError as exc:
            raise PublishError(
                _("The build directory {root} cannot be published: {reason}").format(
                    root=root, reason=exc.message
                )
            ) from exc
    return found


def _walk(directory: Path, prefix: str, found: list[_SourceFile]) -> None:
    with os.scandir(directory) as scan:
        entries = sorted(scan, key=lambda entry: entry.name)
    for entry in entries:
        relative = prefix + entry.name
        info = entry.stat(follow_symlinks=False)
        if stat.S_ISLNK(info.st_mode) or getattr(info, "st_file_attributes", 0) & (
            _ATTR_REPARSE_POINT
        ):
            raise PublishError(
                _(
                    "{path} is a link or junction; a build directory may contain only "
                    "regular files and directories."
                ).format(path=entry.path)
            )
        if stat.S_ISDIR(info.st_mode):
            _walk(Path(entry.path), relative + "/", found)
        elif stat.S_ISREG(info.st_mode):
            try:
                validate_entry_name(relative)
            except ArchiveError as exc:
                raise PublishError(
                    _(
                        "The build directory contains a name that cannot be published: {reason}"
                    ).format(reason=exc.message)
                ) from exc
            executable = bool(info.st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH))
            found.append(_SourceFile(relative, Path(entry.path), info.st_size, executable))
        else:
            raise PublishError(
                _("{path} is not a regular file or directory.").format(path=entry.path)
            )


def _copy_hashing(source: _SourceFile, sink: IO[bytes] | None) -> FileEntry:
    """Stream ``source`` into ``sink`` (if any) and describe what was read.

    Raises:
        PublishError: the file cannot be read or changed size since it was listed.
        OSError: writing to ``sink`` failed.
    """
    digest = hashlib.sha256()
    size = 0
    try:
        with source.source.open("rb") as stream:
            while chunk := stream.read(_CHUNK_SIZE):
                digest.update(chunk)
                size += len(chunk)
                if sink is not None:
                    sink.write(chunk)
    except OSError as exc:
        raise PublishError(
            _("Cannot read {path}: {error}").format(path=source.source, error=exc)
        ) from exc
    if size != source.size:
        raise PublishError(
            _("{path} changed while it was being read; is the build still running?").format(
                path=source.source
            )
        )
    return FileEntry(source.path, size, digest.hexdigest())


def scan_directory(root: Path) -> FileList:
    """Describe every file of a build directory.

    Raises:
        PublishError: the directory cannot be read, holds no file, holds a link,
            junction or special file, a name :func:`updater.archive.validate_entry_name`
            refuses, names that collide on Windows, or a file changes while read.
    """
    return FileList(tuple(_copy_hashing(source, None) for source in _collect(root)))


def _zip_info(source: _SourceFile) -> zipfile.ZipInfo:
    """The fixed header of one packed file: only its name, size and execute bit vary."""
    info = zipfile.ZipInfo(source.path, date_time=ZIP_DATE_TIME)
    info.create_system = ZIP_CREATE_SYSTEM_UNIX
    info.external_attr = (stat.S_IFREG | (0o755 if source.executable else 0o644)) << 16
    info.compress_type = zipfile.ZIP_DEFLATED  # zlib's default level (6)
    info.file_size = source.size  # lets zipfile choose ZIP64 for large files
    return info


def _write_zip(stream: IO[bytes], sources: Iterable[_SourceFile]) -> list[FileEntry]:
    entries: list[FileEntry] = []
    with zipfile.ZipFile(stream, "w", allowZip64=True) as zf:
        for source in sources:
            with zf.open(_zip_info(source), "w") as member:
                entries.append(_copy_hashing(source, member))
    return entries


def pack_directory(root: Path, dest: Path) -> FileList:
    """Pack a build directory into a deterministic zip at ``dest`` and describe it.

    The zip holds only files (no directory entries), sorted by path, each dated
    1980-01-01 00:00:00, made by Unix with mode 0o644 (0o755 if the source has any
    execute bit), deflated at zlib's default level, without extra fields (except ZIP64
    where needed) or comments; so the same files give the same bytes whatever their
    timestamps, owner, umask or directory order. The output is bit-for-bit stable for
    one zlib implementation. ``dest`` is replaced atomically; on failure it is left
    as it was.

    Raises:
        PublishError: as :func:`scan_directory`; ``dest`` is inside ``root``; or the
            zip cannot be written.
    """
    if dest.resolve().is_relative_to(root.resolve()):
        raise PublishError(
            _("The package {dest} cannot be written inside the build directory {root}.").format(
                dest=dest, root=root
            )
        )
    sources = _collect(root)
    try:
        fd, temp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
        temp = Path(temp_name)
        try:
            with os.fdopen(fd, "wb") as stream:
                entries = _write_zip(stream, sources)
                stream.flush()
                os.fsync(stream.fileno())
            temp.chmod(0o644)
            temp.replace(dest)  # atomic, like os.replace
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
    except (OSError, zipfile.LargeZipFile, RuntimeError) as exc:
        raise PublishError(
            _("Cannot write the package {dest}: {error}").format(dest=dest, error=exc)
        ) from exc
    return FileList(tuple(entries))


def inspect_zip(zip_path: Path) -> FileList:
    """Describe a zip made by another build system, checking it as a client would.

    Directory entries are accepted but not listed.

    Raises:
        PublishError: the zip cannot be read, holds no file, or breaks any rule of
            :mod:`updater.archive` (the :class:`~updater.errors.ArchiveError` is
            chained).
    """
    try:
        with open_zip(zip_path) as zf:
            entries = [
                FileEntry(member.path, *hash_zip_member(zf, member.zipinfo, max_size=member.size))
                for member in list_members(zf)
                if not member.is_dir
            ]
    except ArchiveError as exc:
        raise PublishError(
            _("The zip {path} cannot be published: {reason}").format(
                path=zip_path, reason=exc.message
            )
        ) from exc
    if not entries:
        raise PublishError(_("The zip {path} contains no files.").format(path=zip_path))
    return FileList(tuple(sorted(entries, key=lambda entry: entry.path)))

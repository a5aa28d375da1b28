"""The publisher's packer: deterministic zips and the file lists that describe them.

A release of a program is a build directory (every file the program needs, relative to
its program directory). :func:`pack_directory` turns it into a zip whose bytes depend
only on the files' names, contents and execute bits, so that two packs of the same
build can be compared by hash; :func:`scan_directory` and :func:`inspect_zip` describe
a build directory or a zip from another build system as a :class:`FileList` (paths,
sizes and SHA-256 of every file), which the client uses to verify an installation.

Every name rule comes from :mod:`updater.install.archive`; anything a publisher must fix is
reported as :class:`~updater.errors.PublishError`, a bad serialised file list as
:class:`~updater.errors.ManifestError`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from updater.errors import ArchiveError, PublishError
from updater.i18n import _
from updater.install.archive import hash_zip_member, list_members, open_zip
from updater.install.filelist import SCHEMA_VERSION, FileEntry, FileList
from updater.names import PathIndex, validate_entry_name

__all__ = [
    "SCHEMA_VERSION",
    "FileEntry",
    "FileList",
    "inspect_zip",
    "pack_directory",
    "scan_directory",
]

#: Timestamp of every entry of a packed zip (the earliest a zip can store).
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)

#: "Made by" system of every entry: Unix, so that the permission bits are meaningful.
ZIP_CREATE_SYSTEM_UNIX = 3

_CHUNK_SIZE = 1024 * 1024
_ATTR_REPARSE_POINT = 0x400  # FILE_ATTRIBUTE_REPARSE_POINT (junctions and links on Windows)


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
            junction or special file, a name :func:`updater.names.validate_entry_name`
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
            :mod:`updater.install.archive` (the :class:`~updater.errors.ArchiveError` is
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

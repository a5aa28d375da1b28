"""File lists: the path, size and SHA-256 of every file of a program directory.

A release's file list is a signed target of the feed (written by the publisher's
packer); the engine uses file lists to prove that what it staged, installed or restored
is exactly what it should be. This module is shared by both sides.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from updater.errors import ArchiveError, ManifestError
from updater.i18n import _
from updater.names import PathIndex, validate_entry_name

#: Version of the file list document written by :meth:`FileList.to_json`.
SCHEMA_VERSION = 1

_CHUNK_SIZE = 1024 * 1024
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
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


#: Called with (bytes hashed so far, total bytes) while a tree is described.
Progress = Callable[[int, int], None]

_ATTR_REPARSE_POINT = 0x400  # FILE_ATTRIBUTE_REPARSE_POINT (junctions and links on Windows)


def regular_files(root: Path) -> list[tuple[str, Path, int]]:
    """Every regular file under ``root`` as (POSIX relative path, path, size), sorted;
    empty folders are not listed.

    Raises:
        ArchiveError: ``root`` holds a link, junction or special file (the updater does
            not move what it cannot prove it restores).
        OSError: a folder cannot be read.
    """
    return [(relative, path, info.st_size) for relative, path, info in _walk(root)]


def file_stamps(root: Path) -> dict[str, tuple[int, int]]:
    """Every regular file under ``root``: POSIX relative path -> (size, modification
    time in ns), from one ``lstat`` each (no file is opened).

    Raises:
        ArchiveError, OSError: as :func:`regular_files`.
    """
    return {relative: (info.st_size, info.st_mtime_ns) for relative, _path, info in _walk(root)}


def _walk(root: Path) -> list[tuple[str, Path, os.stat_result]]:
    found: list[tuple[str, Path, os.stat_result]] = []
    pending = [(root, "")]
    while pending:
        directory, prefix = pending.pop()
        with os.scandir(directory) as scan:
            for entry in scan:
                info = entry.stat(follow_symlinks=False)
                relative = prefix + entry.name
                if stat.S_ISLNK(info.st_mode) or getattr(info, "st_file_attributes", 0) & (
                    _ATTR_REPARSE_POINT
                ):
                    raise ArchiveError(
                        _("{path} is a link or junction, which the updater does not copy.").format(
                            path=entry.path
                        )
                    )
                if stat.S_ISDIR(info.st_mode):
                    pending.append((Path(entry.path), relative + "/"))
                elif stat.S_ISREG(info.st_mode):
                    found.append((relative, Path(entry.path), info))
                else:
                    raise ArchiveError(
                        _("{path} is not a regular file or directory.").format(path=entry.path)
                    )
    return sorted(found)


def describe_tree(root: Path, *, progress: Progress | None = None) -> FileList:
    """The file list of what is in ``root`` now (regular files only, hashed streaming).

    Raises:
        ArchiveError: as :func:`regular_files`.
        OSError: a file cannot be read.
    """
    found = regular_files(root)
    total = sum(size for _path, _source, size in found)
    done = 0

    def on_chunk(count: int) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(done, total)

    entries: list[FileEntry] = []
    for relative, source, _size_hint in sorted(found):
        size, sha256 = hash_file(source, on_chunk)
        entries.append(FileEntry(relative, size, sha256))
    return FileList(tuple(entries))


def hash_file(path: Path, on_chunk: Callable[[int], None] | None = None) -> tuple[int, str]:
    """The size and SHA-256 (hex) of a file, read in chunks; ``on_chunk`` gets the size
    of each chunk read.

    Raises:
        OSError: the file cannot be read.
    """
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
            if on_chunk is not None:
                on_chunk(len(chunk))
    return size, digest.hexdigest()

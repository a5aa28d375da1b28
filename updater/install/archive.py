"""Every rule about hostile zip archives, in one place.

Packages are zip files, and a zip file can carry names and entries that harm the PC
that unpacks it: paths that climb out of the target directory, Windows device names,
alternate data streams, symbolic links, names that overwrite each other on a
case-insensitive file system, and members that inflate far beyond what they declare.
This module is the only place that decides what is acceptable; the publisher's tool
and the client both call it, and the client's safe extractor (:func:`extract_zip`) and
tree check (:func:`verify_tree`) live here too.

The policy is all or nothing: an archive with a single bad entry is refused as a
whole with :class:`~updater.errors.ArchiveError`. Nothing is ever renamed or skipped.
Foreign exceptions from :mod:`zipfile`, :mod:`zlib` and the OS are converted here,
with the original kept as ``__cause__``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import sys
import zipfile
import zlib
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from updater.errors import ArchiveError
from updater.fsutil import remove_tree
from updater.i18n import _
from updater.install.filelist import FileEntry, FileList
from updater.names import PathIndex, path_key, show_name, validate_entry_name
from updater.platform import current as current_platform

#: Size of the pieces a member is read in.
CHUNK_SIZE = 64 * 1024

#: Compression methods an archive may use.
ALLOWED_COMPRESSION = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})

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


def _check_entry_kind(info: zipfile.ZipInfo) -> None:
    """Refuse encrypted, oddly compressed, and non-regular entries."""
    name = info.orig_filename
    is_dir = name.endswith("/")

    def refuse(reason: str) -> ArchiveError:
        return ArchiveError(
            _("Entry {name} of the archive is refused: {reason}.").format(
                name=show_name(name), reason=reason
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
                    ).format(limit=max_files, name=show_name(path))
                )
            if max_total_size is not None and total_size > max_total_size:
                raise ArchiveError(
                    _(
                        "The archive's files add up to more than {limit} bytes "
                        "(limit reached at entry {name})."
                    ).format(limit=max_total_size, name=show_name(path))
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
    name = show_name(info.orig_filename)
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


# --- the safe extractor ------------------------------------------------------------------------

#: Called with ``(bytes written so far, total bytes expected)`` after each chunk written.
ProgressCallback = Callable[[int, int], None]

#: How many names a message lists before it says "and N more".
_SHOWN_NAMES = 5

_EXECUTABLE_BITS = stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH

#: Mode of an unpacked file whose entry has an execute bit (never setuid, setgid, sticky).
_EXECUTABLE_MODE = 0o755


@dataclass(frozen=True)
class ExtractLimits:
    """Bounds an archive's directory must keep before a single byte is unpacked.

    ``max_files`` is the manifest's ``file_count`` (directory entries are not counted);
    ``max_total_size`` is its ``installed_size``, compared with the sum of the files'
    declared uncompressed sizes.
    """

    max_files: int
    max_total_size: int

    @classmethod
    def of(cls, expected: FileList) -> ExtractLimits:
        """The limits a file list implies: its own number of files and total size."""
        return cls(max_files=expected.file_count, max_total_size=expected.installed_size)


def extract_zip(
    zip_path: Path,
    dest: Path,
    expected: FileList,
    *,
    progress: ProgressCallback | None = None,
    durable: bool = True,
    limits: ExtractLimits | None = None,
) -> None:
    """Unpack a package into the new folder ``dest``, all or nothing.

    The archive is opened once and every entry is checked (see :func:`list_members`,
    with ``limits``, by default :meth:`ExtractLimits.of` ``expected``) before anything
    is written; its files must then be exactly those of ``expected``, with the same
    names and declared sizes. Each file is streamed in :data:`CHUNK_SIZE` pieces into a
    file that must not exist yet (never following or overwriting anything), cut off as
    soon as it outgrows its expected size, and compared with the expected SHA-256.
    Directory entries create (empty) folders. Permissions are not copied, except that a
    file whose entry has an execute bit gets mode 0o755 on POSIX systems.

    ``progress`` is called with ``(0, total)`` first and after each chunk written;
    ``total`` is ``expected.installed_size``. An exception it raises stops the
    extraction (``dest`` is removed) and is passed on unchanged. With ``durable`` (the
    default) the whole tree is made durable before this returns, in one batch once the
    last file is written (:meth:`~updater.platform.base.Platform.flush_tree`).

    Raises:
        ArchiveError: ``dest`` already exists (it is left untouched); the archive
            cannot be read, is damaged, or breaks a rule of this module or a limit; it
            does not hold exactly the expected files, or a file differs in size or
            SHA-256; or a file or folder cannot be written (the :class:`OSError`, with
            its ``errno`` such as ``ENOSPC`` or ``EACCES``, is the ``__cause__``). In
            every case but the first, ``dest`` has been removed.
    """
    if os.path.lexists(dest):
        raise ArchiveError(
            _(
                "The folder {path} already exists; a package is only unpacked into a new folder."
            ).format(path=dest)
        )
    try:
        dest.mkdir(parents=True)
    except OSError as exc:  # also when something appeared since the check above
        raise _cannot_create(dest, exc) from exc
    try:
        _extract(zip_path, dest, expected, limits or ExtractLimits.of(expected), progress, durable)
    except BaseException as exc:
        try:
            remove_tree(dest)
        except OSError as cleanup:
            exc.add_note(
                _("The partly unpacked folder {path} could not be removed: {error}").format(
                    path=dest, error=cleanup
                )
            )
        raise


def _extract(
    zip_path: Path,
    dest: Path,
    expected: FileList,
    limits: ExtractLimits,
    progress: ProgressCallback | None,
    durable: bool,
) -> None:
    total = expected.installed_size
    written = 0
    if progress is not None:
        progress(written, total)
    with open_zip(zip_path) as zf:
        members = list_members(zf, max_files=limits.max_files, max_total_size=limits.max_total_size)
        plan = _match_file_list(members, expected)
        folders = _Folders(dest)
        files: list[Path] = []
        for member in members:
            if member.is_dir:
                folders.make(member.path)
                continue
            target = folders.make_parent(member.path)
            writer = _unpack_member(zf, member, plan[member.path], target)
            with contextlib.closing(writer) as chunks:
                for count in chunks:
                    written += count
                    if progress is not None:
                        progress(written, total)
            files.append(target)
    if durable:
        try:
            current_platform.flush_tree(dest, files, folders.made())
        except OSError as exc:
            raise _cannot_write(dest, exc) from exc


def _match_file_list(members: Iterable[ZipMember], expected: FileList) -> dict[str, FileEntry]:
    """Pair every file member with its entry of ``expected``, by path.

    Paths are matched by :func:`path_key`, so that a name that differs only in letter
    case or Unicode form is reported as such rather than as one missing and one extra
    file; such a name is refused all the same.

    Raises:
        ArchiveError: ``expected`` names a file twice, a file is missing from the
            archive or not in the list, a name differs from the listed one, or a
            member declares another size than the list.
    """
    wanted: dict[str, FileEntry] = {}
    for entry in expected.files:
        if wanted.setdefault(path_key(entry.path), entry) is not entry:
            raise ArchiveError(
                _("The name {name} appears twice.").format(name=show_name(entry.path))
            )
    found = {path_key(member.path): member for member in members if not member.is_dir}
    missing = sorted(entry.path for key, entry in wanted.items() if key not in found)
    extra = sorted(member.path for key, member in found.items() if key not in wanted)
    if missing or extra:
        raise ArchiveError(
            _("The archive does not match its file list ({problems}).").format(
                problems=_differences(missing=missing, extra=extra)
            )
        )
    plan: dict[str, FileEntry] = {}
    for key, member in found.items():
        entry = wanted[key]
        if member.path != entry.path:
            raise ArchiveError(
                _("Entry {name} of the archive is named {listed} in the file list.").format(
                    name=show_name(member.path), listed=show_name(entry.path)
                )
            )
        if member.size != entry.size:
            raise ArchiveError(
                _(
                    "Entry {name} of the archive declares {declared} bytes "
                    "but the file list says {size}."
                ).format(name=show_name(member.path), declared=member.size, size=entry.size)
            )
        plan[member.path] = entry
    return plan


def _unpack_member(
    zf: zipfile.ZipFile, member: ZipMember, entry: FileEntry, target: Path
) -> Generator[int, None, None]:
    """Stream one file member into the new file ``target``; yield each chunk's size.

    Raises:
        ArchiveError: ``target`` exists already or cannot be written, the member
            cannot be read, or it does not unpack to exactly ``entry``.
    """
    name = show_name(member.path)
    digest = hashlib.sha256()
    size = 0
    try:
        # "x": exclusive creation, which neither follows nor replaces anything there.
        with target.open("xb") as sink, _open_member(zf, member) as stream:
            while chunk := _read_chunk(stream, member):
                if size + len(chunk) > entry.size:  # a bomb: stop before writing past it
                    raise ArchiveError(
                        _("Entry {name} of the archive unpacks to more than {limit} bytes.").format(
                            name=name, limit=entry.size
                        )
                    )
                sink.write(chunk)
                digest.update(chunk)
                size += len(chunk)
                yield len(chunk)
            if size != member.size:
                raise ArchiveError(
                    _(
                        "Entry {name} of the archive has {size} bytes but declares {declared}."
                    ).format(name=name, size=size, declared=member.size)
                )
            if digest.hexdigest() != entry.sha256:
                raise ArchiveError(
                    _(
                        "Entry {name} of the archive does not match the SHA-256 in its file list."
                    ).format(name=name)
                )
            sink.flush()  # so that closing has nothing left to fail on
            if sys.platform != "win32" and (member.zipinfo.external_attr >> 16) & _EXECUTABLE_BITS:
                os.fchmod(sink.fileno(), _EXECUTABLE_MODE)
    except OSError as exc:  # reading the archive is converted by the helpers
        raise _cannot_write(target, exc) from exc


def _open_member(zf: zipfile.ZipFile, member: ZipMember) -> IO[bytes]:
    try:
        return zf.open(member.zipinfo)
    except _ZIP_ERRORS as exc:
        raise _unreadable(member, exc) from exc


def _read_chunk(stream: IO[bytes], member: ZipMember) -> bytes:
    try:
        return stream.read(CHUNK_SIZE)
    except _ZIP_ERRORS as exc:
        raise _unreadable(member, exc) from exc


def _unreadable(member: ZipMember, exc: BaseException) -> ArchiveError:
    return ArchiveError(
        _("Entry {name} of the archive cannot be read: {error}").format(
            name=show_name(member.path), error=exc
        )
    )


def _cannot_write(path: Path, exc: OSError) -> ArchiveError:
    return ArchiveError(_("Cannot write {path}: {error}").format(path=path, error=exc))


def _cannot_create(path: Path, exc: OSError) -> ArchiveError:
    return ArchiveError(_("Cannot create the folder {path}: {error}").format(path=path, error=exc))


class _Folders:
    """The folders of one extraction: each created once, below the root, never reused."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._made: dict[str, Path] = {}

    def make(self, path: str) -> Path:
        """Create the folder ``path`` (validated, relative) and its parents; return it.

        A folder that already exists and was not made here is refused: in a new
        root it can only have been put there by someone else, maybe as a link.
        """
        folder = self._root
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            relative = "/".join(parts[:depth])
            known = self._made.get(relative)
            if known is None:
                known = folder / parts[depth - 1]
                try:
                    known.mkdir()
                except OSError as exc:
                    raise _cannot_create(known, exc) from exc
                self._made[relative] = known
            folder = known
        return folder

    def make_parent(self, path: str) -> Path:
        """Create the parent folders of the file ``path``; return the file's full path."""
        parent, _sep, name = path.rpartition("/")
        return (self.make(parent) if parent else self._root) / name

    def made(self) -> list[Path]:
        """The folders made, the root last (a folder's entries before its parent's)."""
        return [*reversed(self._made.values()), self._root]


# --- checking an unpacked tree ---------------------------------------------------------------


def verify_tree(root: Path, expected: FileList, *, contents: bool = True) -> None:
    """Check that the folder ``root`` holds exactly the files of ``expected``.

    Every regular file below ``root`` must be listed, with the same path (letter case
    included), size and SHA-256 (with ``contents=False`` the size only: one ``stat`` per
    file instead of reading it), and every listed file must be there. Folders are not
    compared (an empty folder is fine). Links, junctions and other special entries are
    refused wherever they are. Files are hashed in a stream and opened without following
    links.

    Raises:
        ArchiveError: ``root`` is not a readable folder, a file cannot be read, or the
            tree differs; the message names the missing, extra and changed files and
            the links (the first few of each).
    """
    files: dict[str, Path] = {}
    links: list[str] = []
    changed: list[str] = []
    missing: list[str] = []
    try:
        info = root.lstat()
        if _is_link(info) or not stat.S_ISDIR(info.st_mode):
            raise ArchiveError(_("{root} is not a directory.").format(root=root))
        _walk_tree(root, "", files, links)
        for entry in expected.files:
            path = files.pop(entry.path, None)
            if path is None:
                missing.append(entry.path)
            elif not _has_content(path, entry, hash_it=contents):
                changed.append(entry.path)
    except OSError as exc:
        raise ArchiveError(
            _("Cannot read {path}: {error}").format(path=exc.filename or root, error=exc)
        ) from exc
    extra = sorted(files)
    if missing or extra or changed or links:
        raise ArchiveError(
            _("The folder {path} does not match its file list ({problems}).").format(
                path=root,
                problems=_differences(
                    missing=sorted(missing), extra=extra, changed=sorted(changed), links=links
                ),
            )
        )


def _is_link(info: os.stat_result) -> bool:
    """A symbolic link, or a Windows reparse point (junction, mount point, link)."""
    return stat.S_ISLNK(info.st_mode) or bool(
        getattr(info, "st_file_attributes", 0) & _ATTR_REPARSE_POINT
    )


def _walk_tree(folder: Path, prefix: str, files: dict[str, Path], links: list[str]) -> None:
    """Collect the regular files below ``folder``; links and special entries go to ``links``."""
    with os.scandir(folder) as scan:
        entries = sorted(scan, key=lambda entry: entry.name)
    for entry in entries:
        relative = prefix + entry.name
        info = entry.stat(follow_symlinks=False)
        if _is_link(info):
            links.append(relative)
        elif stat.S_ISDIR(info.st_mode):
            _walk_tree(Path(entry.path), relative + "/", files, links)
        elif stat.S_ISREG(info.st_mode):
            files[relative] = Path(entry.path)
        else:
            links.append(relative)


def _has_content(path: Path, entry: FileEntry, *, hash_it: bool = True) -> bool:
    """Whether the regular file at ``path`` has ``entry``'s size and SHA-256 (or, without
    ``hash_it``, its size)."""
    if not hash_it:
        info = path.lstat()
        return stat.S_ISREG(info.st_mode) and info.st_size == entry.size
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
    with open(os.open(path, flags), "rb") as stream:  # noqa: PTH123 (a descriptor)
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size != entry.size:
            return False
        return hashlib.file_digest(stream, "sha256").hexdigest() == entry.sha256


def _differences(
    *,
    missing: list[str],
    extra: list[str],
    changed: list[str] | None = None,
    links: list[str] | None = None,
) -> str:
    """One phrase per kind of difference, each naming the first few paths."""
    groups = [
        (_("missing: {names}"), missing),
        (_("not in the list: {names}"), extra),
        (_("changed: {names}"), changed or []),
        (_("links or special files: {names}"), links or []),
    ]
    return "; ".join(label.format(names=_names(paths)) for label, paths in groups if paths)


def _names(paths: list[str]) -> str:
    shown = ", ".join(show_name(path) for path in paths[:_SHOWN_NAMES])
    if len(paths) > _SHOWN_NAMES:
        return _("{names} and {count} more").format(names=shown, count=len(paths) - _SHOWN_NAMES)
    return shown

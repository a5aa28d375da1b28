"""Delta packages: a new version rebuilt from the installed one plus binary patches.

A delta package is a zip (stored, its members are compressed already) made by the
publisher (:mod:`updater.publish.delta`) for one base version. Its plan,
``delta.json.zst``, says how to make each file of the new version that is not simply
the installed file of the same path:

``same``
    copy the installed file ``base`` (same content, moved or renamed);
``patch``
    apply the bytes ``offset`` to ``offset + length`` of ``patches.zst`` (one zstd
    stream holding every patch, so that what patches share is compressed once) to the
    installed file ``base``, with ``codec`` ``zstd`` (a frame that uses ``base`` as its
    dictionary: zstd's patch-from mode with long-distance matching) or ``bsdiff``;
``full``
    decompress the member ``member`` (the whole file, zstd).

Every other file of the release's file list is copied from the installed file of the
same path; installed files that are not in the release are not carried over (they were
deleted). ``patches.zst`` is one zstd frame (with or without its content size), read
front to back: the patches of a plan may come in any order of files but must not
overlap, and the stream must end where the last one does.

The package is a TUF target like every other, and every rebuilt file is checked against
the SHA-256 of the release's signed file list, so a delta can save bytes but cannot
change what gets installed. When the installed files are not what the delta was made
from (the shop's install was changed by hand), :class:`DeltaBaseError` says so and the
caller falls back to the full package.

The codec functions are shared by the publisher and the client.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
import stat
import sys
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, TypeVar, cast

import bsdiff4
import zstandard

from updater.errors import ArchiveError, IntegrityError, UpdaterError
from updater.fsutil import remove_tree
from updater.i18n import _
from updater.install.filelist import FileEntry, FileList
from updater.names import path_key, validate_entry_name
from updater.platform import current as current_platform

__all__ = [
    "FORMAT",
    "PATCHES_NAME",
    "PLAN_NAME",
    "DeltaBaseError",
    "DeltaFile",
    "DeltaPlan",
    "apply_patch",
    "build_from_delta",
    "compress_full",
    "decompress_full",
    "make_bsdiff",
    "make_patch",
]

FORMAT = 1
PLAN_NAME = "delta.json.zst"
PATCHES_NAME = "patches.zst"
#: The plan and the patches together may not decompress to more than this.
MAX_PLAN_SIZE = 256 * 2**20
#: Hex digits of a base file's SHA-256 kept in the plan: enough to notice a changed
#: install (the made file is checked against the full SHA-256 of the signed list).
BASE_HASH_DIGITS = 16
#: zstd's largest window (2 GiB): a file and its base together must fit in it.
MAX_WINDOW_LOG = 31
DEFAULT_LEVEL = 19
#: A delta is worth downloading (and publishing) only when it is at most this share of
#: the full package's size.
DELTA_MAX_SHARE = 0.75

Op = Literal["same", "patch", "full"]
Codec = Literal["zstd", "bsdiff"]
_OPS: tuple[Op, ...] = ("same", "patch", "full")
_CODECS: tuple[Codec, ...] = ("zstd", "bsdiff")
_EXECUTABLE_MODE = 0o755


class DeltaBaseError(UpdaterError):
    """The installed files are not those the delta was made from."""

    code = "delta.base"


@dataclass(frozen=True)
class DeltaFile:
    """How one file of the new version is made (see the module's description)."""

    path: str
    op: Op
    base: str | None = None
    base_hash: str | None = None
    member: str | None = None
    executable: bool = False
    offset: int = 0
    length: int = 0
    #: For ``patch``: ``zstd`` (patch-from) or ``bsdiff`` (bsdiff4), whichever the
    #: publisher found smaller for this file.
    codec: Codec = "zstd"


@dataclass(frozen=True)
class DeltaPlan:
    """``delta.json``: the new version's files, from ``from_version`` to ``to_version``."""

    product: str
    from_version: str
    to_version: str
    files: tuple[DeltaFile, ...]

    def to_json(self) -> bytes:
        """The plan, compactly: files copied from their own path are left out, ``base``
        only when it is not ``path``, a short base hash only for patches (a copied file
        is checked against the release's file list)."""
        files = []
        for f in self.files:
            if f.op == "same" and f.base == f.path:
                continue
            item: dict[str, Any] = {"path": f.path, "op": f.op}
            if f.base is not None and f.base != f.path:
                item["base"] = f.base
            if f.op == "patch":
                item.update(base_hash=f.base_hash, codec=f.codec, offset=f.offset, length=f.length)
            if f.member is not None:
                item["member"] = f.member
            if f.executable:
                item["executable"] = True
            files.append(item)
        document = {
            "format": FORMAT,
            "product": self.product,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "files": files,
        }
        return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> DeltaPlan:
        """Parse and check ``delta.json``.

        Raises:
            IntegrityError: not a delta plan this updater understands, or unsafe names.
        """
        try:
            raw: Any = json.loads(data)
            if raw["format"] != FORMAT:
                raise ValueError(f"format {raw['format']!r}")
            files = []
            for item in raw["files"]:
                op = item["op"]
                if op not in _OPS:
                    raise ValueError(f"op {op!r}")
                path = validate_entry_name(str(item["path"]))
                member = item.get("member")
                if (op == "full") != (member is not None):
                    raise ValueError(f"{path}: member")
                codec = item.get("codec", "zstd")
                if codec not in _CODECS:
                    raise ValueError(f"{path}: codec {codec!r}")
                base = None
                if op in ("same", "patch"):
                    base = validate_entry_name(str(item.get("base", path)))
                offset, length = int(item.get("offset", 0)), int(item.get("length", 0))
                if offset < 0 or length < 0:
                    raise ValueError(f"{path}: offset")
                files.append(
                    DeltaFile(
                        path=path,
                        op=op,
                        base=base,
                        base_hash=str(item["base_hash"]) if op == "patch" else None,
                        member=None if member is None else str(member),
                        executable=item.get("executable") is True,
                        codec=codec,
                        offset=offset,
                        length=length,
                    )
                )
            return cls(
                product=str(raw["product"]),
                from_version=str(raw["from_version"]),
                to_version=str(raw["to_version"]),
                files=tuple(files),
            )
        except (ValueError, TypeError, KeyError, ArchiveError) as exc:
            raise IntegrityError(
                _("The delta package is not valid: {error}").format(error=exc)
            ) from exc


# --- the codec ----------------------------------------------------------------------------


def window_log(*sizes: int) -> int:
    return max(10, min(MAX_WINDOW_LOG, (sum(sizes) + 1).bit_length()))


def make_patch(old: bytes, new: bytes, level: int = DEFAULT_LEVEL) -> bytes:
    """A zstd frame of ``new`` that uses ``old`` as its dictionary (zstd --patch-from)."""
    params = zstandard.ZstdCompressionParameters.from_level(
        level, window_log=window_log(len(old), len(new)), enable_ldm=True, write_checksum=True
    )
    dictionary = zstandard.ZstdCompressionDict(old, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    compressor = zstandard.ZstdCompressor(dict_data=dictionary, compression_params=params)
    return compressor.compress(new)


def make_bsdiff(old: bytes, new: bytes) -> bytes:
    """A bsdiff4 patch (better than zstd for code whose addresses moved)."""
    return bytes(bsdiff4.diff(old, new))


def apply_patch(old: bytes, patch: bytes, size: int, codec: Codec = "zstd") -> bytes:
    """The file the patch was made from (it must be ``size`` bytes).

    Raises:
        IntegrityError: the patch is damaged or does not fit ``old``.
    """
    if codec == "bsdiff":
        return _apply_bsdiff(old, patch, size)
    dictionary = zstandard.ZstdCompressionDict(old, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    decompressor = zstandard.ZstdDecompressor(
        dict_data=dictionary, max_window_size=2**MAX_WINDOW_LOG
    )
    try:
        return decompressor.decompress(patch, max_output_size=size)
    except zstandard.ZstdError as exc:
        raise IntegrityError(
            _("A patch of the delta package is damaged: {error}").format(error=exc)
        ) from exc


def _apply_bsdiff(old: bytes, patch: bytes, size: int) -> bytes:
    # The header says how big the result is; refuse before bsdiff4 allocates it.
    if len(patch) < 32 or patch[:8] != b"BSDIFF40" or _offtin(patch[24:32]) != size:
        raise IntegrityError(
            _("A patch of the delta package is damaged: {error}").format(error="bsdiff header")
        )
    try:
        return bytes(bsdiff4.patch(old, patch))
    except (ValueError, OSError) as exc:
        raise IntegrityError(
            _("A patch of the delta package is damaged: {error}").format(error=exc)
        ) from exc


def _offtin(raw: bytes) -> int:
    """bsdiff's signed 64-bit integer: little-endian magnitude, sign in the top bit."""
    value = int.from_bytes(raw, "little")
    return -(value & ~(1 << 63)) if value & (1 << 63) else value


def compress_full(new: bytes, level: int = DEFAULT_LEVEL) -> bytes:
    """The whole file, zstd-compressed (for files a patch does not make smaller)."""
    params = zstandard.ZstdCompressionParameters.from_level(
        level, window_log=window_log(len(new)), enable_ldm=True, write_checksum=True
    )
    return zstandard.ZstdCompressor(compression_params=params).compress(new)


def decompress_full(data: bytes, size: int) -> bytes:
    """Raises IntegrityError when ``data`` is damaged."""
    decompressor = zstandard.ZstdDecompressor(max_window_size=2**MAX_WINDOW_LOG)
    try:
        return decompressor.decompress(data, max_output_size=size)
    except zstandard.ZstdError as exc:
        raise IntegrityError(
            _("A file of the delta package is damaged: {error}").format(error=exc)
        ) from exc


# --- the client side ----------------------------------------------------------------------


def read_plan(delta_zip: Path) -> DeltaPlan:
    """The plan of a delta package.

    Raises:
        IntegrityError: the package is not a readable delta package.
    """
    try:
        with zipfile.ZipFile(delta_zip) as zf:
            return DeltaPlan.from_json(_decompress(zf.read(PLAN_NAME), MAX_PLAN_SIZE))
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise IntegrityError(
            _("The delta package cannot be read: {error}").format(error=exc)
        ) from exc


def build_from_delta(
    delta_zip: Path,
    base_dir: Path,
    dest: Path,
    expected: FileList,
    *,
    progress: Callable[[int, int], None] | None = None,
    durable: bool = True,
) -> None:
    """Make the new version in the new folder ``dest`` from ``base_dir`` (the installed
    version, only read) and the delta package, all or nothing.

    Every file is streamed: copied, patched or decompressed in :data:`CHUNK_SIZE`
    pieces into its new file while it is hashed. The patches are read from their stream
    in the order they are stored (by offset), each as it is applied; a zstd patch needs
    its base file in memory (zstd's dictionary) and writes as it decodes; a bsdiff patch
    (small files) is applied in memory. Memory is therefore bounded by the largest
    patched file (about twice its size), not by the program. The ``same`` files are
    copied by a second thread meanwhile (hashing, reading and writing release the GIL);
    ``progress`` is only called from the calling thread.

    Every file made is checked against ``expected`` (the release's signed file list):
    its path, size and SHA-256, and the whole tree is made durable once, after the last
    file (:meth:`Platform.flush_tree`), before this returns. A copied file must be its
    base, byte for byte; when a patched file does not come out as listed, its base is
    checked against the SHA-256 the delta was made from, to tell a changed install from
    a damaged delta.

    Raises:
        DeltaBaseError: an installed file the delta needs is missing or was changed
            (``dest`` removed; nothing else was touched).
        IntegrityError: the delta package is damaged, tampered with or does not make
            exactly ``expected`` (``dest`` removed).
        ArchiveError: ``dest`` exists already, or cannot be written.
    """
    plan = read_plan(delta_zip)
    wanted = {path_key(e.path): e for e in expected.files}
    planned = {path_key(f.path): f for f in plan.files}
    if not set(planned) <= set(wanted) or len(planned) != len(plan.files):
        raise IntegrityError(_("The delta package does not make the files of the release."))
    end = max((f.offset + f.length for f in plan.files if f.op == "patch"), default=0)
    if end > MAX_PLAN_SIZE * 16:
        raise IntegrityError(_("The delta package is not valid: {error}").format(error="size"))
    if os.path.lexists(dest):
        raise ArchiveError(
            _(
                "The folder {path} already exists; a package is only unpacked into a new folder."
            ).format(path=dest)
        )
    dest.mkdir(parents=True)
    # The patches in the order of their stream, then every other file.
    work = [
        planned.get(key) or DeltaFile(entry.path, "same", entry.path)
        for key, entry in wanted.items()
    ]
    work.sort(key=lambda item: (item.op != "patch", item.offset if item.op == "patch" else 0))
    total = expected.installed_size
    done = 0
    if progress is not None:
        progress(0, total)
    copies = [item for item in work if item.op == "same"]
    others = [item for item in work if item.op != "same"]
    try:
        with zipfile.ZipFile(delta_zip) as zf, _PatchStream(zf, end) as patches:
            builder = _Builder(zf, patches, base_dir, dest)
            lane = _CopyLane(_Builder(zf, patches, base_dir, dest), copies, wanted)
            lane.start()
            try:
                for item in others:
                    if lane.error is not None:
                        break
                    entry = wanted[path_key(item.path)]
                    builder.make(item, entry)
                    done += entry.size
                    if progress is not None:
                        progress(done + lane.done, total)
                if lane.error is None:
                    patches.finish()
                while lane.is_alive():
                    lane.join(0.1)
                    if progress is not None:
                        progress(done + lane.done, total)
                if lane.error is not None:
                    raise lane.error
            finally:
                lane.halt()
        if durable:
            _flush(dest, builder.written + lane.builder.written)
    except BaseException:
        with contextlib.suppress(OSError):
            remove_tree(dest)
        raise


class _CopyLane(threading.Thread):
    """Copies the ``same`` files while the calling thread makes the others: hashing,
    reading and writing release the GIL, so the two use two cores."""

    def __init__(
        self, builder: _Builder, items: list[DeltaFile], wanted: dict[str, FileEntry]
    ) -> None:
        super().__init__(name="delta-copy", daemon=True)
        self.builder = builder
        self._items = items
        self._wanted = wanted
        self._halted = threading.Event()
        self.done = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for item in self._items:
                if self._halted.is_set():
                    return
                entry = self._wanted[path_key(item.path)]
                self.builder.make(item, entry)
                self.done += entry.size
        except BaseException as exc:  # handed to the calling thread
            self.error = exc

    def halt(self) -> None:
        """Stop after the file being copied, and wait for it."""
        self._halted.set()
        self.join()


#: The pieces files are copied, decoded and hashed in.
CHUNK_SIZE = 1 << 20


class _MismatchError(Exception):
    """A made file is not the listed one (its size or SHA-256)."""


class _PatchStream:
    """The patches' member, decompressed as it is read, front to back."""

    def __init__(self, zf: zipfile.ZipFile, end: int) -> None:
        self._end = end
        self._position = 0
        self._stack = contextlib.ExitStack()
        self._reader: Any = None
        if end == 0:
            return
        try:
            member = self._stack.enter_context(zf.open(PATCHES_NAME))
        except (KeyError, zipfile.BadZipFile, OSError) as exc:
            raise IntegrityError(
                _("The delta package lacks {member}: {error}").format(
                    member=PATCHES_NAME, error=exc
                )
            ) from exc
        decompressor = zstandard.ZstdDecompressor()
        self._reader = self._stack.enter_context(
            decompressor.stream_reader(member, read_size=CHUNK_SIZE, closefd=False)
        )

    def __enter__(self) -> _PatchStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    def read(self, offset: int, length: int) -> Iterator[bytes]:
        """The ``length`` bytes at ``offset`` (at or after what was read last), in
        pieces."""
        if offset < self._position or offset + length > self._end:
            raise _broken_stream("patches")
        self._take(offset - self._position)
        remaining = length
        while remaining:
            chunk = self._chunk(min(CHUNK_SIZE, remaining))
            remaining -= len(chunk)
            yield chunk

    def finish(self) -> None:
        """Check that the stream ends where the plan says and that its checksum is
        right (zstd checks it at the frame's end)."""
        if self._reader is None:
            return
        self._take(self._end - self._position)
        try:
            extra = self._reader.read(1)
        except (zstandard.ZstdError, zipfile.BadZipFile, OSError) as exc:
            raise _broken_stream(exc) from exc
        if extra:
            raise _broken_stream("patches")

    def _take(self, size: int) -> None:
        while size:
            size -= len(self._chunk(min(CHUNK_SIZE, size)))

    def _chunk(self, size: int) -> bytes:
        try:
            chunk: bytes = self._reader.read(size)
        except (zstandard.ZstdError, zipfile.BadZipFile, OSError) as exc:
            raise _broken_stream(exc) from exc
        if not chunk:
            raise _broken_stream("patches")
        self._position += len(chunk)
        return chunk


class _Sink:
    """A new file, hashed and counted as it is written; never longer than listed."""

    def __init__(self, target: Path, entry: FileEntry) -> None:
        self.target = target
        self._entry = entry
        self._digest = hashlib.sha256()
        self._size = 0
        self._file = _writing(target, lambda: target.open("xb", buffering=0))

    def write(self, data: bytes | memoryview) -> int:
        size = len(data)
        if self._size + size > self._entry.size:
            raise _MismatchError
        self._digest.update(data)
        _writing(self.target, lambda: self._file.write(data))
        self._size += size
        return size

    def check(self) -> None:
        """Raises _MismatchError unless what was written is the listed file."""
        if self._size != self._entry.size or self._digest.hexdigest() != self._entry.sha256:
            raise _MismatchError

    def close(self, executable: bool) -> None:
        if executable and sys.platform != "win32":
            _writing(self.target, lambda: os.fchmod(self._file.fileno(), _EXECUTABLE_MODE))
        _writing(self.target, self._file.close)

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()


_T = TypeVar("_T")


def _writing(target: Path, action: Callable[[], _T]) -> _T:
    try:
        return action()
    except OSError as exc:
        raise ArchiveError(
            _("Cannot write {path}: {error}").format(path=target, error=exc.strerror or exc)
        ) from exc


class _Builder:
    """Makes the new files one by one (see :func:`build_from_delta`)."""

    def __init__(
        self, zf: zipfile.ZipFile, patches: _PatchStream, base_dir: Path, dest: Path
    ) -> None:
        self._zf = zf
        self._patches = patches
        self._base_dir = base_dir
        self._dest = dest
        self._folders: set[Path] = {dest}
        self._buffer = bytearray(CHUNK_SIZE)
        self.written: list[Path] = []

    def make(self, item: DeltaFile, entry: FileEntry) -> None:
        target = self._dest.joinpath(*entry.path.split("/"))
        if target.parent not in self._folders:
            _writing(target.parent, lambda: target.parent.mkdir(parents=True, exist_ok=True))
            self._folders.add(target.parent)
        sink = _Sink(target, entry)
        self.written.append(target)
        try:
            executable = self._fill(sink, item, entry)
        except BaseException:
            sink.discard()
            raise
        sink.close(executable or item.executable)

    def _fill(self, sink: _Sink, item: DeltaFile, entry: FileEntry) -> bool:
        """Write the file into ``sink``; whether its base was executable."""
        if item.op == "full":
            self._decompress_member(sink, item, entry)
            return False
        assert item.base is not None
        base = self._base_dir.joinpath(*item.base.split("/"))
        info = _base_info(base, item.base)
        if item.op == "same":
            self._copy(sink, base, item.base, info.st_size == entry.size)
        else:
            self._patch(sink, base, item, entry)
        return bool(info.st_mode & 0o111)

    def _copy(self, sink: _Sink, path: Path, name: str, same_size: bool) -> None:
        view = memoryview(self._buffer)
        try:
            if not same_size:
                raise _MismatchError
            with _reading(path, name, lambda: path.open("rb", buffering=0)) as source:
                while count := _reading(path, name, lambda: source.readinto(self._buffer)):
                    sink.write(view[:count])
            sink.check()
        except _MismatchError:
            raise _changed(name) from None

    def _patch(self, sink: _Sink, path: Path, item: DeltaFile, entry: FileEntry) -> None:
        assert item.base is not None
        chunks = self._patches.read(item.offset, item.length)
        try:
            if item.codec == "bsdiff":
                old = _read_base(path, item.base)
                new = _apply_bsdiff(old, b"".join(chunks), entry.size)
                del old
                sink.write(new)
            else:
                decompressor = zstandard.ZstdDecompressor(
                    dict_data=_base_dictionary(path, item.base),
                    max_window_size=2**MAX_WINDOW_LOG,
                )
                with decompressor.stream_writer(
                    cast(IO[bytes], sink), write_size=CHUNK_SIZE, closefd=False
                ) as writer:
                    for chunk in chunks:
                        writer.write(chunk)
            sink.check()
        except _StreamError:
            raise  # the delta's fault, whatever the base
        except (_MismatchError, zstandard.ZstdError, IntegrityError) as exc:
            if not _has_hash(path, item.base, item.base_hash or ""):
                raise _changed(item.base) from None
            if isinstance(exc, IntegrityError):
                raise
            if isinstance(exc, _MismatchError):
                raise _not_listed(entry) from None
            raise IntegrityError(
                _("A patch of the delta package is damaged: {error}").format(error=exc)
            ) from exc

    def _decompress_member(self, sink: _Sink, item: DeltaFile, entry: FileEntry) -> None:
        assert item.member is not None
        decompressor = zstandard.ZstdDecompressor(max_window_size=2**MAX_WINDOW_LOG)
        try:
            with (
                self._zf.open(item.member) as member,
                decompressor.stream_writer(
                    cast(IO[bytes], sink), write_size=CHUNK_SIZE, closefd=False
                ) as writer,
            ):
                while chunk := member.read(CHUNK_SIZE):
                    writer.write(chunk)
            sink.check()
        except (KeyError, zipfile.BadZipFile, OSError) as exc:
            raise IntegrityError(
                _("The delta package lacks {member}: {error}").format(member=item.member, error=exc)
            ) from exc
        except _MismatchError:
            raise _not_listed(entry) from None
        except zstandard.ZstdError as exc:
            raise IntegrityError(
                _("A file of the delta package is damaged: {error}").format(error=exc)
            ) from exc


def _invalid(error: object) -> IntegrityError:
    return IntegrityError(_("The delta package is not valid: {error}").format(error=error))


class _StreamError(IntegrityError):
    """The patches' stream is damaged or does not hold what the plan says."""


def _broken_stream(error: object) -> _StreamError:
    return _StreamError(_("The delta package is not valid: {error}").format(error=error))


def _not_listed(entry: FileEntry) -> IntegrityError:
    return IntegrityError(
        _("{path} made from the delta package does not match the release's file list.")
        .format(path=entry.path)
    )  # fmt: skip


def _changed(name: str) -> DeltaBaseError:
    return DeltaBaseError(
        _("The installed file {path} was changed since it was installed.").format(path=name)
    )


def _decompress(data: bytes, limit: int) -> bytes:
    try:
        return zstandard.ZstdDecompressor().decompress(data, max_output_size=limit)
    except zstandard.ZstdError as exc:
        raise _invalid(exc) from exc


def _reading(path: Path, name: str, action: Callable[[], _T]) -> _T:
    """``action()``, an installed file's read; its failure is a :class:`DeltaBaseError`."""
    try:
        return action()
    except FileNotFoundError as exc:
        raise DeltaBaseError(_("The installed file {path} is missing.").format(path=name)) from exc
    except OSError as exc:
        raise DeltaBaseError(
            _("The installed file {path} cannot be read: {error}").format(
                path=name, error=exc.strerror or exc
            )
        ) from exc


def _base_info(path: Path, name: str) -> os.stat_result:
    info = _reading(path, name, path.lstat)
    if not stat.S_ISREG(info.st_mode):
        raise DeltaBaseError(_("The installed {path} is not a plain file.").format(path=name))
    return info


def _read_base(path: Path, name: str) -> bytes:
    return _reading(path, name, path.read_bytes)


_RAW = zstandard.DICT_TYPE_RAWCONTENT


def _base_dictionary(path: Path, name: str) -> zstandard.ZstdCompressionDict:
    """The base file as zstd's dictionary, which keeps a copy of its own: it is made
    from the file mapped in memory (pages of the file cache, let go at once), not from a
    second copy on the heap."""

    def load() -> zstandard.ZstdCompressionDict:
        with path.open("rb") as stream:
            if os.fstat(stream.fileno()).st_size == 0:
                return zstandard.ZstdCompressionDict(b"", dict_type=_RAW)
            with (
                mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as mapped,
                memoryview(mapped) as view,
            ):
                return zstandard.ZstdCompressionDict(view, dict_type=_RAW)

    return _reading(path, name, load)


def _has_hash(path: Path, name: str, prefix: str) -> bool:
    """Whether the installed file's SHA-256 starts with ``prefix``."""

    def digest() -> str:
        with path.open("rb") as stream:
            return hashlib.file_digest(stream, "sha256").hexdigest()

    return _reading(path, name, digest).startswith(prefix)


def _flush(root: Path, written: list[Path]) -> None:
    """Make the new tree durable in one batch (:meth:`Platform.flush_tree`)."""
    folders = {root}
    for path in written:
        folders.update(parent for parent in path.parents if parent.is_relative_to(root))
    deepest_first = sorted(folders, key=lambda folder: -len(folder.parts))
    try:
        current_platform.flush_tree(root, written, deepest_first)
    except OSError as exc:
        raise ArchiveError(
            _("Cannot write {path}: {error}").format(path=root, error=exc.strerror or exc)
        ) from exc

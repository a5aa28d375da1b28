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
deleted). The package is a TUF target like every other, and every rebuilt file is
checked against the SHA-256 of the release's signed file list, so a delta can save
bytes but cannot change what gets installed. When the installed files are not what the
delta was made from (the shop's install was changed by hand), :class:`DeltaBaseError`
says so and the caller falls back to the full package.

The codec functions are shared by the publisher and the client.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

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


def _window_log(*sizes: int) -> int:
    return max(10, min(MAX_WINDOW_LOG, (sum(sizes) + 1).bit_length()))


def make_patch(old: bytes, new: bytes, level: int = DEFAULT_LEVEL) -> bytes:
    """A zstd frame of ``new`` that uses ``old`` as its dictionary (zstd --patch-from)."""
    params = zstandard.ZstdCompressionParameters.from_level(
        level, window_log=_window_log(len(old), len(new)), enable_ldm=True, write_checksum=True
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
        level, window_log=_window_log(len(new)), enable_ldm=True, write_checksum=True
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

    Every file made is checked against ``expected`` (the release's signed file list):
    its path, size and SHA-256. Base files are checked against the SHA-256 the delta
    was made from before they are used.

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
    if os.path.lexists(dest):
        raise ArchiveError(
            _(
                "The folder {path} already exists; a package is only unpacked into a new folder."
            ).format(path=dest)
        )
    dest.mkdir(parents=True)
    total = expected.installed_size
    done = 0
    if progress is not None:
        progress(0, total)
    try:
        with zipfile.ZipFile(delta_zip) as zf:
            patches = _read_patches(zf, plan)
            written: list[Path] = []
            for key, entry in wanted.items():
                item = planned.get(key) or DeltaFile(entry.path, "same", entry.path)
                content, executable = _make_file(zf, patches, item, entry, base_dir)
                written.append(_write(dest, entry, content, executable or item.executable))
                done += entry.size
                if progress is not None:
                    progress(done, total)
        if durable:
            _flush(dest, written)
    except BaseException:
        with contextlib.suppress(OSError):
            remove_tree(dest)
        raise


def _read_patches(zf: zipfile.ZipFile, plan: DeltaPlan) -> bytes:
    """The patches stream, decompressed (bounded by what the plan says it holds)."""
    end = max((f.offset + f.length for f in plan.files if f.op == "patch"), default=0)
    if end == 0:
        return b""
    if end > MAX_PLAN_SIZE * 16:
        raise IntegrityError(_("The delta package is not valid: {error}").format(error="size"))
    try:
        data = _decompress(zf.read(PATCHES_NAME), end)
    except (KeyError, zipfile.BadZipFile, OSError) as exc:
        raise IntegrityError(
            _("The delta package lacks {member}: {error}").format(member=PATCHES_NAME, error=exc)
        ) from exc
    if len(data) != end:
        raise IntegrityError(_("The delta package is not valid: {error}").format(error="patches"))
    return data


def _decompress(data: bytes, limit: int) -> bytes:
    try:
        return zstandard.ZstdDecompressor().decompress(data, max_output_size=limit)
    except zstandard.ZstdError as exc:
        raise IntegrityError(
            _("The delta package is not valid: {error}").format(error=exc)
        ) from exc


def _make_file(
    zf: zipfile.ZipFile, patches: bytes, item: DeltaFile, entry: FileEntry, base_dir: Path
) -> tuple[bytes, bool]:
    """The file's content, and whether its base was executable."""
    base, executable = _read_base(base_dir, item) if item.base is not None else (b"", False)
    if item.op == "same":
        content = base
    elif item.op == "patch":
        data = patches[item.offset : item.offset + item.length]
        content = apply_patch(base, data, entry.size, item.codec)
    else:
        assert item.member is not None
        try:
            data = zf.read(item.member)
        except (KeyError, zipfile.BadZipFile, OSError) as exc:
            raise IntegrityError(
                _("The delta package lacks {member}: {error}").format(member=item.member, error=exc)
            ) from exc
        content = decompress_full(data, entry.size)
    if item.op == "same" and hashlib.sha256(content).hexdigest() != entry.sha256:
        raise DeltaBaseError(
            _("The installed file {path} was changed since it was installed.").format(
                path=item.base
            )
        )
    if len(content) != entry.size or hashlib.sha256(content).hexdigest() != entry.sha256:
        raise IntegrityError(
            _("{path} made from the delta package does not match the release's file list.")
            .format(path=entry.path)
        )  # fmt: skip
    return content, executable


def _read_base(base_dir: Path, item: DeltaFile) -> tuple[bytes, bool]:
    assert item.base is not None
    path = base_dir.joinpath(*item.base.split("/"))
    try:
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode):
            raise DeltaBaseError(
                _("The installed {path} is not a plain file.").format(path=item.base)
            )
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise DeltaBaseError(
            _("The installed file {path} is missing.").format(path=item.base)
        ) from exc
    except OSError as exc:
        raise DeltaBaseError(
            _("The installed file {path} cannot be read: {error}").format(
                path=item.base, error=exc.strerror or exc
            )
        ) from exc
    if item.base_hash is not None and not hashlib.sha256(data).hexdigest().startswith(
        item.base_hash
    ):
        raise DeltaBaseError(
            _("The installed file {path} was changed since it was installed.").format(
                path=item.base
            )
        )
    return data, bool(info.st_mode & 0o111)


def _write(dest: Path, entry: FileEntry, content: bytes, executable: bool) -> Path:
    target = dest.joinpath(*entry.path.split("/"))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("xb") as sink:
            sink.write(content)
            sink.flush()
            if executable and sys.platform != "win32":
                os.fchmod(sink.fileno(), _EXECUTABLE_MODE)
    except OSError as exc:
        raise ArchiveError(
            _("Cannot write {path}: {error}").format(path=target, error=exc.strerror or exc)
        ) from exc
    return target


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

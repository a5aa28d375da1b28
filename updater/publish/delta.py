"""Making delta packages (the publisher's side of :mod:`updater.install.delta`).

:func:`make_delta` compares an old and a new package (both zips made by
:mod:`updater.publish.pack`) file by file:

1. a new file whose content exists in the old version (same path, or moved or renamed)
   is ``same``;
2. a changed file is patched against its predecessor: the old file of the same path,
   else a removed old file with the same name once content hashes and version numbers
   in it are set aside (``libfoo-3fa2b1c9.dll`` -> ``libfoo-#.dll``,
   ``app-3.4.1/core.dll`` -> ``app-#/core.dll``), else the removed old file of the same
   folder and extension closest in size (within a quarter);
   the codec is chosen by the file's size (the larger of the old and the new file):

   - up to :data:`BSDIFF_MAX_SIZE`, both zstd's patch-from and bsdiff4 are made and the
     smaller patch is kept: bsdiff is much better for code whose addresses moved, zstd
     for the rest; bsdiff needs about 17 times the file in memory and most of the time,
     which is why it stops there;
   - above it, zstd alone;
   - zstd is given the old file as the frame's prefix (as ``zstd --patch-from`` does),
     so that long-distance matching indexes it; its patch is made at the publisher's
     level (19 by default) up to :data:`STRONG_MAX_SIZE`, and at level 1 above it,
     which finds the unchanged runs of a rebuilt file almost as well as level 19, in a
     hundredth of its time and memory (level 19 saves a few hundred bytes on a file
     of megabytes, and bsdiff more up to its bound);
3. a patch that is not smaller than the whole file compressed is replaced by the whole
   file (``full``), and so is a file with no predecessor.

Patches are made in parallel, one process per CPU, each reading its two files from the
zips, so memory is bounded by the files' sizes and the bounds above (about
:data:`BSDIFF_MAX_SIZE` times 17 per process), whatever the program's size. They are
then written in one zstd frame, the largest files' first (see :func:`make_delta`).
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
import re
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import zstandard

from updater.fsutil import fsync_file
from updater.install.delta import (
    BASE_HASH_DIGITS,
    DEFAULT_LEVEL,
    PATCHES_NAME,
    PLAN_NAME,
    Codec,
    DeltaFile,
    DeltaPlan,
    compress_full,
    make_bsdiff,
    make_patch,
    window_log,
)
from updater.install.filelist import FileEntry, FileList
from updater.publish.pack import inspect_zip

__all__ = ["DeltaStats", "make_delta", "make_prefix_patch", "match_predecessors", "name_stem"]

#: A patch is kept over the whole compressed file only when it is smaller; files whose
#: patch is under this share of their size are not compressed whole to compare.
_CLEARLY_SMALL = 0.05
#: Files up to this size get both codecs (the smaller patch is kept); larger ones get
#: zstd only. bsdiff needs about 17 times a file's size in memory: 136 MiB here, per
#: worker process.
BSDIFF_MAX_SIZE = 8 * 2**20
#: zstd patches of files up to this size are made at the publisher's level; larger ones
#: at :data:`FAST_LEVEL`, with the old file as the frame's prefix.
STRONG_MAX_SIZE = 2 * 2**20
FAST_LEVEL = 1
#: How far apart in size a removed file and a new one may be to be paired by size.
_SIZE_TOLERANCE = 0.25
_HASHLIKE = re.compile(r"(?<![0-9a-zA-Z])(?=[0-9a-zA-Z]*[0-9])[0-9a-fA-F]{7,}(?![0-9a-zA-Z])")
_VERSIONLIKE = re.compile(r"(?<![0-9.])[0-9]+(?:\.[0-9]+)+(?![0-9])")
#: (old zip, old member or None, new zip, new member, level, bsdiff bound)
_Task = tuple[str, str | None, str, str, int, int]


@dataclass
class DeltaStats:
    """What a delta is made of."""

    same: int = 0
    patched: int = 0
    full: int = 0
    renamed: int = 0
    patch_bytes: int = 0
    #: ``patch_bytes`` once compressed together (the patches' member of the package)
    stream_bytes: int = 0
    full_bytes: int = 0
    new_bytes: int = 0
    by_path: dict[str, str] = field(default_factory=dict)


def name_stem(path: str) -> str:
    """``path`` with content hashes and version numbers set aside:
    ``lib/libfoo-3fa2b1c9.dll`` -> ``lib/libfoo-#.dll`` (runs of 7+ hex digits with at
    least one digit), ``app-3.4.1/core.dll`` -> ``app-#/core.dll`` (dotted numbers)."""
    return _VERSIONLIKE.sub("#", _HASHLIKE.sub("#", path))


def match_predecessors(old: FileList, new: FileList) -> dict[str, str]:
    """For each new file with no old file of the same path, the removed old file it
    most likely is (see the module's description). Returns new path -> old path."""
    new_paths = {e.path for e in new.files}
    removed = [e for e in old.files if e.path not in new_paths]
    by_stem: dict[str, list[FileEntry]] = defaultdict(list)
    for entry in removed:
        by_stem[name_stem(entry.path)].append(entry)
    old_paths = {e.path for e in old.files}
    taken: set[str] = set()
    found: dict[str, str] = {}
    for entry in new.files:
        if entry.path in old_paths:
            continue
        candidates = [c for c in by_stem.get(name_stem(entry.path), []) if c.path not in taken]
        if not candidates:
            folder, suffix = _folder_and_suffix(entry.path)
            candidates = [
                c
                for c in removed
                if c.path not in taken
                and _folder_and_suffix(c.path) == (folder, suffix)
                and abs(c.size - entry.size) <= _SIZE_TOLERANCE * max(entry.size, 1)
            ]
        if candidates:
            best = min(candidates, key=lambda c: abs(c.size - entry.size))
            taken.add(best.path)
            found[entry.path] = best.path
    return found


def _folder_and_suffix(path: str) -> tuple[str, str]:
    posix = PurePosixPath(path)
    return str(posix.parent), posix.suffix.lower()


def _executable(info: zipfile.ZipInfo) -> bool:
    return bool((info.external_attr >> 16) & 0o111)


def _encode(task: _Task) -> tuple[str, str, str, bytes]:
    """In a worker: the smallest of the zstd patch, the bsdiff patch (for files up to
    the task's bsdiff bound) and the whole compressed file; returns (path, op, codec,
    data)."""
    old_zip, old_name, new_zip, new_name, level, bsdiff_max = task
    with zipfile.ZipFile(new_zip) as zf:
        new = zf.read(new_name)
    if old_name is None:
        return new_name, "full", "zstd", compress_full(new, level)
    with zipfile.ZipFile(old_zip) as zf:
        old = zf.read(old_name)
    size = max(len(old), len(new))
    codec, patch = "zstd", make_prefix_patch(old, new, level, fast=size > STRONG_MAX_SIZE)
    if size <= bsdiff_max:
        other = make_bsdiff(old, new)
        if len(other) < len(patch):
            codec, patch = "bsdiff", other
    del old
    if len(patch) <= _CLEARLY_SMALL * len(new):
        return new_name, "patch", codec, patch
    whole = compress_full(new, level)
    if len(patch) < len(whole):
        return new_name, "patch", codec, patch
    return new_name, "full", "zstd", whole


def make_prefix_patch(old: bytes, new: bytes, level: int, *, fast: bool = False) -> bytes:
    """zstd's patch-from of ``new`` against ``old``: the frame
    :func:`~updater.install.delta.apply_patch` decodes, with ``old`` given to zstd as
    the frame's prefix (as ``zstd --patch-from`` does) rather than as a dictionary, so
    that long-distance matching indexes it: then even level 1 finds the unchanged runs
    of a rebuilt file. With ``fast``, at ``min(level, FAST_LEVEL)``.

    zstd's own API comes from python-zstandard's cffi backend; where that is missing,
    :func:`~updater.install.delta.make_patch` (the dictionary, at ``level``) makes the
    same kind of frame, as small at level 19 but 10 to 100 times slower."""
    api = _zstd_api()
    if api is None:
        return make_patch(old, new, level)
    ffi, lib = api
    cctx = lib.ZSTD_createCCtx()
    if cctx == ffi.NULL:
        raise MemoryError("ZSTD_createCCtx")
    try:
        for key, value in (
            (lib.ZSTD_c_compressionLevel, min(level, FAST_LEVEL) if fast else level),
            (lib.ZSTD_c_windowLog, window_log(len(old), len(new))),
            (lib.ZSTD_c_enableLongDistanceMatching, 1),
            (lib.ZSTD_c_checksumFlag, 1),
        ):
            _zstd_check(lib, lib.ZSTD_CCtx_setParameter(cctx, key, value))
        _zstd_check(lib, lib.ZSTD_CCtx_refPrefix(cctx, ffi.from_buffer(old), len(old)))
        out = bytearray(lib.ZSTD_compressBound(len(new)))
        size = _zstd_check(
            lib,
            lib.ZSTD_compress2(
                cctx, ffi.from_buffer(out, require_writable=True), len(out),
                ffi.from_buffer(new), len(new),
            ),
        )  # fmt: skip
        del out[size:]
        return bytes(out)
    finally:
        lib.ZSTD_freeCCtx(cctx)


@functools.cache
def _zstd_api() -> tuple[Any, Any] | None:
    """(ffi, lib) of python-zstandard's cffi backend (zstd's whole API), or None."""
    try:
        from zstandard import backend_cffi
    except ImportError:
        return None
    module: Any = backend_cffi  # ffi and lib are not in its stubs
    return module.ffi, module.lib


def _zstd_check(lib: Any, result: int) -> int:
    if lib.ZSTD_isError(result):
        name = _zstd_api()[0].string(lib.ZSTD_getErrorName(result)).decode()  # type: ignore[index]
        raise zstandard.ZstdError(name)
    return int(result)


def make_delta(
    old_zip: Path,
    new_zip: Path,
    out: Path,
    *,
    product: str,
    from_version: str,
    to_version: str,
    level: int = DEFAULT_LEVEL,
    workers: int | None = None,
    bsdiff_max_size: int = BSDIFF_MAX_SIZE,
) -> DeltaStats:
    """Write the delta package from ``old_zip`` to ``new_zip`` to ``out``.

    ``level`` is zstd's for whole files, the plan, the patches' stream and the patches of
    files up to :data:`STRONG_MAX_SIZE`; ``bsdiff_max_size`` the largest file for which
    bsdiff is tried too (its memory: about 17 times that, per worker).

    Raises:
        OSError: a file cannot be read or written.
        ArchiveError: a package is not a valid package zip.
    """
    with ThreadPoolExecutor(2) as pool:  # inflating and hashing release the GIL
        old_list, new_list = pool.map(inspect_zip, (old_zip, new_zip))
    old_by_path = {e.path: e for e in old_list.files}
    old_by_hash: dict[str, FileEntry] = {}
    for entry in old_list.files:
        old_by_hash.setdefault(entry.sha256, entry)
    renamed = match_predecessors(old_list, new_list)
    with zipfile.ZipFile(new_zip) as zf:
        executable = {i.filename: _executable(i) for i in zf.infolist() if not i.is_dir()}
    stats = DeltaStats()
    plan: dict[str, DeltaFile] = {}
    tasks: list[_Task] = []
    for entry in new_list.files:
        stats.new_bytes += entry.size
        same = old_by_path.get(entry.path)
        if same is None or same.sha256 != entry.sha256:
            same = old_by_hash.get(entry.sha256)
        exe = executable.get(entry.path, False)
        if same is not None:
            plan[entry.path] = DeltaFile(entry.path, "same", same.path, executable=exe)
            stats.same += 1
            stats.by_path[entry.path] = "same"
            continue
        base = old_by_path.get(entry.path) or old_by_path.get(renamed.get(entry.path, ""))
        if base is not None and base.path != entry.path:
            stats.renamed += 1
        tasks.append((
            str(old_zip), base.path if base else None, str(new_zip), entry.path, level,
            bsdiff_max_size,
        ))  # fmt: skip
        plan[entry.path] = DeltaFile(
            entry.path,
            "full",
            base.path if base else None,
            base.sha256[:BASE_HASH_DIGITS] if base else None,
            executable=exe,
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    raw_file = out.with_name(out.name + ".patches.tmp")
    patches_file = out.with_name(out.name + ".patches.zst.tmp")
    compressor = zstandard.ZstdCompressor(level=level, write_checksum=True)
    try:
        with (
            zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as delta,
            raw_file.open("w+b") as raw_patches,
        ):
            written = 0
            spans: dict[str, tuple[int, int, Codec]] = {}
            sizes = {e.path: e.size for e in new_list.files}
            for index, (path, op, codec, data) in enumerate(_run(tasks, sizes, workers)):
                planned = plan[path]
                if op == "patch":
                    raw_patches.write(data)
                    spans[path] = (written, len(data), "bsdiff" if codec == "bsdiff" else "zstd")
                    written += len(data)
                    stats.patched += 1
                    stats.patch_bytes += len(data)
                else:
                    member = f"f/{index}"
                    delta.writestr(_stored(member), data)
                    plan[path] = DeltaFile(path, "full", None, None, member, planned.executable)
                    stats.full += 1
                    stats.full_bytes += len(data)
                stats.by_path[path] = op
            # The stream holds the patches of the largest files first, whatever order
            # they were made in: the delta does not depend on the workers' timing, and
            # the client (which applies them in this order) meets its largest files
            # first, before its heap is fragmented by the others.
            offset = 0
            order = sorted(spans, key=lambda path: (-sizes[path], path))
            for path in order:
                planned, (_start, length, codec) = plan[path], spans[path]
                plan[path] = DeltaFile(
                    path, "patch", planned.base, planned.base_hash, None, planned.executable,
                    offset=offset, length=length, codec=codec,
                )  # fmt: skip
                offset += length
            document = DeltaPlan(
                product=product,
                from_version=from_version,
                to_version=to_version,
                files=tuple(plan[e.path] for e in new_list.files),
            )
            delta.writestr(_stored(PLAN_NAME), compressor.compress(document.to_json()))
            if offset:
                # One frame, of a size given in advance: zstd then sizes its tables to
                # the patches (a stream of unknown size at level 19 would take 90 MB
                # for a few hundred kB).
                with (
                    patches_file.open("wb") as packed,
                    compressor.stream_writer(packed, size=offset, closefd=False) as writer,
                ):
                    for path in order:
                        start, length, _codec = spans[path]
                        raw_patches.seek(start)
                        while length:
                            chunk = raw_patches.read(min(length, 2**20))
                            writer.write(chunk)
                            length -= len(chunk)
                delta.write(patches_file, PATCHES_NAME)
                stats.stream_bytes = patches_file.stat().st_size
    finally:
        for leftover in (raw_file, patches_file):
            with contextlib.suppress(OSError):
                leftover.unlink()
    fsync_file(tmp)
    tmp.replace(out)
    return stats


def _stored(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    return info


def _cost(size: int, bsdiff_max: int) -> float:
    """About how long a file's task takes, relatively: zstd-19 and bsdiff are both some
    30 times slower per byte than the fast level."""
    return size * (1 + 30 * (size <= STRONG_MAX_SIZE) + 30 * (size <= bsdiff_max))


#: Up to this many bytes of new files to encode, the work is done in this process: starting
#: a pool of interpreters (spawn) costs more than it saves.
_IN_PROCESS_BYTES = 4 << 20


def _run(
    tasks: list[_Task],
    sizes: dict[str, int],
    workers: int | None,
) -> Iterator[tuple[str, str, str, bytes]]:
    """Encode every task, in parallel, yielding results as they come; at most two tasks
    per worker are in flight, so memory does not grow with the number of files."""
    if not tasks:
        return
    count = workers or os.cpu_count() or 1
    small = sum(sizes[t[3]] for t in tasks) <= _IN_PROCESS_BYTES
    if count == 1 or len(tasks) == 1 or (workers is None and small):
        for task in tasks:
            yield _encode(task)
        return
    # Longest first (by size and codecs): they start early and the end is not one
    # straggler.
    pending = sorted(tasks, key=lambda t: _cost(sizes[t[3]], t[5]), reverse=True)
    # "spawn" everywhere: the only start method Windows has, so that what runs here is
    # what runs on the publisher's Windows PC (and in the frozen bundle, which needs
    # multiprocessing.freeze_support() for it); no fork of a process that has threads.
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=count, mp_context=spawn) as pool:
        running: set[Future[tuple[str, str, str, bytes]]] = set()
        while pending or running:
            while pending and len(running) < 2 * count:
                running.add(pool.submit(_encode, pending.pop(0)))
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()

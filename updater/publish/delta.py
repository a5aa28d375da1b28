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
   The patch is zstd's patch-from or bsdiff4's, whichever is smaller for that file:
   bsdiff is much better for code whose addresses moved, zstd for the rest and for
   files too big for bsdiff's memory;
3. a patch that is not smaller than the whole file compressed is replaced by the whole
   file (``full``), and so is a file with no predecessor.

Patches are made in parallel, one process per CPU, each reading its two files from the
zips: memory stays at a few times the largest file per worker, whatever the program's
size.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import zstandard

from updater.fsutil import fsync_file
from updater.install.delta import (
    BASE_HASH_DIGITS,
    DEFAULT_LEVEL,
    PATCHES_NAME,
    PLAN_NAME,
    DeltaFile,
    DeltaPlan,
    compress_full,
    make_bsdiff,
    make_patch,
)
from updater.install.filelist import FileEntry, FileList
from updater.publish.pack import inspect_zip

__all__ = ["DeltaStats", "make_delta", "match_predecessors", "name_stem"]

#: A patch is kept over the whole compressed file only when it is smaller; files whose
#: patch is under this share of their size are not compressed whole to compare.
_CLEARLY_SMALL = 0.05
#: bsdiff needs about 17 times a file's size in memory: larger files get zstd only.
BSDIFF_MAX_SIZE = 64 * 2**20
#: How far apart in size a removed file and a new one may be to be paired by size.
_SIZE_TOLERANCE = 0.25
_HASHLIKE = re.compile(r"(?<![0-9a-zA-Z])(?=[0-9a-zA-Z]*[0-9])[0-9a-fA-F]{7,}(?![0-9a-zA-Z])")
_VERSIONLIKE = re.compile(r"(?<![0-9.])[0-9]+(?:\.[0-9]+)+(?![0-9])")


@dataclass
class DeltaStats:
    """What a delta is made of."""

    same: int = 0
    patched: int = 0
    full: int = 0
    renamed: int = 0
    patch_bytes: int = 0
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


def _encode(task: tuple[str, str | None, str, str, int]) -> tuple[str, str, str, bytes]:
    """In a worker: the smallest of the zstd patch, the bsdiff patch and the whole
    compressed file; returns (path, op, codec, data)."""
    old_zip, old_name, new_zip, new_name, level = task
    with zipfile.ZipFile(new_zip) as zf:
        new = zf.read(new_name)
    if old_name is None:
        return new_name, "full", "zstd", compress_full(new, level)
    with zipfile.ZipFile(old_zip) as zf:
        old = zf.read(old_name)
    codec, patch = "zstd", make_patch(old, new, level)
    if max(len(old), len(new)) <= BSDIFF_MAX_SIZE:
        other = make_bsdiff(old, new)
        if len(other) < len(patch):
            codec, patch = "bsdiff", other
    if len(patch) <= _CLEARLY_SMALL * len(new):
        return new_name, "patch", codec, patch
    whole = compress_full(new, level)
    if len(patch) < len(whole):
        return new_name, "patch", codec, patch
    return new_name, "full", "zstd", whole


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
) -> DeltaStats:
    """Write the delta package from ``old_zip`` to ``new_zip`` to ``out``.

    Raises:
        OSError: a file cannot be read or written.
        ArchiveError: a package is not a valid package zip.
    """
    old_list, new_list = inspect_zip(old_zip), inspect_zip(new_zip)
    old_by_path = {e.path: e for e in old_list.files}
    old_by_hash: dict[str, FileEntry] = {}
    for entry in old_list.files:
        old_by_hash.setdefault(entry.sha256, entry)
    renamed = match_predecessors(old_list, new_list)
    with zipfile.ZipFile(new_zip) as zf:
        executable = {i.filename: _executable(i) for i in zf.infolist() if not i.is_dir()}
    stats = DeltaStats()
    plan: dict[str, DeltaFile] = {}
    tasks: list[tuple[str, str | None, str, str, int]] = []
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
        tasks.append((str(old_zip), base.path if base else None, str(new_zip), entry.path, level))
        plan[entry.path] = DeltaFile(
            entry.path,
            "full",
            base.path if base else None,
            base.sha256[:BASE_HASH_DIGITS] if base else None,
            executable=exe,
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    patches_file = out.with_name(out.name + ".patches.tmp")
    compressor = zstandard.ZstdCompressor(level=level, write_checksum=True)
    try:
        with (
            zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as delta,
            patches_file.open("wb") as raw_patches,
            compressor.stream_writer(raw_patches, closefd=False) as patches,
        ):
            offset = 0
            sizes = {e.path: e.size for e in new_list.files}
            for index, (path, op, codec, data) in enumerate(_run(tasks, sizes, workers)):
                planned = plan[path]
                if op == "patch":
                    patches.write(data)
                    plan[path] = DeltaFile(
                        path, "patch", planned.base, planned.base_hash, None, planned.executable,
                        offset=offset, length=len(data),
                        codec="bsdiff" if codec == "bsdiff" else "zstd",
                    )  # fmt: skip
                    offset += len(data)
                    stats.patched += 1
                    stats.patch_bytes += len(data)
                else:
                    member = f"f/{index}"
                    delta.writestr(_stored(member), data)
                    plan[path] = DeltaFile(path, "full", None, None, member, planned.executable)
                    stats.full += 1
                    stats.full_bytes += len(data)
                stats.by_path[path] = op
            patches.flush(zstandard.FLUSH_FRAME)
            document = DeltaPlan(
                product=product,
                from_version=from_version,
                to_version=to_version,
                files=tuple(plan[e.path] for e in new_list.files),
            )
            delta.writestr(_stored(PLAN_NAME), compressor.compress(document.to_json()))
            raw_patches.flush()
            if offset:
                delta.write(patches_file, PATCHES_NAME)
    finally:
        with contextlib.suppress(OSError):
            patches_file.unlink()
    fsync_file(tmp)
    tmp.replace(out)
    return stats


def _stored(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    return info


def _run(
    tasks: list[tuple[str, str | None, str, str, int]],
    sizes: dict[str, int],
    workers: int | None,
) -> Iterator[tuple[str, str, str, bytes]]:
    """Encode every task, in parallel, yielding results as they come; at most two tasks
    per worker are in flight, so memory does not grow with the number of files."""
    if not tasks:
        return
    count = workers or os.cpu_count() or 1
    if count == 1 or len(tasks) == 1:
        for task in tasks:
            yield _encode(task)
        return
    # Largest first: the long ones start early and the end is not one straggler.
    pending = sorted(tasks, key=lambda t: sizes[t[3]], reverse=True)
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

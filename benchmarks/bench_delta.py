"""Benchmark: delta packages on two real consecutive releases of a large Windows program.

The data set is two patch releases of a big wheel's Windows build (default:
PySide6-Essentials 6.8.0.1 and 6.8.0.2 for win_amd64, ~190 MB and ~2,260 files each:
Qt's DLLs, the bindings' .pyd files, translations, type stubs), fetched with
``pip download --platform win_amd64`` into ``benchmarks/.data/delta/`` the first time
(test data only: never committed). Each wheel is unpacked and packed again with the
publisher's packer, so that the full packages are what a feed would serve.

In one run it reports:

(a) bytes: the full package, "only the changed files" (their compressed size in the
    full package), our delta package, and the peer's patch;
(b) generation: :func:`updater.publish.delta.make_delta` (parallel, one process per
    CPU) against the peer, a whole-archive ``bsdiff4.diff`` of the two uncompressed tars
    (what tufup does), each in a child process: wall time and peak memory (the sum of
    the RSS of the process and its children, sampled every 20 ms);
(c) the client: rebuilding the new version from the old one plus the delta
    (:func:`updater.install.delta.build_from_delta`, every file verified and fsynced) against a
    full install's staging (:func:`updater.install.archive.extract_zip` of the full package,
    the same checks and fsyncs) and against ``bsdiff4.patch`` of the tar (the peer's
    client, which then still has to unpack the tar): time (5 rounds, interleaved), and
    memory, each in a new process: the peak RSS above the RSS before the call, and
    tracemalloc's peak (a second run);
(d) the per-file codec choice: for the files that changed, zstd's patch-from at level 19
    and at level 1 (the old file as the frame's prefix, long-distance matching) and
    ``bsdiff4`` per file, single process: total patch bytes and time; then the choice by
    size the publisher makes, and the one it made before (both codecs on every file).

Run ``python -m benchmarks.bench_delta`` (``--help`` for the options). It needs the
network the first time (two wheels, 145 MB); it takes about 5 minutes on 2 cores, 2 of
them for the peer's diff.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import psutil

from benchmarks import DATA_DIR, format_table, print_machine_once

DEFAULT_PACKAGE = "PySide6-Essentials"
DEFAULT_OLD, DEFAULT_NEW = "6.8.0.1", "6.8.0.2"
#: Rounds of the client's timing (c), interleaved.
ROUNDS = 5


# --- data ---------------------------------------------------------------------------------


def fetch_wheel(folder: Path, package: str, version: str) -> Path:
    found = sorted(folder.glob(f"{package.replace('-', '_')}-{version}-*.whl"))
    if found:
        return found[0]
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--platform", "win_amd64", "--python-version", "3.11", f"{package}=={version}",
        "-d", str(folder), "-q",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    found = sorted(folder.glob(f"{package.replace('-', '_')}-{version}-*.whl"))
    if result.returncode != 0 or not found:
        raise SystemExit(f"bench_delta: cannot download {package} {version}: {result.stderr}")
    return found[0]


def prepare(work: Path, package: str, old: str, new: str) -> dict[str, Path]:
    """The two program trees, their full packages and their uncompressed tars."""
    from updater.publish.pack import pack_directory

    paths: dict[str, Path] = {}
    for label, version in (("old", old), ("new", new)):
        tree = work / f"{label}-{version}"
        package_zip = work / f"{label}-{version}.zip"
        tar = work / f"{label}-{version}.tar"
        if not package_zip.exists():
            wheel = fetch_wheel(DATA_DIR / "delta" / "wheels", package, version)
            if tree.exists():
                shutil.rmtree(tree)
            with zipfile.ZipFile(wheel) as zf:
                zf.extractall(tree)
            pack_directory(tree, package_zip)
        if not tar.exists():
            with tarfile.open(tar, "w") as archive:
                for path in sorted(p for p in tree.rglob("*") if p.is_file()):
                    archive.add(path, arcname=path.relative_to(tree).as_posix())
        paths[label], paths[f"{label}_zip"], paths[f"{label}_tar"] = tree, package_zip, tar
    return paths


# --- measuring a child process ------------------------------------------------------------


def run_child(code: str, *args: str) -> tuple[float, int, str]:
    """Run ``python -c code args``; its wall time, the peak of the summed RSS of it and
    its children, and what it printed."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        parent = psutil.Process(process.pid)
        while not done.is_set():
            try:
                total = parent.memory_info().rss + sum(
                    c.memory_info().rss for c in parent.children(recursive=True)
                )
            except psutil.Error:
                total = 0
            peak = max(peak, total)
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = process.communicate()
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"bench_delta: a child failed ({process.returncode}): {output}")
    return time.perf_counter() - started, peak, output.strip()


MAKE_DELTA = """
import sys
from pathlib import Path
from updater.publish.delta import make_delta
stats = make_delta(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), product="p",
                   from_version="1", to_version="2", level=int(sys.argv[4]),
                   workers=int(sys.argv[5]))
print(stats.same, stats.patched, stats.full, stats.renamed, stats.patch_bytes,
      stats.stream_bytes)
"""

#: One client run in a new process: its wall time, and the peak RSS above the RSS before
#: the call (Linux: VmHWM after clear_refs) or, with "trace", tracemalloc's peak instead.
CLIENT_RUN = """
import shutil, sys, time, tracemalloc
from pathlib import Path
from benchmarks import current_rss, peak_rss, reset_peak_rss
from updater.install.archive import extract_zip
from updater.install.delta import build_from_delta
from updater.publish.pack import inspect_zip
how, package, base, dest, new_zip, mode = sys.argv[1:7]
expected = inspect_zip(Path(new_zip))
dest = Path(dest)
if how == "delta":
    run = lambda: build_from_delta(Path(package), Path(base), dest, expected)
else:
    run = lambda: extract_zip(Path(package), dest, expected)
if mode == "trace":
    tracemalloc.start()
before = current_rss()
reset_peak_rss()
started = time.perf_counter()
run()
elapsed = time.perf_counter() - started
peak = tracemalloc.get_traced_memory()[1] if mode == "trace" else peak_rss() - before
shutil.rmtree(dest)
print(elapsed, peak)
"""

BSDIFF_TAR = """
import sys
import bsdiff4
bsdiff4.file_diff(sys.argv[1], sys.argv[2], sys.argv[3])
"""

BSPATCH_TAR = """
import sys
import bsdiff4
bsdiff4.file_patch(sys.argv[1], sys.argv[2], sys.argv[3])
"""


# --- the measurements -----------------------------------------------------------------------


def changed_only_bytes(old_zip: Path, new_zip: Path) -> tuple[int, int]:
    """Compressed bytes (in the full package) and count of new or changed files."""
    with zipfile.ZipFile(old_zip) as old, zipfile.ZipFile(new_zip) as new:
        old_crc = {i.filename: (i.CRC, i.file_size) for i in old.infolist()}
        changed = [
            i for i in new.infolist()
            if not i.is_dir() and old_crc.get(i.filename) != (i.CRC, i.file_size)
        ]  # fmt: skip
    return sum(i.compress_size for i in changed), len(changed)


def timed(function: Callable[[], object]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return path


def codec_comparison(old_zip: Path, new_zip: Path) -> list[list[str]]:
    """zstd patch-from (level 19 and the fast level) and bsdiff4, per changed file, one
    process; then what the publisher keeps by size, now and before."""
    import bsdiff4

    from updater.publish.delta import (
        BSDIFF_MAX_SIZE,
        FAST_LEVEL,
        STRONG_MAX_SIZE,
        make_prefix_patch,
    )

    with zipfile.ZipFile(old_zip) as old, zipfile.ZipFile(new_zip) as new:
        pairs = []
        old_names = {i.filename for i in old.infolist()}
        for info in new.infolist():
            if info.is_dir() or info.filename not in old_names:
                continue
            before, after = old.read(info.filename), new.read(info)
            if before != after:
                pairs.append((before, after))
    codecs: dict[str, Callable[[bytes, bytes], bytes]] = {
        "zstd-19 patch-from": lambda a, b: make_prefix_patch(a, b, 19),
        f"zstd-{FAST_LEVEL} patch-from (old file as prefix)": (
            lambda a, b: make_prefix_patch(a, b, 19, fast=True)
        ),
        "bsdiff4": lambda a, b: bytes(bsdiff4.diff(a, b)),
    }
    measured: dict[str, list[tuple[int, float]]] = {}
    rows = []
    for name, codec in codecs.items():
        results = measured[name] = []
        for before, after in pairs:
            started = time.perf_counter()
            size = len(codec(before, after))
            results.append((size, time.perf_counter() - started))
        rows.append([
            name + ", every file", str(len(pairs)), f"{sum(r[0] for r in results) / 1e6:.3f}",
            f"{sum(r[1] for r in results):.1f}",
        ])  # fmt: skip
    strong, fast, bsdiff = measured.values()
    now_bytes = now_time = then_bytes = then_time = 0.0
    for index, (before, after) in enumerate(pairs):
        size = max(len(before), len(after))
        tried = [strong[index] if size <= STRONG_MAX_SIZE else fast[index]]
        if size <= BSDIFF_MAX_SIZE:
            tried.append(bsdiff[index])
        now_bytes += min(r[0] for r in tried)
        now_time += sum(r[1] for r in tried)
        then_bytes += min(strong[index][0], bsdiff[index][0])
        then_time += strong[index][1] + bsdiff[index][1]
    rows.append([
        f"ours: zstd-19 to {STRONG_MAX_SIZE // 2**20} MiB, zstd-{FAST_LEVEL} above; "
        f"bsdiff4 too to {BSDIFF_MAX_SIZE // 2**20} MiB; smaller kept",
        str(len(pairs)), f"{now_bytes / 1e6:.3f}", f"{now_time:.1f}",
    ])  # fmt: skip
    rows.append([
        "before: zstd-19 and bsdiff4 on every file, smaller kept", str(len(pairs)),
        f"{then_bytes / 1e6:.3f}", f"{then_time:.1f}",
    ])  # fmt: skip
    return rows


def client_memory(how: str, package: Path, base: Path, dest: Path, new_zip: Path, mode: str) -> int:
    """The memory of one run of the client in a new process (see CLIENT_RUN), in bytes:
    ``rss``, the peak RSS above the RSS before the call; ``trace``, tracemalloc's peak."""
    _wall, _peak, output = run_child(
        CLIENT_RUN, how, str(package), str(base), str(fresh(dest)), str(new_zip), mode
    )
    return int(output.split()[1])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_delta")
    parser.add_argument("--package", default=DEFAULT_PACKAGE)
    parser.add_argument("--old", default=DEFAULT_OLD)
    parser.add_argument("--new", default=DEFAULT_NEW)
    parser.add_argument("--level", type=int, default=19, help="zstd level of our deltas")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skip-peer", action="store_true", help="leave out the bsdiff peer")
    args = parser.parse_args(argv)
    print_machine_once()
    from updater.install.archive import extract_zip
    from updater.install.delta import build_from_delta, read_plan
    from updater.publish.pack import inspect_zip

    work = DATA_DIR / "delta" / f"{args.package}-{args.old}-{args.new}"
    work.mkdir(parents=True, exist_ok=True)
    paths = prepare(work, args.package, args.old, args.new)
    new_list = inspect_zip(paths["new_zip"])
    old_list = inspect_zip(paths["old_zip"])
    print(
        f"\n## delta: {args.package} {args.old} -> {args.new} (win_amd64), "
        f"{new_list.installed_size / 1e6:.0f} MB, {new_list.file_count} files "
        f"(old: {old_list.installed_size / 1e6:.0f} MB, {old_list.file_count} files)"
    )

    delta = fresh(work / "ours.delta.zip")
    gen_time, gen_peak, counts = run_child(
        MAKE_DELTA, str(paths["old_zip"]), str(paths["new_zip"]), str(delta),
        str(args.level), str(args.workers),
    )  # fmt: skip
    same, patched, full, renamed, patch_bytes, stream_bytes = counts.split()
    codecs = Counter(f.codec for f in read_plan(delta).files if f.op == "patch")

    peer_rows: list[list[str]] = []
    peer_size = None
    peer_apply = None
    if not args.skip_peer:
        patch = fresh(work / "peer.bsdiff")
        peer_time, peer_peak, _ = run_child(
            BSDIFF_TAR, str(paths["old_tar"]), str(paths["new_tar"]), str(patch)
        )
        peer_size = patch.stat().st_size
        rebuilt_tar = fresh(work / "peer-rebuilt.tar")
        peer_apply, _peak, _ = run_child(
            BSPATCH_TAR, str(paths["old_tar"]), str(rebuilt_tar), str(patch)
        )
        assert rebuilt_tar.read_bytes() == paths["new_tar"].read_bytes()
        peer_rows.append([
            "bsdiff4 of the whole tar (peer)", f"{peer_size / 1e6:.2f}",
            f"{peer_time:.1f}", f"{peer_peak / 2**20:.0f}",
        ])  # fmt: skip
        rebuilt_tar.unlink()

    changed_bytes, changed_count = changed_only_bytes(paths["old_zip"], paths["new_zip"])
    full_size = paths["new_zip"].stat().st_size

    def row(what: str, size: int) -> list[str]:
        return [what, f"{size:,}", f"{100 * size / full_size:.2f} %",
                f"{size * 8 / 10e6:.1f}"]  # fmt: skip

    rows = [
        row("full package (zip)", full_size),
        row(f"only the {changed_count} changed/new files", changed_bytes),
        row("our delta package", delta.stat().st_size),
    ]
    if peer_size is not None:
        rows.append(row("bsdiff4 of the whole tar (peer)", peer_size))
    print("\n(a) bytes to download")
    print(format_table(["what", "bytes", "of full", "s at 10 Mbit/s"], rows))

    print(f"\n(b) generation ({args.workers} worker(s), zstd level {args.level}); "
          f"files: {same} same, {patched} patched ({codecs['zstd']} zstd, "
          f"{codecs['bsdiff']} bsdiff4), {full} whole, {renamed} renamed; patches "
          f"{int(patch_bytes):,} B, {int(stream_bytes):,} B once compressed together")  # fmt: skip
    print(format_table(
        ["how", "patch MB", "wall s", "peak RSS MiB"],
        [["make_delta (ours)", f"{delta.stat().st_size / 1e6:.2f}", f"{gen_time:.1f}",
          f"{gen_peak / 2**20:.0f}"], *peer_rows],
    ))  # fmt: skip

    base = work / "installed"
    if not base.exists():
        extract_zip(paths["old_zip"], base, old_list, durable=False)
    subprocess.run(["sync"], check=False)
    apply_times, full_times = [], []
    staged_delta, staged_full = work / "staged-delta", work / "staged-full"
    for _ in range(ROUNDS):
        # The last round's tree is removed (and that synced) before the clock starts.
        fresh(staged_delta)
        subprocess.run(["sync"], check=False)
        apply_times.append(timed(lambda: build_from_delta(delta, base, staged_delta, new_list)))
        fresh(staged_full)
        subprocess.run(["sync"], check=False)
        full_times.append(timed(lambda: extract_zip(paths["new_zip"], staged_full, new_list)))
    staged = work / "staged-memory"
    memory = {
        how: [
            client_memory(how, package, base, staged, paths["new_zip"], mode) / 2**20
            for mode in ("rss", "trace")
        ]
        for how, package in (("delta", delta), ("full", paths["new_zip"]))
    }
    client_rows = [
        ["rebuild from delta (ours, verified, fsynced)", f"{min(apply_times):.2f}",
         f"{statistics.median(apply_times):.2f}", *(f"{m:.0f}" for m in memory["delta"])],
        ["full install staging: extract_zip (verified, fsynced)", f"{min(full_times):.2f}",
         f"{statistics.median(full_times):.2f}", *(f"{m:.0f}" for m in memory["full"])],
    ]  # fmt: skip
    if peer_apply is not None:
        client_rows.append(["bsdiff4 patch of the tar (peer, before unpacking it)",
                            f"{peer_apply:.2f}", "-", "-", "-"])  # fmt: skip
    print(
        f"\n(c) the client: making the new version's files ({ROUNDS} rounds; memory in a "
        "new process each: peak RSS above the RSS before the call, tracemalloc's peak)"
    )
    print(format_table(
        ["how", "min s", "median s", "RSS MiB", "traced MiB"], client_rows
    ))  # fmt: skip
    for leftover in ("staged-delta", "staged-full", "staged-memory"):
        fresh(work / leftover)

    print("\n(d) per-file codec, on the files whose content changed (one process)")
    print(format_table(["codec", "files", "patches MB", "s"], codec_comparison(
        paths["old_zip"], paths["new_zip"])))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

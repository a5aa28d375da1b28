"""Benchmark: the update of a 200 MB program (2,500 files) and the restore of the old one.

A data set is generated once into ``benchmarks/.data/update/<size>mb-<files>f/`` and
reused while its parameters (and the packer's code) stay the same: the installed
program (version 1.0.0, files in nested folders, ~60 % of them random bytes, the rest
low-entropy "words" that deflate about 8:1, sizes log-normal like the DLLs, resources
and data files of a real Windows program), a data folder of a tenth of its size, and
the zip of version 2.0.0 (~70 % of the files changed, ~1 % added, ~1 % removed) packed
with :func:`updater.publish.pack.pack_directory`, with its file list.

Each repetition works on a **fresh copy** of the install, the data folder and an empty
state folder (made with ``cp -r``, then ``sync``, outside the timed part), and times:

(a) the whole update transaction, called directly (no feed, no download):
    ``UpdateTransaction.begin`` + ``stage`` (extract + verify, the tree flushed once) +
    ``snapshot`` + ``swap`` + ``mark_healthy`` + ``commit``; and its parts (a1) stage,
    (a2) snapshot, (a3) swap + mark_healthy + commit;
(b) then, on what (a) left, ``UpdaterService.restore`` of the snapshot (a) kept (the
    service facade: lock, recovery, history, the snapshot's program moved back by a
    rename, a new snapshot, swap, data paths put back, version check, commit); its parts
    come from the moments the service reports each step to its observer: (b1) before
    the stage, (b2) stage (size check and rename of the saved program), (b3) snapshot,
    (b4) swap,
    data, health check, commit and the rest;
(c) baselines on the same data, in the same rounds: ``cp -r`` of the program folder,
    ``unzip -q`` of the package (``python -m zipfile -e`` without ``unzip``),
    ``zipfile.ZipFile.extractall``, ``extract_zip(..., durable=False)`` (the same
    checks without any fsync) and the same followed by one ``sync()``;
(d) ``describe_tree`` of the program: one read + SHA-256 pass, to count passes with.

Every timed operation writes into a new folder; outside the timed part it is then set
aside with a rename and ``sync()`` is called, so that no sample pays for another's
write-back. What was set aside is deleted at the end of the run (about 11.5 GiB with
the defaults; see :class:`Trash` for why not at once, and ``--clean-as-you-go``).

Then the peak memory of an update followed by a restore is measured in a child process
for two package sizes (default 50 MB and 200 MB): its peak RSS (Linux's ``VmHWM``,
reset with ``/proc/self/clear_refs`` before each operation; ``getrusage`` elsewhere)
and, in a second child, the ``tracemalloc`` peak. It must not grow with the package.

Run ``python -m benchmarks.bench_update`` (``--help`` for the options).
"""

from __future__ import annotations

import argparse
import functools
import gc
import hashlib
import importlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
import tracemalloc
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from packaging.version import Version

from benchmarks import (
    DATA_DIR,
    REPO_ROOT,
    Series,
    current_rss,
    format_table,
    ms,
    peak_rss,
    print_machine_once,
    reset_peak_rss,
    time_once,
)
from updater.fsutil import remove_tree
from updater.install.archive import extract_zip
from updater.install.filelist import FileList, describe_tree
from updater.install.transaction import UpdateTransaction, list_snapshots
from updater.machine.config import MachineConfig, parse_config
from updater.machine.state import StateDir
from updater.observer import NullObserver, Step
from updater.publish.pack import pack_directory
from updater.service import UpdaterService

NAME = "update"
PRODUCT = "tpv"
OLD_VERSION = "1.0.0"
NEW_VERSION = "2.0.0"
EXECUTABLE = "InnovaTPV.exe"

DEFAULT_SIZE_MB = 200
DEFAULT_FILES = 2500
DEFAULT_SMALL_SIZE_MB = 50
DEFAULT_REPEAT = 5
DEFAULT_WARMUP = 1

#: Bump when the generated data set changes shape, to force a rebuild.
DATASET_FORMAT = 1
MARKER = "dataset.json"
SEED = "innova-bench-update"
MIB = 1024 * 1024

RANDOM_SHARE = 0.6  # files of random bytes; the others are low-entropy "words"
CHANGED_SHARE = 0.7  # files of 1.0.0 whose content differs in 2.0.0
REMOVED_SHARE = 0.01  # files of 1.0.0 gone in 2.0.0
ADDED_SHARE = 0.01  # files new in 2.0.0 (of the count of 1.0.0)
DATA_SHARE = 0.1  # size of the data folder, of the program's
SIZE_SIGMA = 1.5  # log-normal spread of file sizes (median about a third of the mean)
MIN_FILE = 256
MAX_FILE = 12 * MIB
WORD = 16  # bytes of one "word" of a low-entropy file

PROGRAM_DIR = f"program-{OLD_VERSION}"
BUILD_DIR = f"build-{NEW_VERSION}"
PACKAGE = f"{PRODUCT}-{NEW_VERSION}.zip"
FILE_LIST = f"{PRODUCT}-{NEW_VERSION}.files.json"

_TOP_FOLDERS = ("bin", "lib", "plugins", "resources", "drivers", "reports")
_EXTENSIONS = (*[".dll"] * 6, ".exe", ".dat", ".pak", ".xml", ".json", ".bin")


# --- the data set -----------------------------------------------------------------------


@dataclass(frozen=True)
class FileSpec:
    """One generated file: its content depends only on (seed, key, path, size, kind)."""

    path: str
    size: int
    random: bool
    key: str  # the version whose content it has


def _folders(rng: random.Random) -> list[str]:
    """About a hundred nested folders (1 to 4 deep) plus the root (``""``)."""
    folders = [""]

    def grow(prefix: str, depth: int) -> None:
        folders.append(prefix)
        if depth == 4 or (depth > 1 and rng.random() < 0.3):
            return
        for index in range(rng.randint(2, 4)):
            grow(f"{prefix}/m{depth}{index}", depth + 1)

    for top in _TOP_FOLDERS:
        grow(top, 1)
    return folders


def old_layout(files: int, total: int) -> list[FileSpec]:
    """The files of version 1.0.0: ``files`` files of about ``total`` bytes in all."""
    rng = random.Random(f"{SEED}/layout")
    folders = _folders(rng)
    weights = [rng.lognormvariate(0.0, SIZE_SIGMA) for _ in range(files - 1)]
    scale = total / sum(weights)
    specs = [FileSpec(EXECUTABLE, min(max(total // 100, MIN_FILE), MAX_FILE), True, OLD_VERSION)]
    for index, weight in enumerate(weights):
        folder = rng.choice(folders)
        name = f"module{index:04d}{rng.choice(_EXTENSIONS)}"
        size = min(max(int(weight * scale), MIN_FILE), MAX_FILE)
        specs.append(
            FileSpec(
                f"{folder}/{name}" if folder else name,
                size,
                rng.random() < RANDOM_SHARE,
                OLD_VERSION,
            )
        )
    return sorted(specs, key=lambda spec: spec.path)


def new_layout(old: Sequence[FileSpec]) -> list[FileSpec]:
    """The files of version 2.0.0: most changed, a few removed and added."""
    rng = random.Random(f"{SEED}/new")
    folders = _folders(random.Random(f"{SEED}/layout"))
    specs: list[FileSpec] = []
    for spec in old:
        draw = rng.random()
        if draw < REMOVED_SHARE and spec.path != EXECUTABLE:
            continue
        if draw < REMOVED_SHARE + CHANGED_SHARE:
            size = max(int(spec.size * rng.uniform(0.9, 1.1)), MIN_FILE)
            specs.append(FileSpec(spec.path, size, spec.random, NEW_VERSION))
        else:
            specs.append(spec)
    sizes = [spec.size for spec in old]
    for index in range(round(len(old) * ADDED_SHARE)):
        folder = rng.choice(folders)
        name = f"added{index:04d}.dll"
        specs.append(
            FileSpec(
                f"{folder}/{name}" if folder else name,
                rng.choice(sizes),
                rng.random() < RANDOM_SHARE,
                NEW_VERSION,
            )
        )
    return sorted(specs, key=lambda spec: spec.path)


def file_content(spec: FileSpec) -> bytes:
    """Random bytes, or 16-byte words drawn from a table of 256 (deflates about 8:1)."""
    rng = random.Random(f"{SEED}/{spec.key}/{spec.path}/{spec.size}")
    if spec.random:
        return rng.randbytes(spec.size)
    words = [rng.randbytes(WORD) for _ in range(256)]
    count = -(-spec.size // WORD)
    return b"".join([words[index] for index in rng.randbytes(count)])[: spec.size]


def write_program(root: Path, specs: Sequence[FileSpec], version: str) -> None:
    for spec in specs:
        target = root.joinpath(*spec.path.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(file_content(spec))
    (root / "VERSION").write_text(version + "\n", encoding="utf-8")


def write_data(root: Path, total: int) -> None:
    """A shop's data folder: one large database and small settings, logs and exports."""
    database = total * 8 // 10
    small = [("config", 6), ("logs", 16), ("exports", 8)]
    each = max((total - database) // sum(count for _folder, count in small), MIN_FILE)
    specs = [FileSpec("shop.db", database, False, "data")]
    for folder, count in small:
        specs += [
            FileSpec(f"{folder}/{folder}{n:02d}.dat", each, n % 2 == 0, "data")
            for n in range(count)
        ]
    for spec in specs:
        target = root.joinpath(*spec.path.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(file_content(spec))


def tree_stats(root: Path) -> tuple[int, int]:
    """(files, bytes) under ``root``."""
    sizes = [path.stat().st_size for path in root.rglob("*") if path.is_file()]
    return len(sizes), sum(sizes)


def pack_fingerprint() -> str:
    """SHA-256 of the packer's code: a package made by other code is rebuilt."""
    digest = hashlib.sha256()
    for relative in ("updater/publish/pack.py", "updater/install/filelist.py"):
        digest.update((REPO_ROOT / relative).read_bytes())
    return digest.hexdigest()


def dataset_fingerprint(size_mb: int, files: int) -> dict[str, Any]:
    return {
        "format": DATASET_FORMAT,
        "size_mb": size_mb,
        "files": files,
        "seed": SEED,
        "shares": [RANDOM_SHARE, CHANGED_SHARE, REMOVED_SHARE, ADDED_SHARE, DATA_SHARE],
        "pack": pack_fingerprint(),
    }


@dataclass(frozen=True)
class DataSet:
    """A built data set, as the benchmark needs it."""

    root: Path
    info: dict[str, Any]

    @property
    def program(self) -> Path:
        return self.root / PROGRAM_DIR

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def package(self) -> Path:
        return self.root / PACKAGE

    def file_list(self) -> FileList:
        return FileList.from_json((self.root / FILE_LIST).read_bytes())

    @property
    def label(self) -> str:
        return f"{self.info['program_bytes'] / MIB:.0f} MB / {self.info['program_files']:,} files"

    @classmethod
    def load(cls, root: Path) -> DataSet:
        return cls(root, json.loads((root / MARKER).read_text(encoding="utf-8")))


def build_dataset(destination: Path, size_mb: int, files: int) -> None:
    """Generate the data set into ``destination`` (replacing it), through a staging folder."""
    if destination.exists() and any(destination.iterdir()) and not (destination / MARKER).exists():
        raise SystemExit(f"{destination} is not empty and holds no data set of ours; not using it")
    staging = destination.with_name(destination.name + ".building")
    if staging.exists():
        remove_tree(staging)
    staging.mkdir(parents=True)
    print(f"Generating a {size_mb} MB program of {files} files in {destination} ...", flush=True)
    started = time.perf_counter()
    total = size_mb * MIB
    old = old_layout(files, total)
    write_program(staging / PROGRAM_DIR, old, OLD_VERSION)
    new = new_layout(old)
    write_program(staging / BUILD_DIR, new, NEW_VERSION)
    generated = time.perf_counter()
    file_list = pack_directory(staging / BUILD_DIR, staging / PACKAGE)
    packed = time.perf_counter()
    (staging / FILE_LIST).write_bytes(file_list.to_json())
    remove_tree(staging / BUILD_DIR)
    write_data(staging / "data", int(total * DATA_SHARE))
    old_paths = {spec.path: spec for spec in old}
    program_files, program_bytes = tree_stats(staging / PROGRAM_DIR)
    data_files, data_bytes = tree_stats(staging / "data")
    marker = {
        "fingerprint": dataset_fingerprint(size_mb, files),
        "built": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "program_files": program_files,
        "program_bytes": program_bytes,
        "program_folders": sum(1 for p in (staging / PROGRAM_DIR).rglob("*") if p.is_dir()),
        "new_files": file_list.file_count,
        "new_bytes": file_list.installed_size,
        "changed_files": sum(
            1 for spec in new if spec.path in old_paths and spec != old_paths[spec.path]
        ),
        "added_files": sum(1 for spec in new if spec.path not in old_paths),
        "removed_files": len(old_paths.keys() - {spec.path for spec in new}),
        "package_bytes": (staging / PACKAGE).stat().st_size,
        "data_files": data_files,
        "data_bytes": data_bytes,
        "generate_seconds": round(generated - started, 1),
        "pack_seconds": round(packed - generated, 1),
    }
    (staging / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    if destination.exists():
        remove_tree(destination)
    staging.rename(destination)
    print(
        f"  generated in {marker['generate_seconds']} s, packed in {marker['pack_seconds']} s",
        flush=True,
    )


def prepare_dataset(base: Path, size_mb: int, files: int, *, rebuild: bool) -> tuple[DataSet, bool]:
    """The data set of ``size_mb`` MB in ``files`` files under ``base``; (it, built now)."""
    root = base / f"{size_mb}mb-{files}f"
    if not rebuild and (root / MARKER).exists():
        dataset = DataSet.load(root)
        if dataset.info.get("fingerprint") == dataset_fingerprint(size_mb, files):
            return dataset, False
    build_dataset(root, size_mb, files)
    return DataSet.load(root), True


# --- one shop PC ------------------------------------------------------------------------


@dataclass(frozen=True)
class Shop:
    """A fresh copy of the install, its data folder and an empty state folder."""

    root: Path

    @property
    def install_dir(self) -> Path:
        return self.root / "Program Files" / "InnovaCommerce TPV"

    @property
    def data_dir(self) -> Path:
        return self.root / "ProgramData" / "InnovaCommerce" / "data"

    @property
    def state(self) -> StateDir:
        return StateDir(self.root / "state")

    @property
    def trusted_root(self) -> Path:
        return self.root / "root.json"

    def config(self) -> MachineConfig:
        """The machine configuration; the feed is never contacted by a restore."""
        paths = (self.state.root, self.trusted_root, self.install_dir, self.data_dir)
        if any("'" in str(path) for path in paths):
            raise SystemExit(f"the benchmark's folder {self.root} must not contain a quote (')")
        text = f"""
state_dir = '{self.state.root}'
[feed]
url = 'https://updates.invalid/feed/'
root = '{self.trusted_root}'
[products.{PRODUCT}]
name = "InnovaCommerce TPV"
install_dir = '{self.install_dir}'
executable = "{EXECUTABLE}"
data_paths = ['{self.data_dir}']
"""
        return parse_config(text, base_dir=self.root, source=None)


def copy_tree(source: Path, destination: Path) -> None:
    """``cp -r source destination`` (``destination`` must not exist)."""
    subprocess.run(["cp", "-r", str(source), str(destination)], check=True)


def remove(path: Path) -> None:
    if path.exists():
        remove_tree(path)


class Trash:
    """Where the folders a measurement wrote go when it is done: set aside (one rename)
    until the end of the run, or deleted at once with ``delete``.

    Deleting thousands of files between samples slows down the file creation of the
    next ones by an amount that depends on what was deleted when (ext4 without a
    journal skips recently freed inodes when it allocates new ones; profiled with
    ``perf``), which made rows depend on their order in the round.
    """

    def __init__(self, root: Path, *, delete: bool) -> None:
        self.root = root
        self.delete = delete
        self._count = 0

    def discard(self, path: Path) -> None:
        """Put ``path`` away (if it exists), then flush everything to disk."""
        if path.exists():
            if self.delete:
                remove_tree(path)
            else:
                self.root.mkdir(parents=True, exist_ok=True)
                path.rename(self.root / str(self._count))
                self._count += 1
        os.sync()


def prepare_shop(root: Path, dataset: DataSet) -> Shop:
    """Install version 1.0.0 and its data into a new ``root``, then flush it to disk."""
    remove(root)
    shop = Shop(root.absolute())
    shop.install_dir.parent.mkdir(parents=True)
    shop.data_dir.parent.mkdir(parents=True)
    copy_tree(dataset.program, shop.install_dir)
    copy_tree(dataset.data, shop.data_dir)
    shop.state.ensure()
    shop.trusted_root.write_text("{}\n", encoding="utf-8")
    os.sync()
    return shop


def installed_version(shop: Shop) -> str:
    return (shop.install_dir / "VERSION").read_text(encoding="utf-8").strip()


# --- what is timed ----------------------------------------------------------------------


def run_update(shop: Shop, dataset: DataSet, file_list: FileList) -> dict[str, float]:
    """The whole update transaction of 1.0.0 to 2.0.0; seconds of it and of its parts."""
    state = shop.state
    gc.collect()
    started = time.perf_counter()
    tx = UpdateTransaction.begin(
        journal_dir=state.journal_dir,
        snapshots_root=state.snapshots_dir,
        product=PRODUCT,
        install_dir=shop.install_dir,
        from_version=OLD_VERSION,
        to_version=NEW_VERSION,
        data_paths=[shop.data_dir],
        observer=StepClock(),
        reason="benchmark",
    )
    try:
        begun = time.perf_counter()
        tx.stage(dataset.package, file_list)
        staged = time.perf_counter()
        tx.snapshot()
        snapshotted = time.perf_counter()
        tx.swap()
        tx.mark_healthy()
        tx.commit()
        finished = time.perf_counter()
    except BaseException:
        tx.abort_or_roll_back()
        raise
    if installed_version(shop) != NEW_VERSION:
        raise RuntimeError(f"the update left version {installed_version(shop)} installed")
    return {
        "(a)": finished - started,
        "(a1)": staged - begun,
        "(a2)": snapshotted - staged,
        "(a3)": finished - snapshotted,
    }


@dataclass
class StepClock(NullObserver):
    """An observer that notes when each step starts (and reports nowhere else)."""

    marks: list[tuple[Step, float]] = field(default_factory=list)

    def step(self, product: str, step: Step) -> None:
        self.marks.append((step, time.perf_counter()))

    def first(self, step: Step) -> float:
        return next(moment for seen, moment in self.marks if seen == step)


def run_restore(shop: Shop) -> dict[str, float]:
    """``UpdaterService.restore`` of the newest snapshot; seconds of it and of its parts."""
    clock = StepClock()
    service = UpdaterService(shop.config(), clock)
    gc.collect()
    started = time.perf_counter()
    result = service.restore(PRODUCT)
    finished = time.perf_counter()
    if result.to_version != Version(OLD_VERSION) or installed_version(shop) != OLD_VERSION:
        raise RuntimeError(f"the restore left version {installed_version(shop)} installed")
    stage, snapshot, swap = (clock.first(s) for s in (Step.STAGE, Step.SNAPSHOT, Step.SWAP))
    return {
        "(b)": finished - started,
        "(b1)": stage - started,
        "(b2)": snapshot - stage,
        "(b3)": swap - snapshot,
        "(b4)": finished - swap,
    }


def extract_with_zipfile(package: Path, destination: Path) -> None:
    with zipfile.ZipFile(package) as archive:
        archive.extractall(destination)


def unzip_command(package: Path, destination: Path) -> list[str]:
    unzip = shutil.which("unzip")
    if unzip:
        return [unzip, "-q", str(package), "-d", str(destination)]
    return [sys.executable, "-m", "zipfile", "-e", str(package), str(destination)]


def baseline_cases(
    dataset: DataSet, file_list: FileList
) -> list[tuple[str, Callable[[Path], object]]]:
    """(name, function writing into a new folder) of each measurement besides (a), (b)."""
    package = dataset.package
    tool = "unzip -q" if shutil.which("unzip") else "python -m zipfile -e"

    def extract_then_sync(destination: Path) -> None:
        extract_zip(package, destination, file_list, durable=False)
        os.sync()

    return [
        ("(c1) baseline: cp -r program", lambda dest: copy_tree(dataset.program, dest)),
        (
            f"(c2) baseline: {tool} package",
            lambda dest: subprocess.run(unzip_command(package, dest), check=True),
        ),
        ("(c3) baseline: zipfile extractall", lambda dest: extract_with_zipfile(package, dest)),
        (
            "(c4) extract_zip(durable=False)",
            lambda dest: extract_zip(package, dest, file_list, durable=False),
        ),
        ("(c5) extract_zip(durable=False) + sync()", extract_then_sync),
        ("(d)  describe_tree(program): 1 hash pass", lambda _dest: describe_tree(dataset.program)),
    ]


UPDATE_ROWS = {
    "(a)": "(a)  update: whole transaction",
    "(a1)": "(a1)   stage: extract + verify + flush",
    "(a2)": "(a2)   snapshot: data copy + program list",
    "(a3)": "(a3)   swap + mark_healthy + commit",
    "(b)": "(b)  restore: UpdaterService.restore",
    "(b1)": "(b1)   before the stage (lock, checks)",
    "(b2)": "(b2)   stage: saved program checked, moved",
    "(b3)": "(b3)   snapshot: data copy + program list",
    "(b4)": "(b4)   swap, data back, health, commit",
}


def disk_needed(dataset: DataSet, rounds: int, memory_sets: Sequence[DataSet]) -> int:
    """Bytes a run leaves in its trash: per round three programs and three data folders
    of the update and the restore, five extracted or copied programs; two updates and
    restores per memory measurement."""

    def shop(each: DataSet) -> int:
        return 3 * (int(each.info["program_bytes"]) + int(each.info["data_bytes"]))

    per_round = shop(dataset) + 5 * int(dataset.info["new_bytes"])
    return rounds * per_round + sum(2 * shop(each) for each in memory_sets)


def disk_used(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def run_rounds(
    dataset: DataSet, work: Path, trash: Trash, *, repeat: int, warmup: int
) -> list[Series]:
    """Interleaved rounds of every measurement, each on a fresh copy of the shop."""
    file_list = dataset.file_list()
    series = {key: Series(name) for key, name in UPDATE_ROWS.items()}
    cases = baseline_cases(dataset, file_list)
    for name, _function in cases:
        series[name] = Series(name)
    for round_index in range(warmup + repeat):
        timed = round_index >= warmup
        label = f"round {round_index + 1 - warmup}/{repeat}" if timed else "warm-up round"
        print(f"  {label} ...", end="", flush=True)
        round_started = time.perf_counter()
        shop = prepare_shop(work / "shop", dataset)
        samples = run_update(shop, dataset, file_list)
        kept = list_snapshots(shop.state.snapshots_dir, PRODUCT)
        if [s.version for s in kept] != [OLD_VERSION]:
            raise RuntimeError(f"the update kept snapshots {[s.version for s in kept]}")
        samples.update(run_restore(shop))
        trash.discard(shop.root)
        for name, function in cases:
            destination = work / "baseline"
            samples[name] = time_once(functools.partial(function, destination))
            trash.discard(destination)
        if timed:
            for key, seconds in samples.items():
                series[key].samples.append(seconds)
        print(f" {time.perf_counter() - round_started:.0f} s", flush=True)
    return list(series.values())


# --- memory -----------------------------------------------------------------------------


def memory_child(dataset_root: Path, shop_root: Path, trace: bool) -> int:
    """In a child process: update then restore the prepared shop; print the peaks as JSON.

    Before each of the two operations the peak RSS is reset to the current RSS, so each
    ``peak - before`` is what that operation added at its highest point.
    """
    dataset = DataSet.load(dataset_root)
    file_list = dataset.file_list()
    shop = Shop(shop_root.absolute())
    shop.config()  # imported and parsed before the baseline is taken
    # The service imports the operations (and their libraries) when they first run: the
    # code is loaded before the baseline too, so that the peaks are the data's.
    importlib.import_module("updater.operations.updating")
    importlib.import_module("updater.operations.restoring")
    result: dict[str, Any] = {}
    if trace:
        tracemalloc.start()
    gc.collect()
    result["peak_reset"] = reset_peak_rss()
    result["rss_before_update"] = current_rss()
    result["update_seconds"] = run_update(shop, dataset, file_list)["(a)"]
    result["rss_peak_update"] = peak_rss()
    if trace:
        result["traced_update"] = tracemalloc.get_traced_memory()[1]
    gc.collect()
    reset_peak_rss()
    if trace:
        tracemalloc.reset_peak()
    result["rss_before_restore"] = current_rss()
    result["restore_seconds"] = run_restore(shop)["(b)"]
    result["rss_peak_restore"] = peak_rss()
    if trace:
        result["traced_restore"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    print(json.dumps(result))
    return 0


def measure_memory(dataset: DataSet, work: Path, trash: Trash) -> dict[str, Any]:
    """Peak RSS (one child) and tracemalloc peaks (another child) of update + restore."""
    found: dict[str, Any] = {}
    for trace in (False, True):
        shop = prepare_shop(work / "memory-shop", dataset)
        command = [
            sys.executable,
            "-m",
            "benchmarks.bench_update",
            "--memory-child",
            str(dataset.root),
            str(shop.root),
            *(["--trace"] if trace else []),
        ]
        done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        trash.discard(shop.root)
        if done.returncode != 0:
            raise RuntimeError(f"the memory child failed:\n{done.stderr}")
        measured = json.loads(done.stdout.strip().splitlines()[-1])
        if trace:  # only the traced peaks: tracemalloc's own memory inflates the RSS
            measured = {key: value for key, value in measured.items() if "traced" in key}
        found.update(measured)
    return found


# --- the report -------------------------------------------------------------------------


def mb(size: float) -> str:
    return f"{size / MIB:.1f}"


def report(
    series: Sequence[Series],
    dataset: DataSet,
    *,
    built_now: bool,
    warmup: int,
    deleted_at_once: bool,
    memory: dict[str, dict[str, Any]],
) -> str:
    by_key = {entry.name.split(" ", 1)[0]: entry for entry in series}
    info = dataset.info
    update = by_key["(a)"].median
    new_bytes, old_bytes = info["new_bytes"], info["program_bytes"]
    throughput_bytes = {
        "(a)": new_bytes,
        "(a1)": new_bytes,
        "(b)": old_bytes,
        "(c1)": old_bytes,
        "(c2)": new_bytes,
        "(c3)": new_bytes,
        "(c4)": new_bytes,
        "(c5)": new_bytes,
        "(d)": old_bytes,
    }
    rows = []
    for entry in series:
        key = entry.name.split(" ", 1)[0]
        size = throughput_bytes.get(key)
        rows.append(
            [
                entry.name,
                ms(entry.median),
                ms(entry.minimum),
                f"{entry.median / update:.0%}",
                f"{size / MIB / entry.median:.0f}" if size else "",
            ]
        )
    table = format_table(["measurement", "median ms", "min ms", "of (a)", "MB/s"], rows)

    def median(key: str) -> float:
        return by_key[key].median

    fsync_cost = median("(a1)") - median("(c4)")
    how = "generated now" if built_now else f"reused, generated {info['built']}"
    lines = [
        f"Program 1.0.0: {info['program_files']:,} files, {mb(old_bytes)} MB in "
        f"{info['program_folders']} folders; data folder {info['data_files']} files, "
        f"{mb(info['data_bytes'])} MB",
        f"Package 2.0.0: {mb(info['package_bytes'])} MB zip, {info['new_files']:,} files, "
        f"{mb(new_bytes)} MB installed ({info['changed_files']:,} changed, "
        f"{info['added_files']} added, {info['removed_files']} removed)",
        f"  data set ({how}): generated in {info['generate_seconds']} s, packed in "
        f"{info['pack_seconds']} s",
        f"Repetitions: {len(series[0].samples)} rounds after {warmup} warm-up round(s), each "
        "on a fresh copy of the install; what each wrote was "
        + ("deleted at once" if deleted_at_once else "set aside until the end of the run"),
        "",
        table,
        "",
        f"Update (a) vs cp -r (c1): {update / median('(c1)'):.1f}x; "
        f"restore (b) vs cp -r (c1): {median('(b)') / median('(c1)'):.1f}x",
        f"Stage (a1) vs {by_key['(c2)'].name.split(': ', 1)[1]} (c2): "
        f"{median('(a1)') / median('(c2)'):.1f}x, vs zipfile extractall (c3): "
        f"{median('(a1)') / median('(c3)'):.1f}x; extract_zip's checks without fsync "
        f"(c4) - (c3): {ms(median('(c4)') - median('(c3)'))} ms",
        f"The stage's flush: (a1) - (c4) = {ms(fsync_cost)} ms "
        f"({fsync_cost / info['new_files'] * 1e6:.0f} us per file); one sync() after a "
        f"non-durable extraction: (c5) - (c4) = "
        f"{ms(median('(c5)') - median('(c4)'))} ms",
        f"Restore stage (b2): {ms(median('(b2)'))} ms for {mb(old_bytes)} MB "
        f"(a rename; cp -r (c1) of the same program: {ms(median('(c1)'))} ms); "
        f"one hash pass (d): {ms(median('(d)'))} ms",
    ]
    if memory:
        memory_rows = []
        for label, found in memory.items():
            update_before, restore_before = found["rss_before_update"], found["rss_before_restore"]
            memory_rows.append(
                [
                    label,
                    mb(update_before),
                    mb(found["rss_peak_update"]),
                    mb(found["rss_peak_update"] - update_before),
                    mb(found["rss_peak_restore"]),
                    mb(found["rss_peak_restore"] - restore_before),
                    mb(found["traced_update"]),
                    mb(found["traced_restore"]),
                ]
            )
        reset = all(found["peak_reset"] for found in memory.values())
        lines += [
            "",
            "Peak memory in a child process, MiB (RSS: VmHWM after a reset, else getrusage; "
            "traced: tracemalloc peak of Python's allocations, in a second child):",
            format_table(
                [
                    "package",
                    "RSS before",
                    "update peak",
                    "+",
                    "restore peak",
                    "+",
                    "traced update",
                    "traced restore",
                ],
                memory_rows,
            ),
        ]
        if not reset:
            lines.append("(peaks since the child started: /proc/self/clear_refs is unavailable)")
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_update",
        description="Time an update and a restore of a large program against cp and unzip.",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=DEFAULT_REPEAT,
        help=f"timed rounds of every measurement (default {DEFAULT_REPEAT})",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=DEFAULT_WARMUP,
        help=f"untimed rounds first (default {DEFAULT_WARMUP})",
    )
    parser.add_argument(
        "--size-mb",
        type=int,
        default=DEFAULT_SIZE_MB,
        help=f"size of the program (default {DEFAULT_SIZE_MB})",
    )
    parser.add_argument(
        "--files",
        type=int,
        default=DEFAULT_FILES,
        help=f"files of the program (default {DEFAULT_FILES})",
    )
    parser.add_argument(
        "--small-size-mb",
        type=int,
        default=DEFAULT_SMALL_SIZE_MB,
        help="size of the smaller package of the memory comparison "
        f"(default {DEFAULT_SMALL_SIZE_MB}; 0: measure the memory of the main one only)",
    )
    parser.add_argument(
        "--small-files",
        type=int,
        default=0,
        help="files of the smaller package (default: in proportion to its size)",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the memory measurement")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DATA_DIR / NAME,
        help="where the data sets are generated and cached (default benchmarks/.data/update)",
    )
    parser.add_argument("--rebuild", action="store_true", help="regenerate the data sets")
    parser.add_argument(
        "--clean-as-you-go",
        action="store_true",
        help="delete what each measurement wrote at once, not at the end of the run (less "
        "disk space, noisier figures; chosen anyway when the disk is short)",
    )
    parser.add_argument("--memory-child", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.memory_child:
        dataset_root, shop_root = args.memory_child
        return memory_child(dataset_root, shop_root, trace=args.trace)
    if args.repeat < 1 or args.warmup < 0:
        raise SystemExit("--repeat must be at least 1 and --warmup at least 0")
    if args.size_mb < 1 or args.files < 2 or args.small_size_mb < 0:
        raise SystemExit("--size-mb must be at least 1, --files at least 2")
    if sys.platform == "win32" or shutil.which("cp") is None:
        raise SystemExit(f"{NAME}: needs a POSIX system (cp -r, sync)")
    print_machine_once()
    print(f"== {NAME} ==")
    started = time.perf_counter()
    dataset, built_now = prepare_dataset(
        args.data_dir, args.size_mb, args.files, rebuild=args.rebuild
    )
    memory_sets = [] if args.no_memory else [dataset]
    if memory_sets and 0 < args.small_size_mb < args.size_mb:
        files = args.small_files or round(args.files * args.small_size_mb / args.size_mb)
        small, _built = prepare_dataset(
            args.data_dir, args.small_size_mb, max(files, 2), rebuild=args.rebuild
        )
        memory_sets.insert(0, small)
    work = args.data_dir.absolute() / "work"
    remove(work)  # left by an interrupted run
    work.mkdir(parents=True)
    needed = disk_needed(dataset, args.warmup + args.repeat, memory_sets)
    free = shutil.disk_usage(work).free
    delete = args.clean_as_you_go or free < needed + 2 * 1024**3
    if delete and not args.clean_as_you_go:
        print(f"  only {free / 1024**3:.1f} GiB free: deleting each folder when measured")
    trash = Trash(work / "trash", delete=delete)
    memory: dict[str, dict[str, Any]] = {}
    try:
        series = run_rounds(dataset, work, trash, repeat=args.repeat, warmup=args.warmup)
        for each in memory_sets:
            print(f"  memory of {each.label} ...", flush=True)
            memory[each.label] = measure_memory(each, work, trash)
    finally:
        if not delete:
            print(f"  deleting the {disk_used(work) / 1024**3:.1f} GiB written ...", flush=True)
        remove(work)
    print(
        report(
            series,
            dataset,
            built_now=built_now,
            warmup=args.warmup,
            deleted_at_once=delete,
            memory=memory,
        )
    )
    print(f"({NAME}: {time.perf_counter() - started:.0f} s in all)")
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

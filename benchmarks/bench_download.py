"""Benchmark: downloading a 200 MiB package from a real nginx, and resuming it.

A file of random bytes (default 200 MiB, plus a 50 MiB one for the memory check) is
generated once into ``benchmarks/.data/download/www/`` and reused while its size and
the data set's format stay the same. A real nginx on 127.0.0.1 (``tests.nginx``:
``sendfile``, ``ETag``, ranges, a JSON access log) serves it, and one run measures:

(1) throughput, each repetition into a fresh destination (removed, then ``sync()``,
    outside the timed part, so that no sample pays for another's write-back):

    (a)  ``download_target`` (what the updater does: ``raw.read1`` chunks of
         ``NetworkLimits.chunk_size``, SHA-256 in a second thread, ``fdatasync`` every
         8 MiB in a third, the partial's sidecar, ``fsync``, rename, ``fsync`` of the
         folder);
    (b1) baseline: ``curl -s -o file URL``;
    (b2) the same followed by one ``fsync`` of the file (a durable ``curl``);
    (b3) the baseline of issue 17: ``curl -s -o``, then ``sha256sum file`` (a real
         subprocess, its output checked), then ``fsync``: a durable, verified ``curl``;
         ``download_target``'s throughput as a multiple of this one's is the headline
         ratio ("× durable curl + sha256sum", goal ≥ 0.95);
    (c1) a plain ``requests`` streaming loop, ``iter_content`` → ``write``, no hash;
    (c2)–(c6) the same loop rebuilt step by step towards (a), to separate its costs:
         ``raw.read1`` chunks instead of ``iter_content``, + SHA-256 (in the same
         thread), + ``fsync``; then the SHA-256 moved to ``download.py``'s hash thread
         (``updater.feed._background.HashThread``), + its background write-back
         (``WriteBack``);

(2) resume after a cut at 50 %: ``download_target`` with a :class:`CancelToken` that
    is cancelled once half the file is on disk, by its progress callback or, as
    ``download.py`` reports progress only ten times a second (~50 MiB apart here), by
    a thread watching the partial grow, whichever notices first; then a second call
    into the same destination. The bytes nginx sent for that second call (``bytes``
    of its 206 in the access log) are reported as a share of the file (acceptance:
    less than 55 %), and checked to be exactly the bytes the partial lacked;

(3) peak memory of ``download_target`` for the 50 MiB and the 200 MiB file, in child
    processes: peak RSS (Linux ``VmHWM`` reset with ``/proc/self/clear_refs`` before
    the download, else ``getrusage``) and, in a second child, the ``tracemalloc`` peak;
    the plain loop (c1) is measured in the same children as a reference. It must not
    grow with the file.

Run ``python -m benchmarks.bench_download`` (``--help`` for the options).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from benchmarks import (
    DATA_DIR,
    REPO_ROOT,
    Series,
    current_rss,
    format_table,
    peak_rss,
    print_machine_once,
    reset_peak_rss,
    time_once,
    without_proxies,
)
from tests.nginx import AccessEntry, NginxServer, nginx_server
from updater.errors import CancelledError
from updater.feed._background import HashThread, WriteBack
from updater.feed.download import CancelToken, DownloadProgress, download_target
from updater.feed.fetch import DEFAULT_USER_AGENT, NetworkLimits, make_session

NAME = "download"
MIB = 1 << 20
DEFAULT_SIZE_MIB = 200
SMALL_SIZE_MIB = 50
DEFAULT_REPEAT = 7
#: Where the first download of the resume check is cut (share of the file).
CUT_AT = 0.5
#: Acceptance: the resumed call transfers less than this share of the file.
RESUME_LIMIT = 0.55
#: The plain loops read this much at a time, like ``NetworkLimits().chunk_size``.
CHUNK = NetworkLimits().chunk_size

#: Bump when the generated files change shape, to force a rebuild.
DATASET_FORMAT = 1
MARKER = "dataset.json"


# --- the data set -----------------------------------------------------------------------


@dataclass(frozen=True)
class Blob:
    """One generated file served by nginx."""

    path: Path
    size: int
    sha256: str

    @property
    def name(self) -> str:
        return self.path.name


def blob_name(size_mib: int) -> str:
    return f"random-{size_mib}mib.bin"


def _write_random(path: Path, size: int) -> str:
    """``size`` random bytes into ``path`` (through a temporary name); their SHA-256."""
    digest = hashlib.sha256()
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as out:
        left = size
        while left:
            block = os.urandom(min(MIB, left))
            digest.update(block)
            out.write(block)
            left -= len(block)
    temporary.replace(path)
    return digest.hexdigest()


def prepare_blobs(data_dir: Path, sizes_mib: Sequence[int]) -> tuple[dict[int, Blob], bool]:
    """The files of ``sizes_mib`` MiB in ``data_dir/www``, generated when missing or
    outdated; True when any was generated by this call."""
    www = data_dir / "www"
    www.mkdir(parents=True, exist_ok=True)
    marker_path = data_dir / MARKER
    try:
        marker = json.loads(marker_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        marker = {}
    if not isinstance(marker, dict) or marker.get("format") != DATASET_FORMAT:
        marker = {"format": DATASET_FORMAT, "files": {}}
    files: dict[str, Any] = marker.setdefault("files", {})
    blobs: dict[int, Blob] = {}
    generated = False
    for size_mib in sizes_mib:
        path = www / blob_name(size_mib)
        size = size_mib * MIB
        known = files.get(path.name)
        try:
            on_disk = path.stat().st_size
        except FileNotFoundError:
            on_disk = None
        if (
            not isinstance(known, dict)
            or known.get("size") != size
            or on_disk != size
            or not isinstance(known.get("sha256"), str)
        ):
            print(f"Generating {size_mib} MiB of random bytes in {path} ...", flush=True)
            files[path.name] = {"size": size, "sha256": _write_random(path, size)}
            generated = True
        blobs[size_mib] = Blob(path, size, str(files[path.name]["sha256"]))
    if generated:
        marker_path.write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    return blobs, generated


# --- the server -------------------------------------------------------------------------


class NginxUnavailableError(Exception):
    """nginx is missing or did not start."""


@contextlib.contextmanager
def serving(root: Path) -> Iterator[NginxServer]:
    """``tests.nginx`` serving ``root``; its pytest failure (nginx missing or not starting)
    becomes :class:`NginxUnavailableError`."""
    import pytest

    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(contextlib.contextmanager(nginx_server)(root))
        except pytest.fail.Exception as e:  # a BaseException: keep it from ending the run
            raise NginxUnavailableError(str(e)) from None
        yield server


# --- the measured operations -------------------------------------------------------------


def run_download_target(
    session: requests.Session,
    url: str,
    dest: Path,
    blob: Blob,
    *,
    progress: Callable[[DownloadProgress], None] | None = None,
    cancel: CancelToken | None = None,
) -> None:
    download_target(
        session,
        url,
        dest,
        length=blob.size,
        sha256=blob.sha256,
        limits=NetworkLimits(),
        progress=progress,
        cancel=cancel,
    )


def run_curl(url: str, dest: Path, *, durable: bool) -> None:
    subprocess.run(["curl", "-s", "-o", str(dest), url], check=True)
    if durable:
        fd = os.open(dest, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def run_curl_sha256sum(url: str, dest: Path, sha256: str) -> None:
    """Issue 17's baseline: ``curl -s -o``, ``sha256sum`` (checked), ``fsync``."""
    subprocess.run(["curl", "-s", "-o", str(dest), url], check=True)
    done = subprocess.run(["sha256sum", str(dest)], check=True, capture_output=True, text=True)
    if done.stdout.split(" ", 1)[0] != sha256:
        raise RuntimeError(f"sha256sum: unexpected output {done.stdout!r}")
    fd = os.open(dest, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def run_requests(
    session: requests.Session,
    url: str,
    dest: Path,
    *,
    read1: bool = False,
    hashed: bool = False,
    durable: bool = False,
    threaded: bool = False,
    write_back: bool = False,
) -> None:
    """The plain loop (``iter_content``), or rebuilt towards ``download_target``:
    ``threaded`` hashes in ``download.py``'s hash thread, ``write_back`` adds its
    background ``fdatasync`` (both with ``read1``, ``hashed`` and ``durable``)."""
    digest = hashlib.sha256() if hashed else None
    with (
        session.get(url, stream=True, timeout=30, headers={"Accept-Encoding": "identity"}) as r,
        dest.open("wb") as out,
        contextlib.ExitStack() as stack,
    ):
        r.raise_for_status()
        hasher: HashThread | hashlib._Hash | None = digest
        if threaded and digest is not None:
            hasher = stack.enter_context(contextlib.closing(HashThread(digest)))
        writeback = None
        if write_back:
            writeback = stack.enter_context(contextlib.closing(WriteBack(out.fileno())))
        if read1:
            raw: Any = r.raw
            done = 0
            while chunk := raw.read1(CHUNK, decode_content=False):
                out.write(chunk)
                if hasher is not None:
                    hasher.update(chunk)
                if writeback is not None:
                    done += len(chunk)
                    writeback.wrote(done)
        else:
            for chunk in r.iter_content(CHUNK):
                if hasher is not None:
                    hasher.update(chunk)
                out.write(chunk)
        stack.close()  # the hash thread has seen every chunk; no write-back under way
        if durable:
            out.flush()
            os.fsync(out.fileno())


def discard(folder: Path) -> None:
    """Empty ``folder`` and flush the disk, so that the next sample starts clean."""
    for path in folder.iterdir():
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    os.sync()


def measure_throughput(
    cases: Sequence[tuple[str, Callable[[Path], object]]],
    work: Path,
    blob: Blob,
    *,
    repeat: int,
    warmup: int,
) -> list[Series]:
    """Time every case ``repeat`` times, interleaved, each into a fresh folder; every
    result is checked (size, and SHA-256 outside the timed part) once, in the warm-up
    round or the first timed one."""
    series = [Series(name) for name, _function in cases]
    checked: set[str] = set()
    for round_ in range(warmup + repeat):
        for entry, (name, function) in zip(series, cases, strict=True):
            dest = work / "file.bin"
            seconds = time_once(functools.partial(function, dest))
            if name not in checked:
                check_file(dest, blob, name)
                checked.add(name)
            if round_ >= warmup:
                entry.samples.append(seconds)
            discard(work)
    return series


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(MIB):
            digest.update(block)
    return digest.hexdigest()


def check_file(path: Path, blob: Blob, what: str) -> None:
    if path.stat().st_size != blob.size or sha256_of(path) != blob.sha256:
        raise RuntimeError(f"{what} did not produce the served file")


# --- resume ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Resume:
    partial: int  # bytes on disk after the cut
    cut_by: str  # who cancelled, at how many bytes
    rehash_seconds: float  # reading and hashing the partial alone
    first_seconds: float
    first_requests: list[AccessEntry]
    second_seconds: float
    second_requests: list[AccessEntry]
    second_first_progress: int | None  # ``done`` of the second call's first report
    size: int

    @property
    def resumed_bytes(self) -> int:
        return sum(entry.bytes for entry in self.second_requests)

    @property
    def resumed_share(self) -> float:
        return self.resumed_bytes / self.size

    @property
    def exactly_missing(self) -> bool:
        """Whether the second call fetched exactly the bytes the partial lacked."""
        return self.resumed_bytes == self.size - self.partial

    @property
    def passed(self) -> bool:
        return (
            self.resumed_share < RESUME_LIMIT
            and self.exactly_missing
            and len(self.second_requests) == 1
            and self.second_requests[0].status == 206
        )


def measure_resume(server: NginxServer, url: str, work: Path, blob: Blob) -> Resume:
    """Cut a download at ``CUT_AT`` with a CancelToken, then resume it with a new call."""
    dest = work / "resumed.bin"
    partial_path = dest.with_name(dest.name + ".partial")
    token = CancelToken()
    threshold = CUT_AT * blob.size
    cut_by: list[str] = []  # who cancelled first, and at how many bytes

    def cancel(who: str, done: int) -> None:
        if not token.cancelled:
            cut_by.append(f"{who} at {done:,} bytes")
            token.cancel()

    def cut(progress: DownloadProgress) -> None:
        if progress.done >= threshold:
            cancel("the progress callback", progress.done)

    finished = threading.Event()

    def watch() -> None:
        # download.py reports progress at most ten times a second, i.e. every ~50 MiB
        # at these speeds; watching the partial grow cuts much closer to CUT_AT.
        while not finished.is_set() and not token.cancelled:
            with contextlib.suppress(OSError):
                size = partial_path.stat().st_size
                if size >= threshold:
                    cancel("the watcher of the partial's size", size)
            time.sleep(0.001)

    watcher = threading.Thread(target=watch, daemon=True)
    session = make_session(user_agent=DEFAULT_USER_AGENT)
    before = len(server.requests())
    started = time.perf_counter()
    watcher.start()
    try:
        run_download_target(session, url, dest, blob, progress=cut, cancel=token)
    except CancelledError:
        pass
    else:
        raise RuntimeError("the first download was not cancelled")
    finally:
        finished.set()
        watcher.join()
        session.close()  # the cut connection is logged by nginx once it is closed
    first_seconds = time.perf_counter() - started
    partial = partial_path.stat().st_size
    # What the second call's load() does first: read and hash the partial.
    rehash_seconds = time_once(lambda: sha256_of(partial_path))
    first = server.requests(at_least=before + 1)[before:]
    os.sync()

    reports: list[int] = []
    session = make_session(user_agent=DEFAULT_USER_AGENT)
    before = before + len(first)
    started = time.perf_counter()
    try:
        run_download_target(
            session, url, dest, blob, progress=lambda progress: reports.append(progress.done)
        )
    finally:
        session.close()
    second_seconds = time.perf_counter() - started
    check_file(dest, blob, "the resumed download_target")
    second = server.requests(at_least=before + 1)[before:]
    discard(work)
    return Resume(
        partial=partial,
        cut_by=cut_by[0],
        rehash_seconds=rehash_seconds,
        first_seconds=first_seconds,
        first_requests=first,
        second_seconds=second_seconds,
        second_requests=second,
        second_first_progress=reports[0] if reports else None,
        size=blob.size,
    )


# --- memory ------------------------------------------------------------------------------


def memory_child(url: str, work: Path, size: int, sha256: str, trace: bool) -> int:
    """In a child process: ``download_target`` then the plain loop; print peaks as JSON.

    Before each download the peak RSS (and the tracemalloc peak) is reset, so each
    ``peak - before`` is what that download added at its highest point.
    """
    blob = Blob(work / "unused", size, sha256)
    work.mkdir(parents=True, exist_ok=True)
    session = make_session(user_agent=DEFAULT_USER_AGENT)
    plain = requests.Session()
    result: dict[str, Any] = {}
    if trace:
        tracemalloc.start()
    downloads: list[tuple[str, Callable[[Path], None]]] = [
        ("ours", lambda dest: run_download_target(session, url, dest, blob)),
        ("plain", lambda dest: run_requests(plain, url, dest)),
    ]
    for key, function in downloads:
        dest = work / f"{key}.bin"
        gc.collect()
        result["peak_reset"] = reset_peak_rss()
        if trace:
            tracemalloc.reset_peak()
        before = current_rss()
        function(dest)
        result[f"rss_{key}"] = peak_rss() - before
        if trace:
            result[f"traced_{key}"] = tracemalloc.get_traced_memory()[1]
        if dest.stat().st_size != size:
            raise RuntimeError(f"{key}: {dest} has the wrong size")
        dest.unlink()
    print(json.dumps(result))
    return 0


def measure_memory(url: str, blob: Blob, work: Path) -> dict[str, Any]:
    """Peak RSS (one child) and tracemalloc peaks (another child) of a download."""
    found: dict[str, Any] = {}
    for trace in (False, True):
        command = [
            sys.executable,
            "-m",
            "benchmarks.bench_download",
            "--memory-child",
            url,
            str(work),
            str(blob.size),
            blob.sha256,
            *(["--trace"] if trace else []),
        ]
        done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"the memory child failed:\n{done.stderr}")
        measured = json.loads(done.stdout.strip().splitlines()[-1])
        keep = "traced" if trace else "rss"
        found.update({key: value for key, value in measured.items() if keep in key})
        found.setdefault("peak_reset", measured["peak_reset"])
        discard(work)
    return found


# --- the report -------------------------------------------------------------------------


def rate(size: int, seconds: float) -> str:
    return f"{size / MIB / seconds:.0f}"


def mib(size: float) -> str:
    return f"{size / MIB:.1f}"


def curl_version() -> str:
    done = subprocess.run(["curl", "--version"], capture_output=True, text=True, check=False)
    words = done.stdout.split()
    return " ".join(words[:2]) if len(words) >= 2 else "curl"


def nginx_version() -> str:
    binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if binary is None:
        return "nginx"
    done = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False)
    return (done.stderr or done.stdout).strip().rpartition(" ")[2] or "nginx"


def report_throughput(series: Sequence[Series], blob: Blob, warmup: int) -> str:
    by_key = {entry.name.split(" ", 1)[0]: entry for entry in series}
    curl, verified = by_key["(b1)"], by_key["(b3)"]
    rows = [
        [
            entry.name,
            f"{entry.median:.3f}",
            f"{entry.minimum:.3f}",
            rate(blob.size, entry.median),
            rate(blob.size, entry.minimum),
            f"{entry.median / curl.median:.2f}",
        ]
        for entry in series
    ]
    table = format_table(
        ["measurement", "median s", "min s", "MiB/s (median)", "MiB/s (best)", "time / curl"],
        rows,
    )
    ours, durable = by_key["(a)"], by_key["(b2)"]
    c1, c2, c3, c4, c5, c6 = (by_key[f"(c{i})"].median for i in range(1, 7))
    ratio = verified.median / ours.median
    lines = [
        f"File: {mib(blob.size)} MiB of random bytes ({blob.name}), "
        f"{len(series[0].samples)} repetitions after {warmup} warm-up round(s), "
        "fresh destination each",
        "",
        table,
        "",
        f"download_target: {ratio:.2f}x durable curl + sha256sum (throughput, median; "
        f"goal >= 0.95: {'MET' if ratio >= 0.95 else 'NOT MET'})",
        f"  vs curl: {curl.median / ours.median:.2f}x curl's throughput; "
        f"vs curl + fsync: {durable.median / ours.median:.2f}x; "
        f"sha256sum's step in (b3): {(verified.median - durable.median) * 1000:+.0f} ms",
        "Steps from the plain loop (c1) towards download_target (differences of medians, noisy):",
        f"  iter_content -> read1:    {(c2 - c1) * 1000:+.0f} ms",
        f"  + SHA-256:                {(c3 - c2) * 1000:+.0f} ms",
        f"  + fsync:                  {(c4 - c3) * 1000:+.0f} ms",
        f"  SHA-256 in a thread:      {(c5 - c4) * 1000:+.0f} ms",
        f"  + background write-back:  {(c6 - c5) * 1000:+.0f} ms",
        f"  the rest of (a):          {(ours.median - c6) * 1000:+.0f} ms "
        "(sidecar, checks, progress, rename, second fsync)",
    ]
    return "\n".join(lines)


def report_resume(resume: Resume) -> str:
    size = resume.size
    lines = [
        f"Resume after a cut at {CUT_AT:.0%}: CancelToken cancelled by {resume.cut_by}",
        f"  partial on disk after the cut: {resume.partial:,} bytes "
        f"({resume.partial / size:.1%}); first call {resume.first_seconds:.2f} s",
    ]
    for entry in resume.first_requests:
        lines.append(
            f"  cut request:     {entry.status} range={entry.range or '-'} "
            f"nginx sent {entry.bytes:,} bytes ({entry.bytes / size:.1%}; "
            f"{entry.bytes - resume.partial:,} more than kept)"
        )
    for entry in resume.second_requests:
        lines.append(
            f"  resumed request: {entry.status} range={entry.range or '-'} "
            f"if-range={entry.if_range or '-'} nginx sent {entry.bytes:,} bytes"
        )
    first_report = resume.second_first_progress
    lines += [
        f"  second call: {resume.second_seconds:.2f} s (reading and hashing the partial "
        f"alone: {resume.rehash_seconds:.2f} s), first progress report at "
        + (f"{first_report:,} bytes" if first_report is not None else "-"),
        f"  transferred by the second call: {resume.resumed_bytes:,} bytes = "
        f"{resume.resumed_share:.1%} of the file (acceptance: < {RESUME_LIMIT:.0%}) -> "
        + ("PASS" if resume.passed else "FAIL"),
        "  = the file minus the partial: "
        + ("yes, no byte fetched twice" if resume.exactly_missing else "NO"),
    ]
    return "\n".join(lines)


def report_memory(memory: dict[int, dict[str, Any]]) -> str:
    rows = []
    for size_mib, found in sorted(memory.items()):
        rows.append(
            [
                f"{size_mib} MiB",
                f"{found['rss_ours'] / MIB:.2f}",
                f"{found['traced_ours'] / MIB:.2f}",
                f"{found['rss_plain'] / MIB:.2f}",
                f"{found['traced_plain'] / MIB:.2f}",
            ]
        )
    table = format_table(
        [
            "file",
            "download_target RSS +MiB",
            "traced MiB",
            "plain loop RSS +MiB",
            "traced MiB",
        ],
        rows,
    )
    reset = all(found.get("peak_reset") for found in memory.values())
    note = (
        "peak RSS above the RSS just before the download (VmHWM reset by clear_refs)"
        if reset
        else "peak RSS of the child since it started minus the RSS before the download"
    )
    sizes = sorted(memory)
    small, large = memory[sizes[0]], memory[sizes[-1]]
    growth = round((large["rss_ours"] - small["rss_ours"]) / MIB, 2) + 0.0  # no "-0.00"
    traced_growth = round((large["traced_ours"] - small["traced_ours"]) / MIB, 2) + 0.0
    return "\n".join(
        [
            f"Peak memory in child processes ({note}; traced: tracemalloc peak, second child):",
            "",
            table,
            "",
            f"download_target, {sizes[-1]} MiB vs {sizes[0]} MiB: RSS {growth:+.2f} MiB, "
            f"traced {traced_growth:+.2f} MiB",
        ]
    )


# --- main -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_download",
        description="Time download_target against curl and requests from a real nginx, "
        "check its resume and its memory.",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=DEFAULT_REPEAT,
        help=f"timed repetitions of each throughput measurement (default {DEFAULT_REPEAT})",
    )
    parser.add_argument(
        "--size-mib",
        type=int,
        default=DEFAULT_SIZE_MIB,
        help=f"size of the file (default {DEFAULT_SIZE_MIB} MiB)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DATA_DIR / NAME,
        help="where the files are generated and kept (default benchmarks/.data/download)",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the memory check")
    parser.add_argument("--memory-child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    without_proxies()
    if args.memory_child:
        url, work, size, sha256 = args.memory_child
        return memory_child(url, Path(work), int(size), sha256, args.trace)
    if args.repeat < 1 or args.size_mib < 1:
        raise SystemExit("--repeat and --size-mib must be at least 1")
    print_machine_once()
    print(f"== {NAME} ==")
    if shutil.which("curl") is None:
        raise SystemExit("curl is not installed (apt-get install curl); bench_download needs it")
    started = time.perf_counter()
    sizes = sorted({SMALL_SIZE_MIB, args.size_mib}) if not args.no_memory else [args.size_mib]
    blobs, generated = prepare_blobs(args.data_dir, sizes)
    blob = blobs[args.size_mib]
    print(f"Server: {nginx_version()} on 127.0.0.1; client baseline {curl_version()}")
    if generated:
        print(f"  (files generated now, {time.perf_counter() - started:.1f} s)")

    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(serving(args.data_dir / "www"))
        except NginxUnavailableError as e:
            raise SystemExit(f"bench_download needs nginx: {e}") from None
        temporary = tempfile.TemporaryDirectory(prefix="bench-download-", dir=args.data_dir)
        work = Path(stack.enter_context(temporary))
        url = server.url + blob.name
        ours = make_session(user_agent=DEFAULT_USER_AGENT)
        plain = requests.Session()
        stack.callback(ours.close)
        stack.callback(plain.close)
        cases: list[tuple[str, Callable[[Path], object]]] = [
            (
                "(a)  download_target (read1, SHA-256 thread, write-back, fsync)",
                lambda dest: run_download_target(ours, url, dest, blob),
            ),
            ("(b1) baseline: curl -s -o", lambda dest: run_curl(url, dest, durable=False)),
            ("(b2) curl -s -o + fsync", lambda dest: run_curl(url, dest, durable=True)),
            (
                "(b3) curl -s -o + sha256sum + fsync",
                lambda dest: run_curl_sha256sum(url, dest, blob.sha256),
            ),
            ("(c1) requests iter_content -> write", lambda dest: run_requests(plain, url, dest)),
            (
                "(c2) requests raw.read1 -> write",
                lambda dest: run_requests(plain, url, dest, read1=True),
            ),
            (
                "(c3)   + SHA-256",
                lambda dest: run_requests(plain, url, dest, read1=True, hashed=True),
            ),
            (
                "(c4)   + SHA-256 + fsync",
                lambda dest: run_requests(plain, url, dest, read1=True, hashed=True, durable=True),
            ),
            (
                "(c5) (c4), SHA-256 in a thread",
                lambda dest: run_requests(
                    plain, url, dest, read1=True, hashed=True, durable=True, threaded=True
                ),
            ),
            (
                "(c6)   + background write-back",
                lambda dest: run_requests(
                    plain,
                    url,
                    dest,
                    read1=True,
                    hashed=True,
                    durable=True,
                    threaded=True,
                    write_back=True,
                ),
            ),
        ]
        series = measure_throughput(cases, work, blob, repeat=args.repeat, warmup=1)
        resume = measure_resume(server, url, work, blob)
        memory: dict[int, dict[str, Any]] = {}
        if not args.no_memory:
            for size_mib in sizes:
                memory[size_mib] = measure_memory(
                    server.url + blobs[size_mib].name, blobs[size_mib], work / "memory"
                )

    print(report_throughput(series, blob, warmup=1))
    print()
    print(report_resume(resume))
    if memory:
        print()
        print(report_memory(memory))
    print(f"\n({time.perf_counter() - started:.0f} s)")
    print()
    return 0 if resume.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())

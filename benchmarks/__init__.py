"""Benchmarks of InnovaCommerce Updater: measured, never asserted in timed tests.

Every ``bench_*.py`` module of this package has a ``main(argv) -> int`` that builds
what it needs, measures it against a baseline measured in the same run, and prints a
table. Run them all with ``python -m benchmarks.run`` from the repository root, or
one with ``python -m benchmarks.bench_<name>``; ``docs/benchmarks.md`` holds the
latest figures.

This module holds what the benchmarks share: timing statistics, the table printer,
the description of the machine, and the folder for generated data
(``benchmarks/.data/``, ignored by git).
"""

from __future__ import annotations

import gc
import importlib.metadata
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

#: The repository root. It is put on ``sys.path`` so that benchmarks can use test
#: helpers such as ``tests.feedserver`` however they are started.
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

#: Generated data sets, kept between runs (git-ignored).
DATA_DIR = Path(__file__).resolve().parent / ".data"

#: Libraries whose version is printed with the machine description.
LIBRARIES = ("tuf", "securesystemslib", "cryptography", "jsonschema", "requests", "urllib3")

_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


# --- timing -----------------------------------------------------------------------------


@dataclass
class Series:
    """The samples, in seconds, of one measurement."""

    name: str
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def minimum(self) -> float:
        return min(self.samples)


def time_once(function: Callable[[], object]) -> float:
    """Seconds one call of ``function`` takes (``time.perf_counter``).

    Garbage from earlier samples is collected first, so that one sample does not pay
    for another's; the collector stays on during the call, as in real use.
    """
    gc.collect()
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def measure(
    cases: Sequence[tuple[str, Callable[[], object]]], *, repeat: int, warmup: int = 1
) -> list[Series]:
    """Time every case ``repeat`` times, interleaved, after ``warmup`` untimed rounds.

    Interleaving (case 1, case 2, ..., then again) spreads any slow phase of the
    machine over all cases instead of penalising one.
    """
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    for _ in range(warmup):
        for _name, function in cases:
            function()
    series = [Series(name) for name, _function in cases]
    for _ in range(repeat):
        for entry, (_name, function) in zip(series, cases, strict=True):
            entry.samples.append(time_once(function))
    return series


def ms(seconds: float) -> str:
    """``seconds`` as milliseconds for a table."""
    return f"{seconds * 1000:.1f}" if seconds < 10 else f"{seconds * 1000:.0f}"


def format_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A plain-text table; the first column left-aligned, the others right-aligned."""
    all_rows = [list(headers), *(list(row) for row in rows)]
    widths = [max(len(row[i]) for row in all_rows) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        cells = [
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)
        ]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(all_rows[0]), rule, *(line(row) for row in all_rows[1:])])


def without_proxies() -> None:
    """Drop proxy settings from this process's environment.

    The benchmarks talk to a server on 127.0.0.1; a proxy configured on the machine
    must not reroute (and slow down) those requests.
    """
    for name in _PROXY_VARIABLES:
        os.environ.pop(name, None)
        os.environ.pop(name.lower(), None)


# --- the machine ------------------------------------------------------------------------


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _cpu_model() -> str:
    for line in _read_text("/proc/cpuinfo").splitlines():
        key, _sep, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Hardware", "cpu model") and value.strip():
            return value.strip()
    return platform.processor() or platform.machine() or "unknown"


def _memory() -> str:
    for line in _read_text("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            kib = int(line.split()[1])
            return f"{kib / 1024 / 1024:.1f} GiB"
    return "unknown"


def _operating_system() -> str:
    pretty = ""
    for line in _read_text("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            pretty = line.partition("=")[2].strip().strip('"')
    kernel = f"{platform.system()} {platform.release()} {platform.machine()}"
    return f"{pretty} ({kernel})" if pretty else kernel


def _library_versions() -> str:
    versions = []
    for name in LIBRARIES:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return ", ".join(versions)


def machine() -> dict[str, str]:
    """What the figures were measured on: CPU, cores, memory, OS, Python, libraries."""
    logical = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else logical
    return {
        "date": date.today().isoformat(),
        "cpu": _cpu_model(),
        "cores": f"{logical} logical ({usable} usable by this process)",
        "memory": _memory(),
        "os": _operating_system(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "libraries": _library_versions(),
    }


_machine_printed = False


def print_machine_once() -> None:
    """Print :func:`machine` unless it was already printed by this process."""
    global _machine_printed
    if _machine_printed:
        return
    _machine_printed = True
    print("Machine")
    for key, value in machine().items():
        print(f"  {key + ':':<11}{value}")
    print()


# --- memory (shared by the benchmarks that measure peaks) ------------------------------

_STATUS = Path("/proc/self/status")


def _status_bytes(field: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` (Linux), in bytes; None elsewhere."""
    try:
        text = _STATUS.read_text(encoding="ascii")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return None


def peak_rss() -> int:
    """This process's peak resident set size, in bytes.

    Linux's ``VmHWM`` where there is one: ``getrusage``'s ``ru_maxrss`` keeps, across
    the ``exec`` of a child that ``subprocess`` started with ``vfork``, the peak of the
    parent's memory, and ``clear_refs`` cannot lower that part.
    """
    found = _status_bytes("VmHWM")
    if found is not None:
        return found
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # macOS: bytes; else KiB


def current_rss() -> int:
    """This process's resident set size now (the peak where it cannot be read)."""
    found = _status_bytes("VmRSS")
    return peak_rss() if found is None else found


def reset_peak_rss() -> bool:
    """Lower the peak RSS to the current RSS (Linux: ``/proc/self/clear_refs``), so that
    the next peak is that of what runs next, not of the imports; False if impossible."""
    try:
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
    except OSError:
        return False
    return True

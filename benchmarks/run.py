"""Run every benchmark: ``python -m benchmarks.run [NAME ...]`` from the repository root.

Each ``benchmarks/bench_*.py`` module's ``main([])`` is called in turn (name order),
with its default settings; it prints its own results. Names given on the command
line select the benchmarks whose name contains one of them (``verify`` runs
``bench_verify_manifest``). The exit status is 1 when a benchmark failed.
"""

from __future__ import annotations

import argparse
import importlib
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

from benchmarks import print_machine_once

BENCHMARK_DIR = Path(__file__).resolve().parent


def discover() -> list[str]:
    """The names of the benchmark modules (``bench_*.py``), sorted."""
    return sorted(path.stem for path in BENCHMARK_DIR.glob("bench_*.py"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description="Run the benchmarks and print their results."
    )
    parser.add_argument("names", nargs="*", help="run only benchmarks whose name contains one")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)

    names = [n for n in discover() if not args.names or any(s in n for s in args.names)]
    if args.list:
        print("\n".join(names))
        return 0
    if not names:
        parser.error("no benchmark matches " + ", ".join(args.names))

    print_machine_once()
    failed: list[str] = []
    started = time.perf_counter()
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        bench_main = cast(Callable[[Sequence[str]], int], module.main)
        try:
            status = bench_main([])
        except SystemExit as exc:  # a benchmark that gives up with a message
            print(exc.code if isinstance(exc.code, str) else f"{name} exited: {exc.code}")
            status = exc.code if isinstance(exc.code, int) else 1
        except Exception:
            traceback.print_exc()
            status = 1
        if status != 0:
            failed.append(name)
    elapsed = time.perf_counter() - started
    print(f"{len(names)} benchmark(s) in {elapsed:.0f} s", end="")
    print(f"; FAILED: {', '.join(failed)}" if failed else "")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

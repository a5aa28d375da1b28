"""Runs one update transaction in its own process and kills itself at a chosen point.

Used by tests/test_crash.py: ``python -m tests.crash_driver ARGS_JSON``. ARGS_JSON holds
the machine's paths, ``fail_health`` (roll back instead of committing) and ``kill``:
``{"journal": N}`` dies right after the Nth durable journal entry, ``{"progress": N}`` at
the Nth progress report (inside file copies and extraction), ``null`` runs to the end and
prints how many of each there were. It dies as a power cut would end it, with no chance
to clean up: SIGKILL on POSIX, TerminateProcess on Windows.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from updater.install.filelist import FileList
from updater.install.transaction import UpdateTransaction
from updater.observer import NullObserver, Step

#: The exit code a killed driver ends with, as its parent sees it.
KILLED = 0xDEAD if sys.platform == "win32" else -signal.SIGKILL


def die() -> None:
    """End this process at once. On Windows, ``os.kill`` with any signal number but the
    console events is ``TerminateProcess`` with that number as the exit code."""
    os.kill(os.getpid(), KILLED if sys.platform == "win32" else signal.SIGKILL)


class Killer(NullObserver):
    def __init__(self, kill: dict[str, int] | None) -> None:
        self.kill = kill or {}
        self.counts = {"journal": 0, "progress": 0}

    def _tick(self, kind: str) -> None:
        self.counts[kind] += 1
        if self.kill.get(kind) == self.counts[kind]:
            die()

    def journal(self, product: str, entry: str) -> None:
        self._tick("journal")

    def progress(
        self, product: str, step: Step, done: int, total: int | None, rate: float | None = None
    ) -> None:
        self._tick("progress")


INSTALLER = """\
#!/bin/sh
# Rewrites the program in place, file by file, like a real installer.
set -e
cd "$1"
for f in $(find . -type f | sort); do printf 'installed by 2.0.0' > "$f"; done
printf '2.0.0\\n' > VERSION
"""


def main(args: dict[str, Any]) -> None:
    killer = Killer(args["kill"])
    installer = args.get("installer")
    tx = UpdateTransaction.begin(
        journal_dir=Path(args["state"]) / "journal",
        snapshots_root=Path(args["state"]) / "snapshots",
        product="tpv",
        install_dir=Path(args["install_dir"]),
        from_version="1.0.0",
        to_version="2.0.0",
        data_paths=[Path(p) for p in args["data_paths"]],
        observer=killer,
        method="installer" if installer else "zip",
    )
    if installer:
        setup = Path(installer)
        if sys.platform == "win32":
            # Windows runs only real programs: tests/standin/installer.c, told what to do.
            orders = f"\nINNOVA-STANDIN\n{args['install_dir']}\n2.0.0\n0\nrewrite\n"
            setup.write_bytes(Path(args["standin"]).read_bytes() + orders.encode())
            setup_args = ["/S"]
        else:
            setup.write_text(INSTALLER)
            setup_args = [args["install_dir"]]
        tx.stage_installer(setup)
        tx.snapshot()
        tx.run_installer(
            setup, fmt="exe", args=setup_args, success_codes=[0], reboot_codes=[], timeout=60
        )
    else:
        expected = FileList.from_json(Path(args["file_list"]).read_bytes())
        tx.stage(Path(args["package"]), expected)
        tx.snapshot()
        tx.swap()
    # The new version's first start migrates the data.
    (Path(args["data_paths"][0]) / "shop.db").write_bytes(b"migrated by 2.0.0")
    if args["fail_health"]:
        tx.abort_or_roll_back()
    else:
        tx.mark_healthy()
        tx.commit()
    print(json.dumps(killer.counts))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))

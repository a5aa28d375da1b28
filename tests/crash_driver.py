"""Runs one update transaction in its own process and kills itself at a chosen point.

Used by tests/test_crash.py: ``python -m tests.crash_driver ARGS_JSON``. ARGS_JSON holds
the machine's paths, ``fail_health`` (roll back instead of committing) and ``kill``:
``{"journal": N}`` dies with SIGKILL right after the Nth durable journal entry,
``{"progress": N}`` at the Nth progress report (inside file copies and extraction),
``null`` runs to the end and prints how many of each there were.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from updater.filelist import FileList
from updater.observer import NullObserver, Step
from updater.transaction import UpdateTransaction


class Killer(NullObserver):
    def __init__(self, kill: dict[str, int] | None) -> None:
        self.kill = kill or {}
        self.counts = {"journal": 0, "progress": 0}

    def _tick(self, kind: str) -> None:
        self.counts[kind] += 1
        if self.kill.get(kind) == self.counts[kind]:
            os.kill(os.getpid(), signal.SIGKILL)

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
printf '2.0.0\\n' > VERSION
for f in $(find lib -type f | sort); do printf 'installed by 2.0.0' > "$f"; done
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
        setup.write_text(INSTALLER)
        tx.stage_installer(setup)
        tx.snapshot()
        tx.run_installer(
            setup, fmt="exe", args=[args["install_dir"]], success_codes=[0], reboot_codes=[],
            timeout=60,
        )  # fmt: skip
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

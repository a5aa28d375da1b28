"""A platform that hands updates over to the elevated updater, as Windows does for a
shop owner who is not an administrator: the protocol and the second process are real;
only "start the SYSTEM task" is replaced (the Task Scheduler needs Windows), and the
process it starts runs as the same user, so it is told to accept that user as the
elevated updater (the UAC boundary is what even Wine lacks)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from tests.shopkit import Shop
from updater.platform import current as current_platform

PlatformClass: Any = type(current_platform)

CLI = Path(sys.executable).with_name("innova-update")


class ElevatingPlatform(PlatformClass):  # type: ignore[misc]
    """Like Windows for a user who is not an administrator: updates are handed over."""

    def __init__(self, config: Path) -> None:
        super().__init__()
        self.config = config
        self.workers: list[subprocess.Popen[str]] = []
        self.elevated_identity = self.own_identity()  # the "SYSTEM" we start is us

    def needs_elevation(self, install_dir: Path) -> bool:
        return True

    def start_elevated_worker(self) -> None:
        worker = subprocess.Popen(
            [str(CLI), "apply-requests", "--config", str(self.config)],
            env={**os.environ, "INNOVA_LANG": "en"},
            text=True,
        )
        self.workers.append(worker)
        # Reaped as soon as it ends, as the Task Scheduler would (no zombie is left
        # for the tests that count this process's children).
        threading.Thread(target=worker.wait, daemon=True).start()

    def stop(self) -> None:
        """End the workers that still wait for requesters (they stay a few seconds),
        with what they started: on Windows pip's ``innova-update.exe`` launcher runs
        ``python.exe`` as its child, which killing the launcher leaves behind."""
        for worker in self.workers:
            if worker.poll() is None:
                with contextlib.suppress(psutil.Error):
                    for child in psutil.Process(worker.pid).children(recursive=True):
                        child.kill()
                worker.kill()
            worker.wait(timeout=30)


def elevating_fixture(shop: Shop) -> Iterator[ElevatingPlatform]:
    """The shop's platform as a standard user's (see tests/conftest.py)."""
    platform = ElevatingPlatform(shop.config_path)
    yield platform
    platform.stop()


__all__ = ["ElevatingPlatform", "PlatformClass", "elevating_fixture"]

"""The tray's entry point, run as its own process (offscreen Qt, so no system tray)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.shopkit import Shop

TRAY = Path(sys.executable).with_name("innova-update-tray")


def run_tray(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "INNOVA_LANG": "en"}
    return subprocess.run([str(TRAY), *args], env=env, capture_output=True, text=True, timeout=60)


def test_a_bad_configuration_is_reported_and_the_tray_does_not_start(tmp_path: Path) -> None:
    result = run_tray("--config", str(tmp_path / "missing.toml"))
    assert result.returncode == 2
    assert "missing.toml does not exist" in result.stderr


def test_without_a_system_tray_it_says_so(shop: Shop) -> None:
    result = run_tray("--config", str(shop.config_path))
    assert result.returncode == 3
    assert "This desktop has no system tray." in result.stderr

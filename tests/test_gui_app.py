"""The tray entry point builds a real tray icon with its menu (offscreen Qt)."""

from __future__ import annotations

import os
import subprocess
import sys

from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from gui.app import Tray
from updater import __version__


def test_tray_shows_name_version_and_quit(qtbot: QtBot) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    tray = Tray(app)
    assert tray.toolTip() == f"InnovaCommerce Updater {__version__}"
    assert [a.text() for a in tray.contextMenu().actions()] == ["Quit"]
    assert not tray.icon().isNull()


def test_tray_process_starts_and_quits_on_its_own_quit_action() -> None:
    """The real entry point runs an event loop; its Quit action ends it with exit code 0."""
    code = (
        "import sys\n"
        "from PySide6.QtCore import QTimer\n"
        "from PySide6.QtWidgets import QApplication\n"
        "import gui.app as app_module\n"
        "real = app_module.Tray\n"
        "class Tray(real):\n"
        "    def __init__(self, app):\n"
        "        super().__init__(app)\n"
        "        QTimer.singleShot(100, self.quit_action.trigger)\n"
        "app_module.Tray = Tray\n"
        "sys.exit(app_module.main(['tray']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr.decode()

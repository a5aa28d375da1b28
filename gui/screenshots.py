"""Scenes for the screenshots in ``docs/screenshots/`` (run on a virtual screen by
``docs/screenshots/make.sh`` through ``xshot``).

Each scene builds the built-in demo (a pretend shop PC whose TPV has been through a
bug-fix update, a broken feature update that was rolled back, and a restore), starts the
real tray on it and opens one window. Everything is real except the progress scene,
which shows the progress window at a fixed moment of a download (a real demo download
takes a few milliseconds, too fast to photograph).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QPoint, QTimer
from PySide6.QtWidgets import QApplication, QWidget

from gui.texts import PROGRESS_STEPS
from gui.tray import Tray
from gui.windows.progress import ProgressWindow
from updater.demo import run_demo
from updater.i18n import _, set_language
from updater.machine.config import load_config
from updater.observer import Step

SCENES = ("menu", "notification", "update", "progress", "failure", "restore", "settings", "history")


def _place(window: QWidget | None) -> None:
    if window is not None:
        window.move(360, 120)


def main(argv: list[str]) -> int:
    scene = argv[0] if argv else "menu"
    if scene not in SCENES:
        print(f"scenes: {', '.join(SCENES)}", file=sys.stderr)
        return 2
    set_language("es")
    app = QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    folder = Path(tempfile.mkdtemp(prefix="innova-shots-")) / "demo"
    result = run_demo(folder, keep=True, out=lambda _line: None)
    set_language("es")
    tray = Tray(load_config(result.config_path), poll_every_ms=10**8, tick_ms=10**8)
    if scene != "notification":  # the start-up announcement would cover the scene
        found = tray.service.cached_check()
        for choice in found.choices if found else ():
            if choice.offer is not None:
                tray.service.mark_announced(choice.product, choice.offer.version)
    tray.start()

    def show() -> None:
        if scene == "menu":
            tray.build_menu()
            tray.menu.popup(QPoint(1000, 34))
        elif scene == "notification":
            choice = tray.offers()[0]
            release = choice.offer
            assert release is not None
            from gui.texts import kind_label

            tray.notify(
                _("{product} {version} is available").format(
                    product=tray.product_name(choice.product), version=release.version
                ),
                _("{kind}. Click to see what is new and install it.").format(
                    kind=kind_label(release)
                ),
            )
        elif scene == "update":
            _place(tray.open_update("tpv"))
        elif scene == "progress":
            window = ProgressWindow(
                _("Updating {product} to {version}").format(
                    product="InnovaCommerce TPV", version="1.1.0"
                ),
                PROGRESS_STEPS,
                "InnovaCommerce TPV",
            )
            window.on_step("tpv", Step.DOWNLOAD.value)
            window.on_progress("tpv", Step.DOWNLOAD.value, 13_002_342, 31_562_100, 2_411_724.0)
            tray.windows["progress"] = window
            window.show()
            _place(window)
        elif scene == "failure":
            window = tray.install("tpv", "1.1.0")
            _place(window)
        elif scene == "restore":
            _place(tray.open_restore())
        elif scene == "settings":
            _place(tray.open_settings())
        elif scene == "history":
            history = tray.open_history()
            history.resize(900, 420)
            _place(history)

    QTimer.singleShot(1500, show)
    QTimer.singleShot(30_000, app.quit)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

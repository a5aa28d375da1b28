"""Entry point of ``innova-update-tray``: the tray icon of InnovaCommerce Updater.

For now the tray shows that the updater is installed and can be quit; the update
window, notifications and settings arrive with the engine's service facade.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import QApplication, QMenu, QStyle, QSystemTrayIcon

from updater import __version__
from updater.i18n import _


class Tray(QSystemTrayIcon):
    """The tray icon and its menu."""

    def __init__(self, app: QApplication) -> None:
        icon: QIcon = app.style().standardIcon(QStyle.StandardPixmap.SP_BrowserReload)
        super().__init__(icon)
        self.setToolTip(_("InnovaCommerce Updater {version}").format(version=__version__))
        self.menu = QMenu()
        self.quit_action = QAction(_("Quit"), self.menu)
        self.quit_action.triggered.connect(app.quit)
        self.menu.addAction(self.quit_action)
        self.setContextMenu(self.menu)


def main(argv: Sequence[str] | None = None) -> int:
    app = QApplication(list(argv) if argv is not None else sys.argv)
    app.setApplicationName("InnovaCommerce Updater")
    app.setQuitOnLastWindowClosed(False)
    tray = Tray(app)
    tray.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())

"""Entry point of ``innova-update-tray``: the tray app of InnovaCommerce Updater.

One instance runs per user, desktop session and configuration: a second start asks the
first to show itself (through a local socket named after the three) and exits. So two
shop users on one PC, one user's console and remote-desktop sessions, or a tray started
with another configuration (a test run, another checkout) never see each other. The
configuration is found as the CLI finds it (``--config``, ``$INNOVA_UPDATER_CONFIG``, the
default place).
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtNetwork import QLocalServer, QLocalSocket
from PySide6.QtWidgets import QApplication, QMessageBox, QSystemTrayIcon

from gui.tray import Tray
from updater.errors import ConfigError
from updater.i18n import _, set_language
from updater.machine.config import load_config, resolve_config_path
from updater.machine.logs import setup_logging
from updater.platform import current as platform

#: Exit codes of the tray process.
EXIT_OK, EXIT_CONFIG, EXIT_NO_TRAY = 0, 2, 3


def instance_name(config: Path, *, user: str | None = None, session: str | None = None) -> str:
    """The local socket name that makes the tray one instance per user, desktop session
    and configuration file (``user`` and ``session`` default to this process's)."""
    parts = (
        getpass.getuser() if user is None else user,
        platform.desktop_session() if session is None else session,
        os.path.normcase(config.resolve()),  # one name for every spelling of the path
    )
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]
    return f"innova-updater-tray-{digest}"


def already_running(name: str) -> bool:
    """Whether another tray of this user listens on ``name``; if so, ask it to show."""
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(500):
        return False
    socket.write(b"show\n")
    socket.waitForBytesWritten(500)
    socket.disconnectFromServer()
    return True


def listen(name: str, tray: Tray) -> QLocalServer:
    server = QLocalServer()
    QLocalServer.removeServer(name)  # a socket left by a tray that crashed
    server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
    server.listen(name)

    def greet() -> None:
        connection = server.nextPendingConnection()
        if connection is not None:
            connection.disconnected.connect(connection.deleteLater)
            tray.notify(_("InnovaCommerce Updater is already running"), tray.status_text())

    server.newConnection.connect(greet)
    return server


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="innova-update-tray")
    parser.add_argument("--config", help=_("the configuration file"))
    parser.add_argument(
        "--poll-minutes", type=float, default=5.0, help=argparse.SUPPRESS
    )  # how often the schedule is consulted (the schedule decides when to check)
    return parser.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    app = QApplication(sys.argv[:1])
    app.setApplicationName("InnovaCommerce Updater")
    app.setQuitOnLastWindowClosed(False)
    set_language(None)
    try:
        config_path = resolve_config_path(args.config)
        name = instance_name(config_path)
        if already_running(name):
            return EXIT_OK
        config = load_config(config_path)
    except ConfigError as exc:
        text = "\n\n".join(filter(None, [exc.message, exc.hint]))
        print(text, file=sys.stderr)
        if QSystemTrayIcon.isSystemTrayAvailable():  # a desktop where someone can read it
            QMessageBox.critical(None, _("InnovaCommerce Updater"), text)
        return EXIT_CONFIG
    setup_logging(config.state_dir / "logs", stderr=False)
    if not QSystemTrayIcon.isSystemTrayAvailable():
        print(_("This desktop has no system tray."), file=sys.stderr)
        return EXIT_NO_TRAY
    tray = Tray(config, poll_every_ms=int(args.poll_minutes * 60_000))
    server = listen(name, tray)
    tray.start()
    code = app.exec()
    server.close()
    return code


if __name__ == "__main__":
    sys.exit(main())

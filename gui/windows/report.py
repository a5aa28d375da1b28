"""*Report a problem…*: build the support bundle and send it, or save it."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from updater.i18n import _


class ReportWindow(QDialog):
    """Explains the bundle and asks what to do with it; the tray does the work and
    reports back with :meth:`show_result`."""

    send_requested = Signal()
    save_requested = Signal()

    def __init__(self, *, can_send: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(_("Report a problem"))
        self.setMinimumWidth(480)
        layout = QVBoxLayout(self)
        text = QLabel(
            _(
                "The updater can collect what InnovaCommerce support needs to help you: its "
                "log, its history, the versions installed and its settings. Passwords and "
                "signing keys are never included, nor any of the shop's data."
            )
        )
        text.setWordWrap(True)
        layout.addWidget(text)
        self.status = QLabel()
        self.status.setObjectName("status")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        row = QHBoxLayout()
        row.addStretch(1)
        self.save_button = QPushButton(_("Save it to a file"))
        self.send_button = QPushButton(_("Send to support"))
        self.close_button = QPushButton(_("Close"))
        self.send_button.setVisible(can_send)
        (self.send_button if can_send else self.save_button).setDefault(True)
        for button in (self.close_button, self.save_button, self.send_button):
            row.addWidget(button)
        layout.addLayout(row)
        self.send_button.clicked.connect(self._send)
        self.save_button.clicked.connect(self._save)
        self.close_button.clicked.connect(self.accept)

    def _working(self) -> None:
        self.status.setText(_("Collecting the information…"))
        self.send_button.setEnabled(False)
        self.save_button.setEnabled(False)

    def _send(self) -> None:
        self._working()
        self.send_requested.emit()

    def _save(self) -> None:
        self._working()
        self.save_requested.emit()

    def show_result(self, text: str, *, ok: bool) -> None:
        self.status.setText(text)
        self.send_button.setEnabled(True)
        self.save_button.setEnabled(True)
        if ok:
            self.close_button.setDefault(True)

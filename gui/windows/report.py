"""*Report a problem…*: what happened in the person's words, how support can reach
them, then the support bundle sent, or saved with the way to send it."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from updater.i18n import _


class ReportWindow(QDialog):
    """Asks what happened and what to do with the bundle; the tray does the work and
    reports back with :meth:`show_result` or :meth:`show_saved`."""

    send_requested = Signal()
    save_requested = Signal()

    def __init__(
        self, *, can_send: bool, contact: str | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.support_contact = contact
        self.setWindowTitle(_("Report a problem"))
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(_("What happened? What were you doing when it happened?")))
        self.description = QPlainTextEdit()
        self.description.setPlaceholderText(
            _("For example: the update to 3.5.0 failed while the shop was open.")
        )
        self.description.setTabChangesFocus(True)
        layout.addWidget(self.description)
        layout.addWidget(QLabel(_("How can support reach you? (phone or e-mail, optional)")))
        self.contact = QLineEdit()
        self.contact.setMaxLength(200)
        layout.addWidget(self.contact)
        text = QLabel(
            _(
                "The updater adds what InnovaCommerce support needs to help you: its "
                "log, its history, the versions installed and its settings. Passwords and "
                "signing keys are never included, nor any of the shop's data."
            )
        )
        text.setWordWrap(True)
        layout.addWidget(text)
        self.status = QLabel()
        self.status.setObjectName("status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status)
        self.file_name = QLabel()
        self.file_name.setObjectName("file_name")
        self.file_name.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.file_name.hide()
        layout.addWidget(self.file_name)
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

    def said(self) -> tuple[str, str]:
        """What the person wrote: the description and how to reach them."""
        return self.description.toPlainText().strip(), self.contact.text().strip()

    def _working(self) -> None:
        self.status.setText(_("Collecting the information…"))
        self.file_name.hide()
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

    def show_saved(self, bundle: Path) -> None:
        """The bundle is saved (its folder is opened beside this window): say how to
        send it, and its name on a line of its own (a path is never broken mid-word)."""
        how = (
            _("Send it to InnovaCommerce support: {contact}. Attach the file to an e-mail.")
            .format(contact=self.support_contact)
            if self.support_contact
            else _(
                "Send it to InnovaCommerce support, attached to an e-mail; your IT staff "
                "knows the address."
            )
        )  # fmt: skip
        self.show_result(
            _("The report is saved in the folder that has just opened ({folder}).").format(
                folder=bundle.parent.name or str(bundle.parent)
            )
            + " "
            + how,
            ok=True,
        )
        self.file_name.setText(bundle.name)
        self.file_name.setToolTip(str(bundle))
        self.file_name.show()

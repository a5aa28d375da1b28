"""The update window: what a new release is, and the owner's decision about it."""

from __future__ import annotations

import logging
from typing import Any

from packaging.version import Version
from PySide6.QtCore import Qt, QUrl, Signal, SignalInstance
from PySide6.QtGui import QDesktopServices, QImage, QTextDocument
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from gui.texts import format_date, kind_label, notes_of
from updater.feed.choose import Choice
from updater.feed.manifest import Release
from updater.i18n import _, format_size

log = logging.getLogger(__name__)


class _NothingLoaded(QTextDocument):
    """A document that loads no resource. Every image is a blank pixel: given nothing,
    Qt's image handler would read a local or UNC path itself."""

    def loadResource(self, kind: int, name: QUrl | str) -> Any:  # noqa: N802 - Qt's name
        if kind == QTextDocument.ResourceType.ImageResource.value:
            blank = QImage(1, 1, QImage.Format.Format_ARGB32)
            blank.fill(0)
            return blank
        return b""


class ReleaseNotes(QTextBrowser):
    """Release notes as the publisher wrote them, and nothing more: Markdown without
    raw HTML, no image or other resource loaded from anywhere (a network path would
    make Windows connect to it and offer the user's credentials), and only ``https``
    links opened, by us, in the browser (never ``file:``, ``ms-…:`` or others)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDocument(_NothingLoaded(self))
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.anchorClicked.connect(self._open)

    def show_markdown(self, text: str) -> None:
        features = QTextDocument.MarkdownFeature
        self.document().setMarkdown(text, features.MarkdownDialectGitHub | features.MarkdownNoHTML)

    def _open(self, url: QUrl) -> None:
        if url.scheme().lower() == "https" and url.host():
            QDesktopServices.openUrl(url)
        else:
            log.warning("Not opening a release notes link that is not https: %s", url.toString())


class UpdateWindow(QDialog):
    """One product's offer (or why nothing can be offered). Emits the owner's decision;
    the tray acts on it."""

    install_requested = Signal(str, str)  # product id, version
    later_requested = Signal(str, str)
    skip_requested = Signal(str, str)

    def __init__(
        self,
        choice: Choice,
        product_name: str,
        prestashop: Version | None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.choice = choice
        self.product_name = product_name
        release = choice.offer
        self.setWindowTitle(_("InnovaCommerce Updater"))
        self.setMinimumWidth(560)
        layout = QVBoxLayout(self)

        self.heading = QLabel()
        self.heading.setObjectName("heading")
        self.heading.setWordWrap(True)
        font = self.heading.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.heading.setFont(font)
        layout.addWidget(self.heading)

        self.facts = QFormLayout()
        layout.addLayout(self.facts)
        installed = str(choice.installed) if choice.installed else _("not installed")
        self._fact(_("Product"), product_name)
        self._fact(_("Installed version"), installed)

        self.notes = ReleaseNotes()
        self.notes.setMinimumHeight(180)

        self.not_offered = QLabel()
        self.not_offered.setObjectName("not_offered")
        self.not_offered.setWordWrap(True)
        self.not_offered.setTextFormat(Qt.TextFormat.PlainText)

        buttons = QHBoxLayout()
        self.skip_button = QPushButton(_("Skip this version"))
        self.later_button = QPushButton(_("Remind me later"))
        self.install_button = QPushButton(_("Install now"))
        self.close_button = QPushButton(_("Close"))
        buttons.addWidget(self.skip_button)
        buttons.addStretch(1)
        buttons.addWidget(self.later_button)
        buttons.addWidget(self.install_button)
        buttons.addWidget(self.close_button)

        if release is not None:
            self.heading.setText(
                _("{product} {version} is available").format(
                    product=product_name, version=release.version
                )
            )
            self._fact(_("New version"), str(release.version))
            self._fact(_("Type"), kind_label(release))
            package = release.zip_package or release.installer_package
            if package is not None:
                self._fact(_("Download size"), format_size(package.size))
            self._fact(_("Release date"), format_date(release.released))
            self._fact(_("PrestaShop"), _prestashop_text(release, prestashop))
            self.notes.show_markdown(notes_of(release))
            layout.addWidget(QLabel(_("What's new:")))
            layout.addWidget(self.notes)
            self.install_button.setDefault(True)
            self.close_button.hide()
            # A critical update cannot be skipped: it fixes something that must not wait.
            self.skip_button.setVisible(not release.critical)
            if release.critical:
                warning = QLabel(_("This is an important update: install it as soon as you can."))
                warning.setObjectName("critical")
                warning.setWordWrap(True)
                layout.addWidget(warning)
        else:
            self.heading.setText(
                _("No update can be installed for {product}").format(product=product_name)
            )
            for button in (self.skip_button, self.later_button, self.install_button):
                button.hide()
            self.close_button.setDefault(True)
        refused = [
            n for n in choice.not_offered if release is None or n.release.version > release.version
        ]
        if refused:
            lines = [
                _("{product} {version} is not offered: {reason}.").format(
                    product=product_name, version=n.release.version, reason=n.reason
                )
                for n in refused
            ]
            self.not_offered.setText("\n".join(lines))
            layout.addWidget(self.not_offered)
        layout.addLayout(buttons)

        version = str(release.version) if release else ""
        pid = choice.product
        self.install_button.clicked.connect(
            lambda: self._decide(self.install_requested, pid, version)
        )
        self.later_button.clicked.connect(lambda: self._decide(self.later_requested, pid, version))
        self.skip_button.clicked.connect(lambda: self._decide(self.skip_requested, pid, version))
        self.close_button.clicked.connect(self.reject)

    def _fact(self, label: str, value: str) -> None:
        field = QLabel(value)
        field.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.facts.addRow(label + ":", field)

    def fact(self, label: str) -> str:
        """The value shown for ``label`` (for tests and accessibility)."""
        for row in range(self.facts.rowCount()):
            name_item = self.facts.itemAt(row, QFormLayout.ItemRole.LabelRole)
            value_item = self.facts.itemAt(row, QFormLayout.ItemRole.FieldRole)
            if name_item is None or value_item is None:
                continue
            name, value = name_item.widget(), value_item.widget()
            if (
                isinstance(name, QLabel)
                and name.text() == label + ":"
                and isinstance(value, QLabel)
            ):
                return value.text()
        raise KeyError(label)

    def _decide(self, signal: SignalInstance, product: str, version: str) -> None:
        signal.emit(product, version)
        self.accept()


def _prestashop_text(release: Release, prestashop: Version | None) -> str:
    if release.prestashop is None:
        return _("works with any PrestaShop version")
    if prestashop is None:
        return _("needs PrestaShop {spec}").format(spec=release.prestashop)
    return _("needs PrestaShop {spec}; this shop has {have}").format(
        spec=release.prestashop, have=prestashop
    )
